/* main.c - phc-node, the command line front of a phc node.
 *
 * Flags read like erl's: -name/-sname, -setcookie, -connect NODE
 * (repeatable), -hidden, -kernel net_ticktime N, plus -port and
 * -loglevel. SIGTERM and SIGINT stop the node gracefully. A bad flag prints
 * one clear line and exits with status 2.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char usage[] =
    "usage: phc-node (-name NAME | -sname NAME) [options]\n"
    "  -name NAME             long node name (NAME or NAME@HOST; host "
    "defaults to 127.0.0.1)\n"
    "  -sname NAME            short node name (NAME or NAME@HOST)\n"
    "  -setcookie COOKIE      cookie (default: ~/.erlang.cookie, as erl)\n"
    "  -connect NODE          connect to NODE at start (repeatable)\n"
    "  -hidden                connect as a hidden node\n"
    "  -kernel net_ticktime N net tick time in seconds (default 60)\n"
    "  -port N                listen port (default: any free port)\n"
    "  -loglevel LEVEL        error | warn | info | debug (default info)\n"
    "  -config FILE           read settings from FILE (Erlang terms, see "
    "README); later flags override it\n"
    "  -load PATH             load a plugin (a shared object with "
    "phc_plugin_init; repeatable)\n"
    "  -hub HUB_ID            join (or start) the ProcessHub hub HUB_ID "
    "(repeatable)\n"
    "  -dsup NAME             be a member of the Elixir DistributedSupervisor "
    "NAME (repeatable)\n"
    "  -hubs_discover_interval MS  cluster_join_event period (default 10000)\n"
    "  -sync_interval MS      PubSub sync period (default 15000)\n"
    "  -ring_otp 25|26        atom encoding the ring hashes with (default: "
    "follow the peers)\n"
    "  -max_packet BYTES, -max_fragmented BYTES, -max_handshakes N,\n"
    "  -handshake_timeout MS, -max_out_queue BYTES, -mailbox_warn N,\n"
    "  -max_processes N\n"
    "                         limits a peer cannot exceed (README, Limits)\n"
    "  -proto_dist inet_tls   TLS distribution, as OTP's inet_tls\n"
    "  -ssl_dist_optfile FILE its options, in the format erl reads\n"
    "  -h, --help             this text\n";

/* parse_args and the flag parsers below return CLI_GO_ON to go on, or an
 * exit status (0 after --help, 2 for a bad flag); a flag parser returns
 * CLI_NOT_MINE for a flag it does not know. */
#define CLI_GO_ON (-1)
#define CLI_NOT_MINE (-2)

static int cli_bad(const char *fmt, const char *arg) {
  fprintf(stderr, "phc-node: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\nrun 'phc-node --help' for usage\n");
  return 2;
}

static int cli_parse_uint(const char *s, unsigned long max,
                          unsigned long *out) {
  char *end;
  if (!s || !*s) return PHC_EINVAL;
  unsigned long v = strtoul(s, &end, 10);
  if (*end || v > max) return PHC_EINVAL;
  *out = v;
  return 0;
}

static const char *cli_need(int argc, char **argv, int *i) {
  return *i + 1 < argc ? argv[++*i] : NULL;
}

/* The node's flags: -name/-sname, -setcookie, -connect, -hidden, -kernel,
 * -port, -loglevel. */
static int cli_node_flag(int argc, char **argv, int *i, cli_t *cli) {
  const char *a = argv[*i], *val;
  unsigned long v;
  if (!strcmp(a, "-name") || !strcmp(a, "-sname")) {
    if (!(val = cli_need(argc, argv, i)))
      return cli_bad("%s needs a node name", a);
    if (cli->cfg.name) return cli_bad("%s: the node name is already set", a);
    cli->cfg.name = val;
    cli->cfg.longnames = !strcmp(a, "-name");
  } else if (!strcmp(a, "-setcookie")) {
    if (!(val = cli_need(argc, argv, i)) || !*val)
      return cli_bad("%s needs a cookie", a);
    cli->cfg.cookie = val;
  } else if (!strcmp(a, "-connect")) {
    if (!(val = cli_need(argc, argv, i)) || !strchr(val, '@'))
      return cli_bad("%s needs a node name like a@127.0.0.1", a);
    if (cli->nconnect == MAX_CONNECT) return cli_bad("%s: too many", a);
    cli->connect[cli->nconnect++] = val;
  } else if (!strcmp(a, "-hidden")) {
    cli->cfg.hidden = 1;
  } else if (!strcmp(a, "-kernel")) {
    const char *key = cli_need(argc, argv, i);
    if (!key || strcmp(key, "net_ticktime") != 0)
      return cli_bad("-kernel supports only net_ticktime, not '%s'",
                     key ? key : "");
    if (cli_parse_uint(cli_need(argc, argv, i), 86400, &v) || v == 0)
      return cli_bad("%s",
                     "-kernel net_ticktime needs a positive number of seconds");
    cli->cfg.net_ticktime = (unsigned)v;
  } else if (!strcmp(a, "-port")) {
    if (cli_parse_uint(cli_need(argc, argv, i), 65535, &v))
      return cli_bad("%s needs a port number 0..65535", a);
    cli->cfg.port = (unsigned short)v;
  } else if (!strcmp(a, "-loglevel")) {
    val = cli_need(argc, argv, i);
    if ((cli->log_level = phc_log_parse_level(val)) < 0)
      return cli_bad("-loglevel must be error, warn, info or debug, not '%s'",
                     val ? val : "");
  } else {
    return CLI_NOT_MINE;
  }
  return CLI_GO_ON;
}

