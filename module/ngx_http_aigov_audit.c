
/*
 * aigov: the signed audit log.
 *
 * Every worker appends to one file opened with O_APPEND. The Merkle tree
 * (a compact range) lives in shared memory; the records of one event loop
 * turn get their seqs, one write() and their leaves under one lock, so
 * file order, seq order and tree order are the same. Checkpoints are
 * signed outside the lock.
 *
 * A request that is served is never left without a record: the admission
 * record (phase "admit") is written before the request is proxied, and
 * with aigov_audit_fail closed a request whose admission record cannot be
 * written gets 503 and is not served. The completion record (phase
 * "done": status, usage, the answer's filters and hash) follows when the
 * request ends, however it ends. A request refused by the gateway has one
 * record (phase "deny").
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <sys/time.h>

#include "ngx_http_aigov_module.h"
#include <utf8.h>
#include <json_string.h>


#define NGX_HTTP_AIGOV_CONTENT_MAX  (64 * 1024)


static ngx_int_t ngx_http_aigov_audit_append(ngx_http_aigov_main_conf_t *amcf,
    const char *body, size_t len, ngx_log_t *log);
static void ngx_http_aigov_audit_checkpoint_now(
    ngx_http_aigov_main_conf_t *amcf, ngx_uint_t force, ngx_log_t *log);
static void ngx_http_aigov_audit_timer(ngx_event_t *ev);
static ngx_int_t ngx_http_aigov_audit_defer(ngx_http_aigov_main_conf_t *amcf,
    const char *body, size_t len, ngx_log_t *log);
static ngx_int_t ngx_http_aigov_audit_queue(ngx_http_aigov_main_conf_t *amcf,
    ngx_http_request_t *r, ngx_http_aigov_ctx_t *ctx, const char *body,
    size_t len);
static void ngx_http_aigov_audit_flush(ngx_event_t *ev);
static void ngx_http_aigov_audit_wake(ngx_event_t *ev);
static void ngx_http_aigov_audit_resolve(ngx_uint_t committed);
static char *ngx_http_aigov_audit_path(ngx_http_request_t *r);
static ngx_int_t ngx_http_aigov_audit_write(ngx_fd_t fd, const char *p,
    size_t len, size_t *written);
static ngx_int_t ngx_http_aigov_audit_follow(ngx_http_aigov_main_conf_t *amcf,
    char **carry);
static void ngx_http_aigov_free_signer(void *data);


/* what one worker remembers of the file it writes to */
static ngx_fd_t                     ngx_http_aigov_audit_fd = NGX_INVALID_FILE;
static ngx_uint_t                   ngx_http_aigov_audit_gen;
static ngx_event_t                  ngx_http_aigov_audit_ev;
static ngx_connection_t             ngx_http_aigov_audit_dummy;
static ngx_http_aigov_main_conf_t  *ngx_http_aigov_audit_conf_cur;

/*
 * Completion records wait in the worker until the end of the event loop
 * turn (a posted event) and go to the file together with the others the
 * turn held: one lock and one write() for several records. A refusal
 * record is written at once, and takes the held ones with it.
 */
#define NGX_HTTP_AIGOV_PEND_MAX  (64 * 1024)

static ngx_event_t                  ngx_http_aigov_audit_flush_ev;
static ngx_uint_t                   ngx_http_aigov_audit_deferred;
static u_char                      *ngx_http_aigov_audit_pend;
static size_t                       ngx_http_aigov_audit_pend_len;
static ngx_uint_t                   ngx_http_aigov_audit_pend_n;
static u_char                      *ngx_http_aigov_audit_out;
static size_t                       ngx_http_aigov_audit_out_cap;

/*
 * Admission records wait the same way, and so do their requests: they are
 * proxied once the write that holds their record is done (or answered 503
 * when it failed), a few microseconds later in the same loop turn.
 */
#define NGX_HTTP_AIGOV_WAIT_MAX  256

static ngx_http_request_t          *ngx_http_aigov_audit_wait[NGX_HTTP_AIGOV_WAIT_MAX];
static ngx_uint_t                   ngx_http_aigov_audit_wait_at[NGX_HTTP_AIGOV_WAIT_MAX];
static ngx_uint_t                   ngx_http_aigov_audit_nwait;

/* the seq of the first line of the last write, for $aigov_audit_seq */
static uint64_t                     ngx_http_aigov_audit_seq0;
static uint64_t                     ngx_http_aigov_audit_body_seq; /* + 1 */


