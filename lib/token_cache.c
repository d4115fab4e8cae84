/*
 * token_cache: tokens whose signature and claims already checked out, so a
 * client that sends the same token on every request pays a hash lookup
 * instead of an RSA or ECDSA verification.
 *
 * Keyed by the exact token bytes (hash, then full comparison). Chained hash
 * table plus a doubly linked LRU list; bounded in entries and in token bytes.
 * Only verified tokens get in, so an attacker cannot fill it with forgeries;
 * the hash is still seeded per cache so chains cannot be planned.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "identity_int.h"

#define MAX_BUCKETS (1u << 20)

typedef struct entry_s entry_t;
struct entry_s {
    entry_t *chain;             /* next in the same bucket */
    entry_t *prev, *next;       /* LRU list, most recent first */
    uint64_t hash;
    long long valid_from, valid_until;
    json_t *claims;
    size_t len;
    char tok[];
};

struct aigov_tcache_s {
    entry_t **buckets;
    size_t nbuckets;            /* power of two */
    entry_t *head, *tail;
    size_t count, bytes;
    size_t max_entries, max_bytes;
    uint64_t seed;
};

static uint64_t hash_bytes(uint64_t seed, const char *p, size_t len)
{
    /* Eight bytes a step, each word mixed by a multiply and a rotation,
     * then a final mix so the low bits (the bucket) depend on every input
     * byte. Tokens are a few hundred bytes: a byte-wise hash was most of
     * a cache hit's cost. */
    uint64_t h = 0xcbf29ce484222325ULL ^ seed ^ ((uint64_t) len << 32);
    size_t i = 0;

    for (; i + 8 <= len; i += 8) {
        uint64_t w;

        memcpy(&w, p + i, 8);
        h ^= w * 0x9e3779b97f4a7c15ULL;
        h = (h << 27 | h >> 37) * 0x100000001b3ULL;
    }
    for (; i < len; i++) {
        h ^= (unsigned char) p[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

aigov_tcache_t *aigov_tcache_new(size_t max_entries, size_t max_bytes)
{
    if (max_entries == 0 || max_bytes == 0)
        return NULL;
    if (max_entries > MAX_BUCKETS)
        max_entries = MAX_BUCKETS;
    aigov_tcache_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->nbuckets = 16;
    while (c->nbuckets < max_entries)
        c->nbuckets <<= 1;
    c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
    if (c->buckets == NULL) {
        free(c);
        return NULL;
    }
    c->max_entries = max_entries;
    c->max_bytes = max_bytes;
    if (RAND_bytes((unsigned char *) &c->seed, sizeof(c->seed)) != 1)
        c->seed = (uint64_t) (uintptr_t) c;
    return c;
}

static void unlink_entry(aigov_tcache_t *c, entry_t *e)
{
    entry_t **pp = &c->buckets[e->hash & (c->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->chain;
    *pp = e->chain;
    if (e->prev) e->prev->next = e->next; else c->head = e->next;
    if (e->next) e->next->prev = e->prev; else c->tail = e->prev;
    c->count--;
    c->bytes -= e->len;
    json_decref(e->claims);
    free(e);
}

void aigov_tcache_clear(aigov_tcache_t *c)
{
    if (c == NULL)
        return;
    while (c->head != NULL)
        unlink_entry(c, c->head);
}

void aigov_tcache_free(aigov_tcache_t *c)
{
    if (c == NULL)
        return;
    aigov_tcache_clear(c);
    free(c->buckets);
    free(c);
}

size_t aigov_tcache_count(const aigov_tcache_t *c)
{
    return c ? c->count : 0;
}

static entry_t *find(aigov_tcache_t *c, const char *tok, size_t len, uint64_t h)
{
    for (entry_t *e = c->buckets[h & (c->nbuckets - 1)]; e != NULL; e = e->chain)
        if (e->hash == h && e->len == len && memcmp(e->tok, tok, len) == 0)
            return e;
    return NULL;
}

json_t *aigov_tcache_get(aigov_tcache_t *c, const char *tok, size_t len, time_t now)
{
    if (c == NULL)
        return NULL;
    entry_t *e = find(c, tok, len, hash_bytes(c->seed, tok, len));
    if (e == NULL)
        return NULL;
    if ((long long) now < e->valid_from || (long long) now >= e->valid_until) {
        unlink_entry(c, e);
        return NULL;
    }
    if (c->head != e) {             /* move to the front */
        e->prev->next = e->next;
        if (e->next) e->next->prev = e->prev; else c->tail = e->prev;
        e->prev = NULL;
        e->next = c->head;
        c->head->prev = e;
        c->head = e;
    }
    return e->claims;
}

int aigov_tcache_put(aigov_tcache_t *c, const char *tok, size_t len, json_t *claims,
                     long long valid_from, long long valid_until)
{
    if (c == NULL || len > c->max_bytes || valid_from >= valid_until)
        return -1;
    uint64_t h = hash_bytes(c->seed, tok, len);
    entry_t *old = find(c, tok, len, h);
    if (old != NULL)
        unlink_entry(c, old);
    while (c->tail != NULL && (c->count >= c->max_entries || c->bytes + len > c->max_bytes))
        unlink_entry(c, c->tail);
    entry_t *e = malloc(sizeof(*e) + len);
    if (e == NULL)
        return -1;
    memcpy(e->tok, tok, len);
    e->len = len;
    e->hash = h;
    e->valid_from = valid_from;
    e->valid_until = valid_until;
    e->claims = json_incref(claims);
    size_t b = h & (c->nbuckets - 1);
    e->chain = c->buckets[b];
    c->buckets[b] = e;
    e->prev = NULL;
    e->next = c->head;
    if (c->head) c->head->prev = e; else c->tail = e;
    c->head = e;
    c->count++;
    c->bytes += len;
    return 0;
}
