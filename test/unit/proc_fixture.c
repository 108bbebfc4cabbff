/* proc_fixture.c - the process runtime's test node (see proc_fixture.h). */
#include "proc_fixture.h"

static rec_call_t *rec_add(void *ctx, int op, const erlang_pid *from,
                           const erlang_pid *to) {
  recorder_t *r = ctx;
  assert_true(r->n < FX_MAX_CALLS);
  rec_call_t *c = &r->calls[r->n++];
  memset(c, 0, sizeof *c);
  c->op = op;
  if (from) {
    c->from = *from;
    c->has_from = 1;
  }
  if (to) {
    c->to = *to;
    c->has_to = 1;
  }
  return c;
}

static void rec_buf(rec_call_t *c, const char *buf, int len) {
  assert_true(len > 0 && len <= (int)sizeof c->buf);
  memcpy(c->buf, buf, (size_t)len);
  c->len = len;
}

static void rec_str(char *dst, const char *s) {
  if (s) snprintf(dst, 256, "%s", s);
}

static int rec_send(void *ctx, const erlang_pid *from, const erlang_pid *to,
                    const char *buf, int len) {
  rec_buf(rec_add(ctx, R_SEND, from, to), buf, len);
  return 0;
}
static int rec_send_name(void *ctx, const erlang_pid *from, const char *node,
                         const char *name, const char *buf, int len) {
  rec_call_t *c = rec_add(ctx, R_SEND_NAME, from, NULL);
  rec_str(c->node, node);
  rec_str(c->name, name);
  rec_buf(c, buf, len);
  return 0;
}
static int rec_send_alias(void *ctx, const erlang_pid *from,
                          const erlang_ref *alias, const char *buf, int len) {
  rec_call_t *c = rec_add(ctx, R_SEND_ALIAS, from, NULL);
  c->ref = *alias;
  rec_buf(c, buf, len);
  return 0;
}
static int rec_link(void *ctx, const erlang_pid *from, const erlang_pid *to) {
  rec_add(ctx, R_LINK, from, to);
  return 0;
}
static int rec_unlink_id(void *ctx, uint64_t id, const erlang_pid *from,
                         const erlang_pid *to) {
  rec_add(ctx, R_UNLINK_ID, from, to)->id = id;
  return 0;
}
static int rec_unlink_id_ack(void *ctx, uint64_t id, const erlang_pid *from,
                             const erlang_pid *to) {
  rec_add(ctx, R_UNLINK_ID_ACK, from, to)->id = id;
  return 0;
}
static int rec_exit(void *ctx, const erlang_pid *from, const erlang_pid *to,
                    const char *reason, int len) {
  rec_buf(rec_add(ctx, R_EXIT, from, to), reason, len);
  return 0;
}
static int rec_exit2(void *ctx, const erlang_pid *from, const erlang_pid *to,
                     const char *reason, int len) {
  rec_buf(rec_add(ctx, R_EXIT2, from, to), reason, len);
  return 0;
}
static int rec_monitor(void *ctx, const erlang_pid *from, const erlang_pid *to,
                       const char *to_name, const char *node,
                       const erlang_ref *ref) {
  recorder_t *r = ctx;
  rec_call_t *c = rec_add(ctx, R_MONITOR, from, to);
  rec_str(c->name, to_name);
  rec_str(c->node, node);
  c->ref = *ref;
  return r->fail_monitor ? PHC_ENOTCONN : 0;
}
static int rec_demonitor(void *ctx, const erlang_pid *from,
                         const erlang_pid *to, const char *to_name,
                         const char *node, const erlang_ref *ref) {
  rec_call_t *c = rec_add(ctx, R_DEMONITOR, from, to);
  rec_str(c->name, to_name);
  rec_str(c->node, node);
  c->ref = *ref;
  return 0;
}
static int rec_monitor_exit(void *ctx, const erlang_pid *watched,
                            const char *watched_name, const erlang_pid *watcher,
                            const erlang_ref *ref, const char *reason,
                            int len) {
  rec_call_t *c = rec_add(ctx, R_MONITOR_EXIT, watched, watcher);
  rec_str(c->name, watched_name);
  c->ref = *ref;
  rec_buf(c, reason, len);
  return 0;
}

