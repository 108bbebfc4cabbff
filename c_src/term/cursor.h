/* cursor.h - a bounded cursor over big-endian bytes, for the term readers.
 *
 * The walker (term.c) and the item reader (ext_read.c) read external-format
 * bytes through it: phc__cur_need says whether n more bytes are there, and
 * the getters read them (call them only after phc__cur_need said yes). It
 * owns nothing: b points into the caller's buffer.
 */
#ifndef PHC_TERM_CURSOR_H
#define PHC_TERM_CURSOR_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

typedef struct phc__cur_s {
  const uint8_t *b;
  size_t len;
  size_t i;
} phc__cur_t;

/* 1 when n more bytes are left, else 0. */
static inline int phc__cur_need(const phc__cur_t *c, uint64_t n) {
  return c->i <= c->len && (uint64_t)(c->len - c->i) >= n;
}

static inline uint32_t phc__cur_u8(phc__cur_t *c) { return c->b[c->i++]; }

static inline uint32_t phc__cur_u16(phc__cur_t *c) {
  uint32_t v = ((uint32_t)c->b[c->i] << 8) | c->b[c->i + 1];
  c->i += 2;
  return v;
}

static inline uint32_t phc__cur_u32(phc__cur_t *c) {
  const uint8_t *p = c->b + c->i;
  c->i += 4;
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
         ((uint32_t)p[2] << 8) | p[3];
}

/* Move past n bytes: 0, or PHC_EDECODE when fewer are left. */
static inline int phc__cur_take(phc__cur_t *c, uint64_t n) {
  if (!phc__cur_need(c, n)) return PHC_EDECODE;
  c->i += (size_t)n;
  return 0;
}

#endif /* PHC_TERM_CURSOR_H */
