/*
 * metrics: counters and histograms in shared memory, and their text
 * exposition. See metrics.h.
 */
#include "metrics.h"
#include "policy_internal.h"

#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC        0x31746d766769614cULL   /* "Laigvmt1" */
#define PROBES       64
#define HBUCKETS     17                      /* bounds + the +Inf bucket */
#define NAME_SPINS   100000

enum { T_COUNTER = 0, T_GAUGE, T_HISTOGRAM };

typedef enum {
    K_NAME = 0, K_ENDPOINT, K_STATUS, K_DECISION, K_STAGE, K_VERDICT,
    K_LIMIT, K_TOKEN, K_OPERATION, K_USAGE, K_STORE
} kind_t;

typedef struct {
    uint64_t  magic;
    uint64_t  size;
    uint64_t  ncounters;
    uint64_t  nhists;
} head_t;

typedef struct {
    uint32_t  state;     /* 0 free, 1 being written, 2 ready */
    uint32_t  hash;
    uint32_t  len;
    char      s[AIGOV_METRICS_NAME_MAX + 1];
} name_t;

typedef struct {
    uint64_t  key;
    uint64_t  v;
} cslot_t;

typedef struct {
    uint64_t  key;
    uint64_t  b[HBUCKETS];
    uint64_t  sum;
} hslot_t;

typedef struct {
    const char      *name;
    const char      *help;
    int              type;
    unsigned         nlabels;
    const char      *labels[AIGOV_METRICS_LABELS];
    kind_t           kinds[AIGOV_METRICS_LABELS];
    const uint64_t  *bounds;
    size_t           nbounds;
    double           scale;      /* exposed value = stored / scale */
} family_t;

/* OpenTelemetry's advised buckets (GenAI semantic conventions), in the
 * stored units: tokens, microseconds. Time per token starts lower than
 * OpenTelemetry's 10 ms, for the fast models a gateway also fronts. */
static const uint64_t b_tokens[] = {
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
    16777216, 67108864
};
static const uint64_t b_duration[] = {
    10000, 20000, 40000, 80000, 160000, 320000, 640000, 1280000, 2560000,
    5120000, 10240000, 20480000, 40960000, 81920000
};
static const uint64_t b_ttft[] = {
    1000, 5000, 10000, 20000, 40000, 60000, 80000, 100000, 250000, 500000,
    750000, 1000000, 2500000, 5000000, 7500000, 10000000
};
static const uint64_t b_tpot[] = {
    1000, 2500, 5000, 10000, 25000, 50000, 75000, 100000, 150000, 200000,
    300000, 400000, 500000, 750000, 1000000, 2500000
};
/* the gateway's own work is microseconds, not the model's seconds */
static const uint64_t b_gateway[] = {
    25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000,
    250000, 500000, 1000000
};

#define NB(a)  (sizeof(a) / sizeof((a)[0]))
#define OP_MODEL  { "gen_ai_operation_name", "gen_ai_request_model" }, { K_OPERATION, K_NAME }

