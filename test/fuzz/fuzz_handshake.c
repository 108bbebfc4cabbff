/* fuzz_handshake.c - the handshake state machine from either side: the
 * first input byte picks acceptor or initiator and the status an acceptor
 * answers, the second the chunk size the peer's bytes arrive in; the rest
 * is what the peer sends. Our own output is drained and dropped. */
#include <stdlib.h>

#include "fuzz.h"

#include "dist/handshake.h"

static const int hs_status[] = {PHC__HS_ST_OK, PHC__HS_ST_OK_SIMULTANEOUS,
                                PHC__HS_ST_NOK, PHC__HS_ST_ALIVE,
                                PHC__HS_ST_NOT_ALLOWED};

/* As conn.c's on_handshake_bytes: feed, answer a name, feed again. */
static int hs_feed(phc__hs_t *hs, const uint8_t *data, size_t n, int status) {
  size_t used = 0;
  int rc = phc__hs_feed(hs, data, n, &used);
  if (used > n) abort();
  hs->out_len = 0;
  while (rc == PHC__HS_NEED_STATUS) {
    if (phc__hs_set_status(hs, status) < 0) return -1;
    rc = phc__hs_feed(hs, NULL, 0, &used);
    hs->out_len = 0;
  }
  return rc;
}

static int hs_run(phc__hs_t *hs, const uint8_t *data, size_t size, size_t chunk,
                  int status) {
  size_t pos = 0;
  while (pos < size) {
    size_t n = size - pos < chunk ? size - pos : chunk;
    int rc = hs_feed(hs, data + pos, n, status);
    if (rc < 0 || rc == PHC__HS_DONE || rc == PHC__HS_NOK) return rc;
    pos += n;
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  int initiator = data[0] & 1;
  int status = hs_status[(data[0] >> 1) % 5];
  size_t chunk = (size_t)data[1] + 1;
  phc__hs_t hs;
  phc__hs_init(&hs, initiator, "phc@127.0.0.1", "cookie",
               PHC__DFLAGS_OURS | PHC_DFLAG_PUBLISHED, 1700000001, 0x12345678u,
               initiator ? "a@127.0.0.1" : NULL);
  hs.out_len = 0;
  hs_run(&hs, data + 2, size - 2, chunk, status);
  (void)phc__hs_eof_reason(&hs);
  phc__hs_free(&hs);
  return 0;
}
