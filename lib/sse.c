/*
 * sse: incremental text/event-stream parser. See sse.h.
 *
 * The parser keeps the bytes of the current block in one buffer. Fields are
 * parsed only when the block's blank line arrives, because only then is the
 * block known to be complete; until then the buffer is just scanned for
 * line ends, resuming where the previous feed stopped.
 */
#include "sse.h"

#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define SSE_FIRST_CAP  512

struct aigov_sse_s {
    char    *buf;       /* current block, raw, from buf + off */
    size_t   off;       /* start of the current block; the bytes before it
                           were reported and are moved out once per feed,
                           not after every event */
    size_t   len;
    size_t   cap;       /* of buf: grows to max as events need */
    size_t   max;
    size_t   pos;       /* next byte to scan */
    size_t   line;      /* start of the line being scanned */
    char    *scratch;   /* data, then event type, for the block being reported */
    size_t   scratch_cap;
    char    *id;        /* last event id, persists across blocks */
    size_t   id_len;
    int      seen_first;    /* the first block (which may start with a BOM) is past */
    int      failed;
};

aigov_sse_t *aigov_sse_new(size_t max_event)
{
    aigov_sse_t *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->max = max_event ? max_event : AIGOV_SSE_DEFAULT_MAX_EVENT;
    /* small at first: a gateway holds thousands of streams open, and their
     * events are a few hundred bytes */
    p->cap = p->max < SSE_FIRST_CAP ? p->max : SSE_FIRST_CAP;
    p->buf = malloc(p->cap);
    p->id = malloc(1);
    if (p->buf == NULL || p->id == NULL) {
        aigov_sse_free(p);
        return NULL;
    }
    p->id[0] = '\0';
    return p;
}

void aigov_sse_free(aigov_sse_t *p)
{
    if (p == NULL)
        return;
    free(p->buf);
    free(p->scratch);
    free(p->id);
    free(p);
}

/* Index of the first '\r' or '\n' in b[i..n), or n: one pass, sixteen
 * bytes at a time, where two memchr calls cost more on lines this short. */
static size_t eol_at(const char *b, size_t i, size_t n)
{
#if defined(__SSE2__)
    const __m128i lf = _mm_set1_epi8('\n'), cr = _mm_set1_epi8('\r');

    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *) (b + i));
        unsigned m = (unsigned) _mm_movemask_epi8(
            _mm_or_si128(_mm_cmpeq_epi8(v, lf), _mm_cmpeq_epi8(v, cr)));

        if (m != 0)
            return i + (size_t) __builtin_ctz(m);
    }
#endif
    for (; i < n; i++)
        if (b[i] == '\n' || b[i] == '\r')
            return i;
    return n;
}

/* Length of the line ending at b[i] ('\r' or '\n'); 0 if b[i] is neither. */
static size_t eol_len(const char *b, size_t i, size_t n)
{
    if (b[i] == '\n')
        return 1;
    if (b[i] == '\r')
        return (i + 1 < n && b[i + 1] == '\n') ? 2 : 1;
    return 0;
}

static int set_id(aigov_sse_t *p, const char *v, size_t n)
{
    char *id;

    /* The format ignores an id containing NUL. */
    if (memchr(v, '\0', n) != NULL)
        return 0;
    id = realloc(p->id, n + 1);
    if (id == NULL)
        return -1;
    memcpy(id, v, n);
    id[n] = '\0';
    p->id = id;
    p->id_len = n;
    return 0;
}

/* Parses the block b[0..n) (all its lines complete unless complete == 0)
 * and reports it. */
