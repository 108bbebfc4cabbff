/* otp.h - the services every Erlang node answers.
 *
 * The services are ordinary processes on the runtime: net_kernel (is_auth,
 * so net_adm:ping/1 gets pong), rex (rex.c: every request OTP's rpc
 * module sends it), global_name_server (global.h), the introspection
 * natives (introspect*.c). Spawn requests (erpc, rpc,
 * Node.spawn) are dispatched to the table of native functions here; a
 * function not in the table fails exactly as an undefined function does
 * on a BEAM node. otp owns n->otp: the native table and the two handlers
 * the hub module sets (closures, peer releases), through the setters
 * below. The node (c_src/node.c) starts and closes it and tells it about
 * spawn requests and nodeups.
 */
#ifndef PHC_OTP_OTP_H
#define PHC_OTP_OTP_H

#include "dist/ctrl.h"
#include "node.h"

/* A handler for closures that arrive as erlang:apply(Fun, []) (Node.spawn,
 * erpc). It encodes the closure's return value into *result and returns 0,
 * or returns PHC_EUNDEF for a closure it does not recognise. */
typedef int (*phc__closure_fn)(phc_node_t *n, const erlang_fun *fun,
                               ei_x_buff *result);

/* A visible peer's OTP release became known (release.c); 0: the peer did
 * not say within the probe's time. */
typedef void (*phc__release_fn)(phc_node_t *n, const char *peer, int release);

/* A DynamicSupervisor run by a layer above (c_src/dsup), reached by
 * Elixir's DynamicSupervisor functions over rpc/erpc (dsup_absent.c).
 * fun: "start_child" (arg: the child {Start, Restart, Shutdown, Type,
 * Modules} as DynamicSupervisor builds it), "terminate_child" (arg: the
 * pid), "which_children" or "count_children" (no arg). It answers as a
 * native does (result, 0 or a failure), or returns PHC_ENOPROC when it
 * runs no supervisor named sup (the answer of a node without it follows). */
typedef int (*phc__dynsup_fn)(phc_node_t *n, const char *sup, const char *fun,
                              const char *arg, int arg_len, ei_x_buff *result);

/* rex.c: a native that fails with this (after encoding Reason into its
 * result) raises exit:Reason rather than error:Reason. */
int phc__otp_raise_exit(phc_node_t *n);

/* Set up n->otp, register the built-in natives and start the services.
 * Called by phc_node_start() once the runtime exists. */
int phc__otp_init(phc_node_t *n);
void phc__otp_close(phc_node_t *n);

/* The closure handler (NULL: no closure is known) and the handler told of
 * each visible peer's OTP release (NULL: releases are not probed). */
void phc__otp_set_closure_handler(phc_node_t *n, phc__closure_fn fn);
void phc__otp_set_release_handler(phc_node_t *n, phc__release_fn fn);
/* The DynamicSupervisor handler (NULL: phc runs none). */
void phc__otp_set_dynsup_handler(phc_node_t *n, phc__dynsup_fn fn);

/* A peer came up: a visible one gets its release probed when a release
 * handler is set. */
void phc__otp_nodeup(phc_node_t *n, const char *peer, int hidden);
/* Ask peer's release again (when a release handler is set); the handler
 * hears the answer, or release 0 when the peer does not say within 5 s. */
void phc__otp_probe_release(phc_node_t *n, const char *peer);

/* The names of the connected visible peers (up to max); 0 before the
 * distribution layer exists. */
int phc__otp_peers(const phc_node_t *n, const char **names, int max);

/* Free n->natives (the table lives on the node so natives can be registered
 * before phc_node_start); safe to call twice. */
void phc__natives_free(phc_node_t *n);

phc_native_fn phc__native_find(phc_node_t *n, const char *mod, const char *fun,
                               int arity);

/* rex.c: a native that fails with this (after encoding Reason into its
 * result) raises exit:Reason rather than error:Reason. */
int phc__otp_raise_exit(phc_node_t *n);

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

/* Send an encoded control message (+ optional payload) to peer through
 * the distribution layer; frees ctrl. */
int phc__otp_send_ctrl(phc_node_t *n, const char *peer, ei_x_buff *ctrl,
                       const char *payload, int payload_len);

#endif /* PHC_OTP_OTP_H */
