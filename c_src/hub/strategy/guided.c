/* guided.c - ProcessHub.Strategy.Distribution.Guided: the caller names
 * each child's nodes in the start option child_mapping (#{Cid => [Node]});
 * no ring, no migration of its own.
 *
 * children_init (the initiating node) checks the option as ProcessHub
 * does, in its order: missing_child_mapping (no such option),
 * invalid_child_mapping (not a map), child_mapping_mismatch (a child
 * without a mapping), child_replication_mismatch (a mapping whose length
 * is not the replication factor); then caches the mappings. Every member
 * caches the mappings of each start it receives (pre_start, ProcessHub's
 * pre_children_start handler), later mappings replacing earlier ones.
 * belongs_to answers from the cache (the first rf nodes), or no node. */
#include <stdlib.h>
#include <uthash.h>

#include "hub/child_data.h"
#include "hub/hub.h"

#define MOD "guided"

typedef struct guided_map_s {
  char *cid; /* encoded, no version byte; the hash key */
  int cid_len;
  int n;
  const char *nodes[PHC__HUB_MAX_NODES]; /* interned */
  UT_hash_handle hh;
} guided_map_t;

typedef struct guided_s {
  guided_map_t *maps;
  const char *error; /* the last children_init refusal */
} guided_t;

static int guided_init(phc_hub_t *h, void *st, const char *buf, int idx) {
  PHC__UNUSED(h);
  PHC__UNUSED(st);
  return phc__strat_no_opts(buf, idx);
}

static void guided_close(phc_hub_t *h, void *st) {
  guided_t *g = st;
  guided_map_t *m, *tmp;
  PHC__UNUSED(h);
  HASH_ITER(hh, g->maps, m, tmp) {
    HASH_DEL(g->maps, m);
    free(m->cid);
    free(m);
  }
}

/* One Cid => [Node] into the cache. */
static int guided_put(guided_t *g, const char *buf, int *i) {
  int k = *i, n;
  char node[PHC__ATOM_MAX];
  if (ei_skip_term(buf, i) < 0) return PHC_EDECODE;
  int clen = *i - k;
  guided_map_t *m = NULL;
  HASH_FIND(hh, g->maps, buf + k, (unsigned)clen, m);
  if (!m) {
    m = phc__xcalloc(1, sizeof *m);
    m->cid = phc__term_dup(buf + k, clen);
    m->cid_len = clen;
    HASH_ADD_KEYPTR(hh, g->maps, m->cid, (unsigned)clen, m);
  }
  m->n = 0;
  if (ei_decode_list_header(buf, i, &n) < 0) return PHC_EDECODE;
  for (int j = 0; j < n; j++) {
    if (phc__term_atom(buf, i, node, sizeof node) < 0) return PHC_EDECODE;
    if (m->n < PHC__HUB_MAX_NODES) m->nodes[m->n++] = phc__intern(node);
  }
  if (n && ei_skip_term(buf, i) < 0) return PHC_EDECODE; /* the tail */
  return 0;
}

static void guided_insert(guided_t *g, const char *buf, int map_idx) {
  int i = map_idx, n;
  if (ei_decode_map_header(buf, &i, &n) < 0) return;
  for (int k = 0; k < n; k++)
    if (guided_put(g, buf, &i)) {
      PHC_LOG_W(MOD, "dropping a malformed child_mapping");
      return;
    }
}

static void guided_pre_start(phc_hub_t *h, void *st, const char *buf,
                             int opts_idx) {
  int v, type, size;
  PHC__UNUSED(h);
  if (phc__term_kw_get(buf, opts_idx, "child_mapping", &v) == 0 &&
      ei_get_type(buf, &v, &type, &size) == 0 && type == ERL_MAP_EXT)
    guided_insert(st, buf, v);
}

static int guided_refuse(guided_t *g, const char *why) {
  g->error = why;
  return PHC_EINVAL;
}

/* Each child's id is a key of the mapping, each mapping rf long. */
static int guided_validate(phc_hub_t *h, guided_t *g, const char *buf,
                           int children_idx, int map) {
  int i = children_idx, n, idv,
      rf = phc__strat_replication_factor(h, &h->strat);
  if (ei_decode_list_header(buf, &i, &n) < 0) return PHC_EINVAL;
  for (int k = 0; k < n; k++) {
    int found = 0, j = map, m;
    if (phc__term_map_get(buf, i, "id", &idv) < 0)
      return guided_refuse(g, "child_mapping_mismatch");
    int ilen = phc__hub_term_len(buf, idv);
    ei_decode_map_header(buf, &j, &m);
    for (int e = 0; e < m && !found; e++) {
      int key = j;
      ei_skip_term(buf, &j);
      found = j - key == ilen && !memcmp(buf + key, buf + idv, (size_t)ilen);
      ei_skip_term(buf, &j);
    }
    if (!found) return guided_refuse(g, "child_mapping_mismatch");
    if (ei_skip_term(buf, &i) < 0) return PHC_EINVAL;
  }
  int j = map, m, len, type;
  ei_decode_map_header(buf, &j, &m);
  for (int e = 0; e < m; e++) {
    ei_skip_term(buf, &j);
    if (ei_get_type(buf, &j, &type, &len) < 0 ||
        (type != ERL_LIST_EXT && type != ERL_NIL_EXT) || len != rf)
      return guided_refuse(g, "child_replication_mismatch");
    ei_skip_term(buf, &j);
  }
  return 0;
}

static int guided_children_init(phc_hub_t *h, void *st, const char *buf,
                                int children_idx, int opts_idx) {
  guided_t *g = st;
  int v, type, size;
  g->error = NULL;
  if (opts_idx < 0 || phc__term_kw_get(buf, opts_idx, "child_mapping", &v))
    return guided_refuse(g, "missing_child_mapping");
  if (ei_get_type(buf, &v, &type, &size) < 0 || type != ERL_MAP_EXT)
    return guided_refuse(g, "invalid_child_mapping");
  int rc = guided_validate(h, g, buf, children_idx, v);
  if (rc) return rc;
  guided_insert(g, buf, v);
  return 0;
}

static const char *guided_init_error(phc_hub_t *h, void *st) {
  PHC__UNUSED(h);
  return ((guided_t *)st)->error;
}

static int guided_belongs_to(phc_hub_t *h, void *st, const char *cid,
                             int cid_len, int rf, const char **out, int max) {
  guided_t *g = st;
  guided_map_t *m = NULL;
  PHC__UNUSED(h);
  HASH_FIND(hh, g->maps, cid, (unsigned)cid_len, m);
  int n = m ? m->n : 0;
  if (n > rf) n = rf;
  if (n > max) n = max;
  for (int i = 0; i < n; i++)
    out[i] = m->nodes[i];
  return n;
}

const phc__strat_dist_t phc__strat_guided = {
    .base = {.kind = PHC__STRAT_DISTRIBUTION,
             .module = "Elixir.ProcessHub.Strategy.Distribution.Guided",
             .state_size = sizeof(guided_t),
             .init = guided_init,
             .close = guided_close},
    .belongs_to = guided_belongs_to,
    .children_init = guided_children_init,
    .pre_start = guided_pre_start,
    .init_error = guided_init_error};
