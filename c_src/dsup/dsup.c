/* dsup.c - DistributedSupervisor instances: lifecycle and the Registry
 * server (see dsup.h). The Registry answers the calls the library makes
 * (:nodes, {:node_for, Key}, :state), the cast {:add_nodes, Nodes}, and
 * keeps the ring on nodeup/nodedown as monitor_nodes: true does. */
#include "dsup/dsup_int.h"

#include <stdlib.h>
#include <string.h>

#include "otp/otp.h"
#include "term/term.h"

#define MOD "dsup"

phc__dsup_t *phc__dsup_find(phc_node_t *n, const char *name) {
  for (phc__dsup_t *d = n && n->dsups ? n->dsups->list : NULL; d; d = d->next)
    if (strcmp(d->name, name) == 0) return d;
  return NULL;
}

phc__dsup_t *phc__dsup_by_dyn(phc_node_t *n, const char *dyn) {
  for (phc__dsup_t *d = n && n->dsups ? n->dsups->list : NULL; d; d = d->next)
    if (strcmp(d->dyn, dyn) == 0) return d;
  return NULL;
}

int phc__dsup_gen_call(const char *buf, int len, phc_from_t *from, int *req) {
  int idx = 1, arity, start;
  if (phc__term_check(buf, len) < 0 ||
      ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 3 ||
      !phc__term_atom_eq(buf, idx, "$gen_call") ||
      ei_skip_term(buf, &idx) < 0 ||
      ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 2 ||
      ei_decode_pid(buf, &idx, &from->pid) < 0)
    return 0;
  start = idx;
  if (ei_skip_term(buf, &idx) < 0 || idx - start > (int)sizeof from->tag)
    return 0;
  memcpy(from->tag, buf + start, (size_t)(idx - start));
  from->tag_len = idx - start;
  *req = idx;
  return 1;
}

void phc__dsup_reply(phc_node_t *n, const phc_from_t *from, ei_x_buff *x) {
  phc_gen_reply(n, from, x->buff, x->index);
}

/* ---- the Registry -------------------------------------------------------- */

static void reg_state(phc__dsup_t *d, ei_x_buff *x) {
  phc_ref_t ref;
  phc_make_ref(d->n, &ref);
  phc__x_map_header(x, 7);
  phc__x_atom(x, "name");
  phc__x_atom(x, d->name);
  phc__x_atom(x, "scope");
  phc__x_atom(x, d->scope);
  phc__x_atom(x, "listeners");
  phc__x_empty_list(x);
  phc__x_atom(x, "nodes");
  phc__x_empty_list(x);
  phc__x_atom(x, "ref");
  phc__x_ref(x, &ref);
  phc__x_atom(x, "children");
  phc__dsup_cache_encode(d, x);
  phc__x_atom(x, "ring");
  phc__dring_encode(d->ring, x);
}

static void reg_node_for(phc__dsup_t *d, const char *buf, int len, int key,
                         ei_x_buff *x) {
  const char *node;
  if (phc__dring_node_for(d->ring, buf, len, key, &node) == 0) {
    phc__x_atom(x, node);
    return;
  }
  phc__x_tuple_header(x, 2);
  phc__x_atom(x, "error");
  phc__x_tuple_header(x, 2);
  phc__x_atom(x, "invalid_ring");
  phc__x_atom(x, "no_nodes");
}

void phc__dsup_encode_nodes(phc__dsup_t *d, ei_x_buff *x) {
  const char *nodes[256];
  int k = phc__dring_nodes(d->ring, nodes, 256);
  if (k > 256) k = 256;
  if (k > 0) phc__x_list_header(x, k);
  for (int i = 0; i < k; i++)
    phc__x_atom(x, nodes[i]);
  phc__x_empty_list(x);
}

static void reg_call(phc__dsup_t *d, const char *buf, int len) {
  phc_from_t from;
  int req, idx, arity;
  if (!phc__dsup_gen_call(buf, len, &from, &req)) return;
  ei_x_buff x;
  phc__x_new_with_version(&x);
  idx = req;
  if (phc__term_atom_eq(buf, req, "nodes")) {
    phc__dsup_encode_nodes(d, &x);
  } else if (phc__term_atom_eq(buf, req, "state")) {
    reg_state(d, &x);
  } else if (ei_decode_tuple_header(buf, &idx, &arity) == 0 && arity == 2 &&
             phc__term_atom_eq(buf, idx, "node_for") &&
             ei_skip_term(buf, &idx) == 0) {
    reg_node_for(d, buf, len, idx, &x);
  } else {
    PHC_LOG_W(MOD, "%s: unknown call dropped", d->reg);
    ei_x_free(&x);
    return;
  }
  phc__dsup_reply(d->n, &from, &x);
  ei_x_free(&x);
}

