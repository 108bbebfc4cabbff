/* test_hub.c - the hub (c_src/hub): casts and blockade events decoded from
 * the captured interop messages (test/fixtures/hub), the start and stop
 * state machines, registry effects, and ProcessHub closure recognition.
 * The node is the traces' ph2@127.0.0.1 running hub "lab"; peers ph1 and
 * ph3 exist only as pids and names in the recorder. */
#include "hub/api_future.h"
#include "hub_fixture.h"
#include "otp/otp_int.h"
#include "term/enc.h"

/* A registry owner's pid as an erlang_pid (rows keep it compact). */
static const erlang_pid *owner_pid(const phc__reg_owner_t *o) {
  static erlang_pid p;
  phc__cpid_get(&o->pid, &p);
  return &p;
}

#define UNICODE_CID                                                            \
  "\xc3\xbcn\xc3\xaf"                                                          \
  "c\xc3\xb6"                                                                  \
  "d\xc3\xa9-\xe2\x9c\x93"

/* ---- decoding what the hub sent ------------------------------------------ */

/* In {collect_start_results, [{Cid, Result}], Node}: find Cid (encoded
 * term) and return the index of its Result, or -1. */
static int results_find(const hx_msg_t *m, const ei_x_buff *cid, int *node_ok) {
  int idx = 1, ar, n, found = -1;
  char a[PHC__ATOM_MAX];
  assert_int_equal(ei_decode_tuple_header(m->buf, &idx, &ar), 0);
  assert_int_equal(ar, 3);
  assert_int_equal(ei_decode_atom(m->buf, &idx, a), 0);
  assert_int_equal(ei_decode_list_header(m->buf, &idx, &n), 0);
  for (int i = 0; i < n; i++) {
    assert_int_equal(ei_decode_tuple_header(m->buf, &idx, &ar), 0);
    assert_int_equal(ar, 2);
    int c = idx;
    assert_int_equal(ei_skip_term(m->buf, &idx), 0);
    if (idx - c == cid->index &&
        !memcmp(m->buf + c, cid->buff, (size_t)(idx - c)))
      found = idx;
    assert_int_equal(ei_skip_term(m->buf, &idx), 0);
  }
  if (n) assert_int_equal(ei_skip_term(m->buf, &idx), 0); /* tail */
  assert_int_equal(ei_decode_atom(m->buf, &idx, a), 0);
  *node_ok = !strcmp(a, HX_NODE);
  return found;
}

/* Result {ok, Pid}: *pid set. */
static int result_ok(const char *buf, int idx, erlang_pid *pid) {
  int ar;
  char a[PHC__ATOM_MAX];
  return ei_decode_tuple_header(buf, &idx, &ar) == 0 && ar == 2 &&
         ei_decode_atom(buf, &idx, a) == 0 && !strcmp(a, "ok") &&
         ei_decode_pid(buf, &idx, pid) == 0;
}

/* Result {error, {Tag, X}}; *idx_x gets X's index. */
static int result_error(const char *buf, int idx, const char *tag, int *idx_x) {
  int ar;
  char a[PHC__ATOM_MAX];
  if (ei_decode_tuple_header(buf, &idx, &ar) < 0 || ar != 2 ||
      ei_decode_atom(buf, &idx, a) < 0 || strcmp(a, "error") ||
      ei_decode_tuple_header(buf, &idx, &ar) < 0 || ar != 2 ||
      ei_decode_atom(buf, &idx, a) < 0 || strcmp(a, tag))
    return 0;
  *idx_x = idx;
  return 1;
}

static const char *const psd_keys[] = {
    "__struct__", "child_nodes", "child_spec", "cid", "for_node",
    "has_errors", "metadata",    "nodes",      "pid", "result"};

/* {children_registration_event, {[PSD], Node, [{members, external}]}}:
 * every PSD a 10-key PostStartData map; returns the count, fills has_errors
 * of each. */
static int check_registration(const hx_msg_t *m, int *has_errors, int max) {
  int idx = 1, ar, n;
  char a[PHC__ATOM_MAX];
  assert_int_equal(ei_decode_tuple_header(m->buf, &idx, &ar), 0);
  assert_int_equal(ei_decode_atom(m->buf, &idx, a), 0);
  assert_string_equal(a, "children_registration_event");
  assert_int_equal(ei_decode_tuple_header(m->buf, &idx, &ar), 0);
  assert_int_equal(ar, 3);
  assert_int_equal(ei_decode_list_header(m->buf, &idx, &n), 0);
  assert_true(n <= max);
  for (int i = 0; i < n; i++) {
    int keys;
    assert_int_equal(ei_decode_map_header(m->buf, &idx, &keys), 0);
    assert_int_equal(keys, 10);
    for (int k = 0; k < keys; k++) {
      assert_int_equal(ei_decode_atom(m->buf, &idx, a), 0);
      int known = 0;
      for (size_t j = 0; j < PHC__ARRAY_LEN(psd_keys); j++)
        known |= !strcmp(a, psd_keys[j]);
      assert_true(known);
      if (!strcmp(a, "__struct__")) {
        int t = idx;
        assert_int_equal(ei_decode_atom(m->buf, &t, a), 0);
        assert_string_equal(
            a, "Elixir.ProcessHub.Handler.ChildrenAdd.PostStartData");
      } else if (!strcmp(a, "has_errors")) {
        int t = idx;
        assert_int_equal(ei_decode_atom(m->buf, &t, a), 0);
        has_errors[i] = !strcmp(a, "true");
      }
      assert_int_equal(ei_skip_term(m->buf, &idx), 0);
    }
  }
  if (n) assert_int_equal(ei_skip_term(m->buf, &idx), 0);
  assert_int_equal(ei_decode_atom(m->buf, &idx, a), 0);
  assert_string_equal(a, HX_NODE);
  assert_true(hx_has(m->buf, idx, "[{members,external}]"));
  return n;
}

/* ph3's coordinator in the captured pg sync (its creation is the trace's). */
static int is_ph3_coord(const erlang_pid *p) {
  return !strcmp(p->node, HX_PH3) && p->num == 132 && p->serial == 0;
}

/* The captured pg sync from ph3's scope: ph3's coordinator is an external
 * member of every event group. */
static void with_ph3_members(hx_t *x) {
  hx_feed(x, "pg_sync_ph3");
  erlang_pid pids[8];
  int k = phc__pg_members(x->h->pg, "children_registration_event", pids, 8);
  assert_int_equal(k, 2); /* ours and ph3's */
  hx_rec_clear(x);
}

/* ---- start_children ------------------------------------------------------ */

static void test_start_unknown_module_is_undef(void **state) {
  (void)state;
  hx_t *x = hx_new();
  with_ph3_members(x);
  hx_feed(x, "start_children"); /* MyProcess: not a phc child type */
  hx_msg_t *m = hx_find(x, "collect_start_results", 0);
  assert_non_null(m);
  assert_int_equal(m->op, HX_SEND);
  assert_string_equal(m->to.node, HX_PH1); /* reply_to, after the swap */
  ei_x_buff w3 = hx_atom_cid("w_3"), uni = hx_bin_cid(UNICODE_CID);
  int node_ok, r, mfa;
  r = results_find(m, &w3, &node_ok);
  assert_true(node_ok);
  assert_true(r > 0);
  assert_true(result_error(m->buf, r, "undef", &mfa));
  assert_true(hx_has(m->buf, mfa, "'Elixir.MyProcess',start_link"));
  r = results_find(m, &uni, &node_ok);
  assert_true(r > 0 && result_error(m->buf, r, "undef", &mfa));
  /* nothing registered or running, but the failures are announced */
  assert_int_equal(hx_rows(x), 0);
  hx_msg_t *ev = hx_find(x, "children_registration_event", 0);
  assert_non_null(ev);
  assert_true(is_ph3_coord(&ev->to));
  int errs[4] = {0};
  assert_int_equal(check_registration(ev, errs, 4), 2);
  assert_true(errs[0] && errs[1]);
  ei_x_free(&w3);
  ei_x_free(&uni);
  hx_free(x);
}

