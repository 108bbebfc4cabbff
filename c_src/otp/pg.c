/* pg.c - OTP 25 pg scopes (see pg.h). */
#include "otp/pg.h"

#include <stdio.h>
#include <stdlib.h>

#include "otp/otp.h"
#include "proc/proc.h"
#include "term/enc.h"
#include "term/term.h"

#define MOD "pg"

typedef struct pg_group_s {
  char name[PHC__ATOM_MAX];
  erlang_pid *pids;
  int n, cap;
  struct pg_group_s *next;
} pg_group_t;

typedef struct pg_peer_s {
  erlang_pid scope;
  phc_ref_t mon;
  pg_group_t *groups;
  struct pg_peer_s *next;
} pg_peer_t;

typedef struct pg_mon_s { /* a monitored local member */
  erlang_pid pid;
  phc_ref_t ref;
  struct pg_mon_s *next;
} pg_mon_t;

struct phc__pg_s {
  phc_node_t *n;
  char scope[PHC__ATOM_MAX];
  erlang_pid self;
  pg_group_t *local;
  pg_peer_t *peers;
  pg_mon_t *mons;
  phc__pg_watch_cb cb;
  void *cb_arg;
};

/* ---- groups ---------------------------------------------------------- */

static pg_group_t *group_find(pg_group_t *g, const char *name) {
  for (; g; g = g->next)
    if (!strcmp(g->name, name)) return g;
  return NULL;
}

static pg_group_t *group_get(pg_group_t **list, const char *name) {
  pg_group_t *g = group_find(*list, name);
  if (g) return g;
  g = phc__xcalloc(1, sizeof *g);
  snprintf(g->name, sizeof g->name, "%s", name);
  g->next = *list;
  *list = g;
  return g;
}

static void group_add(pg_group_t *g, const erlang_pid *pid) {
  if (g->n == g->cap) {
    g->cap = g->cap ? 2 * g->cap : 4;
    g->pids = phc__xrealloc(g->pids, (size_t)g->cap * sizeof *g->pids);
  }
  g->pids[g->n++] = *pid;
}

/* Remove one occurrence; 1 if removed. */
static int group_remove(pg_group_t *g, const erlang_pid *pid) {
  for (int i = 0; i < g->n; i++)
    if (phc_pid_eq(&g->pids[i], pid)) {
      g->pids[i] = g->pids[--g->n];
      return 1;
    }
  return 0;
}

static void groups_free(pg_group_t *g) {
  while (g) {
    pg_group_t *next = g->next;
    free(g->pids);
    free(g);
    g = next;
  }
}

static void notify(phc__pg_t *pg, const char *group, int joined,
                   const erlang_pid *pids, int n) {
  if (pg->cb && n > 0) pg->cb(pg->cb_arg, group, joined, pids, n);
}

/* ---- encoding -------------------------------------------------------- */

static void encode_groups(ei_x_buff *x, pg_group_t *list) {
  int k = 0;
  for (pg_group_t *g = list; g; g = g->next)
    k += g->n > 0;
  if (k) phc__x_list_header(x, k);
  for (pg_group_t *g = list; g; g = g->next) {
    if (!g->n) continue;
    phc__x_tuple_header(x, 2);
    phc__x_atom(x, g->name);
    phc__x_list_header(x, g->n);
    for (int i = 0; i < g->n; i++)
      phc__x_pid(x, &g->pids[i]);
    phc__x_empty_list(x);
  }
  phc__x_empty_list(x);
}

static void send_x(phc__pg_t *pg, const erlang_pid *to, ei_x_buff *x) {
  phc_send(pg->n, &pg->self, to, x->buff, x->index);
  ei_x_free(x);
}

static void send_discover(phc__pg_t *pg, const erlang_pid *to,
                          const char *node) {
  ei_x_buff x;
  phc__x_new_with_version(&x);
  phc__x_tuple_header(&x, 2);
  phc__x_atom(&x, "discover");
  phc__x_pid(&x, &pg->self);
  if (to)
    send_x(pg, to, &x);
  else {
    phc_send_name(pg->n, &pg->self, node, pg->scope, x.buff, x.index);
    ei_x_free(&x);
  }
}

/* {'$gen_cast', {sync, Self, Groups}}; with no groups it leaves them all. */
static void send_sync(phc__pg_t *pg, const erlang_pid *to, int empty) {
  ei_x_buff x;
  phc__x_new_with_version(&x);
  phc__x_tuple_header(&x, 2);
  phc__x_atom(&x, "$gen_cast");
  phc__x_tuple_header(&x, 3);
  phc__x_atom(&x, "sync");
  phc__x_pid(&x, &pg->self);
  encode_groups(&x, empty ? NULL : pg->local);
  send_x(pg, to, &x);
}

