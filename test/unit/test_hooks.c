/* test_hooks.c - hook handler order (ProcessHub's sort-then-reverse),
 * unique ids, '_' wildcards and the alter chain. */
#include "phc_test.h"

#include "hub/hooks.h"

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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_order_matches_hook_manager),
      cmocka_unit_test(test_duplicate_ids_rejected),
      cmocka_unit_test(test_wildcard_top_level_only),
      cmocka_unit_test(test_alter_chain),
  };
  return cmocka_run_group_tests_name("hooks", tests, NULL, NULL);
}
