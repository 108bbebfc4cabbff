/* proc.c - processes, mailboxes, names, aliases, links, monitors and exit
 * signals. See proc.h for the model and proc_int.h for the structures. */
#include "proc_int.h"

#include <stdlib.h>
#include <unistd.h>

/* ---- small helpers ------------------------------------------------------ */

char *phc__ref_key(const erlang_ref *r, int *len) {
  int words = r->len < 0 ? 0 : (r->len > 5 ? 5 : r->len);
  size_t nl = strlen(r->node);
  size_t total = (size_t)words * 4 + 8 + nl;
  char *k = phc__xmalloc(total);
  char *w = k;
  for (int i = 0; i < words; i++, w += 4) memcpy(w, &r->n[i], 4);
  uint32_t l = (uint32_t)words, c = r->creation;
  memcpy(w, &l, 4);
  memcpy(w + 4, &c, 4);
  memcpy(w + 8, r->node, nl);
  *len = (int)total;
  return k;
}

static int pid_on_node(const erlang_pid *pid, const char *node) {
  return strcmp(pid->node, node) == 0;
}

static int remote_ok(phc_node_t *n) { return n->remote != NULL; }

/* An atom term in a small static-free buffer the caller frees. */
static char *atom_term(const char *atom, int *len) {
  ei_x_buff x;
  if (phc__x_atom_term(&x, atom) < 0) return NULL;
  *len = x.index;
  return x.buff;
}

/* ---- lifecycle ---------------------------------------------------------- */

static void run_cb(uv_idle_t *h);

int phc__rt_init(phc_node_t *n) {
  if (!n || !n->loop || n->rt) return PHC_EINVAL;
  struct phc__rt_s *rt = phc__xcalloc(1, sizeof *rt);
  rt->n = n;
  TAILQ_INIT(&rt->runq);
  TAILQ_INIT(&rt->timers);
  rt->ref_salt = (uint32_t)(uv_hrtime() ^ ((uint64_t)getpid() << 16));
  rt->pid_counter = 0;
  strcpy(rt->node_pid.node, n->name);
  rt->node_pid.creation = n->creation;
  if (uv_idle_init(n->loop, &rt->idle) != 0) {
    free(rt);
    return PHC_EIO;
  }
  rt->idle.data = rt;
  n->rt = rt;
  return 0;
}

size_t phc__rt_count(const phc_node_t *n) {
  return n && n->rt ? n->rt->count : 0;
}

int phc__pid_is_local(const phc_node_t *n, const erlang_pid *pid) {
  return pid && pid->creation == n->creation && pid_on_node(pid, n->name);
}

int phc__ref_is_local(const phc_node_t *n, const erlang_ref *ref) {
  return ref && ref->creation == n->creation &&
         strcmp(ref->node, n->name) == 0;
}

/* A pid of an earlier incarnation of this node: it is dead for sure. */
static int pid_is_stale(const phc_node_t *n, const erlang_pid *pid) {
  return pid_on_node(pid, n->name) && pid->creation != n->creation;
}

int phc_make_ref(phc_node_t *n, phc_ref_t *out) {
  if (!n || !n->rt || !out) return PHC_EINVAL;
  uint64_t c = ++n->rt->ref_counter;
  memset(out, 0, sizeof *out);
  strcpy(out->node, n->name);
  out->creation = n->creation;
  out->len = 3;
  out->n[0] = (unsigned)(c & 0x3ffff);
  out->n[1] = (unsigned)(c >> 18);
  out->n[2] = n->rt->ref_salt;
  return 0;
}

/* ---- process table ------------------------------------------------------ */

phc_proc_t *phc__proc_find(phc_node_t *n, const erlang_pid *pid) {
  if (!n || !n->rt || !phc__pid_is_local(n, pid)) return NULL;
  phc_proc_t *p = NULL;
  uint32_t num = pid->num;
  HASH_FIND(hh, n->rt->procs, &num, sizeof num, p);
  if (!p || p->pid.serial != pid->serial || p->state == PHC__P_DEAD)
    return NULL;
  return p;
}

phc_proc_t *phc_proc_lookup(phc_node_t *n, const phc_pid_t *pid) {
  return phc__proc_find(n, pid);
}

static int alloc_pid(struct phc__rt_s *rt, erlang_pid *out) {
  const uint32_t num_mask = (1u << PHC__PID_NUM_BITS) - 1;
  const uint32_t ser_mask = (1u << PHC__PID_SERIAL_BITS) - 1;
  for (uint32_t tries = 0; tries <= num_mask; tries++) {
    uint32_t c = ++rt->pid_counter;
    uint32_t num = c & num_mask;
    if (num == 0) continue; /* <N.0.0> is the node itself */
    phc_proc_t *p = NULL;
    HASH_FIND(hh, rt->procs, &num, sizeof num, p);
    if (p) continue;
    memset(out, 0, sizeof *out);
    strcpy(out->node, rt->n->name);
    out->num = num;
    out->serial = (c >> PHC__PID_NUM_BITS) & ser_mask;
    out->creation = rt->n->creation;
    return 0;
  }
  return PHC_ELIMIT;
}

