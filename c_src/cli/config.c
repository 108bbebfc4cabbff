/* config.c - phc-node's config file: Erlang terms (see cli.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common.h"
#include "hub/strategy/strategy.h"
#include "term/enc.h"
#include "term/parse.h"
#include "term/term.h"

typedef struct load_s {
  cli_t *cli;
  const char *path;
  char err[256];
} load_t;

static int config_bad(load_t *l, const char *what, const char *key) {
  snprintf(l->err, sizeof l->err, "%.120s%s%.120s", what, key ? ": " : "",
           key ? key : "");
  return PHC_EINVAL;
}

static char *own(cli_t *cli, size_t n) {
  if (cli->nowned == MAX_OWNED) return NULL;
  char *c = malloc(n ? n : 1);
  if (c) cli->owned[cli->nowned++] = c;
  return c;
}

static char *keep(cli_t *cli, const char *s, size_t n) {
  char *c = own(cli, n + 1);
  if (!c) return NULL;
  memcpy(c, s, n);
  c[n] = 0;
  return c;
}

static const char *atom_at(load_t *l, const char *b, int *idx) {
  char a[PHC__ATOM_MAX];
  if (phc__term_atom(b, idx, a, sizeof a) < 0) return NULL;
  return keep(l->cli, a, strlen(a));
}

static int uint_at(const char *b, int *idx, unsigned long max,
                   unsigned long *out) {
  long long v;
  if (ei_decode_longlong(b, idx, &v) < 0 || v < 0 ||
      (unsigned long long)v > max)
    return PHC_EINVAL;
  *out = (unsigned long)v;
  return 0;
}

/* {Key, {Module, Opts}} or {Key, Module}: appended to x as
 * {Key, {Module, Opts}} once the module and options are known good. */
static int hub_strategy(load_t *l, const char *key, const char *b, int *idx,
                        ei_x_buff *x) {
  phc__strat_kind_t kind = phc__strat_kind_of(key);
  char mod[PHC__ATOM_MAX];
  int arity = 0, oidx = -1, i = *idx;
  if (ei_decode_tuple_header(b, &i, &arity) == 0 && arity == 2) {
    if (phc__term_atom(b, &i, mod, sizeof mod) < 0)
      return config_bad(l, "strategy module must be an atom", key);
    oidx = i;
  } else if (i = *idx, phc__term_atom(b, &i, mod, sizeof mod) < 0) {
    return config_bad(l, "needs {Module, Options} or Module", key);
  }
  const phc__strat_base_t *t = phc__strat_find(kind, mod);
  if (!t) return config_bad(l, "unknown strategy", mod);
  if (oidx >= 0 && phc__strat_check(t, b, oidx))
    return config_bad(l, "bad strategy options (see above) for", mod);
  phc__x_tuple_header(x, 2);
  phc__x_atom(x, key);
  phc__x_tuple_header(x, 2);
  phc__x_atom(x, mod);
  if (oidx < 0) {
    phc__x_empty_list(x);
  } else {
    int e = oidx;
    if (ei_skip_term(b, &e) < 0) return config_bad(l, "bad term", key);
    phc__x_append_buf(x, b + oidx, e - oidx);
  }
  *idx = i;
  return ei_skip_term(b, idx) < 0 ? config_bad(l, "bad term", key) : 0;
}

static int hub_strategies_keep(load_t *l, phc_hub_config_t *h,
                               const ei_x_buff *x, int n) {
  ei_x_buff y;
  if (n == 0) return 0;
  phc__x_new_with_version(&y);
  phc__x_list_header(&y, n);
  phc__x_append_buf(&y, x->buff, x->index);
  phc__x_empty_list(&y);
  char *all = own(l->cli, (size_t)y.index);
  if (all) memcpy(all, y.buff, (size_t)y.index);
  h->strategies = all;
  h->strategies_len = y.index;
  ei_x_free(&y);
  return all ? 0 : config_bad(l, "too many settings", NULL);
}

static int hub_opt(load_t *l, phc_hub_config_t *h, const char *key,
                   const char *b, int *idx) {
  unsigned long v;
  if (!strcmp(key, "hubs_discover_interval") || !strcmp(key, "sync_interval")) {
    if (uint_at(b, idx, 86400000, &v) || v == 0)
      return config_bad(l, "needs a positive number of milliseconds", key);
    *(key[0] == 'h' ? &h->hubs_discover_interval : &h->sync_interval) =
        (unsigned)v;
  } else if (!strcmp(key, "ring_otp")) {
    if (uint_at(b, idx, 99, &v) || v < 20)
      return config_bad(l, "needs an OTP release", key);
    h->ring_otp = (int)v;
  } else if (!strcmp(key, "child_specs")) {
    int start = *idx, type, size;
    if (ei_get_type(b, idx, &type, &size) < 0 ||
        (type != ERL_LIST_EXT && type != ERL_NIL_EXT) ||
        ei_skip_term(b, idx) < 0)
      return config_bad(l, "child_specs must be a list of child spec maps",
                        NULL);
    size_t len = (size_t)(*idx - start);
    char *all = own(l->cli, len + 1);
    if (!all) return config_bad(l, "too many settings", NULL);
    all[0] = (char)131;
    memcpy(all + 1, b + start, len);
    h->child_specs = all;
    h->child_specs_len = (int)len + 1;
  } else {
    return config_bad(l, "unknown hub option", key);
  }
  return 0;
}

