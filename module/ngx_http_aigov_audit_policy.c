
/*
 * aigov: the policy in the audit log.
 *
 * A worker remembers the policies its records have named (with their
 * policy record body, built once, outside any lock). Under the log's lock,
 * before the records of a write, every one of them whose digest is not yet
 * in the shared list of the current file gets its policy record; the list
 * is emptied at reload and when the log moves to a new file, so each file
 * holds the policies its records use (lib/audit_policy.h).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <sys/time.h>

#include "ngx_http_aigov_module.h"
#include "audit_policy.h"


#define NGX_HTTP_AIGOV_USED_MAX  64


typedef struct {
    aigov_policy_t  *policy;
    char            *body;
    size_t           len;
    u_char           digest[64];
} ngx_http_aigov_used_t;


static ngx_http_aigov_used_t  ngx_http_aigov_used[NGX_HTTP_AIGOV_USED_MAX];
static ngx_uint_t             ngx_http_aigov_nused;
static size_t                 ngx_http_aigov_used_room;

/* which used policies the pending write carries, in order */
static ngx_uint_t             ngx_http_aigov_writing[NGX_HTTP_AIGOV_USED_MAX];


void
ngx_http_aigov_audit_policy_use(aigov_policy_t *policy, ngx_log_t *log)
{
    ngx_uint_t              i;
    struct timeval          tv;
    ngx_http_aigov_used_t  *u;

    for (i = 0; i < ngx_http_aigov_nused; i++) {
        if (ngx_http_aigov_used[i].policy == policy) {
            return;
        }
    }

    if (ngx_http_aigov_nused == NGX_HTTP_AIGOV_USED_MAX) {
        return;
    }

    u = &ngx_http_aigov_used[ngx_http_aigov_nused];

    gettimeofday(&tv, NULL);

    u->body = aigov_policy_record_body(policy,
                                       (int64_t) tv.tv_sec * 1000000
                                       + tv.tv_usec, &u->len);
    if (u->body == NULL) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "aigov: cannot build the audit log's record of the "
                      "policy %s", aigov_policy_sha256(policy));
        return;
    }

    u->policy = policy;
    ngx_memcpy(u->digest, aigov_policy_sha256(policy), 64);

    ngx_http_aigov_used_room += AIGOV_RECORD_LINE_MAX(u->len);
    ngx_http_aigov_nused++;
}


size_t
ngx_http_aigov_audit_policy_room(void)
{
    return ngx_http_aigov_used_room;
}


static ngx_uint_t
ngx_http_aigov_audit_policy_logged_in(ngx_http_aigov_audit_sh_t *a,
    u_char *digest)
{
    ngx_uint_t  i;

    for (i = 0; i < a->npolicies && i < NGX_HTTP_AIGOV_POLICIES_MAX; i++) {
        if (ngx_memcmp(a->policies[i], digest, 64) == 0) {
            return 1;
        }
    }

    return 0;
}


/* Under the lock: the lines of the policies not yet in this file. */

ngx_uint_t
ngx_http_aigov_audit_policy_lines(ngx_http_aigov_audit_sh_t *a, char *out,
    size_t cap, uint64_t seq, size_t *n)
{
    size_t                  b;
    int64_t                 now;
    ngx_uint_t              i, k;
    struct timeval          tv;
    ngx_http_aigov_used_t  *u;

    k = 0;
    now = -1;

    for (i = 0; i < ngx_http_aigov_nused; i++) {
        u = &ngx_http_aigov_used[i];

        if (ngx_http_aigov_audit_policy_logged_in(a, u->digest)) {
            continue;
        }

        if (now < 0) {
            gettimeofday(&tv, NULL);
            now = (int64_t) tv.tv_sec * 1000000 + tv.tv_usec;
        }

        aigov_policy_record_set_ts(u->body, now);

        b = aigov_record_line(out + *n, cap - *n, seq + k, u->body, u->len);
        if (b == 0) {
            break;
        }

        *n += b;
        ngx_http_aigov_writing[k++] = i;
    }

    return k;
}


/* The first `committed` policy lines are in the file whole. */

void
ngx_http_aigov_audit_policy_logged(ngx_http_aigov_audit_sh_t *a,
    ngx_uint_t committed)
{
    ngx_uint_t  i;

    for (i = 0; i < committed; i++) {
        if (a->npolicies >= NGX_HTTP_AIGOV_POLICIES_MAX) {
            /* many policies at once: start the list again; a policy may
             * then be logged twice, never not at all */
            a->npolicies = 0;
        }

        ngx_memcpy(a->policies[a->npolicies],
                   ngx_http_aigov_used[ngx_http_aigov_writing[i]].digest, 64);
        a->npolicies++;
    }
}
