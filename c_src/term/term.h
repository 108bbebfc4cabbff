/* term.h - reading encoded terms: the one bounded walker and the small
 * read-side helpers every layer uses.
 *
 * Every term that reaches phc from the wire passes phc__term_skip first
 * (dist/frame.c does it for each control term and payload): it walks
 * every external-format tag, bounded by the buffer length and by a
 * nesting limit, and never trusts a count beyond the bytes that remain.
 * A NEW_FUN_EXT is walked field by field, its free variables included, and
 * its declared size must equal the bytes walked. ATOM_CACHE_REF (82; phc
 * never negotiates the atom cache), LOCAL_EXT (121), the obsolete FUN_EXT
 * and unknown tags are refused. So once a term has passed, ei (and the
 * readers below) agree with the walker on every length inside it.
 *
 * The readers below take (buf, index) as ei does: buf[index] must lie in
 * a term phc__term_skip accepted. They read only the item they look at
 * (an atom's own bytes, never a name's worth past it) and write no more
 * than the caller's buffer holds. phc__term_is_atom is the bounded form
 * for a whole term of known length. Atoms are compared and decoded as
 * UTF-8 (latin-1 atom tags are converted), the form PHC__ATOM_MAX is
 * sized for.
 *
 * The module owns nothing; copies it returns are malloc'ed for the caller.
 */
#ifndef PHC_TERM_TERM_H
#define PHC_TERM_TERM_H

#include <stddef.h>

#include "common.h"

/* How deep terms may nest (tuples, lists, maps, fun environments). */
#define PHC__TERM_MAX_DEPTH 1000

/* External term format tags. */
#define PHC__TAG_VERSION 131
#define PHC__TAG_NEW_FLOAT 70
#define PHC__TAG_BIT_BINARY 77
#define PHC__TAG_ATOM_CACHE_REF 82
#define PHC__TAG_NEW_PID 88
#define PHC__TAG_NEW_PORT 89
#define PHC__TAG_NEWER_REF 90
#define PHC__TAG_SMALL_INT 97
#define PHC__TAG_INT 98
#define PHC__TAG_FLOAT 99
#define PHC__TAG_ATOM 100
#define PHC__TAG_REF 101
#define PHC__TAG_PORT 102
#define PHC__TAG_PID 103
#define PHC__TAG_SMALL_TUPLE 104
#define PHC__TAG_LARGE_TUPLE 105
#define PHC__TAG_NIL 106
#define PHC__TAG_STRING 107
#define PHC__TAG_LIST 108
#define PHC__TAG_BINARY 109
#define PHC__TAG_SMALL_BIG 110
#define PHC__TAG_LARGE_BIG 111
#define PHC__TAG_NEW_FUN 112
#define PHC__TAG_EXPORT 113
#define PHC__TAG_NEW_REF 114
#define PHC__TAG_SMALL_ATOM 115
#define PHC__TAG_MAP 116
#define PHC__TAG_FUN 117
#define PHC__TAG_ATOM_UTF8 118
#define PHC__TAG_SMALL_ATOM_UTF8 119
#define PHC__TAG_V4_PORT 120
#define PHC__TAG_LOCAL 121

/* ---- walking ------------------------------------------------------------ */

/* Move *index past the one term at buf[*index] (no version byte there),
 * reading nothing at or beyond buf[len]. Returns 0, or PHC_EDECODE for a
 * truncated, malformed, refused or too deeply nested term (*index is then
 * left alone). */
int phc__term_skip(const char *buf, int len, int *index);
/* The same for a term already nested depth levels deep (for walkers that
 * keep their own depth, such as ext.h's list iterator). */
int phc__term_skip_at(const char *buf, int len, int *index, int depth);
/* 0 when buf (len bytes) is exactly one term after its version byte, as
 * phc__term_skip walks it; PHC_EDECODE for NULL, no version byte, a term
 * the walker refuses, or bytes left over. */
int phc__term_check(const char *buf, int len);

/* ---- atoms -------------------------------------------------------------- */

/* 1 when buf[index] is an atom (any atom tag) named name (UTF-8), else 0. */
int phc__term_atom_eq(const char *buf, int index, const char *name);
/* 1 when the whole term (len bytes, with or without the version byte) is
 * the atom name; never reads past len. */
int phc__term_is_atom(const char *term, int len, const char *name);
/* Decode the atom at buf[*index] as UTF-8 into out (size bytes, NUL
 * included) and move *index past it. PHC_EDECODE when it is not an atom
 * or does not fit (out is then ""). */
int phc__term_atom(const char *buf, int *index, char *out, size_t size);
/* 1 when the list at buf[index] holds the atom name, else 0 (also for
 * index < 0 or a term that is not a list). */
int phc__term_has_atom(const char *buf, int index, const char *name);

/* ---- lookups ------------------------------------------------------------ */

/* The value of atom key in the map at buf[index]: 0 with *value set to
 * its index, PHC_EINVAL when the key is absent, PHC_EDECODE when the term
 * is not a map. */
int phc__term_map_get(const char *buf, int index, const char *key, int *value);
/* The same in a keyword list ([{key, Value}, ...]; the first match wins,
 * other elements are passed over). */
int phc__term_kw_get(const char *buf, int index, const char *key, int *value);

/* ---- pids --------------------------------------------------------------- */

/* A pid, or a proper list of pids, at buf[*index]: the first max go to
 * out, the return value is how many there are (it may exceed max) and
 * *index moves past the term. PHC_EDECODE when the term is neither. */
int phc__term_pids(const char *buf, int *index, erlang_pid *out, int max);

/* ---- copies ------------------------------------------------------------- */

/* A malloc'ed copy of len bytes (len may be 0). */
char *phc__term_dup(const char *bytes, int len);
/* A copy of an encoded term (term_len bytes, no version byte) in a new
 * buffer that starts with the version byte; *out_len gets its length. */
char *phc__term_with_version(const char *term, int term_len, int *out_len);
/* The encoded body of a term: after the version byte, if there is one. */
void phc__term_body(const char *buf, int len, const char **body, int *blen);

#endif /* PHC_TERM_TERM_H */
