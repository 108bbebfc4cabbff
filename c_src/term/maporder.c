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
#include "term/jhash.h"
#include "term/order.h"
#include "term/term.h"

#define MO_HC PHC__JHASH_GOLDEN
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
#define MO_NIL 0x3BULL      /* [] as a term word (found with golden vectors) */
#define MO_SMALL_MAX ((int64_t)1 << 59) /* smalls: -2^59 .. 2^59-1 */
#define MO_DEPTH 200

typedef struct mo_s {
  phc__cur_t c;
  uint32_t hash;
} mo_t;

static void mo_u32_2(mo_t *m, uint32_t e1, uint32_t e2, uint32_t k) {
  uint32_t a = k + e1, b = k + e2;
  phc__jhash_mix(&a, &b, &m->hash);
}

static void mo_const(mo_t *m, uint32_t k) {
  m->hash ^= k;
  m->hash = (m->hash << 17) ^ (m->hash >> 15);
}

static void mo_immed(mo_t *m, uint64_t w) {
  mo_u32_2(m, (uint32_t)w, (uint32_t)(w >> 32), MO_HC);
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
    m->hash = phc__jhash_block(p, full, con);
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
    return tag == PHC__TAG_LIST ? mo_list(m, n, depth) : mo_tuple(m, n, depth);
  }
  default: return PHC_EINVAL; /* atoms, pids, ports, refs, funs, maps */
  }
}

/* ---- OTP 27+: MurmurHash3 (x64) over the term, 64 bits --------------- */

#define MM_C1 0x87C37B91114253D5ULL
#define MM_C2 0x4CF5AD432745937FULL
#define MM_STACK 256

enum { /* ERTS's IHASH_TYPE_* */
       MM_IMMEDIATE = 1,
       MM_ARRAY_ELEMENT = 2,
       MM_CAR = 3,
       MM_CDR = 4,
       MM_STRING = 5,
       MM_TUPLE = 6,
       MM_BINARY = 11,
       MM_NEG_BIG = 14,
       MM_POS_BIG = 15,
       MM_FLOAT = 20
};

/* A position in the key: the term at off (rem 0), the list cells from the
 * element at off on (rem of them, then the list's tail), or a CDR mark. */
typedef struct mm_pos_s {
  uint32_t off;
  uint32_t rem;
  int cdr_mark;
} mm_pos_t;

typedef struct mm_s {
  const uint8_t *b;
  size_t len;
  uint64_t alpha, beta, ticks;
  mm_pos_t stack[MM_STACK];
  int sp;
} mm_t;

static uint64_t mm_rotl(uint64_t x, int r) {
  return (x << r) | (x >> (64 - r));
}

static void mm_alpha(mm_t *m, uint64_t x) {
  x *= MM_C1;
  x = mm_rotl(x, 31);
  x *= MM_C2;
  m->alpha ^= x;
  m->alpha = mm_rotl(m->alpha, 27);
  m->alpha += m->beta;
  m->alpha = m->alpha * 5 + 0x52DCE729ULL;
  m->ticks++;
}

static void mm_beta(mm_t *m, uint64_t x) {
  x *= MM_C2;
  x = mm_rotl(x, 33);
  x *= MM_C1;
  m->beta ^= x;
  m->beta = mm_rotl(m->beta, 31);
  m->beta += m->alpha;
  m->beta = m->beta * 5 + 0x38495AB5ULL;
  m->ticks++;
}

static uint64_t mm_fmix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCDULL;
  h ^= h >> 33;
  h *= 0xC4CEB9FE1A85EC53ULL;
  h ^= h >> 33;
  return h;
}

static int mm_push(mm_t *m, uint32_t off, uint32_t rem, int cdr_mark) {
  if (m->sp == MM_STACK) return PHC_EINVAL;
  m->stack[m->sp++] = (mm_pos_t){off, rem, cdr_mark};
  return 0;
}

/* The offset just past the term at off (the key passed phc__term_skip). */
static uint32_t mm_next(const mm_t *m, uint32_t off) {
  int idx = (int)off;
  phc__term_skip((const char *)m->b, (int)m->len, &idx);
  return (uint32_t)idx;
}

static uint32_t mm_be32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
         ((uint32_t)p[2] << 8) | p[3];
}