static void test_start_children_ok_and_duplicate(void **state) {
  (void)state;
  hx_t *x = hx_new();
  with_ph3_members(x);
  hx_feed(x, "start_children_echo");
  hx_msg_t *m = hx_find(x, "collect_start_results", 0);
  assert_non_null(m);
  ei_x_buff w3 = hx_atom_cid("w_3"), uni = hx_bin_cid(UNICODE_CID);
  erlang_pid p_w3, p_uni, again;
  int node_ok, r;
  r = results_find(m, &w3, &node_ok);
  assert_true(node_ok && r > 0 && result_ok(m->buf, r, &p_w3));
  r = results_find(m, &uni, &node_ok);
  assert_true(r > 0 && result_ok(m->buf, r, &p_uni));
  assert_true(phc__pid_is_local(&x->node, &p_w3));
  assert_non_null(phc_proc_lookup(&x->node, &p_w3));
  assert_non_null(phc_proc_lookup(&x->node, &p_uni));
  /* registry: both rows, owned here, with the cast's metadata */
  assert_int_equal(hx_rows(x), 2);
  phc__reg_row_t *row = hx_row(x, &w3);
  assert_non_null(row);
  assert_int_equal(row->nowners, 1);
  assert_string_equal(row->owners[0].node, HX_NODE);
  assert_true(phc__cpid_eq(&row->owners[0].pid, &p_w3));
  assert_true(
      hx_has(row->meta, 0, "#{tag => #Bin<119,111,114,107,101,114,115>}"));
  ei_x_buff pl;
  ei_x_new(&pl);
  phc_hub_process_list(x->h, 0, &pl);
  assert_true(hx_has(pl.buff, 0, "w_3"));
  ei_x_free(&pl);
  /* the registration event reaches the external member with 10-key PSDs */
  hx_msg_t *ev = hx_find(x, "children_registration_event", 0);
  assert_non_null(ev);
  assert_true(is_ph3_coord(&ev->to));
  int errs[4] = {1, 1, 1, 1};
  assert_int_equal(check_registration(ev, errs, 4), 2);
  assert_false(errs[0] || errs[1]);
  assert_true(
      hx_has(ev->buf, 1, "for_node => {'ph2@127.0.0.1',[{migration,false}]}"));
  assert_int_equal(hx_count(x, "children_registration_event"), 1);

  /* the same cast again: already_started with the running pids */
  hx_rec_clear(x);
  hx_feed(x, "start_children_echo");
  m = hx_find(x, "collect_start_results", 0);
  assert_non_null(m);
  int pi;
  r = results_find(m, &w3, &node_ok);
  assert_true(r > 0 && result_error(m->buf, r, "already_started", &pi));
  assert_int_equal(ei_decode_pid(m->buf, &pi, &again), 0);
  assert_true(phc_pid_eq(&again, &p_w3));
  assert_int_equal(hx_rows(x), 2);
  assert_true(phc__cpid_eq(&hx_row(x, &w3)->owners[0].pid, &p_w3));
  ei_x_free(&w3);
  ei_x_free(&uni);
  hx_free(x);
}

/* With ph1 in the hub, children the ring gives to ph1 are forwarded to
 * {lab, ph1} (the casts' nodes lists name only us); the rest start here.
 * Placement is the real ring's over {ph1, ph2}. */
static void check_placement(hx_t *x, const char *fixture, int n,
                            const ei_x_buff *cids, int *local, int *fwd) {
  hx_rec_clear(x);
  size_t rows = hx_rows(x);
  hx_feed(x, fixture);
  int here = 0, away = 0, casts = 0;
  for (int i = 0; i < n; i++) {
    char *term = malloc((size_t)cids[i].index + 1);
    term[0] = (char)131;
    memcpy(term + 1, cids[i].buff, (size_t)cids[i].index);
    const char *owner = NULL;
    assert_int_equal(
        phc__ring_owners(&x->h->ring, term, cids[i].index + 1, &owner, 1), 1);
    free(term);
    if (!strcmp(owner, HX_NODE)) {
      here++;
      assert_non_null(hx_row(x, &cids[i]));
    } else {
      assert_string_equal(owner, HX_PH1);
      away++;
      assert_null(hx_row(x, &cids[i]));
    }
  }
  for (int i = 0; i < x->rec.n; i++) {
    hx_msg_t *m = &x->rec.m[i];
    char h[PHC__ATOM_MAX];
    int cast;
    if (m->op == HX_SEND_NAME && hx_head(m, h, &cast) && cast &&
        !strcmp(h, "start_children")) {
      assert_string_equal(m->node, HX_PH1);
      assert_string_equal(m->name, HX_HUB);
      assert_true(hx_has(m->buf, 1, "nodes => ['ph2@127.0.0.1']"));
      casts++;
    }
  }
  assert_int_equal(casts, away);
  assert_int_equal(hx_rows(x), rows + (size_t)here);
  *local += here;
  *fwd += away;
}

static void test_start_forwards_by_ring(void **state) {
  (void)state;
  hx_t *x = hx_new();
  hx_feed(x, "cluster_join");
  assert_true(phc__hub_has_node(x->h, HX_PH1));
  int local = 0, fwd = 0;
  ei_x_buff c1[2] = {hx_atom_cid("w_3"), hx_bin_cid(UNICODE_CID)};
  check_placement(x, "start_children_echo", 2, c1, &local, &fwd);
  ei_x_buff c2[1] = {hx_bin_cid("alpha")};
  check_placement(x, "migration_add_echo", 1, c2, &local, &fwd);
  ei_x_buff c3[1] = {hx_bin_cid("temp-1")};
  check_placement(x, "start_children_temp_echo", 1, c3, &local, &fwd);
  /* the captured ids cover both sides of this ring */
  assert_true(local > 0 && fwd > 0);
  for (int i = 0; i < 2; i++)
    ei_x_free(&c1[i]);
  ei_x_free(&c2[0]);
  ei_x_free(&c3[0]);
  hx_free(x);
}

/* ---- stop_children --------------------------------------------------------
 */

static void test_stop_children(void **state) {
  (void)state;
  hx_t *x = hx_new();
  with_ph3_members(x);
  hx_feed(x, "start_children_echo");
  ei_x_buff w3 = hx_atom_cid("w_3"), uni = hx_bin_cid(UNICODE_CID);
  erlang_pid p_w3;
  phc__cpid_get(&hx_row(x, &w3)->owners[0].pid, &p_w3);
  hx_rec_clear(x);
  hx_feed(x, "stop_children_w3");
  /* unregistration event to everyone (global): ph3 and ourselves */
  hx_msg_t *ev = hx_find(x, "children_unregistration_event", 0);
  assert_non_null(ev);
  assert_true(is_ph3_coord(&ev->to));
  assert_true(hx_has(ev->buf, 1, "{w_3,ok,'ph2@127.0.0.1'}"));
  /* our coordinator applied it and answered reply_to */
  assert_null(phc_proc_lookup(&x->node, &p_w3));
  assert_int_equal(phc__sup_count(x->h->sup, NULL), 1); /* its spec went */
  assert_null(hx_row(x, &w3));
  assert_non_null(hx_row(x, &uni));
  hx_msg_t *m = hx_find(x, "collect_stop_results", 0);
  assert_non_null(m);
  assert_string_equal(m->to.node, HX_PH1);
  assert_true(
      hx_has(m->buf, 1, "{collect_stop_results,[{w_3,ok}],'ph2@127.0.0.1'}"));
  assert_int_equal(hx_count(x, "collect_stop_results"), 1);
  /* one event: no self_exit for a child the hub stopped itself */
  assert_int_equal(hx_count(x, "children_unregistration_event"), 1);

  /* the captured stop of w-1, which never ran here: not_found */
  hx_rec_clear(x);
  hx_feed(x, "stop_children");
  ev = hx_find(x, "children_unregistration_event", 0);
  assert_non_null(ev);
  assert_true(hx_has(ev->buf, 1, "{error,not_found}"));
  m = hx_find(x, "collect_stop_results", 0);
  assert_non_null(m);
  assert_true(hx_has(m->buf, 1,
                     "{collect_stop_results,[{#Bin<119,45,49>,{error,not_found}"
                     "}],'ph2@127.0.0.1'}"));
  assert_int_equal(hx_rows(x), 1);
  assert_non_null(hx_row(x, &uni));
  /* a terminate still pending when the hub leaves is not leaked */
  assert_int_equal(phc__hub_terminate_local(x->h, uni.buff, uni.index), 0);
  assert_int_equal(phc__hub_terminate_local(x->h, w3.buff, w3.index),
                   PHC_ENOPROC);
  ei_x_free(&w3);
  ei_x_free(&uni);
  hx_free(x);
}

/* A child that dies is restarted (permanent) and the new pid goes out as
 * child_process_pid_update_event; our own registry follows it. */
