/* ext.c - term_to_binary/1 bytes for OTP 25 and OTP 26+ atom encodings. */
#include "term/ext.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "term/order.h"

#define MOD "ext"
#define MAX_FLATMAP 32

/* ---- writers ------------------------------------------------------------ */

static int put(ei_x_buff *x, const void *p, size_t n) {
  if (n > INT32_MAX) return PHC_EINVAL;
  return ei_x_append_buf(x, p, (int)n) < 0 ? PHC_ENOMEM : 0;
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
  size_t len = (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3
               : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
  if (len == 0 || len > n) return 0;
  uint32_t c = s[0] & (0xFF >> (len + 1));
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    c = (c << 6) | (s[i] & 0x3F);
  }
  static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (c < min_cp[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
    return 0;
  *cp = c;
  return len;
}

/* Counts characters; *max_cp gets the largest code point. */
static int utf8_scan(const char *s, size_t n, size_t *chars, uint32_t *max_cp) {
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
  if (utf8_scan(utf8, len, &chars, &max_cp) < 0 || chars > 255)
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
static int put_integer(ei_x_buff *x, int neg, const uint8_t *mag,
                       size_t n) {
  int rc;
  if (n <= 4) {
    uint64_t m = 0;
    for (size_t i = 0; i < n; i++) m |= (uint64_t)mag[i] << (8 * i);
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
    if ((rc = put_u8(x, PHC__TAG_SMALL_BIG)) || (rc = put_u8(x, n)))
      return rc;
  } else {
    if (n > UINT32_MAX) return PHC_EINVAL;
    if ((rc = put_u8(x, PHC__TAG_LARGE_BIG)) ||
        (rc = put_u32(x, (uint32_t)n)))
      return rc;
  }
  if ((rc = put_u8(x, neg ? 1 : 0))) return rc;
  return put(x, mag, n);
}

/* Little-endian magnitude of |v| into out[8]; returns the byte count. */
static size_t mag_of(int64_t v, uint8_t out[8]) {
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
  size_t n = mag_of(v, mag);
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

/* ---- reading ------------------------------------------------------------ */

typedef struct rd {
  const uint8_t *b;
  int len;
  int i;
} rd_t;

static int need(const rd_t *r, uint64_t n) {
  return r->i >= 0 && r->i <= r->len && (uint64_t)(r->len - r->i) >= n
             ? 0
             : PHC_EDECODE;
}

static uint32_t get_u8(rd_t *r) { return r->b[r->i++]; }
static uint32_t get_u16(rd_t *r) {
  uint32_t v = ((uint32_t)r->b[r->i] << 8) | r->b[r->i + 1];
  r->i += 2;
  return v;
}
static uint32_t get_u32(rd_t *r) {
  const uint8_t *p = r->b + r->i;
  r->i += 4;
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
         ((uint32_t)p[2] << 8) | p[3];
}

/* An atom in any of its four encodings, into it->atom as UTF-8. */
static int read_atom(rd_t *r, phc__ext_item_t *it) {
  if (need(r, 1)) return PHC_EDECODE;
  int tag = (int)get_u8(r);
  int wide = tag == PHC__TAG_ATOM || tag == PHC__TAG_ATOM_UTF8;
  int latin1 = tag == PHC__TAG_ATOM || tag == PHC__TAG_SMALL_ATOM;
  if (!wide && tag != PHC__TAG_SMALL_ATOM && tag != PHC__TAG_SMALL_ATOM_UTF8)
    return PHC_EDECODE;
  if (need(r, wide ? 2 : 1)) return PHC_EDECODE;
  uint32_t n = wide ? get_u16(r) : get_u8(r);
  if (need(r, n)) return PHC_EDECODE;
  const uint8_t *p = r->b + r->i;
  r->i += (int)n;
  size_t o = 0;
  if (latin1) {
    if (n > 255) return PHC_EDECODE;
    for (uint32_t k = 0; k < n; k++) {
      if (p[k] < 0x80) {
        it->atom[o++] = (char)p[k];
      } else {
        it->atom[o++] = (char)(0xC0 | (p[k] >> 6));
        it->atom[o++] = (char)(0x80 | (p[k] & 0x3F));
      }
    }
    it->atom_chars = n;
  } else {
    uint32_t max_cp;
    if (n >= sizeof it->atom ||
        utf8_scan((const char *)p, n, &it->atom_chars, &max_cp) < 0 ||
        it->atom_chars > 255)
      return PHC_EDECODE;
    memcpy(it->atom, p, n);
    o = n;
  }
  it->atom[o] = 0;
  it->atom_len = o;
  return 0;
}

/* Integer with magnitude at p (little-endian, n bytes): drop high zeros. */
static void set_mag(phc__ext_item_t *it, int neg, const uint8_t *p,
                    size_t n) {
  while (n > 0 && p[n - 1] == 0) n--;
  it->mag = p;
  it->mag_len = n;
  it->neg = n > 0 && neg;
}

static void set_small(phc__ext_item_t *it, int64_t v) {
  size_t n = mag_of(v, it->mag_small);
  it->mag = it->mag_small;
  it->mag_len = n;
  it->neg = v < 0;
}

static int read_number(rd_t *r, int tag, phc__ext_item_t *it) {
  it->cls = PHC__EXT_NUMBER;
  switch (tag) {
  case PHC__TAG_SMALL_INT:
    if (need(r, 1)) return PHC_EDECODE;
    set_small(it, get_u8(r));
    return 0;
  case PHC__TAG_INT:
    if (need(r, 4)) return PHC_EDECODE;
    set_small(it, (int32_t)get_u32(r));
    return 0;
  case PHC__TAG_SMALL_BIG:
  case PHC__TAG_LARGE_BIG: {
    if (need(r, tag == PHC__TAG_SMALL_BIG ? 2 : 5)) return PHC_EDECODE;
    uint32_t n = tag == PHC__TAG_SMALL_BIG ? get_u8(r) : get_u32(r);
    int neg = get_u8(r) != 0;
    if (need(r, n)) return PHC_EDECODE;
    set_mag(it, neg, r->b + r->i, n);
    r->i += (int)n;
    return 0;
  }
  case PHC__TAG_NEW_FLOAT: {
    if (need(r, 8)) return PHC_EDECODE;
    uint64_t bits = (uint64_t)get_u32(r) << 32;
    bits |= get_u32(r);
    memcpy(&it->d, &bits, sizeof it->d);
    it->is_float = 1;
    return isfinite(it->d) ? 0 : PHC_EDECODE;
  }
  case PHC__TAG_FLOAT: {
    if (need(r, 31)) return PHC_EDECODE;
    char s[32];
    memcpy(s, r->b + r->i, 31);
    s[31] = 0;
    r->i += 31;
    it->d = strtod(s, NULL);
    it->is_float = 1;
    return isfinite(it->d) ? 0 : PHC_EDECODE;
  }
  }
  return PHC_EDECODE;
}

/* Node atom, then the fields of pids, ports and references. */
static int read_identifier(rd_t *r, int tag, phc__ext_item_t *it) {
  int rc;
  switch (tag) {
  case PHC__TAG_PID:
  case PHC__TAG_NEW_PID:
    it->cls = PHC__EXT_PID;
    if ((rc = read_atom(r, it))) return rc;
    if (need(r, tag == PHC__TAG_PID ? 9 : 12)) return PHC_EDECODE;
    it->id = get_u32(r);
    it->serial = get_u32(r);
    it->creation = tag == PHC__TAG_PID ? get_u8(r) : get_u32(r);
    return 0;
  case PHC__TAG_PORT:
  case PHC__TAG_NEW_PORT:
  case PHC__TAG_V4_PORT:
    it->cls = PHC__EXT_PORT;
    if ((rc = read_atom(r, it))) return rc;
    if (tag == PHC__TAG_V4_PORT) {
      if (need(r, 12)) return PHC_EDECODE;
      it->id = (uint64_t)get_u32(r) << 32;
      it->id |= get_u32(r);
    } else {
      if (need(r, tag == PHC__TAG_PORT ? 5 : 8)) return PHC_EDECODE;
      it->id = get_u32(r);
    }
    it->creation = tag == PHC__TAG_PORT ? get_u8(r) : get_u32(r);
    return 0;
  case PHC__TAG_REF: /* node, one word, creation byte */
    it->cls = PHC__EXT_REF;
    if ((rc = read_atom(r, it))) return rc;
    if (need(r, 5)) return PHC_EDECODE;
    it->nwords = 1;
    it->words[0] = get_u32(r);
    it->creation = get_u8(r);
    return 0;
  case PHC__TAG_NEW_REF:
  case PHC__TAG_NEWER_REF: {
    it->cls = PHC__EXT_REF;
    if (need(r, 2)) return PHC_EDECODE;
    uint32_t n = get_u16(r);
    if (n < 1 || n > 5) return PHC_EDECODE;
    if ((rc = read_atom(r, it))) return rc;
    if (need(r, (tag == PHC__TAG_NEW_REF ? 1 : 4) + 4 * (uint64_t)n))
      return PHC_EDECODE;
    it->creation = tag == PHC__TAG_NEW_REF ? get_u8(r) : get_u32(r);
    it->nwords = (int)n;
    for (uint32_t k = 0; k < n; k++) it->words[k] = get_u32(r);
    return 0;
  }
  }
  return PHC_EDECODE;
}

static int read_bits(rd_t *r, int tag, phc__ext_item_t *it) {
  it->cls = PHC__EXT_BITS;
  if (need(r, tag == PHC__TAG_BINARY ? 4 : 5)) return PHC_EDECODE;
  uint32_t n = get_u32(r);
  it->last_bits = tag == PHC__TAG_BINARY ? 8 : (int)get_u8(r);
  if (need(r, n)) return PHC_EDECODE;
  if (it->last_bits < 1 || it->last_bits > 8) return PHC_EDECODE;
  if (n == 0) it->last_bits = 8; /* <<>> */
  it->bytes = r->b + r->i;
  it->nbytes = n;
  r->i += (int)n;
  return 0;
}

/* Funs are walked whole (term.h); their contents are not interpreted. */
static int read_fun(rd_t *r, phc__ext_item_t *it) {
  it->cls = PHC__EXT_FUN;
  int i = r->i - 1; /* the tag */
  if (phc__term_skip((const char *)r->b, r->len, &i)) return PHC_EDECODE;
  r->i = i;
  return 0;
}

int phc__ext_read(const char *buf, int len, int *index, phc__ext_item_t *it) {
  rd_t r = {(const uint8_t *)buf, len, *index};
  memset(it, 0, sizeof *it);
  if (need(&r, 1)) return PHC_EDECODE;
  int tag = r.b[r.i];
  it->tag = tag;
  int rc = 0;
  switch (tag) {
  case PHC__TAG_ATOM:
  case PHC__TAG_SMALL_ATOM:
  case PHC__TAG_ATOM_UTF8:
  case PHC__TAG_SMALL_ATOM_UTF8:
    it->cls = PHC__EXT_ATOM;
    rc = read_atom(&r, it);
    break;
  case PHC__TAG_SMALL_TUPLE:
  case PHC__TAG_LARGE_TUPLE:
    r.i++;
    it->cls = PHC__EXT_TUPLE;
    if (need(&r, tag == PHC__TAG_SMALL_TUPLE ? 1 : 4)) return PHC_EDECODE;
    it->arity = tag == PHC__TAG_SMALL_TUPLE ? get_u8(&r) : get_u32(&r);
    break;
  case PHC__TAG_MAP:
    r.i++;
    it->cls = PHC__EXT_MAP;
    if (need(&r, 4)) return PHC_EDECODE;
    it->arity = get_u32(&r);
    break;
  case PHC__TAG_NIL:
    it->cls = PHC__EXT_NIL;
    break;
  case PHC__TAG_STRING:
    if (need(&r, 3)) return PHC_EDECODE;
    it->cls = (r.b[r.i + 1] | r.b[r.i + 2]) ? PHC__EXT_LIST : PHC__EXT_NIL;
    break;
  case PHC__TAG_LIST:
    it->cls = PHC__EXT_LIST;
    break;
  case PHC__TAG_BINARY:
  case PHC__TAG_BIT_BINARY:
    r.i++;
    rc = read_bits(&r, tag, it);
    break;
  case PHC__TAG_NEW_FUN:
  case PHC__TAG_EXPORT:
    r.i++;
    rc = read_fun(&r, it);
    break;
  case PHC__TAG_PID:
  case PHC__TAG_NEW_PID:
  case PHC__TAG_PORT:
  case PHC__TAG_NEW_PORT:
  case PHC__TAG_V4_PORT:
  case PHC__TAG_REF:
  case PHC__TAG_NEW_REF:
  case PHC__TAG_NEWER_REF:
    r.i++;
    rc = read_identifier(&r, tag, it);
    break;
  default:
    r.i++;
    rc = read_number(&r, tag, it);
    break;
  }
  if (rc) return rc;
  *index = r.i;
  return 0;
}

/* ---- list walking ------------------------------------------------------- */

int phc__ext_list_begin(phc__ext_list_iter_t *it, const char *buf, int len,
                        int index) {
  memset(it, 0, sizeof *it);
  it->buf = buf;
  it->len = len;
  it->index = index;
  it->tail_buf = buf;
  it->tail_len = len;
  it->tail_index = index;
  return 0;
}

static const char nil_term[1] = {(char)PHC__TAG_NIL};

/* Open the next chunk at it->index: 1 if it has cells, 0 at the tail. */
static int list_open_chunk(phc__ext_list_iter_t *it) {
  rd_t r = {(const uint8_t *)it->buf, it->len, it->index};
  if (it->in_string) { /* a STRING_EXT just ended: implicit nil */
    it->in_string = 0;
    it->tail_implicit = 1;
    it->tail_buf = nil_term;
    it->tail_len = 1;
    it->tail_index = 0;
    return 0;
  }
  for (;;) {
    if (need(&r, 1)) return PHC_EDECODE;
    int tag = r.b[r.i];
    if (tag != PHC__TAG_LIST && tag != PHC__TAG_STRING) {
      it->tail_index = r.i;
      it->index = r.i;
      return 0;
    }
    int start = r.i++;
    if (need(&r, tag == PHC__TAG_LIST ? 4 : 2)) return PHC_EDECODE;
    uint32_t n = tag == PHC__TAG_LIST ? get_u32(&r) : get_u16(&r);
    if (n == 0) {
      if (tag == PHC__TAG_STRING) { /* an empty string is nil */
        it->tail_index = start;
        it->index = start;
        return 0;
      }
      continue; /* LIST_EXT of 0 cells: its tail follows */
    }
    if (tag == PHC__TAG_STRING && need(&r, n)) return PHC_EDECODE;
    it->in_string = tag == PHC__TAG_STRING;
    it->left = n;
    it->index = r.i;
    return 1;
  }
}

int phc__ext_list_next(phc__ext_list_iter_t *it) {
  if (it->left == 0) {
    int rc = list_open_chunk(it);
    if (rc <= 0) return rc;
  }
  it->left--;
  if (it->in_string) {
    it->byte_term[0] = (char)PHC__TAG_SMALL_INT;
    it->byte_term[1] = it->buf[it->index++];
    it->elem_buf = it->byte_term;
    it->elem_len = 2;
    it->elem_index = 0;
    return 1;
  }
  it->elem_buf = it->buf;
  it->elem_len = it->len;
  it->elem_index = it->index;
  return phc__term_skip_at(it->buf, it->len, &it->index, it->depth + 1) < 0
             ? PHC_EDECODE
             : 1;
}

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
    if ((rc = put_u8(x, PHC__TAG_NEW_PID)) || (rc = put_node_atom(x, it, enc)) ||
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
static int finish_list(ei_x_buff *x, const phc__ext_list_iter_t *li,
                       int proper, int write_nil, phc__etf_enc_t enc,
                       int depth, int *index) {
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
  case PHC__EXT_ATOM:
    rc = phc__ext_atom(x, it.atom, it.atom_len, enc);
    break;
  case PHC__EXT_BITS:
    rc = reencode_bits(x, &it);
    break;
  case PHC__EXT_PID:
  case PHC__EXT_PORT:
  case PHC__EXT_REF:
    rc = reencode_identifier(x, &it, enc);
    break;
  case PHC__EXT_TUPLE:
    if ((rc = phc__ext_tuple_header(x, it.arity))) return rc;
    for (uint32_t k = 0; k < it.arity && rc == 0; k++)
      rc = reencode(x, buf, len, &i, enc, depth + 1);
    break;
  case PHC__EXT_MAP:
    rc = reencode_map(x, buf, len, &i, it.arity, enc, depth);
    break;
  case PHC__EXT_NIL:
  case PHC__EXT_LIST:
    rc = reencode_list(x, buf, len, &i, enc, depth);
    break;
  default: /* funs */
    rc = PHC_EINVAL;
    break;
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
