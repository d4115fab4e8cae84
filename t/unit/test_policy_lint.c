/* Unit tests of lib/policy warnings (policy_lint.c) and of model names. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "policy.h"
#include "policy_glob.h"

#define HEAD "version: 1\ndefault: deny\nrules:\n"

static aigov_policy_t *must_load(const char *text)
{
    char *errors = NULL;
    aigov_policy_t *p = aigov_policy_load_mem("p.yaml", text, strlen(text), NULL, NULL, NULL,
                                              &errors);
    if (!p)
        print_error("unexpected errors:\n%s", errors);
    assert_non_null(p);
    assert_null(errors);
    return p;
}

/* The policy loads, with exactly these warnings ("" for none). */
static void expect_warnings(const char *text, const char *want)
{
    aigov_policy_t *p = must_load(text);
    const char *got = aigov_policy_warnings(p);

    if (strcmp(got ? got : "", want) != 0)
        print_error("policy:\n%s\nwant:\n%sgot:\n%s\n", text, want, got ? got : "(none)\n");
    assert_string_equal(got ? got : "", want);
    aigov_policy_free(p);
}

static void test_example_has_none(void **state)
{
    char *errors = NULL;
    aigov_policy_t *p = aigov_policy_load("policies/example.yaml", NULL, NULL, NULL, &errors);
    (void) state;

    assert_non_null(p);
    if (aigov_policy_warnings(p))
        print_error("%s", aigov_policy_warnings(p));
    assert_null(aigov_policy_warnings(p));
    assert_int_equal(aigov_policy_warning_count(p), 0);
    aigov_policy_free(p);
}

static void test_unreachable(void **state)
{
    (void) state;
    /* the issue's example: a broad deny before a narrower allow */
    expect_warnings(HEAD
        "  - name: interns-deny\n    when: {groups: [interns]}\n    decision: deny\n"
        "  - name: interns-mini\n    when: {groups: [interns], models: [gpt-4o-mini]}\n"
        "    decision: allow\n",
        "p.yaml:7:5: warning: rule 'interns-mini' can never match: rule 'interns-deny' "
        "(p.yaml:4:5) comes before it and denies every request it would match\n");
    /* a rule with no conditions takes everything after it; the first
     * rule that covers is named, once */
    expect_warnings(HEAD
        "  - {name: all, decision: allow}\n"
        "  - {name: b, decision: deny, when: {subjects: [\"svc-*\"]}}\n"
        "  - {name: c, decision: deny, when: {claims: {t: [a, b]}, endpoints: [/v1/models]}}\n",
        "p.yaml:5:5: warning: rule 'b' can never match: rule 'all' (p.yaml:4:5) comes before it "
        "and allows every request it would match\n"
        "p.yaml:6:5: warning: rule 'c' can never match: rule 'all' (p.yaml:4:5) comes before it "
        "and allows every request it would match\n");
    /* wider groups, a prefix glob, a claim with more values: all cover */
    expect_warnings(HEAD
        "  - {name: a, decision: allow, when: {groups: [x, y], models: [\"gpt-4o*\"],"
        " claims: {t: [a, b]}, endpoints: [\"*/chat/completions\"]}}\n"
        "  - {name: b, decision: deny, when: {groups: [y], models: [\"gpt-4o-mini*\", gpt-4o],"
        " claims: {t: a, r: eu}, endpoints: [/v1/chat/completions]}}\n",
        "p.yaml:5:5: warning: rule 'b' can never match: rule 'a' (p.yaml:4:5) comes before it "
        "and allows every request it would match\n");
}

