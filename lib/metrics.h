/*
 * metrics: the gateway's Prometheus counters and histograms, in a block of
 * caller-provided memory (an nginx shared zone in the module, a plain
 * buffer in tests), and the text exposition format that reads them.
 *
 * What it does: every worker adds to the same block with atomic
 * operations, without a lock; a scrape reads it while workers write. The
 * block holds no pointers, only indexes, so every process may map it
 * anywhere, and a reload that keeps the zone keeps the counts.
 *
 * Series: a metric family (aigov_metric_t) and up to five label values,
 * each a small number whose meaning the family's label kind gives (an
 * endpoint kind, a status code, a verdict, or a name from the block's name
 * table). The pair is packed into one 64-bit key; series live in open-
 * addressing tables and are claimed by compare-and-swap on the key the
 * first time they are counted, never removed. A series that finds no room
 * within 64 slots is not created: the count goes to
 * aigov_metrics_dropped_series_total instead, so a full table shows and
 * the exposition never repeats a series.
 *
 * Names (models, rules, plugins, refusal codes) are interned into a table
 * of 1023 entries plus "other" (id 0): the same string always has the same
 * id, in every process and across reloads, so the counts of an old policy
 * and a new one meet in one block without being mixed up. A name longer
 * than AIGOV_METRICS_NAME_MAX bytes, or one that finds the table full,
 * is counted as "other". Callers intern names from configuration (policy
 * rule names, the models a policy names, plugin names) and from their own
 * code (refusal codes); never from a request, so that a caller cannot
 * grow the label sets.
 *
 * Histograms keep one counter per bucket (not cumulative) and the sum, in
 * integer units (microseconds, nanoseconds or tokens); the exposition
 * cumulates the buckets and derives _count from them, so a scrape is
 * consistent even when it races an observation.
 *
 * Limits: 5 labels per series, label values below 1024, name table 1024
 * entries. aigov_metrics_capacity says how many series a block holds.
 */
#ifndef AIGOV_METRICS_H
#define AIGOV_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "request.h"

#define AIGOV_METRICS_NAME_MAX   119
#define AIGOV_METRICS_NAMES      1024
#define AIGOV_METRICS_LABELS     5

typedef enum {
    AIGOV_M_REQUESTS = 0,        /* endpoint model rule decision status */
    AIGOV_M_REFUSALS,            /* code */
    AIGOV_M_FILTER_VERDICTS,     /* plugin stage verdict */
    AIGOV_M_PLUGIN_ERRORS,       /* plugin stage */
    AIGOV_M_PLUGIN_CALLS,        /* plugin */
    AIGOV_M_PLUGIN_SECONDS,      /* plugin; nanoseconds */
    AIGOV_M_TOKEN_USAGE,         /* operation model token_type; histogram */
    AIGOV_M_SERVER_DURATION,     /* operation model; histogram, µs */
    AIGOV_M_TIME_TO_FIRST_TOKEN, /* operation model; histogram, µs */
    AIGOV_M_TIME_PER_TOKEN,      /* operation model; histogram, µs */
    AIGOV_M_GATEWAY_DURATION,    /* endpoint; histogram, µs */
    AIGOV_M_QUOTA_ADMISSIONS,    /* limit */
    AIGOV_M_QUOTA_REFUSALS,      /* limit */
    AIGOV_M_QUOTA_OPEN,          /* gauge */
    AIGOV_M_QUOTA_SETTLEMENTS,   /* usage */
    AIGOV_M_QUOTA_STORE,         /* store */
    AIGOV_M_AUDIT_RECORDS,
    AIGOV_M_AUDIT_BYTES,
    AIGOV_M_AUDIT_FAILURES,
    AIGOV_M_AUDIT_REFUSALS,
    AIGOV_M_AUDIT_CHECKPOINTS,
    AIGOV_M_ID_VERIFIED,
    AIGOV_M_ID_CACHE_HITS,
    AIGOV_M_ID_SIGNATURES,
    AIGOV_M_ID_REFUSALS,         /* code */
    AIGOV_M_BODY_KEPT,           /* gauge, bytes */
    AIGOV_M_BODY_LENT,           /* gauge, bytes */
    AIGOV_M_BODY_MISSED,
    AIGOV_M_DROPPED,
    AIGOV_M_COUNT_
} aigov_metric_t;

/* Values of the fixed label kinds. */
enum { AIGOV_MD_ALLOW = 0, AIGOV_MD_DENY };
enum { AIGOV_MS_REQUEST = 0, AIGOV_MS_RESPONSE };
enum { AIGOV_MT_INPUT = 0, AIGOV_MT_OUTPUT };
enum { AIGOV_MU_REPORTED = 0, AIGOV_MU_ESTIMATED, AIGOV_MU_NONE };
/* where a quota counted or refused a request: the audit record's quota_store */
enum { AIGOV_MQ_REDIS = 0, AIGOV_MQ_LOCAL, AIGOV_MQ_NONE };
enum {
    AIGOV_ML_REQUESTS_PER_MINUTE = 0,
    AIGOV_ML_TOKENS_PER_MINUTE,
    AIGOV_ML_TOKENS_PER_DAY,
    AIGOV_ML_CAPACITY,           /* too many subjects tracked at once */
    AIGOV_ML_OTHER
};

