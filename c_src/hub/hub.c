/* hub.c - hub lifecycle, the coordinator process and event dispatch. */
#include "hub/hub.h"

#include <stdio.h>
#include <stdlib.h>

#include "otp/otp.h"
#include "proc/proc.h"
#include "term/enc.h"
#include "term/term.h"

#define MOD "hub"

static const char *const events[] = {
    "distribute_children_event",   "cluster_join_event",
    "cluster_leave_event",         "sync_remote_children_event",
    "children_registration_event", "children_unregistration_event",
    "migration_add_event",         "child_process_pid_update_event"};

#define LOCK_RESET_MS 60000 /* deadlock_recovery_timeout */

phc_hub_t *phc__hub_find(phc_node_t *n, const char *id) {
  for (phc_hub_t *h = n->hubs ? n->hubs->list : NULL; h; h = h->next)
    if (!strcmp(h->id, id)) return h;
  return NULL;
}

int phc__hub_has_node(const phc_hub_t *h, const char *node) {
  for (int i = 0; i < h->nnodes; i++)
    if (!strcmp(h->nodes[i], node)) return 1;
  return 0;
}

/* ---- events ---------------------------------------------------------- */

static int selected(const phc_hub_t *h, const erlang_pid *pid,
                    const char *members) {
  int local = !strcmp(pid->node, h->n->name);
  if (!strcmp(members, "global")) return 1;
  if (!strcmp(members, "local")) return local;
  if (!strcmp(members, "external")) return !local;
  return !strcmp(pid->node, members);
}

/* Hub nodes that have no member in the group yet (our pg view lags a
 * peer's join by one round trip) get the event by name, {HubId, Node}:
 * coordinators do not check the sender, so the effect is the same. */
static void dispatch_by_name(phc_hub_t *h, const char *members,
                             const erlang_pid *pids, int k,
                             const ei_x_buff *x) {
  for (int i = 0; i < h->nnodes; i++) {
    const char *node = h->nodes[i];
    int local = !strcmp(node, h->n->name), seen = 0;
    if (local || (strcmp(members, "global") && strcmp(members, "external") &&
                  strcmp(members, node)))
      continue;
    for (int j = 0; j < k && !seen; j++)
      seen = !strcmp(pids[j].node, node);
    if (!seen) phc_send_name(h->n, &h->coord, node, h->id, x->buff, x->index);
  }
}

void phc__hub_dispatch(phc_hub_t *h, const char *event, const char *members,
                       const char *payload, int len) {
  erlang_pid pids[256];
  int k = phc__pg_members(h->pg, event, pids, 256);
  ei_x_buff x;
  phc__x_new_with_version(&x);
  phc__x_tuple_header(&x, 2);
  phc__x_atom(&x, event);
  phc__x_append_buf(&x, payload, len);
  for (int i = 0; i < k; i++)
    if (selected(h, &pids[i], members))
      phc_send(h->n, &h->coord, &pids[i], x.buff, x.index);
  if (strcmp(event, "cluster_join_event") != 0)
    dispatch_by_name(h, members, pids, k, &x);
  ei_x_free(&x);
}

void phc__hub_cast(phc_hub_t *h, const char *node, const char *req, int len) {
  ei_x_buff x;
  phc__x_new_with_version(&x);
  phc__x_tuple_header(&x, 2);
  phc__x_atom(&x, "$gen_cast");
  phc__x_append_buf(&x, req, len);
  phc_send_name(h->n, &h->coord, node, h->id, x.buff, x.index);
  ei_x_free(&x);
}

void phc__hub_hook(phc_hub_t *h, const char *key, const ei_x_buff *data) {
  if (h->hooks) /* none yet while the strategies' init runs at start */
    phc__hooks_dispatch(h->hooks, key, data->buff, data->index);
}

