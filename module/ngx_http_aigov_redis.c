
/*
 * aigov: quotas counted in Redis, so that a fleet of gateways enforces one
 * limit per subject; and the small interface (ngx_http_aigov_quota_*)
 * through which the access and log phases reserve and settle, whichever
 * store counts.
 *
 * The client is our own minimal RESP client over an ngx_peer_connection
 * rather than hiredis's async API with an adapter, because:
 *  - the address is resolved once, when the configuration is read, by
 *    ngx_parse_url (hiredis resolves host names with a blocking
 *    getaddrinfo at every connect, in the worker);
 *  - connect and command timeouts are nginx timers on nginx's connection;
 *    Debian's hiredis (0.14) has no timeout for async commands at all;
 *  - the gateway sends a handful of commands and reads replies of four
 *    shapes (lib/resp.c, 200 lines, unit tested); nothing more is linked
 *    into every worker;
 *  - the replies arrive in the order the commands were sent, so pipelining
 *    is a FIFO of operations on one connection per worker and server.
 *
 * A request whose quota is in Redis sends one EVALSHA when it is admitted
 * and waits for it like a thread task (r->main->blocked) while the rest of
 * the access phase (filters, body rewrite) goes on; the settlement at the
 * end is sent without waiting for its answer, so it is counted even when
 * the client has gone.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_aigov_module.h"

#include <resp.h>
#include <quota_redis.h>

#include <openssl/rand.h>


#define NGX_HTTP_AIGOV_REDIS_CLOSED   0
#define NGX_HTTP_AIGOV_REDIS_OPEN     1
#define NGX_HTTP_AIGOV_REDIS_LOCAL    2

/* a failed connection is tried again after this long; meanwhile requests
 * take the fail mode at once instead of waiting */
#define NGX_HTTP_AIGOV_REDIS_RETRY    1000
/* operations in flight on one connection; more take the fail mode */
#define NGX_HTTP_AIGOV_REDIS_MAX_OPS  65536
/* settlements held while Redis is down, to be sent when it answers again;
 * more are lost (their reservations count until their windows end) */
#define NGX_HTTP_AIGOV_REDIS_MAX_HELD 4096

#define NGX_HTTP_AIGOV_OP_HANDSHAKE   0
#define NGX_HTTP_AIGOV_OP_RESERVE     1
#define NGX_HTTP_AIGOV_OP_SETTLE      2
#define NGX_HTTP_AIGOV_OP_BATCH       3   /* admissions sent as one script */

/* the settlements a settlement op carries: a script of many, or one */
#define ngx_http_aigov_redis_settles_in(op)                                   \
    ((op)->nmembers ? (op)->nmembers : 1)

#define NGX_HTTP_AIGOV_VERDICT_WAIT   -2     /* not answered yet */
#define NGX_HTTP_AIGOV_VERDICT_DOWN   -1     /* Redis did not answer */


/* one per aigov_quota_redis directive */
typedef struct {
    ngx_str_t                     name;      /* the address as written */
    ngx_addr_t                    addr;
    ngx_str_t                     user;
    ngx_str_t                     password;
    ngx_uint_t                    db;
    u_char                       *prefix;    /* NUL-terminated */
    ngx_msec_t                    connect_timeout;
    ngx_msec_t                    timeout;
    ngx_uint_t                    fail;
    ngx_uint_t                    index;     /* of its worker connection */
} ngx_http_aigov_redis_srv_t;


typedef struct {
    ngx_array_t                   servers;   /* ngx_http_aigov_redis_srv_t * */
} ngx_http_aigov_redis_main_conf_t;


typedef struct {
    ngx_http_aigov_redis_srv_t   *srv;       /* NULL: shared memory */
} ngx_http_aigov_redis_loc_conf_t;


typedef struct ngx_http_aigov_redis_req_s  ngx_http_aigov_redis_req_t;


/* a command sent (or to be sent) and the one waiting for its reply */
typedef struct {
    ngx_queue_t                   queue;
    ngx_uint_t                    kind;
    ngx_msec_t                    deadline;
    ngx_http_aigov_redis_req_t   *req;       /* NULL: nobody waits */
    int                           argc;      /* the script's arguments, */
    const char                   *args[AIGOV_QUOTA_REDIS_ARGS];
    size_t                        lens[AIGOV_QUOTA_REDIS_ARGS];
    aigov_quota_limits_t          lim;       /* for a retry with EVAL */
    long long                     reserve;
    aigov_quota_ticket_t          ticket;    /* a settlement's, summed */
    long long                     actual;
    long long                     seq;       /* a settlement's number once
                                                sent, 0 before (quota_redis.h:
                                                "Settled once") */
    const char                   *base;      /* its key base, in buf */
    ngx_queue_t                   members;   /* a batch's admissions, or
                                                the settlements of a script
                                                of many */
    ngx_uint_t                    nmembers;
    unsigned                      eval:1;    /* sent as EVAL already */
    char                          buf[1];    /* holds the arguments */
} ngx_http_aigov_redis_op_t;


/* a worker's connection to one server */
typedef struct {
    ngx_http_aigov_redis_srv_t   *srv;
    ngx_peer_connection_t         pc;
    ngx_connection_t             *c;         /* NULL: not connected */
    ngx_uint_t                    connected;
    ngx_queue_t                   ops;
    ngx_uint_t                    nops;
    ngx_queue_t                   settles;   /* held until the turn ends,
                                                or while Redis is down; those
                                                that were in flight when a
                                                connection failed first */
    ngx_uint_t                    nsettles;
    char                         *mark;      /* this worker's settlement
                                                mark key in Redis */
    long long                     seq;       /* the last settlement number */
    ngx_event_t                   retry_ev;  /* sends held settlements when
                                                a new connection may be
                                                tried, requests or not */
    ngx_queue_t                   reserves;  /* likewise, sent as one script */
    ngx_uint_t                    nreserves;
    ngx_event_t                   timer;     /* the oldest op's deadline */
    ngx_event_t                   flush_ev;  /* posted: one write for all
                                                commands of a loop turn */
    ngx_msec_t                    retry_at;  /* no new connection before */
    ngx_uint_t                    down;      /* failed, not answered since */

    u_char                       *out;
    size_t                        out_len;
    size_t                        out_sent;
    size_t                        out_cap;
    u_char                       *in;
    size_t                        in_len;
    size_t                        in_cap;
} ngx_http_aigov_redis_conn_t;


/* a request's reservation in Redis (ctx->redis) */
struct ngx_http_aigov_redis_req_s {
    ngx_http_request_t           *r;
    ngx_http_aigov_redis_srv_t   *srv;
    ngx_http_aigov_redis_op_t    *op;        /* in flight */
    aigov_quota_limits_t          lim;
    long long                     reserve;
    ngx_int_t                     verdict;
    aigov_quota_ticket_t          ticket;
    long                          retry;
    char                          msg[256];
    ngx_int_t                     rc;        /* the access phase's, kept */
    ngx_event_t                   ev;
    unsigned                      waiting:1;
    unsigned                      applied:1;
    unsigned                      in_redis:1; /* the ticket is there */
};


static void *ngx_http_aigov_redis_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_aigov_redis_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_aigov_redis_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static char *ngx_http_aigov_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_aigov_redis_init_process(ngx_cycle_t *cycle);
static void ngx_http_aigov_redis_exit_process(ngx_cycle_t *cycle);

static ngx_int_t ngx_http_aigov_redis_connect(
    ngx_http_aigov_redis_conn_t *cn);
static void ngx_http_aigov_redis_fail(ngx_http_aigov_redis_conn_t *cn,
    const char *why);
static ngx_int_t ngx_http_aigov_redis_queue(ngx_http_aigov_redis_conn_t *cn,
    ngx_http_aigov_redis_op_t *op);
static ngx_int_t ngx_http_aigov_redis_append(ngx_http_aigov_redis_conn_t *cn,
    int argc, const char *const *argv, const size_t *lens);
static ngx_int_t ngx_http_aigov_redis_append_op(
    ngx_http_aigov_redis_conn_t *cn, ngx_http_aigov_redis_op_t *op);
static void ngx_http_aigov_redis_flush(ngx_http_aigov_redis_conn_t *cn);
static void ngx_http_aigov_redis_send_reserves(
    ngx_http_aigov_redis_conn_t *cn);
static void ngx_http_aigov_redis_drop(ngx_http_aigov_redis_op_t *op);
static void ngx_http_aigov_redis_reserved(ngx_http_aigov_redis_conn_t *cn,
    ngx_http_aigov_redis_op_t *op, aigov_resp_reply_t *rep);
static void ngx_http_aigov_redis_flush_handler(ngx_event_t *ev);
static void ngx_http_aigov_redis_retry_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_aigov_redis_append_settle(
    ngx_http_aigov_redis_conn_t *cn, ngx_http_aigov_redis_op_t *op);