static const family_t families[AIGOV_M_COUNT_] = {
    [AIGOV_M_REQUESTS] = { "aigov_requests_total",
        "Governed requests by endpoint, model, policy rule, decision and final HTTP status.",
        T_COUNTER, 5, { "endpoint", "model", "rule", "decision", "status" },
        { K_ENDPOINT, K_NAME, K_NAME, K_DECISION, K_STATUS }, NULL, 0, 1 },
    [AIGOV_M_REFUSALS] = { "aigov_refusals_total",
        "Requests the gateway refused, by the error code the caller got.",
        T_COUNTER, 1, { "code" }, { K_NAME }, NULL, 0, 1 },
    [AIGOV_M_FILTER_VERDICTS] = { "aigov_filter_verdicts_total",
        "Content filter verdicts, one per filter and stage of each request.",
        T_COUNTER, 3, { "plugin", "stage", "verdict" }, { K_NAME, K_STAGE, K_VERDICT },
        NULL, 0, 1 },
    [AIGOV_M_PLUGIN_ERRORS] = { "aigov_plugin_errors_total",
        "Requests in which a content filter plugin failed to inspect a text.",
        T_COUNTER, 2, { "plugin", "stage" }, { K_NAME, K_STAGE }, NULL, 0, 1 },
    [AIGOV_M_PLUGIN_CALLS] = { "aigov_plugin_calls_total",
        "Calls of a content filter plugin's inspect function.",
        T_COUNTER, 1, { "plugin" }, { K_NAME }, NULL, 0, 1 },
    [AIGOV_M_PLUGIN_SECONDS] = { "aigov_plugin_seconds_total",
        "Time spent in a content filter plugin's inspect function, normalizing the text included (one call in 8 timed, the rest estimated from them).",
        T_COUNTER, 1, { "plugin" }, { K_NAME }, NULL, 0, 1e9 },
    [AIGOV_M_TOKEN_USAGE] = { "gen_ai_client_token_usage",
        "Tokens per request as the model's answer reports them, by operation, model and token type.",
        T_HISTOGRAM, 3, { "gen_ai_operation_name", "gen_ai_request_model", "gen_ai_token_type" },
        { K_OPERATION, K_NAME, K_TOKEN }, b_tokens, NB(b_tokens), 1 },
    [AIGOV_M_SERVER_DURATION] = { "gen_ai_server_request_duration_seconds",
        "Time from proxying a request to the last byte of the model's answer.",
        T_HISTOGRAM, 2, OP_MODEL, b_duration, NB(b_duration), 1e6 },
    [AIGOV_M_TIME_TO_FIRST_TOKEN] = { "gen_ai_server_time_to_first_token_seconds",
        "Time from proxying a streamed request to the first byte of its successful answer.",
        T_HISTOGRAM, 2, OP_MODEL, b_ttft, NB(b_ttft), 1e6 },
    [AIGOV_M_TIME_PER_TOKEN] = { "gen_ai_server_time_per_output_token_seconds",
        "Time per output token after the first, of successful streamed answers.",
        T_HISTOGRAM, 2, OP_MODEL, b_tpot, NB(b_tpot), 1e6 },
    [AIGOV_M_GATEWAY_DURATION] = { "aigov_gateway_duration_seconds",
        "The gateway's own time: from a request's arrival to its proxying.",
        T_HISTOGRAM, 1, { "endpoint" }, { K_ENDPOINT }, b_gateway, NB(b_gateway), 1e6 },
    [AIGOV_M_QUOTA_ADMISSIONS] = { "aigov_quota_admissions_total",
        "Requests admitted under a quota, by the kind of limit their rule sets.",
        T_COUNTER, 1, { "limit" }, { K_LIMIT }, NULL, 0, 1 },
    [AIGOV_M_QUOTA_REFUSALS] = { "aigov_quota_refusals_total",
        "Requests refused with 429, by the limit that refused them.",
        T_COUNTER, 1, { "limit" }, { K_LIMIT }, NULL, 0, 1 },
    [AIGOV_M_QUOTA_OPEN] = { "aigov_quota_reservations_open",
        "Token reservations of requests being served, not yet settled.",
        T_GAUGE, 0, { NULL }, { 0 }, NULL, 0, 1 },
    [AIGOV_M_QUOTA_SETTLEMENTS] = { "aigov_quota_settlements_total",
        "Reservations settled, from the usage the answer reported or from the estimate.",
        T_COUNTER, 1, { "usage" }, { K_USAGE }, NULL, 0, 1 },
    [AIGOV_M_QUOTA_STORE] = { "aigov_quota_store_total",
        "Requests a quota applied to, by the store that counted or refused them.",
        T_COUNTER, 1, { "store" }, { K_STORE }, NULL, 0, 1 },
    [AIGOV_M_AUDIT_RECORDS] = { "aigov_audit_records_total",
        "Records written whole to the audit log.",
        T_COUNTER, 0, { NULL }, { 0 }, NULL, 0, 1 },
    [AIGOV_M_AUDIT_BYTES] = { "aigov_audit_bytes_total",
        "Bytes of records written to the audit log.",
        T_COUNTER, 0, { NULL }, { 0 }, NULL, 0, 1 },
    [AIGOV_M_AUDIT_FAILURES] = { "aigov_audit_write_failures_total",
        "Writes to the audit log (records or checkpoints) that failed.",
        T_COUNTER, 0, { NULL }, { 0 }, NULL, 0, 1 },
    [AIGOV_M_AUDIT_REFUSALS] = { "aigov_audit_refusals_total",
        "Requests refused with 503 because the audit log could not record them.",
        T_COUNTER, 0, { NULL }, { 0 }, NULL, 0, 1 },
    [AIGOV_M_AUDIT_CHECKPOINTS] = { "aigov_audit_checkpoints_total",
        "Signed checkpoints written to the audit log.",
        T_COUNTER, 0, { NULL }, { 0 }, NULL, 0, 1 },
    [AIGOV_M_ID_VERIFIED] = { "aigov_identity_tokens_verified_total",
        "Requests whose bearer token verified.",
        T_COUNTER, 0, { NULL }, { 0 }, NULL, 0, 1 },
    [AIGOV_M_ID_CACHE_HITS] = { "aigov_identity_cache_hits_total",
        "Token verifications answered from the verified-token cache.",
        T_COUNTER, 0, { NULL }, { 0 }, NULL, 0, 1 },
    [AIGOV_M_ID_SIGNATURES] = { "aigov_identity_signature_checks_total",
        "Token signatures actually checked (cache misses).",
        T_COUNTER, 0, { NULL }, { 0 }, NULL, 0, 1 },
    [AIGOV_M_ID_REFUSALS] = { "aigov_identity_refusals_total",
        "Requests refused with 401, by the error code the caller got.",
        T_COUNTER, 1, { "code" }, { K_NAME }, NULL, 0, 1 },
    [AIGOV_M_BODY_KEPT] = { "aigov_body_buffers_bytes",
        "Memory the workers keep for long request bodies (aigov_body_keep), lent or free.",
        T_GAUGE, 0, { NULL }, { 0 }, NULL, 0, 1 },
    [AIGOV_M_BODY_LENT] = { "aigov_body_buffers_lent_bytes",
        "Of the kept body buffers, the bytes lent to requests being served.",
        T_GAUGE, 0, { NULL }, { 0 }, NULL, 0, 1 },
    [AIGOV_M_BODY_MISSED] = { "aigov_body_buffers_missed_total",
        "Long request bodies (spilled to a file or chunked) that found no kept buffer within aigov_body_keep.",
        T_COUNTER, 0, { NULL }, { 0 }, NULL, 0, 1 },
    [AIGOV_M_DROPPED] = { "aigov_metrics_dropped_series_total",
        "Counts not kept because the metrics zone had no room for a new series.",
        T_COUNTER, 0, { NULL }, { 0 }, NULL, 0, 1 },
};

