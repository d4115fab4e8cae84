/*
 * Unit tests of the secrets plugin, compiled together with the plugin's
 * sources and driven through its ABI. Every credential below is random
 * text made for this test; none was ever issued by anyone.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "aigov_plugin.h"
#include "plugin_harness.h"
#include "secrets/secrets.h"

static const aigov_plugin_t *P(void) { return aigov_plugin_entry(); }

static void *make_all(void)
{
    char err[256] = "";
    void *inst = plugin_create("{}", AIGOV_ACTION_REDACT, err, sizeof(err));
    assert_non_null(inst);
    return inst;
}

static void expect_v(const char *text, aigov_verdict_t v, size_t n, va_list ap)
{
    size_t from = 0;

    if (v.nspans != n) {
        for (size_t i = 0; i < v.nspans; i++)
            print_message("  got %s [%zu,%zu) '%.*s'\n", v.spans[i].label,
                          v.spans[i].start, v.spans[i].end,
                          (int)(v.spans[i].end - v.spans[i].start),
                          text + v.spans[i].start);
        fail_msg("in '%s': expected %zu spans, got %zu", text, n, v.nspans);
    }
    if (n == 0) {
        assert_int_equal(v.kind, AIGOV_ALLOW);
        return;
    }
    assert_int_equal(v.kind, AIGOV_REDACT);
    assert_non_null(v.reason);
    for (size_t i = 0; i < n; i++) {
        const char *label = va_arg(ap, const char *);
        const char *want = va_arg(ap, const char *);
        const char *at = strstr(text + from, want);
        size_t s;
        if (at == NULL)
            fail_msg("test bug: '%s' not in text", want);
        s = (size_t)(at - text);
        if (v.spans[i].start != s || v.spans[i].end != s + strlen(want) ||
            strcmp(v.spans[i].label, label) != 0)
            fail_msg("in '%s': span %zu is %s [%zu,%zu) '%.*s', expected %s '%s'",
                     text, i, v.spans[i].label, v.spans[i].start, v.spans[i].end,
                     (int)(v.spans[i].end - v.spans[i].start),
                     text + v.spans[i].start, label, want);
        from = s + strlen(want);
    }
}

/* Expects exactly the (label, matched text) pairs, in order, to the byte. */
static void expect(void *inst, const char *text, size_t n, ...)
{
    aigov_verdict_t v;
    va_list ap;
    memset(&v, 0, sizeof(v));
    assert_int_equal(P()->inspect(inst, NULL, text, strlen(text), &v), 0);
    va_start(ap, n);
    expect_v(text, v, n, ap);
    va_end(ap);
}

static void expect_stream(void *inst, void *stream, const char *text, size_t n, ...)
{
    aigov_verdict_t v;
    va_list ap;
    memset(&v, 0, sizeof(v));
    assert_int_equal(P()->inspect(inst, stream, text, strlen(text), &v), 0);
    va_start(ap, n);
    expect_v(text, v, n, ap);
    va_end(ap);
}

static void none(void *inst, const char *text) { expect(inst, text, 0); }

/* random test credentials (see the note at the top) */
#define AWS_ID      "AKIAUJZDE8GXD6NCF10E"
#define AWS_ID2     "ASIAPF91DHODZDOC9IS0"
#define AWS_SECRET  "spNxnyVmihA/2O76UMFxFkM/R5Kjp1vRt+1fjORS"
#define GCP_KEY     "AIza_6ilI8ihN5KXSc7Tvo_hBKqFYY_kv5ZJr3J"
#define AZURE_KEY   "1LfCdk0qWk12dwb4XYaQAkrWvaNAG+nIy8zJNfbNH2EiauFTOK4aNABNM7oNJGrATIGxuvI+O/nu9fefK0k0rw=="
#define OPENAI_PROJ "sk-proj-H9ucAUsdMlHUvTCQCyEZDz_TddJ8HyS5SUkCnD8zRA9a9SkpXz9w3QlY7Zku"
#define OPENAI_OLD  "sk-kibjL5DZPjN0MEQ7wjJJibaZUPgHV7iB3m03nbqnsGpWLuqI"
#define ANTHROPIC   "sk-ant-api03-1qhT61qtc4xatws8phP9nhFyJfm5di4PzJ59FHz5r1pY4OjE2jBMptUsGr7CmY-uCu3ZR1zTOlUcR64cXQLioDnkHIfxIAA"
#define DEEPSEEK    "sk-4d8c4fa2815d2802827283e0ad841735"
#define GH_PAT      "ghp_qdlm7tOtHWnsCGRlrwZbqcabUGJmGEp7CgQ0"
#define GH_FINE     "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"
#define SLACK       "xoxb-1412690604431-9829657249208-OBUSZGi6HWGK10Zb0RLZ5TR9"
#define STRIPE      "sk_live_SPofbciOx9gy1CJdObOIRpFq"
#define STRIPE_RK   "rk_live_aDZeV7G5IfQHeVVEqZe2qpUW"
#define YA29        "ya29.AD6_Wj9KfzjsQGMrb9h-ImB-LK777pzNk8cL6j5IXAAjlsHUqJoUD_-Ydua-"
#define BEARER_TOK  "RCztUjAwyuh1vauWv1zh87mTa5Vsqxez"
#define JWT_TOK     "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6" \
                    "IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
