/* proc.h - the process runtime: pids, mailboxes, registered names, links,
 * monitors, timers and exit signals with OTP semantics.
 *
 * The runtime owns every local process (struct phc_proc_s) and the tables
 * that find them: pid number -> process, name -> pid, alias -> process,
 * timer ref -> timer. Messages are copied into the receiver's mailbox and
 * delivered from the loop (never re-entrantly from inside a send), one
 * handle_msg call per message, in arrival order. Exit signals travel in the
 * same queue as messages so the order between one sender's messages and its
 * exit is kept.
 *
 * Signals to processes on other nodes leave through n->remote (the node
 * fills it in; tests fill it with a recorder). Signals from other nodes come
 * in through the phc__proc_in_* functions, which the node calls after the
 * dist layer decoded a control message. All terms passed here are encoded
 * terms that start with the version byte 131.
 *
 * Details the public API (phc.h) leaves open, as implemented here:
 * - Pids carry 32-bit numbers and serials (NEW_PID_EXT, as OTP 23+ does):
 *   the number is the process's slot in the table, reused oldest-freed
 *   first with the serial moved on, so a dead pid comes back only after
 *   2^32 reuses of its number. At most max_processes (phc_limits_t;
 *   1,048,576) live at once: phc_spawn() then returns PHC_ELIMIT, which
 *   starts report as system_limit. <Node.0.0> is the node itself: the
 *   sender of phc_exit() and phc_gen_reply() when there is no calling
 *   process.
 * - phc_self() returns a copy from a per-node ring of 64: use it at once
 *   or copy it (a process keeps only its number and serial).
 * - phc_spawn() returns 0 once the process existed, even if init ended it.
 * - phc_link() to a dead local pid returns PHC_ENOPROC and, as on the BEAM,
 *   also sends the caller an exit signal noproc.
 * - phc_send() to a dead pid drops the message and returns 0;
 *   phc_send_name() to an unknown local name drops it and returns
 *   PHC_ENOPROC; an unknown local alias drops silently.
 * - phc_cancel_timer() returns PHC_ENOPROC when the timer already fired,
 *   was cancelled or never existed. send_after timers aimed at a local pid
 *   die with that process.
 * - Monitoring a remote pid or name whose node cannot be reached (the
 *   remote table's monitor() fails) gives DOWN noconnection at once.
 * - gen_server processes (gen_server.c) trap exits and keep their own
 *   state in the process data: child types must not call
 *   phc_proc_set_data() on them.
 * - The one_for_one supervisor is in supervisor.h.
 */
#ifndef PHC_PROC_H
#define PHC_PROC_H

#include "node.h"

/* How the runtime sends signals to other nodes. ctx is n->remote_ctx.
 * watched_name/to_name: a registered name (then the pid argument is NULL).
 * reason/buf: encoded terms with version byte. */
typedef struct phc__remote_ops_s {
  int (*send)(void *ctx, const erlang_pid *from, const erlang_pid *to,
              const char *buf, int len);
  int (*send_name)(void *ctx, const erlang_pid *from, const char *node,
                   const char *name, const char *buf, int len);
  int (*send_alias)(void *ctx, const erlang_pid *from, const erlang_ref *alias,
                    const char *buf, int len);
  int (*link)(void *ctx, const erlang_pid *from, const erlang_pid *to);
  int (*unlink_id)(void *ctx, uint64_t id, const erlang_pid *from,
                   const erlang_pid *to);
  int (*unlink_id_ack)(void *ctx, uint64_t id, const erlang_pid *from,
                       const erlang_pid *to);
  /* A link broke: `from` died with reason (EXIT / PAYLOAD_EXIT). */
  int (*exit)(void *ctx, const erlang_pid *from, const erlang_pid *to,
              const char *reason, int len);
  /* erlang:exit/2 (EXIT2 / PAYLOAD_EXIT2). */
  int (*exit2)(void *ctx, const erlang_pid *from, const erlang_pid *to,
               const char *reason, int len);
  int (*monitor)(void *ctx, const erlang_pid *from, const erlang_pid *to,
                 const char *to_name, const char *node, const erlang_ref *ref);
  int (*demonitor)(void *ctx, const erlang_pid *from, const erlang_pid *to,
                   const char *to_name, const char *node,
                   const erlang_ref *ref);
  /* A process (or name) that `watcher` monitored went down. */
  int (*monitor_exit)(void *ctx, const erlang_pid *watched,
                      const char *watched_name, const erlang_pid *watcher,
                      const erlang_ref *ref, const char *reason, int len);
} phc__remote_ops_t;

/* ---- lifecycle -------------------------------------------------------- */

/* Set up n->rt. n->loop, n->name and n->creation must be set. */
int phc__rt_init(phc_node_t *n);
/* Kill every process (reason shutdown), stop timers, free n->rt. Handles
 * are closed; run the loop once more to let their callbacks finish. Do not
 * call it from inside a process callback. */
void phc__rt_close(phc_node_t *n);
/* Free n->ctypes (the child type table lives on the node so types can be
 * registered before phc_node_start); safe to call twice. */
void phc__ctypes_free(phc_node_t *n);
/* Number of live processes (for tests and memory figures). */
size_t phc__rt_count(const phc_node_t *n);
/* max_processes: the most processes that may live at once. */
size_t phc__rt_limit(const phc_node_t *n);

