/* term.c - the bounded term walker and the read-side helpers (see term.h). */
#include "term/term.h"
#include "term/cursor.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "term/ext.h"

/* A read position: b[i] is next, len bytes exist (SIZE_MAX: a term that
 * has already passed the walker, whose own encoding bounds every read). */
/* ---- the walker --------------------------------------------------------- */

/* An atom in any of its four encodings: *chars and *n are its bytes,
 * *latin1 says how to read them; r moves past it. Latin-1 atoms hold at
 * most 255 bytes, UTF-8 atoms at most 255 characters (1020 bytes), as the
 * BEAM and ei require. */
static int term_atom_rd(phc__cur_t *r, const uint8_t **chars, size_t *n,
                        int *latin1) {
  if (!phc__cur_need(r, 1)) return PHC_EDECODE;
  uint32_t tag = r->b[r->i], len;
  int wide = tag == PHC__TAG_ATOM || tag == PHC__TAG_ATOM_UTF8;
  if (!wide && tag != PHC__TAG_SMALL_ATOM && tag != PHC__TAG_SMALL_ATOM_UTF8)
    return PHC_EDECODE;
  if (!phc__cur_need(r, wide ? 3 : 2)) return PHC_EDECODE;
  r->i++;
  len = wide ? phc__cur_u16(r) : phc__cur_u8(r);
  *latin1 = tag == PHC__TAG_ATOM || tag == PHC__TAG_SMALL_ATOM;
  if (len > (*latin1 ? 255u : (uint32_t)PHC__ATOM_MAX - 1) ||
      !phc__cur_need(r, len))
    return PHC_EDECODE;
  /* A UTF-8 atom is valid UTF-8 of at most 255 characters, as the BEAM
   * requires: ei copies its bytes unchecked and cannot encode it again. */
  size_t nchars;
  uint32_t max_cp;
  if (!*latin1 &&
      (phc__ext_utf8_scan((const char *)r->b + r->i, len, &nchars, &max_cp) ||
       nchars > 255))
    return PHC_EDECODE;
  *chars = r->b + r->i;
  *n = len;
  r->i += len;
  return 0;
}

static int term_walk_atom(phc__cur_t *r) {
  const uint8_t *chars;
  size_t n;
  int latin1;
  return term_atom_rd(r, &chars, &n, &latin1);
}

/* SMALL_INTEGER_EXT or INTEGER_EXT (a fun's OldIndex and OldUniq). */
static int term_walk_fixnum(phc__cur_t *r) {
  if (!phc__cur_need(r, 1)) return PHC_EDECODE;
  uint32_t tag = phc__cur_u8(r);
  if (tag == PHC__TAG_SMALL_INT) return phc__cur_take(r, 1);
  if (tag == PHC__TAG_INT) return phc__cur_take(r, 4);
  return PHC_EDECODE;
}

/* PID_EXT or NEW_PID_EXT. */
static int term_walk_pid(phc__cur_t *r) {
  if (!phc__cur_need(r, 1)) return PHC_EDECODE;
  uint32_t tag = phc__cur_u8(r);
  if (tag != PHC__TAG_PID && tag != PHC__TAG_NEW_PID) return PHC_EDECODE;
  if (term_walk_atom(r)) return PHC_EDECODE;
  return phc__cur_take(r, tag == PHC__TAG_PID ? 9 : 12);
}

static int term_walk(phc__cur_t *r, int depth);

/* n terms in a row. Each takes at least one byte, so a count larger than
 * the bytes left is refused before anything is walked. */
static int term_walk_n(phc__cur_t *r, uint64_t n, int depth) {
  if (!phc__cur_need(r, n)) return PHC_EDECODE;
  for (uint64_t k = 0; k < n; k++)
    if (term_walk(r, depth)) return PHC_EDECODE;
  return 0;
}

/* NEW_FUN_EXT after its tag: Size(4) Arity(1) Uniq(16) Index(4)
 * NumFree(4) Module OldIndex OldUniq Pid FreeVars...; Size counts from
 * its own first byte to the end of the last free variable. */
