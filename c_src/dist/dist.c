/* dist.c - connections on the libuv loop: listen, accept, connect (epmd
 * PORT_PLEASE2 first), handshake, send queues, ticks, simultaneous
 * connects, and the kept-open epmd registration (see dist.h). */
#include "dist/dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <openssl/rand.h>
#include <uthash.h>

#include "dist/epmd.h"
#include "dist/frame.h"
#include "dist/handshake.h"

#define MOD "dist"
#define SETUP_TIMEOUT_MS 7000 /* net_setuptime */
#define EPMD_ATTEMPTS 10
#define EPMD_RETRY_MS 300

enum cstate {
  C_RESOLVE = 1, /* getaddrinfo on the peer's host */
  C_EPMD,        /* asking the peer's epmd for its port */
  C_CONNECT,     /* tcp connect to the peer */
  C_HANDSHAKE,
  C_UP,
  C_NOK_WAIT,    /* lost a simultaneous connect: wait for the peer's one */
  C_CLOSING
};

typedef struct qmsg_s {
  TAILQ_ENTRY(qmsg_s) link;
  size_t len;
  char data[];
} qmsg_t;

typedef struct conn_s conn_t;
struct conn_s {
  phc__dist_t *d;
  char peer[PHC__ATOM_MAX]; /* known at once when outgoing, after the name
                               when incoming */
  int outgoing;
  int state;
  int in_table; /* owns d->by_name[peer] */
  int refs;     /* open handles and pending requests */
  uv_tcp_t tcp;
  int tcp_inited;
  uv_tcp_t epmd;
  int epmd_inited;
  uint8_t ebuf[512];
  size_t elen;
  uv_getaddrinfo_t gai;
  uv_connect_t creq;
  uv_connect_t ecreq;
  uv_timer_t timer; /* setup timeout */
  struct sockaddr_in addr;
  phc__hs_t hs;
  int hs_inited;
  phc__frame_rd_t rd;
  phc__reasm_t reasm;
  TAILQ_HEAD(, qmsg_s) queue;
  uint64_t peer_flags;
  int took_over; /* won a simultaneous connect: holds the queue */
  int takeover; /* replaces the up connection to the same peer ("alive") */
  /* ticks, as dist_util:send_tick/2 */
  uint64_t reads, writes;
  uint64_t tk_read, tk_write;
  int tk_tick, tk_ticked;
  UT_hash_handle hh;
  LIST_ENTRY(conn_s) all;
};

struct phc__dist_s {
  uv_loop_t *loop;
  char name[PHC__ATOM_MAX];
  char alive[PHC__ATOM_MAX];
  char cookie[256];
  int hidden;
  unsigned ticktime;
  unsigned short port;
  phc__dist_cb_t cb;
  uv_tcp_t listener;
  uv_tcp_t epmd;
  int epmd_inited;
  uv_connect_t ecreq;
  uint8_t ebuf[64];
  size_t elen;
  uv_timer_t eretry;
  uv_timer_t ticker;
  int eattempts;
  int spawned_epmd;
  int registered;
  int reg_err;
  uint32_t creation;
  conn_t *by_name;
  LIST_HEAD(, conn_s) conns;
  int started;
  int closing;
  int open; /* own handles not yet closed */
  void (*done)(void *);
  void *done_arg;
  char rbuf[65536];
};

static void conn_close(conn_t *c);
static void conn_fail(conn_t *c, int level, const char *why);
static void epmd_register(phc__dist_t *d);

/* ---- small helpers ----------------------------------------------------- */

static uint64_t our_flags(const phc__dist_t *d) {
  return PHC__DFLAGS_OURS | (d->hidden ? 0 : PHC_DFLAG_PUBLISHED);
}

static uint32_t random_u32(void) {
  uint32_t v = 0;
  if (RAND_bytes((unsigned char *)&v, sizeof v) != 1)
    v = (uint32_t)uv_hrtime() ^ (uint32_t)rand();
  return v;
}

