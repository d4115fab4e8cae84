
/*
 * aigov: aigov_audit_hash_key, the key of keyed content hashes.
 *
 * With it, content: hash writes HMAC-SHA256 under this key
 * (prompt_hmac, response_hmac, and the key's id in hash_key) instead of
 * plain SHA-256, which anyone can test guesses against (lib/hmac.h).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_aigov_module.h"


char *
ngx_http_aigov_audit_hash_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_aigov_main_conf_t  *amcf = conf;

    char        err[512];
    ngx_str_t  *value, path;

    if (amcf->hash_key) {
        return "is duplicate";
    }

    value = cf->args->elts;
    path = value[1];

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    amcf->hash_key = ngx_pcalloc(cf->pool, sizeof(aigov_hmac_key_t));
    if (amcf->hash_key == NULL) {
        return NGX_CONF_ERROR;
    }

    if (aigov_hmac_key_load(amcf->hash_key, (const char *) path.data, err,
                            sizeof(err))
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "aigov_audit_hash_key: %s",
                           err);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}
