/* events.c - the registry events (registration, unregistration, pid
 * update, sync) with the hooks ProcessRegistry dispatches, and the events
 * the hub's supervisor raises about its children. */
#include <stdio.h>
#include <stdlib.h>

#include "hub/child_data.h"
#include "hub/hub.h"
#include "term/enc.h"
#include "term/term.h"

#define MOD "hub"

/* ---- registry changes with their hooks --------------------------------- */

static void hook_cid_owners(phc_hub_t *h, const char *key, const char *cid,
                            int clen, const phc__reg_owner_t *o, int n) {
  ei_x_buff d;
  phc__x_new_with_version(&d);
  phc__x_tuple_header(&d, 2);
  phc__x_append_buf(&d, cid, clen);
  if (n) phc__x_list_header(&d, n);
  for (int i = 0; i < n; i++) {
    phc__x_tuple_header(&d, 2);
    phc__x_atom(&d, o[i].node);
    phc__x_pid(&d, &o[i].pid);
  }
  phc__x_empty_list(&d);
  phc__hub_hook(h, key, &d);
  ei_x_free(&d);
}

/* ProcessRegistry.bulk_insert of one row: merge, then registry_pid_insert
 * with the pairs that are new or changed (get_insert_diff's order). */
void phc__hub_reg_merge(phc_hub_t *h, const char *cid, int clen,
                        const char *spec, int slen, const char *meta, int mlen,
                        const phc__reg_owner_t *o, int n) {
  phc__reg_owner_t diff[PHC__HUB_MAX_NODES];
  int k = 0;
  const phc__reg_row_t *row = phc__reg_find(&h->reg, cid, clen);
  for (int i = n - 1; i >= 0 && k < PHC__HUB_MAX_NODES; i--) {
    const phc__reg_owner_t *old = row ? phc__reg_owner(row, o[i].node) : NULL;
    if (!old || !phc__cpid_same(&old->pid, &o[i].pid)) diff[k++] = o[i];
  }
  phc__reg_merge(&h->reg, cid, clen, spec, slen, meta, mlen, o, n);
  if (k) hook_cid_owners(h, "registry_pid_insert_hook", cid, clen, diff, k);
}

/* bulk_delete of one node from one row, with registry_pid_remove. Our own
 * unregistration of a row we already left (a migration out, which drops
 * the row at once) fires nothing: the hook fired then. */
void phc__hub_reg_remove_hooked(phc_hub_t *h, const char *cid, int clen,
                                const char *node) {
  const phc__reg_row_t *row = phc__reg_find(&h->reg, cid, clen);
  if (!row || (!strcmp(node, h->n->name) && !phc__reg_owner(row, h->n->name)))
    return;
  ei_x_buff d; /* built first: cid may point into the row */
  phc__x_new_with_version(&d);
  phc__x_tuple_header(&d, 2);
  phc__x_append_buf(&d, cid, clen);
  phc__x_list_header(&d, 1);
  phc__x_atom(&d, node);
  phc__x_empty_list(&d);
  phc__reg_remove_node(&h->reg, cid, clen, node);
  phc__hub_hook(h, "registry_pid_remove_hook", &d);
  ei_x_free(&d);
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
          phc__term_atom(buf, &cn, onode, sizeof onode) < 0)
        goto bad;
      erlang_pid opid;
      if (ei_decode_pid(buf, &cn, &opid) == 0)
        o[k++] = phc__reg_owner_make(onode, &opid);
      else if (ei_skip_term(buf, &cn) < 0)
        goto bad;
    }
    phc__hub_reg_merge(h, buf + cid, phc__hub_term_len(buf, cid), buf + spec,
                       phc__hub_term_len(buf, spec), buf + meta,
                       phc__hub_term_len(buf, meta), o, k);
  }
  return;
bad:
  PHC_LOG_W(MOD, "%s: dropping a malformed children_registration_event", h->id);
}

