/* release.c - learn each visible peer's OTP release.
 *
 * The hash ring hashes term_to_binary bytes, and OTP 26 changed how atoms
 * are encoded there, so a hub must know its peers' release. When a visible
 * peer comes up, a short-lived probe process asks the peer's rex the old
 * way every OTP release still answers ({From, {call, erlang, system_info,
 * [otp_release], user}} -> {rex, "25"}) and reports the number to the
 * release handler (otp.h). A peer that does not answer within 5 s (or
 * answers something else) is reported with release 0, so that whoever
 * waits for the answer stops waiting.
 */
#include <stdio.h>
#include <stdlib.h>

#include "otp/otp_int.h"
#include "term/enc.h"
#include "term/term.h"

#define MOD "release"
#define PROBE_TIMEOUT_MS 5000

typedef struct probe_s {
  char peer[PHC__ATOM_MAX];
} probe_t;

/* The release string of {rex, "25"} into rel (size bytes): 0, or
 * PHC_EDECODE for any other shape or a string that does not fit. */
static int release_decode(const char *buf, char *rel, size_t size) {
  int idx = 1, arity, type, len;
  if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 2 ||
      !phc__term_atom_eq(buf, idx, "rex") || ei_skip_term(buf, &idx) < 0 ||
      ei_get_type(buf, &idx, &type, &len) < 0 ||
      (type != ERL_STRING_EXT && type != ERL_LIST_EXT) || len < 1 ||
      (size_t)len >= size || ei_decode_string(buf, &idx, rel) < 0)
    return PHC_EDECODE;
  return 0;
}

static void probe_handle(phc_proc_t *self, const char *buf, int len) {
  probe_t *pr = phc_proc_data(self);
  phc_node_t *n = phc_proc_node(self);
  char rel[16];
  PHC__UNUSED(len);
  if (release_decode(buf, rel, sizeof rel) == 0 && atoi(rel) > 0) {
    PHC_LOG_I(MOD, "%s runs OTP %s", pr->peer, rel);
    if (n->otp && n->otp->on_release)
      n->otp->on_release(n, pr->peer, atoi(rel));
  } else {
    PHC_LOG_W(MOD, "%s: no OTP release learned", pr->peer);
    if (n->otp && n->otp->on_release) n->otp->on_release(n, pr->peer, 0);
  }
  phc_proc_exit_atom(self, "normal");
}

static void probe_terminate(phc_proc_t *self, const char *reason, int len) {
  PHC__UNUSED(reason);
  PHC__UNUSED(len);
  free(phc_proc_data(self));
}

static const phc_proc_ops_t probe_ops = {.name = "release_probe",
                                         .handle_msg = probe_handle,
                                         .terminate = probe_terminate};

void phc__release_probe(phc_node_t *n, const char *peer) {
  phc_pid_t pid;
  if (phc_spawn(n, &probe_ops, NULL, NULL, 0, &pid) != 0) return;
  probe_t *pr = phc__xcalloc(1, sizeof *pr);
  snprintf(pr->peer, sizeof pr->peer, "%s", peer);
  phc_proc_set_data(phc_proc_lookup(n, &pid), pr);
  ei_x_buff x;
  phc__x_new_with_version(&x);
  phc__x_tuple_header(&x, 2);
  phc__x_pid(&x, &pid);
  phc__x_tuple_header(&x, 5);
  phc__x_atom(&x, "call");
  phc__x_atom(&x, "erlang");
  phc__x_atom(&x, "system_info");
  phc__x_list_header(&x, 1);
  phc__x_atom(&x, "otp_release");
  phc__x_empty_list(&x);
  phc__x_atom(&x, "user");
  phc_send_name(n, &pid, peer, "rex", x.buff, x.index);
  ei_x_free(&x);
  /* the timeout: a message that ends the probe if rex stays silent */
  ei_x_buff t;
  phc__x_new_with_version(&t);
  phc__x_atom(&t, "timeout");
  phc_ref_t tref;
  phc_send_after(n, PROBE_TIMEOUT_MS, &pid, t.buff, t.index, &tref);
  ei_x_free(&t);
}
