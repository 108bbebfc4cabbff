/* test_gossip.c - ProcessHub.Strategy.Synchronization.Gossip on the hub
 * test node (hub_fixture.h): its options, a captured propagation closure
 * (test/fixtures/hub/closure_gossip) applied and spread on, a periodic
 * round joined, applied, acked and forwarded (as rpc casts to the peers'
 * rex), a finished round ignored, and the rounds phc starts itself. */
#include "hub_fixture.h"

#define GS "Elixir.ProcessHub.Strategy.Synchronization.Gossip"

static void set_gossip(hx_t *x, const char *opts) {
  const phc__strat_base_t *t = phc__strat_find(PHC__STRAT_SYNCHRONIZATION, GS);
  assert_non_null(t);
  ei_x_buff o = hx_term(opts);
  assert_int_equal(phc__strategies_set(x->h, &x->h->strat,
                                       PHC__STRAT_SYNCHRONIZATION, t, o.buff,
                                       1),
                   0);
  ei_x_free(&o);
}

static int check(const char *opts) {
  ei_x_buff o = hx_term(opts);
  int rc = phc__strat_check(phc__strat_find(PHC__STRAT_SYNCHRONIZATION, GS),
                            o.buff, 1);
  ei_x_free(&o);
  return rc;
}

static void test_options(void **state) {
  (void)state;
  assert_int_equal(check("[]"), 0);
  assert_int_equal(check("#{'__struct__' => x, sync_interval => 3000, "
                         "recipients => 2, restricted_init => false}"),
                   0);
  assert_int_equal(check("[{recipients, 0}]"), PHC_EINVAL);
  assert_int_equal(check("[{restricted_init, 1}]"), PHC_EINVAL);
  assert_int_equal(check("[{fanout, 3}]"), PHC_EINVAL);
  hx_t *x = hx_new();
  set_gossip(x, "[{sync_interval, 3000}]");
  assert_int_equal(x->h->sync_ms, 3000);
  hx_free(x);
}

/* The k-th rpc cast recorded: its node and M:F. */
static hx_msg_t *rex_cast(hx_t *x, int k, const char *node, const char *fn) {
  hx_msg_t *m = hx_find(x, "cast", k);
  assert_non_null(m);
  assert_string_equal(m->name, "rex");
  assert_string_equal(m->node, node);
  assert_true(hx_has(m->buf, 1, fn));
  return m;
}

static void test_propagation_closure(void **state) {
  (void)state;
  hx_t *x = hx_new();
  hx_feed(x, "cluster_join");     /* ph1 */
  hx_feed(x, "cluster_join_ph3"); /* ph3 */
  set_gossip(x, "[]");
  hx_rec_clear(x);
  hx_term_t t = hx_load("closure_gossip");
  erlang_fun f;
  int idx = 1;
  assert_int_equal(ei_decode_fun(t.b, &idx, &f), 0);
  ei_x_buff res;
  ei_x_new_with_version(&res);
  assert_int_equal(phc__hub_closure(&x->node, &f, &res), 0);
  assert_true(hx_has(res.buff, 1, "ok"));
  ei_x_free(&res);
  /* applied here: gs-2 on ph1 */
  ei_x_buff cid = hx_bin_cid("gs-2");
  phc__reg_row_t *row = hx_row(x, &cid);
  assert_non_null(row);
  assert_string_equal(row->owners[0].node, HX_PH1);
  ei_x_free(&cid);
  /* spread on to ph3, the one node left unacked besides us */
  assert_int_equal(hx_count(x, "cast"), 1);
  hx_msg_t *m = rex_cast(x, 0, HX_PH3, GS "',propagate_data");
  assert_true(hx_has(m->buf, 1, "['ph1@127.0.0.1','ph2@127.0.0.1']"));
  assert_true(hx_has(m->buf, 1, "#{hub_id => lab}"));
  free_fun(&f);
  free(t.b);
  hx_free(x);
}

/* {gossip_sync, #{ref => r1, nodes_data => #{ph1 => {[{Spec, Pid, #{}}],
 * Ts}}, sync_acks => Acks}} */
