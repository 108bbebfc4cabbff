/* global_names.c - global_name_server's copy of its partition's names.
 *
 * phc registers no names itself, but once it reports its known nodes (so
 * that nodes that meet only through phc connect to each other, as global
 * makes them) its name exchange speaks for its whole partition. So it
 * keeps what every node of a partition keeps: {Name, Pid, Method} for each
 * registration it is told of (register/register_ext calls, the insert and
 * delete ops of new_nodes and resolved), each pid monitored, the entry
 * dropped when the pid dies or its node goes down, exactly as global's
 * ets table global_names. Conflicting names are not resolved here (global
 * resolves them from the smaller node by running the registration's
 * method); see global.h. Keys are the names' canonical bytes. */
#include "otp/global_int.h"

#include <stdlib.h>

#include "term/enc.h"
#include "term/ext.h"
#include "term/term.h"

static phc__gname_t *global_name_find(phc__global_t *g, const char *key,
                                      int key_len) {
  phc__gname_t *e = NULL;
  HASH_FIND(hh, g->names, key, (unsigned)key_len, e);
  return e;
}

static void global_name_free(phc__global_t *g, phc__gname_t *e, int demon) {
  HASH_DEL(g->names, e);
  if (demon && e->has_ref) g->io.demonitor(g->io.ctx, &e->ref);
  free(e->key);
  free(e->entry);
  free(e);
}

/* The canonical bytes of the term at b[*i] (moves *i past it). */
static int global_name_key(const char *b, int *i, ei_x_buff *key) {
  int end = *i;
  if (ei_skip_term(b, &end) < 0) return PHC_EDECODE;
  phc__x_new(key);
  if (phc__ext_reencode(key, b, end, i, PHC__ETF_CANON) < 0) {
    ei_x_free(key);
    return PHC_EDECODE;
  }
  return 0;
}

/* Name, Pid, Method at b[*i] (a tuple's elements, or a call's arguments):
 * insert or replace. 0 or PHC_EDECODE. */
int phc__global_name_insert(phc__global_t *g, const char *b, int *i) {
  ei_x_buff key, entry;
  const char *name = b + *i, *method;
  int name_len, method_len, s = *i;
  erlang_pid pid;
  if (global_name_key(b, i, &key) < 0) return PHC_EDECODE;
  name_len = *i - s;
  if (ei_decode_pid(b, i, &pid) < 0 ||
      phc__global_raw_term(b, i, &method, &method_len) < 0) {
    ei_x_free(&key);
    return PHC_EDECODE;
  }
  phc__gname_t *e = global_name_find(g, key.buff, key.index);
  if (e) global_name_free(g, e, 1);
  phc__x_new(&entry);
  phc__x_tuple_header(&entry, 3);
  phc__x_append_buf(&entry, name, name_len);
  phc__x_pid(&entry, &pid);
  phc__x_append_buf(&entry, method, method_len);
  e = phc__xcalloc(1, sizeof *e);
  e->key = phc__term_dup(key.buff, key.index);
  e->key_len = key.index;
  e->entry = phc__term_dup(entry.buff, entry.index);
  e->entry_len = entry.index;
  e->pid = pid;
  if (g->io.monitor(g->io.ctx, &pid, &e->ref) == 0) e->has_ref = 1;
  HASH_ADD_KEYPTR(hh, g->names, e->key, (unsigned)e->key_len, e);
  ei_x_free(&key);
  ei_x_free(&entry);
  return 0;
}

int phc__global_name_delete(phc__global_t *g, const char *b, int *i) {
  ei_x_buff key;
  if (global_name_key(b, i, &key) < 0) return PHC_EDECODE;
  phc__gname_t *e = global_name_find(g, key.buff, key.index);
  if (e) global_name_free(g, e, 1);
  ei_x_free(&key);
  return 0;
}

