
/*
 * aigov: header and body filters. Every governed response carries
 * X-AIGov-Request-Id; error pages that nginx itself generates are turned
 * into the SPEC error JSON so that SDKs raise a clear exception.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_aigov_module.h"


static ngx_int_t ngx_http_aigov_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_aigov_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_aigov_nginx_error(ngx_http_request_t *r,
    ngx_http_aigov_ctx_t *ctx);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


ngx_int_t
ngx_http_aigov_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_aigov_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_aigov_body_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_http_aigov_header_filter(ngx_http_request_t *r)
{
    ngx_table_elt_t            *h;
    ngx_http_aigov_ctx_t       *ctx;
    ngx_http_aigov_loc_conf_t  *alcf;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_aigov_get_ctx(r);

    if (ctx == NULL) {
        alcf = ngx_http_get_module_loc_conf(r, ngx_http_aigov_module);
        if (!alcf->enable) {
            return ngx_http_next_header_filter(r);
        }

        /* refused before the access phase, e.g. 413 on Content-Length */
        ctx = ngx_http_aigov_create_ctx(r);
        if (ctx == NULL) {
            return NGX_ERROR;
        }
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "X-AIGov-Request-Id");
    h->value.data = ctx->id;
    h->value.len = NGX_HTTP_AIGOV_ID_LEN;

    if (r->err_status >= NGX_HTTP_BAD_REQUEST && ctx->error_body.len == 0) {
        if (ngx_http_aigov_nginx_error(r, ctx) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_aigov_nginx_error(ngx_http_request_t *r, ngx_http_aigov_ctx_t *ctx)
{
    u_char       msg[128];
    ngx_str_t   *body;
    const char  *code;

    switch (r->err_status) {
    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        code = "request_too_large";
        ngx_sprintf(msg, "the request body is larger than the %O bytes "
                    "allowed%Z",
                    ngx_http_get_module_loc_conf(r, ngx_http_core_module)
                        ? ((ngx_http_core_loc_conf_t *)
                           ngx_http_get_module_loc_conf(r,
                               ngx_http_core_module))->client_max_body_size
                        : 0);
        break;
    case NGX_HTTP_BAD_REQUEST:
        code = "bad_request";
        ngx_sprintf(msg, "the HTTP request is malformed%Z");
        break;
    case NGX_HTTP_REQUEST_TIME_OUT:
        code = "request_timeout";
        ngx_sprintf(msg, "the request body did not arrive in time%Z");
        break;
    case NGX_HTTP_BAD_GATEWAY:
        code = "upstream_unavailable";
        ngx_sprintf(msg, "the model API could not be reached%Z");
        break;
    case NGX_HTTP_GATEWAY_TIME_OUT:
        code = "upstream_timeout";
        ngx_sprintf(msg, "the model API did not answer in time%Z");
        break;
    default:
        code = r->err_status >= 500 ? "server_error" : "request_error";
        ngx_sprintf(msg, "the gateway could not handle the request "
                    "(status %ui)%Z", r->err_status);
        break;
    }

    body = ngx_http_aigov_error_json(r->pool, r->err_status, code,
                                     (const char *) msg);
    if (body == NULL) {
        return NGX_ERROR;
    }

    ctx->error_body = *body;

    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.content_length_n = body->len;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_aigov_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_buf_t             *b;
    ngx_chain_t           *cl, out;
    ngx_http_aigov_ctx_t  *ctx;

    if (r != r->main) {
        return ngx_http_next_body_filter(r, in);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_aigov_module);

    if (ctx == NULL || ctx->error_body.len == 0) {
        return ngx_http_next_body_filter(r, in);
    }

    /* replacing nginx's HTML error page: swallow it, send ours once */

    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
        cl->buf->file_pos = cl->buf->file_last;
    }

    if (ctx->error_sent || r->header_only) {
        return NGX_OK;
    }

    ctx->error_sent = 1;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = ctx->error_body.data;
    b->last = b->pos + ctx->error_body.len;
    b->memory = 1;
    b->last_buf = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_next_body_filter(r, &out);
}
