/* global.c - global_name_server for a partition that owns no names.
 *
 * The protocol engine (phc__global_*) is a state machine on messages: it
 * decodes one message, updates the per-peer session or the lock table, and
 * emits messages through the io table. phc__global_start() wraps it in two
 * processes of the runtime: the server itself and a locker that only
 * forwards what it gets (peers need a locker pid for their lock ids).
 * See global.h for the protocol.
 */
#include "global.h"

#include <stdlib.h>
#include <uthash.h>

#include "../dist/dist.h"
#include "../term/ext.h"

#define MOD "global"
#define GNS "global_name_server"
#define TIMER_TAG "$phc_global_timer"

/* Back-off after a refused lock, and how long to hold our own lock while
 * waiting for the peer's lock_set. */
#define RETRY_MIN_MS 50
#define RETRY_SPREAD_MS 200
#define LOCK_WAIT_MS 3000
/* How long we leave the lead to a peer that is alone (its locker acts
 * 200 ms after its last event) when we are in sync with other nodes; see
 * global.h ("who leads"). */
#define LEAD_WAIT_MS 500
#define LEAD_SPREAD_MS 100
/* Warnings about bad input before they go to debug level. */
#define WARN_BUDGET 20

enum lock_state { LK_NONE = 0, LK_SENT, LK_SET };

typedef struct gpeer_s {
  UT_hash_handle hh;
  char node[PHC__ATOM_MAX];
  int up, known, synced, vsn;
  /* the session (a connect in progress) */
  int active;
  long long my_tag;
  int have_his;
  char *his_tag; /* encoded, no version byte */
  int his_tag_len;
  int his_vsn;
  erlang_pid his_locker;
  int lock;
  int exchange_rcvd, resolved_sent, resolved_rcvd;
  char *his_known; /* encoded list from his `resolved` */
  int his_known_len;
  unsigned timer_seq;
} gpeer_t;

typedef struct gholder_s {
  erlang_pid pid;
  erlang_ref ref;
  int has_ref;
} gholder_t;

typedef struct glock_s {
  UT_hash_handle hh;
  char *res; /* canonical encoding of ResourceId (the key) */
  int res_len;
  char *req; /* canonical encoding of LockRequesterId */
  int req_len;
  gholder_t *holders;
  int n_holders;
} glock_t;

struct phc__global_s {
  char node[PHC__ATOM_MAX];
  erlang_pid self, locker;
  phc__global_io_t io;
  gpeer_t *peers;
  glock_t *locks;
  long long next_tag;
  unsigned rng;
  int warn_budget;
};

/* ---- small helpers --------------------------------------------------- */

static void bad_input(phc__global_t *g, const char *what) {
  if (g->warn_budget > 0) {
    g->warn_budget--;
    PHC_LOG_W(MOD, "dropped %s", what);
  } else {
    PHC_LOG_D(MOD, "dropped %s", what);
  }
}

static unsigned next_rand(phc__global_t *g) {
  g->rng = g->rng * 1103515245u + 12345u;
  return (g->rng >> 8) & 0xffffff;
}

int phc__global_pid_cmp(const erlang_pid *a, const erlang_pid *b) {
  if (a->serial != b->serial)
    return a->serial < b->serial ? -1 : 1;
  if (a->num != b->num)
    return a->num < b->num ? -1 : 1;
  int c = strcmp(a->node, b->node);
  if (c)
    return c < 0 ? -1 : 1;
  if (a->creation != b->creation)
    return a->creation < b->creation ? -1 : 1;
  return 0;
}

/* Skip one term and report where it was. */
static int raw_term(const char *b, int *i, const char **start, int *len) {
  int s = *i;
  if (ei_skip_term(b, i) < 0)
    return -1;
  if (start)
    *start = b + s;
  if (len)
    *len = *i - s;
  return 0;
}

/* Equal terms get equal canonical bytes whatever encoding the sender
 * chose (atom tags, pid/ref generations, STRING_EXT vs list, map order):
 * term/ext.h's re-encoder in its PHC__ETF_CANON mode. */
static int same_term(const char *a, int alen, const char *b, int blen) {
  ei_x_buff ca, cb;
  int ia = 0, ib = 0, eq = 0;
  ei_x_new(&ca);
  ei_x_new(&cb);
  if (phc__ext_reencode(&ca, a, alen, &ia, PHC__ETF_CANON) == 0 &&
      ia == alen &&
      phc__ext_reencode(&cb, b, blen, &ib, PHC__ETF_CANON) == 0 && ib == blen)
    eq = ca.index == cb.index &&
         memcmp(ca.buff, cb.buff, (size_t)ca.index) == 0;
  ei_x_free(&ca);
  ei_x_free(&cb);
  return eq;
}

/* ---- output ------------------------------------------------------------ */

static void x_begin(ei_x_buff *x) { ei_x_new_with_version(x); }

static void x_begin_cast(ei_x_buff *x, int arity, const char *tag) {
  x_begin(x);
  ei_x_encode_tuple_header(x, 2);
  ei_x_encode_atom(x, "$gen_cast");
  ei_x_encode_tuple_header(x, arity);
  ei_x_encode_atom(x, tag);
}

static void send_gns(phc__global_t *g, const char *node, ei_x_buff *x) {
  int rc = g->io.send_name(g->io.ctx, node, GNS, x->buff, x->index);
  if (rc < 0)
    PHC_LOG_D(MOD, "send to %s on %s: %s", GNS, node, phc_strerror(rc));
  ei_x_free(x);
}

static void send_pid(phc__global_t *g, const erlang_pid *to, ei_x_buff *x) {
  int rc = g->io.send(g->io.ctx, to, x->buff, x->index);
  if (rc < 0)
    PHC_LOG_D(MOD, "send to pid: %s", phc_strerror(rc));
  ei_x_free(x);
}

static void x_tag(ei_x_buff *x, const gpeer_t *p) {
  ei_x_append_buf(x, p->his_tag, p->his_tag_len);
}

