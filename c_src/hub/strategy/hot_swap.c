/* hot_swap.c - ProcessHub.Strategy.Migration.HotSwap: the new copy of a
 * migrating child starts on the node that joined before the local one
 * stops, and with handover: true the old copy hands its state to the new
 * one. Options (the struct's fields, a keyword list or the struct map):
 * retention (5000 ms), handover (false), confirm_handover (false),
 * handover_data_wait (3000 ms), child_migration_timeout (10000 ms).
 *
 * handle_migration runs ProcessHub's migration task as one process per
 * migration (the handler, H): it sends migration_add_event with
 * reply_to => [H], collects {collect_start_results, ...} from the target
 * (child_migration_timeout), sends each migrated child's local copy
 * {process_hub, send_handover_state, NewPid, Cid, Opts} (the gen_server's
 * handover.c answers for C types), waits for retention_handled (retention),
 * terminates the local copies and propagates their unregistration, waits
 * for handover_confirmed when confirm_handover is set (retention), and
 * dispatches children_migrated_hook. As in ProcessHub, with handover:
 * false no child counts as migrated: the new copies start and the old
 * ones stay. The handler names itself as confirmation_receiver (ProcessHub
 * names the new child, which then confirms to itself).
 *
 * The graceful leave (node_leave with the local node, ProcessHub's
 * coordinator_shutdown handler) takes each local child's state through its
 * type's handover_get and casts {exec_cast, {HotSwap, handle_storage_update,
 * [[{Cid, {State, []}}]]}} to the node that takes the child over (the first
 * of its new ring nodes that does not run it yet). The receiving side
 * (hub.c's exec_cast, start.c) hands the state to the child it starts. */
#include <stdio.h>
#include <stdlib.h>

#include "hub/child_data.h"
#include "hub/hub.h"
#include "proc/proc.h"
#include "term/enc.h"

#define MOD "hot_swap"
#define HS_MODULE "Elixir.ProcessHub.Strategy.Migration.HotSwap"

typedef struct hs_opts_s {
  long long retention, data_wait, mig_timeout;
  int handover, confirm;
} hs_opts_t;

/* ---- options --------------------------------------------------------- */

static int hs_option(void *arg, const char *key, const char *buf, int idx) {
  hs_opts_t *o = arg;
  long long v;
  int i = idx, b = -1;
  long long *num = !strcmp(key, "retention")                 ? &o->retention
                   : !strcmp(key, "handover_data_wait")      ? &o->data_wait
                   : !strcmp(key, "child_migration_timeout") ? &o->mig_timeout
                                                             : NULL;
  int *flag = !strcmp(key, "handover")           ? &o->handover
              : !strcmp(key, "confirm_handover") ? &o->confirm
                                                 : NULL;
  if (!num && !flag) {
    PHC_LOG_E(MOD, "unknown HotSwap option: %s", key);
    return PHC_EINVAL;
  }
  if (num && ei_decode_longlong(buf, &i, &v) == 0 && v >= 0 &&
      v <= 0x7fffffff) {
    *num = v;
    return 0;
  }
  if (flag)
    b = phc__term_atom_eq(buf, idx, "true")    ? 1
        : phc__term_atom_eq(buf, idx, "false") ? 0
                                               : -1;
  if (flag && b >= 0) {
    *flag = b;
    return 0;
  }
  PHC_LOG_E(MOD, "bad value for HotSwap option %s", key);
  return PHC_EINVAL;
}

static int hs_parse(hs_opts_t *o, const char *buf, int idx) {
  *o = (hs_opts_t){.retention = 5000, .data_wait = 3000, .mig_timeout = 10000};
  return buf ? phc__strat_opts_each(buf, idx, hs_option, o) : 0;
}

static int hs_check(const char *buf, int idx) {
  hs_opts_t o;
  return hs_parse(&o, buf, idx);
}

static int hs_init(phc_hub_t *h, void *st, const char *buf, int idx) {
  PHC__UNUSED(h);
  return hs_parse(st, buf, idx);
}

