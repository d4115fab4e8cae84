/* Unit tests of lib/policy: loading, error places, multi-file folders. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "media.h"
#include "policy.h"

/* ---- helpers ------------------------------------------------------------- */

/* Loads text as "p.yaml"; returns the error text (caller frees) or NULL. */
static char *load_errors(const char *text)
{
    char *errors = NULL;
    aigov_policy_t *p = aigov_policy_load_mem("p.yaml", text, strlen(text), NULL, NULL, NULL,
                                              &errors);
    aigov_policy_free(p);
    return errors;
}

static void expect_errors(const char *text, const char *want)
{
    char *got = load_errors(text);

    if (!got || strcmp(got, want) != 0)
        print_error("policy:\n%s\nwant:\n%sgot:\n%s\n", text, want, got ? got : "(no errors)\n");
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

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

static char tmpdir[64];

static void write_file(const char *name, const char *text)
{
    char path[256];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int make_tmpdir(void **state)
{
    (void) state;
    strcpy(tmpdir, "/tmp/aigov-policy-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
    char cmd[128];
    (void) state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A factory standing in for the plugin host. */
typedef struct {
    int created;
    int destroyed;
    char last_config[256];
    int last_action;
} fake_host_t;

static void *fake_factory(void *ctx, const char *plugin, const json_t *config, int action,
                          char *err, size_t errlen)
{
    fake_host_t *h = ctx;
    char *dump;

    if (strcmp(plugin, "pii") && strcmp(plugin, "blocklist")) {
        snprintf(err, errlen, "no plugin named %s is loaded (aigov_plugin)", plugin);
        return NULL;
    }
    if (json_object_get(config, "bad")) {
        snprintf(err, errlen, "unknown key 'bad'");
        return NULL;
    }
    dump = json_dumps(config, JSON_COMPACT | JSON_SORT_KEYS);
    snprintf(h->last_config, sizeof(h->last_config), "%s", dump ? dump : "");
    free(dump);
    h->last_action = action;
    h->created++;
    return malloc(1);
}

static void fake_destroy(void *ctx, void *inst)
{
    fake_host_t *h = ctx;
    h->destroyed++;
    free(inst);
}

#define HEAD "version: 1\ndefault: deny\nrules:\n"

/* ---- loading: the example and the basics --------------------------------- */

static void test_example_loads_and_hashes(void **state)
{
    char *errors = NULL, hex[65];
    aigov_policy_t *p = aigov_policy_load("policies/example.yaml", NULL, NULL, NULL, &errors);
    unsigned char d[32];
    unsigned dl;
    FILE *f;
    char buf[65536];
    size_t n;
    (void) state;

    assert_null(errors);
    assert_non_null(p);
    assert_int_equal(aigov_policy_rule_count(p), 6);
    assert_string_equal(aigov_policy_rule_name(p, 0), "list-models");
    assert_false(aigov_policy_default_allow(p));
    f = fopen("policies/example.yaml", "rb");
    assert_non_null(f);
    n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    EVP_Digest(buf, n, d, &dl, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        sprintf(hex + 2 * i, "%02x", d[i]);
    assert_string_equal(aigov_policy_sha256(p), hex);
    aigov_policy_free(p);
}

static void test_example_with_plugins(void **state)
{
    fake_host_t h = { 0 };
    char *errors = NULL;
    aigov_policy_t *p;
    (void) state;

    /* The fake host knows only pii and blocklist: secrets and injection
     * are reported where each filter names them. */
    p = aigov_policy_load("policies/example.yaml", fake_factory, fake_destroy, &h, &errors);
    assert_null(p);
    assert_non_null(errors);
    assert_non_null(strstr(errors, "policies/example.yaml:45:17: no plugin named secrets is loaded (aigov_plugin)\n"));
    assert_non_null(strstr(errors, "no plugin named injection is loaded"));
    assert_int_equal(h.created, h.destroyed);
    assert_true(h.created > 0);
    free(errors);
}

static void test_missing_file(void **state)
{
    char *errors = NULL;
    (void) state;
    assert_null(aigov_policy_load("/nonexistent/p.yaml", NULL, NULL, NULL, &errors));
    assert_string_equal(errors, "/nonexistent/p.yaml: cannot read the policy: No such file or directory\n");
    free(errors);
}

static void test_minimal_policy(void **state)
{
    aigov_policy_t *p = must_load("version: 1\n");
    (void) state;
    assert_int_equal(aigov_policy_rule_count(p), 0);
    assert_false(aigov_policy_default_allow(p));
    assert_string_equal(aigov_policy_subject_claim(p), "sub");
    assert_string_equal(aigov_policy_groups_claim(p), "groups");
    aigov_policy_free(p);
}

/* ---- loading: every error with its place --------------------------------- */

static void test_err_top_level(void **state)
{
    (void) state;
    expect_errors("version: 2\ndefault: maybe\ncolour: blue\n",
                  "p.yaml:1:10: version must be 1 (the policy language version), not '2'\n"
                  "p.yaml:2:10: default must be deny or allow, not 'maybe'\n"
                  "p.yaml:3:1: unknown key 'colour' in the policy (expected one of: version, default, identity, rules, description)\n");
    expect_errors("default: deny\n",
                  "p.yaml:1:1: missing 'version: 1' (the policy language version)\n");
    expect_errors("- a\n- b\n",
                  "p.yaml:1:1: a policy file is a mapping with the keys version, default, identity and rules\n"
                  "p.yaml:1:1: missing 'version: 1' (the policy language version)\n");
    expect_errors("version: 1\nrules: {a: 1}\n",
                  "p.yaml:2:8: rules must be a list of rules, each starting with '- name:'\n");
}

static void test_err_yaml_syntax(void **state)
{
    (void) state;
    expect_errors("version: 1\nrules:\n  - name: [a\n",
                  "p.yaml:4:1: YAML syntax error: did not find expected ',' or ']' while parsing a flow sequence\n");
    expect_errors("", "p.yaml:1:1: the file is empty\n");
    expect_errors("# only a comment\n", "p.yaml:1:1: the file is empty\n");
    expect_errors("version: 1\n---\nversion: 1\n",
                  "p.yaml:2:1: a policy file holds one YAML document; start another file instead of '---'\n");
    expect_errors("version: 1\ndefault: &d deny\nidentity: {subject_claim: *d}\n",
                  "p.yaml:3:27: YAML aliases (*d) are not supported; write the value out\n");
}

static void test_err_deep_nesting(void **state)
{
    char text[400];
    size_t n;
    (void) state;

    n = (size_t) snprintf(text, sizeof(text), "version: 1\nx: ");
    for (int i = 0; i < 40; i++)
        text[n++] = '[';
    text[n] = '\0';
    expect_errors(text, "p.yaml:2:35: nested more than 32 levels deep\n");
}

static void test_err_duplicate_key(void **state)
{
    (void) state;
    expect_errors("version: 1\ndefault: deny\ndefault: allow\n",
                  "p.yaml:3:1: key 'default' is given twice in the policy\n");
}

static void test_err_identity(void **state)
{
    (void) state;
    expect_errors("version: 1\nidentity:\n  subject_claim: email\n  colour: blue\n",
                  "p.yaml:4:3: unknown key 'colour' in identity (expected one of: subject_claim, groups_claim)\n");
    expect_errors("version: 1\nidentity: sub\n",
                  "p.yaml:2:11: identity must be a mapping, e.g. {subject_claim: sub, groups_claim: groups}\n");
    expect_errors("version: 1\nidentity: {subject_claim: [a]}\n",
                  "p.yaml:2:27: subject_claim must be text, not a list\n");
}

static void test_err_claim_path_quotes(void **state)
{
    (void) state;
    /* each fault at its own column: the bad character, inside the scalar */
    expect_errors("version: 1\nidentity:\n  groups_claim: 'a.\"b.c'\n",
                  "p.yaml:3:20: claim path 'a.\"b.c': a quote opened here is never closed\n");
    expect_errors("version: 1\nidentity:\n  subject_claim: x\"y\n",
                  "p.yaml:3:19: claim path 'x\"y': a quote may only open a name, right after a dot or at the start\n");
    expect_errors(HEAD "  - name: a\n    decision: allow\n    when:\n      claims:\n"
                  "        a.\"b\"c: 1\n"
                  "        a..\"b\": 1\n"
                  "        '\"a\\x\"': 1\n"
                  "        '\"a\".': 1\n",
                  "p.yaml:8:14: claim path 'a.\"b\"c': a closing quote must end the name: a dot or the end of the path follows it\n"
                  "p.yaml:9:11: claim path 'a..\"b\"': empty name: two dots in a row, or a dot at the start or end\n"
                  "p.yaml:10:12: claim path '\"a\\x\"': inside quotes a backslash may only escape \" or \\\n"
                  "p.yaml:11:13: claim path '\"a\".': empty name: two dots in a row, or a dot at the start or end\n");
    /* without quotes, paths stay as they were: any name, dots split it */
    aigov_policy_t *p = must_load(HEAD "  - {name: a, decision: allow, when: {claims: {a..b: 1, .x: 2}}}\n");
    aigov_policy_free(p);
}

static void test_err_rule_shape(void **state)
{
    (void) state;
    expect_errors(HEAD "  - name: a\n    decision: perhaps\n    colour: red\n  - when: {}\n  - just text\n",
                  "p.yaml:5:15: decision must be allow or deny, not 'perhaps'\n"
                  "p.yaml:6:5: unknown key 'colour' in rule (expected one of: name, description, when, limits, filters, audit, decision, reason, uninspectable)\n"
                  "p.yaml:7:5: rule has no name\n"
                  "p.yaml:7:5: rule has no decision (allow or deny)\n"
                  "p.yaml:8:5: each rule is a mapping with a name, conditions under when, and a decision\n");
    expect_errors(HEAD "  - name: a\n",
                  "p.yaml:4:5: rule 'a' has no decision (allow or deny)\n");
    expect_errors(HEAD "  - name: default\n    decision: allow\n",
                  "p.yaml:4:11: 'default' is reserved for the policy's default decision; name the rule otherwise\n");
    expect_errors(HEAD "  - name: \"a\\tb\"\n    decision: allow\n",
                  "p.yaml:4:11: name must not contain control characters (tabs, line breaks)\n");
}

static void test_err_duplicate_rule_name(void **state)
{
    (void) state;
    expect_errors(HEAD "  - name: a\n    decision: allow\n  - name: b\n    decision: allow\n"
                  "  - name: a\n    decision: deny\n",
                  "p.yaml:8:11: duplicate rule name 'a' (first used at p.yaml:4:5)\n");
}

/* Many rules, so that the name table grows several times between a name's
 * first use and its repeats; each repeat names the first place. Claims
 * and case names repeated far apart likewise. */
static void test_err_duplicate_names_many(void **state)
{
    size_t cap = 6000 * 64 + 256, off = 0;
    char *text = malloc(cap), *errors = NULL, want[512], path[128];
    aigov_policy_case_t *c;
    size_t n;
    FILE *f;
    (void) state;

    assert_non_null(text);
    off += (size_t) snprintf(text + off, cap - off, HEAD);
    for (int i = 0; i < 5000; i++)
        off += (size_t) snprintf(text + off, cap - off, "  - {name: r%d, decision: allow}\n", i);
    off += (size_t) snprintf(text + off, cap - off, "  - {name: r0, decision: deny}\n");
    off += (size_t) snprintf(text + off, cap - off, "  - {name: r4999, decision: deny}\n");
    off += (size_t) snprintf(text + off, cap - off, "  - {name: r0, decision: deny}\n");
    expect_errors(text,
                  "p.yaml:5004:12: duplicate rule name 'r0' (first used at p.yaml:4:5)\n"
                  "p.yaml:5005:12: duplicate rule name 'r4999' (first used at p.yaml:5003:5)\n"
                  "p.yaml:5006:12: duplicate rule name 'r0' (first used at p.yaml:4:5)\n");

    off = (size_t) snprintf(text, cap, HEAD "  - name: a\n    decision: allow\n"
                            "    when:\n      claims:\n");
    for (int i = 0; i < 3000; i++)
        off += (size_t) snprintf(text + off, cap - off, "        c%d: v\n", i);
    off += (size_t) snprintf(text + off, cap - off, "        c7: w\n");
    expect_errors(text, "p.yaml:3008:9: claim 'c7' is given twice\n");

    snprintf(path, sizeof(path), "%s/many.cases.yaml", tmpdir);
    f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 3000; i++)
        fprintf(f, "- {name: c%d, expect: deny}\n", i);
    fprintf(f, "- {name: c2999, expect: deny}\n");
    fclose(f);
    assert_null(c = aigov_policy_cases_load(path, &n, &errors));
    snprintf(want, sizeof(want), "%s:3001:1: case name 'c2999' is used twice (first at line 3000)\n",
             path);
    assert_string_equal(errors, want);
    free(errors);
    free(text);
}

static void test_err_conditions(void **state)
{
    (void) state;
    expect_errors(HEAD "  - name: a\n    decision: allow\n    when:\n"
                  "      groups: analysts\n"
                  "      subjects: []\n"
                  "      models: [\"gpt-[4\", \"x[z-a]\", \"y\\\\\"]\n"
                  "      endpoints: [v1/chat]\n"
                  "      claims: {tenant: {a: 1}, org: }\n"
                  "      hours: [9]\n",
                  "p.yaml:7:15: groups must be a list, e.g. [analysts, engineers]\n"
                  "p.yaml:8:17: subjects is an empty list, which matches nothing; remove it or list at least one\n"
                  "p.yaml:9:16: bad pattern 'gpt-[4': unterminated character class '[' at position 5\n"
                  "p.yaml:9:26: bad pattern 'x[z-a]': range 'z-a' in character class is reversed (position 3)\n"
                  "p.yaml:9:36: bad pattern 'y\\': pattern ends with a lone '\\'\n"
                  "p.yaml:10:19: endpoint 'v1/chat' must be a path starting with '/', e.g. /v1/chat/completions\n"
                  "p.yaml:11:24: claim tenant must be compared with a value or a list of values, not a mapping\n"
                  "p.yaml:11:37: claim org needs a value\n"
                  "p.yaml:12:7: unknown key 'hours' in when (expected one of: groups, subjects, claims, models, endpoints, media)\n");
    expect_errors(HEAD "  - name: a\n    decision: allow\n    when: [groups]\n",
                  "p.yaml:6:11: when must be a mapping of conditions (groups, subjects, claims, models, endpoints, media)\n");
}

static void test_err_limits(void **state)
{
    (void) state;
    expect_errors(HEAD "  - name: a\n    decision: allow\n    limits:\n"
                  "      max_tokens: 0\n"
                  "      max_prompt_chars: -5\n"
                  "      requests_per_minute: 1.5\n"
                  "      tokens_per_minute: \"100\"\n"
                  "      tokens_per_day: 10000000000000\n"
                  "      burst: 3\n",
                  "p.yaml:7:19: max_tokens must be a positive whole number, not '0'\n"
                  "p.yaml:8:25: max_prompt_chars must be a positive whole number, not '-5'\n"
                  "p.yaml:9:28: requests_per_minute must be a positive whole number, not '1.5'\n"
                  "p.yaml:10:26: tokens_per_minute must be a number without quotes\n"
                  "p.yaml:11:23: tokens_per_day must be at most 1000000000000\n"
                  "p.yaml:12:7: unknown key 'burst' in limits (expected one of: max_tokens, max_prompt_chars, requests_per_minute, tokens_per_minute, tokens_per_day, max_n)\n");
    expect_errors(HEAD "  - name: a\n    decision: allow\n    limits:\n      max_tokens: [1]\n",
                  "p.yaml:7:19: max_tokens must be a positive whole number, not a list\n");
}

static void test_err_filters_shape(void **state)
{
    (void) state;
    expect_errors(HEAD "  - name: a\n    decision: allow\n    filters:\n"
                  "      - plugin: pii\n"
                  "        stages: [request, sideways]\n"
                  "        action: explode\n"
                  "        on_error: ignore\n"
                  "        config: [1]\n"
                  "      - stages: [request]\n"
                  "      - plugin: \"bad name\"\n"
                  "        action: flag\n",
                  "p.yaml:8:27: unknown stage 'sideways' (expected request or response)\n"
                  "p.yaml:9:17: unknown action 'explode' (expected block, redact or flag)\n"
                  "p.yaml:10:19: on_error must be block or allow, not 'ignore'\n"
                  "p.yaml:11:17: config must be a mapping, e.g. {types: [email, phone]}\n"
                  "p.yaml:12:9: filter has no plugin (the NAME of an aigov_plugin directive)\n"
                  "p.yaml:12:9: filter has no action (block, redact or flag)\n"
                  "p.yaml:13:17: plugin name 'bad name' may hold only letters, digits, '_', '-' and '.'\n");
    expect_errors(HEAD "  - name: a\n    decision: allow\n    audit: {content: everything}\n",
                  "p.yaml:6:22: content must be none, hash, redacted or full, not 'everything'\n");
}

static void test_err_filters_plugins(void **state)
{
    const char *text = HEAD "  - name: a\n    decision: allow\n    filters:\n"
                       "      - plugin: pii\n        action: redact\n        config: {types: [email], n: 3, t: 0.5, on: true}\n"
                       "      - plugin: nosuch\n        action: block\n        config: {x: 1}\n"
                       "      - plugin: blocklist\n        action: block\n        config:\n          bad: 1\n";
    fake_host_t h = { 0 };
    char *errors = NULL;
    aigov_policy_t *p;
    (void) state;

    p = aigov_policy_load_mem("p.yaml", text, strlen(text), fake_factory, fake_destroy, &h, &errors);
    assert_null(p);
    assert_string_equal(errors,
        "p.yaml:10:17: no plugin named nosuch is loaded (aigov_plugin)\n"
        "p.yaml:15:9: plugin blocklist rejected its config: unknown key 'bad'\n");
    /* the pii filter was built (with typed config) and destroyed again */
    assert_int_equal(h.created, 1);
    assert_int_equal(h.destroyed, 1);
    assert_string_equal(h.last_config, "{\"n\":3,\"on\":true,\"t\":0.5,\"types\":[\"email\"]}");
    assert_int_equal(h.last_action, AIGOV_FILTER_REDACT);
    free(errors);
}

static void test_filters_built_and_destroyed(void **state)
{
    const char *text = HEAD "  - name: a\n    decision: allow\n    filters:\n"
                       "      - plugin: pii\n        action: flag\n"
                       "      - plugin: blocklist\n        stages: [response]\n        action: block\n        on_error: allow\n";
    fake_host_t h = { 0 };
    char *errors = NULL;
    aigov_policy_t *p;
    json_t *claims = json_pack("{s:s}", "sub", "x");
    aigov_policy_input_t in = { claims, "/v1/chat/completions", NULL, "m", -1, 0, 1, NULL, NULL, 0, 0 };
    aigov_decision_t d;
    (void) state;

    p = aigov_policy_load_mem("p.yaml", text, strlen(text), fake_factory, fake_destroy, &h, &errors);
    assert_non_null(p);
    assert_int_equal(h.created, 2);
    assert_string_equal(h.last_config, "{}");
    aigov_policy_decide(p, &in, &d);
    assert_true(d.allow);
    assert_int_equal(d.nfilters, 2);
    assert_string_equal(d.filters[0].plugin, "pii");
    assert_non_null(d.filters[0].inst);
    assert_int_equal(d.filters[0].stages, AIGOV_STAGE_REQUEST | AIGOV_STAGE_RESPONSE);
    assert_int_equal(d.filters[0].action, AIGOV_FILTER_FLAG);
    assert_false(d.filters[0].fail_open);
    assert_int_equal(d.filters[0].line, 7);
    assert_int_equal(d.filters[1].stages, AIGOV_STAGE_RESPONSE);
    assert_int_equal(d.filters[1].action, AIGOV_FILTER_BLOCK);
    assert_true(d.filters[1].fail_open);
    aigov_policy_free(p);
    assert_int_equal(h.destroyed, 2);
    json_decref(claims);
}

static void test_all_errors_at_once(void **state)
{
    char *errors = load_errors(HEAD
        "  - name: a\n    decision: x\n"
        "  - name: b\n    decision: y\n"
        "  - name: c\n    decision: z\n    limits: {max_tokens: 0}\n");
    int lines = 0;
    (void) state;

    for (char *c = errors; c && *c; c++)
        lines += *c == '\n';
    assert_int_equal(lines, 4);
    free(errors);
}

static void test_error_cap(void **state)
{
    char *text = malloc(200 * 40 + 64), *errors;
    size_t n = (size_t) sprintf(text, HEAD);
    int lines = 0;
    (void) state;

    for (int i = 0; i < 150; i++)
        n += (size_t) sprintf(text + n, "  - {name: r%d, decision: x}\n", i);
    errors = load_errors(text);
    for (char *c = errors; *c; c++)
        lines += *c == '\n';
    assert_int_equal(lines, 101);
    assert_non_null(strstr(errors, "... and 50 more errors\n"));
    free(errors);
    free(text);
}

/* ---- folders ---------------------------------------------------------------- */

static void test_folder_order_and_hash(void **state)
{
    char *errors = NULL, path[128];
    aigov_policy_t *p;
    const char *a = "version: 1\ndefault: deny\nidentity: {subject_claim: email}\n"
                    "rules:\n  - {name: first, decision: allow, when: {groups: [a]}}\n";
    const char *b = "rules:\n  - {name: second, decision: allow}\n";
    (void) state;

    snprintf(path, sizeof(path), "%s/folder1", tmpdir);
    mkdir(path, 0700);
    write_file("folder1/20-b.yaml", b);
    write_file("folder1/10-a.yaml", a);
    write_file("folder1/example.cases.yaml", "- not a policy\n");
    write_file("folder1/.hidden.yaml", "garbage: [\n");
    write_file("folder1/notes.txt", "ignored\n");
    p = aigov_policy_load(path, NULL, NULL, NULL, &errors);
    if (!p)
        print_error("%s", errors);
    assert_non_null(p);
    assert_int_equal(aigov_policy_file_count(p), 2);
    assert_non_null(strstr(aigov_policy_file(p, 0), "10-a.yaml"));
    assert_int_equal(aigov_policy_rule_count(p), 2);
    assert_string_equal(aigov_policy_rule_name(p, 0), "first");
    assert_string_equal(aigov_policy_rule_name(p, 1), "second");
    assert_string_equal(aigov_policy_subject_claim(p), "email");

    /* the hash covers the files concatenated in load order */
    {
        unsigned char d[32];
        unsigned dl;
        char both[512], hex[65];
        snprintf(both, sizeof(both), "%s%s", a, b);
        EVP_Digest(both, strlen(both), d, &dl, EVP_sha256(), NULL);
        for (int i = 0; i < 32; i++)
            sprintf(hex + 2 * i, "%02x", d[i]);
        assert_string_equal(aigov_policy_sha256(p), hex);
    }
    aigov_policy_free(p);
}

static void test_folder_conflicts(void **state)
{
    char *errors = NULL, path[128], want[1024];
    (void) state;

    snprintf(path, sizeof(path), "%s/folder2", tmpdir);
    mkdir(path, 0700);
    write_file("folder2/a.yaml", "version: 1\ndefault: deny\nidentity: {subject_claim: sub}\n"
                                 "rules:\n  - {name: r, decision: allow}\n");
    write_file("folder2/b.yaml", "default: deny\n");        /* the same again: fine */
    write_file("folder2/c.yaml", "default: allow\nidentity: {subject_claim: email}\n"
                                 "rules:\n  - {name: r, decision: deny}\n");
    assert_null(aigov_policy_load(path, NULL, NULL, NULL, &errors));
    snprintf(want, sizeof(want),
             "%s/c.yaml:1:10: default is allow here but deny in %s/a.yaml; set it in one file only\n"
             "%s/c.yaml:2:11: identity is set differently in %s/a.yaml; set it in one file only\n"
             "%s/c.yaml:4:12: duplicate rule name 'r' (first used at %s/a.yaml:5:5)\n",
             path, path, path, path, path, path);
    assert_string_equal(errors, want);
    free(errors);
}

static void test_folder_empty_and_version(void **state)
{
    char *errors = NULL, path[128], want[512];
    (void) state;

    snprintf(path, sizeof(path), "%s/folder3", tmpdir);
    mkdir(path, 0700);
    assert_null(aigov_policy_load(path, NULL, NULL, NULL, &errors));
    snprintf(want, sizeof(want), "%s: the folder holds no *.yaml policy files\n", path);
    assert_string_equal(errors, want);
    free(errors);

    write_file("folder3/a.yaml", "rules: []\n");
    write_file("folder3/b.yaml", "version: 1\n");     /* a later file may set it */
    errors = NULL;
    aigov_policy_t *p = aigov_policy_load(path, NULL, NULL, NULL, &errors);
    assert_non_null(p);
    aigov_policy_free(p);
}

/* Each file may hold 8 MiB and a folder 32 MiB in all: the file that
 * crosses the bound is named once, and the files after it are not read. */
static void write_big(const char *name, const char *head, size_t size)
{
    char path[256], line[1024];
    FILE *f;
    size_t off;

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(head, f);
    off = strlen(head);
    memset(line, 'x', sizeof(line));
    line[0] = '#';
    line[sizeof(line) - 1] = '\n';
    while (off + sizeof(line) <= size) {
        fwrite(line, 1, sizeof(line), f);
        off += sizeof(line);
    }
    for (; off < size - 1; off++)
        fputc('#', f);
    fputc('\n', f);
    fclose(f);
}

static void test_folder_total_size(void **state)
{
    char *errors = NULL, path[128], want[512];
    aigov_policy_t *p;
    const size_t big = (8u << 20) - 1024;
    (void) state;

    snprintf(path, sizeof(path), "%s/folder4", tmpdir);
    mkdir(path, 0700);
    write_big("folder4/a.yaml", "version: 1\ndefault: deny\nrules: [{name: a, decision: allow}]\n", big);
    write_big("folder4/b.yaml", "rules: [{name: b, decision: allow}]\n", big);
    write_big("folder4/c.yaml", "rules: [{name: c, decision: allow}]\n", big);
    write_big("folder4/d.yaml", "rules: [{name: d, decision: allow}]\n", big);
    /* four files just under 8 MiB each: under 32 MiB together */
    p = aigov_policy_load(path, NULL, NULL, NULL, &errors);
    if (!p)
        print_error("%s", errors);
    assert_non_null(p);
    assert_int_equal(aigov_policy_rule_count(p), 4);
    aigov_policy_free(p);

    write_big("folder4/e.yaml", "rules: [{name: e, decision: allow}]\n", 8192);
    write_big("folder4/f.yaml", "rules: [{name: f, decision: allow}]\n", 100);
    assert_null(aigov_policy_load(path, NULL, NULL, NULL, &errors));
    snprintf(want, sizeof(want), "%s/e.yaml: the policy's files together are larger than %u bytes\n",
             path, 32u << 20);
    assert_string_equal(errors, want);
    free(errors);
}

/* ---- test-case files ---------------------------------------------------------- */

static void test_cases_load(void **state)
{
    char path[128], *errors = NULL;
    aigov_policy_case_t *c;
    size_t n;
    (void) state;

    c = aigov_policy_cases_load("policies/example.cases.yaml", &n, &errors);
    assert_non_null(c);
    assert_true(n >= 10);
    assert_string_equal(c[0].name, "analyst uses gpt-4o");
    assert_int_equal(c[0].max_tokens, 1000);
    assert_string_equal(c[0].endpoint, "/v1/chat/completions");
    aigov_policy_cases_free(c, n);

    write_file("bad.cases.yaml",
               "- name: a\n  expect: perhaps\n"
               "- name: b\n  expect: allow\n  request: {model: m, tokens: 5, max_tokens: lots}\n"
               "- name: a\n  expect: deny\n");
    snprintf(path, sizeof(path), "%s/bad.cases.yaml", tmpdir);
    assert_null(aigov_policy_cases_load(path, &n, &errors));
    assert_non_null(strstr(errors, ":2:11: expect must be allow or deny, not 'perhaps'\n"));
    assert_non_null(strstr(errors, ":5:23: unknown key 'tokens' in a case's request (expected one of: model, endpoint, max_tokens, prompt_chars, n, inspected, unread, background, media)\n"));
    assert_non_null(strstr(errors, ":5:46: max_tokens must be a whole number, not text\n"));
    assert_non_null(strstr(errors, ":6:1: case name 'a' is used twice (first at line 1)\n"));
    free(errors);

    /* the kinds of media a request carries, as the audit record lists them */
    write_file("media.cases.yaml",
               "- name: pdf\n  expect: deny\n  request: {media: [file, image]}\n"
               "- name: none\n  expect: allow\n  request: {media: []}\n");
    snprintf(path, sizeof(path), "%s/media.cases.yaml", tmpdir);
    c = aigov_policy_cases_load(path, &n, &errors);
    assert_non_null(c);
    assert_int_equal(c[0].media, AIGOV_MEDIA_FILE | AIGOV_MEDIA_IMAGE);
    assert_int_equal(c[1].media, 0);
    aigov_policy_cases_free(c, n);
    write_file("badmedia.cases.yaml",
               "- name: a\n  expect: deny\n  request: {media: [video]}\n"
               "- name: b\n  expect: deny\n  request: {media: file}\n");
    snprintf(path, sizeof(path), "%s/badmedia.cases.yaml", tmpdir);
    assert_null(aigov_policy_cases_load(path, &n, &errors));
    if (!strstr(errors, ":3:21: media must be a list of image, audio, file, not video\n")
        || !strstr(errors, ":6:20: media must be a list of image, audio, file, not text\n"))
        fail_msg("%s", errors);
    free(errors);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_loads_and_hashes),
        cmocka_unit_test(test_example_with_plugins),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_minimal_policy),
        cmocka_unit_test(test_err_top_level),
        cmocka_unit_test(test_err_yaml_syntax),
        cmocka_unit_test(test_err_deep_nesting),
        cmocka_unit_test(test_err_duplicate_key),
        cmocka_unit_test(test_err_identity),
        cmocka_unit_test(test_err_claim_path_quotes),
        cmocka_unit_test(test_err_rule_shape),
        cmocka_unit_test(test_err_duplicate_rule_name),
        cmocka_unit_test(test_err_duplicate_names_many),
        cmocka_unit_test(test_err_conditions),
        cmocka_unit_test(test_err_limits),
        cmocka_unit_test(test_err_filters_shape),
        cmocka_unit_test(test_err_filters_plugins),
        cmocka_unit_test(test_filters_built_and_destroyed),
        cmocka_unit_test(test_all_errors_at_once),
        cmocka_unit_test(test_error_cap),
        cmocka_unit_test(test_folder_order_and_hash),
        cmocka_unit_test(test_folder_conflicts),
        cmocka_unit_test(test_folder_empty_and_version),
        cmocka_unit_test(test_folder_total_size),
        cmocka_unit_test(test_cases_load),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
