/* hub.h - one ProcessHub hub as phc runs it.
 *
 * A hub owns what a BEAM member's Initializer owns: the coordinator process
 * registered as <HubId> (it takes the start_children / stop_children /
 * exec_cast casts and the eight blockade events), a sink registered as
 * 'hub.<HubId>.event_queue', the pg scope 'hub.<HubId>.event_queue_pg'
 * (c_src/otp/pg), the hash ring (ring.h), the registry mirror
 * (registry.h), the hook handlers (hooks.h), hub_nodes, its five
 * strategies (strategy/strategy.h), and a one_for_one supervisor
 * (c_src/proc/supervisor) hosting the C children that belong here.
 *
 * Everything a BEAM coordinator hands to tasks runs here synchronously, on
 * the loop, in the order the messages arrive: a C node has no task to
 * interleave, so handlers never race each other. Events are sent as plain
 * {Event, Payload} messages to the pg members the blockade selection
 * (global / local / external / [Node]) picks, exactly as blockade does.
 * The handlers follow ProcessHub 0.4.1's coordinator and handlers, one
 * file each:
 *
 *   hub.c        lifecycle, the coordinator process, event dispatch, the
 *                lock, the periodic timers, the ring's atom encoding
 *   start.c      StartHandle: starting children, forwarding, start results
 *   stop.c       StopHandle and local terminations
 *   events.c     registry events (registration, unregistration, pid update,
 *                sync) and the supervisor's events about its children
 *   cluster.c    hub joins and leaves (NodeUp, NodeDown), our own leave
 *   closures.c   ProcessHub closures that arrive by spawn request
 *   api.c        the C API and the 'Elixir.ProcessHub' natives for erpc
 *   child_data.c ChildData maps and the helpers these files share
 *
 * What ProcessHub leaves to its strategies goes through the strategy seam
 * (strategy/strategy.h) and nowhere else: which nodes own a child
 * (distribution belongs_to with the redundancy's replication_factor), what
 * a join migrates (migration handle_migration), how registrations,
 * unregistrations and the periodic sync reach the members
 * (synchronization propagate, init_sync, handle_synchronization), and
 * whether a node going down locks the hub (partition toggle_lock). Every
 * hub starts with ProcessHub's defaults, one file each in strategy/:
 * ConsistentHashing (the only code that changes the ring's nodes),
 * Singularity, ColdSwap, PubSub and Divergence.
 */
#ifndef PHC_HUB_HUB_H
#define PHC_HUB_HUB_H

#include "hub/hooks.h"
#include "hub/registry.h"
#include "hub/ring.h"
#include "hub/strategy/strategy.h"
#include "node.h"
#include "otp/pg.h"
#include "proc/supervisor.h"
#include "term/term.h"

#define PHC__HUB_MAX_NODES 64
#define PHC__HUB_MAX_REPLY_TO 16 /* reply_to pids answered per start/stop */

/* A handover state that arrived before its child (HotSwap exec_cast). */
typedef struct phc__hub_handover_s {
  char *cid;
  int cid_len;
  char *state; /* with version byte */
  int state_len;
  struct phc__hub_handover_s *next;
} phc__hub_handover_t;

/* A coordinator message held while the hub's strategies are asked for
 * (adopt.c), with version byte. */
typedef struct phc__hub_held_s {
  char *buf;
  int len;
  struct phc__hub_held_s *next;
} phc__hub_held_t;

typedef struct phc__hub_term_s { /* a child the hub is terminating */
  char *id;
  struct phc__hub_term_s *next;
} phc__hub_term_t;

