
/*
 * aigov: Prometheus metrics and nginx variables.
 *
 * `aigov_metrics;` in a location answers with the exposition of lib/metrics.
 * The counters live in their own shared zone ("aigov_metrics", sized by
 * aigov_metrics_memory), which a reload keeps when its size is unchanged;
 * the names the new policies give are interned into it by the master, so
 * old and new workers count into one block. Counting is on only where a
 * configuration has an aigov_metrics location: without a reader there is
 * nothing to pay for.
 *
 * Most counting happens once per request, from the log handler, which sees
 * how the request ended. Two stamps need their own moment: proxying (a
 * precontent handler) and the answer's first and last byte from upstream
 * (a body filter that runs before aigov's own).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <time.h>

#include <metrics.h>

#include "ngx_http_aigov_module.h"


typedef struct {
    ngx_flag_t                 enabled;
    size_t                     size;
    ngx_shm_zone_t            *zone;
    void                      *mem;
    aigov_metrics_names_t     *names;
    ngx_http_aigov_main_conf_t *amcf;
} ngx_http_aigov_metrics_main_conf_t;


static void *ngx_http_aigov_metrics_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_aigov_metrics_init_main_conf(ngx_conf_t *cf, void *conf);
static ngx_int_t ngx_http_aigov_metrics_preconf(ngx_conf_t *cf);
static ngx_int_t ngx_http_aigov_metrics_postconf(ngx_conf_t *cf);
static char *ngx_http_aigov_metrics(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_aigov_metrics_init_zone(ngx_shm_zone_t *zone,
    void *data);
static ngx_int_t ngx_http_aigov_metrics_init_process(ngx_cycle_t *cycle);
static void ngx_http_aigov_metrics_exit_process(ngx_cycle_t *cycle);
static void ngx_http_aigov_metrics_flush(ngx_event_t *ev);
static ngx_int_t ngx_http_aigov_metrics_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_aigov_metrics_proxying(ngx_http_request_t *r);
static ngx_int_t ngx_http_aigov_metrics_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_aigov_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static void ngx_http_aigov_metrics_free_names(void *data);


static ngx_http_output_body_filter_pt  ngx_http_next_body_filter;

/* this worker's block, for the audit writer, which has no request */
static void  *ngx_http_aigov_metrics_mem;

/*
 * This worker's counts, added to the block within
 * NGX_HTTP_AIGOV_METRICS_FLUSH ms: two workers adding to the same series
 * with atomics on every request cost about 5% of the full stack's
 * throughput (each counter's cache line went from core to core).
 */
#define NGX_HTTP_AIGOV_METRICS_FLUSH  50

static aigov_metrics_batch_t  *ngx_http_aigov_metrics_batch;
static ngx_event_t             ngx_http_aigov_metrics_flush_ev;


