/* ext.h - writes the exact bytes erlang:term_to_binary/1 produces.
 *
 * The consistent-hash ring hashes term_to_binary/1 output, and that output
 * depends on the OTP release of the BEAM nodes: OTP 25 and older write an
 * atom whose characters are all <= U+00FF as latin-1 ATOM_EXT (100), while
 * OTP 26+ (minor_version 2) always write UTF-8 (SMALL_)ATOM_UTF8_EXT
 * (119/118). ei_encode_atom always writes UTF-8, so ei cannot reproduce
 * OTP 25 bytes; this module can, for both encodings.
 *
 * It has two halves. The writers (phc__ext_atom, _binary, _long, ...)
 * append one canonical item to an ei_x_buff, as the BEAM would write it.
 * phc__ext_reencode reads one ei-encoded term (as received off the wire, in
 * any valid external encoding: latin-1 or UTF-8 atoms, LIST_EXT of bytes,
 * non-minimal bignums ...) and writes it back canonically in the chosen
 * encoding, so a child id from the wire hashes exactly as the BEAM node that
 * sent it hashed it. Supported: integers (any size), floats, atoms,
 * binaries, bitstrings, tuples, lists, strings, pids, ports and refs. Maps:
 * OTP 25 writes a map of at most 32 keys in key order, which is reproduced;
 * larger (hash) maps, and on OTP 26+ any map of 2 or more keys (atom keys
 * are ordered by the node's atom index), cannot be reproduced and are
 * refused with PHC_EINVAL, as are funs. Checked against real
 * term_to_binary/1 on OTP 25 and OTP 27.3. The same re-encoder, in its
 * PHC__ETF_CANON mode, gives the canonical bytes global compares lock ids
 * by. Walking and skipping terms is term.h's; this module builds on it.
 *
 * The module owns nothing; it only appends to buffers the caller owns.
 */
#ifndef PHC_TERM_EXT_H
#define PHC_TERM_EXT_H

#include <stddef.h>
#include <stdint.h>

#include <ei.h>

#include "term/term.h"

/* Which release's term_to_binary/1 to reproduce. */
typedef enum phc__etf_enc {
  PHC__ETF_OTP25 = 0, /* latin-1 ATOM_EXT when every char is <= U+00FF */
  PHC__ETF_OTP26 = 1, /* UTF-8 atoms always (minor_version 2) */
  /* Not a release: canonical bytes for telling equal terms apart (global's
   * lock ids), never for hashing. UTF-8 atoms, flatmaps in key order,
   * funs and maps of more than 32 keys copied as they came. */
  PHC__ETF_CANON = 2
} phc__etf_enc_t;

/* ---- writers: append one canonical item -------------------------------- */

int phc__ext_version(ei_x_buff *x); /* the leading 131 */
/* An atom given as UTF-8 bytes (len bytes, at most 255 characters). */
int phc__ext_atom(ei_x_buff *x, const char *utf8, size_t len,
                  phc__etf_enc_t enc);
int phc__ext_atomz(ei_x_buff *x, const char *utf8, phc__etf_enc_t enc);
int phc__ext_binary(ei_x_buff *x, const void *data, size_t len);
int phc__ext_long(ei_x_buff *x, int64_t v);
int phc__ext_double(ei_x_buff *x, double d);
int phc__ext_tuple_header(ei_x_buff *x, uint32_t arity);
/* A LIST_EXT header; n elements and a tail (usually phc__ext_nil) follow. */
int phc__ext_list_header(ei_x_buff *x, uint32_t n);
int phc__ext_nil(ei_x_buff *x);

/* ---- reading: one item at a time (shared with order.c) ----------------- */

/* Erlang term order classes, in order. */
enum phc__ext_class {
  PHC__EXT_NUMBER = 1,
  PHC__EXT_ATOM,
  PHC__EXT_REF,
  PHC__EXT_FUN,
  PHC__EXT_PORT,
  PHC__EXT_PID,
  PHC__EXT_TUPLE,
  PHC__EXT_MAP,
  PHC__EXT_NIL,
  PHC__EXT_LIST,
  PHC__EXT_BITS
};

