/* hub_fixture.h - a hand-built node running one hub, for the hub's unit
 * tests: no distribution (a recording remote table keeps every message to
 * another node, any size), the OTP services and built-in child types
 * (phc__otp_init), and hub "lab" started on it. Messages are fed in as if
 * they arrived from a peer (phc__proc_in_send*) and the loop is drained.
 * Fixtures are term_to_binary files under test/fixtures/hub (see
 * gen_fixtures.erl there). The code is in hub_fixture.c, compiled into the
 * test support library (build/test/libphctest.a). */
#ifndef PHC_HUB_FIXTURE_H
#define PHC_HUB_FIXTURE_H

#include "phc_test.h"

#include "hub/hub.h"
#include "otp/otp.h"
#include "proc/proc_int.h"
#include "term/parse.h"

/* Kept for tests that mark their own helpers with it. */
#define HX_UNUSED __attribute__((unused))
#define HX_NODE                                                                \
  "ph2@127.0.0.1" /* the trace's ph2: fixtures need no rewrite                 \
                   */
#define HX_PH1 "ph1@127.0.0.1"
#define HX_PH3 "ph3@127.0.0.1"
#define HX_HUB "lab"
#define HX_MAX 512

enum { HX_SEND = 1, HX_SEND_NAME, HX_OTHER };

/* One message the node sent to another node. */
typedef struct hx_msg_s {
  int op;
  erlang_pid to;
  char node[PHC__ATOM_MAX];
  char name[PHC__ATOM_MAX];
  char *buf; /* with version byte */
  int len;
} hx_msg_t;

typedef struct hx_rec_s {
  hx_msg_t m[HX_MAX];
  int n;
} hx_rec_t;

typedef struct hx_s {
  phc_node_t node;
  uv_loop_t loop;
  hx_rec_t rec;
  phc_hub_t *h; /* the hub (its struct is hub/hub.h's) */
} hx_t;

/* ---- the node ----------------------------------------------------------- */

/* Node HX_NODE with hub HX_HUB started; the start's messages are cleared. */
hx_t *hx_new(void);
void hx_free(hx_t *x);
/* Deliver everything queued (timers are not waited for). */
void hx_drain(hx_t *x);
/* Forget the recorded messages. */
void hx_rec_clear(hx_t *x);
/* A pid on a peer node (the trace nodes: creation does not matter). */
erlang_pid hx_pid(const char *node, unsigned num);

/* ---- fixtures and delivery ---------------------------------------------- */

typedef struct hx_term_s {
  char *b; /* with version byte */
  int len;
} hx_term_t;

/* test/fixtures/hub/NAME.etf (fails the test if missing); free .b. */
hx_term_t hx_load(const char *name);
/* A message to the coordinator's pid, from a process on ph1. */
void hx_to_coord(hx_t *x, const char *buf, int len);
/* A message to a registered name (the hub id, the pg scope). */
void hx_to_name(hx_t *x, const char *name, const char *buf, int len);
/* Feed a fixture by name to the coordinator's pid (how blockade sends
 * events) or, for '$gen_cast' fixtures, to {lab, Node}; pg_* fixtures go
 * to the pg scope. */
void hx_feed(hx_t *x, const char *fixture);

/* ---- looking at what went out ------------------------------------------- */

/* The head atom of a recorded message: {Head, ...} or
 * {'$gen_cast', {Head, ...}} (then cast is set). */
int hx_head(const hx_msg_t *m, char *head, int *cast);
/* The k-th (0-based) recorded message with this head, or NULL. */
hx_msg_t *hx_find(hx_t *x, const char *head, int k);
int hx_count(hx_t *x, const char *head);
/* The term as text (ei_s_print_term, without the blank it writes after
 * each comma); caller frees. */
char *hx_text(const char *buf, int idx);
/* hx_text contains needle (prints the text when it does not). */
int hx_has(const char *buf, int idx, const char *needle);

/* ---- building terms ----------------------------------------------------- */

/* One term from Erlang text (term/parse.h: atoms, numbers, "strings",
 * <<"binaries">>, tuples, lists, maps; no full stop), encoded with the
 * version byte; ei_x_free it. A syntax error fails the test. */
ei_x_buff hx_term(const char *text);
/* The same term appended to x, without a version byte. */
void hx_append(ei_x_buff *x, const char *text);
/* The term alone without a version byte (as registry rows keep terms). */
ei_x_buff hx_body(const char *text);

/* ---- query results ------------------------------------------------------ */

/* phc_hub_registry_dump as text; caller frees. */
char *hx_dump(hx_t *x);
size_t hx_rows(hx_t *x);
/* The registry row of a child id given as an encoded term. */
phc__reg_row_t *hx_row(hx_t *x, const ei_x_buff *cid);
/* Child ids as encoded terms (no version byte); ei_x_free them. */
ei_x_buff hx_bin_cid(const char *s);
ei_x_buff hx_atom_cid(const char *s);

#endif /* PHC_HUB_FIXTURE_H */
