/* policy_load: read policy YAML files, check every key and value, compile. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "claim_path.h"
#include "hex.h"
#include "sha256.h"
#include "policy_internal.h"
#include "policy_yaml.h"

#define MAX_POLICY_FILES  1000
#define MAX_NAME          128
#define MAX_REASON        400
#define MAX_TEXT          1024

/* ---- arena ---------------------------------------------------------- */

#define ARENA_BLOCK  16384
#define ARENA_HDR    ((sizeof(aigov_arena_block_t) + 15) & ~(size_t) 15)

void *aigov_arena_alloc(void *arena, size_t n)
{
    aigov_arena_t *a = arena;
    aigov_arena_block_t *b = a->head;
    void *r;

    n = (n + 15) & ~(size_t) 15;
    if (n == 0)
        n = 16;
    if (!b || b->size - b->used < n) {
        size_t size = n > ARENA_BLOCK / 4 ? n : ARENA_BLOCK;
        b = malloc(ARENA_HDR + size);
        if (!b)
            return NULL;
        b->size = size;
        b->used = 0;
        if (n > ARENA_BLOCK / 4 && a->head) {
            /* a big piece gets its own block, behind the current one */
            b->next = a->head->next;
            a->head->next = b;
        } else {
            b->next = a->head;
            a->head = b;
        }
    }
    r = (char *) b + ARENA_HDR + b->used;
    b->used += n;
    memset(r, 0, n);
    return r;
}

char *aigov_arena_strdup(aigov_arena_t *a, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = aigov_arena_alloc(a, n);

    if (d)
        memcpy(d, s, n);
    return d;
}

void aigov_arena_free(aigov_arena_t *a)
{
    aigov_arena_block_t *b = a->head, *next;

    while (b) {
        next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
}

/* ---- loader state ---------------------------------------------------- */

typedef struct {
    aigov_policy_t           *p;
    aigov_errs_t              errs;
    aigov_errs_t              warns;
    aigov_ydoc_t             *y;
    const char               *file;
    aigov_filter_factory_fn   factory;
    void                     *ctx;
    size_t                    rules_cap;
    int                       nomem;

    const char               *version_file;
    int                       version_seen;
    int                       unparsed;      /* a file could not be read or parsed */
    const char               *default_file;
    const char               *identity_file;
    aigov_sha256_t            sha;           /* of every file, in order */
    size_t                    total;         /* bytes read from every file */
    int                       too_big;       /* total passed AIGOV_POLICY_MAX_TOTAL */

    /* rule names seen so far: rule index + 1 by name hash, open
     * addressing; a linear search for duplicates made loading quadratic
     * (72,000 rules took 15 s) */
    size_t                   *names;
    size_t                    names_cap;
} loader_t;

#define ERR(L, node, ...)  aigov_yerr((L)->y, (node), __VA_ARGS__)

static void *L_alloc(loader_t *L, size_t n)
{
    void *r = aigov_arena_alloc(&L->p->arena, n);

    if (!r && !L->nomem) {
        L->nomem = 1;
        aigov_errs_add(&L->errs, L->file, 0, 0, "out of memory");
    }
    return r;
}

static char *L_strdup(loader_t *L, const char *s)
{
    char *d = L_alloc(L, strlen(s) + 1);

    if (d)
        strcpy(d, s);
    return d;
}

static const char *const top_keys[] = { "version", "default", "identity", "rules", "description", NULL };
static const char *const identity_keys[] = { "subject_claim", "groups_claim", NULL };
static const char *const rule_keys[] = { "name", "description", "when", "limits", "filters",
                                          "audit", "decision", "reason", "uninspectable", NULL };
static const char *const when_keys[] = { "groups", "subjects", "claims", "models", "endpoints",
                                          "media", NULL };
static const char *const limit_keys[] = { "max_tokens", "max_prompt_chars", "requests_per_minute",
                                           "tokens_per_minute", "tokens_per_day", "max_n", NULL };
static const char *const filter_keys[] = { "plugin", "stages", "action", "config", "on_error", NULL };
static const char *const audit_keys[] = { "content", NULL };

/* Scalar text of n for messages: never NULL, never very long. */
static const char *shown(const yaml_node_t *n)
{
    const char *s = aigov_yscalar(n);
    return s ? s : aigov_ytype(n);
}

/* Text of a string-valued key: a non-empty scalar without control
 * characters, at most max bytes. NULL after reporting. */
static const char *get_text(loader_t *L, yaml_node_t *n, const char *what, size_t max)
{
    const char *s = aigov_yscalar(n);

    if (!n)
        return NULL;
    if (n->type != YAML_SCALAR_NODE || !s) {
        ERR(L, n, "%s must be text, not %s", what, aigov_ytype(n));
        return NULL;
    }
    if (aigov_ynull(n)) {
        ERR(L, n, "%s must not be empty", what);
        return NULL;
    }
    if (strlen(s) > max) {
        ERR(L, n, "%s is longer than %zu characters", what, max);
        return NULL;
    }
    for (const char *c = s; *c; c++) {
        if ((unsigned char) *c < 0x20 || *c == 0x7f) {
            ERR(L, n, "%s must not contain control characters (tabs, line breaks)", what);
            return NULL;
        }
    }
    return L_strdup(L, s);
}

/* Number of items of a list, or -1 after reporting a non-list or an
 * empty one (an empty "any of" list would silently match nothing). */
static long list_len(loader_t *L, yaml_node_t *n, const char *what, const char *example)
{
    long len;

    if (n->type != YAML_SEQUENCE_NODE) {
        ERR(L, n, "%s must be a list, e.g. %s", what, example);
        return -1;
    }
    len = (long) (n->data.sequence.items.top - n->data.sequence.items.start);
    if (len == 0) {
        ERR(L, n, "%s is an empty list, which matches nothing; remove it or list at least one", what);
        return -1;
    }
    return len;
}

static yaml_node_t *item(loader_t *L, yaml_node_t *seq, long i)
{
    return aigov_ynode(L->y, seq->data.sequence.items.start[i]);
}

/* ---- when ------------------------------------------------------------- */

static aigov_glob_t *parse_globs(loader_t *L, yaml_node_t *n, const char *what,
                                 const char *example, int paths, size_t *count)
{
    long len = list_len(L, n, what, example);
    aigov_glob_t *g;

    if (len < 0)
        return NULL;
    g = L_alloc(L, (size_t) len * sizeof(*g));
    if (!g)
        return NULL;
    for (long i = 0; i < len; i++) {
        yaml_node_t *it = item(L, n, i);
        const char *s = get_text(L, it, "a pattern", AIGOV_GLOB_MAX_PATTERN);
        char err[160];

        if (!s)
            continue;
        if (paths && s[0] != '/' && s[0] != '*') {
            ERR(L, it, "endpoint '%s' must be a path starting with '/', e.g. /v1/chat/completions", s);
            continue;
        }
        if (aigov_glob_compile(&g[i], s, aigov_arena_alloc, &L->p->arena, err, sizeof(err)) != 0)
            ERR(L, it, "bad pattern '%s': %s", s, err);
    }
    *count = (size_t) len;
    return g;
}

static int pval_from(loader_t *L, yaml_node_t *n, const char *claim, aigov_pval_t *v)
{
    const char *s = aigov_yscalar(n);
    char *end;

    if (!s || n->type != YAML_SCALAR_NODE) {
        ERR(L, n, "claim %s must be compared with a value or a list of values, not %s",
            claim, aigov_ytype(n));
        return -1;
    }
    if (aigov_ynull(n)) {
        ERR(L, n, "claim %s needs a value", claim);
        return -1;
    }
    v->text = L_strdup(L, s);
    if (*s && strchr("+-.0123456789", *s)) {
        double d = strtod(s, &end);
        if (*end == '\0' && end != s) {
            v->is_num = 1;
            v->num = d;
        }
        errno = 0;
        v->ival = strtoll(s, &end, 10);
        v->is_int = *end == '\0' && end != s && errno == 0;
    }
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) {
        v->is_bool = 1;
        v->boolean = 1;
    } else if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
        v->is_bool = 1;
        v->boolean = 0;
    }
    return 0;
}

