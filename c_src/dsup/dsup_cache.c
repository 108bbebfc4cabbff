/* dsup_cache.c - the Registry's children map (Key => {Pid, Spec}) kept
 * from the scope's joins and leaves as DistributedSupervisor.Registry
 * keeps it (cache_children?: true): a local child's spec from this node's
 * supervisor, a remote one's from an rpc of
 * DistributedSupervisor.dynamic_supervisor_status/1 to its node (sent from
 * the Registry to that node's rex; the reply fills the entry in). The
 * group's uniqueness rule on a join (the member off the ring's node for an
 * atom key is terminated, here when it is local), and the listeners. */
#include "dsup/dsup_int.h"

#include <stdlib.h>
#include <string.h>

#include "otp/otp.h"
#include "term/term.h"

#define MOD "dsup"

static dsup_entry_t *entry_find(phc__dsup_t *d, const char *key) {
  for (dsup_entry_t *e = d->cache; e; e = e->next)
    if (strcmp(e->key, key) == 0) return e;
  return NULL;
}

static void entry_set_spec(dsup_entry_t *e, const ei_x_buff *spec) {
  free(e->spec);
  e->spec = spec ? phc__term_dup(spec->buff, spec->index) : NULL;
  e->spec_len = spec ? spec->index : 0;
}

static void entry_drop(phc__dsup_t *d, const char *key, const phc_pid_t *pid) {
  for (dsup_entry_t **pp = &d->cache; *pp; pp = &(*pp)->next) {
    dsup_entry_t *e = *pp;
    if (strcmp(e->key, key) != 0 || !phc_pid_eq(&e->pid, pid)) continue;
    *pp = e->next;
    free(e->spec);
    free(e);
    return;
  }
}

void phc__dsup_cache_free(phc__dsup_t *d) {
  while (d->cache) {
    dsup_entry_t *e = d->cache;
    d->cache = e->next;
    free(e->spec);
    free(e);
  }
  while (d->pending) {
    dsup_pending_t *p = d->pending;
    d->pending = p->next;
    free(p);
  }
}

void phc__dsup_cache_encode(phc__dsup_t *d, ei_x_buff *x) {
  int n = 0;
  for (dsup_entry_t *e = d->cache; e; e = e->next)
    n++;
  phc__x_map_header(x, n);
  for (dsup_entry_t *e = d->cache; e; e = e->next) {
    phc__x_atom(x, e->key);
    phc__x_tuple_header(x, 2);
    phc__x_pid(x, &e->pid);
    if (e->spec)
      phc__x_append_buf(x, e->spec, e->spec_len);
    else
      phc__x_atom(x, "nil");
  }
}

/* rpc:call(Node, Mod, Fun, [Arg]) from the Registry (Arg an atom), the
 * answer arriving in its mailbox as {Tag, Result}. */
static dsup_pending_t *rex_call(phc__dsup_t *d, const char *node,
                                const char *mod, const char *fun,
                                const char *arg) {
  dsup_pending_t *p = phc__xcalloc(1, sizeof *p);
  phc_make_ref(d->n, &p->tag);
  ei_x_buff x;
  phc__x_new_with_version(&x);
  phc__x_tuple_header(&x, 3);
  phc__x_atom(&x, "$gen_call");
  phc__x_tuple_header(&x, 2);
  phc__x_pid(&x, &d->reg_pid);
  phc__x_ref(&x, &p->tag);
  phc__x_tuple_header(&x, 5);
  phc__x_atom(&x, "call");
  phc__x_atom(&x, mod);
  phc__x_atom(&x, fun);
  phc__x_list_header(&x, 1);
  phc__x_atom(&x, arg);
  phc__x_empty_list(&x);
  phc__x_pid(&x, &d->reg_pid); /* the group leader */
  phc_send_name(d->n, &d->reg_pid, node, "rex", x.buff, x.index);
  ei_x_free(&x);
  p->next = d->pending;
  d->pending = p;
  return p;
}

