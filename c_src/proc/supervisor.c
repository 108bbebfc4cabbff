/* supervisor.c - one_for_one supervision (see supervisor.h). */
#include "proc/supervisor.h"

#include <stdlib.h>
#include <sys/queue.h>
#include <uthash.h>

#include "proc/proc_int.h"
#include "term/enc.h"
#include "term/term.h"

#define SUP_MOD "supervisor"

/* One per child, so kept small: the module name interned, the id inline. */
typedef struct sup_child_s {
  TAILQ_ENTRY(sup_child_s) next;
  UT_hash_handle hh_id, hh_pid;
  const char *module; /* interned (phc__intern) */
  char *args;
  phc__sup_start_fn start_fn;
  void *start_arg;
  erlang_ref *timer;  /* the shutdown kill timer, while one runs */
  phc__cpid_t cpid;   /* the running (or last) pid, compact */
  unsigned pidkey[2]; /* num, serial: the by_pid index key while running */
  int args_len;
  int shutdown_ms;
  unsigned restart : 2;
  unsigned running : 1;
  unsigned terminating : 1;
  unsigned has_timer : 1;
  unsigned pid_indexed : 1;
  char id[];
} sup_child_t;

struct phc__sup_s {
  phc_proc_t *p;
  phc_node_t *n;
  erlang_pid pid;
  erlang_pid parent;
  int has_parent;
  phc__sup_config_t cfg;
  TAILQ_HEAD(sup_child_head, sup_child_s) children;
  sup_child_t *by_id;  /* uthash on id */
  sup_child_t *by_pid; /* uthash on pidkey, running children only */
  uint64_t *restarts;  /* ms timestamps within the period */
  int nrestarts;
  int stopping;
  sup_child_t *stop_at; /* stopping: the child to stop next; after it, all stopped */
  char *stop_reason;
  int stop_len;
};

static const phc_proc_ops_t sup_ops;

/* ---- children ----------------------------------------------------------- */

static erlang_pid child_pid(const sup_child_t *c) {
  erlang_pid p;
  phc__cpid_get(&c->cpid, &p);
  return p;
}

static sup_child_t *child_by_id(phc__sup_t *s, const char *id) {
  sup_child_t *c = NULL;
  HASH_FIND(hh_id, s->by_id, id, strlen(id), c);
  return c;
}

static sup_child_t *child_by_pid(phc__sup_t *s, const erlang_pid *pid) {
  unsigned key[2] = {pid->num, pid->serial};
  sup_child_t *c = NULL;
  HASH_FIND(hh_pid, s->by_pid, key, sizeof key, c);
  return c && c->running && phc__cpid_eq(&c->cpid, pid) ? c : NULL;
}

static void pid_index_clear(phc__sup_t *s, sup_child_t *c) {
  if (!c->pid_indexed) return;
  HASH_DELETE(hh_pid, s->by_pid, c);
  c->pid_indexed = 0;
}

static void pid_index_set(phc__sup_t *s, sup_child_t *c) {
  pid_index_clear(s, c);
  c->pidkey[0] = c->cpid.num;
  c->pidkey[1] = c->cpid.serial;
  HASH_ADD(hh_pid, s->by_pid, pidkey, sizeof c->pidkey, c);
  c->pid_indexed = 1;
}

static void child_free(phc__sup_t *s, sup_child_t *c) {
  if (s->stop_at == c) s->stop_at = TAILQ_PREV(c, sup_child_head, next);
  pid_index_clear(s, c);
  HASH_DELETE(hh_id, s->by_id, c);
  TAILQ_REMOVE(&s->children, c, next);
  free(c->args);
  free(c->timer);
  free(c);
}

static int child_spawn(phc__sup_t *s, sup_child_t *c) {
  phc_pid_t pid;
  int rc;
  if (c->start_fn)
    rc = c->start_fn(s->n, &s->pid, c->start_arg, &pid);
  else
    rc = phc_gs_start(s->n, c->module, c->args, c->args_len, &s->pid, 1, &pid);
  if (rc < 0) return rc;
  phc__cpid_set(&c->cpid, &pid);
  c->running = 1;
  c->terminating = 0;
  pid_index_set(s, c);
  return 0;
}

