/* closures.c - ProcessHub's closures that reach phc by spawn request.
 *
 * BEAM members send Elixir closures (erlang:apply(Fun, []) through
 * Node.spawn or erpc). phc cannot run Elixir code; it recognises the
 * closures it must answer by module, arity and the shape of their
 * environment, and carries out their effect natively:
 *
 *   PubSub periodic sync (module ...Synchronization.PubSub, env holds the
 *     hub struct, the sender's [{ChildSpec, Pid, Meta}] and its node): the
 *     hub's synchronization strategy handles it (handle_synchronization;
 *     PubSub appends and detaches the sender's rows); returns ok.
 *   which_children(:global) (module ProcessHub.Service.Distributor, env
 *     holds the hub struct): returns {node(), [{Id, Pid, worker, [Mod]}]}.
 *   Gossip (modules ending in Synchronization.Gossip): a periodic round
 *     (forward_data: env [Strategy, Hub, #{ref, nodes_data, sync_acks},
 *     SenderNode]) or a propagation (propagate_data: env [Hub, Strategy,
 *     {Ref, Acks, Children, UpdateNode}, add | rem]). Handed to the hub's
 *     synchronization strategy as {gossip_sync, Map} or {gossip_prop,
 *     Tuple, Type} when that strategy is Gossip (else dropped with a
 *     debug line); returns ok.
 *
 * Anything else is not recognised and fails as an undefined function.
 *
 * Also here, the native 'Elixir.ProcessHub.Service.Synchronizer':
 * exec_interval_sync/4, which a phc peer's periodic sync casts to rex
 * (strategy/pub_sub.c): the hub's synchronization strategy handles it.
 *
 * The other direction: where a BEAM member would send a closure, phc
 * sends an rpc cast of the public function the closure calls to the
 * peer's rex (phc__hub_rex_cast; Gossip, PubSub, the load balancer).
 */
#include <stdio.h>
#include <stdlib.h>

#include "hub/child_data.h"
#include "hub/hub.h"
#include "otp/otp.h"
#include "term/enc.h"
#include "term/term.h"

#define MOD "hub"
#define HUB_STRUCT "Elixir.ProcessHub.Hub"

static int ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && !strcmp(s + a - b, suffix);
}

/* The hub named by a %ProcessHub.Hub{hub_id: Id} map at buf[idx]. */
static phc_hub_t *hub_of_struct(phc_node_t *n, const char *buf, int idx) {
  int v;
  char id[PHC__ATOM_MAX] = "";
  if (phc__term_map_get(buf, idx, "__struct__", &v) < 0 ||
      !phc__term_atom_eq(buf, v, HUB_STRUCT) ||
      phc__term_map_get(buf, idx, "hub_id", &v) < 0 ||
      phc__term_atom(buf, &v, id, sizeof id) < 0)
    return NULL;
  return *id ? phc__hub_find(n, id) : NULL;
}

typedef struct env_s {
  phc_hub_t *hub;
  int list;   /* index of the first list, -1 if none */
  int map;    /* index of the first map with a ref key, -1 if none */
  int tuple4; /* index of the first 4-tuple, -1 if none */
  char node[PHC__ATOM_MAX];
} env_t;

/* The shapes Gossip's closures carry (see the top of this file). */
static void scan_gossip(const char *b, int at, uint8_t tag, env_t *env) {
  int v, i = at, arity;
  if (tag == PHC__TAG_MAP && env->map < 0 &&
      phc__term_map_get(b, at, "ref", &v) == 0)
    env->map = at;
  if (env->tuple4 < 0 && ei_decode_tuple_header(b, &i, &arity) == 0 &&
      arity == 4)
    env->tuple4 = at;
}

/* The free variables are walked by term.h's bounded walker, each before
 * anything reads it: a fun that declares more variables than it carries,
 * or garbage ones, is refused (PHC_EDECODE). */
