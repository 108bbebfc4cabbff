/* handle.c - ProcessHub's StartHandle, StopHandle and the registry events
 * (registration, unregistration, pid update, sync), and the hub's local
 * children under its supervisor. */
#include <stdio.h>
#include <stdlib.h>

#include "hub/hub.h"
#include "proc/proc.h"

#define MOD "hub"
#define PSD_STRUCT "Elixir.ProcessHub.Handler.ChildrenAdd.PostStartData"
#define MAX_REPLY_TO 16

/* ---- term helpers ---------------------------------------------------- */

static int term_len(const char *buf, int idx) {
  int end = idx;
  return ei_skip_term(buf, &end) < 0 ? -1 : end - idx;
}

/* Supervisor ids are the child id's bytes in hex. */
static void cid_to_id(const char *cid, int len, char *out, size_t max) {
  static const char hex[] = "0123456789abcdef";
  size_t j = 0;
  for (int i = 0; i < len && j + 2 < max; i++) {
    out[j++] = hex[(unsigned char)cid[i] >> 4];
    out[j++] = hex[(unsigned char)cid[i] & 15];
  }
  out[j] = 0;
}

static int id_to_cid(const char *id, char *out, int max) {
  int n = 0;
  for (; id[0] && id[1] && n < max; id += 2) {
    unsigned v;
    if (sscanf(id, "%2x", &v) != 1) return -1;
    out[n++] = (char)v;
  }
  return n;
}

/* A list built item by item: the header is written at the end. */
typedef struct list_s {
  ei_x_buff items;
  int n;
} list_t;

static void list_init(list_t *l) {
  ei_x_new(&l->items);
  l->n = 0;
}

static void list_close(list_t *l, ei_x_buff *x) {
  if (l->n) ei_x_encode_list_header(x, l->n);
  ei_x_append_buf(x, l->items.buff, l->items.index);
  ei_x_encode_empty_list(x);
  ei_x_free(&l->items);
}

/* ---- starting one child ---------------------------------------------- */

typedef struct child_data_s {
  const char *buf;
  int map;            /* index of the ChildData map */
  int cid, cid_len;   /* child_spec.id */
  int spec, spec_len;
  int meta, meta_len; /* -1: none (then #{}) */
  int nodes;          /* index of the nodes list, -1 if missing */
} child_data_t;

static int child_data_decode(const char *buf, int idx, child_data_t *cd) {
  memset(cd, 0, sizeof *cd);
  cd->buf = buf;
  cd->map = idx;
  cd->meta = cd->nodes = -1;
  if (phc__term_map_get(buf, idx, "child_spec", &cd->spec) < 0 ||
      (cd->spec_len = term_len(buf, cd->spec)) < 0 ||
      phc__term_map_get(buf, cd->spec, "id", &cd->cid) < 0 ||
      (cd->cid_len = term_len(buf, cd->cid)) < 0)
    return PHC_EDECODE;
  if (phc__term_map_get(buf, idx, "metadata", &cd->meta) == 0)
    cd->meta_len = term_len(buf, cd->meta);
  if (phc__term_map_get(buf, idx, "nodes", &cd->nodes) < 0) cd->nodes = -1;
  return 0;
}

static void enc_meta(const child_data_t *cd, ei_x_buff *x) {
  if (cd->meta >= 0 && cd->meta_len > 0)
    ei_x_append_buf(x, cd->buf + cd->meta, cd->meta_len);
  else
    ei_x_encode_map_header(x, 0);
}

static int spec_restart(const child_data_t *cd) {
  int v;
  if (phc__term_map_get(cd->buf, cd->spec, "restart", &v) == 0) {
    if (phc__term_atom_eq(cd->buf, v, "transient")) return PHC__SUP_TRANSIENT;
    if (phc__term_atom_eq(cd->buf, v, "temporary")) return PHC__SUP_TEMPORARY;
  }
  return PHC__SUP_PERMANENT;
}

static int spec_shutdown(const child_data_t *cd) {
  int v;
  long ms;
  if (phc__term_map_get(cd->buf, cd->spec, "shutdown", &v) < 0) return 5000;
  if (phc__term_atom_eq(cd->buf, v, "brutal_kill"))
    return PHC__SUP_BRUTAL_KILL;
  if (phc__term_atom_eq(cd->buf, v, "infinity")) return PHC__SUP_INFINITY;
  return ei_decode_long(cd->buf, &v, &ms) == 0 && ms > 0 ? (int)ms : 5000;
}

/* {error, {undef, [{M, F, A, []}]}}: what Supervisor.start_child gives for
 * a module that does not exist. */
