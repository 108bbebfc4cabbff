/* sqlite_kv.c - a durable key-value child over SQLite, as a phc-node plugin.
 *
 *   phc-node -name kv@127.0.0.1 -load examples/build/phc_sqlite_kv.so
 *   {ok, P} = rpc:call('kv@127.0.0.1', phc_sqlite_kv, start_link, [store1]).
 *
 * init([Name]) opens $PHC_SQLITE_DIR/Name.db (default /tmp). Keys and values
 * are any terms, stored as their external format. Calls: {put, K, V} -> ok;
 * {get, K} -> V | nil; {delete, K} -> ok; keys -> [K]; count -> N.
 * The data is on disk, so it survives a restart of the child or the node;
 * nodes sharing PHC_SQLITE_DIR see the same store after a migration.
 * handover_get/put (and {process_hub, handover, Cid, {State, _}}) move the
 * rows as a list of {K, V} to a node with another directory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <phc.h>
#include <sqlite3.h>

PHC_PLUGIN_DECLARE("phc_sqlite_kv");

typedef struct kv_s {
  sqlite3 *db;
} kv_t;

static int kv_exec(kv_t *kv, const char *sql, const char *a, int alen,
                   const char *b, int blen, sqlite3_stmt **out) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(kv->db, sql, -1, &st, NULL) != SQLITE_OK) return -1;
  if (a) sqlite3_bind_blob(st, 1, a, alen, SQLITE_TRANSIENT);
  if (b) sqlite3_bind_blob(st, 2, b, blen, SQLITE_TRANSIENT);
  if (out) {
    *out = st;
    return 0;
  }
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

/* The term at buf+*idx as a standalone external term (version byte first),
 * in a malloc'ed buffer; advances *idx. */
static char *term_copy(const char *buf, int *idx, int *len) {
  int start = *idx;
  if (ei_skip_term(buf, idx) < 0) return NULL;
  *len = *idx - start + 1;
  char *c = malloc((size_t)*len);
  if (!c) return NULL;
  c[0] = (char)131;
  memcpy(c + 1, buf + start, (size_t)(*len - 1));
  return c;
}

static int kv_put_raw(kv_t *kv, const char *buf, int *idx) {
  int klen, vlen;
  char *k = term_copy(buf, idx, &klen);
  char *v = k ? term_copy(buf, idx, &vlen) : NULL;
  int rc = v ? kv_exec(kv, "INSERT OR REPLACE INTO kv(k, v) VALUES(?, ?)", k,
                       klen, v, vlen, NULL)
             : -1;
  free(k);
  free(v);
  return rc;
}

static int kv_init(phc_gs_t *gs, const char *args, int len, void **state) {
  int idx = 0, arity;
  char name[MAXATOMLEN], path[1024];
  (void)gs, (void)len;
  if (ei_decode_version(args, &idx, NULL) < 0 ||
      ei_decode_list_header(args, &idx, &arity) < 0 || arity != 1 ||
      ei_decode_atom(args, &idx, name) < 0 || strchr(name, '/'))
    return PHC_EINVAL;
  const char *dir = getenv("PHC_SQLITE_DIR");
  snprintf(path, sizeof path, "%s/%s.db", dir ? dir : "/tmp", name);
  kv_t *kv = calloc(1, sizeof *kv);
  if (!kv) return PHC_ENOMEM;
  if (sqlite3_open(path, &kv->db) != SQLITE_OK ||
      kv_exec(kv, "CREATE TABLE IF NOT EXISTS kv(k BLOB PRIMARY KEY, v BLOB)",
              NULL, 0, NULL, 0, NULL)) {
    sqlite3_close(kv->db);
    free(kv);
    return PHC_EIO;
  }
  *state = kv;
  return 0;
}

/* Append the stored term (a blob with version byte) to the reply. */
static int put_blob(ei_x_buff *x, sqlite3_stmt *st, int col) {
  const char *b = sqlite3_column_blob(st, col);
  int n = sqlite3_column_bytes(st, col);
  return n > 1 ? ei_x_append_buf(x, b + 1, n - 1) : ei_x_encode_atom(x, "nil");
}

static int kv_query(kv_t *kv, const char *op, const char *req, int idx,
                    ei_x_buff *reply) {
  int klen;
  sqlite3_stmt *st;
  char *k = term_copy(req, &idx, &klen);
  const char *sql = !strcmp(op, "get") ? "SELECT v FROM kv WHERE k = ?"
                                       : "DELETE FROM kv WHERE k = ?";
  if (!k || kv_exec(kv, sql, k, klen, NULL, 0, &st)) {
    free(k);
    return ei_x_encode_atom(reply, "error");
  }
  int rc = sqlite3_step(st);
  if (!strcmp(op, "delete")) ei_x_encode_atom(reply, "ok");
  else if (rc == SQLITE_ROW) put_blob(reply, st, 0);
  else ei_x_encode_atom(reply, "nil");
  sqlite3_finalize(st);
  free(k);
  return 0;
}

