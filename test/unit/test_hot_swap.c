/* test_hot_swap.c - HotSwap (c_src/hub/strategy/hot_swap.c) and the
 * handover messages a C child type answers (c_src/proc/handover.c), on the
 * hub test node (hub_fixture.h): options, a C child asked for its state
 * and given one (with and without confirm_handover), the migration handler
 * from the start results to the termination and the confirmation, the
 * shutdown handover's exec_cast, and a received state reaching the child
 * started for it. Message shapes are those of "HotSwap migration" in the
 * protocol reference. */
#include "hub_fixture.h"
#include "term/enc.h"

#define HS "Elixir.ProcessHub.Strategy.Migration.HotSwap"

static const phc__strat_base_t *hs_table(void) {
  const phc__strat_base_t *t = phc__strat_find(PHC__STRAT_MIGRATION, HS);
  assert_non_null(t);
  return t;
}

static int check_opts(const char *text) {
  ei_x_buff o = hx_term(text);
  int rc = phc__strat_check(hs_table(), o.buff, 1);
  ei_x_free(&o);
  return rc;
}

static void test_hot_swap_options(void **state) {
  (void)state;
  assert_int_equal(check_opts("[]"), 0);
  assert_int_equal(check_opts("[{retention, 4000}, {handover, true}, "
                              "{confirm_handover, true}, "
                              "{handover_data_wait, 100}, "
                              "{child_migration_timeout, 2000}]"),
                   0);
  assert_int_equal(check_opts("#{'__struct__' => '" HS "', handover => false,"
                              " retention => 5000}"),
                   0);
  assert_int_equal(check_opts("[{retension, 1}]"), PHC_EINVAL);
  assert_int_equal(check_opts("[{handover, yes}]"), PHC_EINVAL);
  assert_int_equal(check_opts("[{retention, -1}]"), PHC_EINVAL);
}

/* The hub on HotSwap with opts. */
static void set_hot_swap(hx_t *x, const char *opts) {
  ei_x_buff o = hx_term(opts);
  assert_int_equal(phc__strategies_set(x->h, &x->h->strat, PHC__STRAT_MIGRATION,
                                       hs_table(), o.buff, 1),
                   0);
  ei_x_free(&o);
}

/* A phc_counter started here, holding value. */
static erlang_pid counter(hx_t *x, long value) {
  ei_x_buff a;
  phc__x_new_with_version(&a);
  phc__x_list_header(&a, 1);
  phc__x_long(&a, value);
  phc__x_empty_list(&a);
  erlang_pid pid;
  assert_int_equal(
      phc_gs_start(&x->node, "phc_counter", a.buff, a.index, NULL, 0, &pid), 0);
  ei_x_free(&a);
  return pid;
}

static long counter_value(hx_t *x, const erlang_pid *pid) {
  ei_x_buff s;
  long long v = -1;
  int i = 0;
  phc__x_new(&s);
  assert_int_equal(phc__gs_handover_get(&x->node, pid, &s), 0);
  assert_int_equal(ei_decode_longlong(s.buff, &i, &v), 0);
  ei_x_free(&s);
  return (long)v;
}

/* {process_hub, Tag, <<"c1">>, ...}: the header written, the rest is the
 * caller's. */
static void hub_msg(ei_x_buff *m, int arity, const char *tag) {
  phc__x_new_with_version(m);
  phc__x_tuple_header(m, arity);
  phc__x_atom(m, "process_hub");
  phc__x_atom(m, tag);
}

static void kv_pid(ei_x_buff *m, const char *key, const erlang_pid *pid) {
  phc__x_tuple_header(m, 2);
  phc__x_atom(m, key);
  if (pid)
    phc__x_pid(m, pid);
  else
    phc__x_atom(m, "nil");
}

static void send_to(hx_t *x, const erlang_pid *to, ei_x_buff *m) {
  erlang_pid from = hx_pid(HX_PH1, 133);
  phc__proc_in_send(&x->node, &from, to, m->buff, m->index);
  hx_drain(x);
  ei_x_free(m);
}

