/* test_epmd.c - the EPMD client (c_src/dist/epmd.c): message encoding and
 * decoding, and the registration and port lookup against a fake epmd on
 * the loopback (ERL_EPMD_PORT points at it). */
#include "phc_test.h"

#include "common.h"
#include "dist/epmd.h"

static void test_alive2_req(void **s) {
  (void)s;
  uint8_t b[64];
  int n = phc__epmd_enc_alive2_req(b, sizeof b, 0x1234, "phc");
  /* len(2) 120 port(2) 77 0 hi(2)=6 lo(2)=5 nlen(2) name elen(2)=0 */
  const uint8_t want[] = {0, 16, 120, 0x12, 0x34, 77,  0,   0, 6,
                          0, 5,  0,   3,    'p',  'h', 'c', 0, 0};
  assert_int_equal(n, sizeof want);
  assert_memory_equal(b, want, sizeof want);
  assert_int_equal(phc__epmd_enc_alive2_req(b, 10, 1, "phc"), PHC_EINVAL);
  assert_int_equal(phc__epmd_enc_alive2_req(b, sizeof b, 1, ""), PHC_EINVAL);
}

static void test_alive2_resp(void **s) {
  (void)s;
  uint32_t cr = 0;
  const uint8_t x[] = {118, 0, 0x6b, 0x01, 0x32, 0x9d};
  for (size_t n = 0; n < sizeof x; n++)
    assert_int_equal(phc__epmd_dec_alive2_resp(x, n, &cr), 0);
  assert_int_equal(phc__epmd_dec_alive2_resp(x, sizeof x, &cr), 6);
  assert_int_equal(cr, 0x6b01329d);
  const uint8_t old[] = {121, 0, 0, 3};
  assert_int_equal(phc__epmd_dec_alive2_resp(old, 3, &cr), 0);
  assert_int_equal(phc__epmd_dec_alive2_resp(old, 4, &cr), 4);
  assert_int_equal(cr, 3);
  const uint8_t taken[] = {118, 1, 0, 0, 0, 0};
  assert_int_equal(phc__epmd_dec_alive2_resp(taken, 6, &cr), PHC_EEXIST);
  const uint8_t junk[] = {42, 0, 0, 0};
  assert_int_equal(phc__epmd_dec_alive2_resp(junk, 4, &cr), PHC_EIO);
}

static void test_port_please2(void **s) {
  (void)s;
  uint8_t b[32];
  int n = phc__epmd_enc_port_please2(b, sizeof b, "a");
  const uint8_t want[] = {0, 2, 122, 'a'};
  assert_int_equal(n, 4);
  assert_memory_equal(b, want, 4);
  assert_int_equal(phc__epmd_enc_port_please2(b, 3, "a"), PHC_EINVAL);
}

static void test_port2_resp(void **s) {
  (void)s;
  /* 119 0 port=40000 77 0 hi=6 lo=5 nlen=1 'a' elen=2 'x' 'y' */
  const uint8_t r[] = {119, 0, 0x9c, 0x40, 77, 0, 0,   6,  0,
                       5,   0, 1,    'a',  0,  2, 'x', 'y'};
  unsigned short port = 0;
  int hi = 0, lo = 0;
  for (size_t n = 0; n < sizeof r; n++)
    assert_int_equal(phc__epmd_dec_port2_resp(r, n, &port, &hi, &lo), 0);
  assert_int_equal(phc__epmd_dec_port2_resp(r, sizeof r, &port, &hi, &lo),
                   (int)sizeof r);
  assert_int_equal(port, 40000);
  assert_int_equal(hi, 6);
  assert_int_equal(lo, 5);
  const uint8_t unknown[] = {119, 1};
  assert_int_equal(phc__epmd_dec_port2_resp(unknown, 2, &port, &hi, &lo),
                   PHC_ENOTCONN);
  const uint8_t junk[] = {7, 0};
  assert_int_equal(phc__epmd_dec_port2_resp(junk, 2, &port, &hi, &lo), PHC_EIO);
}

static void test_port_env(void **s) {
  (void)s;
  setenv("ERL_EPMD_PORT", "4400", 1);
  assert_int_equal(phc__epmd_port(), 4400);
  setenv("ERL_EPMD_PORT", "junk", 1);
  assert_int_equal(phc__epmd_port(), 4369);
  unsetenv("ERL_EPMD_PORT");
  assert_int_equal(phc__epmd_port(), 4369);
}

/* ---- a fake epmd -------------------------------------------------------- */

/* Listens on 127.0.0.1 (ERL_EPMD_PORT is set to its port), takes one
 * connection, keeps what it reads and answers `answer` once `want` bytes
 * have come. It closes its side when the client does. */
