/* cluster.c - hub joins and leaves: handle_hub_join + NodeUp (the
 * migration strategy moves our children that now belong to the new node),
 * handle_node_down + NodeDown (restart here what now belongs here), and
 * our own graceful leave. The strategies follow the hub's nodes through
 * node_join / node_leave. A join waits while the hub's strategies are
 * asked for (adopt.c), then for the peer's OTP release. */
#include <stdio.h>
#include <stdlib.h>

#include "hub/child_data.h"
#include "hub/hub.h"
#include "otp/otp.h"
#include "proc/proc.h"
#include "term/enc.h"

#define MOD "hub"

static void hook_atom(phc_hub_t *h, const char *key, const char *atom) {
  ei_x_buff d;
  phc__x_new_with_version(&d);
  phc__x_atom(&d, atom);
  phc__hub_hook(h, key, &d);
  ei_x_free(&d);
}

static void hook_pair(phc_hub_t *h, const char *key, const char *tag,
                      const char *node) {
  ei_x_buff d;
  phc__x_new_with_version(&d);
  phc__x_tuple_header(&d, 2);
  phc__x_atom(&d, tag);
  phc__x_atom(&d, node);
  phc__hub_hook(h, key, &d);
  ei_x_free(&d);
}

/* Whether the distribution's nodes for a row (belongs_to with the
 * replication factor) include node. */
static int belongs_to(phc_hub_t *h, const phc__reg_row_t *row,
                      const char *node) {
  const char *owners[PHC__HUB_MAX_NODES];
  int k = phc__strat_belongs_to(h, &h->strat, row->cid, row->cid_len, owners,
                                PHC__HUB_MAX_NODES);
  for (int i = 0; i < k; i++)
    if (!strcmp(owners[i], node)) return 1;
  return 0;
}

static void node_up(phc_hub_t *h, const char *node) {
  const char *me = h->n->name;
  hook_pair(h, "pre_nodes_redistribution_hook", "nodeup", node);
  phc__reg_row_t **rows;
  int n = phc__reg_sorted(&h->reg, &rows), k = 0;
  for (int i = 0; i < n; i++) /* local children that now belong to node */
    if (phc__reg_owner(rows[i], me) && belongs_to(h, rows[i], node) &&
        !belongs_to(h, rows[i], me))
      rows[k++] = rows[i];
  if (k) {
    PHC_LOG_I(MOD, "%s: migrating %d children to %s", h->id, k, node);
    phc__strat_handle_migration(h, &h->strat, rows, k, node);
  }
  free(rows);
  ei_x_buff sync;
  phc__x_new(&sync);
  phc__x_tuple_header(&sync, 2);
  phc__hub_enc_local_sync(h, &sync);
  phc__x_atom(&sync, me);
  phc__hub_dispatch(h, "sync_remote_children_event", node, sync.buff,
                    sync.index);
  ei_x_free(&sync);
  hook_pair(h, "post_nodes_redistribution_hook", "nodeup", node);
}

/* A peer enters the ring only once its OTP release (and so the ring's atom
 * encoding) is known: hashed with the wrong encoding, starts migrated here
 * would be forwarded to nodes that do not own them and be lost. Until
 * then it waits in pending (its release is asked again, in case the
 * probe at nodeup went before the hub existed). */
static int join_wait_release(phc_hub_t *h, const char *node) {
  if (h->ring_fixed || phc__hubs_release_known(h->n, node)) return 0;
  for (int i = 0; i < h->npending; i++)
    if (!strcmp(h->pending[i], node)) return 1;
  if (h->npending == PHC__HUB_MAX_NODES) return 1;
  snprintf(h->pending[h->npending++], PHC__ATOM_MAX, "%s", node);
  PHC_LOG_D(MOD, "%s: %s joins once its OTP release is known", h->id, node);
  phc__otp_probe_release(h->n, node);
  return 1;
}

/* A member that has just admitted this node may not have finished removing
 * this node's previous incarnation: ProcessHub's NodeDown deletes, by node
 * name, the children it listed there, including any that this incarnation
 * registered meanwhile (a node that restarts within milliseconds hits it).
 * So the synchronization strategy's round (PubSub: the local children as
 * sync_remote_children_event, which only adds) runs once more RESYNC_MS
 * after the last join. */
