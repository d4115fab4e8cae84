// build: lib/request.c lib/endpoint.c lib/json_string.c lib/errbuf.c lib/base64.c
/*
 * libFuzzer target for lib/request.c.
 *
 * The first byte picks the endpoint, the rest is the body. Every body is
 * also read by jansson through the reference in t/unit/request_ref.h (the
 * jansson-based reading the scanner replaced): JSON for one must be JSON
 * for the other, the shape verdict, fields and texts must agree, an
 * unmodified body must serialise to itself, and the body after the same
 * edits on both sides (a redaction in every other text, a token limit)
 * must be the same JSON as the reference's edited tree. Any difference
 * aborts.
 *
 *   fuzz/build.sh builds it from the "// build:" line above
 *   (build/fuzz/fuzz_request); fuzz/run.sh runs it on fuzz/corpus/request.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"
#include "../t/unit/request_ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const aigov_endpoint_t eps[] = {
        AIGOV_EP_UNKNOWN, AIGOV_EP_CHAT, AIGOV_EP_COMPLETIONS,
        AIGOV_EP_EMBEDDINGS, AIGOV_EP_MESSAGES, AIGOV_EP_MODELS,
        AIGOV_EP_RESPONSES, AIGOV_EP_COUNT_TOKENS
    };
    aigov_request_t    rq;
    aigov_endpoint_t   ep;
    aigov_req_status_t st;
    char               err[200], why[512];
    size_t             i;

    if (size < 1)
        return 0;
    ep = eps[data[0] % (sizeof(eps) / sizeof(eps[0]))];
    /* Also the path matcher, on the same bytes. */
    (void) aigov_endpoint_from_path((const char *) data + 1, size - 1);

    st = aigov_request_parse(&rq, ep, (const char *) data + 1, size - 1,
                             err, sizeof(err));
    if (strlen(err) >= sizeof(err))
        abort();
    if (st != AIGOV_REQ_OK && err[0] == '\0' && st != AIGOV_REQ_NOMEM)
        abort();    /* every refusal says why */
    for (i = 0; st == AIGOV_REQ_OK && i < rq.ntexts; i++) {
        if (strlen(rq.texts[i].text) != rq.texts[i].len)
            abort();
    }
    (void) aigov_request_prompt_tokens(&rq);
    aigov_request_free(&rq);

    if (ref_check(ep, (const char *) data + 1, size - 1, why, sizeof(why)) != 0) {
        fprintf(stderr, "fuzz_request: endpoint %d: %s\n", ep, why);
        abort();
    }
    return 0;
}
