/* test_term.c - the bounded term walker and the read-side helpers
 * (c_src/term/term.h).
 *
 * The walker is checked against ei's own ei_skip_term on one term of
 * every external-format tag, on real captured messages and closures
 * (../fixtures/hub) and on real term_to_binary/1 output
 * (../fixtures/ring/ext_terms.tsv); then on what ei cannot catch: every
 * truncation, counts larger than the buffer, nesting, funs whose free
 * variables or size do not add up, and the tags phc never accepts. Each
 * buffer under test is malloc'ed at its exact size, so ASan reports any
 * read past its end. */
#include "phc_test.h"

#include "common.h"
#include "term/term.h"

#define HUB "../fixtures/hub/"

/* ---- building terms -------------------------------------------------- */

static ei_x_buff fmt(const char *f) {
  ei_x_buff x;
  ei_x_new(&x);
  if (ei_x_format_wo_ver(&x, f) < 0) fail_msg("bad format %s", f);
  return x;
}

static ei_x_buff raw(const void *b, int n) {
  ei_x_buff x;
  ei_x_new(&x);
  ei_x_append_buf(&x, b, n);
  return x;
}
#define RAW(lit) raw(lit, (int)sizeof lit - 1)

static erlang_pid mkpid(const char *node, unsigned num) {
  erlang_pid p;
  memset(&p, 0, sizeof p);
  snprintf(p.node, sizeof p.node, "%s", node);
  p.num = num;
  p.creation = 3;
  return p;
}

/* A NEW_FUN_EXT declaring n_free variables and carrying vars (len bytes);
 * ei writes Size from what it carries. */
static ei_x_buff closure(long n_free, const char *vars, int len) {
  erlang_fun f;
  memset(&f, 0, sizeof f);
  f.type = EI_FUN_CLOSURE;
  f.arity = 0;
  snprintf(f.module, sizeof f.module, "%s", "Elixir.ProcessHub.Test");
  f.u.closure.index = 7;
  f.u.closure.old_index = 7;
  f.u.closure.uniq = 123456;
  f.u.closure.n_free_vars = n_free;
  f.u.closure.free_vars = (char *)vars;
  f.u.closure.free_var_len = len;
  f.u.closure.pid = mkpid("ph1@127.0.0.1", 88);
  ei_x_buff x;
  ei_x_new(&x);
  assert_int_equal(ei_x_encode_fun(&x, &f), 0);
  return x;
}

/* A copy at exactly n bytes (ASan sees any overread). */
static char *exact(const char *b, int n) {
  char *c = malloc(n > 0 ? (size_t)n : 1);
  if (n > 0) memcpy(c, b, (size_t)n);
  return c;
}

/* The walker and ei agree: the term at b[from] ends at len. */
static void expect_whole(const char *name, const char *b, int len, int from) {
  char *c = exact(b, len);
  int i = from, j = from;
  if (phc__term_skip(c, len, &i) != 0)
    fail_msg("%s: refused by the walker", name);
  if (i != len) fail_msg("%s: walker ends at %d of %d", name, i, len);
  if (ei_skip_term(c, &j) < 0 || j != len)
    fail_msg("%s: ei ends at %d of %d", name, j, len);
  free(c);
}

#define REFUSED(name, lit) expect_refused(name, lit, (int)sizeof lit - 1)

static void expect_refused(const char *name, const char *b, int len) {
  char *c = exact(b, len);
  int i = 0;
  if (phc__term_skip(c, len, &i) != PHC_EDECODE) fail_msg("%s: accepted", name);
  if (i != 0) fail_msg("%s: index moved on refusal", name);
  free(c);
}

/* Every proper prefix of a valid term is refused, without overreads. */
static void expect_truncations_refused(const char *name, const char *b, int len,
                                       int from) {
  for (int n = 0; n < len; n++) {
    char *c = exact(b, n);
    int i = from;
    int rc = phc__term_skip(c, n, &i);
    if (rc != PHC_EDECODE || i != from)
      fail_msg("%s: prefix of %d bytes gave %d", name, n, rc);
    free(c);
  }
}

/* ---- one term of every tag ------------------------------------------- */

typedef struct tcase {
  const char *name;
  int tag;
  ei_x_buff x;
} tcase_t;

#define MAX_CASES 40

