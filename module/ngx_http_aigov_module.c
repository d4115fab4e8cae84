
/*
 * aigov: directives, configuration and the request context.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/rand.h>

#include "ngx_http_aigov_module.h"


static void *ngx_http_aigov_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_aigov_create_loc_conf(ngx_conf_t *cf);
static ngx_uint_t ngx_http_aigov_str_eq(ngx_str_t *a, ngx_str_t *b);
static char *ngx_http_aigov_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_aigov_init(ngx_conf_t *cf);
static void ngx_http_aigov_warn_unbuffered(ngx_conf_t *cf);
static void ngx_http_aigov_ctx_cleanup(void *data);
static char *ngx_http_aigov_plugin(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_aigov_jwt_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_aigov_jwt_list(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_aigov_jwt_jwks(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_aigov_jwt_same(ngx_http_aigov_loc_conf_t *conf,
    ngx_http_aigov_loc_conf_t *prev);
static void ngx_http_aigov_key_notice(void *data, const char *msg);
static char *ngx_http_aigov_init_main_conf(ngx_conf_t *cf, void *conf);
static ngx_int_t ngx_http_aigov_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static aigov_policy_t *ngx_http_aigov_load_policy(ngx_conf_t *cf,
    ngx_str_t *path);
static aigov_identity_t *ngx_http_aigov_build_identity(ngx_conf_t *cf,
    ngx_http_aigov_loc_conf_t *alcf);
static void ngx_http_aigov_free_host(void *data);
static void ngx_http_aigov_free_policy(void *data);
static void ngx_http_aigov_free_identity(void *data);


static ngx_conf_enum_t  ngx_http_aigov_audit_fail[] = {
    { ngx_string("closed"), 0 },
    { ngx_string("open"), 1 },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_aigov_commands[] = {

    { ngx_string("aigov"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_aigov_loc_conf_t, enable),
      NULL },

    { ngx_string("aigov_max_answer_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_aigov_loc_conf_t, max_answer_size),
      NULL },

    { ngx_string("aigov_stream_hold_back"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_aigov_loc_conf_t, hold_back),
      NULL },

    { ngx_string("aigov_stream_hold_time"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_aigov_loc_conf_t, hold_time),
      NULL },

    { ngx_string("aigov_policy"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_aigov_loc_conf_t, policy_path),
      NULL },

    { ngx_string("aigov_jwt_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_aigov_jwt_key,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("aigov_jwt_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_aigov_jwt_list,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_aigov_loc_conf_t, jwt_issuer),
      NULL },

    { ngx_string("aigov_jwt_audience"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_aigov_jwt_list,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_aigov_loc_conf_t, jwt_audience),
      NULL },

    { ngx_string("aigov_jwt_typ"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_aigov_jwt_list,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_aigov_loc_conf_t, jwt_typ),
      NULL },

    { ngx_string("aigov_jwt_jwks"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_aigov_jwt_jwks,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("aigov_jwt_max_lifetime"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_aigov_loc_conf_t, jwt_max_lifetime),
      NULL },

    { ngx_string("aigov_jwt_leeway"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_aigov_loc_conf_t, jwt_leeway),
      NULL },

    { ngx_string("aigov_jwt_cache"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_aigov_loc_conf_t, jwt_cache),
      NULL },

    { ngx_string("aigov_plugin"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_aigov_plugin,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("aigov_audit_log"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_aigov_main_conf_t, audit_path),
      NULL },

    { ngx_string("aigov_audit_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_aigov_main_conf_t, audit_key),
      NULL },

    { ngx_string("aigov_audit_origin"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_aigov_main_conf_t, audit_origin),
      NULL },

    { ngx_string("aigov_audit_checkpoint"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_aigov_audit_checkpoint,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("aigov_audit_hash_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_aigov_audit_hash_key,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("aigov_audit_fail"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_aigov_main_conf_t, audit_fail_open),
      &ngx_http_aigov_audit_fail },

    { ngx_string("aigov_shared_memory"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_aigov_main_conf_t, shm_size),
      NULL },

    { ngx_string("aigov_body_keep"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_aigov_main_conf_t, body_keep),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_aigov_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_aigov_init,                   /* postconfiguration */

    ngx_http_aigov_create_main_conf,       /* create main configuration */
    ngx_http_aigov_init_main_conf,         /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_aigov_create_loc_conf,        /* create location configuration */
    ngx_http_aigov_merge_loc_conf          /* merge location configuration */
};


