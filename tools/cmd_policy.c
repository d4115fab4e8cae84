/* aigov policy: check, test, explain, diff and replay governance policies.
 *
 * Plugins are not loaded here: filters are checked for their shape only
 * (nginx -t checks them against the loaded plugins). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "aigov.h"
#include "media.h"
#include "policy.h"
#include "policy_replay.h"
#include "request.h"
#include "audit_policy.h"

typedef struct {
    int          json;
    int          strict;
    const char  *cases;
    const char  *claims;
    const char  *request;
    const char  *from_log;      /* replay: the policy of this digest, from the log */
    const char  *pos[64];
    int          npos;
} opts_t;

static void usage(FILE *f)
{
    fprintf(f,
        "usage: aigov policy check FILE... [--strict] [--json]\n"
        "       aigov policy test FILE --cases CASES [--json]\n"
        "       aigov policy explain FILE --claims JSON|@FILE --request FILE [--json]\n"
        "       aigov policy diff OLD NEW --cases CASES [--json]\n"
        "       aigov policy replay FILE LOG... [--json]   (--help for details)\n"
        "       aigov policy replay --from-log DIGEST LOG... [--json]\n"
        "FILE is a policy file or a folder of *.yaml policy files.\n");
}

static void replay_help(FILE *f)
{
    fprintf(f,
        "usage: aigov policy replay FILE LOG... [--json]\n"
        "       aigov policy replay --from-log DIGEST LOG... [--json]\n"
        "\n"
        "With --from-log the policy is the one the log itself recorded (its policy\n"
        "record with that policy_sha256, or a prefix of it; see aigov audit show\n"
        "--policy): how would last quarter's requests fare under the rules in force\n"
        "back then, or those in force now.\n"
        "\n"
        "Decides every recorded request of the audit logs again under the policy FILE\n"
        "and prints those that would be decided differently: allowed now denied, denied\n"
        "now allowed, or decided by another rule. LOGs are read in the order given\n"
        "(oldest rotated file first); records need not be signed.\n"
        "\n"
        "Compared: only records whose recorded decision came from the policy:\n"
        "  - admissions (phase \"admit\"): decision allow, status 0 or 200;\n"
        "  - refusals (phase \"deny\"): decision deny, status 403 and an empty\n"
        "    \"filters\" list (a rule or the default denied; a filter that blocks\n"
        "    leaves its outcome in \"filters\");\n"
        "  and both with a \"rule\" and a \"policy_sha256\" (a policy was in force).\n"
        "Not compared, only counted: refusals for other reasons (400 bad body, 401 bad\n"
        "token, 413, 429 quota, 503 audit, 403 by a filter), requests served with no\n"
        "policy, completion records (phase \"done\", which repeat the admission) and\n"
        "checkpoint lines. Lines that are not readable records are reported on stderr\n"
        "(LOG:LINE: reason) and skipped. Records written before aigov kept \"n\",\n"
        "\"unread\" and \"background\" are decided as one answer whose every text was\n"
        "read.\n"
        "\n"
        "Exit status: 0 no compared request would be decided differently, 1 some would\n"
        "(like diff), 2 usage error, unreadable file, or a policy with errors.\n");
}

static int parse_opts(int argc, char **argv, opts_t *o)
{
    memset(o, 0, sizeof(*o));
    for (int i = 2; i < argc; i++) {
        const char **dst = NULL;
        if (!strcmp(argv[i], "--json")) {
            o->json = 1;
            continue;
        }
        if (!strcmp(argv[i], "--strict")) {
            o->strict = 1;
            continue;
        }
        if (!strcmp(argv[i], "--cases"))
            dst = &o->cases;
        else if (!strcmp(argv[i], "--claims"))
            dst = &o->claims;
        else if (!strcmp(argv[i], "--request"))
            dst = &o->request;
        else if (!strcmp(argv[i], "--from-log"))
            dst = &o->from_log;
        if (dst) {
            if (i + 1 >= argc) {
                fprintf(stderr, "aigov policy: %s needs a value\n", argv[i]);
                return -1;
            }
            *dst = argv[++i];
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "aigov policy: unknown option %s\n", argv[i]);
            return -1;
        }
        if (o->npos == (int) (sizeof(o->pos) / sizeof(o->pos[0]))) {
            fprintf(stderr, "aigov policy: too many files\n");
            return -1;
        }
        o->pos[o->npos++] = argv[i];
    }
    return 0;
}

static int exists(const char *path)
{
    struct stat st;

    if (stat(path, &st) == 0)
        return 1;
    fprintf(stderr, "aigov policy: cannot read %s: %s\n", path, strerror(errno));
    return 0;
}

