/* gen_server.c - gen_server processes for C child types, and the node-wide
 * table of child types.
 *
 * A gen_server process decodes {'$gen_call', From, Req}, {'$gen_cast', Req},
 * {system, From, Msg} and {'EXIT', Parent, Reason}; every other message goes
 * to handle_info. Like an OTP gen_server it does not trap exits unless its
 * init asks for it (phc_proc_trap_exit(phc_gs_proc(gs), 1)): an exit signal
 * from a linked process or a supervisor's shutdown ends it (terminate still
 * runs, so the C state is freed); a trapping server that gets
 * {'EXIT', Parent, Reason} ends with that reason, as gen_server does.
 * Replies are {Tag, Reply}; a Tag of the
 * form [alias | Ref] (OTP 24+ gen:call) is answered through the alias. */
#include "proc/proc_int.h"
#include "term/enc.h"
#include "term/term.h"

#include <stdlib.h>

#define GS_MOD "gen_server"

struct phc_gs_s {
  phc_proc_t *p;
  const phc_child_type_t *type;
  void *state;
  phc__cpid_t parent;
  int has_parent;
  int started; /* init succeeded: terminate is due */
};

typedef struct gs_start_s {
  const phc_child_type_t *type;
  const char *args;
  int len;
  const erlang_pid *parent;
  int rc;
} gs_start_t;

/* ---- child types -------------------------------------------------------- */

int phc_child_type_register(phc_node_t *n, const phc_child_type_t *type) {
  if (!n || !type || !type->module || !*type->module) return PHC_EINVAL;
  phc__ctype_t *e = NULL;
  HASH_FIND_STR(n->ctypes, type->module, e);
  if (e) return PHC_EEXIST;
  e = phc__xcalloc(1, sizeof *e);
  e->type = type;
  HASH_ADD_KEYPTR(hh, n->ctypes, type->module, strlen(type->module), e);
  return 0;
}

const phc_child_type_t *phc_child_type_find(phc_node_t *n, const char *module) {
  if (!n || !module) return NULL;
  phc__ctype_t *e = NULL;
  HASH_FIND_STR(n->ctypes, module, e);
  return e ? e->type : NULL;
}

void phc__ctypes_free(phc_node_t *n) {
  phc__ctype_t *e, *tmp;
  HASH_ITER(hh, n->ctypes, e, tmp) {
    HASH_DEL(n->ctypes, e);
    free(e);
  }
}

/* ---- replies ------------------------------------------------------------ */

/* If tag is [alias | Ref], the alias to answer through. */
static int tag_alias(const char *tag, int tag_len, erlang_ref *alias) {
  int idx = 0, arity, type, size;
  char atom[MAXATOMLEN_UTF8];
  if (ei_get_type(tag, &idx, &type, &size) < 0 || type != ERL_LIST_EXT)
    return 0;
  if (ei_decode_list_header(tag, &idx, &arity) < 0 || arity != 1) return 0;
  if (phc__term_atom(tag, &idx, atom, sizeof atom) < 0 ||
      strcmp(atom, "alias") != 0)
    return 0;
  if (ei_decode_ref(tag, &idx, alias) < 0) return 0;
  return idx == tag_len;
}

int phc_gen_reply(phc_node_t *n, const phc_from_t *from, const char *reply,
                  int len) {
  if (!n || !n->rt || !from || !reply || len <= 1 || from->tag_len <= 0)
    return PHC_EINVAL;
  const char *body;
  int blen;
  phc__term_body(reply, len, &body, &blen);
  ei_x_buff x;
  if (phc__x_new_with_version(&x) < 0) return PHC_ENOMEM;
  if (phc__x_tuple_header(&x, 2) < 0 ||
      phc__x_append_buf(&x, from->tag, from->tag_len) < 0 ||
      phc__x_append_buf(&x, body, blen) < 0) {
    ei_x_free(&x);
    return PHC_EINVAL;
  }
  const erlang_pid *self =
      n->rt->current ? phc_self(n->rt->current) : &n->rt->node_pid;
  erlang_ref alias;
  int rc;
  if (tag_alias(from->tag, from->tag_len, &alias))
    rc = phc_send_alias(n, self, &alias, x.buff, x.index);
  else
    rc = phc_send(n, self, &from->pid, x.buff, x.index);
  ei_x_free(&x);
  return rc;
}

