/* A plugin built for an ABI aigov does not speak: the host must refuse it. */
#include <stddef.h>

#include "aigov_plugin.h"

static void *create(const aigov_config_api_t *api, const aigov_config_t *cfg,
                    aigov_action_t action, char *err, size_t errlen)
{
    (void)api; (void)cfg; (void)action; (void)err; (void)errlen;
    return NULL;
}

static void destroy(void *inst) { (void)inst; }

static int inspect(void *inst, void *stream, const char *text, size_t len,
                   aigov_verdict_t *out)
{
    (void)inst; (void)stream; (void)text; (void)len; (void)out;
    return 0;
}

static const aigov_plugin_t table = { 7, "abi7", "0", create, destroy, inspect, NULL, NULL };

AIGOV_PLUGIN_EXPORT const aigov_plugin_t *aigov_plugin_entry(void)
{
    return &table;
}