static void test_child_restart_updates_pid(void **state) {
  (void)state;
  hx_t *x = hx_new();
  with_ph3_members(x);
  hx_feed(x, "start_children_echo");
  ei_x_buff w3 = hx_atom_cid("w_3");
  erlang_pid old;
  phc__cpid_get(&hx_row(x, &w3)->owners[0].pid, &old);
  hx_rec_clear(x);
  ei_x_buff kill = hx_term("kill");
  assert_int_equal(phc_exit(&x->node, NULL, &old, kill.buff, kill.index), 0);
  ei_x_free(&kill);
  hx_drain(x);
  phc__reg_row_t *row = hx_row(x, &w3);
  assert_non_null(row);
  assert_false(phc__cpid_eq(&row->owners[0].pid, &old));
  assert_non_null(phc_proc_lookup(&x->node, owner_pid(&row->owners[0])));
  hx_msg_t *ev = hx_find(x, "child_process_pid_update_event", 0);
  assert_non_null(ev);
  assert_true(is_ph3_coord(&ev->to));
  assert_true(hx_has(ev->buf, 1, "{w_3,{'ph2@127.0.0.1',"));
  ei_x_free(&w3);
  hx_free(x);
}

/* ---- blockade events --------------------------------------------------- */

static void test_registration_and_unregistration(void **state) {
  (void)state;
  hx_t *x = hx_new();
  hx_feed(x, "registration");
  assert_int_equal(hx_rows(x), 2);
  ei_x_buff s1 = hx_bin_cid("s-1"), s2 = hx_atom_cid("s_2");
  phc__reg_row_t *row = hx_row(x, &s1);
  assert_non_null(row);
  assert_int_equal(row->nowners, 1);
  assert_string_equal(row->owners[0].node, HX_PH1);
  assert_int_equal(row->owners[0].pid.num, 147);
  assert_true(hx_has(row->spec, 0, "'Elixir.MyProcess',start_link"));
  assert_non_null(hx_row(x, &s2));
  ei_x_buff pl;
  ei_x_new(&pl);
  phc_hub_process_list(x->h, 0, &pl); /* local: none of ours */
  assert_true(hx_has(pl.buff, 0, "[]"));
  ei_x_free(&pl);
  /* the same event again changes nothing */
  char *before = hx_dump(x);
  hx_feed(x, "registration");
  assert_int_equal(hx_rows(x), 2);
  assert_int_equal(hx_row(x, &s1)->nowners, 1);
  char *after = hx_dump(x);
  assert_string_equal(after, before);
  free(after);
  free(before);
  /* ph1 unregisters s-1 (no reply_to: nothing goes out) */
  hx_rec_clear(x);
  hx_feed(x, "unregistration");
  assert_null(hx_row(x, &s1));
  assert_non_null(hx_row(x, &s2));
  assert_int_equal(hx_count(x, "collect_stop_results"), 0);
  ei_x_free(&s1);
  ei_x_free(&s2);
  hx_free(x);
}

static void test_pid_update(void **state) {
  (void)state;
  hx_t *x = hx_new();
  /* w-2 is unknown: dropped, nothing changes, the coordinator lives */
  hx_feed(x, "pid_update");
  assert_int_equal(hx_rows(x), 0);
  assert_non_null(phc_proc_lookup(&x->node, &x->h->coord));
  /* known on ph1: Keyword.put puts ph2's new pair first */
  ei_x_buff w2 = hx_bin_cid("w-2"), spec = hx_body("#{}"),
            meta = hx_body("#{}");
  erlang_pid p99 = hx_pid(HX_PH1, 99);
  phc__reg_owner_t o = phc__reg_owner_make(HX_PH1, &p99);
  phc__reg_insert(&x->h->reg, w2.buff, w2.index, spec.buff, spec.index,
                  meta.buff, meta.index, &o, 1);
  hx_feed(x, "pid_update");
  phc__reg_row_t *row = hx_row(x, &w2);
  assert_non_null(row);
  assert_int_equal(row->nowners, 2);
  assert_string_equal(row->owners[0].node, HX_NODE);
  assert_int_equal(row->owners[0].pid.num, 165);
  assert_string_equal(row->owners[1].node, HX_PH1);
  ei_x_free(&w2);
  ei_x_free(&spec);
  ei_x_free(&meta);
  hx_free(x);
}

static void test_sync_remote(void **state) {
  (void)state;
  hx_t *x = hx_new();
  hx_feed(x, "sync_remote");
  assert_int_equal(hx_rows(x), 7);
  const char *atoms[] = {"one", "two", "three", "four"};
  for (int i = 0; i < 4; i++) {
    ei_x_buff c = hx_atom_cid(atoms[i]);
    phc__reg_row_t *row = hx_row(x, &c);
    assert_non_null(row);
    assert_int_equal(row->nowners, 1);
    assert_string_equal(row->owners[0].node, HX_PH1);
    ei_x_free(&c);
  }
  ei_x_buff g = hx_bin_cid("gamma");
  assert_int_equal(hx_row(x, &g)->owners[0].pid.num, 145);
  ei_x_free(&g);
  char *d = hx_dump(x);
  assert_non_null(strstr(d, "'ph1@127.0.0.1'"));
  /* applied twice: the same registry */
  hx_feed(x, "sync_remote");
  assert_int_equal(hx_rows(x), 7);
  char *again = hx_dump(x);
  assert_string_equal(again, d);
  free(again);
  free(d);
  hx_free(x);
}

static void test_migration_add(void **state) {
  (void)state;
  hx_t *x = hx_new();
  with_ph3_members(x);
  hx_feed(x, "migration_add_echo");
  ei_x_buff alpha = hx_bin_cid("alpha");
  phc__reg_row_t *row = hx_row(x, &alpha);
  assert_non_null(row);
  assert_string_equal(row->owners[0].node, HX_NODE);
  assert_non_null(phc_proc_lookup(&x->node, owner_pid(&row->owners[0])));
  assert_int_equal(x->h->locked, 0); /* migration_add: true unlocks */
  hx_msg_t *ev = hx_find(x, "children_registration_event", 0);
  assert_non_null(ev);
  int errs[1] = {1};
  assert_int_equal(check_registration(ev, errs, 1), 1);
  assert_false(errs[0]);
  /* the captured HotSwap migration (MyProcess): six undef results to the
   * migrating node's collector, nothing registered */
  hx_rec_clear(x);
  hx_feed(x, "migration_add_hotswap");
  hx_msg_t *m = hx_find(x, "collect_start_results", 0);
  assert_non_null(m);
  assert_string_equal(m->to.node, HX_PH1);
  assert_int_equal(m->to.num, 171);
  char *s = hx_text(m->buf, 1);
  int undefs = 0;
  for (char *p = s; (p = strstr(p, "undef")) != NULL; p++)
    undefs++;
  free(s);
  assert_int_equal(undefs, 6);
  assert_int_equal(hx_rows(x), 1);
  assert_ptr_equal(hx_row(x, &alpha), row); /* alpha alone, untouched */
  assert_int_equal(x->h->locked, 0);
  ei_x_free(&alpha);
  hx_free(x);
}

/* hub_nodes with the local node, as text. */
static void assert_nodes(hx_t *x, const char *want) {
  ei_x_buff nodes;
  ei_x_new(&nodes);
  assert_int_equal(phc_hub_nodes(x->h, 1, &nodes), 0);
  char *t = hx_text(nodes.buff, 0);
  assert_string_equal(t, want);
  free(t);
  ei_x_free(&nodes);
  assert_int_equal(x->h->ring.n_nodes, (size_t)x->h->nnodes);
}