static int hub_opts(load_t *l, phc_hub_config_t *h, const char *b, int idx) {
  int n, arity, nstrat = 0, rc = 0;
  ei_x_buff x;
  if (ei_decode_list_header(b, &idx, &n) < 0)
    return config_bad(l, "hub options must be a list", NULL);
  phc__x_new(&x);
  for (int i = 0; i < n && !rc; i++) {
    char key[PHC__ATOM_MAX];
    if (ei_decode_tuple_header(b, &idx, &arity) < 0 || arity != 2 ||
        phc__term_atom(b, &idx, key, sizeof key) < 0)
      rc = config_bad(l, "hub options are {Key, Value} pairs", NULL);
    else if (phc__strat_kind_of(key) != PHC__STRAT_KINDS)
      rc = hub_strategy(l, key, b, &idx, &x), nstrat += !rc;
    else
      rc = hub_opt(l, h, key, b, &idx);
  }
  if (!rc) rc = hub_strategies_keep(l, h, &x, nstrat);
  ei_x_free(&x);
  return rc;
}

static int hub_entry(load_t *l, const char *b, int idx, int arity) {
  cli_t *cli = l->cli;
  if (cli->nhubs == MAX_HUBS) return config_bad(l, "too many hubs", NULL);
  phc_hub_config_t *h = &cli->hubs[cli->nhubs];
  memset(h, 0, sizeof *h);
  if (!(h->hub_id = atom_at(l, b, &idx)))
    return config_bad(l, "{hub, HubId} needs an atom", NULL);
  if (arity == 3 && hub_opts(l, h, b, idx)) return PHC_EINVAL;
  cli->nhubs++;
  return 0;
}

static int connect_list(load_t *l, const char *b, int idx) {
  int n;
  if (ei_decode_list_header(b, &idx, &n) < 0)
    return config_bad(l, "connect needs a list of node names", NULL);
  for (int i = 0; i < n; i++) {
    const char *node = atom_at(l, b, &idx);
    if (!node || !strchr(node, '@'))
      return config_bad(l, "connect: not a node name", node);
    if (l->cli->nconnect == MAX_CONNECT)
      return config_bad(l, "too many connect entries", NULL);
    l->cli->connect[l->cli->nconnect++] = node;
  }
  return 0;
}

/* {dsup, [Name]}: DistributedSupervisor instances to join. */
static int dsup_list(load_t *l, const char *b, int idx) {
  int n;
  if (ei_decode_list_header(b, &idx, &n) < 0)
    return config_bad(l, "dsup needs a list of atoms", NULL);
  for (int i = 0; i < n; i++) {
    const char *name = atom_at(l, b, &idx);
    if (!name || !*name || strlen(name) > 200)
      return config_bad(l, "dsup: not a supervisor name", name);
    if (l->cli->ndsup == MAX_DSUP)
      return config_bad(l, "too many dsup entries", NULL);
    l->cli->dsup[l->cli->ndsup++] = name;
  }
  return 0;
}

/* A path: a string (a list of byte codes), a binary or an atom; NULL if
 * it is none of them. */
static const char *path_at(load_t *l, const char *b, int *idx) {
  int type, size;
  long c, blen;
  if (ei_get_type(b, idx, &type, &size) < 0 || size > 4095) return NULL;
  if (type == ERL_ATOM_EXT || type == ERL_SMALL_ATOM_UTF8_EXT ||
      type == ERL_ATOM_UTF8_EXT || type == ERL_SMALL_ATOM_EXT)
    return atom_at(l, b, idx);
  char *p = own(l->cli, (size_t)size + 1);
  if (!p) return NULL;
  if (type == ERL_BINARY_EXT) {
    if (ei_decode_binary(b, idx, p, &blen) < 0) return NULL;
    p[blen] = 0;
    return p;
  }
  if (ei_decode_list_header(b, idx, &size) < 0) return NULL;
  for (int i = 0; i < size; i++) {
    if (ei_decode_long(b, idx, &c) < 0 || c < 1 || c > 255) return NULL;
    p[i] = (char)c;
  }
  p[size] = 0;
  return size && ei_skip_term(b, idx) == 0 ? p : NULL;
}

