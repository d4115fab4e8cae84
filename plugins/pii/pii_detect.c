/*
 * pii_detect.c: one left-to-right pass over the text. A byte that can begin
 * a candidate (a digit, '+', '(', an uppercase letter, a hex letter, ':')
 * at the start of a word is handed to small hand-written parsers that know
 * the shape of each kind, and a shape is only reported when its checksum or
 * range rules hold (Luhn, mod-97, ISO 7064, date, octet range). E-mail
 * addresses are found first from each '@' (memchr is fast), and the main
 * pass steps over them, so no two spans ever overlap.
 *
 * Everything works on bytes: non-ASCII bytes are never part of a match and
 * count as word breaks, so "电话415-555-2671" is found.
 *
 * Speed: every kind of match has a digit or ':' among its first five bytes
 * (a phone's '+' or '(' is followed by a digit, an IBAN has check digits at
 * its third byte, an IPv6 group of letters ends in ':'), and prose has few
 * of those, so the pass jumps from one such byte to the next, eight bytes
 * at a time, and looks closely only at the five positions up to it.
 */

#include "pii.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef const unsigned char uchar;

static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_upper(int c) { return c >= 'A' && c <= 'Z'; }
static int is_lower(int c) { return c >= 'a' && c <= 'z'; }
static int is_alpha(int c) { return is_upper(c) || is_lower(c); }
static int is_alnum(int c) { return is_alpha(c) || is_digit(c); }
static int is_word(int c)  { return is_alnum(c) || c == '_'; }
static int is_hex(int c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int push(pii_matches_t *m, size_t s, size_t e, int type)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        pii_match_t *v = realloc(m->v, cap * sizeof(*v));
        if (v == NULL)
            return -1;
        m->v = v;
        m->cap = cap;
    }
    m->v[m->n].start = s;
    m->v[m->n].end = e;
    m->v[m->n].type = type;
    m->n++;
    return 0;
}

/* A number must not be glued to a larger dotted or dashed number: the
 * "4.1.2.3" inside "5.4.1.2.3" or the tail of "12-415-555-2671-9". */
static int left_ok(uchar *t, size_t i)
{
    if (i == 0)
        return 1;
    if (is_word(t[i - 1]))
        return 0;
    if ((t[i - 1] == '.' || t[i - 1] == '-') && i >= 2 && is_digit(t[i - 2]))
        return 0;
    return 1;
}

static int right_ok(uchar *t, size_t len, size_t e)
{
    if (e >= len)
        return 1;
    if (is_word(t[e]))
        return 0;
    if ((t[e] == '.' || t[e] == '-') && e + 1 < len && is_digit(t[e + 1]))
        return 0;
    return 1;
}

/* ---- validators ------------------------------------------------------ */

int pii_luhn_ok(const char *d, size_t n)
{
    unsigned sum = 0;
    int dbl = 0;

    if (n == 0)
        return 0;
    for (size_t k = n; k-- > 0;) {
        unsigned v = (unsigned)(d[k] - '0');
        if (v > 9)
            return 0;
        if (dbl) {
            v *= 2;
            if (v > 9)
                v -= 9;
        }
        sum += v;
        dbl = !dbl;
    }
    return sum % 10 == 0;
}

static unsigned prefix_num(const char *d, size_t k)
{
    unsigned v = 0;
    for (size_t j = 0; j < k; j++)
        v = v * 10 + (unsigned)(d[j] - '0');
    return v;
}

