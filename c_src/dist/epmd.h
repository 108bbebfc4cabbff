/* epmd.h - the EPMD wire messages phc uses, as pure encoders/decoders.
 *
 * phc registers as a normal node with ALIVE2_REQ (node type 77, protocol
 * 0, versions 6..5) on a connection it keeps open, and looks peers up with
 * PORT_PLEASE2_REQ. This module only builds and parses the bytes; the
 * sockets live in dist.c. It owns nothing.
 */
#ifndef PHC_DIST_EPMD_H
#define PHC_DIST_EPMD_H

#include <stddef.h>
#include <stdint.h>

#define PHC__EPMD_PORT 4369
#define PHC__EPMD_ALIVE2_REQ 120
#define PHC__EPMD_ALIVE2_RESP 121
#define PHC__EPMD_ALIVE2_X_RESP 118
#define PHC__EPMD_PORT_PLEASE2_REQ 122
#define PHC__EPMD_PORT2_RESP 119

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

#endif /* PHC_DIST_EPMD_H */
