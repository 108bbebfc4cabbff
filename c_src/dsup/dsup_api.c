/* dsup_api.c - DistributedSupervisor's functions on phc over erpc/rpc:
 * nodes/1, node_for/2, mine?/2, children/1, whereis/2, local_children/1,
 * dynamic_supervisor_status/1 (what a member's Registry asks for a
 * child's spec), DistributedSupervisor.Registry.whereis_name/1, and
 * Process.alive?/1 (which the library asks a child's node). For a name
 * phc does not run they exit noproc, as the GenServer call a BEAM node
 * without that instance makes. whereis of a remote member answers its pid
 * without asking its node whether it is alive (natives do not block). */
#include "dsup/dsup_int.h"

#include <string.h>

#include "otp/otp.h"
#include "term/term.h"

#define DSA "Elixir.DistributedSupervisor"

/* The instance named by the first argument; args[*second] is the next. */
static phc__dsup_t *api_args(phc_node_t *n, const char *args, int len, int want,
                             int *first, int *second) {
  int idx = 1, arity;
  char name[PHC__ATOM_MAX];
  if (ei_decode_list_header(args, &idx, &arity) < 0 || arity != want)
    return NULL;
  *first = idx;
  if (phc__term_atom(args, &idx, name, sizeof name) < 0) return NULL;
  *second = idx;
  PHC__UNUSED(len);
  return phc__dsup_find(n, name);
}

/* exit {noproc, {'Elixir.GenServer', call, [Name.Suffix, Req, Timeout]}}. */
static int api_noproc(phc_node_t *n, const char *args, int first,
                      const char *suffix, const char *req, ei_x_buff *r) {
  char name[PHC__ATOM_MAX], target[PHC__ATOM_MAX + 32];
  int idx = first;
  if (phc__term_atom(args, &idx, name, sizeof name) < 0) {
    phc__x_atom(r, "badarg");
    return PHC_EINVAL;
  }
  snprintf(target, sizeof target, "%s%s.%s",
           strncmp(name, "Elixir.", 7) ? "Elixir." : "", name, suffix);
  phc__x_tuple_header(r, 2);
  phc__x_atom(r, "noproc");
  phc__x_tuple_header(r, 3);
  phc__x_atom(r, "Elixir.GenServer");
  phc__x_atom(r, "call");
  phc__x_list_header(r, 3);
  phc__x_atom(r, target);
  phc__x_atom(r, req);
  if (strcmp(suffix, "Registry") == 0)
    phc__x_long(r, 5000);
  else
    phc__x_atom(r, "infinity");
  phc__x_empty_list(r);
  return phc__otp_raise_exit(n);
}

static int api_nodes(phc_node_t *n, const phc_pid_t *caller, const char *args,
                     int len, ei_x_buff *r) {
  int a, b;
  PHC__UNUSED(caller);
  phc__dsup_t *d = api_args(n, args, len, 1, &a, &b);
  if (!d) return api_noproc(n, args, a, "Registry", "nodes", r);
  phc__dsup_encode_nodes(d, r);
  return 0;
}

/* node_for/2 and mine?/2. */
static int api_node_for_x(phc_node_t *n, const char *args, int len, int mine,
                          ei_x_buff *r) {
  int a, key;
  const char *node;
  phc__dsup_t *d = api_args(n, args, len, 2, &a, &key);
  if (!d) return api_noproc(n, args, a, "Registry", "node_for", r);
  int rc = phc__dring_node_for(d->ring, args, len, key, &node);
  if (mine) {
    phc__x_boolean(r, rc == 0 && strcmp(node, n->name) == 0);
  } else if (rc == 0) {
    phc__x_atom(r, node);
  } else {
    phc__x_tuple_header(r, 2);
    phc__x_atom(r, "error");
    phc__x_tuple_header(r, 2);
    phc__x_atom(r, "invalid_ring");
    phc__x_atom(r, "no_nodes");
  }
  return 0;
}

static int api_node_for(phc_node_t *n, const phc_pid_t *caller,
                        const char *args, int len, ei_x_buff *r) {
  PHC__UNUSED(caller);
  return api_node_for_x(n, args, len, 0, r);
}

static int api_mine(phc_node_t *n, const phc_pid_t *caller, const char *args,
                    int len, ei_x_buff *r) {
  PHC__UNUSED(caller);
  return api_node_for_x(n, args, len, 1, r);
}

static int api_children(phc_node_t *n, const phc_pid_t *caller,
                        const char *args, int len, ei_x_buff *r) {
  int a, b;
  PHC__UNUSED(caller);
  phc__dsup_t *d = api_args(n, args, len, 1, &a, &b);
  if (!d) return api_noproc(n, args, a, "Registry", "state", r);
  phc__dsup_cache_encode(d, r);
  return 0;
}

