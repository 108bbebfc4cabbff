/* api.c - ProcessHub's query and start/stop functions, for C callers
 * (include/phc.h) and as natives for :erpc.call(phc, ProcessHub, F, A). */
#include <stdio.h>
#include <stdlib.h>

#include "hub/child_data.h"
#include "hub/hub.h"
#include "otp/otp.h"
#include "term/enc.h"
#include "term/term.h"

#define MOD "hub"

/* ---- C API ----------------------------------------------------------- */

/* The OTP release whose map order the queries follow: the peers' (as the
 * ring's encoding does), else the ring's encoding. */
static int api_map_release(const phc_hub_t *h) {
  int rel = h->n->hubs ? h->n->hubs->last_release : 0;
  if (rel > 0) return rel;
  return h->ring.enc == PHC_RING_OTP26 ? 26 : 25;
}

int phc_hub_process_list(phc_hub_t *h, int global, ei_x_buff *out) {
  phc__reg_enc_process_list(&h->reg, global ? NULL : h->n->name,
                            api_map_release(h), out);
  return 0;
}

int phc_hub_registry_dump(phc_hub_t *h, ei_x_buff *out) {
  phc__reg_enc_dump(&h->reg, api_map_release(h), out);
  return 0;
}

int phc_hub_nodes(phc_hub_t *h, int include_local, ei_x_buff *out) {
  int k = 0;
  for (int i = 0; i < h->nnodes; i++)
    k += include_local || strcmp(h->nodes[i], h->n->name) != 0;
  if (k) phc__x_list_header(out, k);
  for (int i = 0; i < h->nnodes; i++)
    if (include_local || strcmp(h->nodes[i], h->n->name) != 0)
      phc__x_atom(out, h->nodes[i]);
  phc__x_empty_list(out);
  return 0;
}

int phc_hub_child_lookup(phc_hub_t *h, const char *cid, int cid_len,
                         int with_metadata, ei_x_buff *out) {
  phc__reg_enc_lookup(&h->reg, cid, cid_len, with_metadata, out);
  return 0;
}

int phc_hub_tag_query(phc_hub_t *h, const char *tag, int tag_len,
                      ei_x_buff *out) {
  phc__reg_enc_tag_query(&h->reg, tag, tag_len, out);
  return 0;
}

int phc_hub_get_pids(phc_hub_t *h, const char *cid, int cid_len,
                     ei_x_buff *out) {
  phc__reg_row_t *row = phc__reg_find(&h->reg, cid, cid_len);
  int n = row ? row->nowners : 0;
  if (n) phc__x_list_header(out, n);
  for (int i = 0; i < n; i++)
    phc__x_pid(out, &row->owners[i].pid);
  phc__x_empty_list(out);
  return 0;
}

int phc_hub_register_hooks(phc_hub_t *h, const char *key,
                           const phc_hook_handler_t *handlers, int n) {
  return phc__hooks_register(h->hooks, key, handlers, n);
}

int phc_hub_cancel_hook(phc_hub_t *h, const char *key, const char *id) {
  return phc__hooks_cancel(h->hooks, key, id);
}

/* ---- starting and stopping from phc ---------------------------------- */

static void enc_default_opts(ei_x_buff *x) {
  phc__x_list_header(x, 1);
  phc__x_tuple_header(x, 2);
  phc__x_atom(x, "check_existing");
  phc__x_atom(x, "true");
  phc__x_empty_list(x);
}

/* {start_children, [#{child_id, child_spec, hub_id, metadata => #{},
 * nodes => Owners}], [{check_existing, true}]} to each owner. */
static void cast_start(phc_hub_t *h, const char *spec, int slen,
                       const char *cid, int clen, const char **owners, int k) {
  ei_x_buff req;
  phc__x_new(&req);
  phc__x_tuple_header(&req, 3);
  phc__x_atom(&req, "start_children");
  phc__x_list_header(&req, 1);
  phc__x_map_header(&req, 5);
  phc__x_atom(&req, "child_id");
  phc__x_append_buf(&req, cid, clen);
  phc__x_atom(&req, "child_spec");
  phc__x_append_buf(&req, spec, slen);
  phc__x_atom(&req, "hub_id");
  phc__x_atom(&req, h->id);
  phc__x_atom(&req, "metadata");
  phc__x_map_header(&req, 0);
  phc__x_atom(&req, "nodes");
  phc__x_list_header(&req, k);
  for (int i = 0; i < k; i++)
    phc__x_atom(&req, owners[i]);
  phc__x_empty_list(&req);
  phc__x_empty_list(&req);
  enc_default_opts(&req);
  for (int i = 0; i < k; i++)
    phc__hub_cast(h, owners[i], req.buff, req.index);
  ei_x_free(&req);
}

