/* test_ext.c - term_to_binary/1 bytes against a real OTP 25 node.
 *
 * ../fixtures/ring/ext_terms.tsv was written by gen_ext_order.erl (same
 * directory) on OTP 25, ext_terms_otp27.tsv by the same module on OTP 27.3:
 * default_hex is term_to_binary(T), minor2_hex term_to_binary(T,
 * [{minor_version, 2}]). Rows with an input column hold non-canonical
 * encodings a foreign peer may send; the expected bytes are then
 * term_to_binary(binary_to_term(Input)). */
#include "phc_test.h"

#include "common.h"
#include "term/ext.h"

#define FIX "../fixtures/ring/"

static int unhex(const char *h, char *out) {
  size_t n = strlen(h);
  for (size_t k = 0; k < n / 2; k++) {
    unsigned v;
    sscanf(h + 2 * k, "%2x", &v);
    out[k] = (char)v;
  }
  return (int)(n / 2);
}

static char *to_hex(const char *b, int n) {
  char *out = malloc(2 * (size_t)n + 1);
  for (int k = 0; k < n; k++)
    sprintf(out + 2 * k, "%02x", (uint8_t)b[k]);
  out[2 * n] = 0;
  return out;
}

static void expect_t2b(const char *name, const char *in, int in_len,
                       phc__etf_enc_t enc, const char *want_hex) {
  ei_x_buff x;
  ei_x_new(&x);
  int rc = phc__ext_term_to_binary(&x, in, in_len, enc);
  if (rc) fail_msg("%s enc %d: rc %d", name, enc, rc);
  char *got = to_hex(x.buff, x.index);
  if (strcmp(got, want_hex) != 0)
    fail_msg("%s enc %d:\n got %.200s\nwant %.200s", name, enc, got, want_hex);
  free(got);
  ei_x_free(&x);
}

/* Every truncation of a valid term is refused (and ASan-clean). */
static void expect_truncations_fail(const char *name, const char *in, int len) {
  for (int l = 0; l < len; l++) {
    char *copy = malloc((size_t)l + 1); /* exact size: ASan sees overreads */
    memcpy(copy, in, (size_t)l);
    ei_x_buff x;
    ei_x_new(&x);
    int rc = phc__ext_term_to_binary(&x, copy, l, PHC__ETF_OTP25);
    if (rc >= 0) fail_msg("%s: prefix of %d bytes accepted", name, l);
    ei_x_free(&x);
    free(copy);
  }
}

typedef struct row {
  char *f[4]; /* name, input_hex ("-": canonical), default_hex, minor2_hex */
} row_t;

static int load_rows(const char *path, char **data, row_t *rows, int max) {
  size_t flen = 0;
  *data = phc_test_read_file(path, &flen);
  assert_non_null(*data);
  char *save = NULL;
  int n = 0;
  for (char *line = strtok_r(*data, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save)) {
    if (line[0] == '#' || strncmp(line, "name\t", 5) == 0) continue;
    assert_true(n < max);
    rows[n].f[0] = line;
    for (int k = 1; k < 4; k++) {
      rows[n].f[k] = strchr(rows[n].f[k - 1], '\t');
      assert_non_null(rows[n].f[k]);
      *rows[n].f[k]++ = 0;
    }
    n++;
  }
  return n;
}

/* OTP 25 mode against real OTP 25 bytes, OTP 26 mode against real OTP 27
 * bytes (ext_terms_otp27.tsv, same generator run on OTP 27.3), from inputs
 * in every encoding the two releases produce. */