/* {join, Self, Group, Pid} or {leave, Self, Pid, Groups} to every peer. */
static void broadcast(phc__pg_t *pg, int join, const char *group,
                      const erlang_pid *pid, const char **groups, int ngroups) {
  for (pg_peer_t *p = pg->peers; p; p = p->next) {
    ei_x_buff x;
    phc__x_new_with_version(&x);
    phc__x_tuple_header(&x, 4);
    phc__x_atom(&x, join ? "join" : "leave");
    phc__x_pid(&x, &pg->self);
    if (join) {
      phc__x_atom(&x, group);
      phc__x_pid(&x, pid);
    } else {
      phc__x_pid(&x, pid);
      phc__x_list_header(&x, ngroups);
      for (int i = 0; i < ngroups; i++)
        phc__x_atom(&x, groups[i]);
      phc__x_empty_list(&x);
    }
    send_x(pg, &p->scope, &x);
  }
}

/* ---- peers ----------------------------------------------------------- */

static pg_peer_t *peer_find(phc__pg_t *pg, const erlang_pid *scope) {
  for (pg_peer_t *p = pg->peers; p; p = p->next)
    if (phc_pid_eq(&p->scope, scope)) return p;
  return NULL;
}

static phc_proc_t *self_proc(phc__pg_t *pg) {
  return phc_proc_lookup(pg->n, &pg->self);
}

static pg_peer_t *peer_add(phc__pg_t *pg, const erlang_pid *scope) {
  pg_peer_t *p = phc__xcalloc(1, sizeof *p);
  p->scope = *scope;
  phc_monitor(self_proc(pg), scope, &p->mon);
  p->next = pg->peers;
  pg->peers = p;
  return p;
}

static void peer_drop_groups(phc__pg_t *pg, pg_peer_t *p) {
  for (pg_group_t *g = p->groups; g; g = g->next)
    notify(pg, g->name, 0, g->pids, g->n);
  groups_free(p->groups);
  p->groups = NULL;
}

static void peer_remove(phc__pg_t *pg, pg_peer_t *p) {
  pg_peer_t **pp = &pg->peers;
  while (*pp != p)
    pp = &(*pp)->next;
  *pp = p->next;
  peer_drop_groups(pg, p);
  free(p);
}

#define PG_MAX_PIDS 1024

/* {sync, Peer, [{Group, [Pid]}]}: replace everything known of Peer. */
static void handle_sync(phc__pg_t *pg, const char *buf, int *idx) {
  erlang_pid scope;
  int arity;
  if (ei_decode_pid(buf, idx, &scope) < 0 ||
      ei_decode_list_header(buf, idx, &arity) < 0)
    goto bad;
  pg_peer_t *p = peer_find(pg, &scope);
  if (!p) p = peer_add(pg, &scope);
  peer_drop_groups(pg, p);
  erlang_pid pids[PG_MAX_PIDS];
  for (int i = 0; i < arity; i++) {
    int ta, k;
    char group[PHC__ATOM_MAX];
    if (ei_decode_tuple_header(buf, idx, &ta) < 0 || ta != 2 ||
        phc__term_atom(buf, idx, group, sizeof group) < 0 ||
        (k = phc__term_pids(buf, idx, pids, PG_MAX_PIDS)) < 0 ||
        k > PG_MAX_PIDS)
      goto bad;
    pg_group_t *g = group_get(&p->groups, group);
    for (int j = 0; j < k; j++)
      group_add(g, &pids[j]);
    notify(pg, group, 1, pids, k);
  }
  return;
bad:
  PHC_LOG_W(MOD, "%s: dropping a malformed sync", pg->scope);
}

static void handle_discover(phc__pg_t *pg, const char *buf, int *idx) {
  erlang_pid peer;
  if (ei_decode_pid(buf, idx, &peer) < 0) {
    PHC_LOG_W(MOD, "%s: dropping a malformed discover", pg->scope);
    return;
  }
  send_sync(pg, &peer, 0);
  if (!peer_find(pg, &peer)) {
    peer_add(pg, &peer);
    send_discover(pg, &peer, NULL);
  }
}

