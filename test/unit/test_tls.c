/* test_tls.c - the ssl_dist_optfile reader and TLS sessions: a client and
 * a server session talking in memory, with certificates this test makes
 * with the openssl CLI in a temporary directory (a CA and a leaf for
 * 127.0.0.1; a rogue CA and a leaf it signed). */
#include "phc_test.h"

#include <unistd.h>

#include "dist/tls.h"

static char dir[64];

static int sh(const char *fmt, const char *a, const char *b) {
  char cmd[1024], full[1200];
  snprintf(cmd, sizeof cmd, fmt, a, b, a, b);
  snprintf(full, sizeof full, "cd %s && %s >/dev/null 2>&1", dir, cmd);
  return system(full);
}

#define KEYGEN "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"

static int make_certs(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/phc_test_tls_XXXXXX");
  if (!mkdtemp(dir)) return -1;
  FILE *f;
  char p[128];
  snprintf(p, sizeof p, "%s/ext.cnf", dir);
  if (!(f = fopen(p, "w"))) return -1;
  fputs("subjectAltName=IP:127.0.0.1,DNS:localhost\n", f);
  fclose(f);
  const char *cas[] = {"ca", "rogue"};
  for (int i = 0; i < 2; i++)
    if (sh("openssl req -x509 " KEYGEN
           " -keyout %1$s.key -out %1$s.pem -days 2 "
           "-subj /CN=%1$s",
           cas[i], ""))
      return -1;
  const char *leaves[][2] = {{"good", "ca"}, {"bad", "rogue"}};
  for (int i = 0; i < 2; i++) {
    if (sh("openssl req " KEYGEN " -keyout %1$s.key -out %1$s.csr "
           "-subj /CN=127.0.0.1",
           leaves[i][0], leaves[i][1]) ||
        sh("openssl x509 -req -in %1$s.csr -CA %2$s.pem -CAkey %2$s.key "
           "-CAcreateserial -out %1$s.pem -days 2 -extfile ext.cnf",
           leaves[i][0], leaves[i][1]))
      return -1;
  }
  return 0;
}

static int remove_certs(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd) == 0 ? 0 : -1;
}

/* An optfile's text: server and client with leaf's certificate (none: no
 * certificate on the client), both verifying against ca.pem. */
static void optfile_text(char *out, size_t size, const char *leaf,
                         const char *extra_client) {
  char own[512] = "";
  if (strcmp(leaf, "none"))
    snprintf(own, sizeof own,
             "{certfile, \"%s/%s.pem\"}, {keyfile, \"%s/%s.key\"}, ", dir, leaf,
             dir, leaf);
  snprintf(out, size,
           "%% the format erl reads\n"
           "[{server, [{certfile, \"%s/good.pem\"}, {keyfile, "
           "<<\"%s/good.key\">>}, {cacertfile, \"%s/ca.pem\"}, "
           "{verify, verify_peer}, {fail_if_no_peer_cert, true}]},\n"
           " {client, [%s{cacertfile, \"%s/ca.pem\"}, {verify, verify_peer}%s]}"
           "].\n",
           dir, dir, dir, own, dir, extra_client);
}

static phc__tls_ctx_t *ctx_for(const char *leaf, const char *extra_client) {
  char text[2048], err[256] = "";
  phc__tls_opts_t o;
  phc__tls_ctx_t *ctx = NULL;
  optfile_text(text, sizeof text, leaf, extra_client);
  assert_int_equal(
      0, phc__tls_opts_parse(&o, text, strlen(text), err, sizeof err));
  int rc = phc__tls_ctx_new(&ctx, &o, err, sizeof err);
  if (rc) fprintf(stderr, "ctx: %s\n", err);
  assert_int_equal(0, rc);
  return ctx;
}

/* Move ciphertext both ways until neither side has any; plaintext read on
 * the way is appended to got_c / got_s. Returns the first error. */
typedef struct sink_s {
  char *buf;
  size_t len;
} sink_t;

static int pump_one(phc__tls_t *from, phc__tls_t *to, sink_t *got, int *moved) {
  char buf[16384];
  size_t k;
  while ((k = phc__tls_out(from, buf, sizeof buf)) > 0) {
    *moved = 1;
    if (phc__tls_in(to, buf, k) < 0) return PHC_EIO;
  }
  long n;
  while ((n = phc__tls_read(to, buf, sizeof buf)) > 0) {
    got->buf = realloc(got->buf, got->len + (size_t)n);
    memcpy(got->buf + got->len, buf, (size_t)n);
    got->len += (size_t)n;
  }
  return n < 0 ? PHC_EIO : 0;
}

static int pump(phc__tls_t *c, phc__tls_t *s, sink_t *got_c, sink_t *got_s) {
  int moved = 1, rc = 0;
  for (int i = 0; moved && i < 100; i++) {
    moved = 0;
    if ((rc = pump_one(c, s, got_s, &moved)) < 0) break;
    if ((rc = pump_one(s, c, got_c, &moved)) < 0) break;
  }
  /* the failing side's alert reaches the other one */
  char buf[4096];
  size_t k;
  while ((k = phc__tls_out(s, buf, sizeof buf)) > 0)
    phc__tls_in(c, buf, k);
  while ((k = phc__tls_out(c, buf, sizeof buf)) > 0)
    phc__tls_in(s, buf, k);
  return rc;
}

