/*
 * base64: see base64.h. One encoder and one decoder for every spelling
 * lib/ reads and writes; the flags change the alphabet and how strict the
 * reading is, never the arithmetic.
 */
#include "base64.h"

static const char std_letters[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_letters[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t aigov_b64_encode(const uint8_t *in, size_t len, char *out, unsigned flags)
{
    const char *a = flags & AIGOV_B64_URL ? url_letters : std_letters;
    int         pad = !(flags & AIGOV_B64_NOPAD);
    size_t      o = 0, i;

    for (i = 0; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8 | in[i + 2];

        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63];
        out[o++] = a[(v >> 6) & 63];
        out[o++] = a[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t) in[i] << 16 | (i + 1 < len ? (uint32_t) in[i + 1] << 8 : 0);

        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63];
        if (i + 1 < len)
            out[o++] = a[(v >> 6) & 63];
        else if (pad)
            out[o++] = '=';
        if (pad)
            out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

static int b64_value(unsigned char c, int url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

long aigov_b64_decode(const char *in, size_t len, uint8_t *out, size_t cap, unsigned flags)
{
    const unsigned char *p = (const unsigned char *) in;
    int      url = (flags & AIGOV_B64_URL) != 0, lax = (flags & AIGOV_B64_LAX) != 0;
    size_t   i, o = 0, pad = 0;
    uint32_t acc = 0;
    unsigned k = 0;                 /* letters of the group being read */

    for (i = 0; i < len; i++) {
        int d;

        if (lax && (p[i] == ' ' || p[i] == '\n' || p[i] == '\r' || p[i] == '\t'))
            continue;
        if (p[i] == '=' && !(flags & AIGOV_B64_NOPAD)) {
            pad++;
            continue;
        }
        if (pad > 0 || (d = b64_value(p[i], url)) < 0)
            return -1;              /* a letter after padding, or no letter */
        acc = acc << 6 | (uint32_t) d;
        if (++k == 4) {
            if (cap - o < 3)
                return lax ? (long) o : -1;
            out[o++] = (uint8_t) (acc >> 16);
            out[o++] = (uint8_t) (acc >> 8);
            out[o++] = (uint8_t) acc;
            acc = 0;
            k = 0;
        }
    }
    if (flags & AIGOV_B64_PARTIAL)
        return (long) o;
    /* A tail of 2 or 3 letters holds 1 or 2 bytes; 1 letter holds none.
     * Padding, where there is any, fills the group. */
    if (k == 1 || pad > 2 || (pad > 0 && (k + pad) % 4 != 0))
        return -1;
    if (!lax) {
        /* strict: padded unless NOPAD, and the unused bits are zero, so
         * that two spellings never read the same */
        if (k > 0 && pad == 0 && !(flags & AIGOV_B64_NOPAD))
            return -1;
        if ((k == 2 && (acc & 15)) || (k == 3 && (acc & 3)))
            return -1;
    }
    if (k > 1 && cap - o < k - 1)
        return lax ? (long) o : -1;
    if (k == 2) {
        out[o++] = (uint8_t) (acc >> 4);
    } else if (k == 3) {
        out[o++] = (uint8_t) (acc >> 10);
        out[o++] = (uint8_t) (acc >> 2);
    }
    return (long) o;
}
