/* order.c - Erlang term order (erts_cmp) over encoded terms. */
#include "term/order.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "term/ext.h"

typedef struct side {
  const char *buf;
  int len;
  int i;
} side_t;

static int cmp_term(side_t *a, side_t *b, int exact, int depth, int *out);

static int sign_of(long long v) { return (v > 0) - (v < 0); }

int phc__atom_compare(const char *a, const char *b) {
  return sign_of(strcmp(a, b)); /* strcmp compares as unsigned char */
}

static int cmp_bytes(const void *a, size_t alen, const void *b, size_t blen) {
  size_t n = alen < blen ? alen : blen;
  int c = n ? memcmp(a, b, n) : 0;
  if (c) return sign_of(c);
  return (alen > blen) - (alen < blen);
}

/* ---- numbers ------------------------------------------------------------ */

/* Magnitudes, little-endian without high zero bytes. */
static int cmp_mag(const uint8_t *a, size_t alen, const uint8_t *b,
                   size_t blen) {
  if (alen != blen) return alen < blen ? -1 : 1;
  for (size_t k = alen; k-- > 0;)
    if (a[k] != b[k]) return a[k] < b[k] ? -1 : 1;
  return 0;
}

static int int_sign(const phc__ext_item_t *n) {
  return n->mag_len == 0 ? 0 : n->neg ? -1 : 1;
}

static int cmp_int_int(const phc__ext_item_t *a, const phc__ext_item_t *b) {
  int sa = int_sign(a), sb = int_sign(b);
  if (sa != sb) return sa < sb ? -1 : 1;
  int c = cmp_mag(a->mag, a->mag_len, b->mag, b->mag_len);
  return sa < 0 ? -c : c;
}

/* An integer against a finite double, exactly. */
static int cmp_int_double(const phc__ext_item_t *a, double d) {
  int sa = int_sign(a), sd = (d > 0) - (d < 0);
  if (sa != sd) return sa < sd ? -1 : 1;
  if (sa == 0) return 0;
  double m = fabs(d), whole = floor(m);
  int has_frac = m != whole;
  /* The integral part of |d| as a little-endian magnitude. */
  uint8_t buf[140];
  size_t n = 0;
  if (whole < 18446744073709551616.0) {
    uint64_t w = (uint64_t)whole;
    while (w) {
      buf[n++] = (uint8_t)w;
      w >>= 8;
    }
  } else {
    int e;
    double f = frexp(whole, &e); /* whole = f * 2^e, f in [0.5, 1) */
    uint64_t mant = (uint64_t)ldexp(f, 53);
    int shift = e - 53; /* >= 11 here */
    memset(buf, 0, sizeof buf);
    for (int bit = 0; bit < 53; bit++) {
      if (!(mant >> bit & 1)) continue;
      int pos = bit + shift;
      buf[pos / 8] |= (uint8_t)(1u << (pos % 8));
    }
    n = (size_t)(e + 7) / 8;
    while (n > 0 && buf[n - 1] == 0)
      n--;
  }
  int c = cmp_mag(a->mag, a->mag_len, buf, n);
  if (c == 0 && has_frac) c = -1;
  return sa < 0 ? -c : c;
}

static int cmp_numbers(const phc__ext_item_t *a, const phc__ext_item_t *b,
                       int exact) {
  if (a->is_float && b->is_float) return (a->d > b->d) - (a->d < b->d);
  if (!a->is_float && !b->is_float) return cmp_int_int(a, b);
  if (exact) return a->is_float ? 1 : -1; /* integers before floats */
  return a->is_float ? -cmp_int_double(b, a->d) : cmp_int_double(a, b->d);
}

/* ---- identifiers and bitstrings ------------------------------------------ */

static int cmp_node(const phc__ext_item_t *a, const phc__ext_item_t *b) {
  int c = cmp_bytes(a->atom, a->atom_len, b->atom, b->atom_len);
  if (c) return c;
  return (a->creation > b->creation) - (a->creation < b->creation);
}

static int cmp_u64(uint64_t a, uint64_t b) { return (a > b) - (a < b); }

static int cmp_refs(const phc__ext_item_t *a, const phc__ext_item_t *b) {
  int c = cmp_node(a, b);
  if (c) return c;
  int al = a->nwords, bl = b->nwords;
  for (; al > bl; al--)
    if (a->words[al - 1] != 0) return 1;
  for (; bl > al; bl--)
    if (b->words[bl - 1] != 0) return -1;
  for (int k = al - 1; k >= 0; k--)
    if (a->words[k] != b->words[k]) return a->words[k] < b->words[k] ? -1 : 1;
  return 0;
}