/* ---- the migration handler ------------------------------------------- */

enum { HS_COLLECT = 0, HS_RETENTION, HS_CONFIRM };

typedef struct hs_child_s {
  char *cid, *spec, *meta; /* encoded, no version byte */
  int cid_len, spec_len, meta_len;
  erlang_pid newpid;
  int answered, started, migrated, handled, confirmed;
} hs_child_t;

typedef struct hs_mig_s {
  phc_hub_t *h;
  hs_opts_t o;
  char node[PHC__ATOM_MAX];
  hs_child_t *c;
  int n, phase, waiting; /* waiting: children the phase still waits for */
  phc_ref_t tref;
} hs_mig_t;

static void hs_mig_free(hs_mig_t *m) {
  for (int i = 0; m && i < m->n; i++) {
    free(m->c[i].cid);
    free(m->c[i].spec);
    free(m->c[i].meta);
  }
  if (m) free(m->c);
  free(m);
}

static hs_child_t *hs_find(hs_mig_t *m, const char *cid, int len) {
  for (int i = 0; i < m->n; i++)
    if (m->c[i].cid_len == len && !memcmp(m->c[i].cid, cid, (size_t)len))
      return &m->c[i];
  return NULL;
}

/* {process_hub, hs_timeout, Phase} to the handler after ms. */
static void hs_arm(phc_proc_t *p, hs_mig_t *m, long long ms) {
  ei_x_buff t;
  phc_node_t *n = phc_proc_node(p);
  phc__x_new_with_version(&t);
  phc__x_tuple_header(&t, 3);
  phc__x_atom(&t, "process_hub");
  phc__x_atom(&t, "hs_timeout");
  phc__x_long(&t, m->phase);
  phc_cancel_timer(n, &m->tref);
  phc_send_after(n, (unsigned)ms, phc_self(p), t.buff, t.index, &m->tref);
  ei_x_free(&t);
}

/* children_migrated_hook {Node, [{ChildSpec, Meta}]} (all the children
 * the migration was given, as ProcessHub passes them), then exit. */
static void hs_finish(phc_proc_t *p, hs_mig_t *m) {
  int any = 0;
  for (int i = 0; i < m->n; i++)
    any += m->c[i].migrated;
  PHC_LOG_I(MOD, "%s: migration to %s done: %d of %d children handed over",
            m->h->id, m->node, any, m->n);
  if (any && !m->h->leaving) {
    ei_x_buff hook;
    phc__x_new_with_version(&hook);
    phc__x_tuple_header(&hook, 2);
    phc__x_atom(&hook, m->node);
    phc__x_list_header(&hook, m->n);
    for (int i = 0; i < m->n; i++) {
      phc__x_tuple_header(&hook, 2);
      phc__x_append_buf(&hook, m->c[i].spec, m->c[i].spec_len);
      phc__x_append_buf(&hook, m->c[i].meta, m->c[i].meta_len);
    }
    phc__x_empty_list(&hook);
    phc__hub_hook(m->h, "children_migrated_hook", &hook);
    ei_x_free(&hook);
  }
  phc_proc_exit_atom(p, "normal");
}

/* Distributor.children_terminate of the migrated children, then the
 * confirmations (confirm_handover) or the end. */