/* A claim path's fault is reported where it is: the node's line, and the
 * column of the bad character when the scalar sits on one line. */
static int check_claim_path(loader_t *L, yaml_node_t *n, const char *path)
{
    char why[160];
    size_t at = 0;
    unsigned line, col;

    if (aigov_claim_path_check(path, &at, why, sizeof(why)) == 0)
        return 0;
    line = (unsigned) n->start_mark.line + 1;
    col = (unsigned) n->start_mark.column + 1;
    if (n->type == YAML_SCALAR_NODE && n->start_mark.line == n->end_mark.line) {
        if (n->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE
            || n->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE)
            col++;
        col += (unsigned) at;
    }
    aigov_errs_add(&L->errs, L->file, line, col, "claim path '%s': %s", path, why);
    return -1;
}

static void parse_claims(loader_t *L, aigov_rule_t *r, yaml_node_t *n)
{
    yaml_node_pair_t *pr;
    size_t count, k = 0;
    json_t *seen;    /* names so far: comparing each with every earlier one
                      * took 22 s for 100,000 claims */

    if (n->type != YAML_MAPPING_NODE) {
        ERR(L, n, "claims must be a mapping of claim names to values, e.g. {tenant: acme}");
        return;
    }
    count = (size_t) (n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    if (count == 0) {
        ERR(L, n, "claims is empty; remove it or name at least one claim");
        return;
    }
    r->claims = L_alloc(L, count * sizeof(*r->claims));
    seen = json_object();
    if (!r->claims || !seen) {
        json_decref(seen);
        return;
    }
    for (pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        yaml_node_t *kn = aigov_ynode(L->y, pr->key), *vn = aigov_ynode(L->y, pr->value);
        const char *key = get_text(L, kn, "a claim name", MAX_NAME);
        aigov_claim_cond_t *c = &r->claims[k];

        if (!key || check_claim_path(L, kn, key) != 0)
            continue;
        if (json_object_get(seen, key)) {
            ERR(L, kn, "claim '%s' is given twice", key);
            continue;
        }
        json_object_set_new(seen, key, json_true());
        c->key = key;
        if (vn->type == YAML_SEQUENCE_NODE) {
            long len = list_len(L, vn, "a claim's list of values", "[acme, globex]");
            if (len < 0)
                continue;
            c->vals = L_alloc(L, (size_t) len * sizeof(*c->vals));
            if (!c->vals)
                break;
            for (long i = 0; i < len; i++)
                pval_from(L, item(L, vn, i), key, &c->vals[i]);
            c->nvals = (size_t) len;
        } else {
            c->vals = L_alloc(L, sizeof(*c->vals));
            if (!c->vals)
                break;
            if (pval_from(L, vn, key, &c->vals[0]) == 0)
                c->nvals = 1;
        }
        k++;
    }
    json_decref(seen);
    r->nclaims = k;
}

/* media: [image, audio, file]: the rule takes a request that carries any
 * of these kinds of binary media (no filter reads them). */
static void parse_media(loader_t *L, aigov_rule_t *r, yaml_node_t *n)
{
    long len = list_len(L, n, "media", "[image, file]");

    for (long i = 0; i < len; i++) {
        yaml_node_t *v = item(L, n, i);
        const char *s = get_text(L, v, "a kind of media", MAX_NAME);
        unsigned bit = s ? aigov_media_bit(s, strlen(s)) : 0;

        if (s && !bit)
            ERR(L, v, "media '%s' is not a kind of media: image, audio or file", s);
        else if (bit & r->media)
            ERR(L, v, "media '%s' is given twice", s);
        r->media |= bit;
    }
}

static void parse_when(loader_t *L, aigov_rule_t *r, yaml_node_t *n)
{
    yaml_node_t *v;

    if (n->type != YAML_MAPPING_NODE) {
        ERR(L, n, "when must be a mapping of conditions (groups, subjects, claims, models, endpoints, "
            "media)");
        return;
    }
    aigov_ymap_check(L->y, n, when_keys, "when");

    if ((v = aigov_ymap_get(L->y, n, "groups", NULL))) {
        long len = list_len(L, v, "groups", "[analysts, engineers]");
        if (len > 0 && (r->groups = L_alloc(L, (size_t) len * sizeof(char *)))) {
            for (long i = 0; i < len; i++) {
                const char *g = get_text(L, item(L, v, i), "a group", MAX_NAME);
                r->groups[i] = g ? g : "";
            }
            r->ngroups = (size_t) len;
        }
    }
    if ((v = aigov_ymap_get(L->y, n, "subjects", NULL)))
        r->subjects = parse_globs(L, v, "subjects", "[\"svc-*\"]", 0, &r->nsubjects);
    if ((v = aigov_ymap_get(L->y, n, "claims", NULL)))
        parse_claims(L, r, v);
    if ((v = aigov_ymap_get(L->y, n, "models", NULL)))
        r->models = parse_globs(L, v, "models", "[\"gpt-4o*\", deepseek-chat]", 0, &r->nmodels);
    if ((v = aigov_ymap_get(L->y, n, "endpoints", NULL)))
        r->endpoints = parse_globs(L, v, "endpoints", "[/v1/chat/completions]", 1, &r->nendpoints);
    if ((v = aigov_ymap_get(L->y, n, "media", NULL)))
        parse_media(L, r, v);
}

/* ---- limits, filters, audit -------------------------------------------- */

static void parse_limits(loader_t *L, aigov_rule_t *r, yaml_node_t *n)
{
    long long *slot[] = { &r->limits.max_tokens, &r->limits.max_prompt_chars,
                          &r->limits.requests_per_minute, &r->limits.tokens_per_minute,
                          &r->limits.tokens_per_day, &r->limits.max_n };

    if (n->type != YAML_MAPPING_NODE) {
        ERR(L, n, "limits must be a mapping, e.g. {max_tokens: 2048}");
        return;
    }
    aigov_ymap_check(L->y, n, limit_keys, "limits");
    for (size_t i = 0; limit_keys[i]; i++) {
        yaml_node_t *v = aigov_ymap_get(L->y, n, limit_keys[i], NULL);
        long long x;

        if (!v)
            continue;
        if (v->type == YAML_SCALAR_NODE && !aigov_yplain(v) && aigov_yscalar(v) &&
            strspn(aigov_yscalar(v), "0123456789") == strlen(aigov_yscalar(v)) &&
            aigov_yscalar(v)[0]) {
            ERR(L, v, "%s must be a number without quotes", limit_keys[i]);
            continue;
        }
        if (!aigov_yint(v, &x) || x <= 0) {
            ERR(L, v, "%s must be a positive whole number, not %s%s%s", limit_keys[i],
                v->type == YAML_SCALAR_NODE ? "'" : "", shown(v),
                v->type == YAML_SCALAR_NODE ? "'" : "");
            continue;
        }
        if (x > AIGOV_POLICY_MAX_LIMIT) {
            ERR(L, v, "%s must be at most %lld", limit_keys[i], AIGOV_POLICY_MAX_LIMIT);
            continue;
        }
        *slot[i] = x;
    }
}

static int valid_plugin_name(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')
              || *s == '_' || *s == '-' || *s == '.'))
            return 0;
    return 1;
}

