/* Unit tests of lib/policy_replay: a log written with the module's own
 * record functions, replayed against a policy read from a file. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "audit.h"
#include "policy.h"
#include "policy_replay.h"

#define SHA_OLD "1111111111111111111111111111111111111111111111111111111111111111"

/* The policy the log is replayed against: analysts lose gpt-4o, guests
 * gain a rule, interns get a token cap, and svc-* moves to a new rule. */
static const char *NEW_POLICY =
    "version: 1\n"
    "default: deny\n"
    "rules:\n"
    "  - name: analysts\n"
    "    when:\n"
    "      groups: [analysts]\n"
    "      models: [\"gpt-4o-mini\"]\n"
    "    decision: allow\n"
    "  - name: interns\n"
    "    when:\n"
    "      groups: [interns]\n"
    "    limits:\n"
    "      max_tokens: 1000\n"
    "    decision: allow\n"
    "  - name: guests\n"
    "    when:\n"
    "      groups: [guests]\n"
    "    decision: allow\n"
    "  - name: services-v2\n"
    "    when:\n"
    "      subjects: [\"svc-*\"]\n"
    "    decision: allow\n"
    "  - name: banned\n"
    "    when:\n"
    "      claims: {tenant: banned}\n"
    "    decision: deny\n";

typedef struct {
    char dir[64];
    char policy[128];
    char log[128];
} files_t;

typedef struct {
    uint64_t seq[32];
    int      now_allow[32];
    char     now_code[32][32];
    char     now_message[32][512];
    char     now_rule[32][64];
    char     old_rule[32][64];
    char     sub[32][64];
    size_t   n;
    uint64_t bad_line[32];
    char     bad_why[32][160];
    size_t   nbad;
} seen_t;

static void on_change(void *ud, const aigov_replay_change_t *c)
{
    seen_t *s = ud;

    assert_true(s->n < 32);
    assert_non_null(c->id);
    assert_non_null(c->model);
    assert_non_null(c->endpoint);
    s->seq[s->n] = c->seq;
    s->now_allow[s->n] = c->now->allow;
    snprintf(s->now_code[s->n], 32, "%s", c->now->code ? c->now->code : "");
    snprintf(s->now_message[s->n], sizeof(s->now_message[0]), "%s", c->now->message);
    snprintf(s->now_rule[s->n], 64, "%s", c->now->rule);
    snprintf(s->old_rule[s->n], 64, "%s", c->old_rule);
    snprintf(s->sub[s->n], 64, "%s", c->sub);
    s->n++;
}