static void enc_undef(ei_x_buff *r, const char *buf, int mfa) {
  int arity;
  ei_x_encode_tuple_header(r, 2);
  ei_x_encode_atom(r, "error");
  ei_x_encode_tuple_header(r, 2);
  ei_x_encode_atom(r, "undef");
  ei_x_encode_list_header(r, 1);
  ei_x_encode_tuple_header(r, 4);
  int idx = mfa;
  if (mfa >= 0 && ei_decode_tuple_header(buf, &idx, &arity) == 0 &&
      arity == 3) {
    int len = term_len(buf, idx);
    ei_x_append_buf(r, buf + idx, len > 0 ? len : 0);
    idx += len;
    len = term_len(buf, idx);
    ei_x_append_buf(r, buf + idx, len > 0 ? len : 0);
    idx += len;
    len = term_len(buf, idx);
    ei_x_append_buf(r, buf + idx, len > 0 ? len : 0);
  } else {
    ei_x_encode_atom(r, "undefined");
    ei_x_encode_atom(r, "undefined");
    ei_x_encode_empty_list(r);
  }
  ei_x_encode_empty_list(r);
  ei_x_encode_empty_list(r);
}

static void deliver_handover(phc_hub_t *h, const child_data_t *cd,
                             const erlang_pid *pid) {
  for (phc__hub_handover_t **p = &h->handovers; *p; p = &(*p)->next) {
    phc__hub_handover_t *ho = *p;
    if (ho->cid_len != cd->cid_len ||
        memcmp(ho->cid, cd->buf + cd->cid, (size_t)cd->cid_len) != 0)
      continue;
    ei_x_buff m; /* {process_hub, handover, Cid, {State, []}} */
    ei_x_new_with_version(&m);
    ei_x_encode_tuple_header(&m, 4);
    ei_x_encode_atom(&m, "process_hub");
    ei_x_encode_atom(&m, "handover");
    ei_x_append_buf(&m, ho->cid, ho->cid_len);
    ei_x_encode_tuple_header(&m, 2);
    ei_x_append_buf(&m, ho->state + 1, ho->state_len - 1);
    ei_x_encode_empty_list(&m);
    phc_send(h->n, &h->coord, pid, m.buff, m.index);
    ei_x_free(&m);
    *p = ho->next;
    free(ho->cid);
    free(ho->state);
    free(ho);
    return;
  }
}

/* Start a child locally. *pid set on success (and on already_started).
 * The result term goes to r. Returns 1 if *pid is valid. */
static int start_local(phc_hub_t *h, const child_data_t *cd, erlang_pid *pid,
                       ei_x_buff *r) {
  char id[2 * 256 + 1], m[PHC__ATOM_MAX], f[PHC__ATOM_MAX];
  const char *buf = cd->buf;
  if (cd->cid_len > 256) {
    ei_x_encode_tuple_header(r, 2);
    ei_x_encode_atom(r, "error");
    ei_x_encode_atom(r, "child_id_too_long");
    return 0;
  }
  cid_to_id(buf + cd->cid, cd->cid_len, id, sizeof id);
  if (phc__sup_which_child(h->sup, id, pid) == 0) {
    ei_x_encode_tuple_header(r, 2);
    ei_x_encode_atom(r, "error");
    ei_x_encode_tuple_header(r, 2);
    ei_x_encode_atom(r, "already_started");
    ei_x_encode_pid(r, pid);
    return 1;
  }
  int mfa = -1, idx = 0, arity;
  int has_start = phc__term_map_get(buf, cd->spec, "start", &mfa) == 0;
  idx = mfa;
  if (!has_start || ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 3 ||
      ei_decode_atom(buf, &idx, m) < 0 || ei_decode_atom(buf, &idx, f) < 0 ||
      !phc_child_type_find(h->n, m) ||
      (strcmp(f, "start_link") != 0 && strcmp(f, "start") != 0)) {
    enc_undef(r, buf, has_start ? mfa : -1);
    return 0;
  }
  int alen;
  char *args = phc__term_with_version(buf + idx, term_len(buf, idx), &alen);
  phc__sup_spec_t spec = {.id = id, .module = m, .args = args,
                          .args_len = alen, .restart = spec_restart(cd),
                          .shutdown_ms = spec_shutdown(cd)};
  phc__sup_delete_child(h->sup, id); /* a stopped earlier incarnation */
  int rc = phc__sup_start_child(h->sup, &spec, pid);
  free(args);
  ei_x_encode_tuple_header(r, 2);
  if (rc) {
    ei_x_encode_atom(r, "error");
    ei_x_encode_atom(r, phc_strerror(rc));
    return 0;
  }
  ei_x_encode_atom(r, "ok");
  ei_x_encode_pid(r, pid);
  deliver_handover(h, cd, pid);
  return 1;
}

