/* api_future.c - the collector behind an awaitable start or stop called on
 * phc over erpc (ProcessHub.start_children/3, stop_children/3 with
 * awaitable: true or async_wait: true, or a start with on_failure:
 * rollback): what Distributor.spawn_collector and spawn_failure_handler
 * run on a BEAM member.
 *
 * The collector is a process; the start's casts name it in reply_to. It
 * gathers {collect_start_results, [{Cid, Result}], Node} from the nodes the
 * children were cast to (Mailbox.collect_start_results: {ok, Pid} is a
 * start, {error, E} an error {Cid, Node, E}; a node silent for `timeout` ms
 * is an error {undefined, Node, node_receive_timeout}; a round repeats
 * while required ids are missing), then answers
 * {process_hub, collect_results, From, Ref} with
 * {process_hub, async_results, Ref, #StartResult{}} and exits; it gives up
 * after await_timeout (60 s) as ProcessHub's does. The caller gets
 * {ok, #'Elixir.ProcessHub.Future'{future_resolver, ref, timeout}}.
 *
 * A stop collects {collect_stop_results, [{Cid, ok | {error, E}}], Node}
 * from every hub node into a #StopResult{} (nodes holding none of the
 * children stay silent: node_receive_timeout, as on a BEAM member). With
 * async_wait the answer is StartResult/StopResult.format/1's (return_first:
 * the first item). on_failure: rollback: a failed start casts the stop of
 * what started (awaitable, as handle_failures does), waits for its results
 * from the nodes it went to, and answers with rollback => true. */
#include <stdio.h>
#include <stdlib.h>

#include "hub/api_future.h"
#include "proc/proc.h"
#include "term/enc.h"

typedef struct fut_ok_s { /* one child's starts (or stops), newest last */
  char *cid;
  int cid_len, n;
  char (*node)[PHC__ATOM_MAX];
  erlang_pid *pid;
} fut_ok_t;

typedef struct fut_s {
  char nodes[PHC__HUB_MAX_NODES][PHC__ATOM_MAX];
  int nnodes, answered[PHC__HUB_MAX_NODES], round, done, failed;
  char **cids;
  int *cid_len, ncids;
  fut_ok_t *ok;
  int nok;
  ei_x_buff *errs; /* {Cid, Node, Err}, oldest first */
  int nerrs;
  long timeout;
  erlang_ref ref, tref;
  erlang_pid waiter;
  int has_waiter;
  phc__hub_future_opts_t o;
  int phase; /* 1: a rollback's stops are under way */
  char hub[PHC__ATOM_MAX];
} fut_t;

static void fut_free(fut_t *f) {
  if (!f) return;
  for (int i = 0; i < f->ncids; i++)
    free(f->cids[i]);
  for (int i = 0; i < f->nok; i++) {
    free(f->ok[i].cid);
    free(f->ok[i].node);
    free(f->ok[i].pid);
  }
  for (int i = 0; i < f->nerrs; i++)
    ei_x_free(&f->errs[i]);
  free(f->cids);
  free(f->cid_len);
  free(f->ok);
  free(f->errs);
  free(f);
}

static ei_x_buff *fut_err(fut_t *f) {
  f->errs = phc__xrealloc(f->errs, (size_t)(f->nerrs + 1) * sizeof *f->errs);
  ei_x_buff *e = &f->errs[f->nerrs++];
  phc__x_new(e);
  phc__x_tuple_header(e, 3);
  return e;
}

static void fut_add_ok(fut_t *f, const char *cid, int len, const char *node,
                       const erlang_pid *pid) {
  fut_ok_t *o = NULL;
  for (int i = 0; i < f->nok && !o; i++)
    if (f->ok[i].cid_len == len && !memcmp(f->ok[i].cid, cid, (size_t)len))
      o = &f->ok[i];
  if (!o) {
    f->ok = phc__xrealloc(f->ok, (size_t)(f->nok + 1) * sizeof *f->ok);
    o = &f->ok[f->nok++];
    memset(o, 0, sizeof *o);
    o->cid = phc__term_dup(cid, len);
    o->cid_len = len;
  }
  o->node = phc__xrealloc(o->node, (size_t)(o->n + 1) * sizeof *o->node);
  o->pid = phc__xrealloc(o->pid, (size_t)(o->n + 1) * sizeof *o->pid);
  snprintf(o->node[o->n], PHC__ATOM_MAX, "%s", node);
  if (pid) o->pid[o->n] = *pid;
  o->n++;
}