static void hs_terminate(phc_proc_t *p, hs_mig_t *m) {
  phc_hub_t *h = m->h;
  const char *me = h->n->name;
  ei_x_buff unreg;
  phc__x_new(&unreg);
  int k = 0;
  for (int i = 0; i < m->n; i++)
    k += m->c[i].migrated;
  phc__x_list_header(&unreg, k);
  for (int i = 0; i < m->n; i++) {
    hs_child_t *c = &m->c[i];
    if (!c->migrated) continue;
    int rc = phc__hub_terminate_local(h, c->cid, c->cid_len);
    phc__reg_remove_node(&h->reg, c->cid, c->cid_len, me);
    phc__x_tuple_header(&unreg, 3);
    phc__x_append_buf(&unreg, c->cid, c->cid_len);
    if (rc == 0) {
      phc__x_atom(&unreg, "ok");
    } else {
      phc__x_tuple_header(&unreg, 2);
      phc__x_atom(&unreg, "error");
      phc__x_atom(&unreg, "not_found");
    }
    phc__x_atom(&unreg, me);
  }
  phc__x_empty_list(&unreg);
  phc__strat_propagate(h, &h->strat, unreg.buff, unreg.index, me,
                       PHC__STRAT_SYNC_REM, NULL, 0);
  ei_x_free(&unreg);
  m->waiting = 0;
  for (int i = 0; m->o.confirm && i < m->n; i++)
    m->waiting += m->c[i].migrated && !m->c[i].confirmed;
  if (!m->waiting) {
    hs_finish(p, m);
    return;
  }
  m->phase = HS_CONFIRM;
  hs_arm(p, m, m->o.retention);
}

/* {process_hub, send_handover_state, NewPid, Cid, Opts} to the local copy. */
static void hs_ask_state(phc_proc_t *p, hs_mig_t *m, hs_child_t *c,
                         const erlang_pid *old) {
  ei_x_buff x;
  phc__x_new_with_version(&x);
  phc__x_tuple_header(&x, 5);
  phc__x_atom(&x, "process_hub");
  phc__x_atom(&x, "send_handover_state");
  phc__x_pid(&x, &c->newpid);
  phc__x_append_buf(&x, c->cid, c->cid_len);
  phc__x_list_header(&x, 4);
  phc__x_tuple_header(&x, 2);
  phc__x_atom(&x, "retention_receiver");
  phc__x_pid(&x, phc_self(p));
  phc__x_tuple_header(&x, 2);
  phc__x_atom(&x, "confirmation_receiver");
  if (m->o.confirm)
    phc__x_pid(&x, phc_self(p));
  else
    phc__x_atom(&x, "nil");
  phc__x_tuple_header(&x, 2);
  phc__x_atom(&x, "confirm_handover");
  phc__x_atom(&x, m->o.confirm ? "true" : "false");
  phc__x_tuple_header(&x, 2);
  phc__x_atom(&x, "hub_id");
  phc__x_atom(&x, m->h->id);
  phc__x_empty_list(&x);
  phc_send(m->h->n, phc_self(p), old, x.buff, x.index);
  ei_x_free(&x);
}

/* The start results are in (or timed out): start the handovers. */
static void hs_collected(phc_proc_t *p, hs_mig_t *m) {
  const char *me = m->h->n->name;
  m->waiting = 0;
  for (int i = 0; m->o.handover && i < m->n; i++) {
    hs_child_t *c = &m->c[i];
    const phc__reg_row_t *row = phc__reg_find(&m->h->reg, c->cid, c->cid_len);
    const phc__reg_owner_t *o = row ? phc__reg_owner(row, me) : NULL;
    if (!c->started) {
      PHC_LOG_E(MOD, "%s: child process migration failed on node %s", m->h->id,
                m->node);
      continue;
    }
    if (!o) {
      PHC_LOG_W(MOD, "%s: migration to %s: a child no longer runs here",
                m->h->id, m->node);
      continue;
    }
    c->migrated = 1;
    m->waiting++;
    erlang_pid op;
    phc__cpid_get(&o->pid, &op);
    hs_ask_state(p, m, c, &op);
  }
  if (!m->waiting) {
    hs_terminate(p, m);
    return;
  }
  m->phase = HS_RETENTION;
  hs_arm(p, m, m->o.retention);
}

/* HotSwap's result handler: {ok, Pid} or {error, {already_started, Pid}}
 * is a start (1 with *pid set). */
