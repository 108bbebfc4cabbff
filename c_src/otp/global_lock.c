/* global_lock.c - global_name_server's lock table and the gen_server
 * calls it answers: set_lock/del_lock (global's can_set_lock, insert_lock
 * and del_lock), the registrations it answers without storing, and the
 * queries (get_known, get_synced, ...). See global_int.h for how the
 * engine is split. */
#include "otp/global_int.h"

#include <stdlib.h>

#include "term/enc.h"
#include "term/ext.h"
#include "term/term.h"

#define MOD "global"

/* ---- the lock table ----------------------------------------------------- */

static phc__glock_t *global_lock_find(phc__global_t *g, const char *res,
                                      int res_len) {
  phc__glock_t *l = NULL;
  HASH_FIND(hh, g->locks, res, (unsigned)res_len, l);
  return l;
}

static void global_lock_free(phc__global_t *g, phc__glock_t *l) {
  HASH_DEL(g->locks, l);
  free(l->res);
  free(l->req);
  free(l->holders);
  free(l);
}

static void global_holder_drop(phc__global_t *g, phc__glock_t *l, int k,
                               int demon) {
  if (demon && l->holders[k].has_ref)
    g->io.demonitor(g->io.ctx, &l->holders[k].ref);
  l->holders[k] = l->holders[--l->n_holders];
  if (l->n_holders == 0) global_lock_free(g, l);
}

/* global's can_set_lock + insert_lock: free, or already held with the same
 * requester id. 1 granted, 0 refused. Canonical res/req bytes. */
static int global_lock_take(phc__global_t *g, const char *res, int res_len,
                            const char *req, int req_len, const erlang_pid *pid,
                            int monitor) {
  phc__glock_t *l = global_lock_find(g, res, res_len);
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
    if (phc_pid_eq(&l->holders[k].pid, pid)) return 1;
  l->holders = phc__xrealloc(l->holders,
                             (size_t)(l->n_holders + 1) * sizeof *l->holders);
  phc__gholder_t *h = &l->holders[l->n_holders++];
  memset(h, 0, sizeof *h);
  h->pid = *pid;
  if (monitor && g->io.monitor(g->io.ctx, pid, &h->ref) == 0) h->has_ref = 1;
  return 1;
}

static void global_lock_release(phc__global_t *g, const char *res, int res_len,
                                const char *req, int req_len,
                                const erlang_pid *pid) {
  phc__glock_t *l = global_lock_find(g, res, res_len);
  if (!l || l->req_len != req_len || memcmp(l->req, req, (size_t)req_len))
    return;
  for (int k = 0; k < l->n_holders; k++)
    if (phc_pid_eq(&l->holders[k].pid, pid)) {
      global_holder_drop(g, l, k, 1);
      return;
    }
}

void phc__global_lock_down(phc__global_t *g, const erlang_ref *ref) {
  phc__glock_t *l, *tmp;
  HASH_ITER(hh, g->locks, l, tmp) {
    for (int k = 0; k < l->n_holders; k++)
      if (l->holders[k].has_ref && phc_ref_eq(&l->holders[k].ref, ref)) {
        global_holder_drop(g, l, k, 0);
        return;
      }
  }
}

void phc__global_lock_drop_node(phc__global_t *g, const char *node) {
  phc__glock_t *l, *tmp;
  HASH_ITER(hh, g->locks, l, tmp) {
    for (int k = l->n_holders - 1; k >= 0; k--)
      if (strcmp(l->holders[k].pid.node, node) == 0) {
        int last = l->n_holders == 1;
        global_holder_drop(g, l, k, 1);
        if (last) break;
      }
  }
}

void phc__global_locks_free(phc__global_t *g) {
  phc__glock_t *l, *lt;
  HASH_ITER(hh, g->locks, l, lt) global_lock_free(g, l);
}

int phc__global_lock_count(const phc__global_t *g) {
  return (int)HASH_COUNT(g->locks);
}

int phc__global_pid_cmp(const erlang_pid *a, const erlang_pid *b) {
  if (a->serial != b->serial) return a->serial < b->serial ? -1 : 1;
  if (a->num != b->num) return a->num < b->num ? -1 : 1;
  int c = strcmp(a->node, b->node);
  if (c) return c < 0 ? -1 : 1;
  if (a->creation != b->creation) return a->creation < b->creation ? -1 : 1;
  return 0;
}