static const char *const endpoint_kinds[] = { "unknown" };
static const char *const decisions[] = { "allow", "deny" };
static const char *const stages[] = { "request", "response" };
static const char *const verdicts[] = { "allow", "flag", "redact", "error", "block", "other" };
static const char *const limits[] = {
    "requests_per_minute", "tokens_per_minute", "tokens_per_day", "capacity", "other"
};
static const char *const token_types[] = { "input", "output" };
static const char *const operations[] = { "chat", "text_completion", "embeddings", "other" };
static const char *const usages[] = { "reported", "estimated", "none" };
static const char *const stores[] = { "redis", "local", "none" };

/* ---- layout ---- */

static head_t *head(const void *mem) { return (head_t *) mem; }
static name_t *names(const void *mem) { return (name_t *) ((char *) mem + sizeof(head_t)); }

static cslot_t *counters(const void *mem)
{
    return (cslot_t *) ((char *) mem + sizeof(head_t) + AIGOV_METRICS_NAMES * sizeof(name_t));
}

static hslot_t *hists(const void *mem)
{
    return (hslot_t *) (counters(mem) + head(mem)->ncounters);
}

static size_t fixed_size(void)
{
    return sizeof(head_t) + AIGOV_METRICS_NAMES * sizeof(name_t);
}

size_t aigov_metrics_min_size(void)
{
    return fixed_size() + 256 * sizeof(cslot_t) + 64 * sizeof(hslot_t);
}

/* A third of the room to counters, the rest to histograms (an eighth of
 * their number, each nine times as large). */
void aigov_metrics_capacity(size_t size, size_t *nc, size_t *nh)
{
    size_t room = size > fixed_size() ? size - fixed_size() : 0;

    *nc = room / 3 / sizeof(cslot_t);
    *nh = (room - *nc * sizeof(cslot_t)) / sizeof(hslot_t);
}

int aigov_metrics_init(void *mem, size_t size)
{
    head_t *h = mem;
    size_t nc, nh;

    if (mem == NULL || ((uintptr_t) mem & 7) || size < aigov_metrics_min_size())
        return -1;
    if (h->magic == MAGIC && h->size == size)
        return 1;
    aigov_metrics_capacity(size, &nc, &nh);
    memset(mem, 0, size);
    h->size = size;
    h->ncounters = nc;
    h->nhists = nh;
    strcpy(names(mem)[0].s, "other");
    names(mem)[0].len = 5;
    names(mem)[0].state = 2;
    __atomic_store_n(&h->magic, MAGIC, __ATOMIC_RELEASE);
    return 0;
}

/* ---- names ---- */

static uint32_t fnv(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    size_t i;

    for (i = 0; i < len; i++)
        h = (h ^ (unsigned char) s[i]) * 16777619u;
    return h;
}

/* Slots 1..1023 by probing; slot 0 is "other". A slot is claimed by
 * compare-and-swap (0 -> 1), filled, then published (2): a reader that
 * finds it half written waits, so that no name is ever entered twice. */
