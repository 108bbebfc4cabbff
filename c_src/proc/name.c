/* name.c - registered names and process aliases: the runtime's name ->
 * process and alias -> process tables (see proc.h, proc_int.h). */
#include <stdlib.h>

#include "proc/proc_int.h"

/* ---- what a process holds ----------------------------------------------- */

static void alias_free(struct phc__rt_s *rt, phc__alias_t *a) {
  HASH_DELETE(hh, rt->aliases, a);
  TAILQ_REMOVE(&a->owner->aliases, a, next);
  free(a->key);
  free(a);
}

static void name_release(phc_proc_t *p) {
  if (!p->name) return;
  HASH_DELETE(hh, p->n->rt->names, p->name);
  free(p->name->name);
  free(p->name);
  p->name = NULL;
}

/* A dying process gives up its name and its aliases. */
void phc__name_proc_exit(phc_proc_t *p) {
  struct phc__rt_s *rt = p->n->rt;
  name_release(p);
  while (!TAILQ_EMPTY(&p->aliases))
    alias_free(rt, TAILQ_FIRST(&p->aliases));
}

/* ---- names -------------------------------------------------------------- */

phc_proc_t *phc__name_find(phc_node_t *n, const char *name) {
  phc__name_t *e = NULL;
  if (!name) return NULL;
  HASH_FIND_STR(n->rt->names, name, e);
  return e ? e->p : NULL;
}

int phc_register(phc_node_t *n, const char *name, const phc_pid_t *pid) {
  if (!n || !n->rt || !name || !pid || !*name ||
      strlen(name) >= PHC__ATOM_MAX || strcmp(name, "undefined") == 0)
    return PHC_EINVAL;
  phc_proc_t *p = phc__proc_find(n, pid);
  if (!p) return PHC_ENOPROC;
  if (phc__name_find(n, name) || p->name) return PHC_EEXIST;
  phc__name_t *e = phc__xcalloc(1, sizeof *e);
  e->name = phc__xstrdup(name);
  e->p = p;
  HASH_ADD_KEYPTR(hh, n->rt->names, e->name, strlen(e->name), e);
  p->name = e;
  return 0;
}

int phc_unregister(phc_node_t *n, const char *name) {
  if (!n || !n->rt || !name) return PHC_EINVAL;
  phc_proc_t *p = phc__name_find(n, name);
  if (!p) return PHC_ENOPROC;
  name_release(p);
  return 0;
}

int phc_whereis(phc_node_t *n, const char *name, phc_pid_t *out) {
  if (!n || !n->rt || !name) return PHC_EINVAL;
  phc_proc_t *p = phc__name_find(n, name);
  if (!p) return PHC_ENOPROC;
  if (out) phc__proc_pid(p, out);
  return 0;
}

/* ---- aliases ------------------------------------------------------------ */

phc__alias_t *phc__alias_find(phc_node_t *n, const erlang_ref *r) {
  int kl;
  char *k = phc__ref_key(r, &kl);
  phc__alias_t *a = NULL;
  HASH_FIND(hh, n->rt->aliases, k, (unsigned)kl, a);
  free(k);
  return a;
}

int phc__alias_make(phc_proc_t *p, erlang_ref *out) {
  if (!p || !out || p->state == PHC__P_DEAD) return PHC_EINVAL;
  phc__alias_t *a = phc__xcalloc(1, sizeof *a);
  phc_make_ref(p->n, &a->ref);
  a->key = phc__ref_key(&a->ref, &a->keylen);
  a->owner = p;
  HASH_ADD_KEYPTR(hh, p->n->rt->aliases, a->key, (unsigned)a->keylen, a);
  TAILQ_INSERT_TAIL(&p->aliases, a, next);
  *out = a->ref;
  return 0;
}

void phc__alias_remove(phc_node_t *n, const erlang_ref *alias) {
  if (!n || !n->rt || !alias) return;
  phc__alias_t *a = phc__alias_find(n, alias);
  if (a) alias_free(n->rt, a);
}
