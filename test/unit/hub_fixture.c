/* hub_fixture.c - the hub's test node (see hub_fixture.h). */
#include "hub_fixture.h"

#include "children/children.h"

static hx_msg_t *hx_add(void *ctx, int op, const char *buf, int len) {
  hx_rec_t *r = ctx;
  assert_true(r->n < HX_MAX);
  hx_msg_t *m = &r->m[r->n++];
  memset(m, 0, sizeof *m);
  m->op = op;
  if (buf && len > 0) {
    m->buf = malloc((size_t)len);
    memcpy(m->buf, buf, (size_t)len);
    m->len = len;
  }
  return m;
}

static int hx_send(void *ctx, const erlang_pid *from, const erlang_pid *to,
                   const char *buf, int len) {
  (void)from;
  hx_add(ctx, HX_SEND, buf, len)->to = *to;
  return 0;
}
static int hx_send_name(void *ctx, const erlang_pid *from, const char *node,
                        const char *name, const char *buf, int len) {
  (void)from;
  hx_msg_t *m = hx_add(ctx, HX_SEND_NAME, buf, len);
  snprintf(m->node, sizeof m->node, "%s", node);
  snprintf(m->name, sizeof m->name, "%s", name);
  return 0;
}
static int hx_send_alias(void *ctx, const erlang_pid *from,
                         const erlang_ref *alias, const char *buf, int len) {
  (void)from, (void)alias;
  hx_add(ctx, HX_OTHER, buf, len);
  return 0;
}
static int hx_pair(void *ctx, const erlang_pid *from, const erlang_pid *to) {
  (void)from, (void)to;
  hx_add(ctx, HX_OTHER, NULL, 0);
  return 0;
}
static int hx_id(void *ctx, uint64_t id, const erlang_pid *from,
                 const erlang_pid *to) {
  (void)id;
  return hx_pair(ctx, from, to);
}
static int hx_exit(void *ctx, const erlang_pid *from, const erlang_pid *to,
                   const char *reason, int len) {
  (void)from, (void)to;
  hx_add(ctx, HX_OTHER, reason, len);
  return 0;
}
static int hx_mon(void *ctx, const erlang_pid *from, const erlang_pid *to,
                  const char *to_name, const char *node,
                  const erlang_ref *ref) {
  (void)to_name, (void)node, (void)ref;
  return hx_pair(ctx, from, to);
}
static int hx_mon_exit(void *ctx, const erlang_pid *watched,
                       const char *watched_name, const erlang_pid *watcher,
                       const erlang_ref *ref, const char *reason, int len) {
  (void)watched, (void)watched_name, (void)watcher, (void)ref;
  hx_add(ctx, HX_OTHER, reason, len);
  return 0;
}

static const phc__remote_ops_t hx_ops = {
    hx_send, hx_send_name, hx_send_alias, hx_pair, hx_id,      hx_id,
    hx_exit, hx_exit,      hx_mon,        hx_mon,  hx_mon_exit};

/* Deliver everything queued (timers are not waited for). */
void hx_drain(hx_t *x) {
  for (int i = 0; i < 10000 && x->node.rt && !TAILQ_EMPTY(&x->node.rt->runq);
       i++)
    uv_run(&x->loop, UV_RUN_NOWAIT);
}

void hx_rec_clear(hx_t *x) {
  for (int i = 0; i < x->rec.n; i++)
    free(x->rec.m[i].buf);
  x->rec.n = 0;
}

hx_t *hx_new(void) {
  hx_t *x = calloc(1, sizeof *x);
  assert_non_null(x);
  assert_int_equal(uv_loop_init(&x->loop), 0);
  x->node.loop = &x->loop;
  strcpy(x->node.name, HX_NODE);
  x->node.creation = 1700000001;
  x->node.remote = &hx_ops;
  x->node.remote_ctx = &x->rec;
  assert_int_equal(phc__rt_init(&x->node), 0);
  assert_int_equal(phc__otp_init(&x->node), 0);
  assert_int_equal(phc__children_register(&x->node), 0);
  phc_hub_config_t cfg = {.hub_id = HX_HUB};
  assert_int_equal(phc_hub_start(&x->node, &cfg, &x->h), 0);
  /* the trace's peers run OTP 25, as if their rex had answered (a peer
   * enters the ring only once its release is known) */
  phc__hubs_peer_release(&x->node, HX_PH1, 25);
  phc__hubs_peer_release(&x->node, HX_PH3, 25);
  /* and phc's strategies, as if one had answered the strategies' ask (a
   * join waits for that answer: test_adopt.c) */
  x->h->strat_adopted = 1;
  hx_drain(x);
  hx_rec_clear(x);
  return x;
}

void hx_free(hx_t *x) {
  phc_hub_stop(x->h);
  hx_drain(x);
  phc__otp_close(&x->node);
  phc__rt_close(&x->node);
  uv_run(&x->loop, UV_RUN_DEFAULT);
  phc__hubs_free(&x->node);
  assert_int_equal(uv_loop_close(&x->loop), 0);
  hx_rec_clear(x);
  free(x);
}

/* A pid on a peer node (the trace nodes: creation does not matter). */
erlang_pid hx_pid(const char *node, unsigned num) {
  erlang_pid p;
  memset(&p, 0, sizeof p);
  snprintf(p.node, sizeof p.node, "%s", node);
  p.num = num;
  p.creation = 42;
  return p;
}

/* ---- fixtures and delivery -------------------------------------------- */

