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

/* The value of one hex digit (either case), or -1. */
static inline int aigov_hex_digit(unsigned c)
{
    if (c >= '0' && c <= '9')
        return (int) (c - '0');
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
        return (int) ((c | 0x20) - 'a' + 10);
    return -1;
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

/* Characters JSON allows raw in a string that line-oriented tools take
 * for line breaks or controls: the C1 controls U+0080..U+009F (NEL,
 * U+0085, among them) and U+2028, U+2029 (Python's splitlines, JavaScript,
 * Unicode's mandatory breaks; the C0 controls, \r, VT and FF among them,
 * are escaped anyway). s is a well-formed sequence of k bytes: its code
 * point when it is one of these, else 0. Written where a line must stay
 * one line (the audit log) as \uXXXX. */
static inline unsigned aigov_json_breaker(const unsigned char *s, size_t k)
{
    if (k == 2 && s[0] == 0xC2 && s[1] < 0xA0)
        return s[1];
    if (k == 3 && s[0] == 0xE2 && s[1] == 0x80 && (s[2] == 0xA8 || s[2] == 0xA9))
        return 0x2000u | (s[2] - 0x80u);
    return 0;
}

/* The same, escaped in a whole JSON text that is well-formed UTF-8 (as
 * jansson writes it): they can only be inside strings, and only there as
 * lead bytes, so a byte scan finds them. Returns the new length, written
 * to out (room: 3 * n); out == NULL counts only. */
size_t aigov_json_escape_breakers(const char *s, size_t n, char *out);

/* s[0..n) made well-formed UTF-8: each byte that does not begin a
 * well-formed sequence becomes U+FFFD. Returns 0 when s is well-formed
 * already (out untouched), else the length written to out (room: 3 * n). */
size_t aigov_utf8_repair(const char *s, size_t n, char *out);

/* s as a JSON string literal, quotes included: its length, and the bytes
 * at o (returns the end). Control characters without a short escape are
 * \u00xx, in upper-case hex when upper (as jansson writes them). */
size_t aigov_json_escaped_len(const char *s, size_t n);
char *aigov_json_escape(char *o, const char *s, size_t n, int upper);

#endif