/* Our locker's lock id with this peer: {global, lists:sort([LP, LA])}. */
static void global_session_lock_id(phc__global_t *g, phc__gpeer_t *p,
                                   ei_x_buff *res, ei_x_buff *req) {
  const erlang_pid *a = &g->locker, *b = &p->his_locker;
  if (phc__global_pid_cmp(a, b) > 0) {
    const erlang_pid *t = a;
    a = b;
    b = t;
  }
  ei_x_buff x;
  int i = 0;
  phc__x_new(&x);
  phc__x_atom(&x, "global");
  phc__x_list_header(&x, 2);
  phc__x_pid(&x, a);
  phc__x_pid(&x, b);
  phc__x_empty_list(&x);
  /* the canonical bytes a peer's set_lock of this id gets */
  phc__x_new(res);
  phc__x_new(req);
  phc__ext_reencode(res, x.buff, x.index, &i, PHC__ETF_CANON);
  phc__ext_reencode(req, x.buff, x.index, &i, PHC__ETF_CANON);
  ei_x_free(&x);
}

int phc__global_own_lock(phc__global_t *g, phc__gpeer_t *p, int take) {
  ei_x_buff res, req;
  int ok = 1;
  global_session_lock_id(g, p, &res, &req);
  if (take)
    ok = global_lock_take(g, res.buff, res.index, req.buff, req.index,
                          &g->locker, 0);
  else
    global_lock_release(g, res.buff, res.index, req.buff, req.index,
                        &g->locker);
  ei_x_free(&res);
  ei_x_free(&req);
  return ok;
}

/* ---- calls ------------------------------------------------------------ */

typedef struct global_from_s {
  erlang_pid pid;
  const char *tag;
  int tag_len;
} global_from_t;

/* gen:reply/2: {Tag, Reply} to the alias when Tag is [alias|Ref] (or
 * [[alias|Ref]|_]), else to the pid. reply is an encoded term, no version. */
static void global_reply(phc__global_t *g, const global_from_t *f,
                         const char *r, int rlen) {
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
  phc__global_x_begin(&x);
  phc__x_tuple_header(&x, 2);
  phc__x_append_buf(&x, f->tag, f->tag_len);
  phc__x_append_buf(&x, r, rlen);
  int rc = have_alias ? g->io.send_alias(g->io.ctx, &alias, x.buff, x.index)
                      : g->io.send(g->io.ctx, &f->pid, x.buff, x.index);
  if (rc < 0) PHC_LOG_D(MOD, "reply: %s", phc_strerror(rc));
  ei_x_free(&x);
}

/* A reply that is a single atom, integer or []. */
static void global_reply_atom(phc__global_t *g, const global_from_t *f,
                              const char *atom) {
  ei_x_buff x;
  phc__x_new(&x);
  phc__x_atom(&x, atom);
  global_reply(g, f, x.buff, x.index);
  ei_x_free(&x);
}

static void global_reply_long(phc__global_t *g, const global_from_t *f,
                              long v) {
  ei_x_buff x;
  phc__x_new(&x);
  phc__x_long(&x, v);
  global_reply(g, f, x.buff, x.index);
  ei_x_free(&x);
}

static void global_reply_nil(phc__global_t *g, const global_from_t *f) {
  static const char nil[] = {ERL_NIL_EXT};
  global_reply(g, f, nil, (int)sizeof nil);
}

/* {Lock, ...}: Lock = {ResourceId, LockRequesterId}, canonicalised. */
static int global_decode_lock_id(const char *b, int *i, ei_x_buff *res,
                                 ei_x_buff *req) {
  int ar, end = *i;
  if (ei_skip_term(b, &end) < 0 || ei_decode_tuple_header(b, i, &ar) < 0 ||
      ar != 2)
    return PHC_EDECODE;
  phc__x_new(res);
  phc__x_new(req);
  if (phc__ext_reencode(res, b, end, i, PHC__ETF_CANON) < 0 ||
      phc__ext_reencode(req, b, end, i, PHC__ETF_CANON) < 0) {
    ei_x_free(res);
    ei_x_free(req);
    return PHC_EDECODE;
  }
  return 0;
}