static void test_fixture(void **state) {
  (void)state;
  static row_t r25[128], r27[128];
  char *d25, *d27;
  int n25 = load_rows(FIX "ext_terms.tsv", &d25, r25, 128);
  int n27 = load_rows(FIX "ext_terms_otp27.tsv", &d27, r27, 128);
  assert_int_equal(n25, 72);
  assert_int_equal(n27, n25);
  char *bin = malloc(1 << 20);
  int noncanonical = 0;
  for (int k = 0; k < n25; k++) {
    row_t *a = &r25[k], *b = &r27[k];
    assert_string_equal(a->f[0], b->f[0]);
    const char *want25 = a->f[2], *want26 = b->f[2];
    const char *inputs[4] = {a->f[1], b->f[1], NULL, NULL};
    if (strcmp(a->f[1], "-") == 0) {
      inputs[0] = a->f[2]; /* OTP 25 default (latin-1 atoms) */
      inputs[1] = a->f[3]; /* OTP 25 minor_version 2 */
      inputs[2] = b->f[2]; /* OTP 27 default */
    } else {
      noncanonical++;
    }
    /* OTP 26+ maps of 2+ keys are in atom-index order: refused */
    int refused26 = strncmp(want26, "8374", 4) == 0 &&
                    strncmp(want26 + 4, "00000000", 8) != 0 &&
                    strncmp(want26 + 4, "00000001", 8) != 0;
    for (int i = 0; i < 4 && inputs[i]; i++) {
      int n = unhex(inputs[i], bin);
      expect_t2b(a->f[0], bin, n, PHC__ETF_OTP25, want25);
      if (refused26) {
        ei_x_buff x;
        ei_x_new(&x);
        assert_int_equal(phc__ext_term_to_binary(&x, bin, n, PHC__ETF_OTP26),
                         PHC_EINVAL);
        ei_x_free(&x);
        continue;
      }
      expect_t2b(a->f[0], bin, n, PHC__ETF_OTP26, want26);
      if (i == 0 && n < 2000) expect_truncations_fail(a->f[0], bin, n);
    }
  }
  printf("ext_terms.tsv + ext_terms_otp27.tsv: %d rows each (%d non-canonical "
         "inputs)\n",
         n25, noncanonical);
  assert_int_equal(noncanonical, 18);
  free(bin);
  free(d25);
  free(d27);
}

static void expect_buf(ei_x_buff *x, const char *want_hex) {
  char *got = to_hex(x->buff, x->index);
  assert_string_equal(got, want_hex);
  free(got);
  x->index = 0;
}

/* The writers, against bytes from erl on OTP 25, e.g.
 * erl -noshell -eval 'io:format("~w~n",[term_to_binary({3,abc})]),halt().'
 * gives <<131,104,2,97,3,100,0,3,97,98,99>>. */
static void test_writers(void **state) {
  (void)state;
  ei_x_buff x;
  ei_x_new(&x);
  phc__ext_version(&x);
  phc__ext_tuple_header(&x, 2);
  phc__ext_long(&x, 3);
  phc__ext_atomz(&x, "abc", PHC__ETF_OTP25);
  expect_buf(&x, "8368026103640003616263");

  phc__ext_atomz(&x, "\xc3\xbc",
                 PHC__ETF_OTP25); /* 'ü' = <<131,100,0,1,252>> */
  expect_buf(&x, "640001fc");
  phc__ext_atomz(&x, "\xc3\xbc", PHC__ETF_OTP26);
  expect_buf(&x, "7702c3bc");
  phc__ext_atomz(&x, "\xd0\xbc",
                 PHC__ETF_OTP25); /* U+043C: <<131,119,2,208,188>> */
  expect_buf(&x, "7702d0bc");
  phc__ext_atomz(&x, "", PHC__ETF_OTP25);
  expect_buf(&x, "640000");

  int64_t ints[] = {0,          255,          256,           -1,
                    2147483647, 2147483648LL, -2147483648LL, -2147483649LL,
                    1LL << 40,  INT64_MIN,    INT64_MAX};
  const char *want[] = {"6100",
                        "61ff",
                        "6200000100",
                        "62ffffffff",
                        "627fffffff",
                        "6e040000000080",
                        "6280000000",
                        "6e040101000080",
                        "6e0600000000000001",
                        "6e08010000000000000080",
                        "6e0800ffffffffffffff7f"};
  for (size_t k = 0; k < PHC__ARRAY_LEN(ints); k++) {
    assert_int_equal(phc__ext_long(&x, ints[k]), 0);
    expect_buf(&x, want[k]);
  }
  phc__ext_double(&x, 1.5);
  expect_buf(&x, "463ff8000000000000");
  phc__ext_binary(&x, "child-0", 7);
  expect_buf(&x, "6d000000076368696c642d30");
  phc__ext_list_header(&x, 1);
  phc__ext_atomz(&x, "a", PHC__ETF_OTP26);
  phc__ext_nil(&x);
  expect_buf(&x, "6c00000001770161"
                 "6a");
  phc__ext_tuple_header(&x, 300);
  expect_buf(&x, "690000012c");

  /* refused atoms: bad UTF-8, more than 255 characters */
  assert_int_equal(phc__ext_atom(&x, "\xc3", 1, PHC__ETF_OTP25), PHC_EINVAL);
  assert_int_equal(phc__ext_atom(&x, "\xed\xa0\x80", 3, PHC__ETF_OTP26),
                   PHC_EINVAL); /* a surrogate */
  assert_int_equal(phc__ext_atom(&x, "\xc0\xaf", 2, PHC__ETF_OTP26),
                   PHC_EINVAL); /* overlong */
  char big[257];
  memset(big, 'a', 256);
  big[256] = 0;
  assert_int_equal(phc__ext_atomz(&x, big, PHC__ETF_OTP25), PHC_EINVAL);
  big[255] = 0;
  assert_int_equal(phc__ext_atomz(&x, big, PHC__ETF_OTP25), 0);
  assert_int_equal(x.index, 3 + 255);
  ei_x_free(&x);
}

