/*
 * audit_files: reading log files plain or gzip'd, and putting many of them
 * in the order of the tree (see audit_files.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "audit.h"
#include "audit_files.h"

#define LINE_CAP     ((size_t) 64 << 20)
#define CHUNK        ((size_t) 1 << 20)
#define PROBE_MAX    ((size_t) 16 << 20)   /* bytes read to find where a file starts */
#define FILES_MAX    100000

struct aigov_reader {
    int     fd;
    gzFile  gz;
    char   *path;
};

aigov_reader_t *aigov_reader_open(const char *path, char *err, size_t errlen)
{
    aigov_reader_t *r = calloc(1, sizeof(*r));
    unsigned char magic[2];
    ssize_t n;

    if (r == NULL || (r->path = strdup(path)) == NULL) {
        free(r);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    n = pread(r->fd, magic, 2, 0);
    if (n == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
        r->gz = gzdopen(r->fd, "rb");
        if (r->gz == NULL) {
            snprintf(err, errlen, "%s: cannot read the gzip file", path);
            close(r->fd);
            goto fail;
        }
        r->fd = -1;     /* gzclose closes it */
        gzbuffer(r->gz, 256 * 1024);
    }
    return r;
fail:
    free(r->path);
    free(r);
    return NULL;
}

int aigov_reader_is_gzip(const aigov_reader_t *r)
{
    return r->gz != NULL;
}

ssize_t aigov_reader_read(aigov_reader_t *r, void *buf, size_t n, char *err, size_t errlen)
{
    if (n > ((size_t) 1 << 30))
        n = (size_t) 1 << 30;
    if (r->gz) {
        int got = gzread(r->gz, buf, (unsigned) n), e;
        const char *msg = gzerror(r->gz, &e);

        if (got < 0 || (e != Z_OK && e != Z_BUF_ERROR)) {
            snprintf(err, errlen, "%s: damaged gzip file: %s", r->path,
                     e == Z_ERRNO ? strerror(errno) : msg);
            return -1;
        }
        if (got == 0 && e == Z_BUF_ERROR) {
            snprintf(err, errlen, "%s: the gzip file is cut short (it ends inside its compressed data)",
                     r->path);
            return -1;
        }
        return got;
    }
    for (;;) {
        ssize_t got = read(r->fd, buf, n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            snprintf(err, errlen, "%s: read error: %s", r->path, strerror(errno));
        return got;
    }
}

void aigov_reader_close(aigov_reader_t *r)
{
    if (r == NULL)
        return;
    if (r->gz)
        gzclose(r->gz);
    else if (r->fd >= 0)
        close(r->fd);
    free(r->path);
    free(r);
}

/* ---- lines ----------------------------------------------------------------- */

struct aigov_lines {
    aigov_reader_t *r;
    char           *buf;
    size_t          cap, start, have;   /* bytes buf[start..have) not yet returned */
    int             eof;
};

aigov_lines_t *aigov_lines_open(const char *path, char *err, size_t errlen)
{
    aigov_lines_t *l = calloc(1, sizeof(*l));

    if (l == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->cap = CHUNK * 2;
    l->buf = malloc(l->cap);
    l->r = l->buf ? aigov_reader_open(path, err, errlen) : NULL;
    if (l->r == NULL) {
        if (l->buf == NULL)
            snprintf(err, errlen, "out of memory");
        free(l->buf);
        free(l);
        return NULL;
    }
    return l;
}

int aigov_lines_next(aigov_lines_t *l, const char **line, size_t *len, int *has_nl,
                     char *err, size_t errlen)
{
    for (;;) {
        char *p = l->buf + l->start, *nl = memchr(p, '\n', l->have - l->start);
        ssize_t n;

        if (nl) {
            *line = p;
            *len = (size_t) (nl - p);
            *has_nl = 1;
            l->start = (size_t) (nl - l->buf) + 1;
            return 1;
        }
        if (l->eof || l->have - l->start >= LINE_CAP) {
            if (l->have == l->start)
                return 0;
            /* the last line without its newline, or one cut at LINE_CAP */
            *line = p;
            *len = l->have - l->start;
            *has_nl = 0;
            l->start = l->have;
            return 1;
        }
        if (l->start > 0) {
            memmove(l->buf, l->buf + l->start, l->have - l->start);
            l->have -= l->start;
            l->start = 0;
        }
        if (l->cap - l->have < CHUNK) {
            size_t cap = l->cap * 2;
            char *nb = cap <= LINE_CAP + CHUNK * 2 ? realloc(l->buf, cap) : NULL;
            if (nb == NULL) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            l->buf = nb;
            l->cap = cap;
        }
        n = aigov_reader_read(l->r, l->buf + l->have, l->cap - l->have, err, errlen);
        if (n < 0)
            return -1;
        if (n == 0)
            l->eof = 1;
        l->have += (size_t) n;
    }
}

void aigov_lines_close(aigov_lines_t *l)
{
    if (l == NULL)
        return;
    aigov_reader_close(l->r);
    free(l->buf);
    free(l);
}

/* ---- many files -------------------------------------------------------------- */

typedef struct {
    aigov_log_file_t *f;
    size_t            n, cap;
} list_t;

static int add(list_t *L, const char *path, char *err, size_t errlen)
{
    struct stat st;

    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < L->n; i++) {
        struct stat o;
        if (stat(L->f[i].path, &o) == 0 && o.st_dev == st.st_dev && o.st_ino == st.st_ino)
            return 0;   /* the same file named twice */
    }
    if (L->n == FILES_MAX) {
        snprintf(err, errlen, "more than %d log files", FILES_MAX);
        return -1;
    }
    if (L->n == L->cap) {
        size_t cap = L->cap ? L->cap * 2 : 16;
        aigov_log_file_t *nf = realloc(L->f, cap * sizeof(*nf));
        if (nf == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        L->f = nf;
        L->cap = cap;
    }
    memset(&L->f[L->n], 0, sizeof(L->f[0]));
    L->f[L->n].path = strdup(path);
    if (L->f[L->n].path == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    L->n++;
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Whether a file in a folder looks like a log: its first byte is '{'
 * (a record or a checkpoint) or it is gzip'd. Empty files count. */
static int looks_like_log(const char *path)
{
    unsigned char b[2];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return 0;
    n = read(fd, b, 2);
    close(fd);
    return n == 0 || (n >= 1 && b[0] == '{') || (n == 2 && b[0] == 0x1f && b[1] == 0x8b);
}

static void note(char **notes, const char *fmt, const char *a)
{
    size_t old = *notes ? strlen(*notes) : 0, add_len = strlen(fmt) + strlen(a) + 2;
    char *n;

    if (notes == NULL)
        return;
    n = realloc(*notes, old + add_len);
    if (n == NULL)
        return;
    snprintf(n + old, add_len, fmt, a);
    *notes = n;
}

static int add_dir(list_t *L, const char *dir, char **notes, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;

    if (d == NULL) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (n == cap) {
            char **nn = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof(char *));
            if (nn == NULL) {
                rc = -1;
                break;
            }
            names = nn;
        }
        if ((names[n] = strdup(de->d_name)) == NULL) {
            rc = -1;
            break;
        }
        n++;
    }
    closedir(d);
    if (rc < 0)
        snprintf(err, errlen, "out of memory");
    if (names)
        qsort(names, n, sizeof(char *), cmp_name);
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(dir) + strlen(names[i]) + 2;
        char *full = malloc(l);
        struct stat st;

        if (full && rc == 0) {
            snprintf(full, l, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", names[i]);
            if (stat(full, &st) == 0 && S_ISREG(st.st_mode)) {
                if (looks_like_log(full))
                    rc = add(L, full, err, errlen);
                else
                    note(notes, "%s: not an audit log file, skipped\n", full);
            }
        } else if (full == NULL && rc == 0) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        }
        free(full);
        free(names[i]);
    }
    free(names);
    return rc;
}

/* Reads the start of one file: a carry-over checkpoint, or the first record. */
static int probe(aigov_log_file_t *f, char *err, size_t errlen)
{
    aigov_lines_t *l = aigov_lines_open(f->path, err, errlen);
    const char *line;
    size_t len, read_bytes = 0;
    int nl, r, first = 1, any = 0;
    uint64_t first_cp = 0, seq;
    aigov_checkpoint_t *cp = malloc(sizeof(*cp));
    char why[300];

    if (l == NULL || cp == NULL) {
        if (cp == NULL)
            snprintf(err, errlen, "out of memory");
        aigov_lines_close(l);
        free(cp);
        return -1;
    }
    f->gzip = aigov_reader_is_gzip(l->r);
    while ((r = aigov_lines_next(l, &line, &len, &nl, err, errlen)) == 1) {
        read_bytes += len + 1;
        if (aigov_is_checkpoint_line(line, len)) {
            const char *note_p;
            size_t note_len;
            json_t *j = aigov_checkpoint_line_note(line, len, &note_p, &note_len);
            if (j && aigov_checkpoint_open(note_p, note_len, NULL, cp, why, sizeof(why)) == AIGOV_NOTE_OK) {
                if (first && cp->has_range) {
                    f->carry = 1;
                    f->start = cp->size;
                }
                if (!any)
                    first_cp = cp->size;
                any = 1;
            }
            json_decref(j);
        } else if (aigov_record_seq(line, len, &seq) == 0) {
            f->has_records = 1;
            if (!f->carry)
                f->start = seq;
            any = 1;
            break;
        }
        first = 0;
        if (read_bytes > PROBE_MAX)
            break;
    }
    aigov_lines_close(l);
    free(cp);
    if (r < 0)
        return -1;
    if (!any)
        f->empty = 1;
    else if (!f->carry && !f->has_records)
        f->start = first_cp;
    return 0;
}

static int cmp_file(const void *a, const void *b, void *ctx)
{
    const list_t *L = ctx;
    size_t i = *(const size_t *) a, j = *(const size_t *) b;
    const aigov_log_file_t *x = &L->f[i], *y = &L->f[j];

    if (x->empty != y->empty)
        return x->empty ? 1 : -1;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->has_records != y->has_records)
        return x->has_records ? 1 : -1;
    return i < j ? -1 : i > j;
}

int aigov_log_files(char *const *args, size_t nargs, aigov_log_file_t **out, size_t *nout,
                    char **notes, char *err, size_t errlen)
{
    list_t L = { 0 };
    size_t *idx;
    aigov_log_file_t *sorted;

    if (notes)
        *notes = NULL;
    for (size_t i = 0; i < nargs; i++) {
        struct stat st;
        int rc;

        if (stat(args[i], &st) != 0) {
            snprintf(err, errlen, "%s: %s", args[i], strerror(errno));
            goto fail;
        }
        rc = S_ISDIR(st.st_mode) ? add_dir(&L, args[i], notes, err, errlen) : add(&L, args[i], err, errlen);
        if (rc < 0)
            goto fail;
    }
    if (L.n == 0) {
        snprintf(err, errlen, "no log files in %s", nargs ? args[0] : "the arguments");
        goto fail;
    }
    for (size_t i = 0; i < L.n; i++)
        if (probe(&L.f[i], err, errlen) < 0)
            goto fail;
    idx = malloc(L.n * sizeof(size_t));
    sorted = malloc(L.n * sizeof(*sorted));
    if (idx == NULL || sorted == NULL) {
        free(idx);
        free(sorted);
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < L.n; i++)
        idx[i] = i;
    qsort_r(idx, L.n, sizeof(size_t), cmp_file, &L);
    for (size_t i = 0; i < L.n; i++)
        sorted[i] = L.f[idx[i]];
    free(idx);
    free(L.f);
    *out = sorted;
    *nout = L.n;
    return 0;
fail:
    aigov_log_files_free(L.f, L.n);
    if (notes) {
        free(*notes);
        *notes = NULL;
    }
    return -1;
}

void aigov_log_files_free(aigov_log_file_t *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(f[i].path);
    free(f);
}
