/* signal.c - links, exit signals, what a process's exit takes down, and
 * monitors, with OTP semantics (see proc.h, proc_int.h). Tested with the
 * rest of the runtime in test_proc.c. */
#include <stdlib.h>

#include "proc/proc_int.h"
#include "term/enc.h"

/* ---- encoders ----------------------------------------------------------- */

static int x_append_term(ei_x_buff *x, const char *buf, int len) {
  const char *body;
  int blen;
  phc__term_body(buf, len, &body, &blen);
  return phc__x_append_buf(x, body, blen);
}

/* {'EXIT', From, Reason} */
static int encode_exit_msg(ei_x_buff *x, const erlang_pid *from,
                           const char *reason, int len) {
  if (phc__x_new_with_version(x) < 0) return PHC_ENOMEM;
  if (phc__x_tuple_header(x, 3) < 0 || phc__x_atom(x, "EXIT") < 0 ||
      phc__x_pid(x, from) < 0 || x_append_term(x, reason, len) < 0) {
    ei_x_free(x);
    return PHC_EINVAL;
  }
  return 0;
}

/* {'DOWN', Ref, process, Pid | {Name, Node}, Reason} */
static int encode_down(ei_x_buff *x, const erlang_ref *ref,
                       const erlang_pid *pid, const char *name,
                       const char *node, const char *reason, int len) {
  if (phc__x_new_with_version(x) < 0) return PHC_ENOMEM;
  int rc = phc__x_tuple_header(x, 5) | phc__x_atom(x, "DOWN") |
           phc__x_ref(x, ref) | phc__x_atom(x, "process");
  if (name)
    rc |=
        phc__x_tuple_header(x, 2) | phc__x_atom(x, name) | phc__x_atom(x, node);
  else
    rc |= phc__x_pid(x, pid);
  rc |= x_append_term(x, reason, len);
  if (rc < 0) {
    ei_x_free(x);
    return PHC_EINVAL;
  }
  return 0;
}

void phc__proc_send_down(phc_proc_t *w, const erlang_ref *ref,
                         const erlang_pid *pid, const char *name,
                         const char *node, const char *reason, int len) {
  ei_x_buff x;
  if (encode_down(&x, ref, pid, name, node, reason, len) < 0) return;
  phc__proc_enqueue_msg(w, x.buff, x.index);
  ei_x_free(&x);
}

void phc__proc_send_down_atom(phc_proc_t *w, const erlang_ref *ref,
                              const erlang_pid *pid, const char *name,
                              const char *node, const char *atom) {
  int len;
  char *r = phc__proc_atom_term(atom, &len);
  if (!r) return;
  phc__proc_send_down(w, ref, pid, name, node, r, len);
  free(r);
}

/* ---- links -------------------------------------------------------------- */

static void link_key(const erlang_pid *pid, unsigned key[3]) {
  unsigned h = 2166136261u; /* FNV-1a of the node name */
  for (const char *c = pid->node; *c; c++)
    h = (h ^ (unsigned char)*c) * 16777619u;
  key[0] = pid->num;
  key[1] = pid->serial;
  key[2] = h;
}

/* The link index is built once a process has PHC__LINK_IDX_MIN links (a
 * supervisor); below that a scan is cheaper than uthash's table and 32
 * buckets, which would cost every supervised child about 600 bytes. */
static void link_idx_build(phc_proc_t *p) {
  phc__link_t *l;
  TAILQ_FOREACH(l, &p->links, next)
  HASH_ADD(hh, p->link_idx, key, sizeof l->key, l);
  p->link_indexed = 1;
}

phc__link_t *phc__link_find(phc_proc_t *p, const erlang_pid *other) {
  unsigned key[3];
  phc__link_t *l = NULL;
  if (!p->link_indexed) {
    TAILQ_FOREACH(l, &p->links, next)
    if (phc__cpid_eq(&l->other, other)) return l;
    return NULL;
  }
  link_key(other, key);
  HASH_FIND(hh, p->link_idx, key, sizeof key, l);
  if (!l || phc__cpid_eq(&l->other, other)) return l;
  TAILQ_FOREACH(l, &p->links, next) /* a key collision: look everywhere */
  if (phc__cpid_eq(&l->other, other)) return l;
  return NULL;
}

