/*
 * spy: a test-only plugin whose verdicts come from its config, so host
 * tests can make a plugin answer exactly what they need.
 *
 *   match: "x"        spans at every occurrence of x (case-sensitive)
 *   spans: [s, e, ...] fixed spans (pairs), even when out of range
 *   kind: allow|flag|redact|block   verdict when something is found
 *                     (default redact; "always" forms: flag!, block!)
 *   label: "L"        span label (default SPY)
 *   fail: true        inspect returns -1
 *   describe: true    create fails, writing what the accessors returned
 *   tail: N           tail() answers N (default: SIZE_MAX, "all of it")
 *   tail: "prefix"    tail() answers the longest end of the text that
 *                     begins `match`, the answer a pattern plugin gives
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aigov_plugin.h"

#define MAXS 64

typedef struct {
    char          match[128];
    char          label[32];
    aigov_verdict_kind_t kind;
    int           always, fail, tail_prefix;
    size_t        tail;
    size_t        fixed[MAXS * 2];
    size_t        nfixed;
    aigov_span_t  spans[MAXS];
} spy_t;

static void describe(const aigov_config_api_t *api, const aigov_config_t *cfg,
                     char *err, size_t errlen)
{
    size_t i, j, n = 0;

    for (i = 0; i < api->nkeys(cfg) && n < errlen; i++) {
        const char *k = api->key(cfg, i), *s = api->string(cfg, k);
        double d;
        int b;
        const aigov_config_t *m = api->map(cfg, k);

        n += (size_t)snprintf(err + n, errlen - n, "%s:", k);
        if (n < errlen && s)
            n += (size_t)snprintf(err + n, errlen - n, "s=%s,", s);
        if (n < errlen && api->number(cfg, k, &d))
            n += (size_t)snprintf(err + n, errlen - n, "n=%g,", d);
        if (n < errlen && api->boolean(cfg, k, &b))
            n += (size_t)snprintf(err + n, errlen - n, "b=%d,", b);
        if (n < errlen && api->list_len(cfg, k) > 0) {
            n += (size_t)snprintf(err + n, errlen - n, "l=");
            for (j = 0; j < api->list_len(cfg, k) && n < errlen; j++) {
                const char *it = api->list_item(cfg, k, j);
                n += (size_t)snprintf(err + n, errlen - n, "%s/", it ? it : "NULL");
            }
        }
        if (n < errlen && m)
            n += (size_t)snprintf(err + n, errlen - n, "m=%zu(%s=%s)", api->nkeys(m),
                                  api->key(m, 0) ? api->key(m, 0) : "",
                                  api->key(m, 0) ? api->string(m, api->key(m, 0)) : "");
        if (n < errlen)
            n += (size_t)snprintf(err + n, errlen - n, ";");
    }
    if (n < errlen && api->string(cfg, "absent") == NULL && api->map(cfg, "absent") == NULL)
        snprintf(err + n, errlen - n, "absent=NULL");
}

static void *spy_create(const aigov_config_api_t *api, const aigov_config_t *cfg,
                        aigov_action_t action, char *err, size_t errlen)
{
    spy_t *s;
    const char *v;
    int b = 0;
    size_t i;

    (void)action;
    if (api->boolean(cfg, "describe", &b) && b) {
        describe(api, cfg, err, errlen);
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    snprintf(s->match, sizeof(s->match), "%s", (v = api->string(cfg, "match")) ? v : "");
    snprintf(s->label, sizeof(s->label), "%s", (v = api->string(cfg, "label")) ? v : "SPY");
    s->kind = AIGOV_REDACT;
    v = api->string(cfg, "kind");
    if (v != NULL) {
        s->always = v[strlen(v) - 1] == '!';
        if (strncmp(v, "allow", 5) == 0) s->kind = AIGOV_ALLOW;
        else if (strncmp(v, "flag", 4) == 0) s->kind = AIGOV_FLAG;
        else if (strncmp(v, "block", 5) == 0) s->kind = AIGOV_BLOCK;
        else if (strncmp(v, "bogus", 5) == 0) s->kind = (aigov_verdict_kind_t)9;
    }
    api->boolean(cfg, "fail", &s->fail);
    s->tail = SIZE_MAX;
    if ((v = api->string(cfg, "tail")) != NULL) {
        if (strcmp(v, "prefix") == 0)
            s->tail_prefix = 1;
        else
            s->tail = (size_t)strtoull(v, NULL, 10);
    }
    for (i = 0; i < api->list_len(cfg, "spans") && i < 2 * MAXS; i++)
        s->fixed[s->nfixed++] = (size_t)strtoull(api->list_item(cfg, "spans", i), NULL, 10);
    return s;
}

static void spy_destroy(void *inst)
{
    free(inst);
}

static int spy_inspect(void *inst, void *stream, const char *text, size_t len,
                       aigov_verdict_t *out)
{
    spy_t *s = inst;
    size_t n = 0, i, ml = strlen(s->match);

    (void)stream;
    if (s->fail)
        return -1;
    for (i = 0; i + 1 < s->nfixed && n < MAXS; i += 2) {
        s->spans[n].start = s->fixed[i];
        s->spans[n].end = s->fixed[i + 1];
        s->spans[n++].label = s->label;
    }
    for (i = 0; ml > 0 && i + ml <= len && n < MAXS; i++) {
        if (memcmp(text + i, s->match, ml) == 0) {
            s->spans[n].start = i;
            s->spans[n].end = i + ml;
            s->spans[n++].label = s->label;
        }
    }
    if (n == 0 && !s->always)
        return 0;
    out->kind = s->kind;
    out->spans = s->spans;
    out->nspans = n;
    out->reason = "spy found something";
    out->category = "spy";
    return 0;
}

/* Stream state that must be ended: ASan reports a leak otherwise. */
static void *spy_stream_start(void *inst)
{
    (void)inst;
    return malloc(16);
}

static void spy_stream_end(void *inst, void *stream)
{
    (void)inst;
    free(stream);
}

static size_t spy_tail(void *inst, void *stream, const char *text, size_t len)
{
    spy_t *s = inst;
    size_t ml = strlen(s->match), n;

    (void)stream;
    if (!s->tail_prefix)
        return s->tail;
    /* a whole match at the end may still grow: keep it too */
    for (n = ml < len ? ml : len; n > 0; n--)
        if (memcmp(text + len - n, s->match, n) == 0)
            return n;
    return 0;
}

static const aigov_plugin_t spy = {
    AIGOV_PLUGIN_ABI_VERSION, "spy", "0", spy_create, spy_destroy, spy_inspect,
    spy_stream_start, spy_stream_end, spy_tail
};

AIGOV_PLUGIN_EXPORT const aigov_plugin_t *aigov_plugin_entry(void)
{
    return &spy;
}
