/* start.c - ProcessHub's StartHandle: starting one child under the hub's
 * supervisor, forwarding the children that belong elsewhere, the start
 * results to reply_to, and the registration of what started. */
#include <stdio.h>
#include <stdlib.h>

#include "hub/child_data.h"
#include "hub/hub.h"
#include "proc/proc.h"
#include "term/enc.h"
#include "term/term.h"

#define MOD "hub"
#define PSD_STRUCT "Elixir.ProcessHub.Handler.ChildrenAdd.PostStartData"

/* ---- starting one child ---------------------------------------------- */

static void enc_meta(const phc__child_data_t *cd, ei_x_buff *x) {
  if (cd->meta >= 0 && cd->meta_len > 0)
    phc__x_append_buf(x, cd->buf + cd->meta, cd->meta_len);
  else
    phc__x_map_header(x, 0);
}

static int spec_restart(const phc__child_data_t *cd) {
  int v;
  if (phc__term_map_get(cd->buf, cd->spec, "restart", &v) == 0) {
    if (phc__term_atom_eq(cd->buf, v, "transient")) return PHC__SUP_TRANSIENT;
    if (phc__term_atom_eq(cd->buf, v, "temporary")) return PHC__SUP_TEMPORARY;
  }
  return PHC__SUP_PERMANENT;
}

static int spec_shutdown(const phc__child_data_t *cd) {
  int v;
  long ms;
  if (phc__term_map_get(cd->buf, cd->spec, "shutdown", &v) < 0) return 5000;
  if (phc__term_atom_eq(cd->buf, v, "brutal_kill")) return PHC__SUP_BRUTAL_KILL;
  if (phc__term_atom_eq(cd->buf, v, "infinity")) return PHC__SUP_INFINITY;
  return ei_decode_long(cd->buf, &v, &ms) == 0 && ms > 0 ? (int)ms : 5000;
}

/* {error, {undef, [{M, F, A, []}]}}: what Supervisor.start_child gives for
 * a module that does not exist. */
static void enc_undef(ei_x_buff *r, const char *buf, int mfa) {
  int arity;
  phc__x_tuple_header(r, 2);
  phc__x_atom(r, "error");
  phc__x_tuple_header(r, 2);
  phc__x_atom(r, "undef");
  phc__x_list_header(r, 1);
  phc__x_tuple_header(r, 4);
  int idx = mfa;
  if (mfa >= 0 && ei_decode_tuple_header(buf, &idx, &arity) == 0 &&
      arity == 3) {
    int len = phc__hub_term_len(buf, idx);
    phc__x_append_buf(r, buf + idx, len > 0 ? len : 0);
    idx += len;
    len = phc__hub_term_len(buf, idx);
    phc__x_append_buf(r, buf + idx, len > 0 ? len : 0);
    idx += len;
    len = phc__hub_term_len(buf, idx);
    phc__x_append_buf(r, buf + idx, len > 0 ? len : 0);
  } else {
    phc__x_atom(r, "undefined");
    phc__x_atom(r, "undefined");
    phc__x_empty_list(r);
  }
  phc__x_empty_list(r);
  phc__x_empty_list(r);
}