static int parse_filter(loader_t *L, aigov_policy_filter_t *f, yaml_node_t *n)
{
    yaml_node_t *pv, *sv, *av, *cv, *ov, *ck = NULL;
    const char *s;
    int ok = 1;
    json_t *cfg = NULL;

    if (n->type != YAML_MAPPING_NODE) {
        ERR(L, n, "each filter is a mapping (plugin, stages, action, config, on_error)");
        return -1;
    }
    if (aigov_ymap_check(L->y, n, filter_keys, "filter"))
        ok = 0;
    f->file = L->file;
    f->line = (unsigned) n->start_mark.line + 1;
    f->col = (unsigned) n->start_mark.column + 1;

    pv = aigov_ymap_get(L->y, n, "plugin", NULL);
    if (!pv) {
        ERR(L, n, "filter has no plugin (the NAME of an aigov_plugin directive)");
        ok = 0;
    } else if ((s = get_text(L, pv, "plugin", 64))) {
        if (!valid_plugin_name(s)) {
            ERR(L, pv, "plugin name '%s' may hold only letters, digits, '_', '-' and '.'", s);
            ok = 0;
        }
        f->plugin = s;
    } else {
        ok = 0;
    }

    f->stages = AIGOV_STAGE_REQUEST | AIGOV_STAGE_RESPONSE;
    if ((sv = aigov_ymap_get(L->y, n, "stages", NULL))) {
        long len = list_len(L, sv, "stages", "[request, response]");
        if (len < 0)
            ok = 0;
        f->stages = 0;
        for (long i = 0; i < len; i++) {
            yaml_node_t *it = item(L, sv, i);
            s = aigov_yscalar(it);
            if (s && !strcmp(s, "request")) {
                f->stages |= AIGOV_STAGE_REQUEST;
            } else if (s && !strcmp(s, "response")) {
                f->stages |= AIGOV_STAGE_RESPONSE;
            } else {
                ERR(L, it, "unknown stage '%s' (expected request or response)", shown(it));
                ok = 0;
            }
        }
    }

    av = aigov_ymap_get(L->y, n, "action", NULL);
    s = aigov_yscalar(av);
    if (!av) {
        ERR(L, n, "filter has no action (block, redact or flag)");
        ok = 0;
    } else if (s && !strcmp(s, "block")) {
        f->action = AIGOV_FILTER_BLOCK;
    } else if (s && !strcmp(s, "redact")) {
        f->action = AIGOV_FILTER_REDACT;
    } else if (s && !strcmp(s, "flag")) {
        f->action = AIGOV_FILTER_FLAG;
    } else {
        ERR(L, av, "unknown action '%s' (expected block, redact or flag)", shown(av));
        ok = 0;
    }

    if ((ov = aigov_ymap_get(L->y, n, "on_error", NULL))) {
        s = aigov_yscalar(ov);
        if (s && !strcmp(s, "block")) {
            f->fail_open = 0;
        } else if (s && !strcmp(s, "allow")) {
            f->fail_open = 1;
        } else {
            ERR(L, ov, "on_error must be block or allow, not '%s'", shown(ov));
            ok = 0;
        }
    }

    if ((cv = aigov_ymap_get(L->y, n, "config", &ck))) {
        if (cv->type != YAML_MAPPING_NODE && !aigov_ynull(cv)) {
            ERR(L, cv, "config must be a mapping, e.g. {types: [email, phone]}");
            ok = 0;
        } else if (cv->type == YAML_MAPPING_NODE) {
            cfg = aigov_yjson(L->y, cv);
            if (!cfg)
                ok = 0;
        }
    }

    if (ok && L->factory) {
        char err[512] = "";
        json_t *empty = cfg ? NULL : json_object();

        f->inst = L->factory(L->ctx, f->plugin, cfg ? cfg : empty, f->action, err, sizeof(err));
        json_decref(empty);
        if (!f->inst) {
            if (!err[0])
                snprintf(err, sizeof(err), "plugin %s refused to build this filter", f->plugin);
            if (!strncmp(err, "no plugin named", 15) || !cv || cv->type != YAML_MAPPING_NODE)
                ERR(L, pv, "%s", err);
            else
                ERR(L, ck, "plugin %s rejected its config: %s", f->plugin, err);
            ok = 0;
        }
    }
    json_decref(cfg);
    return ok ? 0 : -1;
}

