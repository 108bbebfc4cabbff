/* test_introspect.c - the introspection natives (otp/introspect.c,
 * otp/introspect_proc.c) and DynamicSupervisor's answers for a supervisor
 * phc does not run (otp/dsup_absent.c): each native is called with its
 * argument list parsed from text, and its result printed and compared
 * with the term OTP gives. Runs on a hand-built node (proc_fixture.h)
 * with the OTP services started. */
#include "proc_fixture.h"

#include <string.h>

#include "otp/otp.h"
#include "otp/otp_int.h"
#include "term/parse.h"

static fx_t *intro_fx(void) {
  fx_t *f = fx_new();
  assert_int_equal(phc__otp_init(&f->node), 0);
  fx_drain(f);
  return f;
}

static void intro_free(fx_t *f) {
  phc__otp_close(&f->node);
  fx_free(f);
}

static int keep(void *arg, const char *term, int len) {
  term_t *t = arg;
  assert_true(len <= (int)sizeof t->b);
  memcpy(t->b, term, (size_t)len);
  t->len = len;
  return 0;
}

/* Run m:f(args) (args: the argument list as text); the result as text
 * into out; returns the native's rc and sets *exited for exit class. */
static int run(fx_t *f, const char *m, const char *fn, const char *args,
               char *out, size_t size, int *exited) {
  term_t a = {0};
  char err[64];
  assert_int_equal(
      phc__parse_terms(args, strlen(args), keep, &a, err, sizeof err), 0);
  ei_x_buff r;
  int rc = phc__otp_run_native(&f->node, NULL, m, fn, a.b + 1, a.len - 1, &r);
  if (exited) *exited = f->node.otp->raised_exit;
  char *s = NULL;
  int i = 1;
  assert_true(ei_s_print_term(&s, r.buff, &i) >= 0);
  snprintf(out, size, "%s", s);
  free(s);
  ei_x_free(&r);
  return rc;
}

static void test_memory(void **state) {
  (void)state;
  fx_t *f = intro_fx();
  char out[2048];
  assert_int_equal(run(f, "erlang", "memory", "[].", out, sizeof out, NULL), 0);
  const char *keys[] = {"{total,",  "{processes,", "{processes_used,",
                        "{system,", "{atom,",      "{atom_used,",
                        "{binary,", "{code,",      "{ets,"};
  const char *p = out;
  for (size_t i = 0; i < 9; i++) { /* every key, in OTP's order */
    const char *q = strstr(p, keys[i]);
    assert_non_null(q);
    p = q + 1;
  }
  assert_int_equal(
      run(f, "erlang", "memory", "[[ets, atom]].", out, sizeof out, NULL), 0);
  assert_string_equal(out, "[{ets, 0}, {atom, 0}]");
  assert_int_equal(
      run(f, "erlang", "memory", "[total].", out, sizeof out, NULL), 0);
  assert_true(atol(out) > 0);
  assert_int_equal(
      run(f, "erlang", "memory", "[bogus].", out, sizeof out, NULL),
      PHC_EINVAL);
  assert_string_equal(out, "badarg");
  intro_free(f);
}

static void test_system_info(void **state) {
  (void)state;
  fx_t *f = intro_fx();
  char out[512];
  run(f, "erlang", "system_info", "[otp_release].", out, sizeof out, NULL);
  assert_string_equal(out, "[50, 53]"); /* "25" */
  run(f, "erlang", "system_info", "[process_limit].", out, sizeof out, NULL);
  assert_string_equal(out, "1048576");
  run(f, "erlang", "system_info", "[schedulers].", out, sizeof out, NULL);
  assert_string_equal(out, "1");
  run(f, "erlang", "system_info", "[{wordsize, external}].", out, sizeof out,
      NULL);
  assert_string_equal(out, "8");
  run(f, "erlang", "system_info", "[creation].", out, sizeof out, NULL);
  assert_string_equal(out, "1234");
  run(f, "erlang", "system_info", "[multi_scheduling].", out, sizeof out, NULL);
  assert_string_equal(out, "disabled");
  char want[32];
  snprintf(want, sizeof want, "%zu", phc__rt_count(&f->node));
  run(f, "erlang", "system_info", "[process_count].", out, sizeof out, NULL);
  assert_string_equal(out, want);
  run(f, "erlang", "system_info", "[system_version].", out, sizeof out, NULL);
  assert_int_equal(strncmp(out, "[112, 104, 99, 32, 67", 21), 0); /* "phc C" */
  assert_int_equal(
      run(f, "erlang", "system_info", "[nope].", out, sizeof out, NULL),
      PHC_EINVAL);
  intro_free(f);
}

