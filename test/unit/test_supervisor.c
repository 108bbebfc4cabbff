/* test_supervisor.c - one_for_one supervision (c_src/proc/supervisor.c):
 * restart types, restart intensity, terminate_child with shutdown timeout
 * then kill, brutal_kill, parent exit, events. */
#include "proc_fixture.h"

#include "proc/supervisor.h"

/* ---- a trivial gen_server child type ------------------------------------ */

static int w_init(phc_gs_t *gs, const char *args, int len, void **state) {
  (void)gs;
  (void)args;
  (void)len;
  *state = NULL;
  return 0;
}

static const phc_child_type_t w_type = {.module = "s_worker", .init = w_init};

/* ---- a child that ignores shutdown (it traps exits and keeps going) ----- */

static int stubborn_fail_after = -1; /* starts allowed; -1: unlimited */

static probe_t *stubborn_last;

static int start_stubborn(phc_node_t *n, const phc_pid_t *sup, void *arg,
                          phc_pid_t *out) {
  (void)arg;
  if (stubborn_fail_after == 0) return PHC_EINVAL;
  if (stubborn_fail_after > 0) stubborn_fail_after--;
  probe_t *pr = calloc(1, sizeof *pr);
  pr->trap = 1;
  int rc = phc_spawn(n, &probe_ops, pr, sup, PHC_SPAWN_LINK, out);
  if (rc == 0) {
    pr->pid = *out;
    if (stubborn_last) probe_free(stubborn_last);
    stubborn_last = pr;
  }
  return rc;
}

/* ---- events ------------------------------------------------------------- */

typedef struct ev_s {
  int event;
  char id[32];
  erlang_pid old_pid, new_pid;
  char reason[64];
} ev_t;

static ev_t evs[64];
static int nev;

static void on_event(phc__sup_t *sup, int event, const char *id,
                     const phc_pid_t *old_pid, const phc_pid_t *new_pid,
                     const char *reason, int len, void *arg) {
  (void)sup;
  (void)arg;
  assert_true(nev < 64);
  ev_t *e = &evs[nev++];
  memset(e, 0, sizeof *e);
  e->event = event;
  if (id) snprintf(e->id, sizeof e->id, "%s", id);
  if (old_pid) e->old_pid = *old_pid;
  if (new_pid) e->new_pid = *new_pid;
  int idx = 0, ver;
  if (reason && len > 0 && ei_decode_version(reason, &idx, &ver) == 0)
    ei_decode_atom(reason, &idx, e->reason);
}

static int count_ev(int event, const char *id) {
  int k = 0;
  for (int i = 0; i < nev; i++)
    k += evs[i].event == event && (!id || strcmp(evs[i].id, id) == 0);
  return k;
}

static ev_t *last_ev(int event) {
  for (int i = nev - 1; i >= 0; i--)
    if (evs[i].event == event) return &evs[i];
  return NULL;
}

/* ---- fixture ------------------------------------------------------------ */

static fx_t *sup_fx(int max_r, int max_s, phc__sup_t **s, phc_pid_t *spid,
                    const erlang_pid *parent) {
  fx_t *f = fx_new();
  nev = 0;
  stubborn_fail_after = -1;
  assert_int_equal(phc_child_type_register(&f->node, &w_type), 0);
  phc__sup_config_t cfg = {max_r, max_s, on_event, NULL};
  assert_int_equal(phc__sup_start(&f->node, &cfg, parent, s, spid), 0);
  assert_ptr_equal(phc__sup_from_pid(&f->node, spid), *s);
  assert_true(phc_pid_eq(phc__sup_pid(*s), spid));
  return f;
}

static void sup_fx_free(fx_t *f) {
  fx_free(f);
  if (stubborn_last) probe_free(stubborn_last);
  stubborn_last = NULL;
}

static phc__sup_spec_t worker(const char *id, int restart, int shutdown) {
  phc__sup_spec_t sp = {0};
  sp.id = id;
  sp.module = "s_worker";
  sp.restart = restart;
  sp.shutdown_ms = shutdown;
  return sp;
}

/* A permanent child that ignores shutdown, killed after shutdown_ms. */
static phc__sup_spec_t stubborn(int shutdown_ms) {
  phc__sup_spec_t sp = {0};
  sp.id = "stub";
  sp.start_fn = start_stubborn;
  sp.restart = PHC__SUP_PERMANENT;
  sp.shutdown_ms = shutdown_ms;
  return sp;
}

