/*
 * normalize: the matching view of a text and its map back. See normalize.h.
 */
#include "normalize.h"

#include <stdlib.h>
#include <string.h>

#include "json_string.h"
#include "normalize_table.h"

/* What a character of the view says about its word. */
enum {
    C_DELIM = 0,    /* ASCII space or punctuation: ends a word */
    C_NEUTRAL,      /* digit, CJK, symbol, ...: says nothing */
    C_LATIN,        /* a Latin letter */
    C_LOOK,         /* a letter that passes for a Latin one */
    C_MIXED,        /* one that does only beside a Latin letter (NT_MIXED_ONLY) */
    C_PLAIN         /* another letter of a look-alike's script */
};

#define W_LATIN  1u
#define W_LOOK   2u
#define W_PLAIN  4u

int aigov_norm_ascii(const char *text, size_t len)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t i = 0;
    uint64_t acc = 0;

    /* 32 bytes a round in four independent words; this runs for every
     * text and every filter, so it must cost next to nothing */
    for (; i + 32 <= len; i += 32) {
        uint64_t w[4];
        memcpy(w, p + i, 32);
        acc |= (w[0] | w[1]) | (w[2] | w[3]);
        if (acc & 0x8080808080808080ull)
            return 0;
    }
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        acc |= w;
    }
    for (; i < len; i++)
        acc |= p[i];
    return (acc & 0x8080808080808080ull) == 0;
}

/* One character at s[0..len): its code point (-1 for a byte that does not
 * start valid UTF-8, taken alone) and its length. */
static int32_t decode(const unsigned char *s, size_t len, size_t *clen)
{
    unsigned c = s[0];
    uint32_t cp;
    size_t n, i;

    *clen = 1;
    if (c < 0x80)
        return (int32_t)c;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return -1;
    }
    if (n > len)
        return -1;
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return -1;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)))
        || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return -1;
    *clen = n;
    return (int32_t)cp;
}

/* The base mapping of cp (bytes and length), or 0 when it maps to itself. */
static int base_map(int32_t cp, const uint8_t **out, size_t *outlen)
{
    size_t lo = 0, hi = NT_NKEYS;
    uint32_t c = (uint32_t)cp;

    if (cp < 0x80 || !(nt_blocks[c >> 11] & (1u << ((c >> 8) & 7))))
        return 0;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (nt_keys[mid] < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == NT_NKEYS || nt_keys[lo] != c)
        return 0;
    *out = nt_pool + nt_off[lo];
    *outlen = (size_t)(nt_off[lo + 1] - nt_off[lo]);
    return 1;
}

/* The Latin letter cp passes for, or 0. */
static char look_alike(int32_t cp)
{
    size_t lo = 0, hi = NT_NCONF;
    uint32_t c = (uint32_t)cp;

    if (cp < 0x131 || c > nt_conf_keys[NT_NCONF - 1])
        return 0;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (nt_conf_keys[mid] < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (lo < NT_NCONF && nt_conf_keys[lo] == c) ? nt_conf_latin[lo] : 0;
}

static int look_script(int32_t c)
{
    return (c >= 0x370 && c <= 0x3FF) || (c >= 0x1F00 && c <= 0x1FFF)     /* Greek */
        || (c >= 0x400 && c <= 0x52F) || (c >= 0x1C80 && c <= 0x1C8F)     /* Cyrillic */
        || (c >= 0x2DE0 && c <= 0x2DFF) || (c >= 0xA640 && c <= 0xA69F)
        || (c >= 0x531 && c <= 0x58F)                                     /* Armenian */
        || (c >= 0x13A0 && c <= 0x13FF) || (c >= 0xAB70 && c <= 0xABBF); /* Cherokee */
}

static int latin_script(int32_t c)
{
    return (c >= 0xC0 && c <= 0x24F && c != 0xD7 && c != 0xF7)
        || (c >= 0x250 && c <= 0x2AF) || (c >= 0x1D00 && c <= 0x1DBF)
        || (c >= 0x1E00 && c <= 0x1EFF) || (c >= 0x2C60 && c <= 0x2C7F)
        || (c >= 0xA720 && c <= 0xA7FF) || (c >= 0xAB30 && c <= 0xAB6F);
}

static int classify(int32_t c)
{
    if (c >= 0 && c < 0x80) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
            return C_LATIN;
        return (c >= '0' && c <= '9') ? C_NEUTRAL : C_DELIM;
    }
    if (c < 0)
        return C_NEUTRAL;
    if (NT_MIXED_ONLY(c))
        return C_MIXED;
    if (look_alike(c))
        return C_LOOK;
    if (look_script(c))
        return C_PLAIN;
    return latin_script(c) ? C_LATIN : C_NEUTRAL;
}

