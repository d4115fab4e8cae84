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

#endif
