/* test_proc.c - the process runtime: pids, refs, mailboxes and sending
 * (c_src/proc/proc.c), names and aliases (name.c), links, exit signals and
 * monitors (signal.c), signals from other nodes and node up/down
 * (remote.c), and every signal that leaves for another node. These files
 * are one module, tested here together; timers, gen_server and the
 * supervisor have their own test files. */
#include "proc_fixture.h"
#include "term/enc.h"

/* ---- pids and refs ------------------------------------------------------ */

static void test_pid_alloc(void **state) {
  (void)state;
  fx_t *f = fx_new();
  probe_t *a = probe_spawn(f, 0), *b = probe_spawn(f, 0);
  assert_string_equal(a->pid.node, FX_NODE);
  assert_int_equal(a->pid.creation, 1234);
  assert_true(a->pid.num != 0);
  assert_false(phc_pid_eq(&a->pid, &b->pid));
  assert_true(phc__pid_is_local(&f->node, &a->pid));
  erlang_pid r = fx_remote_pid(5);
  assert_false(phc__pid_is_local(&f->node, &r));
  assert_int_equal(phc__rt_count(&f->node), 2);
  assert_ptr_equal(phc_proc_lookup(&f->node, &a->pid), a->self);

  /* A dead pid is not handed out again soon. */
  erlang_pid dead = a->pid;
  phc_proc_exit_atom(a->self, "normal");
  assert_null(phc_proc_lookup(&f->node, &dead));
  assert_int_equal(phc__rt_count(&f->node), 1);
  for (int i = 0; i < 2000; i++) {
    phc_pid_t p;
    assert_int_equal(phc_spawn(&f->node, &probe_ops, calloc(1, sizeof(probe_t)),
                               NULL, 0, &p),
                     0);
    assert_false(phc_pid_eq(&p, &dead));
    probe_t *pr = phc_proc_data(phc_proc_lookup(&f->node, &p));
    phc_proc_exit_atom(pr->self, "normal");
    probe_free(pr);
  }
  /* Same number, other serial: still not the dead one. */
  erlang_pid same_num = dead;
  same_num.serial++;
  assert_null(phc_proc_lookup(&f->node, &same_num));
  /* An older incarnation of this node is never local. */
  erlang_pid old = b->pid;
  old.creation = 1;
  assert_false(phc__pid_is_local(&f->node, &old));
  assert_null(phc_proc_lookup(&f->node, &old));
  fx_free(f);
  probe_free(a);
  probe_free(b);
}

/* A process with no callbacks: the cheapest thing to spawn by the ten
 * thousand. */
static const phc_proc_ops_t bare_ops = {.name = "bare"};

/* Pid numbers go past OTP's old 15 bits, the table stops at max_processes
 * (PHC_ELIMIT), and a freed number comes back with the next serial, after
 * every older freed one. */
static void test_pid_wide_and_limit(void **state) {
  (void)state;
  fx_t *f = fx_new();
  f->node.rt->max = 40000; /* as -max_processes 40000 would set it */
  assert_int_equal(phc__rt_limit(&f->node), 40000);
  phc_pid_t p, first, wide = {0};
  for (int i = 0; i < 40000; i++) {
    assert_int_equal(phc_spawn(&f->node, &bare_ops, NULL, NULL, 0, &p), 0);
    if (i == 0) first = p;
    if (p.num == 39000) wide = p;
  }
  assert_int_equal(phc__rt_count(&f->node), 40000);
  assert_int_equal(phc_spawn(&f->node, &bare_ops, NULL, NULL, 0, &p),
                   PHC_ELIMIT);
  phc_proc_t *w = phc_proc_lookup(&f->node, &wide);
  assert_non_null(w);
  assert_true(phc_pid_eq(phc_self(w), &wide));
  /* The wide pid survives encoding as NEW_PID_EXT with 32-bit fields. */
  ei_x_buff x;
  phc__x_new_with_version(&x);
  phc__x_pid(&x, &wide);
  erlang_pid back;
  int idx = 1;
  assert_int_equal(ei_decode_pid(x.buff, &idx, &back), 0);
  assert_true(phc_pid_eq(&back, &wide));
  ei_x_free(&x);
  /* Free two; the oldest freed number comes back first, serial moved on. */
  phc_proc_exit_atom(phc_proc_lookup(&f->node, &first), "normal");
  phc_proc_exit_atom(w, "normal");
  assert_int_equal(phc_spawn(&f->node, &bare_ops, NULL, NULL, 0, &p), 0);
  assert_int_equal(p.num, first.num);
  assert_int_equal(p.serial, first.serial + 1);
  assert_null(phc_proc_lookup(&f->node, &first));
  assert_int_equal(phc_spawn(&f->node, &bare_ops, NULL, NULL, 0, &p), 0);
  assert_int_equal(p.num, wide.num);
  assert_int_equal(phc_spawn(&f->node, &bare_ops, NULL, NULL, 0, &p),
                   PHC_ELIMIT);
  fx_free(f);
}

static void test_ref_alloc(void **state) {
  (void)state;
  fx_t *f = fx_new();
  phc_ref_t prev, r;
  assert_int_equal(phc_make_ref(&f->node, &prev), 0);
  assert_int_equal(prev.len, 3);
  assert_string_equal(prev.node, FX_NODE);
  assert_int_equal(prev.creation, 1234);
  assert_true(phc__ref_is_local(&f->node, &prev));
  for (int i = 0; i < 300000; i++) {
    assert_int_equal(phc_make_ref(&f->node, &r), 0);
    assert_false(phc_ref_eq(&r, &prev));
    assert_true(r.n[0] < (1u << 18));
    prev = r;
  }
  erlang_ref rr = fx_remote_ref(1);
  assert_false(phc__ref_is_local(&f->node, &rr));
  fx_free(f);
}