static void test_statistics(void **state) {
  (void)state;
  fx_t *f = intro_fx();
  char out[256];
  run(f, "erlang", "statistics", "[garbage_collection].", out, sizeof out,
      NULL);
  assert_string_equal(out, "{0, 0, 0}");
  run(f, "erlang", "statistics", "[run_queue].", out, sizeof out, NULL);
  assert_string_equal(out, "0");
  run(f, "erlang", "statistics", "[run_queue_lengths].", out, sizeof out, NULL);
  assert_string_equal(out, "[0]");
  run(f, "erlang", "statistics", "[reductions].", out, sizeof out, NULL);
  assert_int_equal(out[0], '{');
  run(f, "erlang", "statistics", "[io].", out, sizeof out, NULL);
  assert_int_equal(strncmp(out, "{{input, ", 9), 0);
  assert_int_equal(
      run(f, "erlang", "statistics", "[nope].", out, sizeof out, NULL),
      PHC_EINVAL);
  intro_free(f);
}

static void test_registered_whereis_node(void **state) {
  (void)state;
  fx_t *f = intro_fx();
  char out[512];
  run(f, "erlang", "registered", "[].", out, sizeof out, NULL);
  assert_non_null(strstr(out, "rex"));
  assert_non_null(strstr(out, "net_kernel"));
  run(f, "erlang", "whereis", "[no_such].", out, sizeof out, NULL);
  assert_string_equal(out, "undefined");
  run(f, "erlang", "whereis", "[rex].", out, sizeof out, NULL);
  assert_string_not_equal(out, "undefined");
  assert_string_not_equal(out, "badarg");
  run(f, "erlang", "node", "[1].", out, sizeof out, NULL);
  assert_string_equal(out, "badarg");
  run(f, "global", "whereis_name", "[x].", out, sizeof out, NULL);
  assert_string_equal(out, "undefined");
  intro_free(f);
}

/* process_info of a probe: its items, [] for registered_name without a
 * name, undefined once dead, badarg for an unknown item or remote pid. */
static void test_process_info(void **state) {
  (void)state;
  fx_t *f = intro_fx();
  probe_t *pr = probe_spawn(f, 1);
  ei_x_buff x;
  ei_x_new_with_version(&x);
  ei_x_format_wo_ver(&x,
                     "[~p, [registered_name, trap_exit, links, "
                     "message_queue_len, monitors, dictionary]]",
                     &pr->pid);
  ei_x_buff r;
  assert_int_equal(phc__otp_run_native(&f->node, NULL, "erlang", "process_info",
                                       x.buff + 1, x.index - 1, &r),
                   0);
  char *s = NULL;
  int i = 1;
  ei_s_print_term(&s, r.buff, &i);
  assert_string_equal(s, "[{registered_name, []}, {trap_exit, true}, "
                         "{links, []}, {message_queue_len, 0}, "
                         "{monitors, []}, {dictionary, []}]");
  free(s);
  ei_x_free(&r);
  ei_x_free(&x);
  ei_x_new_with_version(&x);
  ei_x_format_wo_ver(&x, "[~p, registered_name]", &pr->pid);
  phc__otp_run_native(&f->node, NULL, "erlang", "process_info", x.buff + 1,
                      x.index - 1, &r);
  i = 1;
  s = NULL;
  ei_s_print_term(&s, r.buff, &i);
  assert_string_equal(s, "[]");
  free(s);
  ei_x_free(&r);
  ei_x_free(&x);
  phc_proc_exit_atom(pr->self, "normal");
  fx_drain(f);
  ei_x_new_with_version(&x);
  ei_x_format_wo_ver(&x, "[~p, status]", &pr->pid);
  phc__otp_run_native(&f->node, NULL, "erlang", "process_info", x.buff + 1,
                      x.index - 1, &r);
  i = 1;
  s = NULL;
  ei_s_print_term(&s, r.buff, &i);
  assert_string_equal(s, "undefined");
  free(s);
  ei_x_free(&r);
  ei_x_free(&x);
  probe_free(pr);
  intro_free(f);
}

