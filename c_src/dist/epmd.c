/* epmd.c - the EPMD client: message encoding and decoding, the kept-open
 * registration, and the lookup of a peer's port (see epmd.h). */
#include "dist/epmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOD "dist"
#define EPMD_ATTEMPTS 10
#define EPMD_RETRY_MS 300

static void epmd_put16(uint8_t *p, unsigned v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

static unsigned epmd_get16(const uint8_t *p) {
  return ((unsigned)p[0] << 8) | p[1];
}

static uint32_t epmd_get32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
         ((uint32_t)p[2] << 8) | p[3];
}

unsigned short phc__epmd_port(void) {
  const char *s = getenv("ERL_EPMD_PORT");
  if (s && *s) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*end == 0 && v > 0 && v < 65536) return (unsigned short)v;
  }
  return PHC__EPMD_PORT;
}

int phc__epmd_enc_alive2_req(uint8_t *buf, size_t cap, unsigned short port,
                             const char *alive) {
  size_t nlen = strlen(alive);
  size_t body = 1 + 2 + 1 + 1 + 2 + 2 + 2 + nlen + 2;
  if (nlen == 0 || nlen > 255 || cap < body + 2) return PHC_EINVAL;
  uint8_t *p = buf;
  epmd_put16(p, (unsigned)body);
  p += 2;
  *p++ = PHC__EPMD_ALIVE2_REQ;
  epmd_put16(p, port);
  p += 2;
  *p++ = 77;        /* normal node */
  *p++ = 0;         /* tcp/ipv4 */
  epmd_put16(p, 6); /* highest version */
  p += 2;
  epmd_put16(p, 5); /* lowest version */
  p += 2;
  epmd_put16(p, (unsigned)nlen);
  p += 2;
  memcpy(p, alive, nlen);
  p += nlen;
  epmd_put16(p, 0); /* no extra */
  p += 2;
  return (int)(p - buf);
}

int phc__epmd_dec_alive2_resp(const uint8_t *buf, size_t len,
                              uint32_t *creation) {
  if (len < 2) return 0;
  if (buf[0] == PHC__EPMD_ALIVE2_X_RESP) {
    if (buf[1] != 0) return PHC_EEXIST;
    if (len < 6) return 0;
    *creation = epmd_get32(buf + 2);
    return 6;
  }
  if (buf[0] == PHC__EPMD_ALIVE2_RESP) {
    if (buf[1] != 0) return PHC_EEXIST;
    if (len < 4) return 0;
    *creation = epmd_get16(buf + 2);
    return 4;
  }
  return PHC_EIO;
}

int phc__epmd_enc_port_please2(uint8_t *buf, size_t cap, const char *alive) {
  size_t nlen = strlen(alive);
  if (nlen == 0 || nlen > 255 || cap < nlen + 3) return PHC_EINVAL;
  epmd_put16(buf, (unsigned)(nlen + 1));
  buf[2] = PHC__EPMD_PORT_PLEASE2_REQ;
  memcpy(buf + 3, alive, nlen);
  return (int)(nlen + 3);
}

int phc__epmd_dec_port2_resp(const uint8_t *buf, size_t len,
                             unsigned short *port, int *highest, int *lowest) {
  if (len < 2) return 0;
  if (buf[0] != PHC__EPMD_PORT2_RESP) return PHC_EIO;
  if (buf[1] != 0) return PHC_ENOTCONN;
  /* PortNo(2) NodeType(1) Protocol(1) Highest(2) Lowest(2) Nlen(2) Name
   * Elen(2) Extra */
  if (len < 12) return 0;
  size_t nlen = epmd_get16(buf + 10);
  if (len < 12 + nlen + 2) return 0;
  size_t elen = epmd_get16(buf + 12 + nlen);
  size_t total = 12 + nlen + 2 + elen;
  if (len < total) return 0;
  *port = (unsigned short)epmd_get16(buf + 2);
  *highest = (int)epmd_get16(buf + 6);
  *lowest = (int)epmd_get16(buf + 8);
  return (int)total;
}

/* ---- registration ------------------------------------------------------- */

static void epmd_reg_connect(phc__epmd_reg_t *r);

static void epmd_reg_maybe_closed(phc__epmd_reg_t *r) {
  if (r->closing && r->open == 0 && r->closed) {
    void (*closed)(void *) = r->closed;
    r->closed = NULL;
    closed(r->closed_arg);
  }
}

static void epmd_reg_on_closed(uv_handle_t *h) {
  phc__epmd_reg_t *r = h->data;
  r->open--;
  epmd_reg_maybe_closed(r);
}

static void epmd_close(phc__epmd_reg_t *r) {
  if (!r->tcp_inited) return;
  r->tcp_inited = 0;
  uv_close((uv_handle_t *)&r->tcp, epmd_reg_on_closed);
}

