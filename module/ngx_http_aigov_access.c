
/*
 * aigov: the access phase. Checks the path and the caller, reads the whole
 * request body where its shape is one the gateway inspects, hands it to
 * lib/request and decides whether the request goes on to proxy_pass. A body
 * the gateway does not inspect is not read here at all: it stays nginx's,
 * as if aigov were off.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_aigov_module.h"

#include <sys/mman.h>


typedef struct {
    u_char  *addr;
    size_t   size;
} ngx_http_aigov_map_t;


/*
 * A body that nginx did not keep in one buffer (a temporary file, chunked
 * pieces) is copied into a buffer the worker keeps between requests, up
 * to aigov_body_keep in all. Pages already faulted in cost nothing to
 * fill again; a fresh page, or a page of the file mapped anew, costs a
 * fault each, and on a virtual machine that is more than the copy.
 */

typedef struct ngx_http_aigov_kept_s  ngx_http_aigov_kept_t;

struct ngx_http_aigov_kept_s {
    u_char                 *data;
    size_t                  size;
    ngx_uint_t              busy;
    ngx_http_aigov_kept_t  *next;
};

/* smaller bodies come from the pool: glibc serves them from its heap,
 * which stays mapped */
#define NGX_HTTP_AIGOV_KEPT_MIN   (128 * 1024)
#define NGX_HTTP_AIGOV_KEPT_UNIT  (256 * 1024)

static ngx_http_aigov_kept_t  *ngx_http_aigov_kept;
static size_t                  ngx_http_aigov_kept_size;

static void ngx_http_aigov_body_handler(ngx_http_request_t *r);
static u_char *ngx_http_aigov_kept_get(ngx_http_request_t *r, size_t need,
    ngx_uint_t *fresh);
static void ngx_http_aigov_kept_release(void *data);
static ngx_int_t ngx_http_aigov_start(ngx_http_request_t *r,
    ngx_http_aigov_ctx_t *ctx, ngx_http_aigov_loc_conf_t *alcf);
static ngx_uint_t ngx_http_aigov_ambiguous_path(ngx_http_request_t *r);
static const char *ngx_http_aigov_shape(ngx_http_request_t *r,
    aigov_endpoint_t ep, ngx_uint_t *read);
static ngx_uint_t ngx_http_aigov_json_label(ngx_http_request_t *r);
static ngx_int_t ngx_http_aigov_ask_usage(ngx_http_request_t *r,
    ngx_http_aigov_ctx_t *ctx);
static ngx_int_t ngx_http_aigov_process(ngx_http_request_t *r,
    ngx_http_aigov_ctx_t *ctx);
static ngx_int_t ngx_http_aigov_read_body(ngx_http_request_t *r,
    ngx_str_t *body);
static ngx_int_t ngx_http_aigov_body_in_place(ngx_http_request_t *r,
    off_t len);
static ngx_int_t ngx_http_aigov_body_map(ngx_http_request_t *r,
    ngx_buf_t *b, ngx_str_t *body);
static void ngx_http_aigov_body_unmap(void *data);
static ngx_int_t ngx_http_aigov_identify(ngx_http_request_t *r,
    ngx_http_aigov_ctx_t *ctx, ngx_http_aigov_loc_conf_t *alcf);
static ngx_int_t ngx_http_aigov_credential(ngx_http_request_t *r,
    ngx_str_t *value);
static ngx_int_t ngx_http_aigov_decide(ngx_http_request_t *r,
    ngx_http_aigov_ctx_t *ctx, ngx_http_aigov_loc_conf_t *alcf);
static ngx_int_t ngx_http_aigov_admit(ngx_http_request_t *r,
    ngx_http_aigov_ctx_t *ctx);
static ngx_int_t ngx_http_aigov_filter_prompt(ngx_http_request_t *r,
    ngx_http_aigov_ctx_t *ctx);
