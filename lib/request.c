/*
 * request: read what a model API request asks for from its JSON body.
 *
 * The body is hostile and every request pays for reading it, so it is read
 * by a hand-written scanner in one pass rather than built into a tree:
 *
 *   1. scan: validate the whole body as strict RFC 8259 JSON (no trailing
 *      commas, NaN, leading zeros, raw control characters, invalid UTF-8,
 *      lone surrogates or \u0000; integers must fit 64 bits and reals a
 *      double) and write a flat tape of nodes, one per value, each holding
 *      its byte range and the index of its next sibling. Duplicate keys are
 *      refused in every object, compared after unescaping, so that a second
 *      "model" or "max_tokens" cannot reach the upstream behind the policy's
 *      back. Nesting is bounded, so a body of a million '[' costs a scan.
 *   2. shape: walk the few tape nodes the endpoint's fields live in, and
 *      copy the strings read (model, roles, texts) unescaped and
 *      NUL-terminated into one allocation that also holds a copy of the
 *      body and the texts array.
 *
 * Edits are not written into a tree but spliced into the body copy when
 * serialised: each text knows its string literal's bytes, the token-limit
 * keys know their value's bytes, and a missing limit is appended before the
 * root object's closing brace. An unedited body serialises byte for byte.
 */
#include "request.h"
#include "ascii.h"
#include "base64.h"
#include "json_string.h"
#include "utf8.h"
#include "errbuf.h"

#include <float.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- UTF-8 -------------------------------------------------------------- */

#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static uint64_t
load8(const unsigned char *p)
{
    uint64_t v;

    memcpy(&v, p, 8);
    return v;
}

/* Characters in valid UTF-8: the bytes that are not continuation bytes
 * (10xxxxxx), eight at a time. */
static size_t
utf8_chars(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *) s;
    size_t i = 0, cont = 0;

#if defined(__SSE2__)
    /* sixteen at a time: a continuation byte is below (signed) 0xC0 */
    for (; i + 16 <= len; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *) (p + i));

        if (_mm_movemask_epi8(v))
            cont += (size_t) __builtin_popcount((unsigned) _mm_movemask_epi8(
                        _mm_cmplt_epi8(v, _mm_set1_epi8((char) 0xC0))));
    }
#endif
    for (; i + 8 <= len; i += 8) {
        uint64_t v = load8(p + i);

        /* ASCII words, the common case, need no count (and popcount may
         * be a library call on baseline x86-64) */
        if (v & HIGHS)
            cont += (size_t) __builtin_popcountll(v & ~(v << 1) & HIGHS);
    }
    for (; i < len; i++)
        cont += (p[i] & 0xC0) == 0x80;
    return len - cont;
}

static int
utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *) s;
    size_t i = 0, k;

    while (i < len) {
        if (i + 8 <= len && (load8(p + i) & HIGHS) == 0) {
            i += 8;
        } else if (p[i] < 0x80) {
            i++;
        } else {
            if ((k = aigov_utf8_seq(p + i, len - i)) == 0)
                return 0;
            i += k;
        }
    }
    return 1;
}


/* ---- scan: validation and the tape -------------------------------------- */

enum { T_OBJ = 1, T_ARR, T_STR, T_INT, T_REAL, T_TRUE, T_FALSE, T_NULL };
#define T_MASK 0xFFu
#define F_ESC  0x100u       /* a string with escapes: unescape to read it */
#define F_HIGH 0x200u       /* a string with a character above U+007F (as
                               UTF-8 or escaped): counted and normalized;
                               without it, characters are bytes */
#define NONE   UINT32_MAX

typedef struct {
    uint32_t at;        /* first byte of the value (a string's '"') */
    uint32_t end;       /* one past its last byte */
    uint32_t next;      /* the node after this value and all it contains */
    uint32_t type;      /* T_* | F_ESC | F_HIGH */
} node_t;

/* One key of an object being scanned, for the duplicate check. */
typedef struct {
    uint64_t hash;
    uint32_t at, end;   /* the key literal */
    uint32_t esc;
} keyent_t;

#define NODES_INLINE 256    /* 4 KiB: a chat body rarely needs more */
#define KEYS_INLINE  64
#define DUP_LINEAR   32     /* objects with more keys are checked by sorting */

typedef struct {
    const unsigned char *b;
    size_t      len, pos;
    node_t     *nodes;
    size_t      nn, ncap;
    keyent_t   *keys;
    size_t      nk, kcap;
    size_t      nstr;       /* strings, keys included */
    size_t      str_bytes;  /* their content bytes plus a NUL each */
    int         status;     /* AIGOV_REQ_*, set by the first failure */
    size_t      epos;
    const char *emsg;
    char        ebuf[64];
    node_t      node_buf[NODES_INLINE];
    keyent_t    key_buf[KEYS_INLINE];
} scan_t;

static int
fail_at(scan_t *s, size_t pos, const char *msg)
{
    if (s->status == AIGOV_REQ_OK) {
        s->status = AIGOV_REQ_BAD_JSON;
        s->epos = pos;
        s->emsg = msg;
    }
    return -1;
}

static int
fail_nomem(scan_t *s)
{
    if (s->status == AIGOV_REQ_OK)
        s->status = AIGOV_REQ_NOMEM;
    return -1;
}

static void
scan_release(scan_t *s)
{
    if (s->nodes != s->node_buf)
        free(s->nodes);
    if (s->keys != s->key_buf)
        free(s->keys);
}

/* Grows an array that starts in the scan_t itself; the inline one is
 * never freed. */
static void *
grow(void *arr, void *inline_buf, size_t *cap, size_t size)
{
    size_t ncap = *cap * 2;
    void  *n;

    if (arr == inline_buf) {
        n = malloc(ncap * size);
        if (n != NULL)
            memcpy(n, arr, *cap * size);
    } else {
        n = realloc(arr, ncap * size);
    }
    if (n != NULL)
        *cap = ncap;
    return n;
}

static uint32_t
push_node(scan_t *s, uint32_t type, size_t at)
{
    node_t *n;

    if (s->nn == s->ncap) {
        n = grow(s->nodes, s->node_buf, &s->ncap, sizeof(*n));
        if (n == NULL) {
            fail_nomem(s);
            return NONE;
        }
        s->nodes = n;
    }
    n = &s->nodes[s->nn];
    n->at = (uint32_t) at;
    n->type = type;
    return (uint32_t) s->nn++;
}

static void
skip_ws(scan_t *s)
{
    const unsigned char *b = s->b;
    size_t i = s->pos, n = s->len;

    while (i < n && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t'))
        i++;
    s->pos = i;
}

/*
 * A string literal at s->pos (its '"'). Plain ASCII is skipped eight bytes
 * at a time: a word is looked at byte by byte only when it holds a '"', a
 * '\\', a control character or a byte of a multi-byte character.
 */
static int
scan_string(scan_t *s, uint32_t *esc)
{
    const unsigned char *b = s->b;
    size_t i = s->pos + 1, n = s->len;

    *esc = 0;
    for (;;) {
        unsigned c;

#if defined(__SSE2__)
        /* sixteen bytes at a time; (signed) below 0x20 is a control
         * character or a byte of a multi-byte character */
        while (i + 16 <= n) {
            __m128i v = _mm_loadu_si128((const __m128i *) (b + i));
            unsigned m = (unsigned) _mm_movemask_epi8(_mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                             _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
                _mm_cmplt_epi8(v, _mm_set1_epi8(0x20))));

            if (m != 0) {
                i += (size_t) __builtin_ctz(m);
                goto special;
            }
            i += 16;
        }
#endif
        while (i + 8 <= n) {
            uint64_t hit = aigov_json_special8(load8(b + i));

            if (hit != 0) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
                /* The lowest flagged byte is exact: borrows only run
                 * upwards from a true hit. */
                i += (size_t) __builtin_ctzll(hit) / 8;
#endif
                break;
            }
            i += 8;
        }
#if defined(__SSE2__)
    special:
#endif
        if (i >= n)
            return fail_at(s, n, "premature end of input in a string");
        c = b[i];
        if (c == '"') {
            s->pos = i + 1;
            return 0;
        }
        if (c == '\\') {
            size_t ulen;
            int cp;

            *esc |= F_ESC;
            if (i + 1 >= n)
                return fail_at(s, n, "premature end of input in a string");
            switch (b[i + 1]) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n':
            case 'r': case 't':
                i += 2;
                continue;
            case 'u':
                break;
            default:
                return fail_at(s, i, "invalid escape in a string");
            }
            switch (aigov_json_u_escape(b + i, n - i, &ulen, &cp)) {
            case AIGOV_U_BAD:
                return fail_at(s, i, "invalid \\u escape");
            case AIGOV_U_LONE_LOW:
                return fail_at(s, i, "lone low surrogate in a \\u escape");
            case AIGOV_U_LONE_HIGH:
                return fail_at(s, i, "lone high surrogate in a \\u escape");
            default:
                break;
            }
            if (cp == 0)
                return fail_at(s, i, "\\u0000 is not allowed in a string");
            if (cp >= 0x80)
                *esc |= F_HIGH;
            i += ulen;
        } else if (c < 0x20) {
            snprintf(s->ebuf, sizeof(s->ebuf),
                     "control character 0x%02x in a string", c);
            return fail_at(s, i, s->ebuf);
        } else if (c >= 0x80) {
            *esc |= F_HIGH;
            /* Stay here through a run of multi-byte characters (most text
             * that is not English): no word test per character. */
            do {
                size_t k;

                if (b[i] >= 0xE0 && b[i] < 0xF0 && i + 3 <= n
                    && ((b[i + 1] ^ 0x80) | (b[i + 2] ^ 0x80)) < 0x40
                    && (b[i] != 0xE0 || b[i + 1] >= 0xA0)
                    && (b[i] != 0xED || b[i + 1] < 0xA0))
                {
                    i += 3;
                    continue;
                }
                if ((k = aigov_utf8_seq(b + i, n - i)) == 0)
                    return fail_at(s, i, "invalid UTF-8 in a string");
                i += k;
            } while (i < n && b[i] >= 0x80);
        } else {
            i++;
        }
    }
}

static int
is_digit(unsigned c)
{
    return c - '0' < 10;
}

/* A number: JSON's grammar, integers within 64 bits (as strtoll), reals
 * within a double (as strtod: overflow is refused, underflow is not). */
static int
scan_number(scan_t *s)
{
    const unsigned char *b = s->b;
    size_t   at = s->pos, i = at, n = s->len, d0, nd, sig = 0;
    int      neg = 0, real = 0, have_sig = 0;
    long     e10 = 0, ex = 0;
    uint32_t idx;

    if (b[i] == '-') {
        neg = 1;
        i++;
    }
    if (i >= n || !is_digit(b[i]))
        return fail_at(s, at, "invalid number");
    d0 = i;
    if (b[i] == '0') {
        i++;
        if (i < n && is_digit(b[i]))
            return fail_at(s, at, "leading zero in a number");
    } else {
        while (i < n && is_digit(b[i]))
            i++;
    }
    nd = i - d0;
    if (i < n && b[i] == '.') {
        real = 1;
        if (++i >= n || !is_digit(b[i]))
            return fail_at(s, at, "invalid number");
        while (i < n && is_digit(b[i]))
            i++;
    }
    if (i < n && (b[i] == 'e' || b[i] == 'E')) {
        int eneg = 0;

        real = 1;
        if (++i < n && (b[i] == '+' || b[i] == '-'))
            eneg = b[i++] == '-';
        if (i >= n || !is_digit(b[i]))
            return fail_at(s, at, "invalid number");
        for (; i < n && is_digit(b[i]); i++) {
            if (ex < 100000)
                ex = ex * 10 + (b[i] - '0');
        }
        if (eneg)
            ex = -ex;
    }

    if (!real) {
        static const char max[] = "9223372036854775807";

        /* 19 digits compare as strings; LLONG_MIN's last digit is 8. */
        if (nd > 19 || (nd == 19 && (memcmp(b + d0, max, 18) > 0
                                     || (memcmp(b + d0, max, 18) == 0
                                         && b[d0 + 18] > (neg ? '8' : '7')))))
        {
            return fail_at(s, at, neg ? "too big negative integer"
                                      : "too big integer");
        }
    } else {
        /* The decimal exponent of the first significant digit bounds the
         * value: below 1e308 it cannot overflow, from 1e309 it must; only
         * the decade in between asks strtod. */
        size_t k, mend = d0;

        while (mend < i && b[mend] != 'e' && b[mend] != 'E')
            mend++;
        for (k = d0; k < mend; k++) {
            if (b[k] != '0' && b[k] != '.') {
                have_sig = 1;
                sig = k;
                break;
            }
        }
        if (have_sig) {
            const unsigned char *dot = memchr(b + d0, '.', i - d0);

            if (dot == NULL || (size_t) (dot - b) > sig)
                e10 = (long) (nd - (sig - d0)) - 1;
            else
                e10 = -(long) (sig - (size_t) (dot - b));
            e10 += ex;
            if (e10 >= 309)
                return fail_at(s, at, "real number overflow");
            if (e10 == 308) {
                char   buf[128], *tmp = buf, *endp;
                double v;
                size_t l = i - at;

                if (l >= sizeof(buf) && (tmp = malloc(l + 1)) == NULL)
                    return fail_nomem(s);
                memcpy(tmp, b + at, l);
                tmp[l] = '\0';
                v = strtod(tmp, &endp);
                if (tmp != buf)
                    free(tmp);
                if (v > DBL_MAX || v < -DBL_MAX)
                    return fail_at(s, at, "real number overflow");
            }
        }
    }

    if ((idx = push_node(s, real ? T_REAL : T_INT, at)) == NONE)
        return -1;
    s->nodes[idx].end = (uint32_t) i;
    s->nodes[idx].next = idx + 1;
    s->pos = i;
    return 0;
}

