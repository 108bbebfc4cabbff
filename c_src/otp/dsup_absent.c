/* dsup_absent.c - Elixir's DynamicSupervisor called on phc (by rpc,
 * block_call or erpc) for a supervisor phc does not run: the answer a
 * BEAM node without that supervisor gives, at once. GenServer.call exits
 * {noproc, {'Elixir.GenServer', call, [Sup, Request, infinity]}}, with
 * Request built as DynamicSupervisor builds it ({start_child, {Start,
 * Restart, Shutdown, Type, Modules}} from a map spec); a map spec without
 * a valid start gives {error, {invalid_child_spec, Spec}}. A local
 * registered name or live pid phc does run is not a DynamicSupervisor
 * either: the call fails the same way (phc's own supervisors are not
 * reachable through this module). A supervisor a layer above does run
 * (c_src/dsup, through phc__otp_set_dynsup_handler) answers instead. */
#include "otp/otp_int.h"

#include <string.h>

#include "term/enc.h"
#include "term/term.h"

#define DS "Elixir.DynamicSupervisor"

/* 1 when buf[idx] is one of the atoms in the NULL-ended list. */
static int is_one_of(const char *buf, int idx, const char *const *atoms) {
  for (; *atoms; atoms++)
    if (phc__term_atom_eq(buf, idx, *atoms)) return 1;
  return 0;
}

static int valid_shutdown(const char *buf, int idx) {
  static const char *const ok[] = {"infinity", "brutal_kill", NULL};
  long v;
  int t = idx;
  return is_one_of(buf, idx, ok) ||
         (ei_decode_long(buf, &t, &v) == 0 && v >= 0);
}

/* {M, F, A} with atoms M, F and a list A; M goes to m. */
static int valid_start(const char *buf, int idx, char *m) {
  int arity, type, size;
  char f[MAXATOMLEN_UTF8];
  if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 3 ||
      phc__term_atom(buf, &idx, m, MAXATOMLEN_UTF8) < 0 ||
      phc__term_atom(buf, &idx, f, sizeof f) < 0 ||
      ei_get_type(buf, &idx, &type, &size) < 0)
    return 0;
  return type == ERL_LIST_EXT || type == ERL_NIL_EXT || type == ERL_STRING_EXT;
}

/* Append the term at buf[idx] to x. */
static void put_term(ei_x_buff *x, const char *buf, int len, int idx) {
  int end = idx;
  if (phc__term_skip(buf, len, &end) == 0)
    phc__x_append_buf(x, buf + idx, end - idx);
}

/* {Start, Restart, Shutdown, Type, Modules} from the map at buf[spec]; 0,
 * or PHC_EINVAL for a spec DynamicSupervisor refuses. */
static int map_child(ei_x_buff *x, const char *buf, int len, int spec) {
  static const char *const restarts[] = {"permanent", "temporary", "transient",
                                         NULL};
  static const char *const types[] = {"worker", "supervisor", NULL};
  char m[MAXATOMLEN_UTF8];
  int st, r, sh, ty, mo;
  if (phc__term_map_get(buf, spec, "start", &st) < 0 ||
      !valid_start(buf, st, m))
    return PHC_EINVAL;
  int has_r = phc__term_map_get(buf, spec, "restart", &r) == 0;
  int has_sh = phc__term_map_get(buf, spec, "shutdown", &sh) == 0;
  int has_ty = phc__term_map_get(buf, spec, "type", &ty) == 0;
  int has_mo = phc__term_map_get(buf, spec, "modules", &mo) == 0;
  if ((has_r && !is_one_of(buf, r, restarts)) ||
      (has_ty && !is_one_of(buf, ty, types)) ||
      (has_sh && !valid_shutdown(buf, sh)))
    return PHC_EINVAL;
  int sup = has_ty && phc__term_atom_eq(buf, ty, "supervisor");
  phc__x_tuple_header(x, 5);
  put_term(x, buf, len, st);
  has_r ? put_term(x, buf, len, r) : (void)phc__x_atom(x, "permanent");
  if (has_sh)
    put_term(x, buf, len, sh);
  else if (sup)
    phc__x_atom(x, "infinity");
  else
    phc__x_long(x, 5000);
  phc__x_atom(x, sup ? "supervisor" : "worker");
  if (has_mo) {
    put_term(x, buf, len, mo);
  } else {
    phc__x_list_header(x, 1);
    phc__x_atom(x, m);
    phc__x_empty_list(x);
  }
  return 0;
}

/* The child part of {start_child, Child}: a map spec converted, an old
 * {Id, Start, Restart, Shutdown, Type, Modules} without its id, any other
 * spec as given. PHC_EINVAL: an invalid map spec. */
static int child_term(ei_x_buff *x, const char *buf, int len, int spec) {
  int type, size, t = spec, arity;
  if (ei_get_type(buf, &t, &type, &size) < 0) return PHC_EINVAL;
  if (type == ERL_MAP_EXT) return map_child(x, buf, len, spec);
  if (ei_decode_tuple_header(buf, &t, &arity) == 0 && arity == 6 &&
      ei_skip_term(buf, &t) == 0) {
    phc__x_tuple_header(x, 5);
    for (int i = 0; i < 5; i++) {
      put_term(x, buf, len, t);
      if (phc__term_skip(buf, len, &t) < 0) return PHC_EINVAL;
    }
    return 0;
  }
  put_term(x, buf, len, spec);
  return 0;
}

/* Exit {noproc, {'Elixir.GenServer', call, [Sup, Req, infinity]}}. req:
 * the encoded request; args[sup] the supervisor. */