static void print_json(json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_ENSURE_ASCII);

    if (s)
        printf("%s\n", s);
    free(s);
    json_decref(j);
}

/* "file:line:col: message" (or "file: message") as JSON; a warning's
 * "warning: " is not part of its message. */
static json_t *error_json(const char *line)
{
    const char *p = line, *m;
    unsigned l, c;
    int n;

    while ((p = strchr(p, ':'))) {
        if (sscanf(p, ":%u:%u: %n", &l, &c, &n) == 2 && n > 0) {
            m = p + n;
            if (!strncmp(m, "warning: ", 9))
                m += 9;
            return json_pack("{s:s%,s:I,s:I,s:s}", "file", line, (size_t) (p - line),
                             "line", (json_int_t) l, "col", (json_int_t) c, "message", m);
        }
        p++;
    }
    p = strstr(line, ": ");
    if (p)
        return json_pack("{s:s%,s:I,s:I,s:s}", "file", line, (size_t) (p - line),
                         "line", (json_int_t) 0, "col", (json_int_t) 0, "message", p + 2);
    return json_pack("{s:s,s:I,s:I,s:s}", "file", "", "line", (json_int_t) 0,
                     "col", (json_int_t) 0, "message", line);
}

static json_t *errors_json(const char *errors)
{
    json_t *a = json_array();
    char *copy = strdup(errors ? errors : ""), *save = NULL;

    if (!a || !copy) {
        free(copy);
        return a;
    }
    for (char *t = strtok_r(copy, "\n", &save); t; t = strtok_r(NULL, "\n", &save))
        json_array_append_new(a, error_json(t));
    free(copy);
    return a;
}

/* Loads a policy for the tool; prints its errors. */
static aigov_policy_t *load(const char *path, int json)
{
    char *errors = NULL;
    aigov_policy_t *p = aigov_policy_load(path, NULL, NULL, NULL, &errors);

    if (!p) {
        if (json)
            print_json(json_pack("{s:b,s:s,s:o}", "ok", 0, "policy", path,
                                 "errors", errors_json(errors)));
        else
            fputs(errors ? errors : "policy: cannot load\n", stdout);
    }
    free(errors);
    return p;
}

static aigov_policy_case_t *load_cases(const char *path, size_t *n, int json)
{
    char *errors = NULL;
    aigov_policy_case_t *c = aigov_policy_cases_load(path, n, &errors);

    if (!c) {
        if (json)
            print_json(json_pack("{s:b,s:s,s:o}", "ok", 0, "cases", path,
                                 "errors", errors_json(errors)));
        else
            fputs(errors ? errors : "cases: cannot load\n", stdout);
    }
    free(errors);
    return c;
}

/* ---- check ---------------------------------------------------------------- */

static int cmd_check(const opts_t *o)
{
    json_t *list = json_array();
    int bad = 0;

    if (o->npos < 1) {
        usage(stderr);
        json_decref(list);
        return AIGOV_EXIT_USAGE;
    }
    for (int i = 0; i < o->npos; i++) {
        if (!exists(o->pos[i])) {
            json_decref(list);
            return AIGOV_EXIT_USAGE;
        }
    }
    for (int i = 0; i < o->npos; i++) {
        char *errors = NULL;
        aigov_policy_t *p = aigov_policy_load(o->pos[i], NULL, NULL, NULL, &errors);

        if (p) {
            size_t nw = aigov_policy_warning_count(p);
            const char *w = aigov_policy_warnings(p);
            /* --strict: a warning fails the check as an error would */
            int ok = !(o->strict && nw);

            if (!ok)
                bad = 1;
            if (o->json) {
                json_array_append_new(list, json_pack("{s:s,s:b,s:s,s:I,s:o,s:o}", "policy", o->pos[i],
                                      "ok", ok, "sha256", aigov_policy_sha256(p),
                                      "rules", (json_int_t) aigov_policy_rule_count(p),
                                      "errors", json_array(),
                                      "warnings", errors_json(w)));
            } else {
                fputs(w ? w : "", stdout);
                if (!nw)
                    printf("%s: ok, %zu rules, sha256 %s\n", o->pos[i],
                           aigov_policy_rule_count(p), aigov_policy_sha256(p));
                else if (ok)
                    printf("%s: ok, %zu rules, sha256 %s, %zu warning%s\n", o->pos[i],
                           aigov_policy_rule_count(p), aigov_policy_sha256(p), nw,
                           nw == 1 ? "" : "s");
                else
                    printf("%s: %zu warning%s, which --strict makes errors\n", o->pos[i], nw,
                           nw == 1 ? "" : "s");
            }
            aigov_policy_free(p);
        } else {
            bad = 1;
            if (o->json)
                json_array_append_new(list, json_pack("{s:s,s:b,s:o,s:o}", "policy", o->pos[i],
                                      "ok", 0, "errors", errors_json(errors),
                                      "warnings", json_array()));
            else
                fputs(errors ? errors : "", stdout);
        }
        free(errors);
    }
    if (o->json)
        print_json(json_pack("{s:b,s:o}", "ok", !bad, "policies", list));
    else
        json_decref(list);
    return bad ? AIGOV_EXIT_FOUND : AIGOV_EXIT_OK;
}

