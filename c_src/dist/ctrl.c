/* ctrl.c - control message codec (see ctrl.h). Input is bounds-checked
 * with phc__term_check() (the bounded walker over the whole buffer) before
 * ei reads it. */
#include "dist/ctrl.h"

#include <stdlib.h>
#include <string.h>

#include "term/enc.h"
#include "term/term.h"

/* ---- decoding helpers -------------------------------------------------- */

/* The term at buf[*idx] in a new buffer with the version byte. */
static int copy_term(const char *buf, int *idx, char **out, int *out_len) {
  int start = *idx;
  if (ei_skip_term(buf, idx) < 0) return PHC_EDECODE;
  *out = phc__term_with_version(buf + start, *idx - start, out_len);
  return 0;
}

static int dec_pid(const char *b, int *i, erlang_pid *p) {
  return ei_decode_pid(b, i, p) < 0 ? PHC_EDECODE : 0;
}

static int dec_ref(const char *b, int *i, erlang_ref *r) {
  return ei_decode_ref(b, i, r) < 0 ? PHC_EDECODE : 0;
}

static int skip(const char *b, int *i) {
  return ei_skip_term(b, i) < 0 ? PHC_EDECODE : 0;
}

/* A pid or an atom (registered name). */
static int dec_proc(const char *b, int *i, erlang_pid *pid, int *is_name,
                    char *name) {
  int type, size;
  if (ei_get_type(b, i, &type, &size) < 0) return PHC_EDECODE;
  if (type == ERL_ATOM_EXT || type == ERL_SMALL_ATOM_EXT ||
      type == ERL_ATOM_UTF8_EXT || type == ERL_SMALL_ATOM_UTF8_EXT) {
    *is_name = 1;
    return phc__term_atom(b, i, name, PHC__ATOM_MAX);
  }
  *is_name = 0;
  return dec_pid(b, i, pid);
}

/* The message that travels as payload (SEND*, REG_SEND, ALIAS_SEND). */
static int need_payload(phc__ctrl_t *c, const char *payload, int len) {
  if (!payload || phc__term_check(payload, len) < 0) return PHC_EDECODE;
  c->payload = payload;
  c->payload_len = len;
  return 0;
}

static int payload_reason(phc__ctrl_t *c, const char *payload, int len) {
  if (!payload || phc__term_check(payload, len) < 0) return PHC_EDECODE;
  c->reason = phc__xmalloc((size_t)len);
  memcpy(c->reason, payload, (size_t)len);
  c->reason_len = len;
  return 0;
}

/* Base op and arity of each known op; has_token for _TT variants. */
static int op_shape(long op, int *base, int *tt, int *arity) {
  static const struct {
    int op, base, tt, arity;
  } tab[] = {
      {PHC_DOP_LINK, PHC_DOP_LINK, 0, 3},
      {PHC_DOP_SEND, PHC_DOP_SEND, 0, 3},
      {PHC_DOP_EXIT, PHC_DOP_EXIT, 0, 4},
      {PHC_DOP_UNLINK, PHC_DOP_UNLINK, 0, 3},
      {PHC_DOP_NODE_LINK, PHC_DOP_NODE_LINK, 0, 1},
      {PHC_DOP_REG_SEND, PHC_DOP_REG_SEND, 0, 4},
      {PHC_DOP_GROUP_LEADER, PHC_DOP_GROUP_LEADER, 0, 3},
      {PHC_DOP_EXIT2, PHC_DOP_EXIT2, 0, 4},
      {PHC_DOP_SEND_TT, PHC_DOP_SEND, 1, 4},
      {PHC_DOP_EXIT_TT, PHC_DOP_EXIT, 1, 5},
      {PHC_DOP_REG_SEND_TT, PHC_DOP_REG_SEND, 1, 5},
      {PHC_DOP_EXIT2_TT, PHC_DOP_EXIT2, 1, 5},
      {PHC_DOP_MONITOR_P, PHC_DOP_MONITOR_P, 0, 4},
      {PHC_DOP_DEMONITOR_P, PHC_DOP_DEMONITOR_P, 0, 4},
      {PHC_DOP_MONITOR_P_EXIT, PHC_DOP_MONITOR_P_EXIT, 0, 5},
      {PHC_DOP_SEND_SENDER, PHC_DOP_SEND_SENDER, 0, 3},
      {PHC_DOP_SEND_SENDER_TT, PHC_DOP_SEND_SENDER, 1, 4},
      {PHC_DOP_PAYLOAD_EXIT, PHC_DOP_EXIT, 0, 3},
      {PHC_DOP_PAYLOAD_EXIT_TT, PHC_DOP_EXIT, 1, 4},
      {PHC_DOP_PAYLOAD_EXIT2, PHC_DOP_EXIT2, 0, 3},
      {PHC_DOP_PAYLOAD_EXIT2_TT, PHC_DOP_EXIT2, 1, 4},
      {PHC_DOP_PAYLOAD_MONITOR_P_EXIT, PHC_DOP_MONITOR_P_EXIT, 0, 4},
      {PHC_DOP_SPAWN_REQUEST, PHC_DOP_SPAWN_REQUEST, 0, 6},
      {PHC_DOP_SPAWN_REQUEST_TT, PHC_DOP_SPAWN_REQUEST, 1, 7},
      {PHC_DOP_SPAWN_REPLY, PHC_DOP_SPAWN_REPLY, 0, 5},
      {PHC_DOP_SPAWN_REPLY_TT, PHC_DOP_SPAWN_REPLY, 1, 6},
      {PHC_DOP_ALIAS_SEND, PHC_DOP_ALIAS_SEND, 0, 3},
      {PHC_DOP_ALIAS_SEND_TT, PHC_DOP_ALIAS_SEND, 1, 4},
      {PHC_DOP_UNLINK_ID, PHC_DOP_UNLINK_ID, 0, 4},
      {PHC_DOP_UNLINK_ID_ACK, PHC_DOP_UNLINK_ID_ACK, 0, 4},
  };
  for (size_t k = 0; k < PHC__ARRAY_LEN(tab); k++) {
    if (tab[k].op == op) {
      *base = tab[k].base;
      *tt = tab[k].tt;
      *arity = tab[k].arity;
      return 0;
    }
  }
  return PHC_EDECODE;
}