static int after_callback(phc_proc_t *p);
static void do_exit(phc_proc_t *p, const char *reason, int len);

int phc_spawn(phc_node_t *n, const phc_proc_ops_t *ops, void *arg,
              const phc_pid_t *parent, unsigned flags, phc_pid_t *out) {
  if (!n || !n->rt || !ops) return PHC_EINVAL;
  struct phc__rt_s *rt = n->rt;
  if (rt->closing) return PHC_ESTATE;
  phc_proc_t *p = phc__xcalloc(1, sizeof *p);
  if (alloc_pid(rt, &p->pid) < 0) {
    free(p);
    return PHC_ELIMIT;
  }
  p->num = p->pid.num;
  p->n = n;
  p->ops = ops;
  STAILQ_INIT(&p->mbox);
  TAILQ_INIT(&p->links);
  TAILQ_INIT(&p->mons_out);
  TAILQ_INIT(&p->mons_in);
  TAILQ_INIT(&p->aliases);
  TAILQ_INIT(&p->timers);
  HASH_ADD(hh, rt->procs, num, sizeof p->num, p);
  rt->count++;
  if (out) *out = p->pid;
  if ((flags & PHC_SPAWN_LINK) && parent) phc_link(p, parent);
  if (ops->init) {
    phc_proc_t *prev = rt->current;
    rt->current = p;
    p->running++;
    int rc = ops->init(p, arg);
    p->running--;
    rt->current = prev;
    if (rc != 0 && p->state == PHC__P_ALIVE)
      phc_proc_exit_atom(p, "normal"); /* p may be gone now */
    else
      after_callback(p);
  }
  return 0;
}

const phc_pid_t *phc_self(const phc_proc_t *p) { return p ? &p->pid : NULL; }
phc_node_t *phc_proc_node(const phc_proc_t *p) { return p ? p->n : NULL; }
void *phc_proc_data(const phc_proc_t *p) { return p ? p->data : NULL; }
void phc_proc_set_data(phc_proc_t *p, void *data) {
  if (p) p->data = data;
}
void phc_proc_trap_exit(phc_proc_t *p, int on) {
  if (p) p->trap_exit = on ? 1 : 0;
}

/* ---- mailbox and run queue ---------------------------------------------- */

static void runq_push(phc_proc_t *p) {
  struct phc__rt_s *rt = p->n->rt;
  if (p->in_runq) return;
  TAILQ_INSERT_TAIL(&rt->runq, p, runq);
  p->in_runq = 1;
  if (!rt->idle_on && !rt->closing) {
    uv_idle_start(&rt->idle, run_cb);
    rt->idle_on = 1;
  }
}

static void mbox_push(phc_proc_t *p, phc__msg_t *m) {
  STAILQ_INSERT_TAIL(&p->mbox, m, next);
  p->mbox_len++;
  runq_push(p);
}

static phc__msg_t *msg_new(int kind, const char *buf, int len) {
  phc__msg_t *m = phc__xmalloc(sizeof *m + (size_t)(len > 0 ? len : 0));
  memset(m, 0, sizeof *m);
  m->kind = kind;
  m->len = len;
  if (len > 0) memcpy(m->buf, buf, (size_t)len);
  return m;
}

void phc__proc_enqueue_msg(phc_proc_t *p, const char *buf, int len) {
  if (!p || p->state == PHC__P_DEAD) return;
  mbox_push(p, msg_new(PHC__M_MSG, buf, len));
}

static void enqueue_sig(phc_proc_t *p, const erlang_pid *from,
                        const char *reason, int len, int exit2, int forced) {
  if (!p || p->state == PHC__P_DEAD) return;
  phc__msg_t *m = msg_new(PHC__M_EXIT, reason, len);
  m->from = *from;
  m->exit2 = exit2;
  m->forced = forced;
  mbox_push(p, m);
}

/* Runs after each callback of p returns. 1 if p is still alive. */
static int after_callback(phc_proc_t *p) {
  if (p->running > 0 || p->state != PHC__P_EXIT_PENDING) return 1;
  char *reason = p->exit_reason;
  int len = p->exit_len;
  p->exit_reason = NULL;
  do_exit(p, reason, len);
  free(reason);
  return 0;
}

static int call_handle_msg(phc_proc_t *p, const char *buf, int len) {
  if (p->ops->handle_msg) {
    phc_proc_t *prev = p->n->rt->current;
    p->n->rt->current = p;
    p->running++;
    p->ops->handle_msg(p, buf, len);
    p->running--;
    p->n->rt->current = prev;
  }
  return after_callback(p);
}

static int exit_signal(phc_proc_t *p, const phc__msg_t *m);

