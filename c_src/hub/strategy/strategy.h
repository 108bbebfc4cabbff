/* strategy.h - the hub's strategy seam: five tables, one per ProcessHub
 * strategy protocol.
 *
 * ProcessHub configures a hub with five strategies, each an Elixir struct
 * implementing a protocol (ProcessHub.Strategy.<Kind>.Base):
 *
 *   distribution        belongs_to/4, children_init/4   which nodes own a child
 *   redundancy          replication_factor/1,           how many copies, and
 *                       master_node/4                   which one is active
 *   migration           handle_migration/5              moving children to a
 *                                                       node that joined
 *   synchronization     propagate/6, init_sync/3,       keeping the registry
 *                       handle_synchronization/4        equal on every member
 *   partition tolerance toggle_lock?/3,                 when the hub stops
 *                       toggle_unlock?/3                serving (quorums)
 *
 * Every protocol also has init/2. Strategies that react to the cluster
 * (ConsistentHashing keeps its ring, the quorums count nodes) register
 * HookManager handlers in init/2 on ProcessHub; here they fill node_join /
 * node_leave in their base, which the hub calls at the same moments as
 * ProcessHub's pre_cluster_join / pre_cluster_leave hooks. node_leave is
 * also called with the local node when the hub shuts down (ConsistentHashing's
 * coordinator_shutdown handler).
 *
 * A strategy is one file in this folder that defines one const table, named
 * by its Elixir module ('Elixir.ProcessHub.Strategy.Redundancy.Singularity'),
 * and is listed in strategy.c. The hub holds, per kind, the table and a
 * zeroed state block of the table's state_size; it never looks inside a
 * strategy's state, and a strategy touches the hub only through hub.h (its
 * functions, and the hub's strategies when it calls another kind, as
 * ColdSwap calls the synchronization's propagate). Adding a strategy: write
 * the file, add its table to the list in strategy.c, add cmocka cases to
 * test/unit/test_strategy.c.
 *
 * The hub core calls strategies only through the phc__strat_* calls at the
 * end of this header, which pick the kind's table and state; strategy.c
 * owns the list of tables and each hub's phc__strategies_t lifecycle.
 *
 * This folder is part of the hub layer: strategies include hub.h, and the
 * hub core includes only this header.
 */
#ifndef PHC_HUB_STRATEGY_STRATEGY_H
#define PHC_HUB_STRATEGY_STRATEGY_H

#include <ei.h>
#include <stddef.h>

typedef struct phc_hub_s phc_hub_t;
typedef struct phc__reg_row_s phc__reg_row_t;

typedef enum phc__strat_kind {
  PHC__STRAT_DISTRIBUTION = 0,
  PHC__STRAT_REDUNDANCY,
  PHC__STRAT_MIGRATION,
  PHC__STRAT_SYNCHRONIZATION,
  PHC__STRAT_PARTITION,
  PHC__STRAT_KINDS
} phc__strat_kind_t;

/* What every strategy table starts with. */
typedef struct phc__strat_base_s {
  phc__strat_kind_t kind;
  const char *module; /* the Elixir module atom, UTF-8 */
  size_t state_size;  /* bytes of per-hub state (zeroed before init) */
  /* opts: the strategy struct's fields as an encoded keyword list or map
   * at buf[idx] (no version byte), or buf NULL for the defaults. Returns 0
   * or a negative PHC_E* code (unknown or invalid option). */
  int (*init)(phc_hub_t *h, void *st, const char *buf, int idx);
  /* Validate options without a hub (the config file, a peer's settings):
   * 0 or PHC_EINVAL after one log line naming the bad option. NULL:
   * phc__strat_no_opts. */
  int (*check)(const char *buf, int idx);
  void (*close)(phc_hub_t *h, void *st);                       /* may be NULL */
  void (*node_join)(phc_hub_t *h, void *st, const char *node); /* NULL */
  void (*node_leave)(phc_hub_t *h, void *st, const char *node); /* NULL */
  /* A function of the strategy's module that ProcessHub calls by name on
   * the hub's state: {exec_cast, {Module, Fn, Args}} casts (DynamicQuorum's
   * sync_quorum_log) and module functions over erpc (MajorityQuorum's
   * reset_cluster_size). Args: the encoded list at buf[args_idx]. 0, or
   * PHC_EINVAL for arguments it refuses, PHC_EUNDEF for an unknown fn.
   * NULL: none. */
  int (*exec)(phc_hub_t *h, void *st, const char *fn, const char *buf,
              int args_idx);
} phc__strat_base_t;

