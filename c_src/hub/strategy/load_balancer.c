/* load_balancer.c - ProcessHub.Strategy.Distribution.CentralizedLoadBalancer:
 * an elected leader (the :elector library, highest uptime) keeps a
 * scoreboard of every member's load and places each new child on a node
 * picked by spare capacity; members push their load to it every
 * push_interval ms.
 *
 * phc is a member that is never the leader (it runs no elector, so the
 * BEAM members never count it as a candidate). It follows the leader's
 * decisions: belongs_to names no node, so StartHandle starts here every
 * child a start cast sends here and forwards nothing, and a join migrates
 * nothing (the strategy's nodeup_redistribution is false). When a member
 * goes down, phc asks the leader where its children go and starts those
 * the answer places here (below, "a member went down").
 *
 * What it pushes, every push_interval, as {calculate_score, phc, Stats}
 * to the leader's load calculator, with ProcessHub's keys, meaning for a C
 * node running one event loop on one thread:
 *   scheduler_utilization  CPU time of the process over wall time since
 *                          the last push (0.0..1.0: the loop is the one
 *                          scheduler)
 *   run_queue_total        phc processes waiting to run now
 *   process_count          live phc processes
 *   memory_usage           resident set size in bytes (/proc/self/statm)
 *   timestamp              system time in ms
 * Which leader: the one of phc's own elector view (elector.c), as a BEAM
 * member pushes to the leader its elector_state names; views can differ
 * between members while the commission's abcasts are in flight. On init
 * phc asks a member to run Elector.elect(), as init/2 does on a BEAM
 * member, so its view is set even when it missed the elections its
 * nodeup started. phc cannot send the closure a BEAM member spawns on the
 * leader, so it asks the leader's rex to evaluate the same three calls
 * (erl_eval:exprs by rpc:cast): get_hub(HubId), the distribution strategy
 * from its misc storage, gen_server:cast(calculator_pid, ...).
 *
 * Options: the struct's fields (max_history_size, weight_decay_factor,
 * push_interval, and the leader's scoreboard, calculator_pid and
 * nodeup_redistribution, which are read past). */
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "hub/child_data.h"
#include "hub/hub.h"
#include "hub/registry.h"
#include "proc/proc.h"
#include "term/enc.h"
#include "term/parse.h"

#define MOD "load_balancer"
#define LB_MODULE                                                              \
  "Elixir.ProcessHub.Strategy.Distribution.CentralizedLoadBalancer"

typedef struct lb_state_s {
  phc_hub_t *h;
  long long push_interval;
  uint64_t timer;
  uint64_t last_wall_us, last_cpu_us;
  long tags; /* the last nodedown placement question's tag */
} lb_state_t;

static int lb_option(void *arg, const char *key, const char *buf, int idx) {
  lb_state_t *s = arg;
  long long v;
  double d;
  int i = idx;
  if (!strcmp(key, "push_interval") || !strcmp(key, "max_history_size")) {
    if (ei_decode_longlong(buf, &i, &v) < 0 || v <= 0 || v > 86400000) goto bad;
    if (key[0] == 'p') s->push_interval = v;
  } else if (!strcmp(key, "weight_decay_factor")) {
    int j = idx;
    if (ei_decode_double(buf, &i, &d) < 0 &&
        ei_decode_longlong(buf, &j, &v) < 0)
      goto bad;
  } else if (strcmp(key, "scoreboard") && strcmp(key, "calculator_pid") &&
             strcmp(key, "nodeup_redistribution")) {
    PHC_LOG_E(MOD, "unknown CentralizedLoadBalancer option: %s", key);
    return PHC_EINVAL;
  }
  return 0;
bad:
  PHC_LOG_E(MOD, "bad value for CentralizedLoadBalancer option %s", key);
  return PHC_EINVAL;
}

static int lb_parse(lb_state_t *s, const char *buf, int idx) {
  s->push_interval = 10000;
  return buf ? phc__strat_opts_each(buf, idx, lb_option, s) : 0;
}

static int lb_check(const char *buf, int idx) {
  lb_state_t s;
  return lb_parse(&s, buf, idx);
}

/* ---- the metrics -----------------------------------------------------------
 */