void phc__link_del(phc_proc_t *p, phc__link_t *l) {
  if (p->link_indexed) HASH_DEL(p->link_idx, l);
  TAILQ_REMOVE(&p->links, l, next);
  free(l);
  if (--p->nlinks == 0) p->link_indexed = 0; /* uthash freed its table */
}

/* Adds (or reactivates) a link entry; 1 if it was not active before. */
int phc__link_add(phc_proc_t *p, const erlang_pid *other) {
  phc__link_t *l = phc__link_find(p, other);
  if (l) {
    int was = l->unlinking != 0;
    l->unlinking = 0;
    return was;
  }
  l = phc__xcalloc(1, sizeof *l);
  phc__cpid_set(&l->other, other);
  link_key(other, l->key);
  TAILQ_INSERT_TAIL(&p->links, l, next);
  p->nlinks++;
  if (p->link_indexed)
    HASH_ADD(hh, p->link_idx, key, sizeof l->key, l);
  else if (p->nlinks >= PHC__LINK_IDX_MIN)
    link_idx_build(p);
  return 1;
}

void phc__proc_sig_atom(phc_proc_t *p, const erlang_pid *from, const char *atom,
                        int exit2, int forced) {
  int len;
  char *r = phc__proc_atom_term(atom, &len);
  if (!r) return;
  phc__proc_enqueue_sig(p, from, r, len, exit2, forced);
  free(r);
}

int phc_link(phc_proc_t *p, const phc_pid_t *other) {
  if (!p || !other) return PHC_EINVAL;
  phc_node_t *n = p->n;
  if (phc_pid_eq(phc_self(p), other)) return 0;
  if (phc__pid_is_local(n, other) || phc__pid_is_stale(n, other)) {
    phc_proc_t *q = phc__proc_find(n, other);
    if (!q) {
      phc__proc_sig_atom(p, other, "noproc", 0, 1);
      return PHC_ENOPROC;
    }
    phc__link_add(p, other);
    phc__link_add(q, phc_self(p));
    return 0;
  }
  if (!phc__link_add(p, other)) return 0;
  if (!phc__remote_ok(n) || !n->remote->link) return PHC_ENOTCONN;
  return n->remote->link(n->remote_ctx, phc_self(p), other);
}

int phc_unlink(phc_proc_t *p, const phc_pid_t *other) {
  if (!p || !other) return PHC_EINVAL;
  phc_node_t *n = p->n;
  phc__link_t *l = phc__link_find(p, other);
  if (phc__pid_is_local(n, other)) {
    if (l) phc__link_del(p, l);
    phc_proc_t *q = phc__proc_find(n, other);
    if (q && (l = phc__link_find(q, phc_self(p)))) phc__link_del(q, l);
    return 0;
  }
  if (!l || l->unlinking) return 0;
  l->unlinking = ++n->rt->unlink_counter;
  if (!phc__remote_ok(n) || !n->remote->unlink_id) return PHC_ENOTCONN;
  return n->remote->unlink_id(n->remote_ctx, l->unlinking, phc_self(p), other);
}

/* ---- exit signals ------------------------------------------------------- */

void phc__proc_kill_atom(phc_proc_t *p, const char *atom) {
  int len;
  char *r = phc__proc_atom_term(atom, &len);
  if (r) phc__proc_do_exit(p, r, len);
  free(r);
}