static conn_t *table_find(const phc__dist_t *d, const char *peer) {
  conn_t *c = NULL;
  HASH_FIND_STR(d->by_name, peer, c);
  return c;
}

static void table_put(conn_t *c) {
  if (c->in_table) return;
  HASH_ADD_STR(c->d->by_name, peer, c);
  c->in_table = 1;
}

static void table_del(conn_t *c) {
  if (!c->in_table) return;
  HASH_DEL(c->d->by_name, c);
  c->in_table = 0;
}

static void queue_drop(conn_t *c) {
  while (!TAILQ_EMPTY(&c->queue)) {
    qmsg_t *q = TAILQ_FIRST(&c->queue);
    TAILQ_REMOVE(&c->queue, q, link);
    free(q);
  }
}

static void maybe_done(phc__dist_t *d) {
  if (d->closing && d->open == 0 && LIST_EMPTY(&d->conns) && d->done) {
    void (*done)(void *) = d->done;
    d->done = NULL;
    done(d->done_arg);
  }
}

/* ---- connection lifetime ----------------------------------------------- */

static void conn_unref(conn_t *c) {
  if (--c->refs > 0) return;
  phc__dist_t *d = c->d;
  LIST_REMOVE(c, all);
  queue_drop(c);
  if (c->hs_inited) phc__hs_free(&c->hs);
  phc__frame_rd_free(&c->rd);
  phc__reasm_free(&c->reasm);
  free(c);
  maybe_done(d);
}

static void on_conn_handle_closed(uv_handle_t *h) { conn_unref(h->data); }

static conn_t *conn_new(phc__dist_t *d, int outgoing, const char *peer) {
  conn_t *c = phc__xcalloc(1, sizeof *c);
  c->d = d;
  c->outgoing = outgoing;
  if (peer) snprintf(c->peer, sizeof c->peer, "%s", peer);
  TAILQ_INIT(&c->queue);
  phc__frame_rd_init(&c->rd);
  phc__reasm_init(&c->reasm);
  uv_timer_init(d->loop, &c->timer);
  c->timer.data = c;
  c->refs = 1;
  LIST_INSERT_HEAD(&d->conns, c, all);
  return c;
}

static void close_handle(conn_t *c, uv_handle_t *h, int *inited) {
  if (!*inited) return;
  *inited = 0;
  h->data = c;
  if (!uv_is_closing(h)) uv_close(h, on_conn_handle_closed);
}

/* Close everything, silently: no callbacks. */
static void conn_close(conn_t *c) {
  if (c->state == C_CLOSING) return;
  int was = c->state;
  c->state = C_CLOSING;
  table_del(c);
  if (was == C_RESOLVE) uv_cancel((uv_req_t *)&c->gai);
  close_handle(c, (uv_handle_t *)&c->tcp, &c->tcp_inited);
  close_handle(c, (uv_handle_t *)&c->epmd, &c->epmd_inited);
  int t = 1;
  close_handle(c, (uv_handle_t *)&c->timer, &t);
}

/* Close with one log line and the nodedown callback the state calls for. */
static void conn_fail(conn_t *c, int level, const char *why) {
  if (c->state == C_CLOSING) return;
  phc__dist_t *d = c->d;
  int was_up = c->state == C_UP;
  int report = c->in_table &&
               (was_up || c->outgoing || c->took_over || !TAILQ_EMPTY(&c->queue));
  char peer[PHC__ATOM_MAX];
  snprintf(peer, sizeof peer, "%s", c->peer[0] ? c->peer : "(unnamed peer)");
  int queued = 0;
  qmsg_t *q;
  TAILQ_FOREACH(q, &c->queue, link) queued++;
  char drop[48] = "";
  if (!was_up && queued)
    snprintf(drop, sizeof drop, " (%d queued message(s) dropped)", queued);
  phc__log(level, MOD, "%s %s: %s%s",
           was_up ? "connection to"
           : (c->outgoing || c->took_over) ? "cannot connect to"
                                           : "handshake with",
           peer, why, drop);
  conn_close(c);
  if (report && !d->closing && d->cb.on_nodedown)
    d->cb.on_nodedown(d->cb.ctx, peer, was_up);
}

