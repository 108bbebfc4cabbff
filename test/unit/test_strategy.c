/* test_strategy.c - the hub's strategy seam (c_src/hub/strategy): the
 * tables by module name, a hub's strategies set and closed, and each
 * default: ConsistentHashing against the golden ring vectors
 * (test/fixtures/ring), Singularity, ColdSwap, PubSub and Divergence, the
 * last three on the hub test node (hub_fixture.h) and its recorder. */
#include "hub_fixture.h"

#define FIX "../fixtures/ring/"

static const struct {
  phc__strat_kind_t kind;
  const char *module;
} defaults[] = {
    {PHC__STRAT_DISTRIBUTION,
     "Elixir.ProcessHub.Strategy.Distribution.ConsistentHashing"},
    {PHC__STRAT_REDUNDANCY,
     "Elixir.ProcessHub.Strategy.Redundancy.Singularity"},
    {PHC__STRAT_MIGRATION, "Elixir.ProcessHub.Strategy.Migration.ColdSwap"},
    {PHC__STRAT_SYNCHRONIZATION,
     "Elixir.ProcessHub.Strategy.Synchronization.PubSub"},
    {PHC__STRAT_PARTITION,
     "Elixir.ProcessHub.Strategy.PartitionTolerance.Divergence"}};

/* A hub struct with no node around it: enough for the strategies that
 * only read its nodes and ring. */
static phc_hub_t *bare_hub(phc__ring_enc_t enc, const char *node) {
  phc_hub_t *h = calloc(1, sizeof *h);
  assert_non_null(h);
  phc__ring_init(&h->ring, enc);
  if (node) {
    snprintf(h->nodes[0], PHC__ATOM_MAX, "%s", node);
    h->nnodes = 1;
  }
  return h;
}

#define DIST(s) ((const phc__strat_dist_t *)(s)->table[PHC__STRAT_DISTRIBUTION])

/* ---- the tables ---------------------------------------------------------- */

static void test_find_and_default(void **state) {
  (void)state;
  for (size_t i = 0; i < PHC__ARRAY_LEN(defaults); i++) {
    const phc__strat_base_t *t = phc__strat_default(defaults[i].kind);
    assert_non_null(t);
    assert_int_equal(t->kind, defaults[i].kind);
    assert_string_equal(t->module, defaults[i].module);
    assert_non_null(t->init);
    assert_ptr_equal(phc__strat_find(defaults[i].kind, defaults[i].module), t);
    /* the name is looked up within its kind only */
    phc__strat_kind_t other = (defaults[i].kind + 1) % PHC__STRAT_KINDS;
    assert_null(phc__strat_find(other, defaults[i].module));
    assert_null(phc__strat_find(defaults[i].kind,
                                "Elixir.ProcessHub.Strategy.Distribution."
                                "Nope"));
    assert_null(phc__strat_find(defaults[i].kind, "Elixir.Nope"));
    assert_null(phc__strat_find(defaults[i].kind, ""));
    assert_null(phc__strat_find(defaults[i].kind, NULL));
  }
  assert_null(phc__strat_default(PHC__STRAT_KINDS));
  assert_null(phc__strat_find(PHC__STRAT_KINDS, defaults[0].module));
  /* each table fills the callbacks of its protocol */
  const phc__strat_dist_t *d =
      (const void *)phc__strat_default(PHC__STRAT_DISTRIBUTION);
  assert_non_null(d->belongs_to);
  assert_null(d->children_init); /* ConsistentHashing: always :ok */
  assert_non_null(d->base.node_join);
  assert_non_null(d->base.node_leave);
  const phc__strat_red_t *r =
      (const void *)phc__strat_default(PHC__STRAT_REDUNDANCY);
  assert_non_null(r->replication_factor);
  assert_non_null(r->master_node);
  const phc__strat_sync_t *y =
      (const void *)phc__strat_default(PHC__STRAT_SYNCHRONIZATION);
  assert_non_null(y->propagate);
  assert_non_null(y->init_sync);
  assert_non_null(y->handle_synchronization);
}

