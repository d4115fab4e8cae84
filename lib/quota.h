/*
 * quota: per-subject request and token counters in a caller-provided block
 * of memory (nginx shared memory in the module, a plain buffer in tests).
 *
 * The library takes no lock: the caller holds one around every call. The
 * block holds no pointers, only offsets from its start, so any process may
 * map it anywhere.
 *
 * Windows are fixed: the calendar minute (now / 60) and the UTC day
 * (now / 86400). A window's counters restart when it ends; a burst at the
 * end of one minute and the start of the next may therefore reach twice
 * the per-minute limit.
 *
 * Tokens: on admission the caller reserves what the request may use
 * (prompt estimate + max_tokens); settle() replaces the reservation with
 * the usage the answer reports. A single request that needs more than a
 * whole window's budget is admitted only into an empty window, so that it
 * can ever run at all.
 *
 * Capacity: a fixed open-addressing table, one slot per subject, probed
 * over at most 64 slots from the subject's home. A slot whose counters no
 * longer count (its minute is over and it holds no tokens for today) is
 * reused. When every slot in reach still counts, admission fails closed:
 * the request is refused (429) with a Retry-After of when a slot frees,
 * because an untracked caller would escape its limits. Size the block for
 * the number of subjects active in a day (aigov_quota_capacity).
 *
 * Subjects are compared by a 64-bit hash of the whole subject, its length
 * and its first 72 bytes.
 */
#ifndef AIGOV_QUOTA_H
#define AIGOV_QUOTA_H

#include <stddef.h>
#include <time.h>

typedef struct {
    long long  rpm;   /* requests per minute, 0 = none */
    long long  tpm;   /* tokens per minute, 0 = none */
    long long  tpd;   /* tokens per UTC day, 0 = none */
} aigov_quota_limits_t;

/* What admission charged, to be handed back to settle(). Plain data: keep
 * it in the request context. */
typedef struct {
    long long  reserved;
    long long  minute;    /* window the reservation went into */
    long long  day;
    unsigned   charged;   /* which token counters hold the reservation */
} aigov_quota_ticket_t;

typedef struct {
    long long  requests;        /* this minute */
    long long  minute_tokens;
    long long  day_tokens;      /* today; counted only under a tokens_per_day limit */
} aigov_quota_usage_t;

/* Smallest block aigov_quota_init accepts, and how many subjects a block of
 * size bytes tracks. */
size_t aigov_quota_min_size(void);
size_t aigov_quota_capacity(size_t size);

/* Prepares mem (8-byte aligned). Returns 0 when it was set up afresh, 1 when
 * it already held a table of this size (after a reload: counters carry on),
 * -1 when the block is too small or misaligned. */
int aigov_quota_init(void *mem, size_t size);

/* Counts one request by subject and reserves reserve_tokens. Returns 0 when
 * admitted (ticket filled), 1 when refused (*retry_after in seconds, msg
 * says which limit, in a sentence for the caller), -1 when mem is not an
 * initialised block. Limits all zero admit without touching the table. */
int aigov_quota_admit(void *mem, const char *subject, const aigov_quota_limits_t *lim,
                      long long reserve_tokens, time_t now,
                      aigov_quota_ticket_t *ticket, long *retry_after,
                      char *msg, size_t msglen);

/* Replaces the ticket's reservation with actual tokens (pass the reserved
 * amount when the answer gave no usage). If the window of the reservation
 * has ended, nothing is credited back into the new one; usage above the
 * reservation is charged to the current window. */
void aigov_quota_settle(void *mem, const char *subject, const aigov_quota_ticket_t *ticket,
                        long long actual, time_t now);

/* Current counters of subject; 1 when tracked, 0 when not. */
int aigov_quota_usage(void *mem, const char *subject, time_t now, aigov_quota_usage_t *u);

/* Subjects currently tracked, refusals because the table was full, slots
 * reused. For metrics. */
void aigov_quota_stats(void *mem, size_t *tracked, unsigned long long *refused_full,
                       unsigned long long *reused);

#endif