/* What is not a warning: the exception-first order of a policy. */
static void test_not_shadowed(void **state)
{
    (void) state;
    expect_warnings(HEAD
        /* a deny for contractors before everything else */
        "  - {name: no-contractors, decision: deny, when: {claims: {employment: contractor}}}\n"
        /* a group rule does not take a rule without groups */
        "  - {name: interns, decision: deny, when: {groups: [interns]}}\n"
        "  - {name: everyone-mini, decision: allow, when: {models: [gpt-4o-mini]}}\n"
        /* different models, different claims values, different endpoints */
        "  - {name: e1, decision: allow, when: {groups: [e], models: [\"gpt-4o*\"]}}\n"
        "  - {name: e2, decision: allow, when: {groups: [e], models: [\"claude-*\", \"o1*\"]}}\n"
        "  - {name: t1, decision: allow, when: {claims: {t: a}}}\n"
        "  - {name: t2, decision: allow, when: {claims: {t: b}}}\n"
        "  - {name: t3, decision: allow, when: {claims: {u: a}}}\n"
        "  - {name: p1, decision: allow, when: {endpoints: [\"/v1/*\"], groups: [p]}}\n"
        "  - {name: p2, decision: allow, when: {endpoints: [\"/v2/*\"], groups: [p]}}\n"
        /* a glob a cheap test cannot compare: not claimed to cover */
        "  - {name: g1, decision: allow, when: {groups: [g], models: [\"a*b\"]}}\n"
        "  - {name: g2, decision: allow, when: {groups: [g], models: [\"a*c*b\"]}}\n",
        "");
}

static void test_partly_shadowed(void **state)
{
    (void) state;
    expect_warnings(HEAD
        "  - name: eng-4o\n    when: {groups: [engineers], models: [\"gpt-4o*\"]}\n"
        "    decision: allow\n"
        "  - name: eng-more\n"
        "    when: {groups: [engineers], models: [gpt-4o-mini, deepseek-chat, \"gpt-4o-2024*\"]}\n"
        "    decision: allow\n"
        "  - name: both\n    when: {groups: [engineers, analysts], models: [\"gpt-4o*\"]}\n"
        "    decision: allow\n"
        "  - name: svc\n    when: {subjects: [\"svc-*\"]}\n    decision: deny\n"
        "  - name: svc-batch\n    when: {subjects: [svc-batch, bot-1]}\n    decision: allow\n",
        "p.yaml:7:5: warning: rule 'eng-more' is partly shadowed: its model gpt-4o-mini never "
        "reaches it, because rule 'eng-4o' (p.yaml:4:5) comes before it and allows every such request\n"
        "p.yaml:7:5: warning: rule 'eng-more' is partly shadowed: its model gpt-4o-2024* never "
        "reaches it, because rule 'eng-4o' (p.yaml:4:5) comes before it and allows every such request\n"
        "p.yaml:10:5: warning: rule 'both' is partly shadowed: its group engineers never reaches it, "
        "because rule 'eng-4o' (p.yaml:4:5) comes before it and allows every such request\n"
        "p.yaml:16:5: warning: rule 'svc-batch' is partly shadowed: its subject svc-batch never "
        "reaches it, because rule 'svc' (p.yaml:13:5) comes before it and denies every such request\n");
}

static void test_no_effect(void **state)
{
    (void) state;
    expect_warnings(HEAD
        "  - name: list\n    when: {endpoints: [/v1/models, /openai/v1/models/]}\n"
        "    limits:\n      max_prompt_chars: 100\n      max_tokens: 5\n"
        "      tokens_per_day: 5\n      requests_per_minute: 5\n"
        "    filters:\n      - {plugin: pii, action: block}\n    decision: allow\n"
        "  - name: embed\n    when: {endpoints: [/v1/embeddings], groups: [a]}\n"
        "    limits: {max_tokens: 100, tokens_per_day: 1000, max_prompt_chars: 10}\n"
        "    filters:\n      - {plugin: pii, stages: [response], action: block}\n"
        "      - {plugin: pii, stages: [request, response], action: block}\n"
        "    decision: allow\n"
        "  - name: count\n    when: {endpoints: [/v1/messages/count_tokens], groups: [b]}\n"
        "    filters: [{plugin: secrets, stages: [response], action: flag}]\n"
        "    decision: allow\n"
        "  - name: refused\n    when: {groups: [c]}\n    limits: {max_tokens: 1}\n"
        "    filters: [{plugin: pii, action: flag}]\n    decision: deny\n"
        /* a wildcard endpoint may carry anything: no warning */
        "  - name: any\n    when: {endpoints: [\"/v1/*\"], groups: [d]}\n"
        "    limits: {max_prompt_chars: 10}\n    filters: [{plugin: pii, action: flag}]\n"
        "    decision: allow\n",
        "p.yaml:5:36: warning: endpoint '/openai/v1/models/' is of no kind the gateway reads, so "
        "rule 'list', which has filters or token limits, refuses every request to it (403 "
        "uninspectable); add 'uninspectable: allow' to admit them unread\n"
        "p.yaml:7:7: warning: max_prompt_chars has no effect in rule 'list': its endpoints "
        "(/v1/models, /openai/v1/models/) carry no prompt\n"
        "p.yaml:8:7: warning: max_tokens has no effect in rule 'list': its endpoints "
        "(/v1/models, /openai/v1/models/) generate no answer tokens\n"
        "p.yaml:9:7: warning: tokens_per_day has no effect in rule 'list': its endpoints "
        "(/v1/models, /openai/v1/models/) use no tokens\n"
        "p.yaml:12:9: warning: filter pii in rule 'list' never sees any text: its endpoints "
        "(/v1/models, /openai/v1/models/) carry no prompt or answer text\n"
        "p.yaml:16:14: warning: max_tokens has no effect in rule 'embed': its endpoints "
        "(/v1/embeddings) generate no answer tokens\n"
        "p.yaml:18:9: warning: filter pii in rule 'embed' never sees any text: its endpoints "
        "(/v1/embeddings) carry no answer text\n"
        "p.yaml:23:15: warning: filter secrets in rule 'count' never sees any text: its endpoints "
        "(/v1/messages/count_tokens) carry no answer text\n"
        "p.yaml:27:5: warning: rule 'refused' denies, so its limits never apply\n"
        "p.yaml:28:5: warning: rule 'refused' denies, so its filters never run\n");
}