static void test_process_info_rex(void **state) {
  (void)state;
  fx_t *f = intro_fx();
  phc_pid_t rex;
  assert_int_equal(phc_whereis(&f->node, "rex", &rex), 0);
  ei_x_buff x, r;
  ei_x_new_with_version(&x);
  ei_x_format_wo_ver(&x, "[~p]", &rex);
  assert_int_equal(phc__otp_run_native(&f->node, NULL, "erlang", "process_info",
                                       x.buff + 1, x.index - 1, &r),
                   0);
  char *s = NULL;
  int i = 1;
  ei_s_print_term(&s, r.buff, &i);
  assert_int_equal(strncmp(s,
                           "[{registered_name, rex}, {current_function, "
                           "{phc_proc, rex, 0}}",
                           60),
                   0);
  assert_non_null(strstr(s, "{status, waiting}"));
  assert_non_null(strstr(s, "{suspending, []}]"));
  free(s);
  ei_x_free(&r);
  ei_x_free(&x);
  char out[128];
  erlang_pid remote = fx_remote_pid(3);
  ei_x_new_with_version(&x);
  ei_x_format_wo_ver(&x, "[~p]", &remote);
  assert_int_equal(phc__otp_run_native(&f->node, NULL, "erlang",
                                       "is_process_alive", x.buff + 1,
                                       x.index - 1, &r),
                   PHC_EINVAL);
  ei_x_free(&r);
  ei_x_free(&x);
  run(f, "erlang", "process_info", "[x, status].", out, sizeof out, NULL);
  assert_string_equal(out, "badarg");
  intro_free(f);
}

/* DynamicSupervisor on a node without that supervisor: the exits and the
 * invalid-spec error OTP/Elixir give (captured from a BEAM node). */
static void test_dsup_absent(void **state) {
  (void)state;
  fx_t *f = intro_fx();
  char out[512];
  int exited = 0;
  const char *ds = "Elixir.DynamicSupervisor";
  assert_int_equal(run(f, ds, "start_child",
                       "[nosuch, #{id => x, start => {m, f, [1]}}].", out,
                       sizeof out, &exited),
                   PHC_ENOPROC);
  assert_true(exited);
  assert_string_equal(out, "{noproc, {'Elixir.GenServer', call, [nosuch, "
                           "{start_child, {{m, f, [1]}, permanent, 5000, "
                           "worker, [m]}}, infinity]}}");
  run(f, ds, "start_child",
      "[nosuch, #{id => x, start => {m, f, [1]}, type => supervisor}].", out,
      sizeof out, &exited);
  assert_non_null(strstr(out, "permanent, infinity, supervisor, [m]"));
  run(f, ds, "start_child",
      "[nosuch, {x, {m, f, [1]}, transient, 7, worker, dynamic}].", out,
      sizeof out, &exited);
  assert_non_null(strstr(
      out, "{start_child, {{m, f, [1]}, transient, 7, worker, dynamic}}"));
  assert_int_equal(run(f, ds, "start_child", "[nosuch, #{id => x}].", out,
                       sizeof out, &exited),
                   0);
  assert_string_equal(out, "{error, {invalid_child_spec, #{id => x}}}");
  run(f, ds, "which_children", "[nosuch].", out, sizeof out, &exited);
  assert_string_equal(out, "{noproc, {'Elixir.GenServer', call, [nosuch, "
                           "which_children, infinity]}}");
  intro_free(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_memory),
      cmocka_unit_test(test_system_info),
      cmocka_unit_test(test_statistics),
      cmocka_unit_test(test_registered_whereis_node),
      cmocka_unit_test(test_process_info),
      cmocka_unit_test(test_process_info_rex),
      cmocka_unit_test(test_dsup_absent),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
