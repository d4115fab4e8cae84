/*
 * Unit tests of the blocklist plugin, compiled in and driven through its
 * ABI with the host's real config accessors. The tests of streams and the
 * brute-force comparison with a reference matcher load the built
 * build/plugins/blocklist.so, the object nginx loads.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "aigov_plugin.h"
#include "plugin_harness.h"
#include "answer.h"
#include "filter.h"
#include "aigov_hs.h"


static char err[512];

static void *create(const char *json)
{
    return plugin_create(json, AIGOV_ACTION_REDACT, err, sizeof(err));
}

static void destroy(void *inst)
{
    aigov_plugin_entry()->destroy(inst);
}

static aigov_verdict_t inspect(void *inst, const char *text)
{
    aigov_verdict_t v;

    memset(&v, 0, sizeof(v));
    assert_int_equal(aigov_plugin_entry()->inspect(inst, NULL, text, strlen(text), &v), 0);
    return v;
}

/* The spans of a verdict as "start-end,..." */
static const char *spans(const aigov_verdict_t *v)
{
    static char s[512];
    size_t i, n = 0;

    s[0] = '\0';
    for (i = 0; i < v->nspans && n < sizeof(s) - 32; i++)
        n += (size_t)sprintf(s + n, "%s%zu-%zu", i ? "," : "", v->spans[i].start, v->spans[i].end);
    return s;
}

static void test_terms(void **state)
{
    void *b = create("{\"terms\":[\"project neptune\",\"ass\",\"c++ (beta)\",\"a.b\"]}");
    aigov_verdict_t v;

    assert_non_null(b);
    v = inspect(b, "We discussed PROJECT Neptune today");
    assert_int_equal(v.kind, AIGOV_REDACT);
    assert_string_equal(spans(&v), "13-28");
    assert_string_equal(v.spans[0].label, "BLOCKLIST");
    assert_string_equal(v.category, "blocklist");
    assert_non_null(v.reason);
    /* literal, not a regex; whole words only */
    assert_int_equal(inspect(b, "a classic passage about bass").kind, AIGOV_ALLOW);
    assert_int_equal(inspect(b, "axb and c+++ (beta)x").kind, AIGOV_ALLOW);
    v = inspect(b, "axb and c++ (beta) and A.B");
    assert_string_equal(spans(&v), "8-18,23-26");
    /* at both edges of the text */
    v = inspect(b, "ass");
    assert_string_equal(spans(&v), "0-3");
    v = inspect(b, "Project neptune, then ASS");
    assert_string_equal(spans(&v), "0-15,22-25");
    /* any run of white space between the words of a term */
    v = inspect(b, "the Project  Neptune plan");
    assert_string_equal(spans(&v), "4-20");
    v = inspect(b, "project\n\tneptune");
    assert_string_equal(spans(&v), "0-16");
    /* near misses */
    assert_int_equal(inspect(b, "project neptunes").kind, AIGOV_ALLOW);
    assert_int_equal(inspect(b, "projectneptune").kind, AIGOV_ALLOW);
    assert_int_equal(inspect(b, "").kind, AIGOV_ALLOW);
    destroy(b);
    /* any white space in a term stands between two words */
    b = create("{\"terms\":[\"\\tblue\\nheron\\r\\n\"]}");
    assert_non_null(b);
    v = inspect(b, "a Blue Heron, a blue\n\nheron; blueheron");
    assert_string_equal(spans(&v), "2-12,16-27");
    destroy(b);
}

static void test_patterns(void **state)
{
    void *b = create("{\"patterns\":[\"codename\\\\s+[a-z]+\",\"a+\",\"\\\\d{4}-\\\\d{4}\"]}");
    aigov_verdict_t v;

    assert_non_null(b);
    v = inspect(b, "the CODENAME   Falcon is 1234-5678");
    assert_string_equal(spans(&v), "4-21,25-34");
    /* many end positions of one match come back as one span */
    v = inspect(b, "xaaaay");
    assert_string_equal(spans(&v), "1-5");
    assert_int_equal(inspect(b, "code word: robin, 123-4567").kind, AIGOV_ALLOW);
    destroy(b);
}

