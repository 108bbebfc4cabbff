/* test_ctrl.c - control message codec: real OTP 25 bytes, encoder round
 * trips, malformed input. */
#include "phc_test.h"

#include "term/enc.h"

#include "dist/ctrl.h"

/* Generated on OTP 25 with term_to_binary/1 on node 'vecgen@127.0.0.1'
 * (creation 1795240605): P = <0.9.0>, Q = <0.77.0>. */
static const unsigned char v_reg_send[] = {
    131, 104, 4,   97,  6,  88,  100, 0,   16,  118, 101, 99, 103, 101,
    110, 64,  49,  50,  55, 46,  48,  46,  48,  46,  49,  0,  0,   0,
    9,   0,   0,   0,   0,  107, 1,   50,  157, 100, 0,   0,  100, 0,
    10,  110, 101, 116, 95, 107, 101, 114, 110, 101, 108};
static const unsigned char v_send_sender[] = {
    131, 104, 3,   97,  22,  88,  100, 0,  16,  118, 101, 99, 103, 101,
    110, 64,  49,  50,  55,  46,  48,  46, 48,  46,  49,  0,  0,   0,
    9,   0,   0,   0,   0,   107, 1,   50, 157, 88,  100, 0,  16,  118,
    101, 99,  103, 101, 110, 64,  49,  50, 55,  46,  48,  46, 48,  46,
    49,  0,   0,   0,   77,  0,   0,   0,  0,   107, 1,   50, 157};
static const unsigned char v_send_tt[] = {
    131, 104, 4,  97, 12,  100, 0,  0,   88,  100, 0,  16, 118, 101, 99, 103,
    101, 110, 64, 49, 50,  55,  46, 48,  46,  48,  46, 49, 0,   0,   0,  77,
    0,   0,   0,  0,  107, 1,   50, 157, 104, 3,   97, 1,  97,  2,   97, 3};
static const unsigned char v_link[] = {
    131, 104, 3,   97,  1,   88,  100, 0,  16,  118, 101, 99, 103, 101,
    110, 64,  49,  50,  55,  46,  48,  46, 48,  46,  49,  0,  0,   0,
    9,   0,   0,   0,   0,   107, 1,   50, 157, 88,  100, 0,  16,  118,
    101, 99,  103, 101, 110, 64,  49,  50, 55,  46,  48,  46, 48,  46,
    49,  0,   0,   0,   77,  0,   0,   0,  0,   107, 1,   50, 157};
static const unsigned char v_exit[] = {
    131, 104, 4,   97,  3,   88,  100, 0,   16,  118, 101, 99,  103, 101,
    110, 64,  49,  50,  55,  46,  48,  46,  48,  46,  49,  0,   0,   0,
    9,   0,   0,   0,   0,   107, 1,   50,  157, 88,  100, 0,   16,  118,
    101, 99,  103, 101, 110, 64,  49,  50,  55,  46,  48,  46,  48,  46,
    49,  0,   0,   0,   77,  0,   0,   0,   0,   107, 1,   50,  157, 104,
    2,   100, 0,   8,   115, 104, 117, 116, 100, 111, 119, 110, 97,  1};
static const unsigned char v_exit2_tt[] = {
    131, 104, 5,   97,  18,  88,  100, 0,  16,  118, 101, 99,  103, 101,
    110, 64,  49,  50,  55,  46,  48,  46, 48,  46,  49,  0,   0,   0,
    9,   0,   0,   0,   0,   107, 1,   50, 157, 88,  100, 0,   16,  118,
    101, 99,  103, 101, 110, 64,  49,  50, 55,  46,  48,  46,  48,  46,
    49,  0,   0,   0,   77,  0,   0,   0,  0,   107, 1,   50,  157, 100,
    0,   3,   116, 111, 107, 100, 0,   6,  107, 105, 108, 108, 101, 100};
static const unsigned char v_payload_exit[] = {
    131, 104, 3,   97,  24,  88,  100, 0,  16,  118, 101, 99, 103, 101,
    110, 64,  49,  50,  55,  46,  48,  46, 48,  46,  49,  0,  0,   0,
    9,   0,   0,   0,   0,   107, 1,   50, 157, 88,  100, 0,  16,  118,
    101, 99,  103, 101, 110, 64,  49,  50, 55,  46,  48,  46, 48,  46,
    49,  0,   0,   0,   77,  0,   0,   0,  0,   107, 1,   50, 157};