/* ---- writing ----------------------------------------------------------- */

typedef struct wreq_s {
  uv_write_t req;
  conn_t *c;
  char data[];
} wreq_t;

static void on_written(uv_write_t *req, int status) {
  wreq_t *w = (wreq_t *)req;
  conn_t *c = w->c;
  free(w);
  if (status < 0 && status != UV_ECANCELED && c->state != C_CLOSING) {
    char why[128];
    snprintf(why, sizeof why, "write failed: %s", uv_strerror(status));
    conn_fail(c, PHC_LOG_WARN, why);
  }
}

static int conn_write(conn_t *c, const void *data, size_t len) {
  if (!c->tcp_inited || len == 0) return 0;
  /* Most writes fit in the socket buffer at once: skip the queued request. */
  if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) == 0) {
    uv_buf_t tb = uv_buf_init((char *)data, (unsigned)len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &tb, 1);
    if (n == (int)len) {
      c->writes++;
      return 0;
    }
    if (n > 0) {
      data = (const char *)data + n;
      len -= (size_t)n;
    }
  }
  wreq_t *w = phc__xmalloc(sizeof *w + len);
  w->c = c;
  memcpy(w->data, data, len);
  uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
  int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written);
  if (rc < 0) {
    free(w);
    return PHC_EIO;
  }
  c->writes++;
  return 0;
}

static void hs_flush(conn_t *c) {
  if (c->hs.out_len == 0) return;
  conn_write(c, c->hs.out, c->hs.out_len);
  c->hs.out_len = 0;
}

/* ---- after the handshake ----------------------------------------------- */

static void on_packets(conn_t *c) {
  phc__dist_t *d = c->d;
  const uint8_t *pkt;
  size_t len;
  int rc;
  while (c->state == C_UP && (rc = phc__frame_rd_next(&c->rd, &pkt, &len)) != 0) {
    if (rc < 0) {
      conn_fail(c, PHC_LOG_WARN, "garbage from peer (absurd packet length)");
      return;
    }
    if (len == 0) continue; /* tick */
    PHC_LOG_D(MOD, "packet from %s: %zu bytes: %u %u %u %u %u", c->peer, len,
              pkt[0], len > 1 ? pkt[1] : 0, len > 2 ? pkt[2] : 0,
              len > 3 ? pkt[3] : 0, len > 4 ? pkt[4] : 0);
    phc__frame_msg_t m;
    rc = phc__frame_parse(&c->reasm, pkt, len, &m);
    if (rc < 0) {
      char why[96];
      snprintf(why, sizeof why,
               "garbage from peer (unparseable packet, %zu bytes, first 0x%02x)",
               len, pkt[0]);
      conn_fail(c, PHC_LOG_WARN, why);
      return;
    }
    if (rc == 1 && d->cb.on_message)
      d->cb.on_message(d->cb.ctx, c->peer, m.ctrl, m.ctrl_len, m.payload,
                       m.payload_len);
    free(m.owned);
  }
}