/* ---- the process -------------------------------------------------------- */

static void gs_stop_atom(phc_gs_t *gs, const char *reason) {
  phc_proc_exit_atom(gs->p, reason);
}

/* Acts on a callback's return code; reply may be NULL (cast, info). */
static void gs_result(phc_gs_t *gs, int rc, const phc_from_t *from,
                      ei_x_buff *reply) {
  phc_node_t *n = phc_proc_node(gs->p);
  int has_reply = reply && reply->index > 1;
  switch (rc) {
  case PHC_GS_REPLY:
    if (from && has_reply)
      phc_gen_reply(n, from, reply->buff, reply->index);
    else if (from)
      PHC_LOG_W(GS_MOD, "%s: handle_call replied nothing", gs->type->module);
    return;
  case PHC_GS_NOREPLY: return;
  case PHC_GS_STOP:
    if (from && has_reply) phc_gen_reply(n, from, reply->buff, reply->index);
    gs_stop_atom(gs, "normal");
    return;
  default:
    if (has_reply)
      phc_proc_exit(gs->p, reply->buff, reply->index);
    else
      gs_stop_atom(gs, "error");
  }
}

/* Copies the term at buf[*idx] into a new buffer with a version byte. */
static char *slice_term(const char *buf, int *idx, int *out_len) {
  int start = *idx;
  if (ei_skip_term(buf, idx) < 0) return NULL;
  return phc__term_with_version(buf + start, *idx - start, out_len);
}

/* From = {Pid, Tag}: 0, or PHC_EDECODE when it is not (or its tag does not
 * fit in from->tag). */
static int decode_from(const char *buf, int *idx, phc_from_t *from) {
  int arity;
  memset(from, 0, sizeof *from);
  if (ei_decode_tuple_header(buf, idx, &arity) < 0 || arity != 2)
    return PHC_EDECODE;
  if (ei_decode_pid(buf, idx, &from->pid) < 0) return PHC_EDECODE;
  int start = *idx;
  if (ei_skip_term(buf, idx) < 0) return PHC_EDECODE;
  int tl = *idx - start;
  if (tl <= 0 || tl > (int)sizeof from->tag) return PHC_EDECODE;
  memcpy(from->tag, buf + start, (size_t)tl);
  from->tag_len = tl;
  return 0;
}

static void gs_call(phc_gs_t *gs, const char *buf, int idx) {
  phc_from_t from;
  if (decode_from(buf, &idx, &from) < 0) {
    PHC_LOG_W(GS_MOD, "%s: malformed '$gen_call' dropped", gs->type->module);
    return;
  }
  int rlen;
  char *req = slice_term(buf, &idx, &rlen);
  if (!req) return;
  ei_x_buff reply;
  phc__x_new_with_version(&reply);
  int rc = PHC_GS_NOREPLY;
  if (gs->type->handle_call)
    rc = gs->type->handle_call(gs, gs->state, req, rlen, &from, &reply);
  else
    PHC_LOG_W(GS_MOD, "%s: no handle_call", gs->type->module);
  gs_result(gs, rc, &from, &reply);
  ei_x_free(&reply);
  free(req);
}

static void gs_cast(phc_gs_t *gs, const char *buf, int idx) {
  int rlen;
  char *req = slice_term(buf, &idx, &rlen);
  if (!req) return;
  int rc = PHC_GS_NOREPLY;
  if (gs->type->handle_cast)
    rc = gs->type->handle_cast(gs, gs->state, req, rlen);
  gs_result(gs, rc, NULL, NULL);
  free(req);
}