/* ---- test and diff -------------------------------------------------------- */

static json_t *decision_json(const aigov_decision_t *d)
{
    return json_pack("{s:s,s:s,s:s?,s:s}", "decision", d->allow ? "allow" : "deny",
                     "rule", d->rule, "code", d->code, "message", d->message);
}

static void describe(char *buf, size_t len, const aigov_decision_t *d)
{
    if (d->allow)
        snprintf(buf, len, "allow by rule %s", d->rule);
    else
        snprintf(buf, len, "deny by rule %s (%s: %s)", d->rule, d->code, d->message);
}

static int cmd_test(const opts_t *o)
{
    aigov_policy_t *p;
    aigov_policy_case_t *cases;
    size_t n, failed = 0;
    json_t *list;

    if (o->npos != 1 || !o->cases) {
        usage(stderr);
        return AIGOV_EXIT_USAGE;
    }
    if (!exists(o->pos[0]) || !exists(o->cases))
        return AIGOV_EXIT_USAGE;
    if (!(p = load(o->pos[0], o->json)))
        return AIGOV_EXIT_FOUND;
    if (!(cases = load_cases(o->cases, &n, o->json))) {
        aigov_policy_free(p);
        return AIGOV_EXIT_FOUND;
    }
    list = json_array();
    for (size_t i = 0; i < n; i++) {
        const aigov_policy_case_t *c = &cases[i];
        aigov_policy_input_t in;
        aigov_decision_t d;
        int ok;
        char got[700];

        aigov_policy_case_input(c, &in);
        aigov_policy_decide(p, &in, &d);
        ok = d.allow == c->expect_allow &&
             (!c->rule || !strcmp(c->rule, d.rule)) &&
             (!c->code || (d.code && !strcmp(c->code, d.code)));
        failed += !ok;
        describe(got, sizeof(got), &d);
        if (o->json) {
            json_array_append_new(list, json_pack("{s:s,s:I,s:b,s:{s:s,s:s?,s:s?},s:o}",
                                  "name", c->name, "line", (json_int_t) c->line, "ok", ok,
                                  "expected", "decision", c->expect_allow ? "allow" : "deny",
                                  "rule", c->rule, "code", c->code, "got", decision_json(&d)));
        } else if (ok) {
            printf("ok    %s\n", c->name);
        } else {
            printf("FAIL  %s (%s:%u): expected %s%s%s%s%s, got %s\n", c->name, o->cases, c->line,
                   c->expect_allow ? "allow" : "deny",
                   c->rule ? " by rule " : "", c->rule ? c->rule : "",
                   c->code ? " with code " : "", c->code ? c->code : "", got);
        }
    }
    if (o->json)
        print_json(json_pack("{s:b,s:s,s:I,s:I,s:o}", "ok", failed == 0,
                             "policy_sha256", aigov_policy_sha256(p),
                             "passed", (json_int_t) (n - failed), "failed", (json_int_t) failed,
                             "cases", list));
    else {
        json_decref(list);
        printf("%zu cases, %zu passed, %zu failed\n", n, n - failed, failed);
    }
    aigov_policy_cases_free(cases, n);
    aigov_policy_free(p);
    return failed ? AIGOV_EXIT_FOUND : AIGOV_EXIT_OK;
}

static int same_decision(const aigov_decision_t *a, const aigov_decision_t *b)
{
    return a->allow == b->allow && !strcmp(a->rule, b->rule) &&
           !strcmp(a->code ? a->code : "", b->code ? b->code : "");
}

