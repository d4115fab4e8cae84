/*
 * audit_report: counting months of records in one pass (audit_report.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "audit_policy.h"
#include "audit_report.h"
#include "media.h"

/* ---- a small string map (open addressing, tombstones for pending ids) --- */

typedef struct {
    char     *key;        /* raw JSON string bytes, without quotes */
    uint32_t  klen;
    uint32_t  hash;
    int       state;      /* 0 empty, 1 used, 2 removed */
    uint64_t  n[6];
    char     *a, *b, *c, *d;   /* extra strings (example message, sub, model, ts...) */
    int64_t   seq;
} ent_t;

typedef struct {
    ent_t  *e;
    size_t  cap, used, live;
} map_t;

static uint32_t hash_bytes(const char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t) p[i]) * 16777619u;
    return h;
}

static char *dupn(const char *p, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, p, n);
        d[n] = '\0';
    }
    return d;
}

static int map_grow(map_t *m)
{
    size_t cap = m->cap ? (m->live * 4 > m->cap ? m->cap * 2 : m->cap) : 64;
    ent_t *ne = calloc(cap, sizeof(ent_t));

    if (ne == NULL)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        ent_t *o = &m->e[i];
        if (o->state != 1)
            continue;
        size_t j = o->hash & (cap - 1);
        while (ne[j].state)
            j = (j + 1) & (cap - 1);
        ne[j] = *o;
    }
    free(m->e);
    m->e = ne;
    m->cap = cap;
    m->used = m->live;
    return 0;
}

static ent_t *map_get(map_t *m, const char *k, size_t klen, int create)
{
    uint32_t h = hash_bytes(k, klen);
    size_t j;

    if (m->cap == 0 && !create)
        return NULL;
    if (create && (m->used + 1) * 4 > m->cap * 3 && map_grow(m) < 0)
        return NULL;
    for (j = h & (m->cap - 1); m->e[j].state; j = (j + 1) & (m->cap - 1)) {
        ent_t *x = &m->e[j];
        if (x->state == 1 && x->hash == h && x->klen == klen && !memcmp(x->key, k, klen))
            return x;
    }
    if (!create)
        return NULL;
    m->e[j].key = dupn(k, klen);
    if (m->e[j].key == NULL)
        return NULL;
    m->e[j].klen = (uint32_t) klen;
    m->e[j].hash = h;
    m->e[j].state = 1;
    m->used++;
    m->live++;
    return &m->e[j];
}

static void ent_clear(ent_t *x)
{
    free(x->key);
    free(x->a);
    free(x->b);
    free(x->c);
    free(x->d);
    memset(x, 0, sizeof(*x));
}

static void map_remove(map_t *m, ent_t *x)
{
    ent_clear(x);
    x->state = 2;
    m->live--;
}

static void map_free(map_t *m)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->e[i].state == 1)
            ent_clear(&m->e[i]);
    free(m->e);
    memset(m, 0, sizeof(*m));
}

/* ---- the report ---------------------------------------------------------------- */

enum { M_DAYS, M_REASONS, M_FILTERS, M_MODELS, M_SUBS, M_POLICIES, M_PENDING, M_COUNT };

/* What went to the model that no filter read, as the admission records
 * say it: a body not read at all ("inspected":false), text no filter can
 * read ("unread"), binary media ("media"), an answer written in the
 * background. */
enum { U_BODY, U_TOKEN_IDS, U_TEXT_FILE, U_OTHER, U_IMAGE, U_AUDIO, U_FILE, U_BACKGROUND,
       U_COUNT };
_Static_assert(U_FILE - U_IMAGE + 1 == AIGOV_MEDIA_KINDS, "one count per kind of media.h");
static const char *const unread_names[U_COUNT] = {
    "body", "token_ids", "text_file", "other_text", "image", "audio", "file", "background_answer"
};