/* ---- one hub's strategies ------------------------------------------------ */

static void test_set_and_close(void **state) {
  (void)state;
  phc_hub_t *h = bare_hub(PHC_RING_OTP25, "a@h");
  phc__strategies_t s;
  memset(&s, 0, sizeof s);
  for (int k = 0; k < PHC__STRAT_KINDS; k++) {
    assert_int_equal(phc__strategies_set(h, &s, k, NULL, NULL, 0), 0);
    assert_ptr_equal(s.table[k], phc__strat_default(k));
    assert_null(s.state[k]); /* the defaults keep no state */
  }
  /* ConsistentHashing's init filled the ring with the hub's nodes */
  assert_int_equal(h->ring.n_nodes, 1);
  assert_string_equal(h->ring.nodes[0], "a@h");
  /* a table of another kind, or no kind at all, is refused */
  const phc__strat_base_t *sing = phc__strat_default(PHC__STRAT_REDUNDANCY);
  assert_int_equal(
      phc__strategies_set(h, &s, PHC__STRAT_MIGRATION, sing, NULL, 0),
      PHC_EINVAL);
  assert_ptr_equal(s.table[PHC__STRAT_MIGRATION],
                   phc__strat_default(PHC__STRAT_MIGRATION));
  assert_int_equal(phc__strategies_set(h, &s, PHC__STRAT_KINDS, NULL, NULL, 0),
                   PHC_EINVAL);
  /* options: none, or empty ones, are the defaults */
  ei_x_buff o = hx_term("[]");
  assert_int_equal(
      phc__strategies_set(h, &s, PHC__STRAT_REDUNDANCY, NULL, o.buff, 1), 0);
  ei_x_free(&o);
  o = hx_term("#{'__struct__' => 'Elixir.ProcessHub.Strategy.Redundancy."
              "Singularity'}");
  assert_int_equal(
      phc__strategies_set(h, &s, PHC__STRAT_REDUNDANCY, sing, o.buff, 1), 0);
  assert_ptr_equal(s.table[PHC__STRAT_REDUNDANCY], sing);
  ei_x_free(&o);
  /* an option the strategy does not have: the kind is left unset */
  o = hx_term("[{replication_factor, 3}]");
  assert_int_equal(
      phc__strategies_set(h, &s, PHC__STRAT_REDUNDANCY, NULL, o.buff, 1),
      PHC_EINVAL);
  ei_x_free(&o);
  assert_null(s.table[PHC__STRAT_REDUNDANCY]);
  const char *owners[4];
  assert_int_equal(phc__strat_belongs_to(h, &s, "\x64\x00\x01x", 4, owners, 4),
                   PHC_ESTATE);
  assert_int_equal(phc__strat_replication_factor(h, &s), PHC_ESTATE);
  /* setting ConsistentHashing again rebuilds the ring from the nodes */
  phc__strategies_node_join(h, &s, "b@h");
  assert_int_equal(h->ring.n_nodes, 2);
  assert_int_equal(
      phc__strategies_set(h, &s, PHC__STRAT_DISTRIBUTION, NULL, NULL, 0), 0);
  assert_int_equal(h->ring.n_nodes, 1);
  phc__strategies_close(h, &s);
  for (int k = 0; k < PHC__STRAT_KINDS; k++) {
    assert_null(s.table[k]);
    assert_null(s.state[k]);
  }
  assert_int_equal(h->ring.n_nodes, 0); /* close freed the ring */
  assert_null(h->ring.vnodes);
  phc__strategies_close(h, &s); /* twice: nothing left to close */
  free(h);
}

/* ---- ConsistentHashing ----------------------------------------------- */

