/* proc_int.h - the process runtime's internal structures and helpers,
 * shared by the files of c_src/proc and by nothing else. Other modules use
 * proc.h and phc.h. The files: proc.c (lifecycle, the process table,
 * mailboxes and the run queue, sending), signal.c (links, exit signals,
 * what an exit takes down, monitors), name.c (names and aliases),
 * remote.c (signals from other nodes), timer.c, gen_server.c (with
 * handover.c, the HotSwap handover messages) and
 * supervisor.c.
 *
 * Ownership: the runtime (struct phc__rt_s, one per node) owns every
 * process, every queued message, every table (pids, names, aliases, monitors
 * held on local processes, timers, child types) and the libuv handles that
 * drive delivery (one idle handle) and timers (one uv_timer_t each).
 */
#ifndef PHC_PROC_INT_H
#define PHC_PROC_INT_H

#include <sys/queue.h>
#include <uthash.h>

#include "proc/proc.h"
#include "term/term.h"

#define PHC__PROC_MOD "proc"

/* The process table: pid number N is slot N of a growing array (slot 0 is
 * the node itself, <N.0.0>). A freed slot goes to the tail of a FIFO free
 * list and its serial moves on, so a dead pid comes back only after 2^32
 * reuses of its number. Numbers and serials are 32-bit, as NEW_PID_EXT
 * carries them (V4_NC peers, OTP 23+). */
#define PHC__MAX_PROCESSES_DEFAULT 1048576u
#define PHC__MAX_PROCESSES_MAX 134217727u /* the BEAM's +P ceiling */
/* phc_self() copies: a ring per node, each valid for this many calls. */
#define PHC__SELF_RING 64

typedef struct phc__slot_s {
  struct phc_proc_s *p; /* NULL: free */
  uint32_t serial;      /* of the live process, else of the next one */
  uint32_t next_free;   /* free list link (0: none) */
} phc__slot_t;

/* Links a process has before they are indexed (a supervisor's thousands). */
#define PHC__LINK_IDX_MIN 16

/* Messages delivered per idle callback before the loop polls for I/O. */
#define PHC__RUN_BUDGET 1024
/* Messages one process gets in a row before the next one runs. */
#define PHC__RUN_SLICE 16

enum phc__proc_state {
  PHC__P_ALIVE = 0,
  PHC__P_EXIT_PENDING, /* phc_proc_exit called inside a callback */
  PHC__P_DEAD          /* exit done; freed once no callback runs */
};

enum phc__msg_kind {
  PHC__M_MSG = 0, /* an ordinary message */
  PHC__M_EXIT     /* an exit signal */
};

typedef struct phc__msg_s {
  STAILQ_ENTRY(phc__msg_s) next;
  int kind;
  int exit2;  /* exit signal from erlang:exit/2 (else a broken link) */
  int forced; /* link exit that need not find the link (noproc, noconnection) */
  phc__cpid_t from;
  int len;
  char buf[]; /* encoded term with version byte */
} phc__msg_t;

typedef struct phc__link_s {
  TAILQ_ENTRY(phc__link_s) next;
  UT_hash_handle hh; /* p->link_idx, by key */
  unsigned key[3];   /* num, serial, hash of the node name */
  phc__cpid_t other;
  uint64_t unlinking; /* nonzero: UNLINK_ID sent with this id, awaiting ack */
} phc__link_t;

/* A monitor held on a local process (the watcher may be anywhere). */
typedef struct phc__mon_in_s {
  UT_hash_handle hh; /* rt->mons_in, by ref key */
  char *key;
  int keylen;
  erlang_ref ref;
  erlang_pid watcher;
  char *name; /* set when the watcher monitors by registered name */
  phc_proc_t *target;
  TAILQ_ENTRY(phc__mon_in_s) next;
} phc__mon_in_t;

/* A monitor a local process holds (the target may be anywhere). */
typedef struct phc__mon_out_s {
  TAILQ_ENTRY(phc__mon_out_s) next;
  erlang_ref ref;
  int by_name;
  erlang_pid target; /* when !by_name */
  char *name;        /* when by_name */
  char *node;        /* the target's node */
  int local;
} phc__mon_out_t;

typedef struct phc__alias_s {
  UT_hash_handle hh; /* rt->aliases */
  char *key;
  int keylen;
  erlang_ref ref;
  phc_proc_t *owner;
  TAILQ_ENTRY(phc__alias_s) next;
} phc__alias_t;