#define RESYNC_MS 1000

static void resync(phc_node_t *n, void *arg) {
  phc_hub_t *h = arg;
  PHC__UNUSED(n);
  h->resync_timer = 0;
  if (!h->leaving) phc__strat_init_sync(h, &h->strat);
}

void phc__hub_join_node(phc_hub_t *h, const char *node) {
  if (h->leaving || !strcmp(node, h->n->name) || phc__hub_has_node(h, node))
    return;
  if (h->nnodes == PHC__HUB_MAX_NODES) {
    PHC_LOG_W(MOD, "%s: hub is full, %s not added", h->id, node);
    return;
  }
  if (phc__hub_adopt_hold_join(h, node) || join_wait_release(h, node)) return;
  snprintf(h->nodes[h->nnodes++], PHC__ATOM_MAX, "%s", node);
  phc__strategies_node_join(h, &h->strat, node);
  PHC_LOG_I(MOD, "%s: %s joined the hub", h->id, node);
  hook_atom(h, "pre_cluster_join_hook", node);
  if (phc__strat_toggle_unlock(h, &h->strat, node)) phc__hub_quorum_success(h);
  phc__hub_lock(h);
  hook_atom(h, "post_cluster_join_hook", node);
  node_up(h, node);
  phc__hub_unlock(h);
  if (h->resync_timer) phc__timer_cancel(h->n, h->resync_timer);
  h->resync_timer = phc__timer_start(h->n, RESYNC_MS, resync, h);
}

/* Restart here the rows of a node that went down that now belong here. */
static void redistribute(phc_hub_t *h, phc__reg_row_t **rows, int n) {
  const char *me = h->n->name;
  ei_x_buff m;
  phc__x_new(&m);
  phc__x_tuple_header(&m, 2);
  int children = m.index;
  phc__x_list_header(&m, n);
  for (int i = 0; i < n; i++)
    phc__child_data_enc(h, rows[i], me, &m);
  phc__x_empty_list(&m);
  int opts = m.index;
  phc__child_data_enc_migration_opts(&m);
  phc__hub_lock(h); /* as the migration_add_event a BEAM member sends itself */
  phc__hub_start_handle(h, m.buff, children, opts, 1);
  ei_x_free(&m);
}

/* NodeDown's handle_redundancy, run when some of node's children restart
 * here: pre_children_redistribution_hook with {Redun, {down, Node}}, Redun
 * the children node shared with us: [{Cid, NewNodes, []}]. */
static void hook_redistribution(phc_hub_t *h, phc__reg_row_t **rows, int n,
                                const char *node) {
  const char *me = h->n->name;
  ei_x_buff d;
  phc__x_new_with_version(&d);
  phc__x_tuple_header(&d, 2);
  for (int i = 0; i < n; i++) {
    const char *owners[PHC__HUB_MAX_NODES];
    if (!phc__reg_owner(rows[i], node) || !phc__reg_owner(rows[i], me))
      continue;
    int k = phc__strat_belongs_to(h, &h->strat, rows[i]->cid, rows[i]->cid_len,
                                  owners, PHC__HUB_MAX_NODES);
    phc__x_list_header(&d, 1);
    phc__x_tuple_header(&d, 3);
    phc__x_append_buf(&d, rows[i]->cid, rows[i]->cid_len);
    if (k > 0) phc__x_list_header(&d, k);
    for (int j = 0; j < k; j++)
      phc__x_atom(&d, owners[j]);
    phc__x_empty_list(&d);
    phc__x_empty_list(&d);
  }
  phc__x_empty_list(&d);
  phc__x_tuple_header(&d, 2);
  phc__x_atom(&d, "down");
  phc__x_atom(&d, node);
  phc__hub_hook(h, "pre_children_redistribution_hook", &d);
  ei_x_free(&d);
}

/* post_cluster_leave_hook: the NodeDown struct (hooks.h); rem_node_cids
 * are the ids of the rows that listed node. */
