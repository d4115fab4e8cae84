/* Merkle tree: RFC 6962/9162 reference vectors (the Certificate Transparency
 * test leaves), compact range against recomputation, proofs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "audit.h"
#include "hex.h"
#include "sha256.h"

/* The eight leaves of the CT reference tests and the published roots. */
static const char *ct_leaves[8] = {
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
};
static const char *ct_roots[9] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

static size_t unhex(const char *h, uint8_t *out)
{
    size_t n = strlen(h) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        out[i] = (uint8_t) v;
    }
    return n;
}

static void ct_leaf_hashes(uint8_t (*lh)[32])
{
    for (int i = 0; i < 8; i++) {
        uint8_t d[32];
        size_t n = unhex(ct_leaves[i], d);
        aigov_leaf_hash(d, n, lh[i]);
    }
}

static void assert_hash(const uint8_t h[32], const char *hex)
{
    uint8_t want[32];
    unhex(hex, want);
    assert_memory_equal(h, want, 32);
}

static void test_reference_roots(void **state)
{
    uint8_t lh[8][32], r[32];
    aigov_tree_t t;

    ct_leaf_hashes(lh);
    aigov_tree_init(&t);
    aigov_tree_root(&t, r);
    assert_hash(r, ct_roots[0]);
    for (int n = 1; n <= 8; n++) {
        aigov_tree_append(&t, lh[n - 1]);
        assert_int_equal(t.size, n);
        aigov_tree_root(&t, r);
        assert_hash(r, ct_roots[n]);
        aigov_merkle_root((const uint8_t (*)[32]) lh, (uint64_t) n, r);
        assert_hash(r, ct_roots[n]);
    }
}

