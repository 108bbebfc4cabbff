/* otp.c - the OTP services' lifecycle, their handlers and the few calls
 * they make into the distribution layer. */
#include "otp/otp_int.h"

#include <stdlib.h>

#include "dist/dist.h"
#include "otp/global.h"

int phc__otp_init(phc_node_t *n) {
  n->otp = phc__xcalloc(1, sizeof *n->otp);
  int rc = phc__rpc_init(n);
  rc = rc ? rc : phc__dsup_absent_init(n);
  rc = rc ? rc : phc__introspect_init(n);
  rc = rc ? rc : phc__net_kernel_start(n);
  rc = rc ? rc : phc__rex_start(n);
  rc = rc ? rc : phc__global_start(n);
  return rc;
}

void phc__otp_close(phc_node_t *n) {
  if (!n->otp) return;
  phc__natives_free(n);
  free(n->otp);
  n->otp = NULL;
}

void phc__otp_set_closure_handler(phc_node_t *n, phc__closure_fn fn) {
  if (n->otp) n->otp->closure = fn;
}

void phc__otp_set_release_handler(phc_node_t *n, phc__release_fn fn) {
  if (n->otp) n->otp->on_release = fn;
}

void phc__otp_nodeup(phc_node_t *n, const char *peer, int hidden) {
  if (!hidden && n->otp && n->otp->on_release) phc__release_probe(n, peer);
}

void phc__otp_probe_release(phc_node_t *n, const char *peer) {
  if (n->otp && n->otp->on_release) phc__release_probe(n, peer);
}

int phc__otp_peers(const phc_node_t *n, const char **names, int max) {
  if (!n->dist) return 0;
  return phc__dist_peers(n->dist, names, max, 0);
}

int phc__otp_send_ctrl(phc_node_t *n, const char *peer, ei_x_buff *ctrl,
                       const char *payload, int payload_len) {
  int rc = phc__dist_send(n->dist, peer, ctrl->buff, ctrl->index, payload,
                          payload_len);
  ei_x_free(ctrl);
  return rc;
}
