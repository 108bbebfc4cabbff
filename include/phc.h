/* phc.h - the public API of phc, a C node that joins a BEAM cluster.
 *
 * A phc_node_t is one Erlang node: it owns a libuv loop's worth of
 * connections, a process table and the OTP services every node must answer
 * (net_kernel, global, rpc). Processes are plain C structs with a mailbox;
 * their pids are real external pids of this node, so BEAM nodes send to them,
 * link to them and monitor them as to any other process. Terms travel as
 * ei-encoded buffers that start with the version byte 131, exactly as on the
 * wire; decode them with ei_decode_version() first.
 *
 * Everything runs on one thread, on the loop given to phc_node_new(). No
 * function here may be called from another thread. Functions return 0 or a
 * negative PHC_E* code; phc_strerror() names it.
 */
#ifndef PHC_H
#define PHC_H

#include <stddef.h>
#include <stdint.h>

#include <ei.h>
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors ------------------------------------------------------------ */

/* Every error code phc returns, in one table: XX(name, value, message).
 * PHC_<name> is the code; phc_err_name() gives "PHC_<name>", phc_strerror()
 * the message. (libuv's UV_ERRNO_MAP pattern.) */
#define PHC_ERRNO_MAP(XX)                                                      \
  XX(EINVAL, -1, "invalid argument") /* bad argument */                        \
  XX(ENOMEM, -2, "out of memory")                                              \
  XX(ENOPROC, -3, "no such process") /* or name */                             \
  XX(EEXIST, -4, "already exists")   /* name or id taken */                    \
  XX(ENOTCONN, -5, "not connected")  /* no such node link */                   \
  XX(EIO, -6, "i/o or protocol error")                                         \
  XX(EAUTH, -7, "authentication failed") /* cookie mismatch */                 \
  XX(ETIMEDOUT, -8, "timed out")                                               \
  XX(EDECODE, -9, "cannot decode term") /* malformed input */                  \
  XX(EUNDEF, -10, "undefined function or type")                                \
  XX(ESTATE, -11, "wrong state")   /* not allowed now */                       \
  XX(ELIMIT, -12, "limit reached") /* a fixed limit */

enum phc_errno {
#define PHC__ERRNO_ENUM(name, value, msg) PHC_##name = (value),
  PHC_ERRNO_MAP(PHC__ERRNO_ENUM)
#undef PHC__ERRNO_ENUM
      PHC_ERRNO_END__ = -13
};

/* "invalid argument" for PHC_EINVAL, "ok" for 0, "unknown error" else. */
const char *phc_strerror(int err);
/* "PHC_EINVAL" for PHC_EINVAL, "0" for 0, "PHC_E?" else. */
const char *phc_err_name(int err);

/* ---- logging ----------------------------------------------------------- */

enum phc_log_level {
  PHC_LOG_ERROR = 0,
  PHC_LOG_WARN = 1,
  PHC_LOG_INFO = 2,
  PHC_LOG_DEBUG = 3
};

void phc_log_set_level(int level);
int phc_log_parse_level(const char *s); /* "error".."debug", or PHC_EINVAL */

/* ---- terms, pids, refs ------------------------------------------------- */

typedef erlang_pid phc_pid_t;
typedef erlang_ref phc_ref_t;

int phc_pid_eq(const phc_pid_t *a, const phc_pid_t *b);
int phc_ref_eq(const phc_ref_t *a, const phc_ref_t *b);

/* ---- node -------------------------------------------------------------- */

typedef struct phc_node_s phc_node_t;
typedef struct phc_proc_s phc_proc_t;

/* Limits a peer cannot exceed. Each 0 means its default (README, Limits).
 * Hitting one logs one line; the connection is dropped, the node stays. */
typedef struct phc_limits_s {
  size_t max_packet;       /* bytes in one distribution packet; 64 MiB */
  size_t max_fragmented;   /* bytes of a peer's unfinished fragmented
                              messages; 64 MiB */
  unsigned max_handshakes; /* incoming connections in the handshake; 64 */
  unsigned handshake_ms;   /* a connection's setup time; 7000 */
  size_t max_out_queue;    /* bytes waiting to go to one peer; 64 MiB */
  size_t mailbox_warn;     /* messages in one mailbox before its one
                              warning; 100000 */
  size_t max_processes;    /* processes alive at once (the BEAM's +P);
                              1048576; more: spawns fail PHC_ELIMIT */
} phc_limits_t;