/* "..." with \\ and \" escapes. */
static int unquote(const char *s, char *out, size_t max) {
  size_t n = 0;
  if (*s++ != '"') return PHC_EINVAL;
  while (*s && *s != '"' && n + 1 < max) {
    if (*s == '\\' && s[1]) s++;
    out[n++] = *s++;
  }
  out[n] = 0;
  return *s == '"' && s[1] == 0 ? (int)n : PHC_EINVAL;
}

/* A golden child id (bin:"..", atom:"..", int:N) encoded as it arrives,
 * no version byte; 0 for the term:... rows, which test_ring covers. */
static int golden_cid(const char *spec, ei_x_buff *x) {
  char tmp[512];
  int n;
  ei_x_new(x);
  if (!strncmp(spec, "bin:", 4)) {
    assert_true((n = unquote(spec + 4, tmp, sizeof tmp)) >= 0);
    ei_x_encode_binary(x, tmp, n);
  } else if (!strncmp(spec, "atom:", 5)) {
    assert_true((n = unquote(spec + 5, tmp, sizeof tmp)) >= 0);
    ei_x_encode_atom_len_as(x, tmp, n, ERLANG_UTF8, ERLANG_UTF8);
  } else if (!strncmp(spec, "int:", 4)) {
    ei_x_encode_longlong(x, strtoll(spec + 4, NULL, 10));
  } else {
    ei_x_free(x);
    return 0;
  }
  return 1;
}

/* The hub's nodes become the row's set, through node_leave / node_join. */
static void set_nodes(phc_hub_t *h, phc__strategies_t *s, const char *list) {
  char copy[1024], *save = NULL;
  while (h->ring.n_nodes) {
    char *gone = phc__xstrdup(h->ring.nodes[0]);
    phc__strategies_node_leave(h, s, gone);
    free(gone);
  }
  snprintf(copy, sizeof copy, "%s", list);
  for (char *t = strtok_r(copy, ";", &save); t; t = strtok_r(NULL, ";", &save))
    phc__strategies_node_join(h, s, t);
}

/* Every bin/atom/int row: belongs_to equals the expected owners and the
 * ring's own answer; rows with rf 1 go through phc__strat_belongs_to
 * (Singularity's factor) too. Returns the rows checked. */
static int check_golden(const char *path, phc__ring_enc_t enc) {
  size_t flen = 0;
  char *data = phc_test_read_file(path, &flen), *save = NULL;
  assert_non_null(data);
  phc_hub_t *h = bare_hub(enc, NULL);
  phc__strategies_t s;
  memset(&s, 0, sizeof s);
  for (int k = 0; k < PHC__STRAT_KINDS; k++)
    assert_int_equal(phc__strategies_set(h, &s, k, NULL, NULL, 0), 0);
  char cur[1024] = "";
  int rows = 0;
  strtok_r(data, "\n", &save); /* header */
  for (char *l = strtok_r(NULL, "\n", &save); l;
       l = strtok_r(NULL, "\n", &save)) {
    char *f[6];
    int nf = 0;
    for (char *p = l; nf < 6 && p; nf++) {
      f[nf] = p;
      if ((p = strchr(p, '\t')) != NULL) *p++ = 0;
    }
    assert_int_equal(nf, 6);
    ei_x_buff cid;
    if (!golden_cid(f[1], &cid)) continue;
    if (strcmp(cur, f[0]) != 0) {
      set_nodes(h, &s, f[0]);
      snprintf(cur, sizeof cur, "%s", f[0]);
    }
    const char *got[8], *ring[8];
    int rf = atoi(f[2]);
    int n = DIST(&s)->belongs_to(h, NULL, cid.buff, cid.index, rf, got, 8);
    char joined[1024] = "";
    for (int i = 0; i < n; i++)
      snprintf(joined + strlen(joined), sizeof joined - strlen(joined), "%s%s",
               i ? ";" : "", got[i]);
    if (strcmp(joined, f[3]) != 0)
      fail_msg("%s %s rf %d: %s != %s", f[0], f[1], rf, joined, f[3]);
    ei_x_buff term;
    ei_x_new_with_version(&term);
    ei_x_append_buf(&term, cid.buff, cid.index);
    assert_int_equal(
        phc__ring_owners(&h->ring, term.buff, term.index, ring, rf), n);
    for (int i = 0; i < n; i++)
      assert_ptr_equal(got[i], ring[i]);
    if (rf == 1) {
      assert_int_equal(
          phc__strat_belongs_to(h, &s, cid.buff, cid.index, got, 8), 1);
      assert_ptr_equal(got[0], ring[0]);
    }
    /* max bounds the answer */
    assert_int_equal(
        DIST(&s)->belongs_to(h, NULL, cid.buff, cid.index, rf, got, 1), 1);
    assert_ptr_equal(got[0], ring[0]);
    ei_x_free(&term);
    ei_x_free(&cid);
    rows++;
  }
  phc__strategies_close(h, &s);
  free(h);
  free(data);
  return rows;
}

