/* fuzz_ctrl.c - control-message decode and dispatch into a node with a
 * process table, otp and a hub (fuzz_node.c): links, monitors, exits,
 * sends to pids and names, spawn requests with closures. Input: records of
 * [ctrl_len:16][payload_len:16][ctrl][payload] (big-endian lengths, both
 * terms with their version byte; payload_len 0 means none), decoded with
 * phc__ctrl_decode and dispatched as node.c does, one fresh node per
 * input. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static unsigned ctrl_u16(const uint8_t *p) {
  return (unsigned)p[0] << 8 | p[1];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int quiet;
  if (!quiet++) fz_quiet();
  fz_node_t *x = fz_node_new();
  size_t pos = 0;
  for (int k = 0; k < 64 && size - pos >= 4; k++) {
    size_t cl = ctrl_u16(data + pos), pl = ctrl_u16(data + pos + 2);
    pos += 4;
    if (cl + pl > size - pos) break;
    /* Exact-size copies: ASan sees any read past a term. */
    char *ctrl = malloc(cl ? cl : 1), *payload = pl ? malloc(pl) : NULL;
    memcpy(ctrl, data + pos, cl);
    if (pl) memcpy(payload, data + pos + cl, pl);
    pos += cl + pl;
    phc__ctrl_t c;
    if (phc__ctrl_decode(ctrl, (int)cl, payload, (int)pl, &c) == 0) {
      fz_dispatch(x, &c);
      phc__ctrl_clear(&c);
    } else {
      PHC_LOG_W("fuzz", "undecodable control message (%zu bytes): dropped", cl);
    }
    free(ctrl);
    free(payload);
  }
  fz_node_free(x);
  return 0;
}
