/* child_data.c - ChildData maps read and written, supervisor ids, and the
 * helpers the handlers share (see child_data.h). */
#include "hub/child_data.h"

#include <stdio.h>
#include <stdlib.h>

#include "hub/hub.h"
#include "term/enc.h"

/* ---- reading a ChildData map ------------------------------------------- */

int phc__child_data_decode(const char *buf, int idx, phc__child_data_t *cd) {
  memset(cd, 0, sizeof *cd);
  cd->buf = buf;
  cd->map = idx;
  cd->meta = cd->nodes = -1;
  if (phc__term_map_get(buf, idx, "child_spec", &cd->spec) < 0 ||
      (cd->spec_len = phc__hub_term_len(buf, cd->spec)) < 0 ||
      phc__term_map_get(buf, cd->spec, "id", &cd->cid) < 0 ||
      (cd->cid_len = phc__hub_term_len(buf, cd->cid)) < 0)
    return PHC_EDECODE;
  if (phc__term_map_get(buf, idx, "metadata", &cd->meta) == 0)
    cd->meta_len = phc__hub_term_len(buf, cd->meta);
  if (phc__term_map_get(buf, idx, "nodes", &cd->nodes) < 0) cd->nodes = -1;
  return 0;
}

/* ---- writing ChildData for a registry row ------------------------------ */

/* #{child_id, child_spec, hub_id, metadata, migration_add, nodes => [N]} */
void phc__child_data_enc(phc_hub_t *h, const phc__reg_row_t *row,
                         const char *node, ei_x_buff *x) {
  phc__x_map_header(x, 6);
  phc__x_atom(x, "child_id");
  phc__x_append_buf(x, row->cid, row->cid_len);
  phc__x_atom(x, "child_spec");
  phc__x_append_buf(x, row->spec, row->spec_len);
  phc__x_atom(x, "hub_id");
  phc__x_atom(x, h->id);
  phc__x_atom(x, "metadata");
  phc__x_append_buf(x, row->meta, row->meta_len);
  phc__x_atom(x, "migration_add");
  phc__x_atom(x, "true");
  phc__x_atom(x, "nodes");
  phc__x_list_header(x, 1);
  phc__x_atom(x, node);
  phc__x_empty_list(x);
}

void phc__child_data_enc_migration_opts(ei_x_buff *x) {
  phc__x_list_header(x, 1);
  phc__x_tuple_header(x, 2);
  phc__x_atom(x, "migration_add");
  phc__x_atom(x, "true");
  phc__x_empty_list(x);
}

/* ---- supervisor ids ------------------------------------------------------ */

/* Supervisor ids are the child id's bytes in hex. */
void phc__child_data_sup_id(const char *cid, int len, char *out, size_t max) {
  static const char hex[] = "0123456789abcdef";
  size_t j = 0;
  for (int i = 0; i < len && j + 2 < max; i++) {
    out[j++] = hex[(unsigned char)cid[i] >> 4];
    out[j++] = hex[(unsigned char)cid[i] & 15];
  }
  out[j] = 0;
}

int phc__child_data_cid(const char *id, char *out, int max) {
  int n = 0;
  for (; id[0] && id[1] && n < max; id += 2) {
    unsigned v;
    if (sscanf(id, "%2x", &v) != 1) return PHC_EDECODE;
    out[n++] = (char)v;
  }
  return n;
}

/* ---- helpers ------------------------------------------------------------- */

int phc__hub_term_len(const char *buf, int idx) {
  int end = idx;
  return ei_skip_term(buf, &end) < 0 ? PHC_EDECODE : end - idx;
}

void phc__hub_list_init(phc__hub_list_t *l) {
  phc__x_new(&l->items);
  l->n = 0;
}

void phc__hub_list_close(phc__hub_list_t *l, ei_x_buff *x) {
  if (l->n) phc__x_list_header(x, l->n);
  phc__x_append_buf(x, l->items.buff, l->items.index);
  phc__x_empty_list(x);
  ei_x_free(&l->items);
}
