/* global.h - phc's global_name_server: takes part in OTP's `global`
 * protocol as a node that registers no names itself.
 *
 * Every visible node runs a global_name_server. When two nodes connect,
 * their servers run a lock/exchange handshake; until it is done,
 * global:sync/0 on the BEAM side waits, and global:register_name/2 and
 * global:trans/2 take locks on every node they know, phc included. This
 * module answers all of that the way a real node with an empty name table
 * would. It owns the server's state: one session per peer (tags, the peer's
 * locker pid, how far the handshake got), the set of known/synced nodes and
 * the lock table (resource id -> requester id + holder pids, each holder
 * monitored) and its partition's names (global_names.c: what register
 * calls and the ops of new_nodes/resolved tell it, each owner monitored).
 *
 * Choices (documented deviations from kernel's global.erl, all of which the
 * BEAM side accepts):
 * - Connect-all as global does it: phc's `resolved` carries its known
 *   nodes (the peer connects to each and sends it in_sync), and when a
 *   session ends phc casts `new_nodes` (the peer and its partition, the
 *   session's name ops) to the nodes it knew before, which connect to the
 *   new ones. So BEAM nodes that each connect only to phc meet within
 *   about 0.2 s, as with a BEAM seed. phc's `exchange` carries the names
 *   it holds, so names registered before two partitions met through phc
 *   reach both sides. It sends `in_sync` to every node a peer reports (and
 *   to nodes announced by `new_nodes`).
 * - Name clashes are not resolved by phc: a clashing name stays as each
 *   side has it when phc is the smaller node (global runs the
 *   registration's method there); the peer resolves it otherwise.
 * - `lock_set` reports no other nodes, so a peer's locker locks phc alone
 *   of phc's partition during a sync.
 * - The locker locks only phc itself (the "spontaneous" path of global's
 *   locker), and starts at once instead of after global's 200..3000 ms
 *   back-off, so a sync with phc finishes in milliseconds.
 * - Who leads: the one exception to "at once". When phc is already in sync
 *   with another connected node and the new peer's init_connect shows it
 *   knows no node yet, phc waits 500..599 ms before offering its lock
 *   (answering the peer's own lock_set at once meanwhile). The peer's
 *   locker then acts first (200 ms after its last event) and may sync with
 *   a BEAM member of phc's partition, which brings phc in through
 *   new_nodes/in_sync. (The rule predates connect-all, when a peer that
 *   synced with phc first waited 1000 + 100 * known ms for the BEAM members
 *   phc did not report; it is kept because it gives the order a BEAM seed
 *   gives: the newcomer's locker picks. Measured with phc as the seed: two
 *   peers that each connect only to phc see each other after 0.21 s, as
 *   with a BEAM node in phc's place.)
 * - As in global, in_sync makes a node synced, not known; a later
 *   new_nodes naming it is answered with phc's own in_sync (the two race
 *   when a new node syncs through a BEAM member; without the answer its
 *   global:sync/0 would wait for phc forever).
 * - phc behaves as a node with prevent_overlapping_partitions = false: it
 *   never multicasts lost_connection and ignores the ones it gets, so it
 *   never makes BEAM nodes drop each other. A {remove_connection, Node}
 *   (Node dropped phc from its view) is honoured by disconnecting Node, as
 *   global does; otherwise Node's global:sync/0 would wait for phc forever.
 *
 * ---- The protocol (global vsn 8, OTP 25), as traced between real nodes --
 * Casts are {'$gen_cast', Msg} sent to the registered name
 * global_name_server on the other node; calls are
 * {'$gen_call', {Pid, Tag}, Req} answered with {Tag, Reply} to Pid (or to the
 * alias when Tag is [alias|Ref]). gen_server:multi_call uses Tag = {Ref, Node}.
 * P is phc, A a BEAM peer, LP/LA the lockers, TP/TA each side's session tag
 * (any integer; OTP uses erlang:unique_integer([monotonic])).
 *
 *   on nodeup (both sides, independently):
 *     P -> A  cast {init_connect, {8, TP}, P, {locker, no_longer_a_pid, Known,
 * LP}} (Known is ignored by the receiver; OTP 25 sends its state map) on
 * init_connect from the peer: P -> A  {init_connect_ack, P, TA, TP} plain send
 * to the name (A checks that TA/TP match its own session; on mismatch it sends
 *      {cancel_connect, A, TP} and restarts with a new init_connect)
 *   locking (LockId = {global, lists:sort([LA, LP])}, pids in term order):
 *     A's locker: gen_server:multi_call([Boss], [A, P], Known...)
 *             {set_lock, LockId}                          -> true | false
 *     P -> A  cast {lock_set, LP, true, [], TA}         (P locked itself)
 *     A -> P  cast {lock_set, LA, true, KnownA, TP}     (A locked its part)
 *     (either side may go first; a side that receives lock_set(true) first
 *      locks its own partition and answers lock_set(true|false); false means
 *      "retry later"; a locker that has no session answers directly to the
 *      pid with the 4-tuple {lock_set, LA, false, KnownA})
 *   exchange (when a side has both lock_set(true)s):
 *     P -> A  cast {exchange, P, Names, [], TA}   (Names = [{Name, Pid, M}])
 *     A -> P  cast {exchange, A, [{Name, Pid, Method}], [], TP}
 *   resolved (when a side has the lock and the peer's exchange):
 *     P -> A  cast {resolved, P, Resolved, Known, unused, NamesExt, TA}
 *             (P: Resolved = [], Known = [{B, 8}, ...], NamesExt = [])
 *     A -> P  cast {resolved, A, [], [{B, 8}, ...], unused, [], TP}
 *   when a side has sent and received `resolved`, it is synced with the peer:
 *     - it sends cast {in_sync, Self, true} to every node in the peer's Known
 *     - A sends cast {new_nodes, A, Ops, NamesExt, [{P, 8}], [{vsn, 8},
 *       {lock, LockId}]} to its own known nodes, which then send
 *       {in_sync, Them, true} to P (P must accept it and count them synced)
 *     - A's locker releases: multi_call {del_lock, LockId} -> true
 *   global:sync() on A = gen_server:call(global_name_server, {sync, Nodes}):
 *     returns once every node in Nodes sent `resolved` or `in_sync` to A.
 *   global:register_name(N, Pid) on A: A's registrar takes {global, Registrar}
 *     on all known nodes ({set_lock, {global, Reg}} multi_call, boss first),
 *     then multi_call {register, N, Pid, Method} -> yes, then
 *     {del_lock, {global, Reg}} -> true. global:trans(Id, Fun) = the same
 *     set_lock/del_lock on [node() | nodes()] around Fun.
 *   prevent_overlapping_partitions (default true in OTP 25): a node that
 *     loses a connection casts nothing but sends plain
 *     {lost_connection, Self, XCreation, OpId, Lost} to the servers it knows;
 *     a receiver connected to Lost sends {remove_connection, Self} to Lost
 *     and disconnects it.
 *   other messages the server may get: {cancel_connect, Node, Tag},
 *     calls get_known, get_synced, {sync, Nodes}, get_protocol_version,
 *     {unregister, Name}, {register_ext, ...}; casts {async_del_name, ...},
 *     {async_del_lock, ...}.
 */
