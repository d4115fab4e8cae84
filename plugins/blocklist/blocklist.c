/*
 * blocklist: terms and regular expressions, case-insensitive, all matched
 * in one pass over the text with Vectorscan.
 *
 *     config:
 *       terms: ["project neptune", "acme merger"]   # literal, whole words
 *       patterns: ["codename\\s+\\w+"]              # regular expressions
 *       file: /etc/aigov/blocklist.txt              # one term per line, '#' comments
 *
 * A term goes into the same database as the patterns as the bare literal
 * of its first word; on_match() then reads the rest in the text: the word
 * boundaries (a term that begins or ends with a letter or digit only
 * matches there, so "ass" does not hit "class") and the later words, each
 * after a run of white space. Spans are labelled BLOCKLIST.
 *
 * Why not the whole term as one expression (\bproject\s+neptune\b): the
 * AVX-512 vermicelli of Vectorscan 5.4.9, its search for one byte, misses
 * the byte in the last partial 64 bytes of a range longer than 64, and
 * Vectorscan picks that runtime on CPUs that have AVX-512. Its engines use
 * vermicelli to skip ahead: the DFA it makes of a short pattern like
 * \bx\b, and the literal matcher when one byte is in the first 16 of every
 * literal (the 'e' of "project" and "merger"); both lost terms past about
 * 70 bytes into a text. Bare literals go to the literal matcher alone, and
 * two guard literals keep it from choosing vermicelli (GUARD_A).
 *
 * Patterns reach those small engines whatever the guards (\bx\b, x\b,
 * x+ with start of match), so on a CPU with AVX-512 the database is
 * compiled for and scanned by Vectorscan's AVX2 runtime (aigov_hs.h).
 * The guards stay, and keep terms right with a libhs where that runtime
 * cannot be called.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aigov_hs.h"

#include "aigov_plugin.h"
#include "term_prefix.h"

#define MAX_EXPR      100000     /* terms + patterns */
#define MAX_LINE      4096       /* bytes of one term in the file */
#define MAX_SPANS     4096       /* beyond this the last span grows */

/*
 * No byte is in both guards, not even with the case bit cleared, so no
 * byte is in every literal, whatever the terms, and the literal matcher
 * skips ahead with shufti or truffle, which are right. F8 to FF never
 * occur in UTF-8; on_match() drops a guard's match anyway.
 */
#define GUARD_A       "\\xf8\\xf9\\xfa\\xfb"
#define GUARD_B       "\\xfc\\xfd\\xfe\\xff"

/* What on_match() checks of a term once Vectorscan found its first word. */
typedef struct {
    size_t          first;      /* bytes of the first word; 0: a pattern */
    char           *rest;       /* the later words: " neptune", or "" */
    int             word_start; /* a word boundary before the term */
    int             word_end;   /* and after it */
} term_t;

typedef struct {
    hs_database_t        *db;
    hs_scratch_t         *scratch;
    term_t               *term;     /* by expression id */
    size_t                nexpr;    /* terms and patterns; the guards follow */
    const unsigned char  *text;     /* being scanned, for on_match() */
    size_t                len;
    aigov_span_t         *spans;
    size_t                nspans, cap;
    term_prefix_t        *prefix;   /* for tail(): what may begin a term */
} blocklist_t;

typedef struct {
    char          **expr;       /* what Vectorscan compiles */
    char          **shown;      /* what an error message names */
    term_t         *term;
    size_t          n, cap;
    term_prefix_t  *prefix;     /* the terms again, for tail() */
} exprs_t;

/* what Vectorscan's \b takes for a word character */
static int is_word(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
           || c == '_';
}

/* what Vectorscan's \s takes for white space */
static int is_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* HS_FLAG_CASELESS folds ASCII letters only */
static unsigned char lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

static void terms_free(term_t *term, size_t n)
{
    size_t i;

    for (i = 0; term != NULL && i < n; i++)
        free(term[i].rest);
    free(term);
}

static void exprs_free(exprs_t *e)
{
    size_t i;

    for (i = 0; i < e->n; i++) {
        free(e->expr[i]);
        free(e->shown[i]);
    }
    free(e->expr);
    free(e->shown);
    terms_free(e->term, e->n);
    term_prefix_free(e->prefix);
}

