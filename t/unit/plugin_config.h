/*
 * plugin_config.h: the plugin unit tests build their instances from a JSON
 * config through the host's own config API (lib/filter), as nginx -t does,
 * rather than through a fake of it.
 */
#ifndef AIGOV_TEST_PLUGIN_CONFIG_H
#define AIGOV_TEST_PLUGIN_CONFIG_H

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

#endif
