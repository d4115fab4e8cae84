/* Unit tests of lib/sse.c: splits, line endings, fields, bounds. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sse.h"

/* What the callback saw, one line per block:
 *   D<data>|E<event>|I<id or ->|R<retry>|C<complete>  or  -<raw length> for
 * blocks without data. Raw bytes are concatenated separately. */
typedef struct {
    char    log[8192];
    size_t  loglen;
    char    raw[8192];
    size_t  rawlen;
    int     stop_after;     /* stop with 42 after this many blocks; 0 never */
    int     n;
} seen_t;

static int cb(void *ud, const aigov_sse_event_t *ev)
{
    seen_t *s = ud;

    assert_true(s->rawlen + ev->raw_len < sizeof(s->raw));
    memcpy(s->raw + s->rawlen, ev->raw, ev->raw_len);
    s->rawlen += ev->raw_len;
    assert_int_equal(strlen(ev->data), ev->data_len);
    if (ev->has_data)
        s->loglen += (size_t)snprintf(s->log + s->loglen, sizeof(s->log) - s->loglen,
                                      "D%s|E%s|I%s|R%ld|C%d\n", ev->data, ev->event,
                                      ev->has_id ? ev->id : "-", ev->retry, ev->complete);
    else
        s->loglen += (size_t)snprintf(s->log + s->loglen, sizeof(s->log) - s->loglen,
                                      "-%zu%s\n", ev->raw_len, ev->complete ? "" : " tail");
    s->n++;
    return (s->stop_after && s->n == s->stop_after) ? 42 : 0;
}

/* Feeds input in pieces of the given sizes (0-terminated list), then
 * finish; checks that the raw bytes add up to the input. */
static void run(const char *in, size_t len, const size_t *cuts, seen_t *s)
{
    aigov_sse_t *p = aigov_sse_new(0);
    size_t off = 0, i = 0;

    assert_non_null(p);
    memset(s, 0, sizeof(*s));
    while (off < len) {
        size_t n = cuts && cuts[i] ? cuts[i++] : len - off;
        if (n > len - off)
            n = len - off;
        assert_int_equal(aigov_sse_feed(p, in + off, n, cb, s), 0);
        off += n;
    }
    assert_int_equal(aigov_sse_finish(p, cb, s), 0);
    assert_int_equal(s->rawlen, len);
    assert_memory_equal(s->raw, in, len);
    aigov_sse_free(p);
}

/* Every split into two pieces, and byte by byte, give the same blocks. */
static void check_all_splits(const char *in, const char *want)
{
    size_t len = strlen(in), k;
    seen_t s;

    run(in, len, NULL, &s);
    assert_string_equal(s.log, want);
    for (k = 1; k < len; k++) {
        size_t cuts[3] = { k, len - k, 0 };
        run(in, len, cuts, &s);
        if (strcmp(s.log, want) != 0)
            fail_msg("split at %zu:\n%s\nwanted\n%s", k, s.log, want);
    }
    {
        size_t *ones = malloc((len + 1) * sizeof(size_t));
        for (k = 0; k < len; k++)
            ones[k] = 1;
        ones[len] = 0;
        run(in, len, ones, &s);
        free(ones);
        assert_string_equal(s.log, want);
    }
}

static void test_openai_stream(void **state)
{
    check_all_splits(
        "data: {\"a\":1}\n\n"
        "data: {\"b\":2}\n\n"
        "data: [DONE]\n\n",
        "D{\"a\":1}|E|I-|R-1|C1\n"
        "D{\"b\":2}|E|I-|R-1|C1\n"
        "D[DONE]|E|I-|R-1|C1\n");
}

static void test_line_endings(void **state)
{
    const char *want = "Dx|Ee|I-|R-1|C1\nDy|E|I-|R-1|C1\n";

    check_all_splits("event: e\ndata: x\n\ndata: y\n\n", want);
    check_all_splits("event: e\r\ndata: x\r\n\r\ndata: y\r\n\r\n", want);
    check_all_splits("event: e\rdata: x\r\rdata: y\r\r", want);
    check_all_splits("event: e\r\ndata: x\n\rdata: y\r\n\n", want);
}

static void test_fields(void **state)
{
    check_all_splits(
        ": a comment\n"
        "data:first\n"
        "data:  two spaces\n"
        "data\n"
        "id: 7\n"
        "retry: 3000\n"
        "unknown: ignored\n"
        "\n"
        ": keep-alive\n\n"
        "event: ping\n"
        "data: p\n"
        "retry: 12x\n\n",
        "Dfirst\n two spaces\n|E|I7|R3000|C1\n"
        "-14\n"
        "Dp|Eping|I-|R-1|C1\n");
}

static void test_id_persists(void **state)
{
    aigov_sse_t *p = aigov_sse_new(0);
    seen_t s;
    const char *in = "id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\n";

    memset(&s, 0, sizeof(s));
    /* the id of the stream persists; has_id says whether this block set it */
    assert_int_equal(aigov_sse_feed(p, in, strlen(in), cb, &s), 0);
    assert_string_equal(s.log, "Da|E|I1|R-1|C1\nDb|E|I-|R-1|C1\nDc|E|I|R-1|C1\n");
    aigov_sse_free(p);
}

static void test_blank_lines_and_bom(void **state)
{
    check_all_splits("\n\ndata: x\n\n\n",
                     "-1\n-1\nDx|E|I-|R-1|C1\n-1\n");
    check_all_splits("\xEF\xBB\xBF" "data: bom\n\n", "Dbom|E|I-|R-1|C1\n");
    /* only the first block may start with a BOM */
    check_all_splits("data: a\n\n\xEF\xBB\xBF" "data: b\n\n", "Da|E|I-|R-1|C1\n-12\n");
}

