/* global.c - global_name_server for a partition that owns no names: the
 * protocol engine.
 *
 * The engine (phc__global_*) is a state machine on messages: it decodes
 * one message, updates the per-peer session or the lock table, and emits
 * messages through the io table. This file holds the peers and their
 * connect sessions and the casts and infos that drive them; the lock
 * table and the calls are in global_lock.c, the messages it sends in
 * global_msg.c, the runtime's two processes in global_proc.c. See
 * global.h for the protocol.
 */
#include "otp/global_int.h"

#include <stdio.h>
#include <stdlib.h>

#include "term/enc.h"
#include "term/term.h"

#define MOD "global"

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

/* ---- peers and sessions ------------------------------------------------- */

static phc__gpeer_t *global_peer_find(const phc__global_t *g,
                                      const char *node) {
  phc__gpeer_t *p = NULL;
  HASH_FIND_STR(g->peers, node, p);
  return p;
}

/* Whether a message names this node as its peer. Such a message (forged,
 * or looped back) would make the server connect to itself, and every
 * answer would come back to it: it is logged once at warn (then at debug)
 * and dropped. */
static int global_names_self(phc__global_t *g, const char *node,
                             const char *what) {
  if (strcmp(node, g->node) != 0) return 0;
  if (!g->self_warned) {
    g->self_warned = 1;
    PHC_LOG_W(MOD, "dropped %s naming this node as a peer", what);
  } else {
    PHC_LOG_D(MOD, "dropped %s naming this node as a peer", what);
  }
  return 1;
}

static phc__gpeer_t *global_peer_get(phc__global_t *g, const char *node) {
  phc__gpeer_t *p = global_peer_find(g, node);
  if (!p) {
    p = phc__xcalloc(1, sizeof *p);
    snprintf(p->node, sizeof p->node, "%s", node);
    HASH_ADD_STR(g->peers, node, p);
  }
  return p;
}

int phc__global_is_synced(const phc__global_t *g, const char *node) {
  const phc__gpeer_t *p = global_peer_find(g, node);
  return p && (p->known || p->synced);
}

int phc__global_in_session(const phc__global_t *g, const char *node) {
  const phc__gpeer_t *p = global_peer_find(g, node);
  return p && p->active;
}

static void global_session_cancel(phc__global_t *g, phc__gpeer_t *p) {
  if (!p->active) return;
  if (p->have_his && p->lock != PHC__GLK_NONE) phc__global_own_lock(g, p, 0);
  free(p->his_tag);
  free(p->his_known);
  free(p->his_ops);
  free(p->my_ops);
  p->his_tag = p->his_known = p->his_ops = p->my_ops = NULL;
  p->his_tag_len = p->his_known_len = p->his_ops_len = p->my_ops_len = 0;
  p->active = p->have_his = 0;
  p->lock = PHC__GLK_NONE;
  p->exchange_rcvd = p->resolved_sent = p->resolved_rcvd = 0;
  p->timer_seq++;
}

static void global_session_start(phc__global_t *g, phc__gpeer_t *p) {
  global_session_cancel(g, p);
  p->active = 1;
  p->my_tag = g->next_tag++;
  PHC_LOG_D(MOD, "connect session with %s (tag %lld)", p->node, p->my_tag);
  phc__global_send_init_connect(g, p);
}

static void global_send_resolved(phc__global_t *g, phc__gpeer_t *p);

static void global_lock_is_set(phc__global_t *g, phc__gpeer_t *p) {
  ei_x_buff x;
  p->lock = PHC__GLK_SET;
  p->timer_seq++;
  phc__global_x_cast(&x, 5, "exchange");
  phc__x_atom(&x, g->node);
  phc__global_x_names(g, &x); /* our partition's names */
  phc__x_empty_list(&x);
  phc__global_x_tag(&x, p);
  phc__global_send_gns(g, p->node, &x);
  if (p->exchange_rcvd) global_send_resolved(g, p);
}

