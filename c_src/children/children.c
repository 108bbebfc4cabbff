/* children.c - the built-in child types phc_echo, phc_counter and phc_kv,
 * registered when the node starts (c_src/otp starts any registered type for
 * Module:start_link/1 and start/1 over rpc and spawn).
 *
 * They double as examples of a C child type: a table of gen_server
 * callbacks over a small C state. Their BEAM twins live in
 * elixir_harness/ with the same module names, calls and handover state, so
 * a child can move between phc and a BEAM node and keep its state.
 *
 *   phc_echo     call Req -> Req
 *   phc_counter  state integer. call {add, N} -> new value; get -> value;
 *                stop -> ok (then stops); {crash, Reason} -> exits with
 *                Reason; {monitor, Pid} -> ok (monitors Pid); last_down ->
 *                reason of the last DOWN seen, or none; mode -> the
 *                mode of the last {process_hub, redundancy_signal, Mode}
 *                received, or nil. cast and info {add, N} add silently.
 *                Handover state: the integer.
 *   phc_kv       state map. call {put, K, V} -> ok; {get, K} -> V or nil;
 *                keys -> [K] in term order; stop -> ok. Handover state: the
 *                map.
 */
#include "children/children.h"

#include <stdlib.h>

#include "term/enc.h"
#include "term/order.h"
#include "term/term.h"

#define MOD "children"

/* ---- helpers --------------------------------------------------------- */

/* first_arg: the argument list arrived as a string. */
#define CHILDREN_ARGS_STRING 1

/* Find the first element of an argument list (args has its version byte):
 * 0 with *idx at it; CHILDREN_ARGS_STRING when the list arrived as a
 * STRING_EXT (every element a small integer, such as [N] with N < 256;
 * *idx at the string); PHC_EDECODE when it is empty or not a list. */
static int first_arg(const char *args, int *idx) {
  int arity, type, size;
  *idx = 1;
  if (ei_get_type(args, idx, &type, &size) < 0) return PHC_EDECODE;
  if (type == ERL_STRING_EXT) return CHILDREN_ARGS_STRING;
  if (ei_decode_list_header(args, idx, &arity) < 0 || arity < 1)
    return PHC_EDECODE;
  return 0;
}

/* The first element of an argument list that arrived as a STRING_EXT at
 * args[idx] (of any length up to 65535): 0 and *v, or PHC_EDECODE. */
static int first_of_string(const char *args, int idx, long long *v) {
  int type, size;
  if (ei_get_type(args, &idx, &type, &size) < 0 || type != ERL_STRING_EXT ||
      size < 1)
    return PHC_EDECODE;
  char *s = phc__xmalloc((size_t)size + 1);
  int rc = ei_decode_string(args, &idx, s) < 0 ? PHC_EDECODE : 0;
  if (rc == 0) *v = (unsigned char)s[0];
  free(s);
  return rc;
}

static int decode_tagged(const char *buf, int *idx, const char *tag,
                         int arity) {
  int a;
  int i = *idx;
  if (ei_decode_tuple_header(buf, &i, &a) < 0 || a != arity ||
      !phc__term_atom_eq(buf, i, tag) || ei_skip_term(buf, &i) < 0)
    return 0;
  *idx = i;
  return 1;
}

static int reply_unknown(ei_x_buff *reply, const char *req, int len) {
  phc__x_tuple_header(reply, 2);
  phc__x_atom(reply, "error");
  phc__x_tuple_header(reply, 2);
  phc__x_atom(reply, "unknown_call");
  phc__x_append_buf(reply, req + 1, len - 1);
  return PHC_GS_REPLY;
}

/* ---- phc_echo -------------------------------------------------------- */

static int echo_init(phc_gs_t *gs, const char *args, int len, void **state) {
  PHC__UNUSED(gs);
  PHC__UNUSED(args);
  PHC__UNUSED(len);
  *state = NULL;
  return 0;
}

static int echo_call(phc_gs_t *gs, void *state, const char *req, int len,
                     const phc_from_t *from, ei_x_buff *reply) {
  PHC__UNUSED(gs);
  PHC__UNUSED(state);
  PHC__UNUSED(from);
  if (phc__term_is_atom(req, len, "stop")) {
    phc__x_atom(reply, "ok");
    return PHC_GS_STOP;
  }
  phc__x_append_buf(reply, req + 1, len - 1);
  return PHC_GS_REPLY;
}