static void ngx_http_aigov_not_inspected(aigov_filter_outcome_t *out);
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

    ctx->start_rc = ngx_http_aigov_start(r, ctx, alcf);

    if (ctx->start_rc != NGX_DECLINED || !ctx->read_body) {
        /* decided without the body, which (if any) stays nginx's: taken
         * and handed back like a body read at once */
        r->main->count++;
        ngx_http_aigov_body_handler(r);
        ngx_http_finalize_request(r, NGX_DONE);
        return NGX_DONE;
    }

    /* the operator's client_body_* directives (buffer, file only) stand:
     * read_body takes the body in whatever form nginx keeps it. A body
     * that fits the buffer gets room for the part read with the headers,
     * so that read_body can make it one buffer without a copy */

    r->request_body_in_single_buf = 1;

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

    if (ctx->read_body) {
        r->preserve_body = 1;

    } else if (ctx->err_code) {
        /* refused without reading: the unread body must not be taken for
         * the next request on the connection */
        (void) ngx_http_discard_request_body(r);
    }

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


/*
 * Before the body: a path with two readings is refused, the caller is
 * identified, and the request's shape says whether the body is read.
 */

static ngx_int_t
ngx_http_aigov_start(ngx_http_request_t *r, ngx_http_aigov_ctx_t *ctx,
    ngx_http_aigov_loc_conf_t *alcf)
{
    ngx_uint_t        read;
    aigov_endpoint_t  ep;

    ep = aigov_endpoint_from_path((const char *) r->uri.data, r->uri.len);
    ctx->req.endpoint = ep;

    /* the records name this policy even when the request ends in another
     * location (error_page, internal redirects) */
    ctx->policy = alcf->policy;

    if (ngx_http_aigov_ambiguous_path(r)) {
        return ngx_http_aigov_deny(ctx, NGX_HTTP_BAD_REQUEST,
                                   "ambiguous_path",
                                   "the path is not in its plain form "
                                   "(percent-escapes, dot segments, double "
                                   "slashes or a fragment): the gateway and "
                                   "the model API could read it differently; "
                                   "send the plain path");
    }

    read = 0;
    ctx->uninspectable = ngx_http_aigov_shape(r, ep, &read);
    ctx->read_body = read;

    return ngx_http_aigov_identify(r, ctx, alcf);
}


/*
 * The policy and the audit see r->uri, nginx's normalized path; proxy_pass
 * forwards the path as received while it is still valid. Where the two
 * can be read apart, "/v1/chat%2Fcompletions", "/v1/%63hat/completions" or
 * "/v1/x/../chat/completions", the request would be decided as one
 * endpoint and served as another. An escape of a byte that cannot stand
 * as it is in a path (a space, a non-ASCII byte, "%") has one spelling
 * only: a WebDAV file name "/my%20file" or "/%C3%A9t%C3%A9" is plain.
 */

static ngx_uint_t
ngx_http_aigov_ambiguous_path(ngx_http_request_t *r)
{
    u_char     *p, *end, *u, *uend, c;
    ngx_int_t   hi, lo;

    if (!r->valid_unparsed_uri) {
        /* rewritten or redirected: the upstream gets r->uri escaped, the
         * same path the policy sees */
        return 0;
    }

    p = r->unparsed_uri.data;
    end = ngx_strlchr(p, p + r->unparsed_uri.len, '?');
    if (end == NULL) {
        end = p + r->unparsed_uri.len;
    }

    u = r->uri.data;
    uend = u + r->uri.len;

    while (p < end) {
        c = *p++;

        if (c == '%') {
            if (end - p < 2) {
                return 1;
            }

            hi = ngx_hextoi(p, 1);
            lo = ngx_hextoi(p + 1, 1);
            if (hi == NGX_ERROR || lo == NGX_ERROR) {
                return 1;
            }

            p += 2;
            c = (u_char) (hi * 16 + lo);

            /* a character that may stand as it is, or "/": two spellings
             * that upstreams read differently */
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                || (c >= '0' && c <= '9') || c == '-' || c == '.'
                || c == '_' || c == '~' || c == '/')
            {
                return 1;
            }
        }

        /* dot segments, merged slashes and a fragment show here */
        if (u == uend || *u++ != c) {
            return 1;
        }
    }

    return u != uend;
}