/* ---- mailbox ------------------------------------------------------------ */

static void test_mailbox_order(void **state) {
  (void)state;
  fx_t *f = fx_new();
  probe_t *a = probe_spawn(f, 0);
  for (int i = 0; i < 100; i++) {
    term_t t = t_int(i);
    assert_int_equal(phc_send(&f->node, NULL, &a->pid, t.b, t.len), 0);
  }
  assert_int_equal(a->count, 0); /* nothing delivered inside phc_send */
  fx_drain(f);
  assert_int_equal(a->count, 100);
  for (int i = 0; i < 100; i++) {
    long v;
    assert_true(t_get_long(a->msgs[i], a->lens[i], &v));
    assert_int_equal(v, i);
  }
  /* A term without the version byte is refused. */
  char bad[2] = {'d', 0};
  assert_int_equal(phc_send(&f->node, NULL, &a->pid, bad, 2), PHC_EINVAL);
  /* So is a message that is not exactly one term: cut short, or with
   * bytes after it; by name and by alias too. */
  term_t t = t_pair("k", 5);
  assert_int_equal(phc_send(&f->node, NULL, &a->pid, t.b, t.len - 1),
                   PHC_EINVAL);
  t.b[t.len] = 106;
  assert_int_equal(phc_send(&f->node, NULL, &a->pid, t.b, t.len + 1),
                   PHC_EINVAL);
  assert_int_equal(phc_register(&f->node, "mbox", &a->pid), 0);
  assert_int_equal(phc_send_name(&f->node, NULL, NULL, "mbox", t.b, t.len + 1),
                   PHC_EINVAL);
  erlang_ref al;
  assert_int_equal(phc__alias_make(a->self, &al), 0);
  assert_int_equal(phc_send_alias(&f->node, NULL, &al, t.b, t.len - 1),
                   PHC_EINVAL);
  fx_drain(f);
  assert_int_equal(a->count, 100);
  fx_free(f);
  probe_free(a);
}

static void test_mailbox_no_reentry(void **state) {
  (void)state;
  fx_t *f = fx_new();
  probe_t *a = probe_spawn(f, 0);
  a->echo_to_self = 1;
  term_t t = t_atom("ping");
  phc_send(&f->node, NULL, &a->pid, t.b, t.len);
  fx_drain(f);
  assert_int_equal(a->count, 2);
  assert_true(t_is_atom(a->msgs[0], a->lens[0], "ping"));
  assert_true(t_is_atom(a->msgs[1], a->lens[1], "ping"));
  assert_int_equal(a->max_depth, 1);
  /* Messages copied: the sender's buffer may change after the send. */
  term_t u = t_atom("one");
  phc_send(&f->node, NULL, &a->pid, u.b, u.len);
  memset(u.b, 0, sizeof u.b);
  fx_drain(f);
  assert_true(t_is_atom(a->msgs[2], a->lens[2], "one"));
  fx_free(f);
  probe_free(a);
}

static void test_exit_inside_handle_msg(void **state) {
  (void)state;
  fx_t *f = fx_new();
  probe_t *a = probe_spawn(f, 0);
  a->exit_on_msg = 1;
  term_t t = t_atom("x");
  for (int i = 0; i < 3; i++)
    phc_send(&f->node, NULL, &a->pid, t.b, t.len);
  fx_drain(f);
  assert_int_equal(a->count, 1); /* the later two die with it */
  assert_true(t_is_atom(a->msgs[0], a->lens[0], "x"));
  assert_true(probe_died_with(a, "boom"));
  assert_int_equal(phc__rt_count(&f->node), 0);
  /* Sending to a dead pid is not an error; the message is dropped. */
  assert_int_equal(phc_send(&f->node, NULL, &a->pid, t.b, t.len), 0);
  fx_drain(f);
  assert_int_equal(a->count, 1);
  fx_free(f);
  probe_free(a);
}

static void test_init_failure(void **state) {
  (void)state;
  fx_t *f = fx_new();
  probe_t *a = calloc(1, sizeof *a);
  a->init_fail = 1;
  assert_int_equal(phc_spawn(&f->node, &probe_ops, a, NULL, 0, &a->pid), 0);
  assert_true(probe_died_with(a, "normal"));
  assert_null(phc_proc_lookup(&f->node, &a->pid));
  assert_int_equal(phc__rt_count(&f->node), 0);
  fx_free(f);
  probe_free(a);
}

/* ---- names -------------------------------------------------------------- */