static void emit(phc__sup_t *s, int ev, const char *id, const erlang_pid *old,
                 const erlang_pid *new_pid, const char *reason, int len) {
  if (s->cfg.on_event)
    s->cfg.on_event(s, ev, id, old, new_pid, reason, len, s->cfg.arg);
}

static void emit_atom(phc__sup_t *s, int ev, const char *id,
                      const erlang_pid *old, const char *atom) {
  ei_x_buff x;
  if (phc__x_atom_term(&x, atom) < 0) return;
  emit(s, ev, id, old, NULL, x.buff, x.index);
  ei_x_free(&x);
}

/* ---- restart intensity -------------------------------------------------- */

static uint64_t now_ms(void) { return uv_hrtime() / 1000000u; }

/* Records a restart; 1 when the intensity is exceeded. */
static int add_restart(phc__sup_t *s) {
  uint64_t now = now_ms();
  uint64_t period =
      (uint64_t)(s->cfg.max_seconds > 0 ? s->cfg.max_seconds : 0) * 1000u;
  int k = 0;
  for (int i = 0; i < s->nrestarts; i++)
    if (now - s->restarts[i] < period) s->restarts[k++] = s->restarts[i];
  s->restarts =
      phc__xrealloc(s->restarts, sizeof *s->restarts * (size_t)(k + 1));
  s->restarts[k++] = now;
  s->nrestarts = k;
  return k > s->cfg.max_restarts;
}

/* ---- shutdown ----------------------------------------------------------- */

static void send_self_pid_msg(phc__sup_t *s, const char *tag,
                              const erlang_pid *pid, unsigned ms,
                              erlang_ref *tref) {
  ei_x_buff x;
  phc__x_new_with_version(&x);
  phc__x_tuple_header(&x, 2);
  phc__x_atom(&x, tag);
  phc__x_pid(&x, pid);
  phc_send_after(s->n, ms, &s->pid, x.buff, x.index, tref);
  ei_x_free(&x);
}

static void exit_atom(phc__sup_t *s, const erlang_pid *to, const char *atom) {
  ei_x_buff x;
  if (phc__x_atom_term(&x, atom) < 0) return;
  phc_exit(s->n, &s->pid, to, x.buff, x.index);
  ei_x_free(&x);
}

static void child_terminate(phc__sup_t *s, sup_child_t *c) {
  if (!c->running || c->terminating) return;
  c->terminating = 1;
  erlang_pid pid = child_pid(c);
  if (c->shutdown_ms == PHC__SUP_BRUTAL_KILL) {
    exit_atom(s, &pid, "kill");
    return;
  }
  exit_atom(s, &pid, "shutdown");
  if (c->shutdown_ms > 0) {
    if (!c->timer) c->timer = phc__xmalloc(sizeof *c->timer);
    send_self_pid_msg(s, "$phc_sup_kill", &pid, (unsigned)c->shutdown_ms,
                      c->timer);
    c->has_timer = 1;
  }
}

/* Stopping: terminate the last running child, or exit when none is left.
 * stop_at walks from the tail to the head once (no child starts while
 * stopping), so stopping n children is O(n), not a scan per exit. */
static void shutdown_next(phc__sup_t *s) {
  sup_child_t *c = s->stop_at;
  while (c && !c->running) c = TAILQ_PREV(c, sup_child_head, next);
  s->stop_at = c;
  if (!c) {
    phc_proc_exit(s->p, s->stop_reason, s->stop_len);
    return;
  }
  if (!c->terminating) child_terminate(s, c);
}

static void begin_stop(phc__sup_t *s, const char *reason, int len) {
  if (s->stopping) return;
  s->stopping = 1;
  s->stop_reason = phc__xmalloc((size_t)len);
  memcpy(s->stop_reason, reason, (size_t)len);
  s->stop_len = len;
  s->stop_at = TAILQ_LAST(&s->children, sup_child_head);
  shutdown_next(s);
}