static void conn_up(conn_t *c) {
  phc__dist_t *d = c->d;
  uv_timer_stop(&c->timer);
  c->peer_flags = c->hs.peer_flags;
  conn_t *holder = table_find(d, c->peer);
  if (holder && holder != c) {
    if (!c->takeover) {
      /* Should not happen: the status decided who holds the name. */
      conn_fail(c, PHC_LOG_WARN, "duplicate connection");
      return;
    }
    conn_fail(holder, PHC_LOG_INFO, "replaced by a new connection");
  }
  table_put(c);
  c->state = C_UP;
  c->reads = c->writes = c->tk_read = c->tk_write = 0;
  c->tk_tick = c->tk_ticked = 0;
  phc__frame_rd_push(&c->rd, c->hs.in, c->hs.in_len); /* early data */
  phc__hs_free(&c->hs);
  c->hs_inited = 0;
  int hidden = !(c->peer_flags & PHC_DFLAG_PUBLISHED);
  PHC_LOG_I(MOD, "connected to %s (%s, %s)", c->peer,
            c->outgoing ? "outgoing" : "incoming", hidden ? "hidden" : "visible");
  while (!TAILQ_EMPTY(&c->queue)) {
    qmsg_t *q = TAILQ_FIRST(&c->queue);
    TAILQ_REMOVE(&c->queue, q, link);
    conn_write(c, q->data, q->len);
    free(q);
  }
  if (d->cb.on_nodeup)
    d->cb.on_nodeup(d->cb.ctx, c->peer, c->peer_flags, hidden);
  if (c->state == C_UP) on_packets(c);
}

/* ---- handshake --------------------------------------------------------- */

/* dist_util/net_kernel's answer to a name: see mark_pending/2. */
static int decide_status(conn_t *c) {
  phc__dist_t *d = c->d;
  if (strcmp(c->peer, d->name) == 0) return PHC__HS_ST_NOT_ALLOWED;
  conn_t *o = table_find(d, c->peer);
  if (!o) {
    table_put(c);
    return PHC__HS_ST_OK;
  }
  if (o->state == C_UP) {
    c->takeover = 1;
    return PHC__HS_ST_ALIVE;
  }
  if (!o->outgoing) return -1; /* already_pending: shut down */
  if (strcmp(d->name, c->peer) > 0) return PHC__HS_ST_NOK;
  /* We lose: the peer's connection takes over ours, with its queue. */
  PHC_LOG_D(MOD, "simultaneous connect with %s: taking the incoming one",
            c->peer);
  TAILQ_CONCAT(&c->queue, &o->queue, link);
  c->took_over = 1; /* a failure now is a failed connect to report */
  conn_close(o);
  table_put(c);
  return PHC__HS_ST_OK_SIMULTANEOUS;
}

static void hs_status(conn_t *c) {
  snprintf(c->peer, sizeof c->peer, "%s", c->hs.peer_name);
  int st = decide_status(c);
  if (st < 0) {
    conn_close(c);
    return;
  }
  int rc = phc__hs_set_status(&c->hs, st);
  hs_flush(c);
  if (rc < 0) {
    PHC_LOG_D(MOD, "refused %s with status %d", c->peer, st);
    conn_close(c); /* the status was written at once (uv_write tries) */
  }
}

static void on_handshake_bytes(conn_t *c, const uint8_t *data, size_t len) {
  size_t used;
  int rc = phc__hs_feed(&c->hs, data, len, &used);
  hs_flush(c);
  while (rc == PHC__HS_NEED_STATUS) {
    hs_status(c);
    if (c->state != C_HANDSHAKE) return;
    rc = phc__hs_feed(&c->hs, NULL, 0, &used);
    hs_flush(c);
  }
  if (rc == PHC__HS_CONTINUE) return;
  if (rc == PHC__HS_DONE) {
    conn_up(c);
    return;
  }
  if (rc == PHC__HS_NOK) {
    /* The peer's own connection to us wins; keep the queue for it. */
    PHC_LOG_D(MOD, "simultaneous connect with %s: the peer's one wins",
              c->peer);
    close_handle(c, (uv_handle_t *)&c->tcp, &c->tcp_inited);
    c->state = C_NOK_WAIT;
    return;
  }
  conn_fail(c, PHC_LOG_WARN, c->hs.err);
}

