/*
 * json_string: the pieces every reader and writer of JSON strings here
 * shares (the request parser and rewriter, the audit record writer, the
 * answer reader): plain runs found eight bytes at a time, \u escapes
 * checked as jansson checks them, unescaping and escaping.
 */
#ifndef AIGOV_JSON_STRING_H
#define AIGOV_JSON_STRING_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The high bit of each of the 8 bytes that is < 0x20, '"', '\\' or
 * >= 0x80 (exact for the lowest one: a false carry only follows a true
 * hit). */
static inline uint64_t aigov_json_special8(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');

    return (((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((b - ones) & ~b) | x) & high;
}

/* How many bytes at the start of s are plain: printable ASCII other than
 * '"' and '\\', taken as they are. */
static inline size_t aigov_json_plain(const unsigned char *s, size_t n)
{
    const unsigned char *p = s, *end = s + n;
    uint64_t x;

    while (end - p >= 8) {
        memcpy(&x, p, 8);
        if (aigov_json_special8(x))
            break;
        p += 8;
    }
    while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
        p++;
    return (size_t) (p - s);
}

/* The value of four hex digits, or -1. */
int aigov_hex4(const unsigned char *p);

typedef enum {
    AIGOV_U_OK = 0,
    AIGOV_U_BAD,          /* not four hex digits */
    AIGOV_U_LONE_LOW,     /* a low surrogate first */
    AIGOV_U_LONE_HIGH     /* a high surrogate without its low half */
} aigov_u_status_t;

/* The \u escape at p (p[0] '\\', p[1] 'u', avail bytes from p): with its
 * low half when it is a high surrogate. *len is 6 or 12 and *cp its first
 * code unit when it is AIGOV_U_OK. */
aigov_u_status_t aigov_json_u_escape(const unsigned char *p, size_t avail, size_t *len, int *cp);

/* The content of a string literal already checked (as above) unescaped
 * into dst (at least n bytes: unescaping never lengthens); its length. */
size_t aigov_json_unescape(const unsigned char *src, size_t n, char *dst);

/* s as a JSON string literal, quotes included: its length, and the bytes
 * at o (returns the end). Control characters without a short escape are
 * \u00xx, in upper-case hex when upper (as jansson writes them). */
size_t aigov_json_escaped_len(const char *s, size_t n);
char *aigov_json_escape(char *o, const char *s, size_t n, int upper);

#endif