static int report(aigov_sse_t *p, size_t n, int complete,
                  aigov_sse_cb cb, void *ud)
{
    aigov_sse_event_t ev;
    const char *b = p->buf + p->off;
    size_t i = 0, dlen = 0, elen = 0, eoff;
    int has_data = 0;

    memset(&ev, 0, sizeof(ev));
    ev.retry = -1;

    if (p->scratch_cap < 2 * n + 2) {
        char *s = realloc(p->scratch, 2 * n + 2);
        if (s == NULL)
            return AIGOV_SSE_NOMEM;
        p->scratch = s;
        p->scratch_cap = 2 * n + 2;
    }
    eoff = n + 1;   /* event type lives after the data in scratch */

    if (!p->seen_first && n >= 3 && memcmp(b, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    p->seen_first = 1;

    while (i < n) {
        size_t start = i, end, name_end, vstart;

        end = eol_at(b, i, n);
        i = end;
        if (i < n)
            i += eol_len(b, i, n);

        if (end == start || b[start] == ':')
            continue;   /* blank line, or a comment */

        name_end = start;
        while (name_end < end && b[name_end] != ':')
            name_end++;
        vstart = name_end;
        if (vstart < end) {
            vstart++;
            if (vstart < end && b[vstart] == ' ')
                vstart++;
        }

#define FIELD(s) (name_end - start == sizeof(s) - 1 && memcmp(b + start, s, sizeof(s) - 1) == 0)
        if (FIELD("data")) {
            memcpy(p->scratch + dlen, b + vstart, end - vstart);
            dlen += end - vstart;
            p->scratch[dlen++] = '\n';
            has_data = 1;
        } else if (FIELD("event")) {
            memcpy(p->scratch + eoff, b + vstart, end - vstart);
            elen = end - vstart;
        } else if (FIELD("id")) {
            if (set_id(p, b + vstart, end - vstart) != 0)
                return AIGOV_SSE_NOMEM;
            ev.has_id = 1;
        } else if (FIELD("retry")) {
            size_t k;
            long v = 0;
            for (k = vstart; k < end && b[k] >= '0' && b[k] <= '9'; k++)
                v = v < 100000000 ? v * 10 + (b[k] - '0') : v;
            if (k == end && end > vstart)
                ev.retry = v;
        }
#undef FIELD
    }

    if (dlen > 0)
        dlen--;     /* the format drops the last "\n" */
    p->scratch[dlen] = '\0';
    p->scratch[eoff + elen] = '\0';

    ev.raw = b;
    ev.raw_len = n;
    ev.has_data = complete && has_data;
    ev.data = p->scratch;
    ev.data_len = ev.has_data ? dlen : 0;
    if (!ev.has_data)
        p->scratch[0] = '\0';
    ev.event = p->scratch + eoff;
    ev.event_len = elen;
    ev.id = p->id;
    ev.id_len = p->id_len;
    ev.complete = complete;
    return cb(ud, &ev);
}

/* A complete block ends at end (an index into buf): reported, then done. */
static int end_block(aigov_sse_t *p, size_t end, aigov_sse_cb cb, void *ud)
{
    int rc;

    p->pos = p->line = end;
    rc = report(p, end - p->off, 1, cb, ud);
    if (rc != 0)
        return rc;
    p->off = end;
    if (p->off == p->len)
        p->off = p->len = p->pos = p->line = 0;
    return 0;
}

/* The reported bytes go, so the buffer starts with the current block. */
static void compact(aigov_sse_t *p)
{
    memmove(p->buf, p->buf + p->off, p->len - p->off);
    p->len -= p->off;
    p->pos -= p->off;
    p->line -= p->off;
    p->off = 0;
}

static int scan(aigov_sse_t *p, aigov_sse_cb cb, void *ud)
{
    while (p->pos < p->len) {
        size_t stop = eol_at(p->buf, p->pos, p->len);
        char c;
        size_t el;
        int rc;

        if (stop == p->len) {
            p->pos = p->len;
            return 0;
        }
        p->pos = stop;
        c = p->buf[p->pos];
        /* A '\r' at the end may be the first half of "\r\n": wait, so
         * that the "\n" stays with the block it belongs to. */
        if (c == '\r' && p->pos + 1 == p->len)
            return 0;
        el = eol_len(p->buf, p->pos, p->len);
        if (p->pos == p->line) {
            /* A blank line ends the block (or, with nothing before it,
             * is a block of its own, kept so the bytes pass in order). */
            rc = end_block(p, p->pos + el, cb, ud);
            if (rc != 0)
                return rc;
            continue;
        }
        p->pos += el;
        p->line = p->pos;
    }
    return 0;
}

int aigov_sse_feed(aigov_sse_t *p, const char *buf, size_t len,
                   aigov_sse_cb cb, void *ud)
{
    int rc;

    if (p->failed)
        return p->failed;
    while (len > 0) {
        size_t room, take;

        /* the blocks reported from the last piece go before this one is
         * appended: what moves is only an unfinished block, and the
         * buffer's pages beyond the largest piece are never touched */
        if (p->off > 0)
            compact(p);
        room = p->cap - p->len;
        if (room == 0 && p->cap < p->max) {
            size_t cap = p->cap * 2 < p->max ? p->cap * 2 : p->max;
            char *b = realloc(p->buf, cap);

            if (b == NULL) {
                p->failed = AIGOV_SSE_NOMEM;
                return p->failed;
            }
            p->buf = b;
            p->cap = cap;
            room = cap - p->len;
        }
        if (room == 0) {
            p->failed = AIGOV_SSE_TOO_LONG;
            return p->failed;
        }
        take = len < room ? len : room;
        memcpy(p->buf + p->len, buf, take);
        p->len += take;
        buf += take;
        len -= take;
        rc = scan(p, cb, ud);
        if (rc != 0) {
            if (rc < 0)
                p->failed = rc;
            return rc;
        }
    }
    return 0;
}

int aigov_sse_finish(aigov_sse_t *p, aigov_sse_cb cb, void *ud)
{
    int rc;

    if (p->failed)
        return p->failed;
    /* A trailing '\r' is a line end after all. */
    if (p->len > p->off && p->buf[p->len - 1] == '\r' && p->pos + 1 == p->len) {
        if (p->pos == p->line) {
            rc = end_block(p, p->len, cb, ud);
            if (rc != 0)
                return rc;
        } else {
            p->pos = p->line = p->len;
        }
    }
    if (p->len > p->off) {
        rc = report(p, p->len - p->off, 0, cb, ud);
        if (rc != 0)
            return rc;
        p->off = p->len = p->pos = p->line = 0;
    }
    return 0;
}