/* ---- reading ----------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  conn_t *c = h->data;
  PHC__UNUSED(hint);
  *buf = uv_buf_init(c->d->rbuf, sizeof c->d->rbuf);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  conn_t *c = s->data;
  if (c->state == C_CLOSING) return;
  if (n < 0) {
    if (c->state == C_HANDSHAKE) {
      conn_fail(c, PHC_LOG_WARN, phc__hs_eof_reason(&c->hs));
    } else {
      char why[96];
      snprintf(why, sizeof why, "lost (%s)",
               n == UV_EOF ? "closed by peer" : uv_strerror((int)n));
      conn_fail(c, PHC_LOG_INFO, why);
    }
    return;
  }
  if (n == 0) return;
  c->reads++;
  if (c->state == C_HANDSHAKE) {
    on_handshake_bytes(c, (const uint8_t *)buf->base, (size_t)n);
    return;
  }
  if (c->state == C_UP) {
    phc__frame_rd_push(&c->rd, (const uint8_t *)buf->base, (size_t)n);
    on_packets(c);
  }
}

static void on_setup_timeout(uv_timer_t *t) {
  conn_t *c = t->data;
  if (c->state == C_NOK_WAIT)
    conn_fail(c, PHC_LOG_WARN, "the peer's simultaneous connection never came");
  else if (c->state != C_UP)
    conn_fail(c, PHC_LOG_WARN, "setup timed out");
}

static void start_handshake(conn_t *c) {
  phc__dist_t *d = c->d;
  c->state = C_HANDSHAKE;
  c->tcp.data = c;
  phc__hs_init(&c->hs, c->outgoing, d->name, d->cookie, our_flags(d),
               d->creation, random_u32(), c->outgoing ? c->peer : NULL);
  c->hs_inited = 1;
  hs_flush(c);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* ---- outgoing: resolve, epmd, connect ---------------------------------- */

static void on_peer_connected(uv_connect_t *req, int status) {
  conn_t *c = req->data;
  if (c->state == C_CLOSING) return;
  if (status < 0) {
    char why[96];
    snprintf(why, sizeof why, "connect failed: %s", uv_strerror(status));
    conn_fail(c, PHC_LOG_WARN, why);
    return;
  }
  start_handshake(c);
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
  if (rc < 0) conn_fail(c, PHC_LOG_WARN, uv_strerror(rc));
}

static void on_port_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  conn_t *c = h->data;
  PHC__UNUSED(hint);
  *buf = uv_buf_init((char *)c->ebuf + c->elen,
                     (unsigned)(sizeof c->ebuf - c->elen));
}

static void on_port_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  conn_t *c = s->data;
  PHC__UNUSED(buf);
  if (c->state != C_EPMD) return;
  if (n > 0) c->elen += (size_t)n;
  unsigned short port = 0;
  int hi = 0, lo = 0;
  int rc = phc__epmd_dec_port2_resp(c->ebuf, c->elen, &port, &hi, &lo);
  if (rc == 0 && n >= 0 && c->elen < sizeof c->ebuf) return;
  close_handle(c, (uv_handle_t *)&c->epmd, &c->epmd_inited);
  if (rc == PHC_ENOTCONN) {
    conn_fail(c, PHC_LOG_WARN, "epmd does not know that node");
  } else if (rc <= 0) {
    conn_fail(c, PHC_LOG_WARN, "bad or no answer from the peer's epmd");
  } else if (hi < 6) {
    conn_fail(c, PHC_LOG_WARN, "peer is older than OTP 23 (version < 6)");
  } else {
    connect_peer(c, port);
  }
}

