/* test_plugin.c - a plugin for phc_plugin_SUITE, built four ways:
 *   (default)        registers 'Elixir.PhcTest.Plug' and test_plugin:hello/1
 *   -DPLUGIN_FAIL    phc_plugin_init returns PHC_EEXIST
 *   -DPLUGIN_NOINIT  no phc_plugin_init
 *   -DPLUGIN_OLDABI  phc_plugin_info names another MAJOR.MINOR
 * 'Elixir.PhcTest.Plug': state an integer. call {add, N} -> new value; get ->
 * value; cast {add, N}; handover state the integer. */
#include <stdlib.h>
#include <string.h>

#include <phc.h>

#ifdef PLUGIN_OLDABI
const phc_plugin_info_t phc_plugin_info = {PHC_VERSION_MAJOR + 1, 0, 0, "old"};
#else
PHC_PLUGIN_DECLARE("test_plugin");
#endif

/* args: [N] (a one-element list; [5] arrives as the string "\5"). */
static int plug_init(phc_gs_t *gs, const char *args, int len, void **state) {
  int idx = 0, arity, type, size;
  long v = 0;
  char s1[2];
  (void)gs, (void)len;
  if (ei_decode_version(args, &idx, NULL) < 0 ||
      ei_get_type(args, &idx, &type, &size) < 0)
    return PHC_EINVAL;
  if (type == ERL_STRING_EXT) {
    if (size != 1 || ei_decode_string(args, &idx, s1) < 0) return PHC_EINVAL;
    v = (unsigned char)s1[0];
  } else if (ei_decode_list_header(args, &idx, &arity) < 0 || arity != 1 ||
             ei_decode_long(args, &idx, &v) < 0) {
    return PHC_EINVAL;
  }
  long *s = malloc(sizeof *s);
  if (!s) return PHC_ENOMEM;
  *s = v;
  *state = s;
  return 0;
}

/* {add, N} -> 1 and *n; get -> 0; anything else -> -1. */
static int plug_req(const char *buf, long *n) {
  int idx = 0, arity;
  char atom[MAXATOMLEN];
  if (ei_decode_version(buf, &idx, NULL) < 0) return -1;
  if (ei_decode_atom(buf, &idx, atom) == 0) return strcmp(atom, "get") ? -1 : 0;
  idx = 1;
  if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 2 ||
      ei_decode_atom(buf, &idx, atom) < 0 || strcmp(atom, "add") ||
      ei_decode_long(buf, &idx, n) < 0)
    return -1;
  return 1;
}

static int plug_call(phc_gs_t *gs, void *state, const char *req, int len,
                     const phc_from_t *from, ei_x_buff *reply) {
  long *s = state, n = 0;
  (void)gs, (void)len, (void)from;
  int k = plug_req(req, &n);
  if (k < 0) return ei_x_encode_atom(reply, "badarg") ? -1 : PHC_GS_REPLY;
  *s += n;
  return ei_x_encode_long(reply, *s) ? -1 : PHC_GS_REPLY;
}

static int plug_cast(phc_gs_t *gs, void *state, const char *req, int len) {
  long *s = state, n = 0;
  (void)gs, (void)len;
  if (plug_req(req, &n) == 1) *s += n;
  return 0;
}

static void plug_terminate(phc_gs_t *gs, void *state, const char *r, int l) {
  (void)gs, (void)r, (void)l;
  free(state);
}

static int plug_hget(phc_gs_t *gs, void *state, ei_x_buff *out) {
  (void)gs;
  return ei_x_encode_long(out, *(long *)state);
}

static int plug_hput(phc_gs_t *gs, void **state, const char *buf, int len) {
  int idx = 0;
  long v;
  (void)gs, (void)len;
  if (ei_decode_version(buf, &idx, NULL) < 0 || ei_decode_long(buf, &idx, &v))
    return PHC_EDECODE;
  *(long *)*state = v;
  return 0;
}

static const phc_child_type_t plug_type = {.module = "Elixir.PhcTest.Plug",
                                           .init = plug_init,
                                           .handle_call = plug_call,
                                           .handle_cast = plug_cast,
                                           .terminate = plug_terminate,
                                           .handover_get = plug_hget,
                                           .handover_put = plug_hput};

/* test_plugin:hello(X) -> {hello, X}. */
static int plug_hello(phc_node_t *n, const phc_pid_t *caller, const char *args,
                      int len, ei_x_buff *result) {
  int idx = 0, arity;
  (void)n, (void)caller;
  if (ei_decode_version(args, &idx, NULL) < 0 ||
      ei_decode_list_header(args, &idx, &arity) < 0 || arity != 1)
    return PHC_EINVAL;
  ei_x_encode_tuple_header(result, 2);
  ei_x_encode_atom(result, "hello");
  return ei_x_append_buf(result, args + idx, len - idx - 1);
}

#ifndef PLUGIN_NOINIT
int phc_plugin_init(phc_node_t *n) {
#ifdef PLUGIN_FAIL
  (void)n;
  return PHC_EEXIST;
#else
  int rc = phc_child_type_register(n, &plug_type);
  if (rc == 0)
    rc = phc_native_register(n, "test_plugin", "hello", 1, plug_hello);
  return rc;
#endif
}
#endif