static void enc_psd(phc_hub_t *h, const child_data_t *cd, const erlang_pid *pid,
                    const ei_x_buff *result, ei_x_buff *x) {
  const char *me = h->n->name;
  ei_x_encode_map_header(x, 10);
  ei_x_encode_atom(x, "__struct__");
  ei_x_encode_atom(x, PSD_STRUCT);
  ei_x_encode_atom(x, "child_nodes");
  ei_x_encode_list_header(x, 1);
  ei_x_encode_tuple_header(x, 2);
  ei_x_encode_atom(x, me);
  pid ? ei_x_encode_pid(x, pid) : ei_x_encode_atom(x, "nil");
  ei_x_encode_empty_list(x);
  ei_x_encode_atom(x, "child_spec");
  ei_x_append_buf(x, cd->buf + cd->spec, cd->spec_len);
  ei_x_encode_atom(x, "cid");
  ei_x_append_buf(x, cd->buf + cd->cid, cd->cid_len);
  ei_x_encode_atom(x, "for_node");
  ei_x_encode_tuple_header(x, 2);
  ei_x_encode_atom(x, me);
  ei_x_encode_list_header(x, 1);
  ei_x_encode_tuple_header(x, 2);
  ei_x_encode_atom(x, "migration");
  ei_x_encode_atom(x, "false");
  ei_x_encode_empty_list(x);
  ei_x_encode_atom(x, "has_errors");
  ei_x_encode_atom(x, pid ? "false" : "true");
  ei_x_encode_atom(x, "metadata");
  enc_meta(cd, x);
  ei_x_encode_atom(x, "nodes");
  int nl = cd->nodes >= 0 ? term_len(cd->buf, cd->nodes) : -1;
  if (nl > 0)
    ei_x_append_buf(x, cd->buf + cd->nodes, nl);
  else
    ei_x_encode_empty_list(x);
  ei_x_encode_atom(x, "pid");
  pid ? ei_x_encode_pid(x, pid) : ei_x_encode_atom(x, "nil");
  ei_x_encode_atom(x, "result");
  ei_x_append_buf(x, result->buff, result->index);
}

/* ---- registry changes with their hooks --------------------------------- */

static void hook_cid_owners(phc_hub_t *h, const char *key, const char *cid,
                            int clen, const phc__reg_owner_t *o, int n) {
  ei_x_buff d;
  ei_x_new_with_version(&d);
  ei_x_encode_tuple_header(&d, 2);
  ei_x_append_buf(&d, cid, clen);
  if (n) ei_x_encode_list_header(&d, n);
  for (int i = 0; i < n; i++) {
    ei_x_encode_tuple_header(&d, 2);
    ei_x_encode_atom(&d, o[i].node);
    ei_x_encode_pid(&d, &o[i].pid);
  }
  ei_x_encode_empty_list(&d);
  phc__hub_hook(h, key, &d);
  ei_x_free(&d);
}

/* ProcessRegistry.bulk_insert of one row: merge, then registry_pid_insert
 * with the pairs that are new or changed (get_insert_diff's order). */
static void reg_merge_hooked(phc_hub_t *h, const char *cid, int clen,
                             const char *spec, int slen, const char *meta,
                             int mlen, const phc__reg_owner_t *o, int n) {
  phc__reg_owner_t diff[PHC__HUB_MAX_NODES];
  int k = 0;
  const phc__reg_row_t *row = phc__reg_find(&h->reg, cid, clen);
  for (int i = n - 1; i >= 0 && k < PHC__HUB_MAX_NODES; i--) {
    const phc__reg_owner_t *old = row ? phc__reg_owner(row, o[i].node) : NULL;
    if (!old || !phc_pid_eq(&old->pid, &o[i].pid)) diff[k++] = o[i];
  }
  phc__reg_merge(&h->reg, cid, clen, spec, slen, meta, mlen, o, n);
  if (k) hook_cid_owners(h, "registry_pid_insert_hook", cid, clen, diff, k);
}

/* bulk_delete of one node from one row, with registry_pid_remove. */
static void reg_remove_hooked(phc_hub_t *h, const char *cid, int clen,
                              const char *node) {
  const phc__reg_row_t *row = phc__reg_find(&h->reg, cid, clen);
  if (!row) return;
  phc__reg_remove_node(&h->reg, cid, clen, node);
  ei_x_buff d;
  ei_x_new_with_version(&d);
  ei_x_encode_tuple_header(&d, 2);
  ei_x_append_buf(&d, cid, clen);
  ei_x_encode_list_header(&d, 1);
  ei_x_encode_atom(&d, node);
  ei_x_encode_empty_list(&d);
  phc__hub_hook(h, "registry_pid_remove_hook", &d);
  ei_x_free(&d);
}

static void register_local(phc_hub_t *h, const child_data_t *cd,
                           const erlang_pid *pid) {
  phc__reg_owner_t o = {.pid = *pid};
  o.node = phc__intern(h->n->name);
  ei_x_buff meta;
  ei_x_new(&meta);
  enc_meta(cd, &meta);
  reg_merge_hooked(h, cd->buf + cd->cid, cd->cid_len, cd->buf + cd->spec,
                   cd->spec_len, meta.buff, meta.index, &o, 1);
  ei_x_free(&meta);
}

/* Forward a child that does not belong here to its owners that the
 * sender did not already cast to (StartHandle's validate step). Each
 * forward adds {Node, [ChildData]} to hook (forwarded_migration_hook).
 * Returns how many owners it was sent to. */