static void test_file(void **state)
{
    char path[] = "/tmp/aigov-blocklist-XXXXXX", cfg[256];
    FILE *f;
    int fd = mkstemp(path);
    void *b;
    aigov_verdict_t v;

    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    fputs("# confidential names\n\n  Atlas Merger  \r\n  # indented note\n \t \nblue heron\n"
          "last line without newline", f);
    fclose(f);
    snprintf(cfg, sizeof(cfg), "{\"file\":\"%s\",\"terms\":[\"zebra\"]}", path);
    b = create(cfg);
    assert_non_null(b);
    v = inspect(b, "the atlas merger and the Blue Heron, a zebra; LAST LINE WITHOUT NEWLINE");
    assert_string_equal(spans(&v), "4-16,25-35,39-44,46-71");
    assert_int_equal(inspect(b, "# confidential names").kind, AIGOV_ALLOW);
    assert_int_equal(inspect(b, "an indented note").kind, AIGOV_ALLOW);
    assert_int_equal(inspect(b, "# indented note").kind, AIGOV_ALLOW);
    destroy(b);
    unlink(path);

    snprintf(cfg, sizeof(cfg), "{\"file\":\"%s\"}", path);
    assert_null(create(cfg));
    assert_non_null(strstr(err, "cannot open file /tmp/aigov-blocklist-"));
}

static void test_config_errors(void **state)
{
    void *b;

    assert_null(create("{\"patterns\":[\"ok\",\"foo(\"]}"));
    assert_non_null(strstr(err, "pattern \"foo(\" does not compile: "));
    assert_null(create("{\"terms\":[\"x\"],\"pattern\":[\"y\"]}"));
    assert_string_equal(err, "unknown key \"pattern\" (blocklist takes: terms, patterns, file)");
    assert_null(create("{}"));
    assert_string_equal(err, "blocklist needs at least one of terms, patterns or file");
    assert_null(create("{\"terms\":[\"  \"]}"));
    assert_string_equal(err, "blocklist needs at least one of terms, patterns or file");
    assert_null(create("{\"terms\":[{\"a\":1}]}"));
    assert_string_equal(err, "terms[0] must be a string");
    assert_null(create("{\"patterns\":[\"\"]}"));
    assert_string_equal(err, "patterns[0] must be a non-empty string");
    /* a string where a list belongs is refused, not read as nothing */
    assert_null(create("{\"terms\":\"project neptune\",\"patterns\":[\"x\"]}"));
    assert_string_equal(err, "terms must be a list, e.g. terms: [\"project neptune\"]");
    assert_null(create("{\"terms\":[\"x\"],\"patterns\":\"codename\\\\s+\\\\w+\"}"));
    assert_string_equal(err, "patterns must be a list, e.g. patterns: [\"codename\\s+\\w+\"]");
    assert_null(create("{\"terms\":[\"x\"],\"file\":[\"/etc/a\",\"/etc/b\"]}"));
    assert_string_equal(err, "file must be one path");
    b = create("{\"terms\":[\"x\"],\"patterns\":[]}");
    assert_non_null(b);
    destroy(b);
    assert_null(create("{\"patterns\":[\"x*\"]}"));    /* matches the empty string */
    assert_non_null(strstr(err, "pattern \"x*\" does not compile"));
}

static void test_benign_corpus(void **state)
{
    void *b = create("{\"terms\":[\"project neptune\",\"ass\",\"confidential merger\",\"dan\"],"
                     "\"patterns\":[\"\\\\bcodename\\\\s+[a-z]+\",\"\\\\b\\\\d{3}-\\\\d{2}-\\\\d{4}\\\\b\"]}");
    FILE *f = fopen("t/unit/corpus/benign.txt", "r");
    char line[1024];
    int n = 0, hits = 0;

    assert_non_null(b);
    assert_non_null(f);
    while (fgets(line, sizeof(line), f)) {
        aigov_verdict_t v = inspect(b, line);
        n++;
        if (v.kind != AIGOV_ALLOW) {
            hits++;
            /* "Dan said ..." is the one line a name term must hit */
            assert_int_equal(strncmp(line, "Dan said", 8), 0);
        }
    }
    fclose(f);
    assert_true(n >= 100);
    assert_int_equal(hits, 1);
    destroy(b);
}