typedef struct phc_node_config_s {
  const char *name;      /* "phc@127.0.0.1" (-name) or "phc" (-sname) */
  int longnames;         /* 1 for -name, 0 for -sname */
  const char *cookie;    /* NULL: read ~/.erlang.cookie as erl does */
  int hidden;            /* 1: do not advertise DFLAG_PUBLISHED */
  unsigned net_ticktime; /* seconds; 0 means 60 */
  unsigned short port;   /* listen port; 0 picks one */
  phc_limits_t limits;
  const char *ssl_dist_optfile; /* non-NULL: TLS distribution (OTP's
                                   inet_tls) with this ssl_dist_optfile */
} phc_node_config_t;

int phc_node_new(phc_node_t **out, uv_loop_t *loop,
                 const phc_node_config_t *cfg);
/* Listen on 127.0.0.1, register with epmd (starting one if none answers)
 * and start the OTP services. Runs the loop until registered. */
int phc_node_start(phc_node_t *n);
/* Connect to a peer (asynchronously); nodeup follows on success. */
int phc_node_connect(phc_node_t *n, const char *peer);
/* Stop every process, close every connection and unregister from epmd.
 * The loop ends once the node has closed its handles. */
void phc_node_stop(phc_node_t *n);
void phc_node_free(phc_node_t *n);
const char *phc_node_name(const phc_node_t *n);
uv_loop_t *phc_node_loop(const phc_node_t *n);
/* Fills names[] with up to max connected visible peers; returns the count. */
int phc_node_peers(const phc_node_t *n, const char **names, int max);

/* ---- processes --------------------------------------------------------- */

typedef struct phc_proc_ops_s {
  const char *name; /* for logs */
  /* Called once after the process exists; nonzero return kills it with
   * reason normal (0 keeps it). */
  int (*init)(phc_proc_t *self, void *arg);
  /* One message. buf starts with the version byte; len bytes. */
  void (*handle_msg)(phc_proc_t *self, const char *buf, int len);
  /* The process is exiting with the given reason (an encoded term). */
  void (*terminate)(phc_proc_t *self, const char *reason, int len);
} phc_proc_ops_t;

#define PHC_SPAWN_LINK 0x1 /* link the new process to `parent` */

int phc_spawn(phc_node_t *n, const phc_proc_ops_t *ops, void *arg,
              const phc_pid_t *parent, unsigned flags, phc_pid_t *out);
/* p's pid, as a copy that stays valid for the next 63 phc_self() calls on
 * the node (a process keeps only its pid's number and serial): use it at
 * once or copy it (*phc_self(p)) to keep it. */
const phc_pid_t *phc_self(const phc_proc_t *p);
phc_node_t *phc_proc_node(const phc_proc_t *p);
void *phc_proc_data(const phc_proc_t *p);
void phc_proc_set_data(phc_proc_t *p, void *data);
phc_proc_t *phc_proc_lookup(phc_node_t *n, const phc_pid_t *pid);
void phc_proc_trap_exit(phc_proc_t *p, int on);

/* Send a message (an encoded term with version byte) from `from` (may be
 * NULL for "no sender") to a pid, local or remote. Remote sends connect on
 * first use. */
int phc_send(phc_node_t *n, const phc_pid_t *from, const phc_pid_t *to,
             const char *buf, int len);
/* Send to a registered name on a node (node NULL or our own: local). */
int phc_send_name(phc_node_t *n, const phc_pid_t *from, const char *node,
                  const char *name, const char *buf, int len);
/* Send to a process alias (a reference), as gen_server replies do. */
int phc_send_alias(phc_node_t *n, const phc_pid_t *from, const phc_ref_t *alias,
                   const char *buf, int len);

int phc_register(phc_node_t *n, const char *name, const phc_pid_t *pid);
int phc_unregister(phc_node_t *n, const char *name);
int phc_whereis(phc_node_t *n, const char *name, phc_pid_t *out);