/* Distributor.init_children without await: the distribution validates the
 * children (children_init) and places each (belongs_to with the
 * replication factor); one cast per owner. */
int phc_hub_start_children(phc_hub_t *h, const char *specs, int len) {
  int idx = 1, n;
  PHC__UNUSED(len);
  if (ei_decode_list_header(specs, &idx, &n) < 0) return PHC_EINVAL;
  if (n == 0) return PHC_EINVAL;
  int rc = phc__strat_children_init(h, &h->strat, specs, 1, -1);
  if (rc) return rc;
  for (int i = 0; i < n; i++) {
    int spec = idx, cid;
    if (ei_skip_term(specs, &idx) < 0) return PHC_EDECODE;
    if (phc__term_map_get(specs, spec, "id", &cid) < 0) return PHC_EINVAL;
    int clen = phc__hub_term_len(specs, cid);
    if (clen < 0) return PHC_EDECODE;
    if (phc__reg_find(&h->reg, specs + cid, clen)) return PHC_EEXIST;
    const char *owners[PHC__HUB_MAX_NODES];
    int k = phc__strat_belongs_to(h, &h->strat, specs + cid, clen, owners,
                                  PHC__HUB_MAX_NODES);
    if (k == PHC_ELIMIT) return PHC_EINVAL; /* an id too long to place */
    if (k < 1) return PHC_ESTATE;
    cast_start(h, specs + spec, idx - spec, specs + cid, clen, owners, k);
  }
  return 0;
}

int phc_hub_stop_children(phc_hub_t *h, const char *cids, int len) {
  int idx = 1, n;
  PHC__UNUSED(len);
  if (ei_decode_list_header(cids, &idx, &n) < 0) return PHC_EINVAL;
  for (int i = 0; i < n; i++) {
    int cid = idx;
    if (ei_skip_term(cids, &idx) < 0) return PHC_EDECODE;
    phc__reg_row_t *row = phc__reg_find(&h->reg, cids + cid, idx - cid);
    for (int j = 0; row && j < row->nowners; j++) {
      ei_x_buff req;
      phc__x_new(&req);
      phc__x_tuple_header(&req, 3);
      phc__x_atom(&req, "stop_children");
      phc__x_list_header(&req, 1);
      phc__x_map_header(&req, 2);
      phc__x_atom(&req, "child_id");
      phc__x_append_buf(&req, cids + cid, idx - cid);
      phc__x_atom(&req, "nodes");
      phc__x_list_header(&req, 1);
      phc__x_atom(&req, row->owners[j].node);
      phc__x_empty_list(&req);
      phc__x_empty_list(&req);
      enc_default_opts(&req);
      phc__hub_cast(h, row->owners[j].node, req.buff, req.index);
      ei_x_free(&req);
    }
  }
  return 0;
}

/* ---- natives: 'Elixir.ProcessHub':F(HubId, ...) ----------------------- */

typedef struct args_s {
  phc_hub_t *h;
  const char *buf;
  int arg[3]; /* indices of the arguments after HubId */
  int nargs;
} args_t;

/* Decode [HubId | Rest]; an unknown hub raises badarg, as the ETS lookup
 * on a BEAM node does. */
static int hub_args(phc_node_t *n, const char *args, args_t *a,
                    ei_x_buff *result) {
  int idx = 1, arity;
  char id[PHC__ATOM_MAX];
  memset(a, 0, sizeof *a);
  a->buf = args;
  if (ei_decode_list_header(args, &idx, &arity) < 0 || arity < 1 ||
      phc__term_atom(args, &idx, id, sizeof id) < 0 ||
      !(a->h = phc__hub_find(n, id))) {
    phc__x_atom(result, "badarg");
    return PHC_EINVAL;
  }
  for (int i = 1; i < arity && i <= 3; i++) {
    a->arg[i - 1] = idx;
    a->nargs++;
    if (ei_skip_term(args, &idx) < 0) return PHC_EDECODE;
  }
  return 0;
}

