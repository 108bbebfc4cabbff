/* dsup_sup.c - Name.DynamicSupervisor on phc (see dsup.h): a front process
 * registered under the name, answering DynamicSupervisor's calls
 * (start_child, terminate_child, which_children, count_children) and
 * :sys.get_status, over proc's one_for_one supervisor (intensity 100 in 1
 * second, as DistributedSupervisor starts its DynamicSupervisor). A child
 * spec's start {M, F, A} names a C child type M (F start_link or start);
 * A = [Opts] with name: {via, DistributedSupervisor.Registry, {Name, Key}}
 * registers the child as pg group Key (refused when Key has a member:
 * {error, {already_started, Pid}}), and value: V starts the type with [V]. */
#include "dsup/dsup_int.h"

#include <stdlib.h>
#include <string.h>

#include "term/term.h"

#define MOD "dsup"
#define DS_VIA "Elixir.DistributedSupervisor.Registry"

/* What the supervisor's event callback points at; detached at stop, freed
 * with the STOPPED event. */
typedef struct dsup_handle_s {
  phc__dsup_t *d;
} dsup_handle_t;

static dsup_child_t *child_by_pid(phc__dsup_t *d, const phc_pid_t *pid) {
  for (dsup_child_t *c = d->children; c; c = c->next)
    if (phc_pid_eq(&c->pid, pid)) return c;
  return NULL;
}

static void child_unlink(phc__dsup_t *d, dsup_child_t *c) {
  for (dsup_child_t **pp = &d->children; *pp; pp = &(*pp)->next)
    if (*pp == c) {
      *pp = c->next;
      break;
    }
  free(c->child);
  free(c);
}

static void sup_event(phc__sup_t *sup, int ev, const char *id,
                      const phc_pid_t *old, const phc_pid_t *new_pid,
                      const char *reason, int len, void *arg) {
  dsup_handle_t *h = arg;
  PHC__UNUSED(sup);
  PHC__UNUSED(reason);
  PHC__UNUSED(len);
  if (ev == PHC__SUP_STOPPED) {
    if (h->d) {
      h->d->sup = NULL;
      h->d->sup_handle = NULL;
    }
    free(h);
    return;
  }
  phc__dsup_t *d = h->d;
  dsup_child_t *c = d ? child_by_pid(d, old) : NULL;
  if (!c || strcmp(c->id, id) != 0) return;
  if (ev == PHC__SUP_CHILD_RESTARTED) {
    c->pid = *new_pid;
    if (c->key[0]) phc__pg_join(d->pg, c->key, new_pid);
    return;
  }
  child_unlink(d, c); /* gone for good; its spec goes from the mailbox */
  ei_x_buff x;
  phc__x_new_with_version(&x);
  phc__x_tuple_header(&x, 2);
  phc__x_atom(&x, "$phc_dsup_gone");
  phc__x_binary(&x, id, (int)strlen(id));
  phc_send(d->n, NULL, &d->dyn_pid, x.buff, x.index);
  ei_x_free(&x);
}

/* ---- the child spec --------------------------------------------------- */

typedef struct child_req_s {
  char m[PHC__ATOM_MAX], f[PHC__ATOM_MAX];
  char key[PHC__ATOM_MAX];
  int restart, shutdown_ms;
  ei_x_buff args; /* the type's argument list, with version */
} child_req_t;

static int parse_restart(const char *buf, int *idx, int *restart) {
  char a[16];
  if (phc__term_atom(buf, idx, a, sizeof a) < 0) return PHC_EINVAL;
  *restart = !strcmp(a, "permanent")   ? PHC__SUP_PERMANENT
             : !strcmp(a, "transient") ? PHC__SUP_TRANSIENT
             : !strcmp(a, "temporary") ? PHC__SUP_TEMPORARY
                                       : -1;
  return *restart < 0 ? PHC_EINVAL : 0;
}