int phc_link(phc_proc_t *p, const phc_pid_t *other);
int phc_unlink(phc_proc_t *p, const phc_pid_t *other);
/* Monitor a pid. The DOWN message is the usual
 * {'DOWN', Ref, process, Pid, Reason}. */
int phc_monitor(phc_proc_t *p, const phc_pid_t *target, phc_ref_t *ref);
/* Monitor a registered name on a node; DOWN carries {Name, Node}. */
int phc_monitor_name(phc_proc_t *p, const char *name, const char *node,
                     phc_ref_t *ref);
int phc_demonitor(phc_proc_t *p, const phc_ref_t *ref);
/* {nodeup, Node} / {nodedown, Node} messages, like net_kernel:monitor_nodes. */
int phc_monitor_nodes(phc_proc_t *p, int on);

/* Send an exit signal (erlang:exit/2). reason is an encoded term. */
int phc_exit(phc_node_t *n, const phc_pid_t *from, const phc_pid_t *to,
             const char *reason, int len);
/* End the calling process with the given reason (encoded term). */
void phc_proc_exit(phc_proc_t *p, const char *reason, int len);
/* Same, with an atom reason such as "normal". */
void phc_proc_exit_atom(phc_proc_t *p, const char *reason);

int phc_make_ref(phc_node_t *n, phc_ref_t *out);

/* Deliver buf to `to` after ms milliseconds; *tref identifies the timer. */
int phc_send_after(phc_node_t *n, unsigned ms, const phc_pid_t *to,
                   const char *buf, int len, phc_ref_t *tref);
int phc_cancel_timer(phc_node_t *n, const phc_ref_t *tref);

/* ---- gen_server child types -------------------------------------------- */

typedef struct phc_gs_s phc_gs_t; /* a running gen_server */

/* A `from` as it arrived in {'$gen_call', From, Req}: opaque, pass it to
 * phc_gen_reply(). */
typedef struct phc_from_s {
  phc_pid_t pid;
  char tag[128]; /* the encoded tag term (no version byte) */
  int tag_len;
} phc_from_t;

enum phc_gs_ret {
  PHC_GS_REPLY = 0,   /* reply with *reply and continue */
  PHC_GS_NOREPLY = 1, /* continue; reply later with phc_gen_reply() */
  PHC_GS_STOP = 2,    /* stop; *reply (if set) is sent first, reason normal */
  PHC_GS_ERROR = 3 /* stop with the reason left in *reply (an encoded term) */
};

typedef struct phc_child_type_s {
  const char *module; /* atom name, e.g. "phc_counter" or "Elixir.My.Mod" */
  /* args: the argument list term. Sets *state. 0 or a negative error. */
  int (*init)(phc_gs_t *gs, const char *args, int len, void **state);
  /* Each callback gets the term at buf (version byte included). reply is an
   * ei_x_buff already holding the version byte; encode the reply into it. */
  int (*handle_call)(phc_gs_t *gs, void *state, const char *req, int len,
                     const phc_from_t *from, ei_x_buff *reply);
  int (*handle_cast)(phc_gs_t *gs, void *state, const char *req, int len);
  int (*handle_info)(phc_gs_t *gs, void *state, const char *msg, int len);
  void (*terminate)(phc_gs_t *gs, void *state, const char *reason, int len);
  /* Handover (ProcessHub migration): encode the state to hand over / take
   * a handed-over state. Both optional. */
  int (*handover_get)(phc_gs_t *gs, void *state, ei_x_buff *out);
  int (*handover_put)(phc_gs_t *gs, void **state, const char *buf, int len);
} phc_child_type_t;

/* Register a child type under its module name (node-wide). */
int phc_child_type_register(phc_node_t *n, const phc_child_type_t *type);
const phc_child_type_t *phc_child_type_find(phc_node_t *n, const char *module);

/* Start a gen_server of a registered type. args: encoded argument list term
 * (version byte included). link: link to `parent` (may be NULL). */
int phc_gs_start(phc_node_t *n, const char *module, const char *args, int len,
                 const phc_pid_t *parent, int link, phc_pid_t *out);
phc_proc_t *phc_gs_proc(phc_gs_t *gs);
int phc_gen_reply(phc_node_t *n, const phc_from_t *from, const char *reply,
                  int len);

/* ---- native functions (rpc, erpc, Node.spawn) -------------------------- */