static void on_bad(void *ud, unsigned file, uint64_t line, const char *why)
{
    seen_t *s = ud;

    (void) file;
    assert_true(s->nbad < 32);
    assert_non_null(why);
    assert_true(why[0] != '\0');
    s->bad_line[s->nbad] = line;
    snprintf(s->bad_why[s->nbad], 160, "%s", why);
    s->nbad++;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static void make_files(files_t *f)
{
    snprintf(f->dir, sizeof(f->dir), "/tmp/aigov-replay-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->policy, sizeof(f->policy), "%s/new.yaml", f->dir);
    snprintf(f->log, sizeof(f->log), "%s/audit.log", f->dir);
    write_text(f->policy, NEW_POLICY);
}

static void remove_files(files_t *f)
{
    unlink(f->policy);
    unlink(f->log);
    rmdir(f->dir);
}

/* One record as the module writes it: aigov_record_json plus "phase". */
typedef struct {
    const char *phase, *claims, *model, *endpoint, *decision, *rule, *policy, *filters;
    int status;
    long long max_tokens;
} rec_t;

/* What a record says beyond rec_t: what the gateway could not read, and
 * the answers asked for. */
typedef struct {
    const char *unread;
    int         not_inspected;
    long long   n;
} more_t;

static void append_record_more(FILE *log, uint64_t seq, const rec_t *x, const more_t *m);

static void append_record(FILE *log, uint64_t seq, const rec_t *x)
{
    const more_t none = { NULL, 0, 0 };

    append_record_more(log, seq, x, &none);
}

static void append_record_more(FILE *log, uint64_t seq, const rec_t *x, const more_t *m)
{
    aigov_record_t r;
    json_error_t e;
    json_t *claims = x->claims ? json_loads(x->claims, 0, &e) : NULL;
    json_t *filters = x->filters ? json_loads(x->filters, 0, &e) : NULL;
    json_t *sub = claims ? json_object_get(claims, "sub") : NULL;
    json_t *rec;
    char *line, id[32];
    size_t len = 0;

    snprintf(id, sizeof(id), "req-%llu", (unsigned long long) seq);
    memset(&r, 0, sizeof(r));
    r.id = id;
    r.ts_us = 1714564800000000LL + (int64_t) seq;
    r.sub = json_is_string(sub) ? json_string_value(sub) : NULL;
    r.groups = claims ? json_object_get(claims, "groups") : NULL;
    r.claims = claims;
    r.method = "POST";
    r.path = x->endpoint;
    r.endpoint = x->endpoint;
    r.model = x->model;
    r.decision = x->decision;
    r.rule = x->rule;
    r.policy_sha256 = x->policy;
    r.status = x->status;
    r.filters = filters;
    r.max_tokens = x->max_tokens;
    r.prompt_chars = 12;
    r.prompt_tokens = -1;
    r.completion_tokens = -1;
    r.content = "hash";
    r.unread = m->unread;
    r.not_inspected = m->not_inspected;
    r.n = m->n;
    rec = aigov_record_json(&r);
    assert_non_null(rec);
    assert_int_equal(json_object_set_new(rec, "phase", json_string(x->phase)), 0);
    line = aigov_record_line_alloc(rec, seq, &len);
    assert_non_null(line);
    assert_int_equal(fwrite(line, 1, len, log), len);
    free(line);
    json_decref(rec);
    json_decref(claims);
    json_decref(filters);
}

static aigov_policy_t *load_policy(const char *path)
{
    char *errors = NULL;
    aigov_policy_t *p = aigov_policy_load(path, NULL, NULL, NULL, &errors);

    if (!p)
        print_error("policy errors:\n%s", errors);
    assert_non_null(p);
    assert_null(errors);
    return p;
}

#define CHAT "/v1/chat/completions"
#define ALICE "{\"sub\":\"alice\",\"groups\":[\"analysts\"]}"
#define IVY "{\"sub\":\"ivy\",\"groups\":[\"interns\"]}"
#define GUEST "{\"sub\":\"gus\",\"groups\":[\"guests\"]}"

static void test_replay_log(void **state)
{
    files_t f;
    FILE *log;
    aigov_policy_t *p;
    aigov_replay_t r;
    seen_t seen;
    char err[256];
    uint64_t seq = 0;
    /* seq: what the record is; (expected outcome) */
    const rec_t recs[] = {
        /* 0: analyst on gpt-4o, allowed then; now no rule matches (changed) */
        { "admit", ALICE, "gpt-4o", CHAT, "allow", "analysts", SHA_OLD, NULL, 0, -1 },
        /* 1: its completion: skipped */
        { "done", ALICE, "gpt-4o", CHAT, "allow", "analysts", SHA_OLD, NULL, 200, -1 },
        /* 2: analyst on gpt-4o-mini: the same now */
        { "admit", ALICE, "gpt-4o-mini", CHAT, "allow", "analysts", SHA_OLD, NULL, 0, -1 },
        /* 3: a guest refused by the default; now the guests rule allows (changed) */
        { "deny", GUEST, "gpt-4o", CHAT, "deny", "default", SHA_OLD, NULL, 403, -1 },
        /* 4: a bad token, 401: not a policy decision */
        { "deny", NULL, "gpt-4o", CHAT, "deny", NULL, NULL, NULL, 401, -1 },
        /* 5: a guest over quota, 429 (the policy allowed): not compared */
        { "deny", GUEST, "gpt-4o", CHAT, "deny", "default", SHA_OLD, NULL, 429, -1 },
        /* 6: an intern blocked by a filter, 403 with an outcome: not compared */
        { "deny", IVY, "gpt-4o", CHAT, "deny", "old-interns", SHA_OLD,
          "[{\"plugin\":\"blocklist\",\"stage\":\"request\",\"verdict\":\"block\",\"count\":1}]",
          403, -1 },
        /* 7: bad JSON body, 400: not compared */
        { "deny", ALICE, NULL, CHAT, "deny", NULL, SHA_OLD, NULL, 400, -1 },
        /* 8: served with no policy in force (rule "none"): not compared */
        { "admit", GUEST, "gpt-4o", CHAT, "allow", "none", NULL, NULL, 0, -1 },
        /* 9: intern asking 5000 tokens: interns now cap at 1000 (changed, same rule) */
        { "admit", IVY, "gpt-4o", CHAT, "allow", "interns", SHA_OLD, NULL, 0, 5000 },
        /* 10: intern within the cap: the same */
        { "admit", IVY, "gpt-4o", CHAT, "allow", "interns", SHA_OLD, NULL, 0, 800 },
        /* 11: a service allowed by the old "services" rule: now services-v2 (changed) */
        { "admit", "{\"sub\":\"svc-batch\"}", "gpt-4o", CHAT, "allow", "services", SHA_OLD,
          NULL, 0, -1 },
        /* 12: a banned tenant denied by its rule: still denied by it */
        { "deny", "{\"sub\":\"x\",\"tenant\":\"banned\"}", "gpt-4o", CHAT, "deny", "banned",
          SHA_OLD, NULL, 403, -1 },
    };

    (void) state;
    make_files(&f);
    log = fopen(f.log, "w");
    assert_non_null(log);
    for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
        append_record(log, seq++, &recs[i]);
        if (i == 4)
            fputs("{\"checkpoint\":\"test.example/aigov\\n5\\nAAAA\\n\\n\\u2014 sig\\n\"}\n", log);
    }
    assert_int_equal(fclose(log), 0);

    p = load_policy(f.policy);
    memset(&seen, 0, sizeof(seen));
    aigov_replay_init(&r, p, on_change, on_bad, &seen);
    assert_int_equal(aigov_replay_file(&r, 0, f.log, err, sizeof(err)), 0);

    assert_int_equal(seen.nbad, 0);
    assert_int_equal(r.sum.lines, 14);
    assert_int_equal(r.sum.checkpoints, 1);
    assert_int_equal(r.sum.completions, 1);
    assert_int_equal(r.sum.records, 12);
    assert_int_equal(r.sum.not_policy, 5);
    assert_int_equal(r.sum.compared, 7);
    assert_int_equal(r.sum.changed, 4);
    assert_int_equal(r.sum.unreadable, 0);

    assert_int_equal(seen.n, 4);
    assert_int_equal(seen.seq[0], 0);
    assert_int_equal(seen.now_allow[0], 0);
    assert_string_equal(seen.now_rule[0], "default");
    assert_string_equal(seen.old_rule[0], "analysts");
    assert_string_equal(seen.sub[0], "alice");
    assert_int_equal(seen.seq[1], 3);
    assert_int_equal(seen.now_allow[1], 1);
    assert_string_equal(seen.now_rule[1], "guests");
    assert_int_equal(seen.seq[2], 9);
    assert_int_equal(seen.now_allow[2], 0);
    assert_string_equal(seen.now_rule[2], "interns");
    assert_int_equal(seen.seq[3], 11);
    assert_int_equal(seen.now_allow[3], 1);
    assert_string_equal(seen.now_rule[3], "services-v2");

    aigov_policy_free(p);
    remove_files(&f);
}

/* The same log replayed against the policy that would have produced it
 * changes nothing. */
static void test_replay_same_policy(void **state)
{
    files_t f;
    FILE *log;
    aigov_policy_t *p;
    aigov_replay_t r;
    char err[256];
    const rec_t recs[] = {
        { "admit", ALICE, "gpt-4o-mini", CHAT, "allow", "analysts", SHA_OLD, NULL, 0, -1 },
        { "deny", ALICE, "gpt-4o", CHAT, "deny", "default", SHA_OLD, NULL, 403, -1 },
        { "admit", IVY, "x", "/v1/embeddings", "allow", "interns", SHA_OLD, NULL, 0, -1 },
        { "deny", IVY, "x", CHAT, "deny", "interns", SHA_OLD, NULL, 403, 4000 },
    };

    (void) state;
    make_files(&f);
    log = fopen(f.log, "w");
    assert_non_null(log);
    for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++)
        append_record(log, i, &recs[i]);
    assert_int_equal(fclose(log), 0);
    p = load_policy(f.policy);
    aigov_replay_init(&r, p, NULL, NULL, NULL);
    assert_int_equal(aigov_replay_file(&r, 0, f.log, err, sizeof(err)), 0);
    assert_int_equal(r.sum.compared, 4);
    assert_int_equal(r.sum.changed, 0);
    aigov_policy_free(p);
    remove_files(&f);
}

