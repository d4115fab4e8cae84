// build: lib/sse.c lib/answer.c lib/filter.c lib/normalize.c lib/request.c lib/endpoint.c lib/json_string.c lib/errbuf.c lib/base64.c
/*
 * libFuzzer target for lib/answer's streams under a filter: every input is
 * fed as an SSE stream to two answers, one reading the usual events in
 * place (fast_event) and one reading every event with jansson, with the
 * example plugin redacting, flagging or blocking the word "secret". Both
 * must send the same events and come to the same verdicts and usage.
 *
 * The same events: a masked event is spliced by one and re-serialised by
 * the other, so the outputs are compared as SSE (event, id, data) with the
 * data as JSON values. The fast reading must take no event jansson refuses
 * (an answer refuses those), or the two would part there.
 *
 * Responses streams have no fast reading: both answers read them alike,
 * and run for what they exercise (parts joined, the texts that repeat
 * them masked as they are sent).
 *
 * A third answer reads the stream with no filter, as the gateway does
 * when none applies (take_usage_fast on every event): its usage must be
 * the jansson reading's, unless that answer blocked (it then reads on
 * the fast way too) or the input has a backslash (an escaped key is a
 * key to jansson and none to the fast reading; providers write none).
 *
 * The first byte picks the piece size, the endpoint and the action. The
 * plugin is build/plugins/example.so, from the repository root (make
 * builds it; fuzz/run.sh runs from there).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "filter.h"
#include "sse.h"

typedef struct {
    char   *s;
    size_t  n;
    long long prompt, completion;
    int     usage, modified, blocked;
    aigov_filter_outcome_t const *out;
} run_t;

/* The events of an output, for comparing two. */
typedef struct {
    char   *ev[256], *id[256];
    json_t *data[256];
    char   *raw[256];
    size_t  n;
    int     over;
} events_t;

static int collect_ev(void *ud, const aigov_sse_event_t *ev)
{
    events_t *e = ud;

    if (!ev->has_data)
        return 0;
    if (e->n == 256) {
        e->over = 1;
        return 0;
    }
    e->ev[e->n] = strndup(ev->event, ev->event_len);
    e->id[e->n] = ev->has_id ? strndup(ev->id, ev->id_len) : NULL;
    e->raw[e->n] = strndup(ev->data, ev->data_len);
    e->data[e->n] = json_loadb(ev->data, ev->data_len, JSON_ALLOW_NUL, NULL);
    e->n++;
    return 0;
}

static void events_of(const char *s, size_t n, events_t *e)
{
    aigov_sse_t *p = aigov_sse_new(0);

    memset(e, 0, sizeof(*e));
    if (p == NULL)
        abort();
    if (aigov_sse_feed(p, s, n, collect_ev, e) != 0 || aigov_sse_finish(p, collect_ev, e) != 0)
        e->over = 1;
    aigov_sse_free(p);
}

static void events_free(events_t *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free(e->ev[i]);
        free(e->id[i]);
        free(e->raw[i]);
        json_decref(e->data[i]);
    }
}

static int same_events(const events_t *a, const events_t *b)
{
    if (a->n != b->n || a->over || b->over)
        return a->n == b->n && a->over == b->over;
    for (size_t i = 0; i < a->n; i++) {
        if (strcmp(a->ev[i], b->ev[i]) != 0 || (a->id[i] == NULL) != (b->id[i] == NULL)
            || (a->id[i] && strcmp(a->id[i], b->id[i]) != 0))
            return 0;
        if (strcmp(a->raw[i], b->raw[i]) != 0
            && (a->data[i] == NULL || b->data[i] == NULL || !json_equal(a->data[i], b->data[i])))
            return 0;
    }
    return 1;
}

static aigov_plugin_host_t *host;
static void *inst[3];

