/* singularity.c - ProcessHub.Strategy.Redundancy.Singularity, the default
 * redundancy: one instance of each child, no replicas. Its master node is
 * the first of the child's nodes. No options, no state. */
#include "hub/hub.h"

static int sing_init(phc_hub_t *h, void *st, const char *buf, int idx) {
  PHC__UNUSED(h);
  PHC__UNUSED(st);
  return phc__strat_no_opts(buf, idx);
}

static int sing_replication_factor(phc_hub_t *h, void *st) {
  PHC__UNUSED(h);
  PHC__UNUSED(st);
  return 1;
}

/* List.first(child_nodes) */
static const char *sing_master_node(phc_hub_t *h, void *st, const char *cid,
                                    int cid_len, const char *const *nodes,
                                    int n) {
  PHC__UNUSED(h);
  PHC__UNUSED(st);
  PHC__UNUSED(cid);
  PHC__UNUSED(cid_len);
  return n > 0 ? nodes[0] : NULL;
}

const phc__strat_red_t phc__strat_singularity = {
    .base = {.kind = PHC__STRAT_REDUNDANCY,
             .module = "Elixir.ProcessHub.Strategy.Redundancy.Singularity",
             .init = sing_init},
    .replication_factor = sing_replication_factor,
    .master_node = sing_master_node};