/* Take our lock and tell the peer (global's locker, "spontaneous" path). */
static void global_try_lock(phc__global_t *g, phc__gpeer_t *p) {
  if (!p->active || !p->have_his || p->lock != PHC__GLK_NONE) return;
  if (phc__global_own_lock(g, p, 1)) {
    p->lock = PHC__GLK_SENT;
    phc__global_send_lock_set(g, p, 1);
    phc__global_arm_timer(g, p, LOCK_WAIT_MS);
  } else {
    phc__global_arm_timer(g, p,
                          RETRY_MIN_MS + phc__global_rand(g) % RETRY_SPREAD_MS);
  }
}

/* Each node named in a list of nodes or {Node, Vsn}: call fn. 0 or
 * PHC_EDECODE. */
typedef void (*global_node_fn)(phc__global_t *g, const char *node, int vsn);

static int global_each_node(phc__global_t *g, const char *b, int len,
                            global_node_fn fn) {
  int i = 0, n, type, size;
  if (ei_get_type(b, &i, &type, &size) < 0) return PHC_EDECODE;
  if (type == ERL_STRING_EXT || len <= 0) return PHC_EDECODE;
  if (ei_decode_list_header(b, &i, &n) < 0) return PHC_EDECODE;
  for (int k = 0; k < n; k++) {
    char node[PHC__ATOM_MAX];
    long vsn = 0;
    int ar, save = i;
    if (ei_decode_tuple_header(b, &i, &ar) == 0) {
      if (ar != 2 || phc__term_atom(b, &i, node, sizeof node) < 0 ||
          ei_decode_long(b, &i, &vsn) < 0)
        return PHC_EDECODE;
    } else {
      i = save;
      if (phc__term_atom(b, &i, node, sizeof node) < 0) return PHC_EDECODE;
    }
    if (strcmp(node, g->node) != 0) fn(g, node, (int)vsn);
  }
  return 0;
}

/* A node our peer's partition knows: tell it we are in sync with it. */
static void global_sync_other(phc__global_t *g, const char *node, int vsn) {
  phc__gpeer_t *q = global_peer_get(g, node);
  global_session_cancel(g, q);
  q->known = 1;
  if (vsn) q->vsn = vsn;
  phc__global_send_in_sync(g, node);
}

/* global's resolved/5: apply the name ops, tell the nodes we knew about
 * his partition (new_nodes), greet his (in_sync). */
static void global_session_finish(phc__global_t *g, phc__gpeer_t *p) {
  ei_x_buff ops;
  char *known = p->his_known;
  int known_len = p->his_known_len;
  int vsn = p->his_vsn;
  p->vsn = vsn;
  if (phc__global_session_ops(p, &ops) < 0 ||
      phc__global_names_apply(g, ops.buff, ops.index) < 0)
    phc__global_bad_input(g, "name ops of a connect session");
  else
    phc__global_send_new_nodes(g, p, ops.buff, ops.index);
  ei_x_free(&ops);
  p->his_known = NULL;
  global_session_cancel(g, p); /* releases our lock */
  p->known = p->synced = 1;
  PHC_LOG_I(MOD, "in sync with %s", p->node);
  if (known && global_each_node(g, known, known_len, global_sync_other) < 0)
    phc__global_bad_input(g, "a resolved message with a bad node list");
  free(known);
}

static void global_send_resolved(phc__global_t *g, phc__gpeer_t *p) {
  ei_x_buff x;
  phc__global_x_cast(&x, 7, "resolved");
  phc__x_atom(&x, g->node);
  phc__x_empty_list(&x);                     /* resolved conflicts: none */
  phc__global_x_known(g, p, p->his_vsn, &x); /* our partition: connect-all */
  phc__x_atom(&x, "unused");
  phc__x_empty_list(&x); /* names_ext */
  phc__global_x_tag(&x, p);
  phc__global_send_gns(g, p->node, &x);
  p->resolved_sent = 1;
  if (p->resolved_rcvd) global_session_finish(g, p);
}

static void global_restart_connect(phc__global_t *g, phc__gpeer_t *p) {
  global_session_cancel(g, p);
  if (p->up) global_session_start(g, p);
}

