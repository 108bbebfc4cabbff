/* stop.c - ProcessHub's StopHandle, terminating a local child without
 * telling anyone (migration, leave), and the marks that keep the
 * supervisor's report of such a child from becoming a self_exit. */
#include <stdio.h>
#include <stdlib.h>

#include "hub/child_data.h"
#include "hub/hub.h"
#include "term/enc.h"

#define MOD "hub"

/* ---- stopping -------------------------------------------------------- */

int phc__hub_terminate_local(phc_hub_t *h, const char *cid, int cid_len) {
  char id[2 * 256 + 1];
  if (cid_len > 256) return PHC_EINVAL;
  phc__child_data_sup_id(cid, cid_len, id, sizeof id);
  if (!h->sup || phc__sup_which_child(h->sup, id, NULL) != 0)
    return PHC_ENOPROC;
  /* Remember it so the supervisor's GONE is not reported as self_exit. */
  phc__hub_mark_terminating(h, id);
  return phc__sup_terminate_child(h->sup, id);
}

void phc__hub_stop_handle(phc_hub_t *h, const char *buf, int cidx,
                          int opts_idx) {
  int n, idx = cidx;
  if (ei_decode_list_header(buf, &idx, &n) < 0) return;
  if (h->partitioned) { /* StopHandle: {error, partitioned}, no reply */
    PHC_LOG_I(MOD, "%s: partition mode: a stop of %d children refused", h->id,
              n);
    return;
  }
  phc__hub_list_t res;
  phc__hub_list_init(&res);
  for (int i = 0; i < n; i++) {
    int cid, at = idx;
    if (ei_skip_term(buf, &idx) < 0) break;
    if (phc__term_map_get(buf, at, "child_id", &cid) < 0) continue;
    int len = phc__hub_term_len(buf, cid);
    int rc = phc__hub_terminate_local(h, buf + cid, len);
    phc__x_tuple_header(&res.items, 3);
    phc__x_append_buf(&res.items, buf + cid, len);
    if (rc == 0) {
      phc__x_atom(&res.items, "ok");
    } else {
      phc__x_tuple_header(&res.items, 2);
      phc__x_atom(&res.items, "error");
      phc__x_atom(&res.items, "not_found");
    }
    phc__x_atom(&res.items, h->n->name);
    res.n++;
  }
  /* Distributor.children_terminate: propagate(:rem) with the stop opts */
  ei_x_buff ev;
  phc__x_new(&ev);
  phc__hub_list_close(&res, &ev);
  phc__strat_propagate(h, &h->strat, ev.buff, ev.index, h->n->name,
                       PHC__STRAT_SYNC_REM, buf + opts_idx,
                       phc__hub_term_len(buf, opts_idx));
  ei_x_free(&ev);
}

/* ---- terminating marks ----------------------------------------------- */

void phc__hub_mark_terminating(phc_hub_t *h, const char *id) {
  phc__hub_term_t *t = phc__xcalloc(1, sizeof *t);
  t->id = phc__xstrdup(id);
  t->next = h->terminating;
  h->terminating = t;
}

int phc__hub_take_terminating(phc_hub_t *h, const char *id) {
  for (phc__hub_term_t **p = &h->terminating; *p; p = &(*p)->next) {
    if (strcmp((*p)->id, id) != 0) continue;
    phc__hub_term_t *t = *p;
    *p = t->next;
    free(t->id);
    free(t);
    return 1;
  }
  return 0;
}
