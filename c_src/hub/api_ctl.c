/* api_ctl.c - ProcessHub.start_children/3, start_child/3, stop_children/3
 * and stop_child/3 as natives for :erpc.call(phc, ProcessHub, F, A): what
 * a BEAM coordinator's {init_children_start, ...} / {init_children_stop,
 * ...} calls do (Distributor.init_children / stop_children), with their
 * return values: {ok, start_initiated}, {ok, stop_initiated},
 * {error, no_children}, {error, {already_started, Ids}}, and the
 * distribution's children_init refusal as {error, Reason}.
 *
 * One cast per owner node, {start_children, [ChildData], Opts} or
 * {stop_children, [#{child_id, nodes}], Opts}, as Dispatcher does; Opts
 * are the caller's followed by Distributor.default_init_opts and init_cids
 * (keyword lookups take the first; start_child/stop_child put return_first
 * first, as ProcessHub does). A start or stop with awaitable: true or
 * async_wait: true returns {ok, Future}, resolved by a collector process
 * (api_future.c) that the casts name in reply_to; a start with on_failure:
 * rollback has one too (it stops what started when a start failed), and
 * returns {ok, start_initiated} unless awaited. */
#include <stdlib.h>

#include "hub/api_future.h"
#include "hub/child_data.h"
#include "hub/hub.h"
#include "term/enc.h"

typedef struct ctl_s {
  phc_hub_t *h;
  const char *buf;
  int list, opts; /* indices; opts -1: [] */
  ei_x_buff *result;
  const erlang_pid *reply_to; /* the awaitable start's collector, or NULL */
} ctl_t;

static void ctl_error(ei_x_buff *r, const char *reason) {
  phc__x_tuple_header(r, 2);
  phc__x_atom(r, "error");
  phc__x_atom(r, reason);
}

/* Decode [HubId, List, Opts] (Opts absent for arity 2). */
static int ctl_args(phc_node_t *n, const char *args, ctl_t *c,
                    ei_x_buff *result) {
  int idx = 1, arity;
  char id[PHC__ATOM_MAX];
  c->buf = args;
  c->result = result;
  c->opts = -1;
  c->reply_to = NULL;
  if (ei_decode_list_header(args, &idx, &arity) < 0 || arity < 2 ||
      phc__term_atom(args, &idx, id, sizeof id) < 0 ||
      !(c->h = phc__hub_find(n, id)))
    goto bad;
  c->list = idx;
  if (ei_skip_term(args, &idx) < 0) goto bad;
  if (arity == 3) c->opts = idx;
  return 0;
bad:
  phc__x_atom(result, "badarg");
  return PHC_EINVAL;
}

static int ctl_opt_true(const ctl_t *c, const char *key) {
  int v;
  return c->opts >= 0 && phc__term_kw_get(c->buf, c->opts, key, &v) == 0 &&
         phc__term_atom_eq(c->buf, v, "true");
}

/* reply_to, a start's {init_cids, Ids} (put over the caller's, as the
 * coordinator does), the caller's options, then the defaults and
 * {init_cids, Ids} again (cids: an encoded list, no version byte). */
