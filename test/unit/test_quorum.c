/* test_quorum.c - the partition tolerance quorums (StaticQuorum,
 * MajorityQuorum, DynamicQuorum): ProcessHub's quorum arithmetic, their
 * options, and partition mode on the hub test node (hub_fixture.h):
 * children stopped with their registry rows kept, starts refused,
 * is_partitioned? answered, partition mode left when the quorum returns,
 * DynamicQuorum's quorum log sent and taken as ProcessHub does. */
#include "hub_fixture.h"

#define PT "Elixir.ProcessHub.Strategy.PartitionTolerance."

static const phc__strat_base_t *part(const char *name) {
  char mod[128];
  snprintf(mod, sizeof mod, PT "%s", name);
  const phc__strat_base_t *t = phc__strat_find(PHC__STRAT_PARTITION, mod);
  assert_non_null(t);
  return t;
}

/* Set the hub's partition strategy to name with options text. */
static int set_part(hx_t *x, const char *name, const char *opts) {
  ei_x_buff o = hx_term(opts);
  int rc = phc__strategies_set(x->h, &x->h->strat, PHC__STRAT_PARTITION,
                               part(name), o.buff, 1);
  ei_x_free(&o);
  return rc;
}

static int check(const char *name, const char *opts) {
  ei_x_buff o = hx_term(opts);
  int rc = phc__strat_check(part(name), o.buff, 1);
  ei_x_free(&o);
  return rc;
}

/* ---- arithmetic ---------------------------------------------------------- */

static void test_static_arithmetic(void **state) {
  (void)state;
  assert_true(phc__quorum_static_present(3, 3));
  assert_true(phc__quorum_static_present(3, 4));
  assert_false(phc__quorum_static_present(3, 2));
  assert_true(phc__quorum_static_present(0, 1));
}

/* The moduledoc's progression: 1 -> 1, 2 -> 2, 3 -> 2, 5 -> 3. */
static void test_majority_arithmetic(void **state) {
  (void)state;
  static const int need[][2] = {{1, 1}, {2, 2}, {3, 2}, {4, 3}, {5, 3}};
  for (size_t i = 0; i < PHC__ARRAY_LEN(need); i++) {
    assert_true(phc__quorum_majority_has(need[i][1], need[i][0]));
    assert_false(phc__quorum_majority_has(need[i][1] - 1, need[i][0]));
  }
}

/* 50 %: of 10 nodes, losing 6 within the threshold is a partition, 5 not. */
static void test_dynamic_arithmetic(void **state) {
  (void)state;
  assert_true(phc__quorum_dynamic_failure(50, 4, 6));
  assert_false(phc__quorum_dynamic_failure(50, 5, 5));
  assert_false(phc__quorum_dynamic_failure(50, 1, 0));
  assert_true(phc__quorum_dynamic_failure(60, 1, 1));
  assert_false(phc__quorum_dynamic_failure(50, 0, 0));
  assert_true(phc__quorum_dynamic_failure(66.7, 2, 1));
  assert_false(phc__quorum_dynamic_failure(66.6, 2, 1));
}

/* ---- options ---------------------------------------------------------------
 */

static void test_options(void **state) {
  (void)state;
  assert_int_equal(check("StaticQuorum", "[{quorum_size, 3}]"), 0);
  assert_int_equal(
      check("StaticQuorum",
            "#{'__struct__' => x, quorum_size => 2, startup_confirm => true}"),
      0);
  assert_int_equal(check("StaticQuorum", "[]"), PHC_EINVAL); /* required */
  assert_int_equal(check("StaticQuorum", "[{quorum_size, three}]"), PHC_EINVAL);
  assert_int_equal(
      check("StaticQuorum", "[{quorum_size, 3}, {startup_confirm, yes}]"),
      PHC_EINVAL);
  assert_int_equal(check("StaticQuorum", "[{quorum_size, 3}, {quorom, 1}]"),
                   PHC_EINVAL);
  assert_int_equal(check("MajorityQuorum", "[]"), 0);
  assert_int_equal(check("MajorityQuorum", "#{'__struct__' => x, "
                                           "initial_cluster_size => 5, "
                                           "track_max_size => false}"),
                   0);
  assert_int_equal(check("MajorityQuorum", "[{initial_cluster_size, 0}]"),
                   PHC_EINVAL);
  assert_int_equal(check("MajorityQuorum", "[{track_max_size, 1}]"),
                   PHC_EINVAL);
  assert_int_equal(check("DynamicQuorum", "[{quorum_size, 50}]"), 0);
  assert_int_equal(
      check("DynamicQuorum", "[{quorum_size, 50.5}, {threshold_time, 10}]"), 0);
  assert_int_equal(check("DynamicQuorum", "[{threshold_time, 10}]"),
                   PHC_EINVAL);
  assert_int_equal(check("DynamicQuorum", "[{quorum_size, -1}]"), PHC_EINVAL);
}

