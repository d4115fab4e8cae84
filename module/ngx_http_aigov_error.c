
/*
 * aigov: error answers in the shape the caller's SDK parses (SPEC.md), both
 * for our own refusals and for the error pages nginx itself would send:
 * OpenAI's {"error":{...}} in general, Anthropic's {"type":"error",...} on
 * Anthropic's endpoints, so that each SDK raises its own exception.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_aigov_module.h"


static const char *ngx_http_aigov_error_type(ngx_uint_t status);
static const char *ngx_http_aigov_error_anthropic_type(ngx_uint_t status);
static ngx_uint_t ngx_http_aigov_error_anthropic(ngx_http_request_t *r,
    ngx_http_aigov_ctx_t *ctx);
static ngx_str_t *ngx_http_aigov_error_anthropic_json(ngx_pool_t *pool,
    ngx_uint_t status, const char *code, const char *message, u_char *id);


static const char *
ngx_http_aigov_error_type(ngx_uint_t status)
{
    switch (status) {
    case NGX_HTTP_UNAUTHORIZED:
        return "authentication_error";
    case NGX_HTTP_FORBIDDEN:
        return "policy_violation";
    case 429:
        return "rate_limit_exceeded";
    case NGX_HTTP_SERVICE_UNAVAILABLE:
        return "audit_unavailable";
    default:
        return status >= 500 ? "server_error" : "invalid_request_error";
    }
}


/*
 * Anthropic's error types (its API reference and the SDK's ErrorType):
 * the SDK picks its exception class by status, the type says the rest.
 * 503 (the audit log cannot record) is an internal failure, not load, so
 * api_error rather than overloaded_error, which means "retry later".
 */

static const char *
ngx_http_aigov_error_anthropic_type(ngx_uint_t status)
{
    switch (status) {
    case NGX_HTTP_UNAUTHORIZED:
        return "authentication_error";
    case NGX_HTTP_FORBIDDEN:
        return "permission_error";
    case NGX_HTTP_NOT_FOUND:
        return "not_found_error";
    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        return "request_too_large";
    case 429:
        return "rate_limit_error";
    case NGX_HTTP_GATEWAY_TIME_OUT:
        return "timeout_error";
    case 529:
        return "overloaded_error";
    default:
        return status >= 500 ? "api_error" : "invalid_request_error";
    }
}


/* Anthropic's endpoints: known from the request when it was read, else
 * (refused before the access phase, e.g. 413) from its path. */

static ngx_uint_t
ngx_http_aigov_error_anthropic(ngx_http_request_t *r,
    ngx_http_aigov_ctx_t *ctx)
{
    aigov_endpoint_t  ep;

    ep = ctx ? ctx->req.endpoint : AIGOV_EP_UNKNOWN;

    if (ep == AIGOV_EP_UNKNOWN) {
        ep = aigov_endpoint_from_path((const char *) r->uri.data, r->uri.len);
    }

    return ep == AIGOV_EP_MESSAGES || ep == AIGOV_EP_COUNT_TOKENS;
}


/*
 * {"type":"error","error":{"type":..,"message":..,"details":{"error_code":
 * <our code>}},"request_id":<X-AIGov-Request-Id>}: the SDK shows
 * details.error_code and request_id in its message and keeps them as
 * errorCode and requestID.
 */