#define KEY_BODY    "xye424wYjzQakkx/iN+hYb/bDsxoKRnS5kaS+BlBV/HUr5CYgoXPepr3yT1VUiZq\n" \
                    "/nDnqubaR2J8LlmvLqN6vIRnCtPE02vAiq0f/464QG4vin/EzOTdnwtBENny+gAl\n" \
                    "yO/lfzdyT0036isUAEB3E5tBgN85MiSZYsaFcgAFmuuOoXzzeH4O0p0cC2P/1ymD\n" \
                    "dNm9dPwRrde5ymUDlSJp/WafY3bucYeXN/1fcvjVHErJG20M\n"
#define PEM(kind)   "-----BEGIN " kind "-----\n" KEY_BODY "-----END " kind "-----"

/* ---- table and configuration --------------------------------------- */

static void test_entry_table(void **st)
{
    const aigov_plugin_t *p = P();
    void *inst, *s;
    (void)st;
    assert_int_equal(p->abi_version, AIGOV_PLUGIN_ABI_VERSION);
    assert_string_equal(p->name, "secrets");
    assert_non_null(p->version);
    assert_non_null(p->stream_start);
    assert_non_null(p->stream_end);
    inst = make_all();
    s = p->stream_start(inst);
    assert_non_null(s);
    p->stream_end(inst, s);
    p->destroy(inst);
    p->destroy(NULL);
}

static void test_config_errors(void **st)
{
    char err[512] = "";
    (void)st;
    assert_null(plugin_create("{\"types\":[\"aws\",\"gitlab\"]}", AIGOV_ACTION_BLOCK, err,
                              sizeof(err)));
    assert_string_equal(err, "unknown type 'gitlab'; known: aws, gcp, azure, openai, "
                             "anthropic, deepseek, github, slack, stripe, google_oauth, "
                             "private_key, jwt, bearer, connection_string");
    assert_null(plugin_create("{\"min_entropy\":\"3.5\"}", AIGOV_ACTION_BLOCK, err, sizeof(err)));
    assert_string_equal(err, "unknown key 'min_entropy'; known: types");
    assert_null(plugin_create("{\"types\":[]}", AIGOV_ACTION_BLOCK, err, sizeof(err)));
    assert_non_null(strstr(err, "at least one"));
}

static void test_config_subset(void **st)
{
    void *inst = plugin_create_types("openai", "jwt", AIGOV_ACTION_BLOCK);
    const char *text = "k=" OPENAI_PROJ " id=" AWS_ID " t=" JWT_TOK " a=" ANTHROPIC;
    (void)st;
    expect(inst, text, 2, "OPENAI_KEY", OPENAI_PROJ, "JWT", JWT_TOK);
    P()->destroy(inst);
    inst = plugin_create_types("aws", NULL, AIGOV_ACTION_BLOCK);
    expect(inst, text, 1, "AWS_KEY", AWS_ID);
    P()->destroy(inst);
    /* with jwt off, a JWT after Bearer is still a bearer token */
    inst = plugin_create_types("bearer", NULL, AIGOV_ACTION_BLOCK);
    expect(inst, "Authorization: Bearer " JWT_TOK, 1, "BEARER_TOKEN", JWT_TOK);
    P()->destroy(inst);
}

/* ---- kinds --------------------------------------------------------- */

static void test_cloud_keys(void **st)
{
    void *inst = make_all();
    (void)st;
    expect(inst, "export AWS_ACCESS_KEY_ID=" AWS_ID "\n", 1, "AWS_KEY", AWS_ID);
    expect(inst, "\"AccessKeyId\": \"" AWS_ID2 "\"", 1, "AWS_KEY", AWS_ID2);
    expect(inst, "aws_secret_access_key = " AWS_SECRET, 1, "AWS_SECRET_KEY", AWS_SECRET);
    expect(inst, "{\"SecretAccessKey\": \"" AWS_SECRET "\"}", 1, "AWS_SECRET_KEY", AWS_SECRET);
    expect(inst, "AWS_SECRET_ACCESS_KEY=" AWS_SECRET, 1, "AWS_SECRET_KEY", AWS_SECRET);
    expect(inst, "maps?key=" GCP_KEY "&q=1", 1, "GCP_API_KEY", GCP_KEY);
    expect(inst, "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" AZURE_KEY
                 ";EndpointSuffix=core.windows.net", 1, "AZURE_KEY", AZURE_KEY);
    P()->destroy(inst);
}

static void test_model_provider_keys(void **st)
{
    void *inst = make_all();
    (void)st;
    expect(inst, "OPENAI_API_KEY=" OPENAI_PROJ, 1, "OPENAI_KEY", OPENAI_PROJ);
    expect(inst, "key: '" OPENAI_OLD "'", 1, "OPENAI_KEY", OPENAI_OLD);
    expect(inst, "x-api-key: " ANTHROPIC "\n", 1, "ANTHROPIC_KEY", ANTHROPIC);
    expect(inst, "deepseek " DEEPSEEK ".", 1, "DEEPSEEK_KEY", DEEPSEEK);
    expect(inst, "use " OPENAI_OLD " - thanks", 1, "OPENAI_KEY", OPENAI_OLD);
    P()->destroy(inst);
}