/* DistributedSupervisor.dynamic_supervisor_status(Name) on pid's node. */
static void request_spec(phc__dsup_t *d, const char *key,
                         const phc_pid_t *pid) {
  dsup_pending_t *p = rex_call(d, pid->node, "Elixir.DistributedSupervisor",
                               "dynamic_supervisor_status", d->name);
  snprintf(p->key, sizeof p->key, "%s", key);
  p->pid = *pid;
}

void phc__dsup_probe_release(phc__dsup_t *d, const char *node) {
  rex_call(d, node, "erlang", "system_info", "otp_release")->release = 1;
}

/* The answer "25", "26", ...: atom keys hash as that release writes them. */
static void release_answer(phc__dsup_t *d, const char *buf, int idx) {
  char rel[8];
  int type, size, t = idx;
  if (ei_get_type(buf, &t, &type, &size) < 0 || type != ERL_STRING_EXT ||
      size <= 0 || size >= (int)sizeof rel || ei_decode_string(buf, &idx, rel))
    return;
  phc__dring_set_enc(d->ring,
                     atoi(rel) >= 26 ? PHC__ETF_OTP26 : PHC__ETF_OTP25);
}

static void cache_join(phc__dsup_t *d, const char *key, const phc_pid_t *pid) {
  dsup_entry_t *e = entry_find(d, key);
  if (!e) {
    e = phc__xcalloc(1, sizeof *e);
    snprintf(e->key, sizeof e->key, "%s", key);
    e->next = d->cache;
    d->cache = e;
  }
  e->pid = *pid;
  entry_set_spec(e, NULL);
  if (strcmp(pid->node, d->n->name) != 0) {
    request_spec(d, key, pid);
    return;
  }
  for (dsup_child_t *c = d->children; c; c = c->next) {
    if (!phc_pid_eq(&c->pid, pid)) continue;
    ei_x_buff s;
    phc__x_new(&s);
    if (phc__dsup_spec_of(c->child, 0, &s) == 0) entry_set_spec(e, &s);
    ei_x_free(&s);
  }
}

/* In the status's fifth element (a list of {header | data | ..., _}), the
 * {"State", S} of a data list: the index of S, or -1. */
static int status_state(const char *buf, int len, int idx) {
  int arity, n, m;
  char key[8];
  if (ei_decode_list_header(buf, &idx, &n) < 0) return -1;
  for (int i = 0; i < n; i++) {
    int el = idx;
    if (phc__term_skip(buf, len, &idx) < 0) return -1;
    if (ei_decode_tuple_header(buf, &el, &arity) < 0 || arity != 2 ||
        !phc__term_atom_eq(buf, el, "data") || ei_skip_term(buf, &el) < 0 ||
        ei_decode_list_header(buf, &el, &m) < 0)
      continue;
    for (int j = 0; j < m; j++) {
      int pair = el;
      if (phc__term_skip(buf, len, &el) < 0) return -1;
      int type, size, t;
      if (ei_decode_tuple_header(buf, &pair, &arity) == 0 && arity == 2 &&
          (t = pair, ei_get_type(buf, &t, &type, &size) == 0) &&
          type == ERL_STRING_EXT && size == 5 &&
          ei_decode_string(buf, &pair, key) == 0 && !strcmp(key, "State"))
        return pair;
    }
  }
  return -1;
}

/* The child tuple of pid in %DynamicSupervisor{children: %{Pid => T}}
 * inside a :sys.get_status answer at buf[idx]: its index, or -1. */
static int status_child(const char *buf, int len, int idx,
                        const phc_pid_t *pid) {
  int arity, n, ch;
  erlang_pid p;
  if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 4 ||
      !phc__term_atom_eq(buf, idx, "status"))
    return -1;
  for (int i = 0; i < 3; i++)
    if (phc__term_skip(buf, len, &idx) < 0) return -1;
  if (ei_decode_list_header(buf, &idx, &n) < 0 || n != 5) return -1;
  for (int i = 0; i < 4; i++)
    if (phc__term_skip(buf, len, &idx) < 0) return -1;
  int st = status_state(buf, len, idx);
  if (st < 0 || phc__term_map_get(buf, st, "children", &ch) < 0 ||
      ei_decode_map_header(buf, &ch, &n) < 0)
    return -1;
  for (int i = 0; i < n; i++) {
    int k = ch;
    if (phc__term_skip(buf, len, &ch) < 0) return -1;
    if (ei_decode_pid(buf, &k, &p) == 0 && phc_pid_eq(&p, pid)) return ch;
    if (phc__term_skip(buf, len, &ch) < 0) return -1;
  }
  return -1;
}