/* Consumes one exit signal. 1 if p is still alive afterwards. */
int phc__proc_exit_signal(phc_proc_t *p, const phc__msg_t *m) {
  erlang_pid from;
  phc__cpid_get(&m->from, &from);
  if (!m->exit2) {
    phc__link_t *l = phc__link_find(p, &from);
    if (!l && !m->forced) return 1; /* no link (any more): ignored */
    int unlinking = l && l->unlinking;
    if (l) phc__link_del(p, l);
    if (unlinking && !m->forced) return 1;
  }
  if (m->exit2 && phc__term_is_atom(m->buf, m->len, "kill")) {
    phc__proc_kill_atom(p, "killed");
    return 0;
  }
  if (p->trap_exit) {
    ei_x_buff x;
    if (encode_exit_msg(&x, &from, m->buf, m->len) < 0) return 1;
    int alive = phc__proc_call_handle_msg(p, x.buff, x.index);
    ei_x_free(&x);
    return alive;
  }
  if (phc__term_is_atom(m->buf, m->len, "normal")) {
    if (!(m->exit2 && phc_pid_eq(&from, phc_self(p)))) return 1;
  }
  phc__proc_do_exit(p, m->buf, m->len);
  return 0;
}

int phc_exit(phc_node_t *n, const phc_pid_t *from, const phc_pid_t *to,
             const char *reason, int len) {
  if (!n || !n->rt || !to || !reason || len <= 0) return PHC_EINVAL;
  if (!from) from = &n->rt->node_pid;
  if (phc__pid_is_local(n, to) || phc__pid_is_stale(n, to)) {
    phc__proc_enqueue_sig(phc__proc_find(n, to), from, reason, len, 1, 0);
    return 0;
  }
  if (!phc__remote_ok(n) || !n->remote->exit2) return PHC_ENOTCONN;
  return n->remote->exit2(n->remote_ctx, from, to, reason, len);
}

void phc_proc_exit(phc_proc_t *p, const char *reason, int len) {
  if (!p || p->state != PHC__P_ALIVE || !reason || len <= 0) return;
  if (p->running > 0) {
    p->state = PHC__P_EXIT_PENDING;
    p->exit_reason = phc__xmalloc((size_t)len);
    memcpy(p->exit_reason, reason, (size_t)len);
    p->exit_len = len;
    return;
  }
  phc__proc_do_exit(p, reason, len);
}

void phc_proc_exit_atom(phc_proc_t *p, const char *reason) {
  int len;
  char *r = phc__proc_atom_term(reason, &len);
  if (!r) return;
  phc_proc_exit(p, r, len);
  free(r);
}

/* ---- what an exit takes down -------------------------------------------- */

static void exit_links(phc_proc_t *p, const char *reason, int len) {
  phc_node_t *n = p->n;
  phc__link_t *l;
  while ((l = TAILQ_FIRST(&p->links))) {
    if (!l->unlinking) {
      erlang_pid other;
      phc__cpid_get(&l->other, &other);
      if (phc__pid_is_local(n, &other))
        phc__proc_enqueue_sig(phc__proc_find(n, &other), phc_self(p), reason,
                              len, 0, 0);
      else if (phc__remote_ok(n) && n->remote->exit)
        n->remote->exit(n->remote_ctx, phc_self(p), &other, reason, len);
    }
    phc__link_del(p, l);
  }
}

void phc__mon_in_free(struct phc__rt_s *rt, phc__mon_in_t *m) {
  HASH_DELETE(hh, rt->mons_in, m);
  if (m->target) TAILQ_REMOVE(&m->target->mons_in, m, next);
  free(m->key);
  free(m->name);
  free(m);
}

phc__mon_in_t *phc__mon_in_find(struct phc__rt_s *rt, const erlang_ref *r) {
  int kl;
  char *k = phc__ref_key(r, &kl);
  phc__mon_in_t *m = NULL;
  HASH_FIND(hh, rt->mons_in, k, (unsigned)kl, m);
  free(k);
  return m;
}

phc__mon_out_t *phc__mon_out_find(phc_proc_t *p, const erlang_ref *r) {
  phc__mon_out_t *o;
  TAILQ_FOREACH(o, &p->mons_out, next)
  if (phc_ref_eq(&o->ref, r)) return o;
  return NULL;
}