static void ngx_http_aigov_redis_free_settle(ngx_http_aigov_redis_op_t *op);
static ngx_http_aigov_redis_op_t *ngx_http_aigov_redis_new_batch(
    ngx_uint_t kind);
static ngx_http_aigov_redis_op_t *ngx_http_aigov_redis_gather(
    ngx_http_aigov_redis_conn_t *cn, ngx_http_aigov_redis_op_t *op);
static ngx_uint_t ngx_http_aigov_redis_closed(
    ngx_http_aigov_redis_conn_t *cn);
static void ngx_http_aigov_redis_arm(ngx_http_aigov_redis_conn_t *cn);
static void ngx_http_aigov_redis_read_handler(ngx_event_t *rev);
static void ngx_http_aigov_redis_write_handler(ngx_event_t *wev);
static void ngx_http_aigov_redis_timer_handler(ngx_event_t *ev);
static void ngx_http_aigov_redis_reply(ngx_http_aigov_redis_conn_t *cn,
    aigov_resp_reply_t *rep);
static void ngx_http_aigov_redis_answer(ngx_http_aigov_redis_op_t *op,
    ngx_int_t verdict);
static void ngx_http_aigov_redis_settle(ngx_http_aigov_redis_srv_t *srv,
    const char *base, aigov_quota_ticket_t *t, long long actual,
    ngx_log_t *log);
static void ngx_http_aigov_redis_wake(ngx_event_t *ev);
static void ngx_http_aigov_redis_req_cleanup(void *data);
static ngx_int_t ngx_http_aigov_quota_verdict(ngx_http_request_t *r,
    ngx_http_aigov_ctx_t *ctx, ngx_http_aigov_redis_req_t *st);
static ngx_int_t ngx_http_aigov_quota_refuse(ngx_http_request_t *r,
    ngx_http_aigov_ctx_t *ctx, const char *code, const char *msg,
    long retry);


static ngx_command_t  ngx_http_aigov_redis_commands[] = {

    { ngx_string("aigov_quota_redis"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_aigov_redis,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_aigov_redis_module_ctx = {
    NULL,                                    /* preconfiguration */
    NULL,                                    /* postconfiguration */

    ngx_http_aigov_redis_create_main_conf,   /* create main configuration */
    NULL,                                    /* init main configuration */

    NULL,                                    /* create server configuration */
    NULL,                                    /* merge server configuration */

    ngx_http_aigov_redis_create_loc_conf,    /* create location configuration */
    ngx_http_aigov_redis_merge_loc_conf      /* merge location configuration */
};


ngx_module_t  ngx_http_aigov_redis_module = {
    NGX_MODULE_V1,
    &ngx_http_aigov_redis_module_ctx,        /* module context */
    ngx_http_aigov_redis_commands,           /* module directives */
    NGX_HTTP_MODULE,                         /* module type */
    NULL,                                    /* init master */
    NULL,                                    /* init module */
    ngx_http_aigov_redis_init_process,       /* init process */
    NULL,                                    /* init thread */
    NULL,                                    /* exit thread */
    ngx_http_aigov_redis_exit_process,       /* exit process */
    NULL,                                    /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_aigov_redis_conn_t  *ngx_http_aigov_redis_conns;
static ngx_uint_t                    ngx_http_aigov_redis_nconns;
static char                          ngx_http_aigov_settle_sha[41];
static char                          ngx_http_aigov_batch_sha[41];

static const char  *ngx_http_aigov_redis_fail_names[] = {
    "closed", "open", "local"
};


/* ---- configuration ----------------------------------------------------- */

static void *
ngx_http_aigov_redis_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_aigov_redis_main_conf_t  *rmcf;

    rmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_aigov_redis_main_conf_t));
    if (rmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&rmcf->servers, cf->pool, 2,
                       sizeof(ngx_http_aigov_redis_srv_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return rmcf;
}


static void *
ngx_http_aigov_redis_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_aigov_redis_loc_conf_t  *rlcf;

    rlcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_aigov_redis_loc_conf_t));
    if (rlcf == NULL) {
        return NULL;
    }

    rlcf->srv = NGX_CONF_UNSET_PTR;

    return rlcf;
}


static char *
ngx_http_aigov_redis_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_aigov_redis_loc_conf_t  *prev = parent;
    ngx_http_aigov_redis_loc_conf_t  *conf = child;

    ngx_conf_merge_ptr_value(conf->srv, prev->srv, NULL);

    return NGX_CONF_OK;
}


/*
 * aigov_quota_redis off | ADDRESS [user=U] [password=P] [db=N] [prefix=S]
 *     [connect_timeout=T] [timeout=T] [fail=closed|open|local];
 */

static char *
ngx_http_aigov_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_aigov_redis_loc_conf_t  *rlcf = conf;

    u_char                             *p;
    ngx_int_t                           n;
    ngx_str_t                          *value, v, prefix;
    ngx_url_t                           u;
    ngx_uint_t                          i;
    ngx_http_aigov_redis_srv_t         *srv, **slot;
    ngx_http_aigov_redis_main_conf_t   *rmcf;

    if (rlcf->srv != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts != 2) {
            return "takes no parameters after \"off\"";
        }

        rlcf->srv = NULL;
        return NGX_CONF_OK;
    }

    srv = ngx_pcalloc(cf->pool, sizeof(ngx_http_aigov_redis_srv_t));
    if (srv == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));
    u.url = value[1];
    u.default_port = 6379;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "aigov_quota_redis: %s in \"%V\"",
                           u.err ? u.err : "invalid address", &u.url);
        return NGX_CONF_ERROR;
    }

    if (u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "aigov_quota_redis: \"%V\" has no address",
                           &u.url);
        return NGX_CONF_ERROR;
    }

    srv->name = value[1];
    srv->addr = u.addrs[0];
    srv->connect_timeout = 1000;
    srv->timeout = 500;
    srv->fail = NGX_HTTP_AIGOV_REDIS_CLOSED;
    ngx_str_set(&prefix, "aigov:quota:");

    for (i = 2; i < cf->args->nelts; i++) {
        v = value[i];

        if (ngx_strncmp(v.data, "user=", 5) == 0) {
            srv->user.data = v.data + 5;
            srv->user.len = v.len - 5;

        } else if (ngx_strncmp(v.data, "password=", 9) == 0) {
            srv->password.data = v.data + 9;
            srv->password.len = v.len - 9;

        } else if (ngx_strncmp(v.data, "db=", 3) == 0) {
            n = ngx_atoi(v.data + 3, v.len - 3);
            if (n == NGX_ERROR) {
                goto invalid;
            }

            srv->db = n;

        } else if (ngx_strncmp(v.data, "prefix=", 7) == 0) {
            prefix.data = v.data + 7;
            prefix.len = v.len - 7;

            if (ngx_strlchr(prefix.data, prefix.data + prefix.len, '\0')) {
                goto invalid;
            }

        } else if (ngx_strncmp(v.data, "connect_timeout=", 16) == 0) {
            v.data += 16;
            v.len -= 16;
            srv->connect_timeout = ngx_parse_time(&v, 0);
            if (srv->connect_timeout == (ngx_msec_t) NGX_ERROR
                || srv->connect_timeout == 0)
            {
                goto invalid;
            }

        } else if (ngx_strncmp(v.data, "timeout=", 8) == 0) {
            v.data += 8;
            v.len -= 8;
            srv->timeout = ngx_parse_time(&v, 0);
            if (srv->timeout == (ngx_msec_t) NGX_ERROR || srv->timeout == 0) {
                goto invalid;
            }

        } else if (ngx_strcmp(v.data, "fail=closed") == 0) {
            srv->fail = NGX_HTTP_AIGOV_REDIS_CLOSED;

        } else if (ngx_strcmp(v.data, "fail=open") == 0) {
            srv->fail = NGX_HTTP_AIGOV_REDIS_OPEN;

        } else if (ngx_strcmp(v.data, "fail=local") == 0) {
            srv->fail = NGX_HTTP_AIGOV_REDIS_LOCAL;

        } else {
            goto invalid;
        }
    }

    if (srv->user.len && srv->password.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "aigov_quota_redis: \"user=\" needs \"password=\"");
        return NGX_CONF_ERROR;
    }

    p = ngx_pnalloc(cf->pool, prefix.len + 1);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    *ngx_cpymem(p, prefix.data, prefix.len) = '\0';
    srv->prefix = p;

    rmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_aigov_redis_module);

    srv->index = rmcf->servers.nelts;

    slot = ngx_array_push(&rmcf->servers);
    if (slot == NULL) {
        return NGX_CONF_ERROR;
    }

    *slot = srv;
    rlcf->srv = srv;

    if (ngx_http_aigov_batch_sha[0] == '\0') {
        aigov_quota_redis_sha1(aigov_quota_redis_settle_script(),
                               ngx_http_aigov_settle_sha);
        aigov_quota_redis_sha1(aigov_quota_redis_batch_script(),
                               ngx_http_aigov_batch_sha);
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "aigov_quota_redis: invalid parameter \"%V\"",
                       &value[i]);
    return NGX_CONF_ERROR;
}