static const unsigned char v_payload_reason[] = {131, 100, 0,   6,  110,
                                                 111, 114, 109, 97, 108};
static const unsigned char v_monitor_name[] = {
    131, 104, 4,  97,  19,  88,  100, 0,   16,  118, 101, 99,  103, 101, 110,
    64,  49,  50, 55,  46,  48,  46,  48,  46,  49,  0,   0,   0,   9,   0,
    0,   0,   0,  107, 1,   50,  157, 100, 0,   10,  69,  108, 105, 120, 105,
    114, 46,  70, 111, 111, 90,  0,   3,   100, 0,   16,  118, 101, 99,  103,
    101, 110, 64, 49,  50,  55,  46,  48,  46,  48,  46,  49,  107, 1,   50,
    157, 0,   3,  189, 222, 105, 28,  0,   1,   252, 146, 15,  192};
static const unsigned char v_demonitor[] = {
    131, 104, 4,   97,  20,  88,  100, 0,   16,  118, 101, 99, 103, 101,
    110, 64,  49,  50,  55,  46,  48,  46,  48,  46,  49,  0,  0,   0,
    9,   0,   0,   0,   0,   107, 1,   50,  157, 88,  100, 0,  16,  118,
    101, 99,  103, 101, 110, 64,  49,  50,  55,  46,  48,  46, 48,  46,
    49,  0,   0,   0,   77,  0,   0,   0,   0,   107, 1,   50, 157, 90,
    0,   3,   100, 0,   16,  118, 101, 99,  103, 101, 110, 64, 49,  50,
    55,  46,  48,  46,  48,  46,  49,  107, 1,   50,  157, 0,  3,   189,
    222, 105, 28,  0,   1,   252, 146, 15,  192};
static const unsigned char v_monitor_exit_name[] = {
    131, 104, 5,   97,  21,  100, 0,  10,  69,  108, 105, 120, 105, 114,
    46,  70,  111, 111, 88,  100, 0,  16,  118, 101, 99,  103, 101, 110,
    64,  49,  50,  55,  46,  48,  46, 48,  46,  49,  0,   0,   0,   9,
    0,   0,   0,   0,   107, 1,   50, 157, 90,  0,   3,   100, 0,   16,
    118, 101, 99,  103, 101, 110, 64, 49,  50,  55,  46,  48,  46,  48,
    46,  49,  107, 1,   50,  157, 0,  3,   189, 222, 105, 28,  0,   1,
    252, 146, 15,  192, 100, 0,   6,  110, 111, 112, 114, 111, 99};
static const unsigned char v_payload_mon_exit[] = {
    131, 104, 4,   97,  28,  88,  100, 0,   16,  118, 101, 99, 103, 101,
    110, 64,  49,  50,  55,  46,  48,  46,  48,  46,  49,  0,  0,   0,
    77,  0,   0,   0,   0,   107, 1,   50,  157, 88,  100, 0,  16,  118,
    101, 99,  103, 101, 110, 64,  49,  50,  55,  46,  48,  46, 48,  46,
    49,  0,   0,   0,   9,   0,   0,   0,   0,   107, 1,   50, 157, 90,
    0,   3,   100, 0,   16,  118, 101, 99,  103, 101, 110, 64, 49,  50,
    55,  46,  48,  46,  48,  46,  49,  107, 1,   50,  157, 0,  3,   189,
    222, 105, 28,  0,   1,   252, 146, 15,  192};