/* ---- the optfile ------------------------------------------------------- */

static void test_opts_good(void **st) {
  (void)st;
  const char *t =
      "[{server, [{certfile, \"/a/c.pem\"}, {keyfile, <<\"/a/k\">>},"
      " {cacertfile, \"/a/ca.pem\"}, {verify, verify_peer},"
      " {fail_if_no_peer_cert, true}, {depth, 3},"
      " {secure_renegotiate, true}, {reuse_sessions, false},"
      " {versions, ['tlsv1.3']}]},"
      " {client, [{verify, verify_none}, {password, \"pw\"},"
      " {server_name_indication, disable}, {crl_check, false}]}].";
  phc__tls_opts_t o;
  char err[256] = "";
  assert_int_equal(0, phc__tls_opts_parse(&o, t, strlen(t), err, sizeof err));
  assert_string_equal("/a/c.pem", o.server.certfile);
  assert_string_equal("/a/k", o.server.keyfile);
  assert_string_equal("/a/ca.pem", o.server.cacertfile);
  assert_int_equal(1, o.server.verify);
  assert_int_equal(1, o.server.fail_if_no_peer_cert);
  assert_int_equal(3, o.server.depth);
  assert_int_equal(PHC__TLS_V13, o.server.versions);
  assert_int_equal(0, o.client.verify);
  assert_string_equal("pw", o.client.password);
  assert_int_equal(1, o.client.sni_disable);
  assert_int_equal(-1, o.client.depth);
}

static void expect_bad(const char *text, const char *needle) {
  phc__tls_opts_t o;
  char err[256] = "";
  assert_int_equal(
      PHC_EINVAL, phc__tls_opts_parse(&o, text, strlen(text), err, sizeof err));
  if (!strstr(err, needle)) fail_msg("'%s' does not name '%s'", err, needle);
}

static void test_opts_bad(void **st) {
  (void)st;
  expect_bad("[{server, [{verify_fun, {m, f, s}}]}].", "verify_fun");
  expect_bad("[{server, [{ciphers, \"x\"}]}].", "ciphers");
  expect_bad("[{client, [{verify, maybe}]}].", "client option verify");
  expect_bad("[{client, [{fail_if_no_peer_cert, true}]}].",
             "fail_if_no_peer_cert");
  expect_bad("[{server, [{versions, ['tlsv1.1']}]}].", "versions");
  expect_bad("[{server, [{crl_check, true}]}].", "crl_check");
  expect_bad("[{server, [{certfile, \"\"}]}].", "certfile");
  expect_bad("[{middle, []}].", "{server, Opts}");
  expect_bad("[{server, []}]. [].", "one list");
  expect_bad("", "one list");
  expect_bad("[{server, [{certfile, \"x\"}}].", "line 1");
}

static void test_opts_load_missing(void **st) {
  (void)st;
  phc__tls_opts_t o;
  char err[256] = "";
  assert_int_equal(
      PHC_EIO, phc__tls_opts_load(&o, "/nonexistent/optfile", err, sizeof err));
  assert_non_null(strstr(err, "/nonexistent/optfile"));
}

static void test_ctx_bad_files(void **st) {
  (void)st;
  phc__tls_opts_t o;
  phc__tls_ctx_t *ctx = NULL;
  char err[256] = "";
  memset(&o, 0, sizeof o);
  o.server.depth = o.client.depth = -1;
  assert_int_equal(PHC_EINVAL, phc__tls_ctx_new(&ctx, &o, err, sizeof err));
  assert_non_null(strstr(err, "certfile is required"));
  snprintf(o.server.certfile, sizeof o.server.certfile, "/nonexistent.pem");
  assert_int_equal(PHC_EINVAL, phc__tls_ctx_new(&ctx, &o, err, sizeof err));
  assert_non_null(strstr(err, "/nonexistent.pem"));
  /* a key that is not the certificate's */
  snprintf(o.server.certfile, sizeof o.server.certfile, "%s/good.pem", dir);
  snprintf(o.server.keyfile, sizeof o.server.keyfile, "%s/bad.key", dir);
  assert_int_equal(PHC_EINVAL, phc__tls_ctx_new(&ctx, &o, err, sizeof err));
  assert_non_null(strstr(err, "bad.key"));
  assert_null(ctx);
}

/* ---- sessions ---------------------------------------------------------- */