static void handle_join(phc__pg_t *pg, const char *buf, int *idx) {
  erlang_pid scope, pids[PG_MAX_PIDS];
  char group[PHC__ATOM_MAX];
  int k;
  if (ei_decode_pid(buf, idx, &scope) < 0 ||
      phc__term_atom(buf, idx, group, sizeof group) < 0 ||
      (k = phc__term_pids(buf, idx, pids, PG_MAX_PIDS)) < 0 ||
      k > PG_MAX_PIDS) {
    PHC_LOG_W(MOD, "%s: dropping a malformed join", pg->scope);
    return;
  }
  pg_peer_t *p = peer_find(pg, &scope);
  if (!p) return; /* pg accepts joins only from known peers */
  pg_group_t *g = group_get(&p->groups, group);
  for (int j = 0; j < k; j++)
    group_add(g, &pids[j]);
  notify(pg, group, 1, pids, k);
}

static void handle_leave(phc__pg_t *pg, const char *buf, int *idx) {
  erlang_pid scope, pids[PG_MAX_PIDS];
  int k, arity;
  if (ei_decode_pid(buf, idx, &scope) < 0 ||
      (k = phc__term_pids(buf, idx, pids, PG_MAX_PIDS)) < 0 ||
      k > PG_MAX_PIDS || ei_decode_list_header(buf, idx, &arity) < 0) {
    PHC_LOG_W(MOD, "%s: dropping a malformed leave", pg->scope);
    return;
  }
  pg_peer_t *p = peer_find(pg, &scope);
  for (int i = 0; i < arity; i++) {
    char group[PHC__ATOM_MAX];
    if (phc__term_atom(buf, idx, group, sizeof group) < 0) return;
    pg_group_t *g = p ? group_find(p->groups, group) : NULL;
    if (!g) continue;
    for (int j = 0; j < k; j++)
      if (group_remove(g, &pids[j])) notify(pg, group, 0, &pids[j], 1);
  }
}

/* ---- local members --------------------------------------------------- */

static void local_member_down(phc__pg_t *pg, const erlang_pid *pid) {
  const char *left[64];
  int nleft = 0;
  for (pg_group_t *g = pg->local; g; g = g->next) {
    int removed = 0;
    while (group_remove(g, pid))
      removed = 1;
    if (removed && nleft < 64) left[nleft++] = g->name;
    if (removed) notify(pg, g->name, 0, pid, 1);
  }
  if (nleft) broadcast(pg, 0, NULL, pid, left, nleft);
}

static void handle_down(phc__pg_t *pg, const char *buf, int *idx) {
  phc_ref_t ref;
  if (ei_decode_ref(buf, idx, &ref) < 0) return;
  for (pg_mon_t **m = &pg->mons; *m; m = &(*m)->next) {
    if (!phc_ref_eq(&(*m)->ref, &ref)) continue;
    pg_mon_t *dead = *m;
    *m = dead->next;
    local_member_down(pg, &dead->pid);
    free(dead);
    return;
  }
  for (pg_peer_t *p = pg->peers; p; p = p->next)
    if (phc_ref_eq(&p->mon, &ref)) {
      peer_remove(pg, p);
      return;
    }
}

/* ---- the scope process ----------------------------------------------- */

static void pg_handle(phc_proc_t *self, const char *buf, int len) {
  phc__pg_t *pg = phc_proc_data(self);
  int idx = 1, arity;
  char tag[PHC__ATOM_MAX], node[PHC__ATOM_MAX];
  PHC__UNUSED(len);
  if (ei_decode_tuple_header(buf, &idx, &arity) < 0 ||
      phc__term_atom(buf, &idx, tag, sizeof tag) < 0)
    goto unknown;
  if (!strcmp(tag, "$gen_cast") && arity == 2) {
    int a2;
    if (ei_decode_tuple_header(buf, &idx, &a2) < 0 || a2 != 3 ||
        phc__term_atom(buf, &idx, tag, sizeof tag) < 0 ||
        strcmp(tag, "sync") != 0)
      goto unknown;
    handle_sync(pg, buf, &idx);
  } else if (!strcmp(tag, "discover") && arity == 2) {
    handle_discover(pg, buf, &idx);
  } else if (!strcmp(tag, "join") && arity == 4) {
    handle_join(pg, buf, &idx);
  } else if (!strcmp(tag, "leave") && arity == 4) {
    handle_leave(pg, buf, &idx);
  } else if (!strcmp(tag, "DOWN") && arity == 5) {
    handle_down(pg, buf, &idx);
  } else if (!strcmp(tag, "nodeup") && arity >= 2) {
    if (phc__term_atom(buf, &idx, node, sizeof node) == 0)
      send_discover(pg, NULL, node);
  } else if (!strcmp(tag, "nodedown")) {
    /* peer scopes go through their monitors */
  } else {
    goto unknown;
  }
  return;
unknown:
  PHC_LOG_W(MOD, "%s: dropping an unexpected message", pg->scope);
}