/* ---- partition mode on the hub --------------------------------------------
 */

static int native_bool(hx_t *x, const char *mod, const char *fn,
                       const char *args) {
  phc_native_fn f = phc__native_find(&x->node, mod, fn, 1);
  assert_non_null(f);
  ei_x_buff a = hx_term(args), r;
  ei_x_new(&r);
  assert_int_equal(f(&x->node, NULL, a.buff, a.index, &r), 0);
  int t = phc__term_is_atom(r.buff, r.index, "true");
  ei_x_free(&a);
  ei_x_free(&r);
  return t;
}

static int partitioned(hx_t *x) {
  int p = native_bool(x, "Elixir.ProcessHub", "is_partitioned?", "[lab]");
  assert_int_equal(p, phc_hub_is_partitioned(x->h));
  return p;
}

/* The local pids of the registry. */
static int local_pids(hx_t *x, erlang_pid *out, int max) {
  phc__reg_row_t **rows;
  int n = phc__reg_sorted(&x->h->reg, &rows), k = 0;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < rows[i]->nowners && k < max; j++)
      if (!strcmp(rows[i]->owners[j].node, HX_NODE))
        phc__cpid_get(&rows[i]->owners[j].pid, &out[k++]);
  free(rows);
  return k;
}

static void test_static_startup_confirm_and_heal(void **state) {
  (void)state;
  hx_t *x = hx_new();
  hx_feed(x, "start_children_echo"); /* alone: both children run here */
  erlang_pid pids[8];
  int np = local_pids(x, pids, 8);
  assert_int_equal(np, 2);
  assert_false(partitioned(x));
  /* startup_confirm with 1 of 2 nodes: partition mode at once */
  assert_int_equal(set_part(x, "StaticQuorum",
                            "[{quorum_size, 2}, {startup_confirm, true}]"),
                   0);
  hx_drain(x);
  assert_true(partitioned(x));
  assert_int_equal(x->h->locked, 1);
  for (int i = 0; i < np; i++)
    assert_null(phc_proc_lookup(&x->node, &pids[i]));
  assert_int_equal(hx_rows(x), 2); /* rows stay, as on a BEAM member */
  assert_int_equal(hx_count(x, "children_unregistration_event"), 0);
  /* a start is refused: no result, nothing registered */
  hx_rec_clear(x);
  hx_feed(x, "start_children");
  assert_int_equal(hx_count(x, "collect_start_results"), 0);
  assert_int_equal(hx_rows(x), 2);
  /* ph1 joins: 2 nodes, the quorum is back */
  hx_feed(x, "cluster_join");
  assert_int_equal(x->h->nnodes, 2);
  assert_false(partitioned(x));
  assert_int_equal(x->h->locked, 0);
  assert_non_null(x->h->sup);
  /* ph1 goes down: partition mode again */
  ei_x_buff m = hx_term("{nodedown, 'ph1@127.0.0.1'}");
  hx_to_coord(x, m.buff, m.index);
  ei_x_free(&m);
  hx_drain(x);
  assert_true(partitioned(x));
  assert_null(x->h->sup);
  hx_free(x);
}

