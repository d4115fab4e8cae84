/* Unit tests of lib/resp (Redis's wire protocol) and lib/quota_redis (the
 * scripts' arguments and answers). The scripts themselves run in t/redis.t
 * against a real redis-server. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "resp.h"
#include "quota_redis.h"

static int parse(const char *s, aigov_resp_reply_t *rep, size_t *used)
{
    return aigov_resp_parse(s, strlen(s), rep, used);
}

static void test_command_encoding(void **state)
{
    const char *argv[] = { "SET", "k\r\n", "" };
    size_t lens[] = { 3, 3, 0 };
    char out[64];
    size_t n = aigov_resp_command(out, sizeof(out), 3, argv, lens);
    const char want[] = "*3\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$0\r\n\r\n";

    assert_int_equal(n, sizeof(want) - 1);
    assert_memory_equal(out, want, n);
    /* too small: nothing past cap, the size needed still told */
    memset(out, 'x', sizeof(out));
    assert_int_equal(aigov_resp_command(out, 5, 3, argv, lens), n);
    assert_int_equal(out[5], 'x');
    assert_int_equal(aigov_resp_command(NULL, 0, 3, argv, lens), n);
}

static void test_scalars(void **state)
{
    aigov_resp_reply_t rep;
    size_t used;
    long long v;

    assert_int_equal(parse("+OK\r\n", &rep, &used), 1);
    assert_int_equal(rep.v.type, AIGOV_RESP_STATUS);
    assert_int_equal(used, 5);
    assert_int_equal(parse("-NOSCRIPT No matching script\r\n", &rep, &used), 1);
    assert_int_equal(rep.v.type, AIGOV_RESP_ERROR);
    assert_int_equal(strncmp(rep.v.str, "NOSCRIPT", 8), 0);
    assert_int_equal(parse(":-42\r\n", &rep, &used), 1);
    assert_int_equal(rep.v.integer, -42);
    assert_int_equal(parse("$5\r\nab\r\nc\r\n", &rep, &used), 1);
    assert_int_equal(rep.v.len, 5);
    assert_memory_equal(rep.v.str, "ab\r\nc", 5);
    assert_int_equal(parse("$-1\r\n", &rep, &used), 1);
    assert_int_equal(rep.v.type, AIGOV_RESP_NIL);
    assert_int_equal(parse("$2\r\n17\r\n", &rep, &used), 1);
    assert_int_equal(aigov_resp_int(&rep.v, &v), 0);
    assert_int_equal(v, 17);
}

static void test_arrays_and_pipelines(void **state)
{
    const char *two = "*6\r\n:0\r\n:0\r\n:0\r\n:3\r\n:29000000\r\n:20000\r\n*2\r\n$10\r\n1704153600\r\n$1\r\n5\r\n";
    aigov_resp_reply_t rep;
    size_t used, len = strlen(two);
    long long v;

    assert_int_equal(aigov_resp_parse(two, len, &rep, &used), 1);
    assert_int_equal(rep.v.type, AIGOV_RESP_ARRAY);
    assert_int_equal(rep.nelems, 6);
    assert_int_equal(rep.elem[4].integer, 29000000);
    assert_int_equal(aigov_resp_parse(two + used, len - used, &rep, &used), 1);
    assert_int_equal(rep.nelems, 2);
    assert_int_equal(aigov_resp_int(&rep.elem[0], &v), 0);
    assert_int_equal(v, 1704153600);
    /* nested arrays are walked and kept as nil */
    assert_int_equal(parse("*2\r\n*1\r\n:1\r\n:2\r\n", &rep, &used), 1);
    assert_int_equal(rep.elem[0].type, AIGOV_RESP_NIL);
    assert_int_equal(rep.elem[1].integer, 2);
}

static void test_every_cut_is_incomplete(void **state)
{
    const char *s = "*3\r\n$3\r\nabc\r\n:12\r\n-ERR x\r\n";
    aigov_resp_reply_t rep;
    size_t used, len = strlen(s);

    for (size_t i = 0; i < len; i++)
        assert_int_equal(aigov_resp_parse(s, i, &rep, &used), 0);
    assert_int_equal(aigov_resp_parse(s, len, &rep, &used), 1);
    assert_int_equal(used, len);
}

