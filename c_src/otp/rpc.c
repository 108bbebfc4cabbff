/* rpc.c - spawn requests (erpc, rpc, Node.spawn) and the native function
 * table. */
#include "otp/otp_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "proc/proc.h"
#include "term/enc.h"
#include "term/term.h"

#define MOD "rpc"

struct phc__native_s {
  char key[2 * PHC__ATOM_MAX + 16]; /* "mod:fun/arity" */
  phc_native_fn fn;
  UT_hash_handle hh;
};

static void native_key(char *out, size_t max, const char *mod, const char *fun,
                       int arity) {
  snprintf(out, max, "%s:%s/%d", mod, fun, arity);
}

int phc_native_register(phc_node_t *n, const char *module, const char *fun,
                        int arity, phc_native_fn fn) {
  if (!n || !module || !fun || arity < 0 || !fn) return PHC_EINVAL;
  phc__native_t *e = phc__xcalloc(1, sizeof *e);
  native_key(e->key, sizeof e->key, module, fun, arity);
  phc__native_t *old = NULL;
  HASH_FIND_STR(n->natives, e->key, old);
  if (old) {
    free(e);
    return PHC_EEXIST;
  }
  e->fn = fn;
  HASH_ADD_STR(n->natives, key, e);
  return 0;
}

phc_native_fn phc__native_find(phc_node_t *n, const char *mod, const char *fun,
                               int arity) {
  char key[2 * PHC__ATOM_MAX + 16];
  native_key(key, sizeof key, mod, fun, arity);
  phc__native_t *e = NULL;
  HASH_FIND_STR(n->natives, key, e);
  return e ? e->fn : NULL;
}

/* Count the elements of an encoded list at buf (no version byte), or
 * PHC_EDECODE. */
static int list_arity(const char *buf, int len) {
  int idx = 0, arity = 0, type, size;
  PHC__UNUSED(len);
  if (ei_get_type(buf, &idx, &type, &size) < 0) return PHC_EDECODE;
  if (type == ERL_NIL_EXT) return 0;
  if (type == ERL_STRING_EXT) return size;
  if (ei_decode_list_header(buf, &idx, &arity) < 0) return PHC_EDECODE;
  return arity;
}

/* erlang:apply(Fun, []) with a closure: ask the closure handler. */
static int run_closure(phc_node_t *n, const char *args, ei_x_buff *result) {
  int idx = 0, arity, nargs = -1;
  erlang_fun f;
  if (!n->otp->closure || ei_decode_list_header(args, &idx, &arity) < 0 ||
      arity != 2 || ei_decode_fun(args, &idx, &f) < 0)
    return PHC_EUNDEF;
  int t = idx, type, size;
  if (ei_get_type(args, &t, &type, &size) == 0 && type == ERL_NIL_EXT)
    nargs = 0;
  int rc = PHC_EUNDEF;
  if (nargs == 0 && f.type == EI_FUN_CLOSURE && f.arity == 0)
    rc = n->otp->closure(n, &f, result);
  free_fun(&f);
  return rc;
}

/* Module:start_link(Arg) / start(Arg) for any registered child type (the
 * built-ins and every phc_child_type_register'ed type, before or after
 * phc_node_start). The new server is not linked to the short-lived rpc
 * process (it would die with it), so both behave like start/1. Result
 * {ok, Pid} or {error, Reason}. */
static int start_child_type(phc_node_t *n, const char *mod, const char *args,
                            int len, ei_x_buff *result) {
  phc_pid_t pid;
  int rc = phc_gs_start(n, mod, args, len, NULL, 0, &pid);
  phc__x_tuple_header(result, 2);
  if (rc == 0) {
    phc__x_atom(result, "ok");
    phc__x_pid(result, &pid);
  } else {
    phc__x_atom(result, "error");
    phc__x_atom(result, rc == PHC_EUNDEF   ? "undef"
                        : rc == PHC_ELIMIT ? "system_limit"
                                           : "init_failed");
  }
  return 0;
}

static int is_type_start(phc_node_t *n, const char *mod, const char *fun,
                         int arity) {
  return arity == 1 && (!strcmp(fun, "start_link") || !strcmp(fun, "start")) &&
         phc_child_type_find(n, mod) != NULL;
}

/* A native must leave exactly one term in *result (its return value or,
 * with rc < 0, its error reason). One that leaves none or a broken one is
 * logged, and the caller gets the error named by its code ('PHC_EINVAL'
 * for a broken success) instead of a corrupt term that would make the peer
 * drop the connection. */
