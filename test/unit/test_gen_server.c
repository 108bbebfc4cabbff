/* test_gen_server.c - gen_server processes for C child types
 * (c_src/proc/gen_server.c): call/cast/info/stop, reply tags (plain ref and
 * OTP 24+ [alias | Ref]), parent exits, system messages. */
#include "proc_fixture.h"

/* ---- a child type ------------------------------------------------------- */

static int g_terminated;
static char g_reason[64];
static int g_info;
static term_t g_infos[4]; /* the first handle_info messages */
static phc_from_t g_later;
static int g_has_later;

static int arg_head_atom(const char *args, const char *atom) {
  int idx = 0, ver, ar;
  char a[MAXATOMLEN_UTF8];
  return ei_decode_version(args, &idx, &ver) == 0 &&
         ei_decode_list_header(args, &idx, &ar) == 0 && ar >= 1 &&
         ei_decode_atom(args, &idx, a) == 0 && strcmp(a, atom) == 0;
}

static int t_init(phc_gs_t *gs, const char *args, int len, void **state) {
  (void)gs;
  (void)len;
  if (arg_head_atom(args, "fail")) return PHC_EINVAL;
  long *v = calloc(1, sizeof *v);
  int idx = 0, ver, ar;
  if (ei_decode_version(args, &idx, &ver) == 0 &&
      ei_decode_list_header(args, &idx, &ar) == 0 && ar == 1)
    ei_decode_long(args, &idx, v);
  *state = v;
  return 0;
}

static int req_atom(const char *req, const char *atom) {
  return phc__term_is_atom(req, 1 << 20, atom);
}

static int req_pair(const char *req, const char *tag, long *n) {
  int idx = 0, ver, ar;
  char a[MAXATOMLEN_UTF8];
  return ei_decode_version(req, &idx, &ver) == 0 &&
         ei_decode_tuple_header(req, &idx, &ar) == 0 && ar == 2 &&
         ei_decode_atom(req, &idx, a) == 0 && strcmp(a, tag) == 0 &&
         ei_decode_long(req, &idx, n) == 0;
}

static int t_call(phc_gs_t *gs, void *state, const char *req, int len,
                  const phc_from_t *from, ei_x_buff *reply) {
  (void)gs;
  long *v = state, n;
  if (req_atom(req, "get")) {
    ei_x_encode_long(reply, *v);
    return PHC_GS_REPLY;
  }
  if (req_pair(req, "add", &n)) {
    *v += n;
    ei_x_encode_long(reply, *v);
    return PHC_GS_REPLY;
  }
  if (req_atom(req, "later")) {
    g_later = *from;
    g_has_later = 1;
    return PHC_GS_NOREPLY;
  }
  if (req_atom(req, "stop")) {
    ei_x_encode_atom(reply, "bye");
    return PHC_GS_STOP;
  }
  if (req_atom(req, "crash")) {
    ei_x_encode_atom(reply, "crashed");
    return PHC_GS_ERROR;
  }
  ei_x_append_buf(reply, req + 1, len - 1); /* echo */
  return PHC_GS_REPLY;
}

static int t_cast(phc_gs_t *gs, void *state, const char *req, int len) {
  (void)gs;
  (void)len;
  long *v = state, n;
  if (req_pair(req, "set", &n)) *v = n;
  if (req_atom(req, "stop")) return PHC_GS_STOP;
  if (req_atom(req, "crash")) return PHC_GS_ERROR;
  return PHC_GS_NOREPLY;
}

static int t_info(phc_gs_t *gs, void *state, const char *msg, int len) {
  (void)gs;
  (void)state;
  if (g_info < (int)PHC__ARRAY_LEN(g_infos) &&
      len <= (int)sizeof g_infos[0].b) {
    memcpy(g_infos[g_info].b, msg, (size_t)len);
    g_infos[g_info].len = len;
  }
  g_info++;
  return PHC_GS_NOREPLY;
}