static int hs_result_pid(const char *buf, int r, erlang_pid *pid) {
  int arity;
  if (ei_decode_tuple_header(buf, &r, &arity) < 0 || arity != 2) return 0;
  if (phc__term_atom_eq(buf, r, "ok"))
    return ei_skip_term(buf, &r) == 0 && ei_decode_pid(buf, &r, pid) == 0;
  return phc__term_atom_eq(buf, r, "error") && ei_skip_term(buf, &r) == 0 &&
         ei_decode_tuple_header(buf, &r, &arity) == 0 && arity == 2 &&
         phc__term_atom_eq(buf, r, "already_started") &&
         ei_skip_term(buf, &r) == 0 && ei_decode_pid(buf, &r, pid) == 0;
}

/* {collect_start_results, [{Cid, Result}], Node} */
static void hs_on_results(phc_proc_t *p, hs_mig_t *m, const char *buf,
                          int idx) {
  int n, arity;
  if (m->phase != HS_COLLECT || ei_decode_list_header(buf, &idx, &n) < 0)
    return;
  for (int i = 0; i < n; i++) {
    if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 2) return;
    int cid = idx;
    if (ei_skip_term(buf, &idx) < 0) return;
    hs_child_t *c = hs_find(m, buf + cid, idx - cid);
    int r = idx;
    if (ei_skip_term(buf, &idx) < 0) return;
    if (!c || c->answered) continue;
    c->answered = 1;
    c->started = hs_result_pid(buf, r, &c->newpid);
    m->waiting--;
  }
  if (m->waiting <= 0) hs_collected(p, m);
}

/* {process_hub, retention_handled | handover_confirmed, Cid} */
static void hs_on_ack(phc_proc_t *p, hs_mig_t *m, int confirm, const char *buf,
                      int idx) {
  int at = idx;
  if (ei_skip_term(buf, &idx) < 0) return;
  hs_child_t *c = hs_find(m, buf + at, idx - at);
  if (!c) return;
  int *flag = confirm ? &c->confirmed : &c->handled;
  if (*flag) return;
  *flag = 1;
  int now = confirm ? HS_CONFIRM : HS_RETENTION;
  if (m->phase != now || !c->migrated || --m->waiting > 0) return;
  if (confirm)
    hs_finish(p, m);
  else
    hs_terminate(p, m);
}

static void hs_on_timeout(phc_proc_t *p, hs_mig_t *m, long phase) {
  if (phase != m->phase) return;
  if (phase == HS_COLLECT) {
    PHC_LOG_W(MOD, "%s: migration to %s: start results timed out", m->h->id,
              m->node);
    hs_collected(p, m);
  } else if (phase == HS_RETENTION) {
    hs_terminate(p, m);
  } else {
    PHC_LOG_W(MOD, "%s: handover confirmation timeout (%s)", m->h->id, m->node);
    hs_finish(p, m);
  }
}

static void hs_handle_msg(phc_proc_t *p, const char *buf, int len) {
  hs_mig_t *m = phc_proc_data(p);
  int idx = 0, ver, arity;
  char tag[32];
  long phase;
  PHC__UNUSED(len);
  if (m->h->leaving) { /* the hub left: nothing more to migrate */
    phc_proc_exit_atom(p, "normal");
    return;
  }
  if (ei_decode_version(buf, &idx, &ver) < 0 ||
      ei_decode_tuple_header(buf, &idx, &arity) < 0 ||
      phc__term_atom(buf, &idx, tag, sizeof tag) < 0)
    return;
  if (arity == 3 && !strcmp(tag, "collect_start_results")) {
    hs_on_results(p, m, buf, idx);
    return;
  }
  if (arity != 3 || strcmp(tag, "process_hub") != 0 ||
      phc__term_atom(buf, &idx, tag, sizeof tag) < 0)
    return;
  if (!strcmp(tag, "retention_handled"))
    hs_on_ack(p, m, 0, buf, idx);
  else if (!strcmp(tag, "handover_confirmed"))
    hs_on_ack(p, m, 1, buf, idx);
  else if (!strcmp(tag, "hs_timeout") && ei_decode_long(buf, &idx, &phase) == 0)
    hs_on_timeout(p, m, phase);
}

