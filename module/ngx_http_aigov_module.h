
/*
 * aigov: the request context and configuration shared by the module's
 * files. nginx glue only; the decisions are made in lib/.
 */

#ifndef _NGX_HTTP_AIGOV_MODULE_H_INCLUDED_
#define _NGX_HTTP_AIGOV_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <request.h>
#include <identity.h>
#include <policy.h>
#include <filter.h>
#include <answer.h>
#include <quota.h>


#define NGX_HTTP_AIGOV_ID_LEN     32
#define NGX_HTTP_AIGOV_BUFFERED   0x08
#define NGX_HTTP_AIGOV_OUT_SIZE   8192


typedef struct {
    ngx_flag_t                 enable;
    size_t                     max_answer_size;
    size_t                     hold_back;

    ngx_str_t                  policy_path;
    aigov_policy_t            *policy;

    ngx_array_t               *jwt_keys;       /* ngx_str_t, full paths */
    ngx_str_t                  jwt_issuer;
    ngx_str_t                  jwt_audience;
    time_t                     jwt_leeway;
    ngx_uint_t                 jwt_cache;
    aigov_identity_t          *identity;
} ngx_http_aigov_loc_conf_t;


typedef struct {
    ngx_str_t                  path;
    aigov_policy_t            *policy;
} ngx_http_aigov_policy_ref_t;


typedef struct {
    aigov_plugin_host_t       *host;
    ngx_array_t                plugins;        /* ngx_str_t names */
    ngx_array_t                policies;       /* ngx_http_aigov_policy_ref_t */

    ngx_shm_zone_t            *shm_zone;
    size_t                     shm_size;
    ngx_shmtx_t                quota_mutex;
    void                      *quota;          /* lib/quota block in shm */
} ngx_http_aigov_main_conf_t;


typedef struct {
    ngx_shmtx_sh_t             quota_lock;
    void                      *quota;
} ngx_http_aigov_shctx_t;


typedef struct {
    u_char                     id[NGX_HTTP_AIGOV_ID_LEN];
    ngx_int_t                  status;        /* returned on phase re-entry */

    aigov_request_t            req;
    unsigned                   parsed:1;
    unsigned                   body_read:1;
    unsigned                   denied:1;      /* refusal prepared, not sent */

    const char                *err_code;
    char                      *err_message;
    time_t                     retry_after;

    json_t                    *claims;
    aigov_decision_t          *decision;
    unsigned                   decided:1;
    unsigned                   quota_held:1;
    unsigned                   prompt_filtered:1;
    aigov_quota_ticket_t       ticket;

    aigov_filter_spec_t       *specs;
    ngx_uint_t                 nspecs;
    aigov_filter_outcome_t     prompt_outcome;

    /* the answer */
    aigov_answer_t            *answer;
    ngx_chain_t               *in;
    ngx_chain_t               *free;
    ngx_chain_t               *busy;
    size_t                     unsent;
    off_t                      answer_bytes;
    unsigned                   stream:1;
    unsigned                   header_held:1;   /* JSON: sent when complete */
    unsigned                   answer_done:1;
    unsigned                   last_sent:1;
    unsigned                   logged:1;

    /* an nginx-generated error page is replaced by SPEC error JSON */
    ngx_str_t                  error_body;
    unsigned                   error_sent:1;

    ngx_http_request_t        *request;
} ngx_http_aigov_ctx_t;


extern ngx_module_t  ngx_http_aigov_module;


/* ngx_http_aigov_module.c */
ngx_http_aigov_ctx_t *ngx_http_aigov_get_ctx(ngx_http_request_t *r);
ngx_http_aigov_ctx_t *ngx_http_aigov_create_ctx(ngx_http_request_t *r);

/* ngx_http_aigov_access.c */
ngx_int_t ngx_http_aigov_access_handler(ngx_http_request_t *r);

/* ngx_http_aigov_error.c */
ngx_str_t *ngx_http_aigov_error_json(ngx_pool_t *pool, ngx_uint_t status,
    const char *code, const char *message);
ngx_int_t ngx_http_aigov_send_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *code, const char *message,
    time_t retry_after);
const char *ngx_http_aigov_error_type(ngx_uint_t status);

/* ngx_http_aigov_log.c */
ngx_int_t ngx_http_aigov_log_handler(ngx_http_request_t *r);

/* ngx_http_aigov_filter.c */
ngx_int_t ngx_http_aigov_filter_init(ngx_conf_t *cf);


#endif /* _NGX_HTTP_AIGOV_MODULE_H_INCLUDED_ */
