/* test_ring.c - the ring against the golden vectors (hash_ring 0.4.2 on
 * OTP 25, and the OTP 26+ encoding), every row of every file. */
#include "phc_test.h"

#include <ctype.h>

#include <openssl/evp.h>

#include "common.h"
#include "hub/ring.h"
#include "term/ext.h"

#define FIX "../fixtures/ring/"

/* ---- helpers ------------------------------------------------------------ */

static int split_tabs(char *line, char **f, int max) {
  int n = 0;
  f[n++] = line;
  for (char *p = line; *p && n < max; p++)
    if (*p == '\t') {
      *p = 0;
      f[n++] = p + 1;
    }
  return n;
}

static void to_hex(const char *b, int n, char *out) {
  for (int k = 0; k < n; k++)
    sprintf(out + 2 * k, "%02x", (uint8_t)b[k]);
  out[2 * n] = 0;
}

/* "..." with \\ and \" escapes; *p moves past the closing quote. */
static int parse_quoted(const char **p, char *out, size_t *len) {
  const char *s = *p;
  if (*s++ != '"') return PHC_EINVAL;
  size_t n = 0;
  while (*s && *s != '"') {
    if (*s == '\\' && s[1]) s++;
    out[n++] = *s++;
  }
  if (*s != '"') return PHC_EINVAL;
  *p = s + 1;
  *len = n;
  out[n] = 0;
  return 0;
}

/* An Elixir-ish value: "bin", :atom, :"atom", 123, {a, b}. Encoded with ei
 * (UTF-8 atoms), as a term arrives off the wire. */
static int parse_value(const char **p, ei_x_buff *x) {
  static char tmp[4096];
  size_t len;
  const char *s = *p;
  if (*s == '"') {
    if (parse_quoted(&s, tmp, &len)) return PHC_EINVAL;
    ei_x_encode_binary(x, tmp, (long)len);
  } else if (*s == ':') {
    s++;
    if (*s == '"') {
      if (parse_quoted(&s, tmp, &len)) return PHC_EINVAL;
    } else {
      len = 0;
      while (*s && (isalnum((unsigned char)*s) || strchr("_@.?!", *s)))
        tmp[len++] = *s++;
    }
    ei_x_encode_atom_len_as(x, tmp, (int)len, ERLANG_UTF8, ERLANG_UTF8);
  } else if (*s == '{') {
    ei_x_buff body;
    ei_x_new(&body);
    int n = 0;
    s++;
    while (*s == ' ')
      s++;
    while (*s != '}') {
      if (parse_value(&s, &body)) return PHC_EINVAL;
      n++;
      while (*s == ',' || *s == ' ')
        s++;
    }
    s++;
    ei_x_encode_tuple_header(x, n);
    ei_x_append_buf(x, body.buff, body.index);
    ei_x_free(&body);
  } else {
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s) return PHC_EINVAL;
    ei_x_encode_longlong(x, v);
    s = end;
  }
  *p = s;
  return 0;
}

/* A golden child id ("bin:...", "atom:...", "int:...", "term:...") as an
 * ei term with version byte. */
static void encode_spec(const char *spec, ei_x_buff *x) {
  static char tmp[4096];
  size_t len;
  ei_x_new_with_version(x);
  const char *p = strchr(spec, ':') + 1;
  if (strncmp(spec, "bin:", 4) == 0) {
    assert_int_equal(parse_quoted(&p, tmp, &len), 0);
    ei_x_encode_binary(x, tmp, (long)len);
  } else if (strncmp(spec, "atom:", 5) == 0) {
    assert_int_equal(parse_quoted(&p, tmp, &len), 0);
    ei_x_encode_atom_len_as(x, tmp, (int)len, ERLANG_UTF8, ERLANG_UTF8);
  } else {
    assert_int_equal(parse_value(&p, x), 0);
  }
  assert_int_equal(*p, 0);
}

static void set_nodes(phc__ring_t *r, char *list) {
  const char *names[16];
  size_t n = 0;
  for (char *tok = strtok(list, ";"); tok; tok = strtok(NULL, ";"))
    names[n++] = tok;
  assert_int_equal(phc__ring_set_nodes(r, names, n), 0);
}

static void join_owners(const char **o, int n, char *out) {
  out[0] = 0;
  for (int k = 0; k < n; k++) {
    if (k) strcat(out, ";");
    strcat(out, o[k]);
  }
}

