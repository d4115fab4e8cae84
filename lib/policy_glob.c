/* policy_glob: compile and match the glob patterns of policies. */
#include <stdio.h>
#include <string.h>

#include "policy_glob.h"

enum { G_LIT = 1, G_ANY, G_STAR, G_CLASS };

static void set_bit(uint8_t *bits, unsigned c)
{
    bits[c >> 3] |= (uint8_t) (1u << (c & 7));
}

/* Length of the UTF-8 sequence that starts at s (1 for stray bytes). */
static size_t char_len(const unsigned char *s, size_t left)
{
    size_t n = 1;

    if (s[0] >= 0xC0) {
        while (n < left && n < 4 && (s[n] & 0xC0) == 0x80)
            n++;
    }
    return n;
}

int aigov_glob_compile(aigov_glob_t *g, const char *pat,
                       aigov_glob_alloc_fn alloc, void *actx,
                       char *err, size_t errlen)
{
    aigov_glob_tok_t toks[AIGOV_GLOB_MAX_PATTERN];
    uint8_t classes[AIGOV_GLOB_MAX_PATTERN / 2][32];
    char lit[AIGOV_GLOB_MAX_PATTERN + 1];
    size_t nt = 0, nc = 0, nl = 0, len = strlen(pat), i = 0;
    int wild = 0;

    memset(g, 0, sizeof(*g));
    if (len == 0) {
        snprintf(err, errlen, "empty pattern");
        return -1;
    }
    if (len > AIGOV_GLOB_MAX_PATTERN) {
        snprintf(err, errlen, "pattern is longer than %d characters", AIGOV_GLOB_MAX_PATTERN);
        return -1;
    }
    while (i < len) {
        unsigned char c = (unsigned char) pat[i];
        if (c == '*') {
            wild = 1;
            if (!nt || toks[nt - 1].op != G_STAR)
                toks[nt++] = (aigov_glob_tok_t) { G_STAR, 0, 0 };
            i++;
        } else if (c == '?') {
            wild = 1;
            toks[nt++] = (aigov_glob_tok_t) { G_ANY, 0, 0 };
            i++;
        } else if (c == '\\') {
            if (i + 1 >= len) {
                snprintf(err, errlen, "pattern ends with a lone '\\'");
                return -1;
            }
            toks[nt++] = (aigov_glob_tok_t) { G_LIT, (uint8_t) pat[i + 1], 0 };
            lit[nl++] = pat[i + 1];
            i += 2;
        } else if (c == '[') {
            size_t start = i, j = i + 1;
            int neg = 0, members = 0;
            uint8_t *bits = classes[nc];

            memset(bits, 0, 32);
            if (j < len && (pat[j] == '!' || pat[j] == '^')) {
                neg = 1;
                j++;
            }
            for (;;) {
                unsigned lo, hi;
                size_t lo_pos;
                if (j >= len) {
                    snprintf(err, errlen, "unterminated character class '[' at position %zu",
                             start + 1);
                    return -1;
                }
                if (pat[j] == ']' && members)
                    break;
                if (pat[j] == '\\') {
                    if (++j >= len)
                        continue;   /* reported as unterminated */
                }
                lo_pos = j + 1;
                lo = (unsigned char) pat[j];
                if (lo >= 0x80) {
                    snprintf(err, errlen, "character classes hold ASCII characters only "
                             "(position %zu)", j + 1);
                    return -1;
                }
                hi = lo;
                j++;
                if (j + 1 < len && pat[j] == '-' && pat[j + 1] != ']') {
                    j++;
                    if (pat[j] == '\\' && j + 1 < len)
                        j++;
                    hi = (unsigned char) pat[j];
                    if (hi >= 0x80) {
                        snprintf(err, errlen, "character classes hold ASCII characters only "
                                 "(position %zu)", j + 1);
                        return -1;
                    }
                    if (hi < lo) {
                        snprintf(err, errlen, "range '%c-%c' in character class is reversed "
                                 "(position %zu)", (char) lo, (char) hi, lo_pos);
                        return -1;
                    }
                    j++;
                }
                for (unsigned c2 = lo; c2 <= hi; c2++)
                    set_bit(bits, c2);
                members++;
            }
            if (neg) {
                /* ASCII half only: a class never matches a byte of UTF-8 */
                for (int k = 0; k < 16; k++)
                    bits[k] = (uint8_t) ~bits[k];
            }
            toks[nt++] = (aigov_glob_tok_t) { G_CLASS, 0, (uint16_t) nc };
            nc++;
            wild = 1;
            i = j + 1;
        } else {
            toks[nt++] = (aigov_glob_tok_t) { G_LIT, c, 0 };
            lit[nl++] = (char) c;
            i++;
        }
    }
    lit[nl] = '\0';

    g->text = pat;
    g->literal = !wild;
    if (!wild) {
        char *l = alloc(actx, nl + 1);
        if (!l)
            goto nomem;
        memcpy(l, lit, nl + 1);
        g->lit = l;
        g->litlen = nl;
        return 0;
    }
    g->toks = alloc(actx, nt * sizeof(*toks));
    if (!g->toks)
        goto nomem;
    memcpy(g->toks, toks, nt * sizeof(*toks));
    g->ntoks = nt;
    if (nc) {
        g->classes = alloc(actx, nc * 32);
        if (!g->classes)
            goto nomem;
        memcpy(g->classes, classes, nc * 32);
    }
    return 0;

nomem:
    snprintf(err, errlen, "out of memory");
    return -1;
}

