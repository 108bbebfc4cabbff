/* global_int.h - global_name_server's internal state and the functions
 * the files of the engine share; nothing outside c_src/otp/global*.c
 * includes it (the engine's users have global.h).
 *
 * The engine is split by job: global.c runs the protocol (peers and their
 * connect sessions, the casts and infos that drive them), global_lock.c
 * keeps the lock table and answers the gen_server calls, global_msg.c
 * builds and sends every message the server emits (and holds the small
 * decoding helpers), global_proc.c wraps the engine in the runtime's
 * processes. Ownership: struct phc__global_s owns every peer (uthash by
 * node name: flags, the session's tags, the peer's locker and known list)
 * and every lock (uthash by canonical resource id: requester id and the
 * holders, each holder monitored).
 */
#ifndef PHC_OTP_GLOBAL_INT_H
#define PHC_OTP_GLOBAL_INT_H

#include <uthash.h>

#include "otp/global.h"

#define PHC__GLOBAL_GNS "global_name_server"
/* The tag of the messages the server sends itself (timers). */
#define PHC__GLOBAL_TIMER_TAG "$phc_global_timer"

enum phc__glock_state { PHC__GLK_NONE = 0, PHC__GLK_SENT, PHC__GLK_SET };

typedef struct phc__gpeer_s {
  UT_hash_handle hh;
  char node[PHC__ATOM_MAX];
  int up, known, synced, vsn;
  /* the session (a connect in progress) */
  int active;
  long long my_tag;
  int have_his;
  char *his_tag; /* encoded, no version byte */
  int his_tag_len;
  int his_vsn;
  erlang_pid his_locker;
  int lock;
  int exchange_rcvd, resolved_sent, resolved_rcvd;
  char *his_known; /* encoded list from his `resolved` */
  int his_known_len;
  char *his_ops; /* HisResolved from his `resolved` */
  int his_ops_len;
  char *my_ops; /* the ops his names gave us (his `exchange`) */
  int my_ops_len;
  unsigned timer_seq;
} phc__gpeer_t;

typedef struct phc__gholder_s {
  erlang_pid pid;
  erlang_ref ref;
  int has_ref;
} phc__gholder_t;

typedef struct phc__glock_s {
  UT_hash_handle hh;
  char *res; /* canonical encoding of ResourceId (the key) */
  int res_len;
  char *req; /* canonical encoding of LockRequesterId */
  int req_len;
  phc__gholder_t *holders;
  int n_holders;
} phc__glock_t;

/* One name of the partition (global_names): {Name, Pid, Method}. */
typedef struct phc__gname_s {
  UT_hash_handle hh;
  char *key; /* canonical encoding of Name (the key) */
  int key_len;
  char *entry; /* {Name, Pid, Method}, encoded, no version byte */
  int entry_len;
  erlang_pid pid;
  erlang_ref ref;
  int has_ref;
} phc__gname_t;

struct phc__global_s {
  char node[PHC__ATOM_MAX];
  erlang_pid self, locker;
  phc__global_io_t io;
  phc__gpeer_t *peers;
  phc__glock_t *locks;
  phc__gname_t *names;
  long long next_tag;
  unsigned rng;
  int warn_budget;
  int self_warned; /* a message naming this node as a peer was logged */
};

/* ---- global.c: peers and sessions ---------------------------------------- */

/* A peer came up (the runtime's nodeup, or already up at start). */
void phc__global_nodeup(phc__global_t *g, const char *node);

/* ---- global_lock.c: the lock table and the calls ------------------------- */

/* Take (take=1) or let go of our locker's lock for the session with p,
 * {global, lists:sort([LP, LA])}. 1 when granted (always 1 to let go). */
int phc__global_own_lock(phc__global_t *g, phc__gpeer_t *p, int take);
/* A holder's monitor fired: it lets go of its lock. */
void phc__global_lock_down(phc__global_t *g, const erlang_ref *ref);
/* Every holder on node lets go (nodedown). */
void phc__global_lock_drop_node(phc__global_t *g, const char *node);
/* Free every lock (the engine goes away). */
void phc__global_locks_free(phc__global_t *g);
/* A {'$gen_call', From, Request}; *i is just past the '$gen_call' atom. */
void phc__global_on_call(phc__global_t *g, const char *b, int *i);