struct aigov_report {
    int64_t  since, until;
    map_t    m[M_COUNT];
    uint64_t records, admits, dones, denies, policy_records, legacy, completions_orphan;
    uint64_t prompt_tokens, completion_tokens, quota_refusals, out_of_range;
    uint64_t unread[U_COUNT];     /* admitted requests, by what no filter read */
    char     blocked[128];        /* the line's first filter that blocked */
    char     first_ts[32], last_ts[32];
};

typedef struct {
    const char *v;
    size_t      n;      /* raw value; for strings, without quotes */
    int         str;
} fv_t;

typedef struct {
    fv_t ts, phase, id, sub, model, decision, rule, reason, policy, status, filters, usage, files, seq;
    fv_t inspected, unread, media, background;
} fields_t;

static int is_null(const fv_t *f)
{
    return f->v == NULL || (!f->str && f->n == 4 && !memcmp(f->v, "null", 4));
}

static void set(fv_t *f, const char *v, size_t n)
{
    if (n >= 2 && v[0] == '"') {
        f->v = v + 1;
        f->n = n - 2;
        f->str = 1;
    } else {
        f->v = v;
        f->n = n;
        f->str = 0;
    }
}

#define KEY(lit) (klen == sizeof(lit) - 1 && !memcmp(k, lit, sizeof(lit) - 1))

static int take(void *ud, const char *k, size_t klen, const char *v, size_t vlen)
{
    fields_t *f = ud;

    switch (klen) {
    case 2: if (KEY("ts")) set(&f->ts, v, vlen); else if (KEY("id")) set(&f->id, v, vlen); break;
    case 3: if (KEY("sub")) set(&f->sub, v, vlen); else if (KEY("seq")) set(&f->seq, v, vlen); break;
    case 4: if (KEY("rule")) set(&f->rule, v, vlen); break;
    case 5:
        if (KEY("phase")) set(&f->phase, v, vlen);
        else if (KEY("model")) set(&f->model, v, vlen);
        else if (KEY("usage")) set(&f->usage, v, vlen);
        else if (KEY("files")) set(&f->files, v, vlen);
        else if (KEY("media")) set(&f->media, v, vlen);
        break;
    case 6:
        if (KEY("reason")) set(&f->reason, v, vlen);
        else if (KEY("status")) set(&f->status, v, vlen);
        else if (KEY("unread")) set(&f->unread, v, vlen);
        break;
    case 9: if (KEY("inspected")) set(&f->inspected, v, vlen); break;
    case 10: if (KEY("background")) set(&f->background, v, vlen); break;
    case 7: if (KEY("filters")) set(&f->filters, v, vlen); break;
    case 8: if (KEY("decision")) set(&f->decision, v, vlen); break;
    case 13: if (KEY("policy_sha256")) set(&f->policy, v, vlen); break;
    default: break;
    }
    return 0;
}

static long long num(const fv_t *f)
{
    long long n = 0;
    int neg = 0;
    size_t i = 0;

    if (f->v == NULL || f->str)
        return -1;
    if (f->n && f->v[0] == '-') {
        neg = 1;
        i = 1;
    }
    for (; i < f->n && f->v[i] >= '0' && f->v[i] <= '9'; i++) {
        if (n > 100000000000000000LL)
            return -1;      /* not a count anyone wrote: ignored */
        n = n * 10 + (f->v[i] - '0');
    }
    return neg ? -n : n;
}

aigov_report_t *aigov_report_new(int64_t since, int64_t until)
{
    aigov_report_t *r = calloc(1, sizeof(*r));

    if (r) {
        r->since = since;
        r->until = until;
    }
    return r;
}

void aigov_report_free(aigov_report_t *r)
{
    if (r == NULL)
        return;
    for (int i = 0; i < M_COUNT; i++)
        map_free(&r->m[i]);
    free(r);
}

static ent_t *get(aigov_report_t *r, int map, const fv_t *f)
{
    if (is_null(f))
        return map_get(&r->m[map], "(none)", 6, 1);
    return map_get(&r->m[map], f->v, f->n, 1);
}

typedef struct {
    aigov_report_t *r;
    fv_t plugin, stage, verdict, count;
} filt_t;

