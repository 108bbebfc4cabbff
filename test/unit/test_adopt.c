/* test_adopt.c - strategies taken from the hub (c_src/hub/adopt.c) and
 * the window while a peer is asked for them, on the hub test node
 * (hub_fixture.h): the join that starts the round and every join, cast,
 * event and nodedown during it wait, and run in arrival order when the
 * round ends, under the adopted strategies or phc's own; calls are
 * answered at once; a peer that does not answer with strategies is
 * admitted without being asked again, and the next one is asked. */
#include "hub_fixture.h"
#include "term/enc.h"

#define REP "Elixir.ProcessHub.Strategy.Redundancy.Replication"

/* A hub whose peers have not told it their strategies. */
static hx_t *ad_new(void) {
  hx_t *x = hx_new();
  x->h->strat_adopted = 0;
  return x;
}

static void ad_join(hx_t *x, const char *node) {
  char text[128];
  snprintf(text, sizeof text, "{cluster_join_event, '%s'}", node);
  ei_x_buff m = hx_term(text);
  hx_to_coord(x, m.buff, m.index);
  ei_x_free(&m);
}

/* The k-th '$gen_call' recorded to name on node: 0 with its From. */
static int ad_call(hx_t *x, const char *node, const char *name, int k,
                   erlang_pid *pid, erlang_ref *ref) {
  for (int i = 0; i < x->rec.n; i++) {
    hx_msg_t *m = &x->rec.m[i];
    int idx = 1, arity;
    char tag[PHC__ATOM_MAX];
    if (m->op != HX_SEND_NAME || strcmp(m->node, node) ||
        strcmp(m->name, name) || ei_decode_tuple_header(m->buf, &idx, &arity) ||
        ei_decode_atom(m->buf, &idx, tag) || strcmp(tag, "$gen_call") ||
        ei_decode_tuple_header(m->buf, &idx, &arity) ||
        ei_decode_pid(m->buf, &idx, pid) || ei_decode_ref(m->buf, &idx, ref))
      continue;
    if (k-- == 0) return 0;
  }
  return -1;
}

static int ad_calls(hx_t *x, const char *node, const char *name) {
  erlang_pid p;
  erlang_ref r;
  int k = 0;
  while (ad_call(x, node, name, k, &p, &r) == 0)
    k++;
  return k;
}

/* {Ref, Reply} from node to the asking process. */
static void ad_reply(hx_t *x, const char *node, const erlang_pid *to,
                     const erlang_ref *ref, const char *reply) {
  ei_x_buff m;
  erlang_pid from = hx_pid(node, 200);
  phc__x_new_with_version(&m);
  phc__x_tuple_header(&m, 2);
  phc__x_ref(&m, ref);
  hx_append(&m, reply);
  phc__proc_in_send(&x->node, &from, to, m.buff, m.index);
  ei_x_free(&m);
  hx_drain(x);
}

/* node answers both calls (the last of each): get_state, then ets:select with
 * strategies. */
static void ad_answer(hx_t *x, const char *node, const char *strategies) {
  erlang_pid pid;
  erlang_ref ref;
  assert_int_equal(
      ad_call(x, node, HX_HUB, ad_calls(x, node, HX_HUB) - 1, &pid, &ref), 0);
  ad_reply(x, node, &pid, &ref,
           "#{'__struct__' => 'Elixir.ProcessHub.Hub', "
           "storage => #{misc => 42}}");
  assert_int_equal(
      ad_call(x, node, "rex", ad_calls(x, node, "rex") - 1, &pid, &ref), 0);
  ad_reply(x, node, &pid, &ref, strategies);
}

static void ad_fail(hx_t *x, const char *node) {
  erlang_pid pid;
  erlang_ref ref;
  assert_int_equal(
      ad_call(x, node, HX_HUB, ad_calls(x, node, HX_HUB) - 1, &pid, &ref), 0);
  ad_reply(x, node, &pid, &ref, "{error, unknown_call}");
}

#define AD_REP2                                                                \
  "[{redundancy_strategy, #{'__struct__' => '" REP "', "                       \
  "replication_factor => 2, replication_model => active_active, "              \
  "redundancy_signal => none}}]"

/* The child ids running here, in registry order, as one buffer. */
static ei_x_buff ad_local(hx_t *x) {
  phc__reg_row_t **rows;
  ei_x_buff b;
  int n = phc__reg_sorted(&x->h->reg, &rows);
  phc__x_new(&b);
  for (int i = 0; i < n; i++)
    if (phc__reg_owner(rows[i], HX_NODE))
      phc__x_append_buf(&b, rows[i]->cid, rows[i]->cid_len);
  free(rows);
  return b;
}

/* ph1 and ph3 join, a start arrives, all while ph1 is asked: nothing
 * runs until ph1 answers Replication rf 2; then both join and the start
 * places its children as on a hub that knew rf 2 and both peers. */