int phc__dsup_cache_reply(phc__dsup_t *d, const char *buf, int len) {
  int idx = 1, arity;
  phc_ref_t tag;
  if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 2 ||
      ei_decode_ref(buf, &idx, &tag) < 0)
    return 0;
  for (dsup_pending_t **pp = &d->pending; *pp; pp = &(*pp)->next) {
    dsup_pending_t *p = *pp;
    if (!phc_ref_eq(&p->tag, &tag)) continue;
    *pp = p->next;
    if (p->release) {
      release_answer(d, buf, idx);
      free(p);
      return 1;
    }
    dsup_entry_t *e = entry_find(d, p->key);
    int c = status_child(buf, len, idx, &p->pid);
    if (e && c >= 0 && phc_pid_eq(&e->pid, &p->pid)) {
      ei_x_buff s;
      phc__x_new(&s);
      if (phc__dsup_spec_of(buf, c, &s) == 0) entry_set_spec(e, &s);
      ei_x_free(&s);
    }
    free(p);
    return 1;
  }
  return 0;
}

/* ---- listeners ----------------------------------------------------------- */

static void notify_process(phc__dsup_t *d, int start, const char *key,
                           const phc_pid_t *pid) {
  if (strcmp(pid->node, d->n->name) != 0 || d->nlisteners == 0) return;
  ei_x_buff id;
  phc__x_new(&id);
  phc__x_atom(&id, key);
  for (int i = 0; i < d->nlisteners; i++) {
    const phc_dsup_listener_t *l = &d->listeners[i];
    if (start && l->on_process_start)
      l->on_process_start(d->n, d->name, id.buff, id.index, pid, l->arg);
    if (!start && l->on_process_stop)
      l->on_process_stop(d->n, d->name, id.buff, id.index, pid, l->arg);
  }
  ei_x_free(&id);
}

/* Node up/down reach the listeners when the ring gives that node to this
 * node (DistributedSupervisor.Notifier's rule). */
void phc__dsup_notify_node(phc__dsup_t *d, int up, const char *node) {
  const char *owner;
  ei_x_buff k;
  if (d->nlisteners == 0) return;
  phc__x_new(&k);
  phc__x_atom(&k, node);
  int mine = phc__dring_node_for(d->ring, k.buff, k.index, 0, &owner) == 0 &&
             strcmp(owner, d->n->name) == 0;
  ei_x_free(&k);
  for (int i = 0; mine && i < d->nlisteners; i++) {
    const phc_dsup_listener_t *l = &d->listeners[i];
    if (up && l->on_node_up) l->on_node_up(d->n, d->name, node, l->arg);
    if (!up && l->on_node_down) l->on_node_down(d->n, d->name, node, l->arg);
  }
}

void phc__dsup_notify_terminate(phc__dsup_t *d, const char *node,
                                const char *reason, int len) {
  for (int i = 0; i < d->nlisteners; i++) {
    const phc_dsup_listener_t *l = &d->listeners[i];
    if (l->on_node_terminate)
      l->on_node_terminate(d->n, d->name, node, reason, len, l->arg);
  }
}

/* Two members of an atom group: the one off the ring's node for the key
 * loses; a local loser is terminated (a remote one by its own node). */