static void priority_hook(phc_hub_t *h, int prio, int reset) {
  ei_x_buff d;
  phc__x_new_with_version(&d);
  phc__x_tuple_header(&d, 2);
  phc__x_long(&d, prio);
  phc__x_map_header(&d, prio ? (reset ? 2 : 1) : 0);
  if (prio) {
    phc__x_atom(&d, "local_priority_set");
    phc__x_atom(&d, "true");
  }
  if (prio && reset) {
    phc__x_atom(&d, "reset_after");
    phc__x_long(&d, LOCK_RESET_MS);
  }
  phc__hub_hook(h, "priority_state_updated_hook", &d);
  ei_x_free(&d);
}

static void unlock_timeout(phc_node_t *n, void *arg) {
  PHC__UNUSED(n);
  phc_hub_t *h = arg;
  h->unlock_timer = 0;
  h->locked = 0;
}

void phc__hub_lock(phc_hub_t *h) {
  h->locked = 1;
  if (h->unlock_timer) phc__timer_cancel(h->n, h->unlock_timer);
  h->unlock_timer = phc__timer_start(h->n, LOCK_RESET_MS, unlock_timeout, h);
  priority_hook(h, 10, 1);
}

void phc__hub_unlock(phc_hub_t *h) {
  if (h->unlock_timer) phc__timer_cancel(h->n, h->unlock_timer);
  h->unlock_timer = 0;
  h->locked = 0;
  priority_hook(h, 0, 0);
}

static int hub_sup_start(phc_hub_t *h) {
  phc__sup_config_t sc = {.max_restarts = 100,
                          .max_seconds = 4,
                          .on_event = phc__hub_sup_event,
                          .arg = h};
  return phc__sup_start(h->n, &sc, NULL, &h->sup, &h->sup_pid);
}

void phc__hub_quorum_failure(phc_hub_t *h) {
  if (h->partitioned || h->leaving) return;
  h->partitioned = 1;
  if (h->unlock_timer) phc__timer_cancel(h->n, h->unlock_timer);
  h->unlock_timer = 0;
  h->locked = 1;
  priority_hook(h, 10, 0);
  PHC_LOG_W(MOD, "%s: quorum lost: partition mode, its children stop", h->id);
  phc__sup_t *old = h->sup; /* its events are no longer the hub's */
  h->sup = NULL;
  if (old) phc__sup_stop(old, "shutdown");
}

void phc__hub_quorum_success(phc_hub_t *h) {
  if (!h->partitioned || h->leaving) return;
  h->partitioned = 0;
  int rc = h->sup ? 0 : hub_sup_start(h);
  if (rc)
    PHC_LOG_E(MOD, "%s: cannot restart its supervisor: %s", h->id,
              phc_strerror(rc));
  PHC_LOG_I(MOD, "%s: quorum back: partition mode left", h->id);
  phc__hub_unlock(h);
}

/* Hidden member mode (the protocol reference's "A hidden peer crashes",
 * restart procedure): BEAM members never see a hidden node go down, so
 * before joining a peer's hub phc announces its own leave there,
 * {cluster_leave_event, Me} to {HubId, Node}: NodeDown drops what they
 * still hold for an earlier run of phc (nothing when there was none), and
 * the cluster_join_event that follows (after pg discovery, so later on the
 * same path) brings phc back in whole. Sent on every connection. */
static void hidden_leave_first(phc_hub_t *h, const char *node) {
  ei_x_buff x;
  if (!h->n->hidden || h->leaving) return;
  phc__x_new_with_version(&x);
  phc__x_tuple_header(&x, 2);
  phc__x_atom(&x, "cluster_leave_event");
  phc__x_atom(&x, h->n->name);
  phc_send_name(h->n, &h->coord, node, h->id, x.buff, x.index);
  ei_x_free(&x);
}

static void hidden_leave_all(phc_hub_t *h) {
  const char *peers[256];
  int k = phc_node_peers(h->n, peers, 256);
  for (int i = 0; i < k; i++)
    hidden_leave_first(h, peers[i]);
}