static void parse_filters(loader_t *L, aigov_rule_t *r, yaml_node_t *n)
{
    long len = list_len(L, n, "filters", "[{plugin: pii, action: redact}]");

    if (len < 0)
        return;
    r->filters = L_alloc(L, (size_t) len * sizeof(*r->filters));
    if (!r->filters)
        return;
    /* Every filter is kept, built or not, so that free destroys each
     * instance the factory made. */
    for (long i = 0; i < len; i++)
        parse_filter(L, &r->filters[i], item(L, n, i));
    r->nfilters = (size_t) len;
}

static void parse_audit(loader_t *L, aigov_rule_t *r, yaml_node_t *n)
{
    static const char *const names[] = { "none", "hash", "redacted", "full" };
    yaml_node_t *v;
    const char *s;

    if (n->type != YAML_MAPPING_NODE) {
        ERR(L, n, "audit must be a mapping, e.g. {content: hash}");
        return;
    }
    aigov_ymap_check(L->y, n, audit_keys, "audit");
    if (!(v = aigov_ymap_get(L->y, n, "content", NULL)))
        return;
    s = aigov_yscalar(v);
    for (int i = 0; i < 4; i++) {
        if (s && !strcmp(s, names[i])) {
            r->content = (aigov_content_t) i;
            return;
        }
    }
    ERR(L, v, "content must be none, hash, redacted or full, not '%s'", shown(v));
}