static void send_init_connect(phc__global_t *g, gpeer_t *p) {
  ei_x_buff x;
  x_begin_cast(&x, 4, "init_connect");
  ei_x_encode_tuple_header(&x, 2);
  ei_x_encode_long(&x, PHC__GLOBAL_VSN);
  ei_x_encode_longlong(&x, p->my_tag);
  ei_x_encode_atom(&x, g->node);
  ei_x_encode_tuple_header(&x, 4);
  ei_x_encode_atom(&x, "locker");
  ei_x_encode_atom(&x, "no_longer_a_pid");
  ei_x_encode_empty_list(&x); /* our known nodes; ignored by receivers */
  ei_x_encode_pid(&x, &g->locker);
  send_gns(g, p->node, &x);
}

static void send_plain4(phc__global_t *g, const char *node, const char *tag,
                        const char *tag_a, int tag_a_len, long long tag_b,
                        int with_b) {
  ei_x_buff x;
  x_begin(&x);
  ei_x_encode_tuple_header(&x, with_b ? 4 : 3);
  ei_x_encode_atom(&x, tag);
  ei_x_encode_atom(&x, g->node);
  ei_x_append_buf(&x, tag_a, tag_a_len);
  if (with_b)
    ei_x_encode_longlong(&x, tag_b);
  send_gns(g, node, &x);
}

static void send_lock_set(phc__global_t *g, gpeer_t *p, int ok) {
  ei_x_buff x;
  if (p->his_vsn < 6) { /* old lockers take it straight */
    x_begin(&x);
    ei_x_encode_tuple_header(&x, 4);
    ei_x_encode_atom(&x, "lock_set");
    ei_x_encode_pid(&x, &g->locker);
    ei_x_encode_boolean(&x, ok);
    ei_x_encode_empty_list(&x);
    send_pid(g, &p->his_locker, &x);
    return;
  }
  x_begin_cast(&x, p->his_vsn < 8 ? 4 : 5, "lock_set");
  ei_x_encode_pid(&x, &g->locker);
  ei_x_encode_boolean(&x, ok);
  ei_x_encode_empty_list(&x); /* our partition's other nodes: none */
  if (p->his_vsn >= 8)
    x_tag(&x, p);
  send_gns(g, p->node, &x);
}

static void send_in_sync(phc__global_t *g, const char *node) {
  ei_x_buff x;
  x_begin_cast(&x, 3, "in_sync");
  ei_x_encode_atom(&x, g->node);
  ei_x_encode_boolean(&x, 1);
  send_gns(g, node, &x);
}

static void arm_timer(phc__global_t *g, gpeer_t *p, unsigned ms) {
  ei_x_buff x;
  p->timer_seq++;
  x_begin(&x);
  ei_x_encode_tuple_header(&x, 4);
  ei_x_encode_atom(&x, TIMER_TAG);
  ei_x_encode_atom(&x, p->node);
  ei_x_encode_longlong(&x, p->my_tag);
  ei_x_encode_ulong(&x, p->timer_seq);
  if (g->io.send_after(g->io.ctx, ms, x.buff, x.index) < 0)
    PHC_LOG_W(MOD, "cannot arm a timer for %s", p->node);
  ei_x_free(&x);
}

/* ---- the lock table ----------------------------------------------------- */

static glock_t *lock_find(phc__global_t *g, const char *res, int res_len) {
  glock_t *l = NULL;
  HASH_FIND(hh, g->locks, res, (unsigned)res_len, l);
  return l;
}

static void lock_free(phc__global_t *g, glock_t *l) {
  HASH_DEL(g->locks, l);
  free(l->res);
  free(l->req);
  free(l->holders);
  free(l);
}

static void holder_drop(phc__global_t *g, glock_t *l, int k, int demon) {
  if (demon && l->holders[k].has_ref)
    g->io.demonitor(g->io.ctx, &l->holders[k].ref);
  l->holders[k] = l->holders[--l->n_holders];
  if (l->n_holders == 0)
    lock_free(g, l);
}

/* global's can_set_lock + insert_lock: free, or already held with the same
 * requester id. 1 granted, 0 refused. Canonical res/req bytes. */
static int lock_take(phc__global_t *g, const char *res, int res_len,
                     const char *req, int req_len, const erlang_pid *pid,
                     int monitor) {
  glock_t *l = lock_find(g, res, res_len);
  if (l && (l->req_len != req_len || memcmp(l->req, req, (size_t)req_len)))
    return 0;
  if (!l) {
    l = phc__xcalloc(1, sizeof *l);
    l->res = phc__term_dup(res, res_len);
    l->res_len = res_len;
    l->req = phc__term_dup(req, req_len);
    l->req_len = req_len;
    HASH_ADD_KEYPTR(hh, g->locks, l->res, (unsigned)l->res_len, l);
  }
  for (int k = 0; k < l->n_holders; k++)
    if (phc_pid_eq(&l->holders[k].pid, pid))
      return 1;
  l->holders = phc__xrealloc(l->holders,
                             (size_t)(l->n_holders + 1) * sizeof *l->holders);
  gholder_t *h = &l->holders[l->n_holders++];
  memset(h, 0, sizeof *h);
  h->pid = *pid;
  if (monitor && g->io.monitor(g->io.ctx, pid, &h->ref) == 0)
    h->has_ref = 1;
  return 1;
}

static void lock_release(phc__global_t *g, const char *res, int res_len,
                         const char *req, int req_len, const erlang_pid *pid) {
  glock_t *l = lock_find(g, res, res_len);
  if (!l || l->req_len != req_len || memcmp(l->req, req, (size_t)req_len))
    return;
  for (int k = 0; k < l->n_holders; k++)
    if (phc_pid_eq(&l->holders[k].pid, pid)) {
      holder_drop(g, l, k, 1);
      return;
    }
}

static void lock_down(phc__global_t *g, const erlang_ref *ref) {
  glock_t *l, *tmp;
  HASH_ITER(hh, g->locks, l, tmp) {
    for (int k = 0; k < l->n_holders; k++)
      if (l->holders[k].has_ref && phc_ref_eq(&l->holders[k].ref, ref)) {
        holder_drop(g, l, k, 0);
        return;
      }
  }
}

