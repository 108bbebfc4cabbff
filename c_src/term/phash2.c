/* phash2.c - ERTS's make_hash2 over external-format bytes (see phash2.h).
 * The walk visits a term in the order ERTS's explicit stack does: tuple
 * elements and list cells left to right, a map's pairs each from a zero
 * hash, xor-ed together. */
#include "term/phash2.h"

#include <string.h>

#include "common.h"
#include "term/cursor.h"
#include "term/jhash.h"
#include "term/term.h"

#define PH_HC PHC__JHASH_GOLDEN
#define PH_HC2 0x3c6ef372U
#define PH_HC3 0xdaa66d2bU
#define PH_HC4 0x78dde6e4U
#define PH_HC5 0x1715609dU
#define PH_HC6 0xb54cda56U
#define PH_HC7 0x5384540fU
#define PH_HC9 0x8ff34781U
#define PH_HC10 0x2e2ac13aU
#define PH_HC11 0xcc623af3U
#define PH_HC12 0x6a99b4acU
#define PH_HC13 0x08d12e65U
#define PH_HC15 0x454021d7U
#define PH_HC16 0xe3779b90U
#define PH_HC19 0xbe1e08bbU
#define PH_NIL_TOP 3468870702U
#define PH_NIL_DEF 2U /* what a nested [] mixes in (from golden vectors) */
#define PH_DEPTH 200

typedef struct ph_s {
  phc__cur_t c;
  uint32_t hash;
  uint32_t xor_pairs;
} ph_t;

static void ph_u32_2(ph_t *h, uint32_t e1, uint32_t e2, uint32_t k) {
  uint32_t a = k + e1, b = k + e2;
  phc__jhash_mix(&a, &b, &h->hash);
}

static void ph_u32(ph_t *h, uint32_t e, uint32_t k) { ph_u32_2(h, e, 0, k); }

uint32_t phc__phash2_atom(const char *name, size_t n, int utf8) {
  const uint8_t *p = (const uint8_t *)name;
  uint32_t h = 0, g;
  while (n--) {
    uint32_t v = *p++;
    /* the atom table's latin-1 clutch: a 2-byte UTF-8 U+0080..U+00FF
     * hashes as its latin-1 code */
    if (utf8 && n && (v & 0xFE) == 0xC2 && (*p & 0xC0) == 0x80) {
      v = ((v << 6) | (*p & 0x3F)) & 0xFF;
      p++;
      n--;
    }
    h = (h << 4) + v;
    if ((g = h & 0xf0000000U)) {
      h ^= (g >> 24);
      h ^= g;
    }
  }
  return h;
}

/* An integer: sign and magnitude (n little-endian bytes at mag). */
static void ph_integer(ph_t *h, int neg, const uint8_t *mag, size_t n) {
  while (n > 0 && mag[n - 1] == 0)
    n--;
  uint64_t low = 0;
  for (size_t i = 0; i < n && i < 8; i++)
    low |= (uint64_t)mag[i] << (8 * i);
  if (n <= 4 && low <= (neg ? (1U << 27) : (1U << 27) - 1)) {
    int32_t y = neg ? -(int32_t)low : (int32_t)low;
    if (y < 0) ph_u32(h, (uint32_t)-y, PH_HC); /* mixed twice, as ERTS */
    ph_u32(h, (uint32_t)y, PH_HC);
    return;
  }
  uint32_t con = neg ? PH_HC10 : PH_HC11;
  for (size_t i = 0; i < n; i += 8) {
    uint32_t w[2] = {0, 0};
    for (size_t j = 0; j < 8 && i + j < n; j++)
      w[j / 4] |= (uint32_t)mag[i + j] << (8 * (j % 4));
    ph_u32_2(h, w[0], w[1], con);
  }
}

static void ph_long(ph_t *h, int64_t v) {
  uint8_t mag[8];
  uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  for (int i = 0; i < 8; i++)
    mag[i] = (uint8_t)(m >> (8 * i));
  ph_integer(h, v < 0, mag, 8);
}

