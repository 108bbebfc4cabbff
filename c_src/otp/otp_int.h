/* otp_int.h - the OTP services' internal state, shared by the files of
 * c_src/otp (otp.c, rpc.c, release.c, net_kernel.c) and by nothing else.
 * Other modules use otp.h and its setters.
 *
 * Ownership: struct phc__otp_s (n->otp, one per node) owns the native
 * function table (uthash, by "mod:fun/arity") and holds the two handlers
 * the hub module sets. otp.c allocates and frees it.
 */
#ifndef PHC_OTP_OTP_INT_H
#define PHC_OTP_OTP_INT_H

#include "otp/otp.h"

typedef struct phc__native_s phc__native_t;

struct phc__otp_s {
  phc__closure_fn closure;    /* NULL: no closure known */
  phc__release_fn on_release; /* NULL: releases are not probed */
};

/* rpc.c: register the built-in natives (erlang:node/0, nodes/0, send/2). */
int phc__rpc_init(phc_node_t *n);

/* net_kernel.c, rpc.c: start the registered services. */
int phc__net_kernel_start(phc_node_t *n);
int phc__rex_start(phc_node_t *n);

/* release.c: ask a visible peer's rex for its OTP release. */
void phc__release_probe(phc_node_t *n, const char *peer);

#endif /* PHC_OTP_OTP_INT_H */
