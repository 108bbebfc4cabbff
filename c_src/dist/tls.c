/* tls.c - TLS contexts and sessions over memory BIOs (see tls.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "dist/tls.h"

struct phc__tls_ctx_s {
  SSL_CTX *server, *client;
  phc__tls_opts_t opts;
};

struct phc__tls_s {
  SSL *ssl;
  BIO *rbio, *wbio; /* rbio: from the peer; wbio: to the peer */
  char *pend;       /* plaintext written before the handshake was done */
  size_t pend_len, pend_cap;
  int failed;
  char err[256];
};

/* ---- contexts ------------------------------------------------------------ */

static int tls_ctx_bad(char *err, size_t errlen, const char *side,
                       const char *what, const char *file) {
  unsigned long e = ERR_peek_last_error();
  char why[160] = "";
  if (e) ERR_error_string_n(e, why, sizeof why);
  ERR_clear_error();
  snprintf(err, errlen, "%s: %s%s%.300s%s%s", side, what, file ? " " : "",
           file ? file : "", why[0] ? ": " : "", why);
  return PHC_EINVAL;
}

static int tls_on_password(char *buf, int size, int rw, void *u) {
  PHC__UNUSED(rw);
  const char *pw = u;
  int n = (int)strlen(pw);
  if (n >= size) n = size - 1;
  memcpy(buf, pw, (size_t)n);
  buf[n] = 0;
  return n;
}

static void tls_ctx_versions(SSL_CTX *x, int versions) {
  int lo = TLS1_2_VERSION, hi = TLS1_3_VERSION;
  if (versions == PHC__TLS_V12) hi = TLS1_2_VERSION;
  if (versions == PHC__TLS_V13) lo = TLS1_3_VERSION;
  SSL_CTX_set_min_proto_version(x, lo);
  SSL_CTX_set_max_proto_version(x, hi);
}

/* The first of the side's files that cannot be read (its option's name in
 * *opt), or NULL. */
static const char *tls_unreadable(const phc__tls_side_t *o, const char **opt) {
  const char *files[] = {o->certfile, o->keyfile, o->cacertfile};
  const char *names[] = {"certfile", "keyfile", "cacertfile"};
  for (int i = 0; i < 3; i++) {
    *opt = names[i];
    if (files[i][0] && access(files[i], R_OK) != 0) return files[i];
  }
  return NULL;
}

static int tls_ctx_files(SSL_CTX *x, const phc__tls_side_t *o, const char *side,
                         char *err, size_t errlen) {
  if (o->password[0]) {
    SSL_CTX_set_default_passwd_cb(x, tls_on_password);
    SSL_CTX_set_default_passwd_cb_userdata(x, (void *)o->password);
  }
  const char *opt, *unreadable = tls_unreadable(o, &opt);
  if (unreadable) {
    snprintf(err, errlen, "%s: cannot read %s %.300s: %s", side, opt,
             unreadable, strerror(errno));
    return PHC_EINVAL;
  }
  if (o->certfile[0]) {
    const char *key = o->keyfile[0] ? o->keyfile : o->certfile;
    if (SSL_CTX_use_certificate_chain_file(x, o->certfile) != 1)
      return tls_ctx_bad(err, errlen, side, "cannot use certfile", o->certfile);
    if (SSL_CTX_use_PrivateKey_file(x, key, SSL_FILETYPE_PEM) != 1)
      return tls_ctx_bad(err, errlen, side, "cannot use keyfile", key);
    if (SSL_CTX_check_private_key(x) != 1)
      return tls_ctx_bad(err, errlen, side,
                         "the key does not match the certificate", key);
  }
  if (o->cacertfile[0] &&
      SSL_CTX_load_verify_locations(x, o->cacertfile, NULL) != 1)
    return tls_ctx_bad(err, errlen, side, "cannot use cacertfile",
                       o->cacertfile);
  return 0;
}

