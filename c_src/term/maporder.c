/* maporder.c - map iteration order (see maporder.h). The hash walks a key
 * as ERTS's make_internal_hash does with its explicit stack: tuple elements
 * left to right; list cells left to right, runs of bytes (0..255) four at a
 * time, each other element between two constant mixes when the cell's
 * tail ends the list; immediates hash their 64-bit term word. */
#include "term/maporder.h"

#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "term/cursor.h"
#include "term/order.h"
#include "term/term.h"

#define MO_HC 0x9e3779b9U
#define MO_HC4 0x78dde6e4U
#define MO_HC9 0x8ff34781U
#define MO_HC10 0x2e2ac13aU
#define MO_HC11 0xcc623af3U
#define MO_HC12 0x6a99b4acU
#define MO_HC13 0x08d12e65U
#define MO_HC15 0x454021d7U
#define MO_HC17 0x81af1549U
#define MO_HC18 0x1fe68f02U
#define MO_HC22 0x98c475e6U
#define MO_SALT 3432918353U /* INTERNAL_HASH_SALT: apart from phash2 */
#define MO_NIL 0x3BULL /* [] as a term word (found with golden vectors) */
#define MO_SMALL_MAX ((int64_t)1 << 59) /* smalls: -2^59 .. 2^59-1 */
#define MO_DEPTH 200

typedef struct mo_s {
  phc__cur_t c;
  uint32_t hash;
} mo_t;

static void mo_mix(uint32_t *a, uint32_t *b, uint32_t *c) {
  *a -= *b, *a -= *c, *a ^= (*c >> 13);
  *b -= *c, *b -= *a, *b ^= (*a << 8);
  *c -= *a, *c -= *b, *c ^= (*b >> 13);
  *a -= *b, *a -= *c, *a ^= (*c >> 12);
  *b -= *c, *b -= *a, *b ^= (*a << 16);
  *c -= *a, *c -= *b, *c ^= (*b >> 5);
  *a -= *b, *a -= *c, *a ^= (*c >> 3);
  *b -= *c, *b -= *a, *b ^= (*a << 10);
  *c -= *a, *c -= *b, *c ^= (*b >> 15);
}

static void mo_u32_2(mo_t *m, uint32_t e1, uint32_t e2, uint32_t k) {
  uint32_t a = k + e1, b = k + e2;
  mo_mix(&a, &b, &m->hash);
}

static void mo_const(mo_t *m, uint32_t k) {
  m->hash ^= k;
  m->hash = (m->hash << 17) ^ (m->hash >> 15);
}

static void mo_immed(mo_t *m, uint64_t w) {
  mo_u32_2(m, (uint32_t)w, (uint32_t)(w >> 32), MO_HC);
}

static uint32_t mo_le32(const uint8_t *k) {
  return k[0] | ((uint32_t)k[1] << 8) | ((uint32_t)k[2] << 16) |
         ((uint32_t)k[3] << 24);
}

/* Jenkins' lookup2 over bytes, from initval (ERTS's block_hash). */
static uint32_t mo_block(const uint8_t *k, size_t len, uint32_t initval) {
  uint32_t a = MO_HC, b = MO_HC, c = initval;
  size_t left = len;
  for (; left >= 12; k += 12, left -= 12) {
    a += mo_le32(k);
    b += mo_le32(k + 4);
    c += mo_le32(k + 8);
    mo_mix(&a, &b, &c);
  }
  c += (uint32_t)len;
  switch (left) {                      /* every case falls through */
  case 11: c += (uint32_t)k[10] << 24; /* fall through */
  case 10: c += (uint32_t)k[9] << 16;  /* fall through */
  case 9: c += (uint32_t)k[8] << 8;    /* fall through */
  case 8: b += (uint32_t)k[7] << 24;   /* fall through */
  case 7: b += (uint32_t)k[6] << 16;   /* fall through */
  case 6: b += (uint32_t)k[5] << 8;    /* fall through */
  case 5: b += k[4];                   /* fall through */
  case 4: a += (uint32_t)k[3] << 24;   /* fall through */
  case 3: a += (uint32_t)k[2] << 16;   /* fall through */
  case 2: a += (uint32_t)k[1] << 8;    /* fall through */
  case 1: a += k[0];                   /* fall through */
  default: break;
  }
  mo_mix(&a, &b, &c);
  return c;
}

/* An integer: sign and n little-endian magnitude bytes at mag. A small
 * hashes its term word; a bignum its 64-bit digits, two words each. */
