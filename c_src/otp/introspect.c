/* introspect.c - the node-wide introspection BIFs tools send to every node
 * (observer_cli, recon, Node helpers): erlang:memory/0,1,
 * system_info/1, statistics/1, processes/0, registered/0, whereis/1,
 * node/1 and global:whereis_name/1, with OTP's shapes and errors (badarg
 * for an unknown key). Values that have no meaning in a C node get the
 * closest true one; README.md ("Introspection") lists each. */
#include "otp/global.h"
#include "otp/otp_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <uv.h>

#include "proc/proc.h"
#include "term/enc.h"
#include "term/term.h"

/* The OTP release whose distribution protocol and term formats phc
 * follows, and what erlang:system_info(version) says instead of an ERTS
 * version. */
#define INTRO_OTP_RELEASE "25"
#define INTRO_VERSION "phc"

static int badarg(ei_x_buff *result) {
  phc__x_atom(result, "badarg");
  return PHC_EINVAL;
}

/* A string as Erlang has it: a list of character codes. */
static void put_string(ei_x_buff *x, const char *s) {
  size_t k = strlen(s);
  if (k > 0) phc__x_list_header(x, (long)k);
  for (size_t i = 0; i < k; i++)
    phc__x_long(x, (unsigned char)s[i]);
  phc__x_empty_list(x);
}

/* The only argument of a one-argument native: its index in args. */
static int one_arg(const char *args, int len, int *at) {
  int idx = 1, arity;
  if (phc__term_check(args, len) < 0 ||
      ei_decode_list_header(args, &idx, &arity) < 0 || arity != 1)
    return PHC_EINVAL;
  *at = idx;
  return 0;
}

/* ---- memory ------------------------------------------------------------ */

static void sum_memory(void *ctx, const erlang_pid *pid) {
  void **c = ctx;
  phc__pinfo_t pi;
  if (phc__proc_info(c[0], pid, &pi) == 0) *(size_t *)c[1] += pi.memory;
}

/* From /proc/self/statm: resident bytes and text (code) bytes. */
static void statm(size_t *resident, size_t *text) {
  unsigned long v[7] = {0};
  FILE *f = fopen("/proc/self/statm", "r");
  *resident = *text = 0;
  if (!f) return;
  if (fscanf(f, "%lu %lu %lu %lu", &v[0], &v[1], &v[2], &v[3]) == 4) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    *resident = v[1] * page;
    *text = v[3] * page;
  }
  fclose(f);
}

static const char *const mem_keys[] = {
    "total",     "processes", "processes_used", "system", "atom",
    "atom_used", "binary",    "code",           "ets",    NULL};

static void mem_values(phc_node_t *n, size_t *v) {
  size_t procs = 0, total, code;
  void *ctx[2] = {n, &procs};
  phc__proc_each(n, sum_memory, ctx);
  statm(&total, &code);
  if (total < procs + code) total = procs + code;
  size_t vals[] = {total, procs, procs, total - procs, 0, 0, 0, code, 0};
  memcpy(v, vals, sizeof vals);
}

static int mem_index(const char *buf, int idx) {
  for (int i = 0; mem_keys[i]; i++)
    if (phc__term_atom_eq(buf, idx, mem_keys[i])) return i;
  return -1;
}

static void mem_pair(ei_x_buff *x, int i, const size_t *v) {
  phc__x_tuple_header(x, 2);
  phc__x_atom(x, mem_keys[i]);
  phc__x_ulonglong(x, v[i]);
}

static int nat_memory0(phc_node_t *n, const phc_pid_t *caller, const char *args,
                       int len, ei_x_buff *result) {
  size_t v[9];
  PHC__UNUSED(caller);
  PHC__UNUSED(args);
  PHC__UNUSED(len);
  mem_values(n, v);
  phc__x_list_header(result, 9);
  for (int i = 0; i < 9; i++)
    mem_pair(result, i, v);
  phc__x_empty_list(result);
  return 0;
}

/* memory(Type) -> integer; memory([Type]) -> [{Type, integer}]. */
static int nat_memory1(phc_node_t *n, const phc_pid_t *caller, const char *args,
                       int len, ei_x_buff *result) {
  int at, arity, type, size;
  size_t v[9];
  PHC__UNUSED(caller);
  if (one_arg(args, len, &at) < 0) return badarg(result);
  mem_values(n, v);
  int i = mem_index(args, at);
  if (i >= 0) return phc__x_ulonglong(result, v[i]), 0;
  if (ei_get_type(args, &at, &type, &size) < 0 || type != ERL_LIST_EXT ||
      ei_decode_list_header(args, &at, &arity) < 0)
    return badarg(result);
  int idx[64];
  if (arity > 64) return badarg(result);
  for (int k = 0; k < arity; k++) {
    if ((idx[k] = mem_index(args, at)) < 0) return badarg(result);
    ei_skip_term(args, &at);
  }
  if (arity > 0) phc__x_list_header(result, arity);
  for (int k = 0; k < arity; k++)
    mem_pair(result, idx[k], v);
  phc__x_empty_list(result);
  return 0;
}

