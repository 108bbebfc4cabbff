/* test_dsup.c - DistributedSupervisor membership: the ring against
 * libring's HashRing (test/fixtures/dsup/ring.tsv: nodes in the order
 * added, the key as term_to_binary hex, HashRing.key_to_node), and the
 * supervisor's answers on a node fixture. */
#include "phc_test.h"

#include "common.h"
#include "dsup/ring.h"
#include "term/enc.h"

#define FIX "../fixtures/dsup/"

static int unhex(const char *h, char *out, int max) {
  int n = 0;
  for (; h[0] && h[1] && n < max; h += 2) {
    unsigned v;
    if (sscanf(h, "%2x", &v) != 1) return -1;
    out[n++] = (char)v;
  }
  return n;
}

static phc__dring_t *ring_of(char *csv) {
  phc__dring_t *r = phc__dring_new(PHC__ETF_OTP25);
  for (char *save, *s = strtok_r(csv, ",", &save); s;
       s = strtok_r(NULL, ",", &save))
    assert_int_equal(phc__dring_add(r, s), 0);
  return r;
}

static void test_ring_vectors(void **st) {
  (void)st;
  size_t len;
  char *text = phc_test_read_file(FIX "ring.tsv", &len);
  assert_non_null(text);
  int rows = 0, bad = 0;
  char *save;
  for (char *line = strtok_r(text, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save)) {
    char nodes[1024], hex[1024], want[256], key[512];
    if (sscanf(line, "%1023s %1023s %255s", nodes, hex, want) != 3) continue;
    int n = unhex(hex, key, sizeof key);
    phc__dring_t *r = ring_of(nodes);
    const char *got = NULL;
    assert_int_equal(phc__dring_node_for(r, key, n, 1, &got), 0);
    if (strcmp(got, want) != 0) {
      print_message("mismatch: %s (got %s)\n", line, got);
      bad++;
    }
    phc__dring_free(r);
    rows++;
  }
  free(text);
  assert_true(rows >= 250);
  assert_int_equal(bad, 0);
}

static void test_ring_nodes(void **st) {
  (void)st;
  phc__dring_t *r = phc__dring_new(PHC__ETF_OTP25);
  const char *out[4];
  ei_x_buff k;
  phc__x_new(&k);
  phc__x_atom(&k, "key");
  const char *node;
  assert_int_equal(phc__dring_node_for(r, k.buff, k.index, 0, &node),
                   PHC_ESTATE);
  assert_int_equal(phc__dring_add(r, "a@h"), 0);
  assert_int_equal(phc__dring_add(r, "b@h"), 0);
  assert_int_equal(phc__dring_add(r, "a@h"), 1);
  assert_int_equal(phc__dring_nodes(r, out, 4), 2);
  assert_string_equal(out[0], "b@h"); /* HashRing.nodes: last added first */
  assert_int_equal(phc__dring_remove(r, "b@h"), 0);
  assert_int_equal(phc__dring_remove(r, "b@h"), 1);
  assert_int_equal(phc__dring_node_for(r, k.buff, k.index, 0, &node), 0);
  assert_string_equal(node, "a@h");
  /* the struct: %{__struct__: HashRing, nodes: [a@h], ring: {128, Tree}} */
  ei_x_buff x;
  phc__x_new_with_version(&x);
  phc__dring_encode(r, &x);
  int idx = 1, arity;
  assert_int_equal(ei_decode_map_header(x.buff, &idx, &arity), 0);
  assert_int_equal(arity, 3);
  ei_x_free(&x);
  ei_x_free(&k);
  phc__dring_free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ring_vectors),
      cmocka_unit_test(test_ring_nodes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
