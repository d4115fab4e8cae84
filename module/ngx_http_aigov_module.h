
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
#include <audit.h>
#include <sha256.h>
#include <hex.h>
#include <hmac.h>

#include <openssl/evp.h>


#define NGX_HTTP_AIGOV_ID_LEN     32
#define NGX_HTTP_AIGOV_BUFFERED   0x08
#define NGX_HTTP_AIGOV_OUT_SIZE   8192
/* a stream's events are a few hundred bytes: its buffers are smaller, as
 * thousands of streams stay open at once */
#define NGX_HTTP_AIGOV_STREAM_OUT_SIZE  2048
/* what may wait for a slow client before the filter stops taking input */
#define NGX_HTTP_AIGOV_UNSENT_MAX  (8 * NGX_HTTP_AIGOV_OUT_SIZE)


/* the IdP's JWKS, fetched through an internal location (one per worker) */
typedef struct {
    ngx_str_t                  uri;
    time_t                     refresh;
    time_t                     last_try;
    time_t                     fetched;
    ngx_uint_t                 busy;
    aigov_identity_t          *identity;
} ngx_http_aigov_jwks_t;


typedef struct {
    ngx_flag_t                 enable;
    size_t                     max_answer_size;
    size_t                     hold_back;
    ngx_msec_t                 hold_time;      /* 0: no time bound */

    ngx_str_t                  policy_path;
    aigov_policy_t            *policy;

    ngx_array_t               *jwt_keys;       /* ngx_str_t, full paths */
    ngx_str_t                  jwt_issuer;     /* values joined by NUL */
    ngx_str_t                  jwt_audience;   /* values joined by NUL */
    ngx_str_t                  jwt_typ;        /* values joined by NUL */
    time_t                     jwt_max_lifetime;
    ngx_str_t                  jwt_jwks;       /* internal location */
    time_t                     jwt_jwks_refresh;
    ngx_http_aigov_jwks_t     *jwks;
    time_t                     jwt_leeway;
    ngx_uint_t                 jwt_cache;
    aigov_identity_t          *identity;
} ngx_http_aigov_loc_conf_t;


typedef struct {
    ngx_str_t                  path;
    aigov_policy_t            *policy;
} ngx_http_aigov_policy_ref_t;


#define NGX_HTTP_AIGOV_POLICIES_MAX  64

/* the audit log's state, shared by all workers, behind audit_lock */
typedef struct {
    ngx_shmtx_sh_t             lock;
    ngx_shmtx_t                mutex;      /* its semaphore must be shared */
    aigov_tree_t               tree;
    uint64_t                   last_cp_size;   /* newest checkpoint claimed */
    uint64_t                   cp_written;     /* newest checkpoint in the file */
    time_t                     last_cp_time;
    dev_t                      dev;            /* the file appended to */
    ino_t                      ino;
    ngx_uint_t                 needs_newline;  /* a torn line precedes */
    ngx_uint_t                 file_gen;       /* bumped on a new file */
    ngx_uint_t                 failing;        /* the last write failed */
    /* policies whose policy record is in the current file since the last
     * start or reload (ngx_http_aigov_audit_policy.c) */
    ngx_uint_t                 npolicies;
    u_char                     policies[NGX_HTTP_AIGOV_POLICIES_MAX][64];
} ngx_http_aigov_audit_sh_t;


typedef struct {
    aigov_plugin_host_t       *host;
    ngx_array_t                plugins;        /* ngx_str_t names */
    ngx_array_t                policies;       /* ngx_http_aigov_policy_ref_t */

    ngx_shm_zone_t            *shm_zone;
    size_t                     shm_size;
    size_t                     body_keep;      /* aigov_body_keep */
    ngx_shmtx_t               *quota_mutex;    /* in shm */
    void                      *quota;          /* lib/quota block in shm */

    ngx_str_t                  audit_path;
    ngx_open_file_t           *audit_file;
    ngx_str_t                  audit_key;
    ngx_str_t                  audit_origin;
    ngx_uint_t                 cp_records;
    time_t                     cp_time;
    ngx_uint_t                 audit_fail_open;
    aigov_signer_t            *signer;
    ngx_shmtx_t               *audit_mutex;    /* in shm */
    ngx_http_aigov_audit_sh_t *audit;          /* in shm */
    aigov_hmac_key_t          *hash_key;       /* aigov_audit_hash_key */
} ngx_http_aigov_main_conf_t;


typedef struct {
    ngx_shmtx_sh_t             quota_lock;
    ngx_shmtx_t                quota_mutex;
    void                      *quota;
    ngx_http_aigov_audit_sh_t *audit;
} ngx_http_aigov_shctx_t;


