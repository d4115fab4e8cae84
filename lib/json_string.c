/*
 * json_string: see json_string.h.
 */
#include "json_string.h"
#include "utf8.h"

int aigov_hex4(const unsigned char *p)
{
    int i, d, v = 0;

    for (i = 0; i < 4; i++) {
        if ((d = aigov_hex_digit(p[i])) < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

aigov_u_status_t aigov_json_u_escape(const unsigned char *p, size_t avail, size_t *len, int *cp)
{
    int lo;

    if (avail < 6 || (*cp = aigov_hex4(p + 2)) < 0)
        return AIGOV_U_BAD;
    if (*cp >= 0xDC00 && *cp <= 0xDFFF)
        return AIGOV_U_LONE_LOW;
    if (*cp < 0xD800 || *cp > 0xDBFF) {
        *len = 6;
        return AIGOV_U_OK;
    }
    if (avail < 12 || p[6] != '\\' || p[7] != 'u' || (lo = aigov_hex4(p + 8)) < 0xDC00
        || lo > 0xDFFF)
        return AIGOV_U_LONE_HIGH;
    *len = 12;
    return AIGOV_U_OK;
}

static size_t utf8_put(unsigned long cp, unsigned char *out)
{
    if (cp < 0x80) {
        out[0] = (unsigned char) cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char) (0xC0 | (cp >> 6));
        out[1] = (unsigned char) (0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char) (0xE0 | (cp >> 12));
        out[1] = (unsigned char) (0x80 | ((cp >> 6) & 0x3F));
        out[2] = (unsigned char) (0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char) (0xF0 | (cp >> 18));
    out[1] = (unsigned char) (0x80 | ((cp >> 12) & 0x3F));
    out[2] = (unsigned char) (0x80 | ((cp >> 6) & 0x3F));
    out[3] = (unsigned char) (0x80 | (cp & 0x3F));
    return 4;
}

size_t aigov_json_unescape(const unsigned char *src, size_t n, char *dst)
{
    unsigned char *d = (unsigned char *) dst;
    size_t i = 0, o = 0;

    while (i < n) {
        const unsigned char *bs = memchr(src + i, '\\', n - i);
        size_t run = bs ? (size_t) (bs - src) - i : n - i;
        unsigned long cp;

        memcpy(d + o, src + i, run);
        o += run;
        i += run;
        if (i >= n)
            break;
        switch (src[i + 1]) {
        case 'b': d[o++] = '\b'; i += 2; break;
        case 'f': d[o++] = '\f'; i += 2; break;
        case 'n': d[o++] = '\n'; i += 2; break;
        case 'r': d[o++] = '\r'; i += 2; break;
        case 't': d[o++] = '\t'; i += 2; break;
        case 'u':
            cp = (unsigned long) aigov_hex4(src + i + 2);
            i += 6;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10)
                     + ((unsigned long) aigov_hex4(src + i + 2) - 0xDC00);
                i += 6;
            }
            o += utf8_put(cp, d + o);
            break;
        default:    /* '"', '\\', '/' stand for themselves */
            d[o++] = src[i + 1];
            i += 2;
            break;
        }
    }
    return o;
}

size_t aigov_json_escaped_len(const char *s, size_t n)
{
    size_t i, out = 2;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char) s[i];

        if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n'
            || c == '\r' || c == '\t')
            out += 2;
        else if (c < 0x20)
            out += 6;
        else
            out += 1;
    }
    return out;
}

char *aigov_json_escape(char *o, const char *s, size_t n, int upper)
{
    const char *hex = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    size_t i;

    *o++ = '"';
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char) s[i];

        switch (c) {
        case '"':  *o++ = '\\'; *o++ = '"'; break;
        case '\\': *o++ = '\\'; *o++ = '\\'; break;
        case '\b': *o++ = '\\'; *o++ = 'b'; break;
        case '\f': *o++ = '\\'; *o++ = 'f'; break;
        case '\n': *o++ = '\\'; *o++ = 'n'; break;
        case '\r': *o++ = '\\'; *o++ = 'r'; break;
        case '\t': *o++ = '\\'; *o++ = 't'; break;
        default:
            if (c < 0x20) {
                memcpy(o, "\\u00", 4);
                o[4] = hex[c >> 4];
                o[5] = hex[c & 15];
                o += 6;
            } else {
                *o++ = (char) c;
            }
        }
    }
    *o++ = '"';
    return o;
}

size_t aigov_json_escape_breakers(const char *s, size_t n, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *) s;
    size_t i = 0, o = 0;

    while (i < n) {
        size_t k = p[i] == 0xC2 ? 2 : p[i] == 0xE2 ? 3 : 0;
        unsigned cp = k && i + k <= n ? aigov_json_breaker(p + i, k) : 0;

        if (cp == 0) {
            if (out)
                out[o] = s[i];
            o++;
            i++;
            continue;
        }
        if (out) {
            out[o] = '\\';
            out[o + 1] = 'u';
            out[o + 2] = hex[cp >> 12];
            out[o + 3] = hex[(cp >> 8) & 15];
            out[o + 4] = hex[(cp >> 4) & 15];
            out[o + 5] = hex[cp & 15];
        }
        o += 6;
        i += k;
    }
    return o;
}

size_t aigov_utf8_repair(const char *s, size_t n, char *out)
{
    const unsigned char *p = (const unsigned char *) s;
    size_t i = 0, o = 0, k;
    int bad = 0;

    while (i < n) {
        if (p[i] < 0x80) {
            k = 1;
        } else if ((k = aigov_utf8_seq(p + i, n - i)) == 0) {
            if (!bad) {
                memcpy(out, s, i);
                o = i;
                bad = 1;
            }
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
            continue;
        }
        if (bad)
            memcpy(out + o, s + i, k);
        o += k;
        i += k;
    }
    return bad ? o : 0;
}
