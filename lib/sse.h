/*
 * sse: an incremental parser for text/event-stream (the WHATWG "server-sent
 * events" format) as model APIs send it.
 *
 * Bytes arrive in arbitrary splits. Lines end with "\n", "\r\n" or "\r".
 * A blank line ends a block; the callback then gets the block's parsed
 * fields and its exact raw bytes (terminating blank line included), so a
 * caller that changes nothing can forward the raw bytes and stay
 * byte-identical. Blocks without data (comments, stray blank lines) are
 * reported too, with has_data 0, so they can be forwarded in order.
 *
 * One block is held in memory at a time, bounded by max_event bytes; that
 * bound also bounds the length of a line.
 */
#ifndef AIGOV_SSE_H
#define AIGOV_SSE_H

#include <stddef.h>

#define AIGOV_SSE_DEFAULT_MAX_EVENT  (1024 * 1024)

enum {
    AIGOV_SSE_OK = 0,
    AIGOV_SSE_TOO_LONG = -1,    /* a block grew beyond max_event */
    AIGOV_SSE_NOMEM = -2
};

typedef struct {
    const char  *raw;         /* the block's bytes, exactly as received */
    size_t       raw_len;
    int          has_data;    /* at least one "data" field: an event */
    const char  *data;        /* data lines joined by "\n"; NUL-terminated (may hold NULs) */
    size_t       data_len;
    const char  *event;       /* "event" field, "" when absent */
    size_t       event_len;
    int          has_id;      /* the block carried an "id" field */
    const char  *id;          /* last event id (persists across blocks) */
    size_t       id_len;
    long         retry;       /* "retry" in ms, -1 when absent */
    int          complete;    /* 0 for the unterminated tail given by finish */
} aigov_sse_event_t;

/* Return 0 to go on; any other value stops feed() and is returned by it. */
typedef int (*aigov_sse_cb)(void *ud, const aigov_sse_event_t *ev);

typedef struct aigov_sse_s aigov_sse_t;

/* max_event 0 means AIGOV_SSE_DEFAULT_MAX_EVENT. NULL when out of memory. */
aigov_sse_t *aigov_sse_new(size_t max_event);
void aigov_sse_free(aigov_sse_t *p);

/* Consumes len bytes, calling cb for every block they complete. Returns
 * AIGOV_SSE_OK, AIGOV_SSE_TOO_LONG, AIGOV_SSE_NOMEM or the callback's
 * non-zero value. After an error the parser refuses further input. */
int aigov_sse_feed(aigov_sse_t *p, const char *buf, size_t len,
                   aigov_sse_cb cb, void *ud);

/* End of input: reports a final block that lacks its blank line (with
 * complete 0; the format says such an event is not dispatched, so has_data
 * is 0, but raw holds the bytes). */
int aigov_sse_finish(aigov_sse_t *p, aigov_sse_cb cb, void *ud);

#endif
