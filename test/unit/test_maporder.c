/* test_maporder.c - map iteration order against golden vectors from real
 * nodes (test/fixtures/maporder/order_otp25.txt from OTP 25,
 * order_otp27.txt from OTP 27.3; gen_maporder.erl beside them): per line
 * a set's name and a key (term_to_binary hex), each set's keys in the
 * order maps:keys/1 returned them for a map of exactly those keys. */
#include "phc_test.h"

#include <ei.h>

#include "common.h"
#include "term/enc.h"
#include "term/maporder.h"
#include "term/term.h"

#define FIX "../fixtures/maporder/"
#define MAX_SETS 16

typedef struct set_s {
  char name[64];
  phc__mo_key_t *keys; /* in the golden order */
  size_t n;
} set_t;

typedef struct sets_s {
  set_t s[MAX_SETS];
  int n;
} sets_t;

static int unhex(const char *h, char *out, int max) {
  int n = 0;
  for (; h[0] && h[1] && n < max; h += 2) {
    unsigned v;
    if (sscanf(h, "%2x", &v) != 1) return -1;
    out[n++] = (char)v;
  }
  return n;
}

/* One key: its set's name and its term_to_binary hex; a new name starts a
 * new set. Keys keep their bytes after the version byte. */
static void add_key(sets_t *ss, const char *name, const char *hex) {
  set_t *s = ss->n ? &ss->s[ss->n - 1] : NULL;
  if (!s || strcmp(s->name, name) != 0) {
    assert_true(ss->n < MAX_SETS);
    s = &ss->s[ss->n++];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
  }
  char tmp[4096];
  int n = unhex(hex, tmp, sizeof tmp);
  assert_true(n > 1 && (unsigned char)tmp[0] == 131);
  char *k = phc__xmalloc((size_t)n - 1);
  memcpy(k, tmp + 1, (size_t)n - 1);
  s->keys = realloc(s->keys, (s->n + 1) * sizeof *s->keys);
  assert_non_null(s->keys);
  s->keys[s->n++] = (phc__mo_key_t){k, n - 1, NULL, 0};
}

static void load(const char *file, sets_t *ss) {
  size_t len;
  char *text = phc_test_read_file(file, &len);
  assert_non_null(text);
  ss->n = 0;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    char name[64], hex[8192];
    if (sscanf(line, "%63s %8191s", name, hex) == 2) add_key(ss, name, hex);
  }
  free(text);
  assert_true(ss->n >= 8);
}

static void unload(sets_t *ss) {
  for (int i = 0; i < ss->n; i++) {
    for (size_t j = 0; j < ss->s[i].n; j++)
      free((char *)ss->s[i].keys[j].buf);
    free(ss->s[i].keys);
  }
}

/* A fixed shuffle (xorshift), so the sort starts from no useful order. */
static void shuffle(phc__mo_key_t *k, size_t n, uint32_t seed) {
  for (size_t i = n; i > 1; i--) {
    seed ^= seed << 13, seed ^= seed >> 17, seed ^= seed << 5;
    size_t j = seed % i;
    phc__mo_key_t t = k[i - 1];
    k[i - 1] = k[j], k[j] = t;
  }
}

static int same_order(const phc__mo_key_t *got, const phc__mo_key_t *want,
                      size_t n) {
  for (size_t i = 0; i < n; i++)
    if (got[i].buf != want[i].buf) {
      print_message("first difference at %zu\n", i);
      return 0;
    }
  return 1;
}

/* Each whole set, sorted from a shuffle, comes out in the golden order. */
static void check_sets(const char *file, int rel) {
  sets_t ss;
  load(file, &ss);
  int bad = 0;
  for (int i = 0; i < ss.n; i++) {
    set_t *s = &ss.s[i];
    phc__mo_key_t *k = phc__xmalloc(s->n * sizeof *k);
    memcpy(k, s->keys, s->n * sizeof *k);
    shuffle(k, s->n, 2463534242U + (uint32_t)i);
    assert_int_equal(phc__maporder_sort(k, s->n, rel), 0);
    if (!same_order(k, s->keys, s->n)) {
      print_message("%s: set %s (%zu keys) out of order\n", file, s->name,
                    s->n);
      bad++;
    }
    free(k);
  }
  unload(&ss);
  assert_int_equal(bad, 0);
}

static void test_otp25(void **st) {
  (void)st;
  check_sets(FIX "order_otp25.txt", 25);
}

static void test_otp27(void **st) {
  (void)st;
  check_sets(FIX "order_otp27.txt", 27);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_otp25),
      cmocka_unit_test(test_otp27),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