/* The term (version byte included) ei_x_format makes of a constant. */
static term_t t_fmt(const char *fmt) {
  ei_x_buff x;
  ei_x_new(&x);
  assert_int_equal(ei_x_format(&x, fmt), 0);
  return t_from_x(&x);
}

static int t_eq(const char *buf, int len, const term_t *want) {
  return len == want->len && memcmp(buf, want->b, (size_t)len) == 0;
}

static void t_terminate(phc_gs_t *gs, void *state, const char *reason,
                        int len) {
  (void)gs;
  g_terminated++;
  int idx = 0, ver;
  g_reason[0] = 0;
  if (len > 0 && ei_decode_version(reason, &idx, &ver) == 0)
    ei_decode_atom(reason, &idx, g_reason);
  free(state);
}

static const phc_child_type_t t_type = {
    .module = "t_counter",
    .init = t_init,
    .handle_call = t_call,
    .handle_cast = t_cast,
    .handle_info = t_info,
    .terminate = t_terminate,
};

static void reset_globals(void) {
  g_terminated = 0;
  g_reason[0] = 0;
  g_info = 0;
  g_has_later = 0;
}

static fx_t *gs_fx(void) {
  fx_t *f = fx_new();
  reset_globals();
  assert_int_equal(phc_child_type_register(&f->node, &t_type), 0);
  return f;
}

static term_t t_args(long v) {
  ei_x_buff x;
  ei_x_new_with_version(&x);
  ei_x_encode_list_header(&x, 1);
  ei_x_encode_long(&x, v);
  ei_x_encode_empty_list(&x);
  return t_from_x(&x);
}

static int start(fx_t *f, long v, const erlang_pid *parent, phc_pid_t *pid) {
  term_t a = t_args(v);
  return phc_gs_start(&f->node, "t_counter", a.b, a.len, parent, parent != NULL,
                      pid);
}

/* ---- call messages ------------------------------------------------------ */

static void enc_tag(ei_x_buff *x, const erlang_ref *ref, int alias) {
  if (alias) {
    ei_x_encode_list_header(x, 1);
    ei_x_encode_atom(x, "alias");
  }
  ei_x_encode_ref(x, ref);
}

/* {'$gen_call', {Pid, Tag}, Req} with Req = {Atom, N} or Atom (N < 0). */
static term_t t_call_msg(const erlang_pid *caller, const erlang_ref *ref,
                         int alias, const char *atom, long n) {
  ei_x_buff x;
  ei_x_new_with_version(&x);
  ei_x_encode_tuple_header(&x, 3);
  ei_x_encode_atom(&x, "$gen_call");
  ei_x_encode_tuple_header(&x, 2);
  ei_x_encode_pid(&x, caller);
  enc_tag(&x, ref, alias);
  if (n >= 0) {
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, atom);
    ei_x_encode_long(&x, n);
  } else {
    ei_x_encode_atom(&x, atom);
  }
  return t_from_x(&x);
}

static term_t t_cast_msg(const char *atom, long n) {
  ei_x_buff x;
  ei_x_new_with_version(&x);
  ei_x_encode_tuple_header(&x, 2);
  ei_x_encode_atom(&x, "$gen_cast");
  if (n >= 0) {
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, atom);
    ei_x_encode_long(&x, n);
  } else {
    ei_x_encode_atom(&x, atom);
  }
  return t_from_x(&x);
}

/* {Tag, Reply}: checks the tag; *idx is left at Reply. */
static int t_reply_tag(const char *buf, const erlang_ref *ref, int alias,
                       int *idx) {
  int ver, ar;
  char a[MAXATOMLEN_UTF8];
  erlang_ref r;
  *idx = 0;
  if (ei_decode_version(buf, idx, &ver) ||
      ei_decode_tuple_header(buf, idx, &ar) || ar != 2)
    return 0;
  if (alias && (ei_decode_list_header(buf, idx, &ar) || ar != 1 ||
                ei_decode_atom(buf, idx, a) || strcmp(a, "alias")))
    return 0;
  return ei_decode_ref(buf, idx, &r) == 0 && phc_ref_eq(&r, ref);
}