static void begin_stop_atom(phc__sup_t *s, const char *atom) {
  ei_x_buff x;
  if (phc__x_atom_term(&x, atom) < 0) return;
  begin_stop(s, x.buff, x.index);
  ei_x_free(&x);
}

void phc__sup_stop(phc__sup_t *s, const char *reason) {
  if (s) begin_stop_atom(s, reason ? reason : "shutdown");
}

/* ---- child exits -------------------------------------------------------- */

static int is_shutdown_reason(const char *buf, int len) {
  if (phc__term_is_atom(buf, len, "normal") ||
      phc__term_is_atom(buf, len, "shutdown"))
    return 1;
  int idx = 0, ver, arity;
  char a[MAXATOMLEN_UTF8];
  return ei_decode_version(buf, &idx, &ver) == 0 &&
         ei_decode_tuple_header(buf, &idx, &arity) == 0 && arity == 2 &&
         phc__term_atom(buf, &idx, a, sizeof a) == 0 &&
         strcmp(a, "shutdown") == 0;
}

static int wants_restart(const sup_child_t *c, const char *reason, int len) {
  if (c->restart == PHC__SUP_PERMANENT) return 1;
  if (c->restart == PHC__SUP_TRANSIENT) return !is_shutdown_reason(reason, len);
  return 0;
}

static void child_gone(phc__sup_t *s, sup_child_t *c, const erlang_pid *old,
                       const char *reason, int len) {
  char *id = phc__xstrdup(c->id);
  if (c->restart == PHC__SUP_TEMPORARY) child_free(s, c);
  emit(s, PHC__SUP_CHILD_GONE, id, old, NULL, reason, len);
  free(id);
}

static void try_restart(phc__sup_t *s, sup_child_t *c, const erlang_pid *old) {
  if (add_restart(s)) {
    PHC_LOG_W(SUP_MOD, "child %s: restart intensity reached, stopping", c->id);
    emit_atom(s, PHC__SUP_CHILD_GONE, c->id, old, "shutdown");
    begin_stop_atom(s, "shutdown");
    return;
  }
  if (child_spawn(s, c) == 0) {
    erlang_pid np = child_pid(c);
    emit(s, PHC__SUP_CHILD_RESTARTED, c->id, old, &np, NULL, 0);
    return;
  }
  /* Start failed: try again from the mailbox; it counts as a restart. */
  PHC_LOG_W(SUP_MOD, "child %s: restart failed, retrying", c->id);
  phc__cpid_set(&c->cpid, old);
  send_self_pid_msg(s, "$phc_sup_retry", old, 0, NULL);
}

static void child_exited(phc__sup_t *s, sup_child_t *c, const char *reason,
                         int len) {
  erlang_pid old = child_pid(c);
  c->running = 0;
  pid_index_clear(s, c);
  if (c->has_timer) phc_cancel_timer(s->n, c->timer);
  c->has_timer = 0;
  if (c->terminating || s->stopping) {
    c->terminating = 0;
    child_gone(s, c, &old, reason, len);
    if (s->stopping) shutdown_next(s);
    return;
  }
  if (!wants_restart(c, reason, len)) {
    child_gone(s, c, &old, reason, len);
    return;
  }
  try_restart(s, c, &old);
}

/* ---- the process -------------------------------------------------------- */

static void on_exit_msg(phc__sup_t *s, const char *buf, int idx) {
  erlang_pid from;
  if (ei_decode_pid(buf, &idx, &from) < 0) return;
  int start = idx;
  if (ei_skip_term(buf, &idx) < 0) return;
  int rlen;
  char *reason = phc__term_with_version(buf + start, idx - start, &rlen);
  if (s->has_parent && phc_pid_eq(&from, &s->parent)) {
    begin_stop(s, reason, rlen);
  } else {
    sup_child_t *c = child_by_pid(s, &from);
    if (c) child_exited(s, c, reason, rlen);
  }
  free(reason);
}