static void test_names(void **state) {
  (void)state;
  fx_t *f = fx_new();
  probe_t *a = probe_spawn(f, 0), *b = probe_spawn(f, 0);
  phc_pid_t w;
  assert_int_equal(phc_whereis(&f->node, "srv", &w), PHC_ENOPROC);
  assert_int_equal(phc_register(&f->node, "srv", &a->pid), 0);
  assert_int_equal(phc_register(&f->node, "srv", &b->pid), PHC_EEXIST);
  assert_int_equal(phc_register(&f->node, "other", &a->pid), PHC_EEXIST);
  assert_int_equal(phc_register(&f->node, "undefined", &b->pid), PHC_EINVAL);
  erlang_pid r = fx_remote_pid(1);
  assert_int_equal(phc_register(&f->node, "x", &r), PHC_ENOPROC);
  assert_int_equal(phc_whereis(&f->node, "srv", &w), 0);
  assert_true(phc_pid_eq(&w, &a->pid));

  term_t t = t_atom("hi");
  assert_int_equal(phc_send_name(&f->node, NULL, NULL, "srv", t.b, t.len), 0);
  assert_int_equal(phc_send_name(&f->node, NULL, FX_NODE, "srv", t.b, t.len),
                   0);
  phc__proc_in_send_name(&f->node, &r, "srv", t.b, t.len);
  assert_int_equal(phc_send_name(&f->node, NULL, NULL, "nobody", t.b, t.len),
                   PHC_ENOPROC);
  phc__proc_in_send_name(&f->node, &r, "nobody", t.b, t.len);
  fx_drain(f);
  assert_int_equal(a->count, 3);
  for (int i = 0; i < 3; i++)
    assert_true(t_is_atom(a->msgs[i], a->lens[i], "hi"));
  assert_int_equal(b->count, 0);

  assert_int_equal(phc_unregister(&f->node, "srv"), 0);
  assert_int_equal(phc_unregister(&f->node, "srv"), PHC_ENOPROC);
  assert_int_equal(phc_register(&f->node, "srv", &b->pid), 0);
  /* The name goes with its process. */
  phc_proc_exit_atom(b->self, "normal");
  assert_int_equal(phc_whereis(&f->node, "srv", &w), PHC_ENOPROC);
  assert_int_equal(phc_register(&f->node, "srv", &a->pid), 0);
  fx_free(f);
  probe_free(a);
  probe_free(b);
}

/* ---- remote sends ------------------------------------------------------- */

static void test_remote_sends(void **state) {
  (void)state;
  fx_t *f = fx_new();
  probe_t *a = probe_spawn(f, 0);
  erlang_pid r = fx_remote_pid(9);
  term_t t = t_atom("hello");
  assert_int_equal(phc_send(&f->node, &a->pid, &r, t.b, t.len), 0);
  rec_call_t *c = fx_last(f, R_SEND);
  assert_non_null(c);
  assert_true(c->has_from && phc_pid_eq(&c->from, &a->pid));
  assert_true(phc_pid_eq(&c->to, &r));
  assert_int_equal(c->len, t.len);
  assert_memory_equal(c->buf, t.b, t.len);

  assert_int_equal(phc_send_name(&f->node, &a->pid, FX_PEER, "reg", t.b, t.len),
                   0);
  c = fx_last(f, R_SEND_NAME);
  assert_non_null(c);
  assert_string_equal(c->node, FX_PEER);
  assert_string_equal(c->name, "reg");
  assert_true(phc_pid_eq(&c->from, &a->pid));
  assert_int_equal(c->len, t.len);
  assert_memory_equal(c->buf, t.b, t.len);

  erlang_ref al = fx_remote_ref(3);
  assert_int_equal(phc_send_alias(&f->node, &a->pid, &al, t.b, t.len), 0);
  c = fx_last(f, R_SEND_ALIAS);
  assert_non_null(c);
  assert_true(phc_ref_eq(&c->ref, &al));
  assert_true(c->has_from && phc_pid_eq(&c->from, &a->pid));
  assert_int_equal(c->len, t.len);
  assert_memory_equal(c->buf, t.b, t.len);

  /* An incoming send reaches the process. */
  phc__proc_in_send(&f->node, &r, &a->pid, t.b, t.len);
  fx_drain(f);
  assert_int_equal(a->count, 1);
  assert_true(t_is_atom(a->msgs[0], a->lens[0], "hello"));
  assert_int_equal(f->rec.n, 3); /* nothing else went out */
  fx_free(f);
  probe_free(a);
}

/* ---- aliases ------------------------------------------------------------ */

static void test_aliases(void **state) {
  (void)state;
  fx_t *f = fx_new();
  probe_t *a = probe_spawn(f, 0);
  erlang_ref al, al2;
  assert_int_equal(phc__alias_make(a->self, &al), 0);
  assert_int_equal(phc__alias_make(a->self, &al2), 0);
  assert_true(phc__ref_is_local(&f->node, &al));
  term_t t = t_atom("via_alias");
  assert_int_equal(phc_send_alias(&f->node, NULL, &al, t.b, t.len), 0);
  erlang_pid r = fx_remote_pid(2);
  phc__proc_in_send_alias(&f->node, &r, &al2, t.b, t.len);
  fx_drain(f);
  assert_int_equal(a->count, 2);
  assert_true(t_is_atom(a->msgs[0], a->lens[0], "via_alias"));
  assert_true(t_is_atom(a->msgs[1], a->lens[1], "via_alias"));
  phc__alias_remove(&f->node, &al);
  phc_send_alias(&f->node, NULL, &al, t.b, t.len);
  phc__proc_in_send_alias(&f->node, &r, &al, t.b, t.len);
  fx_drain(f);
  assert_int_equal(a->count, 2); /* unknown alias: dropped */
  assert_int_equal(fx_count(f, R_SEND_ALIAS), 0);
  /* Aliases go with the process. */
  phc_proc_exit_atom(a->self, "normal");
  probe_t *b = probe_spawn(f, 0);
  phc__proc_in_send_alias(&f->node, &r, &al2, t.b, t.len);
  fx_drain(f);
  assert_int_equal(b->count, 0);
  fx_free(f);
  probe_free(a);
  probe_free(b);
}