static void ctl_enc_opts(const ctl_t *c, ei_x_buff *x, const char *cids,
                         int clen) {
  int idx = c->opts, n = 0;
  if (idx >= 0 && ei_decode_list_header(c->buf, &idx, &n) < 0) n = 0;
  phc__x_list_header(x, n + 8 + (c->reply_to ? 1 : 0) + (cids ? 1 : 0));
  if (c->reply_to) {
    phc__x_tuple_header(x, 2);
    phc__x_atom(x, "reply_to");
    phc__x_list_header(x, 1);
    phc__x_pid(x, c->reply_to);
    phc__x_empty_list(x);
  }
  if (cids) {
    phc__x_tuple_header(x, 2);
    phc__x_atom(x, "init_cids");
    phc__x_append_buf(x, cids, clen);
  }
  for (int i = 0; i < n; i++) {
    int s = idx;
    ei_skip_term(c->buf, &idx);
    phc__x_append_buf(x, c->buf + s, idx - s);
  }
  static const char *const flags[][2] = {{"awaitable", "false"},
                                         {"async_wait", "false"},
                                         {"check_existing", "true"},
                                         {"on_failure", "continue"}};
  for (size_t i = 0; i < PHC__ARRAY_LEN(flags); i++) {
    phc__x_tuple_header(x, 2);
    phc__x_atom(x, flags[i][0]);
    phc__x_atom(x, flags[i][1]);
  }
  phc__x_tuple_header(x, 2);
  phc__x_atom(x, "timeout");
  phc__x_long(x, 10000);
  phc__x_tuple_header(x, 2);
  phc__x_atom(x, "metadata");
  phc__x_map_header(x, 0);
  phc__x_tuple_header(x, 2);
  phc__x_atom(x, "await_timeout");
  phc__x_long(x, 60000);
  phc__x_tuple_header(x, 2);
  phc__x_atom(x, "init_cids");
  if (cids)
    phc__x_append_buf(x, cids, clen);
  else
    phc__x_empty_list(x);
  phc__x_empty_list(x);
}

/* check_existing: true unless the caller gave it as false. */
static int ctl_check(const ctl_t *c) {
  int v;
  return c->opts < 0 ||
         phc__term_kw_get(c->buf, c->opts, "check_existing", &v) != 0 ||
         phc__term_atom_eq(c->buf, v, "true");
}

/* A child's data for its owners: #{child_id, child_spec, hub_id, metadata,
 * nodes}. */
static void ctl_child_data(const ctl_t *c, ei_x_buff *x, int spec, int cid,
                           const char *const *owners, int k) {
  int m;
  phc__x_map_header(x, 5);
  phc__x_atom(x, "child_id");
  phc__x_append_buf(x, c->buf + cid, phc__hub_term_len(c->buf, cid));
  phc__x_atom(x, "child_spec");
  phc__x_append_buf(x, c->buf + spec, phc__hub_term_len(c->buf, spec));
  phc__x_atom(x, "hub_id");
  phc__x_atom(x, c->h->id);
  phc__x_atom(x, "metadata");
  if (c->opts >= 0 && phc__term_kw_get(c->buf, c->opts, "metadata", &m) == 0)
    phc__x_append_buf(x, c->buf + m, phc__hub_term_len(c->buf, m));
  else
    phc__x_map_header(x, 0);
  phc__x_atom(x, "nodes");
  phc__x_list_header(x, k);
  for (int i = 0; i < k; i++)
    phc__x_atom(x, owners[i]);
  phc__x_empty_list(x);
}

/* {'$gen_cast', {Req, List, Opts}} to the coordinator on node, as the
 * Dispatcher casts it; an empty list sends nothing. Frees l's items. */
static void ctl_cast_list(const ctl_t *c, phc_hub_t *h, const char *node,
                          const char *req_name, phc__hub_list_t *l,
                          const char *cids, int cids_len) {
  if (!l->n) {
    ei_x_free(&l->items);
    return;
  }
  ei_x_buff req;
  phc__x_new(&req);
  phc__x_tuple_header(&req, 3);
  phc__x_atom(&req, req_name);
  phc__hub_list_close(l, &req);
  ctl_enc_opts(c, &req, cids, cids_len);
  phc__hub_cast(h, node, req.buff, req.index);
  ei_x_free(&req);
}

typedef struct ctl_child_s {
  int spec, cid;
  int k;
  const char *owners[PHC__HUB_MAX_NODES];
} ctl_child_t;

/* Each spec's id and owners; ids into *cids, the ones already registered
 * into *dup (counted in *ndup). */
