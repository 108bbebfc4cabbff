/* hooks.c - ProcessHub hook handlers for C (see hooks.h). */
#include "hub/hooks.h"
#include "hub/child_data.h"
#include "hub/hub.h"
#include "term/enc.h"
#include "term/term.h"

#include <stdlib.h>

typedef struct hook_s {
  char *id;
  int priority;
  phc_hook_fn fn;
  void *arg;
  void (*free_arg)(void *arg);
  char *tmpl;
  int tmpl_len;
} hook_t;

typedef struct hook_key_s {
  char key[PHC__ATOM_MAX];
  hook_t *v;
  int n;
  struct hook_key_s *next;
} hook_key_t;

struct phc__hooks_s {
  hook_key_t *keys;
  phc_ref_t tables[2]; /* stand-ins for the hub's misc and hook ets tids */
  int have_tables;
};

phc__hooks_t *phc__hooks_new(void) {
  return phc__xcalloc(1, sizeof(phc__hooks_t));
}

static void hook_clear(hook_t *h) {
  if (h->free_arg) h->free_arg(h->arg);
  free(h->id);
  free(h->tmpl);
}

void phc__hooks_free(phc__hooks_t *h) {
  if (!h) return;
  while (h->keys) {
    hook_key_t *k = h->keys;
    h->keys = k->next;
    for (int i = 0; i < k->n; i++)
      hook_clear(&k->v[i]);
    free(k->v);
    free(k);
  }
  free(h);
}

static hook_key_t *key_find(const phc__hooks_t *h, const char *key) {
  for (hook_key_t *k = h->keys; k; k = k->next)
    if (!strcmp(k->key, key)) return k;
  return NULL;
}

static hook_key_t *key_get(phc__hooks_t *h, const char *key) {
  hook_key_t *k = key_find(h, key);
  if (k) return k;
  k = phc__xcalloc(1, sizeof *k);
  snprintf(k->key, sizeof k->key, "%s", key);
  k->next = h->keys;
  h->keys = k;
  return k;
}

static hook_t hook_copy(const phc_hook_handler_t *s) {
  hook_t d = {.id = phc__xstrdup(s->id),
              .priority = s->priority,
              .fn = s->fn,
              .arg = s->arg,
              .free_arg = s->free_arg,
              .tmpl_len = s->tmpl_len};
  if (s->tmpl && s->tmpl_len > 0)
    d.tmpl =
        memcpy(phc__xmalloc((size_t)s->tmpl_len), s->tmpl, (size_t)s->tmpl_len);
  else
    d.tmpl_len = 0;
  return d;
}

/* Enum.sort_by(& &1.p) |> Enum.reverse(): stable ascending, reversed. */
static void sort_then_reverse(hook_t *v, int n) {
  for (int i = 1; i < n; i++) { /* insertion sort: stable */
    hook_t t = v[i];
    int j = i - 1;
    while (j >= 0 && v[j].priority > t.priority) {
      v[j + 1] = v[j];
      j--;
    }
    v[j + 1] = t;
  }
  for (int i = 0; i < n / 2; i++) {
    hook_t t = v[i];
    v[i] = v[n - 1 - i];
    v[n - 1 - i] = t;
  }
}

static int has_duplicates(const phc_hook_handler_t *add, int n,
                          const hook_key_t *k) {
  for (int i = 0; i < n; i++) {
    for (int j = i + 1; j < n; j++)
      if (!strcmp(add[i].id, add[j].id)) return 1;
    for (int j = 0; k && j < k->n; j++)
      if (!strcmp(add[i].id, k->v[j].id)) return 1;
  }
  return 0;
}

int phc__hooks_register(phc__hooks_t *h, const char *key,
                        const phc_hook_handler_t *handlers, int n) {
  if (!key || n < 0) return PHC_EINVAL;
  for (int i = 0; i < n; i++)
    if (!handlers[i].id || !handlers[i].fn) return PHC_EINVAL;
  if (has_duplicates(handlers, n, key_find(h, key))) return PHC_EEXIST;
  hook_key_t *k = key_get(h, key);
  hook_t *v = phc__xmalloc((size_t)(n + k->n + 1) * sizeof *v);
  for (int i = 0; i < n; i++)
    v[i] = hook_copy(&handlers[i]);
  if (k->n) memcpy(v + n, k->v, (size_t)k->n * sizeof *v);
  free(k->v);
  k->v = v;
  k->n += n;
  sort_then_reverse(k->v, k->n);
  return 0;
}

