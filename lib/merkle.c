/*
 * merkle: the RFC 9162 Merkle tree of the audit log.
 *
 * Leaves are SHA-256(0x00 || line), nodes SHA-256(0x01 || left || right),
 * and a tree of n leaves splits at the largest power of two below n. The
 * writer and the verifier only ever need the compact range (one hash per
 * set bit of the size); proofs need the leaf hashes and are built by the
 * tool, never by the module.
 */
#include <string.h>

#include "audit.h"
#include "sha256.h"


void aigov_leaf_hash(const void *data, size_t len, uint8_t out[32])
{
    static const uint8_t zero = 0x00;
    aigov_sha256_2(&zero, 1, data, len, out);
}

void aigov_node_hash(const uint8_t left[32], const uint8_t right[32], uint8_t out[32])
{
    uint8_t buf[65];
    buf[0] = 0x01;
    memcpy(buf + 1, left, 32);
    memcpy(buf + 33, right, 32);
    aigov_sha256_2(buf, sizeof(buf), NULL, 0, out);
}

void aigov_tree_init(aigov_tree_t *t)
{
    memset(t, 0, sizeof(*t));
}

/* Adding a subtree is a binary increment at its level: every full subtree
 * at the set bits from there up merges with the new one. */
void aigov_tree_append_subtree(aigov_tree_t *t, unsigned level, const uint8_t root[32],
                               aigov_node_made_fn made, void *ud)
{
    uint64_t at = t->size;
    unsigned l = level;
    uint8_t h[32];

    memcpy(h, root, 32);
    while (l < 63 && (at >> l) & 1) {
        aigov_node_hash(t->hash[l], h, h);
        l++;
        if (made)
            made(ud, l, at >> l, h);
    }
    memcpy(t->hash[l], h, 32);
    t->size = at + ((uint64_t) 1 << level);
}

void aigov_tree_append(aigov_tree_t *t, const uint8_t leaf_hash[32])
{
    aigov_tree_append_subtree(t, 0, leaf_hash, NULL, NULL);
}

void aigov_tree_root(const aigov_tree_t *t, uint8_t out[32])
{
    uint8_t r[32];
    int have = 0;

    if (t->size == 0) {
        aigov_sha256_2("", 0, NULL, 0, out);
        return;
    }
    /* Fold from the smallest subtree (rightmost) to the largest. */
    for (unsigned level = 0; level < 64; level++) {
        if (!((t->size >> level) & 1))
            continue;
        if (!have) {
            memcpy(r, t->hash[level], 32);
            have = 1;
        } else {
            aigov_node_hash(t->hash[level], r, r);
        }
    }
    memcpy(out, r, 32);
}

int aigov_tree_from_range(aigov_tree_t *t, uint64_t size, const uint8_t (*range)[32], size_t n)
{
    size_t i = 0;

    if ((size_t) __builtin_popcountll(size) != n)
        return -1;
    aigov_tree_init(t);
    t->size = size;
    for (int level = 63; level >= 0; level--)
        if ((size >> level) & 1)
            memcpy(t->hash[level], range[i++], 32);
    return 0;
}

size_t aigov_tree_range(const aigov_tree_t *t, uint8_t (*out)[32])
{
    size_t n = 0;
    for (int level = 63; level >= 0; level--)
        if ((t->size >> level) & 1)
            memcpy(out[n++], t->hash[level], 32);
    return n;
}

/* Largest power of two strictly below n (n >= 2). */
static uint64_t split(uint64_t n)
{
    uint64_t k = 1;
    while (k << 1 < n)
        k <<= 1;
    return k;
}

void aigov_merkle_root(const uint8_t (*leaves)[32], uint64_t n, uint8_t out[32])
{
    aigov_tree_t t;
    aigov_tree_init(&t);
    for (uint64_t i = 0; i < n; i++)
        aigov_tree_append(&t, leaves[i]);
    aigov_tree_root(&t, out);
}


/* PATH(m, D[0:n]) of RFC 9162, the audit path collected leaf side first,
 * over a tree whose first s leaves are known only by their compact range t
 * (a file that starts with a carry-over checkpoint; s may be 0) and the
 * rest by their hashes d[0..], from leaf s on. */
typedef struct {
    const aigov_tree_t *t;
    uint64_t            s;
    const uint8_t     (*d)[32];
} known_t;

/* MTH of leaves [a, b), or -1 when it lies inside the part known only by
 * the range (never the case for the siblings of a leaf at or after s). */
static int known_root(const known_t *k, uint64_t a, uint64_t b, uint8_t out[32])
{
    uint8_t l[32], r[32];
    uint64_t size = b - a, m;

    if (a >= k->s) {
        aigov_merkle_root(k->d + (a - k->s), size, out);
        return 0;
    }
    if (b <= k->s && (size & (size - 1)) == 0) {
        unsigned level = (unsigned) __builtin_ctzll(size);

        if (((k->s >> level) & 1) && (k->s & ~((2ULL << level) - 1)) == a) {
            memcpy(out, k->t->hash[level], 32);
            return 0;
        }
    }
    if (size <= 1)
        return -1;
    m = a + split(size);
    if (known_root(k, a, m, l) != 0 || known_root(k, m, b, r) != 0)
        return -1;
    aigov_node_hash(l, r, out);
    return 0;
}