/* One character of the original, as the view writes it before look-alikes
 * are folded: bytes and length. */
static void view_of(const unsigned char *s, size_t len, size_t *clen,
                    int32_t *cp, const uint8_t **out, size_t *outlen)
{
    *cp = decode(s, len, clen);
    if (!base_map(*cp, out, outlen)) {
        *out = s;
        *outlen = *clen;
    }
}

/* The word bits of a character's view; -1 when it holds a delimiter. */
static int word_bits(const uint8_t *v, size_t vlen)
{
    unsigned bits = 0;
    size_t i = 0, cl;

    while (i < vlen) {
        int k = classify(decode(v + i, vlen - i, &cl));
        if (k == C_DELIM)
            return -1;
        if (k == C_LATIN)
            bits |= W_LATIN;
        else if (k == C_LOOK)
            bits |= W_LOOK;
        else if (k == C_MIXED)
            bits |= W_LOOK | W_PLAIN;   /* folds a word only beside Latin */
        else if (k == C_PLAIN)
            bits |= W_PLAIN;
        i += cl;
    }
    return (int)bits;
}

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
    size_t c = *cap ? *cap : 64;
    void *v;

    if (need <= *cap)
        return 0;
    while (c < need)
        c *= 2;
    v = realloc(*p, c * size);
    if (v == NULL)
        return -1;
    *p = v;
    *cap = c;
    return 0;
}

static int add_edit(aigov_norm_t *n, size_t in, size_t inlen, size_t out, size_t outlen)
{
    aigov_norm_edit_t *e = n->ned_ ? &n->ed_[n->ned_ - 1] : NULL;

    if (e != NULL && e->inlen == inlen && e->outlen == outlen && e->count < UINT32_MAX
        && (size_t)e->in + (size_t)e->count * inlen == in
        && (size_t)e->out + (size_t)e->count * outlen == out) {
        e->count++;
        return 0;
    }
    if (grow((void **)&n->ed_, &n->edcap_, n->ned_ + 1, sizeof(*n->ed_)) != 0)
        return -1;
    e = &n->ed_[n->ned_++];
    e->in = (uint32_t)in;
    e->out = (uint32_t)out;
    e->count = 1;
    e->inlen = (uint8_t)inlen;
    e->outlen = (uint8_t)outlen;
    return 0;
}

/* Writes the characters of s[from, to) (one word, or one delimiter) into
 * the view, folding look-alikes when fold says so. */
static int emit(aigov_norm_t *n, size_t from, size_t to, int fold, size_t *o)
{
    const unsigned char *s = (const unsigned char *)n->src_;
    size_t p = from;

    while (p < to) {
        const uint8_t *v;
        size_t clen, vlen, i = 0, w = *o;
        int32_t cp;
        int changed;

        view_of(s + p, to - p, &clen, &cp, &v, &vlen);
        changed = v != s + p;
        /* a character's view is at most 255 bytes, and the NUL */
        if (grow((void **)&n->buf_, &n->cap_, w + 256 + 1, 1) != 0)
            return -1;
        if (!fold) {
            memcpy(n->buf_ + w, v, vlen);
            w += vlen;
        } else {
            while (i < vlen) {
                size_t cl;
                char l = look_alike(decode(v + i, vlen - i, &cl));
                if (l) {
                    n->buf_[w++] = l;
                    changed = 1;
                } else {
                    memcpy(n->buf_ + w, v + i, cl);
                    w += cl;
                }
                i += cl;
            }
        }
        if (changed && add_edit(n, p, clen, *o, w - *o) != 0)
            return -1;
        *o = w;
        p += clen;
    }
    return 0;
}

/* A view of src that is src itself, until edits are made. */
static void view_start(aigov_norm_t *n, const char *src, size_t len)
{
    n->src_ = src;
    n->srclen_ = len;
    n->ned_ = 0;
    n->text = src;
    n->len = len;
    n->identity = 1;
    n->partial = 0;
}

