/* resp: encoding commands and reading replies of Redis's protocol. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "resp.h"

static size_t put(char *out, size_t cap, size_t at, const char *s, size_t n)
{
    if (at < cap)
        memcpy(out + at, s, at + n <= cap ? n : cap - at);
    return at + n;
}

size_t aigov_resp_command(char *out, size_t cap, int argc, const char *const *argv,
                          const size_t *lens)
{
    char num[32];
    size_t at = 0;
    int n;

    n = snprintf(num, sizeof(num), "*%d\r\n", argc);
    at = put(out, cap, at, num, (size_t) n);
    for (int i = 0; i < argc; i++) {
        n = snprintf(num, sizeof(num), "$%zu\r\n", lens[i]);
        at = put(out, cap, at, num, (size_t) n);
        at = put(out, cap, at, argv[i], lens[i]);
        at = put(out, cap, at, "\r\n", 2);
    }
    return at;
}

/* The line from p up to CRLF: its end, or NULL when not all there yet. */
static const char *line_end(const char *p, const char *end)
{
    for (; p + 1 < end; p++)
        if (p[0] == '\r' && p[1] == '\n')
            return p;
    return NULL;
}

/* A signed decimal filling [p, e) exactly. */
static int dec(const char *p, const char *e, long long *out)
{
    int neg = 0;
    long long v = 0;

    if (p < e && *p == '-') {
        neg = 1;
        p++;
    }
    if (p == e || e - p > 19)
        return -1;
    for (; p < e; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        if (v > (LLONG_MAX - (*p - '0')) / 10)
            return -1;
        v = v * 10 + (*p - '0');
    }
    *out = neg ? -v : v;
    return 0;
}

/* One value at *pp; arrays are walked, their scalars kept in rep when at
 * depth 1. Returns 1, 0 (incomplete) or -1. */
static int value(const char **pp, const char *end, int depth, aigov_resp_value_t *v,
                 aigov_resp_reply_t *rep)
{
    const char *p = *pp, *e;
    long long n;
    aigov_resp_value_t sub;
    int rc;

    if (depth > AIGOV_RESP_MAX_DEPTH)
        return -1;
    if (p >= end)
        return 0;
    e = line_end(p + 1, end);
    if (e == NULL)
        return (end - p > 64 && *p != '+' && *p != '-') ? -1 : 0;
    memset(v, 0, sizeof(*v));
    switch (*p) {
    case '+':
    case '-':
        v->type = *p == '+' ? AIGOV_RESP_STATUS : AIGOV_RESP_ERROR;
        v->str = p + 1;
        v->len = (size_t) (e - p - 1);
        *pp = e + 2;
        return 1;
    case ':':
        if (dec(p + 1, e, &n) < 0)
            return -1;
        v->type = AIGOV_RESP_INTEGER;
        v->integer = n;
        *pp = e + 2;
        return 1;
    case '$':
        if (dec(p + 1, e, &n) < 0 || n < -1 || n > AIGOV_RESP_MAX_BULK)
            return -1;
        if (n == -1) {
            v->type = AIGOV_RESP_NIL;
            *pp = e + 2;
            return 1;
        }
        if (end - (e + 2) < n + 2)
            return 0;
        if (e[2 + n] != '\r' || e[3 + n] != '\n')
            return -1;
        v->type = AIGOV_RESP_BULK;
        v->str = e + 2;
        v->len = (size_t) n;
        *pp = e + 4 + n;
        return 1;
    case '*':
        if (dec(p + 1, e, &n) < 0 || n < -1 || n > AIGOV_RESP_MAX_BULK)
            return -1;
        if (n == -1) {
            v->type = AIGOV_RESP_NIL;
            *pp = e + 2;
            return 1;
        }
        v->type = AIGOV_RESP_ARRAY;
        v->integer = n;
        p = e + 2;
        for (long long i = 0; i < n; i++) {
            rc = value(&p, end, depth + 1, &sub, NULL);
            if (rc <= 0)
                return rc;
            if (rep && i < AIGOV_RESP_MAX_ELEMS)
                rep->elem[i] = sub.type == AIGOV_RESP_ARRAY
                               ? (aigov_resp_value_t) { AIGOV_RESP_NIL, 0, NULL, 0 } : sub;
        }
        if (rep)
            rep->nelems = (size_t) n;
        *pp = p;
        return 1;
    default:
        return -1;
    }
}

int aigov_resp_parse(const char *buf, size_t len, aigov_resp_reply_t *rep, size_t *used)
{
    const char *p = buf;
    int rc;

    memset(rep, 0, sizeof(*rep));
    rc = value(&p, buf + len, 0, &rep->v, rep);
    if (rc == 1)
        *used = (size_t) (p - buf);
    return rc;
}

int aigov_resp_int(const aigov_resp_value_t *v, long long *out)
{
    if (v->type == AIGOV_RESP_INTEGER) {
        *out = v->integer;
        return 0;
    }
    if (v->type == AIGOV_RESP_BULK || v->type == AIGOV_RESP_STATUS)
        return dec(v->str, v->str + v->len, out);
    return -1;
}