static void ph_atom(ph_t *h, const uint8_t *name, size_t n, int utf8) {
  uint32_t v = phc__phash2_atom((const char *)name, n, utf8);
  if (h->hash == 0)
    h->hash = v;
  else
    ph_u32(h, v, PH_HC3);
}

static void ph_nil(ph_t *h) {
  if (h->hash == 0)
    h->hash = PH_NIL_TOP;
  else
    ph_u32(h, PH_NIL_DEF, PH_HC2);
}

/* bytes full bytes, then bits (0..7) more bits at the top of the next. */
static void ph_bits(ph_t *h, const uint8_t *p, size_t bytes, unsigned bits) {
  uint32_t con = PH_HC13 + h->hash;
  if (bytes == 0 && bits == 0) {
    h->hash = con;
    return;
  }
  h->hash = phc__jhash_block(p, bytes & 0xFFFFFFFFU, con);
  if (bits > 0) ph_u32_2(h, bits, p[bytes] >> (8 - bits), PH_HC15);
}

static void ph_double(ph_t *h, double d) {
  uint64_t u;
  if (d == 0.0) d = 0.0; /* -0.0 hashes as 0.0 */
  memcpy(&u, &d, sizeof u);
  ph_u32_2(h, (uint32_t)(u >> 32), (uint32_t)u, PH_HC12);
}

static int ph_term(ph_t *h, int depth);

/* A list's elements: byte runs four at a time, others one by one. */
static int ph_list_elems(ph_t *h, uint32_t n, int depth) {
  uint32_t sh = 0;
  int c = 0;
  for (uint32_t i = 0; i < n; i++) {
    phc__cur_t *cu = &h->c;
    if (phc__cur_need(cu, 2) && cu->b[cu->i] == PHC__TAG_SMALL_INT) {
      sh = (sh << 8) + cu->b[cu->i + 1];
      cu->i += 2;
      if (c == 3) {
        ph_u32(h, sh, PH_HC4);
        c = 0;
        sh = 0;
      } else {
        c++;
      }
      continue;
    }
    if (c > 0) ph_u32(h, sh, PH_HC4);
    c = 0;
    sh = 0;
    if (ph_term(h, depth + 1) < 0) return PHC_EINVAL;
  }
  if (c > 0) ph_u32(h, sh, PH_HC4);
  return 0;
}

static int ph_string(ph_t *h, uint32_t n) {
  uint32_t sh = 0;
  int c = 0;
  if (!phc__cur_need(&h->c, n)) return PHC_EDECODE;
  for (uint32_t i = 0; i < n; i++) {
    sh = (sh << 8) + phc__cur_u8(&h->c);
    if (c == 3) {
      ph_u32(h, sh, PH_HC4);
      c = 0;
      sh = 0;
    } else {
      c++;
    }
  }
  if (c > 0) ph_u32(h, sh, PH_HC4);
  ph_nil(h);
  return 0;
}

/* #{K => V}: each pair hashed from zero, the pairs xor-ed. */
static int ph_map(ph_t *h, uint32_t n, int depth) {
  ph_u32(h, n, PH_HC16);
  if (n == 0) return 0;
  uint32_t saved = h->hash, saved_xor = h->xor_pairs;
  h->hash = 0;
  h->xor_pairs = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (ph_term(h, depth + 1) < 0 || ph_term(h, depth + 1) < 0)
      return PHC_EINVAL;
    h->xor_pairs ^= h->hash;
    h->hash = 0;
  }
  h->hash = saved;
  ph_u32(h, h->xor_pairs, PH_HC19);
  h->xor_pairs = saved_xor;
  return 0;
}

/* An atom's name after its tag: a 1- or 2-byte length. */
static int ph_atom_at(ph_t *h, int lenbytes, int utf8) {
  phc__cur_t *c = &h->c;
  if (!phc__cur_need(c, lenbytes)) return PHC_EDECODE;
  uint32_t n = lenbytes == 1 ? phc__cur_u8(c) : phc__cur_u16(c);
  if (!phc__cur_need(c, n)) return PHC_EDECODE;
  ph_atom(h, c->b + c->i, n, utf8);
  c->i += n;
  return 0;
}

