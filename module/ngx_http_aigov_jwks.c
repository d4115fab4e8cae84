
/*
 * aigov: the IdP's JWKS, fetched by nginx itself. aigov_jwt_jwks names an
 * internal location that proxies to the IdP's jwks_uri, so nginx's proxy,
 * TLS, resolver and cache do the fetching. A request that finds the keys
 * older than the refresh interval, or that names a kid no key has (at most
 * once per NGX_HTTP_AIGOV_JWKS_MIN_GAP seconds, or per refresh interval if
 * shorter, so made-up kids cannot hammer the IdP), starts a background subrequest; the request itself goes
 * on with the keys there are. A good answer replaces the fetched keys
 * whole; anything else keeps the last good set. Each worker fetches for
 * itself.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_aigov_module.h"


#define NGX_HTTP_AIGOV_JWKS_MIN_GAP  10


static ngx_int_t ngx_http_aigov_jwks_done(ngx_http_request_t *r, void *data,
    ngx_int_t rc);
static void ngx_http_aigov_jwks_skipped(void *data, const char *msg);


void
ngx_http_aigov_jwks_refresh(ngx_http_request_t *r,
    ngx_http_aigov_jwks_t *jw, ngx_uint_t unknown_kid)
{
    time_t                     now;
    ngx_http_request_t        *sr;
    ngx_http_post_subrequest_t  *ps;

    now = ngx_time();

    if (jw->busy) {
        return;
    }

    if (unknown_kid) {
        if (now - jw->last_try < ngx_min(NGX_HTTP_AIGOV_JWKS_MIN_GAP,
                                         jw->refresh))
        {
            return;
        }

    } else if (jw->last_try && now - jw->last_try < jw->refresh) {
        return;
    }

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return;
    }

    ps->handler = ngx_http_aigov_jwks_done;
    ps->data = jw;

    jw->last_try = now;

    if (ngx_http_subrequest(r, &jw->uri, NULL, &sr, ps,
                            NGX_HTTP_SUBREQUEST_IN_MEMORY
                            |NGX_HTTP_SUBREQUEST_BACKGROUND)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "aigov: JWKS fetch from \"%V\" could not start",
                      &jw->uri);
        return;
    }

    /* the caller's headers (its token among them) and body stay with the
     * caller: the IdP gets a plain GET */
    ngx_memzero(&sr->headers_in, sizeof(ngx_http_headers_in_t));

    if (ngx_list_init(&sr->headers_in.headers, r->pool, 1,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return;
    }

    sr->headers_in.content_length_n = -1;
    sr->headers_in.keep_alive_n = -1;
    sr->request_body = NULL;
    sr->header_only = 0;

    jw->busy = 1;
}


static ngx_int_t
ngx_http_aigov_jwks_done(ngx_http_request_t *r, void *data, ngx_int_t rc)
{
    ngx_http_aigov_jwks_t  *jw = data;

    int          rc2;
    char         err[512], change[512];
    size_t       len;
    ngx_buf_t   *b;

    jw->busy = 0;

    b = r->out ? r->out->buf : NULL;

    if (rc != NGX_OK || r->headers_out.status != NGX_HTTP_OK || b == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "aigov: JWKS fetch from \"%V\" failed (status %ui); "
                      "keeping the last good keys",
                      &jw->uri, r->headers_out.status);
        return rc;
    }

    len = b->last - b->pos;
    err[0] = '\0';

    aigov_identity_set_notice(jw->identity, ngx_http_aigov_jwks_skipped,
                              r->connection->log);

    rc2 = aigov_identity_replace_fetched(jw->identity, (const char *) b->pos,
                                         len, (const char *) jw->uri.data,
                                         change, sizeof(change),
                                         err, sizeof(err));

    aigov_identity_set_notice(jw->identity, NULL, NULL);

    if (rc2 != 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "aigov: JWKS from \"%V\" refused: %s; "
                      "keeping the last good keys", &jw->uri, err);
        return rc;
    }

    jw->fetched = ngx_time();

    if (change[0]) {
        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "aigov: JWKS from \"%V\": %s", &jw->uri, change);
    }

    return rc;
}


static void
ngx_http_aigov_jwks_skipped(void *data, const char *msg)
{
    ngx_log_t  *log = data;

    ngx_log_error(NGX_LOG_INFO, log, 0, "aigov: JWKS %s", msg);
}
