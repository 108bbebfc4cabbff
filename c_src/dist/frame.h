/* frame.h - what travels on a distribution connection after the handshake.
 *
 * Pure byte work, no sockets: the 4-byte length framing (a zero-length
 * packet is a tick), splitting a message packet (131 68 0 header form or
 * 'p' pass-through) into its control term and optional payload, reassembly of
 * fragmented messages (the 131,69 DIST_FRAG_HEADER / 131,70 DIST_FRAG_CONT
 * headers with zero atom-cache refs, as sent to a peer without
 * DIST_HDR_ATOM_CACHE). Every control term and payload passes term.h's bounded
 * walker here, so that garbage from the wire is caught before ei ever reads it.
 * A reader owns its input buffer; a reassembler owns the partial messages it
 * holds.
 */
#ifndef PHC_DIST_FRAME_H
#define PHC_DIST_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "common.h"

/* The default limits on a peer's packets and on the bytes of its
 * unfinished fragmented messages (phc_limits_t: max_packet, max_fragmented). */
#define PHC__FRAME_MAX (64u * 1024u * 1024u)

typedef struct phc__frame_rd_s {
  uint8_t *buf;
  size_t len, pos, cap;
  size_t max;       /* largest packet accepted; set after init (0: default) */
  size_t announced; /* the length of the packet refused with PHC_ELIMIT */
} phc__frame_rd_t;

void phc__frame_rd_init(phc__frame_rd_t *rd);
void phc__frame_rd_free(phc__frame_rd_t *rd);
void phc__frame_rd_push(phc__frame_rd_t *rd, const uint8_t *data, size_t len);
/* The next complete packet: 1 with pkt and len set (valid until the next
 * push), 0 when more bytes are needed, PHC_ELIMIT when the next packet
 * announces more than rd->max bytes (rd->announced holds its length).
 * A tick is a packet with len 0. */
int phc__frame_rd_next(phc__frame_rd_t *rd, const uint8_t **pkt, size_t *len);

/* Write the 4-byte length header for a packet of len bytes. */
void phc__frame_put_len(uint8_t out[4], uint32_t len);

/* A message as phc sends it, length header included: with DFLAG_FRAGMENTS
 * negotiated OTP expects the header form 131 68 0 (no atom-cache refs)
 * followed by the control term and payload WITHOUT their version bytes
 * (a 'p' pass-through packet is refused as "incompatible"). ctrl and
 * payload (may be NULL / 0) start with 131. */
size_t phc__frame_enc_len(int ctrl_len, int payload_len);
void phc__frame_enc(char *out, const char *ctrl, int ctrl_len,
                    const char *payload, int payload_len);

/* One complete message: ctrl and payload start with 131; payload NULL
 * when absent. Both point into the packet or into `owned`, which the
 * caller frees (free()) after use. */
typedef struct phc__frame_msg_s {
  const char *ctrl;
  int ctrl_len;
  const char *payload;
  int payload_len;
  char *owned;
} phc__frame_msg_t;

typedef struct phc__frag_s {
  uint64_t seq;
  uint64_t next_id; /* the fragment id expected next */
  char *buf;
  size_t len, cap;
  TAILQ_ENTRY(phc__frag_s) link;
} phc__frag_t;

typedef struct phc__reasm_s {
  TAILQ_HEAD(, phc__frag_s) frags;
  int count;
  size_t held; /* bytes in all unfinished messages */
  size_t max;  /* limit on held; set after init (0: PHC__FRAME_MAX) */
} phc__reasm_t;

void phc__reasm_init(phc__reasm_t *r);
void phc__reasm_free(phc__reasm_t *r);

/* Parse one non-empty packet. Returns 1 with *msg filled when a message is
 * complete, 0 when the packet was a fragment of an unfinished message,
 * PHC_ELIMIT when the unfinished messages would hold more than r->max bytes,
 * or PHC_EDECODE when the packet is garbage (the caller drops the peer). */
int phc__frame_parse(phc__reasm_t *r, const uint8_t *pkt, size_t len,
                     phc__frame_msg_t *msg);

#endif /* PHC_DIST_FRAME_H */
