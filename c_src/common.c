/* common.c - logging, checked allocation and small term helpers. */
#include "common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

#include <uthash.h>

int phc__log_level = PHC_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void phc_log_set_level(int level) {
  if (level < PHC_LOG_ERROR) level = PHC_LOG_ERROR;
  if (level > PHC_LOG_DEBUG) level = PHC_LOG_DEBUG;
  phc__log_level = level;
}

int phc_log_parse_level(const char *s) {
  for (size_t i = 0; i < PHC__ARRAY_LEN(level_names); i++)
    if (s && strcasecmp(s, level_names[i]) == 0) return (int)i;
  return PHC_EINVAL;
}

void phc__log(int level, const char *module, const char *fmt, ...) {
  if (level > phc__log_level) return;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%ld.%03ld phc[%s] %s: %s\n", (long)ts.tv_sec,
          ts.tv_nsec / 1000000, level_names[level], module, line);
}

void *phc__xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    fputs("phc: out of memory\n", stderr);
    abort();
  }
  return p;
}

void *phc__xcalloc(size_t n, size_t sz) {
  void *p = calloc(n ? n : 1, sz ? sz : 1);
  if (!p) {
    fputs("phc: out of memory\n", stderr);
    abort();
  }
  return p;
}

void *phc__xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) {
    fputs("phc: out of memory\n", stderr);
    abort();
  }
  return q;
}

char *phc__xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  return memcpy(phc__xmalloc(n), s, n);
}

unsigned phc_version(void) {
  return (unsigned)PHC_VERSION_MAJOR << 16 | (unsigned)PHC_VERSION_MINOR << 8 |
         (unsigned)PHC_VERSION_PATCH;
}

const char *phc_strerror(int err) {
  switch (err) {
  case 0: return "ok";
#define PHC__ERRNO_MSG(name, value, msg)                                       \
  case PHC_##name: return msg;
    PHC_ERRNO_MAP(PHC__ERRNO_MSG)
#undef PHC__ERRNO_MSG
  default: return "unknown error";
  }
}

const char *phc_err_name(int err) {
  switch (err) {
  case 0: return "0";
#define PHC__ERRNO_NAME(name, value, msg)                                      \
  case PHC_##name: return "PHC_" #name;
    PHC_ERRNO_MAP(PHC__ERRNO_NAME)
#undef PHC__ERRNO_NAME
  default: return "PHC_E?";
  }
}

int phc_pid_eq(const phc_pid_t *a, const phc_pid_t *b) {
  return a->num == b->num && a->serial == b->serial &&
         a->creation == b->creation && strcmp(a->node, b->node) == 0;
}

int phc_ref_eq(const phc_ref_t *a, const phc_ref_t *b) {
  if (a->len != b->len || a->creation != b->creation ||
      strcmp(a->node, b->node) != 0)
    return 0;
  for (int i = 0; i < a->len; i++)
    if (a->n[i] != b->n[i]) return 0;
  return 1;
}

/* ---- interned node names ------------------------------------------------ */

typedef struct intern_s {
  UT_hash_handle hh;
  char s[];
} intern_t;

static intern_t *interned;

static void intern_free_all(void) {
  intern_t *e, *tmp;
  HASH_ITER(hh, interned, e, tmp) {
    HASH_DEL(interned, e);
    free(e);
  }
}

const char *phc__intern(const char *s) {
  intern_t *e = NULL;
  size_t n = strlen(s);
  HASH_FIND(hh, interned, s, (unsigned)n, e);
  if (e) return e->s;
  if (!interned) atexit(intern_free_all);
  e = phc__xmalloc(sizeof *e + n + 1);
  memset(&e->hh, 0, sizeof e->hh);
  memcpy(e->s, s, n + 1);
  HASH_ADD_KEYPTR(hh, interned, e->s, (unsigned)n, e);
  return e->s;
}

void phc__cpid_set(phc__cpid_t *c, const erlang_pid *p) {
  c->node = phc__intern(p->node);
  c->num = p->num;
  c->serial = p->serial;
  c->creation = p->creation;
}

void phc__cpid_get(const phc__cpid_t *c, erlang_pid *p) {
  snprintf(p->node, sizeof p->node, "%s", c->node);
  p->num = c->num;
  p->serial = c->serial;
  p->creation = c->creation;
}

int phc__cpid_eq(const phc__cpid_t *c, const erlang_pid *p) {
  return c->num == p->num && c->serial == p->serial &&
         c->creation == p->creation && strcmp(c->node, p->node) == 0;
}
