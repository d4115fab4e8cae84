// build: lib/sse.c lib/answer.c lib/filter.c lib/normalize.c lib/request.c lib/endpoint.c lib/json_string.c lib/errbuf.c lib/base64.c
/*
 * libFuzzer target for lib/sse (and the pass-through path of lib/answer
 * that reads usage from events). The first byte picks the chunk size, so
 * the same stream is also tried in odd splits; the raw bytes the parser
 * reports must add up to exactly what it was fed.
 *
 *   fuzz/build.sh builds it from the "// build:" line above
 *   (build/fuzz/fuzz_sse); fuzz/run.sh runs it on fuzz/corpus/sse.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "sse.h"

typedef struct {
    size_t raw;
} count_t;

static int on_event(void *ud, const aigov_sse_event_t *ev)
{
    count_t *c = ud;

    c->raw += ev->raw_len;
    /* data may hold NUL bytes; it is NUL-terminated all the same */
    if (ev->data[ev->data_len] != '\0' || ev->event[ev->event_len] != '\0'
        || ev->raw_len == 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    aigov_sse_t *p;
    aigov_answer_t *a;
    count_t c = { 0 };
    size_t step, off = 0;
    int rc = 0;

    if (size < 1)
        return 0;
    step = (size_t)data[0] % 17 + 1;
    data++;
    size--;

    p = aigov_sse_new(512);
    if (p == NULL)
        return 0;
    while (off < size && rc == 0) {
        size_t n = size - off < step ? size - off : step;
        rc = aigov_sse_feed(p, (const char *)data + off, n, on_event, &c);
        off += n;
    }
    if (rc == 0) {
        rc = aigov_sse_finish(p, on_event, &c);
        if (rc == 0 && c.raw != size)
            abort();
    }
    aigov_sse_free(p);

    a = aigov_answer_new(AIGOV_EP_UNKNOWN, 1, NULL, 0, 0);
    if (a != NULL) {
        long long pt, ct;
        aigov_answer_set_limits(a, 512, 0);
        aigov_answer_feed(a, (const char *)data, size);
        aigov_answer_finish(a);
        aigov_answer_usage(a, &pt, &ct);
        aigov_answer_free(a);
    }
    return 0;
}