int phc__hooks_cancel(phc__hooks_t *h, const char *key, const char *id) {
  hook_key_t *k = key_find(h, key);
  int j = 0;
  for (int i = 0; k && i < k->n; i++) {
    if (!strcmp(k->v[i].id, id))
      hook_clear(&k->v[i]);
    else
      k->v[j++] = k->v[i];
  }
  if (k) k->n = j;
  return 0;
}

int phc__hooks_ids(const phc__hooks_t *h, const char *key, const char **ids,
                   int max) {
  hook_key_t *k = key_find(h, key);
  int n = 0;
  for (int i = 0; k && i < k->n && n < max; i++)
    ids[n++] = k->v[i].id;
  return n;
}

/* The handler's argument: the template with top-level '_' replaced by
 * data, or the data itself. */
static void build_arg(const hook_t *hk, const char *data, int len,
                      ei_x_buff *x) {
  phc__x_new_with_version(x);
  int idx = 1, arity;
  if (!hk->tmpl || ei_decode_list_header(hk->tmpl, &idx, &arity) < 0) {
    phc__x_append_buf(x, data + 1, len - 1);
    return;
  }
  if (arity) phc__x_list_header(x, arity);
  for (int i = 0; i < arity; i++) {
    char atom[PHC__ATOM_MAX];
    int start = idx, probe = idx;
    int wild = phc__term_atom(hk->tmpl, &probe, atom, sizeof atom) == 0 &&
               !strcmp(atom, "_");
    if (ei_skip_term(hk->tmpl, &idx) < 0) break;
    if (wild)
      phc__x_append_buf(x, data + 1, len - 1);
    else
      phc__x_append_buf(x, hk->tmpl + start, idx - start);
  }
  phc__x_empty_list(x);
}

static int run(const hook_t *hk, const char *key, const char *data, int len,
               ei_x_buff *out) {
  ei_x_buff arg;
  build_arg(hk, data, len, &arg);
  int rc = hk->fn(hk->arg, key, arg.buff, arg.index, out);
  ei_x_free(&arg);
  return rc;
}

void phc__hooks_dispatch(phc__hooks_t *h, const char *key, const char *data,
                         int len) {
  hook_key_t *k = key_find(h, key);
  for (int i = 0; k && i < k->n; i++) {
    ei_x_buff out;
    phc__x_new_with_version(&out);
    run(&k->v[i], key, data, len, &out);
    ei_x_free(&out);
  }
}

int phc__hooks_alter(phc__hooks_t *h, const char *key, const char *data,
                     int len, ei_x_buff *out) {
  hook_key_t *k = key_find(h, key);
  phc__x_new_with_version(out);
  phc__x_append_buf(out, data + 1, len - 1);
  for (int i = 0; k && i < k->n; i++) {
    ei_x_buff next;
    phc__x_new_with_version(&next);
    if (run(&k->v[i], key, out->buff, out->index, &next) == 0 &&
        next.index > 1) {
      ei_x_free(out);
      *out = next;
    } else {
      ei_x_free(&next);
    }
  }
  return 0;
}

/* ---- ProcessHub's structs as hook data ----------------------------------- */

static void hooks_x_via(ei_x_buff *x, const char *reg, const char *name) {
  phc__x_tuple_header(x, 3);
  phc__x_atom(x, "via");
  phc__x_atom(x, "Elixir.Registry");
  phc__x_tuple_header(x, 2);
  phc__x_atom(x, reg);
  phc__x_binary(x, name, (int)strlen(name));
}