static int deliver(phc_proc_t *p, const phc__msg_t *m) {
  if (m->kind == PHC__M_EXIT) return exit_signal(p, m);
  return call_handle_msg(p, m->buf, m->len);
}

static void run_cb(uv_idle_t *h) {
  struct phc__rt_s *rt = h->data;
  int budget = PHC__RUN_BUDGET;
  phc_proc_t *p;
  while (budget > 0 && !rt->closing && (p = TAILQ_FIRST(&rt->runq))) {
    TAILQ_REMOVE(&rt->runq, p, runq);
    p->in_runq = 0;
    int alive = 1;
    for (int slice = 0; slice < PHC__RUN_SLICE && budget > 0; slice++) {
      phc__msg_t *m = STAILQ_FIRST(&p->mbox);
      if (!m) break;
      STAILQ_REMOVE_HEAD(&p->mbox, next);
      p->mbox_len--;
      budget--;
      alive = deliver(p, m);
      free(m);
      if (!alive || rt->closing) break;
    }
    if (rt->closing) return;
    if (alive && !STAILQ_EMPTY(&p->mbox)) runq_push(p);
  }
  if (TAILQ_EMPTY(&rt->runq) && rt->idle_on) {
    uv_idle_stop(&rt->idle);
    rt->idle_on = 0;
  }
}

/* ---- encoders ----------------------------------------------------------- */

static int x_append_term(ei_x_buff *x, const char *buf, int len) {
  const char *body;
  int blen;
  phc__term_body(buf, len, &body, &blen);
  return ei_x_append_buf(x, body, blen);
}

/* {'EXIT', From, Reason} */
static int encode_exit_msg(ei_x_buff *x, const erlang_pid *from,
                           const char *reason, int len) {
  if (ei_x_new_with_version(x) < 0) return PHC_ENOMEM;
  if (ei_x_encode_tuple_header(x, 3) < 0 || ei_x_encode_atom(x, "EXIT") < 0 ||
      ei_x_encode_pid(x, from) < 0 || x_append_term(x, reason, len) < 0) {
    ei_x_free(x);
    return PHC_EINVAL;
  }
  return 0;
}

/* {'DOWN', Ref, process, Pid | {Name, Node}, Reason} */
static int encode_down(ei_x_buff *x, const erlang_ref *ref,
                       const erlang_pid *pid, const char *name,
                       const char *node, const char *reason, int len) {
  if (ei_x_new_with_version(x) < 0) return PHC_ENOMEM;
  int rc = ei_x_encode_tuple_header(x, 5) | ei_x_encode_atom(x, "DOWN") |
           ei_x_encode_ref(x, ref) | ei_x_encode_atom(x, "process");
  if (name)
    rc |= ei_x_encode_tuple_header(x, 2) | ei_x_encode_atom(x, name) |
          ei_x_encode_atom(x, node);
  else
    rc |= ei_x_encode_pid(x, pid);
  rc |= x_append_term(x, reason, len);
  if (rc < 0) {
    ei_x_free(x);
    return PHC_EINVAL;
  }
  return 0;
}

static void send_down(phc_proc_t *w, const erlang_ref *ref,
                      const erlang_pid *pid, const char *name,
                      const char *node, const char *reason, int len) {
  ei_x_buff x;
  if (encode_down(&x, ref, pid, name, node, reason, len) < 0) return;
  phc__proc_enqueue_msg(w, x.buff, x.index);
  ei_x_free(&x);
}

static void send_down_atom(phc_proc_t *w, const erlang_ref *ref,
                           const erlang_pid *pid, const char *name,
                           const char *node, const char *atom) {
  int len;
  char *r = atom_term(atom, &len);
  if (!r) return;
  send_down(w, ref, pid, name, node, r, len);
  free(r);
}

/* ---- links -------------------------------------------------------------- */

static void link_key(const erlang_pid *pid, unsigned key[3]) {
  unsigned h = 2166136261u; /* FNV-1a of the node name */
  for (const char *c = pid->node; *c; c++) h = (h ^ (unsigned char)*c) * 16777619u;
  key[0] = pid->num;
  key[1] = pid->serial;
  key[2] = h;
}

static phc__link_t *link_find(phc_proc_t *p, const erlang_pid *other) {
  unsigned key[3];
  phc__link_t *l = NULL;
  link_key(other, key);
  HASH_FIND(hh, p->link_idx, key, sizeof key, l);
  if (!l || phc__cpid_eq(&l->other, other)) return l;
  TAILQ_FOREACH(l, &p->links, next) /* a key collision: look everywhere */
  if (phc__cpid_eq(&l->other, other)) return l;
  return NULL;
}

static void link_del(phc_proc_t *p, phc__link_t *l) {
  HASH_DEL(p->link_idx, l);
  TAILQ_REMOVE(&p->links, l, next);
  free(l);
}

