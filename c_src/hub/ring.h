/* ring.h - the consistent-hash ring, byte for byte as ProcessHub builds it.
 *
 * ProcessHub's default distribution strategy places a child with
 * hash_ring 0.4.2 (hash_ring_static, default options): every hub node N
 * contributes 256 virtual nodes, vnode Seq hashing to
 * H({Seq, N}), where H(T) is the low 32 bits (digest bytes 12..15, big
 * endian) of MD5(term_to_binary(T)). Vnodes are sorted by (hash, seq, node),
 * node in term order, i.e. byte-wise on the UTF-8 name. A child id K starts
 * at the first vnode whose hash is >= H(K) (wrapping to the first vnode);
 * owners are collected walking forward and recording each node the first
 * time it is seen, until rf distinct nodes (or every node) are found. The
 * first owner is the primary. See "Consistent hashing" in
 * docs/processhub-wire-protocol.md.
 *
 * The ring depends only on the set of node atoms and on how the BEAM
 * nodes encode atoms in term_to_binary: OTP 25 writes latin-1 atoms as
 * ATOM_EXT, OTP 26+ always UTF-8, and every vnode hash differs between the
 * two. The encoding is a parameter of the ring (PHC_RING_OTP25 /
 * PHC_RING_OTP26) and must match the release of the BEAM hub nodes.
 *
 * A phc__ring_t owns its copies of the node names and its vnode array.
 * Node name pointers it hands out stay valid until the next add, remove or
 * free. The hash uses OpenSSL libcrypto's MD5.
 */
#ifndef PHC_HUB_RING_H
#define PHC_HUB_RING_H

#include <stddef.h>
#include <stdint.h>

#include "term/ext.h"

#define PHC_RING_VNODES 256 /* per node, weight 1 */

typedef enum phc__ring_enc {
  PHC_RING_OTP25 = PHC__ETF_OTP25,
  PHC_RING_OTP26 = PHC__ETF_OTP26
} phc__ring_enc_t;

typedef struct phc__ring_vnode {
  uint32_t hash;
  uint32_t seq;     /* 0..255 */
  const char *node; /* one of the ring's node names */
} phc__ring_vnode_t;

typedef struct phc__ring {
  phc__ring_enc_t enc;
  char **nodes; /* distinct node names (UTF-8), in insertion order */
  size_t n_nodes;
  phc__ring_vnode_t *vnodes; /* sorted by (hash, seq, node) */
  size_t n_vnodes;           /* 256 * n_nodes; no sentinel */
} phc__ring_t;

/* H(term): term is term_to_binary bytes (with the leading 131). */
uint32_t phc__ring_hash(const void *etf, size_t len);
/* H({seq, node}) in encoding enc. */
int phc__ring_vnode_hash(phc__ring_enc_t enc, uint32_t seq, const char *node,
                         uint32_t *out);

void phc__ring_init(phc__ring_t *r, phc__ring_enc_t enc);
void phc__ring_free(phc__ring_t *r);
/* Replace the node set (duplicates are ignored). */
int phc__ring_set_nodes(phc__ring_t *r, const char *const *nodes, size_t n);
/* Add a node atom (UTF-8 name). Adding a present node changes nothing. */
int phc__ring_add(phc__ring_t *r, const char *node);
/* Remove a node. Removing an absent node changes nothing. */
int phc__ring_remove(phc__ring_t *r, const char *node);
int phc__ring_has(const phc__ring_t *r, const char *node);

/* Owners of a key whose term_to_binary bytes (in the ring's encoding, with
 * the leading 131) are etf/len: up to rf distinct nodes into out[], primary
 * first. Returns the count (0 for rf <= 0 or an empty ring). */
int phc__ring_owners_etf(const phc__ring_t *r, const void *etf, size_t len,
                         const char **out, int rf);
/* Owners of an ei-encoded term as received (starts with the version byte):
 * re-encoded as term_to_binary in the ring's encoding, then hashed. Returns
 * the count, or PHC_EDECODE / PHC_EINVAL for a term that cannot be hashed. */
int phc__ring_owners(const phc__ring_t *r, const char *term, int len,
                     const char **out, int rf);
/* The hash of such a term, as the ring computes it. */
int phc__ring_key_hash(const phc__ring_t *r, const char *term, int len,
                       uint32_t *out);

#endif /* PHC_HUB_RING_H */