/* Terms built with ei (UTF-8 atoms, LIST_EXT of bytes) hash as the BEAM. */
static void test_from_ei(void **state) {
  (void)state;
  ei_x_buff in, out;
  ei_x_new_with_version(&in);
  ei_x_encode_tuple_header(&in, 3);
  ei_x_encode_atom_len_as(&in, "\xc3\xbcn\xc3\xaf", 5, ERLANG_UTF8,
                          ERLANG_UTF8);
  ei_x_encode_list_header(&in, 2);
  ei_x_encode_long(&in, 104);
  ei_x_encode_long(&in, 105);
  ei_x_encode_empty_list(&in);
  ei_x_encode_double(&in, 0.5);
  ei_x_new(&out);
  assert_int_equal(
      phc__ext_term_to_binary(&out, in.buff, in.index, PHC__ETF_OTP25), 0);
  /* term_to_binary({'ünï', "hi", 0.5}) on OTP 25 */
  char *hex = to_hex(out.buff, out.index);
  assert_string_equal(hex, "836803640003fc6eef6b00026869463fe0000000000000");
  free(hex);
  ei_x_free(&out);
  ei_x_free(&in);
}

static void test_refused(void **state) {
  (void)state;
  ei_x_buff x;
  ei_x_new(&x);
  /* fun lists:sort/1 (EXPORT_EXT) */
  const char fun[] = "\x83\x71\x77\x05lists\x77\x04sort\x61\x01";
  assert_int_equal(
      phc__ext_term_to_binary(&x, fun, sizeof fun - 1, PHC__ETF_OTP25),
      PHC_EINVAL);
  assert_int_equal(x.index, 0); /* nothing left behind */
  /* a map of 33 keys (a hash map on the BEAM) */
  ei_x_buff m;
  ei_x_new_with_version(&m);
  ei_x_encode_map_header(&m, 33);
  for (int k = 0; k < 33; k++) {
    ei_x_encode_long(&m, k);
    ei_x_encode_long(&m, k);
  }
  assert_int_equal(phc__ext_term_to_binary(&x, m.buff, m.index, PHC__ETF_OTP26),
                   PHC_EINVAL);
  ei_x_free(&m);
  /* no version byte, trailing garbage, unknown tag, bad atom bytes */
  assert_int_equal(phc__ext_term_to_binary(&x, "\x6a", 1, PHC__ETF_OTP25),
                   PHC_EDECODE);
  assert_int_equal(
      phc__ext_term_to_binary(&x, "\x83\x6a\x6a", 3, PHC__ETF_OTP25),
      PHC_EDECODE);
  assert_int_equal(phc__ext_term_to_binary(&x, "\x83\x01", 2, PHC__ETF_OTP25),
                   PHC_EDECODE);
  assert_int_equal(
      phc__ext_term_to_binary(&x, "\x83\x77\x01\xff", 4, PHC__ETF_OTP25),
      PHC_EDECODE);
  /* a deeply nested list is refused, not a stack overflow */
  int depth = 5000, n = 1 + depth * 6 + 1;
  char *deep = malloc((size_t)n);
  deep[0] = (char)131;
  for (int k = 0; k < depth; k++)
    memcpy(deep + 1 + 5 * k, "\x6c\x00\x00\x00\x01", 5);
  memset(deep + 1 + 5 * depth, 0x6a, (size_t)depth + 1); /* [] and tails */
  assert_true(phc__ext_term_to_binary(&x, deep, n, PHC__ETF_OTP25) < 0);
  free(deep);
  assert_int_equal(x.index, 0);
  ei_x_free(&x);
}