static int path_known(const known_t *k, uint64_t a, uint64_t b, uint64_t m,
                      uint8_t (*proof)[32], int len)
{
    uint8_t sib[32];
    uint64_t c;

    if (b - a <= 1)
        return len;
    c = a + split(b - a);
    if (m < c) {
        len = path_known(k, a, c, m, proof, len);
        if (len < 0 || known_root(k, c, b, sib) != 0)
            return -1;
    } else {
        len = path_known(k, c, b, m, proof, len);
        if (len < 0 || known_root(k, a, c, sib) != 0)
            return -1;
    }
    memcpy(proof[len], sib, 32);
    return len + 1;
}

int aigov_inclusion_proof_from(const aigov_tree_t *start, const uint8_t (*leaves)[32],
                               uint64_t n, uint64_t index, uint8_t (*proof)[32])
{
    known_t k = { start, start->size, leaves };

    if (index < start->size || index >= n)
        return -1;
    return path_known(&k, 0, n, index, proof, 0);
}

/* All leaves at hand: nothing known only by a range. */
int aigov_inclusion_proof(const uint8_t (*leaves)[32], uint64_t n, uint64_t index,
                          uint8_t (*proof)[32])
{
    aigov_tree_t none;

    aigov_tree_init(&none);
    return aigov_inclusion_proof_from(&none, leaves, n, index, proof);
}

int aigov_inclusion_verify(uint64_t index, uint64_t size, const uint8_t leaf[32],
                           const uint8_t (*proof)[32], size_t proof_len,
                           const uint8_t root[32])
{
    uint64_t fn = index, sn;
    uint8_t r[32];

    if (index >= size || proof_len > 64)
        return -1;
    sn = size - 1;
    memcpy(r, leaf, 32);
    for (size_t i = 0; i < proof_len; i++) {
        if (sn == 0)
            return -1;
        if ((fn & 1) || fn == sn) {
            aigov_node_hash(proof[i], r, r);
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            aigov_node_hash(r, proof[i], r);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && memcmp(r, root, 32) == 0 ? 0 : -1;
}

/* SUBPROOF(m, D[0:n], b) of RFC 9162 2.1.4.1. */
static int subproof(const uint8_t (*d)[32], uint64_t m, uint64_t n, int b,
                    uint8_t (*proof)[32], int len)
{
    uint8_t h[32];
    uint64_t k;

    if (m == n) {
        if (b)
            return len;
        aigov_merkle_root(d, m, proof[len]);
        return len + 1;
    }
    k = split(n);
    if (m <= k) {
        len = subproof(d, m, k, b, proof, len);
        aigov_merkle_root(d + k, n - k, h);
    } else {
        len = subproof(d + k, m - k, n - k, 0, proof, len);
        aigov_merkle_root(d, k, h);
    }
    memcpy(proof[len], h, 32);
    return len + 1;
}

int aigov_consistency_proof(const uint8_t (*leaves)[32], uint64_t m, uint64_t n,
                            uint8_t (*proof)[32])
{
    if (m > n)
        return -1;
    if (m == 0 || m == n)
        return 0;
    return subproof(leaves, m, n, 1, proof, 0);
}

int aigov_consistency_verify(uint64_t m, uint64_t n, const uint8_t root_m[32],
                             const uint8_t root_n[32], const uint8_t (*proof)[32],
                             size_t proof_len)
{
    uint8_t fr[32], sr[32];
    uint64_t fn, sn;
    size_t i = 0;

    if (m > n || proof_len > 128)
        return -1;
    if (m == n)
        return proof_len == 0 && memcmp(root_m, root_n, 32) == 0 ? 0 : -1;
    if (m == 0)
        return proof_len == 0 ? 0 : -1;   /* the empty tree is a prefix of any */
    if (proof_len == 0)
        return -1;

    /* When m is a power of two, its root is the first node of the path and
     * the proof leaves it out. */
    if ((m & (m - 1)) == 0) {
        memcpy(fr, root_m, 32);
    } else {
        memcpy(fr, proof[0], 32);
        i = 1;
    }
    memcpy(sr, fr, 32);
    fn = m - 1;
    sn = n - 1;
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    for (; i < proof_len; i++) {
        if (sn == 0)
            return -1;
        if ((fn & 1) || fn == sn) {
            aigov_node_hash(proof[i], fr, fr);
            aigov_node_hash(proof[i], sr, sr);
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            aigov_node_hash(sr, proof[i], sr);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && memcmp(fr, root_m, 32) == 0 && memcmp(sr, root_n, 32) == 0 ? 0 : -1;
}
