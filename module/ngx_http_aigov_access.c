
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
static ngx_int_t ngx_http_aigov_identify(ngx_http_request_t *r,
    ngx_http_aigov_ctx_t *ctx, ngx_http_aigov_loc_conf_t *alcf);
static ngx_int_t ngx_http_aigov_decide(ngx_http_request_t *r,
    ngx_http_aigov_ctx_t *ctx, ngx_http_aigov_loc_conf_t *alcf);
static ngx_int_t ngx_http_aigov_admit(ngx_http_request_t *r,
    ngx_http_aigov_ctx_t *ctx);
static ngx_int_t ngx_http_aigov_filter_prompt(ngx_http_request_t *r,
    ngx_http_aigov_ctx_t *ctx);
static ngx_int_t ngx_http_aigov_replace_body(ngx_http_request_t *r,
    ngx_http_aigov_ctx_t *ctx);
static void ngx_http_aigov_admitted(ngx_http_request_t *r);
static void ngx_http_aigov_recorded(ngx_http_request_t *r,
    ngx_http_aigov_ctx_t *ctx, ngx_int_t rc);
static ngx_int_t ngx_http_aigov_record_decision(ngx_http_request_t *r,
    ngx_http_aigov_ctx_t *ctx);
static void ngx_http_aigov_release(ngx_http_request_t *r,
    ngx_http_aigov_ctx_t *ctx);
static ngx_int_t ngx_http_aigov_deny(ngx_http_aigov_ctx_t *ctx,
    ngx_uint_t status, const char *code, const char *message);


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
             * where the phase engine expects an answer. ctx->status keeps
             * the refusal: should its sending fail and error_page bring
             * the request back, it is refused again, never served */
            ctx->denied = 0;
            rc = ngx_http_aigov_send_error(r, ctx->status, ctx->err_code,
                                           ctx->err_message,
                                           ctx->retry_after);
            ngx_http_finalize_request(r, rc);
            return NGX_DONE;
        }

        if (ctx->status == NGX_DONE) {
            /*
             * The body was never read whole: nginx ended the request with
             * its own error (413, 400, a client gone mid-body) and
             * error_page brought it back here. Answering NGX_DONE again
             * would leave it waiting for a body handler that never runs,
             * its connection open. The request was not decided and its
             * body is discarded; the operator's error page is its answer.
             */
            ctx->status = NGX_DECLINED;
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "aigov: the body could not be read, "
                          "serving the error page \"%V\"", &r->uri);
            return NGX_DECLINED;
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

    rc = ngx_http_aigov_process(r, ctx);

    if (ngx_http_aigov_quota_wait(r, ctx, &rc) == NGX_AGAIN) {
        /* Redis has not answered the admission yet: its answer resumes
         * the request in ngx_http_aigov_processed */
        return;
    }

    ngx_http_aigov_processed(r, rc);
}


void
ngx_http_aigov_processed(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_http_aigov_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_aigov_module);

    if (rc == NGX_DECLINED || rc == NGX_OK) {
        ctx->status = NGX_DECLINED;

    } else if (ctx->err_code) {
        ctx->status = rc;
        ctx->denied = 1;

    } else {
        ctx->status = rc;
    }

    r->preserve_body = 1;

    if (ngx_http_aigov_record_decision(r, ctx) == NGX_AGAIN) {
        /* held like a thread task until the admission record is written */
        r->main->blocked++;
        r->aio = 1;
        r->write_event_handler = ngx_http_aigov_admitted;
        return;
    }

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


static void
ngx_http_aigov_admitted(ngx_http_request_t *r)
{
    ngx_http_aigov_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_aigov_module);

    if (ctx->audit_wait) {
        /* a write event of the client's: not what we wait for */
        return;
    }

    ctx->audited = !ctx->audit_failed;
    ngx_http_aigov_recorded(r, ctx, ctx->audit_failed ? NGX_ERROR : NGX_OK);

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


/*
 * The decision is on record before anything is served: with audit_fail
 * closed, a request whose record cannot be written is answered 503.
 */

static ngx_int_t
ngx_http_aigov_record_decision(ngx_http_request_t *r, ngx_http_aigov_ctx_t *ctx)
{
    ngx_int_t                    rc;
    ngx_http_aigov_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_aigov_module);

    if (amcf->audit == NULL) {
        return NGX_OK;
    }

    if (ctx->status == NGX_DECLINED) {
        rc = ngx_http_aigov_audit_record(r, ctx, "admit");
        if (rc == NGX_AGAIN) {
            return NGX_AGAIN;
        }

        ctx->audited = (rc == NGX_OK);

    } else if (ctx->err_code) {
        rc = ngx_http_aigov_audit_record(r, ctx, "deny");
        ctx->deny_recorded = 1;

    } else {
        return NGX_OK;
    }

    ngx_http_aigov_recorded(r, ctx, rc);

    return NGX_OK;
}


/* With audit_fail closed, no record means no service. */

