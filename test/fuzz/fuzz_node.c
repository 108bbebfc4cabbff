/* fuzz_node.c - the node the dispatch and hub harnesses feed (fuzz.h). */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#include "children/children.h"
#include "dist/dist.h"
#include "otp/otp.h"

static int fz_send(void *ctx, const erlang_pid *from, const erlang_pid *to,
                   const char *buf, int len) {
  (void)from, (void)to, (void)buf, (void)len;
  ((fz_node_t *)ctx)->sent++;
  return 0;
}
static int fz_send_name(void *ctx, const erlang_pid *from, const char *node,
                        const char *name, const char *buf, int len) {
  (void)node, (void)name;
  return fz_send(ctx, from, NULL, buf, len);
}
static int fz_send_alias(void *ctx, const erlang_pid *from,
                         const erlang_ref *alias, const char *buf, int len) {
  (void)alias;
  return fz_send(ctx, from, NULL, buf, len);
}
static int fz_pair(void *ctx, const erlang_pid *from, const erlang_pid *to) {
  return fz_send(ctx, from, to, NULL, 0);
}
static int fz_id(void *ctx, uint64_t id, const erlang_pid *from,
                 const erlang_pid *to) {
  (void)id;
  return fz_pair(ctx, from, to);
}
static int fz_exit(void *ctx, const erlang_pid *from, const erlang_pid *to,
                   const char *reason, int len) {
  return fz_send(ctx, from, to, reason, len);
}
static int fz_mon(void *ctx, const erlang_pid *from, const erlang_pid *to,
                  const char *to_name, const char *node,
                  const erlang_ref *ref) {
  (void)to_name, (void)node, (void)ref;
  return fz_pair(ctx, from, to);
}
static int fz_mon_exit(void *ctx, const erlang_pid *watched,
                       const char *watched_name, const erlang_pid *watcher,
                       const erlang_ref *ref, const char *reason, int len) {
  (void)watched_name, (void)ref;
  return fz_exit(ctx, watched, watcher, reason, len);
}

static const phc__remote_ops_t fz_ops = {
    fz_send, fz_send_name, fz_send_alias, fz_pair, fz_id,      fz_id,
    fz_exit, fz_exit,      fz_mon,        fz_mon,  fz_mon_exit};

/* FZ_LOG=debug (or info, warn) shows what the node made of an input. */
void fz_quiet(void) {
  const char *want = getenv("FZ_LOG");
  int level = want ? phc_log_parse_level(want) : PHC_LOG_ERROR;
  phc_log_set_level(level < 0 ? PHC_LOG_ERROR : level);
}

static void fz_must(int rc) {
  if (rc != 0) abort();
}

fz_node_t *fz_node_new(void) {
  fz_node_t *x = calloc(1, sizeof *x);
  if (!x) abort();
  fz_must(uv_loop_init(&x->loop));
  x->node.loop = &x->loop;
  strcpy(x->node.name, FZ_NODE);
  x->node.creation = 1700000001;
  x->node.remote = &fz_ops;
  x->node.remote_ctx = x;
  /* A dist that is never started: what otp asks of it fails cleanly. */
  phc__dist_config_t dc = {.name = FZ_NODE, .cookie = "cookie"};
  fz_must(phc__dist_new(&x->node.dist, &x->loop, &dc, NULL));
  fz_must(phc__rt_init(&x->node));
  fz_must(phc__otp_init(&x->node));
  fz_must(phc__children_register(&x->node));
  phc_hub_config_t cfg = {.hub_id = FZ_HUB};
  fz_must(phc_hub_start(&x->node, &cfg, &x->h));
  fz_drain(x);
  return x;
}

void fz_node_free(fz_node_t *x) {
  phc_hub_stop(x->h);
  fz_drain(x);
  phc__otp_close(&x->node);
  phc__rt_close(&x->node);
  phc__dist_close(x->node.dist, NULL, NULL);
  uv_run(&x->loop, UV_RUN_DEFAULT);
  phc__dist_free(x->node.dist);
  phc__hubs_free(&x->node);
  fz_must(uv_loop_close(&x->loop));
  free(x);
}

void fz_drain(fz_node_t *x) {
  for (int i = 0; i < 2000 && x->node.rt && !TAILQ_EMPTY(&x->node.rt->runq);
       i++)
    uv_run(&x->loop, UV_RUN_NOWAIT);
}

erlang_pid fz_peer_pid(unsigned num) {
  erlang_pid p;
  memset(&p, 0, sizeof p);
  snprintf(p.node, sizeof p.node, "%s", FZ_PEER);
  p.num = num;
  p.creation = 42;
  return p;
}

void fz_dispatch(fz_node_t *x, const phc__ctrl_t *c) {
  phc__node_dispatch_ctrl(&x->node, FZ_PEER, c);
  fz_drain(x);
}