static int forward(phc_hub_t *h, const child_data_t *cd, const char *buf,
                   int opts_idx, const char **owners, int nowners,
                   ei_x_buff *hook) {
  int sent = 0;
  for (int i = 0; i < nowners; i++) {
    if (phc__term_has_atom(buf, cd->nodes, owners[i])) continue;
    int mlen = term_len(buf, cd->map);
    ei_x_buff req;
    ei_x_new(&req);
    ei_x_encode_tuple_header(&req, 3);
    ei_x_encode_atom(&req, "start_children");
    ei_x_encode_list_header(&req, 1);
    ei_x_append_buf(&req, buf + cd->map, mlen);
    ei_x_encode_empty_list(&req);
    ei_x_append_buf(&req, buf + opts_idx, term_len(buf, opts_idx));
    phc__hub_cast(h, owners[i], req.buff, req.index);
    ei_x_free(&req);
    ei_x_encode_tuple_header(hook, 2);
    ei_x_encode_atom(hook, owners[i]);
    ei_x_encode_list_header(hook, 1);
    ei_x_append_buf(hook, buf + cd->map, mlen);
    ei_x_encode_empty_list(hook);
    sent++;
    PHC_LOG_D(MOD, "%s: forwarded a start to %s", h->id, owners[i]);
  }
  return sent;
}

static int owned_here(phc_hub_t *h, const child_data_t *cd,
                      const char **owners, int *n) {
  char term[1024];
  if (cd->cid_len + 1 > (int)sizeof term) return 1;
  term[0] = (char)131;
  memcpy(term + 1, cd->buf + cd->cid, (size_t)cd->cid_len);
  *n = phc__ring_owners(&h->ring, term, cd->cid_len + 1, owners, 1);
  if (*n <= 0) return 1;
  for (int i = 0; i < *n; i++)
    if (!strcmp(owners[i], h->n->name)) return 1;
  return 0;
}

static void send_start_results(phc_hub_t *h, const char *buf, int opts_idx,
                               list_t *results) {
  erlang_pid reply_to[MAX_REPLY_TO];
  int v, k = 0;
  if (phc__term_kw_get(buf, opts_idx, "reply_to", &v) == 0)
    k = phc__term_pids(buf, &v, reply_to, MAX_REPLY_TO);
  if (k > MAX_REPLY_TO) k = MAX_REPLY_TO; /* negative: none */
  ei_x_buff m;
  ei_x_new_with_version(&m);
  ei_x_encode_tuple_header(&m, 3);
  ei_x_encode_atom(&m, "collect_start_results");
  list_close(results, &m);
  ei_x_encode_atom(&m, h->n->name);
  for (int i = 0; i < k; i++)
    phc_send(h->n, &h->coord, &reply_to[i], m.buff, m.index);
  ei_x_free(&m);
}

static int has_hooks(phc_hub_t *h, const char *key) {
  const char *ids[1];
  return phc__hooks_ids(h->hooks, key, ids, 1) > 0;
}

/* pre_children_start_hook: ProcessHub passes its StartHandle struct; phc
 * passes a map with the same children and start_opts. */
static void hook_pre_start(phc_hub_t *h, const char *buf, int cidx,
                           int opts_idx) {
  if (!has_hooks(h, "pre_children_start_hook")) return;
  ei_x_buff d;
  ei_x_new_with_version(&d);
  ei_x_encode_map_header(&d, 4);
  ei_x_encode_atom(&d, "__struct__");
  ei_x_encode_atom(&d, "Elixir.ProcessHub.Handler.ChildrenAdd.StartHandle");
  ei_x_encode_atom(&d, "children");
  ei_x_append_buf(&d, buf + cidx, term_len(buf, cidx));
  ei_x_encode_atom(&d, "hub_id");
  ei_x_encode_atom(&d, h->id);
  ei_x_encode_atom(&d, "start_opts");
  ei_x_append_buf(&d, buf + opts_idx, term_len(buf, opts_idx));
  phc__hub_hook(h, "pre_children_start_hook", &d);
  ei_x_free(&d);
}

/* child_data_alter_hook: the handlers may return another ChildData; then
 * *alt holds it and cd is re-pointed there. */
static int alter_child_data(phc_hub_t *h, child_data_t *cd, ei_x_buff *alt) {
  if (!has_hooks(h, "child_data_alter_hook")) return 0;
  int len;
  char *t = phc__term_with_version(cd->buf + cd->map, term_len(cd->buf, cd->map),
                                   &len);
  phc__hooks_alter(h->hooks, "child_data_alter_hook", t, len, alt);
  free(t);
  child_data_t altered;
  if (child_data_decode(alt->buff, 1, &altered) != 0) {
    PHC_LOG_W(MOD, "%s: child_data_alter_hook returned no child data; "
              "keeping the original", h->id);
    return 0;
  }
  *cd = altered;
  return 1;
}

/* One {Cid, Result, PidOrNil, Nodes} for post_children_start_hook. */
static void enc_post_start(const child_data_t *cd, const erlang_pid *pid,
                           const ei_x_buff *r, ei_x_buff *x) {
  ei_x_encode_tuple_header(x, 4);
  ei_x_append_buf(x, cd->buf + cd->cid, cd->cid_len);
  ei_x_append_buf(x, r->buff, r->index);
  pid ? ei_x_encode_pid(x, pid) : ei_x_encode_atom(x, "nil");
  int nl = cd->nodes >= 0 ? term_len(cd->buf, cd->nodes) : -1;
  if (nl > 0)
    ei_x_append_buf(x, cd->buf + cd->nodes, nl);
  else
    ei_x_encode_empty_list(x);
}

