/* gossip.c - ProcessHub.Strategy.Synchronization.Gossip: registrations
 * spread from node to node, and a periodic round collects every member's
 * local children into one ref-tagged map that each member applies once it
 * holds every node's part.
 *
 * Options (the struct's fields, as a keyword list or the struct map):
 * sync_interval (ms, default 15000; it becomes the hub's sync interval),
 * recipients (default 3), restricted_init (default true: only the member
 * whose name sorts first starts a round). An unknown option or bad value
 * fails init with one log line naming it.
 *
 * What arrives: BEAM members send their gossip as closures by spawn
 * request (hub/closures.c hands them here through handle_synchronization):
 *   {gossip_sync, #{ref, nodes_data, sync_acks}}   a periodic round,
 *   {gossip_prop, {Ref, Acks, Children, Node}, add | rem}   a propagation.
 * Both are handled as Gossip's handle_synchronization and
 * handle_propagation do: our local data appended (microsecond timestamps,
 * the newer part wins when a ref's cached data is merged), forwarded to
 * the nodes still missing, applied (append then detach, each node's data
 * only when newer than what was applied from it) and acked, the ref
 * invalidated when everyone acked. Cached refs live sync_interval ms.
 *
 * What goes out: phc cannot send closures, so it asks the recipient's rex
 * to run the public function the closure would run there (an rpc:cast,
 * a plain message): Synchronizer.exec_interval_sync(HubId, Strategy,
 * SyncData, phc) for a round, Gossip.propagate_data([Node], #{hub_id},
 * Strategy, Data, Type) for a propagation (the recipient then spreads it
 * itself). Those run in a process of their own on the recipient, not in
 * its worker queue. */
#include <stdlib.h>
#include <time.h>

#include "hub/hub.h"
#include "term/enc.h"

#define MOD "gossip"
#define GS_MODULE "Elixir.ProcessHub.Strategy.Synchronization.Gossip"
#define GS_MAX_REFS 16

typedef struct gs_part_s { /* one node's part of a round */
  char node[PHC__ATOM_MAX];
  char *data; /* [{ChildSpec, Pid, Meta}], no version byte */
  int len;
  long long ts;
} gs_part_t;

typedef struct gs_ref_s {
  char *ref; /* the encoded ref, no version byte */
  int ref_len;
  uint64_t expires_ms;
  int invalidated;
  int nparts;
  gs_part_t parts[PHC__HUB_MAX_NODES];
  int nacks;
  char acks[PHC__HUB_MAX_NODES][PHC__ATOM_MAX];
} gs_ref_t;

typedef struct gs_state_s {
  long long interval;
  int recipients;
  int restricted;
  gs_ref_t *refs[GS_MAX_REFS];
  int ngct; /* gossip_node_timestamps */
  char gct_node[PHC__HUB_MAX_NODES][PHC__ATOM_MAX];
  long long gct_ts[PHC__HUB_MAX_NODES];
} gs_state_t;

/* ---- options ------------------------------------------------------------- */

static int gs_option(void *arg, const char *key, const char *buf, int idx) {
  gs_state_t *s = arg;
  long long v;
  char a[8];
  int i = idx;
  if (!strcmp(key, "sync_interval") || !strcmp(key, "recipients")) {
    if (ei_decode_longlong(buf, &i, &v) < 0 || v <= 0 || v > 86400000) goto bad;
    if (key[0] == 's')
      s->interval = v;
    else
      s->recipients = (int)(v < PHC__HUB_MAX_NODES ? v : PHC__HUB_MAX_NODES);
  } else if (!strcmp(key, "restricted_init")) {
    if (phc__term_atom(buf, &i, a, sizeof a) < 0 ||
        (strcmp(a, "true") && strcmp(a, "false")))
      goto bad;
    s->restricted = !strcmp(a, "true");
  } else {
    PHC_LOG_E(MOD, "unknown Gossip option: %s", key);
    return PHC_EINVAL;
  }
  return 0;
bad:
  PHC_LOG_E(MOD, "bad value for Gossip option %s", key);
  return PHC_EINVAL;
}