/* -hidden: members that join later are not announced to a hidden node
 * (their pg never discovers it). Each discovery round phc asks a member's
 * rex for 'Elixir.ProcessHub':nodes(HubId) and connects to the members it
 * is not connected to; pg discovery and cluster_join_event follow. */
static void hidden_poll(phc_hub_t *h) {
  ei_x_buff x;
  if (!h->n->hidden || h->nnodes < 2 || phc_make_ref(h->n, &h->poll_ref) != 0)
    return;
  phc__x_new_with_version(&x);
  phc__x_tuple_header(&x, 3);
  phc__x_atom(&x, "$gen_call");
  phc__x_tuple_header(&x, 2);
  phc__x_pid(&x, &h->coord);
  phc__x_ref(&x, &h->poll_ref);
  phc__x_tuple_header(&x, 5);
  phc__x_atom(&x, "call");
  phc__x_atom(&x, "Elixir.ProcessHub");
  phc__x_atom(&x, "nodes");
  phc__x_list_header(&x, 1);
  phc__x_atom(&x, h->id);
  phc__x_empty_list(&x);
  phc__x_atom(&x, "user");
  for (int i = 0; i < h->nnodes; i++)
    if (strcmp(h->nodes[i], h->n->name) != 0) {
      phc_send_name(h->n, &h->coord, h->nodes[i], "rex", x.buff, x.index);
      break;
    }
  ei_x_free(&x);
}

/* {Ref, Nodes}: rex's answer to hidden_poll. */
static void hidden_on_nodes(phc_hub_t *h, const char *buf, int idx) {
  erlang_ref ref;
  int n;
  if (ei_decode_ref(buf, &idx, &ref) < 0 || !phc_ref_eq(&ref, &h->poll_ref) ||
      ei_decode_list_header(buf, &idx, &n) < 0)
    return;
  for (int i = 0; i < n; i++) {
    char node[PHC__ATOM_MAX];
    if (phc__term_atom(buf, &idx, node, sizeof node) < 0) return;
    if (strcmp(node, h->n->name) != 0 && !phc__hub_has_node(h, node)) {
      PHC_LOG_I(MOD, "%s: connecting to hub member %s", h->id, node);
      phc_node_connect(h->n, node);
    }
  }
}

static void announce_join(phc_hub_t *h) {
  ei_x_buff p;
  phc__x_new(&p);
  phc__x_atom(&p, h->n->name);
  phc__hub_dispatch(h, "cluster_join_event", "external", p.buff, p.index);
  ei_x_free(&p);
}

/* The synchronization strategy's periodic round (IntervalSyncInit: not
 * while the hub is locked). */
static void sync_tick(phc_node_t *n, void *arg) {
  phc_hub_t *h = arg;
  h->sync_timer = 0;
  if (h->leaving) return;
  if (!h->locked) phc__strat_init_sync(h, &h->strat);
  h->sync_timer = phc__timer_start(n, h->sync_ms, sync_tick, h);
}

void phc__hub_set_sync_interval(phc_hub_t *h, unsigned ms) {
  if (!ms || ms == h->sync_ms) return;
  h->sync_ms = ms;
  if (!h->sync_timer || h->leaving) return; /* not started yet, or gone */
  phc__timer_cancel(h->n, h->sync_timer);
  h->sync_timer = phc__timer_start(h->n, ms, sync_tick, h);
}

static void propagate(phc_node_t *n, void *arg) {
  phc_hub_t *h = arg;
  h->propagate_timer = 0;
  if (h->leaving) return;
  announce_join(h);
  hidden_poll(h);
  h->propagate_timer = phc__timer_start(n, h->discover_ms, propagate, h);
}

/* ---- the coordinator ------------------------------------------------- */