static int t_reply_long(const char *buf, const erlang_ref *ref, int alias,
                        long want) {
  int idx;
  long v;
  return t_reply_tag(buf, ref, alias, &idx) &&
         ei_decode_long(buf, &idx, &v) == 0 && v == want;
}

static int t_reply_atom(const char *buf, const erlang_ref *ref, int alias,
                        const char *want) {
  int idx;
  char a[MAXATOMLEN_UTF8];
  return t_reply_tag(buf, ref, alias, &idx) &&
         ei_decode_atom(buf, &idx, a) == 0 && strcmp(a, want) == 0;
}

/* ---- tests -------------------------------------------------------------- */

static void test_child_types(void **state) {
  (void)state;
  fx_t *f = gs_fx();
  assert_int_equal(phc_child_type_register(&f->node, &t_type), PHC_EEXIST);
  assert_ptr_equal(phc_child_type_find(&f->node, "t_counter"), &t_type);
  assert_null(phc_child_type_find(&f->node, "nope"));
  phc_pid_t pid;
  term_t a = t_args(0);
  assert_int_equal(phc_gs_start(&f->node, "nope", a.b, a.len, NULL, 0, &pid),
                   PHC_EUNDEF);
  /* init failure: an error, no process, no terminate. */
  ei_x_buff x;
  ei_x_new_with_version(&x);
  ei_x_encode_list_header(&x, 1);
  ei_x_encode_atom(&x, "fail");
  ei_x_encode_empty_list(&x);
  term_t bad = t_from_x(&x);
  assert_int_equal(
      phc_gs_start(&f->node, "t_counter", bad.b, bad.len, NULL, 0, &pid),
      PHC_EINVAL);
  assert_int_equal(phc__rt_count(&f->node), 0);
  assert_int_equal(g_terminated, 0);
  fx_free(f);
}

static int t_native(phc_node_t *n, const phc_pid_t *caller, const char *args,
                    int len, ei_x_buff *result) {
  (void)n, (void)caller, (void)args, (void)len, (void)result;
  return 0;
}

/* Types and natives can be registered before phc_node_start (plugins do);
 * phc_node_free frees them if the node never starts. */
static void test_register_before_start(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  phc_node_config_t cfg = {
      .name = "pre@127.0.0.1", .longnames = 1, .cookie = "c"};
  phc_node_t *n;
  assert_int_equal(phc_node_new(&n, &loop, &cfg), 0);
  assert_int_equal(phc_child_type_register(n, &t_type), 0);
  assert_int_equal(phc_child_type_register(n, &t_type), PHC_EEXIST);
  assert_ptr_equal(phc_child_type_find(n, "t_counter"), &t_type);
  assert_int_equal(phc_native_register(n, "m", "f", 0, t_native), 0);
  assert_int_equal(phc_native_register(n, "m", "f", 0, t_native), PHC_EEXIST);
  phc_node_free(n);
  uv_loop_close(&loop);
}

static void test_call_plain_tag(void **state) {
  (void)state;
  fx_t *f = gs_fx();
  probe_t *caller = probe_spawn(f, 0);
  phc_pid_t gs;
  assert_int_equal(start(f, 10, NULL, &gs), 0);
  phc_ref_t ref;
  phc_make_ref(&f->node, &ref);
  term_t m = t_call_msg(&caller->pid, &ref, 0, "add", 5);
  phc_send(&f->node, &caller->pid, &gs, m.b, m.len);
  m = t_call_msg(&caller->pid, &ref, 0, "get", -1);
  phc_send(&f->node, &caller->pid, &gs, m.b, m.len);
  fx_drain(f);
  assert_int_equal(caller->count, 2);
  assert_true(t_reply_long(caller->msgs[0], &ref, 0, 15));
  assert_true(t_reply_long(caller->msgs[1], &ref, 0, 15));
  assert_false(t_reply_long(caller->msgs[1], &ref, 1, 15));
  fx_free(f);
  probe_free(caller);
}

