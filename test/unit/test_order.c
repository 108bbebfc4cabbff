/* test_order.c - Erlang term order against lists:sort/1 on a real OTP 25
 * node. ../fixtures/ring/order_sorted.tsv (written by gen_ext_order.erl)
 * lists 97 terms of every class in the order lists:sort/1 gave, each
 * marked lt or eq against the line before. */
#include "phc_test.h"

#include "common.h"
#include "term/ext.h"
#include "term/order.h"

#define FIX "../fixtures/ring/"
#define MAX_TERMS 256

typedef struct term {
  char *b;
  int len;
  int rank; /* equal terms share a rank */
} term_t;

static int unhex_alloc(const char *h, char **out) {
  size_t n = strlen(h) / 2;
  char *b = malloc(n ? n : 1); /* exact size: ASan sees overreads */
  for (size_t k = 0; k < n; k++) {
    unsigned v;
    sscanf(h + 2 * k, "%2x", &v);
    b[k] = (char)v;
  }
  *out = b;
  return (int)n;
}

static int cmp(const term_t *a, const term_t *b) {
  int c = 99;
  int rc = phc__term_compare_v(a->b, a->len, b->b, b->len, &c);
  if (rc) {
    fprintf(stderr, "a=");
    for (int k = 0; k < a->len; k++)
      fprintf(stderr, "%02x", (uint8_t)a->b[k]);
    fprintf(stderr, " b=");
    for (int k = 0; k < b->len; k++)
      fprintf(stderr, "%02x", (uint8_t)b->b[k]);
    fail_msg("compare failed: %d", rc);
  }
  return c;
}

static int load_sorted_from(const char *path, term_t *t) {
  size_t flen = 0;
  char *data = phc_test_read_file(path, &flen);
  assert_non_null(data);
  char *save = NULL;
  int n = 0, rank = 0;
  for (char *line = strtok_r(data, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save)) {
    if (line[0] == '#') continue;
    char *tab = strchr(line, '\t');
    assert_non_null(tab);
    *tab++ = 0;
    assert_true(n < MAX_TERMS);
    t[n].len = unhex_alloc(line, &t[n].b);
    if (strcmp(tab, "lt") == 0)
      rank++;
    else if (strcmp(tab, "first") != 0)
      assert_string_equal(tab, "eq");
    t[n].rank = rank;
    n++;
  }
  free(data);
  return n;
}

static int load_sorted(term_t *t) {
  return load_sorted_from(FIX "order_sorted.tsv", t);
}

static void free_terms(term_t *t, int n) {
  for (int k = 0; k < n; k++)
    free(t[k].b);
}

/* Every pair agrees with the BEAM's order, both ways round. */
static void check_all_pairs(const char *path) {
  term_t t[MAX_TERMS];
  int n = load_sorted_from(path, t);
  assert_int_equal(n, 97);
  int pairs = 0;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      int c = cmp(&t[i], &t[j]);
      int want = (t[i].rank > t[j].rank) - (t[i].rank < t[j].rank);
      int got = (c > 0) - (c < 0);
      if (got != want) {
        char *ha = malloc(2 * (size_t)t[i].len + 1),
             *hb = malloc(2 * (size_t)t[j].len + 1);
        for (int k = 0; k < t[i].len; k++)
          sprintf(ha + 2 * k, "%02x", (uint8_t)t[i].b[k]);
        for (int k = 0; k < t[j].len; k++)
          sprintf(hb + 2 * k, "%02x", (uint8_t)t[j].b[k]);
        fail_msg("line %d vs %d: got %d want %d\n%s\n%s", i, j, got, want, ha,
                 hb);
      }
      pairs++;
    }
  printf("%s: %d terms, %d ordered pairs checked\n", path, n, pairs);
  free_terms(t, n);
}

/* lists:sort/1 on OTP 25, and the same terms sorted on OTP 27.3 (the order
 * is the same; ports are encoded as V4_PORT_EXT there). */
static void test_all_pairs(void **state) {
  (void)state;
  check_all_pairs(FIX "order_sorted.tsv");
  check_all_pairs(FIX "order_sorted_otp27.tsv");
}

