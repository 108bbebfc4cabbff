/* adopt.c - strategies taken from the hub: when a peer joins, phc asks it
 * for the strategies ProcessHub keeps in the hub's misc storage and runs
 * the same ones.
 *
 * ProcessHub stores each strategy struct under its settings key
 * (redundancy_strategy, ...) in an unnamed ETS table (the hub's
 * storage.misc). Two calls reach it: {'$gen_call', From, get_state} to the
 * peer's coordinator returns the %ProcessHub.Hub{} (storage.misc is the
 * table's id), then rex runs ets:select(Tid, MatchSpec) for the five keys
 * there. A short-lived process ("strategy_ask") makes both calls; a peer
 * that is not a BEAM member, or does not answer within ADOPT_TIMEOUT_MS,
 * ends the round and the next peer that joins is asked. Once one peer has
 * answered the hub never asks again.
 *
 * Adopting a kind: the peer's struct (the strategy's options as a map) is
 * checked and set through the seam; one info line names what changed. A
 * kind whose module phc does not implement keeps phc's strategy, with a
 * warning. When the config file set a strategy that differs from the
 * peer's (module or options), a warning names both; the peer's wins.
 *
 * What the strategies decide waits for the round: the join that starts it
 * and every join during it are held, and so are the coordinator's casts,
 * events and nodedowns (a BEAM member's NodeUp migrations arrive in the
 * window); when the round ends, adopted or not, they run in arrival order
 * under the strategies the hub then has. The peer just asked is admitted
 * without asking it again; the next peer to join is asked when none has
 * answered. */
#include <stdlib.h>

#include "hub/hub.h"
#include "term/enc.h"

#define MOD "hub"
#define ADOPT_TIMEOUT_MS 5000
#define ADOPT_HOLD_MAX 65536 /* coordinator messages held while asking */

typedef struct adopt_s {
  phc_node_t *n;
  char hub[PHC__ATOM_MAX];
  char peer[PHC__ATOM_MAX];
  erlang_ref ref;
  erlang_pid self;
  int step; /* 0: get_state, 1: ets:select */
} adopt_t;

/* ---- comparing and applying ---------------------------------------------- */

/* The short name of a strategy module (after the last dot). */
static const char *adopt_short(const char *module) {
  const char *d = strrchr(module, '.');
  return d ? d + 1 : module;
}

typedef struct adopt_text_s {
  char *out;
  size_t size;
} adopt_text_t;

static int adopt_render_opt(void *arg, const char *key, const char *buf,
                            int vidx) {
  adopt_text_t *t = arg;
  char *txt = NULL;
  size_t used = strlen(t->out);
  ei_s_print_term(&txt, buf, &vidx);
  snprintf(t->out + used, t->size - used, "%s%s: %s", used > 1 ? ", " : "", key,
           txt ? txt : "?");
  free(txt);
  return 0;
}

/* "Short{key: value, ...}" for a strategy and its options (NULL: none). */
static void adopt_render(const char *module, const char *buf, int idx,
                         char *out, size_t size) {
  char opts[512] = "{";
  adopt_text_t t = {opts, sizeof opts - 1};
  if (buf) phc__strat_opts_each(buf, idx, adopt_render_opt, &t);
  snprintf(out, size, "%s%s}", adopt_short(module), opts);
}

/* 1 when options a and b give the table the same state (the module is the
 * same). Tables without state have nothing to differ in. */
static int adopt_same_opts(const phc__strat_base_t *t, const char *a, int ai,
                           const char *b, int bi) {
  if (!t->state_size || !t->check) return 1;
  void *sa = phc__xcalloc(1, t->state_size);
  void *sb = phc__xcalloc(1, t->state_size);
  int same = t->init(NULL, sa, a, ai) == 0 && t->init(NULL, sb, b, bi) == 0 &&
             !memcmp(sa, sb, t->state_size);
  free(sa);
  free(sb);
  return same;
}

/* The configured {Module, Opts} of kind in h->cfg_strat: 0 with *mod
 * and *oidx (-1: no options) set, or PHC_EINVAL when not configured. */