struct phc_hub_s {
  phc_node_t *n;
  char id[PHC__ATOM_MAX];
  char eq_name[PHC__ATOM_MAX];
  char pg_name[PHC__ATOM_MAX];
  erlang_pid coord;
  erlang_pid eq;
  phc__pg_t *pg;
  phc__ring_t ring; /* the distribution's (ConsistentHashing) */
  int ring_fixed;   /* encoding given by config, not by peers */
  phc__strategies_t strat;
  char nodes[PHC__HUB_MAX_NODES][PHC__ATOM_MAX]; /* hub_nodes, in order */
  int nnodes;
  /* peers that joined before their OTP release was known: they enter the
   * ring (and nodes) when it is (cluster.c) */
  char pending[PHC__HUB_MAX_NODES][PHC__ATOM_MAX];
  int npending;
  phc__reg_t reg;
  phc__hooks_t *hooks;
  phc__sup_t *sup;
  erlang_pid sup_pid;
  int locked;
  int partitioned; /* partition mode: children stopped, starts refused */
  int leaving;
  unsigned discover_ms;
  unsigned sync_ms;
  uint64_t propagate_timer;
  uint64_t sync_timer;
  uint64_t resync_timer; /* the synchronization round after a join */
  uint64_t unlock_timer;
  phc__hub_handover_t *handovers;
  phc__hub_term_t *terminating;
  char *cfg_strat; /* configured [{Key, {Module, Opts}}], version byte */
  int cfg_strat_len;
  int strat_asking;  /* a peer is being asked for the hub's strategies */
  int strat_adopted; /* a peer answered: its strategies run here */
  char strat_asked[PHC__ATOM_MAX]; /* the peer asked last */
  phc__hub_held_t *held;           /* held while asking, oldest first */
  phc__hub_held_t **held_tail;
  int nheld;
  int held_full;       /* nheld reached its limit (warned) */
  erlang_ref poll_ref; /* -hidden: the last ProcessHub.nodes/1 asked */
  char *static_specs;  /* encoded list with version byte, or NULL */
  int static_specs_len;
  phc_hub_t *next;
};

struct phc__hubs_s {
  phc_hub_t *list;
  char last_peer[PHC__ATOM_MAX]; /* the peer whose release we last learned */
  int last_release;
  /* connected peers whose release is known, or was given up on */
  char known[PHC__HUB_MAX_NODES][PHC__ATOM_MAX];
  int nknown;
};

/* ---- hub.c: lifecycle, events ---------------------------------------- */

/* Free every hub of the node (the node calls it last, at close). */
void phc__hubs_free(phc_node_t *n);
/* A peer's OTP release became known (otp's release handler; release 0:
 * the peer did not say, and the ring keeps its encoding). Hubs admit the
 * peer if it joined meanwhile. */
void phc__hubs_peer_release(phc_node_t *n, const char *peer, int release);
/* Whether peer's release is known (or was given up on); forget it when the
 * peer goes down (it may come back on another release). */
int phc__hubs_release_known(const phc_node_t *n, const char *peer);
void phc__hubs_release_forget(phc_node_t *n, const char *peer);

phc_hub_t *phc__hub_find(phc_node_t *n, const char *id);
/* Send {Event, Payload} (payload: encoded, no version byte) to the pg
 * members of group Event picked by members: "global", "local",
 * "external", or a node name (members_node). */
void phc__hub_dispatch(phc_hub_t *h, const char *event, const char *members,
                       const char *payload, int len);
/* Send {'$gen_cast', Req} to {HubId, node}. req: no version byte. */
void phc__hub_cast(phc_hub_t *h, const char *node, const char *req, int len);
void phc__hub_lock(phc_hub_t *h);
void phc__hub_unlock(phc_hub_t *h);
/* ProcessHub's State.toggle_quorum_failure / toggle_quorum_success: enter
 * partition mode (lock with no reset, stop every local child, keep the
 * registry) or leave it (a fresh supervisor, unlock). Each does nothing
 * when the hub is already in that mode. */
void phc__hub_quorum_failure(phc_hub_t *h);
void phc__hub_quorum_success(phc_hub_t *h);
/* The periodic sync's interval (a strategy's sync_interval); a pending
 * round is rescheduled to it. */
void phc__hub_set_sync_interval(phc_hub_t *h, unsigned ms);
void phc__hub_hook(phc_hub_t *h, const char *key, const ei_x_buff *data);
int phc__hub_has_node(const phc_hub_t *h, const char *node);

/* ---- start.c: StartHandle -------------------------------------------- */

/* {start_children, Children, Opts} cast or migration_add_event. children
 * and opts point into buf (no version byte). */
void phc__hub_start_handle(phc_hub_t *h, const char *buf, int children_idx,
                           int opts_idx, int is_migration);

/* ---- stop.c: StopHandle, local terminations ------------------------- */

void phc__hub_stop_handle(phc_hub_t *h, const char *buf, int children_idx,
                          int opts_idx);
/* Terminate a local child without telling anyone (migration, leave). */
int phc__hub_terminate_local(phc_hub_t *h, const char *cid, int cid_len);
void phc__hub_mark_terminating(phc_hub_t *h, const char *id);
int phc__hub_take_terminating(phc_hub_t *h, const char *id);

