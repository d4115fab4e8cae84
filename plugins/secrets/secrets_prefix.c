/*
 * secrets_prefix.c: where a credential may start. Every parser in
 * secrets_detect.c first checks a fixed word at its start position ("AKIA",
 * "sk-", "eyJ", "Bearer", "Password=", "postgres://"...), so one Vectorscan
 * pass over those words finds every position worth a closer look, and the
 * parsers run only there: ordinary prose holds almost none of them.
 *
 * The list must name every word a parser accepts at its start; a parser
 * given a new prefix needs it added here (the unit test compares the scan
 * with the old one that looked at every byte).
 */

#include "secrets.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aigov_hs.h"

static const struct {
    const char  *word;
    int          caseless;
} prefixes[] = {
    /* try_specific: exact case */
    {"AKIA", 0}, {"ASIA", 0}, {"ABIA", 0}, {"ACCA", 0}, {"AIza", 0},
    {"sk-", 0}, {"sk_live_", 0}, {"rk_live_", 0},
    {"github_pat_", 0}, {"ghp_", 0}, {"gho_", 0}, {"ghu_", 0}, {"ghs_", 0}, {"ghr_", 0},
    {"xapp-", 0}, {"xoxa-", 0}, {"xoxb-", 0}, {"xoxp-", 0}, {"xoxr-", 0}, {"xoxs-", 0},
    {"xoxe-", 0}, {"ya29.", 0}, {"eyJ", 0}, {"-----BEGIN ", 0},
    /* try_at: any case */
    {"aws", 1}, {"secret_access_key", 1}, {"secretaccesskey", 1},
    {"accountkey=", 1}, {"sharedaccesskey=", 1}, {"bearer", 1},
    {"password=", 1}, {"pwd=", 1},
    {"postgresql://", 1}, {"postgres://", 1}, {"mysql://", 1}, {"mariadb://", 1},
    {"mongodb+srv://", 1}, {"mongodb://", 1}, {"rediss://", 1}, {"redis://", 1},
    {"amqps://", 1}, {"amqp://", 1},
};
#define NPREFIXES (sizeof(prefixes) / sizeof(prefixes[0]))

struct sec_finder_s {
    hs_database_t  *db;
    hs_scratch_t   *scratch;
    size_t          wlen[NPREFIXES];
    size_t         *at;         /* start positions found by one scan */
    size_t          n;
    size_t          cap;
    int             oom;
};

sec_finder_t *sec_finder_new(char *err, size_t errlen)
{
    const char *expr[NPREFIXES];
    unsigned flags[NPREFIXES], ids[NPREFIXES];
    hs_compile_error_t *cerr = NULL;
    sec_finder_t *f = calloc(1, sizeof(*f));

    if (f == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (size_t k = 0; k < NPREFIXES; k++) {
        expr[k] = prefixes[k].word;
        f->wlen[k] = strlen(prefixes[k].word);
        flags[k] = prefixes[k].caseless ? HS_FLAG_CASELESS : 0;
        ids[k] = (unsigned)k;
    }
    if (aigov_hs_compile_lit_multi(expr, flags, ids, f->wlen, NPREFIXES, HS_MODE_BLOCK,
                                   &f->db, &cerr) != HS_SUCCESS) {
        snprintf(err, errlen, "built-in prefix %d does not compile: %s",
                 cerr ? cerr->expression : -1, cerr ? cerr->message : "unknown error");
        hs_free_compile_error(cerr);
        free(f);
        return NULL;
    }
    if (hs_alloc_scratch(f->db, &f->scratch) != HS_SUCCESS) {
        snprintf(err, errlen, "cannot allocate Vectorscan scratch space");
        sec_finder_free(f);
        return NULL;
    }
    return f;
}

void sec_finder_free(sec_finder_t *f)
{
    if (f == NULL)
        return;
    hs_free_scratch(f->scratch);
    hs_free_database(f->db);
    free(f->at);
    free(f);
}

static int on_prefix(unsigned int id, unsigned long long from, unsigned long long to,
                     unsigned int flags, void *ctx)
{
    sec_finder_t *f = ctx;

    (void)from;
    (void)flags;
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 64;
        size_t *v = realloc(f->at, cap * sizeof(*v));
        if (v == NULL) {
            f->oom = 1;
            return 1;               /* stop the scan */
        }
        f->at = v;
        f->cap = cap;
    }
    f->at[f->n++] = (size_t)to - f->wlen[id];
    return 0;
}

/* Matches come in order of their end; words differ in length, so their
 * starts are nearly but not quite in order. */
static void sort_unique(sec_finder_t *f)
{
    size_t i, j, o;

    for (i = 1; i < f->n; i++) {
        size_t v = f->at[i];
        for (j = i; j > 0 && f->at[j - 1] > v; j--)
            f->at[j] = f->at[j - 1];
        f->at[j] = v;
    }
    for (i = 0, o = 0; i < f->n; i++)
        if (o == 0 || f->at[o - 1] != f->at[i])
            f->at[o++] = f->at[i];
    f->n = o;
}

int sec_finder_run(sec_finder_t *f, const char *text, size_t len,
                   const size_t **at, size_t *n)
{
    f->n = 0;
    f->oom = 0;
    if (len > UINT_MAX)
        return -1;
    if (aigov_hs_scan(f->db, text, (unsigned)len, 0, f->scratch, on_prefix, f) != HS_SUCCESS &&
        !f->oom)
        return -1;
    if (f->oom)
        return -1;
    sort_unique(f);
    *at = f->at;
    *n = f->n;
    return 0;
}

int sec_prefix_at(const char *text, size_t len, size_t i)
{
    for (size_t k = 0; k < NPREFIXES; k++) {
        const char *w = prefixes[k].word;
        size_t n = strlen(w), j;

        if (len - i < n)
            n = len - i;
        for (j = 0; j < n; j++) {
            int a = (unsigned char)text[i + j], b = (unsigned char)w[j];
            if (prefixes[k].caseless && a >= 'A' && a <= 'Z')
                a += 32;
            if (a != b)
                break;
        }
        if (j == n && n > 0)
            return 1;
    }
    return 0;
}