int phc__hub_cfg_strategy(const phc_hub_t *h, phc__strat_kind_t kind, char *mod,
                          size_t size, int *oidx) {
  int i = 1, n, arity;
  char key[PHC__ATOM_MAX];
  if (!h->cfg_strat || ei_decode_list_header(h->cfg_strat, &i, &n) < 0)
    return PHC_EINVAL;
  for (int k = 0; k < n; k++) {
    if (ei_decode_tuple_header(h->cfg_strat, &i, &arity) < 0 ||
        phc__term_atom(h->cfg_strat, &i, key, sizeof key) < 0 ||
        ei_decode_tuple_header(h->cfg_strat, &i, &arity) < 0 ||
        phc__term_atom(h->cfg_strat, &i, mod, size) < 0)
      return PHC_EINVAL;
    *oidx = i;
    if (phc__strat_kind_of(key) == kind) return 0;
    if (ei_skip_term(h->cfg_strat, &i) < 0) return PHC_EINVAL;
  }
  return PHC_EINVAL;
}

static void adopt_warn_cfg(phc_hub_t *h, phc__strat_kind_t kind,
                           const phc__strat_base_t *t, const char *buf,
                           int vidx, const char *peer) {
  char mod[PHC__ATOM_MAX];
  int oidx;
  if (phc__hub_cfg_strategy(h, kind, mod, sizeof mod, &oidx)) return;
  if (!strcmp(mod, t->module) &&
      adopt_same_opts(t, h->cfg_strat, oidx, buf, vidx))
    return;
  char mine[600], theirs[600];
  adopt_render(mod, h->cfg_strat, oidx, mine, sizeof mine);
  adopt_render(t->module, buf, vidx, theirs, sizeof theirs);
  PHC_LOG_W(MOD,
            "%s: configured %s %s differs from the hub's %s (asked %s); "
            "running the hub's",
            h->id, phc__strat_kind_key(kind), mine, theirs, peer);
}

/* One {Key, Struct} of the peer; appends what changed to line. */
static void adopt_one(phc_hub_t *h, const char *buf, int *i, const char *peer,
                      char *line, size_t size) {
  char key[PHC__ATOM_MAX], mod[PHC__ATOM_MAX];
  int arity, v, m;
  if (ei_decode_tuple_header(buf, i, &arity) < 0 || arity < 2 ||
      phc__term_atom(buf, i, key, sizeof key) < 0)
    return;
  v = *i;
  for (int k = 1; k < arity; k++)
    ei_skip_term(buf, i);
  phc__strat_kind_t kind = phc__strat_kind_of(key);
  if (kind == PHC__STRAT_KINDS || phc__term_map_get(buf, v, "__struct__", &m) ||
      phc__term_atom(buf, &m, mod, sizeof mod))
    return;
  const phc__strat_base_t *t = phc__strat_find(kind, mod);
  if (!t) {
    PHC_LOG_W(MOD,
              "%s: the hub runs %s %s, which phc does not implement; "
              "phc keeps %s",
              h->id, key, mod, adopt_short(h->strat.table[kind]->module));
    return;
  }
  if (phc__strat_check(t, buf, v)) return; /* logged, named */
  adopt_warn_cfg(h, kind, t, buf, v, peer);
  if (h->strat.table[kind] == t && !t->state_size) return;
  if (phc__strategies_set(h, &h->strat, kind, t, buf, v)) {
    phc__strategies_set(h, &h->strat, kind, NULL, NULL, 0);
    return;
  }
  char txt[600];
  adopt_render(t->module, buf, v, txt, sizeof txt);
  size_t used = strlen(line);
  if (snprintf(line + used, size - used, "%s%s %s", used ? ", " : "", key,
               txt) >= (int)(size - used))
    line[size - 1] = 0; /* cut: the line stays readable */
}

static void adopt_apply(phc_hub_t *h, const char *buf, int idx,
                        const char *peer) {
  char line[1024] = "";
  int n;
  if (ei_decode_list_header(buf, &idx, &n) < 0 || n == 0) {
    PHC_LOG_W(MOD, "%s: %s sent no strategies", h->id, peer);
    return;
  }
  for (int k = 0; k < n; k++)
    adopt_one(h, buf, &idx, peer, line, sizeof line);
  h->strat_adopted = 1;
  if (*line)
    PHC_LOG_I(MOD, "%s: adopted the hub's strategies from %s: %s", h->id, peer,
              line);
  else
    PHC_LOG_I(MOD, "%s: %s runs phc's strategies", h->id, peer);
}

