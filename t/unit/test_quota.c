/* Unit tests of lib/quota: exact counts, windows, settle, a full table. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "quota.h"

/* 2024-01-02 00:00:00 UTC, a day and minute boundary */
#define DAY0  1704153600L

static void *block(size_t size)
{
    void *m = aligned_alloc(64, (size + 63) & ~(size_t) 63);
    assert_non_null(m);
    memset(m, 0xA5, size);       /* garbage, as fresh shared memory may hold */
    assert_int_equal(aigov_quota_init(m, size), 0);
    return m;
}

static int admit(void *m, const char *subj, long long rpm, long long tpm, long long tpd,
                 long long reserve, time_t now, aigov_quota_ticket_t *t, long *retry, char *msg)
{
    aigov_quota_limits_t lim = { rpm, tpm, tpd };
    aigov_quota_ticket_t tmp;
    long r;
    char buf[256];

    return aigov_quota_admit(m, subj, &lim, reserve, now, t ? t : &tmp, retry ? retry : &r,
                             msg ? msg : buf, 256);
}

static void test_init_and_reuse(void **state)
{
    size_t size = 64 * 1024;
    void *m = block(size);
    aigov_quota_usage_t u;
    (void) state;

    assert_true(aigov_quota_min_size() > 0);
    assert_true(aigov_quota_capacity(size) >= 400);
    assert_int_equal(admit(m, "alice", 10, 0, 0, 0, DAY0, NULL, NULL, NULL), 0);
    /* a reload finds the table and keeps counting */
    assert_int_equal(aigov_quota_init(m, size), 1);
    assert_int_equal(aigov_quota_usage(m, "alice", DAY0, &u), 1);
    assert_int_equal(u.requests, 1);
    /* a different size starts afresh */
    assert_int_equal(aigov_quota_init(m, size - 4096), 0);
    assert_int_equal(aigov_quota_usage(m, "alice", DAY0, &u), 0);
    free(m);
}

static void test_init_rejects_bad_blocks(void **state)
{
    char *m = aligned_alloc(64, 4096);
    aigov_quota_limits_t lim = { 1, 0, 0 };
    aigov_quota_ticket_t t;
    long r;
    char msg[64];
    (void) state;

    assert_int_equal(aigov_quota_init(m, aigov_quota_min_size() - 1), -1);
    assert_int_equal(aigov_quota_init(m + 1, 4000), -1);
    assert_int_equal(aigov_quota_init(NULL, 4096), -1);
    memset(m, 0, 4096);
    /* never initialised: refused loudly, not admitted */
    assert_int_equal(aigov_quota_admit(m, "a", &lim, 0, DAY0, &t, &r, msg, sizeof(msg)), -1);
    free(m);
}

static void test_requests_per_minute_exact(void **state)
{
    void *m = block(16384);
    long retry;
    char msg[256];
    aigov_quota_usage_t u;
    (void) state;

    for (int i = 0; i < 60; i++)
        assert_int_equal(admit(m, "alice", 60, 0, 0, 0, DAY0 + 5, NULL, NULL, NULL), 0);
    assert_int_equal(admit(m, "alice", 60, 0, 0, 0, DAY0 + 17, NULL, &retry, msg), 1);
    assert_int_equal(retry, 43);
    assert_string_equal(msg, "requests_per_minute limit of 60 reached; retry in 43 seconds");
    /* a refused request is not counted */
    aigov_quota_usage(m, "alice", DAY0 + 17, &u);
    assert_int_equal(u.requests, 60);
    /* another subject has its own counters */
    assert_int_equal(admit(m, "bob", 60, 0, 0, 0, DAY0 + 17, NULL, NULL, NULL), 0);
    /* the next minute starts again */
    assert_int_equal(admit(m, "alice", 60, 0, 0, 0, DAY0 + 59, NULL, NULL, NULL), 1);
    assert_int_equal(admit(m, "alice", 60, 0, 0, 0, DAY0 + 60, NULL, NULL, NULL), 0);
    aigov_quota_usage(m, "alice", DAY0 + 60, &u);
    assert_int_equal(u.requests, 1);
    free(m);
}

