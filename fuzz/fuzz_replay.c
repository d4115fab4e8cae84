// build: lib/policy_*.c lib/hex.c lib/sha256.c lib/errbuf.c lib/claim_path.c lib/endpoint.c
/*
 * libFuzzer target for lib/policy_replay: `aigov policy replay` reads audit
 * logs that may have been written by anyone.
 *
 *   fuzz/build.sh builds it from the "// build:" line above
 *   (build/fuzz/fuzz_replay); fuzz/run.sh runs it on fuzz/corpus/replay.
 *
 * The input is a log, split into lines and replayed against a fixed policy.
 * Every line is counted exactly once, and the counts must nest: changed
 * within compared, compared within records.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy_replay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char POLICY[] =
    "version: 1\n"
    "default: deny\n"
    "rules:\n"
    "  - name: analysts\n"
    "    when:\n"
    "      groups: [analysts]\n"
    "      models: [\"gpt-4o*\"]\n"
    "    limits:\n"
    "      max_tokens: 1000\n"
    "      max_prompt_chars: 500\n"
    "    decision: allow\n"
    "  - name: services\n"
    "    when:\n"
    "      subjects: [\"svc-*\"]\n"
    "      claims: {tenant: [acme, globex]}\n"
    "      endpoints: [\"/v1/embeddings\"]\n"
    "    decision: allow\n"
    "  - name: banned\n"
    "    when:\n"
    "      claims: {tenant: banned}\n"
    "    decision: deny\n";

typedef struct {
    uint64_t changes;
    uint64_t bad;
} counts_t;

static void on_change(void *ud, const aigov_replay_change_t *c)
{
    counts_t *n = ud;

    if (!c->id || !c->sub || !c->model || !c->endpoint || !c->path || !c->old_rule ||
        !c->old_policy || !c->now || !c->now->rule)
        abort();
    n->changes++;
}

static void on_bad(void *ud, unsigned file, uint64_t line, const char *why)
{
    counts_t *n = ud;

    (void) file;
    if (line == 0 || !why || !why[0])
        abort();
    n->bad++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static aigov_policy_t *policy;
    aigov_replay_t r;
    counts_t n = { 0, 0 };
    const char *p = (const char *) data, *end = p + size;
    uint64_t lines = 0, blank = 0;

    if (!policy) {
        char *errors = NULL;

        policy = aigov_policy_load_mem("p.yaml", POLICY, sizeof(POLICY) - 1, NULL, NULL, NULL,
                                       &errors);
        if (!policy)
            abort();
    }
    aigov_replay_init(&r, policy, on_change, on_bad, &n);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t) (end - p));
        size_t len = nl ? (size_t) (nl - p) : (size_t) (end - p);
        size_t i = 0;

        while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r'))
            i++;
        blank += i == len;
        lines++;
        aigov_replay_line(&r, p, len);
        p += len + (nl != NULL);
    }
    if (r.sum.lines != lines || r.line != lines ||
        r.sum.records + r.sum.completions + r.sum.checkpoints + r.sum.unreadable + blank != lines ||
        r.sum.compared + r.sum.not_policy != r.sum.records ||
        r.sum.changed > r.sum.compared || r.sum.changed != n.changes ||
        r.sum.unreadable != n.bad)
        abort();
    return 0;
}