static int term_walk_fun(phc__cur_t *r, int depth) {
  size_t start = r->i;
  if (!phc__cur_need(r, 4 + 1 + 16 + 4 + 4)) return PHC_EDECODE;
  uint32_t size = phc__cur_u32(r);
  r->i += 1 + 16 + 4; /* arity, uniq, index */
  uint32_t num_free = phc__cur_u32(r);
  if (term_walk_atom(r) || term_walk_fixnum(r) || term_walk_fixnum(r) ||
      term_walk_pid(r) || term_walk_n(r, num_free, depth + 1))
    return PHC_EDECODE;
  return r->i - start == size ? 0 : PHC_EDECODE;
}

/* FLOAT_EXT: 31 bytes of text that ei reads with sscanf("%lf"), which
 * stops only at a NUL. Text without a NUL in its 31 bytes would be read
 * past, and text sscanf refuses makes ei_skip_term stop short of the term
 * (inside a tuple it then reports success at the wrong index): neither
 * passes. */
static int term_walk_float_text(phc__cur_t *r) {
  if (!phc__cur_need(r, 31)) return PHC_EDECODE;
  const char *text = (const char *)r->b + r->i;
  double d;
  if (!memchr(text, 0, 31) || sscanf(text, "%lf", &d) != 1) return PHC_EDECODE;
  r->i += 31;
  return 0;
}

/* Numbers, nil, strings, binaries: sizes only. Unknown tags end here. */
static int term_walk_leaf(phc__cur_t *r, uint32_t tag) {
  uint32_t n;
  switch (tag) {
  case PHC__TAG_SMALL_INT: return phc__cur_take(r, 1);
  case PHC__TAG_INT: return phc__cur_take(r, 4);
  case PHC__TAG_NEW_FLOAT: return phc__cur_take(r, 8);
  case PHC__TAG_FLOAT: return term_walk_float_text(r);
  case PHC__TAG_NIL: return 0;
  case PHC__TAG_STRING:
    if (!phc__cur_need(r, 2)) return PHC_EDECODE;
    return phc__cur_take(r, phc__cur_u16(r));
  case PHC__TAG_BINARY:
    if (!phc__cur_need(r, 4)) return PHC_EDECODE;
    return phc__cur_take(r, phc__cur_u32(r));
  case PHC__TAG_BIT_BINARY: {
    if (!phc__cur_need(r, 5)) return PHC_EDECODE;
    n = phc__cur_u32(r);
    uint32_t bits = phc__cur_u8(r);
    if ((bits == 0) != (n == 0) || bits > 8) return PHC_EDECODE;
    return phc__cur_take(r, n);
  }
  case PHC__TAG_SMALL_BIG:
    if (!phc__cur_need(r, 2)) return PHC_EDECODE;
    n = phc__cur_u8(r);
    return phc__cur_take(r, 1 + (uint64_t)n); /* sign, digits */
  case PHC__TAG_LARGE_BIG:
    if (!phc__cur_need(r, 5)) return PHC_EDECODE;
    n = phc__cur_u32(r);
    return phc__cur_take(r, 1 + (uint64_t)n);
  default: /* ATOM_CACHE_REF, LOCAL_EXT, FUN_EXT, anything unknown */
    return PHC_EDECODE;
  }
}

/* Ports, refs and exports: a node or module atom and fixed fields. */
static int term_walk_ident(phc__cur_t *r, uint32_t tag) {
  uint32_t n;
  switch (tag) {
  case PHC__TAG_PORT:
  case PHC__TAG_NEW_PORT:
  case PHC__TAG_V4_PORT:
    if (term_walk_atom(r)) return PHC_EDECODE;
    return phc__cur_take(r, tag == PHC__TAG_PORT       ? 5
                            : tag == PHC__TAG_NEW_PORT ? 8
                                                       : 12);
  case PHC__TAG_REF: /* node, one word, creation byte */
    if (term_walk_atom(r)) return PHC_EDECODE;
    return phc__cur_take(r, 5);
  case PHC__TAG_NEW_REF:
  case PHC__TAG_NEWER_REF:
    if (!phc__cur_need(r, 2)) return PHC_EDECODE;
    n = phc__cur_u16(r);
    if (n < 1 || n > 5 || term_walk_atom(r)) return PHC_EDECODE; /* as ei */
    return phc__cur_take(r,
                         (tag == PHC__TAG_NEW_REF ? 1 : 4) + 4 * (uint64_t)n);
  default: /* PHC__TAG_EXPORT: Module, Function, Arity */
    if (term_walk_atom(r) || term_walk_atom(r) || !phc__cur_need(r, 1) ||
        phc__cur_u8(r) != PHC__TAG_SMALL_INT)
      return PHC_EDECODE;
    return phc__cur_take(r, 1);
  }
}

