
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
static char *ngx_http_aigov_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_aigov_init(ngx_conf_t *cf);
static void ngx_http_aigov_ctx_cleanup(void *data);


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

      ngx_null_command
};


static ngx_http_module_t  ngx_http_aigov_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_aigov_init,                   /* postconfiguration */

    ngx_http_aigov_create_main_conf,       /* create main configuration */
    NULL,                                  /* init main configuration */

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
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_aigov_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_aigov_main_conf_t  *amcf;

    amcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_aigov_main_conf_t));
    if (amcf == NULL) {
        return NULL;
    }

    return amcf;
}


static void *
ngx_http_aigov_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_aigov_loc_conf_t  *alcf;

    alcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_aigov_loc_conf_t));
    if (alcf == NULL) {
        return NULL;
    }

    alcf->enable = NGX_CONF_UNSET;
    alcf->max_answer_size = NGX_CONF_UNSET_SIZE;

    return alcf;
}


static char *
ngx_http_aigov_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_aigov_loc_conf_t  *prev = parent;
    ngx_http_aigov_loc_conf_t  *conf = child;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_size_value(conf->max_answer_size, prev->max_answer_size,
                              4 * 1024 * 1024);

    return NGX_CONF_OK;
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

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        return NULL;
    }

    ngx_hex_dump(ctx->id, rnd, sizeof(rnd));

    cln->handler = ngx_http_aigov_ctx_cleanup;

    ngx_http_set_ctx(r, ctx, ngx_http_aigov_module);

    return ctx;
}


static void
ngx_http_aigov_ctx_cleanup(void *data)
{
    ngx_http_aigov_ctx_t  *ctx = data;

    aigov_request_free(&ctx->req);
}