static void test_model_patterns(void **state)
{
    (void) state;
    expect_warnings(HEAD
        "  - name: m\n    when: {models: [\"gpt 4o\", \"gpt-4o*\", \"t\\u00ebxt*\", \"a\\\\ b\","
        " \"x=y\", \"ok-[!a]*\"]}\n    decision: allow\n",
        "p.yaml:5:21: warning: model pattern 'gpt 4o' can never match: it holds a space, and a "
        "model name holds only ASCII letters, digits and . _ - : / @ (other names are refused)\n"
        "p.yaml:5:42: warning: model pattern 't\xc3\xabxt*' can never match: it holds a non-ASCII "
        "character, and a model name holds only ASCII letters, digits and . _ - : / @ (other "
        "names are refused)\n"
        "p.yaml:5:56: warning: model pattern 'a\\ b' can never match: it holds a space, and a "
        "model name holds only ASCII letters, digits and . _ - : / @ (other names are refused)\n"
        "p.yaml:5:65: warning: model pattern 'x=y' can never match: it holds '=', and a model "
        "name holds only ASCII letters, digits and . _ - : / @ (other names are refused)\n");
}

/* More than 100 warnings: the rest are counted, as errors are. */
static void test_warning_cap(void **state)
{
    size_t cap = 200 * 80 + 64, off = 0;
    char *text = malloc(cap);
    aigov_policy_t *p;
    const char *w;
    (void) state;

    assert_non_null(text);
    off += (size_t) snprintf(text + off, cap - off, HEAD "  - {name: all, decision: deny}\n");
    for (int i = 0; i < 150; i++)
        off += (size_t) snprintf(text + off, cap - off,
                                 "  - {name: r%d, decision: allow, when: {groups: [g%d]}}\n", i, i);
    p = must_load(text);
    assert_int_equal(aigov_policy_warning_count(p), 150);
    w = aigov_policy_warnings(p);
    assert_non_null(w);
    assert_non_null(strstr(w, "\n... and 50 more warnings\n"));
    aigov_policy_free(p);
    free(text);
}

/* Thousands of rules without groups: the pair budget stops the checks
 * with one warning instead of comparing every pair. */
static void test_pair_budget(void **state)
{
    size_t n = 3000, cap = n * 64 + 64, off = 0;
    char *text = malloc(cap);
    aigov_policy_t *p;
    (void) state;

    assert_non_null(text);
    off += (size_t) snprintf(text + off, cap - off, HEAD);
    for (size_t i = 0; i < n; i++)
        off += (size_t) snprintf(text + off, cap - off,
                                 "  - {name: r%zu, decision: allow, when: {models: [m%zu]}}\n", i, i);
    p = must_load(text);
    assert_int_equal(aigov_policy_warning_count(p), 1);
    assert_non_null(strstr(aigov_policy_warnings(p),
                           "were not checked for shadowing: more than 4000000 pairs"));
    aigov_policy_free(p);
    free(text);
}

