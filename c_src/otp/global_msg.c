/* global_msg.c - global_name_server's wire: the decoding helpers its
 * handlers share and every message the server sends (see global.h for the
 * shapes, global_int.h for how the engine is split). */
#include "otp/global_int.h"

#include <stdio.h>

#include "term/enc.h"
#include "term/ext.h"

#define MOD "global"

/* ---- small helpers --------------------------------------------------- */

void phc__global_bad_input(phc__global_t *g, const char *what) {
  if (g->warn_budget > 0) {
    g->warn_budget--;
    PHC_LOG_W(MOD, "dropped %s", what);
  } else {
    PHC_LOG_D(MOD, "dropped %s", what);
  }
}

unsigned phc__global_rand(phc__global_t *g) {
  g->rng = g->rng * 1103515245u + 12345u;
  return (g->rng >> 8) & 0xffffff;
}

/* Skip one term and report where it was. */
int phc__global_raw_term(const char *b, int *i, const char **start, int *len) {
  int s = *i;
  if (ei_skip_term(b, i) < 0) return PHC_EDECODE;
  if (start) *start = b + s;
  if (len) *len = *i - s;
  return 0;
}

/* Equal terms get equal canonical bytes whatever encoding the sender
 * chose (atom tags, pid/ref generations, STRING_EXT vs list, map order):
 * term/ext.h's re-encoder in its PHC__ETF_CANON mode. */
int phc__global_same_term(const char *a, int alen, const char *b, int blen) {
  ei_x_buff ca, cb;
  int ia = 0, ib = 0, eq = 0;
  phc__x_new(&ca);
  phc__x_new(&cb);
  if (phc__ext_reencode(&ca, a, alen, &ia, PHC__ETF_CANON) == 0 && ia == alen &&
      phc__ext_reencode(&cb, b, blen, &ib, PHC__ETF_CANON) == 0 && ib == blen)
    eq =
        ca.index == cb.index && memcmp(ca.buff, cb.buff, (size_t)ca.index) == 0;
  ei_x_free(&ca);
  ei_x_free(&cb);
  return eq;
}

/* ---- output ------------------------------------------------------------ */

void phc__global_x_begin(ei_x_buff *x) { phc__x_new_with_version(x); }

void phc__global_x_cast(ei_x_buff *x, int arity, const char *tag) {
  phc__global_x_begin(x);
  phc__x_tuple_header(x, 2);
  phc__x_atom(x, "$gen_cast");
  phc__x_tuple_header(x, arity);
  phc__x_atom(x, tag);
}

void phc__global_send_gns(phc__global_t *g, const char *node, ei_x_buff *x) {
  int rc = g->io.send_name(g->io.ctx, node, PHC__GLOBAL_GNS, x->buff, x->index);
  if (rc < 0)
    PHC_LOG_D(MOD, "send to %s on %s: %s", PHC__GLOBAL_GNS, node,
              phc_strerror(rc));
  ei_x_free(x);
}

void phc__global_send_pid(phc__global_t *g, const erlang_pid *to,
                          ei_x_buff *x) {
  int rc = g->io.send(g->io.ctx, to, x->buff, x->index);
  if (rc < 0) PHC_LOG_D(MOD, "send to pid: %s", phc_strerror(rc));
  ei_x_free(x);
}

void phc__global_x_tag(ei_x_buff *x, const phc__gpeer_t *p) {
  phc__x_append_buf(x, p->his_tag, p->his_tag_len);
}

void phc__global_send_init_connect(phc__global_t *g, phc__gpeer_t *p) {
  ei_x_buff x;
  phc__global_x_cast(&x, 4, "init_connect");
  phc__x_tuple_header(&x, 2);
  phc__x_long(&x, PHC__GLOBAL_VSN);
  phc__x_longlong(&x, p->my_tag);
  phc__x_atom(&x, g->node);
  phc__x_tuple_header(&x, 4);
  phc__x_atom(&x, "locker");
  phc__x_atom(&x, "no_longer_a_pid");
  phc__x_empty_list(&x); /* our known nodes; ignored by receivers */
  phc__x_pid(&x, &g->locker);
  phc__global_send_gns(g, p->node, &x);
}

void phc__global_send_plain4(phc__global_t *g, const char *node,
                             const char *tag, const char *tag_a, int tag_a_len,
                             long long tag_b, int with_b) {
  ei_x_buff x;
  phc__global_x_begin(&x);
  phc__x_tuple_header(&x, with_b ? 4 : 3);
  phc__x_atom(&x, tag);
  phc__x_atom(&x, g->node);
  phc__x_append_buf(&x, tag_a, tag_a_len);
  if (with_b) phc__x_longlong(&x, tag_b);
  phc__global_send_gns(g, node, &x);
}

void phc__global_send_lock_set(phc__global_t *g, phc__gpeer_t *p, int ok) {
  ei_x_buff x;
  if (p->his_vsn < 6) { /* old lockers take it straight */
    phc__global_x_begin(&x);
    phc__x_tuple_header(&x, 4);
    phc__x_atom(&x, "lock_set");
    phc__x_pid(&x, &g->locker);
    phc__x_boolean(&x, ok);
    phc__x_empty_list(&x);
    phc__global_send_pid(g, &p->his_locker, &x);
    return;
  }
  phc__global_x_cast(&x, p->his_vsn < 8 ? 4 : 5, "lock_set");
  phc__x_pid(&x, &g->locker);
  phc__x_boolean(&x, ok);
  phc__x_empty_list(&x); /* our partition's other nodes: none */
  if (p->his_vsn >= 8) phc__global_x_tag(&x, p);
  phc__global_send_gns(g, p->node, &x);
}

