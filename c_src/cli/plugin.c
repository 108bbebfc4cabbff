/* plugin.c - phc-node's plugins: shared objects named by -load PATH (or
 * {load, [Path]} in the config file).
 *
 * Each is dlopen'ed before the node starts; its phc_plugin_info must name
 * this phc's MAJOR.MINOR (the ABI rule in phc.h), then phc_plugin_init(n)
 * registers its types and natives. After each hub starts, the optional
 * phc_plugin_hub_init(hub) runs. Any failure prints one line naming the
 * path and the cause; phc-node then exits with 2 before anything started.
 * Handles stay open until phc__cli_plugins_close (after the node is freed).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

typedef int (*plugin_init_fn)(phc_node_t *n);
typedef int (*plugin_hub_fn)(phc_hub_t *hub);

static struct {
  void *handle;
  const char *path;
  plugin_hub_fn hub_init;
} plugin_tab[MAX_LOAD];
static int plugin_n;

static int plugin_fail(const char *path, const char *what, const char *why) {
  fprintf(stderr, "phc-node: plugin %s: %s%s%s\n", path, what, why ? ": " : "",
          why ? why : "");
  return 2;
}

static int plugin_check_version(const char *path, void *h) {
  const phc_plugin_info_t *info = dlsym(h, "phc_plugin_info");
  if (!info)
    return plugin_fail(path,
                       "missing symbol phc_plugin_info (declare it with "
                       "PHC_PLUGIN_DECLARE)",
                       NULL);
  if (info->major != PHC_VERSION_MAJOR || info->minor != PHC_VERSION_MINOR) {
    char why[128];
    snprintf(why, sizeof why, "built for phc %u.%u.%u, this is phc %s",
             info->major, info->minor, info->patch, PHC_VERSION_STRING);
    return plugin_fail(path, "ABI version mismatch", why);
  }
  return 0;
}

/* Load one plugin and run its init. 0, or 2 after printing the cause. */
static int plugin_load(phc_node_t *n, const char *path) {
  if (plugin_n == MAX_LOAD) return plugin_fail(path, "too many plugins", NULL);
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) return plugin_fail(path, "cannot load", dlerror());
  int st = plugin_check_version(path, h);
  plugin_init_fn init = st ? NULL : (plugin_init_fn)dlsym(h, "phc_plugin_init");
  if (!st && !init)
    st = plugin_fail(path, "missing symbol phc_plugin_init", NULL);
  int rc = init ? init(n) : 0;
  if (!st && rc)
    st = plugin_fail(path, "phc_plugin_init failed", phc_strerror(rc));
  plugin_tab[plugin_n].handle = h;
  plugin_tab[plugin_n].path = path;
  plugin_tab[plugin_n].hub_init =
      st ? NULL : (plugin_hub_fn)dlsym(h, "phc_plugin_hub_init");
  plugin_n++;
  return st;
}

int phc__cli_plugins_load(cli_t *cli, phc_node_t *n) {
  for (int i = 0; i < cli->nload; i++) {
    int st = plugin_load(n, cli->load[i]);
    if (st) return st;
  }
  return 0;
}

int phc__cli_plugins_hub(phc_hub_t *hub) {
  for (int i = 0; i < plugin_n; i++) {
    if (!plugin_tab[i].hub_init) continue;
    int rc = plugin_tab[i].hub_init(hub);
    if (rc)
      return plugin_fail(plugin_tab[i].path, "phc_plugin_hub_init failed",
                         phc_strerror(rc));
  }
  return 0;
}

void phc__cli_plugins_close(void) {
  while (plugin_n > 0)
    dlclose(plugin_tab[--plugin_n].handle);
}