static int cmd_diff(const opts_t *o)
{
    aigov_policy_t *old, *new;
    aigov_policy_case_t *cases;
    size_t n, changed = 0;
    json_t *list;

    if (o->npos != 2 || !o->cases) {
        usage(stderr);
        return AIGOV_EXIT_USAGE;
    }
    if (!exists(o->pos[0]) || !exists(o->pos[1]) || !exists(o->cases))
        return AIGOV_EXIT_USAGE;
    if (!(old = load(o->pos[0], o->json)))
        return AIGOV_EXIT_FOUND;
    if (!(new = load(o->pos[1], o->json))) {
        aigov_policy_free(old);
        return AIGOV_EXIT_FOUND;
    }
    if (!(cases = load_cases(o->cases, &n, o->json))) {
        aigov_policy_free(old);
        aigov_policy_free(new);
        return AIGOV_EXIT_FOUND;
    }
    list = json_array();
    for (size_t i = 0; i < n; i++) {
        aigov_policy_input_t in;
        aigov_decision_t a, b;
        char da[700], db[700];

        aigov_policy_case_input(&cases[i], &in);
        aigov_policy_decide(old, &in, &a);
        aigov_policy_decide(new, &in, &b);
        if (same_decision(&a, &b))
            continue;
        changed++;
        if (o->json) {
            json_array_append_new(list, json_pack("{s:s,s:I,s:o,s:o}", "name", cases[i].name,
                                  "line", (json_int_t) cases[i].line,
                                  "old", decision_json(&a), "new", decision_json(&b)));
        } else {
            describe(da, sizeof(da), &a);
            describe(db, sizeof(db), &b);
            printf("%s (%s:%u)\n  old: %s\n  new: %s\n", cases[i].name, o->cases, cases[i].line,
                   da, db);
        }
    }
    if (o->json)
        print_json(json_pack("{s:s,s:s,s:I,s:I,s:o}", "old_sha256", aigov_policy_sha256(old),
                             "new_sha256", aigov_policy_sha256(new), "cases", (json_int_t) n,
                             "changed", (json_int_t) changed, "changes", list));
    else {
        json_decref(list);
        printf("%zu of %zu cases decided differently\n", changed, n);
    }
    aigov_policy_cases_free(cases, n);
    aigov_policy_free(old);
    aigov_policy_free(new);
    return AIGOV_EXIT_OK;
}

/* ---- explain -------------------------------------------------------------- */

static long long utf8_chars(const char *s)
{
    long long n = 0;

    for (; *s; s++)
        n += ((unsigned char) *s & 0xC0) != 0x80;
    return n;
}

/* Characters of text in a content value: a string, or a list of parts
 * with "text" fields (OpenAI and Anthropic both use this shape). */
static long long content_chars(const json_t *c)
{
    long long n = 0;
    size_t i;
    const json_t *v;

    if (json_is_string(c))
        return utf8_chars(json_string_value(c));
    if (json_is_array(c)) {
        json_array_foreach(c, i, v) {
            if (json_is_string(v))
                n += utf8_chars(json_string_value(v));
            else if (json_is_string(json_object_get(v, "text")))
                n += utf8_chars(json_string_value(json_object_get(v, "text")));
        }
    }
    return n;
}

/* The request file: either the short form {model, endpoint, max_tokens,
 * prompt_chars, media} or a model API body (messages / prompt / input),
 * which may also name its endpoint. */
static int read_request(json_t *r, aigov_policy_input_t *in)
{
    const json_t *v;
    size_t i;

    if (!json_is_object(r))
        return -1;
    in->endpoint = "/v1/chat/completions";
    if (json_is_string(v = json_object_get(r, "endpoint")) ||
        json_is_string(v = json_object_get(r, "path")))
        in->endpoint = json_string_value(v);
    else if (json_object_get(r, "prompt"))
        in->endpoint = "/v1/completions";
    else if (json_object_get(r, "input"))
        in->endpoint = "/v1/embeddings";
    in->path = in->endpoint;
    if (json_is_string(v = json_object_get(r, "model")))
        in->model = json_string_value(v);
    in->max_tokens = -1;
    if (json_is_integer(v = json_object_get(r, "max_tokens")) ||
        json_is_integer(v = json_object_get(r, "max_completion_tokens")))
        in->max_tokens = json_integer_value(v);
    /* n answers (completions: best_of of them are generated) */
    if (json_is_integer(v = json_object_get(r, "n")))
        in->n = json_integer_value(v);
    if (json_is_integer(v = json_object_get(r, "best_of")) && json_integer_value(v) > in->n)
        in->n = json_integer_value(v);
    /* the short form's kinds of media, as a record lists them */
    json_array_foreach(json_object_get(r, "media"), i, v)
        if (json_is_string(v))
            in->media |= aigov_media_bit(json_string_value(v), json_string_length(v));
    if (json_is_integer(v = json_object_get(r, "prompt_chars"))) {
        in->prompt_chars = json_integer_value(v);
    } else {
        json_array_foreach(json_object_get(r, "messages"), i, v)
            in->prompt_chars += content_chars(json_object_get(v, "content"));
        in->prompt_chars += content_chars(json_object_get(r, "system"));
        in->prompt_chars += content_chars(json_object_get(r, "prompt"));
        in->prompt_chars += content_chars(json_object_get(r, "input"));
    }
    return 0;
}