typedef struct fake_s {
  uv_loop_t loop;
  uv_tcp_t server, peer;
  int peer_open;
  uint8_t got[512];
  size_t got_len, want;
  const uint8_t *answer;
  size_t answer_len;
  uv_write_t wreq;
} fake_t;

static void fake_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  fake_t *f = h->data;
  (void)hint;
  *buf = uv_buf_init((char *)f->got + f->got_len,
                     (unsigned)(sizeof f->got - f->got_len));
}

static void fake_closed(uv_handle_t *h) { (void)h; }

static void fake_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  fake_t *f = s->data;
  (void)buf;
  if (n < 0) {
    if (f->peer_open) uv_close((uv_handle_t *)&f->peer, fake_closed);
    f->peer_open = 0;
    return;
  }
  size_t before = f->got_len;
  f->got_len += (size_t)n;
  if (before < f->want && f->got_len >= f->want && f->answer_len) {
    uv_buf_t b = uv_buf_init((char *)f->answer, (unsigned)f->answer_len);
    assert_int_equal(uv_write(&f->wreq, s, &b, 1, NULL), 0);
  }
}

static void fake_accept(uv_stream_t *server, int status) {
  fake_t *f = server->data;
  assert_int_equal(status, 0);
  assert_false(f->peer_open);
  uv_tcp_init(&f->loop, &f->peer);
  f->peer.data = f;
  f->peer_open = 1;
  assert_int_equal(uv_accept(server, (uv_stream_t *)&f->peer), 0);
  uv_read_start((uv_stream_t *)&f->peer, fake_alloc, fake_read);
}

static fake_t *fake_new(size_t want, const uint8_t *answer, size_t len) {
  fake_t *f = calloc(1, sizeof *f);
  assert_int_equal(uv_loop_init(&f->loop), 0);
  uv_tcp_init(&f->loop, &f->server);
  f->server.data = f;
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  assert_int_equal(uv_tcp_bind(&f->server, (struct sockaddr *)&a, 0), 0);
  assert_int_equal(uv_listen((uv_stream_t *)&f->server, 4, fake_accept), 0);
  int alen = sizeof a;
  uv_tcp_getsockname(&f->server, (struct sockaddr *)&a, &alen);
  char port[16];
  snprintf(port, sizeof port, "%u", ntohs(a.sin_port));
  setenv("ERL_EPMD_PORT", port, 1);
  f->want = want;
  f->answer = answer;
  f->answer_len = len;
  return f;
}

/* Close the fake's handles and check that nothing else is left open. */
static void fake_free(fake_t *f) {
  if (f->peer_open) uv_close((uv_handle_t *)&f->peer, fake_closed);
  uv_close((uv_handle_t *)&f->server, fake_closed);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&f->loop), 0);
  unsetenv("ERL_EPMD_PORT");
  free(f);
}

/* ---- registration ------------------------------------------------------- */

static int reg_closed_calls;
static void on_reg_closed(void *arg) {
  assert_ptr_equal(arg, &reg_closed_calls);
  reg_closed_calls++;
}

static void test_register(void **s) {
  (void)s;
  const uint8_t answer[] = {118, 0, 0x11, 0x22, 0x33, 0x44};
  uint8_t want[64];
  int wn = phc__epmd_enc_alive2_req(want, sizeof want, 4242, "phc");
  fake_t *f = fake_new((size_t)wn, answer, sizeof answer);
  phc__epmd_reg_t r;
  phc__epmd_reg_init(&r, &f->loop);
  uint32_t creation = 0;
  assert_int_equal(phc__epmd_register(&r, "phc@127.0.0.1", 4242, &creation), 0);
  assert_int_equal(creation, 0x11223344);
  assert_int_equal(f->got_len, (size_t)wn);
  assert_memory_equal(f->got, want, (size_t)wn);
  /* the connection stays open until the registration is closed */
  uv_run(&f->loop, UV_RUN_NOWAIT);
  assert_true(f->peer_open);
  assert_true(r.tcp_inited);
  reg_closed_calls = 0;
  phc__epmd_reg_close(&r, on_reg_closed, &reg_closed_calls);
  assert_int_equal(reg_closed_calls, 0); /* never inside the call */
  while (f->peer_open || reg_closed_calls == 0)
    uv_run(&f->loop, UV_RUN_ONCE);
  assert_int_equal(reg_closed_calls, 1);
  fake_free(f);
}