/* Issuer prefixes and lengths of the card networks in wide use. */
int pii_card_prefix_ok(const char *d, size_t n)
{
    unsigned p2, p3, p4;

    if (n < 13 || n > 19)
        return 0;
    p2 = prefix_num(d, 2);
    p3 = prefix_num(d, 3);
    p4 = prefix_num(d, 4);
    if (d[0] == '4')                                    /* Visa */
        return n == 13 || n == 16 || n == 19;
    if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720))
        return n == 16;                                 /* Mastercard */
    if (p2 == 34 || p2 == 37)                           /* Amex */
        return n == 15;
    if (p4 == 6011 || (p3 >= 644 && p3 <= 649) || p2 == 65)
        return n >= 16;                                 /* Discover */
    if (p4 >= 3528 && p4 <= 3589)                       /* JCB */
        return n >= 16;
    if ((p3 >= 300 && p3 <= 305) || p2 == 36 || p2 == 38 || p2 == 39)
        return n >= 14;                                 /* Diners */
    if (p2 == 62)                                       /* UnionPay */
        return n >= 16;
    if (p4 >= 2200 && p4 <= 2204)                       /* Mir */
        return n >= 16;
    if (p4 == 5018 || p4 == 5020 || p4 == 5038 || p4 == 5893 ||
        p4 == 6304 || p4 == 6759 || (p4 >= 6761 && p4 <= 6763))
        return 1;                                       /* Maestro */
    return 0;
}

