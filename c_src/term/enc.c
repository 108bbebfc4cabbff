/* enc.c - the checked ei_x encoders (see term/enc.h). */
#include "term/enc.h"

#include <stdlib.h>

#include "term/ext.h"

#define PHC__ENC_MOD "enc"

void phc__x_oom(void) {
  PHC_LOG_E(PHC__ENC_MOD, "out of memory while encoding a term");
  abort();
}

int phc__x_atom_len(ei_x_buff *x, const char *utf8, int len) {
  size_t chars;
  uint32_t max_cp;
  if (len < 0 || phc__ext_utf8_scan(utf8, (size_t)len, &chars, &max_cp) ||
      chars > 255)
    return PHC_EINVAL;
  return phc__x_ok(
      ei_x_encode_atom_len_as(x, utf8, len, ERLANG_UTF8, ERLANG_UTF8));
}

int phc__x_cpid(ei_x_buff *x, const phc__cpid_t *c) {
  unsigned char tag = ERL_NEW_PID_EXT, tail[12];
  const unsigned v[3] = {c->num, c->serial, c->creation};
  for (int i = 0; i < 3; i++) {
    tail[4 * i] = (unsigned char)(v[i] >> 24);
    tail[4 * i + 1] = (unsigned char)(v[i] >> 16);
    tail[4 * i + 2] = (unsigned char)(v[i] >> 8);
    tail[4 * i + 3] = (unsigned char)v[i];
  }
  phc__x_append_buf(x, (const char *)&tag, 1);
  if (phc__x_atom(x, c->node) < 0) return PHC_EINVAL;
  return phc__x_append_buf(x, (const char *)tail, sizeof tail);
}

int phc__x_atom_term(ei_x_buff *x, const char *atom) {
  phc__x_new_with_version(x);
  int rc = phc__x_atom(x, atom);
  if (rc) ei_x_free(x);
  return rc;
}