static void test_consistent_hashing_golden(void **state) {
  (void)state;
  int a = check_golden(FIX "ring_vectors.tsv", PHC_RING_OTP25);
  int b = check_golden(FIX "ring_vectors_otp26_emulated.tsv", PHC_RING_OTP26);
  printf("ring vectors: %d + %d rows checked\n", a, b);
  assert_int_equal(a, 8229); /* 8307 rows less the 78 term: ones */
  assert_int_equal(b, 8229);
}

static void test_consistent_hashing_limits(void **state) {
  (void)state;
  phc_hub_t *h = bare_hub(PHC_RING_OTP25, "a@h");
  phc__strategies_t s;
  memset(&s, 0, sizeof s);
  assert_int_equal(
      phc__strategies_set(h, &s, PHC__STRAT_DISTRIBUTION, NULL, NULL, 0), 0);
  const char *o[2];
  /* ids of 1024 bytes or more are not hashed; 1023 bytes still are */
  char *big = calloc(1, 1024);
  big[0] = (char)PHC__TAG_BINARY;
  big[3] = (char)(1018 >> 8); /* <<0:1018/unit:8>>: 5 + 1018 bytes */
  big[4] = (char)(1018 & 255);
  assert_int_equal(DIST(&s)->belongs_to(h, NULL, big, 1024, 1, o, 2),
                   PHC_ELIMIT);
  assert_int_equal(DIST(&s)->belongs_to(h, NULL, big, 1023, 1, o, 2), 1);
  assert_string_equal(o[0], "a@h");
  free(big);
  /* an id that is no term is refused by the ring */
  assert_true(DIST(&s)->belongs_to(h, NULL, "\xff", 1, 1, o, 2) < 0);
  /* rf 0 or an empty ring: no owner */
  assert_int_equal(DIST(&s)->belongs_to(h, NULL, "\x6a", 1, 0, o, 2), 0);
  phc__strategies_node_leave(h, &s, "a@h");
  assert_int_equal(DIST(&s)->belongs_to(h, NULL, "\x6a", 1, 1, o, 2), 0);
  phc__strategies_close(h, &s);
  free(h);
}

/* ---- Singularity and Divergence ------------------------------------------ */

static void test_singularity(void **state) {
  (void)state;
  phc_hub_t *h = bare_hub(PHC_RING_OTP25, "a@h");
  phc__strategies_t s;
  memset(&s, 0, sizeof s);
  assert_int_equal(
      phc__strategies_set(h, &s, PHC__STRAT_REDUNDANCY, NULL, NULL, 0), 0);
  assert_int_equal(phc__strat_replication_factor(h, &s), 1);
  const phc__strat_red_t *r = (const void *)s.table[PHC__STRAT_REDUNDANCY];
  const char *nodes[] = {"b@h", "a@h", "c@h"};
  assert_string_equal(r->master_node(h, NULL, "\x6a", 1, nodes, 3), "b@h");
  assert_string_equal(r->master_node(h, NULL, "\x6a", 1, nodes + 2, 1), "c@h");
  assert_null(r->master_node(h, NULL, "\x6a", 1, nodes, 0));
  phc__strategies_close(h, &s);
  free(h);
}

