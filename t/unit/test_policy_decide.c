/* Unit tests of lib/policy decisions and of the glob patterns. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "media.h"
#include "policy.h"
#include "policy_glob.h"

static aigov_policy_t *must_load(const char *text)
{
    char *errors = NULL;
    aigov_policy_t *p = aigov_policy_load_mem("p.yaml", text, strlen(text), NULL, NULL, NULL,
                                              &errors);
    if (!p)
        print_error("unexpected errors:\n%s", errors);
    assert_non_null(p);
    return p;
}

/* Decides for claims (JSON text), a model (or NULL) and a path. */
static void decide(const aigov_policy_t *p, const char *claims_json, const char *model,
                   const char *path, long long max_tokens, long long prompt_chars,
                   aigov_decision_t *d, json_t **claims)
{
    json_error_t e;
    aigov_policy_input_t in;

    *claims = json_loads(claims_json, 0, &e);
    assert_non_null(*claims);
    memset(&in, 0, sizeof(in));
    in.claims = *claims;
    in.path = path;
    in.endpoint = path;
    in.model = model;
    in.max_tokens = max_tokens;
    in.prompt_chars = prompt_chars;
    aigov_policy_decide(p, &in, d);
}

/* The rule name (or "deny:<code>") the policy gives. */
static const char *verdict(const aigov_policy_t *p, const char *claims_json, const char *model,
                           const char *path)
{
    static char buf[160];
    aigov_decision_t d;
    json_t *claims;

    decide(p, claims_json, model, path, -1, 0, &d, &claims);
    if (d.allow)
        snprintf(buf, sizeof(buf), "%s", d.rule);
    else
        snprintf(buf, sizeof(buf), "deny:%s:%s", d.rule, d.code);
    json_decref(claims);
    return buf;
}

#define CHAT "/v1/chat/completions"

/* ---- conditions --------------------------------------------------------------- */

static void test_groups_any_of(void **state)
{
    aigov_policy_t *p = must_load("version: 1\nrules:\n"
        "  - {name: staff, decision: allow, when: {groups: [analysts, engineers]}}\n");
    (void) state;
    assert_string_equal(verdict(p, "{\"sub\":\"a\",\"groups\":[\"x\",\"engineers\"]}", "m", CHAT), "staff");
    assert_string_equal(verdict(p, "{\"sub\":\"a\",\"groups\":\"x analysts  y\"}", "m", CHAT), "staff");
    assert_string_equal(verdict(p, "{\"sub\":\"a\",\"groups\":\"analysts2\"}", "m", CHAT),
                        "deny:default:no_rule_matched");
    assert_string_equal(verdict(p, "{\"sub\":\"a\",\"groups\":[\"Analysts\"]}", "m", CHAT),
                        "deny:default:no_rule_matched");
    assert_string_equal(verdict(p, "{\"sub\":\"a\",\"groups\":[1, null, {}]}", "m", CHAT),
                        "deny:default:no_rule_matched");
    assert_string_equal(verdict(p, "{\"sub\":\"a\"}", "m", CHAT), "deny:default:no_rule_matched");
    assert_string_equal(verdict(p, "{\"sub\":\"a\",\"groups\":{\"analysts\":1}}", "m", CHAT),
                        "deny:default:no_rule_matched");
    aigov_policy_free(p);
}

static void test_custom_identity_claims(void **state)
{
    aigov_policy_t *p = must_load("version: 1\nidentity: {subject_claim: email, groups_claim: roles}\n"
        "rules:\n  - {name: r, decision: allow, when: {groups: [admin], subjects: [\"*@corp.example\"]}}\n");
    aigov_decision_t d;
    json_t *c;
    (void) state;

    decide(p, "{\"sub\":\"x\",\"email\":\"bo@corp.example\",\"roles\":[\"admin\"]}", "m", CHAT, -1, 0, &d, &c);
    assert_true(d.allow);
    assert_string_equal(d.subject, "bo@corp.example");
    json_decref(c);
    assert_string_equal(verdict(p, "{\"email\":\"bo@corp.example\",\"groups\":[\"admin\"]}", "m", CHAT),
                        "deny:default:no_rule_matched");
    aigov_policy_free(p);
}

static void test_subjects_globs(void **state)
{
    aigov_policy_t *p = must_load("version: 1\nrules:\n"
        "  - {name: svc, decision: allow, when: {subjects: [\"svc-*\", \"bot-?\"]}}\n");
    aigov_decision_t d;
    json_t *c;
    (void) state;

    assert_string_equal(verdict(p, "{\"sub\":\"svc-reports\"}", "m", CHAT), "svc");
    assert_string_equal(verdict(p, "{\"sub\":\"svc-\"}", "m", CHAT), "svc");
    assert_string_equal(verdict(p, "{\"sub\":\"bot-7\"}", "m", CHAT), "svc");
    assert_string_equal(verdict(p, "{\"sub\":\"bot-77\"}", "m", CHAT), "deny:default:no_rule_matched");
    assert_string_equal(verdict(p, "{\"sub\":\"my-svc-x\"}", "m", CHAT), "deny:default:no_rule_matched");
    assert_string_equal(verdict(p, "{}", "m", CHAT), "deny:default:no_rule_matched");
    /* a numeric subject is compared as its decimal text */
    decide(p, "{\"sub\":12345}", "m", CHAT, -1, 0, &d, &c);
    assert_false(d.allow);
    assert_string_equal(d.subject, "12345");
    assert_string_equal(d.message, "no rule allows this request for subject 12345; the policy denies by default");
    json_decref(c);
    aigov_policy_free(p);
}