static void kill_child(fx_t *f, const phc_pid_t *pid, const char *reason) {
  phc_proc_t *p = phc_proc_lookup(&f->node, pid);
  assert_non_null(p);
  phc_proc_exit_atom(p, reason);
  fx_drain(f);
}

/* ---- tests -------------------------------------------------------------- */

static void test_permanent_restart(void **state) {
  (void)state;
  phc__sup_t *s;
  phc_pid_t spid, p1, p2, cur;
  fx_t *f = sup_fx(3, 5, &s, &spid, NULL);
  phc__sup_spec_t sp = worker("a", PHC__SUP_PERMANENT, 1000);
  assert_int_equal(phc__sup_start_child(s, &sp, &p1), 0);
  assert_int_equal(phc__sup_start_child(s, &sp, &p2), PHC_EEXIST);
  kill_child(f, &p1, "boom");
  assert_int_equal(count_ev(PHC__SUP_CHILD_RESTARTED, "a"), 1);
  ev_t *e = last_ev(PHC__SUP_CHILD_RESTARTED);
  assert_true(phc_pid_eq(&e->old_pid, &p1));
  assert_false(phc_pid_eq(&e->new_pid, &p1));
  assert_int_equal(phc__sup_which_child(s, "a", &cur), 0);
  assert_true(phc_pid_eq(&cur, &e->new_pid));
  assert_non_null(phc_proc_lookup(&f->node, &cur));
  /* Even a normal exit restarts a permanent child. */
  phc_pid_t before = cur;
  kill_child(f, &cur, "normal");
  assert_int_equal(count_ev(PHC__SUP_CHILD_RESTARTED, "a"), 2);
  e = last_ev(PHC__SUP_CHILD_RESTARTED);
  assert_true(phc_pid_eq(&e->old_pid, &before));
  assert_int_equal(phc__sup_which_child(s, "a", &cur), 0);
  assert_true(phc_pid_eq(&cur, &e->new_pid));
  int running;
  assert_int_equal(phc__sup_count(s, &running), 1);
  assert_int_equal(running, 1);
  sup_fx_free(f);
}

static void test_transient(void **state) {
  (void)state;
  phc__sup_t *s;
  phc_pid_t spid, p, cur;
  fx_t *f = sup_fx(5, 5, &s, &spid, NULL);
  phc__sup_spec_t sp = worker("t", PHC__SUP_TRANSIENT, 1000);
  assert_int_equal(phc__sup_start_child(s, &sp, &p), 0);
  kill_child(f, &p, "boom");
  assert_int_equal(count_ev(PHC__SUP_CHILD_RESTARTED, "t"), 1);
  assert_int_equal(phc__sup_which_child(s, "t", &cur), 0);
  kill_child(f, &cur, "normal");
  assert_int_equal(count_ev(PHC__SUP_CHILD_RESTARTED, "t"), 1);
  assert_int_equal(count_ev(PHC__SUP_CHILD_GONE, "t"), 1);
  ev_t *e = last_ev(PHC__SUP_CHILD_GONE);
  assert_string_equal(e->reason, "normal");
  assert_true(phc_pid_eq(&e->old_pid, &cur));
  assert_int_equal(phc__sup_which_child(s, "t", &cur), PHC_ESTATE);
  /* Restart by hand, then shutdown is not restarted either. */
  assert_int_equal(phc__sup_restart_child(s, "t", &cur), 0);
  kill_child(f, &cur, "shutdown");
  assert_int_equal(count_ev(PHC__SUP_CHILD_GONE, "t"), 2);
  assert_int_equal(phc__sup_count(s, NULL), 1); /* spec kept */
  assert_int_equal(phc__sup_delete_child(s, "t"), 0);
  assert_int_equal(phc__sup_count(s, NULL), 0);
  sup_fx_free(f);
}

static void test_temporary(void **state) {
  (void)state;
  phc__sup_t *s;
  phc_pid_t spid, p;
  fx_t *f = sup_fx(5, 5, &s, &spid, NULL);
  phc__sup_spec_t sp = worker("tmp", PHC__SUP_TEMPORARY, 1000);
  assert_int_equal(phc__sup_start_child(s, &sp, &p), 0);
  kill_child(f, &p, "boom");
  assert_int_equal(count_ev(PHC__SUP_CHILD_RESTARTED, NULL), 0);
  assert_int_equal(count_ev(PHC__SUP_CHILD_GONE, "tmp"), 1);
  assert_string_equal(last_ev(PHC__SUP_CHILD_GONE)->reason, "boom");
  assert_int_equal(phc__sup_which_child(s, "tmp", &p), PHC_ENOPROC);
  assert_int_equal(phc__sup_count(s, NULL), 0);
  sup_fx_free(f);
}