static aigov_policy_t *mem_policy(void)
{
    char *errors = NULL;
    aigov_policy_t *p = aigov_policy_load_mem("p.yaml", NEW_POLICY, strlen(NEW_POLICY),
                                              NULL, NULL, NULL, &errors);
    assert_non_null(p);
    return p;
}

static void feed(aigov_replay_t *r, const char *line)
{
    aigov_replay_line(r, line, strlen(line));
}

/* Lines that are not readable records are reported with their line number
 * and skipped; none is compared, none crashes. */
static void test_replay_bad_lines(void **state)
{
    aigov_policy_t *p = mem_policy();
    aigov_replay_t r;
    seen_t seen;
    static const char *lines[] = {
        "not json at all",
        "[1,2,3]",
        "{\"seq\":\"7\",\"decision\":\"allow\",\"status\":0}",
        "{\"seq\":-1,\"decision\":\"allow\",\"status\":0}",
        "{\"seq\":1,\"decision\":\"maybe\",\"status\":0,\"rule\":\"a\",\"policy_sha256\":\"x\"}",
        "{\"seq\":1,\"decision\":\"allow\",\"rule\":\"a\",\"policy_sha256\":\"x\"}",
        "{\"seq\":1,\"decision\":\"allow\",\"status\":0,\"rule\":\"a\",\"policy_sha256\":\"x\","
        "\"claims\":\"alice\"}",
        "{\"seq\":1,\"decision\":\"allow\",\"status\":0,\"rule\":\"a\",\"policy_sha256\":\"x\","
        "\"max_tokens\":\"many\"}",
        "{\"seq\":1,\"decision\":\"allow\",\"status\":0,\"rule\":7,\"policy_sha256\":\"x\"}",
        "{\"seq\":1,\"phase\":\"later\",\"decision\":\"allow\",\"status\":0,\"rule\":\"a\","
        "\"policy_sha256\":\"x\"}",
        "{\"seq\":1,\"seq\":2,\"decision\":\"allow\",\"status\":0,\"rule\":\"a\","
        "\"policy_sha256\":\"x\"}",
        "{\"seq\":1,\"decision\":\"allow\",\"status\":0,\"rule\":\"a\",\"policy_sha256\":\"x\","
        "\"filters\":{}}",
        "{\"seq\":1,\"decision\":\"allow\",\"status\":0,\"rule\":\"a\",\"policy_sha256\":\"x\","
        "\"model\":[\"gpt\"]}",
        "{\"seq\":1,\"decision\":\"allow\",\"status\":0,\"rule\":\"a\",\"policy_sha256\":\"x\","
        "\"model\":\"a\\u0000b\"}",
        "{\"seq\":1,\"decision\":\"allow\",\"status\":0,\"rule\":\"a\",\"policy_sha256\":\"x\"",
    };
    const size_t nlines = sizeof(lines) / sizeof(lines[0]);

    (void) state;
    memset(&seen, 0, sizeof(seen));
    aigov_replay_init(&r, p, on_change, on_bad, &seen);
    for (size_t i = 0; i < nlines; i++)
        feed(&r, lines[i]);
    /* blank lines are not problems */
    feed(&r, "");
    feed(&r, "  \r");
    assert_int_equal(r.sum.lines, nlines + 2);
    assert_int_equal(r.sum.unreadable, nlines);
    assert_int_equal(seen.nbad, nlines);
    for (size_t i = 0; i < nlines; i++)
        assert_int_equal(seen.bad_line[i], i + 1);
    assert_non_null(strstr(seen.bad_why[0], "not JSON"));
    assert_non_null(strstr(seen.bad_why[2], "seq"));
    assert_non_null(strstr(seen.bad_why[6], "claims"));
    assert_non_null(strstr(seen.bad_why[9], "phase"));
    assert_int_equal(r.sum.records, 0);
    assert_int_equal(r.sum.compared, 0);
    assert_int_equal(seen.n, 0);
    aigov_policy_free(p);
}