static const phc__remote_ops_t rec_ops = {
    rec_send,      rec_send_name,     rec_send_alias,  rec_link,
    rec_unlink_id, rec_unlink_id_ack, rec_exit,        rec_exit2,
    rec_monitor,   rec_demonitor,     rec_monitor_exit};

fx_t *fx_new(void) {
  fx_t *f = calloc(1, sizeof *f);
  assert_non_null(f);
  assert_int_equal(uv_loop_init(&f->loop), 0);
  f->node.loop = &f->loop;
  strcpy(f->node.name, FX_NODE);
  f->node.creation = 1234;
  f->node.remote = &rec_ops;
  f->node.remote_ctx = &f->rec;
  assert_int_equal(phc__rt_init(&f->node), 0);
  return f;
}

/* Deliver everything queued (timers are not waited for). */
void fx_drain(fx_t *f) {
  for (int i = 0; i < 10000 && f->node.rt && !TAILQ_EMPTY(&f->node.rt->runq);
       i++)
    uv_run(&f->loop, UV_RUN_NOWAIT);
}

/* Run until nothing is left: queued messages and pending timers. */
void fx_run(fx_t *f) { uv_run(&f->loop, UV_RUN_DEFAULT); }

void fx_free(fx_t *f) {
  phc__rt_close(&f->node);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&f->loop), 0);
  free(f);
}

int fx_count(fx_t *f, int op) {
  int k = 0;
  for (int i = 0; i < f->rec.n; i++)
    k += f->rec.calls[i].op == op;
  return k;
}

rec_call_t *fx_last(fx_t *f, int op) {
  for (int i = f->rec.n - 1; i >= 0; i--)
    if (f->rec.calls[i].op == op) return &f->rec.calls[i];
  return NULL;
}

erlang_pid fx_remote_pid(unsigned num) {
  erlang_pid p;
  memset(&p, 0, sizeof p);
  strcpy(p.node, FX_PEER);
  p.num = num;
  p.serial = 0;
  p.creation = 99;
  return p;
}

erlang_ref fx_remote_ref(unsigned k) {
  erlang_ref r;
  memset(&r, 0, sizeof r);
  strcpy(r.node, FX_PEER);
  r.len = 3;
  r.n[0] = k;
  r.n[1] = 7;
  r.n[2] = 8;
  r.creation = 99;
  return r;
}

/* ---- terms -------------------------------------------------------------- */

term_t t_from_x(ei_x_buff *x) {
  term_t t;
  assert_true(x->index <= (int)sizeof t.b);
  memcpy(t.b, x->buff, (size_t)x->index);
  t.len = x->index;
  ei_x_free(x);
  return t;
}

term_t t_atom(const char *a) {
  ei_x_buff x;
  ei_x_new_with_version(&x);
  ei_x_encode_atom(&x, a);
  return t_from_x(&x);
}

term_t t_int(long v) {
  ei_x_buff x;
  ei_x_new_with_version(&x);
  ei_x_encode_long(&x, v);
  return t_from_x(&x);
}

/* {Atom, Int} */
term_t t_pair(const char *a, long v) {
  ei_x_buff x;
  ei_x_new_with_version(&x);
  ei_x_encode_tuple_header(&x, 2);
  ei_x_encode_atom(&x, a);
  ei_x_encode_long(&x, v);
  return t_from_x(&x);
}

int t_is_atom(const char *buf, int len, const char *a) {
  return phc__term_is_atom(buf, len, a);
}

int t_get_long(const char *buf, int len, long *v) {
  int idx = 0, ver;
  (void)len;
  return ei_decode_version(buf, &idx, &ver) == 0 &&
         ei_decode_long(buf, &idx, v) == 0;
}

/* {'EXIT', From, Reason} with Reason an atom. */
int t_is_exit(const char *buf, const erlang_pid *from, const char *reason) {
  int idx = 0, ver, ar;
  char a[MAXATOMLEN_UTF8];
  erlang_pid p;
  return ei_decode_version(buf, &idx, &ver) == 0 &&
         ei_decode_tuple_header(buf, &idx, &ar) == 0 && ar == 3 &&
         ei_decode_atom(buf, &idx, a) == 0 && strcmp(a, "EXIT") == 0 &&
         ei_decode_pid(buf, &idx, &p) == 0 && phc_pid_eq(&p, from) &&
         ei_decode_atom(buf, &idx, a) == 0 && strcmp(a, reason) == 0;
}