static int arg_len(const args_t *a, int i) {
  int end = a->arg[i];
  return ei_skip_term(a->buf, &end) < 0 ? 0 : end - a->arg[i];
}

#define NATIVE(name)                                                           \
  static int name(phc_node_t *n, const phc_pid_t *caller, const char *args,    \
                  int len, ei_x_buff *result)
#define PROLOGUE                                                               \
  args_t a;                                                                    \
  PHC__UNUSED(caller);                                                         \
  PHC__UNUSED(len);                                                            \
  int rc_ = hub_args(n, args, &a, result);                                     \
  if (rc_) return rc_

NATIVE(n_process_list) {
  PROLOGUE;
  return phc_hub_process_list(a.h, !phc__term_atom_eq(a.buf, a.arg[0], "local"),
                              result);
}

NATIVE(n_registry_dump) {
  PROLOGUE;
  return phc_hub_registry_dump(a.h, result);
}

/* registry/1 (process_registry): #{Cid => {Spec, Nodes}} */
NATIVE(n_process_registry) {
  PROLOGUE;
  phc__reg_row_t **v;
  int k = phc__reg_sorted(&a.h->reg, &v);
  phc__x_map_header(result, k);
  for (int i = 0; i < k; i++) {
    phc__x_append_buf(result, v[i]->cid, v[i]->cid_len);
    phc__x_tuple_header(result, 2);
    phc__x_append_buf(result, v[i]->spec, v[i]->spec_len);
    phc__reg_enc_owners(v[i], result);
  }
  free(v);
  return 0;
}

NATIVE(n_nodes1) {
  PROLOGUE;
  return phc_hub_nodes(a.h, 0, result);
}

NATIVE(n_nodes2) {
  PROLOGUE;
  return phc_hub_nodes(
      a.h, phc__term_has_atom(a.buf, a.arg[0], "include_local"), result);
}

NATIVE(n_child_lookup2) {
  PROLOGUE;
  return phc_hub_child_lookup(a.h, args + a.arg[0], arg_len(&a, 0), 0, result);
}

/* child_lookup(Hub, Cid, Opts): Opts may hold {with_metadata, true}. */
NATIVE(n_child_lookup3) {
  PROLOGUE;
  int with_meta = 0, idx = a.arg[1], k;
  if (ei_decode_list_header(args, &idx, &k) == 0) {
    for (int i = 0; i < k; i++) {
      int ta, t = idx;
      char atom[PHC__ATOM_MAX];
      if (ei_decode_tuple_header(args, &t, &ta) == 0 && ta == 2 &&
          phc__term_atom(args, &t, atom, sizeof atom) == 0 &&
          !strcmp(atom, "with_metadata") &&
          phc__term_atom(args, &t, atom, sizeof atom) == 0 &&
          !strcmp(atom, "true"))
        with_meta = 1;
      if (ei_skip_term(args, &idx) < 0) break;
    }
  }
  return phc_hub_child_lookup(a.h, args + a.arg[0], arg_len(&a, 0), with_meta,
                              result);
}

NATIVE(n_tag_query) {
  PROLOGUE;
  return phc_hub_tag_query(a.h, args + a.arg[0], arg_len(&a, 0), result);
}

NATIVE(n_get_pids) {
  PROLOGUE;
  return phc_hub_get_pids(a.h, args + a.arg[0], arg_len(&a, 0), result);
}

NATIVE(n_get_pid) {
  PROLOGUE;
  phc__reg_row_t *row =
      phc__reg_find(&a.h->reg, args + a.arg[0], arg_len(&a, 0));
  if (row && row->nowners)
    phc__x_pid(result, &row->owners[0].pid);
  else
    phc__x_atom(result, "nil");
  return 0;
}