static ngx_int_t
ngx_http_aigov_redis_init_process(ngx_cycle_t *cycle)
{
    size_t                              len;
    u_char                              id[8];
    ngx_uint_t                          i, k;
    ngx_http_aigov_redis_srv_t        **srv;
    ngx_http_aigov_redis_conn_t        *cn;
    ngx_http_aigov_redis_main_conf_t   *rmcf;

    ngx_http_aigov_redis_conns = NULL;
    ngx_http_aigov_redis_nconns = 0;

    rmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_aigov_redis_module);
    if (rmcf == NULL || rmcf->servers.nelts == 0) {
        return NGX_OK;
    }

    cn = ngx_pcalloc(cycle->pool,
                     rmcf->servers.nelts * sizeof(ngx_http_aigov_redis_conn_t));
    if (cn == NULL) {
        return NGX_ERROR;
    }

    srv = rmcf->servers.elts;

    for (i = 0; i < rmcf->servers.nelts; i++) {
        cn[i].srv = srv[i];
        ngx_queue_init(&cn[i].ops);
        ngx_queue_init(&cn[i].settles);
        ngx_queue_init(&cn[i].reserves);
        cn[i].timer.handler = ngx_http_aigov_redis_timer_handler;
        cn[i].timer.data = &cn[i];
        cn[i].timer.log = cycle->log;
        cn[i].flush_ev.handler = ngx_http_aigov_redis_flush_handler;
        cn[i].flush_ev.data = &cn[i];
        cn[i].flush_ev.log = cycle->log;
        cn[i].retry_ev.handler = ngx_http_aigov_redis_retry_handler;
        cn[i].retry_ev.data = &cn[i];
        cn[i].retry_ev.log = cycle->log;
        /* a graceful exit does not wait for Redis to come back */
        cn[i].retry_ev.cancelable = 1;

        /* the mark is this process's own: random, not the pid, which
         * another gateway of the fleet may have too */
        if (RAND_bytes(id, sizeof(id)) != 1) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                          "aigov: RAND_bytes failed");
            return NGX_ERROR;
        }

        len = ngx_strlen(srv[i]->prefix);
        cn[i].mark = ngx_pnalloc(cycle->pool,
                                 len + sizeof("aigov:settled:") - 1
                                 + 2 * sizeof(id) + 1);
        if (cn[i].mark == NULL) {
            return NGX_ERROR;
        }

        k = ngx_sprintf((u_char *) cn[i].mark, "%saigov:settled:",
                        srv[i]->prefix)
            - (u_char *) cn[i].mark;
        *ngx_hex_dump((u_char *) cn[i].mark + k, id, sizeof(id)) = '\0';
    }

    ngx_http_aigov_redis_conns = cn;
    ngx_http_aigov_redis_nconns = rmcf->servers.nelts;

    return NGX_OK;
}


static void
ngx_http_aigov_redis_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                    i;
    ngx_queue_t                  *q;
    ngx_http_aigov_redis_conn_t  *cn;

    for (i = 0; i < ngx_http_aigov_redis_nconns; i++) {
        cn = &ngx_http_aigov_redis_conns[i];

        if (cn->c) {
            ngx_close_connection(cn->c);
            cn->c = NULL;
        }

        if (cn->timer.timer_set) {
            ngx_del_timer(&cn->timer);
        }

        if (cn->flush_ev.posted) {
            ngx_delete_posted_event(&cn->flush_ev);
        }

        if (cn->retry_ev.timer_set) {
            ngx_del_timer(&cn->retry_ev);
        }

        if (cn->nsettles) {
            ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                          "aigov: quota store redis \"%V\": %ui settlements "
                          "held while it did not answer are lost at exit; "
                          "their reservations count until their windows end",
                          &cn->srv->name, cn->nsettles);
        }

        while (!ngx_queue_empty(&cn->settles)) {
            q = ngx_queue_head(&cn->settles);
            ngx_queue_remove(q);
            ngx_http_aigov_redis_free_settle(ngx_queue_data(q,
                                             ngx_http_aigov_redis_op_t, queue));
        }

        cn->nsettles = 0;

        ngx_free(cn->out);
        ngx_free(cn->in);
        cn->out = NULL;
        cn->in = NULL;
    }

    ngx_http_aigov_redis_nconns = 0;
}


/* ---- the connection ---------------------------------------------------- */

static ngx_int_t
ngx_http_aigov_redis_connect(ngx_http_aigov_redis_conn_t *cn)
{
    int                          argc;
    ngx_int_t                    rc;
    const char                  *argv[3];
    size_t                       lens[3];
    char                         db[NGX_INT_T_LEN];
    ngx_connection_t            *c;
    ngx_peer_connection_t       *pc;
    ngx_http_aigov_redis_srv_t  *srv;

    srv = cn->srv;
    pc = &cn->pc;

    ngx_memzero(pc, sizeof(ngx_peer_connection_t));
    pc->sockaddr = srv->addr.sockaddr;
    pc->socklen = srv->addr.socklen;
    pc->name = &srv->name;
    pc->get = ngx_event_get_peer;
    pc->log = ngx_cycle->log;
    pc->log_error = NGX_ERROR_ERR;

    rc = ngx_event_connect_peer(pc);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        if (pc->connection) {
            ngx_close_connection(pc->connection);
        }

        ngx_http_aigov_redis_fail(cn, "cannot connect");
        return NGX_ERROR;
    }

    c = pc->connection;
    c->data = cn;
    c->log = ngx_cycle->log;
    c->read->log = c->log;
    c->write->log = c->log;
    c->read->handler = ngx_http_aigov_redis_read_handler;
    c->write->handler = ngx_http_aigov_redis_write_handler;

    cn->c = c;
    cn->connected = (rc == NGX_OK);
    cn->out_len = 0;
    cn->out_sent = 0;
    cn->in_len = 0;

    /* the handshake is pipelined ahead of whatever waits: AUTH, SELECT,
     * and the scripts loaded once (EVALSHA finds them afterwards) */

    if (srv->password.len) {
        argc = 0;
        argv[argc] = "AUTH";
        lens[argc++] = 4;

        if (srv->user.len) {
            argv[argc] = (const char *) srv->user.data;
            lens[argc++] = srv->user.len;
        }

        argv[argc] = (const char *) srv->password.data;
        lens[argc++] = srv->password.len;

        if (ngx_http_aigov_redis_append(cn, argc, argv, lens) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (srv->db) {
        argv[0] = "SELECT";
        lens[0] = 6;
        argv[1] = db;
        lens[1] = ngx_sprintf((u_char *) db, "%ui", srv->db) - (u_char *) db;

        if (ngx_http_aigov_redis_append(cn, 2, argv, lens) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    argv[0] = "SCRIPT";
    lens[0] = 6;
    argv[1] = "LOAD";
    lens[1] = 4;
    argv[2] = aigov_quota_redis_settle_script();
    lens[2] = ngx_strlen(argv[2]);

    if (ngx_http_aigov_redis_append(cn, 3, argv, lens) != NGX_OK) {
        return NGX_ERROR;
    }

    argv[2] = aigov_quota_redis_batch_script();
    lens[2] = ngx_strlen(argv[2]);

    if (ngx_http_aigov_redis_append(cn, 3, argv, lens) != NGX_OK) {
        return NGX_ERROR;
    }

    if (!ngx_queue_empty(&cn->settles) && !cn->flush_ev.posted) {
        /* settlements held while Redis was down follow the handshake */
        ngx_post_event(&cn->flush_ev, &ngx_posted_events);
    }

    if (cn->connected) {
        ngx_http_aigov_redis_flush(cn);
    }

    return cn->c ? NGX_OK : NGX_ERROR;
}


/*
 * The connection is given up: every operation on it is answered "down"
 * (requests take the fail mode), and no new connection is tried for a
 * second. Logged once per outage.
 */

static void
ngx_http_aigov_redis_fail(ngx_http_aigov_redis_conn_t *cn, const char *why)
{
    ngx_uint_t                  had, again;
    ngx_queue_t                *q, *q2;
    ngx_http_aigov_redis_op_t  *op;

    had = cn->nops;

    if (cn->c) {
        ngx_close_connection(cn->c);
        cn->c = NULL;
    }

    cn->connected = 0;
    cn->out_len = 0;
    cn->out_sent = 0;
    cn->in_len = 0;

    if (cn->timer.timer_set) {
        ngx_del_timer(&cn->timer);
    }

    if (why == NULL && had == 0) {
        /* closed while idle (Redis's own idle timeout): not an outage */
        return;
    }

    cn->retry_at = ngx_current_msec + NGX_HTTP_AIGOV_REDIS_RETRY;

    if (!cn->down) {
        cn->down = 1;
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "aigov: quota store redis \"%V\": %s; quotas fail %s "
                      "until it answers%s", &cn->srv->name,
                      why ? why : "connection closed",
                      ngx_http_aigov_redis_fail_names[cn->srv->fail],
                      cn->srv->fail == NGX_HTTP_AIGOV_REDIS_LOCAL
                      ? " (counted in this gateway's shared memory)" : "");
    }

    /* settlements in flight may have run or not: they go out again first
     * on the next connection, in their order, with their numbers, and
     * Redis runs those that did not (quota_redis.h: "Settled once") */
    q = ngx_queue_head(&cn->settles);
    again = 0;

    while (!ngx_queue_empty(&cn->ops)) {
        q2 = ngx_queue_head(&cn->ops);
        ngx_queue_remove(q2);
        cn->nops--;

        op = ngx_queue_data(q2, ngx_http_aigov_redis_op_t, queue);

        if (op->kind == NGX_HTTP_AIGOV_OP_SETTLE) {
            /* before the first held one: q as a queue's head */
            ngx_queue_insert_tail(q, q2);
            cn->nsettles += ngx_http_aigov_redis_settles_in(op);
            again += ngx_http_aigov_redis_settles_in(op);
            continue;
        }

        ngx_http_aigov_redis_drop(op);
    }

    if (again) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "aigov: quota store redis \"%V\": %ui settlements in "
                      "flight go out again on the next connection, where "
                      "Redis runs those it has not run", &cn->srv->name,
                      again);
    }

    while (!ngx_queue_empty(&cn->reserves)) {
        q = ngx_queue_head(&cn->reserves);
        ngx_queue_remove(q);

        op = ngx_queue_data(q, ngx_http_aigov_redis_op_t, queue);
        ngx_http_aigov_redis_drop(op);
    }

    cn->nreserves = 0;

    cn->nops = 0;

    if (!ngx_queue_empty(&cn->settles) && !cn->retry_ev.timer_set) {
        ngx_add_timer(&cn->retry_ev, NGX_HTTP_AIGOV_REDIS_RETRY);
    }
}