static void lock_drop_node(phc__global_t *g, const char *node) {
  glock_t *l, *tmp;
  HASH_ITER(hh, g->locks, l, tmp) {
    for (int k = l->n_holders - 1; k >= 0; k--)
      if (strcmp(l->holders[k].pid.node, node) == 0) {
        int last = l->n_holders == 1;
        holder_drop(g, l, k, 1);
        if (last)
          break;
      }
  }
}

int phc__global_lock_count(const phc__global_t *g) {
  return (int)HASH_COUNT(g->locks);
}

/* Our locker's lock id with this peer: {global, lists:sort([LP, LA])}. */
static void session_lock_id(phc__global_t *g, gpeer_t *p, ei_x_buff *res,
                            ei_x_buff *req) {
  const erlang_pid *a = &g->locker, *b = &p->his_locker;
  if (phc__global_pid_cmp(a, b) > 0) {
    const erlang_pid *t = a;
    a = b;
    b = t;
  }
  ei_x_buff x;
  int i = 0;
  ei_x_new(&x);
  ei_x_encode_atom(&x, "global");
  ei_x_encode_list_header(&x, 2);
  ei_x_encode_pid(&x, a);
  ei_x_encode_pid(&x, b);
  ei_x_encode_empty_list(&x);
  /* the canonical bytes a peer's set_lock of this id gets */
  ei_x_new(res);
  ei_x_new(req);
  phc__ext_reencode(res, x.buff, x.index, &i, PHC__ETF_CANON);
  phc__ext_reencode(req, x.buff, x.index, &i, PHC__ETF_CANON);
  ei_x_free(&x);
}

static int own_lock(phc__global_t *g, gpeer_t *p, int take) {
  ei_x_buff res, req;
  int ok = 1;
  session_lock_id(g, p, &res, &req);
  if (take)
    ok = lock_take(g, res.buff, res.index, req.buff, req.index, &g->locker, 0);
  else
    lock_release(g, res.buff, res.index, req.buff, req.index, &g->locker);
  ei_x_free(&res);
  ei_x_free(&req);
  return ok;
}

/* ---- peers and sessions ------------------------------------------------- */

static gpeer_t *peer_find(const phc__global_t *g, const char *node) {
  gpeer_t *p = NULL;
  HASH_FIND_STR(g->peers, node, p);
  return p;
}

static gpeer_t *peer_get(phc__global_t *g, const char *node) {
  gpeer_t *p = peer_find(g, node);
  if (!p) {
    p = phc__xcalloc(1, sizeof *p);
    snprintf(p->node, sizeof p->node, "%s", node);
    HASH_ADD_STR(g->peers, node, p);
  }
  return p;
}

int phc__global_is_synced(const phc__global_t *g, const char *node) {
  const gpeer_t *p = peer_find(g, node);
  return p && (p->known || p->synced);
}

int phc__global_in_session(const phc__global_t *g, const char *node) {
  const gpeer_t *p = peer_find(g, node);
  return p && p->active;
}

static void session_cancel(phc__global_t *g, gpeer_t *p) {
  if (!p->active)
    return;
  if (p->have_his && p->lock != LK_NONE)
    own_lock(g, p, 0);
  free(p->his_tag);
  free(p->his_known);
  p->his_tag = p->his_known = NULL;
  p->his_tag_len = p->his_known_len = 0;
  p->active = p->have_his = 0;
  p->lock = LK_NONE;
  p->exchange_rcvd = p->resolved_sent = p->resolved_rcvd = 0;
  p->timer_seq++;
}

static void session_start(phc__global_t *g, gpeer_t *p) {
  session_cancel(g, p);
  p->active = 1;
  p->my_tag = g->next_tag++;
  PHC_LOG_D(MOD, "connect session with %s (tag %lld)", p->node, p->my_tag);
  send_init_connect(g, p);
}

static void send_resolved(phc__global_t *g, gpeer_t *p);

static void lock_is_set(phc__global_t *g, gpeer_t *p) {
  ei_x_buff x;
  p->lock = LK_SET;
  p->timer_seq++;
  x_begin_cast(&x, 5, "exchange");
  ei_x_encode_atom(&x, g->node);
  ei_x_encode_empty_list(&x); /* our names: none */
  ei_x_encode_empty_list(&x);
  x_tag(&x, p);
  send_gns(g, p->node, &x);
  if (p->exchange_rcvd)
    send_resolved(g, p);
}

/* Take our lock and tell the peer (global's locker, "spontaneous" path). */
static void try_lock(phc__global_t *g, gpeer_t *p) {
  if (!p->active || !p->have_his || p->lock != LK_NONE)
    return;
  if (own_lock(g, p, 1)) {
    p->lock = LK_SENT;
    send_lock_set(g, p, 1);
    arm_timer(g, p, LOCK_WAIT_MS);
  } else {
    arm_timer(g, p, RETRY_MIN_MS + next_rand(g) % RETRY_SPREAD_MS);
  }
}

/* Each node named in a list of nodes or {Node, Vsn}: call fn. */
typedef void (*node_fn)(phc__global_t *g, const char *node, int vsn);

static int each_node(phc__global_t *g, const char *b, int len, node_fn fn) {
  int i = 0, n, type, size;
  if (ei_get_type(b, &i, &type, &size) < 0)
    return -1;
  if (type == ERL_STRING_EXT || len <= 0)
    return -1;
  if (ei_decode_list_header(b, &i, &n) < 0)
    return -1;
  for (int k = 0; k < n; k++) {
    char node[PHC__ATOM_MAX];
    long vsn = 0;
    int ar, save = i;
    if (ei_decode_tuple_header(b, &i, &ar) == 0) {
      if (ar != 2 || phc__term_atom(b, &i, node, sizeof node) < 0 ||
          ei_decode_long(b, &i, &vsn) < 0)
        return -1;
    } else {
      i = save;
      if (phc__term_atom(b, &i, node, sizeof node) < 0)
        return -1;
    }
    if (strcmp(node, g->node) != 0)
      fn(g, node, (int)vsn);
  }
  return 0;
}

