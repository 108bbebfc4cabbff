/* supervisor.h - a one_for_one supervisor for C children, with OTP's
 * semantics: child specs with an id, a start (a child type plus its
 * argument list, or a C start function), a restart type
 * (permanent/transient/temporary) and a shutdown (milliseconds, brutal_kill
 * or infinity); a restart intensity (max_restarts within max_seconds) whose
 * excess stops the supervisor with reason shutdown.
 *
 * The supervisor is a process of this node (it has a pid, traps exits and is
 * linked to its children, so BEAM nodes can link to or monitor it). It owns
 * its child list. Everything is asynchronous, as the loop must never block:
 * terminating a child sends exit(Child, shutdown), waits up to the child's
 * shutdown time for its 'EXIT' and then sends exit(Child, kill).
 *
 * The owner (the hub) learns what happens to children through one event
 * callback: a child restarted with a new pid, a child gone for good (it
 * will not be restarted, or it was terminated), and the supervisor stopped
 * (the last event; the phc__sup_t pointer is invalid once it returns).
 */
#ifndef PHC_SUPERVISOR_H
#define PHC_SUPERVISOR_H

#include "proc/proc.h"

typedef struct phc__sup_s phc__sup_t;

enum phc__sup_restart {
  PHC__SUP_PERMANENT = 0, /* always restarted */
  PHC__SUP_TRANSIENT,     /* restarted unless normal, shutdown, {shutdown,_} */
  PHC__SUP_TEMPORARY      /* never restarted; its spec goes when it ends */
};

#define PHC__SUP_BRUTAL_KILL 0 /* shutdown_ms: exit(Child, kill) at once */
#define PHC__SUP_INFINITY (-1) /* shutdown_ms: wait for the child forever */

/* Starts a child linked to the supervisor `sup` (C start functions must
 * link it themselves, e.g. phc_spawn(..., sup, PHC_SPAWN_LINK, out)). */
typedef int (*phc__sup_start_fn)(phc_node_t *n, const phc_pid_t *sup, void *arg,
                                 phc_pid_t *out);

typedef struct phc__sup_spec_s {
  const char *id;     /* unique within the supervisor (copied) */
  const char *module; /* a registered child type, started with phc_gs_start */
  const char *args;   /* its argument list, encoded with version (copied) */
  int args_len;
  phc__sup_start_fn start_fn; /* used instead of module when set */
  void *start_arg;
  int restart;     /* enum phc__sup_restart */
  int shutdown_ms; /* >0, PHC__SUP_BRUTAL_KILL or PHC__SUP_INFINITY */
} phc__sup_spec_t;

enum phc__sup_event {
  PHC__SUP_CHILD_RESTARTED = 0, /* old_pid -> new_pid */
  PHC__SUP_CHILD_GONE,          /* old_pid ended and will not restart */
  PHC__SUP_STOPPED              /* the supervisor exited (id NULL) */
};

/* reason: the exit reason (encoded, version byte) for GONE and STOPPED. */
typedef void (*phc__sup_event_cb)(phc__sup_t *sup, int event, const char *id,
                                  const phc_pid_t *old_pid,
                                  const phc_pid_t *new_pid, const char *reason,
                                  int len, void *arg);

typedef struct phc__sup_config_s {
  int max_restarts;           /* OTP's intensity */
  int max_seconds;            /* OTP's period */
  phc__sup_event_cb on_event; /* may be NULL */
  void *arg;
} phc__sup_config_t;

/* cfg NULL: intensity 3 in 5 seconds, no events. parent (may be NULL) is
 * linked; its exit stops the supervisor with the same reason. */
int phc__sup_start(phc_node_t *n, const phc__sup_config_t *cfg,
                   const phc_pid_t *parent, phc__sup_t **out, phc_pid_t *pid);
/* The supervisor behind a pid, or NULL. */
phc__sup_t *phc__sup_from_pid(phc_node_t *n, const phc_pid_t *pid);
const phc_pid_t *phc__sup_pid(const phc__sup_t *s);

/* Start a child now. PHC_EEXIST for a known id; a start error otherwise
 * (the spec is then not kept). */
int phc__sup_start_child(phc__sup_t *s, const phc__sup_spec_t *spec,
                         phc_pid_t *out);
/* Begin terminating a running child (shutdown, then kill after its
 * shutdown time). GONE follows when it is down. The spec stays (temporary
 * ones excepted) and can be restarted or deleted. */
int phc__sup_terminate_child(phc__sup_t *s, const char *id);
int phc__sup_restart_child(phc__sup_t *s, const char *id, phc_pid_t *out);
/* Remove the spec of a child that is not running. */
int phc__sup_delete_child(phc__sup_t *s, const char *id);
/* 0 and the pid when running; PHC_ESTATE when known but not running;
 * PHC_ENOPROC when unknown. */
int phc__sup_which_child(phc__sup_t *s, const char *id, phc_pid_t *out);
/* Each child, newest first (the order of OTP's which_children): its id,
 * its child type (NULL for a start function) and its pid, NULL when it is
 * not running. */
typedef void (*phc__sup_each_fn)(void *arg, const char *id, const char *module,
                                 const phc_pid_t *pid);
void phc__sup_each(const phc__sup_t *s, phc__sup_each_fn fn, void *arg);
/* Number of child specs and of running children. */
int phc__sup_count(const phc__sup_t *s, int *running);
/* Terminate every child (last started first), then exit with reason (an
 * atom). Asynchronous; STOPPED is the last event. */
void phc__sup_stop(phc__sup_t *s, const char *reason);

#endif /* PHC_SUPERVISOR_H */