static int noproc_exit(phc_node_t *n, const char *args, int len, int sup,
                       const ei_x_buff *req, ei_x_buff *result) {
  phc__x_tuple_header(result, 2);
  phc__x_atom(result, "noproc");
  phc__x_tuple_header(result, 3);
  phc__x_atom(result, "Elixir.GenServer");
  phc__x_atom(result, "call");
  phc__x_list_header(result, 3);
  put_term(result, args, len, sup);
  phc__x_append_buf(result, req->buff, req->index);
  phc__x_atom(result, "infinity");
  phc__x_empty_list(result);
  return phc__otp_raise_exit(n);
}

void phc__otp_set_dynsup_handler(phc_node_t *n, phc__dynsup_fn fn) {
  if (n->otp) n->otp->dynsup = fn;
}

/* The handler's answer for the supervisor at args[sup] (an atom), or
 * PHC_ENOPROC when there is none. */
static int ds_running(phc_node_t *n, const char *args, int sup, const char *fun,
                      const char *arg, int arg_len, ei_x_buff *result) {
  char name[MAXATOMLEN_UTF8];
  int idx = sup;
  if (!n->otp || !n->otp->dynsup ||
      phc__term_atom(args, &idx, name, sizeof name) < 0)
    return PHC_ENOPROC;
  return n->otp->dynsup(n, name, fun, arg, arg_len, result);
}

static int badarg(ei_x_buff *result) {
  phc__x_atom(result, "badarg");
  return PHC_EINVAL;
}

/* The argument list [Sup | Rest]: idx of Sup and of the second argument. */
static int ds_args(const char *args, int len, int want, int *sup, int *second) {
  int idx = 1, arity;
  if (ei_decode_list_header(args, &idx, &arity) < 0 || arity != want)
    return PHC_EINVAL;
  *sup = idx;
  if (phc__term_skip(args, len, &idx) < 0) return PHC_EINVAL;
  *second = idx;
  return 0;
}

static int ds_start_child(phc_node_t *n, const phc_pid_t *caller,
                          const char *args, int len, ei_x_buff *result) {
  int sup, spec;
  PHC__UNUSED(caller);
  if (ds_args(args, len, 2, &sup, &spec) < 0) return badarg(result);
  ei_x_buff req, child;
  phc__x_new(&req);
  phc__x_new(&child);
  phc__x_tuple_header(&req, 2);
  phc__x_atom(&req, "start_child");
  int rc = child_term(&child, args, len, spec);
  if (rc == 0)
    rc = ds_running(n, args, sup, "start_child", child.buff, child.index,
                    result);
  if (rc == PHC_ENOPROC) {
    phc__x_append_buf(&req, child.buff, child.index);
    rc = noproc_exit(n, args, len, sup, &req, result);
  }
  ei_x_free(&child);
  if (rc == PHC_EINVAL) { /* {error, {invalid_child_spec, Spec}}: a return */
    phc__x_tuple_header(result, 2);
    phc__x_atom(result, "error");
    phc__x_tuple_header(result, 2);
    phc__x_atom(result, "invalid_child_spec");
    put_term(result, args, len, spec);
    rc = 0;
  }
  ei_x_free(&req);
  return rc;
}

static int ds_terminate_child(phc_node_t *n, const phc_pid_t *caller,
                              const char *args, int len, ei_x_buff *result) {
  int sup, pid;
  PHC__UNUSED(caller);
  if (ds_args(args, len, 2, &sup, &pid) < 0) return badarg(result);
  int end = pid, rc;
  if (phc__term_skip(args, len, &end) < 0) return badarg(result);
  rc = ds_running(n, args, sup, "terminate_child", args + pid, end - pid,
                  result);
  if (rc != PHC_ENOPROC) return rc;
  ei_x_buff req;
  phc__x_new(&req);
  phc__x_tuple_header(&req, 2);
  phc__x_atom(&req, "terminate_child");
  put_term(&req, args, len, pid);
  rc = noproc_exit(n, args, len, sup, &req, result);
  ei_x_free(&req);
  return rc;
}

/* which_children/1, count_children/1: the request is the function name. */
static int ds_query(phc_node_t *n, const char *args, int len, const char *what,
                    ei_x_buff *result) {
  int sup, end;
  if (ds_args(args, len, 1, &sup, &end) < 0) return badarg(result);
  int rc = ds_running(n, args, sup, what, NULL, 0, result);
  if (rc != PHC_ENOPROC) return rc;
  ei_x_buff req;
  phc__x_new(&req);
  phc__x_atom(&req, what);
  rc = noproc_exit(n, args, len, sup, &req, result);
  ei_x_free(&req);
  return rc;
}

static int ds_which_children(phc_node_t *n, const phc_pid_t *caller,
                             const char *args, int len, ei_x_buff *result) {
  PHC__UNUSED(caller);
  return ds_query(n, args, len, "which_children", result);
}

static int ds_count_children(phc_node_t *n, const phc_pid_t *caller,
                             const char *args, int len, ei_x_buff *result) {
  PHC__UNUSED(caller);
  return ds_query(n, args, len, "count_children", result);
}

int phc__dsup_absent_init(phc_node_t *n) {
  int rc = phc_native_register(n, DS, "start_child", 2, ds_start_child);
  rc =
      rc ? rc
         : phc_native_register(n, DS, "terminate_child", 2, ds_terminate_child);
  rc = rc ? rc
          : phc_native_register(n, DS, "which_children", 1, ds_which_children);
  rc = rc ? rc
          : phc_native_register(n, DS, "count_children", 1, ds_count_children);
  return rc;
}