static void fix_group(phc__dsup_t *d, const char *key) {
  erlang_pid m[2];
  const char *winner;
  ei_x_buff k;
  if (phc__pg_members(d->pg, key, m, 2) != 2) return;
  phc__x_new(&k);
  phc__x_atom(&k, key);
  int ok = phc__dring_node_for(d->ring, k.buff, k.index, 0, &winner) == 0;
  ei_x_free(&k);
  for (int i = 0; ok && i < 2; i++) {
    const erlang_pid *loser = &m[i], *other = &m[1 - i];
    if (strcmp(loser->node, d->n->name) != 0 ||
        strcmp(other->node, winner) != 0 || strcmp(loser->node, winner) == 0)
      continue;
    PHC_LOG_W(MOD, "shutting the named process %s down here", key);
    ei_x_buff arg, res;
    phc__x_new(&arg);
    phc__x_pid(&arg, loser);
    phc__x_new(&res);
    phc__dsup_sup_call(d, "terminate_child", arg.buff, arg.index, &res);
    ei_x_free(&arg);
    ei_x_free(&res);
    return;
  }
}

static int node_connected(phc_node_t *n, const char *node) {
  const char *peers[256];
  int k = phc__otp_peers(n, peers, 256);
  for (int i = 0; i < k && i < 256; i++)
    if (strcmp(peers[i], node) == 0) return 1;
  return 0;
}

/* {Start, Restart, Shutdown, Type, [M]} from a spec map. */
static int child_of_spec(const char *spec, int len, ei_x_buff *x) {
  static const char *const keys[] = {"start", "restart", "shutdown", "type"};
  int at[4], idx, arity;
  for (int i = 0; i < 4; i++)
    if (phc__term_map_get(spec, 0, keys[i], &at[i]) < 0) return PHC_EINVAL;
  idx = at[0];
  if (ei_decode_tuple_header(spec, &idx, &arity) < 0 || arity != 3)
    return PHC_EINVAL;
  int m = idx;
  phc__x_tuple_header(x, 5);
  for (int i = 0; i < 4; i++) {
    int end = at[i];
    if (phc__term_skip(spec, len, &end) < 0) return PHC_EINVAL;
    phc__x_append_buf(x, spec + at[i], end - at[i]);
  }
  int mend = m;
  if (phc__term_skip(spec, len, &mend) < 0) return PHC_EINVAL;
  phc__x_list_header(x, 1);
  phc__x_append_buf(x, spec + m, mend - m);
  phc__x_empty_list(x);
  return 0;
}

/* A cached child left with its node gone: the Registry restarts it on the
 * ring's node for the supervisor's name without that node; here when that
 * is this node (each member does the same, the first start wins). */
static void restart_lost(phc__dsup_t *d, const dsup_entry_t *e) {
  const char *target;
  ei_x_buff k, child, res;
  if (!e->spec || strcmp(e->pid.node, d->n->name) == 0 ||
      node_connected(d->n, e->pid.node))
    return;
  phc__x_new(&k);
  phc__x_atom(&k, d->name);
  int mine = phc__dring_node_for_skip(d->ring, k.buff, k.index, 0, e->pid.node,
                                      &target) == 0 &&
             strcmp(target, d->n->name) == 0;
  ei_x_free(&k);
  if (!mine) return;
  phc__x_new(&child);
  phc__x_new_with_version(&res);
  if (child_of_spec(e->spec, e->spec_len, &child) == 0) {
    PHC_LOG_I(MOD, "%s: restarting %s here (its node %s is gone)", d->name,
              e->key, e->pid.node);
    phc__dsup_sup_call(d, "start_child", child.buff, child.index, &res);
  }
  ei_x_free(&child);
  ei_x_free(&res);
}

void phc__dsup_watch(void *arg, const char *group, int joined,
                     const erlang_pid *pids, int npids) {
  phc__dsup_t *d = arg;
  if (npids != 1) return; /* as the library: one pid at a time */
  notify_process(d, joined, group, &pids[0]);
  if (joined) {
    cache_join(d, group, &pids[0]);
    fix_group(d, group);
  } else {
    dsup_entry_t *e = entry_find(d, group);
    if (e && phc_pid_eq(&e->pid, &pids[0])) {
      dsup_entry_t copy = *e;
      copy.spec = e->spec ? phc__term_dup(e->spec, e->spec_len) : NULL;
      entry_drop(d, group, &pids[0]);
      restart_lost(d, &copy);
      free(copy.spec);
    }
  }
}