/* A real API body is read as the gateway reads it, so that explain
 * decides on what the gateway would: its limits, answers, prompt length,
 * token ids or a text file no filter can read, a background answer. The
 * short form (prompt_chars given) and the endpoint hints stay as read.
 * 0, or -1 with the gateway's 400 message in err. */
static int read_body(json_t *r, aigov_policy_input_t *in, char *err, size_t errlen)
{
    aigov_request_t rq;
    aigov_endpoint_t ep;
    aigov_req_status_t st;
    json_t *body;
    char *text;

    if (json_object_get(r, "prompt_chars"))
        return 0;
    ep = aigov_endpoint_from_path(in->endpoint, strlen(in->endpoint));
    if (ep == AIGOV_EP_UNKNOWN || ep == AIGOV_EP_MODELS)
        return 0;
    body = json_deep_copy(r);
    if (body == NULL)
        return 0;
    json_object_del(body, "endpoint");
    json_object_del(body, "path");
    text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (text == NULL)
        return 0;
    st = aigov_request_parse(&rq, ep, text, strlen(text), err, errlen);
    free(text);
    if (st == AIGOV_REQ_OK) {
        in->max_tokens = rq.max_tokens;
        in->n = rq.n;
        in->prompt_chars = (long long) rq.prompt_chars;
        in->unread = rq.unread;     /* a constant phrase: outlives rq */
        in->answer_later = rq.background && !rq.stream;
        in->media = rq.media;
    }
    aigov_request_free(&rq);
    return st == AIGOV_REQ_OK ? 0 : -1;
}

static const char *action_name(int a)
{
    return a == AIGOV_FILTER_BLOCK ? "block" : a == AIGOV_FILTER_REDACT ? "redact" : "flag";
}

static const char *stages_name(unsigned s)
{
    return s == (AIGOV_STAGE_REQUEST | AIGOV_STAGE_RESPONSE) ? "request, response"
         : s == AIGOV_STAGE_REQUEST ? "request" : "response";
}

static const char *why_skipped(const char *cond)
{
    if (!strcmp(cond, "groups"))
        return "the caller is in none of its groups";
    if (!strcmp(cond, "subjects"))
        return "the subject matches none of its subjects";
    if (!strcmp(cond, "claims"))
        return "a claim does not have the value it asks for";
    if (!strcmp(cond, "endpoints"))
        return "the endpoint is not one of its endpoints";
    if (!strcmp(cond, "models"))
        return "the model is not one of its models";
    if (!strcmp(cond, "media"))
        return "the request carries none of its kinds of media";
    return cond;
}

static void explain_text(const aigov_policy_t *p, const aigov_policy_input_t *in,
                         const aigov_decision_t *d, const char *path)
{
    json_t *groups = aigov_decision_groups(d);
    char *gs = json_dumps(groups, JSON_COMPACT | JSON_ENCODE_ANY);
    const aigov_policy_limits_t *l = &d->limits;

    printf("policy:   %s (sha256 %s)\n", path, aigov_policy_sha256(p));
    printf("caller:   subject %s, groups %s\n", d->subject[0] ? d->subject : "(none)",
           gs ? gs : "[]");
    printf("request:  %s, model %s, ", in->path, in->model ? in->model : "(none)");
    if (in->max_tokens >= 0)
        printf("max_tokens %lld, ", in->max_tokens);
    else
        printf("no max_tokens, ");
    printf("prompt %lld characters", in->prompt_chars);
    for (unsigned k = 0, first = 1; k < AIGOV_MEDIA_KINDS; k++)
        if (in->media & (1u << k)) {
            printf("%s%s", first ? ", media " : " ", aigov_media_names[k]);
            first = 0;
        }
    printf("\n");
    printf("rules (the first that matches decides):\n");
    for (size_t i = 0; i < aigov_policy_rule_count(p); i++) {
        unsigned line;
        const char *file = aigov_policy_rule_file(p, i, &line);
        const char *failed = aigov_policy_rule_check(p, i, in);

        printf("  %2zu. %-28s %s:%u  ", i + 1, aigov_policy_rule_name(p, i), file, line);
        if (failed) {
            printf("skipped: %s\n", why_skipped(failed));
            continue;
        }
        printf("MATCHES -> %s\n", aigov_policy_rule_allows(p, i) ? "allow" : "deny");
        if (i + 1 < aigov_policy_rule_count(p))
            printf("      (later rules are not considered)\n");
        break;
    }
    if (d->rule_index < 0)
        printf("  no rule matches: the default is %s\n",
               aigov_policy_default_allow(p) ? "allow" : "deny");
    if (d->allow) {
        printf("decision: allow (rule %s)\n", d->rule);
    } else {
        printf("decision: deny (rule %s), HTTP %d, code %s\n", d->rule, d->status, d->code);
        printf("message:  %s\n", d->message);
    }
    if (d->allow) {
        if (d->set_max_tokens)
            printf("max_tokens: absent in the request, set to %lld\n", d->set_max_tokens);
        if (l->max_tokens || l->max_prompt_chars || l->requests_per_minute ||
            l->tokens_per_minute || l->tokens_per_day)
            printf("limits:   max_tokens %lld, max_prompt_chars %lld, requests_per_minute %lld, "
                   "tokens_per_minute %lld, tokens_per_day %lld (0: none)\n",
                   l->max_tokens, l->max_prompt_chars, l->requests_per_minute,
                   l->tokens_per_minute, l->tokens_per_day);
        for (size_t i = 0; i < d->nfilters; i++)
            printf("filter:   %s on %s, action %s, on error %s\n", d->filters[i].plugin,
                   stages_name(d->filters[i].stages), action_name(d->filters[i].action),
                   d->filters[i].fail_open ? "allow" : "block");
    }
    printf("audit:    content %s\n", aigov_content_name(d->content));
    free(gs);
    json_decref(groups);
}

