/* test_rpc.c - rex (otp/rex.c): each request OTP's rpc module sends it,
 * from a pid on another node, and the reply the recorder sees: block_call
 * and call through gen_server (answered with the call's tag), cast (runs,
 * no reply), sbcast and send (nonexisting_name for an unknown name),
 * features_request, the hidden C node's {From, {call, ...}}, stop, and
 * what rex ignores (unknown calls, malformed terms). */
#include "proc_fixture.h"

#include <string.h>

#include "otp/otp.h"
#include "otp/otp_int.h"
#include "term/term.h"

static fx_t *rex_fx(void) {
  fx_t *f = fx_new();
  assert_int_equal(phc__otp_init(&f->node), 0);
  fx_drain(f);
  return f;
}

static void rex_free(fx_t *f) {
  phc__otp_close(&f->node);
  fx_free(f);
}

/* Send fmt (ei_x_format, ~p is the sender pid) to rex from a remote pid;
 * the text of the one reply sent back, or "" when none was sent. */
static void ask(fx_t *f, const char *fmt, char *out, size_t size) {
  erlang_pid from = fx_remote_pid(5);
  ei_x_buff x;
  ei_x_new_with_version(&x);
  assert_int_equal(ei_x_format_wo_ver(&x, fmt, &from), 0);
  int before = fx_count(f, R_SEND);
  phc__proc_in_send_name(&f->node, &from, "rex", x.buff, x.index);
  ei_x_free(&x);
  fx_drain(f);
  out[0] = 0;
  if (fx_count(f, R_SEND) == before) return;
  assert_int_equal(fx_count(f, R_SEND), before + 1);
  rec_call_t *r = fx_last(f, R_SEND);
  char *s = NULL;
  int i = 1;
  assert_true(ei_s_print_term(&s, r->buf, &i) >= 0);
  snprintf(out, size, "%s", s);
  free(s);
}

static int silent_error(phc_node_t *n, const phc_pid_t *caller,
                        const char *args, int len, ei_x_buff *result) {
  (void)n, (void)caller, (void)args, (void)len, (void)result;
  return PHC_EINVAL; /* no reason encoded */
}

static int broken_value(phc_node_t *n, const phc_pid_t *caller,
                        const char *args, int len, ei_x_buff *result) {
  (void)n, (void)caller, (void)args, (void)len;
  ei_x_append_buf(result, "\x68\x05", 2); /* a 5-tuple with no elements */
  return 0;
}

/* A native that leaves no term, or a broken one, gives the caller the
 * error named by its code instead of a corrupt term. */
static void test_native_without_result(void **state) {
  (void)state;
  fx_t *f = rex_fx();
  assert_int_equal(
      phc_native_register(&f->node, "m", "silent", 0, silent_error), 0);
  assert_int_equal(
      phc_native_register(&f->node, "m", "broken", 0, broken_value), 0);
  ei_x_buff r;
  const char nil[] = {(char)106};
  assert_int_equal(
      phc__otp_run_native(&f->node, NULL, "m", "silent", nil, 1, &r),
      PHC_EINVAL);
  assert_int_equal(phc__term_check(r.buff, r.index), 0);
  assert_non_null(memmem(r.buff, (size_t)r.index, "PHC_EINVAL", 10));
  ei_x_free(&r);
  assert_int_equal(
      phc__otp_run_native(&f->node, NULL, "m", "broken", nil, 1, &r),
      PHC_EINVAL);
  assert_int_equal(phc__term_check(r.buff, r.index), 0);
  ei_x_free(&r);
  rex_free(f);
}

static void test_block_call(void **state) {
  (void)state;
  fx_t *f = rex_fx();
  char out[512];
  ask(f, "{'$gen_call', {~p, tag7}, {block_call, erlang, node, [], user}}", out,
      sizeof out);
  assert_string_equal(out, "{tag7, 'phc@127.0.0.1'}");
  ask(f, "{'$gen_call', {~p, tag8}, {block_call, nomod, nofun, [1], user}}",
      out, sizeof out);
  assert_string_equal(out, "{tag8, {badrpc, {'EXIT', {undef, [{nomod, nofun, "
                           "[1], []}]}}}}");
  ask(f, "{'$gen_call', {~p, tag9}, {call, erlang, send, [nobody, hi], gl}}",
      out, sizeof out);
  assert_string_equal(out, "{tag9, {badrpc, {'EXIT', {badarg, [{erlang, send, "
                           "[nobody, hi], [{error_info, #{module => "
                           "erl_erts_errors}}]}]}}}}");
  rex_free(f);
}

