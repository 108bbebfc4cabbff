/* divergence.c - ProcessHub.Strategy.PartitionTolerance.Divergence, the
 * default partition tolerance: the hub keeps serving whatever nodes come
 * and go, so it never enters or leaves partition mode. No options, no
 * state. */
#include "hub/hub.h"

static int div_init(phc_hub_t *h, void *st, const char *buf, int idx) {
  PHC__UNUSED(h);
  PHC__UNUSED(st);
  return phc__strat_no_opts(buf, idx);
}

static int div_never(phc_hub_t *h, void *st, const char *node) {
  PHC__UNUSED(h);
  PHC__UNUSED(st);
  PHC__UNUSED(node);
  return 0;
}

const phc__strat_part_t phc__strat_divergence = {
    .base = {.kind = PHC__STRAT_PARTITION,
             .module = "Elixir.ProcessHub.Strategy.PartitionTolerance."
                       "Divergence",
             .init = div_init},
    .toggle_lock = div_never,
    .toggle_unlock = div_never};
