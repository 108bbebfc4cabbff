/* fuzz_tlsopts.c - the ssl_dist_optfile reader (dist/tls_opts.c over
 * term/parse.c), as phc-node -ssl_dist_optfile FILE runs it. The input is
 * the file's text. Whatever it holds, the reader returns 0 or an error with
 * one line in err, and every path it keeps is NUL-terminated. */
#include <string.h>

#include "fuzz.h"

#include "dist/tls.h"

static void tlsopts_check_side(const phc__tls_side_t *s) {
  if (!memchr(s->certfile, 0, sizeof s->certfile) ||
      !memchr(s->keyfile, 0, sizeof s->keyfile) ||
      !memchr(s->cacertfile, 0, sizeof s->cacertfile) ||
      !memchr(s->password, 0, sizeof s->password) ||
      !memchr(s->sni, 0, sizeof s->sni))
    __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int quiet;
  if (!quiet) fz_quiet(), quiet = 1;
  phc__tls_opts_t o;
  char err[512];
  err[0] = 0;
  int rc = phc__tls_opts_parse(&o, (const char *)data, size, err, sizeof err);
  if (rc == 0) {
    tlsopts_check_side(&o.server);
    tlsopts_check_side(&o.client);
  } else if (!memchr(err, 0, sizeof err) || !err[0]) {
    __builtin_trap(); /* a refusal always says why */
  }
  return 0;
}