static int fut_seen(const fut_t *f, const char *cid, int len) {
  for (int i = 0; i < f->nok; i++)
    if (f->ok[i].cid_len == len && !memcmp(f->ok[i].cid, cid, (size_t)len))
      return 1;
  for (int i = 0; i < f->nerrs; i++) /* {Cid, ...}: Cid right after 1 byte */
    if (f->errs[i].index > len + 1 &&
        !memcmp(f->errs[i].buff + 2, cid, (size_t)len))
      return 1;
  return 0;
}

/* One {Cid, [{Node, Pid}]} (a stop: {Cid, [Node]}), newest node first. */
static void fut_enc_ok(const fut_t *f, const fut_ok_t *o, ei_x_buff *x) {
  phc__x_tuple_header(x, 2);
  phc__x_append_buf(x, o->cid, o->cid_len);
  phc__x_list_header(x, o->n);
  for (int k = o->n - 1; k >= 0; k--) {
    if (!f->o.stop) phc__x_tuple_header(x, 2);
    phc__x_atom(x, o->node[k]);
    if (!f->o.stop) phc__x_pid(x, &o->pid[k]);
  }
  phc__x_empty_list(x);
}

/* started / stopped and errors, newest first as ProcessHub builds them. */
static void fut_enc_lists(const fut_t *f, ei_x_buff *x, int oks) {
  int n = oks ? f->nok : f->nerrs;
  if (n) phc__x_list_header(x, n);
  for (int i = n - 1; i >= 0; i--)
    if (oks)
      fut_enc_ok(f, &f->ok[i], x);
    else
      phc__x_append_buf(x, f->errs[i].buff, f->errs[i].index);
  phc__x_empty_list(x);
}

/* %ProcessHub.StartResult{} or %ProcessHub.StopResult{}. */
static void fut_enc_struct(const fut_t *f, ei_x_buff *x) {
  phc__x_map_header(x, f->o.stop ? 4 : 5);
  phc__x_atom(x, "__struct__");
  phc__x_atom(x, f->o.stop ? "Elixir.ProcessHub.StopResult"
                           : "Elixir.ProcessHub.StartResult");
  phc__x_atom(x, "status");
  phc__x_atom(x, f->nerrs ? "error" : "ok");
  phc__x_atom(x, f->o.stop ? "stopped" : "started");
  fut_enc_lists(f, x, 1);
  phc__x_atom(x, "errors");
  fut_enc_lists(f, x, 0);
  if (f->o.stop) return;
  phc__x_atom(x, "rollback");
  phc__x_atom(x, f->phase ? "true" : "false");
}

/* What await/1 returns: the struct, or with async_wait format/1's answer
 * ({ok, L} | {error, {Errs, L}}; return_first: the first of each). The
 * failure handler (rollback) formats only a success with return_first. */
static void fut_enc_result(const fut_t *f, ei_x_buff *x) {
  int first = f->o.return_first;
  if (f->o.async_wait && f->o.rollback && first && f->nerrs) {
    phc__x_tuple_header(x, 2);
    phc__x_atom(x, "error");
  }
  if (!f->o.async_wait || (f->o.rollback && (!first || f->nerrs))) {
    fut_enc_struct(f, x);
    return;
  }
  phc__x_tuple_header(x, 2);
  phc__x_atom(x, f->nerrs ? "error" : "ok");
  if (f->nerrs) phc__x_tuple_header(x, 2);
  if (f->nerrs && first)
    phc__x_append_buf(x, f->errs[f->nerrs - 1].buff,
                      f->errs[f->nerrs - 1].index);
  else if (f->nerrs)
    fut_enc_lists(f, x, 0);
  if (first && !f->nerrs && f->nok)
    fut_enc_ok(f, &f->ok[f->nok - 1], x);
  else if (first && !f->nerrs)
    phc__x_atom(x, "nil");
  else
    fut_enc_lists(f, x, 1);
}