/* Adds (or reactivates) a link entry; 1 if it was not active before. */
static int link_add(phc_proc_t *p, const erlang_pid *other) {
  phc__link_t *l = link_find(p, other);
  if (l) {
    int was = l->unlinking != 0;
    l->unlinking = 0;
    return was;
  }
  l = phc__xcalloc(1, sizeof *l);
  phc__cpid_set(&l->other, other);
  link_key(other, l->key);
  HASH_ADD(hh, p->link_idx, key, sizeof l->key, l);
  TAILQ_INSERT_TAIL(&p->links, l, next);
  return 1;
}

static void sig_atom(phc_proc_t *p, const erlang_pid *from, const char *atom,
                     int exit2, int forced) {
  int len;
  char *r = atom_term(atom, &len);
  if (!r) return;
  enqueue_sig(p, from, r, len, exit2, forced);
  free(r);
}

int phc_link(phc_proc_t *p, const phc_pid_t *other) {
  if (!p || !other) return PHC_EINVAL;
  phc_node_t *n = p->n;
  if (phc_pid_eq(&p->pid, other)) return 0;
  if (phc__pid_is_local(n, other) || pid_is_stale(n, other)) {
    phc_proc_t *q = phc__proc_find(n, other);
    if (!q) {
      sig_atom(p, other, "noproc", 0, 1);
      return PHC_ENOPROC;
    }
    link_add(p, other);
    link_add(q, &p->pid);
    return 0;
  }
  if (!link_add(p, other)) return 0;
  if (!remote_ok(n) || !n->remote->link) return PHC_ENOTCONN;
  return n->remote->link(n->remote_ctx, &p->pid, other);
}

int phc_unlink(phc_proc_t *p, const phc_pid_t *other) {
  if (!p || !other) return PHC_EINVAL;
  phc_node_t *n = p->n;
  phc__link_t *l = link_find(p, other);
  if (phc__pid_is_local(n, other)) {
    if (l) link_del(p, l);
    phc_proc_t *q = phc__proc_find(n, other);
    if (q && (l = link_find(q, &p->pid))) link_del(q, l);
    return 0;
  }
  if (!l || l->unlinking) return 0;
  l->unlinking = ++n->rt->unlink_counter;
  if (!remote_ok(n) || !n->remote->unlink_id) return PHC_ENOTCONN;
  return n->remote->unlink_id(n->remote_ctx, l->unlinking, &p->pid, other);
}

/* ---- exit signals ------------------------------------------------------- */

static void kill_atom(phc_proc_t *p, const char *atom) {
  int len;
  char *r = atom_term(atom, &len);
  if (r) do_exit(p, r, len);
  free(r);
}

/* Consumes one exit signal. 1 if p is still alive afterwards. */
static int exit_signal(phc_proc_t *p, const phc__msg_t *m) {
  if (!m->exit2) {
    phc__link_t *l = link_find(p, &m->from);
    if (!l && !m->forced) return 1; /* no link (any more): ignored */
    int unlinking = l && l->unlinking;
    if (l) link_del(p, l);
    if (unlinking && !m->forced) return 1;
  }
  if (m->exit2 && phc__term_is_atom(m->buf, m->len, "kill")) {
    kill_atom(p, "killed");
    return 0;
  }
  if (p->trap_exit) {
    ei_x_buff x;
    if (encode_exit_msg(&x, &m->from, m->buf, m->len) < 0) return 1;
    int alive = call_handle_msg(p, x.buff, x.index);
    ei_x_free(&x);
    return alive;
  }
  if (phc__term_is_atom(m->buf, m->len, "normal")) {
    if (!(m->exit2 && phc_pid_eq(&m->from, &p->pid))) return 1;
  }
  do_exit(p, m->buf, m->len);
  return 0;
}

int phc_exit(phc_node_t *n, const phc_pid_t *from, const phc_pid_t *to,
             const char *reason, int len) {
  if (!n || !n->rt || !to || !reason || len <= 0) return PHC_EINVAL;
  if (!from) from = &n->rt->node_pid;
  if (phc__pid_is_local(n, to) || pid_is_stale(n, to)) {
    enqueue_sig(phc__proc_find(n, to), from, reason, len, 1, 0);
    return 0;
  }
  if (!remote_ok(n) || !n->remote->exit2) return PHC_ENOTCONN;
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
  do_exit(p, reason, len);
}

void phc_proc_exit_atom(phc_proc_t *p, const char *reason) {
  int len;
  char *r = atom_term(reason, &len);
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
        enqueue_sig(phc__proc_find(n, &other), &p->pid, reason, len, 0, 0);
      else if (remote_ok(n) && n->remote->exit)
        n->remote->exit(n->remote_ctx, &p->pid, &other, reason, len);
    }
    link_del(p, l);
  }
}

static void mon_in_free(struct phc__rt_s *rt, phc__mon_in_t *m) {
  HASH_DELETE(hh, rt->mons_in, m);
  if (m->target) TAILQ_REMOVE(&m->target->mons_in, m, next);
  free(m->key);
  free(m->name);
  free(m);
}