static int scan_env(phc_node_t *n, const erlang_fun *f, env_t *env) {
  const char *b = f->u.closure.free_vars;
  int len = f->u.closure.free_var_len, idx = 0;
  memset(env, 0, sizeof *env);
  env->list = env->map = env->tuple4 = -1;
  if (len < 0 || (len > 0 && !b)) return PHC_EDECODE;
  for (long i = 0; i < f->u.closure.n_free_vars; i++) {
    int at = idx, t = idx;
    char atom[PHC__ATOM_MAX];
    if (phc__term_skip(b, len, &idx) < 0) return PHC_EDECODE;
    uint8_t tag = (uint8_t)b[at];
    if (tag == PHC__TAG_MAP && !env->hub) env->hub = hub_of_struct(n, b, at);
    if ((tag == PHC__TAG_LIST || tag == PHC__TAG_NIL) && env->list < 0)
      env->list = at;
    scan_gossip(b, at, tag, env);
    if (phc__term_atom(b, &t, atom, sizeof atom) == 0)
      memcpy(env->node, atom, strlen(atom) + 1);
  }
  return idx == len ? 0 : PHC_EDECODE;
}

/* Supervisor.which_children of the hub's children here, newest first. */
static void enc_which_children(phc_hub_t *h, ei_x_buff *x) {
  phc__reg_row_t **v;
  int n = phc__reg_sorted(&h->reg, &v), k = 0;
  for (int i = 0; i < n; i++)
    k += phc__reg_owner(v[i], h->n->name) != NULL;
  phc__x_tuple_header(x, 2);
  phc__x_atom(x, h->n->name);
  if (k) phc__x_list_header(x, k);
  for (int i = n - 1; i >= 0; i--) {
    const phc__reg_owner_t *o = phc__reg_owner(v[i], h->n->name);
    if (!o) continue;
    char m[PHC__ATOM_MAX] = "undefined";
    int start, arity, idx = 0, nkeys;
    /* the spec's start module */
    if (ei_decode_map_header(v[i]->spec, &idx, &nkeys) == 0)
      for (int j = 0; j < nkeys; j++) {
        char key[PHC__ATOM_MAX];
        int isk = phc__term_atom(v[i]->spec, &idx, key, sizeof key) == 0 &&
                  !strcmp(key, "start");
        start = idx;
        if (isk && ei_decode_tuple_header(v[i]->spec, &start, &arity) == 0)
          phc__term_atom(v[i]->spec, &start, m, sizeof m);
        if (ei_skip_term(v[i]->spec, &idx) < 0) break;
      }
    phc__x_tuple_header(x, 4);
    phc__x_append_buf(x, v[i]->cid, v[i]->cid_len);
    phc__x_pid(x, &o->pid);
    phc__x_atom(x, "worker");
    phc__x_list_header(x, 1);
    phc__x_atom(x, m);
    phc__x_empty_list(x);
  }
  phc__x_empty_list(x);
  free(v);
}

static int gossip_closure(const erlang_fun *f, const env_t *env,
                          ei_x_buff *result) {
  phc_hub_t *h = env->hub;
  const char *b = f->u.closure.free_vars;
  const phc__strat_base_t *t = h->strat.table[PHC__STRAT_SYNCHRONIZATION];
  ei_x_buff m;
  phc__x_new(&m);
  if (env->map >= 0 && *env->node) {
    phc__x_tuple_header(&m, 2);
    phc__x_atom(&m, "gossip_sync");
    phc__x_append_buf(&m, b + env->map, phc__hub_term_len(b, env->map));
  } else if (env->tuple4 >= 0 && *env->node) {
    phc__x_tuple_header(&m, 3);
    phc__x_atom(&m, "gossip_prop");
    phc__x_append_buf(&m, b + env->tuple4, phc__hub_term_len(b, env->tuple4));
    phc__x_atom(&m, env->node);
  } else {
    ei_x_free(&m);
    return PHC_EUNDEF;
  }
  if (t && ends_with(t->module, "Synchronization.Gossip"))
    phc__strat_handle_sync(h, &h->strat, m.buff, 0,
                           env->map >= 0 ? env->node : "?");
  else
    PHC_LOG_D(MOD, "%s: a Gossip closure for a hub not on Gossip dropped",
              h->id);
  ei_x_free(&m);
  phc__x_atom(result, "ok");
  return 0;
}