/* Rules that could admit requests the gateway cannot read, or that refuse
 * every request to an endpoint they list. */
static void test_uninspectable(void **state)
{
    (void) state;
    expect_warnings(HEAD
        "  - name: tools\n    when: {groups: [t]}\n"
        "    filters: [{plugin: pii, action: redact}]\n"
        "    uninspectable: allow\n    decision: allow\n",
        "p.yaml:7:5: warning: rule 'tools' admits requests the gateway cannot read (unknown "
        "endpoints, bodies that are not JSON, methods other than POST): their text passes its "
        "filters and limits unread, recorded as inspected: false\n");
    expect_warnings(HEAD
        "  - name: speech\n    when: {endpoints: [/v1/chat/completions, /v1/audio/speech,"
        " \"/v1/*\", /v1/responses]}\n"
        "    limits: {tokens_per_day: 1000, max_tokens: 100}\n    decision: allow\n",
        "p.yaml:5:46: warning: endpoint '/v1/audio/speech' is of no kind the gateway reads, so "
        "rule 'speech', which has filters or token limits, refuses every request to it (403 "
        "uninspectable); add 'uninspectable: allow' to admit them unread\n");
    /* token limits without max_tokens: answers are not reserved */
    expect_warnings(HEAD
        "  - name: tpm\n    when: {endpoints: [/v1/chat/completions]}\n"
        "    limits: {tokens_per_minute: 1000}\n    decision: allow\n",
        "p.yaml:6:5: warning: rule 'tpm' limits tokens without max_tokens: a request that does "
        "not say max_tokens reserves only its prompt, so requests running at once can go over "
        "the limit by what their answers write; set max_tokens to reserve the answers too\n");
    expect_warnings(HEAD
        "  - name: emb\n    when: {endpoints: [/v1/embeddings]}\n"
        "    limits: {tokens_per_minute: 1000}\n    decision: allow\n", "");
    /* nothing to inspect, or the rule denies: nothing to say */
    expect_warnings(HEAD
        "  - {name: a, decision: allow, uninspectable: allow, when: {endpoints: [/v1/files]}}\n"
        "  - {name: b, decision: allow, when: {groups: [x], endpoints: [/v1/models, /v1/messages,"
        " /v1/messages/count_tokens, /v1/embeddings, /v1/completions]},"
        " limits: {max_prompt_chars: 10}}\n",
        "");
}

static void test_model_name_valid(void **state)
{
    static const char *const good[] = {
        "gpt-4o-mini", "claude-3-5-sonnet-20241022", "meta-llama/Llama-3.1-8B-Instruct",
        "ft:gpt-4o-mini:acme::x1", "anthropic.claude-v2:1", "@cf/meta/llama-3-8b",
        "deepseek_chat", "a", NULL };
    static const char *const bad[] = {
        "", "gpt-4o\n", "gpt-4o mini", " gpt-4o", "gpt-4o\t", "gpt\xe2\x80\x90" "4o",
        "gpt-4\xd0\xbe", "gpt-4o*", "gpt-4o?", "a\"b", "a\\b", "a%0a", "a=b", "a#b",
        "a\x7f", NULL };
    char longname[AIGOV_MODEL_NAME_MAX + 2];
    (void) state;

    for (size_t i = 0; good[i]; i++)
        assert_true(aigov_model_name_valid(good[i], strlen(good[i])));
    for (size_t i = 0; bad[i]; i++) {
        if (aigov_model_name_valid(bad[i], strlen(bad[i])))
            print_error("accepted: '%s'\n", bad[i]);
        assert_false(aigov_model_name_valid(bad[i], strlen(bad[i])));
    }
    /* a NUL inside is seen through the length */
    assert_false(aigov_model_name_valid("gpt-4o\0x", 8));
    assert_false(aigov_model_name_valid(NULL, 0));
    memset(longname, 'a', sizeof(longname));
    assert_true(aigov_model_name_valid(longname, AIGOV_MODEL_NAME_MAX));
    assert_false(aigov_model_name_valid(longname, AIGOV_MODEL_NAME_MAX + 1));
}

