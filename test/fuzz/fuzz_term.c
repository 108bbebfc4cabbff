/* fuzz_term.c - the term walker against ei: whenever phc__term_skip accepts
 * a term, ei_skip_term must accept it too and land on the same index (the
 * gate and the decoders behind it agree on every term's length), and
 * phc__term_check must agree with phc__term_skip. Input: a term without its
 * version byte (a leading 131 is skipped as the wire would). */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#include "term/term.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > (1u << 20)) return 0;
  /* A private copy, exactly size bytes: ASan sees every read past it. */
  char *buf = malloc(size + 1);
  memcpy(buf + 1, data, size);
  buf[0] = (char)131;
  const char *b = buf + 1;
  int len = (int)size, start = 0;
  if (len > 0 && (uint8_t)b[0] == 131) start = 1;
  int i = start;
  if (phc__term_skip(b, len, &i) == 0) {
    int j = start;
    if (i <= start || i > len) abort();
    if (ei_skip_term(b, &j) < 0 || j != i) abort();
    if (start == 1 && i == len && phc__term_check(b, len) != 0) abort();
  }
  /* check: the version byte followed by exactly one term. */
  if (phc__term_check(buf, len + 1) == 0) {
    int j = 1;
    if (ei_skip_term(buf, &j) < 0 || j != len + 1) abort();
  }
  free(buf);
  return 0;
}