/* Check every row of a ring_vectors file; returns the row count. */
static int check_vectors(const char *path, phc__ring_enc_t enc) {
  size_t flen = 0;
  char *data = phc_test_read_file(path, &flen);
  assert_non_null(data);
  phc__ring_t ring;
  phc__ring_init(&ring, enc);
  char cur_nodes[1024] = "", nodes_copy[1024], hex[8192], got[1024];
  int rows = 0, header_seen = 0;
  char *save = NULL;
  for (char *line = strtok_r(data, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save)) {
    if (line[0] == '#') continue;
    if (!header_seen) {
      header_seen = 1;
      assert_true(strncmp(line, "nodes\t", 6) == 0);
      continue;
    }
    char *f[8];
    assert_int_equal(split_tabs(line, f, 8), 6);
    if (strcmp(f[0], cur_nodes) != 0) {
      snprintf(cur_nodes, sizeof cur_nodes, "%s", f[0]);
      snprintf(nodes_copy, sizeof nodes_copy, "%s", f[0]);
      set_nodes(&ring, nodes_copy);
    }
    ei_x_buff term, etf;
    encode_spec(f[1], &term);
    ei_x_new(&etf);
    assert_int_equal(phc__ext_term_to_binary(&etf, term.buff, term.index,
                                             (phc__etf_enc_t)enc),
                     0);
    to_hex(etf.buff, etf.index, hex);
    if (strcmp(hex, f[4]) != 0) fail_msg("%s: bytes %s != %s", f[1], hex, f[4]);
    uint32_t h = 0;
    assert_int_equal(phc__ring_key_hash(&ring, term.buff, term.index, &h), 0);
    assert_int_equal(h, strtoul(f[5], NULL, 10));
    const char *owners[16];
    int rf = atoi(f[2]);
    int n = phc__ring_owners(&ring, term.buff, term.index, owners, rf);
    assert_true(n >= 1);
    join_owners(owners, n, got);
    if (strcmp(got, f[3]) != 0)
      fail_msg("%s %s rf %d: %s != %s", f[0], f[1], rf, got, f[3]);
    /* the precomputed-bytes entry point agrees */
    const char *o2[16];
    assert_int_equal(
        phc__ring_owners_etf(&ring, etf.buff, (size_t)etf.index, o2, rf), n);
    for (int k = 0; k < n; k++)
      assert_ptr_equal(o2[k], owners[k]);
    ei_x_free(&term);
    ei_x_free(&etf);
    rows++;
  }
  phc__ring_free(&ring);
  free(data);
  return rows;
}

static void test_vectors_otp25(void **state) {
  (void)state;
  int rows = check_vectors(FIX "ring_vectors.tsv", PHC_RING_OTP25);
  printf("ring_vectors.tsv: %d rows checked\n", rows);
  assert_int_equal(rows, 8307);
}

static void test_vectors_otp26(void **state) {
  (void)state;
  int rows =
      check_vectors(FIX "ring_vectors_otp26_emulated.tsv", PHC_RING_OTP26);
  printf("ring_vectors_otp26_emulated.tsv: %d rows checked\n", rows);
  assert_int_equal(rows, 8307);
}

/* term_hashes.tsv: bytes, MD5 and H for both encodings. */
static void test_term_hashes(void **state) {
  (void)state;
  size_t flen = 0;
  char *data = phc_test_read_file(FIX "term_hashes.tsv", &flen);
  assert_non_null(data);
  char *save = NULL, hex[4096];
  int rows = 0;
  strtok_r(data, "\n", &save); /* header */
  for (char *line = strtok_r(NULL, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save)) {
    char *f[10];
    assert_int_equal(split_tabs(line, f, 10), 8);
    ei_x_buff term;
    encode_spec(f[0], &term);
    for (int e = 0; e < 2; e++) {
      ei_x_buff etf;
      ei_x_new(&etf);
      assert_int_equal(
          phc__ext_term_to_binary(&etf, term.buff, term.index,
                                  e ? PHC__ETF_OTP26 : PHC__ETF_OTP25),
          0);
      to_hex(etf.buff, etf.index, hex);
      const char *want = e ? f[5] : f[1];
      if (strcmp(hex, want) != 0)
        fail_msg("%s enc %d: %s != %s", f[0], e, hex, want);
      assert_int_equal((uint8_t)etf.buff[1], atoi(e ? f[6] : f[2]));
      uint32_t h = phc__ring_hash(etf.buff, (size_t)etf.index);
      assert_int_equal(h, strtoul(e ? f[7] : f[4], NULL, 10));
      if (e == 0) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdl;
        char mdhex[40];
        EVP_Digest(etf.buff, (size_t)etf.index, md, &mdl, EVP_md5(), NULL);
        to_hex((const char *)md, (int)mdl, mdhex);
        assert_string_equal(mdhex, f[3]);
      }
      ei_x_free(&etf);
    }
    ei_x_free(&term);
    rows++;
  }
  printf("term_hashes.tsv: %d rows checked\n", rows);
  assert_int_equal(rows, 24);
  free(data);
}