static int native_result_check(const char *mod, const char *fun,
                               ei_x_buff *result, int rc) {
  if (phc__term_check(result->buff, result->index) == 0) return rc;
  PHC_LOG_W(MOD, "native %s:%s returned %s without a valid term", mod, fun,
            rc < 0 ? "an error" : "a value");
  rc = rc < 0 ? rc : PHC_EINVAL;
  result->index = 0;
  phc__x_version(result);
  phc__x_atom(result, phc_err_name(rc));
  return rc;
}

/* Run mod:fun(args). *result: the return value (rc 0) or the error
 * reason (rc < 0), encoded without a version byte after the header so it
 * can be embedded; caller owns it. */
int phc__otp_run_native(phc_node_t *n, const erlang_pid *caller,
                        const char *mod, const char *fun, const char *args,
                        int args_len, ei_x_buff *result) {
  n->otp->raised_exit = 0;
  n->otp->reductions++;
  int arity = list_arity(args, args_len);
  phc_native_fn fn = arity >= 0 ? phc__native_find(n, mod, fun, arity) : NULL;
  phc__x_new_with_version(result);
  if (!fn && arity == 2 && !strcmp(mod, "erlang") && !strcmp(fun, "apply"))
    return run_closure(n, args, result);
  int typed = !fn && is_type_start(n, mod, fun, arity);
  if (!fn && !typed) return PHC_EUNDEF;
  int vlen;
  char *vargs = phc__term_with_version(args, args_len, &vlen);
  int rc = typed ? start_child_type(n, mod, vargs, vlen, result)
                 : fn(n, caller, vargs, vlen, result);
  free(vargs);
  return native_result_check(mod, fun, result, rc);
}

int phc__otp_append_term(ei_x_buff *x, const ei_x_buff *term) {
  return phc__x_append_buf(x, term->buff + 1, term->index - 1);
}

void phc__otp_encode_stack(ei_x_buff *x, const char *mod, const char *fun,
                           const char *args, int args_len, int bif) {
  phc__x_list_header(x, 1);
  phc__x_tuple_header(x, 4);
  phc__x_atom(x, mod);
  phc__x_atom(x, fun);
  phc__x_append_buf(x, args, args_len);
  if (bif) { /* [{error_info, #{module => erl_erts_errors}}] as BIFs give */
    phc__x_list_header(x, 1);
    phc__x_tuple_header(x, 2);
    phc__x_atom(x, "error_info");
    phc__x_map_header(x, 1);
    phc__x_atom(x, "module");
    phc__x_atom(x, "erl_erts_errors");
  }
  phc__x_empty_list(x);
  phc__x_empty_list(x);
}

int phc__otp_erpc_reason(phc_node_t *n, const erlang_pid *caller,
                         const char *ref_term, int ref_len, const char *mod,
                         const char *fun, const char *args, int args_len,
                         ei_x_buff *reason) {
  ei_x_buff result;
  int rc = phc__otp_run_native(n, caller, mod, fun, args, args_len, &result);
  phc__x_new_with_version(reason);
  const int exited = rc != 0 && n->otp->raised_exit;
  phc__x_tuple_header(reason, rc == 0 || exited ? 3 : 4);
  phc__x_append_buf(reason, ref_term, ref_len);
  if (rc == 0 || exited) {
    phc__x_atom(reason, rc == 0 ? "return" : "exit");
    phc__otp_append_term(reason, &result);
  } else {
    phc__x_atom(reason, "error");
    if (rc == PHC_EUNDEF)
      phc__x_atom(reason, "undef");
    else
      phc__otp_append_term(reason, &result);
    phc__otp_encode_stack(reason, mod, fun, args, args_len,
                          rc != PHC_EUNDEF && !strcmp(mod, "erlang"));
  }
  ei_x_free(&result);
  return rc;
}

/* ---- spawn requests -------------------------------------------------- */

/* The process a spawn request creates: it lives only while its function
 * runs, so it needs no callbacks. */
static const phc_proc_ops_t spawned_ops = {.name = "spawned"};

