
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
 * The reservation is replaced by the tokens the answer reports, or, when
 * it did not report its final usage (a stream cut short, by the upstream
 * or by the client; a provider that ignores stream_options; a block), by
 * the estimate lib/answer makes from the prompt and the text that went
 * through. An answer that was never read costs its reservation when it
 * was served, and nothing when it failed.
 */

static void
ngx_http_aigov_settle(ngx_http_request_t *r, ngx_http_aigov_ctx_t *ctx)
{
    long long                    prompt, completion, actual;
    ngx_uint_t                   status;

    status = r->headers_out.status;

    if (ctx->answer) {
        (void) ngx_http_aigov_answer_tokens(ctx, &prompt, &completion);
        actual = (prompt > 0 ? prompt : 0) + (completion > 0 ? completion : 0);

    } else if (status >= NGX_HTTP_OK && status < NGX_HTTP_SPECIAL_RESPONSE) {
        actual = ctx->ticket.reserved;

    } else {
        actual = 0;
    }

    ngx_http_aigov_quota_settle(r, ctx, actual);

    ctx->quota_held = 0;
}


/* The answer's tokens for the quota and the record: 1 when estimated. */

ngx_uint_t
ngx_http_aigov_answer_tokens(ngx_http_aigov_ctx_t *ctx, long long *prompt,
    long long *completion)
{
    long long  est;

    est = ctx->parsed ? aigov_request_prompt_tokens(&ctx->req) : 0;

    return aigov_answer_tokens(ctx->answer, est, prompt, completion) == 1;
}