/* Sorting a shuffled copy with the comparator gives lists:sort's order. */
static void test_sort(void **state) {
  (void)state;
  term_t t[MAX_TERMS], s[MAX_TERMS];
  int n = load_sorted(t);
  memcpy(s, t, sizeof(term_t) * (size_t)n);
  srand(7);
  for (int k = n - 1; k > 0; k--) {
    int r = rand() % (k + 1);
    term_t tmp = s[k];
    s[k] = s[r];
    s[r] = tmp;
  }
  for (int i = 1; i < n; i++) { /* insertion sort (stable) */
    term_t v = s[i];
    int j = i - 1;
    while (j >= 0 && cmp(&s[j], &v) > 0) {
      s[j + 1] = s[j];
      j--;
    }
    s[j + 1] = v;
  }
  for (int k = 0; k < n; k++)
    assert_int_equal(s[k].rank, t[k].rank);
  free_terms(t, n);
}

/* == pairs from the BEAM, and exact (map key) order. */
static void test_equal_and_exact(void **state) {
  (void)state;
  size_t flen = 0;
  char *data = phc_test_read_file(FIX "order_equal.tsv", &flen);
  assert_non_null(data);
  char *save = NULL;
  int rows = 0;
  for (char *line = strtok_r(data, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save)) {
    if (line[0] == '#') continue;
    char *tab = strchr(line, '\t');
    *tab++ = 0;
    term_t a, b;
    a.len = unhex_alloc(line, &a.b);
    b.len = unhex_alloc(tab, &b.b);
    assert_int_equal(cmp(&a, &b), 0);
    assert_int_equal(cmp(&b, &a), 0);
    /* exact order tells integers from floats */
    int c = 0, d = 0;
    assert_int_equal(
        phc__term_compare_exact(a.b + 1, a.len - 1, b.b + 1, b.len - 1, &c), 0);
    assert_int_equal(
        phc__term_compare_exact(b.b + 1, b.len - 1, a.b + 1, a.len - 1, &d), 0);
    assert_true(c != 0);
    assert_true((c < 0) == (d > 0));
    free(a.b);
    free(b.b);
    rows++;
  }
  assert_int_equal(rows, 5);
  free(data);

  /* 2 > 1.0 as values, but 2 < 1.0 as map keys (OTP 25 map key order) */
  int c = 0;
  assert_int_equal(
      phc__term_compare("\x61\x02", 2, "\x46\x3f\xf0\0\0\0\0\0\0", 9, &c), 0);
  assert_true(c > 0);
  assert_int_equal(
      phc__term_compare_exact("\x61\x02", 2, "\x46\x3f\xf0\0\0\0\0\0\0", 9, &c),
      0);
  assert_true(c < 0);
  /* latin-1 and UTF-8 encodings of the same atom are the same atom */
  assert_int_equal(
      phc__term_compare("\x64\x00\x01\xfc", 4, "\x77\x02\xc3\xbc", 4, &c), 0);
  assert_int_equal(c, 0);
  /* nil as NIL_EXT and as an empty STRING_EXT */
  assert_int_equal(phc__term_compare("\x6a", 1, "\x6b\x00\x00", 3, &c), 0);
  assert_int_equal(c, 0);
}

static void test_atoms_and_errors(void **state) {
  (void)state;
  assert_true(phc__atom_compare("a@h", "b@h") < 0);
  assert_true(phc__atom_compare("node10@h", "node1@h") < 0); /* 0 < @ */
  assert_true(phc__atom_compare("n\xc3\xb6"
                                "de@h",
                                "nz@h") > 0); /* byte-wise */
  assert_int_equal(phc__atom_compare("x", "x"), 0);
  int c = 5;
  /* funs are not compared */
  const char fun[] = "\x71\x77\x05lists\x77\x04sort\x61\x01";
  assert_int_equal(
      phc__term_compare(fun, sizeof fun - 1, fun, sizeof fun - 1, &c),
      PHC_EINVAL);
  assert_int_equal(c, 0);
  /* but a fun against another class is ordered */
  assert_int_equal(phc__term_compare(fun, sizeof fun - 1, "\x68\x00", 2, &c),
                   0);
  assert_true(c < 0);
  /* malformed input */
  assert_int_equal(phc__term_compare("\x68\x02\x61", 3, "\x68\x02\x61", 3, &c),
                   PHC_EDECODE);
  assert_int_equal(phc__term_compare_v("\x6a", 1, "\x83\x6a", 2, &c),
                   PHC_EDECODE);
  assert_int_equal(phc__term_compare("", 0, "\x6a", 1, &c), PHC_EDECODE);
}

int main(void) {
  phc_log_set_level(PHC_LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_all_pairs),
      cmocka_unit_test(test_sort),
      cmocka_unit_test(test_equal_and_exact),
      cmocka_unit_test(test_atoms_and_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
