/*
 * Unit tests of lib/answer.c: whole JSON answers and SSE streams through
 * real plugins (build/plugins/example.so, build/test-plugins/spy.so):
 * byte-identical pass-through, hold-back across events, blocks mid-stream,
 * usage from every shape.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "answer.h"
#include "sse.h"

#define EXAMPLE_SO  "build/plugins/example.so"
#define SPY_SO      "build/test-plugins/spy.so"

static char err[512];

typedef struct {
    aigov_plugin_host_t *h;
    void                *inst;
    aigov_filter_spec_t  f;
} fx_t;

/* A host with example and spy, one instance of plugin with config cfg. */
static void fx_init(fx_t *fx, const char *plugin, const char *cfg, int action)
{
    json_t *c = json_loads(cfg, 0, NULL);

    fx->h = aigov_host_new();
    assert_int_equal(aigov_host_load(fx->h, "example", EXAMPLE_SO, err, sizeof(err)), 0);
    assert_int_equal(aigov_host_load(fx->h, "spy", SPY_SO, err, sizeof(err)), 0);
    assert_int_equal(aigov_host_load(fx->h, "pii", "build/plugins/pii.so", err, sizeof(err)), 0);
    assert_non_null(c);
    fx->inst = aigov_host_instance(fx->h, plugin, c, action, err, sizeof(err));
    json_decref(c);
    if (fx->inst == NULL)
        fail_msg("instance: %s", err);
    fx->f.inst = fx->inst;
    fx->f.plugin = plugin;
    fx->f.stages = AIGOV_STAGE_REQUEST | AIGOV_STAGE_RESPONSE;
    fx->f.action = action;
    fx->f.on_error = AIGOV_ON_ERROR_BLOCK;
}

static void fx_free(fx_t *fx)
{
    aigov_host_instance_free(fx->inst);
    aigov_host_free(fx->h);
}

/* Growing output collected from an answer. */
typedef struct {
    char   *s;
    size_t  n;
} buf_t;

static void drain(aigov_answer_t *a, buf_t *b)
{
    size_t n;
    const char *o = aigov_answer_output(a, &n);

    b->s = realloc(b->s, b->n + n + 1);
    assert_non_null(b->s);
    memcpy(b->s + b->n, o, n);
    b->n += n;
    b->s[b->n] = '\0';
    aigov_answer_consume(a, n);
}

/* Feeds in in pieces of step bytes, draining after each; then finish. */
static void feed_all(aigov_answer_t *a, const char *in, size_t len, size_t step, buf_t *out)
{
    size_t off = 0;

    while (off < len) {
        size_t n = len - off < step ? len - off : step;
        assert_int_equal(aigov_answer_feed(a, in + off, n), 0);
        drain(a, out);
        off += n;
    }
    assert_int_equal(aigov_answer_finish(a), 0);
    drain(a, out);
}

/* OpenAI chat chunk carrying text. */
static char *chunk(char *dst, const char *text)
{
    sprintf(dst, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":"
                 "[{\"index\":0,\"delta\":{\"content\":\"%s\"},\"finish_reason\":null}]}\n\n", text);
    return dst;
}

/* The text a client would read from an OpenAI-shaped stream, and the
 * number of events. */
typedef struct {
    char   text[4096];
    int    events;
    int    done;
    char   error[512];
} read_t;

static int read_cb(void *ud, const aigov_sse_event_t *ev)
{
    read_t *r = ud;
    json_t *root, *c;

    if (!ev->has_data)
        return 0;
    r->events++;
    if (strcmp(ev->data, "[DONE]") == 0) {
        r->done++;
        return 0;
    }
    root = json_loads(ev->data, 0, NULL);
    assert_non_null(root);
    c = json_object_get(json_object_get(json_array_get(json_object_get(root, "choices"), 0),
                                        "delta"), "content");
    if (json_is_string(c))
        strcat(r->text, json_string_value(c));
    c = json_object_get(json_object_get(root, "delta"), "text");     /* Anthropic */
    if (json_is_string(c))
        strcat(r->text, json_string_value(c));
    if (json_object_get(root, "error")) {
        char *s = json_dumps(root, JSON_COMPACT);
        snprintf(r->error, sizeof(r->error), "%s", s);
        free(s);
    }
    json_decref(root);
    return 0;
}

static void read_stream(const char *s, size_t n, read_t *r)
{
    aigov_sse_t *p = aigov_sse_new(0);

    memset(r, 0, sizeof(*r));
    assert_int_equal(aigov_sse_feed(p, s, n, read_cb, r), 0);
    assert_int_equal(aigov_sse_finish(p, read_cb, r), 0);
    aigov_sse_free(p);
}

static const char *const anthropic_stream =
    "event: message_start\n"
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\","
    "\"role\":\"assistant\",\"content\":[],\"model\":\"claude\",\"usage\":"
    "{\"input_tokens\":25,\"output_tokens\":1}}}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
    "event: ping\n"
    "data: {\"type\": \"ping\"}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello, write to bob@exa\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"mple.org today\"}}\n\n"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
    "event: message_delta\n"
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":15}}\n\n"
    "event: message_stop\n"
    "data: {\"type\":\"message_stop\"}\n\n";

static const char *const openai_stream_crlf =
    ": upstream comment\r\n\r\n"
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\r\n\r\n"
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"caf\\u00e9 \\\"ok\\\"\"}}]}\r\n\r\n"
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\r\n\r\n"
    "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":12,\"total_tokens\":21}}\r\n\r\n"
    "data: [DONE]\r\n\r\n";

/* ---- pass-through ---- */

static void test_no_filters_stream_usage(void **state)
{
    aigov_answer_t *a = aigov_answer_new(AIGOV_EP_CHAT, 1, NULL, 0, 0);
    long long p, c;
    buf_t out = { 0 };

    assert_true(aigov_answer_passthrough(a));
    assert_int_equal(aigov_answer_usage(a, &p, &c), 0);
    assert_int_equal(p, -1);
    feed_all(a, openai_stream_crlf, strlen(openai_stream_crlf), 7, &out);
    assert_int_equal(out.n, 0);     /* the caller forwards its own bytes */
    assert_int_equal(aigov_answer_usage(a, &p, &c), 1);
    assert_int_equal(p, 9);
    assert_int_equal(c, 12);
    assert_int_equal(aigov_answer_outcome(a)->nrecords, 0);
    free(out.s);
    aigov_answer_free(a);

    a = aigov_answer_new(AIGOV_EP_MESSAGES, 1, NULL, 0, 0);
    out.s = NULL;
    out.n = 0;
    feed_all(a, anthropic_stream, strlen(anthropic_stream), 5, &out);
    assert_int_equal(aigov_answer_usage(a, &p, &c), 1);
    assert_int_equal(p, 25);
    assert_int_equal(c, 15);     /* message_delta's running total wins */
    free(out.s);
    aigov_answer_free(a);
}

static void test_filter_finding_nothing_is_byte_identical(void **state)
{
    const char *streams[2] = { openai_stream_crlf, anthropic_stream };
    aigov_endpoint_t eps[2] = { AIGOV_EP_CHAT, AIGOV_EP_MESSAGES };
    size_t steps[4] = { 1, 3, 64, 100000 };
    fx_t fx;
    int i, k;

    fx_init(&fx, "spy", "{\"match\":\"zzz\"}", AIGOV_ACTION_REDACT);
    for (i = 0; i < 2; i++) {
        for (k = 0; k < 4; k++) {
            aigov_answer_t *a = aigov_answer_new(eps[i], 1, &fx.f, 1, 8);
            buf_t out = { 0 };

            assert_false(aigov_answer_passthrough(a));
            feed_all(a, streams[i], strlen(streams[i]), steps[k], &out);
            assert_int_equal(out.n, strlen(streams[i]));
            assert_memory_equal(out.s, streams[i], out.n);
            assert_false(aigov_answer_modified(a));
            assert_string_equal(aigov_answer_outcome(a)->records[0].verdict, "allow");
            free(out.s);
            aigov_answer_free(a);
        }
    }
    fx_free(&fx);
}

/* ---- hold-back ---- */

static void test_email_split_across_two_events(void **state)
{
    fx_t fx;
    aigov_answer_t *a;
    buf_t out = { 0 };
    read_t r;
    long long p, c;

    fx_init(&fx, "example", "{\"word\":\"bob@example.org\"}", AIGOV_ACTION_REDACT);
    a = aigov_answer_new(AIGOV_EP_MESSAGES, 1, &fx.f, 1, 0);
    feed_all(a, anthropic_stream, strlen(anthropic_stream), 11, &out);
    read_stream(out.s, out.n, &r);
    assert_string_equal(r.text, "Hello, write to [REDACTED:WORD] today");
    assert_int_equal(r.events, 8);
    /* the re-serialised events keep their event: lines */
    assert_non_null(strstr(out.s, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
                                  "\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello, write to [REDACTED:WORD]\"}}\n\n"));
    assert_non_null(strstr(out.s, "\"text\":\" today\"}}\n\n"));
    /* untouched events stay byte-identical */
    assert_non_null(strstr(out.s, "event: ping\ndata: {\"type\": \"ping\"}\n\n"));
    assert_true(aigov_answer_modified(a));
    assert_string_equal(aigov_answer_outcome(a)->records[0].verdict, "redact");
    assert_int_equal(aigov_answer_outcome(a)->records[0].count, 1);
    assert_int_equal(aigov_answer_outcome(a)->records[0].stage, AIGOV_STAGE_RESPONSE);
    assert_int_equal(aigov_answer_usage(a, &p, &c), 1);
    assert_int_equal(p, 25);
    assert_int_equal(c, 15);
    free(out.s);
    aigov_answer_free(a);
    fx_free(&fx);
}

static void test_email_split_across_three_events(void **state)
{
    const char *parts[] = { "Mail ali", "ce@exam", "ple.com", " or call", " me", NULL };
    char in[4096] = "", ev[512];
    fx_t fx;
    aigov_answer_t *a;
    buf_t out = { 0 };
    read_t r;
    int i;

    for (i = 0; parts[i]; i++)
        strcat(in, chunk(ev, parts[i]));
    strcat(in, "data: [DONE]\n\n");
    fx_init(&fx, "spy", "{\"match\":\"alice@example.com\",\"label\":\"EMAIL\"}",
            AIGOV_ACTION_REDACT);
    a = aigov_answer_new(AIGOV_EP_CHAT, 1, &fx.f, 1, 0);
    feed_all(a, in, strlen(in), 13, &out);
    read_stream(out.s, out.n, &r);
    assert_string_equal(r.text, "Mail [REDACTED:EMAIL] or call me");
    assert_int_equal(r.events, 6);
    assert_int_equal(r.done, 1);
    /* the middle event lost all of its text, the first holds the label */
    assert_non_null(strstr(out.s, "\"delta\":{\"content\":\"Mail [REDACTED:EMAIL]\"}"));
    assert_non_null(strstr(out.s, "\"delta\":{\"content\":\"\"}"));
    assert_non_null(strstr(out.s, "\"delta\":{\"content\":\" or call\"}"));
    free(out.s);
    aigov_answer_free(a);
    fx_free(&fx);
}

/* With a small hold-back, early events leave before the answer ends, and
 * what is held never exceeds the window. */
static void test_hold_back_releases_early(void **state)
{
    char ev[512];
    fx_t fx;
    aigov_answer_t *a;
    buf_t out = { 0 };
    read_t r;
    int i;

    fx_init(&fx, "spy", "{\"match\":\"secret-word\"}", AIGOV_ACTION_REDACT);
    a = aigov_answer_new(AIGOV_EP_CHAT, 1, &fx.f, 1, 16);
    for (i = 0; i < 20; i++) {
        chunk(ev, i == 10 ? "secret-" : i == 11 ? "word" : "abcd");
        assert_int_equal(aigov_answer_feed(a, ev, strlen(ev)), 0);
        drain(a, &out);
        read_stream(out.s ? out.s : "", out.n, &r);
        /* at most hold_back bytes plus one event of text are held */
        assert_true(strlen(r.text) + 16 + 7 >= (size_t)(4 * i + 4));
        if (i >= 6)
            assert_true(r.events > 0);
    }
    assert_int_equal(aigov_answer_finish(a), 0);
    drain(a, &out);
    read_stream(out.s, out.n, &r);
    assert_int_equal(r.events, 20);
    assert_non_null(strstr(r.text, "abcd[REDACTED:SPY]abcd"));
    free(out.s);
    aigov_answer_free(a);
    fx_free(&fx);
}

/* The time bound: release_held sends what waits at once. A match that
 * the sent text begins can no longer be masked there, and is counted; one
 * found and masked before the release is not. */
/* Feeds one chat chunk of text. */
static int feed_chunk(aigov_answer_t *a, char *ev, const char *text)
{
    chunk(ev, text);
    return aigov_answer_feed(a, ev, strlen(ev));
}

static void test_release_held(void **state)
{
    const char *parts[] = { "Mail ali", "ce@exam", "ple.com", " or call", " me", NULL };
    char ev[512];
    fx_t fx;
    aigov_answer_t *a;
    buf_t out = { 0 };
    read_t r;
    size_t events, bytes, late;
    int i;

    (void) state;
    fx_init(&fx, "spy", "{\"match\":\"alice@example.com\",\"label\":\"EMAIL\"}",
            AIGOV_ACTION_REDACT);
    a = aigov_answer_new(AIGOV_EP_CHAT, 1, &fx.f, 1, 0);
    assert_int_equal(feed_chunk(a, ev, parts[0]), 0);
    drain(a, &out);
    assert_int_equal(out.n, 0);
    assert_true(aigov_answer_holding(a));
    assert_int_equal(aigov_answer_release_held(a), 0);
    assert_false(aigov_answer_holding(a));
    drain(a, &out);
    read_stream(out.s, out.n, &r);
    assert_string_equal(r.text, "Mail ali");
    for (i = 1; parts[i]; i++) {
        assert_int_equal(feed_chunk(a, ev, parts[i]), 0);
        drain(a, &out);
    }
    assert_int_equal(aigov_answer_feed(a, "data: [DONE]\n\n", 14), 0);
    assert_int_equal(aigov_answer_finish(a), 0);
    drain(a, &out);
    read_stream(out.s, out.n, &r);
    /* what was not sent yet is still masked */
    assert_null(strstr(r.text, "example.com"));
    assert_non_null(strstr(r.text, " or call me"));
    aigov_answer_early(a, &events, &bytes, &late);
    assert_int_equal(events, 1);
    assert_true(bytes > 8);
    assert_int_equal(late, 1);
    aigov_answer_free(a);
    free(out.s);

    /* a match complete before the release: masked as it goes, not late,
     * however often the window shows it again */
    memset(&out, 0, sizeof(out));
    a = aigov_answer_new(AIGOV_EP_CHAT, 1, &fx.f, 1, 0);
    assert_int_equal(feed_chunk(a, ev, "Mail alice@example.com"), 0);
    assert_int_equal(feed_chunk(a, ev, " now"), 0);
    assert_int_equal(aigov_answer_release_held(a), 0);
    for (i = 0; i < 5; i++)
        assert_int_equal(feed_chunk(a, ev, " and more"), 0);
    assert_int_equal(aigov_answer_release_held(a), 0);
    assert_int_equal(aigov_answer_feed(a, "data: [DONE]\n\n", 14), 0);
    assert_int_equal(aigov_answer_finish(a), 0);
    drain(a, &out);
    read_stream(out.s, out.n, &r);
    assert_string_equal(r.text, "Mail [REDACTED:EMAIL] now and more and more and more and more and more");
    aigov_answer_early(a, &events, &bytes, &late);
    assert_int_equal(events, 7);
    assert_int_equal(late, 0);
    /* nothing waits: nothing to release, nothing counted */
    assert_int_equal(aigov_answer_release_held(a), 0);
    aigov_answer_early(a, &events, &bytes, &late);
    assert_int_equal(events, 7);
    aigov_answer_free(a);
    free(out.s);
    fx_free(&fx);
}

/* The first chunk (role only, empty text) is not held behind text that
 * has not come yet: the client sees the stream start at once. */
static void test_empty_text_event_not_held(void **state)
{
    const char *role = "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n";
    char ev[512];
    fx_t fx;
    aigov_answer_t *a;
    buf_t out = { 0 };

    fx_init(&fx, "spy", "{\"match\":\"secret-word\"}", AIGOV_ACTION_REDACT);
    a = aigov_answer_new(AIGOV_EP_CHAT, 1, &fx.f, 1, 256);
    assert_int_equal(aigov_answer_feed(a, role, strlen(role)), 0);
    drain(a, &out);
    assert_int_equal(out.n, strlen(role));
    assert_memory_equal(out.s, role, out.n);
    /* text is still held back */
    chunk(ev, "hello");
    assert_int_equal(aigov_answer_feed(a, ev, strlen(ev)), 0);
    drain(a, &out);
    assert_int_equal(out.n, strlen(role));
    assert_int_equal(aigov_answer_finish(a), 0);
    drain(a, &out);
    assert_int_equal(out.n, strlen(role) + strlen(ev));
    free(out.s);
    aigov_answer_free(a);
    fx_free(&fx);
}

/* ---- blocks ---- */

static void test_block_mid_stream(void **state)
{
    const char *parts[] = { "The plan ", "is ", "fine. ", "Project nep", "tune starts", " soon", NULL };
    char in[4096] = "", ev[512];
    fx_t fx;
    aigov_answer_t *a;
    buf_t out = { 0 };
    read_t r;
    int i;

    for (i = 0; parts[i]; i++)
        strcat(in, chunk(ev, parts[i]));
    strcat(in, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n\n");
    strcat(in, "data: [DONE]\n\n");
    fx_init(&fx, "example", "{\"word\":\"project neptune\"}", AIGOV_ACTION_BLOCK);
    a = aigov_answer_new(AIGOV_EP_CHAT, 1, &fx.f, 1, 12);
    feed_all(a, in, strlen(in), 9, &out);
    read_stream(out.s, out.n, &r);
    assert_null(strstr(r.text, "nep"));
    assert_int_equal(r.done, 1);
    assert_string_equal(r.error, "{\"error\":{\"message\":\"the text contains the configured word\","
                        "\"type\":\"policy_violation\",\"code\":\"example\",\"param\":null}}");
    /* exactly: released events, then the error event and [DONE] */
    assert_non_null(strstr(out.s, "}\n\ndata: {\"error\":{\"message\":\"the text contains the "
                                  "configured word\",\"type\":\"policy_violation\",\"code\":"
                                  "\"example\",\"param\":null}}\n\ndata: [DONE]\n\n"));
    assert_int_equal(strlen(strstr(out.s, "data: {\"error\"")),
                     strlen("data: {\"error\":{\"message\":\"the text contains the configured "
                            "word\",\"type\":\"policy_violation\",\"code\":\"example\",\"param\":"
                            "null}}\n\ndata: [DONE]\n\n"));
    assert_true(aigov_answer_blocked(a));
    assert_string_equal(aigov_answer_outcome(a)->block_plugin, "example");
    assert_string_equal(aigov_answer_outcome(a)->records[0].verdict, "block");
    free(out.s);
    aigov_answer_free(a);

    /* once blocked, more input (even text) yields nothing, finish included */
    a = aigov_answer_new(AIGOV_EP_CHAT, 1, &fx.f, 1, 12);
    assert_int_equal(aigov_answer_feed(a, in, strlen(in)), 0);
    assert_true(aigov_answer_blocked(a));
    aigov_answer_consume(a, (size_t)-1);
    assert_int_equal(aigov_answer_feed(a, chunk(ev, "more"), strlen(ev)), 0);
    assert_int_equal(aigov_answer_feed(a, in, strlen(in)), 0);
    assert_int_equal(aigov_answer_finish(a), 0);
    aigov_answer_output(a, &out.n);
    assert_int_equal(out.n, 0);
    aigov_answer_free(a);
    fx_free(&fx);
}

static void test_plugin_error_in_stream(void **state)
{
    char in[1024], ev[512];
    fx_t fx;
    aigov_answer_t *a;
    buf_t out = { 0 };
    read_t r;

    strcpy(in, chunk(ev, "hello"));
    strcat(in, "data: [DONE]\n\n");
    fx_init(&fx, "spy", "{\"fail\":true}", AIGOV_ACTION_FLAG);
    a = aigov_answer_new(AIGOV_EP_CHAT, 1, &fx.f, 1, 0);
    feed_all(a, in, strlen(in), 1000, &out);
    read_stream(out.s, out.n, &r);
    assert_string_equal(r.text, "");
    assert_non_null(strstr(r.error, "\"message\":\"filter spy failed to inspect the answer\""));
    assert_string_equal(aigov_answer_outcome(a)->records[0].verdict, "error");
    free(out.s);
    aigov_answer_free(a);

    /* on_error: allow lets the answer through unchanged */
    fx.f.on_error = AIGOV_ON_ERROR_ALLOW;
    a = aigov_answer_new(AIGOV_EP_CHAT, 1, &fx.f, 1, 0);
    out.s = NULL;
    out.n = 0;
    feed_all(a, in, strlen(in), 1000, &out);
    assert_string_equal(out.s, in);
    assert_false(aigov_answer_blocked(a));
    assert_string_equal(aigov_answer_outcome(a)->records[0].verdict, "error");
    free(out.s);
    aigov_answer_free(a);
    fx_free(&fx);
}

static void test_oversized_event(void **state)
{
    fx_t fx;
    aigov_answer_t *a;
    buf_t out = { 0 };
    char *big = malloc(5000);
    read_t r;

    memset(big, 'x', 4999);
    big[4999] = '\0';
    memcpy(big, "data: ", 6);
    fx_init(&fx, "spy", "{\"match\":\"zzz\"}", AIGOV_ACTION_REDACT);
    a = aigov_answer_new(AIGOV_EP_CHAT, 1, &fx.f, 1, 0);
    aigov_answer_set_limits(a, 1024, 0);
    feed_all(a, big, 4999, 4999, &out);
    read_stream(out.s, out.n, &r);
    assert_non_null(strstr(r.error, "\"code\":\"aigov\""));
    assert_int_equal(r.done, 1);
    free(out.s);
    aigov_answer_free(a);

    /* without filters the bytes pass; only usage is lost */
    a = aigov_answer_new(AIGOV_EP_CHAT, 1, NULL, 0, 0);
    aigov_answer_set_limits(a, 1024, 0);
    assert_int_equal(aigov_answer_feed(a, big, 4999), 0);
    assert_int_equal(aigov_answer_finish(a), 0);
    assert_false(aigov_answer_blocked(a));
    aigov_answer_free(a);
    free(big);
    fx_free(&fx);
}

/* ---- whole JSON answers ---- */

static void json_case(fx_t *fx, aigov_endpoint_t ep, const char *in, const char *want,
                      long long wp, long long wc)
{
    aigov_answer_t *a = aigov_answer_new(ep, 0, fx ? &fx->f : NULL, fx ? 1 : 0, 0);
    buf_t out = { 0 };
    long long p, c;

    feed_all(a, in, strlen(in), 10, &out);
    if (fx == NULL)
        assert_int_equal(out.n, 0);
    else
        assert_string_equal(out.s, want);
    assert_int_equal(aigov_answer_usage(a, &p, &c), wp >= 0 || wc >= 0);
    assert_int_equal(p, wp);
    assert_int_equal(c, wc);
    free(out.s);
    aigov_answer_free(a);
}

#define CHAT_JSON \
    "{\"id\":\"x\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\"," \
    "\"content\":\"Write to bob@example.org\"}},{\"index\":1,\"message\":{\"role\":\"assistant\"," \
    "\"content\":[{\"type\":\"text\",\"text\":\"or bob@example.org\"}]}}]," \
    "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7,\"total_tokens\":12}}"
#define COMPL_JSON \
    "{\"choices\":[{\"text\":\"bob@example.org!\",\"index\":0}],\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":3}}"