/* ---- links and exits ---------------------------------------------------- */

static void test_link_exit_propagates(void **state) {
  (void)state;
  fx_t *f = fx_new();
  probe_t *a = probe_spawn(f, 0), *b = probe_spawn(f, 0);
  probe_t *t = probe_spawn(f, 1);
  assert_int_equal(phc_link(a->self, &b->pid), 0);
  assert_int_equal(phc_link(t->self, &b->pid), 0);
  phc_proc_exit_atom(b->self, "boom");
  fx_drain(f);
  assert_true(probe_died_with(a, "boom"));
  assert_true(probe_alive(f, t));
  assert_int_equal(t->count, 1);
  assert_true(t_is_exit(t->msgs[0], &b->pid, "boom"));
  /* The trapping process's link is gone: its exit reaches nobody. */
  assert_int_equal(f->rec.n, 0);
  fx_free(f);
  probe_free(a);
  probe_free(b);
  probe_free(t);
}

/* A process with many links (a supervisor) indexes them; one with few
 * scans them. Both find, unlink and break links alike across the
 * threshold, up and back down. */
static void test_link_index_threshold(void **state) {
  (void)state;
  fx_t *f = fx_new();
  enum { K = PHC__LINK_IDX_MIN + 4 };
  probe_t *sup = probe_spawn(f, 1), *kids[K];
  phc_proc_t *sp = phc_proc_lookup(&f->node, &sup->pid);
  for (int i = 0; i < K; i++) {
    kids[i] = probe_spawn(f, 0);
    assert_int_equal(phc_link(kids[i]->self, &sup->pid), 0);
    assert_int_equal(sp->link_indexed, i + 1 >= PHC__LINK_IDX_MIN);
  }
  assert_int_equal(kids[0]->self->link_indexed, 0);
  for (int i = 0; i < K; i++)
    assert_non_null(phc__link_find(sp, &kids[i]->pid));
  for (int i = 0; i < K - 1; i++) /* down to one link, by unlink */
    assert_int_equal(phc_unlink(sp, &kids[i]->pid), 0);
  assert_null(phc__link_find(sp, &kids[0]->pid));
  assert_non_null(phc__link_find(sp, &kids[K - 1]->pid));
  phc_proc_exit_atom(kids[K - 1]->self, "boom");
  fx_drain(f);
  assert_int_equal(sup->count, 1);
  assert_true(t_is_exit(sup->msgs[0], &kids[K - 1]->pid, "boom"));
  assert_int_equal(sp->nlinks, 0);
  assert_int_equal(sp->link_indexed, 0);
  assert_int_equal(phc_link(sp, &kids[0]->pid), 0); /* scans again */
  assert_non_null(phc__link_find(sp, &kids[0]->pid));
  fx_free(f);
  probe_free(sup);
  for (int i = 0; i < K; i++)
    probe_free(kids[i]);
}

static void test_link_normal_ignored(void **state) {
  (void)state;
  fx_t *f = fx_new();
  probe_t *a = probe_spawn(f, 0), *b = probe_spawn(f, 0);
  probe_t *t = probe_spawn(f, 1);
  phc_link(a->self, &b->pid);
  phc_link(t->self, &b->pid);
  phc_proc_exit_atom(b->self, "normal");
  fx_drain(f);
  assert_true(probe_alive(f, a));
  assert_int_equal(a->count, 0);
  assert_int_equal(t->count, 1);
  assert_true(t_is_exit(t->msgs[0], &b->pid, "normal"));
  fx_free(f);
  probe_free(a);
  probe_free(b);
  probe_free(t);
}

static void test_exit2_kill_and_killed(void **state) {
  (void)state;
  fx_t *f = fx_new();
  probe_t *k = probe_spawn(f, 1); /* traps, but kill is untrappable */
  probe_t *watch = probe_spawn(f, 1);
  probe_t *plain = probe_spawn(f, 0);
  probe_t *sender = probe_spawn(f, 0);
  phc_link(watch->self, &k->pid);
  phc_link(plain->self, &k->pid);
  term_t kill = t_atom("kill");
  assert_int_equal(phc_exit(&f->node, &sender->pid, &k->pid, kill.b, kill.len),
                   0);
  assert_true(probe_alive(f, k)); /* signals are delivered from the loop */
  fx_drain(f);
  assert_true(probe_died_with(k, "killed"));
  assert_int_equal(k->count, 0);
  /* Linked: `killed` is an ordinary reason. */
  assert_int_equal(watch->count, 1);
  assert_true(t_is_exit(watch->msgs[0], &k->pid, "killed"));
  assert_true(probe_died_with(plain, "killed"));
  assert_true(probe_alive(f, sender));

  /* exit/2 with another reason to a trapping process: a message. */
  term_t r = t_atom("shutdown");
  phc_exit(&f->node, &sender->pid, &watch->pid, r.b, r.len);
  fx_drain(f);
  assert_int_equal(watch->count, 2);
  assert_true(t_is_exit(watch->msgs[1], &sender->pid, "shutdown"));
  /* ... and to a non-trapping one: it dies. */
  probe_t *p2 = probe_spawn(f, 0);
  phc_exit(&f->node, &sender->pid, &p2->pid, r.b, r.len);
  fx_drain(f);
  assert_true(probe_died_with(p2, "shutdown"));
  fx_free(f);
  probe_free(k);
  probe_free(watch);
  probe_free(plain);
  probe_free(sender);
  probe_free(p2);
}