/* Tuples, maps and lists: their elements, one level deeper. */
static int term_walk_container(phc__cur_t *r, uint32_t tag, int depth) {
  uint32_t n;
  switch (tag) {
  case PHC__TAG_SMALL_TUPLE:
    if (!phc__cur_need(r, 1)) return PHC_EDECODE;
    return term_walk_n(r, phc__cur_u8(r), depth + 1);
  case PHC__TAG_LARGE_TUPLE:
    if (!phc__cur_need(r, 4)) return PHC_EDECODE;
    return term_walk_n(r, phc__cur_u32(r), depth + 1);
  case PHC__TAG_MAP:
    if (!phc__cur_need(r, 4)) return PHC_EDECODE;
    return term_walk_n(r, 2 * (uint64_t)phc__cur_u32(r), depth + 1);
  default: /* PHC__TAG_LIST */
    for (;;) {
      if (!phc__cur_need(r, 4)) return PHC_EDECODE;
      n = phc__cur_u32(r);
      if (!phc__cur_need(r, (uint64_t)n + 1) || term_walk_n(r, n, depth + 1) ||
          !phc__cur_need(r, 1))
        return PHC_EDECODE; /* the elements, then at least a tail byte */
      if (r->b[r->i] != PHC__TAG_LIST) return term_walk(r, depth + 1);
      r->i++; /* a LIST_EXT tail continues the same list */
    }
  }
}

static int term_walk(phc__cur_t *r, int depth) {
  if (depth > PHC__TERM_MAX_DEPTH || !phc__cur_need(r, 1)) return PHC_EDECODE;
  uint32_t tag = r->b[r->i];
  switch (tag) {
  case PHC__TAG_ATOM:
  case PHC__TAG_SMALL_ATOM:
  case PHC__TAG_ATOM_UTF8:
  case PHC__TAG_SMALL_ATOM_UTF8: return term_walk_atom(r);
  case PHC__TAG_PID:
  case PHC__TAG_NEW_PID: return term_walk_pid(r);
  default: break;
  }
  r->i++;
  switch (tag) {
  case PHC__TAG_SMALL_TUPLE:
  case PHC__TAG_LARGE_TUPLE:
  case PHC__TAG_MAP:
  case PHC__TAG_LIST: return term_walk_container(r, tag, depth);
  case PHC__TAG_PORT:
  case PHC__TAG_NEW_PORT:
  case PHC__TAG_V4_PORT:
  case PHC__TAG_REF:
  case PHC__TAG_NEW_REF:
  case PHC__TAG_NEWER_REF:
  case PHC__TAG_EXPORT: return term_walk_ident(r, tag);
  case PHC__TAG_NEW_FUN: return term_walk_fun(r, depth);
  default: return term_walk_leaf(r, tag);
  }
}

int phc__term_skip_at(const char *buf, int len, int *index, int depth) {
  if (!buf || !index || len < 0 || *index < 0 || *index > len || depth < 0)
    return PHC_EDECODE;
  phc__cur_t r = {(const uint8_t *)buf, (size_t)len, (size_t)*index};
  if (term_walk(&r, depth)) return PHC_EDECODE;
  *index = (int)r.i;
  return 0;
}

int phc__term_skip(const char *buf, int len, int *index) {
  return phc__term_skip_at(buf, len, index, 0);
}

int phc__term_check(const char *buf, int len) {
  if (!buf || len < 2 || (unsigned char)buf[0] != PHC__TAG_VERSION)
    return PHC_EDECODE;
  int i = 1;
  if (phc__term_skip(buf, len, &i) < 0 || i != len) return PHC_EDECODE;
  return 0;
}