static void test_claims_values(void **state)
{
    aigov_policy_t *p = must_load("version: 1\nrules:\n"
        "  - {name: str, decision: allow, when: {claims: {tenant: acme}}}\n"
        "  - {name: num, decision: allow, when: {claims: {level: 3}}}\n"
        "  - {name: big, decision: allow, when: {claims: {id: 9007199254740993}}}\n"
        "  - {name: bool, decision: allow, when: {claims: {email_verified: true}}}\n"
        "  - {name: any, decision: allow, when: {claims: {region: [eu, uk]}}}\n"
        "  - {name: nested, decision: allow, when: {claims: {org.unit: \"7\"}}}\n"
        "  - {name: both, decision: allow, when: {claims: {a: x, b: y}}}\n");
    (void) state;

    assert_string_equal(verdict(p, "{\"tenant\":\"acme\"}", "m", CHAT), "str");
    assert_string_equal(verdict(p, "{\"tenant\":\"acme2\"}", "m", CHAT), "deny:default:no_rule_matched");
    assert_string_equal(verdict(p, "{\"tenant\":[\"globex\",\"acme\"]}", "m", CHAT), "str");
    assert_string_equal(verdict(p, "{\"level\":3}", "m", CHAT), "num");
    assert_string_equal(verdict(p, "{\"level\":3.0}", "m", CHAT), "num");
    assert_string_equal(verdict(p, "{\"level\":\"3\"}", "m", CHAT), "num");
    assert_string_equal(verdict(p, "{\"level\":4}", "m", CHAT), "deny:default:no_rule_matched");
    assert_string_equal(verdict(p, "{\"id\":9007199254740993}", "m", CHAT), "big");
    assert_string_equal(verdict(p, "{\"id\":9007199254740992}", "m", CHAT), "deny:default:no_rule_matched");
    assert_string_equal(verdict(p, "{\"email_verified\":true}", "m", CHAT), "bool");
    assert_string_equal(verdict(p, "{\"email_verified\":false}", "m", CHAT), "deny:default:no_rule_matched");
    assert_string_equal(verdict(p, "{\"email_verified\":\"yes\"}", "m", CHAT), "deny:default:no_rule_matched");
    assert_string_equal(verdict(p, "{\"region\":\"uk\"}", "m", CHAT), "any");
    assert_string_equal(verdict(p, "{\"region\":[\"us\",\"eu\"]}", "m", CHAT), "any");
    assert_string_equal(verdict(p, "{\"org\":{\"unit\":7}}", "m", CHAT), "nested");
    assert_string_equal(verdict(p, "{\"org.unit\":\"7\"}", "m", CHAT), "nested");
    assert_string_equal(verdict(p, "{\"org\":{\"unit\":{\"x\":7}}}", "m", CHAT), "deny:default:no_rule_matched");
    assert_string_equal(verdict(p, "{\"a\":\"x\",\"b\":\"y\"}", "m", CHAT), "both");
    assert_string_equal(verdict(p, "{\"a\":\"x\"}", "m", CHAT), "deny:default:no_rule_matched");
    aigov_policy_free(p);
}

static void test_quoted_claim_paths(void **state)
{
    /* Keycloak's client roles under a client id with dots */
    aigov_policy_t *p = must_load("version: 1\n"
        "identity: {groups_claim: 'resource_access.\"aigov.gw\".roles'}\n"
        "rules:\n"
        "  - {name: admin, decision: allow, when: {groups: [admin]}}\n"
        "  - name: quoted\n    decision: allow\n    when:\n"
        "      claims:\n        a.\"b.c\".\"d\\\"e\\\\f\": x\n"
        "  - {name: whole, decision: allow, when: {claims: {'\"tenant.id\"': acme}}}\n");
    (void) state;
    assert_string_equal(verdict(p, "{\"sub\":\"s\",\"resource_access\":{\"aigov.gw\":{\"roles\":[\"admin\"]}}}",
                                "m", CHAT), "admin");
    /* the same words elsewhere do not count */
    assert_string_equal(verdict(p, "{\"sub\":\"s\",\"resource_access\":{\"aigov\":{\"gw\":{\"roles\":[\"admin\"]}}}}",
                                "m", CHAT), "deny:default:no_rule_matched");
    assert_string_equal(verdict(p, "{\"sub\":\"s\",\"resource_access.\\\"aigov.gw\\\".roles\":[\"admin\"]}",
                                "m", CHAT), "deny:default:no_rule_matched");
    assert_string_equal(verdict(p, "{\"sub\":\"s\",\"a\":{\"b.c\":{\"d\\\"e\\\\f\":\"x\"}}}", "m", CHAT), "quoted");
    assert_string_equal(verdict(p, "{\"sub\":\"s\",\"a\":{\"b\":{\"c\":{\"d\\\"e\\\\f\":\"x\"}}}}", "m", CHAT),
                        "deny:default:no_rule_matched");
    /* a quoted whole name is that top-level claim, never split */
    assert_string_equal(verdict(p, "{\"sub\":\"s\",\"tenant.id\":\"acme\"}", "m", CHAT), "whole");
    assert_string_equal(verdict(p, "{\"sub\":\"s\",\"tenant\":{\"id\":\"acme\"}}", "m", CHAT),
                        "deny:default:no_rule_matched");
    aigov_policy_free(p);
}

static void test_models_and_endpoints(void **state)
{
    aigov_policy_t *p = must_load("version: 1\nrules:\n"
        "  - name: r\n    decision: allow\n    when:\n"
        "      models: [\"gpt-4o*\", \"claude-3-[ho]*\", deepseek-chat]\n"
        "      endpoints: [/v1/chat/completions, \"/tenant/*/v1/embeddings\"]\n");
    aigov_decision_t d;
    json_t *c;
    aigov_policy_input_t in;
    (void) state;

    assert_string_equal(verdict(p, "{}", "gpt-4o", CHAT), "r");
    assert_string_equal(verdict(p, "{}", "gpt-4o-mini", CHAT), "r");
    assert_string_equal(verdict(p, "{}", "claude-3-haiku", CHAT), "r");
    assert_string_equal(verdict(p, "{}", "claude-3-sonnet", CHAT), "deny:default:model_not_allowed");
    assert_string_equal(verdict(p, "{}", "deepseek-chat", CHAT), "r");
    assert_string_equal(verdict(p, "{}", "deepseek-chat2", CHAT), "deny:default:model_not_allowed");
    assert_string_equal(verdict(p, "{}", "GPT-4o", CHAT), "deny:default:model_not_allowed");
    assert_string_equal(verdict(p, "{}", NULL, CHAT), "deny:default:model_not_allowed");
    assert_string_equal(verdict(p, "{}", "gpt-4o", "/tenant/acme/v1/embeddings"), "r");
    assert_string_equal(verdict(p, "{}", "gpt-4o", "/v1/embeddings"), "deny:default:endpoint_not_allowed");

    /* a prefixed path matches through the canonical endpoint the module passes */
    c = json_object();
    memset(&in, 0, sizeof(in));
    in.claims = c;
    in.path = "/openai/v1/chat/completions";
    in.endpoint = CHAT;
    in.model = "gpt-4o";
    in.max_tokens = -1;
    aigov_policy_decide(p, &in, &d);
    assert_true(d.allow);
    in.endpoint = NULL;
    aigov_policy_decide(p, &in, &d);
    assert_false(d.allow);
    assert_string_equal(d.code, "endpoint_not_allowed");
    assert_string_equal(aigov_policy_rule_check(p, 0, &in), "endpoints");
    json_decref(c);
    aigov_policy_free(p);
}