static void on_epmd_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  phc__epmd_reg_t *r = h->data;
  PHC__UNUSED(hint);
  if (r->len >= sizeof r->buf) r->len = 0;
  *buf =
      uv_buf_init((char *)r->buf + r->len, (unsigned)(sizeof r->buf - r->len));
}

static void on_epmd_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  phc__epmd_reg_t *r = s->data;
  PHC__UNUSED(buf);
  if (n < 0) {
    if (!r->registered)
      r->err = PHC_EIO;
    else if (!r->closing)
      PHC_LOG_W(MOD, "epmd closed our registration (%s)",
                n == UV_EOF ? "EOF" : uv_strerror((int)n));
    epmd_close(r);
    return;
  }
  r->len += (size_t)n;
  if (r->registered) {
    r->len = 0; /* epmd says nothing more on this connection */
    return;
  }
  uint32_t creation = 0;
  int rc = phc__epmd_dec_alive2_resp(r->buf, r->len, &creation);
  if (rc == 0) return;
  if (rc < 0) {
    if (rc == PHC_EEXIST)
      PHC_LOG_E(MOD, "epmd refused the name %s (already registered?)",
                r->alive);
    else
      PHC_LOG_E(MOD, "bad answer from epmd");
    r->err = rc;
    epmd_close(r);
    return;
  }
  r->creation = creation;
  r->registered = 1;
  r->len = 0;
  PHC_LOG_I(MOD, "registered %s with epmd, port %u, creation %u", r->name,
            r->port, (unsigned)creation);
}

static void on_epmd_retry(uv_timer_t *t) { epmd_reg_connect(t->data); }

static void spawn_epmd(phc__epmd_reg_t *r) {
  r->spawned_epmd = 1;
  PHC_LOG_I(MOD, "no epmd answers; starting epmd -address 127.0.0.1 -daemon");
  int rc = system("epmd -address 127.0.0.1 -daemon");
  if (rc != 0) PHC_LOG_W(MOD, "starting epmd failed (status %d)", rc);
}

static void on_epmd_reg_connected(uv_connect_t *req, int status) {
  phc__epmd_reg_t *r = req->data;
  if (r->closing) return;
  if (status < 0) {
    epmd_close(r);
    if (++r->attempts >= EPMD_ATTEMPTS) {
      PHC_LOG_E(MOD, "cannot reach epmd on 127.0.0.1:%u: %s", phc__epmd_port(),
                uv_strerror(status));
      r->err = PHC_EIO;
      return;
    }
    if (!r->spawned_epmd) spawn_epmd(r);
    uv_timer_start(&r->retry, on_epmd_retry, EPMD_RETRY_MS, 0);
    return;
  }
  uint8_t msg[300];
  int n = phc__epmd_enc_alive2_req(msg, sizeof msg, r->port, r->alive);
  uv_buf_t b = uv_buf_init((char *)msg, (unsigned)n);
  if (n < 0 || uv_try_write((uv_stream_t *)&r->tcp, &b, 1) != n) {
    r->err = PHC_EIO;
    epmd_close(r);
    return;
  }
  uv_read_start((uv_stream_t *)&r->tcp, on_epmd_alloc, on_epmd_read);
}

static void epmd_reg_connect(phc__epmd_reg_t *r) {
  uv_tcp_init(r->loop, &r->tcp);
  r->tcp.data = r;
  r->tcp_inited = 1;
  r->open++;
  r->len = 0;
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", phc__epmd_port(), &a);
  r->creq.data = r;
  int rc = uv_tcp_connect(&r->creq, &r->tcp, (struct sockaddr *)&a,
                          on_epmd_reg_connected);
  if (rc < 0) {
    r->err = PHC_EIO;
    epmd_close(r);
  }
}

void phc__epmd_reg_init(phc__epmd_reg_t *r, uv_loop_t *loop) {
  memset(r, 0, sizeof *r);
  r->loop = loop;
  uv_timer_init(loop, &r->retry);
  r->retry.data = r;
  r->open = 1;
}

int phc__epmd_register(phc__epmd_reg_t *r, const char *name,
                       unsigned short port, uint32_t *creation) {
  const char *at = strchr(name, '@');
  snprintf(r->name, sizeof r->name, "%s", name);
  snprintf(r->alive, sizeof r->alive, "%.*s",
           at ? (int)(at - name) : (int)strlen(name), name);
  r->port = port;
  epmd_reg_connect(r);
  while (!r->registered && !r->err)
    if (uv_run(r->loop, UV_RUN_ONCE) == 0 && !r->registered && !r->err)
      r->err = PHC_ESTATE; /* nothing left to wait on: closed meanwhile */
  if (!r->registered) return r->err;
  if (creation) *creation = r->creation;
  return 0;
}