void phc__mon_out_free(phc_proc_t *p, phc__mon_out_t *o) {
  TAILQ_REMOVE(&p->mons_out, o, next);
  free(o->name);
  free(o->node);
  free(o);
}

/* Everyone watching p learns that it is down. */
static void exit_mons_in(phc_proc_t *p, const char *reason, int len) {
  phc_node_t *n = p->n;
  phc__mon_in_t *m;
  while ((m = TAILQ_FIRST(&p->mons_in))) {
    if (phc__pid_is_local(n, &m->watcher)) {
      phc_proc_t *w = phc__proc_find(n, &m->watcher);
      phc__mon_out_t *o = w ? phc__mon_out_find(w, &m->ref) : NULL;
      if (o) {
        phc__mon_out_free(w, o);
        phc__proc_send_down(w, &m->ref, phc_self(p), m->name, n->name, reason,
                            len);
      }
    } else if (phc__remote_ok(n) && n->remote->monitor_exit) {
      n->remote->monitor_exit(n->remote_ctx, m->name ? NULL : phc_self(p),
                              m->name, &m->watcher, &m->ref, reason, len);
    }
    phc__mon_in_free(n->rt, m);
  }
}

/* The monitors p holds go away with it. */
static void exit_mons_out(phc_proc_t *p) {
  phc_node_t *n = p->n;
  phc__mon_out_t *o;
  while ((o = TAILQ_FIRST(&p->mons_out))) {
    if (o->local) {
      phc__mon_in_t *m = phc__mon_in_find(n->rt, &o->ref);
      if (m) phc__mon_in_free(n->rt, m);
    } else if (phc__remote_ok(n) && n->remote->demonitor) {
      n->remote->demonitor(n->remote_ctx, phc_self(p),
                           o->by_name ? NULL : &o->target, o->name, o->node,
                           &o->ref);
    }
    phc__mon_out_free(p, o);
  }
}

/* The process ends: terminate callback, then every signal its death
 * causes, then it is freed. Called only when no callback of p runs. */
void phc__proc_do_exit(phc_proc_t *p, const char *reason, int len) {
  struct phc__rt_s *rt = p->n->rt;
  p->state = PHC__P_DEAD;
  PHC_LOG_D(PHC__PROC_MOD, "<%u.%u> (%s) exits", p->num, p->serial,
            p->ops->name ? p->ops->name : "?");
  if (p->ops->terminate) {
    phc_proc_t *prev = rt->current;
    rt->current = p;
    p->running++;
    p->ops->terminate(p, reason, len);
    p->running--;
    rt->current = prev == p ? NULL : prev;
  }
  phc__proc_table_del(p);
  phc__name_proc_exit(p);
  phc__timers_proc_exit(p);
  exit_links(p, reason, len);
  exit_mons_out(p);
  exit_mons_in(p, reason, len);
  phc__proc_free(p);
}

/* ---- monitors ----------------------------------------------------------- */

phc__mon_in_t *phc__mon_in_add(phc_node_t *n, phc_proc_t *target,
                               const erlang_pid *watcher, const char *name,
                               const erlang_ref *ref) {
  phc__mon_in_t *m = phc__xcalloc(1, sizeof *m);
  m->ref = *ref;
  m->key = phc__ref_key(ref, &m->keylen);
  phc__mon_in_t *dup = NULL;
  HASH_FIND(hh, n->rt->mons_in, m->key, (unsigned)m->keylen, dup);
  if (dup) {
    free(m->key);
    free(m);
    return NULL;
  }
  m->watcher = *watcher;
  m->name = name ? phc__xstrdup(name) : NULL;
  m->target = target;
  HASH_ADD_KEYPTR(hh, n->rt->mons_in, m->key, (unsigned)m->keylen, m);
  TAILQ_INSERT_TAIL(&target->mons_in, m, next);
  return m;
}