static const unsigned char v_spawn_request[] = {
    131, 104, 6,   97,  29,  90,  0,   3,   100, 0,   16,  118, 101, 99,  103,
    101, 110, 64,  49,  50,  55,  46,  48,  46,  48,  46,  49,  107, 1,   50,
    157, 0,   3,   189, 222, 105, 28,  0,   1,   252, 146, 15,  192, 88,  100,
    0,   16,  118, 101, 99,  103, 101, 110, 64,  49,  50,  55,  46,  48,  46,
    48,  46,  49,  0,   0,   0,   9,   0,   0,   0,   0,   107, 1,   50,  157,
    88,  100, 0,   16,  118, 101, 99,  103, 101, 110, 64,  49,  50,  55,  46,
    48,  46,  48,  46,  49,  0,   0,   0,   77,  0,   0,   0,   0,   107, 1,
    50,  157, 104, 3,   100, 0,   4,   101, 114, 112, 99,  100, 0,   12,  101,
    120, 101, 99,  117, 116, 101, 95,  99,  97,  108, 108, 97,  4,   108, 0,
    0,   0,   1,   100, 0,   7,   109, 111, 110, 105, 116, 111, 114, 106};
static const unsigned char v_spawn_args[] = {
    131, 108, 0,   0,   0,   4,   90,  0,   3,  100, 0,   16,  118, 101, 99,
    103, 101, 110, 64,  49,  50,  55,  46,  48, 46,  48,  46,  49,  107, 1,
    50,  157, 0,   3,   189, 222, 105, 28,  0,  1,   252, 146, 15,  192, 100,
    0,   5,   108, 105, 115, 116, 115, 100, 0,  7,   114, 101, 118, 101, 114,
    115, 101, 108, 0,   0,   0,   1,   107, 0,  2,   1,   2,   106, 106};
static const unsigned char v_spawn_reply[] = {
    131, 104, 5,   97, 31,  90,  0,   3,   100, 0,   16,  118, 101, 99,
    103, 101, 110, 64, 49,  50,  55,  46,  48,  46,  48,  46,  49,  107,
    1,   50,  157, 0,  3,   189, 222, 105, 28,  0,   1,   252, 146, 15,
    192, 88,  100, 0,  16,  118, 101, 99,  103, 101, 110, 64,  49,  50,
    55,  46,  48,  46, 48,  46,  49,  0,   0,   0,   9,   0,   0,   0,
    0,   107, 1,   50, 157, 97,  0,   88,  100, 0,   16,  118, 101, 99,
    103, 101, 110, 64, 49,  50,  55,  46,  48,  46,  48,  46,  49,  0,
    0,   0,   77,  0,  0,   0,   0,   107, 1,   50,  157};
static const unsigned char v_alias_send[] = {
    131, 104, 3,   97,  33, 88,  100, 0,   16, 118, 101, 99,  103, 101, 110,
    64,  49,  50,  55,  46, 48,  46,  48,  46, 49,  0,   0,   0,   9,   0,
    0,   0,   0,   107, 1,  50,  157, 90,  0,  3,   100, 0,   16,  118, 101,
    99,  103, 101, 110, 64, 49,  50,  55,  46, 48,  46,  48,  46,  49,  107,
    1,   50,  157, 0,   3,  189, 223, 105, 29, 0,   1,   252, 146, 15,  192};
static const unsigned char v_unlink_id[] = {
    131, 104, 4,   97,  35, 110, 6,   0,   203, 4,  251, 113, 31, 1,   88, 100,
    0,   16,  118, 101, 99, 103, 101, 110, 64,  49, 50,  55,  46, 48,  46, 48,
    46,  49,  0,   0,   0,  9,   0,   0,   0,   0,  107, 1,   50, 157, 88, 100,
    0,   16,  118, 101, 99, 103, 101, 110, 64,  49, 50,  55,  46, 48,  46, 48,
    46,  49,  0,   0,   0,  77,  0,   0,   0,   0,  107, 1,   50, 157};
static const unsigned char v_unlink_id_ack[] = {
    131, 104, 4,   97,  36, 97,  7,  88,  100, 0,  16,  118, 101, 99,  103,
    101, 110, 64,  49,  50, 55,  46, 48,  46,  48, 46,  49,  0,   0,   0,
    77,  0,   0,   0,   0,  107, 1,  50,  157, 88, 100, 0,   16,  118, 101,
    99,  103, 101, 110, 64, 49,  50, 55,  46,  48, 46,  48,  46,  49,  0,
    0,   0,   9,   0,   0,  0,   0,  107, 1,   50, 157};