static void test_call_alias_tag(void **state) {
  (void)state;
  fx_t *f = gs_fx();
  probe_t *caller = probe_spawn(f, 0);
  phc_pid_t gs;
  assert_int_equal(start(f, 1, NULL, &gs), 0);
  erlang_ref alias;
  assert_int_equal(phc__alias_make(caller->self, &alias), 0);
  /* The pid in From is not the alias owner: the reply must use the alias. */
  probe_t *decoy = probe_spawn(f, 0);
  term_t m = t_call_msg(&decoy->pid, &alias, 1, "add", 2);
  phc_send(&f->node, NULL, &gs, m.b, m.len);
  fx_drain(f);
  assert_int_equal(decoy->count, 0);
  assert_int_equal(caller->count, 1);
  assert_true(t_reply_long(caller->msgs[0], &alias, 1, 3));
  /* Alias removed (call timed out): the late reply is dropped. */
  phc__alias_remove(&f->node, &alias);
  phc_send(&f->node, NULL, &gs, m.b, m.len);
  fx_drain(f);
  assert_int_equal(caller->count, 1);
  assert_int_equal(decoy->count, 0);
  fx_free(f);
  probe_free(caller);
  probe_free(decoy);
}

static void test_call_from_remote(void **state) {
  (void)state;
  fx_t *f = gs_fx();
  phc_pid_t gs;
  assert_int_equal(start(f, 0, NULL, &gs), 0);
  erlang_pid rp = fx_remote_pid(50);
  erlang_ref rref = fx_remote_ref(9);
  term_t m = t_call_msg(&rp, &rref, 0, "add", 7);
  phc__proc_in_send(&f->node, &rp, &gs, m.b, m.len);
  m = t_call_msg(&rp, &rref, 1, "add", 1);
  phc__proc_in_send(&f->node, &rp, &gs, m.b, m.len);
  fx_drain(f);
  rec_call_t *c = fx_last(f, R_SEND);
  assert_non_null(c);
  assert_true(phc_pid_eq(&c->to, &rp));
  assert_true(c->has_from && phc_pid_eq(&c->from, &gs));
  assert_true(t_reply_long(c->buf, &rref, 0, 7));
  c = fx_last(f, R_SEND_ALIAS);
  assert_non_null(c);
  assert_true(phc_ref_eq(&c->ref, &rref));
  assert_true(c->has_from && phc_pid_eq(&c->from, &gs));
  assert_true(t_reply_long(c->buf, &rref, 1, 8));
  assert_int_equal(fx_count(f, R_SEND), 1);
  fx_free(f);
}

static void test_noreply_then_gen_reply(void **state) {
  (void)state;
  fx_t *f = gs_fx();
  probe_t *caller = probe_spawn(f, 0);
  phc_pid_t gs;
  start(f, 0, NULL, &gs);
  phc_ref_t ref;
  phc_make_ref(&f->node, &ref);
  term_t m = t_call_msg(&caller->pid, &ref, 0, "later", -1);
  phc_send(&f->node, NULL, &gs, m.b, m.len);
  fx_drain(f);
  assert_int_equal(caller->count, 0);
  assert_true(g_has_later);
  term_t v = t_atom("done");
  assert_int_equal(phc_gen_reply(&f->node, &g_later, v.b, v.len), 0);
  fx_drain(f);
  assert_int_equal(caller->count, 1);
  assert_true(t_reply_atom(caller->msgs[0], &ref, 0, "done"));
  fx_free(f);
  probe_free(caller);
}

