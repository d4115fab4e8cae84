/*
 * json_check: is a line one JSON value, and what are its top-level members.
 *
 * The verifier runs this over every byte of months of logs, beside one
 * SHA-256, so it must keep up with the hash: no allocation, no recursion
 * (an explicit stack of the open containers' closing bytes, bounded by
 * AIGOV_RECORD_MAX_DEPTH), pointers instead of indexes, and string
 * content skipped eight bytes at a time.
 */
#include <string.h>

#include "audit.h"

enum { JC_OK = 0, JC_BAD = 1, JC_SHORT = 2 };

#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* How many bytes from p are plain string content (no quote, backslash or
 * control byte), 8 for a whole plain word. The lowest flagged byte is
 * exact (a borrow only carries towards higher bytes), so on a
 * little-endian machine it is the first special one. */
static unsigned plain8(const unsigned char *p)
{
    uint64_t w, q, b, m;

    memcpy(&w, p, 8);
    q = w ^ (ONES * '"');
    b = w ^ (ONES * '\\');
    m = (((q - ONES) & ~q) | ((b - ONES) & ~b) | ((w - ONES * 0x20) & ~w)) & HIGHS;
    if (m == 0)
        return 8;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return (unsigned) __builtin_ctzll(m) / 8;
#else
    return 0;
#endif
}

static int is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* p just past the opening quote; *pp ends just past the closing one. */
static int string(const unsigned char **pp, const unsigned char *e)
{
    const unsigned char *p = *pp;

    for (;;) {
        unsigned char c;

        while (e - p >= 8) {
            unsigned n = plain8(p);
            p += n;
            if (n < 8)
                break;
        }
        if (p >= e)
            return JC_SHORT;
        c = *p++;
        if (c == '"') {
            *pp = p;
            return JC_OK;
        }
        if (c < 0x20)
            return JC_BAD;
        if (c != '\\')
            continue;
        if (p >= e)
            return JC_SHORT;
        c = *p++;
        if (c == 'u') {
            for (int k = 0; k < 4; k++, p++) {
                if (p >= e)
                    return JC_SHORT;
                if (!is_hex(*p))
                    return JC_BAD;
            }
        } else if (c != '"' && c != '\\' && c != '/' && c != 'b' && c != 'f' && c != 'n' && c != 'r'
                   && c != 't') {
            return JC_BAD;
        }
    }
}

static int digits(const unsigned char **pp, const unsigned char *e)
{
    const unsigned char *p = *pp;

    while (p < e && *p >= '0' && *p <= '9')
        p++;
    if (p == *pp)
        return p >= e ? JC_SHORT : JC_BAD;
    *pp = p;
    return JC_OK;
}

static int number(const unsigned char **pp, const unsigned char *e)
{
    const unsigned char *p = *pp;
    int r;

    if (*p == '-' && ++p >= e)
        return JC_SHORT;
    if (*p == '0')
        p++;
    else if ((r = digits(&p, e)) != JC_OK)
        return r;
    if (p < e && *p == '.') {
        p++;
        if ((r = digits(&p, e)) != JC_OK)
            return r;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-'))
            p++;
        if ((r = digits(&p, e)) != JC_OK)
            return r;
    }
    *pp = p;
    return JC_OK;
}

static int word(const unsigned char **pp, const unsigned char *e, const char *w, size_t n)
{
    const unsigned char *p = *pp;

    for (size_t k = 0; k < n; k++, p++) {
        if (p >= e)
            return JC_SHORT;
        if (*p != (unsigned char) w[k])
            return JC_BAD;
    }
    *pp = p;
    return JC_OK;
}

#define WS(p, e) \
    while ((p) < (e) && (*(p) == ' ' || *(p) == '\t' || *(p) == '\r' || *(p) == '\n')) (p)++

int aigov_json_check_top(const char *s, size_t len, aigov_json_member_fn fn, void *ud)
{
    const unsigned char *p = (const unsigned char *) s, *e = p + len, *key = NULL, *val = NULL, *k;
    unsigned char close[AIGOV_RECORD_MAX_DEPTH];
    size_t klen = 0;
    int depth = 0, r;

value:
    WS(p, e);
    if (p >= e)
        return JC_SHORT;
    switch (*p) {
    case '{':
    case '[':
        if (depth == AIGOV_RECORD_MAX_DEPTH)
            return JC_BAD;
        close[depth++] = *p == '{' ? '}' : ']';
        p++;
        WS(p, e);
        if (p >= e)
            return JC_SHORT;
        if (*p == close[depth - 1])
            goto closed;
        if (close[depth - 1] == '}')
            goto member;
        goto value;
    case '"':
        p++;
        r = string(&p, e);
        break;
    case 't':
        r = word(&p, e, "true", 4);
        break;
    case 'f':
        r = word(&p, e, "false", 5);
        break;
    case 'n':
        r = word(&p, e, "null", 4);
        break;
    default:
        if (*p != '-' && (*p < '0' || *p > '9'))
            return JC_BAD;
        r = number(&p, e);
        break;
    }
    if (r != JC_OK)
        return r;

after:
    /* a value ended: a member of the top object, the whole line, or one
     * more element of an open container */
    if (depth == 1 && fn && close[0] == '}')
        fn(ud, (const char *) key, klen, (const char *) val, (size_t) (p - val));
    WS(p, e);
    if (depth == 0)
        return p == e ? JC_OK : JC_BAD;
    if (p >= e)
        return JC_SHORT;
    if (*p == close[depth - 1])
        goto closed;
    if (*p != ',')
        return JC_BAD;
    p++;
    if (close[depth - 1] == ']')
        goto value;
    WS(p, e);
    if (p >= e)
        return JC_SHORT;

member:
    if (*p != '"')
        return JC_BAD;
    k = ++p;
    if ((r = string(&p, e)) != JC_OK)
        return r;
    if (depth == 1) {
        key = k;
        klen = (size_t) (p - 1 - k);
    }
    WS(p, e);
    if (p >= e)
        return JC_SHORT;
    if (*p++ != ':')
        return JC_BAD;
    WS(p, e);
    if (depth == 1)
        val = p;
    goto value;

closed:
    /* the container's closing byte: it is a value that ended */
    p++;
    depth--;
    goto after;
}

int aigov_json_check(const char *s, size_t len)
{
    return aigov_json_check_top(s, len, NULL, NULL);
}