/* A function callable by spawn request ({M, F, Arity}). It runs to
 * completion: it encodes its return value into *result (version byte
 * already there) and returns 0, or returns a negative error after encoding
 * an error reason into *result (raised as error:Reason). `caller` is the
 * pid that asked. */
typedef int (*phc_native_fn)(phc_node_t *n, const phc_pid_t *caller,
                             const char *args, int len, ei_x_buff *result);

int phc_native_register(phc_node_t *n, const char *module, const char *fun,
                        int arity, phc_native_fn fn);

/* ---- hubs (ProcessHub members) ------------------------------------------ */

typedef struct phc_hub_s phc_hub_t;

typedef struct phc_hub_config_s {
  const char *hub_id;              /* the hub's atom, e.g. "my_hub" */
  unsigned hubs_discover_interval; /* ms; 0 means 10000 */
  unsigned sync_interval;          /* PubSub sync, ms; 0 means 15000 */
  int ring_otp;                    /* 0: follow the peers; 25 or 26 */
  /* Static child specs started at boot: an encoded list of child spec
   * maps (version byte included), or NULL. */
  const char *child_specs;
  int child_specs_len;
  /* Strategies for a hub phc starts alone: an encoded list (version byte
   * included) of {Key, {Module, Opts}} with Key redundancy_strategy,
   * distribution_strategy, ..., or NULL. A hub's peers' strategies win. */
  const char *strategies;
  int strategies_len;
} phc_hub_config_t;

/* Join (or start) the hub: coordinator, event queue, pg scope, ring,
 * registry and supervisor, with ProcessHub's default strategies. */
int phc_hub_start(phc_node_t *n, const phc_hub_config_t *cfg, phc_hub_t **out);
phc_hub_t *phc_hub_find(phc_node_t *n, const char *hub_id);
/* Leave gracefully: the other members restart our children. */
void phc_hub_stop(phc_hub_t *hub);

/* Queries: each appends the term ProcessHub's function of the same name
 * returns (no version byte) to out. */
int phc_hub_process_list(phc_hub_t *hub, int global, ei_x_buff *out);
int phc_hub_registry_dump(phc_hub_t *hub, ei_x_buff *out);
int phc_hub_nodes(phc_hub_t *hub, int include_local, ei_x_buff *out);
/* child id and tag: encoded terms without version byte. */
int phc_hub_child_lookup(phc_hub_t *hub, const char *cid, int cid_len,
                         int with_metadata, ei_x_buff *out);
int phc_hub_tag_query(phc_hub_t *hub, const char *tag, int tag_len,
                      ei_x_buff *out);
int phc_hub_get_pids(phc_hub_t *hub, const char *cid, int cid_len,
                     ei_x_buff *out);
/* 1 when the hub is in partition mode (its partition tolerance strategy
 * found the quorum lost: its children are stopped, starts refused), as
 * ProcessHub.is_partitioned?/1; else 0. */
int phc_hub_is_partitioned(const phc_hub_t *hub);

/* Start children (a list of child spec maps, encoded with version byte)
 * the way ProcessHub.start_children/3 does without awaiting: each goes to
 * its owner on the ring. */
int phc_hub_start_children(phc_hub_t *hub, const char *specs, int len);
/* Stop children by id (an encoded list of ids, with version byte). */
int phc_hub_stop_children(phc_hub_t *hub, const char *cids, int len);

/* ---- hooks ------------------------------------------------------------------
 */

/* A C hook handler. term: the data (or the filled-in template) with the
 * version byte. For an alter hook, encode the new data into *out (already
 * holding the version byte) and return 0; leave *out empty to keep it. */
typedef int (*phc_hook_fn)(void *arg, const char *key, const char *term,
                           int len, ei_x_buff *out);

typedef struct phc_hook_handler_s {
  const char *id;
  int priority;
  phc_hook_fn fn;
  void *arg;
  const char *tmpl; /* optional encoded argument list, with version byte */
  int tmpl_len;
  void (*free_arg)(void *arg); /* optional: frees arg when the handler goes */
} phc_hook_handler_t;

/* Register handlers for a hook key (ProcessHub's names, e.g.
 * "post_cluster_join_hook", "child_data_alter_hook"). */