/* A node our peer's partition knows: tell it we are in sync with it. */
static void sync_other(phc__global_t *g, const char *node, int vsn) {
  gpeer_t *q = peer_get(g, node);
  session_cancel(g, q);
  q->known = 1;
  if (vsn)
    q->vsn = vsn;
  send_in_sync(g, node);
}

static void session_finish(phc__global_t *g, gpeer_t *p) {
  char *known = p->his_known;
  int known_len = p->his_known_len;
  int vsn = p->his_vsn;
  p->his_known = NULL;
  session_cancel(g, p); /* releases our lock */
  p->known = p->synced = 1;
  p->vsn = vsn;
  PHC_LOG_I(MOD, "in sync with %s", p->node);
  if (known && each_node(g, known, known_len, sync_other) < 0)
    bad_input(g, "a resolved message with a bad node list");
  free(known);
}

static void send_resolved(phc__global_t *g, gpeer_t *p) {
  ei_x_buff x;
  x_begin_cast(&x, 7, "resolved");
  ei_x_encode_atom(&x, g->node);
  ei_x_encode_empty_list(&x); /* resolved conflicts: none */
  ei_x_encode_empty_list(&x); /* our known nodes: none */
  ei_x_encode_atom(&x, "unused");
  ei_x_encode_empty_list(&x); /* names_ext */
  x_tag(&x, p);
  send_gns(g, p->node, &x);
  p->resolved_sent = 1;
  if (p->resolved_rcvd)
    session_finish(g, p);
}

static void restart_connect(phc__global_t *g, gpeer_t *p) {
  session_cancel(g, p);
  if (p->up)
    session_start(g, p);
}

/* ---- casts ------------------------------------------------------------ */

/* Decode our own tag as it came back; 0 if it is not ours. */
static int tag_is_mine(const gpeer_t *p, const char *b, int *i) {
  long long t;
  int save = *i;
  if (ei_decode_longlong(b, i, &t) == 0)
    return p->active && t == p->my_tag;
  *i = save;
  if (ei_skip_term(b, i) < 0)
    return 0;
  return 0;
}

/* Whether the Known of a peer's init_connect names any node: OTP 25 sends
 * its state map (nodes are the atom keys; {pending, N} and
 * {connection_id, N} keys are not), older versions a list of nodes. Any
 * other shape counts as "yes", which makes us lead at once. */
static int knows_nodes(const char *b, int len) {
  int i = 0, type, size, n;
  if (ei_get_type(b, &i, &type, &size) < 0)
    return 1;
  if (type == ERL_NIL_EXT)
    return 0;
  if (type == ERL_MAP_EXT) {
    if (ei_decode_map_header(b, &i, &n) < 0)
      return 1;
    for (int k = 0; k < n; k++) {
      if (ei_get_type(b, &i, &type, &size) < 0)
        return 1;
      if (type == ERL_ATOM_EXT || type == ERL_SMALL_ATOM_EXT ||
          type == ERL_ATOM_UTF8_EXT || type == ERL_SMALL_ATOM_UTF8_EXT)
        return 1;
      if (ei_skip_term(b, &i) < 0 || ei_skip_term(b, &i) < 0)
        return 1;
    }
    return i != len;
  }
  return 1; /* a non-empty list (vsn < 8) or something we do not know */
}

/* Whether we are in sync with a connected node other than p. */
static int knows_others(const phc__global_t *g, const gpeer_t *p) {
  const gpeer_t *q, *tmp;
  HASH_ITER(hh, g->peers, q, tmp) {
    if (q != p && (q->known || q->synced) && q->up)
      return 1;
  }
  return 0;
}

static void on_init_connect(phc__global_t *g, const char *b, int *i) {
  int ar;
  long his_vsn;
  const char *tag;
  int tag_len;
  char node[PHC__ATOM_MAX];
  erlang_pid locker;
  /* Vsn: {HisVsn, HisTag} or a longer tuple from a future version */
  if (ei_decode_tuple_header(b, i, &ar) < 0 || ar < 2 ||
      ei_decode_long(b, i, &his_vsn) < 0 || raw_term(b, i, &tag, &tag_len)) {
    bad_input(g, "init_connect with an illegal version");
    return;
  }
  for (int k = 2; k < ar; k++)
    if (ei_skip_term(b, i) < 0) {
      bad_input(g, "init_connect");
      return;
    }
  const char *his_known;
  int his_known_len;
  if (phc__term_atom(b, i, node, sizeof node) < 0 ||
      ei_decode_tuple_header(b, i, &ar) < 0 || ar != 4 ||
      ei_skip_term(b, i) < 0 || ei_skip_term(b, i) < 0 ||
      raw_term(b, i, &his_known, &his_known_len) < 0 ||
      ei_decode_pid(b, i, &locker) < 0) {
    bad_input(g, "init_connect");
    return;
  }
  if (his_vsn < 5) {
    bad_input(g, "init_connect from a global < vsn 5");
    return;
  }
  gpeer_t *p = peer_get(g, node);
  if (p->known || p->synced) { /* global keeps it as a stale pre_connect */
    PHC_LOG_D(MOD, "init_connect from known node %s ignored", node);
    return;
  }
  if (!p->active) {
    session_start(g, p); /* init_connect raced ahead of our nodeup */
  } else if (p->have_his) {
    /* A second attempt inside one session: cancel it and start over. */
    PHC_LOG_I(MOD, "out of sync connect from %s; restarting", node);
    send_plain4(g, node, "cancel_connect", tag, tag_len, 0, 0);
    session_start(g, p);
  }
  p->have_his = 1;
  p->his_vsn = his_vsn > PHC__GLOBAL_VSN ? PHC__GLOBAL_VSN : (int)his_vsn;
  p->his_tag = phc__term_dup(tag, tag_len);
  p->his_tag_len = tag_len;
  p->his_locker = locker;
  if (his_vsn >= 8)
    send_plain4(g, node, "init_connect_ack", tag, tag_len, p->my_tag, 1);
  if (knows_nodes(his_known, his_known_len) || !knows_others(g, p))
    try_lock(g, p);
  else /* let his locker choose whom to sync with first */
    arm_timer(g, p, LEAD_WAIT_MS + next_rand(g) % LEAD_SPREAD_MS);
}

