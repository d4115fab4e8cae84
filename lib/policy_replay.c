/*
 * policy_replay: audit records decided again under another policy.
 *
 * A record is hostile input like any other: every field is type-checked,
 * and a line that is not a readable record is reported and skipped, never
 * guessed at. See policy_replay.h for which records are compared.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "media.h"
#include "policy_replay.h"

void aigov_replay_init(aigov_replay_t *r, const aigov_policy_t *p,
                       aigov_replay_change_fn on_change, aigov_replay_bad_fn on_bad,
                       void *ud)
{
    memset(r, 0, sizeof(*r));
    r->policy = p;
    r->on_change = on_change;
    r->on_bad = on_bad;
    r->ud = ud;
}

static int bad(aigov_replay_t *r, const char *why)
{
    r->sum.unreadable++;
    if (r->on_bad)
        r->on_bad(r->ud, r->file, r->line, why);
    return 0;
}

/* A string field: NULL when null or absent; -1 for any other type. */
static int get_str(const json_t *o, const char *key, const char **out)
{
    const json_t *v = json_object_get(o, key);

    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return -1;
    *out = json_string_value(v);
    return 0;
}

/* An integer field: -1 when null, absent or negative; -1 returned for any
 * other type. */
static int get_int(const json_t *o, const char *key, long long *out)
{
    const json_t *v = json_object_get(o, key);

    *out = -1;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_integer(v))
        return -1;
    if (json_integer_value(v) >= 0)
        *out = (long long) json_integer_value(v);
    return 0;
}

/* A true-or-false field: dflt when null or absent; -1 for any other type. */
static int get_bool(const json_t *o, const char *key, int dflt, int *out)
{
    const json_t *v = json_object_get(o, key);

    *out = dflt;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return -1;
    *out = json_is_true(v);
    return 0;
}

typedef struct {
    uint64_t     seq;
    const char  *phase, *decision, *rule, *policy, *id, *sub, *model, *endpoint, *path;
    const char  *unread;
    long long    status, max_tokens, prompt_chars, n;
    int          injected, inspected, background;
    unsigned     media;
    const json_t *claims, *filters;
} fields_t;