static int parse_shutdown(const char *buf, int *idx, int *ms) {
  long v;
  char a[16];
  int t = *idx;
  if (ei_decode_long(buf, &t, &v) == 0 && v >= 0 && v < 0x7fffffff) {
    *ms = v == 0 ? PHC__SUP_BRUTAL_KILL : (int)v;
    *idx = t;
    return 0;
  }
  if (phc__term_atom(buf, idx, a, sizeof a) < 0) return PHC_EINVAL;
  if (!strcmp(a, "brutal_kill"))
    *ms = PHC__SUP_BRUTAL_KILL;
  else if (!strcmp(a, "infinity"))
    *ms = PHC__SUP_INFINITY;
  else
    return PHC_EINVAL;
  return 0;
}

/* {via, DistributedSupervisor.Registry, {Name, Key}} with this Name: the
 * key (an atom) into r->key. PHC_EINVAL for another name shape. */
static int parse_via(phc__dsup_t *d, const char *buf, int idx, child_req_t *r) {
  int arity;
  char a[PHC__ATOM_MAX];
  if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 3 ||
      !phc__term_atom_eq(buf, idx, "via") || ei_skip_term(buf, &idx) < 0 ||
      !phc__term_atom_eq(buf, idx, DS_VIA) || ei_skip_term(buf, &idx) < 0 ||
      ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 2 ||
      phc__term_atom(buf, &idx, a, sizeof a) < 0 || strcmp(a, d->name) != 0)
    return PHC_EINVAL;
  return phc__term_atom(buf, &idx, r->key, sizeof r->key) < 0 ? PHC_EINVAL : 0;
}

/* A = [Opts] with name: Via (and value: V): the key and [V]; any other A
 * is the type's argument list as given. */
static int parse_args(phc__dsup_t *d, const char *buf, int a, int a_end,
                      child_req_t *r) {
  int idx = a, n, name, value;
  phc__x_new_with_version(&r->args);
  if (ei_decode_list_header(buf, &idx, &n) == 0 && n == 1 &&
      phc__term_kw_get(buf, idx, "name", &name) == 0) {
    if (parse_via(d, buf, name, r) < 0) return PHC_EINVAL;
    if (phc__term_kw_get(buf, idx, "value", &value) == 0) {
      int end = value;
      if (phc__term_skip(buf, a_end, &end) < 0) return PHC_EINVAL;
      phc__x_list_header(&r->args, 1);
      phc__x_append_buf(&r->args, buf + value, end - value);
      phc__x_empty_list(&r->args);
      return 0;
    }
  }
  phc__x_append_buf(&r->args, buf + a, a_end - a);
  return 0;
}

/* {{M, F, A}, Restart, Shutdown, Type, Modules}. */
static int parse_child(phc__dsup_t *d, const char *buf, int len,
                       child_req_t *r) {
  int idx = 0, arity, a;
  if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 5 ||
      ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 3 ||
      phc__term_atom(buf, &idx, r->m, sizeof r->m) < 0 ||
      phc__term_atom(buf, &idx, r->f, sizeof r->f) < 0)
    return PHC_EINVAL;
  a = idx;
  if (phc__term_skip(buf, len, &idx) < 0 || parse_args(d, buf, a, idx, r) < 0 ||
      parse_restart(buf, &idx, &r->restart) < 0 ||
      parse_shutdown(buf, &idx, &r->shutdown_ms) < 0)
    return PHC_EINVAL;
  return 0;
}

/* ---- the calls -------------------------------------------------------- */

static void error2(ei_x_buff *x, const char *tag, const char *atom) {
  phc__x_tuple_header(x, 2);
  phc__x_atom(x, "error");
  phc__x_tuple_header(x, 2);
  phc__x_atom(x, tag);
  phc__x_atom(x, atom);
}

/* A free via key, or {error, {already_started, Pid}} in x. */
static int key_free(phc__dsup_t *d, const char *key, ei_x_buff *x) {
  erlang_pid member;
  if (!key[0] || phc__pg_members(d->pg, key, &member, 1) == 0) return 1;
  phc__x_tuple_header(x, 2);
  phc__x_atom(x, "error");
  phc__x_tuple_header(x, 2);
  phc__x_atom(x, "already_started");
  phc__x_pid(x, &member);
  return 0;
}

