/* test_dsup.c - DistributedSupervisor membership: the ring against
 * libring's HashRing (test/fixtures/dsup/ring.tsv from OTP 25 and
 * ring_otp27.tsv from OTP 27: nodes in the order added, the key as
 * term_to_binary hex, HashRing.key_to_node), and the
 * supervisor's answers on a node fixture. */
#include "proc_fixture.h"

#include "children/children.h"
#include "common.h"
#include "dsup/dsup.h"
#include "dsup/ring.h"
#include "otp/otp.h"
#include "otp/otp_int.h"
#include "term/enc.h"
#include "term/parse.h"
#include "term/term.h"

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

static phc__dring_t *ring_of(char *csv, phc__etf_enc_t enc) {
  phc__dring_t *r = phc__dring_new(enc);
  for (char *save, *s = strtok_r(csv, ",", &save); s;
       s = strtok_r(NULL, ",", &save))
    assert_int_equal(phc__dring_add(r, s), 0);
  return r;
}

static void ring_check_file(const char *file, phc__etf_enc_t enc) {
  size_t len;
  char *text = phc_test_read_file(file, &len);
  assert_non_null(text);
  int rows = 0, bad = 0;
  char *save;
  for (char *line = strtok_r(text, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save)) {
    char nodes[1024], hex[1024], want[256], key[512];
    if (sscanf(line, "%1023s %1023s %255s", nodes, hex, want) != 3) continue;
    int n = unhex(hex, key, sizeof key);
    phc__dring_t *r = ring_of(nodes, enc);
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

/* ring.tsv was captured on OTP 25, ring_otp27.tsv on OTP 27.3 (62 of its
 * 260 placements differ: atom keys encode as UTF-8 there). */
static void test_ring_vectors(void **st) {
  (void)st;
  ring_check_file(FIX "ring.tsv", PHC__ETF_OTP25);
  ring_check_file(FIX "ring_otp27.tsv", PHC__ETF_OTP26);
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
  for (int i = 0; i < 50; i++) {      /* without a@h, every key goes to b@h */
    ei_x_buff k2;
    const char *o;
    phc__x_new(&k2);
    phc__x_long(&k2, i);
    assert_int_equal(
        phc__dring_node_for_skip(r, k2.buff, k2.index, 0, "a@h", &o), 0);
    assert_string_equal(o, "b@h");
    ei_x_free(&k2);
  }
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

/* ---- the member, on a node fixture --------------------------------------- */

typedef struct dterm_s {
  char b[4096];
  int len;
} dterm_t;

static int keep(void *arg, const char *term, int len) {
  dterm_t *t = arg;
  assert_true(len <= (int)sizeof t->b);
  memcpy(t->b, term, (size_t)len);
  t->len = len;
  return 0;
}

/* Run m:f(args) (args as text); the result as text, *exited for exit. */
static int run(fx_t *f, const char *m, const char *fn, const char *args,
               char *out, size_t size, int *exited) {
  dterm_t a = {0};
  char err[64];
  assert_int_equal(
      phc__parse_terms(args, strlen(args), keep, &a, err, sizeof err), 0);
  ei_x_buff r;
  int rc = phc__otp_run_native(&f->node, NULL, m, fn, a.b + 1, a.len - 1, &r);
  if (exited) *exited = f->node.otp->raised_exit;
  char *s = NULL;
  int i = 1;
  assert_true(ei_s_print_term(&s, r.buff, &i) >= 0);
  snprintf(out, size, "%s", s);
  free(s);
  ei_x_free(&r);
  fx_drain(f);
  return rc;
}

static int starts, stops;
static void on_start(phc_node_t *n, const char *name, const char *id,
                     int id_len, const phc_pid_t *pid, void *arg) {
  (void)n, (void)id, (void)id_len, (void)pid, (void)arg;
  assert_string_equal(name, "Elixir.Bar.DS");
  starts++;
}
static void on_stop(phc_node_t *n, const char *name, const char *id, int id_len,
                    const phc_pid_t *pid, void *arg) {
  (void)n, (void)name, (void)id, (void)id_len, (void)pid, (void)arg;
  stops++;
}

static fx_t *member_fx(void) {
  fx_t *f = fx_new();
  assert_int_equal(phc__otp_init(&f->node), 0);
  assert_int_equal(phc__children_register(&f->node), 0);
  assert_int_equal(phc_dsup_start(&f->node, "Bar.DS"), 0);
  assert_int_equal(phc_dsup_start(&f->node, "Elixir.Bar.DS"), PHC_EEXIST);
  phc_dsup_listener_t l = {.on_process_start = on_start,
                           .on_process_stop = on_stop};
  assert_int_equal(phc_dsup_listen(&f->node, "Bar.DS", &l), 0);
  fx_drain(f);
  return f;
}

static void member_free(fx_t *f) {
  phc__dsups_free(&f->node);
  fx_drain(f);
  phc__otp_close(&f->node);
  fx_free(f);
}

#define DSN "Elixir.DistributedSupervisor"
#define SPEC(k, v)                                                             \
  "['Elixir.Bar.DS.DynamicSupervisor', #{id => " k ", start => "               \
  "{phc_counter, start_link, [[{name, {via, "                                  \
  "'Elixir.DistributedSupervisor.Registry', {'Elixir.Bar.DS', " k "}}}, "      \
  "{value, " v "}]]}, restart => permanent}]."

static void test_member_start(void **st) {
  (void)st;
  fx_t *f = member_fx();
  char out[4096], pid[128];
  int ex = 0;
  assert_int_equal(
      run(f, DSN, "nodes", "['Elixir.Bar.DS'].", out, sizeof out, NULL), 0);
  assert_string_equal(out, "['" FX_NODE "']");
  starts = stops = 0;
  assert_int_equal(run(f, "Elixir.DynamicSupervisor", "start_child",
                       SPEC("k1", "7"), out, sizeof out, NULL),
                   0);
  assert_true(strncmp(out, "{ok, <", 6) == 0);
  assert_int_equal(starts, 1);
  snprintf(pid, sizeof pid, "%.*s", (int)(strchr(out, '>') - out - 4), out + 5);
  /* the name is taken */
  run(f, "Elixir.DynamicSupervisor", "start_child", SPEC("k1", "8"), out,
      sizeof out, NULL);
  assert_true(strncmp(out, "{error, {already_started, <", 27) == 0);
  run(f, DSN, "whereis", "['Elixir.Bar.DS', k1].", out, sizeof out, NULL);
  assert_string_equal(out, pid);
  run(f, DSN, "whereis", "['Elixir.Bar.DS', k2].", out, sizeof out, NULL);
  assert_string_equal(out, "undefined");
  run(f, DSN, "mine?", "['Elixir.Bar.DS', k1].", out, sizeof out, NULL);
  assert_string_equal(out, "true");
  run(f, DSN, "children", "['Elixir.Bar.DS'].", out, sizeof out, NULL);
  assert_non_null(strstr(out, "{phc_counter, start_link, [[{name,"));
  assert_non_null(strstr(out, "shutdown => 5000"));
  run(f, DSN, "local_children", "['Elixir.Bar.DS'].", out, sizeof out, NULL);
  assert_true(strncmp(out, "[<", 2) == 0);
  run(f, "Elixir.DynamicSupervisor", "count_children",
      "['Elixir.Bar.DS.DynamicSupervisor'].", out, sizeof out, NULL);
  assert_non_null(strstr(out, "active => 1"));
  run(f, "Elixir.DynamicSupervisor", "which_children",
      "['Elixir.Bar.DS.DynamicSupervisor'].", out, sizeof out, NULL);
  assert_non_null(strstr(out, "worker, [phc_counter]}]"));
  run(f, DSN, "dynamic_supervisor_status", "['Elixir.Bar.DS'].", out,
      sizeof out, NULL);
  assert_true(strncmp(out, "{status, <", 10) == 0);
  assert_non_null(strstr(out, "'Elixir.Supervisor.Default'"));
  assert_non_null(strstr(out, "'Elixir.DynamicSupervisor'"));
  member_free(f);
  (void)ex;
}

static void test_member_errors(void **st) {
  (void)st;
  fx_t *f = member_fx();
  char out[4096];
  int ex = 0;
  /* a name phc does not run: the GenServer call's noproc exit */
  assert_true(run(f, DSN, "nodes", "['Elixir.Other'].", out, sizeof out, &ex) <
              0);
  assert_int_equal(ex, 1);
  assert_non_null(strstr(out, "noproc"));
  assert_non_null(strstr(out, "'Elixir.Other.Registry'"));
  /* a module that is not a C child type */
  run(f, "Elixir.DynamicSupervisor", "start_child",
      "['Elixir.Bar.DS.DynamicSupervisor', #{id => x, start => {no_such, "
      "start_link, []}}].",
      out, sizeof out, NULL);
  assert_string_equal(out, "{error, {not_a_phc_child_type, no_such}}");
  /* a via name of another supervisor */
  run(f, "Elixir.DynamicSupervisor", "start_child",
      "['Elixir.Bar.DS.DynamicSupervisor', #{id => x, start => {phc_counter, "
      "start_link, [[{name, {via, 'Elixir.DistributedSupervisor.Registry', "
      "{'Elixir.Other', k}}}]]}}].",
      out, sizeof out, NULL);
  assert_true(strncmp(out, "{error, {invalid_child_spec", 27) == 0);
  run(f, "Elixir.DynamicSupervisor", "terminate_child",
      "['Elixir.Bar.DS.DynamicSupervisor', self].", out, sizeof out, NULL);
  assert_string_equal(out, "{error, not_found}");
  member_free(f);
}

static void test_member_terminate(void **st) {
  (void)st;
  fx_t *f = member_fx();
  char out[4096];
  dterm_t a = {0};
  char err[64];
  const char *spec = SPEC("k9", "1");
  assert_int_equal(
      phc__parse_terms(spec, strlen(spec), keep, &a, err, sizeof err), 0);
  ei_x_buff r;
  assert_int_equal(phc__otp_run_native(&f->node, NULL,
                                       "Elixir.DynamicSupervisor",
                                       "start_child", a.b + 1, a.len - 1, &r),
                   0);
  fx_drain(f);
  int idx = 1, arity;
  erlang_pid pid;
  assert_int_equal(ei_decode_tuple_header(r.buff, &idx, &arity), 0);
  assert_int_equal(ei_skip_term(r.buff, &idx), 0);
  assert_int_equal(ei_decode_pid(r.buff, &idx, &pid), 0);
  ei_x_free(&r);
  ei_x_buff args;
  phc__x_new(&args);
  phc__x_list_header(&args, 1);
  phc__x_pid(&args, &pid);
  phc__x_empty_list(&args);
  assert_int_equal(phc__otp_run_native(&f->node, NULL, "Elixir.Process",
                                       "alive?", args.buff, args.index, &r),
                   0);
  assert_true(phc__term_is_atom(r.buff, r.index, "true"));
  ei_x_free(&r);
  ei_x_free(&args);
  phc__x_new(&args);
  phc__x_list_header(&args, 2);
  phc__x_atom(&args, "Elixir.Bar.DS.DynamicSupervisor");
  phc__x_pid(&args, &pid);
  phc__x_empty_list(&args);
  stops = 0;
  assert_int_equal(
      phc__otp_run_native(&f->node, NULL, "Elixir.DynamicSupervisor",
                          "terminate_child", args.buff, args.index, &r),
      0);
  assert_true(phc__term_is_atom(r.buff, r.index, "ok"));
  ei_x_free(&r);
  fx_drain(f);
  assert_int_equal(stops, 1);
  assert_null(phc_proc_lookup(&f->node, &pid));
  run(f, DSN, "whereis", "['Elixir.Bar.DS', k9].", out, sizeof out, NULL);
  assert_string_equal(out, "undefined");
  run(f, DSN, "children", "['Elixir.Bar.DS'].", out, sizeof out, NULL);
  assert_string_equal(out, "#{}");
  ei_x_free(&args);
  member_free(f);
}

/* A nodeup makes the Registry add the node and ask its release over rex;
 * the answer "26" switches atom keys to OTP 26's encoding. */
static void test_member_release(void **st) {
  (void)st;
  fx_t *f = member_fx();
  phc_pid_t reg;
  char out[256];
  assert_int_equal(phc_whereis(&f->node, "Elixir.Bar.DS.Registry", &reg), 0);
  ei_x_buff m;
  phc__x_new_with_version(&m);
  phc__x_tuple_header(&m, 2);
  phc__x_atom(&m, "nodeup");
  phc__x_atom(&m, "peer@127.0.0.1");
  assert_int_equal(phc_send(&f->node, NULL, &reg, m.buff, m.index), 0);
  ei_x_free(&m);
  fx_drain(f);
  run(f, DSN, "nodes", "['Elixir.Bar.DS'].", out, sizeof out, NULL);
  assert_string_equal(out, "['peer@127.0.0.1', '" FX_NODE "']");
  rec_call_t *c = fx_last(f, R_SEND_NAME);
  assert_non_null(c);
  assert_string_equal(c->name, "rex");
  assert_string_equal(c->node, "peer@127.0.0.1");
  int idx = 1, arity, tag;
  erlang_pid from;
  assert_int_equal(ei_decode_tuple_header(c->buf, &idx, &arity), 0);
  assert_int_equal(ei_skip_term(c->buf, &idx), 0);
  assert_int_equal(ei_decode_tuple_header(c->buf, &idx, &arity), 0);
  assert_int_equal(ei_decode_pid(c->buf, &idx, &from), 0);
  tag = idx;
  assert_int_equal(ei_skip_term(c->buf, &idx), 0);
  assert_non_null(
      memmem(c->buf + idx, (size_t)(c->len - idx), "otp_release", 11));
  /* keys that place differently under the two encodings */
  phc__dring_t *r25 = phc__dring_new(PHC__ETF_OTP25);
  phc__dring_t *r26 = phc__dring_new(PHC__ETF_OTP26);
  const char *nodes[] = {FX_NODE, "peer@127.0.0.1"};
  for (int i = 0; i < 2; i++) {
    phc__dring_add(r25, nodes[i]);
    phc__dring_add(r26, nodes[i]);
  }
  char key[32] = "";
  const char *n25 = NULL, *n26 = NULL;
  for (int i = 0; i < 200 && !key[0]; i++) {
    ei_x_buff k;
    phc__x_new(&k);
    snprintf(out, sizeof out, "key_%d", i);
    phc__x_atom(&k, out);
    phc__dring_node_for(r25, k.buff, k.index, 0, &n25);
    phc__dring_node_for(r26, k.buff, k.index, 0, &n26);
    if (strcmp(n25, n26) != 0) snprintf(key, sizeof key, "%s", out);
    ei_x_free(&k);
  }
  assert_true(key[0]);
  char args[128], before[256];
  snprintf(args, sizeof args, "['Elixir.Bar.DS', %s].", key);
  run(f, DSN, "node_for", args, before, sizeof before, NULL);
  /* the peer answers {Tag, "26"} */
  phc__x_new_with_version(&m);
  phc__x_tuple_header(&m, 2);
  phc__x_append_buf(&m, c->buf + tag, idx - tag);
  phc__x_ok(ei_x_encode_string(&m, "26"));
  assert_int_equal(phc_send(&f->node, NULL, &reg, m.buff, m.index), 0);
  ei_x_free(&m);
  fx_drain(f);
  run(f, DSN, "node_for", args, out, sizeof out, NULL);
  assert_string_not_equal(out, before);
  phc__dring_free(r25);
  phc__dring_free(r26);
  member_free(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ring_vectors),
      cmocka_unit_test(test_ring_nodes),
      cmocka_unit_test(test_member_start),
      cmocka_unit_test(test_member_errors),
      cmocka_unit_test(test_member_terminate),
      cmocka_unit_test(test_member_release),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