NATIVE(n_is_alive) {
  int idx = 1, arity;
  char id[PHC__ATOM_MAX];
  PHC__UNUSED(caller);
  PHC__UNUSED(len);
  int ok = ei_decode_list_header(args, &idx, &arity) == 0 && arity == 1 &&
           phc__term_atom(args, &idx, id, sizeof id) == 0 &&
           phc__hub_find(n, id);
  phc__x_atom(result, ok ? "true" : "false");
  return 0;
}

NATIVE(n_is_locked) {
  PROLOGUE;
  phc__x_atom(result, a.h->locked ? "true" : "false");
  return 0;
}

NATIVE(n_is_partitioned) {
  PROLOGUE;
  phc__x_atom(result, phc_hub_is_partitioned(a.h) ? "true" : "false");
  return 0;
}

int phc_hub_is_partitioned(const phc_hub_t *h) { return h && h->partitioned; }

/* ---- hook handlers given as %HookManager{id, m, f, a, p} -------------- */

typedef struct mfa_hook_s {
  phc_node_t *n;
  char m[PHC__ATOM_MAX], f[PHC__ATOM_MAX];
} mfa_hook_t;

/* apply(M, F, A') where A' is the template with '_' filled in: the
 * function must be one of phc's natives (erlang:send/2, ...). */
static int mfa_hook(void *arg, const char *key, const char *term, int len,
                    ei_x_buff *out) {
  mfa_hook_t *mh = arg;
  int idx = 1, arity;
  if (ei_decode_list_header(term, &idx, &arity) < 0) return PHC_EINVAL;
  phc_native_fn fn = phc__native_find(mh->n, mh->m, mh->f, arity);
  if (!fn) {
    PHC_LOG_W(MOD, "hook %s: %s:%s/%d is not a function phc has", key, mh->m,
              mh->f, arity);
    return PHC_EUNDEF;
  }
  ei_x_buff result;
  phc__x_new_with_version(&result);
  int rc = fn(mh->n, NULL, term, len, &result);
  if (rc == 0) phc__x_append_buf(out, result.buff + 1, result.index - 1);
  ei_x_free(&result);
  return rc;
}

/* The handler's id term as a string: "t:" and its bytes in hex. */
static void id_string(const char *buf, int idx, char *out, size_t max) {
  static const char hex[] = "0123456789abcdef";
  int end = idx;
  size_t j = 2;
  ei_skip_term(buf, &end);
  out[0] = 't';
  out[1] = ':';
  for (int i = idx; i < end && j + 2 < max; i++) {
    out[j++] = hex[(unsigned char)buf[i] >> 4];
    out[j++] = hex[(unsigned char)buf[i] & 15];
  }
  out[j] = 0;
}

static int decode_handler(phc_node_t *n, const char *buf, int idx,
                          phc_hook_handler_t *hd, char *id, size_t idmax) {
  int arity, v;
  mfa_hook_t *mh = phc__xcalloc(1, sizeof *mh);
  mh->n = n;
  memset(hd, 0, sizeof *hd);
  if (ei_decode_map_header(buf, &idx, &arity) < 0) goto bad;
  int has_id = 0;
  for (int i = 0; i < arity; i++) {
    char k[PHC__ATOM_MAX];
    if (phc__term_atom(buf, &idx, k, sizeof k) < 0) goto bad;
    v = idx;
    if (ei_skip_term(buf, &idx) < 0) goto bad;
    long p;
    if (!strcmp(k, "id")) {
      id_string(buf, v, id, idmax);
      has_id = 1;
    } else if (!strcmp(k, "m")) {
      if (phc__term_atom(buf, &v, mh->m, sizeof mh->m) < 0) goto bad;
    } else if (!strcmp(k, "f")) {
      if (phc__term_atom(buf, &v, mh->f, sizeof mh->f) < 0) goto bad;
    } else if (!strcmp(k, "a")) {
      hd->tmpl = phc__term_with_version(buf + v, idx - v, &hd->tmpl_len);
    } else if (!strcmp(k, "p") && ei_decode_long(buf, &v, &p) == 0) {
      hd->priority = (int)p;
    }
  }
  if (!has_id || !*mh->m || !*mh->f) goto bad;
  hd->id = id;
  hd->fn = mfa_hook;
  hd->arg = mh;
  hd->free_arg = free;
  return 0;
bad:
  free(mh);
  free((void *)hd->tmpl);
  hd->tmpl = NULL;
  return PHC_EINVAL;
}

