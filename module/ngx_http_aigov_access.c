
/*
 * aigov: the access phase. Reads the whole request body, hands it to
 * lib/request and decides whether the request goes on to proxy_pass.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_aigov_module.h"


static void ngx_http_aigov_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_aigov_process(ngx_http_request_t *r,
    ngx_http_aigov_ctx_t *ctx);
static ngx_int_t ngx_http_aigov_read_body(ngx_http_request_t *r,
    ngx_str_t *body);


ngx_int_t
ngx_http_aigov_access_handler(ngx_http_request_t *r)
{
    ngx_int_t                   rc;
    ngx_http_aigov_ctx_t       *ctx;
    ngx_http_aigov_loc_conf_t  *alcf;

    if (r != r->main) {
        return NGX_DECLINED;
    }

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_aigov_module);

    if (!alcf->enable) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_aigov_get_ctx(r);

    if (ctx) {
        if (ctx->denied) {
            /* the refusal was prepared in the body handler; send it here,
             * where the phase engine expects an answer */
            ctx->denied = 0;
            rc = ngx_http_aigov_send_error(r, ctx->status, ctx->err_code,
                                           ctx->err_message,
                                           ctx->retry_after);
            ctx->status = NGX_DONE;
            ngx_http_finalize_request(r, rc);
            return NGX_DONE;
        }

        return ctx->status;
    }

    ctx = ngx_http_aigov_create_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->status = NGX_DONE;

    r->request_body_in_single_buf = 1;
    r->request_body_in_persistent_file = 1;
    r->request_body_in_clean_file = 1;

    rc = ngx_http_read_client_request_body(r, ngx_http_aigov_body_handler);
    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    ngx_http_finalize_request(r, NGX_DONE);
    return NGX_DONE;
}


static void
ngx_http_aigov_body_handler(ngx_http_request_t *r)
{
    ngx_int_t              rc;
    ngx_http_aigov_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_aigov_module);

    ctx->body_read = 1;

    rc = ngx_http_aigov_process(r, ctx);

    if (rc == NGX_DECLINED || rc == NGX_OK) {
        ctx->status = NGX_DECLINED;

    } else if (ctx->err_code) {
        ctx->status = rc;
        ctx->denied = 1;

    } else {
        ctx->status = rc;
    }

    r->preserve_body = 1;

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


static ngx_int_t
ngx_http_aigov_deny(ngx_http_aigov_ctx_t *ctx, ngx_uint_t status,
    const char *code, const char *message)
{
    size_t   len;
    u_char  *p;

    len = ngx_strlen(message);

    p = ngx_pnalloc(ctx->request->pool, len + 1);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(p, message, len + 1);

    ctx->err_code = code;
    ctx->err_message = (char *) p;

    return status;
}


static ngx_int_t
ngx_http_aigov_process(ngx_http_request_t *r, ngx_http_aigov_ctx_t *ctx)
{
    char                err[256];
    ngx_str_t           body;
    aigov_endpoint_t    ep;
    aigov_req_status_t  st;

    ep = aigov_endpoint_from_path((const char *) r->uri.data, r->uri.len);
    ctx->req.endpoint = ep;

    if (r->method != NGX_HTTP_POST) {
        /* GET /v1/models and friends carry no body to govern */
        return NGX_DECLINED;
    }

    if (ngx_http_aigov_read_body(r, &body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (body.len == 0) {
        return ngx_http_aigov_deny(ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_json",
                                   "the request has no body; "
                                   "a JSON object is required");
    }

    err[0] = '\0';
    st = aigov_request_parse(&ctx->req, ep, (const char *) body.data,
                             body.len, err, sizeof(err));

    switch (st) {
    case AIGOV_REQ_OK:
        ctx->parsed = 1;
        break;
    case AIGOV_REQ_BAD_JSON:
        return ngx_http_aigov_deny(ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_json", err);
    case AIGOV_REQ_BAD_SHAPE:
        return ngx_http_aigov_deny(ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_request", err);
    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DECLINED;
}


/*
 * The body is one buffer in memory, several buffers, or (spilled) one file
 * buffer; lib/ wants it contiguous.
 */

static ngx_int_t
ngx_http_aigov_read_body(ngx_http_request_t *r, ngx_str_t *body)
{
    off_t         len;
    u_char       *p;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    body->len = 0;
    body->data = NULL;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;
        len += b->in_file ? b->file_last - b->file_pos : b->last - b->pos;
    }

    if (len == 0) {
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            n = ngx_read_file(b->file, p, b->file_last - b->file_pos,
                              b->file_pos);
            if (n != b->file_last - b->file_pos) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "aigov: short read of request body file");
                return NGX_ERROR;
            }

            p += n;
            continue;
        }

        p = ngx_cpymem(p, b->pos, b->last - b->pos);
    }

    body->len = p - body->data;
    *p = '\0';

    return NGX_OK;
}
