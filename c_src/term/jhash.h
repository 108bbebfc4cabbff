/* jhash.h - Bob Jenkins' lookup2 mix and block hash, as ERTS uses them in
 * make_hash2 (erlang:phash2) and in its internal map hash.
 *
 * Both of phc's ERTS hash reproductions (term/phash2.c, term/maporder.c)
 * mix words and hash byte blocks the same way; this is that one copy. It
 * owns no state.
 */
#ifndef PHC_TERM_JHASH_H
#define PHC_TERM_JHASH_H

#include <stddef.h>
#include <stdint.h>

#define PHC__JHASH_GOLDEN 0x9e3779b9U /* ERTS's HCONST */

/* One lookup2 round over a, b, c. */
static inline void phc__jhash_mix(uint32_t *a, uint32_t *b, uint32_t *c) {
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

/* lookup2 over len bytes at k, from initval (ERTS's block_hash). */
uint32_t phc__jhash_block(const uint8_t *k, size_t len, uint32_t initval);

#endif