static json_t *explain_json(const aigov_policy_t *p, const aigov_policy_input_t *in,
                            const aigov_decision_t *d)
{
    json_t *trace = json_array(), *filters = json_array(), *j;
    const aigov_policy_limits_t *l = &d->limits;

    for (size_t i = 0; i < aigov_policy_rule_count(p); i++) {
        unsigned line;
        const char *file = aigov_policy_rule_file(p, i, &line);
        const char *failed = aigov_policy_rule_check(p, i, in);

        json_array_append_new(trace, json_pack("{s:s,s:s,s:I,s:s,s:s?}",
                              "rule", aigov_policy_rule_name(p, i), "file", file,
                              "line", (json_int_t) line, "result", failed ? "skipped" : "matched",
                              "failed", failed));
        if (!failed)
            break;
    }
    for (size_t i = 0; i < d->nfilters; i++)
        json_array_append_new(filters, json_pack("{s:s,s:s,s:s,s:s}", "plugin", d->filters[i].plugin,
                              "stages", stages_name(d->filters[i].stages),
                              "action", action_name(d->filters[i].action),
                              "on_error", d->filters[i].fail_open ? "allow" : "block"));
    j = json_pack("{s:s,s:s,s:I,s:s?,s:s,s:s,s:o,s:o,s:o,s:s,s:I,s:{s:I,s:I,s:I,s:I,s:I}}",
                  "decision", d->allow ? "allow" : "deny", "rule", d->rule,
                  "status", (json_int_t) d->status, "code", d->code, "message", d->message,
                  "subject", d->subject, "groups", aigov_decision_groups(d),
                  "trace", trace, "filters", filters,
                  "audit_content", aigov_content_name(d->content),
                  "set_max_tokens", (json_int_t) d->set_max_tokens,
                  "limits", "max_tokens", (json_int_t) l->max_tokens,
                  "max_prompt_chars", (json_int_t) l->max_prompt_chars,
                  "requests_per_minute", (json_int_t) l->requests_per_minute,
                  "tokens_per_minute", (json_int_t) l->tokens_per_minute,
                  "tokens_per_day", (json_int_t) l->tokens_per_day);
    if (j)
        json_object_set_new(j, "policy_sha256", json_string(aigov_policy_sha256(p)));
    return j;
}