/* ---- casts ------------------------------------------------------------ */

/* Decode our own tag as it came back; 0 if it is not ours. */
static int global_tag_is_mine(const phc__gpeer_t *p, const char *b, int *i) {
  long long t;
  int save = *i;
  if (ei_decode_longlong(b, i, &t) == 0) return p->active && t == p->my_tag;
  *i = save;
  if (ei_skip_term(b, i) < 0) return 0;
  return 0;
}

/* Whether the Known of a peer's init_connect names any node: OTP 25 sends
 * its state map (nodes are the atom keys; {pending, N} and
 * {connection_id, N} keys are not), older versions a list of nodes. Any
 * other shape counts as "yes", which makes us lead at once. */
static int global_knows_nodes(const char *b, int len) {
  int i = 0, type, size, n;
  if (ei_get_type(b, &i, &type, &size) < 0) return 1;
  if (type == ERL_NIL_EXT) return 0;
  if (type == ERL_MAP_EXT) {
    if (ei_decode_map_header(b, &i, &n) < 0) return 1;
    for (int k = 0; k < n; k++) {
      if (ei_get_type(b, &i, &type, &size) < 0) return 1;
      if (type == ERL_ATOM_EXT || type == ERL_SMALL_ATOM_EXT ||
          type == ERL_ATOM_UTF8_EXT || type == ERL_SMALL_ATOM_UTF8_EXT)
        return 1;
      if (ei_skip_term(b, &i) < 0 || ei_skip_term(b, &i) < 0) return 1;
    }
    return i != len;
  }
  return 1; /* a non-empty list (vsn < 8) or something we do not know */
}

/* Whether we are in sync with a connected node other than p. */
static int global_knows_others(const phc__global_t *g, const phc__gpeer_t *p) {
  const phc__gpeer_t *q, *tmp;
  HASH_ITER(hh, g->peers, q, tmp) {
    if (q != p && (q->known || q->synced) && q->up) return 1;
  }
  return 0;
}

/* What an init_connect carries. */
typedef struct global_connect_s {
  long vsn;
  const char *tag; /* his session tag, encoded */
  int tag_len;
  char node[PHC__ATOM_MAX];
  const char *known; /* his Known, encoded */
  int known_len;
  erlang_pid locker;
} global_connect_t;

/* {Vsn, Node, {locker, _, Known, Locker}} after the init_connect atom:
 * 0, or PHC_EDECODE (logged). */
static int global_init_connect_decode(phc__global_t *g, const char *b, int *i,
                                      global_connect_t *c) {
  int ar;
  /* Vsn: {HisVsn, HisTag} or a longer tuple from a future version */
  if (ei_decode_tuple_header(b, i, &ar) < 0 || ar < 2 ||
      ei_decode_long(b, i, &c->vsn) < 0 ||
      phc__global_raw_term(b, i, &c->tag, &c->tag_len)) {
    phc__global_bad_input(g, "init_connect with an illegal version");
    return PHC_EDECODE;
  }
  for (int k = 2; k < ar; k++)
    if (ei_skip_term(b, i) < 0) {
      phc__global_bad_input(g, "init_connect");
      return PHC_EDECODE;
    }
  if (phc__term_atom(b, i, c->node, sizeof c->node) < 0 ||
      ei_decode_tuple_header(b, i, &ar) < 0 || ar != 4 ||
      ei_skip_term(b, i) < 0 || ei_skip_term(b, i) < 0 ||
      phc__global_raw_term(b, i, &c->known, &c->known_len) < 0 ||
      ei_decode_pid(b, i, &c->locker) < 0) {
    phc__global_bad_input(g, "init_connect");
    return PHC_EDECODE;
  }
  return 0;
}

