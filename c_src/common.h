/* common.h - what every module of phc shares: logging, allocation checks,
 * small helpers. It owns nothing; it is the bottom of the layer stack.
 *
 * Logging goes to stderr, one line per event, with a level and the module
 * name: "phc[warn] dist: cookie mismatch from a@127.0.0.1". Bad input from
 * the wire is logged once at warn and dropped.
 */
#ifndef PHC_COMMON_H
#define PHC_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "phc.h"

#define PHC__ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define PHC__UNUSED(x) ((void)(x))

/* The largest node or atom name in bytes (UTF-8), plus NUL. */
#define PHC__ATOM_MAX MAXATOMLEN_UTF8

extern int phc__log_level;

void phc__log(int level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define PHC_LOG_E(mod, ...) phc__log(PHC_LOG_ERROR, mod, __VA_ARGS__)
#define PHC_LOG_W(mod, ...) phc__log(PHC_LOG_WARN, mod, __VA_ARGS__)
#define PHC_LOG_I(mod, ...) phc__log(PHC_LOG_INFO, mod, __VA_ARGS__)
#define PHC_LOG_D(mod, ...)                                                    \
  do {                                                                         \
    if (phc__log_level >= PHC_LOG_DEBUG)                                       \
      phc__log(PHC_LOG_DEBUG, mod, __VA_ARGS__);                               \
  } while (0)

/* Allocation that aborts on failure: phc treats OOM as fatal, like the BEAM. */
void *phc__xmalloc(size_t n);
void *phc__xcalloc(size_t n, size_t sz);
void *phc__xrealloc(void *p, size_t n);
char *phc__xstrdup(const char *s);

/* A pid kept by a process about another one (links, parents, registry
 * owners): erlang_pid carries a 1 KiB node buffer, this carries a pointer
 * to the node name interned once for the life of the program. */
typedef struct phc__cpid_s {
  const char *node;
  unsigned num, serial, creation;
} phc__cpid_t;

/* The interned copy of s (equal strings give the same pointer). */
const char *phc__intern(const char *s);
void phc__cpid_set(phc__cpid_t *c, const erlang_pid *p);
void phc__cpid_get(const phc__cpid_t *c, erlang_pid *p);
int phc__cpid_eq(const phc__cpid_t *c, const erlang_pid *p);
/* Two compact pids are the same pid (node names are interned). */
static inline int phc__cpid_same(const phc__cpid_t *a, const phc__cpid_t *b) {
  return a->num == b->num && a->serial == b->serial &&
         a->creation == b->creation && a->node == b->node;
}

#endif /* PHC_COMMON_H */