static int is_payload_exit(long op) {
  return op >= PHC_DOP_PAYLOAD_EXIT && op <= PHC_DOP_PAYLOAD_MONITOR_P_EXIT;
}

/* ---- per-op bodies (i points after the op element) --------------------- */

static int dec_exit(const char *b, int *i, long op, phc__ctrl_t *c,
                    const char *payload, int plen) {
  if (op == PHC_DOP_PAYLOAD_MONITOR_P_EXIT || op == PHC_DOP_MONITOR_P_EXIT) {
    if (dec_proc(b, i, &c->from, &c->from_is_name, c->from_name) < 0 ||
        dec_pid(b, i, &c->to) < 0 || dec_ref(b, i, &c->ref) < 0)
      return PHC_EDECODE;
  } else if (dec_pid(b, i, &c->from) < 0 || dec_pid(b, i, &c->to) < 0) {
    return PHC_EDECODE;
  }
  if (c->has_token && skip(b, i) < 0) return PHC_EDECODE;
  if (is_payload_exit(op)) return payload_reason(c, payload, plen);
  return copy_term(b, i, &c->reason, &c->reason_len);
}

static int dec_spawn_request(const char *b, int *i, phc__ctrl_t *c,
                             const char *payload, int plen) {
  int ar;
  long arity;
  if (dec_ref(b, i, &c->ref) < 0 || dec_pid(b, i, &c->from) < 0 ||
      dec_pid(b, i, &c->group_leader) < 0 ||
      ei_decode_tuple_header(b, i, &ar) < 0 || ar != 3 ||
      phc__term_atom(b, i, c->mod, sizeof c->mod) < 0 ||
      phc__term_atom(b, i, c->fun, sizeof c->fun) < 0 ||
      ei_decode_long(b, i, &arity) < 0 || arity < 0 || arity > 255)
    return PHC_EDECODE;
  c->arity = (int)arity;
  if (copy_term(b, i, &c->spawn_opts, &c->spawn_opts_len) < 0)
    return PHC_EDECODE;
  if (c->has_token && skip(b, i) < 0) return PHC_EDECODE;
  return need_payload(c, payload, plen);
}

static int dec_spawn_reply(const char *b, int *i, phc__ctrl_t *c) {
  long flags;
  if (dec_ref(b, i, &c->ref) < 0 || dec_pid(b, i, &c->to) < 0 ||
      ei_decode_long(b, i, &flags) < 0)
    return PHC_EDECODE;
  c->spawn_flags = (int)flags;
  if (copy_term(b, i, &c->spawn_result, &c->spawn_result_len) < 0)
    return PHC_EDECODE;
  return c->has_token ? skip(b, i) : 0;
}

