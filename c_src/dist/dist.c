/* dist.c - the distribution layer's public API (see dist.h), the listener
 * and accept, and outgoing connects (resolve the host, look the peer's
 * port up with its epmd, connect). Connections themselves live in conn.c,
 * the epmd client in epmd.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist/dist_int.h"

#define MOD PHC__DIST_MOD

/* ---- outgoing: resolve, epmd, connect ---------------------------------- */

static void on_peer_connected(uv_connect_t *req, int status) {
  conn_t *c = req->data;
  if (c->state == C_CLOSING) return;
  if (status < 0) {
    char why[96];
    snprintf(why, sizeof why, "connect failed: %s", uv_strerror(status));
    phc__conn_fail(c, PHC_LOG_WARN, why);
    return;
  }
  phc__conn_start_handshake(c);
}

static void connect_peer(conn_t *c, unsigned short port) {
  c->state = C_CONNECT;
  uv_tcp_init(c->d->loop, &c->tcp);
  c->tcp.data = c;
  c->tcp_inited = 1;
  c->refs++;
  uv_tcp_nodelay(&c->tcp, 1);
  struct sockaddr_in a = c->addr;
  a.sin_port = htons(port);
  c->creq.data = c;
  int rc = uv_tcp_connect(&c->creq, &c->tcp, (struct sockaddr *)&a,
                          on_peer_connected);
  if (rc < 0) phc__conn_fail(c, PHC_LOG_WARN, uv_strerror(rc));
}

/* The peer's epmd answered (or could not). */
static void on_port(phc__epmd_lookup_t *l, int rc, unsigned short port) {
  conn_t *c = l->data;
  if (rc < 0)
    phc__conn_fail(c, PHC_LOG_WARN, l->why);
  else
    connect_peer(c, port);
}

static void on_lookup_closed(phc__epmd_lookup_t *l) {
  phc__conn_unref(l->data);
}

static void dist_on_resolved(uv_getaddrinfo_t *req, int status,
                             struct addrinfo *res) {
  conn_t *c = req->data;
  int closing = c->state == C_CLOSING;
  if (status < 0 || closing || !res) {
    if (res) uv_freeaddrinfo(res);
    if (!closing)
      phc__conn_fail(c, PHC_LOG_WARN, "cannot resolve the peer's host");
    phc__conn_unref(c);
    return;
  }
  memcpy(&c->addr, res->ai_addr, sizeof c->addr);
  uv_freeaddrinfo(res);
  phc__conn_unref(c); /* the request is done */
  c->state = C_EPMD;
  c->refs++; /* the lookup's socket */
  c->lookup.data = c;
  c->lookup.done = on_port;
  c->lookup.closed = on_lookup_closed;
  if (phc__epmd_lookup_start(&c->lookup, c->d->loop, &c->addr, c->peer) < 0)
    phc__conn_fail(c, PHC_LOG_WARN, c->lookup.why);
}

static conn_t *start_connect(phc__dist_t *d, const char *peer) {
  conn_t *c = phc__conn_new(d, 1, peer);
  phc__conn_put(c);
  c->state = C_RESOLVE;
  phc__conn_arm(c);
  const char *host = strchr(peer, '@') + 1;
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  c->gai.data = c;
  c->refs++;
  int rc =
      uv_getaddrinfo(d->loop, &c->gai, dist_on_resolved, host, NULL, &hints);
  if (rc < 0) {
    c->refs--;
    c->state = C_EPMD; /* nothing to cancel */
    phc__conn_fail(c, PHC_LOG_WARN, "cannot resolve the peer's host");
  }
  return c;
}

/* ---- incoming ---------------------------------------------------------- */

/* Incoming connections still in the handshake. */
static unsigned dist_handshaking(const phc__dist_t *d) {
  unsigned k = 0;
  conn_t *c;
  LIST_FOREACH(c, &d->conns, all) {
    if (!c->outgoing && c->state == C_HANDSHAKE) k++;
  }
  return k;
}

/* max_handshakes: a connection over it is closed at once; one log line
 * each time the cap is reached after being below it. */
static int dist_hs_capped(phc__dist_t *d) {
  unsigned k = dist_handshaking(d);
  if (k < d->limits.max_handshakes) {
    d->hs_capped = 0;
    return 0;
  }
  if (!d->hs_capped)
    PHC_LOG_W(MOD,
              "%u incoming connections in the handshake (max_handshakes): "
              "closing new ones until one is done",
              k);
  d->hs_capped = 1;
  return 1;
}