/* ---- order, default, messages ---------------------------------------------------- */

static void test_first_match_wins(void **state)
{
    aigov_policy_t *p = must_load("version: 1\ndefault: allow\nrules:\n"
        "  - {name: block-contractors, decision: deny, when: {claims: {kind: contractor}},"
        " reason: \"contractors may not use this gateway\"}\n"
        "  - {name: staff, decision: allow, when: {groups: [staff]}}\n"
        "  - {name: staff-never, decision: deny, when: {groups: [staff]}}\n");
    aigov_decision_t d;
    json_t *c;
    (void) state;

    decide(p, "{\"groups\":[\"staff\"],\"kind\":\"contractor\"}", "m", CHAT, -1, 0, &d, &c);
    assert_false(d.allow);
    assert_int_equal(d.status, 403);
    assert_string_equal(d.rule, "block-contractors");
    assert_int_equal(d.rule_index, 0);
    assert_string_equal(d.code, "denied");
    assert_string_equal(d.message, "contractors may not use this gateway");
    json_decref(c);
    assert_string_equal(verdict(p, "{\"groups\":[\"staff\"]}", "m", CHAT), "staff");
    /* default allow: nothing matched, allowed by "default" */
    decide(p, "{\"groups\":[\"guests\"]}", "m", CHAT, -1, 0, &d, &c);
    assert_true(d.allow);
    assert_int_equal(d.status, 200);
    assert_string_equal(d.rule, "default");
    assert_int_equal(d.rule_index, -1);
    assert_null(d.code);
    assert_string_equal(d.message, "");
    assert_int_equal(d.nfilters, 0);
    assert_int_equal(d.content, AIGOV_CONTENT_HASH);
    json_decref(c);
    aigov_policy_free(p);
}

static void test_deny_rule_without_reason(void **state)
{
    aigov_policy_t *p = must_load("version: 1\ndefault: allow\nrules:\n"
        "  - {name: no-o1, decision: deny, when: {models: [\"o1*\"]}}\n");
    aigov_decision_t d;
    json_t *c;
    (void) state;

    decide(p, "{}", "o1-preview", CHAT, -1, 0, &d, &c);
    assert_false(d.allow);
    assert_string_equal(d.message, "request denied by rule no-o1");
    json_decref(c);
    aigov_policy_free(p);
}

static const char *tiers =
    "version: 1\ndefault: deny\nrules:\n"
    "  - {name: list-models, decision: allow, when: {groups: [interns, analysts], endpoints: [/v1/models]}}\n"
    "  - {name: interns-small-models, decision: allow,\n"
    "     when: {groups: [interns], models: [gpt-4o-mini], endpoints: [/v1/chat/completions]}}\n"
    "  - {name: svc, decision: allow, when: {subjects: [\"svc-*\"], models: [deepseek-chat]}}\n"
    "  - {name: acme, decision: allow, when: {claims: {tenant: acme}, models: [claude-3-haiku]}}\n";

static void test_default_deny_explains_model(void **state)
{
    aigov_policy_t *p = must_load(tiers);
    aigov_decision_t d;
    json_t *c;
    (void) state;

    decide(p, "{\"sub\":\"ian\",\"groups\":[\"interns\"]}", "gpt-4o", CHAT, -1, 0, &d, &c);
    assert_false(d.allow);
    assert_int_equal(d.status, 403);
    assert_string_equal(d.rule, "default");
    assert_string_equal(d.code, "model_not_allowed");
    assert_string_equal(d.message, "model gpt-4o is not allowed for group interns (rule interns-small-models)");
    json_decref(c);

    decide(p, "{\"sub\":\"svc-etl\"}", "gpt-4o", CHAT, -1, 0, &d, &c);
    assert_string_equal(d.message, "model gpt-4o is not allowed for subject svc-etl (rule svc)");
    json_decref(c);

    decide(p, "{\"sub\":\"x\",\"tenant\":\"acme\"}", "gpt-4o", CHAT, -1, 0, &d, &c);
    assert_string_equal(d.message, "model gpt-4o is not allowed for tenant acme (rule acme)");
    json_decref(c);

    decide(p, "{\"sub\":\"ian\",\"groups\":[\"interns\"]}", NULL, CHAT, -1, 0, &d, &c);
    assert_string_equal(d.code, "model_not_allowed");
    assert_string_equal(d.message, "the request names no model, and only listed models are allowed "
                        "for group interns (rule interns-small-models)");
    json_decref(c);
    aigov_policy_free(p);
}