static int cmd_explain(const opts_t *o)
{
    aigov_policy_t *p;
    json_t *claims, *req;
    json_error_t e;
    aigov_policy_input_t in;
    aigov_decision_t d;

    if (o->npos != 1 || !o->claims || !o->request) {
        usage(stderr);
        return AIGOV_EXIT_USAGE;
    }
    if (!exists(o->pos[0]) || !exists(o->request))
        return AIGOV_EXIT_USAGE;
    if (o->claims[0] == '@')
        claims = json_load_file(o->claims + 1, 0, &e);
    else
        claims = json_loads(o->claims, 0, &e);
    if (!json_is_object(claims)) {
        fprintf(stderr, "aigov policy: --claims is not a JSON object: %s (line %d, column %d)\n",
                claims ? "another JSON value" : e.text, e.line, e.column);
        json_decref(claims);
        return AIGOV_EXIT_USAGE;
    }
    req = json_load_file(o->request, 0, &e);
    memset(&in, 0, sizeof(in));
    if (!req || read_request(req, &in) != 0) {
        fprintf(stderr, "aigov policy: %s:%d:%d: the request must be a JSON object: %s\n",
                o->request, e.line, e.column, req ? "another JSON value" : e.text);
        json_decref(req);
        json_decref(claims);
        return AIGOV_EXIT_USAGE;
    }
    {
        char err[256];

        if (read_body(req, &in, err, sizeof(err)) != 0)
            fprintf(stderr, "aigov policy: %s: the gateway would refuse this body "
                    "(400 invalid_request_error): %s; decided on its fields as read\n",
                    o->request, err);
    }
    in.claims = claims;
    if (!(p = load(o->pos[0], o->json))) {
        json_decref(req);
        json_decref(claims);
        return AIGOV_EXIT_FOUND;
    }
    aigov_policy_decide(p, &in, &d);
    if (o->json)
        print_json(explain_json(p, &in, &d));
    else
        explain_text(p, &in, &d, o->pos[0]);
    aigov_policy_free(p);
    json_decref(req);
    json_decref(claims);
    return AIGOV_EXIT_OK;
}

/* ---- replay --------------------------------------------------------------- */

#define REPLAY_BAD_SHOWN 20

typedef struct {
    const opts_t  *o;
    json_t        *changes;      /* --json */
    json_t        *bad;          /* --json, the first REPLAY_BAD_SHOWN */
    uint64_t       nbad;
} replay_out_t;

/* Log strings are hostile: no control characters reach the terminal. */
static const char *printable(char *buf, size_t len, const char *s)
{
    size_t i = 0;

    for (; *s && i + 1 < len; s++)
        buf[i++] = ((unsigned char) *s < 0x20 || *s == 0x7f) ? '?' : *s;
    buf[i] = '\0';
    if (*s && len > 4)
        memcpy(buf + len - 4, "...", 4);
    return buf;
}

static void replay_change(void *ud, const aigov_replay_change_t *c)
{
    replay_out_t *out = ud;
    const char *log = out->o->pos[(out->o->from_log ? 0 : 1) + c->file];
    const aigov_decision_t *d = c->now;
    char id[80], sub[160], model[160], ep[160], rule[160], now[700];

    if (out->changes) {
        json_t *nj = decision_json(d);

        json_object_set_new(nj, "status", json_integer(d->allow ? 200 : d->status));
        json_array_append_new(out->changes, json_pack(
            "{s:I,s:s,s:I,s:s,s:s,s:s,s:s,s:s,s:{s:s,s:s,s:I,s:s},s:o}",
            "seq", (json_int_t) c->seq, "log", log, "line", (json_int_t) c->line,
            "id", c->id, "sub", c->sub, "model", c->model, "endpoint", c->endpoint,
            "path", c->path,
            "recorded", "decision", c->old_allow ? "allow" : "deny", "rule", c->old_rule,
            "status", (json_int_t) c->old_status, "policy_sha256", c->old_policy,
            "now", nj));
        return;
    }
    printf("seq %llu (%s:%llu) id %s sub %s model %s endpoint %s\n",
           (unsigned long long) c->seq, log, (unsigned long long) c->line,
           printable(id, sizeof(id), c->id[0] ? c->id : "-"),
           printable(sub, sizeof(sub), c->sub[0] ? c->sub : "-"),
           printable(model, sizeof(model), c->model[0] ? c->model : "-"),
           printable(ep, sizeof(ep), c->endpoint[0] ? c->endpoint : c->path));
    describe(now, sizeof(now), d);
    printf("  recorded: %s by rule %s\n  now:      %s\n", c->old_allow ? "allow" : "deny",
           printable(rule, sizeof(rule), c->old_rule), now);
}

static void replay_bad(void *ud, unsigned file, uint64_t line, const char *why)
{
    replay_out_t *out = ud;
    const char *log = out->o->pos[(out->o->from_log ? 0 : 1) + file];

    if (out->nbad++ >= REPLAY_BAD_SHOWN)
        return;
    if (out->bad)
        json_array_append_new(out->bad, json_pack("{s:s,s:I,s:s}", "log", log,
                              "line", (json_int_t) line, "reason", why));
    else
        fprintf(stderr, "aigov policy replay: %s:%llu: %s\n", log, (unsigned long long) line, why);
}