static void global_on_init_connect(phc__global_t *g, const char *b, int *i) {
  global_connect_t c;
  if (global_init_connect_decode(g, b, i, &c) < 0 ||
      global_names_self(g, c.node, "init_connect"))
    return;
  if (c.vsn < 5) {
    phc__global_bad_input(g, "init_connect from a global < vsn 5");
    return;
  }
  phc__gpeer_t *p = global_peer_get(g, c.node);
  if (p->known || p->synced) { /* global keeps it as a stale pre_connect */
    PHC_LOG_D(MOD, "init_connect from known node %s ignored", c.node);
    return;
  }
  if (!p->active) {
    global_session_start(g, p); /* init_connect raced ahead of our nodeup */
  } else if (p->have_his) {
    /* A second attempt inside one session: cancel it and start over. */
    PHC_LOG_I(MOD, "out of sync connect from %s; restarting", c.node);
    phc__global_send_plain4(g, c.node, "cancel_connect", c.tag, c.tag_len, 0,
                            0);
    global_session_start(g, p);
  }
  p->have_his = 1;
  p->his_vsn = c.vsn > PHC__GLOBAL_VSN ? PHC__GLOBAL_VSN : (int)c.vsn;
  p->his_tag = phc__term_dup(c.tag, c.tag_len);
  p->his_tag_len = c.tag_len;
  p->his_locker = c.locker;
  if (c.vsn >= 8)
    phc__global_send_plain4(g, c.node, "init_connect_ack", c.tag, c.tag_len,
                            p->my_tag, 1);
  if (global_knows_nodes(c.known, c.known_len) || !global_knows_others(g, p))
    global_try_lock(g, p);
  else /* let his locker choose whom to sync with first */
    phc__global_arm_timer(g, p,
                          LEAD_WAIT_MS + phc__global_rand(g) % LEAD_SPREAD_MS);
}

/* lock_set, as a cast (vsn 6+) or sent straight to the locker (arity 4).
 * has_tag: the 5-tuple form carrying our tag. */
static void global_on_lock_set(phc__global_t *g, const char *b, int *i,
                               int has_tag) {
  erlang_pid pid;
  int ok;
  if (ei_decode_pid(b, i, &pid) < 0 || ei_decode_boolean(b, i, &ok) < 0 ||
      ei_skip_term(b, i) < 0) {
    phc__global_bad_input(g, "lock_set");
    return;
  }
  if (global_names_self(g, pid.node, "lock_set")) return;
  phc__gpeer_t *p = global_peer_find(g, pid.node);
  if (has_tag && (!p || !global_tag_is_mine(p, b, i)))
    return; /* stale session */
  if (!p || !p->active || !p->have_his) {
    if (ok) { /* our locker has no session with him: "not there" */
      ei_x_buff x;
      phc__global_x_begin(&x);
      phc__x_tuple_header(&x, 4);
      phc__x_atom(&x, "lock_set");
      phc__x_pid(&x, &g->locker);
      phc__x_boolean(&x, 0);
      phc__x_empty_list(&x);
      phc__global_send_pid(g, &pid, &x);
    }
    return;
  }
  if (!ok) {
    if (p->lock ==
        PHC__GLK_SENT) { /* he could not lock his side: retry later */
      phc__global_own_lock(g, p, 0);
      p->lock = PHC__GLK_NONE;
      phc__global_arm_timer(
          g, p, RETRY_MIN_MS + phc__global_rand(g) % RETRY_SPREAD_MS);
    }
    return;
  }
  if (p->lock == PHC__GLK_SET) return;
  if (p->lock == PHC__GLK_SENT) {
    global_lock_is_set(g, p);
    return;
  }
  if (phc__global_own_lock(g, p, 1)) {
    phc__global_send_lock_set(g, p, 1);
    global_lock_is_set(g, p);
  } else {
    phc__global_send_lock_set(g, p, 0);
    phc__global_arm_timer(g, p,
                          RETRY_MIN_MS + phc__global_rand(g) % RETRY_SPREAD_MS);
  }
}

