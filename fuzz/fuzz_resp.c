// build: lib/resp.c lib/quota_redis.c
/*
 * libFuzzer target for lib/resp (the replies a Redis server, or anything
 * pretending to be one, sends to a worker) and the reading of the quota
 * script's answer. The input is read as a pipeline of replies: each one
 * consumed must be at least one byte and no more than what is left, and a
 * reply whole in the input must be found the same way in every longer
 * prefix (never whole in a shorter one).
 *
 *   fuzz/build.sh builds it from the "// build:" line above
 *   (build/fuzz/fuzz_resp); fuzz/run.sh runs it on fuzz/corpus/resp.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "quota_redis.h"
#include "resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *) data;
    aigov_quota_limits_t lim = { 10, 1000, 100000 };
    aigov_quota_ticket_t t;
    aigov_resp_reply_t rep, again;
    size_t off = 0, used, used2;
    long retry;
    char msg[256];
    int rc;

    while (off < size) {
        rc = aigov_resp_parse(p + off, size - off, &rep, &used);
        if (rc != 1)
            break;
        if (used == 0 || used > size - off)
            abort();
        /* one byte less is never a whole reply of the same length */
        if (aigov_resp_parse(p + off, used - 1, &again, &used2) == 1 && used2 >= used)
            abort();
        (void) aigov_quota_redis_verdict(&rep, &lim, 5, &t, &retry, msg, sizeof(msg));
        if (strlen(msg) >= sizeof(msg))
            abort();
        off += used;
    }
    return 0;
}