static void test_garbage_is_refused(void **state)
{
    static const char *bad[] = {
        "?\r\n", ":12a\r\n", ":\r\n", "$-2\r\n", "$3\r\nabcd\r\n", "*-5\r\n",
        ":99999999999999999999\r\n", "$99999999999\r\n", "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n",
    };
    aigov_resp_reply_t rep;
    size_t used;
    char longline[200];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(parse(bad[i], &rep, &used), -1);
    /* a length line that never ends is not waited for forever */
    memset(longline, '1', sizeof(longline));
    longline[0] = '$';
    assert_int_equal(aigov_resp_parse(longline, sizeof(longline), &rep, &used), -1);
}

static void test_script_arguments(void **state)
{
    aigov_quota_limits_t lim = { 10, 1000, 0 };
    aigov_quota_ticket_t t = { 120, 29000000, 20000, 3 };
    const char *args[AIGOV_QUOTA_REDIS_ARGS];
    size_t lens[AIGOV_QUOTA_REDIS_ARGS];
    char buf[160], hex[41];
    int n;

    n = aigov_quota_redis_reserve_args(buf, sizeof(buf), "gw:", "alice", &lim, 120, args, lens);
    assert_int_equal(n, 6);
    assert_string_equal(args[0], "1");
    assert_int_equal(lens[1], 8);
    assert_memory_equal(args[1], "gw:alice", 8);
    assert_string_equal(args[1], "gw:alice");       /* readable back as a string */
    assert_memory_equal(args[3], "1000", lens[3]);
    assert_memory_equal(args[5], "120", lens[5]);
    n = aigov_quota_redis_settle_args(buf, sizeof(buf), "", "gw:alice", "gw:aigov:settled:0a",
                                      &t, -5, 41, args, lens);
    assert_int_equal(n, 9);
    assert_string_equal(args[0], "2");              /* the key base and the mark */
    assert_memory_equal(args[1], "gw:alice", lens[1]);
    assert_memory_equal(args[2], "gw:aigov:settled:0a", lens[2]);
    assert_memory_equal(args[3], "29000000", lens[3]);
    assert_memory_equal(args[6], "120", lens[6]);
    assert_memory_equal(args[7], "0", lens[7]);     /* negative usage counts as none */
    assert_memory_equal(args[8], "41", lens[8]);
    /* too small a buffer is refused, not overrun */
    assert_int_equal(aigov_quota_redis_reserve_args(buf, 20, "gw:", "alice", &lim, 1, args, lens), -1);
    aigov_quota_redis_sha1("return 1", hex);
    assert_string_equal(hex, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
}

static void test_verdicts(void **state)
{
    aigov_quota_limits_t lim = { 10, 1000, 5000 };
    aigov_quota_ticket_t t;
    aigov_resp_reply_t rep;
    long retry;
    char msg[256];
    size_t used;

    assert_int_equal(parse("*6\r\n:0\r\n:0\r\n:0\r\n:3\r\n:29000000\r\n:20000\r\n", &rep, &used), 1);
    assert_int_equal(aigov_quota_redis_verdict(&rep, &lim, 120, &t, &retry, msg, sizeof(msg)), 0);
    assert_int_equal(t.reserved, 120);
    assert_int_equal(t.charged, 3);
    assert_int_equal(t.minute, 29000000);
    assert_int_equal(t.day, 20000);

    assert_int_equal(parse("*6\r\n:1\r\n:42\r\n:10\r\n:1\r\n:1\r\n:1\r\n", &rep, &used), 1);
    assert_int_equal(aigov_quota_redis_verdict(&rep, &lim, 1, &t, &retry, msg, sizeof(msg)), 1);
    assert_int_equal(retry, 42);
    assert_non_null(strstr(msg, "requests_per_minute limit of 10"));
    assert_int_equal(parse("*6\r\n:1\r\n:9\r\n:990\r\n:2\r\n:1\r\n:1\r\n", &rep, &used), 1);
    assert_int_equal(aigov_quota_redis_verdict(&rep, &lim, 20, &t, &retry, msg, sizeof(msg)), 1);
    assert_non_null(strstr(msg, "tokens_per_minute limit of 1000 reached (990 used, 20 more"));
    assert_int_equal(parse("*6\r\n:1\r\n:600\r\n:4990\r\n:3\r\n:1\r\n:1\r\n", &rep, &used), 1);
    assert_int_equal(aigov_quota_redis_verdict(&rep, &lim, 20, &t, &retry, msg, sizeof(msg)), 1);
    assert_non_null(strstr(msg, "tokens_per_day limit of 5000"));

    /* an error, or an answer of another shape, is no verdict */
    assert_int_equal(parse("-OOM command not allowed\r\n", &rep, &used), 1);
    assert_int_equal(aigov_quota_redis_verdict(&rep, &lim, 1, &t, &retry, msg, sizeof(msg)), -1);
    assert_non_null(strstr(msg, "OOM"));
    assert_int_equal(parse("*2\r\n:0\r\n:0\r\n", &rep, &used), 1);
    assert_int_equal(aigov_quota_redis_verdict(&rep, &lim, 1, &t, &retry, msg, sizeof(msg)), -1);
    assert_int_equal(parse("*6\r\n:0\r\n$1\r\nx\r\n:0\r\n:1\r\n:1\r\n:1\r\n", &rep, &used), 1);
    assert_int_equal(aigov_quota_redis_verdict(&rep, &lim, 1, &t, &retry, msg, sizeof(msg)), -1);
    assert_int_equal(parse("+OK\r\n", &rep, &used), 1);
    assert_int_equal(aigov_quota_redis_verdict(&rep, &lim, 1, &t, &retry, msg, sizeof(msg)), -1);
}

/* The batch script's answer: six numbers per admission in one string. */
static void test_batch_reply(void **state)
{
    aigov_quota_limits_t lim = { 10, 1000, 0 };
    aigov_quota_ticket_t t;
    aigov_resp_reply_t rep, out[3];
    long retry;
    char msg[256];
    size_t used;
    static const char *const bad[] = {
        "$3\r\n0 0\r\n",                                    /* too few */
        "$26\r\n0 0 0 1 29000000 20000 0 0\r\n",            /* a second one cut */
        "$23\r\n0 0 0 1 29000000 20000 \r\n",               /* a trailing space */
        "$22\r\n0 0 0 1 29000000 2000x\r\n",                /* not a number */
        "$29\r\n0 0 0 1 1234567890123456789 1\r\n",         /* too long a number */
        ":1\r\n",
    };

    assert_int_equal(parse("$47\r\n0 0 0 1 29000000 20000 1 42 10 1 29000000 20000\r\n", &rep, &used), 1);
    assert_int_equal(aigov_quota_redis_batch_reply(&rep, 2, out), 0);
    assert_int_equal(aigov_quota_redis_verdict(&out[0], &lim, 120, &t, &retry, msg, sizeof(msg)), 0);
    assert_int_equal(t.charged, 1);
    assert_int_equal(t.minute, 29000000);
    assert_int_equal(t.day, 20000);
    assert_int_equal(aigov_quota_redis_verdict(&out[1], &lim, 1, &t, &retry, msg, sizeof(msg)), 1);
    assert_int_equal(retry, 42);
    assert_non_null(strstr(msg, "requests_per_minute limit of 10"));

    /* one answer more or less than asked for is no answer for anyone */
    assert_int_equal(aigov_quota_redis_batch_reply(&rep, 3, out), -1);
    for (int i = 0; i < 3; i++)
        assert_int_equal(aigov_quota_redis_verdict(&out[i], &lim, 1, &t, &retry, msg, sizeof(msg)), -1);
    assert_non_null(strstr(msg, "another shape"));
    assert_int_equal(aigov_quota_redis_batch_reply(&rep, 1, out), -1);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse(bad[i], &rep, &used), 1);
        if (aigov_quota_redis_batch_reply(&rep, 1, out) != -1)
            fail_msg("batch reply accepted: %s", bad[i]);
    }
    /* an error goes to every admission */
    assert_int_equal(parse("-BUSY Redis is busy running a script\r\n", &rep, &used), 1);
    assert_int_equal(aigov_quota_redis_batch_reply(&rep, 2, out), 0);
    assert_int_equal(aigov_quota_redis_verdict(&out[1], &lim, 1, &t, &retry, msg, sizeof(msg)), -1);
    assert_non_null(strstr(msg, "BUSY"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_command_encoding),
        cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_arrays_and_pipelines),
        cmocka_unit_test(test_every_cut_is_incomplete),
        cmocka_unit_test(test_garbage_is_refused),
        cmocka_unit_test(test_script_arguments),
        cmocka_unit_test(test_verdicts),
        cmocka_unit_test(test_batch_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