static void test_register_refused(void **s) {
  (void)s;
  const uint8_t answer[] = {118, 1, 0, 0, 0, 0};
  fake_t *f = fake_new(1, answer, sizeof answer);
  phc__epmd_reg_t r;
  phc__epmd_reg_init(&r, &f->loop);
  uint32_t creation = 7;
  assert_int_equal(phc__epmd_register(&r, "taken@127.0.0.1", 1, &creation),
                   PHC_EEXIST);
  assert_int_equal(creation, 7);
  assert_false(r.registered);
  reg_closed_calls = 0;
  phc__epmd_reg_close(&r, on_reg_closed, &reg_closed_calls);
  while (reg_closed_calls == 0)
    uv_run(&f->loop, UV_RUN_ONCE);
  fake_free(f);
}

/* ---- looking up a peer's port ------------------------------------------- */

typedef struct lk_s {
  phc__epmd_lookup_t l;
  int done_calls, closed_calls, rc;
  unsigned short port;
  char why[96];
} lk_t;

static void lk_done(phc__epmd_lookup_t *l, int rc, unsigned short port) {
  lk_t *k = l->data;
  k->done_calls++;
  k->rc = rc;
  k->port = port;
  snprintf(k->why, sizeof k->why, "%s", l->why);
}

static void lk_closed(phc__epmd_lookup_t *l) {
  lk_t *k = l->data;
  k->closed_calls++;
}

/* Look node up with the fake answering `answer`; runs until closed. */
static void lk_run(lk_t *k, const char *node, const uint8_t *answer, size_t len,
                   int cancel) {
  uint8_t req[64];
  int rn = phc__epmd_enc_port_please2(req, sizeof req, "peer");
  fake_t *f = fake_new((size_t)rn, answer, len);
  memset(k, 0, sizeof *k);
  k->l.data = k;
  k->l.done = lk_done;
  k->l.closed = lk_closed;
  struct sockaddr_in host;
  uv_ip4_addr("127.0.0.1", 0, &host);
  assert_int_equal(phc__epmd_lookup_start(&k->l, &f->loop, &host, node), 0);
  if (cancel) phc__epmd_lookup_cancel(&k->l);
  while (k->closed_calls == 0)
    uv_run(&f->loop, UV_RUN_ONCE);
  if (!cancel) {
    assert_int_equal(f->got_len, (size_t)rn);
    assert_memory_equal(f->got, req, (size_t)rn);
  }
  fake_free(f);
  assert_int_equal(k->closed_calls, 1);
}

static void test_lookup(void **s) {
  (void)s;
  /* 119 0 port=40000 77 0 hi=6 lo=5 nlen=4 "peer" elen=0 */
  const uint8_t ok[] = {119, 0, 0x9c, 0x40, 77,  0,   0,   6, 0,
                        5,   0, 4,    'p',  'e', 'e', 'r', 0, 0};
  lk_t k;
  lk_run(&k, "peer@127.0.0.1", ok, sizeof ok, 0);
  assert_int_equal(k.done_calls, 1);
  assert_int_equal(k.rc, 0);
  assert_int_equal(k.port, 40000);

  const uint8_t unknown[] = {119, 1};
  lk_run(&k, "peer@127.0.0.1", unknown, sizeof unknown, 0);
  assert_int_equal(k.done_calls, 1);
  assert_int_equal(k.rc, PHC_ENOTCONN);
  assert_string_equal(k.why, "epmd does not know that node");

  uint8_t old[sizeof ok];
  memcpy(old, ok, sizeof ok);
  old[7] = 5; /* highest version 5: older than OTP 23 */
  lk_run(&k, "peer@127.0.0.1", old, sizeof old, 0);
  assert_int_equal(k.done_calls, 1);
  assert_int_equal(k.rc, PHC_EIO);
  assert_string_equal(k.why, "peer is older than OTP 23 (version < 6)");

  const uint8_t junk[] = {7, 0};
  lk_run(&k, "peer@127.0.0.1", junk, sizeof junk, 0);
  assert_int_equal(k.done_calls, 1);
  assert_int_equal(k.rc, PHC_EIO);
  assert_string_equal(k.why, "bad or no answer from the peer's epmd");
}

/* A cancelled lookup never answers; its socket still closes once. */
static void test_lookup_cancel(void **s) {
  (void)s;
  const uint8_t unknown[] = {119, 1};
  lk_t k;
  lk_run(&k, "peer@127.0.0.1", unknown, sizeof unknown, 1);
  assert_int_equal(k.done_calls, 0);
  phc__epmd_lookup_cancel(&k.l); /* again: a no-op */
  assert_int_equal(k.closed_calls, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_alive2_req),
      cmocka_unit_test(test_alive2_resp),
      cmocka_unit_test(test_port_please2),
      cmocka_unit_test(test_port2_resp),
      cmocka_unit_test(test_port_env),
      cmocka_unit_test(test_register),
      cmocka_unit_test(test_register_refused),
      cmocka_unit_test(test_lookup),
      cmocka_unit_test(test_lookup_cancel),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