static ngx_command_t  ngx_http_aigov_metrics_commands[] = {

    { ngx_string("aigov_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_aigov_metrics,
      0,
      0,
      NULL },

    { ngx_string("aigov_metrics_memory"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_aigov_metrics_main_conf_t, size),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_aigov_metrics_module_ctx = {
    ngx_http_aigov_metrics_preconf,          /* preconfiguration */
    ngx_http_aigov_metrics_postconf,         /* postconfiguration */

    ngx_http_aigov_metrics_create_main_conf, /* create main configuration */
    ngx_http_aigov_metrics_init_main_conf,   /* init main configuration */

    NULL,                                    /* create server configuration */
    NULL,                                    /* merge server configuration */

    NULL,                                    /* create location configuration */
    NULL                                     /* merge location configuration */
};


ngx_module_t  ngx_http_aigov_metrics_module = {
    NGX_MODULE_V1,
    &ngx_http_aigov_metrics_module_ctx,      /* module context */
    ngx_http_aigov_metrics_commands,         /* module directives */
    NGX_HTTP_MODULE,                         /* module type */
    NULL,                                    /* init master */
    NULL,                                    /* init module */
    ngx_http_aigov_metrics_init_process,     /* init process */
    NULL,                                    /* init thread */
    NULL,                                    /* exit thread */
    ngx_http_aigov_metrics_exit_process,     /* exit process */
    NULL,                                    /* exit master */
    NGX_MODULE_V1_PADDING
};


enum {
    NGX_HTTP_AIGOV_V_ID = 0,
    NGX_HTTP_AIGOV_V_SUB,
    NGX_HTTP_AIGOV_V_RULE,
    NGX_HTTP_AIGOV_V_DECISION,
    NGX_HTTP_AIGOV_V_CODE,
    NGX_HTTP_AIGOV_V_MODEL,
    NGX_HTTP_AIGOV_V_FILTERS,
    NGX_HTTP_AIGOV_V_PROMPT_TOKENS,
    NGX_HTTP_AIGOV_V_COMPLETION_TOKENS,
    NGX_HTTP_AIGOV_V_AUDIT_SEQ
};


static ngx_http_variable_t  ngx_http_aigov_vars[] = {
    { ngx_string("aigov_request_id"), NULL, ngx_http_aigov_variable,
      NGX_HTTP_AIGOV_V_ID, NGX_HTTP_VAR_NOCACHEABLE, 0 },
    { ngx_string("aigov_sub"), NULL, ngx_http_aigov_variable,
      NGX_HTTP_AIGOV_V_SUB, NGX_HTTP_VAR_NOCACHEABLE, 0 },
    { ngx_string("aigov_rule"), NULL, ngx_http_aigov_variable,
      NGX_HTTP_AIGOV_V_RULE, NGX_HTTP_VAR_NOCACHEABLE, 0 },
    { ngx_string("aigov_decision"), NULL, ngx_http_aigov_variable,
      NGX_HTTP_AIGOV_V_DECISION, NGX_HTTP_VAR_NOCACHEABLE, 0 },
    { ngx_string("aigov_code"), NULL, ngx_http_aigov_variable,
      NGX_HTTP_AIGOV_V_CODE, NGX_HTTP_VAR_NOCACHEABLE, 0 },
    { ngx_string("aigov_model"), NULL, ngx_http_aigov_variable,
      NGX_HTTP_AIGOV_V_MODEL, NGX_HTTP_VAR_NOCACHEABLE, 0 },
    { ngx_string("aigov_filters"), NULL, ngx_http_aigov_variable,
      NGX_HTTP_AIGOV_V_FILTERS, NGX_HTTP_VAR_NOCACHEABLE, 0 },
    { ngx_string("aigov_prompt_tokens"), NULL, ngx_http_aigov_variable,
      NGX_HTTP_AIGOV_V_PROMPT_TOKENS, NGX_HTTP_VAR_NOCACHEABLE, 0 },
    { ngx_string("aigov_completion_tokens"), NULL, ngx_http_aigov_variable,
      NGX_HTTP_AIGOV_V_COMPLETION_TOKENS, NGX_HTTP_VAR_NOCACHEABLE, 0 },
    { ngx_string("aigov_audit_seq"), NULL, ngx_http_aigov_variable,
      NGX_HTTP_AIGOV_V_AUDIT_SEQ, NGX_HTTP_VAR_NOCACHEABLE, 0 },
      ngx_http_null_variable
};


static uint64_t
ngx_http_aigov_metrics_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


static void *
ngx_http_aigov_metrics_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_aigov_metrics_main_conf_t  *mmcf;

    mmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_aigov_metrics_main_conf_t));
    if (mmcf == NULL) {
        return NULL;
    }

    mmcf->size = NGX_CONF_UNSET_SIZE;

    return mmcf;
}


static char *
ngx_http_aigov_metrics_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_aigov_metrics_main_conf_t  *mmcf = conf;

    ngx_str_t            name = ngx_string("aigov_metrics");
    ngx_pool_cleanup_t  *cln;

    ngx_conf_init_size_value(mmcf->size, 1024 * 1024);

    if (!mmcf->enabled) {
        return NGX_CONF_OK;
    }

    if (mmcf->size < aigov_metrics_min_size() + 8 * ngx_pagesize) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "aigov_metrics_memory of %uz bytes is too small, "
                           "at least %uz are needed", mmcf->size,
                           aigov_metrics_min_size() + 8 * ngx_pagesize);
        return NGX_CONF_ERROR;
    }

    mmcf->zone = ngx_shared_memory_add(cf, &name, mmcf->size,
                                       &ngx_http_aigov_metrics_module);
    if (mmcf->zone == NULL) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_aigov_metrics_free_names;
    cln->data = mmcf;

    mmcf->amcf = ngx_http_conf_get_module_main_conf(cf,
                                                    ngx_http_aigov_module);

    mmcf->zone->init = ngx_http_aigov_metrics_init_zone;
    mmcf->zone->data = mmcf;

    return NGX_CONF_OK;
}