/* register_hook_handlers(Hub, Key, [%HookManager{}]) -> ok | {error, _} */
NATIVE(n_register_hooks) {
  PROLOGUE;
  char key[PHC__ATOM_MAX];
  int idx = a.arg[0], k;
  enum { MAXH = 32 };
  phc_hook_handler_t hd[MAXH];
  char ids[MAXH][96];
  int rc = phc__term_atom(args, &idx, key, sizeof key) == 0 ? 0 : PHC_EINVAL;
  idx = a.arg[1];
  if (rc == 0 && (ei_decode_list_header(args, &idx, &k) < 0 || k > MAXH))
    rc = PHC_EINVAL;
  int got = 0;
  for (int i = 0; rc == 0 && i < k; i++) {
    int at = idx;
    if (ei_skip_term(args, &idx) < 0 ||
        decode_handler(n, args, at, &hd[got], ids[got], sizeof ids[got]) != 0)
      rc = PHC_EINVAL;
    else
      got++;
  }
  if (rc == 0) rc = phc__hooks_register(a.h->hooks, key, hd, got);
  for (int i = 0; i < got; i++) {
    free((void *)hd[i].tmpl);
    if (rc) free(hd[i].arg);
  }
  if (rc == 0) {
    phc__x_atom(result, "ok");
  } else {
    phc__x_tuple_header(result, 2);
    phc__x_atom(result, "error");
    phc__x_atom(result, "failed_to_register_some_handlers");
  }
  return 0;
}

/* cancel_hook_handlers(Hub, Key, [Id]) -> ok */
NATIVE(n_cancel_hooks) {
  PROLOGUE;
  char key[PHC__ATOM_MAX], id[96];
  int idx = a.arg[0], k;
  if (phc__term_atom(args, &idx, key, sizeof key) < 0) goto bad;
  idx = a.arg[1];
  if (ei_decode_list_header(args, &idx, &k) < 0) goto bad;
  for (int i = 0; i < k; i++) {
    id_string(args, idx, id, sizeof id);
    phc__hooks_cancel(a.h->hooks, key, id);
    if (ei_skip_term(args, &idx) < 0) goto bad;
  }
  phc__x_atom(result, "ok");
  return 0;
bad:
  phc__x_atom(result, "badarg");
  return PHC_EINVAL;
}

/* ---- Supervisor.which_children of the hub's supervisor --------------- */

/* The hub whose supervisor `name` (at buf[idx]) is: ProcessHub's
 * {via, 'Elixir.Registry', {'hub.<Id>.system_registry', <<"dist_sup">>}},
 * or the supervisor's pid. NULL for any other name. */
static phc_hub_t *dist_sup_hub(phc_node_t *n, const char *buf, int idx) {
  erlang_pid pid;
  char reg[PHC__ATOM_MAX], bin[16];
  int t = idx, arity, type, size;
  long blen;
  if (ei_decode_pid(buf, &t, &pid) == 0) {
    for (phc_hub_t *h = n->hubs ? n->hubs->list : NULL; h; h = h->next)
      if (phc_pid_eq(&pid, &h->sup_pid)) return h;
    return NULL;
  }
  t = idx;
  if (ei_decode_tuple_header(buf, &t, &arity) < 0 || arity != 3 ||
      !phc__term_atom_eq(buf, t, "via") || ei_skip_term(buf, &t) < 0 ||
      !phc__term_atom_eq(buf, t, "Elixir.Registry") ||
      ei_skip_term(buf, &t) < 0 ||
      ei_decode_tuple_header(buf, &t, &arity) < 0 || arity != 2 ||
      phc__term_atom(buf, &t, reg, sizeof reg) < 0 ||
      ei_get_type(buf, &t, &type, &size) < 0 || type != ERL_BINARY_EXT ||
      size != 8 || ei_decode_binary(buf, &t, bin, &blen) < 0 ||
      memcmp(bin, "dist_sup", 8) != 0)
    return NULL;
  size_t rl = strlen(reg);
  const char *pre = "hub.", *suf = ".system_registry";
  if (rl <= strlen(pre) + strlen(suf) || strncmp(reg, pre, strlen(pre)) ||
      strcmp(reg + rl - strlen(suf), suf))
    return NULL;
  reg[rl - strlen(suf)] = 0;
  return phc__hub_find(n, reg + strlen(pre));
}