#define ANTH_JSON \
    "{\"type\":\"message\",\"content\":[{\"type\":\"text\",\"text\":\"hi bob@example.org\"}," \
    "{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{\"text\":\"bob@example.org\"}}]," \
    "\"usage\":{\"input_tokens\":11,\"output_tokens\":4}}"

/* Without filters only the usage object is read: the word "usage" in the
 * text, spacing and nested objects do not confuse it. */
static void test_json_usage_without_filters(void **state)
{
    json_case(NULL, AIGOV_EP_CHAT, CHAT_JSON, NULL, 5, 7);
    json_case(NULL, AIGOV_EP_MESSAGES, ANTH_JSON, NULL, 11, 4);
    json_case(NULL, AIGOV_EP_CHAT,
              "{\"choices\":[{\"message\":{\"content\":\"the \\\"usage\\\": {} of it\"}}],"
              "\"usage\" : {\"prompt_tokens\":3,\"prompt_tokens_details\":{\"cached_tokens\":1},"
              "\"completion_tokens\":9}}", NULL, 3, 9);
    json_case(NULL, AIGOV_EP_CHAT, "{\"choices\":[],\"note\":\"usage\"}", NULL, -1, -1);
    json_case(NULL, AIGOV_EP_CHAT, "{\"usage\":{\"prompt_tokens\":4", NULL, -1, -1);
    json_case(NULL, AIGOV_EP_CHAT, "<html>usage</html>", NULL, -1, -1);
    /* what jansson calls an integer, and nothing nested */
    json_case(NULL, AIGOV_EP_CHAT,
              "{\"usage\":{\"prompt_tokens\":1.5,\"input_tokens\":4,\"completion_tokens\":2e1,"
              "\"output_tokens\":6}}", NULL, 4, 6);
    json_case(NULL, AIGOV_EP_CHAT,
              "{\"usage\":{\"details\":{\"prompt_tokens\":8},\"list\":[{\"completion_tokens\":9}],"
              "\"prompt_tokens\" : 3 ,\"completion_tokens\":\n5}}", NULL, 3, 5);
    json_case(NULL, AIGOV_EP_CHAT,
              "{\"usage\":{\"a\\\"prompt_tokens\":7,\"note\":\"prompt_tokens\",\"prompt_tokens\":2,"
              "\"completion_tokens\":1}}", NULL, 2, 1);
    json_case(NULL, AIGOV_EP_CHAT,
              "{\"usage\":{\"prompt_tokens\":null,\"input_tokens\":true,"
              "\"completion_tokens\":99999999999999999999}}", NULL, -1, -1);
    json_case(NULL, AIGOV_EP_CHAT, "{\"usage\":{\"prompt_tokens\":-", NULL, -1, -1);

    /* only the provider's usage counts: the top's (or message's,
     * response's), not a "usage" the caller put in metadata, which the
     * Responses API echoes after its own, nor one in a tool's input */
    json_case(NULL, AIGOV_EP_RESPONSES,
              "{\"id\":\"r\",\"object\":\"response\",\"output\":[],\"usage\":{\"input_tokens\":100,"
              "\"output_tokens\":2000,\"output_tokens_details\":{\"reasoning_tokens\":1990}},\"user\":null,"
              "\"metadata\":{\"usage\":\"x\"}}", NULL, 100, 2000);
    json_case(NULL, AIGOV_EP_RESPONSES,
              "{\"id\":\"r\",\"object\":\"response\",\"output\":[],\"usage\":{\"input_tokens\":100,"
              "\"output_tokens\":2000},\"metadata\":{\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}",
              NULL, 100, 2000);
    json_case(NULL, AIGOV_EP_MESSAGES,
              "{\"type\":\"message\",\"usage\":{\"input_tokens\":100,\"output_tokens\":50},\"content\":"
              "[{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{\"usage\":{\"input_tokens\":1,"
              "\"output_tokens\":1}}}]}", NULL, 100, 50);
    json_case(NULL, AIGOV_EP_MESSAGES,
              "{\"type\":\"message\",\"content\":[{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\","
              "\"input\":{\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}]}", NULL, -1, -1);
    /* a key with escapes at the top, and nesting deeper than the fast
     * reader of texts goes, do not hide it */
    json_case(NULL, AIGOV_EP_CHAT,
              "{\"\\u00e9\":1,\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[{\"usage\":{\"prompt_tokens\":1}}"
              "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}",
              NULL, 3, 4);
    /* the top's usage null: message's, as take_usage reads it */
    json_case(NULL, AIGOV_EP_MESSAGES,
              "{\"usage\":null,\"message\":{\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}",
              NULL, 5, 1);
}

static void test_json_answers(void **state)
{
    fx_t fx;

    fx_init(&fx, "example", "{\"word\":\"bob@example.org\"}", AIGOV_ACTION_REDACT);
    json_case(&fx, AIGOV_EP_CHAT, CHAT_JSON,
              "{\"id\":\"x\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
              "\"content\":\"Write to [REDACTED:WORD]\"}},{\"index\":1,\"message\":{\"role\":"
              "\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"or [REDACTED:WORD]\"}]}}],"
              "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7,\"total_tokens\":12}}", 5, 7);
    json_case(&fx, AIGOV_EP_COMPLETIONS, COMPL_JSON,
              "{\"choices\":[{\"text\":\"[REDACTED:WORD]!\",\"index\":0}],"
              "\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":3}}", 2, 3);
    json_case(&fx, AIGOV_EP_MESSAGES, ANTH_JSON,
              "{\"type\":\"message\",\"content\":[{\"type\":\"text\",\"text\":\"hi [REDACTED:WORD]\"},"
              "{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{\"text\":\"[REDACTED:WORD]\"}}],"
              "\"usage\":{\"input_tokens\":11,\"output_tokens\":4}}", 11, 4);
    /* unchanged answers keep their exact bytes, spacing included */
    json_case(&fx, AIGOV_EP_CHAT, "{ \"choices\" : [ {\"message\":{\"content\":\"fine\"}} ] }",
              "{ \"choices\" : [ {\"message\":{\"content\":\"fine\"}} ] }", -1, -1);
    /* a body that is not JSON cannot be inspected: refused */
    json_case(&fx, AIGOV_EP_CHAT, "<html>bad gateway bob@example.org</html>",
              "{\"error\":{\"message\":\"the answer is neither JSON nor an event stream and "
              "cannot be inspected\",\"type\":\"policy_violation\",\"code\":\"aigov\",\"param\":null}}",
              -1, -1);
    fx_free(&fx);

    /* without filters: no output, usage all the same */
    json_case(NULL, AIGOV_EP_CHAT, CHAT_JSON, NULL, 5, 7);
    json_case(NULL, AIGOV_EP_MESSAGES, ANTH_JSON, NULL, 11, 4);
    json_case(NULL, AIGOV_EP_CHAT, "{\"usage\":{\"prompt_tokens\":-3,\"completion_tokens\":\"7\"}}",
              NULL, -1, -1);

    fx_init(&fx, "example", "{\"word\":\"bob@example.org\"}", AIGOV_ACTION_BLOCK);
    json_case(&fx, AIGOV_EP_CHAT, CHAT_JSON,
              "{\"error\":{\"message\":\"the text contains the configured word\","
              "\"type\":\"policy_violation\",\"code\":\"example\",\"param\":null}}", 5, 7);
    fx_free(&fx);
}

static void test_json_too_large(void **state)
{
    fx_t fx;
    aigov_answer_t *a;
    buf_t out = { 0 };

    fx_init(&fx, "spy", "{\"match\":\"zzz\"}", AIGOV_ACTION_FLAG);
    a = aigov_answer_new(AIGOV_EP_CHAT, 0, &fx.f, 1, 0);
    aigov_answer_set_limits(a, 0, 16);
    feed_all(a, CHAT_JSON, strlen(CHAT_JSON), 10, &out);
    assert_true(aigov_answer_blocked(a));
    assert_non_null(strstr(out.s, "\"code\":\"aigov\""));
    free(out.s);
    aigov_answer_free(a);
    fx_free(&fx);
}

/* in through an answer of fx's filter (fx NULL: none): its output, and
 * whether it was blocked. */
static char *through(fx_t *fx, int stream, int fast, const char *in, size_t step, int *blocked)
{
    aigov_answer_t *a = aigov_answer_new(AIGOV_EP_CHAT, stream, fx ? &fx->f : NULL, fx ? 1 : 0, 0);
    buf_t out = { 0 };

    aigov_answer_set_fast(a, fast);
    feed_all(a, in, strlen(in), step, &out);
    *blocked = aigov_answer_blocked(a);
    aigov_answer_free(a);
    return out.s ? out.s : strdup("");
}

/* What jansson cannot read but a client might (a lone surrogate, a number
 * too large) would pass uninspected: under a filter it is refused, whole
 * or streamed. Data that is not JSON at all, and \u0000, are not. */
static void test_unreadable_json_refused(void **state)
{
    static const char *const bad[] = {
        "data: {\"choices\":[{\"delta\":{\"content\":\"mail bob@example.org \\ud800\"}}]}\n\n",
        "data: {\"choices\":[{\"delta\":{\"content\":\"mail bob@example.org\"}}],\"n\":1e999}\n\n",
        "data: {\"choices\":[{\"delta\":{\"content\":\"mail bob@example.org \xff\"}}]}\n\n",
    };
    const char *plain = "data: keep-alive\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}\n\n";
    const char *nul = "data: {\"choices\":[{\"delta\":{\"content\":\"a\\u0000 bob@example.org\"}}]}\n\n";
    const char *page = "<html>bad gateway bob@example.org</html>";
    fx_t fx;
    char *o;
    int blocked;

    (void)state;
    fx_init(&fx, "example", "{\"word\":\"bob@example.org\"}", AIGOV_ACTION_REDACT);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        for (int fast = 0; fast < 2; fast++) {
            o = through(&fx, 1, fast, bad[i], 7, &blocked);
            assert_true(blocked);
            assert_null(strstr(o, "bob@"));
            assert_non_null(strstr(o, "\"code\":\"aigov\""));
            free(o);
        }
        /* nobody filters: the bytes pass as they came */
        free(through(NULL, 1, 1, bad[i], 7, &blocked));
        assert_false(blocked);
    }
    o = through(&fx, 1, 1, plain, 5, &blocked);
    assert_false(blocked);
    assert_string_equal(o, plain);
    free(o);
    o = through(&fx, 1, 1, nul, 9, &blocked);
    assert_false(blocked);
    assert_non_null(strstr(o, "a\\u0000 [REDACTED:WORD]"));
    free(o);

    /* whole answers: the same rule; a page that is not JSON is refused too */
    o = through(&fx, 0, 1, "{\"choices\":[{\"message\":{\"content\":\"bob@example.org \\udc00\"}}]}", 8,
                &blocked);
    assert_true(blocked);
    assert_null(strstr(o, "bob@"));
    free(o);
    o = through(&fx, 0, 1, page, 8, &blocked);
    assert_true(blocked);
    assert_null(strstr(o, "bob@"));
    free(o);
    fx_free(&fx);
}

/* A compressed answer is refused in the shape its label promises and what
 * follows is dropped; without filters refuse declines. */
static void test_refuse_compressed(void **state)
{
    const char *gz = "\x1f\x8b\x08\x00bob@example.org";
    fx_t fx;
    buf_t out = { 0 };
    aigov_answer_t *a;

    (void)state;
    fx_init(&fx, "example", "{\"word\":\"bob@example.org\"}", AIGOV_ACTION_REDACT);

    a = aigov_answer_new(AIGOV_EP_CHAT, 0, NULL, 0, 0);
    assert_int_equal(aigov_answer_refuse(a, "compressed"), 1);
    assert_false(aigov_answer_blocked(a));
    aigov_answer_free(a);

    a = aigov_answer_new(AIGOV_EP_CHAT, 1, &fx.f, 1, 0);
    assert_int_equal(aigov_answer_refuse(a, "the answer is compressed"), 0);
    feed_all(a, gz, strlen(gz), 3, &out);
    assert_true(aigov_answer_blocked(a));
    assert_string_equal(aigov_answer_outcome(a)->block_plugin, "aigov");
    assert_null(strstr(out.s, "bob@"));
    assert_non_null(strstr(out.s, "data: {\"error\""));
    assert_non_null(strstr(out.s, "data: [DONE]"));
    aigov_answer_free(a);
    free(out.s);
    out.s = NULL;
    out.n = 0;

    a = aigov_answer_new(AIGOV_EP_MESSAGES, -1, &fx.f, 1, 0);
    assert_int_equal(aigov_answer_refuse(a, "the answer is compressed"), 0);
    feed_all(a, gz, strlen(gz), 64, &out);
    assert_non_null(strstr(out.s, "{\"type\":\"error\",\"error\":{\"type\":\"permission_error\""));
    assert_null(strstr(out.s, "event:"));
    aigov_answer_free(a);
    free(out.s);
    fx_free(&fx);
}

/* ---- the fast reading of stream events against jansson's ---- */

static uint64_t rng = 0x2545f4914f6cdd1dull;

static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

/* JSON string content made of words, the spied address cut anywhere by
 * the caller, escapes fast_event reads itself and \u ones it leaves to
 * jansson, raw UTF-8. */
static size_t gen_text(char *o, size_t cap)
{
    static const char *const bits[] = {
        "the ", "report ", "mail ", "alice@example.com", "alice@", "example.com ",
        "\\n", "\\\"", "\\\\", "\\t", "\\/", "\\u00e9", "\\u0001", "caf\xc3\xa9 ", "x", "",
    };
    size_t n = 0, k = 1 + rnd(6);

    while (k-- && n + 24 < cap) {
        const char *b = bits[rnd(sizeof(bits) / sizeof(bits[0]))];
        memcpy(o + n, b, strlen(b));
        n += strlen(b);
    }
    o[n] = '\0';
    return n;
}

/* usage where take_usage looks and where it does not */
static const char *const odd_usage[] = {
    "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"u\"},\"usage\":{\"prompt_tokens\":7}}]}",
    "{\"choices\":[],\"usage\":{\"prompt_tokens\":1.5,\"completion_tokens\":-3,\"input_tokens\":2}}",
    "{\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"prompt_tokens\":\"x\",\"completion_tokens\":2e1}}",
    "{\"choices\":[],\"usage\":null,\"message\":{\"usage\":{\"input_tokens\":9,\"output_tokens\":8}}}",
    "{\"message\":{\"usage\":{\"input_tokens\":5}},\"choices\":[],\"usage\":{\"output_tokens\":6}}",
    "{\"choices\":[],\"usage\":{\"prompt\\u005ftokens\":6,\"output_tokens\":-0}}",
};

/* One random stream of ep's shape in canonical form (compact JSON, fields
 * in the order the re-serialiser writes them), so that both readings
 * must give the same bytes. */
static size_t gen_stream(aigov_endpoint_t ep, char *o, size_t cap)
{
    size_t n = 0, events = 1 + rnd(12);
    unsigned ix = 0;
    char t[512];

    while (events-- && n + 1200 < cap) {
        unsigned kind = rnd(10);

        gen_text(t, sizeof(t));
        if (ep == AIGOV_EP_MESSAGES) {
            /* text blocks one after another: joined parts (answer.h) */
            if (kind == 6)
                ix += rnd(2);
            if (kind < 6)
                n += (size_t)sprintf(o + n, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
                                     "\"index\":%u,\"delta\":{\"type\":\"text_delta\",\"text\":\"%s\"}}\n\n", ix, t);
            else if (kind == 6)
                n += (size_t)sprintf(o + n, "event: content_block_start\ndata: {\"type\":\"content_block_start\","
                                     "\"index\":%u,\"content_block\":{\"type\":\"text\",\"text\":\"%s\"}}\n\n", ix, t);
            else if (kind == 7 && rnd(2))
                n += (size_t)sprintf(o + n, "event: ping\ndata: {\"type\": \"ping\"}\n\n");
            else if (kind == 7)
                n += (size_t)sprintf(o + n, "event: message_start\ndata: {\"type\":\"message_start\","
                                     "\"message\":{\"id\":\"m\",\"usage\":{\"input_tokens\":%u,"
                                     "\"output_tokens\":1}}}\n\n", rnd(99));
            else if (kind == 8 && rnd(2))
                n += (size_t)sprintf(o + n, "event: message_delta\ndata: {\"type\":\"message_delta\","
                                     "\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":%u}}\n\n",
                                     rnd(99));
            else if (kind == 8)
                n += (size_t)sprintf(o + n, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\","
                                     "\"index\":%u}\n\n", ix);
            else    /* two data lines: jansson reads it in both */
                n += (size_t)sprintf(o + n, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
                                     "\"index\":%u,\ndata: \"delta\":{\"type\":\"text_delta\",\"text\":\"%s\"}}\n\n", ix, t);
        } else if (ep == AIGOV_EP_COMPLETIONS) {
            if (kind < 8)
                n += (size_t)sprintf(o + n, "data: {\"id\":\"c\",\"choices\":[{\"text\":\"%s\",\"index\":0}]}\n\n", t);
            else
                n += (size_t)sprintf(o + n, "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":%u,"
                                     "\"completion_tokens\":%u}}\n\n", rnd(99), rnd(99));
        } else {
            if (kind < 6)
                n += (size_t)sprintf(o + n, "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":"
                                     "{\"content\":\"%s\"},\"finish_reason\":null}]}\n\n", t);
            else if (kind == 6)
                n += (size_t)sprintf(o + n, "id: %u\ndata: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":"
                                     "{\"role\":\"assistant\",\"content\":\"%s\"}}]}\n\n", rnd(9), t);
            else if (kind == 7)     /* two choices: jansson's */
                n += (size_t)sprintf(o + n, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"%s\"}},"
                                     "{\"index\":1,\"delta\":{\"content\":\"alice@example.com\"}}]}\n\n", t);
            else if (kind == 8)
                n += (size_t)sprintf(o + n, "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":%u,"
                                     "\"completion_tokens\":%u}}\n\n", rnd(99), rnd(99));
            else if (kind == 9 && rnd(2))
                n += (size_t)sprintf(o + n, "data: %s\n\n", odd_usage[rnd(sizeof(odd_usage) / sizeof(odd_usage[0]))]);
            else
                n += (size_t)sprintf(o + n, "data: {\"choices\":[{\"delta\":{\"content\":null}}]}\n\n");
        }
    }
    if (ep != AIGOV_EP_MESSAGES && rnd(2))
        n += (size_t)sprintf(o + n, "data: [DONE]\n\n");
    else if (ep == AIGOV_EP_MESSAGES)
        n += (size_t)sprintf(o + n, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    return n;
}

static void run_stream(const char *in, size_t n, aigov_endpoint_t ep, int fast, int action,
                       size_t step, buf_t *out, aigov_answer_t **ap, fx_t *fx)
{
    fx_init(fx, "spy", "{\"match\":\"alice@example.com\",\"label\":\"EMAIL\"}", action);
    *ap = aigov_answer_new(ep, 1, &fx->f, 1, 0);
    assert_non_null(*ap);
    aigov_answer_set_fast(*ap, fast);
    memset(out, 0, sizeof(*out));
    feed_all(*ap, in, n, step, out);
}

static void test_fast_reading_same_as_jansson(void **state)
{
    static const aigov_endpoint_t eps[] = { AIGOV_EP_CHAT, AIGOV_EP_COMPLETIONS, AIGOV_EP_MESSAGES };
    static const int actions[] = { AIGOV_ACTION_REDACT, AIGOV_ACTION_FLAG, AIGOV_ACTION_BLOCK };
    static char in[40000];
    size_t masked = 0, runs = 0;

    (void)state;
    for (int i = 0; i < 600; i++) {
        aigov_endpoint_t ep = eps[rnd(3)];
        int action = actions[rnd(4) == 0 ? 1 + rnd(2) : 0];
        size_t n = gen_stream(ep, in, sizeof(in)), step = 1 + rnd(300);
        aigov_answer_t *fa, *ja;
        fx_t ff, jf;
        buf_t fo, jo;
        long long fp = -1, fc = -1, jp = -1, jc = -1;
        const aigov_filter_outcome_t *fr, *jr;

        run_stream(in, n, ep, 1, action, step, &fo, &fa, &ff);
        run_stream(in, n, ep, 0, action, step, &jo, &ja, &jf);
        if (fo.n != jo.n || memcmp(fo.s, jo.s, fo.n) != 0)
            fail_msg("stream %d (ep %d, action %d): outputs differ\nin:\n%s\nfast:\n%s\njansson:\n%s",
                     i, ep, action, in, fo.s ? fo.s : "", jo.s ? jo.s : "");
        assert_int_equal(aigov_answer_modified(fa), aigov_answer_modified(ja));
        assert_int_equal(aigov_answer_blocked(fa), aigov_answer_blocked(ja));
        assert_int_equal(aigov_answer_usage(fa, &fp, &fc), aigov_answer_usage(ja, &jp, &jc));
        assert_true(fp == jp && fc == jc);
        fr = aigov_answer_outcome(fa);
        jr = aigov_answer_outcome(ja);
        assert_int_equal(fr->nrecords, jr->nrecords);
        for (size_t k = 0; k < fr->nrecords; k++) {
            assert_string_equal(fr->records[k].verdict, jr->records[k].verdict);
            assert_int_equal(fr->records[k].count, jr->records[k].count);
        }
        masked += aigov_answer_modified(fa);
        runs++;
        free(fo.s);
        free(jo.s);
        aigov_answer_free(fa);
        aigov_answer_free(ja);
        fx_free(&ff);
        fx_free(&jf);
    }
    /* the streams exercised what they are meant to */
    assert_true(masked > runs / 4);
}

/* ---- every field the model writes (answer.h: what is text) ---- */

/* One answer with the word in one field: redacted, the answer is the same
 * bytes with the word replaced (its JSON written compact, in order, as the
 * re-serialiser writes it); blocked, nothing of it is in the output. */
typedef struct {
    const char       *name;
    aigov_endpoint_t  ep;
    int               stream;
    const char       *in;      /* W stands for the word */
} field_case_t;

