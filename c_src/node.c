/* node.c - phc_node_t's lifecycle: the assembly point of the library.
 *
 * It creates the node (name, cookie), brings the layers up in order (dist,
 * the process runtime, the OTP services, the built-in child types) and
 * takes them down again, hubs included. It also wires dist and proc
 * together: the runtime's signals to other nodes go out through the
 * `remote` table filled in here, and control messages from dist are
 * decoded and handed to the phc__proc_in_* entry points (spawn requests to
 * otp). Only the command line sits above it.
 */
#include "node.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "children/children.h"
#include "dist/ctrl.h"
#include "dist/dist.h"
#include "dsup/dsup.h"
#include "hub/hub.h"
#include "otp/otp.h"
#include "proc/proc.h"

/* Frees every hub of the node (c_src/hub/hub.c; hub.h does not declare it
 * yet). */

#define MOD "node"

/* ---- cookie ----------------------------------------------------------- */

static int node_read_cookie_file(char *out, size_t max) {
  const char *home = getenv("HOME");
  char path[1024];
  snprintf(path, sizeof path, "%s/.erlang.cookie", home ? home : ".");
  FILE *f = fopen(path, "r");
  if (!f) {
    /* erl creates a random cookie when the file is missing; do the same. */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0400);
    if (fd < 0) return PHC_EIO;
    char c[21];
    uv_random(NULL, NULL, c, 20, 0, NULL);
    for (int i = 0; i < 20; i++)
      c[i] = (char)('A' + (unsigned char)c[i] % 26);
    c[20] = 0;
    ssize_t w = write(fd, c, 20);
    close(fd);
    if (w != 20) return PHC_EIO;
    snprintf(out, max, "%s", c);
    return 0;
  }
  size_t n = fread(out, 1, max - 1, f);
  fclose(f);
  out[n] = 0;
  while (n > 0 &&
         (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' '))
    out[--n] = 0;
  return n ? 0 : PHC_EINVAL;
}

static int node_make_full_name(const phc_node_config_t *cfg, char *out,
                               size_t max) {
  if (!cfg->name || !*cfg->name) return PHC_EINVAL;
  const char *at = strchr(cfg->name, '@');
  if (at) {
    if (at == cfg->name || !at[1]) return PHC_EINVAL;
    if (!cfg->longnames && strchr(at + 1, '.')) return PHC_EINVAL;
    if ((size_t)snprintf(out, max, "%s", cfg->name) >= max) return PHC_EINVAL;
    return 0;
  }
  char host[256];
  if (cfg->longnames) {
    snprintf(host, sizeof host, "127.0.0.1");
  } else {
    if (gethostname(host, sizeof host) != 0) return PHC_EIO;
    char *dot = strchr(host, '.');
    if (dot) *dot = 0;
  }
  if ((size_t)snprintf(out, max, "%s@%s", cfg->name, host) >= max)
    return PHC_EINVAL;
  return 0;
}

/* ---- remote ops: runtime -> dist ------------------------------------- */

static int node_enc_fail(ei_x_buff *x) {
  ei_x_free(x);
  return PHC_EINVAL;
}

static const erlang_pid *
node_sender_or_dummy(phc_node_t *n, const erlang_pid *p, erlang_pid *dummy) {
  if (p) return p;
  memset(dummy, 0, sizeof *dummy);
  snprintf(dummy->node, sizeof dummy->node, "%s", n->name);
  dummy->creation = n->creation;
  return dummy;
}

static int node_r_send(void *ctx, const erlang_pid *from, const erlang_pid *to,
                       const char *buf, int len) {
  phc_node_t *n = ctx;
  ei_x_buff x = {0};
  int sender =
      from && (phc__dist_peer_flags(n->dist, to->node) & PHC_DFLAG_SEND_SENDER);
  if (phc__ctrl_enc_send(&x, from, to, sender) < 0) return node_enc_fail(&x);
  return phc__otp_send_ctrl(n, to->node, &x, buf, len);
}

static int node_r_send_name(void *ctx, const erlang_pid *from, const char *node,
                            const char *name, const char *buf, int len) {
  phc_node_t *n = ctx;
  erlang_pid dummy;
  ei_x_buff x = {0};
  if (phc__ctrl_enc_reg_send(&x, node_sender_or_dummy(n, from, &dummy), name) <
      0)
    return node_enc_fail(&x);
  return phc__otp_send_ctrl(n, node, &x, buf, len);
}