/* ---- rules and files ---------------------------------------------------- */

static size_t name_hash(const char *s)
{
    size_t h = 14695981039346656037u;      /* FNV-1a */

    for (; *s; s++)
        h = (h ^ (unsigned char) *s) * 1099511628211u;
    return h;
}

/* The rule that first used name, or NULL after recording rule idx under
 * it. Out of memory is recorded in L and answers NULL. */
static const aigov_rule_t *name_seen(loader_t *L, const char *name, size_t idx)
{
    aigov_rule_t *rules = L->p->rules;
    size_t mask, i;

    if (2 * (idx + 1) > L->names_cap) {
        size_t cap = L->names_cap ? L->names_cap * 2 : 64;
        size_t *t = calloc(cap, sizeof(*t));
        if (!t) {
            L->nomem = 1;
            aigov_errs_add(&L->errs, L->file, 0, 0, "out of memory");
            return NULL;
        }
        for (size_t j = 0; j < L->names_cap; j++) {
            size_t k = L->names[j];
            if (!k)
                continue;
            for (i = name_hash(rules[k - 1].name) & (cap - 1); t[i]; i = (i + 1) & (cap - 1))
                ;
            t[i] = k;
        }
        free(L->names);
        L->names = t;
        L->names_cap = cap;
    }
    mask = L->names_cap - 1;
    for (i = name_hash(name) & mask; L->names[i]; i = (i + 1) & mask)
        if (!strcmp(rules[L->names[i] - 1].name, name))
            return &rules[L->names[i] - 1];
    L->names[i] = idx + 1;
    return NULL;
}

static void parse_rule(loader_t *L, yaml_node_t *n)
{
    aigov_policy_t *p = L->p;
    aigov_rule_t *r;
    yaml_node_t *v;
    const char *s;

    if (n->type != YAML_MAPPING_NODE) {
        ERR(L, n, "each rule is a mapping with a name, conditions under when, and a decision");
        return;
    }
    if (p->nrules == L->rules_cap) {
        size_t cap = L->rules_cap ? L->rules_cap * 2 : 16;
        aigov_rule_t *nr = realloc(p->rules, cap * sizeof(*nr));
        if (!nr) {
            L->nomem = 1;
            aigov_errs_add(&L->errs, L->file, 0, 0, "out of memory");
            return;
        }
        p->rules = nr;
        L->rules_cap = cap;
    }
    r = &p->rules[p->nrules++];
    memset(r, 0, sizeof(*r));
    r->file = L->file;
    r->line = (unsigned) n->start_mark.line + 1;
    r->col = (unsigned) n->start_mark.column + 1;
    r->content = AIGOV_CONTENT_HASH;

    aigov_ymap_check(L->y, n, rule_keys, "rule");

    if (!(v = aigov_ymap_get(L->y, n, "name", NULL))) {
        ERR(L, n, "rule has no name");
    } else if ((s = get_text(L, v, "name", MAX_NAME))) {
        const aigov_rule_t *first = name_seen(L, s, p->nrules - 1);
        if (first)
            ERR(L, v, "duplicate rule name '%s' (first used at %s:%u:%u)", s,
                first->file, first->line, first->col);
        if (!strcmp(s, "default"))
            ERR(L, v, "'default' is reserved for the policy's default decision; name the rule otherwise");
        r->name = s;
    }

    if (!(v = aigov_ymap_get(L->y, n, "decision", NULL))) {
        if (r->name)
            ERR(L, n, "rule '%s' has no decision (allow or deny)", r->name);
        else
            ERR(L, n, "rule has no decision (allow or deny)");
    } else {
        s = aigov_yscalar(v);
        if (s && !strcmp(s, "allow"))
            r->allow = 1;
        else if (s && !strcmp(s, "deny"))
            r->allow = 0;
        else
            ERR(L, v, "decision must be allow or deny, not '%s'", shown(v));
    }

    if ((v = aigov_ymap_get(L->y, n, "reason", NULL)))
        r->reason = get_text(L, v, "reason", MAX_REASON);
    /* Requests whose body the gateway cannot read (an unknown endpoint, a
     * multipart body, a PUT): refused where the rule inspects, unless the
     * rule says so here. */
    if ((v = aigov_ymap_get(L->y, n, "uninspectable", NULL))) {
        s = aigov_yscalar(v);
        if (s && !strcmp(s, "allow"))
            r->uninspectable_allow = 1;
        else if (!(s && !strcmp(s, "deny")))
            ERR(L, v, "uninspectable must be allow or deny, not '%s'", shown(v));
    }
    if ((v = aigov_ymap_get(L->y, n, "description", NULL)))
        get_text(L, v, "description", MAX_TEXT);
    if ((v = aigov_ymap_get(L->y, n, "when", NULL)))
        parse_when(L, r, v);
    if ((v = aigov_ymap_get(L->y, n, "limits", NULL)))
        parse_limits(L, r, v);
    if ((v = aigov_ymap_get(L->y, n, "filters", NULL)))
        parse_filters(L, r, v);
    if ((v = aigov_ymap_get(L->y, n, "audit", NULL)))
        parse_audit(L, r, v);
    if (!L->errs.count)
        aigov_lint_rule(&L->warns, L->y, r, n);
}