static void test_default_deny_explains_endpoint(void **state)
{
    aigov_policy_t *p = must_load(tiers);
    aigov_decision_t d;
    json_t *c;
    (void) state;

    /* the rule that takes the model but not the endpoint is named, not
     * list-models which comes first */
    decide(p, "{\"sub\":\"ian\",\"groups\":[\"interns\"]}", "gpt-4o-mini", "/v1/embeddings", -1, 0, &d, &c);
    assert_string_equal(d.code, "endpoint_not_allowed");
    assert_string_equal(d.message, "endpoint /v1/embeddings is not allowed for group interns (rule interns-small-models)");
    json_decref(c);

    decide(p, "{\"sub\":\"ana\",\"groups\":[\"analysts\"]}", "gpt-4o", CHAT, -1, 0, &d, &c);
    assert_string_equal(d.code, "endpoint_not_allowed");
    assert_string_equal(d.message, "endpoint /v1/chat/completions is not allowed for group analysts (rule list-models)");
    json_decref(c);

    decide(p, "{\"sub\":\"mallory\",\"groups\":[\"visitors\"]}", "gpt-4o", CHAT, -1, 0, &d, &c);
    assert_string_equal(d.code, "no_rule_matched");
    assert_string_equal(d.message, "no rule allows this request for subject mallory; the policy denies by default");
    json_decref(c);

    decide(p, "{}", "gpt-4o", CHAT, -1, 0, &d, &c);
    assert_string_equal(d.message, "no rule allows this request; the policy denies by default");
    json_decref(c);
    aigov_policy_free(p);
}

static void test_hostile_strings_in_messages(void **state)
{
    aigov_policy_t *p = must_load(tiers);
    aigov_decision_t d;
    json_t *c, *m;
    char model[300];
    (void) state;

    /* 2-byte characters so that the cut must land on a boundary */
    model[0] = 'x';     /* shifts the characters so that byte 80 is inside one */
    for (int i = 1; i < 149; i += 2) {
        model[i] = (char) 0xC3;
        model[i + 1] = (char) 0xA9;
    }
    model[149] = '\n';
    model[150] = '\0';
    /* such a name is refused before any rule (aigov_model_name_valid);
     * the refusal quotes it cut and cleaned all the same */
    decide(p, "{\"sub\":\"ian\",\"groups\":[\"interns\"]}", model, CHAT, -1, 0, &d, &c);
    assert_string_equal(d.code, "invalid_model");
    assert_int_equal(d.status, 400);
    assert_non_null(strstr(d.message, "\xc3\xa9...' is not valid"));
    assert_null(strchr(d.message, '\n'));
    m = json_string(d.message);       /* still valid UTF-8 */
    assert_non_null(m);
    json_decref(m);
    json_decref(c);

    decide(p, "{\"sub\":\"ian\",\"groups\":[\"interns\"]}", "gpt\n4\x7f", CHAT, -1, 0, &d, &c);
    assert_string_equal(d.message, "model name 'gpt?4?' is not valid: a model name holds 1 to 256 "
                        "ASCII letters, digits and . _ - : / @");
    json_decref(c);
    aigov_policy_free(p);
}

/* ---- limits, filters, audit ---------------------------------------------------- */

static void test_limits(void **state)
{
    aigov_policy_t *p = must_load("version: 1\nrules:\n"
        "  - name: r\n    decision: allow\n    limits:\n      max_tokens: 2048\n      max_prompt_chars: 100\n"
        "      requests_per_minute: 60\n      tokens_per_minute: 40000\n      tokens_per_day: 1000000\n"
        "    audit: {content: full}\n");
    aigov_decision_t d;
    json_t *c;
    (void) state;

    decide(p, "{}", "m", CHAT, 2048, 100, &d, &c);
    assert_true(d.allow);
    assert_int_equal(d.set_max_tokens, 0);
    assert_int_equal(d.limits.max_tokens, 2048);
    assert_int_equal(d.limits.requests_per_minute, 60);
    assert_int_equal(d.limits.tokens_per_minute, 40000);
    assert_int_equal(d.limits.tokens_per_day, 1000000);
    assert_int_equal(d.content, AIGOV_CONTENT_FULL);
    assert_string_equal(aigov_content_name(d.content), "full");
    json_decref(c);

    decide(p, "{}", "m", CHAT, -1, 0, &d, &c);
    assert_true(d.allow);
    assert_int_equal(d.set_max_tokens, 2048);
    json_decref(c);

    decide(p, "{}", "m", CHAT, 2049, 0, &d, &c);
    assert_false(d.allow);
    assert_int_equal(d.status, 403);
    assert_string_equal(d.rule, "r");
    assert_string_equal(d.code, "max_tokens_exceeded");
    assert_string_equal(d.message, "max_tokens 2049 is above the limit of 2048 (rule r)");
    assert_int_equal(d.nfilters, 0);
    json_decref(c);

    decide(p, "{}", "m", CHAT, 10, 101, &d, &c);
    assert_false(d.allow);
    assert_string_equal(d.code, "prompt_too_long");
    assert_string_equal(d.message, "the prompt has 101 characters, more than the limit of 100 (rule r)");
    json_decref(c);
    aigov_policy_free(p);
}