/*
 * Which requests the gateway can read: a POST of JSON to an endpoint kind
 * whose body it parses, and GET (or HEAD) /v1/models without a body. For
 * anything else the reason it cannot, for the caller's message; NULL when
 * it can. *read says whether the body is to be read.
 */

static const char *
ngx_http_aigov_shape(ngx_http_request_t *r, aigov_endpoint_t ep,
    ngx_uint_t *read)
{
    u_char      *p, *last, c;
    ngx_uint_t   i, body;
    ngx_str_t   *ct;

    body = r->headers_in.content_length_n > 0 || r->headers_in.chunked;

    switch (ep) {

    case AIGOV_EP_CHAT:
    case AIGOV_EP_COMPLETIONS:
    case AIGOV_EP_EMBEDDINGS:
    case AIGOV_EP_MESSAGES:
    case AIGOV_EP_RESPONSES:
    case AIGOV_EP_COUNT_TOKENS:
        if (r->method != NGX_HTTP_POST) {
            p = ngx_pnalloc(r->pool, r->method_name.len + 48);
            if (p == NULL) {
                return "a request of another method than POST";
            }

            *ngx_sprintf(p, "a %V request; this endpoint takes POST",
                         &r->method_name) = '\0';
            return (const char *) p;
        }

        if (body && !ngx_http_aigov_json_label(r)) {
            /* the media type as the caller labelled it, cut and made
             * plain for the message */
            ct = &r->headers_in.content_type->value;

            p = ngx_pnalloc(r->pool, 64 + sizeof("a  body"));
            if (p == NULL) {
                return "a body that is not JSON";
            }

            last = ngx_cpymem(p, "a ", 2);

            for (i = 0; i < ct->len && i < 64; i++) {
                c = ct->data[i];
                if (c == ';' || c == ' ' || c == '\t') {
                    break;
                }

                *last++ = (c > 0x20 && c < 0x7f && c != '"' && c != '\\')
                          ? c : '?';
            }

            *ngx_cpymem(last, " body", 5) = '\0';
            return (const char *) p;
        }

        *read = 1;
        return NULL;

    case AIGOV_EP_MODELS:
        if (body) {
            return "a body sent to the models endpoint";
        }

        if (r->method != NGX_HTTP_GET && r->method != NGX_HTTP_HEAD) {
            return "a request to the models endpoint other than GET";
        }

        return NULL;

    default:
        return "an endpoint the gateway does not know";
    }
}


/*
 * A body labelled JSON, or not labelled, is read as JSON; so are the
 * labels clients put on JSON by mistake (curl -d sends form-urlencoded,
 * fetch with a string body text/plain): if it is not JSON the request is
 * refused 400 as before. Multipart, octet-stream, audio and the like
 * are not JSON by their own account.
 */

static ngx_uint_t
ngx_http_aigov_json_label(ngx_http_request_t *r)
{
    u_char     *p, *end;
    size_t      len;
    ngx_str_t  *v;

    if (r->headers_in.content_type == NULL) {
        return 1;
    }

    v = &r->headers_in.content_type->value;
    p = v->data;
    end = v->data + v->len;

    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }

    len = 0;
    while (p + len < end && p[len] != ';' && p[len] != ' '
           && p[len] != '\t')
    {
        len++;
    }

    if (len == 0) {
        return 1;
    }

    if ((len == sizeof("application/json") - 1
         && ngx_strncasecmp(p, (u_char *) "application/json", len) == 0)
        || (len == sizeof("text/plain") - 1
            && ngx_strncasecmp(p, (u_char *) "text/plain", len) == 0)
        || (len == sizeof("application/x-www-form-urlencoded") - 1
            && ngx_strncasecmp(p,
                               (u_char *) "application/x-www-form-urlencoded",
                               len) == 0))
    {
        return 1;
    }

    return len > 5 && ngx_strncasecmp(p + len - 5, (u_char *) "+json", 5) == 0;
}