/* Reads what replay needs; a sentence on the first field that is wrong. */
static const char *read_fields(const json_t *rec, fields_t *f)
{
    static const struct { const char *key; size_t off; } strs[] = {
        { "phase", offsetof(fields_t, phase) },
        { "decision", offsetof(fields_t, decision) },
        { "rule", offsetof(fields_t, rule) },
        { "policy_sha256", offsetof(fields_t, policy) },
        { "id", offsetof(fields_t, id) },
        { "sub", offsetof(fields_t, sub) },
        { "model", offsetof(fields_t, model) },
        { "endpoint", offsetof(fields_t, endpoint) },
        { "path", offsetof(fields_t, path) },
    };
    const json_t *seq = json_object_get(rec, "seq"), *v;

    memset(f, 0, sizeof(*f));
    if (!json_is_integer(seq) || json_integer_value(seq) < 0)
        return "the line has no \"seq\": it is not a request record";
    f->seq = (uint64_t) json_integer_value(seq);
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        if (get_str(rec, strs[i].key, (const char **) ((char *) f + strs[i].off)) != 0) {
            if (!strcmp(strs[i].key, "phase"))
                return "\"phase\" is not a string";
            if (!strcmp(strs[i].key, "decision"))
                return "\"decision\" is not a string";
            if (!strcmp(strs[i].key, "rule"))
                return "\"rule\" is not a string";
            return "a string field (policy_sha256, id, sub, model, endpoint or path) "
                   "holds another type";
        }
    }
    if (get_int(rec, "max_tokens", &f->max_tokens) != 0)
        return "\"max_tokens\" is not an integer";
    if (get_int(rec, "prompt_chars", &f->prompt_chars) != 0)
        return "\"prompt_chars\" is not an integer";
    if (get_bool(rec, "max_tokens_injected", 0, &f->injected) != 0)
        return "\"max_tokens_injected\" is not true or false";
    if (get_bool(rec, "inspected", 1, &f->inspected) != 0)
        return "\"inspected\" is not true or false";
    /* Records written before "n", "unread", "background" and "media" lack
     * them: they replay as one answer, every text read, the answer in the
     * request and no media (docs/audit.md). */
    v = json_object_get(rec, "n");
    f->n = 1;
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 1)
            return "\"n\" is not a whole number of answers";
        f->n = (long long) json_integer_value(v);
    }
    if (get_str(rec, "unread", &f->unread) != 0 || (f->unread && !f->unread[0]))
        return "\"unread\" is not the name of what was not read";
    if (get_bool(rec, "background", 0, &f->background) != 0)
        return "\"background\" is not true or false";
    v = json_object_get(rec, "media");
    if (v && !json_is_null(v)) {
        size_t i;
        const json_t *k;

        if (!json_is_array(v))
            return "\"media\" is not a list of kinds of media";
        /* a kind this version does not know is one no rule here names */
        json_array_foreach(v, i, k) {
            if (!json_is_string(k))
                return "\"media\" is not a list of kinds of media";
            f->media |= aigov_media_bit(json_string_value(k), json_string_length(k));
        }
    }
    if (!json_is_integer(json_object_get(rec, "status")))
        return "\"status\" is missing or not an integer";
    f->status = (long long) json_integer_value(json_object_get(rec, "status"));
    f->claims = json_object_get(rec, "claims");
    if (f->claims && !json_is_null(f->claims) && !json_is_object(f->claims))
        return "\"claims\" is not an object";
    f->filters = json_object_get(rec, "filters");
    if (f->filters && !json_is_null(f->filters) && !json_is_array(f->filters))
        return "\"filters\" is not a list";
    return NULL;
}

/* Whether the recorded decision is the policy's own: see the header. */
static int policy_decided(const fields_t *f, int allow)
{
    if (!f->rule || !f->policy)
        return 0;
    if (allow)
        return f->status == 0 || f->status == 200;
    return f->status == 403 && json_array_size(f->filters) == 0;
}

static int replay_record(aigov_replay_t *r, const json_t *rec)
{
    fields_t f;
    const char *why = read_fields(rec, &f);
    json_t *empty = NULL;
    aigov_policy_input_t in;
    aigov_decision_t d;
    int allow, changed;
    const char *phase = json_string_value(json_object_get(rec, "phase"));

    if (phase && !strcmp(phase, "policy"))
        return 0;   /* the policy itself (lib/audit_policy.h), not a request */
    if (why)
        return bad(r, why);
    if (f.phase && !strcmp(f.phase, "done")) {
        r->sum.completions++;
        return 0;
    }

    if (f.phase && strcmp(f.phase, "admit") && strcmp(f.phase, "deny"))
        return bad(r, "\"phase\" is none of admit, deny, done");
    if (!f.decision || (strcmp(f.decision, "allow") && strcmp(f.decision, "deny")))
        return bad(r, "\"decision\" is neither allow nor deny");
    r->sum.records++;
    allow = !strcmp(f.decision, "allow");
    if (!policy_decided(&f, allow)) {
        r->sum.not_policy++;
        return 0;
    }
    r->sum.compared++;

    /* The module decides a caller without a token as one with no claims. */
    if (!json_is_object(f.claims) && !(f.claims = empty = json_object()))
        return 0;
    memset(&in, 0, sizeof(in));
    in.claims = f.claims;
    in.path = f.path ? f.path : "";
    in.endpoint = f.endpoint;
    in.model = f.model;
    /* a max_tokens the gateway set was not asked: the request had none */
    in.max_tokens = f.injected ? -1 : f.max_tokens;
    in.prompt_chars = f.prompt_chars > 0 ? f.prompt_chars : 0;
    in.n = f.n;
    if (!f.inspected)
        in.uninspectable = "a request the gateway did not inspect";
    if (f.unread)
        in.unread = aigov_policy_unread_phrase(f.unread);
    in.answer_later = f.background;
    in.media = f.media;
    aigov_policy_decide(r->policy, &in, &d);

    changed = d.allow != allow || strcmp(d.rule, f.rule) != 0;
    if (changed) {
        aigov_replay_change_t c = {
            .file = r->file, .line = r->line, .seq = f.seq,
            .id = f.id ? f.id : "", .sub = f.sub ? f.sub : "",
            .model = f.model ? f.model : "", .endpoint = f.endpoint ? f.endpoint : "",
            .path = f.path ? f.path : "",
            .old_allow = allow, .old_rule = f.rule, .old_status = (int) f.status,
            .old_policy = f.policy, .now = &d,
        };
        r->sum.changed++;
        if (r->on_change)
            r->on_change(r->ud, &c);
    }
    json_decref(empty);
    return changed;
}