/* -config and the hubs' flags: -hub, -hubs_discover_interval,
 * -sync_interval, -ring_otp. */
static int cli_hub_flag(int argc, char **argv, int *i, cli_t *cli) {
  const char *a = argv[*i], *val;
  unsigned long v;
  if (!strcmp(a, "-config")) {
    if (!(val = cli_need(argc, argv, i)))
      return cli_bad("%s needs a file name", a);
    if (phc__cli_config_load(cli, val) != 0) return 2;
  } else if (!strcmp(a, "-load")) {
    if (!(val = cli_need(argc, argv, i)) || !*val)
      return cli_bad("%s needs the path of a plugin (a shared object)", a);
    if (cli->nload == MAX_LOAD) return cli_bad("%s: too many plugins", a);
    cli->load[cli->nload++] = val;
  } else if (!strcmp(a, "-dsup")) {
    if (!(val = cli_need(argc, argv, i)) || !*val || strlen(val) > 200)
      return cli_bad("%s needs a DistributedSupervisor name (an atom of at "
                     "most 200 bytes)",
                     a);
    if (cli->ndsup == MAX_DSUP) return cli_bad("%s: too many supervisors", a);
    cli->dsup[cli->ndsup++] = val;
  } else if (!strcmp(a, "-hub")) {
    if (!(val = cli_need(argc, argv, i)) || !*val || strlen(val) > 200)
      return cli_bad("%s needs a hub id (an atom name of at most 200 bytes)",
                     a);
    if (cli->nhubs == MAX_HUBS) return cli_bad("%s: too many hubs", a);
    memset(&cli->hubs[cli->nhubs], 0, sizeof cli->hubs[0]);
    cli->hubs[cli->nhubs++].hub_id = val;
  } else if (!strcmp(a, "-hubs_discover_interval") ||
             !strcmp(a, "-sync_interval")) {
    if (cli_parse_uint(cli_need(argc, argv, i), 86400000, &v) || v == 0)
      return cli_bad("%s needs a positive number of milliseconds", a);
    *(a[1] == 'h' ? &cli->discover_ms : &cli->sync_ms) = (unsigned)v;
  } else if (!strcmp(a, "-ring_otp")) {
    if (cli_parse_uint(cli_need(argc, argv, i), 99, &v) || v < 20)
      return cli_bad("%s", "-ring_otp needs an OTP release such as 25 or 26");
    cli->ring_otp = (int)v;
  } else {
    return CLI_NOT_MINE;
  }
  return CLI_GO_ON;
}

static int cli_parse_args(int argc, char **argv, cli_t *cli) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      fputs(usage, stdout);
      return 0;
    }
    int st = cli_node_flag(argc, argv, &i, cli);
    if (st == CLI_NOT_MINE) st = cli_hub_flag(argc, argv, &i, cli);
    if (st == CLI_NOT_MINE && phc__cli_limit_index(a + 1) >= 0)
      st =
          phc__cli_limit_flag(cli, a, cli_need(argc, argv, &i)) ? 2 : CLI_GO_ON;
    if (st == CLI_NOT_MINE &&
        (!strcmp(a, "-proto_dist") || !strcmp(a, "-ssl_dist_optfile")))
      st = phc__cli_proto_set(cli, a + 1, cli_need(argc, argv, &i), "-")
               ? 2
               : CLI_GO_ON;
    if (st == CLI_NOT_MINE) return cli_bad("unknown flag '%s'", a);
    if (st != CLI_GO_ON) return st;
  }
  if (!cli->cfg.name)
    return cli_bad("%s", "a node name is required (-name or -sname)");
  return phc__cli_proto_check(cli) ? 2 : CLI_GO_ON;
}

