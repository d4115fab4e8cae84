/* policy_decide: first matching rule decides; explain a default deny. */
#include <stdio.h>
#include <string.h>

#include "claim_path.h"
#include "policy_internal.h"

/* Who is asking, read once per decision from the claims. */
typedef struct {
    const char    *subject;
    size_t         subject_len;
    int            has_subject;
    const json_t  *groups;
} caller_t;

/* A claim by name, by dotted path, or by a path with quoted names
 * (claim_path.h). */
static const json_t *claim_lookup(const json_t *claims, const char *key)
{
    return aigov_claim_get(claims, key);
}

static void read_caller(const aigov_policy_t *p, const json_t *claims, caller_t *c,
                        char *buf, size_t buflen)
{
    const json_t *s = claim_lookup(claims, p->subject_claim);
    const json_t *g = claim_lookup(claims, p->groups_claim);

    memset(c, 0, sizeof(*c));
    c->subject = "";
    if (json_is_string(s)) {
        c->subject = json_string_value(s);
        c->subject_len = json_string_length(s);
        c->has_subject = 1;
    } else if (json_is_integer(s)) {
        snprintf(buf, buflen, "%lld", (long long) json_integer_value(s));
        c->subject = buf;
        c->subject_len = strlen(buf);
        c->has_subject = 1;
    }
    if (json_is_array(g) || json_is_string(g))
        c->groups = g;
}

static int has_group(const json_t *groups, const char *g)
{
    size_t gl = strlen(g);

    if (json_is_array(groups)) {
        size_t i;
        const json_t *v;
        json_array_foreach(groups, i, v) {
            if (json_is_string(v) && json_string_length(v) == gl &&
                memcmp(json_string_value(v), g, gl) == 0)
                return 1;
        }
        return 0;
    }
    if (json_is_string(groups)) {
        const char *s = json_string_value(groups), *end = s + json_string_length(groups);
        while (s < end) {
            const char *t;
            while (s < end && (*s == ' ' || *s == '\t'))
                s++;
            t = s;
            while (t < end && *t != ' ' && *t != '\t')
                t++;
            if ((size_t) (t - s) == gl && memcmp(s, g, gl) == 0)
                return 1;
            s = t;
        }
    }
    return 0;
}

static int value_eq(const json_t *c, const aigov_pval_t *v)
{
    switch (json_typeof(c)) {
    case JSON_STRING:
        return json_string_length(c) == strlen(v->text) &&
               memcmp(json_string_value(c), v->text, json_string_length(c)) == 0;
    case JSON_INTEGER:
        if (v->is_int)
            return json_integer_value(c) == v->ival;
        return v->is_num && (double) json_integer_value(c) == v->num;
    case JSON_REAL:
        return v->is_num && json_real_value(c) == v->num;
    case JSON_TRUE:
        return v->is_bool && v->boolean;
    case JSON_FALSE:
        return v->is_bool && !v->boolean;
    default:
        return 0;
    }
}

static int claim_holds(const json_t *claims, const aigov_claim_cond_t *cc)
{
    const json_t *c = claim_lookup(claims, cc->key);

    if (!c)
        return 0;
    for (size_t k = 0; k < cc->nvals; k++) {
        if (json_is_array(c)) {
            size_t i;
            const json_t *e;
            json_array_foreach(c, i, e) {
                if (value_eq(e, &cc->vals[k]))
                    return 1;
            }
        } else if (value_eq(c, &cc->vals[k])) {
            return 1;
        }
    }
    return 0;
}

static int any_glob(const aigov_glob_t *g, size_t n, const char *s, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (aigov_glob_match(&g[i], s, len))
            return 1;
    return 0;
}

/* Identity conditions: groups, subjects, claims. NULL when they hold. The
 * group that matched is returned through *group for messages. */
static const char *identity_check(const aigov_rule_t *r, const json_t *claims,
                                  const caller_t *c, const char **group)
{
    *group = NULL;
    if (r->groups) {
        size_t i;
        for (i = 0; i < r->ngroups; i++)
            if (c->groups && has_group(c->groups, r->groups[i]))
                break;
        if (i == r->ngroups)
            return "groups";
        *group = r->groups[i];
    }
    if (r->subjects && !(c->has_subject &&
                         any_glob(r->subjects, r->nsubjects, c->subject, c->subject_len)))
        return "subjects";
    for (size_t i = 0; i < r->nclaims; i++)
        if (!claim_holds(claims, &r->claims[i]))
            return "claims";
    return NULL;
}