static void test_intensity(void **state) {
  (void)state;
  phc__sup_t *s;
  phc_pid_t spid, pa, pb, cur;
  fx_t *f = sup_fx(2, 5, &s, &spid, NULL);
  phc__sup_spec_t a = worker("a", PHC__SUP_PERMANENT, 1000);
  phc__sup_spec_t b = worker("b", PHC__SUP_PERMANENT, 1000);
  assert_int_equal(phc__sup_start_child(s, &a, &pa), 0);
  assert_int_equal(phc__sup_start_child(s, &b, &pb), 0);
  cur = pa;
  for (int i = 0; i < 2; i++) {
    kill_child(f, &cur, "boom");
    assert_int_equal(count_ev(PHC__SUP_CHILD_RESTARTED, "a"), i + 1);
    assert_int_equal(phc__sup_which_child(s, "a", &cur), 0);
  }
  assert_int_equal(count_ev(PHC__SUP_STOPPED, NULL), 0);
  kill_child(f, &cur, "boom"); /* third restart within 5 s: too many */
  fx_drain(f);
  assert_int_equal(count_ev(PHC__SUP_CHILD_RESTARTED, "a"), 2);
  assert_int_equal(count_ev(PHC__SUP_CHILD_GONE, "a"), 1);
  assert_int_equal(count_ev(PHC__SUP_CHILD_GONE, "b"), 1);
  assert_string_equal(evs[nev - 2].id, "b");
  assert_string_equal(evs[nev - 2].reason, "shutdown");
  assert_int_equal(count_ev(PHC__SUP_STOPPED, NULL), 1);
  assert_int_equal(evs[nev - 1].event, PHC__SUP_STOPPED);
  assert_string_equal(evs[nev - 1].reason, "shutdown");
  assert_null(phc_proc_lookup(&f->node, &spid));
  assert_null(phc_proc_lookup(&f->node, &pb));
  assert_int_equal(phc__rt_count(&f->node), 0);
  sup_fx_free(f);
}

static void test_intensity_zero(void **state) {
  (void)state;
  phc__sup_t *s;
  phc_pid_t spid, p;
  fx_t *f = sup_fx(0, 1, &s, &spid, NULL);
  phc__sup_spec_t a = worker("a", PHC__SUP_PERMANENT, 1000);
  phc__sup_start_child(s, &a, &p);
  kill_child(f, &p, "boom");
  fx_drain(f);
  assert_int_equal(count_ev(PHC__SUP_CHILD_RESTARTED, NULL), 0);
  assert_int_equal(count_ev(PHC__SUP_CHILD_GONE, "a"), 1);
  assert_true(phc_pid_eq(&last_ev(PHC__SUP_CHILD_GONE)->old_pid, &p));
  assert_string_equal(last_ev(PHC__SUP_CHILD_GONE)->reason, "shutdown");
  assert_int_equal(count_ev(PHC__SUP_STOPPED, NULL), 1);
  assert_string_equal(last_ev(PHC__SUP_STOPPED)->reason, "shutdown");
  assert_int_equal(phc__rt_count(&f->node), 0);
  sup_fx_free(f);
}

static void test_intensity_period(void **state) {
  (void)state;
  phc__sup_t *s;
  phc_pid_t spid, cur;
  /* 1 restart per second: two crashes 1.1 s apart are fine. */
  fx_t *f = sup_fx(1, 1, &s, &spid, NULL);
  phc__sup_spec_t a = worker("a", PHC__SUP_PERMANENT, 1000);
  phc__sup_start_child(s, &a, &cur);
  kill_child(f, &cur, "boom");
  assert_int_equal(phc__sup_which_child(s, "a", &cur), 0);
  uv_sleep(1100);
  kill_child(f, &cur, "boom");
  assert_int_equal(count_ev(PHC__SUP_CHILD_RESTARTED, "a"), 2);
  assert_int_equal(count_ev(PHC__SUP_STOPPED, NULL), 0);
  sup_fx_free(f);
}

