/* tls_opts.c - the ssl_dist_optfile, read as BEAM reads it (see tls.h):
 * one list term of {server, Opts} and {client, Opts}. Options phc honours:
 * certfile, keyfile, cacertfile, password, verify, fail_if_no_peer_cert
 * (server), depth, versions, server_name_indication (client). Accepted and
 * without effect: secure_renegotiate, reuse_sessions, hibernate_after,
 * crl_check false. Anything else is named as an error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist/tls.h"
#include "term/parse.h"
#include "term/term.h"

typedef struct opts_rd_s {
  phc__tls_opts_t *o;
  int terms;
  char *err;
  size_t errlen;
} opts_rd_t;

static int opts_bad(opts_rd_t *r, const char *side, const char *key,
                    const char *what) {
  snprintf(r->err, r->errlen, "%s%s%.100s: %s", side ? side : "",
           side ? " option " : "", key, what);
  return PHC_EINVAL;
}

static void opts_utf8(char *out, size_t *k, long cp) {
  if (cp < 0x80) {
    out[(*k)++] = (char)cp;
  } else if (cp < 0x800) {
    out[(*k)++] = (char)(0xC0 | (cp >> 6));
    out[(*k)++] = (char)(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out[(*k)++] = (char)(0xE0 | (cp >> 12));
    out[(*k)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[(*k)++] = (char)(0x80 | (cp & 0x3F));
  } else {
    out[(*k)++] = (char)(0xF0 | (cp >> 18));
    out[(*k)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[(*k)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[(*k)++] = (char)(0x80 | (cp & 0x3F));
  }
}

/* A "string" (a list of character codes) or a <<"binary">>, non-empty,
 * into out (UTF-8). */
static int opts_text(const char *b, int *idx, char *out, size_t cap) {
  int type, size, n;
  long c, blen;
  if (ei_get_type(b, idx, &type, &size) < 0) return PHC_EINVAL;
  if (type == ERL_BINARY_EXT) {
    if ((size_t)size >= cap || ei_decode_binary(b, idx, out, &blen) < 0)
      return PHC_EINVAL;
    out[blen] = 0;
    return blen ? 0 : PHC_EINVAL;
  }
  if (ei_decode_list_header(b, idx, &n) < 0 || n == 0 || (size_t)n * 4 >= cap)
    return PHC_EINVAL;
  size_t k = 0;
  for (int i = 0; i < n; i++) {
    if (ei_decode_long(b, idx, &c) < 0 || c < 1 || c > 0x10FFFF)
      return PHC_EINVAL;
    opts_utf8(out, &k, c);
  }
  out[k] = 0;
  return ei_skip_term(b, idx); /* the tail, [] */
}

/* An atom that must be one of a (NULL-ended) list; its position. */
static int opts_choice(const char *b, int *idx, const char *const *names) {
  char a[32];
  if (phc__term_atom(b, idx, a, sizeof a) < 0) return PHC_EINVAL;
  for (int i = 0; names[i]; i++)
    if (!strcmp(a, names[i])) return i;
  return PHC_EINVAL;
}

static const char *const opts_bool[] = {"false", "true", NULL};

static int opts_versions(const char *b, int *idx, int *out) {
  static const char *const vs[] = {"tlsv1.2", "tlsv1.3", NULL};
  int n, v = 0;
  if (ei_decode_list_header(b, idx, &n) < 0 || n == 0) return PHC_EINVAL;
  for (int i = 0; i < n; i++) {
    int k = opts_choice(b, idx, vs);
    if (k < 0) return PHC_EINVAL;
    v |= k ? PHC__TLS_V13 : PHC__TLS_V12;
  }
  *out = v;
  return ei_skip_term(b, idx);
}

static int opts_sni(const char *b, int *idx, phc__tls_side_t *s) {
  static const char *const dis[] = {"disable", NULL};
  int i = *idx;
  if (opts_choice(b, &i, dis) == 0) {
    s->sni_disable = 1;
    *idx = i;
    return 0;
  }
  return opts_text(b, idx, s->sni, sizeof s->sni);
}

/* Options without an effect on phc, checked for their type. */
static int opts_ignored(const char *key, const char *b, int *idx) {
  long v;
  if (!strcmp(key, "secure_renegotiate") || !strcmp(key, "reuse_sessions"))
    return opts_choice(b, idx, opts_bool) < 0 ? PHC_EINVAL : 0;
  if (!strcmp(key, "hibernate_after"))
    return ei_decode_long(b, idx, &v) < 0 || v < 0 ? PHC_EINVAL : 0;
  if (!strcmp(key, "crl_check"))
    return opts_choice(b, idx, opts_bool) == 0 ? 0 : PHC_EINVAL;
  return PHC_EUNDEF;
}

/* One {Key, Value} of a side. A known key with a bad value is PHC_EINVAL,
 * an unknown one PHC_EUNDEF. */
