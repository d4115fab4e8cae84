/*
 * plugin_harness.h: what the plugin unit tests share. They build their
 * instances from a JSON config through the host's own config API
 * (lib/filter), as nginx -t does, read corpus files, and draw generated
 * inputs from a small seeded generator.
 */
#ifndef AIGOV_TEST_PLUGIN_HARNESS_H
#define AIGOV_TEST_PLUGIN_HARNESS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "aigov_plugin.h"
#include "filter.h"

/* the plugin's one export, linked into the test */
const aigov_plugin_t *aigov_plugin_entry(void);

/* NULL json: no config at all. NULL when the plugin refuses it (err). */
static inline void *plugin_create(const char *json, aigov_action_t action, char *err,
                                  size_t errlen)
{
    aigov_config_t *cfg = NULL;
    void *inst;

    if (json != NULL) {
        json_t *j = json_loads(json, 0, NULL);

        assert_non_null(j);
        cfg = aigov_config_from_json(j);
        json_decref(j);
        assert_non_null(cfg);
    }
    if (errlen)
        err[0] = '\0';
    inst = aigov_plugin_entry()->create(aigov_config_api(), cfg, action, err, errlen);
    aigov_config_free(cfg);
    return inst;
}

/* An instance with config {"types":[a]} or {"types":[a,b]} (b NULL); the
 * test fails when the plugin refuses it. */
static inline void *plugin_create_types(const char *a, const char *b, aigov_action_t action)
{
    char json[128], err[512];
    void *inst;

    if (b)
        snprintf(json, sizeof(json), "{\"types\":[\"%s\",\"%s\"]}", a, b);
    else
        snprintf(json, sizeof(json), "{\"types\":[\"%s\"]}", a);
    inst = plugin_create(json, action, err, sizeof(err));
    if (inst == NULL)
        fail_msg("create %s: %s", json, err);
    return inst;
}

/* A whole file, NUL-terminated; NULL when it cannot be read. */
static inline char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        fclose(f);
        return NULL;
    }
    buf[n] = '\0';
    *len = (size_t)n;
    fclose(f);
    return buf;
}

/* xorshift64: a test seeds rng_state, so its generated inputs repeat */
static uint64_t rng_state __attribute__((unused));

static inline unsigned rnd(unsigned n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % n);
}

/* The plugin's tail() over a NUL-terminated text (ABI 2). */
static inline size_t plugin_tail(void *inst, void *stream, const char *text)
{
    assert_non_null(aigov_plugin_entry()->tail);
    return aigov_plugin_entry()->tail(inst, stream, text, strlen(text));
}

/* n bytes of unit repeated, NUL-terminated; malloc'd. */
static inline char *repeat(const char *unit, size_t n)
{
    char *s = malloc(n + 1);
    size_t k = strlen(unit);

    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        s[i] = unit[i % k];
    s[n] = '\0';
    return s;
}

/* ---- the built plugin, every offset -------------------------------- */

/* build/plugins/NAME.so through the host, as nginx loads it */
typedef struct {
    aigov_plugin_host_t  *host;
    void                 *fi;
    const aigov_plugin_t *plugin;
    void                 *inst;
} built_plugin_t;

static inline void built_load(built_plugin_t *l, const char *name, const char *json)
{
    char path[256], why[512];
    json_t *cfg = json_loads(json, 0, NULL);

    assert_non_null(cfg);
    snprintf(path, sizeof(path), "build/plugins/%s.so", name);
    l->host = aigov_host_new();
    if (aigov_host_load(l->host, name, path, why, sizeof(why)) != 0)
        fail_msg("%s", why);
    l->fi = aigov_host_instance(l->host, name, cfg, AIGOV_ACTION_BLOCK, why, sizeof(why));
    json_decref(cfg);
    if (l->fi == NULL)
        fail_msg("%s %s: %s", name, json, why);
    l->plugin = aigov_inst_plugin(l->fi);
    l->inst = aigov_inst_state(l->fi);
}

static inline void built_unload(built_plugin_t *l)
{
    aigov_host_instance_free(l->fi);
    aigov_host_free(l->host);
}

/* What may stand before a finding, each repeated to every length up to
 * 300 bytes: letters, punctuation, blanks, 2- and 3-byte UTF-8, a mix,
 * prose. And after it: nothing, punctuation, more than 64 bytes. */
static const char *const offset_fills[] __attribute__((unused)) = {
    "ha", "*", " ", "\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac", "a,b \xc3\xa9\n", "lorem ipsum dolor "
};
static const char *const offset_ends[] __attribute__((unused)) = {
    "", " .", " and the rest of the message, which runs on for more than 64 bytes."
};

/* " " needle end after each fill of every length 0 to 300 must get the
 * verdict it gets alone (kind, score, category, spans moved by the fill),
 * which must find something. libvectorscan 5.4.9's AVX-512 runtime lost
 * matches that lay past about 70 bytes (aigov_hs.h). Fails saying where;
 * returns the number of texts. */
static inline size_t check_every_offset(const built_plugin_t *l, const char *needle)
{
    static char text[1024];
    aigov_span_t want[64];
    size_t checked = 0;

    for (size_t e = 0; e < sizeof(offset_ends) / sizeof(offset_ends[0]); e++) {
        aigov_verdict_t base;
        size_t nwant, blen;

        blen = (size_t)snprintf(text, sizeof(text), " %s%s", needle, offset_ends[e]);
        memset(&base, 0, sizeof(base));
        assert_int_equal(l->plugin->inspect(l->inst, NULL, text, blen, &base), 0);
        if (base.kind == AIGOV_ALLOW || base.nspans == 0)
            fail_msg("nothing found in \"%s\"", text);
        assert_true(base.nspans <= 64);
        nwant = base.nspans;
        memcpy(want, base.spans, nwant * sizeof(want[0]));
        for (size_t f = 0; f < sizeof(offset_fills) / sizeof(offset_fills[0]); f++) {
            const char *fill = offset_fills[f];
            size_t fl = strlen(fill);

            for (size_t off = 1; off <= 300; off++) {
                aigov_verdict_t v;
                size_t n = 0, k;

                for (n = 0; n < off; n++)
                    text[n] = fill[n % fl];
                if ((fill[off % fl] & 0xc0) == 0x80)
                    continue;       /* a character cut in two */
                n += (size_t)snprintf(text + n, sizeof(text) - n, " %s%s", needle,
                                      offset_ends[e]);
                memset(&v, 0, sizeof(v));
                assert_int_equal(l->plugin->inspect(l->inst, NULL, text, n, &v), 0);
                checked++;
                for (k = 0; k < nwant && k < v.nspans; k++)
                    if (v.spans[k].start != want[k].start + off ||
                        v.spans[k].end != want[k].end + off)
                        break;
                if (v.kind != base.kind || v.score != base.score || v.nspans != nwant ||
                    k < nwant || (v.category == NULL) != (base.category == NULL) ||
                    (v.category && strcmp(v.category, base.category) != 0))
                    fail_msg("\"%s%s\" after %zu bytes of \"%s\": kind %d, %zu spans, "
                             "score %g; alone: kind %d, %zu spans, score %g", needle,
                             offset_ends[e], off, fill, v.kind, v.nspans, v.score,
                             base.kind, nwant, base.score);
            }
        }
    }
    return checked;
}

#endif