static void test_cast_info_stop(void **state) {
  (void)state;
  fx_t *f = gs_fx();
  probe_t *caller = probe_spawn(f, 0);
  phc_pid_t gs;
  start(f, 0, NULL, &gs);
  term_t c = t_cast_msg("set", 42);
  phc_send(&f->node, NULL, &gs, c.b, c.len);
  term_t info = t_atom("random_info");
  phc_send(&f->node, NULL, &gs, info.b, info.len);
  /* a malformed From: dropped */
  term_t weird = t_fmt("{'$gen_call', 1, get}");
  term_t two = t_pair("$gen_call", 1); /* a 2-tuple is just info */
  phc_send(&f->node, NULL, &gs, two.b, two.len);
  phc_send(&f->node, NULL, &gs, weird.b, weird.len);
  phc_ref_t ref;
  phc_make_ref(&f->node, &ref);
  term_t g = t_call_msg(&caller->pid, &ref, 0, "get", -1);
  phc_send(&f->node, NULL, &gs, g.b, g.len);
  term_t s = t_call_msg(&caller->pid, &ref, 0, "stop", -1);
  phc_send(&f->node, NULL, &gs, s.b, s.len);
  phc_send(&f->node, NULL, &gs, g.b, g.len); /* after stop: never answered */
  fx_drain(f);
  assert_int_equal(g_info, 2);
  assert_true(t_eq(g_infos[0].b, g_infos[0].len, &info));
  assert_true(t_eq(g_infos[1].b, g_infos[1].len, &two));
  assert_int_equal(caller->count, 2);
  assert_true(t_reply_long(caller->msgs[0], &ref, 0, 42));
  assert_true(t_reply_atom(caller->msgs[1], &ref, 0, "bye"));
  assert_int_equal(g_terminated, 1);
  assert_string_equal(g_reason, "normal");
  assert_null(phc_proc_lookup(&f->node, &gs));
  /* A cast that stops. */
  start(f, 0, NULL, &gs);
  term_t cs = t_cast_msg("stop", -1);
  phc_send(&f->node, NULL, &gs, cs.b, cs.len);
  fx_drain(f);
  assert_int_equal(g_terminated, 2);
  assert_null(phc_proc_lookup(&f->node, &gs));
  fx_free(f);
  probe_free(caller);
}

static void test_error_exit_reason(void **state) {
  (void)state;
  fx_t *f = gs_fx();
  probe_t *parent = probe_spawn(f, 1);
  phc_pid_t gs;
  assert_int_equal(start(f, 0, &parent->pid, &gs), 0);
  phc_ref_t ref;
  phc_make_ref(&f->node, &ref);
  term_t m = t_call_msg(&parent->pid, &ref, 0, "crash", -1);
  phc_send(&f->node, NULL, &gs, m.b, m.len);
  fx_drain(f);
  assert_string_equal(g_reason, "crashed");
  assert_int_equal(parent->count, 1); /* the EXIT, no reply */
  assert_true(t_is_exit(parent->msgs[0], &gs, "crashed"));
  fx_free(f);
  probe_free(parent);
}

static void test_parent_exit(void **state) {
  (void)state;
  fx_t *f = gs_fx();
  probe_t *parent = probe_spawn(f, 1), *other = probe_spawn(f, 0);
  phc_pid_t gs;
  assert_int_equal(start(f, 0, &parent->pid, &gs), 0);
  /* Like an OTP gen_server the child does not trap exits: a normal exit
   * signal from someone else is ignored, and no info arrives. */
  term_t nm = t_atom("normal");
  phc_exit(&f->node, &other->pid, &gs, nm.b, nm.len);
  fx_drain(f);
  assert_int_equal(g_info, 0);
  assert_non_null(phc_proc_lookup(&f->node, &gs));
  /* Any other reason ends it (terminate still runs); the linked parent
   * gets the EXIT. */
  term_t sd = t_atom("shutdown");
  phc_exit(&f->node, &other->pid, &gs, sd.b, sd.len);
  fx_drain(f);
  assert_int_equal(g_terminated, 1);
  assert_string_equal(g_reason, "shutdown");
  assert_int_equal(parent->count, 1);
  assert_true(t_is_exit(parent->msgs[0], &gs, "shutdown"));
  /* The parent dies: the linked child follows with its reason. */
  probe_t *p2 = probe_spawn(f, 0);
  assert_int_equal(start(f, 0, &p2->pid, &gs), 0);
  phc_proc_exit_atom(p2->self, "parent_gone");
  fx_drain(f);
  assert_int_equal(g_terminated, 2);
  assert_string_equal(g_reason, "parent_gone");
  /* kill is untrappable. */
  assert_int_equal(start(f, 0, NULL, &gs), 0);
  term_t k = t_atom("kill");
  phc_exit(&f->node, NULL, &gs, k.b, k.len);
  fx_drain(f);
  assert_int_equal(g_terminated, 3);
  assert_string_equal(g_reason, "killed");
  fx_free(f);
  probe_free(parent);
  probe_free(other);
  probe_free(p2);
}