static void on_connection(uv_stream_t *server, int status) {
  phc__dist_t *d = server->data;
  if (status < 0 || d->closing) return;
  conn_t *c = phc__conn_new(d, 0, NULL);
  uv_tcp_init(d->loop, &c->tcp);
  c->tcp.data = c;
  c->tcp_inited = 1;
  c->refs++;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
    phc__conn_close(c);
    return;
  }
  if (dist_hs_capped(d)) {
    phc__conn_close(c);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  phc__conn_arm(c);
  phc__conn_start_handshake(c);
}

/* ---- ticks ------------------------------------------------------------- */

static void on_ticker(uv_timer_t *t) { phc__conn_tick_all(t->data); }

/* ---- own handles -------------------------------------------------------- */

static void on_own_closed(uv_handle_t *h) {
  phc__dist_t *d = h->data;
  d->open--;
  phc__dist_maybe_done(d);
}

/* The epmd registration's socket and retry timer are closed. */
static void on_reg_closed(void *arg) {
  phc__dist_t *d = arg;
  d->open--;
  phc__dist_maybe_done(d);
}

/* ---- public API -------------------------------------------------------- */

#define DIST_MAX_HANDSHAKES 64
#define DIST_HANDSHAKE_MS 7000 /* net_setuptime */

static void dist_limits(phc_limits_t *l, const phc_limits_t *cfg) {
  *l = *cfg;
  if (!l->max_packet) l->max_packet = PHC__FRAME_MAX;
  if (!l->max_fragmented) l->max_fragmented = PHC__FRAME_MAX;
  if (!l->max_handshakes) l->max_handshakes = DIST_MAX_HANDSHAKES;
  if (!l->handshake_ms) l->handshake_ms = DIST_HANDSHAKE_MS;
  if (!l->max_out_queue) l->max_out_queue = PHC__FRAME_MAX;
}

/* inet_tls: the optfile's contexts, or NULL after one error line. */
static phc__tls_ctx_t *dist_tls(const char *optfile) {
  phc__tls_opts_t o;
  phc__tls_ctx_t *ctx = NULL;
  char err[512];
  if (phc__tls_opts_load(&o, optfile, err, sizeof err) == 0 &&
      phc__tls_ctx_new(&ctx, &o, err, sizeof err) == 0)
    return ctx;
  PHC_LOG_E(MOD, "%s", err);
  return NULL;
}

int phc__dist_new(phc__dist_t **out, uv_loop_t *loop,
                  const phc__dist_config_t *cfg, const phc__dist_cb_t *cb) {
  if (!out || !loop || !cfg || !cfg->name || !cfg->cookie) return PHC_EINVAL;
  const char *at = strchr(cfg->name, '@');
  if (!at || at == cfg->name || !at[1] || strlen(cfg->name) >= PHC__ATOM_MAX ||
      strlen(cfg->cookie) >= 256)
    return PHC_EINVAL;
  phc__tls_ctx_t *tls = NULL;
  if (cfg->ssl_dist_optfile && !(tls = dist_tls(cfg->ssl_dist_optfile)))
    return PHC_EINVAL;
  phc__dist_t *d = phc__xcalloc(1, sizeof *d);
  d->tls = tls;
  ei_init();
  d->loop = loop;
  snprintf(d->name, sizeof d->name, "%s", cfg->name);
  snprintf(d->cookie, sizeof d->cookie, "%s", cfg->cookie);
  d->hidden = cfg->hidden;
  d->ticktime = cfg->net_ticktime ? cfg->net_ticktime : 60;
  d->port = cfg->port;
  dist_limits(&d->limits, &cfg->limits);
  if (cb) d->cb = *cb;
  LIST_INIT(&d->conns);
  uv_tcp_init(loop, &d->listener);
  phc__epmd_reg_init(&d->reg, loop);
  uv_timer_init(loop, &d->ticker);
  d->listener.data = d->ticker.data = d;
  d->open = 3; /* listener, registration, ticker */
  *out = d;
  return 0;
}

static int listen_loopback(phc__dist_t *d) {
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", d->port, &a);
  int rc = uv_tcp_bind(&d->listener, (struct sockaddr *)&a, 0);
  if (rc == 0) rc = uv_listen((uv_stream_t *)&d->listener, 128, on_connection);
  if (rc < 0) {
    PHC_LOG_E(MOD, "cannot listen on 127.0.0.1:%u: %s", d->port,
              uv_strerror(rc));
    return PHC_EIO;
  }
  struct sockaddr_in got;
  int len = sizeof got;
  uv_tcp_getsockname(&d->listener, (struct sockaddr *)&got, &len);
  d->port = ntohs(got.sin_port);
  return 0;
}