static void test_divergence_never_locks(void **state) {
  (void)state;
  phc_hub_t *h = bare_hub(PHC_RING_OTP25, "a@h");
  phc__strategies_t s;
  memset(&s, 0, sizeof s);
  assert_int_equal(
      phc__strategies_set(h, &s, PHC__STRAT_PARTITION, NULL, NULL, 0), 0);
  const char *nodes[] = {"a@h", "b@h", "zzz@elsewhere"};
  for (size_t i = 0; i < PHC__ARRAY_LEN(nodes); i++) {
    assert_int_equal(phc__strat_toggle_lock(h, &s, nodes[i]), 0);
    assert_int_equal(phc__strat_toggle_unlock(h, &s, nodes[i]), 0);
  }
  phc__strategies_close(h, &s);
  free(h);
}

/* A partition strategy that always locks: the hub's NodeDown keeps the
 * hub locked (with Divergence it unlocks; see test_hub). */
static int always(phc_hub_t *h, void *st, const char *node) {
  (void)h, (void)st, (void)node;
  return 1;
}
static int no_opts(phc_hub_t *h, void *st, const char *buf, int idx) {
  (void)h, (void)st;
  return phc__strat_no_opts(buf, idx);
}
static const phc__strat_part_t lock_always = {
    .base = {.kind = PHC__STRAT_PARTITION,
             .module = "Test.LockAlways",
             .init = no_opts},
    .toggle_lock = always,
    .toggle_unlock = always};

static void test_node_down_asks_partition(void **state) {
  (void)state;
  hx_t *x = hx_new();
  hx_feed(x, "cluster_join");
  assert_int_equal(x->h->locked, 0);
  assert_int_equal(phc__strategies_set(x->h, &x->h->strat, PHC__STRAT_PARTITION,
                                       &lock_always.base, NULL, 0),
                   0);
  ei_x_buff m = hx_term("{nodedown, 'ph1@127.0.0.1'}");
  hx_to_coord(x, m.buff, m.index);
  ei_x_free(&m);
  assert_int_equal(x->h->nnodes, 1);
  assert_false(phc__ring_has(&x->h->ring, HX_PH1));
  assert_int_equal(x->h->locked, 1);
  hx_free(x);
}

/* ---- PubSub ----------------------------------------------------------------
 */

/* ph3's coordinator (from the captured pg sync) is a member of every event
 * group; ph3 is not a hub node, so nothing goes out by name. */
static hx_t *hub_with_ph3(void) {
  hx_t *x = hx_new();
  hx_feed(x, "pg_sync_ph3");
  hx_rec_clear(x);
  return x;
}

/* The only recorded message: to ph3's coordinator, with this text. */
static void sent_to_ph3(hx_t *x, const char *text) {
  assert_int_equal(x->rec.n, 1);
  assert_int_equal(x->rec.m[0].op, HX_SEND);
  assert_string_equal(x->rec.m[0].to.node, HX_PH3);
  char *t = hx_text(x->rec.m[0].buf, 1);
  assert_string_equal(t, text);
  free(t);
}