static ei_x_buff round_msg(const char *acks, long long ts) {
  ei_x_buff m;
  ei_x_new(&m);
  ei_x_encode_tuple_header(&m, 2);
  ei_x_encode_atom(&m, "gossip_sync");
  ei_x_encode_map_header(&m, 3);
  ei_x_encode_atom(&m, "ref");
  ei_x_encode_atom(&m, "r1");
  ei_x_encode_atom(&m, "nodes_data");
  ei_x_encode_map_header(&m, 1);
  ei_x_encode_atom(&m, HX_PH1);
  ei_x_encode_tuple_header(&m, 2);
  ei_x_encode_list_header(&m, 1);
  ei_x_encode_tuple_header(&m, 3);
  hx_append(&m, "#{id => <<\"g1\">>, start => {phc_echo, start_link, []}}");
  erlang_pid p = hx_pid(HX_PH1, 61);
  ei_x_encode_pid(&m, &p);
  hx_append(&m, "#{}");
  ei_x_encode_empty_list(&m);
  ei_x_encode_longlong(&m, ts);
  ei_x_encode_atom(&m, "sync_acks");
  hx_append(&m, acks);
  return m;
}

static void test_round(void **state) {
  (void)state;
  hx_t *x = hx_new();
  hx_feed(x, "cluster_join"); /* hub nodes: ph2 (us), ph1 */
  set_gossip(x, "[{restricted_init, true}]");
  hx_rec_clear(x);
  ei_x_buff m = round_msg("[]", 100);
  phc__strat_handle_sync(x->h, &x->h->strat, m.buff, 0, HX_PH1);
  ei_x_free(&m);
  /* everyone's part is in: applied here, acked, forwarded to ph1 */
  ei_x_buff cid = hx_bin_cid("g1");
  assert_non_null(hx_row(x, &cid));
  hx_msg_t *c = rex_cast(x, 0, HX_PH1, "exec_interval_sync");
  assert_true(hx_has(c->buf, 1, "sync_acks => ['ph2@127.0.0.1']"));
  assert_true(hx_has(c->buf, 1, "'ph2@127.0.0.1' => {[],"));
  assert_true(hx_has(c->buf, 1, "[lab,#{'__struct__' => '" GS "'"));
  assert_int_equal(hx_count(x, "cast"), 1);
  /* ph1 acked too: the round is over, nothing more goes out */
  hx_rec_clear(x);
  m = round_msg("['ph1@127.0.0.1','ph2@127.0.0.1']", 100);
  phc__strat_handle_sync(x->h, &x->h->strat, m.buff, 0, HX_PH1);
  assert_int_equal(hx_count(x, "cast"), 0);
  phc__strat_handle_sync(x->h, &x->h->strat, m.buff, 0, HX_PH1);
  assert_int_equal(hx_count(x, "cast"), 0);
  ei_x_free(&m);
  ei_x_free(&cid);
  /* garbage: one line, nothing else */
  ei_x_buff g = hx_body("{gossip_sync, #{ref => r2}}");
  phc__strat_handle_sync(x->h, &x->h->strat, g.buff, 0, HX_PH1);
  ei_x_free(&g);
  hx_free(x);
}

static void test_init_sync_and_propagate(void **state) {
  (void)state;
  hx_t *x = hx_new();
  hx_feed(x, "cluster_join");
  set_gossip(x, "[]"); /* restricted: ph1 sorts first, so not us */
  hx_rec_clear(x);
  phc__strat_init_sync(x->h, &x->h->strat);
  assert_int_equal(hx_count(x, "cast"), 0);
  set_gossip(x, "[{restricted_init, false}]");
  phc__strat_init_sync(x->h, &x->h->strat);
  hx_msg_t *c = rex_cast(x, 0, HX_PH1, "exec_interval_sync");
  assert_true(hx_has(c->buf, 1, "sync_acks => []"));
  /* propagate: applied here, then spread to ph1 */
  hx_rec_clear(x);
  ei_x_buff ch = hx_body("[{<<\"gone\">>, ok, 'ph1@127.0.0.1'}]");
  phc__strat_propagate(x->h, &x->h->strat, ch.buff, ch.index, HX_PH1,
                       PHC__STRAT_SYNC_REM, NULL, 0);
  ei_x_free(&ch);
  c = rex_cast(x, 0, HX_PH1, "propagate_data");
  assert_true(hx_has(c->buf, 1, "['ph2@127.0.0.1'],[{#Bin<103,111,110,101>"));
  assert_true(hx_has(c->buf, 1, "rem]"));
  hx_free(x);
}

int main(void) {
  phc_log_set_level(PHC_LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_options),
      cmocka_unit_test(test_propagation_closure),
      cmocka_unit_test(test_round),
      cmocka_unit_test(test_init_sync_and_propagate),
  };
  return cmocka_run_group_tests_name("gossip", tests, NULL, NULL);
}
