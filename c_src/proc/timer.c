/* timer.c - erlang:send_after/cancel_timer and C callback timers, one
 * uv_timer_t each. A send_after timer aimed at a local pid is cancelled
 * when that process exits, as on the BEAM. */
#include "proc/proc_int.h"

#include <stdlib.h>

static void timer_close_cb(uv_handle_t *h) {
  phc__timer_t *t = (phc__timer_t *)h;
  free(t->buf);
  free(t->key);
  free(t);
}

/* Unhooks t from every table and closes its handle; t is freed later. */
static void timer_drop(struct phc__rt_s *rt, phc__timer_t *t) {
  uv_timer_stop(&t->h);
  if (t->kind == PHC__T_SEND)
    HASH_DELETE(hh_ref, rt->timers_by_ref, t);
  else
    HASH_DELETE(hh_id, rt->timers_by_id, t);
  if (t->dest_proc) TAILQ_REMOVE(&t->dest_proc->timers, t, by_proc);
  t->dest_proc = NULL;
  TAILQ_REMOVE(&rt->timers, t, all);
  uv_close((uv_handle_t *)&t->h, timer_close_cb);
}

static void timer_fire(uv_timer_t *h) {
  phc__timer_t *t = (phc__timer_t *)h;
  phc_node_t *n = t->n;
  if (!n->rt) return;
  if (t->kind == PHC__T_SEND) {
    phc_proc_t *p = t->dest_proc;
    if (p)
      phc__proc_enqueue_msg(p, t->buf, t->len);
    else
      phc_send(n, NULL, &t->dest, t->buf, t->len);
    timer_drop(n->rt, t);
    return;
  }
  phc__timer_cb cb = t->cb;
  void *arg = t->arg;
  timer_drop(n->rt, t);
  cb(n, arg);
}

static phc__timer_t *timer_new(phc_node_t *n, unsigned ms) {
  phc__timer_t *t = phc__xcalloc(1, sizeof *t);
  t->n = n;
  if (uv_timer_init(n->loop, &t->h) != 0) {
    free(t);
    return NULL;
  }
  TAILQ_INSERT_TAIL(&n->rt->timers, t, all);
  uv_update_time(n->loop); /* count from now, not from the loop's last tick */
  uv_timer_start(&t->h, timer_fire, ms, 0);
  return t;
}

int phc_send_after(phc_node_t *n, unsigned ms, const phc_pid_t *to,
                   const char *buf, int len, phc_ref_t *tref) {
  if (!n || !n->rt || !to || !buf || len <= 1 || (unsigned char)buf[0] != 131)
    return PHC_EINVAL;
  if (n->rt->closing) return PHC_ESTATE;
  erlang_ref ref;
  phc_make_ref(n, &ref);
  if (tref) *tref = ref;
  phc_proc_t *dest = NULL;
  if (phc__pid_is_local(n, to)) {
    dest = phc__proc_find(n, to);
    if (!dest) return 0; /* a dead pid: the timer would be cancelled */
  }
  phc__timer_t *t = timer_new(n, ms);
  if (!t) return PHC_EIO;
  t->kind = PHC__T_SEND;
  t->ref = ref;
  t->key = phc__ref_key(&ref, &t->keylen);
  t->dest = *to;
  t->dest_proc = dest;
  t->buf = phc__xmalloc((size_t)len);
  memcpy(t->buf, buf, (size_t)len);
  t->len = len;
  HASH_ADD_KEYPTR(hh_ref, n->rt->timers_by_ref, t->key, (unsigned)t->keylen, t);
  if (dest) TAILQ_INSERT_TAIL(&dest->timers, t, by_proc);
  return 0;
}

int phc_cancel_timer(phc_node_t *n, const phc_ref_t *tref) {
  if (!n || !n->rt || !tref) return PHC_EINVAL;
  int kl;
  char *k = phc__ref_key(tref, &kl);
  phc__timer_t *t = NULL;
  HASH_FIND(hh_ref, n->rt->timers_by_ref, k, (unsigned)kl, t);
  free(k);
  if (!t) return PHC_ENOPROC; /* fired, cancelled or never existed */
  timer_drop(n->rt, t);
  return 0;
}

uint64_t phc__timer_start(phc_node_t *n, unsigned ms, phc__timer_cb cb,
                          void *arg) {
  if (!n || !n->rt || !cb || n->rt->closing) return 0;
  phc__timer_t *t = timer_new(n, ms);
  if (!t) return 0;
  t->kind = PHC__T_CB;
  t->id = ++n->rt->timer_counter;
  t->cb = cb;
  t->arg = arg;
  HASH_ADD(hh_id, n->rt->timers_by_id, id, sizeof t->id, t);
  return t->id;
}

void phc__timer_cancel(phc_node_t *n, uint64_t id) {
  if (!n || !n->rt || !id) return;
  phc__timer_t *t = NULL;
  HASH_FIND(hh_id, n->rt->timers_by_id, &id, sizeof id, t);
  if (t) timer_drop(n->rt, t);
}

void phc__timers_proc_exit(phc_proc_t *p) {
  phc__timer_t *t;
  while ((t = TAILQ_FIRST(&p->timers)))
    timer_drop(p->n->rt, t);
}

void phc__timers_close(phc_node_t *n) {
  phc__timer_t *t;
  while ((t = TAILQ_FIRST(&n->rt->timers)))
    timer_drop(n->rt, t);
}