int phc__hub_closure(phc_node_t *n, const erlang_fun *f, ei_x_buff *result) {
  env_t env;
  if (scan_env(n, f, &env) < 0 || !env.hub) return PHC_EUNDEF;
  if (ends_with(f->module, "Synchronization.PubSub") && env.list >= 0 &&
      *env.node) {
    phc__strat_handle_sync(env.hub, &env.hub->strat, f->u.closure.free_vars,
                           env.list, env.node);
    PHC_LOG_D(MOD, "%s: periodic sync from %s applied", env.hub->id, env.node);
    phc__x_atom(result, "ok");
    return 0;
  }
  if (ends_with(f->module, "Synchronization.Gossip"))
    return gossip_closure(f, &env, result);
  if (!strcmp(f->module, "Elixir.ProcessHub.Service.Distributor")) {
    enc_which_children(env.hub, result);
    return 0;
  }
  return PHC_EUNDEF;
}

/* exec_interval_sync(HubId, Strategy, [{ChildSpec, Pid, Meta}], Node) */
static int n_exec_interval_sync(phc_node_t *n, const phc_pid_t *caller,
                                const char *args, int len, ei_x_buff *result) {
  int idx = 1, arity, data;
  char id[PHC__ATOM_MAX], node[PHC__ATOM_MAX];
  phc_hub_t *h;
  PHC__UNUSED(caller);
  PHC__UNUSED(len);
  if (ei_decode_list_header(args, &idx, &arity) < 0 || arity != 4 ||
      phc__term_atom(args, &idx, id, sizeof id) < 0 ||
      !(h = phc__hub_find(n, id)) || ei_skip_term(args, &idx) < 0) {
    phc__x_atom(result, "badarg");
    return PHC_EINVAL;
  }
  data = idx;
  if (ei_skip_term(args, &idx) < 0 ||
      phc__term_atom(args, &idx, node, sizeof node) < 0) {
    phc__x_atom(result, "badarg");
    return PHC_EINVAL;
  }
  phc__strat_handle_sync(h, &h->strat, args, data, node);
  phc__x_atom(result, "ok");
  return 0;
}

int phc__hub_closure_natives_register(phc_node_t *n) {
  int rc = phc_native_register(n, "Elixir.ProcessHub.Service.Synchronizer",
                               "exec_interval_sync", 4, n_exec_interval_sync);
  return rc == PHC_EEXIST ? 0 : rc;
}

/* ---- rpc casts in place of closures ---------------------------------- */

int phc__hub_rex_cast(phc_hub_t *h, const char *node, const char *m,
                      const char *f, const char *args, int len) {
  ei_x_buff x;
  phc__x_new_with_version(&x);
  phc__x_tuple_header(&x, 2);
  phc__x_atom(&x, "$gen_cast");
  phc__x_tuple_header(&x, 5);
  phc__x_atom(&x, "cast");
  phc__x_atom(&x, m);
  phc__x_atom(&x, f);
  phc__x_append_buf(&x, args, len);
  phc__x_atom(&x, "user"); /* rpc:cast's group leader on the peer */
  int rc = phc_send_name(h->n, &h->coord, node, "rex", x.buff, x.index);
  ei_x_free(&x);
  if (rc)
    PHC_LOG_W(MOD, "%s: %s:%s to %s not sent: %s", h->id, m, f, node,
              phc_strerror(rc));
  return rc;
}
