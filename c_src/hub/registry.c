/* registry.c - the hub's process registry (see registry.h). */
#include "hub/registry.h"

#include <stdio.h>
#include <stdlib.h>

#include "term/enc.h"
#include "term/maporder.h"
#include "term/order.h"
#include "term/term.h"

void phc__reg_init(phc__reg_t *r) { r->rows = NULL; }

static void row_free(phc__reg_row_t *row) {
  free(row->cid);
  free(row->spec);
  free(row->meta);
  free(row->owners);
  free(row);
}

void phc__reg_clear(phc__reg_t *r) {
  phc__reg_row_t *row, *tmp;
  HASH_ITER(hh, r->rows, row, tmp) {
    HASH_DEL(r->rows, row);
    row_free(row);
  }
}

size_t phc__reg_count(const phc__reg_t *r) { return HASH_COUNT(r->rows); }

phc__reg_row_t *phc__reg_find(const phc__reg_t *r, const char *cid,
                              int cid_len) {
  phc__reg_row_t *row = NULL;
  HASH_FIND(hh, r->rows, cid, (unsigned)cid_len, row);
  return row;
}

static void set_owners(phc__reg_row_t *row, const phc__reg_owner_t *o, int n) {
  phc__reg_owner_t *copy = phc__xmalloc((size_t)(n ? n : 1) * sizeof *copy);
  memcpy(copy, o, (size_t)n * sizeof *copy);
  free(row->owners);
  row->owners = copy;
  row->nowners = n;
}

static void set_spec_meta(phc__reg_row_t *row, const char *spec, int spec_len,
                          const char *meta, int meta_len) {
  free(row->spec);
  free(row->meta);
  row->spec = phc__term_dup(spec, spec_len);
  row->spec_len = spec_len;
  row->meta = phc__term_dup(meta, meta_len);
  row->meta_len = meta_len;
}

void phc__reg_insert(phc__reg_t *r, const char *cid, int cid_len,
                     const char *spec, int spec_len, const char *meta,
                     int meta_len, const phc__reg_owner_t *owners, int n) {
  phc__reg_row_t *row = phc__reg_find(r, cid, cid_len);
  if (!row) {
    row = phc__xcalloc(1, sizeof *row);
    row->cid = phc__term_dup(cid, cid_len);
    row->cid_len = cid_len;
    HASH_ADD_KEYPTR(hh, r->rows, row->cid, (unsigned)cid_len, row);
  }
  set_spec_meta(row, spec, spec_len, meta, meta_len);
  set_owners(row, owners, n);
}

phc__reg_owner_t phc__reg_owner_make(const char *node, const erlang_pid *pid) {
  phc__reg_owner_t o = {.node = phc__intern(node)};
  phc__cpid_set(&o.pid, pid);
  return o;
}

const phc__reg_owner_t *phc__reg_owner(const phc__reg_row_t *row,
                                       const char *node) {
  for (int i = 0; i < row->nowners; i++)
    if (!strcmp(row->owners[i].node, node)) return &row->owners[i];
  return NULL;
}

static int owner_in(const phc__reg_owner_t *o, int n, const char *node) {
  for (int i = 0; i < n; i++)
    if (!strcmp(o[i].node, node)) return 1;
  return 0;
}

/* Pairs of `add` that are new or differ from row's (get_insert_diff). */
static int insert_diff(const phc__reg_row_t *row, const phc__reg_owner_t *add,
                       int n) {
  int diff = 0;
  for (int i = 0; i < n; i++) {
    const phc__reg_owner_t *old = phc__reg_owner(row, add[i].node);
    diff += !old || !phc__cpid_same(&old->pid, &add[i].pid);
  }
  return diff;
}

int phc__reg_merge(phc__reg_t *r, const char *cid, int cid_len,
                   const char *spec, int spec_len, const char *meta,
                   int meta_len, const phc__reg_owner_t *owners, int n) {
  phc__reg_row_t *row = phc__reg_find(r, cid, cid_len);
  if (!row) {
    phc__reg_insert(r, cid, cid_len, spec, spec_len, meta, meta_len, owners, n);
    return n;
  }
  int diff = insert_diff(row, owners, n);
  int same_set = diff == 0 && row->nowners == n;
  if (same_set) return 0;
  /* Keyword.merge(existing, new): existing pairs not in new, then new. */
  phc__reg_owner_t *m =
      phc__xmalloc((size_t)(row->nowners + n + 1) * sizeof *m);
  int k = 0;
  for (int i = 0; i < row->nowners; i++)
    if (!owner_in(owners, n, row->owners[i].node)) m[k++] = row->owners[i];
  memcpy(m + k, owners, (size_t)n * sizeof *m);
  k += n;
  set_spec_meta(row, spec, spec_len, meta, meta_len);
  set_owners(row, m, k);
  free(m);
  return diff;
}