static void test_majority_tracks_and_resets(void **state) {
  (void)state;
  hx_t *x = hx_new();
  assert_int_equal(set_part(x, "MajorityQuorum", "[]"), 0);
  hx_feed(x, "cluster_join"); /* max seen 2 */
  assert_false(partitioned(x));
  ei_x_buff m = hx_term("{nodedown, 'ph1@127.0.0.1'}");
  hx_to_coord(x, m.buff, m.index);
  hx_drain(x);
  assert_true(partitioned(x)); /* 1 of 2 is no majority */
  /* reset_cluster_size(lab, 1), then a join and a leave: 1 of 2 again */
  const char *mq = PT "MajorityQuorum";
  phc_native_fn f = phc__native_find(&x->node, mq, "reset_cluster_size", 2);
  assert_non_null(f);
  ei_x_buff a = hx_term("[lab, 1]"), r;
  ei_x_new(&r);
  assert_int_equal(f(&x->node, NULL, a.buff, a.index, &r), 0);
  assert_true(phc__term_is_atom(r.buff, r.index, "ok"));
  ei_x_free(&a);
  ei_x_free(&r);
  a = hx_term("[nope, 1]");
  ei_x_new(&r);
  assert_int_equal(f(&x->node, NULL, a.buff, a.index, &r), PHC_ENOPROC);
  assert_true(hx_has(r.buff, 0, "noproc"));
  ei_x_free(&a);
  ei_x_free(&r);
  hx_feed(x, "cluster_join"); /* ph1 is back: it waits for its release */
  phc__hubs_peer_release(&x->node, HX_PH1, 25);
  hx_drain(x);
  assert_false(partitioned(x));
  hx_free(x);
  /* track_max_size false, initial 3: a second node is no majority */
  x = hx_new();
  assert_int_equal(set_part(x, "MajorityQuorum",
                            "[{initial_cluster_size, 3}, {track_max_size, "
                            "false}]"),
                   0);
  hx_feed(x, "cluster_join");
  hx_to_coord(x, m.buff, m.index);
  hx_drain(x);
  assert_true(partitioned(x));
  ei_x_free(&m);
  hx_free(x);
}

static void test_dynamic_log(void **state) {
  (void)state;
  hx_t *x = hx_new();
  assert_int_equal(set_part(x, "DynamicQuorum", "[{quorum_size, 60}]"), 0);
  hx_feed(x, "cluster_join");
  /* ph1 came up: the (empty) quorum log is cast to {lab, ph1} */
  hx_msg_t *c = hx_find(x, "exec_cast", 0);
  assert_non_null(c);
  assert_string_equal(c->node, HX_PH1);
  assert_true(hx_has(c->buf, 1,
                     "{'$gen_cast',{exec_cast,{'" PT
                     "DynamicQuorum',sync_quorum_log,[[]]}}}"));
  /* a longer log from a peer replaces ours: 1 connected, 3 down */
  ei_x_buff s = hx_term("{'$gen_cast',{exec_cast,{'" PT "DynamicQuorum',"
                        "sync_quorum_log,[[{'a@h',99999999999},"
                        "{'b@h',99999999999}]]}}}");
  hx_to_name(x, HX_HUB, s.buff, s.index);
  ei_x_free(&s);
  hx_drain(x);
  assert_false(partitioned(x));
  ei_x_buff m = hx_term("{nodedown, 'ph1@127.0.0.1'}");
  hx_to_coord(x, m.buff, m.index);
  ei_x_free(&m);
  hx_drain(x);
  assert_true(partitioned(x)); /* 100 - 3/4*100 = 25 < 60 */
  /* bad arguments: one line, nothing changes */
  s = hx_term("{'$gen_cast',{exec_cast,{'" PT "DynamicQuorum',"
              "sync_quorum_log,[[x,y,z,w,v]]}}}");
  hx_to_name(x, HX_HUB, s.buff, s.index);
  ei_x_free(&s);
  hx_drain(x);
  assert_true(partitioned(x));
  hx_free(x);
}

int main(void) {
  phc_log_set_level(PHC_LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_static_arithmetic),
      cmocka_unit_test(test_majority_arithmetic),
      cmocka_unit_test(test_dynamic_arithmetic),
      cmocka_unit_test(test_options),
      cmocka_unit_test(test_static_startup_confirm_and_heal),
      cmocka_unit_test(test_majority_tracks_and_resets),
      cmocka_unit_test(test_dynamic_log),
  };
  return cmocka_run_group_tests_name("quorum", tests, NULL, NULL);
}