static void test_tokens_per_minute_and_settle(void **state)
{
    void *m = block(16384);
    aigov_quota_ticket_t t1, t2;
    aigov_quota_usage_t u;
    long retry;
    char msg[256];
    (void) state;

    assert_int_equal(admit(m, "a", 0, 1000, 0, 600, DAY0, &t1, NULL, NULL), 0);
    assert_int_equal(t1.reserved, 600);
    assert_int_equal(admit(m, "a", 0, 1000, 0, 400, DAY0 + 1, &t2, NULL, NULL), 0);
    assert_int_equal(admit(m, "a", 0, 1000, 0, 1, DAY0 + 2, NULL, &retry, msg), 1);
    assert_string_equal(msg, "tokens_per_minute limit of 1000 reached (1000 used, 1 more asked); retry in 58 seconds");
    /* the first answer used only 100 of its 600 */
    aigov_quota_settle(m, "a", &t1, 100, DAY0 + 3);
    aigov_quota_usage(m, "a", DAY0 + 3, &u);
    assert_int_equal(u.minute_tokens, 500);
    assert_int_equal(admit(m, "a", 0, 1000, 0, 500, DAY0 + 4, NULL, NULL, NULL), 0);
    assert_int_equal(admit(m, "a", 0, 1000, 0, 1, DAY0 + 4, NULL, NULL, NULL), 1);
    /* usage above the reservation is charged too */
    aigov_quota_settle(m, "a", &t2, 900, DAY0 + 5);
    aigov_quota_usage(m, "a", DAY0 + 5, &u);
    assert_int_equal(u.minute_tokens, 1500);
    /* day tokens are not counted without a tokens_per_day limit */
    assert_int_equal(u.day_tokens, 0);
    free(m);
}

static void test_big_request_into_empty_window(void **state)
{
    void *m = block(16384);
    (void) state;

    /* larger than the whole per-minute budget: admitted only when alone */
    assert_int_equal(admit(m, "a", 0, 1000, 0, 5000, DAY0, NULL, NULL, NULL), 0);
    assert_int_equal(admit(m, "a", 0, 1000, 0, 1, DAY0 + 1, NULL, NULL, NULL), 1);
    assert_int_equal(admit(m, "a", 0, 1000, 0, 5000, DAY0 + 60, NULL, NULL, NULL), 0);
    free(m);
}

static void test_tokens_per_day(void **state)
{
    void *m = block(16384);
    aigov_quota_usage_t u;
    long retry;
    char msg[256];
    (void) state;

    for (int i = 0; i < 10; i++)
        assert_int_equal(admit(m, "a", 0, 0, 10000, 1000, DAY0 + i * 3600, NULL, NULL, NULL), 0);
    assert_int_equal(admit(m, "a", 0, 0, 10000, 1, DAY0 + 36000, NULL, &retry, msg), 1);
    assert_int_equal(retry, 86400 - 36000);
    assert_string_equal(msg, "tokens_per_day limit of 10000 reached (10000 used today); retry in 50400 seconds");
    aigov_quota_usage(m, "a", DAY0 + 36000, &u);
    assert_int_equal(u.day_tokens, 10000);
    /* the UTC day ends */
    assert_int_equal(admit(m, "a", 0, 0, 10000, 1000, DAY0 + 86400, NULL, NULL, NULL), 0);
    aigov_quota_usage(m, "a", DAY0 + 86400, &u);
    assert_int_equal(u.day_tokens, 1000);
    free(m);
}

static void test_settle_after_rollover(void **state)
{
    void *m = block(16384);
    aigov_quota_ticket_t t;
    aigov_quota_usage_t u;
    (void) state;

    /* reserved 1000 at 00:00:50, the answer ends at 00:01:10 using 200:
     * the new minute is not credited 800 it was never charged */
    assert_int_equal(admit(m, "a", 0, 5000, 100000, 1000, DAY0 + 50, &t, NULL, NULL), 0);
    assert_int_equal(admit(m, "a", 0, 5000, 100000, 300, DAY0 + 65, NULL, NULL, NULL), 0);
    aigov_quota_settle(m, "a", &t, 200, DAY0 + 70);
    aigov_quota_usage(m, "a", DAY0 + 70, &u);
    assert_int_equal(u.minute_tokens, 300);
    assert_int_equal(u.day_tokens, 1300 - 800);    /* same day: refunded */

    /* over-use after the rollover lands in the current minute */
    assert_int_equal(admit(m, "a", 0, 5000, 100000, 100, DAY0 + 110, &t, NULL, NULL), 0);
    aigov_quota_settle(m, "a", &t, 400, DAY0 + 125);
    aigov_quota_usage(m, "a", DAY0 + 125, &u);
    assert_int_equal(u.minute_tokens, 300);
    assert_int_equal(u.day_tokens, 500 + 400);

    /* across midnight: nothing credited into the new day */
    assert_int_equal(admit(m, "b", 0, 0, 100000, 1000, DAY0 + 86399, &t, NULL, NULL), 0);
    aigov_quota_settle(m, "b", &t, 0, DAY0 + 86401);
    aigov_quota_usage(m, "b", DAY0 + 86401, &u);
    assert_int_equal(u.day_tokens, 0);
    free(m);
}

static void test_no_limits_untracked(void **state)
{
    void *m = block(16384);
    aigov_quota_ticket_t t;
    aigov_quota_usage_t u;
    size_t tracked;
    unsigned long long full, reused;
    (void) state;

    assert_int_equal(admit(m, "a", 0, 0, 0, 1000, DAY0, &t, NULL, NULL), 0);
    assert_int_equal(t.charged, 0);
    aigov_quota_settle(m, "a", &t, 5000, DAY0);
    assert_int_equal(aigov_quota_usage(m, "a", DAY0, &u), 0);
    aigov_quota_stats(m, &tracked, &full, &reused);
    assert_int_equal(tracked, 0);
    free(m);
}