static void global_on_lock_call(phc__global_t *g, const global_from_t *f,
                                const char *b, int *i, int set) {
  ei_x_buff res, req;
  if (global_decode_lock_id(b, i, &res, &req) < 0) {
    phc__global_bad_input(g, "a set_lock/del_lock with a bad lock id");
    return;
  }
  if (set) {
    int ok = global_lock_take(g, res.buff, res.index, req.buff, req.index,
                              &f->pid, 1);
    global_reply_atom(g, f, ok ? "true" : "false");
  } else {
    global_lock_release(g, res.buff, res.index, req.buff, req.index, &f->pid);
    global_reply_atom(g, f, "true");
  }
  ei_x_free(&res);
  ei_x_free(&req);
}

static void global_reply_nodes(phc__global_t *g, const global_from_t *f,
                               int synced_only) {
  ei_x_buff x;
  phc__gpeer_t *p, *tmp;
  phc__x_new(&x);
  HASH_ITER(hh, g->peers, p, tmp) {
    if (synced_only ? p->synced : p->known) {
      phc__x_list_header(&x, 1);
      phc__x_atom(&x, p->node);
    }
  }
  phc__x_empty_list(&x);
  global_reply(g, f, x.buff, x.index);
  ei_x_free(&x);
}

/* {From, Request} of a call: From = {Pid, Tag}; Request is an atom or a
 * tuple tagged with one. tag gets the atom, *ar the tuple's arity (0 for a
 * bare atom). 0 or PHC_EDECODE (logged). */
static int global_call_decode(phc__global_t *g, const char *b, int *i,
                              global_from_t *f, char *tag, size_t tag_size,
                              int *ar) {
  int type, size;
  if (ei_decode_tuple_header(b, i, ar) < 0 || *ar != 2 ||
      ei_decode_pid(b, i, &f->pid) < 0 ||
      phc__global_raw_term(b, i, &f->tag, &f->tag_len)) {
    phc__global_bad_input(g, "a call with a bad From");
    return PHC_EDECODE;
  }
  *ar = 0;
  if (ei_get_type(b, i, &type, &size) < 0 ||
      ((type == ERL_SMALL_TUPLE_EXT || type == ERL_LARGE_TUPLE_EXT) &&
       (ei_decode_tuple_header(b, i, ar) < 0 || *ar < 1)) ||
      phc__term_atom(b, i, tag, tag_size) < 0) {
    phc__global_bad_input(g, "call");
    return PHC_EDECODE;
  }
  return 0;
}

/* {register, Name, Pid, Method} (register_ext adds RegNode): every node of
 * the partition stores the name (yes); {unregister, Name}: ok. */
static void global_on_register(phc__global_t *g, const global_from_t *f,
                               const char *b, int *i, int insert) {
  int rc = insert ? phc__global_name_insert(g, b, i)
                  : phc__global_name_delete(g, b, i);
  if (rc < 0) {
    phc__global_bad_input(g, insert ? "register" : "unregister");
    return;
  }
  global_reply_atom(g, f, insert ? "yes" : "ok");
}

void phc__global_on_call(phc__global_t *g, const char *b, int *i) {
  global_from_t f;
  char tag[PHC__ATOM_MAX];
  int ar;
  if (global_call_decode(g, b, i, &f, tag, sizeof tag, &ar) < 0) return;
  if (!strcmp(tag, "set_lock") && ar == 2)
    global_on_lock_call(g, &f, b, i, 1);
  else if (!strcmp(tag, "del_lock") && ar == 2)
    global_on_lock_call(g, &f, b, i, 0);
  else if ((!strcmp(tag, "register") && ar == 4) ||
           (!strcmp(tag, "register_ext") && ar == 5))
    global_on_register(g, &f, b, i, 1);
  else if (!strcmp(tag, "unregister") && ar == 2)
    global_on_register(g, &f, b, i, 0);
  else if (!strcmp(tag, "sync") && ar == 2)
    global_reply_atom(g, &f, "ok");
  else if (!strcmp(tag, "get_known") && ar == 0)
    global_reply_nodes(g, &f, 0);
  else if (!strcmp(tag, "get_synced") && ar == 0)
    global_reply_nodes(g, &f, 1);
  else if (!strcmp(tag, "get_names_ext") && ar == 0)
    global_reply_nil(g, &f);
  else if (!strcmp(tag, "get_protocol_version") && ar == 0)
    global_reply_long(g, &f, PHC__GLOBAL_VSN);
  else /* global leaves unknown calls unanswered (and logs them); so do we. */
    PHC_LOG_D(MOD, "unexpected call %s/%d", tag, ar);
}