/* The member of group key (buf[key]): pid, undefined, or unsupported. */
static void api_member(phc__dsup_t *d, const char *buf, int key, ei_x_buff *r) {
  char group[PHC__ATOM_MAX];
  erlang_pid m[2];
  int idx = key;
  int k = phc__term_atom(buf, &idx, group, sizeof group) == 0
              ? phc__pg_members(d->pg, group, m, 2)
              : 0;
  if (k == 1)
    phc__x_pid(r, &m[0]);
  else
    phc__x_atom(r, k == 0 ? "undefined" : "unsupported");
}

static int api_whereis(phc_node_t *n, const phc_pid_t *caller, const char *args,
                       int len, ei_x_buff *r) {
  int a, key;
  PHC__UNUSED(caller);
  phc__dsup_t *d = api_args(n, args, len, 2, &a, &key);
  if (!d) {
    phc__x_atom(r, "badarg"); /* :pg.get_members of a scope not running */
    return PHC_EINVAL;
  }
  api_member(d, args, key, r);
  return 0;
}

/* DistributedSupervisor.Registry.whereis_name({Name, Key}). */
static int api_whereis_name(phc_node_t *n, const phc_pid_t *caller,
                            const char *args, int len, ei_x_buff *r) {
  int idx = 1, arity;
  char name[PHC__ATOM_MAX];
  PHC__UNUSED(caller);
  PHC__UNUSED(len);
  phc__dsup_t *d = NULL;
  if (ei_decode_list_header(args, &idx, &arity) == 0 && arity == 1 &&
      ei_decode_tuple_header(args, &idx, &arity) == 0 && arity == 2 &&
      phc__term_atom(args, &idx, name, sizeof name) == 0)
    d = phc__dsup_find(n, name);
  if (!d) {
    phc__x_atom(r, "badarg");
    return PHC_EINVAL;
  }
  api_member(d, args, idx, r);
  return 0;
}

static int api_local_children(phc_node_t *n, const phc_pid_t *caller,
                              const char *args, int len, ei_x_buff *r) {
  int a, b;
  PHC__UNUSED(caller);
  phc__dsup_t *d = api_args(n, args, len, 1, &a, &b);
  if (!d)
    return api_noproc(n, args, a, "DynamicSupervisor", "which_children", r);
  for (dsup_child_t *c = d->children; c; c = c->next) {
    phc__x_list_header(r, 1);
    phc__x_pid(r, &c->pid);
  }
  phc__x_empty_list(r);
  return 0;
}

static int api_status(phc_node_t *n, const phc_pid_t *caller, const char *args,
                      int len, ei_x_buff *r) {
  int a, b;
  PHC__UNUSED(caller);
  phc__dsup_t *d = api_args(n, args, len, 1, &a, &b);
  if (!d) return api_noproc(n, args, a, "DynamicSupervisor", "get_status", r);
  phc__dsup_sup_status(d, r);
  return 0;
}

/* Process.alive?/1: a local pid's liveness; a remote pid is badarg. */
static int api_alive(phc_node_t *n, const phc_pid_t *caller, const char *args,
                     int len, ei_x_buff *r) {
  int idx = 1, arity;
  erlang_pid pid;
  PHC__UNUSED(caller);
  PHC__UNUSED(len);
  if (ei_decode_list_header(args, &idx, &arity) < 0 || arity != 1 ||
      ei_decode_pid(args, &idx, &pid) < 0 || strcmp(pid.node, n->name) != 0) {
    phc__x_atom(r, "badarg");
    return PHC_EINVAL;
  }
  phc__x_boolean(r, phc_proc_lookup(n, &pid) != NULL);
  return 0;
}

int phc__dsup_api_init(phc_node_t *n) {
  static const struct {
    const char *m, *f;
    int arity;
    phc_native_fn fn;
  } t[] = {
      {DSA, "nodes", 1, api_nodes},
      {DSA, "node_for", 2, api_node_for},
      {DSA, "mine?", 2, api_mine},
      {DSA, "children", 1, api_children},
      {DSA, "whereis", 2, api_whereis},
      {DSA, "local_children", 1, api_local_children},
      {DSA, "dynamic_supervisor_status", 1, api_status},
      {DSA ".Registry", "whereis_name", 1, api_whereis_name},
      {"Elixir.Process", "alive?", 1, api_alive},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    int rc = phc_native_register(n, t[i].m, t[i].f, t[i].arity, t[i].fn);
    if (rc < 0) return rc;
  }
  return 0;
}