static void fut_reply(phc_proc_t *p, fut_t *f) {
  if (f->done && f->o.nowait) phc_proc_exit_atom(p, "normal");
  if (!f->done || !f->has_waiter || f->o.nowait) return;
  ei_x_buff m;
  phc__x_new_with_version(&m);
  phc__x_tuple_header(&m, 4);
  phc__x_atom(&m, "process_hub");
  phc__x_atom(&m, "async_results");
  phc__x_ref(&m, &f->ref);
  fut_enc_result(f, &m);
  phc_send(phc_proc_node(p), phc_self(p), &f->waiter, m.buff, m.index);
  ei_x_free(&m);
  phc_proc_exit_atom(p, "normal");
}

static void fut_arm(phc_proc_t *p, fut_t *f, long ms, const char *tag) {
  ei_x_buff t;
  phc__x_new_with_version(&t);
  phc__x_tuple_header(&t, 3);
  phc__x_atom(&t, "process_hub");
  phc__x_atom(&t, tag);
  phc__x_long(&t, f->round);
  if (!strcmp(tag, "fut_timeout")) {
    phc_cancel_timer(phc_proc_node(p), &f->tref);
    phc_send_after(phc_proc_node(p), (unsigned)ms, phc_self(p), t.buff, t.index,
                   &f->tref);
  } else {
    erlang_ref r;
    phc_send_after(phc_proc_node(p), (unsigned)ms, phc_self(p), t.buff, t.index,
                   &r);
  }
  ei_x_free(&t);
}

/* handle_failures: stop what started, each child on the nodes it started
 * on, with the collector in reply_to, as stop_children(awaitable: true)
 * casts it; the collector then waits for those nodes. 0: nothing to stop. */
static int fut_rollback(phc_proc_t *p, fut_t *f) {
  phc_hub_t *h = phc__hub_find(phc_proc_node(p), f->hub);
  char nodes[PHC__HUB_MAX_NODES][PHC__ATOM_MAX];
  int k = 0;
  for (int i = 0; h && i < f->nok; i++)
    for (int j = 0; j < f->ok[i].n; j++) {
      int seen = 0;
      for (int m = 0; m < k; m++)
        seen |= !strcmp(nodes[m], f->ok[i].node[j]);
      if (!seen && k < PHC__HUB_MAX_NODES)
        snprintf(nodes[k++], PHC__ATOM_MAX, "%s", f->ok[i].node[j]);
    }
  for (int m = 0; m < k; m++) {
    ei_x_buff x;
    phc__x_new(&x);
    phc__x_tuple_header(&x, 3);
    phc__x_atom(&x, "stop_children");
    int n = 0;
    for (int i = 0; i < f->nok; i++)
      for (int j = 0; j < f->ok[i].n; j++)
        n += !strcmp(f->ok[i].node[j], nodes[m]);
    phc__x_list_header(&x, n);
    for (int i = 0; i < f->nok; i++)
      for (int j = 0; j < f->ok[i].n; j++)
        if (!strcmp(f->ok[i].node[j], nodes[m])) {
          phc__x_map_header(&x, 2);
          phc__x_atom(&x, "child_id");
          phc__x_append_buf(&x, f->ok[i].cid, f->ok[i].cid_len);
          phc__x_atom(&x, "nodes");
          phc__x_list_header(&x, f->ok[i].n);
          for (int o = 0; o < f->ok[i].n; o++)
            phc__x_atom(&x, f->ok[i].node[o]);
          phc__x_empty_list(&x);
        }
    phc__x_empty_list(&x);
    phc__x_list_header(&x, 2);
    phc__x_tuple_header(&x, 2);
    phc__x_atom(&x, "reply_to");
    phc__x_list_header(&x, 1);
    phc__x_pid(&x, phc_self(p));
    phc__x_empty_list(&x);
    phc__x_tuple_header(&x, 2);
    phc__x_atom(&x, "awaitable");
    phc__x_atom(&x, "true");
    phc__x_empty_list(&x);
    phc__hub_cast(h, nodes[m], x.buff, x.index);
    ei_x_free(&x);
  }
  f->nnodes = k;
  memcpy(f->nodes, nodes, sizeof nodes);
  memset(f->answered, 0, sizeof f->answered);
  f->phase = 1;
  f->round++;
  if (k) fut_arm(p, f, 10000, "fut_timeout");
  return k;
}

/* A rollback's stop results, or its timeout (a: the answering node, NULL
 * for the timeout): done once every node it went to answered. */