static void test_large_text(void **state)
{
    void *b = create("{\"terms\":[\"needle\"]}");
    size_t n = 4 * 1024 * 1024;
    char *t = malloc(n + 1);
    aigov_verdict_t v;
    size_t i;

    for (i = 0; i < n; i++)
        t[i] = "haystack "[i % 9];
    memcpy(t + n - 7, " needle", 7);
    t[n] = '\0';
    v = inspect(b, t);
    assert_int_equal(v.nspans, 1);
    assert_int_equal(v.spans[0].start, n - 6);
    free(t);
    destroy(b);
}

/* Through the host: a term split over three stream chunks is masked. */
static void test_split_across_chunks(void **state)
{
    aigov_plugin_host_t *h = aigov_host_new();
    json_t *c = json_loads("{\"terms\":[\"project neptune\"]}", 0, NULL);
    aigov_filter_spec_t f = { 0 };
    aigov_answer_t *a;
    const char *in =
        "data: {\"choices\":[{\"delta\":{\"content\":\"about proj\"}}]}\n\n"
        "data: {\"choices\":[{\"delta\":{\"content\":\"ect nep\"}}]}\n\n"
        "data: {\"choices\":[{\"delta\":{\"content\":\"tune, ok\"}}]}\n\n"
        "data: [DONE]\n\n";
    const char *want =
        "data: {\"choices\":[{\"delta\":{\"content\":\"about [REDACTED:BLOCKLIST]\"}}]}\n\n"
        "data: {\"choices\":[{\"delta\":{\"content\":\"\"}}]}\n\n"
        "data: {\"choices\":[{\"delta\":{\"content\":\", ok\"}}]}\n\n"
        "data: [DONE]\n\n";
    const char *out;
    size_t n, i;

    assert_int_equal(aigov_host_load(h, "blocklist", "build/plugins/blocklist.so", err,
                                     sizeof(err)), 0);
    f.inst = aigov_host_instance(h, "blocklist", c, AIGOV_ACTION_REDACT, err, sizeof(err));
    json_decref(c);
    assert_non_null(f.inst);
    f.plugin = "blocklist";
    f.stages = AIGOV_STAGE_RESPONSE;
    f.action = AIGOV_ACTION_REDACT;
    a = aigov_answer_new(AIGOV_EP_CHAT, 1, &f, 1, 0);
    for (i = 0; in[i]; i++)      /* byte by byte */
        assert_int_equal(aigov_answer_feed(a, in + i, 1), 0);
    assert_int_equal(aigov_answer_finish(a), 0);
    out = aigov_answer_output(a, &n);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(out, want, n);
    aigov_answer_free(a);
    aigov_host_instance_free(f.inst);
    aigov_host_free(h);
}

/* ---- every term at every offset, against a reference matcher ---- */

/* The built plugin through the host, as nginx loads it. */
typedef struct {
    aigov_plugin_host_t  *host;
    void                 *fi;
    const aigov_plugin_t *plugin;
    void                 *inst;
} loaded_t;

static void load_terms(loaded_t *l, const char *const *terms, size_t n)
{
    json_t *list = json_array(), *cfg;
    size_t i;

    for (i = 0; i < n; i++)
        json_array_append_new(list, json_string(terms[i]));
    cfg = json_pack("{s:o}", "terms", list);
    l->host = aigov_host_new();
    assert_int_equal(aigov_host_load(l->host, "blocklist", "build/plugins/blocklist.so", err,
                                     sizeof(err)), 0);
    l->fi = aigov_host_instance(l->host, "blocklist", cfg, AIGOV_ACTION_REDACT, err, sizeof(err));
    json_decref(cfg);
    if (l->fi == NULL)
        fail_msg("%s", err);
    l->plugin = aigov_inst_plugin(l->fi);
    l->inst = aigov_inst_state(l->fi);
}

static void unload(loaded_t *l)
{
    aigov_host_instance_free(l->fi);
    aigov_host_free(l->host);
}