typedef struct {
    u_char                     id[NGX_HTTP_AIGOV_ID_LEN + 1];
    ngx_int_t                  status;        /* returned on phase re-entry */

    aigov_request_t            req;
    unsigned                   parsed:1;
    unsigned                   denied:1;      /* refusal prepared, not sent */

    const char                *err_code;
    char                      *err_message;
    time_t                     retry_after;

    json_t                    *claims;
    aigov_policy_t            *policy;
    aigov_decision_t          *decision;
    unsigned                   decided:1;
    unsigned                   quota_held:1;
    aigov_quota_ticket_t       ticket;
    void                      *redis;          /* a reservation in Redis:
                                                  ngx_http_aigov_redis.c */
    const char                *quota_store;    /* "redis" | "local" | "none":
                                                  which store decided */
    long long                  asked_max_tokens;
    unsigned                   usage_added:1;  /* the gateway asked the
                                                  upstream for stream usage
                                                  the client did not ask for */
    unsigned                   read_body:1;    /* a shape the gateway reads */
    unsigned                   max_tokens_injected:1;
    const char                *uninspectable;  /* what cannot be read, or NULL */
    ngx_int_t                  start_rc;       /* of the checks before the body */

    aigov_filter_spec_t       *specs;
    ngx_uint_t                 nspecs;
    aigov_filter_outcome_t     prompt_outcome;

    /* the answer */
    aigov_answer_t            *answer;
    ngx_chain_t               *in;
    ngx_chain_t               *free;
    ngx_chain_t               *busy;
    ngx_buf_t                 *flush;      /* one empty flush buf, reused */
    ngx_event_t               *hold_ev;    /* aigov_stream_hold_time */
    size_t                     unsent;
    off_t                      answer_bytes;
    unsigned                   stream:1;
    unsigned                   header_held:1;   /* JSON: sent when complete */
    unsigned                   answer_done:1;
    unsigned                   last_sent:1;
    unsigned                   logged:1;
    unsigned                   audited:1;      /* admission record written */
    unsigned                   audit_wait:1;   /* its write is pending */
    unsigned                   audit_failed:1; /* ... and did not land */
    ngx_event_t                audit_ev;       /* wakes the request then */

    ngx_str_t                  body;           /* as received */
    aigov_sha256_t            *answer_sha;     /* of the answer as sent */
    ngx_str_t                  answer_copy;    /* content: redacted/full */
    char                      *original_texts; /* content: full */
    unsigned                   deny_recorded:1;

    /* an nginx-generated error page is replaced by SPEC error JSON */
    ngx_str_t                  error_body;
    unsigned                   error_sent:1;

    ngx_http_request_t        *request;

    /* metrics (ngx_http_aigov_metrics.c): monotonic microseconds of
     * arrival, proxying, the answer's first and last byte from upstream */
    uint64_t                   m_start;
    uint64_t                   m_proxy;
    uint64_t                   m_first;
    uint64_t                   m_last;
    unsigned                   m_open:1;      /* counted as an open
                                                 reservation */
    uint64_t                   audit_seq;     /* seq + 1 of the admission
                                                 or refusal record; 0 none */

    /* the tokens the request is settled with and recorded as having used
     * (ngx_http_aigov_usage, in the log phase): -1 where none */
    long long                  usage_prompt;
    long long                  usage_completion;
    ngx_uint_t                 usage_how;     /* NGX_HTTP_AIGOV_USAGE_* */
} ngx_http_aigov_ctx_t;


#define NGX_HTTP_AIGOV_USAGE_NONE       0     /* nothing: "usage":null */
#define NGX_HTTP_AIGOV_USAGE_REPORTED   1     /* the answer's own */
#define NGX_HTTP_AIGOV_USAGE_ESTIMATED  2     /* aigov's estimate */


extern ngx_module_t  ngx_http_aigov_module;


/* ngx_http_aigov_module.c */
ngx_http_aigov_ctx_t *ngx_http_aigov_get_ctx(ngx_http_request_t *r);
ngx_http_aigov_ctx_t *ngx_http_aigov_create_ctx(ngx_http_request_t *r);

/* ngx_http_aigov_access.c */
ngx_int_t ngx_http_aigov_access_handler(ngx_http_request_t *r);
void ngx_http_aigov_kept_exit(void);
void ngx_http_aigov_processed(ngx_http_request_t *r, ngx_int_t rc);
long long ngx_http_aigov_answers_cap(ngx_http_aigov_ctx_t *ctx,
    long long *cap, long long *n);