static void test_exit2_normal(void **state) {
  (void)state;
  fx_t *f = fx_new();
  probe_t *a = probe_spawn(f, 0), *b = probe_spawn(f, 0);
  term_t n = t_atom("normal");
  phc_exit(&f->node, &b->pid, &a->pid, n.b, n.len);
  fx_drain(f);
  assert_true(probe_alive(f, a)); /* normal from another: ignored */
  phc_exit(&f->node, &a->pid, &a->pid, n.b, n.len);
  fx_drain(f);
  assert_true(probe_died_with(a, "normal")); /* exit(self(), normal) */
  fx_free(f);
  probe_free(a);
  probe_free(b);
}

static void test_unlink_local(void **state) {
  (void)state;
  fx_t *f = fx_new();
  probe_t *a = probe_spawn(f, 0), *b = probe_spawn(f, 0);
  phc_link(a->self, &b->pid);
  assert_int_equal(phc_unlink(b->self, &a->pid), 0);
  phc_proc_exit_atom(b->self, "boom");
  fx_drain(f);
  assert_true(probe_alive(f, a));
  fx_free(f);
  probe_free(a);
  probe_free(b);
}

static void test_link_dead_noproc(void **state) {
  (void)state;
  fx_t *f = fx_new();
  probe_t *t = probe_spawn(f, 1), *d = probe_spawn(f, 0);
  erlang_pid dead = d->pid;
  phc_proc_exit_atom(d->self, "normal");
  assert_int_equal(phc_link(t->self, &dead), PHC_ENOPROC);
  fx_drain(f);
  assert_int_equal(t->count, 1);
  assert_true(t_is_exit(t->msgs[0], &dead, "noproc"));
  probe_t *p = probe_spawn(f, 0);
  phc_link(p->self, &dead);
  fx_drain(f);
  assert_true(probe_died_with(p, "noproc"));
  fx_free(f);
  probe_free(t);
  probe_free(d);
  probe_free(p);
}

static void test_spawn_link(void **state) {
  (void)state;
  fx_t *f = fx_new();
  probe_t *parent = probe_spawn(f, 1);
  probe_t *c = calloc(1, sizeof *c);
  assert_int_equal(
      phc_spawn(&f->node, &probe_ops, c, &parent->pid, PHC_SPAWN_LINK, &c->pid),
      0);
  phc_proc_exit_atom(c->self, "crash");
  fx_drain(f);
  assert_int_equal(parent->count, 1);
  assert_true(t_is_exit(parent->msgs[0], &c->pid, "crash"));
  fx_free(f);
  probe_free(parent);
  probe_free(c);
}

static void test_remote_links(void **state) {
  (void)state;
  fx_t *f = fx_new();
  probe_t *a = probe_spawn(f, 0);
  erlang_pid r = fx_remote_pid(10);
  assert_int_equal(phc_link(a->self, &r), 0);
  rec_call_t *c = fx_last(f, R_LINK);
  assert_non_null(c);
  assert_true(phc_pid_eq(&c->from, &a->pid) && phc_pid_eq(&c->to, &r));
  assert_int_equal(phc_link(a->self, &r), 0); /* already linked: no resend */
  assert_int_equal(fx_count(f, R_LINK), 1);

  /* Incoming link from another remote, then we die: both get EXIT. */
  erlang_pid r2 = fx_remote_pid(11);
  phc__proc_in_link(&f->node, &r2, &a->pid);
  phc_proc_exit_atom(a->self, "boom");
  assert_int_equal(fx_count(f, R_EXIT), 2);
  c = fx_last(f, R_EXIT);
  assert_true(phc_pid_eq(&c->from, &a->pid));
  assert_true(phc_pid_eq(&c->to, &r) || phc_pid_eq(&c->to, &r2));
  assert_true(t_is_atom(c->buf, c->len, "boom"));

  /* A link to a dead pid from a peer: EXIT noproc goes back. */
  phc__proc_in_link(&f->node, &r, &a->pid);
  c = fx_last(f, R_EXIT);
  assert_true(phc_pid_eq(&c->from, &a->pid) && phc_pid_eq(&c->to, &r));
  assert_true(t_is_atom(c->buf, c->len, "noproc"));

  /* An incoming link exit kills a non-trapping process. */
  probe_t *b = probe_spawn(f, 0);
  phc__proc_in_link(&f->node, &r, &b->pid);
  term_t boom = t_atom("remote_boom");
  phc__proc_in_exit(&f->node, &r, &b->pid, boom.b, boom.len, 0);
  fx_drain(f);
  assert_true(probe_died_with(b, "remote_boom"));
  /* A link exit without a link is ignored. */
  probe_t *c2 = probe_spawn(f, 0);
  phc__proc_in_exit(&f->node, &r, &c2->pid, boom.b, boom.len, 0);
  fx_drain(f);
  assert_true(probe_alive(f, c2));
  /* EXIT2 kill from a peer. */
  term_t kill = t_atom("kill");
  phc__proc_in_exit(&f->node, &r, &c2->pid, kill.b, kill.len, 1);
  fx_drain(f);
  assert_true(probe_died_with(c2, "killed"));
  /* phc_exit to a remote pid goes out as exit2. */
  probe_t *d = probe_spawn(f, 0);
  assert_int_equal(phc_exit(&f->node, &d->pid, &r, boom.b, boom.len), 0);
  c = fx_last(f, R_EXIT2);
  assert_non_null(c);
  assert_true(phc_pid_eq(&c->from, &d->pid) && phc_pid_eq(&c->to, &r));
  assert_true(t_is_atom(c->buf, c->len, "remote_boom"));
  fx_free(f);
  probe_free(a);
  probe_free(b);
  probe_free(c2);
  probe_free(d);
}