/* ---- the asking process -------------------------------------------------- */

/* The round ended: what was held runs now, in order, under the strategies
 * the hub has; a join replayed may start the next round, which holds the
 * rest again. */
static void adopt_replay(phc_hub_t *h) {
  while (h->held && !h->strat_asking && !h->leaving) {
    phc__hub_held_t *m = h->held;
    h->held = m->next;
    if (!h->held) h->held_tail = &h->held;
    h->nheld--;
    phc__hub_coord_msg(h, m->buf, m->len);
    free(m->buf);
    free(m);
  }
}

static void adopt_end(phc_proc_t *self, adopt_t *a, const char *why) {
  phc_hub_t *h = phc__hub_find(a->n, a->hub);
  phc_proc_set_data(self, NULL);
  if (h) {
    if (why && !h->strat_adopted)
      PHC_LOG_D(MOD, "%s: %s: no strategies (%s)", a->hub, a->peer, why);
    if (h->nheld)
      PHC_LOG_D(MOD, "%s: %d messages held for the strategies run now", a->hub,
                h->nheld);
    h->strat_asking = h->held_full = 0;
    adopt_replay(h);
  }
  free(a);
  phc_proc_exit_atom(self, "normal");
}

/* {'$gen_call', {Self, Ref}, Req} to name on the peer; req encoded by fn. */
static void adopt_call(phc_proc_t *self, adopt_t *a, const char *name,
                       void (*req)(adopt_t *, ei_x_buff *, const char *, int),
                       const char *arg, int len) {
  ei_x_buff x;
  phc_make_ref(a->n, &a->ref);
  phc__x_new_with_version(&x);
  phc__x_tuple_header(&x, 3);
  phc__x_atom(&x, "$gen_call");
  phc__x_tuple_header(&x, 2);
  phc__x_pid(&x, phc_self(self));
  phc__x_ref(&x, &a->ref);
  req(a, &x, arg, len);
  phc_send_name(a->n, phc_self(self), a->peer, name, x.buff, x.index);
  ei_x_free(&x);
}

static void adopt_req_state(adopt_t *a, ei_x_buff *x, const char *arg,
                            int len) {
  PHC__UNUSED(a);
  PHC__UNUSED(arg);
  PHC__UNUSED(len);
  phc__x_atom(x, "get_state");
}

/* {call, ets, select, [Tid, [{{Key, '_'}, [], ['$_']} || Key]], Self} */
static void adopt_req_select(adopt_t *a, ei_x_buff *x, const char *tid,
                             int len) {
  PHC__UNUSED(a);
  phc__x_tuple_header(x, 5);
  phc__x_atom(x, "call");
  phc__x_atom(x, "ets");
  phc__x_atom(x, "select");
  phc__x_list_header(x, 2);
  phc__x_append_buf(x, tid, len);
  phc__x_list_header(x, PHC__STRAT_KINDS);
  for (int k = 0; k < PHC__STRAT_KINDS; k++) {
    phc__x_tuple_header(x, 3);
    phc__x_tuple_header(x, 2);
    phc__x_atom(x, phc__strat_kind_key((phc__strat_kind_t)k));
    phc__x_atom(x, "_");
    phc__x_empty_list(x);
    phc__x_list_header(x, 1);
    phc__x_atom(x, "$_");
    phc__x_empty_list(x);
  }
  phc__x_empty_list(x);
  phc__x_empty_list(x);
  phc__x_pid(x, &a->self); /* the group leader */
}

/* The reply's Ref matches ours: *i moves to the Reply. */
static int adopt_reply(const adopt_t *a, const char *buf, int len, int *i) {
  int arity;
  erlang_ref r;
  *i = 1;
  if (phc__term_check(buf, len) || ei_decode_tuple_header(buf, i, &arity) < 0 ||
      arity != 2 || ei_decode_ref(buf, i, &r) < 0)
    return PHC_EINVAL;
  return r.len == a->ref.len &&
                 !memcmp(r.n, a->ref.n, sizeof(r.n[0]) * (size_t)r.len) &&
                 r.creation == a->ref.creation
             ? 0
             : PHC_EINVAL;
}