/* ngx_http_aigov_redis.c: where quotas are counted (shared memory or
 * Redis), behind one interface */
extern ngx_module_t  ngx_http_aigov_redis_module;
ngx_int_t ngx_http_aigov_quota_reserve(ngx_http_request_t *r,
    ngx_http_aigov_ctx_t *ctx, aigov_quota_limits_t *lim, long long reserve,
    long *retry, char *msg, size_t msglen);
ngx_int_t ngx_http_aigov_quota_wait(ngx_http_request_t *r,
    ngx_http_aigov_ctx_t *ctx, ngx_int_t *rc);
void ngx_http_aigov_quota_settle(ngx_http_request_t *r,
    ngx_http_aigov_ctx_t *ctx, long long actual);

/* ngx_http_aigov_jwks.c */
void ngx_http_aigov_jwks_refresh(ngx_http_request_t *r,
    ngx_http_aigov_jwks_t *jw, ngx_uint_t unknown_kid);

/* ngx_http_aigov_error.c */
ngx_str_t *ngx_http_aigov_error_json(ngx_pool_t *pool, ngx_uint_t status,
    const char *code, const char *message);
ngx_str_t *ngx_http_aigov_error_body(ngx_http_request_t *r,
    ngx_uint_t status, const char *code, const char *message);
ngx_int_t ngx_http_aigov_send_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *code, const char *message,
    time_t retry_after);

/* ngx_http_aigov_log.c */
ngx_int_t ngx_http_aigov_log_handler(ngx_http_request_t *r);
void ngx_http_aigov_usage(ngx_http_request_t *r, ngx_http_aigov_ctx_t *ctx);

/* ngx_http_aigov_audit.c */
ngx_uint_t ngx_http_aigov_lock(ngx_shmtx_t *mtx);
char *ngx_http_aigov_audit_conf(ngx_conf_t *cf,
    ngx_http_aigov_main_conf_t *amcf);
ngx_int_t ngx_http_aigov_audit_init_zone(ngx_http_aigov_main_conf_t *amcf,
    ngx_slab_pool_t *shpool, ngx_http_aigov_shctx_t *sh, ngx_uint_t fresh);
ngx_int_t ngx_http_aigov_audit_record(ngx_http_request_t *r,
    ngx_http_aigov_ctx_t *ctx, const char *phase);
void ngx_http_aigov_audit_answer(ngx_http_aigov_ctx_t *ctx, u_char *p,
    size_t len);
ngx_int_t ngx_http_aigov_audit_answer_start(ngx_http_request_t *r,
    ngx_http_aigov_ctx_t *ctx);
char *ngx_http_aigov_audit_texts(ngx_http_request_t *r,
    ngx_http_aigov_ctx_t *ctx);
ngx_int_t ngx_http_aigov_audit_init_process(ngx_cycle_t *cycle);
void ngx_http_aigov_audit_exit_process(ngx_cycle_t *cycle);
char *ngx_http_aigov_audit_checkpoint(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_http_aigov_metrics.c */
extern ngx_module_t  ngx_http_aigov_metrics_module;
void ngx_http_aigov_metrics_start(ngx_http_request_t *r,
    ngx_http_aigov_ctx_t *ctx);
void ngx_http_aigov_metrics_request(ngx_http_request_t *r,
    ngx_http_aigov_ctx_t *ctx);
void ngx_http_aigov_metrics_audit(ngx_uint_t records, size_t bytes,
    ngx_uint_t failed);
void ngx_http_aigov_metrics_checkpoint(void);
void ngx_http_aigov_metrics_body(ssize_t kept, ssize_t lent,
    ngx_uint_t missed);

/* ngx_http_aigov_audit_policy.c */
void ngx_http_aigov_audit_policy_use(aigov_policy_t *policy, ngx_log_t *log);
size_t ngx_http_aigov_audit_policy_room(void);
ngx_uint_t ngx_http_aigov_audit_policy_lines(ngx_http_aigov_audit_sh_t *a,
    char *out, size_t cap, uint64_t seq, size_t *n);
void ngx_http_aigov_audit_policy_logged(ngx_http_aigov_audit_sh_t *a,
    ngx_uint_t committed);

/* ngx_http_aigov_audit_key.c */
char *ngx_http_aigov_audit_hash_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_http_aigov_filter.c */
ngx_int_t ngx_http_aigov_filter_init(ngx_conf_t *cf);


#endif /* _NGX_HTTP_AIGOV_MODULE_H_INCLUDED_ */