/* The full sorted vnode list of a two-node ring (OTP 25). */
static int check_vnodes(const char *path, const char *n1, const char *n2) {
  size_t flen = 0;
  char *data = phc_test_read_file(path, &flen);
  assert_non_null(data);
  phc__ring_t ring;
  phc__ring_init(&ring, PHC_RING_OTP25);
  assert_int_equal(phc__ring_add(&ring, n1), 0);
  assert_int_equal(phc__ring_add(&ring, n2), 0);
  assert_int_equal(ring.n_vnodes, 512);
  char *save = NULL;
  int rows = 0, sentinel = 0;
  strtok_r(data, "\n", &save); /* header */
  for (char *line = strtok_r(NULL, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save)) {
    char *f[6];
    assert_int_equal(split_tabs(line, f, 6), 4);
    size_t idx = strtoul(f[0], NULL, 10) - 1;
    if (strcmp(f[3], "SENTINEL") == 0) {
      assert_int_equal(idx, ring.n_vnodes);
      assert_string_equal(f[1], "4294967296");
      sentinel = 1;
      continue;
    }
    assert_true(idx < ring.n_vnodes);
    assert_int_equal(ring.vnodes[idx].hash, strtoul(f[1], NULL, 10));
    assert_int_equal(ring.vnodes[idx].seq, strtoul(f[2], NULL, 10));
    assert_string_equal(ring.vnodes[idx].node, f[3]);
    rows++;
  }
  assert_true(sentinel);
  phc__ring_free(&ring);
  free(data);
  return rows;
}

static void test_vnodes(void **state) {
  (void)state;
  int a = check_vnodes(FIX "vnodes_node1_cnode.tsv", "node1@127.0.0.1",
                       "cnode@127.0.0.1");
  int b = check_vnodes(FIX "vnodes_node1_node2.tsv", "node2@127.0.0.1",
                       "node1@127.0.0.1");
  printf("vnodes files: %d + %d rows checked\n", a, b);
  assert_int_equal(a, 512);
  assert_int_equal(b, 512);
}

/* The vectors of "Ring test vectors" in docs/processhub-wire-protocol.md. */
static void test_reference_vectors(void **state) {
  (void)state;
  uint32_t h;
  assert_int_equal(phc__ring_vnode_hash(PHC_RING_OTP25, 0, "a@127.0.0.1", &h),
                   0);
  assert_int_equal(h, 50919803u);
  phc__ring_vnode_hash(PHC_RING_OTP25, 1, "a@127.0.0.1", &h);
  assert_int_equal(h, 1226608180u);
  phc__ring_vnode_hash(PHC_RING_OTP25, 255, "a@127.0.0.1", &h);
  assert_int_equal(h, 1684201345u);
  phc__ring_vnode_hash(PHC_RING_OTP26, 0, "a@127.0.0.1", &h);
  assert_int_equal(h, 496581516u);
  assert_int_equal(phc__ring_vnode_hash(PHC_RING_OTP25, 256, "a@b", &h),
                   PHC_EINVAL);

  phc__ring_t r;
  phc__ring_init(&r, PHC_RING_OTP25);
  const char *abc[] = {"a@127.0.0.1", "b@127.0.0.1", "c@127.0.0.1"};
  assert_int_equal(phc__ring_set_nodes(&r, abc, 3), 0);
  assert_int_equal(r.n_vnodes, 768);
  assert_int_equal(r.vnodes[0].hash, 705756u);
  assert_int_equal(r.vnodes[0].seq, 25);
  assert_string_equal(r.vnodes[0].node, "c@127.0.0.1");
  assert_int_equal(r.vnodes[1].hash, 4712369u);
  assert_int_equal(r.vnodes[2].hash, 11727763u);
  assert_int_equal(r.vnodes[767].hash, 4293473827u);
  assert_int_equal(r.vnodes[767].seq, 69);

  struct {
    const char *bin;
    const char *want25;
    const char *want26;
  } cases[] = {{"child1", "c;b;a", "b;c;a"},
               {"child2", "c;a;b", "a;c;b"},
               {"child3", "b;a;c", "a;c;b"},
               {"user:42", "c;a;b", "b;a;c"},
               {NULL, "a;b;c", "a;c;b"} /* my_child, an atom */};
  phc__ring_t r26;
  phc__ring_init(&r26, PHC_RING_OTP26);
  phc__ring_set_nodes(&r26, abc, 3);
  for (size_t k = 0; k < PHC__ARRAY_LEN(cases); k++) {
    ei_x_buff x;
    ei_x_new_with_version(&x);
    if (cases[k].bin)
      ei_x_encode_binary(&x, cases[k].bin, (long)strlen(cases[k].bin));
    else
      ei_x_encode_atom(&x, "my_child");
    const char *o[3];
    char got[256], want[256];
    for (int e = 0; e < 2; e++) {
      phc__ring_t *rr = e ? &r26 : &r;
      const char *w = e ? cases[k].want26 : cases[k].want25;
      assert_int_equal(phc__ring_owners(rr, x.buff, x.index, o, 3), 3);
      /* expected letters -> full names */
      want[0] = 0;
      for (const char *c = w; *c; c++) {
        if (*c == ';') {
          strcat(want, ";");
          continue;
        }
        size_t l = strlen(want);
        snprintf(want + l, sizeof want - l, "%c@127.0.0.1", *c);
      }
      join_owners(o, 3, got);
      assert_string_equal(got, want);
      assert_int_equal(phc__ring_owners(rr, x.buff, x.index, o, 1), 1);
      assert_int_equal(phc__ring_owners(rr, x.buff, x.index, o, 0), 0);
      assert_int_equal(phc__ring_owners(rr, x.buff, x.index, o, 7), 3);
    }
    if (!cases[k].bin) {
      phc__ring_key_hash(&r, x.buff, x.index, &h);
      assert_int_equal(h, 3863982503u);
      phc__ring_key_hash(&r26, x.buff, x.index, &h);
      assert_int_equal(h, 3248522696u);
    }
    ei_x_free(&x);
  }
  phc__ring_free(&r);
  phc__ring_free(&r26);
}