unsigned aigov_metrics_name(void *mem, const char *s)
{
    name_t *t = names(mem);
    size_t len = s ? strlen(s) : 0;
    uint32_t h;
    unsigned i, at;

    if (len == 0 || len > AIGOV_METRICS_NAME_MAX)
        return 0;
    if (len == 5 && memcmp(s, "other", 5) == 0)
        return 0;
    h = fnv(s, len);
    for (i = 0; i < AIGOV_METRICS_NAMES - 1; i++) {
        name_t *n;
        uint32_t st;
        long spins = 0;

        at = 1 + (h + i) % (AIGOV_METRICS_NAMES - 1);
        n = &t[at];
        st = __atomic_load_n(&n->state, __ATOMIC_ACQUIRE);
        if (st == 0) {
            uint32_t zero = 0;

            if (__atomic_compare_exchange_n(&n->state, &zero, 1, 0, __ATOMIC_ACQ_REL,
                                            __ATOMIC_ACQUIRE)) {
                n->hash = h;
                n->len = (uint32_t) len;
                memcpy(n->s, s, len);
                n->s[len] = '\0';
                __atomic_store_n(&n->state, 2, __ATOMIC_RELEASE);
                return at;
            }
            st = zero;
        }
        while (st == 1) {
            if (++spins > NAME_SPINS)
                return 0;       /* its writer died mid-copy: count as other */
            if (spins % 64 == 0)
                sched_yield();
            st = __atomic_load_n(&n->state, __ATOMIC_ACQUIRE);
        }
        if (n->hash == h && n->len == len && memcmp(n->s, s, len) == 0)
            return at;
    }
    return 0;
}

const char *aigov_metrics_name_of(const void *mem, unsigned id)
{
    const name_t *n;

    if (id >= AIGOV_METRICS_NAMES)
        return NULL;
    n = &names(mem)[id];
    return __atomic_load_n(&n->state, __ATOMIC_ACQUIRE) == 2 ? n->s : NULL;
}

/* ---- series ---- */

static uint64_t make_key(aigov_metric_t m, const unsigned *lv)
{
    uint64_t k = (1ULL << 63) | ((uint64_t) m << 50);
    unsigned i;

    for (i = 0; lv && i < families[m].nlabels; i++)
        k |= (uint64_t) (lv[i] & 1023) << (10 * i);
    return k;
}

static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* The slot of key in a table of n slots of stride words, claimed when
 * create; NULL when not there (or no room). */
static uint64_t *find(uint64_t *base, size_t stride, size_t n, uint64_t key, int create)
{
    size_t i, at;

    if (n == 0)
        return NULL;
    at = mix(key) % n;
    for (i = 0; i < PROBES && i < n; i++) {
        uint64_t *s = base + ((at + i) % n) * stride;
        uint64_t k = __atomic_load_n(s, __ATOMIC_ACQUIRE);

        if (k == key)
            return s;
        if (k == 0) {
            if (!create)
                return NULL;
            if (__atomic_compare_exchange_n(s, &k, key, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)
                || k == key)
                return s;
        }
    }
    return NULL;
}

static void dropped(void *mem)
{
    uint64_t *s = find((uint64_t *) counters(mem), 2, head(mem)->ncounters,
                       make_key(AIGOV_M_DROPPED, NULL), 1);

    if (s)
        __atomic_fetch_add(&s[1], 1, __ATOMIC_RELAXED);
}

/* Adds delta to the counter series of key (from aigov_metrics_add and a
 * batch's flush). */
static void add_key(void *mem, uint64_t key, uint64_t delta)
{
    uint64_t *s = find((uint64_t *) counters(mem), 2, head(mem)->ncounters, key, 1);

    if (s == NULL) {
        dropped(mem);
        return;
    }
    __atomic_fetch_add(&s[1], delta, __ATOMIC_RELAXED);
}

/* The histogram slot of key, claimed when new; NULL (counted as dropped)
 * when there is no room. */
static hslot_t *hist_key(void *mem, uint64_t key)
{
    hslot_t *h = (hslot_t *) find((uint64_t *) hists(mem), sizeof(hslot_t) / 8,
                                  head(mem)->nhists, key, 1);

    if (h == NULL)
        dropped(mem);
    return h;
}

/* The bucket of value in family f. */
static size_t bucket_of(const family_t *f, uint64_t value)
{
    size_t b;

    for (b = 0; b < f->nbounds && value > f->bounds[b]; b++)
        ;
    return b;
}

void aigov_metrics_add(void *mem, aigov_metric_t m, const unsigned *lv, int64_t delta)
{
    if ((unsigned) m >= AIGOV_M_COUNT_ || families[m].type == T_HISTOGRAM)
        return;
    add_key(mem, make_key(m, lv), (uint64_t) delta);
}

int64_t aigov_metrics_get(const void *mem, aigov_metric_t m, const unsigned *lv)
{
    uint64_t *s;

    if ((unsigned) m >= AIGOV_M_COUNT_ || families[m].type == T_HISTOGRAM)
        return 0;
    s = find((uint64_t *) counters(mem), 2, head(mem)->ncounters, make_key(m, lv), 0);
    return s ? (int64_t) __atomic_load_n(&s[1], __ATOMIC_RELAXED) : 0;
}