static int dec_body(const char *b, int *i, long op, phc__ctrl_t *c,
                    const char *payload, int plen) {
  unsigned long long id;
  switch (c->op) {
  case PHC_DOP_LINK:
  case PHC_DOP_UNLINK:
  case PHC_DOP_GROUP_LEADER:
    return dec_pid(b, i, &c->from) < 0 ? PHC_EDECODE : dec_pid(b, i, &c->to);
  case PHC_DOP_NODE_LINK: return 0;
  case PHC_DOP_SEND:
    if (skip(b, i) < 0 || dec_pid(b, i, &c->to) < 0) return PHC_EDECODE;
    if (c->has_token && skip(b, i) < 0) return PHC_EDECODE;
    return need_payload(c, payload, plen);
  case PHC_DOP_SEND_SENDER:
    if (dec_pid(b, i, &c->from) < 0 || dec_pid(b, i, &c->to) < 0)
      return PHC_EDECODE;
    if (c->has_token && skip(b, i) < 0) return PHC_EDECODE;
    return need_payload(c, payload, plen);
  case PHC_DOP_REG_SEND:
    c->to_is_name = 1;
    if (dec_pid(b, i, &c->from) < 0 || skip(b, i) < 0 ||
        phc__term_atom(b, i, c->to_name, sizeof c->to_name) < 0)
      return PHC_EDECODE;
    if (c->has_token && skip(b, i) < 0) return PHC_EDECODE;
    return need_payload(c, payload, plen);
  case PHC_DOP_ALIAS_SEND:
    if (dec_pid(b, i, &c->from) < 0 || dec_ref(b, i, &c->ref) < 0)
      return PHC_EDECODE;
    if (c->has_token && skip(b, i) < 0) return PHC_EDECODE;
    return need_payload(c, payload, plen);
  case PHC_DOP_EXIT:
  case PHC_DOP_EXIT2:
  case PHC_DOP_MONITOR_P_EXIT: return dec_exit(b, i, op, c, payload, plen);
  case PHC_DOP_MONITOR_P:
  case PHC_DOP_DEMONITOR_P:
    if (dec_pid(b, i, &c->from) < 0 ||
        dec_proc(b, i, &c->to, &c->to_is_name, c->to_name) < 0)
      return PHC_EDECODE;
    return dec_ref(b, i, &c->ref);
  case PHC_DOP_SPAWN_REQUEST: return dec_spawn_request(b, i, c, payload, plen);
  case PHC_DOP_SPAWN_REPLY: return dec_spawn_reply(b, i, c);
  case PHC_DOP_UNLINK_ID:
  case PHC_DOP_UNLINK_ID_ACK:
    if (ei_decode_ulonglong(b, i, &id) < 0) return PHC_EDECODE;
    c->unlink_id = id;
    return dec_pid(b, i, &c->from) < 0 ? PHC_EDECODE : dec_pid(b, i, &c->to);
  default: return PHC_EDECODE;
  }
}

int phc__ctrl_decode(const char *ctrl, int ctrl_len, const char *payload,
                     int payload_len, phc__ctrl_t *out) {
  memset(out, 0, sizeof *out);
  if (phc__term_check(ctrl, ctrl_len) < 0) return PHC_EDECODE;
  int i = 1, arity, want;
  long op;
  if (ei_decode_tuple_header(ctrl, &i, &arity) < 0 || arity < 1 ||
      ei_decode_long(ctrl, &i, &op) < 0 ||
      op_shape(op, &out->op, &out->has_token, &want) < 0 || arity != want)
    return PHC_EDECODE;
  int rc = dec_body(ctrl, &i, op, out, payload, payload_len);
  if (rc < 0 || i != ctrl_len) {
    phc__ctrl_clear(out);
    return PHC_EDECODE;
  }
  return 0;
}

void phc__ctrl_clear(phc__ctrl_t *c) {
  free(c->reason);
  free(c->spawn_opts);
  free(c->spawn_result);
  memset(c, 0, sizeof *c);
}

/* ---- encoders ---------------------------------------------------------- */

static int begin(ei_x_buff *x, int arity, long op) {
  x->index = 0;
  if (phc__x_version(x) < 0 || phc__x_tuple_header(x, arity) < 0 ||
      phc__x_long(x, op) < 0)
    return PHC_ENOMEM;
  return 0;
}