/* The ring depends only on the set: order, duplicates, add/remove. */
static void test_set_semantics(void **state) {
  (void)state;
  phc__ring_t a, b;
  phc__ring_init(&a, PHC_RING_OTP25);
  phc__ring_init(&b, PHC_RING_OTP25);
  const char *x[] = {"n1@h", "n2@h", "n3@h"};
  const char *y[] = {"n3@h", "n1@h", "n3@h", "n2@h"};
  phc__ring_set_nodes(&a, x, 3);
  phc__ring_set_nodes(&b, y, 4);
  assert_int_equal(a.n_nodes, 3);
  assert_int_equal(b.n_nodes, 3);
  for (size_t k = 0; k < a.n_vnodes; k++) {
    assert_int_equal(a.vnodes[k].hash, b.vnodes[k].hash);
    assert_string_equal(a.vnodes[k].node, b.vnodes[k].node);
  }
  /* add then remove restores the two-node ring exactly */
  phc__ring_t c;
  phc__ring_init(&c, PHC_RING_OTP25);
  phc__ring_set_nodes(&c, x, 2);
  assert_int_equal(phc__ring_remove(&a, "n3@h"), 0);
  assert_int_equal(phc__ring_remove(&a, "absent@h"), 0);
  assert_false(phc__ring_has(&a, "n3@h"));
  assert_true(phc__ring_has(&a, "n1@h"));
  assert_int_equal(a.n_vnodes, c.n_vnodes);
  for (size_t k = 0; k < a.n_vnodes; k++) {
    assert_int_equal(a.vnodes[k].hash, c.vnodes[k].hash);
    assert_int_equal(a.vnodes[k].seq, c.vnodes[k].seq);
    assert_string_equal(a.vnodes[k].node, c.vnodes[k].node);
  }
  /* empty ring and invalid names */
  phc__ring_t e;
  phc__ring_init(&e, PHC_RING_OTP26);
  const char *o[2];
  assert_int_equal(phc__ring_owners_etf(&e, "\x83\x6a", 2, o, 2), 0);
  assert_int_equal(phc__ring_add(&e, ""), PHC_EINVAL);
  assert_int_equal(phc__ring_add(&e, "\xff\xfe"), PHC_EINVAL);
  assert_int_equal(e.n_nodes, 0);
  /* undecodable key terms are refused, not crashed on */
  assert_int_equal(phc__ring_owners(&c,
                                    "\x83\x6d\x00\x00\x00\x09"
                                    "ab",
                                    8, o, 2),
                   PHC_EDECODE);
  assert_int_equal(phc__ring_owners(&c, "\x84\x6a", 2, o, 2), PHC_EDECODE);
  phc__ring_free(&a);
  phc__ring_free(&b);
  phc__ring_free(&c);
  phc__ring_free(&e);
}

int main(void) {
  phc_log_set_level(PHC_LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_vectors_otp25),
      cmocka_unit_test(test_vectors_otp26),
      cmocka_unit_test(test_term_hashes),
      cmocka_unit_test(test_vnodes),
      cmocka_unit_test(test_reference_vectors),
      cmocka_unit_test(test_set_semantics),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
