/* maporder.h - the order in which a BEAM node iterates a map.
 *
 * ProcessHub builds process_list/2 and registry_dump/1 from an Elixir map
 * of the registry rows, so a BEAM member returns the rows in its map's
 * iteration order. Maps of up to 32 keys are flat and sorted (Erlang term
 * order, integers before floats); larger maps are HAMTs iterated in the
 * order of each key's internal hash (ERTS's make_internal_hash with salt
 * 0), four bits a level, lowest bits first. This module computes that hash
 * from a key's external format and sorts keys into that order.
 *
 * The internal hash is reproducible for integers, floats, binaries, and
 * tuples and lists of those; it is not for atoms (an atom hashes by its
 * index in the node's atom table, which depends on the order the node
 * created its atoms, and differs between two BEAM nodes), pids, ports,
 * references (node pointers), funs and maps. A set holding any of these
 * is sorted in term order instead. OTP 26+ starts the hash from a
 * different seed than OTP 25, so the order follows the peers' release.
 * Keys whose 32-bit hashes are equal sort in term order (ERTS keeps them in
 * a collision node; not checked against a real node).
 *
 * The module owns nothing; the sort allocates nothing.
 */
#ifndef PHC_TERM_MAPORDER_H
#define PHC_TERM_MAPORDER_H

#include <stddef.h>
#include <stdint.h>

/* The largest map ERTS keeps flat (sorted by key). */
#define PHC__MAPORDER_FLAT_MAX 32

/* One key to sort: buf/len its encoded term (no version byte); item is the
 * caller's; h is the sort's. */
typedef struct phc__mo_key_s {
  const char *buf;
  int len;
  void *item;
  uint32_t h;
} phc__mo_key_t;

/* make_internal_hash(Key, salt) of the term at buf (len bytes) as an OTP
 * release rel (25, 26, 27, ...) computes it on a 64-bit node: 0, or
 * PHC_EINVAL for a key whose hash a C node cannot know (atoms, pids, ports,
 * references, funs, maps), PHC_EDECODE for bad bytes. */
int phc__maporder_hash(const char *buf, int len, int rel, uint32_t salt,
                       uint32_t *out);

/* Sort n keys into the order maps:keys/1 gives on release rel for a map of
 * exactly those keys. Returns 0, or PHC_EINVAL when some key's hash cannot
 * be known: the keys are then in term order (the flat map's order). */
int phc__maporder_sort(phc__mo_key_t *keys, size_t n, int rel);

#endif /* PHC_TERM_MAPORDER_H */