/* Held settlements go out once a new connection may be tried, also when
 * no request comes to make one. */

static void
ngx_http_aigov_redis_retry_handler(ngx_event_t *ev)
{
    ngx_http_aigov_redis_conn_t  *cn;

    cn = ev->data;

    if (!ngx_queue_empty(&cn->settles) && !cn->flush_ev.posted) {
        ngx_post_event(&cn->flush_ev, &ngx_posted_events);
    }
}


/* Takes op into the connection's queue; NGX_ERROR when Redis is known to
 * be down or cannot take it (op is not queued then). */

static ngx_int_t
ngx_http_aigov_redis_queue(ngx_http_aigov_redis_conn_t *cn,
    ngx_http_aigov_redis_op_t *op)
{
    if (cn->nops + cn->nreserves >= NGX_HTTP_AIGOV_REDIS_MAX_OPS) {
        return NGX_ERROR;
    }

    if (op->kind == NGX_HTTP_AIGOV_OP_RESERVE && cn->connected) {
        /* the admissions of this turn go out as one script when it ends
         * (ngx_http_aigov_redis_flush_handler) */
        ngx_queue_insert_tail(&cn->reserves, &op->queue);
        cn->nreserves++;

        if (!cn->flush_ev.posted) {
            ngx_post_event(&cn->flush_ev, &ngx_posted_events);
        }

        return NGX_OK;
    }

    if (cn->c == NULL) {
        if (cn->down
            && (ngx_msec_int_t) (cn->retry_at - ngx_current_msec) > 0)
        {
            return NGX_ERROR;
        }

        if (ngx_http_aigov_redis_connect(cn) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (ngx_http_aigov_redis_append_op(cn, op) != NGX_OK) {
        return NGX_ERROR;
    }

    op->deadline = ngx_current_msec + cn->srv->timeout
                   + (cn->connected ? 0 : cn->srv->connect_timeout);

    ngx_queue_insert_tail(&cn->ops, &op->queue);
    cn->nops++;

    ngx_http_aigov_redis_arm(cn);

    if (cn->connected && !cn->flush_ev.posted) {
        /* the commands of all requests decided in this turn of the event
         * loop go out together, in one write, when the turn ends */
        ngx_post_event(&cn->flush_ev, &ngx_posted_events);
    }

    return NGX_OK;
}


/*
 * Whether Redis has closed a connection we have nothing in flight on: a
 * peek, one system call, made only before writing to an idle connection
 * (a busy one learns of its end from the replies it waits for).
 */

static ngx_uint_t
ngx_http_aigov_redis_closed(ngx_http_aigov_redis_conn_t *cn)
{
    u_char     b;
    ssize_t    n;
    ngx_err_t  err;

    n = recv(cn->c->fd, (char *) &b, 1, MSG_PEEK);

    if (n == 0) {
        return 1;
    }

    if (n == -1) {
        err = ngx_socket_errno;
        return err != NGX_EAGAIN && err != NGX_EINTR;
    }

    /* something to read (an error Redis sent before closing): the read
     * handler takes it */
    return 0;
}


static void
ngx_http_aigov_redis_flush_handler(ngx_event_t *ev)
{
    ngx_queue_t                  *q;
    ngx_http_aigov_redis_op_t    *op;
    ngx_http_aigov_redis_conn_t  *cn;

    cn = ev->data;

    if (cn->c && cn->connected && ngx_queue_empty(&cn->ops)
        && (!ngx_queue_empty(&cn->settles) || cn->nreserves)
        && ngx_http_aigov_redis_closed(cn))
    {
        /* Redis ended the idle connection and its end has not been read
         * yet: what this turn holds would be written into a closed
         * connection, its answers never come, and the requests would take
         * the fail mode (Redis then counted "down" for a second) with
         * Redis up. Given up as an idle close, a new one is made below. */
        ngx_http_aigov_redis_fail(cn, NULL);
    }

    if (cn->c == NULL
        && (!ngx_queue_empty(&cn->settles) || cn->nreserves)
        && !(cn->down
             && (ngx_msec_int_t) (cn->retry_at - ngx_current_msec) > 0))
    {
        /* closed while idle in this turn (Redis's own idle timeout,
         * CLIENT KILL, a restart), after admissions were held for this
         * turn's script: Redis is not known to be down, so they go out
         * on a new connection rather than take the fail mode */
        (void) ngx_http_aigov_redis_connect(cn);
    }

    while (!ngx_queue_empty(&cn->settles)) {
        if (cn->c == NULL) {
            /* Redis is down: held until a connection is made again
             * (ngx_http_aigov_redis_connect posts this handler) */
            break;
        }

        q = ngx_queue_head(&cn->settles);
        ngx_queue_remove(q);
        op = ngx_queue_data(q, ngx_http_aigov_redis_op_t, queue);
        cn->nsettles -= ngx_http_aigov_redis_settles_in(op);

        if (op->seq == 0) {
            /* not sent yet: the settlements held after it that were not
             * sent either go in the same script (those sent before, to go
             * again, are ahead of all of them) */
            op = ngx_http_aigov_redis_gather(cn, op);
        }

        if (ngx_http_aigov_redis_append_settle(cn, op) != NGX_OK) {
            ngx_http_aigov_redis_free_settle(op);
            continue;
        }

        op->deadline = ngx_current_msec + cn->srv->timeout
                       + (cn->connected ? 0 : cn->srv->connect_timeout);

        ngx_queue_insert_tail(&cn->ops, &op->queue);
        cn->nops++;
    }

    ngx_http_aigov_redis_send_reserves(cn);

    if (cn->c == NULL) {
        return;
    }

    ngx_http_aigov_redis_arm(cn);

    if (cn->connected && cn->out_len) {
        ngx_http_aigov_redis_flush(cn);
    }
}


/* A settlement's command: its number is given when it is first sent and
 * kept when it is sent again after a failed connection. */

static ngx_int_t
ngx_http_aigov_redis_append_settle(ngx_http_aigov_redis_conn_t *cn,
    ngx_http_aigov_redis_op_t *op)
{
    ngx_queue_t                *q;
    ngx_http_aigov_redis_op_t  *m;

    if (op->seq == 0) {
        op->seq = ++cn->seq;
    }

    if (op->nmembers == 0) {
        op->argc = aigov_quota_redis_settle_args(op->buf, op->base - op->buf,
                                                 "", op->base, cn->mark,
                                                 &op->ticket, op->actual,
                                                 op->seq, op->args, op->lens);
        return op->argc < 0 ? NGX_ERROR : ngx_http_aigov_redis_append_op(cn, op);
    }

    /* each settlement's numbers, from its own arguments */
    for (q = ngx_queue_head(&op->members);
         q != ngx_queue_sentinel(&op->members);
         q = ngx_queue_next(q))
    {
        m = ngx_queue_data(q, ngx_http_aigov_redis_op_t, queue);
        m->argc = aigov_quota_redis_settle_args(m->buf, m->base - m->buf, "",
                                                m->base, cn->mark, &m->ticket,
                                                m->actual, op->seq, m->args,
                                                m->lens);
        if (m->argc < 0) {
            return NGX_ERROR;
        }
    }

    return ngx_http_aigov_redis_append_op(cn, op);
}


/* The settlement op, and the unsent ones held after it, as one script
 * of many (at most AIGOV_QUOTA_REDIS_BATCH_MAX); op itself when it is
 * alone or memory is short. */

static ngx_http_aigov_redis_op_t *
ngx_http_aigov_redis_gather(ngx_http_aigov_redis_conn_t *cn,
    ngx_http_aigov_redis_op_t *op)
{
    ngx_queue_t                *q;
    ngx_http_aigov_redis_op_t  *b, *next;

    if (ngx_queue_empty(&cn->settles)) {
        return op;
    }

    next = ngx_queue_data(ngx_queue_head(&cn->settles),
                          ngx_http_aigov_redis_op_t, queue);
    if (next->seq != 0) {
        return op;
    }

    b = ngx_http_aigov_redis_new_batch(NGX_HTTP_AIGOV_OP_SETTLE);
    if (b == NULL) {
        return op;
    }

    ngx_queue_insert_tail(&b->members, &op->queue);
    b->nmembers = 1;

    while (!ngx_queue_empty(&cn->settles)
           && b->nmembers < AIGOV_QUOTA_REDIS_BATCH_MAX)
    {
        q = ngx_queue_head(&cn->settles);
        next = ngx_queue_data(q, ngx_http_aigov_redis_op_t, queue);

        if (next->seq != 0) {
            break;
        }

        ngx_queue_remove(q);
        cn->nsettles--;
        ngx_queue_insert_tail(&b->members, q);
        b->nmembers++;
    }

    return b;
}


/* An empty script of many: admissions (NGX_HTTP_AIGOV_OP_BATCH) or
 * settlements (NGX_HTTP_AIGOV_OP_SETTLE). */

static ngx_http_aigov_redis_op_t *
ngx_http_aigov_redis_new_batch(ngx_uint_t kind)
{
    ngx_http_aigov_redis_op_t  *op;

    op = ngx_alloc(sizeof(ngx_http_aigov_redis_op_t), ngx_cycle->log);
    if (op == NULL) {
        return NULL;
    }

    ngx_memzero(op, sizeof(ngx_http_aigov_redis_op_t));
    op->kind = kind;
    ngx_queue_init(&op->members);

    return op;
}


static void
ngx_http_aigov_redis_free_settle(ngx_http_aigov_redis_op_t *op)
{
    ngx_queue_t  *q;

    while (op->nmembers && !ngx_queue_empty(&op->members)) {
        q = ngx_queue_head(&op->members);
        ngx_queue_remove(q);
        ngx_free(ngx_queue_data(q, ngx_http_aigov_redis_op_t, queue));
    }

    ngx_free(op);
}


/*
 * The admissions held in this turn go out as one script (one batch op,
 * whose reply is split among them), at most AIGOV_QUOTA_REDIS_BATCH_MAX
 * at a time; one alone goes as a batch of one, its own op. Redis runs one
 * script for many requests, and reads each subject's counters once.
 */

static void
ngx_http_aigov_redis_send_reserves(ngx_http_aigov_redis_conn_t *cn)
{
    ngx_uint_t                  n;
    ngx_queue_t                *q;
    ngx_http_aigov_redis_op_t  *op;

    while (cn->nreserves) {
        if (cn->c == NULL) {
            /* lost with the connection: each takes the fail mode */
            q = ngx_queue_head(&cn->reserves);
            ngx_queue_remove(q);
            cn->nreserves--;
            ngx_http_aigov_redis_drop(ngx_queue_data(q,
                                          ngx_http_aigov_redis_op_t, queue));
            continue;
        }

        if (cn->nreserves == 1) {
            q = ngx_queue_head(&cn->reserves);
            ngx_queue_remove(q);
            cn->nreserves--;
            op = ngx_queue_data(q, ngx_http_aigov_redis_op_t, queue);

        } else {
            op = ngx_http_aigov_redis_new_batch(NGX_HTTP_AIGOV_OP_BATCH);
            if (op == NULL) {
                ngx_http_aigov_redis_fail(cn, "out of memory");
                return;
            }

            for (n = 0; n < AIGOV_QUOTA_REDIS_BATCH_MAX && cn->nreserves; n++)
            {
                q = ngx_queue_head(&cn->reserves);
                ngx_queue_remove(q);
                cn->nreserves--;
                ngx_queue_insert_tail(&op->members, q);
                op->nmembers++;
            }
        }

        if (ngx_http_aigov_redis_append_op(cn, op) != NGX_OK) {
            /* fail() has answered what was queued; this one too */
            ngx_http_aigov_redis_drop(op);
            continue;
        }

        op->deadline = ngx_current_msec + cn->srv->timeout
                       + (cn->connected ? 0 : cn->srv->connect_timeout);

        ngx_queue_insert_tail(&cn->ops, &op->queue);
        cn->nops++;
    }
}


/* An op that gets no answer from Redis: whoever waits takes the fail
 * mode (a batch's members each), and the op is freed. */

static void
ngx_http_aigov_redis_drop(ngx_http_aigov_redis_op_t *op)
{
    ngx_queue_t  *q;

    if (op->kind == NGX_HTTP_AIGOV_OP_SETTLE) {
        ngx_http_aigov_redis_free_settle(op);
        return;
    }

    if (op->kind == NGX_HTTP_AIGOV_OP_BATCH) {
        while (!ngx_queue_empty(&op->members)) {
            q = ngx_queue_head(&op->members);
            ngx_queue_remove(q);
            ngx_http_aigov_redis_drop(ngx_queue_data(q,
                                          ngx_http_aigov_redis_op_t, queue));
        }
    }

    ngx_http_aigov_redis_answer(op, NGX_HTTP_AIGOV_VERDICT_DOWN);
    ngx_free(op);
}


/* The handshake commands have an op each, so that replies stay in step. */

static ngx_int_t
ngx_http_aigov_redis_append(ngx_http_aigov_redis_conn_t *cn, int argc,
    const char *const *argv, const size_t *lens)
{
    size_t                      need;
    u_char                     *p;
    ngx_http_aigov_redis_op_t  *op;

    need = aigov_resp_command(NULL, 0, argc, argv, lens);

    if (cn->out_len + need > cn->out_cap) {
        p = ngx_alloc(ngx_max(cn->out_cap * 2, cn->out_len + need + 4096),
                      ngx_cycle->log);
        if (p == NULL) {
            goto failed;
        }

        ngx_memcpy(p, cn->out, cn->out_len);
        ngx_free(cn->out);
        cn->out = p;
        cn->out_cap = ngx_max(cn->out_cap * 2, cn->out_len + need + 4096);
    }

    (void) aigov_resp_command((char *) cn->out + cn->out_len, need, argc,
                              argv, lens);
    cn->out_len += need;

    if (ngx_strcmp(argv[0], "EVALSHA") == 0
        || ngx_strcmp(argv[0], "EVAL") == 0)
    {
        /* the caller's op */
        return NGX_OK;
    }

    op = ngx_alloc(sizeof(ngx_http_aigov_redis_op_t), ngx_cycle->log);
    if (op == NULL) {
        goto failed;
    }

    ngx_memzero(op, sizeof(ngx_http_aigov_redis_op_t));
    op->kind = NGX_HTTP_AIGOV_OP_HANDSHAKE;
    op->deadline = ngx_current_msec + cn->srv->connect_timeout
                   + cn->srv->timeout;

    ngx_queue_insert_tail(&cn->ops, &op->queue);
    cn->nops++;

    ngx_http_aigov_redis_arm(cn);

    return NGX_OK;

failed:

    ngx_http_aigov_redis_fail(cn, "out of memory");
    return NGX_ERROR;
}


/* EVALSHA sha 1 base numbers..., or EVAL script ... after NOSCRIPT; for a
 * batch of many, EVALSHA sha N base... and each member's four numbers */

static ngx_int_t
ngx_http_aigov_redis_append_op(ngx_http_aigov_redis_conn_t *cn,
    ngx_http_aigov_redis_op_t *op)
{
    int                         i, argc;
    char                        nkeys[NGX_INT_T_LEN];
    ngx_uint_t                  settle;
    ngx_queue_t                *q;
    ngx_http_aigov_redis_op_t  *m, *first;
    const char                 *script, *sha;
    const char                 *argv[5 + 6 * AIGOV_QUOTA_REDIS_BATCH_MAX];
    size_t                      lens[5 + 6 * AIGOV_QUOTA_REDIS_BATCH_MAX];

    switch (op->kind) {
    case NGX_HTTP_AIGOV_OP_RESERVE:  /* a batch of one */
    case NGX_HTTP_AIGOV_OP_BATCH:
        script = aigov_quota_redis_batch_script();
        sha = ngx_http_aigov_batch_sha;
        break;
    default:
        script = aigov_quota_redis_settle_script();
        sha = ngx_http_aigov_settle_sha;
        break;
    }

    argv[0] = op->eval ? "EVAL" : "EVALSHA";
    lens[0] = ngx_strlen(argv[0]);
    argv[1] = op->eval ? script : sha;
    lens[1] = op->eval ? ngx_strlen(script) : 40;

    if (op->kind != NGX_HTTP_AIGOV_OP_BATCH && op->nmembers == 0) {
        for (i = 0; i < op->argc; i++) {
            argv[i + 2] = op->args[i];
            lens[i + 2] = op->lens[i];
        }

        return ngx_http_aigov_redis_append(cn, op->argc + 2, argv, lens);
    }

    /* many in one script: the count of keys, each member's key base (its
     * args[1]), then each member's numbers. Admissions' numbers are their
     * args[2..5]; settlements' are args[3..7], and the script adds the
     * mark as its last key and its number as its last argument (each
     * member's args[2] and args[8], the same for all). */

    settle = (op->kind == NGX_HTTP_AIGOV_OP_SETTLE);
    first = ngx_queue_data(ngx_queue_head(&op->members),
                           ngx_http_aigov_redis_op_t, queue);

    argv[2] = nkeys;
    lens[2] = ngx_sprintf((u_char *) nkeys, "%ui", op->nmembers + settle)
              - (u_char *) nkeys;
    argc = 3;

    for (q = ngx_queue_head(&op->members);
         q != ngx_queue_sentinel(&op->members);
         q = ngx_queue_next(q))
    {
        m = ngx_queue_data(q, ngx_http_aigov_redis_op_t, queue);
        argv[argc] = m->args[1];
        lens[argc++] = m->lens[1];
    }

    if (settle) {
        argv[argc] = first->args[2];
        lens[argc++] = first->lens[2];
    }

    for (q = ngx_queue_head(&op->members);
         q != ngx_queue_sentinel(&op->members);
         q = ngx_queue_next(q))
    {
        m = ngx_queue_data(q, ngx_http_aigov_redis_op_t, queue);

        for (i = settle ? 3 : 2; i < (settle ? 8 : 6); i++) {
            argv[argc] = m->args[i];
            lens[argc++] = m->lens[i];
        }
    }

    if (settle) {
        argv[argc] = first->args[8];
        lens[argc++] = first->lens[8];
    }

    return ngx_http_aigov_redis_append(cn, argc, argv, lens);
}


static void
ngx_http_aigov_redis_flush(ngx_http_aigov_redis_conn_t *cn)
{
    ssize_t            n;
    ngx_connection_t  *c;

    c = cn->c;

    while (cn->out_sent < cn->out_len) {
        n = c->send(c, cn->out + cn->out_sent, cn->out_len - cn->out_sent);

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == NGX_ERROR || n == 0) {
            ngx_http_aigov_redis_fail(cn, "cannot send");
            return;
        }

        cn->out_sent += n;
    }

    if (cn->out_sent == cn->out_len) {
        cn->out_sent = 0;
        cn->out_len = 0;
    }

    if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
        ngx_http_aigov_redis_fail(cn, "cannot wait to send");
    }
}