/* {load, [Path]}. */
static int load_list(load_t *l, const char *b, int idx) {
  int n;
  if (ei_decode_list_header(b, &idx, &n) < 0)
    return config_bad(l, "load needs a list of paths", NULL);
  for (int i = 0; i < n; i++) {
    const char *p = path_at(l, b, &idx);
    if (!p) return config_bad(l, "load: not a path", NULL);
    if (l->cli->nload == MAX_LOAD)
      return config_bad(l, "too many load entries", NULL);
    l->cli->load[l->cli->nload++] = p;
  }
  return 0;
}

/* The limits' entries and the distribution's carrier (proto_dist,
 * ssl_dist_optfile). */
static int entry_more(load_t *l, const char *key, const char *b, int idx) {
  unsigned long v;
  if (!strcmp(key, "proto_dist") || !strcmp(key, "ssl_dist_optfile")) {
    const char *s = key[0] == 'p' ? atom_at(l, b, &idx) : path_at(l, b, &idx);
    if (phc__cli_proto_set(l->cli, key, s, "config: "))
      return config_bad(l, "bad value", key);
    return 0;
  }
  if (phc__cli_limit_index(key) < 0) return config_bad(l, "unknown entry", key);
  if (uint_at(b, &idx, ~0ul, &v) || v == 0)
    return config_bad(l, "needs a positive integer", key);
  if (phc__cli_limit_set(l->cli, phc__cli_limit_index(key), v, "config: "))
    return config_bad(l, "is out of range", key);
  return 0;
}

static int entry(void *arg, const char *b, int len) {
  load_t *l = arg;
  cli_t *cli = l->cli;
  int idx = 1, arity;
  char key[PHC__ATOM_MAX];
  unsigned long v;
  (void)len;
  if (ei_decode_tuple_header(b, &idx, &arity) < 0 || arity < 2 ||
      phc__term_atom(b, &idx, key, sizeof key) < 0)
    return config_bad(l, "each entry is a {Key, Value} tuple", NULL);
  if (!strcmp(key, "hub") && (arity == 2 || arity == 3))
    return hub_entry(l, b, idx, arity);
  if (arity != 2) return config_bad(l, "unknown entry", key);
  if (!strcmp(key, "name") || !strcmp(key, "node") || !strcmp(key, "sname")) {
    if (!(cli->cfg.name = atom_at(l, b, &idx)))
      return config_bad(l, "needs an atom", key);
    cli->cfg.longnames = strcmp(key, "sname") != 0;
  } else if (!strcmp(key, "cookie")) {
    if (!(cli->cfg.cookie = atom_at(l, b, &idx)))
      return config_bad(l, "needs an atom", key);
  } else if (!strcmp(key, "connect")) {
    return connect_list(l, b, idx);
  } else if (!strcmp(key, "load")) {
    return load_list(l, b, idx);
  } else if (!strcmp(key, "dsup")) {
    return dsup_list(l, b, idx);
  } else if (!strcmp(key, "hidden")) {
    char a[8];
    if (phc__term_atom(b, &idx, a, sizeof a) < 0 ||
        (strcmp(a, "true") && strcmp(a, "false")))
      return config_bad(l, "needs true or false", key);
    cli->cfg.hidden = !strcmp(a, "true");
  } else if (!strcmp(key, "net_ticktime")) {
    if (uint_at(b, &idx, 86400, &v) || v == 0)
      return config_bad(l, "needs a positive number of seconds", key);
    cli->cfg.net_ticktime = (unsigned)v;
  } else if (!strcmp(key, "port")) {
    if (uint_at(b, &idx, 65535, &v))
      return config_bad(l, "needs a port number", key);
    cli->cfg.port = (unsigned short)v;
  } else if (!strcmp(key, "loglevel")) {
    char a[16];
    if (phc__term_atom(b, &idx, a, sizeof a) < 0 ||
        (cli->log_level = phc_log_parse_level(a)) < 0)
      return config_bad(l, "needs error, warn, info or debug", key);
  } else if (!strcmp(key, "ring_otp")) {
    if (uint_at(b, &idx, 99, &v) || v < 20)
      return config_bad(l, "needs an OTP release", key);
    cli->ring_otp = (int)v;
  } else {
    return entry_more(l, key, b, idx);
  }
  return 0;
}

int phc__cli_config_load(cli_t *cli, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "phc-node: cannot read config file %s\n", path);
    return PHC_EIO;
  }
  static char text[1 << 20];
  size_t n = fread(text, 1, sizeof text, f);
  int too_big = !feof(f);
  fclose(f);
  if (too_big) {
    fprintf(stderr, "phc-node: %s: larger than 1 MiB\n", path);
    return PHC_ELIMIT;
  }
  load_t l = {.cli = cli, .path = path};
  int rc = phc__parse_terms(text, n, entry, &l, l.err, sizeof l.err);
  if (rc) fprintf(stderr, "phc-node: %s: %s\n", path, l.err);
  return rc;
}

void phc__cli_free(cli_t *cli) {
  for (int i = 0; i < cli->nowned; i++)
    free(cli->owned[i]);
  cli->nowned = 0;
}