static void test_session_pair(void **st) {
  (void)st;
  phc__tls_ctx_t *ctx = ctx_for("good", "");
  phc__tls_t *c, *s;
  assert_int_equal(0, phc__tls_new(&c, ctx, 0, "127.0.0.1"));
  assert_int_equal(0, phc__tls_new(&s, ctx, 1, NULL));
  /* written before the handshake: held, then delivered first */
  assert_int_equal(0, phc__tls_write(c, "hello", 5));
  sink_t gc = {0}, gs = {0};
  assert_int_equal(0, pump(c, s, &gc, &gs));
  assert_true(phc__tls_up(c));
  assert_true(phc__tls_up(s));
  assert_int_equal(5, gs.len);
  assert_memory_equal("hello", gs.buf, 5);
  /* larger than a record, both ways */
  size_t big = 300000;
  char *b = malloc(big);
  for (size_t i = 0; i < big; i++)
    b[i] = (char)(i * 7);
  assert_int_equal(0, phc__tls_write(s, b, big));
  assert_int_equal(0, phc__tls_write(c, b, big));
  assert_int_equal(0, pump(c, s, &gc, &gs));
  assert_int_equal(big, gc.len);
  assert_memory_equal(b, gc.buf, big);
  assert_int_equal(5 + big, gs.len);
  assert_memory_equal(b, gs.buf + 5, big);
  assert_string_equal("", phc__tls_error(c));
  free(b);
  free(gc.buf);
  free(gs.buf);
  phc__tls_free(c);
  phc__tls_free(s);
  phc__tls_ctx_free(ctx);
}

/* Client context from leaf's optfile, server from the good one. */
static void refused(const char *leaf, const char *extra, const char *host,
                    int server_fails, const char *why) {
  phc__tls_ctx_t *good = ctx_for("good", ""), *cc = ctx_for(leaf, extra);
  phc__tls_t *c, *s;
  assert_int_equal(0, phc__tls_new(&c, cc, 0, host));
  assert_int_equal(0, phc__tls_new(&s, good, 1, NULL));
  phc__tls_write(c, "hello", 5);
  sink_t gc = {0}, gs = {0};
  assert_int_equal(PHC_EIO, pump(c, s, &gc, &gs));
  phc__tls_t *failed = server_fails ? s : c;
  assert_false(phc__tls_up(failed));
  if (!strstr(phc__tls_error(failed), why))
    fail_msg("'%s' does not say '%s'", phc__tls_error(failed), why);
  assert_int_equal(0, gs.len); /* nothing got through */
  assert_int_equal(PHC_EIO, phc__tls_write(failed, "x", 1));
  phc__tls_free(c);
  phc__tls_free(s);
  phc__tls_ctx_free(good);
  phc__tls_ctx_free(cc);
}

static void test_rogue_client_refused(void **st) {
  (void)st;
  refused("bad", "", "127.0.0.1", 1, "certificate verify failed");
}

static void test_no_client_cert_refused(void **st) {
  (void)st;
  refused("none", "", "127.0.0.1", 1, "did not return a certificate");
}

static void test_server_name_checked(void **st) {
  (void)st;
  /* the certificate is for 127.0.0.1 and localhost */
  refused("good", "", "10.1.2.3", 0, "certificate verify failed");
  refused("good", "", "example.org", 0, "certificate verify failed");
  /* server_name_indication, disable: no name check */
  phc__tls_ctx_t *ctx = ctx_for("good", ", {server_name_indication, disable}");
  phc__tls_t *c, *s;
  assert_int_equal(0, phc__tls_new(&c, ctx, 0, "10.1.2.3"));
  assert_int_equal(0, phc__tls_new(&s, ctx, 1, NULL));
  sink_t gc = {0}, gs = {0};
  assert_int_equal(0, pump(c, s, &gc, &gs));
  if (!phc__tls_up(c))
    fail_msg("client: '%s', server: '%s'", phc__tls_error(c),
             phc__tls_error(s));
  phc__tls_free(c);
  phc__tls_free(s);
  phc__tls_ctx_free(ctx);
}

static void test_garbage_refused(void **st) {
  (void)st;
  phc__tls_ctx_t *ctx = ctx_for("good", "");
  phc__tls_t *s;
  assert_int_equal(0, phc__tls_new(&s, ctx, 1, NULL));
  /* a plain-TCP distribution peer's first bytes: send_name */
  static const char plain[] = "\0\x15N\0\0\0\0\0\0\0\0\0\0\0\0\0\x04node";
  assert_int_equal(PHC_EIO, phc__tls_in(s, plain, sizeof plain - 1));
  assert_non_null(strstr(phc__tls_error(s), "TLS: "));
  assert_int_equal(PHC_EIO, phc__tls_read(s, (char[8]){0}, 8));
  phc__tls_free(s);
  phc__tls_ctx_free(ctx);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_opts_good),
      cmocka_unit_test(test_opts_bad),
      cmocka_unit_test(test_opts_load_missing),
      cmocka_unit_test(test_ctx_bad_files),
      cmocka_unit_test(test_session_pair),
      cmocka_unit_test(test_rogue_client_refused),
      cmocka_unit_test(test_no_client_cert_refused),
      cmocka_unit_test(test_server_name_checked),
      cmocka_unit_test(test_garbage_refused),
  };
  return cmocka_run_group_tests(tests, make_certs, remove_certs);
}