static void start_child(phc__dsup_t *d, const char *child, int len,
                        child_req_t *r, ei_x_buff *x) {
  phc_pid_t pid;
  if (!phc_child_type_find(d->n, r->m) ||
      (strcmp(r->f, "start_link") != 0 && strcmp(r->f, "start") != 0)) {
    error2(x, "not_a_phc_child_type", r->m);
    return;
  }
  if (!key_free(d, r->key, x)) return;
  dsup_child_t *c = phc__xcalloc(1, sizeof *c);
  snprintf(c->id, sizeof c->id, "dsup_%lu", ++d->next_id);
  phc__sup_spec_t spec = {.id = c->id,
                          .module = r->m,
                          .args = r->args.buff,
                          .args_len = r->args.index,
                          .restart = r->restart,
                          .shutdown_ms = r->shutdown_ms};
  int rc = phc__sup_start_child(d->sup, &spec, &pid);
  if (rc < 0) {
    free(c);
    error2(x, "start_failed", phc_err_name(rc));
    return;
  }
  c->pid = pid;
  snprintf(c->key, sizeof c->key, "%s", r->key);
  c->child = phc__term_dup(child, len);
  c->child_len = len;
  c->next = d->children;
  d->children = c;
  if (c->key[0]) phc__pg_join(d->pg, c->key, &pid);
  phc__x_tuple_header(x, 2);
  phc__x_atom(x, "ok");
  phc__x_pid(x, &pid);
}

static void terminate_child(phc__dsup_t *d, const char *arg, int len,
                            ei_x_buff *x) {
  erlang_pid pid;
  int idx = 0;
  dsup_child_t *c = NULL;
  if (len > 0 && ei_decode_pid(arg, &idx, &pid) == 0) c = child_by_pid(d, &pid);
  if (!c) {
    phc__x_tuple_header(x, 2);
    phc__x_atom(x, "error");
    phc__x_atom(x, "not_found");
    return;
  }
  phc__sup_terminate_child(d->sup, c->id);
  if (c->key[0]) phc__pg_leave(d->pg, c->key, &c->pid);
  child_unlink(d, c);
  phc__x_atom(x, "ok");
}

/* Type and Modules of a child tuple (elements 4 and 5). */
static int child_type_modules(const dsup_child_t *c, int *type, int *mods) {
  int idx = 0, arity;
  if (ei_decode_tuple_header(c->child, &idx, &arity) < 0 || arity != 5)
    return PHC_EINVAL;
  for (int i = 0; i < 3; i++)
    if (phc__term_skip(c->child, c->child_len, &idx) < 0) return PHC_EINVAL;
  *type = idx;
  if (phc__term_skip(c->child, c->child_len, &idx) < 0) return PHC_EINVAL;
  *mods = idx;
  return 0;
}

static void which_children(phc__dsup_t *d, ei_x_buff *x) {
  for (dsup_child_t *c = d->children; c; c = c->next) {
    int ty, mo, end;
    if (child_type_modules(c, &ty, &mo) < 0) continue;
    end = mo;
    phc__term_skip(c->child, c->child_len, &end);
    phc__x_list_header(x, 1);
    phc__x_tuple_header(x, 4);
    phc__x_atom(x, "undefined");
    phc__x_pid(x, &c->pid);
    phc__x_append_buf(x, c->child + ty, mo - ty);
    phc__x_append_buf(x, c->child + mo, end - mo);
  }
  phc__x_empty_list(x);
}

static void count_children(phc__dsup_t *d, ei_x_buff *x) {
  long n = 0, sups = 0;
  for (dsup_child_t *c = d->children; c; c = c->next) {
    int ty, mo;
    n++;
    if (child_type_modules(c, &ty, &mo) == 0 &&
        phc__term_atom_eq(c->child, ty, "supervisor"))
      sups++;
  }
  phc__x_map_header(x, 4);
  phc__x_atom(x, "active");
  phc__x_long(x, n);
  phc__x_atom(x, "specs");
  phc__x_long(x, n);
  phc__x_atom(x, "supervisors");
  phc__x_long(x, sups);
  phc__x_atom(x, "workers");
  phc__x_long(x, n - sups);
}