static void test_pub_sub_propagate(void **state) {
  (void)state;
  hx_t *x = hub_with_ph3();
  phc__strategies_t *s = &x->h->strat;
  ei_x_buff c = hx_term("[#{cid => <<\"p-1\">>}]");
  ei_x_buff o = hx_term("[{members, external}, {reply_to, []}]");
  phc__strat_propagate(x->h, s, c.buff + 1, c.index - 1, HX_NODE,
                       PHC__STRAT_SYNC_ADD, o.buff + 1, o.index - 1);
  sent_to_ph3(x, "{children_registration_event,{[#{cid => "
                 "#Bin<112,45,49>}],'ph2@127.0.0.1',[{members,external},{reply_"
                 "to,[]}]}}");
  ei_x_free(&c);
  ei_x_free(&o);
  /* rem without opts: [] travels, members global (ph3 and ourselves) */
  hx_rec_clear(x);
  c = hx_term("[{<<\"p-1\">>, ok, 'ph2@127.0.0.1'}]");
  phc__strat_propagate(x->h, s, c.buff + 1, c.index - 1, HX_NODE,
                       PHC__STRAT_SYNC_REM, NULL, 0);
  hx_drain(x);
  sent_to_ph3(x,
              "{children_unregistration_event,{[{#Bin<112,45,49>,ok,'ph2@127."
              "0.0.1'}],'ph2@127.0.0.1',[]}}");
  /* members local: only our own coordinator, nothing leaves the node */
  hx_rec_clear(x);
  o = hx_term("[{members, local}]");
  phc__strat_propagate(x->h, s, c.buff + 1, c.index - 1, HX_NODE,
                       PHC__STRAT_SYNC_REM, o.buff + 1, o.index - 1);
  hx_drain(x);
  assert_int_equal(x->rec.n, 0);
  ei_x_free(&o);
  ei_x_free(&c);
  hx_free(x);
}

static int sync_hooks[2]; /* registry_pid_insert_hook, _remove_hook */

static int count_hook(void *arg, const char *key, const char *term, int len,
                      ei_x_buff *out) {
  (void)arg;
  (void)term;
  (void)len;
  (void)out;
  sync_hooks[strstr(key, "remove") != NULL]++;
  return 0;
}

static void test_pub_sub_sync(void **state) {
  (void)state;
  hx_t *x = hub_with_ph3();
  phc__strategies_t *s = &x->h->strat;
  /* init_sync: our (empty) local children to each hub member's rex, as
   * rpc:cast of Synchronizer.exec_interval_sync/4 (ph3 made a member) */
  snprintf(x->h->nodes[x->h->nnodes++], PHC__ATOM_MAX, "%s", HX_PH3);
  phc__strat_init_sync(x->h, s);
  assert_int_equal(x->rec.n, 1);
  assert_int_equal(x->rec.m[0].op, HX_SEND_NAME);
  assert_string_equal(x->rec.m[0].node, HX_PH3);
  assert_string_equal(x->rec.m[0].name, "rex");
  char *t = hx_text(x->rec.m[0].buf, 1);
  assert_string_equal(
      t, "{'$gen_cast',{cast,'Elixir.ProcessHub.Service.Synchronizer',"
         "exec_interval_sync,[lab,#{'__struct__' => "
         "'Elixir.ProcessHub.Strategy.Synchronization.PubSub',sync_interval "
         "=> 15000},[],'ph2@127.0.0.1'],user}}");
  free(t);
  /* handle_synchronization: ph1's rows appended, then detached from rows
   * ph1 no longer lists */
  ei_x_buff old = hx_bin_cid("gone");
  erlang_pid p9 = hx_pid(HX_PH1, 9);
  phc__reg_owner_t o1 = phc__reg_owner_make(HX_PH1, &p9);
  ei_x_buff spec = hx_term("#{id => <<\"gone\">>}"), meta = hx_term("#{}");
  phc__reg_insert(&x->h->reg, old.buff, old.index, spec.buff + 1,
                  spec.index - 1, meta.buff + 1, meta.index - 1, &o1, 1);
  erlang_pid p = hx_pid(HX_PH1, 77);
  ei_x_buff d2; /* [{#{id => <<"kept">>}, Pid, #{tag => <<"t">>}}] */
  ei_x_new(&d2);
  ei_x_encode_list_header(&d2, 1);
  ei_x_encode_tuple_header(&d2, 3);
  hx_append(&d2, "#{id => <<\"kept\">>}");
  ei_x_encode_pid(&d2, &p);
  hx_append(&d2, "#{tag => <<\"t\">>}");
  ei_x_encode_empty_list(&d2);
  /* Synchronizer's inserts and deletes fire the registry hooks */
  phc_hook_handler_t hk = {.id = "n", .fn = count_hook};
  phc_hub_register_hooks(x->h, "registry_pid_insert_hook", &hk, 1);
  phc_hub_register_hooks(x->h, "registry_pid_remove_hook", &hk, 1);
  sync_hooks[0] = sync_hooks[1] = 0;
  phc__strat_handle_sync(x->h, s, d2.buff, 0, HX_PH1);
  assert_int_equal(sync_hooks[0], 1); /* kept */
  assert_int_equal(sync_hooks[1], 1); /* gone */
  assert_null(hx_row(x, &old));
  ei_x_buff kept = hx_bin_cid("kept");
  phc__reg_row_t *row = hx_row(x, &kept);
  assert_non_null(row);
  assert_int_equal(row->nowners, 1);
  assert_string_equal(row->owners[0].node, HX_PH1);
  assert_true(phc__cpid_eq(&row->owners[0].pid, &p));
  assert_true(hx_has(row->meta, 0, "#{tag => #Bin<116>}"));
  assert_int_equal(hx_rows(x), 1);
  ei_x_free(&kept);
  ei_x_free(&d2);
  ei_x_free(&spec);
  ei_x_free(&meta);
  ei_x_free(&old);
  hx_free(x);
}

