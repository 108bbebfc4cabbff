/* fuzz.h - what the libFuzzer harnesses in test/fuzz/ share.
 *
 * Each fuzz_*.c defines LLVMFuzzerTestOneInput for one surface a peer
 * reaches: the handshake, framing and fragment reassembly, control-message
 * decode and dispatch, the config parser, the term walker against ei and the
 * hub's handlers. Built with clang -fsanitize=fuzzer,address,undefined
 * (make fuzz, build-fuzz/) they fuzz; linked with replay.c's main() instead
 * (any compiler, make fuzz-replay) they run the saved regression inputs
 * under test/fuzz/regress/<harness>/ once each.
 *
 * fuzz_node.c builds the node the dispatch and hub harnesses feed: a
 * process table, otp (global, pg, net_kernel, rpc), the children registry
 * and one hub "lab", with a remote table that only counts what goes out.
 * Every input gets a fresh node, so a replayed input behaves as it did when
 * it was found.
 */
#ifndef PHC_FUZZ_FUZZ_H
#define PHC_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "dist/ctrl.h"
#include "hub/hub.h"
#include "proc/proc_int.h"

#define FZ_NODE "ph2@127.0.0.1"
#define FZ_PEER "ph1@127.0.0.1"
#define FZ_HUB "lab"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct fz_node_s {
  phc_node_t node;
  uv_loop_t loop;
  unsigned long sent; /* signals to other nodes */
  phc_hub_t *h;
} fz_node_t;

/* Quiet logs once per process; a fresh node; its teardown. */
void fz_quiet(void);
fz_node_t *fz_node_new(void);
void fz_node_free(fz_node_t *x);
/* Deliver what is queued (bounded; timers are not waited for). */
void fz_drain(fz_node_t *x);
/* A pid on FZ_PEER. */
erlang_pid fz_peer_pid(unsigned num);
/* A decoded control message into the node, as node.c dispatches it. */
void fz_dispatch(fz_node_t *x, const phc__ctrl_t *c);

#endif /* PHC_FUZZ_FUZZ_H */