/* A reader over a term that has already passed the walker. */
static phc__cur_t term_in(const char *buf, int index) {
  phc__cur_t r = {(const uint8_t *)buf, SIZE_MAX, (size_t)index};
  return r;
}

static int term_skip_in(const char *buf, int *index) {
  phc__cur_t r = term_in(buf, *index);
  if (term_walk(&r, 0) || r.i > INT32_MAX) return PHC_EDECODE;
  *index = (int)r.i;
  return 0;
}

/* ---- atoms -------------------------------------------------------------- */

/* Do the atom's bytes spell name (UTF-8)? Latin-1 bytes >= 0x80 are two
 * UTF-8 bytes each. */
static int term_atom_is(const uint8_t *chars, size_t n, int latin1,
                        const char *name) {
  const uint8_t *s = (const uint8_t *)name;
  size_t nl = strlen(name), j = 0;
  if (!latin1) return n == nl && memcmp(chars, name, n) == 0;
  for (size_t k = 0; k < n; k++) {
    uint8_t c = chars[k];
    if (c < 0x80) {
      if (j >= nl || s[j] != c) return 0;
      j++;
    } else {
      if (j + 1 >= nl || s[j] != (uint8_t)(0xC0 | (c >> 6)) ||
          s[j + 1] != (uint8_t)(0x80 | (c & 0x3F)))
        return 0;
      j += 2;
    }
  }
  return j == nl;
}

int phc__term_atom_eq(const char *buf, int index, const char *name) {
  if (!buf || index < 0 || !name) return 0;
  phc__cur_t r = term_in(buf, index);
  const uint8_t *chars;
  size_t n;
  int latin1;
  return term_atom_rd(&r, &chars, &n, &latin1) == 0 &&
         term_atom_is(chars, n, latin1, name);
}

int phc__term_is_atom(const char *term, int len, const char *name) {
  const char *body;
  int blen;
  if (!term || len <= 0 || !name) return 0;
  phc__term_body(term, len, &body, &blen);
  phc__cur_t r = {(const uint8_t *)body, (size_t)blen, 0};
  const uint8_t *chars;
  size_t n;
  int latin1;
  return term_atom_rd(&r, &chars, &n, &latin1) == 0 &&
         term_atom_is(chars, n, latin1, name);
}

int phc__term_atom(const char *buf, int *index, char *out, size_t size) {
  if (out && size) out[0] = 0;
  if (!buf || !index || *index < 0 || !out || size == 0) return PHC_EDECODE;
  phc__cur_t r = term_in(buf, *index);
  const uint8_t *chars;
  size_t n, o = 0;
  int latin1;
  if (term_atom_rd(&r, &chars, &n, &latin1)) return PHC_EDECODE;
  for (size_t k = 0; k < n; k++) {
    uint8_t c = chars[k];
    int two = latin1 && c >= 0x80;
    if (o + (two ? 2 : 1) >= size) {
      out[0] = 0;
      return PHC_EDECODE;
    }
    if (two) {
      out[o++] = (char)(0xC0 | (c >> 6));
      out[o++] = (char)(0x80 | (c & 0x3F));
    } else {
      out[o++] = (char)c;
    }
  }
  out[o] = 0;
  *index = (int)r.i;
  return 0;
}

/* The list at buf[*index]: its first chunk's element count, *index moved
 * to the first element. NIL and STRING_EXT (no atoms, no tuples) give 0
 * elements. PHC_EDECODE when the term is not a list. */
static int term_list_in(const char *buf, int *index, uint32_t *n) {
  phc__cur_t r = term_in(buf, *index);
  uint32_t tag = phc__cur_u8(&r);
  *n = 0;
  if (tag == PHC__TAG_LIST)
    *n = phc__cur_u32(&r);
  else if (tag != PHC__TAG_NIL && tag != PHC__TAG_STRING)
    return PHC_EDECODE;
  *index = (int)r.i;
  return 0;
}

