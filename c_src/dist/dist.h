/* dist.h - the Erlang distribution layer on one libuv loop.
 *
 * It owns the listening socket, the epmd registration (ALIVE2, kept open),
 * every connection to another node and its handshake (the OTP 23+ 'N'
 * handshake, both directions, with DFLAG_PUBLISHED unless hidden), framing
 * (2-byte during the handshake, 4-byte after), ticks, and fragment
 * reassembly. It knows nothing about processes: a complete control message
 * (and its payload, if any) goes up through on_message as encoded terms that
 * start with the version byte; the node sends control messages down with
 * phc__dist_send(). Sending to a node that is not connected starts a
 * connection (epmd PORT_PLEASE2, then the handshake) and queues the data
 * until it is up; if the connection cannot be made the queue is dropped and
 * on_nodedown reports it with was_up 0.
 *
 * Notes for the node glue:
 * - on_message buffers (ctrl, payload) are owned by dist and valid only
 *   during the call; copy what you keep. Messages arrive in order per peer.
 *   ctrl is structurally valid ETF (bounds-checked) but not yet checked as a
 *   control tuple: if phc__ctrl_decode() refuses it, log and call
 *   phc__dist_disconnect(), as OTP does with a bad control message.
 * - Callbacks may call any phc__dist_* function, including send/disconnect.
 * - phc__dist_send() copies its input. While a peer is being connected the
 *   data waits in a per-peer queue (unbounded); when the handshake
 *   completes the queue is written first, then on_nodeup runs. A failed
 *   connect drops the queue (one log line) and calls on_nodedown(peer, 0).
 *   Sending to our own name is PHC_EINVAL.
 * - Messages go out in the 131 68 0 header form (what OTP wants once
 *   FRAGMENTS is negotiated); phc never fragments what it sends.
 * - on_nodedown is not called for connections closed by phc__dist_close(),
 *   nor for incoming handshakes that fail (wrong cookie: one warn line)
 *   unless that connection had taken over our own simultaneous connect
 *   (then was_up 0). phc__dist_disconnect() does call it.
 * - phc__dist_start() runs the loop (UV_RUN_ONCE) until epmd answers, so
 *   other handles on the loop may run meanwhile.
 * - phc__dist_free() only frees memory: call phc__dist_close() first and
 *   let the loop run until done() fires (a never-started dist too).
 * - Under inet_tls (ssl_dist_optfile set) every connection is TLS from its
 *   first byte, as OTP's inet_tls_dist: epmd sees nothing different, the
 *   handshake's messages are 4-byte framed inside TLS, and a peer whose
 *   certificate the optfile refuses is one log line (tls.h).
 *
 * The files: dist.c (this API, the listener, outgoing connects), conn.c
 * (a connection's lifetime, handshake, reading, writing and ticks; both
 * share dist_int.h), epmd.c (the epmd client: registration and port
 * lookups), handshake.c, frame.c and ctrl.c (pure byte work), tls.c and
 * tls_opts.c (TLS sessions, the optfile).
 */
#ifndef PHC_DIST_H
#define PHC_DIST_H

#include "common.h"