/* Takes expr and t.rest, also when it fails (out of memory). */
static int exprs_push(exprs_t *e, char *expr, const char *shown, term_t t)
{
    char *s;

    if (expr == NULL || (t.first != 0 && t.rest == NULL))
        goto fail;
    if (e->n == e->cap) {
        size_t cap = e->cap ? 2 * e->cap : 16;
        char **a;
        term_t *k;

        if ((a = realloc(e->expr, cap * sizeof(*a))) == NULL)
            goto fail;
        e->expr = a;
        if ((a = realloc(e->shown, cap * sizeof(*a))) == NULL)
            goto fail;
        e->shown = a;
        if ((k = realloc(e->term, cap * sizeof(*k))) == NULL)
            goto fail;
        e->term = k;
        e->cap = cap;
    }
    if ((s = strdup(shown)) == NULL)
        goto fail;
    e->expr[e->n] = expr;
    e->shown[e->n] = s;
    e->term[e->n] = t;
    e->n++;
    return 0;

fail:
    free(expr);
    free(t.rest);
    return -1;
}

/* The bytes t[0..n) as a regular expression matching just them. */
static char *literal(const char *t, size_t n)
{
    char *r = malloc(4 * n + 1), *p = r;
    size_t i;

    if (r == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            *p++ = (char)c;
        else
            p += sprintf(p, "\\x%02x", c);
    }
    *p = '\0';
    return r;
}

/* The words of t[0..n) after the first, as term_end() reads them: in lower
 * case, one blank for each run of white space (" neptune"). */
static char *later_words(const char *t, size_t n)
{
    char *r = malloc(n + 1), *p = r;
    size_t i;

    if (r == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if (!is_blank(c))
            *p++ = (char)lower(c);
        else if (i == 0 || !is_blank((unsigned char)t[i - 1]))
            *p++ = ' ';
    }
    *p = '\0';
    return r;
}

/* Where a term ends whose first word Vectorscan found at [from, to) of the
 * text, or 0 when it is not there: a word boundary where the term needs
 * one, and its later words, each after a run of white space. A word holds
 * no white space, so a run is taken whole, with no backtracking. */
static size_t term_end(const blocklist_t *b, const term_t *t, size_t from, size_t to)
{
    const unsigned char *r = (const unsigned char *)t->rest, *x = b->text;
    size_t i = to;

    if (t->word_start && from > 0 && is_word(x[from - 1]))
        return 0;
    for (; *r != '\0'; r++) {
        if (i == b->len)
            return 0;
        if (*r == ' ') {
            if (!is_blank(x[i]))
                return 0;
            while (i < b->len && is_blank(x[i]))
                i++;
        } else if (lower(x[i++]) != *r) {
            return 0;
        }
    }
    if (t->word_end && i < b->len && is_word(x[i]))
        return 0;
    return i;
}

/* White space at the start of t[0..n). */
static size_t leading_blanks(const char *t, size_t n)
{
    size_t k = 0;

    while (k < n && is_blank((unsigned char)t[k]))
        k++;
    return k;
}

/* Any white space inside a term stands for any run of it in the text:
 * "project neptune" also catches "Project  Neptune" and a line break. */