ngx_module_t  ngx_http_aigov_module = {
    NGX_MODULE_V1,
    &ngx_http_aigov_module_ctx,            /* module context */
    ngx_http_aigov_commands,               /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_aigov_audit_init_process,     /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_aigov_audit_exit_process,     /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_aigov_create_main_conf(ngx_conf_t *cf)
{
    ngx_pool_cleanup_t          *cln;
    ngx_http_aigov_main_conf_t  *amcf;

    amcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_aigov_main_conf_t));
    if (amcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&amcf->plugins, cf->pool, 4, sizeof(ngx_str_t))
        != NGX_OK
        || ngx_array_init(&amcf->policies, cf->pool, 4,
                          sizeof(ngx_http_aigov_policy_ref_t))
           != NGX_OK)
    {
        return NULL;
    }

    amcf->shm_size = NGX_CONF_UNSET_SIZE;
    amcf->body_keep = NGX_CONF_UNSET_SIZE;
    amcf->cp_records = NGX_CONF_UNSET_UINT;
    amcf->cp_time = NGX_CONF_UNSET;
    amcf->audit_fail_open = NGX_CONF_UNSET_UINT;

    /* registered first, so it runs last: policies hold plugin instances
     * and must be freed before the plugins are unloaded */
    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    amcf->host = aigov_host_new();
    if (amcf->host == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_aigov_free_host;
    cln->data = amcf->host;

    return amcf;
}


static char *
ngx_http_aigov_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_aigov_main_conf_t  *amcf = conf;

    ngx_str_t  name = ngx_string("aigov");

    ngx_conf_init_size_value(amcf->shm_size, 10 * 1024 * 1024);
    ngx_conf_init_size_value(amcf->body_keep, 16 * 1024 * 1024);

    if (amcf->shm_size < 64 * 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "aigov_shared_memory of %uz bytes is too small, "
                           "at least 64k is needed", amcf->shm_size);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_aigov_audit_conf(cf, amcf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    amcf->shm_zone = ngx_shared_memory_add(cf, &name, amcf->shm_size,
                                           &ngx_http_aigov_module);
    if (amcf->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    amcf->shm_zone->init = ngx_http_aigov_init_zone;
    amcf->shm_zone->data = amcf;

    return NGX_CONF_OK;
}


/*
 * One zone holds the per-subject quota counters (and the audit tree). On
 * reload nginx hands back the old zone when its name and size match, and
 * the counters carry on.
 */

static ngx_int_t
ngx_http_aigov_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    size_t                       size;
    ngx_uint_t                   fresh;
    ngx_slab_pool_t             *shpool;
    ngx_http_aigov_shctx_t      *sh;
    ngx_http_aigov_main_conf_t  *amcf;

    amcf = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    fresh = !(shm_zone->shm.exists || data);

    if (!fresh) {
        sh = shpool->data;

    } else {
        sh = ngx_slab_calloc(shpool, sizeof(ngx_http_aigov_shctx_t));
        if (sh == NULL) {
            return NGX_ERROR;
        }

        /* most of the zone goes to the quota table */
        size = (shm_zone->shm.size - sizeof(ngx_http_aigov_shctx_t)) / 4 * 3;
        size = ngx_min(size, shm_zone->shm.size - 32 * 1024);

        sh->quota = ngx_slab_alloc(shpool, size);
        if (sh->quota == NULL) {
            return NGX_ERROR;
        }

        if (aigov_quota_init(sh->quota, size) < 0) {
            return NGX_ERROR;
        }

        /* created once: a reload must not re-initialise a semaphore the
         * old workers may be waiting on */
        if (ngx_shmtx_create(&sh->quota_mutex, &sh->quota_lock, NULL)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        shpool->data = sh;
    }

    amcf->quota = sh->quota;
    amcf->quota_mutex = &sh->quota_mutex;

    return ngx_http_aigov_audit_init_zone(amcf, shpool, sh, fresh);
}


static void *
ngx_http_aigov_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_aigov_loc_conf_t  *alcf;

    alcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_aigov_loc_conf_t));
    if (alcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     alcf->policy_path = { 0, NULL };
     *     alcf->policy = NULL;
     *     alcf->jwt_issuer = { 0, NULL };
     *     alcf->jwt_audience = { 0, NULL };
     *     alcf->identity = NULL;
     */

    alcf->enable = NGX_CONF_UNSET;
    alcf->max_answer_size = NGX_CONF_UNSET_SIZE;
    alcf->hold_back = NGX_CONF_UNSET_SIZE;
    alcf->hold_time = NGX_CONF_UNSET_MSEC;
    alcf->jwt_keys = NGX_CONF_UNSET_PTR;
    alcf->jwt_leeway = NGX_CONF_UNSET;
    alcf->jwt_max_lifetime = NGX_CONF_UNSET;
    alcf->jwt_jwks_refresh = NGX_CONF_UNSET;
    alcf->jwt_cache = NGX_CONF_UNSET_UINT;

    return alcf;
}


