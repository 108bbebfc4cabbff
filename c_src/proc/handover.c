/* handover.c - ProcessHub's HotSwap handover for C child types: what
 * `use ProcessHub.Strategy.Migration.HotSwap` adds to a BEAM child, done
 * by the gen_server for every type that has handover_get / handover_put.
 *
 *   {process_hub, send_handover_state, Receiver, Cid, Opts}
 *       Receiver ! {process_hub, handover, Cid, {handover_get(), Opts}}
 *       retention_receiver (in Opts) ! {process_hub, retention_handled, Cid}
 *   {process_hub, handover, Cid, {State, Opts}}
 *       when confirm_handover (in Opts) is true:
 *         {process_hub, handover_confirmed, Cid} to confirmation_receiver,
 *         or to retention_receiver when confirmation_receiver is this very
 *         process (ProcessHub names the new child itself there, so its
 *         handler would wait out retention; see "HotSwap migration" in the
 *         protocol reference); then handover_put(State).
 *
 * A type without the callback gets the message in handle_info instead. */
#include "proc/proc_int.h"
#include "term/enc.h"

#include <stdlib.h>

#define HO_MOD "handover"

/* The pid under key in the keyword list at buf[opts], or 0. */
static int ho_opt_pid(const char *buf, int opts, const char *key,
                      erlang_pid *out) {
  int v;
  return phc__term_kw_get(buf, opts, key, &v) == 0 &&
         ei_decode_pid(buf, &v, out) == 0;
}

/* {process_hub, Tag, Cid} to `to`. */
static void ho_send_tag(phc_proc_t *p, const erlang_pid *to, const char *tag,
                        const char *cid, int cid_len) {
  ei_x_buff m;
  phc__x_new_with_version(&m);
  phc__x_tuple_header(&m, 3);
  phc__x_atom(&m, "process_hub");
  phc__x_atom(&m, tag);
  phc__x_append_buf(&m, cid, cid_len);
  phc_send(phc_proc_node(p), phc_self(p), to, m.buff, m.index);
  ei_x_free(&m);
}

/* send_handover_state: Receiver, Cid, Opts from buf[idx]. */
static void ho_send_state(phc_gs_t *gs, const phc_child_type_t *t, void *state,
                          const char *buf, int idx) {
  phc_proc_t *p = phc_gs_proc(gs);
  erlang_pid recv, rr;
  int has_recv = ei_decode_pid(buf, &idx, &recv) == 0, cid = idx;
  if (!has_recv && ei_skip_term(buf, &idx) < 0) return;
  if (ei_skip_term(buf, &idx) < 0) return;
  int cid_len = idx - cid, opts = idx;
  if (ei_skip_term(buf, &idx) < 0) return;
  if (has_recv) {
    ei_x_buff m;
    phc__x_new_with_version(&m);
    phc__x_tuple_header(&m, 4);
    phc__x_atom(&m, "process_hub");
    phc__x_atom(&m, "handover");
    phc__x_append_buf(&m, buf + cid, cid_len);
    phc__x_tuple_header(&m, 2);
    int rc = t->handover_get(gs, state, &m);
    if (rc == 0) {
      phc__x_append_buf(&m, buf + opts, idx - opts);
      phc_send(phc_proc_node(p), phc_self(p), &recv, m.buff, m.index);
    } else {
      PHC_LOG_W(HO_MOD, "%s: handover_get failed: %s", t->module,
                phc_strerror(rc));
    }
    ei_x_free(&m);
  }
  if (ho_opt_pid(buf, opts, "retention_receiver", &rr))
    ho_send_tag(p, &rr, "retention_handled", buf + cid, cid_len);
}

/* handover: Cid, {State, Opts} from buf[idx]. PHC_EDECODE for another
 * shape. */
static int ho_take_state(phc_gs_t *gs, const phc_child_type_t *t, void **state,
                         const char *buf, int idx) {
  phc_proc_t *p = phc_gs_proc(gs);
  int cid = idx, arity;
  if (ei_skip_term(buf, &idx) < 0) return PHC_EDECODE;
  int cid_len = idx - cid;
  if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 2)
    return PHC_EDECODE;
  int st = idx;
  if (ei_skip_term(buf, &idx) < 0) return PHC_EDECODE;
  int st_len = idx - st, opts = idx, v;
  erlang_pid to;
  if (phc__term_kw_get(buf, opts, "confirm_handover", &v) == 0 &&
      phc__term_atom_eq(buf, v, "true")) {
    int ok = ho_opt_pid(buf, opts, "confirmation_receiver", &to);
    if (!ok || phc_pid_eq(&to, phc_self(p)))
      ok = ho_opt_pid(buf, opts, "retention_receiver", &to);
    if (ok) ho_send_tag(p, &to, "handover_confirmed", buf + cid, cid_len);
  }
  int len;
  char *s = phc__term_with_version(buf + st, st_len, &len);
  int rc = t->handover_put(gs, state, s, len);
  free(s);
  if (rc)
    PHC_LOG_W(HO_MOD, "%s: handover_put refused the state: %s", t->module,
              phc_strerror(rc));
  return 0;
}

int phc__gs_handover_msg(phc_gs_t *gs, const phc_child_type_t *t, void **state,
                         const char *buf, int len) {
  int idx = 0, ver, arity;
  char tag[32];
  PHC__UNUSED(len);
  if (ei_decode_version(buf, &idx, &ver) < 0 ||
      ei_decode_tuple_header(buf, &idx, &arity) < 0 ||
      !phc__term_atom_eq(buf, idx, "process_hub") ||
      ei_skip_term(buf, &idx) < 0 ||
      phc__term_atom(buf, &idx, tag, sizeof tag) < 0)
    return 0;
  if (arity == 5 && !strcmp(tag, "send_handover_state") && t->handover_get) {
    ho_send_state(gs, t, *state, buf, idx);
    return 1;
  }
  if (arity == 4 && !strcmp(tag, "handover") && t->handover_put) {
    if (ho_take_state(gs, t, state, buf, idx))
      PHC_LOG_W(HO_MOD, "%s: handover message without {State, Opts} dropped",
                t->module);
    return 1;
  }
  return 0;
}