char *
ngx_http_aigov_audit_checkpoint(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_aigov_main_conf_t  *amcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;

    if (amcf->cp_records != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    n = ngx_atoi(value[1].data, value[1].len);
    if (n <= 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "aigov_audit_checkpoint: \"%V\" is not a positive "
                           "number of records", &value[1]);
        return NGX_CONF_ERROR;
    }

    amcf->cp_records = n;

    amcf->cp_time = ngx_parse_time(&value[2], 1);
    if (amcf->cp_time == (time_t) NGX_ERROR || amcf->cp_time <= 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "aigov_audit_checkpoint: \"%V\" is not a time "
                           "of at least 1s", &value[2]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* Called from init_main_conf: defaults, the signing key, the file. */

char *
ngx_http_aigov_audit_conf(ngx_conf_t *cf, ngx_http_aigov_main_conf_t *amcf)
{
    char                 err[512];
    size_t               len;
    ngx_pool_cleanup_t  *cln;

    ngx_conf_init_uint_value(amcf->cp_records, 1000);
    ngx_conf_init_value(amcf->cp_time, 1);
    ngx_conf_init_uint_value(amcf->audit_fail_open, 0);

    if (amcf->audit_path.len == 0) {
        if (amcf->audit_key.len) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "aigov_audit_key is set but aigov_audit_log "
                               "is not");
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    if (amcf->audit_key.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "aigov_audit_log needs aigov_audit_key, the "
                           "Ed25519 key that signs checkpoints "
                           "(aigov keygen --out KEY)");
        return NGX_CONF_ERROR;
    }

    if (amcf->audit_origin.len == 0) {
        /* the host name followed by /aigov, as SPEC.md says */
        len = cf->cycle->hostname.len + sizeof("/aigov");
        amcf->audit_origin.data = ngx_pnalloc(cf->pool, len);
        if (amcf->audit_origin.data == NULL) {
            return NGX_CONF_ERROR;
        }

        amcf->audit_origin.len = ngx_sprintf(amcf->audit_origin.data,
                                             "%V/aigov%Z",
                                             &cf->cycle->hostname)
                                 - amcf->audit_origin.data - 1;
    }

    if (ngx_conf_full_name(cf->cycle, &amcf->audit_key, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    err[0] = '\0';
    amcf->signer = aigov_signer_load((const char *) amcf->audit_key.data,
                                     (const char *) amcf->audit_origin.data,
                                     err, sizeof(err));

    if (amcf->signer == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "aigov_audit_key \"%V\": %s",
                           &amcf->audit_key, err);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_aigov_free_signer;
    cln->data = amcf->signer;

    /* opened by the master before privileges drop, reopened on USR1 */
    amcf->audit_file = ngx_conf_open_file(cf->cycle, &amcf->audit_path);
    if (amcf->audit_file == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * At the first start the tree is rebuilt from the log on disk, so a
 * restarted gateway continues the same tree. On reload the zone, and the
 * tree in it, carry on.
 */

ngx_int_t
ngx_http_aigov_audit_init_zone(ngx_http_aigov_main_conf_t *amcf,
    ngx_slab_pool_t *shpool, ngx_http_aigov_shctx_t *sh, ngx_uint_t fresh)
{
    int                         rc, newline;
    char                        err[512];
    uint64_t                    cp;
    ngx_file_info_t             fi;
    ngx_http_aigov_audit_sh_t  *a;

    if (amcf->audit_file == NULL) {
        return NGX_OK;
    }

    if (!fresh && sh->audit) {
        a = sh->audit;
        a->npolicies = 0;       /* policies are logged again after reload */
        goto done;
    }

    a = ngx_slab_calloc(shpool, sizeof(ngx_http_aigov_audit_sh_t));
    if (a == NULL) {
        return NGX_ERROR;
    }

    cp = 0;
    newline = 0;
    err[0] = '\0';
    rc = 0;

    /* only a regular file holds a tree to continue (not /dev/full, say) */
    if (ngx_file_info(amcf->audit_path.data, &fi) != NGX_FILE_ERROR
        && ngx_is_file(&fi))
    {
        rc = aigov_log_recover((const char *) amcf->audit_path.data,
                               &a->tree, &cp, &newline, err, sizeof(err));
    }
    if (rc < 0) {
        ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, 0,
                      "aigov: cannot read the audit log \"%V\" to continue "
                      "its tree: %s", &amcf->audit_path, err);
        return NGX_ERROR;
    }

    if (rc > 0) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "aigov: audit log \"%V\": %s", &amcf->audit_path, err);
    }

    a->last_cp_size = cp;
    a->cp_written = cp;
    a->last_cp_time = ngx_time();
    a->needs_newline = newline;

    if (ngx_file_info(amcf->audit_path.data, &fi) != NGX_FILE_ERROR) {
        a->dev = fi.st_dev;
        a->ino = fi.st_ino;
    }

    if (ngx_shmtx_create(&a->mutex, &a->lock, NULL) != NGX_OK) {
        return NGX_ERROR;
    }

    sh->audit = a;

done:

    amcf->audit = a;
    amcf->audit_mutex = &a->mutex;

    return NGX_OK;
}


ngx_int_t
ngx_http_aigov_audit_init_process(ngx_cycle_t *cycle)
{
    ngx_http_aigov_main_conf_t  *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_aigov_module);

    if (amcf == NULL || amcf->audit == NULL) {
        return NGX_OK;
    }

    ngx_http_aigov_audit_conf_cur = amcf;

    ngx_http_aigov_audit_dummy.fd = (ngx_socket_t) -1;
    ngx_http_aigov_audit_ev.handler = ngx_http_aigov_audit_timer;
    ngx_http_aigov_audit_ev.data = &ngx_http_aigov_audit_dummy;
    ngx_http_aigov_audit_ev.log = cycle->log;
    ngx_http_aigov_audit_ev.cancelable = 1;

    ngx_http_aigov_audit_flush_ev.handler = ngx_http_aigov_audit_flush;
    ngx_http_aigov_audit_flush_ev.data = &ngx_http_aigov_audit_dummy;
    ngx_http_aigov_audit_flush_ev.log = cycle->log;

    ngx_add_timer(&ngx_http_aigov_audit_ev, amcf->cp_time * 1000);

    return NGX_OK;
}


/*
 * A worker leaving (shutdown, reload) signs what it has written; its kept
 * body buffers leave the metrics with it.
 */

void
ngx_http_aigov_audit_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_aigov_main_conf_t  *amcf;

    ngx_http_aigov_kept_exit();

    amcf = ngx_http_aigov_audit_conf_cur;

    if (amcf == NULL || amcf->audit == NULL) {
        return;
    }

    if (ngx_http_aigov_audit_pend_n) {
        (void) ngx_http_aigov_audit_append(amcf, NULL, 0, cycle->log);
    }

    ngx_http_aigov_audit_checkpoint_now(amcf, 1, cycle->log);
}


/*
 * While another worker holds the lock (its write, its leaves: some
 * microseconds), the held records wait for the next loop turn rather than
 * spin: the worker serves the events that came meanwhile, and the next
 * write takes more records at once. A few turns at most, then it waits
 * for the lock as before; the bounds on held records still hold.
 */
#define NGX_HTTP_AIGOV_FLUSH_DEFER  4

static void
ngx_http_aigov_audit_flush(ngx_event_t *ev)
{
    ngx_http_aigov_main_conf_t  *amcf;

    amcf = ngx_http_aigov_audit_conf_cur;

    if (ngx_http_aigov_audit_pend_n == 0 || amcf == NULL) {
        /* written meanwhile by a refusal or a full buffer */
        ngx_http_aigov_audit_deferred = 0;
        return;
    }

    if (*amcf->audit_mutex->lock != 0
        && ngx_http_aigov_audit_deferred < NGX_HTTP_AIGOV_FLUSH_DEFER
        && !ngx_exiting && !ngx_terminate && !ngx_quit)
    {
        ngx_http_aigov_audit_deferred++;
        ngx_post_event(ev, &ngx_posted_next_events);

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                       "aigov: audit log busy, %ui held records wait a "
                       "turn (%ui)", ngx_http_aigov_audit_pend_n,
                       ngx_http_aigov_audit_deferred);
        return;
    }

    ngx_http_aigov_audit_deferred = 0;

    (void) ngx_http_aigov_audit_append(amcf, NULL, 0, ev->log);
}


