/* proto.c - the distribution's carrier: -proto_dist inet_tcp|inet_tls and
 * -ssl_dist_optfile FILE, and the same as config keys ({proto_dist,
 * inet_tls}. {ssl_dist_optfile, "FILE"}.). Under inet_tls the optfile is
 * read and its certificates loaded before the node starts, so a bad one is
 * one line naming it and exit status 2. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "dist/tls.h"

int phc__cli_proto_set(cli_t *cli, const char *key, const char *val,
                       const char *from) {
  if (!strcmp(key, "proto_dist")) {
    if (!val || (strcmp(val, "inet_tcp") && strcmp(val, "inet_tls"))) {
      fprintf(stderr,
              "phc-node: %sproto_dist must be inet_tcp or inet_tls, not "
              "'%s'\n",
              from, val ? val : "");
      return PHC_EINVAL;
    }
    cli->tls = !strcmp(val, "inet_tls");
    return 0;
  }
  if (!strcmp(key, "ssl_dist_optfile")) {
    if (!val || !*val) {
      fprintf(stderr, "phc-node: %sssl_dist_optfile needs a file name\n", from);
      return PHC_EINVAL;
    }
    cli->optfile = val;
    return 0;
  }
  return PHC_EUNDEF;
}

int phc__cli_proto_check(cli_t *cli) {
  if (!cli->tls) return 0;
  if (!cli->optfile) {
    fprintf(stderr, "phc-node: -proto_dist inet_tls needs -ssl_dist_optfile "
                    "FILE\n");
    return 2;
  }
  phc__tls_opts_t o;
  phc__tls_ctx_t *ctx = NULL;
  char err[512];
  if (phc__tls_opts_load(&o, cli->optfile, err, sizeof err) == 0 &&
      phc__tls_ctx_new(&ctx, &o, err, sizeof err) == 0) {
    phc__tls_ctx_free(ctx);
    cli->cfg.ssl_dist_optfile = cli->optfile;
    return 0;
  }
  fprintf(stderr, "phc-node: %s\n", err);
  return 2;
}