/* The view written into buf_ (o bytes), unless nothing was edited. */
static int view_end(aigov_norm_t *n, size_t o)
{
    if (n->ned_ == 0)
        return 0;
    n->buf_[o] = '\0';
    n->text = n->buf_;
    n->len = o;
    n->identity = 0;
    return 0;
}

static int view_fail(aigov_norm_t *n)
{
    n->ned_ = 0;
    n->text = NULL;
    n->len = 0;
    n->identity = 0;
    return -1;
}

int aigov_normalize(aigov_norm_t *n, const char *src, size_t len)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t pos = 0, o = 0;

    view_start(n, src, len);
    if (aigov_norm_ascii(src, len))
        return 0;
    if (len > AIGOV_NORM_MAX)
        goto fail;

    while (pos < len) {
        size_t p = pos, clen, vlen;
        const uint8_t *v;
        int32_t cp;
        unsigned bits = 0;
        int b;

        /* the word that starts here, or the delimiter character alone */
        view_of(s + p, len - p, &clen, &cp, &v, &vlen);
        b = word_bits(v, vlen);
        if (b < 0) {
            p += clen;              /* "(a)" from U+249C: alone */
            bits = W_LATIN | W_LOOK;
        } else {
            do {
                bits |= (unsigned)b;
                p += clen;
                if (p >= len)
                    break;
                if (s[p] < 0x80) {      /* ASCII needs no table */
                    int k = classify(s[p]);
                    if (k == C_DELIM)
                        break;
                    clen = 1;
                    b = k == C_LATIN ? W_LATIN : 0;
                    continue;
                }
                view_of(s + p, len - p, &clen, &cp, &v, &vlen);
                b = word_bits(v, vlen);
            } while (b >= 0);
        }
        if (emit(n, pos, p, (bits & W_LOOK) && ((bits & W_LATIN) || !(bits & W_PLAIN)), &o) != 0)
            goto fail;
        if (o >= (size_t)UINT32_MAX - 512)
            goto fail;
        pos = p;
    }
    return view_end(n, o);

fail:
    return view_fail(n);
}

static int hex4(const unsigned char *s, uint32_t *v)
{
    int h = aigov_hex4(s);

    *v = h < 0 ? 0 : (uint32_t) h;
    return h < 0 ? -1 : 0;
}

/* The escape at s[0] == '\\': its length and code point, 0 when none. */
static size_t json_escape(const unsigned char *s, size_t len, uint32_t *cp)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *k;
    uint32_t lo;

    if (len < 2)
        return 0;
    if (s[1] != 'u') {
        if (s[1] == '\0' || (k = strchr(from, s[1])) == NULL)
            return 0;
        *cp = (unsigned char)to[k - from];
        return 2;
    }
    if (len < 6 || hex4(s + 2, cp) != 0)
        return 0;
    if (*cp >= 0xDC00 && *cp <= 0xDFFF)
        return 0;
    if (*cp < 0xD800 || *cp > 0xDBFF)
        return 6;
    if (len < 12 || s[6] != '\\' || s[7] != 'u' || hex4(s + 8, &lo) != 0
        || lo < 0xDC00 || lo > 0xDFFF)
        return 0;
    *cp = 0x10000 + ((*cp - 0xD800) << 10) + (lo - 0xDC00);
    return 12;
}

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Whether s[0..len), a backslash up to the end of the text, could be the
 * start of an escape. */