#define W "bob@example.org"
static const field_case_t field_cases[] = {
    { "chat content", AIGOV_EP_CHAT, 0,
      "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"to " W "\"}}]}" },
    { "chat refusal", AIGOV_EP_CHAT, 0,
      "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":null,\"refusal\":\"no " W "\"}}]}" },
    { "chat tool_calls arguments", AIGOV_EP_CHAT, 0,
      "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"call_1\","
      "\"type\":\"function\",\"function\":{\"name\":\"send\",\"arguments\":\"{\\\"to\\\":\\\"" W "\\\"}\"}}]}}]}" },
    { "chat tool_calls name", AIGOV_EP_CHAT, 0,
      "{\"choices\":[{\"index\":0,\"message\":{\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\","
      "\"function\":{\"name\":\"" W "\",\"arguments\":\"{}\"}}]}}]}" },
    { "chat function_call", AIGOV_EP_CHAT, 0,
      "{\"choices\":[{\"message\":{\"function_call\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\":\\\"" W "\\\"}\"}}}]}" },
    { "chat reasoning_content", AIGOV_EP_CHAT, 0,
      "{\"choices\":[{\"message\":{\"reasoning_content\":\"user is " W "\",\"content\":\"ok\"}}]}" },
    { "chat audio transcript", AIGOV_EP_CHAT, 0,
      "{\"choices\":[{\"message\":{\"audio\":{\"id\":\"a\",\"data\":\"AAAA\",\"transcript\":\"say " W "\"}}}]}" },
    { "chat field added later", AIGOV_EP_CHAT, 0,
      "{\"choices\":[{\"message\":{\"future\":{\"notes\":[\"" W "\"]}}}]}" },
    { "completions text", AIGOV_EP_COMPLETIONS, 0, "{\"choices\":[{\"text\":\"" W "\",\"index\":0}]}" },
    { "Anthropic text", AIGOV_EP_MESSAGES, 0,
      "{\"type\":\"message\",\"content\":[{\"type\":\"text\",\"text\":\"to " W "\"}]}" },
    { "Anthropic tool_use input", AIGOV_EP_MESSAGES, 0,
      "{\"type\":\"message\",\"content\":[{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\","
      "\"input\":{\"type\":\"" W "\",\"deep\":[{\"id\":\"" W "\"}]}}]}" },
    { "Anthropic thinking", AIGOV_EP_MESSAGES, 0,
      "{\"type\":\"message\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"user " W "\",\"signature\":\"c2ln\"}]}" },
    { "Responses output_text", AIGOV_EP_RESPONSES, 0,
      "{\"id\":\"resp_1\",\"object\":\"response\",\"output\":[{\"type\":\"message\",\"id\":\"m\",\"content\":"
      "[{\"type\":\"output_text\",\"text\":\"to " W "\",\"annotations\":[]}]}],"
      "\"usage\":{\"input_tokens\":3,\"output_tokens\":4}}" },
    { "Responses refusal", AIGOV_EP_RESPONSES, 0,
      "{\"output\":[{\"type\":\"message\",\"content\":[{\"type\":\"refusal\",\"refusal\":\"no " W "\"}]}]}" },
    { "Responses function_call", AIGOV_EP_RESPONSES, 0,
      "{\"output\":[{\"type\":\"function_call\",\"call_id\":\"c\",\"name\":\"f\",\"arguments\":\"{\\\"to\\\":\\\"" W "\\\"}\"}]}" },
    { "Responses reasoning summary", AIGOV_EP_RESPONSES, 0,
      "{\"output\":[{\"type\":\"reasoning\",\"id\":\"r\",\"summary\":[{\"type\":\"summary_text\",\"text\":\"" W "\"}]}]}" },
    /* streamed */
    { "chat delta.content", AIGOV_EP_CHAT, 1,
      "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"to " W "\"},\"finish_reason\":null}]}\n\n"
      "data: [DONE]\n\n" },
    { "chat delta.tool_calls arguments", AIGOV_EP_CHAT, 1,
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"type\":\"function\","
      "\"function\":{\"name\":\"send\",\"arguments\":\"\"}}]}}]}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
      "\"{\\\"to\\\":\\\"" W "\\\"}\"}}]}}]}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n" },
    { "chat delta.reasoning_content", AIGOV_EP_CHAT, 1,
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"user " W "\"}}]}\n\n" },
    { "chat delta.refusal", AIGOV_EP_CHAT, 1,
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"refusal\":\"no " W "\"}}]}\n\n" },
    { "chat delta.function_call", AIGOV_EP_CHAT, 1,
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"function_call\":{\"arguments\":\"" W "\"}}}]}\n\n" },
    { "completions stream text", AIGOV_EP_COMPLETIONS, 1,
      "data: {\"choices\":[{\"text\":\"" W "\",\"index\":0}]}\n\ndata: [DONE]\n\n" },
    { "Anthropic text_delta", AIGOV_EP_MESSAGES, 1,
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
      "{\"type\":\"text_delta\",\"text\":\"to " W "\"}}\n\n" },
    { "Anthropic input_json_delta", AIGOV_EP_MESSAGES, 1,
      "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":"
      "{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{}}}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":"
      "{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"to\\\":\\\"" W "\\\"}\"}}\n\n"
      "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n" },
    { "Anthropic thinking_delta", AIGOV_EP_MESSAGES, 1,
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
      "{\"type\":\"thinking_delta\",\"thinking\":\"user " W "\"}}\n\n" },
    { "Anthropic tool_use name", AIGOV_EP_MESSAGES, 1,
      "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
      "{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"" W "\",\"input\":{}}}\n\n" },
    { "Responses output_text.delta and its repeats", AIGOV_EP_RESPONSES, 1,
      "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"item_id\":\"m\","
      "\"output_index\":0,\"content_index\":0,\"delta\":\"to " W "\",\"sequence_number\":1}\n\n"
      "event: response.output_text.done\ndata: {\"type\":\"response.output_text.done\",\"item_id\":\"m\","
      "\"output_index\":0,\"content_index\":0,\"text\":\"to " W "\",\"sequence_number\":2}\n\n"
      "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":3,\"response\":"
      "{\"id\":\"r\",\"output\":[{\"type\":\"message\",\"content\":[{\"type\":\"output_text\",\"text\":\"to " W "\"}]}],"
      "\"usage\":{\"input_tokens\":1,\"output_tokens\":2}}}\n\n" },
    { "Responses function_call_arguments.delta", AIGOV_EP_RESPONSES, 1,
      "event: response.function_call_arguments.delta\ndata: {\"type\":\"response.function_call_arguments.delta\","
      "\"item_id\":\"f\",\"output_index\":1,\"delta\":\"" W "\",\"sequence_number\":4}\n\n"
      "event: response.function_call_arguments.done\ndata: {\"type\":\"response.function_call_arguments.done\","
      "\"item_id\":\"f\",\"output_index\":1,\"arguments\":\"" W "\",\"sequence_number\":5}\n\n" },
    { "Responses refusal.delta", AIGOV_EP_RESPONSES, 1,
      "event: response.refusal.delta\ndata: {\"type\":\"response.refusal.delta\",\"item_id\":\"m\","
      "\"output_index\":0,\"content_index\":0,\"delta\":\"no " W "\",\"sequence_number\":1}\n\n" },
    { "Responses reasoning_summary_text.delta", AIGOV_EP_RESPONSES, 1,
      "event: response.reasoning_summary_text.delta\ndata: {\"type\":\"response.reasoning_summary_text.delta\","
      "\"item_id\":\"r\",\"output_index\":0,\"summary_index\":0,\"delta\":\"" W "\",\"sequence_number\":1}\n\n" },    /* probe: Anthropic server tools, citations, MCP, code execution */
    { "Anthropic citations", AIGOV_EP_MESSAGES, 0,
      "{\"type\":\"message\",\"content\":[{\"type\":\"text\",\"text\":\"ok\",\"citations\":[{\"type\":\"char_location\","
      "\"cited_text\":\"to " W "\",\"document_index\":0,\"document_title\":\"t " W "\",\"start_char_index\":0,\"end_char_index\":5}]}]}" },
    { "Anthropic web_search_tool_result", AIGOV_EP_MESSAGES, 0,
      "{\"type\":\"message\",\"content\":[{\"type\":\"server_tool_use\",\"id\":\"s\",\"name\":\"web_search\",\"input\":{\"query\":\"" W "\"}},"
      "{\"type\":\"web_search_tool_result\",\"tool_use_id\":\"s\",\"content\":[{\"type\":\"web_search_result\",\"url\":\"https://x/" W "\","
      "\"title\":\"t " W "\",\"encrypted_content\":\"EQ\",\"page_age\":\"" W "\"}]}]}" },
    { "Anthropic web_fetch_tool_result document", AIGOV_EP_MESSAGES, 0,
      "{\"type\":\"message\",\"content\":[{\"type\":\"web_fetch_tool_result\",\"tool_use_id\":\"s\",\"content\":{\"type\":\"web_fetch_result\","
      "\"url\":\"https://x\",\"content\":{\"type\":\"document\",\"source\":{\"type\":\"text\",\"media_type\":\"text/plain\","
      "\"data\":\"page " W "\"},\"title\":\"t " W "\",\"citations\":{\"enabled\":true}},\"retrieved_at\":\"2025\"}}]}" },
    { "Anthropic bash_code_execution_tool_result", AIGOV_EP_MESSAGES, 0,
      "{\"type\":\"message\",\"content\":[{\"type\":\"bash_code_execution_tool_result\",\"tool_use_id\":\"s\",\"content\":"
      "{\"type\":\"bash_code_execution_result\",\"stdout\":\"o " W "\",\"stderr\":\"e " W "\",\"return_code\":0,\"content\":[]}}]}" },
    { "Anthropic text_editor_code_execution_tool_result", AIGOV_EP_MESSAGES, 0,
      "{\"type\":\"message\",\"content\":[{\"type\":\"text_editor_code_execution_tool_result\",\"tool_use_id\":\"s\",\"content\":"
      "{\"type\":\"text_editor_code_execution_view_result\",\"file_type\":\"text\",\"content\":\"f " W "\",\"num_lines\":1,\"start_line\":1,\"total_lines\":1}}]}" },
    { "Anthropic mcp_tool_use and result", AIGOV_EP_MESSAGES, 0,
      "{\"type\":\"message\",\"content\":[{\"type\":\"mcp_tool_use\",\"id\":\"m\",\"name\":\"n\",\"server_name\":\"s\",\"input\":{\"q\":\"" W "\"}},"
      "{\"type\":\"mcp_tool_result\",\"tool_use_id\":\"m\",\"is_error\":false,\"content\":[{\"type\":\"text\",\"text\":\"r " W "\"}]}]}" },
    { "Anthropic citations_delta", AIGOV_EP_MESSAGES, 1,
      "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\",\"citations\":[]}}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"citations_delta\",\"citation\":"
      "{\"type\":\"char_location\",\"cited_text\":\"c " W "\",\"document_index\":0,\"document_title\":\"d " W "\",\"start_char_index\":0,\"end_char_index\":3}}}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"to " W "\"}}\n\n"
      "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n" },
    { "Anthropic web_fetch streamed", AIGOV_EP_MESSAGES, 1,
      "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"web_fetch_tool_result\",\"tool_use_id\":\"s\",\"content\":{\"type\":\"web_fetch_result\","
      "\"url\":\"https://x\",\"content\":{\"type\":\"document\",\"source\":{\"type\":\"text\",\"media_type\":\"text/plain\","
      "\"data\":\"page " W "\"},\"title\":\"t\"}}}}\n\n"
      "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n" },
    /* probe: Responses output items */
    { "Responses web_search_call", AIGOV_EP_RESPONSES, 0,
      "{\"output\":[{\"type\":\"web_search_call\",\"id\":\"w\",\"status\":\"completed\",\"action\":{\"type\":\"search\",\"query\":\"" W "\","
      "\"sources\":[{\"type\":\"url\",\"url\":\"https://" W "\"}]}}]}" },
    { "Responses file_search_call", AIGOV_EP_RESPONSES, 0,
      "{\"output\":[{\"type\":\"file_search_call\",\"id\":\"f\",\"queries\":[\"" W "\"],\"results\":[{\"file_id\":\"x\",\"filename\":\"" W "\",\"score\":0.5,\"text\":\"t " W "\"}]}]}" },
    { "Responses code_interpreter_call", AIGOV_EP_RESPONSES, 0,
      "{\"output\":[{\"type\":\"code_interpreter_call\",\"id\":\"c\",\"container_id\":\"k\",\"code\":\"print('" W "')\","
      "\"outputs\":[{\"type\":\"logs\",\"logs\":\"" W "\"}]}]}" },
    { "Responses image_generation_call", AIGOV_EP_RESPONSES, 0,
      "{\"output\":[{\"type\":\"image_generation_call\",\"id\":\"i\",\"revised_prompt\":\"draw " W "\",\"result\":\"AAAA\"}]}" },
    { "Responses mcp_call", AIGOV_EP_RESPONSES, 0,
      "{\"output\":[{\"type\":\"mcp_call\",\"id\":\"m\",\"server_label\":\"s\",\"name\":\"n\",\"arguments\":\"{\\\"q\\\":\\\"" W "\\\"}\","
      "\"output\":\"o " W "\",\"error\":\"e " W "\"}]}" },
    { "Responses mcp_list_tools", AIGOV_EP_RESPONSES, 0,
      "{\"output\":[{\"type\":\"mcp_list_tools\",\"id\":\"l\",\"server_label\":\"s\",\"tools\":[{\"name\":\"n\",\"description\":\"d " W "\","
      "\"input_schema\":{\"type\":\"object\",\"properties\":{\"q\":{\"type\":\"string\",\"description\":\"" W "\"}}}}]}]}" },
    { "Responses mcp_approval_request", AIGOV_EP_RESPONSES, 0,
      "{\"output\":[{\"type\":\"mcp_approval_request\",\"id\":\"a\",\"server_label\":\"s\",\"name\":\"n\",\"arguments\":\"{\\\"q\\\":\\\"" W "\\\"}\"}]}" },
    { "Responses custom_tool_call", AIGOV_EP_RESPONSES, 0,
      "{\"output\":[{\"type\":\"custom_tool_call\",\"id\":\"c\",\"call_id\":\"k\",\"name\":\"n\",\"input\":\"free " W "\"}]}" },
    { "Responses local_shell_call", AIGOV_EP_RESPONSES, 0,
      "{\"output\":[{\"type\":\"local_shell_call\",\"id\":\"l\",\"call_id\":\"k\",\"action\":{\"type\":\"exec\",\"command\":[\"echo\",\"" W "\"],"
      "\"working_directory\":\"/" W "\",\"user\":\"" W "\"}}]}" },
    { "Responses computer_call type", AIGOV_EP_RESPONSES, 0,
      "{\"output\":[{\"type\":\"computer_call\",\"id\":\"c\",\"call_id\":\"k\",\"action\":{\"type\":\"type\",\"text\":\"" W "\"},\"pending_safety_checks\":[]}]}" },
    { "Responses reasoning content", AIGOV_EP_RESPONSES, 0,
      "{\"output\":[{\"type\":\"reasoning\",\"id\":\"r\",\"summary\":[],\"content\":[{\"type\":\"reasoning_text\",\"text\":\"" W "\"}]}]}" },
    { "Responses annotations", AIGOV_EP_RESPONSES, 0,
      "{\"output\":[{\"type\":\"message\",\"content\":[{\"type\":\"output_text\",\"text\":\"ok\",\"annotations\":["
      "{\"type\":\"url_citation\",\"url\":\"https://" W "\",\"title\":\"t " W "\",\"start_index\":0,\"end_index\":2},"
      "{\"type\":\"file_citation\",\"file_id\":\"f\",\"filename\":\"" W "\",\"index\":0},"
      "{\"type\":\"container_file_citation\",\"container_id\":\"c\",\"file_id\":\"f\",\"filename\":\"" W "\",\"start_index\":0,\"end_index\":1}]}]}]}" },
    { "Responses error", AIGOV_EP_RESPONSES, 0,
      "{\"id\":\"r\",\"status\":\"failed\",\"error\":{\"code\":\"server_error\",\"message\":\"m " W "\"},\"output\":[]}" },
    { "Responses code_interpreter_call_code.delta", AIGOV_EP_RESPONSES, 1,
      "event: response.code_interpreter_call_code.delta\ndata: {\"type\":\"response.code_interpreter_call_code.delta\",\"item_id\":\"c\","
      "\"output_index\":0,\"delta\":\"print('" W "')\",\"sequence_number\":1}\n\n"
      "event: response.code_interpreter_call_code.done\ndata: {\"type\":\"response.code_interpreter_call_code.done\",\"item_id\":\"c\","
      "\"output_index\":0,\"code\":\"print('" W "')\",\"sequence_number\":2}\n\n" },
    { "Responses custom_tool_call_input.delta", AIGOV_EP_RESPONSES, 1,
      "event: response.custom_tool_call_input.delta\ndata: {\"type\":\"response.custom_tool_call_input.delta\",\"item_id\":\"c\","
      "\"output_index\":0,\"delta\":\"free " W "\",\"sequence_number\":1}\n\n"
      "event: response.custom_tool_call_input.done\ndata: {\"type\":\"response.custom_tool_call_input.done\",\"item_id\":\"c\","
      "\"output_index\":0,\"input\":\"free " W "\",\"sequence_number\":2}\n\n" },
    { "Responses mcp_call_arguments.delta", AIGOV_EP_RESPONSES, 1,
      "event: response.mcp_call_arguments.delta\ndata: {\"type\":\"response.mcp_call_arguments.delta\",\"item_id\":\"c\","
      "\"output_index\":0,\"delta\":\"{\\\"q\\\":\\\"" W "\\\"}\",\"sequence_number\":1}\n\n"
      "event: response.mcp_call_arguments.done\ndata: {\"type\":\"response.mcp_call_arguments.done\",\"item_id\":\"c\","
      "\"output_index\":0,\"arguments\":\"{\\\"q\\\":\\\"" W "\\\"}\",\"sequence_number\":2}\n\n" },
    { "Responses reasoning_text.delta", AIGOV_EP_RESPONSES, 1,
      "event: response.reasoning_text.delta\ndata: {\"type\":\"response.reasoning_text.delta\",\"item_id\":\"r\","
      "\"output_index\":0,\"content_index\":0,\"delta\":\"" W "\",\"sequence_number\":1}\n\n"
      "event: response.reasoning_text.done\ndata: {\"type\":\"response.reasoning_text.done\",\"item_id\":\"r\","
      "\"output_index\":0,\"content_index\":0,\"text\":\"" W "\",\"sequence_number\":2}\n\n" },
    { "Responses annotation.added", AIGOV_EP_RESPONSES, 1,
      "event: response.output_text.annotation.added\ndata: {\"type\":\"response.output_text.annotation.added\",\"item_id\":\"m\","
      "\"output_index\":0,\"content_index\":0,\"annotation_index\":0,\"annotation\":{\"type\":\"url_citation\",\"url\":\"https://x\","
      "\"title\":\"t " W "\",\"start_index\":0,\"end_index\":1},\"sequence_number\":3}\n\n" },
    { "Responses mcp_list_tools streamed", AIGOV_EP_RESPONSES, 1,
      "event: response.output_item.done\ndata: {\"type\":\"response.output_item.done\",\"output_index\":0,\"item\":"
      "{\"type\":\"mcp_list_tools\",\"id\":\"l\",\"server_label\":\"s\",\"tools\":[{\"name\":\"n\",\"description\":\"d " W "\"}]},\"sequence_number\":1}\n\n" },
    /* tools loaded while the model answered, which the request never
     * carried: a tool search's, an Anthropic MCP server's listing */
    { "Responses tool_search_output", AIGOV_EP_RESPONSES, 0,
      "{\"output\":[{\"type\":\"tool_search_output\",\"id\":\"to\",\"call_id\":\"tc\",\"execution\":\"server\",\"status\":\"completed\","
      "\"tools\":[{\"type\":\"function\",\"name\":\"n\",\"description\":\"d " W "\",\"parameters\":{\"type\":\"object\","
      "\"properties\":{\"a\":{\"description\":\"" W "\"}}},\"strict\":true}]}]}" },
    { "Responses tool_search_output streamed", AIGOV_EP_RESPONSES, 1,
      "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"output_index\":0,\"item\":"
      "{\"type\":\"tool_search_output\",\"id\":\"to\",\"call_id\":\"tc\",\"execution\":\"server\",\"status\":\"completed\","
      "\"tools\":[{\"type\":\"function\",\"name\":\"n\",\"description\":\"d " W "\"}]},\"sequence_number\":1}\n\n" },
    { "Anthropic mcp_tool_listing", AIGOV_EP_MESSAGES, 0,
      "{\"type\":\"message\",\"content\":[{\"type\":\"mcp_tool_listing\",\"mcp_server_name\":\"srv\",\"tools\":[{\"name\":\"n\","
      "\"description\":\"d " W "\",\"input_schema\":{\"type\":\"object\",\"properties\":{\"q\":{\"description\":\"" W "\"}}}}]}]}" },
    { "Anthropic mcp_tool_listing streamed", AIGOV_EP_MESSAGES, 1,
      "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"mcp_tool_listing\","
      "\"mcp_server_name\":\"srv\",\"tools\":[{\"name\":\"n\",\"description\":\"d " W "\"}]}}\n\n"
      "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n" },
    { "Responses error event", AIGOV_EP_RESPONSES, 1,
      "event: error\ndata: {\"type\":\"error\",\"code\":\"x\",\"message\":\"m " W "\",\"param\":null,\"sequence_number\":1}\n\n" },
    /* probe: chat */
    { "chat delta.audio.transcript", AIGOV_EP_CHAT, 1,
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"audio\":{\"id\":\"a\",\"transcript\":\"say " W "\"}}}]}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"audio\":{\"data\":\"AAAA\",\"expires_at\":1}}}]}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n" },
    { "chat annotations", AIGOV_EP_CHAT, 0,
      "{\"choices\":[{\"message\":{\"content\":\"ok\",\"annotations\":[{\"type\":\"url_citation\",\"url_citation\":{\"url\":\"https://" W "\","
      "\"title\":\"t " W "\",\"start_index\":0,\"end_index\":1}}]}}]}" },
    { "chat delta.annotations", AIGOV_EP_CHAT, 1,
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"annotations\":[{\"type\":\"url_citation\",\"url_citation\":{\"url\":\"https://x\","
      "\"title\":\"t " W "\",\"start_index\":0,\"end_index\":1}}]}}]}\n\n" },
};

/* s with every W replaced by rep. */
static char *replace_word(const char *s, const char *rep)
{
    size_t n = 0, wl = strlen(W), rl = strlen(rep);
    char *o = malloc(strlen(s) * 2 + 64), *d = o;
    const char *p = s, *q;

    assert_non_null(o);
    while ((q = strstr(p, W)) != NULL) {
        memcpy(d, p, (size_t)(q - p));
        d += q - p;
        memcpy(d, rep, rl);
        d += rl;
        p = q + wl;
        n++;
    }
    strcpy(d, p);
    assert_true(n > 0);
    return o;
}

static void test_every_field(void **state)
{
    fx_t rf, bf;
    size_t i;
    int fast, step;

    (void)state;
    fx_init(&rf, "example", "{\"word\":\"" W "\"}", AIGOV_ACTION_REDACT);
    fx_init(&bf, "example", "{\"word\":\"" W "\"}", AIGOV_ACTION_BLOCK);
    for (i = 0; i < sizeof(field_cases) / sizeof(field_cases[0]); i++) {
        const field_case_t *c = &field_cases[i];
        char *want = replace_word(c->in, "[REDACTED:WORD]");

        for (fast = 0; fast < 2; fast++) {
            for (step = 1; step <= 4096; step *= 64) {
                aigov_answer_t *a = aigov_answer_new(c->ep, c->stream, &rf.f, 1, 0);
                buf_t out = { 0 };

                aigov_answer_set_fast(a, fast);
                feed_all(a, c->in, strlen(c->in), (size_t)step, &out);
                if (out.s == NULL || strcmp(out.s, want) != 0)
                    fail_msg("%s (fast %d, step %d): redacted\n%s\nwant\n%s", c->name, fast, step,
                             out.s ? out.s : "", want);
                assert_false(aigov_answer_blocked(a));
                free(out.s);
                aigov_answer_free(a);

                a = aigov_answer_new(c->ep, c->stream, &bf.f, 1, 0);
                memset(&out, 0, sizeof(out));
                aigov_answer_set_fast(a, fast);
                feed_all(a, c->in, strlen(c->in), (size_t)step, &out);
                if (!aigov_answer_blocked(a) || strstr(out.s ? out.s : "", W) != NULL)
                    fail_msg("%s (fast %d): not blocked\n%s", c->name, fast, out.s ? out.s : "");
                free(out.s);
                aigov_answer_free(a);
            }
        }
        free(want);
    }
    fx_free(&rf);
    fx_free(&bf);
}