static uint64_t
fnv1a(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    size_t   i;

    for (i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

/* A key's hash is of its unescaped bytes, so "\u006dodel" is "model". */
static int
key_hash(scan_t *s, keyent_t *k)
{
    const unsigned char *raw = s->b + k->at + 1;
    size_t rl = k->end - k->at - 2;
    char   buf[256], *tmp = buf;

    if (!k->esc) {
        k->hash = fnv1a(raw, rl);
        return 0;
    }
    if (rl > sizeof(buf) && (tmp = malloc(rl)) == NULL)
        return fail_nomem(s);
    k->hash = fnv1a((unsigned char *) tmp, aigov_json_unescape(raw, rl, tmp));
    if (tmp != buf)
        free(tmp);
    return 0;
}

/* 1 when two keys are equal unescaped, 0 when not, -1 out of memory. */
static int
key_same(scan_t *s, const keyent_t *a, const keyent_t *b)
{
    const unsigned char *ra = s->b + a->at + 1, *rb = s->b + b->at + 1;
    size_t la = a->end - a->at - 2, lb = b->end - b->at - 2, ua, ub;
    char  *ta, *tb;
    int    same;

    if (a->hash != b->hash)
        return 0;
    if (!a->esc && !b->esc)
        return la == lb && memcmp(ra, rb, la) == 0;
    ta = malloc(la + 1);
    tb = malloc(lb + 1);
    if (ta == NULL || tb == NULL) {
        free(ta);
        free(tb);
        return -1;
    }
    ua = aigov_json_unescape(ra, la, ta);
    ub = aigov_json_unescape(rb, lb, tb);
    same = ua == ub && memcmp(ta, tb, ua) == 0;
    free(ta);
    free(tb);
    return same;
}

static int
cmp_key_hash(const void *x, const void *y)
{
    const keyent_t *a = x, *b = y;

    if (a->hash != b->hash)
        return a->hash < b->hash ? -1 : 1;
    return a->at < b->at ? -1 : a->at > b->at;
}

/* Objects with many keys: sort by hash, compare neighbours. Reports the
 * later key of the first equal pair. */
static int
dup_check_sorted(scan_t *s, size_t base)
{
    size_t i, j, cnt = s->nk - base;
    keyent_t *k = s->keys + base;

    qsort(k, cnt, sizeof(*k), cmp_key_hash);
    for (i = 0; i < cnt; i = j) {
        for (j = i + 1; j < cnt && k[j].hash == k[i].hash; j++) {
            size_t m;

            for (m = i; m < j; m++) {
                int r = key_same(s, &k[m], &k[j]);

                if (r < 0)
                    return fail_nomem(s);
                if (r)
                    return fail_at(s, k[j].at, "duplicate object key");
            }
        }
    }
    return 0;
}

static int scan_value(scan_t *s, unsigned depth);

static int
too_deep(scan_t *s)
{
    if (s->status == AIGOV_REQ_OK) {
        s->status = AIGOV_REQ_BAD_SHAPE;
        s->epos = s->pos;
    }
    return -1;
}

static int
scan_object(scan_t *s, unsigned depth)
{
    size_t   base = s->nk, cnt = 0;
    uint32_t idx;

    if (depth > AIGOV_REQ_MAX_DEPTH)
        return too_deep(s);
    if ((idx = push_node(s, T_OBJ, s->pos)) == NONE)
        return -1;
    s->pos++;
    skip_ws(s);
    if (s->pos < s->len && s->b[s->pos] == '}') {
        s->pos++;
    } else {
        for (;;) {
            keyent_t *k;
            uint32_t  kidx, esc;
            size_t    j;

            if (s->pos >= s->len)
                return fail_at(s, s->len, "premature end of input in an object");
            if (s->b[s->pos] != '"') {
                return fail_at(s, s->pos, cnt > 0 && s->b[s->pos] == '}'
                                          ? "trailing comma before '}'"
                                          : "string or '}' expected");
            }
            if ((kidx = push_node(s, T_STR, s->pos)) == NONE)
                return -1;
            if (scan_string(s, &esc) < 0)
                return -1;
            s->nodes[kidx].type |= esc;
            s->nodes[kidx].end = (uint32_t) s->pos;
            s->nodes[kidx].next = kidx + 1;
            /* a key may be a text too (a property name): room for it */
            s->nstr++;
            s->str_bytes += s->pos - s->nodes[kidx].at - 1;

            if (s->nk == s->kcap) {
                keyent_t *nk = grow(s->keys, s->key_buf, &s->kcap, sizeof(*nk));

                if (nk == NULL)
                    return fail_nomem(s);
                s->keys = nk;
            }
            k = &s->keys[s->nk];
            k->at = s->nodes[kidx].at;
            k->end = s->nodes[kidx].end;
            k->esc = esc & F_ESC;
            if (key_hash(s, k) < 0)
                return -1;
            if (cnt < DUP_LINEAR) {
                for (j = base; j < s->nk; j++) {
                    int r = key_same(s, &s->keys[j], k);

                    if (r < 0)
                        return fail_nomem(s);
                    if (r)
                        return fail_at(s, k->at, "duplicate object key");
                }
            }
            s->nk++;
            cnt++;

            skip_ws(s);
            if (s->pos >= s->len)
                return fail_at(s, s->len, "premature end of input in an object");
            if (s->b[s->pos] != ':')
                return fail_at(s, s->pos, "':' expected");
            s->pos++;
            if (scan_value(s, depth) < 0)
                return -1;
            skip_ws(s);
            if (s->pos >= s->len)
                return fail_at(s, s->len, "premature end of input in an object");
            if (s->b[s->pos] == ',') {
                s->pos++;
                skip_ws(s);
                continue;
            }
            if (s->b[s->pos] == '}') {
                s->pos++;
                break;
            }
            return fail_at(s, s->pos, "',' or '}' expected");
        }
        if (cnt > DUP_LINEAR && dup_check_sorted(s, base) < 0)
            return -1;
        s->nk = base;
    }
    s->nodes[idx].end = (uint32_t) s->pos;
    s->nodes[idx].next = (uint32_t) s->nn;
    return 0;
}

static int
scan_array(scan_t *s, unsigned depth)
{
    uint32_t idx;

    if (depth > AIGOV_REQ_MAX_DEPTH)
        return too_deep(s);
    if ((idx = push_node(s, T_ARR, s->pos)) == NONE)
        return -1;
    s->pos++;
    skip_ws(s);
    if (s->pos < s->len && s->b[s->pos] == ']') {
        s->pos++;
    } else {
        for (;;) {
            if (scan_value(s, depth) < 0)
                return -1;
            skip_ws(s);
            if (s->pos >= s->len)
                return fail_at(s, s->len, "premature end of input in an array");
            if (s->b[s->pos] == ',') {
                s->pos++;
                skip_ws(s);
                if (s->pos < s->len && s->b[s->pos] == ']')
                    return fail_at(s, s->pos, "trailing comma before ']'");
                continue;
            }
            if (s->b[s->pos] == ']') {
                s->pos++;
                break;
            }
            return fail_at(s, s->pos, "',' or ']' expected");
        }
    }
    s->nodes[idx].end = (uint32_t) s->pos;
    s->nodes[idx].next = (uint32_t) s->nn;
    return 0;
}

static int
scan_literal(scan_t *s, const char *word, size_t wl, uint32_t type)
{
    uint32_t idx;

    if (s->len - s->pos < wl || memcmp(s->b + s->pos, word, wl) != 0)
        return fail_at(s, s->pos, "invalid token");
    if ((idx = push_node(s, type, s->pos)) == NONE)
        return -1;
    s->pos += wl;
    s->nodes[idx].end = (uint32_t) s->pos;
    s->nodes[idx].next = idx + 1;
    return 0;
}

/* A value at or after s->pos; depth is that of the enclosing container. */
static int
scan_value(scan_t *s, unsigned depth)
{
    uint32_t idx, esc;

    skip_ws(s);
    if (s->pos >= s->len)
        return fail_at(s, s->len, "premature end of input, a value expected");
    switch (s->b[s->pos]) {
    case '{':
        return scan_object(s, depth + 1);
    case '[':
        return scan_array(s, depth + 1);
    case '"':
        if ((idx = push_node(s, T_STR, s->pos)) == NONE)
            return -1;
        if (scan_string(s, &esc) < 0)
            return -1;
        s->nodes[idx].type |= esc;
        s->nodes[idx].end = (uint32_t) s->pos;
        s->nodes[idx].next = idx + 1;
        s->nstr++;
        s->str_bytes += s->nodes[idx].end - s->nodes[idx].at - 1;
        return 0;
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        return scan_number(s);
    case 't':
        return scan_literal(s, "true", 4, T_TRUE);
    case 'f':
        return scan_literal(s, "false", 5, T_FALSE);
    case 'n':
        return scan_literal(s, "null", 4, T_NULL);
    default:
        return fail_at(s, s->pos, "invalid token, a value expected");
    }
}

/* Line and column (in characters) of byte pos, both from 1. */
static void
line_col(const unsigned char *b, size_t pos, int *line, int *col)
{
    const unsigned char *p = b, *end = b + pos, *nl;
    long l = 1;

    while ((nl = memchr(p, '\n', (size_t) (end - p))) != NULL) {
        l++;
        p = nl + 1;
    }
    *line = l > INT_MAX ? INT_MAX : (int) l;
    l = (long) utf8_chars((const char *) p, (size_t) (end - p)) + 1;
    *col = l > INT_MAX ? INT_MAX : (int) l;
}

/* ---- shape: reading the tape ---------------------------------------------- */

typedef struct {
    aigov_request_t     *rq;
    char                *err;
    size_t               errlen;
    const node_t        *n;
    const unsigned char *b;     /* the body */
    char                *sp;    /* next free byte of the strings area */
    char                *send;
    size_t               tcap;  /* slots in rq->texts */
} parse_ctx_t;

/* Internal result of the shape walkers. */
#define SHAPE_OK     0
#define SHAPE_BAD   -1
#define SHAPE_NOMEM -2

#define TYPE(cx, v)     ((cx)->n[v].type & T_MASK)
#define IS(cx, v, t)    ((v) != NONE && TYPE(cx, v) == (t))
#define IS_NULL(cx, v)  IS(cx, v, T_NULL)
#define FIRST(cx, v)    ((v) + 1)                   /* first child */
#define END(cx, v)      ((cx)->n[v].next)           /* past the last child */
#define NEXT(cx, v)     ((cx)->n[v].next)           /* next sibling */

static const char *
type_name(const parse_ctx_t *cx, uint32_t v)
{
    switch (TYPE(cx, v)) {
    case T_OBJ:   return "an object";
    case T_ARR:   return "an array";
    case T_STR:   return "a string";
    case T_INT:   return "an integer";
    case T_REAL:  return "a number";
    case T_TRUE:
    case T_FALSE: return "a boolean";
    default:      return "null";
    }
}

/* Whether string node v equals the C string lit. */
static int
str_is(const parse_ctx_t *cx, uint32_t v, const char *lit)
{
    const node_t *nd = &cx->n[v];
    size_t rl = nd->end - nd->at - 2, ll;
    char   buf[192];

    /* most keys asked about are not there: the first byte settles it */
    if (!(nd->type & F_ESC)) {
        if (rl == 0 || cx->b[nd->at + 1] != lit[0])
            return rl == 0 && lit[0] == '\0';
        ll = strlen(lit);
        return rl == ll && memcmp(cx->b + nd->at + 1, lit, ll) == 0;
    }
    ll = strlen(lit);
    /* Escaped: an unescaped byte takes 1 to 6 raw ones ("\u0041"), so a
     * fully escaped "max_tokens" is still found. Literals here are short. */
    if (ll > rl || rl > 6 * ll || rl > sizeof(buf))
        return 0;
    return aigov_json_unescape(cx->b + nd->at + 1, rl, buf) == ll && memcmp(buf, lit, ll) == 0;
}

/* The value of key in object obj, or NONE. Keys are unique (the scan saw to
 * it), so the first match is the only one. */
static uint32_t
obj_get(const parse_ctx_t *cx, uint32_t obj, const char *key)
{
    uint32_t k = FIRST(cx, obj), end = END(cx, obj);

    while (k < end) {
        if (str_is(cx, k, key))
            return k + 1;
        k = NEXT(cx, k + 1);
    }
    return NONE;
}

/* String node v unescaped and NUL-terminated in the strings area. */
static const char *
str_value(parse_ctx_t *cx, uint32_t v, size_t *len)
{
    const node_t *nd = &cx->n[v];
    size_t rl = nd->end - nd->at - 2, l;
    char  *d = cx->sp;

    /* The area holds every string value once; a second copy of one would
     * be a bug here, refused rather than overrun. */
    if (rl + 1 > (size_t) (cx->send - cx->sp))
        return NULL;
    if (nd->type & F_ESC) {
        l = aigov_json_unescape(cx->b + nd->at + 1, rl, d);
    } else {
        memcpy(d, cx->b + nd->at + 1, rl);
        l = rl;
    }
    d[l] = '\0';
    cx->sp += l + 1;
    if (len != NULL)
        *len = l;
    return d;
}

static int
add_text(parse_ctx_t *cx, const char *role, uint32_t v)
{
    aigov_request_t *rq = cx->rq;
    aigov_text_t    *t;

    if (rq->ntexts >= AIGOV_REQ_MAX_TEXTS) {
        aigov_errorf(cx->err, cx->errlen,
                "the request has more than %d texts", AIGOV_REQ_MAX_TEXTS);
        return SHAPE_BAD;
    }
    if (rq->ntexts >= cx->tcap)
        return SHAPE_NOMEM;
    t = &rq->texts[rq->ntexts];
    if ((t->text = str_value(cx, v, &t->len)) == NULL)
        return SHAPE_NOMEM;
    t->role = role;
    t->at = cx->n[v].at;
    t->end = cx->n[v].end;
    t->repl = NULL;
    t->ascii = !(cx->n[v].type & F_HIGH);
    t->json = 0;
    t->key = 0;
    t->paired = 0;
    t->obj = 0;
    t->kwobj = 0;
    t->pre = NULL;
    t->prelen = 0;
    t->wire = NULL;
    rq->ntexts++;
    rq->prompt_chars += t->ascii ? t->len : utf8_chars(t->text, t->len);
    return SHAPE_OK;
}

static int walk(parse_ctx_t *cx, uint32_t v, const char *label, int mode);

/* Member k of object obj: the key is a text (the client chose it and the
 * model reads it: a property name, a key of a free-form object; kwobj: its
 * object is a schema's), and its value is walked in mode. A string value
 * read as it is (not a file) is the next text, paired with its key. */
static int
walk_member(parse_ctx_t *cx, const char *role, uint32_t k, uint32_t obj,
            int mode, int kwobj)
{
    aigov_request_t *rq = cx->rq;
    size_t           ki = rq->ntexts;
    int              rc;

    if ((rc = add_text(cx, role, k)) != SHAPE_OK)
        return rc;
    rq->texts[ki].key = 1;
    rq->texts[ki].obj = (size_t) cx->n[obj].at + 1;
    rq->texts[ki].kwobj = kwobj;
    if ((rc = walk(cx, k + 1, role, mode)) != SHAPE_OK)
        return rc;
    if (IS(cx, k + 1, T_STR) && rq->ntexts == ki + 2 && rq->texts[ki + 1].pre == NULL)
        rq->texts[ki + 1].paired = 1;
    return SHAPE_OK;
}

/* ---- common fields ------------------------------------------------------ */

static int
read_model(parse_ctx_t *cx, int required)
{
    uint32_t v = obj_get(cx, 0, "model");

    if (v == NONE) {
        if (!required)
            return SHAPE_OK;
        aigov_errorf(cx->err, cx->errlen, "'model' is required");
        return SHAPE_BAD;
    }
    if (!IS(cx, v, T_STR)) {
        aigov_errorf(cx->err, cx->errlen, "'model' must be a string, not %s",
                type_name(cx, v));
        return SHAPE_BAD;
    }
    if ((cx->rq->model = str_value(cx, v, NULL)) == NULL)
        return SHAPE_NOMEM;
    return SHAPE_OK;
}

static int
read_stream(parse_ctx_t *cx)
{
    uint32_t v = obj_get(cx, 0, "stream");

    /* null is what SDKs send for "not set". */
    if (v == NONE || IS_NULL(cx, v))
        return SHAPE_OK;
    if (!IS(cx, v, T_TRUE) && !IS(cx, v, T_FALSE)) {
        aigov_errorf(cx->err, cx->errlen, "'stream' must be true or false, not %s",
                type_name(cx, v));
        return SHAPE_BAD;
    }
    cx->rq->stream = IS(cx, v, T_TRUE);
    return SHAPE_OK;
}

/* The scan has checked that the integer fits 64 bits. */
static long long
int_value(const parse_ctx_t *cx, uint32_t v)
{
    const unsigned char *p = cx->b + cx->n[v].at, *e = cx->b + cx->n[v].end;
    unsigned long long u = 0;
    int neg = *p == '-';

    for (p += neg; p < e; p++)
        u = u * 10 + (unsigned) (*p - '0');
    if (neg)
        return u == 0 ? 0 : -(long long) (u - 1) - 1;
    return (long long) u;
}

/* Reads one token-limit key; *present tells whether it carried a value. */
static int
read_limit(parse_ctx_t *cx, const char *key, int *present)
{
    uint32_t  v = obj_get(cx, 0, key);
    long long n;

    *present = 0;
    if (v == NONE || IS_NULL(cx, v))
        return SHAPE_OK;
    if (!IS(cx, v, T_INT) || (n = int_value(cx, v)) < 0) {
        aigov_errorf(cx->err, cx->errlen, "'%s' must be a non-negative integer", key);
        return SHAPE_BAD;
    }
    *present = 1;
    if (n > cx->rq->max_tokens)
        cx->rq->max_tokens = n;
    return SHAPE_OK;
}

/* The token-limit keys of a kind, as set_max_tokens writes them: [0] the
 * kind's own, [1] chat's second one; NULL where the kind has none. Kinds
 * that do not take a limit (embeddings, count_tokens, unknown) get none,
 * so a limit is never injected into a body that has no such field. */
static const char *
limit_key(aigov_endpoint_t ep, int i)
{
    switch (ep) {
    case AIGOV_EP_CHAT:
        return i == 0 ? "max_tokens" : "max_completion_tokens";
    case AIGOV_EP_COMPLETIONS:
    case AIGOV_EP_MESSAGES:
        /* chat's key too: an upstream that honours it there must not get
         * around the cap */
        return i == 0 ? "max_tokens" : "max_completion_tokens";
    case AIGOV_EP_RESPONSES:
        return i == 0 ? "max_output_tokens" : NULL;
    default:
        return NULL;
    }
}

static int
read_limits(parse_ctx_t *cx)
{
    aigov_request_t *rq = cx->rq;
    int has_mt = 0, has_mct = 0, rc;

    switch (rq->endpoint) {
    case AIGOV_EP_CHAT:
        if ((rc = read_limit(cx, "max_tokens", &has_mt)) != SHAPE_OK)
            return rc;
        if ((rc = read_limit(cx, "max_completion_tokens", &has_mct)) != SHAPE_OK)
            return rc;
        /* With both keys the larger counts: set_max_tokens writes both. */
        rq->max_tokens_key = has_mct && !has_mt ? "max_completion_tokens"
                                                : "max_tokens";
        return SHAPE_OK;
    case AIGOV_EP_COMPLETIONS:
        rq->max_tokens_key = "max_tokens";
        return read_limit(cx, "max_tokens", &has_mt);
    case AIGOV_EP_RESPONSES:
        rq->max_tokens_key = "max_output_tokens";
        return read_limit(cx, "max_output_tokens", &has_mt);
    case AIGOV_EP_MESSAGES:
        rq->max_tokens_key = "max_tokens";
        if ((rc = read_limit(cx, "max_tokens", &has_mt)) != SHAPE_OK)
            return rc;
        if (!has_mt) {
            aigov_errorf(cx->err, cx->errlen,
                    "'max_tokens' is required and must be an integer");
            return SHAPE_BAD;
        }
        return SHAPE_OK;
    case AIGOV_EP_EMBEDDINGS:
    case AIGOV_EP_COUNT_TOKENS:
        /* no answer tokens to limit */
        return SHAPE_OK;
    default:
        /* An unknown body's max_tokens is read (a cap can refuse it) but
         * never written: its meaning there is unknown. */
        return read_limit(cx, "max_tokens", &has_mt);
    }
}

/* Where the kind's token-limit keys' values lie: every one the caller gave
 * is overwritten by set_max_tokens. */
static void
note_limit_keys(parse_ctx_t *cx)
{
    aigov_request_t *rq = cx->rq;
    int i;

    for (i = 0; i < 2; i++) {
        const char *key = limit_key(rq->endpoint, i);
        uint32_t    v;

        if (key == NULL || (v = obj_get(cx, 0, key)) == NONE)
            continue;
        rq->lim_has_[i] = IS_NULL(cx, v) ? 1 : 2;
        rq->lim_at_[i] = cx->n[v].at;
        rq->lim_end_[i] = cx->n[v].end;
    }
}

/* One count key ("n", "best_of"): an integer from 1 to AIGOV_REQ_MAX_N,
 * or null/absent. */
static int
read_count(parse_ctx_t *cx, const char *key)
{
    uint32_t  v = obj_get(cx, 0, key);
    long long n;

    if (v == NONE || IS_NULL(cx, v))
        return SHAPE_OK;
    if (!IS(cx, v, T_INT) || (n = int_value(cx, v)) < 1 || n > AIGOV_REQ_MAX_N) {
        aigov_errorf(cx->err, cx->errlen,
                "'%s' must be an integer from 1 to %d", key, AIGOV_REQ_MAX_N);
        return SHAPE_BAD;
    }
    if (n > cx->rq->n)
        cx->rq->n = n;
    return SHAPE_OK;
}

/* The prompts of a completions request, each answered n times: a list
 * of strings or of token lists is that many prompts; a string, or one
 * list of token ids, is one. */
static long long
count_prompts(parse_ctx_t *cx)
{
    uint32_t  v = obj_get(cx, 0, "prompt"), item;
    long long n = 0;
    int       ids = 0;

    if (!IS(cx, v, T_ARR))
        return 1;
    for (item = FIRST(cx, v); item < END(cx, v); item = NEXT(cx, item)) {
        if (IS(cx, item, T_STR) || IS(cx, item, T_ARR))
            n++;
        else
            ids = 1;
    }
    n += ids;
    return n > 0 ? n : 1;
}

/* How many answers the request asks for: chat's n, completions' larger of
 * n and best_of (best_of answers are generated, n returned) for each of
 * its prompts. Other kinds answer once. */
static int
read_n(parse_ctx_t *cx)
{
    int rc;

    switch (cx->rq->endpoint) {
    case AIGOV_EP_CHAT:
        return read_count(cx, "n");
    case AIGOV_EP_COMPLETIONS:
        if ((rc = read_count(cx, "n")) != SHAPE_OK
            || (rc = read_count(cx, "best_of")) != SHAPE_OK)
        {
            return rc;
        }
        cx->rq->n *= count_prompts(cx);
        return SHAPE_OK;
    default:
        return SHAPE_OK;
    }
}

/* stream_options of chat and completions: where ask_usage would splice
 * "include_usage": true (see so_state_ in request.h). */
static int
read_stream_options(parse_ctx_t *cx)
{
    aigov_request_t *rq = cx->rq;
    uint32_t so, iu;

    if (rq->endpoint != AIGOV_EP_CHAT && rq->endpoint != AIGOV_EP_COMPLETIONS)
        return SHAPE_OK;
    so = obj_get(cx, 0, "stream_options");
    if (so == NONE) {
        rq->so_state_ = AIGOV_SO_ABSENT;
        return SHAPE_OK;
    }
    if (IS_NULL(cx, so)) {
        rq->so_state_ = AIGOV_SO_NULL;
        rq->so_at_ = cx->n[so].at;
        rq->so_end_ = cx->n[so].end;
        return SHAPE_OK;
    }
    if (!IS(cx, so, T_OBJ)) {
        aigov_errorf(cx->err, cx->errlen,
                "'stream_options' must be an object, not %s", type_name(cx, so));
        return SHAPE_BAD;
    }
    iu = obj_get(cx, so, "include_usage");
    if (iu == NONE) {
        rq->so_state_ = END(cx, so) == FIRST(cx, so) ? AIGOV_SO_EMPTY
                                                      : AIGOV_SO_NO_KEY;
        rq->so_at_ = cx->n[so].end - 1;         /* its '}' */
        rq->so_end_ = rq->so_at_;
        return SHAPE_OK;
    }
    if (IS(cx, iu, T_TRUE)) {
        rq->so_state_ = AIGOV_SO_ASKED;
        return SHAPE_OK;
    }
    if (!IS(cx, iu, T_FALSE) && !IS_NULL(cx, iu)) {
        aigov_errorf(cx->err, cx->errlen,
                "'stream_options.include_usage' must be true or false, not %s",
                type_name(cx, iu));
        return SHAPE_BAD;
    }
    rq->so_state_ = AIGOV_SO_FALSE;
    rq->so_at_ = cx->n[iu].at;
    rq->so_end_ = cx->n[iu].end;
    return SHAPE_OK;
}

/*
 * ---- shape checks -------------------------------------------------------
 *
 * These only check that the fields an endpoint is known by have the types
 * it takes, so that a malformed request is refused here with a sentence
 * naming the field. Which strings are text is decided afterwards, for the
 * whole body at once, by the text walker below.
 */

/* content: string, null, or an array of parts, each an object with a
 * string "type"; "text" parts need a string "text". */
static int
check_openai_content(parse_ctx_t *cx, size_t mi, uint32_t c)
{
    size_t   pi;
    uint32_t part;

    if (IS_NULL(cx, c) || IS(cx, c, T_STR))
        return SHAPE_OK;
    if (!IS(cx, c, T_ARR)) {
        aigov_errorf(cx->err, cx->errlen,
                "'messages[%zu].content' must be a string or an array of "
                "content parts, not %s", mi, type_name(cx, c));
        return SHAPE_BAD;
    }
    for (pi = 0, part = FIRST(cx, c); part < END(cx, c);
         pi++, part = NEXT(cx, part))
    {
        uint32_t type;

        if (!IS(cx, part, T_OBJ)) {
            aigov_errorf(cx->err, cx->errlen,
                    "'messages[%zu].content[%zu]' must be an object", mi, pi);
            return SHAPE_BAD;
        }
        type = obj_get(cx, part, "type");
        if (!IS(cx, type, T_STR)) {
            aigov_errorf(cx->err, cx->errlen,
                    "'messages[%zu].content[%zu].type' must be a string", mi, pi);
            return SHAPE_BAD;
        }
        if (str_is(cx, type, "text") && !IS(cx, obj_get(cx, part, "text"), T_STR)) {
            aigov_errorf(cx->err, cx->errlen,
                    "'messages[%zu].content[%zu].text' must be a string", mi, pi);
            return SHAPE_BAD;
        }
    }
    return SHAPE_OK;
}

static int
check_openai_call(parse_ctx_t *cx, size_t mi, const char *what, uint32_t fn)
{
    uint32_t args;

    if (!IS(cx, fn, T_OBJ)) {
        aigov_errorf(cx->err, cx->errlen, "'messages[%zu].%s' must be an object",
                mi, what);
        return SHAPE_BAD;
    }
    args = obj_get(cx, fn, "arguments");
    if (args != NONE && !IS_NULL(cx, args) && !IS(cx, args, T_STR)) {
        aigov_errorf(cx->err, cx->errlen,
                "'messages[%zu].%s.arguments' must be a string", mi, what);
        return SHAPE_BAD;
    }
    return SHAPE_OK;
}

static int
check_chat(parse_ctx_t *cx)
{
    uint32_t msgs = obj_get(cx, 0, "messages"), m;
    size_t   mi;
    int      rc;

    if (msgs == NONE) {
        aigov_errorf(cx->err, cx->errlen, "'messages' is required");
        return SHAPE_BAD;
    }
    if (!IS(cx, msgs, T_ARR)) {
        aigov_errorf(cx->err, cx->errlen, "'messages' must be an array, not %s",
                type_name(cx, msgs));
        return SHAPE_BAD;
    }
    for (mi = 0, m = FIRST(cx, msgs); m < END(cx, msgs); mi++, m = NEXT(cx, m)) {
        uint32_t content, calls, fc;

        if (!IS(cx, m, T_OBJ)) {
            aigov_errorf(cx->err, cx->errlen, "'messages[%zu]' must be an object", mi);
            return SHAPE_BAD;
        }
        if (!IS(cx, obj_get(cx, m, "role"), T_STR)) {
            aigov_errorf(cx->err, cx->errlen,
                    "'messages[%zu].role' must be a string", mi);
            return SHAPE_BAD;
        }
        content = obj_get(cx, m, "content");
        calls = obj_get(cx, m, "tool_calls");
        fc = obj_get(cx, m, "function_call");
        if (content != NONE
            && (rc = check_openai_content(cx, mi, content)) != SHAPE_OK)
        {
            return rc;
        }
        if (calls != NONE && !IS_NULL(cx, calls)) {
            size_t   ci;
            uint32_t call, fn;

            if (!IS(cx, calls, T_ARR)) {
                aigov_errorf(cx->err, cx->errlen,
                        "'messages[%zu].tool_calls' must be an array", mi);
                return SHAPE_BAD;
            }
            for (ci = 0, call = FIRST(cx, calls); call < END(cx, calls);
                 ci++, call = NEXT(cx, call))
            {
                if (!IS(cx, call, T_OBJ)) {
                    aigov_errorf(cx->err, cx->errlen,
                            "'messages[%zu].tool_calls[%zu]' must be an object",
                            mi, ci);
                    return SHAPE_BAD;
                }
                fn = obj_get(cx, call, "function");
                if (fn != NONE && (rc = check_openai_call(cx, mi,
                                        "tool_calls[].function", fn)) != SHAPE_OK)
                {
                    return rc;
                }
            }
        }
        if (fc != NONE && !IS_NULL(cx, fc)
            && (rc = check_openai_call(cx, mi, "function_call", fc)) != SHAPE_OK)
        {
            return rc;
        }
    }
    return SHAPE_OK;
}

/* A string, or an array of strings, or token ids (integers, or arrays of
 * integers): text the gateway cannot read, counted in rq->token_ids. */
static int
check_prompt_like(parse_ctx_t *cx, const char *key)
{
    uint32_t  v = obj_get(cx, 0, key), item;
    size_t    i;
    long long ids = 0;

    if (v == NONE) {
        aigov_errorf(cx->err, cx->errlen, "'%s' is required", key);
        return SHAPE_BAD;
    }
    if (IS(cx, v, T_STR))
        return SHAPE_OK;
    if (!IS(cx, v, T_ARR)) {
        aigov_errorf(cx->err, cx->errlen,
                "'%s' must be a string or an array of strings or token ids, "
                "not %s", key, type_name(cx, v));
        return SHAPE_BAD;
    }
    for (i = 0, item = FIRST(cx, v); item < END(cx, v); i++, item = NEXT(cx, item)) {
        if (IS(cx, item, T_STR)) {
            continue;
        } else if (IS(cx, item, T_INT)) {
            ids++;
        } else if (IS(cx, item, T_ARR)) {
            size_t   j;
            uint32_t tok;

            for (j = 0, tok = FIRST(cx, item); tok < END(cx, item);
                 j++, tok = NEXT(cx, tok))
            {
                if (!IS(cx, tok, T_INT)) {
                    aigov_errorf(cx->err, cx->errlen,
                            "'%s[%zu][%zu]' must be a token id (an integer)",
                            key, i, j);
                    return SHAPE_BAD;
                }
                ids++;
            }
        } else {
            aigov_errorf(cx->err, cx->errlen,
                    "'%s[%zu]' must be a string or a token id, not %s",
                    key, i, type_name(cx, item));
            return SHAPE_BAD;
        }
    }
    /* The model reads token ids as it reads text, but no filter can read
     * them: the gateway refuses them where request filters apply. Limits
     * count each as one token (and one character, the least it stands
     * for). */
    if (ids > 0) {
        cx->rq->token_ids = ids;
        cx->rq->prompt_chars += (size_t) ids;
        cx->rq->unread = "token ids, which no filter can read";
        cx->rq->unread_kind = "token_ids";
    }
    return SHAPE_OK;
}

/* Anthropic content: a string or blocks, each an object with a string
 * "type"; "text" blocks need a string "text"; a tool_result's content is
 * checked the same way, one level down. where names the field for errors,
 * e.g. "messages[2].content". */
static int
check_anthropic_blocks(parse_ctx_t *cx, const char *where, uint32_t c, int nested)
{
    size_t   bi;
    uint32_t b;
    int      rc;

    if (IS(cx, c, T_STR))
        return SHAPE_OK;
    if (!IS(cx, c, T_ARR)) {
        aigov_errorf(cx->err, cx->errlen,
                "'%s' must be a string or an array of content blocks, not %s",
                where, type_name(cx, c));
        return SHAPE_BAD;
    }
    for (bi = 0, b = FIRST(cx, c); b < END(cx, c); bi++, b = NEXT(cx, b)) {
        uint32_t type;

        if (!IS(cx, b, T_OBJ)) {
            aigov_errorf(cx->err, cx->errlen, "'%s[%zu]' must be an object", where, bi);
            return SHAPE_BAD;
        }
        type = obj_get(cx, b, "type");
        if (!IS(cx, type, T_STR)) {
            aigov_errorf(cx->err, cx->errlen, "'%s[%zu].type' must be a string",
                    where, bi);
            return SHAPE_BAD;
        }
        if (str_is(cx, type, "text")) {
            if (!IS(cx, obj_get(cx, b, "text"), T_STR)) {
                aigov_errorf(cx->err, cx->errlen, "'%s[%zu].text' must be a string",
                        where, bi);
                return SHAPE_BAD;
            }
        } else if (str_is(cx, type, "tool_result") && !nested) {
            uint32_t inner = obj_get(cx, b, "content");
            char     sub[96];

            if (inner == NONE || IS_NULL(cx, inner))
                continue;
            snprintf(sub, sizeof(sub), "%s[%zu].content", where, bi);
            if ((rc = check_anthropic_blocks(cx, sub, inner, 1)) != SHAPE_OK)
                return rc;
        }
    }
    return SHAPE_OK;
}

static int
check_messages(parse_ctx_t *cx)
{
    uint32_t sys = obj_get(cx, 0, "system");
    uint32_t msgs = obj_get(cx, 0, "messages"), m;
    size_t   mi;
    int      rc;

    if (sys != NONE && !IS_NULL(cx, sys)
        && (rc = check_anthropic_blocks(cx, "system", sys, 1)) != SHAPE_OK)
    {
        return rc;
    }
    if (msgs == NONE) {
        aigov_errorf(cx->err, cx->errlen, "'messages' is required");
        return SHAPE_BAD;
    }
    if (!IS(cx, msgs, T_ARR)) {
        aigov_errorf(cx->err, cx->errlen, "'messages' must be an array, not %s",
                type_name(cx, msgs));
        return SHAPE_BAD;
    }
    for (mi = 0, m = FIRST(cx, msgs); m < END(cx, msgs); mi++, m = NEXT(cx, m)) {
        uint32_t content;
        char     where[48];

        if (!IS(cx, m, T_OBJ)) {
            aigov_errorf(cx->err, cx->errlen, "'messages[%zu]' must be an object", mi);
            return SHAPE_BAD;
        }
        if (!IS(cx, obj_get(cx, m, "role"), T_STR)) {
            aigov_errorf(cx->err, cx->errlen,
                    "'messages[%zu].role' must be a string", mi);
            return SHAPE_BAD;
        }
        content = obj_get(cx, m, "content");
        if (content == NONE) {
            aigov_errorf(cx->err, cx->errlen,
                    "'messages[%zu].content' is required", mi);
            return SHAPE_BAD;
        }
        snprintf(where, sizeof(where), "messages[%zu].content", mi);
        if ((rc = check_anthropic_blocks(cx, where, content, 0)) != SHAPE_OK)
            return rc;
    }
    return SHAPE_OK;
}

/* Responses: "input" a string or an array of items (objects); both it and
 * "instructions" may be absent (a stored prompt or previous_response_id
 * supplies them). "background" is noted: such an answer is written after
 * the request ends and fetched by another one. */
static int
check_responses(parse_ctx_t *cx)
{
    uint32_t in = obj_get(cx, 0, "input"), ins = obj_get(cx, 0, "instructions");
    uint32_t bg = obj_get(cx, 0, "background");
    uint32_t it;
    size_t   i;

    if (bg != NONE && !IS_NULL(cx, bg) && !IS(cx, bg, T_TRUE)
        && !IS(cx, bg, T_FALSE))
    {
        aigov_errorf(cx->err, cx->errlen,
                "'background' must be true or false, not %s", type_name(cx, bg));
        return SHAPE_BAD;
    }
    cx->rq->background = bg != NONE && IS(cx, bg, T_TRUE);

    if (ins != NONE && !IS_NULL(cx, ins) && !IS(cx, ins, T_STR)
        && !IS(cx, ins, T_ARR))
    {
        aigov_errorf(cx->err, cx->errlen,
                "'instructions' must be a string, not %s", type_name(cx, ins));
        return SHAPE_BAD;
    }
    if (in == NONE || IS_NULL(cx, in) || IS(cx, in, T_STR))
        return SHAPE_OK;
    if (!IS(cx, in, T_ARR)) {
        aigov_errorf(cx->err, cx->errlen,
                "'input' must be a string or an array of items, not %s",
                type_name(cx, in));
        return SHAPE_BAD;
    }
    for (i = 0, it = FIRST(cx, in); it < END(cx, in); i++, it = NEXT(cx, it)) {
        if (!IS(cx, it, T_OBJ)) {
            aigov_errorf(cx->err, cx->errlen, "'input[%zu]' must be an object", i);
            return SHAPE_BAD;
        }
    }
    return SHAPE_OK;
}

/*
 * ---- texts: inspect by default -------------------------------------------
 *
 * Every string value of a known kind's body is text (filtered, counted,
 * redacted in place, kept by audit content) unless it is a control field:
 * a value the API reads as a name of something of its own (model, role,
 * type, ids, enum values, media types) or binary media. The list is kept
 * short and written down in request.h; a field not in it, including one a
 * provider adds next year, is inspected. A control key exempts only string
 * values (and strings directly in an array under it): an object or array
 * of objects under any key is walked, so nothing can hide under a control
 * name. Keys are the API's field names and not text, except where the
 * client chose them and the model reads them: property names of a JSON
 * Schema and every key of a free-form object (metadata, tool inputs, the
 * maps of env and attributes) are texts, written back masked like values.
 */

enum {
    K_TEXT = 0,     /* text, labelled by where it is */
    K_CTL,          /* control: string values exempt */
    K_DATA,         /* "data": base64 of its media_type (a file of text is
                       read), text in a {"type":"text"} source */
    K_URL,          /* a URL: a "data:" URL is a file (of text: read; else
                       media), any other is text */
    K_MEDIA,        /* file_data: a file, read when it is text */
    K_FILE_ID,      /* file_id: control; in a media part or block, media */
    K_SCHEMA,       /* a JSON Schema: parameters, input_schema,
                       output_schema, schema */
    K_FREE,         /* free-form: every key and string text (metadata,
                       variables, env, attributes, input_examples) */
    K_HEADERS,      /* free-form but for the values of credential headers
                       (an MCP tool's headers: see walk_headers) */
    K_INPUT,        /* "input": free-form when an object (tool_use.input) */
    K_ARGS,         /* "arguments": JSON text when a string (a function
                       call's), free-form when an object (a Responses
                       tool_search_call's: the model wrote every key) */
    K_CONTENT,      /* a message's content */
    K_NAME,         /* a message's name */
    K_REFUSAL,
    K_CALLS,        /* tool_calls, function_call */
    K_THINKING,     /* reasoning_content, reasoning, thinking */
    /* meaningful at the root only (elsewhere: K_TEXT) */
    K_SYSTEM, K_INSTRUCTIONS, K_PROMPT, K_SUFFIX, K_TOOLS, K_FORMAT,
    K_PREDICTION, K_STOP, K_META, K_MESSAGES
};

typedef struct {
    const char   *name;
    unsigned char len;
    unsigned char cls;
} keycls_t;

#define KEY(name, cls)  { name, sizeof(name) - 1, cls }

/* Sorted by strcmp, for bsearch. Besides these, every key ending in "_id"
 * or "_ids" is control (tool_call_id, call_id, tool_use_id,
 * previous_response_id, vector_store_ids, ...; file_id is here, control
 * too, but media in a media part or block). */
static const keycls_t key_table[] = {
    KEY("arguments",          K_ARGS),
    KEY("attributes",         K_FREE),
    KEY("authorization",      K_CTL),   /* an MCP tool's OAuth token */
    KEY("authorization_token", K_CTL),  /* an Anthropic MCP server's */
    KEY("container",          K_CTL),
    KEY("content",            K_CONTENT),
    KEY("data",               K_DATA),
    KEY("detail",             K_CTL),
    KEY("effort",             K_CTL),
    KEY("encoding_format",    K_CTL),
    KEY("encrypted_content",  K_CTL),
    KEY("env",                K_FREE),
    KEY("file_data",          K_MEDIA),
    KEY("file_id",            K_FILE_ID),
    KEY("file_url",           K_URL),
    KEY("format",             K_CTL),
    KEY("function_call",      K_CALLS),
    KEY("functions",          K_TOOLS),
    KEY("headers",            K_HEADERS),
    KEY("id",                 K_CTL),
    KEY("image_url",          K_URL),
    KEY("include",            K_CTL),
    KEY("input",              K_INPUT),
    KEY("input_examples",     K_FREE),
    KEY("input_schema",       K_SCHEMA),
    KEY("instructions",       K_INSTRUCTIONS),
    KEY("max_completion_tokens", K_CTL),
    KEY("max_output_tokens",  K_CTL),
    KEY("max_tokens",         K_CTL),
    KEY("mcp_servers",        K_TOOLS),
    KEY("media_type",         K_CTL),
    KEY("messages",           K_MESSAGES),
    KEY("metadata",           K_FREE),
    KEY("mime_type",          K_CTL),
    KEY("modalities",         K_CTL),
    KEY("model",              K_CTL),
    KEY("name",               K_NAME),
    KEY("object",             K_CTL),
    KEY("output_schema",      K_SCHEMA),
    KEY("parameters",         K_SCHEMA),
    KEY("prediction",         K_PREDICTION),
    KEY("prompt",             K_PROMPT),
    KEY("prompt_cache_key",   K_META),
    KEY("reasoning",          K_THINKING),
    KEY("reasoning_content",  K_THINKING),
    KEY("reasoning_effort",   K_CTL),
    KEY("refusal",            K_REFUSAL),
    KEY("response_format",    K_FORMAT),
    KEY("role",               K_CTL),
    KEY("safety_identifier",  K_META),
    KEY("schema",             K_SCHEMA),
    KEY("search_context_size", K_CTL),
    KEY("service_tier",       K_CTL),
    KEY("signature",          K_CTL),
    KEY("status",             K_CTL),
    KEY("stop",               K_STOP),
    KEY("stop_sequences",     K_STOP),
    KEY("suffix",             K_SUFFIX),
    KEY("summary",            K_CTL),
    KEY("system",             K_SYSTEM),
    KEY("text",               K_FORMAT),
    KEY("thinking",           K_THINKING),
    KEY("tool_calls",         K_CALLS),
    KEY("tool_choice",        K_CTL),
    KEY("tools",              K_TOOLS),
    KEY("truncation",         K_CTL),
    KEY("ttl",                K_CTL),
    KEY("type",               K_CTL),
    KEY("url",                K_URL),
    KEY("user",               K_META),
    KEY("variables",          K_FREE),
    KEY("verbosity",          K_CTL),
    KEY("version",            K_CTL),
    KEY("voice",              K_CTL),
};

/* Inside a JSON Schema: keywords whose strings are types or identifiers,
 * maps whose keys are names the schema defines and whose values are
 * schemas, keywords whose values are data (enum, const, default,
 * examples: every string and key is text) and the other keywords of JSON
 * Schema (2020-12 and draft 7, with OpenAPI's nullable and example),
 * whose strings are text (description, title, pattern, required, $ref,
 * ...). A key that is none of these is no keyword: a name the client
 * chose that the model reads (a provider may show the schema as it is),
 * so it is a text and its value is read as free-form. */
enum { S_SCHEMA = 0, S_CTL, S_MAP, S_DATA, S_OTHER };

static const keycls_t schema_table[] = {
    KEY("$anchor",            S_SCHEMA),
    KEY("$comment",           S_SCHEMA),
    KEY("$defs",              S_MAP),
    KEY("$dynamicAnchor",     S_SCHEMA),
    KEY("$dynamicRef",        S_SCHEMA),
    KEY("$id",                S_CTL),
    KEY("$ref",               S_SCHEMA),
    KEY("$schema",            S_CTL),
    KEY("$vocabulary",        S_SCHEMA),
    KEY("additionalItems",    S_SCHEMA),
    KEY("additionalProperties", S_SCHEMA),
    KEY("allOf",              S_SCHEMA),
    KEY("anyOf",              S_SCHEMA),
    KEY("const",              S_DATA),
    KEY("contains",           S_SCHEMA),
    KEY("contentEncoding",    S_CTL),
    KEY("contentMediaType",   S_CTL),
    KEY("contentSchema",      S_SCHEMA),
    KEY("default",            S_DATA),
    KEY("definitions",        S_MAP),
    KEY("dependencies",       S_MAP),
    KEY("dependentRequired",  S_MAP),
    KEY("dependentSchemas",   S_MAP),
    KEY("deprecated",         S_SCHEMA),
    KEY("description",        S_SCHEMA),
    KEY("else",               S_SCHEMA),
    KEY("enum",               S_DATA),
    KEY("example",            S_DATA),
    KEY("examples",           S_DATA),
    KEY("exclusiveMaximum",   S_SCHEMA),
    KEY("exclusiveMinimum",   S_SCHEMA),
    KEY("format",             S_CTL),
    KEY("id",                 S_CTL),
    KEY("if",                 S_SCHEMA),
    KEY("items",              S_SCHEMA),
    KEY("maxContains",        S_SCHEMA),
    KEY("maxItems",           S_SCHEMA),
    KEY("maxLength",          S_SCHEMA),
    KEY("maxProperties",      S_SCHEMA),
    KEY("maximum",            S_SCHEMA),
    KEY("minContains",        S_SCHEMA),
    KEY("minItems",           S_SCHEMA),
    KEY("minLength",          S_SCHEMA),
    KEY("minProperties",      S_SCHEMA),
    KEY("minimum",            S_SCHEMA),
    KEY("multipleOf",         S_SCHEMA),
    KEY("not",                S_SCHEMA),
    KEY("nullable",           S_SCHEMA),
    KEY("oneOf",              S_SCHEMA),
    KEY("pattern",            S_SCHEMA),
    KEY("patternProperties",  S_MAP),
    KEY("prefixItems",        S_SCHEMA),
    KEY("properties",         S_MAP),
    KEY("propertyNames",      S_SCHEMA),
    KEY("readOnly",           S_SCHEMA),
    KEY("required",           S_SCHEMA),
    KEY("then",               S_SCHEMA),
    KEY("title",              S_SCHEMA),
    KEY("type",               S_CTL),
    KEY("unevaluatedItems",   S_SCHEMA),
    KEY("unevaluatedProperties", S_SCHEMA),
    KEY("uniqueItems",        S_SCHEMA),
    KEY("writeOnly",          S_SCHEMA),
};

/* strcmp's order, inline: keys are short, and most steps of the search
 * end at the first byte. */
static int
key_cmp(const char *a, size_t al, const keycls_t *e)
{
    size_t i, m = al < e->len ? al : e->len;

    for (i = 0; i < m; i++) {
        if (a[i] != e->name[i])
            return (unsigned char) a[i] - (unsigned char) e->name[i];
    }
    return (al > e->len) - (al < e->len);
}

static const keycls_t *
key_find(const char *a, size_t al, const keycls_t *table, size_t n)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int    c = key_cmp(a, al, &table[mid]);

        if (c == 0)
            return &table[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* String node v unescaped: its bytes in the body when it has no escape,
 * else in buf, or in a malloc'd copy (*heap, for the caller to free) when
 * it does not fit. NULL out of memory. */
static const char *
unescaped(const parse_ctx_t *cx, uint32_t v, char *buf, size_t bufsz,
          size_t *len, char **heap)
{
    const node_t *nd = &cx->n[v];
    size_t        rl = nd->end - nd->at - 2;
    char         *d = buf;

    *heap = NULL;
    if (!(nd->type & F_ESC)) {
        *len = rl;
        return (const char *) cx->b + nd->at + 1;
    }
    if (rl > bufsz && (d = *heap = malloc(rl)) == NULL)
        return NULL;
    *len = aigov_json_unescape(cx->b + nd->at + 1, rl, d);
    return d;
}

static int
ends_with(const char *s, size_t len, const char *suffix)
{
    size_t sl = strlen(suffix);

    return len > sl && memcmp(s + len - sl, suffix, sl) == 0;
}

/* A key's class in table (n entries), def when not there; with ids, a key
 * ending in "_id" or "_ids" is K_CTL. Escaped keys are compared
 * unescaped. -1 out of memory. */
static int
key_lookup(const parse_ctx_t *cx, uint32_t k, const keycls_t *table, size_t n,
           int def, int ids)
{
    char            buf[64], *heap;
    const char     *key;
    size_t          len;
    const keycls_t *hit;
    int             cls = def;

    if ((key = unescaped(cx, k, buf, sizeof(buf), &len, &heap)) == NULL)
        return -1;
    hit = len > 24 ? NULL : key_find(key, len, table, n);
    if (hit != NULL)
        cls = hit->cls;
    else if (ids && len > 3 && (key[len - 1] == 'd' || key[len - 1] == 's')
             && (ends_with(key, len, "_id") || ends_with(key, len, "_ids")))
        cls = K_CTL;
    free(heap);
    return cls;
}

/* Whether string node v ends with the C string suffix; -1 out of memory. */
static int
str_ends(const parse_ctx_t *cx, uint32_t v, const char *suffix)
{
    char        buf[64], *heap;
    size_t      len;
    const char *s = unescaped(cx, v, buf, sizeof(buf), &len, &heap);
    int         r;

    if (s == NULL)
        return -1;
    r = ends_with(s, len, suffix);
    free(heap);
    return r;
}

/* The label a typed object (content block, input item) gives its texts,
 * or NULL to keep the one it is in. */
static const char *
type_label(const parse_ctx_t *cx, uint32_t type)
{
    if (str_is(cx, type, "tool_use") || str_ends(cx, type, "_tool_use") == 1
        || str_ends(cx, type, "_call") == 1)
    {
        return "tool_call";         /* tool_use, function_call, *_call */
    }
    if (str_is(cx, type, "tool_result") || str_ends(cx, type, "_tool_result") == 1
        || str_ends(cx, type, "_output") == 1)
    {
        return "tool";              /* tool_result, function_call_output */
    }
    if (str_is(cx, type, "thinking") || str_is(cx, type, "reasoning"))
        return "thinking";
    if (str_is(cx, type, "document") || str_is(cx, type, "search_result"))
        return "document";
    if (str_is(cx, type, "refusal"))
        return "refusal";
    return NULL;
}

/* The character at *pp of a string literal's content that ends at e, its
 * escape decoded (one above U+007F as 0x80: no ASCII), and *pp past it;
 * -1 at the end. The scan validated every escape. */
static int
lit_next(const unsigned char **pp, const unsigned char *e)
{
    const unsigned char *p = *pp;
    int c;

    if (p >= e)
        return -1;
    if (*p != '\\') {
        c = *p++;
    } else if (p[1] == 'u') {
        size_t ul;
        int    cp;

        (void) aigov_json_u_escape(p, (size_t) (e - p), &ul, &cp);
        c = cp < 0x80 ? cp : 0x80;
        p += ul;
    } else {
        switch (p[1]) {
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
        default:  c = p[1]; break;      /* " \\ / */
        }
        p += 2;
    }
    *pp = p;
    return c;
}

/* Whether string node v begins with "data:" (a data URL: inline media),
 * its escapes decoded, in any case (a URL's scheme is); only the first
 * five characters are looked at, so a megabyte of base64 costs nothing. */
static int
is_data_url(const parse_ctx_t *cx, uint32_t v)
{
    static const char lit[] = "data:";
    const unsigned char *p = cx->b + cx->n[v].at + 1, *e = cx->b + cx->n[v].end - 1;
    size_t i;

    for (i = 0; i < 5; i++) {
        int c = lit_next(&p, e);

        if (c < 0 || aigov_ascii_lower((unsigned) c) != (unsigned char) lit[i])
            return 0;
    }
    return 1;
}

/*
 * ---- inline files ---------------------------------------------------------
 *
 * A file sent inline is read when it is text: the provider extracts a
 * text file's text for the model (OpenAI's input_file takes .txt, .md,
 * code, JSON, CSV...), so its text is text the filters read. Its bytes
 * are decoded into the strings area (base64 is longer than what it
 * encodes, so the literal's room there is enough), and set_text writes
 * the redacted text back as the same data URL, in base64.
 */

/* Whether s[0..n) ends with the lower-case suffix, in any ASCII case,
 * after at least one byte. */
static int
ascii_iends(const char *s, size_t n, const char *suffix)
{
    size_t sl = strlen(suffix);

    return n > sl && aigov_ascii_ieq(s + n - sl, sl, suffix);
}

/* Media types of text: text/ anything, none at all (a data: URL without
 * one is text/plain, RFC 2397), and the application/ types of text files
 * and source code that providers take as files. The list is in request.h. */
static int
text_media_type(const char *t, size_t n)
{
    static const char *const app[] = {
        "json", "x-ndjson", "xml", "yaml", "x-yaml", "toml", "javascript",
        "x-javascript", "typescript", "x-typescript", "x-sh", "sql",
        "x-tex", "rtf", NULL
    };
    size_t i;

    while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t'))
        n--;
    while (n > 0 && (*t == ' ' || *t == '\t')) {
        t++;
        n--;
    }
    if (n == 0)
        return 1;
    if (n > 5 && aigov_ascii_ieq(t, 5, "text/"))
        return 1;
    if (n <= 12 || !aigov_ascii_ieq(t, 12, "application/"))
        return 0;
    for (i = 0; app[i] != NULL; i++) {
        if (aigov_ascii_ieq(t + 12, n - 12, app[i]))
            return 1;
    }
    return ascii_iends(t, n, "+json") || ascii_iends(t, n, "+xml")
           || ascii_iends(t, n, "+yaml");
}

/* Whether s[0..n) is UTF-8 that may end inside a character (the start of
 * a longer text), without NUL. */
static int
utf8_prefix_valid(const char *s, size_t n)
{
    size_t cut = n, back = 0;

    /* leave out a character cut at the end: at most 3 bytes of it */
    while (back < 3 && cut > 0 && ((unsigned char) s[cut - 1] & 0xC0) == 0x80) {
        cut--;
        back++;
    }
    if (cut > 0 && (unsigned char) s[cut - 1] >= 0xC0)
        cut--;
    return memchr(s, '\0', n) == NULL && utf8_valid(s, cut);
}

/* The raw literal content raw[0..rl) unescaped into out (room cap),
 * stopping before an escape or byte that would not fit whole: the start
 * of a long string, cheaply. Its length; *whole says whether that is all
 * of it. */
static size_t
unescape_prefix(const unsigned char *raw, size_t rl, char *out, size_t cap,
                int *whole)
{
    size_t i = 0, take;

    while (i < rl) {
        take = 1;
        if (raw[i] == '\\') {
            size_t ul;
            int    cp;

            if (raw[i + 1] != 'u')
                take = 2;
            else if (aigov_json_u_escape(raw + i, rl - i, &ul, &cp) == AIGOV_U_OK)
                take = ul;
            else
                break;              /* the scan let none such through */
        }
        /* an escape yields at most as many bytes as it takes */
        if (i + take > cap)
            break;
        i += take;
    }
    *whole = i == rl;
    return aigov_json_unescape(raw, i, out);
}

enum { FILE_MEDIA = 0, FILE_TEXT, FILE_UNREAD };

/*
 * String node v as an inline file: a data: URL ("data:[type][;...]
 * [;base64],payload"), or, when the caller knows more, plain base64 of
 * media type hint (hintlen bytes) or, with sniff, of any type. sniff (for
 * file_data) reads a file of any declared type as text when its bytes are
 * UTF-8: a provider may go by the file's name, not by the type given.
 * FILE_TEXT: added as a text; FILE_MEDIA: binary, not a text; FILE_UNREAD:
 * text that cannot be read (not base64, not UTF-8), not a text either.
 * *rc is SHAPE_OK unless the request cannot be read on.
 */
static int
read_file(parse_ctx_t *cx, const char *label, uint32_t v, const char *hint,
          size_t hintlen, int sniff, int *rc)
{
    const node_t        *nd = &cx->n[v];
    const unsigned char *raw = cx->b + nd->at + 1;
    aigov_request_t     *rq = cx->rq;
    aigov_text_t        *t;
    size_t               rl = nd->end - nd->at - 2, hl, l, pre = 0;
    char                 head[1024], *u;
    const char          *comma;
    int                  text, b64, whole;
    long                 dl;

    *rc = SHAPE_OK;
    /* The header (and the start of the payload) from the first kilobyte:
     * a megabyte of PDF is not copied to learn that it is a PDF. */
    hl = unescape_prefix(raw, rl, head, sizeof(head), &whole);
    if (hl >= 5 && aigov_ascii_ieq(head, 5, "data:")) {
        const char *type = head + 5, *semi;

        comma = memchr(head, ',', hl);
        if (comma == NULL) {
            /* no data URL (media, as it says nothing), or a header of more
             * than a kilobyte: of a text type, that is not read */
            semi = memchr(type, ';', hl - 5);
            if (whole)
                return FILE_MEDIA;
            return text_media_type(type, (size_t) ((semi ? semi : head + hl) - type))
                   ? FILE_UNREAD : FILE_MEDIA;
        }
        pre = (size_t) (comma - head) + 1;
        semi = memchr(type, ';', (size_t) (comma - type));
        text = text_media_type(type, (size_t) ((semi ? semi : comma) - type));
        /* ";base64" ends the header (RFC 2397); else the payload is
         * percent-encoded, which is not read */
        b64 = pre - 1 >= 12 && aigov_ascii_ieq(head + pre - 8, 7, ";base64");
        if (!b64)
            return text ? FILE_UNREAD : FILE_MEDIA;
    } else if (hint != NULL || sniff) {
        text = hint != NULL && text_media_type(hint, hintlen);
    } else {
        return FILE_MEDIA;
    }
    if (!text) {
        char bytes[sizeof(head)];

        if (!sniff)
            return FILE_MEDIA;
        /* Declared binary: its first bytes tell a PDF or an image (bytes
         * that are no UTF-8) from text. */
        dl = aigov_b64_decode(head + pre, hl - pre, (uint8_t *) bytes, sizeof(bytes),
                              whole ? AIGOV_B64_LAX : AIGOV_B64_LAX | AIGOV_B64_PARTIAL);
        if (dl < 0 || !utf8_prefix_valid(bytes, (size_t) dl))
            return FILE_MEDIA;
    }

    /* The whole of it, unescaped into the strings area and decoded there,
     * taken only if it is text. */
    if (rl + 1 > (size_t) (cx->send - cx->sp)) {
        *rc = SHAPE_NOMEM;
        return FILE_MEDIA;
    }
    u = cx->sp;
    l = aigov_json_unescape(raw, rl, u);
    dl = aigov_b64_decode(u + pre, l - pre, (uint8_t *) u + pre, (size_t) -1, AIGOV_B64_LAX);
    if (dl < 0 || memchr(u + pre, '\0', (size_t) dl) != NULL
        || !utf8_valid(u + pre, (size_t) dl))
    {
        return text ? FILE_UNREAD : FILE_MEDIA;
    }

    if (rq->ntexts >= AIGOV_REQ_MAX_TEXTS) {
        aigov_errorf(cx->err, cx->errlen,
                "the request has more than %d texts", AIGOV_REQ_MAX_TEXTS);
        *rc = SHAPE_BAD;
        return FILE_MEDIA;
    }
    if (rq->ntexts >= cx->tcap) {
        *rc = SHAPE_NOMEM;
        return FILE_MEDIA;
    }
    u[pre + (size_t) dl] = '\0';
    cx->sp += pre + (size_t) dl + 1;
    t = &rq->texts[rq->ntexts++];
    memset(t, 0, sizeof(*t));
    t->role = label;
    t->text = u + pre;
    t->len = (size_t) dl;
    t->at = nd->at;
    t->end = nd->end;
    t->pre = u;
    t->prelen = pre;
    rq->prompt_chars += utf8_chars(t->text, t->len);
    return FILE_TEXT;
}

/* A file that is text the gateway cannot read: the request says so. */
static void
note_unread_file(parse_ctx_t *cx)
{
    if (cx->rq->unread == NULL) {
        cx->rq->unread = "a text file that is not UTF-8 in base64";
        cx->rq->unread_kind = "text_file";
    }
}

/*
 * ---- binary media -----------------------------------------------------------
 *
 * What no filter reads, found where it is read: an inline file that is
 * not text (read_file's FILE_MEDIA), and an image, audio or file the
 * model gets by URL or by file id. Its kind comes from its media type
 * where it has one (a data: URL's, an Anthropic source's media_type:
 * image/ an image, audio/ audio, any other a file), else from the typed
 * object it is in: a content part, input item or block whose type names
 * media (media_type_kind below). An object without a type (chat's
 * image_url, input_audio and file objects) or an Anthropic source
 * ("base64", "url", "file") directly under such an object is of its kind
 * too. Only those objects' URLs and file ids are media: any other URL is
 * text (a link in a citation, a page a tool opened).
 */

/* The kind of media type t (n bytes) of a file that is not text. */
static unsigned
media_of_type(const char *t, size_t n)
{
    while (n > 0 && (*t == ' ' || *t == '\t')) {
        t++;
        n--;
    }
    if (n >= 6 && aigov_ascii_ieq(t, 6, "image/"))
        return AIGOV_MEDIA_IMAGE;
    if (n >= 6 && aigov_ascii_ieq(t, 6, "audio/"))
        return AIGOV_MEDIA_AUDIO;
    return AIGOV_MEDIA_FILE;
}

/* The kind of string node v, a data: URL (is_data_url), by its type. */
static unsigned
data_url_media(const parse_ctx_t *cx, uint32_t v)
{
    const unsigned char *p = cx->b + cx->n[v].at + 1, *e = cx->b + cx->n[v].end - 1;
    char   t[6];
    size_t n = 0;
    int    c, i;

    for (i = 0; i < 5; i++)
        (void) lit_next(&p, e);         /* "data:" */
    while ((c = lit_next(&p, e)) == ' ' || c == '\t')
        ;
    while (c >= 0 && n < sizeof(t)) {
        t[n++] = (char) c;
        if (n < sizeof(t))
            c = lit_next(&p, e);
    }
    return media_of_type(t, n);
}

/* Whether string node v is not "". */
#define STR_FULL(cx, v)  (IS(cx, v, T_STR) && (cx)->n[v].end - (cx)->n[v].at > 2)

/* The media kind of a typed object (type: its string node) directly under
 * an object of kind in (0: none): chat's image_url, input_audio and file
 * parts, the Responses API's input_image, input_audio, input_file and
 * computer_screenshot, Anthropic's image, document and container_upload
 * blocks; an Anthropic source of type base64, url or file is of the kind
 * of its block. Any other type (text, a text or content document source,
 * cache_control's ephemeral) is none. */
static unsigned
media_type_kind(const parse_ctx_t *cx, uint32_t type, unsigned in)
{
    static const struct {
        const char   *name;
        unsigned char len, kind, source;
    } types[] = {
#define MT(name, kind, source)  { name, sizeof(name) - 1, kind, source }
        MT("image_url",           AIGOV_MEDIA_IMAGE, 0),
        MT("input_image",         AIGOV_MEDIA_IMAGE, 0),
        MT("image",               AIGOV_MEDIA_IMAGE, 0),
        MT("computer_screenshot", AIGOV_MEDIA_IMAGE, 0),
        MT("input_audio",         AIGOV_MEDIA_AUDIO, 0),
        MT("file",                AIGOV_MEDIA_FILE,  1),
        MT("input_file",          AIGOV_MEDIA_FILE,  0),
        MT("document",            AIGOV_MEDIA_FILE,  0),
        MT("container_upload",    AIGOV_MEDIA_FILE,  0),
        MT("base64",              0,                 1),
        MT("url",                 0,                 1),
#undef MT
    };
    const node_t *nd = &cx->n[type];
    size_t        rl = nd->end - nd->at - 2, len, i;
    char          buf[128], *heap;
    const char   *t;

    /* the first byte rules out most (text, tool_use, tool_result, ...);
     * a name spelt in escapes takes at most six bytes a character */
    switch (rl > 0 ? cx->b[nd->at + 1] : 0) {
    case 'b': case 'c': case 'd': case 'f': case 'i': case 'u': case '\\':
        break;
    default:
        return 0;
    }
    if (rl > 6 * 19 || (t = unescaped(cx, type, buf, sizeof(buf), &len, &heap)) == NULL)
        return 0;       /* (no heap: it fits buf) */
    for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (types[i].len == len && memcmp(t, types[i].name, len) == 0)
            return types[i].source && in != 0 ? in : types[i].kind;
    }
    return 0;
}

/* The variables of a stored prompt (free-form, Responses "prompt"): a
 * variable that is an input_image or input_file by URL or file id is
 * media the model reads (inline, it is a data: URL, found as any in
 * free-form is). */
static void
variables_media(parse_ctx_t *cx, uint32_t vars)
{
    uint32_t k, var, t, m;
    unsigned kind;

    for (k = FIRST(cx, vars); k < END(cx, vars); k = NEXT(cx, var)) {
        var = k + 1;
        if (!IS(cx, var, T_OBJ) || !IS(cx, (t = obj_get(cx, var, "type")), T_STR))
            continue;
        kind = str_is(cx, t, "input_image") ? AIGOV_MEDIA_IMAGE
               : str_is(cx, t, "input_file") ? AIGOV_MEDIA_FILE : 0;
        for (m = FIRST(cx, var); kind != 0 && m < END(cx, var); m = NEXT(cx, m + 1)) {
            if (STR_FULL(cx, m + 1) && !is_data_url(cx, m + 1)
                && (str_is(cx, m, "file_id") || str_is(cx, m, "image_url")
                    || str_is(cx, m, "file_url")))
                cx->rq->media |= kind;
        }
    }
}

enum { W_NORMAL = 0, W_FREE, W_SCHEMA, W_EXEMPT, W_HEADERS };

/* Where an inline file is: a data: URL under a URL key, base64 "data"
 * beside its media_type, file_data (any type, read when it is text). */
enum { F_URL = 1, F_HINTED, F_ANY };

/* String node val of object obj holds a file (F_*): its text is a text,
 * binary media is not (the request notes its kind: by its media type, else
 * kind, the kind of obj; file_data is a file), and text that cannot be
 * read marks the request. */
static int
walk_file(parse_ctx_t *cx, uint32_t obj, uint32_t val, const char *label,
          int where, unsigned kind)
{
    char        buf[64], *heap = NULL;
    const char *hint = NULL;
    size_t      hintlen = 0;
    uint32_t    mt;
    int         rc;

    if (where == F_HINTED && IS(cx, (mt = obj_get(cx, obj, "media_type")), T_STR)
        && (hint = unescaped(cx, mt, buf, sizeof(buf), &hintlen, &heap)) == NULL)
    {
        return SHAPE_NOMEM;
    }
    switch (read_file(cx, label, val, hint, hintlen, where == F_ANY, &rc)) {
    case FILE_UNREAD:
        note_unread_file(cx);
        break;
    case FILE_MEDIA:
        /* (Anthropic redacted_thinking's "data" is none: no type, and in
         * no media object) */
        if (is_data_url(cx, val))
            kind = data_url_media(cx, val);
        else if (hint != NULL)
            kind = media_of_type(hint, hintlen);
        else if (where == F_ANY && kind == 0)
            kind = AIGOV_MEDIA_FILE;
        cx->rq->media |= kind;
        break;
    default:
        break;
    }
    free(heap);
    return rc;
}

/* An object in normal mode: a message (it has a string "role") labels its
 * members by what they are; a typed block or item by its type; anything
 * else passes the label on. in: the media kind of the object it is the
 * value of (0: none; see "binary media"). */
static int
walk_object(parse_ctx_t *cx, uint32_t v, const char *label, unsigned in)
{
    uint32_t    k, val, role, type;
    const char *msg = NULL, *own = label;
    int         rc, cls, is_text_src = 0;
    unsigned    kind = 0;       /* the media this object is, by its type */

    /* the root is no message and no block; one look at the keys finds
     * both (a key's first byte rules out most) */
    role = type = NONE;
    if (label != NULL) {
        for (k = FIRST(cx, v); k < END(cx, v); k = NEXT(cx, k + 1)) {
            unsigned char c0 = cx->b[cx->n[k].at + 1];

            if ((c0 == 'r' || c0 == '\\') && role == NONE && str_is(cx, k, "role"))
                role = k + 1;
            else if ((c0 == 't' || c0 == '\\') && type == NONE && str_is(cx, k, "type"))
                type = k + 1;
        }
    }
    if (IS(cx, role, T_STR)) {
        if ((msg = str_value(cx, role, NULL)) == NULL)
            return SHAPE_NOMEM;
        own = msg;
    } else if (IS(cx, type, T_STR)) {
        const char *tl = type_label(cx, type);

        if (tl != NULL)
            own = tl;
        is_text_src = str_is(cx, type, "text");
        kind = media_type_kind(cx, type, in);
    } else if (type == NONE) {
        kind = in;
    }
    for (k = FIRST(cx, v); k < END(cx, v); k = NEXT(cx, val)) {
        const char *l = own;
        int         mode = W_NORMAL, file = 0;

        val = k + 1;
        cls = key_lookup(cx, k, key_table,
                         sizeof(key_table) / sizeof(key_table[0]), K_TEXT, 1);
        if (cls < 0)
            return SHAPE_NOMEM;
        switch (cls) {
        case K_CTL:
            mode = W_EXEMPT;
            break;
        case K_FILE_ID:
            mode = W_EXEMPT;
            if (kind != 0 && STR_FULL(cx, val))
                cx->rq->media |= kind;      /* an image or file by its id */
            break;
        case K_DATA:
            /* base64 of its media_type (an image, a PDF), or a file of
             * text; the text of a {"type":"text"} source as it is */
            if (!is_text_src) {
                mode = W_EXEMPT;
                file = IS(cx, val, T_STR) ? F_HINTED : 0;
            }
            break;
        case K_URL:
            if (IS(cx, val, T_STR)) {
                if (is_data_url(cx, val)) {
                    mode = W_EXEMPT;
                    file = F_URL;
                } else if (kind != 0 && STR_FULL(cx, val)) {
                    cx->rq->media |= kind;      /* an image or file by URL */
                }
                l = "url";
            }
            break;
        case K_MEDIA:
            mode = W_EXEMPT;
            file = IS(cx, val, T_STR) ? F_ANY : 0;
            break;
        case K_SCHEMA:
            mode = W_SCHEMA;
            break;
        case K_FREE:
            mode = W_FREE;
            if (IS(cx, val, T_OBJ) && str_is(cx, k, "variables"))
                variables_media(cx, val);
            break;
        case K_HEADERS:
            mode = IS(cx, val, T_OBJ) ? W_HEADERS : W_FREE;
            break;
        case K_INPUT:
        case K_ARGS:
            if (IS(cx, val, T_OBJ))
                mode = W_FREE;
            break;
        case K_NAME:
            if (msg != NULL)
                l = "name";
            break;
        case K_REFUSAL:
            if (msg != NULL)
                l = "refusal";
            break;
        case K_CALLS:
            /* the legacy root "function_call": "auto" is an enum */
            if (IS(cx, val, T_STR) && str_is(cx, k, "function_call"))
                mode = W_EXEMPT;
            else if (msg != NULL)
                l = "tool_call";
            break;
        case K_THINKING:
            if (msg != NULL)
                l = "thinking";
            break;
        default:
            break;
        }
        if (label == NULL) {
            /* the root: the top-level fields name their texts */
            switch (cls) {
            case K_SYSTEM:       l = "system"; break;
            case K_INSTRUCTIONS: l = "instructions"; break;
            case K_PROMPT:       l = "prompt"; break;
            case K_SUFFIX:       l = "suffix"; break;
            case K_TOOLS:        l = "tool_definition"; break;
            case K_PREDICTION:   l = "prediction"; break;
            case K_STOP:         l = "stop"; break;
            case K_META:         l = "metadata"; break;
            case K_FREE:
            case K_HEADERS:      l = "metadata"; break;
            case K_FORMAT:
                /* response_format, and the Responses API's "text" */
                l = cx->rq->endpoint == AIGOV_EP_RESPONSES || !str_is(cx, k, "text")
                    ? "schema" : "other";
                break;
            case K_INPUT:
                /* a Responses string input is the user's message; items
                 * relabel by role or type */
                l = cx->rq->endpoint == AIGOV_EP_EMBEDDINGS ? "input" : "user";
                break;
            default:             l = "other"; break;
            }
        }
        if (file != 0) {
            if ((rc = walk_file(cx, v, val, own != NULL ? own : l, file, kind))
                != SHAPE_OK)
                return rc;
            continue;
        }
        if (cls == K_ARGS && IS(cx, val, T_STR)) {
            /* a tool call's arguments: JSON text, read as it parses */
            if ((rc = add_text(cx, l, val)) != SHAPE_OK)
                return rc;
            cx->rq->texts[cx->rq->ntexts - 1].json = 1;
            continue;
        }
        if (kind != 0 && IS(cx, val, T_OBJ) && (mode == W_NORMAL || mode == W_EXEMPT))
            rc = walk_object(cx, val, l, kind);     /* walk's way, with the kind */
        else
            rc = walk(cx, val, l, mode);
        if (rc != SHAPE_OK)
            return rc;
    }
    return SHAPE_OK;
}

/* An object inside a JSON Schema. */
static int
walk_schema(parse_ctx_t *cx, uint32_t v, const char *label)
{
    uint32_t k, val, p;
    int      rc;

    for (k = FIRST(cx, v); k < END(cx, v); k = NEXT(cx, val)) {
        val = k + 1;
        switch (key_lookup(cx, k, schema_table,
                           sizeof(schema_table) / sizeof(schema_table[0]),
                           S_OTHER, 0))
        {
        case -1:
            return SHAPE_NOMEM;
        case S_CTL:
            rc = walk(cx, val, label, W_EXEMPT);
            break;
        case S_DATA:
            rc = walk(cx, val, label, W_FREE);
            break;
        case S_MAP:
            /* the names it defines are texts (property names); each value
             * is a schema (or, in dependentRequired, a list of names) */
            rc = SHAPE_OK;
            if (!IS(cx, val, T_OBJ)) {
                rc = walk(cx, val, label, W_SCHEMA);
                break;
            }
            for (p = FIRST(cx, val); p < END(cx, val) && rc == SHAPE_OK;
                 p = NEXT(cx, p + 1))
                rc = walk_member(cx, label, p, val, W_SCHEMA, 0);
            break;
        case S_OTHER:
            /* no keyword: a name the client chose, and what it holds; its
             * object has keys that are not texts: keywords */
            rc = walk_member(cx, label, k, v, W_FREE, 1);
            break;
        default:
            rc = walk(cx, val, label, W_SCHEMA);
            break;
        }
        if (rc != SHAPE_OK)
            return rc;
    }
    return SHAPE_OK;
}

/*
 * ---- headers ---------------------------------------------------------------
 *
 * "headers" (an MCP tool's, Responses API; the field anywhere, not a key
 * of a free-form object or a schema) are the HTTP headers the provider
 * sends to the MCP server: a map whose keys the client chose, free-form
 * like metadata, but for the credentials in it. The string value of a
 * header whose name holds, in any ASCII case, "auth", "token",
 * "secret", "cookie" or "key" (Authorization,
 * Proxy-Authorization, X-Auth-Token, Cookie, X-Api-Key, ...) is a
 * credential for that server: the model never reads it, and a mask would
 * break the call, so it is control like an MCP tool's "authorization". A
 * wide rule hides nothing more than Authorization alone would: the client
 * can put any text there. Any other header's value is text (it goes to a
 * server outside), every name is text, and anything but a string under a
 * credential name is walked free-form.
 */

/* Whether s[0..n) holds lit, a lower-case C string, in any ASCII case. */
static int
ascii_icontains(const char *s, size_t n, const char *lit)
{
    size_t ll = strlen(lit), i;

    for (i = 0; i + ll <= n; i++) {
        if (aigov_ascii_ieq(s + i, ll, lit))
            return 1;
    }
    return 0;
}

/* Whether key node k names a credential header; -1 out of memory. */
static int
credential_header(const parse_ctx_t *cx, uint32_t k)
{
    static const char *const words[] = {
        "auth", "token", "secret", "cookie", "key", NULL
    };
    char        buf[64], *heap;
    const char *name;
    size_t      len, i;
    int         r = 0;

    if ((name = unescaped(cx, k, buf, sizeof(buf), &len, &heap)) == NULL)
        return -1;
    for (i = 0; words[i] != NULL && !r; i++)
        r = ascii_icontains(name, len, words[i]);
    free(heap);
    return r;
}

/* The object of an MCP tool's headers: each name a text, each value
 * free-form, but a credential header's string. */
static int
walk_headers(parse_ctx_t *cx, uint32_t v, const char *label)
{
    uint32_t k;
    int      rc, cred;

    for (k = FIRST(cx, v); k < END(cx, v); k = NEXT(cx, k + 1)) {
        cred = IS(cx, k + 1, T_STR) ? credential_header(cx, k) : 0;
        if (cred < 0)
            return SHAPE_NOMEM;
        rc = walk_member(cx, label, k, v, cred ? W_EXEMPT : W_FREE, 0);
        if (rc != SHAPE_OK)
            return rc;
    }
    return SHAPE_OK;
}

/* Any value: strings become texts unless exempt; containers are walked. */
static int
walk(parse_ctx_t *cx, uint32_t v, const char *label, int mode)
{
    uint32_t e, k;
    int      rc;

    switch (TYPE(cx, v)) {
    case T_STR:
        if (mode == W_EXEMPT)
            return SHAPE_OK;
        if (mode == W_FREE && is_data_url(cx, v)) {
            /* a file of text given as a value (a prompt variable's
             * input_file): its text; anything else as it is, and binary
             * media of its type */
            switch (read_file(cx, label, v, NULL, 0, 0, &rc)) {
            case FILE_TEXT:
                return rc;
            case FILE_MEDIA:
                cx->rq->media |= data_url_media(cx, v);
                break;
            default:
                break;
            }
            if (rc != SHAPE_OK)
                return rc;
        }
        return add_text(cx, label, v);
    case T_ARR:
        for (e = FIRST(cx, v); e < END(cx, v); e = NEXT(cx, e)) {
            /* an exempt key's array: its strings are exempt too, its
             * objects are walked as any other */
            if ((rc = walk(cx, e, label, mode == W_EXEMPT && !IS(cx, e, T_STR)
                                         ? W_NORMAL : mode)) != SHAPE_OK)
                return rc;
        }
        return SHAPE_OK;
    case T_OBJ:
        if (mode == W_SCHEMA)
            return walk_schema(cx, v, label);
        if (mode == W_HEADERS)
            return walk_headers(cx, v, label);
        if (mode == W_FREE) {
            /* the client chose the keys, and the model reads them */
            for (k = FIRST(cx, v); k < END(cx, v); k = NEXT(cx, k + 1)) {
                if ((rc = walk_member(cx, label, k, v, W_FREE, 0)) != SHAPE_OK)
                    return rc;
            }
            return SHAPE_OK;
        }
        return walk_object(cx, v, label, 0);
    default:
        return SHAPE_OK;
    }
}

/* ---- parse / free ------------------------------------------------------- */

/*
 * Blocks of freed requests kept for the next parse, per thread. A prompt's
 * strings are as long as the prompt, and copying them into fresh memory
 * costs a page fault per 4 KiB: on virtual machines that is more than all
 * the reading of the prompt (a 1 MiB block of fresh pages took 6 to 12 ms
 * on the benchmark's machine, the parse 0.5 ms). malloc gives such blocks
 * back to the system when freed, and a block of 16 KiB, freed at the top
 * of the heap, makes glibc trim the heap and grow it again request after
 * request (brk, a TLB flush, the faults): that made a 16 KiB pass-through
 * cost twice plain nginx. Sixteen blocks cover the requests one worker has
 * in flight under load; blocks below 8 KiB are left to malloc's bins.
 */
#define MEM_KEEP_N      16
#define MEM_KEEP_MIN    ((size_t) 8 * 1024)
#define MEM_KEEP_BYTES  ((size_t) 32 * 1024 * 1024)

static _Thread_local struct {
    char   *p;
    size_t  cap;
} mem_kept[MEM_KEEP_N];
static _Thread_local size_t mem_kept_bytes;

static char *
mem_get(size_t need, size_t *cap)
{
    size_t i, best = MEM_KEEP_N;
    char  *p;

    if (need >= MEM_KEEP_MIN) {
        for (i = 0; i < MEM_KEEP_N; i++) {
            if (mem_kept[i].p != NULL && mem_kept[i].cap >= need
                && (best == MEM_KEEP_N || mem_kept[i].cap < mem_kept[best].cap))
                best = i;
        }
        if (best < MEM_KEEP_N) {
            p = mem_kept[best].p;
            *cap = mem_kept[best].cap;
            mem_kept_bytes -= *cap;
            mem_kept[best].p = NULL;
            mem_kept[best].cap = 0;
            return p;
        }
        /* a little room, so that the next prompt of about this size fits */
        need += need / 8;
    }
    *cap = need;
    return malloc(need);
}

static void
mem_put(char *p, size_t cap)
{
    size_t i, small = MEM_KEEP_N;

    if (p == NULL)
        return;
    if (cap < MEM_KEEP_MIN || cap > MEM_KEEP_BYTES) {
        free(p);
        return;
    }
    for (;;) {
        for (i = 0; i < MEM_KEEP_N; i++) {
            if (mem_kept[i].p == NULL)
                break;
            if (small == MEM_KEEP_N || mem_kept[i].cap < mem_kept[small].cap)
                small = i;
        }
        if (i < MEM_KEEP_N && mem_kept_bytes + cap <= MEM_KEEP_BYTES) {
            mem_kept[i].p = p;
            mem_kept[i].cap = cap;
            mem_kept_bytes += cap;
            return;
        }
        /* full: the smallest kept block gives way to a larger one */
        if (small == MEM_KEEP_N || mem_kept[small].cap >= cap) {
            free(p);
            return;
        }
        free(mem_kept[small].p);
        mem_kept_bytes -= mem_kept[small].cap;
        mem_kept[small].p = NULL;
        mem_kept[small].cap = 0;
        small = MEM_KEEP_N;
    }
}

void
aigov_request_release_memory(void)
{
    size_t i;

    for (i = 0; i < MEM_KEEP_N; i++) {
        free(mem_kept[i].p);
        mem_kept[i].p = NULL;
        mem_kept[i].cap = 0;
    }
    mem_kept_bytes = 0;
}

/*
 * The one allocation: the body copy the edits are spliced into (none when
 * the caller lends the body), the texts array, and the strings area (room
 * for every string value once, which bounds what the walkers can copy).
 */
static int
alloc_mem(aigov_request_t *rq, parse_ctx_t *cx, const scan_t *s,
          const char *body, size_t len, int lent)
{
    size_t body_sz = lent ? 0 : (len + 15) & ~(size_t) 15;
    size_t tcap = s->nstr < AIGOV_REQ_MAX_TEXTS ? s->nstr : AIGOV_REQ_MAX_TEXTS;
    size_t texts_sz = tcap * sizeof(aigov_text_t);

    /* one byte more, so that a lent body with nothing to copy still gets
     * an allocation of its own */
    rq->mem_ = mem_get(body_sz + texts_sz + s->str_bytes + 1, &rq->mem_cap_);
    if (rq->mem_ == NULL)
        return -1;
    if (lent) {
        rq->body_ = body;
    } else {
        memcpy(rq->mem_, body, len);
        rq->body_ = rq->mem_;
    }
    rq->body_len_ = len;
    rq->texts = tcap ? (aigov_text_t *) (void *) (rq->mem_ + body_sz) : NULL;
    cx->tcap = tcap;
    cx->sp = rq->mem_ + body_sz + texts_sz;
    cx->send = cx->sp + s->str_bytes;
    cx->b = (const unsigned char *) rq->body_;
    return 0;
}

static aigov_req_status_t parse(aigov_request_t *rq, aigov_endpoint_t ep,
                                const char *body, size_t len, int lent,
                                char *err, size_t errlen);

aigov_req_status_t
aigov_request_parse(aigov_request_t *rq, aigov_endpoint_t ep,
                    const char *body, size_t len, char *err, size_t errlen)
{
    return parse(rq, ep, body, len, 0, err, errlen);
}

aigov_req_status_t
aigov_request_parse_lent(aigov_request_t *rq, aigov_endpoint_t ep,
                         const char *body, size_t len, char *err, size_t errlen)
{
    return parse(rq, ep, body, len, 1, err, errlen);
}

static aigov_req_status_t
parse(aigov_request_t *rq, aigov_endpoint_t ep, const char *body, size_t len,
      int lent, char *err, size_t errlen)
{
    parse_ctx_t cx;
    scan_t      scan, *s = &scan;
    int         rc, st;

    memset(rq, 0, sizeof(*rq));
    rq->endpoint = ep;
    rq->max_tokens = -1;
    rq->lim_set_ = -1;
    rq->n = 1;
    if (errlen)
        err[0] = '\0';

    /* GET /v1/models has no body to read. */
    if (ep == AIGOV_EP_MODELS && len == 0)
        return AIGOV_REQ_OK;

    if (body == NULL && len > 0) {
        aigov_errorf(err, errlen, "no request body");
        return AIGOV_REQ_BAD_JSON;
    }
    if (len > AIGOV_REQ_MAX_BODY) {
        aigov_errorf(err, errlen, "the request body is larger than %d bytes",
                AIGOV_REQ_MAX_BODY);
        return AIGOV_REQ_BAD_SHAPE;
    }

    /* The tape and the key stack start inside the scan_t on the stack, so
     * a usual body allocates nothing for them. */
    s->b = (const unsigned char *) (body ? body : "");
    s->len = len;
    s->pos = 0;
    s->nodes = s->node_buf;
    s->ncap = NODES_INLINE;
    s->nn = 0;
    s->keys = s->key_buf;
    s->kcap = KEYS_INLINE;
    s->nk = 0;
    s->nstr = 0;
    s->str_bytes = 0;
    s->status = AIGOV_REQ_OK;
    s->epos = 0;
    s->emsg = NULL;

    if (scan_value(s, 0) == 0) {
        skip_ws(s);
        if (s->pos < s->len)
            fail_at(s, s->pos, "end of input expected after the JSON value");
    }
    if (s->status != AIGOV_REQ_OK) {
        st = s->status;
        if (st == AIGOV_REQ_BAD_SHAPE) {
            aigov_errorf(err, errlen, "JSON nested deeper than %d levels at byte %zu",
                    AIGOV_REQ_MAX_DEPTH, s->epos + 1);
        } else if (st == AIGOV_REQ_BAD_JSON) {
            int line, col;

            line_col(s->b, s->epos, &line, &col);
            aigov_errorf(err, errlen, "invalid JSON at line %d, column %d: %s",
                    line, col, s->emsg);
        } else {
            aigov_errorf(err, errlen, "out of memory");
        }
        scan_release(s);
        return (aigov_req_status_t) st;
    }

    memset(&cx, 0, sizeof(cx));
    cx.rq = rq;
    cx.err = err;
    cx.errlen = errlen;
    cx.n = s->nodes;
    if ((s->nodes[0].type & T_MASK) != T_OBJ) {
        cx.b = s->b;
        aigov_errorf(err, errlen, "the request body must be a JSON object, not %s",
                type_name(&cx, 0));
        scan_release(s);
        return AIGOV_REQ_BAD_SHAPE;
    }
    if (alloc_mem(rq, &cx, s, body, len, lent) != 0) {
        scan_release(s);
        aigov_errorf(err, errlen, "out of memory");
        return AIGOV_REQ_NOMEM;
    }
    rq->close_at_ = s->nodes[0].end - 1;
    rq->root_empty_ = s->nodes[0].next == 1;
    note_limit_keys(&cx);

    rc = read_model(&cx, ep != AIGOV_EP_UNKNOWN && ep != AIGOV_EP_MODELS
                         && ep != AIGOV_EP_RESPONSES);
    if (rc == SHAPE_OK)
        rc = read_stream(&cx);
    if (rc == SHAPE_OK)
        rc = read_limits(&cx);
    if (rc == SHAPE_OK)
        rc = read_n(&cx);
    if (rc == SHAPE_OK)
        rc = read_stream_options(&cx);
    if (rc == SHAPE_OK) {
        switch (ep) {
        case AIGOV_EP_CHAT:         rc = check_chat(&cx); break;
        case AIGOV_EP_COMPLETIONS:  rc = check_prompt_like(&cx, "prompt"); break;
        case AIGOV_EP_EMBEDDINGS:   rc = check_prompt_like(&cx, "input"); break;
        case AIGOV_EP_MESSAGES:
        case AIGOV_EP_COUNT_TOKENS: rc = check_messages(&cx); break;
        case AIGOV_EP_RESPONSES:    rc = check_responses(&cx); break;
        default:                    break;
        }
    }
    /* Unknown kinds (and a body sent to /v1/models) are not read for
     * text: their fields' meaning is unknown, and the module refuses them
     * where filters or limits apply. */
    if (rc == SHAPE_OK && ep != AIGOV_EP_UNKNOWN && ep != AIGOV_EP_MODELS)
        rc = walk_object(&cx, 0, NULL, 0);
    scan_release(s);
    if (rc == SHAPE_NOMEM) {
        aigov_errorf(err, errlen, "out of memory");
        return AIGOV_REQ_NOMEM;
    }
    return rc == SHAPE_OK ? AIGOV_REQ_OK : AIGOV_REQ_BAD_SHAPE;
}

void
aigov_request_free(aigov_request_t *rq)
{
    size_t i;

    if (rq == NULL)
        return;
    for (i = 0; i < rq->ntexts; i++) {
        free(rq->texts[i].repl);
        free(rq->texts[i].wire);
    }
    mem_put(rq->mem_, rq->mem_cap_);
    memset(rq, 0, sizeof(*rq));
    rq->max_tokens = -1;
    rq->lim_set_ = -1;
    rq->n = 1;
}

/* ---- edits -------------------------------------------------------------- */

/* pre and s[0..n) in base64, NUL-terminated, malloc'd: an inline file's
 * new value. */
static char *
b64_wire(const char *pre, size_t prelen, const char *s, size_t n)
{
    char *w;

    if ((w = malloc(prelen + AIGOV_B64_ROOM(n))) == NULL)
        return NULL;
    memcpy(w, pre, prelen);
    aigov_b64_encode((const uint8_t *) s, n, w + prelen, AIGOV_B64_STD);
    return w;
}

int
aigov_request_set_text(aigov_request_t *rq, size_t i, const char *text, size_t len)
{
    aigov_text_t *t;
    char         *copy, *wire = NULL;
    size_t        old;

    if (rq == NULL || i >= rq->ntexts || (text == NULL && len > 0))
        return -1;
    /* Texts are C strings for plugins; a NUL inside would hide the rest. */
    if (len > 0 && memchr(text, '\0', len) != NULL)
        return -1;
    if (!utf8_valid(text, len))
        return -1;
    if ((copy = malloc(len + 1)) == NULL)
        return -1;
    if (len > 0)
        memcpy(copy, text, len);
    copy[len] = '\0';
    t = &rq->texts[i];
    /* an inline file stays the data URL it was, with the new text */
    if (t->pre != NULL && (wire = b64_wire(t->pre, t->prelen, copy, len)) == NULL) {
        free(copy);
        return -1;
    }
    old = t->ascii ? t->len : utf8_chars(t->text, t->len);
    free(t->repl);
    free(t->wire);
    t->repl = copy;
    t->wire = wire;
    t->text = copy;
    t->len = len;
    t->ascii = 0;
    rq->prompt_chars = rq->prompt_chars - old + utf8_chars(copy, len);
    rq->modified = 1;
    rq->keys_set_ |= t->key;
    return 0;
}

int
aigov_request_set_max_tokens(aigov_request_t *rq, long long v)
{
    if (rq == NULL || rq->body_len_ == 0 || v < 0)
        return -1;
    /* Embeddings produce no tokens to limit: a policy limit is moot there,
     * not an error. */
    if (rq->max_tokens_key == NULL)
        return 0;
    rq->lim_set_ = v;
    rq->max_tokens = v;
    rq->modified = 1;
    return 0;
}

/* One splice: body bytes [at, end) give way to a text (JSON-escaped when
 * esc) or to raw bytes. */
typedef struct {
    size_t      at, end;
    const char *s;
    size_t      len;
    int         esc;
} splice_t;

static int
cmp_splice(const void *x, const void *y)
{
    const splice_t *a = x, *b = y;

    return a->at < b->at ? -1 : a->at > b->at;
}

/* The token-limit splices: every key given a number is overwritten; with
 * none, a null one of the request's key is, else that key is appended to
 * the root object (written into app, the root's appendix). */
static size_t
limit_splices(const aigov_request_t *rq, splice_t *sp, char *num, char *app,
              size_t applen)
{
    size_t n = 0, l;
    int    i, k;

    if (rq->lim_set_ < 0 || rq->max_tokens_key == NULL)
        return 0;
    snprintf(num, 24, "%lld", rq->lim_set_);
    for (i = 0; i < 2; i++) {
        if (rq->lim_has_[i] == 2) {
            sp[n++] = (splice_t) { rq->lim_at_[i], rq->lim_end_[i], num,
                                   strlen(num), 0 };
        }
    }
    if (n > 0)
        return n;
    k = strcmp(rq->max_tokens_key, limit_key(rq->endpoint, 0)) == 0 ? 0 : 1;
    if (rq->lim_has_[k] == 1) {
        sp[n++] = (splice_t) { rq->lim_at_[k], rq->lim_end_[k], num,
                               strlen(num), 0 };
    } else {
        l = strlen(app);
        snprintf(app + l, applen - l, "%s\"%s\":%s",
                 rq->root_empty_ && l == 0 ? "" : ",", rq->max_tokens_key, num);
    }
    return n;
}

/* ask_usage's splice: "include_usage": true where stream_options lacks it. */
static size_t
usage_splice(const aigov_request_t *rq, splice_t *sp, char *app, size_t applen)
{
    static const char obj[] = "{\"include_usage\":true}";
    size_t l;

    if (!rq->usage_set_)
        return 0;
    switch (rq->so_state_) {
    case AIGOV_SO_ABSENT:
        l = strlen(app);
        snprintf(app + l, applen - l, "%s\"stream_options\":%s",
                 rq->root_empty_ && l == 0 ? "" : ",", obj);
        return 0;
    case AIGOV_SO_NULL:
        sp[0] = (splice_t) { rq->so_at_, rq->so_end_, obj, sizeof(obj) - 1, 0 };
        return 1;
    case AIGOV_SO_EMPTY:
        sp[0] = (splice_t) { rq->so_at_, rq->so_at_, obj + 1, sizeof(obj) - 3, 0 };
        return 1;
    case AIGOV_SO_NO_KEY:
        sp[0] = (splice_t) { rq->so_at_, rq->so_at_, ",\"include_usage\":true",
                             sizeof(",\"include_usage\":true") - 1, 0 };
        return 1;
    case AIGOV_SO_FALSE:
        sp[0] = (splice_t) { rq->so_at_, rq->so_end_, "true", 4, 0 };
        return 1;
    default:
        return 0;
    }
}

/* ---- keys stay unique -----------------------------------------------------
 *
 * Two keys of one object can be masked alike ("mail alice@example.org"
 * and "mail bob@example.org" both become "mail [REDACTED:EMAIL]"). A body
 * with a key twice is read one way by one parser and another way by the
 * next (the first value, the last, or an error): the gateway refuses such
 * bodies coming in, and must not make one going out. Before writing, an
 * edited key that equals another key of its object is renamed "KEY (2)"
 * (or the first free " (N)"). Sorting the keys of the objects concerned
 * finds them, in n log n however many keys a hostile body masks.
 */

typedef struct {
    size_t      obj;
    const char *s;
    size_t      len;
    size_t      i;          /* the text: body order */
    int         edited;
} keyref_t;

static int
keyref_cmp(const keyref_t *a, const keyref_t *b)
{
    if (a->obj != b->obj)
        return a->obj < b->obj ? -1 : 1;
    if (a->len != b->len)
        return a->len < b->len ? -1 : 1;
    return memcmp(a->s, b->s, a->len);
}

/* Equal keys together, the one left as it is first: a key not edited
 * (there is at most one, the scan refused duplicates), else the first in
 * the body. */
static int
cmp_keyref(const void *x, const void *y)
{
    const keyref_t *a = x, *b = y;
    int             c = keyref_cmp(a, b);

    if (c != 0)
        return c;
    if (a->edited != b->edited)
        return a->edited - b->edited;
    return a->i < b->i ? -1 : a->i > b->i;
}

static int
bsearch_keyref(const void *x, const void *y)
{
    return keyref_cmp(x, y);
}

static int
cmp_size(const void *x, const void *y)
{
    size_t a = *(const size_t *) x, b = *(const size_t *) y;

    return a < b ? -1 : a > b;
}

/* Whether name is taken in the object of refs[0..n) (sorted): by one of
 * its key texts, or, in a schema object, by a keyword (keys there that
 * are not texts are keywords; any keyword counts as taken). */
static int
key_taken(const keyref_t *refs, size_t n, size_t obj, int kwobj,
          const char *name, size_t len)
{
    keyref_t k = { obj, name, len, 0, 0 };

    if (kwobj && len <= 24
        && key_find(name, len, schema_table,
                    sizeof(schema_table) / sizeof(schema_table[0])) != NULL)
        return 1;
    return bsearch(&k, refs, n, sizeof(*refs), bsearch_keyref) != NULL;
}

static int
unique_keys(aigov_request_t *rq)
{
    size_t    *objs = NULL, nobj = 0, nref = 0, nnew = 0, i, j;
    keyref_t  *refs = NULL;
    char     **names = NULL;
    int        rc = -1;

    for (i = 0; i < rq->ntexts; i++)
        nobj += rq->texts[i].key && rq->texts[i].repl != NULL;
    if (nobj == 0) {
        rq->keys_set_ = 0;
        return 0;
    }
    if ((objs = malloc(nobj * sizeof(*objs))) == NULL)
        goto out;
    nobj = 0;
    for (i = 0; i < rq->ntexts; i++) {
        if (rq->texts[i].key && rq->texts[i].repl != NULL)
            objs[nobj++] = rq->texts[i].obj;
    }
    qsort(objs, nobj, sizeof(*objs), cmp_size);

    /* every key text of those objects */
    for (i = 0; i < rq->ntexts; i++) {
        nref += rq->texts[i].key
                && bsearch(&rq->texts[i].obj, objs, nobj, sizeof(*objs), cmp_size);
    }
    refs = malloc(nref * sizeof(*refs));
    names = calloc(nref, sizeof(*names));
    if (refs == NULL || names == NULL)
        goto out;
    nref = 0;
    for (i = 0; i < rq->ntexts; i++) {
        const aigov_text_t *t = &rq->texts[i];

        if (t->key && bsearch(&t->obj, objs, nobj, sizeof(*objs), cmp_size))
            refs[nref++] = (keyref_t) { t->obj, t->text, t->len, i, t->repl != NULL };
    }
    qsort(refs, nref, sizeof(*refs), cmp_keyref);

    /* The new names first (names[r] for refs[r]), set afterwards: the
     * texts refs point to stay as they are while names are chosen. New
     * names cannot meet each other: each is a run's own name and a number
     * of its own. */
    for (i = 0; i < nref; i = j) {
        size_t n = 2, keep = 1, cap = refs[i].len + 24;
        int    kwobj = rq->texts[refs[i].i].kwobj;

        for (j = i + 1; j < nref && keyref_cmp(&refs[i], &refs[j]) == 0; j++)
            ;
        /* an edited key that became a keyword of its schema object gives
         * the name up too */
        if (kwobj && refs[i].edited
            && key_taken(refs, 0, refs[i].obj, 1, refs[i].s, refs[i].len))
            keep = 0;
        for (; i + keep < j; keep++) {
            char *name;

            if ((name = names[i + keep] = malloc(cap)) == NULL)
                goto out;
            do {
                snprintf(name, cap, "%.*s (%zu)", (int) refs[i].len, refs[i].s, n++);
            } while (key_taken(refs, nref, refs[i].obj, kwobj, name, strlen(name)));
            nnew++;
        }
    }
    for (i = 0; i < nref && nnew > 0; i++) {
        if (names[i] != NULL
            && aigov_request_set_text(rq, refs[i].i, names[i], strlen(names[i])) != 0)
            goto out;
    }
    rq->keys_set_ = 0;
    rc = 0;
out:
    for (i = 0; names != NULL && i < nref; i++)
        free(names[i]);
    free(names);
    free(refs);
    free(objs);
    return rc;
}

char *
aigov_request_serialize(aigov_request_t *rq, size_t *len)
{
    splice_t *sp;
    size_t    n = 0, i, total, from;
    char      num[24], app[128], *out, *o;
    int       sorted = 1;

    if (len != NULL)
        *len = 0;
    if (rq == NULL || rq->body_len_ == 0)
        return NULL;
    if (rq->keys_set_ && unique_keys(rq) != 0)
        return NULL;

    for (i = 0; i < rq->ntexts; i++)
        n += rq->texts[i].repl != NULL;
    if ((sp = malloc((n + 4) * sizeof(*sp))) == NULL)
        return NULL;
    n = 0;
    for (i = 0; i < rq->ntexts; i++) {
        const aigov_text_t *t = &rq->texts[i];

        if (t->repl == NULL)
            continue;
        if (t->wire != NULL)
            sp[n++] = (splice_t) { t->at, t->end, t->wire, strlen(t->wire), 1 };
        else
            sp[n++] = (splice_t) { t->at, t->end, t->text, t->len, 1 };
    }
    /* What is added to the root object goes in one splice before its
     * closing brace, so that the commas come out right. */
    app[0] = '\0';
    n += limit_splices(rq, sp + n, num, app, sizeof(app));
    n += usage_splice(rq, sp + n, app, sizeof(app));
    if (app[0] != '\0')
        sp[n++] = (splice_t) { rq->close_at_, rq->close_at_, app, strlen(app), 0 };
    /* Texts come in body order, the edits of the limit and stream_options
     * not; the ranges never overlap. */
    for (i = 1; i < n && sorted; i++)
        sorted = sp[i].at >= sp[i - 1].at;
    if (!sorted)
        qsort(sp, n, sizeof(*sp), cmp_splice);

    total = rq->body_len_;
    for (i = 0; i < n; i++) {
        total -= sp[i].end - sp[i].at;
        total += sp[i].esc ? aigov_json_escaped_len(sp[i].s, sp[i].len) : sp[i].len;
    }
    if ((out = malloc(total + 1)) == NULL) {
        free(sp);
        return NULL;
    }
    o = out;
    from = 0;
    for (i = 0; i < n; i++) {
        memcpy(o, rq->body_ + from, sp[i].at - from);
        o += sp[i].at - from;
        if (sp[i].esc) {
            o = aigov_json_escape(o, sp[i].s, sp[i].len, 0);
        } else {
            memcpy(o, sp[i].s, sp[i].len);
            o += sp[i].len;
        }
        from = sp[i].end;
    }
    memcpy(o, rq->body_ + from, rq->body_len_ - from);
    o += rq->body_len_ - from;
    *o = '\0';
    free(sp);
    if (len != NULL)
        *len = (size_t) (o - out);
    return out;
}

int
aigov_request_ask_usage(aigov_request_t *rq)
{
    if (rq == NULL || rq->body_len_ == 0)
        return -1;
    if ((rq->endpoint != AIGOV_EP_CHAT && rq->endpoint != AIGOV_EP_COMPLETIONS)
        || !rq->stream || rq->so_state_ == AIGOV_SO_ASKED)
    {
        return 0;
    }
    rq->usage_set_ = 1;
    rq->modified = 1;
    return 1;
}

long long
aigov_request_prompt_tokens(const aigov_request_t *rq)
{
    long long n;
    size_t    i, c;

    if (rq == NULL)
        return 0;
    n = rq->token_ids;
    for (i = 0; i < rq->ntexts; i++) {
        c = rq->texts[i].ascii ? rq->texts[i].len
                               : utf8_chars(rq->texts[i].text, rq->texts[i].len);
        n += c == 0 ? 1 : (long long) ((c + 3) / 4);
    }
    return n;
}
