/* parse.h - read Erlang terms from text, as file:consult/1 does.
 *
 * phc's configuration file is a list of Erlang terms, each ending with a
 * full stop, so a BEAM user reads and writes it like sys.config. This module
 * turns that text into ei-encoded terms. It knows the term syntax a config
 * needs: atoms (bare or 'quoted'), integers, floats, "strings" (lists of
 * character codes, UTF-8 decoded), <<"binaries">>, tuples, lists (with a
 * | tail), maps #{K => V}, and % comments. It has no expressions, records,
 * pids or funs. It owns nothing beyond the buffers it hands back.
 */
#ifndef PHC_TERM_PARSE_H
#define PHC_TERM_PARSE_H

#include "common.h"

/* Called once per term; term is encoded with the version byte. Return 0
 * to go on, or an error to stop parsing with it. */
typedef int (*phc__parse_cb)(void *arg, const char *term, int len);

/* Parse every term in text. On a syntax error returns PHC_EINVAL and puts
 * "line N: what" into err. */
int phc__parse_terms(const char *text, size_t len, phc__parse_cb cb, void *arg,
                     char *err, size_t errlen);

#endif /* PHC_TERM_PARSE_H */
