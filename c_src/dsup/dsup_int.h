/* dsup_int.h - the state shared by the dsup files (see dsup.h).
 *
 * Ownership: struct phc__dsups_s (n->dsups) owns the list of instances;
 * each phc__dsup_t owns its pg scope, ring, child records (what this
 * node's DynamicSupervisor runs), cache entries (the Registry's children
 * map, every member's children) and pending spec requests.
 */
#ifndef PHC_DSUP_DSUP_INT_H
#define PHC_DSUP_DSUP_INT_H

#include "dsup/dsup.h"
#include "dsup/ring.h"
#include "otp/pg.h"
#include "proc/supervisor.h"
#include "term/enc.h"

#define DSUP_LISTENERS 8

/* A child this node's DynamicSupervisor runs. */
typedef struct dsup_child_s {
  struct dsup_child_s *next;
  char id[32]; /* its id in the one_for_one supervisor */
  phc_pid_t pid;
  char key[PHC__ATOM_MAX]; /* the via key (a pg group); "" without one */
  char *child; /* {Start, Restart, Shutdown, Type, Modules}, no version */
  int child_len;
} dsup_child_t;

/* The Registry's children map: Key => {Pid, Spec}. */
typedef struct dsup_entry_s {
  struct dsup_entry_s *next;
  char key[PHC__ATOM_MAX];
  phc_pid_t pid;
  char *spec; /* the spec map (no version), NULL: nil */
  int spec_len;
} dsup_entry_t;

/* An rpc the Registry sent: dynamic_supervisor_status to the node of a
 * joined pid, or (release) erlang:system_info(otp_release) to a peer. */
typedef struct dsup_pending_s {
  struct dsup_pending_s *next;
  int release;
  phc_ref_t tag;
  char key[PHC__ATOM_MAX];
  phc_pid_t pid;
} dsup_pending_t;

typedef struct phc__dsup_s {
  struct phc__dsup_s *next;
  phc_node_t *n;
  char name[PHC__ATOM_MAX]; /* 'Elixir.Bar.DS' */
  char scope[PHC__ATOM_MAX], reg[PHC__ATOM_MAX], dyn[PHC__ATOM_MAX];
  phc__pg_t *pg;
  phc__dring_t *ring;
  phc_pid_t reg_pid, dyn_pid;
  phc__sup_t *sup;
  void *sup_handle; /* the supervisor's event argument (dsup_sup.c) */
  unsigned long next_id;
  dsup_child_t *children;
  dsup_entry_t *cache;
  dsup_pending_t *pending;
  phc_dsup_listener_t listeners[DSUP_LISTENERS];
  int nlisteners;
} phc__dsup_t;

struct phc__dsups_s {
  phc__dsup_t *list;
};

/* dsup.c */
phc__dsup_t *phc__dsup_find(phc_node_t *n, const char *name);
/* The instance whose DynamicSupervisor is registered as dyn. */
phc__dsup_t *phc__dsup_by_dyn(phc_node_t *n, const char *dyn);
/* {'$gen_call', From, Req}: 1 with *from and *req (index into buf). */
int phc__dsup_gen_call(const char *buf, int len, phc_from_t *from, int *req);
void phc__dsup_reply(phc_node_t *n, const phc_from_t *from, ei_x_buff *x);
/* The ring's nodes as HashRing.nodes/1 lists them. */
void phc__dsup_encode_nodes(phc__dsup_t *d, ei_x_buff *x);

/* dsup_sup.c: the DynamicSupervisor */
int phc__dsup_sup_start(phc__dsup_t *d);
void phc__dsup_sup_stop(phc__dsup_t *d);
/* The handler behind DynamicSupervisor's functions (otp.h's dynsup_fn)
 * for this instance: result encoded, 0 or a failure. */
int phc__dsup_sup_call(phc__dsup_t *d, const char *fun, const char *arg,
                       int arg_len, ei_x_buff *result);
/* :sys.get_status of the DynamicSupervisor, as OTP 25 gives it. */
void phc__dsup_sup_status(phc__dsup_t *d, ei_x_buff *x);
/* The spec map DistributedSupervisor.Registry.get_spec/2 builds from a
 * child tuple {{M, F, A}, Restart, Shutdown, Type, Modules} at buf[idx];
 * 0, or PHC_EINVAL for another shape. */
int phc__dsup_spec_of(const char *buf, int idx, ei_x_buff *x);

/* dsup_cache.c: the Registry's children map, spec requests, listeners */
void phc__dsup_watch(void *arg, const char *group, int joined,
                     const erlang_pid *pids, int npids);
/* A reply {Tag, Status} to a spec request: 1 when it was one. */
int phc__dsup_cache_reply(phc__dsup_t *d, const char *buf, int len);
void phc__dsup_cache_encode(phc__dsup_t *d, ei_x_buff *x);
void phc__dsup_cache_free(phc__dsup_t *d);
/* Ask node's release; the ring's atom-key encoding follows the answer. */
void phc__dsup_probe_release(phc__dsup_t *d, const char *node);
void phc__dsup_notify_node(phc__dsup_t *d, int up, const char *node);
void phc__dsup_notify_terminate(phc__dsup_t *d, const char *node,
                                const char *reason, int len);

/* dsup_api.c: the natives (registered once per node) */
int phc__dsup_api_init(phc_node_t *n);

#endif /* PHC_DSUP_DSUP_INT_H */