static int ref_word(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static int ref_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static unsigned char ref_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* The blocklist as plugins/README.md defines it, tried at every start:
 * ASCII letters in either case, a run of white space in the term for any
 * run of it in the text, a word boundary at an end of the term that is an
 * ASCII letter, digit or '_'. Marks what matches in hit. */
static void ref_mark(const char *term, const char *text, size_t len, unsigned char *hit)
{
    const unsigned char *t = (const unsigned char *)term, *x = (const unsigned char *)text;
    size_t tn = strlen(term), s, i, j;

    while (tn > 0 && ref_space(t[tn - 1]))
        tn--;
    while (tn > 0 && ref_space(t[0])) {
        t++;
        tn--;
    }
    for (s = 0; s < len; s++) {
        if (ref_word(t[0]) && s > 0 && ref_word(x[s - 1]))
            continue;
        for (i = s, j = 0; j < tn; ) {
            if (ref_space(t[j])) {
                while (j < tn && ref_space(t[j]))
                    j++;
                if (i == len || !ref_space(x[i]))
                    break;
                while (i < len && ref_space(x[i]))
                    i++;
            } else if (i < len && ref_lower(x[i]) == ref_lower(t[j])) {
                i++;
                j++;
            } else {
                break;
            }
        }
        if (j < tn || (ref_word(t[tn - 1]) && i < len && ref_word(x[i])))
            continue;
        memset(hit + s, 1, i - s);
    }
}

/* s as a C string literal on stderr, to paste into a reproducer */
static void print_c_string(const char *s, size_t n)
{
    fputc('"', stderr);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(stderr, "\\%c", c);
        else if (c >= 0x20 && c < 0x7f)
            fputc(c, stderr);
        else
            fprintf(stderr, "\\x%02x\"\"", c);
    }
    fputc('"', stderr);
}

/* Fails, saying where, unless the plugin's spans cover exactly the bytes
 * the reference matches. */
static void check_text(const loaded_t *l, const char *const *terms, size_t nterms,
                       const char *text, size_t len)
{
    unsigned char *want = calloc(len + 1, 1), *got = calloc(len + 1, 1);
    aigov_verdict_t v;
    size_t i;

    assert_non_null(want);
    assert_non_null(got);
    for (i = 0; i < nterms; i++)
        ref_mark(terms[i], text, len, want);
    memset(&v, 0, sizeof(v));
    assert_int_equal(l->plugin->inspect(l->inst, NULL, text, len, &v), 0);
    for (i = 0; i < v.nspans; i++) {
        assert_true(v.spans[i].start <= v.spans[i].end && v.spans[i].end <= len);
        memset(got + v.spans[i].start, 1, v.spans[i].end - v.spans[i].start);
    }
    for (i = 0; i < len && want[i] == got[i]; i++)
        ;
    if (i < len) {
        fprintf(stderr, "terms:");
        for (size_t k = 0; k < nterms; k++) {
            fputc(' ', stderr);
            print_c_string(terms[k], strlen(terms[k]));
        }
        fprintf(stderr, "\ntext (%zu bytes): ", len);
        print_c_string(text, len);
        fputc('\n', stderr);
        fail_msg("byte %zu: the reference says %s, the plugin %s", i,
                 want[i] ? "blocked" : "not blocked", got[i] ? "blocked" : "not blocked");
    }
    free(want);
    free(got);
}

/* A term of the set as it may be written in a text: each letter in either
 * case, each run of blanks a run of white space. */
static size_t write_variant(char *out, const char *term)
{
    static const char *const runs[] = { " ", "  ", "\n", "\t", " \r\n ", "\f" };
    size_t n = 0;

    for (const char *p = term; *p; p++) {
        if (*p == ' ' || *p == '\t') {
            const char *r = runs[rnd(6)];

            while (p[1] == ' ' || p[1] == '\t')
                p++;
            memcpy(out + n, r, strlen(r));
            n += strlen(r);
        } else if (*p >= 'a' && *p <= 'z' && rnd(2)) {
            out[n++] = (char)(*p - 32);
        } else {
            out[n++] = *p;
        }
    }
    return n;
}

static const char *const set1[] = { "project neptune" };
static const char *const set2[] = { "project neptune", "merger" };
static const char *const set3[] = { "project neptune", "merger", "deep  secret" };
static const char *const set10[] = {
    "project neptune", "merger", "ass", "c++ (beta)", "a.b", "blue\theron",
    "q3 results", "caf\xc3\xa9 royal", "new york city", "_id"
};
/* an 'e' in the first bytes of every term: with such a set Vectorscan
 * skipped ahead to the first 'e' with its faulty one-byte search */
static const char *const set10e[] = {
    "project neptune", "merger", "secret plan", "eagle eye", "deep state",
    "red team", "endgame", "release notes", "beta test", "1e9 yen"
};