static char *
ngx_http_aigov_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t            *clcf;
    ngx_http_aigov_metrics_main_conf_t  *mmcf;

    mmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_aigov_metrics_module);
    mmcf->enabled = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_aigov_metrics_handler;

    return NGX_CONF_OK;
}


/*
 * The block is one slab allocation, made once: a reload that keeps the
 * zone finds it in shpool->data and only interns the new policies' names.
 */

static ngx_int_t
ngx_http_aigov_metrics_init_zone(ngx_shm_zone_t *zone, void *data)
{
    size_t                               size;
    ngx_uint_t                           i;
    ngx_str_t                           *plugin;
    ngx_slab_pool_t                     *shpool;
    ngx_http_aigov_policy_ref_t         *ref;
    ngx_http_aigov_main_conf_t          *amcf;
    ngx_http_aigov_metrics_main_conf_t  *mmcf;

    mmcf = zone->data;
    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    if (shpool->data == NULL) {
        size = zone->shm.size - 8 * ngx_pagesize;

        shpool->data = ngx_slab_alloc(shpool, size);
        if (shpool->data == NULL) {
            return NGX_ERROR;
        }

        if (aigov_metrics_init(shpool->data, size) < 0) {
            return NGX_ERROR;
        }
    }

    mmcf->mem = shpool->data;

    mmcf->names = aigov_metrics_names_new(mmcf->mem);
    if (mmcf->names == NULL) {
        return NGX_ERROR;
    }

    /* the policies and plugins of this configuration, named once */
    amcf = mmcf->amcf;

    if (amcf) {
        ref = amcf->policies.elts;
        for (i = 0; i < amcf->policies.nelts; i++) {
            if (aigov_metrics_names_add_policy(mmcf->names, ref[i].policy)
                != 0)
            {
                return NGX_ERROR;
            }
        }

        plugin = amcf->plugins.elts;
        for (i = 0; i < amcf->plugins.nelts; i++) {
            (void) aigov_metrics_name(mmcf->mem, (char *) plugin[i].data);
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_aigov_metrics_init_process(ngx_cycle_t *cycle)
{
    ngx_http_aigov_metrics_main_conf_t  *mmcf;

    mmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_aigov_metrics_module);

    ngx_http_aigov_metrics_mem = mmcf ? mmcf->mem : NULL;

    if (ngx_http_aigov_metrics_mem == NULL) {
        return NGX_OK;
    }

    /* without a batch every count goes to the block at once */
    ngx_http_aigov_metrics_batch = aigov_metrics_batch_new();

    ngx_http_aigov_metrics_flush_ev.handler = ngx_http_aigov_metrics_flush;
    ngx_http_aigov_metrics_flush_ev.log = cycle->log;
    ngx_http_aigov_metrics_flush_ev.cancelable = 1;

    return NGX_OK;
}


static void
ngx_http_aigov_metrics_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_aigov_metrics_flush(NULL);

    aigov_metrics_batch_free(ngx_http_aigov_metrics_batch);
    ngx_http_aigov_metrics_batch = NULL;
}


static void
ngx_http_aigov_metrics_flush(ngx_event_t *ev)
{
    if (ngx_http_aigov_metrics_mem) {
        aigov_metrics_batch_flush(ngx_http_aigov_metrics_batch,
                                  ngx_http_aigov_metrics_mem);
    }
}


/* the batch holds counts: they reach the block when the timer fires */
static void
ngx_http_aigov_metrics_later(void)
{
    if (ngx_http_aigov_metrics_batch
        && !ngx_http_aigov_metrics_flush_ev.timer_set)
    {
        ngx_add_timer(&ngx_http_aigov_metrics_flush_ev,
                      NGX_HTTP_AIGOV_METRICS_FLUSH);
    }
}


static void
ngx_http_aigov_m_add(void *mem, aigov_metric_t m, const unsigned *lv,
    int64_t delta)
{
    aigov_metrics_batch_add(ngx_http_aigov_metrics_batch, mem, m, lv, delta);
    ngx_http_aigov_metrics_later();
}


static void
ngx_http_aigov_m_observe(void *mem, aigov_metric_t m, const unsigned *lv,
    uint64_t value)
{
    aigov_metrics_batch_observe(ngx_http_aigov_metrics_batch, mem, m, lv,
                                value);
    ngx_http_aigov_metrics_later();
}


static void
ngx_http_aigov_metrics_free_names(void *data)
{
    ngx_http_aigov_metrics_main_conf_t  *mmcf = data;

    aigov_metrics_names_free(mmcf->names);
    mmcf->names = NULL;
}


static ngx_int_t
ngx_http_aigov_metrics_preconf(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_aigov_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_aigov_metrics_postconf(ngx_conf_t *cf)
{
    ngx_http_handler_pt                 *h;
    ngx_http_core_main_conf_t           *cmcf;
    ngx_http_aigov_metrics_main_conf_t  *mmcf;

    mmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_aigov_metrics_module);
    if (!mmcf->enabled) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_aigov_metrics_proxying;

    /* runs before aigov's own body filter: it sees upstream's bytes */
    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_aigov_metrics_body_filter;

    return NGX_OK;
}


/* from ngx_http_aigov_create_ctx: the request's arrival */

void
ngx_http_aigov_metrics_start(ngx_http_request_t *r, ngx_http_aigov_ctx_t *ctx)
{
    ngx_http_aigov_metrics_main_conf_t  *mmcf;

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_aigov_metrics_module);

    if (mmcf->mem) {
        ctx->m_start = ngx_http_aigov_metrics_now();
    }
}


