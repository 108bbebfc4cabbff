/* info.c - read-only views of the process runtime for introspection
 * (erlang:processes/0, registered/0, process_info/2 answered by otp):
 * a snapshot of one process, and iterators over processes, names, links
 * and monitors. Nothing here changes runtime state. */
#include "proc/proc_int.h"

int phc__proc_info(phc_node_t *n, const erlang_pid *pid, phc__pinfo_t *out) {
  phc_proc_t *p = phc__proc_find(n, pid);
  if (!p || p->state != PHC__P_ALIVE) return PHC_ENOPROC;
  memset(out, 0, sizeof *out);
  out->type = p->ops && p->ops->name ? p->ops->name : "proc";
  out->name = p->name ? p->name->name : NULL;
  out->mbox_len = p->mbox_len;
  phc__msg_t *m;
  STAILQ_FOREACH(m, &p->mbox, next)
  out->mbox_bytes += sizeof *m + (size_t)m->len;
  out->trap_exit = p->trap_exit;
  out->running = p->running > 0;
  out->runnable = p->in_runq;
  phc__link_t *l;
  TAILQ_FOREACH(l, &p->links, next) out->links++;
  phc__mon_out_t *mo;
  TAILQ_FOREACH(mo, &p->mons_out, next) out->mons_out++;
  phc__mon_in_t *mi;
  TAILQ_FOREACH(mi, &p->mons_in, next) out->mons_in++;
  out->memory = sizeof *p + out->mbox_bytes + out->links * sizeof *l +
                out->mons_out * sizeof *mo + out->mons_in * sizeof *mi;
  return 0;
}

void phc__proc_each(phc_node_t *n, phc__pid_fn fn, void *ctx) {
  if (!n || !n->rt) return;
  phc_proc_t *p;
  erlang_pid pid;
  for (uint32_t i = 0; (p = phc__proc_next(n->rt, &i));) {
    if (p->state != PHC__P_ALIVE) continue;
    phc__proc_pid(p, &pid);
    fn(ctx, &pid);
  }
}

void phc__names_each(phc_node_t *n, phc__name_fn fn, void *ctx) {
  if (!n || !n->rt) return;
  phc__name_t *e, *tmp;
  HASH_ITER(hh, n->rt->names, e, tmp) {
    if (e->p && e->p->state == PHC__P_ALIVE) fn(ctx, e->name);
  }
}

int phc__proc_links_each(phc_node_t *n, const erlang_pid *pid, phc__pid_fn fn,
                         void *ctx) {
  phc_proc_t *p = phc__proc_find(n, pid);
  if (!p) return PHC_ENOPROC;
  phc__link_t *l;
  TAILQ_FOREACH(l, &p->links, next) {
    erlang_pid other;
    phc__cpid_get(&l->other, &other);
    fn(ctx, &other);
  }
  return 0;
}

int phc__proc_monitors_each(phc_node_t *n, const erlang_pid *pid, int by,
                            phc__mon_fn fn, void *ctx) {
  phc_proc_t *p = phc__proc_find(n, pid);
  if (!p) return PHC_ENOPROC;
  if (by) {
    phc__mon_in_t *mi;
    TAILQ_FOREACH(mi, &p->mons_in, next) fn(ctx, &mi->watcher, NULL, NULL);
    return 0;
  }
  phc__mon_out_t *mo;
  TAILQ_FOREACH(mo, &p->mons_out, next) {
    if (mo->by_name)
      fn(ctx, NULL, mo->name, mo->node);
    else
      fn(ctx, &mo->target, NULL, NULL);
  }
  return 0;
}

int phc__proc_messages_each(phc_node_t *n, const erlang_pid *pid,
                            phc__term_fn fn, void *ctx) {
  phc_proc_t *p = phc__proc_find(n, pid);
  if (!p) return PHC_ENOPROC;
  phc__msg_t *m;
  STAILQ_FOREACH(m, &p->mbox, next) {
    if (m->kind == PHC__M_MSG && m->len > 1) fn(ctx, m->buf + 1, m->len - 1);
  }
  return 0;
}