static SSL_CTX *tls_ctx_side(const phc__tls_side_t *o, int server, char *err,
                             size_t errlen) {
  const char *side = server ? "server" : "client";
  SSL_CTX *x = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (!x) {
    tls_ctx_bad(err, errlen, side, "cannot create a TLS context", NULL);
    return NULL;
  }
  tls_ctx_versions(x, o->versions);
  SSL_CTX_set_options(x, SSL_OP_NO_RENEGOTIATION);
  if (server) SSL_CTX_set_num_tickets(x, 0); /* no session resumption */
  if (server && !o->certfile[0]) {
    snprintf(err, errlen, "server: certfile is required");
    SSL_CTX_free(x);
    return NULL;
  }
  if (tls_ctx_files(x, o, side, err, errlen) < 0) {
    SSL_CTX_free(x);
    return NULL;
  }
  int mode = SSL_VERIFY_NONE;
  if (o->verify) mode = SSL_VERIFY_PEER;
  if (o->verify && server && o->fail_if_no_peer_cert)
    mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  SSL_CTX_set_verify(x, mode, NULL);
  if (o->depth >= 0) SSL_CTX_set_verify_depth(x, o->depth);
  return x;
}

int phc__tls_ctx_new(phc__tls_ctx_t **out, const phc__tls_opts_t *o, char *err,
                     size_t errlen) {
  if (!out || !o) return PHC_EINVAL;
  phc__tls_ctx_t *c = phc__xcalloc(1, sizeof *c);
  c->opts = *o;
  c->server = tls_ctx_side(&c->opts.server, 1, err, errlen);
  if (c->server) c->client = tls_ctx_side(&c->opts.client, 0, err, errlen);
  if (!c->server || !c->client) {
    phc__tls_ctx_free(c);
    return PHC_EINVAL;
  }
  *out = c;
  return 0;
}

void phc__tls_ctx_free(phc__tls_ctx_t *ctx) {
  if (!ctx) return;
  SSL_CTX_free(ctx->server);
  SSL_CTX_free(ctx->client);
  free(ctx);
}

/* ---- sessions ------------------------------------------------------------ */

static int tls_drive(phc__tls_t *s);

/* The client checks the server's name: an IP address or a DNS name. */
static int tls_check_host(SSL *ssl, const phc__tls_side_t *o,
                          const char *peer_host) {
  if (!o->verify || o->sni_disable) return 0;
  const char *host = o->sni[0] ? o->sni : peer_host;
  if (!host || !*host) return 0;
  unsigned char ip[16];
  if (inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1)
    return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1 ? 0
                                                                         : -1;
  SSL_set_tlsext_host_name(ssl, host);
  return SSL_set1_host(ssl, host) == 1 ? 0 : -1;
}

int phc__tls_new(phc__tls_t **out, phc__tls_ctx_t *ctx, int server,
                 const char *peer_host) {
  if (!out || !ctx) return PHC_EINVAL;
  SSL *ssl = SSL_new(server ? ctx->server : ctx->client);
  if (!ssl) return PHC_ENOMEM;
  if (!server && tls_check_host(ssl, &ctx->opts.client, peer_host) < 0) {
    SSL_free(ssl);
    return PHC_EINVAL;
  }
  phc__tls_t *s = phc__xcalloc(1, sizeof *s);
  s->ssl = ssl;
  s->rbio = BIO_new(BIO_s_mem());
  s->wbio = BIO_new(BIO_s_mem());
  if (!s->rbio || !s->wbio) {
    BIO_free(s->rbio);
    BIO_free(s->wbio);
    SSL_free(ssl);
    free(s);
    return PHC_ENOMEM;
  }
  BIO_set_mem_eof_return(s->rbio, -1); /* empty: "want more", not EOF */
  SSL_set_bio(ssl, s->rbio, s->wbio);  /* ssl owns both now */
  *out = s;
  if (server) {
    SSL_set_accept_state(ssl);
    return 0;
  }
  SSL_set_connect_state(ssl);
  return tls_drive(s); /* the ClientHello, ready in phc__tls_out */
}