static int cmp_pids(const phc__ext_item_t *a, const phc__ext_item_t *b) {
  int c = cmp_u64(a->serial, b->serial);
  if (!c) c = cmp_u64(a->id, b->id);
  return c ? c : cmp_node(a, b);
}

static int cmp_bits(const phc__ext_item_t *a, const phc__ext_item_t *b) {
  if (a->last_bits == 8 && b->last_bits == 8)
    return cmp_bytes(a->bytes, a->nbytes, b->bytes, b->nbytes);
  uint64_t abits = a->nbytes ? (a->nbytes - 1) * 8 + (uint64_t)a->last_bits : 0;
  uint64_t bbits = b->nbytes ? (b->nbytes - 1) * 8 + (uint64_t)b->last_bits : 0;
  uint64_t min = abits < bbits ? abits : bbits;
  size_t whole = (size_t)(min / 8);
  int c = whole ? memcmp(a->bytes, b->bytes, whole) : 0;
  if (c) return sign_of(c);
  unsigned rest = (unsigned)(min % 8);
  if (rest) {
    uint8_t mask = (uint8_t)(0xFF << (8 - rest));
    uint8_t x = a->bytes[whole] & mask, y = b->bytes[whole] & mask;
    if (x != y) return x < y ? -1 : 1;
  }
  return cmp_u64(abits, bbits);
}

/* ---- containers --------------------------------------------------------- */

static int skip_nil(side_t *s) {
  s->i += s->buf[s->i] == (char)PHC__TAG_NIL ? 1 : 3;
  return 0;
}

static int cmp_tuple(side_t *a, side_t *b, uint32_t arity, int exact, int depth,
                     int *out) {
  for (uint32_t k = 0; k < arity; k++) {
    int rc = cmp_term(a, b, exact, depth + 1, out);
    if (rc || *out) return rc;
  }
  return 0;
}

static int class_of(const side_t *s, int *cls) {
  phc__ext_item_t it;
  int i = s->i, rc = phc__ext_read(s->buf, s->len, &i, &it);
  *cls = it.cls;
  return rc;
}

static int cmp_list(side_t *a, side_t *b, int exact, int depth, int *out) {
  phc__ext_list_iter_t la, lb;
  phc__ext_list_begin(&la, a->buf, a->len, a->i);
  phc__ext_list_begin(&lb, b->buf, b->len, b->i);
  la.depth = lb.depth = depth;
  for (;;) {
    int ra = phc__ext_list_next(&la), rb = phc__ext_list_next(&lb), rc;
    if (ra < 0 || rb < 0) return PHC_EDECODE;
    if (ra == 1 && rb == 1) {
      side_t ea = {la.elem_buf, la.elem_len, la.elem_index};
      side_t eb = {lb.elem_buf, lb.elem_len, lb.elem_index};
      if ((rc = cmp_term(&ea, &eb, exact, depth + 1, out)) || *out) return rc;
      continue;
    }
    if (ra == 0 && rb == 0) { /* both ended: compare the tails */
      side_t ta = {la.tail_buf, la.tail_len, la.tail_index};
      side_t tb = {lb.tail_buf, lb.tail_len, lb.tail_index};
      if ((rc = cmp_term(&ta, &tb, exact, depth + 1, out)) || *out) return rc;
      a->i = la.tail_implicit ? la.index : ta.i;
      b->i = lb.tail_implicit ? lb.index : tb.i;
      return 0;
    }
    /* One side ended: its tail (nil or a non-list) against a list. */
    const phc__ext_list_iter_t *ended = ra == 0 ? &la : &lb;
    side_t t = {ended->tail_buf, ended->tail_len, ended->tail_index};
    int cls;
    if ((rc = class_of(&t, &cls))) return rc;
    int c = cls < PHC__EXT_LIST ? -1 : 1;
    *out = ra == 0 ? c : -c;
    return 0;
  }
}

typedef struct kv {
  const char *buf;
  int len;
  int key;
  int value;
} kv_t;

static int cmp_kv_exact(const void *x, const void *y) {
  const kv_t *p = x, *q = y;
  int c = 0;
  phc__term_compare_exact(p->buf + p->key, p->len - p->key, q->buf + q->key,
                          q->len - q->key, &c);
  return c;
}