void phc__reg_delete(phc__reg_t *r, const char *cid, int cid_len) {
  phc__reg_row_t *row = phc__reg_find(r, cid, cid_len);
  if (!row) return;
  HASH_DEL(r->rows, row);
  row_free(row);
}

int phc__reg_remove_node(phc__reg_t *r, const char *cid, int cid_len,
                         const char *node) {
  phc__reg_row_t *row = phc__reg_find(r, cid, cid_len);
  if (!row) return 0;
  int k = 0;
  for (int i = 0; i < row->nowners; i++)
    if (strcmp(row->owners[i].node, node) != 0)
      row->owners[k++] = row->owners[i];
  row->nowners = k;
  if (k == 0) phc__reg_delete(r, cid, cid_len);
  return 1;
}

/* Keyword.put: the node's old pair goes, the new one comes first. */
void phc__reg_detach_node(phc__reg_t *r, const char *node,
                          int (*keep)(const phc__reg_row_t *row, void *arg),
                          void *arg) {
  phc__reg_row_t *row, *tmp;
  HASH_ITER(hh, r->rows, row, tmp) { /* deleting the current row is safe */
    if (!phc__reg_owner(row, node) || (keep && keep(row, arg))) continue;
    phc__reg_remove_node(r, row->cid, row->cid_len, node);
  }
}

int phc__reg_update_pid(phc__reg_t *r, const char *cid, int cid_len,
                        const char *node, const erlang_pid *pid) {
  phc__reg_row_t *row = phc__reg_find(r, cid, cid_len);
  if (!row) return PHC_ENOPROC;
  phc__reg_owner_t *m = phc__xmalloc((size_t)(row->nowners + 1) * sizeof *m);
  int k = 1;
  m[0] = phc__reg_owner_make(node, pid);
  for (int i = 0; i < row->nowners; i++)
    if (strcmp(row->owners[i].node, node) != 0) m[k++] = row->owners[i];
  set_owners(row, m, k);
  free(m);
  return 0;
}

/* Keyword.get_and_update: the node's pair changes in place, or is added
 * at the end; spec and metadata are replaced (Synchronizer.append_data). */
void phc__reg_set_pid(phc__reg_t *r, const char *cid, int cid_len,
                      const char *spec, int spec_len, const char *meta,
                      int meta_len, const char *node, const erlang_pid *pid) {
  phc__reg_owner_t o = phc__reg_owner_make(node, pid);
  phc__reg_row_t *row = phc__reg_find(r, cid, cid_len);
  if (!row) {
    phc__reg_insert(r, cid, cid_len, spec, spec_len, meta, meta_len, &o, 1);
    return;
  }
  set_spec_meta(row, spec, spec_len, meta, meta_len);
  for (int i = 0; i < row->nowners; i++)
    if (!strcmp(row->owners[i].node, node)) {
      row->owners[i].pid = o.pid;
      return;
    }
  phc__reg_owner_t *m = phc__xmalloc((size_t)(row->nowners + 1) * sizeof *m);
  memcpy(m, row->owners, (size_t)row->nowners * sizeof *m);
  m[row->nowners] = o;
  set_owners(row, m, row->nowners + 1);
  free(m);
}

/* ---- queries --------------------------------------------------------- */

static int row_cmp(const void *a, const void *b) {
  const phc__reg_row_t *x = *(phc__reg_row_t *const *)a;
  const phc__reg_row_t *y = *(phc__reg_row_t *const *)b;
  int cmp = 0;
  phc__term_compare_exact(x->cid, x->cid_len, y->cid, y->cid_len, &cmp);
  return cmp;
}

int phc__reg_sorted(const phc__reg_t *r, phc__reg_row_t ***out) {
  int n = (int)HASH_COUNT(r->rows), i = 0;
  phc__reg_row_t **v = phc__xmalloc((size_t)(n ? n : 1) * sizeof *v);
  for (phc__reg_row_t *row = r->rows; row; row = row->hh.next)
    v[i++] = row;
  qsort(v, (size_t)n, sizeof *v, row_cmp);
  *out = v;
  return n;
}

void phc__reg_enc_owners(const phc__reg_row_t *row, ei_x_buff *x) {
  if (row->nowners) phc__x_list_header(x, row->nowners);
  for (int i = 0; i < row->nowners; i++) {
    phc__x_tuple_header(x, 2);
    phc__x_atom(x, row->owners[i].node);
    phc__x_pid(x, &row->owners[i].pid);
  }
  phc__x_empty_list(x);
}