static ngx_int_t
ngx_http_aigov_audit_defer(ngx_http_aigov_main_conf_t *amcf,
    const char *body, size_t len, ngx_log_t *log)
{
    u_char  *p;

    if (sizeof(size_t) + len > NGX_HTTP_AIGOV_PEND_MAX
        || ngx_http_aigov_audit_flush_ev.handler == NULL)
    {
        return ngx_http_aigov_audit_append(amcf, body, len, log);
    }

    if (ngx_http_aigov_audit_pend_len + sizeof(size_t) + len
        > NGX_HTTP_AIGOV_PEND_MAX)
    {
        (void) ngx_http_aigov_audit_append(amcf, NULL, 0, log);
    }

    if (ngx_http_aigov_audit_pend == NULL) {
        ngx_http_aigov_audit_pend = malloc(NGX_HTTP_AIGOV_PEND_MAX);
        if (ngx_http_aigov_audit_pend == NULL) {
            return ngx_http_aigov_audit_append(amcf, body, len, log);
        }
    }

    p = ngx_http_aigov_audit_pend + ngx_http_aigov_audit_pend_len;
    ngx_memcpy(p, &len, sizeof(size_t));
    ngx_memcpy(p + sizeof(size_t), body, len);

    ngx_http_aigov_audit_pend_len += sizeof(size_t) + len;
    ngx_http_aigov_audit_pend_n++;

    if (!ngx_http_aigov_audit_flush_ev.posted) {
        ngx_post_event(&ngx_http_aigov_audit_flush_ev, &ngx_posted_events);
    }

    return NGX_AGAIN;
}


/*
 * Hands an admission record to the pending write; NGX_AGAIN: the request
 * waits (ctx->audit_wait) until ctx->audit_ev wakes it.
 */

static ngx_int_t
ngx_http_aigov_audit_queue(ngx_http_aigov_main_conf_t *amcf,
    ngx_http_request_t *r, ngx_http_aigov_ctx_t *ctx, const char *body,
    size_t len)
{
    ngx_int_t  rc;

    if (ngx_http_aigov_audit_nwait == NGX_HTTP_AIGOV_WAIT_MAX) {
        (void) ngx_http_aigov_audit_append(amcf, NULL, 0, r->connection->log);
    }

    rc = ngx_http_aigov_audit_defer(amcf, body, len, r->connection->log);
    if (rc != NGX_AGAIN) {
        return rc;
    }

    ngx_http_aigov_audit_wait[ngx_http_aigov_audit_nwait] = r;
    ngx_http_aigov_audit_wait_at[ngx_http_aigov_audit_nwait] =
                                             ngx_http_aigov_audit_pend_n - 1;
    ngx_http_aigov_audit_nwait++;

    ctx->audit_wait = 1;
    ctx->audit_ev.handler = ngx_http_aigov_audit_wake;
    ctx->audit_ev.data = r;
    ctx->audit_ev.log = r->connection->log;

    return NGX_AGAIN;
}


/* Each waiting request learns whether its line is in the file whole. */

static void
ngx_http_aigov_audit_resolve(ngx_uint_t committed)
{
    ngx_uint_t             i;
    ngx_http_aigov_ctx_t  *ctx;

    for (i = 0; i < ngx_http_aigov_audit_nwait; i++) {
        ctx = ngx_http_get_module_ctx(ngx_http_aigov_audit_wait[i],
                                      ngx_http_aigov_module);
        ctx->audit_wait = 0;
        ctx->audit_failed = (ngx_http_aigov_audit_wait_at[i] >= committed);
        ctx->audit_seq = ctx->audit_failed ? 0 : ngx_http_aigov_audit_seq0
                                      + ngx_http_aigov_audit_wait_at[i] + 1;
        ngx_post_event(&ctx->audit_ev, &ngx_posted_events);
    }

    ngx_http_aigov_audit_nwait = 0;
}


/* As nginx wakes a request after a thread task. */

static void
ngx_http_aigov_audit_wake(ngx_event_t *ev)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ev->data;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    r->main->blocked--;
    r->aio = 0;

    if (r->done) {
        c->write->handler(c->write);

    } else {
        r->write_event_handler(r);
        ngx_http_run_posted_requests(c);
    }
}


static void
ngx_http_aigov_audit_timer(ngx_event_t *ev)
{
    ngx_http_aigov_main_conf_t  *amcf;

    amcf = ngx_http_aigov_audit_conf_cur;

    ngx_http_aigov_audit_checkpoint_now(amcf, 0, ev->log);

    if (!ngx_exiting && !ngx_terminate && !ngx_quit) {
        ngx_add_timer(ev, amcf->cp_time * 1000);
    }
}


/* The answer as sent to the client, for response_sha256 and content. */

void
ngx_http_aigov_audit_answer(ngx_http_aigov_ctx_t *ctx, u_char *p, size_t len)
{
    size_t  n;

    if (ctx->answer_sha == NULL || len == 0) {
        return;
    }

    aigov_sha256_update(ctx->answer_sha, p, len);

    if (ctx->answer_copy.data) {
        n = ngx_min(len, NGX_HTTP_AIGOV_CONTENT_MAX - ctx->answer_copy.len);
        ngx_memcpy(ctx->answer_copy.data + ctx->answer_copy.len, p, n);
        ctx->answer_copy.len += n;
    }
}