/* lock_set, as a cast (vsn 6+) or sent straight to the locker (arity 4).
 * has_tag: the 5-tuple form carrying our tag. */
static void on_lock_set(phc__global_t *g, const char *b, int *i, int has_tag) {
  erlang_pid pid;
  int ok;
  if (ei_decode_pid(b, i, &pid) < 0 || ei_decode_boolean(b, i, &ok) < 0 ||
      ei_skip_term(b, i) < 0) {
    bad_input(g, "lock_set");
    return;
  }
  gpeer_t *p = peer_find(g, pid.node);
  if (has_tag && (!p || !tag_is_mine(p, b, i)))
    return; /* stale session */
  if (!p || !p->active || !p->have_his) {
    if (ok) { /* our locker has no session with him: "not there" */
      ei_x_buff x;
      x_begin(&x);
      ei_x_encode_tuple_header(&x, 4);
      ei_x_encode_atom(&x, "lock_set");
      ei_x_encode_pid(&x, &g->locker);
      ei_x_encode_boolean(&x, 0);
      ei_x_encode_empty_list(&x);
      send_pid(g, &pid, &x);
    }
    return;
  }
  if (!ok) {
    if (p->lock == LK_SENT) { /* he could not lock his side: retry later */
      own_lock(g, p, 0);
      p->lock = LK_NONE;
      arm_timer(g, p, RETRY_MIN_MS + next_rand(g) % RETRY_SPREAD_MS);
    }
    return;
  }
  if (p->lock == LK_SET)
    return;
  if (p->lock == LK_SENT) {
    lock_is_set(g, p);
    return;
  }
  if (own_lock(g, p, 1)) {
    send_lock_set(g, p, 1);
    lock_is_set(g, p);
  } else {
    send_lock_set(g, p, 0);
    arm_timer(g, p, RETRY_MIN_MS + next_rand(g) % RETRY_SPREAD_MS);
  }
}

static void on_exchange(phc__global_t *g, const char *b, int *i) {
  char node[PHC__ATOM_MAX];
  if (phc__term_atom(b, i, node, sizeof node) < 0 || ei_skip_term(b, i) < 0 ||
      ei_skip_term(b, i) < 0) {
    bad_input(g, "exchange");
    return;
  }
  gpeer_t *p = peer_find(g, node);
  if (!p || !tag_is_mine(p, b, i) || !p->have_his)
    return;
  /* His names are not stored: we own none and resolve no conflicts. */
  p->exchange_rcvd = 1;
  if (p->lock == LK_SET && !p->resolved_sent)
    send_resolved(g, p);
}

static void on_resolved(phc__global_t *g, const char *b, int *i) {
  char node[PHC__ATOM_MAX];
  const char *known;
  int known_len;
  if (phc__term_atom(b, i, node, sizeof node) < 0 || ei_skip_term(b, i) < 0 ||
      raw_term(b, i, &known, &known_len) < 0 || ei_skip_term(b, i) < 0 ||
      ei_skip_term(b, i) < 0) {
    bad_input(g, "resolved");
    return;
  }
  gpeer_t *p = peer_find(g, node);
  if (!p || !tag_is_mine(p, b, i) || p->resolved_rcvd)
    return;
  free(p->his_known);
  p->his_known = phc__term_dup(known, known_len);
  p->his_known_len = known_len;
  p->resolved_rcvd = 1;
  if (p->resolved_sent)
    session_finish(g, p);
}

/* new_nodes from a node we are synced with: nodes its partition just got to
 * know. We answer in_sync to each that is new to us. */
static void new_node(phc__global_t *g, const char *node, int vsn) {
  gpeer_t *q = peer_find(g, node);
  if (q && q->known)
    return;
  sync_other(g, node, vsn);
}

static void on_new_nodes(phc__global_t *g, const char *b, int *i) {
  char node[PHC__ATOM_MAX];
  const char *nodes;
  int nodes_len;
  if (phc__term_atom(b, i, node, sizeof node) < 0 || ei_skip_term(b, i) < 0 ||
      ei_skip_term(b, i) < 0 || raw_term(b, i, &nodes, &nodes_len) < 0) {
    bad_input(g, "new_nodes");
    return;
  }
  if (each_node(g, nodes, nodes_len, new_node) < 0)
    bad_input(g, "new_nodes with a bad node list");
}

static void on_in_sync(phc__global_t *g, const char *b, int *i) {
  char node[PHC__ATOM_MAX];
  if (phc__term_atom(b, i, node, sizeof node) < 0) {
    bad_input(g, "in_sync");
    return;
  }
  if (strcmp(node, g->node) == 0)
    return;
  /* As global: in_sync makes the node synced, not known. The new_nodes
   * that announces it may come after this and must still be answered with
   * our own in_sync, or the node's global:sync/0 waits for us forever. */
  gpeer_t *p = peer_get(g, node);
  session_cancel(g, p);
  p->synced = 1;
  PHC_LOG_D(MOD, "in_sync from %s", node);
}

static void on_cast(phc__global_t *g, const char *b, int *i) {
  int ar;
  char tag[PHC__ATOM_MAX];
  if (ei_decode_tuple_header(b, i, &ar) < 0 || ar < 1 ||
      phc__term_atom(b, i, tag, sizeof tag) < 0) {
    bad_input(g, "a cast that is not a tagged tuple");
    return;
  }
  if (!strcmp(tag, "init_connect") && ar == 4) {
    on_init_connect(g, b, i);
    return;
  }
  if (!strcmp(tag, "lock_set") && (ar == 5 || ar == 4)) {
    on_lock_set(g, b, i, ar == 5);
    return;
  }
  if (!strcmp(tag, "exchange") && ar == 5) {
    on_exchange(g, b, i);
    return;
  }
  if (!strcmp(tag, "resolved") && ar == 7) {
    on_resolved(g, b, i);
    return;
  }
  if (!strcmp(tag, "new_nodes") && ar == 6) {
    on_new_nodes(g, b, i);
    return;
  }
  if (!strcmp(tag, "in_sync") && ar == 3) {
    on_in_sync(g, b, i);
    return;
  }
  if (!strcmp(tag, "async_del_name") || !strcmp(tag, "async_del_lock"))
    return;
  PHC_LOG_D(MOD, "unexpected cast %s/%d", tag, ar);
}

