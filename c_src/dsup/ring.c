/* ring.c - libring's HashRing (see ring.h). */
#include "dsup/ring.h"

#include <stdlib.h>
#include <string.h>

#include "term/enc.h"
#include "term/phash2.h"
#include "term/term.h"

#define DRING_RANGE 4294967295ULL /* trunc(:math.pow(2, 32) - 1) */

typedef struct dring_point_s {
  uint32_t hash;
  int node; /* index into nodes */
} dring_point_t;

struct phc__dring_s {
  phc__etf_enc_t enc;
  char **nodes; /* in the order added */
  int nnodes, cap_nodes;
  dring_point_t *pts; /* sorted by hash, unique */
  int npts, cap_pts;
};

phc__dring_t *phc__dring_new(phc__etf_enc_t enc) {
  phc__dring_t *r = phc__xcalloc(1, sizeof *r);
  r->enc = enc;
  return r;
}

void phc__dring_free(phc__dring_t *r) {
  if (!r) return;
  for (int i = 0; i < r->nnodes; i++)
    free(r->nodes[i]);
  free(r->nodes);
  free(r->pts);
  free(r);
}

void phc__dring_set_enc(phc__dring_t *r, phc__etf_enc_t enc) { r->enc = enc; }

static int dring_find(const phc__dring_t *r, const char *node) {
  for (int i = 0; i < r->nnodes; i++)
    if (strcmp(r->nodes[i], node) == 0) return i;
  return -1;
}

int phc__dring_has(const phc__dring_t *r, const char *node) {
  return r && node && dring_find(r, node) >= 0;
}