static void test_unlink_id_protocol(void **state) {
  (void)state;
  fx_t *f = fx_new();
  probe_t *a = probe_spawn(f, 0);
  erlang_pid r = fx_remote_pid(12);
  phc_link(a->self, &r);
  assert_int_equal(phc_unlink(a->self, &r), 0);
  rec_call_t *c = fx_last(f, R_UNLINK_ID);
  assert_non_null(c);
  uint64_t id = c->id;
  assert_true(id != 0);
  assert_true(phc_pid_eq(&c->from, &a->pid) && phc_pid_eq(&c->to, &r));
  /* Before the ack: an exit on the old link is ignored. */
  term_t boom = t_atom("boom");
  phc__proc_in_exit(&f->node, &r, &a->pid, boom.b, boom.len, 0);
  fx_drain(f);
  assert_true(probe_alive(f, a));
  /* Relink, unlink again (new id), ack with the right id. */
  phc_link(a->self, &r);
  phc_unlink(a->self, &r);
  uint64_t id2 = fx_last(f, R_UNLINK_ID)->id;
  assert_true(id2 != id);
  phc__proc_in_unlink_id_ack(&f->node, id2, &r, &a->pid);
  phc_proc_exit_atom(a->self, "boom");
  assert_int_equal(fx_count(f, R_EXIT), 0); /* no link left */

  /* Incoming UNLINK_ID: link removed, ack with the same id. */
  probe_t *b = probe_spawn(f, 0);
  phc__proc_in_link(&f->node, &r, &b->pid);
  phc__proc_in_unlink_id(&f->node, 77, &r, &b->pid);
  c = fx_last(f, R_UNLINK_ID_ACK);
  assert_non_null(c);
  assert_int_equal(c->id, 77);
  assert_true(phc_pid_eq(&c->from, &b->pid) && phc_pid_eq(&c->to, &r));
  phc_proc_exit_atom(b->self, "boom");
  assert_int_equal(fx_count(f, R_EXIT), 0);
  fx_free(f);
  probe_free(a);
  probe_free(b);
}

/* ---- monitors ----------------------------------------------------------- */

static void test_monitor_local(void **state) {
  (void)state;
  fx_t *f = fx_new();
  probe_t *w = probe_spawn(f, 0), *t = probe_spawn(f, 0);
  phc_ref_t ref, ref2, ref3;
  assert_int_equal(phc_monitor(w->self, &t->pid, &ref), 0);
  assert_int_equal(phc_monitor(w->self, &t->pid, &ref2), 0);
  assert_false(phc_ref_eq(&ref, &ref2));
  assert_int_equal(phc_demonitor(w->self, &ref2), 0);
  assert_int_equal(phc_register(&f->node, "tgt", &t->pid), 0);
  assert_int_equal(phc_monitor_name(w->self, "tgt", NULL, &ref3), 0);
  phc_proc_exit_atom(t->self, "bye");
  fx_drain(f);
  assert_int_equal(w->count, 2); /* not for the demonitored ref */
  assert_true(t_is_down(w->msgs[0], &ref, &t->pid, NULL, NULL, "bye"));
  assert_true(t_is_down(w->msgs[1], &ref3, NULL, "tgt", FX_NODE, "bye"));
  assert_true(probe_alive(f, w)); /* monitors do not kill */

  /* Dead pid and unknown name: DOWN noproc at once. */
  probe_reset(w);
  assert_int_equal(phc_monitor(w->self, &t->pid, &ref), 0);
  assert_int_equal(phc_monitor_name(w->self, "nobody", NULL, &ref2), 0);
  fx_drain(f);
  assert_int_equal(w->count, 2);
  assert_true(t_is_down(w->msgs[0], &ref, &t->pid, NULL, NULL, "noproc"));
  assert_true(t_is_down(w->msgs[1], &ref2, NULL, "nobody", FX_NODE, "noproc"));
  assert_int_equal(f->rec.n, 0);

  /* A watcher that dies takes its monitors along. */
  probe_t *w2 = probe_spawn(f, 0), *t2 = probe_spawn(f, 0);
  phc_monitor(w2->self, &t2->pid, &ref);
  phc_proc_exit_atom(w2->self, "normal");
  phc_proc_exit_atom(t2->self, "normal");
  fx_drain(f);
  assert_int_equal(w2->count, 0);
  fx_free(f);
  probe_free(w);
  probe_free(t);
  probe_free(w2);
  probe_free(t2);
}