typedef struct start_acc_s {
  list_t results, psds, post, forwards;
} start_acc_t;

static void start_one(phc_hub_t *h, child_data_t *cd, start_acc_t *a) {
  ei_x_buff alt, r, post;
  int altered = alter_child_data(h, cd, &alt);
  erlang_pid pid;
  ei_x_new(&r);
  int ok = start_local(h, cd, &pid, &r);
  ei_x_encode_tuple_header(&a->results.items, 2);
  ei_x_append_buf(&a->results.items, cd->buf + cd->cid, cd->cid_len);
  ei_x_append_buf(&a->results.items, r.buff, r.index);
  a->results.n++;
  enc_psd(h, cd, ok ? &pid : NULL, &r, &a->psds.items);
  a->psds.n++;
  /* post_children_start data is built with [x | acc]: newest first */
  ei_x_new(&post);
  enc_post_start(cd, ok ? &pid : NULL, &r, &post);
  ei_x_append_buf(&post, a->post.items.buff, a->post.items.index);
  ei_x_free(&a->post.items);
  a->post.items = post;
  a->post.n++;
  if (ok) register_local(h, cd, &pid);
  ei_x_free(&r);
  if (altered) ei_x_free(&alt);
}

static void hook_list(phc_hub_t *h, const char *key, const list_t *l) {
  if (!has_hooks(h, key)) return;
  ei_x_buff d;
  ei_x_new_with_version(&d);
  if (l->n) ei_x_encode_list_header(&d, l->n);
  ei_x_append_buf(&d, l->items.buff, l->items.index);
  ei_x_encode_empty_list(&d);
  phc__hub_hook(h, key, &d);
  ei_x_free(&d);
}

static void dispatch_registration(phc_hub_t *h, list_t *psds) {
  int npsd = psds->n;
  ei_x_buff ev;
  ei_x_new(&ev);
  ei_x_encode_tuple_header(&ev, 3);
  list_close(psds, &ev);
  ei_x_encode_atom(&ev, h->n->name);
  ei_x_encode_list_header(&ev, 1);
  ei_x_encode_tuple_header(&ev, 2);
  ei_x_encode_atom(&ev, "members");
  ei_x_encode_atom(&ev, "external");
  ei_x_encode_empty_list(&ev);
  if (npsd)
    phc__hub_dispatch(h, "children_registration_event", "external", ev.buff,
                      ev.index);
  ei_x_free(&ev);
}

void phc__hub_start_handle(phc_hub_t *h, const char *buf, int cidx,
                           int opts_idx, int is_migration) {
  int n, idx = cidx;
  if (ei_decode_list_header(buf, &idx, &n) < 0) {
    PHC_LOG_W(MOD, "%s: dropping a start whose children are not a list", h->id);
    return;
  }
  hook_pre_start(h, buf, cidx, opts_idx);
  start_acc_t a;
  list_init(&a.results);
  list_init(&a.psds);
  list_init(&a.post);
  list_init(&a.forwards);
  for (int i = 0; i < n; i++) {
    child_data_t cd;
    int at = idx;
    if (ei_skip_term(buf, &idx) < 0) break;
    if (child_data_decode(buf, at, &cd) != 0) {
      PHC_LOG_W(MOD, "%s: dropping a malformed child data", h->id);
      continue;
    }
    const char *owners[4];
    int nowners;
    if (owned_here(h, &cd, owners, &nowners)) {
      start_one(h, &cd, &a);
    } else {
      a.forwards.n += forward(h, &cd, buf, opts_idx, owners, nowners,
                              &a.forwards.items);
    }
  }
  hook_list(h, "forwarded_migration_hook", &a.forwards);
  ei_x_free(&a.forwards.items);
  hook_list(h, "post_children_start_hook", &a.post);
  ei_x_free(&a.post.items);
  send_start_results(h, buf, opts_idx, &a.results);
  hook_list(h, "process_startups_hook", &a.psds);
  dispatch_registration(h, &a.psds);
  int v;
  if (is_migration &&
      phc__term_kw_get(buf, opts_idx, "migration_add", &v) == 0 &&
      phc__term_atom_eq(buf, v, "true"))
    phc__hub_unlock(h);
}

/* ---- stopping -------------------------------------------------------- */

int phc__hub_terminate_local(phc_hub_t *h, const char *cid, int cid_len) {
  char id[2 * 256 + 1];
  if (cid_len > 256) return PHC_EINVAL;
  cid_to_id(cid, cid_len, id, sizeof id);
  if (phc__sup_which_child(h->sup, id, NULL) != 0) return PHC_ENOPROC;
  /* Remember it so the supervisor's GONE is not reported as self_exit. */
  phc__hub_mark_terminating(h, id);
  return phc__sup_terminate_child(h->sup, id);
}