int phc__term_has_atom(const char *buf, int index, const char *name) {
  uint32_t n;
  if (!buf || index < 0 || !name || term_list_in(buf, &index, &n)) return 0;
  for (uint32_t k = 0; k < n; k++) {
    if (phc__term_atom_eq(buf, index, name)) return 1;
    if (term_skip_in(buf, &index)) return 0;
  }
  return 0;
}

/* ---- lookups ------------------------------------------------------------ */

int phc__term_map_get(const char *buf, int index, const char *key, int *value) {
  if (!buf || index < 0 || !key || !value) return PHC_EINVAL;
  phc__cur_t r = term_in(buf, index);
  if (phc__cur_u8(&r) != PHC__TAG_MAP) return PHC_EDECODE;
  uint32_t n = phc__cur_u32(&r);
  int i = (int)r.i;
  for (uint32_t k = 0; k < n; k++) {
    int hit = phc__term_atom_eq(buf, i, key);
    if (term_skip_in(buf, &i)) return PHC_EDECODE;
    if (hit) {
      *value = i;
      return 0;
    }
    if (term_skip_in(buf, &i)) return PHC_EDECODE;
  }
  return PHC_EINVAL;
}

int phc__term_kw_get(const char *buf, int index, const char *key, int *value) {
  uint32_t n;
  if (!buf || index < 0 || !key || !value) return PHC_EINVAL;
  if (term_list_in(buf, &index, &n)) return PHC_EDECODE;
  for (uint32_t k = 0; k < n; k++) {
    const uint8_t *e = (const uint8_t *)buf + index;
    if (e[0] == PHC__TAG_SMALL_TUPLE && e[1] == 2 &&
        phc__term_atom_eq(buf, index + 2, key)) {
      int v = index + 2;
      if (term_skip_in(buf, &v)) return PHC_EDECODE;
      *value = v;
      return 0;
    }
    if (term_skip_in(buf, &index)) return PHC_EDECODE;
  }
  return PHC_EINVAL;
}

/* ---- pids --------------------------------------------------------------- */

static int term_is_pid(const char *buf, int index) {
  uint8_t tag = (uint8_t)buf[index];
  return tag == PHC__TAG_PID || tag == PHC__TAG_NEW_PID;
}

int phc__term_pids(const char *buf, int *index, erlang_pid *out, int max) {
  if (!buf || !index || *index < 0 || (max > 0 && !out)) return PHC_EDECODE;
  int i = *index;
  if (term_is_pid(buf, i)) {
    if (ei_decode_pid(buf, &i, max > 0 ? &out[0] : NULL) < 0)
      return PHC_EDECODE;
    *index = i;
    return 1;
  }
  uint8_t tag = (uint8_t)buf[i];
  uint32_t n;
  if (tag == PHC__TAG_STRING || term_list_in(buf, &i, &n) || n > INT32_MAX)
    return PHC_EDECODE;
  for (uint32_t k = 0; k < n; k++)
    if (!term_is_pid(buf, i) ||
        ei_decode_pid(buf, &i, (int)k < max ? &out[k] : NULL) < 0)
      return PHC_EDECODE;
  if (n > 0 && (uint8_t)buf[i++] != PHC__TAG_NIL) return PHC_EDECODE;
  *index = i;
  return (int)n;
}

/* ---- copies ------------------------------------------------------------- */

char *phc__term_dup(const char *bytes, int len) {
  char *r = phc__xmalloc(len > 0 ? (size_t)len : 1);
  if (len > 0) memcpy(r, bytes, (size_t)len);
  return r;
}

char *phc__term_with_version(const char *term, int term_len, int *out_len) {
  char *b = phc__xmalloc((size_t)term_len + 1);
  b[0] = (char)PHC__TAG_VERSION;
  memcpy(b + 1, term, (size_t)term_len);
  *out_len = term_len + 1;
  return b;
}

void phc__term_body(const char *buf, int len, const char **body, int *blen) {
  if (len > 0 && (unsigned char)buf[0] == PHC__TAG_VERSION) {
    *body = buf + 1;
    *blen = len - 1;
  } else {
    *body = buf;
    *blen = len;
  }
}