static void global_on_exchange(phc__global_t *g, const char *b, int *i) {
  char node[PHC__ATOM_MAX];
  const char *names;
  int names_len;
  ei_x_buff ops;
  if (phc__term_atom(b, i, node, sizeof node) < 0 ||
      phc__global_raw_term(b, i, &names, &names_len) < 0 ||
      ei_skip_term(b, i) < 0) {
    phc__global_bad_input(g, "exchange");
    return;
  }
  if (global_names_self(g, node, "exchange")) return;
  phc__gpeer_t *p = global_peer_find(g, node);
  if (!p || !global_tag_is_mine(p, b, i) || !p->have_his) return;
  /* global's exchange_names: his names new to us become insert ops. */
  if (phc__global_names_exchange(g, names, names_len, &ops) < 0) {
    phc__global_bad_input(g, "exchange with a bad name list");
    ei_x_free(&ops);
    return;
  }
  free(p->my_ops);
  p->my_ops = phc__term_dup(ops.buff, ops.index);
  p->my_ops_len = ops.index;
  ei_x_free(&ops);
  p->exchange_rcvd = 1;
  if (p->lock == PHC__GLK_SET && !p->resolved_sent) global_send_resolved(g, p);
}

static void global_on_resolved(phc__global_t *g, const char *b, int *i) {
  char node[PHC__ATOM_MAX];
  const char *known, *ops;
  int known_len, ops_len;
  if (phc__term_atom(b, i, node, sizeof node) < 0 ||
      phc__global_raw_term(b, i, &ops, &ops_len) < 0 ||
      phc__global_raw_term(b, i, &known, &known_len) < 0 ||
      ei_skip_term(b, i) < 0 || ei_skip_term(b, i) < 0) {
    phc__global_bad_input(g, "resolved");
    return;
  }
  if (global_names_self(g, node, "resolved")) return;
  phc__gpeer_t *p = global_peer_find(g, node);
  if (!p || !global_tag_is_mine(p, b, i) || p->resolved_rcvd) return;
  free(p->his_known);
  p->his_known = phc__term_dup(known, known_len);
  p->his_known_len = known_len;
  free(p->his_ops);
  p->his_ops = phc__term_dup(ops, ops_len);
  p->his_ops_len = ops_len;
  p->resolved_rcvd = 1;
  if (p->resolved_sent) global_session_finish(g, p);
}

/* new_nodes from a node we are synced with: nodes its partition just got to
 * know. We answer in_sync to each that is new to us. */
static void global_new_node(phc__global_t *g, const char *node, int vsn) {
  phc__gpeer_t *q = global_peer_find(g, node);
  if (q && q->known) return;
  global_sync_other(g, node, vsn);
}

static void global_on_new_nodes(phc__global_t *g, const char *b, int *i) {
  char node[PHC__ATOM_MAX];
  const char *nodes, *ops;
  int nodes_len, ops_len;
  if (phc__term_atom(b, i, node, sizeof node) < 0 ||
      phc__global_raw_term(b, i, &ops, &ops_len) < 0 ||
      ei_skip_term(b, i) < 0 ||
      phc__global_raw_term(b, i, &nodes, &nodes_len) < 0) {
    phc__global_bad_input(g, "new_nodes");
    return;
  }
  if (global_names_self(g, node, "new_nodes")) return;
  if (phc__global_names_apply(g, ops, ops_len) < 0)
    phc__global_bad_input(g, "new_nodes with bad name ops");
  if (global_each_node(g, nodes, nodes_len, global_new_node) < 0)
    phc__global_bad_input(g, "new_nodes with a bad node list");
}

static void global_on_in_sync(phc__global_t *g, const char *b, int *i) {
  char node[PHC__ATOM_MAX];
  if (phc__term_atom(b, i, node, sizeof node) < 0) {
    phc__global_bad_input(g, "in_sync");
    return;
  }
  if (global_names_self(g, node, "in_sync")) return;
  /* As global: in_sync makes the node synced, not known. The new_nodes
   * that announces it may come after this and must still be answered with
   * our own in_sync, or the node's global:sync/0 waits for us forever. */
  phc__gpeer_t *p = global_peer_get(g, node);
  global_session_cancel(g, p);
  p->synced = 1;
  PHC_LOG_D(MOD, "in_sync from %s", node);
}