static ngx_int_t
ngx_http_aigov_process(ngx_http_request_t *r, ngx_http_aigov_ctx_t *ctx)
{
    char                        err[512];
    ngx_int_t                   rc;
    ngx_str_t                   body;
    aigov_req_status_t          st;
    ngx_http_aigov_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_aigov_module);

    if (ctx->start_rc != NGX_DECLINED) {
        /* refused before the body: a path, a token */
        return ctx->start_rc;
    }

    if (ctx->read_body) {
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
        st = aigov_request_parse_lent(&ctx->req, ctx->req.endpoint,
                                      (const char *) body.data, body.len,
                                      err, sizeof(err));

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

        /* the record says what the upstream was sent, and that the
         * gateway set it (embeddings take no limit: nothing was set) */
        if (ctx->req.max_tokens >= 0) {
            ctx->asked_max_tokens = ctx->req.max_tokens;
            ctx->max_tokens_injected = 1;
        }
    }

    if (ngx_http_aigov_ask_usage(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->req.modified) {
        return ngx_http_aigov_replace_body(r, ctx);
    }

    return NGX_DECLINED;
}


/*
 * A streamed answer carries usage only when asked (OpenAI's
 * stream_options.include_usage). Where quotas settle from it or the audit
 * records it, the gateway asks; the answer filter hides the usage chunk
 * from a client that did not ask (ctx->usage_added).
 */