/* The timer follows the oldest operation's deadline: Redis answers in
 * order, so when that one is late, all are. */

static void
ngx_http_aigov_redis_arm(ngx_http_aigov_redis_conn_t *cn)
{
    ngx_msec_int_t              left;
    ngx_http_aigov_redis_op_t  *op;

    if (ngx_queue_empty(&cn->ops)) {
        if (cn->timer.timer_set) {
            ngx_del_timer(&cn->timer);
        }

        return;
    }

    op = ngx_queue_data(ngx_queue_head(&cn->ops), ngx_http_aigov_redis_op_t,
                        queue);

    left = (ngx_msec_int_t) (op->deadline - ngx_current_msec);

    ngx_add_timer(&cn->timer, left > 0 ? (ngx_msec_t) left : 1);
}


static void
ngx_http_aigov_redis_timer_handler(ngx_event_t *ev)
{
    ngx_msec_int_t                left;
    ngx_http_aigov_redis_op_t    *op;
    ngx_http_aigov_redis_conn_t  *cn;

    cn = ev->data;

    if (ngx_queue_empty(&cn->ops)) {
        return;
    }

    /* ngx_add_timer keeps an earlier timer that is close to the new one:
     * the oldest operation may not be late yet */

    op = ngx_queue_data(ngx_queue_head(&cn->ops), ngx_http_aigov_redis_op_t,
                        queue);

    left = (ngx_msec_int_t) (op->deadline - ngx_current_msec);

    if (left > 0) {
        ngx_add_timer(&cn->timer, (ngx_msec_t) left);
        return;
    }

    ngx_http_aigov_redis_fail(cn, cn->connected ? "no answer in time"
                                                : "no connection in time");
}


