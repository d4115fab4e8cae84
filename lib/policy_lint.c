/* policy_lint: warnings about what a policy accepts but its author most
 * likely did not mean (see aigov_policy_warnings in policy.h). Each points
 * at the rule, key or filter that causes it. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_internal.h"
#include "policy_yaml.h"
#include "request.h"

/* Pairs of rules compared for shadowing, at most: a policy whose rules
 * share no group compares few, one where thousands of rules name no group
 * compares each with all those before it. */
#define LINT_MAX_PAIRS  4000000u

static void warn(aigov_errs_t *w, const char *file, unsigned line, unsigned col,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void warn(aigov_errs_t *w, const char *file, unsigned line, unsigned col,
                 const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    aigov_errs_add(w, file, line, col, "warning: %s", msg);
}

static void warn_at(aigov_errs_t *w, aigov_ydoc_t *y, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void warn_at(aigov_errs_t *w, aigov_ydoc_t *y, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    aigov_errs_add(w, y->file, (unsigned) n->start_mark.line + 1,
                   (unsigned) n->start_mark.column + 1, "warning: %s", msg);
}

/* ---- one rule ------------------------------------------------------------ */

/* What the endpoints of a rule carry. An endpoint is judged only when
 * written out (no wildcard) and ending in a known kind's path; any other
 * may carry everything. */
enum { EP_PROMPT = 1, EP_ANSWER = 2, EP_TOKENS = 4, EP_GENERATES = 8 };

static int ends_with(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);

    if (len > 1 && s[len - 1] == '/')
        len--;
    return len >= n && !memcmp(s + len - n, suffix, n);
}

static unsigned endpoint_carries(const aigov_glob_t *g)
{
    if (!g->literal)
        return EP_PROMPT | EP_ANSWER | EP_TOKENS | EP_GENERATES;
    if (ends_with(g->lit, g->litlen, "/models"))
        return 0;                                   /* a GET, a list of names */
    if (ends_with(g->lit, g->litlen, "/embeddings"))
        return EP_PROMPT | EP_TOKENS;               /* answers with vectors */
    if (ends_with(g->lit, g->litlen, "/count_tokens"))
        return EP_PROMPT;                           /* answers with a count */
    return EP_PROMPT | EP_ANSWER | EP_TOKENS | EP_GENERATES;
}

/* "/v1/models, /v1/embeddings" for messages */
static const char *endpoint_list(const aigov_rule_t *r, char *buf, size_t len)
{
    size_t off = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < r->nendpoints && off < len; i++)
        off += (size_t) snprintf(buf + off, len - off, "%s%s", i ? ", " : "",
                                 r->endpoints[i].text ? r->endpoints[i].text : "");
    return buf;
}

static const char *char_name(int c, char *buf, size_t len)
{
    if (c == ' ')
        return "a space";
    if (c >= 0x80)
        return "a non-ASCII character";
    snprintf(buf, len, "'%c'", c);
    return buf;
}

/* Requests the gateway cannot read (SPEC "Endpoints and inspection"): an
 * opted-out rule admits them unread, and an endpoint of no known kind in
 * a rule that inspects is one whose every request is refused. */
static void lint_uninspectable(aigov_errs_t *w, aigov_ydoc_t *y, const aigov_rule_t *r,
                               yaml_node_t *n)
{
    yaml_node_t *key = NULL, *when, *eps;
    const char *name = r->name ? r->name : "";

    if (!aigov_rule_inspects(r))
        return;
    if (r->uninspectable_allow) {
        if (aigov_ymap_get(y, n, "uninspectable", &key) && key)
            warn_at(w, y, key, "rule '%s' admits requests the gateway cannot read (unknown "
                    "endpoints, bodies that are not JSON, methods other than POST): their text "
                    "passes its filters and limits unread, recorded as inspected: false", name);
        return;
    }
    when = aigov_ymap_get(y, n, "when", NULL);
    eps = aigov_ymap_get(y, when, "endpoints", NULL);
    if (eps == NULL || eps->type != YAML_SEQUENCE_NODE)
        return;
    yaml_node_item_t *it = eps->data.sequence.items.start;
    for (size_t i = 0; i < r->nendpoints && it + i < eps->data.sequence.items.top; i++) {
        const aigov_glob_t *g = &r->endpoints[i];
        if (!g->literal || aigov_endpoint_from_path(g->lit, g->litlen) != AIGOV_EP_UNKNOWN)
            continue;
        warn_at(w, y, aigov_ynode(y, it[i]),
                "endpoint '%s' is of no kind the gateway reads, so rule '%s', which has filters "
                "or token limits, refuses every request to it (403 uninspectable); add "
                "'uninspectable: allow' to admit them unread", g->text ? g->text : "", name);
    }
}