static int filter_member(void *ud, const char *k, size_t klen, const char *v, size_t vlen)
{
    filt_t *t = ud;

    if (KEY("plugin")) set(&t->plugin, v, vlen);
    else if (KEY("stage")) set(&t->stage, v, vlen);
    else if (KEY("verdict")) set(&t->verdict, v, vlen);
    else if (KEY("count")) set(&t->count, v, vlen);
    return 0;
}

static int filter_entry(void *ud, const char *k, size_t klen, const char *v, size_t vlen)
{
    filt_t t = { .r = ud };
    char key[512];
    ent_t *x;
    int n;

    (void) k;
    (void) klen;
    if (aigov_json_each(v, vlen, filter_member, &t) < 0 || !t.plugin.str || !t.stage.str || !t.verdict.str)
        return 0;
    n = snprintf(key, sizeof(key), "%.*s\t%.*s\t%.*s", (int) t.plugin.n, t.plugin.v, (int) t.stage.n, t.stage.v,
                 (int) t.verdict.n, t.verdict.v);
    if (n <= 0 || (size_t) n >= sizeof(key))
        return 0;
    if (!t.r->blocked[0] && t.verdict.n == 5 && !memcmp(t.verdict.v, "block", 5) && t.plugin.n < sizeof(t.r->blocked)) {
        memcpy(t.r->blocked, t.plugin.v, t.plugin.n);
        t.r->blocked[t.plugin.n] = '\0';
    }
    x = map_get(&t.r->m[M_FILTERS], key, (size_t) n, 1);
    if (x) {
        x->n[0]++;
        if (num(&t.count) > 0)
            x->n[1] += (uint64_t) num(&t.count);
    }
    return 0;
}

typedef struct { fv_t p, c; } usage_t;

static int usage_member(void *ud, const char *k, size_t klen, const char *v, size_t vlen)
{
    usage_t *u = ud;

    if (KEY("prompt_tokens")) set(&u->p, v, vlen);
    else if (KEY("completion_tokens")) set(&u->c, v, vlen);
    return 0;
}

/* What refused: the rule, the filter that blocked, or the kind of status. */
static void reason_key(const fields_t *f, const char *blocked, long long status, char *out, size_t cap)
{
    const char *kind;

    switch (status) {
    case 400: kind = "bad request"; break;
    case 401: kind = "authentication"; break;
    case 413: kind = "too large"; break;
    case 429: kind = "quota"; break;
    case 503: kind = "audit unavailable"; break;
    default: kind = NULL;
    }
    if (kind)
        snprintf(out, cap, "%lld %s", status, kind);
    else if (blocked[0])
        snprintf(out, cap, "%lld filter %s", status, blocked);
    else if (!is_null(&f->rule))
        snprintf(out, cap, "%lld rule %.*s", status, (int) (f->rule.n > 200 ? 200 : f->rule.n), f->rule.v);
    else
        snprintf(out, cap, "%lld other", status);
}

static void policy_used(aigov_report_t *r, const fields_t *f)
{
    ent_t *x;

    if (is_null(&f->policy) || !f->policy.str)
        return;
    x = get(r, M_POLICIES, &f->policy);
    if (x == NULL)
        return;
    x->n[0]++;
    if (x->a == NULL && f->ts.str)
        x->a = dupn(f->ts.v, f->ts.n);          /* first use */
    if (f->ts.str && f->ts.n < 40) {
        free(x->b);
        x->b = dupn(f->ts.v, f->ts.n);          /* last use */
    }
}

/* One kind of "media", by media.h's names (U_IMAGE on, in their order). */
static int media_kind(void *ud, const char *k, size_t klen, const char *v, size_t vlen)
{
    aigov_report_t *r = ud;
    unsigned bit, i;

    (void) k;
    (void) klen;
    if (vlen < 2 || v[0] != '"' || (bit = aigov_media_bit(v + 1, vlen - 2)) == 0)
        return 0;
    for (i = 0; (bit >> i) != 1; i++)
        ;
    r->unread[U_IMAGE + i]++;
    return 0;
}

