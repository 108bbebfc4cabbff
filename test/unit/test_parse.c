/* test_parse.c - Erlang term text (the config file syntax) to ei terms;
 * each case is checked against the term erl's file:consult/1 reads. */
#include "phc_test.h"

#include "term/parse.h"

typedef struct got_s {
  char printed[8][512];
  int n;
} got_t;

static int collect(void *arg, const char *term, int len) {
  got_t *g = arg;
  char *s = NULL;
  int idx = 1;
  (void)len;
  if (g->n == 8 || ei_s_print_term(&s, term, &idx) < 0) return PHC_EINVAL;
  snprintf(g->printed[g->n++], 512, "%s", s);
  free(s);
  return 0;
}

static void parse_ok(const char *text, got_t *g) {
  char err[128];
  memset(g, 0, sizeof *g);
  assert_int_equal(
      phc__parse_terms(text, strlen(text), collect, g, err, sizeof err), 0);
}

static void test_scalars(void **state) {
  (void)state;
  got_t g;
  parse_ok("foo. 'Elixir.My.Mod'. -42. 1_000. 2.5. \"hi\". <<\"bin\">>. <<>>.",
           &g);
  assert_int_equal(g.n, 8);
  assert_string_equal(g.printed[0], "foo");
  assert_string_equal(g.printed[1], "'Elixir.My.Mod'");
  assert_string_equal(g.printed[2], "-42");
  assert_string_equal(g.printed[3], "1000");
  assert_string_equal(g.printed[4], "2.500000");
  assert_string_equal(g.printed[5], "[104, 105]"); /* "hi" is a list */
  assert_string_equal(g.printed[6], "#Bin<98,105,110>");
}

static void test_containers_and_comments(void **state) {
  (void)state;
  got_t g;
  parse_ok("% a comment\n{hub, my_hub, [{child_specs, [#{id => <<\"a\">>,\n"
           "  start => {phc_counter, start_link, [0]}}]}]}. % trailing\n"
           "{connect, ['a@127.0.0.1', b@h]}.\n[1 | 2].\n{}.\n[].",
           &g);
  assert_int_equal(g.n, 5);
  assert_string_equal(g.printed[1], "{connect, ['a@127.0.0.1', b@h]}");
  assert_string_equal(g.printed[2], "[1 | 2]");
  assert_string_equal(g.printed[3], "{}");
  assert_string_equal(g.printed[4], "[]");
  assert_non_null(strstr(g.printed[0], "start_link"));
}

static int keep_bytes(void *arg, const char *term, int len) {
  memcpy(arg, term, (size_t)len);
  return 0;
}

/* The bytes of term_to_binary([1 | 2]) on OTP 25. */
static void test_improper_list_bytes(void **state) {
  (void)state;
  char buf[64] = {0}, err[64];
  const unsigned char want[] = {131, 108, 0, 0, 0, 1, 97, 1, 97, 2};
  assert_int_equal(
      phc__parse_terms("[1 | 2].", 8, keep_bytes, buf, err, sizeof err), 0);
  assert_memory_equal(buf, want, sizeof want);
}

static void test_errors_name_the_line(void **state) {
  (void)state;
  char err[128];
  got_t g = {0};
  const char *bad[] = {"{a, b}", "{a,\n b.", "#{a b}.",
                       "<<1>>.", "{a}\n}.",  "\"open."};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    g.n = 0;
    assert_int_equal(
        phc__parse_terms(bad[i], strlen(bad[i]), collect, &g, err, sizeof err),
        PHC_EINVAL);
    assert_non_null(strstr(err, "line "));
  }
  assert_int_equal(
      phc__parse_terms("{a,\n b.", 7, collect, &g, err, sizeof err),
      PHC_EINVAL);
  assert_non_null(strstr(err, "line 2"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_scalars),
      cmocka_unit_test(test_containers_and_comments),
      cmocka_unit_test(test_improper_list_bytes),
      cmocka_unit_test(test_errors_name_the_line),
  };
  return cmocka_run_group_tests_name("parse", tests, NULL, NULL);
}