void aigov_lint_rule(aigov_errs_t *w, aigov_ydoc_t *y, const aigov_rule_t *r, yaml_node_t *n)
{
    static const char *const lim_names[] = { "max_tokens", "max_prompt_chars",
                                             "requests_per_minute", "tokens_per_minute",
                                             "tokens_per_day" };
    const long long lim[] = { r->limits.max_tokens, r->limits.max_prompt_chars,
                              r->limits.requests_per_minute, r->limits.tokens_per_minute,
                              r->limits.tokens_per_day };
    yaml_node_t *when, *lims, *key = NULL, *models;
    unsigned carries = 0;
    char eps[300], cb[8];
    const char *name = r->name ? r->name : "";

    lims = aigov_ymap_get(y, n, "limits", &key);
    if (!r->allow) {
        if (lims && key)
            warn_at(w, y, key, "rule '%s' denies, so its limits never apply", name);
        if (aigov_ymap_get(y, n, "filters", &key) && key)
            warn_at(w, y, key, "rule '%s' denies, so its filters never run", name);
    }

    /* model patterns that no valid model name can meet */
    when = aigov_ymap_get(y, n, "when", NULL);
    models = aigov_ymap_get(y, when, "models", NULL);
    if (models && models->type == YAML_SEQUENCE_NODE) {
        yaml_node_item_t *it = models->data.sequence.items.start;
        for (size_t i = 0; i < r->nmodels && it + i < models->data.sequence.items.top; i++) {
            int bad = aigov_glob_bad_literal(&r->models[i], aigov_model_name_char);
            if (bad >= 0)
                warn_at(w, y, aigov_ynode(y, it[i]),
                        "model pattern '%s' can never match: it holds %s, and a model name holds "
                        "only ASCII letters, digits and . _ - : / @ (other names are refused)",
                        r->models[i].text, char_name(bad, cb, sizeof(cb)));
        }
    }

    if (r->allow)
        lint_uninspectable(w, y, r, n);

    /* a request without max_tokens reserves its prompt only: the answers
     * of requests running at once are charged when they end, over the
     * limit by as much as they wrote */
    for (size_t i = 0; r->endpoints && i < r->nendpoints; i++)
        carries |= endpoint_carries(&r->endpoints[i]);
    if (r->allow && lims && !r->limits.max_tokens
        && (r->limits.tokens_per_minute || r->limits.tokens_per_day)
        && (!r->endpoints || (carries & EP_GENERATES))
        && aigov_ymap_get(y, n, "limits", &key) && key)
        warn_at(w, y, key, "rule '%s' limits tokens without max_tokens: a request that does not "
                "say max_tokens reserves only its prompt, so requests running at once can go over "
                "the limit by what their answers write; set max_tokens to reserve the answers too",
                name);

    if (!r->allow || !r->endpoints)
        return;
    endpoint_list(r, eps, sizeof(eps));

    for (size_t i = 0; lims && lims->type == YAML_MAPPING_NODE && i < 5; i++) {
        const char *why = NULL;
        if (!lim[i] || !aigov_ymap_get(y, lims, lim_names[i], &key) || !key)
            continue;
        if (i == 0 && !(carries & EP_GENERATES))
            why = "generate no answer tokens";
        else if (i == 1 && !(carries & EP_PROMPT))
            why = "carry no prompt";
        else if ((i == 3 || i == 4) && !(carries & EP_TOKENS))
            why = "use no tokens";
        if (why)
            warn_at(w, y, key, "%s has no effect in rule '%s': its endpoints (%s) %s",
                    lim_names[i], name, eps, why);
    }

    for (size_t i = 0; i < r->nfilters; i++) {
        const aigov_policy_filter_t *f = &r->filters[i];
        int sees = ((f->stages & AIGOV_STAGE_REQUEST) && (carries & EP_PROMPT)) ||
                   ((f->stages & AIGOV_STAGE_RESPONSE) && (carries & EP_ANSWER));
        if (!sees)
            warn(w, f->file, f->line, f->col,
                 "filter %s in rule '%s' never sees any text: its endpoints (%s) carry no %s",
                 f->plugin ? f->plugin : "", name, eps,
                 f->stages == AIGOV_STAGE_REQUEST ? "prompt text" :
                 f->stages == AIGOV_STAGE_RESPONSE ? "answer text" : "prompt or answer text");
    }
}

/* ---- between rules ------------------------------------------------------- */

enum { D_GROUPS, D_SUBJECTS, D_CLAIMS, D_MODELS, D_ENDPOINTS, D_MEDIA, D_N };