ngx_int_t
ngx_http_aigov_audit_answer_start(ngx_http_request_t *r,
    ngx_http_aigov_ctx_t *ctx)
{
    aigov_content_t              content;
    ngx_http_aigov_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_aigov_module);

    if (amcf->audit == NULL) {
        return NGX_OK;
    }

    content = ctx->decision ? ctx->decision->content : AIGOV_CONTENT_HASH;

    if (content == AIGOV_CONTENT_NONE) {
        return NGX_OK;
    }

    ctx->answer_sha = ngx_palloc(r->pool, sizeof(aigov_sha256_t));
    if (ctx->answer_sha == NULL) {
        return NGX_ERROR;
    }

    if (amcf->hash_key && content == AIGOV_CONTENT_HASH) {
        aigov_hmac_begin(ctx->answer_sha, amcf->hash_key);

    } else {
        aigov_sha256_init(ctx->answer_sha);
    }

    if (content == AIGOV_CONTENT_REDACTED || content == AIGOV_CONTENT_FULL) {
        ctx->answer_copy.data = ngx_pnalloc(r->pool,
                                            NGX_HTTP_AIGOV_CONTENT_MAX);
        if (ctx->answer_copy.data == NULL) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* the verdicts of one stage, as a plain list: no JSON built per request */

static ngx_int_t
ngx_http_aigov_audit_filters(ngx_http_request_t *r, ngx_http_aigov_ctx_t *ctx,
    aigov_record_t *ar, ngx_uint_t done)
{
    size_t                         i, k, n;
    aigov_record_filter_t         *fl;
    const aigov_filter_outcome_t  *oc[2];

    /* the prompt's verdicts go on the admission record, the answer's on
     * the completion record */
    oc[0] = done ? NULL : &ctx->prompt_outcome;
    oc[1] = done && ctx->answer ? aigov_answer_outcome(ctx->answer) : NULL;

    n = (oc[0] ? oc[0]->nrecords : 0) + (oc[1] ? oc[1]->nrecords : 0);

    fl = ngx_palloc(r->pool, (n ? n : 1) * sizeof(aigov_record_filter_t));
    if (fl == NULL) {
        return NGX_ERROR;
    }

    n = 0;

    for (k = 0; k < 2; k++) {
        if (oc[k] == NULL) {
            continue;
        }

        for (i = 0; i < oc[k]->nrecords; i++, n++) {
            fl[n].plugin = oc[k]->records[i].plugin;
            fl[n].stage = oc[k]->records[i].stage == AIGOV_STAGE_REQUEST
                          ? "request" : "response";
            fl[n].verdict = aigov_filter_record_verdict(&oc[k]->records[i]);
            fl[n].count = (long long) oc[k]->records[i].count;
            fl[n].not_inspected = !oc[k]->records[i].inspected;
        }
    }

    ar->filters = NULL;
    ar->filter_list = fl;
    ar->nfilter_list = n;

    return NGX_OK;
}


static void
ngx_http_aigov_hex_sha256(const u_char *p, size_t len, char out[65])
{
    u_char  md[32];

    aigov_sha256_2(p, len, NULL, 0, md);
    *aigov_hex(out, md, 32) = '\0';
}


/*
 * The prompt as the policy asked to keep it: the texts after the
 * filters ran, or as the caller sent them; joined by newlines.
 */

char *
ngx_http_aigov_audit_texts(ngx_http_request_t *r, ngx_http_aigov_ctx_t *ctx)
{
    size_t   i, len;
    u_char  *p, *s;

    len = 0;
    for (i = 0; i < ctx->req.ntexts; i++) {
        len += ctx->req.texts[i].len + 1;
    }

    len = ngx_min(len, NGX_HTTP_AIGOV_CONTENT_MAX);

    s = ngx_pnalloc(r->pool, len + 1);
    if (s == NULL) {
        return NULL;
    }

    p = s;
    for (i = 0; i < ctx->req.ntexts; i++) {
        if ((size_t) (p - s) + ctx->req.texts[i].len + 1 > len) {
            break;
        }

        if (i) {
            *p++ = '\n';
        }

        p = ngx_cpymem(p, ctx->req.texts[i].text, ctx->req.texts[i].len);
    }

    *p = '\0';

    return (char *) s;
}


/*
 * The path as the record holds it: the decoded path, except that a byte
 * that is not UTF-8, and NUL, which would end the string early, are
 * written %XX as a URL carries them (a path with %FF still has a record
 * that says so).
 */

static char *
ngx_http_aigov_audit_path(ngx_http_request_t *r)
{
    size_t         k, n;
    u_char        *p, *s, *end, *out;
    static u_char  hex[] = "0123456789ABCDEF";

    n = 0;
    end = r->uri.data + r->uri.len;

    for (p = r->uri.data; p < end; p += k) {
        k = *p == '\0' ? 0 : *p < 0x80 ? 1 : aigov_utf8_seq(p, end - p);
        n += k ? k : 3;
        k = k ? k : 1;
    }

    out = ngx_pnalloc(r->pool, n + 1);
    if (out == NULL) {
        return NULL;
    }

    s = out;

    for (p = r->uri.data; p < end; p += k) {
        k = *p == '\0' ? 0 : *p < 0x80 ? 1 : aigov_utf8_seq(p, end - p);

        if (k) {
            s = ngx_cpymem(s, p, k);
            continue;
        }

        *s++ = '%';
        *s++ = hex[*p >> 4];
        *s++ = hex[*p & 0xf];
        k = 1;
    }

    *s = '\0';

    return (char *) out;
}


/*
 * What a completion record adds to the writer's fields, before its last
 * key ("phase"): "usage_estimated":true when the usage is aigov's estimate
 * (lib/answer.h), "released_early" when aigov_stream_hold_time sent text
 * before the filters were done with it, and for an answer a filter
 * blocked "decision":"block", the filter as "plugin" and its "reason".
 * Returns the body (malloc'd when it grew; body when nothing was added),
 * *len 0 on failure.
 */

static char *
ngx_http_aigov_audit_done_extra(ngx_http_aigov_ctx_t *ctx,
    ngx_uint_t estimated, char *body, char *stack, size_t *len)
{
    char                          *n, *o;
    size_t                         tail, need, pl, rl, ev, eb, late;
    const aigov_filter_outcome_t  *oc;
    static const char              last[] = ",\"phase\":\"done\"}";

    oc = ctx->answer ? aigov_answer_outcome(ctx->answer) : NULL;

    ev = eb = late = 0;
    if (ctx->answer) {
        aigov_answer_early(ctx->answer, &ev, &eb, &late);
    }

    if (!estimated && (oc == NULL || !oc->blocked) && ev == 0) {
        return body;
    }

    tail = sizeof(last) - 1;
    if (*len < tail || ngx_memcmp(body + *len - tail, last, tail) != 0) {
        return body;
    }

    pl = (oc && oc->blocked) ? aigov_json_escaped_len(oc->block_plugin,
                                   ngx_strlen(oc->block_plugin)) : 0;
    rl = (oc && oc->blocked) ? aigov_json_escaped_len(oc->block_reason,
                                   ngx_strlen(oc->block_reason)) : 0;
    need = *len + 64 + pl + rl + 96;

    n = malloc(need);
    if (n == NULL) {
        *len = 0;
        return body;
    }

    o = (char *) ngx_cpymem(n, body, *len - tail);

    if (estimated) {
        o = (char *) ngx_cpymem(o, ",\"usage_estimated\":true",
                                sizeof(",\"usage_estimated\":true") - 1);
    }

    if (ev) {
        /* aigov_stream_hold_time sent text before the filters were done */
        o = (char *) ngx_sprintf((u_char *) o,
                                 ",\"released_early\":{\"events\":%uz,"
                                 "\"bytes\":%uz,\"late_matches\":%uz}",
                                 ev, eb, late);
    }

    if (oc && oc->blocked) {
        o = (char *) ngx_cpymem(o, ",\"decision\":\"block\",\"plugin\":",
                                sizeof(",\"decision\":\"block\",\"plugin\":") - 1);
        o = aigov_json_escape(o, oc->block_plugin,
                              ngx_strlen(oc->block_plugin), 0);
        o = (char *) ngx_cpymem(o, ",\"reason\":", sizeof(",\"reason\":") - 1);
        o = aigov_json_escape(o, oc->block_reason,
                              ngx_strlen(oc->block_reason), 0);
    }

    o = (char *) ngx_cpymem(o, last, tail);
    *len = o - n;

    if (body != stack) {
        free(body);
    }

    return n;
}


ngx_int_t
ngx_http_aigov_audit_record(ngx_http_request_t *r, ngx_http_aigov_ctx_t *ctx,
    const char *phase)
{
    char                        *body, *path, *method;
    char                         psha[65], rsha[65], stack[4096];
    size_t                     (*write)(char *, size_t,
                                        const aigov_record_t *);
    ngx_uint_t                   done, estimated;
    u_char                       md[32];
    size_t                       len;
    json_t                      *iss;
    ngx_int_t                    rc;
    aigov_record_t               ar;
    struct timeval               tv;
    aigov_content_t              content;
    aigov_hmac_key_t            *hkey;
    ngx_http_aigov_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_aigov_module);

    if (amcf->audit == NULL) {
        return NGX_OK;
    }

    done = (ngx_strcmp(phase, "done") == 0);
    estimated = 0;

    ngx_memzero(&ar, sizeof(aigov_record_t));

    path = ngx_http_aigov_audit_path(r);
    method = ngx_pnalloc(r->pool, r->method_name.len + 1);
    if (path == NULL || method == NULL) {
        return NGX_ERROR;
    }

    /* the record's strings end at a NUL, as these copies do */
    *ngx_cpymem(method, r->method_name.data, r->method_name.len) = '\0';

    gettimeofday(&tv, NULL);

    ar.id = (char *) ctx->id;
    ar.ts_us = (int64_t) tv.tv_sec * 1000000 + tv.tv_usec;
    ar.method = method;
    ar.path = path;
    ar.model = ctx->req.model;
    ar.endpoint = aigov_endpoint_name(ctx->req.endpoint);
    if (ar.endpoint[0] == '\0') {
        /* an endpoint of no known kind is named by its path */
        ar.endpoint = path;
    }
    /* as sent upstream: asked, or set by the policy (and then marked) */
    ar.max_tokens = ctx->asked_max_tokens;
    ar.max_tokens_injected = ctx->max_tokens_injected;
    ar.not_inspected = (ctx->uninspectable != NULL);
    /* what the policy decided on besides the fields above, so that a
     * replay of the record decides as the gateway did */
    ar.n = ctx->parsed ? ctx->req.n : 1;
    ar.unread = ctx->parsed ? ctx->req.unread_kind : NULL;
    ar.background = ctx->parsed && ctx->req.background && !ctx->req.stream;
    ar.media = ctx->parsed ? ctx->req.media : 0;
    ar.prompt_chars = ctx->parsed ? (int64_t) ctx->req.prompt_chars : -1;
    ar.stream = ctx->req.stream;
    ar.prompt_tokens = -1;
    ar.completion_tokens = -1;
    /* the claims are on the admission record; the completion record, which
     * shares its id, need not repeat them */
    ar.claims = done ? NULL : ctx->claims;

    iss = ctx->claims ? json_object_get(ctx->claims, "iss") : NULL;
    ar.iss = json_is_string(iss) ? json_string_value(iss) : NULL;

    if (ctx->decision) {
        ar.sub = ctx->decision->subject;
        ar.groups = aigov_decision_groups(ctx->decision);
        ar.rule = ctx->decision->rule;
        ar.policy_sha256 = aigov_policy_sha256(ctx->policy);
        content = ctx->decision->content;

        /* its policy record goes into the log before this record */
        ngx_http_aigov_audit_policy_use(ctx->policy, r->connection->log);

    } else {
        ar.rule = ctx->policy ? NULL : "none";
        content = AIGOV_CONTENT_HASH;
    }

    ar.decision = ctx->err_code ? "deny" : "allow";
    ar.reason = ctx->err_code ? ctx->err_message : NULL;

    if (done) {
        ar.status = r->headers_out.status;

        if (r->connection->error && ar.status < NGX_HTTP_BAD_REQUEST) {
            ar.status = 499;
        }

        /* as the quota was settled (ngx_http_aigov_usage) */
        if (ctx->usage_how != NGX_HTTP_AIGOV_USAGE_NONE) {
            ar.prompt_tokens = ctx->usage_prompt;
            ar.completion_tokens = ctx->usage_completion;
            estimated = (ctx->usage_how == NGX_HTTP_AIGOV_USAGE_ESTIMATED);
        }

    } else {
        ar.status = ctx->err_code ? (int) ctx->status : 0;
    }

    if (ngx_http_aigov_audit_filters(r, ctx, &ar, done) != NGX_OK) {
        return NGX_ERROR;
    }

    ar.content = aigov_content_name(content);

    /* keyed hashes: nobody without the key can test a guessed prompt */
    hkey = (content == AIGOV_CONTENT_HASH) ? amcf->hash_key : NULL;

    if (content != AIGOV_CONTENT_NONE) {
        /* the prompt's hash is on the admission record only */
        if (ctx->body.len && !done) {
            if (hkey) {
                aigov_hmac(hkey, ctx->body.data, ctx->body.len, md);
                *aigov_hex(psha, md, 32) = '\0';

            } else {
                ngx_http_aigov_hex_sha256(ctx->body.data, ctx->body.len,
                                          psha);
            }

            ar.prompt_sha256 = psha;
        }

        if (ctx->answer_sha && done) {
            if (hkey) {
                aigov_hmac_end(ctx->answer_sha, hkey, md);

            } else {
                aigov_sha256_final(ctx->answer_sha, md);
            }

            ctx->answer_sha = NULL;
            *aigov_hex(rsha, md, 32) = '\0';
            ar.response_sha256 = rsha;
        }
    }

    if (hkey && (ar.prompt_sha256 || ar.response_sha256)) {
        ar.hash_key = hkey->id;
    }

    if (content == AIGOV_CONTENT_REDACTED || content == AIGOV_CONTENT_FULL) {
        if (!done && ctx->parsed) {
            ar.prompt = (content == AIGOV_CONTENT_FULL && ctx->original_texts)
                        ? ctx->original_texts
                        : ngx_http_aigov_audit_texts(r, ctx);
        }

        if (done && ctx->answer_copy.data) {
            ar.response = ngx_pnalloc(r->pool, ctx->answer_copy.len + 1);
            if (ar.response) {
                ngx_memcpy((u_char *) ar.response, ctx->answer_copy.data,
                           ctx->answer_copy.len);
                ((u_char *) ar.response)[ctx->answer_copy.len] = '\0';
            }
        }
    }

    ar.phase = phase;
    ar.quota_store = done ? NULL : ctx->quota_store;

    /* written straight from the fields, no JSON tree: this runs twice
     * per request */
    write = done ? aigov_record_write_done : aigov_record_write;

    body = stack;
    len = write(stack, sizeof(stack), &ar);

    if (len > sizeof(stack)) {
        body = malloc(len);
        if (body == NULL || write(body, len, &ar) != len) {
            len = 0;
        }
    }

    if (ar.groups) {
        json_decref(ar.groups);
    }

    if (len && done) {
        body = ngx_http_aigov_audit_done_extra(ctx, estimated, body, stack,
                                               &len);
    }

    if (len == 0) {
        if (body != stack) {
            free(body);
        }

        /* fail open serves it: the gap must at least be in the error log */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "aigov: the %s record of request %s could not be "
                      "built, so it is not in the audit log", phase, ctx->id);

        return NGX_ERROR;
    }

    if (done) {
        rc = ngx_http_aigov_audit_defer(amcf, body, len, r->connection->log);
        if (rc == NGX_AGAIN) {
            rc = NGX_OK;
        }

    } else if (ngx_strcmp(phase, "admit") == 0
               && ngx_http_aigov_audit_flush_ev.handler)
    {
        rc = ngx_http_aigov_audit_queue(amcf, r, ctx, body, len);

    } else {
        rc = ngx_http_aigov_audit_append(amcf, body, len, r->connection->log);
        ctx->audit_seq = (rc == NGX_OK) ? ngx_http_aigov_audit_body_seq : 0;
    }

    if (body != stack) {
        free(body);
    }

    return rc;
}


