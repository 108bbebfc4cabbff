/* scale_plugin.c - the phc side of bench/scale_run, loaded with -load.
 *
 * phc_scale_bench:start_counters(N) starts N phc_counters under one
 * one_for_one supervisor of this node (the supervisor a hub uses), in one
 * loop on the node's thread, and returns {ok, Started, Micros, LastPid}:
 * the same work as a BEAM node's loop of DynamicSupervisor.start_child/2.
 *
 * phc_scale_bench:heap(Kind, N) starts N more of Kind and returns the heap
 * bytes (mallinfo2 uordblks) they took, per child, so the README can say
 * where an idle child's bytes go: bare (a process with no callbacks: the
 * process struct and its table slot), gen_server (an unsupervised
 * phc_counter: + gen_server state and the counter) and supervised (+ the
 * supervisor's child entry: id, module, arguments).
 *
 * It reaches into the supervisor (c_src/proc/supervisor.h), which phc-node
 * exports to plugins; it is a benchmark, not an example of the plugin API. */
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include <phc.h>

#include "proc/supervisor.h"

PHC_PLUGIN_DECLARE("scale_bench");

static phc__sup_t *sb_sup;
static unsigned long sb_next;
static const phc_proc_ops_t sb_bare_ops = {.name = "bare"};

static int sb_args(ei_x_buff *a) {
  ei_x_new_with_version(a);
  ei_x_encode_list_header(a, 1);
  ei_x_encode_long(a, 0);
  return ei_x_encode_empty_list(a);
}

/* kind: 0 bare, 1 gen_server, 2 supervised. */
static int sb_start(phc_node_t *n, int kind, long count, phc_pid_t *last) {
  ei_x_buff a;
  sb_args(&a);
  if (kind == 2 && !sb_sup && phc__sup_start(n, NULL, NULL, &sb_sup, NULL))
    return 0;
  long ok = 0;
  for (long i = 0; i < count; i++) {
    char id[32];
    snprintf(id, sizeof id, "c%lu", ++sb_next);
    phc__sup_spec_t spec = {.id = id,
                            .module = "phc_counter",
                            .args = a.buff,
                            .args_len = a.index,
                            .restart = PHC__SUP_PERMANENT,
                            .shutdown_ms = 5000};
    int rc = kind == 0   ? phc_spawn(n, &sb_bare_ops, NULL, NULL, 0, last)
             : kind == 1 ? phc_gs_start(n, "phc_counter", a.buff, a.index, NULL,
                                        0, last)
                         : phc__sup_start_child(sb_sup, &spec, last);
    if (rc < 0) break;
    ok++;
  }
  ei_x_free(&a);
  return (int)ok;
}

/* [N]: a one-element list, or the string ei sees when N < 256. */
static int sb_one_long(const char *args, int *idx, long *v) {
  int arity, type, size;
  char s[2];
  if (ei_decode_version(args, idx, NULL) < 0 ||
      ei_get_type(args, idx, &type, &size) < 0)
    return PHC_EINVAL;
  if (type == ERL_STRING_EXT) {
    if (size != 1 || ei_decode_string(args, idx, s) < 0) return PHC_EINVAL;
    *v = (unsigned char)s[0];
    return 1;
  }
  return ei_decode_list_header(args, idx, &arity) < 0 || arity != 1 ||
                 ei_decode_long(args, idx, v) < 0
             ? PHC_EINVAL
             : arity;
}

/* A native's error: the reason is encoded before the code is returned. */
static int sb_badarg(ei_x_buff *result) {
  ei_x_encode_atom(result, "badarg");
  return PHC_EINVAL;
}

static int sb_start_counters(phc_node_t *n, const phc_pid_t *caller,
                             const char *args, int len, ei_x_buff *result) {
  int idx = 0;
  long count;
  phc_pid_t last;
  (void)caller, (void)len;
  if (sb_one_long(args, &idx, &count) != 1 || count < 0)
    return sb_badarg(result);
  memset(&last, 0, sizeof last);
  uint64_t t0 = uv_hrtime();
  int ok = sb_start(n, 2, count, &last);
  uint64_t us = (uv_hrtime() - t0) / 1000;
  ei_x_encode_tuple_header(result, 4);
  ei_x_encode_atom(result, "ok");
  ei_x_encode_long(result, ok);
  ei_x_encode_ulonglong(result, us);
  return ok ? ei_x_encode_pid(result, &last) : ei_x_encode_atom(result, "none");
}

static int sb_heap(phc_node_t *n, const phc_pid_t *caller, const char *args,
                   int len, ei_x_buff *result) {
  int idx = 0, arity;
  char kind[16];
  long count;
  (void)caller, (void)len;
  if (ei_decode_version(args, &idx, NULL) < 0 ||
      ei_decode_list_header(args, &idx, &arity) < 0 || arity != 2 ||
      ei_decode_atom(args, &idx, kind) < 0 ||
      ei_decode_long(args, &idx, &count) < 0 || count <= 0)
    return sb_badarg(result);
  int k = !strcmp(kind, "bare") ? 0 : !strcmp(kind, "gen_server") ? 1 : 2;
  phc_pid_t last;
  if (k == 2 && !sb_sup) sb_start(n, 2, 1, &last); /* the supervisor first */
  size_t before = mallinfo2().uordblks;
  int ok = sb_start(n, k, count, &last);
  size_t after = mallinfo2().uordblks;
  return ei_x_encode_double(result, ok ? (double)(after - before) / ok : 0);
}

int phc_plugin_init(phc_node_t *n) {
  int rc = phc_native_register(n, "phc_scale_bench", "start_counters", 1,
                               sb_start_counters);
  if (rc == 0)
    rc = phc_native_register(n, "phc_scale_bench", "heap", 2, sb_heap);
  return rc;
}