/* ---- system_info ----------------------------------------------------------
 */

static long cpus(void) {
  long k = sysconf(_SC_NPROCESSORS_ONLN);
  return k > 0 ? k : 1;
}

static long uv_pool_size(void) {
  const char *s = getenv("UV_THREADPOOL_SIZE");
  long k = s ? atol(s) : 0;
  return k > 0 ? (k > 1024 ? 1024 : k) : 4;
}

static void put_arch(ei_x_buff *x) {
  struct utsname u;
  char s[300];
  if (uname(&u) == 0)
    snprintf(s, sizeof s, "%s-pc-%s-gnu", u.machine, "linux");
  else
    snprintf(s, sizeof s, "unknown");
  put_string(x, s);
}

static void put_system_version(ei_x_buff *x) {
  char s[256];
  snprintf(s, sizeof s,
           "phc C node (OTP %s distribution) on libuv %s [%zu-bit] "
           "[smp:1:1] [ds:0:0:0] [async-threads:%ld]\n",
           INTRO_OTP_RELEASE, uv_version_string(), sizeof(void *) * 8,
           uv_pool_size());
  put_string(x, s);
}

/* Integer-valued keys: 0 with *v set, or -1. */
static int si_long(phc_node_t *n, const char *k, long *v) {
  static const struct {
    const char *key;
    long value;
  } fixed[] = {{"schedulers", 1},
               {"schedulers_online", 1},
               {"port_count", 0},
               {"port_limit", 65536},
               {"atom_count", 0},
               {"atom_limit", 1048576},
               {"ets_count", 0},
               {"ets_limit", 8192},
               {"dirty_cpu_schedulers", 0},
               {"dirty_cpu_schedulers_online", 0},
               {"dirty_io_schedulers", 0},
               {"dist_buf_busy_limit", 1048576},
               {"wordsize", (long)sizeof(void *)}};
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
    if (!strcmp(k, fixed[i].key)) return *v = fixed[i].value, 0;
  if (!strcmp(k, "process_count")) return *v = (long)phc__rt_count(n), 0;
  if (!strcmp(k, "process_limit")) return *v = (long)phc__rt_limit(n), 0;
  if (!strcmp(k, "creation")) return *v = (long)n->creation, 0;
  if (!strcmp(k, "thread_pool_size")) return *v = uv_pool_size(), 0;
  if (!strcmp(k, "logical_processors") ||
      !strcmp(k, "logical_processors_available") ||
      !strcmp(k, "logical_processors_online"))
    return *v = cpus(), 0;
  return -1;
}

/* Atom- and string-valued keys: 0 when encoded, or -1. */
static int si_other(const char *k, ei_x_buff *r) {
  static const char *const atoms[][2] = {
      {"smp_support", "true"},          {"threads", "true"},
      {"kernel_poll", "true"},          {"build_type", "opt"},
      {"multi_scheduling", "disabled"}, {"heap_type", "private"}};
  for (size_t i = 0; i < sizeof atoms / sizeof atoms[0]; i++)
    if (!strcmp(k, atoms[i][0])) return phc__x_atom(r, atoms[i][1]), 0;
  if (!strcmp(k, "otp_release")) return put_string(r, INTRO_OTP_RELEASE), 0;
  if (!strcmp(k, "version")) return put_string(r, INTRO_VERSION), 0;
  if (!strcmp(k, "machine")) return put_string(r, "phc"), 0;
  if (!strcmp(k, "system_architecture")) return put_arch(r), 0;
  if (!strcmp(k, "system_version")) return put_system_version(r), 0;
  return -1;
}

static int nat_system_info(phc_node_t *n, const phc_pid_t *caller,
                           const char *args, int len, ei_x_buff *result) {
  int at, arity;
  char k[MAXATOMLEN_UTF8], sub[MAXATOMLEN_UTF8];
  long v;
  PHC__UNUSED(caller);
  if (one_arg(args, len, &at) < 0) return badarg(result);
  int t = at;
  if (ei_decode_tuple_header(args, &t, &arity) == 0 && arity == 2 &&
      phc__term_atom(args, &t, k, sizeof k) == 0 && !strcmp(k, "wordsize") &&
      phc__term_atom(args, &t, sub, sizeof sub) == 0 &&
      (!strcmp(sub, "internal") || !strcmp(sub, "external")))
    return phc__x_long(result, (long)sizeof(void *)), 0;
  if (phc__term_atom(args, &at, k, sizeof k) < 0) return badarg(result);
  if (si_long(n, k, &v) == 0) return phc__x_long(result, v), 0;
  if (si_other(k, result) == 0) return 0;
  return badarg(result);
}

