/* test_elector.c - phc's :elector leader view (hub/strategy/elector.c) on
 * the hub test node: started once per node, set and cleared by the
 * commission's abcasts to elector_state, a message of another shape
 * dropped with the view kept, and elector:get_leader/0 answered from it. */
#include "hub_fixture.h"

static void to_elector(hx_t *x, const char *text) {
  ei_x_buff t = hx_term(text);
  hx_to_name(x, "elector_state", t.buff, t.index);
  ei_x_free(&t);
  hx_drain(x);
}

static void test_view(void **state) {
  (void)state;
  hx_t *x = hx_new();
  char leader[PHC__ATOM_MAX];
  phc_pid_t p1, p2;
  assert_int_equal(phc__elector_leader(x->h, leader, sizeof leader),
                   PHC_ENOPROC);
  assert_int_equal(phc__elector_start(x->h), 0);
  assert_int_equal(phc_whereis(&x->node, "elector_state", &p1), 0);
  assert_int_equal(phc__elector_start(x->h), 0); /* once per node */
  assert_int_equal(phc_whereis(&x->node, "elector_state", &p2), 0);
  assert_int_equal(p1.num, p2.num);
  assert_int_equal(phc__elector_leader(x->h, leader, sizeof leader),
                   PHC_ENOPROC);
  to_elector(x, "{'$gen_cast', {set_leader, 'ph1@127.0.0.1'}}");
  assert_int_equal(phc__elector_leader(x->h, leader, sizeof leader), 0);
  assert_string_equal(leader, HX_PH1);
  to_elector(x, "{'$gen_cast', {set_leader, \"not an atom\"}}");
  to_elector(x, "{'$gen_cast', {other, 1}}");
  to_elector(x, "{set_leader, 'ph3@127.0.0.1'}");
  assert_int_equal(phc__elector_leader(x->h, leader, sizeof leader), 0);
  assert_string_equal(leader, HX_PH1);
  to_elector(x, "{'$gen_cast', {set_leader, 'ph3@127.0.0.1'}}");
  assert_int_equal(phc__elector_leader(x->h, leader, sizeof leader), 0);
  assert_string_equal(leader, HX_PH3);
  to_elector(x, "{'$gen_cast', clear_leader}");
  assert_int_equal(phc__elector_leader(x->h, leader, sizeof leader),
                   PHC_ENOPROC);
  hx_free(x);
}

static void test_get_leader_native(void **state) {
  (void)state;
  hx_t *x = hx_new();
  ei_x_buff r;
  assert_int_equal(phc__elector_start(x->h), 0);
  phc_native_fn fn = phc__native_find(&x->node, "elector", "get_leader", 0);
  assert_non_null(fn);
  ei_x_buff args = hx_term("[]");
  ei_x_new_with_version(&r);
  assert_int_equal(fn(&x->node, NULL, args.buff, args.index, &r), 0);
  assert_true(hx_has(r.buff, 1, "{error,leader_node_not_set}"));
  ei_x_free(&r);
  to_elector(x, "{'$gen_cast', {set_leader, 'ph1@127.0.0.1'}}");
  ei_x_new_with_version(&r);
  assert_int_equal(fn(&x->node, NULL, args.buff, args.index, &r), 0);
  assert_true(hx_has(r.buff, 1, "{ok,'ph1@127.0.0.1'}"));
  ei_x_free(&r);
  ei_x_free(&args);
  hx_free(x);
}

int main(void) {
  phc_log_set_level(PHC_LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_view),
      cmocka_unit_test(test_get_leader_native),
  };
  return cmocka_run_group_tests_name("elector", tests, NULL, NULL);
}