static int hs_proc_init(phc_proc_t *p, void *arg) {
  phc_proc_set_data(p, arg);
  return 0;
}

static void hs_proc_terminate(phc_proc_t *p, const char *reason, int len) {
  PHC__UNUSED(reason);
  PHC__UNUSED(len);
  hs_mig_free(phc_proc_data(p));
  phc_proc_set_data(p, NULL);
}

static const phc_proc_ops_t hs_ops = {.name = "hot_swap_migration",
                                      .init = hs_proc_init,
                                      .handle_msg = hs_handle_msg,
                                      .terminate = hs_proc_terminate};

/* ChildData with reply_to => [H] for one child. */
static void hs_enc_child(hs_mig_t *m, const hs_child_t *c, const erlang_pid *hp,
                         ei_x_buff *x) {
  phc__x_map_header(x, 7);
  phc__x_atom(x, "child_id");
  phc__x_append_buf(x, c->cid, c->cid_len);
  phc__x_atom(x, "child_spec");
  phc__x_append_buf(x, c->spec, c->spec_len);
  phc__x_atom(x, "hub_id");
  phc__x_atom(x, m->h->id);
  phc__x_atom(x, "metadata");
  phc__x_append_buf(x, c->meta, c->meta_len);
  phc__x_atom(x, "migration_add");
  phc__x_atom(x, "true");
  phc__x_atom(x, "nodes");
  phc__x_list_header(x, 1);
  phc__x_atom(x, m->node);
  phc__x_empty_list(x);
  phc__x_atom(x, "reply_to");
  phc__x_list_header(x, 1);
  phc__x_pid(x, hp);
  phc__x_empty_list(x);
}

/* Distributor.children_redist_init with reply_to: [H]. */
static void hs_redist_init(hs_mig_t *m, const erlang_pid *hp) {
  ei_x_buff add;
  phc__x_new(&add);
  phc__x_tuple_header(&add, 2);
  phc__x_list_header(&add, m->n);
  for (int i = 0; i < m->n; i++)
    hs_enc_child(m, &m->c[i], hp, &add);
  phc__x_empty_list(&add);
  phc__x_list_header(&add, 2);
  phc__x_tuple_header(&add, 2);
  phc__x_atom(&add, "migration_add");
  phc__x_atom(&add, "true");
  phc__x_tuple_header(&add, 2);
  phc__x_atom(&add, "reply_to");
  phc__x_list_header(&add, 1);
  phc__x_pid(&add, hp);
  phc__x_empty_list(&add);
  phc__x_empty_list(&add);
  phc__hub_dispatch(m->h, "migration_add_event", m->node, add.buff, add.index);
  ei_x_free(&add);
}

static void hs_handle_migration(phc_hub_t *h, void *st, phc__reg_row_t **rows,
                                int n, const char *to) {
  hs_mig_t *m = phc__xcalloc(1, sizeof *m);
  m->h = h;
  m->o = *(const hs_opts_t *)st;
  snprintf(m->node, sizeof m->node, "%s", to);
  m->c = phc__xcalloc((size_t)n, sizeof *m->c);
  m->n = m->waiting = n;
  for (int i = 0; i < n; i++) {
    hs_child_t *c = &m->c[i];
    c->cid = phc__term_dup(rows[i]->cid, c->cid_len = rows[i]->cid_len);
    c->spec = phc__term_dup(rows[i]->spec, c->spec_len = rows[i]->spec_len);
    c->meta = phc__term_dup(rows[i]->meta, c->meta_len = rows[i]->meta_len);
  }
  phc_pid_t hp;
  if (phc_spawn(h->n, &hs_ops, m, NULL, 0, &hp) < 0) {
    PHC_LOG_E(MOD, "%s: cannot start the migration to %s", h->id, to);
    hs_mig_free(m);
    return;
  }
  hs_redist_init(m, &hp);
  hs_arm(phc_proc_lookup(h->n, &hp), m, m->o.mig_timeout);
}

