/*
 * audit_recover: picking up an existing log at start.
 *
 * The quick way reads only the end of the file: the newest checkpoint
 * carries the tree's compact range (aigov-range) in its signed body, and
 * the records from its size on are hashed onto it. Anything unusual there
 * (no such checkpoint, a foreign or torn line in the middle, a seq out of
 * step) hands over to the slow way, which reads the whole log with the
 * verifier itself (without a key), so the writer and the auditor agree
 * line for line on what is a leaf: a torn line, a forged line or a
 * repeated seq counts for neither.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "audit.h"

#define TAIL_FIRST  ((size_t) 4 << 20)
#define TAIL_MAX    ((size_t) 64 << 20)

enum { TAIL_OK, TAIL_TORN, TAIL_WIDER, TAIL_NO };

/* A checkpoint line whose note parses and carries a range that folds to
 * its root (aigov_checkpoint_open checks that). */
static int ranged_checkpoint(const char *p, size_t len, aigov_checkpoint_t *cp)
{
    const char *note;
    size_t note_len;
    json_t *j = aigov_checkpoint_line_note(p, len, &note, &note_len);
    char why[300];
    int ok;

    ok = j != NULL
         && aigov_checkpoint_open(note, note_len, NULL, cp, why, sizeof(why)) == AIGOV_NOTE_OK
         && cp->has_range;
    json_decref(j);
    return ok;
}

/* The last n bytes of the file (the whole file when at_start). buf[0..n)
 * are the bytes; a window that does not start the file begins mid-line. */
static int tail_scan(const char *buf, size_t n, int at_start, aigov_tree_t *out,
                     uint64_t *last_cp)
{
    const char *p = buf, *end = buf + n, *nl, *q, *cp_at = NULL;
    aigov_checkpoint_t cp, c;
    uint64_t seq, expect, max_cp = 0;
    int before = 0;

    if (!at_start) {
        nl = memchr(p, '\n', n);
        if (nl == NULL)
            return TAIL_WIDER;
        p = nl + 1;
    }
    for (q = p; q < end && (nl = memchr(q, '\n', (size_t) (end - q))) != NULL; q = nl + 1) {
        if (aigov_is_checkpoint_line(q, (size_t) (nl - q)) && ranged_checkpoint(q, (size_t) (nl - q), &c)) {
            cp = c;
            cp_at = q;
            if (c.size > max_cp)
                max_cp = c.size;
        }
    }
    if (cp_at == NULL)
        return at_start ? TAIL_NO : TAIL_WIDER;
    if (aigov_tree_from_range(out, cp.size, (const uint8_t (*)[32]) cp.range, cp.range_len) != 0)
        return TAIL_NO;

    /* Records from seq cp.size on, in file order. Some may come before the
     * checkpoint line (it is signed outside the writers' lock), so the
     * window must also hold an older record before them. */
    expect = cp.size;
    for (q = p; q < end; q = nl + 1) {
        size_t len;
        uint8_t leaf[32];

        nl = memchr(q, '\n', (size_t) (end - q));
        if (nl == NULL)
            return TAIL_TORN;
        len = (size_t) (nl - q);
        if (aigov_is_checkpoint_line(q, len)) {
            if (q > cp_at)
                return TAIL_NO;   /* a checkpoint without a range after it */
            continue;
        }
        if (aigov_record_seq(q, len, &seq) != 0 || aigov_json_check(q, len) != 0)
            return TAIL_NO;
        if (seq < cp.size) {
            if (q > cp_at)
                return TAIL_NO;
            before = 1;
            continue;
        }
        if (!before && !at_start)
            return TAIL_WIDER;
        if (seq != expect)
            return TAIL_NO;
        aigov_leaf_hash(q, len, leaf);
        aigov_tree_append(out, leaf);
        expect++;
    }
    if (!before && !at_start)
        return TAIL_WIDER;
    *last_cp = max_cp;
    return TAIL_OK;
}

/* 1 done (rc in *rc), 0 use the slow way. */
static int recover_tail(const char *path, off_t size, aigov_tree_t *out, uint64_t *last_cp,
                        int *needs_newline, char *err, size_t errlen, int *rc)
{
    size_t win = TAIL_FIRST, n, got;
    char *buf = NULL;
    int fd, r = TAIL_NO;
    ssize_t k;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    for (;;) {
        int at_start = (off_t) win >= size;
        off_t from = at_start ? 0 : size - (off_t) win;
        char *nb;

        n = (size_t) (size - from);
        nb = realloc(buf, n ? n : 1);
        if (nb == NULL)
            break;
        buf = nb;
        for (got = 0; got < n; got += (size_t) k) {
            k = pread(fd, buf + got, n - got, from + (off_t) got);
            if (k <= 0)
                break;
        }
        if (got != n)
            break;
        aigov_tree_init(out);
        r = tail_scan(buf, n, at_start, out, last_cp);
        if (r != TAIL_WIDER || at_start || win >= TAIL_MAX)
            break;
        win *= 4;
    }
    close(fd);
    free(buf);
    if (r == TAIL_OK || r == TAIL_TORN) {
        *needs_newline = r == TAIL_TORN;
        *rc = 0;
        if (r == TAIL_TORN) {
            snprintf(err, errlen, "%s: the last line is torn (cut short by a crash); it is not part of "
                     "the tree and the log goes on after it", path);
            *rc = 1;
        }
        return 1;
    }
    aigov_tree_init(out);
    *last_cp = 0;
    return 0;
}

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
    int rc;

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
    if (recover_tail(path, st.st_size, out, last_checkpoint_size, needs_newline, err, errlen, &rc))
        return rc;
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
