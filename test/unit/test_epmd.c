/* test_epmd.c - EPMD message encoding and decoding. */
#include "phc_test.h"

#include "common.h"
#include "dist/epmd.h"

static void test_alive2_req(void **s) {
  (void)s;
  uint8_t b[64];
  int n = phc__epmd_enc_alive2_req(b, sizeof b, 0x1234, "phc");
  /* len(2) 120 port(2) 77 0 hi(2)=6 lo(2)=5 nlen(2) name elen(2)=0 */
  const uint8_t want[] = {0, 16, 120, 0x12, 0x34, 77, 0, 0, 6, 0, 5,
                          0, 3, 'p', 'h', 'c', 0, 0};
  assert_int_equal(n, sizeof want);
  assert_memory_equal(b, want, sizeof want);
  assert_int_equal(phc__epmd_enc_alive2_req(b, 10, 1, "phc"), PHC_EINVAL);
  assert_int_equal(phc__epmd_enc_alive2_req(b, sizeof b, 1, ""), PHC_EINVAL);
}

static void test_alive2_resp(void **s) {
  (void)s;
  uint32_t cr = 0;
  const uint8_t x[] = {118, 0, 0x6b, 0x01, 0x32, 0x9d};
  for (size_t n = 0; n < sizeof x; n++)
    assert_int_equal(phc__epmd_dec_alive2_resp(x, n, &cr), 0);
  assert_int_equal(phc__epmd_dec_alive2_resp(x, sizeof x, &cr), 6);
  assert_int_equal(cr, 0x6b01329d);
  const uint8_t old[] = {121, 0, 0, 3};
  assert_int_equal(phc__epmd_dec_alive2_resp(old, 3, &cr), 0);
  assert_int_equal(phc__epmd_dec_alive2_resp(old, 4, &cr), 4);
  assert_int_equal(cr, 3);
  const uint8_t taken[] = {118, 1, 0, 0, 0, 0};
  assert_int_equal(phc__epmd_dec_alive2_resp(taken, 6, &cr), PHC_EEXIST);
  const uint8_t junk[] = {42, 0, 0, 0};
  assert_int_equal(phc__epmd_dec_alive2_resp(junk, 4, &cr), PHC_EIO);
}

static void test_port_please2(void **s) {
  (void)s;
  uint8_t b[32];
  int n = phc__epmd_enc_port_please2(b, sizeof b, "a");
  const uint8_t want[] = {0, 2, 122, 'a'};
  assert_int_equal(n, 4);
  assert_memory_equal(b, want, 4);
  assert_int_equal(phc__epmd_enc_port_please2(b, 3, "a"), PHC_EINVAL);
}

static void test_port2_resp(void **s) {
  (void)s;
  /* 119 0 port=40000 77 0 hi=6 lo=5 nlen=1 'a' elen=2 'x' 'y' */
  const uint8_t r[] = {119, 0, 0x9c, 0x40, 77, 0, 0, 6, 0, 5,
                       0, 1, 'a', 0, 2, 'x', 'y'};
  unsigned short port = 0;
  int hi = 0, lo = 0;
  for (size_t n = 0; n < sizeof r; n++)
    assert_int_equal(phc__epmd_dec_port2_resp(r, n, &port, &hi, &lo), 0);
  assert_int_equal(phc__epmd_dec_port2_resp(r, sizeof r, &port, &hi, &lo),
                   (int)sizeof r);
  assert_int_equal(port, 40000);
  assert_int_equal(hi, 6);
  assert_int_equal(lo, 5);
  const uint8_t unknown[] = {119, 1};
  assert_int_equal(phc__epmd_dec_port2_resp(unknown, 2, &port, &hi, &lo),
                   PHC_ENOTCONN);
  const uint8_t junk[] = {7, 0};
  assert_int_equal(phc__epmd_dec_port2_resp(junk, 2, &port, &hi, &lo),
                   PHC_EIO);
}

static void test_port_env(void **s) {
  (void)s;
  setenv("ERL_EPMD_PORT", "4400", 1);
  assert_int_equal(phc__epmd_port(), 4400);
  setenv("ERL_EPMD_PORT", "junk", 1);
  assert_int_equal(phc__epmd_port(), 4369);
  unsetenv("ERL_EPMD_PORT");
  assert_int_equal(phc__epmd_port(), 4369);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_alive2_req),   cmocka_unit_test(test_alive2_resp),
      cmocka_unit_test(test_port_please2), cmocka_unit_test(test_port2_resp),
      cmocka_unit_test(test_port_env),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