int phc__dsup_sup_call(phc__dsup_t *d, const char *fun, const char *arg,
                       int arg_len, ei_x_buff *result) {
  if (!d->sup) return PHC_ENOPROC;
  if (!strcmp(fun, "start_child")) {
    child_req_t r;
    memset(&r, 0, sizeof r);
    if (parse_child(d, arg, arg_len, &r) < 0)
      error2(result, "invalid_child_spec", "phc_dsup");
    else
      start_child(d, arg, arg_len, &r, result);
    if (r.args.buff) ei_x_free(&r.args);
  } else if (!strcmp(fun, "terminate_child")) {
    terminate_child(d, arg, arg_len, result);
  } else if (!strcmp(fun, "which_children")) {
    which_children(d, result);
  } else if (!strcmp(fun, "count_children")) {
    count_children(d, result);
  } else {
    return PHC_ENOPROC;
  }
  return 0;
}

/* ---- :sys.get_status -------------------------------------------------- */

static void charlist(ei_x_buff *x, const char *s) {
  size_t n = strlen(s);
  if (n) phc__x_list_header(x, (long)n);
  for (size_t i = 0; i < n; i++)
    phc__x_long(x, (unsigned char)s[i]);
  phc__x_empty_list(x);
}

static void status_pair(ei_x_buff *x, const char *key) {
  phc__x_tuple_header(x, 2);
  charlist(x, key);
}

/* %DynamicSupervisor{} as Elixir 1.14 keeps it. */
static void status_struct(phc__dsup_t *d, ei_x_buff *x) {
  int n = 0;
  for (dsup_child_t *c = d->children; c; c = c->next)
    n++;
  phc__x_map_header(x, 11);
  phc__x_atom(x, "__struct__");
  phc__x_atom(x, "Elixir.DynamicSupervisor");
  phc__x_atom(x, "args");
  phc__x_tuple_header(x, 2);
  phc__x_atom(x, "ok");
  phc__x_map_header(x, 5);
  phc__x_atom(x, "extra_arguments");
  phc__x_empty_list(x);
  phc__x_atom(x, "intensity");
  phc__x_long(x, 100);
  phc__x_atom(x, "max_children");
  phc__x_atom(x, "infinity");
  phc__x_atom(x, "period");
  phc__x_long(x, 1);
  phc__x_atom(x, "strategy");
  phc__x_atom(x, "one_for_one");
  phc__x_atom(x, "children");
  phc__x_map_header(x, n);
  for (dsup_child_t *c = d->children; c; c = c->next) {
    phc__x_pid(x, &c->pid);
    phc__x_append_buf(x, c->child, c->child_len);
  }
  phc__x_atom(x, "extra_arguments");
  phc__x_empty_list(x);
  phc__x_atom(x, "max_children");
  phc__x_atom(x, "infinity");
  phc__x_atom(x, "max_restarts");
  phc__x_long(x, 100);
  phc__x_atom(x, "max_seconds");
  phc__x_long(x, 1);
  phc__x_atom(x, "mod");
  phc__x_atom(x, "Elixir.Supervisor.Default");
  phc__x_atom(x, "name");
  phc__x_tuple_header(x, 2);
  phc__x_atom(x, "local");
  phc__x_atom(x, d->dyn);
  phc__x_atom(x, "restarts");
  phc__x_empty_list(x);
  phc__x_atom(x, "strategy");
  phc__x_atom(x, "one_for_one");
}