static phc__mon_in_t *mon_in_find(struct phc__rt_s *rt, const erlang_ref *r) {
  int kl;
  char *k = phc__ref_key(r, &kl);
  phc__mon_in_t *m = NULL;
  HASH_FIND(hh, rt->mons_in, k, (unsigned)kl, m);
  free(k);
  return m;
}

static phc__mon_out_t *mon_out_find(phc_proc_t *p, const erlang_ref *r) {
  phc__mon_out_t *o;
  TAILQ_FOREACH(o, &p->mons_out, next)
  if (phc_ref_eq(&o->ref, r)) return o;
  return NULL;
}

static void mon_out_free(phc_proc_t *p, phc__mon_out_t *o) {
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
      phc__mon_out_t *o = w ? mon_out_find(w, &m->ref) : NULL;
      if (o) {
        mon_out_free(w, o);
        send_down(w, &m->ref, &p->pid, m->name, n->name, reason, len);
      }
    } else if (remote_ok(n) && n->remote->monitor_exit) {
      n->remote->monitor_exit(n->remote_ctx, m->name ? NULL : &p->pid,
                              m->name, &m->watcher, &m->ref, reason, len);
    }
    mon_in_free(n->rt, m);
  }
}

/* The monitors p holds go away with it. */
static void exit_mons_out(phc_proc_t *p) {
  phc_node_t *n = p->n;
  phc__mon_out_t *o;
  while ((o = TAILQ_FIRST(&p->mons_out))) {
    if (o->local) {
      phc__mon_in_t *m = mon_in_find(n->rt, &o->ref);
      if (m) mon_in_free(n->rt, m);
    } else if (remote_ok(n) && n->remote->demonitor) {
      n->remote->demonitor(n->remote_ctx, &p->pid,
                           o->by_name ? NULL : &o->target, o->name, o->node,
                           &o->ref);
    }
    mon_out_free(p, o);
  }
}

static void alias_free(struct phc__rt_s *rt, phc__alias_t *a) {
  HASH_DELETE(hh, rt->aliases, a);
  TAILQ_REMOVE(&a->owner->aliases, a, next);
  free(a->key);
  free(a);
}

static void name_release(phc_proc_t *p) {
  if (!p->name) return;
  HASH_DELETE(hh, p->n->rt->names, p->name);
  free(p->name->name);
  free(p->name);
  p->name = NULL;
}

static void proc_free(phc_proc_t *p) {
  struct phc__rt_s *rt = p->n->rt;
  phc__msg_t *m;
  while ((m = STAILQ_FIRST(&p->mbox))) {
    STAILQ_REMOVE_HEAD(&p->mbox, next);
    free(m);
  }
  if (p->in_runq) TAILQ_REMOVE(&rt->runq, p, runq);
  free(p->exit_reason);
  free(p);
}

/* The process ends: terminate callback, then every signal its death
 * causes, then it is freed. Called only when no callback of p runs. */
static void do_exit(phc_proc_t *p, const char *reason, int len) {
  struct phc__rt_s *rt = p->n->rt;
  p->state = PHC__P_DEAD;
  PHC_LOG_D(PHC__PROC_MOD, "<%u.%u> (%s) exits", p->pid.num, p->pid.serial,
            p->ops->name ? p->ops->name : "?");
  if (p->ops->terminate) {
    phc_proc_t *prev = rt->current;
    rt->current = p;
    p->running++;
    p->ops->terminate(p, reason, len);
    p->running--;
    rt->current = prev == p ? NULL : prev;
  }
  HASH_DELETE(hh, rt->procs, p);
  rt->count--;
  name_release(p);
  while (!TAILQ_EMPTY(&p->aliases)) alias_free(rt, TAILQ_FIRST(&p->aliases));
  phc__timers_proc_exit(p);
  exit_links(p, reason, len);
  exit_mons_out(p);
  exit_mons_in(p, reason, len);
  proc_free(p);
}

static void rt_free_cb(uv_handle_t *h) { free(h->data); }

void phc__rt_close(phc_node_t *n) {
  if (!n || !n->rt) return;
  struct phc__rt_s *rt = n->rt;
  phc_proc_t *p;
  rt->closing = 1;
  while ((p = rt->procs)) {
    if (p->state == PHC__P_DEAD) { /* inside its own terminate: unusual */
      HASH_DELETE(hh, rt->procs, p);
      continue;
    }
    p->running = 0;
    kill_atom(p, "shutdown");
  }
  phc__timers_close(n);
  phc__ctypes_free(n);
  if (rt->idle_on) uv_idle_stop(&rt->idle);
  n->rt = NULL;
  uv_close((uv_handle_t *)&rt->idle, rt_free_cb);
}

/* ---- sending ------------------------------------------------------------ */

static int check_term(const char *buf, int len) {
  return buf && len > 1 && (unsigned char)buf[0] == 131;
}