/* Distribution flags (kernel/include/dist.hrl). */
#define PHC_DFLAG_PUBLISHED 0x01ULL
#define PHC_DFLAG_ATOM_CACHE 0x02ULL
#define PHC_DFLAG_EXTENDED_REFERENCES 0x04ULL
#define PHC_DFLAG_DIST_MONITOR 0x08ULL
#define PHC_DFLAG_FUN_TAGS 0x10ULL
#define PHC_DFLAG_DIST_MONITOR_NAME 0x20ULL
#define PHC_DFLAG_HIDDEN_ATOM_CACHE 0x40ULL
#define PHC_DFLAG_NEW_FUN_TAGS 0x80ULL
#define PHC_DFLAG_EXTENDED_PIDS_PORTS 0x100ULL
#define PHC_DFLAG_EXPORT_PTR_TAG 0x200ULL
#define PHC_DFLAG_BIT_BINARIES 0x400ULL
#define PHC_DFLAG_NEW_FLOATS 0x800ULL
#define PHC_DFLAG_UNICODE_IO 0x1000ULL
#define PHC_DFLAG_DIST_HDR_ATOM_CACHE 0x2000ULL
#define PHC_DFLAG_SMALL_ATOM_TAGS 0x4000ULL
#define PHC_DFLAG_UTF8_ATOMS 0x10000ULL
#define PHC_DFLAG_MAP_TAG 0x20000ULL
#define PHC_DFLAG_BIG_CREATION 0x40000ULL
#define PHC_DFLAG_SEND_SENDER 0x80000ULL
#define PHC_DFLAG_BIG_SEQTRACE_LABELS 0x100000ULL
#define PHC_DFLAG_EXIT_PAYLOAD 0x400000ULL
#define PHC_DFLAG_FRAGMENTS 0x800000ULL
#define PHC_DFLAG_HANDSHAKE_23 0x1000000ULL
#define PHC_DFLAG_UNLINK_ID 0x2000000ULL
#define PHC_DFLAG_MANDATORY_25_DIGEST 0x4000000ULL
#define PHC_DFLAG_SPAWN (0x01ULL << 32)
#define PHC_DFLAG_NAME_ME (0x02ULL << 32)
#define PHC_DFLAG_V4_NC (0x04ULL << 32)
#define PHC_DFLAG_ALIAS (0x08ULL << 32)

typedef struct phc__dist_s phc__dist_t;

typedef struct phc__dist_cb_s {
  void *ctx;
  /* A control message from peer. ctrl and payload start with 131; payload
   * is NULL (payload_len 0) when the message has none. The buffers live
   * only during the call. */
  void (*on_message)(void *ctx, const char *peer, const char *ctrl,
                     int ctrl_len, const char *payload, int payload_len);
  /* The handshake with peer completed. */
  void (*on_nodeup)(void *ctx, const char *peer, uint64_t peer_flags,
                    int peer_hidden);
  /* The connection is gone (was_up 1) or could not be made (was_up 0). */
  void (*on_nodedown)(void *ctx, const char *peer, int was_up);
} phc__dist_cb_t;

typedef struct phc__dist_config_s {
  const char *name; /* full name, "alive@host" */
  const char *cookie;
  int hidden;
  unsigned net_ticktime; /* seconds, >0 */
  unsigned short port;   /* 0: any */
  phc_limits_t limits;   /* 0 fields: the defaults (phc.h) */
  /* non-NULL: inet_tls with this ssl_dist_optfile (phc__dist_new reads it
   * and loads its certificates; a bad one is PHC_EINVAL after one error
   * line) */
  const char *ssl_dist_optfile;
} phc__dist_config_t;

int phc__dist_new(phc__dist_t **out, uv_loop_t *loop,
                  const phc__dist_config_t *cfg, const phc__dist_cb_t *cb);
/* Listen on 127.0.0.1 and register with epmd (start one on 127.0.0.1 if
 * none answers). Runs the loop until the registration is answered, then
 * returns 0 with *creation set, or a negative error. */
int phc__dist_start(phc__dist_t *d, uint32_t *creation);
/* Start connecting to peer (no-op if connected or connecting). */
int phc__dist_connect(phc__dist_t *d, const char *peer);
/* Send one control message (+ optional payload) to peer, connecting first
 * if needed. ctrl and payload start with 131. */
int phc__dist_send(phc__dist_t *d, const char *peer, const char *ctrl,
                   int ctrl_len, const char *payload, int payload_len);
int phc__dist_is_up(const phc__dist_t *d, const char *peer);
/* Connected peers; visible only unless include_hidden. Returns count. */
int phc__dist_peers(const phc__dist_t *d, const char **names, int max,
                    int include_hidden);
uint64_t phc__dist_peer_flags(const phc__dist_t *d, const char *peer);
int phc__dist_disconnect(phc__dist_t *d, const char *peer);
/* Close every connection, the listener and the epmd socket. done(arg) runs
 * once every handle is closed. */
void phc__dist_close(phc__dist_t *d, void (*done)(void *arg), void *arg);
void phc__dist_free(phc__dist_t *d);

#endif /* PHC_DIST_H */