static int gs_parse(gs_state_t *s, const char *buf, int idx) {
  s->interval = 15000;
  s->recipients = 3;
  s->restricted = 1;
  return buf ? phc__strat_opts_each(buf, idx, gs_option, s) : 0;
}

static int gs_check(const char *buf, int idx) {
  gs_state_t *s = phc__xcalloc(1, sizeof *s);
  int rc = gs_parse(s, buf, idx);
  free(s);
  return rc;
}

static int gs_init(phc_hub_t *h, void *st, const char *buf, int idx) {
  gs_state_t *s = st;
  int rc = gs_parse(s, buf, idx);
  if (!rc && h) phc__hub_set_sync_interval(h, (unsigned)s->interval);
  return rc;
}

/* ---- the ref cache (Storage rows with a TTL) ---------------------------- */

static uint64_t gs_now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

static long long gs_now_us(void) { /* Bag.timestamp(:microsecond) */
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (long long)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static void gs_ref_clear(gs_ref_t *r) {
  for (int i = 0; i < r->nparts; i++)
    free(r->parts[i].data);
  r->nparts = 0;
  r->nacks = 0;
}

static void gs_ref_free(gs_ref_t *r) {
  if (!r) return;
  gs_ref_clear(r);
  free(r->ref);
  free(r);
}

static void gs_close(phc_hub_t *h, void *st) {
  gs_state_t *s = st;
  PHC__UNUSED(h);
  for (int i = 0; i < GS_MAX_REFS; i++)
    gs_ref_free(s->refs[i]);
}

/* The live row of ref, or NULL; expired rows are dropped on the way. */
static gs_ref_t *gs_ref_find(gs_state_t *s, const char *ref, int len) {
  uint64_t now = gs_now_ms();
  gs_ref_t *found = NULL;
  for (int i = 0; i < GS_MAX_REFS; i++) {
    gs_ref_t *r = s->refs[i];
    if (r && r->expires_ms <= now) {
      gs_ref_free(r);
      s->refs[i] = NULL;
    } else if (r && r->ref_len == len && !memcmp(r->ref, ref, (size_t)len)) {
      found = r;
    }
  }
  return found;
}

/* The row of ref, made (the oldest evicted when full); its TTL renewed. */
static gs_ref_t *gs_ref_put(gs_state_t *s, const char *ref, int len) {
  gs_ref_t *r = gs_ref_find(s, ref, len);
  if (!r) {
    int k = 0;
    for (int i = 0; i < GS_MAX_REFS; i++) {
      if (!s->refs[i]) {
        k = i;
        break;
      }
      if (s->refs[i]->expires_ms < s->refs[k]->expires_ms) k = i;
    }
    gs_ref_free(s->refs[k]);
    r = s->refs[k] = phc__xcalloc(1, sizeof *r);
    r->ref = memcpy(phc__xmalloc((size_t)len), ref, (size_t)len);
    r->ref_len = len;
  }
  r->expires_ms = gs_now_ms() + (uint64_t)s->interval;
  return r;
}

static int gs_acked(const gs_ref_t *r, const char *node) {
  for (int i = 0; i < r->nacks; i++)
    if (!strcmp(r->acks[i], node)) return 1;
  return 0;
}

static void gs_ack(gs_ref_t *r, const char *node) {
  if (!gs_acked(r, node) && r->nacks < PHC__HUB_MAX_NODES)
    snprintf(r->acks[r->nacks++], PHC__ATOM_MAX, "%s", node);
}

static gs_part_t *gs_part(gs_ref_t *r, const char *node) {
  for (int i = 0; i < r->nparts; i++)
    if (!strcmp(r->parts[i].node, node)) return &r->parts[i];
  return NULL;
}

/* Keep node's part when it is newer than the one held (or none is). */
static void gs_part_put(gs_ref_t *r, const char *node, const char *data,
                        int len, long long ts) {
  gs_part_t *p = gs_part(r, node);
  if (p && p->ts >= ts) return;
  if (!p) {
    if (r->nparts == PHC__HUB_MAX_NODES) return;
    p = &r->parts[r->nparts++];
    snprintf(p->node, PHC__ATOM_MAX, "%s", node);
  } else {
    free(p->data);
  }
  p->data = memcpy(phc__xmalloc((size_t)len), data, (size_t)len);
  p->len = len;
  p->ts = ts;
}

static void gs_put_local(phc_hub_t *h, gs_ref_t *r) {
  ei_x_buff d;
  phc__x_new(&d);
  phc__hub_enc_local_sync(h, &d);
  gs_part_t *p = gs_part(r, h->n->name);
  if (p) p->ts = 0; /* Map.put: ours replaces what the message held */
  gs_part_put(r, h->n->name, d.buff, d.index, gs_now_us());
  ei_x_free(&d);
}

/* ---- decoding ------------------------------------------------------------ */

/* nodes_data: #{Node => {Data, Ts}}, merged into r (newer wins). */
static int gs_dec_parts(const char *buf, int idx, gs_ref_t *r) {
  int n, arity;
  if (ei_decode_map_header(buf, &idx, &n) < 0) return PHC_EINVAL;
  for (int i = 0; i < n; i++) {
    char node[PHC__ATOM_MAX];
    long long ts;
    if (phc__term_atom(buf, &idx, node, sizeof node) < 0 ||
        ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 2)
      return PHC_EINVAL;
    int d = idx;
    if (ei_skip_term(buf, &idx) < 0) return PHC_EINVAL;
    int dlen = idx - d;
    if (ei_decode_longlong(buf, &idx, &ts) < 0) return PHC_EINVAL;
    gs_part_put(r, node, buf + d, dlen, ts);
  }
  return 0;
}

static int gs_dec_acks(const char *buf, int idx, gs_ref_t *r) {
  int n;
  if (ei_decode_list_header(buf, &idx, &n) < 0) return PHC_EINVAL;
  for (int i = 0; i < n; i++) {
    char node[PHC__ATOM_MAX];
    if (phc__term_atom(buf, &idx, node, sizeof node) < 0) return PHC_EINVAL;
    gs_ack(r, node);
  }
  return 0;
}

/* ---- sending ------------------------------------------------------------- */

static void gs_enc_strategy(ei_x_buff *x, const gs_state_t *s) {
  phc__x_map_header(x, 4);
  phc__x_atom(x, "__struct__");
  phc__x_atom(x, GS_MODULE);
  phc__x_atom(x, "recipients");
  phc__x_long(x, s->recipients);
  phc__x_atom(x, "restricted_init");
  phc__x_atom(x, s->restricted ? "true" : "false");
  phc__x_atom(x, "sync_interval");
  phc__x_longlong(x, s->interval);
}

static void gs_enc_sync(ei_x_buff *x, const gs_ref_t *r) {
  phc__x_map_header(x, 3);
  phc__x_atom(x, "ref");
  phc__x_append_buf(x, r->ref, r->ref_len);
  phc__x_atom(x, "nodes_data");
  phc__x_map_header(x, r->nparts);
  for (int i = 0; i < r->nparts; i++) {
    phc__x_atom(x, r->parts[i].node);
    phc__x_tuple_header(x, 2);
    phc__x_append_buf(x, r->parts[i].data, r->parts[i].len);
    phc__x_longlong(x, r->parts[i].ts);
  }
  phc__x_atom(x, "sync_acks");
  if (r->nacks) phc__x_list_header(x, r->nacks);
  for (int i = 0; i < r->nacks; i++)
    phc__x_atom(x, r->acks[i]);
  phc__x_empty_list(x);
}

/* forward_data: each recipient runs the round's data (not ourselves). */
static void gs_forward(phc_hub_t *h, const gs_state_t *s, const gs_ref_t *r,
                       const char *const *nodes, int n) {
  ei_x_buff a;
  phc__x_new(&a);
  phc__x_list_header(&a, 4);
  phc__x_atom(&a, h->id);
  gs_enc_strategy(&a, s);
  gs_enc_sync(&a, r);
  phc__x_atom(&a, h->n->name);
  phc__x_empty_list(&a);
  for (int i = 0; i < n; i++)
    if (strcmp(nodes[i], h->n->name) != 0)
      phc__hub_rex_cast(h, nodes[i], "Elixir.ProcessHub.Service.Synchronizer",
                        "exec_interval_sync", a.buff, a.index);
  ei_x_free(&a);
}

/* Enum.take_random(nodes, recipients), in place; returns how many. */
static int gs_take_random(const char **nodes, int n, int k) {
  for (int i = 0; i < n && i < k; i++) {
    int j = i + rand() % (n - i);
    const char *t = nodes[i];
    nodes[i] = nodes[j];
    nodes[j] = t;
  }
  return n < k ? n : k;
}

/* ---- the periodic round -------------------------------------------------- */

/* Append then detach each other node's part newer than the last applied. */
static void gs_sync_locally(phc_hub_t *h, gs_state_t *s, const gs_ref_t *r) {
  for (int i = 0; i < r->nparts; i++) {
    const gs_part_t *p = &r->parts[i];
    if (!strcmp(p->node, h->n->name)) continue;
    int k = 0;
    while (k < s->ngct && strcmp(s->gct_node[k], p->node))
      k++;
    if (k < s->ngct && s->gct_ts[k] >= p->ts) continue;
    if (k == s->ngct) {
      if (k == PHC__HUB_MAX_NODES) continue;
      snprintf(s->gct_node[s->ngct++], PHC__ATOM_MAX, "%s", p->node);
    }
    s->gct_ts[k] = p->ts;
    phc__hub_apply_sync(h, p->node, p->data, 0, 1);
  }
}

/* handle_sync_data: forward to the nodes missing from the data, or, with
 * everyone's part in, apply and ack, then forward to the unacked. */
static void gs_handle_round(phc_hub_t *h, gs_state_t *s, gs_ref_t *r) {
  const char *todo[PHC__HUB_MAX_NODES];
  int k = 0, me_unacked = 0;
  for (int i = 0; i < h->nnodes; i++)
    if (!gs_part(r, h->nodes[i])) todo[k++] = h->nodes[i];
  if (k) {
    gs_forward(h, s, r, todo, k);
    return;
  }
  for (int i = 0; i < h->nnodes; i++)
    if (!gs_acked(r, h->nodes[i])) {
      todo[k++] = h->nodes[i];
      me_unacked |= !strcmp(h->nodes[i], h->n->name);
    }
  if (me_unacked) {
    gs_sync_locally(h, s, r);
    gs_ack(r, h->n->name);
  }
  if (!k) {
    r->invalidated = 1;
    gs_ref_clear(r);
  } else {
    gs_forward(h, s, r, todo, k);
  }
}

/* handle_synchronization(#{ref, nodes_data, sync_acks}) */
static int gs_on_round(phc_hub_t *h, gs_state_t *s, const char *buf, int idx) {
  int ri, di, ai;
  if (phc__term_map_get(buf, idx, "ref", &ri) < 0 ||
      phc__term_map_get(buf, idx, "nodes_data", &di) < 0 ||
      phc__term_map_get(buf, idx, "sync_acks", &ai) < 0)
    return PHC_EINVAL;
  int end = ri;
  if (ei_skip_term(buf, &end) < 0) return PHC_EINVAL;
  gs_ref_t *r = gs_ref_find(s, buf + ri, end - ri);
  if (r && r->invalidated) return 0;
  int fresh = !r;
  r = gs_ref_put(s, buf + ri, end - ri);
  if (gs_dec_parts(buf, di, r) < 0 || (!fresh && gs_dec_acks(buf, ai, r) < 0))
    return PHC_EINVAL; /* a fresh ref starts with no acks, as ProcessHub */
  gs_put_local(h, r);
  gs_handle_round(h, s, r);
  return 0;
}

/* init_sync: under restricted_init only the first node by name starts. */
static void gs_init_sync(phc_hub_t *h, void *st) {
  gs_state_t *s = st;
  const char *others[PHC__HUB_MAX_NODES];
  int n = 0;
  for (int i = 0; i < h->nnodes; i++) {
    if (s->restricted && strcmp(h->nodes[i], h->n->name) < 0) return;
    if (strcmp(h->nodes[i], h->n->name)) others[n++] = h->nodes[i];
  }
  phc_ref_t ref;
  if (phc_make_ref(h->n, &ref) < 0) return;
  ei_x_buff rb;
  phc__x_new(&rb);
  phc__x_ref(&rb, &ref);
  gs_ref_t *r = gs_ref_put(s, rb.buff, rb.index);
  ei_x_free(&rb);
  gs_put_local(h, r);
  gs_forward(h, s, r, others, gs_take_random(others, n, s->recipients));
}

/* ---- propagation --------------------------------------------------------- */

/* Gossip.propagate_data([Node], #{hub_id}, Strategy, {Ref, Acks, Children,
 * UpdateNode}, Type) on each node; data: the 4-tuple's fields. */
static void gs_propagate_to(phc_hub_t *h, const gs_state_t *s,
                            const char *const *nodes, int n, const char *ref,
                            int ref_len, const gs_ref_t *acks,
                            const char *children, int clen,
                            const char *upd_node, const char *type) {
  for (int i = 0; i < n; i++) {
    if (!strcmp(nodes[i], h->n->name)) continue;
    ei_x_buff a;
    phc__x_new(&a);
    phc__x_list_header(&a, 5);
    phc__x_list_header(&a, 1);
    phc__x_atom(&a, nodes[i]);
    phc__x_empty_list(&a);
    phc__x_map_header(&a, 1);
    phc__x_atom(&a, "hub_id");
    phc__x_atom(&a, h->id);
    gs_enc_strategy(&a, s);
    phc__x_tuple_header(&a, 4);
    phc__x_append_buf(&a, ref, ref_len);
    if (acks->nacks) phc__x_list_header(&a, acks->nacks);
    for (int j = 0; j < acks->nacks; j++)
      phc__x_atom(&a, acks->acks[j]);
    phc__x_empty_list(&a);
    phc__x_append_buf(&a, children, clen);
    phc__x_atom(&a, upd_node);
    phc__x_atom(&a, type);
    phc__x_empty_list(&a);
    phc__hub_rex_cast(h, nodes[i], GS_MODULE, "propagate_data", a.buff,
                      a.index);
    ei_x_free(&a);
  }
}

/* The registration or unregistration event, applied here. */
static void gs_apply_event(phc_hub_t *h, const char *children, int clen,
                           const char *node, int add) {
  ei_x_buff p;
  phc__x_new(&p);
  phc__x_tuple_header(&p, 3);
  phc__x_append_buf(&p, children, clen);
  phc__x_atom(&p, node);
  phc__x_empty_list(&p);
  if (add)
    phc__hub_on_registration(h, p.buff, 0);
  else
    phc__hub_on_unregistration(h, p.buff, 0);
  ei_x_free(&p);
}

static void gs_propagate(phc_hub_t *h, void *st, const char *children, int len,
                         const char *node, phc__strat_sync_op_t op,
                         const char *opts, int opts_len) {
  gs_state_t *s = st;
  const char *others[PHC__HUB_MAX_NODES];
  int n = 0;
  PHC__UNUSED(opts);
  PHC__UNUSED(opts_len);
  gs_apply_event(h, children, len, node, op == PHC__STRAT_SYNC_ADD);
  for (int i = 0; i < h->nnodes; i++)
    if (strcmp(h->nodes[i], h->n->name)) others[n++] = h->nodes[i];
  n = gs_take_random(others, n, s->recipients);
  phc_ref_t ref;
  if (!n || phc_make_ref(h->n, &ref) < 0) return;
  ei_x_buff rb;
  phc__x_new(&rb);
  phc__x_ref(&rb, &ref);
  gs_ref_t *acks = phc__xcalloc(1, sizeof *acks);
  gs_ack(acks, h->n->name);
  gs_propagate_to(h, s, others, n, rb.buff, rb.index, acks, children, len, node,
                  op == PHC__STRAT_SYNC_ADD ? "add" : "rem");
  free(acks);
  ei_x_free(&rb);
}

/* handle_propagation({Ref, Acks, Children, UpdateNode}, Type) */
static int gs_on_propagation(phc_hub_t *h, gs_state_t *s, const char *buf,
                             int idx, int add) {
  int arity, ri, ci;
  char upd[PHC__ATOM_MAX];
  if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 4)
    return PHC_EINVAL;
  ri = idx;
  if (ei_skip_term(buf, &idx) < 0) return PHC_EINVAL;
  int ref_len = idx - ri;
  gs_ref_t *r = gs_ref_find(s, buf + ri, ref_len);
  if (r && r->invalidated) return 0;
  r = gs_ref_put(s, buf + ri, ref_len);
  if (gs_dec_acks(buf, idx, r) < 0 || ei_skip_term(buf, &idx) < 0)
    return PHC_EINVAL;
  ci = idx;
  if (ei_skip_term(buf, &idx) < 0) return PHC_EINVAL;
  int clen = idx - ci;
  if (phc__term_atom(buf, &idx, upd, sizeof upd) < 0) return PHC_EINVAL;
  const char *unacked[PHC__HUB_MAX_NODES];
  int n = 0, me = 0;
  for (int i = 0; i < h->nnodes; i++)
    if (!gs_acked(r, h->nodes[i])) {
      unacked[n++] = h->nodes[i];
      me |= !strcmp(h->nodes[i], h->n->name);
    }
  if (!n) r->invalidated = 1;
  if (me) {
    gs_apply_event(h, buf + ci, clen, upd, add);
    gs_ack(r, h->n->name);
  }
  n = gs_take_random(unacked, n, s->recipients);
  gs_propagate_to(h, s, unacked, n, buf + ri, ref_len, r, buf + ci, clen, upd,
                  add ? "add" : "rem");
  return 0;
}