static void reply_call(phc_hub_t *h, const char *buf, int idx) {
  phc_from_t from;
  int arity;
  if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 2 ||
      ei_decode_pid(buf, &idx, &from.pid) < 0)
    return;
  int tag = idx;
  if (ei_skip_term(buf, &idx) < 0 || idx - tag > (int)sizeof from.tag) return;
  from.tag_len = idx - tag;
  memcpy(from.tag, buf + tag, (size_t)from.tag_len);
  ei_x_buff r;
  phc__x_new_with_version(&r);
  char atom[PHC__ATOM_MAX];
  int t = idx, ta;
  if (phc__term_atom(buf, &t, atom, sizeof atom) < 0)
    atom[0] = 0; /* not an atom */
  if (!strcmp(atom, "ping")) {
    phc__x_atom(&r, "bong");
  } else if (!strcmp(atom, "is_locked?")) {
    phc__x_atom(&r, h->locked ? "true" : "false");
  } else if (!strcmp(atom, "is_partitioned?")) {
    phc__x_atom(&r, h->partitioned ? "true" : "false");
  } else if (ei_decode_tuple_header(buf, &idx, &ta) == 0 && ta == 2 &&
             phc__term_atom(buf, &idx, atom, sizeof atom) == 0 &&
             !strcmp(atom, "get_nodes")) {
    int n, inc = 0;
    if (ei_decode_list_header(buf, &idx, &n) == 0)
      for (int i = 0; i < n; i++) {
        char o[PHC__ATOM_MAX];
        if (phc__term_atom(buf, &idx, o, sizeof o) == 0)
          inc |= !strcmp(o, "include_local");
        else if (ei_skip_term(buf, &idx) < 0)
          break;
      }
    phc_hub_nodes(h, inc, &r);
  } else {
    phc__x_tuple_header(&r, 2);
    phc__x_atom(&r, "error");
    phc__x_atom(&r, "unknown_call");
  }
  phc_gen_reply(h->n, &from, r.buff, r.index);
  ei_x_free(&r);
}

/* exec_cast {M, F, A}: HotSwap's handle_storage_update is kept for the
 * child it names; anything else goes to the hub's strategy of module M
 * (DynamicQuorum's sync_quorum_log). */
static void on_exec_cast(phc_hub_t *h, const char *buf, int idx) {
  int arity;
  char m[PHC__ATOM_MAX], f[PHC__ATOM_MAX];
  if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 3 ||
      phc__term_atom(buf, &idx, m, sizeof m) < 0 ||
      phc__term_atom(buf, &idx, f, sizeof f) < 0)
    return;
  if (strcmp(f, "handle_storage_update") != 0) {
    int rc = phc__strat_exec(h, &h->strat, m, f, buf, idx);
    if (rc == PHC_EINVAL)
      PHC_LOG_W(MOD, "%s: exec_cast %s:%s with bad arguments dropped", h->id, m,
                f);
    else if (rc)
      PHC_LOG_D(MOD, "%s: exec_cast %s:%s ignored", h->id, m, f);
    return;
  }
  /* A = [[{Cid, {State, Opts}}]] */
  int n1, n2;
  if (ei_decode_list_header(buf, &idx, &n1) < 0 || n1 != 1 ||
      ei_decode_list_header(buf, &idx, &n2) < 0)
    return;
  for (int i = 0; i < n2; i++) {
    int ta, sa;
    if (ei_decode_tuple_header(buf, &idx, &ta) < 0 || ta != 2) return;
    int c = idx;
    if (ei_skip_term(buf, &idx) < 0) return;
    int clen = idx - c;
    if (ei_decode_tuple_header(buf, &idx, &sa) < 0 || sa != 2) return;
    int s = idx;
    if (ei_skip_term(buf, &idx) < 0) return;
    phc__hub_handover_t *ho = phc__xcalloc(1, sizeof *ho);
    ho->cid = memcpy(phc__xmalloc((size_t)clen), buf + c, (size_t)clen);
    ho->cid_len = clen;
    ho->state = phc__term_with_version(buf + s, idx - s, &ho->state_len);
    ho->next = h->handovers;
    h->handovers = ho;
    if (ei_skip_term(buf, &idx) < 0) return;
  }
}

/* Coordinators act on start casts and migrations only for a non-empty
 * list of children (ProcessHub's `if length(children) > 0`). */