/* %ProcessHub.Hub{storage: %{misc: Tid}}: the Tid's bytes. */
static int adopt_tid(const char *buf, int i, int *start, int *len) {
  int s, m;
  if (phc__term_map_get(buf, i, "storage", &s) ||
      phc__term_map_get(buf, s, "misc", &m))
    return PHC_EINVAL;
  *start = m;
  if (ei_skip_term(buf, &m) < 0) return PHC_EINVAL;
  *len = m - *start;
  return 0;
}

static void adopt_handle(phc_proc_t *self, const char *buf, int len) {
  adopt_t *a = phc_proc_data(self);
  int i, start, tlen;
  if (!a) return;
  if (phc__term_is_atom(buf, len, "timeout")) {
    adopt_end(self, a, "no answer");
    return;
  }
  if (adopt_reply(a, buf, len, &i)) return; /* not ours */
  if (a->step == 0) {
    if (adopt_tid(buf, i, &start, &tlen)) {
      adopt_end(self, a, "not a ProcessHub coordinator");
      return;
    }
    a->step = 1;
    adopt_call(self, a, "rex", adopt_req_select, buf + start, tlen);
    return;
  }
  phc_hub_t *h = phc__hub_find(a->n, a->hub);
  int type, size, j = i;
  if (ei_get_type(buf, &j, &type, &size) == 0 &&
      (type == ERL_LIST_EXT || type == ERL_NIL_EXT) && h && !h->leaving &&
      !h->strat_adopted)
    adopt_apply(h, buf, i, a->peer);
  adopt_end(self, a, "bad answer");
}

static void adopt_terminate(phc_proc_t *self, const char *reason, int len) {
  adopt_t *a = phc_proc_data(self);
  PHC__UNUSED(reason);
  PHC__UNUSED(len);
  phc_hub_t *h = a ? phc__hub_find(a->n, a->hub) : NULL;
  if (h) h->strat_asking = 0; /* killed: what is held waits for the next */
  free(a);
  phc_proc_set_data(self, NULL);
}

static const phc_proc_ops_t adopt_ops = {.name = "strategy_ask",
                                         .handle_msg = adopt_handle,
                                         .terminate = adopt_terminate};

static int adopt_ask(phc_hub_t *h, const char *peer) {
  erlang_pid pid;
  phc_ref_t tref;
  int rc = phc_spawn(h->n, &adopt_ops, NULL, NULL, 0, &pid);
  if (rc) return rc;
  adopt_t *a = phc__xcalloc(1, sizeof *a);
  a->n = h->n;
  a->self = pid;
  snprintf(a->hub, sizeof a->hub, "%s", h->id);
  snprintf(a->peer, sizeof a->peer, "%s", peer);
  phc_proc_t *p = phc_proc_lookup(h->n, &pid);
  phc_proc_set_data(p, a);
  h->strat_asking = 1;
  adopt_call(p, a, h->id, adopt_req_state, NULL, 0);
  ei_x_buff t;
  phc__x_new_with_version(&t);
  phc__x_atom(&t, "timeout");
  phc_send_after(h->n, ADOPT_TIMEOUT_MS, &pid, t.buff, t.index, &tref);
  ei_x_free(&t);
  snprintf(h->strat_asked, sizeof h->strat_asked, "%s", peer);
  return 0;
}

/* ---- holding what the strategies decide ---------------------------------- */

static void adopt_push(phc_hub_t *h, const char *buf, int len, int front) {
  phc__hub_held_t *m = phc__xcalloc(1, sizeof *m);
  m->buf = phc__xmalloc((size_t)len);
  memcpy(m->buf, buf, (size_t)len);
  m->len = len;
  if (!h->held) h->held_tail = &h->held;
  if (front) {
    m->next = h->held;
    if (!h->held) h->held_tail = &m->next;
    h->held = m;
  } else {
    *h->held_tail = m;
    h->held_tail = &m->next;
  }
  h->nheld++;
}