static ngx_str_t *
ngx_http_aigov_error_anthropic_json(ngx_pool_t *pool, ngx_uint_t status,
    const char *code, const char *message, u_char *id)
{
    size_t      mlen, clen, ilen;
    u_char     *p;
    ngx_str_t  *out;
    const char *type;

    type = ngx_http_aigov_error_anthropic_type(status);
    mlen = ngx_strlen(message);
    clen = ngx_strlen(code);
    ilen = id ? ngx_strlen(id) : 0;

    out = ngx_palloc(pool, sizeof(ngx_str_t));
    if (out == NULL) {
        return NULL;
    }

    out->len = sizeof("{\"type\":\"error\",\"error\":{\"type\":\"\","
                      "\"message\":\"\",\"details\":{\"error_code\":"
                      "\"\"}},\"request_id\":\"\"}\n") - 1
               + ngx_strlen(type)
               + mlen + ngx_escape_json(NULL, (u_char *) message, mlen)
               + clen + ngx_escape_json(NULL, (u_char *) code, clen)
               + ilen + ngx_escape_json(NULL, id, ilen);

    out->data = ngx_pnalloc(pool, out->len);
    if (out->data == NULL) {
        return NULL;
    }

    p = ngx_sprintf(out->data,
                    "{\"type\":\"error\",\"error\":{\"type\":\"%s\","
                    "\"message\":\"", type);
    p = (u_char *) ngx_escape_json(p, (u_char *) message, mlen);
    p = ngx_cpymem(p, "\",\"details\":{\"error_code\":\"",
                   sizeof("\",\"details\":{\"error_code\":\"") - 1);
    p = (u_char *) ngx_escape_json(p, (u_char *) code, clen);
    p = ngx_cpymem(p, "\"}},\"request_id\":",
                   sizeof("\"}},\"request_id\":") - 1);

    if (id) {
        *p++ = '"';
        p = (u_char *) ngx_escape_json(p, id, ilen);
        *p++ = '"';

    } else {
        p = ngx_cpymem(p, "null", 4);
    }

    p = ngx_cpymem(p, "}\n", 2);

    out->len = p - out->data;

    return out;
}


/* The refusal in the caller's API's own shape. */

ngx_str_t *
ngx_http_aigov_error_body(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message)
{
    ngx_http_aigov_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_aigov_module);

    if (ngx_http_aigov_error_anthropic(r, ctx)) {
        return ngx_http_aigov_error_anthropic_json(r->pool, status, code,
                                                   message,
                                                   ctx ? ctx->id : NULL);
    }

    return ngx_http_aigov_error_json(r->pool, status, code, message);
}


ngx_str_t *
ngx_http_aigov_error_json(ngx_pool_t *pool, ngx_uint_t status,
    const char *code, const char *message)
{
    size_t      mlen, clen;
    u_char     *p;
    ngx_str_t  *out;
    const char *type;

    type = ngx_http_aigov_error_type(status);
    mlen = ngx_strlen(message);
    clen = ngx_strlen(code);

    out = ngx_palloc(pool, sizeof(ngx_str_t));
    if (out == NULL) {
        return NULL;
    }

    out->len = sizeof("{\"error\":{\"message\":\"\",\"type\":\"\","
                      "\"code\":\"\",\"param\":null}}\n") - 1
               + mlen + ngx_escape_json(NULL, (u_char *) message, mlen)
               + ngx_strlen(type)
               + clen + ngx_escape_json(NULL, (u_char *) code, clen);

    out->data = ngx_pnalloc(pool, out->len);
    if (out->data == NULL) {
        return NULL;
    }

    p = ngx_cpymem(out->data, "{\"error\":{\"message\":\"",
                   sizeof("{\"error\":{\"message\":\"") - 1);
    p = (u_char *) ngx_escape_json(p, (u_char *) message, mlen);
    p = ngx_sprintf(p, "\",\"type\":\"%s\",\"code\":\"", type);
    p = (u_char *) ngx_escape_json(p, (u_char *) code, clen);
    p = ngx_cpymem(p, "\",\"param\":null}}\n",
                   sizeof("\",\"param\":null}}\n") - 1);

    out->len = p - out->data;

    return out;
}


ngx_int_t
ngx_http_aigov_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message, time_t retry_after)
{
    ngx_int_t         rc;
    ngx_buf_t        *b;
    ngx_str_t        *body;
    ngx_chain_t       out;
    ngx_table_elt_t  *h;

    body = ngx_http_aigov_error_body(r, status, code, message);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = status;
    r->headers_out.content_length_n = body->len;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    if (retry_after > 0) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Retry-After");
        h->value.data = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
        if (h->value.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->value.len = ngx_sprintf(h->value.data, "%T", retry_after)
                       - h->value.data;
    }

    if (status == NGX_HTTP_UNAUTHORIZED) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "WWW-Authenticate");
        ngx_str_set(&h->value, "Bearer");
    }

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = body->data;
    b->last = body->data + body->len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