static ngx_int_t
ngx_http_aigov_metrics_proxying(ngx_http_request_t *r)
{
    ngx_http_aigov_ctx_t                *ctx;
    ngx_http_aigov_metrics_main_conf_t  *mmcf;

    if (r != r->main) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_aigov_module);
    if (ctx == NULL || ctx->m_proxy || ctx->m_start == 0) {
        return NGX_DECLINED;
    }

    ctx->m_proxy = ngx_http_aigov_metrics_now();

    if (ctx->quota_held && !ctx->m_open) {
        mmcf = ngx_http_get_module_main_conf(r,
                                             ngx_http_aigov_metrics_module);
        ctx->m_open = 1;
        ngx_http_aigov_m_add(mmcf->mem, AIGOV_M_QUOTA_OPEN, NULL, 1);
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_aigov_metrics_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_chain_t           *cl;
    ngx_http_aigov_ctx_t  *ctx;

    if (r != r->main || in == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_aigov_module);
    if (ctx == NULL || ctx->m_proxy == 0 || ctx->m_last) {
        return ngx_http_next_body_filter(r, in);
    }

    for (cl = in; cl; cl = cl->next) {
        if (ctx->m_first == 0 && ngx_buf_size(cl->buf) > 0) {
            ctx->m_first = ngx_http_aigov_metrics_now();
        }

        if (cl->buf->last_buf) {
            ctx->m_last = ngx_http_aigov_metrics_now();
        }
    }

    return ngx_http_next_body_filter(r, in);
}


/* identity stats are per worker and per handle: the log phase adds what
 * grew since this worker last looked */

typedef struct {
    aigov_identity_t  *id;
    uint64_t           hits;
    uint64_t           sigs;
} ngx_http_aigov_metrics_id_seen_t;

static ngx_http_aigov_metrics_id_seen_t  ngx_http_aigov_metrics_ids[16];


static void
ngx_http_aigov_metrics_identity(void *mem, aigov_identity_t *id)
{
    uint64_t                           hits, sigs;
    ngx_uint_t                         i;
    ngx_http_aigov_metrics_id_seen_t  *s;

    s = NULL;

    for (i = 0; i < 16; i++) {
        if (ngx_http_aigov_metrics_ids[i].id == id
            || ngx_http_aigov_metrics_ids[i].id == NULL)
        {
            s = &ngx_http_aigov_metrics_ids[i];
            break;
        }
    }

    if (s == NULL) {
        return;
    }

    s->id = id;

    aigov_identity_stats(id, &hits, NULL, &sigs);

    if (hits > s->hits) {
        ngx_http_aigov_m_add(mem, AIGOV_M_ID_CACHE_HITS, NULL,
                             (int64_t) (hits - s->hits));
    }

    if (sigs > s->sigs) {
        ngx_http_aigov_m_add(mem, AIGOV_M_ID_SIGNATURES, NULL,
                             (int64_t) (sigs - s->sigs));
    }

    s->hits = hits;
    s->sigs = sigs;
}