int phc_send(phc_node_t *n, const phc_pid_t *from, const phc_pid_t *to,
             const char *buf, int len) {
  if (!n || !n->rt || !to || !check_term(buf, len)) return PHC_EINVAL;
  if (phc__pid_is_local(n, to) || pid_is_stale(n, to)) {
    phc__proc_enqueue_msg(phc__proc_find(n, to), buf, len);
    return 0;
  }
  if (!remote_ok(n) || !n->remote->send) return PHC_ENOTCONN;
  return n->remote->send(n->remote_ctx, from, to, buf, len);
}

static phc_proc_t *name_find(phc_node_t *n, const char *name) {
  phc__name_t *e = NULL;
  if (!name) return NULL;
  HASH_FIND_STR(n->rt->names, name, e);
  return e ? e->p : NULL;
}

int phc_send_name(phc_node_t *n, const phc_pid_t *from, const char *node,
                  const char *name, const char *buf, int len) {
  if (!n || !n->rt || !name || !check_term(buf, len)) return PHC_EINVAL;
  if (!node || strcmp(node, n->name) == 0) {
    phc_proc_t *p = name_find(n, name);
    if (!p) {
      PHC_LOG_D(PHC__PROC_MOD, "send to unknown name %s dropped", name);
      return PHC_ENOPROC;
    }
    phc__proc_enqueue_msg(p, buf, len);
    return 0;
  }
  if (!remote_ok(n) || !n->remote->send_name) return PHC_ENOTCONN;
  return n->remote->send_name(n->remote_ctx, from, node, name, buf, len);
}

static phc__alias_t *alias_find(phc_node_t *n, const erlang_ref *r) {
  int kl;
  char *k = phc__ref_key(r, &kl);
  phc__alias_t *a = NULL;
  HASH_FIND(hh, n->rt->aliases, k, (unsigned)kl, a);
  free(k);
  return a;
}

int phc_send_alias(phc_node_t *n, const phc_pid_t *from,
                   const phc_ref_t *alias, const char *buf, int len) {
  if (!n || !n->rt || !alias || !check_term(buf, len)) return PHC_EINVAL;
  if (strcmp(alias->node, n->name) == 0) {
    phc__alias_t *a = alias_find(n, alias);
    if (a) phc__proc_enqueue_msg(a->owner, buf, len);
    return 0;
  }
  if (!remote_ok(n) || !n->remote->send_alias) return PHC_ENOTCONN;
  return n->remote->send_alias(n->remote_ctx, from, alias, buf, len);
}

/* ---- names -------------------------------------------------------------- */

int phc_register(phc_node_t *n, const char *name, const phc_pid_t *pid) {
  if (!n || !n->rt || !name || !pid || !*name ||
      strlen(name) >= PHC__ATOM_MAX || strcmp(name, "undefined") == 0)
    return PHC_EINVAL;
  phc_proc_t *p = phc__proc_find(n, pid);
  if (!p) return PHC_ENOPROC;
  if (name_find(n, name) || p->name) return PHC_EEXIST;
  phc__name_t *e = phc__xcalloc(1, sizeof *e);
  e->name = phc__xstrdup(name);
  e->p = p;
  HASH_ADD_KEYPTR(hh, n->rt->names, e->name, strlen(e->name), e);
  p->name = e;
  return 0;
}

int phc_unregister(phc_node_t *n, const char *name) {
  if (!n || !n->rt || !name) return PHC_EINVAL;
  phc_proc_t *p = name_find(n, name);
  if (!p) return PHC_ENOPROC;
  name_release(p);
  return 0;
}

int phc_whereis(phc_node_t *n, const char *name, phc_pid_t *out) {
  if (!n || !n->rt || !name) return PHC_EINVAL;
  phc_proc_t *p = name_find(n, name);
  if (!p) return PHC_ENOPROC;
  if (out) *out = p->pid;
  return 0;
}

/* ---- aliases ------------------------------------------------------------ */

int phc__alias_make(phc_proc_t *p, erlang_ref *out) {
  if (!p || !out || p->state == PHC__P_DEAD) return PHC_EINVAL;
  phc__alias_t *a = phc__xcalloc(1, sizeof *a);
  phc_make_ref(p->n, &a->ref);
  a->key = phc__ref_key(&a->ref, &a->keylen);
  a->owner = p;
  HASH_ADD_KEYPTR(hh, p->n->rt->aliases, a->key, (unsigned)a->keylen, a);
  TAILQ_INSERT_TAIL(&p->aliases, a, next);
  *out = a->ref;
  return 0;
}

void phc__alias_remove(phc_node_t *n, const erlang_ref *alias) {
  if (!n || !n->rt || !alias) return;
  phc__alias_t *a = alias_find(n, alias);
  if (a) alias_free(n->rt, a);
}

/* ---- monitors ----------------------------------------------------------- */