int aigov_replay_line(aigov_replay_t *r, const char *line, size_t len)
{
    json_t *rec;
    json_error_t e;
    char why[256];
    size_t i;
    int changed = 0;

    r->line++;
    r->sum.lines++;
    for (i = 0; i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'); i++)
        ;
    if (i == len)
        return 0;
    if (len > AIGOV_REPLAY_LINE_MAX)
        return bad(r, "the line is too long to be a record");
    rec = json_loadb(line, len, JSON_REJECT_DUPLICATES, &e);
    if (rec == NULL) {
        snprintf(why, sizeof(why), "not JSON: %s (column %d)", e.text, e.column);
        return bad(r, why);
    }
    if (!json_is_object(rec))
        bad(r, "not a JSON object");
    else if (json_object_get(rec, "checkpoint") && !json_object_get(rec, "seq"))
        r->sum.checkpoints++;
    else
        changed = replay_record(r, rec);
    json_decref(rec);
    return changed;
}

int aigov_replay_file(aigov_replay_t *r, unsigned file_index, const char *path,
                      char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int c, overlong = 0, rc = 0;

    if (fp == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    r->file = file_index;
    r->line = 0;
    /* Lines are kept up to the limit; the rest of a longer one is read
     * past, so a hostile line costs no more memory than the limit. */
    while ((c = getc_unlocked(fp)) != EOF) {
        if (c == '\n') {
            if (overlong) {
                r->line++;
                r->sum.lines++;
                bad(r, "the line is too long to be a record");
            } else {
                aigov_replay_line(r, buf ? buf : "", len);
            }
            len = 0;
            overlong = 0;
            continue;
        }
        if (overlong)
            continue;
        if (len == AIGOV_REPLAY_LINE_MAX) {
            overlong = 1;
            continue;
        }
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 4096;
            char *nb;

            if (ncap > AIGOV_REPLAY_LINE_MAX)
                ncap = AIGOV_REPLAY_LINE_MAX;
            if (!(nb = realloc(buf, ncap))) {
                snprintf(err, errlen, "%s:%llu: out of memory", path,
                         (unsigned long long) r->line + 1);
                rc = -1;
                break;
            }
            buf = nb;
            cap = ncap;
        }
        buf[len++] = (char) c;
    }
    if (rc == 0 && ferror(fp)) {
        snprintf(err, errlen, "%s: read error: %s", path, strerror(errno));
        rc = -1;
    }
    while (len > 0 && (buf[len - 1] == ' ' || buf[len - 1] == '\t' || buf[len - 1] == '\r'))
        len--;
    if (rc == 0 && (len > 0 || overlong)) {
        r->line++;
        r->sum.lines++;
        bad(r, "the last line has no newline: a torn write, not a record");
    }
    free(buf);
    fclose(fp);
    return rc;
}
