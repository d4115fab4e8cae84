/*
 * policy_glob: the glob patterns of policies (subjects, models, endpoints),
 * compiled once at load time.
 *
 *   *      any run of characters, '/' included, possibly empty
 *   ?      exactly one character (one UTF-8 sequence)
 *   [abc]  one ASCII character from the set; ranges [a-z], negation [!a] or
 *          [^a]; ']' first in the set is literal; '\' escapes
 *   \x     the character x itself
 *
 * Matching runs in O(pattern * text) without recursion and allocates
 * nothing. Texts longer than AIGOV_GLOB_MAX_TEXT never match.
 */
#ifndef AIGOV_POLICY_GLOB_H
#define AIGOV_POLICY_GLOB_H

#include <stddef.h>
#include <stdint.h>

#define AIGOV_GLOB_MAX_PATTERN  256
#define AIGOV_GLOB_MAX_TEXT     4096

typedef struct {
    uint8_t   op;       /* literal, any, star, class */
    uint8_t   ch;       /* the literal byte */
    uint16_t  cls;      /* class index */
} aigov_glob_tok_t;

typedef struct {
    const char        *text;     /* the pattern as written */
    int                literal;  /* no wildcard: compare bytes */
    const char        *lit;      /* the literal with escapes removed */
    size_t             litlen;
    aigov_glob_tok_t  *toks;
    size_t             ntoks;
    uint8_t          (*classes)[32];
} aigov_glob_t;

typedef void *(*aigov_glob_alloc_fn)(void *actx, size_t n);

/* Compiles pat into g; memory comes from alloc (never freed separately).
 * 0, or -1 with one sentence in err ("unterminated character class '[' at
 * position 3"). */
int aigov_glob_compile(aigov_glob_t *g, const char *pat,
                       aigov_glob_alloc_fn alloc, void *actx,
                       char *err, size_t errlen);

/* 1 when the whole of s (len bytes) matches. */
int aigov_glob_match(const aigov_glob_t *g, const char *s, size_t len);

/* 1 when every text b matches is known to match a too (a covers b); 0 when
 * it does not or cannot be told cheaply. Never 1 wrongly. */
int aigov_glob_covers(const aigov_glob_t *a, const aigov_glob_t *b);

/* The first literal byte of g (not a wildcard or class) for which ok says
 * 0, or -1 when there is none. */
int aigov_glob_bad_literal(const aigov_glob_t *g, int (*ok)(unsigned char c));

#endif