static const phc_child_type_t echo_type = {
    .module = "phc_echo", .init = echo_init, .handle_call = echo_call};

/* ---- phc_counter ----------------------------------------------------- */

typedef struct counter_s {
  long long value;
  char mode[16];   /* the last redundancy signal's mode, "" before any */
  char *last_down; /* encoded reason with version byte, or NULL */
  int last_down_len;
} counter_t;

static int counter_init(phc_gs_t *gs, const char *args, int len, void **state) {
  PHC__UNUSED(gs);
  PHC__UNUSED(len);
  counter_t *c = phc__xcalloc(1, sizeof *c);
  int idx;
  long long v;
  int rc = first_arg(args, &idx);
  if (rc == 0 && ei_decode_longlong(args, &idx, &v) == 0)
    c->value = v;
  else if (rc == CHILDREN_ARGS_STRING && first_of_string(args, idx, &v) == 0)
    c->value = v;
  *state = c;
  return 0;
}

static int counter_add(counter_t *c, const char *req) {
  int idx = 1;
  long long n;
  if (!decode_tagged(req, &idx, "add", 2) ||
      ei_decode_longlong(req, &idx, &n) < 0)
    return 0;
  c->value += n;
  return 1;
}

static int counter_monitor(phc_gs_t *gs, const char *req) {
  int idx = 1;
  erlang_pid pid;
  phc_ref_t ref;
  if (!decode_tagged(req, &idx, "monitor", 2) ||
      ei_decode_pid(req, &idx, &pid) < 0)
    return 0;
  phc_monitor(phc_gs_proc(gs), &pid, &ref);
  return 1;
}

static int counter_call(phc_gs_t *gs, void *state, const char *req, int len,
                        const phc_from_t *from, ei_x_buff *reply) {
  counter_t *c = state;
  int idx = 1;
  PHC__UNUSED(from);
  if (counter_add(c, req)) {
    phc__x_longlong(reply, c->value);
  } else if (phc__term_is_atom(req, len, "get")) {
    phc__x_longlong(reply, c->value);
  } else if (phc__term_is_atom(req, len, "stop")) {
    phc__x_atom(reply, "ok");
    return PHC_GS_STOP;
  } else if (decode_tagged(req, &idx, "crash", 2)) {
    phc__x_append_buf(reply, req + idx, len - idx);
    return PHC_GS_ERROR;
  } else if (counter_monitor(gs, req)) {
    phc__x_atom(reply, "ok");
  } else if (phc__term_is_atom(req, len, "mode")) {
    phc__x_atom(reply, c->mode[0] ? c->mode : "nil");
  } else if (phc__term_is_atom(req, len, "last_down")) {
    if (c->last_down)
      phc__x_append_buf(reply, c->last_down + 1, c->last_down_len - 1);
    else
      phc__x_atom(reply, "none");
  } else {
    return reply_unknown(reply, req, len);
  }
  return PHC_GS_REPLY;
}

static int counter_cast(phc_gs_t *gs, void *state, const char *req, int len) {
  PHC__UNUSED(gs);
  PHC__UNUSED(len);
  counter_add(state, req);
  return PHC_GS_NOREPLY;
}

/* {'DOWN', Ref, process, Pid, Reason}: remember Reason. */
static int counter_down(counter_t *c, const char *msg, int len) {
  int idx = 1, arity;
  if (ei_decode_tuple_header(msg, &idx, &arity) < 0 || arity != 5 ||
      !phc__term_atom_eq(msg, idx, "DOWN"))
    return 0;
  for (int i = 0; i < 4; i++)
    if (ei_skip_term(msg, &idx) < 0) return 0;
  free(c->last_down);
  c->last_down =
      phc__term_with_version(msg + idx, len - idx, &c->last_down_len);
  return 1;
}