/* ---- calls ------------------------------------------------------------ */

typedef struct from_s {
  erlang_pid pid;
  const char *tag;
  int tag_len;
} from_t;

/* gen:reply/2: {Tag, Reply} to the alias when Tag is [alias|Ref] (or
 * [[alias|Ref]|_]), else to the pid. reply is an encoded term, no version. */
static void reply(phc__global_t *g, const from_t *f, const char *r, int rlen) {
  ei_x_buff x;
  erlang_ref alias;
  int have_alias = 0, i = 0, n, type, size;
  const char *t = f->tag;
  for (int depth = 0; depth < 2; depth++) {
    char a[PHC__ATOM_MAX];
    if (ei_get_type(t, &i, &type, &size) < 0 || type != ERL_LIST_EXT ||
        ei_decode_list_header(t, &i, &n) < 0 || n != 1)
      break;
    int save = i;
    if (phc__term_atom(t, &i, a, sizeof a) == 0) {
      have_alias = !strcmp(a, "alias") && ei_decode_ref(t, &i, &alias) == 0;
      break;
    }
    i = save; /* [[alias|Ref]|_]: look inside */
  }
  x_begin(&x);
  ei_x_encode_tuple_header(&x, 2);
  ei_x_append_buf(&x, f->tag, f->tag_len);
  ei_x_append_buf(&x, r, rlen);
  int rc = have_alias ? g->io.send_alias(g->io.ctx, &alias, x.buff, x.index)
                      : g->io.send(g->io.ctx, &f->pid, x.buff, x.index);
  if (rc < 0)
    PHC_LOG_D(MOD, "reply: %s", phc_strerror(rc));
  ei_x_free(&x);
}

static void reply_atom(phc__global_t *g, const from_t *f, const char *atom) {
  ei_x_buff x;
  ei_x_new(&x);
  ei_x_encode_atom(&x, atom);
  reply(g, f, x.buff, x.index);
  ei_x_free(&x);
}

/* {Lock, ...}: Lock = {ResourceId, LockRequesterId}, canonicalised. */
static int decode_lock_id(const char *b, int *i, ei_x_buff *res,
                          ei_x_buff *req) {
  int ar, end = *i;
  if (ei_skip_term(b, &end) < 0 || ei_decode_tuple_header(b, i, &ar) < 0 ||
      ar != 2)
    return -1;
  ei_x_new(res);
  ei_x_new(req);
  if (phc__ext_reencode(res, b, end, i, PHC__ETF_CANON) < 0 ||
      phc__ext_reencode(req, b, end, i, PHC__ETF_CANON) < 0) {
    ei_x_free(res);
    ei_x_free(req);
    return -1;
  }
  return 0;
}

static void on_lock_call(phc__global_t *g, const from_t *f, const char *b,
                         int *i, int set) {
  ei_x_buff res, req;
  if (decode_lock_id(b, i, &res, &req) < 0) {
    bad_input(g, "a set_lock/del_lock with a bad lock id");
    return;
  }
  if (set) {
    int ok = lock_take(g, res.buff, res.index, req.buff, req.index, &f->pid, 1);
    reply_atom(g, f, ok ? "true" : "false");
  } else {
    lock_release(g, res.buff, res.index, req.buff, req.index, &f->pid);
    reply_atom(g, f, "true");
  }
  ei_x_free(&res);
  ei_x_free(&req);
}

static void reply_nodes(phc__global_t *g, const from_t *f, int synced_only) {
  ei_x_buff x;
  gpeer_t *p, *tmp;
  ei_x_new(&x);
  HASH_ITER(hh, g->peers, p, tmp) {
    if (synced_only ? p->synced : p->known) {
      ei_x_encode_list_header(&x, 1);
      ei_x_encode_atom(&x, p->node);
    }
  }
  ei_x_encode_empty_list(&x);
  reply(g, f, x.buff, x.index);
  ei_x_free(&x);
}

static void on_call(phc__global_t *g, const char *b, int *i) {
  int ar, type, size;
  from_t f;
  char tag[PHC__ATOM_MAX];
  if (ei_decode_tuple_header(b, i, &ar) < 0 || ar != 2 ||
      ei_decode_pid(b, i, &f.pid) < 0 || raw_term(b, i, &f.tag, &f.tag_len)) {
    bad_input(g, "a call with a bad From");
    return;
  }
  if (ei_get_type(b, i, &type, &size) < 0) {
    bad_input(g, "call");
    return;
  }
  ar = 0;
  if (type == ERL_SMALL_TUPLE_EXT || type == ERL_LARGE_TUPLE_EXT) {
    if (ei_decode_tuple_header(b, i, &ar) < 0 || ar < 1) {
      bad_input(g, "call");
      return;
    }
  }
  if (phc__term_atom(b, i, tag, sizeof tag) < 0) {
    bad_input(g, "call");
    return;
  }
  if (!strcmp(tag, "set_lock") && ar == 2) {
    on_lock_call(g, &f, b, i, 1);
    return;
  }
  if (!strcmp(tag, "del_lock") && ar == 2) {
    on_lock_call(g, &f, b, i, 0);
    return;
  }
  if ((!strcmp(tag, "register") && ar == 4) ||
      (!strcmp(tag, "register_ext") && ar == 5)) {
    reply_atom(g, &f, "yes");
    return;
  } /* names are not stored: we own none */
  if (!strcmp(tag, "unregister") && ar == 2) {
    reply_atom(g, &f, "ok");
    return;
  }
  if (!strcmp(tag, "sync") && ar == 2) {
    reply_atom(g, &f, "ok");
    return;
  }
  if (!strcmp(tag, "get_known") && ar == 0) {
    reply_nodes(g, &f, 0);
    return;
  }
  if (!strcmp(tag, "get_synced") && ar == 0) {
    reply_nodes(g, &f, 1);
    return;
  }
  if (!strcmp(tag, "get_names_ext") && ar == 0) {
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_empty_list(&x);
    reply(g, &f, x.buff, x.index);
    {
      ei_x_free(&x);
      return;
    }
  }
  if (!strcmp(tag, "get_protocol_version") && ar == 0) {
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_long(&x, PHC__GLOBAL_VSN);
    reply(g, &f, x.buff, x.index);
    {
      ei_x_free(&x);
      return;
    }
  }
  /* global leaves unknown calls unanswered (and logs them); so do we. */
  PHC_LOG_D(MOD, "unexpected call %s/%d", tag, ar);
}