static void test_window_waits(void **state) {
  (void)state;
  hx_t *x = ad_new();
  ad_join(x, HX_PH1);
  assert_true(x->h->strat_asking);
  assert_false(phc__hub_has_node(x->h, HX_PH1));
  assert_int_equal(ad_calls(x, HX_PH1, HX_HUB), 1);
  ad_join(x, HX_PH3);
  hx_feed(x, "start_children_echo");
  assert_false(phc__hub_has_node(x->h, HX_PH3));
  assert_int_equal(ad_calls(x, HX_PH3, HX_HUB), 0); /* one round at a time */
  assert_int_equal(x->h->nheld, 3);
  assert_int_equal(hx_rows(x), 0);
  ad_answer(x, HX_PH1, AD_REP2);
  assert_true(x->h->strat_adopted);
  assert_false(x->h->strat_asking);
  assert_int_equal(x->h->nheld, 0);
  assert_true(phc__hub_has_node(x->h, HX_PH1));
  assert_true(phc__hub_has_node(x->h, HX_PH3));
  assert_int_equal(phc__strat_replication_factor(x->h, &x->h->strat), 2);
  assert_int_equal(ad_calls(x, HX_PH3, HX_HUB), 0); /* adopted: never again */
  /* the same on a hub that knew: rf 2 and both peers before the start */
  hx_t *y = hx_new();
  ei_x_buff o = hx_term("[{replication_factor, 2}]");
  assert_int_equal(phc__strategies_set(
                       y->h, &y->h->strat, PHC__STRAT_REDUNDANCY,
                       phc__strat_find(PHC__STRAT_REDUNDANCY, REP), o.buff, 1),
                   0);
  ei_x_free(&o);
  ad_join(y, HX_PH1);
  ad_join(y, HX_PH3);
  hx_feed(y, "start_children_echo");
  ei_x_buff a = ad_local(x), b = ad_local(y);
  assert_true(a.index > 0);
  assert_int_equal(a.index, b.index);
  assert_memory_equal(a.buff, b.buff, (size_t)a.index);
  ei_x_free(&a);
  ei_x_free(&b);
  hx_free(y);
  hx_free(x);
}

/* A call in the window is answered at once. */
static void test_window_answers_calls(void **state) {
  (void)state;
  hx_t *x = ad_new();
  ad_join(x, HX_PH1);
  hx_rec_clear(x);
  ei_x_buff m;
  erlang_pid from = hx_pid(HX_PH1, 133);
  erlang_ref ref;
  phc_make_ref(&x->node, &ref);
  phc__x_new_with_version(&m);
  phc__x_tuple_header(&m, 3);
  phc__x_atom(&m, "$gen_call");
  phc__x_tuple_header(&m, 2);
  phc__x_epid(&m, &from);
  phc__x_ref(&m, &ref);
  phc__x_atom(&m, "ping");
  hx_to_coord(x, m.buff, m.index);
  ei_x_free(&m);
  assert_int_equal(x->rec.n, 1);
  assert_true(hx_has(x->rec.m[0].buf, 1, "bong"));
  assert_int_equal(x->h->nheld, 1); /* only ph1's join */
  hx_free(x);                       /* the hub leaves with it held */
}

/* ph1 does not answer with strategies (not a ProcessHub coordinator):
 * it is admitted without being asked again, under phc's strategies; ph3,
 * held behind it, is asked next; a nodedown held in the window runs after
 * the join it followed. */
static void test_window_no_answer(void **state) {
  (void)state;
  hx_t *x = ad_new();
  ad_join(x, HX_PH1);
  ad_join(x, HX_PH3);
  ei_x_buff down = hx_term("{nodedown, 'ph1@127.0.0.1'}");
  hx_to_coord(x, down.buff, down.index);
  assert_int_equal(x->h->nheld, 3);
  ad_fail(x, HX_PH1);
  assert_false(x->h->strat_adopted);
  assert_int_equal(ad_calls(x, HX_PH1, HX_HUB), 1);
  assert_int_equal(ad_calls(x, HX_PH3, HX_HUB), 1);
  assert_true(x->h->strat_asking);
  assert_false(phc__hub_has_node(x->h, HX_PH3));
  assert_int_equal(x->h->nheld, 2); /* ph3's join, then the nodedown */
  ad_fail(x, HX_PH3);
  assert_int_equal(x->h->nheld, 0);
  assert_false(phc__hub_has_node(x->h, HX_PH1)); /* joined, then went down */
  assert_true(phc__hub_has_node(x->h, HX_PH3));
  /* ph1 again: it was not asked last, so it is asked */
  phc__hubs_peer_release(&x->node, HX_PH1, 25);
  ad_join(x, HX_PH1);
  assert_int_equal(ad_calls(x, HX_PH1, HX_HUB), 2);
  ad_answer(x, HX_PH1, "[]"); /* no strategies: nothing adopted */
  assert_false(x->h->strat_adopted);
  assert_true(phc__hub_has_node(x->h, HX_PH1));
  ei_x_free(&down);
  hx_free(x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_window_waits),
      cmocka_unit_test(test_window_answers_calls),
      cmocka_unit_test(test_window_no_answer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