static int has_str(const char **v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i], s))
            return 1;
    return 0;
}

static int glob_in(const aigov_glob_t *a, size_t na, const aigov_glob_t *g)
{
    for (size_t i = 0; i < na; i++)
        if (aigov_glob_covers(&a[i], g))
            return 1;
    return 0;
}

static int globs_cover(const aigov_glob_t *a, size_t na, const aigov_glob_t *b, size_t nb)
{
    if (!a)
        return 1;
    if (!b)
        return 0;
    for (size_t i = 0; i < nb; i++)
        if (!glob_in(a, na, &b[i]))
            return 0;
    return 1;
}

/* Every caller whose claims meet b's conditions meets a's. */
static int claims_cover(const aigov_rule_t *a, const aigov_rule_t *b)
{
    for (size_t i = 0; i < a->nclaims; i++) {
        const aigov_claim_cond_t *ca = &a->claims[i], *cb = NULL;
        for (size_t j = 0; j < b->nclaims && !cb; j++)
            if (!strcmp(b->claims[j].key, ca->key))
                cb = &b->claims[j];
        if (!cb)
            return 0;
        for (size_t k = 0; k < cb->nvals; k++) {
            size_t m;
            for (m = 0; m < ca->nvals && strcmp(ca->vals[m].text, cb->vals[k].text); m++)
                ;
            if (m == ca->nvals)
                return 0;
        }
    }
    return 1;
}

static int dim_covers(const aigov_rule_t *a, const aigov_rule_t *b, int d)
{
    switch (d) {
    case D_GROUPS:
        if (!a->groups)
            return 1;
        if (!b->groups)
            return 0;
        for (size_t i = 0; i < b->ngroups; i++)
            if (!has_str(a->groups, a->ngroups, b->groups[i]))
                return 0;
        return 1;
    case D_SUBJECTS:
        return globs_cover(a->subjects, a->nsubjects, b->subjects, b->nsubjects);
    case D_CLAIMS:
        return claims_cover(a, b);
    case D_MODELS:
        return globs_cover(a->models, a->nmodels, b->models, b->nmodels);
    case D_MEDIA:
        /* a request b takes carries one of b's kinds: a takes it when it
         * lists them all */
        return !a->media || (b->media && (b->media & ~a->media) == 0);
    default:
        return globs_cover(a->endpoints, a->nendpoints, b->endpoints, b->nendpoints);
    }
}

static size_t dim_items(const aigov_rule_t *r, int d)
{
    switch (d) {
    case D_GROUPS:    return r->groups ? r->ngroups : 0;
    case D_SUBJECTS:  return r->subjects ? r->nsubjects : 0;
    case D_MODELS:    return r->models ? r->nmodels : 0;
    case D_ENDPOINTS: return r->endpoints ? r->nendpoints : 0;
    default:          return 0;
    }
}

/* Item i of b's list d is covered by a's list d. */
static int item_covered(const aigov_rule_t *a, const aigov_rule_t *b, int d, size_t i)
{
    switch (d) {
    case D_GROUPS:    return has_str(a->groups, a->ngroups, b->groups[i]);
    case D_SUBJECTS:  return glob_in(a->subjects, a->nsubjects, &b->subjects[i]);
    case D_MODELS:    return glob_in(a->models, a->nmodels, &b->models[i]);
    default:          return glob_in(a->endpoints, a->nendpoints, &b->endpoints[i]);
    }
}

static const char *item_text(const aigov_rule_t *r, int d, size_t i)
{
    switch (d) {
    case D_GROUPS:    return r->groups[i];
    case D_SUBJECTS:  return r->subjects[i].text;
    case D_MODELS:    return r->models[i].text;
    default:          return r->endpoints[i].text;
    }
}

static const char *const dim_word[] = { "group", "subject", "claim", "model", "endpoint",
                                        "media" };

typedef struct {
    const char  *group;
    size_t       rule;
} group_ref_t;

static int cmp_ref(const void *x, const void *y)
{
    const group_ref_t *a = x, *b = y;
    int c = strcmp(a->group, b->group);

    if (c)
        return c;
    return a->rule < b->rule ? -1 : a->rule > b->rule;
}