static int node_r_send_alias(void *ctx, const erlang_pid *from,
                             const erlang_ref *alias, const char *buf,
                             int len) {
  phc_node_t *n = ctx;
  erlang_pid dummy;
  ei_x_buff x = {0};
  if (phc__ctrl_enc_alias_send(&x, node_sender_or_dummy(n, from, &dummy),
                               alias) < 0)
    return node_enc_fail(&x);
  return phc__otp_send_ctrl(n, alias->node, &x, buf, len);
}

static int node_r_link(void *ctx, const erlang_pid *from,
                       const erlang_pid *to) {
  phc_node_t *n = ctx;
  ei_x_buff x = {0};
  if (phc__ctrl_enc_link(&x, from, to) < 0) return node_enc_fail(&x);
  return phc__otp_send_ctrl(n, to->node, &x, NULL, 0);
}

static int node_r_unlink_any(void *ctx, uint64_t id, const erlang_pid *from,
                             const erlang_pid *to, int ack) {
  phc_node_t *n = ctx;
  ei_x_buff x = {0};
  if (phc__ctrl_enc_unlink_id(&x, id, from, to, ack) < 0)
    return node_enc_fail(&x);
  return phc__otp_send_ctrl(n, to->node, &x, NULL, 0);
}

static int node_r_unlink_id(void *ctx, uint64_t id, const erlang_pid *from,
                            const erlang_pid *to) {
  return node_r_unlink_any(ctx, id, from, to, 0);
}

static int node_r_unlink_id_ack(void *ctx, uint64_t id, const erlang_pid *from,
                                const erlang_pid *to) {
  return node_r_unlink_any(ctx, id, from, to, 1);
}

static int node_r_exit_any(void *ctx, const erlang_pid *from,
                           const erlang_pid *to, const char *reason, int len,
                           int exit2) {
  phc_node_t *n = ctx;
  ei_x_buff x = {0};
  if (phc__ctrl_enc_exit(&x, from, to, reason, len, exit2) < 0)
    return node_enc_fail(&x);
  return phc__otp_send_ctrl(n, to->node, &x, NULL, 0);
}

static int node_r_exit(void *ctx, const erlang_pid *from, const erlang_pid *to,
                       const char *reason, int len) {
  return node_r_exit_any(ctx, from, to, reason, len, 0);
}

static int node_r_exit2(void *ctx, const erlang_pid *from, const erlang_pid *to,
                        const char *reason, int len) {
  return node_r_exit_any(ctx, from, to, reason, len, 1);
}

static int node_r_monitor_any(void *ctx, const erlang_pid *from,
                              const erlang_pid *to, const char *to_name,
                              const char *node, const erlang_ref *ref, int de) {
  phc_node_t *n = ctx;
  ei_x_buff x = {0};
  if (phc__ctrl_enc_monitor(&x, from, to, to_name, ref, de) < 0)
    return node_enc_fail(&x);
  return phc__otp_send_ctrl(n, to ? to->node : node, &x, NULL, 0);
}

static int node_r_monitor(void *ctx, const erlang_pid *from,
                          const erlang_pid *to, const char *to_name,
                          const char *node, const erlang_ref *ref) {
  return node_r_monitor_any(ctx, from, to, to_name, node, ref, 0);
}

static int node_r_demonitor(void *ctx, const erlang_pid *from,
                            const erlang_pid *to, const char *to_name,
                            const char *node, const erlang_ref *ref) {
  return node_r_monitor_any(ctx, from, to, to_name, node, ref, 1);
}

static int node_r_monitor_exit(void *ctx, const erlang_pid *watched,
                               const char *watched_name,
                               const erlang_pid *watcher, const erlang_ref *ref,
                               const char *reason, int len) {
  phc_node_t *n = ctx;
  ei_x_buff x = {0};
  if (phc__ctrl_enc_monitor_exit(&x, watched, watched_name, watcher, ref,
                                 reason, len) < 0)
    return node_enc_fail(&x);
  return phc__otp_send_ctrl(n, watcher->node, &x, NULL, 0);
}