static void test_terminate_child(void **state) {
  (void)state;
  phc__sup_t *s;
  phc_pid_t spid, p, p2;
  fx_t *f = sup_fx(3, 5, &s, &spid, NULL);
  phc__sup_spec_t a = worker("a", PHC__SUP_PERMANENT, 5000);
  phc__sup_start_child(s, &a, &p);
  uint64_t t0 = uv_hrtime();
  assert_int_equal(phc__sup_terminate_child(s, "a"), 0);
  fx_run(f); /* the kill timer is cancelled once the child is down */
  assert_true((uv_hrtime() - t0) / 1000000u < 1000);
  assert_int_equal(count_ev(PHC__SUP_CHILD_GONE, "a"), 1);
  assert_string_equal(last_ev(PHC__SUP_CHILD_GONE)->reason, "shutdown");
  assert_int_equal(count_ev(PHC__SUP_CHILD_RESTARTED, NULL), 0);
  assert_null(phc_proc_lookup(&f->node, &p));
  assert_int_equal(phc__sup_which_child(s, "a", &p), PHC_ESTATE);
  assert_int_equal(phc__sup_restart_child(s, "a", &p2), 0);
  assert_int_equal(phc__sup_delete_child(s, "a"), PHC_ESTATE);
  assert_int_equal(phc__sup_terminate_child(s, "zz"), PHC_ENOPROC);
  sup_fx_free(f);
}

static void test_shutdown_timeout_then_kill(void **state) {
  (void)state;
  phc__sup_t *s;
  phc_pid_t spid, p;
  fx_t *f = sup_fx(3, 5, &s, &spid, NULL);
  phc__sup_spec_t sp = stubborn(60);
  assert_int_equal(phc__sup_start_child(s, &sp, &p), 0);
  probe_t *child = stubborn_last;
  uint64_t t0 = uv_hrtime();
  phc__sup_terminate_child(s, "stub");
  fx_drain(f);
  /* It got the shutdown as a message and ignored it. */
  assert_true(probe_alive(f, child));
  assert_int_equal(child->count, 1);
  assert_true(t_is_exit(child->msgs[0], &spid, "shutdown"));
  assert_int_equal(count_ev(PHC__SUP_CHILD_GONE, "stub"), 0);
  fx_run(f);
  uint64_t ms = (uv_hrtime() - t0) / 1000000u;
  assert_true(ms >= 59);
  assert_true(probe_died_with(child, "killed"));
  assert_int_equal(count_ev(PHC__SUP_CHILD_GONE, "stub"), 1);
  assert_string_equal(last_ev(PHC__SUP_CHILD_GONE)->reason, "killed");
  assert_int_equal(count_ev(PHC__SUP_CHILD_RESTARTED, NULL), 0);
  sup_fx_free(f);
}

static void test_brutal_kill(void **state) {
  (void)state;
  phc__sup_t *s;
  phc_pid_t spid, p;
  fx_t *f = sup_fx(3, 5, &s, &spid, NULL);
  phc__sup_spec_t sp = stubborn(PHC__SUP_BRUTAL_KILL);
  phc__sup_start_child(s, &sp, &p);
  phc__sup_terminate_child(s, "stub");
  fx_drain(f);
  assert_true(probe_died_with(stubborn_last, "killed"));
  assert_int_equal(stubborn_last->count, 0);
  assert_string_equal(last_ev(PHC__SUP_CHILD_GONE)->reason, "killed");
  sup_fx_free(f);
}

static void test_start_errors(void **state) {
  (void)state;
  phc__sup_t *s;
  phc_pid_t spid, p;
  fx_t *f = sup_fx(3, 5, &s, &spid, NULL);
  phc__sup_spec_t sp = worker("x", PHC__SUP_PERMANENT, 100);
  sp.module = "no_such_module";
  assert_int_equal(phc__sup_start_child(s, &sp, &p), PHC_EUNDEF);
  assert_int_equal(phc__sup_count(s, NULL), 0);
  sp.module = NULL;
  assert_int_equal(phc__sup_start_child(s, &sp, &p), PHC_EINVAL);
  sup_fx_free(f);
}

static void test_restart_failure_retries(void **state) {
  (void)state;
  phc__sup_t *s;
  phc_pid_t spid, p;
  fx_t *f = sup_fx(3, 5, &s, &spid, NULL);
  phc__sup_spec_t sp = stubborn(PHC__SUP_BRUTAL_KILL);
  sp.id = "flaky";
  stubborn_fail_after = 1; /* the first start works, restarts fail */
  assert_int_equal(phc__sup_start_child(s, &sp, &p), 0);
  kill_child(f, &p, "boom");
  fx_run(f);
  assert_int_equal(count_ev(PHC__SUP_CHILD_RESTARTED, NULL), 0);
  assert_int_equal(count_ev(PHC__SUP_STOPPED, NULL), 1);
  assert_string_equal(last_ev(PHC__SUP_STOPPED)->reason, "shutdown");
  assert_null(phc_proc_lookup(&f->node, &spid));
  sup_fx_free(f);
}