static void count_unread(aigov_report_t *r, const fields_t *f)
{
    if (!f->inspected.str && f->inspected.n == 5 && !memcmp(f->inspected.v, "false", 5))
        r->unread[U_BODY]++;
    if (f->unread.str) {
        if (f->unread.n == 9 && !memcmp(f->unread.v, "token_ids", 9))
            r->unread[U_TOKEN_IDS]++;
        else if (f->unread.n == 9 && !memcmp(f->unread.v, "text_file", 9))
            r->unread[U_TEXT_FILE]++;
        else
            r->unread[U_OTHER]++;
    }
    if (f->media.v && !f->media.str && f->media.n > 2 && f->media.v[0] == '[')
        aigov_json_each(f->media.v, f->media.n, media_kind, r);
    if (!f->background.str && f->background.n == 4 && !memcmp(f->background.v, "true", 4))
        r->unread[U_BACKGROUND]++;
}

void aigov_report_line(aigov_report_t *r, const char *line, size_t len)
{
    fields_t f;
    long long status;
    ent_t *x;
    int phase_admit, phase_done, phase_deny, phase_policy;

    if (len < 8 || memcmp(line, "{\"seq\":", 7) != 0)
        return;
    memset(&f, 0, sizeof(f));
    if (aigov_json_each(line, len, take, &f) < 0)
        return;
    if (r->since != INT64_MIN || r->until != INT64_MAX) {
        int64_t ts;
        char buf[64];
        if (!f.ts.str || f.ts.n >= sizeof(buf))
            return;
        memcpy(buf, f.ts.v, f.ts.n);
        buf[f.ts.n] = '\0';
        if (aigov_parse_ts(buf, &ts) < 0 || ts < r->since || ts >= r->until) {
            r->out_of_range++;
            return;
        }
    }
    r->records++;
    if (f.ts.str && f.ts.n < sizeof(r->first_ts)) {
        if (!r->first_ts[0])
            memcpy(r->first_ts, f.ts.v, f.ts.n);
        memcpy(r->last_ts, f.ts.v, f.ts.n);
        r->last_ts[f.ts.n] = '\0';
    }
    phase_admit = f.phase.str && f.phase.n == 5 && !memcmp(f.phase.v, "admit", 5);
    phase_done = f.phase.str && f.phase.n == 4 && !memcmp(f.phase.v, "done", 4);
    phase_deny = f.phase.str && f.phase.n == 4 && !memcmp(f.phase.v, "deny", 4);
    phase_policy = f.phase.str && f.phase.n == 6 && !memcmp(f.phase.v, "policy", 6);
    if (f.phase.v == NULL) {
        /* a record from before admission and completion were split */
        r->legacy++;
        if (f.decision.str && f.decision.n == 4 && !memcmp(f.decision.v, "deny", 4))
            phase_deny = 1;
        else
            phase_admit = phase_done = 1;
    }
    status = num(&f.status);

    if (phase_policy) {
        r->policy_records++;
        x = is_null(&f.policy) ? NULL : get(r, M_POLICIES, &f.policy);
        if (x) {
            x->n[1]++;                          /* times logged */
            if (f.files.v && x->c == NULL) {
                /* the file names, kept once, as a JSON list */
                json_t *files = json_loadb(f.files.v, f.files.n, 0, NULL), *names = json_array();
                size_t i;
                json_t *e;
                char *s;
                json_array_foreach(files, i, e)
                    json_array_append(names, json_object_get(e, "name"));
                s = json_dumps(names, JSON_COMPACT);
                json_decref(files);
                json_decref(names);
                x->c = s;
            }
            if (f.ts.str && x->d == NULL)
                x->d = dupn(f.ts.v, f.ts.n);   /* first logged */
        }
        return;
    }

    r->blocked[0] = '\0';
    if (f.filters.v && !f.filters.str && f.filters.n > 2)
        aigov_json_each(f.filters.v, f.filters.n, filter_entry, r);

    if (phase_admit || phase_deny) {
        char day[11] = "(no date)";
        if (f.ts.str && f.ts.n >= 10) {
            memcpy(day, f.ts.v, 10);
            day[10] = '\0';
        }
        x = map_get(&r->m[M_DAYS], day, strlen(day), 1);
        if (x)
            x->n[phase_deny ? 1 : 0]++;
        policy_used(r, &f);
    }
    if (phase_admit) {
        r->admits++;
        count_unread(r, &f);
        if ((x = get(r, M_MODELS, &f.model)))
            x->n[0]++;
        if ((x = get(r, M_SUBS, &f.sub)))
            x->n[0]++;
        if (!phase_done && !is_null(&f.id) && (x = map_get(&r->m[M_PENDING], f.id.v, f.id.n, 1))) {
            free(x->a);
            free(x->b);
            x->a = is_null(&f.sub) ? NULL : dupn(f.sub.v, f.sub.n);
            x->b = is_null(&f.model) ? NULL : dupn(f.model.v, f.model.n);
            x->seq = num(&f.seq);
            free(x->c);
            x->c = f.ts.str ? dupn(f.ts.v, f.ts.n) : NULL;
        }
    }
    if (phase_deny) {
        char key[300];
        r->denies++;
        reason_key(&f, r->blocked, status, key, sizeof(key));
        x = map_get(&r->m[M_REASONS], key, strlen(key), 1);
        if (x) {
            x->n[0]++;
            if (x->a == NULL && f.reason.str)
                x->a = dupn(f.reason.v, f.reason.n > 300 ? 300 : f.reason.n);
        }
        if ((x = get(r, M_SUBS, &f.sub))) {
            x->n[1]++;
            if (status == 429)
                x->n[3]++;
        }
        if (!is_null(&f.model) && (x = get(r, M_MODELS, &f.model)))
            x->n[3]++;
        if (status == 429)
            r->quota_refusals++;
    }
    if (phase_done) {
        usage_t u;
        long long pt = 0, ct = 0;
        ent_t *pend = NULL, *mx, *sx;
        fv_t sub = f.sub, model = f.model;

        if (f.phase.v)
            r->dones++;
        memset(&u, 0, sizeof(u));
        if (f.usage.v && !f.usage.str && f.usage.n > 2)
            aigov_json_each(f.usage.v, f.usage.n, usage_member, &u);
        pt = num(&u.p) > 0 ? num(&u.p) : 0;
        ct = num(&u.c) > 0 ? num(&u.c) : 0;
        if (f.phase.v && !is_null(&f.id))
            pend = map_get(&r->m[M_PENDING], f.id.v, f.id.n, 0);
        if (f.phase.v && pend == NULL)
            r->completions_orphan++;   /* its admission is before --since, or in an earlier file */
        if (pend) {
            sub.v = pend->a;
            sub.n = pend->a ? strlen(pend->a) : 0;
            sub.str = pend->a != NULL;
            model.v = pend->b;
            model.n = pend->b ? strlen(pend->b) : 0;
            model.str = pend->b != NULL;
        }
        r->prompt_tokens += (uint64_t) pt;
        r->completion_tokens += (uint64_t) ct;
        if ((pend || !f.phase.v) && (mx = get(r, M_MODELS, &model))) {
            mx->n[1] += (uint64_t) pt;
            mx->n[2] += (uint64_t) ct;
        }
        if ((pend || !f.phase.v) && (sx = get(r, M_SUBS, &sub)))
            sx->n[2] += (uint64_t) (pt + ct);
        if (pend)
            map_remove(&r->m[M_PENDING], pend);
    }
}

