/* test_children.c - the built-in child types (c_src/children): what their
 * start arguments make of their state, and what their calls answer. Each
 * child runs on a hand-built node (proc_fixture.h) with the OTP services,
 * and is called from a pid on another node, so its replies are the
 * recorder's sends. */
#include "proc_fixture.h"

#include "children/children.h"
#include "otp/otp.h"

static fx_t *children_fx(void) {
  fx_t *f = fx_new();
  assert_int_equal(phc__otp_init(&f->node), 0);
  assert_int_equal(phc__children_register(&f->node), 0);
  return f;
}

static void children_fx_free(fx_t *f) {
  phc__otp_close(&f->node);
  fx_free(f);
}

/* Start module with args (an encoded term with version byte). */
static erlang_pid start(fx_t *f, const char *module, const ei_x_buff *args) {
  phc_pid_t pid;
  assert_int_equal(
      phc_gs_start(&f->node, module, args->buff, args->index, NULL, 0, &pid),
      0);
  fx_drain(f);
  return pid;
}

/* gen_server:call(pid, Req) from a remote pid with Tag 17; the reply as
 * ei_s_print_term prints it, into out. */
static void call(fx_t *f, const erlang_pid *pid, const char *req, char *out,
                 size_t size) {
  erlang_pid from = fx_remote_pid(5);
  ei_x_buff x;
  ei_x_new(&x);
  char fmt[256];
  snprintf(fmt, sizeof fmt, "{'$gen_call', {~p, 17}, %s}", req);
  assert_int_equal(ei_x_format(&x, fmt, &from), 0);
  int before = fx_count(f, R_SEND);
  phc__proc_in_send(&f->node, &from, pid, x.buff, x.index);
  ei_x_free(&x);
  fx_drain(f);
  assert_int_equal(fx_count(f, R_SEND), before + 1);
  rec_call_t *r = fx_last(f, R_SEND);
  char *s = NULL;
  int i = 1;
  assert_true(ei_s_print_term(&s, r->buf, &i) >= 0);
  snprintf(out, size, "%s", s);
  free(s);
}

/* The counter starts at the first element of its argument list, however
 * the list arrives: a list, or a STRING_EXT when every element is a small
 * integer (a start_children cast with args [65..90], or 1000 of them, once
 * overran an 8-byte buffer). */
static void test_counter_start_args(void **state) {
  (void)state;
  fx_t *f = children_fx();
  char got[128], big[1001];
  ei_x_buff a;
  ei_x_new_with_version(&a);
  ei_x_format_wo_ver(&a, "[41, foo]");
  erlang_pid c1 = start(f, "phc_counter", &a);
  ei_x_free(&a);
  call(f, &c1, "get", got, sizeof got);
  assert_string_equal(got, "{17, 41}");
  ei_x_new_with_version(&a);
  ei_x_encode_string(&a, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"); /* [65..90] */
  erlang_pid c2 = start(f, "phc_counter", &a);
  ei_x_free(&a);
  call(f, &c2, "get", got, sizeof got);
  assert_string_equal(got, "{17, 65}");
  memset(big, 'z', sizeof big - 1);
  big[sizeof big - 1] = 0;
  ei_x_new_with_version(&a);
  ei_x_encode_string(&a, big);
  erlang_pid c3 = start(f, "phc_counter", &a);
  ei_x_free(&a);
  call(f, &c3, "{add, 1}", got, sizeof got);
  assert_string_equal(got, "{17, 123}");
  ei_x_new_with_version(&a);
  ei_x_encode_empty_list(&a); /* no argument: 0 */
  erlang_pid c4 = start(f, "phc_counter", &a);
  ei_x_free(&a);
  call(f, &c4, "get", got, sizeof got);
  assert_string_equal(got, "{17, 0}");
  children_fx_free(f);
}

static void test_echo_and_kv(void **state) {
  (void)state;
  fx_t *f = children_fx();
  char got[128];
  ei_x_buff a;
  ei_x_new(&a);
  ei_x_format(&a, "[]");
  erlang_pid echo = start(f, "phc_echo", &a);
  erlang_pid kv = start(f, "phc_kv", &a);
  ei_x_free(&a);
  call(f, &echo, "{hello, [1, 2]}", got, sizeof got);
  assert_string_equal(got, "{17, {hello, [1, 2]}}");
  call(f, &kv, "{put, b, 2}", got, sizeof got);
  assert_string_equal(got, "{17, ok}");
  call(f, &kv, "{put, a, 1}", got, sizeof got);
  call(f, &kv, "keys", got, sizeof got);
  assert_string_equal(got, "{17, [a, b]}");
  call(f, &kv, "{get, b}", got, sizeof got);
  assert_string_equal(got, "{17, 2}");
  call(f, &kv, "{get, c}", got, sizeof got);
  assert_string_equal(got, "{17, nil}");
  call(f, &kv, "nonsense", got, sizeof got);
  assert_string_equal(got, "{17, {error, {unknown_call, nonsense}}}");
  children_fx_free(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_counter_start_args),
      cmocka_unit_test(test_echo_and_kv),
  };
  return cmocka_run_group_tests_name("children", tests, NULL, NULL);
}
