/* test_plugin.c - c_src/cli/plugin.c: loading plugins into a node that is
 * not started yet. The plugins are test/interop/plugin/test_plugin.c built
 * four ways (make test-plugins), found through $PHC_TEST_PLUGINS; the test
 * binary is linked with -rdynamic so they resolve phc_* in it. */
#include "phc_test.h"

#include "cli/plugin.c"

static char g_path[4096];

static const char *plugin(const char *name) {
  const char *dir = getenv("PHC_TEST_PLUGINS");
  snprintf(g_path, sizeof g_path, "%s/%s.so", dir ? dir : ".", name);
  return g_path;
}

static phc_node_t *new_node(uv_loop_t *loop) {
  phc_node_config_t cfg = {
      .name = "plug@127.0.0.1", .longnames = 1, .cookie = "c"};
  phc_node_t *n = NULL;
  assert_int_equal(phc_node_new(&n, loop, &cfg), 0);
  return n;
}

/* Load `name` into a fresh node; the status plugin_load returned. */
static int load_one(const char *name, int *registered) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  phc_node_t *n = new_node(&loop);
  cli_t cli = {.nload = 1};
  cli.load[0] = plugin(name);
  int st = phc__cli_plugins_load(&cli, n);
  *registered = phc_child_type_find(n, "Elixir.PhcTest.Plug") != NULL;
  phc_node_free(n);
  phc__cli_plugins_close();
  uv_loop_close(&loop);
  return st;
}

static void test_good_registers_type(void **state) {
  (void)state;
  int reg;
  assert_int_equal(load_one("good", &reg), 0);
  assert_true(reg);
}

static void test_bad_plugins_exit_2(void **state) {
  (void)state;
  int reg;
  assert_int_equal(load_one("noinit", &reg), 2);
  assert_false(reg);
  assert_int_equal(load_one("fail", &reg), 2);
  assert_int_equal(load_one("oldabi", &reg), 2);
  assert_false(reg);
  assert_int_equal(load_one("no_such_plugin", &reg), 2);
}

static void test_no_plugins(void **state) {
  (void)state;
  assert_int_equal(phc__cli_plugins_hub(NULL), 0);
  phc__cli_plugins_close();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_good_registers_type),
      cmocka_unit_test(test_bad_plugins_exit_2),
      cmocka_unit_test(test_no_plugins),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
