/* test_timer.c - send_after/cancel_timer and C callback timers
 * (c_src/proc/timer.c). */
#include "proc_fixture.h"

static void test_send_after_fires_in_order(void **state) {
  (void)state;
  fx_t *f = fx_new();
  probe_t *a = probe_spawn(f, 0);
  term_t late = t_atom("late"), early = t_atom("early");
  phc_ref_t r1, r2;
  uint64_t t0 = uv_hrtime();
  assert_int_equal(phc_send_after(&f->node, 40, &a->pid, late.b, late.len, &r1),
                   0);
  assert_int_equal(
      phc_send_after(&f->node, 10, &a->pid, early.b, early.len, &r2), 0);
  assert_false(phc_ref_eq(&r1, &r2));
  fx_drain(f);
  assert_int_equal(a->count, 0);
  fx_run(f);
  uint64_t ms = (uv_hrtime() - t0) / 1000000u;
  assert_true(ms >= 39);
  assert_int_equal(a->count, 2);
  assert_true(t_is_atom(a->msgs[0], a->lens[0], "early"));
  assert_true(t_is_atom(a->msgs[1], a->lens[1], "late"));
  /* A fired timer cannot be cancelled. */
  assert_int_equal(phc_cancel_timer(&f->node, &r1), PHC_ENOPROC);
  fx_free(f);
  probe_free(a);
}

static void test_cancel_timer(void **state) {
  (void)state;
  fx_t *f = fx_new();
  probe_t *a = probe_spawn(f, 0);
  term_t m = t_atom("never"), k = t_atom("kept");
  phc_ref_t r1, r2;
  phc_send_after(&f->node, 20, &a->pid, m.b, m.len, &r1);
  phc_send_after(&f->node, 30, &a->pid, k.b, k.len, &r2);
  assert_int_equal(phc_cancel_timer(&f->node, &r1), 0);
  assert_int_equal(phc_cancel_timer(&f->node, &r1), PHC_ENOPROC);
  fx_run(f);
  assert_int_equal(a->count, 1);
  assert_true(t_is_atom(a->msgs[0], a->lens[0], "kept"));
  fx_free(f);
  probe_free(a);
}

static void test_timer_dies_with_dest(void **state) {
  (void)state;
  fx_t *f = fx_new();
  probe_t *a = probe_spawn(f, 0);
  term_t m = t_atom("x");
  phc_ref_t r;
  phc_send_after(&f->node, 1000, &a->pid, m.b, m.len, &r);
  uint64_t t0 = uv_hrtime();
  phc_proc_exit_atom(a->self, "normal");
  assert_int_equal(phc_cancel_timer(&f->node, &r), PHC_ENOPROC);
  fx_run(f); /* returns at once: no timer keeps the loop alive */
  assert_true((uv_hrtime() - t0) / 1000000u < 500);
  fx_free(f);
  probe_free(a);
}

static void test_send_after_remote(void **state) {
  (void)state;
  fx_t *f = fx_new();
  erlang_pid r = fx_remote_pid(3);
  term_t m = t_atom("tick");
  phc_ref_t tr;
  assert_int_equal(phc_send_after(&f->node, 5, &r, m.b, m.len, &tr), 0);
  assert_int_equal(fx_count(f, R_SEND), 0);
  fx_run(f);
  rec_call_t *c = fx_last(f, R_SEND);
  assert_non_null(c);
  assert_true(phc_pid_eq(&c->to, &r));
  assert_true(t_is_atom(c->buf, c->len, "tick"));
  fx_free(f);
}

static int cb_hits;
static void *cb_last;
static uint64_t cb_cancel_id;

static void count_cb(phc_node_t *n, void *arg) {
  cb_hits++;
  cb_last = arg;
  if (cb_cancel_id) phc__timer_cancel(n, cb_cancel_id);
}

static void test_c_timers(void **state) {
  (void)state;
  fx_t *f = fx_new();
  int tag1, tag2, tag3;
  cb_hits = 0;
  cb_cancel_id = 0;
  uint64_t a = phc__timer_start(&f->node, 5, count_cb, &tag1);
  uint64_t b = phc__timer_start(&f->node, 10, count_cb, &tag2);
  assert_true(a > 0 && b > 0 && a != b);
  phc__timer_cancel(&f->node, a);
  fx_run(f);
  assert_int_equal(cb_hits, 1);
  assert_ptr_equal(cb_last, &tag2);
  /* A callback may cancel another pending timer. */
  cb_hits = 0;
  phc__timer_start(&f->node, 5, count_cb, &tag1);
  cb_cancel_id = phc__timer_start(&f->node, 50, count_cb, &tag3);
  fx_run(f);
  assert_int_equal(cb_hits, 1);
  assert_ptr_equal(cb_last, &tag1);
  phc__timer_cancel(&f->node, 12345); /* unknown id: harmless */
  cb_cancel_id = 0;
  fx_free(f);
}

static void test_close_with_pending_timers(void **state) {
  (void)state;
  fx_t *f = fx_new();
  probe_t *a = probe_spawn(f, 0);
  term_t m = t_atom("x");
  phc_ref_t r;
  erlang_pid rp = fx_remote_pid(1);
  phc_send_after(&f->node, 10000, &a->pid, m.b, m.len, &r);
  phc_send_after(&f->node, 10000, &rp, m.b, m.len, &r);
  phc__timer_start(&f->node, 10000, count_cb, NULL);
  uint64_t t0 = uv_hrtime();
  fx_free(f); /* closes every timer; the loop ends */
  assert_true((uv_hrtime() - t0) / 1000000u < 1000);
  probe_free(a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_send_after_fires_in_order),
      cmocka_unit_test(test_cancel_timer),
      cmocka_unit_test(test_timer_dies_with_dest),
      cmocka_unit_test(test_send_after_remote),
      cmocka_unit_test(test_c_timers),
      cmocka_unit_test(test_close_with_pending_timers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
