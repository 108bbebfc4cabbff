/* cluster.c - hub joins and leaves: handle_hub_join + NodeUp (ColdSwap
 * migration of our children to the new node), handle_node_down + NodeDown
 * (restart here what now hashes here), and our own graceful leave. */
#include <stdio.h>
#include <stdlib.h>

#include "hub/child_data.h"
#include "hub/hub.h"
#include "proc/proc.h"

#define MOD "hub"

static void hook_atom(phc_hub_t *h, const char *key, const char *atom) {
  ei_x_buff d;
  ei_x_new_with_version(&d);
  ei_x_encode_atom(&d, atom);
  phc__hub_hook(h, key, &d);
  ei_x_free(&d);
}

static void hook_pair(phc_hub_t *h, const char *key, const char *tag,
                      const char *node) {
  ei_x_buff d;
  ei_x_new_with_version(&d);
  ei_x_encode_tuple_header(&d, 2);
  ei_x_encode_atom(&d, tag);
  ei_x_encode_atom(&d, node);
  phc__hub_hook(h, key, &d);
  ei_x_free(&d);
}

/* The ring owner (RF 1) of a registry row. */
static const char *primary(phc_hub_t *h, const phc__reg_row_t *row) {
  char term[1024];
  const char *owner = NULL;
  if (row->cid_len + 1 > (int)sizeof term) return NULL;
  term[0] = (char)131;
  memcpy(term + 1, row->cid, (size_t)row->cid_len);
  return phc__ring_owners(&h->ring, term, row->cid_len + 1, &owner, 1) == 1
             ? owner
             : NULL;
}

/* ColdSwap: stop the children, unregister them, send them to `to`. */
static void migrate(phc_hub_t *h, phc__reg_row_t **rows, int n,
                    const char *to) {
  const char *me = h->n->name;
  ei_x_buff unreg, add, hook;
  ei_x_new(&unreg);
  ei_x_new(&add);
  ei_x_new_with_version(&hook);
  ei_x_encode_tuple_header(&unreg, 3);
  ei_x_encode_list_header(&unreg, n);
  ei_x_encode_tuple_header(&add, 2);
  ei_x_encode_list_header(&add, n);
  ei_x_encode_tuple_header(&hook, 2);
  ei_x_encode_atom(&hook, to);
  ei_x_encode_list_header(&hook, n);
  for (int i = 0; i < n; i++) {
    phc__hub_terminate_local(h, rows[i]->cid, rows[i]->cid_len);
    ei_x_encode_tuple_header(&unreg, 3);
    ei_x_append_buf(&unreg, rows[i]->cid, rows[i]->cid_len);
    ei_x_encode_atom(&unreg, "ok");
    ei_x_encode_atom(&unreg, me);
    phc__child_data_enc(h, rows[i], to, &add);
    ei_x_encode_tuple_header(&hook, 2);
    ei_x_append_buf(&hook, rows[i]->spec, rows[i]->spec_len);
    ei_x_append_buf(&hook, rows[i]->meta, rows[i]->meta_len);
  }
  ei_x_encode_empty_list(&unreg);
  ei_x_encode_atom(&unreg, me);
  ei_x_encode_empty_list(&unreg);
  ei_x_encode_empty_list(&add);
  phc__child_data_enc_migration_opts(&add);
  ei_x_encode_empty_list(&hook);
  for (int i = 0; i < n; i++)
    phc__reg_remove_node(&h->reg, rows[i]->cid, rows[i]->cid_len, me);
  phc__hub_dispatch(h, "children_unregistration_event", "global", unreg.buff,
                    unreg.index);
  phc__hub_dispatch(h, "migration_add_event", to, add.buff, add.index);
  phc__hub_hook(h, "children_migrated_hook", &hook);
  ei_x_free(&unreg);
  ei_x_free(&add);
  ei_x_free(&hook);
}