void aigov_metrics_observe(void *mem, aigov_metric_t m, const unsigned *lv, uint64_t value)
{
    hslot_t *h;

    if ((unsigned) m >= AIGOV_M_COUNT_ || families[m].type != T_HISTOGRAM)
        return;
    if ((h = hist_key(mem, make_key(m, lv))) == NULL)
        return;
    __atomic_fetch_add(&h->b[bucket_of(&families[m], value)], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&h->sum, value, __ATOMIC_RELAXED);
}

/* ---- a worker's batch ---- */

/* Counts of one process gathered without atomics and added to the block
 * now and then: workers adding to the same series at once made the cache
 * line of each counter travel between cores on every request. */

#define BATCH_COUNTERS  128
#define BATCH_HISTS     32

struct aigov_metrics_batch_s {
    cslot_t   c[BATCH_COUNTERS];
    hslot_t   h[BATCH_HISTS];
    size_t    used;
};

aigov_metrics_batch_t *aigov_metrics_batch_new(void)
{
    return calloc(1, sizeof(aigov_metrics_batch_t));
}

void aigov_metrics_batch_free(aigov_metrics_batch_t *b)
{
    free(b);
}

int aigov_metrics_batch_pending(const aigov_metrics_batch_t *b)
{
    return b != NULL && b->used > 0;
}

/* The batch's slot of key in a table of n (a power of two) slots of stride
 * words, claimed when free; NULL when the probes find no room. */
static uint64_t *batch_slot(uint64_t *base, size_t stride, size_t n, uint64_t key,
                            size_t *used)
{
    size_t i, at = mix(key) & (n - 1);

    for (i = 0; i < 8; i++) {
        uint64_t *s = base + ((at + i) & (n - 1)) * stride;

        if (s[0] == key)
            return s;
        if (s[0] == 0) {
            s[0] = key;
            (*used)++;
            return s;
        }
    }
    return NULL;
}

void aigov_metrics_batch_add(aigov_metrics_batch_t *b, void *mem, aigov_metric_t m,
                             const unsigned *lv, int64_t delta)
{
    uint64_t *s;

    if ((unsigned) m >= AIGOV_M_COUNT_ || families[m].type == T_HISTOGRAM || delta == 0)
        return;
    s = b ? batch_slot((uint64_t *) b->c, 2, BATCH_COUNTERS, make_key(m, lv), &b->used) : NULL;
    if (s == NULL) {
        aigov_metrics_add(mem, m, lv, delta);
        return;
    }
    s[1] += (uint64_t) delta;
}

void aigov_metrics_batch_observe(aigov_metrics_batch_t *b, void *mem, aigov_metric_t m,
                                 const unsigned *lv, uint64_t value)
{
    hslot_t *h;

    if ((unsigned) m >= AIGOV_M_COUNT_ || families[m].type != T_HISTOGRAM)
        return;
    h = b ? (hslot_t *) batch_slot((uint64_t *) b->h, sizeof(hslot_t) / 8, BATCH_HISTS,
                                   make_key(m, lv), &b->used)
          : NULL;
    if (h == NULL) {
        aigov_metrics_observe(mem, m, lv, value);
        return;
    }
    h->b[bucket_of(&families[m], value)]++;
    h->sum += value;
}

void aigov_metrics_batch_flush(aigov_metrics_batch_t *b, void *mem)
{
    size_t i, k;

    if (b == NULL || b->used == 0)
        return;
    for (i = 0; i < BATCH_COUNTERS; i++) {
        if (b->c[i].key == 0)
            continue;
        if (b->c[i].v != 0)
            add_key(mem, b->c[i].key, b->c[i].v);
        b->c[i].key = b->c[i].v = 0;
    }
    for (i = 0; i < BATCH_HISTS; i++) {
        hslot_t *h;

        if (b->h[i].key == 0)
            continue;
        if ((h = hist_key(mem, b->h[i].key)) != NULL) {
            for (k = 0; k < HBUCKETS; k++)
                if (b->h[i].b[k])
                    __atomic_fetch_add(&h->b[k], b->h[i].b[k], __ATOMIC_RELAXED);
            __atomic_fetch_add(&h->sum, b->h[i].sum, __ATOMIC_RELAXED);
        }
        memset(&b->h[i], 0, sizeof(b->h[i]));
    }
    b->used = 0;
}

/* ---- fixed label values ---- */

unsigned aigov_metrics_endpoint(aigov_endpoint_t ep)
{
    const char *n = aigov_endpoint_name(ep);

    /* a kind without a name would share "unknown" with others */
    return (n == NULL || n[0] == '\0' || (unsigned) ep > 1023) ? 0 : (unsigned) ep;
}