/*
 * Two settings are the same only when their bytes are: issuers of two
 * Azure AD tenants differ by a GUID of the same length.
 */

static ngx_uint_t
ngx_http_aigov_str_eq(ngx_str_t *a, ngx_str_t *b)
{
    return a->len == b->len && ngx_memcmp(a->data, b->data, a->len) == 0;
}


static char *
ngx_http_aigov_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_aigov_loc_conf_t  *prev = parent;
    ngx_http_aigov_loc_conf_t  *conf = child;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_size_value(conf->max_answer_size, prev->max_answer_size,
                              4 * 1024 * 1024);
    ngx_conf_merge_size_value(conf->hold_back, prev->hold_back, 256);
    ngx_conf_merge_msec_value(conf->hold_time, prev->hold_time, 0);
    ngx_conf_merge_str_value(conf->policy_path, prev->policy_path, "");
    ngx_conf_merge_str_value(conf->jwt_issuer, prev->jwt_issuer, "");
    ngx_conf_merge_str_value(conf->jwt_audience, prev->jwt_audience, "");
    ngx_conf_merge_sec_value(conf->jwt_leeway, prev->jwt_leeway, 60);
    ngx_conf_merge_uint_value(conf->jwt_cache, prev->jwt_cache, 1024);
    ngx_conf_merge_str_value(conf->jwt_typ, prev->jwt_typ, "");
    ngx_conf_merge_sec_value(conf->jwt_max_lifetime, prev->jwt_max_lifetime,
                             AIGOV_ID_DEFAULT_MAX_LIFETIME);
    ngx_conf_merge_str_value(conf->jwt_jwks, prev->jwt_jwks, "");
    ngx_conf_merge_sec_value(conf->jwt_jwks_refresh, prev->jwt_jwks_refresh,
                             300);

    /* the identity and policy are built once per distinct setting; a
     * location that only inherits shares its parent's */

    if (conf->jwt_keys == NGX_CONF_UNSET_PTR) {
        if (prev->jwt_keys != NGX_CONF_UNSET_PTR && prev->jwt_keys
            && prev->identity == NULL)
        {
            prev->identity = ngx_http_aigov_build_identity(cf, prev);
            if (prev->identity == NULL) {
                return NGX_CONF_ERROR;
            }
        }

        conf->jwt_keys = (prev->jwt_keys == NGX_CONF_UNSET_PTR)
                         ? NULL : prev->jwt_keys;

        if (ngx_http_aigov_str_eq(&conf->jwt_issuer, &prev->jwt_issuer)
            && ngx_http_aigov_str_eq(&conf->jwt_audience, &prev->jwt_audience)
            && conf->jwt_leeway == prev->jwt_leeway
            && conf->jwt_cache == prev->jwt_cache)
        {
            conf->identity = prev->identity;
        }
    }

    /* the settings added for #21 decide sharing by value too */
    if (conf->identity != NULL && conf->identity == prev->identity
        && !ngx_http_aigov_jwt_same(conf, prev))
    {
        conf->identity = NULL;
    }

    if (conf->identity != NULL && conf->identity == prev->identity) {
        conf->jwks = prev->jwks;
    }

    if ((conf->jwt_keys || conf->jwt_jwks.len) && conf->identity == NULL) {
        conf->identity = ngx_http_aigov_build_identity(cf, conf);
        if (conf->identity == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (conf->policy_path.len) {
        conf->policy = ngx_http_aigov_load_policy(cf, &conf->policy_path);
        if (conf->policy == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (conf->enable) {
        ngx_http_aigov_warn_unbuffered(cf);
    }

    return NGX_CONF_OK;
}


/*
 * aigov reads the whole body before the upstream sees a byte of it, so
 * unbuffered request bodies do not work with it, and gRPC's framed bodies
 * are not a shape it reads. Said at nginx -t, not refused: the location
 * still works, just not as its directives promise. The upstream modules'
 * location confs all begin with ngx_http_upstream_conf_t; they are merged
 * before this module's (dynamic modules come last), and cf->ctx holds the
 * location being merged.
 */

static void
ngx_http_aigov_warn_unbuffered(ngx_conf_t *cf)
{
    ngx_uint_t                 i;
    ngx_module_t              *m;
    ngx_http_conf_ctx_t       *ctx;
    ngx_http_upstream_conf_t  *ucf;
    ngx_http_core_loc_conf_t  *clcf;

    ctx = cf->ctx;
    clcf = ctx->loc_conf[ngx_http_core_module.ctx_index];

    if (clcf->handler == NULL) {
        /* nothing is passed on from here */
        return;
    }

    for (i = 0; cf->cycle->modules[i]; i++) {
        m = cf->cycle->modules[i];

        if (m->type != NGX_HTTP_MODULE) {
            continue;
        }

        ucf = ctx->loc_conf[m->ctx_index];

        if (ngx_strcmp(m->name, "ngx_http_proxy_module") == 0
            && ucf->request_buffering == 0)
        {
            ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                          "aigov: in location \"%V\", "
                          "\"proxy_request_buffering off\" has no effect "
                          "with \"aigov on\": the whole body is read and "
                          "inspected before the upstream gets it",
                          &clcf->name);

        } else if (ngx_strcmp(m->name, "ngx_http_fastcgi_module") == 0
                   && ucf->request_buffering == 0)
        {
            ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                          "aigov: in location \"%V\", "
                          "\"fastcgi_request_buffering off\" has no effect "
                          "with \"aigov on\": the whole body is read and "
                          "inspected before the upstream gets it",
                          &clcf->name);

        } else if (ngx_strcmp(m->name, "ngx_http_grpc_module") == 0
                   && ucf->upstream != NULL)
        {
            ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                          "aigov: in location \"%V\", \"grpc_pass\" with "
                          "\"aigov on\": gRPC bodies are not a shape the "
                          "gateway reads, so a policy that inspects refuses "
                          "them (uninspectable), and streamed gRPC calls "
                          "wait for the whole body",
                          &clcf->name);
        }
    }
}


