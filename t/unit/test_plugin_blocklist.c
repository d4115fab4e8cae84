/*
 * Unit tests of the blocklist plugin, compiled in and driven through its
 * ABI with the host's real config accessors; one test loads the built
 * build/plugins/blocklist.so to check matches split across stream chunks.
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