/* n answers share max_tokens; max_n caps n; values below 1 count as one. */
static void test_n_multiplies_max_tokens(void **state)
{
    aigov_policy_t *p = must_load("version: 1\nrules:\n"
        "  - {name: r, decision: allow, limits: {max_tokens: 256, max_n: 4}}\n");
    const char *who = "{\"sub\":\"a\"}";
    aigov_decision_t d;
    aigov_policy_input_t in;
    json_t *claims = json_loads(who, 0, NULL);
    static const struct { long long n, max_tokens; int allow; const char *code; long long set; } c[] = {
        { 0, 256, 1, NULL, 0 },          /* absent n: one answer */
        { -5, 256, 1, NULL, 0 },
        { 1, 257, 0, "max_tokens_exceeded", 0 },
        { 2, 128, 1, NULL, 0 },
        { 2, 129, 0, "max_tokens_exceeded", 0 },
        { 4, 64, 1, NULL, 0 },
        { 5, 1, 0, "n_exceeded", 0 },
        { 3, -1, 1, NULL, 85 },          /* injected: 256 shared by 3 */
        { 1, -1, 1, NULL, 256 },
        { 4, 9223372036854775807LL, 0, "max_tokens_exceeded", 0 },  /* no overflow */
    };

    (void) state;
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        memset(&in, 0, sizeof(in));
        in.claims = claims;
        in.path = in.endpoint = CHAT;
        in.model = "m";
        in.max_tokens = c[i].max_tokens;
        in.n = c[i].n;
        aigov_policy_decide(p, &in, &d);
        assert_int_equal(d.allow, c[i].allow);
        if (c[i].code)
            assert_string_equal(d.code, c[i].code);
        assert_int_equal(d.set_max_tokens, c[i].set);
    }
    json_decref(claims);
    aigov_policy_free(p);

    /* more answers than max_tokens has tokens: none could write one */
    p = must_load("version: 1\nrules:\n  - {name: r, decision: allow, limits: {max_tokens: 2}}\n");
    claims = json_loads(who, 0, NULL);
    memset(&in, 0, sizeof(in));
    in.claims = claims;
    in.path = in.endpoint = CHAT;
    in.max_tokens = -1;
    in.n = 3;
    aigov_policy_decide(p, &in, &d);
    assert_false(d.allow);
    assert_string_equal(d.code, "n_exceeded");
    /* the count is answers, which for a prompt list is not the n sent */
    assert_non_null(strstr(d.message, "3 answers (n, best_of, for each prompt) cannot share"));
    json_decref(claims);
    aigov_policy_free(p);
}

/* A request the gateway cannot read: refused by a rule that inspects,
 * unless the rule opts out; admitted by one that inspects nothing. */

/* The claims of subject "a" in group g (the tests' rules match on it). */
static json_t *group_claims(const char *g)
{
    return json_pack("{s:s, s:[s]}", "sub", "a", "groups", g);
}

/* A decision as "RULE" (allowed) or "deny:RULE:CODE", to compare. */
static void said(const aigov_decision_t *d, char *got, size_t n)
{
    if (d->allow)
        snprintf(got, n, "%s", d->rule);
    else
        snprintf(got, n, "deny:%s:%s", d->rule, d->code);
}

static void test_uninspectable(void **state)
{
    aigov_policy_t *p = must_load("version: 1\nrules:\n"
        "  - {name: filtered, decision: allow, when: {groups: [f]},\n"
        "     filters: [{plugin: pii, action: redact}]}\n"
        "  - {name: capped, decision: allow, when: {groups: [c]}, limits: {tokens_per_day: 9}}\n"
        "  - {name: rate, decision: allow, when: {groups: [r]}, limits: {requests_per_minute: 9}}\n"
        "  - {name: optout, decision: allow, when: {groups: [o]}, uninspectable: allow,\n"
        "     filters: [{plugin: pii, action: redact}]}\n"
        "  - {name: strict, decision: allow, when: {groups: [s]}, uninspectable: deny,\n"
        "     limits: {max_n: 1}}\n"
        "  - {name: closed, decision: deny, when: {groups: [d]}, uninspectable: allow}\n");
    static const struct { const char *group; const char *want; } c[] = {
        { "f", "deny:filtered:uninspectable" },
        { "c", "deny:capped:uninspectable" },
        { "r", "rate" },
        { "o", "optout" },
        { "s", "deny:strict:uninspectable" },
        { "d", "deny:closed:denied" },
    };

    (void) state;
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        char got[160];
        aigov_decision_t d;
        aigov_policy_input_t in;
        json_t *claims;

        claims = group_claims(c[i].group);
        memset(&in, 0, sizeof(in));
        in.claims = claims;
        in.path = "/v1/assistants";
        in.endpoint = "";
        in.max_tokens = -1;
        in.uninspectable = "an endpoint the gateway does not know";
        aigov_policy_decide(p, &in, &d);
        said(&d, got, sizeof(got));
        assert_string_equal(got, c[i].want);
        if (!d.allow && !strcmp(d.code, "uninspectable"))
            assert_non_null(strstr(d.message, "cannot inspect this request (an endpoint the gateway does not know)"));
        /* the same request, read: every allowing rule admits it */
        in.uninspectable = NULL;
        aigov_policy_decide(p, &in, &d);
        assert_int_equal(d.allow, strcmp(c[i].group, "d") != 0);
        json_decref(claims);
    }
    aigov_policy_free(p);
}

/* A request read whole but for text no filter can read (token ids): only
 * a rule with request filters refuses it, unless it opts out; limits count
 * it and answer filters read the answer. A limit it is over is the reason
 * it is refused, whatever it holds. */
static void test_unread(void **state)
{
    aigov_policy_t *p = must_load("version: 1\nrules:\n"
        "  - {name: filtered, decision: allow, when: {groups: [f]},\n"
        "     filters: [{plugin: pii, action: redact}]}\n"
        "  - {name: both, decision: allow, when: {groups: [b]},\n"
        "     filters: [{plugin: pii, stages: [request, response], action: block}]}\n"
        "  - {name: answers, decision: allow, when: {groups: [a]},\n"
        "     filters: [{plugin: pii, stages: [response], action: redact}]}\n"
        "  - {name: capped, decision: allow, when: {groups: [c]},\n"
        "     limits: {max_prompt_chars: 100, tokens_per_day: 9}}\n"
        "  - {name: optout, decision: allow, when: {groups: [o]}, uninspectable: allow,\n"
        "     filters: [{plugin: pii, action: redact}]}\n"
        "  - {name: small, decision: allow, when: {groups: [s]}, limits: {max_tokens: 10},\n"
        "     filters: [{plugin: pii, action: redact}]}\n"
        "  - {name: closed, decision: deny, when: {groups: [d]}}\n");
    static const struct { const char *group; long long max_tokens; const char *want; } c[] = {
        { "f", -1, "deny:filtered:uninspectable" },
        { "b", -1, "deny:both:uninspectable" },
        { "a", -1, "answers" },
        { "c", -1, "capped" },
        { "o", -1, "optout" },
        { "s", 5, "deny:small:uninspectable" },
        { "s", 50, "deny:small:max_tokens_exceeded" },
        { "d", -1, "deny:closed:denied" },
        { "nobody", -1, "deny:default:no_rule_matched" },
    };

    (void) state;
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        char got[160];
        aigov_decision_t d;
        aigov_policy_input_t in;
        json_t *claims;

        claims = group_claims(c[i].group);
        memset(&in, 0, sizeof(in));
        in.claims = claims;
        in.path = "/v1/completions";
        in.endpoint = "/v1/completions";
        in.model = "m";
        in.max_tokens = c[i].max_tokens;
        in.prompt_chars = 6;
        in.unread = "token ids, which no filter can read";
        aigov_policy_decide(p, &in, &d);
        said(&d, got, sizeof(got));
        assert_string_equal(got, c[i].want);
        if (!d.allow && !strcmp(d.code, "uninspectable")) {
            assert_int_equal(d.status, 403);
            assert_int_equal(d.nfilters, 0);
            assert_non_null(strstr(d.message, "cannot read part of this request (token ids"));
            assert_non_null(strstr(d.message, "applies request filters"));
        }
        if (d.allow)
            assert_int_equal(d.set_max_tokens, 0);
        /* the same request without the ids: every allowing rule admits it
         * within its limits */
        in.unread = NULL;
        aigov_policy_decide(p, &in, &d);
        assert_int_equal(d.allow, strchr("fbacos", c[i].group[0]) && c[i].max_tokens < 10);
        json_decref(claims);
    }
    aigov_policy_free(p);
}

