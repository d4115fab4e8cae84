// build: lib/policy_*.c lib/hex.c lib/sha256.c lib/errbuf.c lib/claim_path.c lib/endpoint.c
/*
 * libFuzzer target for lib/policy: policy YAML, glob patterns, decisions.
 *
 *   fuzz/build.sh builds it from the "// build:" line above
 *   (build/fuzz/fuzz_policy); fuzz/run.sh runs it on fuzz/corpus/policy.
 *
 * First input byte picks the mode:
 *   0  the rest is a policy file; when it loads, a few callers are decided
 *      against it, and every error line must carry "p.yaml:"
 *   1  the rest is "pattern\ntext": compile the glob, match the text
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "policy_glob.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void *fake_factory(void *ctx, const char *plugin, const json_t *config, int action,
                          char *err, size_t errlen)
{
    (void) ctx;
    (void) config;
    (void) action;
    if (strcmp(plugin, "pii") != 0) {
        strncpy(err, "no plugin named that is loaded (aigov_plugin)", errlen - 1);
        err[errlen - 1] = '\0';
        return NULL;
    }
    return malloc(1);
}

static void fake_destroy(void *ctx, void *inst)
{
    (void) ctx;
    free(inst);
}

static void fuzz_policy(const char *buf, size_t len)
{
    static const char *const callers[] = {
        "{\"sub\":\"svc-a\",\"groups\":[\"analysts\"],\"tenant\":\"acme\"}",
        "{\"sub\":12,\"groups\":\"interns engineers\",\"org\":{\"unit\":7}}",
        "{}",
    };
    static const char *const models[] = { "gpt-4o", "deepseek-chat", NULL };
    char *errors = NULL;
    aigov_policy_t *p = aigov_policy_load_mem("p.yaml", buf, len, fake_factory, fake_destroy,
                                              NULL, &errors);

    if (!p) {
        if (!errors || strncmp(errors, "p.yaml", 6) != 0)
            abort();
        free(errors);
        return;
    }
    for (size_t i = 0; i < 3; i++) {
        json_t *claims = json_loads(callers[i], 0, NULL);
        aigov_policy_input_t in = { claims, "/v1/chat/completions", "/v1/chat/completions",
                                    models[i], i == 1 ? 100000 : -1, 5000, 1, NULL, NULL, 0, 0 };
        aigov_decision_t d;
        json_t *g, *msg;

        aigov_policy_decide(p, &in, &d);
        if (!d.rule || (!d.allow && (!d.code || d.status != 403)))
            abort();
        msg = json_string(d.message);   /* messages must stay valid UTF-8 */
        if (!msg)
            abort();
        json_decref(msg);
        g = aigov_decision_groups(&d);
        json_decref(g);
        for (size_t r = 0; r < aigov_policy_rule_count(p); r++)
            (void) aigov_policy_rule_check(p, r, &in);
        json_decref(claims);
    }
    aigov_policy_free(p);
}

static void *heap(void *actx, size_t n)
{
    void **slots = actx;
    for (int i = 0; i < 4; i++)
        if (!slots[i])
            return slots[i] = calloc(1, n);
    return NULL;
}

static void fuzz_glob(const char *buf, size_t len)
{
    const char *nl = memchr(buf, '\n', len);
    char *pat;
    aigov_glob_t g;
    void *slots[4] = { 0 };
    char err[128];

    if (!nl)
        return;
    pat = strndup(buf, (size_t) (nl - buf));
    if (!pat)
        return;
    if (aigov_glob_compile(&g, pat, heap, slots, err, sizeof(err)) == 0)
        (void) aigov_glob_match(&g, nl + 1, len - (size_t) (nl + 1 - buf));
    for (int i = 0; i < 4; i++)
        free(slots[i]);
    free(pat);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] == 0)
        fuzz_policy((const char *) data + 1, size - 1);
    else if (data[0] == 1)
        fuzz_glob((const char *) data + 1, size - 1);
    return 0;
}
