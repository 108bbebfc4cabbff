/* cli.h - phc-node's settings, from flags and from a config file.
 *
 * The settings are a phc_node_config_t, the peers to connect to, and one
 * phc_hub_config_t per hub. Flags are parsed in main.c; a config file
 * (-config FILE) holds the same settings as Erlang terms, read like
 * file:consult/1, so BEAM users read and write it like sys.config:
 *
 *   {name, 'phc@127.0.0.1'}.          % or {sname, phc}
 *   {cookie, mycookie}.
 *   {connect, ['node1@127.0.0.1']}.
 *   {load, ["/path/to/plugin.so"]}.   % plugins, as -load
 *   {hidden, false}.  {net_ticktime, 60}.  {port, 0}.  {loglevel, info}.
 *   {proto_dist, inet_tls}.  {ssl_dist_optfile, "/path/to/optfile"}.
 *   {hub, my_hub, [{hubs_discover_interval, 10000}, {sync_interval, 15000},
 *                  {ring_otp, 25},
 *                  {child_specs, [#{id => <<"s1">>,
 *                                   start => {phc_counter, start_link,
 * [0]}}]}]}.
 *
 * Strings taken from the file are kept in `owned` and freed with the cli.
 */
#ifndef PHC_CLI_CLI_H
#define PHC_CLI_CLI_H

#include "phc.h"

#define MAX_CONNECT 64
#define MAX_HUBS 16
#define MAX_OWNED 256
#define MAX_LOAD 32
#define MAX_DSUP 16

typedef struct cli_s {
  phc_node_config_t cfg;
  const char *connect[MAX_CONNECT];
  int nconnect;
  phc_hub_config_t hubs[MAX_HUBS];
  int nhubs;
  const char *load[MAX_LOAD]; /* plugins (-load PATH, {load, [Path]}) */
  int nload;
  const char *dsup[MAX_DSUP]; /* -dsup NAME, {dsup, [Name]} */
  int ndsup;
  unsigned discover_ms, sync_ms;
  int ring_otp;
  int log_level;
  int tls;             /* -proto_dist inet_tls */
  const char *optfile; /* -ssl_dist_optfile */
  char *owned[MAX_OWNED];
  int nowned;
} cli_t;

/* Load a config file into cli. On error prints one line naming the file
 * and the problem and returns a negative error. */
int phc__cli_config_load(cli_t *cli, const char *path);
void phc__cli_free(cli_t *cli);

/* plugin.c: dlopen each cli->load[i] and run its phc_plugin_init (before
 * phc_node_start); after each hub starts, every phc_plugin_hub_init. Both
 * return 0, or 2 after printing one line naming the plugin and the cause.
 * Close the handles after phc_node_free. */
int phc__cli_plugins_load(cli_t *cli, phc_node_t *n);
int phc__cli_plugins_hub(phc_hub_t *hub);
void phc__cli_plugins_close(void);

/* The limits (limits.c): the index of a limit's name ("max_packet"), or
 * PHC_EUNDEF; set one (v > 0; else one line on stderr naming it, with from
 * before the name, and PHC_EINVAL); parse "-NAME VALUE" (PHC_EUNDEF when
 * flag is not a limit's). */
int phc__cli_limit_index(const char *name);
int phc__cli_limit_set(cli_t *cli, int k, unsigned long long v,
                       const char *from);
int phc__cli_limit_flag(cli_t *cli, const char *flag, const char *val);

/* proto.c: -proto_dist / -ssl_dist_optfile and their config keys. Set
 * one by name (PHC_EUNDEF for another name; PHC_EINVAL after one line on
 * stderr, with from before the name); after all flags, check the pair and
 * the optfile (0, or 2 after one line naming the problem). */
int phc__cli_proto_set(cli_t *cli, const char *key, const char *val,
                       const char *from);
int phc__cli_proto_check(cli_t *cli);

#endif /* PHC_CLI_CLI_H */