#define PHC__CLI_LINGER_MS 1000

typedef struct app_s {
  phc_node_t *node;
  cli_t *cli;
  uv_signal_t sigterm, sigint;
  uv_timer_t linger;
} app_t;

static void on_linger(uv_timer_t *t) {
  app_t *app = t->data;
  uv_close((uv_handle_t *)&app->linger, NULL);
  phc_node_stop(app->node);
}

/* Leave every hub first (the peers restart our children), then stop the
 * node a second later, as a BEAM member's System.stop does: closing sooner
 * put the nodedown in the middle of the peers' redistribution, where
 * ProcessHub's own registry race hit more often (README, Limits). */
static void on_signal(uv_signal_t *h, int signum) {
  app_t *app = h->data;
  fprintf(stderr, "phc-node: signal %d, stopping\n", signum);
  uv_close((uv_handle_t *)&app->sigterm, NULL);
  uv_close((uv_handle_t *)&app->sigint, NULL);
  for (int i = 0; i < app->cli->nhubs; i++)
    phc_hub_stop(phc_hub_find(app->node, app->cli->hubs[i].hub_id));
  uv_timer_init(phc_node_loop(app->node), &app->linger);
  app->linger.data = app;
  uv_timer_start(&app->linger, on_linger, app->cli->nhubs ? PHC__CLI_LINGER_MS : 0, 0);
}

static int start_hubs(app_t *app) {
  cli_t *cli = app->cli;
  for (int i = 0; i < cli->nhubs; i++) {
    phc_hub_config_t *hc = &cli->hubs[i];
    if (cli->discover_ms) hc->hubs_discover_interval = cli->discover_ms;
    if (cli->sync_ms) hc->sync_interval = cli->sync_ms;
    if (cli->ring_otp) hc->ring_otp = cli->ring_otp;
    phc_hub_t *hub;
    int rc = phc_hub_start(app->node, hc, &hub);
    if (rc == 0 && phc__cli_plugins_hub(hub) != 0) return 2;
    if (rc == 0 && hc->child_specs)
      rc = phc_hub_start_children(hub, hc->child_specs, hc->child_specs_len);
    if (rc) {
      fprintf(stderr, "phc-node: cannot start hub %s: %s\n", hc->hub_id,
              phc_strerror(rc));
      return rc;
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  cli_t cli = {.log_level = PHC_LOG_INFO};
  int st = cli_parse_args(argc, argv, &cli);
  if (st != CLI_GO_ON) return st;
  phc_log_set_level(cli.log_level);
  signal(SIGPIPE, SIG_IGN);

  uv_loop_t *loop = uv_default_loop();
  app_t app = {.cli = &cli};
  int rc = phc_node_new(&app.node, loop, &cli.cfg);
  if (rc) {
    fprintf(stderr, "phc-node: cannot create node: %s\n", phc_strerror(rc));
    return 1;
  }
  if ((st = phc__cli_plugins_load(&cli, app.node)) != 0) {
    phc_node_free(app.node);
    phc__cli_plugins_close();
    return st;
  }
  if ((rc = phc_node_start(app.node)) != 0) {
    fprintf(stderr, "phc-node: cannot start %s: %s\n", phc_node_name(app.node),
            phc_strerror(rc));
    return 1;
  }
  for (int i = 0; i < cli.nconnect; i++)
    if (phc_node_connect(app.node, cli.connect[i]) != 0)
      fprintf(stderr, "phc-node: cannot connect to %s\n", cli.connect[i]);
  if ((st = start_hubs(&app)) != 0) return st == 2 ? 2 : 1;
  for (int i = 0; i < cli.ndsup; i++)
    if ((rc = phc_dsup_start(app.node, cli.dsup[i])) != 0) {
      fprintf(stderr, "phc-node: cannot join DistributedSupervisor %s: %s\n",
              cli.dsup[i], phc_strerror(rc));
      return 1;
    }

  uv_signal_init(loop, &app.sigterm);
  uv_signal_init(loop, &app.sigint);
  app.sigterm.data = app.sigint.data = &app;
  uv_signal_start(&app.sigterm, on_signal, SIGTERM);
  uv_signal_start(&app.sigint, on_signal, SIGINT);

  uv_run(loop, UV_RUN_DEFAULT);
  phc_node_free(app.node);
  phc__cli_plugins_close();
  phc__cli_free(&cli);
  uv_loop_close(loop);
  return 0;
}
