/* introspect_proc.c - erlang:is_process_alive/1 and process_info/1,2 for
 * phc's own processes, with OTP's shapes: {Item, Value} per item,
 * undefined for a dead pid, [] for registered_name of a process without a
 * name, badarg for a pid of another node or an unknown item. A C process
 * has no Erlang function, heap or stack: current_function and initial_call
 * are {phc_proc, Type, 0} (Type: "gen_server", "rex", "supervisor", ...),
 * heap sizes are its runtime bytes in words, the stack and reductions 0
 * (not counted per process); README.md ("Introspection") lists them. */
#include "otp/otp_int.h"

#include <string.h>

#include "proc/proc.h"
#include "term/enc.h"
#include "term/term.h"

static int badarg(ei_x_buff *result) {
  phc__x_atom(result, "badarg");
  return PHC_EINVAL;
}

/* The items process_info/1 gives, in OTP's order (registered_name first
 * when there is a name). */
static const char *const info1_items[] = {"current_function",
                                          "initial_call",
                                          "status",
                                          "message_queue_len",
                                          "links",
                                          "dictionary",
                                          "trap_exit",
                                          "error_handler",
                                          "priority",
                                          "group_leader",
                                          "total_heap_size",
                                          "heap_size",
                                          "stack_size",
                                          "reductions",
                                          "garbage_collection",
                                          "suspending",
                                          NULL};

static void put_cons_pid(void *ctx, const erlang_pid *pid) {
  ei_x_buff *x = ctx;
  phc__x_list_header(x, 1);
  phc__x_pid(x, pid);
}

static void put_cons_mon(void *ctx, const erlang_pid *pid, const char *name,
                         const char *node) {
  ei_x_buff *x = ctx;
  phc__x_list_header(x, 1);
  phc__x_tuple_header(x, 2);
  phc__x_atom(x, "process");
  if (pid) {
    phc__x_pid(x, pid);
  } else {
    phc__x_tuple_header(x, 2);
    phc__x_atom(x, name);
    phc__x_atom(x, node);
  }
}

static void put_cons_watcher(void *ctx, const erlang_pid *pid, const char *name,
                             const char *node) {
  PHC__UNUSED(name);
  PHC__UNUSED(node);
  if (pid) put_cons_pid(ctx, pid);
}

static void put_cons_msg(void *ctx, const char *term, int len) {
  ei_x_buff *x = ctx;
  phc__x_list_header(x, 1);
  phc__x_append_buf(x, term, len);
}

/* {phc_proc, Type, 0} */
static void put_mfa(ei_x_buff *x, const phc__pinfo_t *pi) {
  phc__x_tuple_header(x, 3);
  phc__x_atom(x, "phc_proc");
  phc__x_atom(x, pi->type);
  phc__x_long(x, 0);
}

/* <Node.0.0>: the node itself stands in for a group leader. */
static void put_node_pid(phc_node_t *n, ei_x_buff *x) {
  erlang_pid p;
  memset(&p, 0, sizeof p);
  snprintf(p.node, sizeof p.node, "%s", n->name);
  p.creation = n->creation;
  phc__x_pid(x, &p);
}

static const char *status_of(const phc__pinfo_t *pi) {
  return pi->running ? "running" : pi->runnable ? "runnable" : "waiting";
}

static void put_gc(ei_x_buff *x) {
  phc__x_list_header(x, 1);
  phc__x_tuple_header(x, 2);
  phc__x_atom(x, "minor_gcs");
  phc__x_long(x, 0);
  phc__x_empty_list(x);
}

/* Lists: links, monitors, monitored_by. 0, or -1 for another item. */
static int put_list_item(phc_node_t *n, const erlang_pid *pid, const char *k,
                         ei_x_buff *x) {
  if (!strcmp(k, "links"))
    phc__proc_links_each(n, pid, put_cons_pid, x);
  else if (!strcmp(k, "monitors"))
    phc__proc_monitors_each(n, pid, 0, put_cons_mon, x);
  else if (!strcmp(k, "monitored_by"))
    phc__proc_monitors_each(n, pid, 1, put_cons_watcher, x);
  else if (!strcmp(k, "messages"))
    phc__proc_messages_each(n, pid, put_cons_msg, x);
  else if (strcmp(k, "dictionary") && strcmp(k, "suspending") &&
           strcmp(k, "current_stacktrace"))
    return -1;
  phc__x_empty_list(x);
  return 0;
}

/* Scalar items. 0, or -1 for an unknown item. */
static int put_scalar_item(phc_node_t *n, const phc__pinfo_t *pi, const char *k,
                           ei_x_buff *x) {
  long words = (long)((pi->memory + sizeof(void *) - 1) / sizeof(void *));
  if (!strcmp(k, "message_queue_len")) return phc__x_ulong(x, pi->mbox_len), 0;
  if (!strcmp(k, "memory")) return phc__x_ulong(x, pi->memory), 0;
  if (!strcmp(k, "status")) return phc__x_atom(x, status_of(pi)), 0;
  if (!strcmp(k, "trap_exit")) return phc__x_boolean(x, pi->trap_exit), 0;
  if (!strcmp(k, "priority")) return phc__x_atom(x, "normal"), 0;
  if (!strcmp(k, "error_handler")) return phc__x_atom(x, "error_handler"), 0;
  if (!strcmp(k, "group_leader")) return put_node_pid(n, x), 0;
  if (!strcmp(k, "current_function") || !strcmp(k, "initial_call"))
    return put_mfa(x, pi), 0;
  if (!strcmp(k, "heap_size") || !strcmp(k, "total_heap_size"))
    return phc__x_long(x, words), 0;
  if (!strcmp(k, "stack_size")) return phc__x_long(x, 0), 0;
  if (!strcmp(k, "reductions")) return phc__x_long(x, 0), 0;
  if (!strcmp(k, "garbage_collection")) return put_gc(x), 0;
  return -1;
}