static phc__mon_in_t *mon_in_add(phc_node_t *n, phc_proc_t *target,
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
  if (remote_ok(n) && n->remote->monitor)
    rc = n->remote->monitor(n->remote_ctx, &p->pid, target, name, node, ref);
  if (rc < 0) { /* no connection: DOWN at once, as the BEAM does */
    mon_out_free(p, o);
    send_down_atom(p, ref, target, name, node, "noconnection");
  }
  return 0;
}

int phc_monitor(phc_proc_t *p, const phc_pid_t *target, phc_ref_t *ref) {
  if (!p || !target || p->state == PHC__P_DEAD) return PHC_EINVAL;
  phc_node_t *n = p->n;
  erlang_ref r;
  phc_make_ref(n, &r);
  if (ref) *ref = r;
  if (!phc__pid_is_local(n, target) && !pid_is_stale(n, target))
    return monitor_remote(p, target, NULL, target->node, &r);
  phc_proc_t *t = phc__proc_find(n, target);
  if (!t) {
    send_down_atom(p, &r, target, NULL, NULL, "noproc");
    return 0;
  }
  mon_in_add(n, t, &p->pid, NULL, &r);
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
  phc_proc_t *t = name_find(n, name);
  if (!t) {
    send_down_atom(p, &r, NULL, name, n->name, "noproc");
    return 0;
  }
  mon_in_add(n, t, &p->pid, name, &r);
  mon_out_add(p, &r, &t->pid, name, n->name, 1);
  return 0;
}

int phc_demonitor(phc_proc_t *p, const phc_ref_t *ref) {
  if (!p || !ref) return PHC_EINVAL;
  phc_node_t *n = p->n;
  phc__mon_out_t *o = mon_out_find(p, ref);
  if (!o) return 0;
  if (o->local) {
    phc__mon_in_t *m = mon_in_find(n->rt, ref);
    if (m) mon_in_free(n->rt, m);
  } else if (remote_ok(n) && n->remote->demonitor) {
    n->remote->demonitor(n->remote_ctx, &p->pid, o->by_name ? NULL : &o->target,
                         o->name, o->node, ref);
  }
  mon_out_free(p, o);
  return 0;
}

int phc_monitor_nodes(phc_proc_t *p, int on) {
  if (!p) return PHC_EINVAL;
  p->monitor_nodes = on ? 1 : 0;
  return 0;
}

/* ---- signals from other nodes ------------------------------------------- */

void phc__proc_in_send(phc_node_t *n, const erlang_pid *from,
                       const erlang_pid *to, const char *buf, int len) {
  PHC__UNUSED(from);
  if (!n || !n->rt || !to || !buf || len <= 0) return;
  phc__proc_enqueue_msg(phc__proc_find(n, to), buf, len);
}

void phc__proc_in_send_name(phc_node_t *n, const erlang_pid *from,
                            const char *name, const char *buf, int len) {
  PHC__UNUSED(from);
  if (!n || !n->rt || !name || !buf || len <= 0) return;
  phc_proc_t *p = name_find(n, name);
  if (!p) {
    PHC_LOG_D(PHC__PROC_MOD, "message to unknown name %s dropped", name);
    return;
  }
  phc__proc_enqueue_msg(p, buf, len);
}

void phc__proc_in_send_alias(phc_node_t *n, const erlang_pid *from,
                             const erlang_ref *alias, const char *buf,
                             int len) {
  PHC__UNUSED(from);
  if (!n || !n->rt || !alias || !buf || len <= 0) return;
  phc__alias_t *a = alias_find(n, alias);
  if (a) phc__proc_enqueue_msg(a->owner, buf, len);
}

static void remote_exit_atom(phc_node_t *n, const erlang_pid *from,
                             const erlang_pid *to, const char *atom) {
  int len;
  char *r = atom_term(atom, &len);
  if (r && remote_ok(n) && n->remote->exit)
    n->remote->exit(n->remote_ctx, from, to, r, len);
  free(r);
}

void phc__proc_in_link(phc_node_t *n, const erlang_pid *from,
                       const erlang_pid *to) {
  if (!n || !n->rt || !from || !to) return;
  phc_proc_t *p = phc__proc_find(n, to);
  if (!p) {
    remote_exit_atom(n, to, from, "noproc");
    return;
  }
  link_add(p, from);
}

void phc__proc_in_unlink_id(phc_node_t *n, uint64_t id,
                            const erlang_pid *from, const erlang_pid *to) {
  if (!n || !n->rt || !from || !to) return;
  phc_proc_t *p = phc__proc_find(n, to);
  if (!p) return;
  phc__link_t *l = link_find(p, from);
  if (l && !l->unlinking) link_del(p, l);
  if (remote_ok(n) && n->remote->unlink_id_ack)
    n->remote->unlink_id_ack(n->remote_ctx, id, to, from);
}

void phc__proc_in_unlink_id_ack(phc_node_t *n, uint64_t id,
                                const erlang_pid *from, const erlang_pid *to) {
  if (!n || !n->rt || !from || !to) return;
  phc_proc_t *p = phc__proc_find(n, to);
  phc__link_t *l = p ? link_find(p, from) : NULL;
  if (l && l->unlinking == id) link_del(p, l);
}