static void
ngx_http_aigov_metrics_filters(void *mem, const aigov_filter_outcome_t *oc)
{
    size_t    i;
    unsigned  lv[3];

    for (i = 0; oc && i < oc->nrecords; i++) {
        lv[0] = aigov_metrics_name(mem, oc->records[i].plugin);
        lv[1] = oc->records[i].stage == AIGOV_STAGE_REQUEST
                ? AIGOV_MS_REQUEST : AIGOV_MS_RESPONSE;
        lv[2] = aigov_metrics_verdict(oc->records[i].verdict);

        ngx_http_aigov_m_add(mem, AIGOV_M_FILTER_VERDICTS, lv, 1);

        if (ngx_strcmp(oc->records[i].verdict, "error") == 0) {
            ngx_http_aigov_m_add(mem, AIGOV_M_PLUGIN_ERRORS, lv, 1);
        }
    }
}


/*
 * What the request's filter instances cost since they were last counted
 * (by this or an earlier request of this worker: instances are shared).
 */

static void
ngx_http_aigov_metrics_plugins(void *mem, ngx_http_aigov_ctx_t *ctx)
{
    uint64_t    calls, ns;
    unsigned    lv[1];
    ngx_uint_t  i;

    for (i = 0; i < ctx->nspecs; i++) {
        if (ctx->specs[i].inst == NULL) {
            continue;
        }

        aigov_filter_stats_take(ctx->specs[i].inst, &calls, &ns);

        if (calls == 0) {
            continue;
        }

        lv[0] = aigov_metrics_name(mem, ctx->specs[i].plugin);
        ngx_http_aigov_m_add(mem, AIGOV_M_PLUGIN_CALLS, lv, (int64_t) calls);
        ngx_http_aigov_m_add(mem, AIGOV_M_PLUGIN_SECONDS, lv, (int64_t) ns);
    }
}


/*
 * From the log handler, once per governed request, before the quota is
 * settled: everything the request did, counted.
 */