/* A request naming an odd model is refused before any rule, even one
 * whose pattern would match it, and even under default allow. */
static void test_decide_refuses_bad_model(void **state)
{
    static const char *const policies[] = {
        HEAD "  - {name: mini, decision: allow, when: {models: [\"gpt-4o*\"]}}\n",
        "version: 1\ndefault: allow\n", NULL };
    (void) state;

    for (size_t k = 0; policies[k]; k++) {
        aigov_policy_t *p = must_load(policies[k]);
        json_t *claims = json_object();
        aigov_policy_input_t in;
        aigov_decision_t d;

        memset(&in, 0, sizeof(in));
        in.claims = claims;
        in.path = in.endpoint = "/v1/chat/completions";
        in.max_tokens = -1;
        in.model = "gpt-4o\nmini";
        aigov_policy_decide(p, &in, &d);
        assert_false(d.allow);
        assert_int_equal(d.status, 400);
        assert_string_equal(d.code, "invalid_model");
        assert_int_equal(d.rule_index, -1);
        assert_string_equal(d.message, "model name 'gpt-4o?mini' is not valid: a model name "
                            "holds 1 to 256 ASCII letters, digits and . _ - : / @");
        assert_null(d.filters);

        in.model = "gpt-4o-mini";
        aigov_policy_decide(p, &in, &d);
        assert_true(d.allow);
        in.model = NULL;    /* /v1/models names none: not refused for that */
        aigov_policy_decide(p, &in, &d);
        assert_int_not_equal(d.status, 400);
        json_decref(claims);
        aigov_policy_free(p);
    }
}

/* A bump allocator over a static pool, enough for a few patterns. */
static char pool[16384];
static size_t pool_used;

static void *pool_alloc(void *ctx, size_t n)
{
    void *r;
    (void) ctx;
    n = (n + 15) & ~(size_t) 15;
    if (pool_used + n > sizeof(pool))
        return NULL;
    r = pool + pool_used;
    pool_used += n;
    return r;
}

static void test_glob_covers(void **state)
{
    static const struct { const char *a, *b; int covers; } c[] = {
        { "*", "anything*", 1 }, { "gpt-4o*", "gpt-4o", 1 }, { "gpt-4o*", "gpt-4o-mini*", 1 },
        { "gpt-4o*", "gpt-4*", 0 }, { "gpt-4o", "gpt-4o*", 0 }, { "*-mini", "gpt-*-mini", 1 },
        { "*-mini", "gpt-*-max", 0 }, { "a?c", "abc", 1 }, { "a?c", "a?c", 1 },
        { "a[bc]d", "a[cb]d", 1 }, { "a*b", "a*c*b", 0 }, { "gpt-4o*", "gpt-4o?", 1 },
        { "x", "x", 1 }, { "x", "y", 0 }, { "gpt\\*", "gpt*", 0 }, { "gpt*", "gpt\\*", 1 },
        { "a[!b]", "a[!b]", 1 }, { "a[!b]", "ab", 0 }, { NULL, NULL, 0 } };
    char err[128];
    (void) state;

    for (size_t i = 0; c[i].a; i++) {
        aigov_glob_t a, b;
        pool_used = 0;
        assert_int_equal(aigov_glob_compile(&a, c[i].a, pool_alloc, NULL, err, sizeof(err)), 0);
        assert_int_equal(aigov_glob_compile(&b, c[i].b, pool_alloc, NULL, err, sizeof(err)), 0);
        if (aigov_glob_covers(&a, &b) != c[i].covers)
            print_error("'%s' covers '%s': want %d\n", c[i].a, c[i].b, c[i].covers);
        assert_int_equal(aigov_glob_covers(&a, &b), c[i].covers);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_has_none),
        cmocka_unit_test(test_unreachable),
        cmocka_unit_test(test_not_shadowed),
        cmocka_unit_test(test_partly_shadowed),
        cmocka_unit_test(test_no_effect),
        cmocka_unit_test(test_model_patterns),
        cmocka_unit_test(test_warning_cap),
        cmocka_unit_test(test_pair_budget),
        cmocka_unit_test(test_uninspectable),
        cmocka_unit_test(test_model_name_valid),
        cmocka_unit_test(test_decide_refuses_bad_model),
        cmocka_unit_test(test_glob_covers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