static void test_monitor_remote_out(void **state) {
  (void)state;
  fx_t *f = fx_new();
  probe_t *w = probe_spawn(f, 0);
  erlang_pid r = fx_remote_pid(20);
  phc_ref_t ref, ref2;
  assert_int_equal(phc_monitor(w->self, &r, &ref), 0);
  rec_call_t *c = fx_last(f, R_MONITOR);
  assert_non_null(c);
  assert_true(phc_pid_eq(&c->from, &w->pid));
  assert_true(c->has_to && phc_pid_eq(&c->to, &r));
  assert_true(phc_ref_eq(&c->ref, &ref));
  assert_string_equal(c->node, FX_PEER);

  assert_int_equal(phc_monitor_name(w->self, "reg", FX_PEER, &ref2), 0);
  c = fx_last(f, R_MONITOR);
  assert_false(c->has_to);
  assert_true(phc_pid_eq(&c->from, &w->pid));
  assert_string_equal(c->name, "reg");
  assert_string_equal(c->node, FX_PEER);
  assert_true(phc_ref_eq(&c->ref, &ref2));

  term_t why = t_atom("gone");
  phc__proc_in_monitor_exit(&f->node, &r, NULL, NULL, &w->pid, &ref, why.b,
                            why.len);
  phc__proc_in_monitor_exit(&f->node, NULL, "reg", FX_PEER, &w->pid, &ref2,
                            why.b, why.len);
  /* A second MONITOR_P_EXIT for the same ref is dropped. */
  phc__proc_in_monitor_exit(&f->node, &r, NULL, NULL, &w->pid, &ref, why.b,
                            why.len);
  fx_drain(f);
  assert_int_equal(w->count, 2);
  assert_true(t_is_down(w->msgs[0], &ref, &r, NULL, NULL, "gone"));
  assert_true(t_is_down(w->msgs[1], &ref2, NULL, "reg", FX_PEER, "gone"));

  /* Demonitor and watcher exit go out as DEMONITOR_P. */
  phc_monitor(w->self, &r, &ref);
  phc_demonitor(w->self, &ref);
  c = fx_last(f, R_DEMONITOR);
  assert_non_null(c);
  assert_true(phc_ref_eq(&c->ref, &ref) && phc_pid_eq(&c->to, &r));
  phc_monitor_name(w->self, "reg", FX_PEER, &ref2);
  phc_proc_exit_atom(w->self, "normal");
  c = fx_last(f, R_DEMONITOR);
  assert_true(phc_ref_eq(&c->ref, &ref2));
  assert_string_equal(c->name, "reg");
  assert_int_equal(fx_count(f, R_DEMONITOR), 2);

  /* No connection: DOWN noconnection at once. */
  probe_t *w2 = probe_spawn(f, 0);
  f->rec.fail_monitor = 1;
  phc_monitor(w2->self, &r, &ref);
  fx_drain(f);
  assert_int_equal(w2->count, 1);
  assert_true(t_is_down(w2->msgs[0], &ref, &r, NULL, NULL, "noconnection"));
  fx_free(f);
  probe_free(w);
  probe_free(w2);
}

static void test_monitor_remote_in(void **state) {
  (void)state;
  fx_t *f = fx_new();
  probe_t *t = probe_spawn(f, 0), *u = probe_spawn(f, 0);
  erlang_pid r = fx_remote_pid(30);
  erlang_ref m1 = fx_remote_ref(1), m2 = fx_remote_ref(2),
             m3 = fx_remote_ref(3), m4 = fx_remote_ref(4),
             m5 = fx_remote_ref(5);
  phc_register(&f->node, "named", &t->pid);
  phc__proc_in_monitor(&f->node, &r, &t->pid, NULL, &m1);
  phc__proc_in_monitor(&f->node, &r, NULL, "named", &m2);
  phc__proc_in_monitor(&f->node, &r, &u->pid, NULL, &m3);
  phc__proc_in_demonitor(&f->node, &r, &m3);
  assert_int_equal(f->rec.n, 0);
  phc_proc_exit_atom(t->self, "bye");
  assert_int_equal(fx_count(f, R_MONITOR_EXIT), 2);
  rec_call_t *c = &f->rec.calls[0];
  assert_true(c->has_from && phc_pid_eq(&c->from, &t->pid));
  assert_true(phc_pid_eq(&c->to, &r) && phc_ref_eq(&c->ref, &m1));
  assert_true(t_is_atom(c->buf, c->len, "bye"));
  c = &f->rec.calls[1];
  assert_false(c->has_from);
  assert_string_equal(c->name, "named");
  assert_true(phc_pid_eq(&c->to, &r) && phc_ref_eq(&c->ref, &m2));
  assert_true(t_is_atom(c->buf, c->len, "bye"));
  phc_proc_exit_atom(u->self, "bye"); /* demonitored: nothing */
  assert_int_equal(fx_count(f, R_MONITOR_EXIT), 2);

  /* Dead pid, unknown name: answered at once with noproc. */
  phc__proc_in_monitor(&f->node, &r, &t->pid, NULL, &m4);
  c = fx_last(f, R_MONITOR_EXIT);
  assert_true(phc_pid_eq(&c->from, &t->pid) && phc_ref_eq(&c->ref, &m4));
  assert_true(phc_pid_eq(&c->to, &r));
  assert_true(t_is_atom(c->buf, c->len, "noproc"));
  phc__proc_in_monitor(&f->node, &r, NULL, "ghost", &m5);
  c = fx_last(f, R_MONITOR_EXIT);
  assert_false(c->has_from);
  assert_string_equal(c->name, "ghost");
  assert_true(phc_ref_eq(&c->ref, &m5) && phc_pid_eq(&c->to, &r));
  assert_true(t_is_atom(c->buf, c->len, "noproc"));
  fx_free(f);
  probe_free(t);
  probe_free(u);
}

/* ---- nodes -------------------------------------------------------------- */

static int t_is_node_msg(const char *buf, const char *tag, const char *node) {
  int idx = 0, ver, ar;
  char a[MAXATOMLEN_UTF8], b[MAXATOMLEN_UTF8];
  return ei_decode_version(buf, &idx, &ver) == 0 &&
         ei_decode_tuple_header(buf, &idx, &ar) == 0 && ar == 2 &&
         ei_decode_atom(buf, &idx, a) == 0 && strcmp(a, tag) == 0 &&
         ei_decode_atom(buf, &idx, b) == 0 && strcmp(b, node) == 0;
}