static void hook_post_leave(phc_hub_t *h, const char *node, ei_x_buff *cids,
                            int ncids) {
  ei_x_buff d, l;
  phc__x_new(&l);
  if (ncids) phc__x_list_header(&l, ncids);
  phc__x_append_buf(&l, cids->buff, cids->index);
  phc__x_empty_list(&l);
  phc__x_new_with_version(&d);
  phc__hooks_x_node_down(h, node, l.buff, l.index, &d);
  phc__hub_hook(h, "post_cluster_leave_hook", &d);
  ei_x_free(&d);
  ei_x_free(&l);
}

void phc__hub_node_down(phc_hub_t *h, const char *node) {
  const char *me = h->n->name;
  int j = 0;
  for (int i = 0; i < h->npending; i++) /* it no longer waits to join */
    if (strcmp(h->pending[i], node) != 0)
      memmove(h->pending[j++], h->pending[i], PHC__ATOM_MAX);
  h->npending = j;
  if (h->leaving || !strcmp(node, me) || !phc__hub_has_node(h, node)) return;
  hook_atom(h, "pre_cluster_leave_hook", node);
  phc__strategies_node_leave(h, &h->strat, node);
  j = 0;
  for (int i = 0; i < h->nnodes; i++)
    if (strcmp(h->nodes[i], node) != 0)
      memmove(h->nodes[j++], h->nodes[i], PHC__ATOM_MAX);
  h->nnodes = j;
  PHC_LOG_I(MOD, "%s: %s left the hub", h->id, node);
  phc__hub_lock(h);
  hook_pair(h, "pre_nodes_redistribution_hook", "nodedown", node);
  phc__reg_row_t **rows;
  int n = phc__reg_sorted(&h->reg, &rows), k = 0;
  phc__reg_row_t **mine = phc__xmalloc((size_t)(n ? n : 1) * sizeof *mine);
  ei_x_buff cids;
  int ncids = 0;
  phc__x_new(&cids);
  for (int i = 0; i < n; i++) {
    if (!phc__reg_owner(rows[i], node)) continue;
    phc__x_append_buf(&cids, rows[i]->cid, rows[i]->cid_len);
    ncids++;
    if (!phc__reg_owner(rows[i], me) && belongs_to(h, rows[i], me))
      mine[k++] = rows[i];
  }
  if (k) hook_redistribution(h, rows, n, node);
  if (k) redistribute(h, mine, k);
  free(mine);
  free(rows);
  phc__reg_detach_node(&h->reg, node, NULL, NULL);
  /* NodeDown's handle_locking: the partition strategy decides whether
   * the hub enters partition mode. */
  if (phc__strat_toggle_lock(h, &h->strat, node))
    phc__hub_quorum_failure(h);
  else
    phc__hub_unlock(h);
  hook_pair(h, "post_nodes_redistribution_hook", "nodedown", node);
  hook_post_leave(h, node, &cids, ncids);
  ei_x_free(&cids);
}

void phc__hub_leave(phc_hub_t *h) {
  const char *me = h->n->name;
  hook_atom(h, "coordinator_shutdown_hook", "shutdown");
  h->leaving = 1;
  phc__hub_adopt_free(h); /* held for strategies that no longer matter */
  if (h->propagate_timer) phc__timer_cancel(h->n, h->propagate_timer);
  if (h->sync_timer) phc__timer_cancel(h->n, h->sync_timer);
  if (h->resync_timer) phc__timer_cancel(h->n, h->resync_timer);
  h->propagate_timer = h->sync_timer = h->resync_timer = 0;
  phc__strategies_node_leave(h, &h->strat, me); /* handle_shutdown */
  ei_x_buff p;
  phc__x_new(&p);
  phc__x_atom(&p, me);
  phc__hub_dispatch(h, "cluster_leave_event", "external", p.buff, p.index);
  ei_x_free(&p);
  phc__pg_stop(h->pg);
  if (h->sup) phc__sup_stop(h->sup, "shutdown");
  phc_proc_t *c = phc_proc_lookup(h->n, &h->coord);
  if (c) phc_proc_exit_atom(c, "shutdown");
  phc_proc_t *s = phc_proc_lookup(h->n, &h->eq);
  if (s) phc_proc_exit_atom(s, "shutdown");
  PHC_LOG_I(MOD, "%s: left the hub", h->id);
}
