/* consistent_hashing.c - ProcessHub.Strategy.Distribution.ConsistentHashing,
 * the default distribution: a child belongs to the nodes the hash ring
 * (hub/ring.h, hash_ring 0.4.2) gives its id, primary first.
 *
 * The ring is the hub's (h->ring; the hub picks its atom encoding and
 * rebuilds it when the peers' release says so). This strategy fills it
 * with the hub's nodes at init and keeps it as ProcessHub's handlers do:
 * handle_node_join on pre_cluster_join, handle_node_leave on
 * pre_cluster_leave, handle_shutdown (the local node leaves) on
 * coordinator_shutdown. It has no options and no state of its own. */
#include "hub/hub.h"

#define CH_MAX_KEY 1024 /* room for a child id and its version byte */

static int ch_init(phc_hub_t *h, void *st, const char *buf, int idx) {
  const char *names[PHC__HUB_MAX_NODES];
  PHC__UNUSED(st);
  int rc = phc__strat_no_opts(buf, idx);
  if (rc) return rc;
  for (int i = 0; i < h->nnodes; i++)
    names[i] = h->nodes[i];
  return phc__ring_set_nodes(&h->ring, names, (size_t)h->nnodes);
}

static void ch_close(phc_hub_t *h, void *st) {
  PHC__UNUSED(st);
  phc__ring_free(&h->ring);
}

static void ch_node_join(phc_hub_t *h, void *st, const char *node) {
  PHC__UNUSED(st);
  phc__ring_add(&h->ring, node);
}

static void ch_node_leave(phc_hub_t *h, void *st, const char *node) {
  PHC__UNUSED(st);
  phc__ring_remove(&h->ring, node);
}

/* Ring.key_to_nodes(ring, child_id, rf). Ids of CH_MAX_KEY bytes or more
 * (no room left for the version byte) are not hashed: PHC_ELIMIT (the hub
 * starts such a child where it is asked to). */
static int ch_belongs_to(phc_hub_t *h, void *st, const char *cid, int cid_len,
                         int rf, const char **out, int max) {
  char term[CH_MAX_KEY];
  PHC__UNUSED(st);
  if (cid_len < 0 || cid_len + 1 > (int)sizeof term) return PHC_ELIMIT;
  term[0] = (char)PHC__TAG_VERSION;
  memcpy(term + 1, cid, (size_t)cid_len);
  return phc__ring_owners(&h->ring, term, cid_len + 1, out,
                          rf < max ? rf : max);
}

const phc__strat_dist_t phc__strat_consistent_hashing = {
    .base = {.kind = PHC__STRAT_DISTRIBUTION,
             .module = "Elixir.ProcessHub.Strategy.Distribution."
                       "ConsistentHashing",
             .init = ch_init,
             .close = ch_close,
             .node_join = ch_node_join,
             .node_leave = ch_node_leave},
    .belongs_to = ch_belongs_to};