static void parse_identity(loader_t *L, yaml_node_t *n)
{
    aigov_policy_t *p = L->p;
    const char *sub = "sub", *grp = "groups";
    yaml_node_t *v;

    if (n->type != YAML_MAPPING_NODE) {
        ERR(L, n, "identity must be a mapping, e.g. {subject_claim: sub, groups_claim: groups}");
        return;
    }
    if (aigov_ymap_check(L->y, n, identity_keys, "identity"))
        return;
    if ((v = aigov_ymap_get(L->y, n, "subject_claim", NULL)) &&
        (!(sub = get_text(L, v, "subject_claim", MAX_NAME)) || check_claim_path(L, v, sub) != 0))
        return;
    if ((v = aigov_ymap_get(L->y, n, "groups_claim", NULL)) &&
        (!(grp = get_text(L, v, "groups_claim", MAX_NAME)) || check_claim_path(L, v, grp) != 0))
        return;
    if (L->identity_file) {
        if (strcmp(sub, p->subject_claim) || strcmp(grp, p->groups_claim))
            ERR(L, n, "identity is set differently in %s; set it in one file only",
                L->identity_file);
        return;
    }
    L->identity_file = L->file;
    p->subject_claim = sub;
    p->groups_claim = grp;
}

static void parse_top(loader_t *L, yaml_node_t *root)
{
    aigov_policy_t *p = L->p;
    yaml_node_t *v;
    long long ver;

    if (root->type != YAML_MAPPING_NODE) {
        ERR(L, root, "a policy file is a mapping with the keys version, default, identity and rules");
        return;
    }
    aigov_ymap_check(L->y, root, top_keys, "the policy");

    if ((v = aigov_ymap_get(L->y, root, "version", NULL))) {
        L->version_seen = 1;
        if (!aigov_yint(v, &ver) || ver != 1)
            ERR(L, v, "version must be 1 (the policy language version), not '%s'", shown(v));
        else if (!L->version_file)
            L->version_file = L->file;
    }
    if ((v = aigov_ymap_get(L->y, root, "default", NULL))) {
        const char *s = aigov_yscalar(v);
        int allow = -1;
        if (s && !strcmp(s, "allow"))
            allow = 1;
        else if (s && !strcmp(s, "deny"))
            allow = 0;
        if (allow < 0) {
            ERR(L, v, "default must be deny or allow, not '%s'", shown(v));
        } else if (L->default_file) {
            if (allow != p->default_allow)
                ERR(L, v, "default is %s here but %s in %s; set it in one file only",
                    allow ? "allow" : "deny", p->default_allow ? "allow" : "deny",
                    L->default_file);
        } else {
            L->default_file = L->file;
            p->default_allow = allow;
        }
    }
    if ((v = aigov_ymap_get(L->y, root, "identity", NULL)))
        parse_identity(L, v);
    if ((v = aigov_ymap_get(L->y, root, "description", NULL)))
        get_text(L, v, "description", MAX_TEXT);
    if ((v = aigov_ymap_get(L->y, root, "rules", NULL))) {
        if (v->type != YAML_SEQUENCE_NODE) {
            if (!aigov_ynull(v))
                ERR(L, v, "rules must be a list of rules, each starting with '- name:'");
        } else {
            for (yaml_node_item_t *it = v->data.sequence.items.start;
                 it < v->data.sequence.items.top; it++)
                parse_rule(L, aigov_ynode(L->y, *it));
        }
    }
}

static void load_buffer(loader_t *L, const char *name, const char *buf, size_t len)
{
    aigov_ydoc_t y;
    yaml_node_t *root;

    L->file = name;
    aigov_sha256_update(&L->sha, buf, len);
    root = aigov_ydoc_parse(&y, name, buf, len, &L->errs);
    if (root) {
        L->y = &y;
        parse_top(L, root);
        L->y = NULL;
    } else {
        L->unparsed = 1;
    }
    aigov_ydoc_free(&y);
}

/* The policy as loaded, byte for byte: the audit log records it (policy
 * records, lib/audit_policy.c), so the log alone shows which rules were in
 * force. Called once per file, in load order, next to load_buffer. */
