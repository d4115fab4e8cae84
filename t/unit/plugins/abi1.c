/* A plugin built against ABI 1, whose table ends at stream_end: the host
 * must load it and hold its streams' fixed window, never reading a tail
 * entry past the end of its table. It finds "secret-word". */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "aigov_plugin.h"

/* the table as ABI 1 laid it out */
typedef struct {
    uint32_t     abi_version;
    const char  *name;
    const char  *version;
    void  *(*create)(const aigov_config_api_t *, const aigov_config_t *, aigov_action_t,
                     char *, size_t);
    void   (*destroy)(void *);
    int    (*inspect)(void *, void *, const char *, size_t, aigov_verdict_t *);
    void  *(*stream_start)(void *);
    void   (*stream_end)(void *, void *);
} abi1_table_t;

static aigov_span_t span[1];
static int state;

static void *create(const aigov_config_api_t *api, const aigov_config_t *cfg,
                    aigov_action_t action, char *err, size_t errlen)
{
    (void)api; (void)cfg; (void)action; (void)err; (void)errlen;
    return &state;
}

static void destroy(void *inst) { (void)inst; }

static int inspect(void *inst, void *stream, const char *text, size_t len,
                   aigov_verdict_t *out)
{
    size_t i;

    (void)inst; (void)stream;
    for (i = 0; i + 11 <= len; i++) {
        if (memcmp(text + i, "secret-word", 11) == 0) {
            span[0].start = i;
            span[0].end = i + 11;
            span[0].label = "ABI1";
            out->kind = AIGOV_REDACT;
            out->spans = span;
            out->nspans = 1;
            out->reason = "found the word";
            out->category = "word";
            return 0;
        }
    }
    return 0;
}

static const abi1_table_t table = { 1, "abi1", "0", create, destroy, inspect, NULL, NULL };

AIGOV_PLUGIN_EXPORT const aigov_plugin_t *aigov_plugin_entry(void)
{
    return (const aigov_plugin_t *)(const void *)&table;
}