static ngx_int_t
ngx_http_aigov_ask_usage(ngx_http_request_t *r, ngx_http_aigov_ctx_t *ctx)
{
    aigov_policy_limits_t       *pl;
    ngx_http_aigov_main_conf_t  *amcf;

    if (!ctx->parsed || !ctx->req.stream
        || (ctx->req.endpoint != AIGOV_EP_CHAT
            && ctx->req.endpoint != AIGOV_EP_COMPLETIONS))
    {
        return NGX_OK;
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_http_aigov_module);
    pl = &ctx->decision->limits;

    if (amcf->audit == NULL && pl->tokens_per_minute <= 0
        && pl->tokens_per_day <= 0)
    {
        return NGX_OK;
    }

    if (aigov_request_ask_usage(&ctx->req) == 1) {
        ctx->usage_added = 1;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_aigov_identify(ngx_http_request_t *r, ngx_http_aigov_ctx_t *ctx,
    ngx_http_aigov_loc_conf_t *alcf)
{
    char                msg[256];
    ngx_int_t           rc;
    ngx_str_t           cred;
    aigov_id_status_t   st;

    if (alcf->identity == NULL) {
        return NGX_DECLINED;
    }

    rc = ngx_http_aigov_credential(r, &cred);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_aigov_deny(ctx, NGX_HTTP_UNAUTHORIZED,
                                   "ambiguous_credentials",
                                   "more than one x-api-key header");
    }

    if (alcf->jwks) {
        ngx_http_aigov_jwks_refresh(r, alcf->jwks, 0);
    }

    msg[0] = '\0';

    st = aigov_identity_verify(alcf->identity,
                               cred.data ? (const char *) cred.data : NULL,
                               cred.len,
                               ngx_time(), &ctx->claims, msg, sizeof(msg));

    if (st == AIGOV_ID_MISSING && cred.data == NULL) {
        ngx_cpystrn((u_char *) msg,
                    (u_char *) "no Authorization or x-api-key header",
                    sizeof(msg));
    }

    if (st == AIGOV_ID_OK) {
        /* callers without a subject would share one quota and one name */
        st = aigov_identity_check_subject(ctx->claims,
                                          alcf->policy
                                          ? aigov_policy_subject_claim(
                                                alcf->policy)
                                          : NULL,
                                          msg, sizeof(msg));
        if (st == AIGOV_ID_OK) {
            return NGX_DECLINED;
        }
    }

    if (st == AIGOV_ID_NOMEM) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (st == AIGOV_ID_UNKNOWN_KID && alcf->jwks) {
        /* the IdP may have rotated its keys: fetch, for the next token */
        ngx_http_aigov_jwks_refresh(r, alcf->jwks, 1);
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "aigov: token refused: %s", msg);

    return ngx_http_aigov_deny(ctx, NGX_HTTP_UNAUTHORIZED,
                               aigov_id_status_code(st), msg);
}


/*
 * The token: "Authorization: Bearer" as OpenAI's SDKs send it, or
 * Anthropic's "x-api-key" (the bare token). When both come, Authorization
 * is the credential and x-api-key is not read: it is the header every
 * endpoint and SPEC.md name, and nginx already refuses a duplicated one;
 * one credential decides, so the identity the policy judged is the one the
 * record names. Several x-api-key headers are refused (NGX_DECLINED): which
 * one a later hop reads is anyone's guess. value->data is NULL when
 * neither header came.
 */

static ngx_int_t
ngx_http_aigov_credential(ngx_http_request_t *r, ngx_str_t *value)
{
    u_char           *p;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *key;

    ngx_str_null(value);

    if (r->headers_in.authorization) {
        *value = r->headers_in.authorization->value;
        return NGX_OK;
    }

    key = NULL;
    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == sizeof("x-api-key") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "x-api-key",
                               sizeof("x-api-key") - 1) == 0)
        {
            if (key) {
                return NGX_DECLINED;
            }

            key = &h[i];
        }
    }

    if (key == NULL) {
        return NGX_OK;
    }

    /* lib/identity reads an Authorization value */
    p = ngx_pnalloc(r->pool, sizeof("Bearer ") - 1 + key->value.len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    value->data = p;
    value->len = ngx_cpymem(ngx_cpymem(p, "Bearer ", sizeof("Bearer ") - 1),
                            key->value.data, key->value.len)
                 - p;

    return NGX_OK;
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
    in.n = ctx->req.n;
    in.uninspectable = ctx->uninspectable;

    /* Text the model reads that no filter can (token ids, a text file that
     * does not decode): the policy refuses it where request filters apply,
     * and the record keeps it ("unread") so that a replay decides alike */
    in.unread = ctx->parsed ? ctx->req.unread : NULL;

    /* an answer written in the background is fetched later, by a request
     * no answer filter reads: refused where answer filters apply */
    in.answer_later = ctx->parsed && ctx->req.background && !ctx->req.stream;

    /* images, audio and files no filter reads: a rule may name them */
    in.media = ctx->parsed ? ctx->req.media : 0;

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
 * The tokens the answers may write: the cap (max_tokens as asked, or as
 * the policy sets it) for each of the n answers asked for, saturated,
 * since a body may ask for absurd numbers. The reservation holds it, and
 * an answer that passes unread is settled with it.
 */

long long
ngx_http_aigov_answers_cap(ngx_http_aigov_ctx_t *ctx, long long *cap,
    long long *n)
{
    long long  c;

    /* a body not read, and a kind that takes no limit (embeddings,
     * count_tokens), is given no max_tokens: nothing to reserve for */
    c = ctx->req.max_tokens >= 0 ? ctx->req.max_tokens
        : (ctx->parsed && ctx->decision && ctx->req.max_tokens_key)
          ? ctx->decision->set_max_tokens : 0;
    c = c > 0 ? c : 0;

    *cap = c;
    *n = ctx->req.n > 1 ? ctx->req.n : 1;

    return (c && *n > AIGOV_POLICY_MAX_LIMIT / c)
           ? AIGOV_POLICY_MAX_LIMIT : c * *n;
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
    u_char                      *p;
    long long                    reserve, cap, n, answers, limit;
    const char                  *what;
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

    if (ctx->req.endpoint == AIGOV_EP_COUNT_TOKENS) {
        /* the model reads nothing and the provider bills nothing: the
         * request counts, its tokens do not (ngx_http_aigov_usage) */
        lim.tpm = 0;
        lim.tpd = 0;

        if (lim.rpm <= 0) {
            return NGX_DECLINED;
        }
    }

    answers = ngx_http_aigov_answers_cap(ctx, &cap, &n);

    if ((lim.tpm && answers > lim.tpm) || (lim.tpd && answers > lim.tpd)) {
        /* the answers alone need more than a whole window: no wait makes
         * room for them, unlike a long prompt, which quota admits into an
         * empty window so that it can run at all */
        ctx->retry_after = 60;
        what = (lim.tpm && answers > lim.tpm) ? "tokens_per_minute"
                                                : "tokens_per_day";
        limit = (lim.tpm && answers > lim.tpm) ? lim.tpm : lim.tpd;

        if (n > 1) {
            p = ngx_snprintf((u_char *) msg, sizeof(msg) - 1,
                         "the request may write %L tokens (max_tokens %L "
                         "for each of %L answers), more than the whole %s "
                         "limit of %L; ask for fewer tokens or answers",
                         answers, cap, n, what, limit);
        } else {
            p = ngx_snprintf((u_char *) msg, sizeof(msg) - 1,
                         "the request may write %L tokens (max_tokens), "
                         "more than the whole %s limit of %L; ask for "
                         "fewer tokens", answers, what, limit);
        }

        *p = '\0';

        return ngx_http_aigov_deny(ctx, 429, "quota_exceeded", msg);
    }

    reserve = (ctx->parsed && ctx->req.endpoint != AIGOV_EP_COUNT_TOKENS
               ? aigov_request_prompt_tokens(&ctx->req) : 0)
              + answers;

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

    if (ctx->req.unread != NULL) {
        /* admitted with text no filter read (uninspectable: allow): no
         * request filter may be recorded as having read the request */
        ngx_http_aigov_not_inspected(&ctx->prompt_outcome);
    }

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


static void
ngx_http_aigov_not_inspected(aigov_filter_outcome_t *out)
{
    size_t  i;

    for (i = 0; i < out->nrecords; i++) {
        if (out->records[i].stage == AIGOV_STAGE_REQUEST) {
            out->records[i].inspected = 0;
        }
    }
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
 * buffer; lib/ wants it contiguous. It is read where nginx put it: a copy
 * of a long prompt into fresh memory costs a page fault per 4 KiB, more
 * than all the parsing and scanning of it (bench/README.md, long prompts).
 */

static ngx_int_t
ngx_http_aigov_read_body(ngx_http_request_t *r, ngx_str_t *body)
{
    off_t         len;
    u_char       *p;
    ssize_t       n;
    ngx_uint_t    fresh;
    const char   *how;
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

    if (ngx_http_aigov_body_in_place(r, len) == NGX_OK) {
        body->data = r->request_body->bufs->buf->pos;
        body->len = len;
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "aigov: request body of %O bytes read in place", len);
        return NGX_OK;
    }

    how = "copied";
    p = ngx_http_aigov_kept_get(r, len, &fresh);

    if (p == NULL && len >= NGX_HTTP_AIGOV_KEPT_MIN) {
        ngx_http_aigov_metrics_body(0, 0, 1);
    }

    if (p) {
        how = fresh ? "copied into a new kept buffer"
                    : "copied into a kept buffer";

    } else if (cl->next == NULL && cl->buf->in_file) {
        switch (ngx_http_aigov_body_map(r, cl->buf, body)) {
        case NGX_OK:
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "aigov: request body of %O bytes mapped from "
                           "its file", len);
            return NGX_OK;
        case NGX_ERROR:
            return NGX_ERROR;
        default:
            break;
        }
    }

    if (p == NULL) {
        p = ngx_pnalloc(r->pool, len + 1);
        if (p == NULL) {
            return NGX_ERROR;
        }
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

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "aigov: request body of %O bytes %s", len, how);

    return NGX_OK;
}


/*
 * A body in memory comes as the part read with the headers (in the header
 * buffer) and the rest, read into one buffer in as many pieces as reads.
 * The pieces of the rest lie one after another; with
 * request_body_in_single_buf the buffer also has room for the first part
 * after them. The rest is moved up by the first part's length and the
 * first part put before it: one buffer, in memory nginx already touched,
 * which proxy_pass then sends (start == pos: a retry rewinds to it).
 * NGX_DECLINED when the pieces lie otherwise (chunked bodies, a file).
 */

static ngx_int_t
ngx_http_aigov_body_in_place(ngx_http_request_t *r, off_t len)
{
    u_char       *dst;
    size_t        head, rest;
    ngx_buf_t    *first, *b, *last;
    ngx_chain_t  *cl, *second;

    cl = r->request_body->bufs;
    first = cl->buf;

    for ( /* void */ ; cl; cl = cl->next) {
        if (cl->buf->in_file) {
            return NGX_DECLINED;
        }

        if (cl->next && cl->next->buf->pos != cl->buf->last) {
            break;
        }
    }

    if (cl == NULL) {
        /* contiguous already: one buffer, or pieces of one read after
         * another into the same buffer */
        return NGX_OK;
    }

    if (cl != r->request_body->bufs) {
        return NGX_DECLINED;
    }

    second = cl->next;
    last = second->buf;
    rest = 0;

    for (cl = second; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file || (cl != second && b->pos != last->last)) {
            return NGX_DECLINED;
        }

        rest += b->last - b->pos;
        last = b;
    }

    head = first->last - first->pos;
    dst = second->buf->pos;

    if (head + rest != (size_t) len
        || (size_t) (last->end - last->last) < head
        || (first->pos < last->end && first->last > dst))
    {
        return NGX_DECLINED;
    }

    ngx_memmove(dst + head, dst, rest);
    ngx_memcpy(dst, first->pos, head);

    b = second->buf;
    b->start = dst;
    b->pos = dst;
    b->last = dst + len;
    b->last_buf = last->last_buf;
    b->last_in_chain = 1;

    second->next = NULL;
    r->request_body->bufs = second;

    return NGX_OK;
}


