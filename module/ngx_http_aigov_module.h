
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


#define NGX_HTTP_AIGOV_ID_LEN  32


typedef struct {
    ngx_flag_t                 enable;
    size_t                     max_answer_size;
} ngx_http_aigov_loc_conf_t;


typedef struct {
    ngx_uint_t                 unused;
} ngx_http_aigov_main_conf_t;


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

/* ngx_http_aigov_filter.c */
ngx_int_t ngx_http_aigov_filter_init(ngx_conf_t *cf);


#endif /* _NGX_HTTP_AIGOV_MODULE_H_INCLUDED_ */