/* ---- global_names.c: the partition's names ------------------------------- */

/* Name, Pid, Method at b[*i]: insert (or replace), monitoring Pid. */
int phc__global_name_insert(phc__global_t *g, const char *b, int *i);
/* Name at b[*i]: delete. */
int phc__global_name_delete(phc__global_t *g, const char *b, int *i);
/* Apply a list of {insert, {Name, Pid, Method}} / {delete, Name} ops. */
int phc__global_names_apply(phc__global_t *g, const char *b, int len);
/* A peer's names (a list of {Name, Pid, Method}): *ops (set up here) gets
 * the list of inserts for the names new to us. The count or PHC_EDECODE. */
int phc__global_names_exchange(phc__global_t *g, const char *b, int len,
                               ei_x_buff *ops);
/* Append our names as a list of {Name, Pid, Method}. */
void phc__global_x_names(const phc__global_t *g, ei_x_buff *x);
/* A monitor fired: 1 when it was a name's (the name is gone). */
int phc__global_name_down(phc__global_t *g, const erlang_ref *ref);
void phc__global_names_drop_node(phc__global_t *g, const char *node);
void phc__global_names_free(phc__global_t *g);

/* ---- global_msg.c: decoding helpers -------------------------------------- */

/* Log bad input: at warn while the budget lasts, then at debug. */
void phc__global_bad_input(phc__global_t *g, const char *what);
/* The engine's pseudo random numbers (back-off spreads). */
unsigned phc__global_rand(phc__global_t *g);
/* Skip one term and report where it was: 0 or PHC_EDECODE. */
int phc__global_raw_term(const char *b, int *i, const char **start, int *len);
/* Whether two encoded terms are equal whatever encoding each sender chose. */
int phc__global_same_term(const char *a, int alen, const char *b, int blen);

/* ---- global_msg.c: output ------------------------------------------------ */

void phc__global_x_begin(ei_x_buff *x);
/* Start {'$gen_cast', {tag, ...}} with arity elements in the inner tuple. */
void phc__global_x_cast(ei_x_buff *x, int arity, const char *tag);
/* Send x to global_name_server on node / to a pid; frees x. */
void phc__global_send_gns(phc__global_t *g, const char *node, ei_x_buff *x);
void phc__global_send_pid(phc__global_t *g, const erlang_pid *to, ei_x_buff *x);
/* Append the peer's session tag. */
void phc__global_x_tag(ei_x_buff *x, const phc__gpeer_t *p);
void phc__global_send_init_connect(phc__global_t *g, phc__gpeer_t *p);
/* {tag, OurNode, TagA} or {tag, OurNode, TagA, TagB} to node's server. */
void phc__global_send_plain4(phc__global_t *g, const char *node,
                             const char *tag, const char *tag_a, int tag_a_len,
                             long long tag_b, int with_b);
void phc__global_send_lock_set(phc__global_t *g, phc__gpeer_t *p, int ok);
void phc__global_send_in_sync(phc__global_t *g, const char *node);
/* Append the nodes we know other than skip, as {Node, Vsn} (vsn >= 7) or
 * bare atoms (older peers). */
void phc__global_x_known(const phc__global_t *g, const phc__gpeer_t *skip,
                         int vsn, ei_x_buff *x);
/* new_nodes to every other known node: p and his partition, with ops. */
void phc__global_send_new_nodes(phc__global_t *g, const phc__gpeer_t *p,
                                const char *ops, int ops_len);
/* The session's name ops (ours, then his) as one list in *x. */
int phc__global_session_ops(const phc__gpeer_t *p, ei_x_buff *x);
/* Deliver a timer message for p's session to the server after ms. */
void phc__global_arm_timer(phc__global_t *g, phc__gpeer_t *p, unsigned ms);

#endif /* PHC_OTP_GLOBAL_INT_H */