static void reply_stop_results(phc_hub_t *h, const char *buf, int results,
                               int nres, int opts) {
  erlang_pid reply_to[PHC__HUB_MAX_REPLY_TO];
  int v, k = 0;
  if (phc__term_kw_get(buf, opts, "reply_to", &v) < 0) return;
  k = phc__term_pids(buf, &v, reply_to, PHC__HUB_MAX_REPLY_TO);
  if (k > PHC__HUB_MAX_REPLY_TO) k = PHC__HUB_MAX_REPLY_TO; /* negative: none */
  phc__hub_list_t l;
  phc__hub_list_init(&l);
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
    phc__x_tuple_header(&l.items, 2);
    phc__x_append_buf(&l.items, buf + cid, res - cid);
    phc__x_append_buf(&l.items, buf + res, phc__hub_term_len(buf, res));
    l.n++;
  }
  if (!l.n) {
    ei_x_free(&l.items);
    return;
  }
  ei_x_buff m;
  phc__x_new_with_version(&m);
  phc__x_tuple_header(&m, 3);
  phc__x_atom(&m, "collect_stop_results");
  phc__hub_list_close(&l, &m);
  phc__x_atom(&m, h->n->name);
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
  if (phc__term_atom(buf, &idx, sender, sizeof sender) < 0) goto bad;
  int opts = idx;
  /* second pass: remove sender from each row */
  idx = results;
  ei_decode_list_header(buf, &idx, &n);
  for (int i = 0; i < n; i++) {
    int ta;
    ei_decode_tuple_header(buf, &idx, &ta);
    int cid = idx;
    ei_skip_term(buf, &idx);
    phc__hub_reg_remove_hooked(h, buf + cid, idx - cid, sender);
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
      phc__term_atom(buf, &idx, node, sizeof node) < 0 ||
      ei_decode_pid(buf, &idx, &pid) < 0)
    goto bad;
  if (phc__reg_update_pid(&h->reg, buf + cid, clen, node, &pid) != 0) {
    PHC_LOG_W(MOD, "%s: pid update for an unknown child dropped", h->id);
    return;
  }
  const phc__reg_row_t *row = phc__reg_find(&h->reg, buf + cid, clen);
  hook_cid_owners(h, "registry_pid_insert_hook", buf + cid, clen, row->owners,
                  row->nowners);
  ei_x_buff d; /* {Node, Pid} */
  phc__x_new_with_version(&d);
  phc__x_tuple_header(&d, 2);
  phc__x_atom(&d, node);
  phc__x_pid(&d, &pid);
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
 * (Synchronizer.detach_data): ProcessRegistry.insert of the rest, with
 * registry_pid_insert_hook {Cid, Rest}, or ProcessRegistry.delete, with
 * registry_pid_remove_hook Cid. */