/* {nodeup, Node[, Info]}, {nodedown, Node[, Info]}: the ring follows. */
static int reg_node_msg(phc__dsup_t *d, const char *buf, int idx, int arity) {
  char node[PHC__ATOM_MAX];
  int up = phc__term_atom_eq(buf, idx, "nodeup");
  if ((!up && !phc__term_atom_eq(buf, idx, "nodedown")) || arity > 3 ||
      ei_skip_term(buf, &idx) < 0 ||
      phc__term_atom(buf, &idx, node, sizeof node) < 0)
    return 0;
  if (up) {
    phc__dsup_notify_node(d, 1, node); /* with the ring before the add */
    phc__dring_add(d->ring, node);
    phc__dsup_probe_release(d, node);
  } else {
    phc__dring_remove(d->ring, node);
    phc__dsup_notify_node(d, 0, node);
  }
  return 1;
}

/* {'$gen_cast', {add_nodes, Nodes}} and {node_terminate, Node, Reason, _}. */
static void reg_other(phc__dsup_t *d, const char *buf, int len, int idx) {
  char node[PHC__ATOM_MAX];
  int arity, n;
  if (phc__term_atom_eq(buf, idx, "node_terminate")) {
    int r;
    if (ei_skip_term(buf, &idx) == 0 &&
        phc__term_atom(buf, &idx, node, sizeof node) == 0 &&
        (r = idx, ei_skip_term(buf, &idx) == 0))
      phc__dsup_notify_terminate(d, node, buf + r, idx - r);
    return;
  }
  if (!phc__term_atom_eq(buf, idx, "$gen_cast") ||
      ei_skip_term(buf, &idx) < 0 ||
      ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 2 ||
      !phc__term_atom_eq(buf, idx, "add_nodes") || ei_skip_term(buf, &idx) < 0)
    return;
  if (ei_decode_list_header(buf, &idx, &n) < 0) {
    if (phc__term_atom(buf, &idx, node, sizeof node) == 0)
      phc__dring_add(d->ring, node);
    return;
  }
  for (int i = 0; i < n; i++)
    if (phc__term_atom(buf, &idx, node, sizeof node) == 0)
      phc__dring_add(d->ring, node);
  (void)len;
}

static void reg_msg(phc_proc_t *self, const char *buf, int len) {
  phc__dsup_t *d = phc_proc_data(self);
  int idx = 1, arity;
  if (!d || phc__term_check(buf, len) < 0) return;
  if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity < 2) return;
  if (phc__term_atom_eq(buf, idx, "$gen_call")) {
    reg_call(d, buf, len);
  } else if (reg_node_msg(d, buf, idx, arity)) {
    return;
  } else if (arity == 2 && phc__dsup_cache_reply(d, buf, len)) {
    return;
  } else {
    reg_other(d, buf, len, idx);
  }
}

static int reg_init(phc_proc_t *self, void *arg) {
  phc_proc_set_data(self, arg);
  phc_monitor_nodes(self, 1);
  return 0;
}

static const phc_proc_ops_t reg_ops = {
    .name = "DistributedSupervisor.Registry",
    .init = reg_init,
    .handle_msg = reg_msg,
};

/* ---- lifecycle ----------------------------------------------------------- */

static int dsup_dynsup(phc_node_t *n, const char *sup, const char *fun,
                       const char *arg, int arg_len, ei_x_buff *result) {
  phc__dsup_t *d = phc__dsup_by_dyn(n, sup);
  if (!d) return PHC_ENOPROC;
  return phc__dsup_sup_call(d, fun, arg, arg_len, result);
}

/* Name, Name.Scope, Name.Registry, Name.DynamicSupervisor as
 * Module.concat/2 gives them ("Bar.DS" is taken as 'Elixir.Bar.DS');
 * PHC_EINVAL when a name does not fit in an atom. */
static int dsup_names(phc__dsup_t *d, const char *name) {
  int elixir = strncmp(name, "Elixir.", 7) == 0;
  int upper = name[0] >= 'A' && name[0] <= 'Z';
  const char *base = elixir ? "" : "Elixir.";
  if (strlen(name) > 200) return PHC_EINVAL;
  snprintf(d->name, sizeof d->name, "%s%s", upper ? base : "", name);
  snprintf(d->scope, sizeof d->scope, "%s%s.Scope", base, name);
  snprintf(d->reg, sizeof d->reg, "%s%s.Registry", base, name);
  snprintf(d->dyn, sizeof d->dyn, "%s%s.DynamicSupervisor", base, name);
  return 0;
}