/* Move past the atom (a node name) at the cursor. */
static int ph_skip_atom(ph_t *h) {
  int idx = (int)h->c.i;
  if (phc__term_skip((const char *)h->c.b, (int)h->c.len, &idx) < 0)
    return PHC_EDECODE;
  h->c.i = (size_t)idx;
  return 0;
}

/* Pids hash their number; references their first id word; ports their
 * number (low and high words). */
static int ph_ident(ph_t *h, int tag) {
  phc__cur_t *c = &h->c;
  if (tag == PHC__TAG_NEWER_REF || tag == PHC__TAG_NEW_REF) {
    if (!phc__cur_need(c, 2)) return PHC_EDECODE;
    uint32_t nid = phc__cur_u16(c);
    int cre = tag == PHC__TAG_NEWER_REF ? 4 : 1;
    if (ph_skip_atom(h) < 0 || !phc__cur_need(c, cre + 4 * (uint64_t)nid) ||
        nid == 0)
      return PHC_EDECODE;
    c->i += (size_t)cre;
    ph_u32(h, phc__cur_u32(c), PH_HC7);
    c->i += 4 * (nid - 1);
    return 0;
  }
  int need = tag == PHC__TAG_NEW_PID    ? 12
             : tag == PHC__TAG_PID      ? 9
             : tag == PHC__TAG_V4_PORT  ? 12
             : tag == PHC__TAG_NEW_PORT ? 8
                                        : 5;
  if (ph_skip_atom(h) < 0 || !phc__cur_need(c, need)) return PHC_EDECODE;
  if (tag == PHC__TAG_NEW_PID || tag == PHC__TAG_PID) {
    ph_u32(h, phc__cur_u32(c), PH_HC5);
    c->i += tag == PHC__TAG_NEW_PID ? 8 : 5;
    return 0;
  }
  uint64_t num = phc__cur_u32(c);
  if (tag == PHC__TAG_V4_PORT) num = (num << 32) | phc__cur_u32(c);
  c->i += tag == PHC__TAG_NEW_PORT ? 4 : 1;
  ph_u32_2(h, (uint32_t)num, (uint32_t)(num >> 32), PH_HC6);
  return 0;
}

static int ph_binary(ph_t *h, int tag) {
  phc__cur_t *c = &h->c;
  if (!phc__cur_need(c, tag == PHC__TAG_BINARY ? 4 : 5)) return PHC_EDECODE;
  uint32_t n = phc__cur_u32(c);
  unsigned bits = tag == PHC__TAG_BINARY ? 8 : phc__cur_u8(c);
  if (!phc__cur_need(c, n) || bits == 0 || bits > 8 || (n == 0 && bits != 8))
    return PHC_EDECODE;
  if (bits == 8)
    ph_bits(h, c->b + c->i, n, 0);
  else
    ph_bits(h, c->b + c->i, n - 1, bits);
  c->i += n;
  return 0;
}

static int ph_big(ph_t *h, int tag) {
  phc__cur_t *c = &h->c;
  if (!phc__cur_need(c, tag == PHC__TAG_SMALL_BIG ? 2 : 5)) return PHC_EDECODE;
  uint32_t n = tag == PHC__TAG_SMALL_BIG ? phc__cur_u8(c) : phc__cur_u32(c);
  if (!phc__cur_need(c, (uint64_t)n + 1)) return PHC_EDECODE;
  int neg = phc__cur_u8(c) != 0;
  ph_integer(h, neg, c->b + c->i, n);
  c->i += n;
  return 0;
}

