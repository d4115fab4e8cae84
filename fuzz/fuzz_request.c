// build: lib/request.c
/*
 * libFuzzer target for lib/request.c.
 *
 * The first byte picks the endpoint, the rest is the body. A body that parses
 * is then edited the way the module edits it (a redaction in every text, a
 * token limit) and serialised; the result must parse again to the same
 * number of texts, or the module would send the upstream something it
 * cannot read.
 *
 *   fuzz/build.sh builds it from the "// build:" line above
 *   (build/fuzz/fuzz_request); fuzz/run.sh runs it on fuzz/corpus/request.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const aigov_endpoint_t eps[] = {
        AIGOV_EP_UNKNOWN, AIGOV_EP_CHAT, AIGOV_EP_COMPLETIONS,
        AIGOV_EP_EMBEDDINGS, AIGOV_EP_MESSAGES, AIGOV_EP_MODELS
    };
    aigov_request_t    rq, again;
    aigov_endpoint_t   ep;
    aigov_req_status_t st;
    char               err[200];
    char              *out;
    size_t             i, len, ntexts;

    if (size < 1)
        return 0;
    ep = eps[data[0] % (sizeof(eps) / sizeof(eps[0]))];
    /* Also the path matcher, on the same bytes. */
    (void) aigov_endpoint_from_path((const char *) data + 1, size - 1);

    st = aigov_request_parse(&rq, ep, (const char *) data + 1, size - 1,
                             err, sizeof(err));
    if (strlen(err) >= sizeof(err))
        abort();
    if (st != AIGOV_REQ_OK) {
        if (err[0] == '\0' && st != AIGOV_REQ_NOMEM)
            abort();    /* every refusal says why */
        aigov_request_free(&rq);
        return 0;
    }

    for (i = 0; i < rq.ntexts; i++) {
        if (strlen(rq.texts[i].text) != rq.texts[i].len)
            abort();
        if (i % 2 == 0 && aigov_request_set_text(&rq, i, "[REDACTED]", 10) != 0)
            abort();
    }
    (void) aigov_request_prompt_tokens(&rq);
    (void) aigov_request_set_max_tokens(&rq, 42);
    ntexts = rq.ntexts;

    out = aigov_request_serialize(&rq, &len);
    if (rq.root != NULL) {
        if (out == NULL)
            abort();
        st = aigov_request_parse(&again, ep, out, len, err, sizeof(err));
        if (st != AIGOV_REQ_OK || again.ntexts != ntexts)
            abort();
        aigov_request_free(&again);
    }
    free(out);
    aigov_request_free(&rq);
    return 0;
}