void phc__global_send_in_sync(phc__global_t *g, const char *node) {
  ei_x_buff x;
  phc__global_x_cast(&x, 3, "in_sync");
  phc__x_atom(&x, g->node);
  phc__x_boolean(&x, 1);
  phc__global_send_gns(g, node, &x);
}

void phc__global_arm_timer(phc__global_t *g, phc__gpeer_t *p, unsigned ms) {
  ei_x_buff x;
  p->timer_seq++;
  phc__global_x_begin(&x);
  phc__x_tuple_header(&x, 4);
  phc__x_atom(&x, PHC__GLOBAL_TIMER_TAG);
  phc__x_atom(&x, p->node);
  phc__x_longlong(&x, p->my_tag);
  phc__x_ulong(&x, p->timer_seq);
  if (g->io.send_after(g->io.ctx, ms, x.buff, x.index) < 0)
    PHC_LOG_W(MOD, "cannot arm a timer for %s", p->node);
  ei_x_free(&x);
}

void phc__global_x_known(const phc__global_t *g, const phc__gpeer_t *skip,
                         int vsn, ei_x_buff *x) {
  const phc__gpeer_t *q, *tmp;
  HASH_ITER(hh, g->peers, q, tmp) {
    if (q == skip || !q->known) continue;
    phc__x_list_header(x, 1);
    if (vsn >= 7) {
      phc__x_tuple_header(x, 2);
      phc__x_atom(x, q->node);
      phc__x_long(x, q->vsn ? q->vsn : PHC__GLOBAL_VSN);
    } else {
      phc__x_atom(x, q->node);
    }
  }
  phc__x_empty_list(x);
}

/* Where the elements of an encoded proper list are (*body, *body_len):
 * their count, 0 for none (or no list), or PHC_EDECODE. */
static int global_list_body(const char *b, int len, const char **body,
                            int *body_len) {
  int i = 0, n, s, type, size;
  *body = b;
  *body_len = 0;
  if (!b || len <= 0) return 0;
  if (ei_get_type(b, &i, &type, &size) < 0 || type == ERL_STRING_EXT ||
      ei_decode_list_header(b, &i, &n) < 0)
    return PHC_EDECODE;
  s = i;
  for (int k = 0; k < n; k++)
    if (ei_skip_term(b, &i) < 0) return PHC_EDECODE;
  *body = b + s;
  *body_len = i - s;
  return n;
}

/* {global, lists:sort([OurLocker, HisLocker])} */
static void global_x_lock_id(const phc__global_t *g, const phc__gpeer_t *p,
                             ei_x_buff *x) {
  const erlang_pid *a = &g->locker, *b = &p->his_locker;
  if (phc__global_pid_cmp(a, b) > 0) {
    a = &p->his_locker;
    b = &g->locker;
  }
  phc__x_tuple_header(x, 2);
  phc__x_atom(x, "global");
  phc__x_list_header(x, 2);
  phc__x_pid(x, a);
  phc__x_pid(x, b);
  phc__x_empty_list(x);
}

/* We are in sync with p: the nodes we knew before learn p's partition
 * (global's resolved/3: the locker casts new_nodes to the old Known, whose
 * servers then connect to the new nodes and send them in_sync). ops: the
 * name ops both sides agreed on, already applied here. */
void phc__global_send_new_nodes(phc__global_t *g, const phc__gpeer_t *p,
                                const char *ops, int ops_len) {
  const phc__gpeer_t *q, *tmp;
  const char *his;
  int his_len,
      n = global_list_body(p->his_known, p->his_known_len, &his, &his_len);
  if (n < 0) {
    phc__global_bad_input(g, "a resolved message with a bad node list");
    n = 0;
  }
  HASH_ITER(hh, g->peers, q, tmp) {
    ei_x_buff x;
    if (q == p || !q->known || !q->up) continue;
    phc__global_x_cast(&x, 6, "new_nodes");
    phc__x_atom(&x, g->node);
    phc__x_append_buf(&x, ops, ops_len);
    phc__x_empty_list(&x); /* names_ext */
    phc__x_list_header(&x, 1 + n);
    phc__x_tuple_header(&x, 2);
    phc__x_atom(&x, p->node);
    phc__x_long(&x, p->vsn ? p->vsn : PHC__GLOBAL_VSN);
    phc__x_append_buf(&x, his, his_len);
    phc__x_empty_list(&x);
    phc__x_list_header(&x, 2);
    phc__x_tuple_header(&x, 2);
    phc__x_atom(&x, "vsn");
    phc__x_long(&x, p->vsn ? p->vsn : PHC__GLOBAL_VSN);
    phc__x_tuple_header(&x, 2);
    phc__x_atom(&x, "lock");
    global_x_lock_id(g, p, &x);
    phc__x_empty_list(&x);
    phc__global_send_gns(g, q->node, &x);
  }
}

/* The ops of a session: ours (from his names) then his (HisResolved), as
 * one list in *x (set up here). */
int phc__global_session_ops(const phc__gpeer_t *p, ei_x_buff *x) {
  const char *a, *b;
  int alen, blen, na, nb;
  phc__x_new(x);
  na = global_list_body(p->my_ops, p->my_ops_len, &a, &alen);
  nb = global_list_body(p->his_ops, p->his_ops_len, &b, &blen);
  if (na < 0 || nb < 0) return PHC_EDECODE;
  if (na + nb > 0) phc__x_list_header(x, na + nb);
  phc__x_append_buf(x, a, alen);
  phc__x_append_buf(x, b, blen);
  phc__x_empty_list(x);
  return 0;
}
