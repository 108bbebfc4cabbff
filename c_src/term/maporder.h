/* maporder.h - the order in which a BEAM node iterates a map.
 *
 * ProcessHub builds process_list/2 and registry_dump/1 from an Elixir map
 * of the registry rows, so a BEAM member returns the rows in its map's
 * iteration order. Maps of up to 32 keys are flat and sorted (Erlang term
 * order, integers before floats); larger maps are HAMTs, four hash bits a
 * level from the lowest, that maps:keys/1 and maps:to_list/1 walk from the
 * highest slot down, and maps:iterator/1 with maps:next/1 (so Elixir's
 * Enum over a map, as process_list/2 does) from the lowest slot up. The hash is
 * ERTS's map hash: before OTP 27, make_internal_hash (Jenkins' lookup2 mixing,
 * 32 bits; OTP 26 is taken to hash as OTP 25, and an OTP 26 built for SSE4.2,
 * which mixes with CRC32C, is not matched); from OTP 27 on, the
 * MurmurHash3-based internal hash, 64 bits. This module computes it from a
 * key's external format and sorts keys into that order; checked against
 * maps:keys/1 of real OTP 25 and 27.3 nodes (test/fixtures/maporder/). Neither
 * depends on the node, the run or the insertion order for the key kinds below.
 *
 * The internal hash is reproducible for integers, floats, binaries, and
 * tuples and lists of those; it is not for atoms (an atom hashes by its
 * index in the node's atom table, which depends on the order the node
 * created its atoms, and differs between two BEAM nodes), pids, ports,
 * references (node pointers), funs and maps. A set holding any of these
 * is sorted in term order instead. The order follows the peers' release.
 * Keys whose whole hashes are equal sort in term order (ERTS keeps them in
 * a collision node; not checked against a real node).
 *
 * The module owns nothing and allocates nothing (the OTP 27 walk keeps
 * its stack, 256 entries, on the C stack).
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
  uint64_t h;
} phc__mo_key_t;

/* The map hash of the key at buf (len bytes) as OTP release rel (25, 26,
 * 27, ...) computes it on a 64-bit node: 32 bits before OTP 27, 64 since.
 * 0, or PHC_EINVAL for a key whose hash a C node cannot know (atoms, pids,
 * ports, references, funs, maps, nesting deeper than 256), PHC_EDECODE for
 * bad bytes. */
int phc__maporder_hash(const char *buf, int len, int rel, uint64_t *out);

/* Which walk of the map: maps:keys/1 and maps:to_list/1, or
 * maps:iterator/1 with maps:next/1 (Elixir's Enum and for over a map). */
typedef enum { PHC__MAPORDER_KEYS, PHC__MAPORDER_ITER } phc__mo_walk_t;

/* Sort n keys into the order walk gives on release rel for a map of
 * exactly those keys. Returns 0, or PHC_EINVAL when some key's hash cannot
 * be known: the keys are then in term order (the flat map's order). */
int phc__maporder_sort(phc__mo_key_t *keys, size_t n, int rel,
                       phc__mo_walk_t walk);

#endif /* PHC_TERM_MAPORDER_H */