static void test_cluster_join_and_leave(void **state) {
  (void)state;
  hx_t *x = hx_new();
  hx_feed(x, "sync_remote"); /* rows on ph1 */
  hx_feed(x, "cluster_join");
  assert_nodes(x, "['ph2@127.0.0.1','ph1@127.0.0.1']");
  assert_true(phc__ring_has(&x->h->ring, HX_PH1));
  assert_int_equal(x->h->locked, 0);
  /* node_up: our (empty) local children go to ph1 by name, since ph1 has
   * no member in our pg view yet */
  int sync = 0;
  for (int i = 0; i < x->rec.n; i++) {
    char h[PHC__ATOM_MAX];
    int cast;
    if (x->rec.m[i].op == HX_SEND_NAME && hx_head(&x->rec.m[i], h, &cast) &&
        !strcmp(h, "sync_remote_children_event")) {
      assert_string_equal(x->rec.m[i].node, HX_PH1);
      assert_string_equal(x->rec.m[i].name, HX_HUB);
      assert_true(hx_has(x->rec.m[i].buf, 1,
                         "{sync_remote_children_event,{[],'ph2@127.0.0.1'}}"));
      sync++;
    }
  }
  assert_int_equal(sync, 1);
  hx_feed(x, "cluster_join"); /* again: no change */
  assert_nodes(x, "['ph2@127.0.0.1','ph1@127.0.0.1']");
  hx_feed(x, "cluster_join_ph3");
  assert_nodes(x, "['ph2@127.0.0.1','ph1@127.0.0.1','ph3@127.0.0.1']");
  assert_true(phc__ring_has(&x->h->ring, HX_PH3));
  /* ph3 leaves: gone from hub_nodes and ring; ph1's rows stay */
  hx_feed(x, "cluster_leave");
  assert_int_equal(x->h->nnodes, 2);
  assert_false(phc__hub_has_node(x->h, HX_PH3));
  assert_false(phc__ring_has(&x->h->ring, HX_PH3));
  assert_int_equal(hx_rows(x), 7);
  assert_nodes(x, "['ph2@127.0.0.1','ph1@127.0.0.1']");
  hx_free(x);
}

/* ph1 goes down: rows it alone held and that now hash here restart here
 * (the Elixir module is not known here, so they fail and stay unowned);
 * every ph1 pair leaves the registry. */
static void test_node_down_detaches(void **state) {
  (void)state;
  hx_t *x = hx_new();
  hx_feed(x, "cluster_join");
  hx_feed(x, "sync_remote");
  assert_int_equal(hx_rows(x), 7);
  ei_x_buff m = hx_term("{nodedown, 'ph1@127.0.0.1'}");
  hx_to_coord(x, m.buff, m.index);
  ei_x_free(&m);
  assert_nodes(x, "['ph2@127.0.0.1']");
  assert_false(phc__ring_has(&x->h->ring, HX_PH1));
  assert_int_equal(hx_rows(x), 0);
  assert_int_equal(x->h->locked, 0);
  hx_free(x);
}

/* ---- calls to the coordinator ------------------------------------------- */

/* {'$gen_call', {Pid, Ref}, Req} from ph1 (req: Erlang text); returns the
 * reply's text. */
static char *coord_call(hx_t *x, const char *req) {
  erlang_pid from = hx_pid(HX_PH1, 300);
  erlang_ref ref;
  memset(&ref, 0, sizeof ref);
  strcpy(ref.node, HX_PH1);
  ref.len = 3;
  ref.n[0] = 11;
  ref.creation = 42;
  ei_x_buff m;
  ei_x_new_with_version(&m);
  ei_x_encode_tuple_header(&m, 3);
  ei_x_encode_atom(&m, "$gen_call");
  ei_x_encode_tuple_header(&m, 2);
  ei_x_encode_pid(&m, &from);
  ei_x_encode_ref(&m, &ref);
  hx_append(&m, req);
  hx_rec_clear(x);
  hx_to_name(x, HX_HUB, m.buff, m.index);
  ei_x_free(&m);
  assert_int_equal(x->rec.n, 1);
  assert_int_equal(x->rec.m[0].op, HX_SEND);
  assert_true(phc_pid_eq(&x->rec.m[0].to, &from));
  return hx_text(x->rec.m[0].buf, 1);
}

static void test_coordinator_calls(void **state) {
  (void)state;
  hx_t *x = hx_new();
  char *r = coord_call(x, "ping");
  assert_non_null(strstr(r, ",bong}"));
  free(r);
  r = coord_call(x, "'is_locked?'");
  assert_non_null(strstr(r, ",false}"));
  free(r);
  r = coord_call(x, "{get_nodes, [include_local]}");
  assert_non_null(strstr(r, ",['ph2@127.0.0.1']}"));
  free(r);
  r = coord_call(x, "{1, 2}");
  assert_non_null(strstr(r, ",{error,unknown_call}}"));
  free(r);
  /* short tags with arity 2 are not events */
  static const char *const msgs[] = {"{a, 1}", "{ab, 1}", "{event, 1}",
                                     "{'_event', 1}"};
  for (size_t i = 0; i < PHC__ARRAY_LEN(msgs); i++) {
    ei_x_buff m = hx_term(msgs[i]);
    hx_to_coord(x, m.buff, m.index);
    ei_x_free(&m);
  }
  assert_non_null(phc_proc_lookup(&x->node, &x->h->coord));
  hx_free(x);
}

/* ---- pg scope traffic ---------------------------------------------------- */

static void test_pg_messages(void **state) {
  (void)state;
  hx_t *x = hx_new();
  erlang_pid pids[8];
  /* ph1's scope syncs (no groups yet), then joins one member */
  hx_feed(x, "pg_sync");
  assert_int_equal(
      phc__pg_members(x->h->pg, "distribute_children_event", pids, 8), 1);
  assert_true(phc_pid_eq(&pids[0], &x->h->coord));
  hx_feed(x, "pg_join");
  int k = phc__pg_members(x->h->pg, "distribute_children_event", pids, 8);
  assert_int_equal(k, 2);
  assert_string_equal(pids[1].node, HX_PH1);
  assert_int_equal(pids[1].num, 139);
  /* ph3: a full sync, then its leave of all eight groups */
  hx_feed(x, "pg_sync_ph3");
  assert_int_equal(phc__pg_members(x->h->pg, "cluster_join_event", pids, 8), 2);
  assert_true(phc_pid_eq(&pids[0], &x->h->coord));
  assert_true(is_ph3_coord(&pids[1]));
  hx_feed(x, "pg_leave");
  assert_int_equal(phc__pg_members(x->h->pg, "cluster_join_event", pids, 8), 1);
  assert_true(phc_pid_eq(&pids[0], &x->h->coord));
  assert_int_equal(
      phc__pg_members(x->h->pg, "distribute_children_event", pids, 8), 2);
  assert_true(phc_pid_eq(&pids[0], &x->h->coord));
  assert_string_equal(pids[1].node, HX_PH1); /* ph1's join stays */
  assert_int_equal(pids[1].num, 139);
  /* discover: the scope answers with its groups */
  hx_rec_clear(x);
  hx_feed(x, "pg_discover");
  hx_msg_t *s = hx_find(x, "sync", 0);
  assert_non_null(s);
  assert_int_equal(s->op, HX_SEND);
  assert_string_equal(s->to.node, HX_PH1);
  assert_int_equal(s->to.num, 130);
  assert_true(hx_has(s->buf, 1, "children_registration_event"));
  hx_free(x);
}

/* ---- malformed input ------------------------------------------------------
 */

/* Payloads no handler accepts (each also fails as a cast's arguments). */
static const char *const bad_payloads[] = {
    "garbage",
    "42",
    "{x}",
    "{notalist, 7}",
    "{[1, #{}], 2, 3}",
    "[{a}, {b, c, d}]",
    "{[#{has_errors => false}], 'ph1@127.0.0.1', []}",
    "{<<\"s-1\">>, {'ph1@127.0.0.1', notapid}}",
    "{[{#{id => s_2}, 1, #{}}, 5], 'ph1@127.0.0.1'}",
    "{[#{nodes => []}], []}"};