static void keep_text(loader_t *L, const char *buf, size_t len)
{
    aigov_policy_t *p = L->p;
    char *t;

    if (p->texts == NULL) {
        size_t n = p->nfiles ? p->nfiles : 1;
        p->texts = L_alloc(L, n * sizeof(char *));
        p->text_lens = L_alloc(L, n * sizeof(size_t));
    }
    if (p->texts == NULL || p->text_lens == NULL || p->ntexts >= (p->nfiles ? p->nfiles : 1)
        || (t = L_alloc(L, len + 1)) == NULL)
        return;
    memcpy(t, buf, len);
    t[len] = '\0';
    p->texts[p->ntexts] = t;
    p->text_lens[p->ntexts++] = len;
}

static void load_file(loader_t *L, const char *path)
{
    char *buf, err[256];
    size_t len;

    if (L->too_big)
        return;
    if (aigov_read_file(path, AIGOV_POLICY_MAX_FILE, &buf, &len, err, sizeof(err)) != 0) {
        aigov_errs_add(&L->errs, path, 0, 0, "%s", err);
        L->unparsed = 1;
        return;
    }
    L->total += len;
    if (L->total > AIGOV_POLICY_MAX_TOTAL) {
        /* once, at the file that crosses the bound; later files are
         * not read */
        aigov_errs_add(&L->errs, path, 0, 0,
                       "the policy's files together are larger than %u bytes",
                       AIGOV_POLICY_MAX_TOTAL);
        L->too_big = 1;
        L->unparsed = 1;
        free(buf);
        return;
    }
    keep_text(L, buf, len);
    load_buffer(L, path, buf, len);
    free(buf);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

static int is_policy_name(const char *n)
{
    size_t l = strlen(n);

    if (n[0] == '.' || l < 6 || strcmp(n + l - 5, ".yaml"))
        return 0;
    /* test cases may live next to the policies they test */
    return !(l >= 11 && !strcmp(n + l - 11, ".cases.yaml"));
}

/* The files to read, in order, as arena strings in p->files. */
static int list_files(loader_t *L, const char *path)
{
    aigov_policy_t *p = L->p;
    struct stat st;
    DIR *d;
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0;

    if (stat(path, &st) != 0) {
        aigov_errs_add(&L->errs, path, 0, 0, "cannot read the policy: %s", strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        p->files = L_alloc(L, sizeof(char *));
        if (!p->files || !(p->files[0] = L_strdup(L, path)))
            return -1;
        p->nfiles = 1;
        return 0;
    }
    if (!(d = opendir(path))) {
        aigov_errs_add(&L->errs, path, 0, 0, "cannot read the folder: %s", strerror(errno));
        return -1;
    }
    while ((de = readdir(d))) {
        if (!is_policy_name(de->d_name))
            continue;
        if (n == MAX_POLICY_FILES) {
            aigov_errs_add(&L->errs, path, 0, 0, "more than %d policy files in the folder",
                           MAX_POLICY_FILES);
            break;
        }
        if (n == cap) {
            char **nn = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof(char *));
            if (!nn)
                break;
            names = nn;
        }
        if (!(names[n] = strdup(de->d_name)))
            break;
        n++;
    }
    closedir(d);
    if (n == 0 && !L->errs.count)
        aigov_errs_add(&L->errs, path, 0, 0, "the folder holds no *.yaml policy files");
    if (names)
        qsort(names, n, sizeof(char *), cmp_str);
    p->files = L_alloc(L, (n ? n : 1) * sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        if (p->files) {
            size_t l = strlen(path) + strlen(names[i]) + 2;
            char *full = L_alloc(L, l);
            if (full) {
                snprintf(full, l, "%s%s%s", path,
                         path[strlen(path) - 1] == '/' ? "" : "/", names[i]);
                p->files[p->nfiles++] = full;
            }
        }
        free(names[i]);
    }
    free(names);
    return L->errs.count ? -1 : 0;
}

static aigov_policy_t *start(loader_t *L, aigov_filter_factory_fn factory,
                             aigov_filter_destroy_fn destroy, void *ctx, char **errors)
{
    aigov_policy_t *p;

    *errors = NULL;
    memset(L, 0, sizeof(*L));
    p = calloc(1, sizeof(*p));
    if (!p) {
        *errors = strdup("policy: out of memory\n");
        return NULL;
    }
    aigov_sha256_init(&L->sha);
    L->warns.noun = "warnings";
    p->destroy = destroy;
    p->ctx = ctx;
    p->subject_claim = "sub";
    p->groups_claim = "groups";
    L->p = p;
    L->factory = factory;
    L->ctx = ctx;
    return p;
}

static aigov_policy_t *finish(loader_t *L, char **errors)
{
    aigov_policy_t *p = L->p;
    uint8_t digest[32];

    if (!L->version_seen && p->nfiles && !L->unparsed)
        aigov_errs_add(&L->errs, p->files[0], 1, 1,
                       "missing 'version: 1' (the policy language version)");
    aigov_sha256_final(&L->sha, digest);
    *aigov_hex(p->sha256, digest, 32) = '\0';

    free(L->names);
    L->names = NULL;
    if (L->errs.count) {
        *errors = aigov_errs_take(&L->errs);
        aigov_errs_free(&L->warns);
        aigov_policy_free(p);
        return NULL;
    }
    aigov_errs_free(&L->errs);
    aigov_lint_rules(&L->warns, p);
    p->nwarnings = L->warns.count;
    p->warnings = aigov_errs_take(&L->warns);
    return p;
}

aigov_policy_t *aigov_policy_load(const char *path, aigov_filter_factory_fn factory,
                                  aigov_filter_destroy_fn destroy, void *ctx,
                                  char **errors)
{
    loader_t L;

    if (!start(&L, factory, destroy, ctx, errors))
        return NULL;
    if (list_files(&L, path) == 0)
        for (size_t i = 0; i < L.p->nfiles; i++)
            load_file(&L, L.p->files[i]);
    return finish(&L, errors);
}

aigov_policy_t *aigov_policy_load_mem(const char *name, const char *buf, size_t len,
                                      aigov_filter_factory_fn factory,
                                      aigov_filter_destroy_fn destroy, void *ctx,
                                      char **errors)
{
    loader_t L;
    aigov_policy_t *p = start(&L, factory, destroy, ctx, errors);

    if (!p)
        return NULL;
    if (len > AIGOV_POLICY_MAX_FILE) {
        aigov_errs_add(&L.errs, name, 0, 0, "the policy is larger than %u bytes",
                       AIGOV_POLICY_MAX_FILE);
        return finish(&L, errors);
    }
    p->files = L_alloc(&L, sizeof(char *));
    if (p->files && (p->files[0] = L_strdup(&L, name))) {
        p->nfiles = 1;
        keep_text(&L, buf, len);
        load_buffer(&L, p->files[0], buf, len);
    }
    return finish(&L, errors);
}

aigov_policy_t *aigov_policy_load_texts(const char *const *names, const char *const *bufs,
                                        const size_t *lens, size_t n,
                                        aigov_filter_factory_fn factory,
                                        aigov_filter_destroy_fn destroy, void *ctx,
                                        char **errors)
{
    loader_t L;
    aigov_policy_t *p = start(&L, factory, destroy, ctx, errors);

    if (!p)
        return NULL;
    p->files = L_alloc(&L, (n ? n : 1) * sizeof(char *));
    for (size_t i = 0; p->files && i < n; i++) {
        if (!(p->files[i] = L_strdup(&L, names[i])))
            break;
        p->nfiles = i + 1;
    }
    for (size_t i = 0; i < p->nfiles; i++) {
        L.total += lens[i];
        if (lens[i] > AIGOV_POLICY_MAX_FILE || L.total > AIGOV_POLICY_MAX_TOTAL) {
            aigov_errs_add(&L.errs, names[i], 0, 0, "the policy is larger than allowed");
            break;
        }
        keep_text(&L, bufs[i], lens[i]);
        load_buffer(&L, p->files[i], bufs[i], lens[i]);
    }
    return finish(&L, errors);
}

const char *aigov_policy_text(const aigov_policy_t *p, size_t i, size_t *len)
{
    if (i >= p->ntexts)
        return NULL;
    *len = p->text_lens[i];
    return p->texts[i];
}

void aigov_policy_free(aigov_policy_t *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nrules; i++) {
        aigov_rule_t *r = &p->rules[i];
        for (size_t j = 0; j < r->nfilters; j++)
            if (r->filters[j].inst && p->destroy)
                p->destroy(p->ctx, r->filters[j].inst);
    }
    free(p->rules);
    free(p->warnings);
    aigov_arena_free(&p->arena);
    free(p);
}