/* ---- handle_synchronization ------------------------------------------------
 */

static void gs_handle_synchronization(phc_hub_t *h, void *st, const char *buf,
                                      int idx, const char *node) {
  char tag[PHC__ATOM_MAX], type[8];
  int arity, rc = PHC_EINVAL;
  if (ei_decode_tuple_header(buf, &idx, &arity) < 0 ||
      phc__term_atom(buf, &idx, tag, sizeof tag) < 0) {
  } else if (arity == 2 && !strcmp(tag, "gossip_sync")) {
    rc = gs_on_round(h, st, buf, idx);
  } else if (arity == 3 && !strcmp(tag, "gossip_prop")) {
    int t = idx;
    if (ei_skip_term(buf, &t) == 0 &&
        phc__term_atom(buf, &t, type, sizeof type) == 0 &&
        (!strcmp(type, "add") || !strcmp(type, "rem")))
      rc = gs_on_propagation(h, st, buf, idx, !strcmp(type, "add"));
  }
  if (rc)
    PHC_LOG_W(MOD, "%s: a gossip message from %s it cannot read, dropped",
              h->id, node);
}

const phc__strat_sync_t phc__strat_gossip = {
    .base = {.kind = PHC__STRAT_SYNCHRONIZATION,
             .module = GS_MODULE,
             .state_size = sizeof(gs_state_t),
             .init = gs_init,
             .check = gs_check,
             .close = gs_close},
    .propagate = gs_propagate,
    .init_sync = gs_init_sync,
    .handle_synchronization = gs_handle_synchronization};