/* Append a term given with its version byte. */
static int put_term(ei_x_buff *x, const char *t, int len) {
  if (!t || len < 2 || (unsigned char)t[0] != 131) return PHC_EINVAL;
  return phc__x_append_buf(x, t + 1, len - 1) < 0 ? PHC_ENOMEM : 0;
}

static int ok(int rc) { return rc < 0 ? PHC_EINVAL : 0; }

int phc__ctrl_enc_send(ei_x_buff *x, const erlang_pid *from,
                       const erlang_pid *to, int use_sender) {
  if (use_sender && from) {
    if (begin(x, 3, PHC_DOP_SEND_SENDER) < 0) return PHC_ENOMEM;
    return ok(phc__x_pid(x, from) | phc__x_pid(x, to));
  }
  if (begin(x, 3, PHC_DOP_SEND) < 0) return PHC_ENOMEM;
  return ok(phc__x_atom(x, "") | phc__x_pid(x, to));
}

int phc__ctrl_enc_reg_send(ei_x_buff *x, const erlang_pid *from,
                           const char *to_name) {
  if (begin(x, 4, PHC_DOP_REG_SEND) < 0) return PHC_ENOMEM;
  return ok(phc__x_pid(x, from) | phc__x_atom(x, "") | phc__x_atom(x, to_name));
}

int phc__ctrl_enc_alias_send(ei_x_buff *x, const erlang_pid *from,
                             const erlang_ref *alias) {
  if (begin(x, 3, PHC_DOP_ALIAS_SEND) < 0) return PHC_ENOMEM;
  return ok(phc__x_pid(x, from) | phc__x_ref(x, alias));
}

int phc__ctrl_enc_link(ei_x_buff *x, const erlang_pid *from,
                       const erlang_pid *to) {
  if (begin(x, 3, PHC_DOP_LINK) < 0) return PHC_ENOMEM;
  return ok(phc__x_pid(x, from) | phc__x_pid(x, to));
}

int phc__ctrl_enc_unlink_id(ei_x_buff *x, uint64_t id, const erlang_pid *from,
                            const erlang_pid *to, int ack) {
  if (begin(x, 4, ack ? PHC_DOP_UNLINK_ID_ACK : PHC_DOP_UNLINK_ID) < 0)
    return PHC_ENOMEM;
  return ok(phc__x_ulonglong(x, id) | phc__x_pid(x, from) | phc__x_pid(x, to));
}

int phc__ctrl_enc_exit(ei_x_buff *x, const erlang_pid *from,
                       const erlang_pid *to, const char *reason, int len,
                       int exit2) {
  if (begin(x, 4, exit2 ? PHC_DOP_EXIT2 : PHC_DOP_EXIT) < 0) return PHC_ENOMEM;
  if (phc__x_pid(x, from) < 0 || phc__x_pid(x, to) < 0) return PHC_EINVAL;
  return put_term(x, reason, len);
}

int phc__ctrl_enc_monitor(ei_x_buff *x, const erlang_pid *from,
                          const erlang_pid *to, const char *to_name,
                          const erlang_ref *ref, int demonitor) {
  if (begin(x, 4, demonitor ? PHC_DOP_DEMONITOR_P : PHC_DOP_MONITOR_P) < 0)
    return PHC_ENOMEM;
  int rc = phc__x_pid(x, from);
  rc |= to_name ? phc__x_atom(x, to_name) : phc__x_pid(x, to);
  return ok(rc | phc__x_ref(x, ref));
}

int phc__ctrl_enc_monitor_exit(ei_x_buff *x, const erlang_pid *watched,
                               const char *watched_name,
                               const erlang_pid *watcher, const erlang_ref *ref,
                               const char *reason, int len) {
  if (begin(x, 5, PHC_DOP_MONITOR_P_EXIT) < 0) return PHC_ENOMEM;
  int rc = watched_name ? phc__x_atom(x, watched_name) : phc__x_pid(x, watched);
  if ((rc | phc__x_pid(x, watcher) | phc__x_ref(x, ref)) < 0) return PHC_EINVAL;
  return put_term(x, reason, len);
}

int phc__ctrl_enc_spawn_reply(ei_x_buff *x, const erlang_ref *req_id,
                              const erlang_pid *to, int flags,
                              const char *result, int len) {
  if (begin(x, 5, PHC_DOP_SPAWN_REPLY) < 0) return PHC_ENOMEM;
  if ((phc__x_ref(x, req_id) | phc__x_pid(x, to) | phc__x_long(x, flags)) < 0)
    return PHC_EINVAL;
  return put_term(x, result, len);
}