/* Hand-written records: no phase (read by decision), no claims (decided as
 * a caller with none), odd statuses. */
static void test_replay_hand_records(void **state)
{
    aigov_policy_t *p = mem_policy();
    aigov_replay_t r;
    seen_t seen;

    (void) state;
    memset(&seen, 0, sizeof(seen));
    aigov_replay_init(&r, p, on_change, on_bad, &seen);
    /* allowed without claims: now no rule matches */
    feed(&r, "{\"seq\":0,\"decision\":\"allow\",\"status\":200,\"rule\":\"open\","
             "\"policy_sha256\":\"x\",\"claims\":null,\"model\":\"m\"}");
    /* a refusal with status 200 (the request ended before it was governed) */
    feed(&r, "{\"seq\":1,\"phase\":\"deny\",\"decision\":\"deny\",\"status\":200,\"rule\":\"open\","
             "\"policy_sha256\":\"x\"}");
    /* 503, 413: not policy */
    feed(&r, "{\"seq\":2,\"phase\":\"deny\",\"decision\":\"deny\",\"status\":503,\"rule\":\"open\","
             "\"policy_sha256\":\"x\"}");
    feed(&r, "{\"seq\":3,\"phase\":\"deny\",\"decision\":\"deny\",\"status\":413,\"rule\":null,"
             "\"policy_sha256\":null}");
    /* a denial by the default, with claims of the guests group: changed */
    feed(&r, "{\"seq\":4,\"phase\":\"deny\",\"decision\":\"deny\",\"status\":403,"
             "\"rule\":\"default\",\"policy_sha256\":\"x\",\"filters\":[],"
             "\"claims\":{\"sub\":\"g\",\"groups\":\"guests other\"},\"prompt_chars\":null}");
    assert_int_equal(seen.nbad, 0);
    assert_int_equal(r.sum.records, 5);
    assert_int_equal(r.sum.not_policy, 3);
    assert_int_equal(r.sum.compared, 2);
    assert_int_equal(r.sum.changed, 2);
    assert_int_equal(seen.seq[0], 0);
    assert_string_equal(seen.now_rule[0], "default");
    assert_string_equal(seen.sub[0], "");
    assert_int_equal(seen.seq[1], 4);
    assert_string_equal(seen.now_rule[1], "guests");
    aigov_policy_free(p);
}