void phc__epmd_reg_close(phc__epmd_reg_t *r, void (*closed)(void *arg),
                         void *arg) {
  if (r->closing) return;
  r->closing = 1;
  r->closed = closed;
  r->closed_arg = arg;
  epmd_close(r);
  uv_close((uv_handle_t *)&r->retry, epmd_reg_on_closed);
}

/* ---- looking up a peer's port ------------------------------------------- */

static void lookup_on_closed(uv_handle_t *h) {
  phc__epmd_lookup_t *l = h->data;
  if (l->closed) l->closed(l);
}

static void lookup_close(phc__epmd_lookup_t *l) {
  l->active = 0;
  if (!l->tcp_inited) return;
  l->tcp_inited = 0;
  if (!uv_is_closing((uv_handle_t *)&l->tcp))
    uv_close((uv_handle_t *)&l->tcp, lookup_on_closed);
}

/* The answer: the socket starts closing, then done runs. */
static void lookup_finish(phc__epmd_lookup_t *l, int rc, unsigned short port,
                          const char *why) {
  if (!l->active) return;
  lookup_close(l);
  snprintf(l->why, sizeof l->why, "%s", why ? why : "");
  l->done(l, rc, port);
}

static void lookup_on_written(uv_write_t *req, int status) {
  phc__epmd_lookup_t *l = req->data;
  if (status < 0 && status != UV_ECANCELED && l->active) {
    char why[128];
    snprintf(why, sizeof why, "write failed: %s", uv_strerror(status));
    lookup_finish(l, PHC_EIO, 0, why);
  }
}

static void lookup_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  phc__epmd_lookup_t *l = h->data;
  PHC__UNUSED(hint);
  *buf =
      uv_buf_init((char *)l->buf + l->len, (unsigned)(sizeof l->buf - l->len));
}

static void lookup_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  phc__epmd_lookup_t *l = s->data;
  PHC__UNUSED(buf);
  if (!l->active) return;
  if (n > 0) l->len += (size_t)n;
  unsigned short port = 0;
  int hi = 0, lo = 0;
  int rc = phc__epmd_dec_port2_resp(l->buf, l->len, &port, &hi, &lo);
  if (rc == 0 && n >= 0 && l->len < sizeof l->buf) return;
  if (rc == PHC_ENOTCONN)
    lookup_finish(l, PHC_ENOTCONN, 0, "epmd does not know that node");
  else if (rc <= 0)
    lookup_finish(l, PHC_EIO, 0, "bad or no answer from the peer's epmd");
  else if (hi < 6)
    lookup_finish(l, PHC_EIO, 0, "peer is older than OTP 23 (version < 6)");
  else
    lookup_finish(l, 0, port, NULL);
}

static void lookup_on_connected(uv_connect_t *req, int status) {
  phc__epmd_lookup_t *l = req->data;
  if (!l->active) return;
  if (status < 0) {
    char why[96];
    snprintf(why, sizeof why, "no epmd on the peer's host: %s",
             uv_strerror(status));
    lookup_finish(l, PHC_EIO, 0, why);
    return;
  }
  char alive[PHC__ATOM_MAX];
  snprintf(alive, sizeof alive, "%s", l->node);
  char *at = strchr(alive, '@');
  if (at) *at = 0;
  int n = phc__epmd_enc_port_please2(l->out, sizeof l->out, alive);
  if (n < 0) {
    lookup_finish(l, PHC_EINVAL, 0, "bad peer name");
    return;
  }
  uv_buf_t b = uv_buf_init((char *)l->out, (unsigned)n);
  l->wreq.data = l;
  if (uv_write(&l->wreq, (uv_stream_t *)&l->tcp, &b, 1, lookup_on_written) <
      0) {
    lookup_finish(l, PHC_EIO, 0, "cannot write to epmd");
    return;
  }
  uv_read_start((uv_stream_t *)&l->tcp, lookup_on_alloc, lookup_on_read);
}

int phc__epmd_lookup_start(phc__epmd_lookup_t *l, uv_loop_t *loop,
                           const struct sockaddr_in *host, const char *node) {
  snprintf(l->node, sizeof l->node, "%s", node);
  l->len = 0;
  l->why[0] = 0;
  uv_tcp_init(loop, &l->tcp);
  l->tcp.data = l;
  l->tcp_inited = 1;
  l->active = 1;
  struct sockaddr_in a = *host;
  a.sin_port = htons(phc__epmd_port());
  l->creq.data = l;
  int rc = uv_tcp_connect(&l->creq, &l->tcp, (struct sockaddr *)&a,
                          lookup_on_connected);
  if (rc < 0) {
    snprintf(l->why, sizeof l->why, "%s", uv_strerror(rc));
    lookup_close(l);
    return PHC_EIO;
  }
  return 0;
}

void phc__epmd_lookup_cancel(phc__epmd_lookup_t *l) { lookup_close(l); }
