/* dsup.h - membership of Elixir DistributedSupervisor instances.
 *
 * A DistributedSupervisor named Name is, on each member, a pg scope
 * Name.Scope whose groups are the children's names, a Name.Registry
 * server holding libring's ring (dsup/ring.h) and a cache of the children
 * of every member, and a Name.DynamicSupervisor that starts children; a
 * child is named {via, DistributedSupervisor.Registry, {Name, Key}}, a pg
 * join of group Key. phc runs the same three here (the supervisor is
 * proc's one_for_one supervisor behind a front process that answers as
 * DynamicSupervisor does), so BEAM members place children on phc with
 * :rpc.block_call(Phc, DynamicSupervisor, :start_child, ...) and call them
 * by name. The query functions (nodes/1, node_for/2, mine?/2, children/1,
 * whereis/2, local_children/1) and DistributedSupervisor's own rpc targets
 * answer over erpc/rpc as natives.
 *
 * Ownership: struct phc__dsups_s (n->dsups) owns every running instance;
 * an instance owns its scope, ring, processes, child records and cache.
 * dsup.c is the lifecycle and the Registry, dsup_sup.c the supervisor,
 * dsup_api.c the natives, dsup_cache.c the children cache and listeners.
 */
#ifndef PHC_DSUP_DSUP_H
#define PHC_DSUP_DSUP_H

#include "node.h"

/* Stop every instance and free n->dsups (node stop); safe to call twice. */
void phc__dsups_free(phc_node_t *n);

#endif /* PHC_DSUP_DSUP_H */
