/* parse.c - Erlang term text to ei-encoded terms (see parse.h). */
#include "term/parse.h"
#include "term/enc.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct parser_s {
  const char *s, *end;
  int line;
  char *err;
  size_t errlen;
  int depth;
} parser_t;

#define MAX_DEPTH 64

static int fail(parser_t *p, const char *what) {
  if (p->err && !p->err[0])
    snprintf(p->err, p->errlen, "line %d: %s", p->line, what);
  return PHC_EINVAL;
}

static void skip_ws(parser_t *p) {
  while (p->s < p->end) {
    if (*p->s == '%') {
      while (p->s < p->end && *p->s != '\n')
        p->s++;
    } else if (isspace((unsigned char)*p->s)) {
      if (*p->s == '\n') p->line++;
      p->s++;
    } else {
      return;
    }
  }
}

static int peek(parser_t *p) {
  skip_ws(p);
  return p->s < p->end ? (unsigned char)*p->s : -1;
}

static int expect(parser_t *p, char c) {
  if (peek(p) != (unsigned char)c) {
    char m[32];
    snprintf(m, sizeof m, "expected '%c'", c);
    return fail(p, m);
  }
  p->s++;
  return 0;
}

/* A quoted run ('atom' or "string") into buf; handles \\ \' \" \n \t. */
static int quoted(parser_t *p, char q, char *buf, size_t max, size_t *out) {
  size_t n = 0;
  p->s++;
  while (p->s < p->end && *p->s != q) {
    char c = *p->s++;
    if (c == '\n') p->line++;
    if (c == '\\' && p->s < p->end) {
      c = *p->s++;
      c = c == 'n' ? '\n' : c == 't' ? '\t' : c;
    }
    if (n + 1 >= max) return fail(p, "quoted text too long");
    buf[n++] = c;
  }
  if (p->s >= p->end) return fail(p, "unterminated quote");
  p->s++;
  buf[n] = 0;
  *out = n;
  return 0;
}

static int parse_term(parser_t *p, ei_x_buff *x);

static int parse_atom(parser_t *p, ei_x_buff *x) {
  char buf[PHC__ATOM_MAX];
  size_t n = 0;
  if (*p->s == '\'') {
    if (quoted(p, '\'', buf, sizeof buf, &n)) return PHC_EINVAL;
  } else {
    while (p->s < p->end && (isalnum((unsigned char)*p->s) || *p->s == '_' ||
                             *p->s == '@' || *p->s == '.')) {
      if (n + 1 >= sizeof buf) return fail(p, "atom too long");
      buf[n++] = *p->s++;
    }
    buf[n] = 0;
    /* a trailing '.' ends the term, it is not part of the atom */
    while (n > 0 && buf[n - 1] == '.') {
      buf[--n] = 0;
      p->s--;
    }
  }
  return phc__x_atom_len(x, buf, (int)n) < 0 ? fail(p, "bad atom") : 0;
}

static int parse_number(parser_t *p, ei_x_buff *x) {
  char buf[64];
  size_t n = 0;
  int is_float = 0;
  if (*p->s == '-' || *p->s == '+') buf[n++] = *p->s++;
  while (
      p->s < p->end && n + 1 < sizeof buf &&
      (isdigit((unsigned char)*p->s) || *p->s == '_' ||
       (*p->s == '.' && p->s + 1 < p->end && isdigit((unsigned char)p->s[1])) ||
       (is_float && (*p->s == 'e' || *p->s == 'E' || *p->s == '-')))) {
    if (*p->s == '.') is_float = 1;
    if (*p->s != '_') buf[n++] = *p->s;
    p->s++;
  }
  buf[n] = 0;
  errno = 0;
  char *end;
  if (is_float) {
    double d = strtod(buf, &end);
    if (*end || errno) return fail(p, "bad float");
    return phc__x_double(x, d) < 0 ? PHC_ENOMEM : 0;
  }
  long long v = strtoll(buf, &end, 10);
  if (*end || errno || end == buf) return fail(p, "bad integer");
  return phc__x_longlong(x, v) < 0 ? PHC_ENOMEM : 0;
}

/* "text": a list of the character codes (UTF-8 decoded). */
static int parse_string(parser_t *p, ei_x_buff *x) {
  char buf[4096];
  size_t n;
  if (quoted(p, '"', buf, sizeof buf, &n)) return PHC_EINVAL;
  long codes[4096];
  int k = 0;
  for (size_t i = 0; i < n;) {
    unsigned char c = (unsigned char)buf[i];
    int extra = c < 0x80 ? 0 : c < 0xE0 ? 1 : c < 0xF0 ? 2 : 3;
    long cp = extra ? c & (0x3F >> extra) : c;
    if (extra && i + (size_t)extra >= n) return fail(p, "bad UTF-8");
    for (int j = 1; j <= extra; j++)
      cp = (cp << 6) | (buf[i + j] & 0x3F);
    codes[k++] = cp;
    i += (size_t)extra + 1;
  }
  if (k) phc__x_list_header(x, k);
  for (int i = 0; i < k; i++)
    phc__x_long(x, codes[i]);
  return phc__x_empty_list(x) < 0 ? PHC_ENOMEM : 0;
}

