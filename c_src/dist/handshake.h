/* handshake.h - the OTP 23+ distribution handshake as a pure state machine.
 *
 * One phc__hs_t drives one side of one handshake: feed it the bytes read
 * from the socket, send whatever it queues in `out`. It speaks the 'N'
 * (HANDSHAKE_23) variant both as initiator (send_name, recv status, recv
 * challenge, send reply, recv ack) and as acceptor (recv name, send status,
 * send challenge, recv reply, send ack), 2-byte framed. The digest is
 * md5(cookie ++ decimal(challenge)) from libcrypto. It owns its input and
 * output buffers and nothing else: the decisions that need the whole node
 * (which status to answer to a name: simultaneous connects, a connection
 * that is already up) are asked of the caller through PHC__HS_NEED_STATUS.
 */
#ifndef PHC_DIST_HANDSHAKE_H
#define PHC_DIST_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

#include "dist/dist.h"

/* Flags OTP 25 insists on (MANDATORY_DFLAGS_25). */
#define PHC__DFLAGS_MANDATORY                                                  \
  (PHC_DFLAG_EXTENDED_REFERENCES | PHC_DFLAG_FUN_TAGS |                        \
   PHC_DFLAG_EXTENDED_PIDS_PORTS | PHC_DFLAG_UTF8_ATOMS |                      \
   PHC_DFLAG_NEW_FUN_TAGS | PHC_DFLAG_BIG_CREATION | PHC_DFLAG_NEW_FLOATS |    \
   PHC_DFLAG_MAP_TAG | PHC_DFLAG_EXPORT_PTR_TAG | PHC_DFLAG_BIT_BINARIES |     \
   PHC_DFLAG_HANDSHAKE_23)

/* What phc advertises (PUBLISHED is added unless hidden). */
#define PHC__DFLAGS_OURS                                                       \
  (PHC__DFLAGS_MANDATORY | PHC_DFLAG_DIST_MONITOR |                            \
   PHC_DFLAG_DIST_MONITOR_NAME | PHC_DFLAG_SMALL_ATOM_TAGS |                   \
   PHC_DFLAG_SEND_SENDER | PHC_DFLAG_EXIT_PAYLOAD | PHC_DFLAG_FRAGMENTS |      \
   PHC_DFLAG_UNLINK_ID | PHC_DFLAG_MANDATORY_25_DIGEST | PHC_DFLAG_SPAWN |     \
   PHC_DFLAG_V4_NC | PHC_DFLAG_ALIAS)

enum phc__hs_result {
  PHC__HS_CONTINUE = 0,    /* need more bytes */
  PHC__HS_DONE = 1,        /* handshake complete */
  PHC__HS_NEED_STATUS = 2, /* acceptor: peer named itself; call set_status */
  PHC__HS_NOK = 3          /* initiator: peer said nok (simultaneous connect
                              lost: the peer's own connection will win) */
};

/* The status an acceptor answers to a name (dist_util's send_status). */
enum phc__hs_status {
  PHC__HS_ST_OK = 0,
  PHC__HS_ST_OK_SIMULTANEOUS,
  PHC__HS_ST_NOK,
  PHC__HS_ST_ALIVE,
  PHC__HS_ST_NOT_ALLOWED
};

typedef struct phc__hs_s {
  int initiator;
  int state; /* internal */
  char my_name[PHC__ATOM_MAX];
  char cookie[256];
  uint64_t my_flags;
  uint32_t my_creation;
  uint32_t my_challenge;
  char peer_name[PHC__ATOM_MAX];
  uint64_t peer_flags;
  uint32_t peer_creation;
  uint32_t peer_challenge;
  int alive_confirmed; /* acceptor: the peer answered "true" to "alive" */
  uint8_t *in;         /* unconsumed input */
  size_t in_len, in_cap;
  uint8_t *out; /* bytes to send, drained by the caller */
  size_t out_len, out_cap;
  char err[PHC__ATOM_MAX + 200]; /* why it failed, for the one log line */
} phc__hs_t;

/* my_flags: what to advertise. challenge: our random challenge (given so
 * tests are repeatable). peer: expected peer name (initiator only). The
 * initiator's send_name is queued in out at once. */
void phc__hs_init(phc__hs_t *hs, int initiator, const char *my_name,
                  const char *cookie, uint64_t my_flags, uint32_t creation,
                  uint32_t challenge, const char *peer);
void phc__hs_free(phc__hs_t *hs);

/* Feed bytes. *consumed is how many of them belong to the handshake. On
 * DONE, hs->in[0..in_len) holds the first post-handshake bytes. Returns a
 * phc__hs_result or a negative error (PHC_EAUTH, PHC_EIO, PHC_ESTATE) with
 * hs->err set. Call again with len 0 to resume after set_status. */
int phc__hs_feed(phc__hs_t *hs, const uint8_t *data, size_t len,
                 size_t *consumed);

/* Acceptor: answer the peer's name (after PHC__HS_NEED_STATUS). Queues the
 * status (and the challenge when the handshake goes on). Returns 0, or
 * PHC_ESTATE when the status ends the handshake (nok, not_allowed). */
int phc__hs_set_status(phc__hs_t *hs, int status);

/* Why the peer closing the socket now most likely means (for the one log
 * line): e.g. a cookie mismatch after our challenge reply. */
const char *phc__hs_eof_reason(const phc__hs_t *hs);

/* md5(cookie ++ decimal(challenge)) */
void phc__hs_digest(const char *cookie, uint32_t challenge, uint8_t out[16]);

#endif /* PHC_DIST_HANDSHAKE_H */
