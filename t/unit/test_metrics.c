/* Unit tests of lib/metrics: names, counts from many threads, the text. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <cmocka.h>

#include "metrics.h"
#include "quota.h"

#define SIZE (256 * 1024)

static void *block(void)
{
    void *m = aligned_alloc(64, SIZE);
    assert_non_null(m);
    memset(m, 0xA5, SIZE);
    assert_int_equal(aigov_metrics_init(m, SIZE), 0);
    return m;
}

static void test_names(void **state)
{
    void *m = block();
    char longname[200];
    unsigned a = aigov_metrics_name(m, "gpt-4o"), b = aigov_metrics_name(m, "pii");

    (void) state;
    assert_true(a > 0 && b > 0 && a != b);
    assert_int_equal(aigov_metrics_name(m, "gpt-4o"), a);
    assert_string_equal(aigov_metrics_name_of(m, a), "gpt-4o");
    assert_int_equal(aigov_metrics_name(m, "other"), 0);
    assert_int_equal(aigov_metrics_name(m, ""), 0);
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(aigov_metrics_name(m, longname), 0);
    /* a full table counts new names as other, never twice */
    for (int i = 0; i < 2000; i++) {
        char n[32];
        snprintf(n, sizeof(n), "n%d", i);
        aigov_metrics_name(m, n);
    }
    assert_int_equal(aigov_metrics_name(m, "never-seen-before"), 0);
    assert_int_equal(aigov_metrics_name(m, "gpt-4o"), a);
    /* a reload keeps the block */
    assert_int_equal(aigov_metrics_init(m, SIZE), 1);
    assert_int_equal(aigov_metrics_name(m, "pii"), b);
    free(m);
}

typedef struct { void *m; int id; } arg_t;

static void *worker(void *p)
{
    arg_t *a = p;
    char n[32];
    for (int i = 0; i < 20000; i++) {
        unsigned lv[5] = { 1, aigov_metrics_name(a->m, "shared-model"), 0, 0, 200 };
        snprintf(n, sizeof(n), "code%d", i % 50);
        unsigned c = aigov_metrics_name(a->m, n);
        aigov_metrics_add(a->m, AIGOV_M_REQUESTS, lv, 1);
        aigov_metrics_add(a->m, AIGOV_M_REFUSALS, &c, 1);
        aigov_metrics_observe(a->m, AIGOV_M_GATEWAY_DURATION, lv, (uint64_t) (i % 300));
    }
    return NULL;
}