static void adopt_push_join(phc_hub_t *h, const char *node, int front) {
  ei_x_buff x;
  phc__x_new_with_version(&x);
  phc__x_tuple_header(&x, 2);
  phc__x_atom(&x, "cluster_join_event");
  phc__x_atom(&x, node);
  adopt_push(h, x.buff, x.index, front);
  ei_x_free(&x);
}

int phc__hub_adopt_hold_join(phc_hub_t *h, const char *node) {
  if (h->leaving) return 0;
  if (h->strat_asking) {
    adopt_push_join(h, node, 0);
    PHC_LOG_D(MOD, "%s: %s's join held for the strategies", h->id, node);
    return 1;
  }
  if (h->strat_adopted || !strcmp(h->strat_asked, node) || adopt_ask(h, node))
    return 0;
  /* first in line: a replay that starts this round leaves the messages
   * held after this join behind it */
  adopt_push_join(h, node, 1);
  PHC_LOG_D(MOD, "%s: %s joins once its strategies are known", h->id, node);
  return 1;
}

/* What the strategies decide: casts (starts, stops, exec_cast), events
 * (joins, leaves, migrations, and the registry events, kept in order with
 * them), nodedown. */
static int adopt_holds(const char *buf, int len, char *what) {
  char req[PHC__ATOM_MAX];
  int idx = 1, arity, a2;
  if (phc__term_check(buf, len) || ei_decode_tuple_header(buf, &idx, &arity) ||
      arity < 2 || phc__term_atom(buf, &idx, what, PHC__ATOM_MAX) < 0)
    return 0;
  size_t tl = strlen(what);
  if (arity == 2 && !strcmp(what, "$gen_cast")) { /* named by its request */
    if (ei_decode_tuple_header(buf, &idx, &a2) == 0 && a2 > 0 &&
        phc__term_atom(buf, &idx, req, sizeof req) == 0)
      snprintf(what, PHC__ATOM_MAX, "%s", req);
    return 1;
  }
  return !strcmp(what, "nodedown") ||
         (arity == 2 && tl > 6 && !strcmp(what + tl - 6, "_event"));
}

int phc__hub_adopt_hold(phc_hub_t *h, const char *buf, int len) {
  char tag[PHC__ATOM_MAX];
  if (!h->strat_asking || h->leaving || !adopt_holds(buf, len, tag)) return 0;
  if (h->nheld >= ADOPT_HOLD_MAX) {
    if (!h->held_full)
      PHC_LOG_W(MOD,
                "%s: %d messages held for the strategies; the rest run "
                "under phc's",
                h->id, ADOPT_HOLD_MAX);
    h->held_full = 1;
    return 0;
  }
  adopt_push(h, buf, len, 0);
  PHC_LOG_D(MOD, "%s: %s held for the strategies", h->id, tag);
  return 1;
}

void phc__hub_adopt_free(phc_hub_t *h) {
  while (h->held) {
    phc__hub_held_t *m = h->held;
    h->held = m->next;
    free(m->buf);
    free(m);
  }
  h->held_tail = &h->held;
  h->nheld = 0;
}

int phc__hub_cfg_apply(phc_hub_t *h) {
  char mod[PHC__ATOM_MAX];
  int oidx, rc;
  for (int k = 0; k < PHC__STRAT_KINDS; k++) {
    phc__strat_kind_t kind = (phc__strat_kind_t)k;
    if (phc__hub_cfg_strategy(h, kind, mod, sizeof mod, &oidx)) continue;
    const phc__strat_base_t *t = phc__strat_find(kind, mod);
    if (!t) {
      PHC_LOG_E(MOD, "%s: unknown %s: %s", h->id, phc__strat_kind_key(kind),
                mod);
      return PHC_EINVAL;
    }
    if ((rc = phc__strategies_set(h, &h->strat, kind, t, h->cfg_strat, oidx)))
      return rc;
    PHC_LOG_I(MOD, "%s: configured %s %s", h->id, phc__strat_kind_key(kind),
              adopt_short(mod));
  }
  return 0;
}