static void deliver_handover(phc_hub_t *h, const phc__child_data_t *cd,
                             const erlang_pid *pid) {
  for (phc__hub_handover_t **p = &h->handovers; *p; p = &(*p)->next) {
    phc__hub_handover_t *ho = *p;
    if (ho->cid_len != cd->cid_len ||
        memcmp(ho->cid, cd->buf + cd->cid, (size_t)cd->cid_len) != 0)
      continue;
    ei_x_buff m; /* {process_hub, handover, Cid, {State, []}} */
    phc__x_new_with_version(&m);
    phc__x_tuple_header(&m, 4);
    phc__x_atom(&m, "process_hub");
    phc__x_atom(&m, "handover");
    phc__x_append_buf(&m, ho->cid, ho->cid_len);
    phc__x_tuple_header(&m, 2);
    phc__x_append_buf(&m, ho->state + 1, ho->state_len - 1);
    phc__x_empty_list(&m);
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
static int start_local(phc_hub_t *h, const phc__child_data_t *cd,
                       erlang_pid *pid, ei_x_buff *r) {
  char id[2 * 256 + 1], m[PHC__ATOM_MAX], f[PHC__ATOM_MAX];
  const char *buf = cd->buf;
  if (cd->cid_len > 256) {
    phc__x_tuple_header(r, 2);
    phc__x_atom(r, "error");
    phc__x_atom(r, "child_id_too_long");
    return 0;
  }
  phc__child_data_sup_id(buf + cd->cid, cd->cid_len, id, sizeof id);
  if (phc__sup_which_child(h->sup, id, pid) == 0) {
    phc__x_tuple_header(r, 2);
    phc__x_atom(r, "error");
    phc__x_tuple_header(r, 2);
    phc__x_atom(r, "already_started");
    phc__x_pid(r, pid);
    return 1;
  }
  int mfa = -1, idx = 0, arity;
  int has_start = phc__term_map_get(buf, cd->spec, "start", &mfa) == 0;
  idx = mfa;
  if (!has_start || ei_decode_tuple_header(buf, &idx, &arity) < 0 ||
      arity != 3 || phc__term_atom(buf, &idx, m, sizeof m) < 0 ||
      phc__term_atom(buf, &idx, f, sizeof f) < 0 ||
      !phc_child_type_find(h->n, m) ||
      (strcmp(f, "start_link") != 0 && strcmp(f, "start") != 0)) {
    enc_undef(r, buf, has_start ? mfa : -1);
    return 0;
  }
  int alen;
  char *args =
      phc__term_with_version(buf + idx, phc__hub_term_len(buf, idx), &alen);
  phc__sup_spec_t spec = {.id = id,
                          .module = m,
                          .args = args,
                          .args_len = alen,
                          .restart = spec_restart(cd),
                          .shutdown_ms = spec_shutdown(cd)};
  phc__sup_delete_child(h->sup, id); /* a stopped earlier incarnation */
  int rc = phc__sup_start_child(h->sup, &spec, pid);
  free(args);
  phc__x_tuple_header(r, 2);
  if (rc) {
    phc__x_atom(r, "error");
    phc__x_atom(r, rc == PHC_ELIMIT ? "system_limit" : phc_strerror(rc));
    return 0;
  }
  phc__x_atom(r, "ok");
  phc__x_pid(r, pid);
  deliver_handover(h, cd, pid);
  return 1;
}

static void enc_psd(phc_hub_t *h, const phc__child_data_t *cd,
                    const erlang_pid *pid, const ei_x_buff *result,
                    ei_x_buff *x) {
  const char *me = h->n->name;
  phc__x_map_header(x, 10);
  phc__x_atom(x, "__struct__");
  phc__x_atom(x, PSD_STRUCT);
  phc__x_atom(x, "child_nodes");
  phc__x_list_header(x, 1);
  phc__x_tuple_header(x, 2);
  phc__x_atom(x, me);
  pid ? phc__x_pid(x, pid) : phc__x_atom(x, "nil");
  phc__x_empty_list(x);
  phc__x_atom(x, "child_spec");
  phc__x_append_buf(x, cd->buf + cd->spec, cd->spec_len);
  phc__x_atom(x, "cid");
  phc__x_append_buf(x, cd->buf + cd->cid, cd->cid_len);
  phc__x_atom(x, "for_node");
  phc__x_tuple_header(x, 2);
  phc__x_atom(x, me);
  phc__x_list_header(x, 1);
  phc__x_tuple_header(x, 2);
  phc__x_atom(x, "migration");
  phc__x_atom(x, "false");
  phc__x_empty_list(x);
  phc__x_atom(x, "has_errors");
  phc__x_atom(x, pid ? "false" : "true");
  phc__x_atom(x, "metadata");
  enc_meta(cd, x);
  phc__x_atom(x, "nodes");
  int nl = cd->nodes >= 0 ? phc__hub_term_len(cd->buf, cd->nodes) : -1;
  if (nl > 0)
    phc__x_append_buf(x, cd->buf + cd->nodes, nl);
  else
    phc__x_empty_list(x);
  phc__x_atom(x, "pid");
  pid ? phc__x_pid(x, pid) : phc__x_atom(x, "nil");
  phc__x_atom(x, "result");
  phc__x_append_buf(x, result->buff, result->index);
}

static void register_local(phc_hub_t *h, const phc__child_data_t *cd,
                           const erlang_pid *pid) {
  phc__reg_owner_t o = phc__reg_owner_make(h->n->name, pid);
  ei_x_buff meta;
  phc__x_new(&meta);
  enc_meta(cd, &meta);
  phc__hub_reg_merge(h, cd->buf + cd->cid, cd->cid_len, cd->buf + cd->spec,
                     cd->spec_len, meta.buff, meta.index, &o, 1);
  ei_x_free(&meta);
}

/* Forward a child that does not belong here to its owners that the
 * sender did not already cast to (StartHandle's validate step). Each
 * forward adds {Node, [ChildData]} to hook (forwarded_migration_hook).
 * Returns how many owners it was sent to. */
static int forward(phc_hub_t *h, const phc__child_data_t *cd, const char *buf,
                   int opts_idx, const char **owners, int nowners,
                   ei_x_buff *hook) {
  int sent = 0;
  for (int i = 0; i < nowners; i++) {
    if (phc__term_has_atom(buf, cd->nodes, owners[i])) continue;
    int mlen = phc__hub_term_len(buf, cd->map);
    ei_x_buff req;
    phc__x_new(&req);
    phc__x_tuple_header(&req, 3);
    phc__x_atom(&req, "start_children");
    phc__x_list_header(&req, 1);
    phc__x_append_buf(&req, buf + cd->map, mlen);
    phc__x_empty_list(&req);
    phc__x_append_buf(&req, buf + opts_idx, phc__hub_term_len(buf, opts_idx));
    phc__hub_cast(h, owners[i], req.buff, req.index);
    ei_x_free(&req);
    phc__x_tuple_header(hook, 2);
    phc__x_atom(hook, owners[i]);
    phc__x_list_header(hook, 1);
    phc__x_append_buf(hook, buf + cd->map, mlen);
    phc__x_empty_list(hook);
    sent++;
    PHC_LOG_D(MOD, "%s: forwarded a start to %s", h->id, owners[i]);
  }
  return sent;
}

/* StartHandle's validate step: the child belongs here when the
 * distribution's nodes for it (belongs_to with the replication factor)
 * include this node; *n gets how many there are. A child the strategy
 * cannot place starts here. */
static int owned_here(phc_hub_t *h, const phc__child_data_t *cd,
                      const char **owners, int max, int *n) {
  *n = phc__strat_belongs_to(h, &h->strat, cd->buf + cd->cid, cd->cid_len,
                             owners, max);
  if (*n <= 0) return 1;
  for (int i = 0; i < *n; i++)
    if (!strcmp(owners[i], h->n->name)) return 1;
  return 0;
}

static void send_start_results(phc_hub_t *h, const char *buf, int opts_idx,
                               phc__hub_list_t *results) {
  erlang_pid reply_to[PHC__HUB_MAX_REPLY_TO];
  int v, k = 0;
  if (phc__term_kw_get(buf, opts_idx, "reply_to", &v) == 0)
    k = phc__term_pids(buf, &v, reply_to, PHC__HUB_MAX_REPLY_TO);
  if (k > PHC__HUB_MAX_REPLY_TO) k = PHC__HUB_MAX_REPLY_TO; /* negative: none */
  ei_x_buff m;
  phc__x_new_with_version(&m);
  phc__x_tuple_header(&m, 3);
  phc__x_atom(&m, "collect_start_results");
  phc__hub_list_close(results, &m);
  phc__x_atom(&m, h->n->name);
  for (int i = 0; i < k; i++)
    phc_send(h->n, &h->coord, &reply_to[i], m.buff, m.index);
  ei_x_free(&m);
}

static int has_hooks(phc_hub_t *h, const char *key) {
  const char *ids[1];
  return phc__hooks_ids(h->hooks, key, ids, 1) > 0;
}

/* pre_children_start_hook: ProcessHub's StartHandle struct (hooks.h). */
static void hook_pre_start(phc_hub_t *h, const char *buf, int cidx,
                           int opts_idx) {
  if (!has_hooks(h, "pre_children_start_hook")) return;
  ei_x_buff d;
  phc__x_new_with_version(&d);
  phc__hooks_x_start_handle(h, buf, cidx, opts_idx, &d);
  phc__hub_hook(h, "pre_children_start_hook", &d);
  ei_x_free(&d);
}

/* child_data_alter_hook: the handlers may return another ChildData; then
 * *alt holds it and cd is re-pointed there. */
static int alter_child_data(phc_hub_t *h, phc__child_data_t *cd,
                            ei_x_buff *alt) {
  if (!has_hooks(h, "child_data_alter_hook")) return 0;
  int len;
  char *t = phc__term_with_version(cd->buf + cd->map,
                                   phc__hub_term_len(cd->buf, cd->map), &len);
  phc__hooks_alter(h->hooks, "child_data_alter_hook", t, len, alt);
  free(t);
  phc__child_data_t altered;
  if (phc__child_data_decode(alt->buff, 1, &altered) != 0) {
    PHC_LOG_W(MOD,
              "%s: child_data_alter_hook returned no child data; "
              "keeping the original",
              h->id);
    return 0;
  }
  *cd = altered;
  return 1;
}

/* One {Cid, Result, PidOrNil, Nodes} for post_children_start_hook. */
static void enc_post_start(const phc__child_data_t *cd, const erlang_pid *pid,
                           const ei_x_buff *r, ei_x_buff *x) {
  phc__x_tuple_header(x, 4);
  phc__x_append_buf(x, cd->buf + cd->cid, cd->cid_len);
  phc__x_append_buf(x, r->buff, r->index);
  pid ? phc__x_pid(x, pid) : phc__x_atom(x, "nil");
  int nl = cd->nodes >= 0 ? phc__hub_term_len(cd->buf, cd->nodes) : -1;
  if (nl > 0)
    phc__x_append_buf(x, cd->buf + cd->nodes, nl);
  else
    phc__x_empty_list(x);
}

typedef struct start_acc_s {
  phc__hub_list_t results, psds, post, forwards;
  int *post_ends; /* where each post item ends in post.items, oldest first */
} start_acc_t;

/* post_children_start data is built with [x | acc] (newest first): the
 * items are appended as they come and turned around once, at the end
 * (prepending each one would copy the whole list every time). */
static void post_reverse(start_acc_t *a) {
  ei_x_buff rev;
  phc__x_new(&rev);
  for (int i = a->post.n - 1; i >= 0; i--) {
    int from = i ? a->post_ends[i - 1] : 0;
    phc__x_append_buf(&rev, a->post.items.buff + from, a->post_ends[i] - from);
  }
  ei_x_free(&a->post.items);
  a->post.items = rev;
  free(a->post_ends);
  a->post_ends = NULL;
}

static void start_one(phc_hub_t *h, phc__child_data_t *cd, start_acc_t *a) {
  ei_x_buff alt, r;
  int altered = alter_child_data(h, cd, &alt);
  erlang_pid pid;
  phc__x_new(&r);
  int ok = start_local(h, cd, &pid, &r);
  phc__x_tuple_header(&a->results.items, 2);
  phc__x_append_buf(&a->results.items, cd->buf + cd->cid, cd->cid_len);
  phc__x_append_buf(&a->results.items, r.buff, r.index);
  a->results.n++;
  enc_psd(h, cd, ok ? &pid : NULL, &r, &a->psds.items);
  a->psds.n++;
  enc_post_start(cd, ok ? &pid : NULL, &r, &a->post.items); /* post_reverse */
  if ((a->post.n & (a->post.n - 1)) == 0) /* 0, 1, 2, 4, ...: grow */
    a->post_ends = phc__xrealloc(a->post_ends, sizeof *a->post_ends *
                                                   (size_t)(a->post.n * 2 + 1));
  a->post_ends[a->post.n++] = a->post.items.index;
  if (ok) register_local(h, cd, &pid);
  if (ok)
    phc__strat_post_start(h, &h->strat, cd->buf + cd->cid, cd->cid_len, &pid,
                          cd->buf, cd->nodes);
  ei_x_free(&r);
  if (altered) ei_x_free(&alt);
}

static void hook_list(phc_hub_t *h, const char *key, const phc__hub_list_t *l) {
  if (!has_hooks(h, key) ||
      (l->n == 0 && !strcmp(key, "forwarded_migration_hook")))
    return; /* ProcessHub dispatches forwards only when there are some */
  ei_x_buff d;
  phc__x_new_with_version(&d);
  if (l->n) phc__x_list_header(&d, l->n);
  phc__x_append_buf(&d, l->items.buff, l->items.index);
  phc__x_empty_list(&d);
  phc__hub_hook(h, key, &d);
  ei_x_free(&d);
}

/* SynchronizationStrategy.propagate(:add) of what was started, with
 * [{members, external}] (nothing when nothing was started). */
static void dispatch_registration(phc_hub_t *h, phc__hub_list_t *psds) {
  int npsd = psds->n;
  ei_x_buff ev, opts;
  phc__x_new(&ev);
  phc__x_new(&opts);
  phc__hub_list_close(psds, &ev);
  phc__x_list_header(&opts, 1);
  phc__x_tuple_header(&opts, 2);
  phc__x_atom(&opts, "members");
  phc__x_atom(&opts, "external");
  phc__x_empty_list(&opts);
  if (npsd)
    phc__strat_propagate(h, &h->strat, ev.buff, ev.index, h->n->name,
                         PHC__STRAT_SYNC_ADD, opts.buff, opts.index);
  ei_x_free(&ev);
  ei_x_free(&opts);
}

void phc__hub_start_handle(phc_hub_t *h, const char *buf, int cidx,
                           int opts_idx, int is_migration) {
  int n, idx = cidx;
  if (ei_decode_list_header(buf, &idx, &n) < 0) {
    PHC_LOG_W(MOD, "%s: dropping a start whose children are not a list", h->id);
    return;
  }
  if (h->partitioned) { /* StartHandle: {error, partitioned}, no reply */
    PHC_LOG_I(MOD, "%s: partition mode: a start of %d children refused", h->id,
              n);
    return;
  }
  hook_pre_start(h, buf, cidx, opts_idx);
  phc__strat_pre_start(h, &h->strat, buf, opts_idx);
  start_acc_t a;
  phc__hub_list_init(&a.results);
  phc__hub_list_init(&a.psds);
  phc__hub_list_init(&a.post);
  phc__hub_list_init(&a.forwards);
  a.post_ends = NULL;
  /* validate_children: forwards first; the valid ones are collected with
   * [x | acc], so they start last first */
  int *valid = phc__xmalloc((size_t)(n ? n : 1) * sizeof *valid), nvalid = 0;
  for (int i = 0; i < n; i++) {
    phc__child_data_t cd;
    int at = idx;
    if (ei_skip_term(buf, &idx) < 0) break;
    if (phc__child_data_decode(buf, at, &cd) != 0) {
      PHC_LOG_W(MOD, "%s: dropping a malformed child data", h->id);
      continue;
    }
    const char *owners[PHC__HUB_MAX_NODES];
    int nowners;
    if (owned_here(h, &cd, owners, PHC__HUB_MAX_NODES, &nowners))
      valid[nvalid++] = at;
    else
      a.forwards.n +=
          forward(h, &cd, buf, opts_idx, owners, nowners, &a.forwards.items);
  }
  hook_list(h, "forwarded_migration_hook", &a.forwards);
  ei_x_free(&a.forwards.items);
  for (int i = nvalid - 1; i >= 0; i--) {
    phc__child_data_t cd;
    if (phc__child_data_decode(buf, valid[i], &cd) == 0) start_one(h, &cd, &a);
  }
  free(valid);
  post_reverse(&a);
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
