/* embed.c - a C application that is its own Erlang node (no phc-node): it
 * links libphc, hosts a child type and runs the libuv loop itself.
 *
 *   examples/build/embed app@127.0.0.1 COOKIE
 *   {ok, G} = rpc:call('app@127.0.0.1', embed_greeter, start_link, [<<"hi">>]).
 *   <<"hi, joe">> = gen_server:call(G, {greet, <<"joe">>}).
 *
 * embed_greeter: init([Prefix]) with a binary; call {greet, Name} (a
 * binary) -> <<Prefix/binary, ", ", Name/binary>>; call count -> the number
 * of greetings so far. SIGTERM or SIGINT stops the node. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <phc.h>

typedef struct greeter_s {
  char prefix[256];
  long count;
} greeter_t;

static int g_init(phc_gs_t *gs, const char *args, int len, void **state) {
  int idx = 0, n;
  long blen;
  (void)gs, (void)len;
  greeter_t *g = calloc(1, sizeof *g);
  if (!g) return PHC_ENOMEM;
  int type, size;
  if (ei_decode_version(args, &idx, NULL) < 0 ||
      ei_decode_list_header(args, &idx, &n) < 0 || n != 1 ||
      ei_get_type(args, &idx, &type, &size) < 0 || type != ERL_BINARY_EXT ||
      size >= (int)sizeof g->prefix ||
      ei_decode_binary(args, &idx, g->prefix, &blen) < 0) {
    free(g);
    return PHC_EINVAL;
  }
  g->prefix[blen] = 0;
  *state = g;
  return 0;
}

static int g_call(phc_gs_t *gs, void *state, const char *req, int len,
                  const phc_from_t *from, ei_x_buff *reply) {
  greeter_t *g = state;
  int idx = 1, arity, type, size;
  char a[MAXATOMLEN], name[256], out[600];
  long nlen;
  (void)gs, (void)len, (void)from;
  if (ei_decode_atom(req, &idx, a) == 0 && !strcmp(a, "count"))
    return ei_x_encode_long(reply, g->count), PHC_GS_REPLY;
  idx = 1;
  if (ei_decode_tuple_header(req, &idx, &arity) < 0 || arity != 2 ||
      ei_decode_atom(req, &idx, a) < 0 || strcmp(a, "greet") ||
      ei_get_type(req, &idx, &type, &size) < 0 || type != ERL_BINARY_EXT ||
      size >= (int)sizeof name || ei_decode_binary(req, &idx, name, &nlen) < 0)
    return ei_x_encode_atom(reply, "badarg"), PHC_GS_REPLY;
  name[nlen] = 0;
  g->count++;
  int n = snprintf(out, sizeof out, "%s, %s", g->prefix, name);
  ei_x_encode_binary(reply, out, n);
  return PHC_GS_REPLY;
}

static void g_terminate(phc_gs_t *gs, void *state, const char *r, int l) {
  (void)gs, (void)r, (void)l;
  free(state);
}

static const phc_child_type_t greeter = {.module = "embed_greeter",
                                         .init = g_init,
                                         .handle_call = g_call,
                                         .terminate = g_terminate};

static void on_signal(uv_signal_t *h, int signum) {
  (void)signum;
  uv_close((uv_handle_t *)h, NULL);
  phc_node_stop(h->data);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: embed NAME@HOST [COOKIE]\n");
    return 2;
  }
  phc_node_config_t cfg = {.name = argv[1], .longnames = 1,
                           .cookie = argc > 2 ? argv[2] : NULL};
  uv_loop_t *loop = uv_default_loop();
  phc_node_t *n;
  int rc = phc_node_new(&n, loop, &cfg);
  if (rc == 0) rc = phc_child_type_register(n, &greeter); /* before start */
  if (rc == 0) rc = phc_node_start(n);
  if (rc) {
    fprintf(stderr, "embed: %s\n", phc_strerror(rc));
    return 1;
  }
  fprintf(stderr, "embed: %s up, phc %s\n", phc_node_name(n),
          PHC_VERSION_STRING);
  uv_signal_t sig;
  uv_signal_init(loop, &sig);
  sig.data = n;
  uv_signal_start(&sig, on_signal, SIGTERM);
  uv_run(loop, UV_RUN_DEFAULT);
  phc_node_free(n);
  uv_loop_close(loop);
  return 0;
}