static void on_kill_timer(phc__sup_t *s, const erlang_pid *pid) {
  sup_child_t *c = child_by_pid(s, pid);
  if (!c || !c->terminating) return;
  c->has_timer = 0;
  PHC_LOG_I(SUP_MOD, "child %s: shutdown timed out, killing", c->id);
  exit_atom(s, pid, "kill");
}

static void on_retry(phc__sup_t *s, const erlang_pid *old) {
  sup_child_t *c;
  TAILQ_FOREACH(c, &s->children, next) {
    if (!c->running && phc__cpid_eq(&c->cpid, old)) {
      if (!s->stopping) try_restart(s, c, old);
      return;
    }
  }
}

static void sup_handle_msg(phc_proc_t *p, const char *buf, int len) {
  PHC__UNUSED(len);
  phc__sup_t *s = phc_proc_data(p);
  int idx = 0, ver, arity;
  char tag[MAXATOMLEN_UTF8];
  erlang_pid pid;
  if (ei_decode_version(buf, &idx, &ver) < 0 ||
      ei_decode_tuple_header(buf, &idx, &arity) < 0 ||
      phc__term_atom(buf, &idx, tag, sizeof tag) < 0)
    return;
  if (arity == 3 && strcmp(tag, "EXIT") == 0) {
    on_exit_msg(s, buf, idx);
  } else if (arity == 2 && strcmp(tag, "$phc_sup_kill") == 0) {
    if (ei_decode_pid(buf, &idx, &pid) == 0) on_kill_timer(s, &pid);
  } else if (arity == 2 && strcmp(tag, "$phc_sup_retry") == 0) {
    if (ei_decode_pid(buf, &idx, &pid) == 0) on_retry(s, &pid);
  } else {
    PHC_LOG_D(SUP_MOD, "unexpected message %s ignored", tag);
  }
}

static void sup_terminate(phc_proc_t *p, const char *reason, int len) {
  phc__sup_t *s = phc_proc_data(p);
  if (!s) return;
  sup_child_t *c;
  while ((c = TAILQ_LAST(&s->children, sup_child_head))) {
    /* Still running (the supervisor was killed): the broken link ends it. */
    erlang_pid cp = child_pid(c);
    if (c->running) emit(s, PHC__SUP_CHILD_GONE, c->id, &cp, NULL, reason, len);
    child_free(s, c);
  }
  emit(s, PHC__SUP_STOPPED, NULL, &s->pid, NULL, reason, len);
  phc_proc_set_data(p, NULL);
  free(s->restarts);
  free(s->stop_reason);
  free(s);
}

static int sup_init(phc_proc_t *p, void *arg) {
  phc__sup_t *s = arg;
  s->p = p;
  s->pid = *phc_self(p);
  phc_proc_set_data(p, s);
  phc_proc_trap_exit(p, 1);
  return 0;
}

static const phc_proc_ops_t sup_ops = {
    .name = "supervisor",
    .init = sup_init,
    .handle_msg = sup_handle_msg,
    .terminate = sup_terminate,
};

/* ---- API ---------------------------------------------------------------- */

int phc__sup_start(phc_node_t *n, const phc__sup_config_t *cfg,
                   const phc_pid_t *parent, phc__sup_t **out, phc_pid_t *pid) {
  if (!n || !n->rt) return PHC_EINVAL;
  phc__sup_t *s = phc__xcalloc(1, sizeof *s);
  s->n = n;
  TAILQ_INIT(&s->children);
  if (cfg) {
    s->cfg = *cfg;
  } else {
    s->cfg.max_restarts = 3;
    s->cfg.max_seconds = 5;
  }
  if (parent) {
    s->parent = *parent;
    s->has_parent = 1;
  }
  phc_pid_t spid;
  int rc = phc_spawn(n, &sup_ops, s, NULL, 0, &spid);
  if (rc < 0) {
    free(s);
    return rc;
  }
  if (parent) phc_link(s->p, parent);
  if (out) *out = s;
  if (pid) *pid = spid;
  return 0;
}

