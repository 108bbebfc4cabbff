/* global_proc.c - global_name_server on the runtime: the engine
 * (global.c) wrapped in two processes, the server itself (registered as
 * global_name_server, subscribed to nodeup/nodedown) and a locker that
 * only forwards what it gets (peers need a locker pid for their lock
 * ids). The io table maps the engine's sends, monitors and timers onto
 * the runtime and its disconnects onto the distribution layer. */
#include "otp/global_int.h"

#include <stdlib.h>

#include "dist/dist.h"
#include "otp/otp.h"

typedef struct glue_s {
  phc_node_t *n;
  phc_proc_t *proc;
  erlang_pid self;
  phc__global_t *g;
} glue_t;

static int global_io_send_name(void *ctx, const char *node, const char *name,
                               const char *buf, int len) {
  glue_t *u = ctx;
  return phc_send_name(u->n, &u->self, node, name, buf, len);
}

static int global_io_send(void *ctx, const erlang_pid *to, const char *buf,
                          int len) {
  glue_t *u = ctx;
  return phc_send(u->n, &u->self, to, buf, len);
}

static int global_io_send_alias(void *ctx, const erlang_ref *alias,
                                const char *buf, int len) {
  glue_t *u = ctx;
  return phc_send_alias(u->n, &u->self, alias, buf, len);
}

static int global_io_monitor(void *ctx, const erlang_pid *pid,
                             erlang_ref *ref) {
  glue_t *u = ctx;
  return u->proc ? phc_monitor(u->proc, pid, ref) : PHC_ESTATE;
}

static int global_io_demonitor(void *ctx, const erlang_ref *ref) {
  glue_t *u = ctx;
  return u->proc ? phc_demonitor(u->proc, ref) : PHC_ESTATE;
}

static int global_io_send_after(void *ctx, unsigned ms, const char *buf,
                                int len) {
  glue_t *u = ctx;
  phc_ref_t tref;
  return phc_send_after(u->n, ms, &u->self, buf, len, &tref);
}

static int global_io_disconnect(void *ctx, const char *node) {
  glue_t *u = ctx;
  if (!u->n->dist) return PHC_ESTATE;
  return phc__dist_disconnect(u->n->dist, node);
}

static int global_gns_init(phc_proc_t *self, void *arg) {
  glue_t *u = arg;
  u->proc = self;
  phc_proc_set_data(self, u);
  return 0;
}

static void global_gns_handle(phc_proc_t *self, const char *buf, int len) {
  glue_t *u = phc_proc_data(self);
  if (u && u->g) phc__global_handle(u->g, buf, len);
}

static void global_gns_terminate(phc_proc_t *self, const char *reason,
                                 int len) {
  glue_t *u = phc_proc_data(self);
  PHC__UNUSED(reason);
  PHC__UNUSED(len);
  if (!u) return;
  phc__global_free(u->g);
  free(u);
  phc_proc_set_data(self, NULL);
}

static const phc_proc_ops_t global_gns_ops = {
    .name = PHC__GLOBAL_GNS,
    .init = global_gns_init,
    .handle_msg = global_gns_handle,
    .terminate = global_gns_terminate,
};

/* The locker: peers only need its pid (lock ids) and, for old versions,
 * send lock_set to it; it hands everything to the server. */
static int global_locker_init(phc_proc_t *self, void *arg) {
  erlang_pid *server = phc__xmalloc(sizeof *server);
  *server = *(const erlang_pid *)arg;
  phc_proc_set_data(self, server);
  return 0;
}

static void global_locker_handle(phc_proc_t *self, const char *buf, int len) {
  erlang_pid *server = phc_proc_data(self);
  if (server) phc_send(phc_proc_node(self), phc_self(self), server, buf, len);
}

static void global_locker_terminate(phc_proc_t *self, const char *reason,
                                    int len) {
  PHC__UNUSED(reason);
  PHC__UNUSED(len);
  free(phc_proc_data(self));
  phc_proc_set_data(self, NULL);
}

static const phc_proc_ops_t global_locker_ops = {
    .name = "global_locker",
    .init = global_locker_init,
    .handle_msg = global_locker_handle,
    .terminate = global_locker_terminate,
};

int phc__global_start(phc_node_t *n) {
  glue_t *u = phc__xcalloc(1, sizeof *u);
  erlang_pid locker;
  u->n = n;
  int rc = phc_spawn(n, &global_gns_ops, u, NULL, 0, &u->self);
  if (rc < 0) {
    free(u);
    return rc;
  }
  if (!u->proc) u->proc = phc_proc_lookup(n, &u->self);
  rc = phc_spawn(n, &global_locker_ops, &u->self, &u->self, PHC_SPAWN_LINK,
                 &locker);
  if (rc < 0) return rc; /* the server owns u now */
  const phc__global_io_t io = {
      .ctx = u,
      .send_name = global_io_send_name,
      .send = global_io_send,
      .send_alias = global_io_send_alias,
      .monitor = global_io_monitor,
      .demonitor = global_io_demonitor,
      .send_after = global_io_send_after,
      .disconnect = global_io_disconnect,
  };
  u->g = phc__global_new(n->name, &u->self, &locker, &io);
  rc = phc_register(n, PHC__GLOBAL_GNS, &u->self);
  if (rc < 0) return rc;
  if (u->proc) rc = phc_monitor_nodes(u->proc, 1);
  if (rc < 0) return rc;
  /* Peers that came up before we did. */
  const char *peers[256];
  int k = phc__otp_peers(n, peers, (int)PHC__ARRAY_LEN(peers));
  for (int j = 0; j < k; j++)
    phc__global_nodeup(u->g, peers[j]);
  return 0;
}

int phc__global_node_whereis(phc_node_t *n, const char *name, erlang_pid *pid) {
  erlang_pid gns;
  phc_proc_t *p;
  glue_t *u;
  if (phc_whereis(n, PHC__GLOBAL_GNS, &gns) != 0 ||
      !(p = phc_proc_lookup(n, &gns)) || !(u = phc_proc_data(p)) || !u->g)
    return PHC_ENOPROC;
  return phc__global_whereis(u->g, name, pid);
}