static const phc__remote_ops_t node_remote_ops = {
    .send = node_r_send,
    .send_name = node_r_send_name,
    .send_alias = node_r_send_alias,
    .link = node_r_link,
    .unlink_id = node_r_unlink_id,
    .unlink_id_ack = node_r_unlink_id_ack,
    .exit = node_r_exit,
    .exit2 = node_r_exit2,
    .monitor = node_r_monitor,
    .demonitor = node_r_demonitor,
    .monitor_exit = node_r_monitor_exit,
};

/* ---- dist -> runtime ------------------------------------------------- */

void phc__node_dispatch_ctrl(phc_node_t *n, const char *peer,
                             const phc__ctrl_t *c) {
  switch (c->op) {
  case PHC_DOP_SEND:
  case PHC_DOP_SEND_SENDER:
    phc__proc_in_send(n, c->op == PHC_DOP_SEND_SENDER ? &c->from : NULL, &c->to,
                      c->payload, c->payload_len);
    break;
  case PHC_DOP_REG_SEND:
    phc__proc_in_send_name(n, &c->from, c->to_name, c->payload, c->payload_len);
    break;
  case PHC_DOP_ALIAS_SEND:
    phc__proc_in_send_alias(n, &c->from, &c->ref, c->payload, c->payload_len);
    break;
  case PHC_DOP_LINK: phc__proc_in_link(n, &c->from, &c->to); break;
  case PHC_DOP_UNLINK_ID:
    phc__proc_in_unlink_id(n, c->unlink_id, &c->from, &c->to);
    break;
  case PHC_DOP_UNLINK_ID_ACK:
    phc__proc_in_unlink_id_ack(n, c->unlink_id, &c->from, &c->to);
    break;
  case PHC_DOP_EXIT:
  case PHC_DOP_EXIT2:
    phc__proc_in_exit(n, &c->from, &c->to, c->reason, c->reason_len,
                      c->op == PHC_DOP_EXIT2);
    break;
  case PHC_DOP_MONITOR_P:
    phc__proc_in_monitor(n, &c->from, c->to_is_name ? NULL : &c->to,
                         c->to_is_name ? c->to_name : NULL, &c->ref);
    break;
  case PHC_DOP_DEMONITOR_P: phc__proc_in_demonitor(n, &c->from, &c->ref); break;
  case PHC_DOP_MONITOR_P_EXIT:
    phc__proc_in_monitor_exit(n, c->from_is_name ? NULL : &c->from,
                              c->from_is_name ? c->from_name : NULL, peer,
                              &c->to, &c->ref, c->reason, c->reason_len);
    break;
  case PHC_DOP_SPAWN_REQUEST: phc__otp_spawn_request(n, c); break;
  case PHC_DOP_UNLINK: /* pre-UNLINK_ID peers; we require UNLINK_ID */
  case PHC_DOP_NODE_LINK:
  case PHC_DOP_GROUP_LEADER:
  case PHC_DOP_SPAWN_REPLY: /* we never send spawn requests */
    PHC_LOG_D(MOD, "ignoring control op %d from %s", c->op, peer);
    break;
  default:
    PHC_LOG_W(MOD, "dropping unknown control op %d from %s", c->op, peer);
  }
}

static void node_on_message(void *ctx, const char *peer, const char *ctrl,
                            int ctrl_len, const char *payload,
                            int payload_len) {
  phc_node_t *n = ctx;
  phc__ctrl_t c;
  if (phc__ctrl_decode(ctrl, ctrl_len, payload, payload_len, &c) != 0) {
    PHC_LOG_W(MOD,
              "undecodable control message (%d bytes) from %s: "
              "disconnecting it",
              ctrl_len, peer);
    phc__dist_disconnect(n->dist, peer);
    return;
  }
  phc__node_dispatch_ctrl(n, peer, &c);
  phc__ctrl_clear(&c);
}

static void node_on_nodeup(void *ctx, const char *peer, uint64_t flags,
                           int hidden) {
  phc_node_t *n = ctx;
  PHC__UNUSED(flags);
  PHC_LOG_I(MOD, "nodeup %s%s", peer, hidden ? " (hidden)" : "");
  phc__proc_node_up(n, peer, hidden);
  phc__otp_nodeup(n, peer, hidden);
}