static const unsigned char v_msg[] = {131, 104, 2,   100, 0, 5, 104, 101, 108,
                                      108, 111, 107, 0,   3, 1, 2,   3};

#define V(a) (const char *)(a), (int)sizeof(a)
#define NODE "vecgen@127.0.0.1"

static void check_pid(const erlang_pid *p, unsigned num) {
  assert_string_equal(p->node, NODE);
  assert_int_equal(p->num, num);
  assert_int_equal(p->serial, 0);
  assert_int_equal(p->creation, 1795240605u);
}

static void test_reg_send(void **s) {
  (void)s;
  phc__ctrl_t c;
  assert_int_equal(phc__ctrl_decode(V(v_reg_send), V(v_msg), &c), 0);
  assert_int_equal(c.op, PHC_DOP_REG_SEND);
  assert_false(c.has_token);
  check_pid(&c.from, 9);
  assert_true(c.to_is_name);
  assert_string_equal(c.to_name, "net_kernel");
  assert_int_equal(c.payload_len, sizeof v_msg);
  assert_memory_equal(c.payload, v_msg, sizeof v_msg);
  phc__ctrl_clear(&c);
  /* no payload: refused */
  assert_int_equal(phc__ctrl_decode(V(v_reg_send), NULL, 0, &c), PHC_EDECODE);
}

static void test_sends(void **s) {
  (void)s;
  phc__ctrl_t c;
  assert_int_equal(phc__ctrl_decode(V(v_send_sender), V(v_msg), &c), 0);
  assert_int_equal(c.op, PHC_DOP_SEND_SENDER);
  check_pid(&c.from, 9);
  check_pid(&c.to, 77);
  assert_int_equal(c.payload_len, sizeof v_msg);
  assert_memory_equal(c.payload, v_msg, sizeof v_msg);
  phc__ctrl_clear(&c);
  assert_int_equal(phc__ctrl_decode(V(v_send_tt), V(v_msg), &c), 0);
  assert_int_equal(c.op, PHC_DOP_SEND);
  assert_true(c.has_token);
  check_pid(&c.to, 77);
  assert_int_equal(c.payload_len, sizeof v_msg);
  assert_memory_equal(c.payload, v_msg, sizeof v_msg);
  phc__ctrl_clear(&c);
  assert_int_equal(phc__ctrl_decode(V(v_alias_send), V(v_msg), &c), 0);
  assert_int_equal(c.op, PHC_DOP_ALIAS_SEND);
  check_pid(&c.from, 9);
  assert_string_equal(c.ref.node, NODE);
  assert_int_equal(c.ref.len, 3);
  assert_int_equal(c.ref.n[0], 245215);
  assert_int_equal(c.payload_len, sizeof v_msg);
  assert_memory_equal(c.payload, v_msg, sizeof v_msg);
  phc__ctrl_clear(&c);
}

static void test_link_unlink(void **s) {
  (void)s;
  phc__ctrl_t c;
  assert_int_equal(phc__ctrl_decode(V(v_link), NULL, 0, &c), 0);
  assert_int_equal(c.op, PHC_DOP_LINK);
  check_pid(&c.from, 9);
  check_pid(&c.to, 77);
  assert_int_equal(phc__ctrl_decode(V(v_unlink_id), NULL, 0, &c), 0);
  assert_int_equal(c.op, PHC_DOP_UNLINK_ID);
  assert_true(c.unlink_id == 1234567890123ULL);
  check_pid(&c.from, 9);
  check_pid(&c.to, 77);
  assert_int_equal(phc__ctrl_decode(V(v_unlink_id_ack), NULL, 0, &c), 0);
  assert_int_equal(c.op, PHC_DOP_UNLINK_ID_ACK);
  assert_true(c.unlink_id == 7);
  check_pid(&c.from, 77);
  check_pid(&c.to, 9);
}

static void expect_reason(const phc__ctrl_t *c, const char *atom) {
  char got[MAXATOMLEN_UTF8];
  int i = 1;
  assert_non_null(c->reason);
  assert_int_equal((unsigned char)c->reason[0], 131);
  assert_int_equal(ei_decode_atom(c->reason, &i, got), 0);
  assert_int_equal(i, c->reason_len);
  assert_string_equal(got, atom);
}

