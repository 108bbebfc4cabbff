/* phash2.h - erlang:phash2/1,2 over external-format bytes.
 *
 * libring's HashRing (the ring of Elixir's DistributedSupervisor) places
 * keys and virtual nodes with erlang:phash2/2, which is ERTS's make_hash2:
 * Bob Jenkins' lookup2 mixing over the term's structure, portable between
 * nodes and releases. This module computes it from a term's external
 * format (no version byte) as ei or the wire gives it: atoms (the atom
 * table's hashpjw of the name, latin-1 and UTF-8 alike), integers of any
 * size, floats, binaries and bitstrings, tuples, lists (byte runs hashed
 * four at a time, as ERTS does for strings), maps (order-free), pids,
 * ports and references. Funs are refused. Checked against golden vectors
 * from a real OTP 25 node (test/fixtures/dsup/phash2.tsv).
 *
 * The module owns nothing.
 */
#ifndef PHC_TERM_PHASH2_H
#define PHC_TERM_PHASH2_H

#include <stddef.h>
#include <stdint.h>

/* The 32-bit make_hash2 value of the term at buf[idx] (len bytes in buf):
 * 0 and *out, PHC_EDECODE for a term the walker refuses, PHC_EINVAL for a
 * fun or an old-style float. */
int phc__phash2_raw(const char *buf, int len, int idx, uint32_t *out);
/* erlang:phash2(T, Range) for 1 <= range <= 2^32 (2^32 gives the raw
 * value). */
int phc__phash2(const char *buf, int len, int idx, uint64_t range,
                uint32_t *out);
/* The atom table's hash of an atom's name: utf8 1, name in UTF-8; 0,
 * name in latin-1. */
uint32_t phc__phash2_atom(const char *name, size_t n, int utf8);

#endif /* PHC_TERM_PHASH2_H */
