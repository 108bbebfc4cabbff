/* test_replication.c - ProcessHub.Strategy.Redundancy.Replication
 * (c_src/hub/strategy/replication.c): its options (keyword list, struct
 * map, unknown option or value refused), replication_factor (an integer or
 * cluster_size), master_node/4 against the choices real ProcessHub made
 * (test/fixtures/strategy/master_node.tsv), and the redundancy signal a
 * started child gets, on the hub test node (hub_fixture.h). */
#include "hub_fixture.h"

#define REP "Elixir.ProcessHub.Strategy.Redundancy.Replication"

static const phc__strat_red_t *rep_table(void) {
  const phc__strat_base_t *t = phc__strat_find(PHC__STRAT_REDUNDANCY, REP);
  assert_non_null(t);
  return (const phc__strat_red_t *)t;
}

static int check_text(const char *text) {
  ei_x_buff o = hx_term(text);
  int rc = phc__strat_check(&rep_table()->base, o.buff, 1);
  ei_x_free(&o);
  return rc;
}

static void test_replication_options(void **state) {
  (void)state;
  assert_int_equal(check_text("[]"), 0);
  assert_int_equal(check_text("[{replication_factor, 3}, {replication_model, "
                              "active_passive}, {redundancy_signal, all}]"),
                   0);
  assert_int_equal(
      check_text("#{'__struct__' => '" REP "', replication_factor => "
                 "cluster_size, replication_model => active_active, "
                 "redundancy_signal => none}"),
      0);
  assert_int_equal(check_text("[{replication_modle, active_passive}]"),
                   PHC_EINVAL);
  assert_int_equal(check_text("[{redundancy_signal, sometimes}]"), PHC_EINVAL);
  assert_int_equal(check_text("[{replication_factor, 0}]"), PHC_EINVAL);
  assert_int_equal(check_text("[{replication_factor, many}]"), PHC_EINVAL);
  assert_int_equal(check_text("[replication_factor]"), PHC_EINVAL);
  assert_int_equal(check_text("{replication_factor, 2}"), PHC_EINVAL);
}

static void test_replication_factor(void **state) {
  (void)state;
  hx_t *x = hx_new();
  phc__strategies_t *s = &x->h->strat;
  assert_int_equal(phc__strategies_set(x->h, s, PHC__STRAT_REDUNDANCY,
                                       &rep_table()->base, NULL, 0),
                   0);
  assert_int_equal(phc__strat_replication_factor(x->h, s), 2); /* default */
  ei_x_buff o = hx_term("[{replication_factor, cluster_size}]");
  assert_int_equal(phc__strategies_set(x->h, s, PHC__STRAT_REDUNDANCY,
                                       &rep_table()->base, o.buff, 1),
                   0);
  ei_x_free(&o);
  assert_int_equal(phc__strat_replication_factor(x->h, s), 1);
  phc__hub_join_node(x->h, HX_PH1);
  phc__hub_join_node(x->h, HX_PH3);
  assert_int_equal(phc__strat_replication_factor(x->h, s), 3);
  const char *owners[PHC__HUB_MAX_NODES];
  ei_x_buff cid = hx_bin_cid("counter_1");
  assert_int_equal(phc__strat_belongs_to(x->h, s, cid.buff, cid.index, owners,
                                         PHC__HUB_MAX_NODES),
                   3);
  ei_x_free(&cid);
  hx_free(x);
}

static int hexval(char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; }

static void test_replication_master_golden(void **state) {
  (void)state;
  FILE *f = fopen("../fixtures/strategy/master_node.tsv", "r");
  assert_non_null(f);
  static char line[4096];
  char term[1024], *nodes[PHC__HUB_MAX_NODES];
  int rows = 0;
  while (fgets(line, sizeof line, f)) {
    char *hex = strtok(line, "\t"), *list = strtok(NULL, "\t"),
         *want = strtok(NULL, "\t\n");
    assert_non_null(want);
    int len = 0, n = 0;
    for (char *p = hex; p[0] && p[1]; p += 2)
      term[len++] = (char)(hexval(p[0]) << 4 | hexval(p[1]));
    for (char *t = strtok(list, ","); t; t = strtok(NULL, ","))
      nodes[n++] = t;
    const char *got = rep_table()->master_node(NULL, NULL, term + 1, len - 1,
                                               (const char *const *)nodes, n);
    if (!got || strcmp(got, want))
      print_message("row %d (%s): %s, ProcessHub picks %s\n", rows + 1, hex,
                    got ? got : "NULL", want);
    assert_non_null(got);
    assert_string_equal(got, want);
    rows++;
  }
  fclose(f);
  assert_true(rows >= 70);
}