static int ph_compound(ph_t *h, int tag, int depth) {
  phc__cur_t *c = &h->c;
  uint32_t n;
  switch (tag) {
  case PHC__TAG_SMALL_TUPLE:
  case PHC__TAG_LARGE_TUPLE:
    if (!phc__cur_need(c, tag == PHC__TAG_SMALL_TUPLE ? 1 : 4))
      return PHC_EDECODE;
    n = tag == PHC__TAG_SMALL_TUPLE ? phc__cur_u8(c) : phc__cur_u32(c);
    ph_u32(h, n, PH_HC9);
    for (uint32_t i = 0; i < n; i++)
      if (ph_term(h, depth + 1) < 0) return PHC_EINVAL;
    return 0;
  case PHC__TAG_LIST:
    if (!phc__cur_need(c, 4)) return PHC_EDECODE;
    n = phc__cur_u32(c);
    if (ph_list_elems(h, n, depth) < 0) return PHC_EINVAL;
    return ph_term(h, depth + 1); /* the tail */
  case PHC__TAG_STRING:
    if (!phc__cur_need(c, 2)) return PHC_EDECODE;
    return ph_string(h, phc__cur_u16(c));
  case PHC__TAG_MAP:
    if (!phc__cur_need(c, 4)) return PHC_EDECODE;
    return ph_map(h, phc__cur_u32(c), depth);
  default: return PHC_EINVAL;
  }
}

static int ph_term(ph_t *h, int depth) {
  phc__cur_t *c = &h->c;
  if (depth > PH_DEPTH || !phc__cur_need(c, 1)) return PHC_EDECODE;
  int tag = (int)phc__cur_u8(c);
  switch (tag) {
  case PHC__TAG_SMALL_INT:
    if (!phc__cur_need(c, 1)) return PHC_EDECODE;
    ph_long(h, phc__cur_u8(c));
    return 0;
  case PHC__TAG_INT:
    if (!phc__cur_need(c, 4)) return PHC_EDECODE;
    ph_long(h, (int32_t)phc__cur_u32(c));
    return 0;
  case PHC__TAG_SMALL_BIG:
  case PHC__TAG_LARGE_BIG: return ph_big(h, tag);
  case PHC__TAG_NEW_FLOAT: {
    if (!phc__cur_need(c, 8)) return PHC_EDECODE;
    uint64_t u = ((uint64_t)phc__cur_u32(c) << 32);
    u |= phc__cur_u32(c);
    double d;
    memcpy(&d, &u, sizeof d);
    ph_double(h, d);
    return 0;
  }
  case PHC__TAG_ATOM: return ph_atom_at(h, 2, 0);
  case PHC__TAG_SMALL_ATOM: return ph_atom_at(h, 1, 0);
  case PHC__TAG_ATOM_UTF8: return ph_atom_at(h, 2, 1);
  case PHC__TAG_SMALL_ATOM_UTF8: return ph_atom_at(h, 1, 1);
  case PHC__TAG_NIL: ph_nil(h); return 0;
  case PHC__TAG_BINARY:
  case PHC__TAG_BIT_BINARY: return ph_binary(h, tag);
  case PHC__TAG_NEW_PID:
  case PHC__TAG_PID:
  case PHC__TAG_NEWER_REF:
  case PHC__TAG_NEW_REF:
  case PHC__TAG_V4_PORT:
  case PHC__TAG_NEW_PORT:
  case PHC__TAG_PORT: return ph_ident(h, tag);
  default: return ph_compound(h, tag, depth);
  }
}

int phc__phash2_raw(const char *buf, int len, int idx, uint32_t *out) {
  int end = idx;
  if (!buf || idx < 0 || phc__term_skip(buf, len, &end) < 0) return PHC_EDECODE;
  ph_t h = {{(const uint8_t *)buf, (size_t)end, (size_t)idx}, 0, 0};
  int rc = ph_term(&h, 0);
  if (rc < 0) return rc == PHC_EDECODE ? PHC_EDECODE : PHC_EINVAL;
  *out = h.hash;
  return 0;
}

int phc__phash2(const char *buf, int len, int idx, uint64_t range,
                uint32_t *out) {
  uint32_t raw;
  if (range == 0 || range > ((uint64_t)1 << 32)) return PHC_EINVAL;
  int rc = phc__phash2_raw(buf, len, idx, &raw);
  if (rc == 0) *out = (uint32_t)(raw % range);
  return rc;
}