/*
 * A body spilled to a temporary file (larger than client_body_buffer_size)
 * is mapped rather than read: the file's pages are in the page cache
 * already, and read() would copy them into fresh memory. The mapping lasts
 * as long as the request. NGX_DECLINED: read it instead.
 */

static ngx_int_t
ngx_http_aigov_body_map(ngx_http_request_t *r, ngx_buf_t *b, ngx_str_t *body)
{
    off_t                 at;
    size_t                size;
    u_char               *p;
    ngx_pool_cleanup_t   *cln;
    ngx_http_aigov_map_t *m;

    if (b->file == NULL || b->file->fd == NGX_INVALID_FILE
        || b->file_last <= b->file_pos)
    {
        return NGX_DECLINED;
    }

    at = b->file_pos & ~((off_t) ngx_pagesize - 1);
    size = (size_t) (b->file_last - at);

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_aigov_map_t));
    if (cln == NULL) {
        return NGX_ERROR;
    }

    p = mmap(NULL, size, PROT_READ, MAP_PRIVATE|MAP_POPULATE, b->file->fd,
             at);
    if (p == MAP_FAILED) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, ngx_errno,
                      "aigov: mmap() of the request body file failed, "
                      "reading it");
        return NGX_DECLINED;
    }

    m = cln->data;
    m->addr = p;
    m->size = size;
    cln->handler = ngx_http_aigov_body_unmap;

    body->data = p + (b->file_pos - at);
    body->len = b->file_last - b->file_pos;

    return NGX_OK;
}