static int escape_cut(const unsigned char *s, size_t len)
{
    size_t i;

    if (len == 1)
        return 1;
    if (s[1] != 'u' || len >= 12)
        return 0;
    for (i = 2; i < len; i++) {
        if (i == 6 || i == 7) {
            if (s[i] != (i == 6 ? '\\' : 'u'))
                return 0;
            continue;
        }
        if (!((s[i] >= '0' && s[i] <= '9') || ((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'f')))
            return 0;
    }
    if (len > 6) {      /* a second escape follows only a high surrogate */
        uint32_t hi;

        return hex4(s + 2, &hi) == 0 && hi >= 0xD800 && hi <= 0xDBFF;
    }
    return 1;
}

int aigov_json_view(aigov_norm_t *n, const char *src, size_t len)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t p = 0, o = 0;

    view_start(n, src, len);
    if (memchr(src, '\\', len) == NULL)
        return 0;
    /* the escape the end cuts, if any: the last backslash that is not
     * itself escaped, within the longest escape's reach of the end */
    for (p = len > 12 ? len - 12 : 0; p < len; p++) {
        size_t k = 0;
        uint32_t cp;

        if (s[p] != '\\')
            continue;
        while (k < p && s[p - 1 - k] == '\\')
            k++;
        if (k % 2 == 0 && json_escape(s + p, len - p, &cp) == 0 && escape_cut(s + p, len - p)) {
            n->partial = len - p;
            break;
        }
        if (k % 2 == 0 && p + 1 < len)
            p++;        /* the escaped character is not a backslash of its own */
    }
    p = 0;
    /* a decoded escape is never longer than its escape */
    if (len > AIGOV_NORM_MAX || grow((void **)&n->buf_, &n->cap_, len + 1, 1) != 0)
        goto fail;

    while (p < len) {
        const unsigned char *b = memchr(s + p, '\\', len - p);
        size_t q = b ? (size_t)(b - s) : len, el, ol;
        uint32_t cp;

        memcpy(n->buf_ + o, s + p, q - p);
        o += q - p;
        p = q;
        if (p == len)
            break;
        el = json_escape(s + p, len - p, &cp);
        if (el == 0) {
            n->buf_[o++] = '\\';
            p++;
            continue;
        }
        ol = put_utf8(n->buf_ + o, cp == 0 ? ' ' : cp);
        if (add_edit(n, p, el, o, ol) != 0)
            goto fail;
        o += ol;
        p += el;
    }
    return view_end(n, o);

fail:
    return view_fail(n);
}

/* The original character that view byte p (< n->len) belongs to. */
static void byte_map(const aigov_norm_t *n, size_t p, size_t *cs, size_t *ce)
{
    const unsigned char *s = (const unsigned char *)n->src_;
    size_t lo = 0, hi = n->ned_, q, base_in = 0, base_out = 0;

    /* the last edit that starts at or before p */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (n->ed_[mid].out <= p)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo > 0) {
        const aigov_norm_edit_t *e = &n->ed_[lo - 1];
        size_t span = (size_t)e->count * e->outlen;

        if (p < e->out + span) {
            size_t k = (p - e->out) / e->outlen;
            *cs = e->in + k * e->inlen;
            *ce = *cs + e->inlen;
            return;
        }
        base_in = e->in + (size_t)e->count * e->inlen;
        base_out = e->out + span;
    }
    /* copied as it was: whole characters of the original */
    q = base_in + (p - base_out);
    *cs = q;
    while (*cs > base_in && (s[*cs] & 0xC0) == 0x80)
        (*cs)--;
    *ce = q + 1;
    while (*ce < n->srclen_ && (s[*ce] & 0xC0) == 0x80)
        (*ce)++;
}

void aigov_norm_map(const aigov_norm_t *n, size_t start, size_t end,
                    size_t *ostart, size_t *oend)
{
    size_t a, b;

    if (start > end)
        start = end;
    if (n->identity) {
        const unsigned char *s = (const unsigned char *)n->src_;
        if (end > n->srclen_)
            end = n->srclen_;
        if (start > end)
            start = end;
        while (start > 0 && start < n->srclen_ && (s[start] & 0xC0) == 0x80)
            start--;
        while (end > start && end < n->srclen_ && (s[end] & 0xC0) == 0x80)
            end++;
        *ostart = start;
        *oend = end < start ? start : end;
        return;
    }
    if (end > n->len)
        end = n->len;
    if (start >= end) {
        if (start >= n->len) {
            *ostart = *oend = n->srclen_;
        } else {
            byte_map(n, start, &a, &b);
            *ostart = *oend = a;
        }
        return;
    }
    byte_map(n, start, &a, &b);
    *ostart = a;
    byte_map(n, end - 1, &a, &b);
    *oend = b;
}

void aigov_norm_trim(aigov_norm_t *n, size_t keep)
{
    if (n->cap_ > keep) {
        free(n->buf_);
        n->buf_ = NULL;
        n->cap_ = 0;
    }
    if (n->edcap_ * sizeof(*n->ed_) > keep) {
        free(n->ed_);
        n->ed_ = NULL;
        n->edcap_ = 0;
    }
    n->ned_ = 0;
    n->text = NULL;
    n->len = 0;
}

void aigov_norm_free(aigov_norm_t *n)
{
    free(n->buf_);
    free(n->ed_);
    memset(n, 0, sizeof(*n));
}