void phc__hub_stop_handle(phc_hub_t *h, const char *buf, int cidx,
                          int opts_idx) {
  int n, idx = cidx;
  if (ei_decode_list_header(buf, &idx, &n) < 0) return;
  list_t res;
  list_init(&res);
  for (int i = 0; i < n; i++) {
    int cid, at = idx;
    if (ei_skip_term(buf, &idx) < 0) break;
    if (phc__term_map_get(buf, at, "child_id", &cid) < 0) continue;
    int len = term_len(buf, cid);
    int rc = phc__hub_terminate_local(h, buf + cid, len);
    ei_x_encode_tuple_header(&res.items, 3);
    ei_x_append_buf(&res.items, buf + cid, len);
    if (rc == 0) {
      ei_x_encode_atom(&res.items, "ok");
    } else {
      ei_x_encode_tuple_header(&res.items, 2);
      ei_x_encode_atom(&res.items, "error");
      ei_x_encode_atom(&res.items, "not_found");
    }
    ei_x_encode_atom(&res.items, h->n->name);
    res.n++;
  }
  ei_x_buff ev;
  ei_x_new(&ev);
  ei_x_encode_tuple_header(&ev, 3);
  list_close(&res, &ev);
  ei_x_encode_atom(&ev, h->n->name);
  int olen = term_len(buf, opts_idx);
  ei_x_append_buf(&ev, buf + opts_idx, olen);
  int v;
  const char *members = "global";
  char m[PHC__ATOM_MAX];
  if (phc__term_kw_get(buf, opts_idx, "members", &v) == 0 &&
      ei_decode_atom(buf, &v, m) == 0)
    members = m;
  phc__hub_dispatch(h, "children_unregistration_event", members, ev.buff,
                    ev.index);
  ei_x_free(&ev);
}

/* ---- registry events ------------------------------------------------- */

/* {[PostStartData], Node, Opts} */
void phc__hub_on_registration(phc_hub_t *h, const char *buf, int idx) {
  int arity, n;
  if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 3 ||
      ei_decode_list_header(buf, &idx, &n) < 0)
    goto bad;
  for (int i = 0; i < n; i++) {
    int at = idx, v, cid, spec, cn, meta;
    if (ei_skip_term(buf, &idx) < 0) goto bad;
    if (phc__term_map_get(buf, at, "has_errors", &v) < 0 ||
        !phc__term_atom_eq(buf, v, "false"))
      continue;
    if (phc__term_map_get(buf, at, "cid", &cid) < 0 ||
        phc__term_map_get(buf, at, "child_spec", &spec) < 0 ||
        phc__term_map_get(buf, at, "child_nodes", &cn) < 0 ||
        phc__term_map_get(buf, at, "metadata", &meta) < 0)
      goto bad;
    phc__reg_owner_t o[PHC__HUB_MAX_NODES];
    char onode[PHC__ATOM_MAX];
    int k = 0, cnt, ta;
    if (ei_decode_list_header(buf, &cn, &cnt) < 0) goto bad;
    for (int j = 0; j < cnt && k < PHC__HUB_MAX_NODES; j++) {
      if (ei_decode_tuple_header(buf, &cn, &ta) < 0 || ta != 2 ||
          ei_decode_atom(buf, &cn, onode) < 0)
        goto bad;
      o[k].node = phc__intern(onode);
      if (ei_decode_pid(buf, &cn, &o[k].pid) == 0)
        k++;
      else if (ei_skip_term(buf, &cn) < 0)
        goto bad;
    }
    reg_merge_hooked(h, buf + cid, term_len(buf, cid), buf + spec,
                     term_len(buf, spec), buf + meta, term_len(buf, meta), o, k);
  }
  return;
bad:
  PHC_LOG_W(MOD, "%s: dropping a malformed children_registration_event", h->id);
}

static void reply_stop_results(phc_hub_t *h, const char *buf, int results,
                               int nres, int opts) {
  erlang_pid reply_to[MAX_REPLY_TO];
  int v, k = 0;
  if (phc__term_kw_get(buf, opts, "reply_to", &v) < 0) return;
  k = phc__term_pids(buf, &v, reply_to, MAX_REPLY_TO);
  if (k > MAX_REPLY_TO) k = MAX_REPLY_TO; /* negative: none */
  list_t l;
  list_init(&l);
  int idx = results, n;
  ei_decode_list_header(buf, &idx, &n);
  for (int i = 0; i < n && i < nres; i++) {
    int ta;
    ei_decode_tuple_header(buf, &idx, &ta);
    int cid = idx;
    ei_skip_term(buf, &idx);
    int res = idx;
    ei_skip_term(buf, &idx);
    ei_skip_term(buf, &idx);
    ei_x_encode_tuple_header(&l.items, 2);
    ei_x_append_buf(&l.items, buf + cid, res - cid);
    ei_x_append_buf(&l.items, buf + res, term_len(buf, res));
    l.n++;
  }
  if (!l.n) {
    ei_x_free(&l.items);
    return;
  }
  ei_x_buff m;
  ei_x_new_with_version(&m);
  ei_x_encode_tuple_header(&m, 3);
  ei_x_encode_atom(&m, "collect_stop_results");
  list_close(&l, &m);
  ei_x_encode_atom(&m, h->n->name);
  for (int i = 0; i < k; i++)
    phc_send(h->n, &h->coord, &reply_to[i], m.buff, m.index);
  ei_x_free(&m);
}