/* The first point whose hash is >= h (npts when none). */
static int dring_lower(const phc__dring_t *r, uint32_t h) {
  int lo = 0, hi = r->npts;
  while (lo < hi) {
    int mid = lo + (hi - lo) / 2;
    if (r->pts[mid].hash < h)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* Insert a point unless its hash is taken (gb_trees:insert refuses it). */
static void dring_insert(phc__dring_t *r, uint32_t h, int node) {
  int at = dring_lower(r, h);
  if (at < r->npts && r->pts[at].hash == h) return;
  if (r->npts == r->cap_pts) {
    r->cap_pts = r->cap_pts ? 2 * r->cap_pts : 256;
    r->pts = phc__xrealloc(r->pts, (size_t)r->cap_pts * sizeof *r->pts);
  }
  memmove(r->pts + at + 1, r->pts + at,
          (size_t)(r->npts - at) * sizeof *r->pts);
  r->pts[at] = (dring_point_t){h, node};
  r->npts++;
}

/* phash2({Node, I}, 2^32 - 1). */
static uint32_t dring_point_hash(const char *node, int i) {
  ei_x_buff x;
  uint32_t h = 0;
  phc__x_new(&x);
  phc__x_tuple_header(&x, 2);
  phc__x_atom(&x, node);
  phc__x_long(&x, i);
  (void)phc__phash2(x.buff, x.index, 0, DRING_RANGE, &h);
  ei_x_free(&x);
  return h;
}

int phc__dring_add(phc__dring_t *r, const char *node) {
  if (!r || !node || !*node) return PHC_EINVAL;
  if (dring_find(r, node) >= 0) return 1;
  if (r->nnodes == r->cap_nodes) {
    r->cap_nodes = r->cap_nodes ? 2 * r->cap_nodes : 8;
    r->nodes = phc__xrealloc(r->nodes, (size_t)r->cap_nodes * sizeof(char *));
  }
  int idx = r->nnodes++;
  r->nodes[idx] = phc__xstrdup(node);
  for (int i = 1; i <= PHC__DRING_WEIGHT; i++)
    dring_insert(r, dring_point_hash(node, i), idx);
  return 0;
}

int phc__dring_remove(phc__dring_t *r, const char *node) {
  int idx = r && node ? dring_find(r, node) : -1;
  if (idx < 0) return 1;
  int k = 0;
  for (int i = 0; i < r->npts; i++) {
    if (r->pts[i].node == idx) continue;
    r->pts[k] = r->pts[i];
    if (r->pts[k].node > idx) r->pts[k].node--;
    k++;
  }
  r->npts = k;
  free(r->nodes[idx]);
  memmove(r->nodes + idx, r->nodes + idx + 1,
          (size_t)(r->nnodes - idx - 1) * sizeof(char *));
  r->nnodes--;
  return 0;
}

int phc__dring_nodes(const phc__dring_t *r, const char **out, int max) {
  int n = 0;
  for (int i = r ? r->nnodes - 1 : -1; i >= 0; i--, n++)
    if (n < max) out[n] = r->nodes[i];
  return n;
}

/* phash2(term_to_binary(Atom), 2^32 - 1), as libring hashes atom keys. */
static int dring_atom_hash(const phc__dring_t *r, const char *buf, int idx,
                           uint32_t *h) {
  char name[PHC__ATOM_MAX];
  if (phc__term_atom(buf, &idx, name, sizeof name) < 0) return PHC_EDECODE;
  ei_x_buff t, b;
  phc__x_new(&t);
  phc__ext_version(&t);
  int rc = phc__ext_atomz(&t, name, r->enc);
  phc__x_new(&b);
  if (rc == 0) rc = phc__x_binary(&b, t.buff, t.index);
  if (rc == 0) rc = phc__phash2(b.buff, b.index, 0, DRING_RANGE, h);
  ei_x_free(&t);
  ei_x_free(&b);
  return rc;
}

int phc__dring_node_for_skip(const phc__dring_t *r, const char *buf, int len,
                             int idx, const char *skip, const char **node) {
  int type, size, t = idx, end = idx;
  uint32_t h;
  if (!r || !buf || phc__term_skip(buf, len, &end) < 0 ||
      ei_get_type(buf, &t, &type, &size) < 0)
    return PHC_EDECODE;
  int sk = skip ? dring_find(r, skip) : -1;
  int live = 0;
  for (int i = 0; i < r->npts && !live; i++)
    live = r->pts[i].node != sk;
  if (!live) return PHC_ESTATE;
  int rc = type == ERL_ATOM_EXT || type == ERL_SMALL_ATOM_EXT ||
                   type == ERL_ATOM_UTF8_EXT || type == ERL_SMALL_ATOM_UTF8_EXT
               ? dring_atom_hash(r, buf, idx, &h)
               : phc__phash2(buf, len, idx, DRING_RANGE, &h);
  if (rc < 0) return rc;
  int at = dring_lower(r, h);
  for (;; at++) { /* the ring without skip's points, as remove_node leaves it */
    if (at == r->npts) at = 0;
    if (r->pts[at].node != sk) break;
  }
  *node = r->nodes[r->pts[at].node];
  return 0;
}

int phc__dring_node_for(const phc__dring_t *r, const char *buf, int len,
                        int idx, const char **node) {
  return phc__dring_node_for_skip(r, buf, len, idx, NULL, node);
}

/* gb_trees:from_orddict/1's balance_list over pts[from, from + n). */
static void dring_tree(const phc__dring_t *r, ei_x_buff *x, int from, int n) {
  if (n == 0) {
    phc__x_atom(x, "nil");
    return;
  }
  int s1 = n - 1 - (n - 1) / 2, mid = from + s1;
  phc__x_tuple_header(x, 4);
  phc__x_ulong(x, r->pts[mid].hash);
  phc__x_atom(x, r->nodes[r->pts[mid].node]);
  dring_tree(r, x, from, s1);
  dring_tree(r, x, mid + 1, (n - 1) / 2);
}

void phc__dring_encode(const phc__dring_t *r, ei_x_buff *x) {
  phc__x_map_header(x, 3);
  phc__x_atom(x, "__struct__");
  phc__x_atom(x, "Elixir.HashRing");
  phc__x_atom(x, "nodes");
  if (r->nnodes > 0) phc__x_list_header(x, r->nnodes);
  for (int i = r->nnodes - 1; i >= 0; i--)
    phc__x_atom(x, r->nodes[i]);
  phc__x_empty_list(x);
  phc__x_atom(x, "ring");
  phc__x_tuple_header(x, 2);
  phc__x_long(x, r->npts);
  dring_tree(r, x, 0, r->npts);
}