static void test_service_tokens(void **st)
{
    void *inst = make_all();
    (void)st;
    expect(inst, "git clone https://" GH_PAT "@github.com/o/r", 1, "GITHUB_TOKEN", GH_PAT);
    expect(inst, "GH_TOKEN=" GH_FINE, 1, "GITHUB_TOKEN", GH_FINE);
    expect(inst, "slack " SLACK " bot", 1, "SLACK_TOKEN", SLACK);
    expect(inst, "stripe " STRIPE " and " STRIPE_RK, 2, "STRIPE_KEY", STRIPE,
           "STRIPE_KEY", STRIPE_RK);
    expect(inst, "token=" YA29, 1, "GOOGLE_OAUTH_TOKEN", YA29);
    P()->destroy(inst);
}

static void test_private_keys(void **st)
{
    void *inst = make_all();
    const char *rsa = "here:\n" PEM("RSA PRIVATE KEY") "\nthanks";
    const char *json = "{\"private_key\": \"-----BEGIN PRIVATE KEY-----\\nxye424wYjzQakkx/iN+hYb"
                       "/bDsxoKRnS5kaS+BlBV/HUr5CYgoXPepr3yT1VUiZq\\n/nDnqubaR2J8LlmvLqN6v\\n"
                       "-----END PRIVATE KEY-----\\n\"}";
    (void)st;
    expect(inst, rsa, 1, "PRIVATE_KEY", PEM("RSA PRIVATE KEY"));
    expect(inst, PEM("OPENSSH PRIVATE KEY"), 1, "PRIVATE_KEY", PEM("OPENSSH PRIVATE KEY"));
    expect(inst, PEM("ENCRYPTED PRIVATE KEY") " " PEM("EC PRIVATE KEY"), 2,
           "PRIVATE_KEY", PEM("ENCRYPTED PRIVATE KEY"), "PRIVATE_KEY", PEM("EC PRIVATE KEY"));
    expect(inst, json, 1, "PRIVATE_KEY",
           "-----BEGIN PRIVATE KEY-----\\nxye424wYjzQakkx/iN+hYb/bDsxoKRnS5kaS+BlBV/"
           "HUr5CYgoXPepr3yT1VUiZq\\n/nDnqubaR2J8LlmvLqN6v\\n-----END PRIVATE KEY-----");
    /* cut short: the body present is masked */
    expect(inst, "-----BEGIN PRIVATE KEY-----\n" KEY_BODY, 1, "PRIVATE_KEY",
           "-----BEGIN PRIVATE KEY-----\nxye424wYjzQakkx/iN+hYb/bDsxoKRnS5kaS+BlBV/HUr5CYgoXPepr3yT1VUiZq\n"
           "/nDnqubaR2J8LlmvLqN6vIRnCtPE02vAiq0f/464QG4vin/EzOTdnwtBENny+gAl\n"
           "yO/lfzdyT0036isUAEB3E5tBgN85MiSZYsaFcgAFmuuOoXzzeH4O0p0cC2P/1ymD\n"
           "dNm9dPwRrde5ymUDlSJp/WafY3bucYeXN/1fcvjVHErJG20M");
    P()->destroy(inst);
}

