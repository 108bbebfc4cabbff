/* replication.c - ProcessHub.Strategy.Redundancy.Replication: every child
 * runs on replication_factor nodes (an integer, or cluster_size: every
 * node of the hub), all of them active (active_active) or one active and
 * the others passive (active_passive).
 *
 * Options (the struct's fields, as a keyword list or the struct map):
 * replication_factor (default 2), replication_model (active_active),
 * redundancy_signal (none | active | passive | all, default none). An
 * unknown option or value fails init with one log line naming it.
 *
 * master_node/4 is ProcessHub's: the child's nodes sorted, the id (binary
 * or atom) summed as a charlist, that sum modulo the node count picks the
 * active replica. */
#include <stdlib.h>

#include "hub/hub.h"
#include "term/enc.h"

#define MOD "replication"

typedef struct rep_state_s {
  int rf; /* 0: cluster_size */
  int active_passive;
  int signal; /* PHC__REP_SIGNAL_* */
} rep_state_t;

enum { REP_SIG_NONE = 0, REP_SIG_ACTIVE, REP_SIG_PASSIVE, REP_SIG_ALL };

static const char *const rep_signals[] = {"none", "active", "passive", "all"};

static int rep_option(void *arg, const char *key, const char *buf, int idx) {
  rep_state_t *s = arg;
  char a[32];
  long long v;
  int i = idx;
  if (!strcmp(key, "replication_factor")) {
    if (phc__term_atom(buf, &i, a, sizeof a) == 0) {
      if (strcmp(a, "cluster_size")) goto bad;
      s->rf = 0;
    } else if (ei_decode_longlong(buf, &i, &v) == 0 && v >= 1 &&
               v <= PHC__HUB_MAX_NODES) {
      s->rf = (int)v;
    } else {
      goto bad;
    }
  } else if (!strcmp(key, "replication_model")) {
    if (phc__term_atom(buf, &i, a, sizeof a) < 0 ||
        (strcmp(a, "active_active") && strcmp(a, "active_passive")))
      goto bad;
    s->active_passive = !strcmp(a, "active_passive");
  } else if (!strcmp(key, "redundancy_signal")) {
    if (phc__term_atom(buf, &i, a, sizeof a) < 0) goto bad;
    int k = 0;
    while (k < 4 && strcmp(a, rep_signals[k]))
      k++;
    if (k == 4) goto bad;
    s->signal = k;
  } else {
    PHC_LOG_E(MOD, "unknown Replication option: %s", key);
    return PHC_EINVAL;
  }
  return 0;
bad:
  PHC_LOG_E(MOD, "bad value for Replication option %s", key);
  return PHC_EINVAL;
}

static int rep_parse(rep_state_t *s, const char *buf, int idx) {
  s->rf = 2;
  s->active_passive = 0;
  s->signal = REP_SIG_NONE;
  return buf ? phc__strat_opts_each(buf, idx, rep_option, s) : 0;
}

static int rep_check(const char *buf, int idx) {
  rep_state_t s;
  return rep_parse(&s, buf, idx);
}

static int rep_init(phc_hub_t *h, void *st, const char *buf, int idx) {
  PHC__UNUSED(h);
  return rep_parse(st, buf, idx);
}

/* cluster_size: Node.list() + 1, the hub's nodes here. */
static int rep_replication_factor(phc_hub_t *h, void *st) {
  const rep_state_t *s = st;
  if (s->rf) return s->rf;
  return h ? h->nnodes : 1;
}