static void test_exits(void **s) {
  (void)s;
  phc__ctrl_t c;
  assert_int_equal(phc__ctrl_decode(V(v_exit), NULL, 0, &c), 0);
  assert_int_equal(c.op, PHC_DOP_EXIT);
  check_pid(&c.from, 9);
  check_pid(&c.to, 77);
  /* the reason is {shutdown, 1} (OTP 25 wrote the atom as ATOM_EXT) */
  int i = 1, ar;
  char atom[MAXATOMLEN_UTF8];
  long one;
  assert_int_equal(ei_decode_tuple_header(c.reason, &i, &ar), 0);
  assert_int_equal(ar, 2);
  assert_int_equal(ei_decode_atom(c.reason, &i, atom), 0);
  assert_string_equal(atom, "shutdown");
  assert_int_equal(ei_decode_long(c.reason, &i, &one), 0);
  assert_int_equal(one, 1);
  assert_int_equal(i, c.reason_len);
  phc__ctrl_clear(&c);
  assert_int_equal(phc__ctrl_decode(V(v_exit2_tt), NULL, 0, &c), 0);
  assert_int_equal(c.op, PHC_DOP_EXIT2);
  assert_true(c.has_token);
  expect_reason(&c, "killed");
  phc__ctrl_clear(&c);
  assert_int_equal(phc__ctrl_decode(V(v_payload_exit), V(v_payload_reason), &c),
                   0);
  assert_int_equal(c.op, PHC_DOP_EXIT);
  check_pid(&c.from, 9);
  check_pid(&c.to, 77);
  expect_reason(&c, "normal");
  phc__ctrl_clear(&c);
  assert_int_equal(phc__ctrl_decode(V(v_payload_exit), NULL, 0, &c),
                   PHC_EDECODE);
}

static void test_monitors(void **s) {
  (void)s;
  phc__ctrl_t c;
  assert_int_equal(phc__ctrl_decode(V(v_monitor_name), NULL, 0, &c), 0);
  assert_int_equal(c.op, PHC_DOP_MONITOR_P);
  check_pid(&c.from, 9);
  assert_true(c.to_is_name);
  assert_string_equal(c.to_name, "Elixir.Foo");
  assert_string_equal(c.ref.node, NODE);
  assert_int_equal(c.ref.n[0], 245214);
  erlang_ref mon_ref = c.ref;
  assert_int_equal(phc__ctrl_decode(V(v_demonitor), NULL, 0, &c), 0);
  assert_int_equal(c.op, PHC_DOP_DEMONITOR_P);
  check_pid(&c.from, 9);
  assert_false(c.to_is_name);
  check_pid(&c.to, 77);
  assert_true(phc_ref_eq(&c.ref, &mon_ref));
  assert_int_equal(phc__ctrl_decode(V(v_monitor_exit_name), NULL, 0, &c), 0);
  assert_int_equal(c.op, PHC_DOP_MONITOR_P_EXIT);
  assert_true(c.from_is_name);
  assert_string_equal(c.from_name, "Elixir.Foo");
  check_pid(&c.to, 9);
  assert_true(phc_ref_eq(&c.ref, &mon_ref));
  expect_reason(&c, "noproc");
  phc__ctrl_clear(&c);
  assert_int_equal(
      phc__ctrl_decode(V(v_payload_mon_exit), V(v_payload_reason), &c), 0);
  assert_int_equal(c.op, PHC_DOP_MONITOR_P_EXIT);
  assert_false(c.from_is_name);
  check_pid(&c.from, 77);
  check_pid(&c.to, 9);
  assert_true(phc_ref_eq(&c.ref, &mon_ref));
  expect_reason(&c, "normal");
  phc__ctrl_clear(&c);
}