static void node_up(phc_hub_t *h, const char *node) {
  const char *me = h->n->name;
  hook_pair(h, "pre_nodes_redistribution_hook", "nodeup", node);
  phc__reg_row_t **rows;
  int n = phc__reg_sorted(&h->reg, &rows), k = 0;
  for (int i = 0; i < n; i++) {
    const char *p = phc__reg_owner(rows[i], me) ? primary(h, rows[i]) : NULL;
    if (p && !strcmp(p, node)) rows[k++] = rows[i];
  }
  if (k) {
    PHC_LOG_I(MOD, "%s: migrating %d children to %s", h->id, k, node);
    migrate(h, rows, k, node);
  }
  free(rows);
  ei_x_buff sync;
  ei_x_new(&sync);
  ei_x_encode_tuple_header(&sync, 2);
  phc__hub_enc_local_sync(h, &sync);
  ei_x_encode_atom(&sync, me);
  phc__hub_dispatch(h, "sync_remote_children_event", node, sync.buff,
                    sync.index);
  ei_x_free(&sync);
  hook_pair(h, "post_nodes_redistribution_hook", "nodeup", node);
}

void phc__hub_join_node(phc_hub_t *h, const char *node) {
  if (h->leaving || !strcmp(node, h->n->name) || phc__hub_has_node(h, node))
    return;
  if (h->nnodes == PHC__HUB_MAX_NODES) {
    PHC_LOG_W(MOD, "%s: hub is full, %s not added", h->id, node);
    return;
  }
  snprintf(h->nodes[h->nnodes++], PHC__ATOM_MAX, "%s", node);
  phc__ring_add(&h->ring, node);
  PHC_LOG_I(MOD, "%s: %s joined the hub", h->id, node);
  hook_atom(h, "pre_cluster_join_hook", node);
  phc__hub_lock(h);
  hook_atom(h, "post_cluster_join_hook", node);
  node_up(h, node);
  phc__hub_unlock(h);
}

/* Restart here the rows of `node` that now hash here. */
static void redistribute(phc_hub_t *h, phc__reg_row_t **rows, int n) {
  const char *me = h->n->name;
  ei_x_buff m;
  ei_x_new(&m);
  ei_x_encode_tuple_header(&m, 2);
  int children = m.index;
  ei_x_encode_list_header(&m, n);
  for (int i = 0; i < n; i++) phc__child_data_enc(h, rows[i], me, &m);
  ei_x_encode_empty_list(&m);
  int opts = m.index;
  phc__child_data_enc_migration_opts(&m);
  phc__hub_start_handle(h, m.buff, children, opts, 1);
  ei_x_free(&m);
}

void phc__hub_node_down(phc_hub_t *h, const char *node) {
  const char *me = h->n->name;
  if (h->leaving || !strcmp(node, me) || !phc__hub_has_node(h, node)) return;
  hook_atom(h, "pre_cluster_leave_hook", node);
  phc__ring_remove(&h->ring, node);
  int j = 0;
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
  for (int i = 0; i < n; i++) {
    if (!phc__reg_owner(rows[i], node)) continue;
    const char *p = primary(h, rows[i]);
    if (!phc__reg_owner(rows[i], me) && p && !strcmp(p, me))
      mine[k++] = rows[i];
  }
  if (k) redistribute(h, mine, k);
  free(mine);
  free(rows);
  phc__reg_detach_node(&h->reg, node, NULL, NULL);
  phc__hub_unlock(h);
  hook_pair(h, "post_nodes_redistribution_hook", "nodedown", node);
  hook_atom(h, "post_cluster_leave_hook", node);
}

void phc__hub_leave(phc_hub_t *h) {
  const char *me = h->n->name;
  hook_atom(h, "coordinator_shutdown_hook", "shutdown");
  h->leaving = 1;
  if (h->propagate_timer) phc__timer_cancel(h->n, h->propagate_timer);
  if (h->sync_timer) phc__timer_cancel(h->n, h->sync_timer);
  h->propagate_timer = h->sync_timer = 0;
  phc__ring_remove(&h->ring, me);
  ei_x_buff p;
  ei_x_new(&p);
  ei_x_encode_atom(&p, me);
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