static uint64_t lb_clock_us(clockid_t c) {
  struct timespec t;
  clock_gettime(c, &t);
  return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

static uint64_t lb_cpu_us(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
  return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
         (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static long long lb_rss(void) {
  long pages = 0, rss = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (!f) return 0;
  if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
  fclose(f);
  return (long long)rss * sysconf(_SC_PAGESIZE);
}

static void lb_count_runnable(void *ctx, const erlang_pid *pid) {
  void **c = ctx;
  phc__pinfo_t pi;
  if (phc__proc_info(c[0], pid, &pi) == 0 && (pi.runnable || pi.running))
    (*(long *)c[1])++;
}

/* Stats: #{scheduler_utilization, run_queue_total, process_count,
 * memory_usage, timestamp}. */
static void lb_enc_stats(lb_state_t *s, ei_x_buff *x) {
  phc_node_t *n = s->h->n;
  uint64_t wall = lb_clock_us(CLOCK_MONOTONIC), cpu = lb_cpu_us();
  double util = 0.0;
  if (s->last_wall_us && wall > s->last_wall_us)
    util = (double)(cpu - s->last_cpu_us) / (double)(wall - s->last_wall_us);
  util = util < 0 ? 0 : util > 1 ? 1 : util;
  s->last_wall_us = wall;
  s->last_cpu_us = cpu;
  long runq = 0;
  void *ctx[2] = {n, &runq};
  phc__proc_each(n, lb_count_runnable, ctx);
  phc__x_map_header(x, 5);
  phc__x_atom(x, "scheduler_utilization");
  phc__x_double(x, util);
  phc__x_atom(x, "run_queue_total");
  phc__x_long(x, runq);
  phc__x_atom(x, "process_count");
  phc__x_long(x, (long)phc__rt_count(n));
  phc__x_atom(x, "memory_usage");
  phc__x_longlong(x, lb_rss());
  phc__x_atom(x, "timestamp");
  phc__x_longlong(x, (long long)(lb_clock_us(CLOCK_REALTIME) / 1000u));
}

/* ---- the push
 * ---------------------------------------------------------------- */

/* gen_server:cast(maps:get(calculator_pid, Storage:get(maps:get(misc,
 * maps:get(storage, Coordinator:get_hub(H))), distribution_strategy)),
 * {calculate_score, N, S}) in erl_eval's abstract format: what the closure
 * a BEAM member spawns on the leader does. */
#define LB_CALL(m, f) "{call,1,{remote,1,{atom,1,'" m "'},{atom,1," f "}},["
#define LB_HUB                                                                 \
  LB_CALL("Elixir.ProcessHub.Coordinator", "get_hub") "{var,1,'H'}]}"
#define LB_STORAGE LB_CALL("maps", "get") "{atom,1,storage}," LB_HUB "]}"
#define LB_MISC LB_CALL("maps", "get") "{atom,1,misc}," LB_STORAGE "]}"
#define LB_STRAT                                                               \
  LB_CALL("Elixir.ProcessHub.Service.Storage", "get")                          \
  LB_MISC ",{atom,1,distribution_strategy}]}"
#define LB_CALC LB_CALL("maps", "get") "{atom,1,calculator_pid}," LB_STRAT "]}"
#define LB_MSG "{tuple,1,[{atom,1,calculate_score},{var,1,'N'},{var,1,'S'}]}"
#define LB_CAST LB_CALL("gen_server", "cast") LB_CALC "," LB_MSG "]}"
static const char lb_exprs[] = "[" LB_CAST "].";

static int lb_keep(void *arg, const char *term, int len) {
  ei_x_buff *x = arg;
  if (len > 1) phc__x_append_buf(x, term + 1, len - 1); /* no version */
  return 0;
}

/* [Exprs, Bindings] for erl_eval:exprs/2, up to Bindings (the caller
 * writes the orddict and the list's tail). */
static int lb_eval_args(phc_hub_t *h, ei_x_buff *x, const char *text, int len) {
  char err[64];
  phc__x_new(x);
  phc__x_list_header(x, 2);
  if (phc__parse_terms(text, len, lb_keep, x, err, sizeof err) == 0) return 0;
  PHC_LOG_E(MOD, "%s: an expression does not parse: %s", h->id, err);
  ei_x_free(x);
  return PHC_EINVAL;
}

/* rpc:cast(Node, erl_eval, exprs, Args) with the args lb_eval_args began. */
static void lb_eval_cast(phc_hub_t *h, const char *node, ei_x_buff *x) {
  phc__x_empty_list(x);
  phc__hub_rex_cast(h, node, "erl_eval", "exprs", x->buff, x->index);
  ei_x_free(x);
}

/* The push goes to the leader of phc's elector view only, as a BEAM
 * member's goes to the leader of its own (none while none is known: a
 * BEAM member logs "Failed to get leader node" and pushes nothing). */
static void lb_push(lb_state_t *s) {
  phc_hub_t *h = s->h;
  char leader[PHC__ATOM_MAX];
  ei_x_buff x;
  if (phc__elector_leader(h, leader, sizeof leader) != 0) {
    PHC_LOG_D(MOD, "%s: no leader known yet; no push", h->id);
    return;
  }
  if (!phc__hub_has_node(h, leader)) return;
  if (lb_eval_args(h, &x, lb_exprs, sizeof lb_exprs - 1) != 0) return;
  phc__x_list_header(&x, 3); /* bindings, an orddict */
  phc__x_tuple_header(&x, 2);
  phc__x_atom(&x, "H");
  phc__x_atom(&x, h->id);
  phc__x_tuple_header(&x, 2);
  phc__x_atom(&x, "N");
  phc__x_atom(&x, h->n->name);
  phc__x_tuple_header(&x, 2);
  phc__x_atom(&x, "S");
  lb_enc_stats(s, &x);
  phc__x_empty_list(&x);
  lb_eval_cast(h, leader, &x);
}

/* Elector.elect() on a member, as the strategy's init/2 runs it on a BEAM
 * member: the commission elects and tells every node, phc included. */
static void lb_ask_election(phc_hub_t *h) {
  static const char nil[] = {ERL_NIL_EXT};
  for (int i = 0; i < h->nnodes; i++)
    if (strcmp(h->nodes[i], h->n->name) != 0) {
      phc__hub_rex_cast(h, h->nodes[i], "elector", "elect", nil, 1);
      return;
    }
}

/* ---- a member went down ---------------------------------------------------
 * NodeDown on a BEAM member asks the leader where the down node's children
 * belong now (belongs_to, answered by the leader's scoreboard) and starts
 * those assigned to itself. phc does the same for each nodedown: one
 * process per down node keeps the ChildData of the down node's children,
 * has the leader evaluate belongs_to and send the answer back
 * ({lb_assign, Tag, [{Cid, [Node]}]}), and starts what names phc. While
 * phc's view names no living leader (the leader itself went down and the
 * commission has not told phc the new one) it asks again every
 * LB_RETRY_MS, for LB_ASK_MS in all (a BEAM member's wait for the leader's
 * answer); then it gives up with a log line. */
#define LB_RETRY_MS 250
#define LB_ASK_MS 10000
#define LB_BASE "Elixir.ProcessHub.Strategy.Distribution.Base"
#define LB_ASSIGN                                                              \
  LB_CALL(LB_BASE, "belongs_to")                                               \
  LB_STRAT "," LB_HUB ",{var,1,'C'},"                                          \
           "{integer,1,1}]}"
static const char lb_down_exprs[] =
    "[" LB_CALL("erlang", "send") "{var,1,'P'},{tuple,1,[{atom,1,lb_assign},"
                                  "{var,1,'T'}," LB_ASSIGN "]}]}].";

typedef struct lb_down_s {
  phc_hub_t *h;
  char node[PHC__ATOM_MAX]; /* the node that went down */
  ei_x_buff cids;           /* the children's ids, concatenated */
  ei_x_buff data;           /* their ChildData for phc, concatenated */
  int *cid_off, *data_off;  /* n + 1 offsets into each */
  int n, asked_ms;
  long tag;
} lb_down_t;

static void lb_down_free(lb_down_t *d) {
  ei_x_free(&d->cids);
  ei_x_free(&d->data);
  free(d->cid_off);
  free(d->data_off);
  free(d);
}

static void lb_down_ask(phc_proc_t *p, lb_down_t *d) {
  phc_hub_t *h = d->h;
  char leader[PHC__ATOM_MAX];
  ei_x_buff x;
  if (phc__elector_leader(h, leader, sizeof leader) != 0 ||
      !phc__hub_has_node(h, leader)) {
    if ((d->asked_ms += LB_RETRY_MS) > LB_ASK_MS) {
      PHC_LOG_W(MOD, "%s: no leader to place %d children of %s", h->id, d->n,
                d->node);
      phc_proc_exit_atom(p, "normal");
      return;
    }
    if (phc__x_atom_term(&x, "lb_retry") == 0) {
      phc_send_after(h->n, LB_RETRY_MS, phc_self(p), x.buff, x.index, NULL);
      ei_x_free(&x);
    }
    return;
  }
  if (lb_eval_args(h, &x, lb_down_exprs, sizeof lb_down_exprs - 1) != 0) return;
  phc__x_list_header(&x, 4); /* bindings, an orddict */
  phc__x_tuple_header(&x, 2);
  phc__x_atom(&x, "C");
  phc__x_list_header(&x, d->n);
  phc__x_append_buf(&x, d->cids.buff, d->cids.index);
  phc__x_empty_list(&x);
  phc__x_tuple_header(&x, 2);
  phc__x_atom(&x, "H");
  phc__x_atom(&x, h->id);
  phc__x_tuple_header(&x, 2);
  phc__x_atom(&x, "P");
  phc__x_pid(&x, phc_self(p));
  phc__x_tuple_header(&x, 2);
  phc__x_atom(&x, "T");
  phc__x_long(&x, d->tag);
  phc__x_empty_list(&x);
  lb_eval_cast(h, leader, &x);
}

/* The child whose id is the term at buf[idx, end): hint first. */
static int lb_down_find(const lb_down_t *d, const char *buf, int idx, int end,
                        int hint) {
  for (int k = 0; k < d->n; k++) {
    int i = (hint + k) % d->n, len = d->cid_off[i + 1] - d->cid_off[i];
    if (len == end - idx &&
        !memcmp(d->cids.buff + d->cid_off[i], buf + idx, (size_t)len))
      return i;
  }
  return -1;
}

/* [{Cid, [Node]}]: start here those whose nodes name phc. */
static void lb_down_place(lb_down_t *d, const char *buf, int len, int idx) {
  phc_hub_t *h = d->h;
  const char *me = h->n->name;
  ei_x_buff m;
  int arity, n, k = 0, hint = 0;
  if (ei_decode_list_header(buf, &idx, &n) < 0) goto bad;
  phc__x_new(&m);
  phc__x_tuple_header(&m, 2);
  int children = m.index;
  for (int j = 0; j < n; j++) {
    int c, nn, owned = 0;
    if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 2) break;
    int c0 = idx;
    if (phc__term_skip(buf, len, &idx) < 0) break;
    c = lb_down_find(d, buf, c0, idx, hint);
    if (ei_decode_list_header(buf, &idx, &nn) < 0) break;
    for (int q = 0; q < nn; q++) {
      owned |= phc__term_atom_eq(buf, idx, me);
      if (phc__term_skip(buf, len, &idx) < 0) goto bad;
    }
    if (nn && ei_decode_list_header(buf, &idx, &nn) < 0) break;
    if (c < 0 || !owned) continue;
    hint = c + 1;
    phc__x_list_header(&m, 1);
    phc__x_append_buf(&m, d->data.buff + d->data_off[c],
                      d->data_off[c + 1] - d->data_off[c]);
    k++;
  }
  phc__x_empty_list(&m);
  int opts = m.index;
  phc__child_data_enc_migration_opts(&m);
  PHC_LOG_I(MOD, "%s: the leader places %d of %s's %d children here", h->id, k,
            d->node, d->n);
  if (k) {
    phc__hub_lock(h); /* as NodeDown's redistribution on a BEAM member */
    phc__hub_start_handle(h, m.buff, children, opts, 1);
  }
  ei_x_free(&m);
  return;
bad:
  PHC_LOG_W(MOD, "%s: dropped a placement answer it cannot read", h->id);
}

static void lb_down_msg(phc_proc_t *p, const char *buf, int len) {
  lb_down_t *d = phc_proc_data(p);
  int idx = 0, ver, arity;
  long tag;
  if (d->h->leaving) {
    phc_proc_exit_atom(p, "normal");
    return;
  }
  if (ei_decode_version(buf, &idx, &ver) < 0) return;
  if (phc__term_atom_eq(buf, idx, "lb_retry")) {
    lb_down_ask(p, d);
    return;
  }
  if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 3 ||
      !phc__term_atom_eq(buf, idx, "lb_assign") ||
      phc__term_skip(buf, len, &idx) < 0 ||
      ei_decode_long(buf, &idx, &tag) < 0 || tag != d->tag) {
    PHC_LOG_W(MOD, "%s: dropped a message the placement asker does not take",
              d->h->id);
    return;
  }
  lb_down_place(d, buf, len, idx);
  phc_proc_exit_atom(p, "normal");
}

static int lb_down_init(phc_proc_t *p, void *arg) {
  phc_proc_set_data(p, arg);
  lb_down_ask(p, arg);
  return 0;
}

static void lb_down_terminate(phc_proc_t *p, const char *reason, int len) {
  PHC__UNUSED(reason);
  PHC__UNUSED(len);
  lb_down_free(phc_proc_data(p));
  phc_proc_set_data(p, NULL);
}

static const phc_proc_ops_t lb_down_ops = {.name = "lb_nodedown",
                                           .init = lb_down_init,
                                           .handle_msg = lb_down_msg,
                                           .terminate = lb_down_terminate};

/* Collect node's children (before the hub detaches them) and ask. */
static void lb_node_leave(phc_hub_t *h, void *st, const char *node) {
  lb_state_t *s = st;
  const char *me = h->n->name;
  if (h->leaving || !strcmp(node, me)) return;
  phc__reg_row_t **rows;
  int n = phc__reg_sorted(&h->reg, &rows);
  lb_down_t *d = phc__xcalloc(1, sizeof *d);
  d->h = h;
  d->tag = ++s->tags;
  snprintf(d->node, sizeof d->node, "%s", node);
  d->cid_off = phc__xmalloc((size_t)(n + 1) * sizeof *d->cid_off);
  d->data_off = phc__xmalloc((size_t)(n + 1) * sizeof *d->data_off);
  phc__x_new(&d->cids);
  phc__x_new(&d->data);
  for (int i = 0; i < n; i++) {
    if (!phc__reg_owner(rows[i], node) || phc__reg_owner(rows[i], me)) continue;
    d->cid_off[d->n] = d->cids.index;
    d->data_off[d->n] = d->data.index;
    phc__x_append_buf(&d->cids, rows[i]->cid, rows[i]->cid_len);
    phc__child_data_enc(h, rows[i], me, &d->data);
    d->n++;
  }
  d->cid_off[d->n] = d->cids.index;
  d->data_off[d->n] = d->data.index;
  free(rows);
  phc_pid_t pid;
  if (!d->n || phc_spawn(h->n, &lb_down_ops, d, NULL, 0, &pid) < 0)
    lb_down_free(d);
}

static void lb_tick(phc_node_t *n, void *arg) {
  lb_state_t *s = arg;
  s->timer = 0;
  if (s->h->leaving) return;
  lb_push(s);
  s->timer = phc__timer_start(n, (unsigned)s->push_interval, lb_tick, s);
}

/* ---- the table -------------------------------------------------------------
 */

static int lb_init(phc_hub_t *h, void *st, const char *buf, int idx) {
  lb_state_t *s = st;
  int rc = lb_parse(s, buf, idx);
  if (rc || !h) return rc;
  s->h = h;
  s->last_wall_us = lb_clock_us(CLOCK_MONOTONIC);
  s->last_cpu_us = lb_cpu_us();
  if ((rc = phc__elector_start(h)) != 0) return rc;
  lb_ask_election(h);
  s->timer = phc__timer_start(h->n, (unsigned)s->push_interval, lb_tick, s);
  return 0;
}

static void lb_close(phc_hub_t *h, void *st) {
  lb_state_t *s = st;
  if (h && s->timer) phc__timer_cancel(h->n, s->timer);
  s->timer = 0;
}

/* The leader places children; none is placed from here. */
static int lb_belongs_to(phc_hub_t *h, void *st, const char *cid, int cid_len,
                         int rf, const char **out, int max) {
  PHC__UNUSED(h);
  PHC__UNUSED(st);
  PHC__UNUSED(cid);
  PHC__UNUSED(cid_len);
  PHC__UNUSED(rf);
  PHC__UNUSED(out);
  PHC__UNUSED(max);
  return 0;
}

const phc__strat_dist_t phc__strat_load_balancer = {
    .base = {.kind = PHC__STRAT_DISTRIBUTION,
             .module = LB_MODULE,
             .state_size = sizeof(lb_state_t),
             .init = lb_init,
             .check = lb_check,
             .close = lb_close,
             .node_leave = lb_node_leave},
    .belongs_to = lb_belongs_to};