/* {'DOWN', Ref, process, Obj, Reason}: Obj is pid (name NULL) or
 * {Name, Node}; Reason an atom. */
int t_is_down(const char *buf, const erlang_ref *ref, const erlang_pid *pid,
              const char *name, const char *node, const char *reason) {
  int idx = 0, ver, ar;
  char a[MAXATOMLEN_UTF8], b[MAXATOMLEN_UTF8];
  erlang_ref r;
  erlang_pid p;
  if (ei_decode_version(buf, &idx, &ver) ||
      ei_decode_tuple_header(buf, &idx, &ar) || ar != 5 ||
      ei_decode_atom(buf, &idx, a) || strcmp(a, "DOWN") ||
      ei_decode_ref(buf, &idx, &r) || !phc_ref_eq(&r, ref) ||
      ei_decode_atom(buf, &idx, a) || strcmp(a, "process"))
    return 0;
  if (name) {
    if (ei_decode_tuple_header(buf, &idx, &ar) || ar != 2 ||
        ei_decode_atom(buf, &idx, a) || strcmp(a, name) ||
        ei_decode_atom(buf, &idx, b) || strcmp(b, node))
      return 0;
  } else if (ei_decode_pid(buf, &idx, &p) || !phc_pid_eq(&p, pid)) {
    return 0;
  }
  return ei_decode_atom(buf, &idx, a) == 0 && strcmp(a, reason) == 0;
}

/* ---- probe processes ---------------------------------------------------- */

static int probe_init(phc_proc_t *self, void *arg) {
  probe_t *pr = arg;
  pr->self = self;
  pr->pid = *phc_self(self);
  phc_proc_set_data(self, pr);
  if (pr->trap) phc_proc_trap_exit(self, 1);
  return pr->init_fail;
}

static void probe_msg(phc_proc_t *self, const char *buf, int len) {
  probe_t *pr = phc_proc_data(self);
  pr->depth++;
  if (pr->depth > pr->max_depth) pr->max_depth = pr->depth;
  if (pr->count < PROBE_MAX) {
    pr->msgs[pr->count] = malloc((size_t)len);
    memcpy(pr->msgs[pr->count], buf, (size_t)len);
    pr->lens[pr->count] = len;
    pr->count++;
  }
  if (pr->echo_to_self) {
    pr->echo_to_self = 0;
    phc_send(phc_proc_node(self), phc_self(self), phc_self(self), buf, len);
  }
  if (pr->exit_on_msg) phc_proc_exit_atom(self, "boom");
  pr->depth--;
}

static void probe_term(phc_proc_t *self, const char *reason, int len) {
  probe_t *pr = phc_proc_data(self);
  pr->terminated++;
  if (len > (int)sizeof pr->reason) len = (int)sizeof pr->reason;
  memcpy(pr->reason, reason, (size_t)len);
  pr->reason_len = len;
  pr->self = NULL;
}

const phc_proc_ops_t probe_ops = {"probe", probe_init, probe_msg, probe_term};

void probe_reset(probe_t *pr) {
  for (int i = 0; i < pr->count; i++)
    free(pr->msgs[i]);
  pr->count = 0;
}

void probe_free(probe_t *pr) {
  probe_reset(pr);
  free(pr);
}

probe_t *probe_spawn(fx_t *f, int trap) {
  probe_t *pr = calloc(1, sizeof *pr);
  pr->trap = trap;
  assert_int_equal(phc_spawn(&f->node, &probe_ops, pr, NULL, 0, &pr->pid), 0);
  return pr;
}

int probe_died_with(const probe_t *pr, const char *reason) {
  return pr->terminated == 1 && t_is_atom(pr->reason, pr->reason_len, reason);
}

int probe_alive(fx_t *f, const probe_t *pr) {
  return phc_proc_lookup(&f->node, &pr->pid) != NULL;
}