static void
ngx_http_aigov_redis_write_handler(ngx_event_t *wev)
{
    int                           err;
    socklen_t                     len;
    ngx_connection_t             *c;
    ngx_http_aigov_redis_conn_t  *cn;

    c = wev->data;
    cn = c->data;

    if (!cn->connected) {
        err = 0;
        len = sizeof(int);

        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1)
        {
            err = ngx_socket_errno;
        }

        if (err) {
            ngx_log_error(NGX_LOG_INFO, c->log, err,
                          "aigov: connect() to redis \"%V\" failed",
                          &cn->srv->name);
            ngx_http_aigov_redis_fail(cn, "cannot connect");
            return;
        }

        cn->connected = 1;
    }

    ngx_http_aigov_redis_flush(cn);
}


static void
ngx_http_aigov_redis_read_handler(ngx_event_t *rev)
{
    int                           rc;
    size_t                        used, pos;
    ssize_t                       n;
    u_char                       *p;
    ngx_connection_t             *c;
    aigov_resp_reply_t            rep;
    ngx_http_aigov_redis_conn_t  *cn;

    c = rev->data;
    cn = c->data;

    for ( ;; ) {
        if (cn->in_cap - cn->in_len < 4096) {
            if (cn->in_cap > 2 * AIGOV_RESP_MAX_BULK) {
                ngx_http_aigov_redis_fail(cn, "answer too long");
                return;
            }

            p = ngx_alloc(cn->in_cap * 2 + 16384, c->log);
            if (p == NULL) {
                ngx_http_aigov_redis_fail(cn, "out of memory");
                return;
            }

            ngx_memcpy(p, cn->in, cn->in_len);
            ngx_free(cn->in);
            cn->in = p;
            cn->in_cap = cn->in_cap * 2 + 16384;
        }

        n = c->recv(c, cn->in + cn->in_len, cn->in_cap - cn->in_len);

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == 0 || n == NGX_ERROR) {
            ngx_http_aigov_redis_fail(cn, n == 0 && cn->nops == 0
                                          ? NULL : "connection lost");
            return;
        }

        cn->connected = 1;
        cn->in_len += n;
        pos = 0;

        for ( ;; ) {
            rc = aigov_resp_parse((char *) cn->in + pos, cn->in_len - pos,
                                  &rep, &used);
            if (rc == 0) {
                break;
            }

            if (rc < 0 || ngx_queue_empty(&cn->ops)) {
                ngx_http_aigov_redis_fail(cn, "answer out of protocol");
                return;
            }

            ngx_http_aigov_redis_reply(cn, &rep);

            if (cn->c != c) {
                /* the reply gave the connection up (a failed AUTH) */
                return;
            }

            pos += used;
        }

        ngx_memmove(cn->in, cn->in + pos, cn->in_len - pos);
        cn->in_len -= pos;
    }

    ngx_http_aigov_redis_arm(cn);

    if (cn->out_len) {
        ngx_http_aigov_redis_flush(cn);

        if (cn->c != c) {
            return;
        }
    }

    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        ngx_http_aigov_redis_fail(cn, "cannot wait to read");
    }
}


/* The reply belongs to the oldest operation. */