void
ngx_http_aigov_metrics_request(ngx_http_request_t *r, ngx_http_aigov_ctx_t *ctx)
{
    void                                *mem;
    unsigned                             lv[5], ml[3], model, op;
    long long                            pt, ct;
    ngx_uint_t                           status;
    aigov_policy_limits_t               *pl;
    ngx_uint_t                           tokens;
    ngx_http_aigov_loc_conf_t           *alcf;
    ngx_http_aigov_metrics_main_conf_t  *mmcf;

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_aigov_metrics_module);
    mem = mmcf->mem;

    if (mem == NULL) {
        return;
    }

    status = r->headers_out.status;
    if (r->connection->error && status < NGX_HTTP_BAD_REQUEST) {
        status = 499;
    }

    model = aigov_metrics_names_model(mmcf->names, ctx->req.model);

    lv[0] = aigov_metrics_endpoint(ctx->req.endpoint);
    lv[1] = model;
    lv[2] = ctx->decision
            ? aigov_metrics_names_rule(mmcf->names, ctx->policy,
                                       ctx->decision->rule_index)
            : aigov_metrics_names_rule(mmcf->names, NULL, 0);
    lv[3] = ctx->err_code ? AIGOV_MD_DENY : AIGOV_MD_ALLOW;
    lv[4] = aigov_metrics_status(status);

    ngx_http_aigov_m_add(mem, AIGOV_M_REQUESTS, lv, 1);

    if (ctx->err_code) {
        lv[0] = aigov_metrics_name(mem, ctx->err_code);
        ngx_http_aigov_m_add(mem, AIGOV_M_REFUSALS, lv, 1);

        if (status == NGX_HTTP_UNAUTHORIZED) {
            ngx_http_aigov_m_add(mem, AIGOV_M_ID_REFUSALS, lv, 1);
        }

        if (ngx_strcmp(ctx->err_code, "audit_unavailable") == 0) {
            ngx_http_aigov_m_add(mem, AIGOV_M_AUDIT_REFUSALS, NULL, 1);
        }

        if (ngx_strcmp(ctx->err_code, "quota_exceeded") == 0) {
            lv[0] = aigov_metrics_quota_limit(ctx->err_message);
            ngx_http_aigov_m_add(mem, AIGOV_M_QUOTA_REFUSALS, lv, 1);
        }
    }

    /* identity: a handle here, and claims from it, mean a verified token */
    alcf = ngx_http_get_module_loc_conf(r, ngx_http_aigov_module);

    if (alcf->identity) {
        if (ctx->claims && status != NGX_HTTP_UNAUTHORIZED) {
            ngx_http_aigov_m_add(mem, AIGOV_M_ID_VERIFIED, NULL, 1);
        }

        ngx_http_aigov_metrics_identity(mem, alcf->identity);
    }

    ngx_http_aigov_metrics_filters(mem, &ctx->prompt_outcome);
    ngx_http_aigov_metrics_plugins(mem, ctx);

    if (ctx->answer) {
        ngx_http_aigov_metrics_filters(mem, aigov_answer_outcome(ctx->answer));
    }

    /* quotas: admitted under a limit when the ticket names a window */
    if (ctx->decision && ctx->ticket.minute) {
        pl = &ctx->decision->limits;

        if (pl->requests_per_minute > 0) {
            lv[0] = AIGOV_ML_REQUESTS_PER_MINUTE;
            ngx_http_aigov_m_add(mem, AIGOV_M_QUOTA_ADMISSIONS, lv, 1);
        }

        /* count_tokens is admitted on its request count alone */
        tokens = ctx->req.endpoint != AIGOV_EP_COUNT_TOKENS;

        if (tokens && pl->tokens_per_minute > 0) {
            lv[0] = AIGOV_ML_TOKENS_PER_MINUTE;
            ngx_http_aigov_m_add(mem, AIGOV_M_QUOTA_ADMISSIONS, lv, 1);
        }

        if (tokens && pl->tokens_per_day > 0) {
            lv[0] = AIGOV_ML_TOKENS_PER_DAY;
            ngx_http_aigov_m_add(mem, AIGOV_M_QUOTA_ADMISSIONS, lv, 1);
        }
    }

    pt = -1;
    ct = -1;
    if (ctx->answer) {
        (void) aigov_answer_usage(ctx->answer, &pt, &ct);
    }

    /* where the quota was decided, as the audit record says: an operator
     * sees how many requests Redis decided and how many its fail mode
     * took (local: fail=local or no Redis; none: fail=open) */
    if (ctx->quota_store) {
        lv[0] = aigov_metrics_quota_store(ctx->quota_store);
        ngx_http_aigov_m_add(mem, AIGOV_M_QUOTA_STORE, lv, 1);
    }

    /* settled as ngx_http_aigov_usage decided, before this was called */
    if (ctx->quota_held) {
        lv[0] = ctx->usage_how == NGX_HTTP_AIGOV_USAGE_REPORTED
                ? AIGOV_MU_REPORTED
                : ctx->usage_how == NGX_HTTP_AIGOV_USAGE_ESTIMATED
                ? AIGOV_MU_ESTIMATED : AIGOV_MU_NONE;
        ngx_http_aigov_m_add(mem, AIGOV_M_QUOTA_SETTLEMENTS, lv, 1);
    }

    if (ctx->m_open) {
        ctx->m_open = 0;
        ngx_http_aigov_m_add(mem, AIGOV_M_QUOTA_OPEN, NULL, -1);
    }

    /* OpenTelemetry's GenAI metrics, for proxied requests */
    if (ctx->m_proxy == 0) {
        return;
    }

    lv[0] = aigov_metrics_endpoint(ctx->req.endpoint);
    ngx_http_aigov_m_observe(mem, AIGOV_M_GATEWAY_DURATION, lv,
                             ctx->m_proxy - ctx->m_start);

    op = aigov_metrics_operation(ctx->req.endpoint);
    ml[0] = op;
    ml[1] = model;

    if (ctx->m_last == 0) {
        ctx->m_last = ngx_http_aigov_metrics_now();
    }

    ngx_http_aigov_m_observe(mem, AIGOV_M_SERVER_DURATION, ml,
                             ctx->m_last - ctx->m_proxy);

    if (pt >= 0) {
        ml[2] = AIGOV_MT_INPUT;
        ngx_http_aigov_m_observe(mem, AIGOV_M_TOKEN_USAGE, ml,
                                 (uint64_t) pt);
    }

    if (ct >= 0) {
        ml[2] = AIGOV_MT_OUTPUT;
        ngx_http_aigov_m_observe(mem, AIGOV_M_TOKEN_USAGE, ml,
                                 (uint64_t) ct);
    }

    if (ctx->req.stream && ctx->m_first
        && status >= NGX_HTTP_OK && status < NGX_HTTP_SPECIAL_RESPONSE)
    {
        ngx_http_aigov_m_observe(mem, AIGOV_M_TIME_TO_FIRST_TOKEN, ml,
                                 ctx->m_first - ctx->m_proxy);

        if (ct > 1) {
            ngx_http_aigov_m_observe(mem, AIGOV_M_TIME_PER_TOKEN, ml,
                                     (ctx->m_last - ctx->m_first)
                                     / (uint64_t) (ct - 1));
        }
    }
}