static void setup(void)
{
    static const int actions[3] = { AIGOV_ACTION_REDACT, AIGOV_ACTION_FLAG, AIGOV_ACTION_BLOCK };
    char err[256];
    json_t *cfg = json_pack("{s:s}", "word", "secret");
    int i;

    host = aigov_host_new();
    if (host == NULL || cfg == NULL
        || aigov_host_load(host, "example", "build/plugins/example.so", err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_answer: cannot load build/plugins/example.so (run make first)\n");
        abort();
    }
    for (i = 0; i < 3; i++)
        if ((inst[i] = aigov_host_instance(host, "example", cfg, actions[i], err, sizeof(err))) == NULL)
            abort();
    json_decref(cfg);
}

static aigov_answer_t *run(const char *in, size_t len, aigov_endpoint_t ep, int k, size_t step,
                           int fast, run_t *r)
{
    aigov_filter_spec_t f;
    aigov_answer_t *a;
    size_t off = 0, n;
    const char *o;
    int rc = 0;

    memset(&f, 0, sizeof(f));
    f.inst = inst[k];
    f.plugin = "example";
    f.stages = AIGOV_STAGE_RESPONSE;
    f.action = k == 0 ? AIGOV_ACTION_REDACT : k == 1 ? AIGOV_ACTION_FLAG : AIGOV_ACTION_BLOCK;
    f.on_error = AIGOV_ON_ERROR_BLOCK;
    memset(r, 0, sizeof(*r));
    a = aigov_answer_new(ep, 1, &f, 1, 0);
    if (a == NULL)
        abort();
    aigov_answer_set_limits(a, 4096, 0);
    aigov_answer_set_fast(a, fast);
    for (;;) {
        n = len - off < step ? len - off : step;
        rc = off < len ? aigov_answer_feed(a, in + off, n) : aigov_answer_finish(a);
        o = aigov_answer_output(a, &n);
        r->s = realloc(r->s, r->n + n + 1);
        if (r->s == NULL)
            abort();
        memcpy(r->s + r->n, o, n);
        r->n += n;
        aigov_answer_consume(a, n);
        if (rc != 0 || off >= len)
            break;
        off += len - off < step ? len - off : step;
    }
    r->usage = aigov_answer_usage(a, &r->prompt, &r->completion);
    r->modified = aigov_answer_modified(a);
    r->blocked = aigov_answer_blocked(a);
    r->out = aigov_answer_outcome(a);
    return a;
}

/* The usage of the stream read with no filter. */
static void run_plain(const char *in, size_t len, aigov_endpoint_t ep, size_t step, run_t *r)
{
    aigov_answer_t *a = aigov_answer_new(ep, 1, NULL, 0, 0);
    size_t off, n;

    if (a == NULL)
        abort();
    for (off = 0; off < len; off += n) {
        n = len - off < step ? len - off : step;
        if (aigov_answer_feed(a, in + off, n) != 0)
            break;
    }
    (void)aigov_answer_finish(a);
    r->usage = aigov_answer_usage(a, &r->prompt, &r->completion);
    aigov_answer_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const aigov_endpoint_t eps[4] = { AIGOV_EP_CHAT, AIGOV_EP_COMPLETIONS, AIGOV_EP_MESSAGES,
                                             AIGOV_EP_RESPONSES };
    aigov_answer_t *fa, *ja;
    run_t f, j, p;
    size_t i;

    events_t in, fe, je;

    if (size < 1)
        return 0;
    if (host == NULL)
        setup();
    events_of((const char *)data + 1, size - 1, &in);
    fa = run((const char *)data + 1, size - 1, eps[data[0] % 4], (data[0] / 4) % 3,
             (size_t)(data[0] / 12) % 21 + 1, 1, &f);
    ja = run((const char *)data + 1, size - 1, eps[data[0] % 4], (data[0] / 4) % 3,
             (size_t)(data[0] / 12) % 21 + 1, 0, &j);
    events_of(f.s, f.n, &fe);
    events_of(j.s, j.n, &je);
    if (in.over)
        goto done;     /* too many events to compare one by one */
    if (!same_events(&fe, &je) || f.usage != j.usage
        || f.prompt != j.prompt || f.completion != j.completion
        || f.modified != j.modified || f.blocked != j.blocked
        || f.out->nrecords != j.out->nrecords)
        abort();
    for (i = 0; i < f.out->nrecords; i++)
        if (strcmp(f.out->records[i].verdict, j.out->records[i].verdict) != 0
            || f.out->records[i].count != j.out->records[i].count)
            abort();
    if (!j.blocked && memchr(data + 1, '\\', size - 1) == NULL) {
        run_plain((const char *)data + 1, size - 1, eps[data[0] % 4],
                  (size_t)(data[0] / 12) % 21 + 1, &p);
        if (p.usage != j.usage || p.prompt != j.prompt || p.completion != j.completion) {
            fprintf(stderr, "usage without a filter %d %lld %lld, with jansson %d %lld %lld\n",
                    p.usage, p.prompt, p.completion, j.usage, j.prompt, j.completion);
            abort();
        }
    }
done:
    events_free(&in);
    events_free(&fe);
    events_free(&je);
    free(f.s);
    free(j.s);
    aigov_answer_free(fa);
    aigov_answer_free(ja);
    return 0;
}