static const struct {
    const char *const *terms;
    size_t n;
} sets[] = {
    { set1, 1 }, { set2, 2 }, { set3, 3 }, { set10, 10 }, { set10e, 10 },
};

/* Each term of each set after a run of letters, punctuation, blanks or
 * multibyte UTF-8 of every length up to 300 bytes, and with something
 * after it that does or does not end the word. The defect it is for:
 * with {"project neptune", "merger"}, "haha...ha project neptune" was
 * not blocked at most lengths past 73 bytes. */
static void test_every_offset(void **state)
{
    static const char *const fills[] = { "ha", "*", " ", "\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac",
                                         "a,b \xc3\xa9\n" };
    static const char *const ends[] = { "", ".", " ok", "s", "_", "\xc3\xa9" };
    char text[512];

    (void)state;
    rng_state = 0x5eed0b10c1157ull;
    for (size_t k = 0; k < sizeof(sets) / sizeof(sets[0]); k++) {
        loaded_t l;

        load_terms(&l, sets[k].terms, sets[k].n);
        for (size_t f = 0; f < sizeof(fills) / sizeof(fills[0]); f++) {
            for (size_t off = 0; off <= 300; off++) {
                const char *fill = fills[f], *end = ends[rnd(6)];
                size_t n = 0, fl = strlen(fill);

                while (n < off) {
                    memcpy(text + n, fill, fl);
                    n += fl;
                }
                text[n++] = ' ';
                n += write_variant(text + n, sets[k].terms[off % sets[k].n]);
                memcpy(text + n, end, strlen(end));
                n += strlen(end);
                check_text(&l, sets[k].terms, sets[k].n, text, n);
            }
        }
        unload(&l);
    }
}

/* Random term sets over a small vocabulary, so terms overlap, repeat and
 * share words, in random texts of those words, blanks and other bytes. */
static void test_random_sets(void **state)
{
    static const char *const words[] = {
        "ab", "ba", "aba", "abab", "x", "proj", "nep", "c+", "q3", "_id", "\xc3\xa9t\xc3\xa9",
        "a.b", "merger", "e"
    };
    static const char *const other[] = { " ", "  ", "\n", "\t", "", ".", "\xc3\xa9", "*", "ha",
                                         "-", "_", "9" };
    char terms_buf[10][64], text[1024];
    const char *terms[10];

    (void)state;
    rng_state = 0xb10c4115700d5ull;
    for (int round = 0; round < 60; round++) {
        size_t nterms = 1 + rnd(10);
        loaded_t l;

        for (size_t t = 0; t < nterms; t++) {
            size_t nw = 1 + rnd(3), n = 0;

            for (size_t w = 0; w < nw; w++) {
                const char *word = words[rnd(sizeof(words) / sizeof(words[0]))];

                if (w > 0)
                    terms_buf[t][n++] = rnd(4) ? ' ' : '\t';
                memcpy(terms_buf[t] + n, word, strlen(word));
                n += strlen(word);
            }
            terms_buf[t][n] = '\0';
            terms[t] = terms_buf[t];
        }
        load_terms(&l, terms, nterms);
        for (int k = 0; k < 100; k++) {
            size_t n = 0, target = rnd(400);

            while (n < target) {
                if (rnd(3) == 0) {
                    n += write_variant(text + n, terms[rnd((unsigned)nterms)]);
                } else {
                    const char *o = rnd(2) ? other[rnd(sizeof(other) / sizeof(other[0]))]
                                           : words[rnd(sizeof(words) / sizeof(words[0]))];
                    memcpy(text + n, o, strlen(o));
                    n += strlen(o);
                }
            }
            check_text(&l, terms, nterms, text, n);
        }
        unload(&l);
    }
}

/* Patterns after prefixes of every length up to 300 bytes
 * (plugin_harness.h). Patterns are compiled as they are, and Vectorscan
 * builds a small engine for a short one that skips ahead with its
 * one-byte search: on the AVX-512 runtime of libvectorscan 5.4.9,
 * "ha" x 40 + " x is here" was not blocked by \bx\b, nor were x\b, \be\b, x+, #\w+,
 * guard literals or not. aigov_hs.h scans with the AVX2 runtime there. */
