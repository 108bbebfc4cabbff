/* test_phash2.c - erlang:phash2/1,2 against golden vectors from a real
 * OTP 25 node (test/fixtures/dsup/phash2.tsv: term_to_binary hex,
 * phash2(T, 2^32), phash2(T), phash2(T, 2^32 - 1), the term as text). */
#include "phc_test.h"

#include "common.h"
#include "term/enc.h"
#include "term/phash2.h"

#define FIX "../fixtures/dsup/"

static int unhex(const char *h, char *out, int max) {
  int n = 0;
  for (; h[0] && h[1] && n < max; h += 2) {
    unsigned v;
    if (sscanf(h, "%2x", &v) != 1) return -1;
    out[n++] = (char)v;
  }
  return n;
}

static void test_vectors(void **st) {
  (void)st;
  size_t len;
  char *text = phc_test_read_file(FIX "phash2.tsv", &len);
  assert_non_null(text);
  static char bytes[8192];
  int rows = 0, bad = 0;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    char hex[16384];
    unsigned long full, p1, p2;
    if (sscanf(line, "%16383s %lu %lu %lu", hex, &full, &p1, &p2) != 4)
      continue;
    int n = unhex(hex, bytes, sizeof bytes);
    assert_true(n > 1);
    uint32_t raw = 0, h1 = 0, h2 = 0;
    assert_int_equal(phc__phash2_raw(bytes, n, 1, &raw), 0);
    assert_int_equal(phc__phash2(bytes, n, 1, (uint64_t)1 << 27, &h1), 0);
    assert_int_equal(phc__phash2(bytes, n, 1, 4294967295ULL, &h2), 0);
    if (raw != full || h1 != p1 || h2 != p2) {
      print_message("mismatch: %s (got %u, want %lu)\n", line, raw, full);
      bad++;
    }
    rows++;
  }
  free(text);
  assert_true(rows > 150);
  assert_int_equal(bad, 0);
}

static void test_atom_hash(void **st) {
  (void)st;
  /* 'é' as latin-1 and as UTF-8 hash alike (the atom table's clutch) */
  assert_int_equal(phc__phash2_atom("\xe9", 1, 0),
                   phc__phash2_atom("\xc3\xa9", 2, 1));
  assert_int_equal(phc__phash2_atom("a", 1, 1), 97);
  assert_int_equal(phc__phash2_atom("", 0, 1), 0);
}

static void test_refused(void **st) {
  (void)st;
  uint32_t h;
  /* a truncated term, an old-style float, a bad range */
  const char trunc[] = {(char)131, 104, 2, 97};
  assert_int_equal(phc__phash2_raw(trunc, sizeof trunc, 1, &h), PHC_EDECODE);
  ei_x_buff x;
  phc__x_new_with_version(&x);
  phc__x_atom(&x, "a");
  assert_int_equal(phc__phash2(x.buff, x.index, 1, 0, &h), PHC_EINVAL);
  assert_int_equal(phc__phash2(x.buff, x.index, 1, 2, &h), 0);
  assert_int_equal(h, 1); /* 97 rem 2 */
  ei_x_free(&x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_vectors),
      cmocka_unit_test(test_atom_hash),
      cmocka_unit_test(test_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
