/* sampler.c - a child that samples on a timer and publishes the readings to
 * subscribers, as a phc-node plugin.
 *
 *   phc-node -name s@127.0.0.1 -load examples/build/phc_sampler.so
 *   {ok, S} = rpc:call('s@127.0.0.1', phc_sampler, start_link, [200]).
 *   ok = gen_server:call(S, {subscribe, self()}).
 *   receive {reading, S, Seq, Load} -> ok end.
 *
 * init([PeriodMs]) arms a phc_send_after timer that sends the child `tick`;
 * each tick reads the 1-minute load average (/proc/loadavg) and sends
 * {reading, Self, Seq, Load} to every subscriber, then re-arms. Calls:
 * {subscribe, Pid} -> ok (the child monitors Pid and drops it when it
 * dies); last -> {Seq, Load}; subscribers -> N. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <phc.h>

PHC_PLUGIN_DECLARE("phc_sampler");

#define MAX_SUBS 64

typedef struct sampler_s {
  phc_gs_t *gs;
  unsigned period;
  long seq;
  double last;
  phc_pid_t subs[MAX_SUBS];
  int nsubs;
} sampler_t;

static int arm(sampler_t *s) {
  ei_x_buff x;
  phc_ref_t tref;
  phc_proc_t *p = phc_gs_proc(s->gs);
  ei_x_new_with_version(&x);
  ei_x_encode_atom(&x, "tick");
  int rc = phc_send_after(phc_proc_node(p), s->period, phc_self(p), x.buff,
                          x.index, &tref);
  ei_x_free(&x);
  return rc;
}

static int s_init(phc_gs_t *gs, const char *args, int len, void **state) {
  int idx = 0, type, size;
  long period = 0;
  char str[2];
  (void)len;
  ei_decode_version(args, &idx, NULL);
  if (ei_get_type(args, &idx, &type, &size) < 0) return PHC_EINVAL;
  if (type == ERL_STRING_EXT && size == 1 &&
      ei_decode_string(args, &idx, str) == 0) /* [N] with N < 256 */
    period = (unsigned char)str[0];
  else if (ei_decode_list_header(args, &idx, &size) < 0 || size != 1 ||
           ei_decode_long(args, &idx, &period) < 0)
    return PHC_EINVAL;
  if (period < 10) return PHC_EINVAL;
  sampler_t *s = calloc(1, sizeof *s);
  if (!s) return PHC_ENOMEM;
  s->gs = gs;
  s->period = (unsigned)period;
  *state = s;
  return arm(s);
}

static void publish(sampler_t *s) {
  FILE *f = fopen("/proc/loadavg", "r");
  if (!f || fscanf(f, "%lf", &s->last) != 1) s->last = -1.0;
  if (f) fclose(f);
  s->seq++;
  phc_proc_t *p = phc_gs_proc(s->gs);
  ei_x_buff x;
  ei_x_new_with_version(&x);
  ei_x_encode_tuple_header(&x, 4);
  ei_x_encode_atom(&x, "reading");
  ei_x_encode_pid(&x, phc_self(p));
  ei_x_encode_long(&x, s->seq);
  ei_x_encode_double(&x, s->last);
  for (int i = 0; i < s->nsubs; i++)
    phc_send(phc_proc_node(p), phc_self(p), &s->subs[i], x.buff, x.index);
  ei_x_free(&x);
}

static void drop_sub(sampler_t *s, const phc_pid_t *pid) {
  for (int i = 0; i < s->nsubs; i++)
    if (phc_pid_eq(&s->subs[i], pid)) s->subs[i] = s->subs[--s->nsubs];
}

/* tick, or {'DOWN', Ref, process, Pid, Reason} from a subscriber. */
static int s_info(phc_gs_t *gs, void *state, const char *msg, int len) {
  sampler_t *s = state;
  int idx = 1, arity;
  char a[MAXATOMLEN];
  phc_pid_t pid;
  (void)gs, (void)len;
  if (ei_decode_atom(msg, &idx, a) == 0 && !strcmp(a, "tick")) {
    publish(s);
    return arm(s) ? PHC_GS_ERROR : PHC_GS_NOREPLY;
  }
  idx = 1;
  if (ei_decode_tuple_header(msg, &idx, &arity) == 0 && arity == 5 &&
      ei_decode_atom(msg, &idx, a) == 0 && !strcmp(a, "DOWN") &&
      ei_skip_term(msg, &idx) == 0 && ei_skip_term(msg, &idx) == 0 &&
      ei_decode_pid(msg, &idx, &pid) == 0)
    drop_sub(s, &pid);
  return PHC_GS_NOREPLY;
}

static int s_call(phc_gs_t *gs, void *state, const char *req, int len,
                  const phc_from_t *from, ei_x_buff *reply) {
  sampler_t *s = state;
  int idx = 1, arity;
  char a[MAXATOMLEN];
  phc_pid_t pid;
  phc_ref_t mref;
  (void)len, (void)from;
  if (ei_decode_atom(req, &idx, a) == 0 && !strcmp(a, "last")) {
    ei_x_encode_tuple_header(reply, 2);
    ei_x_encode_long(reply, s->seq);
    ei_x_encode_double(reply, s->last);
    return PHC_GS_REPLY;
  }
  if (!strcmp(a, "subscribers")) return ei_x_encode_long(reply, s->nsubs);
  idx = 1;
  if (ei_decode_tuple_header(req, &idx, &arity) < 0 || arity != 2 ||
      ei_decode_atom(req, &idx, a) < 0 || strcmp(a, "subscribe") ||
      ei_decode_pid(req, &idx, &pid) < 0 || s->nsubs == MAX_SUBS)
    return ei_x_encode_atom(reply, "badarg"), PHC_GS_REPLY;
  if (phc_monitor(phc_gs_proc(gs), &pid, &mref) == 0) s->subs[s->nsubs++] = pid;
  ei_x_encode_atom(reply, "ok");
  return PHC_GS_REPLY;
}

static void s_terminate(phc_gs_t *gs, void *state, const char *r, int l) {
  (void)gs, (void)r, (void)l;
  free(state);
}

static const phc_child_type_t sampler_type = {.module = "phc_sampler",
                                              .init = s_init,
                                              .handle_call = s_call,
                                              .handle_info = s_info,
                                              .terminate = s_terminate};

int phc_plugin_init(phc_node_t *n) {
  return phc_child_type_register(n, &sampler_type);
}