static void test_child_gives_state(void **state) {
  (void)state;
  hx_t *x = hx_new();
  erlang_pid c = counter(x, 5);
  erlang_pid recv = hx_pid(HX_PH3, 40), handler = hx_pid(HX_PH1, 41);
  ei_x_buff m;
  hub_msg(&m, 5, "send_handover_state");
  phc__x_pid(&m, &recv);
  phc__x_binary(&m, "c1", 2);
  phc__x_list_header(&m, 2);
  kv_pid(&m, "retention_receiver", &handler);
  kv_pid(&m, "confirmation_receiver", NULL);
  phc__x_empty_list(&m);
  hx_rec_clear(x);
  send_to(x, &c, &m);
  assert_int_equal(x->rec.n, 2);
  hx_msg_t *h = hx_find(x, "process_hub", 0);
  assert_string_equal(h->to.node, HX_PH3);
  assert_true(hx_has(h->buf, 1,
                     "{process_hub,handover,#Bin<99,49>,{5,[{retention_"
                     "receiver,<ph1@127.0.0.1.41.0>},{confirmation_"
                     "receiver,nil}]}}"));
  hx_msg_t *r = hx_find(x, "process_hub", 1);
  assert_string_equal(r->to.node, HX_PH1);
  assert_true(hx_has(r->buf, 1, "{process_hub,retention_handled,#Bin<99,49>}"));
  assert_int_equal(counter_value(x, &c), 5); /* it keeps running as it was */
  hx_free(x);
}

/* {process_hub, handover, <<"c1">>, {State, Opts}} with confirm_handover
 * and confirmation_receiver conf (NULL: the child itself). */
static void give_state(hx_t *x, const erlang_pid *c, long v,
                       const erlang_pid *handler, const erlang_pid *conf,
                       int confirm) {
  ei_x_buff m;
  hub_msg(&m, 4, "handover");
  phc__x_binary(&m, "c1", 2);
  phc__x_tuple_header(&m, 2);
  phc__x_long(&m, v);
  phc__x_list_header(&m, 3);
  kv_pid(&m, "retention_receiver", handler);
  kv_pid(&m, "confirmation_receiver", conf ? conf : c);
  phc__x_tuple_header(&m, 2);
  phc__x_atom(&m, "confirm_handover");
  phc__x_atom(&m, confirm ? "true" : "false");
  phc__x_empty_list(&m);
  send_to(x, c, &m);
}

static void test_child_takes_state(void **state) {
  (void)state;
  hx_t *x = hx_new();
  erlang_pid c = counter(x, 0);
  erlang_pid handler = hx_pid(HX_PH1, 41), other = hx_pid(HX_PH3, 42);
  hx_rec_clear(x);
  give_state(x, &c, 7, &handler, NULL, 0); /* no confirmation asked */
  assert_int_equal(counter_value(x, &c), 7);
  assert_int_equal(x->rec.n, 0);
  /* confirm_handover, confirmation_receiver the child itself (as
   * ProcessHub sends it): the handler is told */
  give_state(x, &c, 8, &handler, NULL, 1);
  assert_int_equal(counter_value(x, &c), 8);
  assert_int_equal(x->rec.n, 1);
  assert_string_equal(x->rec.m[0].to.node, HX_PH1);
  assert_true(hx_has(x->rec.m[0].buf, 1,
                     "{process_hub,handover_confirmed,#Bin<99,49>}"));
  /* a confirmation_receiver of its own (phc as the migration source) */
  hx_rec_clear(x);
  give_state(x, &c, 9, &handler, &other, 1);
  assert_int_equal(counter_value(x, &c), 9);
  assert_int_equal(x->rec.n, 1);
  assert_string_equal(x->rec.m[0].to.node, HX_PH3);
  /* a state the type refuses leaves the old one */
  ei_x_buff m;
  hub_msg(&m, 4, "handover");
  phc__x_binary(&m, "c1", 2);
  phc__x_tuple_header(&m, 2);
  phc__x_atom(&m, "not_an_integer");
  phc__x_empty_list(&m);
  send_to(x, &c, &m);
  assert_int_equal(counter_value(x, &c), 9);
  /* no {State, Opts} (ProcessHub sends nil for a child that gave none):
   * dropped, the child keeps running */
  hub_msg(&m, 4, "handover");
  phc__x_binary(&m, "c1", 2);
  phc__x_atom(&m, "nil");
  send_to(x, &c, &m);
  assert_int_equal(counter_value(x, &c), 9);
  hx_free(x);
}

/* {'$gen_cast', {start_children, [ChildData of a phc_counter id at
 * value], []}} to the hub, started here. */
