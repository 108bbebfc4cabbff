/* ring.h - libring's HashRing, as Elixir's DistributedSupervisor uses it.
 *
 * Every node N contributes 128 points, point I at erlang:phash2({N, I},
 * 4294967295) (a point already taken keeps its first node, as gb_trees
 * refuses the duplicate). A key K goes to the first point >= phash2(K,
 * 4294967295), wrapping to the smallest; an atom key is hashed as
 * term_to_binary(K), whose bytes depend on the release of the node that
 * computes it (OTP 25: latin-1 ATOM_EXT; 26+: UTF-8), so the ring takes
 * that encoding (the instance follows its peers' release, asked over rex on
 * each nodeup). nodes() is HashRing.nodes/1: the last node added first.
 * Checked against the real library (test/fixtures/dsup/ring.tsv).
 *
 * A phc__dring_t owns its node names and its sorted point array.
 */
#ifndef PHC_DSUP_RING_H
#define PHC_DSUP_RING_H

#include <stdint.h>

#include <ei.h>

#include "term/ext.h"

#define PHC__DRING_WEIGHT 128

typedef struct phc__dring_s phc__dring_t;

phc__dring_t *phc__dring_new(phc__etf_enc_t enc);
void phc__dring_free(phc__dring_t *r);
void phc__dring_set_enc(phc__dring_t *r, phc__etf_enc_t enc);
/* 0, or 1 when node is already in the ring (nothing changes). */
int phc__dring_add(phc__dring_t *r, const char *node);
/* 0, or 1 when node is not in the ring. */
int phc__dring_remove(phc__dring_t *r, const char *node);
int phc__dring_has(const phc__dring_t *r, const char *node);
/* The nodes as HashRing.nodes/1 lists them; returns the count (it may
 * exceed max, only max are written). */
int phc__dring_nodes(const phc__dring_t *r, const char **out, int max);
/* The node for the key at buf[idx] (len bytes): 0 and *node (valid until
 * the next add or remove), PHC_ESTATE for an empty ring, PHC_EDECODE or
 * PHC_EINVAL for a key that cannot be hashed. */
int phc__dring_node_for(const phc__dring_t *r, const char *buf, int len,
                        int idx, const char **node);
/* The same on the ring without node skip (HashRing.remove_node/2 first). */
int phc__dring_node_for_skip(const phc__dring_t *r, const char *buf, int len,
                             int idx, const char *skip, const char **node);
/* The ring as the library's %HashRing{} struct (gb_tree of the points,
 * balanced as gb_trees:from_orddict/1 builds it, and the node list). */
void phc__dring_encode(const phc__dring_t *r, ei_x_buff *x);

#endif /* PHC_DSUP_RING_H */