typedef struct phc__name_s {
  UT_hash_handle hh; /* rt->names, by name */
  char *name;
  phc_proc_t *p;
} phc__name_t;

enum phc__timer_kind { PHC__T_SEND = 0, PHC__T_CB };

typedef struct phc__timer_s {
  uv_timer_t h;
  UT_hash_handle hh_ref; /* rt->timers_by_ref (PHC__T_SEND) */
  UT_hash_handle hh_id;  /* rt->timers_by_id (PHC__T_CB) */
  int kind;
  char *key; /* ref key (PHC__T_SEND) */
  int keylen;
  erlang_ref ref;
  uint64_t id;
  erlang_pid dest;
  struct phc_proc_s *dest_proc; /* local destination, else NULL */
  char *buf;
  int len;
  phc__timer_cb cb;
  void *arg;
  phc_node_t *n;
  TAILQ_ENTRY(phc__timer_s) by_proc;
  TAILQ_ENTRY(phc__timer_s) all;
} phc__timer_t;

/* A process carries its pid as number and serial only (the node name and
 * creation are the node's): an erlang_pid holds a 1 KiB node buffer, which
 * was most of an idle process. phc__proc_pid() and phc_self() make one. */
struct phc_proc_s {
  uint32_t num, serial;
  phc_node_t *n;
  const phc_proc_ops_t *ops;
  void *data;
  unsigned trap_exit : 1;
  unsigned monitor_nodes : 1;
  unsigned in_runq : 1;
  unsigned mbox_warned : 1; /* mailbox_warn was logged for this process */
  unsigned state : 2;
  unsigned link_indexed : 1; /* link_idx holds every link */
  int running;               /* callbacks of this process on the stack */
  char *exit_reason;         /* pending reason (PHC__P_EXIT_PENDING) */
  int exit_len;
  phc__name_t *name;
  TAILQ_ENTRY(phc_proc_s) runq;
  STAILQ_HEAD(, phc__msg_s) mbox;
  size_t mbox_len;
  TAILQ_HEAD(, phc__link_s) links;
  phc__link_t *link_idx; /* uthash over links, from PHC__LINK_IDX_MIN on */
  unsigned nlinks;
  TAILQ_HEAD(, phc__mon_out_s) mons_out;
  TAILQ_HEAD(, phc__mon_in_s) mons_in;
  TAILQ_HEAD(, phc__alias_s) aliases;
  TAILQ_HEAD(, phc__timer_s) timers; /* send_after timers aimed at us */
};

typedef struct phc__ctype_s {
  UT_hash_handle hh;
  const phc_child_type_t *type;
} phc__ctype_t;

struct phc__rt_s {
  phc_node_t *n;
  uv_idle_t idle;
  int idle_on;
  int closing;
  phc__slot_t *slots; /* the process table, by pid number */
  uint32_t nslots;    /* slots in use or freed (1 + highest number) */
  uint32_t cap;       /* slots allocated */
  uint32_t max;       /* max_processes */
  uint32_t free_head, free_tail;
  size_t count;
  erlang_pid self_ring[PHC__SELF_RING];
  unsigned self_next;
  uint64_t ref_counter;
  uint32_t ref_salt;
  uint64_t unlink_counter;
  uint64_t timer_counter;
  erlang_pid node_pid; /* <N.0.0>: the sender when none is given */
  phc_proc_t *current; /* whose callback runs now (NULL: none) */
  phc__name_t *names;
  phc__alias_t *aliases;
  phc__mon_in_t *mons_in;
  struct phc__timer_s *timers_by_ref;
  struct phc__timer_s *timers_by_id;
  TAILQ_HEAD(, phc__timer_s) timers;
  TAILQ_HEAD(, phc_proc_s) runq;
};

/* ---- helpers shared by the files of c_src/proc ------------------------ */

/* Can signals leave for other nodes (the node filled n->remote in)? */
static inline int phc__remote_ok(const phc_node_t *n) {
  return n->remote != NULL;
}