static void pg_terminate(phc_proc_t *self, const char *reason, int len) {
  phc__pg_t *pg = phc_proc_data(self);
  PHC__UNUSED(reason);
  PHC__UNUSED(len);
  if (!pg) return;
  while (pg->peers) {
    pg_peer_t *p = pg->peers;
    pg->peers = p->next;
    groups_free(p->groups);
    free(p);
  }
  groups_free(pg->local);
  while (pg->mons) {
    pg_mon_t *m = pg->mons;
    pg->mons = m->next;
    free(m);
  }
  free(pg);
}

static const phc_proc_ops_t pg_ops = {
    .name = MOD, .handle_msg = pg_handle, .terminate = pg_terminate};

int phc__pg_start(phc_node_t *n, const char *scope, phc__pg_t **out) {
  phc__pg_t *pg = phc__xcalloc(1, sizeof *pg);
  pg->n = n;
  snprintf(pg->scope, sizeof pg->scope, "%s", scope);
  int rc = phc_spawn(n, &pg_ops, NULL, NULL, 0, &pg->self);
  if (rc) {
    free(pg);
    return rc;
  }
  phc_proc_t *p = phc_proc_lookup(n, &pg->self);
  phc_proc_set_data(p, pg);
  if ((rc = phc_register(n, scope, &pg->self)) != 0) {
    phc_proc_set_data(p, NULL);
    phc_proc_exit_atom(p, "normal");
    free(pg);
    return rc;
  }
  phc_monitor_nodes(p, 1);
  const char *peers[256];
  int k = phc__otp_peers(n, peers, 256);
  for (int i = 0; i < k; i++)
    send_discover(pg, NULL, peers[i]);
  *out = pg;
  return 0;
}

void phc__pg_stop(phc__pg_t *pg) {
  for (pg_peer_t *p = pg->peers; p; p = p->next)
    send_sync(pg, &p->scope, 1);
  phc_proc_t *p = self_proc(pg);
  if (p) phc_proc_exit_atom(p, "normal");
}

const erlang_pid *phc__pg_pid(const phc__pg_t *pg) { return &pg->self; }

int phc__pg_join(phc__pg_t *pg, const char *group, const erlang_pid *pid) {
  if (!phc__pid_is_local(pg->n, pid)) return PHC_EINVAL;
  group_add(group_get(&pg->local, group), pid);
  int monitored = 0;
  for (pg_mon_t *m = pg->mons; m; m = m->next)
    monitored |= phc_pid_eq(&m->pid, pid);
  if (!monitored) {
    pg_mon_t *m = phc__xcalloc(1, sizeof *m);
    m->pid = *pid;
    phc_monitor(self_proc(pg), pid, &m->ref);
    m->next = pg->mons;
    pg->mons = m;
  }
  broadcast(pg, 1, group, pid, NULL, 0);
  notify(pg, group, 1, pid, 1);
  return 0;
}

int phc__pg_leave(phc__pg_t *pg, const char *group, const erlang_pid *pid) {
  pg_group_t *g = group_find(pg->local, group);
  if (!g || !group_remove(g, pid)) return PHC_ENOPROC;
  broadcast(pg, 0, NULL, pid, &group, 1);
  notify(pg, group, 0, pid, 1);
  return 0;
}

static int copy_pids(const pg_group_t *g, erlang_pid *out, int at, int max) {
  for (int i = 0; g && i < g->n && at < max; i++)
    out[at++] = g->pids[i];
  return at;
}

int phc__pg_local_members(const phc__pg_t *pg, const char *group,
                          erlang_pid *out, int max) {
  return copy_pids(group_find(pg->local, group), out, 0, max);
}

int phc__pg_members(const phc__pg_t *pg, const char *group, erlang_pid *out,
                    int max) {
  int k = phc__pg_local_members(pg, group, out, max);
  for (pg_peer_t *p = pg->peers; p; p = p->next)
    k = copy_pids(group_find(p->groups, group), out, k, max);
  return k;
}

void phc__pg_watch(phc__pg_t *pg, phc__pg_watch_cb cb, void *arg) {
  pg->cb = cb;
  pg->cb_arg = arg;
}

int phc__pg_discover(phc__pg_t *pg, const char *node) {
  send_discover(pg, NULL, node);
  return 0;
}