static void test_block_call_exit_class(void **state) {
  (void)state;
  fx_t *f = rex_fx();
  char out[512];
  ask(f,
      "{'$gen_call', {~p, t}, {block_call, 'Elixir.DynamicSupervisor', "
      "count_children, [ds], user}}",
      out, sizeof out);
  assert_string_equal(out,
                      "{t, {badrpc, {'EXIT', {noproc, {'Elixir.GenServer', "
                      "call, [ds, count_children, infinity]}}}}}");
  rex_free(f);
}

static void test_stop_and_ignored(void **state) {
  (void)state;
  fx_t *f = rex_fx();
  char out[256];
  ask(f, "{'$gen_call', {~p, t1}, stop}", out, sizeof out);
  assert_string_equal(out, "{t1, stopped}");
  ask(f, "{'$gen_call', {~p, t2}, what}", out, sizeof out);
  assert_string_equal(out, "");
  ask(f, "{'$gen_call', {~p, t3}, {call, 1, 2, 3, 4}}", out, sizeof out);
  assert_string_equal(out, "");
  ask(f, "{~p, {call, m, f, notalist, user}}", out, sizeof out);
  assert_string_equal(out, "");
  ask(f, "hello", out, sizeof out);
  assert_string_equal(out, "");
  phc_pid_t rex;
  assert_int_equal(phc_whereis(&f->node, "rex", &rex), 0); /* still there */
  rex_free(f);
}

static void test_cast(void **state) {
  (void)state;
  fx_t *f = rex_fx();
  char out[256];
  /* erlang:send({probe, Peer}, hi) runs: the send shows in the recorder */
  ask(f,
      "{'$gen_cast', {cast, erlang, send, [{someone, 'a@127.0.0.1'}, hi], "
      "user}}",
      out, sizeof out);
  assert_int_equal(fx_count(f, R_SEND_NAME), 1);
  assert_string_equal(fx_last(f, R_SEND_NAME)->name, "someone");
  rex_free(f);
}

static void test_sbcast_send(void **state) {
  (void)state;
  fx_t *f = rex_fx();
  char out[256];
  ask(f, "{~p, {sbcast, nobody, hi}}", out, sizeof out);
  assert_string_equal(out,
                      "{rex, 'phc@127.0.0.1', {nonexisting_name, nobody}}");
  ask(f, "{~p, {send, nobody, hi}}", out, sizeof out);
  assert_string_equal(out,
                      "{rex, 'phc@127.0.0.1', {nonexisting_name, nobody}}");
  probe_t *pr = probe_spawn(f, 0);
  assert_int_equal(phc_register(&f->node, "pr", &pr->pid), 0);
  ask(f, "{~p, {sbcast, pr, hi}}", out, sizeof out);
  assert_string_equal(out, "{rex, 'phc@127.0.0.1', 'phc@127.0.0.1'}");
  ask(f, "{~p, {send, pr, hi}}", out, sizeof out);
  assert_string_equal(out, ""); /* the server answers, not rex */
  assert_int_equal(pr->count, 2);
  assert_true(t_is_atom(pr->msgs[0], pr->lens[0], "hi"));
  rex_free(f);
  probe_free(pr);
}

static void test_features_and_cnode_call(void **state) {
  (void)state;
  fx_t *f = rex_fx();
  char out[256];
  ask(f, "{~p, features_request}", out, sizeof out);
  assert_string_equal(out, "{features_reply, 'phc@127.0.0.1', [erpc]}");
  ask(f, "{~p, {call, erlang, node, [], user}}", out, sizeof out);
  assert_string_equal(out, "{rex, 'phc@127.0.0.1'}");
  ask(f, "{~p, {call, m, f, [], user}}", out, sizeof out);
  assert_string_equal(out, "{rex, {badrpc, {'EXIT', {undef, [{m, f, [], "
                           "[]}]}}}}");
  rex_free(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_native_without_result),
      cmocka_unit_test(test_block_call),
      cmocka_unit_test(test_block_call_exit_class),
      cmocka_unit_test(test_stop_and_ignored),
      cmocka_unit_test(test_cast),
      cmocka_unit_test(test_sbcast_send),
      cmocka_unit_test(test_features_and_cnode_call),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
