/* child_data.h - the ChildData maps coordinators hand each other, and the
 * small helpers the hub's handlers share.
 *
 * ProcessHub passes a child between coordinators as a ChildData map,
 * #{child_id, child_spec, hub_id, metadata, nodes[, migration_add]}: in
 * start_children casts, in migration_add_event and when a node's children
 * are redistributed. This module reads one (phc__child_data_t points into
 * the buffer the map came in and owns nothing) and writes the ones the hub
 * builds from a registry row. It also names a child to the hub's
 * supervisor (the child id's bytes in hex, and back), measures encoded
 * terms that already passed the walker, and builds lists whose length is
 * known only at the end. Used by start.c, stop.c, events.c, cluster.c and
 * the migration strategies.
 */
#ifndef PHC_HUB_CHILD_DATA_H
#define PHC_HUB_CHILD_DATA_H

#include "common.h"
#include "hub/registry.h"

typedef struct phc_hub_s phc_hub_t;

/* ---- reading a ChildData map ------------------------------------------- */

typedef struct phc__child_data_s {
  const char *buf;
  int map;          /* index of the ChildData map */
  int cid, cid_len; /* child_spec.id */
  int spec, spec_len;
  int meta, meta_len; /* -1: none (then #{}) */
  int nodes;          /* index of the nodes list, -1 if missing */
} phc__child_data_t;

/* The map at buf[idx]: 0, or PHC_EDECODE without a child_spec and its id. */
int phc__child_data_decode(const char *buf, int idx, phc__child_data_t *cd);

/* ---- writing ChildData for a registry row ------------------------------ */

/* #{child_id, child_spec, hub_id, metadata, migration_add => true,
 * nodes => [node]} (no version byte). */
void phc__child_data_enc(phc_hub_t *h, const phc__reg_row_t *row,
                         const char *node, ei_x_buff *x);
/* The start options of a migration: [{migration_add, true}]. */
void phc__child_data_enc_migration_opts(ei_x_buff *x);

/* ---- supervisor ids ------------------------------------------------------ */

/* The supervisor id of a child: the child id's bytes in hex (out holds at
 * least 2 * len + 1 bytes to take it whole). */
void phc__child_data_sup_id(const char *cid, int len, char *out, size_t max);
/* Back from a supervisor id: the child id's bytes into out (at most max);
 * returns their count, or PHC_EDECODE for an id that is not hex. */
int phc__child_data_cid(const char *id, char *out, int max);

/* ---- helpers ------------------------------------------------------------- */

/* Bytes of the encoded term at buf[idx] (which passed the walker), or
 * PHC_EDECODE. */
int phc__hub_term_len(const char *buf, int idx);

/* A list built item by item: the header is written at the end. */
typedef struct phc__hub_list_s {
  ei_x_buff items;
  int n;
} phc__hub_list_t;

void phc__hub_list_init(phc__hub_list_t *l);
/* Append [items] to x and free the items. */
void phc__hub_list_close(phc__hub_list_t *l, ei_x_buff *x);

#endif /* PHC_HUB_CHILD_DATA_H */