/* {[{Cid, Result, Node}], SenderNode, Opts} */
void phc__hub_on_unregistration(phc_hub_t *h, const char *buf, int idx) {
  int arity, n;
  char sender[PHC__ATOM_MAX];
  if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 3) goto bad;
  int results = idx;
  if (ei_decode_list_header(buf, &idx, &n) < 0) goto bad;
  for (int i = 0; i < n; i++) { /* validate: 3-tuples only */
    int ta;
    if (ei_decode_tuple_header(buf, &idx, &ta) < 0 || ta != 3) goto bad;
    for (int j = 0; j < 3; j++)
      if (ei_skip_term(buf, &idx) < 0) goto bad;
  }
  if (n > 0 && ei_skip_term(buf, &idx) < 0) goto bad; /* list tail */
  if (ei_decode_atom(buf, &idx, sender) < 0) goto bad;
  int opts = idx;
  /* second pass: remove sender from each row */
  idx = results;
  ei_decode_list_header(buf, &idx, &n);
  for (int i = 0; i < n; i++) {
    int ta;
    ei_decode_tuple_header(buf, &idx, &ta);
    int cid = idx;
    ei_skip_term(buf, &idx);
    reg_remove_hooked(h, buf + cid, idx - cid, sender);
    ei_skip_term(buf, &idx);
    ei_skip_term(buf, &idx);
  }
  if (!strcmp(sender, h->n->name)) reply_stop_results(h, buf, results, n, opts);
  return;
bad:
  PHC_LOG_W(MOD, "%s: dropping a malformed children_unregistration_event",
            h->id);
}

/* {Cid, {Node, Pid}} */
void phc__hub_on_pid_update(phc_hub_t *h, const char *buf, int idx) {
  int arity;
  char node[PHC__ATOM_MAX];
  erlang_pid pid;
  if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 2) goto bad;
  int cid = idx;
  if (ei_skip_term(buf, &idx) < 0) goto bad;
  int clen = idx - cid;
  if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 2 ||
      ei_decode_atom(buf, &idx, node) < 0 || ei_decode_pid(buf, &idx, &pid) < 0)
    goto bad;
  if (phc__reg_update_pid(&h->reg, buf + cid, clen, node, &pid) != 0) {
    PHC_LOG_W(MOD, "%s: pid update for an unknown child dropped", h->id);
    return;
  }
  const phc__reg_row_t *row = phc__reg_find(&h->reg, buf + cid, clen);
  hook_cid_owners(h, "registry_pid_insert_hook", buf + cid, clen, row->owners,
                  row->nowners);
  ei_x_buff d; /* {Node, Pid} */
  ei_x_new_with_version(&d);
  ei_x_encode_tuple_header(&d, 2);
  ei_x_encode_atom(&d, node);
  ei_x_encode_pid(&d, &pid);
  phc__hub_hook(h, "child_process_pid_update_hook", &d);
  ei_x_free(&d);
  return;
bad:
  PHC_LOG_W(MOD, "%s: dropping a malformed child_process_pid_update_event",
            h->id);
}

typedef struct cid_seen_s { /* a set of child ids (encoded bytes) */
  const char *cid;
  int len;
  UT_hash_handle hh;
} cid_seen_t;

/* Rows that list node but whose id the peer no longer reports lose node
 * (Synchronizer.detach_data). */
static int still_listed(const phc__reg_row_t *row, void *arg) {
  cid_seen_t *seen = arg, *s = NULL;
  HASH_FIND(hh, seen, row->cid, (unsigned)row->cid_len, s);
  return s != NULL;
}

static void detach_missing(phc_hub_t *h, const char *node, cid_seen_t *seen) {
  phc__reg_detach_node(&h->reg, node, still_listed, seen);
}

void phc__hub_apply_sync(phc_hub_t *h, const char *node, const char *buf,
                         int idx, int detach) {
  int n;
  cid_seen_t *seen = NULL, *s, *tmp;
  if (ei_decode_list_header(buf, &idx, &n) < 0) goto bad;
  for (int i = 0; i < n; i++) {
    int ta, cid;
    if (ei_decode_tuple_header(buf, &idx, &ta) < 0 || ta != 3) goto bad;
    int spec = idx;
    if (ei_skip_term(buf, &idx) < 0) goto bad;
    erlang_pid pid;
    int has_pid = ei_decode_pid(buf, &idx, &pid) == 0;
    if (!has_pid && ei_skip_term(buf, &idx) < 0) goto bad;
    int meta = idx;
    if (ei_skip_term(buf, &idx) < 0) goto bad;
    if (phc__term_map_get(buf, spec, "id", &cid) < 0) continue;
    int clen = term_len(buf, cid);
    s = phc__xcalloc(1, sizeof *s);
    s->cid = buf + cid;
    s->len = clen;
    HASH_ADD_KEYPTR(hh, seen, s->cid, (unsigned)clen, s);
    if (!has_pid) continue;
    if (detach) /* the periodic sync: Keyword.get_and_update */
      phc__reg_set_pid(&h->reg, buf + cid, clen, buf + spec,
                       term_len(buf, spec), buf + meta, idx - meta, node, &pid);
    else { /* sync_remote_children_event: a bulk-insert merge */
      phc__reg_owner_t o = {.pid = pid};
      o.node = phc__intern(node);
      reg_merge_hooked(h, buf + cid, clen, buf + spec, term_len(buf, spec),
                       buf + meta, idx - meta, &o, 1);
    }
  }
  if (detach) detach_missing(h, node, seen);
  HASH_ITER(hh, seen, s, tmp) {
    HASH_DEL(seen, s);
    free(s);
  }
  return;
bad:
  HASH_ITER(hh, seen, s, tmp) {
    HASH_DEL(seen, s);
    free(s);
  }
  PHC_LOG_W(MOD, "%s: dropping malformed sync data from %s", h->id, node);
}