static int all_tags(tcase_t *t) {
  int n = 0;
  ei_x_buff x;
#define ADD(nm, tg, expr) (t[n++] = (tcase_t){nm, tg, (expr)})
  ADD("small int", PHC__TAG_SMALL_INT, fmt("7"));
  ADD("int", PHC__TAG_INT, fmt("-70000"));
  ei_x_new(&x);
  ei_x_encode_double(&x, 2.5);
  ADD("new float", PHC__TAG_NEW_FLOAT, x);
  {
    char fl[32] = "c2.50000000000000000000e+00"; /* 31 bytes, NUL padded */
    ADD("old float", PHC__TAG_FLOAT, raw(fl, 32));
  }
  ADD("latin-1 atom", PHC__TAG_ATOM,
      RAW("\x64\x00\x04"
          "caf\xe9"));
  ADD("small latin-1 atom", PHC__TAG_SMALL_ATOM, RAW("\x73\x02ok"));
  {
    char euro[301] = "";
    for (int k = 0; k < 100; k++)
      strcat(euro, "\xe2\x82\xac");
    ei_x_new(&x);
    ei_x_encode_atom_len_as(&x, euro, 300, ERLANG_UTF8, ERLANG_UTF8);
    ADD("utf-8 atom of 300 bytes", PHC__TAG_ATOM_UTF8, x);
  }
  ADD("small utf-8 atom", PHC__TAG_SMALL_ATOM_UTF8, fmt("hello"));
  ADD("tuple", PHC__TAG_SMALL_TUPLE, fmt("{a, 1, \"str\", [x, y], {}}"));
  ei_x_new(&x);
  ei_x_encode_tuple_header(&x, 300);
  for (int k = 0; k < 300; k++)
    ei_x_encode_long(&x, k * 1000);
  ADD("large tuple", PHC__TAG_LARGE_TUPLE, x);
  ADD("nil", PHC__TAG_NIL, fmt("[]"));
  ADD("string", PHC__TAG_STRING, fmt("\"hello\""));
  ADD("list", PHC__TAG_LIST, fmt("[1, two, {3}, [4, 5], \"six\"]"));
  ei_x_new(&x); /* [a, b | c] (ei_x_format has no improper lists) */
  ei_x_encode_list_header(&x, 2);
  ei_x_format_wo_ver(&x, "a");
  ei_x_format_wo_ver(&x, "b");
  ei_x_format_wo_ver(&x, "c");
  ADD("improper list", PHC__TAG_LIST, x);
  ei_x_new(&x);
  ei_x_encode_binary(&x, "abc", 3);
  ADD("binary", PHC__TAG_BINARY, x);
  ei_x_new(&x);
  ei_x_encode_bitstring(&x, "\xff\x80", 0, 9);
  ADD("bitstring", PHC__TAG_BIT_BINARY, x);
  ei_x_new(&x);
  ei_x_encode_longlong(&x, -(1LL << 40));
  ADD("small big", PHC__TAG_SMALL_BIG, x);
  {
    char big[1 + 4 + 1 + 300];
    memset(big, 0xab, sizeof big);
    memcpy(big, "\x6f\x00\x00\x01\x2c\x00", 6); /* 300 digit bytes, + */
    ADD("large big", PHC__TAG_LARGE_BIG, raw(big, (int)sizeof big));
  }
  ei_x_new(&x);
  ei_x_encode_map_header(&x, 2);
  ei_x_encode_atom(&x, "id");
  ei_x_encode_binary(&x, "c1", 2);
  ei_x_format_wo_ver(&x, "{start, {m, f, [1, 2]}}");
  ei_x_format_wo_ver(&x, "nested");
  ADD("map", PHC__TAG_MAP, x);
  {
    erlang_pid p = mkpid("ph1@127.0.0.1", 77);
    ei_x_new(&x);
    ei_x_encode_pid(&x, &p);
    ADD("new pid", PHC__TAG_NEW_PID, x);
  }
  ADD("pid", PHC__TAG_PID,
      RAW("\x67\x77\x03"
          "a@h"
          "\x00\x00\x00\x01\x00\x00\x00\x00\x02"));
  {
    erlang_port p;
    memset(&p, 0, sizeof p);
    snprintf(p.node, sizeof p.node, "%s", "a@h");
    p.id = 5;
    p.creation = 9;
    ei_x_new(&x);
    ei_x_encode_port(&x, &p);
    ADD("new port", PHC__TAG_NEW_PORT, x);
    p.id = 1ULL << 40;
    ei_x_new(&x);
    ei_x_encode_port(&x, &p);
    ADD("v4 port", PHC__TAG_V4_PORT, x);
  }
  ADD("port", PHC__TAG_PORT,
      RAW("\x66\x73\x03"
          "a@h"
          "\x00\x00\x00\x05\x01"));
  ADD("reference", PHC__TAG_REF,
      RAW("\x65\x73\x03"
          "a@h"
          "\x00\x00\x00\x05\x01"));
  ADD("new reference", PHC__TAG_NEW_REF,
      RAW("\x72\x00\x03\x73\x03"
          "a@h"
          "\x01"
          "\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x03"));
  {
    erlang_ref r;
    memset(&r, 0, sizeof r);
    snprintf(r.node, sizeof r.node, "%s", "a@h");
    r.len = 3;
    r.n[0] = 1;
    r.n[1] = 2;
    r.n[2] = 3;
    r.creation = 7;
    ei_x_new(&x);
    ei_x_encode_ref(&x, &r);
    ADD("newer reference", PHC__TAG_NEWER_REF, x);
  }
  {
    erlang_fun f;
    memset(&f, 0, sizeof f);
    f.type = EI_FUN_EXPORT;
    f.arity = 2;
    snprintf(f.module, sizeof f.module, "%s", "lists");
    f.u.exprt.func = "map";
    ei_x_new(&x);
    ei_x_encode_fun(&x, &f);
    ADD("export", PHC__TAG_EXPORT, x);
  }
  {
    ei_x_buff vars = fmt("{hub, [1, 2, 3]}");
    ei_x_format_wo_ver(&vars, "'ph1@127.0.0.1'");
    ADD("fun with 2 free variables", PHC__TAG_NEW_FUN,
        closure(2, vars.buff, vars.index));
    ADD("fun without free variables", PHC__TAG_NEW_FUN, closure(0, NULL, 0));
    ei_x_free(&vars);
  }
#undef ADD
  assert_true(n <= MAX_CASES);
  return n;
}

