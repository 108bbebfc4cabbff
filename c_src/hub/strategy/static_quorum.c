/* static_quorum.c - ProcessHub.Strategy.PartitionTolerance.StaticQuorum:
 * the hub serves while it has at least quorum_size nodes (itself
 * included) and enters partition mode below that.
 *
 * Options (the struct's fields, as a keyword list or the struct map):
 * quorum_size (required, an integer >= 0), startup_confirm (boolean,
 * default false: with true, a hub that starts with fewer nodes than
 * quorum_size enters partition mode at once). An unknown option, a bad
 * value or a missing quorum_size fails init with one log line naming it.
 *
 * toggle_lock? and toggle_unlock? are ProcessHub's: both compare
 * quorum_size with the hub's nodes, the local one included. */
#include "hub/hub.h"

#define MOD "static_quorum"

typedef struct sq_state_s {
  long quorum_size; /* -1: not given */
  int startup_confirm;
} sq_state_t;

static int sq_bool(const char *buf, int idx, int *out) {
  char a[8];
  if (phc__term_atom(buf, &idx, a, sizeof a) < 0) return PHC_EINVAL;
  if (!strcmp(a, "true"))
    *out = 1;
  else if (!strcmp(a, "false"))
    *out = 0;
  else
    return PHC_EINVAL;
  return 0;
}

static int sq_option(void *arg, const char *key, const char *buf, int idx) {
  sq_state_t *s = arg;
  long long v;
  int i = idx;
  if (!strcmp(key, "quorum_size")) {
    if (ei_decode_longlong(buf, &i, &v) < 0 || v < 0 || v > 1000000) goto bad;
    s->quorum_size = (long)v;
  } else if (!strcmp(key, "startup_confirm")) {
    if (sq_bool(buf, idx, &s->startup_confirm)) goto bad;
  } else {
    PHC_LOG_E(MOD, "unknown StaticQuorum option: %s", key);
    return PHC_EINVAL;
  }
  return 0;
bad:
  PHC_LOG_E(MOD, "bad value for StaticQuorum option %s", key);
  return PHC_EINVAL;
}

static int sq_parse(sq_state_t *s, const char *buf, int idx) {
  s->quorum_size = -1;
  s->startup_confirm = 0;
  int rc = buf ? phc__strat_opts_each(buf, idx, sq_option, s) : 0;
  if (!rc && s->quorum_size < 0) {
    PHC_LOG_E(MOD, "StaticQuorum needs quorum_size");
    rc = PHC_EINVAL;
  }
  return rc;
}

static int sq_check(const char *buf, int idx) {
  sq_state_t s;
  return sq_parse(&s, buf, idx);
}

static int sq_init(phc_hub_t *h, void *st, const char *buf, int idx) {
  sq_state_t *s = st;
  int rc = sq_parse(s, buf, idx);
  if (rc) return rc;
  if (h && s->startup_confirm &&
      !phc__quorum_static_present(s->quorum_size, h->nnodes))
    phc__hub_quorum_failure(h);
  return 0;
}

static int sq_toggle_lock(phc_hub_t *h, void *st, const char *down_node) {
  PHC__UNUSED(down_node);
  return !phc__quorum_static_present(((sq_state_t *)st)->quorum_size,
                                     h->nnodes);
}

static int sq_toggle_unlock(phc_hub_t *h, void *st, const char *up_node) {
  PHC__UNUSED(up_node);
  return phc__quorum_static_present(((sq_state_t *)st)->quorum_size, h->nnodes);
}

const phc__strat_part_t phc__strat_static_quorum = {
    .base = {.kind = PHC__STRAT_PARTITION,
             .module = "Elixir.ProcessHub.Strategy.PartitionTolerance."
                       "StaticQuorum",
             .state_size = sizeof(sq_state_t),
             .init = sq_init,
             .check = sq_check},
    .toggle_lock = sq_toggle_lock,
    .toggle_unlock = sq_toggle_unlock};