static void global_on_cast(phc__global_t *g, const char *b, int *i) {
  int ar;
  char tag[PHC__ATOM_MAX];
  if (ei_decode_tuple_header(b, i, &ar) < 0 || ar < 1 ||
      phc__term_atom(b, i, tag, sizeof tag) < 0) {
    phc__global_bad_input(g, "a cast that is not a tagged tuple");
    return;
  }
  if (!strcmp(tag, "init_connect") && ar == 4) {
    global_on_init_connect(g, b, i);
    return;
  }
  if (!strcmp(tag, "lock_set") && (ar == 5 || ar == 4)) {
    global_on_lock_set(g, b, i, ar == 5);
    return;
  }
  if (!strcmp(tag, "exchange") && ar == 5) {
    global_on_exchange(g, b, i);
    return;
  }
  if (!strcmp(tag, "resolved") && ar == 7) {
    global_on_resolved(g, b, i);
    return;
  }
  if (!strcmp(tag, "new_nodes") && ar == 6) {
    global_on_new_nodes(g, b, i);
    return;
  }
  if (!strcmp(tag, "in_sync") && ar == 3) {
    global_on_in_sync(g, b, i);
    return;
  }
  if (!strcmp(tag, "async_del_name") || !strcmp(tag, "async_del_lock")) return;
  PHC_LOG_D(MOD, "unexpected cast %s/%d", tag, ar);
}

/* ---- infos -------------------------------------------------------------- */

/* Also called by global_proc.c for the peers up before the server. */
void phc__global_nodeup(phc__global_t *g, const char *node) {
  if (!strcmp(node, g->node)) return;
  phc__gpeer_t *p = global_peer_get(g, node);
  p->up = 1;
  if (!p->known && !p->synced && !p->active) global_session_start(g, p);
}

static void global_on_nodedown(phc__global_t *g, const char *node) {
  phc__gpeer_t *p = global_peer_find(g, node);
  if (p) {
    global_session_cancel(g, p);
    p->up = p->known = p->synced = 0;
  }
  phc__global_lock_drop_node(g, node);
  phc__global_names_drop_node(g, node);
}

static void global_on_timer(phc__global_t *g, const char *b, int *i) {
  char node[PHC__ATOM_MAX];
  unsigned long seq;
  if (phc__term_atom(b, i, node, sizeof node) < 0) return;
  phc__gpeer_t *p = global_peer_find(g, node);
  if (!p || !global_tag_is_mine(p, b, i) || ei_decode_ulong(b, i, &seq) < 0 ||
      seq != p->timer_seq)
    return;
  if (p->lock == PHC__GLK_SENT) { /* no answer: let go and try again */
    phc__global_own_lock(g, p, 0);
    p->lock = PHC__GLK_NONE;
  }
  global_try_lock(g, p);
}

static void global_on_init_connect_ack(phc__global_t *g, const char *b,
                                       int *i) {
  char node[PHC__ATOM_MAX];
  const char *his_his;
  int his_his_len;
  if (phc__term_atom(b, i, node, sizeof node) < 0) {
    phc__global_bad_input(g, "init_connect_ack");
    return;
  }
  if (global_names_self(g, node, "init_connect_ack")) return;
  phc__gpeer_t *p = global_peer_find(g, node);
  if (!p || !p->active) return;
  int mine = global_tag_is_mine(p, b, i);
  if (phc__global_raw_term(b, i, &his_his, &his_his_len) < 0) {
    phc__global_bad_input(g, "init_connect_ack");
    return;
  }
  if (mine && p->have_his &&
      phc__global_same_term(his_his, his_his_len, p->his_tag, p->his_tag_len))
    return;
  PHC_LOG_I(MOD, "connect with %s out of sync; restarting", node);
  phc__global_send_plain4(g, node, "cancel_connect", his_his, his_his_len, 0,
                          0);
  global_restart_connect(g, p);
}