void phc__dsup_sup_status(phc__dsup_t *d, ei_x_buff *x) {
  char header[PHC__ATOM_MAX + 40];
  snprintf(header, sizeof header, "Status for generic server %s", d->dyn);
  phc__x_tuple_header(x, 4);
  phc__x_atom(x, "status");
  phc__x_pid(x, &d->dyn_pid);
  phc__x_tuple_header(x, 2);
  phc__x_atom(x, "module");
  phc__x_atom(x, "gen_server");
  phc__x_list_header(x, 5);
  phc__x_list_header(x, 1); /* the process dictionary */
  phc__x_tuple_header(x, 2);
  phc__x_atom(x, "$initial_call");
  phc__x_tuple_header(x, 3);
  phc__x_atom(x, "supervisor");
  phc__x_atom(x, "Elixir.Supervisor.Default");
  phc__x_long(x, 1);
  phc__x_empty_list(x);
  phc__x_atom(x, "running");
  phc__x_pid(x, &d->dyn_pid); /* no parent: itself */
  phc__x_empty_list(x);
  phc__x_list_header(x, 3);
  phc__x_tuple_header(x, 2);
  phc__x_atom(x, "header");
  charlist(x, header);
  phc__x_tuple_header(x, 2);
  phc__x_atom(x, "data");
  phc__x_list_header(x, 3);
  status_pair(x, "Status");
  phc__x_atom(x, "running");
  status_pair(x, "Parent");
  phc__x_pid(x, &d->dyn_pid);
  status_pair(x, "Logged events");
  phc__x_empty_list(x);
  phc__x_empty_list(x);
  phc__x_tuple_header(x, 2);
  phc__x_atom(x, "data");
  phc__x_list_header(x, 1);
  status_pair(x, "State");
  status_struct(d, x);
  phc__x_empty_list(x);
  phc__x_empty_list(x);
  phc__x_empty_list(x);
}

int phc__dsup_spec_of(const char *buf, int idx, ei_x_buff *x) {
  int arity, mfa, m, r, s, t, end;
  if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 5)
    return PHC_EINVAL;
  mfa = idx;
  if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 3)
    return PHC_EINVAL;
  m = idx;
  idx = mfa;
  if (ei_skip_term(buf, &idx) < 0) return PHC_EINVAL;
  r = idx;
  if (ei_skip_term(buf, &idx) < 0) return PHC_EINVAL;
  s = idx;
  if (ei_skip_term(buf, &idx) < 0) return PHC_EINVAL;
  t = idx;
  if (ei_skip_term(buf, &idx) < 0) return PHC_EINVAL;
  end = idx;
  int mend = m;
  if (ei_skip_term(buf, &mend) < 0) return PHC_EINVAL;
  phc__x_map_header(x, 5);
  phc__x_atom(x, "id");
  phc__x_append_buf(x, buf + m, mend - m);
  phc__x_atom(x, "restart");
  phc__x_append_buf(x, buf + r, s - r);
  phc__x_atom(x, "shutdown");
  phc__x_append_buf(x, buf + s, t - s);
  phc__x_atom(x, "start");
  phc__x_append_buf(x, buf + mfa, r - mfa);
  phc__x_atom(x, "type");
  phc__x_append_buf(x, buf + t, end - t);
  return 0;
}

/* ---- the front process ------------------------------------------------ */

/* A $gen_call to Name.DynamicSupervisor: the same answers as the natives. */
static void front_call(phc__dsup_t *d, const char *buf, int len) {
  phc_from_t from;
  int req, idx, arity, end;
  char fun[32] = "";
  if (!phc__dsup_gen_call(buf, len, &from, &req)) return;
  ei_x_buff x;
  phc__x_new_with_version(&x);
  idx = req;
  if (ei_decode_tuple_header(buf, &idx, &arity) == 0 && arity == 2 &&
      phc__term_atom(buf, &idx, fun, sizeof fun) == 0) {
    end = idx;
    if (phc__term_skip(buf, len, &end) < 0 ||
        phc__dsup_sup_call(d, fun, buf + idx, end - idx, &x) < 0)
      fun[0] = 0;
  } else if (phc__term_atom(buf, &idx, fun, sizeof fun) < 0 ||
             phc__dsup_sup_call(d, fun, NULL, 0, &x) < 0) {
    fun[0] = 0;
  }
  if (fun[0])
    phc__dsup_reply(d->n, &from, &x);
  else
    PHC_LOG_W(MOD, "%s: unknown call dropped", d->dyn);
  ei_x_free(&x);
}