/* A child started here gets {process_hub, redundancy_signal, Mode}: the
 * master replica active, the others passive (active_passive), all active
 * (active_active); only the modes redundancy_signal asks for. */
static void signal_case(const char *opts, const char *id, const char *want) {
  hx_t *x = hx_new();
  ei_x_buff o = hx_term(opts);
  assert_int_equal(phc__strategies_set(x->h, &x->h->strat,
                                       PHC__STRAT_REDUNDANCY,
                                       &rep_table()->base, o.buff, 1),
                   0);
  ei_x_free(&o);
  ei_x_buff cid = hx_bin_cid(id);
  ei_x_buff nodes = hx_term("['" HX_PH1 "', 'ph2@127.0.0.1']");
  erlang_pid pid = hx_pid(HX_PH3, 77); /* any pid: the recorder keeps it */
  hx_rec_clear(x);
  phc__strat_post_start(x->h, &x->h->strat, cid.buff, cid.index, &pid,
                        nodes.buff, 1);
  if (!want) {
    assert_int_equal(hx_count(x, "process_hub"), 0);
  } else {
    hx_msg_t *m = hx_find(x, "process_hub", 0);
    assert_non_null(m);
    char text[64];
    snprintf(text, sizeof text, "{process_hub,redundancy_signal,%s}", want);
    assert_true(hx_has(m->buf, 1, text));
  }
  ei_x_free(&cid);
  ei_x_free(&nodes);
  hx_free(x);
}

static void test_replication_signal(void **state) {
  (void)state;
  /* master on [ph1, ph2]: 'counter_1' sums to 912, rem 2 = 0: ph1;
   * counter_2 (913): ph2, this node */
  const char *ap_all = "[{replication_model, active_passive}, "
                       "{redundancy_signal, all}]";
  signal_case(ap_all, "counter_2", "active");
  signal_case(ap_all, "counter_1", "passive");
  signal_case("[{replication_model, active_passive}, "
              "{redundancy_signal, active}]",
              "counter_1", NULL);
  signal_case("[{replication_model, active_passive}, "
              "{redundancy_signal, passive}]",
              "counter_1", "passive");
  signal_case("[{redundancy_signal, all}]", "counter_1", "active");
  signal_case("[]", "counter_1", NULL); /* none */
}

/* A migrated replica: the start names only this node (a migration's
 * ChildData), the ring names two; the signal follows master_node/4 over
 * the ring's nodes, so a replica the ring makes passive is told passive. */
static void test_replication_signal_migrated(void **state) {
  (void)state;
  hx_t *x = hx_new();
  ei_x_buff o = hx_term("[{replication_model, active_passive}, "
                        "{redundancy_signal, all}]");
  assert_int_equal(phc__strategies_set(x->h, &x->h->strat,
                                       PHC__STRAT_REDUNDANCY,
                                       &rep_table()->base, o.buff, 1),
                   0);
  ei_x_free(&o);
  phc__hub_join_node(x->h, HX_PH1);
  hx_drain(x);
  ei_x_buff only_me = hx_term("['" HX_NODE "']");
  int checked = 0;
  for (int i = 1; i <= 40 && !checked; i++) {
    char id[32];
    snprintf(id, sizeof id, "m_%d", i);
    ei_x_buff cid = hx_bin_cid(id);
    const char *ring[4];
    int n =
        phc__strat_belongs_to(x->h, &x->h->strat, cid.buff, cid.index, ring, 4);
    const char *m =
        rep_table()->master_node(x->h, x->h->strat.state[PHC__STRAT_REDUNDANCY],
                                 cid.buff, cid.index, ring, n);
    if (n == 2 && strcmp(m, HX_NODE) != 0) { /* ring: passive here */
      erlang_pid pid = hx_pid(HX_PH3, 77);
      hx_rec_clear(x);
      phc__strat_post_start(x->h, &x->h->strat, cid.buff, cid.index, &pid,
                            only_me.buff, 1);
      hx_msg_t *msg = hx_find(x, "process_hub", 0);
      assert_non_null(msg);
      assert_true(
          hx_has(msg->buf, 1, "{process_hub,redundancy_signal,passive}"));
      checked = 1;
    }
    ei_x_free(&cid);
  }
  assert_true(checked);
  ei_x_free(&only_me);
  hx_free(x);
}

int main(void) {
  phc_log_set_level(PHC_LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_replication_options),
      cmocka_unit_test(test_replication_factor),
      cmocka_unit_test(test_replication_master_golden),
      cmocka_unit_test(test_replication_signal),
      cmocka_unit_test(test_replication_signal_migrated),
  };
  return cmocka_run_group_tests_name("replication", tests, NULL, NULL);
}
