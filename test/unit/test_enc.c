/* test_enc.c - the checked ei_x encoders (c_src/term/enc.c). */
#include "phc_test.h"

#include "term/enc.h"
#include "term/term.h"

/* ASCII atoms come out byte for byte as ei_x_encode_atom writes them. */
static void test_ascii_atom_as_ei(void **state) {
  (void)state;
  ei_x_buff a, b;
  phc__x_new(&a);
  ei_x_new(&b);
  assert_int_equal(phc__x_atom(&a, "children_registration_event"), 0);
  ei_x_encode_atom(&b, "children_registration_event");
  assert_int_equal(a.index, b.index);
  assert_memory_equal(a.buff, b.buff, (size_t)a.index);
  ei_x_free(&a);
  ei_x_free(&b);
}

/* A UTF-8 atom round-trips: decoded as UTF-8, written back unchanged. */
static void test_utf8_atom_round_trip(void **state) {
  (void)state;
  const char *name = "n\xc3\xb6"
                     "de@h\xc3\xb6st"; /* "nöde@höst" */
  ei_x_buff x;
  phc__x_new(&x);
  assert_int_equal(phc__x_atom(&x, name), 0);
  char out[PHC__ATOM_MAX];
  int idx = 0;
  assert_int_equal((uint8_t)x.buff[0], ERL_SMALL_ATOM_UTF8_EXT);
  assert_int_equal((uint8_t)x.buff[1], strlen(name)); /* bytes, not chars */
  assert_int_equal(phc__term_atom(x.buff, &idx, out, sizeof out), 0);
  assert_string_equal(out, name);
  ei_x_free(&x);
}

static void test_invalid_atoms_refused(void **state) {
  (void)state;
  char longest[256], too_long[257];
  memset(longest, 'a', 255);
  longest[255] = 0;
  memset(too_long, 'a', 256);
  too_long[256] = 0;
  ei_x_buff x;
  phc__x_new(&x);
  assert_int_equal(phc__x_atom(&x, longest), 0);
  int at = x.index;
  assert_int_equal(phc__x_atom(&x, too_long), PHC_EINVAL);
  assert_int_equal(phc__x_atom(&x, "\xff\xfe"), PHC_EINVAL); /* not UTF-8 */
  assert_int_equal(x.index, at); /* nothing written */
  ei_x_free(&x);
}

/* Every wrapper writes what its ei_x_encode_* twin writes. */
static void test_wrappers_match_ei(void **state) {
  (void)state;
  erlang_pid p = {.num = 1, .serial = 2, .creation = 3};
  erlang_ref r = {.len = 3, .n = {1, 2, 3}, .creation = 3};
  strcpy(p.node, "a@h");
  strcpy(r.node, "a@h");
  ei_x_buff a, b;
  phc__x_new_with_version(&a);
  ei_x_new_with_version(&b);
#define BOTH(f, ...)                                                           \
  (phc__x_##f(&a, __VA_ARGS__), ei_x_encode_##f(&b, __VA_ARGS__))
  BOTH(tuple_header, 11);
  BOTH(long, -5);
  BOTH(ulong, 5);
  BOTH(longlong, 1LL << 40);
  BOTH(ulonglong, 1ULL << 41);
  BOTH(boolean, 1);
  BOTH(binary, "ab", 2);
  BOTH(pid, &p);
  BOTH(ref, &r);
  BOTH(map_header, 0);
  BOTH(double, 1.5);
  BOTH(list_header, 1);
  phc__x_empty_list(&a);
  ei_x_encode_empty_list(&b);
  phc__x_empty_list(&a);
  ei_x_encode_empty_list(&b);
#undef BOTH
  phc__x_append_buf(&a, b.buff + 1, 2); /* any bytes */
  ei_x_append_buf(&b, b.buff + 1, 2);
  assert_int_equal(a.index, b.index);
  assert_memory_equal(a.buff, b.buff, (size_t)a.index);
  ei_x_free(&a);
  ei_x_free(&b);
}

/* Pids as modern OTP makes them: NEW_PID_EXT keeps all 32 bits of the
 * number and the serial (no 15/13-bit masking). */
static void test_wide_pid(void **state) {
  (void)state;
  erlang_pid p = {.num = 0x12345678, .serial = 0x0abcdef0, .creation = 7};
  strcpy(p.node, "a@h");
  ei_x_buff x;
  phc__x_new(&x);
  phc__x_pid(&x, &p);
  const unsigned char want[] = {88,   119,  3,    'a',  '@',  'h',
                                0x12, 0x34, 0x56, 0x78, 0x0a, 0xbc,
                                0xde, 0xf0, 0,    0,    0,    7};
  assert_int_equal(x.index, sizeof want);
  assert_memory_equal(x.buff, want, sizeof want);
  erlang_pid back;
  int idx = 0;
  assert_int_equal(ei_decode_pid(x.buff, &idx, &back), 0);
  assert_int_equal(back.num, p.num);
  assert_int_equal(back.serial, p.serial);
  /* A compact pid encodes to the same bytes. */
  phc__cpid_t c;
  phc__cpid_set(&c, &p);
  ei_x_buff y;
  phc__x_new(&y);
  phc__x_pid(&y, &c);
  assert_int_equal(y.index, x.index);
  assert_memory_equal(y.buff, x.buff, (size_t)x.index);
  ei_x_free(&y);
  ei_x_free(&x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ascii_atom_as_ei),
      cmocka_unit_test(test_utf8_atom_round_trip),
      cmocka_unit_test(test_invalid_atoms_refused),
      cmocka_unit_test(test_wrappers_match_ei),
      cmocka_unit_test(test_wide_pid),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
