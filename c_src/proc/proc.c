/* proc.c - the process runtime's core: process lifecycle and the process
 * table, mailboxes and the run queue, and sending. Links, exits and
 * monitors are in signal.c, names and aliases in name.c, signals from
 * other nodes in remote.c. See proc.h for the model and proc_int.h for
 * the structures. */
#include <stdlib.h>
#include <unistd.h>

#include "proc/proc_int.h"
#include "term/enc.h"

/* ---- small helpers ------------------------------------------------------ */

char *phc__ref_key(const erlang_ref *r, int *len) {
  int words = r->len < 0 ? 0 : (r->len > 5 ? 5 : r->len);
  size_t nl = strlen(r->node);
  size_t total = (size_t)words * 4 + 8 + nl;
  char *k = phc__xmalloc(total);
  char *w = k;
  for (int i = 0; i < words; i++, w += 4)
    memcpy(w, &r->n[i], 4);
  uint32_t l = (uint32_t)words, c = r->creation;
  memcpy(w, &l, 4);
  memcpy(w + 4, &c, 4);
  memcpy(w + 8, r->node, nl);
  *len = (int)total;
  return k;
}

int phc__pid_on_node(const erlang_pid *pid, const char *node) {
  return strcmp(pid->node, node) == 0;
}

/* An atom term in a small static-free buffer the caller frees. */
char *phc__proc_atom_term(const char *atom, int *len) {
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
  size_t max = n->limits.max_processes;
  rt->max = max && max <= PHC__MAX_PROCESSES_MAX ? (uint32_t)max
                                                 : PHC__MAX_PROCESSES_DEFAULT;
  rt->nslots = 1; /* slot 0: <N.0.0>, the node itself */
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

size_t phc__rt_limit(const phc_node_t *n) {
  return n && n->rt ? n->rt->max : PHC__MAX_PROCESSES_DEFAULT;
}

int phc__pid_is_local(const phc_node_t *n, const erlang_pid *pid) {
  return pid && pid->creation == n->creation && phc__pid_on_node(pid, n->name);
}

int phc__ref_is_local(const phc_node_t *n, const erlang_ref *ref) {
  return ref && ref->creation == n->creation && strcmp(ref->node, n->name) == 0;
}

/* A pid of an earlier incarnation of this node: it is dead for sure. */
int phc__pid_is_stale(const phc_node_t *n, const erlang_pid *pid) {
  return phc__pid_on_node(pid, n->name) && pid->creation != n->creation;
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

void phc__proc_pid(const phc_proc_t *p, erlang_pid *out) {
  const erlang_pid *np = &p->n->rt->node_pid;
  size_t nl = strlen(np->node);
  memcpy(out->node, np->node, nl + 1);
  out->num = p->num;
  out->serial = p->serial;
  out->creation = np->creation;
}

phc_proc_t *phc__proc_find(phc_node_t *n, const erlang_pid *pid) {
  if (!n || !n->rt || !phc__pid_is_local(n, pid)) return NULL;
  struct phc__rt_s *rt = n->rt;
  if (pid->num == 0 || pid->num >= rt->nslots) return NULL;
  const phc__slot_t *sl = &rt->slots[pid->num];
  phc_proc_t *p = sl->p;
  if (!p || sl->serial != pid->serial || p->state == PHC__P_DEAD) return NULL;
  return p;
}

phc_proc_t *phc_proc_lookup(phc_node_t *n, const phc_pid_t *pid) {
  return phc__proc_find(n, pid);
}

phc_proc_t *phc__proc_next(struct phc__rt_s *rt, uint32_t *i) {
  while (++*i < rt->nslots)
    if (rt->slots[*i].p) return rt->slots[*i].p;
  return NULL;
}

/* A free slot: the oldest freed one, else a new one (the array grows by
 * doubling). PHC_ELIMIT at max_processes live processes. */
static int slot_take(struct phc__rt_s *rt, uint32_t *num) {
  if (rt->count >= rt->max) return PHC_ELIMIT;
  if (rt->free_head) {
    *num = rt->free_head;
    rt->free_head = rt->slots[*num].next_free;
    if (!rt->free_head) rt->free_tail = 0;
    rt->slots[*num].next_free = 0;
    return 0;
  }
  if (rt->nslots >= rt->cap) {
    uint64_t cap = rt->cap ? (uint64_t)rt->cap * 2 : 1024;
    if (cap > (uint64_t)rt->max + 1) cap = (uint64_t)rt->max + 1;
    if (cap <= rt->nslots) return PHC_ELIMIT;
    rt->slots = phc__xrealloc(rt->slots, (size_t)cap * sizeof *rt->slots);
    memset(rt->slots + rt->cap, 0, (size_t)(cap - rt->cap) * sizeof *rt->slots);
    rt->cap = (uint32_t)cap;
  }
  *num = rt->nslots++;
  return 0;
}

/* p leaves the table: its slot goes to the free list's tail, serial on. */
void phc__proc_table_del(phc_proc_t *p) {
  struct phc__rt_s *rt = p->n->rt;
  phc__slot_t *sl = &rt->slots[p->num];
  if (sl->p != p) return;
  sl->p = NULL;
  sl->serial++;
  sl->next_free = 0;
  if (rt->free_tail)
    rt->slots[rt->free_tail].next_free = p->num;
  else
    rt->free_head = p->num;
  rt->free_tail = p->num;
  rt->count--;
}

static int after_callback(phc_proc_t *p);

int phc_spawn(phc_node_t *n, const phc_proc_ops_t *ops, void *arg,
              const phc_pid_t *parent, unsigned flags, phc_pid_t *out) {
  if (!n || !n->rt || !ops) return PHC_EINVAL;
  struct phc__rt_s *rt = n->rt;
  if (rt->closing) return PHC_ESTATE;
  uint32_t num;
  if (slot_take(rt, &num) < 0) {
    PHC_LOG_D(PHC__PROC_MOD, "spawn refused: %u processes (max_processes)",
              rt->max);
    return PHC_ELIMIT;
  }
  phc_proc_t *p = phc__xcalloc(1, sizeof *p);
  p->num = num;
  p->serial = rt->slots[num].serial;
  rt->slots[num].p = p;
  p->n = n;
  p->ops = ops;
  STAILQ_INIT(&p->mbox);
  TAILQ_INIT(&p->links);
  TAILQ_INIT(&p->mons_out);
  TAILQ_INIT(&p->mons_in);
  TAILQ_INIT(&p->aliases);
  TAILQ_INIT(&p->timers);
  rt->count++;
  if (out) phc__proc_pid(p, out);
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

/* A copy in the node's ring: valid for PHC__SELF_RING further calls. */
const phc_pid_t *phc_self(const phc_proc_t *p) {
  if (!p || !p->n->rt) return NULL;
  struct phc__rt_s *rt = p->n->rt;
  erlang_pid *e = &rt->self_ring[rt->self_next++ % PHC__SELF_RING];
  phc__proc_pid(p, e);
  return e;
}
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

/* The limits' mailbox_warn: one line per process the first time its
 * mailbox holds that many messages. */
#define MAILBOX_WARN_DEFAULT 100000

static void mbox_push(phc_proc_t *p, phc__msg_t *m) {
  STAILQ_INSERT_TAIL(&p->mbox, m, next);
  p->mbox_len++;
  size_t warn = p->n->limits.mailbox_warn ? p->n->limits.mailbox_warn
                                          : MAILBOX_WARN_DEFAULT;
  if (p->mbox_len >= warn && !p->mbox_warned) {
    p->mbox_warned = 1;
    PHC_LOG_W("proc",
              "<%u.%u> (%s) has %zu messages in its mailbox (mailbox_warn)",
              p->num, p->serial, p->ops && p->ops->name ? p->ops->name : "?",
              p->mbox_len);
  }
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

void phc__proc_enqueue_sig(phc_proc_t *p, const erlang_pid *from,
                           const char *reason, int len, int exit2, int forced) {
  if (!p || p->state == PHC__P_DEAD) return;
  phc__msg_t *m = msg_new(PHC__M_EXIT, reason, len);
  phc__cpid_set(&m->from, from);
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
  phc__proc_do_exit(p, reason, len);
  free(reason);
  return 0;
}

int phc__proc_call_handle_msg(phc_proc_t *p, const char *buf, int len) {
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

static int deliver(phc_proc_t *p, const phc__msg_t *m) {
  if (m->kind == PHC__M_EXIT) return phc__proc_exit_signal(p, m);
  return phc__proc_call_handle_msg(p, m->buf, m->len);
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

/* ---- the end ------------------------------------------------------------ */

void phc__proc_free(phc_proc_t *p) {
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

static void rt_free_cb(uv_handle_t *h) {
  struct phc__rt_s *rt = h->data;
  free(rt->slots);
  free(rt);
}

void phc__rt_close(phc_node_t *n) {
  if (!n || !n->rt) return;
  struct phc__rt_s *rt = n->rt;
  phc_proc_t *p;
  rt->closing = 1;
  for (uint32_t i = 0; (p = phc__proc_next(rt, &i));) {
    if (p->state == PHC__P_DEAD) { /* inside its own terminate: unusual */
      phc__proc_table_del(p);
      continue;
    }
    p->running = 0;
    phc__proc_kill_atom(p, "shutdown");
  }
  phc__timers_close(n);
  phc__ctypes_free(n);
  if (rt->idle_on) uv_idle_stop(&rt->idle);
  n->rt = NULL;
  uv_close((uv_handle_t *)&rt->idle, rt_free_cb);
}

/* ---- sending ------------------------------------------------------------ */

int phc_send(phc_node_t *n, const phc_pid_t *from, const phc_pid_t *to,
             const char *buf, int len) {
  if (!n || !n->rt || !to || phc__term_check(buf, len) < 0) return PHC_EINVAL;
  if (phc__pid_is_local(n, to) || phc__pid_is_stale(n, to)) {
    phc__proc_enqueue_msg(phc__proc_find(n, to), buf, len);
    return 0;
  }
  if (!phc__remote_ok(n) || !n->remote->send) return PHC_ENOTCONN;
  return n->remote->send(n->remote_ctx, from, to, buf, len);
}

int phc_send_name(phc_node_t *n, const phc_pid_t *from, const char *node,
                  const char *name, const char *buf, int len) {
  if (!n || !n->rt || !name || phc__term_check(buf, len) < 0) return PHC_EINVAL;
  if (!node || strcmp(node, n->name) == 0) {
    phc_proc_t *p = phc__name_find(n, name);
    if (!p) {
      PHC_LOG_D(PHC__PROC_MOD, "send to unknown name %s dropped", name);
      return PHC_ENOPROC;
    }
    phc__proc_enqueue_msg(p, buf, len);
    return 0;
  }
  if (!phc__remote_ok(n) || !n->remote->send_name) return PHC_ENOTCONN;
  return n->remote->send_name(n->remote_ctx, from, node, name, buf, len);
}

int phc_send_alias(phc_node_t *n, const phc_pid_t *from, const phc_ref_t *alias,
                   const char *buf, int len) {
  if (!n || !n->rt || !alias || phc__term_check(buf, len) < 0)
    return PHC_EINVAL;
  if (strcmp(alias->node, n->name) == 0) {
    phc__alias_t *a = phc__alias_find(n, alias);
    if (a) phc__proc_enqueue_msg(a->owner, buf, len);
    return 0;
  }
  if (!phc__remote_ok(n) || !n->remote->send_alias) return PHC_ENOTCONN;
  return n->remote->send_alias(n->remote_ctx, from, alias, buf, len);
}
