/* dist_probe.c - dev-only driver for c_src/dist against real OTP nodes.
 * Build: make probe (writes build/dist_probe; SAN=1 make probe writes
 *   build-san/dist_probe).
 * Usage: dist_probe NAME COOKIE TICKTIME [PEER...]
 * Logs nodeup/nodedown and every message; connects to each PEER (by
 * sending it a REG_SEND to 'phc_probe' carrying the atom hello). */
#include <stdio.h>
#include <stdlib.h>

#include "dist/dist.h"

static void on_msg(void *ctx, const char *peer, const char *ctrl, int clen,
                   const char *payload, int plen) {
  (void)ctx;
  int idx = 1, arity = 0;
  long op = -1;
  ei_decode_tuple_header(ctrl, &idx, &arity);
  ei_decode_long(ctrl, &idx, &op);
  printf("MSG from %s op=%ld ctrl=%d payload=%d\n", peer, op, clen, plen);
  (void)payload;
  fflush(stdout);
}
static void on_up(void *ctx, const char *peer, uint64_t flags, int hidden) {
  (void)ctx;
  printf("NODEUP %s flags=0x%llx hidden=%d\n", peer, (unsigned long long)flags,
         hidden);
  fflush(stdout);
}
static void on_down(void *ctx, const char *peer, int was_up) {
  (void)ctx;
  printf("NODEDOWN %s was_up=%d\n", peer, was_up);
  fflush(stdout);
}

static phc__dist_t *g_d;
static uint32_t g_creation;
static int g_argc;
static char **g_argv;

/* Send hello (REG_SEND to phc_probe) to every PEER; with PHC_PROBE_GARBAGE
 * set, follow it with a malformed control term. */
static void send_all(uv_timer_t *t) {
  (void)t;
  for (int i = 4; i < g_argc; i++) {
    ei_x_buff ctrl, msg;
    erlang_pid from = {0};
    snprintf(from.node, sizeof from.node, "%s", g_argv[1]);
    from.num = 1;
    from.creation = g_creation;
    ei_x_new_with_version(&ctrl);
    ei_x_encode_tuple_header(&ctrl, 4);
    ei_x_encode_long(&ctrl, 6);
    ei_x_encode_pid(&ctrl, &from);
    ei_x_encode_atom(&ctrl, "");
    ei_x_encode_atom(&ctrl, "phc_probe");
    ei_x_new_with_version(&msg);
    ei_x_encode_atom(&msg, "hello");
    int rc = phc__dist_send(g_d, g_argv[i], ctrl.buff, ctrl.index, msg.buff,
                            msg.index);
    printf("SEND %s rc=%d\n", g_argv[i], rc);
    if (getenv("PHC_PROBE_GARBAGE")) {
      static const char junk[] = {(char)131, 104, 9, 97};
      rc = phc__dist_send(g_d, g_argv[i], junk, sizeof junk, NULL, 0);
      printf("GARBAGE %s rc=%d\n", g_argv[i], rc);
    }
    ei_x_free(&ctrl);
    ei_x_free(&msg);
  }
}

static void on_closed(void *arg) {
  (void)arg;
  printf("CLOSED\n");
}

static void stop_now(uv_timer_t *t) {
  uv_close((uv_handle_t *)t, NULL);
  phc__dist_close(g_d, on_closed, NULL);
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s NAME COOKIE TICKTIME [PEER...]\n", argv[0]);
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (getenv("PHC_DEBUG")) phc_log_set_level(PHC_LOG_DEBUG);
  uv_loop_t *loop = uv_default_loop();
  phc__dist_config_t cfg = {argv[1], argv[2], 0, (unsigned)atoi(argv[3]), 0};
  phc__dist_cb_t cb = {NULL, on_msg, on_up, on_down};
  phc__dist_t *d;
  if (phc__dist_new(&d, loop, &cfg, &cb) < 0) return 1;
  uint32_t creation;
  int rc = phc__dist_start(d, &creation);
  printf("START rc=%d creation=%u\n", rc, (unsigned)creation);
  if (rc < 0) return 1;
  g_d = d;
  g_creation = creation;
  g_argc = argc;
  g_argv = argv;
  const char *delay = getenv("PHC_PROBE_DELAY");
  uv_timer_t t;
  uv_timer_init(loop, &t);
  uv_timer_start(&t, send_all, delay ? (uint64_t)atoi(delay) : 0, 0);
  const char *stop = getenv("PHC_PROBE_STOP_MS");
  uv_timer_t st;
  if (stop) {
    uv_timer_init(loop, &st);
    uv_timer_start(&st, stop_now, (uint64_t)atoi(stop), 0);
  }
  uv_run(loop, UV_RUN_DEFAULT);
  if (!stop) return 0;
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  phc__dist_free(d);
  printf("LOOP DONE rc=%d\n", uv_loop_close(loop));
  return 0;
}