static int known_item(const char *k) {
  static const char *const extra[] = {
      "registered_name",    "memory", "monitors", "monitored_by", "messages",
      "current_stacktrace", NULL};
  for (int i = 0; info1_items[i]; i++)
    if (!strcmp(k, info1_items[i])) return 1;
  for (int i = 0; extra[i]; i++)
    if (!strcmp(k, extra[i])) return 1;
  return 0;
}

/* One item: {Item, Value}, or [] for registered_name without a name. */
static void put_item(phc_node_t *n, const erlang_pid *pid,
                     const phc__pinfo_t *pi, const char *k, ei_x_buff *x) {
  if (!strcmp(k, "registered_name")) {
    if (!pi->name) {
      phc__x_empty_list(x);
      return;
    }
    phc__x_tuple_header(x, 2);
    phc__x_atom(x, k);
    phc__x_atom(x, pi->name);
    return;
  }
  phc__x_tuple_header(x, 2);
  phc__x_atom(x, k);
  if (put_list_item(n, pid, k, x) < 0) put_scalar_item(n, pi, k, x);
}

/* The pid argument: 0 for a local pid (*alive set), badarg otherwise. */
static int local_pid(phc_node_t *n, const char *args, int *idx,
                     erlang_pid *pid) {
  if (ei_decode_pid(args, idx, pid) < 0 || strcmp(pid->node, n->name) != 0)
    return PHC_EINVAL;
  return 0;
}

/* args is [Pid] with Pid local: 0, else PHC_EINVAL (badarg). */
static int one_local_pid(phc_node_t *n, const char *args, int len,
                         erlang_pid *pid) {
  int idx = 1, arity;
  if (phc__term_check(args, len) < 0 ||
      ei_decode_list_header(args, &idx, &arity) < 0 || arity != 1)
    return PHC_EINVAL;
  return local_pid(n, args, &idx, pid);
}

static int nat_alive(phc_node_t *n, const phc_pid_t *caller, const char *args,
                     int len, ei_x_buff *result) {
  erlang_pid pid;
  phc__pinfo_t pi;
  PHC__UNUSED(caller);
  if (one_local_pid(n, args, len, &pid) < 0) return badarg(result);
  return phc__x_boolean(result, phc__proc_info(n, &pid, &pi) == 0), 0;
}

static int nat_info1(phc_node_t *n, const phc_pid_t *caller, const char *args,
                     int len, ei_x_buff *result) {
  erlang_pid pid;
  phc__pinfo_t pi;
  PHC__UNUSED(caller);
  if (one_local_pid(n, args, len, &pid) < 0) return badarg(result);
  if (phc__proc_info(n, &pid, &pi) < 0)
    return phc__x_atom(result, "undefined"), 0;
  phc__x_list_header(result, pi.name ? 17 : 16);
  if (pi.name) put_item(n, &pid, &pi, "registered_name", result);
  for (int i = 0; info1_items[i]; i++)
    put_item(n, &pid, &pi, info1_items[i], result);
  phc__x_empty_list(result);
  return 0;
}

/* process_info(Pid, Item | [Item]). */
static int nat_info2(phc_node_t *n, const phc_pid_t *caller, const char *args,
                     int len, ei_x_buff *result) {
  int idx = 1, arity, type, size, k = 0;
  erlang_pid pid;
  phc__pinfo_t pi;
  char item[MAXATOMLEN_UTF8], items[32][MAXATOMLEN_UTF8];
  PHC__UNUSED(caller);
  if (phc__term_check(args, len) < 0 ||
      ei_decode_list_header(args, &idx, &arity) < 0 || arity != 2 ||
      local_pid(n, args, &idx, &pid) < 0)
    return badarg(result);
  int single = phc__term_atom(args, &idx, item, sizeof item) == 0;
  if (single) {
    if (!known_item(item)) return badarg(result);
  } else {
    if (ei_get_type(args, &idx, &type, &size) < 0 ||
        (type != ERL_LIST_EXT && type != ERL_NIL_EXT) ||
        ei_decode_list_header(args, &idx, &arity) < 0 || arity > 32)
      return badarg(result);
    for (k = 0; k < arity; k++)
      if (phc__term_atom(args, &idx, items[k], sizeof items[k]) < 0 ||
          !known_item(items[k]))
        return badarg(result);
  }
  if (phc__proc_info(n, &pid, &pi) < 0)
    return phc__x_atom(result, "undefined"), 0;
  if (single) return put_item(n, &pid, &pi, item, result), 0;
  if (k > 0) phc__x_list_header(result, k);
  for (int i = 0; i < k; i++) {
    if (!strcmp(items[i], "registered_name") && !pi.name) {
      phc__x_tuple_header(result, 2); /* in a list: {registered_name, []} */
      phc__x_atom(result, "registered_name");
      phc__x_empty_list(result);
    } else {
      put_item(n, &pid, &pi, items[i], result);
    }
  }
  phc__x_empty_list(result);
  return 0;
}

int phc__introspect_proc_init(phc_node_t *n) {
  int rc = phc_native_register(n, "erlang", "is_process_alive", 1, nat_alive);
  rc = rc ? rc : phc_native_register(n, "erlang", "process_info", 1, nat_info1);
  rc = rc ? rc : phc_native_register(n, "erlang", "process_info", 2, nat_info2);
  return rc;
}
