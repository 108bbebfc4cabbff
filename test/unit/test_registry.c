/* test_registry.c - the hub registry: ProcessHub's merge/delete rules and
 * the query encoders. */
#include "phc_test.h"

#include "hub/registry.h"

static void enc_bin(ei_x_buff *x, const char *s) {
  ei_x_new(x);
  ei_x_encode_binary(x, s, (long)strlen(s));
}

static phc__reg_owner_t owner(const char *node, unsigned num) {
  erlang_pid p;
  memset(&p, 0, sizeof p);
  snprintf(p.node, sizeof p.node, "%s", node);
  p.num = num;
  p.creation = 1;
  return phc__reg_owner_make(node, &p);
}

typedef struct fx_s {
  phc__reg_t r;
  ei_x_buff spec, meta;
} fx_t;

static int setup(void **state) {
  fx_t *f = calloc(1, sizeof *f);
  phc__reg_init(&f->r);
  ei_x_new(&f->spec);
  ei_x_encode_map_header(&f->spec, 1);
  ei_x_encode_atom(&f->spec, "id");
  ei_x_encode_atom(&f->spec, "x");
  ei_x_new(&f->meta);
  ei_x_encode_map_header(&f->meta, 0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx_t *f = *state;
  phc__reg_clear(&f->r);
  ei_x_free(&f->spec);
  ei_x_free(&f->meta);
  free(f);
  return 0;
}

static void add(fx_t *f, const char *cid, const phc__reg_owner_t *o, int n) {
  ei_x_buff c;
  enc_bin(&c, cid);
  phc__reg_merge(&f->r, c.buff, c.index, f->spec.buff, f->spec.index,
                 f->meta.buff, f->meta.index, o, n);
  ei_x_free(&c);
}

/* An encoded term (no version byte) as text. */
static void assert_text(const ei_x_buff *x, const char *want) {
  char *s = NULL;
  int idx = 0;
  assert_true(ei_s_print_term(&s, x->buff, &idx) >= 0);
  assert_int_equal(idx, x->index); /* one term, nothing after it */
  assert_string_equal(s, want);
  free(s);
}

static phc__reg_row_t *find(fx_t *f, const char *cid) {
  ei_x_buff c;
  enc_bin(&c, cid);
  phc__reg_row_t *row = phc__reg_find(&f->r, c.buff, c.index);
  ei_x_free(&c);
  return row;
}

static void test_merge_is_keyword_merge(void **state) {
  fx_t *f = *state;
  phc__reg_owner_t a1 = owner("a@h", 1), b2 = owner("b@h", 2),
                   a3 = owner("a@h", 3);
  phc__reg_owner_t first[] = {a1, b2};
  add(f, "c1", first, 2);
  /* merge [{a, 3}] into [{a,1},{b,2}] -> [{b,2},{a,3}] */
  ei_x_buff c;
  enc_bin(&c, "c1");
  int diff = phc__reg_merge(&f->r, c.buff, c.index, f->spec.buff, f->spec.index,
                            f->meta.buff, f->meta.index, &a3, 1);
  ei_x_free(&c);
  assert_int_equal(diff, 1);
  phc__reg_row_t *row = find(f, "c1");
  assert_non_null(row);
  assert_int_equal(row->nowners, 2);
  assert_string_equal(row->owners[0].node, "b@h");
  assert_string_equal(row->owners[1].node, "a@h");
  assert_int_equal(row->owners[1].pid.num, 3);
}

static void test_merge_same_set_is_noop(void **state) {
  fx_t *f = *state;
  phc__reg_owner_t a1 = owner("a@h", 1);
  add(f, "c1", &a1, 1);
  ei_x_buff c;
  enc_bin(&c, "c1");
  assert_int_equal(phc__reg_merge(&f->r, c.buff, c.index, f->spec.buff,
                                  f->spec.index, f->meta.buff, f->meta.index,
                                  &a1, 1),
                   0);
  ei_x_free(&c);
  /* the row is as it was */
  phc__reg_row_t *row = find(f, "c1");
  assert_non_null(row);
  assert_int_equal(row->nowners, 1);
  assert_string_equal(row->owners[0].node, "a@h");
  assert_int_equal(row->owners[0].pid.num, 1);
  assert_int_equal(phc__reg_count(&f->r), 1);
}

static void test_remove_node_drops_empty_rows(void **state) {
  fx_t *f = *state;
  phc__reg_owner_t two[] = {owner("a@h", 1), owner("b@h", 2)};
  add(f, "c1", two, 2);
  ei_x_buff c;
  enc_bin(&c, "c1");
  assert_int_equal(phc__reg_remove_node(&f->r, c.buff, c.index, "a@h"), 1);
  phc__reg_row_t *row = find(f, "c1");
  assert_int_equal(row->nowners, 1);
  assert_string_equal(row->owners[0].node, "b@h");
  assert_int_equal(row->owners[0].pid.num, 2);
  phc__reg_remove_node(&f->r, c.buff, c.index, "b@h");
  assert_null(find(f, "c1"));
  assert_int_equal(phc__reg_remove_node(&f->r, c.buff, c.index, "b@h"), 0);
  ei_x_free(&c);
}

static void test_update_pid_unknown_row(void **state) {
  fx_t *f = *state;
  phc__reg_owner_t a9 = owner("a@h", 9);
  erlang_pid p9;
  phc__cpid_get(&a9.pid, &p9);
  ei_x_buff c;
  enc_bin(&c, "nope");
  assert_int_equal(phc__reg_update_pid(&f->r, c.buff, c.index, "a@h", &p9),
                   PHC_ENOPROC);
  ei_x_free(&c);
  assert_int_equal(phc__reg_count(&f->r), 0); /* no row made up */
  phc__reg_owner_t a1 = owner("a@h", 1);
  add(f, "c1", &a1, 1);
  enc_bin(&c, "c1");
  assert_int_equal(phc__reg_update_pid(&f->r, c.buff, c.index, "a@h", &p9), 0);
  ei_x_free(&c);
  phc__reg_row_t *row = find(f, "c1");
  assert_int_equal(row->nowners, 1);
  assert_string_equal(row->owners[0].node, "a@h");
  assert_int_equal(row->owners[0].pid.num, 9);
}

/* process_list(:global) of rows added out of order comes in child id
 * order: [{<<"a">>, [...]}, {<<"b">>, [...]}]. */
static void test_process_list_order_and_local(void **state) {
  fx_t *f = *state;
  phc__reg_owner_t a1 = owner("a@h", 1), b2 = owner("b@h", 2);
  add(f, "b", &b2, 1);
  add(f, "a", &a1, 1);
  ei_x_buff x;
  ei_x_new(&x);
  phc__reg_enc_process_list(&f->r, NULL, 25, &x);
  assert_text(&x, "[{#Bin<97>, [{a@h, <a@h.1.0>}]}, "
                  "{#Bin<98>, [{b@h, <b@h.2.0>}]}]");
  ei_x_free(&x);

  /* local to b@h: [{Cid, Pid}] of the rows b@h owns */
  ei_x_new(&x);
  phc__reg_enc_process_list(&f->r, "b@h", 25, &x);
  assert_text(&x, "[{#Bin<98>, <b@h.2.0>}]");
  ei_x_free(&x);
  ei_x_new(&x);
  phc__reg_enc_process_list(&f->r, "c@h", 25, &x);
  assert_text(&x, "[]");
  ei_x_free(&x);
}

/* Above 32 rows the order is the one Elixir's Enum walks a BEAM map in on
 * the peers' release: the 40 rows child1..child40 come as the OTP 25
 * golden vectors (test/fixtures/maporder/order_otp25.txt, set "iter_bin")
 * order them, in process_list and in registry_dump alike. */
static void test_map_order_above_32(void **state) {
  fx_t *f = *state;
  phc__reg_owner_t a1 = owner("a@h", 1);
  char name[32];
  for (int i = 1; i <= 40; i++) {
    snprintf(name, sizeof name, "child%d", i);
    add(f, name, &a1, 1);
  }
  size_t len;
  char *text = phc_test_read_file("../fixtures/maporder/order_otp25.txt", &len);
  assert_non_null(text);
  char want[40][16];
  int nw = 0;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    unsigned n, c;
    char hex[64];
    if (strncmp(line, "iter_bin ", 9) || sscanf(line + 9, "%63s", hex) != 1 ||
        sscanf(hex, "836D%8X", &n) != 1 || n >= sizeof want[0])
      continue;
    char s[16];
    for (unsigned j = 0; j < n; j++) {
      sscanf(hex + 12 + 2 * j, "%2X", &c);
      s[j] = (char)c;
    }
    s[n] = 0;
    if (atoi(s + 5) <= 40) snprintf(want[nw++], sizeof want[0], "%s", s);
  }
  free(text);
  assert_int_equal(nw, 40);
  ei_x_buff x;
  for (int q = 0; q < 2; q++) {
    ei_x_new(&x);
    int idx = 0, n, t;
    if (q == 0) {
      phc__reg_enc_process_list(&f->r, NULL, 25, &x);
      assert_int_equal(ei_decode_list_header(x.buff, &idx, &n), 0);
    } else {
      phc__reg_enc_dump(&f->r, 25, &x);
      assert_int_equal(ei_decode_map_header(x.buff, &idx, &n), 0);
    }
    assert_int_equal(n, 40);
    for (int i = 0; i < 40; i++) {
      char got[16];
      long gl;
      if (q == 0) assert_int_equal(ei_decode_tuple_header(x.buff, &idx, &t), 0);
      assert_int_equal(ei_decode_binary(x.buff, &idx, got, &gl), 0);
      got[gl] = 0;
      assert_string_equal(got, want[i]);
      assert_int_equal(ei_skip_term(x.buff, &idx), 0); /* the value */
    }
    ei_x_free(&x);
  }
}