static int ctl_place(const ctl_t *c, ctl_child_t *ch, int n,
                     phc__hub_list_t *cids, phc__hub_list_t *dup) {
  int idx = c->list;
  ei_decode_list_header(c->buf, &idx, &n);
  for (int i = 0; i < n; i++) {
    ch[i].spec = idx;
    if (ei_skip_term(c->buf, &idx) < 0 ||
        phc__term_map_get(c->buf, ch[i].spec, "id", &ch[i].cid) < 0)
      return PHC_EINVAL;
    const char *cid = c->buf + ch[i].cid;
    int clen = phc__hub_term_len(c->buf, ch[i].cid);
    if (clen < 0) return PHC_EINVAL;
    phc__x_append_buf(&cids->items, cid, clen);
    cids->n++;
    if (phc__reg_find(&c->h->reg, cid, clen)) {
      phc__x_append_buf(&dup->items, cid, clen);
      dup->n++;
    }
    ch[i].k = phc__strat_belongs_to(c->h, &c->h->strat, cid, clen, ch[i].owners,
                                    PHC__HUB_MAX_NODES);
    if (ch[i].k < 1) return PHC_EINVAL;
  }
  return 0;
}

static void ctl_cast_starts(const ctl_t *c, const ctl_child_t *ch, int n,
                            const ei_x_buff *ids) {
  phc_hub_t *h = c->h;
  for (int j = 0; j < h->nnodes; j++) {
    phc__hub_list_t l;
    phc__hub_list_init(&l);
    for (int i = 0; i < n; i++)
      for (int o = 0; o < ch[i].k; o++)
        if (!strcmp(ch[i].owners[o], h->nodes[j])) {
          ctl_child_data(c, &l.items, ch[i].spec, ch[i].cid, ch[i].owners,
                         ch[i].k);
          l.n++;
        }
    ctl_cast_list(c, h, h->nodes[j], "start_children", &l, ids->buff,
                  ids->index);
  }
}

static long ctl_opt_long(const ctl_t *c, const char *key, long dflt) {
  int v;
  long val;
  if (c->opts >= 0 && phc__term_kw_get(c->buf, c->opts, key, &v) == 0 &&
      ei_decode_long(c->buf, &v, &val) == 0 && val >= 0)
    return val;
  return dflt;
}

/* The collector's options from the call's; 1 when the caller awaits it. */
static int ctl_fut_opts(const ctl_t *c, phc__hub_future_opts_t *o, int stop) {
  int v, await = ctl_opt_true(c, "awaitable") || ctl_opt_true(c, "async_wait");
  memset(o, 0, sizeof *o);
  o->stop = stop;
  o->async_wait = ctl_opt_true(c, "async_wait");
  o->return_first = ctl_opt_true(c, "return_first");
  o->rollback = !stop && c->opts >= 0 &&
                phc__term_kw_get(c->buf, c->opts, "on_failure", &v) == 0 &&
                phc__term_atom_eq(c->buf, v, "rollback");
  o->nowait = !await;
  o->timeout = ctl_opt_long(c, "timeout", 10000);
  o->await_timeout = ctl_opt_long(c, "await_timeout", 60000);
  return await;
}

/* The collector of an awaitable start: the nodes the starts are cast to
 * (those owning one of the children), the ids, the Future into fut. */
static int ctl_future(ctl_t *c, const ctl_child_t *ch, int n,
                      const ei_x_buff *ids, const phc__hub_future_opts_t *o,
                      erlang_pid *out, ei_x_buff *fut) {
  phc_hub_t *h = c->h;
  const char *nodes[PHC__HUB_MAX_NODES];
  int k = 0;
  for (int j = 0; j < h->nnodes; j++) {
    int has = 0;
    for (int i = 0; i < n && !has; i++)
      for (int o = 0; o < ch[i].k; o++)
        has |= !strcmp(ch[i].owners[o], h->nodes[j]);
    if (has) nodes[k++] = h->nodes[j];
  }
  return phc__hub_future_start_opts(h, nodes, k, ids->buff, o, out, fut);
}

/* {ok, Future} when awaited (or start_initiated / stop_initiated when
 * not); a collector when awaited or rolling back, c->reply_to its pid. */