/* An answer written in the background is refused where answer filters
 * apply (nothing reads it), not where only request filters or limits do. */
static void test_answer_later(void **state)
{
    aigov_policy_t *p = must_load("version: 1\nrules:\n"
        "  - {name: requests, decision: allow, when: {groups: [q]},\n"
        "     filters: [{plugin: pii, stages: [request], action: redact}]}\n"
        "  - {name: both, decision: allow, when: {groups: [b]},\n"
        "     filters: [{plugin: pii, action: block}]}\n"
        "  - {name: answers, decision: allow, when: {groups: [a]},\n"
        "     filters: [{plugin: pii, stages: [response], action: redact}]}\n"
        "  - {name: capped, decision: allow, when: {groups: [c]},\n"
        "     limits: {tokens_per_day: 900}}\n"
        "  - {name: optout, decision: allow, when: {groups: [o]}, uninspectable: allow,\n"
        "     filters: [{plugin: pii, action: redact}]}\n");
    static const struct { const char *group; const char *want; } c[] = {
        { "q", "requests" },
        { "b", "deny:both:uninspectable" },
        { "a", "deny:answers:uninspectable" },
        { "c", "capped" },
        { "o", "optout" },
    };

    (void) state;
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        char got[160];
        aigov_decision_t d;
        aigov_policy_input_t in;
        json_t *claims;

        claims = group_claims(c[i].group);
        memset(&in, 0, sizeof(in));
        in.claims = claims;
        in.path = "/v1/responses";
        in.endpoint = "/v1/responses";
        in.model = "m";
        in.max_tokens = -1;
        in.prompt_chars = 6;
        in.answer_later = 1;
        aigov_policy_decide(p, &in, &d);
        said(&d, got, sizeof(got));
        assert_string_equal(got, c[i].want);
        if (!d.allow) {
            assert_int_equal(d.status, 403);
            assert_non_null(strstr(d.message, "written in the background"));
        }
        in.answer_later = 0;
        aigov_policy_decide(p, &in, &d);
        assert_true(d.allow);
        json_decref(claims);
    }
    aigov_policy_free(p);
}

/* when: media takes a request that carries any of the kinds it lists: a
 * deny rule in front keeps files from a group, the rest go on. */
static void test_media_condition(void **state)
{
    aigov_policy_t *p = must_load("version: 1\nrules:\n"
        "  - {name: no-files, decision: deny, reason: files are not checked,\n"
        "     when: {groups: [s], media: [file, audio]}}\n"
        "  - {name: pictures-on-4o, decision: allow, when: {groups: [s], media: [image],\n"
        "     models: [gpt-4o]}}\n"
        "  - {name: text, decision: allow, when: {groups: [s], models: [gpt-4o, mini]}}\n");
    static const struct { unsigned media; const char *model; const char *want; } c[] = {
        { 0, "mini", "text" },
        { 0, "gpt-4o", "text" },
        { AIGOV_MEDIA_FILE, "mini", "deny:no-files:denied" },
        { AIGOV_MEDIA_AUDIO | AIGOV_MEDIA_IMAGE, "gpt-4o", "deny:no-files:denied" },
        { AIGOV_MEDIA_IMAGE, "gpt-4o", "pictures-on-4o" },
        /* an image to another model: the rule without media takes it */
        { AIGOV_MEDIA_IMAGE, "mini", "text" },
    };
    json_t *claims = group_claims("s");

    (void) state;
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        char got[160];
        aigov_decision_t d;
        aigov_policy_input_t in;

        memset(&in, 0, sizeof(in));
        in.claims = claims;
        in.path = in.endpoint = "/v1/chat/completions";
        in.model = c[i].model;
        in.max_tokens = -1;
        in.media = c[i].media;
        aigov_policy_decide(p, &in, &d);
        said(&d, got, sizeof(got));
        if (strcmp(got, c[i].want))
            fail_msg("case %zu: %s, not %s", i, got, c[i].want);
        if (!d.allow)
            assert_string_equal(d.message, "files are not checked");
        assert_string_equal(aigov_policy_rule_check(p, 0, &in) ? aigov_policy_rule_check(p, 0, &in)
                            : "none", c[i].media & (AIGOV_MEDIA_FILE | AIGOV_MEDIA_AUDIO)
                            ? "none" : "media");
    }
    json_decref(claims);
    aigov_policy_free(p);
}

