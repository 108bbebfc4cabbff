/* dist_int.h - the distribution layer's internal structures, shared by
 * dist.c (the public API, the listener, outgoing connects) and conn.c (a
 * connection's lifetime, its reading, writing, handshake and ticks), and
 * by nothing else. Other modules use dist.h.
 *
 * Ownership: the dist (struct phc__dist_s, one per node) owns the listener,
 * the ticker, the epmd registration (epmd.h) and every connection, whether
 * it is resolving, looking up the peer's port, connecting, handshaking or
 * up. The limits (phc_limits_t, defaults filled in by phc__dist_new) are
 * enforced here: max_packet and max_fragmented by each connection's reader
 * and reassembler, max_handshakes on accept, handshake_ms by the setup
 * timer, max_out_queue on every write and on the queue before the
 * connection is up. A connection (conn_t) owns its socket, its setup timer, its
 * epmd lookup, its handshake state, its reader and reassembler and the queue of
 * messages that wait for it to come up. It is freed when the last of its
 * handles and requests is done (refs), and the dist's done() runs once
 * every connection and every handle of its own is gone.
 *
 * Under inet_tls (d->tls set) each connection has a TLS session (tls.h)
 * from its first byte: conn.c feeds it what the socket reads and hands the
 * plaintext to the handshake or the reader, and phc__conn_write encrypts;
 * nothing above those two places knows TLS is there.
 */
#ifndef PHC_DIST_DIST_INT_H
#define PHC_DIST_DIST_INT_H

#include <sys/queue.h>

#include <uthash.h>

#include "dist/dist.h"
#include "dist/epmd.h"
#include "dist/frame.h"
#include "dist/handshake.h"
#include "dist/tls.h"

#define PHC__DIST_MOD "dist"

enum phc__conn_state {
  C_RESOLVE = 1, /* getaddrinfo on the peer's host */
  C_EPMD,        /* asking the peer's epmd for its port */
  C_CONNECT,     /* tcp connect to the peer */
  C_HANDSHAKE,
  C_UP,
  C_NOK_WAIT, /* lost a simultaneous connect: wait for the peer's one */
  C_CLOSING
};

typedef struct qmsg_s {
  TAILQ_ENTRY(qmsg_s) link;
  size_t len;
  char data[];
} qmsg_t;

typedef struct conn_s conn_t;
struct conn_s {
  phc__dist_t *d;
  char peer[PHC__ATOM_MAX]; /* known at once when outgoing, after the name
                               when incoming */
  int outgoing;
  int state;
  int in_table; /* owns d->by_name[peer] */
  int refs;     /* open handles and pending requests */
  uv_tcp_t tcp;
  int tcp_inited;
  phc__epmd_lookup_t lookup; /* the peer's port (outgoing) */
  uv_getaddrinfo_t gai;
  uv_connect_t creq;
  uv_timer_t timer; /* setup timeout */
  struct sockaddr_in addr;
  phc__hs_t hs;
  int hs_inited;
  phc__tls_t *tls; /* inet_tls: the session every byte passes through */
  phc__frame_rd_t rd;
  phc__reasm_t reasm;
  TAILQ_HEAD(, qmsg_s) queue;
  uint64_t peer_flags;
  size_t queued; /* bytes in queue (limits.max_out_queue) */
  size_t slow;   /* bytes waiting when max_out_queue was hit (0: never) */
  int took_over; /* won a simultaneous connect: holds the queue */
  int takeover;  /* replaces the up connection to the same peer ("alive") */
  /* ticks, as dist_util:send_tick/2 */
  uint64_t reads, writes;
  uint64_t tk_read, tk_write;
  int tk_tick, tk_ticked;
  UT_hash_handle hh;
  LIST_ENTRY(conn_s) all;
};

struct phc__dist_s {
  uv_loop_t *loop;
  char name[PHC__ATOM_MAX];
  char cookie[256];
  int hidden;
  unsigned ticktime;
  unsigned short port;
  phc_limits_t limits; /* every field set (the defaults filled in) */
  int hs_capped;       /* max_handshakes was hit and logged */
  phc__dist_cb_t cb;
  uv_tcp_t listener;
  phc__epmd_reg_t reg;
  uv_timer_t ticker;
  uint32_t creation;
  conn_t *by_name;
  LIST_HEAD(, conn_s) conns;
  int started;
  int closing;
  int open; /* own handles (the registration counts as one) not yet closed */
  void (*done)(void *);
  void *done_arg;
  phc__tls_ctx_t *tls; /* inet_tls (NULL: plain TCP) */
  char rbuf[65536];
  char tbuf[16384]; /* plaintext out of a TLS session */
};

/* ---- conn.c ------------------------------------------------------------- */

/* The connection that holds peer's name (any state), or NULL. */
conn_t *phc__conn_find(const phc__dist_t *d, const char *peer);
/* c takes peer's name in d->by_name. */
void phc__conn_put(conn_t *c);
/* A new connection with one reference (dropped when its timer closes). */
conn_t *phc__conn_new(phc__dist_t *d, int outgoing, const char *peer);
/* Drop a reference: the last one frees c. */
void phc__conn_unref(conn_t *c);
/* Start the setup timeout (net_setuptime). */
void phc__conn_arm(conn_t *c);
/* Close everything, silently: no callbacks. */
void phc__conn_close(conn_t *c);
/* Close with one log line and the nodedown callback the state calls for. */
void phc__conn_fail(conn_t *c, int level, const char *why);
/* Write to c's socket (copied when it must wait). 0 or PHC_EIO. */
int phc__conn_write(conn_t *c, const void *data, size_t len);
/* c->tcp is connected: run the handshake on it. */
void phc__conn_start_handshake(conn_t *c);
/* One tick round over the connections that are up (the ticker's job). */
void phc__conn_tick_all(phc__dist_t *d);
/* Run d->done if d is closing and nothing of it is left. */
void phc__dist_maybe_done(phc__dist_t *d);

#endif /* PHC_DIST_DIST_INT_H */