/* Tool-call arguments are JSON text that the client parses: the word
 * written with JSON escapes inside them ("\u0062ob", "\u0040") is the word
 * to the client, and is found, whole or with its escape cut across events;
 * the mask covers the escapes whole, so the arguments stay valid JSON. */
#define EB "\\\\u0062ob@example.org"            /* \u0062ob@..., in the outer JSON */
#define EAT "bob\\\\u0040example\\\\u002eorg"  /* bob\u0040example\u002eorg */
static const field_case_t escaped_cases[] = {
    { "chat tool_calls arguments", AIGOV_EP_CHAT, 0,
      "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"call_1\","
      "\"type\":\"function\",\"function\":{\"name\":\"send\",\"arguments\":\"{\\\"to\\\":\\\"" EB "\\\"}\"}}]}}]}" },
    { "chat function_call", AIGOV_EP_CHAT, 0,
      "{\"choices\":[{\"message\":{\"function_call\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\":\\\"" EAT "\\\"}\"}}}]}" },
    { "Responses function_call", AIGOV_EP_RESPONSES, 0,
      "{\"output\":[{\"type\":\"function_call\",\"call_id\":\"c\",\"name\":\"f\",\"arguments\":\"{\\\"to\\\":\\\"" EAT "\\\"}\"}]}" },
    { "chat delta.tool_calls arguments, the escape cut", AIGOV_EP_CHAT, 1,
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"type\":\"function\","
      "\"function\":{\"name\":\"send\",\"arguments\":\"{\\\"to\\\":\\\"\\\\u00\"}}]}}]}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
      "\"62ob@exa\"}}]}}]}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
      "\"mple.org\\\"}\"}}]}}]}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\ndata: [DONE]\n\n" },
    { "Anthropic input_json_delta", AIGOV_EP_MESSAGES, 1,
      "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":"
      "{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{}}}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":"
      "{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"to\\\":\\\"\\\\u0062ob@\"}}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":"
      "{\"type\":\"input_json_delta\",\"partial_json\":\"example\\\\u002eorg\\\"}\"}}\n\n"
      "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n" },
    { "Responses function_call_arguments.delta and .done", AIGOV_EP_RESPONSES, 1,
      "event: response.function_call_arguments.delta\ndata: {\"type\":\"response.function_call_arguments.delta\","
      "\"item_id\":\"f\",\"output_index\":1,\"delta\":\"{\\\"to\\\":\\\"" EB "\\\"}\",\"sequence_number\":4}\n\n"
      "event: response.function_call_arguments.done\ndata: {\"type\":\"response.function_call_arguments.done\","
      "\"item_id\":\"f\",\"output_index\":1,\"arguments\":\"{\\\"to\\\":\\\"" EB "\\\"}\",\"sequence_number\":5}\n\n" },
};

static void test_escaped_arguments(void **state)
{
    fx_t rf, bf;
    size_t i;
    int fast, step;

    (void)state;
    fx_init(&rf, "example", "{\"word\":\"" W "\"}", AIGOV_ACTION_REDACT);
    fx_init(&bf, "example", "{\"word\":\"" W "\"}", AIGOV_ACTION_BLOCK);
    for (i = 0; i < sizeof(escaped_cases) / sizeof(escaped_cases[0]); i++) {
        const field_case_t *c = &escaped_cases[i];

        for (fast = 0; fast < 2; fast++) {
            for (step = 1; step <= 4096; step *= 64) {
                aigov_answer_t *a = aigov_answer_new(c->ep, c->stream, &rf.f, 1, 0);
                buf_t out = { 0 };

                aigov_answer_set_fast(a, fast);
                feed_all(a, c->in, strlen(c->in), (size_t)step, &out);
                if (out.s == NULL || strstr(out.s, "[REDACTED:WORD]") == NULL
                    || strstr(out.s, "ob@example") != NULL || strstr(out.s, "example.org") != NULL
                    || strstr(out.s, "u0062") != NULL || strstr(out.s, "u0040") != NULL)
                    fail_msg("%s (fast %d, step %d): not masked whole\n%s", c->name, fast, step,
                             out.s ? out.s : "");
                assert_false(aigov_answer_blocked(a));
                free(out.s);
                aigov_answer_free(a);

                a = aigov_answer_new(c->ep, c->stream, &bf.f, 1, 0);
                memset(&out, 0, sizeof(out));
                aigov_answer_set_fast(a, fast);
                feed_all(a, c->in, strlen(c->in), (size_t)step, &out);
                if (!aigov_answer_blocked(a) || strstr(out.s ? out.s : "", "ob@") != NULL
                    || strstr(out.s ? out.s : "", "example.org") != NULL
                    || strstr(out.s ? out.s : "", "example\\\\u002eorg") != NULL)
                    fail_msg("%s (fast %d, step %d): not blocked\n%s", c->name, fast, step,
                             out.s ? out.s : "");
                free(out.s);
                aigov_answer_free(a);
            }
        }
    }

    /* an escaped backslash before "u0062" is no escape of b: nothing found */
    {
        static const char *const in =
            "{\"output\":[{\"type\":\"function_call\",\"name\":\"f\",\"arguments\":"
            "\"{\\\"to\\\":\\\"\\\\\\\\u0062ob@example.org\\\"}\"}]}";
        aigov_answer_t *a = aigov_answer_new(AIGOV_EP_RESPONSES, 0, &bf.f, 1, 0);
        buf_t out = { 0 };

        feed_all(a, in, strlen(in), 4096, &out);
        assert_false(aigov_answer_blocked(a));
        assert_string_equal(out.s, in);     /* passed as it came */
        aigov_answer_free(a);
        free(out.s);
    }
    /* the same escape in a text that is not JSON text stays as written */
    {
        static const char *const in =
            "{\"choices\":[{\"index\":0,\"message\":{\"content\":\"\\\\u0062ob@example.org\"}}]}";
        aigov_answer_t *a = aigov_answer_new(AIGOV_EP_CHAT, 0, &bf.f, 1, 0);
        buf_t out = { 0 };

        feed_all(a, in, strlen(in), 4096, &out);
        assert_false(aigov_answer_blocked(a));
        aigov_answer_free(a);
        free(out.s);
    }
    fx_free(&rf);
    fx_free(&bf);
}

/* Keys the model wrote (under a tool_use "input") are text like its
 * values: whole and in a content_block_start that brings the input whole,
 * a key holding the word is renamed masked, or the answer blocked. Keys
 * elsewhere are field names. */
static void test_input_keys(void **state)
{
    static const char *const whole =
        "{\"type\":\"message\",\"content\":[{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\","
        "\"input\":{\"deep\":{\"" W "\":1},\"ok\":\"x\"}}]}";
    static const char *const stream =
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
        "{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{\"" W "\":2}}}\n\n"
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n";
    static const char *const field_name =
        "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"hi\",\"" W "\":3}}]}";
    fx_t rf, bf;
    int fast, blocked;

    (void)state;
    fx_init(&rf, "example", "{\"word\":\"" W "\"}", AIGOV_ACTION_REDACT);
    fx_init(&bf, "example", "{\"word\":\"" W "\"}", AIGOV_ACTION_BLOCK);
    json_case(&rf, AIGOV_EP_MESSAGES, whole,
              "{\"type\":\"message\",\"content\":[{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\","
              "\"input\":{\"deep\":{\"[REDACTED:WORD]\":1},\"ok\":\"x\"}}]}", -1, -1);
    for (blocked = 0; blocked < 2; blocked++) {
        for (fast = 0; fast < 2; fast++) {
            aigov_answer_t *a = aigov_answer_new(AIGOV_EP_MESSAGES, 1, blocked ? &bf.f : &rf.f, 1, 0);
            buf_t out = { 0 };

            aigov_answer_set_fast(a, fast);
            feed_all(a, stream, strlen(stream), 13, &out);
            assert_int_equal(aigov_answer_blocked(a), blocked);
            assert_null(strstr(out.s, "bob@"));
            if (!blocked)
                assert_non_null(strstr(out.s, "\"input\":{\"[REDACTED:WORD]\":2}"));
            free(out.s);
            aigov_answer_free(a);
        }
    }
    {
        aigov_answer_t *a = aigov_answer_new(AIGOV_EP_MESSAGES, 0, &bf.f, 1, 0);
        buf_t out = { 0 };

        feed_all(a, whole, strlen(whole), 4096, &out);
        assert_true(aigov_answer_blocked(a));
        assert_null(strstr(out.s, "bob@"));
        free(out.s);
        aigov_answer_free(a);
    }
    /* a map whose keys are chosen: "summary" there is no control name */
    json_case(&bf, AIGOV_EP_RESPONSES,
              "{\"output\":[{\"type\":\"local_shell_call\",\"action\":{\"type\":\"exec\","
              "\"env\":{\"summary\":\"" W "\"}}}]}",
              "{\"error\":{\"message\":\"the text contains the configured word\","
              "\"type\":\"policy_violation\",\"code\":\"example\",\"param\":null}}", -1, -1);
    /* a field name elsewhere is no text */
    json_case(&bf, AIGOV_EP_CHAT, field_name, field_name, -1, -1);
    fx_free(&rf);
    fx_free(&bf);
}

/* A whole answer's texts are also read joined: a word cut across two
 * output_text parts (which the openai SDK's output_text runs together) or
 * two message items is found; a mask over the join keeps its label in
 * the first part. */
static void test_whole_answer_joined(void **state)
{
    static const char *const parts =
        "{\"output\":[{\"type\":\"message\",\"content\":[{\"type\":\"output_text\",\"text\":\"we discuss zanzi\"},"
        "{\"type\":\"output_text\",\"text\":\"bar today\"}]}]}";
    static const char *const items =
        "{\"output\":[{\"type\":\"message\",\"content\":[{\"type\":\"output_text\",\"text\":\"we discuss project\"}]},"
        "{\"type\":\"message\",\"content\":[{\"type\":\"output_text\",\"text\":\"neptune today\"}]}]}";
    fx_t rf, bf, pf;

    (void)state;
    fx_init(&rf, "example", "{\"word\":\"zanzibar\"}", AIGOV_ACTION_REDACT);
    fx_init(&bf, "example", "{\"word\":\"zanzibar\"}", AIGOV_ACTION_BLOCK);
    fx_init(&pf, "example", "{\"word\":\"project neptune\"}", AIGOV_ACTION_BLOCK);
    json_case(&rf, AIGOV_EP_RESPONSES, parts,
              "{\"output\":[{\"type\":\"message\",\"content\":[{\"type\":\"output_text\",\"text\":"
              "\"we discuss [REDACTED:WORD]\"},{\"type\":\"output_text\",\"text\":\" today\"}]}]}", -1, -1);
    {
        aigov_answer_t *a = aigov_answer_new(AIGOV_EP_RESPONSES, 0, &bf.f, 1, 0);
        buf_t out = { 0 };

        feed_all(a, parts, strlen(parts), 4096, &out);
        assert_true(aigov_answer_blocked(a));
        assert_null(strstr(out.s, "zanzi"));
        free(out.s);
        aigov_answer_free(a);

        a = aigov_answer_new(AIGOV_EP_RESPONSES, 0, &pf.f, 1, 0);
        memset(&out, 0, sizeof(out));
        feed_all(a, items, strlen(items), 4096, &out);
        assert_true(aigov_answer_blocked(a));
        assert_null(strstr(out.s, "neptune"));
        free(out.s);
        aigov_answer_free(a);
    }
    /* the choices of an answer with n > 1 are separate answers, and
     * tool-call arguments are JSON texts of their own: not run together;
     * the parts of one choice's content are */
    {
        static const char *const apart[] = {
            "{\"choices\":[{\"index\":0,\"message\":{\"content\":\"we discuss zanzi\"}},"
            "{\"index\":1,\"message\":{\"content\":\"bar today\"}}]}",
            "{\"choices\":[{\"text\":\"we discuss zanzi\",\"index\":0},{\"text\":\"bar today\",\"index\":1}]}",
            "{\"choices\":[{\"index\":0,\"message\":{\"content\":\"we discuss zanzi\",\"tool_calls\":"
            "[{\"id\":\"c\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"bar\"}}]}}]}",
        };
        static const char *const together =
            "{\"choices\":[{\"index\":0,\"message\":{\"content\":[{\"type\":\"text\",\"text\":\"we discuss zanzi\"},"
            "{\"type\":\"text\",\"text\":\"bar today\"}]}}]}";
        size_t i;

        for (i = 0; i < 3; i++)
            json_case(&bf, i == 1 ? AIGOV_EP_COMPLETIONS : AIGOV_EP_CHAT, apart[i], apart[i], -1, -1);
        {
            aigov_answer_t *a = aigov_answer_new(AIGOV_EP_CHAT, 0, &bf.f, 1, 0);
            buf_t out = { 0 };

            feed_all(a, together, strlen(together), 4096, &out);
            assert_true(aigov_answer_blocked(a));
            free(out.s);
            aigov_answer_free(a);
        }
    }
    /* halves that do not meet at the join stay */
    json_case(&bf, AIGOV_EP_RESPONSES,
              "{\"output\":[{\"type\":\"message\",\"content\":[{\"type\":\"output_text\",\"text\":\"zanzi.\"},"
              "{\"type\":\"output_text\",\"text\":\" bar\"}]}]}",
              "{\"output\":[{\"type\":\"message\",\"content\":[{\"type\":\"output_text\",\"text\":\"zanzi.\"},"
              "{\"type\":\"output_text\",\"text\":\" bar\"}]}]}", -1, -1);
    fx_free(&rf);
    fx_free(&bf);
    fx_free(&pf);
}

/* The joined reading reads the parts as the filter got them, not as it
 * redacted them alone: "ali" | "ce.smith@example.com", whose second part
 * alone is an address, is masked whole, its label in the first part; a
 * mask of a part alone that the joined one overlaps is one with it, the
 * others stay. */
static void test_whole_answer_joined_originals(void **state)
{
#define RESP2(a, b) "{\"output\":[{\"type\":\"message\",\"content\":[{\"type\":\"output_text\",\"text\":\"" a "\"}," \
        "{\"type\":\"output_text\",\"text\":\"" b "\"}]}]}"
    fx_t rf, bf;

    (void)state;
    fx_init(&rf, "pii", "{}", AIGOV_ACTION_REDACT);
    fx_init(&bf, "pii", "{}", AIGOV_ACTION_BLOCK);
    json_case(&rf, AIGOV_EP_RESPONSES, RESP2("mail ali", "ce.smith@example.com"),
              RESP2("mail [REDACTED:EMAIL]", ""), -1, -1);
    json_case(&rf, AIGOV_EP_RESPONSES, RESP2("mail ali", "ce.smith@example.com or bob@example.org"),
              RESP2("mail [REDACTED:EMAIL]", " or [REDACTED:EMAIL]"), -1, -1);
    {
        aigov_answer_t *a = aigov_answer_new(AIGOV_EP_RESPONSES, 0, &bf.f, 1, 0);
        buf_t out = { 0 };
        static const char *const in = RESP2("mail ali", "ce.smith@example.com");

        feed_all(a, in, strlen(in), 4096, &out);
        assert_true(aigov_answer_blocked(a));
        assert_null(strstr(out.s, "example.com"));
        free(out.s);
        aigov_answer_free(a);
    }
    fx_free(&rf);
    fx_free(&bf);
#undef RESP2
}

/* The control fields are not text: an id, a type, a model that hold the
 * word stay as they are. */
static void test_control_fields_not_text(void **state)
{
    static const char *const in =
        "{\"id\":\"" W "\",\"object\":\"" W "\",\"model\":\"" W "\",\"choices\":[{\"index\":0,"
        "\"finish_reason\":\"" W "\",\"message\":{\"role\":\"" W "\",\"content\":\"fine\"}}]}";
    /* "data" and "tools" are text only in a text document and in tools
     * loaded while answering (an MCP server's list, a tool search's);
     * elsewhere base64 and the request's tools echoed */
    static const char *const anth =
        "{\"type\":\"message\",\"content\":[{\"type\":\"redacted_thinking\",\"data\":\"" W "\"},"
        "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/png\",\"data\":\"" W "\"}}]}";
    static const char *const resp =
        "{\"object\":\"response\",\"tools\":[{\"type\":\"function\",\"name\":\"f\",\"description\":\"" W "\"}],"
        "\"output\":[{\"type\":\"mcp_call\",\"tools\":[\"" W "\"]},{\"type\":\"mcp_list\",\"tools\":[\"" W "\"]},"
        "{\"type\":\"tool_search_output_x\",\"tools\":[\"" W "\"]}]}";
    /* an image in base64, ids the provider made, an encrypted index: a
     * filter would only see noise there, and a mask break them */
    static const char *const media =
        "{\"object\":\"response\",\"output\":[{\"type\":\"image_generation_call\",\"result\":\"" W "\","
        "\"container_id\":\"" W "\",\"file_ids\":[\"" W "\"]}]}";
    static const char *const media_sse =
        "event: response.image_generation_call.partial_image\ndata: {\"type\":"
        "\"response.image_generation_call.partial_image\",\"partial_image_b64\":\"" W "\"}\n\n";
    static const char *const index =
        "{\"type\":\"message\",\"content\":[{\"type\":\"web_search_tool_result\",\"content\":"
        "[{\"type\":\"web_search_result\",\"title\":\"t\",\"encrypted_content\":\"" W "\","
        "\"encrypted_index\":\"" W "\"}]}]}";
    /* elsewhere a "result" is text */
    static const char *const other = "{\"output\":[{\"type\":\"tool_run\",\"result\":\"" W "\"}]}";
    fx_t fx;
    int fast;

    (void)state;
    fx_init(&fx, "example", "{\"word\":\"" W "\"}", AIGOV_ACTION_BLOCK);
    json_case(&fx, AIGOV_EP_CHAT, in, in, -1, -1);
    json_case(&fx, AIGOV_EP_MESSAGES, anth, anth, -1, -1);
    json_case(&fx, AIGOV_EP_RESPONSES, resp, resp, -1, -1);
    json_case(&fx, AIGOV_EP_RESPONSES, media, media, -1, -1);
    json_case(&fx, AIGOV_EP_MESSAGES, index, index, -1, -1);
    for (fast = 0; fast < 2; fast++) {
        aigov_answer_t *a = aigov_answer_new(AIGOV_EP_RESPONSES, 1, &fx.f, 1, 0);
        buf_t out = { 0 };

        aigov_answer_set_fast(a, fast);
        feed_all(a, media_sse, strlen(media_sse), 9, &out);
        assert_false(aigov_answer_blocked(a));
        assert_string_equal(out.s, media_sse);
        free(out.s);
        aigov_answer_free(a);
    }
    {
        aigov_answer_t *a = aigov_answer_new(AIGOV_EP_RESPONSES, 0, &fx.f, 1, 0);
        buf_t out = { 0 };

        feed_all(a, other, strlen(other), 4096, &out);
        assert_true(aigov_answer_blocked(a));
        free(out.s);
        aigov_answer_free(a);
    }
    fx_free(&fx);
}

/* Each separate text of a stream is its own window: a word split across
 * two tool-call fragments is found though content of another choice and
 * reasoning come between them, and the texts are not run together. */
static void test_channels(void **state)
{
    static const char *const in =
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"to\\\":\\\"bob@exa\"}}]}}]}\n\n"
        "data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\"hello \"}}]}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"mple.org\\\"}\"}}]}}]}\n\n"
        "data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\"bob@example\"}}]}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n"
        "data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\".org\"},\"finish_reason\":\"stop\"}]}\n\n"
        "data: [DONE]\n\n";
    fx_t fx;
    aigov_answer_t *a;
    buf_t out = { 0 };

    (void)state;
    fx_init(&fx, "example", "{\"word\":\"" W "\"}", AIGOV_ACTION_REDACT);
    a = aigov_answer_new(AIGOV_EP_CHAT, 1, &fx.f, 1, 0);
    feed_all(a, in, strlen(in), 17, &out);
    assert_null(strstr(out.s, "bob@"));
    assert_null(strstr(out.s, "mple.org"));
    assert_non_null(strstr(out.s, "\"arguments\":\"{\\\"to\\\":\\\"[REDACTED:WORD]\"}"));
    assert_non_null(strstr(out.s, "\"content\":\"[REDACTED:WORD]\"}"));
    assert_int_equal(aigov_answer_outcome(a)->records[0].count, 2);
    free(out.s);
    aigov_answer_free(a);
    fx_free(&fx);
}

/* The estimate counts the answer's text once: the tokens of its logprobs
 * (and their alternatives) spell the same text again, or texts never
 * written. Streamed and whole, chat and legacy completions, by each reader
 * (the count without filters, fast, jansson). */
/* The tokens an answer settles with, read with no filter (the fast
 * reading) and with one (jansson), which must agree with what is wanted:
 * estimated or not, the prompt, the completion. */
static void tokens_both_ways(aigov_endpoint_t ep, int stream, const char *in, size_t step,
                             int estimated, long long wp, long long wc, size_t i)
{
    fx_t fx;
    int with;

    fx_init(&fx, "example", "{\"word\":\"zzz\"}", AIGOV_ACTION_REDACT);
    for (with = 0; with < 2; with++) {
        aigov_answer_t *a = aigov_answer_new(ep, stream, with ? &fx.f : NULL, with, 0);
        buf_t out = { 0 };
        long long p, c;
        int r;

        feed_all(a, in, strlen(in), step, &out);
        r = aigov_answer_tokens(a, 77, &p, &c);
        if (r != estimated || p != wp || c != wc)
            fprintf(stderr, "case %zu, filter %d: %d %lld %lld\n", i, with, r, p, c);
        assert_int_equal(r, estimated);
        assert_int_equal(p, wp);
        assert_int_equal(c, wc);
        free(out.s);
        aigov_answer_free(a);
    }
    fx_free(&fx);
}

/* A usage the answer gave only in part, or in numbers that are no
 * counts, is no usage: estimated (1), from what of it can be read, by
 * both readings. An embedding has no completion count. */