static void on_epmd_connected(uv_connect_t *req, int status) {
  conn_t *c = req->data;
  if (c->state != C_EPMD) return;
  if (status < 0) {
    char why[96];
    snprintf(why, sizeof why, "no epmd on the peer's host: %s",
             uv_strerror(status));
    conn_fail(c, PHC_LOG_WARN, why);
    return;
  }
  uint8_t msg[300];
  char alive[PHC__ATOM_MAX];
  snprintf(alive, sizeof alive, "%s", c->peer);
  *strchr(alive, '@') = 0;
  int n = phc__epmd_enc_port_please2(msg, sizeof msg, alive);
  if (n < 0) {
    conn_fail(c, PHC_LOG_WARN, "bad peer name");
    return;
  }
  wreq_t *w = phc__xmalloc(sizeof *w + (size_t)n);
  w->c = c;
  memcpy(w->data, msg, (size_t)n);
  uv_buf_t b = uv_buf_init(w->data, (unsigned)n);
  if (uv_write(&w->req, (uv_stream_t *)&c->epmd, &b, 1, on_written) < 0) {
    free(w);
    conn_fail(c, PHC_LOG_WARN, "cannot write to epmd");
    return;
  }
  uv_read_start((uv_stream_t *)&c->epmd, on_port_alloc, on_port_read);
}

static void on_resolved(uv_getaddrinfo_t *req, int status,
                        struct addrinfo *res) {
  conn_t *c = req->data;
  int closing = c->state == C_CLOSING;
  if (status < 0 || closing || !res) {
    if (res) uv_freeaddrinfo(res);
    if (!closing) conn_fail(c, PHC_LOG_WARN, "cannot resolve the peer's host");
    conn_unref(c);
    return;
  }
  memcpy(&c->addr, res->ai_addr, sizeof c->addr);
  uv_freeaddrinfo(res);
  conn_unref(c); /* the request is done */
  c->state = C_EPMD;
  uv_tcp_init(c->d->loop, &c->epmd);
  c->epmd.data = c;
  c->epmd_inited = 1;
  c->refs++;
  struct sockaddr_in a = c->addr;
  a.sin_port = htons(phc__epmd_port());
  c->ecreq.data = c;
  int rc = uv_tcp_connect(&c->ecreq, &c->epmd, (struct sockaddr *)&a,
                          on_epmd_connected);
  if (rc < 0) conn_fail(c, PHC_LOG_WARN, uv_strerror(rc));
}

static conn_t *start_connect(phc__dist_t *d, const char *peer) {
  conn_t *c = conn_new(d, 1, peer);
  table_put(c);
  c->state = C_RESOLVE;
  uv_timer_start(&c->timer, on_setup_timeout, SETUP_TIMEOUT_MS, 0);
  const char *host = strchr(peer, '@') + 1;
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  c->gai.data = c;
  c->refs++;
  int rc = uv_getaddrinfo(d->loop, &c->gai, on_resolved, host, NULL, &hints);
  if (rc < 0) {
    c->refs--;
    c->state = C_EPMD; /* nothing to cancel */
    conn_fail(c, PHC_LOG_WARN, "cannot resolve the peer's host");
  }
  return c;
}

/* ---- incoming ---------------------------------------------------------- */

static void on_connection(uv_stream_t *server, int status) {
  phc__dist_t *d = server->data;
  if (status < 0 || d->closing) return;
  conn_t *c = conn_new(d, 0, NULL);
  uv_tcp_init(d->loop, &c->tcp);
  c->tcp.data = c;
  c->tcp_inited = 1;
  c->refs++;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
    conn_close(c);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  uv_timer_start(&c->timer, on_setup_timeout, SETUP_TIMEOUT_MS, 0);
  start_handshake(c);
}

/* ---- ticks ------------------------------------------------------------- */

static void tick_conn(conn_t *c) {
  int t = c->tk_tick + 1;
  if (c->reads == c->tk_read && c->tk_ticked == t) {
    conn_fail(c, PHC_LOG_WARN, "net_tick_timeout (no data from the peer)");
    return;
  }
  if (c->writes == c->tk_write) {
    static const uint8_t tick[4] = {0, 0, 0, 0};
    conn_write(c, tick, sizeof tick);
  }
  c->tk_write = c->writes;
  if (c->reads != c->tk_read) c->tk_ticked = t;
  c->tk_read = c->reads;
  c->tk_tick = t % 4;
}

