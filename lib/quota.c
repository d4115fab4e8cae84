/* quota: fixed-window counters per subject in a position-independent block. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "quota.h"

#define QUOTA_MAGIC    0x41494751554f5441ULL   /* "AIGQUOTA" */
#define QUOTA_VERSION  1u
#define QUOTA_KEYLEN   72
#define QUOTA_PROBE    64
#define MIN_SLOTS      16

#define CHARGED_MINUTE  1u
#define CHARGED_DAY     2u

typedef struct {
    uint64_t  magic;
    uint32_t  version;
    uint32_t  nslots;
    uint64_t  size;
    uint64_t  refused_full;
    uint64_t  reused;
    uint64_t  pad[3];
} hdr_t;

typedef struct {
    uint64_t  hash;           /* 0: never used */
    uint32_t  len;
    uint32_t  pad;
    int64_t   minute;
    int64_t   requests;
    int64_t   minute_tokens;
    int64_t   day;
    int64_t   day_tokens;
    int64_t   last_seen;
    char      key[QUOTA_KEYLEN];
} slot_t;

#define SLOTS_OFF  ((sizeof(hdr_t) + 63) & ~(size_t) 63)

static hdr_t *hdr(void *mem)
{
    return mem;
}

static slot_t *slot_at(void *mem, size_t i)
{
    return (slot_t *) ((char *) mem + SLOTS_OFF) + i;
}

size_t aigov_quota_min_size(void)
{
    return SLOTS_OFF + MIN_SLOTS * sizeof(slot_t);
}

size_t aigov_quota_capacity(size_t size)
{
    size_t n;

    if (size < aigov_quota_min_size())
        return 0;
    n = (size - SLOTS_OFF) / sizeof(slot_t);
    return n > UINT32_MAX ? UINT32_MAX : n;
}

int aigov_quota_init(void *mem, size_t size)
{
    hdr_t *h = mem;
    size_t n = aigov_quota_capacity(size);

    if (!mem || ((uintptr_t) mem & 7) || n == 0)
        return -1;
    if (h->magic == QUOTA_MAGIC && h->version == QUOTA_VERSION && h->size == size &&
        h->nslots == n)
        return 1;
    memset(mem, 0, SLOTS_OFF + n * sizeof(slot_t));
    h->version = QUOTA_VERSION;
    h->nslots = (uint32_t) n;
    h->size = size;
    h->magic = QUOTA_MAGIC;
    return 0;
}

static uint64_t hash_of(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;   /* FNV-1a */

    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char) s[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;                         /* spread the low bits used for the home slot */
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h ? h : 1;
}

static int same(const slot_t *s, uint64_t h, const char *subj, size_t len)
{
    size_t k = len < QUOTA_KEYLEN ? len : QUOTA_KEYLEN;

    return s->hash == h && s->len == len && memcmp(s->key, subj, k) == 0;
}

/* A slot whose counters no longer restrict anyone. */
static int stale(const slot_t *s, int64_t minute, int64_t day)
{
    return s->minute < minute && (s->day < day || s->day_tokens <= 0);
}

/* Seconds until slot s turns stale. */
static long until_stale(const slot_t *s, time_t now, int64_t day)
{
    if (s->day >= day && s->day_tokens > 0)
        return (long) (86400 - now % 86400);
    return (long) (60 - now % 60);
}

static void roll(slot_t *s, int64_t minute, int64_t day)
{
    if (s->minute < minute) {
        s->minute = minute;
        s->requests = 0;
        s->minute_tokens = 0;
    }
    if (s->day < day) {
        s->day = day;
        s->day_tokens = 0;
    }
}

static int valid(void *mem)
{
    hdr_t *h = mem;

    return mem && h->magic == QUOTA_MAGIC && h->version == QUOTA_VERSION && h->nslots > 0;
}

/* The subject's slot, or with insert a fresh or reused one; NULL when
 * absent (or, with insert, when every slot in reach still counts). */
static slot_t *find(void *mem, const char *subj, int insert, time_t now, long *wait)
{
    hdr_t *h = hdr(mem);
    size_t len = strlen(subj), n = h->nslots, reach = n < QUOTA_PROBE ? n : QUOTA_PROBE;
    uint64_t hv = hash_of(subj, len);
    int64_t minute = now / 60, day = now / 86400;
    slot_t *free_slot = NULL;

    *wait = 86400;
    for (size_t i = 0; i < reach; i++) {
        slot_t *s = slot_at(mem, (size_t) ((hv + i) % n));
        if (s->hash == 0) {
            if (!free_slot)
                free_slot = s;
            break;      /* slots are never emptied, so the subject is not further on */
        }
        if (same(s, hv, subj, len))
            return s;
        if (!free_slot && stale(s, minute, day))
            free_slot = s;
        if (until_stale(s, now, day) < *wait)
            *wait = until_stale(s, now, day);
    }
    if (!insert || !free_slot)
        return NULL;
    if (free_slot->hash)
        h->reused++;
    memset(free_slot, 0, sizeof(*free_slot));
    free_slot->hash = hv;
    free_slot->len = (uint32_t) len;
    memcpy(free_slot->key, subj, len < QUOTA_KEYLEN ? len : QUOTA_KEYLEN);
    free_slot->minute = minute;
    free_slot->day = day;
    return free_slot;
}

