/* conn.c - one distribution connection from its first byte to its close:
 * the name table, lifetime and reference counting, writing, the
 * handshake (and the status a name gets: simultaneous connects, a
 * connection that is already up), reading, and ticks (see dist_int.h).
 * Under inet_tls the socket's bytes pass through the connection's TLS
 * session here (conn_tls_*), below the handshake and the reader. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "dist/dist_int.h"

#define MOD PHC__DIST_MOD

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

conn_t *phc__conn_find(const phc__dist_t *d, const char *peer) {
  conn_t *c = NULL;
  HASH_FIND_STR(d->by_name, peer, c);
  return c;
}

void phc__conn_put(conn_t *c) {
  if (c->in_table) return;
  HASH_ADD_STR(c->d->by_name, peer, c);
  c->in_table = 1;
}

static void conn_table_del(conn_t *c) {
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

void phc__dist_maybe_done(phc__dist_t *d) {
  if (d->closing && d->open == 0 && LIST_EMPTY(&d->conns) && d->done) {
    void (*done)(void *) = d->done;
    d->done = NULL;
    done(d->done_arg);
  }
}

/* ---- connection lifetime ----------------------------------------------- */

void phc__conn_unref(conn_t *c) {
  if (--c->refs > 0) return;
  phc__dist_t *d = c->d;
  LIST_REMOVE(c, all);
  queue_drop(c);
  if (c->hs_inited) phc__hs_free(&c->hs);
  phc__tls_free(c->tls);
  phc__frame_rd_free(&c->rd);
  phc__reasm_free(&c->reasm);
  free(c);
  phc__dist_maybe_done(d);
}

static void on_conn_handle_closed(uv_handle_t *h) { phc__conn_unref(h->data); }

conn_t *phc__conn_new(phc__dist_t *d, int outgoing, const char *peer) {
  conn_t *c = phc__xcalloc(1, sizeof *c);
  c->d = d;
  c->outgoing = outgoing;
  if (peer) snprintf(c->peer, sizeof c->peer, "%s", peer);
  TAILQ_INIT(&c->queue);
  phc__frame_rd_init(&c->rd);
  phc__reasm_init(&c->reasm);
  c->rd.max = d->limits.max_packet;
  c->reasm.max = d->limits.max_fragmented;
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
void phc__conn_close(conn_t *c) {
  if (c->state == C_CLOSING) return;
  int was = c->state;
  c->state = C_CLOSING;
  conn_table_del(c);
  if (was == C_RESOLVE) uv_cancel((uv_req_t *)&c->gai);
  close_handle(c, (uv_handle_t *)&c->tcp, &c->tcp_inited);
  phc__epmd_lookup_cancel(&c->lookup);
  int t = 1;
  close_handle(c, (uv_handle_t *)&c->timer, &t);
}

/* The peer's name, or its address before it has named itself. */
static void conn_peer_label(conn_t *c, char *out, size_t size) {
  struct sockaddr_storage a;
  int len = sizeof a;
  char ip[64] = "";
  if (c->peer[0]) {
    snprintf(out, size, "%s", c->peer);
    return;
  }
  if (c->tcp_inited &&
      uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&a, &len) == 0 &&
      a.ss_family == AF_INET) {
    struct sockaddr_in *in = (struct sockaddr_in *)&a;
    uv_ip4_name(in, ip, sizeof ip);
    snprintf(out, size, "(unnamed peer at %s:%u)", ip, ntohs(in->sin_port));
    return;
  }
  snprintf(out, size, "(unnamed peer)");
}

/* Close with one log line and the nodedown callback the state calls for. */
void phc__conn_fail(conn_t *c, int level, const char *why) {
  if (c->state == C_CLOSING) return;
  phc__dist_t *d = c->d;
  int was_up = c->state == C_UP;
  int report = c->in_table && (was_up || c->outgoing || c->took_over ||
                               !TAILQ_EMPTY(&c->queue));
  char peer[PHC__ATOM_MAX];
  conn_peer_label(c, peer, sizeof peer);
  int queued = 0;
  qmsg_t *q;
  TAILQ_FOREACH(q, &c->queue, link) queued++;
  char drop[48] = "";
  if (!was_up && queued)
    snprintf(drop, sizeof drop, " (%d queued message(s) dropped)", queued);
  phc__log(level, MOD, "%s %s: %s%s",
           was_up                          ? "connection to"
           : (c->outgoing || c->took_over) ? "cannot connect to"
                                           : "handshake with",
           peer, why, drop);
  phc__conn_close(c);
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
    phc__conn_fail(c, PHC_LOG_WARN, why);
  }
}

/* max_out_queue: the peer does not read what we send. It is dropped from
 * the loop (not from inside the send that noticed). */
