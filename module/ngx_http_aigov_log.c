
/*
 * aigov: the log phase. The request has ended, whatever way it ended:
 * settle the tokens reserved for it from the answer's usage, and write
 * its completion record.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_aigov_module.h"


static void ngx_http_aigov_settle(ngx_http_request_t *r,
    ngx_http_aigov_ctx_t *ctx);
static void ngx_http_aigov_whole_answer_cut(ngx_http_aigov_ctx_t *ctx);


ngx_int_t
ngx_http_aigov_log_handler(ngx_http_request_t *r)
{
    ngx_http_aigov_ctx_t  *ctx;

    if (r != r->main) {
        return NGX_OK;
    }

    ctx = ngx_http_aigov_get_ctx(r);
    if (ctx == NULL || ctx->logged) {
        return NGX_OK;
    }

    ctx->logged = 1;

    /* what the quota is settled with and the record says, decided once */
    if (ctx->quota_held || ctx->audited) {
        ngx_http_aigov_usage(r, ctx);
    }

    ngx_http_aigov_metrics_request(r, ctx);

    if (ctx->quota_held) {
        ngx_http_aigov_settle(r, ctx);
    }

    /* the admission record was written before proxying; this one says how
     * the request ended. A request refused before it was governed (413 on
     * Content-Length, a client gone mid-body) gets its only record here. */

    if (ctx->audited) {
        (void) ngx_http_aigov_audit_record(r, ctx, "done");

    } else if (!ctx->deny_recorded) {
        if (ctx->err_code == NULL) {
            ctx->err_code = "not_governed";
            ctx->err_message = "the request ended before it was governed";
        }

        ctx->status = r->headers_out.status;
        (void) ngx_http_aigov_audit_record(r, ctx, "deny");
    }

    return NGX_OK;
}


/*
 * The reservation is replaced by the tokens the request is recorded as
 * having used (ngx_http_aigov_usage): the record and the quota agree.
 */

static void
ngx_http_aigov_settle(ngx_http_request_t *r, ngx_http_aigov_ctx_t *ctx)
{
    long long  actual;

    actual = (ctx->usage_prompt > 0 ? ctx->usage_prompt : 0)
             + (ctx->usage_completion > 0 ? ctx->usage_completion : 0);

    ngx_http_aigov_quota_settle(r, ctx, actual);

    ctx->quota_held = 0;
}


/*
 * The tokens a request used, for the quota, the record and the metrics:
 *
 * - the answer was read: its own final usage, or lib/answer's estimate
 *   (the prompt, and the model text that came through: a stream cut by
 *   the upstream or the client, a provider that gave no final usage);
 * - the model API got the whole request and no answer came through (the
 *   client went away before it, the upstream timed out or broke the
 *   connection): estimated, the prompt's estimate and no completion. The
 *   model has read the prompt; free prompts would let a client that hangs
 *   up early send any amount of text past tokens_per_minute;
 * - a successful answer passed unread (compressed): estimated at the
 *   reservation, the prompt's estimate and the answers' cap, since what
 *   it wrote cannot be counted;
 * - the model API never got the request (no connection, the client gone
 *   before it was sent), or answered an error status: nothing ("usage":
 *   null), as providers do not bill failed requests;
 * - Anthropic's count_tokens: nothing, whatever it answered. Its answer's
 *   input_tokens is the count asked for, not a use: the model reads
 *   nothing and the call is free.
 */

void
ngx_http_aigov_usage(ngx_http_request_t *r, ngx_http_aigov_ctx_t *ctx)
{
    long long             est, cap, n;
    ngx_uint_t            status;
    ngx_http_upstream_t  *u;

    ctx->usage_prompt = -1;
    ctx->usage_completion = -1;
    ctx->usage_how = NGX_HTTP_AIGOV_USAGE_NONE;

    if (ctx->req.endpoint == AIGOV_EP_COUNT_TOKENS) {
        return;
    }

    est = ctx->parsed ? aigov_request_prompt_tokens(&ctx->req) : 0;

    if (ctx->answer) {
        ctx->usage_how = aigov_answer_tokens(ctx->answer, est,
                                             &ctx->usage_prompt,
                                             &ctx->usage_completion)
                         == 1 ? NGX_HTTP_AIGOV_USAGE_ESTIMATED
                              : NGX_HTTP_AIGOV_USAGE_REPORTED;

        if (ctx->usage_how == NGX_HTTP_AIGOV_USAGE_ESTIMATED
            && (ctx->req.background
                || (!ctx->req.stream && !aigov_answer_finished(ctx->answer))))
        {
            ngx_http_aigov_whole_answer_cut(ctx);
        }

        return;
    }

    /* request_body_sent: the whole request went out to the upstream
     * (reset when nginx tries another server) */
    u = r->upstream;

    if (u == NULL || !u->request_body_sent) {
        return;
    }

    /* the upstream's own status line; 0 when none came */
    status = u->headers_in.status_n;

    if (status >= NGX_HTTP_SPECIAL_RESPONSE) {
        return;
    }

    ctx->usage_how = NGX_HTTP_AIGOV_USAGE_ESTIMATED;
    ctx->usage_prompt = est;
    ctx->usage_completion = 0;

    if ((u->header_sent && status >= NGX_HTTP_OK) || !ctx->req.stream
        || ctx->req.background)
    {
        ctx->usage_completion = ngx_http_aigov_answers_cap(ctx, &cap, &n);
    }
}


/*
 * A whole (not streamed) answer that did not come through whole: the
 * client hung up, or the upstream timed out or broke off. Unlike a
 * stream, whose generation stops when its connection closes, a model
 * writing a whole answer finishes it and the provider bills it, so
 * settling it from the bytes seen would let a client that hangs up at
 * once use tokens its quota never counts. It is settled at its cap. So
 * is a Responses answer written in the background, streamed or not,
 * when no usage came: it goes on after this request ends.
 */

static void
ngx_http_aigov_whole_answer_cut(ngx_http_aigov_ctx_t *ctx)
{
    long long  cap, n, answers;

    answers = ngx_http_aigov_answers_cap(ctx, &cap, &n);

    if (answers > ctx->usage_completion) {
        ctx->usage_completion = answers;
    }
}