/* Is this pid one of ours (our node name and creation)? */
int phc__pid_is_local(const phc_node_t *n, const erlang_pid *pid);
/* Is this ref one of ours? */
int phc__ref_is_local(const phc_node_t *n, const erlang_ref *ref);

/* ---- introspection (info.c) ------------------------------------------ */

typedef struct phc__pinfo_s {
  const char *type; /* the ops name ("gen_server", "rex", ...) */
  const char *name; /* registered name, or NULL */
  size_t mbox_len, mbox_bytes;
  int trap_exit, running, runnable;
  size_t links, mons_out, mons_in;
  size_t memory; /* bytes the runtime holds for it (struct, queue, tables) */
} phc__pinfo_t;
typedef void (*phc__pid_fn)(void *ctx, const erlang_pid *pid);
typedef void (*phc__name_fn)(void *ctx, const char *name);
/* A monitor: on a pid (name NULL) or on a registered name at node. */
typedef void (*phc__mon_fn)(void *ctx, const erlang_pid *pid, const char *name,
                            const char *node);
/* 0 with *out filled for a live local process, else PHC_ENOPROC. */
int phc__proc_info(phc_node_t *n, const erlang_pid *pid, phc__pinfo_t *out);
void phc__proc_each(phc_node_t *n, phc__pid_fn fn, void *ctx);
void phc__names_each(phc_node_t *n, phc__name_fn fn, void *ctx);
int phc__proc_links_each(phc_node_t *n, const erlang_pid *pid, phc__pid_fn fn,
                         void *ctx);
/* by = 0: the monitors pid holds; by = 1: its watchers (pid only). */
int phc__proc_monitors_each(phc_node_t *n, const erlang_pid *pid, int by,
                            phc__mon_fn fn, void *ctx);
/* The queued ordinary messages, oldest first (terms without version byte). */
typedef void (*phc__term_fn)(void *ctx, const char *term, int len);
int phc__proc_messages_each(phc_node_t *n, const erlang_pid *pid,
                            phc__term_fn fn, void *ctx);

/* Make a process alias (for gen_server-style replies): a ref that delivers
 * to p until removed, or until p exits. */
int phc__alias_make(phc_proc_t *p, erlang_ref *out);
void phc__alias_remove(phc_node_t *n, const erlang_ref *alias);

/* A timer that runs a C callback (not a message). Returns an id >0. */
typedef void (*phc__timer_cb)(phc_node_t *n, void *arg);
uint64_t phc__timer_start(phc_node_t *n, unsigned ms, phc__timer_cb cb,
                          void *arg);
void phc__timer_cancel(phc_node_t *n, uint64_t id);

/* The handover state of the C child at pid (its type's handover_get) into
 * out: 0, PHC_ENOPROC (no live gen_server there) or PHC_EUNDEF (the type
 * has no handover_get). For a hub's HotSwap shutdown handover. */
int phc__gs_handover_get(phc_node_t *n, const erlang_pid *pid, ei_x_buff *out);

/* ---- signals from other nodes ----------------------------------------- */

void phc__proc_in_send(phc_node_t *n, const erlang_pid *from,
                       const erlang_pid *to, const char *buf, int len);
void phc__proc_in_send_name(phc_node_t *n, const erlang_pid *from,
                            const char *name, const char *buf, int len);
void phc__proc_in_send_alias(phc_node_t *n, const erlang_pid *from,
                             const erlang_ref *alias, const char *buf, int len);
void phc__proc_in_link(phc_node_t *n, const erlang_pid *from,
                       const erlang_pid *to);
void phc__proc_in_unlink_id(phc_node_t *n, uint64_t id, const erlang_pid *from,
                            const erlang_pid *to);
void phc__proc_in_unlink_id_ack(phc_node_t *n, uint64_t id,
                                const erlang_pid *from, const erlang_pid *to);
/* exit2: 0 for a broken link (EXIT), 1 for erlang:exit/2 (EXIT2). */
void phc__proc_in_exit(phc_node_t *n, const erlang_pid *from,
                       const erlang_pid *to, const char *reason, int len,
                       int exit2);
/* to or to_name (the other NULL). An unknown target is answered at once
 * with a monitor_exit of reason noproc. */
void phc__proc_in_monitor(phc_node_t *n, const erlang_pid *from,
                          const erlang_pid *to, const char *to_name,
                          const erlang_ref *ref);
void phc__proc_in_demonitor(phc_node_t *n, const erlang_pid *from,
                            const erlang_ref *ref);
/* watched or watched_name+watched_node identify what went down. */
void phc__proc_in_monitor_exit(phc_node_t *n, const erlang_pid *watched,
                               const char *watched_name,
                               const char *watched_node, const erlang_pid *to,
                               const erlang_ref *ref, const char *reason,
                               int len);
void phc__proc_node_up(phc_node_t *n, const char *node, int hidden);
/* The connection to node is gone (or could not be made): links to its pids
 * get exit signals with reason noconnection, monitors of its processes get
 * DOWN noconnection, its monitors of ours are dropped, nodedown messages go
 * to monitor_nodes subscribers. */
void phc__proc_node_down(phc_node_t *n, const char *node);

#endif /* PHC_PROC_H */
