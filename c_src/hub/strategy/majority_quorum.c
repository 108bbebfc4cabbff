/* majority_quorum.c - ProcessHub.Strategy.PartitionTolerance.MajorityQuorum:
 * the hub serves while it has a majority of the largest cluster it has
 * seen: nodes >= div(max_seen, 2) + 1, the local node counted.
 *
 * Options (the struct's fields, as a keyword list or the struct map):
 * initial_cluster_size (a positive integer, default 1), track_max_size
 * (boolean, default true: every join may raise max_seen; false: max_seen
 * stays where init put it). An unknown option or bad value fails init with
 * one log line naming it.
 *
 * init sets max_seen to max(initial_cluster_size, the hub's nodes now);
 * toggle_unlock? first raises it (track_max_size), then both toggles ask
 * for the majority, as ProcessHub's do. reset_cluster_size(HubId, Size),
 * the module's function for an intended downsizing, is a native here
 * (registered when the strategy first runs): it sets max_seen to Size and
 * answers ok; an unknown hub fails with noproc (a BEAM member exits with
 * noproc from the coordinator call). */
#include "hub/hub.h"
#include "term/enc.h"

#define MOD "majority_quorum"
#define MQ_MODULE "Elixir.ProcessHub.Strategy.PartitionTolerance.MajorityQuorum"

typedef struct mq_state_s {
  long initial;
  int track;
  long max_seen;
} mq_state_t;

extern const phc__strat_part_t phc__strat_majority_quorum;

static int mq_option(void *arg, const char *key, const char *buf, int idx) {
  mq_state_t *s = arg;
  long long v;
  char a[8];
  int i = idx;
  if (!strcmp(key, "initial_cluster_size")) {
    if (ei_decode_longlong(buf, &i, &v) < 0 || v < 1 || v > 1000000) goto bad;
    s->initial = (long)v;
  } else if (!strcmp(key, "track_max_size")) {
    if (phc__term_atom(buf, &i, a, sizeof a) < 0 ||
        (strcmp(a, "true") && strcmp(a, "false")))
      goto bad;
    s->track = !strcmp(a, "true");
  } else {
    PHC_LOG_E(MOD, "unknown MajorityQuorum option: %s", key);
    return PHC_EINVAL;
  }
  return 0;
bad:
  PHC_LOG_E(MOD, "bad value for MajorityQuorum option %s", key);
  return PHC_EINVAL;
}

static int mq_parse(mq_state_t *s, const char *buf, int idx) {
  s->initial = 1;
  s->track = 1;
  return buf ? phc__strat_opts_each(buf, idx, mq_option, s) : 0;
}

static int mq_check(const char *buf, int idx) {
  mq_state_t s;
  return mq_parse(&s, buf, idx);
}

/* reset_cluster_size(HubId, Size) */
static int mq_reset(phc_node_t *n, const phc_pid_t *caller, const char *args,
                    int len, ei_x_buff *result) {
  char id[PHC__ATOM_MAX];
  long long size;
  int idx = 1, arity;
  PHC__UNUSED(caller);
  PHC__UNUSED(len);
  if (ei_decode_list_header(args, &idx, &arity) < 0 || arity != 2 ||
      phc__term_atom(args, &idx, id, sizeof id) < 0 ||
      ei_decode_longlong(args, &idx, &size) < 0 || size < 1) {
    phc__x_atom(result, "function_clause");
    return PHC_EINVAL;
  }
  phc_hub_t *h = phc__hub_find(n, id);
  if (!h) { /* the coordinator call inside fails: noproc, as on the BEAM */
    phc__x_atom(result, "noproc");
    return PHC_ENOPROC;
  }
  if (h->strat.table[PHC__STRAT_PARTITION] ==
      &phc__strat_majority_quorum.base) {
    ((mq_state_t *)h->strat.state[PHC__STRAT_PARTITION])->max_seen = (long)size;
    PHC_LOG_I(MOD, "%s: expected cluster size reset to %lld", id, size);
  }
  phc__x_atom(result, "ok");
  return 0;
}

static int mq_init(phc_hub_t *h, void *st, const char *buf, int idx) {
  mq_state_t *s = st;
  int rc = mq_parse(s, buf, idx);
  if (rc || !h) return rc;
  s->max_seen = s->initial > h->nnodes ? s->initial : h->nnodes;
  rc = phc_native_register(h->n, MQ_MODULE, "reset_cluster_size", 2, mq_reset);
  return rc == PHC_EEXIST ? 0 : rc;
}

static int mq_toggle_lock(phc_hub_t *h, void *st, const char *down_node) {
  PHC__UNUSED(down_node);
  return !phc__quorum_majority_has(h->nnodes, ((mq_state_t *)st)->max_seen);
}

static int mq_toggle_unlock(phc_hub_t *h, void *st, const char *up_node) {
  mq_state_t *s = st;
  PHC__UNUSED(up_node);
  if (s->track && h->nnodes > s->max_seen) s->max_seen = h->nnodes;
  return phc__quorum_majority_has(h->nnodes, s->max_seen);
}

const phc__strat_part_t phc__strat_majority_quorum = {
    .base = {.kind = PHC__STRAT_PARTITION,
             .module = MQ_MODULE,
             .state_size = sizeof(mq_state_t),
             .init = mq_init,
             .check = mq_check},
    .toggle_lock = mq_toggle_lock,
    .toggle_unlock = mq_toggle_unlock};