hx_term_t hx_load(const char *name) {
  char path[256];
  size_t len = 0;
  snprintf(path, sizeof path, "../fixtures/hub/%s.etf", name);
  hx_term_t t = {phc_test_read_file(path, &len), 0};
  if (!t.b) fail_msg("missing fixture %s", path);
  t.len = (int)len;
  return t;
}

/* A message to the coordinator's pid, from a process on ph1. */
void hx_to_coord(hx_t *x, const char *buf, int len) {
  erlang_pid from = hx_pid(HX_PH1, 133);
  phc__proc_in_send(&x->node, &from, &x->h->coord, buf, len);
  hx_drain(x);
}

/* A message to a registered name (the hub id, the pg scope). */
void hx_to_name(hx_t *x, const char *name, const char *buf, int len) {
  erlang_pid from = hx_pid(HX_PH1, 133);
  phc__proc_in_send_name(&x->node, &from, name, buf, len);
  hx_drain(x);
}

/* Feed a fixture by name to the coordinator's pid (how blockade sends
 * events) or, for '$gen_cast' fixtures, to {lab, Node}. */
void hx_feed(hx_t *x, const char *fixture) {
  hx_term_t t = hx_load(fixture);
  if (!strncmp(fixture, "start_", 6) || !strncmp(fixture, "stop_", 5))
    hx_to_name(x, HX_HUB, t.b, t.len);
  else if (!strncmp(fixture, "pg_", 3))
    hx_to_name(x, x->h->pg_name, t.b, t.len);
  else
    hx_to_coord(x, t.b, t.len);
  free(t.b);
}

/* ---- looking at what went out ------------------------------------------ */

/* The head atom of a recorded message: {Head, ...} or
 * {'$gen_cast', {Head, ...}} (then cast is set). */
int hx_head(const hx_msg_t *m, char *head, int *cast) {
  int idx = 1, ar;
  *cast = 0;
  if (!m->buf || ei_decode_tuple_header(m->buf, &idx, &ar) < 0 ||
      ei_decode_atom(m->buf, &idx, head) < 0)
    return 0;
  if (!strcmp(head, "$gen_cast") &&
      ei_decode_tuple_header(m->buf, &idx, &ar) == 0 &&
      ei_decode_atom(m->buf, &idx, head) == 0)
    *cast = 1;
  return 1;
}

/* The k-th (0-based) recorded message with this head, or NULL. */
hx_msg_t *hx_find(hx_t *x, const char *head, int k) {
  for (int i = 0; i < x->rec.n; i++) {
    char h[PHC__ATOM_MAX];
    int cast;
    if (hx_head(&x->rec.m[i], h, &cast) && !strcmp(h, head) && k-- == 0)
      return &x->rec.m[i];
  }
  return NULL;
}

int hx_count(hx_t *x, const char *head) {
  int k = 0;
  while (hx_find(x, head, k))
    k++;
  return k;
}

/* The term as text (ei_s_print_term, without the blank it writes after
 * each comma); caller frees. */
char *hx_text(const char *buf, int idx) {
  char *s = NULL;
  int i = idx;
  if (ei_s_print_term(&s, buf, &i) < 0) return strdup("<bad term>");
  char *w = s;
  for (const char *r = s; *r; r++)
    if (!(*r == ' ' && r > s && r[-1] == ',')) *w++ = *r;
  *w = 0;
  return s;
}

int hx_has(const char *buf, int idx, const char *needle) {
  char *s = hx_text(buf, idx);
  int hit = strstr(s, needle) != NULL;
  if (!hit) print_message("'%s' not in %s\n", needle, s);
  free(s);
  return hit;
}

/* ---- building terms ---------------------------------------------------- */

static int hx_keep(void *arg, const char *term, int len) {
  ei_x_buff *x = arg;
  ei_x_append_buf(x, term, len);
  return 0;
}

ei_x_buff hx_term(const char *text) {
  ei_x_buff x;
  char err[128], *src;
  size_t n = strlen(text);
  ei_x_new(&x);
  src = malloc(n + 2);
  memcpy(src, text, n);
  memcpy(src + n, ".", 2);
  if (phc__parse_terms(src, n + 1, hx_keep, &x, err, sizeof err) != 0 ||
      x.index == 0)
    fail_msg("hx_term(%s): %s", text, err);
  free(src);
  return x;
}

void hx_append(ei_x_buff *x, const char *text) {
  ei_x_buff t = hx_term(text);
  ei_x_append_buf(x, t.buff + 1, t.index - 1);
  ei_x_free(&t);
}

ei_x_buff hx_body(const char *text) {
  ei_x_buff x;
  ei_x_new(&x);
  hx_append(&x, text);
  return x;
}

/* ---- query results ------------------------------------------------------ */

/* Query results as text. */
char *hx_dump(hx_t *x) {
  ei_x_buff b;
  ei_x_new(&b);
  phc_hub_registry_dump(x->h, &b);
  char *s = hx_text(b.buff, 0);
  ei_x_free(&b);
  return s;
}

size_t hx_rows(hx_t *x) { return phc__reg_count(&x->h->reg); }

/* The registry row of a child id given as an encoded term. */
phc__reg_row_t *hx_row(hx_t *x, const ei_x_buff *cid) {
  return phc__reg_find(&x->h->reg, cid->buff, cid->index);
}

ei_x_buff hx_bin_cid(const char *s) {
  ei_x_buff b;
  ei_x_new(&b);
  ei_x_encode_binary(&b, s, (int)strlen(s));
  return b;
}

ei_x_buff hx_atom_cid(const char *s) {
  ei_x_buff b;
  ei_x_new(&b);
  ei_x_encode_atom(&b, s);
  return b;
}