/* ---- statistics ------------------------------------------------------ */

static uint64_t cpu_ms(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
  return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
         (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

/* {Total, SinceLastCall} and move *last to total. */
static void since_last(ei_x_buff *x, uint64_t total, uint64_t *last) {
  phc__x_tuple_header(x, 2);
  phc__x_ulonglong(x, total);
  phc__x_ulonglong(x, total - (*last <= total ? *last : total));
  *last = total;
}

static void count_runnable(void *ctx, const erlang_pid *pid) {
  void **c = ctx;
  phc__pinfo_t pi;
  if (phc__proc_info(c[0], pid, &pi) == 0 && (pi.runnable || pi.running))
    (*(long *)c[1])++;
}

static long run_queue(phc_node_t *n) {
  long k = 0;
  void *ctx[2] = {n, &k};
  phc__proc_each(n, count_runnable, ctx);
  return k;
}

/* /proc/self/io rchar and wchar: bytes read and written. */
static void io_bytes(unsigned long long *in, unsigned long long *out) {
  char line[128];
  FILE *f = fopen("/proc/self/io", "r");
  *in = *out = 0;
  if (!f) return;
  while (fgets(line, sizeof line, f)) {
    sscanf(line, "rchar: %llu", in);
    sscanf(line, "wchar: %llu", out);
  }
  fclose(f);
}

static void put_io(ei_x_buff *x) {
  unsigned long long in, out;
  io_bytes(&in, &out);
  phc__x_tuple_header(x, 2);
  phc__x_tuple_header(x, 2);
  phc__x_atom(x, "input");
  phc__x_ulonglong(x, in);
  phc__x_tuple_header(x, 2);
  phc__x_atom(x, "output");
  phc__x_ulonglong(x, out);
}

static void put_ctx_switches(ei_x_buff *x) {
  struct rusage ru;
  unsigned long long k = 0;
  if (getrusage(RUSAGE_SELF, &ru) == 0)
    k = (unsigned long long)(ru.ru_nvcsw + ru.ru_nivcsw);
  phc__x_tuple_header(x, 2);
  phc__x_ulonglong(x, k);
  phc__x_long(x, 0);
}

static int stat_counter(phc_node_t *n, const char *k, ei_x_buff *r) {
  struct phc__otp_s *o = n->otp;
  if (!strcmp(k, "wall_clock"))
    since_last(r, uv_now(n->loop) - o->wall_start, &o->wall_last);
  else if (!strcmp(k, "runtime"))
    since_last(r, cpu_ms(), &o->runtime_last);
  else if (!strcmp(k, "reductions") || !strcmp(k, "exact_reductions"))
    since_last(r, o->reductions, &o->reds_last);
  else if (!strcmp(k, "garbage_collection")) {
    phc__x_tuple_header(r, 3);
    for (int i = 0; i < 3; i++)
      phc__x_long(r, 0);
  } else
    return -1;
  return 0;
}

static int nat_statistics(phc_node_t *n, const phc_pid_t *caller,
                          const char *args, int len, ei_x_buff *result) {
  int at;
  char k[MAXATOMLEN_UTF8];
  PHC__UNUSED(caller);
  if (one_arg(args, len, &at) < 0 || phc__term_atom(args, &at, k, sizeof k) < 0)
    return badarg(result);
  if (stat_counter(n, k, result) == 0) return 0;
  if (!strcmp(k, "run_queue") || !strcmp(k, "total_run_queue_lengths") ||
      !strcmp(k, "total_active_tasks"))
    return phc__x_long(result, run_queue(n)), 0;
  if (!strcmp(k, "run_queue_lengths") || !strcmp(k, "active_tasks")) {
    phc__x_list_header(result, 1);
    phc__x_long(result, run_queue(n));
    return phc__x_empty_list(result), 0;
  }
  if (!strcmp(k, "context_switches")) return put_ctx_switches(result), 0;
  if (!strcmp(k, "io")) return put_io(result), 0;
  if (!strcmp(k, "scheduler_wall_time"))
    return phc__x_atom(result, "undefined"), 0;
  return badarg(result);
}

/* ---- processes, registered, whereis, node ------------------------------- */

typedef struct {
  erlang_pid *pids;
  int k, cap;
} intro_pids_t;

static void collect_pid(void *ctx, const erlang_pid *pid) {
  intro_pids_t *c = ctx;
  if (c->k == c->cap) {
    c->cap = c->cap ? 2 * c->cap : 64;
    c->pids = phc__xrealloc(c->pids, (size_t)c->cap * sizeof *c->pids);
  }
  c->pids[c->k++] = *pid;
}

static int by_num(const void *a, const void *b) {
  const erlang_pid *x = a, *y = b;
  return x->num < y->num ? -1 : x->num > y->num;
}

static int nat_processes(phc_node_t *n, const phc_pid_t *caller,
                         const char *args, int len, ei_x_buff *result) {
  intro_pids_t c = {0};
  PHC__UNUSED(caller);
  PHC__UNUSED(args);
  PHC__UNUSED(len);
  phc__proc_each(n, collect_pid, &c);
  if (c.k > 0) qsort(c.pids, (size_t)c.k, sizeof *c.pids, by_num);
  if (c.k > 0) phc__x_list_header(result, c.k);
  for (int i = 0; i < c.k; i++)
    phc__x_pid(result, &c.pids[i]);
  phc__x_empty_list(result);
  free(c.pids);
  return 0;
}

static void put_name(void *ctx, const char *name) {
  ei_x_buff *x = ctx;
  phc__x_list_header(x, 1);
  phc__x_atom(x, name);
}

static int nat_registered(phc_node_t *n, const phc_pid_t *caller,
                          const char *args, int len, ei_x_buff *result) {
  PHC__UNUSED(caller);
  PHC__UNUSED(args);
  PHC__UNUSED(len);
  phc__names_each(n, put_name, result); /* [A | [B | ... []]] */
  phc__x_empty_list(result);
  return 0;
}

static int nat_whereis(phc_node_t *n, const phc_pid_t *caller, const char *args,
                       int len, ei_x_buff *result) {
  int at;
  char name[MAXATOMLEN_UTF8];
  phc_pid_t pid;
  PHC__UNUSED(caller);
  if (one_arg(args, len, &at) < 0 ||
      phc__term_atom(args, &at, name, sizeof name) < 0)
    return badarg(result);
  if (phc_whereis(n, name, &pid) == 0) return phc__x_pid(result, &pid), 0;
  return phc__x_atom(result, "undefined"), 0;
}

/* erlang:node(Pid | Ref | Port). */
static int nat_node1(phc_node_t *n, const phc_pid_t *caller, const char *args,
                     int len, ei_x_buff *result) {
  int at, t;
  erlang_pid pid;
  erlang_ref ref;
  erlang_port port;
  PHC__UNUSED(n);
  PHC__UNUSED(caller);
  if (one_arg(args, len, &at) < 0) return badarg(result);
  if ((t = at, ei_decode_pid(args, &t, &pid)) == 0)
    return phc__x_atom(result, pid.node), 0;
  if ((t = at, ei_decode_ref(args, &t, &ref)) == 0)
    return phc__x_atom(result, ref.node), 0;
  if ((t = at, ei_decode_port(args, &t, &port)) == 0)
    return phc__x_atom(result, port.node), 0;
  return badarg(result);
}

/* global:whereis_name/1: the partition's names global keeps (global.h). */
static int nat_global_whereis(phc_node_t *n, const phc_pid_t *caller,
                              const char *args, int len, ei_x_buff *result) {
  int at;
  erlang_pid pid;
  PHC__UNUSED(caller);
  if (one_arg(args, len, &at) < 0) return badarg(result);
  if (phc__global_node_whereis(n, args + at, &pid) == 0)
    return phc__x_pid(result, &pid), 0;
  return phc__x_atom(result, "undefined"), 0;
}

int phc__introspect_init(phc_node_t *n) {
  static const struct {
    const char *m, *f;
    int arity;
    phc_native_fn fn;
  } t[] = {{"erlang", "memory", 0, nat_memory0},
           {"erlang", "memory", 1, nat_memory1},
           {"erlang", "system_info", 1, nat_system_info},
           {"erlang", "processes", 0, nat_processes},
           {"erlang", "registered", 0, nat_registered},
           {"erlang", "whereis", 1, nat_whereis},
           {"erlang", "node", 1, nat_node1},
           {"erlang", "statistics", 1, nat_statistics},
           {"global", "whereis_name", 1, nat_global_whereis}};
  int rc = 0;
  n->otp->wall_start = uv_now(n->loop);
  for (size_t i = 0; rc == 0 && i < sizeof t / sizeof t[0]; i++)
    rc = phc_native_register(n, t[i].m, t[i].f, t[i].arity, t[i].fn);
  return rc ? rc : phc__introspect_proc_init(n);
}