static void node_on_nodedown(void *ctx, const char *peer, int was_up) {
  phc_node_t *n = ctx;
  if (was_up) PHC_LOG_I(MOD, "nodedown %s", peer);
  phc__proc_node_down(n, peer);
}

/* ---- public lifecycle ------------------------------------------------ */

int phc_node_new(phc_node_t **out, uv_loop_t *loop,
                 const phc_node_config_t *cfg) {
  phc_node_t *n = phc__xcalloc(1, sizeof *n);
  int rc = node_make_full_name(cfg, n->name, sizeof n->name);
  if (rc) {
    PHC_LOG_E(MOD, "bad node name '%s'", cfg->name ? cfg->name : "");
    free(n);
    return rc;
  }
  if (cfg->cookie) {
    if (strlen(cfg->cookie) >= sizeof n->cookie || !*cfg->cookie) {
      free(n);
      return PHC_EINVAL;
    }
    snprintf(n->cookie, sizeof n->cookie, "%s", cfg->cookie);
  } else if ((rc = node_read_cookie_file(n->cookie, sizeof n->cookie)) != 0) {
    PHC_LOG_E(MOD, "cannot read or create ~/.erlang.cookie");
    free(n);
    return rc;
  }
  n->loop = loop;
  n->longnames = cfg->longnames;
  n->hidden = cfg->hidden;
  n->net_ticktime = cfg->net_ticktime ? cfg->net_ticktime : 60;
  n->port = cfg->port;
  n->limits = cfg->limits;
  if (cfg->ssl_dist_optfile)
    n->ssl_dist_optfile = phc__xstrdup(cfg->ssl_dist_optfile);
  n->remote = &node_remote_ops;
  n->remote_ctx = n;
  *out = n;
  return 0;
}

int phc_node_start(phc_node_t *n) {
  phc__dist_config_t dc = {.name = n->name,
                           .cookie = n->cookie,
                           .hidden = n->hidden,
                           .net_ticktime = n->net_ticktime,
                           .port = n->port,
                           .limits = n->limits,
                           .ssl_dist_optfile = n->ssl_dist_optfile};
  phc__dist_cb_t cb = {.ctx = n,
                       .on_message = node_on_message,
                       .on_nodeup = node_on_nodeup,
                       .on_nodedown = node_on_nodedown};
  int rc = phc__dist_new(&n->dist, n->loop, &dc, &cb);
  if (rc) return rc;
  if ((rc = phc__dist_start(n->dist, &n->creation)) != 0) return rc;
  if ((rc = phc__rt_init(n)) != 0) return rc;
  if ((rc = phc__otp_init(n)) != 0) return rc;
  if ((rc = phc__children_register(n)) != 0) return rc;
  PHC_LOG_I(MOD, "%s up (creation %u)", n->name, n->creation);
  return 0;
}

int phc_node_connect(phc_node_t *n, const char *peer) {
  if (!strchr(peer, '@')) return PHC_EINVAL;
  return phc__dist_connect(n->dist, peer);
}

static void node_dist_closed(void *arg) { PHC__UNUSED(arg); }

void phc_node_stop(phc_node_t *n) {
  if (n->stopping) return;
  n->stopping = 1;
  PHC_LOG_I(MOD, "%s stopping", n->name);
  phc__dsups_free(n); /* DistributedSupervisor members, while procs run */
  if (n->otp) phc__otp_close(n);
  if (n->rt) phc__rt_close(n);
  if (n->dist) phc__dist_close(n->dist, node_dist_closed, n);
}

void phc_node_free(phc_node_t *n) {
  if (!n) return;
  phc__hubs_free(n);
  phc__ctypes_free(n);
  phc__natives_free(n);
  if (n->dist) phc__dist_free(n->dist);
  free(n->ssl_dist_optfile);
  free(n);
}

const char *phc_node_name(const phc_node_t *n) { return n->name; }

uv_loop_t *phc_node_loop(const phc_node_t *n) { return n->loop; }

int phc_node_peers(const phc_node_t *n, const char **names, int max) {
  if (!n->dist) return 0;
  return phc__dist_peers(n->dist, names, max, 0);
}
