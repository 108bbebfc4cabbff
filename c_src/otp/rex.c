/* rex.c - the rpc server (registered as rex), answering every request
 * OTP 25-27's rpc module sends it, the way kernel's rpc:handle_* do:
 *
 *   {'$gen_call', From, {call | block_call, M, F, A, GL}}  -> Result
 *   {'$gen_call', From, stop}                              -> stopped
 *   {'$gen_cast', {cast, M, F, A, GL}}                     (no reply)
 *   {From, {call, M, F, A, GL}}            -> From ! {rex, Result}
 *   {From, {sbcast, Name, Msg}}            -> From ! {rex, node(), node()}
 *   {From, {send, Name, Msg}}              (Name ! {From, Msg})
 *   {From, features_request}   -> From ! {features_reply, node(), [erpc]}
 *
 * Result is what rpc's execute_call/3 gives: the return value, or
 * {badrpc, {'EXIT', Reason}} for an exit, {badrpc, {'EXIT', {Reason,
 * Stack}}} for an error (undef for a function phc does not have). Natives
 * run to completion, so call and block_call behave the same. Anything
 * else is ignored, as rex ignores it. */
#include "otp/otp_int.h"

#include <string.h>

#include "proc/proc.h"
#include "term/enc.h"
#include "term/term.h"

#define MOD "rex"

int phc__otp_raise_exit(phc_node_t *n) {
  n->otp->raised_exit = 1;
  return PHC_ENOPROC;
}

/* Encode into x what rpc's execute_call(M, F, A) returns. */
static void rex_result(phc_node_t *n, const erlang_pid *caller, const char *m,
                       const char *f, const char *args, int alen,
                       ei_x_buff *x) {
  ei_x_buff result;
  int rc = phc__otp_run_native(n, caller, m, f, args, alen, &result);
  if (rc == 0) {
    phc__otp_append_term(x, &result);
  } else {
    phc__x_tuple_header(x, 2);
    phc__x_atom(x, "badrpc");
    phc__x_tuple_header(x, 2);
    phc__x_atom(x, "EXIT");
    if (n->otp->raised_exit) {
      phc__otp_append_term(x, &result);
    } else {
      phc__x_tuple_header(x, 2);
      if (rc == PHC_EUNDEF)
        phc__x_atom(x, "undef");
      else
        phc__otp_append_term(x, &result);
      phc__otp_encode_stack(x, m, f, args, alen,
                            rc != PHC_EUNDEF && !strcmp(m, "erlang"));
    }
  }
  ei_x_free(&result);
}

/* {Tag, M, F, A, GL} at *idx with Tag one of want: M, F and A's span. */
static int rex_mfa(const char *buf, int len, int *idx, const char *want1,
                   const char *want2, char *m, char *f, int *a_start,
                   int *a_len) {
  int arity;
  char tag[MAXATOMLEN_UTF8];
  if (ei_decode_tuple_header(buf, idx, &arity) < 0 || arity != 5 ||
      phc__term_atom(buf, idx, tag, sizeof tag) < 0 ||
      (strcmp(tag, want1) != 0 && (!want2 || strcmp(tag, want2) != 0)) ||
      phc__term_atom(buf, idx, m, MAXATOMLEN_UTF8) < 0 ||
      phc__term_atom(buf, idx, f, MAXATOMLEN_UTF8) < 0)
    return PHC_EDECODE;
  *a_start = *idx;
  if (phc__term_skip(buf, len, idx) < 0) return PHC_EDECODE;
  *a_len = *idx - *a_start;
  int t, s;
  if (ei_get_type(buf, a_start, &t, &s) < 0 ||
      (t != ERL_LIST_EXT && t != ERL_NIL_EXT && t != ERL_STRING_EXT))
    return PHC_EDECODE;
  return 0;
}

/* {'$gen_call', {Pid, Tag}, Request}: idx is at From. */
static void rex_gen_call(phc_proc_t *self, const char *buf, int len, int idx) {
  phc_node_t *n = phc_proc_node(self);
  phc_from_t from = {0};
  int arity, a_start, a_len;
  if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 2 ||
      ei_decode_pid(buf, &idx, &from.pid) < 0)
    goto bad;
  int tag = idx;
  if (phc__term_skip(buf, len, &idx) < 0 || idx - tag > (int)sizeof from.tag)
    goto bad;
  memcpy(from.tag, buf + tag, (size_t)(idx - tag));
  from.tag_len = idx - tag;
  ei_x_buff reply;
  phc__x_new_with_version(&reply);
  char m[MAXATOMLEN_UTF8], f[MAXATOMLEN_UTF8];
  if (phc__term_atom_eq(buf, idx, "stop")) {
    phc__x_atom(&reply, "stopped"); /* rex is restarted at once */
  } else if (rex_mfa(buf, len, &idx, "call", "block_call", m, f, &a_start,
                     &a_len) == 0) {
    rex_result(n, &from.pid, m, f, buf + a_start, a_len, &reply);
  } else {
    ei_x_free(&reply); /* rex ignores other calls */
    return;
  }
  phc_gen_reply(n, &from, reply.buff, reply.index);
  ei_x_free(&reply);
  return;
bad:
  PHC_LOG_W(MOD, "malformed '$gen_call' dropped");
}