static int nonempty_list(const char *buf, int idx) {
  int type, size;
  return ei_get_type(buf, &idx, &type, &size) == 0 &&
         (type == ERL_LIST_EXT || type == ERL_STRING_EXT) && size > 0;
}

static void hub_on_cast(phc_hub_t *h, const char *buf, int idx) {
  int arity;
  char tag[PHC__ATOM_MAX];
  if (ei_decode_tuple_header(buf, &idx, &arity) < 0 ||
      phc__term_atom(buf, &idx, tag, sizeof tag) < 0)
    goto bad;
  if (arity == 3 && !strcmp(tag, "start_children")) {
    int c = idx;
    if (ei_skip_term(buf, &idx) < 0) goto bad;
    if (nonempty_list(buf, c)) phc__hub_start_handle(h, buf, c, idx, 0);
  } else if (arity == 3 && !strcmp(tag, "stop_children")) {
    int c = idx;
    if (ei_skip_term(buf, &idx) < 0) goto bad;
    phc__hub_stop_handle(h, buf, c, idx);
  } else if (arity == 2 && !strcmp(tag, "exec_cast")) {
    on_exec_cast(h, buf, idx);
  } else {
    goto bad;
  }
  return;
bad:
  PHC_LOG_W(MOD, "%s: dropping a cast it does not understand", h->id);
}

static void on_event(phc_hub_t *h, const char *ev, const char *buf, int idx) {
  char node[PHC__ATOM_MAX];
  int arity;
  if (!strcmp(ev, "cluster_join_event")) {
    if (phc__term_atom(buf, &idx, node, sizeof node) == 0)
      phc__hub_join_node(h, node);
  } else if (!strcmp(ev, "cluster_leave_event")) {
    if (phc__term_atom(buf, &idx, node, sizeof node) == 0)
      phc__hub_node_down(h, node);
  } else if (!strcmp(ev, "migration_add_event")) {
    if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 2) return;
    int c = idx;
    if (ei_skip_term(buf, &idx) < 0) return;
    if (!nonempty_list(buf, c)) return; /* ProcessHub: length(children) > 0 */
    phc__hub_lock(h);
    phc__hub_start_handle(h, buf, c, idx, 1);
  } else if (!strcmp(ev, "children_registration_event")) {
    phc__hub_on_registration(h, buf, idx);
  } else if (!strcmp(ev, "children_unregistration_event")) {
    phc__hub_on_unregistration(h, buf, idx);
  } else if (!strcmp(ev, "child_process_pid_update_event")) {
    phc__hub_on_pid_update(h, buf, idx);
  } else if (!strcmp(ev, "sync_remote_children_event")) {
    phc__hub_on_sync_remote(h, buf, idx);
  } else {
    PHC_LOG_D(MOD, "%s: event %s ignored", h->id, ev);
  }
}

static void coord_handle(phc_proc_t *self, const char *buf, int len) {
  phc_hub_t *h = phc_proc_data(self);
  int idx = 1, arity;
  char tag[PHC__ATOM_MAX], node[PHC__ATOM_MAX];
  int type, size, first;
  if (h && ei_decode_tuple_header(buf, &idx, &arity) == 0 && arity == 2 &&
      (first = idx, ei_get_type(buf, &idx, &type, &size) == 0) &&
      (type == ERL_NEWER_REFERENCE_EXT || type == ERL_NEW_REFERENCE_EXT)) {
    hidden_on_nodes(h, buf, first);
    return;
  }
  idx = 1;
  if (h && phc__hub_adopt_hold(h, buf, len)) return;
  if (!h || ei_decode_tuple_header(buf, &idx, &arity) < 0 ||
      phc__term_atom(buf, &idx, tag, sizeof tag) < 0)
    goto bad;
  if (!strcmp(tag, "$gen_cast") && arity == 2) {
    hub_on_cast(h, buf, idx);
  } else if (!strcmp(tag, "$gen_call") && arity == 3) {
    reply_call(h, buf, idx);
  } else if (!strcmp(tag, "nodedown") && arity >= 2) {
    if (phc__term_atom(buf, &idx, node, sizeof node) == 0) {
      phc__hubs_release_forget(h->n, node);
      phc__hub_node_down(h, node);
    }
  } else if (!strcmp(tag, "nodeup") && arity >= 2) {
    /* joins come through pg and cluster_join_event */
    if (phc__term_atom(buf, &idx, node, sizeof node) == 0)
      hidden_leave_first(h, node);
  } else if (!strcmp(tag, "EXIT")) {
  } else if (arity == 2 && strlen(tag) > 6 &&
             !strcmp(tag + strlen(tag) - 6, "_event")) {
    on_event(h, tag, buf, idx);
  } else {
    goto bad;
  }
  return;
bad:
  PHC_LOG_W(MOD, "%s: unhandled message dropped", h ? h->id : "?");
}

