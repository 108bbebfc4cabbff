/* ext_read.c - reading one external-format item at a time, and walking
 * lists as the BEAM sees them (declared in term/ext.h; used by the
 * re-encoder in ext.c and by term order in order.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "term/cursor.h"
#include "term/ext.h"
#include "term/term.h"

/* ---- reading ------------------------------------------------------------ */

/* An atom in any of its four encodings, into it->atom as UTF-8. */
static int read_atom(phc__cur_t *r, phc__ext_item_t *it) {
  if (!phc__cur_need(r, 1)) return PHC_EDECODE;
  int tag = (int)phc__cur_u8(r);
  int wide = tag == PHC__TAG_ATOM || tag == PHC__TAG_ATOM_UTF8;
  int latin1 = tag == PHC__TAG_ATOM || tag == PHC__TAG_SMALL_ATOM;
  if (!wide && tag != PHC__TAG_SMALL_ATOM && tag != PHC__TAG_SMALL_ATOM_UTF8)
    return PHC_EDECODE;
  if (!phc__cur_need(r, wide ? 2 : 1)) return PHC_EDECODE;
  uint32_t n = wide ? phc__cur_u16(r) : phc__cur_u8(r);
  if (!phc__cur_need(r, n)) return PHC_EDECODE;
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
        phc__ext_utf8_scan((const char *)p, n, &it->atom_chars, &max_cp) < 0 ||
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
static void set_mag(phc__ext_item_t *it, int neg, const uint8_t *p, size_t n) {
  while (n > 0 && p[n - 1] == 0)
    n--;
  it->mag = p;
  it->mag_len = n;
  it->neg = n > 0 && neg;
}

static void set_small(phc__ext_item_t *it, int64_t v) {
  size_t n = phc__ext_mag_of(v, it->mag_small);
  it->mag = it->mag_small;
  it->mag_len = n;
  it->neg = v < 0;
}

static int read_number(phc__cur_t *r, int tag, phc__ext_item_t *it) {
  it->cls = PHC__EXT_NUMBER;
  switch (tag) {
  case PHC__TAG_SMALL_INT:
    if (!phc__cur_need(r, 1)) return PHC_EDECODE;
    set_small(it, phc__cur_u8(r));
    return 0;
  case PHC__TAG_INT:
    if (!phc__cur_need(r, 4)) return PHC_EDECODE;
    set_small(it, (int32_t)phc__cur_u32(r));
    return 0;
  case PHC__TAG_SMALL_BIG:
  case PHC__TAG_LARGE_BIG: {
    if (!phc__cur_need(r, tag == PHC__TAG_SMALL_BIG ? 2 : 5))
      return PHC_EDECODE;
    uint32_t n = tag == PHC__TAG_SMALL_BIG ? phc__cur_u8(r) : phc__cur_u32(r);
    int neg = phc__cur_u8(r) != 0;
    if (!phc__cur_need(r, n)) return PHC_EDECODE;
    set_mag(it, neg, r->b + r->i, n);
    r->i += (int)n;
    return 0;
  }
  case PHC__TAG_NEW_FLOAT: {
    if (!phc__cur_need(r, 8)) return PHC_EDECODE;
    uint64_t bits = (uint64_t)phc__cur_u32(r) << 32;
    bits |= phc__cur_u32(r);
    memcpy(&it->d, &bits, sizeof it->d);
    it->is_float = 1;
    return isfinite(it->d) ? 0 : PHC_EDECODE;
  }
  case PHC__TAG_FLOAT: {
    if (!phc__cur_need(r, 31)) return PHC_EDECODE;
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
static int read_identifier(phc__cur_t *r, int tag, phc__ext_item_t *it) {
  int rc;
  switch (tag) {
  case PHC__TAG_PID:
  case PHC__TAG_NEW_PID:
    it->cls = PHC__EXT_PID;
    if ((rc = read_atom(r, it))) return rc;
    if (!phc__cur_need(r, tag == PHC__TAG_PID ? 9 : 12)) return PHC_EDECODE;
    it->id = phc__cur_u32(r);
    it->serial = phc__cur_u32(r);
    it->creation = tag == PHC__TAG_PID ? phc__cur_u8(r) : phc__cur_u32(r);
    return 0;
  case PHC__TAG_PORT:
  case PHC__TAG_NEW_PORT:
  case PHC__TAG_V4_PORT:
    it->cls = PHC__EXT_PORT;
    if ((rc = read_atom(r, it))) return rc;
    if (tag == PHC__TAG_V4_PORT) {
      if (!phc__cur_need(r, 12)) return PHC_EDECODE;
      it->id = (uint64_t)phc__cur_u32(r) << 32;
      it->id |= phc__cur_u32(r);
    } else {
      if (!phc__cur_need(r, tag == PHC__TAG_PORT ? 5 : 8)) return PHC_EDECODE;
      it->id = phc__cur_u32(r);
    }
    it->creation = tag == PHC__TAG_PORT ? phc__cur_u8(r) : phc__cur_u32(r);
    return 0;
  case PHC__TAG_REF: /* node, one word, creation byte */
    it->cls = PHC__EXT_REF;
    if ((rc = read_atom(r, it))) return rc;
    if (!phc__cur_need(r, 5)) return PHC_EDECODE;
    it->nwords = 1;
    it->words[0] = phc__cur_u32(r);
    it->creation = phc__cur_u8(r);
    return 0;
  case PHC__TAG_NEW_REF:
  case PHC__TAG_NEWER_REF: {
    it->cls = PHC__EXT_REF;
    if (!phc__cur_need(r, 2)) return PHC_EDECODE;
    uint32_t n = phc__cur_u16(r);
    if (n < 1 || n > 5) return PHC_EDECODE;
    if ((rc = read_atom(r, it))) return rc;
    if (!phc__cur_need(r, (tag == PHC__TAG_NEW_REF ? 1 : 4) + 4 * (uint64_t)n))
      return PHC_EDECODE;
    it->creation = tag == PHC__TAG_NEW_REF ? phc__cur_u8(r) : phc__cur_u32(r);
    it->nwords = (int)n;
    for (uint32_t k = 0; k < n; k++)
      it->words[k] = phc__cur_u32(r);
    return 0;
  }
  }
  return PHC_EDECODE;
}

static int read_bits(phc__cur_t *r, int tag, phc__ext_item_t *it) {
  it->cls = PHC__EXT_BITS;
  if (!phc__cur_need(r, tag == PHC__TAG_BINARY ? 4 : 5)) return PHC_EDECODE;
  uint32_t n = phc__cur_u32(r);
  it->last_bits = tag == PHC__TAG_BINARY ? 8 : (int)phc__cur_u8(r);
  if (!phc__cur_need(r, n)) return PHC_EDECODE;
  if (it->last_bits < 1 || it->last_bits > 8) return PHC_EDECODE;
  if (n == 0) it->last_bits = 8; /* <<>> */
  it->bytes = r->b + r->i;
  it->nbytes = n;
  r->i += (int)n;
  return 0;
}

/* Funs are walked whole (term.h); their contents are not interpreted. */
static int read_fun(phc__cur_t *r, phc__ext_item_t *it) {
  it->cls = PHC__EXT_FUN;
  int i = (int)r->i - 1; /* the tag */
  if (phc__term_skip((const char *)r->b, (int)r->len, &i)) return PHC_EDECODE;
  r->i = (size_t)i;
  return 0;
}

/* Tuples, maps and lists: the header only. */
static int ext_read_container(phc__cur_t *r, int tag, phc__ext_item_t *it) {
  switch (tag) {
  case PHC__TAG_SMALL_TUPLE:
  case PHC__TAG_LARGE_TUPLE:
    r->i++;
    it->cls = PHC__EXT_TUPLE;
    if (!phc__cur_need(r, tag == PHC__TAG_SMALL_TUPLE ? 1 : 4))
      return PHC_EDECODE;
    it->arity = tag == PHC__TAG_SMALL_TUPLE ? phc__cur_u8(r) : phc__cur_u32(r);
    return 0;
  case PHC__TAG_MAP:
    r->i++;
    it->cls = PHC__EXT_MAP;
    if (!phc__cur_need(r, 4)) return PHC_EDECODE;
    it->arity = phc__cur_u32(r);
    return 0;
  case PHC__TAG_NIL: it->cls = PHC__EXT_NIL; return 0;
  case PHC__TAG_STRING:
    if (!phc__cur_need(r, 3)) return PHC_EDECODE;
    it->cls = (r->b[r->i + 1] | r->b[r->i + 2]) ? PHC__EXT_LIST : PHC__EXT_NIL;
    return 0;
  default: /* PHC__TAG_LIST */ it->cls = PHC__EXT_LIST; return 0;
  }
}

int phc__ext_read(const char *buf, int len, int *index, phc__ext_item_t *it) {
  memset(it, 0, sizeof *it);
  if (len < 0 || *index < 0) return PHC_EDECODE;
  phc__cur_t r = {(const uint8_t *)buf, (size_t)len, (size_t)*index};
  if (!phc__cur_need(&r, 1)) return PHC_EDECODE;
  int tag = r.b[r.i];
  it->tag = tag;
  int rc;
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
  case PHC__TAG_MAP:
  case PHC__TAG_NIL:
  case PHC__TAG_STRING:
  case PHC__TAG_LIST: rc = ext_read_container(&r, tag, it); break;
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
  *index = (int)r.i;
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
  if (it->len < 0 || it->index < 0) return PHC_EDECODE;
  phc__cur_t r = {(const uint8_t *)it->buf, (size_t)it->len, (size_t)it->index};
  if (it->in_string) { /* a STRING_EXT just ended: implicit nil */
    it->in_string = 0;
    it->tail_implicit = 1;
    it->tail_buf = nil_term;
    it->tail_len = 1;
    it->tail_index = 0;
    return 0;
  }
  for (;;) {
    if (!phc__cur_need(&r, 1)) return PHC_EDECODE;
    int tag = r.b[r.i];
    if (tag != PHC__TAG_LIST && tag != PHC__TAG_STRING) {
      it->tail_index = (int)r.i;
      it->index = (int)r.i;
      return 0;
    }
    int start = r.i++;
    if (!phc__cur_need(&r, tag == PHC__TAG_LIST ? 4 : 2)) return PHC_EDECODE;
    uint32_t n = tag == PHC__TAG_LIST ? phc__cur_u32(&r) : phc__cur_u16(&r);
    if (n == 0) {
      if (tag == PHC__TAG_STRING) { /* an empty string is nil */
        it->tail_index = start;
        it->index = start;
        return 0;
      }
      continue; /* LIST_EXT of 0 cells: its tail follows */
    }
    if (tag == PHC__TAG_STRING && !phc__cur_need(&r, n)) return PHC_EDECODE;
    it->in_string = tag == PHC__TAG_STRING;
    it->left = n;
    it->index = (int)r.i;
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
