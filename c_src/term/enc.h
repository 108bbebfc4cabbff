/* enc.h - the write side of terms: ei_x encoders with one failure rule.
 *
 * ei_x_encode_* return -1 when the buffer cannot grow (out of memory) and,
 * for atoms, when the atom is longer than 255 characters. phc treats OOM as
 * fatal, like phc__xmalloc and like the BEAM, so these wrappers abort on it
 * and callers need not check: every encoder in phc goes through them. The
 * one failure they report is an invalid atom (phc__x_atom returns
 * PHC_EINVAL and writes nothing); atoms that come from users (hub ids, node
 * names, config) are checked where they enter, so inside phc that return
 * can be ignored too.
 *
 * Pids are written as NEW_PID_EXT with all 32 bits of number and serial
 * (ei does not mask them); phc__x_pid takes an erlang_pid or a compact
 * phc__cpid_t (common.h), whose node name is not copied into a 1 KiB
 * buffer first.
 *
 * Atoms are taken as UTF-8, the form phc__term_atom decodes them to, so an
 * atom read off the wire is written back unchanged (ei_x_encode_atom would
 * take its input as latin-1).
 *
 * The module owns nothing; the caller owns each buffer (phc__x_new*, then
 * ei_x_free).
 */
#ifndef PHC_TERM_ENC_H
#define PHC_TERM_ENC_H

#include <string.h>

#include "common.h"

/* Log and abort: an ei_x buffer could not grow. */
_Noreturn void phc__x_oom(void);

static inline int phc__x_ok(int rc) {
  if (rc < 0) phc__x_oom();
  return 0;
}

static inline int phc__x_new(ei_x_buff *x) { return phc__x_ok(ei_x_new(x)); }
static inline int phc__x_new_with_version(ei_x_buff *x) {
  return phc__x_ok(ei_x_new_with_version(x));
}
static inline int phc__x_version(ei_x_buff *x) {
  return phc__x_ok(ei_x_encode_version(x));
}
/* A UTF-8 atom of len bytes: PHC_EINVAL (nothing written) when it is not
 * valid UTF-8 or has more than 255 characters. */
int phc__x_atom_len(ei_x_buff *x, const char *utf8, int len);
static inline int phc__x_atom(ei_x_buff *x, const char *utf8) {
  return phc__x_atom_len(x, utf8, (int)strlen(utf8));
}
static inline int phc__x_tuple_header(ei_x_buff *x, long n) {
  return phc__x_ok(ei_x_encode_tuple_header(x, n));
}
static inline int phc__x_list_header(ei_x_buff *x, long n) {
  return phc__x_ok(ei_x_encode_list_header(x, n));
}
static inline int phc__x_empty_list(ei_x_buff *x) {
  return phc__x_ok(ei_x_encode_empty_list(x));
}
static inline int phc__x_map_header(ei_x_buff *x, long n) {
  return phc__x_ok(ei_x_encode_map_header(x, n));
}
static inline int phc__x_long(ei_x_buff *x, long n) {
  return phc__x_ok(ei_x_encode_long(x, n));
}
static inline int phc__x_ulong(ei_x_buff *x, unsigned long n) {
  return phc__x_ok(ei_x_encode_ulong(x, n));
}
static inline int phc__x_longlong(ei_x_buff *x, long long n) {
  return phc__x_ok(ei_x_encode_longlong(x, n));
}
static inline int phc__x_ulonglong(ei_x_buff *x, unsigned long long n) {
  return phc__x_ok(ei_x_encode_ulonglong(x, n));
}
static inline int phc__x_double(ei_x_buff *x, double d) {
  return phc__x_ok(ei_x_encode_double(x, d));
}
static inline int phc__x_boolean(ei_x_buff *x, int b) {
  return phc__x_ok(ei_x_encode_boolean(x, b));
}
static inline int phc__x_binary(ei_x_buff *x, const void *p, int len) {
  return phc__x_ok(ei_x_encode_binary(x, p, len));
}
static inline int phc__x_epid(ei_x_buff *x, const erlang_pid *p) {
  return phc__x_ok(ei_x_encode_pid(x, p));
}
/* The same bytes as phc__x_epid of the pid c stands for. */
int phc__x_cpid(ei_x_buff *x, const phc__cpid_t *c);
#define phc__x_pid(x, p)                                                       \
  _Generic((p),                                                                \
      phc__cpid_t *: phc__x_cpid,                                              \
      const phc__cpid_t *: phc__x_cpid,                                        \
      default: phc__x_epid)(x, p)
static inline int phc__x_ref(ei_x_buff *x, const erlang_ref *r) {
  return phc__x_ok(ei_x_encode_ref(x, r));
}
/* Append len encoded bytes (a whole term, or several). */
static inline int phc__x_append_buf(ei_x_buff *x, const char *b, int len) {
  return phc__x_ok(ei_x_append_buf(x, b, len));
}

/* A new buffer holding one atom as a whole term (version byte first).
 * PHC_EINVAL (and nothing to free) for an invalid atom. */
int phc__x_atom_term(ei_x_buff *x, const char *atom);

#endif /* PHC_TERM_ENC_H */