/* ---- infos -------------------------------------------------------------- */

static void on_nodeup(phc__global_t *g, const char *node) {
  if (!strcmp(node, g->node))
    return;
  gpeer_t *p = peer_get(g, node);
  p->up = 1;
  if (!p->known && !p->synced && !p->active)
    session_start(g, p);
}

static void on_nodedown(phc__global_t *g, const char *node) {
  gpeer_t *p = peer_find(g, node);
  if (p) {
    session_cancel(g, p);
    p->up = p->known = p->synced = 0;
  }
  lock_drop_node(g, node);
}

static void on_timer(phc__global_t *g, const char *b, int *i) {
  char node[PHC__ATOM_MAX];
  unsigned long seq;
  if (phc__term_atom(b, i, node, sizeof node) < 0)
    return;
  gpeer_t *p = peer_find(g, node);
  if (!p || !tag_is_mine(p, b, i) || ei_decode_ulong(b, i, &seq) < 0 ||
      seq != p->timer_seq)
    return;
  if (p->lock == LK_SENT) { /* no answer: let go and try again */
    own_lock(g, p, 0);
    p->lock = LK_NONE;
  }
  try_lock(g, p);
}

static void on_init_connect_ack(phc__global_t *g, const char *b, int *i) {
  char node[PHC__ATOM_MAX];
  const char *his_his;
  int his_his_len;
  if (phc__term_atom(b, i, node, sizeof node) < 0) {
    bad_input(g, "init_connect_ack");
    return;
  }
  gpeer_t *p = peer_find(g, node);
  if (!p || !p->active)
    return;
  int mine = tag_is_mine(p, b, i);
  if (raw_term(b, i, &his_his, &his_his_len) < 0) {
    bad_input(g, "init_connect_ack");
    return;
  }
  if (mine && p->have_his &&
      same_term(his_his, his_his_len, p->his_tag, p->his_tag_len))
    return;
  PHC_LOG_I(MOD, "connect with %s out of sync; restarting", node);
  send_plain4(g, node, "cancel_connect", his_his, his_his_len, 0, 0);
  restart_connect(g, p);
}

static void on_cancel_connect(phc__global_t *g, const char *b, int *i) {
  char node[PHC__ATOM_MAX];
  if (phc__term_atom(b, i, node, sizeof node) < 0) {
    bad_input(g, "cancel_connect");
    return;
  }
  gpeer_t *p = peer_find(g, node);
  if (p && tag_is_mine(p, b, i))
    restart_connect(g, p);
}

static void on_remove_connection(phc__global_t *g, const char *b, int *i) {
  char node[PHC__ATOM_MAX];
  if (phc__term_atom(b, i, node, sizeof node) < 0) {
    bad_input(g, "remove_connection");
    return;
  }
  gpeer_t *p = peer_find(g, node);
  if (!p || !(p->known || p->synced || p->active))
    return;
  PHC_LOG_W(MOD, "%s asked us to disconnect (prevent_overlapping_partitions)",
            node);
  session_cancel(g, p);
  p->known = p->synced = 0;
  if (g->io.disconnect)
    g->io.disconnect(g->io.ctx, node);
}

static void on_down(phc__global_t *g, const char *b, int *i) {
  erlang_ref ref;
  if (ei_decode_ref(b, i, &ref) < 0) {
    bad_input(g, "DOWN");
    return;
  }
  lock_down(g, &ref);
}

void phc__global_handle(phc__global_t *g, const char *buf, int len) {
  int i = 0, ver, ar;
  char tag[PHC__ATOM_MAX], node[PHC__ATOM_MAX];
  if (ei_decode_version(buf, &i, &ver) < 0 ||
      ei_decode_tuple_header(buf, &i, &ar) < 0 || ar < 1 ||
      phc__term_atom(buf, &i, tag, sizeof tag) < 0) {
    bad_input(g, "a message that is not a tagged tuple");
    return;
  }
  if (!strcmp(tag, "$gen_cast") && ar == 2)
    on_cast(g, buf, &i);
  else if (!strcmp(tag, "$gen_call") && ar == 3)
    on_call(g, buf, &i);
  else if (!strcmp(tag, "lock_set") && ar == 4)
    on_lock_set(g, buf, &i, 0);
  else if (!strcmp(tag, TIMER_TAG) && ar == 4)
    on_timer(g, buf, &i);
  else if (!strcmp(tag, "init_connect_ack") && ar == 4)
    on_init_connect_ack(g, buf, &i);
  else if (!strcmp(tag, "cancel_connect") && ar == 3)
    on_cancel_connect(g, buf, &i);
  else if (!strcmp(tag, "remove_connection") && ar == 2)
    on_remove_connection(g, buf, &i);
  else if (!strcmp(tag, "lost_connection"))
    PHC_LOG_D(MOD, "lost_connection ignored (we do not take part in "
                   "prevent_overlapping_partitions)");
  else if (!strcmp(tag, "DOWN") && ar == 5)
    on_down(g, buf, &i);
  else if ((!strcmp(tag, "nodeup") || !strcmp(tag, "nodedown")) &&
           (ar == 2 || ar == 3) &&
           phc__term_atom(buf, &i, node, sizeof node) == 0) {
    if (tag[4] == 'u')
      on_nodeup(g, node);
    else
      on_nodedown(g, node);
  } else {
    PHC_LOG_D(MOD, "unexpected message %s/%d", tag, ar);
  }
  PHC__UNUSED(len);
}

