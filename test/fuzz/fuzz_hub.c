/* fuzz_hub.c - the hub's handlers (and the otp servers beside them) fed
 * arbitrary terms: coordinator casts and calls, the eight events, pg
 * traffic, global's and rpc's messages. Input: records of
 * [target:8][len:16][term with version byte]; the target picks the
 * receiver (the coordinator's pid or a registered name). A term the wire
 * gate (phc__term_check) refuses is skipped, as ctrl decode would drop it.
 * One fresh node per input. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#include "term/term.h"

static void hub_deliver(fz_node_t *x, unsigned target, const char *b, int len) {
  static const char *names[] = {FZ_HUB, "global_name_server", "rex",
                                "net_kernel", "hub.lab.event_queue"};
  erlang_pid from = fz_peer_pid(133);
  target %= 7;
  if (target == 0)
    phc__proc_in_send(&x->node, &from, &x->h->coord, b, len);
  else if (target == 1)
    phc__proc_in_send_name(&x->node, &from, x->h->pg_name, b, len);
  else
    phc__proc_in_send_name(&x->node, &from, names[target - 2], b, len);
  fz_drain(x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int quiet;
  if (!quiet++) fz_quiet();
  fz_node_t *x = fz_node_new();
  size_t pos = 0;
  for (int k = 0; k < 64 && size - pos >= 3; k++) {
    unsigned target = data[pos];
    size_t len = (size_t)data[pos + 1] << 8 | data[pos + 2];
    pos += 3;
    if (len > size - pos) break;
    char *b = malloc(len ? len : 1);
    memcpy(b, data + pos, len);
    pos += len;
    if (phc__term_check(b, (int)len) == 0) hub_deliver(x, target, b, (int)len);
    free(b);
  }
  fz_node_free(x);
  return 0;
}