#ifndef PHC_OTP_GLOBAL_H
#define PHC_OTP_GLOBAL_H

#include "node.h"

#define PHC__GLOBAL_VSN 8

/* Start global_name_server (and its locker) on n, registered under that
 * name, subscribed to nodeup/nodedown. Sessions start for peers already
 * connected. 0 or a negative PHC_E* code. */
int phc__global_start(phc_node_t *n);

/* The pid global knows under name (an encoded term, no version byte) on
 * n's running server: 0, or PHC_ENOPROC (no such name, or no server). */
int phc__global_node_whereis(phc_node_t *n, const char *name, erlang_pid *pid);

/* ---- the protocol engine (no runtime needed; used by the tests) -------- */

typedef struct phc__global_s phc__global_t;

/* How the engine talks to the world. Every buffer is an encoded term with
 * the version byte. In the node, these map onto phc_send_name, phc_send,
 * phc_send_alias, phc_monitor, phc_demonitor, phc_send_after (to self) and
 * the dist layer's disconnect. */
typedef struct phc__global_io_s {
  void *ctx;
  int (*send_name)(void *ctx, const char *node, const char *name,
                   const char *buf, int len);
  int (*send)(void *ctx, const erlang_pid *to, const char *buf, int len);
  int (*send_alias)(void *ctx, const erlang_ref *alias, const char *buf,
                    int len);
  int (*monitor)(void *ctx, const erlang_pid *pid, erlang_ref *ref);
  int (*demonitor)(void *ctx, const erlang_ref *ref);
  /* Deliver buf to the server itself after ms milliseconds. */
  int (*send_after)(void *ctx, unsigned ms, const char *buf, int len);
  int (*disconnect)(void *ctx, const char *node);
} phc__global_io_t;

/* node: our node name; self: the server's pid; locker: the locker's pid
 * (the peers see it in lock ids). The io table is copied. */
phc__global_t *phc__global_new(const char *node, const erlang_pid *self,
                               const erlang_pid *locker,
                               const phc__global_io_t *io);
void phc__global_free(phc__global_t *g);

/* One message to global_name_server (or forwarded by the locker). Bad
 * input is logged and dropped. */
void phc__global_handle(phc__global_t *g, const char *buf, int len);

/* Queries (tests, logs). */
int phc__global_is_synced(const phc__global_t *g, const char *node);
int phc__global_in_session(const phc__global_t *g, const char *node);
int phc__global_lock_count(const phc__global_t *g);
int phc__global_name_count(const phc__global_t *g);
/* The pid registered under name (an encoded term, no version byte): 0, or
 * PHC_ENOPROC. */
int phc__global_whereis(phc__global_t *g, const char *name, erlang_pid *pid);

/* Erlang term order of two pids (OTP 25: serial, number, node, creation);
 * <0, 0, >0. */
int phc__global_pid_cmp(const erlang_pid *a, const erlang_pid *b);

#endif /* PHC_OTP_GLOBAL_H */
