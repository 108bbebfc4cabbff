/* test_hooks.c - hook handler order (ProcessHub's sort-then-reverse),
 * unique ids, '_' wildcards, the alter chain, and ProcessHub's structs as
 * hook data (StartHandle, ClusterUpdate.NodeDown, Hub) on a hub fixture. */
#include "phc_test.h"

#include "hub/hooks.h"
#include "hub_fixture.h"

static char calls[256];

static int record(void *arg, const char *key, const char *term, int len,
                  ei_x_buff *out) {
  (void)key;
  (void)term;
  (void)len;
  (void)out;
  strcat(calls, (const char *)arg);
  return 0;
}

static phc_hook_handler_t h(const char *id, int p) {
  phc_hook_handler_t x = {
      .id = id, .priority = p, .fn = record, .arg = (void *)id};
  return x;
}

static void dispatch(phc__hooks_t *hs) {
  ei_x_buff d;
  ei_x_new_with_version(&d);
  ei_x_encode_atom(&d, "data");
  calls[0] = 0;
  phc__hooks_dispatch(hs, "post_cluster_join_hook", d.buff, d.index);
  ei_x_free(&d);
}

/* Elixir: ([new] ++ existing) |> Enum.sort_by(& &1.p) |> Enum.reverse() */
static void test_order_matches_hook_manager(void **state) {
  (void)state;
  phc__hooks_t *hs = phc__hooks_new();
  phc_hook_handler_t first[] = {h("a", 0), h("b", 5)};
  assert_int_equal(phc__hooks_register(hs, "post_cluster_join_hook", first, 2),
                   0);
  phc_hook_handler_t second[] = {h("c", 0), h("d", 5)};
  assert_int_equal(phc__hooks_register(hs, "post_cluster_join_hook", second, 2),
                   0);
  /* [c0,d5] ++ [b5,a0] -> sorted asc stable [c0,a0,d5,b5] -> reversed */
  dispatch(hs);
  assert_string_equal(calls, "bdac");
  phc__hooks_cancel(hs, "post_cluster_join_hook", "d");
  dispatch(hs);
  assert_string_equal(calls, "bac");
  phc__hooks_free(hs);
}

static void test_duplicate_ids_rejected(void **state) {
  (void)state;
  phc__hooks_t *hs = phc__hooks_new();
  phc_hook_handler_t one[] = {h("a", 0)};
  assert_int_equal(phc__hooks_register(hs, "k", one, 1), 0);
  assert_int_equal(phc__hooks_register(hs, "k", one, 1), PHC_EEXIST);
  phc_hook_handler_t two[] = {h("x", 0), h("x", 1)};
  assert_int_equal(phc__hooks_register(hs, "other", two, 2), PHC_EEXIST);
  const char *ids[4];
  assert_int_equal(phc__hooks_ids(hs, "other", ids, 4), 0);
  assert_int_equal(phc__hooks_ids(hs, "k", ids, 4), 1);
  assert_string_equal(ids[0], "a");
  /* the refused registration left "k" as it was: "a" runs once */
  ei_x_buff d;
  ei_x_new_with_version(&d);
  ei_x_encode_atom(&d, "data");
  calls[0] = 0;
  phc__hooks_dispatch(hs, "k", d.buff, d.index);
  assert_string_equal(calls, "a");
  ei_x_free(&d);
  phc__hooks_free(hs);
}

static char seen[256];

static int capture(void *arg, const char *key, const char *term, int len,
                   ei_x_buff *out) {
  (void)arg;
  (void)key;
  (void)out;
  char *s = NULL;
  int idx = 0;
  ei_s_print_term(&s, term + 1, &idx);
  (void)len;
  snprintf(seen, sizeof seen, "%s", s);
  free(s);
  return 0;
}

static void test_wildcard_top_level_only(void **state) {
  (void)state;
  phc__hooks_t *hs = phc__hooks_new();
  ei_x_buff t;
  ei_x_new_with_version(&t);
  ei_x_encode_list_header(&t, 3);
  ei_x_encode_atom(&t, "x");
  ei_x_encode_atom(&t, "_");
  ei_x_encode_tuple_header(&t, 1);
  ei_x_encode_atom(&t, "_");
  ei_x_encode_empty_list(&t);
  phc_hook_handler_t one = {
      .id = "w", .fn = capture, .tmpl = t.buff, .tmpl_len = t.index};
  assert_int_equal(phc__hooks_register(hs, "k", &one, 1), 0);
  ei_x_buff d;
  ei_x_new_with_version(&d);
  ei_x_encode_atom(&d, "data");
  phc__hooks_dispatch(hs, "k", d.buff, d.index);
  assert_string_equal(seen, "[x, data, {'_'}]");
  ei_x_free(&d);
  ei_x_free(&t);
  phc__hooks_free(hs);
}

