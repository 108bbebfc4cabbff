/* pg.h - a process-group scope that speaks OTP 25's pg protocol.
 *
 * A scope is a registered process (its name is the scope name, e.g.
 * 'hub.my_hub.event_queue_pg') that keeps the groups of this node and the
 * groups every peer scope told it about. It talks to the BEAM's pg servers
 * with the four messages they use: {discover, Peer}, the cast
 * {sync, Peer, Groups}, {join, Peer, Group, PidOrPids} and
 * {leave, Peer, PidOrPids, Groups}. It discovers the scope of every
 * visible node at start and on nodeup, monitors peer scopes (their groups
 * go when they go down, noconnection included) and monitors local members
 * (a dead member leaves its groups). The scope owns its tables; callers
 * read them through phc__pg_members() and may watch membership changes.
 */
#ifndef PHC_OTP_PG_H
#define PHC_OTP_PG_H

#include "node.h"

typedef struct phc__pg_s phc__pg_t;

/* A membership change: pids joined (joined=1) or left group. */
typedef void (*phc__pg_watch_cb)(void *arg, const char *group, int joined,
                                 const erlang_pid *pids, int npids);

int phc__pg_start(phc_node_t *n, const char *scope, phc__pg_t **out);
/* Leave every group (peers are told) and stop the scope process. */
void phc__pg_stop(phc__pg_t *pg);
const erlang_pid *phc__pg_pid(const phc__pg_t *pg);

int phc__pg_join(phc__pg_t *pg, const char *group, const erlang_pid *pid);
int phc__pg_leave(phc__pg_t *pg, const char *group, const erlang_pid *pid);
/* All members (local first, then remote), up to max; returns the count. */
int phc__pg_members(const phc__pg_t *pg, const char *group, erlang_pid *out,
                    int max);
int phc__pg_local_members(const phc__pg_t *pg, const char *group,
                          erlang_pid *out, int max);
/* Set the one watcher (NULL to clear). */
void phc__pg_watch(phc__pg_t *pg, phc__pg_watch_cb cb, void *arg);
/* Send {discover, Scope} to the scope on node (e.g. to repair after a peer
 * scope restart, or for a hidden node that is never discovered). */
int phc__pg_discover(phc__pg_t *pg, const char *node);

#endif /* PHC_OTP_PG_H */
