/* pub_sub.c - ProcessHub.Strategy.Synchronization.PubSub, the default
 * synchronization: registrations and unregistrations go out as blockade
 * events (children_registration_event / children_unregistration_event) to
 * the members their options pick, and every sync_interval each member
 * tells the others what runs on it.
 *
 * ProcessHub's periodic round spawns on each peer a closure that casts
 * Synchronizer.exec_interval_sync(HubId, Strategy, LocalData, Node) to the
 * peer's worker queue. phc cannot build that closure; init_sync casts the
 * same call to each peer's rex instead (rpc:cast's message), so the peer
 * runs exactly what ProcessHub's closure runs, append_data then
 * detach_data: missing rows are added and stale rows naming phc dropped.
 * (It runs in a process rex spawns, not in the peer's worker queue.) A
 * BEAM member's round reaches phc as the closure (hub/closures.c), a phc
 * peer's as the rex cast (the native in hub/closures.c); both run
 * handle_synchronization. No options here (the interval is the hub's
 * sync_interval), no state. */
#include "hub/hub.h"
#include "term/enc.h"

/* The struct's one field, sync_interval: the hub's own setting rules the
 * round here, so the value is only checked. */
static int pubsub_option(void *arg, const char *key, const char *buf, int idx) {
  long long v;
  PHC__UNUSED(arg);
  if (strcmp(key, "sync_interval")) {
    PHC_LOG_E("pub_sub", "unknown PubSub option: %s", key);
    return PHC_EINVAL;
  }
  if (ei_decode_longlong(buf, &idx, &v) < 0 || v <= 0) {
    PHC_LOG_E("pub_sub", "bad value for PubSub option %s", key);
    return PHC_EINVAL;
  }
  return 0;
}

static int pubsub_check(const char *buf, int idx) {
  return phc__strat_opts_each(buf, idx, pubsub_option, NULL);
}

static int pubsub_init(phc_hub_t *h, void *st, const char *buf, int idx) {
  PHC__UNUSED(h);
  PHC__UNUSED(st);
  return buf ? pubsub_check(buf, idx) : 0;
}

/* Blockade.dispatch_sync(event, {Children, Node, Opts}, members:
 * Keyword.get(opts, :members, :global)) */
static void pubsub_propagate(phc_hub_t *h, void *st, const char *children,
                             int len, const char *node, phc__strat_sync_op_t op,
                             const char *opts, int opts_len) {
  const char *members = "global";
  char m[PHC__ATOM_MAX];
  int v;
  PHC__UNUSED(st);
  if (opts && phc__term_kw_get(opts, 0, "members", &v) == 0 &&
      phc__term_atom(opts, &v, m, sizeof m) == 0)
    members = m;
  ei_x_buff p;
  phc__x_new(&p);
  phc__x_tuple_header(&p, 3);
  phc__x_append_buf(&p, children, len);
  phc__x_atom(&p, node);
  if (opts)
    phc__x_append_buf(&p, opts, opts_len);
  else
    phc__x_empty_list(&p);
  phc__hub_dispatch(h,
                    op == PHC__STRAT_SYNC_ADD ? "children_registration_event"
                                              : "children_unregistration_event",
                    members, p.buff, p.index);
  ei_x_free(&p);
}

/* To each other member's rex: {'$gen_cast', {cast, Synchronizer,
 * exec_interval_sync, [HubId, %PubSub{}, [{ChildSpec, Pid, Meta}], Node],
 * user}}. */
static void pubsub_init_sync(phc_hub_t *h, void *st) {
  PHC__UNUSED(st);
  ei_x_buff p;
  phc__x_new(&p);
  phc__x_list_header(&p, 4);
  phc__x_atom(&p, h->id);
  phc__hooks_x_strategy(h, PHC__STRAT_SYNCHRONIZATION, &p);
  phc__hub_enc_local_sync(h, &p);
  phc__x_atom(&p, h->n->name);
  phc__x_empty_list(&p);
  for (int i = 0; i < h->nnodes; i++)
    if (strcmp(h->nodes[i], h->n->name) != 0)
      phc__hub_rex_cast(h, h->nodes[i],
                        "Elixir.ProcessHub.Service.Synchronizer",
                        "exec_interval_sync", p.buff, p.index);
  ei_x_free(&p);
}

static void pubsub_handle_synchronization(phc_hub_t *h, void *st,
                                          const char *buf, int idx,
                                          const char *node) {
  PHC__UNUSED(st);
  phc__hub_apply_sync(h, node, buf, idx, 1);
}

const phc__strat_sync_t phc__strat_pub_sub = {
    .base = {.kind = PHC__STRAT_SYNCHRONIZATION,
             .module = "Elixir.ProcessHub.Strategy.Synchronization.PubSub",
             .init = pubsub_init,
             .check = pubsub_check},
    .propagate = pubsub_propagate,
    .init_sync = pubsub_init_sync,
    .handle_synchronization = pubsub_handle_synchronization};
