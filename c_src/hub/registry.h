/* registry.h - the hub's process registry, the same table every BEAM member
 * keeps in its ETS table named after the hub.
 *
 * A row is {ChildId, {ChildSpec, [{Node, Pid}], Metadata}}. Terms are kept
 * as encoded bytes (no version byte) exactly as they arrived, so what phc
 * returns re-encodes to the same term. Updates follow ProcessHub 0.4.1's
 * ProcessRegistry: insert replaces a row, bulk insert merges node lists
 * with Keyword.merge (existing pairs whose node is in the new list go, the
 * new pairs are appended), bulk delete removes nodes and drops empty rows.
 * The query encoders write what ProcessHub's functions return: rows come in
 * the order of an Elixir map of the rows on the peers' OTP release (term
 * order up to 32 rows, the map's hash order above; term/maporder.h).
 */
#ifndef PHC_HUB_REGISTRY_H
#define PHC_HUB_REGISTRY_H

#include <uthash.h>

#include "common.h"

typedef struct phc__reg_owner_s {
  const char *node; /* interned (phc__intern): rows hold no name copies */
  phc__cpid_t pid;  /* compact: an erlang_pid is 1 KiB (phc__cpid_get) */
} phc__reg_owner_t;

/* An owner pair: the node interned, the pid made compact. */
phc__reg_owner_t phc__reg_owner_make(const char *node, const erlang_pid *pid);

typedef struct phc__reg_row_s {
  char *cid; /* encoded child id, no version byte; the hash key */
  int cid_len;
  char *spec;
  int spec_len;
  char *meta;
  int meta_len;
  phc__reg_owner_t *owners;
  int nowners;
  UT_hash_handle hh;
} phc__reg_row_t;

typedef struct phc__reg_s {
  phc__reg_row_t *rows;
} phc__reg_t;

void phc__reg_init(phc__reg_t *r);
void phc__reg_clear(phc__reg_t *r);
size_t phc__reg_count(const phc__reg_t *r);

phc__reg_row_t *phc__reg_find(const phc__reg_t *r, const char *cid,
                              int cid_len);
/* Replace (or add) a row. */
void phc__reg_insert(phc__reg_t *r, const char *cid, int cid_len,
                     const char *spec, int spec_len, const char *meta,
                     int meta_len, const phc__reg_owner_t *owners, int n);
/* Bulk-insert semantics for one row: merge owners into an existing row
 * (Keyword.merge) or add the row. Returns the number of pairs that are new
 * or changed (the registry_pid_insert hook's diff). */
int phc__reg_merge(phc__reg_t *r, const char *cid, int cid_len,
                   const char *spec, int spec_len, const char *meta,
                   int meta_len, const phc__reg_owner_t *owners, int n);
/* Remove node from a row; the row goes when it has no owner left.
 * Returns 1 if the row existed. */
int phc__reg_remove_node(phc__reg_t *r, const char *cid, int cid_len,
                         const char *node);
/* Keyword.put of node's pid (the pair moves to the front), as the
 * child_process_pid_update_event does. PHC_ENOPROC if the row is unknown. */
int phc__reg_update_pid(phc__reg_t *r, const char *cid, int cid_len,
                        const char *node, const erlang_pid *pid);
/* Periodic sync (Synchronizer.append_data): add the row, or set node's pid
 * in place (appended if new) and replace spec and metadata. */
void phc__reg_set_pid(phc__reg_t *r, const char *cid, int cid_len,
                      const char *spec, int spec_len, const char *meta,
                      int meta_len, const char *node, const erlang_pid *pid);
void phc__reg_delete(phc__reg_t *r, const char *cid, int cid_len);
/* Remove node from every row that lists it, except rows for which keep
 * (may be NULL) returns nonzero; rows left without owners go. */
void phc__reg_detach_node(phc__reg_t *r, const char *node,
                          int (*keep)(const phc__reg_row_t *row, void *arg),
                          void *arg);
const phc__reg_owner_t *phc__reg_owner(const phc__reg_row_t *row,
                                       const char *node);

/* Rows in child id term order (a flat map's). *out is malloc'ed. */
int phc__reg_sorted(const phc__reg_t *r, phc__reg_row_t ***out);

/* Query encoders: append the result term (no version byte) to x, rows in
 * the order a BEAM map of them iterates on OTP release rel. */
void phc__reg_enc_process_list(const phc__reg_t *r, const char *local_node,
                               int rel, ei_x_buff *x); /* NULL: global */
void phc__reg_enc_dump(const phc__reg_t *r, int rel, ei_x_buff *x);
/* tag: the metadata's tag value term (encoded). */
void phc__reg_enc_tag_query(const phc__reg_t *r, const char *tag, int tag_len,
                            ei_x_buff *x);
/* {ChildSpec, [{Node, Pid}]} or with metadata a 3-tuple; nil if unknown. */
void phc__reg_enc_lookup(const phc__reg_t *r, const char *cid, int cid_len,
                         int with_metadata, ei_x_buff *x);
void phc__reg_enc_owners(const phc__reg_row_t *row, ei_x_buff *x);

#endif /* PHC_HUB_REGISTRY_H */