/* {process_hub, redundancy_signal, Mode}: remember Mode. */
static int counter_signal(counter_t *c, const char *msg) {
  int idx = 1, arity;
  char mode[sizeof c->mode];
  if (ei_decode_tuple_header(msg, &idx, &arity) < 0 || arity != 3 ||
      !phc__term_atom_eq(msg, idx, "process_hub") ||
      ei_skip_term(msg, &idx) < 0 ||
      !phc__term_atom_eq(msg, idx, "redundancy_signal") ||
      ei_skip_term(msg, &idx) < 0 ||
      phc__term_atom(msg, &idx, mode, sizeof mode) < 0)
    return 0;
  memcpy(c->mode, mode, sizeof mode);
  return 1;
}

static int counter_info(phc_gs_t *gs, void *state, const char *msg, int len) {
  PHC__UNUSED(gs);
  if (!counter_add(state, msg) && !counter_signal(state, msg))
    counter_down(state, msg, len);
  return PHC_GS_NOREPLY;
}

static void counter_terminate(phc_gs_t *gs, void *state, const char *reason,
                              int len) {
  counter_t *c = state;
  PHC__UNUSED(gs);
  PHC__UNUSED(reason);
  PHC__UNUSED(len);
  if (!c) return;
  free(c->last_down);
  free(c);
}

static int counter_handover_get(phc_gs_t *gs, void *state, ei_x_buff *out) {
  PHC__UNUSED(gs);
  return phc__x_longlong(out, ((counter_t *)state)->value) < 0 ? PHC_ENOMEM : 0;
}

static int counter_handover_put(phc_gs_t *gs, void **state, const char *buf,
                                int len) {
  int idx = 1;
  long long v;
  PHC__UNUSED(gs);
  PHC__UNUSED(len);
  if (ei_decode_longlong(buf, &idx, &v) < 0) return PHC_EDECODE;
  ((counter_t *)*state)->value = v;
  return 0;
}

static const phc_child_type_t counter_type = {
    .module = "phc_counter",
    .init = counter_init,
    .handle_call = counter_call,
    .handle_cast = counter_cast,
    .handle_info = counter_info,
    .terminate = counter_terminate,
    .handover_get = counter_handover_get,
    .handover_put = counter_handover_put};

/* ---- phc_kv ---------------------------------------------------------- */

typedef struct kv_entry_s {
  char *key; /* encoded, no version byte */
  int key_len;
  char *val;
  int val_len;
} kv_entry_t;

typedef struct kv_s {
  kv_entry_t *e;
  int n, cap;
} kv_t;

static kv_entry_t *kv_find(kv_t *kv, const char *key, int key_len) {
  for (int i = 0; i < kv->n; i++)
    if (kv->e[i].key_len == key_len &&
        memcmp(kv->e[i].key, key, (size_t)key_len) == 0)
      return &kv->e[i];
  return NULL;
}

static void kv_put(kv_t *kv, const char *key, int key_len, const char *val,
                   int val_len) {
  kv_entry_t *e = kv_find(kv, key, key_len);
  if (!e) {
    if (kv->n == kv->cap) {
      kv->cap = kv->cap ? 2 * kv->cap : 8;
      kv->e = phc__xrealloc(kv->e, (size_t)kv->cap * sizeof *kv->e);
    }
    e = &kv->e[kv->n++];
    e->key = phc__term_dup(key, key_len);
    e->key_len = key_len;
  } else {
    free(e->val);
  }
  e->val = phc__term_dup(val, val_len);
  e->val_len = val_len;
}

static int kv_cmp(const void *a, const void *b) {
  const kv_entry_t *x = a, *y = b;
  int cmp = 0;
  phc__term_compare_exact(x->key, x->key_len, y->key, y->key_len, &cmp);
  return cmp;
}

static void kv_sort(kv_t *kv) {
  qsort(kv->e, (size_t)kv->n, sizeof *kv->e, kv_cmp);
}

static void kv_free(kv_t *kv) {
  for (int i = 0; i < kv->n; i++) {
    free(kv->e[i].key);
    free(kv->e[i].val);
  }
  free(kv->e);
  kv->e = NULL;
  kv->n = kv->cap = 0;
}

/* Load a map term at buf[*idx] into kv. */
static int kv_load(kv_t *kv, const char *buf, int *idx) {
  int arity;
  if (ei_decode_map_header(buf, idx, &arity) < 0) return PHC_EDECODE;
  for (int i = 0; i < arity; i++) {
    int k = *idx;
    if (ei_skip_term(buf, idx) < 0) return PHC_EDECODE;
    int v = *idx;
    if (ei_skip_term(buf, idx) < 0) return PHC_EDECODE;
    kv_put(kv, buf + k, v - k, buf + v, *idx - v);
  }
  return 0;
}