static void mo_integer(mo_t *m, int neg, const uint8_t *mag, size_t n) {
  while (n > 0 && mag[n - 1] == 0)
    n--;
  uint64_t low = 0;
  for (size_t i = 0; i < n && i < 8; i++)
    low |= (uint64_t)mag[i] << (8 * i);
  if (n <= 8 && low <= (uint64_t)MO_SMALL_MAX - (neg ? 0 : 1)) {
    uint64_t v = neg ? (uint64_t)0 - low : low;
    mo_immed(m, (v << 4) | 0xF);
    return;
  }
  uint32_t con = neg ? MO_HC10 : MO_HC11;
  for (size_t i = 0; i < n; i += 8) {
    uint32_t w[2] = {0, 0};
    for (size_t j = 0; j < 8 && i + j < n; j++)
      w[j / 4] |= (uint32_t)mag[i + j] << (8 * (j % 4));
    mo_u32_2(m, w[0], w[1], con);
  }
}

static int mo_int_tag(mo_t *m, int tag) {
  phc__cur_t *c = &m->c;
  uint8_t mag[8];
  if (tag == PHC__TAG_SMALL_INT || tag == PHC__TAG_INT) {
    if (!phc__cur_need(c, tag == PHC__TAG_INT ? 4 : 1)) return PHC_EDECODE;
    int64_t v = tag == PHC__TAG_INT ? (int32_t)phc__cur_u32(c)
                                    : (int64_t)phc__cur_u8(c);
    uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    for (int i = 0; i < 8; i++)
      mag[i] = (uint8_t)(a >> (8 * i));
    mo_integer(m, v < 0, mag, 8);
    return 0;
  }
  int lb = tag == PHC__TAG_SMALL_BIG ? 1 : 4;
  if (!phc__cur_need(c, (uint64_t)lb + 1)) return PHC_EDECODE;
  uint32_t n = lb == 1 ? phc__cur_u8(c) : phc__cur_u32(c);
  int neg = (int)phc__cur_u8(c);
  if (!phc__cur_need(c, n)) return PHC_EDECODE;
  mo_integer(m, neg, c->b + c->i, n);
  c->i += n;
  return 0;
}

static int mo_float(mo_t *m) {
  phc__cur_t *c = &m->c;
  if (!phc__cur_need(c, 8)) return PHC_EDECODE;
  uint64_t u = ((uint64_t)phc__cur_u32(c) << 32) | phc__cur_u32(c);
  if ((u & 0x7FFFFFFFFFFFFFFFULL) == 0) u = 0; /* -0.0 hashes as 0.0 */
  mo_u32_2(m, (uint32_t)u, (uint32_t)(u >> 32), MO_HC12);
  return 0;
}

static int mo_binary(mo_t *m, int tag) {
  phc__cur_t *c = &m->c;
  if (!phc__cur_need(c, tag == PHC__TAG_BINARY ? 4 : 5)) return PHC_EDECODE;
  uint32_t n = phc__cur_u32(c);
  unsigned bits = tag == PHC__TAG_BINARY ? 8 : phc__cur_u8(c);
  if (!phc__cur_need(c, n) || bits == 0 || bits > 8 || (n == 0 && bits != 8))
    return PHC_EDECODE;
  const uint8_t *p = c->b + c->i;
  size_t full = bits == 8 ? n : n - 1;
  uint32_t con = MO_HC13 + m->hash;
  if (full == 0 && bits == 8)
    m->hash = con;
  else
    m->hash = mo_block(p, full, con);
  if (bits < 8) mo_u32_2(m, bits, p[full] >> (8 - bits), MO_HC15);
  c->i += n;
  return 0;
}

static int mo_term(mo_t *m, int depth);

/* Is the next element a byte (a small integer 0..255)? Takes it if so. */
static int mo_byte(mo_t *m, uint32_t *b) {
  phc__cur_t *c = &m->c;
  if (!phc__cur_need(c, 2) || c->b[c->i] != PHC__TAG_SMALL_INT) return 0;
  *b = c->b[c->i + 1];
  c->i += 2;
  return 1;
}

static int mo_list(mo_t *m, uint32_t n, int depth) {
  uint32_t sh = 0, b;
  int cnt = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (mo_byte(m, &b)) {
      sh = (sh << 8) + b;
      if (cnt == 3) {
        mo_u32_2(m, sh, 0, MO_HC4);
        cnt = 0;
        sh = 0;
      } else {
        cnt++;
      }
      continue;
    }
    if (cnt > 0) mo_u32_2(m, sh, (uint32_t)cnt, MO_HC22);
    cnt = 0;
    sh = 0;
    mo_const(m, MO_HC17);
    int rc = mo_term(m, depth + 1);
    if (rc < 0) return rc;
    if (i == n - 1) mo_const(m, MO_HC18); /* the tail is no list */
  }
  if (cnt > 0) mo_u32_2(m, sh, (uint32_t)cnt, MO_HC22);
  return mo_term(m, depth + 1); /* the tail */
}