static void gs_info(phc_gs_t *gs, const char *buf, int len) {
  int rc = PHC_GS_NOREPLY;
  if (phc__gs_handover_msg(gs, gs->type, &gs->state, buf, len)) return;
  if (gs->type->handle_info)
    rc = gs->type->handle_info(gs, gs->state, buf, len);
  gs_result(gs, rc, NULL, NULL);
}

static void sys_reply_atom(phc_gs_t *gs, const phc_from_t *from,
                           const char *atom) {
  ei_x_buff x;
  if (phc__x_atom_term(&x, atom) < 0) return;
  phc_gen_reply(phc_proc_node(gs->p), from, x.buff, x.index);
  ei_x_free(&x);
}

/* {status, Pid, {module, gen_server}, [Pdict, running, Parent, [], Misc]} */
static void sys_reply_status(phc_gs_t *gs, const phc_from_t *from) {
  ei_x_buff x;
  phc__x_new_with_version(&x);
  phc__x_tuple_header(&x, 4);
  phc__x_atom(&x, "status");
  phc__x_pid(&x, phc_self(gs->p));
  phc__x_tuple_header(&x, 2);
  phc__x_atom(&x, "module");
  phc__x_atom(&x, "gen_server");
  phc__x_list_header(&x, 5);
  phc__x_empty_list(&x);
  phc__x_atom(&x, "running");
  erlang_pid parent;
  if (gs->has_parent) {
    phc__cpid_get(&gs->parent, &parent);
    phc__x_pid(&x, &parent);
  } else
    phc__x_pid(&x, phc_self(gs->p));
  phc__x_empty_list(&x);
  phc__x_list_header(&x, 1);
  phc__x_tuple_header(&x, 2);
  phc__x_atom(&x, "module");
  phc__x_atom(&x, gs->type->module);
  phc__x_empty_list(&x);
  phc__x_empty_list(&x);
  phc_gen_reply(phc_proc_node(gs->p), from, x.buff, x.index);
  ei_x_free(&x);
}

/* {system, From, Msg}: enough of sys for get_state/get_status, suspend,
 * resume and terminate not to hang or crash anything. */
static void gs_system(phc_gs_t *gs, const char *buf, int idx) {
  phc_from_t from;
  if (decode_from(buf, &idx, &from) < 0) return;
  char atom[MAXATOMLEN_UTF8];
  int arity, i2 = idx;
  if (phc__term_atom(buf, &i2, atom, sizeof atom) == 0) {
    if (strcmp(atom, "get_state") == 0)
      sys_reply_atom(gs, &from, gs->type->module);
    else if (strcmp(atom, "get_status") == 0)
      sys_reply_status(gs, &from);
    else if (strcmp(atom, "suspend") == 0 || strcmp(atom, "resume") == 0)
      sys_reply_atom(gs, &from, "ok");
    else
      PHC_LOG_D(GS_MOD, "system message %s ignored", atom);
    return;
  }
  i2 = idx;
  if (ei_decode_tuple_header(buf, &i2, &arity) == 0 && arity == 2 &&
      phc__term_atom(buf, &i2, atom, sizeof atom) == 0 &&
      strcmp(atom, "terminate") == 0) {
    int rlen;
    char *reason = slice_term(buf, &i2, &rlen);
    /* sys answers ok first, then terminates (proc_lib:stop waits for both) */
    sys_reply_atom(gs, &from, "ok");
    if (reason) phc_proc_exit(gs->p, reason, rlen);
    free(reason);
    return;
  }
  PHC_LOG_D(GS_MOD, "system message ignored");
}

