/* elector.c - the leader view a node running the :elector application
 * keeps (its elector_state process), for CentralizedLoadBalancer.
 *
 * The :elector library elects one leader for the cluster on a node holding
 * the global name elector_commission, and tells every node the result by
 * gen_server:abcast to elector_state: {set_leader, Node} or clear_leader.
 * Each BEAM member's view is the last of these it received, and a member
 * pushes its load to the leader of its own view. phc runs no election and
 * is no candidate; it keeps the same view: a process registered as
 * elector_state that records what the abcasts say, read by
 * phc__elector_leader and answered to erpc as elector:get_leader/0 (so a
 * user or a test asks phc's view as it asks a BEAM member's). It is started
 * once per node, by the first hub that runs the load balancer, and stays
 * (as the application stays started on a BEAM node). */
#include <stdlib.h>
#include <string.h>

#include "hub/hub.h"
#include "term/enc.h"
#include "term/term.h"

#define MOD "elector"

typedef struct el_view_s {
  char leader[PHC__ATOM_MAX]; /* "" while none is known */
} el_view_t;

static el_view_t *el_view(phc_node_t *n) {
  phc_pid_t pid;
  if (phc_whereis(n, "elector_state", &pid) != 0) return NULL;
  phc_proc_t *p = phc_proc_lookup(n, &pid);
  return p ? phc_proc_data(p) : NULL;
}

static int el_leader(phc_node_t *n, char *out, size_t size) {
  el_view_t *v = el_view(n);
  if (!v || !v->leader[0]) return PHC_ENOPROC;
  snprintf(out, size, "%s", v->leader);
  return 0;
}

/* {'$gen_cast', {set_leader, Node}} or {'$gen_cast', clear_leader}. */
static void el_handle_msg(phc_proc_t *p, const char *buf, int len) {
  el_view_t *v = phc_proc_data(p);
  int idx = 0, ver, arity;
  char node[PHC__ATOM_MAX];
  PHC__UNUSED(len);
  if (ei_decode_version(buf, &idx, &ver) < 0 ||
      ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 2 ||
      !phc__term_atom_eq(buf, idx, "$gen_cast") ||
      phc__term_skip(buf, len, &idx) < 0)
    return;
  if (phc__term_atom_eq(buf, idx, "clear_leader")) {
    v->leader[0] = '\0';
    PHC_LOG_I(MOD, "leader cleared");
    return;
  }
  if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 2 ||
      !phc__term_atom_eq(buf, idx, "set_leader") ||
      phc__term_skip(buf, len, &idx) < 0 ||
      phc__term_atom(buf, &idx, node, sizeof node) < 0) {
    PHC_LOG_W(MOD, "dropped a message elector_state does not take");
    return;
  }
  if (strcmp(v->leader, node) != 0) PHC_LOG_I(MOD, "leader %s", node);
  snprintf(v->leader, sizeof v->leader, "%s", node);
}

static int el_init(phc_proc_t *p, void *arg) {
  phc_proc_set_data(p, arg);
  return 0;
}

static void el_terminate(phc_proc_t *p, const char *reason, int len) {
  PHC__UNUSED(reason);
  PHC__UNUSED(len);
  free(phc_proc_data(p));
  phc_proc_set_data(p, NULL);
}

static const phc_proc_ops_t el_ops = {.name = "elector_state",
                                      .init = el_init,
                                      .handle_msg = el_handle_msg,
                                      .terminate = el_terminate};

/* elector:get_leader(): {ok, Node} or {error, leader_node_not_set}. */
static int el_get_leader(phc_node_t *n, const phc_pid_t *caller,
                         const char *args, int len, ei_x_buff *result) {
  char leader[PHC__ATOM_MAX];
  PHC__UNUSED(caller);
  PHC__UNUSED(args);
  PHC__UNUSED(len);
  phc__x_tuple_header(result, 2);
  if (el_leader(n, leader, sizeof leader) != 0) {
    phc__x_atom(result, "error");
    phc__x_atom(result, "leader_node_not_set");
  } else {
    phc__x_atom(result, "ok");
    phc__x_atom(result, leader);
  }
  return 0;
}

int phc__elector_start(phc_hub_t *h) {
  phc_node_t *n = h->n;
  if (el_view(n)) return 0;
  el_view_t *v = phc__xcalloc(1, sizeof *v);
  phc_pid_t pid;
  int rc = phc_spawn(n, &el_ops, v, NULL, 0, &pid);
  if (rc < 0) {
    free(v);
    return rc;
  }
  if ((rc = phc_register(n, "elector_state", &pid)) != 0) {
    ei_x_buff x;
    if (phc__x_atom_term(&x, "kill") == 0) {
      phc_exit(n, NULL, &pid, x.buff, x.index);
      ei_x_free(&x);
    }
    return rc;
  }
  rc = phc_native_register(n, "elector", "get_leader", 0, el_get_leader);
  return rc == PHC_EEXIST ? 0 : rc;
}

int phc__elector_leader(phc_hub_t *h, char *out, size_t size) {
  return el_leader(h->n, out, size);
}
