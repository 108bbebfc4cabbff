/* fuzz_frame.c - framing and fragment reassembly: the input is the byte
 * stream after the handshake, pushed into the frame reader in chunks whose
 * sizes come from the input itself (and the limits: small or default); every
 * packet goes through phc__frame_parse as conn.c does, and a complete message's
 * control term through phc__ctrl_decode. A garbage packet ends the stream (the
 * peer would be dropped). */
#include <stdlib.h>

#include "fuzz.h"

#include "dist/frame.h"

static int frame_packets(phc__frame_rd_t *rd, phc__reasm_t *r) {
  const uint8_t *pkt;
  size_t len;
  int rc;
  while ((rc = phc__frame_rd_next(rd, &pkt, &len)) != 0) {
    if (rc < 0) return -1;
    if (len == 0) continue; /* a tick */
    phc__frame_msg_t m = {0};
    rc = phc__frame_parse(r, pkt, len, &m);
    if (rc < 0) return -1;
    if (rc == 1) {
      phc__ctrl_t c;
      if (phc__ctrl_decode(m.ctrl, m.ctrl_len, m.payload, m.payload_len, &c) ==
          0)
        phc__ctrl_clear(&c);
      free(m.owned);
    }
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  phc__frame_rd_t rd;
  phc__reasm_t r;
  phc__frame_rd_init(&rd);
  phc__reasm_init(&r);
  /* First byte: the chunk size (1..128) the stream arrives in; its top
   * bit sets small limits (max_packet 4096, max_fragmented 8192). */
  size_t chunk = size ? (size_t)(data[0] & 0x7f) + 1 : 1, pos = size ? 1 : 0;
  if (size && (data[0] & 0x80)) {
    rd.max = 4096;
    r.max = 8192;
  }
  while (pos < size) {
    size_t n = size - pos < chunk ? size - pos : chunk;
    phc__frame_rd_push(&rd, data + pos, n);
    pos += n;
    if (frame_packets(&rd, &r) < 0) break;
  }
  phc__reasm_free(&r);
  phc__frame_rd_free(&rd);
  return 0;
}
