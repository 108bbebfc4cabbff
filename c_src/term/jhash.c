/* jhash.c - lookup2's block hash (see jhash.h). */
#include "term/jhash.h"

static uint32_t jhash_le32(const uint8_t *k) {
  return k[0] | ((uint32_t)k[1] << 8) | ((uint32_t)k[2] << 16) |
         ((uint32_t)k[3] << 24);
}

uint32_t phc__jhash_block(const uint8_t *k, size_t len, uint32_t initval) {
  uint32_t a = PHC__JHASH_GOLDEN, b = PHC__JHASH_GOLDEN, c = initval;
  size_t left = len;
  for (; left >= 12; k += 12, left -= 12) {
    a += jhash_le32(k);
    b += jhash_le32(k + 4);
    c += jhash_le32(k + 8);
    phc__jhash_mix(&a, &b, &c);
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
  phc__jhash_mix(&a, &b, &c);
  return c;
}