static void test_media_errors(void **state)
{
    char *errors = NULL;
    const char *text = "version: 1\nrules:\n"
        "  - {name: a, decision: deny, when: {media: [image, video]}}\n"
        "  - {name: b, decision: deny, when: {media: []}}\n"
        "  - {name: c, decision: deny, when: {media: image}}\n"
        "  - {name: d, decision: deny, when: {media: [file, File, file]}}\n";
    aigov_policy_t *p = aigov_policy_load_mem("p.yaml", text, strlen(text), NULL, NULL, NULL, &errors);

    (void) state;
    assert_null(p);
    assert_non_null(errors);
    if (!strstr(errors, "p.yaml:3:53: media 'video' is not a kind of media: image, audio or file")
        || !strstr(errors, "p.yaml:4:45: media is an empty list")
        || !strstr(errors, "p.yaml:5:45: media must be a list, e.g. [image, file]")
        || !strstr(errors, "p.yaml:6:52: media 'File' is not a kind of media")
        || !strstr(errors, "p.yaml:6:58: media 'file' is given twice"))
        fail_msg("%s", errors);
    free(errors);
}

/* A rule that lists every kind an earlier deny rule lists is shadowed
 * there; one that lists a kind more, or none, is not. */
static void test_media_shadowing(void **state)
{
    aigov_policy_t *p = must_load("version: 1\nrules:\n"
        "  - {name: no-media, decision: deny, when: {groups: [s], media: [image, file]}}\n"
        "  - {name: files, decision: allow, when: {groups: [s], media: [file]}}\n"
        "  - {name: audio-too, decision: allow, when: {groups: [s], media: [file, audio]}}\n"
        "  - {name: rest, decision: allow, when: {groups: [s]}}\n");
    const char *w = aigov_policy_warnings(p);

    (void) state;
    assert_non_null(w);
    assert_non_null(strstr(w, "rule 'files' can never match: rule 'no-media'"));
    assert_null(strstr(w, "rule 'audio-too' can never"));
    assert_null(strstr(w, "rule 'rest' can never"));
    aigov_policy_free(p);
}

static void test_uninspectable_and_max_n_errors(void **state)
{
    char *errors = NULL;
    const char *text = "version: 1\nrules:\n"
        "  - name: a\n"
        "    uninspectable: maybe\n"
        "    limits: {max_n: 0}\n"
        "    decision: allow\n"
        "  - name: b\n"
        "    uninspectable: {x: 1}\n"
        "    limits: {max_n: 1000000000001}\n"
        "    decision: allow\n";
    aigov_policy_t *p = aigov_policy_load_mem("p.yaml", text, strlen(text), NULL, NULL, NULL, &errors);

    (void) state;
    assert_null(p);
    assert_non_null(errors);
    assert_non_null(strstr(errors, "p.yaml:4:20: uninspectable must be allow or deny, not 'maybe'"));
    assert_non_null(strstr(errors, "p.yaml:5:21: max_n must be a positive whole number"));
    assert_non_null(strstr(errors, "p.yaml:8:20: uninspectable must be allow or deny"));
    assert_non_null(strstr(errors, "p.yaml:9:21: max_n must be at most"));
    free(errors);
}

static void test_groups_for_audit(void **state)
{
    aigov_policy_t *p = must_load("version: 1\ndefault: allow\n");
    aigov_decision_t d;
    json_t *c, *g;
    char *s;
    (void) state;

    decide(p, "{\"sub\":\"a\",\"groups\":\" x  y \"}", "m", CHAT, -1, 0, &d, &c);
    g = aigov_decision_groups(&d);
    s = json_dumps(g, JSON_COMPACT);
    assert_string_equal(s, "[\"x\",\"y\"]");
    free(s);
    json_decref(g);
    json_decref(c);

    decide(p, "{\"sub\":\"a\",\"groups\":[\"x\",3]}", "m", CHAT, -1, 0, &d, &c);
    g = aigov_decision_groups(&d);
    s = json_dumps(g, JSON_COMPACT);
    assert_string_equal(s, "[\"x\"]");
    free(s);
    json_decref(g);
    json_decref(c);
    aigov_policy_free(p);
}

static void test_rule_check_reports_condition(void **state)
{
    aigov_policy_t *p = must_load(tiers);
    json_t *c = json_pack("{s:s,s:[s]}", "sub", "ian", "groups", "interns");
    aigov_policy_input_t in = { c, CHAT, CHAT, "gpt-4o", -1, 0, 1, NULL, NULL, 0, 0 };
    unsigned line = 0;
    (void) state;

    assert_string_equal(aigov_policy_rule_check(p, 0, &in), "endpoints");
    assert_string_equal(aigov_policy_rule_check(p, 1, &in), "models");
    assert_string_equal(aigov_policy_rule_check(p, 2, &in), "subjects");
    assert_string_equal(aigov_policy_rule_check(p, 3, &in), "claims");
    in.model = "gpt-4o-mini";
    assert_null(aigov_policy_rule_check(p, 1, &in));
    assert_string_equal(aigov_policy_rule_file(p, 1, &line), "p.yaml");
    assert_int_equal(line, 5);
    assert_true(aigov_policy_rule_allows(p, 1));
    json_decref(c);
    aigov_policy_free(p);
}

static void test_example_policy_decisions(void **state)
{
    char *errors = NULL;
    aigov_policy_t *p = aigov_policy_load("policies/example.yaml", NULL, NULL, NULL, &errors);
    aigov_policy_case_t *cases;
    size_t n;
    (void) state;

    assert_non_null(p);
    cases = aigov_policy_cases_load("policies/example.cases.yaml", &n, &errors);
    assert_non_null(cases);
    for (size_t i = 0; i < n; i++) {
        aigov_policy_input_t in;
        aigov_decision_t d;
        aigov_policy_case_input(&cases[i], &in);
        aigov_policy_decide(p, &in, &d);
        if (d.allow != cases[i].expect_allow)
            print_error("case %s: got %s (%s)\n", cases[i].name, d.rule, d.message);
        assert_int_equal(d.allow, cases[i].expect_allow);
        if (cases[i].rule)
            assert_string_equal(d.rule, cases[i].rule);
        if (cases[i].code)
            assert_string_equal(d.code, cases[i].code);
    }
    aigov_policy_cases_free(cases, n);
    aigov_policy_free(p);
}

/* ---- globs ------------------------------------------------------------------------- */