static void test_parent_exit_stops(void **state) {
  (void)state;
  phc__sup_t *s;
  phc_pid_t spid, pa, pb;
  fx_t *f = fx_new();
  nev = 0;
  stubborn_fail_after = -1;
  phc_child_type_register(&f->node, &w_type);
  probe_t *parent = probe_spawn(f, 1);
  phc__sup_config_t cfg = {3, 5, on_event, NULL};
  assert_int_equal(phc__sup_start(&f->node, &cfg, &parent->pid, &s, &spid), 0);
  phc__sup_spec_t a = worker("a", PHC__SUP_PERMANENT, 1000);
  phc__sup_spec_t b = worker("b", PHC__SUP_TEMPORARY, 1000);
  phc__sup_start_child(s, &a, &pa);
  phc__sup_start_child(s, &b, &pb);
  term_t why = t_atom("going_away");
  phc_exit(&f->node, &parent->pid, &spid, why.b, why.len);
  fx_drain(f);
  /* Last started first, each with shutdown; then the supervisor exits. */
  assert_int_equal(nev, 3);
  assert_int_equal(evs[0].event, PHC__SUP_CHILD_GONE);
  assert_string_equal(evs[0].id, "b");
  assert_true(phc_pid_eq(&evs[0].old_pid, &pb));
  assert_string_equal(evs[0].reason, "shutdown");
  assert_int_equal(evs[1].event, PHC__SUP_CHILD_GONE);
  assert_string_equal(evs[1].id, "a");
  assert_true(phc_pid_eq(&evs[1].old_pid, &pa));
  assert_string_equal(evs[1].reason, "shutdown");
  assert_int_equal(evs[2].event, PHC__SUP_STOPPED);
  assert_string_equal(evs[2].reason, "going_away");
  assert_int_equal(parent->count, 1);
  assert_true(t_is_exit(parent->msgs[0], &spid, "going_away"));
  assert_int_equal(phc__rt_count(&f->node), 1); /* the parent */
  sup_fx_free(f);
  probe_free(parent);
}

static void test_sup_stop_and_kill(void **state) {
  (void)state;
  phc__sup_t *s;
  phc_pid_t spid, p;
  fx_t *f = sup_fx(3, 5, &s, &spid, NULL);
  phc__sup_spec_t sp = stubborn(20);
  phc__sup_start_child(s, &sp, &p);
  phc__sup_stop(s, "shutdown");
  fx_run(f);
  assert_int_equal(nev, 2);
  assert_int_equal(evs[0].event, PHC__SUP_CHILD_GONE);
  assert_string_equal(evs[0].id, "stub");
  assert_true(phc_pid_eq(&evs[0].old_pid, &p));
  assert_string_equal(evs[0].reason, "killed");
  assert_int_equal(evs[1].event, PHC__SUP_STOPPED);
  assert_string_equal(evs[1].reason, "shutdown");
  assert_int_equal(phc__rt_count(&f->node), 0);

  /* A supervisor killed outright: its children follow through the link. */
  phc__sup_config_t cfg = {3, 5, on_event, NULL};
  phc_pid_t w;
  nev = 0;
  assert_int_equal(phc__sup_start(&f->node, &cfg, NULL, &s, &spid), 0);
  phc__sup_spec_t a = worker("a", PHC__SUP_PERMANENT, 1000);
  phc__sup_start_child(s, &a, &w);
  term_t k = t_atom("kill");
  phc_exit(&f->node, NULL, &spid, k.b, k.len);
  fx_drain(f);
  assert_int_equal(count_ev(PHC__SUP_STOPPED, NULL), 1);
  assert_string_equal(last_ev(PHC__SUP_STOPPED)->reason, "killed");
  assert_null(phc_proc_lookup(&f->node, &w));
  assert_int_equal(phc__rt_count(&f->node), 0);
  sup_fx_free(f);
}

/* A stop walks the children once from the newest: children already stopped
 * are passed over, a temporary child that exits while an older one is still
 * being waited for is freed, and so is the one the walk has reached. */