/* Link and monitor options are carried out by the spawning node. */
static void parse_spawn_opts(const char *opts, int len, int *link,
                             int *monitor) {
  int idx = 1, arity = 0, type, size;
  *link = *monitor = 0;
  if (!opts || len < 2) return;
  if (ei_get_type(opts, &idx, &type, &size) < 0 || type == ERL_NIL_EXT) return;
  if (type == ERL_STRING_EXT) return;
  if (ei_decode_list_header(opts, &idx, &arity) < 0) return;
  for (int i = 0; i < arity; i++) {
    char atom[MAXATOMLEN_UTF8];
    int t_idx = idx, tarity;
    if (phc__term_atom(opts, &t_idx, atom, sizeof atom) == 0) {
      if (!strcmp(atom, "link")) *link = 1;
      if (!strcmp(atom, "monitor")) *monitor = 1;
    } else if (ei_decode_tuple_header(opts, &t_idx, &tarity) == 0 &&
               tarity == 2 &&
               phc__term_atom(opts, &t_idx, atom, sizeof atom) == 0 &&
               !strcmp(atom, "monitor")) {
      *monitor = 1;
    }
    if (ei_skip_term(opts, &idx) < 0) return;
  }
}

/* Reason for a plain spawn of mod:fun(args): normal, or {undef, Stack}. */
static void plain_spawn_reason(phc_node_t *n, const erlang_pid *caller,
                               const phc__ctrl_t *c, const char *args,
                               int args_len, ei_x_buff *reason) {
  ei_x_buff result;
  int rc =
      phc__otp_run_native(n, caller, c->mod, c->fun, args, args_len, &result);
  phc__x_new_with_version(reason);
  if (rc == 0) {
    phc__x_atom(reason, "normal");
  } else if (n->otp->raised_exit) {
    phc__otp_append_term(reason, &result);
  } else {
    phc__x_tuple_header(reason, 2);
    if (rc == PHC_EUNDEF)
      phc__x_atom(reason, "undef");
    else
      phc__otp_append_term(reason, &result);
    phc__otp_encode_stack(reason, c->mod, c->fun, args, args_len,
                          rc != PHC_EUNDEF && !strcmp(c->mod, "erlang"));
  }
  ei_x_free(&result);
}

/* erpc:execute_call(Ref, M, F, A) and execute_cast(M, F, A). */
static int erpc_reason(phc_node_t *n, const phc__ctrl_t *c, const char *args,
                       int args_len, ei_x_buff *reason) {
  int idx = 0, arity;
  PHC__UNUSED(args_len);
  const int is_call = !strcmp(c->fun, "execute_call") && c->arity == 4;
  char m[MAXATOMLEN_UTF8], f[MAXATOMLEN_UTF8];
  if (ei_decode_list_header(args, &idx, &arity) < 0 || arity != c->arity)
    return PHC_EDECODE;
  int ref_start = idx;
  if (is_call && ei_skip_term(args, &idx) < 0) return PHC_EDECODE;
  int ref_len = idx - ref_start;
  if (phc__term_atom(args, &idx, m, sizeof m) < 0 ||
      phc__term_atom(args, &idx, f, sizeof f) < 0)
    return PHC_EDECODE;
  int a_start = idx;
  if (ei_skip_term(args, &idx) < 0) return PHC_EDECODE;
  if (is_call)
    return phc__otp_erpc_reason(n, &c->from, args + ref_start, ref_len, m, f,
                                args + a_start, idx - a_start, reason),
           0;
  phc__ctrl_t inner = *c;
  snprintf(inner.mod, sizeof inner.mod, "%s", m);
  snprintf(inner.fun, sizeof inner.fun, "%s", f);
  plain_spawn_reason(n, &c->from, &inner, args + a_start, idx - a_start,
                     reason);
  return 0;
}

static int is_erpc(const phc__ctrl_t *c) {
  return !strcmp(c->mod, "erpc") &&
         ((!strcmp(c->fun, "execute_call") && c->arity == 4) ||
          (!strcmp(c->fun, "execute_cast") && c->arity == 3));
}

static void send_spawn_reply(phc_node_t *n, const phc__ctrl_t *c, int flags,
                             const erlang_pid *pid) {
  ei_x_buff res, x = {0};
  phc__x_new_with_version(&res);
  phc__x_pid(&res, pid);
  if (phc__ctrl_enc_spawn_reply(&x, &c->ref, &c->from, flags, res.buff,
                                res.index) == 0)
    phc__otp_send_ctrl(n, c->from.node, &x, NULL, 0);
  else
    ei_x_free(&x);
  ei_x_free(&res);
}