/* A missing file is an error naming it; a torn last line and an overlong
 * line are reported, and the records around them still count. */
static void test_replay_file_edges(void **state)
{
    files_t f;
    aigov_policy_t *p = mem_policy();
    aigov_replay_t r;
    seen_t seen;
    char err[256] = "";
    FILE *log;
    const char *good = "{\"seq\":0,\"decision\":\"allow\",\"status\":0,\"rule\":\"old\","
                       "\"policy_sha256\":\"x\",\"claims\":{\"sub\":\"svc-a\"}}\n";

    (void) state;
    make_files(&f);
    aigov_replay_init(&r, p, NULL, NULL, NULL);
    assert_int_equal(aigov_replay_file(&r, 0, "/nonexistent/audit.log", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent/audit.log"));

    log = fopen(f.log, "w");
    assert_non_null(log);
    fputs(good, log);
    fputc('{', log);
    for (size_t i = 0; i < AIGOV_REPLAY_LINE_MAX + 10; i++)
        fputc('x', log);
    fputc('\n', log);
    fputs(good, log);
    fputs("{\"seq\":2,\"decision\":\"allow\"", log);
    assert_int_equal(fclose(log), 0);

    memset(&seen, 0, sizeof(seen));
    aigov_replay_init(&r, p, on_change, on_bad, &seen);
    assert_int_equal(aigov_replay_file(&r, 3, f.log, err, sizeof(err)), 0);
    assert_int_equal(r.sum.lines, 4);
    assert_int_equal(r.sum.compared, 2);
    assert_int_equal(r.sum.changed, 2);
    assert_int_equal(seen.n, 2);
    assert_int_equal(seen.nbad, 2);
    assert_int_equal(seen.bad_line[0], 2);
    assert_non_null(strstr(seen.bad_why[0], "too long"));
    assert_int_equal(seen.bad_line[1], 4);
    assert_non_null(strstr(seen.bad_why[1], "newline"));
    aigov_policy_free(p);
    remove_files(&f);
}

/* Token ids and undecodable text files: the gateway refuses them under a
 * rule with request filters unless it says uninspectable: allow, and the
 * record says "unread" so that a replay decides alike, admitted or
 * refused. "n" is replayed as the gateway read it. */
static const char *UNREAD_POLICY =
    "version: 1\n"
    "default: deny\n"
    "rules:\n"
    "  - name: tools\n"
    "    when:\n"
    "      groups: [tools]\n"
    "    filters:\n"
    "      - {plugin: pii, stages: [request, response], action: redact}\n"
    "%s"
    "    decision: allow\n"
    "  - name: capped\n"
    "    when:\n"
    "      groups: [capped]\n"
    "    limits: {max_prompt_chars: 1000}\n"
    "    filters:\n"
    "      - {plugin: pii, stages: [response], action: redact}\n"
    "    decision: allow\n"
    "  - name: few\n"
    "    when:\n"
    "      groups: [few]\n"
    "    limits: {max_n: 2, max_tokens: 1000}\n"
    "    decision: allow\n";

static aigov_policy_t *unread_policy(int opt_out)
{
    char text[1024], *errors = NULL;
    aigov_policy_t *p;

    snprintf(text, sizeof(text), UNREAD_POLICY, opt_out ? "    uninspectable: allow\n" : "");
    p = aigov_policy_load_mem("p.yaml", text, strlen(text), NULL, NULL, NULL, &errors);
    if (!p)
        print_error("policy errors:\n%s", errors);
    assert_non_null(p);
    return p;
}

#define TOOLS "{\"sub\":\"tia\",\"groups\":[\"tools\"]}"
#define CAPPED "{\"sub\":\"cal\",\"groups\":[\"capped\"]}"
#define FEW "{\"sub\":\"fay\",\"groups\":[\"few\"]}"
#define COMPL "/v1/completions"

static void replay_unread_log(const char *path, int opt_out, seen_t *seen, aigov_replay_t *r)
{
    aigov_policy_t *p = unread_policy(opt_out);
    char err[256];

    memset(seen, 0, sizeof(*seen));
    aigov_replay_init(r, p, on_change, on_bad, seen);
    assert_int_equal(aigov_replay_file(r, 0, path, err, sizeof(err)), 0);
    assert_int_equal(seen->nbad, 0);
    aigov_policy_free(p);
}

static void test_replay_unread(void **state)
{
    files_t f;
    FILE *log;
    aigov_replay_t r;
    seen_t seen;
    static const struct { rec_t rec; more_t more; } recs[] = {
        /* 0: token ids admitted under uninspectable: allow */
        { { "admit", TOOLS, "m", COMPL, "allow", "tools", SHA_OLD, NULL, 0, -1 },
          { "token_ids", 0, 0 } },
        /* 1: token ids refused where the rule did not opt out */
        { { "deny", TOOLS, "m", COMPL, "deny", "tools", SHA_OLD, "[]", 403, -1 },
          { "token_ids", 0, 0 } },
        /* 2: a text file that does not decode, admitted */
        { { "admit", TOOLS, "m", "/v1/responses", "allow", "tools", SHA_OLD, NULL, 0, -1 },
          { "text_file", 0, 0 } },
        /* 3: token ids under limits and answer filters only: admitted either way */
        { { "admit", CAPPED, "m", COMPL, "allow", "capped", SHA_OLD, NULL, 0, -1 },
          { "token_ids", 0, 0 } },
        /* 4: a record from before "unread": every text taken as read */
        { { "admit", TOOLS, "m", COMPL, "allow", "tools", SHA_OLD, NULL, 0, -1 },
          { NULL, 0, 0 } },
        /* 5: a body not read at all (a PUT), admitted by the opt-out */
        { { "admit", TOOLS, NULL, COMPL, "allow", "tools", SHA_OLD, NULL, 0, -1 },
          { NULL, 1, 0 } },
        /* 6: four answers admitted where two are allowed now */
        { { "admit", FEW, "m", "/v1/chat/completions", "allow", "few", SHA_OLD, NULL, 0, 100 },
          { NULL, 0, 4 } },
        /* 7: three answers refused (more than max_n): still refused */
        { { "deny", FEW, "m", "/v1/chat/completions", "deny", "few", SHA_OLD, "[]", 403, 400 },
          { NULL, 0, 3 } },
    };
    const size_t nrecs = sizeof(recs) / sizeof(recs[0]);

    (void) state;
    make_files(&f);
    log = fopen(f.log, "w");
    assert_non_null(log);
    for (size_t i = 0; i < nrecs; i++)
        append_record_more(log, i, &recs[i].rec, &recs[i].more);
    assert_int_equal(fclose(log), 0);

    /* with the opt-out: what was admitted unread still is, the refusal
     * (written under a rule without it) would be admitted */
    replay_unread_log(f.log, 1, &seen, &r);
    assert_int_equal(r.sum.compared, nrecs);
    assert_int_equal(seen.n, 2);
    assert_int_equal(seen.seq[0], 1);
    assert_int_equal(seen.now_allow[0], 1);
    assert_string_equal(seen.now_rule[0], "tools");
    assert_int_equal(seen.seq[1], 6);
    assert_int_equal(seen.now_allow[1], 0);
    assert_string_equal(seen.now_code[1], "n_exceeded");

    /* without it: what the gateway could not read is refused where the
     * rule has request filters, the refusal stays one */
    replay_unread_log(f.log, 0, &seen, &r);
    assert_int_equal(r.sum.compared, nrecs);
    assert_int_equal(seen.n, 4);
    assert_int_equal(seen.seq[0], 0);
    assert_int_equal(seen.now_allow[0], 0);
    assert_string_equal(seen.now_rule[0], "tools");
    assert_string_equal(seen.now_code[0], "uninspectable");
    assert_non_null(strstr(seen.now_message[0], "(token ids"));
    assert_int_equal(seen.seq[1], 2);
    assert_string_equal(seen.now_code[1], "uninspectable");
    assert_non_null(strstr(seen.now_message[1], "text file"));
    assert_int_equal(seen.seq[2], 5);
    assert_string_equal(seen.now_code[2], "uninspectable");
    assert_int_equal(seen.seq[3], 6);
    assert_string_equal(seen.now_code[3], "n_exceeded");
    remove_files(&f);
}

/* The recorded n counts against max_tokens as the gateway counted it: two
 * answers of 600 under a cap of 1000 are refused, one of 600 is not. */
static void test_replay_n_shares_max_tokens(void **state)
{
    aigov_policy_t *p = unread_policy(0);
    aigov_replay_t r;
    seen_t seen;

    (void) state;
    memset(&seen, 0, sizeof(seen));
    aigov_replay_init(&r, p, on_change, on_bad, &seen);
    feed(&r, "{\"seq\":0,\"phase\":\"admit\",\"decision\":\"allow\",\"status\":0,\"rule\":\"few\","
             "\"policy_sha256\":\"x\",\"claims\":" FEW ",\"model\":\"m\",\"max_tokens\":600,"
             "\"n\":2}");
    feed(&r, "{\"seq\":1,\"phase\":\"admit\",\"decision\":\"allow\",\"status\":0,\"rule\":\"few\","
             "\"policy_sha256\":\"x\",\"claims\":" FEW ",\"model\":\"m\",\"max_tokens\":600}");
    feed(&r, "{\"seq\":2,\"phase\":\"admit\",\"decision\":\"allow\",\"status\":0,\"rule\":\"few\","
             "\"policy_sha256\":\"x\",\"claims\":" FEW ",\"model\":\"m\",\"max_tokens\":600,"
             "\"n\":null}");
    assert_int_equal(seen.nbad, 0);
    assert_int_equal(r.sum.compared, 3);
    assert_int_equal(seen.n, 1);
    assert_int_equal(seen.seq[0], 0);
    assert_string_equal(seen.now_code[0], "max_tokens_exceeded");
    aigov_policy_free(p);
}

/* The markers of a hostile or broken record: a wrong type is reported and
 * the record skipped, never taken for "read" or for one answer. */
static void test_replay_bad_markers(void **state)
{
    aigov_policy_t *p = unread_policy(0);
    aigov_replay_t r;
    seen_t seen;
#define HEAD "{\"seq\":1,\"phase\":\"admit\",\"decision\":\"allow\",\"status\":0,\"rule\":\"tools\"," \
             "\"policy_sha256\":\"x\",\"claims\":" TOOLS ","
    static const struct { const char *line, *why; } bad_lines[] = {
        { HEAD "\"unread\":true}", "unread" },
        { HEAD "\"unread\":1}", "unread" },
        { HEAD "\"unread\":[\"token_ids\"]}", "unread" },
        { HEAD "\"unread\":{\"kind\":\"token_ids\"}}", "unread" },
        { HEAD "\"unread\":\"\"}", "unread" },
        { HEAD "\"n\":\"4\"}", "\"n\"" },
        { HEAD "\"n\":0}", "\"n\"" },
        { HEAD "\"n\":-2}", "\"n\"" },
        { HEAD "\"n\":2.5}", "\"n\"" },
        { HEAD "\"inspected\":\"false\"}", "inspected" },
        { HEAD "\"inspected\":0}", "inspected" },
        { HEAD "\"max_tokens_injected\":\"yes\"}", "max_tokens_injected" },
        { HEAD "\"background\":\"true\"}", "background" },
        { HEAD "\"background\":1}", "background" },
        { HEAD "\"media\":\"file\"}", "media" },
        { HEAD "\"media\":[\"file\",1]}", "media" },
        { HEAD "\"media\":{\"file\":1}}", "media" },
    };
    const size_t nbad = sizeof(bad_lines) / sizeof(bad_lines[0]);

    (void) state;
    memset(&seen, 0, sizeof(seen));
    aigov_replay_init(&r, p, on_change, on_bad, &seen);
    for (size_t i = 0; i < nbad; i++)
        feed(&r, bad_lines[i].line);
    assert_int_equal(seen.nbad, nbad);
    for (size_t i = 0; i < nbad; i++) {
        if (!strstr(seen.bad_why[i], bad_lines[i].why))
            print_error("line %zu: %s\n", i + 1, seen.bad_why[i]);
        assert_non_null(strstr(seen.bad_why[i], bad_lines[i].why));
    }
    assert_int_equal(r.sum.records, 0);

    /* null is absent; a kind this reader does not know is still unread */
    feed(&r, HEAD "\"unread\":null,\"inspected\":null,\"max_tokens_injected\":null}");
    feed(&r, HEAD "\"unread\":\"audio_tokens\",\"inspected\":true}");
    assert_int_equal(seen.nbad, nbad);
    assert_int_equal(r.sum.compared, 2);
    assert_int_equal(seen.n, 1);
    assert_string_equal(seen.now_code[0], "uninspectable");
    assert_non_null(strstr(seen.now_message[0], "no filter can read"));
#undef HEAD
    aigov_policy_free(p);
}

/* "media" replays the kinds of media the request carried: a rule added
 * since that refuses files takes the recorded PDF, not the plain text; a
 * kind this version does not know is one no rule names. */
static void test_replay_media(void **state)
{
    const char *text = "version: 1\nrules:\n"
        "  - {name: no-files, decision: deny, when: {groups: [tools], media: [file]}}\n"
        "  - {name: tools, decision: allow, when: {groups: [tools]}}\n";
    char *errors = NULL;
    aigov_policy_t *p = aigov_policy_load_mem("p.yaml", text, strlen(text), NULL, NULL, NULL,
                                              &errors);
    aigov_replay_t r;
    seen_t seen;
#define HEAD "\"phase\":\"admit\",\"decision\":\"allow\",\"status\":0,\"rule\":\"tools\"," \
             "\"policy_sha256\":\"x\",\"claims\":" TOOLS ",\"model\":\"m\""

    (void) state;
    assert_non_null(p);
    memset(&seen, 0, sizeof(seen));
    aigov_replay_init(&r, p, on_change, on_bad, &seen);
    feed(&r, "{\"seq\":0," HEAD ",\"media\":[\"image\",\"file\"]}");
    feed(&r, "{\"seq\":1," HEAD ",\"media\":[\"image\"]}");
    feed(&r, "{\"seq\":2," HEAD "}");
    feed(&r, "{\"seq\":3," HEAD ",\"media\":[\"video\"]}");
    feed(&r, "{\"seq\":4," HEAD ",\"media\":null}");
    assert_int_equal(seen.nbad, 0);
    assert_int_equal(r.sum.compared, 5);
    assert_int_equal(seen.n, 1);
    assert_int_equal(seen.seq[0], 0);
    assert_int_equal(seen.now_allow[0], 0);
    assert_string_equal(seen.now_rule[0], "no-files");
#undef HEAD
    aigov_policy_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_log),
        cmocka_unit_test(test_replay_same_policy),
        cmocka_unit_test(test_replay_bad_lines),
        cmocka_unit_test(test_replay_hand_records),
        cmocka_unit_test(test_replay_file_edges),
        cmocka_unit_test(test_replay_unread),
        cmocka_unit_test(test_replay_n_shares_max_tokens),
        cmocka_unit_test(test_replay_bad_markers),
        cmocka_unit_test(test_replay_media),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
