/*
 * audit_recover: picking up an existing log at start.
 *
 * Recovery reads the log with the verifier itself (without a key), so the
 * writer and the auditor agree line for line on what is a leaf: a torn
 * line, a forged line or a repeated seq counts for neither.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "audit.h"

typedef struct {
    const char *path;
    char    *err;
    size_t   errlen;
    uint64_t count;
} recover_ctx_t;

static void on_problem(void *ud, const aigov_problem_t *p)
{
    recover_ctx_t *c = ud;

    if (c->count++ == 0)
        snprintf(c->err, c->errlen, "%s:%llu: %s: %s", c->path, (unsigned long long) p->line, p->reason, p->message);
}

int aigov_log_recover(const char *path, aigov_tree_t *out, uint64_t *last_checkpoint_size,
                      int *needs_newline, char *err, size_t errlen)
{
    recover_ctx_t c = { path, err, errlen, 0 };
    aigov_verify_t *v;
    const aigov_verify_summary_t *s;
    struct stat st;

    aigov_tree_init(out);
    *last_checkpoint_size = 0;
    *needs_newline = 0;
    if (errlen)
        err[0] = '\0';
    if (stat(path, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (st.st_size == 0)
        return 0;
    v = aigov_verify_new(NULL, on_problem, &c);
    if (v == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (aigov_verify_file(v, path, err, errlen) < 0) {
        aigov_verify_free(v);
        return -1;
    }
    aigov_verify_finish(v);
    s = aigov_verify_summary(v);
    *out = *aigov_verify_tree(v);
    *last_checkpoint_size = s->last_cp_size_any;
    *needs_newline = s->torn_tail;
    aigov_verify_free(v);
    if (c.count > 1) {
        size_t n = strlen(err);
        snprintf(err + n, errlen > n ? errlen - n : 0, " (and %llu more problems)",
                 (unsigned long long) (c.count - 1));
    }
    return c.count ? 1 : 0;
}