static void
ngx_http_aigov_redis_reply(ngx_http_aigov_redis_conn_t *cn,
    aigov_resp_reply_t *rep)
{
    ngx_uint_t                  i;
    ngx_queue_t                *q;
    aigov_resp_reply_t          part, *parts;
    ngx_http_aigov_redis_op_t  *op, *m;

    q = ngx_queue_head(&cn->ops);
    ngx_queue_remove(q);
    cn->nops--;

    op = ngx_queue_data(q, ngx_http_aigov_redis_op_t, queue);

    if (rep->v.type == AIGOV_RESP_ERROR
        && op->kind != NGX_HTTP_AIGOV_OP_HANDSHAKE && !op->eval
        && rep->v.len >= 8 && ngx_strncmp(rep->v.str, "NOSCRIPT", 8) == 0)
    {
        /* the scripts were flushed since this connection loaded them:
         * once more with the script itself, which Redis keeps again; a
         * settlement did not run, and takes a new number, since those
         * after it may have run (another worker's EVAL loaded the script) */
        op->eval = 1;

        if (op->kind == NGX_HTTP_AIGOV_OP_SETTLE) {
            op->seq = 0;
        }

        if ((op->kind == NGX_HTTP_AIGOV_OP_SETTLE
             ? ngx_http_aigov_redis_append_settle(cn, op)
             : ngx_http_aigov_redis_append_op(cn, op)) == NGX_OK)
        {
            op->deadline = ngx_current_msec + cn->srv->timeout;
            ngx_queue_insert_tail(&cn->ops, &op->queue);
            cn->nops++;
            return;
        }

        ngx_http_aigov_redis_drop(op);
        return;
    }

    switch (op->kind) {

    case NGX_HTTP_AIGOV_OP_HANDSHAKE:
        ngx_free(op);

        if (rep->v.type == AIGOV_RESP_ERROR) {
            if (!cn->down) {
                ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                              "aigov: quota store redis \"%V\" refused the "
                              "connection's setup: %*s", &cn->srv->name,
                              (size_t) ngx_min(rep->v.len, 200), rep->v.str);
            }

            ngx_http_aigov_redis_fail(cn, "setup refused (AUTH, SELECT "
                                          "or SCRIPT LOAD)");
            return;
        }

        if (cn->down && ngx_queue_empty(&cn->ops) == 0) {
            op = ngx_queue_data(ngx_queue_head(&cn->ops),
                                ngx_http_aigov_redis_op_t, queue);
            if (op->kind == NGX_HTTP_AIGOV_OP_HANDSHAKE) {
                return;
            }
        }

        if (cn->down) {
            cn->down = 0;
            ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                          "aigov: quota store redis \"%V\" answers again; "
                          "quotas are counted there again", &cn->srv->name);
        }

        return;

    case NGX_HTTP_AIGOV_OP_SETTLE:
        if (rep->v.type == AIGOV_RESP_ERROR) {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "aigov: quota store redis \"%V\" refused a "
                          "settlement: %*s", &cn->srv->name,
                          (size_t) ngx_min(rep->v.len, 200), rep->v.str);
        }

        ngx_http_aigov_redis_free_settle(op);
        return;

    case NGX_HTTP_AIGOV_OP_BATCH:
        parts = ngx_alloc(op->nmembers * sizeof(aigov_resp_reply_t),
                          ngx_cycle->log);
        if (parts == NULL) {
            ngx_http_aigov_redis_drop(op);
            return;
        }

        /* an answer of another shape gives each member an error saying so */
        (void) aigov_quota_redis_batch_reply(rep, op->nmembers, parts);

        for (i = 0; !ngx_queue_empty(&op->members); i++) {
            q = ngx_queue_head(&op->members);
            ngx_queue_remove(q);

            m = ngx_queue_data(q, ngx_http_aigov_redis_op_t, queue);
            ngx_http_aigov_redis_reserved(cn, m, &parts[i]);
        }

        ngx_free(parts);
        ngx_free(op);
        return;

    default: /* NGX_HTTP_AIGOV_OP_RESERVE */
        (void) aigov_quota_redis_batch_reply(rep, 1, &part);
        ngx_http_aigov_redis_reserved(cn, op, &part);
        return;
    }
}


/* An admission's answer (its own, or its part of a batch's); frees op. */

static void
ngx_http_aigov_redis_reserved(ngx_http_aigov_redis_conn_t *cn,
    ngx_http_aigov_redis_op_t *op, aigov_resp_reply_t *rep)
{
    ngx_int_t                    verdict;
    ngx_http_aigov_redis_req_t  *st;

    st = op->req;

    if (st == NULL) {
        /* the request went away while Redis decided: what it was
         * charged is given back */
        aigov_quota_ticket_t  t;
        long                  retry;
        char                  msg[256];

        if (aigov_quota_redis_verdict(rep, &op->lim, op->reserve, &t,
                                      &retry, msg, sizeof(msg))
            == 0)
        {
            ngx_http_aigov_redis_settle(cn->srv, op->args[1], &t, 0,
                                        ngx_cycle->log);
        }

        ngx_free(op);
        return;
    }

    verdict = aigov_quota_redis_verdict(rep, &st->lim, st->reserve,
                                        &st->ticket, &st->retry, st->msg,
                                        sizeof(st->msg));
    if (verdict < 0) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "aigov: quota store redis \"%V\": %s",
                      &cn->srv->name, st->msg);
        verdict = NGX_HTTP_AIGOV_VERDICT_DOWN;
    }

    ngx_http_aigov_redis_answer(op, verdict);
    ngx_free(op);
}


/* Hands a verdict to the request waiting for it, if any. */

static void
ngx_http_aigov_redis_answer(ngx_http_aigov_redis_op_t *op, ngx_int_t verdict)
{
    ngx_http_aigov_redis_req_t  *st;

    st = op->req;

    if (st == NULL || op->kind != NGX_HTTP_AIGOV_OP_RESERVE) {
        return;
    }

    st->op = NULL;
    st->verdict = verdict;

    if (st->waiting) {
        ngx_post_event(&st->ev, &ngx_posted_events);
    }
}


/*
 * A settlement is not waited for. It is held until the end of the event
 * loop turn, where the settlements of one subject for the same windows
 * and of the same sign (a busy caller's) are summed into one script: Redis
 * runs one instead of many, and the sums are what each would have made.
 */

static void
ngx_http_aigov_redis_settle(ngx_http_aigov_redis_srv_t *srv,
    const char *base, aigov_quota_ticket_t *t, long long actual,
    ngx_log_t *log)
{
    size_t                        len, room;
    long long                     delta;
    ngx_uint_t                    n;
    ngx_queue_t                  *q;
    ngx_http_aigov_redis_op_t    *op;
    ngx_http_aigov_redis_conn_t  *cn;

    if (srv->index >= ngx_http_aigov_redis_nconns) {
        return;
    }

    cn = &ngx_http_aigov_redis_conns[srv->index];

    if (cn->c == NULL
        && !(cn->down
             && (ngx_msec_int_t) (cn->retry_at - ngx_current_msec) > 0))
    {
        /* a connection that fails now leaves the settlement held below */
        (void) ngx_http_aigov_redis_connect(cn);
    }

    if (actual < 0) {
        actual = 0;
    }

    delta = actual - t->reserved;
    n = 0;

    for (q = ngx_queue_last(&cn->settles);
         q != ngx_queue_sentinel(&cn->settles) && n < 64;
         q = ngx_queue_prev(q), n++)
    {
        op = ngx_queue_data(q, ngx_http_aigov_redis_op_t, queue);

        if (op->seq == 0
            && op->ticket.minute == t->minute && op->ticket.day == t->day
            && op->ticket.charged == t->charged
            && (op->actual - op->ticket.reserved < 0) == (delta < 0)
            && ngx_strcmp(op->base, base) == 0)
        {
            op->ticket.reserved += t->reserved;
            op->actual += actual;
            return;
        }
    }

    if (cn->nsettles >= NGX_HTTP_AIGOV_REDIS_MAX_HELD) {
        goto lost;
    }

    len = ngx_strlen(base) + 1;
    room = len + 6 * NGX_INT64_LEN + 16;

    op = ngx_alloc(sizeof(ngx_http_aigov_redis_op_t) + room + len, log);
    if (op == NULL) {
        goto lost;
    }

    ngx_memzero(op, sizeof(ngx_http_aigov_redis_op_t));
    op->kind = NGX_HTTP_AIGOV_OP_SETTLE;
    ngx_queue_init(&op->members);
    op->ticket = *t;
    op->actual = actual;
    op->base = op->buf + room;
    ngx_memcpy(op->buf + room, base, len);

    ngx_queue_insert_tail(&cn->settles, &op->queue);
    cn->nsettles++;

    if (!cn->flush_ev.posted) {
        ngx_post_event(&cn->flush_ev, &ngx_posted_events);
    }

    return;

lost:

    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "aigov: quota store redis \"%V\" cannot take a "
                  "settlement (%ui held while it does not answer); the "
                  "reservation counts until its window ends", &srv->name,
                  cn->nsettles);
}


/* ---- the interface the access and log phases use ------------------------ */

/*
 * Admission. Without aigov_quota_redis, lib/quota in shared memory answers
 * at once (0 admitted, 1 refused, -1 error). With it, NGX_AGAIN: Redis
 * answers later, and ngx_http_aigov_quota_wait applies its verdict.
 */