static ngx_int_t
ngx_http_aigov_audit_write(ngx_fd_t fd, const char *p, size_t len,
    size_t *written)
{
    ssize_t  n;

    if (written) {
        *written = 0;
    }

    while (len) {
        n = write(fd, p, len);

        if (n == -1) {
            if (ngx_errno == NGX_EINTR) {
                continue;
            }

            return NGX_ERROR;
        }

        if (n == 0) {
            return NGX_ERROR;
        }

        p += n;
        len -= n;

        if (written) {
            *written += n;
        }
    }

    return NGX_OK;
}


/*
 * Log rotation: after `mv` and USR1, the master creates the new file and
 * each worker reopens it when it gets to it. Records must not go to the
 * old file once one has gone to the new one, or the files would
 * interleave. So under the lock, when this worker's fd changed or another
 * worker moved to a new file (file_gen), the file at the path decides: a
 * worker still holding the old file opens the new one itself, and the
 * first record in an empty file is preceded by a carry-over checkpoint.
 * In between, nothing is checked: no system call per record.
 */

static ngx_int_t
ngx_http_aigov_audit_follow(ngx_http_aigov_main_conf_t *amcf, char **carry)
{
    size_t                      clen;
    ngx_fd_t                    fd, nfd;
    ngx_file_info_t             fi, pi;
    ngx_http_aigov_audit_sh_t  *a;

    a = amcf->audit;
    fd = amcf->audit_file->fd;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        return NGX_ERROR;
    }

    if (ngx_file_info(amcf->audit_path.data, &pi) != NGX_FILE_ERROR
        && ngx_is_file(&pi)
        && (pi.st_dev != fi.st_dev || pi.st_ino != fi.st_ino))
    {
        /* our fd is the rotated file: follow the path */
        nfd = ngx_open_file(amcf->audit_path.data, NGX_FILE_APPEND,
                            NGX_FILE_CREATE_OR_OPEN, NGX_FILE_DEFAULT_ACCESS);
        if (nfd == NGX_INVALID_FILE) {
            return NGX_ERROR;
        }

        if (dup2(nfd, fd) == -1) {
            ngx_close_file(nfd);
            return NGX_ERROR;
        }

        ngx_close_file(nfd);

        if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
            return NGX_ERROR;
        }
    }

    if (fi.st_dev != a->dev || fi.st_ino != a->ino) {
        a->dev = fi.st_dev;
        a->ino = fi.st_ino;
        a->file_gen++;
        a->npolicies = 0;       /* each file holds the policies it uses */

        if (ngx_file_size(&fi) == 0 && a->tree.size > 0) {
            *carry = aigov_checkpoint_carry_line(amcf->signer, &a->tree,
                                                 &clen);
            if (*carry == NULL
                || ngx_http_aigov_audit_write(fd, *carry, clen, NULL) != NGX_OK)
            {
                return NGX_ERROR;
            }

            a->cp_written = a->tree.size;
            a->needs_newline = 0;
        }
    }

    ngx_http_aigov_audit_fd = fd;
    ngx_http_aigov_audit_gen = a->file_gen;

    return NGX_OK;
}