static int kv_init(phc_gs_t *gs, const char *args, int len, void **state) {
  PHC__UNUSED(gs);
  PHC__UNUSED(len);
  kv_t *kv = phc__xcalloc(1, sizeof *kv);
  int idx;
  if (first_arg(args, &idx) == 0) {
    int type, size, t = idx;
    if (ei_get_type(args, &t, &type, &size) == 0 && type == ERL_MAP_EXT)
      kv_load(kv, args, &idx);
  }
  *state = kv;
  return 0;
}

static int kv_call(phc_gs_t *gs, void *state, const char *req, int len,
                   const phc_from_t *from, ei_x_buff *reply) {
  kv_t *kv = state;
  int idx = 1;
  PHC__UNUSED(gs);
  PHC__UNUSED(from);
  if (decode_tagged(req, &idx, "put", 3)) {
    int k = idx;
    if (ei_skip_term(req, &idx) < 0) return reply_unknown(reply, req, len);
    int v = idx;
    if (ei_skip_term(req, &idx) < 0) return reply_unknown(reply, req, len);
    kv_put(kv, req + k, v - k, req + v, idx - v);
    phc__x_atom(reply, "ok");
  } else if (decode_tagged(req, &idx, "get", 2)) {
    int k = idx;
    if (ei_skip_term(req, &idx) < 0) return reply_unknown(reply, req, len);
    kv_entry_t *e = kv_find(kv, req + k, idx - k);
    if (e)
      phc__x_append_buf(reply, e->val, e->val_len);
    else
      phc__x_atom(reply, "nil");
  } else if (phc__term_is_atom(req, len, "keys")) {
    kv_sort(kv); /* Map.keys order, as the Elixir twin answers */
    if (kv->n) phc__x_list_header(reply, kv->n);
    for (int i = 0; i < kv->n; i++)
      phc__x_append_buf(reply, kv->e[i].key, kv->e[i].key_len);
    phc__x_empty_list(reply);
  } else if (phc__term_is_atom(req, len, "stop")) {
    phc__x_atom(reply, "ok");
    return PHC_GS_STOP;
  } else {
    return reply_unknown(reply, req, len);
  }
  return PHC_GS_REPLY;
}

static void kv_terminate(phc_gs_t *gs, void *state, const char *reason,
                         int len) {
  PHC__UNUSED(gs);
  PHC__UNUSED(reason);
  PHC__UNUSED(len);
  if (!state) return;
  kv_free(state);
  free(state);
}

static int kv_handover_get(phc_gs_t *gs, void *state, ei_x_buff *out) {
  kv_t *kv = state;
  PHC__UNUSED(gs);
  phc__x_map_header(out, kv->n);
  for (int i = 0; i < kv->n; i++) {
    phc__x_append_buf(out, kv->e[i].key, kv->e[i].key_len);
    phc__x_append_buf(out, kv->e[i].val, kv->e[i].val_len);
  }
  return 0;
}

static int kv_handover_put(phc_gs_t *gs, void **state, const char *buf,
                           int len) {
  int idx = 1;
  PHC__UNUSED(gs);
  PHC__UNUSED(len);
  kv_free(*state);
  return kv_load(*state, buf, &idx);
}

static const phc_child_type_t kv_type = {.module = "phc_kv",
                                         .init = kv_init,
                                         .handle_call = kv_call,
                                         .terminate = kv_terminate,
                                         .handover_get = kv_handover_get,
                                         .handover_put = kv_handover_put};

/* ---- registration ---------------------------------------------------- */

/* Module:start_link/1 and start/1 come with the registration: c_src/otp's
 * spawn requests start any registered type (no per-type natives). */
int phc__children_register(phc_node_t *n) {
  static const phc_child_type_t *const builtins[] = {&echo_type, &counter_type,
                                                     &kv_type};
  for (size_t i = 0; i < PHC__ARRAY_LEN(builtins); i++) {
    int rc = phc_child_type_register(n, builtins[i]);
    if (rc) return rc;
  }
  return 0;
}