/* PHC__ETF_CANON (global's lock ids): the same term in different
 * encodings gives the same bytes; funs and hash maps are copied as they
 * came. */
static int canon(const char *b, int len, ei_x_buff *out) {
  int i = 0;
  ei_x_new(out);
  int rc = phc__ext_reencode(out, b, len, &i, PHC__ETF_CANON);
  return rc ? rc : i == len ? 0 : PHC_EDECODE;
}

static void test_canon(void **state) {
  (void)state;
  ei_x_buff a, b, ca, cb;
  /* {global, "ab", [1 | 2], #{k => 1, j => 2}} as ei writes it ... */
  ei_x_new(&a);
  ei_x_format_wo_ver(&a, "{global, \"ab\", 1}");
  a.buff[1] = 4; /* room for the map */
  a.index -= 2;  /* [1 | 2] instead of 1 */
  ei_x_encode_list_header(&a, 1);
  ei_x_encode_long(&a, 1);
  ei_x_encode_long(&a, 2);
  ei_x_encode_map_header(&a, 2);
  ei_x_format_wo_ver(&a, "k");
  ei_x_encode_long(&a, 1);
  ei_x_format_wo_ver(&a, "j");
  ei_x_encode_long(&a, 2);
  /* ... and as an older or foreign peer might: latin-1 atoms, a list of
   * bytes for the string, the map's keys the other way round */
  const char old[] = "\x68\x04\x64\x00\x06global"
                     "\x6c\x00\x00\x00\x02\x61\x61\x61\x62\x6a"
                     "\x6c\x00\x00\x00\x01\x61\x01\x61\x02"
                     "\x74\x00\x00\x00\x02\x73\x01j\x62\x00\x00\x00\x02"
                     "\x73\x01k\x61\x01";
  b = (ei_x_buff){0};
  ei_x_new(&b);
  ei_x_append_buf(&b, old, sizeof old - 1);
  assert_int_equal(canon(a.buff, a.index, &ca), 0);
  assert_int_equal(canon(b.buff, b.index, &cb), 0);
  assert_int_equal(ca.index, cb.index);
  assert_memory_equal(ca.buff, cb.buff, (size_t)ca.index);
  ei_x_free(&ca);
  ei_x_free(&cb);
  /* funs and maps of more than 32 keys: their own bytes */
  const char fun[] = "\x71\x77\x05lists\x77\x04sort\x61\x01";
  assert_int_equal(canon(fun, sizeof fun - 1, &ca), 0);
  assert_int_equal(ca.index, sizeof fun - 1);
  assert_memory_equal(ca.buff, fun, sizeof fun - 1);
  ei_x_free(&ca);
  ei_x_buff m;
  ei_x_new(&m);
  ei_x_encode_tuple_header(&m, 2);
  ei_x_encode_map_header(&m, 33);
  for (int k = 0; k < 33; k++) {
    ei_x_encode_long(&m, k);
    ei_x_encode_long(&m, k);
  }
  ei_x_encode_atom(&m, "after");
  assert_int_equal(canon(m.buff, m.index, &ca), 0);
  assert_int_equal(ca.index, m.index);
  assert_memory_equal(ca.buff, m.buff, (size_t)m.index);
  ei_x_free(&ca);
  /* still bounded: a truncated map is refused */
  assert_true(canon(m.buff, m.index - 8, &ca) < 0);
  ei_x_free(&ca);
  ei_x_free(&m);
  ei_x_free(&a);
  ei_x_free(&b);
}

int main(void) {
  phc_log_set_level(PHC_LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fixture), cmocka_unit_test(test_writers),
      cmocka_unit_test(test_from_ei), cmocka_unit_test(test_refused),
      cmocka_unit_test(test_canon),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