/*
 * A worker killed while holding the lock must not stop the others: nginx
 * frees its own slab locks after a crash but not ours, so a waiter that
 * finds the holder gone takes the lock over, and says so (1): what the
 * lock guarded may be half updated.
 */

ngx_uint_t
ngx_http_aigov_lock(ngx_shmtx_t *mtx)
{
    ngx_pid_t   pid;
    ngx_uint_t  i, taken;

    taken = 0;

    for (i = 1; /* void */; i++) {

        if (ngx_shmtx_trylock(mtx)) {
            return taken;
        }

        if ((i & 1023) == 0) {
            pid = (ngx_pid_t) *mtx->lock;

            if (pid > 0 && kill(pid, 0) == -1 && ngx_errno == NGX_ESRCH
                && ngx_shmtx_force_unlock(mtx, pid))
            {
                taken = 1;
            }
        }

        if (ngx_ncpu > 1 && (i & 63)) {
            ngx_cpu_pause();

        } else {
            ngx_sched_yield();
        }
    }
}


/*
 * Takes the audit log's lock. A worker killed while holding it may have
 * written lines whose leaves never reached the tree: then the file, not
 * the shared tree, says where the log stands, and it is read again (its
 * end, from the newest checkpoint) before anything else is written.
 */

static void
ngx_http_aigov_audit_lock(ngx_http_aigov_main_conf_t *amcf, ngx_log_t *log)
{
    int                         rc, newline;
    char                        err[512];
    uint64_t                    cp;
    aigov_tree_t                tree;
    ngx_file_info_t             fi;
    ngx_http_aigov_audit_sh_t  *a;

    if (!ngx_http_aigov_lock(amcf->audit_mutex)) {
        return;
    }

    a = amcf->audit;

    if (ngx_file_info(amcf->audit_path.data, &fi) == NGX_FILE_ERROR
        || !ngx_is_file(&fi))
    {
        return;
    }

    rc = aigov_log_recover((const char *) amcf->audit_path.data, &tree, &cp,
                           &newline, err, sizeof(err));
    if (rc < 0) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "aigov: a worker died holding the audit log's lock "
                      "and \"%V\" cannot be read again: %s",
                      &amcf->audit_path, err);
        return;
    }

    a->tree = tree;
    a->needs_newline = newline;

    if (cp > a->last_cp_size) {
        a->last_cp_size = cp;
    }

    if (cp > a->cp_written) {
        a->cp_written = cp;
    }

    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "aigov: a worker died holding the audit log's lock; its "
                  "tree was read again from \"%V\": %uL records%s%s",
                  &amcf->audit_path, tree.size, rc ? "; " : "",
                  rc ? err : "");
}