/* ---- ColdSwap ---------------------------------------------------------- */

static void test_cold_swap(void **state) {
  (void)state;
  hx_t *x = hx_new();
  hx_feed(x, "pg_sync_ph3");
  hx_feed(x, "start_children_echo"); /* w_3 and a binary id, here */
  ei_x_buff w3 = hx_atom_cid("w_3");
  erlang_pid pid;
  phc__cpid_get(&hx_row(x, &w3)->owners[0].pid, &pid);
  assert_non_null(phc_proc_lookup(&x->node, &pid));
  hx_rec_clear(x);
  phc__reg_row_t *rows[1] = {hx_row(x, &w3)};
  phc__strat_handle_migration(x->h, &x->h->strat, rows, 1, HX_PH3);
  hx_drain(x);
  /* stopped here without a self_exit, gone from our registry */
  assert_null(phc_proc_lookup(&x->node, &pid));
  assert_null(hx_row(x, &w3));
  assert_int_equal(hx_rows(x), 1);
  /* the unregistration through PubSub (global), then the migration */
  assert_int_equal(x->rec.n, 2);
  hx_msg_t *u = hx_find(x, "children_unregistration_event", 0);
  assert_ptr_equal(u, &x->rec.m[0]);
  assert_true(
      hx_has(u->buf, 1, "{[{w_3,ok,'ph2@127.0.0.1'}],'ph2@127.0.0.1',[]}"));
  hx_msg_t *m = hx_find(x, "migration_add_event", 0);
  assert_ptr_equal(m, &x->rec.m[1]);
  assert_string_equal(m->to.node, HX_PH3);
  assert_true(hx_has(m->buf, 1, "child_id => w_3"));
  assert_true(hx_has(m->buf, 1, "migration_add => true"));
  assert_true(hx_has(m->buf, 1, "nodes => ['ph3@127.0.0.1']"));
  assert_true(hx_has(m->buf, 1, "[{migration_add,true}]}}"));
  ei_x_free(&w3);
  hx_free(x);
}

int main(void) {
  phc_log_set_level(PHC_LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_find_and_default),
      cmocka_unit_test(test_set_and_close),
      cmocka_unit_test(test_consistent_hashing_golden),
      cmocka_unit_test(test_consistent_hashing_limits),
      cmocka_unit_test(test_singularity),
      cmocka_unit_test(test_divergence_never_locks),
      cmocka_unit_test(test_node_down_asks_partition),
      cmocka_unit_test(test_pub_sub_propagate),
      cmocka_unit_test(test_pub_sub_sync),
      cmocka_unit_test(test_cold_swap),
  };
  return cmocka_run_group_tests_name("strategy", tests, NULL, NULL);
}