void phc__hooks_x_hub(phc_hub_t *h, ei_x_buff *x) {
  static const char *const sys[] = {"dist_sup", "janitor", "task_sup",
                                    "worker_queue"};
  char reg[PHC__ATOM_MAX];
  phc__hooks_t *hk = h->hooks;
  snprintf(reg, sizeof reg, "hub.%.200s.system_registry", h->id);
  if (!hk->have_tables && phc_make_ref(h->n, &hk->tables[0]) == 0 &&
      phc_make_ref(h->n, &hk->tables[1]) == 0)
    hk->have_tables = 1;
  phc__x_map_header(x, 4);
  phc__x_atom(x, "__struct__");
  phc__x_atom(x, "Elixir.ProcessHub.Hub");
  phc__x_atom(x, "hub_id");
  phc__x_atom(x, h->id);
  phc__x_atom(x, "procs");
  phc__x_map_header(x, 7);
  for (int i = 0; i < 4; i++) {
    phc__x_atom(x, sys[i]);
    hooks_x_via(x, reg, sys[i]);
  }
  phc__x_atom(x, "event_queue");
  phc__x_atom(x, h->eq_name);
  phc__x_atom(x, "initializer");
  phc__x_pid(x, &h->sup_pid);
  phc__x_atom(x, "system_registry");
  phc__x_atom(x, reg);
  phc__x_atom(x, "storage");
  phc__x_map_header(x, 2);
  phc__x_atom(x, "misc");
  phc__x_ref(x, &hk->tables[0]);
  phc__x_atom(x, "hook");
  phc__x_ref(x, &hk->tables[1]);
}

void phc__hooks_x_strategy(phc_hub_t *h, int kind, ei_x_buff *x) {
  const phc__strat_base_t *t =
      kind >= 0 && kind < PHC__STRAT_KINDS ? h->strat.table[kind] : NULL;
  int pubsub = t && !strcmp(t->module, "Elixir.ProcessHub.Strategy."
                                       "Synchronization.PubSub");
  if (!t) {
    phc__x_atom(x, "nil");
    return;
  }
  phc__x_map_header(x, pubsub ? 2 : 1);
  phc__x_atom(x, "__struct__");
  phc__x_atom(x, t->module);
  if (pubsub) {
    phc__x_atom(x, "sync_interval");
    phc__x_long(x, (long)h->sync_ms);
  }
}

void phc__hooks_x_start_handle(phc_hub_t *h, const char *buf, int cidx,
                               int opts_idx, ei_x_buff *x) {
  phc__x_map_header(x, 9);
  phc__x_atom(x, "__struct__");
  phc__x_atom(x, "Elixir.ProcessHub.Handler.ChildrenAdd.StartHandle");
  phc__x_atom(x, "children");
  phc__x_append_buf(x, buf + cidx, phc__hub_term_len(buf, cidx));
  phc__x_atom(x, "hub");
  phc__hooks_x_hub(h, x);
  phc__x_atom(x, "start_opts");
  phc__x_append_buf(x, buf + opts_idx, phc__hub_term_len(buf, opts_idx));
  phc__x_atom(x, "process_data");
  phc__x_atom(x, "nil");
  phc__x_atom(x, "dist_strategy");
  phc__hooks_x_strategy(h, PHC__STRAT_DISTRIBUTION, x);
  phc__x_atom(x, "redun_strategy");
  phc__hooks_x_strategy(h, PHC__STRAT_REDUNDANCY, x);
  phc__x_atom(x, "migr_strategy");
  phc__hooks_x_strategy(h, PHC__STRAT_MIGRATION, x);
  phc__x_atom(x, "sync_strategy");
  phc__hooks_x_strategy(h, PHC__STRAT_SYNCHRONIZATION, x);
}

void phc__hooks_x_node_down(phc_hub_t *h, const char *node, const char *cids,
                            int cids_len, ei_x_buff *x) {
  phc__x_map_header(x, 8);
  phc__x_atom(x, "__struct__");
  phc__x_atom(x, "Elixir.ProcessHub.Handler.ClusterUpdate.NodeDown");
  phc__x_atom(x, "removed_node");
  phc__x_atom(x, node);
  phc__x_atom(x, "hub_nodes"); /* Cluster.rem_hub_node: ours included */
  if (h->nnodes) phc__x_list_header(x, h->nnodes);
  for (int i = 0; i < h->nnodes; i++)
    phc__x_atom(x, h->nodes[i]);
  phc__x_empty_list(x);
  phc__x_atom(x, "hub");
  phc__hooks_x_hub(h, x);
  phc__x_atom(x, "partition_strat");
  phc__hooks_x_strategy(h, PHC__STRAT_PARTITION, x);
  phc__x_atom(x, "redun_strat");
  phc__hooks_x_strategy(h, PHC__STRAT_REDUNDANCY, x);
  phc__x_atom(x, "dist_strat");
  phc__hooks_x_strategy(h, PHC__STRAT_DISTRIBUTION, x);
  phc__x_atom(x, "rem_node_cids");
  phc__x_append_buf(x, cids, cids_len);
}