/* ---- the graceful leave ---------------------------------------------- */

/* The node that takes row over: the first of its nodes on the ring
 * without us that does not run it yet (NULL: none). */
static const char *hs_heir(phc_hub_t *h, const phc__reg_row_t *row) {
  const char *owners[PHC__HUB_MAX_NODES];
  int k = phc__strat_belongs_to(h, &h->strat, row->cid, row->cid_len, owners,
                                PHC__HUB_MAX_NODES);
  for (int i = 0; i < k; i++)
    if (!phc__reg_owner(row, owners[i]) && phc__hub_has_node(h, owners[i]))
      return owners[i];
  return NULL;
}

/* One exec_cast of the states bound for node (rows[i] with heir[i] ==
 * node): [[{Cid, {State, []}}]]. Children without a state are left out. */
static void hs_send_states(phc_hub_t *h, phc__reg_row_t **rows,
                           const char **heir, int n, const char *node) {
  phc__hub_list_t l;
  phc__hub_list_init(&l);
  for (int i = 0; i < n; i++) {
    if (!heir[i] || strcmp(heir[i], node) != 0) continue;
    heir[i] = NULL;
    ei_x_buff s;
    phc__x_new(&s);
    const phc__reg_owner_t *o = phc__reg_owner(rows[i], h->n->name);
    erlang_pid op;
    phc__cpid_get(&o->pid, &op);
    int rc = phc__gs_handover_get(h->n, &op, &s);
    if (rc == 0) {
      phc__x_tuple_header(&l.items, 2);
      phc__x_append_buf(&l.items, rows[i]->cid, rows[i]->cid_len);
      phc__x_tuple_header(&l.items, 2);
      phc__x_append_buf(&l.items, s.buff, s.index);
      phc__x_empty_list(&l.items);
      l.n++;
    } else if (rc != PHC_EUNDEF) {
      PHC_LOG_E(MOD, "%s: handover timeout while shutting down", h->id);
    }
    ei_x_free(&s);
  }
  ei_x_buff req;
  phc__x_new(&req);
  phc__x_tuple_header(&req, 2);
  phc__x_atom(&req, "exec_cast");
  phc__x_tuple_header(&req, 3);
  phc__x_atom(&req, HS_MODULE);
  phc__x_atom(&req, "handle_storage_update");
  phc__x_list_header(&req, 1);
  phc__hub_list_close(&l, &req);
  phc__x_empty_list(&req);
  phc__hub_cast(h, node, req.buff, req.index);
  ei_x_free(&req);
}

/* HotSwap.handle_shutdown: the ring has lost us already (the
 * distribution's node_leave runs first). */
static void hs_node_leave(phc_hub_t *h, void *st, const char *node) {
  const hs_opts_t *o = st;
  const char *me = h->n->name;
  if (strcmp(node, me) != 0 || !o->handover || h->nnodes < 2) return;
  phc__reg_row_t **rows;
  int n = phc__reg_sorted(&h->reg, &rows), k = 0;
  const char **heir = phc__xcalloc((size_t)(n ? n : 1), sizeof *heir);
  for (int i = 0; i < n; i++)
    if (phc__reg_owner(rows[i], me) && (heir[k] = hs_heir(h, rows[i])))
      rows[k++] = rows[i];
  for (int i = 0; i < k; i++)
    if (heir[i]) hs_send_states(h, rows, heir, k, heir[i]);
  free(heir);
  free(rows);
}

const phc__strat_mig_t phc__strat_hot_swap = {
    .base = {.kind = PHC__STRAT_MIGRATION,
             .module = HS_MODULE,
             .state_size = sizeof(hs_opts_t),
             .init = hs_init,
             .check = hs_check,
             .node_leave = hs_node_leave},
    .handle_migration = hs_handle_migration};