/* ---- output ------------------------------------------------------------------ */

/* A raw JSON string's bytes as a string value (escapes decoded). */
static json_t *raw_str(const char *p, size_t n)
{
    json_t *s;
    char *q;

    if (p == NULL)
        return json_null();
    if (memchr(p, '\\', n) == NULL)
        return (s = json_stringn(p, n)) ? s : json_string("?");
    q = malloc(n + 3);
    if (q == NULL)
        return json_null();
    q[0] = '"';
    memcpy(q + 1, p, n);
    q[n + 1] = '"';
    s = json_loadb(q, n + 2, JSON_DECODE_ANY, NULL);
    free(q);
    return s ? s : json_string("?");
}

static int cmp_key(const void *a, const void *b)
{
    const ent_t *x = *(ent_t *const *) a, *y = *(ent_t *const *) b;
    return strcmp(x->key, y->key);
}

static int cmp_desc(const void *a, const void *b, void *arg)
{
    const ent_t *x = *(ent_t *const *) a, *y = *(ent_t *const *) b;
    int i = *(int *) arg;
    if (x->n[i] != y->n[i])
        return x->n[i] > y->n[i] ? -1 : 1;
    return strcmp(x->key, y->key);
}

static int cmp_seq(const void *a, const void *b)
{
    const ent_t *x = *(ent_t *const *) a, *y = *(ent_t *const *) b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The used entries of a map, sorted by key (col < 0) or by n[col] descending. */
static ent_t **entries(const map_t *m, int col, size_t *n)
{
    ent_t **v = malloc((m->live ? m->live : 1) * sizeof(ent_t *));
    size_t k = 0;

    if (v == NULL) {
        *n = 0;
        return NULL;
    }
    for (size_t i = 0; i < m->cap; i++)
        if (m->e[i].state == 1)
            v[k++] = &m->e[i];
    if (col < 0)
        qsort(v, k, sizeof(ent_t *), cmp_key);
    else
        qsort_r(v, k, sizeof(ent_t *), cmp_desc, &col);
    *n = k;
    return v;
}

json_t *aigov_report_json(const aigov_report_t *r, size_t top)
{
    json_t *o = json_object(), *a;
    ent_t **v;
    size_t n;

    json_object_set_new(o, "totals", json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
        "records", (json_int_t) r->records, "requests", (json_int_t) (r->admits + r->denies),
        "allowed", (json_int_t) r->admits, "refused", (json_int_t) r->denies,
        "completions", (json_int_t) r->dones, "policy_records", (json_int_t) r->policy_records,
        "prompt_tokens", (json_int_t) r->prompt_tokens, "completion_tokens", (json_int_t) r->completion_tokens,
        "quota_refusals", (json_int_t) r->quota_refusals, "gaps", (json_int_t) r->m[M_PENDING].live));
    json_object_set_new(o, "first_ts", r->first_ts[0] ? json_string(r->first_ts) : json_null());
    json_object_set_new(o, "last_ts", r->last_ts[0] ? json_string(r->last_ts) : json_null());
    json_object_set_new(o, "outside_period", json_integer((json_int_t) r->out_of_range));
    json_object_set_new(o, "completions_without_admission", json_integer((json_int_t) r->completions_orphan));
    a = json_object();
    for (size_t i = 0; i < U_COUNT; i++)
        json_object_set_new(a, unread_names[i], json_integer((json_int_t) r->unread[i]));
    json_object_set_new(o, "allowed_unread", a);

    a = json_array();
    v = entries(&r->m[M_DAYS], -1, &n);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:s,s:I,s:I}", "day", v[i]->key, "allow", (json_int_t) v[i]->n[0],
                                           "deny", (json_int_t) v[i]->n[1]));
    free(v);
    json_object_set_new(o, "requests_per_day", a);

    a = json_array();
    v = entries(&r->m[M_REASONS], 0, &n);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:s,s:I,s:o}", "reason", v[i]->key, "count", (json_int_t) v[i]->n[0],
                                           "example", raw_str(v[i]->a, v[i]->a ? strlen(v[i]->a) : 0)));
    free(v);
    json_object_set_new(o, "refusals_by_reason", a);

    a = json_array();
    v = entries(&r->m[M_FILTERS], -1, &n);
    for (size_t i = 0; i < n; i++) {
        char *k = v[i]->key, *t1 = strchr(k, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        if (!t1 || !t2)
            continue;
        json_array_append_new(a, json_pack("{s:o,s:o,s:o,s:I,s:I}", "plugin", raw_str(k, (size_t) (t1 - k)),
                                           "stage", raw_str(t1 + 1, (size_t) (t2 - t1 - 1)),
                                           "verdict", raw_str(t2 + 1, strlen(t2 + 1)),
                                           "entries", (json_int_t) v[i]->n[0], "matches", (json_int_t) v[i]->n[1]));
    }
    free(v);
    json_object_set_new(o, "filter_verdicts", a);

    a = json_array();
    v = entries(&r->m[M_MODELS], 1, &n);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:o,s:I,s:I,s:I,s:I}", "model", raw_str(v[i]->key, v[i]->klen),
                                           "requests", (json_int_t) v[i]->n[0], "refused", (json_int_t) v[i]->n[3],
                                           "prompt_tokens", (json_int_t) v[i]->n[1],
                                           "completion_tokens", (json_int_t) v[i]->n[2]));
    free(v);
    json_object_set_new(o, "tokens_by_model", a);

    for (int col = 1; col <= 3; col++) {
        const char *name = col == 1 ? "top_subjects_by_refusals" : col == 2 ? "top_subjects_by_tokens"
                                                                           : "quota_refusals_by_subject";
        a = json_array();
        v = entries(&r->m[M_SUBS], col, &n);
        for (size_t i = 0; i < n && i < top; i++) {
            if (v[i]->n[col] == 0)
                break;
            json_array_append_new(a, json_pack("{s:o,s:I,s:I,s:I,s:I}", "sub", raw_str(v[i]->key, v[i]->klen),
                                               "requests", (json_int_t) v[i]->n[0], "refused", (json_int_t) v[i]->n[1],
                                               "tokens", (json_int_t) v[i]->n[2],
                                               "quota_refusals", (json_int_t) v[i]->n[3]));
        }
        free(v);
        json_object_set_new(o, name, a);
    }

    a = json_array();
    v = entries(&r->m[M_POLICIES], -1, &n);
    for (size_t i = 0; i < n; i++) {
        const char *files = v[i]->c, *logged = v[i]->d;
        json_array_append_new(a, json_pack("{s:s,s:I,s:I,s:o,s:o,s:o,s:o}", "policy_sha256", v[i]->key,
            "records", (json_int_t) v[i]->n[0], "times_logged", (json_int_t) v[i]->n[1],
            "first_logged", logged ? json_string(logged) : json_null(),
            "first_used", v[i]->a ? json_string(v[i]->a) : json_null(),
            "last_used", v[i]->b ? json_string(v[i]->b) : json_null(),
            "files", files ? json_loads(files, 0, NULL) : json_array()));
    }
    free(v);
    json_object_set_new(o, "policies", a);

    a = json_array();
    {
        ent_t **g = malloc((r->m[M_PENDING].live ? r->m[M_PENDING].live : 1) * sizeof(ent_t *));
        size_t k = 0;
        for (size_t i = 0; g && i < r->m[M_PENDING].cap; i++)
            if (r->m[M_PENDING].e[i].state == 1)
                g[k++] = &r->m[M_PENDING].e[i];
        if (g)
            qsort(g, k, sizeof(ent_t *), cmp_seq);   /* oldest first */
        for (size_t i = 0; i < k && i < 1000; i++) {
            const char *ts = g[i]->c;
            json_array_append_new(a, json_pack("{s:I,s:o,s:o,s:o,s:o}", "seq", (json_int_t) g[i]->seq,
                "id", raw_str(g[i]->key, g[i]->klen), "ts", ts ? json_string(ts) : json_null(),
                "sub", g[i]->a ? raw_str(g[i]->a, strlen(g[i]->a)) : json_null(),
                "model", g[i]->b ? raw_str(g[i]->b, strlen(g[i]->b)) : json_null()));
        }
        free(g);
    }
    json_object_set_new(o, "gaps", a);
    return o;
}