void phc__tls_free(phc__tls_t *s) {
  if (!s) return;
  SSL_free(s->ssl);
  free(s->pend);
  free(s);
}

/* The session failed: keep why, from OpenSSL's queue and the certificate
 * check. */
static int tls_fail(phc__tls_t *s, const char *what) {
  char why[160] = "";
  unsigned long e = ERR_get_error();
  if (e) ERR_error_string_n(e, why, sizeof why);
  const char *r = e ? ERR_reason_error_string(e) : NULL;
  long v = SSL_get_verify_result(s->ssl);
  ERR_clear_error();
  s->failed = 1;
  if (!what && v != X509_V_OK)
    snprintf(s->err, sizeof s->err, "TLS: %s (%s)", r ? r : "handshake failed",
             X509_verify_cert_error_string(v));
  else if (!what)
    snprintf(s->err, sizeof s->err, "TLS: %s",
             r ? r : (why[0] ? why : "error"));
  else
    snprintf(s->err, sizeof s->err, "TLS: %s", what);
  return PHC_EIO;
}

static int tls_flush_pending(phc__tls_t *s) {
  if (!s->pend_len) return 0;
  int n = SSL_write(s->ssl, s->pend, (int)s->pend_len);
  if (n <= 0) return tls_fail(s, NULL);
  s->pend_len = 0;
  return 0;
}

/* Drive the handshake as far as the bytes in hand allow. */
static int tls_drive(phc__tls_t *s) {
  if (s->failed) return PHC_EIO;
  if (SSL_is_init_finished(s->ssl)) return tls_flush_pending(s);
  ERR_clear_error();
  int r = SSL_do_handshake(s->ssl);
  if (r == 1) return tls_flush_pending(s);
  int e = SSL_get_error(s->ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
  return tls_fail(s, NULL);
}

int phc__tls_in(phc__tls_t *s, const void *data, size_t len) {
  if (s->failed) return PHC_EIO;
  if (len && BIO_write(s->rbio, data, (int)len) != (int)len)
    return tls_fail(s, "out of memory");
  return tls_drive(s);
}

long phc__tls_read(phc__tls_t *s, void *buf, size_t cap) {
  if (tls_drive(s) < 0) return PHC_EIO;
  if (!SSL_is_init_finished(s->ssl) || cap == 0) return 0;
  ERR_clear_error();
  int n = SSL_read(s->ssl, buf, cap > INT32_MAX ? INT32_MAX : (int)cap);
  if (n > 0) return n;
  int e = SSL_get_error(s->ssl, n);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
  if (e == SSL_ERROR_ZERO_RETURN) return tls_fail(s, "closed by the peer");
  return tls_fail(s, NULL);
}

int phc__tls_write(phc__tls_t *s, const void *data, size_t len) {
  if (s->failed) return PHC_EIO;
  if (!len) return 0;
  if (!SSL_is_init_finished(s->ssl) || s->pend_len) {
    if (s->pend_len + len > s->pend_cap) {
      s->pend_cap = (s->pend_len + len) * 2;
      char *p = phc__xmalloc(s->pend_cap);
      if (s->pend_len) memcpy(p, s->pend, s->pend_len);
      free(s->pend);
      s->pend = p;
    }
    memcpy(s->pend + s->pend_len, data, len);
    s->pend_len += len;
    return tls_drive(s);
  }
  ERR_clear_error();
  int n = SSL_write(s->ssl, data, (int)len);
  return n > 0 ? 0 : tls_fail(s, NULL);
}

size_t phc__tls_out(phc__tls_t *s, void *buf, size_t cap) {
  size_t k = BIO_ctrl_pending(s->wbio);
  if (!k || !cap) return 0;
  int n = BIO_read(s->wbio, buf, (int)(k < cap ? k : cap));
  return n > 0 ? (size_t)n : 0;
}

int phc__tls_up(const phc__tls_t *s) {
  return !s->failed && SSL_is_init_finished(s->ssl);
}

const char *phc__tls_error(const phc__tls_t *s) { return s->err; }