/* One op: {insert, {Name, Pid, Method}} or {delete, Name}. */
static int global_name_op(phc__global_t *g, const char *b, int *i) {
  char tag[16];
  int ar;
  if (ei_decode_tuple_header(b, i, &ar) < 0 || ar != 2 ||
      phc__term_atom(b, i, tag, sizeof tag) < 0)
    return PHC_EDECODE;
  if (!strcmp(tag, "delete")) return phc__global_name_delete(g, b, i);
  if (strcmp(tag, "insert") || ei_decode_tuple_header(b, i, &ar) < 0 || ar != 3)
    return PHC_EDECODE;
  return phc__global_name_insert(g, b, i);
}

int phc__global_names_apply(phc__global_t *g, const char *b, int len) {
  int i = 0, n, type, size;
  if (!b || len <= 0) return 0;
  if (ei_get_type(b, &i, &type, &size) < 0 || type == ERL_STRING_EXT ||
      ei_decode_list_header(b, &i, &n) < 0)
    return PHC_EDECODE;
  for (int k = 0; k < n; k++)
    if (global_name_op(g, b, &i) < 0) return PHC_EDECODE;
  return 0;
}

/* The ops a peer's names give us (global's exchange_names): an insert for
 * each name we do not have. A name we hold with another pid is left to
 * the peer when it is the smaller node, and kept as it is otherwise. */
int phc__global_names_exchange(phc__global_t *g, const char *b, int len,
                               ei_x_buff *ops) {
  int i = 0, n, type, size, ar, count = 0;
  phc__x_new(ops);
  if (ei_get_type(b, &i, &type, &size) < 0 || type == ERL_STRING_EXT ||
      len <= 0 || ei_decode_list_header(b, &i, &n) < 0)
    return PHC_EDECODE;
  for (int k = 0; k < n; k++) {
    ei_x_buff key;
    int s;
    if (ei_decode_tuple_header(b, &i, &ar) < 0 || ar != 3) return PHC_EDECODE;
    s = i;
    if (global_name_key(b, &i, &key) < 0) return PHC_EDECODE;
    int have = global_name_find(g, key.buff, key.index) != NULL;
    ei_x_free(&key);
    if (ei_skip_term(b, &i) < 0 || ei_skip_term(b, &i) < 0) return PHC_EDECODE;
    if (have) continue;
    phc__x_list_header(ops, 1);
    phc__x_tuple_header(ops, 2);
    phc__x_atom(ops, "insert");
    phc__x_tuple_header(ops, 3);
    phc__x_append_buf(ops, b + s, i - s);
    count++;
  }
  phc__x_empty_list(ops);
  return count;
}

void phc__global_x_names(const phc__global_t *g, ei_x_buff *x) {
  const phc__gname_t *e, *tmp;
  HASH_ITER(hh, g->names, e, tmp) {
    phc__x_list_header(x, 1);
    phc__x_append_buf(x, e->entry, e->entry_len);
  }
  phc__x_empty_list(x);
}

int phc__global_name_down(phc__global_t *g, const erlang_ref *ref) {
  phc__gname_t *e, *tmp;
  HASH_ITER(hh, g->names, e, tmp) {
    if (e->has_ref && phc_ref_eq(&e->ref, ref)) {
      global_name_free(g, e, 0);
      return 1;
    }
  }
  return 0;
}

void phc__global_names_drop_node(phc__global_t *g, const char *node) {
  phc__gname_t *e, *tmp;
  HASH_ITER(hh, g->names, e, tmp) {
    if (!strcmp(e->pid.node, node)) global_name_free(g, e, 1);
  }
}

void phc__global_names_free(phc__global_t *g) {
  phc__gname_t *e, *tmp;
  HASH_ITER(hh, g->names, e, tmp) global_name_free(g, e, 0);
}

int phc__global_name_count(const phc__global_t *g) {
  return (int)HASH_COUNT(g->names);
}

int phc__global_whereis(phc__global_t *g, const char *name, erlang_pid *pid) {
  ei_x_buff key;
  int i = 0, rc = PHC_ENOPROC;
  if (global_name_key(name, &i, &key) < 0) return PHC_EDECODE;
  phc__gname_t *e = global_name_find(g, key.buff, key.index);
  if (e) {
    *pid = e->pid;
    rc = 0;
  }
  ei_x_free(&key);
  return rc;
}
