/* strategy.c - the list of strategy tables, each hub's strategies, and the
 * typed calls the hub core makes through them (see strategy.h). */
#include "hub/strategy/strategy.h"

#include <stdlib.h>

#include "hub/hub.h"

/* The tables, one per file in this folder. */
extern const phc__strat_dist_t phc__strat_consistent_hashing;
extern const phc__strat_dist_t phc__strat_guided;
extern const phc__strat_dist_t phc__strat_load_balancer;
extern const phc__strat_red_t phc__strat_singularity;
extern const phc__strat_red_t phc__strat_replication;
extern const phc__strat_mig_t phc__strat_cold_swap;
extern const phc__strat_mig_t phc__strat_hot_swap;
extern const phc__strat_sync_t phc__strat_pub_sub;
extern const phc__strat_sync_t phc__strat_gossip;
extern const phc__strat_part_t phc__strat_divergence;
extern const phc__strat_part_t phc__strat_static_quorum;
extern const phc__strat_part_t phc__strat_majority_quorum;
extern const phc__strat_part_t phc__strat_dynamic_quorum;

static const phc__strat_base_t *const strat_all[] = {
    &phc__strat_consistent_hashing.base,
    &phc__strat_guided.base,
    &phc__strat_singularity.base,
    &phc__strat_replication.base,
    &phc__strat_cold_swap.base,
    &phc__strat_hot_swap.base,
    &phc__strat_pub_sub.base,
    &phc__strat_divergence.base,
    &phc__strat_static_quorum.base,
    &phc__strat_majority_quorum.base,
    &phc__strat_dynamic_quorum.base,
    &phc__strat_gossip.base,
    &phc__strat_load_balancer.base};

/* Indexed by kind. */
static const phc__strat_base_t *const strat_defaults[PHC__STRAT_KINDS] = {
    &phc__strat_consistent_hashing.base, &phc__strat_singularity.base,
    &phc__strat_cold_swap.base, &phc__strat_pub_sub.base,
    &phc__strat_divergence.base};

/* ---- the tables ---------------------------------------------------------- */

static int strat_kind_ok(phc__strat_kind_t kind) {
  return (int)kind >= 0 && kind < PHC__STRAT_KINDS;
}

const phc__strat_base_t *phc__strat_find(phc__strat_kind_t kind,
                                         const char *module) {
  for (size_t i = 0; module && i < PHC__ARRAY_LEN(strat_all); i++)
    if (strat_all[i]->kind == kind && !strcmp(strat_all[i]->module, module))
      return strat_all[i];
  return NULL;
}

const phc__strat_base_t *phc__strat_default(phc__strat_kind_t kind) {
  return strat_kind_ok(kind) ? strat_defaults[kind] : NULL;
}

int phc__strat_no_opts(const char *buf, int idx) {
  int type, size, v, i = idx;
  if (!buf) return 0;
  if (ei_get_type(buf, &i, &type, &size) < 0) return PHC_EDECODE;
  if (type == ERL_NIL_EXT) return 0;
  if (type == ERL_MAP_EXT &&
      (size == 0 ||
       (size == 1 && phc__term_map_get(buf, idx, "__struct__", &v) == 0)))
    return 0;
  return PHC_EINVAL;
}

static const char *const strat_keys[PHC__STRAT_KINDS] = {
    "distribution_strategy", "redundancy_strategy", "migration_strategy",
    "synchronization_strategy", "partition_tolerance_strategy"};

phc__strat_kind_t phc__strat_kind_of(const char *key) {
  int k = 0;
  while (k < PHC__STRAT_KINDS && strcmp(strat_keys[k], key))
    k++;
  return (phc__strat_kind_t)k;
}

const char *phc__strat_kind_key(phc__strat_kind_t kind) {
  return strat_kind_ok(kind) ? strat_keys[kind] : "?";
}

static int strat_opt_at(const char *buf, int *i,
                        int (*fn)(void *, const char *, const char *, int),
                        void *arg, int in_map) {
  char key[PHC__ATOM_MAX];
  int arity;
  if (!in_map && (ei_decode_tuple_header(buf, i, &arity) < 0 || arity != 2))
    return PHC_EINVAL;
  if (phc__term_atom(buf, i, key, sizeof key) < 0) return PHC_EINVAL;
  int v = *i;
  if (ei_skip_term(buf, i) < 0) return PHC_EINVAL;
  if (in_map && !strcmp(key, "__struct__")) return 0;
  return fn(arg, key, buf, v);
}