static void global_on_cancel_connect(phc__global_t *g, const char *b, int *i) {
  char node[PHC__ATOM_MAX];
  if (phc__term_atom(b, i, node, sizeof node) < 0) {
    phc__global_bad_input(g, "cancel_connect");
    return;
  }
  if (global_names_self(g, node, "cancel_connect")) return;
  phc__gpeer_t *p = global_peer_find(g, node);
  if (p && global_tag_is_mine(p, b, i)) global_restart_connect(g, p);
}

static void global_on_remove_connection(phc__global_t *g, const char *b,
                                        int *i) {
  char node[PHC__ATOM_MAX];
  if (phc__term_atom(b, i, node, sizeof node) < 0) {
    phc__global_bad_input(g, "remove_connection");
    return;
  }
  if (global_names_self(g, node, "remove_connection")) return;
  phc__gpeer_t *p = global_peer_find(g, node);
  if (!p || !(p->known || p->synced || p->active)) return;
  PHC_LOG_W(MOD, "%s asked us to disconnect (prevent_overlapping_partitions)",
            node);
  global_session_cancel(g, p);
  p->known = p->synced = 0;
  if (g->io.disconnect) g->io.disconnect(g->io.ctx, node);
}

static void global_on_down(phc__global_t *g, const char *b, int *i) {
  erlang_ref ref;
  if (ei_decode_ref(b, i, &ref) < 0) {
    phc__global_bad_input(g, "DOWN");
    return;
  }
  if (!phc__global_name_down(g, &ref)) phc__global_lock_down(g, &ref);
}

void phc__global_handle(phc__global_t *g, const char *buf, int len) {
  int i = 0, ver, ar;
  char tag[PHC__ATOM_MAX], node[PHC__ATOM_MAX];
  if (ei_decode_version(buf, &i, &ver) < 0 ||
      ei_decode_tuple_header(buf, &i, &ar) < 0 || ar < 1 ||
      phc__term_atom(buf, &i, tag, sizeof tag) < 0) {
    phc__global_bad_input(g, "a message that is not a tagged tuple");
    return;
  }
  if (!strcmp(tag, "$gen_cast") && ar == 2)
    global_on_cast(g, buf, &i);
  else if (!strcmp(tag, "$gen_call") && ar == 3)
    phc__global_on_call(g, buf, &i);
  else if (!strcmp(tag, "lock_set") && ar == 4)
    global_on_lock_set(g, buf, &i, 0);
  else if (!strcmp(tag, PHC__GLOBAL_TIMER_TAG) && ar == 4)
    global_on_timer(g, buf, &i);
  else if (!strcmp(tag, "init_connect_ack") && ar == 4)
    global_on_init_connect_ack(g, buf, &i);
  else if (!strcmp(tag, "cancel_connect") && ar == 3)
    global_on_cancel_connect(g, buf, &i);
  else if (!strcmp(tag, "remove_connection") && ar == 2)
    global_on_remove_connection(g, buf, &i);
  else if (!strcmp(tag, "lost_connection"))
    PHC_LOG_D(MOD, "lost_connection ignored (we do not take part in "
                   "prevent_overlapping_partitions)");
  else if (!strcmp(tag, "DOWN") && ar == 5)
    global_on_down(g, buf, &i);
  else if ((!strcmp(tag, "nodeup") || !strcmp(tag, "nodedown")) &&
           (ar == 2 || ar == 3) &&
           phc__term_atom(buf, &i, node, sizeof node) == 0) {
    if (global_names_self(g, node, tag)) return;
    if (tag[4] == 'u')
      phc__global_nodeup(g, node);
    else
      global_on_nodedown(g, node);
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
  phc__gpeer_t *p, *pt;
  if (!g) return;
  HASH_ITER(hh, g->peers, p, pt) {
    HASH_DEL(g->peers, p);
    free(p->his_tag);
    free(p->his_known);
    free(p->his_ops);
    free(p->my_ops);
    free(p);
  }
  phc__global_locks_free(g);
  phc__global_names_free(g);
  free(g);
}