static void free_cases(tcase_t *t, int n) {
  for (int k = 0; k < n; k++)
    ei_x_free(&t[k].x);
}

static void test_every_tag_as_ei(void **state) {
  (void)state;
  static tcase_t t[MAX_CASES];
  int n = all_tags(t);
  int seen[256] = {0};
  ei_x_buff all;
  ei_x_new(&all);
  ei_x_encode_tuple_header(&all, n);
  for (int k = 0; k < n; k++) {
    if ((uint8_t)t[k].x.buff[0] != t[k].tag)
      fail_msg("%s: built with tag %d, not %d", t[k].name,
               (uint8_t)t[k].x.buff[0], t[k].tag);
    seen[t[k].tag] = 1;
    expect_whole(t[k].name, t[k].x.buff, t[k].x.index, 0);
    ei_x_append_buf(&all, t[k].x.buff, t[k].x.index);
  }
  /* every tag the walker knows has a case */
  const int tags[] = {70,  77,  88,  89,  90,  97,  98,  99,  100, 101,
                      102, 103, 104, 105, 106, 107, 108, 109, 110, 111,
                      112, 113, 114, 115, 116, 118, 119, 120};
  for (size_t k = 0; k < sizeof tags / sizeof tags[0]; k++)
    if (!seen[tags[k]]) fail_msg("no case for tag %d", tags[k]);
  /* all of them in one tuple, and inside a list, a map and a fun */
  expect_whole("all in a tuple", all.buff, all.index, 0);
  ei_x_buff l;
  ei_x_new(&l);
  ei_x_encode_list_header(&l, 1);
  ei_x_append_buf(&l, all.buff, all.index);
  ei_x_encode_map_header(&l, 1);
  ei_x_append_buf(&l, all.buff, all.index);
  ei_x_append_buf(&l, all.buff, all.index);
  int list_len = l.index;
  expect_whole("all in a list, tail a map", l.buff, l.index, 0);
  ei_x_encode_atom(&l, "after");
  ei_x_buff fun = closure(1, all.buff, all.index);
  expect_whole("fun over all", fun.buff, fun.index, 0);
  expect_truncations_refused("fun over all", fun.buff, fun.index, 0);
  ei_x_free(&fun);
  /* a term followed by more bytes: the walker stops at its end */
  int i = 0;
  assert_int_equal(phc__term_skip(l.buff, l.index, &i), 0);
  assert_int_equal(i, list_len);
  expect_truncations_refused("all in a tuple", all.buff, all.index, 0);
  ei_x_free(&l);
  ei_x_free(&all);
  free_cases(t, n);
}

static const char *const fixtures[] = {
    "closure_gossip",
    "closure_pubsub_sync",
    "closure_which_children",
    "cluster_join",
    "cluster_join_ph3",
    "cluster_leave",
    "migration_add",
    "pg_discover",
    "pg_join",
    "pg_leave",
    "pg_sync",
    "pg_sync_ph3",
    "pid_update",
    "registration",
    "start_children",
    "start_children_echo",
    "stop_children",
    "sync_remote",
    "unregistration",
};