typedef struct phc__strat_dist_s {
  phc__strat_base_t base;
  /* Nodes that own child id cid (encoded, no version byte), at most
   * min(rf, max) of them, primary first. Returns how many, or a negative
   * PHC_E* code. */
  int (*belongs_to)(phc_hub_t *h, void *st, const char *cid, int cid_len,
                    int rf, const char **out, int max);
  /* Validate a start's children (list at buf[children_idx]) and opts
   * (buf[opts_idx], or opts_idx < 0 for none). 0, or a negative PHC_E*
   * code that fails the start. NULL: always 0. */
  int (*children_init)(phc_hub_t *h, void *st, const char *buf,
                       int children_idx, int opts_idx);
  /* A start arrived (pre_children_start, before placing): opts at
   * buf[opts_idx] (NULL: nothing to do). */
  void (*pre_start)(phc_hub_t *h, void *st, const char *buf, int opts_idx);
  /* The reason atom of the last children_init refusal (NULL: none). */
  const char *(*init_error)(phc_hub_t *h, void *st);
} phc__strat_dist_t;

typedef struct phc__strat_red_s {
  phc__strat_base_t base;
  int (*replication_factor)(phc_hub_t *h, void *st);
  /* The active replica among a child's nodes (n >= 1). */
  const char *(*master_node)(phc_hub_t *h, void *st, const char *cid,
                             int cid_len, const char *const *nodes, int n);
  /* A child started here as pid on nodes (post_children_start; NULL). */
  void (*post_start)(phc_hub_t *h, void *st, const char *cid, int cid_len,
                     const erlang_pid *pid, const char *const *nodes, int n);
} phc__strat_red_t;

typedef struct phc__strat_mig_s {
  phc__strat_base_t base;
  /* rows: this node's children that now belong to added_node. */
  void (*handle_migration)(phc_hub_t *h, void *st, phc__reg_row_t **rows, int n,
                           const char *added_node);
} phc__strat_mig_t;

typedef enum phc__strat_sync_op {
  PHC__STRAT_SYNC_ADD = 0, /* children registered on node */
  PHC__STRAT_SYNC_REM      /* children unregistered from node */
} phc__strat_sync_op_t;

typedef struct phc__strat_sync_s {
  phc__strat_base_t base;
  /* Tell the members about children (an encoded list, no version byte:
   * PostStartData maps for ADD, {Cid, Result, Node} for REM) that were
   * added to or removed from node. opts (encoded keyword list, no version
   * byte; NULL: []) travel with them and pick the members: {members, M}
   * with M global (the default), external, local or a node name. */
  void (*propagate)(phc_hub_t *h, void *st, const char *children, int len,
                    const char *node, phc__strat_sync_op_t op, const char *opts,
                    int opts_len);
  /* One periodic round (every sync_interval, when the hub is not locked). */
  void (*init_sync)(phc_hub_t *h, void *st);
  /* A peer's data arrived (buf[idx], no version byte). */
  void (*handle_synchronization)(phc_hub_t *h, void *st, const char *buf,
                                 int idx, const char *node);
} phc__strat_sync_t;

typedef struct phc__strat_part_s {
  phc__strat_base_t base;
  /* 1: the hub enters partition mode after node went down. */
  int (*toggle_lock)(phc_hub_t *h, void *st, const char *down_node);
  /* 1: the hub leaves partition mode after node came up. */
  int (*toggle_unlock)(phc_hub_t *h, void *st, const char *up_node);
} phc__strat_part_t;

/* One hub's strategies: a table and its state per kind. */
typedef struct phc__strategies_s {
  const phc__strat_base_t *table[PHC__STRAT_KINDS];
  void *state[PHC__STRAT_KINDS];
} phc__strategies_t;

/* ---- the tables ---------------------------------------------------------- */

/* The table of kind `kind` named `module`, or NULL. */
const phc__strat_base_t *phc__strat_find(phc__strat_kind_t kind,
                                         const char *module);
/* The default of each kind (ProcessHub's defaults): ConsistentHashing,
 * Singularity, ColdSwap, PubSub, Divergence. NULL for a bad kind. */
const phc__strat_base_t *phc__strat_default(phc__strat_kind_t kind);

/* For strategies without options: 0 when buf is NULL or the options at
 * buf[idx] are empty ([], #{} or a struct with no field), else PHC_EINVAL. */
int phc__strat_no_opts(const char *buf, int idx);

/* Call fn for each option of a keyword list or map at buf[idx] (a struct's
 * __struct__ key is passed over): key is the option's atom, buf[vidx] its
 * value. Stops at the first non-zero return. PHC_EINVAL for a term that
 * is neither, or an element that is not {Atom, Value}. */
int phc__strat_opts_each(const char *buf, int idx,
                         int (*fn)(void *arg, const char *key, const char *buf,
                                   int vidx),
                         void *arg);