int aigov_quota_admit(void *mem, const char *subject, const aigov_quota_limits_t *lim,
                      long long reserve, time_t now, aigov_quota_ticket_t *ticket,
                      long *retry_after, char *msg, size_t msglen)
{
    int64_t minute = now / 60, day = now / 86400;
    long to_minute = (long) (60 - now % 60), to_day = (long) (86400 - now % 86400);
    long wait = 0;
    slot_t *s;

    memset(ticket, 0, sizeof(*ticket));
    *retry_after = 0;
    if (msglen)
        msg[0] = '\0';
    if (!valid(mem))
        return -1;
    if (!lim->rpm && !lim->tpm && !lim->tpd)
        return 0;
    if (reserve < 0)
        reserve = 0;
    if (strlen(subject) > UINT32_MAX)
        return -1;

    s = find(mem, subject, 1, now, &wait);
    if (!s) {
        hdr(mem)->refused_full++;
        *retry_after = wait;
        snprintf(msg, msglen, "too many callers are being rate-limited at once; retry in %ld seconds",
                 wait);
        return 1;
    }
    roll(s, minute, day);
    s->last_seen = now;

    if (lim->tpd && s->day_tokens > 0 && s->day_tokens + reserve > lim->tpd) {
        *retry_after = to_day;
        snprintf(msg, msglen, "tokens_per_day limit of %lld reached (%lld used today); retry in %ld seconds",
                 lim->tpd, (long long) s->day_tokens, to_day);
        return 1;
    }
    if (lim->rpm && s->requests + 1 > lim->rpm) {
        *retry_after = to_minute;
        snprintf(msg, msglen, "requests_per_minute limit of %lld reached; retry in %ld seconds",
                 lim->rpm, to_minute);
        return 1;
    }
    if (lim->tpm && s->minute_tokens > 0 && s->minute_tokens + reserve > lim->tpm) {
        *retry_after = to_minute;
        snprintf(msg, msglen, "tokens_per_minute limit of %lld reached (%lld used, %lld more asked); "
                 "retry in %ld seconds", lim->tpm, (long long) s->minute_tokens, reserve, to_minute);
        return 1;
    }

    s->requests++;
    s->minute_tokens += reserve;
    ticket->charged = CHARGED_MINUTE;
    if (lim->tpd) {
        s->day_tokens += reserve;
        ticket->charged |= CHARGED_DAY;
    }
    ticket->reserved = reserve;
    ticket->minute = minute;
    ticket->day = day;
    return 0;
}

static void adjust(int64_t *counter, int same_window, long long delta)
{
    if (!same_window && delta < 0)
        return;     /* never credit a refund into a window it was not charged to */
    *counter += delta;
    if (*counter < 0)
        *counter = 0;
}

void aigov_quota_settle(void *mem, const char *subject, const aigov_quota_ticket_t *t,
                        long long actual, time_t now)
{
    int64_t minute = now / 60, day = now / 86400;
    long long delta;
    long wait;
    slot_t *s;

    if (!valid(mem) || !t->charged)
        return;
    if (actual < 0)
        actual = 0;
    s = find(mem, subject, 0, now, &wait);
    if (!s)
        return;
    roll(s, minute, day);
    delta = actual - t->reserved;
    if (t->charged & CHARGED_MINUTE)
        adjust(&s->minute_tokens, s->minute == t->minute, delta);
    if (t->charged & CHARGED_DAY)
        adjust(&s->day_tokens, s->day == t->day, delta);
}

int aigov_quota_usage(void *mem, const char *subject, time_t now, aigov_quota_usage_t *u)
{
    long wait;
    slot_t *s;

    memset(u, 0, sizeof(*u));
    if (!valid(mem) || !(s = find(mem, subject, 0, now, &wait)))
        return 0;
    if (s->minute == now / 60) {
        u->requests = s->requests;
        u->minute_tokens = s->minute_tokens;
    }
    if (s->day == now / 86400)
        u->day_tokens = s->day_tokens;
    return 1;
}

void aigov_quota_stats(void *mem, size_t *tracked, unsigned long long *refused_full,
                       unsigned long long *reused)
{
    hdr_t *h = mem;
    size_t n = 0;

    if (!valid(mem)) {
        *tracked = 0;
        *refused_full = *reused = 0;
        return;
    }
    for (size_t i = 0; i < h->nslots; i++)
        if (slot_at(mem, i)->hash)
            n++;
    *tracked = n;
    *refused_full = h->refused_full;
    *reused = h->reused;
}