static void rex_gen_cast(phc_proc_t *self, const char *buf, int len, int idx) {
  phc_node_t *n = phc_proc_node(self);
  char m[MAXATOMLEN_UTF8], f[MAXATOMLEN_UTF8];
  int a_start, a_len;
  if (rex_mfa(buf, len, &idx, "cast", NULL, m, f, &a_start, &a_len) < 0) return;
  ei_x_buff x;
  phc__x_new_with_version(&x);
  rex_result(n, NULL, m, f, buf + a_start, a_len, &x);
  ei_x_free(&x);
}

/* {rex, node(), Reply} with Reply node() or {nonexisting_name, Name}. */
static void rex_bcast_reply(phc_proc_t *self, const erlang_pid *to,
                            const char *name, int ok) {
  phc_node_t *n = phc_proc_node(self);
  ei_x_buff x;
  phc__x_new_with_version(&x);
  phc__x_tuple_header(&x, 3);
  phc__x_atom(&x, "rex");
  phc__x_atom(&x, n->name);
  if (ok) {
    phc__x_atom(&x, n->name);
  } else {
    phc__x_tuple_header(&x, 2);
    phc__x_atom(&x, "nonexisting_name");
    phc__x_atom(&x, name);
  }
  phc_send(n, phc_self(self), to, x.buff, x.index);
  ei_x_free(&x);
}

/* {sbcast | send, Name, Msg} from `from`; idx is at the inner tuple. */
static void rex_bcast(phc_proc_t *self, const erlang_pid *from, const char *buf,
                      int len, int idx, int is_send) {
  phc_node_t *n = phc_proc_node(self);
  char name[MAXATOMLEN_UTF8];
  int arity;
  if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 3 ||
      ei_skip_term(buf, &idx) < 0 ||
      phc__term_atom(buf, &idx, name, sizeof name) < 0)
    return;
  int msg = idx;
  if (phc__term_skip(buf, len, &idx) < 0) return;
  ei_x_buff x;
  phc__x_new_with_version(&x);
  if (is_send) {
    phc__x_tuple_header(&x, 2);
    phc__x_pid(&x, from);
  }
  phc__x_append_buf(&x, buf + msg, idx - msg);
  int rc = phc_send_name(n, phc_self(self), NULL, name, x.buff, x.index);
  ei_x_free(&x);
  if (rc != 0 || !is_send) rex_bcast_reply(self, from, name, rc == 0);
}

/* {features_reply, node(), [erpc]} */
static void rex_features(phc_proc_t *self, const erlang_pid *to) {
  phc_node_t *n = phc_proc_node(self);
  ei_x_buff x;
  phc__x_new_with_version(&x);
  phc__x_tuple_header(&x, 3);
  phc__x_atom(&x, "features_reply");
  phc__x_atom(&x, n->name);
  phc__x_list_header(&x, 1);
  phc__x_atom(&x, "erpc");
  phc__x_empty_list(&x);
  phc_send(n, phc_self(self), to, x.buff, x.index);
  ei_x_free(&x);
}

/* {From, Request}: the plain-message requests. idx is at Request. */
static void rex_info(phc_proc_t *self, const erlang_pid *from, const char *buf,
                     int len, int idx) {
  phc_node_t *n = phc_proc_node(self);
  char m[MAXATOMLEN_UTF8], f[MAXATOMLEN_UTF8];
  int a_start, a_len, arity, t = idx;
  if (phc__term_atom_eq(buf, idx, "features_request")) {
    rex_features(self, from);
    return;
  }
  if (ei_decode_tuple_header(buf, &t, &arity) < 0 || arity < 1) return;
  if (phc__term_atom_eq(buf, t, "sbcast") ||
      phc__term_atom_eq(buf, t, "send")) {
    rex_bcast(self, from, buf, len, idx, phc__term_atom_eq(buf, t, "send"));
    return;
  }
  t = idx;
  if (rex_mfa(buf, len, &t, "call", NULL, m, f, &a_start, &a_len) < 0) return;
  ei_x_buff x;
  phc__x_new_with_version(&x);
  phc__x_tuple_header(&x, 2);
  phc__x_atom(&x, "rex");
  rex_result(n, from, m, f, buf + a_start, a_len, &x);
  phc_send(n, phc_self(self), from, x.buff, x.index);
  ei_x_free(&x);
}

static void rex_handle(phc_proc_t *self, const char *buf, int len) {
  int idx = 1, arity;
  erlang_pid from;
  if (phc__term_check(buf, len) < 0 ||
      ei_decode_tuple_header(buf, &idx, &arity) < 0) {
    PHC_LOG_D(MOD, "ignoring a message it does not understand");
    return;
  }
  if (arity == 3 && phc__term_atom_eq(buf, idx, "$gen_call")) {
    ei_skip_term(buf, &idx);
    rex_gen_call(self, buf, len, idx);
  } else if (arity == 2 && phc__term_atom_eq(buf, idx, "$gen_cast")) {
    ei_skip_term(buf, &idx);
    rex_gen_cast(self, buf, len, idx);
  } else if (arity == 2 && ei_decode_pid(buf, &idx, &from) == 0) {
    rex_info(self, &from, buf, len, idx);
  } else {
    PHC_LOG_D(MOD, "ignoring a message it does not understand");
  }
}

static const phc_proc_ops_t rex_ops = {.name = "rex", .handle_msg = rex_handle};

int phc__rex_start(phc_node_t *n) {
  phc_pid_t pid;
  int rc = phc_spawn(n, &rex_ops, NULL, NULL, 0, &pid);
  return rc ? rc : phc_register(n, "rex", &pid);
}