static void
ngx_http_aigov_recorded(ngx_http_request_t *r, ngx_http_aigov_ctx_t *ctx,
    ngx_int_t rc)
{
    ngx_http_aigov_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_aigov_module);

    if (rc == NGX_OK || amcf->audit_fail_open) {
        return;
    }

    ctx->deny_recorded = 1;
    ctx->status = ngx_http_aigov_deny(ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                      "audit_unavailable",
                                      "the audit log cannot record this "
                                      "request, so it is not served");
    ctx->denied = 1;

    if (ctx->quota_held) {
        ngx_http_aigov_release(r, ctx);
    }
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
    char                        err[512];
    ngx_int_t                   rc;
    ngx_str_t                   body;
    aigov_endpoint_t            ep;
    aigov_req_status_t          st;
    ngx_http_aigov_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_aigov_module);

    ep = aigov_endpoint_from_path((const char *) r->uri.data, r->uri.len);
    ctx->req.endpoint = ep;

    /* the records name this policy even when the request ends in another
     * location (error_page, internal redirects) */
    ctx->policy = alcf->policy;

    if (r->method == NGX_HTTP_POST) {
        if (ngx_http_aigov_read_body(r, &body) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->body = body;

        if (body.len == 0) {
            return ngx_http_aigov_deny(ctx, NGX_HTTP_BAD_REQUEST,
                                       "invalid_json",
                                       "the request has no body; "
                                       "a JSON object is required");
        }

        /* the body stays in the request's pool, as it is, until the
         * request ends: the parser reads it there instead of copying it */
        err[0] = '\0';
        st = aigov_request_parse_lent(&ctx->req, ep, (const char *) body.data,
                                      body.len, err, sizeof(err));

        switch (st) {
        case AIGOV_REQ_OK:
            ctx->parsed = 1;
            /* the record keeps what the caller asked for, before any cap */
            ctx->asked_max_tokens = ctx->req.max_tokens;
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
    }

    /* GET /v1/models and friends carry no body, but are still governed */

    rc = ngx_http_aigov_identify(r, ctx, alcf);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    if (alcf->policy == NULL) {
        return NGX_DECLINED;
    }

    rc = ngx_http_aigov_decide(r, ctx, alcf);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    rc = ngx_http_aigov_admit(r, ctx);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    rc = ngx_http_aigov_filter_prompt(r, ctx);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    if (ctx->decision->set_max_tokens > 0 && ctx->parsed) {
        if (aigov_request_set_max_tokens(&ctx->req,
                                         ctx->decision->set_max_tokens)
            != 0)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (ctx->req.modified) {
        return ngx_http_aigov_replace_body(r, ctx);
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_aigov_identify(ngx_http_request_t *r, ngx_http_aigov_ctx_t *ctx,
    ngx_http_aigov_loc_conf_t *alcf)
{
    char                msg[256];
    ngx_table_elt_t    *h;
    aigov_id_status_t   st;

    if (alcf->identity == NULL) {
        return NGX_DECLINED;
    }

    h = r->headers_in.authorization;
    msg[0] = '\0';

    st = aigov_identity_verify(alcf->identity,
                               h ? (const char *) h->value.data : NULL,
                               h ? h->value.len : 0,
                               ngx_time(), &ctx->claims, msg, sizeof(msg));

    if (st == AIGOV_ID_OK) {
        return NGX_DECLINED;
    }

    if (st == AIGOV_ID_NOMEM) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "aigov: token refused: %s", msg);

    return ngx_http_aigov_deny(ctx, NGX_HTTP_UNAUTHORIZED,
                               aigov_id_status_code(st), msg);
}


static ngx_int_t
ngx_http_aigov_decide(ngx_http_request_t *r, ngx_http_aigov_ctx_t *ctx,
    ngx_http_aigov_loc_conf_t *alcf)
{
    u_char                *path;
    aigov_policy_input_t   in;

    if (ctx->claims == NULL) {
        /* no aigov_jwt_key here: the policy sees a caller without claims */
        ctx->claims = json_object();
        if (ctx->claims == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    path = ngx_pnalloc(r->pool, r->uri.len + 1);
    if (path == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(path, r->uri.data, r->uri.len);
    path[r->uri.len] = '\0';

    ngx_memzero(&in, sizeof(aigov_policy_input_t));
    in.claims = ctx->claims;
    in.path = (const char *) path;
    in.endpoint = aigov_endpoint_name(ctx->req.endpoint);
    in.model = ctx->req.model;
    in.max_tokens = ctx->req.max_tokens;
    in.prompt_chars = ctx->req.prompt_chars;

    ctx->decision = ngx_pcalloc(r->pool, sizeof(aigov_decision_t));
    if (ctx->decision == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    aigov_policy_decide(alcf->policy, &in, ctx->decision);
    ctx->decided = 1;

    if (ctx->decision->allow) {
        return NGX_DECLINED;
    }

    return ngx_http_aigov_deny(ctx, ctx->decision->status
                                    ? ctx->decision->status
                                    : NGX_HTTP_FORBIDDEN,
                               ctx->decision->code
                                    ? ctx->decision->code : "denied",
                               ctx->decision->message);
}


/* A request admitted but then not served gives its reservation back. */

static void
ngx_http_aigov_release(ngx_http_request_t *r, ngx_http_aigov_ctx_t *ctx)
{
    ngx_http_aigov_quota_settle(r, ctx, 0);

    ctx->quota_held = 0;
}


/*
 * Per-subject quotas, counted in shared memory so that all workers share
 * one count. Tokens are reserved here (prompt estimate plus the answer's
 * cap) and settled from the answer's usage when the request ends.
 */

static ngx_int_t
ngx_http_aigov_admit(ngx_http_request_t *r, ngx_http_aigov_ctx_t *ctx)
{
    int                          rc;
    char                         msg[256];
    long                         retry;
    long long                    reserve, cap;
    aigov_quota_limits_t         lim;
    aigov_policy_limits_t       *pl;

    pl = &ctx->decision->limits;

    if (pl->requests_per_minute <= 0 && pl->tokens_per_minute <= 0
        && pl->tokens_per_day <= 0)
    {
        return NGX_DECLINED;
    }

    ngx_memzero(&lim, sizeof(aigov_quota_limits_t));
    lim.rpm = pl->requests_per_minute;
    lim.tpm = pl->tokens_per_minute;
    lim.tpd = pl->tokens_per_day;

    cap = ctx->req.max_tokens >= 0 ? ctx->req.max_tokens
                                   : ctx->decision->set_max_tokens;
    reserve = (ctx->parsed ? aigov_request_prompt_tokens(&ctx->req) : 0)
              + (cap > 0 ? cap : 0);

    retry = 0;
    msg[0] = '\0';

    rc = ngx_http_aigov_quota_reserve(r, ctx, &lim, reserve, &retry,
                                      msg, sizeof(msg));

    if (rc == NGX_AGAIN) {
        /* Redis decides: ngx_http_aigov_quota_wait, after the filters */
        return NGX_DECLINED;
    }

    if (rc == 0) {
        ctx->quota_held = 1;
        return NGX_DECLINED;
    }

    if (rc < 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->retry_after = retry > 0 ? retry : 1;

    return ngx_http_aigov_deny(ctx, 429, "quota_exceeded", msg);
}


static ngx_int_t
ngx_http_aigov_filter_prompt(ngx_http_request_t *r, ngx_http_aigov_ctx_t *ctx)
{
    int                   rc;
    ngx_uint_t            n;
    aigov_filter_spec_t  *specs;

    n = ctx->decision->nfilters;

    if (n == 0) {
        return NGX_DECLINED;
    }

    specs = ngx_pcalloc(r->pool, n * sizeof(aigov_filter_spec_t));
    if (specs == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    aigov_filter_specs(ctx->decision->filters, n, specs);

    ctx->specs = specs;
    ctx->nspecs = n;

    if (!ctx->parsed) {
        return NGX_DECLINED;
    }

    if (ctx->decision->content == AIGOV_CONTENT_FULL) {
        /* kept as sent, before any redaction */
        ctx->original_texts = ngx_http_aigov_audit_texts(r, ctx);
    }

    rc = aigov_filter_request(specs, n, &ctx->req, &ctx->prompt_outcome);

    if (rc == AIGOV_FILTER_PASS) {
        return NGX_DECLINED;
    }

    if (rc == AIGOV_FILTER_BLOCKED) {
        return ngx_http_aigov_deny(ctx, NGX_HTTP_FORBIDDEN,
                                   ctx->prompt_outcome.block_plugin
                                   ? ctx->prompt_outcome.block_plugin
                                   : "filter",
                                   ctx->prompt_outcome.block_reason
                                   ? ctx->prompt_outcome.block_reason
                                   : "a content filter refused the prompt");
    }

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


/*
 * The upstream gets the redacted or capped body: one new buffer (start ==
 * pos, so a retry to the next upstream rewinds to it), Content-Length to
 * match, the spilled temp file dropped.
 */

static ngx_int_t
ngx_http_aigov_replace_body(ngx_http_request_t *r, ngx_http_aigov_ctx_t *ctx)
{
    char                     *json;
    size_t                    len;
    ngx_buf_t                *b;
    ngx_chain_t              *cl;
    ngx_table_elt_t          *h;
    ngx_http_request_body_t  *rb;

    json = aigov_request_serialize(&ctx->req, &len);
    if (json == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b = ngx_create_temp_buf(r->pool, len ? len : 1);
    if (b == NULL) {
        free(json);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_cpymem(b->pos, json, len);
    free(json);

    b->last_buf = 1;

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cl->buf = b;
    cl->next = NULL;

    rb = r->request_body;
    rb->bufs = cl;
    rb->temp_file = NULL;

    r->headers_in.content_length_n = len;

    h = r->headers_in.content_length;
    if (h) {
        h->value.data = ngx_pnalloc(r->pool, NGX_OFF_T_LEN);
        if (h->value.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->value.len = ngx_sprintf(h->value.data, "%uz", len)
                       - h->value.data;
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

    cl = r->request_body->bufs;

    if (cl->next == NULL && !cl->buf->in_file) {
        /* the usual case: one buffer in memory, used where it is */
        body->data = cl->buf->pos;
        body->len = len;
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

    return NGX_OK;
}