int phc__dist_start(phc__dist_t *d, uint32_t *creation) {
  if (d->started || d->closing) return PHC_ESTATE;
  d->started = 1;
  int rc = listen_loopback(d);
  if (rc < 0) return rc;
  rc = phc__epmd_register(&d->reg, d->name, d->port, &d->creation);
  if (rc < 0) return rc;
  unsigned ms = d->ticktime * 1000 / 4;
  uv_timer_start(&d->ticker, on_ticker, ms, ms);
  if (creation) *creation = d->creation;
  return 0;
}

static int valid_peer(const phc__dist_t *d, const char *peer) {
  const char *at = peer ? strchr(peer, '@') : NULL;
  return at && at != peer && at[1] && strlen(peer) < PHC__ATOM_MAX &&
         strcmp(peer, d->name) != 0;
}

int phc__dist_connect(phc__dist_t *d, const char *peer) {
  if (!d->started || d->closing) return PHC_ESTATE;
  if (!valid_peer(d, peer)) return PHC_EINVAL;
  if (!phc__conn_find(d, peer)) start_connect(d, peer);
  return 0;
}

int phc__dist_send(phc__dist_t *d, const char *peer, const char *ctrl,
                   int ctrl_len, const char *payload, int payload_len) {
  if (!d->started || d->closing) return PHC_ESTATE;
  if (!valid_peer(d, peer) || !ctrl || ctrl_len < 2 ||
      (uint8_t)ctrl[0] != 131 || payload_len < 0 ||
      (payload_len > 0 && (!payload || (uint8_t)payload[0] != 131)))
    return PHC_EINVAL;
  if (!payload) payload_len = 0;
  size_t n = phc__frame_enc_len(ctrl_len, payload_len);
  qmsg_t *q = phc__xmalloc(sizeof *q + n);
  q->len = n;
  phc__frame_enc(q->data, ctrl, ctrl_len, payload, payload_len);
  conn_t *c = phc__conn_find(d, peer);
  if (c && c->state == C_UP) {
    int rc = phc__conn_write(c, q->data, q->len);
    free(q);
    return rc;
  }
  if (!c) c = start_connect(d, peer);
  if (c->state == C_CLOSING) { /* failed at once; nodedown was reported */
    free(q);
    return PHC_ENOTCONN;
  }
  if (n > d->limits.max_out_queue - c->queued) {
    if (!c->slow)
      PHC_LOG_W(MOD,
                "%zu bytes wait for %s to come up (max_out_queue): "
                "dropping messages to it until it is up",
                c->queued, peer);
    c->slow = c->queued + n;
    free(q);
    return PHC_ELIMIT;
  }
  c->queued += n;
  TAILQ_INSERT_TAIL(&c->queue, q, link);
  return 0;
}

int phc__dist_is_up(const phc__dist_t *d, const char *peer) {
  conn_t *c = peer ? phc__conn_find(d, peer) : NULL;
  return c && c->state == C_UP;
}

int phc__dist_peers(const phc__dist_t *d, const char **names, int max,
                    int include_hidden) {
  int n = 0;
  conn_t *c, *tmp;
  HASH_ITER(hh, d->by_name, c, tmp) {
    if (c->state != C_UP) continue;
    if (!include_hidden && !(c->peer_flags & PHC_DFLAG_PUBLISHED)) continue;
    if (n < max && names) names[n] = c->peer;
    n++;
  }
  return n < max ? n : max;
}

uint64_t phc__dist_peer_flags(const phc__dist_t *d, const char *peer) {
  conn_t *c = peer ? phc__conn_find(d, peer) : NULL;
  return c && c->state == C_UP ? c->peer_flags : 0;
}

int phc__dist_disconnect(phc__dist_t *d, const char *peer) {
  conn_t *c = peer ? phc__conn_find(d, peer) : NULL;
  if (!c) return PHC_ENOTCONN;
  phc__conn_fail(c, PHC_LOG_INFO, "disconnected by us");
  return 0;
}

void phc__dist_close(phc__dist_t *d, void (*done)(void *arg), void *arg) {
  if (d->closing) return;
  d->closing = 1;
  d->done = done;
  d->done_arg = arg;
  conn_t *c, *tmp;
  for (c = LIST_FIRST(&d->conns); c; c = tmp) {
    tmp = LIST_NEXT(c, all);
    phc__conn_close(c);
  }
  phc__epmd_reg_close(&d->reg, on_reg_closed, d);
  uv_close((uv_handle_t *)&d->listener, on_own_closed);
  uv_close((uv_handle_t *)&d->ticker, on_own_closed);
  phc__dist_maybe_done(d);
}

void phc__dist_free(phc__dist_t *d) {
  if (!d) return;
  phc__tls_ctx_free(d->tls);
  free(d);
}