static void test_partial_usage_is_estimated(void **state)
{
    static const struct {
        aigov_endpoint_t ep;
        const char *in;
        int estimated;
        long long p, c;
    } cases[] = {
        /* "abcdefgh": 2 tokens of text, the prompt's estimate 77 */
        { AIGOV_EP_CHAT, "{\"choices\":[{\"message\":{\"content\":\"abcdefgh\"}}],"
          "\"usage\":{\"prompt_tokens\":1000.0,\"completion_tokens\":50}}", 1, 77, 50 },
        { AIGOV_EP_CHAT, "{\"choices\":[{\"message\":{\"content\":\"abcdefgh\"}}],"
          "\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":-50}}", 1, 1000, 2 },
        { AIGOV_EP_CHAT, "{\"choices\":[{\"message\":{\"content\":\"abcdefgh\"}}],"
          "\"usage\":{\"prompt_tokens\":1000}}", 1, 1000, 2 },
        { AIGOV_EP_CHAT, "{\"choices\":[{\"message\":{\"content\":\"abcdefgh\"}}],"
          "\"usage\":{\"prompt_tokens\":9000000000000000000,\"completion_tokens\":9000000000000000000}}",
          1, 77, 2 },
        { AIGOV_EP_CHAT, "{\"choices\":[{\"message\":{\"content\":\"abcdefgh\"}}],"
          "\"usage\":{\"prompt_tokens\":10000000000000,\"completion_tokens\":5}}", 1, 77, 5 },
        { AIGOV_EP_CHAT, "{\"choices\":[{\"message\":{\"content\":\"abcdefgh\"}}],"
          "\"usage\":{\"prompt_tokens\":1000000000000,\"completion_tokens\":5}}", 0, 1000000000000LL, 5 },
        { AIGOV_EP_MESSAGES, "{\"type\":\"message\",\"content\":[{\"type\":\"text\",\"text\":\"abcdefgh\"}],"
          "\"usage\":{\"output_tokens\":9}}", 1, 77, 9 },
        { AIGOV_EP_EMBEDDINGS, "{\"data\":[],\"usage\":{\"prompt_tokens\":8,\"total_tokens\":8}}", 0, 8, -1 },
        /* the last of a duplicate key counts, as jansson reads it (9
         * characters of text: the fast reader counts the "3" as one) */
        { AIGOV_EP_CHAT, "{\"choices\":[{\"message\":{\"content\":\"abcdefghi\"}}],"
          "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":3,\"completion_tokens\":\"3\"}}", 1, 5, 3 },
        { AIGOV_EP_CHAT, "{\"choices\":[{\"message\":{\"content\":\"abcdefgh\"}}],"
          "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":3,\"completion_tokens\":{\"n\":3}}}", 1, 5, 2 },
        { AIGOV_EP_CHAT, "{\"choices\":[{\"message\":{\"content\":\"abcdefgh\"}}],"
          "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":\"3\",\"completion_tokens\":3}}", 0, 5, 3 },
        { AIGOV_EP_MESSAGES, "{\"type\":\"message\",\"content\":[],"
          "\"message\":{\"usage\":{\"input_tokens\":5,\"output_tokens\":1}},\"message\":\"x\"}", 1, 77, 1 },
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        tokens_both_ways(cases[i].ep, 0, cases[i].in, 7, cases[i].estimated, cases[i].p, cases[i].c, i);
}

/* Anthropic's message_delta counts are running totals: one that gives
 * input_tokens without the cache's counts keeps message_start's cache
 * tokens, one that gives them (0 too) replaces them; both readings. */
static void test_cache_tokens_across_events(void **state)
{
#define MS "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"type\":\"message\"," \
    "\"role\":\"assistant\",\"content\":[],\"usage\":{\"input_tokens\":100,\"cache_creation_input_tokens\":20," \
    "\"cache_read_input_tokens\":30,\"output_tokens\":1}}}\n\n"
#define MD(u) "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"}," \
    "\"usage\":" u "}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
    static const struct {
        const char *in;
        long long p, c;
    } cases[] = {
        { MS MD("{\"output_tokens\":9}"), 150, 9 },
        { MS MD("{\"input_tokens\":100,\"output_tokens\":9}"), 150, 9 },
        { MS MD("{\"input_tokens\":100,\"cache_creation_input_tokens\":null,\"cache_read_input_tokens\":null,"
                "\"output_tokens\":9}"), 150, 9 },
        { MS MD("{\"input_tokens\":100,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,"
                "\"output_tokens\":9}"), 100, 9 },
        { MS MD("{\"input_tokens\":100,\"cache_read_input_tokens\":70,\"output_tokens\":9}"), 170, 9 },
    };
#undef MS
#undef MD
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        tokens_both_ways(AIGOV_EP_MESSAGES, 1, cases[i].in, 13, 0, cases[i].p, cases[i].c, i);
}

static void test_estimate_without_logprobs(void **state)
{
    static const char *const streams[] = {
        /* chat: "abcdefgh" in two chunks, each with its token and one
         * alternative */
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"abcd\"},\"logprobs\":{\"content\":"
        "[{\"token\":\"abcd\",\"logprob\":-0.1,\"bytes\":[97,98,99,100],\"top_logprobs\":"
        "[{\"token\":\"wxyz\",\"logprob\":-2,\"bytes\":[119,120,121,122]}]}]}}]}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"efgh\"},\"logprobs\":{\"content\":"
        "[{\"token\":\"efgh\",\"logprob\":-0.1,\"bytes\":[101,102,103,104],\"top_logprobs\":"
        "[{\"token\":\"stuv\",\"logprob\":-2,\"bytes\":[115,116,117,118]}]}]}}]}\n\n"
        "data: [DONE]\n\n",
        /* legacy completions */
        "data: {\"choices\":[{\"index\":0,\"text\":\"abcd\",\"logprobs\":{\"tokens\":[\"ab\",\"cd\"],"
        "\"token_logprobs\":[-0.1,-0.2],\"top_logprobs\":[{\"ab\":-0.1,\"xy\":-3},{\"cd\":-0.2}],"
        "\"text_offset\":[0,2]}}]}\n\n"
        "data: {\"choices\":[{\"index\":0,\"text\":\"efgh\",\"logprobs\":{\"tokens\":[\"efgh\"],"
        "\"token_logprobs\":[-0.1],\"top_logprobs\":[{\"efgh\":-0.1}],\"text_offset\":[4]}}]}\n\n"
        "data: [DONE]\n\n",
    };
    static const char *const wholes[] = {
        "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"abcdefgh\"},"
        "\"logprobs\":{\"content\":[{\"token\":\"abcd\",\"logprob\":-0.1,\"bytes\":[97,98,99,100],"
        "\"top_logprobs\":[{\"token\":\"wxyz\",\"logprob\":-2,\"bytes\":[119,120,121,122]}]},"
        "{\"token\":\"efgh\",\"logprob\":-0.1,\"bytes\":[101,102,103,104],\"top_logprobs\":[]}]}}]}",
        "{\"choices\":[{\"index\":0,\"text\":\"abcdefgh\",\"logprobs\":{\"tokens\":[\"abcd\",\"efgh\"],"
        "\"token_logprobs\":[-0.1,-0.2],\"top_logprobs\":[{\"abcd\":-0.1,\"wxyz\":-3},{\"efgh\":-0.2}],"
        "\"text_offset\":[0,4]}}]}",
    };
    static const aigov_endpoint_t eps[] = { AIGOV_EP_CHAT, AIGOV_EP_COMPLETIONS };
    fx_t fx;
    int k, mode;

    (void)state;
    fx_init(&fx, "spy", "{\"match\":\"zzz\"}", AIGOV_ACTION_REDACT);
    for (k = 0; k < 2; k++) {
        for (mode = 0; mode < 3; mode++) {
            aigov_answer_t *a = aigov_answer_new(eps[k], 1, mode ? &fx.f : NULL, mode ? 1 : 0, 0);
            buf_t out = { 0 };
            long long p, c;

            aigov_answer_set_fast(a, mode == 1);
            feed_all(a, streams[k], strlen(streams[k]), 11, &out);
            assert_int_equal(aigov_answer_tokens(a, 7, &p, &c), 1);
            if (aigov_answer_text_chars(a) != 8)
                fail_msg("stream %d, mode %d: %lld characters, not 8", k, mode,
                         aigov_answer_text_chars(a));
            free(out.s);
            aigov_answer_free(a);

            a = aigov_answer_new(eps[k], 0, mode ? &fx.f : NULL, mode ? 1 : 0, 0);
            aigov_answer_set_fast(a, mode == 1);
            assert_int_equal(aigov_answer_json(a, wholes[k], strlen(wholes[k])), 0);
            if (aigov_answer_text_chars(a) != 8)
                fail_msg("whole %d, mode %d: %lld characters, not 8", k, mode,
                         aigov_answer_text_chars(a));
            aigov_answer_free(a);
        }
    }
    fx_free(&fx);
}

/* A redaction is counted where the text is: its logprobs tokens, masked
 * along, spell the same address again and add nothing to the count. An
 * address only an alternative holds is a finding of its own. */
static void test_logprobs_masks_not_counted_twice(void **state)
{
    static const char *const whole =
        "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"mail bob@example.org\"},"
        "\"logprobs\":{\"content\":[{\"token\":\"mail\",\"logprob\":-0.1,\"bytes\":null,\"top_logprobs\":[]},"
        "{\"token\":\" bob\",\"logprob\":-0.1,\"bytes\":null,\"top_logprobs\":[]},"
        "{\"token\":\"@example\",\"logprob\":-0.1,\"bytes\":null,\"top_logprobs\":[]},"
        "{\"token\":\".org\",\"logprob\":-0.1,\"bytes\":null,\"top_logprobs\":"
        "[{\"token\":\".org\",\"logprob\":-0.1,\"bytes\":null},"
        "{\"token\":\" or eve@example.net\",\"logprob\":-9,\"bytes\":null}]}]}}]}";
    static const char *const stream =
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"mail bob\"},\"logprobs\":{\"content\":"
        "[{\"token\":\"mail\",\"logprob\":-0.1,\"bytes\":null,\"top_logprobs\":[]},"
        "{\"token\":\" bob\",\"logprob\":-0.1,\"bytes\":null,\"top_logprobs\":[]}]}}]}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"@example.org\"},\"logprobs\":{\"content\":"
        "[{\"token\":\"@example\",\"logprob\":-0.1,\"bytes\":null,\"top_logprobs\":[]},"
        "{\"token\":\".org\",\"logprob\":-0.1,\"bytes\":null,\"top_logprobs\":"
        "[{\"token\":\" or eve@example.net\",\"logprob\":-9,\"bytes\":null}]}]}}]}\n\n"
        "data: [DONE]\n\n";
    fx_t fx;
    int fast;

    (void)state;
    fx_init(&fx, "pii", "{\"types\":[\"email\"]}", AIGOV_ACTION_REDACT);
    for (fast = 0; fast < 2; fast++) {
        aigov_answer_t *a = aigov_answer_new(AIGOV_EP_CHAT, 0, &fx.f, 1, 0);
        const aigov_filter_outcome_t *o;
        buf_t out = { 0 };

        aigov_answer_set_fast(a, fast);
        assert_int_equal(aigov_answer_json(a, whole, strlen(whole)), 0);
        drain(a, &out);
        assert_null(strstr(out.s, "bob"));
        assert_null(strstr(out.s, "eve@"));
        o = aigov_answer_outcome(a);
        assert_string_equal(o->records[0].verdict, "redact");
        if (o->records[0].count != 2)
            fail_msg("whole, fast %d: %zu redactions, not 2", fast, o->records[0].count);
        free(out.s);
        aigov_answer_free(a);

        a = aigov_answer_new(AIGOV_EP_CHAT, 1, &fx.f, 1, 0);
        memset(&out, 0, sizeof(out));
        aigov_answer_set_fast(a, fast);
        feed_all(a, stream, strlen(stream), 13, &out);
        assert_null(strstr(out.s, "bob"));
        assert_null(strstr(out.s, "eve@"));
        o = aigov_answer_outcome(a);
        assert_string_equal(o->records[0].verdict, "redact");
        if (o->records[0].count != 2)
            fail_msg("stream, fast %d: %zu redactions, not 2", fast, o->records[0].count);
        free(out.s);
        aigov_answer_free(a);
    }
    fx_free(&fx);
}

/* hide_usage drops the usage-only chunk, filtered or not, and nothing else. */
static void test_hide_usage(void **state)
{
    fx_t fx;
    int k;

    (void)state;
    fx_init(&fx, "spy", "{\"match\":\"zzz\"}", AIGOV_ACTION_REDACT);
    for (k = 0; k < 2; k++) {
        aigov_answer_t *a = aigov_answer_new(AIGOV_EP_CHAT, 1, k ? &fx.f : NULL, k ? 1 : 0, 0);
        buf_t out = { 0 };
        long long p, c;
        const char *u = strstr(openai_stream_crlf, "data: {\"id\":\"c1\",\"choices\":[],");
        size_t ul = (size_t)(strstr(u, "\r\n\r\n") + 4 - u);

        aigov_answer_hide_usage(a, 1);
        assert_false(aigov_answer_passthrough(a));
        feed_all(a, openai_stream_crlf, strlen(openai_stream_crlf), 5, &out);
        assert_int_equal(out.n, strlen(openai_stream_crlf) - ul);
        assert_null(strstr(out.s, "usage"));
        assert_non_null(strstr(out.s, "data: [DONE]"));
        assert_int_equal(aigov_answer_usage(a, &p, &c), 1);
        assert_int_equal(c, 12);
        assert_int_equal(aigov_answer_tokens(a, 99, &p, &c), 0);
        assert_int_equal(p, 9);
        free(out.s);
        aigov_answer_free(a);
    }
    fx_free(&fx);
}

/* Anthropic's input_tokens leaves out the prompt tokens written to and
 * read from its cache: the prompt is their sum, read by each reader
 * (pass-through, fast, jansson), whole and streamed. OpenAI's counts
 * include cached tokens: a prompt_tokens count takes nothing more. */
static void test_anthropic_cache_tokens(void **state)
{
    static const char *const whole =
        "{\"type\":\"message\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}],\"usage\":"
        "{\"input_tokens\":3,\"cache_creation_input_tokens\":2000,\"cache_read_input_tokens\":5000,"
        "\"output_tokens\":7}}";
    static const char *const stream =
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"type\":\"message\","
        "\"role\":\"assistant\",\"content\":[],\"usage\":{\"input_tokens\":3,\"cache_creation_input_tokens\":2000,"
        "\"cache_read_input_tokens\":5000,\"output_tokens\":1}}}\n\n"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
        "{\"type\":\"text\",\"text\":\"\"}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
        "{\"type\":\"text_delta\",\"text\":\"hello\"}}\n\n"
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
        "\"usage\":{\"output_tokens\":15}}\n\n"
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    fx_t fx;
    int fast, filtered;
    long long p, c;

    (void)state;
    json_case(NULL, AIGOV_EP_MESSAGES, whole, NULL, 7003, 7);
    fx_init(&fx, "example", "{\"word\":\"" W "\"}", AIGOV_ACTION_REDACT);
    json_case(&fx, AIGOV_EP_MESSAGES, whole, whole, 7003, 7);
    for (filtered = 0; filtered < 2; filtered++) {
        for (fast = 0; fast < 2; fast++) {
            aigov_answer_t *a = aigov_answer_new(AIGOV_EP_MESSAGES, 1, filtered ? &fx.f : NULL,
                                                 filtered ? 1 : 0, 0);
            buf_t out = { 0 };

            aigov_answer_set_fast(a, fast);
            feed_all(a, stream, strlen(stream), 9, &out);
            assert_int_equal(aigov_answer_usage(a, &p, &c), 1);
            assert_int_equal(p, 7003);
            assert_int_equal(c, 15);
            free(out.s);
            aigov_answer_free(a);
        }
    }
    /* a message_delta that repeats the counts, the cache's among them */
    json_case(NULL, AIGOV_EP_MESSAGES,
              "{\"usage\":{\"input_tokens\":4,\"cache_read_input_tokens\":10,\"output_tokens\":2}}",
              NULL, 14, 2);
    /* OpenAI: prompt_tokens counts the cached tokens already */
    json_case(NULL, AIGOV_EP_CHAT,
              "{\"usage\":{\"prompt_tokens\":30,\"cache_read_input_tokens\":10,\"completion_tokens\":2}}",
              NULL, 30, 2);
    fx_free(&fx);
}

/* Without final usage the tokens are estimated: the prompt as the answer
 * gave it (message_start) or as the caller estimated, the completion from
 * the text. */
static void test_estimate(void **state)
{
    const char *cut = strstr(anthropic_stream, "event: message_delta");
    char in[4096];
    aigov_answer_t *a;
    buf_t out = { 0 };
    long long p, c;
    int k;
    fx_t fx;

    (void)state;
    memcpy(in, anthropic_stream, (size_t)(cut - anthropic_stream));
    in[cut - anthropic_stream] = '\0';
    fx_init(&fx, "spy", "{\"match\":\"zzz\"}", AIGOV_ACTION_REDACT);
    for (k = 0; k < 2; k++) {
        a = aigov_answer_new(AIGOV_EP_MESSAGES, 1, k ? &fx.f : NULL, k ? 1 : 0, 0);
        memset(&out, 0, sizeof(out));
        feed_all(a, in, strlen(in), 7, &out);
        assert_int_equal(aigov_answer_tokens(a, 1000, &p, &c), 1);
        assert_int_equal(p, 25);            /* message_start's input_tokens */
        /* "Hello, write to bob@example.org today": 37 characters */
        assert_int_equal(c, 10);
        free(out.s);
        aigov_answer_free(a);
    }
    /* a chat stream without a usage chunk: the caller's prompt estimate */
    a = aigov_answer_new(AIGOV_EP_CHAT, 1, NULL, 0, 0);
    memset(&out, 0, sizeof(out));
    {
        const char *ab = "data: {\"choices\":[{\"delta\":{\"content\":\"abcdefgh\"}}]}\n\n";
        feed_all(a, ab, strlen(ab), 3, &out);
    }
    assert_int_equal(aigov_answer_tokens(a, 7, &p, &c), 1);
    assert_int_equal(p, 7);
    assert_int_equal(c, 2);
    free(out.s);
    aigov_answer_free(a);
    fx_free(&fx);
}

/* Blocks end each API's stream in its SDK's shape. */
static void test_block_shapes(void **state)
{
    static const char *const resp =
        "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_9\"}}\n\n"
        "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"output_index\":0,"
        "\"content_index\":0,\"delta\":\"" W "\",\"sequence_number\":1}\n\n";
    fx_t fx;
    aigov_answer_t *a;
    buf_t out = { 0 };

    (void)state;
    fx_init(&fx, "example", "{\"word\":\"" W "\"}", AIGOV_ACTION_BLOCK);
    a = aigov_answer_new(AIGOV_EP_RESPONSES, 1, &fx.f, 1, 0);
    feed_all(a, resp, strlen(resp), 9, &out);
    assert_non_null(strstr(out.s, "event: error\ndata: {\"type\":\"error\",\"sequence_number\":2,"
                                  "\"code\":\"example\",\"message\":\"the text contains the configured word\","
                                  "\"param\":null,\"error\":{\"type\":\"policy_violation\",\"code\":\"example\""));
    assert_non_null(strstr(out.s, "event: response.failed\ndata: {\"type\":\"response.failed\",\"sequence_number\":3,"
                                  "\"response\":{\"id\":\"resp_9\""));
    free(out.s);
    aigov_answer_free(a);

    a = aigov_answer_new(AIGOV_EP_MESSAGES, 1, &fx.f, 1, 0);
    memset(&out, 0, sizeof(out));
    feed_all(a, anthropic_stream, strlen(anthropic_stream), 9, &out);
    assert_non_null(strstr(out.s, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":"
                                  "\"permission_error\",\"message\":\"the text contains the configured word\"}}\n\n"));
    assert_null(strstr(out.s, "message_stop"));
    free(out.s);
    aigov_answer_free(a);
    fx_free(&fx);
}

/* The kind by the bytes: JSON and SSE whatever the label; anything else
 * refused when filters apply. */
static void test_kind_by_bytes(void **state)
{
    fx_t fx;
    aigov_answer_t *a;
    buf_t out = { 0 };
    char ev[512];

    (void)state;
    fx_init(&fx, "example", "{\"word\":\"" W "\"}", AIGOV_ACTION_REDACT);
    a = aigov_answer_new(AIGOV_EP_CHAT, -1, &fx.f, 1, 0);
    {
        const char *j = "\n {\"choices\":[{\"message\":{\"content\":\"" W "\"}}]}";
        feed_all(a, j, strlen(j), 1, &out);
    }
    assert_int_equal(aigov_answer_kind(a), AIGOV_ANSWER_JSON);
    assert_string_equal(out.s, "{\"choices\":[{\"message\":{\"content\":\"[REDACTED:WORD]\"}}]}");
    free(out.s);
    aigov_answer_free(a);

    a = aigov_answer_new(AIGOV_EP_CHAT, 0, &fx.f, 1, 0);
    memset(&out, 0, sizeof(out));
    chunk(ev, W);
    feed_all(a, ev, strlen(ev), 2, &out);
    assert_int_equal(aigov_answer_kind(a), AIGOV_ANSWER_SSE);
    assert_non_null(strstr(out.s, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":"
                                  "[{\"index\":0,\"delta\":{\"content\":\"[REDACTED:WORD]\"}"));
    free(out.s);
    aigov_answer_free(a);

    a = aigov_answer_new(AIGOV_EP_CHAT, 1, &fx.f, 1, 0);
    memset(&out, 0, sizeof(out));
    feed_all(a, "mail " W, strlen("mail " W), 3, &out);
    assert_int_equal(aigov_answer_kind(a), AIGOV_ANSWER_OTHER);
    assert_true(aigov_answer_blocked(a));
    assert_null(strstr(out.s, "bob@"));
    free(out.s);
    aigov_answer_free(a);

    /* plain data lines of a stream are text too */
    a = aigov_answer_new(AIGOV_EP_CHAT, 1, &fx.f, 1, 0);
    memset(&out, 0, sizeof(out));
    feed_all(a, "event: note\ndata: mail " W "\ndata: now\n\n",
             strlen("event: note\ndata: mail " W "\ndata: now\n\n"), 4, &out);
    assert_string_equal(out.s, "event: note\ndata: mail [REDACTED:WORD]\ndata: now\n\n");
    free(out.s);
    aigov_answer_free(a);
    fx_free(&fx);
}
#undef W

/* ---- logprobs ----
 *
 * What a client can read of an answer's logprobs, by an independent
 * reader: per list (a choice's content or refusal, a completions choice's
 * tokens, a Responses part) its tokens joined and its bytes joined and
 * decoded, and apart every string, every key and every bytes list of the
 * answer. The tests then ask that the tokens and bytes spell the text as
 * the client got it, and that nothing of a masked term is left anywhere. */

#define LPV_LISTS 12

typedef struct {
    char    key[LPV_LISTS][32];
    char    tok[LPV_LISTS][1024];
    char    byt[LPV_LISTS][1024];
    int     nulls[LPV_LISTS];       /* entries without a bytes list */
    size_t  n;
    char    all[32768];
    int     blocked;
} lpv_t;

static size_t lpv_at(lpv_t *v, const char *key)
{
    size_t i;

    for (i = 0; i < v->n; i++)
        if (strcmp(v->key[i], key) == 0)
            return i;
    assert_true(v->n < LPV_LISTS);
    snprintf(v->key[v->n], sizeof(v->key[0]), "%s", key);
    return v->n++;
}

static void cat(char *dst, size_t cap, const char *s, size_t n)
{
    size_t l = strlen(dst);

    assert_true(l + n < cap);
    memcpy(dst + l, s, n);
    dst[l + n] = '\0';
}

/* A bytes list decoded into dst (which must have room). */
static void lpv_bytes(char *dst, size_t cap, const json_t *b)
{
    size_t i;
    json_t *x;
    char c;

    json_array_foreach(b, i, x) {
        c = (char)json_integer_value(x);
        cat(dst, cap, &c, 1);
    }
}