static int dsup_first(phc_node_t *n) {
  if (n->dsups) return 0;
  int rc = phc__dsup_api_init(n);
  if (rc < 0 && rc != PHC_EEXIST) return rc; /* EEXIST: a second start */
  n->dsups = phc__xcalloc(1, sizeof *n->dsups);
  phc__otp_set_dynsup_handler(n, dsup_dynsup);
  return 0;
}

static int dsup_spawn_registry(phc__dsup_t *d) {
  int rc = phc_spawn(d->n, &reg_ops, d, NULL, 0, &d->reg_pid);
  if (rc == 0) rc = phc_register(d->n, d->reg, &d->reg_pid);
  return rc;
}

static void dsup_free_one(phc__dsup_t *d) {
  phc_proc_t *p = phc_proc_lookup(d->n, &d->reg_pid);
  phc__dsup_sup_stop(d);
  if (p) {
    phc_proc_set_data(p, NULL);
    phc_proc_exit_atom(p, "shutdown");
  }
  if (d->pg) {
    phc__pg_watch(d->pg, NULL, NULL);
    phc__pg_stop(d->pg);
  }
  phc__dsup_cache_free(d);
  phc__dring_free(d->ring);
  free(d);
}

int phc_dsup_start(phc_node_t *n, const char *name) {
  if (!n || !name || !*name) return PHC_EINVAL;
  if (!n->rt || !n->otp) return PHC_ESTATE;
  phc__dsup_t *d = phc__xcalloc(1, sizeof *d);
  d->n = n;
  int rc = dsup_names(d, name);
  if (rc == 0 && phc__dsup_find(n, d->name)) rc = PHC_EEXIST;
  if (rc == 0) rc = dsup_first(n);
  if (rc < 0) {
    free(d);
    return rc;
  }
  d->ring = phc__dring_new(PHC__ETF_OTP25);
  phc__dring_add(d->ring, n->name);
  const char *peers[256];
  int k = phc__otp_peers(n, peers, 256);
  for (int i = 0; i < k && i < 256; i++)
    phc__dring_add(d->ring, peers[i]);
  rc = phc__pg_start(n, d->scope, &d->pg);
  if (rc == 0) phc__pg_watch(d->pg, phc__dsup_watch, d);
  if (rc == 0) rc = dsup_spawn_registry(d);
  if (rc == 0) rc = phc__dsup_sup_start(d);
  if (rc < 0) {
    PHC_LOG_E(MOD, "cannot start %s: %s", d->name, phc_strerror(rc));
    dsup_free_one(d);
    return rc;
  }
  for (int i = 0; i < k && i < 256; i++)
    phc__dsup_probe_release(d, peers[i]);
  d->next = n->dsups->list;
  n->dsups->list = d;
  PHC_LOG_I(MOD, "%s: member (scope %s, %d node(s) in the ring)", d->name,
            d->scope, k + 1);
  return 0;
}

int phc_dsup_stop(phc_node_t *n, const char *name) {
  phc__dsup_t tmp;
  if (!n || !name || dsup_names(&tmp, name) < 0) return PHC_EINVAL;
  for (phc__dsup_t **pp = n->dsups ? &n->dsups->list : NULL; pp && *pp;
       pp = &(*pp)->next) {
    if (strcmp((*pp)->name, tmp.name) != 0) continue;
    phc__dsup_t *d = *pp;
    *pp = d->next;
    dsup_free_one(d);
    return 0;
  }
  return PHC_ENOPROC;
}

int phc_dsup_listen(phc_node_t *n, const char *name,
                    const phc_dsup_listener_t *l) {
  phc__dsup_t tmp;
  if (!n || !name || !l || dsup_names(&tmp, name) < 0) return PHC_EINVAL;
  phc__dsup_t *d = phc__dsup_find(n, tmp.name);
  if (!d) return PHC_ENOPROC;
  if (d->nlisteners == DSUP_LISTENERS) return PHC_ELIMIT;
  d->listeners[d->nlisteners++] = *l;
  return 0;
}

void phc__dsups_free(phc_node_t *n) {
  if (!n || !n->dsups) return;
  while (n->dsups->list) {
    phc__dsup_t *d = n->dsups->list;
    n->dsups->list = d->next;
    dsup_free_one(d);
  }
  if (n->otp) phc__otp_set_dynsup_handler(n, NULL);
  free(n->dsups);
  n->dsups = NULL;
}