static char *
ngx_http_aigov_jwt_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_aigov_loc_conf_t  *alcf = conf;

    ngx_str_t  *value, *key;

    if (alcf->jwt_keys == NGX_CONF_UNSET_PTR) {
        alcf->jwt_keys = ngx_array_create(cf->pool, 2, sizeof(ngx_str_t));
        if (alcf->jwt_keys == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    value = cf->args->elts;

    key = ngx_array_push(alcf->jwt_keys);
    if (key == NULL) {
        return NGX_CONF_ERROR;
    }

    *key = value[1];

    if (ngx_conf_full_name(cf->cycle, key, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * aigov_jwt_issuer, aigov_jwt_audience, aigov_jwt_typ: one or more values,
 * the directive repeatable; kept as one string of NUL-separated values, so
 * that two settings compare (and inherit) as one value. A single "" means
 * "not checked" and is only allowed alone.
 */

static char *
ngx_http_aigov_jwt_list(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    u_char      *d;
    size_t       len;
    ngx_str_t   *field, *value;
    ngx_uint_t   i;

    field = (ngx_str_t *) (p + cmd->offset);
    value = cf->args->elts;

    len = field->len;

    for (i = 1; i < cf->args->nelts; i++) {
        if (value[i].len == 0) {
            if (cf->args->nelts == 2 && field->data == NULL) {
                field->data = (u_char *) "";
                return NGX_CONF_OK;
            }

            return "has an empty value among others";
        }

        if (ngx_strlen(value[i].data) != value[i].len) {
            return "has a value with a NUL byte";
        }

        len += value[i].len + 1;
    }

    if (field->data != NULL && field->len == 0) {
        return "is \"\" (not checked) here already";
    }

    d = ngx_pnalloc(cf->pool, len + 1);
    if (d == NULL) {
        return NGX_CONF_ERROR;
    }

    len = 0;

    if (field->len) {
        d = ngx_cpymem(d, field->data, field->len);
        *d++ = '\0';
        len = field->len + 1;
    }

    for (i = 1; i < cf->args->nelts; i++) {
        d = ngx_cpymem(d, value[i].data, value[i].len);
        *d++ = '\0';
        len += value[i].len + 1;
    }

    field->data = d - len;
    field->len = len - 1;

    return NGX_CONF_OK;
}


/* aigov_jwt_jwks /internal/location [refresh]; */

static char *
ngx_http_aigov_jwt_jwks(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_aigov_loc_conf_t  *alcf = conf;

    time_t      t;
    ngx_str_t  *value;

    if (alcf->jwt_jwks.data != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].data[0] != '/') {
        return "needs the URI of a location, e.g. /_jwks";
    }

    alcf->jwt_jwks = value[1];

    if (cf->args->nelts == 3) {
        t = ngx_parse_time(&value[2], 1);
        if (t == (time_t) NGX_ERROR || t < 1) {
            return "has an invalid refresh time";
        }

        alcf->jwt_jwks_refresh = t;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_aigov_jwt_same(ngx_http_aigov_loc_conf_t *conf,
    ngx_http_aigov_loc_conf_t *prev)
{
    return conf->jwt_max_lifetime == prev->jwt_max_lifetime
           && conf->jwt_jwks_refresh == prev->jwt_jwks_refresh
           && conf->jwt_jwks.len == prev->jwt_jwks.len
           && ngx_memcmp(conf->jwt_jwks.data, prev->jwt_jwks.data,
                         conf->jwt_jwks.len) == 0
           && conf->jwt_typ.len == prev->jwt_typ.len
           && ngx_memcmp(conf->jwt_typ.data, prev->jwt_typ.data,
                         conf->jwt_typ.len) == 0
           && conf->jwt_issuer.len == prev->jwt_issuer.len
           && ngx_memcmp(conf->jwt_issuer.data, prev->jwt_issuer.data,
                         conf->jwt_issuer.len) == 0
           && conf->jwt_audience.len == prev->jwt_audience.len
           && ngx_memcmp(conf->jwt_audience.data, prev->jwt_audience.data,
                         conf->jwt_audience.len) == 0;
}


static void
ngx_http_aigov_key_notice(void *data, const char *msg)
{
    ngx_conf_t  *cf = data;

    ngx_conf_log_error(NGX_LOG_NOTICE, cf, 0, "aigov_jwt_key: %s", msg);
}


/* each NUL-separated value of a list directive, given to add() */

static ngx_int_t
ngx_http_aigov_add_each(aigov_identity_t *id, ngx_str_t *list,
    int (*add)(aigov_identity_t *, const char *))
{
    u_char  *p, *end;

    if (list->len == 0) {
        return NGX_OK;
    }

    p = list->data;
    end = list->data + list->len;

    while (p <= end) {
        if (add(id, (const char *) p) != 0) {
            return NGX_ERROR;
        }

        p += ngx_strlen(p) + 1;
    }

    return NGX_OK;
}


static aigov_identity_t *
ngx_http_aigov_build_identity(ngx_conf_t *cf, ngx_http_aigov_loc_conf_t *alcf)
{
    char                 err[512];
    ngx_str_t           *key;
    ngx_uint_t           i;
    aigov_identity_t    *id;
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    id = aigov_identity_new();
    if (id == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_aigov_free_identity;
    cln->data = id;

    /* nginx -t shows which keys of a JWKS are skipped, and why */
    aigov_identity_set_notice(id, ngx_http_aigov_key_notice, cf);

    key = alcf->jwt_keys ? alcf->jwt_keys->elts : NULL;

    for (i = 0; alcf->jwt_keys && i < alcf->jwt_keys->nelts; i++) {
        err[0] = '\0';
        if (aigov_identity_add_key_file(id, (const char *) key[i].data,
                                        err, sizeof(err))
            != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "aigov_jwt_key \"%V\": %s", &key[i], err);
            return NULL;
        }
    }

    aigov_identity_set_notice(id, NULL, NULL);

    alcf->jwks = NULL;

    if (alcf->jwt_jwks.len) {
        alcf->jwks = ngx_pcalloc(cf->pool, sizeof(ngx_http_aigov_jwks_t));
        if (alcf->jwks == NULL) {
            return NULL;
        }

        alcf->jwks->uri = alcf->jwt_jwks;
        alcf->jwks->refresh = alcf->jwt_jwks_refresh;
        alcf->jwks->identity = id;
    }

    if (ngx_http_aigov_add_each(id, &alcf->jwt_issuer,
                                aigov_identity_add_issuer)
        != NGX_OK
        || ngx_http_aigov_add_each(id, &alcf->jwt_audience,
                                   aigov_identity_add_audience)
           != NGX_OK
        || aigov_identity_set_cache(id, alcf->jwt_cache) != 0)
    {
        return NULL;
    }

    if (ngx_http_aigov_add_each(id, &alcf->jwt_typ, aigov_identity_add_typ)
        != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "aigov_jwt_typ: a value is longer than 100 bytes");
        return NULL;
    }

    aigov_identity_set_leeway(id, (long) alcf->jwt_leeway);
    aigov_identity_set_max_lifetime(id, (long) alcf->jwt_max_lifetime);

    return id;
}


/*
 * Policies are compiled after the whole http{} block is read, so that
 * every aigov_plugin is loaded whichever comes first in the file. Each
 * file or folder is compiled once and shared by the locations naming it.
 */

static aigov_policy_t *
ngx_http_aigov_load_policy(ngx_conf_t *cf, ngx_str_t *path)
{
    char                         *errors, *line, *next;
    const char                   *wline, *wnext;
    ngx_str_t                     full;
    ngx_uint_t                    i;
    aigov_policy_t               *policy;
    ngx_pool_cleanup_t           *cln;
    ngx_http_aigov_policy_ref_t  *ref;
    ngx_http_aigov_main_conf_t   *amcf;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_aigov_module);

    full = *path;
    if (ngx_conf_full_name(cf->cycle, &full, 1) != NGX_OK) {
        return NULL;
    }

    ref = amcf->policies.elts;
    for (i = 0; i < amcf->policies.nelts; i++) {
        if (ref[i].path.len == full.len
            && ngx_strncmp(ref[i].path.data, full.data, full.len) == 0)
        {
            return ref[i].policy;
        }
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    errors = NULL;
    policy = aigov_policy_load((const char *) full.data, aigov_host_instance,
                               aigov_host_instance_destroy, amcf->host,
                               &errors);

    if (policy == NULL) {
        if (errors == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "aigov_policy \"%V\" could not be loaded",
                               &full);
            return NULL;
        }

        /* every error, one per line, as file:line:col: message */
        for (line = errors; line && *line; line = next) {
            next = strchr(line, '\n');
            if (next) {
                *next++ = '\0';
            }

            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "aigov_policy: %s",
                               line);
        }

        free(errors);
        return NULL;
    }

    free(errors);

    /* warnings (unreachable rules, limits without effect...) are logged,
     * and nginx -t still passes; aigov policy check --strict fails */
    for (wline = aigov_policy_warnings(policy); wline && *wline; wline = wnext) {
        wnext = strchr(wline, '\n');
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0, "aigov_policy: %*s",
                           (size_t) (wnext ? wnext - wline : (long) strlen(wline)),
                           wline);
        if (wnext) {
            wnext++;
        }
    }

    cln->handler = ngx_http_aigov_free_policy;
    cln->data = policy;

    ref = ngx_array_push(&amcf->policies);
    if (ref == NULL) {
        return NULL;
    }

    ref->path = full;
    ref->policy = policy;

    return policy;
}


static char *
ngx_http_aigov_plugin(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_aigov_main_conf_t  *amcf = conf;

    char        err[512];
    ngx_str_t  *value, path, *name;

    value = cf->args->elts;

    path = value[2];
    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    err[0] = '\0';
    if (aigov_host_load(amcf->host, (const char *) value[1].data,
                        (const char *) path.data, err, sizeof(err))
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "aigov_plugin %V: %s",
                           &value[1], err);
        return NGX_CONF_ERROR;
    }

    name = ngx_array_push(&amcf->plugins);
    if (name == NULL) {
        return NGX_CONF_ERROR;
    }

    *name = value[1];

    return NGX_CONF_OK;
}