static int gs_parent_exit(phc_gs_t *gs, const char *buf, int idx) {
  erlang_pid from;
  if (!gs->has_parent || ei_decode_pid(buf, &idx, &from) < 0 ||
      !phc__cpid_eq(&gs->parent, &from))
    return 0;
  int rlen;
  char *reason = slice_term(buf, &idx, &rlen);
  if (!reason) return 0;
  phc_proc_exit(gs->p, reason, rlen);
  free(reason);
  return 1;
}

static void gs_handle_msg(phc_proc_t *p, const char *buf, int len) {
  phc_gs_t *gs = phc_proc_data(p);
  int idx = 0, ver, arity;
  char tag[MAXATOMLEN_UTF8];
  if (ei_decode_version(buf, &idx, &ver) < 0 ||
      ei_decode_tuple_header(buf, &idx, &arity) < 0 ||
      phc__term_atom(buf, &idx, tag, sizeof tag) < 0) {
    gs_info(gs, buf, len);
    return;
  }
  if (arity == 3 && strcmp(tag, "$gen_call") == 0)
    gs_call(gs, buf, idx);
  else if (arity == 2 && strcmp(tag, "$gen_cast") == 0)
    gs_cast(gs, buf, idx);
  else if (arity == 3 && strcmp(tag, "system") == 0)
    gs_system(gs, buf, idx);
  else if (!(arity == 3 && strcmp(tag, "EXIT") == 0 &&
             gs_parent_exit(gs, buf, idx)))
    gs_info(gs, buf, len);
}

static int gs_init(phc_proc_t *p, void *arg) {
  gs_start_t *st = arg;
  phc_gs_t *gs = phc__xcalloc(1, sizeof *gs);
  gs->p = p;
  gs->type = st->type;
  if (st->parent) {
    phc__cpid_set(&gs->parent, st->parent);
    gs->has_parent = 1;
  }
  phc_proc_set_data(p, gs);
  int rc = 0;
  if (gs->type->init) rc = gs->type->init(gs, st->args, st->len, &gs->state);
  st->rc = rc < 0 ? rc : 0;
  if (rc < 0) return 1;
  gs->started = 1;
  return 0;
}

static void gs_terminate(phc_proc_t *p, const char *reason, int len) {
  phc_gs_t *gs = phc_proc_data(p);
  if (!gs) return;
  if (gs->started && gs->type->terminate)
    gs->type->terminate(gs, gs->state, reason, len);
  phc_proc_set_data(p, NULL);
  free(gs);
}

static const phc_proc_ops_t gs_ops = {
    .name = "gen_server",
    .init = gs_init,
    .handle_msg = gs_handle_msg,
    .terminate = gs_terminate,
};

int phc_gs_start(phc_node_t *n, const char *module, const char *args, int len,
                 const phc_pid_t *parent, int link, phc_pid_t *out) {
  if (!n || !n->rt || !module) return PHC_EINVAL;
  const phc_child_type_t *type = phc_child_type_find(n, module);
  if (!type) return PHC_EUNDEF;
  gs_start_t st = {type, args, len, parent, 0};
  phc_pid_t pid;
  int rc = phc_spawn(n, &gs_ops, &st, NULL, 0, &pid);
  if (rc < 0) return rc;
  if (st.rc < 0) return st.rc;
  phc_proc_t *p = phc_proc_lookup(n, &pid);
  if (!p) return PHC_ENOPROC; /* init ended it */
  if (link && parent) phc_link(p, parent);
  if (out) *out = pid;
  return 0;
}

phc_proc_t *phc_gs_proc(phc_gs_t *gs) { return gs ? gs->p : NULL; }

int phc__gs_handover_get(phc_node_t *n, const erlang_pid *pid, ei_x_buff *out) {
  phc_proc_t *p = phc_proc_lookup(n, pid);
  phc_gs_t *gs = p && p->ops == &gs_ops ? phc_proc_data(p) : NULL;
  if (!gs || !gs->started) return PHC_ENOPROC;
  if (!gs->type->handover_get) return PHC_EUNDEF;
  return gs->type->handover_get(gs, gs->state, out);
}
