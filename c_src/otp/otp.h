/* otp.h - the services every Erlang node answers, and the node glue.
 *
 * node.c owns phc_node_t's lifecycle and routes between the distribution
 * layer and the process runtime: control messages from dist are decoded
 * (dist/ctrl.h) and handed to the phc__proc_in_* entry points, and the
 * runtime's signals to other nodes are encoded and sent through dist.
 * The services are ordinary processes on the runtime: net_kernel (is_auth,
 * so net_adm:ping/1 gets pong), rex (the old rpc server, for ei_rpc
 * callers), global_name_server (global.h). Spawn requests (erpc, rpc,
 * Node.spawn) are dispatched to the table of native functions here; a
 * function not in the table fails exactly as an undefined function does
 * on a BEAM node.
 */
#ifndef PHC_OTP_H
#define PHC_OTP_H

#include "../node.h"
#include "../dist/ctrl.h"

typedef struct phc__native_s phc__native_t;

/* A handler for closures that arrive as erlang:apply(Fun, []) (Node.spawn,
 * erpc). It encodes the closure's return value into *result and returns 0,
 * or returns PHC_EUNDEF for a closure it does not recognise. */
typedef int (*phc__closure_fn)(phc_node_t *n, const erlang_fun *fun,
                               ei_x_buff *result);

/* A visible peer's OTP release became known (release.c). */
typedef void (*phc__release_fn)(phc_node_t *n, const char *peer, int release);

struct phc__otp_s {
  phc__native_t *natives; /* uthash by "mod:fun/arity" */
  phc__closure_fn closure; /* set by the hub module; NULL: none known */
  phc__release_fn on_release; /* set by the hub module */
};

/* Ask a visible peer's rex for its OTP release (release.c). */
void phc__release_probe(phc_node_t *n, const char *peer);

/* Set up n->otp, register the built-in natives and start the services.
 * Called by phc_node_start() once the runtime exists. */
int phc__otp_init(phc_node_t *n);
void phc__otp_close(phc_node_t *n);

phc_native_fn phc__native_find(phc_node_t *n, const char *mod, const char *fun,
                               int arity);

/* A SPAWN_REQUEST arrived from peer. */
void phc__otp_spawn_request(phc_node_t *n, const phc__ctrl_t *c);

/* Run a native the way erpc:execute_call/4 would: on success *reason gets
 * {Ref, return, Result}; on failure {Ref, error, Reason, Stack} (undef for
 * unknown functions). ref_term: the encoded Ref (no version byte). args:
 * the encoded argument list (no version byte). */
int phc__otp_erpc_reason(phc_node_t *n, const erlang_pid *caller,
                         const char *ref_term, int ref_len, const char *mod,
                         const char *fun, const char *args, int args_len,
                         ei_x_buff *reason);

/* Send an encoded control message (+ optional payload) to peer; frees
 * ctrl. */
int phc__node_send_ctrl(phc_node_t *n, const char *peer, ei_x_buff *ctrl,
                        const char *payload, int payload_len);

int phc__net_kernel_start(phc_node_t *n);
int phc__rex_start(phc_node_t *n);

/* Built-in child types and their start functions (c_src/children). */
int phc__children_register(phc_node_t *n);

#endif /* PHC_OTP_H */
