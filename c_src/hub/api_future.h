/* api_future.h - the collector process behind an awaitable
 * ProcessHub.start_children/3 called on phc over erpc, and the
 * %ProcessHub.Future{} the call returns (see api_future.c). It owns its
 * process and the results it gathers; api_ctl.c starts it before it casts
 * the starts with the collector in reply_to. */
#ifndef PHC_HUB_API_FUTURE_H
#define PHC_HUB_API_FUTURE_H

#include "hub/hub.h"

/* Start a collector for the start of the children whose ids are the
 * encoded list ids (no version byte), cast to nodes: *out gets its pid
 * and future the Future struct (no version byte). timeout: ms a node may
 * stay silent; await_timeout: ms before the collector gives up. 0 or a
 * negative PHC_E* code. */
int phc__hub_future_start(phc_hub_t *h, const char *const *nodes, int nnodes,
                          const char *ids, long timeout, long await_timeout,
                          erlang_pid *out, ei_x_buff *future);

#endif /* PHC_HUB_API_FUTURE_H */