static int mo_string(mo_t *m) {
  phc__cur_t *c = &m->c;
  if (!phc__cur_need(c, 2)) return PHC_EDECODE;
  uint32_t n = phc__cur_u16(c), sh = 0;
  int cnt = 0;
  if (!phc__cur_need(c, n)) return PHC_EDECODE;
  for (uint32_t i = 0; i < n; i++) {
    sh = (sh << 8) + phc__cur_u8(c);
    if (cnt == 3) {
      mo_u32_2(m, sh, 0, MO_HC4);
      cnt = 0;
      sh = 0;
    } else {
      cnt++;
    }
  }
  if (cnt > 0) mo_u32_2(m, sh, (uint32_t)cnt, MO_HC22);
  mo_immed(m, MO_NIL);
  return 0;
}

static int mo_tuple(mo_t *m, uint32_t arity, int depth) {
  mo_u32_2(m, arity, 0, MO_HC9);
  for (uint32_t i = 0; i < arity; i++) {
    int rc = mo_term(m, depth + 1);
    if (rc < 0) return rc;
  }
  return 0;
}

static int mo_term(mo_t *m, int depth) {
  phc__cur_t *c = &m->c;
  if (depth > MO_DEPTH || !phc__cur_need(c, 1)) return PHC_EDECODE;
  int tag = (int)phc__cur_u8(c);
  switch (tag) {
  case PHC__TAG_SMALL_INT:
  case PHC__TAG_INT:
  case PHC__TAG_SMALL_BIG:
  case PHC__TAG_LARGE_BIG: return mo_int_tag(m, tag);
  case PHC__TAG_NEW_FLOAT: return mo_float(m);
  case PHC__TAG_BINARY:
  case PHC__TAG_BIT_BINARY: return mo_binary(m, tag);
  case PHC__TAG_NIL: mo_immed(m, MO_NIL); return 0;
  case PHC__TAG_STRING: return mo_string(m);
  case PHC__TAG_SMALL_TUPLE:
    if (!phc__cur_need(c, 1)) return PHC_EDECODE;
    return mo_tuple(m, phc__cur_u8(c), depth);
  case PHC__TAG_LARGE_TUPLE:
  case PHC__TAG_LIST: {
    if (!phc__cur_need(c, 4)) return PHC_EDECODE;
    uint32_t n = phc__cur_u32(c);
    return tag == PHC__TAG_LIST ? mo_list(m, n, depth)
                                : mo_tuple(m, n, depth);
  }
  default: return PHC_EINVAL; /* atoms, pids, ports, refs, funs, maps */
  }
}

int phc__maporder_hash(const char *buf, int len, int rel, uint32_t salt,
                       uint32_t *out) {
  int idx = 0;
  if (!buf || len <= 0 || phc__term_skip(buf, len, &idx) < 0)
    return PHC_EDECODE;
  mo_t m = {.c = {(const uint8_t *)buf, (size_t)idx, 0},
            .hash = salt ^ MO_SALT};
  (void)rel;
  int rc = mo_term(&m, 0);
  if (rc < 0) return rc;
  *out = m.hash;
  return 0;
}

/* The HAMT's order: the hash's nibbles from the lowest, as one number;
 * maps:keys/1 walks it from the highest. */
static uint32_t mo_nibbles_reversed(uint32_t h) {
  uint32_t r = 0;
  for (int i = 0; i < 8; i++, h >>= 4)
    r = (r << 4) | (h & 0xF);
  return r;
}

static int mo_cmp_term(const void *a, const void *b) {
  const phc__mo_key_t *x = a, *y = b;
  int cmp = 0;
  phc__term_compare_exact(x->buf, x->len, y->buf, y->len, &cmp);
  return cmp;
}

static int mo_cmp_hash(const void *a, const void *b) {
  const phc__mo_key_t *x = a, *y = b;
  if (x->h != y->h) return x->h > y->h ? -1 : 1; /* highest first */
  return mo_cmp_term(a, b);
}

int phc__maporder_sort(phc__mo_key_t *keys, size_t n, int rel) {
  int rc = 0;
  if (n <= PHC__MAPORDER_FLAT_MAX) {
    qsort(keys, n, sizeof *keys, mo_cmp_term);
    return 0;
  }
  for (size_t i = 0; i < n && rc == 0; i++) {
    uint32_t h = 0;
    rc = phc__maporder_hash(keys[i].buf, keys[i].len, rel, 0, &h);
    keys[i].h = mo_nibbles_reversed(h);
  }
  qsort(keys, n, sizeof *keys, rc == 0 ? mo_cmp_hash : mo_cmp_term);
  return rc < 0 ? PHC_EINVAL : 0;
}
