/* test_load_balancer.c - ProcessHub.Strategy.Distribution.
 * CentralizedLoadBalancer on the hub test node (hub_fixture.h): its
 * options, belongs_to leaving placement to the leader (a child sent here
 * starts here, nothing is forwarded), the election it asks for on init
 * (Elector.elect() by rpc:cast, as init/2 runs it on a BEAM member), and
 * the periodic load push: none while phc's elector view names no leader,
 * then an rpc:cast of erl_eval:exprs to the leader's rex only, carrying
 * {calculate_score, phc, Stats} with ProcessHub's five keys. */
#include <unistd.h>

#include "hub_fixture.h"

#define LB "Elixir.ProcessHub.Strategy.Distribution.CentralizedLoadBalancer"

static int set_lb(hx_t *x, const char *opts) {
  const phc__strat_base_t *t = phc__strat_find(PHC__STRAT_DISTRIBUTION, LB);
  assert_non_null(t);
  ei_x_buff o = hx_term(opts);
  int rc = phc__strategies_set(x->h, &x->h->strat, PHC__STRAT_DISTRIBUTION, t,
                               o.buff, 1);
  ei_x_free(&o);
  return rc;
}

static void test_options(void **state) {
  (void)state;
  hx_t *x = hx_new();
  assert_int_equal(set_lb(x, "#{'__struct__' => x, scoreboard => #{}, "
                             "calculator_pid => nil, max_history_size => 30, "
                             "weight_decay_factor => 0.9, push_interval => "
                             "10000, nodeup_redistribution => false}"),
                   0);
  assert_int_equal(set_lb(x, "[{push_interval, 0}]"), PHC_EINVAL);
  assert_int_equal(set_lb(x, "[{weight_decay, 0.5}]"), PHC_EINVAL);
  hx_free(x);
}

static void test_follows_the_leader_and_pushes(void **state) {
  (void)state;
  hx_t *x = hx_new();
  hx_feed(x, "cluster_join"); /* ph1 */
  assert_int_equal(set_lb(x, "[{push_interval, 1}]"), 0);
  const char *owners[4];
  ei_x_buff cid = hx_bin_cid("c1");
  assert_int_equal(
      phc__strat_belongs_to(x->h, &x->h->strat, cid.buff, cid.index, owners, 4),
      0);
  ei_x_free(&cid);
  hx_drain(x);
  hx_msg_t *m = hx_find(x, "cast", 0);
  assert_non_null(m);
  assert_string_equal(m->name, "rex");
  assert_true(hx_has(m->buf, 1, "{cast,elector,elect,[],"));
  hx_rec_clear(x);
  usleep(5000);
  uv_run(&x->loop, UV_RUN_NOWAIT);
  hx_drain(x);
  assert_int_equal(hx_count(x, "cast"), 0); /* no leader known yet */
  ei_x_buff set = hx_term("{'$gen_cast', {set_leader, 'ph1@127.0.0.1'}}");
  hx_to_name(x, "elector_state", set.buff, set.index);
  ei_x_free(&set);
  hx_drain(x);
  usleep(5000);
  uv_run(&x->loop, UV_RUN_NOWAIT);
  hx_drain(x);
  m = hx_find(x, "cast", 0);
  assert_non_null(m);
  assert_string_equal(m->name, "rex");
  assert_string_equal(m->node, HX_PH1);
  assert_true(hx_has(m->buf, 1, "{cast,erl_eval,exprs,[[{call,1,"));
  assert_false(hx_has(m->buf, 1, "get_leader"));
  assert_true(hx_has(m->buf, 1, "{atom,1,calculator_pid}"));
  assert_true(hx_has(m->buf, 1, "[{'H',lab},{'N','ph2@127.0.0.1'},{'S',#{"));
  assert_true(hx_has(m->buf, 1, "process_count =>"));
  assert_true(hx_has(m->buf, 1, "scheduler_utilization =>"));
  assert_true(hx_has(m->buf, 1, "memory_usage =>"));
  hx_free(x);
}

/* ph1 leaves while ph1 leads: the 7 rows it held go to the leader as one
 * belongs_to question, answered to the asker as {lb_assign, Tag, _}. */
static void test_node_leave_asks_the_leader(void **state) {
  (void)state;
  hx_t *x = hx_new();
  hx_feed(x, "cluster_join");
  hx_feed(x, "sync_remote");
  assert_int_equal(hx_rows(x), 7);
  assert_int_equal(set_lb(x, "[{push_interval, 60000}]"), 0);
  ei_x_buff set = hx_term("{'$gen_cast', {set_leader, 'ph1@127.0.0.1'}}");
  hx_to_name(x, "elector_state", set.buff, set.index);
  ei_x_free(&set);
  hx_drain(x);
  hx_rec_clear(x);
  phc__strategies_node_leave(x->h, &x->h->strat, HX_PH1);
  hx_drain(x);
  hx_msg_t *m = hx_find(x, "cast", 0);
  assert_non_null(m);
  assert_string_equal(m->node, HX_PH1);
  assert_true(hx_has(m->buf, 1, "{atom,1,belongs_to}"));
  assert_true(hx_has(m->buf, 1, "{tuple,1,[{atom,1,lb_assign},{var,1,'T'},"));
  assert_true(hx_has(m->buf, 1, "[{'C',[four,one,three,two,#Bin<"));
  assert_true(hx_has(m->buf, 1, "{'H',lab},{'P',<ph2@127.0.0.1."));
  assert_null(hx_find(x, "cast", 1));
  hx_free(x);
}

int main(void) {
  phc_log_set_level(PHC_LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_options),
      cmocka_unit_test(test_follows_the_leader_and_pushes),
      cmocka_unit_test(test_node_leave_asks_the_leader),
  };
  return cmocka_run_group_tests_name("load_balancer", tests, NULL, NULL);
}