static void test_stop_walk(void **state) {
  (void)state;
  phc__sup_t *s;
  phc_pid_t spid, pa, pt1, pb, pt2, pstub;
  fx_t *f = sup_fx(5, 5, &s, &spid, NULL);
  phc__sup_spec_t a = worker("a", PHC__SUP_PERMANENT, 1000);
  phc__sup_spec_t t1 = worker("t1", PHC__SUP_TEMPORARY, 1000);
  phc__sup_spec_t b = worker("b", PHC__SUP_TRANSIENT, 1000);
  phc__sup_spec_t t2 = worker("t2", PHC__SUP_TEMPORARY, 1000);
  phc__sup_spec_t stub = stubborn(20);
  assert_int_equal(phc__sup_start_child(s, &a, &pa), 0);
  assert_int_equal(phc__sup_start_child(s, &t1, &pt1), 0);
  assert_int_equal(phc__sup_start_child(s, &b, &pb), 0);
  assert_int_equal(phc__sup_start_child(s, &t2, &pt2), 0);
  assert_int_equal(phc__sup_start_child(s, &stub, &pstub), 0);
  kill_child(f, &pb, "normal"); /* b stays, stopped */
  nev = 0;
  phc__sup_stop(s, "shutdown");
  fx_drain(f);
  assert_int_equal(nev, 0); /* waiting for stub, which ignores shutdown */
  kill_child(f, &pt1, "boom");
  assert_int_equal(nev, 1);
  assert_string_equal(evs[0].id, "t1");
  assert_string_equal(evs[0].reason, "boom");
  assert_non_null(phc_proc_lookup(&f->node, &pt2)); /* stub still first */
  fx_run(f);
  const char *ids[] = {"t1", "stub", "t2", "a"};
  const char *why[] = {"boom", "killed", "shutdown", "shutdown"};
  assert_int_equal(nev, 5);
  for (int i = 0; i < 4; i++) {
    assert_int_equal(evs[i].event, PHC__SUP_CHILD_GONE);
    assert_string_equal(evs[i].id, ids[i]);
    assert_string_equal(evs[i].reason, why[i]);
  }
  assert_int_equal(evs[4].event, PHC__SUP_STOPPED);
  assert_int_equal(phc__rt_count(&f->node), 0);
  sup_fx_free(f);
}

/* phc__sup_each: newest first, a stopped child with a NULL pid. */
typedef struct each_s {
  char ids[4][8];
  int running[4];
  int n;
} each_t;

static void each_cb(void *arg, const char *id, const char *module,
                    const phc_pid_t *pid) {
  each_t *e = arg;
  assert_non_null(module);
  snprintf(e->ids[e->n], sizeof e->ids[0], "%s", id);
  e->running[e->n++] = pid != NULL;
}

static void test_each(void **state) {
  (void)state;
  phc__sup_t *s;
  phc_pid_t spid, p;
  fx_t *f = sup_fx(5, 5, &s, &spid, NULL);
  phc__sup_spec_t a = worker("a", PHC__SUP_PERMANENT, 1000);
  phc__sup_spec_t b = worker("b", PHC__SUP_TRANSIENT, 1000);
  assert_int_equal(phc__sup_start_child(s, &a, &p), 0);
  assert_int_equal(phc__sup_start_child(s, &b, &p), 0);
  kill_child(f, &p, "normal"); /* b ends for good; its spec stays */
  each_t e = {0};
  phc__sup_each(s, each_cb, &e);
  assert_int_equal(e.n, 2);
  assert_string_equal(e.ids[0], "b");
  assert_int_equal(e.running[0], 0);
  assert_string_equal(e.ids[1], "a");
  assert_int_equal(e.running[1], 1);
  sup_fx_free(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_permanent_restart),
      cmocka_unit_test(test_transient),
      cmocka_unit_test(test_temporary),
      cmocka_unit_test(test_intensity),
      cmocka_unit_test(test_intensity_zero),
      cmocka_unit_test(test_intensity_period),
      cmocka_unit_test(test_terminate_child),
      cmocka_unit_test(test_shutdown_timeout_then_kill),
      cmocka_unit_test(test_brutal_kill),
      cmocka_unit_test(test_start_errors),
      cmocka_unit_test(test_restart_failure_retries),
      cmocka_unit_test(test_parent_exit_stops),
      cmocka_unit_test(test_sup_stop_and_kill),
      cmocka_unit_test(test_stop_walk),
      cmocka_unit_test(test_each),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
