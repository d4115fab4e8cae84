
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
static ngx_int_t ngx_http_aigov_answer_start(ngx_http_request_t *r,
    ngx_http_aigov_ctx_t *ctx);
static ngx_uint_t ngx_http_aigov_answer_needed(ngx_http_aigov_ctx_t *ctx,
    ngx_http_aigov_main_conf_t *amcf);
static ngx_int_t ngx_http_aigov_answer_filter(ngx_http_request_t *r,
    ngx_http_aigov_ctx_t *ctx, ngx_chain_t *in);
static ngx_int_t ngx_http_aigov_answer_take(ngx_http_request_t *r,
    ngx_http_aigov_ctx_t *ctx, ngx_buf_t *b);
static ngx_int_t ngx_http_aigov_answer_output(ngx_http_request_t *r,
    ngx_http_aigov_ctx_t *ctx, ngx_chain_t ***ll);
static ngx_int_t ngx_http_aigov_hold_timer(ngx_http_request_t *r,
    ngx_http_aigov_ctx_t *ctx);
static void ngx_http_aigov_hold_expired(ngx_event_t *ev);
static void ngx_http_aigov_hold_cleanup(void *data);
static ngx_int_t ngx_http_aigov_answer_header(ngx_http_request_t *r,
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

    /* nginx's own error pages become SPEC error JSON; an operator's
     * error_page is theirs to keep */
    if (r->err_status >= NGX_HTTP_BAD_REQUEST && ctx->error_body.len == 0
        && !r->error_page)
    {
        if (ngx_http_aigov_nginx_error(r, ctx) != NGX_OK) {
            return NGX_ERROR;
        }

        return ngx_http_next_header_filter(r);
    }

    return ngx_http_aigov_answer_start(r, ctx);
}


/* The answer is read only for a response filter, the audit record or a
 * token quota to settle; otherwise it passes untouched. */

static ngx_uint_t
ngx_http_aigov_answer_needed(ngx_http_aigov_ctx_t *ctx,
    ngx_http_aigov_main_conf_t *amcf)
{
    ngx_uint_t  i;

    if (amcf->audit) {
        return 1;
    }

    if (!ctx->decided) {
        return 0;
    }

    if (ctx->quota_held
        && (ctx->decision->limits.tokens_per_minute > 0
            || ctx->decision->limits.tokens_per_day > 0))
    {
        return 1;
    }

    for (i = 0; i < ctx->nspecs; i++) {
        if (ctx->specs[i].stages & AIGOV_STAGE_RESPONSE) {
            return 1;
        }
    }

    return 0;
}


/*
 * Answers of the model API: SSE streams are filtered event by event as
 * they arrive; JSON answers are filtered whole, and when a filter may
 * change them their header waits until the body is complete, so that a
 * block can still answer 403 and Content-Length is right.
 */

/*
 * A compressed answer cannot be read: under a response filter it is
 * refused (its text would reach the client uninspected), without one it
 * passes, its usage unread. The shipped configs ask the upstream for
 * identity encoding, so this is an upstream that ignored them.
 */

static ngx_int_t
ngx_http_aigov_compressed(ngx_http_request_t *r, ngx_http_aigov_ctx_t *ctx)
{
    int         rc;
    u_char      reason[128];
    ngx_str_t  *enc;

    enc = &r->headers_out.content_encoding->value;

    ngx_snprintf(reason, sizeof(reason),
                 "the answer is compressed (Content-Encoding: %*s) "
                 "and cannot be inspected%Z",
                 ngx_min(enc->len, (size_t) 32), enc->data);

    rc = aigov_answer_refuse(ctx->answer, (char *) reason);

    if (rc == -1) {
        return NGX_ERROR;
    }

    if (rc == 1) {
        /* nothing to filter: it passes untouched, not parsed */
        aigov_answer_free(ctx->answer);
        ctx->answer = NULL;

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "aigov: answer is compressed, its usage not read; "
                      "set proxy_set_header Accept-Encoding \"\"");
        return NGX_DECLINED;
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "aigov: answer is compressed, refused; "
                  "set proxy_set_header Accept-Encoding \"\"");

    /* what goes out is our own plain refusal */
    r->headers_out.content_encoding->hash = 0;
    r->headers_out.content_encoding = NULL;

    return NGX_OK;
}