static int kv_list(kv_t *kv, const char *what, ei_x_buff *reply) {
  sqlite3_stmt *st;
  int count = !strcmp(what, "count"), n = 0;
  if (kv_exec(kv, "SELECT k, v FROM kv ORDER BY k", NULL, 0, NULL, 0, &st))
    return ei_x_encode_atom(reply, "error");
  while (sqlite3_step(st) == SQLITE_ROW) {
    n++;
    if (count) continue;
    ei_x_encode_list_header(reply, 1);
    if (!strcmp(what, "keys")) {
      put_blob(reply, st, 0);
    } else { /* rows: {K, V} */
      ei_x_encode_tuple_header(reply, 2);
      put_blob(reply, st, 0);
      put_blob(reply, st, 1);
    }
  }
  sqlite3_finalize(st);
  return count ? ei_x_encode_long(reply, n) : ei_x_encode_empty_list(reply);
}

static int kv_call(phc_gs_t *gs, void *state, const char *req, int len,
                   const phc_from_t *from, ei_x_buff *reply) {
  kv_t *kv = state;
  int idx = 0, arity;
  char op[MAXATOMLEN];
  (void)gs, (void)len, (void)from;
  ei_decode_version(req, &idx, NULL);
  if (ei_decode_atom(req, &idx, op) == 0 &&
      (!strcmp(op, "keys") || !strcmp(op, "count")))
    return kv_list(kv, op, reply), PHC_GS_REPLY;
  idx = 1;
  if (ei_decode_tuple_header(req, &idx, &arity) < 0 ||
      ei_decode_atom(req, &idx, op) < 0)
    return ei_x_encode_atom(reply, "badarg"), PHC_GS_REPLY;
  if (arity == 3 && !strcmp(op, "put")) {
    ei_x_encode_atom(reply, kv_put_raw(kv, req, &idx) ? "error" : "ok");
    return PHC_GS_REPLY;
  }
  if (arity == 2 && (!strcmp(op, "get") || !strcmp(op, "delete")))
    return kv_query(kv, op, req, idx, reply), PHC_GS_REPLY;
  return ei_x_encode_atom(reply, "badarg"), PHC_GS_REPLY;
}

static void kv_terminate(phc_gs_t *gs, void *state, const char *r, int l) {
  kv_t *kv = state;
  (void)gs, (void)r, (void)l;
  sqlite3_close(kv->db);
  free(kv);
}

/* Handover state: [{K, V}], every row. */
static int kv_handover_get(phc_gs_t *gs, void *state, ei_x_buff *out) {
  (void)gs;
  return kv_list(state, "rows", out);
}

/* Rows at buf+idx ([{K, V}]) into the store. */
static int kv_load(kv_t *kv, const char *buf, int idx) {
  int n, arity;
  if (ei_decode_list_header(buf, &idx, &n) < 0) return PHC_EDECODE;
  for (int i = 0; i < n; i++)
    if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 2 ||
        kv_put_raw(kv, buf, &idx))
      return PHC_EDECODE;
  return 0;
}

static int kv_handover_put(phc_gs_t *gs, void **state, const char *buf,
                           int len) {
  (void)gs, (void)len;
  return kv_load(*state, buf, 1);
}

/* {process_hub, handover, Cid, {Rows, _}} (ProcessHub's HotSwap). */
static int kv_info(phc_gs_t *gs, void *state, const char *msg, int len) {
  int idx = 1, arity;
  char a[MAXATOMLEN];
  (void)gs, (void)len;
  if (ei_decode_tuple_header(msg, &idx, &arity) < 0 || arity != 4 ||
      ei_decode_atom(msg, &idx, a) < 0 || strcmp(a, "process_hub") ||
      ei_decode_atom(msg, &idx, a) < 0 || strcmp(a, "handover") ||
      ei_skip_term(msg, &idx) < 0 ||
      ei_decode_tuple_header(msg, &idx, &arity) < 0 || arity != 2)
    return 0;
  kv_load(state, msg, idx);
  return 0;
}

static const phc_child_type_t kv_type = {.module = "phc_sqlite_kv",
                                         .init = kv_init,
                                         .handle_call = kv_call,
                                         .handle_info = kv_info,
                                         .terminate = kv_terminate,
                                         .handover_get = kv_handover_get,
                                         .handover_put = kv_handover_put};

int phc_plugin_init(phc_node_t *n) {
  return phc_child_type_register(n, &kv_type);
}