static void test_tag_query(void **state) {
  fx_t *f = *state;
  ei_x_buff meta, c, tag;
  ei_x_new(&meta);
  ei_x_encode_map_header(&meta, 1);
  ei_x_encode_atom(&meta, "tag");
  ei_x_encode_binary(&meta, "T", 1);
  enc_bin(&c, "tagged");
  phc__reg_owner_t a1 = owner("a@h", 1);
  phc__reg_insert(&f->r, c.buff, c.index, f->spec.buff, f->spec.index,
                  meta.buff, meta.index, &a1, 1);
  add(f, "plain", &a1, 1);
  enc_bin(&tag, "T");
  ei_x_buff x;
  ei_x_new(&x);
  phc__reg_enc_tag_query(&f->r, tag.buff, tag.index, &x);
  /* [{Cid, [{Node, Pid}]}] of the rows whose metadata has tag => T */
  assert_text(&x, "[{#Bin<116,97,103,103,101,100>, [{a@h, <a@h.1.0>}]}]");
  ei_x_free(&x);
  ei_x_free(&tag);
  /* no row with another tag */
  enc_bin(&tag, "U");
  ei_x_new(&x);
  phc__reg_enc_tag_query(&f->r, tag.buff, tag.index, &x);
  assert_text(&x, "[]");
  ei_x_free(&x);
  ei_x_free(&tag);
  ei_x_free(&c);
  ei_x_free(&meta);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_merge_is_keyword_merge, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_merge_same_set_is_noop, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_remove_node_drops_empty_rows, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_update_pid_unknown_row, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_map_order_above_32, setup, teardown),
      cmocka_unit_test_setup_teardown(test_process_list_order_and_local, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_tag_query, setup, teardown),
  };
  return cmocka_run_group_tests_name("registry", tests, NULL, NULL);
}