/* from the audit writer: lines that reached the file whole, their bytes,
 * and whether the write failed */

void
ngx_http_aigov_metrics_audit(ngx_uint_t records, size_t bytes,
    ngx_uint_t failed)
{
    void  *mem = ngx_http_aigov_metrics_mem;

    if (mem == NULL) {
        return;
    }

    if (records) {
        ngx_http_aigov_m_add(mem, AIGOV_M_AUDIT_RECORDS, NULL, records);
    }

    if (bytes) {
        ngx_http_aigov_m_add(mem, AIGOV_M_AUDIT_BYTES, NULL, bytes);
    }

    if (failed) {
        ngx_http_aigov_m_add(mem, AIGOV_M_AUDIT_FAILURES, NULL, 1);
    }
}


void
ngx_http_aigov_metrics_checkpoint(void)
{
    if (ngx_http_aigov_metrics_mem) {
        ngx_http_aigov_m_add(ngx_http_aigov_metrics_mem,
                          AIGOV_M_AUDIT_CHECKPOINTS, NULL, 1);
    }
}


/* changes of the kept body buffers (ngx_http_aigov_access.c), in bytes */

void
ngx_http_aigov_metrics_body(ssize_t kept, ssize_t lent, ngx_uint_t missed)
{
    void  *mem = ngx_http_aigov_metrics_mem;

    if (mem == NULL) {
        return;
    }

    if (kept) {
        ngx_http_aigov_m_add(mem, AIGOV_M_BODY_KEPT, NULL, kept);
    }

    if (lent) {
        ngx_http_aigov_m_add(mem, AIGOV_M_BODY_LENT, NULL, lent);
    }

    if (missed) {
        ngx_http_aigov_m_add(mem, AIGOV_M_BODY_MISSED, NULL, missed);
    }
}


