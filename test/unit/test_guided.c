/* test_guided.c - ProcessHub.Strategy.Distribution.Guided
 * (c_src/hub/strategy/guided.c): children_init's checks in ProcessHub's
 * order with its reasons, the mapping cache filled by children_init and by
 * the starts a member receives (pre_start), belongs_to from it, on the hub
 * test node (hub_fixture.h). */
#include "hub_fixture.h"

#define GUIDED "Elixir.ProcessHub.Strategy.Distribution.Guided"

static hx_t *guided_hub(void) {
  hx_t *x = hx_new();
  const phc__strat_base_t *t = phc__strat_find(PHC__STRAT_DISTRIBUTION, GUIDED);
  assert_non_null(t);
  assert_int_equal(phc__strategies_set(x->h, &x->h->strat,
                                       PHC__STRAT_DISTRIBUTION, t, NULL, 0),
                   0);
  return x;
}

/* children_init on [#{id => <<"g1">>}, #{id => <<"g2">>}] with opts. */
static const char *init_reason(hx_t *x, const char *opts) {
  char text[512];
  snprintf(text, sizeof text,
           "{[#{id => <<\"g1\">>}, #{id => <<\"g2\">>}], %s}", opts);
  ei_x_buff b = hx_term(text);
  int i = 1, arity;
  assert_int_equal(ei_decode_tuple_header(b.buff, &i, &arity), 0);
  int children = i;
  ei_skip_term(b.buff, &i);
  int rc = phc__strat_children_init(x->h, &x->h->strat, b.buff, children, i);
  ei_x_free(&b);
  return rc ? phc__strat_init_error(x->h, &x->h->strat) : NULL;
}

static int owners(hx_t *x, const char *id, const char **out) {
  ei_x_buff cid = hx_bin_cid(id);
  int n = phc__strat_belongs_to(x->h, &x->h->strat, cid.buff, cid.index, out,
                                PHC__HUB_MAX_NODES);
  ei_x_free(&cid);
  return n;
}

static void test_guided_children_init(void **state) {
  (void)state;
  hx_t *x = guided_hub();
  const char *o[PHC__HUB_MAX_NODES];
  assert_string_equal(init_reason(x, "[]"), "missing_child_mapping");
  assert_string_equal(init_reason(x, "[{child_mapping, [1]}]"),
                      "invalid_child_mapping");
  assert_string_equal(
      init_reason(x, "[{child_mapping, #{<<\"g1\">> => ['ph1@127.0.0.1']}}]"),
      "child_mapping_mismatch");
  assert_string_equal(
      init_reason(x, "[{child_mapping, #{<<\"g1\">> => ['ph1@127.0.0.1'], "
                     "<<\"g2\">> => ['ph1@127.0.0.1', 'ph3@127.0.0.1']}}]"),
      "child_replication_mismatch");
  assert_int_equal(owners(x, "g1", o), 0); /* nothing cached by refusals */
  assert_null(init_reason(x, "[{child_mapping, #{<<\"g1\">> => "
                             "['ph1@127.0.0.1'], <<\"g2\">> => "
                             "['ph2@127.0.0.1']}}]"));
  assert_int_equal(owners(x, "g1", o), 1);
  assert_string_equal(o[0], HX_PH1);
  assert_int_equal(owners(x, "g2", o), 1);
  assert_string_equal(o[0], "ph2@127.0.0.1");
  assert_int_equal(owners(x, "g3", o), 0);
  hx_free(x);
}

static void test_guided_pre_start_caches(void **state) {
  (void)state;
  hx_t *x = guided_hub();
  const char *o[PHC__HUB_MAX_NODES];
  ei_x_buff opts = hx_term("[{child_mapping, #{<<\"g7\">> => "
                           "['ph3@127.0.0.1']}}, {check_existing, true}]");
  phc__strat_pre_start(x->h, &x->h->strat, opts.buff, 1);
  ei_x_free(&opts);
  assert_int_equal(owners(x, "g7", o), 1);
  assert_string_equal(o[0], HX_PH3);
  /* a later mapping replaces it; a malformed one changes nothing else */
  opts = hx_term("[{child_mapping, #{<<\"g7\">> => ['ph1@127.0.0.1']}}]");
  phc__strat_pre_start(x->h, &x->h->strat, opts.buff, 1);
  ei_x_free(&opts);
  opts = hx_term("[{child_mapping, #{<<\"g8\">> => [1, 2]}}]");
  phc__strat_pre_start(x->h, &x->h->strat, opts.buff, 1);
  ei_x_free(&opts);
  assert_int_equal(owners(x, "g7", o), 1);
  assert_string_equal(o[0], HX_PH1);
  hx_free(x);
}

int main(void) {
  phc_log_set_level(PHC_LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_guided_children_init),
      cmocka_unit_test(test_guided_pre_start_caches),
  };
  return cmocka_run_group_tests_name("guided", tests, NULL, NULL);
}
