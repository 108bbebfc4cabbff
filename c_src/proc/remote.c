/* remote.c - signals from other nodes: the phc__proc_in_* entry points the
 * node calls with decoded control messages, and node up/down (see
 * proc.h). */
#include <stdlib.h>

#include "proc/proc_int.h"
#include "term/enc.h"

/* ---- signals from other nodes ------------------------------------------- */

void phc__proc_in_send(phc_node_t *n, const erlang_pid *from,
                       const erlang_pid *to, const char *buf, int len) {
  PHC__UNUSED(from);
  if (!n || !n->rt || !to || !buf || len <= 0) return;
  phc__proc_enqueue_msg(phc__proc_find(n, to), buf, len);
}

void phc__proc_in_send_name(phc_node_t *n, const erlang_pid *from,
                            const char *name, const char *buf, int len) {
  PHC__UNUSED(from);
  if (!n || !n->rt || !name || !buf || len <= 0) return;
  phc_proc_t *p = phc__name_find(n, name);
  if (!p) {
    PHC_LOG_D(PHC__PROC_MOD, "message to unknown name %s dropped", name);
    return;
  }
  phc__proc_enqueue_msg(p, buf, len);
}

void phc__proc_in_send_alias(phc_node_t *n, const erlang_pid *from,
                             const erlang_ref *alias, const char *buf,
                             int len) {
  PHC__UNUSED(from);
  if (!n || !n->rt || !alias || !buf || len <= 0) return;
  phc__alias_t *a = phc__alias_find(n, alias);
  if (a) phc__proc_enqueue_msg(a->owner, buf, len);
}

static void remote_exit_atom(phc_node_t *n, const erlang_pid *from,
                             const erlang_pid *to, const char *atom) {
  int len;
  char *r = phc__proc_atom_term(atom, &len);
  if (r && phc__remote_ok(n) && n->remote->exit)
    n->remote->exit(n->remote_ctx, from, to, r, len);
  free(r);
}

void phc__proc_in_link(phc_node_t *n, const erlang_pid *from,
                       const erlang_pid *to) {
  if (!n || !n->rt || !from || !to) return;
  phc_proc_t *p = phc__proc_find(n, to);
  if (!p) {
    remote_exit_atom(n, to, from, "noproc");
    return;
  }
  phc__link_add(p, from);
}

void phc__proc_in_unlink_id(phc_node_t *n, uint64_t id, const erlang_pid *from,
                            const erlang_pid *to) {
  if (!n || !n->rt || !from || !to) return;
  phc_proc_t *p = phc__proc_find(n, to);
  if (!p) return;
  phc__link_t *l = phc__link_find(p, from);
  if (l && !l->unlinking) phc__link_del(p, l);
  if (phc__remote_ok(n) && n->remote->unlink_id_ack)
    n->remote->unlink_id_ack(n->remote_ctx, id, to, from);
}

void phc__proc_in_unlink_id_ack(phc_node_t *n, uint64_t id,
                                const erlang_pid *from, const erlang_pid *to) {
  if (!n || !n->rt || !from || !to) return;
  phc_proc_t *p = phc__proc_find(n, to);
  phc__link_t *l = p ? phc__link_find(p, from) : NULL;
  if (l && l->unlinking == id) phc__link_del(p, l);
}

void phc__proc_in_exit(phc_node_t *n, const erlang_pid *from,
                       const erlang_pid *to, const char *reason, int len,
                       int exit2) {
  if (!n || !n->rt || !from || !to || !reason || len <= 0) return;
  phc__proc_enqueue_sig(phc__proc_find(n, to), from, reason, len, exit2 ? 1 : 0,
                        0);
}

void phc__proc_in_monitor(phc_node_t *n, const erlang_pid *from,
                          const erlang_pid *to, const char *to_name,
                          const erlang_ref *ref) {
  if (!n || !n->rt || !from || !ref || (!to && !to_name)) return;
  phc_proc_t *t = to ? phc__proc_find(n, to) : phc__name_find(n, to_name);
  if (t && phc__mon_in_add(n, t, from, to ? NULL : to_name, ref)) return;
  if (t) {
    PHC_LOG_W(PHC__PROC_MOD, "duplicate monitor ref from %s dropped",
              from->node);
    return;
  }
  int len;
  char *r = phc__proc_atom_term("noproc", &len);
  if (r && phc__remote_ok(n) && n->remote->monitor_exit)
    n->remote->monitor_exit(n->remote_ctx, to ? to : NULL, to ? NULL : to_name,
                            from, ref, r, len);
  free(r);
}