/* One {Id, Pid | undefined, worker, [Module]}; Id is the child id the
 * supervisor id encodes. */
static void enc_sup_child(void *arg, const char *id, const char *module,
                          const phc_pid_t *pid) {
  ei_x_buff *x = arg;
  int max = (int)strlen(id) / 2 + 1;
  char *cid = phc__xmalloc((size_t)max);
  int len = phc__child_data_cid(id, cid, max);
  phc__x_tuple_header(x, 4);
  if (len > 0)
    phc__x_append_buf(x, cid, len);
  else
    phc__x_binary(x, id, (int)strlen(id));
  pid ? phc__x_pid(x, pid) : phc__x_atom(x, "undefined");
  phc__x_atom(x, "worker");
  phc__x_list_header(x, 1);
  phc__x_atom(x, module ? module : "undefined");
  phc__x_empty_list(x);
  free(cid);
}

/* Supervisor.which_children(Name) for a hub's supervisor: what its
 * supervisor runs here, read from the supervisor itself (not from the
 * registry), as a BEAM member answers for its DistributedSupervisor. Any
 * other name exits noproc as gen_server:call does. */
static int n_which_children(phc_node_t *n, const phc_pid_t *caller,
                            const char *args, int len, ei_x_buff *result) {
  int idx = 1, arity;
  PHC__UNUSED(caller);
  PHC__UNUSED(len);
  if (ei_decode_list_header(args, &idx, &arity) < 0 || arity != 1) {
    phc__x_atom(result, "badarg");
    return PHC_EINVAL;
  }
  phc_hub_t *h = dist_sup_hub(n, args, idx);
  if (!h || !h->sup) {
    phc__x_tuple_header(result, 2);
    phc__x_atom(result, "noproc");
    phc__x_tuple_header(result, 3);
    phc__x_atom(result, "Elixir.GenServer");
    phc__x_atom(result, "call");
    phc__x_list_header(result, 3);
    phc__x_append_buf(result, args + idx, phc__hub_term_len(args, idx));
    phc__x_atom(result, "which_children");
    phc__x_atom(result, "infinity");
    phc__x_empty_list(result);
    return phc__otp_raise_exit(n);
  }
  int k = phc__sup_count(h->sup, NULL);
  if (k) phc__x_list_header(result, k);
  phc__sup_each(h->sup, enc_sup_child, result);
  phc__x_empty_list(result);
  return 0;
}

int phc__hub_natives_register(phc_node_t *n) {
  static const struct {
    const char *f;
    int arity;
    phc_native_fn fn;
  } t[] = {{"process_list", 2, n_process_list},
           {"registry_dump", 1, n_registry_dump},
           {"process_registry", 1, n_process_registry},
           {"nodes", 1, n_nodes1},
           {"nodes", 2, n_nodes2},
           {"child_lookup", 2, n_child_lookup2},
           {"child_lookup", 3, n_child_lookup3},
           {"tag_query", 2, n_tag_query},
           {"get_pids", 2, n_get_pids},
           {"get_pid", 2, n_get_pid},
           {"is_alive?", 1, n_is_alive},
           {"is_locked?", 1, n_is_locked},
           {"is_partitioned?", 1, n_is_partitioned},
           {"register_hook_handlers", 3, n_register_hooks},
           {"cancel_hook_handlers", 3, n_cancel_hooks}};
  for (size_t i = 0; i < PHC__ARRAY_LEN(t); i++) {
    int rc = phc_native_register(n, "Elixir.ProcessHub", t[i].f, t[i].arity,
                                 t[i].fn);
    if (rc && rc != PHC_EEXIST) return rc;
  }
  static const char *const sups[] = {"Elixir.Supervisor", "supervisor"};
  for (size_t i = 0; i < PHC__ARRAY_LEN(sups); i++) {
    int rc =
        phc_native_register(n, sups[i], "which_children", 1, n_which_children);
    if (rc && rc != PHC_EEXIST) return rc;
  }
  int rc = phc__hub_ctl_natives_register(n);
  return rc ? rc : phc__hub_closure_natives_register(n);
}
