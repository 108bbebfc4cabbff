/* dynamic_quorum.c - ProcessHub.Strategy.PartitionTolerance.DynamicQuorum:
 * the hub enters partition mode when too many of its nodes went down
 * within threshold_time seconds.
 *
 * Options (the struct's fields, as a keyword list or the struct map):
 * quorum_size (required, a percentage, integer or float) and
 * threshold_time (seconds, default 30). An unknown option, a bad value or
 * a missing quorum_size fails init with one log line naming it.
 *
 * The quorum log is ProcessHub's: [{Node, UnixSeconds}], newest first, one
 * row per node that went down. A node going down adds its row (rows older
 * than threshold_time and the node's earlier row are dropped first); a
 * node coming up drops its row the same way, and the local log is sent to
 * it as ProcessHub sends it: {exec_cast, {DynamicQuorum, sync_quorum_log,
 * [Log]}} cast to {HubId, Node}. A log received that way replaces the
 * local one when it is longer. The quorum left is 100 - down / (connected
 * + down) * 100, connected counting the local node; below quorum_size the
 * hub is partitioned. */
#include <stdlib.h>
#include <time.h>

#include "hub/hub.h"
#include "term/enc.h"

#define MOD "dynamic_quorum"
#define DQ_MODULE "Elixir.ProcessHub.Strategy.PartitionTolerance.DynamicQuorum"
#define DQ_MAX_LOG 256

typedef struct dq_row_s {
  char node[PHC__ATOM_MAX];
  long long ts;
} dq_row_t;

typedef struct dq_state_s {
  double quorum_size; /* < 0: not given */
  long long threshold;
  int n;
  dq_row_t log[DQ_MAX_LOG];
} dq_state_t;

static int dq_option(void *arg, const char *key, const char *buf, int idx) {
  dq_state_t *s = arg;
  long long v;
  double d;
  int i = idx;
  if (!strcmp(key, "quorum_size")) {
    int j = idx;
    if (ei_decode_longlong(buf, &i, &v) == 0 && v >= 0)
      s->quorum_size = (double)v;
    else if (ei_decode_double(buf, &j, &d) == 0 && d >= 0)
      s->quorum_size = d;
    else
      goto bad;
  } else if (!strcmp(key, "threshold_time")) {
    if (ei_decode_longlong(buf, &i, &v) < 0 || v < 0) goto bad;
    s->threshold = v;
  } else {
    PHC_LOG_E(MOD, "unknown DynamicQuorum option: %s", key);
    return PHC_EINVAL;
  }
  return 0;
bad:
  PHC_LOG_E(MOD, "bad value for DynamicQuorum option %s", key);
  return PHC_EINVAL;
}

static int dq_parse(dq_state_t *s, const char *buf, int idx) {
  s->quorum_size = -1;
  s->threshold = 30;
  int rc = buf ? phc__strat_opts_each(buf, idx, dq_option, s) : 0;
  if (!rc && s->quorum_size < 0) {
    PHC_LOG_E(MOD, "DynamicQuorum needs quorum_size");
    rc = PHC_EINVAL;
  }
  return rc;
}

static int dq_check(const char *buf, int idx) {
  dq_state_t *s = phc__xcalloc(1, sizeof *s);
  int rc = dq_parse(s, buf, idx);
  free(s);
  return rc;
}

static int dq_init(phc_hub_t *h, void *st, const char *buf, int idx) {
  PHC__UNUSED(h);
  return dq_parse(st, buf, idx);
}

/* Drop rows older than the threshold and node's row; then, for a node
 * that went down, put its row first. */
static void dq_log_node(dq_state_t *s, const char *node, int down) {
  long long now = (long long)time(NULL), cut = now - s->threshold;
  int k = 0;
  for (int i = 0; i < s->n; i++)
    if (s->log[i].ts > cut && strcmp(s->log[i].node, node) != 0)
      s->log[k++] = s->log[i];
  s->n = k;
  if (!down) return;
  if (s->n == DQ_MAX_LOG) s->n--;
  memmove(&s->log[1], &s->log[0], (size_t)s->n * sizeof s->log[0]);
  snprintf(s->log[0].node, PHC__ATOM_MAX, "%s", node);
  s->log[0].ts = now;
  s->n++;
}

static int dq_failure(phc_hub_t *h, const dq_state_t *s) {
  return phc__quorum_dynamic_failure(s->quorum_size, h->nnodes, s->n);
}

static void dq_send_log(phc_hub_t *h, const dq_state_t *s, const char *node) {
  ei_x_buff c;
  phc__x_new(&c);
  phc__x_tuple_header(&c, 2);
  phc__x_atom(&c, "exec_cast");
  phc__x_tuple_header(&c, 3);
  phc__x_atom(&c, DQ_MODULE);
  phc__x_atom(&c, "sync_quorum_log");
  phc__x_list_header(&c, 1);
  if (s->n) phc__x_list_header(&c, s->n);
  for (int i = 0; i < s->n; i++) {
    phc__x_tuple_header(&c, 2);
    phc__x_atom(&c, s->log[i].node);
    phc__x_longlong(&c, s->log[i].ts);
  }
  phc__x_empty_list(&c);
  phc__x_empty_list(&c);
  phc__hub_cast(h, node, c.buff, c.index);
  ei_x_free(&c);
}

static int dq_toggle_lock(phc_hub_t *h, void *st, const char *down_node) {
  dq_log_node(st, down_node, 1);
  return dq_failure(h, st);
}

static int dq_toggle_unlock(phc_hub_t *h, void *st, const char *up_node) {
  dq_log_node(st, up_node, 0);
  dq_send_log(h, st, up_node);
  return !dq_failure(h, st);
}

/* sync_quorum_log([RemoteLog]): a longer log replaces ours. */
static int dq_exec(phc_hub_t *h, void *st, const char *fn, const char *buf,
                   int args_idx) {
  dq_state_t *s = st;
  int idx = args_idx, n, len;
  if (strcmp(fn, "sync_quorum_log") != 0) return PHC_EUNDEF;
  if (ei_decode_list_header(buf, &idx, &n) < 0 || n != 1 ||
      ei_decode_list_header(buf, &idx, &len) < 0 || len < 0)
    return PHC_EINVAL;
  if (len <= s->n) return 0;
  dq_row_t *rows = phc__xcalloc((size_t)len, sizeof *rows);
  int arity, k = 0;
  for (; k < len; k++)
    if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 2 ||
        phc__term_atom(buf, &idx, rows[k].node, PHC__ATOM_MAX) < 0 ||
        ei_decode_longlong(buf, &idx, &rows[k].ts) < 0)
      break;
  if (k == len) {
    s->n = len < DQ_MAX_LOG ? len : DQ_MAX_LOG;
    memcpy(s->log, rows, (size_t)s->n * sizeof *rows);
    PHC_LOG_D(MOD, "%s: quorum log of %d rows taken from a peer", h->id, s->n);
  }
  free(rows);
  return k == len ? 0 : PHC_EINVAL;
}

const phc__strat_part_t phc__strat_dynamic_quorum = {
    .base = {.kind = PHC__STRAT_PARTITION,
             .module = DQ_MODULE,
             .state_size = sizeof(dq_state_t),
             .init = dq_init,
             .check = dq_check,
             .exec = dq_exec},
    .toggle_lock = dq_toggle_lock,
    .toggle_unlock = dq_toggle_unlock};