void phc__proc_in_demonitor(phc_node_t *n, const erlang_pid *from,
                            const erlang_ref *ref) {
  if (!n || !n->rt || !from || !ref) return;
  phc__mon_in_t *m = phc__mon_in_find(n->rt, ref);
  if (m && phc_pid_eq(&m->watcher, from)) phc__mon_in_free(n->rt, m);
}

void phc__proc_in_monitor_exit(phc_node_t *n, const erlang_pid *watched,
                               const char *watched_name,
                               const char *watched_node, const erlang_pid *to,
                               const erlang_ref *ref, const char *reason,
                               int len) {
  PHC__UNUSED(watched);
  PHC__UNUSED(watched_name);
  PHC__UNUSED(watched_node);
  if (!n || !n->rt || !to || !ref || !reason || len <= 0) return;
  phc_proc_t *p = phc__proc_find(n, to);
  phc__mon_out_t *o = p ? phc__mon_out_find(p, ref) : NULL;
  if (!o || o->local) return;
  phc__proc_send_down(p, ref, &o->target, o->by_name ? o->name : NULL, o->node,
                      reason, len);
  phc__mon_out_free(p, o);
}

static void node_msg(phc_node_t *n, const char *tag, const char *node) {
  ei_x_buff x;
  if (phc__x_new_with_version(&x) < 0) return;
  if (phc__x_tuple_header(&x, 2) < 0 || phc__x_atom(&x, tag) < 0 ||
      phc__x_atom(&x, node) < 0) {
    ei_x_free(&x);
    return;
  }
  phc_proc_t *p;
  for (uint32_t i = 0; (p = phc__proc_next(n->rt, &i));) {
    if (p->monitor_nodes && p->state != PHC__P_DEAD)
      phc__proc_enqueue_msg(p, x.buff, x.index);
  }
  ei_x_free(&x);
}

void phc__proc_node_up(phc_node_t *n, const char *node, int hidden) {
  if (!n || !n->rt || !node || hidden) return;
  node_msg(n, "nodeup", node);
}

static void node_down_proc(phc_proc_t *p, const char *node) {
  phc__link_t *l = TAILQ_FIRST(&p->links), *lnext;
  for (; l; l = lnext) {
    lnext = TAILQ_NEXT(l, next);
    if (strcmp(l->other.node, node) != 0) continue;
    int active = !l->unlinking;
    erlang_pid other;
    phc__cpid_get(&l->other, &other);
    phc__link_del(p, l);
    if (active) phc__proc_sig_atom(p, &other, "noconnection", 0, 1);
  }
  phc__mon_out_t *o = TAILQ_FIRST(&p->mons_out), *onext;
  for (; o; o = onext) {
    onext = TAILQ_NEXT(o, next);
    if (o->local || strcmp(o->node, node) != 0) continue;
    phc__proc_send_down_atom(p, &o->ref, &o->target,
                             o->by_name ? o->name : NULL, o->node,
                             "noconnection");
    phc__mon_out_free(p, o);
  }
  phc__mon_in_t *m = TAILQ_FIRST(&p->mons_in), *mnext;
  for (; m; m = mnext) {
    mnext = TAILQ_NEXT(m, next);
    if (phc__pid_on_node(&m->watcher, node)) phc__mon_in_free(p->n->rt, m);
  }
}

void phc__proc_node_down(phc_node_t *n, const char *node) {
  if (!n || !n->rt || !node || strcmp(node, n->name) == 0) return;
  phc_proc_t *p;
  for (uint32_t i = 0; (p = phc__proc_next(n->rt, &i));) {
    if (p->state != PHC__P_DEAD) node_down_proc(p, node);
  }
  node_msg(n, "nodedown", node);
}