/* proc.c */
/* Key bytes for hashing a ref: malloc'ed, length in *len. */
char *phc__ref_key(const erlang_ref *r, int *len);
int phc__pid_on_node(const erlang_pid *pid, const char *node);
/* p's pid, written into *out. */
void phc__proc_pid(const phc_proc_t *p, erlang_pid *out);
/* A pid of an earlier incarnation of this node: it is dead for sure. */
int phc__pid_is_stale(const phc_node_t *n, const erlang_pid *pid);
/* An atom term (version byte included) in a buffer the caller frees. */
char *phc__proc_atom_term(const char *atom, int *len);
/* Queue an ordinary message (copied) for a live local process. */
void phc__proc_enqueue_msg(phc_proc_t *p, const char *buf, int len);
/* Queue an exit signal (reason copied) for a live local process. */
void phc__proc_enqueue_sig(phc_proc_t *p, const erlang_pid *from,
                           const char *reason, int len, int exit2, int forced);
/* Run p's handle_msg on one message. 1 if p is still alive afterwards. */
int phc__proc_call_handle_msg(phc_proc_t *p, const char *buf, int len);
/* Look up a live local process by pid (NULL when dead or not ours). */
phc_proc_t *phc__proc_find(phc_node_t *n, const erlang_pid *pid);
/* The next live-or-dying process in the table after slot *i (start with
 * *i = 0), or NULL; removing processes while iterating is fine. */
phc_proc_t *phc__proc_next(struct phc__rt_s *rt, uint32_t *i);
/* p leaves the process table (its exit). */
void phc__proc_table_del(phc_proc_t *p);
/* Free a process that has exited (its mailbox too). */
void phc__proc_free(phc_proc_t *p);

/* signal.c */
/* The process ends: terminate, every signal its death causes, free. */
void phc__proc_do_exit(phc_proc_t *p, const char *reason, int len);
/* The same with an atom reason. */
void phc__proc_kill_atom(phc_proc_t *p, const char *atom);
/* Consumes one exit signal. 1 if p is still alive afterwards. */
int phc__proc_exit_signal(phc_proc_t *p, const phc__msg_t *m);
/* An exit signal with an atom reason. */
void phc__proc_sig_atom(phc_proc_t *p, const erlang_pid *from, const char *atom,
                        int exit2, int forced);
/* {'DOWN', Ref, process, Pid | {Name, Node}, Reason} into w's mailbox. */
void phc__proc_send_down(phc_proc_t *w, const erlang_ref *ref,
                         const erlang_pid *pid, const char *name,
                         const char *node, const char *reason, int len);
void phc__proc_send_down_atom(phc_proc_t *w, const erlang_ref *ref,
                              const erlang_pid *pid, const char *name,
                              const char *node, const char *atom);
phc__link_t *phc__link_find(phc_proc_t *p, const erlang_pid *other);
void phc__link_del(phc_proc_t *p, phc__link_t *l);
/* Adds (or reactivates) a link entry; 1 if it was not active before. */
int phc__link_add(phc_proc_t *p, const erlang_pid *other);
/* A monitor on target held by watcher (by name when name is set); NULL
 * when ref is already in use. */
phc__mon_in_t *phc__mon_in_add(phc_node_t *n, phc_proc_t *target,
                               const erlang_pid *watcher, const char *name,
                               const erlang_ref *ref);
phc__mon_in_t *phc__mon_in_find(struct phc__rt_s *rt, const erlang_ref *r);
void phc__mon_in_free(struct phc__rt_s *rt, phc__mon_in_t *m);
phc__mon_out_t *phc__mon_out_find(phc_proc_t *p, const erlang_ref *r);
void phc__mon_out_free(phc_proc_t *p, phc__mon_out_t *o);

/* name.c */
/* The live local process registered as name, or NULL. */
phc_proc_t *phc__name_find(phc_node_t *n, const char *name);
phc__alias_t *phc__alias_find(phc_node_t *n, const erlang_ref *r);
/* A dying process gives up its name and its aliases. */
void phc__name_proc_exit(phc_proc_t *p);

/* timer.c */
void phc__timers_proc_exit(phc_proc_t *p);
void phc__timers_close(phc_node_t *n);

/* gen_server.c */

/* handover.c: a ProcessHub HotSwap handover message for a type with the
 * matching callback: 1 when it was handled (not for handle_info). */
int phc__gs_handover_msg(phc_gs_t *gs, const phc_child_type_t *t, void **state,
                         const char *buf, int len);

#endif /* PHC_PROC_INT_H */
