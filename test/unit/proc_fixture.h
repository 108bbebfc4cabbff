/* proc_fixture.h - a hand-built node for the process runtime's unit tests:
 * its own loop, a recording remote table (every signal to another node is
 * kept with its arguments), probe processes that keep what they receive,
 * and term helpers. The code is in proc_fixture.c, compiled into the test
 * support library (build/test/libphctest.a). */
#ifndef PHC_PROC_FIXTURE_H
#define PHC_PROC_FIXTURE_H

#include "phc_test.h"

#include "proc/proc_int.h"

/* Kept for tests that mark their own helpers with it. */
#define FX_UNUSED __attribute__((unused))
#define FX_NODE "phc@127.0.0.1"
#define FX_PEER "a@127.0.0.1"
#define FX_MAX_CALLS 256

enum {
  R_SEND = 1,
  R_SEND_NAME,
  R_SEND_ALIAS,
  R_LINK,
  R_UNLINK_ID,
  R_UNLINK_ID_ACK,
  R_EXIT,
  R_EXIT2,
  R_MONITOR,
  R_DEMONITOR,
  R_MONITOR_EXIT
};

/* One signal the node sent to another node, as the remote table got it. */
typedef struct rec_call_s {
  int op;
  int has_from, has_to;
  erlang_pid from, to;
  char name[256];
  char node[256];
  erlang_ref ref;
  uint64_t id;
  char buf[1024];
  int len;
} rec_call_t;

typedef struct recorder_s {
  rec_call_t calls[FX_MAX_CALLS];
  int n;
  int fail_monitor; /* monitor() returns PHC_ENOTCONN */
} recorder_t;

typedef struct fx_s {
  phc_node_t node;
  uv_loop_t loop;
  recorder_t rec;
} fx_t;

/* ---- the node ----------------------------------------------------------- */

/* A node FX_NODE (creation 1234) whose remote table is the recorder. */
fx_t *fx_new(void);
/* Deliver everything queued (timers are not waited for). */
void fx_drain(fx_t *f);
/* Run until nothing is left: queued messages and pending timers. */
void fx_run(fx_t *f);
void fx_free(fx_t *f);
/* How many recorded signals have this op; the last one, or NULL. */
int fx_count(fx_t *f, int op);
rec_call_t *fx_last(fx_t *f, int op);
/* A pid / reference on FX_PEER (creation 99). */
erlang_pid fx_remote_pid(unsigned num);
erlang_ref fx_remote_ref(unsigned k);

/* ---- terms -------------------------------------------------------------- */

/* An encoded term with its version byte. */
typedef struct term_s {
  char b[512];
  int len;
} term_t;

/* Copies x (with version byte) and frees it. */
term_t t_from_x(ei_x_buff *x);
term_t t_atom(const char *a);
term_t t_int(long v);
/* {Atom, Int} */
term_t t_pair(const char *a, long v);
int t_is_atom(const char *buf, int len, const char *a);
int t_get_long(const char *buf, int len, long *v);
/* {'EXIT', From, Reason} with Reason an atom. */
int t_is_exit(const char *buf, const erlang_pid *from, const char *reason);
/* {'DOWN', Ref, process, Obj, Reason}: Obj is pid (name NULL) or
 * {Name, Node}; Reason an atom. */
int t_is_down(const char *buf, const erlang_ref *ref, const erlang_pid *pid,
              const char *name, const char *node, const char *reason);

/* ---- probe processes ---------------------------------------------------- */

#define PROBE_MAX 128

/* A process that keeps copies of the first PROBE_MAX messages it gets and
 * the reason it terminated with. */
typedef struct probe_s {
  phc_proc_t *self;
  erlang_pid pid;
  int trap;
  char *msgs[PROBE_MAX];
  int lens[PROBE_MAX];
  int count;
  int terminated;
  char reason[256];
  int reason_len;
  int exit_on_msg; /* phc_proc_exit_atom(self, "boom") on each message */
  int depth, max_depth;
  int echo_to_self; /* resend the first message to self, once */
  int init_fail;
} probe_t;

extern const phc_proc_ops_t probe_ops;

/* Frees the kept messages. */
void probe_reset(probe_t *pr);
void probe_free(probe_t *pr);
/* Spawns a probe (trapping exits if trap). */
probe_t *probe_spawn(fx_t *f, int trap);
/* Terminated once, with this atom as reason. */
int probe_died_with(const probe_t *pr, const char *reason);
int probe_alive(fx_t *f, const probe_t *pr);

#endif /* PHC_PROC_FIXTURE_H */
