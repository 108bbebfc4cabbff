/* net_kernel.c - the registered process net_kernel. It answers the one
 * request other nodes make of it, {is_auth, Node} (net_adm:ping/1), with
 * yes; any other call gets {error, not_supported} rather than silence, so a
 * caller never hangs. */
#include "otp/otp_int.h"
#include "term/enc.h"
#include "term/term.h"

#include <stdio.h>

#define MOD "net_kernel"

/* Decode {'$gen_call', {Pid, Tag}, Request}; *req_idx points at Request. */
static int decode_gen_call(const char *buf, phc_from_t *from, int *req_idx) {
  int idx = 1, arity;
  char atom[MAXATOMLEN_UTF8];
  if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 3 ||
      phc__term_atom(buf, &idx, atom, sizeof atom) < 0 ||
      strcmp(atom, "$gen_call") != 0 ||
      ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 2 ||
      ei_decode_pid(buf, &idx, &from->pid) < 0)
    return PHC_EDECODE;
  int tag_start = idx;
  if (ei_skip_term(buf, &idx) < 0) return PHC_EDECODE;
  from->tag_len = idx - tag_start;
  if (from->tag_len > (int)sizeof from->tag) return PHC_EDECODE;
  memcpy(from->tag, buf + tag_start, (size_t)from->tag_len);
  *req_idx = idx;
  return 0;
}

static void net_kernel_handle(phc_proc_t *self, const char *buf, int len) {
  phc_from_t from;
  int idx, arity;
  char atom[MAXATOMLEN_UTF8];
  PHC__UNUSED(len);
  if (decode_gen_call(buf, &from, &idx) != 0) {
    PHC_LOG_D(MOD, "ignoring a message that is not a call");
    return;
  }
  ei_x_buff reply;
  phc__x_new_with_version(&reply);
  if (ei_decode_tuple_header(buf, &idx, &arity) == 0 && arity == 2 &&
      phc__term_atom(buf, &idx, atom, sizeof atom) == 0 &&
      !strcmp(atom, "is_auth")) {
    phc__x_atom(&reply, "yes");
  } else {
    phc__x_tuple_header(&reply, 2);
    phc__x_atom(&reply, "error");
    phc__x_atom(&reply, "not_supported");
  }
  phc_gen_reply(phc_proc_node(self), &from, reply.buff, reply.index);
  ei_x_free(&reply);
}

static const phc_proc_ops_t net_kernel_ops = {.name = MOD,
                                              .handle_msg = net_kernel_handle};

int phc__net_kernel_start(phc_node_t *n) {
  phc_pid_t pid;
  int rc = phc_spawn(n, &net_kernel_ops, NULL, NULL, 0, &pid);
  return rc ? rc : phc_register(n, "net_kernel", &pid);
}