static void test_node_down(void **state) {
  (void)state;
  fx_t *f = fx_new();
  probe_t *plain = probe_spawn(f, 0), *trap = probe_spawn(f, 1);
  probe_t *watcher = probe_spawn(f, 0), *watched = probe_spawn(f, 0);
  probe_t *other = probe_spawn(f, 0);
  erlang_pid r = fx_remote_pid(40);
  erlang_pid elsewhere = fx_remote_pid(41);
  strcpy(elsewhere.node, "b@127.0.0.1");
  phc_link(plain->self, &r);
  phc_link(trap->self, &r);
  phc_link(other->self, &elsewhere);
  phc_ref_t ref, ref2;
  phc_monitor(watcher->self, &r, &ref);
  phc_monitor_name(watcher->self, "reg", FX_PEER, &ref2);
  erlang_ref m1 = fx_remote_ref(1);
  phc__proc_in_monitor(&f->node, &r, &watched->pid, NULL, &m1);
  phc_monitor_nodes(trap->self, 1);

  phc__proc_node_up(&f->node, FX_PEER, 1); /* hidden: not reported */
  phc__proc_node_up(&f->node, FX_PEER, 0);
  fx_drain(f);
  assert_int_equal(trap->count, 1);
  assert_true(t_is_node_msg(trap->msgs[0], "nodeup", FX_PEER));

  int sent = f->rec.n;
  phc__proc_node_down(&f->node, FX_PEER);
  fx_drain(f);
  assert_true(probe_died_with(plain, "noconnection"));
  assert_int_equal(trap->count, 3);
  assert_true(t_is_exit(trap->msgs[1], &r, "noconnection") ||
              t_is_exit(trap->msgs[2], &r, "noconnection"));
  assert_true(t_is_node_msg(trap->msgs[1], "nodedown", FX_PEER) ||
              t_is_node_msg(trap->msgs[2], "nodedown", FX_PEER));
  assert_int_equal(watcher->count, 2);
  assert_true(
      t_is_down(watcher->msgs[0], &ref, &r, NULL, NULL, "noconnection"));
  assert_true(
      t_is_down(watcher->msgs[1], &ref2, NULL, "reg", FX_PEER, "noconnection"));
  assert_true(probe_alive(f, other));
  /* Nothing goes out to the dead node, even when its watched one exits. */
  phc_proc_exit_atom(watched->self, "later");
  phc_proc_exit_atom(trap->self, "later");
  assert_int_equal(f->rec.n, sent);
  fx_free(f);
  probe_free(plain);
  probe_free(trap);
  probe_free(watcher);
  probe_free(watched);
  probe_free(other);
}

static void test_rt_close(void **state) {
  (void)state;
  fx_t *f = fx_new();
  probe_t *a = probe_spawn(f, 0), *b = probe_spawn(f, 1);
  phc_link(a->self, &b->pid);
  term_t t = t_atom("pending");
  phc_send(&f->node, NULL, &a->pid, t.b, t.len);
  fx_free(f);
  assert_true(probe_died_with(a, "shutdown"));
  assert_true(probe_died_with(b, "shutdown"));
  probe_free(a);
  probe_free(b);
}

/* mailbox_warn: one line the first time a mailbox holds that many. */
static void test_mailbox_warn(void **s) {
  (void)s;
  fx_t *f = fx_new();
  f->node.limits.mailbox_warn = 3;
  probe_t *pr = probe_spawn(f, 0);
  term_t a = t_atom("x");
  phc_proc_t *p = phc_proc_lookup(&f->node, &pr->pid);
  for (int i = 0; i < 2; i++)
    phc_send(&f->node, NULL, &pr->pid, a.b, a.len);
  assert_int_equal(p->mbox_warned, 0);
  for (int i = 0; i < 4; i++)
    phc_send(&f->node, NULL, &pr->pid, a.b, a.len);
  assert_int_equal(p->mbox_warned, 1);
  fx_drain(f);
  assert_int_equal(pr->count, 6);
  fx_free(f);
  probe_free(pr);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pid_alloc),
      cmocka_unit_test(test_pid_wide_and_limit),
      cmocka_unit_test(test_ref_alloc),
      cmocka_unit_test(test_mailbox_order),
      cmocka_unit_test(test_mailbox_no_reentry),
      cmocka_unit_test(test_exit_inside_handle_msg),
      cmocka_unit_test(test_init_failure),
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_remote_sends),
      cmocka_unit_test(test_aliases),
      cmocka_unit_test(test_link_exit_propagates),
      cmocka_unit_test(test_link_index_threshold),
      cmocka_unit_test(test_link_normal_ignored),
      cmocka_unit_test(test_exit2_kill_and_killed),
      cmocka_unit_test(test_exit2_normal),
      cmocka_unit_test(test_unlink_local),
      cmocka_unit_test(test_link_dead_noproc),
      cmocka_unit_test(test_spawn_link),
      cmocka_unit_test(test_remote_links),
      cmocka_unit_test(test_unlink_id_protocol),
      cmocka_unit_test(test_monitor_local),
      cmocka_unit_test(test_monitor_remote_out),
      cmocka_unit_test(test_monitor_remote_in),
      cmocka_unit_test(test_node_down),
      cmocka_unit_test(test_rt_close),
      cmocka_unit_test(test_mailbox_warn),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