int phc_hub_register_hooks(phc_hub_t *hub, const char *key,
                           const phc_hook_handler_t *handlers, int n);
int phc_hub_cancel_hook(phc_hub_t *hub, const char *key, const char *id);

/* ---- version and plugins ------------------------------------------------ */

/* The version of this header. The ABI rule: a plugin (or any program using
 * libphc.so) runs only on a phc whose MAJOR.MINOR equals the one it was
 * built against; PATCH releases keep the ABI. Structs in this header grow
 * only at their end, and only in a MINOR release. */
#define PHC_VERSION_MAJOR 0
#define PHC_VERSION_MINOR 1
#define PHC_VERSION_PATCH 0
#define PHC_VERSION_STRING "0.1.0"

/* The version of the library this program runs on:
 * MAJOR << 16 | MINOR << 8 | PATCH. */
unsigned phc_version(void);

/* ---- DistributedSupervisor membership (c_src/dsup) -------------------- */

/* Join the Elixir DistributedSupervisor named name (the atom, e.g.
 * "Elixir.Bar.DS"; "Bar.DS" is taken as the Elixir module) as a member:
 * its pg scope Name.Scope, the Name.Registry and Name.DynamicSupervisor
 * processes, libring's ring over this node and the visible peers (and
 * every nodeup), and the query functions over erpc. Call after
 * phc_node_start. PHC_EEXIST when it already runs. */
int phc_dsup_start(phc_node_t *n, const char *name);
/* Leave it: children stopped, the scope left, the processes ended. */
int phc_dsup_stop(phc_node_t *n, const char *name);

/* DistributedSupervisor.Listener for C: every callback is optional. As the
 * library notifies: process start/stop for children of this node (id: the
 * child's key as an encoded term, no version byte), node up/down when the
 * ring gives the node to this node, node_terminate when a member's
 * supervisor terminates (reason: encoded term). */
typedef struct phc_dsup_listener_s {
  void (*on_process_start)(phc_node_t *n, const char *name, const char *id,
                           int id_len, const phc_pid_t *pid, void *arg);
  void (*on_process_stop)(phc_node_t *n, const char *name, const char *id,
                          int id_len, const phc_pid_t *pid, void *arg);
  void (*on_node_up)(phc_node_t *n, const char *name, const char *node,
                     void *arg);
  void (*on_node_down)(phc_node_t *n, const char *name, const char *node,
                       void *arg);
  void (*on_node_terminate)(phc_node_t *n, const char *name, const char *node,
                            const char *reason, int reason_len, void *arg);
  void *arg;
} phc_dsup_listener_t;

/* Add a listener to a running supervisor (copied; up to 8 each). */
int phc_dsup_listen(phc_node_t *n, const char *name,
                    const phc_dsup_listener_t *l);

/* A plugin is a shared object loaded by `phc-node -load PATH`. It exports
 * phc_plugin_info (write PHC_PLUGIN_DECLARE("name") once, at file scope)
 * and phc_plugin_init, which runs after phc_node_new and before
 * phc_node_start: register child types (phc_child_type_register) and
 * natives (phc_native_register) there. Nonzero (a PHC_E* code) aborts the
 * start: phc-node prints the path and phc_strerror and exits with 2.
 * Optionally it exports phc_plugin_hub_init, called for each hub phc-node
 * starts (register hook handlers there), with the same error rule. */
typedef struct phc_plugin_info_s {
  unsigned major, minor, patch; /* PHC_VERSION_* the plugin was built with */
  const char *name;
} phc_plugin_info_t;

#define PHC_PLUGIN_DECLARE(plugin_name)                                        \
  PHC__PLUGIN_EXTERN const phc_plugin_info_t phc_plugin_info = {               \
      PHC_VERSION_MAJOR, PHC_VERSION_MINOR, PHC_VERSION_PATCH, plugin_name}

#ifdef __cplusplus
#define PHC__PLUGIN_EXTERN extern "C"
#else
#define PHC__PLUGIN_EXTERN
#endif

extern const phc_plugin_info_t phc_plugin_info;
int phc_plugin_init(phc_node_t *n);
int phc_plugin_hub_init(phc_hub_t *hub);

#ifdef __cplusplus
}
#endif

#endif /* PHC_H */