static void test_reference_inclusion(void **state)
{
    static const struct { uint64_t idx, size; int n; const char *p[3]; } cases[] = {
        { 0, 8, 3, { "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                     "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                     "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
        { 5, 8, 3, { "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                     "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                     "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
        { 0, 1, 0, { NULL } },
    };
    uint8_t lh[8][32], proof[64][32], root[32];

    ct_leaf_hashes(lh);
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        int n = aigov_inclusion_proof((const uint8_t (*)[32]) lh, cases[c].size, cases[c].idx, proof);
        assert_int_equal(n, cases[c].n);
        for (int i = 0; i < n; i++)
            assert_hash(proof[i], cases[c].p[i]);
        unhex(ct_roots[cases[c].size], root);
        assert_int_equal(aigov_inclusion_verify(cases[c].idx, cases[c].size, lh[cases[c].idx],
                                                (const uint8_t (*)[32]) proof, (size_t) n, root), 0);
        /* wrong index, wrong size, wrong leaf, short proof */
        assert_int_equal(aigov_inclusion_verify(cases[c].idx + 1, cases[c].size, lh[cases[c].idx],
                                                (const uint8_t (*)[32]) proof, (size_t) n, root), -1);
        assert_int_equal(aigov_inclusion_verify(cases[c].idx, cases[c].size + 1, lh[cases[c].idx],
                                                (const uint8_t (*)[32]) proof, (size_t) n, root), -1);
        assert_int_equal(aigov_inclusion_verify(cases[c].idx, cases[c].size, lh[(cases[c].idx + 1) % 8],
                                                (const uint8_t (*)[32]) proof, (size_t) n, root), -1);
        if (n > 0)
            assert_int_equal(aigov_inclusion_verify(cases[c].idx, cases[c].size, lh[cases[c].idx],
                                                    (const uint8_t (*)[32]) proof, (size_t) n - 1, root), -1);
    }
    assert_int_equal(aigov_inclusion_proof((const uint8_t (*)[32]) lh, 8, 8, proof), -1);
}

static void test_reference_consistency(void **state)
{
    static const struct { uint64_t m, n; int len; const char *p[3]; } cases[] = {
        { 1, 1, 0, { NULL } },
        { 1, 8, 3, { "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                     "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                     "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
        { 6, 8, 3, { "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                     "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                     "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
        { 2, 5, 2, { "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                     "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b" } },
        { 2, 8, 2, { "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                     "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
    };
    uint8_t lh[8][32], proof[64][32], r1[32], r2[32];

    ct_leaf_hashes(lh);
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        int n = aigov_consistency_proof((const uint8_t (*)[32]) lh, cases[c].m, cases[c].n, proof);
        assert_int_equal(n, cases[c].len);
        for (int i = 0; i < n; i++)
            assert_hash(proof[i], cases[c].p[i]);
        unhex(ct_roots[cases[c].m], r1);
        unhex(ct_roots[cases[c].n], r2);
        assert_int_equal(aigov_consistency_verify(cases[c].m, cases[c].n, r1, r2,
                                                  (const uint8_t (*)[32]) proof, (size_t) n), 0);
        if (cases[c].m != cases[c].n) {
            /* the other way round, a flipped bit, a root of another size */
            assert_int_equal(aigov_consistency_verify(cases[c].m, cases[c].n, r2, r1,
                                                      (const uint8_t (*)[32]) proof, (size_t) n), -1);
            proof[n - 1][5] ^= 1;
            assert_int_equal(aigov_consistency_verify(cases[c].m, cases[c].n, r1, r2,
                                                      (const uint8_t (*)[32]) proof, (size_t) n), -1);
            proof[n - 1][5] ^= 1;
            unhex(ct_roots[cases[c].m - 1], r1);
            assert_int_equal(aigov_consistency_verify(cases[c].m, cases[c].n, r1, r2,
                                                      (const uint8_t (*)[32]) proof, (size_t) n), -1);
        }
    }
    assert_int_equal(aigov_consistency_proof((const uint8_t (*)[32]) lh, 5, 4, proof), -1);
}

/* The compact range gives the same root as recomputation from scratch at
 * every size, and every leaf's proof verifies against it. */
static void test_compact_range_and_proofs(void **state)
{
    enum { N = 300 };
    static uint8_t lh[N][32];
    uint8_t proof[64][32], r1[32], r2[32], range[64][32];
    aigov_tree_t t, t2;

    for (int i = 0; i < N; i++) {
        char buf[32];
        int n = snprintf(buf, sizeof(buf), "{\"seq\":%d}", i);
        aigov_leaf_hash(buf, (size_t) n, lh[i]);
    }
    aigov_tree_init(&t);
    for (uint64_t n = 1; n <= N; n++) {
        aigov_tree_append(&t, lh[n - 1]);
        aigov_tree_root(&t, r1);
        aigov_merkle_root((const uint8_t (*)[32]) lh, n, r2);
        assert_memory_equal(r1, r2, 32);

        size_t rl = aigov_tree_range(&t, range);
        assert_int_equal(rl, (size_t) __builtin_popcountll(n));
        assert_int_equal(aigov_tree_from_range(&t2, n, (const uint8_t (*)[32]) range, rl), 0);
        /* same root, and it goes on growing the same way */
        aigov_tree_root(&t2, r2);
        assert_memory_equal(r1, r2, 32);
        aigov_tree_append(&t2, lh[0]);
        {
            aigov_tree_t t3 = t;
            uint8_t r3[32];
            aigov_tree_append(&t3, lh[0]);
            aigov_tree_root(&t2, r2);
            aigov_tree_root(&t3, r3);
            assert_memory_equal(r3, r2, 32);
        }
        /* 2n+1 has one more set bit than n: the range cannot fit it */
        assert_int_equal(aigov_tree_from_range(&t2, 2 * n + 1, (const uint8_t (*)[32]) range, rl), -1);

        for (uint64_t i = 0; i < n; i += (n > 64 ? 7 : 1)) {
            int pl = aigov_inclusion_proof((const uint8_t (*)[32]) lh, n, i, proof);
            assert_true(pl >= 0);
            assert_int_equal(aigov_inclusion_verify(i, n, lh[i], (const uint8_t (*)[32]) proof, (size_t) pl, r1), 0);
            if (pl > 0) {
                proof[0][0] ^= 0x80;
                assert_int_equal(aigov_inclusion_verify(i, n, lh[i], (const uint8_t (*)[32]) proof, (size_t) pl, r1), -1);
            }
        }
        for (uint64_t m = 0; m <= n; m += (n > 64 ? 13 : 1)) {
            aigov_merkle_root((const uint8_t (*)[32]) lh, m, r2);
            int pl = aigov_consistency_proof((const uint8_t (*)[32]) lh, m, n, proof);
            assert_true(pl >= 0);
            assert_int_equal(aigov_consistency_verify(m, n, r2, r1, (const uint8_t (*)[32]) proof, (size_t) pl), 0);
        }
    }
}

/* A file that starts at seq s knows the first s leaves only by their
 * compact range: the proofs of the later records are still exactly the
 * proofs over all leaves. */
static void test_proofs_from_a_carried_range(void **state)
{
    enum { N = 70 };
    static uint8_t lh[N][32];
    uint8_t full[64][32], part[64][32], root[32];
    aigov_tree_t start;

    for (int i = 0; i < N; i++) {
        char buf[32];
        int n = snprintf(buf, sizeof(buf), "{\"seq\":%d,\"x\":1}", i);
        aigov_leaf_hash(buf, (size_t) n, lh[i]);
    }
    for (uint64_t n = 1; n <= N; n++) {
        aigov_merkle_root((const uint8_t (*)[32]) lh, n, root);
        for (uint64_t s = 0; s <= n; s++) {
            aigov_tree_init(&start);
            for (uint64_t i = 0; i < s; i++)
                aigov_tree_append(&start, lh[i]);
            for (uint64_t m = 0; m < n; m++) {
                int lp = aigov_inclusion_proof_from(&start, (const uint8_t (*)[32]) lh + s, n, m,
                                                    part);
                if (m < s) {
                    assert_int_equal(lp, -1);
                    continue;
                }
                int lf = aigov_inclusion_proof((const uint8_t (*)[32]) lh, n, m, full);
                assert_int_equal(lp, lf);
                assert_memory_equal(part, full, (size_t) lf * 32);
                assert_int_equal(aigov_inclusion_verify(m, n, lh[m], (const uint8_t (*)[32]) part,
                                                        (size_t) lp, root), 0);
            }
        }
    }
}

static void test_leaf_and_node_prefixes(void **state)
{
    uint8_t a[32], b[32], n1[32], n2[32];

    aigov_leaf_hash("a", 1, a);
    aigov_leaf_hash("b", 1, b);
    aigov_node_hash(a, b, n1);
    aigov_node_hash(b, a, n2);
    assert_memory_not_equal(n1, n2, 32);
    /* SHA-256(0x00) is the CT root of the one empty leaf */
    aigov_leaf_hash("", 0, a);
    assert_hash(a, ct_roots[1]);
}

/* The running hash in pieces equals the one-shot one, both equal the
 * FIPS 180-2 vector, and the hex is snprintf's for every byte. */
static void test_sha256_and_hex(void **state)
{
    static const char msg[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    static const char want[] = "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
    uint8_t one[32], run[32], all[256];
    char hex[65], ref[513], got[513];
    aigov_sha256_t s;
    size_t cut, len = sizeof(msg) - 1;

    (void)state;
    aigov_sha256_2(msg, 20, msg + 20, len - 20, one);
    *aigov_hex(hex, one, 32) = '\0';
    assert_string_equal(hex, want);
    for (cut = 0; cut <= len; cut++) {
        aigov_sha256_init(&s);
        aigov_sha256_update(&s, msg, cut);
        aigov_sha256_update(&s, msg + cut, len - cut);
        aigov_sha256_final(&s, run);
        assert_memory_equal(run, one, 32);
    }
    for (int i = 0; i < 256; i++) {
        all[i] = (uint8_t) i;
        snprintf(ref + 2 * i, 3, "%02x", i);
    }
    got[512] = '\0';
    assert_ptr_equal(aigov_hex(got, all, 256), got + 512);
    assert_string_equal(got, ref);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_and_hex),
        cmocka_unit_test(test_reference_roots),
        cmocka_unit_test(test_reference_inclusion),
        cmocka_unit_test(test_reference_consistency),
        cmocka_unit_test(test_compact_range_and_proofs),
        cmocka_unit_test(test_proofs_from_a_carried_range),
        cmocka_unit_test(test_leaf_and_node_prefixes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
