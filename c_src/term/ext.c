/* ext.c - term_to_binary/1 bytes for OTP 25 and OTP 26+ atom encodings. */
#include "term/ext.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "term/enc.h"
#include "term/order.h"

#define MOD "ext"
#define MAX_FLATMAP 32

/* ---- writers ------------------------------------------------------------ */

static int put(ei_x_buff *x, const void *p, size_t n) {
  if (n > INT32_MAX) return PHC_EINVAL;
  return phc__x_append_buf(x, p, (int)n) < 0 ? PHC_ENOMEM : 0;
}

static int put_u8(ei_x_buff *x, unsigned v) {
  uint8_t b = (uint8_t)v;
  return put(x, &b, 1);
}

static int put_u16(ei_x_buff *x, unsigned v) {
  uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
  return put(x, b, 2);
}

static int put_u32(ei_x_buff *x, uint32_t v) {
  uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8),
                  (uint8_t)v};
  return put(x, b, 4);
}

int phc__ext_version(ei_x_buff *x) { return put_u8(x, PHC__TAG_VERSION); }

/* Decodes one UTF-8 sequence; returns its length or 0 when invalid. */
static size_t utf8_next(const uint8_t *s, size_t n, uint32_t *cp) {
  if (n == 0) return 0;
  if (s[0] < 0x80) {
    *cp = s[0];
    return 1;
  }
  size_t len = (s[0] & 0xE0) == 0xC0   ? 2
               : (s[0] & 0xF0) == 0xE0 ? 3
               : (s[0] & 0xF8) == 0xF0 ? 4
                                       : 0;
  if (len == 0 || len > n) return 0;
  uint32_t c = s[0] & (0xFF >> (len + 1));
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    c = (c << 6) | (s[i] & 0x3F);
  }
  static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (c < min_cp[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
  *cp = c;
  return len;
}

/* Counts characters; *max_cp gets the largest code point. */
int phc__ext_utf8_scan(const char *s, size_t n, size_t *chars,
                       uint32_t *max_cp) {
  const uint8_t *p = (const uint8_t *)s;
  size_t i = 0, count = 0;
  uint32_t max = 0, cp = 0;
  while (i < n) {
    size_t l = utf8_next(p + i, n - i, &cp);
    if (l == 0) return PHC_EINVAL;
    if (cp > max) max = cp;
    i += l;
    count++;
  }
  *chars = count;
  *max_cp = max;
  return 0;
}

int phc__ext_atom(ei_x_buff *x, const char *utf8, size_t len,
                  phc__etf_enc_t enc) {
  size_t chars;
  uint32_t max_cp;
  if (phc__ext_utf8_scan(utf8, len, &chars, &max_cp) < 0 || chars > 255)
    return PHC_EINVAL;
  int rc;
  if (enc == PHC__ETF_OTP25 && max_cp <= 0xFF) {
    /* ATOM_EXT with latin-1 bytes: one byte per character. */
    if ((rc = put_u8(x, PHC__TAG_ATOM)) || (rc = put_u16(x, (unsigned)chars)))
      return rc;
    const uint8_t *p = (const uint8_t *)utf8;
    for (size_t i = 0; i < len;) {
      uint32_t cp = 0;
      i += utf8_next(p + i, len - i, &cp);
      if ((rc = put_u8(x, cp))) return rc;
    }
    return 0;
  }
  if (len <= 255) {
    if ((rc = put_u8(x, PHC__TAG_SMALL_ATOM_UTF8)) || (rc = put_u8(x, len)))
      return rc;
  } else {
    if ((rc = put_u8(x, PHC__TAG_ATOM_UTF8)) || (rc = put_u16(x, len)))
      return rc;
  }
  return put(x, utf8, len);
}

int phc__ext_atomz(ei_x_buff *x, const char *utf8, phc__etf_enc_t enc) {
  return phc__ext_atom(x, utf8, strlen(utf8), enc);
}

int phc__ext_binary(ei_x_buff *x, const void *data, size_t len) {
  int rc;
  if (len > UINT32_MAX) return PHC_EINVAL;
  if ((rc = put_u8(x, PHC__TAG_BINARY)) || (rc = put_u32(x, (uint32_t)len)))
    return rc;
  return put(x, data, len);
}

/* Integer from sign and little-endian magnitude (no high zero bytes). */
static int put_integer(ei_x_buff *x, int neg, const uint8_t *mag, size_t n) {
  int rc;
  if (n <= 4) {
    uint64_t m = 0;
    for (size_t i = 0; i < n; i++)
      m |= (uint64_t)mag[i] << (8 * i);
    if (!neg && m <= 255) {
      if ((rc = put_u8(x, PHC__TAG_SMALL_INT))) return rc;
      return put_u8(x, (unsigned)m);
    }
    if ((!neg && m <= INT32_MAX) || (neg && m <= (uint64_t)INT32_MAX + 1)) {
      uint32_t v = neg ? (uint32_t)(0 - m) : (uint32_t)m;
      if ((rc = put_u8(x, PHC__TAG_INT))) return rc;
      return put_u32(x, v);
    }
  }
  if (n <= 255) {
    if ((rc = put_u8(x, PHC__TAG_SMALL_BIG)) || (rc = put_u8(x, n))) return rc;
  } else {
    if (n > UINT32_MAX) return PHC_EINVAL;
    if ((rc = put_u8(x, PHC__TAG_LARGE_BIG)) || (rc = put_u32(x, (uint32_t)n)))
      return rc;
  }
  if ((rc = put_u8(x, neg ? 1 : 0))) return rc;
  return put(x, mag, n);
}

/* Little-endian magnitude of |v| into out[8]; returns the byte count. */
size_t phc__ext_mag_of(int64_t v, uint8_t out[8]) {
  uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  size_t n = 0;
  while (m) {
    out[n++] = (uint8_t)m;
    m >>= 8;
  }
  return n;
}

int phc__ext_long(ei_x_buff *x, int64_t v) {
  uint8_t mag[8];
  size_t n = phc__ext_mag_of(v, mag);
  return put_integer(x, v < 0, mag, n);
}

int phc__ext_double(ei_x_buff *x, double d) {
  uint64_t bits;
  memcpy(&bits, &d, sizeof bits);
  int rc = put_u8(x, PHC__TAG_NEW_FLOAT);
  if (rc) return rc;
  if ((rc = put_u32(x, (uint32_t)(bits >> 32)))) return rc;
  return put_u32(x, (uint32_t)bits);
}

int phc__ext_tuple_header(ei_x_buff *x, uint32_t arity) {
  int rc;
  if (arity <= 255) {
    if ((rc = put_u8(x, PHC__TAG_SMALL_TUPLE))) return rc;
    return put_u8(x, arity);
  }
  if ((rc = put_u8(x, PHC__TAG_LARGE_TUPLE))) return rc;
  return put_u32(x, arity);
}

int phc__ext_list_header(ei_x_buff *x, uint32_t n) {
  int rc = put_u8(x, PHC__TAG_LIST);
  return rc ? rc : put_u32(x, n);
}

int phc__ext_nil(ei_x_buff *x) { return put_u8(x, PHC__TAG_NIL); }

/* ---- re-encoding -------------------------------------------------------- */

static int reencode(ei_x_buff *x, const char *buf, int len, int *index,
                    phc__etf_enc_t enc, int depth);

static int put_node_atom(ei_x_buff *x, const phc__ext_item_t *it,
                         phc__etf_enc_t enc) {
  return phc__ext_atom(x, it->atom, it->atom_len, enc);
}

static int reencode_identifier(ei_x_buff *x, const phc__ext_item_t *it,
                               phc__etf_enc_t enc) {
  int rc;
  if (it->cls == PHC__EXT_PID) {
    if ((rc = put_u8(x, PHC__TAG_NEW_PID)) ||
        (rc = put_node_atom(x, it, enc)) ||
        (rc = put_u32(x, (uint32_t)it->id)) || (rc = put_u32(x, it->serial)))
      return rc;
    return put_u32(x, it->creation);
  }
  if (it->cls == PHC__EXT_PORT) {
    /* OTP 26+ (checked on OTP 27.3) always write V4_PORT_EXT. */
    int v4 = it->id > UINT32_MAX || enc == PHC__ETF_OTP26;
    if ((rc = put_u8(x, v4 ? PHC__TAG_V4_PORT : PHC__TAG_NEW_PORT)) ||
        (rc = put_node_atom(x, it, enc)))
      return rc;
    if (v4 && (rc = put_u32(x, (uint32_t)(it->id >> 32)))) return rc;
    if ((rc = put_u32(x, (uint32_t)it->id))) return rc;
    return put_u32(x, it->creation);
  }
  if ((rc = put_u8(x, PHC__TAG_NEWER_REF)) ||
      (rc = put_u16(x, (unsigned)it->nwords)) ||
      (rc = put_node_atom(x, it, enc)) || (rc = put_u32(x, it->creation)))
    return rc;
  for (int k = 0; k < it->nwords; k++)
    if ((rc = put_u32(x, it->words[k]))) return rc;
  return 0;
}

static int reencode_bits(ei_x_buff *x, const phc__ext_item_t *it) {
  if (it->last_bits == 8) return phc__ext_binary(x, it->bytes, it->nbytes);
  int rc;
  if ((rc = put_u8(x, PHC__TAG_BIT_BINARY)) ||
      (rc = put_u32(x, (uint32_t)it->nbytes)) ||
      (rc = put_u8(x, (unsigned)it->last_bits)) ||
      (rc = put(x, it->bytes, it->nbytes - 1)))
    return rc;
  /* The BEAM writes the unused low bits of the last byte as zeros. */
  uint8_t mask = (uint8_t)(0xFF << (8 - it->last_bits));
  return put_u8(x, it->bytes[it->nbytes - 1] & mask);
}

/* Write the tail of a walked list (nil only when write_nil) and set *index
 * to the end of the list's encoding. */
static int finish_list(ei_x_buff *x, const phc__ext_list_iter_t *li, int proper,
                       int write_nil, phc__etf_enc_t enc, int depth,
                       int *index) {
  int rc;
  if (proper && write_nil && (rc = phc__ext_nil(x))) return rc;
  if (li->tail_implicit) {
    *index = li->index;
    return 0;
  }
  int ti = li->tail_index;
  if (proper)
    ti += li->buf[ti] == (char)PHC__TAG_NIL ? 1 : 3;
  else if ((rc = reencode(x, li->buf, li->len, &ti, enc, depth + 1)))
    return rc;
  *index = ti;
  return 0;
}

static int is_byte_elem(const phc__ext_list_iter_t *li) {
  phc__ext_item_t e;
  int i = li->elem_index;
  return phc__ext_read(li->elem_buf, li->elem_len, &i, &e) == 0 &&
         e.cls == PHC__EXT_NUMBER && !e.is_float && !e.neg && e.mag_len <= 1;
}

/* term_to_binary writes a proper list of 1..65535 bytes as STRING_EXT. */
static int reencode_list(ei_x_buff *x, const char *buf, int len, int *index,
                         phc__etf_enc_t enc, int depth) {
  phc__ext_list_iter_t li;
  int rc, all_bytes = 1;
  uint32_t n = 0;
  phc__ext_list_begin(&li, buf, len, *index);
  li.depth = depth;
  while ((rc = phc__ext_list_next(&li)) == 1) {
    if (++n == 0) return PHC_EINVAL;
    if (all_bytes && !is_byte_elem(&li)) all_bytes = 0;
  }
  if (rc < 0) return rc;
  int tail = li.tail_index;
  phc__ext_item_t t;
  if ((rc = phc__ext_read(li.tail_buf, li.tail_len, &tail, &t))) return rc;
  int proper = t.cls == PHC__EXT_NIL;
  if (n == 0) /* no cells: the term is its tail */
    return finish_list(x, &li, proper, 1, enc, depth, index);
  int as_string = proper && all_bytes && n <= 65535;
  if (as_string) {
    if ((rc = put_u8(x, PHC__TAG_STRING)) || (rc = put_u16(x, n))) return rc;
  } else if ((rc = phc__ext_list_header(x, n))) {
    return rc;
  }
  phc__ext_list_begin(&li, buf, len, *index);
  li.depth = depth;
  while ((rc = phc__ext_list_next(&li)) == 1) {
    int ei_ = li.elem_index;
    if (as_string) {
      phc__ext_item_t e;
      if ((rc = phc__ext_read(li.elem_buf, li.elem_len, &ei_, &e)) ||
          (rc = put_u8(x, e.mag_len ? e.mag[0] : 0)))
        return rc;
    } else if ((rc = reencode(x, li.elem_buf, li.elem_len, &ei_, enc,
                              depth + 1))) {
      return rc;
    }
  }
  if (rc < 0) return rc;
  return finish_list(x, &li, proper, !as_string, enc, depth, index);
}

typedef struct map_pair {
  const char *buf;
  int len;
  int key;   /* index of the key */
  int value; /* index of the value */
} map_pair_t;

static int cmp_pairs_exact(const void *a, const void *b) {
  const map_pair_t *pa = a, *pb = b;
  int c = 0;
  phc__term_compare_exact(pa->buf + pa->key, pa->len - pa->key,
                          pb->buf + pb->key, pb->len - pb->key, &c);
  return c;
}

/* A flatmap (<= 32 keys) is written in key order (exact term order). */
static int reencode_map(ei_x_buff *x, const char *buf, int len, int *index,
                        uint32_t n, phc__etf_enc_t enc, int depth) {
  if (n > MAX_FLATMAP) return PHC_EINVAL;
  /* OTP 26+ order atom keys of a flatmap by atom index, not term order
   * (seen on OTP 27.3: #{b => 1, a => 2} is written b first); that order
   * is internal to each node, so only maps of 0 or 1 pairs are reproduced. */
  if (enc == PHC__ETF_OTP26 && n > 1) return PHC_EINVAL;
  map_pair_t pairs[MAX_FLATMAP];
  int i = *index, rc;
  for (uint32_t k = 0; k < n; k++) {
    pairs[k].buf = buf;
    pairs[k].len = len;
    pairs[k].key = i;
    if ((rc = phc__term_skip(buf, len, &i))) return rc;
    pairs[k].value = i;
    if ((rc = phc__term_skip(buf, len, &i))) return rc;
  }
  qsort(pairs, n, sizeof pairs[0], cmp_pairs_exact);
  if ((rc = put_u8(x, PHC__TAG_MAP)) || (rc = put_u32(x, n))) return rc;
  for (uint32_t k = 0; k < n; k++) {
    int ki = pairs[k].key, vi = pairs[k].value;
    if ((rc = reencode(x, buf, len, &ki, enc, depth + 1)) ||
        (rc = reencode(x, buf, len, &vi, enc, depth + 1)))
      return rc;
  }
  *index = i;
  return 0;
}

static int reencode(ei_x_buff *x, const char *buf, int len, int *index,
                    phc__etf_enc_t enc, int depth) {
  if (depth > PHC__TERM_MAX_DEPTH) return PHC_EDECODE;
  phc__ext_item_t it;
  int i = *index, rc;
  if ((rc = phc__ext_read(buf, len, &i, &it))) return rc;
  if (enc == PHC__ETF_CANON &&
      (it.cls == PHC__EXT_FUN ||
       (it.cls == PHC__EXT_MAP && it.arity > MAX_FLATMAP))) {
    /* not reproduced: the bytes as they came (a map: walked whole) */
    if (it.cls == PHC__EXT_MAP) i = *index;
    if ((it.cls == PHC__EXT_MAP && (rc = phc__term_skip(buf, len, &i))) ||
        (rc = put(x, buf + *index, (size_t)(i - *index))))
      return rc;
    *index = i;
    return 0;
  }
  switch (it.cls) {
  case PHC__EXT_NUMBER:
    rc = it.is_float ? phc__ext_double(x, it.d)
                     : put_integer(x, it.neg, it.mag, it.mag_len);
    break;
  case PHC__EXT_ATOM: rc = phc__ext_atom(x, it.atom, it.atom_len, enc); break;
  case PHC__EXT_BITS: rc = reencode_bits(x, &it); break;
  case PHC__EXT_PID:
  case PHC__EXT_PORT:
  case PHC__EXT_REF: rc = reencode_identifier(x, &it, enc); break;
  case PHC__EXT_TUPLE:
    if ((rc = phc__ext_tuple_header(x, it.arity))) return rc;
    for (uint32_t k = 0; k < it.arity && rc == 0; k++)
      rc = reencode(x, buf, len, &i, enc, depth + 1);
    break;
  case PHC__EXT_MAP:
    rc = reencode_map(x, buf, len, &i, it.arity, enc, depth);
    break;
  case PHC__EXT_NIL:
  case PHC__EXT_LIST: rc = reencode_list(x, buf, len, &i, enc, depth); break;
  default: /* funs */ rc = PHC_EINVAL; break;
  }
  if (rc) return rc;
  *index = i;
  return 0;
}

int phc__ext_reencode(ei_x_buff *x, const char *buf, int len, int *index,
                      phc__etf_enc_t enc) {
  return reencode(x, buf, len, index, enc, 0);
}

int phc__ext_term_to_binary(ei_x_buff *x, const char *term, int len,
                            phc__etf_enc_t enc) {
  if (!term || len < 2 || (uint8_t)term[0] != PHC__TAG_VERSION)
    return PHC_EDECODE;
  int index = 1, rc;
  int start = x->index;
  if ((rc = phc__ext_version(x)) ||
      (rc = phc__ext_reencode(x, term, len, &index, enc))) {
    x->index = start;
    return rc;
  }
  if (index != len) {
    x->index = start;
    return PHC_EDECODE;
  }
  return 0;
}