static int add_term(exprs_t *e, const char *t, size_t n, char *err, size_t errlen)
{
    char shown[80];
    size_t k = leading_blanks(t, n), w;
    term_t term;

    t += k;
    n -= k;
    while (n > 0 && is_blank((unsigned char)t[n - 1]))
        n--;
    if (n == 0)
        return 0;
    if (e->n >= MAX_EXPR) {
        snprintf(err, errlen, "more than %d terms and patterns", MAX_EXPR);
        return -1;
    }
    for (w = 0; w < n && !is_blank((unsigned char)t[w]); w++)
        ;
    term.first = w;
    term.rest = later_words(t + w, n - w);
    term.word_start = is_word((unsigned char)t[0]);
    term.word_end = is_word((unsigned char)t[n - 1]);
    snprintf(shown, sizeof(shown), "term \"%.*s\"", (int)(n > 60 ? 60 : n), t);
    if (exprs_push(e, literal(t, w), shown, term) != 0
        || term_prefix_add(e->prefix, t, n) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static int read_file(exprs_t *e, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    char line[MAX_LINE + 2];
    size_t k;
    unsigned lineno = 0;

    if (f == NULL) {
        snprintf(err, errlen, "cannot open file %s: %s", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        size_t n = strlen(line);

        lineno++;
        if (n > 0 && line[n - 1] == '\n')
            n--;
        else if (!feof(f)) {
            snprintf(err, errlen, "%s:%u: line longer than %d bytes", path, lineno, MAX_LINE);
            fclose(f);
            return -1;
        }
        if (n > 0 && line[n - 1] == '\r')
            n--;
        if (memchr(line, '\0', n) != NULL) {
            snprintf(err, errlen, "%s:%u: NUL byte in a term", path, lineno);
            fclose(f);
            return -1;
        }
        /* an indented '#' starts a comment too: as a term it would be
         * "# note", which nobody means */
        k = leading_blanks(line, n);
        if (k == n || line[k] == '#')
            continue;
        if (add_term(e, line, n, err, errlen) != 0) {
            fclose(f);
            return -1;
        }
    }
    if (ferror(f)) {
        snprintf(err, errlen, "cannot read file %s", path);
        fclose(f);
        return -1;
    }
    fclose(f);
    return 0;
}

static void blocklist_destroy(void *inst)
{
    blocklist_t *b = inst;

    if (b == NULL)
        return;
    hs_free_scratch(b->scratch);
    hs_free_database(b->db);
    free(b->spans);
    term_prefix_free(b->prefix);
    terms_free(b->term, b->nexpr);
    free(b);
}

/* 0, with the message in err, when key holds one string instead of a list. */
static int is_list_if_set(const aigov_config_api_t *api, const aigov_config_t *cfg,
                          const char *key, char *err, size_t errlen)
{
    const char *one = api->string(cfg, key);

    if (api->list_len(cfg, key) == 0 && one != NULL) {
        snprintf(err, errlen, "%s must be a list, e.g. %s: [\"%.60s\"]", key, key, one);
        return 0;
    }
    return 1;
}

static void *blocklist_create(const aigov_config_api_t *api, const aigov_config_t *cfg,
                              aigov_action_t action, char *err, size_t errlen)
{
    exprs_t e = { 0 };
    blocklist_t *b = NULL;
    unsigned *flags = NULL, *ids = NULL;
    hs_compile_error_t *cerr = NULL;
    const char *file;
    term_t none = { 0 };
    size_t i, n, nexpr;

    (void)action;
    for (i = 0; i < api->nkeys(cfg); i++) {
        const char *k = api->key(cfg, i);
        if (strcmp(k, "terms") != 0 && strcmp(k, "patterns") != 0 && strcmp(k, "file") != 0) {
            snprintf(err, errlen, "unknown key \"%s\" (blocklist takes: terms, patterns, file)", k);
            return NULL;
        }
    }
    /* a string where a list belongs (or a list for the file) would
     * otherwise be read as nothing at all */
    if (!is_list_if_set(api, cfg, "terms", err, errlen)
        || !is_list_if_set(api, cfg, "patterns", err, errlen))
        return NULL;
    if ((e.prefix = term_prefix_new()) == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (i = 0; i < api->nkeys(cfg); i++) {
        if (strcmp(api->key(cfg, i), "file") == 0 && api->string(cfg, "file") == NULL) {
            snprintf(err, errlen, "file must be one path");
            goto fail;
        }
    }
    n = api->list_len(cfg, "terms");
    for (i = 0; i < n; i++) {
        const char *t = api->list_item(cfg, "terms", i);
        if (t == NULL) {
            snprintf(err, errlen, "terms[%zu] must be a string", i);
            goto fail;
        }
        if (add_term(&e, t, strlen(t), err, errlen) != 0)
            goto fail;
    }
    file = api->string(cfg, "file");
    if (file != NULL && read_file(&e, file, err, errlen) != 0)
        goto fail;
    n = api->list_len(cfg, "patterns");
    for (i = 0; i < n; i++) {
        const char *p = api->list_item(cfg, "patterns", i);
        char shown[100];

        if (p == NULL || p[0] == '\0') {
            snprintf(err, errlen, "patterns[%zu] must be a non-empty string", i);
            goto fail;
        }
        if (e.n >= MAX_EXPR) {
            snprintf(err, errlen, "more than %d terms and patterns", MAX_EXPR);
            goto fail;
        }
        snprintf(shown, sizeof(shown), "pattern \"%.80s\"", p);
        term_prefix_off(e.prefix);
        if (exprs_push(&e, strdup(p), shown, none) != 0) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    if (e.n == 0) {
        snprintf(err, errlen, "blocklist needs at least one of terms, patterns or file");
        goto fail;
    }
    nexpr = e.n;
    if (exprs_push(&e, strdup(GUARD_A), "a guard", none) != 0
        || exprs_push(&e, strdup(GUARD_B), "a guard", none) != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }

    flags = malloc(e.n * sizeof(*flags));
    ids = malloc(e.n * sizeof(*ids));
    b = calloc(1, sizeof(*b));
    if (flags == NULL || ids == NULL || b == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (i = 0; i < e.n; i++) {
        /* a literal's start is its end less its length */
        if (i >= nexpr)
            flags[i] = 0;
        else if (e.term[i].first != 0)
            flags[i] = HS_FLAG_CASELESS;
        else
            flags[i] = HS_FLAG_CASELESS | HS_FLAG_SOM_LEFTMOST;
        ids[i] = (unsigned)i;
    }
    if (aigov_hs_compile_multi((const char *const *)e.expr, flags, ids, (unsigned)e.n,
                               HS_MODE_BLOCK, &b->db, &cerr) != HS_SUCCESS) {
        if (cerr != NULL && cerr->expression >= 0 && (size_t)cerr->expression < e.n)
            snprintf(err, errlen, "%s does not compile: %s",
                     e.shown[cerr->expression], cerr->message);
        else
            snprintf(err, errlen, "the blocklist does not compile: %s",
                     cerr ? cerr->message : "unknown error");
        hs_free_compile_error(cerr);
        goto fail;
    }
    if (hs_alloc_scratch(b->db, &b->scratch) != HS_SUCCESS) {
        snprintf(err, errlen, "cannot allocate Vectorscan scratch space");
        goto fail;
    }
    if (term_prefix_build(e.prefix) != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    b->prefix = e.prefix;
    e.prefix = NULL;
    b->term = e.term;
    b->nexpr = nexpr;
    e.term = NULL;
    free(flags);
    free(ids);
    exprs_free(&e);
    return b;

fail:
    free(flags);
    free(ids);
    exprs_free(&e);
    blocklist_destroy(b);
    return NULL;
}

/* Matches arrive by end offset (a term's by the end of its first word);
 * overlapping ones are merged on the way so a pattern like "a+" does not
 * give a span per end position. */
static int on_match(unsigned int id, unsigned long long from, unsigned long long to,
                    unsigned int flags, void *ctx)
{
    blocklist_t *b = ctx;
    aigov_span_t *last = b->nspans ? &b->spans[b->nspans - 1] : NULL;
    const term_t *t;

    (void)flags;
    if (id >= b->nexpr)
        return 0;                       /* a guard */
    t = &b->term[id];
    if (t->first != 0) {
        from = to - t->first;
        to = term_end(b, t, (size_t)from, (size_t)to);
        if (to == 0)
            return 0;
    }
    if (last != NULL && (from <= last->end || b->nspans == MAX_SPANS)) {
        if (from < last->start)
            last->start = (size_t)from;
        if (to > last->end)
            last->end = (size_t)to;
        return 0;
    }
    if (b->nspans == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 16;
        aigov_span_t *s = realloc(b->spans, cap * sizeof(*s));
        if (s == NULL)
            return 1;   /* stops the scan; inspect reports the error */
        b->spans = s;
        b->cap = cap;
    }
    b->spans[b->nspans].start = (size_t)from;
    b->spans[b->nspans].end = (size_t)to;
    b->spans[b->nspans].label = "BLOCKLIST";
    b->nspans++;
    return 0;
}

static int blocklist_inspect(void *inst, void *stream, const char *text, size_t len,
                             aigov_verdict_t *out)
{
    blocklist_t *b = inst;
    hs_error_t rc;

    (void)stream;
    b->nspans = 0;
    if (len > UINT_MAX)
        return -1;
    b->text = (const unsigned char *)text;
    b->len = len;
    rc = aigov_hs_scan(b->db, text, (unsigned)len, 0, b->scratch, on_match, b);
    if (rc != HS_SUCCESS)
        return -1;     /* only our own callback stops the scan: out of memory */
    if (b->nspans == 0)
        return 0;
    out->kind = AIGOV_REDACT;
    out->spans = b->spans;
    out->nspans = b->nspans;
    out->reason = "the text contains a blocked term";
    out->category = "blocklist";
    return 0;
}

/* In a stream: the longest end of the text that begins a term (a term in
 * progress, split across pieces), or all of it when patterns are set. */
static size_t blocklist_tail(void *inst, void *stream, const char *text, size_t len)
{
    blocklist_t *b = inst;

    (void)stream;
    return term_prefix_tail(b->prefix, text, len);
}

static const aigov_plugin_t blocklist_plugin = {
    .abi_version = AIGOV_PLUGIN_ABI_VERSION,
    .name = "blocklist",
    .version = "1.0",
    .create = blocklist_create,
    .destroy = blocklist_destroy,
    .inspect = blocklist_inspect,
    .tail = blocklist_tail,
};

AIGOV_PLUGIN_EXPORT const aigov_plugin_t *aigov_plugin_entry(void)
{
    return &blocklist_plugin;
}
