/* api_future.h - the collector process behind an awaitable
 * ProcessHub.start_children/3 called on phc over erpc, and the
 * %ProcessHub.Future{} the call returns (see api_future.c). It owns its
 * process and the results it gathers; api_ctl.c starts it before it casts
 * the starts with the collector in reply_to. */
#ifndef PHC_HUB_API_FUTURE_H
#define PHC_HUB_API_FUTURE_H

#include "hub/hub.h"

/* What the collector collects and how it answers (the call's options). */
typedef struct phc__hub_future_opts_s {
  int stop;         /* collect_stop_results into a %StopResult{} */
  int async_wait;   /* the answer formatted as StartResult/StopResult.format */
  int return_first; /* with async_wait: only the first item (start_child) */
  int rollback;     /* on_failure: rollback: a failed start stops the started */
  int nowait;       /* nobody awaits it: exit once done */
  long timeout, await_timeout;
} phc__hub_future_opts_t;

/* Start a collector as o says, collecting from nodes; ids: the required
 * ids (an encoded list, no version byte; NULL for none). *out gets its pid
 * and future the Future struct. 0 or a negative PHC_E* code. */
int phc__hub_future_start_opts(phc_hub_t *h, const char *const *nodes,
                               int nnodes, const char *ids,
                               const phc__hub_future_opts_t *o, erlang_pid *out,
                               ei_x_buff *future);

/* Start a collector for the start of the children whose ids are the
 * encoded list ids (no version byte), cast to nodes: *out gets its pid
 * and future the Future struct (no version byte). timeout: ms a node may
 * stay silent; await_timeout: ms before the collector gives up. 0 or a
 * negative PHC_E* code. */
int phc__hub_future_start(phc_hub_t *h, const char *const *nodes, int nnodes,
                          const char *ids, long timeout, long await_timeout,
                          erlang_pid *out, ei_x_buff *future);

#endif /* PHC_HUB_API_FUTURE_H */