static void fut_on_rb(phc_proc_t *p, fut_t *f, const char *a) {
  int left = 0;
  for (int j = 0; j < f->nnodes; j++) {
    if (a && !strcmp(f->nodes[j], a)) f->answered[j] = 1;
    left += !f->answered[j];
  }
  if (a && left) return;
  f->done = 1;
  phc_cancel_timer(phc_proc_node(p), &f->tref);
  fut_reply(p, f);
}

/* The round ended: done, or another round for the missing required ids. */
static void fut_round_end(phc_proc_t *p, fut_t *f) {
  int missing = 0;
  for (int i = 0; i < f->ncids; i++)
    missing |= !fut_seen(f, f->cids[i], f->cid_len[i]);
  if (missing && !f->failed) {
    f->round++;
    memset(f->answered, 0, sizeof f->answered);
    fut_arm(p, f, f->timeout, "fut_timeout");
    return;
  }
  if (f->o.rollback && !f->phase && f->nerrs && fut_rollback(p, f)) return;
  if (f->o.rollback && f->nerrs) f->phase = 1;
  f->done = 1;
  phc_cancel_timer(phc_proc_node(p), &f->tref);
  fut_reply(p, f);
}

/* {collect_start_results, [{Cid, Result}], Node} (a stop's results:
 * collect_stop_results, ok | {error, E}) */
static void fut_on_results(phc_proc_t *p, fut_t *f, const char *buf, int idx) {
  int n, arity, li = idx;
  if (ei_skip_term(buf, &li) < 0) return;
  char node[PHC__ATOM_MAX];
  if (phc__term_atom(buf, &li, node, sizeof node) < 0 ||
      ei_decode_list_header(buf, &idx, &n) < 0)
    return;
  for (int i = 0; i < n; i++) {
    if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 2) return;
    int cid = idx, r, ra;
    if (ei_skip_term(buf, &idx) < 0) return;
    int clen = idx - cid;
    r = idx;
    if (ei_skip_term(buf, &idx) < 0) return;
    erlang_pid pid;
    if (f->o.stop && phc__term_atom_eq(buf, r, "ok")) {
      fut_add_ok(f, buf + cid, clen, node, NULL);
      continue;
    }
    if (ei_decode_tuple_header(buf, &r, &ra) < 0 || ra != 2) continue;
    if (!f->o.stop && phc__term_atom_eq(buf, r, "ok") &&
        ei_skip_term(buf, &r) == 0 && ei_decode_pid(buf, &r, &pid) == 0) {
      fut_add_ok(f, buf + cid, clen, node, &pid);
    } else if (phc__term_atom_eq(buf, r, "error") &&
               ei_skip_term(buf, &r) == 0) {
      ei_x_buff *e = fut_err(f);
      phc__x_append_buf(e, buf + cid, clen);
      phc__x_atom(e, node);
      phc__x_append_buf(e, buf + r, idx - r - 0);
    }
  }
  int left = 0;
  for (int j = 0; j < f->nnodes; j++) {
    if (!strcmp(f->nodes[j], node)) f->answered[j] = 1;
    left += !f->answered[j];
  }
  if (!left)
    fut_round_end(p, f);
  else
    fut_arm(p, f, f->timeout, "fut_timeout");
}

/* Nobody answered for `timeout`: every silent node is an error. */
static void fut_on_timeout(phc_proc_t *p, fut_t *f) {
  for (int j = 0; j < f->nnodes; j++)
    if (!f->answered[j]) {
      ei_x_buff *e = fut_err(f);
      phc__x_atom(e, "undefined");
      phc__x_atom(e, f->nodes[j]);
      phc__x_atom(e, "node_receive_timeout");
    }
  f->failed = 1;
  fut_round_end(p, f);
}

