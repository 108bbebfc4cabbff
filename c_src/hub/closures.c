/* closures.c - ProcessHub's closures that reach phc by spawn request.
 *
 * BEAM members send Elixir closures (erlang:apply(Fun, []) through
 * Node.spawn or erpc). phc cannot run Elixir code; it recognises the
 * closures it must answer by module, arity and the shape of their
 * environment, and carries out their effect natively:
 *
 *   PubSub periodic sync (module ...Synchronization.PubSub, env holds the
 *     hub struct, the sender's [{ChildSpec, Pid, Meta}] and its node):
 *     append and detach the sender's rows (Synchronizer.append_data and
 *     detach_data); returns ok.
 *   which_children(:global) (module ProcessHub.Service.Distributor, env
 *     holds the hub struct): returns {node(), [{Id, Pid, worker, [Mod]}]}.
 *
 * Anything else is not recognised and fails as an undefined function.
 */
#include <stdio.h>
#include <stdlib.h>

#include "../otp/otp.h"
#include "hub.h"

#define MOD "hub"
#define HUB_STRUCT "Elixir.ProcessHub.Hub"

static int ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && !strcmp(s + a - b, suffix);
}

/* The hub named by a %ProcessHub.Hub{hub_id: Id} map at buf[idx]. */
static phc__hub_t *hub_of_struct(phc_node_t *n, const char *buf, int idx) {
  int arity, is_hub = 0;
  char id[PHC__ATOM_MAX] = "";
  if (ei_decode_map_header(buf, &idx, &arity) < 0) return NULL;
  for (int i = 0; i < arity; i++) {
    char key[PHC__ATOM_MAX], val[PHC__ATOM_MAX];
    int k = ei_decode_atom(buf, &idx, key);
    int v = idx;
    if (ei_skip_term(buf, &idx) < 0) return NULL;
    if (k < 0) continue;
    if (!strcmp(key, "__struct__") && ei_decode_atom(buf, &v, val) == 0)
      is_hub = !strcmp(val, HUB_STRUCT);
    else if (!strcmp(key, "hub_id"))
      ei_decode_atom(buf, &v, id);
  }
  return is_hub && *id ? phc__hub_find(n, id) : NULL;
}

typedef struct env_s {
  phc__hub_t *hub;
  int list;               /* index of the first list, -1 if none */
  char node[PHC__ATOM_MAX];
} env_t;

static void scan_env(phc_node_t *n, const erlang_fun *f, env_t *env) {
  const char *b = f->u.closure.free_vars;
  int idx = 0;
  memset(env, 0, sizeof *env);
  env->list = -1;
  for (long i = 0; i < f->u.closure.n_free_vars; i++) {
    int type, size, at = idx;
    if (ei_get_type(b, &at, &type, &size) < 0) return;
    if (type == ERL_MAP_EXT && !env->hub) env->hub = hub_of_struct(n, b, idx);
    if ((type == ERL_LIST_EXT || type == ERL_NIL_EXT) && env->list < 0)
      env->list = idx;
    if (type == ERL_ATOM_EXT || type == ERL_SMALL_ATOM_EXT ||
        type == ERL_ATOM_UTF8_EXT || type == ERL_SMALL_ATOM_UTF8_EXT) {
      int t = idx;
      ei_decode_atom(b, &t, env->node);
    }
    if (ei_skip_term(b, &idx) < 0) return;
  }
}

/* Supervisor.which_children of the hub's children here, newest first. */
static void enc_which_children(phc__hub_t *h, ei_x_buff *x) {
  phc__reg_row_t **v;
  int n = phc__reg_sorted(&h->reg, &v), k = 0;
  for (int i = 0; i < n; i++) k += phc__reg_owner(v[i], h->n->name) != NULL;
  ei_x_encode_tuple_header(x, 2);
  ei_x_encode_atom(x, h->n->name);
  if (k) ei_x_encode_list_header(x, k);
  for (int i = n - 1; i >= 0; i--) {
    const phc__reg_owner_t *o = phc__reg_owner(v[i], h->n->name);
    if (!o) continue;
    char m[PHC__ATOM_MAX] = "undefined";
    int start, arity, idx = 0, nkeys;
    /* the spec's start module */
    if (ei_decode_map_header(v[i]->spec, &idx, &nkeys) == 0)
      for (int j = 0; j < nkeys; j++) {
        char key[PHC__ATOM_MAX];
        int isk = ei_decode_atom(v[i]->spec, &idx, key) == 0 &&
                  !strcmp(key, "start");
        start = idx;
        if (isk && ei_decode_tuple_header(v[i]->spec, &start, &arity) == 0)
          ei_decode_atom(v[i]->spec, &start, m);
        if (ei_skip_term(v[i]->spec, &idx) < 0) break;
      }
    ei_x_encode_tuple_header(x, 4);
    ei_x_append_buf(x, v[i]->cid, v[i]->cid_len);
    ei_x_encode_pid(x, &o->pid);
    ei_x_encode_atom(x, "worker");
    ei_x_encode_list_header(x, 1);
    ei_x_encode_atom(x, m);
    ei_x_encode_empty_list(x);
  }
  ei_x_encode_empty_list(x);
  free(v);
}

int phc__hub_closure(phc_node_t *n, const erlang_fun *f, ei_x_buff *result) {
  env_t env;
  scan_env(n, f, &env);
  if (!env.hub) return PHC_EUNDEF;
  if (ends_with(f->module, "Synchronization.PubSub") && env.list >= 0 &&
      *env.node) {
    phc__hub_apply_sync(env.hub, env.node, f->u.closure.free_vars, env.list,
                        1);
    PHC_LOG_D(MOD, "%s: periodic sync from %s applied", env.hub->id, env.node);
    ei_x_encode_atom(result, "ok");
    return 0;
  }
  if (!strcmp(f->module, "Elixir.ProcessHub.Service.Distributor")) {
    enc_which_children(env.hub, result);
    return 0;
  }
  return PHC_EUNDEF;
}