/* The rows in the order Elixir's Enum walks a BEAM map of them on OTP
 * release rel (term/maporder.h): term order up to 32 rows, hash order
 * above. */
static int reg_map_ordered(const phc__reg_t *r, int rel,
                           phc__reg_row_t ***out) {
  int n = (int)HASH_COUNT(r->rows), i = 0;
  phc__mo_key_t *k = phc__xmalloc((size_t)(n ? n : 1) * sizeof *k);
  for (phc__reg_row_t *row = r->rows; row; row = row->hh.next, i++)
    k[i] = (phc__mo_key_t){row->cid, row->cid_len, row, 0};
  /* atoms &c.: term order */
  phc__maporder_sort(k, (size_t)n, rel, PHC__MAPORDER_ITER);
  phc__reg_row_t **v = phc__xmalloc((size_t)(n ? n : 1) * sizeof *v);
  for (i = 0; i < n; i++)
    v[i] = k[i].item;
  free(k);
  *out = v;
  return n;
}

void phc__reg_enc_process_list(const phc__reg_t *r, const char *local_node,
                               int rel, ei_x_buff *x) {
  phc__reg_row_t **v;
  int n = reg_map_ordered(r, rel, &v), k = 0;
  for (int i = 0; i < n; i++)
    k += !local_node || phc__reg_owner(v[i], local_node) != NULL;
  if (k) phc__x_list_header(x, k);
  for (int i = 0; i < n; i++) {
    const phc__reg_owner_t *o =
        local_node ? phc__reg_owner(v[i], local_node) : NULL;
    if (local_node && !o) continue;
    phc__x_tuple_header(x, 2);
    phc__x_append_buf(x, v[i]->cid, v[i]->cid_len);
    if (local_node)
      phc__x_pid(x, &o->pid);
    else
      phc__reg_enc_owners(v[i], x);
  }
  phc__x_empty_list(x);
  free(v);
}

static void enc_value(const phc__reg_row_t *row, int with_meta, ei_x_buff *x) {
  phc__x_tuple_header(x, with_meta ? 3 : 2);
  phc__x_append_buf(x, row->spec, row->spec_len);
  phc__reg_enc_owners(row, x);
  if (with_meta) phc__x_append_buf(x, row->meta, row->meta_len);
}

void phc__reg_enc_dump(const phc__reg_t *r, int rel, ei_x_buff *x) {
  phc__reg_row_t **v;
  int n = reg_map_ordered(r, rel, &v);
  phc__x_map_header(x, n);
  for (int i = 0; i < n; i++) {
    phc__x_append_buf(x, v[i]->cid, v[i]->cid_len);
    enc_value(v[i], 1, x);
  }
  free(v);
}

/* Does the metadata map hold tag => Tag? */
static int meta_has_tag(const phc__reg_row_t *row, const char *tag,
                        int tag_len) {
  int idx = 0, arity;
  if (ei_decode_map_header(row->meta, &idx, &arity) < 0) return 0;
  for (int i = 0; i < arity; i++) {
    char key[PHC__ATOM_MAX];
    int k = idx;
    int is_tag = phc__term_atom(row->meta, &k, key, sizeof key) == 0 &&
                 !strcmp(key, "tag");
    if (ei_skip_term(row->meta, &idx) < 0) return 0;
    int v = idx;
    if (ei_skip_term(row->meta, &idx) < 0) return 0;
    if (is_tag)
      return idx - v == tag_len && !memcmp(row->meta + v, tag, (size_t)tag_len);
  }
  return 0;
}

void phc__reg_enc_tag_query(const phc__reg_t *r, const char *tag, int tag_len,
                            ei_x_buff *x) {
  phc__reg_row_t **v;
  int n = phc__reg_sorted(r, &v), k = 0;
  for (int i = 0; i < n; i++)
    k += meta_has_tag(v[i], tag, tag_len);
  if (k) phc__x_list_header(x, k);
  for (int i = 0; i < n; i++) {
    if (!meta_has_tag(v[i], tag, tag_len)) continue;
    phc__x_tuple_header(x, 2);
    phc__x_append_buf(x, v[i]->cid, v[i]->cid_len);
    phc__reg_enc_owners(v[i], x);
  }
  phc__x_empty_list(x);
  free(v);
}

void phc__reg_enc_lookup(const phc__reg_t *r, const char *cid, int cid_len,
                         int with_metadata, ei_x_buff *x) {
  phc__reg_row_t *row = phc__reg_find(r, cid, cid_len);
  if (!row)
    phc__x_atom(x, "nil");
  else
    enc_value(row, with_metadata, x);
}