unsigned aigov_metrics_operation(aigov_endpoint_t ep)
{
    switch (ep) {
    case AIGOV_EP_CHAT:
    case AIGOV_EP_MESSAGES:
    case AIGOV_EP_RESPONSES:
        return 0;
    case AIGOV_EP_COMPLETIONS:
        return 1;
    case AIGOV_EP_EMBEDDINGS:
        return 2;
    default:
        return 3;
    }
}

unsigned aigov_metrics_verdict(const char *v)
{
    unsigned i;

    for (i = 0; v && i < NB(verdicts) - 1; i++)
        if (strcmp(v, verdicts[i]) == 0)
            return i;
    return NB(verdicts) - 1;
}

unsigned aigov_metrics_status(int status)
{
    return status > 0 && status <= 999 ? (unsigned) status : 0;
}

/* lib/quota names the limit first in its sentence */
unsigned aigov_metrics_quota_limit(const char *msg)
{
    static const struct { const char *prefix; unsigned v; } map[] = {
        { "requests_per_minute", AIGOV_ML_REQUESTS_PER_MINUTE },
        { "tokens_per_minute", AIGOV_ML_TOKENS_PER_MINUTE },
        { "tokens_per_day", AIGOV_ML_TOKENS_PER_DAY },
        { "too many callers", AIGOV_ML_CAPACITY },
    };
    size_t i;

    for (i = 0; msg && i < NB(map); i++)
        if (strncmp(msg, map[i].prefix, strlen(map[i].prefix)) == 0)
            return map[i].v;
    return AIGOV_ML_OTHER;
}

unsigned aigov_metrics_quota_store(const char *store)
{
    if (store && strcmp(store, "redis") == 0)
        return AIGOV_MQ_REDIS;
    if (store && strcmp(store, "local") == 0)
        return AIGOV_MQ_LOCAL;
    return AIGOV_MQ_NONE;
}

/* ---- exposition ---- */

typedef struct {
    char    *p;
    size_t   len, cap;
    int      oom;
} buf_t;

static void put(buf_t *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 16384;
        char *p;

        while (b->len + n + 1 > cap)
            cap *= 2;
        p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void puts_(buf_t *b, const char *s)
{
    put(b, s, strlen(s));
}

static void putf(buf_t *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        put(b, tmp, (size_t) n < sizeof(tmp) ? (size_t) n : sizeof(tmp) - 1);
}

/* A plain decimal: no exponent, no trailing zeros ("0.000025", "2.56"). */
static void put_num(buf_t *b, double v)
{
    char tmp[64];
    size_t n;

    if (v == (double) (long long) v && v < 9e15 && v > -9e15) {
        putf(b, "%lld", (long long) v);
        return;
    }
    n = (size_t) snprintf(tmp, sizeof(tmp), "%.9f", v);
    while (n > 1 && tmp[n - 1] == '0')
        n--;
    if (n > 1 && tmp[n - 1] == '.')
        n--;
    put(b, tmp, n);
}

/* Label values are escaped as the text format wants: \\ \" \n. */
static void put_escaped(buf_t *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            put(b, "\\\\", 2);
        else if (*s == '"')
            put(b, "\\\"", 2);
        else if (*s == '\n')
            put(b, "\\n", 2);
        else
            put(b, s, 1);
    }
}

static const char *label_value(const void *mem, kind_t k, unsigned v, char *tmp, size_t cap)
{
    const char *s;

    switch (k) {
    case K_NAME:
        s = aigov_metrics_name_of(mem, v);
        return s ? s : "other";
    case K_ENDPOINT:
        s = v ? aigov_endpoint_name((aigov_endpoint_t) v) : NULL;
        return s && s[0] ? s : endpoint_kinds[0];
    case K_STATUS:
        snprintf(tmp, cap, "%u", v);
        return tmp;
    case K_DECISION:
        return v < NB(decisions) ? decisions[v] : "other";
    case K_STAGE:
        return v < NB(stages) ? stages[v] : "other";
    case K_VERDICT:
        return v < NB(verdicts) ? verdicts[v] : "other";
    case K_LIMIT:
        return v < NB(limits) ? limits[v] : "other";
    case K_TOKEN:
        return v < NB(token_types) ? token_types[v] : "other";
    case K_OPERATION:
        return v < NB(operations) ? operations[v] : "other";
    case K_USAGE:
        return v < NB(usages) ? usages[v] : "other";
    case K_STORE:
        return v < NB(stores) ? stores[v] : "other";
    }
    return "other";
}

