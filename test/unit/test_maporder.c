/* test_maporder.c - map iteration order against golden vectors from real
 * nodes (test/fixtures/maporder/order_otp25.txt from OTP 25,
 * order_otp27.txt from OTP 27.3; gen_maporder.erl beside them): per line
 * a set's name and a key (term_to_binary hex), each set's keys in the
 * order maps:keys/1 returned them for a map of exactly those keys, or for
 * sets named iter_*, maps:iterator/1 and maps:next/1. */
#include "phc_test.h"

#include <ei.h>

#include "common.h"
#include "term/enc.h"
#include "term/maporder.h"
#include "term/order.h"
#include "term/term.h"

#define FIX "../fixtures/maporder/"
#define MAX_SETS 32

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
    phc__mo_walk_t walk = strncmp(s->name, "iter_", 5) == 0
                              ? PHC__MAPORDER_ITER
                              : PHC__MAPORDER_KEYS;
    assert_int_equal(phc__maporder_sort(k, s->n, rel, walk), 0);
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

/* Keys in term order (a flat map's), compared by content. */
static int cmp_term(const void *a, const void *b) {
  const phc__mo_key_t *x = a, *y = b;
  int cmp = 0;
  phc__term_compare_exact(x->buf, x->len, y->buf, y->len, &cmp);
  return cmp;
}

/* Sizes 1..n of a set (every size to 64, then every step-th): the map of
 * the golden order's first s keys iterates in term order up to 32 keys,
 * and above in the golden order (a HAMT's order depends on each key's hash
 * alone). */
static int check_sizes(const set_t *s, int rel, size_t step) {
  phc__mo_key_t *k = phc__xmalloc(s->n * sizeof *k);
  phc__mo_key_t *want = phc__xmalloc(s->n * sizeof *want);
  int bad = 0;
  for (size_t n = 1; n <= s->n && !bad; n += n < 64 ? 1 : step) {
    memcpy(k, s->keys, n * sizeof *k);
    memcpy(want, s->keys, n * sizeof *k);
    if (n <= PHC__MAPORDER_FLAT_MAX) qsort(want, n, sizeof *want, cmp_term);
    shuffle(k, n, 88172645U + (uint32_t)n);
    assert_int_equal(phc__maporder_sort(k, n, rel, PHC__MAPORDER_KEYS), 0);
    if (!same_order(k, want, n)) {
      print_message("set %s, size %zu: out of order\n", s->name, n);
      bad++;
    }
  }
  free(k);
  free(want);
  return bad;
}

static void sizes(const char *file, int rel) {
  sets_t ss;
  load(file, &ss);
  int bad = 0, kinds = 0;
  for (int i = 0; i < ss.n; i++) {
    const char *nm = ss.s[i].name;
    if (strcmp(nm, "bin") && strcmp(nm, "int") && strcmp(nm, "tuple") &&
        strcmp(nm, "list_bytes") && strcmp(nm, "list_int") &&
        strcmp(nm, "mixed"))
      continue;
    assert_int_equal(ss.s[i].n, 2000);
    /* every size for binaries on OTP 25, every 11th otherwise */
    bad += check_sizes(&ss.s[i], rel, rel == 25 && !strcmp(nm, "bin") ? 1 : 11);
    kinds++;
  }
  unload(&ss);
  assert_int_equal(kinds, 6);
  assert_int_equal(bad, 0);
}

static void test_sizes_otp25(void **st) {
  (void)st;
  sizes(FIX "order_otp25.txt", 25);
}

static void test_sizes_otp27(void **st) {
  (void)st;
  sizes(FIX "order_otp27.txt", 27);
}

/* OTP 26 hashes as OTP 25 (the same function, before OTP 27's rewrite). */
static void test_otp26_as_25(void **st) {
  (void)st;
  check_sets(FIX "order_otp25.txt", 26);
}

/* Keys whose hash a C node cannot know: atoms (the atom table's index),
 * pids; the set comes back in term order with PHC_EINVAL. */
static void test_unknowable(void **st) {
  (void)st;
  ei_x_buff b[40];
  phc__mo_key_t k[40];
  for (int i = 0; i < 40; i++) {
    ei_x_new(&b[i]);
    char name[16];
    snprintf(name, sizeof name, "a%d", 39 - i);
    if (i == 5) {
      phc__x_tuple_header(&b[i], 2);
      phc__x_long(&b[i], 1);
    }
    phc__x_atom(&b[i], name);
    k[i] = (phc__mo_key_t){b[i].buff, b[i].index, NULL, 0};
  }
  uint64_t h;
  assert_int_equal(phc__maporder_hash(k[0].buf, k[0].len, 25, &h), PHC_EINVAL);
  assert_int_equal(phc__maporder_hash(k[5].buf, k[5].len, 27, &h), PHC_EINVAL);
  assert_int_equal(phc__maporder_sort(k, 40, 27, PHC__MAPORDER_ITER),
                   PHC_EINVAL);
  for (int i = 1; i < 40; i++)
    assert_true(cmp_term(&k[i - 1], &k[i]) < 0);
  for (int i = 0; i < 40; i++)
    ei_x_free(&b[i]);
  assert_int_equal(phc__maporder_hash("\x61", 0, 25, &h), PHC_EDECODE);
  assert_int_equal(phc__maporder_hash("\x6a", 1, 27, &h), 0); /* [] */
  /* a bitstring of no bytes but 3 bits: refused on both walks */
  static const char bits0[] = {77, 0, 0, 0, 0, 3};
  for (int rel = 25; rel <= 27; rel += 2) {
    int rc = phc__maporder_hash(bits0, sizeof bits0, rel, &h);
    assert_true(rc == PHC_EDECODE || rc == PHC_EINVAL);
  }
}

/* Mangled keys (each byte set to 0, 0xFF or +1; each prefix) hash or are
 * refused, never read past their bytes (run under make SAN=1). */
static void test_mangled(void **st) {
  (void)st;
  sets_t ss;
  load(FIX "order_otp25.txt", &ss);
  char tmp[4096];
  long hashed = 0;
  for (int i = 0; i < ss.n; i++)
    for (size_t j = 0; j < ss.s[i].n && j < 40; j++) {
      const phc__mo_key_t *k = &ss.s[i].keys[j];
      for (int pos = 0; pos < k->len && k->len <= (int)sizeof tmp; pos++)
        for (int v = 0; v < 4; v++) {
          memcpy(tmp, k->buf, (size_t)k->len);
          tmp[pos] = v == 0 ? 0 : v == 1 ? (char)0xFF : (char)(tmp[pos] + 1);
          int len = v == 3 ? pos + 1 : k->len;
          uint64_t h;
          hashed += phc__maporder_hash(tmp, len, 25, &h) == 0;
          hashed += phc__maporder_hash(tmp, len, 27, &h) == 0;
        }
    }
  unload(&ss);
  assert_true(hashed > 0);
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
      cmocka_unit_test(test_otp25),       cmocka_unit_test(test_otp27),
      cmocka_unit_test(test_otp26_as_25), cmocka_unit_test(test_sizes_otp25),
      cmocka_unit_test(test_sizes_otp27), cmocka_unit_test(test_unknowable),
      cmocka_unit_test(test_mangled),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