static void on_slow_peer(uv_timer_t *t) {
  conn_t *c = t->data;
  char why[160];
  snprintf(why, sizeof why,
           "slow peer: %zu bytes waiting to be sent, over max_out_queue (%zu)",
           c->slow, c->d->limits.max_out_queue);
  phc__conn_fail(c, PHC_LOG_WARN, why);
}

static int conn_over_queue(conn_t *c, size_t len) {
  size_t q = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
  if (!c->slow && len <= c->d->limits.max_out_queue &&
      q <= c->d->limits.max_out_queue - len)
    return 0;
  if (!c->slow) {
    c->slow = q + len;
    uv_timer_start(&c->timer, on_slow_peer, 0, 0);
  }
  return 1;
}

/* Bytes as they go on the socket (ciphertext under inet_tls). */
static int conn_write_raw(conn_t *c, const void *data, size_t len) {
  if (!c->tcp_inited || len == 0) return 0;
  if (c->slow) return PHC_ELIMIT;
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
  if (conn_over_queue(c, len)) return PHC_ELIMIT;
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

/* The ciphertext the TLS session has for the peer, onto the socket. */
static int conn_tls_flush(conn_t *c) {
  char buf[16384];
  size_t k;
  int rc = 0;
  while ((k = phc__tls_out(c->tls, buf, sizeof buf)) > 0)
    if (rc == 0) rc = conn_write_raw(c, buf, k);
  return rc;
}

int phc__conn_write(conn_t *c, const void *data, size_t len) {
  if (!c->tls) return conn_write_raw(c, data, len);
  if (!c->tcp_inited || len == 0) return 0;
  if (c->slow) return PHC_ELIMIT;
  int rc = phc__tls_write(c->tls, data, len);
  int wrc = conn_tls_flush(c);
  if (rc < 0 && c->state != C_CLOSING)
    phc__conn_fail(c, PHC_LOG_WARN, phc__tls_error(c->tls));
  return rc < 0 ? PHC_EIO : wrc;
}

/* inet_tls frames the handshake's messages with 4 bytes (the ssl socket
 * is {packet, 4} from the start), where TCP uses 2: the handshake's 2-byte
 * packets are re-framed on their way out and in (conn_tls_plain). */
static void hs_flush_tls(conn_t *c) {
  const uint8_t *p = c->hs.out;
  size_t left = c->hs.out_len;
  while (left >= 2 && c->state != C_CLOSING) {
    size_t n = ((size_t)p[0] << 8) | p[1];
    if (n + 2 > left) break;
    uint8_t *b = phc__xmalloc(n + 4);
    b[0] = b[1] = 0;
    b[2] = p[0];
    b[3] = p[1];
    memcpy(b + 4, p + 2, n);
    phc__conn_write(c, b, n + 4);
    free(b);
    p += n + 2;
    left -= n + 2;
  }
}

static void hs_flush(conn_t *c) {
  if (c->hs.out_len == 0) return;
  if (c->tls)
    hs_flush_tls(c);
  else
    phc__conn_write(c, c->hs.out, c->hs.out_len);
  c->hs.out_len = 0;
}

/* ---- after the handshake ----------------------------------------------- */

static void on_packets(conn_t *c) {
  phc__dist_t *d = c->d;
  const uint8_t *pkt;
  size_t len;
  int rc;
  while (c->state == C_UP &&
         (rc = phc__frame_rd_next(&c->rd, &pkt, &len)) != 0) {
    if (rc < 0) {
      char why[128];
      snprintf(why, sizeof why,
               "a packet of %zu bytes announced, over max_packet (%zu)",
               c->rd.announced, d->limits.max_packet);
      phc__conn_fail(c, PHC_LOG_WARN, why);
      return;
    }
    if (len == 0) continue; /* tick */
    PHC_LOG_D(MOD, "packet from %s: %zu bytes: %u %u %u %u %u", c->peer, len,
              pkt[0], len > 1 ? pkt[1] : 0, len > 2 ? pkt[2] : 0,
              len > 3 ? pkt[3] : 0, len > 4 ? pkt[4] : 0);
    phc__frame_msg_t m;
    rc = phc__frame_parse(&c->reasm, pkt, len, &m);
    if (rc == PHC_ELIMIT) {
      char why[128];
      snprintf(why, sizeof why,
               "fragmented messages over max_fragmented (%zu bytes)",
               d->limits.max_fragmented);
      phc__conn_fail(c, PHC_LOG_WARN, why);
      return;
    }
    if (rc < 0) {
      char why[96];
      snprintf(
          why, sizeof why,
          "garbage from peer (unparseable packet, %zu bytes, first 0x%02x)",
          len, pkt[0]);
      phc__conn_fail(c, PHC_LOG_WARN, why);
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
  conn_t *holder = phc__conn_find(d, c->peer);
  if (holder && holder != c) {
    if (!c->takeover) {
      /* Should not happen: the status decided who holds the name. */
      phc__conn_fail(c, PHC_LOG_WARN, "duplicate connection");
      return;
    }
    phc__conn_fail(holder, PHC_LOG_INFO, "replaced by a new connection");
  }
  phc__conn_put(c);
  c->state = C_UP;
  c->reads = c->writes = c->tk_read = c->tk_write = 0;
  c->tk_tick = c->tk_ticked = 0;
  phc__frame_rd_push(&c->rd, c->hs.in, c->hs.in_len); /* early data */
  c->queued = 0;
  c->slow = 0;
  phc__hs_free(&c->hs);
  c->hs_inited = 0;
  int hidden = !(c->peer_flags & PHC_DFLAG_PUBLISHED);
  PHC_LOG_I(MOD, "connected to %s (%s, %s)", c->peer,
            c->outgoing ? "outgoing" : "incoming",
            hidden ? "hidden" : "visible");
  while (!TAILQ_EMPTY(&c->queue)) {
    qmsg_t *q = TAILQ_FIRST(&c->queue);
    TAILQ_REMOVE(&c->queue, q, link);
    phc__conn_write(c, q->data, q->len);
    free(q);
  }
  if (d->cb.on_nodeup)
    d->cb.on_nodeup(d->cb.ctx, c->peer, c->peer_flags, hidden);
  if (c->state == C_UP) on_packets(c);
}

/* ---- handshake --------------------------------------------------------- */

/* dist_util/net_kernel's answer to a name: see mark_pending/2. A status,
 * or PHC_EEXIST when another incoming handshake with that name is under
 * way (already_pending: the connection is shut down without one). */
static int decide_status(conn_t *c) {
  phc__dist_t *d = c->d;
  if (strcmp(c->peer, d->name) == 0) return PHC__HS_ST_NOT_ALLOWED;
  conn_t *o = phc__conn_find(d, c->peer);
  if (!o) {
    phc__conn_put(c);
    return PHC__HS_ST_OK;
  }
  if (o->state == C_UP) {
    c->takeover = 1;
    return PHC__HS_ST_ALIVE;
  }
  if (!o->outgoing) return PHC_EEXIST; /* already_pending: shut down */
  if (strcmp(d->name, c->peer) > 0) return PHC__HS_ST_NOK;
  /* We lose: the peer's connection takes over ours, with its queue. */
  PHC_LOG_D(MOD, "simultaneous connect with %s: taking the incoming one",
            c->peer);
  TAILQ_CONCAT(&c->queue, &o->queue, link);
  c->took_over = 1; /* a failure now is a failed connect to report */
  phc__conn_close(o);
  phc__conn_put(c);
  return PHC__HS_ST_OK_SIMULTANEOUS;
}

static void hs_status(conn_t *c) {
  snprintf(c->peer, sizeof c->peer, "%s", c->hs.peer_name);
  int st = decide_status(c);
  if (st < 0) {
    phc__conn_close(c);
    return;
  }
  int rc = phc__hs_set_status(&c->hs, st);
  hs_flush(c);
  if (rc < 0) {
    PHC_LOG_D(MOD, "refused %s with status %d", c->peer, st);
    phc__conn_close(c); /* the status was written at once (uv_write tries) */
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
  phc__conn_fail(c, PHC_LOG_WARN, c->hs.err);
}

/* ---- reading ----------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  conn_t *c = h->data;
  PHC__UNUSED(hint);
  *buf = uv_buf_init(c->d->rbuf, sizeof c->d->rbuf);
}

/* Plaintext from the peer: to the handshake or to the reader. */
static void conn_bytes(conn_t *c, const uint8_t *data, size_t len) {
  if (c->state == C_HANDSHAKE) {
    on_handshake_bytes(c, data, len);
    return;
  }
  if (c->state == C_UP) {
    phc__frame_rd_push(&c->rd, data, len);
    on_packets(c);
  }
}

/* Plaintext out of the TLS session. In the handshake its 4-byte framed
 * messages go to the handshake 2-byte framed; what follows the handshake
 * stays in the reader, which takes over once the connection is up. */
static void conn_tls_plain(conn_t *c, const uint8_t *data, size_t len) {
  if (c->state != C_HANDSHAKE) {
    conn_bytes(c, data, len);
    return;
  }
  phc__frame_rd_push(&c->rd, data, len);
  const uint8_t *pkt;
  size_t n;
  int rc;
  uint8_t *b = (uint8_t *)c->d->tbuf; /* data is copied: free to reuse */
  while (c->state == C_HANDSHAKE &&
         (rc = phc__frame_rd_next(&c->rd, &pkt, &n)) != 0) {
    if (rc < 0 || n + 2 > sizeof c->d->tbuf) {
      phc__conn_fail(c, PHC_LOG_WARN, "handshake message too long");
      return;
    }
    b[0] = (uint8_t)(n >> 8);
    b[1] = (uint8_t)n;
    memcpy(b + 2, pkt, n);
    on_handshake_bytes(c, b, n + 2);
  }
}

/* Ciphertext from the peer: through the TLS session, then as conn_bytes.
 * A failed session (a refused certificate, garbage) is one log line. */
static void conn_tls_bytes(conn_t *c, const uint8_t *data, size_t len) {
  int rc = phc__tls_in(c->tls, data, len);
  long n = 0;
  while (rc == 0 && c->state != C_CLOSING &&
         (n = phc__tls_read(c->tls, c->d->tbuf, sizeof c->d->tbuf)) > 0) {
    conn_tls_plain(c, (const uint8_t *)c->d->tbuf, (size_t)n);
    if (c->state != C_CLOSING) conn_tls_flush(c);
  }
  if (c->state == C_CLOSING) return;
  conn_tls_flush(c);
  if (rc < 0 || n < 0)
    phc__conn_fail(c, c->state == C_UP ? PHC_LOG_INFO : PHC_LOG_WARN,
                   phc__tls_error(c->tls));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  conn_t *c = s->data;
  if (c->state == C_CLOSING) return;
  if (n < 0) {
    if (c->state == C_HANDSHAKE && c->tls && !phc__tls_up(c->tls)) {
      phc__conn_fail(c, PHC_LOG_WARN, "closed during the TLS handshake");
    } else if (c->state == C_HANDSHAKE) {
      phc__conn_fail(c, PHC_LOG_WARN, phc__hs_eof_reason(&c->hs));
    } else {
      char why[96];
      snprintf(why, sizeof why, "lost (%s)",
               n == UV_EOF ? "closed by peer" : uv_strerror((int)n));
      phc__conn_fail(c, PHC_LOG_INFO, why);
    }
    return;
  }
  if (n == 0) return;
  c->reads++;
  if (c->tls)
    conn_tls_bytes(c, (const uint8_t *)buf->base, (size_t)n);
  else
    conn_bytes(c, (const uint8_t *)buf->base, (size_t)n);
}

static void on_setup_timeout(uv_timer_t *t) {
  conn_t *c = t->data;
  if (c->state == C_NOK_WAIT)
    phc__conn_fail(c, PHC_LOG_WARN,
                   "the peer's simultaneous connection never came");
  else if (c->state != C_UP)
    phc__conn_fail(c, PHC_LOG_WARN, "setup timed out");
}

void phc__conn_arm(conn_t *c) {
  uv_timer_start(&c->timer, on_setup_timeout, c->d->limits.handshake_ms, 0);
}

void phc__conn_start_handshake(conn_t *c) {
  phc__dist_t *d = c->d;
  c->state = C_HANDSHAKE;
  c->tcp.data = c;
  if (d->tls && !c->tls &&
      phc__tls_new(&c->tls, d->tls, !c->outgoing,
                   c->outgoing ? strchr(c->peer, '@') + 1 : NULL) < 0) {
    phc__conn_fail(c, PHC_LOG_WARN, "cannot start a TLS session");
    return;
  }
  phc__hs_init(&c->hs, c->outgoing, d->name, d->cookie, our_flags(d),
               d->creation, random_u32(), c->outgoing ? c->peer : NULL);
  c->hs_inited = 1;
  hs_flush(c);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* ---- ticks ------------------------------------------------------------- */

static void tick_conn(conn_t *c) {
  int t = c->tk_tick + 1;
  if (c->reads == c->tk_read && c->tk_ticked == t) {
    phc__conn_fail(c, PHC_LOG_WARN, "net_tick_timeout (no data from the peer)");
    return;
  }
  if (c->writes == c->tk_write) {
    static const uint8_t tick[4] = {0, 0, 0, 0};
    phc__conn_write(c, tick, sizeof tick);
  }
  c->tk_write = c->writes;
  if (c->reads != c->tk_read) c->tk_ticked = t;
  c->tk_read = c->reads;
  c->tk_tick = t % 4;
}

void phc__conn_tick_all(phc__dist_t *d) {
  conn_t *c, *tmp;
  HASH_ITER(hh, d->by_name, c, tmp) {
    if (c->state == C_UP) tick_conn(c);
  }
}