static int rep_cmp(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The id as a charlist, summed: UTF-8 decoded to code points (an id that
 * is not UTF-8 counts its bytes, where ProcessHub would raise). */
static long rep_id_sum(const char *cid, int cid_len) {
  char text[1024];
  int i = 0, type, size;
  long len = 0, sum = 0;
  if (ei_get_type(cid, &i, &type, &size) < 0 || size >= (int)sizeof text)
    return 0;
  if (type == ERL_BINARY_EXT) {
    if (ei_decode_binary(cid, &i, text, &len) < 0) return 0;
  } else if (phc__term_atom(cid, &i, text, sizeof text) == 0) {
    len = (long)strlen(text);
  } else {
    return 0;
  }
  PHC__UNUSED(cid_len);
  for (long k = 0; k < len;) {
    unsigned char c = (unsigned char)text[k];
    int n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    long cp = n == 1 ? c : c & (0x3F >> (n - 1));
    for (int j = 1; j < n && k + j < len; j++)
      cp = (cp << 6) | ((unsigned char)text[k + j] & 0x3F);
    sum += cp;
    k += n;
  }
  return sum;
}

static const char *rep_master_node(phc_hub_t *h, void *st, const char *cid,
                                   int cid_len, const char *const *nodes,
                                   int n) {
  const char *sorted[PHC__HUB_MAX_NODES];
  PHC__UNUSED(h);
  PHC__UNUSED(st);
  if (n <= 0) return NULL;
  if (n > PHC__HUB_MAX_NODES) n = PHC__HUB_MAX_NODES;
  memcpy(sorted, nodes, (size_t)n * sizeof *sorted);
  qsort(sorted, (size_t)n, sizeof *sorted, rep_cmp);
  return sorted[rep_id_sum(cid, cid_len) % n];
}

/* {process_hub, redundancy_signal, Mode} to pid. */
static void rep_signal(phc_hub_t *h, const erlang_pid *pid, const char *mode) {
  ei_x_buff m;
  phc__x_new_with_version(&m);
  phc__x_tuple_header(&m, 3);
  phc__x_atom(&m, "process_hub");
  phc__x_atom(&m, "redundancy_signal");
  phc__x_atom(&m, mode);
  phc_send(h->n, &h->coord, pid, m.buff, m.index);
  ei_x_free(&m);
}

/* handle_post_start: the mode is active for every replica under
 * active_active, else for the master node's only; sent when
 * redundancy_signal is all or that mode. */
static void rep_post_start(phc_hub_t *h, void *st, const char *cid, int cid_len,
                           const erlang_pid *pid, const char *const *nodes,
                           int n) {
  const rep_state_t *s = st;
  if (s->signal == REP_SIG_NONE) return;
  /* The ring's nodes for the child when they are more than the start
   * names: a migration's ChildData names only its target, and ProcessHub
   * then signals a replica active that the ring makes passive. */
  const char *ring[PHC__HUB_MAX_NODES];
  int k = h ? phc__strat_belongs_to(h, &h->strat, cid, cid_len, ring,
                                    PHC__HUB_MAX_NODES)
            : 0;
  if (k > n) {
    nodes = ring;
    n = k;
  }
  const char *master = rep_master_node(h, st, cid, cid_len, nodes, n);
  int active = !s->active_passive || (master && !strcmp(master, h->n->name));
  if (s->signal == REP_SIG_ALL ||
      s->signal == (active ? REP_SIG_ACTIVE : REP_SIG_PASSIVE))
    rep_signal(h, pid, active ? "active" : "passive");
}

/* handle_post_update (active_passive): for each local child whose nodes
 * include `node` after a join (or did before a leave), the master before
 * and after; the replica here that gains or loses it is told. */
static void rep_update(phc_hub_t *h, void *st, const char *node, int up) {
  const rep_state_t *s = st;
  const char *me = h->n->name;
  if (s->signal == REP_SIG_NONE || !s->active_passive) return;
  phc__reg_row_t **rows;
  int k = phc__reg_sorted(&h->reg, &rows);
  for (int i = 0; i < k; i++) {
    const char *now[PHC__HUB_MAX_NODES], *prev[PHC__HUB_MAX_NODES];
    const phc__cpid_t *mine = NULL;
    for (int o = 0; o < rows[i]->nowners; o++)
      if (!strcmp(rows[i]->owners[o].node, me)) mine = &rows[i]->owners[o].pid;
    int n = phc__strat_belongs_to(h, &h->strat, rows[i]->cid, rows[i]->cid_len,
                                  now, PHC__HUB_MAX_NODES);
    if (!mine || n <= 0) continue;
    erlang_pid pid_buf, *pid = &pid_buf;
    phc__cpid_get(mine, pid);
    int np = 0, has = 0;
    for (int j = 0; j < n; j++) {
      has |= up && !strcmp(now[j], node);
      if (!up || strcmp(now[j], node)) prev[np++] = now[j];
    }
    for (int o = 0; !up && o < rows[i]->nowners; o++)
      has |= !strcmp(rows[i]->owners[o].node, node);
    if (!has) continue;
    if (!up && np < PHC__HUB_MAX_NODES) prev[np++] = node;
    const char *cm =
        rep_master_node(h, st, rows[i]->cid, rows[i]->cid_len, now, n);
    const char *pm =
        rep_master_node(h, st, rows[i]->cid, rows[i]->cid_len, prev, np);
    if (!strcmp(cm, pm)) continue;
    if (!strcmp(cm, me) && s->signal != REP_SIG_PASSIVE)
      rep_signal(h, pid, "active");
    else if (!strcmp(pm, me) && s->signal != REP_SIG_ACTIVE)
      rep_signal(h, pid, "passive");
  }
  free(rows);
}

static void rep_node_join(phc_hub_t *h, void *st, const char *node) {
  rep_update(h, st, node, 1);
}

static void rep_node_leave(phc_hub_t *h, void *st, const char *node) {
  if (strcmp(node, h->n->name)) rep_update(h, st, node, 0);
}

const phc__strat_red_t phc__strat_replication = {
    .base = {.kind = PHC__STRAT_REDUNDANCY,
             .module = "Elixir.ProcessHub.Strategy.Redundancy.Replication",
             .state_size = sizeof(rep_state_t),
             .check = rep_check,
             .init = rep_init,
             .node_join = rep_node_join,
             .node_leave = rep_node_leave},
    .replication_factor = rep_replication_factor,
    .master_node = rep_master_node,
    .post_start = rep_post_start};