/* The table's check (or phc__strat_no_opts) on options buf[idx]. */
int phc__strat_check(const phc__strat_base_t *t, const char *buf, int idx);
/* The kind whose key in ProcessHub's settings (and phc's config file) is
 * key ("redundancy_strategy", ...), or PHC__STRAT_KINDS. */
phc__strat_kind_t phc__strat_kind_of(const char *key);
const char *phc__strat_kind_key(phc__strat_kind_t kind);

/* ---- one hub's strategies ------------------------------------------------ */

/* Set s's `kind` to `t` (NULL: the default; else it must be of that kind)
 * with options buf[idx] (buf NULL: defaults). The kind's previous strategy
 * is closed first; then the state is allocated and init runs. On an error
 * the kind is left without a strategy. */
int phc__strategies_set(phc_hub_t *h, phc__strategies_t *s,
                        phc__strat_kind_t kind, const phc__strat_base_t *t,
                        const char *buf, int idx);
/* Run close and free every state. */
void phc__strategies_close(phc_hub_t *h, phc__strategies_t *s);
/* Call node_join / node_leave of every kind that has one, in kind order. */
void phc__strategies_node_join(phc_hub_t *h, phc__strategies_t *s,
                               const char *node);
void phc__strategies_node_leave(phc_hub_t *h, phc__strategies_t *s,
                                const char *node);

/* ---- the hub core's calls ------------------------------------------------ */

/* The owners of a child id: distribution belongs_to with the redundancy's
 * replication_factor, at most max. PHC_ESTATE when either kind is unset. */
int phc__strat_belongs_to(phc_hub_t *h, phc__strategies_t *s, const char *cid,
                          int cid_len, const char **out, int max);
int phc__strat_children_init(phc_hub_t *h, phc__strategies_t *s,
                             const char *buf, int children_idx, int opts_idx);
/* Why the last children_init failed, as ProcessHub's reason atom
 * ("invalid_children" when the strategy does not say). */
const char *phc__strat_init_error(phc_hub_t *h, phc__strategies_t *s);
void phc__strat_pre_start(phc_hub_t *h, phc__strategies_t *s, const char *buf,
                          int opts_idx);
int phc__strat_replication_factor(phc_hub_t *h, phc__strategies_t *s);
/* The redundancy's post_start for a child started here as pid; nodes: the
 * child's encoded list of node atoms at nbuf[nidx] (nidx < 0: none). */
void phc__strat_post_start(phc_hub_t *h, phc__strategies_t *s, const char *cid,
                           int cid_len, const erlang_pid *pid, const char *nbuf,
                           int nidx);
void phc__strat_handle_migration(phc_hub_t *h, phc__strategies_t *s,
                                 phc__reg_row_t **rows, int n,
                                 const char *added_node);
void phc__strat_propagate(phc_hub_t *h, phc__strategies_t *s,
                          const char *children, int len, const char *node,
                          phc__strat_sync_op_t op, const char *opts,
                          int opts_len);
void phc__strat_init_sync(phc_hub_t *h, phc__strategies_t *s);
void phc__strat_handle_sync(phc_hub_t *h, phc__strategies_t *s, const char *buf,
                            int idx, const char *node);
int phc__strat_toggle_lock(phc_hub_t *h, phc__strategies_t *s,
                           const char *down_node);
int phc__strat_toggle_unlock(phc_hub_t *h, phc__strategies_t *s,
                             const char *up_node);
/* exec of the hub's strategy whose module is `module`: PHC_EUNDEF when
 * no kind runs that module or it has no exec. */
int phc__strat_exec(phc_hub_t *h, phc__strategies_t *s, const char *module,
                    const char *fn, const char *buf, int args_idx);

/* ---- the quorum arithmetic (ProcessHub's, for the three quorums) -------- */

/* StaticQuorum: quorum_size <= nodes. */
int phc__quorum_static_present(long quorum_size, int nodes);
/* MajorityQuorum: nodes >= div(max_seen, 2) + 1. */
int phc__quorum_majority_has(int nodes, long max_seen);
/* DynamicQuorum: 100 - down / (connected + down) * 100 < quorum_size. */
int phc__quorum_dynamic_failure(double quorum_size, int connected, int down);

/* ---- the :elector leader view (elector.c, for the load balancer) ------- */

/* Start the node's elector_state (once; 0 when it runs already). */
int phc__elector_start(phc_hub_t *h);
/* The leader of the node's view into out; PHC_ENOPROC while none is known. */
int phc__elector_leader(phc_hub_t *h, char *out, size_t size);

#endif /* PHC_HUB_STRATEGY_STRATEGY_H */