/* <<"text">> or <<>> */
static int parse_binary(parser_t *p, ei_x_buff *x) {
  char buf[4096];
  size_t n = 0;
  p->s += 2;
  if (peek(p) == '"' && quoted(p, '"', buf, sizeof buf, &n)) return PHC_EINVAL;
  if (peek(p) != '>' || p->s + 1 >= p->end || p->s[1] != '>')
    return fail(p, "expected '>>' (only <<\"text\">> binaries)");
  p->s += 2;
  return phc__x_binary(x, buf, (long)n) < 0 ? PHC_ENOMEM : 0;
}

/* Elements up to `close`; each is encoded into x; *n counts them. A '|'
 * tail is allowed in lists (tail_ok). */
static int parse_seq(parser_t *p, ei_x_buff *x, char close, int *n, int tail_ok,
                     int *has_tail) {
  *n = 0;
  if (has_tail) *has_tail = 0;
  if (peek(p) == (unsigned char)close) {
    p->s++;
    return 0;
  }
  for (;;) {
    if (parse_term(p, x)) return PHC_EINVAL;
    (*n)++;
    int c = peek(p);
    if (c == ',') {
      p->s++;
    } else if (c == '|' && tail_ok) {
      p->s++;
      if (parse_term(p, x)) return PHC_EINVAL;
      *has_tail = 1;
      return expect(p, close);
    } else {
      return expect(p, close);
    }
  }
}

static int parse_container(parser_t *p, ei_x_buff *x, char open) {
  ei_x_buff items;
  int n, tail = 0, rc;
  phc__x_new(&items);
  p->s++;
  if (open == '{')
    rc = parse_seq(p, &items, '}', &n, 0, NULL);
  else
    rc = parse_seq(p, &items, ']', &n, 1, &tail);
  if (rc == 0) {
    if (open == '{')
      phc__x_tuple_header(x, n);
    else if (n)
      phc__x_list_header(x, n);
    phc__x_append_buf(x, items.buff, items.index);
    if (open == '[' && !tail) phc__x_empty_list(x);
  }
  ei_x_free(&items);
  return rc;
}

static int parse_map(parser_t *p, ei_x_buff *x) {
  ei_x_buff items;
  int n = 0;
  phc__x_new(&items);
  p->s += 2;
  if (peek(p) == '}') {
    p->s++;
  } else {
    for (;;) {
      if (parse_term(p, &items) || peek(p) != '=' || p->s + 1 >= p->end ||
          p->s[1] != '>') {
        ei_x_free(&items);
        return fail(p, "expected 'Key => Value' in a map");
      }
      p->s += 2;
      if (parse_term(p, &items)) {
        ei_x_free(&items);
        return PHC_EINVAL;
      }
      n++;
      int c = peek(p);
      if (c == ',') {
        p->s++;
        continue;
      }
      if (expect(p, '}')) {
        ei_x_free(&items);
        return PHC_EINVAL;
      }
      break;
    }
  }
  phc__x_map_header(x, n);
  phc__x_append_buf(x, items.buff, items.index);
  ei_x_free(&items);
  return 0;
}

static int parse_term(parser_t *p, ei_x_buff *x) {
  int c = peek(p), rc;
  if (c < 0) return fail(p, "unexpected end of file");
  if (++p->depth > MAX_DEPTH) return fail(p, "nested too deep");
  if (c == '{' || c == '[')
    rc = parse_container(p, x, (char)c);
  else if (c == '#' && p->s + 1 < p->end && p->s[1] == '{')
    rc = parse_map(p, x);
  else if (c == '<' && p->s + 1 < p->end && p->s[1] == '<')
    rc = parse_binary(p, x);
  else if (c == '"')
    rc = parse_string(p, x);
  else if (isdigit(c) || c == '-' || c == '+')
    rc = parse_number(p, x);
  else if (islower(c) || c == '\'')
    rc = parse_atom(p, x);
  else
    rc = fail(p, "unexpected character");
  p->depth--;
  return rc;
}

int phc__parse_terms(const char *text, size_t len, phc__parse_cb cb, void *arg,
                     char *err, size_t errlen) {
  parser_t p = {
      .s = text, .end = text + len, .line = 1, .err = err, .errlen = errlen};
  if (err && errlen) err[0] = 0;
  while (peek(&p) >= 0) {
    ei_x_buff x;
    phc__x_new_with_version(&x);
    int rc = parse_term(&p, &x);
    if (rc == 0) rc = expect(&p, '.');
    if (rc == 0) rc = cb(arg, x.buff, x.index);
    ei_x_free(&x);
    if (rc) return rc;
  }
  return 0;
}