/* Real ProcessHub messages and closures: accepted, and the walker lands
 * exactly at their end; every truncation of the closures is refused. */
static void test_fixtures(void **state) {
  (void)state;
  for (size_t k = 0; k < sizeof fixtures / sizeof fixtures[0]; k++) {
    char path[256];
    size_t len;
    snprintf(path, sizeof path, HUB "%s.etf", fixtures[k]);
    char *b = phc_test_read_file(path, &len);
    if (!b) fail_msg("cannot read %s", path);
    assert_int_equal((uint8_t)b[0], PHC__TAG_VERSION);
    expect_whole(fixtures[k], b, (int)len, 1);
    if (!strncmp(fixtures[k], "closure_", 8)) {
      assert_int_equal((uint8_t)b[1], PHC__TAG_NEW_FUN);
      expect_truncations_refused(fixtures[k], b, (int)len, 1);
    }
    free(b);
  }
}

static int unhex(const char *h, char *out) {
  size_t n = strlen(h);
  for (size_t k = 0; k < n / 2; k++) {
    unsigned v;
    sscanf(h + 2 * k, "%2x", &v);
    out[k] = (char)v;
  }
  return (int)(n / 2);
}

/* Real term_to_binary/1 output of OTP 25 and 27 (the ext.c fixtures:
 * name, input_hex or "-", default_hex, minor2_hex). */