static ngx_int_t
ngx_http_aigov_metrics_handler(ngx_http_request_t *r)
{
    char                                *text;
    size_t                               len, tracked, n;
    ngx_int_t                            rc;
    ngx_buf_t                           *b;
    ngx_chain_t                          out;
    unsigned long long                   full, reused;
    aigov_metrics_gauge_t                g[3];
    ngx_http_aigov_main_conf_t          *amcf;
    ngx_http_aigov_metrics_main_conf_t  *mmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_aigov_metrics_module);
    amcf = ngx_http_get_module_main_conf(r, ngx_http_aigov_module);

    n = 0;

    if (amcf->audit) {
        ngx_http_aigov_lock(amcf->audit_mutex);
        g[0].value = (double) (amcf->audit->tree.size
                               - amcf->audit->cp_written);
        g[1].value = (double) (ngx_time() - amcf->audit->last_cp_time);
        ngx_shmtx_unlock(amcf->audit_mutex);

        g[0].name = "aigov_audit_records_unsigned";
        g[0].help = "Records in the audit log not yet covered by a "
                    "written checkpoint.";
        g[1].name = "aigov_audit_seconds_since_checkpoint";
        g[1].help = "Seconds since the last checkpoint was claimed "
                    "for signing.";
        n = 2;
    }

    if (amcf->quota) {
        ngx_http_aigov_lock(amcf->quota_mutex);
        aigov_quota_stats(amcf->quota, &tracked, &full, &reused);
        ngx_shmtx_unlock(amcf->quota_mutex);

        g[n].name = "aigov_quota_subjects_tracked";
        g[n].help = "Subjects whose quota counters are kept.";
        g[n].value = (double) tracked;
        n++;
    }

    /* this worker's own counts are in the answer at once */
    aigov_metrics_batch_flush(ngx_http_aigov_metrics_batch, mmcf->mem);

    text = aigov_metrics_text(mmcf->mem, g, n, &len);
    if (text == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b = ngx_create_temp_buf(r->pool, len ? len : 1);
    if (b == NULL) {
        free(text);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_cpymem(b->pos, text, len);
    free(text);

    b->last_buf = (r == r->main);
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = len;
    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = sizeof("text/plain") - 1;

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* ---- variables ---- */

static ngx_int_t
ngx_http_aigov_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    u_char                        *p;
    size_t                         len, i, k;
    long long                      pt, ct;
    const char                    *s;
    ngx_http_aigov_ctx_t          *ctx;
    const aigov_filter_outcome_t  *oc[2];

    ctx = ngx_http_aigov_get_ctx(r->main);

    v->not_found = 1;

    if (ctx == NULL) {
        return NGX_OK;
    }

    s = NULL;
    pt = -1;
    ct = -1;

    switch (data) {

    case NGX_HTTP_AIGOV_V_ID:
        s = (const char *) ctx->id;
        break;

    case NGX_HTTP_AIGOV_V_SUB:
        s = ctx->decision ? ctx->decision->subject : NULL;
        break;

    case NGX_HTTP_AIGOV_V_RULE:
        s = ctx->decision ? ctx->decision->rule : NULL;
        break;

    case NGX_HTTP_AIGOV_V_DECISION:
        if (ctx->err_code) {
            s = "deny";

        } else if (ctx->decided || ctx->status == NGX_DECLINED) {
            s = "allow";
        }
        break;

    case NGX_HTTP_AIGOV_V_CODE:
        s = ctx->err_code;
        if (s == NULL && ctx->answer && aigov_answer_blocked(ctx->answer)) {
            s = aigov_answer_outcome(ctx->answer)->block_plugin;
        }
        break;

    case NGX_HTTP_AIGOV_V_MODEL:
        s = ctx->req.model;
        break;

    case NGX_HTTP_AIGOV_V_PROMPT_TOKENS:
    case NGX_HTTP_AIGOV_V_COMPLETION_TOKENS:
        if (ctx->answer) {
            (void) aigov_answer_usage(ctx->answer, &pt, &ct);
        }

        pt = (data == NGX_HTTP_AIGOV_V_PROMPT_TOKENS) ? pt : ct;
        if (pt < 0) {
            return NGX_OK;
        }

        p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        v->len = ngx_sprintf(p, "%L", pt) - p;
        v->data = p;
        goto found;

    case NGX_HTTP_AIGOV_V_AUDIT_SEQ:
        if (ctx->audit_seq == 0) {
            return NGX_OK;
        }

        p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        v->len = ngx_sprintf(p, "%uL", ctx->audit_seq - 1) - p;
        v->data = p;
        goto found;

    case NGX_HTTP_AIGOV_V_FILTERS:
        /* plugin:stage:verdict[:count], comma-separated */
        oc[0] = &ctx->prompt_outcome;
        oc[1] = ctx->answer ? aigov_answer_outcome(ctx->answer) : NULL;

        len = 0;
        for (k = 0; k < 2; k++) {
            for (i = 0; oc[k] && i < oc[k]->nrecords; i++) {
                len += ngx_strlen(oc[k]->records[i].plugin)
                       + sizeof(":response:") + 8 + NGX_SIZE_T_LEN;
            }
        }

        if (len == 0) {
            return NGX_OK;
        }

        p = ngx_pnalloc(r->pool, len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        v->data = p;

        for (k = 0; k < 2; k++) {
            for (i = 0; oc[k] && i < oc[k]->nrecords; i++) {
                if (p != v->data) {
                    *p++ = ',';
                }

                p = ngx_sprintf(p, "%s:%s:%s", oc[k]->records[i].plugin,
                                oc[k]->records[i].stage == AIGOV_STAGE_REQUEST
                                ? "request" : "response",
                                oc[k]->records[i].verdict);

                if (oc[k]->records[i].count) {
                    p = ngx_sprintf(p, ":%uz", oc[k]->records[i].count);
                }
            }
        }

        v->len = p - v->data;
        goto found;
    }

    if (s == NULL || *s == '\0') {
        return NGX_OK;
    }

    v->data = (u_char *) s;
    v->len = ngx_strlen(s);

found:

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}
