/*
 * term_prefix.h: how much of the end of a streamed text may begin a term
 * of the blocklist, for the plugin's tail() (aigov_plugin.h).
 *
 * The answer is the state of an Aho-Corasick automaton over the terms
 * after it read the text: the longest end of the text that begins some
 * term. Both sides are read the way the Vectorscan database matches them:
 * ASCII letters in either case, a run of white space as one blank. Word
 * boundaries are left out, so the answer may be longer than needed, never
 * shorter. Patterns are regular expressions whose beginnings cannot be
 * listed: a blocklist with any pattern, or with terms too many or too long
 * for the bounds below, answers "all of it" and the host holds its fixed
 * bound. Nothing here is exported from the shared object.
 */
#ifndef AIGOV_BLOCKLIST_TERM_PREFIX_H
#define AIGOV_BLOCKLIST_TERM_PREFIX_H

#include <stddef.h>

typedef struct term_prefix_s term_prefix_t;

term_prefix_t *term_prefix_new(void);
void term_prefix_free(term_prefix_t *tp);

/* Adds one term (blanks already trimmed). -1 when out of memory; a term
 * over the bounds turns the automaton off instead. */
int term_prefix_add(term_prefix_t *tp, const char *term, size_t n);
/* No answer but "all of it" from now on (a pattern was added). */
void term_prefix_off(term_prefix_t *tp);
/* After the last add. -1 when out of memory. */
int term_prefix_build(term_prefix_t *tp);

/* Bytes at the end of text that begin a term; len when turned off. */
size_t term_prefix_tail(const term_prefix_t *tp, const char *text, size_t len);

#endif
