/* otp_int.h - the OTP services' internal state, shared by the files of
 * c_src/otp (otp.c, rpc.c, rex.c, introspect*.c, release.c, net_kernel.c)
 * and by nothing else.
 * Other modules use otp.h and its setters.
 *
 * Ownership: struct phc__otp_s (n->otp, one per node) owns the native
 * function table (uthash, by "mod:fun/arity") and holds the two handlers
 * the hub module sets. otp.c allocates and frees it.
 */
#ifndef PHC_OTP_OTP_INT_H
#define PHC_OTP_OTP_INT_H

#include <stdint.h>

#include "otp/otp.h"

typedef struct phc__native_s phc__native_t;

struct phc__otp_s {
  phc__closure_fn closure;    /* NULL: no closure known */
  phc__release_fn on_release; /* NULL: releases are not probed */
  int raised_exit; /* the last native failed with exit class (rex.c) */
  uint64_t wall_start, wall_last, runtime_last, reds_last; /* statistics/1 */
  uint64_t reductions; /* messages handled by rex and natives run */
};

/* rpc.c: run mod:fun(args) from the native table. *result gets the return
 * value (0) or the failure reason (< 0), encoded after a version byte.
 * args: the encoded argument list (no version byte). After a failure,
 * n->otp->raised_exit tells exit class (phc__otp_raise_exit) from error. */
int phc__otp_run_native(phc_node_t *n, const erlang_pid *caller,
                        const char *mod, const char *fun, const char *args,
                        int args_len, ei_x_buff *result);
/* Append the term inside an encoded-with-version buffer to x. */
int phc__otp_append_term(ei_x_buff *x, const ei_x_buff *term);
/* [{Mod, Fun, Args, Info}]: the stack erpc reports for a failed apply;
 * Info is [] or, for a BIF (bif != 0), [{error_info, #{module =>
 * erl_erts_errors}}]. */
void phc__otp_encode_stack(ei_x_buff *x, const char *mod, const char *fun,
                           const char *args, int args_len, int bif);

/* introspect.c, introspect_proc.c: register the introspection natives
 * (erlang:memory/0,1, system_info/1, processes/0, process_info/1,2, ...)
 * and the DynamicSupervisor answers of a node that runs none. */
int phc__introspect_init(phc_node_t *n);
int phc__introspect_proc_init(phc_node_t *n);
int phc__dsup_absent_init(phc_node_t *n);

/* rpc.c: register the built-in natives (erlang:node/0, nodes/0, send/2). */
int phc__rpc_init(phc_node_t *n);

/* net_kernel.c, rpc.c: start the registered services. */
int phc__net_kernel_start(phc_node_t *n);
int phc__rex_start(phc_node_t *n);

/* release.c: ask a visible peer's rex for its OTP release. */
void phc__release_probe(phc_node_t *n, const char *peer);

#endif /* PHC_OTP_OTP_INT_H */