void phc__proc_in_exit(phc_node_t *n, const erlang_pid *from,
                       const erlang_pid *to, const char *reason, int len,
                       int exit2) {
  if (!n || !n->rt || !from || !to || !reason || len <= 0) return;
  enqueue_sig(phc__proc_find(n, to), from, reason, len, exit2 ? 1 : 0, 0);
}

void phc__proc_in_monitor(phc_node_t *n, const erlang_pid *from,
                          const erlang_pid *to, const char *to_name,
                          const erlang_ref *ref) {
  if (!n || !n->rt || !from || !ref || (!to && !to_name)) return;
  phc_proc_t *t = to ? phc__proc_find(n, to) : name_find(n, to_name);
  if (t && mon_in_add(n, t, from, to ? NULL : to_name, ref)) return;
  if (t) {
    PHC_LOG_W(PHC__PROC_MOD, "duplicate monitor ref from %s dropped",
              from->node);
    return;
  }
  int len;
  char *r = atom_term("noproc", &len);
  if (r && remote_ok(n) && n->remote->monitor_exit)
    n->remote->monitor_exit(n->remote_ctx, to ? to : NULL,
                            to ? NULL : to_name, from, ref, r, len);
  free(r);
}

void phc__proc_in_demonitor(phc_node_t *n, const erlang_pid *from,
                            const erlang_ref *ref) {
  if (!n || !n->rt || !from || !ref) return;
  phc__mon_in_t *m = mon_in_find(n->rt, ref);
  if (m && phc_pid_eq(&m->watcher, from)) mon_in_free(n->rt, m);
}

void phc__proc_in_monitor_exit(phc_node_t *n, const erlang_pid *watched,
                               const char *watched_name,
                               const char *watched_node,
                               const erlang_pid *to, const erlang_ref *ref,
                               const char *reason, int len) {
  PHC__UNUSED(watched);
  PHC__UNUSED(watched_name);
  PHC__UNUSED(watched_node);
  if (!n || !n->rt || !to || !ref || !reason || len <= 0) return;
  phc_proc_t *p = phc__proc_find(n, to);
  phc__mon_out_t *o = p ? mon_out_find(p, ref) : NULL;
  if (!o || o->local) return;
  send_down(p, ref, &o->target, o->by_name ? o->name : NULL, o->node, reason,
            len);
  mon_out_free(p, o);
}

static void node_msg(phc_node_t *n, const char *tag, const char *node) {
  ei_x_buff x;
  if (ei_x_new_with_version(&x) < 0) return;
  if (ei_x_encode_tuple_header(&x, 2) < 0 || ei_x_encode_atom(&x, tag) < 0 ||
      ei_x_encode_atom(&x, node) < 0) {
    ei_x_free(&x);
    return;
  }
  phc_proc_t *p, *tmp;
  HASH_ITER(hh, n->rt->procs, p, tmp) {
    if (p->monitor_nodes && p->state != PHC__P_DEAD)
      phc__proc_enqueue_msg(p, x.buff, x.index);
  }
  ei_x_free(&x);
}

void phc__proc_node_up(phc_node_t *n, const char *node, int hidden) {
  if (!n || !n->rt || !node || hidden) return;
  node_msg(n, "nodeup", node);
}

static void node_down_proc(phc_proc_t *p, const char *node) {
  phc__link_t *l = TAILQ_FIRST(&p->links), *lnext;
  for (; l; l = lnext) {
    lnext = TAILQ_NEXT(l, next);
    if (strcmp(l->other.node, node) != 0) continue;
    int active = !l->unlinking;
    erlang_pid other;
    phc__cpid_get(&l->other, &other);
    link_del(p, l);
    if (active) sig_atom(p, &other, "noconnection", 0, 1);
  }
  phc__mon_out_t *o = TAILQ_FIRST(&p->mons_out), *onext;
  for (; o; o = onext) {
    onext = TAILQ_NEXT(o, next);
    if (o->local || strcmp(o->node, node) != 0) continue;
    send_down_atom(p, &o->ref, &o->target, o->by_name ? o->name : NULL,
                   o->node, "noconnection");
    mon_out_free(p, o);
  }
  phc__mon_in_t *m = TAILQ_FIRST(&p->mons_in), *mnext;
  for (; m; m = mnext) {
    mnext = TAILQ_NEXT(m, next);
    if (pid_on_node(&m->watcher, node)) mon_in_free(p->n->rt, m);
  }
}

void phc__proc_node_down(phc_node_t *n, const char *node) {
  if (!n || !n->rt || !node || strcmp(node, n->name) == 0) return;
  phc_proc_t *p, *tmp;
  HASH_ITER(hh, n->rt->procs, p, tmp) {
    if (p->state != PHC__P_DEAD) node_down_proc(p, node);
  }
  node_msg(n, "nodedown", node);
}