ngx_int_t
ngx_http_aigov_quota_reserve(ngx_http_request_t *r, ngx_http_aigov_ctx_t *ctx,
    aigov_quota_limits_t *lim, long long reserve, long *retry, char *msg,
    size_t msglen)
{
    int                               rc;
    size_t                            len;
    ngx_pool_cleanup_t               *cln;
    ngx_http_aigov_redis_op_t        *op;
    ngx_http_aigov_redis_req_t       *st;
    ngx_http_aigov_redis_conn_t      *cn;
    ngx_http_aigov_main_conf_t       *amcf;
    ngx_http_aigov_redis_loc_conf_t  *rlcf;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_aigov_redis_module);

    if (rlcf->srv == NULL
        || rlcf->srv->index >= ngx_http_aigov_redis_nconns)
    {
        amcf = ngx_http_get_module_main_conf(r, ngx_http_aigov_module);

        ngx_http_aigov_lock(amcf->quota_mutex);
        rc = aigov_quota_admit(amcf->quota, ctx->decision->subject, lim,
                               reserve, ngx_time(), &ctx->ticket, retry,
                               msg, msglen);
        ngx_shmtx_unlock(amcf->quota_mutex);

        ctx->quota_store = "local";

        return rc;
    }

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_aigov_redis_req_t));
    if (cln == NULL) {
        return -1;
    }

    st = cln->data;
    ngx_memzero(st, sizeof(ngx_http_aigov_redis_req_t));
    st->r = r;
    st->srv = rlcf->srv;
    st->lim = *lim;
    st->reserve = reserve < 0 ? 0 : reserve;
    st->verdict = NGX_HTTP_AIGOV_VERDICT_WAIT;
    st->ev.handler = ngx_http_aigov_redis_wake;
    st->ev.data = r;
    st->ev.log = r->connection->log;

    cln->handler = ngx_http_aigov_redis_req_cleanup;
    ctx->redis = st;

    cn = &ngx_http_aigov_redis_conns[st->srv->index];

    len = ngx_strlen(st->srv->prefix) + ngx_strlen(ctx->decision->subject)
          + 4 * NGX_INT64_LEN + 16;

    op = ngx_alloc(sizeof(ngx_http_aigov_redis_op_t) + len,
                   r->connection->log);
    if (op == NULL) {
        /* never left waiting: the fail mode decides */
        st->verdict = NGX_HTTP_AIGOV_VERDICT_DOWN;
        return NGX_AGAIN;
    }

    ngx_memzero(op, sizeof(ngx_http_aigov_redis_op_t));
    op->kind = NGX_HTTP_AIGOV_OP_RESERVE;
    op->req = st;
    op->lim = *lim;
    op->reserve = st->reserve;
    op->argc = aigov_quota_redis_reserve_args(op->buf, len,
                                              (const char *) st->srv->prefix,
                                              ctx->decision->subject, lim,
                                              st->reserve, op->args, op->lens);

    st->op = op;

    if (op->argc < 0 || ngx_http_aigov_redis_queue(cn, op) != NGX_OK) {
        st->op = NULL;
        st->verdict = NGX_HTTP_AIGOV_VERDICT_DOWN;
        ngx_free(op);
    }

    /* op may have been answered already (a connection that failed at
     * once): the verdict is in st either way */

    return NGX_AGAIN;
}


/*
 * After the access phase's work: a request whose admission Redis has not
 * answered yet waits (NGX_AGAIN; ngx_http_aigov_processed resumes it).
 * Otherwise the verdict is applied to *rc now.
 */

ngx_int_t
ngx_http_aigov_quota_wait(ngx_http_request_t *r, ngx_http_aigov_ctx_t *ctx,
    ngx_int_t *rc)
{
    ngx_http_aigov_redis_req_t  *st;

    st = ctx->redis;

    if (st == NULL || st->applied) {
        return NGX_OK;
    }

    st->rc = *rc;

    if (st->verdict == NGX_HTTP_AIGOV_VERDICT_WAIT) {
        st->waiting = 1;
        r->main->blocked++;
        r->aio = 1;
        r->write_event_handler = ngx_http_request_empty_handler;
        return NGX_AGAIN;
    }

    *rc = ngx_http_aigov_quota_verdict(r, ctx, st);

    return NGX_OK;
}


static void
ngx_http_aigov_redis_wake(ngx_event_t *ev)
{
    ngx_int_t                    rc;
    ngx_connection_t            *c;
    ngx_http_request_t          *r;
    ngx_http_aigov_ctx_t        *ctx;
    ngx_http_aigov_redis_req_t  *st;

    r = ev->data;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    ctx = ngx_http_aigov_get_ctx(r);
    st = ctx->redis;

    st->waiting = 0;
    r->main->blocked--;
    r->aio = 0;

    rc = ngx_http_aigov_quota_verdict(r, ctx, st);

    if (r->done) {
        c->write->handler(c->write);
        return;
    }

    ngx_http_aigov_processed(r, rc);
    ngx_http_run_posted_requests(c);
}


/* What Redis (or, when it could not answer, the fail mode) decided. */

static ngx_int_t
ngx_http_aigov_quota_verdict(ngx_http_request_t *r, ngx_http_aigov_ctx_t *ctx,
    ngx_http_aigov_redis_req_t *st)
{
    int                          rc;
    long                         retry;
    char                         msg[256];
    ngx_http_aigov_main_conf_t  *amcf;

    st->applied = 1;

    if (st->verdict == 0) {
        ctx->ticket = st->ticket;
        ctx->quota_held = 1;
        ctx->quota_store = "redis";
        st->in_redis = 1;
        return st->rc;
    }

    if (st->verdict == 1) {
        ctx->quota_store = "redis";
        return ngx_http_aigov_quota_refuse(r, ctx, "quota_exceeded", st->msg,
                                           st->retry);
    }

    switch (st->srv->fail) {

    case NGX_HTTP_AIGOV_REDIS_OPEN:
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "aigov: quota store redis \"%V\" did not answer; "
                      "served without counting (fail=open)", &st->srv->name);
        ctx->quota_store = "none";
        return st->rc;

    case NGX_HTTP_AIGOV_REDIS_LOCAL:
        amcf = ngx_http_get_module_main_conf(r, ngx_http_aigov_module);

        retry = 0;
        msg[0] = '\0';

        ngx_http_aigov_lock(amcf->quota_mutex);
        rc = aigov_quota_admit(amcf->quota, ctx->decision->subject, &st->lim,
                               st->reserve, ngx_time(), &ctx->ticket, &retry,
                               msg, sizeof(msg));
        ngx_shmtx_unlock(amcf->quota_mutex);

        ctx->quota_store = "local";

        if (rc == 0) {
            ctx->quota_held = 1;
            return st->rc;
        }

        if (rc < 0) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_aigov_quota_refuse(r, ctx, "quota_exceeded", msg,
                                           retry);

    default: /* closed */
        ctx->quota_store = "redis";
        return ngx_http_aigov_quota_refuse(r, ctx, "quota_unavailable",
                   "the quota store cannot be reached, so the request is "
                   "not served; retry shortly", 1);
    }
}


/* A quota refusal replaces whatever the rest of the access phase found. */

static ngx_int_t
ngx_http_aigov_quota_refuse(ngx_http_request_t *r, ngx_http_aigov_ctx_t *ctx,
    const char *code, const char *msg, long retry)
{
    size_t   len;
    u_char  *p;

    len = ngx_strlen(msg);

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(p, msg, len + 1);

    ctx->err_code = code;
    ctx->err_message = (char *) p;
    ctx->retry_after = retry > 0 ? retry : 1;

    return 429;
}


/*
 * Settlement: actual tokens replace the reservation in the store that took
 * it. Redis is told without waiting for its answer. A reservation that
 * equals the usage is not sent. One admitted under requests_per_minute
 * alone is settled too: the subject's token counts are shared with its
 * other rules, and with other gateways whose rules may limit tokens.
 */

void
ngx_http_aigov_quota_settle(ngx_http_request_t *r, ngx_http_aigov_ctx_t *ctx,
    long long actual)
{
    u_char                      *base;
    size_t                       plen, slen;
    ngx_http_aigov_redis_req_t  *st;
    ngx_http_aigov_main_conf_t  *amcf;

    st = ctx->redis;

    if (st == NULL || !st->in_redis) {
        amcf = ngx_http_get_module_main_conf(r, ngx_http_aigov_module);

        ngx_http_aigov_lock(amcf->quota_mutex);
        aigov_quota_settle(amcf->quota, ctx->decision->subject, &ctx->ticket,
                           actual, ngx_time());
        ngx_shmtx_unlock(amcf->quota_mutex);
        return;
    }

    st->in_redis = 0;

    if (actual == ctx->ticket.reserved) {
        return;
    }

    plen = ngx_strlen(st->srv->prefix);
    slen = ngx_strlen(ctx->decision->subject);

    base = ngx_pnalloc(r->pool, plen + slen + 1);
    if (base == NULL) {
        return;
    }

    ngx_memcpy(base, st->srv->prefix, plen);
    ngx_memcpy(base + plen, ctx->decision->subject, slen + 1);

    ngx_http_aigov_redis_settle(st->srv, (const char *) base, &ctx->ticket,
                                actual, r->connection->log);
}


static void
ngx_http_aigov_redis_req_cleanup(void *data)
{
    ngx_http_aigov_redis_req_t  *st = data;

    if (st->op) {
        /* still in flight: the reply gives back what it charged */
        st->op->req = NULL;
        st->op = NULL;
    }

    if (st->ev.posted) {
        ngx_delete_posted_event(&st->ev);
    }
}