/* The first rule of refs (sorted) for group g, or n when none. */
static size_t first_ref(const group_ref_t *refs, size_t n, const char *g)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(refs[mid].group, g) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void aigov_lint_rules(aigov_errs_t *w, const aigov_policy_t *p)
{
    size_t n = p->nrules, nrefs = 0, nnog = 0, ncand, pairs = 0;
    group_ref_t *refs = NULL;
    size_t *nog = NULL, *cand = NULL, *stamp = NULL, *first = NULL, first_cap = 0;

    if (n < 2)
        return;
    for (size_t i = 0; i < n; i++)
        nrefs += p->rules[i].groups ? p->rules[i].ngroups : 0;
    refs = malloc((nrefs ? nrefs : 1) * sizeof(*refs));
    nog = malloc(n * sizeof(*nog));
    cand = malloc(n * sizeof(*cand));
    stamp = calloc(n, sizeof(*stamp));
    if (!refs || !nog || !cand || !stamp)
        goto done;
    nrefs = 0;
    for (size_t i = 0; i < n; i++) {
        const aigov_rule_t *r = &p->rules[i];
        if (!r->groups)
            nog[nnog++] = i;
        for (size_t j = 0; r->groups && j < r->ngroups; j++)
            refs[nrefs++] = (group_ref_t) { r->groups[j], i };
    }
    qsort(refs, nrefs, sizeof(*refs), cmp_ref);

    for (size_t b = 1; b < n; b++) {
        const aigov_rule_t *rb = &p->rules[b];
        size_t unreachable_by = n, items[D_N], total_items = 0;

        /* Candidates: the earlier rules that could take some of b's
         * requests. A rule naming groups takes none of a rule that names
         * none, nor of one whose groups it does not share. */
        ncand = 0;
        for (size_t k = 0; k < nnog && nog[k] < b; k++) {
            stamp[nog[k]] = b;
            cand[ncand++] = nog[k];
        }
        for (size_t j = 0; rb->groups && j < rb->ngroups; j++) {
            for (size_t k = first_ref(refs, nrefs, rb->groups[j]);
                 k < nrefs && refs[k].rule < b && !strcmp(refs[k].group, rb->groups[j]); k++) {
                if (stamp[refs[k].rule] != b) {
                    stamp[refs[k].rule] = b;
                    cand[ncand++] = refs[k].rule;
                }
            }
        }
        if (pairs + ncand > LINT_MAX_PAIRS) {
            warn(w, rb->file, rb->line, rb->col,
                 "rules from '%s' on were not checked for shadowing: more than %u pairs of "
                 "rules to compare (give rules groups to keep the checks short)",
                 rb->name ? rb->name : "", LINT_MAX_PAIRS);
            break;
        }
        pairs += ncand;

        for (int d = 0; d < D_N; d++)
            total_items += items[d] = dim_items(rb, d);
        if (total_items > first_cap) {
            size_t *f = realloc(first, total_items * sizeof(*f));
            if (!f)
                break;
            first = f;
            first_cap = total_items;
        }
        for (size_t k = 0; k < total_items; k++)
            first[k] = n;

        for (size_t k = 0; k < ncand; k++) {
            size_t a = cand[k];
            const aigov_rule_t *ra = &p->rules[a];
            int failing = -1, nfail = 0;

            for (int d = 0; d < D_N && nfail < 2; d++) {
                if (!dim_covers(ra, rb, d)) {
                    failing = d;
                    nfail++;
                }
            }
            if (nfail == 0) {
                if (a < unreachable_by)
                    unreachable_by = a;
            } else if (nfail == 1 && items[failing]) {
                size_t base = 0;
                for (int d = 0; d < failing; d++)
                    base += items[d];
                for (size_t i = 0; i < items[failing]; i++)
                    if (a < first[base + i] && item_covered(ra, rb, failing, i))
                        first[base + i] = a;
            }
        }

        if (unreachable_by < n) {
            const aigov_rule_t *ra = &p->rules[unreachable_by];
            warn(w, rb->file, rb->line, rb->col,
                 "rule '%s' can never match: rule '%s' (%s:%u:%u) comes before it and %s "
                 "every request it would match",
                 rb->name, ra->name, ra->file, ra->line, ra->col, ra->allow ? "allows" : "denies");
            continue;
        }
        for (int d = 0, base = 0; d < D_N; base += (int) items[d], d++) {
            for (size_t i = 0; i < items[d]; i++) {
                const aigov_rule_t *ra;
                if (first[base + i] == n)
                    continue;
                ra = &p->rules[first[base + i]];
                warn(w, rb->file, rb->line, rb->col,
                     "rule '%s' is partly shadowed: its %s %s never reaches it, because rule "
                     "'%s' (%s:%u:%u) comes before it and %s every such request",
                     rb->name, dim_word[d], item_text(rb, d, i), ra->name, ra->file, ra->line,
                     ra->col, ra->allow ? "allows" : "denies");
            }
        }
    }
done:
    free(refs);
    free(nog);
    free(cand);
    free(stamp);
    free(first);
}