static term_t t_system_msg(const erlang_pid *caller, const erlang_ref *ref,
                           const char *what) {
  ei_x_buff x;
  ei_x_new_with_version(&x);
  ei_x_encode_tuple_header(&x, 3);
  ei_x_encode_atom(&x, "system");
  ei_x_encode_tuple_header(&x, 2);
  ei_x_encode_pid(&x, caller);
  enc_tag(&x, ref, 1);
  ei_x_encode_atom(&x, what);
  return t_from_x(&x);
}

static void test_system_messages(void **state) {
  (void)state;
  fx_t *f = gs_fx();
  probe_t *caller = probe_spawn(f, 0);
  phc_pid_t gs;
  start(f, 0, NULL, &gs);
  erlang_ref alias;
  phc__alias_make(caller->self, &alias);
  const char *what[] = {"get_state", "get_status", "suspend", "resume",
                        "strange"};
  for (size_t i = 0; i < PHC__ARRAY_LEN(what); i++) {
    term_t m = t_system_msg(&caller->pid, &alias, what[i]);
    phc_send(&f->node, NULL, &gs, m.b, m.len);
  }
  fx_drain(f);
  assert_int_equal(caller->count, 4); /* the unknown one is ignored */
  /* get_state answers the module's name (the C state is not a term) */
  assert_true(t_reply_atom(caller->msgs[0], &alias, 1, "t_counter"));
  /* get_status: {status, Pid, {module, gen_server},
   *              [Pdict, running, Parent, [], Misc]}; no parent: self */
  int idx;
  assert_true(t_reply_tag(caller->msgs[1], &alias, 1, &idx));
  ei_x_buff sx;
  ei_x_new(&sx);
  assert_int_equal(ei_x_format(&sx,
                               "{status, ~p, {module, gen_server}, "
                               "[[], running, ~p, [], [{module, t_counter}]]}",
                               &gs, &gs),
                   0);
  term_t st = t_from_x(&sx);
  assert_int_equal(caller->lens[1] - idx, st.len - 1);
  assert_memory_equal(caller->msgs[1] + idx, st.b + 1, st.len - 1);
  assert_true(t_reply_atom(caller->msgs[2], &alias, 1, "ok"));
  assert_true(t_reply_atom(caller->msgs[3], &alias, 1, "ok"));
  assert_non_null(phc_proc_lookup(&f->node, &gs));
  assert_int_equal(g_info, 0);
  fx_free(f);
  probe_free(caller);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_child_types),
      cmocka_unit_test(test_register_before_start),
      cmocka_unit_test(test_call_plain_tag),
      cmocka_unit_test(test_call_alias_tag),
      cmocka_unit_test(test_call_from_remote),
      cmocka_unit_test(test_noreply_then_gen_reply),
      cmocka_unit_test(test_cast_info_stop),
      cmocka_unit_test(test_error_exit_reason),
      cmocka_unit_test(test_parent_exit),
      cmocka_unit_test(test_system_messages),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