int phc__strat_opts_each(const char *buf, int idx,
                         int (*fn)(void *arg, const char *key, const char *buf,
                                   int vidx),
                         void *arg) {
  int type, size, n, i = idx, rc = 0;
  if (ei_get_type(buf, &i, &type, &size) < 0) return PHC_EINVAL;
  if (type == ERL_NIL_EXT) return 0;
  if (type == ERL_MAP_EXT) {
    if (ei_decode_map_header(buf, &i, &n) < 0) return PHC_EINVAL;
  } else if (ei_decode_list_header(buf, &i, &n) < 0) {
    return PHC_EINVAL;
  }
  for (int k = 0; k < n && !rc; k++)
    rc = strat_opt_at(buf, &i, fn, arg, type == ERL_MAP_EXT);
  return rc;
}

int phc__strat_check(const phc__strat_base_t *t, const char *buf, int idx) {
  if (!t) return PHC_EINVAL;
  if (!buf) return 0;
  return t->check ? t->check(buf, idx) : phc__strat_no_opts(buf, idx);
}

/* ---- one hub's strategies ------------------------------------------------ */

static void strat_close_kind(phc_hub_t *h, phc__strategies_t *s,
                             phc__strat_kind_t kind) {
  const phc__strat_base_t *t = s->table[kind];
  if (t && t->close) t->close(h, s->state[kind]);
  free(s->state[kind]);
  s->table[kind] = NULL;
  s->state[kind] = NULL;
}

int phc__strategies_set(phc_hub_t *h, phc__strategies_t *s,
                        phc__strat_kind_t kind, const phc__strat_base_t *t,
                        const char *buf, int idx) {
  if (!strat_kind_ok(kind)) return PHC_EINVAL;
  if (!t) t = strat_defaults[kind];
  if (t->kind != kind) return PHC_EINVAL;
  strat_close_kind(h, s, kind);
  void *st = t->state_size ? phc__xcalloc(1, t->state_size) : NULL;
  int rc = t->init ? t->init(h, st, buf, idx) : 0;
  if (rc) {
    free(st);
    return rc;
  }
  s->table[kind] = t;
  s->state[kind] = st;
  return 0;
}

void phc__strategies_close(phc_hub_t *h, phc__strategies_t *s) {
  for (int k = 0; k < PHC__STRAT_KINDS; k++)
    strat_close_kind(h, s, (phc__strat_kind_t)k);
}

void phc__strategies_node_join(phc_hub_t *h, phc__strategies_t *s,
                               const char *node) {
  for (int k = 0; k < PHC__STRAT_KINDS; k++)
    if (s->table[k] && s->table[k]->node_join)
      s->table[k]->node_join(h, s->state[k], node);
}

void phc__strategies_node_leave(phc_hub_t *h, phc__strategies_t *s,
                                const char *node) {
  for (int k = 0; k < PHC__STRAT_KINDS; k++)
    if (s->table[k] && s->table[k]->node_leave)
      s->table[k]->node_leave(h, s->state[k], node);
}

/* ---- the hub core's calls ------------------------------------------------ */

#define STRAT_TABLE(s, kind, type) ((const type *)(s)->table[kind])

int phc__strat_replication_factor(phc_hub_t *h, phc__strategies_t *s) {
  const phc__strat_red_t *t =
      STRAT_TABLE(s, PHC__STRAT_REDUNDANCY, phc__strat_red_t);
  return t ? t->replication_factor(h, s->state[PHC__STRAT_REDUNDANCY])
           : PHC_ESTATE;
}

void phc__strat_post_start(phc_hub_t *h, phc__strategies_t *s, const char *cid,
                           int cid_len, const erlang_pid *pid, const char *nbuf,
                           int nidx) {
  const phc__strat_red_t *t =
      STRAT_TABLE(s, PHC__STRAT_REDUNDANCY, phc__strat_red_t);
  char names[PHC__HUB_MAX_NODES][PHC__ATOM_MAX];
  const char *nodes[PHC__HUB_MAX_NODES];
  int n = 0, k = 0, i = nidx;
  if (!t || !t->post_start) return;
  if (nidx >= 0 && ei_decode_list_header(nbuf, &i, &n) < 0) n = 0;
  for (int j = 0; j < n && k < PHC__HUB_MAX_NODES; j++)
    if (phc__term_atom(nbuf, &i, names[k], sizeof names[k]) == 0) {
      nodes[k] = names[k];
      k++;
    }
  t->post_start(h, s->state[PHC__STRAT_REDUNDANCY], cid, cid_len, pid, nodes,
                k);
}

int phc__strat_belongs_to(phc_hub_t *h, phc__strategies_t *s, const char *cid,
                          int cid_len, const char **out, int max) {
  const phc__strat_dist_t *t =
      STRAT_TABLE(s, PHC__STRAT_DISTRIBUTION, phc__strat_dist_t);
  int rf = phc__strat_replication_factor(h, s);
  if (!t || rf < 0) return PHC_ESTATE;
  return t->belongs_to(h, s->state[PHC__STRAT_DISTRIBUTION], cid, cid_len, rf,
                       out, max);
}

