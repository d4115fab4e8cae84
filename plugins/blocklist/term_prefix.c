/*
 * term_prefix.c: see term_prefix.h. A trie of the normalised terms with
 * the usual failure links; children are sibling lists (the root has a
 * table), since most nodes have one child.
 */
#include "term_prefix.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TERM_SYMBOLS  1024          /* longer terms: off */
#define MAX_NODES         (2u << 20)    /* about 40 MB: off beyond */

typedef struct {
    uint32_t       child, sibling, fail, depth;
    unsigned char  c;
} node_t;

struct term_prefix_s {
    node_t    *v;
    uint32_t   n, cap;
    uint32_t   root[256];
    int        off;
};

static int is_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* a byte as the automaton reads it */
static unsigned char fold(unsigned char c)
{
    if (is_blank(c))
        return ' ';
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

term_prefix_t *term_prefix_new(void)
{
    term_prefix_t *tp = calloc(1, sizeof(*tp));

    if (tp == NULL)
        return NULL;
    tp->v = calloc(64, sizeof(*tp->v));
    if (tp->v == NULL) {
        free(tp);
        return NULL;
    }
    tp->cap = 64;
    tp->n = 1;                          /* node 0: the root */
    return tp;
}

void term_prefix_free(term_prefix_t *tp)
{
    if (tp == NULL)
        return;
    free(tp->v);
    free(tp);
}

void term_prefix_off(term_prefix_t *tp)
{
    tp->off = 1;
    free(tp->v);
    tp->v = NULL;
    tp->n = tp->cap = 0;
}

static uint32_t child(const term_prefix_t *tp, uint32_t s, unsigned char c)
{
    uint32_t k;

    if (s == 0)
        return tp->root[c];
    for (k = tp->v[s].child; k != 0; k = tp->v[k].sibling)
        if (tp->v[k].c == c)
            return k;
    return 0;
}

static uint32_t add_child(term_prefix_t *tp, uint32_t s, unsigned char c)
{
    node_t *x;

    if (tp->n == tp->cap) {
        uint32_t cap = tp->cap * 2;
        node_t *v = realloc(tp->v, cap * sizeof(*v));
        if (v == NULL)
            return 0;
        tp->v = v;
        tp->cap = cap;
    }
    x = &tp->v[tp->n];
    memset(x, 0, sizeof(*x));
    x->c = c;
    x->depth = tp->v[s].depth + 1;
    if (s == 0) {
        tp->root[c] = tp->n;
    } else {
        x->sibling = tp->v[s].child;
        tp->v[s].child = tp->n;
    }
    return tp->n++;
}

int term_prefix_add(term_prefix_t *tp, const char *term, size_t n)
{
    const unsigned char *t = (const unsigned char *)term;
    uint32_t s = 0, depth = 0;
    size_t i;

    if (tp->off)
        return 0;
    for (i = 0; i < n; i++) {
        unsigned char c = fold(t[i]);
        uint32_t k;

        if (c == ' ' && i > 0 && is_blank(t[i - 1]))
            continue;                   /* a run of blanks is one */
        if (++depth > MAX_TERM_SYMBOLS || tp->n >= MAX_NODES) {
            term_prefix_off(tp);
            return 0;
        }
        k = child(tp, s, c);
        if (k == 0 && (k = add_child(tp, s, c)) == 0)
            return -1;
        s = k;
    }
    return 0;
}

int term_prefix_build(term_prefix_t *tp)
{
    uint32_t *queue, head = 0, tail = 0, c;

    if (tp->off)
        return 0;
    queue = malloc(tp->n * sizeof(*queue));
    if (queue == NULL)
        return -1;
    for (c = 0; c < 256; c++) {
        if (tp->root[c] != 0) {
            tp->v[tp->root[c]].fail = 0;
            queue[tail++] = tp->root[c];
        }
    }
    while (head < tail) {
        uint32_t u = queue[head++], k;

        for (k = tp->v[u].child; k != 0; k = tp->v[k].sibling) {
            uint32_t f = tp->v[u].fail, g;

            for (;;) {
                g = child(tp, f, tp->v[k].c);
                if (g != 0 || f == 0)
                    break;
                f = tp->v[f].fail;
            }
            tp->v[k].fail = g;
            queue[tail++] = k;
        }
    }
    free(queue);
    return 0;
}

size_t term_prefix_tail(const term_prefix_t *tp, const char *text, size_t len)
{
    const unsigned char *t = (const unsigned char *)text;
    uint32_t s = 0, depth;
    size_t i, p;

    if (tp->off)
        return len;
    for (i = 0; i < len; i++) {
        unsigned char c = fold(t[i]);

        if (c == ' ' && i > 0 && is_blank(t[i - 1]))
            continue;
        for (;;) {
            uint32_t k = child(tp, s, c);
            if (k != 0) {
                s = k;
                break;
            }
            if (s == 0)
                break;
            s = tp->v[s].fail;
        }
    }
    /* back from the end by that many symbols, a run of blanks being one */
    depth = tp->v[s].depth;
    for (p = len; depth > 0 && p > 0; depth--) {
        if (is_blank(t[p - 1])) {
            while (p > 0 && is_blank(t[p - 1]))
                p--;
        } else {
            p--;
        }
    }
    return len - p;
}
