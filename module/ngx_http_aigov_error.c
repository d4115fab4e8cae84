
/*
 * aigov: error answers in the shape OpenAI SDKs parse (SPEC.md), both for
 * our own refusals and for the error pages nginx itself would send.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_aigov_module.h"


static const char *ngx_http_aigov_error_type(ngx_uint_t status);


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

    body = ngx_http_aigov_error_json(r->pool, status, code, message);
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