/*
 * Under the lock: seqs, one write(), the leaves. The lines are the held
 * records (admissions and completions of this loop turn), then body (NULL:
 * only the held records). A line the
 * file got whole is a leaf, whatever happened to the rest; a line cut by
 * a failed write is torn, and the next line starts on a new one. A file
 * that nginx reopened (log rotation) and that is still empty first gets a
 * carry-over checkpoint, so that it verifies on its own and continues the
 * tree.
 */

static ngx_int_t
ngx_http_aigov_audit_append(ngx_http_aigov_main_conf_t *amcf,
    const char *body, size_t len, ngx_log_t *log)
{
    char                       *line, *end, *carry, *nl;
    u_char                     *p;
    size_t                      b, n, need, blen, written;
    uint8_t                     leaf[32];
    uint64_t                    seq;
    ngx_fd_t                    fd;
    ngx_int_t                   rc;
    ngx_err_t                   err;
    ngx_uint_t                  i, due, held, lost, committed, np;
    ngx_http_aigov_audit_sh_t  *a;

    a = amcf->audit;
    fd = amcf->audit_file->fd;
    held = ngx_http_aigov_audit_pend_n;
    committed = 0;
    np = 0;

    need = (body ? AIGOV_RECORD_LINE_MAX(len) : 0)
           + ngx_http_aigov_audit_pend_len + held * 32 + 1
           + ngx_http_aigov_audit_policy_room();

    if (need > ngx_http_aigov_audit_out_cap) {
        p = malloc(need);
        if (p == NULL) {
            ngx_http_aigov_audit_pend_n = 0;
            ngx_http_aigov_audit_pend_len = 0;
            ngx_http_aigov_audit_resolve(0);
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "aigov: out of memory for the audit log, %ui "
                          "held records not written", held);
            return NGX_ERROR;
        }

        free(ngx_http_aigov_audit_out);
        ngx_http_aigov_audit_out = p;
        ngx_http_aigov_audit_out_cap = need;
    }

    carry = NULL;
    rc = NGX_OK;
    lost = 0;

    ngx_http_aigov_audit_lock(amcf, log);

    if (fd != ngx_http_aigov_audit_fd || a->file_gen != ngx_http_aigov_audit_gen) {
        if (ngx_http_aigov_audit_follow(amcf, &carry) != NGX_OK) {
            lost = held;
            rc = NGX_ERROR;
            goto failed;
        }

        fd = amcf->audit_file->fd;
    }

    if (a->needs_newline) {
        if (ngx_http_aigov_audit_write(fd, "\n", 1, NULL) != NGX_OK) {
            lost = held;
            rc = NGX_ERROR;
            goto failed;
        }

        a->needs_newline = 0;
    }

    line = (char *) ngx_http_aigov_audit_out;
    end = line + ngx_http_aigov_audit_out_cap;
    seq = a->tree.size;
    n = 0;

    /* policy records first: the records after them may use the policies */
    np = ngx_http_aigov_audit_policy_lines(a, line, end - line, seq, &n);
    seq += np;
    ngx_http_aigov_audit_seq0 = seq;
    ngx_http_aigov_audit_body_seq = body ? seq + held + 1 : 0;

    p = ngx_http_aigov_audit_pend;

    for (i = 0; i < held; i++) {
        ngx_memcpy(&blen, p, sizeof(size_t));
        b = aigov_record_line(line + n, end - line - n, seq,
                              (char *) p + sizeof(size_t), blen);
        if (b == 0) {
            /* cannot happen with our own records; the waiting requests
             * count lines, so the whole batch fails rather than shift */
            lost = held;
            rc = NGX_ERROR;
            goto failed;
        }

        n += b;
        seq++;
        p += sizeof(size_t) + blen;
    }

    if (body) {
        b = aigov_record_line(line + n, end - line - n, seq, body, len);
        if (b == 0) {
            lost = held;
            rc = NGX_ERROR;
            goto failed;
        }

        n += b;
    }

    rc = ngx_http_aigov_audit_write(fd, line, n, &written);

    /* the leaf is the line without its newline */
    for (i = 0, p = (u_char *) line; (size_t) (p - (u_char *) line) < written;
         i++)
    {
        nl = memchr(p, '\n', written - (p - (u_char *) line));
        if (nl == NULL) {
            /* cut by the failed write: verify reports it as torn */
            a->needs_newline = 1;
            break;
        }

        aigov_leaf_hash(p, (u_char *) nl - p, leaf);
        aigov_tree_append(&a->tree, leaf);
        p = (u_char *) nl + 1;
    }

    /* every line written counts, policy records too */
    ngx_http_aigov_metrics_audit(i, written, 0);
    ngx_http_aigov_audit_policy_logged(a, ngx_min(i, np));
    committed = i > np ? i - np : 0;

    if (rc != NGX_OK) {
        lost = held > committed ? held - committed : 0;
        goto failed;
    }

    a->failing = 0;

    due = a->tree.size - a->last_cp_size >= amcf->cp_records;

    ngx_shmtx_unlock(amcf->audit_mutex);

    ngx_http_aigov_audit_pend_n = 0;
    ngx_http_aigov_audit_pend_len = 0;
    ngx_http_aigov_audit_resolve(committed);

    free(carry);

    if (due) {
        ngx_http_aigov_audit_checkpoint_now(amcf, 0, log);
    }

    return NGX_OK;