static void
ngx_http_aigov_free_host(void *data)
{
    aigov_host_free(data);
}


static void
ngx_http_aigov_free_policy(void *data)
{
    aigov_policy_free(data);
}


static void
ngx_http_aigov_free_identity(void *data)
{
    aigov_identity_free(data);
}


static ngx_int_t
ngx_http_aigov_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_aigov_access_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_aigov_log_handler;

    return ngx_http_aigov_filter_init(cf);
}


/*
 * r->ctx is zeroed on internal redirects and error_page; the pool cleanup
 * keeps the context findable so that a request is never governed (or
 * redacted, or recorded) twice.
 */

ngx_http_aigov_ctx_t *
ngx_http_aigov_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t    *cln;
    ngx_http_aigov_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_aigov_module);
    if (ctx || !(r->internal || r->filter_finalize)) {
        return ctx;
    }

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_aigov_ctx_cleanup) {
            ctx = cln->data;
            ngx_http_set_ctx(r, ctx, ngx_http_aigov_module);
            return ctx;
        }
    }

    return NULL;
}


/*
 * Request ids must be unique across workers and restarts, not secret: a
 * random key drawn once per process (after fork, so workers differ) and a
 * counter mixed through splitmix64 cost nanoseconds, not a RAND_bytes call
 * per request.
 */