static void detach_missing(phc_hub_t *h, const char *node, cid_seen_t *seen) {
  phc__reg_row_t **v;
  int n = phc__reg_sorted(&h->reg, &v);
  for (int i = 0; i < n; i++) {
    cid_seen_t *s = NULL;
    phc__reg_owner_t rest[PHC__HUB_MAX_NODES];
    int k = 0;
    if (!phc__reg_owner(v[i], node)) continue;
    HASH_FIND(hh, seen, v[i]->cid, (unsigned)v[i]->cid_len, s);
    if (s) continue;
    for (int j = 0; j < v[i]->nowners && k < PHC__HUB_MAX_NODES; j++)
      if (strcmp(v[i]->owners[j].node, node) != 0) rest[k++] = v[i]->owners[j];
    if (k) { /* the row stays: its cid too */
      phc__reg_remove_node(&h->reg, v[i]->cid, v[i]->cid_len, node);
      hook_cid_owners(h, "registry_pid_insert_hook", v[i]->cid, v[i]->cid_len,
                      rest, k);
      continue;
    }
    ei_x_buff d; /* built first: the row goes */
    phc__x_new_with_version(&d);
    phc__x_append_buf(&d, v[i]->cid, v[i]->cid_len);
    phc__reg_remove_node(&h->reg, v[i]->cid, v[i]->cid_len, node);
    phc__hub_hook(h, "registry_pid_remove_hook", &d);
    ei_x_free(&d);
  }
  free(v);
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
    int clen = phc__hub_term_len(buf, cid);
    s = phc__xcalloc(1, sizeof *s);
    s->cid = buf + cid;
    s->len = clen;
    HASH_ADD_KEYPTR(hh, seen, s->cid, (unsigned)clen, s);
    if (!has_pid) continue;
    if (detach) { /* the periodic sync: Keyword.get_and_update, insert */
      phc__reg_set_pid(&h->reg, buf + cid, clen, buf + spec,
                       phc__hub_term_len(buf, spec), buf + meta, idx - meta,
                       node, &pid);
      const phc__reg_row_t *row = phc__reg_find(&h->reg, buf + cid, clen);
      if (row)
        hook_cid_owners(h, "registry_pid_insert_hook", buf + cid, clen,
                        row->owners, row->nowners);
    } else { /* sync_remote_children_event: a bulk-insert merge */
      phc__reg_owner_t o = phc__reg_owner_make(node, &pid);
      phc__hub_reg_merge(h, buf + cid, clen, buf + spec,
                         phc__hub_term_len(buf, spec), buf + meta, idx - meta,
                         &o, 1);
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
  if (ei_skip_term(buf, &idx) < 0 ||
      phc__term_atom(buf, &idx, node, sizeof node) < 0)
    goto bad;
  phc__hub_apply_sync(h, node, buf, data, 0);
  return;
bad:
  PHC_LOG_W(MOD, "%s: dropping a malformed sync_remote_children_event", h->id);
}

void phc__hub_enc_local_sync(phc_hub_t *h, ei_x_buff *x) {
  phc__reg_row_t **v;
  int n = phc__reg_sorted(&h->reg, &v), k = 0;
  for (int i = 0; i < n; i++)
    k += phc__reg_owner(v[i], h->n->name) != NULL;
  if (k) phc__x_list_header(x, k);
  for (int i = 0; i < n; i++) {
    const phc__reg_owner_t *o = phc__reg_owner(v[i], h->n->name);
    if (!o) continue;
    phc__x_tuple_header(x, 3);
    phc__x_append_buf(x, v[i]->spec, v[i]->spec_len);
    phc__x_pid(x, &o->pid);
    phc__x_append_buf(x, v[i]->meta, v[i]->meta_len);
  }
  phc__x_empty_list(x);
  free(v);
}

/* ---- supervisor events ----------------------------------------------- */

static void dispatch_pid_update(phc_hub_t *h, const char *cid, int clen,
                                const erlang_pid *pid) {
  ei_x_buff p;
  phc__x_new(&p);
  phc__x_tuple_header(&p, 2);
  phc__x_append_buf(&p, cid, clen);
  phc__x_tuple_header(&p, 2);
  phc__x_atom(&p, h->n->name);
  phc__x_pid(&p, pid);
  phc__hub_dispatch(h, "child_process_pid_update_event", "global", p.buff,
                    p.index);
  ei_x_free(&p);
}

static void dispatch_self_exit(phc_hub_t *h, const char *cid, int clen) {
  ei_x_buff p;
  phc__x_new(&p);
  phc__x_tuple_header(&p, 3);
  phc__x_list_header(&p, 1);
  phc__x_tuple_header(&p, 3);
  phc__x_append_buf(&p, cid, clen);
  phc__x_atom(&p, "self_exit");
  phc__x_atom(&p, h->n->name);
  phc__x_empty_list(&p);
  phc__x_atom(&p, h->n->name);
  phc__x_empty_list(&p);
  phc__hub_dispatch(h, "children_unregistration_event", "global", p.buff,
                    p.index);
  ei_x_free(&p);
}

void phc__hub_sup_event(phc__sup_t *sup, int event, const char *id,
                        const phc_pid_t *old_pid, const phc_pid_t *new_pid,
                        const char *reason, int len, void *arg) {
  phc_hub_t *h = arg;
  char cid[256];
  PHC__UNUSED(old_pid);
  PHC__UNUSED(reason);
  PHC__UNUSED(len);
  if (!id || h->leaving || sup != h->sup) return; /* partition mode's stop */
  int clen = phc__child_data_cid(id, cid, sizeof cid);
  if (clen <= 0) return;
  if (event == PHC__SUP_CHILD_RESTARTED) {
    /* our own coordinator applies it too: the event goes to global */
    dispatch_pid_update(h, cid, clen, new_pid);
  } else if (event == PHC__SUP_CHILD_GONE) {
    /* terminated by the hub (stop, migration): the spec goes too, as
     * DistributedSupervisor.terminate_child deletes it */
    if (phc__hub_take_terminating(h, id))
      phc__sup_delete_child(sup, id);
    else
      dispatch_self_exit(h, cid, clen);
  }
}
