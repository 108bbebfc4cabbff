/* epmd.h - the EPMD client: phc's registration with the local epmd, the
 * lookup of a peer's port, and the wire messages both use.
 *
 * phc registers as a normal node with ALIVE2_REQ (node type 77, protocol
 * 0, versions 6..5) on a connection to 127.0.0.1 that it keeps open for
 * the life of the node: epmd forgets the name when that connection
 * closes. If no epmd answers, phc starts one (epmd -address 127.0.0.1
 * -daemon) and retries. A peer's port comes from a PORT_PLEASE2_REQ to the
 * epmd on the peer's host, on a connection that closes with the answer.
 *
 * The encoders and decoders are pure byte work. The registration
 * (phc__epmd_reg_t) and the lookups (phc__epmd_lookup_t) are structs the
 * dist layer embeds: each owns its socket (and the registration its retry
 * timer) and says when they are closed, so their owner knows when it may
 * free them. Neither knows anything about connections or processes. Log
 * lines carry the module name "dist", as the rest of the layer.
 */
#ifndef PHC_DIST_EPMD_H
#define PHC_DIST_EPMD_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#define PHC__EPMD_PORT 4369
#define PHC__EPMD_ALIVE2_REQ 120
#define PHC__EPMD_ALIVE2_RESP 121
#define PHC__EPMD_ALIVE2_X_RESP 118
#define PHC__EPMD_PORT_PLEASE2_REQ 122
#define PHC__EPMD_PORT2_RESP 119

/* ---- the wire messages -------------------------------------------------- */

/* The epmd port: $ERL_EPMD_PORT if set and valid, else 4369. */
unsigned short phc__epmd_port(void);

/* ALIVE2_REQ with its 2-byte length prefix. Returns the byte count or
 * PHC_EINVAL (alive too long / buffer too small). */
int phc__epmd_enc_alive2_req(uint8_t *buf, size_t cap, unsigned short port,
                             const char *alive);

/* ALIVE2_RESP (2-byte creation) or ALIVE2_X_RESP (4-byte creation).
 * Returns the bytes consumed (>0), 0 if more bytes are needed, PHC_EEXIST
 * if epmd refused the name (result != 0), PHC_EIO for anything else. */
int phc__epmd_dec_alive2_resp(const uint8_t *buf, size_t len,
                              uint32_t *creation);

/* PORT_PLEASE2_REQ with its length prefix. Returns the byte count. */
int phc__epmd_enc_port_please2(uint8_t *buf, size_t cap, const char *alive);

/* PORT2_RESP. Returns the bytes consumed (>0), 0 if more are needed,
 * PHC_ENOTCONN if the node is unknown to epmd, PHC_EIO if malformed. */
int phc__epmd_dec_port2_resp(const uint8_t *buf, size_t len,
                             unsigned short *port, int *highest, int *lowest);

/* ---- registration ------------------------------------------------------- */

/* Our name with the local epmd. The fields are the client's; read
 * `creation` once registered. */
typedef struct phc__epmd_reg_s {
  uv_loop_t *loop;
  char name[PHC__ATOM_MAX]; /* alive@host, for the log */
  char alive[PHC__ATOM_MAX];
  unsigned short port; /* the port we listen on */
  uv_tcp_t tcp;
  int tcp_inited;
  uv_connect_t creq;
  uv_timer_t retry;
  uint8_t buf[64];
  size_t len;
  int attempts;
  int spawned_epmd;
  int registered;
  int err; /* the registration failed: a PHC_E code */
  uint32_t creation;
  int closing;
  int open; /* handles not yet closed */
  void (*closed)(void *arg);
  void *closed_arg;
} phc__epmd_reg_t;

/* Set up r on loop (its retry timer is a handle from now on: close r with
 * phc__epmd_reg_close even if it never registers). */
void phc__epmd_reg_init(phc__epmd_reg_t *r, uv_loop_t *loop);
/* Register name ("alive@host") for port with the epmd on 127.0.0.1,
 * starting one if none answers. Runs the loop (UV_RUN_ONCE) until epmd
 * answers, so other handles on it may run meanwhile. Returns 0 with
 * *creation set, or PHC_EEXIST (name taken) / PHC_EIO. The connection
 * then stays open; if epmd closes it later, one warn line says so. */
int phc__epmd_register(phc__epmd_reg_t *r, const char *name,
                       unsigned short port, uint32_t *creation);
/* Close the connection and the retry timer; closed(arg) runs once both
 * are closed (from a close callback, never inside this call). */
void phc__epmd_reg_close(phc__epmd_reg_t *r, void (*closed)(void *arg),
                         void *arg);

/* ---- looking up a peer's port ------------------------------------------- */

typedef struct phc__epmd_lookup_s phc__epmd_lookup_t;
struct phc__epmd_lookup_s {
  void *data; /* the caller's */
  /* The answer, at most once: rc 0 with the peer's port (its epmd
   * offers distribution version 6, OTP 23+), or a PHC_E code with `why`
   * set for the caller's log line. The socket is closing already. */
  void (*done)(phc__epmd_lookup_t *l, int rc, unsigned short port);
  /* The socket is closed: the struct may be freed. Runs once per start. */
  void (*closed)(phc__epmd_lookup_t *l);
  char why[96];
  /* the client's */
  uv_tcp_t tcp;
  int tcp_inited;
  int active; /* done is still owed */
  uv_connect_t creq;
  uv_write_t wreq;
  char node[PHC__ATOM_MAX];
  uint8_t out[300];
  uint8_t buf[512];
  size_t len;
};

/* Ask the epmd at host (its port is phc__epmd_port()) for node's
 * ("alive@host") port. Set data, done and closed first. Returns 0, or
 * PHC_EIO with `why` set when the connect cannot even start: then done is
 * never called, closed still is. */
int phc__epmd_lookup_start(phc__epmd_lookup_t *l, uv_loop_t *loop,
                           const struct sockaddr_in *host, const char *node);
/* Stop a lookup: done is not called any more; closed still runs. A no-op
 * when the socket is already closing. */
void phc__epmd_lookup_cancel(phc__epmd_lookup_t *l);

#endif /* PHC_DIST_EPMD_H */