static void test_patterns_every_offset(void **state)
{
    static const struct {
        const char *config, *found;
    } cases[] = {
        { "{\"patterns\":[\"\\\\bx\\\\b\"]}", "x" },
        { "{\"patterns\":[\"x\\\\b\"]}", "x" },
        { "{\"patterns\":[\"\\\\be\\\\b\"]}", "e" },
        { "{\"patterns\":[\"x+\"]}", "xxx" },
        { "{\"patterns\":[\"#\\\\w+\"]}", "#tag" },
        { "{\"patterns\":[\"\\\\bq\\\\d\\\\b\"]}", "q3" },
        { "{\"patterns\":[\"\\\\d{4}-\\\\d{4}\"]}", "1234-5678" },
        { "{\"patterns\":[\"codename\\\\s+\\\\w+\"]}", "codename falcon" },
        { "{\"terms\":[\"project neptune\",\"merger\"],\"patterns\":[\"\\\\bzz\\\\b\"]}", "zz" },
        { "{\"terms\":[\"project neptune\",\"merger\"],\"patterns\":[\"\\\\bzz\\\\b\"]}",
          "Project  Neptune" },
    };
    size_t n = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        built_plugin_t l;

        built_load(&l, "blocklist", cases[i].config);
        n += check_every_offset(&l, cases[i].found);
        built_unload(&l);
    }
    assert_true(n > 10 * 3 * 1000);
}

static int count_match(unsigned int id, unsigned long long from, unsigned long long to,
                       unsigned int flags, void *ctx)
{
    (void)id;
    (void)from;
    (void)to;
    (void)flags;
    (*(size_t *)ctx)++;
    return 0;
}

/* The library itself: \bx\b after "ha" of every length up to 300, by
 * hs_scan as the library picks its runtime, and by aigov_hs.h. Wherever
 * the library's own choice misses, aigov_hs.h must have chosen another
 * runtime, and nothing may be missed through it. The count of misses says
 * whether an installed Vectorscan still has the fault. */
static void test_hs_runtime(void **state)
{
    const char *expr[] = { "\\bx\\b" };
    unsigned flags[] = { HS_FLAG_CASELESS }, ids[] = { 0 };
    hs_database_t *host = NULL, *ours = NULL;
    hs_compile_error_t *cerr = NULL;
    hs_scratch_t *scratch = NULL;
    size_t lib_missed = 0, our_missed = 0;
    char text[400];

    (void)state;
    assert_int_equal(hs_compile_multi(expr, flags, ids, 1, HS_MODE_BLOCK, NULL, &host, &cerr),
                     HS_SUCCESS);
    assert_int_equal(aigov_hs_compile_multi(expr, flags, ids, 1, HS_MODE_BLOCK, &ours, &cerr),
                     HS_SUCCESS);
    assert_int_equal(hs_alloc_scratch(host, &scratch), HS_SUCCESS);
    assert_int_equal(hs_alloc_scratch(ours, &scratch), HS_SUCCESS);
    for (size_t off = 0; off <= 300; off++) {
        size_t n, lib = 0, our = 0;

        for (n = 0; n < off; n++)
            text[n] = "ha"[n % 2];
        memcpy(text + n, " x .", 4);
        n += 4;
        assert_int_equal(hs_scan(host, text, (unsigned)n, 0, scratch, count_match, &lib),
                         HS_SUCCESS);
        assert_int_equal(aigov_hs_scan(ours, text, (unsigned)n, 0, scratch, count_match, &our),
                         HS_SUCCESS);
        lib_missed += lib != 1;
        our_missed += our != 1;
    }
    print_message("libhs %s: hs_scan missed \\bx\\b in %zu of 301 texts; aigov_hs.h scans "
                  "with %s\n", hs_version(), lib_missed,
                  aigov_hs_avoids_avx512() ? "avx2_hs_scan" : "hs_scan");
    assert_int_equal(our_missed, 0);
    if (lib_missed > 0)
        assert_true(aigov_hs_avoids_avx512());
    hs_free_scratch(scratch);
    hs_free_database(host);
    hs_free_database(ours);
}

/* Through the host's stream windows: 100 times "ha" and the term, cut in
 * two events at every place, is masked whole. */