static void lpv_all(lpv_t *v, const json_t *j)
{
    const char *k;
    json_t *c;
    size_t i;

    if (json_is_string(j)) {
        cat(v->all, sizeof(v->all), json_string_value(j), json_string_length(j));
        cat(v->all, sizeof(v->all), "\n", 1);
    } else if (json_is_array(j)) {
        json_array_foreach(j, i, c)
            lpv_all(v, c);
    } else if (json_is_object(j)) {
        json_object_foreach((json_t *)j, k, c) {
            cat(v->all, sizeof(v->all), k, strlen(k));
            cat(v->all, sizeof(v->all), "\n", 1);
            if (strcmp(k, "bytes") == 0 && json_is_array(c)) {
                lpv_bytes(v->all, sizeof(v->all), c);
                cat(v->all, sizeof(v->all), "\n", 1);
            } else {
                lpv_all(v, c);
            }
        }
    }
}

/* An OpenAI list of entries under key. */
static void lpv_list(lpv_t *v, const char *key, const json_t *list)
{
    size_t i, k = lpv_at(v, key);
    json_t *e, *t, *b;

    json_array_foreach(list, i, e) {
        t = json_object_get(e, "token");
        b = json_object_get(e, "bytes");
        cat(v->tok[k], sizeof(v->tok[0]), json_string_value(t), json_string_length(t));
        if (json_is_array(b))
            lpv_bytes(v->byt[k], sizeof(v->byt[0]), b);
        else
            v->nulls[k]++;
    }
}

/* The text a list goes with, under key. */
static void lpv_text(lpv_t *v, const char *key, const json_t *s)
{
    size_t k;

    if (!json_is_string(s))
        return;
    k = lpv_at(v, key);
    v->nulls[k] = 1;    /* no bytes here */
    cat(v->tok[k], sizeof(v->tok[0]), json_string_value(s), json_string_length(s));
}

static void lpv_doc(lpv_t *v, const json_t *root)
{
    const json_t *c, *lp, *o, *p;
    const char *type = json_string_value(json_object_get(root, "type"));
    size_t i, j;
    char key[64];

    lpv_all(v, root);
    if (json_object_get(root, "error") != NULL)
        v->blocked = 1;
    json_array_foreach(json_object_get(root, "choices"), i, c) {
        long long ix = json_integer_value(json_object_get(c, "index"));

        snprintf(key, sizeof(key), "c%lld.text", ix);
        lpv_text(v, key, json_object_get(json_object_get(c, "message"), "content"));
        lpv_text(v, key, json_object_get(json_object_get(c, "delta"), "content"));
        lpv_text(v, key, json_object_get(c, "text"));
        lp = json_object_get(c, "logprobs");
        if (json_is_array(json_object_get(lp, "content"))) {
            snprintf(key, sizeof(key), "c%lld.content", ix);
            lpv_list(v, key, json_object_get(lp, "content"));
        }
        if (json_is_array(json_object_get(lp, "tokens"))) {
            snprintf(key, sizeof(key), "c%lld.tokens", ix);
            json_array_foreach(json_object_get(lp, "tokens"), j, o)
                lpv_text(v, key, o);
        }
    }
    /* Responses: the deltas, the .done event, the whole response */
    if (type != NULL && strcmp(type, "response.output_text.delta") == 0) {
        snprintf(key, sizeof(key), "delta.%lld.%lld",
                 json_integer_value(json_object_get(root, "output_index")),
                 json_integer_value(json_object_get(root, "content_index")));
        lpv_list(v, key, json_object_get(root, "logprobs"));
        strcat(key, ".text");
        lpv_text(v, key, json_object_get(root, "delta"));
    }
    if (type != NULL && strcmp(type, "response.output_text.done") == 0) {
        lpv_list(v, "done", json_object_get(root, "logprobs"));
        lpv_text(v, "done.text", json_object_get(root, "text"));
    }
    if (json_object_get(root, "response") != NULL)
        root = json_object_get(root, "response");
    json_array_foreach(json_object_get(root, "output"), i, o) {
        json_array_foreach(json_object_get(o, "content"), j, p) {
            snprintf(key, sizeof(key), "out.%zu.%zu", i, j);
            if (json_is_array(json_object_get(p, "logprobs")))
                lpv_list(v, key, json_object_get(p, "logprobs"));
            strcat(key, ".text");
            lpv_text(v, key, json_object_get(p, "text"));
        }
    }
}

static int lpv_cb(void *ud, const aigov_sse_event_t *ev)
{
    json_t *root;

    if (!ev->has_data || strcmp(ev->data, "[DONE]") == 0)
        return 0;
    root = json_loads(ev->data, 0, NULL);
    assert_non_null(root);
    lpv_doc(ud, root);
    json_decref(root);
    return 0;
}

static void lpv_read(lpv_t *v, const char *out, int sse)
{
    memset(v, 0, sizeof(*v));
    if (sse) {
        aigov_sse_t *p = aigov_sse_new(0);

        assert_int_equal(aigov_sse_feed(p, out, strlen(out), lpv_cb, v), 0);
        assert_int_equal(aigov_sse_finish(p, lpv_cb, v), 0);
        aigov_sse_free(p);
    } else {
        json_t *root = json_loads(out, 0, NULL);

        assert_non_null(root);
        lpv_doc(v, root);
        json_decref(root);
    }
}

/* The list's tokens spell want, and so do its bytes when every entry
 * has them. */
static void lpv_spells(lpv_t *v, const char *key, const char *want)
{
    size_t i;

    for (i = 0; i < v->n && strcmp(v->key[i], key) != 0; i++)
        ;
    if (i == v->n)
        fail_msg("no list %s", key);
    assert_string_equal(v->tok[i], want);
    if (v->nulls[i] == 0)
        assert_string_equal(v->byt[i], want);
}

/* Nothing of the masked term: none of its pieces, in any case. */
static void lpv_none(lpv_t *v, const char *const *pieces)
{
    for (; *pieces != NULL; pieces++)
        if (strcasestr(v->all, *pieces) != NULL)
            fail_msg("\"%s\" left in:\n%s", *pieces, v->all);
}

/* ---- building OpenAI's logprobs ---- */

static json_t *utf8_bytes(const char *s, size_t n)
{
    json_t *b = json_array();
    size_t i;

    for (i = 0; i < n; i++)
        json_array_append_new(b, json_integer((unsigned char)s[i]));
    return b;
}

/* An entry as OpenAI writes it, with its alternatives (NULL-terminated):
 * token, logprob, the token's bytes. */
static json_t *lpe(const char *tok, ...)
{
    json_t *top = json_array();
    const char *alt;
    va_list ap;

    va_start(ap, tok);
    while ((alt = va_arg(ap, const char *)) != NULL)
        json_array_append_new(top, json_pack("{s:s, s:f, s:o}", "token", alt, "logprob", -1.5,
                                             "bytes", utf8_bytes(alt, strlen(alt))));
    va_end(ap);
    return json_pack("{s:s, s:f, s:o, s:o}", "token", tok, "logprob", -0.5, "bytes",
                     utf8_bytes(tok, strlen(tok)), "top_logprobs", top);
}

/* An entry of a token cut inside a character: OpenAI's placeholder for a
 * token, its bytes. */
static json_t *lpe_cut(const char *placeholder, const char *bytes, size_t n)
{
    return json_pack("{s:s, s:f, s:o, s:[]}", "token", placeholder, "logprob", -0.5,
                     "bytes", utf8_bytes(bytes, n), "top_logprobs");
}

/* A chat chunk of choice ix: its content and its entries (taken). */
static void lp_chunk(char *dst, size_t cap, int ix, const char *content, json_t *entries,
                     const char *finish)
{
    json_t *c = json_pack("{s:s, s:[{s:i, s:{s:s?}, s:{s:o, s:n}, s:s?}]}", "object",
                          "chat.completion.chunk", "choices", "index", ix, "delta", "content",
                          content, "logprobs", "content", entries, "refusal",
                          "finish_reason", finish);
    char *s;

    assert_non_null(c);
    s = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    assert_true(strlen(dst) + strlen(s) + 9 < cap);
    strcat(dst, "data: ");
    strcat(dst, s);
    strcat(dst, "\n\n");
    free(s);
}

static char *dump(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);

    json_decref(j);
    assert_non_null(s);
    return s;
}

/* Runs in through a new answer with fx (step bytes at a time, jansson or
 * the fast reading), reads what the client got. */
static void lp_run(fx_t *fx, aigov_endpoint_t ep, int sse, const char *in, size_t step,
                   int fast, lpv_t *v, char **raw)
{
    aigov_answer_t *a = aigov_answer_new(ep, sse, &fx->f, 1, 0);
    buf_t out = { 0 };

    aigov_answer_set_fast(a, fast);
    feed_all(a, in, strlen(in), step, &out);
    lpv_read(v, out.s ? out.s : "", sse);
    assert_int_equal(v->blocked, aigov_answer_blocked(a));
    if (raw)
        *raw = out.s;
    else
        free(out.s);
    aigov_answer_free(a);
}

static const char *const zanzibar[] = { "zanzi", "bar", NULL };

/* A whole chat answer: the tokens of a choice are one text, so the term
 * cut across two tokens is masked in them as in the content; the bytes of
 * a changed token are its new text's; the alternatives at the masked
 * positions (the chosen tokens among them) go with the mask, and one
 * elsewhere that holds the term alone is masked itself, its bytes too. */
static void test_logprobs_whole(void **state)
{
    json_t *in = json_pack("{s:s, s:[{s:i, s:{s:s, s:s}, s:{s:[o,o,o,o,o], s:n}, s:s}]}",
        "object", "chat.completion", "choices", "index", 0, "message", "role", "assistant",
        "content", "we discuss zanzibar now", "logprobs", "content",
        lpe("we", "we", "We", NULL), lpe(" discuss", " discuss", NULL),
        lpe(" zanzi", " zanzi", " Zanzi", NULL), lpe("bar", "bar", "bars", NULL),
        lpe(" now", " now", " zanzibar", NULL), "refusal", "finish_reason", "stop");
    char *s = dump(in), *raw;
    fx_t rf, bf;
    lpv_t v;

    (void)state;
    fx_init(&rf, "example", "{\"word\":\"zanzibar\"}", AIGOV_ACTION_REDACT);
    fx_init(&bf, "example", "{\"word\":\"zanzibar\"}", AIGOV_ACTION_BLOCK);
    lp_run(&rf, AIGOV_EP_CHAT, 0, s, 4096, 1, &v, &raw);
    lpv_spells(&v, "c0.text", "we discuss [REDACTED:WORD] now");
    lpv_spells(&v, "c0.content", "we discuss [REDACTED:WORD] now");
    lpv_none(&v, zanzibar);
    /* the alternatives at the masked positions took the tokens' texts */
    assert_non_null(strstr(raw, "{\"token\":\" [REDACTED:WORD]\",\"logprob\":-0.5,"
                                "\"bytes\":[32,91,82,69,68,65,67,84,69,68,58,87,79,82,68,93],"
                                "\"top_logprobs\":[{\"token\":\" [REDACTED:WORD]\",\"logprob\":-1.5,"
                                "\"bytes\":[32,91,82,69,68,65,67,84,69,68,58,87,79,82,68,93]},"
                                "{\"token\":\" [REDACTED:WORD]\""));
    assert_non_null(strstr(raw, "{\"token\":\"\",\"logprob\":-0.5,\"bytes\":[],\"top_logprobs\":"
                                "[{\"token\":\"\",\"logprob\":-1.5,\"bytes\":[]},"
                                "{\"token\":\"\",\"logprob\":-1.5,\"bytes\":[]}]}"));
    /* the others as they were */
    assert_non_null(strstr(raw, "{\"token\":\" now\",\"logprob\":-0.5,\"bytes\":[32,110,111,119],"
                                "\"top_logprobs\":[{\"token\":\" now\""));
    free(raw);
    lp_run(&bf, AIGOV_EP_CHAT, 0, s, 4096, 1, &v, NULL);
    assert_true(v.blocked);
    lpv_none(&v, zanzibar);
    free(s);
    fx_free(&rf);
    fx_free(&bf);
}

/* A stream: a choice's tokens are one text across its chunks, whatever
 * their places in each chunk, so the term cut across the tokens of two
 * chunks is masked (tokens, bytes, alternatives) or blocks; two choices
 * are two texts, never joined. A term only in the tokens (the upstream's
 * content says otherwise) is found as well. */
static void test_logprobs_stream(void **state)
{
    char in[16384] = "", only[8192] = "", *raw;
    size_t steps[] = { 1, 7, 64, 100000 }, i;
    fx_t rf, bf;
    lpv_t v;
    int fast;

    (void)state;
    fx_init(&rf, "example", "{\"word\":\"zanzibar\"}", AIGOV_ACTION_REDACT);
    fx_init(&bf, "example", "{\"word\":\"zanzibar\"}", AIGOV_ACTION_BLOCK);
    lp_chunk(in, sizeof(in), 0, "we zanzi", json_pack("[o,o]", lpe("we", "we", NULL),
             lpe(" zanzi", " zanzi", " Zanzi", NULL)), NULL);
    lp_chunk(in, sizeof(in), 1, "a zanzi", json_pack("[o,o]", lpe("a", NULL), lpe(" zanzi", NULL)), NULL);
    lp_chunk(in, sizeof(in), 0, "bar now", json_pack("[o,o]", lpe("bar", "bar", "bars", NULL),
             lpe(" now", NULL)), NULL);
    lp_chunk(in, sizeof(in), 1, " ok", json_pack("[o]", lpe(" ok", NULL)), NULL);
    lp_chunk(in, sizeof(in), 0, NULL, json_array(), "stop");
    lp_chunk(in, sizeof(in), 1, NULL, json_array(), "stop");
    strcat(in, "data: [DONE]\n\n");
    lp_chunk(only, sizeof(only), 0, "we ", json_pack("[o,o]", lpe("we", NULL), lpe(" zanzi", NULL)), NULL);
    lp_chunk(only, sizeof(only), 0, "talk", json_pack("[o,o]", lpe("bar", NULL), lpe(" ok", NULL)), NULL);
    lp_chunk(only, sizeof(only), 0, NULL, json_array(), "stop");
    strcat(only, "data: [DONE]\n\n");

    for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        for (fast = 0; fast < 2; fast++) {
            lp_run(&rf, AIGOV_EP_CHAT, 1, in, steps[i], fast, &v, &raw);
            lpv_spells(&v, "c0.text", "we [REDACTED:WORD] now");
            lpv_spells(&v, "c0.content", "we [REDACTED:WORD] now");
            lpv_spells(&v, "c1.text", "a zanzi ok");
            lpv_spells(&v, "c1.content", "a zanzi ok");
            assert_null(strstr(v.all, "bar"));
            assert_null(strstr(v.all, "Zanzi"));
            free(raw);

            lp_run(&bf, AIGOV_EP_CHAT, 1, in, steps[i], fast, &v, NULL);
            assert_true(v.blocked);
            assert_null(strstr(v.all, "bar"));

            lp_run(&rf, AIGOV_EP_CHAT, 1, only, steps[i], fast, &v, NULL);
            lpv_spells(&v, "c0.content", "we [REDACTED:WORD] ok");
            lpv_none(&v, zanzibar);
            lp_run(&bf, AIGOV_EP_CHAT, 1, only, steps[i], fast, &v, NULL);
            assert_true(v.blocked);
            lpv_none(&v, zanzibar);
        }
    }
    fx_free(&rf);
    fx_free(&bf);
}

/* Legacy completions: "tokens" is the text, the keys of top_logprobs'
 * maps are tokens too: one that holds the term is renamed, and at a
 * masked position the map becomes the token's new text alone, with the
 * best logprob. text_offset follows the masked tokens, in the event of
 * the mask and in the events after it, so that it does not tell how long
 * the masked text was. Whole and streamed. */
static void test_logprobs_completions(void **state)
{
    static const char *const whole =
        "{\"choices\":[{\"text\":\"we zanzibar now\",\"index\":0,\"logprobs\":{"
        "\"tokens\":[\"we\",\" zanzi\",\"bar\",\" now\"],\"token_logprobs\":[-0.5,-0.25,-0.5,-0.5],"
        "\"top_logprobs\":[{\"we\":-0.5},{\" Zanzi\":-1.5,\" zanzi\":-0.25},{\"bar\":-0.5,\"bars\":-2.0},"
        "{\" now\":-0.5,\" zanzibar\":-3.0}],\"text_offset\":[0,2,8,11]},\"finish_reason\":\"stop\"}]}";
    static const char *const want =
        "{\"choices\":[{\"text\":\"we [REDACTED:WORD] now\",\"index\":0,\"logprobs\":{"
        "\"tokens\":[\"we\",\" [REDACTED:WORD]\",\"\",\" now\"],\"token_logprobs\":[-0.5,-0.25,-0.5,-0.5],"
        "\"top_logprobs\":[{\"we\":-0.5},{\" [REDACTED:WORD]\":-0.25},{\"\":-0.5},"
        "{\" now\":-0.5,\" [REDACTED:WORD]\":-3.0}],\"text_offset\":[0,2,18,18]},\"finish_reason\":\"stop\"}]}";
    static const char *const stream =
        "data: {\"choices\":[{\"text\":\"we zanzi\",\"index\":0,\"logprobs\":{\"tokens\":[\"we\",\" zanzi\"],"
        "\"token_logprobs\":[-0.5,-0.25],\"top_logprobs\":[{\"we\":-0.5},{\" zanzi\":-0.25,\" Zanzi\":-1.5}],"
        "\"text_offset\":[0,2]},\"finish_reason\":null}]}\n\n"
        "data: {\"choices\":[{\"text\":\"bar now\",\"index\":0,\"logprobs\":{\"tokens\":[\"bar\",\" now\"],"
        "\"token_logprobs\":[-0.5,-0.5],\"top_logprobs\":[{\"bar\":-0.5},{\" now\":-0.5,\" zanzibar\":-3.0}],"
        "\"text_offset\":[8,11]},\"finish_reason\":null}]}\n\n"
        "data: {\"choices\":[{\"text\":\"\",\"index\":0,\"logprobs\":null,\"finish_reason\":\"stop\"}]}\n\n"
        "data: [DONE]\n\n";
    fx_t rf, bf;
    lpv_t v;
    int fast;

    (void)state;
    fx_init(&rf, "example", "{\"word\":\"zanzibar\"}", AIGOV_ACTION_REDACT);
    fx_init(&bf, "example", "{\"word\":\"zanzibar\"}", AIGOV_ACTION_BLOCK);
    json_case(&rf, AIGOV_EP_COMPLETIONS, whole, want, -1, -1);
    lp_run(&bf, AIGOV_EP_COMPLETIONS, 0, whole, 4096, 1, &v, NULL);
    assert_true(v.blocked);
    for (fast = 0; fast < 2; fast++) {
        lp_run(&rf, AIGOV_EP_COMPLETIONS, 1, stream, 9, fast, &v, NULL);
        lpv_spells(&v, "c0.text", "we [REDACTED:WORD] now");
        lpv_spells(&v, "c0.tokens", "we [REDACTED:WORD] now");
        lpv_none(&v, zanzibar);
        lp_run(&bf, AIGOV_EP_COMPLETIONS, 1, stream, 9, fast, &v, NULL);
        assert_true(v.blocked);
        lpv_none(&v, zanzibar);
    }
    for (fast = 0; fast < 2; fast++) {
        aigov_answer_t *a = aigov_answer_new(AIGOV_EP_COMPLETIONS, 1, &rf.f, 1, 0);
        buf_t out = { 0 };

        aigov_answer_set_fast(a, fast);
        feed_all(a, stream, strlen(stream), 9, &out);
        /* " [REDACTED:WORD]" is 16 characters where " zanzi" was 6: the
         * next event's tokens ("" and " now") start at 18 */
        if (!strstr(out.s, "\"text_offset\":[0,2]") || !strstr(out.s, "\"text_offset\":[18,18]"))
            fail_msg("fast %d: %s", fast, out.s);
        free(out.s);
        aigov_answer_free(a);
    }
    fx_free(&rf);
    fx_free(&bf);
}

/* A term cut across two output_text parts of a whole answer is masked in
 * the texts by the joined reading; each part's logprobs, read alone, hold
 * half of it, and are made to spell the masked texts: no token, byte
 * list or alternative spells either half. A list that did not spell its
 * text before (a provider's own) is left as it came. */
static void test_logprobs_follow_joined_parts(void **state)
{
#define LPE(tok, b, alt) "{\"token\":\"" tok "\",\"logprob\":-0.1,\"bytes\":" b ",\"top_logprobs\":" \
                         "[{\"token\":\"" alt "\",\"logprob\":-2,\"bytes\":null}]}"
    static const char *const whole =
        "{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"completed\",\"output\":[{\"type\":\"message\","
        "\"id\":\"msg_1\",\"role\":\"assistant\",\"content\":["
        "{\"type\":\"output_text\",\"text\":\"we zanzi\",\"annotations\":[],\"logprobs\":["
        LPE("we", "[119,101]", "us") "," LPE(" zanzi", "[32,122,97,110,122,105]", " zanzi") "]},"
        "{\"type\":\"output_text\",\"text\":\"bar now\",\"annotations\":[],\"logprobs\":["
        LPE("bar", "[98,97,114]", "bars") "," LPE(" now", "[32,110,111,119]", " then") "]}]}]}";
    static const char *const other =
        "{\"id\":\"resp_2\",\"object\":\"response\",\"status\":\"completed\",\"output\":[{\"type\":\"message\","
        "\"id\":\"msg_1\",\"role\":\"assistant\",\"content\":["
        "{\"type\":\"output_text\",\"text\":\"we zanzi\",\"annotations\":[],\"logprobs\":["
        LPE("w", "null", "u") "]},"
        "{\"type\":\"output_text\",\"text\":\"bar now\",\"annotations\":[],\"logprobs\":[]}]}]}";
#undef LPE
    fx_t fx;
    int fast;

    (void)state;
    fx_init(&fx, "example", "{\"word\":\"zanzibar\"}", AIGOV_ACTION_REDACT);
    for (fast = 0; fast < 2; fast++) {
        aigov_answer_t *a = aigov_answer_new(AIGOV_EP_RESPONSES, 0, &fx.f, 1, 0);
        buf_t out = { 0 };
        json_t *r, *c;

        aigov_answer_set_fast(a, fast);
        assert_int_equal(aigov_answer_json(a, whole, strlen(whole)), 0);
        drain(a, &out);
        r = json_loads(out.s, 0, NULL);
        assert_non_null(r);
        c = json_object_get(json_array_get(json_object_get(r, "output"), 0), "content");
        assert_string_equal(json_string_value(json_object_get(json_array_get(c, 0), "text")),
                            "we [REDACTED:WORD]");
        assert_string_equal(json_string_value(json_object_get(json_array_get(c, 1), "text")), " now");
        if (strstr(out.s, "zanzi") || strstr(out.s, "\"bar") || strstr(out.s, "122,97,110")
            || strstr(out.s, "98,97,114"))
            fail_msg("fast %d: %s", fast, out.s);
        /* each list spells its part's text */
        assert_non_null(strstr(out.s, "{\"token\":\" [REDACTED:WORD]\""));
        if (!strstr(out.s, "{\"token\":\"\",\"logprob\":") || !strstr(out.s, "\"bytes\":[],"))
            fail_msg("%s", out.s);
        assert_non_null(strstr(out.s, "\"token\":\" now\""));
        json_decref(r);
        free(out.s);
        aigov_answer_free(a);

        a = aigov_answer_new(AIGOV_EP_RESPONSES, 0, &fx.f, 1, 0);
        memset(&out, 0, sizeof(out));
        aigov_answer_set_fast(a, fast);
        assert_int_equal(aigov_answer_json(a, other, strlen(other)), 0);
        drain(a, &out);
        assert_non_null(strstr(out.s, "{\"token\":\"w\""));
        free(out.s);
        aigov_answer_free(a);
    }
    fx_free(&fx);
}