static void test_real_terms(void **state) {
  (void)state;
  const char *files[] = {"../fixtures/ring/ext_terms.tsv",
                         "../fixtures/ring/ext_terms_otp27.tsv"};
  char *bin = malloc(1 << 20);
  int checked = 0;
  for (int f = 0; f < 2; f++) {
    size_t len;
    char *data = phc_test_read_file(files[f], &len);
    assert_non_null(data);
    char *save = NULL;
    for (char *line = strtok_r(data, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
      if (line[0] == '#' || !strncmp(line, "name\t", 5)) continue;
      char *col[4] = {line, NULL, NULL, NULL};
      for (int c = 1; c < 4; c++) {
        col[c] = strchr(col[c - 1], '\t');
        assert_non_null(col[c]);
        *col[c]++ = 0;
      }
      for (int c = 1; c < 4; c++) {
        if (!strcmp(col[c], "-")) continue;
        int n = unhex(col[c], bin);
        expect_whole(col[0], bin, n, 1);
        checked++;
      }
    }
    free(data);
  }
  assert_true(checked > 200);
  free(bin);
}

/* ---- what only the walker catches ------------------------------------ */

static void test_refused_tags(void **state) {
  (void)state;
  REFUSED("ATOM_CACHE_REF", "\x52\x00");
  REFUSED("ATOM_CACHE_REF in a tuple", "\x68\x02\x61\x01\x52\x00");
  REFUSED("ATOM_CACHE_REF as a pid's node",
          "\x58\x52\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01");
  REFUSED("LOCAL_EXT", "\x79\x61\x01");
  REFUSED("FUN_EXT (obsolete)", "\x75\x00\x00\x00\x00");
  REFUSED("a version byte inside", "\x68\x01\x83\x6a");
  REFUSED("tag 0", "\x00");
  REFUSED("empty", "");
  /* an export whose arity is not a small integer */
  REFUSED("export arity", "\x71\x77\x01m\x77\x01"
                          "f\x6a");
}

static void test_counts_beyond_buffer(void **state) {
  (void)state;
  REFUSED("list of 2^32-1", "\x6c\xff\xff\xff\xff\x6a");
  REFUSED("tuple of 2^32-1", "\x69\xff\xff\xff\xff\x61\x01");
  REFUSED("map of 2^31 pairs", "\x74\x80\x00\x00\x00\x61\x01");
  REFUSED("binary too long", "\x6d\x00\x00\x00\x09\x01\x02");
  REFUSED("string too long", "\x6b\x00\x09\x01\x02");
  REFUSED("big too long", "\x6e\x09\x00\x01");
  REFUSED("atom too long", "\x77\x09"
                           "ab");
  REFUSED("bits 0 of a non-empty bitstring", "\x4d\x00\x00\x00\x01\x00\xff");
  REFUSED("bits 9", "\x4d\x00\x00\x00\x01\x09\xff");
  REFUSED("newer reference of 6 words",
          "\x5a\x00\x06\x77\x01"
          "a"
          "\x00\x00\x00\x01"
          "\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x01"
          "\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x01");
  /* a latin-1 atom of 256 bytes, a UTF-8 one of 1021: no atom is that long */
  char a[3 + 1021];
  memset(a, 'x', sizeof a);
  memcpy(a, "\x64\x01\x00", 3);
  expect_refused("latin-1 atom of 256 bytes", a, 3 + 256);
  memcpy(a, "\x76\x03\xfd", 3);
  expect_refused("utf-8 atom of 1021 bytes", a, (int)sizeof a);
  /* UTF-8 atoms: valid UTF-8 of at most 255 characters */
  memcpy(a, "\x76\x03\xfc", 3);
  expect_refused("utf-8 atom of 1020 characters", a, 3 + 1020);
  for (int i = 0; i < 255; i++)
    memcpy(a + 3 + 4 * i, "\xf0\x9f\x98\x80", 4);
  expect_whole("utf-8 atom of 255 4-byte characters", a, 3 + 1020, 0);
  memcpy(a, "\x76\x00\x02\xc3\x28", 5);
  expect_refused("utf-8 atom that is not UTF-8", a, 5);
}

static ei_x_buff nest(int n, int lists) {
  ei_x_buff x;
  ei_x_new(&x);
  for (int k = 0; k < n; k++)
    lists ? ei_x_encode_list_header(&x, 1) : ei_x_encode_tuple_header(&x, 1);
  ei_x_encode_atom(&x, "leaf");
  for (int k = 0; lists && k < n; k++)
    ei_x_encode_empty_list(&x);
  return x;
}

static void test_depth_limit(void **state) {
  (void)state;
  for (int lists = 0; lists < 2; lists++) {
    ei_x_buff ok = nest(PHC__TERM_MAX_DEPTH, lists);
    ei_x_buff deep = nest(PHC__TERM_MAX_DEPTH + 1, lists);
    expect_whole(lists ? "lists at the limit" : "tuples at the limit", ok.buff,
                 ok.index, 0);
    expect_refused(lists ? "lists too deep" : "tuples too deep", deep.buff,
                   deep.index);
    /* the depth already walked counts */
    int i = 0;
    assert_int_equal(phc__term_skip_at(ok.buff, ok.index, &i, 1), PHC_EDECODE);
    ei_x_free(&ok);
    ei_x_free(&deep);
  }
  /* a fun's free variables are one level down */
  ei_x_buff env = nest(PHC__TERM_MAX_DEPTH, 0);
  ei_x_buff fun = closure(1, env.buff, env.index);
  expect_refused("fun over a limit-deep term", fun.buff, fun.index);
  ei_x_free(&fun);
  ei_x_free(&env);
  /* a long chain of LIST_EXT tails is one list, not nesting */
  ei_x_buff chain;
  ei_x_new(&chain);
  for (int k = 0; k < 5000; k++) {
    ei_x_encode_list_header(&chain, 1);
    ei_x_encode_long(&chain, k);
  }
  ei_x_encode_empty_list(&chain);
  expect_whole("chain of 5000 tails", chain.buff, chain.index, 0);
  ei_x_free(&chain);
}

/* NEW_FUN_EXT: Size is at offset 1 and NumFree at offset 26. */
static void put32(char *p, uint32_t v) {
  p[0] = (char)(v >> 24);
  p[1] = (char)(v >> 16);
  p[2] = (char)(v >> 8);
  p[3] = (char)v;
}

static uint32_t get32(const char *p) {
  const uint8_t *u = (const uint8_t *)p;
  return ((uint32_t)u[0] << 24) | ((uint32_t)u[1] << 16) |
         ((uint32_t)u[2] << 8) | u[3];
}

static void test_funs(void **state) {
  (void)state;
  ei_x_buff one = fmt("{hub, [1, 2]}"), two = fmt("{hub, [1, 2]}");
  ei_x_format_wo_ver(&two, "'ph1@127.0.0.1'");

  ei_x_buff f = closure(2, two.buff, two.index);
  expect_whole("fun with its 2 free variables", f.buff, f.index, 0);
  /* declares more free variables than it carries; ei cannot tell */
  ei_x_buff more = closure(3, two.buff, two.index);
  int j = 0;
  assert_int_equal(ei_skip_term(more.buff, &j), 0);
  expect_refused("fun declaring 3 carrying 2", more.buff, more.index);
  put32(more.buff + 26, 0xffffffffu);
  expect_refused("fun declaring 2^32-1", more.buff, more.index);
  /* declares fewer: the bytes left over disagree with Size */
  ei_x_buff fewer = closure(1, two.buff, two.index);
  expect_refused("fun declaring 1 carrying 2", fewer.buff, fewer.index);
  /* Size one more or one less than the bytes walked */
  uint32_t size = get32(f.buff + 1);
  put32(f.buff + 1, size + 1);
  expect_refused("fun size + 1", f.buff, f.index);
  put32(f.buff + 1, size - 1);
  expect_refused("fun size - 1", f.buff, f.index);
  put32(f.buff + 1, size);
  expect_whole("fun size restored", f.buff, f.index, 0);
  /* a garbage free variable; a truncated one */
  ei_x_buff bad = closure(1, "\x52\x00", 2);
  expect_refused("fun with an ATOM_CACHE_REF variable", bad.buff, bad.index);
  ei_x_free(&bad);
  bad = closure(1, "\x68\x02\x61\x01", 4);
  expect_refused("fun with a truncated variable", bad.buff, bad.index);
  ei_x_free(&bad);
  /* OldIndex must be an integer */
  bad = closure(1, one.buff, one.index);
  int at = 1 + 4 + 1 + 16 + 4 + 4;
  assert_int_equal((uint8_t)bad.buff[at], PHC__TAG_SMALL_ATOM_UTF8);
  at += 2 + (uint8_t)bad.buff[at + 1];
  assert_int_equal((uint8_t)bad.buff[at], PHC__TAG_SMALL_INT);
  bad.buff[at] = (char)PHC__TAG_NIL;
  expect_refused("fun with a non-integer OldIndex", bad.buff, bad.index);
  ei_x_free(&bad);
  ei_x_free(&f);
  ei_x_free(&more);
  ei_x_free(&fewer);
  ei_x_free(&one);
  ei_x_free(&two);
}

/* ---- atoms ----------------------------------------------------------- */

static void test_atoms(void **state) {
  (void)state;
  const char *forms[] = {"\x64\x00\x02ok", "\x73\x02ok", "\x76\x00\x02ok",
                         "\x77\x02ok"};
  for (int k = 0; k < 4; k++) {
    int n = k % 2 ? 4 : 5;
    char *b = exact(forms[k], n);
    assert_true(phc__term_atom_eq(b, 0, "ok"));
    assert_false(phc__term_atom_eq(b, 0, "o"));
    assert_false(phc__term_atom_eq(b, 0, "oka"));
    assert_false(phc__term_atom_eq(b, 0, ""));
    assert_false(phc__term_atom_eq(b, -1, "ok"));
    char out[PHC__ATOM_MAX];
    int i = 0;
    assert_int_equal(phc__term_atom(b, &i, out, sizeof out), 0);
    assert_string_equal(out, "ok");
    assert_int_equal(i, n);
    assert_true(phc__term_is_atom(b, n, "ok"));
    assert_false(phc__term_is_atom(b, n - 1, "ok")); /* truncated */
    free(b);
  }
  assert_false(phc__term_atom_eq("\x61\x01", 0, "ok"));
  /* latin-1 'café' is the UTF-8 name café */
  char *lat = exact("\x64\x00\x04"
                    "caf\xe9",
                    7);
  assert_true(phc__term_atom_eq(lat, 0, "caf\xc3\xa9"));
  assert_false(phc__term_atom_eq(lat, 0, "caf\xe9"));
  assert_false(phc__term_atom_eq(lat, 0, "caf\xc3"));
  char out[6];
  int i = 0;
  assert_int_equal(phc__term_atom(lat, &i, out, 6), 0);
  assert_string_equal(out, "caf\xc3\xa9");
  assert_int_equal(i, 7);
  i = 0; /* one byte short: refused, out empty, index kept */
  assert_int_equal(phc__term_atom(lat, &i, out, 5), PHC_EDECODE);
  assert_string_equal(out, "");
  assert_int_equal(i, 0);
  free(lat);
  char *utf = exact("\x77\x05"
                    "caf\xc3\xa9",
                    7);
  assert_true(phc__term_atom_eq(utf, 0, "caf\xc3\xa9"));
  i = 0;
  assert_int_equal(phc__term_atom(utf, &i, out, 5), PHC_EDECODE);
  free(utf);
  /* a small buffer is never overrun, whatever the atom's length */
  ei_x_buff longa = fmt("a_rather_long_atom_for_a_small_buffer");
  char small[8];
  i = 0;
  assert_int_equal(phc__term_atom(longa.buff, &i, small, sizeof small),
                   PHC_EDECODE);
  ei_x_free(&longa);
  i = 0;
  assert_int_equal(phc__term_atom("\x6a", &i, out, sizeof out), PHC_EDECODE);

  /* whole terms, with and without the version byte */
  ei_x_buff kill;
  ei_x_new_with_version(&kill);
  ei_x_encode_atom(&kill, "kill");
  assert_true(phc__term_is_atom(kill.buff, kill.index, "kill"));
  assert_true(phc__term_is_atom(kill.buff + 1, kill.index - 1, "kill"));
  assert_false(phc__term_is_atom(kill.buff, kill.index, "killed"));
  assert_false(phc__term_is_atom(kill.buff, 0, "kill"));
  assert_false(phc__term_is_atom(NULL, 4, "kill"));
  ei_x_free(&kill);

  /* list membership */
  ei_x_buff l = fmt("[a, b, {c}, \"s\", d]");
  assert_true(phc__term_has_atom(l.buff, 0, "d"));
  assert_true(phc__term_has_atom(l.buff, 0, "a"));
  assert_false(phc__term_has_atom(l.buff, 0, "c"));
  assert_false(phc__term_has_atom(l.buff, -1, "a"));
  assert_false(phc__term_has_atom("\x6a", 0, "a"));
  assert_false(phc__term_has_atom("\x6b\x00\x01"
                                  "a",
                                  0, "a"));
  assert_false(phc__term_has_atom("\x77\x01"
                                  "a",
                                  0, "a")); /* not a list */
  ei_x_free(&l);
}

/* ---- lookups --------------------------------------------------------- */

static void test_map_and_kw(void **state) {
  (void)state;
  ei_x_buff m;
  ei_x_new(&m);
  ei_x_encode_map_header(&m, 3);
  ei_x_encode_binary(&m, "start", 5); /* not an atom key */
  ei_x_encode_long(&m, 0);
  ei_x_format_wo_ver(&m, "id");
  ei_x_format_wo_ver(&m, "{1, 2}");
  ei_x_format_wo_ver(&m, "start");
  ei_x_format_wo_ver(&m, "{m, f, [a]}");
  int v = -1;
  assert_int_equal(phc__term_map_get(m.buff, 0, "start", &v), 0);
  assert_int_equal((uint8_t)m.buff[v], PHC__TAG_SMALL_TUPLE);
  assert_true(phc__term_atom_eq(m.buff, v + 2, "m"));
  assert_int_equal(phc__term_map_get(m.buff, 0, "id", &v), 0);
  assert_memory_equal(m.buff + v, "\x68\x02\x61\x01\x61\x02", 6);
  assert_int_equal(phc__term_map_get(m.buff, 0, "nope", &v), PHC_EINVAL);
  assert_int_equal(phc__term_map_get("\x6a", 0, "id", &v), PHC_EDECODE);
  ei_x_free(&m);

  ei_x_buff kw = fmt("[{reply_to, [1]}, other, {a, b, c}, {members, global},"
                     " {members, local}]");
  assert_int_equal(phc__term_kw_get(kw.buff, 0, "members", &v), 0);
  assert_true(phc__term_atom_eq(kw.buff, v, "global")); /* first wins */
  assert_int_equal(phc__term_kw_get(kw.buff, 0, "reply_to", &v), 0);
  assert_int_equal((uint8_t)kw.buff[v], PHC__TAG_LIST);
  assert_int_equal(phc__term_kw_get(kw.buff, 0, "a", &v), PHC_EINVAL);
  assert_int_equal(phc__term_kw_get(kw.buff, 0, "other", &v), PHC_EINVAL);
  assert_int_equal(phc__term_kw_get("\x6a", 0, "a", &v), PHC_EINVAL);
  assert_int_equal(phc__term_kw_get("\x61\x01", 0, "a", &v), PHC_EDECODE);
  ei_x_free(&kw);
}

/* ---- pids ------------------------------------------------------------ */

static void test_pids(void **state) {
  (void)state;
  erlang_pid a = mkpid("ph1@127.0.0.1", 1), b = mkpid("ph2@127.0.0.1", 2),
             c = mkpid("ph3@127.0.0.1", 3), out[2];
  ei_x_buff x;
  ei_x_new(&x);
  ei_x_encode_pid(&x, &a); /* a pid alone */
  int i = 0;
  assert_int_equal(phc__term_pids(x.buff, &i, out, 2), 1);
  assert_int_equal(i, x.index);
  assert_string_equal(out[0].node, a.node);
  ei_x_free(&x);

  ei_x_new(&x);
  ei_x_encode_list_header(&x, 3);
  ei_x_encode_pid(&x, &a);
  ei_x_encode_pid(&x, &b);
  ei_x_encode_pid(&x, &c);
  ei_x_encode_empty_list(&x);
  ei_x_encode_atom(&x, "after");
  i = 0; /* three, two kept */
  assert_int_equal(phc__term_pids(x.buff, &i, out, 2), 3);
  assert_int_equal(out[0].num, 1);
  assert_int_equal(out[1].num, 2);
  assert_true(phc__term_atom_eq(x.buff, i, "after"));
  ei_x_free(&x);

  i = 0;
  assert_int_equal(phc__term_pids("\x6a", &i, out, 2), 0);
  assert_int_equal(i, 1);
  ei_x_new(&x); /* [Pid, atom] */
  ei_x_encode_list_header(&x, 2);
  ei_x_encode_pid(&x, &a);
  ei_x_encode_atom(&x, "x");
  ei_x_encode_empty_list(&x);
  i = 0;
  assert_int_equal(phc__term_pids(x.buff, &i, out, 2), PHC_EDECODE);
  assert_int_equal(i, 0);
  ei_x_free(&x);
  ei_x_new(&x); /* [Pid | Pid] */
  ei_x_encode_list_header(&x, 1);
  ei_x_encode_pid(&x, &a);
  ei_x_encode_pid(&x, &b);
  assert_int_equal(phc__term_pids(x.buff, &i, out, 2), PHC_EDECODE);
  ei_x_free(&x);
  assert_int_equal(phc__term_pids("\x77\x01x", &i, out, 2), PHC_EDECODE);
  assert_int_equal(phc__term_pids("\x6b\x00\x01x", &i, out, 2), PHC_EDECODE);
}

/* ---- copies ---------------------------------------------------------- */

/* phc__term_check: exactly one term after its version byte, nothing else
 * (control terms and payloads in ctrl.c, messages handed to phc_send). */
static void test_check(void **state) {
  (void)state;
  ei_x_buff x;
  ei_x_new_with_version(&x);
  ei_x_format_wo_ver(&x, "{ok, [1, 2], \"str\", abc}");
  int n = x.index;
  char *b = malloc((size_t)n + 1);
  memcpy(b, x.buff, (size_t)n);
  ei_x_free(&x);
  assert_int_equal(phc__term_check(b, n), 0);
  for (int k = 0; k < n; k++) /* every truncation */
    assert_int_equal(phc__term_check(b, k), PHC_EDECODE);
  b[n] = 106; /* a byte left over */
  assert_int_equal(phc__term_check(b, n + 1), PHC_EDECODE);
  b[0] = 104; /* no version byte */
  assert_int_equal(phc__term_check(b, n), PHC_EDECODE);
  free(b);
  assert_int_equal(phc__term_check(NULL, 4), PHC_EDECODE);
  const char cached[] = {(char)131, 82, 0}; /* ATOM_CACHE_REF: refused */
  assert_int_equal(phc__term_check(cached, sizeof cached), PHC_EDECODE);
  const char nil[] = {(char)131, 106};
  assert_int_equal(phc__term_check(nil, sizeof nil), 0);
}

static void test_copies(void **state) {
  (void)state;
  char *d = phc__term_dup("abc", 3);
  assert_memory_equal(d, "abc", 3);
  free(d);
  d = phc__term_dup(NULL, 0);
  assert_non_null(d);
  free(d);
  int n;
  char *v = phc__term_with_version("\x61\x05", 2, &n);
  assert_int_equal(n, 3);
  assert_memory_equal(v, "\x83\x61\x05", 3);
  const char *body;
  int blen;
  phc__term_body(v, n, &body, &blen);
  assert_ptr_equal(body, v + 1);
  assert_int_equal(blen, 2);
  phc__term_body(v + 1, 2, &body, &blen);
  assert_ptr_equal(body, v + 1);
  assert_int_equal(blen, 2);
  free(v);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_tag_as_ei),
      cmocka_unit_test(test_fixtures),
      cmocka_unit_test(test_real_terms),
      cmocka_unit_test(test_refused_tags),
      cmocka_unit_test(test_counts_beyond_buffer),
      cmocka_unit_test(test_depth_limit),
      cmocka_unit_test(test_funs),
      cmocka_unit_test(test_atoms),
      cmocka_unit_test(test_map_and_kw),
      cmocka_unit_test(test_pids),
      cmocka_unit_test(test_check),
      cmocka_unit_test(test_copies),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
