/* ctrl.h - encoding and decoding of distribution control messages.
 *
 * Pure functions over byte buffers (ei does the term work): a decoded
 * control message becomes a phc__ctrl_t whose op is the base operation
 * (the _TT variants fold into their base op with has_token set, and the
 * PAYLOAD_* exits fold into EXIT, EXIT2 and MONITOR_P_EXIT with the reason
 * taken from the payload). The encoders write the control tuple, with the
 * version byte, into an ei_x_buff.
 */
#ifndef PHC_CTRL_H
#define PHC_CTRL_H

#include "common.h"

enum phc__dop {
  PHC_DOP_LINK = 1,
  PHC_DOP_SEND = 2,
  PHC_DOP_EXIT = 3,
  PHC_DOP_UNLINK = 4,
  PHC_DOP_NODE_LINK = 5,
  PHC_DOP_REG_SEND = 6,
  PHC_DOP_GROUP_LEADER = 7,
  PHC_DOP_EXIT2 = 8,
  PHC_DOP_SEND_TT = 12,
  PHC_DOP_EXIT_TT = 13,
  PHC_DOP_REG_SEND_TT = 16,
  PHC_DOP_EXIT2_TT = 18,
  PHC_DOP_MONITOR_P = 19,
  PHC_DOP_DEMONITOR_P = 20,
  PHC_DOP_MONITOR_P_EXIT = 21,
  PHC_DOP_SEND_SENDER = 22,
  PHC_DOP_SEND_SENDER_TT = 23,
  PHC_DOP_PAYLOAD_EXIT = 24,
  PHC_DOP_PAYLOAD_EXIT_TT = 25,
  PHC_DOP_PAYLOAD_EXIT2 = 26,
  PHC_DOP_PAYLOAD_EXIT2_TT = 27,
  PHC_DOP_PAYLOAD_MONITOR_P_EXIT = 28,
  PHC_DOP_SPAWN_REQUEST = 29,
  PHC_DOP_SPAWN_REQUEST_TT = 30,
  PHC_DOP_SPAWN_REPLY = 31,
  PHC_DOP_SPAWN_REPLY_TT = 32,
  PHC_DOP_ALIAS_SEND = 33,
  PHC_DOP_ALIAS_SEND_TT = 34,
  PHC_DOP_UNLINK_ID = 35,
  PHC_DOP_UNLINK_ID_ACK = 36
};

typedef struct phc__ctrl_s {
  int op;        /* base op: SEND, REG_SEND, SEND_SENDER, EXIT, EXIT2, ... */
  int has_token; /* a _TT variant (the token is ignored) */
  erlang_pid from;
  erlang_pid to;
  int from_is_name; /* MONITOR_P_EXIT on a name */
  char from_name[PHC__ATOM_MAX];
  int to_is_name; /* REG_SEND, MONITOR_P/DEMONITOR_P name */
  char to_name[PHC__ATOM_MAX];
  erlang_ref ref;     /* monitor ref, alias, spawn ReqId */
  uint64_t unlink_id; /* UNLINK_ID, UNLINK_ID_ACK */
  /* EXIT, EXIT2, MONITOR_P_EXIT: the reason as an encoded term WITH the
   * version byte, malloc'ed; free with phc__ctrl_clear(). */
  char *reason;
  int reason_len;
  /* The message (SEND*, REG_SEND, ALIAS_SEND) or spawn argument list:
   * points into the payload buffer given to decode (version byte incl.). */
  const char *payload;
  int payload_len;
  /* SPAWN_REQUEST */
  erlang_pid group_leader;
  char mod[PHC__ATOM_MAX];
  char fun[PHC__ATOM_MAX];
  int arity;
  char *spawn_opts; /* encoded option list with version byte */
  int spawn_opts_len;
  /* SPAWN_REPLY */
  int spawn_flags;
  char *spawn_result; /* encoded pid or error atom, with version */
  int spawn_result_len;
} phc__ctrl_t;

/* Decode a control message; payload may be NULL. Returns 0 or PHC_EDECODE
 * (unknown op or malformed tuple). */
int phc__ctrl_decode(const char *ctrl, int ctrl_len, const char *payload,
                     int payload_len, phc__ctrl_t *out);
void phc__ctrl_clear(phc__ctrl_t *c);

/* Encoders: each resets x (index 0; x must come from ei_x_new*() or be
 * zeroed) and writes the version byte + control tuple. Return 0,
 * PHC_EINVAL or PHC_ENOMEM. */
int phc__ctrl_enc_send(ei_x_buff *x, const erlang_pid *from,
                       const erlang_pid *to, int use_sender);
int phc__ctrl_enc_reg_send(ei_x_buff *x, const erlang_pid *from,
                           const char *to_name);
int phc__ctrl_enc_alias_send(ei_x_buff *x, const erlang_pid *from,
                             const erlang_ref *alias);
int phc__ctrl_enc_link(ei_x_buff *x, const erlang_pid *from,
                       const erlang_pid *to);
int phc__ctrl_enc_unlink_id(ei_x_buff *x, uint64_t id, const erlang_pid *from,
                            const erlang_pid *to, int ack);
/* EXIT or EXIT2 (exit2 != 0) with the reason inside the tuple. reason has
 * the version byte. */
int phc__ctrl_enc_exit(ei_x_buff *x, const erlang_pid *from,
                       const erlang_pid *to, const char *reason, int len,
                       int exit2);
int phc__ctrl_enc_monitor(ei_x_buff *x, const erlang_pid *from,
                          const erlang_pid *to, const char *to_name,
                          const erlang_ref *ref, int demonitor);
int phc__ctrl_enc_monitor_exit(ei_x_buff *x, const erlang_pid *watched,
                               const char *watched_name,
                               const erlang_pid *watcher, const erlang_ref *ref,
                               const char *reason, int len);
/* SPAWN_REPLY {31, ReqId, To, Flags, Result}; result with version byte. */
int phc__ctrl_enc_spawn_reply(ei_x_buff *x, const erlang_ref *req_id,
                              const erlang_pid *to, int flags,
                              const char *result, int len);

#endif /* PHC_CTRL_H */
