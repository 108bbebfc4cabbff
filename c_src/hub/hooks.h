/* hooks.h - ProcessHub's hook handlers, for C.
 *
 * A hub keeps, per hook key (pre_cluster_join_hook, ...), an ordered list of
 * handlers. Registration follows ProcessHub 0.4.1's HookManager exactly: the
 * new handlers are put in front of the registered ones, the list is sorted
 * by priority with a stable ascending sort and then reversed (so higher
 * priorities run first, and equal priorities run in the reverse of that
 * order), and a handler id may appear once per key. A handler may carry an
 * argument template (an encoded list): at dispatch every top-level '_' in it
 * is replaced by the hook data (nested ones are not), as HookManager does;
 * without a template the handler gets the data itself. The alter hook
 * (child_data_alter_hook) threads the data through the handlers: each
 * handler's output is the next one's input.
 *
 * Where ProcessHub passes one of its structs as hook data (StartHandle to
 * pre_children_start_hook, ClusterUpdate.NodeDown to
 * post_cluster_leave_hook), phc passes a map with the same __struct__ and
 * keys, built by the phc__hooks_x_* encoders: the %ProcessHub.Hub{} has
 * phc's own pids and two references standing for the ets tables (made once
 * per hub), and each strategy struct carries its module (and PubSub's
 * sync_interval), not the options the other strategies may hold.
 */
#ifndef PHC_HUB_HOOKS_H
#define PHC_HUB_HOOKS_H

#include "common.h"

typedef struct phc__hooks_s phc__hooks_t;
typedef struct phc_hub_s phc_hub_t;

phc__hooks_t *phc__hooks_new(void);
void phc__hooks_free(phc__hooks_t *h);
/* PHC_EEXIST if an id would appear twice under key (nothing changes). */
int phc__hooks_register(phc__hooks_t *h, const char *key,
                        const phc_hook_handler_t *handlers, int n);
int phc__hooks_cancel(phc__hooks_t *h, const char *key, const char *id);
/* The registered ids under key, in dispatch order; returns the count. */
int phc__hooks_ids(const phc__hooks_t *h, const char *key, const char **ids,
                   int max);
/* data: encoded term with version byte. */
void phc__hooks_dispatch(phc__hooks_t *h, const char *key, const char *data,
                         int len);
/* Runs the alter chain; *out gets the final data (version byte included). */
int phc__hooks_alter(phc__hooks_t *h, const char *key, const char *data,
                     int len, ei_x_buff *out);

/* ---- ProcessHub's structs as hook data ----------------------------------- */

/* %ProcessHub.Hub{hub_id, procs, storage} */
void phc__hooks_x_hub(phc_hub_t *h, ei_x_buff *x);
/* The strategy struct of kind (a phc__strat_kind_t): %Module{...}. */
void phc__hooks_x_strategy(phc_hub_t *h, int kind, ei_x_buff *x);
/* %ProcessHub.Handler.ChildrenAdd.StartHandle{} for children buf[cidx] and
 * start_opts buf[opts_idx] (no version bytes). */
void phc__hooks_x_start_handle(phc_hub_t *h, const char *buf, int cidx,
                               int opts_idx, ei_x_buff *x);
/* %ProcessHub.Handler.ClusterUpdate.NodeDown{} for removed node, with
 * rem_node_cids the encoded list cids (no version byte). */
void phc__hooks_x_node_down(phc_hub_t *h, const char *node, const char *cids,
                            int cids_len, ei_x_buff *x);

#endif /* PHC_HUB_HOOKS_H */
