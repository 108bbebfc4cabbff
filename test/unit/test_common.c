/* test_common.c - the error table, interning and compact pids
 * (c_src/common.c). */
#include "phc_test.h"

#include "common.h"

static void test_every_code_has_a_name_and_message(void **state) {
  (void)state;
  static const int codes[] = {
#define CODE(name, value, msg) PHC_##name,
      PHC_ERRNO_MAP(CODE)
#undef CODE
  };
  assert_int_equal(PHC__ARRAY_LEN(codes), 12);
  for (size_t i = 0; i < PHC__ARRAY_LEN(codes); i++) {
    assert_int_equal(codes[i], -(int)(i + 1)); /* dense, from -1 */
    assert_string_not_equal(phc_strerror(codes[i]), "unknown error");
    assert_memory_equal(phc_err_name(codes[i]), "PHC_E", 5);
  }
  assert_string_equal(phc_err_name(PHC_EDECODE), "PHC_EDECODE");
  assert_string_equal(phc_strerror(PHC_EDECODE), "cannot decode term");
  assert_string_equal(phc_strerror(0), "ok");
  assert_string_equal(phc_err_name(0), "0");
  assert_string_equal(phc_strerror(-99), "unknown error");
  assert_string_equal(phc_err_name(-99), "PHC_E?");
}

static void test_intern_and_compact_pids(void **state) {
  (void)state;
  char a[] = "a@127.0.0.1", b[] = "a@127.0.0.1";
  assert_ptr_equal(phc__intern(a), phc__intern(b));
  assert_ptr_not_equal(phc__intern(a), phc__intern("b@127.0.0.1"));
  erlang_pid p = {.num = 7, .serial = 1, .creation = 3}, q;
  strcpy(p.node, "a@127.0.0.1");
  phc__cpid_t c;
  phc__cpid_set(&c, &p);
  assert_true(phc__cpid_eq(&c, &p));
  phc__cpid_get(&c, &q);
  assert_true(phc_pid_eq(&p, &q));
  p.serial = 2;
  assert_false(phc__cpid_eq(&c, &p));
}

static void test_log_levels(void **state) {
  (void)state;
  assert_int_equal(phc_log_parse_level("warn"), PHC_LOG_WARN);
  assert_int_equal(phc_log_parse_level("DEBUG"), PHC_LOG_DEBUG);
  assert_int_equal(phc_log_parse_level("loud"), PHC_EINVAL);
  assert_int_equal(phc_log_parse_level(NULL), PHC_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_code_has_a_name_and_message),
      cmocka_unit_test(test_intern_and_compact_pids),
      cmocka_unit_test(test_log_levels),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