static int mm_is_list(const mm_t *m, uint32_t off) {
  return m->b[off] == PHC__TAG_LIST || m->b[off] == PHC__TAG_STRING;
}

/* An integer's magnitude: n little-endian bytes at *mag (trimmed). */
static void mm_int_mag(const mm_t *m, uint32_t off, const uint8_t **mag,
                       size_t *n, int *neg, uint8_t tmp[8]) {
  const uint8_t *p = m->b + off;
  if (p[0] == PHC__TAG_SMALL_INT || p[0] == PHC__TAG_INT) {
    int64_t v =
        p[0] == PHC__TAG_SMALL_INT
            ? p[1]
            : (int32_t)(((uint32_t)p[1] << 24) | ((uint32_t)p[2] << 16) |
                        ((uint32_t)p[3] << 8) | p[4]);
    uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    for (int i = 0; i < 8; i++)
      tmp[i] = (uint8_t)(a >> (8 * i));
    *mag = tmp, *n = 8, *neg = v < 0;
  } else if (p[0] == PHC__TAG_SMALL_BIG) {
    *n = p[1], *neg = p[2], *mag = p + 3;
  } else {
    *n = ((size_t)p[1] << 24) | ((size_t)p[2] << 16) | ((size_t)p[3] << 8) |
         p[4];
    *neg = p[5], *mag = p + 6;
  }
  while (*n > 0 && (*mag)[*n - 1] == 0)
    (*n)--;
}

/* The immediate word of the term at off: 1 and *w for a small integer or
 * [], 0 for a boxed term or a list, PHC_EINVAL for what cannot be known. */
static int mm_immed(const mm_t *m, uint32_t off, uint64_t *w) {
  const uint8_t *mag;
  uint8_t tmp[8];
  size_t n;
  int neg;
  switch (m->b[off]) {
  case PHC__TAG_NIL: *w = MO_NIL; return 1;
  case PHC__TAG_SMALL_INT:
  case PHC__TAG_INT:
  case PHC__TAG_SMALL_BIG:
  case PHC__TAG_LARGE_BIG: {
    mm_int_mag(m, off, &mag, &n, &neg, tmp);
    uint64_t low = 0;
    for (size_t i = 0; i < n && i < 8; i++)
      low |= (uint64_t)mag[i] << (8 * i);
    if (n > 8 || low > (uint64_t)MO_SMALL_MAX - (neg ? 0 : 1)) return 0;
    *w = ((neg ? (uint64_t)0 - low : low) << 4) | 0xF;
    return 1;
  }
  case PHC__TAG_NEW_FLOAT:
  case PHC__TAG_BINARY:
  case PHC__TAG_BIT_BINARY:
  case PHC__TAG_SMALL_TUPLE:
  case PHC__TAG_LARGE_TUPLE:
  case PHC__TAG_LIST:
  case PHC__TAG_STRING: return 0;
  default: return PHC_EINVAL;
  }
}

static uint64_t mm_le64(const uint8_t *p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++)
    v |= (uint64_t)p[i] << (8 * i);
  return v;
}

/* Bytes, then bits (0..7) more at the top of the next byte. */
static void mm_bits(mm_t *m, const uint8_t *p, size_t bytes, unsigned bits) {
  mm_alpha(m, MM_BINARY);
  mm_beta(m, (uint64_t)bytes * 8 + bits);
  if (bytes == 0 && bits == 0) return;
  size_t it = 0;
  for (; it + 16 <= bytes; it += 16) {
    mm_alpha(m, mm_le64(p + it, 8));
    mm_beta(m, mm_le64(p + it + 8, 8));
  }
  size_t left = bytes - it;
  if (left > 8) {
    uint64_t v = mm_le64(p + it + 8, left - 8) * MM_C2;
    m->beta ^= mm_rotl(v, 33) * MM_C1;
  }
  if (left > 0) {
    uint64_t v = mm_le64(p + it, left > 8 ? 8 : left) * MM_C1;
    m->alpha ^= mm_rotl(v, 31) * MM_C2;
  }
  if (bits) mm_alpha(m, p[bytes] >> (8 - bits));
}