static void
ngx_http_aigov_body_unmap(void *data)
{
    ngx_http_aigov_map_t  *m = data;

    if (m->addr) {
        (void) munmap(m->addr, m->size);
        m->addr = NULL;
    }
}


/*
 * The smallest free kept buffer that holds need bytes, else a new one if
 * the budget allows (free buffers too small for it are given back first);
 * NULL: none, the caller maps or allocates as before. The buffer is the
 * request's until its pool goes.
 */

static u_char *
ngx_http_aigov_kept_get(ngx_http_request_t *r, size_t need, ngx_uint_t *fresh)
{
    size_t                       size, keep;
    u_char                      *p;
    ngx_pool_cleanup_t          *cln;
    ngx_http_aigov_kept_t       *k, *best, **kp;
    ngx_http_aigov_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_aigov_module);
    keep = amcf->body_keep;
    *fresh = 0;

    if (need < NGX_HTTP_AIGOV_KEPT_MIN || need > keep) {
        return NULL;
    }

    best = NULL;

    for (k = ngx_http_aigov_kept; k; k = k->next) {
        if (!k->busy && k->size >= need
            && (best == NULL || k->size < best->size))
        {
            best = k;
        }
    }

    if (best == NULL) {
        size = ngx_min(ngx_align(need, NGX_HTTP_AIGOV_KEPT_UNIT), keep);

        kp = &ngx_http_aigov_kept;

        while (*kp && ngx_http_aigov_kept_size + size > keep) {
            k = *kp;

            if (k->busy) {
                kp = &k->next;
                continue;
            }

            *kp = k->next;
            ngx_http_aigov_kept_size -= k->size;
            ngx_http_aigov_metrics_body(-(ssize_t) k->size, 0, 0);
            (void) munmap(k->data, k->size);
            ngx_free(k);
        }

        if (ngx_http_aigov_kept_size + size > keep) {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "aigov: kept body buffers full (%uz bytes lent)",
                           ngx_http_aigov_kept_size);
            return NULL;
        }

        best = ngx_alloc(sizeof(ngx_http_aigov_kept_t), r->connection->log);
        if (best == NULL) {
            return NULL;
        }

        /* its own mapping, so that glibc's thresholds do not move */
        p = mmap(NULL, size, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS,
                 -1, 0);
        if (p == MAP_FAILED) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, ngx_errno,
                          "aigov: mmap(%uz) for a kept body buffer failed",
                          size);
            ngx_free(best);
            return NULL;
        }

        best->data = p;
        best->size = size;
        best->busy = 0;
        best->next = ngx_http_aigov_kept;
        ngx_http_aigov_kept = best;
        ngx_http_aigov_kept_size += size;
        ngx_http_aigov_metrics_body(size, 0, 0);
        *fresh = 1;
    }

    /* without a cleanup the buffer would stay lent: it stays free */
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    best->busy = 1;
    cln->handler = ngx_http_aigov_kept_release;
    cln->data = best;

    ngx_http_aigov_metrics_body(0, best->size, 0);

    return best->data;
}


static void
ngx_http_aigov_kept_release(void *data)
{
    ngx_http_aigov_kept_t  *k = data;

    k->busy = 0;
    ngx_http_aigov_metrics_body(0, -(ssize_t) k->size, 0);
}


/* a worker leaving takes its buffers out of the gauges */

void
ngx_http_aigov_kept_exit(void)
{
    ssize_t                 lent;
    ngx_http_aigov_kept_t  *k;

    lent = 0;

    for (k = ngx_http_aigov_kept; k; k = k->next) {
        if (k->busy) {
            lent += k->size;
        }
    }

    ngx_http_aigov_metrics_body(-(ssize_t) ngx_http_aigov_kept_size, -lent, 0);
}