static void test_spawn(void **s) {
  (void)s;
  phc__ctrl_t c;
  assert_int_equal(phc__ctrl_decode(V(v_spawn_request), V(v_spawn_args), &c),
                   0);
  assert_int_equal(c.op, PHC_DOP_SPAWN_REQUEST);
  check_pid(&c.from, 9);
  check_pid(&c.group_leader, 77);
  assert_string_equal(c.mod, "erpc");
  assert_string_equal(c.fun, "execute_call");
  assert_int_equal(c.arity, 4);
  assert_ptr_equal(c.payload, (const char *)v_spawn_args);
  assert_int_equal(c.payload_len, sizeof v_spawn_args);
  /* the options are [monitor] */
  int i = 1, n;
  char opt[MAXATOMLEN_UTF8];
  assert_int_equal(ei_decode_list_header(c.spawn_opts, &i, &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(ei_decode_atom(c.spawn_opts, &i, opt), 0);
  assert_string_equal(opt, "monitor");
  assert_int_equal(ei_decode_list_header(c.spawn_opts, &i, &n), 0);
  assert_int_equal(n, 0);
  assert_int_equal(i, c.spawn_opts_len);
  phc__ctrl_clear(&c);
  assert_int_equal(phc__ctrl_decode(V(v_spawn_reply), NULL, 0, &c), 0);
  assert_int_equal(c.op, PHC_DOP_SPAWN_REPLY);
  check_pid(&c.to, 9);
  assert_int_equal(c.spawn_flags, 0);
  erlang_pid p;
  i = 1;
  assert_int_equal(ei_decode_pid(c.spawn_result, &i, &p), 0);
  assert_int_equal(i, c.spawn_result_len);
  check_pid(&p, 77);
  phc__ctrl_clear(&c);
}

/* Every strict prefix and every single-byte corruption of the tag area
 * must be refused or decoded without reading out of bounds (ASan). */
static void test_malformed(void **s) {
  (void)s;
  const unsigned char *vs[] = {v_reg_send, v_spawn_request, v_exit,
                               v_monitor_exit_name, v_unlink_id};
  size_t ls[] = {sizeof v_reg_send, sizeof v_spawn_request, sizeof v_exit,
                 sizeof v_monitor_exit_name, sizeof v_unlink_id};
  phc__ctrl_t c;
  for (size_t k = 0; k < PHC__ARRAY_LEN(vs); k++) {
    for (size_t n = 0; n < ls[k]; n++) {
      char *b = malloc(n ? n : 1); /* exact size: ASan catches overreads */
      memcpy(b, vs[k], n);
      assert_int_equal(phc__ctrl_decode(b, (int)n, V(v_spawn_args), &c),
                       PHC_EDECODE);
      free(b);
    }
    for (size_t n = 1; n < ls[k]; n++) {
      char *b = malloc(ls[k]);
      memcpy(b, vs[k], ls[k]);
      b[n] ^= 0x5a;
      if (phc__ctrl_decode(b, (int)ls[k], V(v_spawn_args), &c) == 0)
        phc__ctrl_clear(&c);
      free(b);
    }
  }
  /* unknown op, wrong arity, trailing bytes, not a tuple */
  static const unsigned char bad_op[] = {131, 104, 1, 97, 99};
  static const unsigned char bad_arity[] = {131, 104, 2, 97, 5, 106};
  static const unsigned char not_tuple[] = {131, 106};
  assert_int_equal(phc__ctrl_decode(V(bad_op), NULL, 0, &c), PHC_EDECODE);
  assert_int_equal(phc__ctrl_decode(V(bad_arity), NULL, 0, &c), PHC_EDECODE);
  assert_int_equal(phc__ctrl_decode(V(not_tuple), NULL, 0, &c), PHC_EDECODE);
  unsigned char trail[sizeof v_link + 1];
  memcpy(trail, v_link, sizeof v_link);
  trail[sizeof v_link] = 106;
  assert_int_equal(phc__ctrl_decode(V(trail), NULL, 0, &c), PHC_EDECODE);
  /* a payload is any whole term; a truncated one is refused */
  assert_int_equal(phc__ctrl_decode(V(v_reg_send), V(bad_arity), &c), 0);
  assert_ptr_equal(c.payload, (const char *)bad_arity);
  assert_int_equal(c.payload_len, sizeof bad_arity);
  phc__ctrl_clear(&c);
  assert_int_equal(phc__ctrl_decode(V(v_reg_send), (const char *)v_msg,
                                    (int)sizeof v_msg - 1, &c),
                   PHC_EDECODE);
}

/* ---- encoders round trip ---------------------------------------------- */

static erlang_pid mkpid(const char *node, unsigned num) {
  erlang_pid p;
  memset(&p, 0, sizeof p);
  snprintf(p.node, sizeof p.node, "%s", node);
  p.num = num;
  p.serial = 3;
  p.creation = 0x6b01329d;
  return p;
}

static erlang_ref mkref(void) {
  erlang_ref r;
  memset(&r, 0, sizeof r);
  snprintf(r.node, sizeof r.node, "phc@127.0.0.1");
  r.len = 3;
  r.n[0] = 11;
  r.n[1] = 22;
  r.n[2] = 33;
  r.creation = 5;
  return r;
}

static void test_roundtrip(void **s) {
  (void)s;
  erlang_pid a = mkpid("phc@127.0.0.1", 42), b = mkpid("a@127.0.0.1", 7);
  erlang_ref r = mkref();
  ei_x_buff x, reason;
  phc__ctrl_t c;
  ei_x_new(&x);
  assert_int_equal(phc__x_atom_term(&reason, "shutdown"), 0);

  assert_int_equal(phc__ctrl_enc_send(&x, &a, &b, 0), 0);
  assert_int_equal(phc__ctrl_decode(x.buff, x.index, V(v_msg), &c), 0);
  assert_int_equal(c.op, PHC_DOP_SEND);
  assert_true(phc_pid_eq(&c.to, &b));
  assert_ptr_equal(c.payload, (const char *)v_msg);

  assert_int_equal(phc__ctrl_enc_send(&x, &a, &b, 1), 0);
  assert_int_equal(phc__ctrl_decode(x.buff, x.index, V(v_msg), &c), 0);
  assert_int_equal(c.op, PHC_DOP_SEND_SENDER);
  assert_true(phc_pid_eq(&c.from, &a));
  assert_true(phc_pid_eq(&c.to, &b));

  assert_int_equal(phc__ctrl_enc_reg_send(&x, &a, "global_name_server"), 0);
  assert_int_equal(phc__ctrl_decode(x.buff, x.index, V(v_msg), &c), 0);
  assert_int_equal(c.op, PHC_DOP_REG_SEND);
  assert_string_equal(c.to_name, "global_name_server");
  assert_true(phc_pid_eq(&c.from, &a));

  assert_int_equal(phc__ctrl_enc_alias_send(&x, &a, &r), 0);
  assert_int_equal(phc__ctrl_decode(x.buff, x.index, V(v_msg), &c), 0);
  assert_int_equal(c.op, PHC_DOP_ALIAS_SEND);
  assert_true(phc_pid_eq(&c.from, &a));
  assert_true(phc_ref_eq(&c.ref, &r));

  assert_int_equal(phc__ctrl_enc_link(&x, &a, &b), 0);
  assert_int_equal(phc__ctrl_decode(x.buff, x.index, NULL, 0, &c), 0);
  assert_int_equal(c.op, PHC_DOP_LINK);
  assert_true(phc_pid_eq(&c.from, &a) && phc_pid_eq(&c.to, &b));

  for (int ack = 0; ack <= 1; ack++) {
    assert_int_equal(
        phc__ctrl_enc_unlink_id(&x, 0xfedcba9876543210ULL, &a, &b, ack), 0);
    assert_int_equal(phc__ctrl_decode(x.buff, x.index, NULL, 0, &c), 0);
    assert_int_equal(c.op, ack ? PHC_DOP_UNLINK_ID_ACK : PHC_DOP_UNLINK_ID);
    assert_true(c.unlink_id == 0xfedcba9876543210ULL);
    assert_true(phc_pid_eq(&c.from, &a) && phc_pid_eq(&c.to, &b));
  }

  for (int e2 = 0; e2 <= 1; e2++) {
    assert_int_equal(
        phc__ctrl_enc_exit(&x, &a, &b, reason.buff, reason.index, e2), 0);
    assert_int_equal(phc__ctrl_decode(x.buff, x.index, NULL, 0, &c), 0);
    assert_int_equal(c.op, e2 ? PHC_DOP_EXIT2 : PHC_DOP_EXIT);
    assert_true(phc_pid_eq(&c.from, &a) && phc_pid_eq(&c.to, &b));
    expect_reason(&c, "shutdown");
    phc__ctrl_clear(&c);
  }

  for (int de = 0; de <= 1; de++) {
    assert_int_equal(phc__ctrl_enc_monitor(&x, &a, &b, NULL, &r, de), 0);
    assert_int_equal(phc__ctrl_decode(x.buff, x.index, NULL, 0, &c), 0);
    assert_int_equal(c.op, de ? PHC_DOP_DEMONITOR_P : PHC_DOP_MONITOR_P);
    assert_false(c.to_is_name);
    assert_true(phc_pid_eq(&c.to, &b));
    assert_true(phc_ref_eq(&c.ref, &r));
    assert_int_equal(phc__ctrl_enc_monitor(&x, &a, NULL, "my_name", &r, de), 0);
    assert_int_equal(phc__ctrl_decode(x.buff, x.index, NULL, 0, &c), 0);
    assert_true(c.to_is_name);
    assert_string_equal(c.to_name, "my_name");
    assert_true(phc_pid_eq(&c.from, &a) && phc_ref_eq(&c.ref, &r));
  }

  assert_int_equal(phc__ctrl_enc_monitor_exit(&x, &b, NULL, &a, &r, reason.buff,
                                              reason.index),
                   0);
  assert_int_equal(phc__ctrl_decode(x.buff, x.index, NULL, 0, &c), 0);
  assert_int_equal(c.op, PHC_DOP_MONITOR_P_EXIT);
  assert_true(phc_pid_eq(&c.from, &b) && phc_pid_eq(&c.to, &a));
  expect_reason(&c, "shutdown");
  phc__ctrl_clear(&c);
  assert_int_equal(phc__ctrl_enc_monitor_exit(&x, NULL, "reg", &a, &r,
                                              reason.buff, reason.index),
                   0);
  assert_int_equal(phc__ctrl_decode(x.buff, x.index, NULL, 0, &c), 0);
  assert_true(c.from_is_name);
  assert_string_equal(c.from_name, "reg");
  assert_true(phc_pid_eq(&c.to, &a) && phc_ref_eq(&c.ref, &r));
  expect_reason(&c, "shutdown");
  phc__ctrl_clear(&c);

  ei_x_buff res;
  ei_x_new_with_version(&res);
  ei_x_encode_pid(&res, &a);
  assert_int_equal(
      phc__ctrl_enc_spawn_reply(&x, &r, &b, 1, res.buff, res.index), 0);
  assert_int_equal(phc__ctrl_decode(x.buff, x.index, NULL, 0, &c), 0);
  assert_int_equal(c.op, PHC_DOP_SPAWN_REPLY);
  assert_int_equal(c.spawn_flags, 1);
  assert_true(phc_ref_eq(&c.ref, &r) && phc_pid_eq(&c.to, &b));
  assert_int_equal(c.spawn_result_len, res.index);
  assert_memory_equal(c.spawn_result, res.buff, res.index);
  phc__ctrl_clear(&c);

  /* a zeroed (never ei_x_new'ed) buffer works too */
  ei_x_buff z;
  memset(&z, 0, sizeof z);
  assert_int_equal(phc__ctrl_enc_link(&z, &a, &b), 0);
  assert_int_equal(phc__ctrl_decode(z.buff, z.index, NULL, 0, &c), 0);
  assert_int_equal(c.op, PHC_DOP_LINK);
  assert_true(phc_pid_eq(&c.from, &a) && phc_pid_eq(&c.to, &b));
  ei_x_free(&z);

  /* a reason without version byte is refused */
  assert_int_equal(
      phc__ctrl_enc_exit(&x, &a, &b, reason.buff + 1, reason.index - 1, 0),
      PHC_EINVAL);
  ei_x_free(&res);
  ei_x_free(&reason);
  ei_x_free(&x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reg_send),    cmocka_unit_test(test_sends),
      cmocka_unit_test(test_link_unlink), cmocka_unit_test(test_exits),
      cmocka_unit_test(test_monitors),    cmocka_unit_test(test_spawn),
      cmocka_unit_test(test_malformed),   cmocka_unit_test(test_roundtrip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
