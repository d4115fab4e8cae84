// build: plugins/secrets/secrets_*.c
/*
 * libFuzzer target for the secrets plugin, built with its sources:
 *   fuzz/build.sh builds it from the "// build:" line above
 *   (build/fuzz/fuzz_secrets); fuzz/run.sh runs it on fuzz/corpus/secrets.
 * The first input byte picks where to cut the text into two streamed
 * chunks; the text is inspected whole and then as a stream. Any span out
 * of bounds, empty, unordered or overlapping aborts.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aigov_plugin.h"

const aigov_plugin_t *aigov_plugin_entry(void);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const aigov_verdict_t *v, size_t len)
{
    if ((v->kind == AIGOV_ALLOW) != (v->nspans == 0))
        abort();
    for (size_t i = 0; i < v->nspans; i++) {
        if (v->spans[i].start >= v->spans[i].end || v->spans[i].end > len ||
            v->spans[i].label == NULL)
            abort();
        if (i > 0 && v->spans[i].start < v->spans[i - 1].end)
            abort();
    }
    if (v->nspans > 0 && (v->reason == NULL || v->category == NULL))
        abort();
}

static int inspect(const aigov_plugin_t *p, void *inst, void *stream,
                   const uint8_t *data, size_t len)
{
    aigov_verdict_t v;
    char *text = malloc(len ? len : 1);     /* exact size: overreads show */
    int rc;

    if (text == NULL)
        abort();
    memcpy(text, data, len);
    memset(&v, 0, sizeof(v));
    rc = p->inspect(inst, stream, text, len, &v);
    if (rc != 0)
        abort();
    check(&v, len);
    /* the stream's tail reads the same bytes, and never claims more */
    if (p->tail(inst, stream, text, len) > len)
        abort();
    free(text);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const aigov_plugin_t *p = aigov_plugin_entry();
    char err[256];
    void *inst, *stream;
    size_t cut;

    if (size < 1)
        return 0;
    inst = p->create(NULL, NULL, AIGOV_ACTION_BLOCK, err, sizeof(err));
    if (inst == NULL)
        abort();
    cut = size > 1 ? data[0] % size : 0;
    data++;
    size--;
    if (cut > size)
        cut = size;
    inspect(p, inst, NULL, data, size);
    stream = p->stream_start(inst);
    if (stream == NULL)
        abort();
    inspect(p, inst, stream, data, cut);
    inspect(p, inst, stream, data + cut, size - cut);
    p->stream_end(inst, stream);
    p->destroy(inst);
    return 0;
}