static void on_ticker(uv_timer_t *t) {
  phc__dist_t *d = t->data;
  conn_t *c, *tmp;
  HASH_ITER(hh, d->by_name, c, tmp) {
    if (c->state == C_UP) tick_conn(c);
  }
}

/* ---- epmd registration ------------------------------------------------- */

static void on_own_closed(uv_handle_t *h) {
  phc__dist_t *d = h->data;
  d->open--;
  maybe_done(d);
}

static void epmd_close(phc__dist_t *d) {
  if (!d->epmd_inited) return;
  d->epmd_inited = 0;
  uv_close((uv_handle_t *)&d->epmd, on_own_closed);
}

static void on_epmd_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  phc__dist_t *d = h->data;
  PHC__UNUSED(hint);
  if (d->elen >= sizeof d->ebuf) d->elen = 0;
  *buf = uv_buf_init((char *)d->ebuf + d->elen,
                     (unsigned)(sizeof d->ebuf - d->elen));
}

static void on_epmd_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  phc__dist_t *d = s->data;
  PHC__UNUSED(buf);
  if (n < 0) {
    if (!d->registered) d->reg_err = PHC_EIO;
    else if (!d->closing)
      PHC_LOG_W(MOD, "epmd closed our registration (%s)",
                n == UV_EOF ? "EOF" : uv_strerror((int)n));
    epmd_close(d);
    return;
  }
  d->elen += (size_t)n;
  if (d->registered) {
    d->elen = 0; /* epmd says nothing more on this connection */
    return;
  }
  uint32_t creation = 0;
  int rc = phc__epmd_dec_alive2_resp(d->ebuf, d->elen, &creation);
  if (rc == 0) return;
  if (rc < 0) {
    if (rc == PHC_EEXIST)
      PHC_LOG_E(MOD, "epmd refused the name %s (already registered?)",
                d->alive);
    else
      PHC_LOG_E(MOD, "bad answer from epmd");
    d->reg_err = rc;
    epmd_close(d);
    return;
  }
  d->creation = creation;
  d->registered = 1;
  d->elen = 0;
  PHC_LOG_I(MOD, "registered %s with epmd, port %u, creation %u", d->name,
            d->port, (unsigned)creation);
}

static void on_epmd_retry(uv_timer_t *t) { epmd_register(t->data); }

static void spawn_epmd(phc__dist_t *d) {
  d->spawned_epmd = 1;
  PHC_LOG_I(MOD, "no epmd answers; starting epmd -address 127.0.0.1 -daemon");
  int rc = system("epmd -address 127.0.0.1 -daemon");
  if (rc != 0) PHC_LOG_W(MOD, "starting epmd failed (status %d)", rc);
}

static void on_epmd_reg_connected(uv_connect_t *req, int status) {
  phc__dist_t *d = req->data;
  if (d->closing) return;
  if (status < 0) {
    epmd_close(d);
    if (++d->eattempts >= EPMD_ATTEMPTS) {
      PHC_LOG_E(MOD, "cannot reach epmd on 127.0.0.1:%u: %s",
                phc__epmd_port(), uv_strerror(status));
      d->reg_err = PHC_EIO;
      return;
    }
    if (!d->spawned_epmd) spawn_epmd(d);
    uv_timer_start(&d->eretry, on_epmd_retry, EPMD_RETRY_MS, 0);
    return;
  }
  uint8_t msg[300];
  int n = phc__epmd_enc_alive2_req(msg, sizeof msg, d->port, d->alive);
  uv_buf_t b = uv_buf_init((char *)msg, (unsigned)n);
  if (n < 0 || uv_try_write((uv_stream_t *)&d->epmd, &b, 1) != n) {
    d->reg_err = PHC_EIO;
    epmd_close(d);
    return;
  }
  uv_read_start((uv_stream_t *)&d->epmd, on_epmd_alloc, on_epmd_read);
}