static ngx_int_t
ngx_http_aigov_request_id(u_char out[16])
{
    uint64_t            z;
    static uint64_t     key[2], counter;
    static ngx_pid_t    pid;

    if (pid != ngx_pid) {
        if (RAND_bytes((u_char *) key, sizeof(key)) != 1) {
            return NGX_ERROR;
        }

        pid = ngx_pid;
    }

    z = key[1] + 0x9e3779b97f4a7c15ULL * ++counter;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;

    ngx_memcpy(out, &key[0], 8);
    ngx_memcpy(out + 8, &z, 8);

    return NGX_OK;
}


ngx_http_aigov_ctx_t *
ngx_http_aigov_create_ctx(ngx_http_request_t *r)
{
    u_char                 rnd[NGX_HTTP_AIGOV_ID_LEN / 2];
    ngx_pool_cleanup_t    *cln;
    ngx_http_aigov_ctx_t  *ctx;

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_aigov_ctx_t));
    if (cln == NULL) {
        return NULL;
    }

    ctx = cln->data;
    ngx_memzero(ctx, sizeof(ngx_http_aigov_ctx_t));
    ctx->request = r;
    ctx->req.max_tokens = -1;
    ctx->asked_max_tokens = -1;

    if (ngx_http_aigov_request_id(rnd) != NGX_OK) {
        return NULL;
    }

    *aigov_hex((char *) ctx->id, rnd, sizeof(rnd)) = '\0';

    cln->handler = ngx_http_aigov_ctx_cleanup;

    ngx_http_aigov_metrics_start(r, ctx);

    ngx_http_set_ctx(r, ctx, ngx_http_aigov_module);

    return ctx;
}


static void
ngx_http_aigov_ctx_cleanup(void *data)
{
    ngx_http_aigov_ctx_t  *ctx = data;

    aigov_request_free(&ctx->req);
    aigov_filter_outcome_free(&ctx->prompt_outcome);

    if (ctx->answer) {
        aigov_answer_free(ctx->answer);
    }

    if (ctx->claims) {
        json_decref(ctx->claims);
    }
}