static void mm_big(mm_t *m, uint32_t off) {
  const uint8_t *mag;
  uint8_t tmp[8];
  size_t n;
  int neg;
  mm_int_mag(m, off, &mag, &n, &neg, tmp);
  size_t digits = (n + 7) / 8, i = 0;
  mm_alpha(m, (neg ? MM_NEG_BIG : MM_POS_BIG) | ((uint64_t)digits << 32));
  for (; i + 2 <= digits; i += 2) {
    mm_alpha(m, mm_le64(mag + 8 * i, 8));
    mm_beta(m, mm_le64(mag + 8 * (i + 1),
                       n - 8 * (i + 1) < 8 ? n - 8 * (i + 1) : 8));
  }
  if (i < digits) mm_beta(m, mm_le64(mag + 8 * i, n - 8 * i));
}

/* List cells from off on (rem > 0, then the tail): byte runs four at a
 * time, then one cell. Sets *cur to what comes next. */
static int mm_cells(mm_t *m, mm_pos_t *cur) {
  uint32_t off = cur->off, rem = cur->rem;
  uint64_t value = 0;
  unsigned bytes = 0;
  while (rem > 0 && m->b[off] == PHC__TAG_SMALL_INT) {
    value = (value << 8) | m->b[off + 1];
    if (++bytes % 4 == 0) {
      mm_alpha(m, (MM_STRING | (bytes << 8)) | (value << 32));
      value = 0, bytes = 0;
    }
    off += 2, rem--;
  }
  if (bytes > 0) mm_alpha(m, (MM_STRING | (bytes << 8)) | (value << 32));
  if (rem == 0) { /* the tail */
    *cur = (mm_pos_t){off, 0, 0};
    return 0;
  }
  uint64_t w;
  int im = mm_immed(m, off, &w);
  if (im < 0) return im;
  uint32_t toff = mm_next(m, off), trem = rem - 1;
  int tail_list = trem > 0 || mm_is_list(m, toff);
  if (im) {
    mm_alpha(m, MM_IMMEDIATE | ((uint64_t)MM_CAR << 32));
    mm_beta(m, w);
    if (!tail_list) mm_alpha(m, MM_CDR);
    *cur = (mm_pos_t){toff, trem, 0};
    return 0;
  }
  int rc = mm_push(m, toff, trem, 0);
  if (rc == 0 && !tail_list) rc = mm_push(m, 0, 0, 1);
  mm_alpha(m, MM_CAR);
  *cur = (mm_pos_t){off, 0, 0};
  return rc;
}

static int mm_tuple(mm_t *m, mm_pos_t *cur, uint32_t arity, uint32_t off) {
  mm_alpha(m, MM_TUPLE);
  mm_beta(m, arity);
  if (arity == 0) return 1; /* nothing more here: pop */
  for (uint32_t i = 1; i < arity; i++, off = mm_next(m, off)) {
    uint64_t w;
    int im = mm_immed(m, off, &w);
    if (im < 0) return im;
    if (im) {
      mm_alpha(m, MM_IMMEDIATE);
      mm_beta(m, w);
    } else {
      mm_alpha(m, MM_ARRAY_ELEMENT);
      if (mm_push(m, off, 0, 0) < 0) return PHC_EINVAL;
    }
  }
  *cur = (mm_pos_t){off, 0, 0};
  return 0;
}

/* One step on the term at cur: 0 and the next position in *cur, 1 when
 * the term is done (pop the stack), or an error. */