static erlang_pid start_counter(hx_t *x, const char *id, long value) {
  char text[512];
  snprintf(text, sizeof text,
           "{'$gen_cast', {start_children, [#{child_id => <<\"%s\">>, "
           "child_spec => #{id => <<\"%s\">>, start => {phc_counter, "
           "start_link, [%ld]}}, hub_id => lab, metadata => #{}, nodes => "
           "['" HX_NODE "']}], []}}",
           id, id, value);
  ei_x_buff m = hx_term(text);
  hx_to_name(x, HX_HUB, m.buff, m.index);
  ei_x_free(&m);
  ei_x_buff cid = hx_bin_cid(id);
  phc__reg_row_t *row = hx_row(x, &cid);
  ei_x_free(&cid);
  assert_non_null(row);
  const phc__reg_owner_t *o = phc__reg_owner(row, HX_NODE);
  assert_non_null(o);
  erlang_pid op;
  phc__cpid_get(&o->pid, &op);
  return op;
}

/* The migration's handler: reply_to in the migration_add_event. */
static erlang_pid handler_of(hx_t *x) {
  hx_msg_t *m = hx_find(x, "migration_add_event", 0);
  assert_non_null(m);
  assert_string_equal(m->to.node, HX_PH3);
  assert_true(hx_has(m->buf, 1, "migration_add => true"));
  int idx = 1, arity, v;
  erlang_pid hp;
  assert_int_equal(ei_decode_tuple_header(m->buf, &idx, &arity), 0);
  assert_int_equal(ei_skip_term(m->buf, &idx), 0);
  assert_int_equal(ei_decode_tuple_header(m->buf, &idx, &arity), 0);
  assert_int_equal(ei_skip_term(m->buf, &idx), 0); /* the children */
  assert_int_equal(phc__term_kw_get(m->buf, idx, "reply_to", &v), 0);
  assert_int_equal(phc__term_pids(m->buf, &v, &hp, 1), 1);
  assert_true(phc__pid_is_local(&x->node, &hp));
  return hp;
}

static void migrate(int confirm) {
  hx_t *x = hx_new();
  hx_feed(x, "pg_sync_ph3");
  set_hot_swap(x, confirm ? "[{handover, true}, {confirm_handover, true}]"
                          : "[{handover, true}]");
  erlang_pid old = start_counter(x, "k1", 5);
  ei_x_buff cid = hx_bin_cid("k1");
  phc__reg_row_t *rows[1] = {hx_row(x, &cid)};
  hx_rec_clear(x);
  phc__strat_handle_migration(x->h, &x->h->strat, rows, 1, HX_PH3);
  hx_drain(x);
  erlang_pid hp = handler_of(x);
  assert_non_null(phc_proc_lookup(&x->node, &old)); /* not before the start */
  /* the target started it */
  erlang_pid np = hx_pid(HX_PH3, 77);
  ei_x_buff r;
  phc__x_new_with_version(&r);
  phc__x_tuple_header(&r, 3);
  phc__x_atom(&r, "collect_start_results");
  phc__x_list_header(&r, 1);
  phc__x_tuple_header(&r, 2);
  phc__x_binary(&r, "k1", 2);
  phc__x_tuple_header(&r, 2);
  phc__x_atom(&r, "ok");
  phc__x_pid(&r, &np);
  phc__x_empty_list(&r);
  phc__x_atom(&r, HX_PH3);
  hx_rec_clear(x);
  send_to(x, &hp, &r);
  /* the old copy handed its state to the new one, then was stopped */
  hx_msg_t *h = hx_find(x, "process_hub", 0);
  assert_non_null(h);
  assert_true(phc_pid_eq(&h->to, &np));
  assert_true(hx_has(h->buf, 1, "{process_hub,handover,#Bin<107,49>,{5,"));
  assert_true(
      hx_has(h->buf, 1,
             confirm ? "{confirm_handover,true}" : "{confirm_handover,false}"));
  assert_null(phc_proc_lookup(&x->node, &old));
  assert_null(hx_row(x, &cid));
  assert_non_null(hx_find(x, "children_unregistration_event", 0));
  if (confirm) { /* the handler waits for the new child's confirmation */
    assert_non_null(phc_proc_lookup(&x->node, &hp));
    ei_x_buff c;
    hub_msg(&c, 3, "handover_confirmed");
    phc__x_binary(&c, "k1", 2);
    send_to(x, &hp, &c);
  }
  assert_null(phc_proc_lookup(&x->node, &hp));
  ei_x_free(&cid);
  hx_free(x);
}

static void test_migration(void **state) {
  (void)state;
  migrate(0);
}

static void test_migration_confirm(void **state) {
  (void)state;
  migrate(1);
}

/* handover: false (the default): ProcessHub counts no child as migrated,
 * so the old copy keeps running. */