static void test_private_key_stream(void **st)
{
    void *inst = make_all();
    void *s = P()->stream_start(inst);
    (void)st;
    expect_stream(inst, s, "key: -----BEGIN RSA PRIVATE KEY-----\n"
                  "xye424wYjzQakkx/iN+hYb/bDsxoKRnS5kaS+BlBV/HUr5CYgoXPepr3yT1VUiZq\n",
                  1, "PRIVATE_KEY", "-----BEGIN RSA PRIVATE KEY-----\n"
                  "xye424wYjzQakkx/iN+hYb/bDsxoKRnS5kaS+BlBV/HUr5CYgoXPepr3yT1VUiZq");
    expect_stream(inst, s, "/nDnqubaR2J8LlmvLqN6vIRnCtPE02vAiq0f/464QG4vin/EzOTdnwtBENny+gAl\n",
                  1, "PRIVATE_KEY",
                  "/nDnqubaR2J8LlmvLqN6vIRnCtPE02vAiq0f/464QG4vin/EzOTdnwtBENny+gAl");
    expect_stream(inst, s, "dNm9dPwRrde5ym\n-----END RSA PRIVATE KEY-----\nand " AWS_ID,
                  2, "PRIVATE_KEY", "dNm9dPwRrde5ym\n-----END RSA PRIVATE KEY-----",
                  "AWS_KEY", AWS_ID);
    /* the block is over: ordinary text again */
    expect_stream(inst, s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef0123456789 is the alphabet", 0);
    P()->stream_end(inst, s);

    /* the next piece repeats the BEGIN line (the host's overlap window):
     * the text before it stays visible */
    s = P()->stream_start(inst);
    expect_stream(inst, s, "intro -----BEGIN PRIVATE KEY-----\n"
                  "xye424wYjzQakkx/iN+hYb/bDsxoKRnS5kaS+BlBV/HUr5CYgoXPepr3yT1VUiZq\n",
                  1, "PRIVATE_KEY", "-----BEGIN PRIVATE KEY-----\n"
                  "xye424wYjzQakkx/iN+hYb/bDsxoKRnS5kaS+BlBV/HUr5CYgoXPepr3yT1VUiZq");
    expect_stream(inst, s, "intro -----BEGIN PRIVATE KEY-----\n" KEY_BODY
                  "-----END PRIVATE KEY-----", 1, "PRIVATE_KEY", PEM("PRIVATE KEY"));
    P()->stream_end(inst, s);
    /* a JSON "\n" right before the block */
    expect(inst, "\"key\": \"\\n" PEM("PRIVATE KEY") "\"", 1, "PRIVATE_KEY",
           PEM("PRIVATE KEY"));
    P()->destroy(inst);
}

static void test_jwt(void **st)
{
    void *inst = make_all();
    (void)st;
    expect(inst, "token " JWT_TOK " expires", 1, "JWT", JWT_TOK);
    expect(inst, "unsigned eyJhbGciOiJub25lIn0.eyJzdWIiOiJib2IifQ. ok", 1, "JWT",
           "eyJhbGciOiJub25lIn0.eyJzdWIiOiJib2IifQ.");
    /* header without "alg", bad base64, no payload */
    none(inst, "eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJlc2ln");
    none(inst, "eyJ!!!!.eyJzdWIiOiJib2IifQ.sig eyJhbGciOiJub25lIn0 alone");
    assert_true(sec_jwt_header_ok("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9", 36));
    assert_false(sec_jwt_header_ok("eyJ0eXAiOiJKV1QifQ", 18));
    assert_false(sec_jwt_header_ok("aGVsbG8gd29ybGQ", 15));
    P()->destroy(inst);
}

static void test_bearer(void **st)
{
    void *inst = make_all();
    (void)st;
    expect(inst, "Authorization: Bearer " BEARER_TOK "\r\n", 1, "BEARER_TOKEN", BEARER_TOK);
    expect(inst, "curl -H 'authorization: bearer " BEARER_TOK "'", 1, "BEARER_TOKEN", BEARER_TOK);
    /* a known kind keeps its own label */
    expect(inst, "Authorization: Bearer " OPENAI_PROJ, 1, "OPENAI_KEY", OPENAI_PROJ);
    expect(inst, "Authorization: Bearer " JWT_TOK ".", 1, "JWT", JWT_TOK);
    none(inst, "Authorization: Bearer <token>");
    none(inst, "Authorization: Bearer YOUR_API_KEY_HERE_1234567");
    none(inst, "headers = {\"Authorization\": f\"Bearer {token}\"}");
    none(inst, "Authorization: Bearer $OPENAI_API_KEY and bearer ${TOKEN}");
    none(inst, "the bearer of bad news; bearer bonds; the bearer instrumentalities");
    P()->destroy(inst);
}

static void test_connection_strings(void **st)
{
    void *inst = make_all();
    (void)st;
    expect(inst, "DATABASE_URL=postgres://app:S3cr3tPa55@db.internal:5432/app", 1,
           "CONNECTION_STRING", "postgres://app:S3cr3tPa55@db.internal:5432");
    expect(inst, "mongodb+srv://admin:Xy7%21pQ@cluster0.ab1cd.mongodb.net/test?w=1", 1,
           "CONNECTION_STRING", "mongodb+srv://admin:Xy7%21pQ@cluster0.ab1cd.mongodb.net");
    expect(inst, "redis://:r3dispw@10.0.0.5:6379/0 and amqp://guest:Gu3st99@rabbit:5672/", 2,
           "CONNECTION_STRING", "redis://:r3dispw@10.0.0.5:6379",
           "CONNECTION_STRING", "amqp://guest:Gu3st99@rabbit:5672");
    expect(inst, "jdbc:mysql://root:hunter2x@127.0.0.1:3306/db.", 1,
           "CONNECTION_STRING", "mysql://root:hunter2x@127.0.0.1:3306");
    expect(inst, "MONGODB://u:Pw9x@h1:27017,h2:27017/db", 1,
           "CONNECTION_STRING", "MONGODB://u:Pw9x@h1:27017,h2:27017");
    expect(inst, "Server=tcp:sql.corp.net,1433;Database=app;User ID=sa;Password=Tr0ub4dor&3;Encrypt=True;",
           1, "CONNECTION_STRING", "Tr0ub4dor&3");
    expect(inst, "Driver={ODBC Driver 18};Uid=sa;Pwd={a;b}c9};", 1,
           "CONNECTION_STRING", "{a;b}");
    P()->destroy(inst);
}

static void test_connection_misses(void **st)
{
    void *inst = plugin_create_types("connection_string", NULL, AIGOV_ACTION_BLOCK);
    (void)st;
    none(inst, "postgres://user:password@localhost/db and mysql://root:<password>@db/x");
    none(inst, "redis://:${REDIS_PASSWORD}@cache:6379 and amqp://guest:****@rabbit/");
    none(inst, "postgres://user@localhost/db and postgres://db.internal:5432/app");
    none(inst, "Use user:password@ in the docs; ssh git@github.com; http://a:b@c is http");
    none(inst, "set password=hunter2 in the shell; Password: see vault");
    none(inst, "Server=x;Password=<your password>;");
    P()->destroy(inst);
}

static void test_near_misses(void **st)
{
    void *inst = make_all();
    (void)st;
    none(inst, "the task-list and risk-score, ask-me-anything, desk-lamp, mask-sk-a");
    none(inst, "sk-learn is a library; sk-this-is-not-a-real-key-at-all; sk-...; sk-<your key>");
    none(inst, "OPENAI_API_KEY=sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    none(inst, "sk-proj-YOUR_KEY_HERE_REPLACE_ME_PLEASE_1");
    none(inst, "AKIAIOSFODNN7EXAMPLE and aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    none(inst, "AKIAUJZDE8GXD6NCF10 short; AKIAUJZDE8GXD6NCF10EX long; XAKIAUJZDE8GXD6NCF10E");
    none(inst, "ghp_short and ghp_" "qdlm7tOtHWnsCGRlrwZbqcab" " and xoxb-not-a-token");
    none(inst, "AIzaSyNotLongEnough and sk_test_SPofbciOx9gy1CJdObOIRpFq");
    none(inst, "-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----");
    none(inst, "-----BEGIN PUBLIC KEY-----\n" KEY_BODY "-----END PUBLIC KEY-----");
    none(inst, "-----BEGIN CERTIFICATE-----\n" KEY_BODY "-----END CERTIFICATE-----");
    none(inst, "const apiKey = process.env.OPENAI_API_KEY; client = OpenAI(api_key=key)");
    none(inst, "aws_secret_access_key = os.environ['AWS_SECRET_ACCESS_KEY']");
    P()->destroy(inst);
}

/* ---- text handling ------------------------------------------------- */

static void test_edges_and_utf8(void **st)
{
    void *inst = make_all();
    aigov_verdict_t v;
    (void)st;
    expect(inst, AWS_ID, 1, "AWS_KEY", AWS_ID);
    expect(inst, GH_PAT " " DEEPSEEK, 2, "GITHUB_TOKEN", GH_PAT, "DEEPSEEK_KEY", DEEPSEEK);
    expect(inst, "密钥：" OPENAI_OLD "，请保密。", 1, "OPENAI_KEY", OPENAI_OLD);
    expect(inst, "🔑" STRIPE "🔑", 1, "STRIPE_KEY", STRIPE);
    memset(&v, 0, sizeof(v));
    assert_int_equal(P()->inspect(inst, NULL, "", 0, &v), 0);
    assert_int_equal(v.kind, AIGOV_ALLOW);
    assert_int_equal(P()->inspect(inst, NULL, NULL, 0, &v), 0);
    assert_int_equal(P()->inspect(inst, NULL, NULL, 3, &v), -1);
    /* a length shorter than the buffer is honoured */
    assert_int_equal(P()->inspect(inst, NULL, AWS_ID, 19, &v), 0);
    assert_int_equal(v.kind, AIGOV_ALLOW);
    P()->destroy(inst);
}

static void test_reason(void **st)
{
    void *inst = make_all();
    aigov_verdict_t v;
    const char *text = "a " ANTHROPIC " b " PEM("PRIVATE KEY") " c " SLACK " d " GH_PAT;
    (void)st;
    memset(&v, 0, sizeof(v));
    assert_int_equal(P()->inspect(inst, NULL, text, strlen(text), &v), 0);
    assert_int_equal(v.nspans, 4);
    assert_string_equal(v.reason, "found 1 Anthropic API key, 1 private key, "
                                  "1 Slack token and 1 GitHub token");
    assert_string_equal(v.category, "anthropic");
    text = "postgres://a:Zq9xW2@h/d and mysql://b:Kp3vN8@h/d";
    assert_int_equal(P()->inspect(inst, NULL, text, strlen(text), &v), 0);
    assert_string_equal(v.reason, "found 2 connection strings with passwords");
    assert_string_equal(v.category, "connection_string");
    assert_true(sec_is_placeholder("sk-xxxxxxxx", 11));
    assert_true(sec_is_placeholder("aaaaaaaa", 8));
    assert_false(sec_is_placeholder(GH_PAT, strlen(GH_PAT)));
    P()->destroy(inst);
}

static void check_corpus(void *inst, const char *path, int required)
{
    size_t len = 0;
    char *text = read_file(path, &len);
    aigov_verdict_t v;
    if (text == NULL) {
        if (required)
            fail_msg("cannot read %s", path);
        print_message("  (no %s, skipped)\n", path);
        return;
    }
    memset(&v, 0, sizeof(v));
    assert_int_equal(P()->inspect(inst, NULL, text, len, &v), 0);
    for (size_t i = 0; i < v.nspans; i++)
        print_message("  %s: %s '%.*s'\n", path, v.spans[i].label,
                      (int)(v.spans[i].end - v.spans[i].start), text + v.spans[i].start);
    assert_int_equal(v.nspans, 0);
    free(text);
}

static void test_benign_corpus(void **st)
{
    void *inst = make_all();
    (void)st;
    check_corpus(inst, "t/unit/corpus/benign_pii.txt", 1);
    check_corpus(inst, "t/unit/corpus/benign.txt", 0);
    P()->destroy(inst);
}

static void test_performance_1mb(void **st)
{
    static const char *lines[] = {
        "The service reads its settings from the environment at start-up.\n",
        "const client = new Client({ apiKey: process.env.API_KEY, retries: 3 });\n",
        "Please share the quarterly numbers by Friday; the board meets at 10:30.\n",
        "export OPENAI_API_KEY=" OPENAI_PROJ "\n",
        "SELECT id, password_hash FROM users WHERE email = $1 LIMIT 1;\n",
        "密钥不要写进代码仓库，请使用环境变量或密钥管理服务。\n",
    };
    size_t cap = 1u << 20, len = 0, k = 0, expected = 0;
    char *text = malloc(cap);
    void *inst = make_all();
    aigov_verdict_t v;
    struct timespec t0, t1;
    double secs;
    (void)st;
    assert_non_null(text);
    for (;;) {
        size_t n = strlen(lines[k % 6]);
        if (len + n > cap)
            break;
        memcpy(text + len, lines[k % 6], n);
        len += n;
        expected += k % 6 == 3;
        k++;
    }
    memset(&v, 0, sizeof(v));
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(P()->inspect(inst, NULL, text, len, &v), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_int_equal(v.nspans, expected);
    printf("secrets: %.1f MB in %.3f s: %.0f MB/s\n", (double)len / 1e6, secs,
           secs > 0 ? (double)len / 1e6 / secs : 0.0);
    P()->destroy(inst);
    free(text);
}

/* ---- old scanner vs new, on a generated corpus ---------------------- */

/* The scanner as it was before the prefix pass, which looked at every
 * byte, compiled in under other names: both must find the same. */
#define sec_scan ref_sec_scan
#define sec_is_placeholder ref_sec_is_placeholder
#define sec_jwt_header_ok ref_sec_jwt_header_ok
#include "ref/secrets_detect_v1.c"
#undef sec_scan
#undef sec_is_placeholder
#undef sec_jwt_header_ok

#define PICK(list) (list[rnd(sizeof(list) / sizeof(list[0]))])

static const char *const gen_tokens[] = {
    AWS_ID, AWS_ID2, GCP_KEY, AZURE_KEY, OPENAI_PROJ, OPENAI_OLD, ANTHROPIC, DEEPSEEK,
    GH_PAT, GH_FINE, SLACK, STRIPE, STRIPE_RK, YA29, BEARER_TOK, JWT_TOK,
    PEM("RSA PRIVATE KEY"), PEM("PRIVATE KEY"), PEM("OPENSSH PRIVATE KEY"),
    "-----BEGIN PGP PRIVATE KEY BLOCK-----\n" KEY_BODY,
    "-----BEGIN EC PRIVATE KEY-----\\n" KEY_BODY "\\n-----END EC PRIVATE KEY-----",
    "-----BEGIN PRIVATE KEY-----", "-----END PRIVATE KEY-----", "-----BEGIN CERTIFICATE-----",
    "postgres://app:Xk29vLq8pZ@db.internal:5432/main", "mysql://root:password@localhost",
    "mongodb+srv://u:s3cr3tPw@cluster0.abc.mongodb.net/", "redis://:hunter22@cache:6379",
    "amqps://guest:${PASS}@mq", "Server=db;Database=x;User Id=sa;Password=Tr0ub4dor&3;",
    "Password=abc123xyz;", "pwd={se;cr3t}", "Pwd=hunter2", "AccountKey=" AZURE_KEY,
    "SharedAccessKey=" AZURE_KEY ";", "aws_secret_access_key = " AWS_SECRET,
    "\"SecretAccessKey\": \"" AWS_SECRET "\"", "AWS-Secret: " AWS_SECRET,
    "Authorization: Bearer " BEARER_TOK, "bearer " GH_PAT, "Bearer\t" JWT_TOK,
    "AKIAIOSFODNN7EXAMPLE", "sk-this-is-not-a-real-key-at-all", "sk-xxxxxxxxxxxxxxxxxxxxxxxx",
    "ghp_<your-token-here>", "xoxb-your-token", "-----BEGIN RSA PRIVATE KEY-----\n...",
};

/* prefixes, near misses and the words credentials follow */
static const char *const gen_heads[] = {
    "AKIA", "ASIA", "ABIA", "ACCA", "AIza", "AKI", "akia", "sk-", "sk-ant-", "sk-proj-",
    "sk-svcacct-", "sk-admin-", "sk_live_", "rk_live_", "sk_test_", "github_pat_", "ghp_",
    "gho_", "ghu_", "ghs_", "ghr_", "ghx_", "xapp-", "xoxa-", "xoxb-", "xoxp-", "xoxr-",
    "xoxs-", "xoxe-", "xoxz-", "ya29.", "ya29", "eyJ", "eyJhbGciOiJIUzI1NiJ9.eyJ",
    "-----BEGIN ", "----BEGIN ", "-----BEGIN RSA PRIVATE KEY-----\n", "-----END ",
    "aws", "AWS_", "aws-secret", "secret_access_key=", "SecretAccessKey", "accountkey=",
    "SHAREDACCESSKEY=", "bearer ", "Bearer  ", "BEARER", "password=", "PASSWORD=", "pwd=",
    "postgresql://", "Postgres://", "mysql://", "mariadb://", "mongodb+srv://",
    "mongodb://", "rediss://", "REDIS://", "amqps://", "amqp://", "http://", "user:",
};

static const char *const gen_words[] = {
    "the", "key", "token", "secret", "access", "was", "rotated", "see", "config",
    "task-list", "desk", "ask", "shared", "account", "passwords", "mask", "risk",
    "example", "your", "placeholder", "12345678", "abcdefgh", "host", "db", "user",
    "eye", "awesome", "laws", "bearers", "mongo", "red", "amp", "git", "hub", "xo",
};

static const char *const gen_seps[] = {
    " ", " ", " ", "\n", ", ", ". ", "-", "--", "_", ".", ":", "=", ";", "\"", "'", "@",
    "/", "\\n", "\t", "", "(", ")", "{", "}", "<", ">", "\xc3\xa9",
};

static const char *const gen_alphabets[] = {
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=",
    "0123456789abcdef", "abcdefghijklmnopqrstuvwxyz0123456789-",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~+/:@;{}",
};

static size_t gen_put(char *buf, size_t o, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (n > cap - o)
        n = cap - o;
    memcpy(buf + o, s, n);
    return o + n;
}

static size_t gen_text(char *buf, size_t cap)
{
    static const unsigned lens[] = {8, 16, 19, 20, 21, 22, 32, 35, 36, 39, 40, 41, 64};
    size_t o = 0, pieces = 1 + rnd(rnd(8) == 0 ? 300 : 30);

    for (size_t p = 0; p < pieces && o < cap; p++) {
        unsigned r = rnd(100);
        if (r < 15) {
            o = gen_put(buf, o, cap, PICK(gen_tokens));
        } else if (r < 45) {
            /* a head and a random body */
            const char *abc = PICK(gen_alphabets);
            size_t m = strlen(abc), n = rnd(3) ? lens[rnd(13)] - rnd(2) * 4 : rnd(120);
            o = gen_put(buf, o, cap, PICK(gen_heads));
            for (size_t k = 0; k < n && o < cap; k++)
                buf[o++] = abc[rnd((unsigned)m)];
        } else if (r < 50) {
            /* a long base64 body, as inside a key block */
            size_t lines = 1 + rnd(8);
            for (size_t l = 0; l < lines && o < cap; l++) {
                for (size_t k = 0; k < 64 && o < cap; k++)
                    buf[o++] = gen_alphabets[3][rnd(65)];
                o = gen_put(buf, o, cap, rnd(2) ? "\n" : "\\n");
            }
        } else if (r < 53) {
            if (o < cap)
                buf[o++] = (char)rnd(256);
        } else if (r < 65) {
            o = gen_put(buf, o, cap, PICK(gen_seps));
        } else {
            o = gen_put(buf, o, cap, PICK(gen_words));
        }
        if (rnd(3))
            o = gen_put(buf, o, cap, PICK(gen_seps));
    }
    return o;
}

static void same_matches(const sec_matches_t *a, const sec_matches_t *b, const char *what,
                         int n)
{
    if (a->n != b->n)
        fail_msg("%s %d: %zu matches, the old scanner %zu", what, n, a->n, b->n);
    for (size_t k = 0; k < a->n; k++)
        if (a->v[k].start != b->v[k].start || a->v[k].end != b->v[k].end ||
            a->v[k].kind != b->v[k].kind)
            fail_msg("%s %d: match %zu is %d [%zu,%zu), the old one %d [%zu,%zu)",
                     what, n, k, a->v[k].kind, a->v[k].start, a->v[k].end,
                     b->v[k].kind, b->v[k].start, b->v[k].end);
}

static void test_same_as_reference(void **st)
{
    static char text[30000];
    char err[256] = "";
    sec_finder_t *f = sec_finder_new(err, sizeof(err));
    sec_matches_t nm = {0}, om = {0};
    size_t found = 0, kinds = 0, streamed_keys = 0;

    (void)st;
    assert_non_null(f);
    rng_state = 0x2545f4914f6cdd1dull;
    for (int n = 0; n < 6000; n++) {
        size_t len = gen_text(text, sizeof(text) - 1);
        unsigned mask = rnd(3) ? SEC_ALL : (unsigned)rnd(SEC_ALL + 1);

        text[len] = '\0';
        nm.n = om.n = 0;
        if (n % 4 != 3) {
            assert_int_equal(sec_scan(f, text, len, mask, NULL, &nm), 0);
            assert_int_equal(ref_sec_scan(text, len, mask, NULL, &om), 0);
            same_matches(&nm, &om, "text", n);
        } else {
            /* a stream: overlapping pieces, as the host sends them */
            sec_stream_t ns = {0}, os = {0};
            size_t from = 0;
            while (from < len) {
                size_t to = from + 1 + rnd(400), back = rnd(300);
                if (to > len)
                    to = len;
                nm.n = om.n = 0;
                assert_int_equal(sec_scan(f, text + from, to - from, mask, &ns, &nm), 0);
                assert_int_equal(ref_sec_scan(text + from, to - from, mask, &os, &om), 0);
                same_matches(&nm, &om, "stream piece of text", n);
                if (ns.in_private_key != os.in_private_key)
                    fail_msg("text %d: stream flag %d, old %d", n, ns.in_private_key,
                             os.in_private_key);
                streamed_keys += ns.in_private_key;
                found += nm.n;
                from = to - (back < to - from ? back : 0);
                if (to == len)
                    break;
            }
        }
        found += nm.n;
        for (size_t k = 0; k < nm.n; k++)
            kinds |= 1u << nm.v[k].kind;
    }
    free(nm.v);
    free(om.v);
    sec_finder_free(f);
    /* the corpus holds every kind, and key blocks cut across pieces */
    assert_int_equal(kinds, SEC_ALL);
    assert_true(found > 2000);
    assert_true(streamed_keys > 10);
}

/* tail(): a credential in progress (a known start, a value after its
 * name), nothing for prose; inside a key block all of it. */
static void test_tail(void **st)
{
    void *inst = make_all();
    sec_stream_t *s;
    char *run;

    (void)st;
    assert_int_equal(plugin_tail(inst, NULL, "hello there"), 0);
    assert_int_equal(plugin_tail(inst, NULL, "hello there "), 0);
    assert_int_equal(plugin_tail(inst, NULL, "use sk-pro"), 6);
    assert_int_equal(plugin_tail(inst, NULL, "use s"), 1);
    assert_int_equal(plugin_tail(inst, NULL, "id: AKI"), 3);
    assert_int_equal(plugin_tail(inst, NULL, "id=AKIAZ3Q7"), strlen("AKIAZ3Q7"));
    assert_int_equal(plugin_tail(inst, NULL, "see -----BEG"), strlen("-----BEG"));
    assert_int_equal(plugin_tail(inst, NULL, "the task-sk"), 0);
    assert_int_equal(plugin_tail(inst, NULL, "Authorization: Bearer "), 0);
    assert_int_equal(plugin_tail(inst, NULL, "Authorization: Bearer aB3xK9"), 6);
    assert_int_equal(plugin_tail(inst, NULL, "aws_secret_access_key = wJal"), 4);
    assert_int_equal(plugin_tail(inst, NULL, "x postgres://app:S3cr"),
                     strlen("postgres://app:S3cr"));
    assert_int_equal(plugin_tail(inst, NULL, "Server=db;Pwd={my pass"), strlen("{my pass"));
    assert_int_equal(plugin_tail(inst, NULL, "Server=db;Pwd={my} done"), 0);
    assert_int_equal(plugin_tail(inst, NULL, "x -----BEGIN RSA PRIVATE KEY-----\nMIIE"),
                     strlen("-----BEGIN RSA PRIVATE KEY-----\nMIIE"));
    assert_int_equal(plugin_tail(inst, NULL, "x -----BEGIN CERTIFICATE-----\nMIIE"), 0);
    assert_int_equal(plugin_tail(inst, NULL, "-----BEGIN EC PRIVATE KEY-----\nAAAA\n"
                                             "-----END EC PRIVATE KEY-----\nok then"), 0);
    /* a block that outlived its BEGIN line: every byte may still be key */
    s = P()->stream_start(inst);
    s->in_private_key = 1;
    assert_int_equal(plugin_tail(inst, s, "QUJDRA\nRUZH"), strlen("QUJDRA\nRUZH"));
    P()->stream_end(inst, s);
    /* adversarial: a run that starts a key never ends */
    run = repeat("sk-proj-", 4096);
    assert_int_equal(plugin_tail(inst, NULL, run), 4096);
    free(run);
    P()->destroy(inst);
}

/* Each kind after prefixes of every length up to 300 bytes
 * (plugin_harness.h): found the same wherever it is. The prefix scan is a
 * Vectorscan literal database (secrets_prefix.c). */
static void test_every_offset(void **st)
{
    static const char *const found[] = {
        AWS_ID, AWS_ID2, "aws_secret_access_key = " AWS_SECRET, GCP_KEY,
        "AccountKey=" AZURE_KEY ";", OPENAI_PROJ, OPENAI_OLD, ANTHROPIC, DEEPSEEK, GH_PAT,
        GH_FINE, SLACK, STRIPE, STRIPE_RK, YA29, "Authorization: Bearer " BEARER_TOK, JWT_TOK,
        "postgres://app:S3cretPassw0rd@db.internal:5432/main",
        "Server=x;User Id=sa;Password=Hunter2Secret!;", PEM("RSA PRIVATE KEY"),
    };
    built_plugin_t l;
    size_t n = 0;

    (void)st;
    built_load(&l, "secrets", "{}");
    for (size_t i = 0; i < sizeof(found) / sizeof(found[0]); i++)
        n += check_every_offset(&l, found[i]);
    built_unload(&l);
    assert_true(n > 20 * 3 * 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tail),
        cmocka_unit_test(test_entry_table),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_config_subset),
        cmocka_unit_test(test_cloud_keys),
        cmocka_unit_test(test_model_provider_keys),
        cmocka_unit_test(test_service_tokens),
        cmocka_unit_test(test_private_keys),
        cmocka_unit_test(test_private_key_stream),
        cmocka_unit_test(test_jwt),
        cmocka_unit_test(test_bearer),
        cmocka_unit_test(test_connection_strings),
        cmocka_unit_test(test_connection_misses),
        cmocka_unit_test(test_near_misses),
        cmocka_unit_test(test_edges_and_utf8),
        cmocka_unit_test(test_reason),
        cmocka_unit_test(test_benign_corpus),
        cmocka_unit_test(test_performance_1mb),
        cmocka_unit_test(test_same_as_reference),
        cmocka_unit_test(test_every_offset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
