/* ring.c - hash_ring 0.4.2 as ProcessHub uses it. */
#include "hub/ring.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common.h"
#include "term/enc.h"

#define MOD "ring"

uint32_t phc__ring_hash(const void *etf, size_t len) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (EVP_Digest(etf, len, md, &md_len, EVP_md5(), NULL) != 1 || md_len != 16) {
    PHC_LOG_E(MOD, "MD5 failed");
    abort(); /* libcrypto without MD5: the ring cannot work at all */
  }
  return ((uint32_t)md[12] << 24) | ((uint32_t)md[13] << 16) |
         ((uint32_t)md[14] << 8) | md[15];
}

/* term_to_binary({Seq, Node}) = 83 68 02 61 <Seq> <atom Node>. */
int phc__ring_vnode_hash(phc__ring_enc_t enc, uint32_t seq, const char *node,
                         uint32_t *out) {
  ei_x_buff x;
  if (seq > 255 || phc__x_new(&x) < 0) return PHC_EINVAL;
  int rc = phc__ext_version(&x);
  if (!rc) rc = phc__ext_tuple_header(&x, 2);
  if (!rc) rc = phc__ext_long(&x, seq);
  if (!rc) rc = phc__ext_atomz(&x, node, (phc__etf_enc_t)enc);
  if (!rc) *out = phc__ring_hash(x.buff, (size_t)x.index);
  ei_x_free(&x);
  return rc;
}

void phc__ring_init(phc__ring_t *r, phc__ring_enc_t enc) {
  memset(r, 0, sizeof *r);
  r->enc = enc;
}

void phc__ring_free(phc__ring_t *r) {
  for (size_t k = 0; k < r->n_nodes; k++)
    free(r->nodes[k]);
  free(r->nodes);
  free(r->vnodes);
  phc__ring_init(r, r->enc);
}

static int cmp_vnode(const void *a, const void *b) {
  const phc__ring_vnode_t *x = a, *y = b;
  if (x->hash != y->hash) return x->hash < y->hash ? -1 : 1;
  if (x->seq != y->seq) return x->seq < y->seq ? -1 : 1;
  return strcmp(x->node, y->node); /* atom term order: bytes of UTF-8 */
}

/* Where node is in r->nodes: 0 with *at set, or PHC_ENOPROC. */
static int find_node(const phc__ring_t *r, const char *node, size_t *at) {
  for (size_t k = 0; k < r->n_nodes; k++)
    if (strcmp(r->nodes[k], node) == 0) {
      *at = k;
      return 0;
    }
  return PHC_ENOPROC;
}

int phc__ring_has(const phc__ring_t *r, const char *node) {
  size_t k;
  return node && find_node(r, node, &k) == 0;
}

int phc__ring_add(phc__ring_t *r, const char *node) {
  size_t at;
  if (!node || !*node) return PHC_EINVAL;
  if (find_node(r, node, &at) == 0) return 0;
  uint32_t hashes[PHC_RING_VNODES];
  for (uint32_t s = 0; s < PHC_RING_VNODES; s++) {
    int rc = phc__ring_vnode_hash(r->enc, s, node, &hashes[s]);
    if (rc) return rc; /* not a valid atom name */
  }
  char *name = phc__xstrdup(node);
  r->nodes = phc__xrealloc(r->nodes, (r->n_nodes + 1) * sizeof *r->nodes);
  r->nodes[r->n_nodes++] = name;
  r->vnodes = phc__xrealloc(r->vnodes, (r->n_vnodes + PHC_RING_VNODES) *
                                           sizeof *r->vnodes);
  for (uint32_t s = 0; s < PHC_RING_VNODES; s++)
    r->vnodes[r->n_vnodes++] = (phc__ring_vnode_t){hashes[s], s, name};
  qsort(r->vnodes, r->n_vnodes, sizeof *r->vnodes, cmp_vnode);
  return 0;
}

int phc__ring_remove(phc__ring_t *r, const char *node) {
  size_t k;
  if (!node || find_node(r, node, &k) != 0) return 0;
  char *name = r->nodes[k];
  size_t o = 0;
  for (size_t i = 0; i < r->n_vnodes; i++)
    if (r->vnodes[i].node != name) r->vnodes[o++] = r->vnodes[i];
  r->n_vnodes = o;
  memmove(&r->nodes[k], &r->nodes[k + 1],
          (r->n_nodes - k - 1) * sizeof *r->nodes);
  r->n_nodes--;
  free(name);
  return 0;
}

int phc__ring_set_nodes(phc__ring_t *r, const char *const *nodes, size_t n) {
  phc__ring_enc_t enc = r->enc;
  phc__ring_free(r);
  phc__ring_init(r, enc);
  for (size_t k = 0; k < n; k++) {
    int rc = phc__ring_add(r, nodes[k]);
    if (rc) return rc;
  }
  return 0;
}

/* First vnode with hash >= h, or 0 past the end (wrap). */
static size_t lower_bound(const phc__ring_t *r, uint32_t h) {
  size_t lo = 0, hi = r->n_vnodes;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (r->vnodes[mid].hash < h)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo == r->n_vnodes ? 0 : lo;
}

static int collect(const phc__ring_t *r, uint32_t h, const char **out, int rf) {
  if (rf <= 0 || r->n_vnodes == 0) return 0;
  size_t want = (size_t)rf < r->n_nodes ? (size_t)rf : r->n_nodes;
  size_t got = 0, i = lower_bound(r, h);
  for (size_t steps = 0; got < want && steps < r->n_vnodes; steps++) {
    const char *n = r->vnodes[i].node;
    size_t k = 0;
    while (k < got && out[k] != n)
      k++;
    if (k == got) out[got++] = n;
    i = i + 1 == r->n_vnodes ? 0 : i + 1;
  }
  return (int)got;
}

int phc__ring_owners_etf(const phc__ring_t *r, const void *etf, size_t len,
                         const char **out, int rf) {
  return collect(r, phc__ring_hash(etf, len), out, rf);
}

int phc__ring_key_hash(const phc__ring_t *r, const char *term, int len,
                       uint32_t *out) {
  ei_x_buff x;
  if (phc__x_new(&x) < 0) return PHC_ENOMEM;
  int rc = phc__ext_term_to_binary(&x, term, len, (phc__etf_enc_t)r->enc);
  if (rc == 0)
    *out = phc__ring_hash(x.buff, (size_t)x.index);
  else
    PHC_LOG_W(MOD, "cannot hash a key term (%s); dropped", phc_strerror(rc));
  ei_x_free(&x);
  return rc;
}

int phc__ring_owners(const phc__ring_t *r, const char *term, int len,
                     const char **out, int rf) {
  uint32_t h;
  int rc = phc__ring_key_hash(r, term, len, &h);
  if (rc) return rc;
  return collect(r, h, out, rf);
}