static void fut_handle_msg(phc_proc_t *p, const char *buf, int len) {
  fut_t *f = phc_proc_data(p);
  int idx = 0, ver, arity;
  char tag[32];
  long round;
  PHC__UNUSED(len);
  if (ei_decode_version(buf, &idx, &ver) < 0 ||
      ei_decode_tuple_header(buf, &idx, &arity) < 0 ||
      phc__term_atom(buf, &idx, tag, sizeof tag) < 0)
    return;
  if (arity == 3 && !strcmp(tag, f->o.stop ? "collect_stop_results"
                                           : "collect_start_results")) {
    if (!f->done && !f->phase) fut_on_results(p, f, buf, idx);
    return;
  }
  char node[PHC__ATOM_MAX];
  if (arity == 3 && !strcmp(tag, "collect_stop_results") && f->phase &&
      !f->done && ei_skip_term(buf, &idx) == 0 &&
      phc__term_atom(buf, &idx, node, sizeof node) == 0) {
    fut_on_rb(p, f, node);
    return;
  }
  if (strcmp(tag, "process_hub") != 0 ||
      phc__term_atom(buf, &idx, tag, sizeof tag) < 0)
    return;
  if (arity == 4 && !strcmp(tag, "collect_results") &&
      ei_decode_pid(buf, &idx, &f->waiter) == 0) {
    f->has_waiter = 1;
    fut_reply(p, f);
  } else if (arity == 3 && !strcmp(tag, "fut_timeout") &&
             ei_decode_long(buf, &idx, &round) == 0 && round == f->round &&
             !f->done) {
    if (f->phase)
      fut_on_rb(p, f, NULL);
    else
      fut_on_timeout(p, f);
  } else if (arity == 3 && !strcmp(tag, "auto_shutdown")) {
    phc_proc_exit_atom(p, "normal");
  }
}

static int fut_init(phc_proc_t *p, void *arg) {
  phc_proc_set_data(p, arg);
  return 0;
}

static void fut_terminate(phc_proc_t *p, const char *reason, int len) {
  PHC__UNUSED(reason);
  PHC__UNUSED(len);
  fut_free(phc_proc_data(p));
  phc_proc_set_data(p, NULL);
}

static const phc_proc_ops_t fut_ops = {.name = "process_hub_future",
                                       .init = fut_init,
                                       .handle_msg = fut_handle_msg,
                                       .terminate = fut_terminate};

int phc__hub_future_start_opts(phc_hub_t *h, const char *const *nodes,
                               int nnodes, const char *ids,
                               const phc__hub_future_opts_t *o, erlang_pid *out,
                               ei_x_buff *future) {
  fut_t *f = phc__xcalloc(1, sizeof *f);
  int idx = 0, n;
  for (int i = 0; i < nnodes && i < PHC__HUB_MAX_NODES; i++)
    snprintf(f->nodes[f->nnodes++], PHC__ATOM_MAX, "%s", nodes[i]);
  if (!ids || ei_decode_list_header(ids, &idx, &n) < 0) n = 0;
  f->cids = phc__xcalloc((size_t)(n ? n : 1), sizeof *f->cids);
  f->cid_len = phc__xcalloc((size_t)(n ? n : 1), sizeof *f->cid_len);
  for (int i = 0; i < n; i++) {
    int s = idx;
    if (ei_skip_term(ids, &idx) < 0) break;
    f->cids[i] = phc__term_dup(ids + s, idx - s);
    f->cid_len[i] = idx - s;
    f->ncids++;
  }
  f->o = *o;
  f->timeout = o->timeout;
  snprintf(f->hub, sizeof f->hub, "%s", h->id);
  phc_make_ref(h->n, &f->ref);
  erlang_ref ref = f->ref;
  int rc = phc_spawn(h->n, &fut_ops, f, NULL, 0, out);
  if (rc < 0) {
    fut_free(f);
    return rc;
  }
  phc_proc_t *p = phc_proc_lookup(h->n, out);
  fut_arm(p, f, o->timeout, "fut_timeout");
  fut_arm(p, f, o->await_timeout, "auto_shutdown");
  phc__x_map_header(future, 4);
  phc__x_atom(future, "__struct__");
  phc__x_atom(future, "Elixir.ProcessHub.Future");
  phc__x_atom(future, "future_resolver");
  phc__x_pid(future, out);
  phc__x_atom(future, "ref");
  phc__x_ref(future, &ref);
  phc__x_atom(future, "timeout");
  phc__x_long(future, o->timeout);
  return 0;
}

int phc__hub_future_start(phc_hub_t *h, const char *const *nodes, int nnodes,
                          const char *ids, long timeout, long await_timeout,
                          erlang_pid *out, ei_x_buff *future) {
  phc__hub_future_opts_t o = {.timeout = timeout,
                              .await_timeout = await_timeout};
  return phc__hub_future_start_opts(h, nodes, nnodes, ids, &o, out, future);
}