/* Collect and sort the n pairs at s->i; s->i moves past the map. */
static int map_pairs(side_t *s, uint32_t n, kv_t **out) {
  if (n > (uint32_t)(s->len - s->i)) return PHC_EDECODE;
  kv_t *kv = phc__xcalloc(n ? n : 1, sizeof *kv);
  int rc = 0;
  for (uint32_t k = 0; k < n && rc == 0; k++) {
    kv[k] = (kv_t){s->buf, s->len, s->i, 0};
    rc = phc__term_skip(s->buf, s->len, &s->i);
    kv[k].value = s->i;
    if (rc == 0) rc = phc__term_skip(s->buf, s->len, &s->i);
  }
  if (rc) {
    free(kv);
    return rc;
  }
  qsort(kv, n, sizeof *kv, cmp_kv_exact);
  *out = kv;
  return 0;
}

static int cmp_map(side_t *a, side_t *b, uint32_t n, int exact, int depth,
                   int *out) {
  kv_t *ka = NULL, *kb = NULL;
  int rc = map_pairs(a, n, &ka);
  if (rc == 0) rc = map_pairs(b, n, &kb);
  for (uint32_t k = 0; rc == 0 && *out == 0 && k < n; k++) {
    side_t x = {a->buf, a->len, ka[k].key}, y = {b->buf, b->len, kb[k].key};
    rc = cmp_term(&x, &y, 1, depth + 1, out);
  }
  for (uint32_t k = 0; rc == 0 && *out == 0 && k < n; k++) {
    side_t x = {a->buf, a->len, ka[k].value};
    side_t y = {b->buf, b->len, kb[k].value};
    rc = cmp_term(&x, &y, exact, depth + 1, out);
  }
  free(ka);
  free(kb);
  return rc;
}

/* ---- dispatch ----------------------------------------------------------- */

static int cmp_term(side_t *a, side_t *b, int exact, int depth, int *out) {
  if (depth > PHC__TERM_MAX_DEPTH) return PHC_EDECODE;
  phc__ext_item_t *x = phc__xmalloc(2 * sizeof *x), *y = x + 1;
  int rc = phc__ext_read(a->buf, a->len, &a->i, x);
  if (rc == 0) rc = phc__ext_read(b->buf, b->len, &b->i, y);
  *out = 0;
  if (rc == 0 && x->cls != y->cls) {
    *out = x->cls < y->cls ? -1 : 1;
  } else if (rc == 0) {
    switch (x->cls) {
    case PHC__EXT_NUMBER: *out = cmp_numbers(x, y, exact); break;
    case PHC__EXT_ATOM:
      *out = cmp_bytes(x->atom, x->atom_len, y->atom, y->atom_len);
      break;
    case PHC__EXT_REF: *out = cmp_refs(x, y); break;
    case PHC__EXT_PORT:
      *out = cmp_node(x, y);
      if (!*out) *out = cmp_u64(x->id, y->id);
      break;
    case PHC__EXT_PID: *out = cmp_pids(x, y); break;
    case PHC__EXT_BITS: *out = cmp_bits(x, y); break;
    case PHC__EXT_NIL:
      skip_nil(a);
      skip_nil(b);
      break;
    case PHC__EXT_TUPLE:
      if (x->arity != y->arity)
        *out = x->arity < y->arity ? -1 : 1;
      else
        rc = cmp_tuple(a, b, x->arity, exact, depth, out);
      break;
    case PHC__EXT_MAP:
      if (x->arity != y->arity)
        *out = x->arity < y->arity ? -1 : 1;
      else
        rc = cmp_map(a, b, x->arity, exact, depth, out);
      break;
    case PHC__EXT_LIST: rc = cmp_list(a, b, exact, depth, out); break;
    default: rc = PHC_EINVAL; break; /* funs */
    }
  }
  free(x);
  return rc;
}

static int compare(const char *a, int alen, const char *b, int blen, int exact,
                   int *cmp) {
  side_t sa = {a, alen, 0}, sb = {b, blen, 0};
  *cmp = 0;
  if (!a || !b || alen < 1 || blen < 1) return PHC_EDECODE;
  int rc = cmp_term(&sa, &sb, exact, 0, cmp);
  if (rc) *cmp = 0;
  return rc;
}

int phc__term_compare(const char *a, int alen, const char *b, int blen,
                      int *cmp) {
  return compare(a, alen, b, blen, 0, cmp);
}

int phc__term_compare_exact(const char *a, int alen, const char *b, int blen,
                            int *cmp) {
  return compare(a, alen, b, blen, 1, cmp);
}

int phc__term_compare_v(const char *a, int alen, const char *b, int blen,
                        int *cmp) {
  *cmp = 0;
  if (!a || !b || alen < 2 || blen < 2 || (uint8_t)a[0] != PHC__TAG_VERSION ||
      (uint8_t)b[0] != PHC__TAG_VERSION)
    return PHC_EDECODE;
  return compare(a + 1, alen - 1, b + 1, blen - 1, 0, cmp);
}