static void test_migration_without_handover(void **state) {
  (void)state;
  hx_t *x = hx_new();
  hx_feed(x, "pg_sync_ph3");
  set_hot_swap(x, "[]");
  erlang_pid old = start_counter(x, "k1", 5);
  ei_x_buff cid = hx_bin_cid("k1");
  phc__reg_row_t *rows[1] = {hx_row(x, &cid)};
  phc__strat_handle_migration(x->h, &x->h->strat, rows, 1, HX_PH3);
  hx_drain(x);
  erlang_pid hp = handler_of(x);
  ei_x_buff r = hx_term("{collect_start_results, [{<<\"k1\">>, {error, "
                        "oops}}], 'ph3@127.0.0.1'}");
  send_to(x, &hp, &r);
  assert_null(phc_proc_lookup(&x->node, &hp));
  assert_non_null(phc_proc_lookup(&x->node, &old));
  assert_non_null(hx_row(x, &cid));
  ei_x_free(&cid);
  hx_free(x);
}

/* Run the loop (timers included) for about ms milliseconds. */
static void run_for(hx_t *x, unsigned ms) {
  uint64_t end = uv_now(&x->loop) + ms;
  while (uv_now(&x->loop) < end) {
    uv_run(&x->loop, UV_RUN_NOWAIT);
    hx_drain(x);
    uv_sleep(1);
    uv_update_time(&x->loop);
  }
}

/* No start results within child_migration_timeout: nothing migrated, the
 * old copy stays, the handler ends. */
static void test_migration_timeout(void **state) {
  (void)state;
  hx_t *x = hx_new();
  hx_feed(x, "pg_sync_ph3");
  set_hot_swap(x, "[{handover, true}, {child_migration_timeout, 20}]");
  erlang_pid old = start_counter(x, "k1", 5);
  ei_x_buff cid = hx_bin_cid("k1");
  phc__reg_row_t *rows[1] = {hx_row(x, &cid)};
  phc__strat_handle_migration(x->h, &x->h->strat, rows, 1, HX_PH3);
  hx_drain(x);
  erlang_pid hp = handler_of(x);
  assert_non_null(phc_proc_lookup(&x->node, &hp));
  run_for(x, 200);
  assert_null(phc_proc_lookup(&x->node, &hp));
  assert_non_null(phc_proc_lookup(&x->node, &old));
  assert_non_null(hx_row(x, &cid));
  ei_x_free(&cid);
  hx_free(x);
}

static void test_shutdown_handover(void **state) {
  (void)state;
  hx_t *x = hx_new();
  set_hot_swap(x, "[{handover, true}]");
  erlang_pid k = start_counter(x, "k1", 5);
  (void)k;
  phc__hub_join_node(x->h, HX_PH3);
  hx_drain(x);
  hx_rec_clear(x);
  phc__strategies_node_leave(x->h, &x->h->strat, HX_NODE);
  hx_drain(x);
  assert_int_equal(hx_count(x, "exec_cast"), 1);
  hx_msg_t *m = hx_find(x, "exec_cast", 0);
  assert_string_equal(m->node, HX_PH3);
  assert_string_equal(m->name, HX_HUB);
  assert_true(hx_has(m->buf, 1,
                     "{exec_cast,{'" HS "',handle_storage_update,"
                     "[[{#Bin<107,49>,{5,[]}}]]}}"));
  hx_free(x);
}

/* A state received by exec_cast reaches the child started for it. */
static void test_received_state(void **state) {
  (void)state;
  hx_t *x = hx_new();
  set_hot_swap(x, "[{handover, true}]");
  ei_x_buff m =
      hx_term("{'$gen_cast', {exec_cast, {'" HS "', handle_storage_update, "
              "[[{<<\"k2\">>, {9, []}}]]}}}");
  hx_to_name(x, HX_HUB, m.buff, m.index);
  ei_x_free(&m);
  erlang_pid k = start_counter(x, "k2", 0);
  hx_drain(x);
  assert_int_equal(counter_value(x, &k), 9);
  hx_free(x);
}

int main(void) {
  phc_log_set_level(PHC_LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hot_swap_options),
      cmocka_unit_test(test_child_gives_state),
      cmocka_unit_test(test_child_takes_state),
      cmocka_unit_test(test_migration),
      cmocka_unit_test(test_migration_confirm),
      cmocka_unit_test(test_migration_without_handover),
      cmocka_unit_test(test_migration_timeout),
      cmocka_unit_test(test_shutdown_handover),
      cmocka_unit_test(test_received_state),
  };
  return cmocka_run_group_tests_name("hot_swap", tests, NULL, NULL);
}