/* A term from text put together with printf. */
static ei_x_buff termf(const char *fmt, ...) {
  char text[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  return hx_term(text);
}

static void test_malformed_events_dropped(void **state) {
  (void)state;
  static const char *const events[] = {"children_registration_event",
                                       "children_unregistration_event",
                                       "child_process_pid_update_event",
                                       "sync_remote_children_event",
                                       "migration_add_event",
                                       "cluster_join_event",
                                       "cluster_leave_event",
                                       "distribute_children_event",
                                       "unknown_event"};
  hx_t *x = hx_new();
  hx_feed(x, "registration");
  char *before = hx_dump(x);
  size_t procs = phc__rt_count(&x->node);
  const size_t np = PHC__ARRAY_LEN(bad_payloads);
  for (size_t e = 0; e < PHC__ARRAY_LEN(events); e++)
    for (size_t p = 0; p < np; p++) {
      ei_x_buff m = termf("{%s, %s}", events[e], bad_payloads[p]);
      hx_to_coord(x, m.buff, m.index);
      ei_x_free(&m);
      char *after = hx_dump(x);
      if (strcmp(before, after))
        fail_msg("%s payload %zu changed the registry: %s", events[e], p,
                 after);
      free(after);
    }
  /* casts and other messages the coordinator does not understand */
  for (size_t p = 0; p < np; p++) {
    static const char *const casts[] = {"start_children", "stop_children",
                                        "exec_cast", "no_such_cast"};
    for (size_t c = 0; c < PHC__ARRAY_LEN(casts); c++) {
      ei_x_buff m = termf("{'$gen_cast', {%s, %s, %s}}", casts[c],
                          bad_payloads[p], bad_payloads[(p + 1) % np]);
      hx_to_name(x, HX_HUB, m.buff, m.index);
      ei_x_free(&m);
    }
    ei_x_buff m = hx_term(bad_payloads[p]);
    hx_to_name(x, HX_HUB, m.buff, m.index);
    ei_x_free(&m);
  }
  char *after = hx_dump(x);
  assert_string_equal(before, after);
  free(after);
  free(before);
  assert_non_null(phc_proc_lookup(&x->node, &x->h->coord));
  assert_int_equal(x->h->nnodes, 1);
  /* nothing started but the strategy ask to the peer that joined (a
   * well-formed cluster_join_event) and left: it waits for its answer */
  assert_int_equal(phc__rt_count(&x->node), procs + 1);
  assert_int_equal(hx_count(x, "start_children"), 0); /* nor forwarded */
  hx_free(x);
}

/* ---- closures ------------------------------------------------------------ */

static void load_fun(const char *name, erlang_fun *f, hx_term_t *t) {
  *t = hx_load(name);
  int idx = 0, v;
  assert_int_equal(ei_decode_version(t->b, &idx, &v), 0);
  assert_int_equal(ei_decode_fun(t->b, &idx, f), 0);
  assert_int_equal(idx, t->len);
  assert_int_equal(f->type, EI_FUN_CLOSURE);
}

/* erlang:apply(Fun, []) by erpc (the spawn-request path) from a process on
 * ph1, Fun being the fixture t; *reason gets {tag, return | error, ...}. */
static int erpc_apply(hx_t *x, const hx_term_t *t, unsigned caller_num,
                      ei_x_buff *reason) {
  ei_x_buff args, ref = hx_body("tag");
  ei_x_new(&args); /* [Fun, []] */
  ei_x_encode_list_header(&args, 2);
  ei_x_append_buf(&args, t->b + 1, t->len - 1);
  ei_x_encode_empty_list(&args);
  ei_x_encode_empty_list(&args);
  erlang_pid caller = hx_pid(HX_PH1, caller_num);
  int rc =
      phc__otp_erpc_reason(&x->node, &caller, ref.buff, ref.index, "erlang",
                           "apply", args.buff, args.index, reason);
  ei_x_free(&args);
  ei_x_free(&ref);
  return rc;
}

static void insert_row(hx_t *x, const ei_x_buff *cid, const phc__reg_owner_t *o,
                       int n) {
  ei_x_buff spec, meta = hx_body("#{}");
  ei_x_new(&spec); /* #{id => Cid} */
  ei_x_encode_map_header(&spec, 1);
  ei_x_encode_atom(&spec, "id");
  ei_x_append_buf(&spec, cid->buff, cid->index);
  phc__reg_insert(&x->h->reg, cid->buff, cid->index, spec.buff, spec.index,
                  meta.buff, meta.index, o, n);
  ei_x_free(&spec);
  ei_x_free(&meta);
}

static void test_closure_pubsub_sync(void **state) {
  (void)state;
  hx_t *x = hx_new();
  erlang_fun f;
  hx_term_t t;
  load_fun("closure_pubsub_sync", &f, &t);
  /* before: a row ph1 no longer lists (shared with us), one only ph1 had */
  ei_x_buff shared = hx_bin_cid("stale-shared"), gone = hx_bin_cid("stale-ph1");
  erlang_pid p500 = hx_pid(HX_PH1, 500), p77 = hx_pid(HX_NODE, 77);
  phc__reg_owner_t both[2] = {phc__reg_owner_make(HX_PH1, &p500),
                              phc__reg_owner_make(HX_NODE, &p77)};
  insert_row(x, &shared, both, 2);
  insert_row(x, &gone, both, 1);
  ei_x_buff res;
  ei_x_new_with_version(&res);
  assert_int_equal(phc__hub_closure(&x->node, &f, &res), 0);
  assert_true(hx_has(res.buff, 1, "ok"));
  ei_x_free(&res);
  /* the sender's listed child (p-2) is there, owned by ph1; the shared
   * row lost ph1, the row only ph1 had is gone */
  assert_int_equal(hx_rows(x), 2);
  phc__reg_row_t *row = hx_row(x, &shared);
  assert_non_null(row);
  assert_int_equal(row->nowners, 1);
  assert_string_equal(row->owners[0].node, HX_NODE);
  assert_null(hx_row(x, &gone));
  ei_x_buff p2 = hx_bin_cid("p-2");
  row = hx_row(x, &p2);
  assert_non_null(row);
  assert_int_equal(row->nowners, 1);
  assert_string_equal(row->owners[0].node, HX_PH1);
  assert_int_equal(row->owners[0].pid.num, 149);
  assert_true(hx_has(row->spec, 0, "start => {'Elixir.MyProcess',start_link,"));
  char *meta = hx_text(row->meta, 0);
  assert_string_equal(meta, "#{}");
  free(meta);
  ei_x_free(&p2);
  free_fun(&f);
  free(t.b);
  ei_x_free(&shared);
  ei_x_free(&gone);
  hx_free(x);
}

static void test_closure_which_children(void **state) {
  (void)state;
  hx_t *x = hx_new();
  hx_feed(x, "start_children_echo");
  hx_feed(x, "registration"); /* ph1's rows are not ours */
  erlang_fun f;
  hx_term_t t;
  load_fun("closure_which_children", &f, &t);
  ei_x_buff res;
  ei_x_new_with_version(&res);
  assert_int_equal(phc__hub_closure(&x->node, &f, &res), 0);
  int idx = 1, ar, n;
  char a[PHC__ATOM_MAX];
  assert_int_equal(ei_decode_tuple_header(res.buff, &idx, &ar), 0);
  assert_int_equal(ar, 2);
  assert_int_equal(ei_decode_atom(res.buff, &idx, a), 0);
  assert_string_equal(a, HX_NODE);
  assert_int_equal(ei_decode_list_header(res.buff, &idx, &n), 0);
  assert_int_equal(n, 2);
  /* {Id, Pid, worker, [phc_echo]}, newest (last in id order) first: ph1's
   * children are not listed */
  ei_x_buff ids[2] = {hx_bin_cid(UNICODE_CID), hx_atom_cid("w_3")};
  for (int i = 0; i < n; i++) {
    assert_int_equal(ei_decode_tuple_header(res.buff, &idx, &ar), 0);
    assert_int_equal(ar, 4);
    int c = idx;
    assert_int_equal(ei_skip_term(res.buff, &idx), 0);
    assert_int_equal(idx - c, ids[i].index);
    assert_memory_equal(res.buff + c, ids[i].buff, (size_t)ids[i].index);
    erlang_pid pid;
    assert_int_equal(ei_decode_pid(res.buff, &idx, &pid), 0);
    assert_true(phc__cpid_eq(&hx_row(x, &ids[i])->owners[0].pid, &pid));
    assert_true(hx_has(res.buff, idx, "worker"));
    assert_int_equal(ei_skip_term(res.buff, &idx), 0);
    char *mods = hx_text(res.buff, idx);
    assert_string_equal(mods, "[phc_echo]");
    free(mods);
    assert_int_equal(ei_skip_term(res.buff, &idx), 0);
    ei_x_free(&ids[i]);
  }
  ei_x_free(&res);

  /* the same closure through the spawn-request path (erpc) */
  ei_x_buff reason;
  assert_int_equal(erpc_apply(x, &t, 760, &reason), 0);
  assert_true(hx_has(reason.buff, 1, "{tag,return,{'ph2@127.0.0.1',["));
  ei_x_free(&reason);
  free_fun(&f);
  free(t.b);
  hx_free(x);
}

static void test_closure_unknown(void **state) {
  (void)state;
  hx_t *x = hx_new();
  erlang_fun f;
  hx_term_t t;
  load_fun("closure_gossip", &f, &t);
  ei_x_buff res;
  ei_x_new_with_version(&res);
  /* Gossip's closure is understood; a hub on PubSub drops it (ok) */
  assert_int_equal(phc__hub_closure(&x->node, &f, &res), 0);
  assert_int_equal(hx_rows(x), 0);
  ei_x_free(&res);
  free_fun(&f);
  free(t.b);
  /* a recognised closure for a hub that does not run here */
  load_fun("closure_which_children", &f, &t);
  snprintf(x->h->id, sizeof x->h->id, "%s", "other");
  ei_x_new_with_version(&res);
  assert_int_equal(phc__hub_closure(&x->node, &f, &res), PHC_EUNDEF);
  ei_x_free(&res);
  snprintf(x->h->id, sizeof x->h->id, "%s", HX_HUB);
  free_fun(&f);
  free(t.b);
  hx_free(x);
}

/* A closure that declares more free variables than it carries (or
 * carries garbage ones): ei decodes it, since it trusts the fun's Size;
 * the gate refuses it, and so does the recogniser, without reading past
 * the free variables (ASan). */
static void test_closure_bad_free_vars(void **state) {
  (void)state;
  hx_t *x = hx_new();
  hx_term_t t = hx_load("closure_which_children");
  /* NumFree: after 131, the tag, Size(4), Arity(1), Uniq(16), Index(4) */
  uint8_t *nf = (uint8_t *)t.b + 1 + 1 + 4 + 1 + 16 + 4;
  uint32_t carried = ((uint32_t)nf[0] << 24) | ((uint32_t)nf[1] << 16) |
                     ((uint32_t)nf[2] << 8) | nf[3];
  for (int round = 0; round < 2; round++) {
    uint32_t declared = round == 0 ? carried + 5 : carried;
    nf[0] = (uint8_t)(declared >> 24);
    nf[1] = (uint8_t)(declared >> 16);
    nf[2] = (uint8_t)(declared >> 8);
    nf[3] = (uint8_t)declared;
    int i = 1;
    assert_int_equal(phc__term_skip(t.b, t.len, &i), PHC_EDECODE);
    erlang_fun f;
    int idx = 0, v;
    assert_int_equal(ei_decode_version(t.b, &idx, &v), 0);
    assert_int_equal(ei_decode_fun(t.b, &idx, &f), 0);
    assert_int_equal(f.u.closure.n_free_vars, (long)declared);
    ei_x_buff res;
    ei_x_new_with_version(&res);
    assert_int_equal(phc__hub_closure(&x->node, &f, &res), PHC_EUNDEF);
    ei_x_free(&res);
    free_fun(&f);
    /* the same term through the spawn-request path (erpc) */
    ei_x_buff reason;
    erpc_apply(x, &t, 761, &reason);
    /* {tag, error, ...}, not {tag, return, ...} (not printed: ei's printer
     * leaks the fun in the stack) */
    int ri = 1, rar;
    assert_int_equal(ei_decode_tuple_header(reason.buff, &ri, &rar), 0);
    assert_int_equal(phc__term_skip(reason.buff, reason.index, &ri), 0);
    assert_false(phc__term_atom_eq(reason.buff, ri, "return"));
    ei_x_free(&reason);
    if (round == 1) break;
    /* round 2: the right count, but the first free variable is garbage
     * (an ATOM_CACHE_REF where the hub struct map starts) */
    uint8_t *var = nf + 4;
    int atom_len = var[1];
    var += 2 + atom_len + 2 + 5; /* module, OldIndex (int), OldUniq */
    assert_int_equal(var[0], PHC__TAG_NEW_PID);
    var += 1 + 2 + var[2] + 12; /* the pid: its node and 3 words */
    assert_int_equal(var[0], PHC__TAG_MAP);
    var[0] = PHC__TAG_ATOM_CACHE_REF;
  }
  free(t.b);
  hx_free(x);
}

/* ---- a join waits for the peer's OTP release ------------------------------
 */

static int sent_to_name(hx_t *x, const char *node, const char *name) {
  int k = 0;
  for (int i = 0; i < x->rec.n; i++)
    k += x->rec.m[i].op == HX_SEND_NAME && !strcmp(x->rec.m[i].node, node) &&
         !strcmp(x->rec.m[i].name, name);
  return k;
}

/* ph1 joins before its release is known: it stays out of the ring (its
 * rex is asked), starts the ring would give it run here instead of being
 * forwarded by a guessed encoding, and it enters with its release's
 * encoding when the answer comes. */
static void test_join_waits_for_release(void **state) {
  (void)state;
  hx_t *x = hx_new();
  phc__hubs_release_forget(&x->node, HX_PH1);
  hx_feed(x, "cluster_join");
  assert_false(phc__hub_has_node(x->h, HX_PH1));
  assert_false(phc__ring_has(&x->h->ring, HX_PH1));
  assert_int_equal(x->h->npending, 1);
  assert_int_equal(sent_to_name(x, HX_PH1, "rex"), 1);
  hx_feed(x, "cluster_join"); /* again: still waiting, not asked twice */
  assert_int_equal(x->h->npending, 1);
  assert_int_equal(sent_to_name(x, HX_PH1, "rex"), 1);
  hx_rec_clear(x);
  hx_feed(x, "start_children_echo");
  ei_x_buff w3 = hx_atom_cid("w_3"), uni = hx_bin_cid(UNICODE_CID);
  assert_non_null(hx_row(x, &w3));
  assert_non_null(hx_row(x, &uni));
  assert_int_equal(sent_to_name(x, HX_PH1, HX_HUB), 0); /* nothing forwarded */
  phc__hubs_peer_release(&x->node, HX_PH1, 27);
  hx_drain(x);
  assert_true(phc__hub_has_node(x->h, HX_PH1));
  assert_true(phc__ring_has(&x->h->ring, HX_PH1));
  assert_int_equal(x->h->ring.enc, PHC_RING_OTP26);
  assert_int_equal(x->h->npending, 0);
  assert_true(x->h->resync_timer != 0); /* one more sync round after a join */
  /* ph1 goes down: its release is forgotten, the next join waits again */
  ei_x_buff m = hx_term("{nodedown, 'ph1@127.0.0.1'}");
  hx_to_coord(x, m.buff, m.index);
  ei_x_free(&m);
  assert_false(phc__hubs_release_known(&x->node, HX_PH1));
  hx_feed(x, "cluster_join");
  assert_false(phc__hub_has_node(x->h, HX_PH1));
  /* no answer (release 0): admitted with the encoding as it is */
  phc__hubs_peer_release(&x->node, HX_PH1, 0);
  assert_true(phc__hub_has_node(x->h, HX_PH1));
  assert_int_equal(x->h->ring.enc, PHC_RING_OTP26);
  /* "no answer" for a peer no hub waits for is not remembered */
  phc__hubs_release_forget(&x->node, HX_PH3);
  phc__hubs_peer_release(&x->node, HX_PH3, 0);
  assert_false(phc__hubs_release_known(&x->node, HX_PH3));
  ei_x_free(&w3);
  ei_x_free(&uni);
  hx_free(x);
}

/* Supervisor.which_children(Name) over erpc: what the hub's supervisor
 * runs here, read from the supervisor (a child whose registry row is gone
 * is still listed); another name exits noproc. */
static void test_which_children_native(void **state) {
  (void)state;
  hx_t *x = hx_new();
  hx_feed(x, "start_children_echo");
  hx_feed(x, "registration"); /* ph1's rows are not ours */
  ei_x_buff w3 = hx_atom_cid("w_3"), uni = hx_bin_cid(UNICODE_CID);
  erlang_pid p_w3;
  phc__cpid_get(&hx_row(x, &w3)->owners[0].pid, &p_w3);
  phc__reg_delete(&x->h->reg, w3.buff, w3.index);
  assert_null(hx_row(x, &w3));
  static const char *const names[] = {
      "[{via, 'Elixir.Registry', {'hub.lab.system_registry', "
      "<<\"dist_sup\">>}}]",
      NULL};
  for (int k = 0; k < 2; k++) {
    ei_x_buff a, r;
    if (names[k]) {
      a = hx_term(names[k]);
    } else { /* the supervisor's pid */
      phc__x_new_with_version(&a);
      phc__x_list_header(&a, 1);
      phc__x_pid(&a, &x->h->sup_pid);
      phc__x_empty_list(&a);
    }
    assert_int_equal(phc__otp_run_native(&x->node, NULL, "Elixir.Supervisor",
                                         "which_children", a.buff + 1,
                                         a.index - 1, &r),
                     0);
    int idx = 1, n, ar, seen_w3 = 0, seen_uni = 0;
    assert_int_equal(ei_decode_list_header(r.buff, &idx, &n), 0);
    assert_int_equal(n, 2);
    for (int j = 0; j < n; j++) { /* {Id, Pid, worker, [Module]} */
      assert_int_equal(ei_decode_tuple_header(r.buff, &idx, &ar), 0);
      assert_int_equal(ar, 4);
      if (!memcmp(r.buff + idx, uni.buff, (size_t)uni.index)) {
        seen_uni++;
        for (int t = 0; t < 4; t++)
          assert_int_equal(ei_skip_term(r.buff, &idx), 0);
        continue;
      }
      assert_memory_equal(r.buff + idx, w3.buff, (size_t)w3.index);
      seen_w3++;
      idx += w3.index;
      erlang_pid pid;
      assert_int_equal(ei_decode_pid(r.buff, &idx, &pid), 0);
      assert_true(phc_pid_eq(&pid, &p_w3));
      assert_true(hx_has(r.buff, idx, "worker"));
      assert_int_equal(ei_skip_term(r.buff, &idx), 0);
      assert_true(hx_has(r.buff, idx, "[phc_echo]"));
      assert_int_equal(ei_skip_term(r.buff, &idx), 0);
    }
    assert_int_equal(seen_w3, 1);
    assert_int_equal(seen_uni, 1);
    ei_x_free(&a);
    ei_x_free(&r);
  }
  ei_x_buff a = hx_term("[{via, 'Elixir.Registry', "
                        "{'hub.other.system_registry', <<\"dist_sup\">>}}]");
  ei_x_buff r;
  assert_true(phc__otp_run_native(&x->node, NULL, "supervisor",
                                  "which_children", a.buff + 1, a.index - 1,
                                  &r) < 0);
  assert_true(x->node.otp->raised_exit);
  assert_true(hx_has(r.buff, 1, "noproc"));
  ei_x_free(&a);
  ei_x_free(&r);
  ei_x_free(&w3);
  ei_x_free(&uni);
  hx_free(x);
}

/* An awaitable start's collector: results from the nodes the start was
 * cast to, then the %StartResult{} to whoever awaits the Future. */
static void test_future_collects(void **state) {
  (void)state;
  hx_t *x = hx_new();
  const char *nodes[] = {HX_NODE, HX_PH3};
  ei_x_buff ids = hx_body("[<<\"a\">>, <<\"b\">>]");
  ei_x_buff fut;
  erlang_pid fp;
  phc__x_new(&fut);
  assert_int_equal(
      phc__hub_future_start(x->h, nodes, 2, ids.buff, 10000, 60000, &fp, &fut),
      0);
  assert_true(
      hx_has(fut.buff, 0, "'__struct__' => 'Elixir.ProcessHub.Future'"));
  int ri;
  erlang_ref ref;
  assert_int_equal(phc__term_map_get(fut.buff, 0, "ref", &ri), 0);
  assert_int_equal(ei_decode_ref(fut.buff, &ri, &ref), 0);
  erlang_pid p2 = hx_pid(HX_NODE, 5), from = hx_pid(HX_PH1, 9);
  ei_x_buff m;
  phc__x_new_with_version(&m);
  phc__x_tuple_header(&m, 3);
  phc__x_atom(&m, "collect_start_results");
  phc__x_list_header(&m, 1);
  phc__x_tuple_header(&m, 2);
  phc__x_binary(&m, "a", 1);
  phc__x_tuple_header(&m, 2);
  phc__x_atom(&m, "ok");
  phc__x_pid(&m, &p2);
  phc__x_empty_list(&m);
  phc__x_atom(&m, HX_NODE);
  phc__proc_in_send(&x->node, &from, &fp, m.buff, m.index);
  ei_x_free(&m);
  ei_x_buff e = hx_term("{collect_start_results, [{<<\"b\">>, {error, boom}}], "
                        "'" HX_PH3 "'}");
  phc__proc_in_send(&x->node, &from, &fp, e.buff, e.index);
  ei_x_free(&e);
  hx_drain(x);
  hx_rec_clear(x);
  phc__x_new_with_version(&m);
  phc__x_tuple_header(&m, 4);
  phc__x_atom(&m, "process_hub");
  phc__x_atom(&m, "collect_results");
  phc__x_pid(&m, &from);
  phc__x_ref(&m, &ref);
  phc__proc_in_send(&x->node, &from, &fp, m.buff, m.index);
  ei_x_free(&m);
  hx_drain(x);
  hx_msg_t *r = hx_find(x, "process_hub", 0);
  assert_non_null(r);
  assert_true(hx_has(r->buf, 1, "status => error"));
  assert_true(hx_has(r->buf, 1, "started => [{#Bin<97>,[{'ph2@127.0.0.1',"));
  assert_true(hx_has(r->buf, 1, "errors => [{#Bin<98>,'ph3@127.0.0.1',boom}]"));
  assert_true(hx_has(r->buf, 1, "rollback => false"));
  assert_null(phc_proc_lookup(&x->node, &fp)); /* done: it exits */
  ei_x_free(&ids);
  ei_x_free(&fut);
  hx_free(x);
}

/* -hidden: on each connection the coordinator announces its own leave to
 * that node's coordinator first (the restart procedure); a visible phc
 * does not. A rex answer that is not to the last poll is dropped. */
static void test_hidden_leave_first(void **state) {
  (void)state;
  for (int hidden = 0; hidden < 2; hidden++) {
    hx_t *x = hx_new();
    x->node.hidden = hidden;
    ei_x_buff m = hx_term("{nodeup, 'ph3@127.0.0.1'}");
    hx_to_coord(x, m.buff, m.index);
    ei_x_free(&m);
    int k = 0;
    for (int i = 0; i < x->rec.n; i++) {
      if (x->rec.m[i].op != HX_SEND_NAME) continue;
      assert_string_equal(x->rec.m[i].node, HX_PH3);
      assert_string_equal(x->rec.m[i].name, HX_HUB);
      char *t = hx_text(x->rec.m[i].buf, 1);
      assert_string_equal(t, "{cluster_leave_event,'ph2@127.0.0.1'}");
      free(t);
      k++;
    }
    assert_int_equal(k, hidden);
    hx_rec_clear(x);
    erlang_ref r;
    memset(&r, 0, sizeof r);
    snprintf(r.node, sizeof r.node, "%s", HX_PH1);
    r.len = 3;
    r.n[0] = 5;
    ei_x_buff a;
    ei_x_new_with_version(&a);
    ei_x_encode_tuple_header(&a, 2);
    ei_x_encode_ref(&a, &r);
    ei_x_encode_list_header(&a, 1);
    ei_x_encode_atom(&a, "ph9@127.0.0.1");
    ei_x_encode_empty_list(&a);
    hx_to_coord(x, a.buff, a.index);
    assert_int_equal(x->rec.n, 0);
    ei_x_free(&a);
    hx_free(x);
  }
}

/* ---- awaitable stops, async_wait, rollback (api_future.c) --------------- */

/* A collector started with o over nodes: its pid, and the Future's ref. */
static void fut_begin(hx_t *x, const char *const *nodes, int k, const char *ids,
                      const phc__hub_future_opts_t *o, erlang_pid *fp,
                      erlang_ref *ref) {
  ei_x_buff fut, idb;
  int ri;
  phc__x_new(&fut);
  if (ids) idb = hx_body(ids);
  assert_int_equal(phc__hub_future_start_opts(
                       x->h, nodes, k, ids ? idb.buff : NULL, o, fp, &fut),
                   0);
  assert_int_equal(phc__term_map_get(fut.buff, 0, "ref", &ri), 0);
  assert_int_equal(ei_decode_ref(fut.buff, &ri, ref), 0);
  ei_x_free(&fut);
  if (ids) ei_x_free(&idb);
}

/* Erlang text to the collector, from a pid on ph1. */
static void fut_tell(hx_t *x, const erlang_pid *fp, const char *text) {
  erlang_pid from = hx_pid(HX_PH1, 9);
  ei_x_buff m = hx_term(text);
  phc__proc_in_send(&x->node, &from, fp, m.buff, m.index);
  ei_x_free(&m);
  hx_drain(x);
}

/* await/1's request; the answer the collector sends (NULL: none). */
static hx_msg_t *fut_await(hx_t *x, const erlang_pid *fp,
                           const erlang_ref *ref) {
  erlang_pid from = hx_pid(HX_PH1, 9);
  ei_x_buff m;
  hx_rec_clear(x);
  phc__x_new_with_version(&m);
  phc__x_tuple_header(&m, 4);
  phc__x_atom(&m, "process_hub");
  phc__x_atom(&m, "collect_results");
  phc__x_pid(&m, &from);
  phc__x_ref(&m, ref);
  phc__proc_in_send(&x->node, &from, fp, m.buff, m.index);
  ei_x_free(&m);
  hx_drain(x);
  return hx_find(x, "process_hub", 0);
}

/* An awaitable stop: results from every node asked; a silent one, once
 * the timeout fires, is a node_receive_timeout; a %StopResult{}. */
static void test_future_collects_stops(void **state) {
  (void)state;
  hx_t *x = hx_new();
  const char *nodes[] = {HX_NODE, HX_PH1, HX_PH3};
  phc__hub_future_opts_t o = {
      .stop = 1, .timeout = 10000, .await_timeout = 60000};
  erlang_pid fp;
  erlang_ref ref;
  fut_begin(x, nodes, 3, NULL, &o, &fp, &ref);
  fut_tell(x, &fp,
           "{collect_start_results, [{<<\"z\">>, {ok, 1}}], 'ph1@127.0.0.1'}");
  fut_tell(x, &fp,
           "{collect_stop_results, [{<<\"a\">>, ok}, {<<\"b\">>, {error, "
           "not_found}}], '" HX_NODE "'}");
  fut_tell(x, &fp,
           "{collect_stop_results, [{<<\"a\">>, ok}], 'ph1@127.0.0.1'}");
  fut_tell(x, &fp, "{process_hub, fut_timeout, 0}");
  hx_msg_t *r = fut_await(x, &fp, &ref);
  assert_non_null(r);
  assert_true(
      hx_has(r->buf, 1, "'__struct__' => 'Elixir.ProcessHub.StopResult'"));
  assert_true(hx_has(r->buf, 1, "status => error"));
  assert_true(hx_has(
      r->buf, 1, "stopped => [{#Bin<97>,['ph1@127.0.0.1','ph2@127.0.0.1']}]"));
  assert_true(hx_has(r->buf, 1,
                     "errors => [{undefined,'ph3@127.0.0.1',node_receive_"
                     "timeout},{#Bin<98>,'ph2@127.0.0.1',not_found}]"));
  char *t = hx_text(r->buf, 1);
  assert_null(strstr(t, "rollback"));
  free(t);
  assert_null(phc_proc_lookup(&x->node, &fp));
  hx_free(x);
}

/* async_wait: the answer is format/1's; return_first keeps the first. */
static void test_future_async_wait_format(void **state) {
  (void)state;
  for (int first = 0; first < 2; first++) {
    hx_t *x = hx_new();
    const char *nodes[] = {HX_NODE};
    phc__hub_future_opts_t o = {.stop = 1,
                                .async_wait = 1,
                                .return_first = first,
                                .timeout = 10000,
                                .await_timeout = 60000};
    erlang_pid fp;
    erlang_ref ref;
    fut_begin(x, nodes, 1, NULL, &o, &fp, &ref);
    fut_tell(x, &fp,
             "{collect_stop_results, [{<<\"a\">>, ok}], '" HX_NODE "'}");
    hx_msg_t *r = fut_await(x, &fp, &ref);
    assert_non_null(r);
    assert_true(hx_has(r->buf, 1,
                       first ? "{ok,{#Bin<97>,['ph2@127.0.0.1']}}"
                             : "{ok,[{#Bin<97>,['ph2@127.0.0.1']}]}"));
    hx_free(x);
  }
  hx_t *x = hx_new();
  const char *nodes[] = {HX_NODE};
  phc__hub_future_opts_t o = {.async_wait = 1,
                              .return_first = 1,
                              .timeout = 10000,
                              .await_timeout = 60000};
  erlang_pid fp;
  erlang_ref ref;
  fut_begin(x, nodes, 1, "[<<\"a\">>]", &o, &fp, &ref);
  fut_tell(x, &fp,
           "{collect_start_results, [{<<\"a\">>, {error, boom}}], '" HX_NODE
           "'}");
  hx_msg_t *r = fut_await(x, &fp, &ref);
  assert_non_null(r);
  assert_true(
      hx_has(r->buf, 1, "{error,{{#Bin<97>,'ph2@127.0.0.1',boom},[]}}"));
  hx_free(x);
}

/* on_failure: rollback: a failed start casts the stop of what started to
 * the nodes it started on (collector in reply_to), waits for their
 * results, then answers rollback => true. */
static void test_future_rollback(void **state) {
  (void)state;
  hx_t *x = hx_new();
  const char *nodes[] = {HX_NODE, HX_PH3};
  phc__hub_future_opts_t o = {
      .rollback = 1, .timeout = 10000, .await_timeout = 60000};
  erlang_pid fp;
  erlang_ref ref;
  fut_begin(x, nodes, 2, "[<<\"a\">>, <<\"b\">>]", &o, &fp, &ref);
  hx_rec_clear(x);
  erlang_pid p3 = hx_pid(HX_PH3, 5);
  ei_x_buff m;
  phc__x_new_with_version(&m);
  phc__x_tuple_header(&m, 3);
  phc__x_atom(&m, "collect_start_results");
  phc__x_list_header(&m, 1);
  phc__x_tuple_header(&m, 2);
  phc__x_binary(&m, "a", 1);
  phc__x_tuple_header(&m, 2);
  phc__x_atom(&m, "ok");
  phc__x_pid(&m, &p3);
  phc__x_empty_list(&m);
  phc__x_atom(&m, HX_PH3);
  erlang_pid from = hx_pid(HX_PH1, 9);
  phc__proc_in_send(&x->node, &from, &fp, m.buff, m.index);
  ei_x_free(&m);
  fut_tell(x, &fp,
           "{collect_start_results, [{<<\"b\">>, {error, boom}}], '" HX_NODE
           "'}");
  hx_msg_t *c = hx_find(x, "stop_children", 0);
  assert_non_null(c);
  assert_int_equal(c->op, HX_SEND_NAME);
  assert_string_equal(c->node, HX_PH3);
  assert_true(hx_has(c->buf, 1, "child_id => #Bin<97>"));
  assert_true(hx_has(c->buf, 1, "{reply_to,["));
  assert_null(hx_find(x, "stop_children", 1));
  assert_non_null(phc_proc_lookup(&x->node, &fp)); /* waits for ph3 */
  fut_tell(x, &fp,
           "{collect_stop_results, [{<<\"a\">>, ok}], 'ph3@127.0.0.1'}");
  hx_msg_t *r = fut_await(x, &fp, &ref);
  assert_non_null(r);
  assert_true(hx_has(r->buf, 1, "status => error"));
  assert_true(hx_has(r->buf, 1, "rollback => true"));
  assert_true(hx_has(r->buf, 1, "errors => [{#Bin<98>,'ph2@127.0.0.1',boom}]"));
  hx_free(x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_start_unknown_module_is_undef),
      cmocka_unit_test(test_future_collects),
      cmocka_unit_test(test_start_children_ok_and_duplicate),
      cmocka_unit_test(test_start_forwards_by_ring),
      cmocka_unit_test(test_stop_children),
      cmocka_unit_test(test_child_restart_updates_pid),
      cmocka_unit_test(test_registration_and_unregistration),
      cmocka_unit_test(test_pid_update),
      cmocka_unit_test(test_sync_remote),
      cmocka_unit_test(test_migration_add),
      cmocka_unit_test(test_cluster_join_and_leave),
      cmocka_unit_test(test_node_down_detaches),
      cmocka_unit_test(test_coordinator_calls),
      cmocka_unit_test(test_pg_messages),
      cmocka_unit_test(test_malformed_events_dropped),
      cmocka_unit_test(test_closure_pubsub_sync),
      cmocka_unit_test(test_closure_which_children),
      cmocka_unit_test(test_closure_unknown),
      cmocka_unit_test(test_closure_bad_free_vars),
      cmocka_unit_test(test_join_waits_for_release),
      cmocka_unit_test(test_which_children_native),
      cmocka_unit_test(test_hidden_leave_first),
      cmocka_unit_test(test_future_collects_stops),
      cmocka_unit_test(test_future_async_wait_format),
      cmocka_unit_test(test_future_rollback),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