/* The same in a stream: the delta of each part carries its tokens; the
 * part's window, opened with the end of the part before, masks the term
 * across the join in both deltas, and each event's tokens are made to
 * spell its masked delta. */
static void test_logprobs_follow_joined_parts_stream(void **state)
{
#define LPE(tok, alt) "{\"token\":\"" tok "\",\"logprob\":-0.5,\"bytes\":null,\"top_logprobs\":" \
                      "[{\"token\":\"" alt "\",\"logprob\":-2,\"bytes\":null}]}"
#define DELTA(ci, d, lps) "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\"," \
    "\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":" ci ",\"delta\":\"" d "\",\"logprobs\":[" lps "]}\n\n"
    static const char *const stream =
        DELTA("0", "we zanzi", LPE("we", "us") "," LPE(" zanzi", " zanzi"))
        DELTA("1", "bar now", LPE("bar", "bars") "," LPE(" now", " then"))
        "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"r\","
        "\"status\":\"completed\",\"output\":[]}}\n\n";
#undef DELTA
#undef LPE
    fx_t fx;
    int fast;

    (void)state;
    fx_init(&fx, "example", "{\"word\":\"zanzibar\"}", AIGOV_ACTION_REDACT);
    for (fast = 0; fast < 2; fast++) {
        aigov_answer_t *a = aigov_answer_new(AIGOV_EP_RESPONSES, 1, &fx.f, 1, 0);
        buf_t out = { 0 };

        aigov_answer_set_fast(a, fast);
        feed_all(a, stream, strlen(stream), 17, &out);
        if (strstr(out.s, "zanzi") || strstr(out.s, "\"bar") || !strstr(out.s, "\"delta\":\" now\"")
            || !strstr(out.s, "{\"token\":\" [REDACTED:WORD]\"") || !strstr(out.s, "{\"token\":\"\""))
            fail_msg("fast %d: %s", fast, out.s);
        free(out.s);
        aigov_answer_free(a);
    }
    fx_free(&fx);
}

/* Responses: an output_text part's logprobs, whole and on the delta
 * events (their own text beside the delta's, across events), the .done
 * event and response.completed: each spells what the client got. */
static void test_logprobs_responses(void **state)
{
    char in[16384] = "", *s;
    fx_t rf, bf;
    lpv_t v;
    size_t step;
    json_t *part = json_pack("{s:s, s:s, s:[], s:[o,o,o]}", "type", "output_text", "text",
                             "we zanzibar", "annotations", "logprobs", lpe("we", "we", NULL),
                             lpe(" zanzi", " zanzi", NULL), lpe("bar", "bar", NULL));
    json_t *ev[] = {
        json_pack("{s:s, s:i, s:s, s:i, s:i, s:s, s:[o,o]}", "type", "response.output_text.delta",
                  "sequence_number", 3, "item_id", "msg_1", "output_index", 0, "content_index", 0,
                  "delta", "we zanzi", "logprobs", lpe("we", "we", NULL), lpe(" zanzi", " zanzi", NULL)),
        json_pack("{s:s, s:i, s:s, s:i, s:i, s:s, s:[o]}", "type", "response.output_text.delta",
                  "sequence_number", 4, "item_id", "msg_1", "output_index", 0, "content_index", 0,
                  "delta", "bar", "logprobs", lpe("bar", "bar", NULL)),
        json_pack("{s:s, s:i, s:s, s:i, s:i, s:s, s:O}", "type", "response.output_text.done",
                  "sequence_number", 5, "item_id", "msg_1", "output_index", 0, "content_index", 0,
                  "text", "we zanzibar", "logprobs", json_object_get(part, "logprobs")),
        json_pack("{s:s, s:i, s:{s:s, s:s, s:[{s:s, s:s, s:[O]}]}}", "type", "response.completed",
                  "sequence_number", 6, "response", "id", "resp_1", "status", "completed", "output",
                  "type", "message", "id", "msg_1", "content", part),
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(ev) / sizeof(ev[0]); i++) {
        s = dump(ev[i]);
        strcat(in, "event: x\ndata: ");
        strcat(in, s);
        strcat(in, "\n\n");
        free(s);
    }
    fx_init(&rf, "example", "{\"word\":\"zanzibar\"}", AIGOV_ACTION_REDACT);
    fx_init(&bf, "example", "{\"word\":\"zanzibar\"}", AIGOV_ACTION_BLOCK);
    s = dump(json_pack("{s:s, s:[{s:s, s:s, s:[O]}]}", "object", "response", "output", "type",
                       "message", "id", "msg_1", "content", part));
    lp_run(&rf, AIGOV_EP_RESPONSES, 0, s, 4096, 1, &v, NULL);
    lpv_spells(&v, "out.0.0.text", "we [REDACTED:WORD]");
    lpv_spells(&v, "out.0.0", "we [REDACTED:WORD]");
    lpv_none(&v, zanzibar);
    free(s);
    for (step = 1; step < 200; step += 37) {
        lp_run(&rf, AIGOV_EP_RESPONSES, 1, in, step, 0, &v, NULL);
        lpv_spells(&v, "delta.0.0.text", "we [REDACTED:WORD]");
        lpv_spells(&v, "delta.0.0", "we [REDACTED:WORD]");
        lpv_spells(&v, "done.text", "we [REDACTED:WORD]");
        lpv_spells(&v, "done", "we [REDACTED:WORD]");
        lpv_spells(&v, "out.0.0", "we [REDACTED:WORD]");
        lpv_none(&v, zanzibar);
        lp_run(&bf, AIGOV_EP_RESPONSES, 1, in, step, 0, &v, NULL);
        assert_true(v.blocked);
        lpv_none(&v, zanzibar);
    }
    json_decref(part);
    fx_free(&rf);
    fx_free(&bf);
}

/* Bytes say no more than tokens: a term written in tokens cut inside its
 * characters (each a placeholder such as "bytes:\xe4" and its bytes) is
 * read from the bytes, or from the placeholders where there are none, and
 * masked in both; bytes that are not their token's are rewritten from it;
 * a token masked empty has bytes []; bytes null stay null. */
static void test_logprobs_bytes(void **state)
{
    /* 北京 (E5 8C 97, E4 BA AC) with 京 cut after its first byte */
    json_t *in = json_pack("{s:[{s:i, s:{s:s}, s:{s:[o,o,o,o,o]}}]}", "choices", "index", 0,
        "message", "content", "in \xe5\x8c\x97\xe4\xba\xac now", "logprobs", "content",
        lpe("in", NULL), lpe(" \xe5\x8c\x97", NULL), lpe_cut("bytes:\\xe4", "\xe4", 1),
        lpe_cut("bytes:\\xba\\xac", "\xba\xac", 2), lpe(" now", NULL));
    /* the same without bytes (Responses' text events, legacy completions):
     * the placeholders name them */
    static const char *const named =
        "{\"choices\":[{\"index\":0,\"message\":{\"content\":\"in \xe5\x8c\x97\xe4\xba\xac\"},\"logprobs\":"
        "{\"content\":[{\"token\":\"in\",\"logprob\":-0.5,\"bytes\":null,\"top_logprobs\":[]},"
        "{\"token\":\" \xe5\x8c\x97\",\"logprob\":-0.5,\"bytes\":null,\"top_logprobs\":[]},"
        "{\"token\":\"bytes:\\\\xe4\",\"logprob\":-0.5,\"bytes\":null,\"top_logprobs\":[]},"
        "{\"token\":\"\\\\xba\\\\xac\",\"logprob\":-0.5,\"bytes\":null,\"top_logprobs\":[]}]}}]}";
    static const char *const legacy =
        "{\"choices\":[{\"index\":0,\"text\":\"in \xe5\x8c\x97\xe4\xba\xac\",\"logprobs\":"
        "{\"tokens\":[\"in\",\" \xe5\x8c\x97\",\"bytes:\\\\xe4\",\"bytes:\\\\xba\\\\xac\"],"
        "\"top_logprobs\":null}}]}";
    json_t *odd = json_pack("{s:[{s:i, s:{s:s}, s:{s:[{s:s, s:f, s:o, s:[]}, {s:s, s:f, s:n, s:[]},"
                            " {s:s, s:f, s:n, s:[]}]}}]}", "choices", "index", 0, "message",
                            "content", "ok zanzibar", "logprobs", "content",
                            "token", "ok", "logprob", -0.5, "bytes", utf8_bytes("zanzibar", 8), "top_logprobs",
                            "token", " zanzi", "logprob", -0.5, "bytes", "top_logprobs",
                            "token", "bar", "logprob", -0.5, "bytes", "top_logprobs");
    char *s, *raw;
    fx_t rf;
    lpv_t v;
    static const char *const beijing[] = { "\xe5\x8c\x97", "\xe4", "\xba\xac", "\\xe4", "\\xba", "bytes:", NULL };

    (void)state;
    fx_init(&rf, "example", "{\"word\":\"\xe5\x8c\x97\xe4\xba\xac\"}", AIGOV_ACTION_REDACT);
    s = dump(in);
    lp_run(&rf, AIGOV_EP_CHAT, 0, s, 4096, 1, &v, NULL);
    lpv_spells(&v, "c0.text", "in [REDACTED:WORD] now");
    lpv_spells(&v, "c0.content", "in [REDACTED:WORD] now");
    lpv_none(&v, beijing);
    free(s);
    lp_run(&rf, AIGOV_EP_CHAT, 0, named, 4096, 1, &v, NULL);
    lpv_spells(&v, "c0.content", "in [REDACTED:WORD]");
    lpv_none(&v, beijing);
    lp_run(&rf, AIGOV_EP_COMPLETIONS, 0, legacy, 4096, 1, &v, NULL);
    lpv_spells(&v, "c0.tokens", "in [REDACTED:WORD]");
    lpv_none(&v, beijing);
    fx_free(&rf);

    fx_init(&rf, "example", "{\"word\":\"zanzibar\"}", AIGOV_ACTION_REDACT);
    s = dump(odd);
    lp_run(&rf, AIGOV_EP_CHAT, 0, s, 4096, 1, &v, &raw);
    lpv_spells(&v, "c0.content", "ok [REDACTED:WORD]");
    lpv_none(&v, zanzibar);
    assert_non_null(strstr(raw, "{\"token\":\"ok\",\"logprob\":-0.5,\"bytes\":[111,107],"));
    assert_non_null(strstr(raw, "{\"token\":\" [REDACTED:WORD]\",\"logprob\":-0.5,\"bytes\":null,"));
    assert_non_null(strstr(raw, "{\"token\":\"\",\"logprob\":-0.5,\"bytes\":null,"));
    free(raw);
    free(s);
    fx_free(&rf);
}



/* An Anthropic citation (citations_delta) comes whole in one event and is
 * read on its own: a word cut across the two text deltas around it is
 * found, and its cited text does not run into the block's text. */
static void test_citations_delta_apart(void **state)
{
#define TD(t) "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":" \
              "{\"type\":\"text_delta\",\"text\":\"" t "\"}}\n\n"
#define CD(t) "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":" \
              "{\"type\":\"citations_delta\",\"citation\":{\"type\":\"char_location\",\"cited_text\":\"" t "\"," \
              "\"document_index\":0,\"document_title\":\"dd\",\"start_char_index\":0,\"end_char_index\":3}}}\n\n"
#define STOP "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
    static const char *const cut = TD("to bob@exa") CD("zz") TD("mple.org") STOP;
    static const char *const apart = CD("to bob@exa") TD("mple.org") STOP;
    fx_t fx;
    int fast;
    size_t step;

    (void)state;
    fx_init(&fx, "example", "{\"word\":\"bob@example.org\"}", AIGOV_ACTION_REDACT);
    for (fast = 0; fast < 2; fast++) {
        for (step = 7; step <= 4096; step *= 8) {
            aigov_answer_t *a = aigov_answer_new(AIGOV_EP_MESSAGES, 1, &fx.f, 1, 0);
            buf_t out = { 0 };

            aigov_answer_set_fast(a, fast);
            feed_all(a, cut, strlen(cut), step, &out);
            assert_non_null(strstr(out.s, "\"text\":\"to [REDACTED:WORD]\""));
            assert_null(strstr(out.s, "mple.org"));
            assert_non_null(strstr(out.s, "\"cited_text\":\"zz\""));
            free(out.s);
            aigov_answer_free(a);

            a = aigov_answer_new(AIGOV_EP_MESSAGES, 1, &fx.f, 1, 0);
            memset(&out, 0, sizeof(out));
            aigov_answer_set_fast(a, fast);
            feed_all(a, apart, strlen(apart), step, &out);
            assert_string_equal(out.s, apart);
            free(out.s);
            aigov_answer_free(a);
        }
    }
    fx_free(&fx);
#undef TD
#undef CD
#undef STOP
}

/* ---- parts of one answer text joined (answer.h) ---- */

/* One SSE event appended to o, its data j (taken) written compact. */
static void sse_add(buf_t *o, const char *name, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    size_t n;

    assert_non_null(s);
    n = (name ? strlen(name) + 8 : 0) + strlen(s) + 9;
    o->s = realloc(o->s, o->n + n + 1);
    assert_non_null(o->s);
    o->n += (size_t)sprintf(o->s + o->n, "%s%s%sdata: %s\n\n", name ? "event: " : "",
                            name ? name : "", name ? "\n" : "", s);
    free(s);
    json_decref(j);
}

/* The deltas of a part, NULL-ended; parts, NULL-ended. */
typedef const char *const *part_t;

static json_t *joined(part_t p)
{
    char t[4096] = "";

    for (; *p; p++)
        strcat(t, *p);
    return json_string(t);
}

/* A Responses stream as OpenAI sends it: the parts as output_text parts
 * of one message, or (items) each a message of its own, every part's
 * deltas, its output_text.done and content_part.done, output_item.done
 * and response.completed repeating the texts. cut > 0: the stream ends
 * after that many events. */
static void responses_parts(buf_t *o, const part_t *parts, int items, int cut)
{
    json_t *output = json_array(), *content = NULL;
    size_t np, i, seq = 0;
    int events = 0;

    memset(o, 0, sizeof(*o));
#define EV(name, ...) do { json_t *j_ = json_pack(__VA_ARGS__); \
        if (cut && events++ >= cut) json_decref(j_); else sse_add(o, name, j_); } while (0)
    EV("response.created", "{s:s,s:i,s:{s:s,s:s,s:[]}}", "type", "response.created",
       "sequence_number", (int)seq++, "response", "id", "resp_1", "status", "in_progress", "output");
    for (np = 0; parts[np]; np++)
        ;
    for (i = 0; i < np; i++) {
        int o_ix = items ? (int)i : 0, c_ix = items ? 0 : (int)i;
        json_t *part = json_pack("{s:s,s:o,s:[]}", "type", "output_text", "text", joined(parts[i]),
                                 "annotations");

        if (items || i == 0) {
            content = json_array();
            EV("response.output_item.added", "{s:s,s:i,s:i,s:{s:s,s:s,s:[]}}", "type",
               "response.output_item.added", "sequence_number", (int)seq++, "output_index", o_ix,
               "item", "type", "message", "id", "msg", "content");
        }
        EV("response.content_part.added", "{s:s,s:i,s:s,s:i,s:i,s:{s:s,s:s,s:[]}}", "type",
           "response.content_part.added", "sequence_number", (int)seq++, "item_id", "msg",
           "output_index", o_ix, "content_index", c_ix, "part", "type", "output_text", "text", "",
           "annotations");
        for (part_t d = parts[i]; *d; d++)
            EV("response.output_text.delta", "{s:s,s:i,s:s,s:i,s:i,s:s,s:[]}", "type",
               "response.output_text.delta", "sequence_number", (int)seq++, "item_id", "msg",
               "output_index", o_ix, "content_index", c_ix, "delta", *d, "logprobs");
        EV("response.output_text.done", "{s:s,s:i,s:s,s:i,s:i,s:o,s:[]}", "type",
           "response.output_text.done", "sequence_number", (int)seq++, "item_id", "msg",
           "output_index", o_ix, "content_index", c_ix, "text", joined(parts[i]), "logprobs");
        EV("response.content_part.done", "{s:s,s:i,s:s,s:i,s:i,s:O}", "type",
           "response.content_part.done", "sequence_number", (int)seq++, "item_id", "msg",
           "output_index", o_ix, "content_index", c_ix, "part", part);
        json_array_append(content, part);
        json_decref(part);
        if (items || i + 1 == np) {
            json_t *item = json_pack("{s:s,s:s,s:s,s:O}", "type", "message", "id", "msg",
                                     "role", "assistant", "content", content);

            EV("response.output_item.done", "{s:s,s:i,s:i,s:O}", "type", "response.output_item.done",
               "sequence_number", (int)seq++, "output_index", o_ix, "item", item);
            json_array_append_new(output, item);
            json_decref(content);
            content = NULL;
        }
    }
    EV("response.completed", "{s:s,s:i,s:{s:s,s:s,s:O,s:{s:i,s:i}}}", "type", "response.completed",
       "sequence_number", (int)seq++, "response", "id", "resp_1", "status", "completed", "output",
       output, "usage", "input_tokens", 3, "output_tokens", 9);
#undef EV
    json_decref(content);
    json_decref(output);
}

/* What an openai SDK client reads from a Responses stream: each part's
 * deltas, and every text that repeats a part (output_text.done,
 * content_part.done, output_item.done, response.completed), which must
 * be the deltas; order: a part's deltas before its output_text.done. */
typedef struct {
    char    deltas[16][4096];   /* by output_index * 4 + content_index */
    char    all[8192];          /* every delta, in order: output_text */
    int     done[16];
    int     repeats, errors, failed, completed;
    long    last_seq;
} rread_t;

static void rread_repeat(rread_t *r, int slot, const json_t *text)
{
    assert_true(json_is_string(text));
    assert_true(slot >= 0 && slot < 16);
    if (strcmp(json_string_value(text), r->deltas[slot]) != 0)
        fail_msg("part %d repeated as \"%s\", its deltas were \"%s\"", slot,
                 json_string_value(text), r->deltas[slot]);
    r->repeats++;
}

static void rread_item(rread_t *r, int o_ix, const json_t *item)
{
    size_t c;
    const json_t *part;

    json_array_foreach(json_object_get(item, "content"), c, part)
        rread_repeat(r, o_ix * 4 + (int)c, json_object_get(part, "text"));
}

static int rread_cb(void *ud, const aigov_sse_event_t *ev)
{
    rread_t *r = ud;
    json_t *root = json_loads(ev->data, 0, NULL);
    const char *type;
    int slot;
    long seq;

    assert_non_null(root);
    type = json_string_value(json_object_get(root, "type"));
    assert_non_null(type);
    seq = (long)json_integer_value(json_object_get(root, "sequence_number"));
    assert_true(seq > r->last_seq);     /* in order, as sent */
    r->last_seq = seq;
    slot = (int)(json_integer_value(json_object_get(root, "output_index")) * 4
                 + json_integer_value(json_object_get(root, "content_index")));
    assert_true(slot >= 0 && slot < 16);
    if (strcmp(type, "response.output_text.delta") == 0) {
        if (r->done[slot])
            fail_msg("a delta of part %d after its output_text.done", slot);
        strcat(r->deltas[slot], json_string_value(json_object_get(root, "delta")));
        strcat(r->all, json_string_value(json_object_get(root, "delta")));
    } else if (strcmp(type, "response.output_text.done") == 0) {
        r->done[slot] = 1;
        rread_repeat(r, slot, json_object_get(root, "text"));
    } else if (strcmp(type, "response.content_part.done") == 0) {
        if (!r->done[slot])
            fail_msg("content_part.done of part %d before its output_text.done", slot);
        rread_repeat(r, slot, json_object_get(json_object_get(root, "part"), "text"));
    } else if (strcmp(type, "response.output_item.done") == 0) {
        rread_item(r, (int)json_integer_value(json_object_get(root, "output_index")),
                   json_object_get(root, "item"));
    } else if (strcmp(type, "response.completed") == 0) {
        size_t o;
        const json_t *item;

        json_array_foreach(json_object_get(json_object_get(root, "response"), "output"), o, item)
            rread_item(r, (int)o, item);
        r->completed++;
    } else if (strcmp(type, "error") == 0) {
        r->errors++;
    } else if (strcmp(type, "response.failed") == 0) {
        r->failed++;
    }
    json_decref(root);
    return 0;
}

static void rread(const buf_t *out, rread_t *r)
{
    aigov_sse_t *p = aigov_sse_new(0);

    memset(r, 0, sizeof(*r));
    r->last_seq = -1;
    assert_int_equal(aigov_sse_feed(p, out->s ? out->s : "", out->n, rread_cb, r), 0);
    assert_int_equal(aigov_sse_finish(p, rread_cb, r), 0);
    aigov_sse_free(p);
}

/* in through an answer with one filter, fed step bytes at a time. */
static aigov_answer_t *run_answer(fx_t *fx, aigov_endpoint_t ep, const buf_t *in, size_t step,
                                  int fast, size_t hold_back, buf_t *out)
{
    aigov_answer_t *a = aigov_answer_new(ep, 1, &fx->f, 1, hold_back);

    assert_non_null(a);
    aigov_answer_set_fast(a, fast);
    memset(out, 0, sizeof(*out));
    feed_all(a, in->s, in->n, step, out);
    return a;
}

static const char *const P_NEP[] = { "we discuss ", "project nep", NULL };
static const char *const P_TUNE[] = { "tune", " today", NULL };
static const char *const P_PROJECT[] = { "we discuss pro", "ject", NULL };
static const char *const P_NEPTUNE[] = { "neptune", " today", NULL };
static const char *const P_PRO[] = { "we discuss pro", NULL };
static const char *const P_JECT_NEP[] = { "ject n", "ep", NULL };

/* A term cut across two output_text parts of one message, or two
 * messages, or three parts, is masked on both sides (its label where it
 * starts) or blocks; the texts the events repeat are masked the same way,
 * and every delta of a part goes before its output_text.done. The term of
 * two words cut at its blank is found with a space read between the
 * parts. Each cut of the stream into pieces. */