static void *heap_alloc(void *actx, size_t n)
{
    void **list = actx;   /* a tiny list of blocks to free afterwards */
    for (int i = 0; i < 16; i++) {
        if (!list[i]) {
            list[i] = calloc(1, n);
            return list[i];
        }
    }
    return NULL;
}

static int gmatch(const char *pat, const char *s)
{
    aigov_glob_t g;
    void *blocks[16] = { 0 };
    char err[128];
    int r;

    if (aigov_glob_compile(&g, pat, heap_alloc, blocks, err, sizeof(err)) != 0) {
        print_error("compile %s: %s\n", pat, err);
        return -1;
    }
    r = aigov_glob_match(&g, s, strlen(s));
    for (int i = 0; i < 16; i++)
        free(blocks[i]);
    return r;
}

static const char *gerr(const char *pat)
{
    static char err[128];
    aigov_glob_t g;
    void *blocks[16] = { 0 };

    err[0] = '\0';
    if (aigov_glob_compile(&g, pat, heap_alloc, blocks, err, sizeof(err)) == 0)
        strcpy(err, "ok");
    for (int i = 0; i < 16; i++)
        free(blocks[i]);
    return err;
}

static void test_glob_basics(void **state)
{
    (void) state;
    assert_int_equal(gmatch("gpt-4o", "gpt-4o"), 1);
    assert_int_equal(gmatch("gpt-4o", "gpt-4o-mini"), 0);
    assert_int_equal(gmatch("gpt-4o*", "gpt-4o"), 1);
    assert_int_equal(gmatch("gpt-4o*", "gpt-4o-mini"), 1);
    assert_int_equal(gmatch("*", ""), 1);
    assert_int_equal(gmatch("**", "abc"), 1);
    assert_int_equal(gmatch("*-mini", "gpt-4o-mini"), 1);
    assert_int_equal(gmatch("*-mini", "gpt-4o-mini-x"), 0);
    assert_int_equal(gmatch("a*b*c", "a-b-b-c"), 1);
    assert_int_equal(gmatch("a*b*c", "a-c-b"), 0);
    assert_int_equal(gmatch("?", ""), 0);
    assert_int_equal(gmatch("?", "ab"), 0);
    assert_int_equal(gmatch("caf?", "caf\xc3\xa9"), 1);      /* ? is one character */
    assert_int_equal(gmatch("/v1/*", "/v1/chat/completions"), 1);   /* * crosses '/' */
}

static void test_glob_classes_and_escapes(void **state)
{
    (void) state;
    assert_int_equal(gmatch("v[0-9]", "v7"), 1);
    assert_int_equal(gmatch("v[0-9]", "vx"), 0);
    assert_int_equal(gmatch("v[!0-9]", "vx"), 1);
    assert_int_equal(gmatch("v[^0-9]", "v7"), 0);
    assert_int_equal(gmatch("v[!0-9]", "v\xc3\xa9"), 0);     /* classes are ASCII only */
    assert_int_equal(gmatch("[]]", "]"), 1);
    assert_int_equal(gmatch("[a-]", "-"), 1);
    assert_int_equal(gmatch("[\\]]", "]"), 1);
    assert_int_equal(gmatch("a\\*", "a*"), 1);
    assert_int_equal(gmatch("a\\*", "ab"), 0);
    assert_int_equal(gmatch("\\[x]", "[x]"), 1);
    assert_string_equal(gerr(""), "empty pattern");
    assert_string_equal(gerr("a["), "unterminated character class '[' at position 2");
    assert_string_equal(gerr("[]"), "unterminated character class '[' at position 1");
    assert_string_equal(gerr("[\\"), "unterminated character class '[' at position 1");
    assert_string_equal(gerr("x\\"), "pattern ends with a lone '\\'");
    assert_string_equal(gerr("[9-0]"), "range '9-0' in character class is reversed (position 2)");
    assert_string_equal(gerr("[\xc3\xa9]"), "character classes hold ASCII characters only (position 2)");
}

static void test_glob_pathological_is_fast(void **state)
{
    char text[4097];
    clock_t t0 = clock();
    (void) state;

    memset(text, 'a', 4096);
    text[4096] = '\0';
    /* exponential for naive recursive matchers; linear-ish here */
    for (int i = 0; i < 20; i++)
        assert_int_equal(gmatch("*a*a*a*a*a*a*a*a*a*a*a*a*b", text), 0);
    assert_true((double) (clock() - t0) / CLOCKS_PER_SEC < 2.0);
    /* texts above the bound never match */
    {
        char *big = malloc(5000);
        memset(big, 'a', 4999);
        big[4999] = '\0';
        assert_int_equal(gmatch("*", big), 0);
        free(big);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_groups_any_of),
        cmocka_unit_test(test_custom_identity_claims),
        cmocka_unit_test(test_subjects_globs),
        cmocka_unit_test(test_claims_values),
        cmocka_unit_test(test_quoted_claim_paths),
        cmocka_unit_test(test_models_and_endpoints),
        cmocka_unit_test(test_first_match_wins),
        cmocka_unit_test(test_deny_rule_without_reason),
        cmocka_unit_test(test_default_deny_explains_model),
        cmocka_unit_test(test_default_deny_explains_endpoint),
        cmocka_unit_test(test_hostile_strings_in_messages),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_n_multiplies_max_tokens),
        cmocka_unit_test(test_uninspectable),
        cmocka_unit_test(test_unread),
        cmocka_unit_test(test_answer_later),
        cmocka_unit_test(test_media_condition),
        cmocka_unit_test(test_media_errors),
        cmocka_unit_test(test_media_shadowing),
        cmocka_unit_test(test_uninspectable_and_max_n_errors),
        cmocka_unit_test(test_groups_for_audit),
        cmocka_unit_test(test_rule_check_reports_condition),
        cmocka_unit_test(test_example_policy_decisions),
        cmocka_unit_test(test_glob_basics),
        cmocka_unit_test(test_glob_classes_and_escapes),
        cmocka_unit_test(test_glob_pathological_is_fast),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