void phc__otp_spawn_request(phc_node_t *n, const phc__ctrl_t *c) {
  const char *args = c->payload ? c->payload + 1 : NULL;
  int args_len = c->payload ? c->payload_len - 1 : 0;
  if (!args || args_len <= 0) {
    PHC_LOG_W(MOD, "spawn request from %s without arguments", c->from.node);
    return;
  }
  int link, monitor;
  parse_spawn_opts(c->spawn_opts, c->spawn_opts_len, &link, &monitor);
  phc_pid_t pid;
  if (phc_spawn(n, &spawned_ops, NULL, NULL, 0, &pid) != 0) return;
  send_spawn_reply(n, c, (link ? 1 : 0) | (monitor ? 2 : 0), &pid);
  if (link) phc__proc_in_link(n, &c->from, &pid);
  if (monitor) phc__proc_in_monitor(n, &c->from, &pid, NULL, &c->ref);
  ei_x_buff reason;
  if (is_erpc(c)) {
    if (erpc_reason(n, c, args, args_len, &reason) != 0) {
      PHC_LOG_W(MOD, "malformed erpc request from %s", c->from.node);
      phc__x_new_with_version(&reason);
      phc__x_atom(&reason, "badarg");
    }
  } else {
    plain_spawn_reason(n, &c->from, c, args, args_len, &reason);
  }
  phc_proc_t *p = phc_proc_lookup(n, &pid);
  if (p) phc_proc_exit(p, reason.buff, reason.index);
  ei_x_free(&reason);
}

/* ---- built-in natives: erlang:node/0, erlang:nodes/0 ------------------ */

static int native_node(phc_node_t *n, const phc_pid_t *caller, const char *args,
                       int len, ei_x_buff *result) {
  PHC__UNUSED(caller);
  PHC__UNUSED(args);
  PHC__UNUSED(len);
  return phc__x_atom(result, n->name) < 0 ? PHC_ENOMEM : 0;
}

static int native_nodes(phc_node_t *n, const phc_pid_t *caller,
                        const char *args, int len, ei_x_buff *result) {
  const char *names[256];
  PHC__UNUSED(caller);
  PHC__UNUSED(args);
  PHC__UNUSED(len);
  int k = phc__otp_peers(n, names, 256);
  if (k > 0) phc__x_list_header(result, k);
  for (int i = 0; i < k; i++)
    phc__x_atom(result, names[i]);
  phc__x_empty_list(result);
  return 0;
}

/* erlang:send(Dest, Msg): a pid, a local registered name or {Name, Node};
 * returns Msg. */
static int native_send(phc_node_t *n, const phc_pid_t *caller, const char *args,
                       int len, ei_x_buff *result) {
  int idx = 1, arity, ta;
  erlang_pid pid;
  char name[MAXATOMLEN_UTF8], node[MAXATOMLEN_UTF8];
  PHC__UNUSED(caller);
  PHC__UNUSED(len);
  if (ei_decode_list_header(args, &idx, &arity) < 0 || arity != 2) goto bad;
  int dest = idx;
  if (ei_skip_term(args, &idx) < 0) goto bad;
  int msg = idx;
  if (ei_skip_term(args, &idx) < 0) goto bad;
  int mlen;
  char *m = phc__term_with_version(args + msg, idx - msg, &mlen);
  int t = dest, rc = 0;
  if (ei_decode_pid(args, &t, &pid) == 0)
    rc = phc_send(n, NULL, &pid, m, mlen);
  else if ((t = dest, phc__term_atom(args, &t, name, sizeof name) == 0))
    rc = phc_send_name(n, NULL, NULL, name, m, mlen) == PHC_ENOPROC
             ? PHC_EINVAL /* Name ! Msg to an unregistered name: badarg */
             : 0;
  else if ((t = dest, ei_decode_tuple_header(args, &t, &ta) == 0) && ta == 2 &&
           phc__term_atom(args, &t, name, sizeof name) == 0 &&
           phc__term_atom(args, &t, node, sizeof node) == 0)
    rc = phc_send_name(n, NULL, node, name, m, mlen);
  else
    rc = PHC_EINVAL;
  free(m);
  if (rc == PHC_EINVAL) goto bad;
  phc__x_append_buf(result, args + msg, idx - msg);
  return 0;
bad:
  phc__x_atom(result, "badarg");
  return PHC_EINVAL;
}

int phc__rpc_init(phc_node_t *n) {
  int rc = phc_native_register(n, "erlang", "node", 0, native_node);
  rc = rc ? rc : phc_native_register(n, "erlang", "nodes", 0, native_nodes);
  rc = rc ? rc : phc_native_register(n, "erlang", "send", 2, native_send);
  return rc;
}

void phc__natives_free(phc_node_t *n) {
  phc__native_t *e, *tmp;
  HASH_ITER(hh, n->natives, e, tmp) {
    HASH_DEL(n->natives, e);
    free(e);
  }
}
