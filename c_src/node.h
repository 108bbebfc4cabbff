/* node.h - the node struct every module reaches through phc_node_t.
 *
 * The node owns the loop pointer, its identity (name, cookie, creation), the
 * process runtime (c_src/proc), the distribution layer (c_src/dist), the
 * OTP services (c_src/otp) and the hubs (c_src/hub). Each module keeps its
 * own state behind one pointer here and is the only one to touch it; the
 * others go through its functions. The process runtime reaches other nodes
 * only through `remote`, a table of functions the node fills in (c_src/node.c
 * routes them to dist), so c_src/proc can be unit-tested without sockets.
 * c_src/node.c creates, starts, stops and frees the node.
 */
#ifndef PHC_NODE_H
#define PHC_NODE_H

#include "common.h"

struct phc__rt_s;    /* c_src/proc/proc.h */
struct phc__dist_s;  /* c_src/dist/dist.h */
struct phc__otp_s;   /* c_src/otp/otp.h */
struct phc__hubs_s;  /* c_src/hub/hub.h */
struct phc__dsups_s; /* c_src/dsup/dsup.h */
struct phc__remote_ops_s;

struct phc_node_s {
  uv_loop_t *loop;
  char name[PHC__ATOM_MAX]; /* full name, "alive@host" */
  char cookie[256];
  int longnames;
  int hidden;
  unsigned net_ticktime; /* seconds */
  unsigned short port;
  phc_limits_t limits; /* as configured (0: the default) */
  uint32_t creation;   /* from epmd; pids and refs carry it */
  /* inet_tls: the ssl_dist_optfile (NULL: plain TCP) */
  char *ssl_dist_optfile;
  int stopping;

  struct phc__rt_s *rt;
  struct phc__dist_s *dist;
  struct phc__otp_s *otp;
  struct phc__hubs_s *hubs;
  struct phc__dsups_s *dsups;

  /* Tables the public API fills in before or after phc_node_start: child
   * types (c_src/proc/gen_server.c) and natives (c_src/otp/rpc.c). */
  struct phc__ctype_s *ctypes;
  struct phc__native_s *natives;

  const struct phc__remote_ops_s *remote;
  void *remote_ctx;
};

/* node.c: hand one decoded control message from peer to the runtime (the
 * phc__proc_in_* entry points) or to otp (spawn requests), as the dist
 * layer does after decoding; the fuzz harnesses call it too. */
struct phc__ctrl_s;
void phc__node_dispatch_ctrl(phc_node_t *n, const char *peer,
                             const struct phc__ctrl_s *c);

#endif /* PHC_NODE_H */