failed:

    /* the write's error, before unlocking and waking can change errno */
    err = ngx_errno;
    a->failing = 1;
    ngx_http_aigov_metrics_audit(0, 0, 1);

    ngx_shmtx_unlock(amcf->audit_mutex);

    ngx_http_aigov_audit_pend_n = 0;
    ngx_http_aigov_audit_pend_len = 0;
    ngx_http_aigov_audit_resolve(committed);

    if (lost) {
        ngx_log_error(NGX_LOG_ERR, log, err,
                      "aigov: cannot write to the audit log \"%V\", %ui "
                      "held records not written", &amcf->audit_path, lost);

    } else {
        ngx_log_error(NGX_LOG_ERR, log, err,
                      "aigov: cannot write to the audit log \"%V\"",
                      &amcf->audit_path);
    }

    free(carry);

    return NGX_ERROR;
}


/*
 * A checkpoint is claimed under the lock (size and compact range copied) and signed
 * and written outside it. It may land after records it does not cover;
 * verify expects that.
 */

static void
ngx_http_aigov_audit_checkpoint_now(ngx_http_aigov_main_conf_t *amcf,
    ngx_uint_t force, ngx_log_t *log)
{
    char                       *line, *carry;
    size_t                      len;
    uint64_t                    size;
    ngx_int_t                   rc;
    aigov_tree_t                tree;
    ngx_http_aigov_audit_sh_t  *a;

    a = amcf->audit;

    ngx_http_aigov_audit_lock(amcf, log);

    size = a->tree.size;

    if (size == a->last_cp_size
        || (!force && size - a->last_cp_size < amcf->cp_records
            && ngx_time() - a->last_cp_time < amcf->cp_time))
    {
        ngx_shmtx_unlock(amcf->audit_mutex);
        return;
    }

    tree = a->tree;
    a->last_cp_size = size;
    a->last_cp_time = ngx_time();

    ngx_shmtx_unlock(amcf->audit_mutex);

    /* with the compact range, so that a restart reads the log from here */
    line = aigov_checkpoint_carry_line(amcf->signer, &tree, &len);
    if (line == NULL) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "aigov: cannot sign the checkpoint of size %uL", size);
        return;
    }

    /* written under the lock, into the file records go to now */
    carry = NULL;

    ngx_http_aigov_audit_lock(amcf, log);

    if ((amcf->audit_file->fd != ngx_http_aigov_audit_fd
         || a->file_gen != ngx_http_aigov_audit_gen)
        && ngx_http_aigov_audit_follow(amcf, &carry) != NGX_OK)
    {
        rc = NGX_ERROR;

    } else if (size <= a->cp_written) {
        /*
         * Another worker claimed a larger size after this one and signed
         * faster (two workers leaving at once on reload, say), or a
         * rotation's carry-over checkpoint came first: written now, this
         * one would follow a larger checkpoint, which verify rightly
         * reports. The larger one covers these records.
         */
        rc = NGX_OK;

    } else {
        rc = ngx_http_aigov_audit_write(amcf->audit_file->fd, line, len,
                                        NULL);
        if (rc == NGX_OK) {
            a->cp_written = size;
            ngx_http_aigov_metrics_checkpoint();
        }
    }

    ngx_shmtx_unlock(amcf->audit_mutex);

    if (rc != NGX_OK) {
        ngx_http_aigov_metrics_audit(0, 0, 1);
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "aigov: cannot write a checkpoint to \"%V\"",
                      &amcf->audit_path);
    }

    free(carry);
    free(line);
}


static void
ngx_http_aigov_free_signer(void *data)
{
    aigov_signer_free(data);
}