static void test_stream_after_long_prefix(void **state)
{
    aigov_plugin_host_t *h = aigov_host_new();
    json_t *c = json_loads("{\"terms\":[\"project neptune\",\"merger\"]}", 0, NULL);
    aigov_filter_spec_t f = { 0 };
    char content[256], ev[512];
    size_t n, cut, len;

    (void)state;
    n = 0;
    for (int i = 0; i < 100; i++, n += 2)
        memcpy(content + n, "ha", 2);
    memcpy(content + n, " project neptune", 17);
    len = strlen(content);
    assert_int_equal(aigov_host_load(h, "blocklist", "build/plugins/blocklist.so", err,
                                     sizeof(err)), 0);
    f.inst = aigov_host_instance(h, "blocklist", c, AIGOV_ACTION_REDACT, err, sizeof(err));
    json_decref(c);
    assert_non_null(f.inst);
    f.plugin = "blocklist";
    f.stages = AIGOV_STAGE_RESPONSE;
    f.action = AIGOV_ACTION_REDACT;
    for (cut = 0; cut <= len; cut++) {
        aigov_answer_t *a = aigov_answer_new(AIGOV_EP_CHAT, 1, &f, 1, 0);
        const char *out;
        char *copy;
        size_t outlen;

        snprintf(ev, sizeof(ev), "data: {\"choices\":[{\"delta\":{\"content\":\"%.*s\"}}]}\n\n",
                 (int)cut, content);
        assert_int_equal(aigov_answer_feed(a, ev, strlen(ev)), 0);
        snprintf(ev, sizeof(ev), "data: {\"choices\":[{\"delta\":{\"content\":\"%s\"}}]}\n\n"
                 "data: [DONE]\n\n", content + cut);
        assert_int_equal(aigov_answer_feed(a, ev, strlen(ev)), 0);
        assert_int_equal(aigov_answer_finish(a), 0);
        out = aigov_answer_output(a, &outlen);
        copy = strndup(out, outlen);
        if (strstr(copy, "[REDACTED:BLOCKLIST]") == NULL || strstr(copy, "nep") != NULL)
            fail_msg("cut at %zu: %s", cut, copy);
        free(copy);
        aigov_answer_free(a);
    }
    aigov_host_instance_free(f.inst);
    aigov_host_free(h);
}

/* tail(): the longest end that begins a term, in any case and with any
 * run of blanks between its words; all of it with patterns. */
static void test_tail(void **state)
{
    void *b = create("{\"terms\":[\"project neptune\",\"acme merger\",\"aaab\"]}");
    void *p = create("{\"terms\":[\"x\"],\"patterns\":[\"code\\\\s+\\\\w+\"]}");
    char *run;

    (void)state;
    assert_non_null(b);
    assert_non_null(p);
    assert_int_equal(plugin_tail(b, NULL, "nothing here"), 0);
    assert_int_equal(plugin_tail(b, NULL, "about the proj"), 4);
    assert_int_equal(plugin_tail(b, NULL, "about the PROJECT"), 7);
    assert_int_equal(plugin_tail(b, NULL, "about the Project  \n Nep"),
                     strlen("Project  \n Nep"));
    assert_int_equal(plugin_tail(b, NULL, "about the project "), strlen("project "));
    assert_int_equal(plugin_tail(b, NULL, "the project neptune"), strlen("project neptune"));
    assert_int_equal(plugin_tail(b, NULL, "the projects"), 0);
    assert_int_equal(plugin_tail(b, NULL, "an acme m"), strlen("acme m"));
    assert_int_equal(plugin_tail(b, NULL, ""), 0);
    /* adversarial: a long run of a term's first letter keeps three */
    run = repeat("a", 5000);
    assert_int_equal(plugin_tail(b, NULL, run), 3);
    free(run);
    run = repeat("project ", 4000);
    assert_int_equal(plugin_tail(b, NULL, run), strlen("project "));
    free(run);
    assert_int_equal(plugin_tail(p, NULL, "hello"), 5);
    destroy(b);
    destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tail),
        cmocka_unit_test(test_terms),
        cmocka_unit_test(test_patterns),
        cmocka_unit_test(test_file),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_benign_corpus),
        cmocka_unit_test(test_large_text),
        cmocka_unit_test(test_split_across_chunks),
        cmocka_unit_test(test_every_offset),
        cmocka_unit_test(test_random_sets),
        cmocka_unit_test(test_patterns_every_offset),
        cmocka_unit_test(test_hs_runtime),
        cmocka_unit_test(test_stream_after_long_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