static ngx_int_t
ngx_http_aigov_answer_start(ngx_http_request_t *r, ngx_http_aigov_ctx_t *ctx)
{
    ngx_int_t                    label;
    ngx_str_t                   *ct;
    ngx_http_aigov_loc_conf_t   *alcf;
    ngx_http_aigov_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_aigov_module);

    /* every successful answer with a body is the model's, whatever its
     * 2xx; error statuses pass as they came (SPEC) */
    if (!ngx_http_aigov_answer_needed(ctx, amcf) || ctx->err_code || ctx->answer
        || r->header_only || r->headers_out.status < NGX_HTTP_OK
        || r->headers_out.status >= NGX_HTTP_SPECIAL_RESPONSE
        || r->headers_out.status == NGX_HTTP_NO_CONTENT)
    {
        return ngx_http_next_header_filter(r);
    }

    /* the label is a hint: the answer's kind is decided by its bytes
     * (lib/answer.h), so JSON or SSE labelled otherwise is read too */
    ct = &r->headers_out.content_type;
    label = -1;

    if (ct->len >= sizeof("text/event-stream") - 1
        && ngx_strncasecmp(ct->data, (u_char *) "text/event-stream",
                           sizeof("text/event-stream") - 1) == 0)
    {
        ctx->stream = 1;
        label = 1;

    } else if (ct->len >= sizeof("application/json") - 1
               && ngx_strncasecmp(ct->data, (u_char *) "application/json",
                                  sizeof("application/json") - 1) == 0)
    {
        label = 0;
    }

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_aigov_module);

    ctx->answer = aigov_answer_new(ctx->req.endpoint, (int) label,
                                   ctx->specs, ctx->nspecs, alcf->hold_back);
    if (ctx->answer == NULL) {
        return NGX_ERROR;
    }

    aigov_answer_set_limits(ctx->answer, 0, alcf->max_answer_size);

    if (r->headers_out.content_encoding
        && r->headers_out.content_encoding->value.len
        && !(r->headers_out.content_encoding->value.len == 8
             && ngx_strncasecmp(r->headers_out.content_encoding->value.data,
                                (u_char *) "identity", 8) == 0))
    {
        switch (ngx_http_aigov_compressed(r, ctx)) {
        case NGX_ERROR:
            return NGX_ERROR;
        case NGX_DECLINED:
            return ngx_http_next_header_filter(r);
        }
    }

    /* the client gets the stream it asked for: without the usage chunk
     * the gateway asked for itself */
    aigov_answer_hide_usage(ctx->answer, ctx->usage_added);

    if (ngx_http_aigov_audit_answer_start(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    if (aigov_answer_passthrough(ctx->answer)) {
        return ngx_http_next_header_filter(r);
    }

    ngx_http_clear_content_length(r);
    ngx_http_clear_accept_ranges(r);
    ngx_http_weak_etag(r);

    if (ctx->stream) {
        return ngx_http_next_header_filter(r);
    }

    ctx->header_held = 1;
    r->filter_need_in_memory = 1;

    return NGX_OK;
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

    body = ngx_http_aigov_error_body(r, r->err_status, code,
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

    if (ctx == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    if (ctx->answer && ctx->error_body.len == 0) {
        return ngx_http_aigov_answer_filter(r, ctx, in);
    }

    if (ctx->error_body.len == 0) {
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


static ngx_int_t
ngx_http_aigov_answer_filter(ngx_http_request_t *r, ngx_http_aigov_ctx_t *ctx,
    ngx_chain_t *in)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_uint_t    flush;
    ngx_chain_t  *cl, *out, **ll;

    if (aigov_answer_passthrough(ctx->answer)) {
        /* nothing to change: only read the usage on the way */
        for (cl = in; cl && !ctx->answer_done; cl = cl->next) {
            if (ngx_http_aigov_answer_take(r, ctx, cl->buf) != NGX_OK) {
                return NGX_ERROR;
            }
        }

        return ngx_http_next_body_filter(r, in);
    }

    if (in && ngx_chain_add_copy(r->pool, &ctx->in, in) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = NGX_OK;

    for ( ;; ) {

        /* take input only while the client keeps up: a slow client must
         * not make us hold the whole answer */

        flush = 0;

        while (ctx->in && ctx->unsent < NGX_HTTP_AIGOV_UNSENT_MAX) {
            /* the link goes back to the pool: a long stream brings one
             * per upstream read, and the request's pool lives as long */
            cl = ctx->in;
            b = cl->buf;
            ctx->in = cl->next;
            ngx_free_chain(r->pool, cl);

            if (b->flush) {
                flush = 1;
            }

            if (ngx_http_aigov_answer_take(r, ctx, b) != NGX_OK) {
                return NGX_ERROR;
            }

            if (ctx->header_held && !ctx->answer_done
                && aigov_answer_kind(ctx->answer) == AIGOV_ANSWER_SSE)
            {
                /* a stream under another label: its header goes now, its
                 * events as they are filtered */
                ctx->header_held = 0;
                ctx->stream = 1;
                r->filter_need_in_memory = 0;

                rc = ngx_http_next_header_filter(r);
                if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
                    return rc;
                }
            }
        }

        out = NULL;
        ll = &out;

        /* while the header waits (an answer whose end decides it), its
         * output waits in the answer too */
        if (!(ctx->header_held && !ctx->answer_done)
            && ngx_http_aigov_answer_output(r, ctx, &ll) != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (ctx->answer_done && !ctx->last_sent) {
            if (ctx->header_held) {
                ctx->header_held = 0;

                rc = ngx_http_aigov_answer_header(r, ctx);
                if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
                    return rc;
                }
            }

            b = ngx_calloc_buf(r->pool);
            if (b == NULL) {
                return NGX_ERROR;
            }

            b->last_buf = (r == r->main) ? 1 : 0;
            b->last_in_chain = 1;

            cl = ngx_alloc_chain_link(r->pool);
            if (cl == NULL) {
                return NGX_ERROR;
            }

            cl->buf = b;
            cl->next = NULL;
            *ll = cl;

            ctx->last_sent = 1;
        }

        if (out == NULL && flush && !ctx->header_held && !ctx->last_sent) {
            /* the upstream asked for a flush (an event arrived, or it is
             * closing): pass it on even when all its text is held back, so
             * the header and earlier events reach the client now. The
             * empty buf is never changed below us, so one serves the
             * whole stream; its link comes back through update_chains */
            if (ctx->flush == NULL) {
                ctx->flush = ngx_calloc_buf(r->pool);
                if (ctx->flush == NULL) {
                    return NGX_ERROR;
                }

                ctx->flush->flush = 1;
            }

            cl = ngx_alloc_chain_link(r->pool);
            if (cl == NULL) {
                return NGX_ERROR;
            }

            cl->buf = ctx->flush;
            cl->next = NULL;
            out = cl;
        }

        if (out == NULL && ctx->busy == NULL) {
            break;
        }

        if (out == NULL && ctx->header_held) {
            break;
        }

        rc = ngx_http_next_body_filter(r, out);

        ngx_chain_update_chains(r->pool, &ctx->free, &ctx->busy, &out,
                                (ngx_buf_tag_t) &ngx_http_aigov_module);

        ctx->unsent = 0;
        for (cl = ctx->busy; cl; cl = cl->next) {
            ctx->unsent += cl->buf->last - cl->buf->pos;
        }

        if (rc == NGX_ERROR || ctx->in == NULL
            || ctx->unsent >= NGX_HTTP_AIGOV_UNSENT_MAX)
        {
            break;
        }
    }

    if (ctx->in || ctx->busy) {
        r->buffered |= NGX_HTTP_AIGOV_BUFFERED;

    } else {
        r->buffered &= ~NGX_HTTP_AIGOV_BUFFERED;
    }

    if (rc != NGX_ERROR && ngx_http_aigov_hold_timer(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    return rc;
}


/*
 * aigov_stream_hold_time: text that has waited that long for the filters
 * goes to the client without them; the filters keep reading and may still
 * block, and the completion record says what left early.
 */

static ngx_int_t
ngx_http_aigov_hold_timer(ngx_http_request_t *r, ngx_http_aigov_ctx_t *ctx)
{
    ngx_event_t                *ev;
    ngx_pool_cleanup_t         *cln;
    ngx_http_aigov_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_aigov_module);

    if (alcf->hold_time == 0 || !ctx->stream || ctx->answer_done
        || !aigov_answer_holding(ctx->answer))
    {
        if (ctx->hold_ev && ctx->hold_ev->timer_set) {
            ngx_del_timer(ctx->hold_ev);
        }

        return NGX_OK;
    }

    if (ctx->hold_ev == NULL) {
        ev = ngx_pcalloc(r->pool, sizeof(ngx_event_t));
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (ev == NULL || cln == NULL) {
            return NGX_ERROR;
        }

        ev->handler = ngx_http_aigov_hold_expired;
        ev->data = r;
        ev->log = r->connection->log;
        cln->handler = ngx_http_aigov_hold_cleanup;
        cln->data = ev;
        ctx->hold_ev = ev;
    }

    /* timed from when text began to wait, not from the newest event */
    if (!ctx->hold_ev->timer_set) {
        ngx_add_timer(ctx->hold_ev, alcf->hold_time);
    }

    return NGX_OK;
}


static void
ngx_http_aigov_hold_expired(ngx_event_t *ev)
{
    ngx_int_t                  rc;
    ngx_connection_t          *c;
    ngx_http_request_t        *r;
    ngx_http_aigov_ctx_t      *ctx;

    r = ev->data;
    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_aigov_module);

    if (ctx == NULL || ctx->answer == NULL || ctx->answer_done) {
        return;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "aigov: held text released by aigov_stream_hold_time");

    rc = NGX_ERROR;

    if (aigov_answer_release_held(ctx->answer) == 0) {
        rc = ngx_http_aigov_answer_filter(r, ctx, NULL);
    }

    if (rc == NGX_ERROR || ngx_handle_write_event(c->write, 0) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_ERROR);
    }

    ngx_http_run_posted_requests(c);
}


static void
ngx_http_aigov_hold_cleanup(void *data)
{
    ngx_event_t  *ev = data;

    if (ev->timer_set) {
        ngx_del_timer(ev);
    }
}


/* Feeds one input buffer to the answer and marks it consumed. */

static ngx_int_t
ngx_http_aigov_answer_take(ngx_http_request_t *r, ngx_http_aigov_ctx_t *ctx,
    ngx_buf_t *b)
{
    u_char   *p;
    ssize_t   n;
    off_t     size;

    if (ctx->answer_done) {
        return NGX_OK;
    }

    if (ngx_buf_in_memory(b)) {
        if (b->last > b->pos
            && aigov_answer_feed(ctx->answer, (const char *) b->pos,
                                 b->last - b->pos)
               != 0)
        {
            return NGX_ERROR;
        }

        if (aigov_answer_passthrough(ctx->answer)) {
            ngx_http_aigov_audit_answer(ctx, b->pos, b->last - b->pos);
        }

    } else if (b->in_file && b->file_last > b->file_pos) {
        /* proxy_buffering on may leave parts of the answer in a temp file */
        size = b->file_last - b->file_pos;

        p = ngx_alloc(size, r->connection->log);
        if (p == NULL) {
            return NGX_ERROR;
        }

        n = ngx_read_file(b->file, p, size, b->file_pos);
        if (n != size
            || aigov_answer_feed(ctx->answer, (const char *) p, size) != 0)
        {
            ngx_free(p);
            return NGX_ERROR;
        }

        ngx_free(p);
    }

    if (!aigov_answer_passthrough(ctx->answer)) {
        b->pos = b->last;
        b->file_pos = b->file_last;
    }

    if (b->last_buf || b->last_in_chain) {
        if (aigov_answer_finish(ctx->answer) != 0) {
            return NGX_ERROR;
        }

        ctx->answer_done = 1;
    }

    return NGX_OK;
}


/* Copies what the answer has ready into our own reusable buffers. */

static ngx_int_t
ngx_http_aigov_answer_output(ngx_http_request_t *r, ngx_http_aigov_ctx_t *ctx,
    ngx_chain_t ***ll)
{
    size_t        len, n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;
    const char   *data;

    for ( ;; ) {
        data = aigov_answer_output(ctx->answer, &len);
        if (data == NULL || len == 0) {
            return NGX_OK;
        }

        if (ctx->free) {
            cl = ctx->free;
            ctx->free = cl->next;
            cl->next = NULL;
            b = cl->buf;

        } else {
            cl = ngx_alloc_chain_link(r->pool);
            if (cl == NULL) {
                return NGX_ERROR;
            }

            b = ngx_create_temp_buf(r->pool, ctx->stream
                                             ? NGX_HTTP_AIGOV_STREAM_OUT_SIZE
                                             : NGX_HTTP_AIGOV_OUT_SIZE);
            if (b == NULL) {
                return NGX_ERROR;
            }

            b->tag = (ngx_buf_tag_t) &ngx_http_aigov_module;
            cl->buf = b;
            cl->next = NULL;
        }

        n = ngx_min(len, (size_t) (b->end - b->start));

        b->pos = b->start;
        b->last = ngx_cpymem(b->start, data, n);
        b->flush = ctx->stream;

        aigov_answer_consume(ctx->answer, n);
        ctx->answer_bytes += n;
        ngx_http_aigov_audit_answer(ctx, b->pos, n);

        **ll = cl;
        *ll = &cl->next;
    }
}


/* The held header of a JSON answer, now that its final form is known. */

static ngx_int_t
ngx_http_aigov_answer_header(ngx_http_request_t *r, ngx_http_aigov_ctx_t *ctx)
{
    if (aigov_answer_blocked(ctx->answer)) {
        r->headers_out.status = NGX_HTTP_FORBIDDEN;
        r->headers_out.status_line.len = 0;
        ngx_str_set(&r->headers_out.content_type, "application/json");
        r->headers_out.content_type_len = r->headers_out.content_type.len;
        r->headers_out.content_type_lowcase = NULL;
    }

    r->headers_out.content_length_n = ctx->answer_bytes;

    return ngx_http_next_header_filter(r);
}