/* One decoded item. Leaves are complete; containers give their header. */
typedef struct phc__ext_item {
  int tag; /* the raw tag byte */
  int cls; /* enum phc__ext_class */
  /* integers: sign and magnitude, little-endian, no high zero bytes */
  int is_float;
  double d;
  int neg;
  const uint8_t *mag;
  size_t mag_len;
  uint8_t mag_small[8];
  /* atoms, and the node of pids/ports/refs: UTF-8, NUL-terminated */
  char atom[MAXATOMLEN_UTF8];
  size_t atom_len;
  size_t atom_chars;
  /* binaries and bitstrings: last_bits is 1..8 (8: whole bytes) */
  const uint8_t *bytes;
  size_t nbytes;
  int last_bits;
  /* tuples (arity) and maps (pairs) */
  uint32_t arity;
  /* pids (id = number), ports (id), refs (words) */
  uint64_t id;
  uint32_t serial;
  uint32_t creation;
  uint32_t words[5];
  int nwords;
} phc__ext_item_t;

/* Read the item at buf[*index] (len bytes in buf). Leaves: *index moves
 * past the item. Tuples and maps: past the header (elements follow).
 * Lists, strings and nil: *index does not move; walk them with the list
 * iterator. Funs: cls FUN and *index moves past the whole fun (walked by
 * phc__term_skip). To move past one whole term, use phc__term_skip. */
int phc__ext_read(const char *buf, int len, int *index, phc__ext_item_t *it);

/* ---- shared by the writers and the reader (ext.c, ext_read.c) -------- */

/* Counts the characters of UTF-8 bytes; *max_cp gets the largest code
 * point. PHC_EINVAL for invalid UTF-8. */
int phc__ext_utf8_scan(const char *s, size_t n, size_t *chars,
                       uint32_t *max_cp);
/* Little-endian magnitude of |v| into out[8]; returns the byte count. */
size_t phc__ext_mag_of(int64_t v, uint8_t out[8]);

/* ---- re-encoding -------------------------------------------------------- */

/* Read one term at buf[*index] (len bytes in buf, no version byte at
 * *index) and append its
 * term_to_binary/1 body in encoding enc. *index moves past the term.
 * Returns 0, PHC_EDECODE for malformed input (or nested deeper than
 * PHC__TERM_MAX_DEPTH), PHC_EINVAL for a term this module does not
 * reproduce (funs, maps of more than 32 keys; PHC__ETF_CANON copies
 * those). */
int phc__ext_reencode(ei_x_buff *x, const char *buf, int len, int *index,
                      phc__etf_enc_t enc);

/* Whole-term form: term is an encoded term that starts with the version
 * byte (len bytes, as in a message). Appends 131 and the body to x, which
 * the caller has set up (ei_x_new) and frees. */
int phc__ext_term_to_binary(ei_x_buff *x, const char *term, int len,
                            phc__etf_enc_t enc);

/* ---- list walking (shared with order.c) --------------------------------- */

/* Walks the cells of a list as the BEAM sees it, whatever chain of
 * LIST_EXT / STRING_EXT / NIL_EXT encodes it. When phc__ext_list_next()
 * returns 1, elem_buf[elem_index] (elem_len bytes) is the element (for a
 * STRING_EXT byte it is byte_term, a private SMALL_INTEGER_EXT) and the walk
 * has already moved past it. When it returns 0 the list has ended and
 * tail_buf[tail_index] (tail_len bytes) is the tail: nil for a proper list,
 * any other term for an improper one. A STRING_EXT ends in an implicit nil
 * that has no bytes: then tail_implicit is 1, tail_buf is a private NIL_EXT
 * and the list's encoding ends at index. Otherwise the tail lives in buf
 * and the list's encoding ends where the tail term ends. */
typedef struct phc__ext_list_iter {
  const char *buf;
  int len;
  int index;     /* next element, or the tail when left == 0 */
  uint32_t left; /* cells left in the current chunk */
  int in_string; /* the current chunk is STRING_EXT bytes */
  const char *elem_buf;
  int elem_len;
  int elem_index;
  const char *tail_buf;
  int tail_len;
  int tail_index;
  int tail_implicit;
  int depth; /* nesting depth of the list, for the recursion guard */
  char byte_term[2];
} phc__ext_list_iter_t;

/* buf[index] must be NIL_EXT, STRING_EXT or LIST_EXT. */
int phc__ext_list_begin(phc__ext_list_iter_t *it, const char *buf, int len,
                        int index);
/* 1: an element, 0: end (tail_index set), PHC_EDECODE: malformed. */
int phc__ext_list_next(phc__ext_list_iter_t *it);

#endif /* PHC_TERM_EXT_H */