static const phc_proc_ops_t coord_ops = {.name = "coordinator",
                                         .handle_msg = coord_handle};

void phc__hub_coord_msg(phc_hub_t *h, const char *buf, int len) {
  coord_handle(phc_proc_lookup(h->n, &h->coord), buf, len);
}

static void sink_handle(phc_proc_t *self, const char *buf, int len) {
  PHC__UNUSED(self);
  PHC__UNUSED(buf);
  PHC__UNUSED(len);
}

static const phc_proc_ops_t sink_ops = {.name = "event_queue",
                                        .handle_msg = sink_handle};

/* pg watcher: a coordinator of a visible peer joined cluster_join_event
 * (ProcessHub's join_handlers). */
static void on_pg_change(void *arg, const char *group, int joined,
                         const erlang_pid *pids, int n) {
  phc_hub_t *h = arg;
  if (!joined || strcmp(group, "cluster_join_event") != 0) return;
  const char *peers[256];
  int k = phc_node_peers(h->n, peers, 256);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < k; j++)
      if (!strcmp(pids[i].node, peers[j])) phc__hub_join_node(h, peers[j]);
}

/* ---- lifecycle ------------------------------------------------------- */

static int spawn_registered(phc_node_t *n, const phc_proc_ops_t *ops,
                            void *data, const char *name, erlang_pid *out) {
  int rc = phc_spawn(n, ops, NULL, NULL, 0, out);
  if (rc) return rc;
  phc_proc_set_data(phc_proc_lookup(n, out), data);
  return phc_register(n, name, out);
}

static int hub_procs_start(phc_hub_t *h) {
  phc_node_t *n = h->n;
  int rc = spawn_registered(n, &coord_ops, h, h->id, &h->coord);
  if (rc) return rc;
  phc_proc_t *cp = phc_proc_lookup(n, &h->coord);
  phc_proc_trap_exit(cp, 1);
  phc_monitor_nodes(cp, 1);
  if ((rc = spawn_registered(n, &sink_ops, NULL, h->eq_name, &h->eq)) != 0)
    return rc;
  if ((rc = phc__pg_start(n, h->pg_name, &h->pg)) != 0) return rc;
  phc__pg_watch(h->pg, on_pg_change, h);
  return h->partitioned ? 0 : hub_sup_start(h); /* startup_confirm */
}

