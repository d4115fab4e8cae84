/*
 * resp: the little of Redis's wire protocol (RESP2) the gateway speaks.
 * Commands go out as arrays of bulk strings; replies are read one at a
 * time from a buffer that may hold a part of one, or several.
 *
 * A reply keeps its top-level value and, for an array, its first
 * AIGOV_RESP_MAX_ELEMS elements when they are scalars (nested arrays are
 * skipped, counted as nil). Strings point into the caller's buffer: use
 * them before the buffer changes.
 */
#ifndef AIGOV_RESP_H
#define AIGOV_RESP_H

#include <stddef.h>

#define AIGOV_RESP_MAX_ELEMS  8
#define AIGOV_RESP_MAX_DEPTH  4
/* a bulk string longer than this is taken for a broken stream */
#define AIGOV_RESP_MAX_BULK   (1 << 20)

typedef enum {
    AIGOV_RESP_NIL = 0,
    AIGOV_RESP_STATUS,      /* +OK */
    AIGOV_RESP_ERROR,       /* -ERR ... */
    AIGOV_RESP_INTEGER,     /* :12 */
    AIGOV_RESP_BULK,        /* $3 abc */
    AIGOV_RESP_ARRAY        /* *2 ... */
} aigov_resp_type_t;

typedef struct {
    aigov_resp_type_t  type;
    long long          integer;
    const char        *str;      /* status, error, bulk */
    size_t             len;
} aigov_resp_value_t;

typedef struct {
    aigov_resp_value_t  v;                          /* top level */
    size_t              nelems;                     /* of an array, all */
    aigov_resp_value_t  elem[AIGOV_RESP_MAX_ELEMS]; /* the first ones */
} aigov_resp_reply_t;

/* Writes argv as a RESP command into out; returns the bytes it needs
 * (nothing is written past cap: call again with more room when the answer
 * exceeds cap). */
size_t aigov_resp_command(char *out, size_t cap, int argc, const char *const *argv,
                          const size_t *lens);

/* One reply from buf[0..len): 1 when whole (*used bytes consumed, rep
 * filled), 0 when more bytes are needed, -1 when the bytes are not RESP. */
int aigov_resp_parse(const char *buf, size_t len, aigov_resp_reply_t *rep, size_t *used);

/* A scalar element as an integer (":5" or a bulk "5"); 0 on success. */
int aigov_resp_int(const aigov_resp_value_t *v, long long *out);

#endif
