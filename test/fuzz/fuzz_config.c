/* fuzz_config.c - the config parser: term/parse.c's Erlang-text reader
 * under cli/config.c's loader, as phc-node -config FILE runs it. The input
 * is the file's text, written to a private temporary file once per input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

#include "cli/cli.h"

static char cfg_path[256];

static void cfg_cleanup(void) {
  if (cfg_path[0]) unlink(cfg_path);
}

static void cfg_init(void) {
  const char *dir = getenv("TMPDIR");
  snprintf(cfg_path, sizeof cfg_path, "%s/phc-fuzz-config-XXXXXX",
           dir && *dir ? dir : "/tmp");
  int fd = mkstemp(cfg_path);
  if (fd < 0) abort();
  close(fd);
  atexit(cfg_cleanup);
  fz_quiet();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!cfg_path[0]) cfg_init();
  FILE *f = fopen(cfg_path, "wb");
  if (!f) abort();
  if (size && fwrite(data, 1, size, f) != size) abort();
  fclose(f);
  cli_t cli;
  memset(&cli, 0, sizeof cli);
  cli.log_level = PHC_LOG_INFO;
  FILE *saved = stderr; /* the loader's one line per bad file */
  stderr = fopen("/dev/null", "w");
  (void)phc__cli_config_load(&cli, cfg_path);
  fclose(stderr);
  stderr = saved;
  phc__cli_free(&cli);
  return 0;
}