/* {a="x",b="y"} with an optional extra label (le) last. */
static void put_labels(buf_t *b, const void *mem, const family_t *f, uint64_t key,
                       const char *le)
{
    char tmp[16];
    unsigned i;

    if (f->nlabels == 0 && le == NULL)
        return;
    put(b, "{", 1);
    for (i = 0; i < f->nlabels; i++) {
        unsigned v = (unsigned) (key >> (10 * i)) & 1023;

        if (i)
            put(b, ",", 1);
        puts_(b, f->labels[i]);
        put(b, "=\"", 2);
        put_escaped(b, label_value(mem, f->kinds[i], v, tmp, sizeof(tmp)));
        put(b, "\"", 1);
    }
    if (le) {
        if (f->nlabels)
            put(b, ",", 1);
        putf(b, "le=\"%s\"", le);
    }
    put(b, "}", 1);
}

static void put_histogram(buf_t *b, const void *mem, const family_t *f, const hslot_t *h,
                          uint64_t key)
{
    uint64_t cum = 0;
    size_t i;

    for (i = 0; i <= f->nbounds; i++) {
        char le[64];

        cum += __atomic_load_n(&h->b[i], __ATOMIC_RELAXED);
        if (i < f->nbounds) {
            buf_t nb = { 0 };

            put_num(&nb, (double) f->bounds[i] / f->scale);
            snprintf(le, sizeof(le), "%s", nb.p ? nb.p : "0");
            free(nb.p);
        } else {
            strcpy(le, "+Inf");
        }
        putf(b, "%s_bucket", f->name);
        put_labels(b, mem, f, key, le);
        putf(b, " %llu\n", (unsigned long long) cum);
    }
    putf(b, "%s_sum", f->name);
    put_labels(b, mem, f, key, NULL);
    put(b, " ", 1);
    put_num(b, (double) __atomic_load_n(&h->sum, __ATOMIC_RELAXED) / f->scale);
    putf(b, "\n%s_count", f->name);
    put_labels(b, mem, f, key, NULL);
    putf(b, " %llu\n", (unsigned long long) cum);
}

char *aigov_metrics_text(const void *mem, const aigov_metrics_gauge_t *extra, size_t nextra,
                         size_t *len)
{
    const head_t *h = head(mem);
    const cslot_t *cs = counters(mem);
    const hslot_t *hs = hists(mem);
    buf_t b = { 0 };
    unsigned m;
    size_t i;

    for (m = 0; m < AIGOV_M_COUNT_; m++) {
        const family_t *f = &families[m];
        uint64_t want = make_key((aigov_metric_t) m, NULL) & ~((1ULL << 50) - 1);
        int seen = 0;

        putf(&b, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
             f->type == T_COUNTER ? "counter" : f->type == T_GAUGE ? "gauge" : "histogram");

        if (f->type == T_HISTOGRAM) {
            for (i = 0; i < h->nhists; i++) {
                uint64_t k = __atomic_load_n(&hs[i].key, __ATOMIC_ACQUIRE);

                if ((k & ~((1ULL << 50) - 1)) == want)
                    put_histogram(&b, mem, f, &hs[i], k);
            }
            continue;
        }
        for (i = 0; i < h->ncounters; i++) {
            uint64_t k = __atomic_load_n(&cs[i].key, __ATOMIC_ACQUIRE);
            uint64_t v;

            if ((k & ~((1ULL << 50) - 1)) != want)
                continue;
            v = __atomic_load_n(&cs[i].v, __ATOMIC_RELAXED);
            puts_(&b, f->name);
            put_labels(&b, mem, f, k, NULL);
            put(&b, " ", 1);
            if (f->type == T_GAUGE)
                putf(&b, "%lld", (long long) v);
            else
                put_num(&b, f->scale == 1 ? (double) v : (double) v / f->scale);
            put(&b, "\n", 1);
            seen = 1;
        }
        /* a family without labels always shows, at 0 before its first count */
        if (!seen && f->nlabels == 0)
            putf(&b, "%s 0\n", f->name);
    }

    for (i = 0; i < nextra; i++) {
        putf(&b, "# HELP %s %s\n# TYPE %s gauge\n%s ", extra[i].name, extra[i].help,
             extra[i].name, extra[i].name);
        put_num(&b, extra[i].value);
        put(&b, "\n", 1);
    }

    if (b.oom) {
        free(b.p);
        return NULL;
    }
    if (len)
        *len = b.len;
    return b.p;
}

/* ---- names from policies ---- */

typedef struct {
    const aigov_policy_t  *p;
    unsigned              *rules;
    size_t                 nrules;
} pol_t;

typedef struct {
    const char  *name;
    unsigned     id;
} lit_t;

typedef struct {
    const aigov_glob_t  *g;
    unsigned             id;
} glob_t_;

