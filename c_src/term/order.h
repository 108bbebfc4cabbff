/* order.h - Erlang term order over ei-encoded terms.
 *
 * The ring breaks hash ties by node atom, ProcessHub sorts owner lists
 * (the Replication master is the first node in term order), and map keys
 * travel in key order; all of these must agree with the BEAM's own
 * comparison. This module compares two encoded terms exactly as erts does
 * (erts_cmp in OTP 25), without decoding them into C structures:
 *
 *   number < atom < reference < fun < port < pid < tuple < map < nil < list
 *   < bitstring
 *
 * Numbers compare by value (1 == 1.0; an integer and a float compare
 * exactly, even beyond 2^53); atoms byte-wise on their UTF-8 names, then by
 * length; tuples by arity, then element-wise; maps by size, then by their
 * keys in key order, then by their values in key order; lists element-wise
 * with [] smallest; binaries byte-wise, then by length; pids by serial,
 * number, node name, creation; ports and references by node name and
 * creation, then id. Funs are not compared (PHC_EINVAL).
 *
 * "Exact" order is the order of map keys: the same, except that any
 * integer sorts before any float (OTP 25/26: 2 < 1.0 as map keys).
 *
 * The module owns nothing and allocates only while comparing maps.
 */
#ifndef PHC_TERM_ORDER_H
#define PHC_TERM_ORDER_H

/* a and b point at encoded terms (no version byte), with alen and blen
 * bytes available. *cmp gets <0, 0 or >0. Returns 0 or PHC_EDECODE /
 * PHC_EINVAL (funs). Trailing bytes after the terms are ignored. */
int phc__term_compare(const char *a, int alen, const char *b, int blen,
                      int *cmp);
/* The same in exact (map key) order. */
int phc__term_compare_exact(const char *a, int alen, const char *b, int blen,
                            int *cmp);
/* Whole terms that start with the version byte 131. */
int phc__term_compare_v(const char *a, int alen, const char *b, int blen,
                        int *cmp);
/* Two atom names given as NUL-terminated UTF-8: <0, 0 or >0. */
int phc__atom_compare(const char *a, const char *b);

#endif /* PHC_TERM_ORDER_H */