static void test_full_table_fails_closed_then_reuses(void **state)
{
    size_t size = aigov_quota_min_size();
    void *m = block(size);
    size_t cap = aigov_quota_capacity(size), tracked;
    unsigned long long full, reused;
    char subj[32], msg[256];
    long retry;
    (void) state;

    assert_int_equal(cap, 16);
    /* every subject holds tokens for today: all slots stay live */
    for (size_t i = 0; i < cap; i++) {
        snprintf(subj, sizeof(subj), "user-%zu", i);
        assert_int_equal(admit(m, subj, 0, 0, 1000000, 10, DAY0 + 3600, NULL, NULL, NULL), 0);
    }
    assert_int_equal(admit(m, "newcomer", 0, 0, 1000000, 10, DAY0 + 3600, NULL, &retry, msg), 1);
    assert_int_equal(retry, 86400 - 3600);
    assert_string_equal(msg, "too many callers are being rate-limited at once; retry in 82800 seconds");
    /* known subjects still count */
    assert_int_equal(admit(m, "user-3", 0, 0, 1000000, 10, DAY0 + 3601, NULL, NULL, NULL), 0);
    aigov_quota_stats(m, &tracked, &full, &reused);
    assert_int_equal(tracked, 16);
    assert_int_equal(full, 1);
    /* the next day every slot is stale and is reused */
    assert_int_equal(admit(m, "newcomer", 0, 0, 1000000, 10, DAY0 + 86400, NULL, NULL, NULL), 0);
    aigov_quota_stats(m, &tracked, &full, &reused);
    assert_int_equal(reused, 1);
    free(m);
}

static void test_minute_only_slots_free_quickly(void **state)
{
    size_t size = aigov_quota_min_size();
    void *m = block(size);
    char subj[32];
    long retry;
    (void) state;

    for (int i = 0; i < 16; i++) {
        snprintf(subj, sizeof(subj), "u%d", i);
        assert_int_equal(admit(m, subj, 5, 0, 0, 0, DAY0 + 10, NULL, NULL, NULL), 0);
    }
    assert_int_equal(admit(m, "late", 5, 0, 0, 0, DAY0 + 20, NULL, &retry, NULL), 1);
    assert_int_equal(retry, 40);
    assert_int_equal(admit(m, "late", 5, 0, 0, 0, DAY0 + 60, NULL, NULL, NULL), 0);
    free(m);
}

static void test_long_subjects_are_distinct(void **state)
{
    void *m = block(16384);
    char a[200], b[200];
    aigov_quota_usage_t u;
    (void) state;

    memset(a, 'x', 199);
    a[199] = '\0';
    memcpy(b, a, sizeof(a));
    b[198] = 'y';     /* differs after the stored prefix */
    assert_int_equal(admit(m, a, 1, 0, 0, 0, DAY0, NULL, NULL, NULL), 0);
    assert_int_equal(admit(m, b, 1, 0, 0, 0, DAY0, NULL, NULL, NULL), 0);
    assert_int_equal(admit(m, a, 1, 0, 0, 0, DAY0, NULL, NULL, NULL), 1);
    assert_int_equal(admit(m, "", 1, 0, 0, 0, DAY0, NULL, NULL, NULL), 0);
    assert_int_equal(aigov_quota_usage(m, "", DAY0, &u), 1);
    free(m);
}

static void test_block_is_position_independent(void **state)
{
    size_t size = 16384;
    void *m = block(size), *m2 = aligned_alloc(64, size);
    aigov_quota_usage_t u;
    (void) state;

    for (int i = 0; i < 3; i++)
        assert_int_equal(admit(m, "a", 3, 0, 0, 0, DAY0, NULL, NULL, NULL), 0);
    memcpy(m2, m, size);
    free(m);
    assert_int_equal(aigov_quota_init(m2, size), 1);
    assert_int_equal(admit(m2, "a", 3, 0, 0, 0, DAY0, NULL, NULL, NULL), 1);
    aigov_quota_usage(m2, "a", DAY0, &u);
    assert_int_equal(u.requests, 3);
    free(m2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_and_reuse),
        cmocka_unit_test(test_init_rejects_bad_blocks),
        cmocka_unit_test(test_requests_per_minute_exact),
        cmocka_unit_test(test_tokens_per_minute_and_settle),
        cmocka_unit_test(test_big_request_into_empty_window),
        cmocka_unit_test(test_tokens_per_day),
        cmocka_unit_test(test_settle_after_rollover),
        cmocka_unit_test(test_no_limits_untracked),
        cmocka_unit_test(test_full_table_fails_closed_then_reuses),
        cmocka_unit_test(test_minute_only_slots_free_quickly),
        cmocka_unit_test(test_long_subjects_are_distinct),
        cmocka_unit_test(test_block_is_position_independent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