static int endpoint_ok(const aigov_rule_t *r, const aigov_policy_input_t *in)
{
    if (!r->endpoints)
        return 1;
    if (in->path && any_glob(r->endpoints, r->nendpoints, in->path, strlen(in->path)))
        return 1;
    return in->endpoint && in->endpoint[0] &&
           any_glob(r->endpoints, r->nendpoints, in->endpoint, strlen(in->endpoint));
}

static int model_ok(const aigov_rule_t *r, const aigov_policy_input_t *in)
{
    if (!r->models)
        return 1;
    return in->model && any_glob(r->models, r->nmodels, in->model, strlen(in->model));
}

static const char *rule_check(const aigov_rule_t *r, const aigov_policy_input_t *in,
                              const caller_t *c, const char **group)
{
    const char *failed = identity_check(r, in->claims, c, group);

    if (failed)
        return failed;
    if (!endpoint_ok(r, in))
        return "endpoints";
    if (!model_ok(r, in))
        return "models";
    if (r->media && !(r->media & in->media))
        return "media";
    return NULL;
}

/* A caller-supplied string made safe for a message: at most max bytes,
 * cut on a character boundary, control characters replaced. */
static const char *clean(char *buf, size_t buflen, const char *s, size_t max)
{
    size_t n = 0, len = strlen(s);
    int cut = 0;

    if (max > buflen - 4)
        max = buflen - 4;
    if (len > max) {
        len = max;
        while (len > 0 && ((unsigned char) s[len] & 0xC0) == 0x80)
            len--;
        cut = 1;
    }
    for (size_t i = 0; i < len; i++)
        buf[n++] = ((unsigned char) s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
    if (cut) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
    return buf;
}

/* "for group interns", "for subject svc-x", "for tenant acme" or "". */
static void who(char *buf, size_t len, const aigov_rule_t *r, const caller_t *c,
                const char *group)
{
    char tmp[96];

    if (group)
        snprintf(buf, len, " for group %s", group);
    else if (r->subjects)
        snprintf(buf, len, " for subject %s", clean(tmp, sizeof(tmp), c->subject, 64));
    else if (r->nclaims)
        snprintf(buf, len, " for %s %s", r->claims[0].key, r->claims[0].vals[0].text);
    else
        buf[0] = '\0';
}

static void deny(aigov_decision_t *out, const char *rule, int index, const char *code)
{
    out->allow = 0;
    out->status = 403;
    out->rule = rule;
    out->rule_index = index;
    out->code = code;
    out->filters = NULL;
    out->nfilters = 0;
    out->set_max_tokens = 0;
}

static void decide_default(const aigov_policy_t *p, const aigov_policy_input_t *in,
                           const caller_t *c, aigov_decision_t *out)
{
    char whom[200], tmp[96];

    if (p->default_allow)
        return;     /* out already says allow by "default" */

    /* Say what the caller could change: among the allowing rules that know
     * this caller, the closest miss. Best is a rule that takes this
     * endpoint but not this model; then one that takes this model but not
     * this endpoint; then any whose endpoints differ. First in order wins
     * a tie. */
    const aigov_rule_t *best = NULL;
    const char *best_group = NULL;
    int best_score = 0;

    for (size_t i = 0; i < p->nrules; i++) {
        const aigov_rule_t *r = &p->rules[i];
        const char *group;
        int score, ep;

        if (!r->allow || identity_check(r, in->claims, c, &group))
            continue;
        ep = endpoint_ok(r, in);
        if (ep)
            score = model_ok(r, in) ? 0 : 3;
        else
            score = (r->models && model_ok(r, in)) ? 2 : 1;
        if (score > best_score) {
            best = r;
            best_group = group;
            best_score = score;
        }
    }
    if (best) {
        who(whom, sizeof(whom), best, c, best_group);
        if (best_score < 3) {
            deny(out, "default", -1, "endpoint_not_allowed");
            snprintf(out->message, sizeof(out->message),
                     "endpoint %s is not allowed%s (rule %s)",
                     clean(tmp, sizeof(tmp), in->path ? in->path : (in->endpoint ? in->endpoint : ""), 80),
                     whom, best->name);
        } else {
            deny(out, "default", -1, "model_not_allowed");
            if (in->model)
                snprintf(out->message, sizeof(out->message), "model %s is not allowed%s (rule %s)",
                         clean(tmp, sizeof(tmp), in->model, 80), whom, best->name);
            else
                snprintf(out->message, sizeof(out->message),
                         "the request names no model, and only listed models are allowed%s (rule %s)",
                         whom, best->name);
        }
        return;
    }
    deny(out, "default", -1, "no_rule_matched");
    if (c->has_subject && c->subject_len)
        snprintf(out->message, sizeof(out->message),
                 "no rule allows this request for subject %s; the policy denies by default",
                 clean(tmp, sizeof(tmp), c->subject, 64));
    else
        snprintf(out->message, sizeof(out->message),
                 "no rule allows this request; the policy denies by default");
}

int aigov_rule_inspects(const aigov_rule_t *r)
{
    const aigov_policy_limits_t *lim = &r->limits;

    return r->nfilters || lim->max_tokens || lim->max_prompt_chars ||
           lim->tokens_per_minute || lim->tokens_per_day || lim->max_n;
}

/* Whether a rule has a filter that reads requests: only such a filter is
 * fooled by text it cannot read. */
static int filters_requests(const aigov_rule_t *r)
{
    for (size_t i = 0; i < r->nfilters; i++)
        if (r->filters[i].stages & AIGOV_STAGE_REQUEST)
            return 1;
    return 0;
}

const char *aigov_policy_unread_phrase(const char *kind)
{
    if (!strcmp(kind, "token_ids"))
        return "token ids, which no filter can read";
    if (!strcmp(kind, "text_file"))
        return "a text file that is not UTF-8 in base64";
    return "text no filter can read";
}

/* The same for answers. */
static int filters_answers(const aigov_rule_t *r)
{
    for (size_t i = 0; i < r->nfilters; i++)
        if (r->filters[i].stages & AIGOV_STAGE_RESPONSE)
            return 1;
    return 0;
}

static void decide_rule(const aigov_rule_t *r, int index, const aigov_policy_input_t *in,
                        aigov_decision_t *out)
{
    const aigov_policy_limits_t *lim = &r->limits;
    long long n = in->n > 1 ? in->n : 1;

    out->rule = r->name;
    out->rule_index = index;
    out->content = r->content;
    if (!r->allow) {
        deny(out, r->name, index, "denied");
        if (r->reason)
            snprintf(out->message, sizeof(out->message), "%s", r->reason);
        else
            snprintf(out->message, sizeof(out->message), "request denied by rule %s", r->name);
        return;
    }
    if (in->uninspectable && aigov_rule_inspects(r) && !r->uninspectable_allow) {
        deny(out, r->name, index, "uninspectable");
        snprintf(out->message, sizeof(out->message),
                 "the gateway cannot inspect this request (%s), and rule %s applies "
                 "content filters or token limits to it",
                 in->uninspectable, r->name);
        return;
    }
    if (lim->max_n && n > lim->max_n) {
        deny(out, r->name, index, "n_exceeded");
        snprintf(out->message, sizeof(out->message),
                 "the request asks for %lld answers (n, best_of, for each prompt), more than the limit of %lld (rule %s)",
                 n, lim->max_n, r->name);
        return;
    }
    /* max_tokens caps each of the n answers: together they may write
     * max_tokens * n, which is what the limit bounds. Compared by division,
     * which cannot overflow. */
    if (lim->max_tokens && in->max_tokens >= 0 && in->max_tokens > lim->max_tokens / n) {
        deny(out, r->name, index, "max_tokens_exceeded");
        if (n > 1)
            snprintf(out->message, sizeof(out->message),
                     "max_tokens %lld for each of %lld answers (n, best_of, for each prompt) is above the limit of "
                     "%lld in all (rule %s)",
                     in->max_tokens, n, lim->max_tokens, r->name);
        else
            snprintf(out->message, sizeof(out->message),
                     "max_tokens %lld is above the limit of %lld (rule %s)",
                     in->max_tokens, lim->max_tokens, r->name);
        return;
    }
    if (lim->max_tokens && in->max_tokens < 0 && lim->max_tokens / n == 0) {
        deny(out, r->name, index, "n_exceeded");
        snprintf(out->message, sizeof(out->message),
                 "%lld answers (n, best_of, for each prompt) cannot share the max_tokens limit of %lld (rule %s)",
                 n, lim->max_tokens, r->name);
        return;
    }
    if (lim->max_prompt_chars && in->prompt_chars > lim->max_prompt_chars) {
        deny(out, r->name, index, "prompt_too_long");
        snprintf(out->message, sizeof(out->message),
                 "the prompt has %lld characters, more than the limit of %lld (rule %s)",
                 in->prompt_chars, lim->max_prompt_chars, r->name);
        return;
    }
    /* Last: a request over a limit is refused for that, whatever it holds
     * (the limits count token ids without reading them). */
    if (in->unread && filters_requests(r) && !r->uninspectable_allow) {
        deny(out, r->name, index, "uninspectable");
        snprintf(out->message, sizeof(out->message),
                 "the gateway cannot read part of this request (%s), and rule %s applies "
                 "request filters to it", in->unread, r->name);
        return;
    }
    if (in->answer_later && filters_answers(r) && !r->uninspectable_allow) {
        deny(out, r->name, index, "uninspectable");
        snprintf(out->message, sizeof(out->message),
                 "the answer to this request is written in the background and fetched "
                 "later, where no answer filter reads it, and rule %s applies answer "
                 "filters to it; stream it, or ask without \"background\"", r->name);
        return;
    }
    out->limits = *lim;
    out->filters = r->filters;
    out->nfilters = r->nfilters;
    if (lim->max_tokens && in->max_tokens < 0)
        out->set_max_tokens = lim->max_tokens / n;
}

void aigov_policy_decide(const aigov_policy_t *p, const aigov_policy_input_t *in,
                         aigov_decision_t *out)
{
    caller_t c;

    memset(out, 0, sizeof(*out));
    read_caller(p, in->claims, &c, out->subject_buf, sizeof(out->subject_buf));
    out->subject = c.subject;
    out->groups = c.groups;
    out->allow = 1;
    out->status = 200;
    out->rule = "default";
    out->rule_index = -1;
    out->content = AIGOV_CONTENT_HASH;

    if (in->model && !aigov_model_name_valid(in->model, strlen(in->model))) {
        char tmp[96];
        deny(out, "default", -1, "invalid_model");
        out->status = 400;
        snprintf(out->message, sizeof(out->message),
                 "model name '%s' is not valid: a model name holds 1 to %d ASCII letters, "
                 "digits and . _ - : / @", clean(tmp, sizeof(tmp), in->model, 64),
                 AIGOV_MODEL_NAME_MAX);
        return;
    }

    for (size_t i = 0; i < p->nrules; i++) {
        const char *group;
        if (!rule_check(&p->rules[i], in, &c, &group)) {
            decide_rule(&p->rules[i], (int) i, in, out);
            return;
        }
    }
    decide_default(p, in, &c, out);
}

const char *aigov_policy_rule_check(const aigov_policy_t *p, size_t i,
                                    const aigov_policy_input_t *in)
{
    caller_t c;
    char buf[32];
    const char *group;

    if (i >= p->nrules)
        return "rule";
    read_caller(p, in->claims, &c, buf, sizeof(buf));
    return rule_check(&p->rules[i], in, &c, &group);
}

/* An array of strings only, the usual claim, is the answer itself: the
 * audit record asks for it on every request. */
static int all_strings(const json_t *a)
{
    size_t i;
    const json_t *v;

    json_array_foreach(a, i, v) {
        if (!json_is_string(v))
            return 0;
    }
    return 1;
}

json_t *aigov_decision_groups(const aigov_decision_t *d)
{
    json_t *a;

    if (d->groups && json_is_array(d->groups) && all_strings(d->groups))
        return json_incref((json_t *) d->groups);
    a = json_array();
    if (!a || !d->groups)
        return a;
    if (json_is_array(d->groups)) {
        size_t i;
        const json_t *v;
        json_array_foreach(d->groups, i, v) {
            if (json_is_string(v))
                json_array_append_new(a, json_stringn(json_string_value(v), json_string_length(v)));
        }
    } else if (json_is_string(d->groups)) {
        const char *s = json_string_value(d->groups), *end = s + json_string_length(d->groups);
        while (s < end) {
            const char *t;
            while (s < end && (*s == ' ' || *s == '\t'))
                s++;
            t = s;
            while (t < end && *t != ' ' && *t != '\t')
                t++;
            if (t > s)
                json_array_append_new(a, json_stringn(s, (size_t) (t - s)));
            s = t;
        }
    }
    return a;
}

const char *aigov_content_name(aigov_content_t c)
{
    switch (c) {
    case AIGOV_CONTENT_NONE:
        return "none";
    case AIGOV_CONTENT_HASH:
        return "hash";
    case AIGOV_CONTENT_REDACTED:
        return "redacted";
    case AIGOV_CONTENT_FULL:
        return "full";
    }
    return "hash";
}