static int add_one(void *arg, const char *key, const char *term, int len,
                   ei_x_buff *out) {
  (void)arg;
  (void)key;
  (void)len;
  long v;
  int idx = 1;
  if (ei_decode_long(term, &idx, &v) < 0) return PHC_EINVAL;
  ei_x_encode_long(out, v + 1);
  return 0;
}

static void test_alter_chain(void **state) {
  (void)state;
  phc__hooks_t *hs = phc__hooks_new();
  phc_hook_handler_t two[] = {{.id = "a", .fn = add_one},
                              {.id = "b", .fn = add_one}};
  phc__hooks_register(hs, "child_data_alter_hook", two, 2);
  ei_x_buff d, out;
  ei_x_new_with_version(&d);
  ei_x_encode_long(&d, 40);
  phc__hooks_alter(hs, "child_data_alter_hook", d.buff, d.index, &out);
  long v;
  int idx = 1;
  assert_int_equal(ei_decode_long(out.buff, &idx, &v), 0);
  assert_int_equal(v, 42);
  ei_x_free(&d);
  ei_x_free(&out);
  phc__hooks_free(hs);
}

/* The term printed, for substring checks. */
static char *printed(const ei_x_buff *x) {
  char *s = NULL;
  int i = 1;
  assert_true(ei_s_print_term(&s, x->buff, &i) >= 0);
  assert_int_equal(i, x->index);
  return s;
}

static void assert_has(const char *s, const char *part) {
  if (!strstr(s, part)) fail_msg("%s not in %s", part, s);
}

/* The keys and values ProcessHub 0.4.1's structs have (shapes captured from
 * a BEAM member's hooks). */
static void test_struct_data(void **state) {
  (void)state;
  hx_t *x = hx_new();
  ei_x_buff d, c;
  ei_x_new(&c); /* children [] and start_opts [] */
  ei_x_encode_empty_list(&c);
  ei_x_encode_empty_list(&c);
  ei_x_new_with_version(&d);
  phc__hooks_x_start_handle(x->h, c.buff, 0, 1, &d);
  char *s = printed(&d);
  assert_has(s, "'Elixir.ProcessHub.Handler.ChildrenAdd.StartHandle'");
  const char *keys[] = {"children",
                        "hub",
                        "start_opts",
                        "process_data",
                        "dist_strategy",
                        "redun_strategy",
                        "migr_strategy",
                        "sync_strategy",
                        "'Elixir.ProcessHub.Hub'",
                        "hub_id",
                        "procs",
                        "storage",
                        "'hub.lab.event_queue'",
                        "'hub.lab.system_registry'",
                        "dist_sup",
                        "janitor",
                        "worker_queue",
                        "initializer",
                        "misc",
                        "#Ref<",
                        "'Elixir.ProcessHub.Strategy.Synchronization.PubSub'",
                        "sync_interval"};
  for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
    assert_has(s, keys[i]);
  free(s);
  ei_x_free(&d);
  ei_x_new_with_version(&d);
  ei_x_buff cids;
  ei_x_new(&cids);
  ei_x_encode_list_header(&cids, 1);
  ei_x_encode_binary(&cids, "c1", 2);
  ei_x_encode_empty_list(&cids);
  phc__hooks_x_node_down(x->h, HX_PH1, cids.buff, cids.index, &d);
  s = printed(&d);
  assert_has(s, "'Elixir.ProcessHub.Handler.ClusterUpdate.NodeDown'");
  assert_has(s, "removed_node => 'ph1@127.0.0.1'");
  assert_has(s, "rem_node_cids => [#Bin<99,49>]");
  assert_has(s, "hub_nodes => ['ph2@127.0.0.1']");
  assert_has(s, "partition_strat");
  free(s);
  ei_x_free(&d);
  ei_x_free(&c);
  ei_x_free(&cids);
  hx_free(x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_order_matches_hook_manager),
      cmocka_unit_test(test_duplicate_ids_rejected),
      cmocka_unit_test(test_wildcard_top_level_only),
      cmocka_unit_test(test_alter_chain),
      cmocka_unit_test(test_struct_data),
  };
  return cmocka_run_group_tests_name("hooks", tests, NULL, NULL);
}