/* {system, From, get_status}: the status, as gen:reply sends it. */
static int front_system(phc__dsup_t *d, const char *buf, int len, int idx) {
  phc_from_t from;
  int arity, start;
  if (!phc__term_atom_eq(buf, idx, "system") || ei_skip_term(buf, &idx) < 0)
    return 0;
  memset(&from, 0, sizeof from);
  if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 2 ||
      ei_decode_pid(buf, &idx, &from.pid) < 0)
    return 1;
  start = idx;
  if (phc__term_skip(buf, len, &idx) < 0 ||
      idx - start > (int)sizeof from.tag ||
      !phc__term_atom_eq(buf, idx, "get_status"))
    return 1;
  memcpy(from.tag, buf + start, (size_t)(idx - start));
  from.tag_len = idx - start;
  ei_x_buff x;
  phc__x_new_with_version(&x);
  phc__dsup_sup_status(d, &x);
  phc__dsup_reply(d->n, &from, &x);
  ei_x_free(&x);
  return 1;
}

static void front_msg(phc_proc_t *self, const char *buf, int len) {
  phc__dsup_t *d = phc_proc_data(self);
  int idx = 1, arity;
  char id[40];
  long blen;
  if (!d || phc__term_check(buf, len) < 0 ||
      ei_decode_tuple_header(buf, &idx, &arity) < 0)
    return;
  if (phc__term_atom_eq(buf, idx, "$gen_call")) {
    front_call(d, buf, len);
  } else if (arity == 3 && front_system(d, buf, len, idx)) {
    return;
  } else if (arity == 2 && phc__term_atom_eq(buf, idx, "$phc_dsup_gone") &&
             ei_skip_term(buf, &idx) == 0 &&
             ei_decode_binary(buf, &idx, NULL, &blen) == 0 &&
             blen < (long)sizeof id) {
    idx -= (int)blen;
    memcpy(id, buf + idx, (size_t)blen);
    id[blen] = 0;
    if (d->sup) phc__sup_delete_child(d->sup, id);
  }
}

static int front_init(phc_proc_t *self, void *arg) {
  phc_proc_set_data(self, arg);
  return 0;
}

static const phc_proc_ops_t front_ops = {
    .name = "DynamicSupervisor",
    .init = front_init,
    .handle_msg = front_msg,
};

int phc__dsup_sup_start(phc__dsup_t *d) {
  dsup_handle_t *h = phc__xcalloc(1, sizeof *h);
  h->d = d;
  phc__sup_config_t cfg = {
      .max_restarts = 100, .max_seconds = 1, .on_event = sup_event, .arg = h};
  phc_pid_t engine;
  int rc = phc__sup_start(d->n, &cfg, NULL, &d->sup, &engine);
  if (rc < 0) {
    free(h);
    return rc;
  }
  d->sup_handle = h;
  rc = phc_spawn(d->n, &front_ops, d, NULL, 0, &d->dyn_pid);
  if (rc == 0) rc = phc_register(d->n, d->dyn, &d->dyn_pid);
  return rc;
}

void phc__dsup_sup_stop(phc__dsup_t *d) {
  phc_proc_t *p = phc_proc_lookup(d->n, &d->dyn_pid);
  if (p) {
    phc_proc_set_data(p, NULL);
    phc_proc_exit_atom(p, "shutdown");
  }
  while (d->children)
    child_unlink(d, d->children);
  if (d->sup) {
    /* the handle outlives d until the supervisor's STOPPED event */
    phc__sup_t *sup = d->sup;
    ((dsup_handle_t *)d->sup_handle)->d = NULL;
    d->sup = NULL;
    d->sup_handle = NULL;
    phc__sup_stop(sup, "shutdown");
  }
}