static int cmd_replay(const opts_t *o)
{
    aigov_policy_t *p;
    aigov_replay_t r;
    replay_out_t out;
    const aigov_replay_summary_t *s = &r.sum;
    char err[512];
    json_t *logs;

    int first = o->from_log ? 0 : 1;
    const char *pname = o->from_log ? o->from_log : o->pos[0];

    if (o->npos < first + 1 || o->cases || o->claims || o->request) {
        usage(stderr);
        return AIGOV_EXIT_USAGE;
    }
    for (int i = 0; i < o->npos; i++)
        if (!exists(o->pos[i]))
            return AIGOV_EXIT_USAGE;
    if (o->from_log) {
        aigov_policy_record_t pr;
        char *errors = NULL;
        int fr = aigov_policy_record_find((char *const *) o->pos, (size_t) o->npos, o->from_log, &pr,
                                          err, sizeof(err));
        if (fr <= 0) {
            fprintf(stderr, "aigov policy replay: %s\n", err);
            return AIGOV_EXIT_USAGE;
        }
        p = aigov_policy_load_texts((const char *const *) pr.names, (const char *const *) pr.texts, pr.lens,
                                    pr.nfiles, NULL, NULL, NULL, &errors);
        aigov_policy_record_free(&pr);
        if (p == NULL) {
            fprintf(stderr, "aigov policy replay: the logged policy does not load:\n%s", errors ? errors : "");
            free(errors);
            return AIGOV_EXIT_USAGE;
        }
    } else if (!(p = load(o->pos[0], o->json)))
        return AIGOV_EXIT_USAGE;
    memset(&out, 0, sizeof(out));
    out.o = o;
    if (o->json) {
        out.changes = json_array();
        out.bad = json_array();
    }
    aigov_replay_init(&r, p, replay_change, replay_bad, &out);
    for (int i = first; i < o->npos; i++) {
        if (aigov_replay_file(&r, (unsigned) (i - first), o->pos[i], err, sizeof(err)) != 0) {
            fprintf(stderr, "aigov policy replay: %s\n", err);
            json_decref(out.changes);
            json_decref(out.bad);
            aigov_policy_free(p);
            return AIGOV_EXIT_USAGE;
        }
    }
    if (!o->json && out.nbad > REPLAY_BAD_SHOWN)
        fprintf(stderr, "aigov policy replay: %llu more unreadable lines not shown\n",
                (unsigned long long) (out.nbad - REPLAY_BAD_SHOWN));
    if (o->json) {
        logs = json_array();
        for (int i = first; i < o->npos; i++)
            json_array_append_new(logs, json_string(o->pos[i]));
        print_json(json_pack("{s:s,s:s,s:o,s:I,s:I,s:I,s:{s:I,s:I,s:I,s:I},s:o,s:o}",
                             "policy", pname, "policy_sha256", aigov_policy_sha256(p),
                             "logs", logs, "records", (json_int_t) s->records,
                             "compared", (json_int_t) s->compared,
                             "changed", (json_int_t) s->changed,
                             "skipped", "not_policy", (json_int_t) s->not_policy,
                             "completions", (json_int_t) s->completions,
                             "checkpoints", (json_int_t) s->checkpoints,
                             "unreadable", (json_int_t) s->unreadable,
                             "changes", out.changes, "unreadable_lines", out.bad));
    } else {
        printf("%llu of %llu recorded requests would be decided differently\n",
               (unsigned long long) s->changed, (unsigned long long) s->compared);
        printf("(%llu request records: %llu decided by the policy and replayed, %llu refused "
               "or served without a policy decision, not compared; skipped %llu completion "
               "records, %llu checkpoints, %llu unreadable lines)\n",
               (unsigned long long) s->records, (unsigned long long) s->compared,
               (unsigned long long) s->not_policy, (unsigned long long) s->completions,
               (unsigned long long) s->checkpoints, (unsigned long long) s->unreadable);
    }
    aigov_policy_free(p);
    return s->changed ? AIGOV_EXIT_FOUND : AIGOV_EXIT_OK;
}

int aigov_cmd_policy(int argc, char **argv)
{
    opts_t o;

    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? AIGOV_EXIT_USAGE : AIGOV_EXIT_OK;
    }
    if (!strcmp(argv[1], "replay")) {
        for (int i = 2; i < argc; i++) {
            if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
                replay_help(stdout);
                return AIGOV_EXIT_OK;
            }
        }
    }
    if (parse_opts(argc, argv, &o) != 0) {
        usage(stderr);
        return AIGOV_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "check"))
        return cmd_check(&o);
    if (!strcmp(argv[1], "test"))
        return cmd_test(&o);
    if (!strcmp(argv[1], "explain"))
        return cmd_explain(&o);
    if (!strcmp(argv[1], "diff"))
        return cmd_diff(&o);
    if (!strcmp(argv[1], "replay"))
        return cmd_replay(&o);
    fprintf(stderr, "aigov policy: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return AIGOV_EXIT_USAGE;
}