/* Smallest block, and the series a block of size bytes holds. */
size_t aigov_metrics_min_size(void);
void aigov_metrics_capacity(size_t size, size_t *counters, size_t *histograms);

/* Prepares mem (8-byte aligned, size bytes). 0 when set up afresh, 1 when
 * it already held a block of this size (a reload: counts carry on), -1
 * when too small or misaligned. Not safe against concurrent use: call it
 * before workers touch the block. */
int aigov_metrics_init(void *mem, size_t size);

/* The id of name (interning it), 0 ("other") when the table is full or
 * the name is too long or empty. Safe to call from any process at any
 * time. */
unsigned aigov_metrics_name(void *mem, const char *name);
/* The name of id, NULL when unused. */
const char *aigov_metrics_name_of(const void *mem, unsigned id);

/* Adds delta (may be negative for a gauge) to the series of family m with
 * label values lv (as many as the family has; NULL when none). */
void aigov_metrics_add(void *mem, aigov_metric_t m, const unsigned *lv, int64_t delta);
/* One observation of a histogram family, in its unit. */
void aigov_metrics_observe(void *mem, aigov_metric_t m, const unsigned *lv, uint64_t value);
/* The current value of a counter or gauge series (0 when never counted). */
int64_t aigov_metrics_get(const void *mem, aigov_metric_t m, const unsigned *lv);

/* A process's batch: add and observe into it without atomics, then flush
 * it into the block (what did not fit in the batch went to the block at
 * once). A scrape sees what was flushed. Process-local memory. */
typedef struct aigov_metrics_batch_s aigov_metrics_batch_t;

aigov_metrics_batch_t *aigov_metrics_batch_new(void);
void aigov_metrics_batch_free(aigov_metrics_batch_t *b);
void aigov_metrics_batch_add(aigov_metrics_batch_t *b, void *mem, aigov_metric_t m,
                             const unsigned *lv, int64_t delta);
void aigov_metrics_batch_observe(aigov_metrics_batch_t *b, void *mem, aigov_metric_t m,
                                 const unsigned *lv, uint64_t value);
/* 1 when something waits to be flushed. */
int aigov_metrics_batch_pending(const aigov_metrics_batch_t *b);
void aigov_metrics_batch_flush(aigov_metrics_batch_t *b, void *mem);

/* Label values of the fixed kinds. */
unsigned aigov_metrics_endpoint(aigov_endpoint_t ep);     /* unknown kinds: 0 */
unsigned aigov_metrics_operation(aigov_endpoint_t ep);    /* chat, text_completion, ... */
unsigned aigov_metrics_verdict(const char *verdict);      /* the filter record's */
unsigned aigov_metrics_status(int status);                /* 0..999, else 0 */
/* Which limit refused, from lib/quota's refusal sentence. */
unsigned aigov_metrics_quota_limit(const char *msg);
/* "redis", "local" or "none"; anything else is "none" */
unsigned aigov_metrics_quota_store(const char *store);

/* A gauge the caller computes at scrape time (audit lag, ...). */
typedef struct {
    const char  *name;
    const char  *help;
    double       value;
} aigov_metrics_gauge_t;

/* The whole exposition (text format 0.0.4), families in a fixed order,
 * then the caller's gauges. malloc'd, caller frees; NULL when out of
 * memory. */
char *aigov_metrics_text(const void *mem, const aigov_metrics_gauge_t *extra,
                         size_t nextra, size_t *len);

/* ---- label values from policies ---------------------------------------- */

/* The names a configuration's policies give: rule names, and the models
 * their `models:` conditions name (a literal model is its own label; a
 * request model that only matches a glob is labelled with the glob as
 * written, "gpt-4o*"; any other model is "other"). Built once per
 * configuration, read-only afterwards; process-local memory. */
typedef struct aigov_metrics_names_s aigov_metrics_names_t;

aigov_metrics_names_t *aigov_metrics_names_new(void *mem);
void aigov_metrics_names_free(aigov_metrics_names_t *n);
/* Interns p's rule names and models. 0 or -1 (out of memory). */
int aigov_metrics_names_add_policy(aigov_metrics_names_t *n, const aigov_policy_t *p);
/* The label of a decision's rule: its name, "default", or "none" when p
 * is NULL or was not added. */
unsigned aigov_metrics_names_rule(const aigov_metrics_names_t *n, const aigov_policy_t *p,
                                  int rule_index);
/* The label of a request's model ("none" when NULL). */
unsigned aigov_metrics_names_model(const aigov_metrics_names_t *n, const char *model);

#endif