phc__global_t *phc__global_new(const char *node, const erlang_pid *self,
                               const erlang_pid *locker,
                               const phc__global_io_t *io) {
  phc__global_t *g = phc__xcalloc(1, sizeof *g);
  snprintf(g->node, sizeof g->node, "%s", node);
  g->self = *self;
  g->locker = *locker;
  g->io = *io;
  g->next_tag = 1;
  g->rng = (unsigned)self->num * 2654435761u + (unsigned)self->creation;
  g->warn_budget = WARN_BUDGET;
  return g;
}

void phc__global_free(phc__global_t *g) {
  gpeer_t *p, *pt;
  glock_t *l, *lt;
  if (!g)
    return;
  HASH_ITER(hh, g->peers, p, pt) {
    HASH_DEL(g->peers, p);
    free(p->his_tag);
    free(p->his_known);
    free(p);
  }
  HASH_ITER(hh, g->locks, l, lt) lock_free(g, l);
  free(g);
}

/* ---- the processes --------------------------------------------------- */

/* phc__dist_disconnect and phc_node_peers live in the dist layer and the
 * node glue; the references are weak so the engine links (and is unit
 * tested) without them. In the node both are always present. */
#pragma weak phc__dist_disconnect
#pragma weak phc_node_peers

typedef struct glue_s {
  phc_node_t *n;
  phc_proc_t *proc;
  erlang_pid self;
  phc__global_t *g;
} glue_t;

static int io_send_name(void *ctx, const char *node, const char *name,
                        const char *buf, int len) {
  glue_t *u = ctx;
  return phc_send_name(u->n, &u->self, node, name, buf, len);
}

static int io_send(void *ctx, const erlang_pid *to, const char *buf, int len) {
  glue_t *u = ctx;
  return phc_send(u->n, &u->self, to, buf, len);
}

static int io_send_alias(void *ctx, const erlang_ref *alias, const char *buf,
                         int len) {
  glue_t *u = ctx;
  return phc_send_alias(u->n, &u->self, alias, buf, len);
}

static int io_monitor(void *ctx, const erlang_pid *pid, erlang_ref *ref) {
  glue_t *u = ctx;
  return u->proc ? phc_monitor(u->proc, pid, ref) : PHC_ESTATE;
}

static int io_demonitor(void *ctx, const erlang_ref *ref) {
  glue_t *u = ctx;
  return u->proc ? phc_demonitor(u->proc, ref) : PHC_ESTATE;
}

static int io_send_after(void *ctx, unsigned ms, const char *buf, int len) {
  glue_t *u = ctx;
  phc_ref_t tref;
  return phc_send_after(u->n, ms, &u->self, buf, len, &tref);
}

static int io_disconnect(void *ctx, const char *node) {
  glue_t *u = ctx;
  if (!phc__dist_disconnect || !u->n->dist)
    return PHC_ESTATE;
  return phc__dist_disconnect(u->n->dist, node);
}

static int gns_init(phc_proc_t *self, void *arg) {
  glue_t *u = arg;
  u->proc = self;
  phc_proc_set_data(self, u);
  return 0;
}

static void gns_handle(phc_proc_t *self, const char *buf, int len) {
  glue_t *u = phc_proc_data(self);
  if (u && u->g)
    phc__global_handle(u->g, buf, len);
}

static void gns_terminate(phc_proc_t *self, const char *reason, int len) {
  glue_t *u = phc_proc_data(self);
  PHC__UNUSED(reason);
  PHC__UNUSED(len);
  if (!u)
    return;
  phc__global_free(u->g);
  free(u);
  phc_proc_set_data(self, NULL);
}

static const phc_proc_ops_t gns_ops = {
    .name = GNS,
    .init = gns_init,
    .handle_msg = gns_handle,
    .terminate = gns_terminate,
};

/* The locker: peers only need its pid (lock ids) and, for old versions,
 * send lock_set to it; it hands everything to the server. */
static int locker_init(phc_proc_t *self, void *arg) {
  erlang_pid *server = phc__xmalloc(sizeof *server);
  *server = *(const erlang_pid *)arg;
  phc_proc_set_data(self, server);
  return 0;
}

static void locker_handle(phc_proc_t *self, const char *buf, int len) {
  erlang_pid *server = phc_proc_data(self);
  if (server)
    phc_send(phc_proc_node(self), phc_self(self), server, buf, len);
}

static void locker_terminate(phc_proc_t *self, const char *reason, int len) {
  PHC__UNUSED(reason);
  PHC__UNUSED(len);
  free(phc_proc_data(self));
  phc_proc_set_data(self, NULL);
}

static const phc_proc_ops_t locker_ops = {
    .name = "global_locker",
    .init = locker_init,
    .handle_msg = locker_handle,
    .terminate = locker_terminate,
};

int phc__global_start(phc_node_t *n) {
  glue_t *u = phc__xcalloc(1, sizeof *u);
  erlang_pid locker;
  u->n = n;
  int rc = phc_spawn(n, &gns_ops, u, NULL, 0, &u->self);
  if (rc < 0) {
    free(u);
    return rc;
  }
  if (!u->proc)
    u->proc = phc_proc_lookup(n, &u->self);
  rc = phc_spawn(n, &locker_ops, &u->self, &u->self, PHC_SPAWN_LINK, &locker);
  if (rc < 0)
    return rc; /* the server owns u now */
  const phc__global_io_t io = {
      .ctx = u,
      .send_name = io_send_name,
      .send = io_send,
      .send_alias = io_send_alias,
      .monitor = io_monitor,
      .demonitor = io_demonitor,
      .send_after = io_send_after,
      .disconnect = io_disconnect,
  };
  u->g = phc__global_new(n->name, &u->self, &locker, &io);
  rc = phc_register(n, GNS, &u->self);
  if (rc < 0)
    return rc;
  if (u->proc)
    rc = phc_monitor_nodes(u->proc, 1);
  if (rc < 0)
    return rc;
  /* Peers that came up before we did. */
  const char *peers[256];
  int k =
      phc_node_peers ? phc_node_peers(n, peers, (int)PHC__ARRAY_LEN(peers)) : 0;
  for (int j = 0; j < k; j++)
    on_nodeup(u->g, peers[j]);
  return 0;
}