static int mm_step(mm_t *m, mm_pos_t *cur) {
  if (cur->rem > 0) return mm_cells(m, cur);
  const uint8_t *p = m->b + cur->off;
  uint64_t w;
  int im = mm_immed(m, cur->off, &w);
  if (im < 0) return im;
  if (im) {
    mm_alpha(m, MM_IMMEDIATE);
    mm_beta(m, w);
    return 1;
  }
  switch (p[0]) {
  case PHC__TAG_SMALL_TUPLE: return mm_tuple(m, cur, p[1], cur->off + 2);
  case PHC__TAG_LARGE_TUPLE:
    return mm_tuple(m, cur, mm_be32(p + 1), cur->off + 5);
  case PHC__TAG_LIST:
    *cur = (mm_pos_t){cur->off + 5, mm_be32(p + 1), 0};
    return cur->rem > 0 ? mm_cells(m, cur) : 0;
  case PHC__TAG_STRING: {
    uint32_t n = ((uint32_t)p[1] << 8) | p[2];
    uint64_t value = 0;
    for (uint32_t i = 0; i < n; i++) {
      value = (value << 8) | p[3 + i];
      if ((i + 1) % 4 == 0) {
        mm_alpha(m, (MM_STRING | (4U << 8)) | (value << 32));
        value = 0;
      }
    }
    if (n % 4) mm_alpha(m, (MM_STRING | ((n % 4) << 8)) | (value << 32));
    mm_alpha(m, MM_IMMEDIATE); /* the [] tail */
    mm_beta(m, MO_NIL);
    return 1;
  }
  case PHC__TAG_BINARY: mm_bits(m, p + 5, mm_be32(p + 1), 0); return 1;
  case PHC__TAG_BIT_BINARY: {
    uint32_t n = mm_be32(p + 1);
    unsigned bits = p[5];
    if (bits == 0 || bits > 8 || (n == 0 && bits != 8)) return PHC_EDECODE;
    mm_bits(m, p + 6, bits == 8 ? n : n - 1, bits == 8 ? 0 : bits);
    return 1;
  }
  case PHC__TAG_NEW_FLOAT:
    mm_alpha(m, MM_FLOAT);
    mm_beta(m, ((uint64_t)mm_be32(p + 1) << 32) | mm_be32(p + 5));
    return 1;
  default: mm_big(m, cur->off); return 1;
  }
}

/* erts_map_hash: the fast path for an immediate, else the walk. */
static int mm_hash(const char *buf, size_t len, uint64_t *out) {
  mm_t mm = {.b = (const uint8_t *)buf, .len = len}, *m = &mm;
  mm_pos_t cur = {0, 0, 0};
  uint64_t w;
  int rc = mm_immed(m, 0, &w);
  if (rc == 1) *out = mm_fmix(w);
  while (rc == 0) {
    rc = mm_step(m, &cur);
    while (rc == 1 && m->sp > 0) {
      mm_pos_t top = m->stack[--m->sp];
      if (!top.cdr_mark) {
        cur = top, rc = 0;
        break;
      }
      mm_beta(m, MM_CDR);
    }
    if (rc == 1) {
      uint64_t a = m->alpha ^ m->ticks, b = m->beta ^ m->ticks;
      a += b, b += a;
      a = mm_fmix(a), b = mm_fmix(b);
      a += b, b += a;
      *out = a ^ b;
    }
  }
  return rc < 0 ? rc : 0;
}

int phc__maporder_hash(const char *buf, int len, int rel, uint64_t *out) {
  int idx = 0;
  if (!buf || len <= 0 || phc__term_skip(buf, len, &idx) < 0)
    return PHC_EDECODE;
  if (rel >= 27) return mm_hash(buf, (size_t)idx, out);
  mo_t m = {.c = {(const uint8_t *)buf, (size_t)idx, 0}, .hash = MO_SALT};
  int rc = mo_term(&m, 0);
  if (rc < 0) return rc;
  *out = m.hash;
  return 0;
}

/* The HAMT's order: the hash's nibbles from the lowest, as one number
 * (8 nibbles before OTP 27, 16 since); maps:keys/1 walks it from the
 * highest. */
static uint64_t mo_nibbles_reversed(uint64_t h, int nibbles) {
  uint64_t r = 0;
  for (int i = 0; i < nibbles; i++, h >>= 4)
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

int phc__maporder_sort(phc__mo_key_t *keys, size_t n, int rel,
                       phc__mo_walk_t walk) {
  int rc = 0;
  if (n <= PHC__MAPORDER_FLAT_MAX) {
    qsort(keys, n, sizeof *keys, mo_cmp_term);
    return 0;
  }
  for (size_t i = 0; i < n && rc == 0; i++) {
    uint64_t h = 0;
    rc = phc__maporder_hash(keys[i].buf, keys[i].len, rel, &h);
    keys[i].h = mo_nibbles_reversed(h, rel >= 27 ? 16 : 8);
  }
  if (rc < 0) {
    qsort(keys, n, sizeof *keys, mo_cmp_term);
    return PHC_EINVAL;
  }
  qsort(keys, n, sizeof *keys, mo_cmp_hash);
  for (size_t i = 0; walk == PHC__MAPORDER_ITER && i < n / 2; i++) {
    phc__mo_key_t t = keys[i];
    keys[i] = keys[n - 1 - i], keys[n - 1 - i] = t;
  }
  return 0;
}