const char *aigov_policy_warnings(const aigov_policy_t *p)
{
    return p->warnings;
}

size_t aigov_policy_warning_count(const aigov_policy_t *p)
{
    return p->nwarnings;
}

const char *aigov_policy_sha256(const aigov_policy_t *p)
{
    return p->sha256;
}

int aigov_policy_default_allow(const aigov_policy_t *p)
{
    return p->default_allow;
}

const char *aigov_policy_subject_claim(const aigov_policy_t *p)
{
    return p->subject_claim;
}

const char *aigov_policy_groups_claim(const aigov_policy_t *p)
{
    return p->groups_claim;
}

size_t aigov_policy_file_count(const aigov_policy_t *p)
{
    return p->nfiles;
}

const char *aigov_policy_file(const aigov_policy_t *p, size_t i)
{
    return i < p->nfiles ? p->files[i] : NULL;
}

size_t aigov_policy_rule_count(const aigov_policy_t *p)
{
    return p->nrules;
}

const char *aigov_policy_rule_name(const aigov_policy_t *p, size_t i)
{
    return i < p->nrules ? p->rules[i].name : NULL;
}

const char *aigov_policy_rule_file(const aigov_policy_t *p, size_t i, unsigned *line)
{
    if (i >= p->nrules)
        return NULL;
    if (line)
        *line = p->rules[i].line;
    return p->rules[i].file;
}

int aigov_policy_rule_allows(const aigov_policy_t *p, size_t i)
{
    return i < p->nrules && p->rules[i].allow;
}
