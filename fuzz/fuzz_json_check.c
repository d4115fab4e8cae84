// build: lib/json_check.c
/*
 * libFuzzer target for lib/json_check.c, the JSON check that `aigov audit
 * verify` runs over every line of months of logs and that reads each
 * line's top-level fields (policy_sha256, phase) on its way.
 *
 * The input is one line. Whatever jansson reads as JSON (without a raw NUL
 * byte, nested less than the writers' limit) the check must accept; and
 * for an object jansson reads, the members the check reports must be its
 * members: each key once per occurrence, a key the object holds, and,
 * when no key comes twice, each raw value one that jansson reads to the
 * value the object holds under that key.
 *
 *   fuzz/build.sh builds it from the "// build:" line above
 *   (build/fuzz/fuzz_json_check); fuzz/run.sh runs it on fuzz/corpus/json_check.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit.h"
#include "nesting.h"

typedef struct {
    json_t *obj;
    size_t  members;
    int     unique;     /* no key comes twice: each value is the one kept */
} seen_t;

static int on_member(void *ud, const char *k, size_t klen, const char *v, size_t vlen)
{
    seen_t *s = ud;
    char *quoted = malloc(klen + 2);
    json_t *key, *val, *want;

    if (quoted == NULL)
        return 0;
    s->members++;
    if (s->obj == NULL) {
        free(quoted);
        return 0;
    }
    /* the key as the check saw it, escapes and all, read back by jansson */
    quoted[0] = '"';
    memcpy(quoted + 1, k, klen);
    quoted[klen + 1] = '"';
    key = json_loadb(quoted, klen + 2, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    val = json_loadb(v, vlen, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    free(quoted);
    if (key == NULL || !json_is_string(key) || val == NULL)
        abort();
    want = json_object_getn(s->obj, json_string_value(key), json_string_length(key));
    if (want == NULL || (s->unique && !json_equal(want, val)))
        abort();
    json_decref(key);
    json_decref(val);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *j = json_loadb((const char *) data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    seen_t s = { NULL, 0, 0 };
    int rc;

    rc = aigov_json_check_top((const char *) data, size, on_member, &s);
    /* jansson stops at a raw NUL byte; the log reader does not */
    if (j == NULL || nesting(data, size) >= AIGOV_RECORD_MAX_DEPTH || memchr(data, 0, size)) {
        json_decref(j);
        return 0;
    }
    if (rc != 0)
        abort();
    if (json_is_object(j)) {
        /* the first pass counted the members: as many as jansson kept when
         * no key came twice, never fewer */
        if (s.members < json_object_size(j))
            abort();
        s.unique = s.members == json_object_size(j);
        s.obj = j;
        s.members = 0;
        if (aigov_json_check_top((const char *) data, size, on_member, &s) != 0)
            abort();
    }
    json_decref(j);
    return 0;
}