/* IBAN lengths by country (ISO 13616 registry, the countries in use). */
static const struct { char cc[3]; unsigned char len; } iban_lens[] = {
    {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20},
    {"BE", 16}, {"BG", 22}, {"BH", 22}, {"BR", 29}, {"BY", 28}, {"CH", 21},
    {"CR", 22}, {"CY", 28}, {"CZ", 24}, {"DE", 22}, {"DK", 18}, {"DO", 28},
    {"EE", 20}, {"EG", 29}, {"ES", 24}, {"FI", 18}, {"FO", 18}, {"FR", 27},
    {"GB", 22}, {"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27}, {"GT", 28},
    {"HR", 21}, {"HU", 28}, {"IE", 22}, {"IL", 23}, {"IQ", 23}, {"IS", 26},
    {"IT", 27}, {"JO", 30}, {"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LC", 32},
    {"LI", 21}, {"LT", 20}, {"LU", 20}, {"LV", 21}, {"MC", 27}, {"MD", 24},
    {"ME", 22}, {"MK", 19}, {"MR", 27}, {"MT", 31}, {"MU", 30}, {"NL", 18},
    {"NO", 15}, {"PK", 24}, {"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29},
    {"RO", 24}, {"RS", 22}, {"SA", 24}, {"SC", 31}, {"SE", 24}, {"SI", 19},
    {"SK", 24}, {"SM", 27}, {"ST", 25}, {"SV", 28}, {"TL", 23}, {"TN", 24},
    {"TR", 26}, {"UA", 29}, {"VA", 22}, {"VG", 24}, {"XK", 20},
};

static size_t iban_len(uchar *cc)
{
    for (size_t k = 0; k < sizeof(iban_lens) / sizeof(iban_lens[0]); k++)
        if (iban_lens[k].cc[0] == cc[0] && iban_lens[k].cc[1] == cc[1])
            return iban_lens[k].len;
    return 0;
}

int pii_iban_ok(const char *s, size_t n)
{
    unsigned r = 0;

    if (n < 15 || n > 34 || iban_len((uchar *)s) != n)
        return 0;
    if (!is_digit((uchar)s[2]) || !is_digit((uchar)s[3]))
        return 0;
    /* move the first four characters to the end, letters count 10..35 */
    for (size_t k = 0; k < n; k++) {
        int c = (uchar)s[(k + 4) % n];
        if (is_digit(c))
            r = (r * 10 + (unsigned)(c - '0')) % 97;
        else if (is_upper(c))
            r = (r * 100 + (unsigned)(c - 'A' + 10)) % 97;
        else
            return 0;
    }
    return r == 1;
}

static int date_ok(int y, int m, int d)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap, lim;

    if (y < 1900 || y > 2099 || m < 1 || m > 12 || d < 1)
        return 0;
    leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    lim = mdays[m - 1] + (m == 2 && leap);
    return d <= lim;
}

/* GB 11643: 6-digit region (province 11..82, and 83 of the residence
 * permits Taiwan residents hold), birth date YYYYMMDD,
 * 3-digit sequence, ISO 7064 MOD 11-2 check character. */
int pii_cn_id_ok(const char *s, size_t n)
{
    static const int w[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
    static const char check[11] = {'1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'};
    int sum = 0, prov, y, m, d, c;

    if (n != 18)
        return 0;
    for (int k = 0; k < 17; k++)
        if (!is_digit((uchar)s[k]))
            return 0;
    prov = (s[0] - '0') * 10 + (s[1] - '0');
    if (!((prov >= 11 && prov <= 15) || (prov >= 21 && prov <= 23) ||
          (prov >= 31 && prov <= 37) || (prov >= 41 && prov <= 46) ||
          (prov >= 50 && prov <= 54) || (prov >= 61 && prov <= 65) ||
          prov == 71 || prov == 81 || prov == 82 || prov == 83))
        return 0;
    y = (int)prefix_num(s + 6, 4);
    m = (int)prefix_num(s + 10, 2);
    d = (int)prefix_num(s + 12, 2);
    if (!date_ok(y, m, d))
        return 0;
    for (int k = 0; k < 17; k++)
        sum += (s[k] - '0') * w[k];
    c = (uchar)s[17];
    if (c == 'x')
        c = 'X';
    return c == check[sum % 11];
}

int pii_ssn_ok(int area, int group, int serial)
{
    return area > 0 && area != 666 && area < 900 && group > 0 && serial > 0;
}

/* ---- e-mail ---------------------------------------------------------- */

static int is_local(int c)
{
    return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

/* Finds an address around the '@' at a; returns 1 and [*s, *e). */
static int email_at(uchar *t, size_t len, size_t a, size_t floor,
                    size_t *s, size_t *e)
{
    size_t b = a, p, labels = 0, last = 0, first_end = 0;

    while (b > floor && a - b < 64 && is_local(t[b - 1]))
        b--;
    if (b > floor && is_local(t[b - 1]))
        return 0;                           /* local part over 64 bytes */
    while (b < a && t[b] == '.')
        b++;
    if (b == a || t[a - 1] == '.')
        return 0;
    for (p = b; p + 1 < a; p++)
        if (t[p] == '.' && t[p + 1] == '.')
            return 0;

    p = a + 1;
    for (;;) {
        size_t ls = p;
        while (p < len && p - ls < 64 && (is_alnum(t[p]) || t[p] == '-'))
            p++;
        if (p == ls || p - ls > 63 || t[ls] == '-' || t[p - 1] == '-')
            return 0;
        labels++;
        last = ls;
        if (labels == 1)
            first_end = p;
        if (p - (a + 1) > 253)
            return 0;
        if (p + 1 < len && t[p] == '.' && is_alnum(t[p + 1])) {
            p++;
            continue;
        }
        break;
    }
    if (labels < 2)
        return 0;
    if (p < len && (t[p] == '_' || t[p] == '@'))
        return 0;
    /* the top-level domain is letters (or an IDN "xn--" label) */
    if (p - last >= 4 && memcmp(t + last, "xn--", 4) == 0) {
        /* fine */
    } else {
        if (p - last < 2)
            return 0;
        for (size_t k = last; k < p; k++)
            if (!is_alpha(t[k]))
                return 0;
    }
    /* "icon@2x.png": a retina image name, not an address */
    if (labels == 2 && first_end - (a + 1) >= 2 && t[first_end - 1] == 'x') {
        size_t k = a + 1;
        while (k < first_end - 1 && is_digit(t[k]))
            k++;
        if (k == first_end - 1)
            return 0;
    }
    *s = b;
    *e = p;
    return 1;
}

static int find_emails(uchar *t, size_t len, pii_matches_t *m)
{
    size_t from = 0, floor = 0;

    while (from < len) {
        uchar *at = memchr(t + from, '@', len - from);
        size_t a, s, e;
        if (at == NULL)
            break;
        a = (size_t)(at - t);
        if (email_at(t, len, a, floor, &s, &e)) {
            if (push(m, s, e, PII_EMAIL) < 0)
                return -1;
            floor = e;
            from = e;
        } else {
            from = a + 1;
        }
    }
    return 0;
}

/* ---- numbers --------------------------------------------------------- */

static size_t digit_run(uchar *t, size_t len, size_t p)
{
    size_t q = p;
    while (q < len && is_digit(t[q]))
        q++;
    return q - p;
}

static int try_cn_id(uchar *t, size_t len, size_t i, size_t *end)
{
    if (len - i < 18 || digit_run(t, len, i) < 17)
        return 0;
    if (!pii_cn_id_ok((const char *)t + i, 18))
        return 0;
    if (!right_ok(t, len, i + 18))
        return 0;
    *end = i + 18;
    return 1;
}

#define MAX_GROUPS 8

typedef struct {
    size_t    end;        /* one past the group (past ')' for a paren) */
    size_t    digits;     /* digits in this group */
    int       paren;
    int       sep;        /* separator before this group; 0 for none */
} group_t;

/* Digit groups separated by one of seps (one byte each). With parens,
 * a group may be "(ddd)" and needs no separator around it. Returns the
 * number of groups, 0 when a single digit run is absurdly long. */
static size_t parse_groups(uchar *t, size_t len, size_t p, const char *seps,
                           int parens, group_t *g)
{
    size_t ng = 0;
    int sep = 0;

    while (ng < MAX_GROUPS) {
        size_t q = p, nd;
        int paren = 0;
        if (parens && q < len && t[q] == '(') {
            paren = 1;
            q++;
        }
        nd = digit_run(t, len, q);
        if (nd == 0 || nd > 19)
            return nd > 19 ? 0 : ng;
        q += nd;
        if (paren) {
            if (q >= len || t[q] != ')')
                return ng;
            q++;
        }
        g[ng].end = q;
        g[ng].digits = nd;
        g[ng].paren = paren;
        g[ng].sep = sep;
        ng++;
        p = q;
        if (p + 1 < len && t[p] != '\0' && strchr(seps, t[p]) != NULL &&
            (is_digit(t[p + 1]) || (parens && t[p + 1] == '('))) {
            sep = t[p];
            p++;
            continue;
        }
        if (parens && p < len && (paren || t[p] == '(')) {
            sep = 0;
            continue;
        }
        break;
    }
    return ng;
}

static int try_card(uchar *t, size_t len, size_t i, size_t *end)
{
    group_t g[MAX_GROUPS];
    size_t ng, first = digit_run(t, len, i);
    char d[20];

    /* printed in fours, or all together */
    if (first != 4 && (first < 13 || first > 19))
        return 0;
    ng = parse_groups(t, len, i, " -", 0, g);

    for (size_t k = ng; k >= 1; k--) {
        size_t n = 0, j, p;
        int ok = 1;
        for (j = 0; j < k; j++)
            n += g[j].digits;
        if (n < 13 || n > 19)
            continue;
        if (k > 1) {
            /* printed groups: 4 first, then 4-6, the last 3-6, one separator */
            if (g[0].digits != 4)
                ok = 0;
            for (j = 1; j < k && ok; j++) {
                size_t lo = (j == k - 1) ? 3 : 4;
                if (g[j].digits < lo || g[j].digits > 6 || g[j].sep != g[1].sep)
                    ok = 0;
            }
        }
        if (!ok || !right_ok(t, len, g[k - 1].end))
            continue;
        for (p = i, n = 0; p < g[k - 1].end; p++)
            if (is_digit(t[p]))
                d[n++] = (char)t[p];
        if (pii_card_prefix_ok(d, n) && pii_luhn_ok(d, n)) {
            *end = g[k - 1].end;
            return 1;
        }
    }
    return 0;
}

static int try_ssn(uchar *t, size_t len, size_t i, size_t *end)
{
    uchar *s = t + i;

    if (len - i < 11)
        return 0;
    if (digit_run(t, len, i) != 3 || s[3] != '-' || digit_run(t, len, i + 4) != 2 ||
        s[6] != '-' || digit_run(t, len, i + 7) != 4)
        return 0;
    if (!pii_ssn_ok((int)prefix_num((const char *)s, 3),
                    (int)prefix_num((const char *)s + 4, 2),
                    (int)prefix_num((const char *)s + 7, 4)))
        return 0;
    if (!right_ok(t, len, i + 11))
        return 0;
    *end = i + 11;
    return 1;
}

/* Dotted quad at i; *end past it. No check of what follows. */
static int ipv4_at(uchar *t, size_t len, size_t i, size_t *end)
{
    size_t p = i;

    for (int k = 0; k < 4; k++) {
        size_t nd = digit_run(t, len, p);
        if (nd == 0 || nd > 3 || (nd > 1 && t[p] == '0'))
            return 0;
        if (prefix_num((const char *)t + p, nd) > 255)
            return 0;
        p += nd;
        if (k < 3) {
            if (p >= len || t[p] != '.')
                return 0;
            p++;
        }
    }
    *end = p;
    return 1;
}

static int try_ipv4(uchar *t, size_t len, size_t i, size_t *end)
{
    size_t e;

    if (!ipv4_at(t, len, i, &e) || !right_ok(t, len, e))
        return 0;
    /* "1.2.3.4-beta" is a version */
    if (e + 1 < len && t[e] == '-' && is_alnum(t[e + 1]))
        return 0;
    *end = e;
    return 1;
}

/* Full or "::"-compressed IPv6, optionally ending in a dotted quad. To keep
 * "a::b" in C++ and clock times out, it needs at least two groups written
 * out and one decimal digit somewhere. */
static int try_ipv6(uchar *t, size_t len, size_t i, size_t *end)
{
    size_t p = i, groups = 0, written = 0;
    int dcolon = 0, digit = 0;

    if (i > 0 && (t[i - 1] == ':' || t[i - 1] == '.'))
        return 0;
    if (t[p] == ':') {
        if (p + 1 >= len || t[p + 1] != ':')
            return 0;
        dcolon = 1;
        p += 2;
    }
    for (;;) {
        size_t q = p, e4;
        while (q < len && q - p < 5 && is_hex(t[q]))
            q++;
        if (q == p)
            return 0;
        if (q - p > 4)
            return 0;
        if (q < len && t[q] == '.' && ipv4_at(t, len, p, &e4)) {
            groups += 2;
            written += 2;
            digit = 1;
            p = e4;
            break;
        }
        for (size_t k = p; k < q; k++)
            digit |= is_digit(t[k]);
        groups++;
        written++;
        p = q;
        if (p + 1 < len && t[p] == ':' && t[p + 1] == ':') {
            if (dcolon)
                return 0;
            dcolon = 1;
            p += 2;
            if (p >= len || !is_hex(t[p]))
                break;
            continue;
        }
        if (p + 1 < len && t[p] == ':' && is_hex(t[p + 1])) {
            p++;
            continue;
        }
        break;
    }
    if (dcolon ? groups > 7 : groups != 8)
        return 0;
    if (written < 2 || !digit)
        return 0;
    if (p < len && (is_word(t[p]) || t[p] == ':'))
        return 0;
    if (!right_ok(t, len, p))
        return 0;
    *end = p;
    return 1;
}

/* "+CC ..." with 8-15 digits in all (E.164), grouped or written together. */
static int try_phone_intl(uchar *t, size_t len, size_t i, size_t *end)
{
    group_t g[MAX_GROUPS];
    size_t ng;

    if (i > 0 && t[i - 1] == '+')
        return 0;
    if (i + 1 >= len || !is_digit(t[i + 1]) || t[i + 1] == '0')
        return 0;
    ng = parse_groups(t, len, i + 1, " -.", 1, g);
    if (ng == 0 || g[0].paren)
        return 0;
    for (size_t k = ng; k >= 1; k--) {
        size_t n = 0, j;
        int ok = 1;
        for (j = 0; j < k; j++)
            n += g[j].digits;
        if (n < 8 || n > 15)
            continue;
        if (k > 1) {
            if (g[0].digits > 4)
                ok = 0;
            for (j = 1; j < k && ok; j++)
                if (g[j].digits > 6)
                    ok = 0;
        }
        if (ok && right_ok(t, len, g[k - 1].end)) {
            *end = g[k - 1].end;
            return 1;
        }
    }
    return 0;
}

/* National forms need separators: "(415) 555-2671", "415-555-2671",
 * "020 7946 0958", "06 12 34 56 78", "1-800-555-0199"; 10 or 11 digits. */
static int phone_national_ok(uchar *t, size_t i, const group_t *g, size_t k)
{
    size_t n = 0, j;
    int sep = -1, all3 = 1, pairs = 0;

    for (j = 0; j < k; j++) {
        n += g[j].digits;
        /* pairs ("06 12 34 56 78", "044 668 18 00") run to the end:
         * "123-45-67890" is no phone */
        if (pairs && g[j].digits != 2)
            return 0;
        if (j > 0 && g[j].digits == 2)
            pairs = 1;
        if (g[j].paren && (j != 0 || g[j].digits < 2 || g[j].digits > 4))
            return 0;
        if (!g[j].paren && (g[j].digits > 6 || (g[j].digits < 2 && j != 0)))
            return 0;
        if (j > 0 && g[j].digits != 3)
            all3 = 0;
        if (j > 0 && !g[j].paren && !g[j - 1].paren) {
            if (sep == -1)
                sep = g[j].sep;
            else if (sep != g[j].sep)
                return 0;
        }
    }
    if (n < 10 || n > 11)
        return 0;
    if (g[0].digits == 1) {
        /* only the North American trunk "1-800-555-0199" */
        if (t[i] != '1' || k != 4 || g[1].digits != 3 || g[2].digits != 3 ||
            g[3].digits != 4)
            return 0;
    }
    if (sep == '.') {
        size_t o = g[0].digits == 1 ? 1 : 0;
        if (k != o + 3 || g[o].digits != 3 || g[o + 1].digits != 3 ||
            g[o + 2].digits != 4)
            return 0;
    }
    /* "12 000 000 000": thousands, not a phone */
    if ((sep == ' ' || sep == '.') && all3 && g[0].digits <= 3 && !g[0].paren)
        return 0;
    return 1;
}

static int try_phone_national(uchar *t, size_t len, size_t i, size_t *end)
{
    group_t g[MAX_GROUPS];
    size_t ng;

    if (i > 0 && t[i - 1] == '+')
        return 0;
    /* the tail of a longer run of groups, as in an IBAN or a card */
    if (i >= 2 && t[i - 1] == ' ' && is_digit(t[i - 2]))
        return 0;
    ng = parse_groups(t, len, i, " -.", 1, g);
    for (size_t k = ng; k >= 2; k--) {
        if (phone_national_ok(t, i, g, k) && right_ok(t, len, g[k - 1].end)) {
            *end = g[k - 1].end;
            return 1;
        }
    }
    return 0;
}

/* Chinese mobile numbers are usually written as 11 digits together. */
static int try_phone_cn_mobile(uchar *t, size_t len, size_t i, size_t *end)
{
    if (len - i < 11 || t[i] != '1' || t[i + 1] < '3' || t[i + 1] > '9')
        return 0;
    if (digit_run(t, len, i) != 11 || !right_ok(t, len, i + 11))
        return 0;
    if (i > 0 && t[i - 1] == '+')
        return 0;
    *end = i + 11;
    return 1;
}

static int try_iban(uchar *t, size_t len, size_t i, size_t *end)
{
    char buf[34];
    size_t want, n = 4, p = i + 4;

    if (len - i < 15 || !is_upper(t[i]) || !is_upper(t[i + 1]) ||
        !is_digit(t[i + 2]) || !is_digit(t[i + 3]))
        return 0;
    want = iban_len(t + i);
    if (want == 0)
        return 0;
    memcpy(buf, t + i, 4);
    while (n < want && p < len) {
        if (is_upper(t[p]) || is_digit(t[p])) {
            buf[n++] = (char)t[p++];
        } else if (t[p] == ' ' && n % 4 == 0 && p + 1 < len &&
                   (is_upper(t[p + 1]) || is_digit(t[p + 1]))) {
            p++;                    /* printed in groups of four */
        } else {
            break;
        }
    }
    if (n != want || (p < len && is_word(t[p])))
        return 0;
    if (!pii_iban_ok(buf, n))
        return 0;
    *end = p;
    return 1;
}

/* ---- the pass -------------------------------------------------------- */

enum { S_DIGIT = 1, S_PLUS, S_PAREN, S_UPPER, S_HEXLOW, S_COLON };

static unsigned char start_class(int c)
{
    if (is_digit(c))
        return S_DIGIT;
    if (c == '+')
        return S_PLUS;
    if (c == '(')
        return S_PAREN;
    if (is_upper(c))
        return S_UPPER;
    if (c >= 'a' && c <= 'f')
        return S_HEXLOW;
    if (c == ':')
        return S_COLON;
    return 0;
}

static int try_at(uchar *t, size_t len, size_t i, unsigned mask,
                  size_t *end, int *type)
{
    int c = t[i];

#define TRY(bit, fn) \
    if ((mask & (1u << (bit))) && fn(t, len, i, end)) { *type = (bit); return 1; }

    switch (start_class(c)) {
    case S_DIGIT:
        if (!left_ok(t, i))
            return 0;
        TRY(PII_CN_ID, try_cn_id);
        TRY(PII_CARD, try_card);
        TRY(PII_SSN, try_ssn);
        TRY(PII_IP, try_ipv4);
        TRY(PII_IP, try_ipv6);
        TRY(PII_PHONE, try_phone_national);
        TRY(PII_PHONE, try_phone_cn_mobile);
        return 0;
    case S_PLUS:
        TRY(PII_PHONE, try_phone_intl);
        return 0;
    case S_PAREN:
        TRY(PII_PHONE, try_phone_national);
        return 0;
    case S_UPPER:
        TRY(PII_IBAN, try_iban);
        if (is_hex(c))
            TRY(PII_IP, try_ipv6);
        return 0;
    case S_HEXLOW:
    case S_COLON:
        TRY(PII_IP, try_ipv6);
        return 0;
    default:
        return 0;
    }
#undef TRY
}

/* ---- skipping to the next possible start ---------------------------- */

/* A byte every match holds within its first five (see try_at): a digit
 * or ':', which are 0x30..0x3a. */
static int is_trigger(int c)
{
    return c >= '0' && c <= ':';
}

#define ONES   0x0101010101010101ull
#define HIGHS  0x8080808080808080ull

/* 0 when none of the eight bytes in x is a trigger: a range test that is
 * exact for each byte below 0x80 (no carry or borrow crosses bytes), and
 * bytes from 0x80 up are masked out. */
static uint64_t may_trigger(uint64_t x)
{
    uint64_t low = x & (ONES * 127);

    return (ONES * (127 + 0x3b) - low) & ~x & (low + ONES * (127 - 0x2f)) & HIGHS;
}

/* The first trigger at or after i, or len. */
static size_t next_trigger(uchar *t, size_t len, size_t i)
{
    for (;;) {
        size_t stop;
        while (len - i >= 8) {
            uint64_t x;
            memcpy(&x, t + i, 8);
            if (may_trigger(x))
                break;
            i += 8;
        }
        stop = len - i > 8 ? i + 8 : len;
        for (; i < stop; i++)
            if (is_trigger(t[i]))
                return i;
        if (i >= len)
            return len;
    }
}

int pii_scan(const char *text, size_t len, unsigned mask, pii_matches_t *out)
{
    uchar *t = (uchar *)text;
    pii_matches_t emails = {0};
    size_t i = 0, ei = 0, window_from = 0, window_end = 0;
    int rc = 0;

    if (text == NULL || len == 0)
        return 0;
    if ((mask & (1u << PII_EMAIL)) && find_emails(t, len, &emails) < 0)
        rc = -1;

    while (i < len && rc == 0) {
        size_t limit = ei < emails.n ? emails.v[ei].start : len;
        size_t end = 0;
        int type = 0;

        if (i >= limit) {
            rc = push(out, emails.v[ei].start, emails.v[ei].end, PII_EMAIL);
            i = emails.v[ei].end;
            ei++;
            continue;
        }
        /* No match starts more than four bytes before the next trigger:
         * jump there (but not past the next e-mail address), then look at
         * each position up to the trigger. */
        if (i < window_from || i >= window_end) {
            size_t p = next_trigger(t, len, i);
            if (p == len) {
                i = limit;
                window_from = window_end = 0;
            } else {
                window_from = p - i > 4 ? p - 4 : i;
                window_end = p + 1;
                while (window_end < len && is_trigger(t[window_end]))
                    window_end++;           /* numbers come in runs */
                i = window_from < limit ? window_from : limit;
            }
            continue;
        }
        /* most bytes start nothing, or sit inside a word */
        if (start_class(t[i]) == 0 || (i > 0 && is_word(t[i - 1]))) {
            i++;
            continue;
        }
        if (try_at(t, len, i, mask, &end, &type) && end <= limit) {
            rc = push(out, i, end, type);
            i = end;
            continue;
        }
        i++;
    }
    free(emails.v);
    return rc;
}

/* ---- streams: what later text could still extend ------------------- */

static int in_email(int c)
{
    return is_local(c) || c == '@';
}

/* digits written in groups (cards, phones, IBANs, SSNs, IDs, IPv4) */
static int in_number(int c)
{
    return is_digit(c) || is_upper(c) || c == ' ' || c == '-' || c == '.' ||
           c == '(' || c == ')' || c == '+' || c == 'x';
}

static int in_ipv6(int c)
{
    return is_hex(c) || c == ':' || c == '.';
}

/* Start of the run of class cls that ends the text. */
static size_t run_start(uchar *t, size_t len, int (*cls)(int))
{
    while (len > 0 && cls(t[len - 1]))
        len--;
    return len;
}

size_t pii_tail(const char *text, size_t len, unsigned mask)
{
    uchar *t = (uchar *)text;
    size_t from = len, s;

    if (text == NULL || len == 0)
        return 0;
    /* an address, and every type written without separators, is a run of
     * address characters: "alice", "alice@exa", "4111111111" */
    s = run_start(t, len, in_email);
    if (s < from)
        from = s;
    if (mask & ((1u << PII_PHONE) | (1u << PII_CARD) | (1u << PII_IBAN) |
                (1u << PII_SSN) | (1u << PII_CN_ID) | (1u << PII_IP))) {
        /* groups split by blanks: from the first byte that can start one,
         * so "see 415 555" keeps "415 555", not the blank before it */
        s = run_start(t, len, in_number);
        while (s < len && !(is_digit(t[s]) || is_upper(t[s]) || t[s] == '+' || t[s] == '('))
            s++;
        if (s < from)
            from = s;
    }
    if (mask & (1u << PII_IP)) {
        s = run_start(t, len, in_ipv6);
        if (s < from)
            from = s;
    }
    return len - from;
}