static void ctl_reply_ok(ctl_t *c, const ctl_child_t *ch, int n,
                         const ei_x_buff *ids, erlang_pid *fut) {
  phc__hub_future_opts_t o;
  ei_x_buff fb;
  const char *all[PHC__HUB_MAX_NODES]; /* a stop collects from every node */
  int await = ctl_fut_opts(c, &o, ch == NULL), rc = -1;
  for (int j = 0; j < c->h->nnodes; j++)
    all[j] = c->h->nodes[j];
  phc__x_new(&fb);
  if (await || o.rollback)
    rc = ch ? ctl_future(c, ch, n, ids, &o, fut, &fb)
            : phc__hub_future_start_opts(c->h, all, c->h->nnodes, NULL, &o, fut,
                                         &fb);
  if (!rc) c->reply_to = fut;
  phc__x_tuple_header(c->result, 2);
  phc__x_atom(c->result, "ok");
  if (!rc && await)
    phc__x_append_buf(c->result, fb.buff, fb.index);
  else
    phc__x_atom(c->result, ch ? "start_initiated" : "stop_initiated");
  ei_x_free(&fb);
}

static int ctl_start(ctl_t *c) {
  int idx = c->list, n, type, size, rc = 0;
  if (ei_get_type(c->buf, &idx, &type, &size) < 0 ||
      (type != ERL_LIST_EXT && type != ERL_NIL_EXT))
    return phc__x_atom(c->result, "badarg"), PHC_EINVAL;
  if (type == ERL_NIL_EXT) return ctl_error(c->result, "no_children"), 0;
  if (phc__strat_children_init(c->h, &c->h->strat, c->buf, c->list, c->opts))
    return ctl_error(c->result, phc__strat_init_error(c->h, &c->h->strat)), 0;
  ei_decode_list_header(c->buf, &idx, &n);
  ctl_child_t *ch = phc__xcalloc((size_t)n, sizeof *ch);
  phc__hub_list_t cids, dup;
  ei_x_buff ids, dups;
  phc__hub_list_init(&cids);
  phc__hub_list_init(&dup);
  phc__x_new(&ids);
  phc__x_new(&dups);
  if (ctl_place(c, ch, n, &cids, &dup)) {
    phc__x_atom(c->result, "badarg");
    rc = PHC_EINVAL;
    phc__hub_list_close(&cids, &ids);
    phc__hub_list_close(&dup, &dups);
  } else if (phc__hub_list_close(&cids, &ids), dup.n && ctl_check(c)) {
    phc__x_tuple_header(c->result, 2);
    phc__x_atom(c->result, "error");
    phc__x_tuple_header(c->result, 2);
    phc__x_atom(c->result, "already_started");
    phc__hub_list_close(&dup, c->result);
  } else {
    phc__hub_list_close(&dup, &dups);
    erlang_pid fut;
    ctl_reply_ok(c, ch, n, &ids, &fut);
    ctl_cast_starts(c, ch, n, &ids);
  }
  ei_x_free(&ids);
  ei_x_free(&dups);
  free(ch);
  return rc;
}

/* Distributor.stop_children: each id to the nodes the registry has it on,
 * #{child_id, nodes} per child, one cast per node. */
static int ctl_stop(ctl_t *c) {
  phc_hub_t *h = c->h;
  int n, type, size, idx = c->list;
  if (ei_get_type(c->buf, &idx, &type, &size) < 0 ||
      (type != ERL_LIST_EXT && type != ERL_NIL_EXT) ||
      (type == ERL_LIST_EXT && ei_decode_list_header(c->buf, &idx, &n) < 0))
    return phc__x_atom(c->result, "badarg"), PHC_EINVAL;
  if (type == ERL_NIL_EXT) n = 0;
  erlang_pid fut;
  ctl_reply_ok(c, NULL, 0, NULL, &fut);
  int first = idx;
  for (int j = 0; j < h->nnodes; j++) {
    phc__hub_list_t l;
    phc__hub_list_init(&l);
    idx = first;
    for (int i = 0; i < n; i++) {
      int cid = idx, clen = phc__hub_term_len(c->buf, idx);
      if (clen < 0 || ei_skip_term(c->buf, &idx) < 0) break;
      phc__reg_row_t *row = phc__reg_find(&h->reg, c->buf + cid, clen);
      int mine = 0;
      for (int o = 0; row && o < row->nowners; o++)
        mine |= !strcmp(row->owners[o].node, h->nodes[j]);
      if (!mine) continue;
      phc__x_map_header(&l.items, 2);
      phc__x_atom(&l.items, "child_id");
      phc__x_append_buf(&l.items, c->buf + cid, clen);
      phc__x_atom(&l.items, "nodes");
      phc__x_list_header(&l.items, row->nowners);
      for (int o = 0; o < row->nowners; o++)
        phc__x_atom(&l.items, row->owners[o].node);
      phc__x_empty_list(&l.items);
      l.n++;
    }
    ctl_cast_list(c, h, h->nodes[j], "stop_children", &l, NULL, 0);
  }
  return 0;
}