static void test_threads(void **state)
{
    void *m = block();
    pthread_t t[4];
    arg_t a[4];
    (void) state;
    for (int i = 0; i < 4; i++) {
        a[i].m = m; a[i].id = i;
        pthread_create(&t[i], NULL, worker, &a[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    unsigned lv[5] = { 1, aigov_metrics_name(m, "shared-model"), 0, 0, 200 };
    assert_int_equal(aigov_metrics_get(m, AIGOV_M_REQUESTS, lv), 80000);
    long long sum = 0;
    for (int i = 0; i < 50; i++) {
        char n[32];
        snprintf(n, sizeof(n), "code%d", i);
        unsigned c = aigov_metrics_name(m, n);
        assert_true(c > 0);
        sum += aigov_metrics_get(m, AIGOV_M_REFUSALS, &c);
    }
    assert_int_equal(sum, 80000);
    size_t len;
    char *txt = aigov_metrics_text(m, NULL, 0, &len);
    assert_non_null(strstr(txt, "aigov_gateway_duration_seconds_count{endpoint=\"/v1/chat/completions\"} 80000\n"));
    /* each name once: code0 appears in one series only */
    char *p = strstr(txt, "aigov_refusals_total{code=\"code0\"}");
    assert_non_null(p);
    assert_null(strstr(p + 1, "aigov_refusals_total{code=\"code0\"}"));
    free(txt);
    free(m);
}

static void test_text(void **state)
{
    void *m = block();
    (void) state;
    unsigned lv[5] = { 1, aigov_metrics_name(m, "a\"b\\c"), aigov_metrics_name(m, "r1"), 1, 403 };
    aigov_metrics_add(m, AIGOV_M_REQUESTS, lv, 2);
    unsigned tl[3] = { 0, aigov_metrics_name(m, "gpt"), AIGOV_MT_OUTPUT };
    aigov_metrics_observe(m, AIGOV_M_TOKEN_USAGE, tl, 3);
    aigov_metrics_observe(m, AIGOV_M_TOKEN_USAGE, tl, 100);
    aigov_metrics_add(m, AIGOV_M_QUOTA_OPEN, NULL, 1);
    aigov_metrics_add(m, AIGOV_M_QUOTA_OPEN, NULL, -1);
    aigov_metrics_add(m, AIGOV_M_PLUGIN_SECONDS, tl + 1, 1500);
    aigov_metrics_gauge_t g = { "aigov_audit_records_unsigned", "x", 7 };
    size_t len;
    char *t = aigov_metrics_text(m, &g, 1, &len);
    assert_non_null(strstr(t, "aigov_requests_total{endpoint=\"/v1/chat/completions\",model=\"a\\\"b\\\\c\",rule=\"r1\",decision=\"deny\",status=\"403\"} 2\n"));
    assert_non_null(strstr(t, "gen_ai_client_token_usage_bucket{gen_ai_operation_name=\"chat\",gen_ai_request_model=\"gpt\",gen_ai_token_type=\"output\",le=\"4\"} 1\n"));
    assert_non_null(strstr(t, "gen_ai_client_token_usage_bucket{gen_ai_operation_name=\"chat\",gen_ai_request_model=\"gpt\",gen_ai_token_type=\"output\",le=\"256\"} 2\n"));
    assert_non_null(strstr(t, "gen_ai_client_token_usage_sum{gen_ai_operation_name=\"chat\",gen_ai_request_model=\"gpt\",gen_ai_token_type=\"output\"} 103\n"));
    assert_non_null(strstr(t, "le=\"+Inf\"} 2\n"));
    assert_non_null(strstr(t, "aigov_quota_reservations_open 0\n"));
    assert_non_null(strstr(t, "aigov_plugin_seconds_total{plugin=\"gpt\"} 0.0000015\n"));
    assert_non_null(strstr(t, "aigov_audit_records_total 0\n"));
    assert_non_null(strstr(t, "# TYPE aigov_audit_records_unsigned gauge\naigov_audit_records_unsigned 7\n"));
    free(t);
    free(m);
}

/* The sentences of lib/quota itself name the limit. */
static void test_quota_limit(void **state)
{
    (void) state;
    size_t size = 64 * 1024;
    void *q = aligned_alloc(64, size);
    memset(q, 0, size);
    assert_int_equal(aigov_quota_init(q, size), 0);
    aigov_quota_ticket_t t;
    long retry;
    char msg[256];
    aigov_quota_limits_t rpm = { 1, 0, 0 }, tpm = { 0, 10, 0 }, tpd = { 0, 0, 10 };
    assert_int_equal(aigov_quota_admit(q, "a", &rpm, 0, 1000000, &t, &retry, msg, 256), 0);
    assert_int_equal(aigov_quota_admit(q, "a", &rpm, 0, 1000000, &t, &retry, msg, 256), 1);
    assert_int_equal(aigov_metrics_quota_limit(msg), AIGOV_ML_REQUESTS_PER_MINUTE);
    assert_int_equal(aigov_quota_admit(q, "b", &tpm, 5, 1000000, &t, &retry, msg, 256), 0);
    assert_int_equal(aigov_quota_admit(q, "b", &tpm, 6, 1000000, &t, &retry, msg, 256), 1);
    assert_int_equal(aigov_metrics_quota_limit(msg), AIGOV_ML_TOKENS_PER_MINUTE);
    assert_int_equal(aigov_quota_admit(q, "c", &tpd, 5, 1000000, &t, &retry, msg, 256), 0);
    assert_int_equal(aigov_quota_admit(q, "c", &tpd, 6, 1000000, &t, &retry, msg, 256), 1);
    assert_int_equal(aigov_metrics_quota_limit(msg), AIGOV_ML_TOKENS_PER_DAY);
    assert_int_equal(aigov_metrics_quota_limit("anything"), AIGOV_ML_OTHER);
    free(q);
}

static void test_policy_names(void **state)
{
    (void) state;
    const char *y =
        "version: 1\ndefault: deny\nrules:\n"
        "  - name: r-one\n    when: {models: [gpt-4o-mini, \"claude-*\"]}\n    decision: allow\n"
        "  - name: r-two\n    when: {models: [\"gpt-4o*\"]}\n    decision: allow\n";
    char *err = NULL;
    aigov_policy_t *p = aigov_policy_load_mem("p.yaml", y, strlen(y), NULL, NULL, NULL, &err);
    assert_non_null(p);
    void *m = block();
    aigov_metrics_names_t *n = aigov_metrics_names_new(m);
    assert_int_equal(aigov_metrics_names_add_policy(n, p), 0);
    assert_string_equal(aigov_metrics_name_of(m, aigov_metrics_names_rule(n, p, 1)), "r-two");
    assert_string_equal(aigov_metrics_name_of(m, aigov_metrics_names_rule(n, p, -1)), "default");
    assert_string_equal(aigov_metrics_name_of(m, aigov_metrics_names_rule(n, NULL, 0)), "none");
    assert_string_equal(aigov_metrics_name_of(m, aigov_metrics_names_model(n, "gpt-4o-mini")), "gpt-4o-mini");
    assert_string_equal(aigov_metrics_name_of(m, aigov_metrics_names_model(n, "gpt-4o-2024")), "gpt-4o*");
    assert_string_equal(aigov_metrics_name_of(m, aigov_metrics_names_model(n, "claude-3")), "claude-*");
    assert_int_equal(aigov_metrics_names_model(n, "llama"), 0);
    assert_string_equal(aigov_metrics_name_of(m, aigov_metrics_names_model(n, NULL)), "none");
    aigov_metrics_names_free(n);
    aigov_policy_free(p);
    free(m);
}

/* A batch gives the block the same counts as adding to it directly,
 * only later; series that do not fit in it go to the block at once. */
static void test_batch(void **state)
{
    void *direct = block(), *batched = block();
    aigov_metrics_batch_t *b = aigov_metrics_batch_new();
    unsigned lv[5] = { 1, 2, 3, 0, 200 }, h[3] = { 0, 1, 0 };
    int i;

    (void) state;
    assert_non_null(b);
    assert_false(aigov_metrics_batch_pending(b));
    for (i = 0; i < 1000; i++) {
        /* 300 series: more than the batch holds */
        lv[1] = (unsigned) (i % 300);
        aigov_metrics_add(direct, AIGOV_M_REQUESTS, lv, 1);
        aigov_metrics_batch_add(b, batched, AIGOV_M_REQUESTS, lv, 1);
        aigov_metrics_observe(direct, AIGOV_M_TOKEN_USAGE, h, (uint64_t) i * 37);
        aigov_metrics_batch_observe(b, batched, AIGOV_M_TOKEN_USAGE, h, (uint64_t) i * 37);
        aigov_metrics_add(direct, AIGOV_M_QUOTA_OPEN, NULL, i % 2 ? -1 : 1);
        aigov_metrics_batch_add(b, batched, AIGOV_M_QUOTA_OPEN, NULL, i % 2 ? -1 : 1);
    }
    assert_true(aigov_metrics_batch_pending(b));
    /* before the flush the batch's part is not in the block */
    lv[1] = 0;
    assert_true(aigov_metrics_get(batched, AIGOV_M_REQUESTS, lv) < aigov_metrics_get(direct, AIGOV_M_REQUESTS, lv)
                || aigov_metrics_get(direct, AIGOV_M_REQUESTS, lv) == 4);
    aigov_metrics_batch_add(b, batched, AIGOV_M_QUOTA_OPEN, NULL, 1);
    aigov_metrics_batch_add(b, batched, AIGOV_M_QUOTA_OPEN, NULL, -1);
    aigov_metrics_batch_flush(b, batched);
    assert_false(aigov_metrics_batch_pending(b));
    for (i = 0; i < 300; i++) {
        lv[1] = (unsigned) i;
        assert_int_equal(aigov_metrics_get(batched, AIGOV_M_REQUESTS, lv),
                         aigov_metrics_get(direct, AIGOV_M_REQUESTS, lv));
    }
    assert_int_equal(aigov_metrics_get(batched, AIGOV_M_QUOTA_OPEN, NULL), 0);
    {
        size_t l1, l2;
        char *t1 = aigov_metrics_text(direct, NULL, 0, &l1);
        char *t2 = aigov_metrics_text(batched, NULL, 0, &l2);
        char *line, *save = NULL;
        assert_non_null(t1);
        assert_non_null(t2);
        /* the same series, in the order each table claimed them */
        assert_int_equal(l1, l2);
        for (line = strtok_r(t1, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
            assert_non_null(strstr(t2, line));
        free(t1);
        free(t2);
    }
    /* a flushed batch is empty: flushing again adds nothing */
    aigov_metrics_batch_flush(b, batched);
    lv[1] = 7;
    assert_int_equal(aigov_metrics_get(batched, AIGOV_M_REQUESTS, lv), 4);
    /* no batch: straight to the block */
    aigov_metrics_batch_add(NULL, batched, AIGOV_M_REQUESTS, lv, 1);
    assert_int_equal(aigov_metrics_get(batched, AIGOV_M_REQUESTS, lv), 5);
    aigov_metrics_batch_free(b);
    free(direct);
    free(batched);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_quota_limit),
        cmocka_unit_test(test_policy_names),
        cmocka_unit_test(test_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