static phc__mon_out_t *mon_out_add(phc_proc_t *p, const erlang_ref *ref,
                                   const erlang_pid *target, const char *name,
                                   const char *node, int local) {
  phc__mon_out_t *o = phc__xcalloc(1, sizeof *o);
  o->ref = *ref;
  if (target) o->target = *target;
  o->by_name = name != NULL;
  o->name = name ? phc__xstrdup(name) : NULL;
  o->node = phc__xstrdup(node);
  o->local = local;
  TAILQ_INSERT_TAIL(&p->mons_out, o, next);
  return o;
}

static int monitor_remote(phc_proc_t *p, const erlang_pid *target,
                          const char *name, const char *node,
                          const erlang_ref *ref) {
  phc_node_t *n = p->n;
  phc__mon_out_t *o = mon_out_add(p, ref, target, name, node, 0);
  int rc = PHC_ENOTCONN;
  if (phc__remote_ok(n) && n->remote->monitor)
    rc =
        n->remote->monitor(n->remote_ctx, phc_self(p), target, name, node, ref);
  if (rc < 0) { /* no connection: DOWN at once, as the BEAM does */
    phc__mon_out_free(p, o);
    phc__proc_send_down_atom(p, ref, target, name, node, "noconnection");
  }
  return 0;
}

int phc_monitor(phc_proc_t *p, const phc_pid_t *target, phc_ref_t *ref) {
  if (!p || !target || p->state == PHC__P_DEAD) return PHC_EINVAL;
  phc_node_t *n = p->n;
  erlang_ref r;
  phc_make_ref(n, &r);
  if (ref) *ref = r;
  if (!phc__pid_is_local(n, target) && !phc__pid_is_stale(n, target))
    return monitor_remote(p, target, NULL, target->node, &r);
  phc_proc_t *t = phc__proc_find(n, target);
  if (!t) {
    phc__proc_send_down_atom(p, &r, target, NULL, NULL, "noproc");
    return 0;
  }
  phc__mon_in_add(n, t, phc_self(p), NULL, &r);
  mon_out_add(p, &r, target, NULL, n->name, 1);
  return 0;
}

int phc_monitor_name(phc_proc_t *p, const char *name, const char *node,
                     phc_ref_t *ref) {
  if (!p || !name || p->state == PHC__P_DEAD) return PHC_EINVAL;
  phc_node_t *n = p->n;
  erlang_ref r;
  phc_make_ref(n, &r);
  if (ref) *ref = r;
  if (node && strcmp(node, n->name) != 0)
    return monitor_remote(p, NULL, name, node, &r);
  phc_proc_t *t = phc__name_find(n, name);
  if (!t) {
    phc__proc_send_down_atom(p, &r, NULL, name, n->name, "noproc");
    return 0;
  }
  phc__mon_in_add(n, t, phc_self(p), name, &r);
  mon_out_add(p, &r, phc_self(t), name, n->name, 1);
  return 0;
}

int phc_demonitor(phc_proc_t *p, const phc_ref_t *ref) {
  if (!p || !ref) return PHC_EINVAL;
  phc_node_t *n = p->n;
  phc__mon_out_t *o = phc__mon_out_find(p, ref);
  if (!o) return 0;
  if (o->local) {
    phc__mon_in_t *m = phc__mon_in_find(n->rt, ref);
    if (m) phc__mon_in_free(n->rt, m);
  } else if (phc__remote_ok(n) && n->remote->demonitor) {
    n->remote->demonitor(n->remote_ctx, phc_self(p),
                         o->by_name ? NULL : &o->target, o->name, o->node, ref);
  }
  phc__mon_out_free(p, o);
  return 0;
}

int phc_monitor_nodes(phc_proc_t *p, int on) {
  if (!p) return PHC_EINVAL;
  p->monitor_nodes = on ? 1 : 0;
  return 0;
}