int phc_hub_start(phc_node_t *n, const phc_hub_config_t *cfg, phc_hub_t **out) {
  if (!cfg || !cfg->hub_id || !*cfg->hub_id || strlen(cfg->hub_id) > 200)
    return PHC_EINVAL;
  if (phc__hub_find(n, cfg->hub_id)) return PHC_EEXIST;
  int rc = phc__hub_natives_register(n);
  if (rc) return rc;
  phc__otp_set_closure_handler(n, phc__hub_closure);
  phc__otp_set_release_handler(n, phc__hubs_peer_release);
  if (!n->hubs) n->hubs = phc__xcalloc(1, sizeof *n->hubs);
  phc_hub_t *h = phc__xcalloc(1, sizeof *h);
  h->n = n;
  snprintf(h->id, sizeof h->id, "%s", cfg->hub_id);
  snprintf(h->eq_name, sizeof h->eq_name, "hub.%.200s.event_queue", h->id);
  snprintf(h->pg_name, sizeof h->pg_name, "hub.%.200s.event_queue_pg", h->id);
  h->discover_ms =
      cfg->hubs_discover_interval ? cfg->hubs_discover_interval : 10000;
  h->sync_ms = cfg->sync_interval ? cfg->sync_interval : 15000;
  int otp = cfg->ring_otp;
  h->ring_fixed = otp != 0;
  phc__ring_init(&h->ring, otp >= 26 ? PHC_RING_OTP26 : PHC_RING_OTP25);
  snprintf(h->nodes[0], PHC__ATOM_MAX, "%s", n->name);
  h->nnodes = 1;
  for (int k = 0; k < PHC__STRAT_KINDS && !rc; k++)
    rc = phc__strategies_set(h, &h->strat, (phc__strat_kind_t)k, NULL, NULL, 0);
  if (!rc && cfg->strategies && cfg->strategies_len > 1) {
    h->cfg_strat = phc__term_dup(cfg->strategies, cfg->strategies_len);
    h->cfg_strat_len = cfg->strategies_len;
    rc = phc__hub_cfg_apply(h);
  }
  if (rc) {
    PHC_LOG_E(MOD, "%s: cannot set its strategies: %s", h->id,
              phc_strerror(rc));
    return rc;
  }
  phc__reg_init(&h->reg);
  h->hooks = phc__hooks_new();
  if (cfg->child_specs && cfg->child_specs_len > 1) {
    h->static_specs = memcpy(phc__xmalloc((size_t)cfg->child_specs_len),
                             cfg->child_specs, (size_t)cfg->child_specs_len);
    h->static_specs_len = cfg->child_specs_len;
  }
  rc = hub_procs_start(h);
  if (rc) {
    PHC_LOG_E(MOD, "%s: cannot start: %s", h->id, phc_strerror(rc));
    return rc; /* the node is unusable for this hub; the caller exits */
  }
  h->next = n->hubs->list;
  n->hubs->list = h;
  for (size_t i = 0; i < PHC__ARRAY_LEN(events); i++)
    phc__pg_join(h->pg, events[i], &h->coord);
  hidden_leave_all(h);
  announce_join(h);
  h->propagate_timer = phc__timer_start(n, h->discover_ms, propagate, h);
  h->sync_timer = phc__timer_start(n, h->sync_ms, sync_tick, h);
  PHC_LOG_I(MOD, "hub %s started (ring encoding OTP %s)", h->id,
            h->ring.enc == PHC_RING_OTP26 ? "26+" : "25");
  if (out) *out = h;
  return 0;
}

phc_hub_t *phc_hub_find(phc_node_t *n, const char *hub_id) {
  return phc__hub_find(n, hub_id);
}

void phc_hub_stop(phc_hub_t *h) {
  if (!h || h->leaving) return;
  phc__hub_leave(h);
}

void phc__hubs_free(phc_node_t *n) {
  if (!n->hubs) return;
  phc_hub_t *h = n->hubs->list;
  while (h) {
    phc_hub_t *next = h->next;
    phc__strategies_close(h, &h->strat);
    phc__reg_clear(&h->reg);
    phc__hooks_free(h->hooks);
    phc__hub_adopt_free(h);
    while (h->handovers) {
      phc__hub_handover_t *ho = h->handovers;
      h->handovers = ho->next;
      free(ho->cid);
      free(ho->state);
      free(ho);
    }
    while (h->terminating) /* GONE not seen: the hub left first */
      phc__hub_take_terminating(h, h->terminating->id);
    free(h->static_specs);
    free(h->cfg_strat);
    free(h);
    h = next;
  }
  free(n->hubs);
  n->hubs = NULL;
}