struct aigov_metrics_names_s {
    void      *mem;
    pol_t     *pol;
    size_t     npol;
    lit_t     *lit;       /* open addressing, nlitcap slots (a power of 2) */
    size_t     nlit, nlitcap;
    glob_t_   *globs;
    size_t     nglobs;
    unsigned   id_default, id_none;
};

aigov_metrics_names_t *aigov_metrics_names_new(void *mem)
{
    aigov_metrics_names_t *n = calloc(1, sizeof(*n));

    if (n == NULL)
        return NULL;
    n->mem = mem;
    n->id_default = aigov_metrics_name(mem, "default");
    n->id_none = aigov_metrics_name(mem, "none");
    return n;
}

void aigov_metrics_names_free(aigov_metrics_names_t *n)
{
    size_t i;

    if (n == NULL)
        return;
    for (i = 0; i < n->npol; i++)
        free(n->pol[i].rules);
    free(n->pol);
    free(n->lit);
    free(n->globs);
    free(n);
}

static lit_t *lit_slot(lit_t *t, size_t cap, const char *name)
{
    size_t at = fnv(name, strlen(name)) & (cap - 1);

    while (t[at].name && strcmp(t[at].name, name) != 0)
        at = (at + 1) & (cap - 1);
    return &t[at];
}

static int add_literal(aigov_metrics_names_t *n, const char *name)
{
    lit_t *s;

    if (n->nlit * 2 + 2 > n->nlitcap) {
        size_t cap = n->nlitcap ? n->nlitcap * 2 : 16, i;
        lit_t *t = calloc(cap, sizeof(*t));

        if (t == NULL)
            return -1;
        for (i = 0; i < n->nlitcap; i++)
            if (n->lit[i].name)
                *lit_slot(t, cap, n->lit[i].name) = n->lit[i];
        free(n->lit);
        n->lit = t;
        n->nlitcap = cap;
    }
    s = lit_slot(n->lit, n->nlitcap, name);
    if (s->name == NULL) {
        s->name = name;
        s->id = aigov_metrics_name(n->mem, name);
        n->nlit++;
    }
    return 0;
}

static int add_glob(aigov_metrics_names_t *n, const aigov_glob_t *g)
{
    glob_t_ *v;
    size_t i;

    for (i = 0; i < n->nglobs; i++)
        if (strcmp(n->globs[i].g->text, g->text) == 0)
            return 0;
    v = realloc(n->globs, (n->nglobs + 1) * sizeof(*v));
    if (v == NULL)
        return -1;
    n->globs = v;
    v[n->nglobs].g = g;
    v[n->nglobs].id = aigov_metrics_name(n->mem, g->text);
    n->nglobs++;
    return 0;
}

int aigov_metrics_names_add_policy(aigov_metrics_names_t *n, const aigov_policy_t *p)
{
    pol_t *v;
    size_t i, j;

    for (i = 0; i < n->npol; i++)
        if (n->pol[i].p == p)
            return 0;
    v = realloc(n->pol, (n->npol + 1) * sizeof(*v));
    if (v == NULL)
        return -1;
    n->pol = v;
    v = &n->pol[n->npol];
    v->p = p;
    v->nrules = p->nrules;
    v->rules = calloc(p->nrules ? p->nrules : 1, sizeof(unsigned));
    if (v->rules == NULL)
        return -1;
    n->npol++;

    for (i = 0; i < p->nrules; i++) {
        const aigov_rule_t *r = &p->rules[i];

        v->rules[i] = aigov_metrics_name(n->mem, r->name);
        for (j = 0; j < r->nmodels; j++) {
            int rc = r->models[j].literal ? add_literal(n, r->models[j].lit)
                                          : add_glob(n, &r->models[j]);
            if (rc != 0)
                return -1;
        }
    }
    return 0;
}

unsigned aigov_metrics_names_rule(const aigov_metrics_names_t *n, const aigov_policy_t *p,
                                  int rule_index)
{
    size_t i;

    if (n == NULL || p == NULL)
        return n ? n->id_none : 0;
    for (i = 0; i < n->npol; i++) {
        if (n->pol[i].p != p)
            continue;
        if (rule_index < 0)
            return n->id_default;
        return (size_t) rule_index < n->pol[i].nrules ? n->pol[i].rules[rule_index] : 0;
    }
    return n->id_none;
}

unsigned aigov_metrics_names_model(const aigov_metrics_names_t *n, const char *model)
{
    size_t i, len;

    if (n == NULL)
        return 0;
    if (model == NULL)
        return n->id_none;
    if (n->nlit) {
        const lit_t *s = lit_slot(n->lit, n->nlitcap, model);

        if (s->name)
            return s->id;
    }
    len = strlen(model);
    for (i = 0; i < n->nglobs; i++)
        if (aigov_glob_match(n->globs[i].g, model, len))
            return n->globs[i].id;
    return 0;
}
