// build: plugins/pii/pii_*.c
/*
 * libFuzzer target for the pii plugin, built with its sources:
 *   fuzz/build.sh builds it from the "// build:" line above
 *   (build/fuzz/fuzz_pii); fuzz/run.sh runs it on fuzz/corpus/pii.
 * The first input byte picks the enabled types; the rest is the text.
 * Any span out of bounds, empty, unordered or overlapping aborts.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aigov_plugin.h"

const aigov_plugin_t *aigov_plugin_entry(void);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *names[] = {"email", "phone", "credit_card", "iban", "ssn", "ip", "cn_id"};

/* a config holding only `types`, the list given by a bit mask */
struct aigov_config_s { unsigned mask; };

static size_t c_nkeys(const aigov_config_t *c) { (void)c; return 1; }
static const char *c_key(const aigov_config_t *c, size_t i) { (void)c; return i == 0 ? "types" : NULL; }
static const char *c_string(const aigov_config_t *c, const char *k) { (void)c; (void)k; return NULL; }
static int c_number(const aigov_config_t *c, const char *k, double *o) { (void)c; (void)k; (void)o; return 0; }
static int c_boolean(const aigov_config_t *c, const char *k, int *o) { (void)c; (void)k; (void)o; return 0; }
static size_t c_list_len(const aigov_config_t *c, const char *k)
{
    size_t n = 0;
    if (strcmp(k, "types") != 0)
        return 0;
    for (unsigned b = 0; b < 7; b++)
        n += (c->mask >> b) & 1u;
    return n;
}
static const char *c_list_item(const aigov_config_t *c, const char *k, size_t i)
{
    if (strcmp(k, "types") != 0)
        return NULL;
    for (unsigned b = 0; b < 7; b++)
        if (((c->mask >> b) & 1u) && i-- == 0)
            return names[b];
    return NULL;
}
static const aigov_config_t *c_map(const aigov_config_t *c, const char *k) { (void)c; (void)k; return NULL; }

static const aigov_config_api_t api = {
    c_nkeys, c_key, c_string, c_number, c_boolean, c_list_len, c_list_item, c_map,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const aigov_plugin_t *p = aigov_plugin_entry();
    struct aigov_config_s cfg;
    aigov_verdict_t v;
    char err[256];
    void *inst;
    char *text;

    if (size < 1)
        return 0;
    cfg.mask = data[0] & 0x7fu;
    if (cfg.mask == 0)
        cfg.mask = 0x7fu;
    inst = p->create(&api, &cfg, AIGOV_ACTION_REDACT, err, sizeof(err));
    if (inst == NULL)
        abort();
    /* a private copy, so reading past len is caught by ASan */
    text = malloc(size - 1 ? size - 1 : 1);
    if (text == NULL)
        abort();
    memcpy(text, data + 1, size - 1);
    memset(&v, 0, sizeof(v));
    if (p->inspect(inst, NULL, text, size - 1, &v) != 0)
        abort();
    if ((v.kind == AIGOV_ALLOW) != (v.nspans == 0))
        abort();
    for (size_t i = 0; i < v.nspans; i++) {
        if (v.spans[i].start >= v.spans[i].end || v.spans[i].end > size - 1 ||
            v.spans[i].label == NULL)
            abort();
        if (i > 0 && v.spans[i].start < v.spans[i - 1].end)
            abort();
    }
    if (v.nspans > 0 && (v.reason == NULL || v.category == NULL))
        abort();
    if (p->tail(inst, NULL, text, size - 1) > size - 1)
        abort();
    free(text);
    p->destroy(inst);
    return 0;
}