/* ---- events.c: registry events, supervisor events -------------------- */

void phc__hub_on_registration(phc_hub_t *h, const char *buf, int idx);
void phc__hub_on_unregistration(phc_hub_t *h, const char *buf, int idx);
void phc__hub_on_pid_update(phc_hub_t *h, const char *buf, int idx);
void phc__hub_on_sync_remote(phc_hub_t *h, const char *buf, int idx);
/* Apply a peer's full local child list (PubSub sync, sync_remote):
 * list of {ChildSpec, Pid, Meta}; detach: drop the peer from rows it no
 * longer lists. */
void phc__hub_apply_sync(phc_hub_t *h, const char *node, const char *buf,
                         int idx, int detach);
/* ProcessRegistry.bulk_insert of one row, with registry_pid_insert_hook
 * for the pairs that are new or changed. */
void phc__hub_reg_merge(phc_hub_t *h, const char *cid, int clen,
                        const char *spec, int slen, const char *meta, int mlen,
                        const phc__reg_owner_t *o, int n);
/* ProcessRegistry.bulk_delete of node from one row, with
 * registry_pid_remove_hook {Cid, [Node]} when the row is there. */
void phc__hub_reg_remove_hooked(phc_hub_t *h, const char *cid, int clen,
                                const char *node);
/* Supervisor callback: a child restarted or ended. */
void phc__hub_sup_event(phc__sup_t *sup, int event, const char *id,
                        const phc_pid_t *old_pid, const phc_pid_t *new_pid,
                        const char *reason, int len, void *arg);
/* Encode [{ChildSpec, Pid, Meta}] for the local children. */
void phc__hub_enc_local_sync(phc_hub_t *h, ei_x_buff *x);

/* ---- cluster.c: joins, leaves, redistribution ------------------------ */

/* A peer's coordinator joined: it enters the hub once its OTP release is
 * known, unless the ring's encoding is fixed (-ring_otp). */
void phc__hub_join_node(phc_hub_t *h, const char *node);
void phc__hub_node_down(phc_hub_t *h, const char *node);
void phc__hub_leave(phc_hub_t *h);
/* hub.c: run one coordinator message (held ones, replayed). */
void phc__hub_coord_msg(phc_hub_t *h, const char *buf, int len);

/* ---- adopt.c: strategies taken from the hub ------------------------- */

/* Whether node's join waits for the hub's strategies: while a peer is
 * asked, or when node is asked now (the hub has not adopted and node was
 * not the peer asked last). A waiting join is held as {cluster_join_event,
 * Node} and admitted when the round ends. */
int phc__hub_adopt_hold_join(phc_hub_t *h, const char *node);
/* The coordinator's gate while a peer is asked: casts, *_event messages
 * and nodedown are held (1) and run in arrival order, under the adopted
 * strategies, when the round ends; calls and the rest pass (0). */
int phc__hub_adopt_hold(phc_hub_t *h, const char *buf, int len);
void phc__hub_adopt_free(phc_hub_t *h);
/* The configured strategy of kind: 0 with its module in mod and its
 * options' index in h->cfg_strat in *oidx, or PHC_EINVAL. */
int phc__hub_cfg_strategy(const phc_hub_t *h, phc__strat_kind_t kind, char *mod,
                          size_t size, int *oidx);
/* Apply the configured strategies (phc_hub_start). */
int phc__hub_cfg_apply(phc_hub_t *h);

/* ---- closures.c: ProcessHub closures from spawn requests ------------ */

int phc__hub_closure(phc_node_t *n, const erlang_fun *f, ei_x_buff *result);
/* The natives a phc peer's periodic sync calls (closures.c). */
int phc__hub_closure_natives_register(phc_node_t *n);
/* rpc:cast(Node, M, F, Args) in place of a closure: {'$gen_cast', {cast,
 * M, F, Args, user}} to node's rex; args: the encoded list (no version
 * byte). 0, or the send's PHC_E* code after a log line. */
int phc__hub_rex_cast(phc_hub_t *h, const char *node, const char *m,
                      const char *f, const char *args, int len);

/* ---- api.c: ProcessHub functions for erpc, and the C API ------------- */

int phc__hub_natives_register(phc_node_t *n);
/* api_ctl.c: start_children/3, start_child/3, stop_children/3,
 * stop_child/3 (and their /2). */
int phc__hub_ctl_natives_register(phc_node_t *n);

#endif /* PHC_HUB_HUB_H */
