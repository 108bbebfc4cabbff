/* children.h - the built-in child types phc_echo, phc_counter and phc_kv.
 *
 * They double as examples of a C child type (a table of gen_server
 * callbacks over a small C state) and have BEAM twins in elixir_harness/
 * with the same module names, calls and handover state. The module owns
 * nothing beyond each child's own state; the node (c_src/node.c) registers
 * the types when it starts.
 */
#ifndef PHC_CHILDREN_CHILDREN_H
#define PHC_CHILDREN_CHILDREN_H

#include "node.h"

/* Register the three child types (Module:start_link/1 and Module:start/1
 * then work over rpc and spawn, as for every registered type). 0 or a
 * negative PHC_E* code. */
int phc__children_register(phc_node_t *n);

#endif /* PHC_CHILDREN_CHILDREN_H */