static int release_find(const struct phc__hubs_s *hs, const char *peer) {
  for (int i = 0; hs && i < hs->nknown; i++)
    if (!strcmp(hs->known[i], peer)) return 1;
  return 0;
}

int phc__hubs_release_known(const phc_node_t *n, const char *peer) {
  return release_find(n->hubs, peer);
}

void phc__hubs_release_forget(phc_node_t *n, const char *peer) {
  struct phc__hubs_s *hs = n->hubs;
  int j = 0;
  for (int i = 0; hs && i < hs->nknown; i++)
    if (strcmp(hs->known[i], peer) != 0)
      memmove(hs->known[j++], hs->known[i], PHC__ATOM_MAX);
  if (hs) hs->nknown = j;
}

static void release_remember(struct phc__hubs_s *hs, const char *peer) {
  if (release_find(hs, peer)) return;
  if (hs->nknown == PHC__HUB_MAX_NODES) { /* full: the oldest goes */
    memmove(hs->known[0], hs->known[1],
            (size_t)(PHC__HUB_MAX_NODES - 1) * PHC__ATOM_MAX);
    hs->nknown--;
  }
  snprintf(hs->known[hs->nknown++], PHC__ATOM_MAX, "%s", peer);
}

static int release_awaited(const struct phc__hubs_s *hs, const char *peer) {
  for (const phc_hub_t *h = hs->list; h; h = h->next)
    for (int i = 0; i < h->npending; i++)
      if (!strcmp(h->pending[i], peer)) return 1;
  return 0;
}

/* Admit peer into every hub it joined while its release was unknown. */
static void release_admit(struct phc__hubs_s *hs, const char *peer) {
  for (phc_hub_t *h = hs->list; h; h = h->next) {
    int j = 0, was = 0;
    for (int i = 0; i < h->npending; i++) {
      if (!strcmp(h->pending[i], peer))
        was = 1;
      else
        memmove(h->pending[j++], h->pending[i], PHC__ATOM_MAX);
    }
    h->npending = j;
    if (was) phc__hub_join_node(h, peer);
  }
}

/* A peer's OTP release became known: hubs whose encoding is not fixed
 * follow it (25 and older: latin-1 atoms; 26+: UTF-8), and then admit the
 * peer if it joined meanwhile (release 0: it did not say; admitted with
 * the encoding as it is). Peers of both kinds cannot agree on placements;
 * phc says so and follows the newest. */
void phc__hubs_peer_release(phc_node_t *n, const char *peer, int release) {
  phc__ring_enc_t enc = release >= 26 ? PHC_RING_OTP26 : PHC_RING_OTP25;
  struct phc__hubs_s *hs = n->hubs;
  /* no answer: it counts only while a hub waits (a peer that went down
   * since waits no more) */
  if (!hs || (release <= 0 && !release_awaited(hs, peer))) return;
  release_remember(hs, peer);
  if (release <= 0) {
    release_admit(hs, peer);
    return;
  }
  if (hs->last_release && (hs->last_release >= 26) != (release >= 26))
    PHC_LOG_W(MOD,
              "peers disagree on the ring's atom encoding: %s runs OTP "
              "%d, %s runs OTP %d; placements will differ between them",
              hs->last_peer, hs->last_release, peer, release);
  snprintf(hs->last_peer, sizeof hs->last_peer, "%s", peer);
  hs->last_release = release;
  for (phc_hub_t *h = hs->list; h; h = h->next) {
    if (h->ring_fixed || h->ring.enc == enc) continue;
    PHC_LOG_I(MOD, "%s: the ring now hashes atoms as OTP %s does (%s)", h->id,
              enc == PHC_RING_OTP26 ? "26+" : "25", peer);
    const char *names[PHC__HUB_MAX_NODES];
    for (int i = 0; i < h->nnodes; i++)
      names[i] = h->nodes[i];
    phc__ring_free(&h->ring);
    phc__ring_init(&h->ring, enc);
    phc__ring_set_nodes(&h->ring, names, (size_t)h->nnodes);
  }
  release_admit(hs, peer);
}