/* start_child / stop_child: the one term wrapped in a list, as ProcessHub
 * does ([Spec] / [Id]). */
static int ctl_one(phc_node_t *n, const char *args, ei_x_buff *result,
                   int (*fn)(ctl_t *)) {
  ctl_t c;
  int rc = ctl_args(n, args, &c, result);
  if (rc) return rc;
  int end = c.list;
  ei_skip_term(args, &end);
  ei_x_buff w;
  phc__x_new_with_version(&w);
  phc__x_list_header(&w, 3);
  phc__x_atom(&w, c.h->id);
  phc__x_list_header(&w, 1);
  phc__x_append_buf(&w, args + c.list, end - c.list);
  phc__x_empty_list(&w);
  int oi = c.opts, on = 0; /* [{return_first, true} | Opts] */
  if (oi >= 0 && ei_decode_list_header(args, &oi, &on) < 0) on = 0;
  phc__x_list_header(&w, on + 1);
  phc__x_tuple_header(&w, 2);
  phc__x_atom(&w, "return_first");
  phc__x_atom(&w, "true");
  for (int i = 0; i < on; i++) {
    int s = oi;
    if (ei_skip_term(args, &oi) < 0) break;
    phc__x_append_buf(&w, args + s, oi - s);
  }
  phc__x_empty_list(&w);
  phc__x_empty_list(&w);
  rc = ctl_args(n, w.buff, &c, result);
  if (!rc) rc = fn(&c);
  ei_x_free(&w);
  return rc;
}

#define CTL_NATIVE(name, fn, one)                                              \
  static int name(phc_node_t *n, const phc_pid_t *caller, const char *args,    \
                  int len, ei_x_buff *result) {                                \
    ctl_t c;                                                                   \
    PHC__UNUSED(caller);                                                       \
    PHC__UNUSED(len);                                                          \
    if (one) return ctl_one(n, args, result, fn);                              \
    int rc = ctl_args(n, args, &c, result);                                    \
    return rc ? rc : fn(&c);                                                   \
  }

CTL_NATIVE(n_start_children, ctl_start, 0)
CTL_NATIVE(n_start_child, ctl_start, 1)
CTL_NATIVE(n_stop_children, ctl_stop, 0)
CTL_NATIVE(n_stop_child, ctl_stop, 1)

int phc__hub_ctl_natives_register(phc_node_t *n) {
  static const struct {
    const char *f;
    int arity;
    phc_native_fn fn;
  } t[] = {{"start_children", 2, n_start_children},
           {"start_children", 3, n_start_children},
           {"start_child", 2, n_start_child},
           {"start_child", 3, n_start_child},
           {"stop_children", 2, n_stop_children},
           {"stop_children", 3, n_stop_children},
           {"stop_child", 2, n_stop_child},
           {"stop_child", 3, n_stop_child}};
  for (size_t i = 0; i < PHC__ARRAY_LEN(t); i++) {
    int rc = phc_native_register(n, "Elixir.ProcessHub", t[i].f, t[i].arity,
                                 t[i].fn);
    if (rc && rc != PHC_EEXIST) return rc;
  }
  return 0;
}