phc__sup_t *phc__sup_from_pid(phc_node_t *n, const phc_pid_t *pid) {
  phc_proc_t *p = phc_proc_lookup(n, pid);
  if (!p || p->ops != &sup_ops) return NULL;
  return phc_proc_data(p);
}

const phc_pid_t *phc__sup_pid(const phc__sup_t *s) {
  return s ? &s->pid : NULL;
}

int phc__sup_start_child(phc__sup_t *s, const phc__sup_spec_t *spec,
                         phc_pid_t *out) {
  if (!s || !spec || !spec->id || (!spec->module && !spec->start_fn))
    return PHC_EINVAL;
  if (s->stopping) return PHC_ESTATE;
  if (child_by_id(s, spec->id)) return PHC_EEXIST;
  size_t idlen = strlen(spec->id);
  sup_child_t *c = phc__xcalloc(1, sizeof *c + idlen + 1);
  memcpy(c->id, spec->id, idlen + 1);
  c->module = spec->module ? phc__intern(spec->module) : NULL;
  if (spec->args && spec->args_len > 0) {
    c->args = phc__xmalloc((size_t)spec->args_len);
    memcpy(c->args, spec->args, (size_t)spec->args_len);
    c->args_len = spec->args_len;
  }
  c->start_fn = spec->start_fn;
  c->start_arg = spec->start_arg;
  c->restart = (unsigned)spec->restart & 3u;
  c->shutdown_ms = spec->shutdown_ms;
  TAILQ_INSERT_TAIL(&s->children, c, next);
  HASH_ADD_KEYPTR(hh_id, s->by_id, c->id, strlen(c->id), c);
  int rc = child_spawn(s, c);
  if (rc < 0) {
    child_free(s, c);
    return rc;
  }
  if (out) *out = child_pid(c);
  return 0;
}

int phc__sup_terminate_child(phc__sup_t *s, const char *id) {
  if (!s || !id) return PHC_EINVAL;
  sup_child_t *c = child_by_id(s, id);
  if (!c) return PHC_ENOPROC;
  if (!c->running) return 0;
  child_terminate(s, c);
  return 0;
}

int phc__sup_restart_child(phc__sup_t *s, const char *id, phc_pid_t *out) {
  if (!s || !id) return PHC_EINVAL;
  sup_child_t *c = child_by_id(s, id);
  if (!c) return PHC_ENOPROC;
  if (c->running || s->stopping) return PHC_ESTATE;
  int rc = child_spawn(s, c);
  if (rc == 0 && out) *out = child_pid(c);
  return rc;
}

int phc__sup_delete_child(phc__sup_t *s, const char *id) {
  if (!s || !id) return PHC_EINVAL;
  sup_child_t *c = child_by_id(s, id);
  if (!c) return PHC_ENOPROC;
  if (c->running) return PHC_ESTATE;
  child_free(s, c);
  return 0;
}

int phc__sup_which_child(phc__sup_t *s, const char *id, phc_pid_t *out) {
  if (!s || !id) return PHC_EINVAL;
  sup_child_t *c = child_by_id(s, id);
  if (!c) return PHC_ENOPROC;
  if (!c->running) return PHC_ESTATE;
  if (out) *out = child_pid(c);
  return 0;
}

void phc__sup_each(const phc__sup_t *s, phc__sup_each_fn fn, void *arg) {
  const sup_child_t *c;
  TAILQ_FOREACH_REVERSE(c, &s->children, sup_child_head, next) {
    erlang_pid p = child_pid(c);
    fn(arg, c->id, c->module, c->running ? &p : NULL);
  }
}

int phc__sup_count(const phc__sup_t *s, int *running) {
  int total = 0, run = 0;
  const sup_child_t *c;
  TAILQ_FOREACH(c, &s->children, next) {
    total++;
    run += c->running;
  }
  if (running) *running = run;
  return total;
}