/* {[{ChildSpec, Pid, Meta}], Node} */
void phc__hub_on_sync_remote(phc_hub_t *h, const char *buf, int idx) {
  int arity;
  char node[PHC__ATOM_MAX];
  if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 2) goto bad;
  int data = idx;
  if (ei_skip_term(buf, &idx) < 0 || ei_decode_atom(buf, &idx, node) < 0)
    goto bad;
  phc__hub_apply_sync(h, node, buf, data, 0);
  return;
bad:
  PHC_LOG_W(MOD, "%s: dropping a malformed sync_remote_children_event", h->id);
}

void phc__hub_enc_local_sync(phc_hub_t *h, ei_x_buff *x) {
  phc__reg_row_t **v;
  int n = phc__reg_sorted(&h->reg, &v), k = 0;
  for (int i = 0; i < n; i++) k += phc__reg_owner(v[i], h->n->name) != NULL;
  if (k) ei_x_encode_list_header(x, k);
  for (int i = 0; i < n; i++) {
    const phc__reg_owner_t *o = phc__reg_owner(v[i], h->n->name);
    if (!o) continue;
    ei_x_encode_tuple_header(x, 3);
    ei_x_append_buf(x, v[i]->spec, v[i]->spec_len);
    ei_x_encode_pid(x, &o->pid);
    ei_x_append_buf(x, v[i]->meta, v[i]->meta_len);
  }
  ei_x_encode_empty_list(x);
  free(v);
}

/* ---- supervisor events ----------------------------------------------- */

static void dispatch_pid_update(phc_hub_t *h, const char *cid, int clen,
                                const erlang_pid *pid) {
  ei_x_buff p;
  ei_x_new(&p);
  ei_x_encode_tuple_header(&p, 2);
  ei_x_append_buf(&p, cid, clen);
  ei_x_encode_tuple_header(&p, 2);
  ei_x_encode_atom(&p, h->n->name);
  ei_x_encode_pid(&p, pid);
  phc__hub_dispatch(h, "child_process_pid_update_event", "global", p.buff,
                    p.index);
  ei_x_free(&p);
}

static void dispatch_self_exit(phc_hub_t *h, const char *cid, int clen) {
  ei_x_buff p;
  ei_x_new(&p);
  ei_x_encode_tuple_header(&p, 3);
  ei_x_encode_list_header(&p, 1);
  ei_x_encode_tuple_header(&p, 3);
  ei_x_append_buf(&p, cid, clen);
  ei_x_encode_atom(&p, "self_exit");
  ei_x_encode_atom(&p, h->n->name);
  ei_x_encode_empty_list(&p);
  ei_x_encode_atom(&p, h->n->name);
  ei_x_encode_empty_list(&p);
  phc__hub_dispatch(h, "children_unregistration_event", "global", p.buff,
                    p.index);
  ei_x_free(&p);
}

void phc__hub_mark_terminating(phc_hub_t *h, const char *id) {
  phc__hub_term_t *t = phc__xcalloc(1, sizeof *t);
  t->id = phc__xstrdup(id);
  t->next = h->terminating;
  h->terminating = t;
}

int phc__hub_take_terminating(phc_hub_t *h, const char *id) {
  for (phc__hub_term_t **p = &h->terminating; *p; p = &(*p)->next) {
    if (strcmp((*p)->id, id) != 0) continue;
    phc__hub_term_t *t = *p;
    *p = t->next;
    free(t->id);
    free(t);
    return 1;
  }
  return 0;
}

void phc__hub_sup_event(phc__sup_t *sup, int event, const char *id,
                        const phc_pid_t *old_pid, const phc_pid_t *new_pid,
                        const char *reason, int len, void *arg) {
  phc_hub_t *h = arg;
  char cid[256];
  PHC__UNUSED(sup);
  PHC__UNUSED(old_pid);
  PHC__UNUSED(reason);
  PHC__UNUSED(len);
  if (!id || h->leaving) return;
  int clen = id_to_cid(id, cid, sizeof cid);
  if (clen <= 0) return;
  if (event == PHC__SUP_CHILD_RESTARTED) {
    /* our own coordinator applies it too: the event goes to global */
    dispatch_pid_update(h, cid, clen, new_pid);
  } else if (event == PHC__SUP_CHILD_GONE) {
    if (!phc__hub_take_terminating(h, id)) dispatch_self_exit(h, cid, clen);
  }
}
