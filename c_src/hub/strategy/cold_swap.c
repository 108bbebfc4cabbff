/* cold_swap.c - ProcessHub.Strategy.Migration.ColdSwap, the default
 * migration: the local children that now belong to a node that joined are
 * terminated here first (Distributor.children_terminate, which propagates
 * their unregistration through the synchronization strategy), then sent to
 * that node as migration_add_event (children_redist_init), and
 * children_migrated_hook reports them. No options, no state. */
#include "hub/child_data.h"
#include "hub/hub.h"
#include "term/enc.h"

static int cold_init(phc_hub_t *h, void *st, const char *buf, int idx) {
  PHC__UNUSED(h);
  PHC__UNUSED(st);
  return phc__strat_no_opts(buf, idx);
}

/* ColdSwap: stop the children, unregister them, send them to `to`. */
static void cold_handle_migration(phc_hub_t *h, void *st, phc__reg_row_t **rows,
                                  int n, const char *to) {
  const char *me = h->n->name;
  ei_x_buff unreg, add, hook;
  PHC__UNUSED(st);
  phc__x_new(&unreg);
  phc__x_new(&add);
  phc__x_new_with_version(&hook);
  phc__x_list_header(&unreg, n);
  phc__x_tuple_header(&add, 2);
  phc__x_list_header(&add, n);
  phc__x_tuple_header(&hook, 2);
  phc__x_atom(&hook, to);
  phc__x_list_header(&hook, n);
  for (int i = 0; i < n; i++) {
    phc__hub_terminate_local(h, rows[i]->cid, rows[i]->cid_len);
    phc__x_tuple_header(&unreg, 3);
    phc__x_append_buf(&unreg, rows[i]->cid, rows[i]->cid_len);
    phc__x_atom(&unreg, "ok");
    phc__x_atom(&unreg, me);
    phc__child_data_enc(h, rows[i], to, &add);
    phc__x_tuple_header(&hook, 2);
    phc__x_append_buf(&hook, rows[i]->spec, rows[i]->spec_len);
    phc__x_append_buf(&hook, rows[i]->meta, rows[i]->meta_len);
  }
  phc__x_empty_list(&unreg);
  phc__x_empty_list(&add);
  phc__child_data_enc_migration_opts(&add);
  phc__x_empty_list(&hook);
  for (int i = 0; i < n; i++)
    phc__hub_reg_remove_hooked(h, rows[i]->cid, rows[i]->cid_len, me);
  phc__strat_propagate(h, &h->strat, unreg.buff, unreg.index, me,
                       PHC__STRAT_SYNC_REM, NULL, 0);
  phc__hub_dispatch(h, "migration_add_event", to, add.buff, add.index);
  phc__hub_hook(h, "children_migrated_hook", &hook);
  ei_x_free(&unreg);
  ei_x_free(&add);
  ei_x_free(&hook);
}

const phc__strat_mig_t phc__strat_cold_swap = {
    .base = {.kind = PHC__STRAT_MIGRATION,
             .module = "Elixir.ProcessHub.Strategy.Migration.ColdSwap",
             .init = cold_init},
    .handle_migration = cold_handle_migration};