int phc__strat_children_init(phc_hub_t *h, phc__strategies_t *s,
                             const char *buf, int children_idx, int opts_idx) {
  const phc__strat_dist_t *t =
      STRAT_TABLE(s, PHC__STRAT_DISTRIBUTION, phc__strat_dist_t);
  if (!t) return PHC_ESTATE;
  return t->children_init
             ? t->children_init(h, s->state[PHC__STRAT_DISTRIBUTION], buf,
                                children_idx, opts_idx)
             : 0;
}

const char *phc__strat_init_error(phc_hub_t *h, phc__strategies_t *s) {
  const phc__strat_dist_t *t =
      STRAT_TABLE(s, PHC__STRAT_DISTRIBUTION, phc__strat_dist_t);
  const char *r = t && t->init_error
                      ? t->init_error(h, s->state[PHC__STRAT_DISTRIBUTION])
                      : NULL;
  return r ? r : "invalid_children";
}

void phc__strat_pre_start(phc_hub_t *h, phc__strategies_t *s, const char *buf,
                          int opts_idx) {
  const phc__strat_dist_t *t =
      STRAT_TABLE(s, PHC__STRAT_DISTRIBUTION, phc__strat_dist_t);
  if (t && t->pre_start && opts_idx >= 0)
    t->pre_start(h, s->state[PHC__STRAT_DISTRIBUTION], buf, opts_idx);
}

void phc__strat_handle_migration(phc_hub_t *h, phc__strategies_t *s,
                                 phc__reg_row_t **rows, int n,
                                 const char *added_node) {
  const phc__strat_mig_t *t =
      STRAT_TABLE(s, PHC__STRAT_MIGRATION, phc__strat_mig_t);
  if (t)
    t->handle_migration(h, s->state[PHC__STRAT_MIGRATION], rows, n, added_node);
}

void phc__strat_propagate(phc_hub_t *h, phc__strategies_t *s,
                          const char *children, int len, const char *node,
                          phc__strat_sync_op_t op, const char *opts,
                          int opts_len) {
  const phc__strat_sync_t *t =
      STRAT_TABLE(s, PHC__STRAT_SYNCHRONIZATION, phc__strat_sync_t);
  if (t)
    t->propagate(h, s->state[PHC__STRAT_SYNCHRONIZATION], children, len, node,
                 op, opts, opts_len);
}

void phc__strat_init_sync(phc_hub_t *h, phc__strategies_t *s) {
  const phc__strat_sync_t *t =
      STRAT_TABLE(s, PHC__STRAT_SYNCHRONIZATION, phc__strat_sync_t);
  if (t) t->init_sync(h, s->state[PHC__STRAT_SYNCHRONIZATION]);
}

void phc__strat_handle_sync(phc_hub_t *h, phc__strategies_t *s, const char *buf,
                            int idx, const char *node) {
  const phc__strat_sync_t *t =
      STRAT_TABLE(s, PHC__STRAT_SYNCHRONIZATION, phc__strat_sync_t);
  if (t)
    t->handle_synchronization(h, s->state[PHC__STRAT_SYNCHRONIZATION], buf, idx,
                              node);
}

int phc__strat_toggle_lock(phc_hub_t *h, phc__strategies_t *s,
                           const char *down_node) {
  const phc__strat_part_t *t =
      STRAT_TABLE(s, PHC__STRAT_PARTITION, phc__strat_part_t);
  return t ? t->toggle_lock(h, s->state[PHC__STRAT_PARTITION], down_node) : 0;
}

int phc__strat_toggle_unlock(phc_hub_t *h, phc__strategies_t *s,
                             const char *up_node) {
  const phc__strat_part_t *t =
      STRAT_TABLE(s, PHC__STRAT_PARTITION, phc__strat_part_t);
  return t ? t->toggle_unlock(h, s->state[PHC__STRAT_PARTITION], up_node) : 0;
}

int phc__strat_exec(phc_hub_t *h, phc__strategies_t *s, const char *module,
                    const char *fn, const char *buf, int args_idx) {
  for (int k = 0; k < PHC__STRAT_KINDS; k++)
    if (s->table[k] && s->table[k]->exec &&
        !strcmp(s->table[k]->module, module))
      return s->table[k]->exec(h, s->state[k], fn, buf, args_idx);
  return PHC_EUNDEF;
}

/* ---- the quorum arithmetic ----------------------------------------------- */

int phc__quorum_static_present(long quorum_size, int nodes) {
  return quorum_size <= nodes;
}

int phc__quorum_majority_has(int nodes, long max_seen) {
  return nodes >= max_seen / 2 + 1;
}

int phc__quorum_dynamic_failure(double quorum_size, int connected, int down) {
  if (connected + down <= 0) return 0;
  double lost = (double)down / (double)(connected + down) * 100.0;
  return 100.0 - lost < quorum_size;
}