static void test_joined_parts_responses(void **state)
{
    static const part_t two[] = { P_NEP, P_TUNE, NULL };
    static const part_t blank[] = { P_PROJECT, P_NEPTUNE, NULL };
    static const part_t three[] = { P_PRO, P_JECT_NEP, P_TUNE, NULL };
    static const struct {
        const part_t *parts;
        int           items;
        const char   *word, *want;
    } cases[] = {
        { two, 0, "neptune", "we discuss project [REDACTED:WORD] today" },
        { two, 1, "neptune", "we discuss project [REDACTED:WORD] today" },
        { two, 0, "project neptune", "we discuss [REDACTED:WORD] today" },
        { blank, 0, "project neptune", "we discuss [REDACTED:WORD] today" },
        { blank, 1, "project neptune", "we discuss [REDACTED:WORD] today" },
        { three, 0, "project neptune", "we discuss [REDACTED:WORD] today" },
        { three, 1, "project neptune", "we discuss [REDACTED:WORD] today" },
    };
    static const size_t steps[] = { 1, 13, 100000 };
    size_t i, k;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char cfg[64];
        fx_t rf, bf;
        buf_t in;

        snprintf(cfg, sizeof(cfg), "{\"word\":\"%s\"}", cases[i].word);
        fx_init(&rf, "example", cfg, AIGOV_ACTION_REDACT);
        fx_init(&bf, "example", cfg, AIGOV_ACTION_BLOCK);
        responses_parts(&in, cases[i].parts, cases[i].items, 0);
        for (k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
            buf_t out;
            rread_t rr;
            aigov_answer_t *a = run_answer(&rf, AIGOV_EP_RESPONSES, &in, steps[k], 1, 0, &out);

            rread(&out, &rr);
            if (strcmp(rr.all, cases[i].want) != 0)
                fail_msg("case %zu, step %zu: the client read \"%s\"", i, steps[k], rr.all);
            /* 2 repeats of each part, its item's, response.completed's */
            assert_int_equal(rr.completed, 1);
            assert_true(rr.repeats >= 4 * 2);
            assert_false(aigov_answer_blocked(a));
            assert_int_equal(aigov_answer_outcome(a)->records[0].count, 1);
            assert_string_equal(aigov_answer_outcome(a)->records[0].verdict, "redact");
            free(out.s);
            aigov_answer_free(a);

            a = run_answer(&bf, AIGOV_EP_RESPONSES, &in, steps[k], 1, 0, &out);
            assert_true(aigov_answer_blocked(a));
            rread(&out, &rr);
            assert_null(strstr(out.s, "tune"));
            assert_null(strstr(rr.all, "nep"));
            assert_null(strstr(rr.all, "pro"));
            assert_int_equal(rr.errors, 1);
            assert_int_equal(rr.failed, 1);
            assert_int_equal(rr.completed, 0);
            free(out.s);
            aigov_answer_free(a);
        }
        free(in.s);
        fx_free(&rf);
        fx_free(&bf);
    }
}

/* An Anthropic stream: message_start, each part a text block (start,
 * deltas, stop), message_delta, message_stop. */
static void anthropic_parts(buf_t *o, const part_t *parts, int cut)
{
    size_t i;
    int events = 0;

    memset(o, 0, sizeof(*o));
#define EV(name, ...) do { json_t *j_ = json_pack(__VA_ARGS__); \
        if (cut && events++ >= cut) json_decref(j_); else sse_add(o, name, j_); } while (0)
    EV("message_start", "{s:s,s:{s:s,s:s,s:s,s:[],s:{s:i,s:i}}}", "type", "message_start",
       "message", "id", "msg_1", "type", "message", "role", "assistant", "content",
       "usage", "input_tokens", 5, "output_tokens", 1);
    for (i = 0; parts[i]; i++) {
        EV("content_block_start", "{s:s,s:i,s:{s:s,s:s}}", "type", "content_block_start",
           "index", (int)i, "content_block", "type", "text", "text", "");
        for (part_t d = parts[i]; *d; d++)
            EV("content_block_delta", "{s:s,s:i,s:{s:s,s:s}}", "type", "content_block_delta",
               "index", (int)i, "delta", "type", "text_delta", "text", *d);
        EV("content_block_stop", "{s:s,s:i}", "type", "content_block_stop", "index", (int)i);
    }
    EV("message_delta", "{s:s,s:{s:s},s:{s:i}}", "type", "message_delta", "delta",
       "stop_reason", "end_turn", "usage", "output_tokens", 9);
    EV("message_stop", "{s:s}", "type", "message_stop");
#undef EV
}

/* What the client reads of an Anthropic stream: each block's deltas (the
 * SDK's content[i].text), in order; an error event. */
typedef struct {
    char    text[4][4096];
    char    all[8192];
    int     stopped[4], errors, stops;
} aread_t;

static int aread_cb(void *ud, const aigov_sse_event_t *ev)
{
    aread_t *r = ud;
    json_t *root = json_loads(ev->data, 0, NULL);
    const char *type;
    int ix;

    assert_non_null(root);
    type = json_string_value(json_object_get(root, "type"));
    ix = (int)json_integer_value(json_object_get(root, "index"));
    assert_true(ix >= 0 && ix < 4);
    if (strcmp(type, "content_block_delta") == 0) {
        if (r->stopped[ix])
            fail_msg("a delta of block %d after its content_block_stop", ix);
        strcat(r->text[ix], json_string_value(json_object_get(json_object_get(root, "delta"), "text")));
        strcat(r->all, json_string_value(json_object_get(json_object_get(root, "delta"), "text")));
    } else if (strcmp(type, "content_block_stop") == 0) {
        r->stopped[ix] = 1;
    } else if (strcmp(type, "error") == 0) {
        r->errors++;
    } else if (strcmp(type, "message_stop") == 0) {
        r->stops++;
    }
    json_decref(root);
    return 0;
}

static void aread(const buf_t *out, aread_t *r)
{
    aigov_sse_t *p = aigov_sse_new(0);

    memset(r, 0, sizeof(*r));
    assert_int_equal(aigov_sse_feed(p, out->s ? out->s : "", out->n, aread_cb, r), 0);
    assert_int_equal(aigov_sse_finish(p, aread_cb, r), 0);
    aigov_sse_free(p);
}

/* Two or three Anthropic text blocks: a term across them is masked on
 * both sides or blocks, read fast and by jansson alike; the one of two
 * words cut at its blank is found as the SDK's finalText() (blocks joined
 * by a space) reads it. */
static void test_joined_parts_anthropic(void **state)
{
    static const part_t two[] = { P_NEP, P_TUNE, NULL };
    static const part_t blank[] = { P_PROJECT, P_NEPTUNE, NULL };
    static const part_t three[] = { P_PRO, P_JECT_NEP, P_TUNE, NULL };
    static const struct {
        const part_t *parts;
        const char   *word, *want0, *want1, *all;
    } cases[] = {
        { two, "neptune", "we discuss project [REDACTED:WORD]", " today",
          "we discuss project [REDACTED:WORD] today" },
        { two, "project neptune", "we discuss [REDACTED:WORD]", " today",
          "we discuss [REDACTED:WORD] today" },
        { blank, "project neptune", "we discuss [REDACTED:WORD]", " today",
          "we discuss [REDACTED:WORD] today" },
        { three, "project neptune", "we discuss [REDACTED:WORD]", "",
          "we discuss [REDACTED:WORD] today" },
    };
    size_t i;
    int fast;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char cfg[64];
        fx_t rf, bf;
        buf_t in;

        snprintf(cfg, sizeof(cfg), "{\"word\":\"%s\"}", cases[i].word);
        fx_init(&rf, "example", cfg, AIGOV_ACTION_REDACT);
        fx_init(&bf, "example", cfg, AIGOV_ACTION_BLOCK);
        anthropic_parts(&in, cases[i].parts, 0);
        for (fast = 0; fast < 2; fast++) {
            buf_t out;
            aread_t ar;
            aigov_answer_t *a = run_answer(&rf, AIGOV_EP_MESSAGES, &in, 7, fast, 0, &out);

            aread(&out, &ar);
            assert_string_equal(ar.text[0], cases[i].want0);
            assert_string_equal(ar.text[1], cases[i].want1);
            assert_string_equal(ar.all, cases[i].all);
            assert_int_equal(ar.stops, 1);
            assert_int_equal(aigov_answer_outcome(a)->records[0].count, 1);
            free(out.s);
            aigov_answer_free(a);

            a = run_answer(&bf, AIGOV_EP_MESSAGES, &in, 7, fast, 0, &out);
            assert_true(aigov_answer_blocked(a));
            aread(&out, &ar);
            assert_null(strstr(out.s, "nep"));
            assert_null(strstr(ar.all, "pro"));
            assert_int_equal(ar.errors, 1);
            assert_int_equal(ar.stops, 0);
            free(out.s);
            aigov_answer_free(a);
        }
        free(in.s);
        fx_free(&rf);
        fx_free(&bf);
    }
}

/* Texts that are not one answer text are not joined: the choices of a
 * chat answer with n > 1 (separate answers), tool-call arguments after
 * the text (a JSON text of their own), an Anthropic tool_use input after
 * a text block, a Responses function call's arguments after a message.
 * The same two texts as two parts of one answer text are. */
static void test_joined_parts_apart(void **state)
{
    static const char *const chat =
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"we discuss project nep\"},\"finish_reason\":null}]}\n\n"
        "data: {\"id\":\"c\",\"choices\":[{\"index\":1,\"delta\":{\"content\":\"tune today\"},\"finish_reason\":null}]}\n\n"
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
        "data: {\"id\":\"c\",\"choices\":[{\"index\":1,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
        "data: [DONE]\n\n";
    static const char *const chat_args =
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"we discuss project nep\"},\"finish_reason\":null}]}\n\n"
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"t\",\"type\":\"function\","
        "\"function\":{\"name\":\"f\",\"arguments\":\"tune\"}}]},\"finish_reason\":null}]}\n\n"
        "data: [DONE]\n\n";
    static const char *const anth =
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"we discuss project nep\"}}\n\n"
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{}}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"tune\"}}\n\n"
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n"
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    static const char *const resp =
        "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":1,"
        "\"output_index\":0,\"content_index\":0,\"delta\":\"we discuss project nep\"}\n\n"
        "event: response.output_text.done\ndata: {\"type\":\"response.output_text.done\",\"sequence_number\":2,"
        "\"output_index\":0,\"content_index\":0,\"text\":\"we discuss project nep\"}\n\n"
        "event: response.function_call_arguments.delta\ndata: {\"type\":\"response.function_call_arguments.delta\","
        "\"sequence_number\":3,\"output_index\":1,\"delta\":\"tune\"}\n\n"
        "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":4,\"response\":{}}\n\n";
    const char *ins[] = { chat, chat_args, anth, resp };
    fx_t bf;
    size_t i;
    int fast;

    (void)state;
    fx_init(&bf, "example", "{\"word\":\"neptune\"}", AIGOV_ACTION_BLOCK);
    for (i = 0; i < 8; i++) {
        for (fast = 0; fast < 2; fast++) {
            char *twin = NULL;
            buf_t in = { (char *)ins[i % 4], strlen(ins[i % 4]) }, out;
            aigov_endpoint_t ep = i % 4 < 2 ? AIGOV_EP_CHAT : i % 4 == 2 ? AIGOV_EP_MESSAGES
                                                                         : AIGOV_EP_RESPONSES;
            aigov_answer_t *a;

            if (i >= 4) {
                /* the twin: the second text a part of the same answer text */
                static const char *const from[] = {
                    "\"index\":1,\"delta\":{\"content\"",
                    "\"tool_calls\":[{\"index\":0,\"id\":\"t\",\"type\":\"function\","
                    "\"function\":{\"name\":\"f\",\"arguments\":\"tune\"}}]",
                    "\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{}}",
                    "response.function_call_arguments.delta\",\"sequence_number\":3,\"output_index\":1,",
                };
                static const char *const to[] = {
                    "\"index\":0,\"delta\":{\"content\"", "\"content\":\"tune\"",
                    "\"content_block\":{\"type\":\"text\",\"text\":\"\"}",
                    "response.output_text.delta\",\"sequence_number\":3,\"output_index\":1,"
                    "\"content_index\":0,",
                };
                const char *at = strstr(in.s, from[i % 4]), *d;

                assert_non_null(at);
                twin = malloc(in.n + 200);
                sprintf(twin, "%.*s%s%s", (int)(at - in.s), in.s, to[i % 4], at + strlen(from[i % 4]));
                /* Anthropic: and its delta a text_delta */
                if (i == 6 && (d = strstr(twin, "\"input_json_delta\",\"partial_json\"")) != NULL) {
                    static const char td[] = "\"text_delta\",\"text\"";
                    size_t old = strlen("\"input_json_delta\",\"partial_json\"");
                    char *w = (char *)d;

                    memmove(w + sizeof(td) - 1, w + old, strlen(w + old) + 1);
                    memcpy(w, td, sizeof(td) - 1);
                }
                in.s = twin;
                in.n = strlen(twin);
            }
            a = run_answer(&bf, ep, &in, 5, fast, 0, &out);
            if (i < 4) {
                if (aigov_answer_blocked(a))
                    fail_msg("case %zu was read joined", i);
                assert_string_equal(out.s, in.s);
            } else {
                if (!aigov_answer_blocked(a))
                    fail_msg("twin %zu was not read joined:\n%s", i, in.s);
                assert_null(strstr(out.s, "nep"));
            }
            free(out.s);
            free(twin);
            aigov_answer_free(a);
        }
    }
    fx_free(&bf);
}

/* Only the tail a filter asks for waits at the end of a part, and only
 * until the next part's text says whether it continues a match (or the
 * hold time sends it): the rest of the part, and a part that ends in
 * nothing a match could begin, go at once, with the events after them. */
static void test_joined_parts_hold(void **state)
{
    static const char *const p0[] = { "hello world.", " we discuss nep", NULL };
    static const char *const p1[] = { "hello world.", NULL };
    static const part_t holding[] = { p0, P_TUNE, NULL };
    static const part_t clean[] = { p1, P_TUNE, NULL };
    fx_t rf;
    buf_t in, out = { 0 };
    aigov_answer_t *a;
    const char *cut;

    (void)state;
    fx_init(&rf, "example", "{\"word\":\"neptune\"}", AIGOV_ACTION_REDACT);

    /* everything up to part 1's first delta */
    responses_parts(&in, holding, 0, 0);
    cut = strstr(in.s, "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\","
                       "\"sequence_number\":8");
    assert_non_null(cut);
    assert_non_null(strstr(cut, "\"delta\":\"tune\""));
    a = aigov_answer_new(AIGOV_EP_RESPONSES, 1, &rf.f, 1, 0);
    assert_int_equal(aigov_answer_feed(a, in.s, (size_t)(cut - in.s)), 0);
    drain(a, &out);
    assert_non_null(strstr(out.s, "\"delta\":\"hello world.\""));
    assert_null(strstr(out.s, "discuss"));          /* its last word may begin the term */
    assert_true(aigov_answer_holding(a));
    assert_int_equal(aigov_answer_feed(a, cut, in.n - (size_t)(cut - in.s)), 0);
    assert_int_equal(aigov_answer_finish(a), 0);
    drain(a, &out);
    assert_non_null(strstr(out.s, "\"delta\":\" we discuss [REDACTED:WORD]\""));
    assert_null(strstr(out.s, "tune\""));
    free(out.s);
    free(in.s);
    aigov_answer_free(a);

    /* the hold time sends the waiting end (release_held): the next part
     * still completes the match, which is counted late, and what of it
     * is not sent yet is masked */
    {
        static const part_t blocks[] = { P_NEP, P_TUNE, NULL };
        size_t ev, bytes, late;
        aread_t ar;

        anthropic_parts(&in, blocks, 0);
        cut = strstr(in.s, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1");
        assert_non_null(cut);
        a = aigov_answer_new(AIGOV_EP_MESSAGES, 1, &rf.f, 1, 0);
        memset(&out, 0, sizeof(out));
        assert_int_equal(aigov_answer_feed(a, in.s, (size_t)(cut - in.s)), 0);
        assert_true(aigov_answer_holding(a));
        assert_int_equal(aigov_answer_release_held(a), 0);
        assert_false(aigov_answer_holding(a));
        assert_int_equal(aigov_answer_feed(a, cut, in.n - (size_t)(cut - in.s)), 0);
        assert_int_equal(aigov_answer_finish(a), 0);
        drain(a, &out);
        aread(&out, &ar);
        assert_string_equal(ar.text[0], "we discuss project nep");
        assert_string_equal(ar.text[1], " today");
        aigov_answer_early(a, &ev, &bytes, &late);
        assert_int_equal(late, 1);
        free(out.s);
        free(in.s);
        aigov_answer_free(a);
    }

    /* a part that ends in nothing the term begins waits for nothing */
    responses_parts(&in, clean, 0, 0);
    cut = strstr(in.s, "event: response.content_part.added\ndata: {\"type\":\"response.content_part.added\","
                       "\"sequence_number\":6");
    assert_non_null(cut);
    a = aigov_answer_new(AIGOV_EP_RESPONSES, 1, &rf.f, 1, 0);
    memset(&out, 0, sizeof(out));
    assert_int_equal(aigov_answer_feed(a, in.s, (size_t)(cut - in.s)), 0);
    drain(a, &out);
    assert_int_equal(out.n, (size_t)(cut - in.s));
    assert_false(aigov_answer_holding(a));
    free(out.s);
    free(in.s);
    aigov_answer_free(a);
    fx_free(&rf);
}

/* Bad input: a stream that ends after a part whose end is held (cut
 * anywhere: the held text goes out at the end, nothing is lost); a join
 * inside multi-byte characters, with a window bound that cuts the part
 * before in the middle of one; bytes that are not UTF-8 at the end of a
 * part, and a surrogate pair cut across two parts, refused (a client
 * would read them unread). */
static void test_joined_parts_bad_input(void **state)
{
    static const part_t two[] = { P_NEP, P_TUNE, NULL };
    static const char *const u0[] = { "caf\xc3\xa9 \xe2\x82\xac ", "\xc3\xa9t\xc3\xa9 n\xc3\xa9", NULL };
    static const char *const u1[] = { "ptune \xc3\xbc", "ber", NULL };
    static const part_t utf[] = { u0, u1, NULL };
    fx_t rf, uf;
    size_t cut, hb;
    int kind;

    (void)state;
    fx_init(&rf, "example", "{\"word\":\"neptune\"}", AIGOV_ACTION_REDACT);
    for (kind = 0; kind < 2; kind++) {
        buf_t whole;
        size_t events;

        if (kind)
            anthropic_parts(&whole, two, 0);
        else
            responses_parts(&whole, two, 0, 0);
        events = 0;
        for (const char *p = whole.s; (p = strstr(p, "\n\n")) != NULL; p += 2)
            events++;
        for (cut = 1; cut < events; cut++) {
            buf_t in, out;
            aigov_answer_t *a;
            char *want;

            if (kind)
                anthropic_parts(&in, two, (int)cut);
            else
                responses_parts(&in, two, 0, (int)cut);
            a = run_answer(&rf, kind ? AIGOV_EP_MESSAGES : AIGOV_EP_RESPONSES, &in, 9, 1, 0, &out);
            assert_false(aigov_answer_holding(a));
            /* what came goes out, masked only where the term came whole */
            want = strstr(in.s, "tune") ? NULL : in.s;
            if (want != NULL)
                assert_string_equal(out.s, want);
            else
                assert_null(strstr(out.s, "nep"));
            free(out.s);
            free(in.s);
            aigov_answer_free(a);
        }
        free(whole.s);
    }
    fx_free(&rf);

    /* multi-byte characters at the join; the window bound (hold_back 5)
     * falls inside them in the part before */
    fx_init(&uf, "example", "{\"word\":\"n\xc3\xa9ptune\"}", AIGOV_ACTION_REDACT);
    for (hb = 5; hb <= 256; hb += 251) {
        for (kind = 0; kind < 2; kind++) {
            buf_t in, out;
            aigov_answer_t *a;
            rread_t rr;
            aread_t ar;

            if (kind)
                anthropic_parts(&in, utf, 0);
            else
                responses_parts(&in, utf, 0, 0);
            a = run_answer(&uf, kind ? AIGOV_EP_MESSAGES : AIGOV_EP_RESPONSES, &in, 3, 1, hb, &out);
            if (kind) {
                aread(&out, &ar);
                assert_string_equal(ar.all, "caf\xc3\xa9 \xe2\x82\xac \xc3\xa9t\xc3\xa9 [REDACTED:WORD] \xc3\xbc" "ber");
            } else {
                rread(&out, &rr);
                assert_string_equal(rr.all, "caf\xc3\xa9 \xe2\x82\xac \xc3\xa9t\xc3\xa9 [REDACTED:WORD] \xc3\xbc" "ber");
            }
            free(out.s);
            free(in.s);
            aigov_answer_free(a);
        }
    }
    fx_free(&uf);

    /* not UTF-8 at the end of a part; a surrogate pair cut across parts */
    fx_init(&rf, "example", "{\"word\":\"neptune\"}", AIGOV_ACTION_REDACT);
    {
        static const char *const bad[] = {
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
            "{\"type\":\"text_delta\",\"text\":\"we discuss nep\xc3\"}}\n\n"
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":"
            "{\"type\":\"text_delta\",\"text\":\"\xa9tune\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
            "{\"type\":\"text_delta\",\"text\":\"we discuss nep\\ud83d\"}}\n\n"
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":"
            "{\"type\":\"text_delta\",\"text\":\"\\ude00tune\"}}\n\n",
        };
        size_t i;

        for (i = 0; i < 2; i++) {
            buf_t in = { (char *)bad[i], strlen(bad[i]) }, out;
            aigov_answer_t *a = run_answer(&rf, AIGOV_EP_MESSAGES, &in, 4, 1, 0, &out);

            assert_true(aigov_answer_blocked(a));
            assert_null(strstr(out.s, "discuss"));
            assert_non_null(strstr(out.s, "event: error"));
            free(out.s);
            aigov_answer_free(a);
        }
    }
    fx_free(&rf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_citations_delta_apart),
        cmocka_unit_test(test_no_filters_stream_usage),
        cmocka_unit_test(test_anthropic_cache_tokens),
        cmocka_unit_test(test_filter_finding_nothing_is_byte_identical),
        cmocka_unit_test(test_email_split_across_two_events),
        cmocka_unit_test(test_email_split_across_three_events),
        cmocka_unit_test(test_hold_back_releases_early),
        cmocka_unit_test(test_release_held),
        cmocka_unit_test(test_block_mid_stream),
        cmocka_unit_test(test_plugin_error_in_stream),
        cmocka_unit_test(test_oversized_event),
        cmocka_unit_test(test_empty_text_event_not_held),
        cmocka_unit_test(test_json_usage_without_filters),
        cmocka_unit_test(test_json_answers),
        cmocka_unit_test(test_json_too_large),
        cmocka_unit_test(test_fast_reading_same_as_jansson),
        cmocka_unit_test(test_unreadable_json_refused),
        cmocka_unit_test(test_refuse_compressed),
        cmocka_unit_test(test_every_field),
        cmocka_unit_test(test_escaped_arguments),
        cmocka_unit_test(test_input_keys),
        cmocka_unit_test(test_whole_answer_joined),
        cmocka_unit_test(test_whole_answer_joined_originals),
        cmocka_unit_test(test_control_fields_not_text),
        cmocka_unit_test(test_channels),
        cmocka_unit_test(test_hide_usage),
        cmocka_unit_test(test_partial_usage_is_estimated),
        cmocka_unit_test(test_cache_tokens_across_events),
        cmocka_unit_test(test_estimate),
        cmocka_unit_test(test_estimate_without_logprobs),
        cmocka_unit_test(test_logprobs_masks_not_counted_twice),
        cmocka_unit_test(test_block_shapes),
        cmocka_unit_test(test_kind_by_bytes),
        cmocka_unit_test(test_logprobs_whole),
        cmocka_unit_test(test_logprobs_stream),
        cmocka_unit_test(test_logprobs_completions),
        cmocka_unit_test(test_logprobs_follow_joined_parts),
        cmocka_unit_test(test_logprobs_follow_joined_parts_stream),
        cmocka_unit_test(test_logprobs_responses),
        cmocka_unit_test(test_logprobs_bytes),
        cmocka_unit_test(test_joined_parts_responses),
        cmocka_unit_test(test_joined_parts_anthropic),
        cmocka_unit_test(test_joined_parts_apart),
        cmocka_unit_test(test_joined_parts_hold),
        cmocka_unit_test(test_joined_parts_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