static int opts_one(phc__tls_side_t *s, int server, const char *key,
                    const char *b, int *idx) {
  static const char *const verify[] = {"verify_none", "verify_peer", NULL};
  long v;
  int k;
  if (!strcmp(key, "certfile"))
    return opts_text(b, idx, s->certfile, sizeof s->certfile);
  if (!strcmp(key, "keyfile"))
    return opts_text(b, idx, s->keyfile, sizeof s->keyfile);
  if (!strcmp(key, "cacertfile"))
    return opts_text(b, idx, s->cacertfile, sizeof s->cacertfile);
  if (!strcmp(key, "password"))
    return opts_text(b, idx, s->password, sizeof s->password);
  if (!strcmp(key, "verify"))
    return (s->verify = opts_choice(b, idx, verify)) < 0 ? PHC_EINVAL : 0;
  if (!strcmp(key, "fail_if_no_peer_cert") && server)
    return (s->fail_if_no_peer_cert = opts_choice(b, idx, opts_bool)) < 0
               ? PHC_EINVAL
               : 0;
  if (!strcmp(key, "depth")) {
    if (ei_decode_long(b, idx, &v) < 0 || v < 0 || v > 100) return PHC_EINVAL;
    s->depth = (int)v;
    return 0;
  }
  if (!strcmp(key, "versions")) return opts_versions(b, idx, &s->versions);
  if (!strcmp(key, "server_name_indication") && !server)
    return opts_sni(b, idx, s);
  k = opts_ignored(key, b, idx);
  return k;
}

static int opts_side(opts_rd_t *r, const char *side, const char *b, int *idx) {
  int server = !strcmp(side, "server"), n, arity;
  phc__tls_side_t *s = server ? &r->o->server : &r->o->client;
  if (ei_decode_list_header(b, idx, &n) < 0)
    return opts_bad(r, NULL, side, "needs a list of {Option, Value}");
  for (int i = 0; i < n; i++) {
    char key[64];
    if (ei_decode_tuple_header(b, idx, &arity) < 0 || arity != 2 ||
        phc__term_atom(b, idx, key, sizeof key) < 0)
      return opts_bad(r, NULL, side, "needs a list of {Option, Value}");
    int rc = opts_one(s, server, key, b, idx);
    if (rc == PHC_EUNDEF)
      return opts_bad(r, side, key, "unknown or not supported by phc");
    if (rc < 0) return opts_bad(r, side, key, "bad value");
  }
  if (n && ei_skip_term(b, idx) < 0)
    return opts_bad(r, NULL, side, "needs a proper list");
  return 0;
}

static int opts_term(void *arg, const char *b, int len) {
  opts_rd_t *r = arg;
  int idx = 1, n, arity;
  if (r->terms++ || phc__term_check(b, len) < 0 ||
      ei_decode_list_header(b, &idx, &n) < 0)
    return opts_bad(r, NULL, "the file",
                    "must hold one list: [{server, Opts}, {client, Opts}]");
  for (int i = 0; i < n; i++) {
    char side[16];
    if (ei_decode_tuple_header(b, &idx, &arity) < 0 || arity != 2 ||
        phc__term_atom(b, &idx, side, sizeof side) < 0 ||
        (strcmp(side, "server") && strcmp(side, "client")))
      return opts_bad(r, NULL, "the list",
                      "holds only {server, Opts} and "
                      "{client, Opts}");
    if (opts_side(r, side, b, &idx) < 0) return PHC_EINVAL;
  }
  return 0;
}

int phc__tls_opts_parse(phc__tls_opts_t *o, const char *text, size_t len,
                        char *err, size_t errlen) {
  memset(o, 0, sizeof *o);
  o->server.depth = o->client.depth = -1;
  opts_rd_t r = {.o = o, .err = err, .errlen = errlen};
  int rc = phc__parse_terms(text, len, opts_term, &r, err, errlen);
  if (rc == 0 && r.terms == 0)
    rc = opts_bad(&r, NULL, "the file",
                  "must hold one list: [{server, Opts}, {client, Opts}]");
  return rc;
}

int phc__tls_opts_load(phc__tls_opts_t *o, const char *path, char *err,
                       size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "ssl_dist_optfile %s: cannot read it", path);
    return PHC_EIO;
  }
  size_t cap = 1 << 16, n;
  char *text = phc__xmalloc(cap);
  n = fread(text, 1, cap, f);
  int too_big = !feof(f);
  fclose(f);
  char why[256] = "";
  int rc =
      too_big ? PHC_ELIMIT : phc__tls_opts_parse(o, text, n, why, sizeof why);
  free(text);
  if (too_big) snprintf(why, sizeof why, "larger than 64 KiB");
  if (rc) snprintf(err, errlen, "ssl_dist_optfile %s: %s", path, why);
  return rc == PHC_ELIMIT ? PHC_EINVAL : rc;
}
