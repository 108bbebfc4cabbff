/* limits.c - the limits' flags and config keys (phc_limits_t in phc.h):
 * -max_packet BYTES, -max_fragmented BYTES, -max_handshakes N,
 * -handshake_timeout MS, -max_out_queue BYTES, -mailbox_warn N,
 * -max_processes N (processes alive at once, like the BEAM's +P), and the
 * same names as config entries ({max_packet, 1048576}.). Each needs a
 * positive integer; 0 or a missing one keeps the default. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

typedef struct limit_s {
  const char *name;
  const char *unit;
  unsigned long long max;
} limit_t;

static const limit_t limits[] = {
    {"max_packet", "bytes", 1ull << 32},
    {"max_fragmented", "bytes", 1ull << 40},
    {"max_handshakes", "connections", 1000000},
    {"handshake_timeout", "milliseconds", 86400000},
    {"max_out_queue", "bytes", 1ull << 40},
    {"mailbox_warn", "messages", 1ull << 40},
    {"max_processes", "processes", 134217727},
};

static void limit_set(phc_limits_t *l, int k, unsigned long long v) {
  switch (k) {
  case 0: l->max_packet = (size_t)v; break;
  case 1: l->max_fragmented = (size_t)v; break;
  case 2: l->max_handshakes = (unsigned)v; break;
  case 3: l->handshake_ms = (unsigned)v; break;
  case 4: l->max_out_queue = (size_t)v; break;
  case 5: l->mailbox_warn = (size_t)v; break;
  default: l->max_processes = (size_t)v; break;
  }
}

int phc__cli_limit_index(const char *name) {
  for (int k = 0; k < (int)(sizeof limits / sizeof limits[0]); k++)
    if (!strcmp(name, limits[k].name)) return k;
  return PHC_EUNDEF;
}

int phc__cli_limit_set(cli_t *cli, int k, unsigned long long v,
                       const char *from) {
  if (v == 0 || v > limits[k].max) {
    fprintf(stderr,
            "phc-node: %s%s needs a positive number of %s (at most %llu)\n",
            from, limits[k].name, limits[k].unit, limits[k].max);
    return PHC_EINVAL;
  }
  limit_set(&cli->cfg.limits, k, v);
  return 0;
}

int phc__cli_limit_flag(cli_t *cli, const char *flag, const char *val) {
  if (flag[0] != '-') return PHC_EUNDEF;
  int k = phc__cli_limit_index(flag + 1);
  if (k < 0) return k;
  char *end = NULL;
  unsigned long long v = val && *val ? strtoull(val, &end, 10) : 0;
  if (!val || !*val || *end || val[0] == '-') v = 0;
  return phc__cli_limit_set(cli, k, v, "-");
}