/* How many bytes token t consumes at s, or 0 when it does not match there. */
static size_t tok_match(const aigov_glob_t *g, const aigov_glob_tok_t *t,
                        const unsigned char *s, size_t left)
{
    switch (t->op) {
    case G_LIT:
        return s[0] == t->ch;
    case G_ANY:
        return char_len(s, left);
    case G_CLASS:
        return (g->classes[t->cls][s[0] >> 3] >> (s[0] & 7)) & 1;
    default:
        return 0;
    }
}

int aigov_glob_match(const aigov_glob_t *g, const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *) str;
    size_t ti = 0, si = 0, star_t = 0, star_s = 0;
    int have_star = 0;

    if (len > AIGOV_GLOB_MAX_TEXT)
        return 0;
    if (g->literal)
        return len == g->litlen && memcmp(str, g->lit, len) == 0;

    /* Greedy with one backtracking point: on a mismatch, let the last star
     * swallow one more character. Earlier stars never need revisiting. */
    while (si < len) {
        if (ti < g->ntoks && g->toks[ti].op == G_STAR) {
            have_star = 1;
            star_t = ++ti;
            star_s = si;
            continue;
        }
        if (ti < g->ntoks) {
            size_t n = tok_match(g, &g->toks[ti], s + si, len - si);
            if (n) {
                ti++;
                si += n;
                continue;
            }
        }
        if (!have_star)
            return 0;
        star_s += char_len(s + star_s, len - star_s);
        ti = star_t;
        si = star_s;
    }
    while (ti < g->ntoks && g->toks[ti].op == G_STAR)
        ti++;
    return ti == g->ntoks;
}

static int same_tok(const aigov_glob_t *a, const aigov_glob_tok_t *x,
                    const aigov_glob_t *b, const aigov_glob_tok_t *y)
{
    if (x->op != y->op)
        return 0;
    if (x->op == G_LIT)
        return x->ch == y->ch;
    if (x->op == G_CLASS)
        return memcmp(a->classes[x->cls], b->classes[y->cls], 32) == 0;
    return 1;
}

/* Only the shapes a policy writes: a literal, the same pattern, "P*" and
 * "*S" with P and S literal. Anything else answers 0 (not known to cover). */
int aigov_glob_covers(const aigov_glob_t *a, const aigov_glob_t *b)
{
    size_t n;

    if (a->literal)
        return b->literal && a->litlen == b->litlen && memcmp(a->lit, b->lit, a->litlen) == 0;
    if (b->literal)
        return aigov_glob_match(a, b->lit, b->litlen);
    if (a->ntoks == b->ntoks) {
        for (n = 0; n < a->ntoks && same_tok(a, &a->toks[n], b, &b->toks[n]); n++)
            ;
        if (n == a->ntoks)
            return 1;
    }
    /* "P*": every text of b starts with P when b starts with P's letters */
    if (a->toks[a->ntoks - 1].op == G_STAR) {
        for (n = 0; n + 1 < a->ntoks && a->toks[n].op == G_LIT; n++)
            ;
        if (n + 1 == a->ntoks && b->ntoks >= n) {
            size_t i;
            for (i = 0; i < n && b->toks[i].op == G_LIT && b->toks[i].ch == a->toks[i].ch; i++)
                ;
            if (i == n)
                return 1;
        }
    }
    /* "*S": likewise at the end */
    if (a->toks[0].op == G_STAR) {
        for (n = 1; n < a->ntoks && a->toks[n].op == G_LIT; n++)
            ;
        if (n == a->ntoks && b->ntoks >= n - 1) {
            size_t k = n - 1, i;
            for (i = 0; i < k; i++) {
                const aigov_glob_tok_t *x = &a->toks[a->ntoks - 1 - i];
                const aigov_glob_tok_t *y = &b->toks[b->ntoks - 1 - i];
                if (y->op != G_LIT || y->ch != x->ch)
                    break;
            }
            if (i == k)
                return 1;
        }
    }
    return 0;
}

int aigov_glob_bad_literal(const aigov_glob_t *g, int (*ok)(unsigned char c))
{
    if (g->literal) {
        for (size_t i = 0; i < g->litlen; i++)
            if (!ok((unsigned char) g->lit[i]))
                return (unsigned char) g->lit[i];
        return -1;
    }
    for (size_t i = 0; i < g->ntoks; i++)
        if (g->toks[i].op == G_LIT && !ok(g->toks[i].ch))
            return g->toks[i].ch;
    return -1;
}
