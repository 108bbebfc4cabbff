/* replay.c - a plain main() for the fuzz harnesses (no libFuzzer): runs
 * LLVMFuzzerTestOneInput once over every file named, or every file in every
 * directory named, and prints how many it ran. A crash is the failure;
 * make fuzz-replay builds one replay program per harness with any compiler
 * and runs it over test/fuzz/regress/<harness>/. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int replay_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "replay: cannot read %s\n", path);
    return -1;
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
  size_t got = n > 0 ? fread(buf, 1, (size_t)n, f) : 0;
  fclose(f);
  LLVMFuzzerTestOneInput(buf, got);
  free(buf);
  return 0;
}

static int replay_dir(const char *dir, int *count) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  struct dirent *e;
  char path[4096];
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (replay_file(path) == 0) (*count)++;
  }
  closedir(d);
  return 0;
}

int main(int argc, char **argv) {
  int count = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      fprintf(stderr, "replay: no such file or directory: %s\n", argv[i]);
      return 2;
    }
    if (S_ISDIR(st.st_mode) ? replay_dir(argv[i], &count)
                            : replay_file(argv[i]))
      return 2;
    if (!S_ISDIR(st.st_mode)) count++;
  }
  printf("replay %s: %d input(s), no crash\n", argv[0], count);
  return 0;
}