static void test_tail_without_blank_line(void **state)
{
    seen_t s;

    run("data: x\n\ndata: half", 19, NULL, &s);
    assert_string_equal(s.log, "Dx|E|I-|R-1|C1\n-10 tail\n");
    /* a final "\r" ends a line, so the event is complete */
    run("data: y\r\r", 9, NULL, &s);
    assert_string_equal(s.log, "Dy|E|I-|R-1|C1\n");
    run("data: z\r", 8, NULL, &s);
    assert_string_equal(s.log, "-8 tail\n");
}

static void test_too_long(void **state)
{
    aigov_sse_t *p = aigov_sse_new(16);
    seen_t s;

    memset(&s, 0, sizeof(s));
    /* blocks up to the bound pass, in any number */
    assert_int_equal(aigov_sse_feed(p, "data: 12345678\n\ndata: 12345678\n\n", 32, cb, &s), 0);
    assert_int_equal(s.n, 2);
    /* a line that never ends is refused, in one feed or many */
    assert_int_equal(aigov_sse_feed(p, "data: 0123456789", 16, cb, &s), 0);
    assert_int_equal(aigov_sse_feed(p, "a", 1, cb, &s), AIGOV_SSE_TOO_LONG);
    assert_int_equal(aigov_sse_feed(p, "\n\n", 2, cb, &s), AIGOV_SSE_TOO_LONG);
    assert_int_equal(aigov_sse_finish(p, cb, &s), AIGOV_SSE_TOO_LONG);
    assert_int_equal(s.n, 2);
    aigov_sse_free(p);

    p = aigov_sse_new(16);
    assert_int_equal(aigov_sse_feed(p, "data: 0123456789abcdef\n\n", 24, cb, &s),
                     AIGOV_SSE_TOO_LONG);
    aigov_sse_free(p);

    /* many blocks through a small buffer, a block cut at its end each
     * time: the reported bytes make room, in one feed or in pieces */
    for (size_t piece = 7; piece <= 130; piece += 123) {
        char in[131], want[200];
        size_t off, wl = 0;

        p = aigov_sse_new(40);
        memset(&s, 0, sizeof(s));
        for (int i = 0; i < 10; i++) {
            snprintf(in + 13 * i, sizeof(in) - 13 * (size_t) i, "data: abc%02d\n\n", i);
            wl += (size_t) snprintf(want + wl, sizeof(want) - wl, "Dabc%02d|E|I-|R-1|C1\n", i);
        }
        for (off = 0; off < 130; off += piece)
            assert_int_equal(aigov_sse_feed(p, in + off, off + piece > 130 ? 130 - off : piece,
                                            cb, &s), 0);
        assert_int_equal(aigov_sse_finish(p, cb, &s), 0);
        assert_int_equal(s.n, 10);
        assert_string_equal(s.log, want);
        assert_memory_equal(s.raw, in, 130);
        aigov_sse_free(p);
    }
}

/* Counts complete blocks whose data is the 'x' run of test_large_block. */
static int count_cb(void *ud, const aigov_sse_event_t *ev)
{
    int *got = ud;

    assert_true(ev->complete);
    assert_int_equal(ev->data_len, 200 * 1024 - 8);
    for (size_t i = 0; i < ev->data_len; i++)
        if (ev->data[i] != 'x')
            fail_msg("byte %zu of the data is %c", i, ev->data[i]);
    (*got)++;
    return 0;
}

/* The buffer starts small and grows as a block needs, up to the bound:
 * a 200 KB event passes whole, fed at once or in pieces; one byte more
 * than the bound does not. */
static void test_large_block(void **state)
{
    size_t n = 200 * 1024, off;
    char *in = malloc(n + 16);
    size_t cuts[] = { 1000, 5000 };

    (void)state;
    assert_non_null(in);
    memcpy(in, "data: ", 6);
    memset(in + 6, 'x', n - 8);
    memcpy(in + n - 2, "\n\n", 2);
    for (int k = 0; k < 3; k++) {
        aigov_sse_t *p = aigov_sse_new(n);
        int got = 0;
        size_t piece = k == 0 ? n : cuts[k - 1];

        assert_non_null(p);
        for (off = 0; off < n; off += piece)
            assert_int_equal(aigov_sse_feed(p, in + off, off + piece > n ? n - off : piece,
                                            count_cb, &got), 0);
        assert_int_equal(aigov_sse_finish(p, count_cb, &got), 0);
        assert_int_equal(got, 1);
        aigov_sse_free(p);
    }
    {
        aigov_sse_t *p = aigov_sse_new(n - 1);
        int got = 0;

        assert_int_equal(aigov_sse_feed(p, in, n, count_cb, &got), AIGOV_SSE_TOO_LONG);
        assert_int_equal(got, 0);
        aigov_sse_free(p);
    }
    free(in);
}

static void test_callback_stops(void **state)
{
    aigov_sse_t *p = aigov_sse_new(0);
    seen_t s;
    const char *in = "data: 1\n\ndata: 2\n\ndata: 3\n\n";

    memset(&s, 0, sizeof(s));
    s.stop_after = 2;
    assert_int_equal(aigov_sse_feed(p, in, strlen(in), cb, &s), 42);
    assert_int_equal(s.n, 2);
    aigov_sse_free(p);
    aigov_sse_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openai_stream),
        cmocka_unit_test(test_line_endings),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_id_persists),
        cmocka_unit_test(test_blank_lines_and_bom),
        cmocka_unit_test(test_tail_without_blank_line),
        cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_large_block),
        cmocka_unit_test(test_callback_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