static void epmd_register(phc__dist_t *d) {
  uv_tcp_init(d->loop, &d->epmd);
  d->epmd.data = d;
  d->epmd_inited = 1;
  d->open++;
  d->elen = 0;
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", phc__epmd_port(), &a);
  d->ecreq.data = d;
  int rc = uv_tcp_connect(&d->ecreq, &d->epmd, (struct sockaddr *)&a,
                          on_epmd_reg_connected);
  if (rc < 0) {
    d->reg_err = PHC_EIO;
    epmd_close(d);
  }
}

/* ---- public API -------------------------------------------------------- */

int phc__dist_new(phc__dist_t **out, uv_loop_t *loop,
                  const phc__dist_config_t *cfg, const phc__dist_cb_t *cb) {
  if (!out || !loop || !cfg || !cfg->name || !cfg->cookie) return PHC_EINVAL;
  const char *at = strchr(cfg->name, '@');
  if (!at || at == cfg->name || !at[1] ||
      strlen(cfg->name) >= PHC__ATOM_MAX || strlen(cfg->cookie) >= 256)
    return PHC_EINVAL;
  phc__dist_t *d = phc__xcalloc(1, sizeof *d);
  ei_init();
  d->loop = loop;
  snprintf(d->name, sizeof d->name, "%s", cfg->name);
  snprintf(d->alive, sizeof d->alive, "%.*s", (int)(at - cfg->name),
           cfg->name);
  snprintf(d->cookie, sizeof d->cookie, "%s", cfg->cookie);
  d->hidden = cfg->hidden;
  d->ticktime = cfg->net_ticktime ? cfg->net_ticktime : 60;
  d->port = cfg->port;
  if (cb) d->cb = *cb;
  LIST_INIT(&d->conns);
  uv_tcp_init(loop, &d->listener);
  uv_timer_init(loop, &d->eretry);
  uv_timer_init(loop, &d->ticker);
  d->listener.data = d->eretry.data = d->ticker.data = d;
  d->open = 3;
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
  epmd_register(d);
  while (!d->registered && !d->reg_err) uv_run(d->loop, UV_RUN_ONCE);
  if (!d->registered) return d->reg_err;
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
  if (!table_find(d, peer)) start_connect(d, peer);
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
  conn_t *c = table_find(d, peer);
  if (c && c->state == C_UP) {
    int rc = conn_write(c, q->data, q->len);
    free(q);
    return rc;
  }
  if (!c) c = start_connect(d, peer);
  if (c->state == C_CLOSING) { /* failed at once; nodedown was reported */
    free(q);
    return PHC_ENOTCONN;
  }
  TAILQ_INSERT_TAIL(&c->queue, q, link);
  return 0;
}

int phc__dist_is_up(const phc__dist_t *d, const char *peer) {
  conn_t *c = peer ? table_find(d, peer) : NULL;
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
  conn_t *c = peer ? table_find(d, peer) : NULL;
  return c && c->state == C_UP ? c->peer_flags : 0;
}

int phc__dist_disconnect(phc__dist_t *d, const char *peer) {
  conn_t *c = peer ? table_find(d, peer) : NULL;
  if (!c) return PHC_ENOTCONN;
  conn_fail(c, PHC_LOG_INFO, "disconnected by us");
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
    conn_close(c);
  }
  epmd_close(d);
  uv_close((uv_handle_t *)&d->listener, on_own_closed);
  uv_close((uv_handle_t *)&d->eretry, on_own_closed);
  uv_close((uv_handle_t *)&d->ticker, on_own_closed);
  maybe_done(d);
}

void phc__dist_free(phc__dist_t *d) {
  if (!d) return;
  free(d);
}
