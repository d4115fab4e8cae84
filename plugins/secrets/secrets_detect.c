/*
 * secrets_detect.c: one left-to-right pass. Credentials almost always begin
 * with a fixed prefix (AKIA, sk-ant-, ghp_, eyJ, -----BEGIN ...) or follow
 * a fixed word (Bearer, aws_secret_access_key, AccountKey=, Password=), so
 * the pass looks only at word starts where one of those words is (found
 * by secrets_prefix.c in one Vectorscan pass), and a small parser per kind
 * checks the prefix, the token's alphabet and length, and that it is not
 * a documentation placeholder ("AKIA...EXAMPLE", "sk-xxxx", "<your-token>",
 * "user:password@").
 */

#include "secrets.h"

#include <stdlib.h>
#include <string.h>

typedef const unsigned char uchar;

static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_upper(int c) { return c >= 'A' && c <= 'Z'; }
static int is_lower(int c) { return c >= 'a' && c <= 'z'; }
static int is_alnum(int c) { return is_upper(c) || is_lower(c) || is_digit(c); }
static int is_word(int c)  { return is_alnum(c) || c == '_'; }
static int lower(int c)    { return is_upper(c) ? c + 32 : c; }

/* token alphabets */
static int c_alnum(int c)  { return is_alnum(c); }
static int c_upnum(int c)  { return is_upper(c) || is_digit(c); }
static int c_url64(int c)  { return is_alnum(c) || c == '-' || c == '_'; }
static int c_b64(int c)    { return is_alnum(c) || c == '+' || c == '/' || c == '='; }
static int c_wordc(int c)  { return is_word(c); }
static int c_slack(int c)  { return is_alnum(c) || c == '-'; }
static int c_bearer(int c)
{
    return is_alnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
           c == '+' || c == '/' || c == '=';
}

static size_t run(uchar *t, size_t len, size_t p, int (*cls)(int))
{
    size_t q = p;
    while (q < len && cls(t[q]))
        q++;
    return q - p;
}

/* the same, stopping after max bytes: callers reject anything longer */
static size_t run_max(uchar *t, size_t len, size_t p, int (*cls)(int), size_t max)
{
    size_t q = p, lim = len - p > max ? p + max : len;
    while (q < lim && cls(t[q]))
        q++;
    return q - p;
}

static int has_prefix(uchar *t, size_t len, size_t p, const char *s)
{
    size_t n = strlen(s);
    return len - p >= n && memcmp(t + p, s, n) == 0;
}

static int has_prefix_ci(uchar *t, size_t len, size_t p, const char *s)
{
    size_t n;
    /* most calls fail on the second byte: spare the strlen */
    if (len - p < 2 || lower(t[p + 1]) != lower((uchar)s[1]))
        return 0;
    n = strlen(s);
    if (len - p < n)
        return 0;
    for (size_t k = 0; k < n; k++)
        if (lower(t[p + k]) != lower((uchar)s[k]))
            return 0;
    return 1;
}

static int contains_ci(uchar *s, size_t n, const char *w)
{
    size_t m = strlen(w);
    for (size_t k = 0; k + m <= n; k++) {
        size_t j = 0;
        while (j < m && lower(s[k + j]) == lower((uchar)w[j]))
            j++;
        if (j == m)
            return 1;
    }
    return 0;
}

int sec_is_placeholder(const char *str, size_t n)
{
    static const char *marks[] = {
        "example", "xxxx", "placeholder", "your", "dummy", "redacted",
        "sample", "changeme", "****", "...", "<", ">", "${", "{{", "%s",
        "12345678", "abcdefgh", "0000000", "fake", "insert", "replace",
    };
    uchar *s = (uchar *)str;
    size_t same = 1;

    for (size_t k = 0; k < sizeof(marks) / sizeof(marks[0]); k++)
        if (contains_ci(s, n, marks[k]))
            return 1;
    for (size_t k = 1; k < n; k++) {
        same = (s[k] == s[k - 1]) ? same + 1 : 1;
        if (same >= 6)
            return 1;
    }
    return 0;
}

/* Random-looking: a mix of letters and digits, enough different bytes,
 * and no placeholder words. Kills "sk-this-is-not-a-real-key". */
static int looks_random(uchar *s, size_t n)
{
    unsigned char seen[256] = {0};
    size_t distinct = 0;
    int digit = 0, alpha = 0;

    for (size_t k = 0; k < n; k++) {
        if (!seen[s[k]]++)
            distinct++;
        digit |= is_digit(s[k]);
        alpha |= is_upper(s[k]) || is_lower(s[k]);
    }
    if (!digit || !alpha || distinct < (n < 16 ? n / 2 : 8))
        return 0;
    return !sec_is_placeholder((const char *)s, n);
}

static int push(sec_matches_t *m, size_t s, size_t e, int kind)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        sec_match_t *v = realloc(m->v, cap * sizeof(*v));
        if (v == NULL)
            return -1;
        m->v = v;
        m->cap = cap;
    }
    m->v[m->n].start = s;
    m->v[m->n].end = e;
    m->v[m->n].kind = kind;
    m->n++;
    return 0;
}

/* A match found by a parser: [start, end) and its kind. */
typedef struct {
    size_t  start;
    size_t  end;
    int     kind;
} hit_t;

static int hit(hit_t *h, size_t s, size_t e, int kind)
{
    h->start = s;
    h->end = e;
    h->kind = kind;
    return 1;
}

/* ---- fixed-prefix keys ------------------------------------------------ */

static int try_aws_id(uchar *t, size_t len, size_t i, hit_t *h)
{
    static const char *pfx[] = {"AKIA", "ASIA", "ABIA", "ACCA"};
    size_t n = run(t, len, i, c_upnum);

    if (n != 20 || (i + n < len && is_word(t[i + n])))
        return 0;
    for (size_t k = 0; k < 4; k++)
        if (memcmp(t + i, pfx[k], 4) == 0)
            return !sec_is_placeholder((const char *)t + i, n) &&
                   hit(h, i, i + n, SEC_AWS_KEY);
    return 0;
}

static int try_gcp(uchar *t, size_t len, size_t i, hit_t *h)
{
    size_t n;

    if (!has_prefix(t, len, i, "AIza"))
        return 0;
    n = run(t, len, i, c_url64);
    if (n != 39 || !looks_random(t + i + 4, n - 4))
        return 0;
    return hit(h, i, i + n, SEC_GCP_KEY);
}

/* sk-ant-..., sk-proj-..., sk-<32 hex> (DeepSeek), sk-... (OpenAI) */
static int try_sk(uchar *t, size_t len, size_t i, hit_t *h)
{
    size_t n, body, k;
    int kind, hex = 1;

    if (!has_prefix(t, len, i, "sk-"))
        return 0;
    n = run(t, len, i, c_url64);
    while (n > 3 && (t[i + n - 1] == '-' || t[i + n - 1] == '_'))
        n--;                        /* a dash after the key is prose */
    if (has_prefix(t, len, i, "sk-ant-")) {
        body = 7;
        kind = SEC_ANTHROPIC_KEY;
        if (n < body + 32)
            return 0;
    } else {
        if (has_prefix(t, len, i, "sk-proj-"))
            body = 8;
        else if (has_prefix(t, len, i, "sk-svcacct-"))
            body = 11;
        else if (has_prefix(t, len, i, "sk-admin-"))
            body = 9;
        else
            body = 3;
        for (k = 3; k < n; k++)
            if (!is_digit(t[i + k]) && !(t[i + k] >= 'a' && t[i + k] <= 'f'))
                hex = 0;
        kind = (body == 3 && hex && n == 35) ? SEC_DEEPSEEK_KEY : SEC_OPENAI_KEY;
        if (n < body + 20)
            return 0;
    }
    if (!looks_random(t + i + body, n - body))
        return 0;
    return hit(h, i, i + n, kind);
}

static int try_stripe(uchar *t, size_t len, size_t i, hit_t *h)
{
    size_t n;

    if (!has_prefix(t, len, i, "sk_live_") && !has_prefix(t, len, i, "rk_live_"))
        return 0;
    n = run(t, len, i + 8, c_alnum);
    if (n < 20 || (i + 8 + n < len && is_word(t[i + 8 + n])))
        return 0;
    if (!looks_random(t + i + 8, n))
        return 0;
    return hit(h, i, i + 8 + n, SEC_STRIPE_KEY);
}

static int try_github(uchar *t, size_t len, size_t i, hit_t *h)
{
    size_t n;

    if (has_prefix(t, len, i, "github_pat_")) {
        n = run(t, len, i + 11, c_wordc);
        if (n < 22 || !looks_random(t + i + 11, n))
            return 0;
        return hit(h, i, i + 11 + n, SEC_GITHUB_TOKEN);
    }
    if (len - i < 4 || t[i] != 'g' || t[i + 1] != 'h' || t[i + 3] != '_' ||
        strchr("pousr", t[i + 2]) == NULL || t[i + 2] == '\0')
        return 0;
    n = run(t, len, i + 4, c_alnum);
    if (n < 36 || n > 251 || (i + 4 + n < len && is_word(t[i + 4 + n])))
        return 0;
    if (!looks_random(t + i + 4, n))
        return 0;
    return hit(h, i, i + 4 + n, SEC_GITHUB_TOKEN);
}

static int try_slack(uchar *t, size_t len, size_t i, hit_t *h)
{
    size_t p, n;

    if (has_prefix(t, len, i, "xapp-"))
        p = i + 5;
    else if (len - i >= 5 && has_prefix(t, len, i, "xox") && t[i + 3] != '\0' &&
             strchr("abprse", t[i + 3]) != NULL && t[i + 4] == '-')
        p = i + 5;
    else
        return 0;
    n = run(t, len, p, c_slack);
    while (n > 0 && t[p + n - 1] == '-')
        n--;
    if (n < 20 || !looks_random(t + p, n))
        return 0;
    return hit(h, i, p + n, SEC_SLACK_TOKEN);
}

static int try_ya29(uchar *t, size_t len, size_t i, hit_t *h)
{
    size_t n;

    if (!has_prefix(t, len, i, "ya29."))
        return 0;
    n = run(t, len, i + 5, c_url64);
    if (n < 20 || !looks_random(t + i + 5, n))
        return 0;
    return hit(h, i, i + 5 + n, SEC_GOOGLE_OAUTH);
}

/* ---- JWT ---------------------------------------------------------------- */

static int b64url_val(int c)
{
    if (is_upper(c)) return c - 'A';
    if (is_lower(c)) return c - 'a' + 26;
    if (is_digit(c)) return c - '0' + 52;
    if (c == '-' || c == '+') return 62;
    if (c == '_' || c == '/') return 63;
    return -1;
}

/* The first part must decode to a JSON object naming "alg". */
int sec_jwt_header_ok(const char *b64, size_t n)
{
    unsigned char out[1536];
    size_t o = 0, k;
    unsigned acc = 0;
    int bits = 0;

    if (n < 4 || n > 2048)
        return 0;
    for (k = 0; k < n; k++) {
        int v = b64url_val((uchar)b64[k]);
        if (v < 0)
            return 0;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    k = 0;
    while (k < o && (out[k] == ' ' || out[k] == '\t' || out[k] == '\r' || out[k] == '\n'))
        k++;
    if (k >= o || out[k] != '{')
        return 0;
    return contains_ci(out, o, "\"alg\"");
}

static int try_jwt(uchar *t, size_t len, size_t i, hit_t *h)
{
    size_t h_len, p_len, s_len, end, parts = 3;

    if (!has_prefix(t, len, i, "eyJ"))
        return 0;
    h_len = run(t, len, i, c_url64);
    if (h_len < 10 || i + h_len >= len || t[i + h_len] != '.')
        return 0;
    p_len = run(t, len, i + h_len + 1, c_url64);
    if (p_len < 10 || t[i + h_len + 1] != 'e' || t[i + h_len + 2] != 'y')
        return 0;
    end = i + h_len + 1 + p_len;
    if (end >= len || t[end] != '.')
        return 0;
    s_len = run(t, len, end + 1, c_url64);
    end += 1 + s_len;
    /* JWE has five parts */
    while (parts < 5 && end + 1 < len && t[end] == '.' && c_url64(t[end + 1])) {
        end += 1 + run(t, len, end + 1, c_url64);
        parts++;
    }
    if (!sec_jwt_header_ok((const char *)t + i, h_len))
        return 0;
    return hit(h, i, end, SEC_JWT);
}

/* ---- private key blocks ---------------------------------------------- */

#define KEY_BLOCK_MAX  (64 * 1024)

/* memmem is not in C11 */
static const uchar *find_mem(uchar *t, size_t len, const char *w)
{
    size_t n = strlen(w), p = 0;

    while (p + n <= len) {
        const uchar *c = memchr(t + p, w[0], len - p - n + 1);
        if (c == NULL)
            return NULL;
        if (memcmp(c, w, n) == 0)
            return c;
        p = (size_t)(c - t) + 1;
    }
    return NULL;
}

/* The end of an "-----END ... PRIVATE KEY...-----" line starting at e. */
static size_t end_line(uchar *t, size_t len, size_t e)
{
    size_t p = e + 9, lim = e + 80 < len ? e + 80 : len;
    while (p + 5 <= lim) {
        if (memcmp(t + p, "-----", 5) == 0)
            return p + 5;
        p++;
    }
    return 0;
}

/* Base64 body from p: its end, and how many base64 bytes it holds. Lines
 * may be separated by real newlines or a JSON "\n". */
static size_t key_body(uchar *t, size_t len, size_t p, size_t *nb64)
{
    size_t last = p, lim = len - p > KEY_BLOCK_MAX ? p + KEY_BLOCK_MAX : len;

    *nb64 = 0;
    while (p < lim) {
        if (c_b64(t[p])) {
            (*nb64)++;
            last = ++p;
        } else if (t[p] == ' ' || t[p] == '\t' || t[p] == '\r' || t[p] == '\n' ||
                   t[p] == '\\') {
            p++;
        } else {
            break;
        }
    }
    return last;
}

/* Where the next "-----END " is, remembered across the headers of one
 * scan so that many BEGIN lines without an END cost one search in all,
 * not one 64 KiB search each. Known: no END starts in [from, scan_to);
 * when found, the first one is at `at` (and scan_to == at). */
typedef struct {
    size_t  from;
    size_t  scan_to;
    size_t  at;
    int     found;
} end_cache_t;

static const uchar *find_end(uchar *t, size_t from, size_t lim, end_cache_t *c)
{
    if (from < c->from || from > c->scan_to) {
        c->from = from;
        c->scan_to = from;
        c->found = 0;
    }
    if (!c->found && lim > c->scan_to) {
        const uchar *e = find_mem(t + c->scan_to, lim - c->scan_to, "-----END ");
        if (e != NULL) {
            c->found = 1;
            c->at = (size_t)(e - t);
            c->scan_to = c->at;
        } else if (lim - c->scan_to > 8) {
            c->scan_to = lim - 8;       /* an END may still start in the tail */
        }
    }
    return c->found && c->at + 9 <= lim ? t + c->at : NULL;
}

static int try_private_key(uchar *t, size_t len, size_t i, hit_t *h,
                           end_cache_t *cache)
{
    size_t p, hdr_end, body_end, nb64, lim;
    const uchar *e;

    if (!has_prefix(t, len, i, "-----BEGIN ") || (i > 0 && t[i - 1] == '-'))
        return 0;
    p = i + 11;
    lim = len - p > 60 ? p + 60 : len;
    while (p < lim && (is_upper(t[p]) || is_digit(t[p]) || t[p] == ' ') &&
           !has_prefix(t, len, p, "PRIVATE KEY"))
        p++;
    if (!has_prefix(t, len, p, "PRIVATE KEY"))
        return 0;
    p += 11;
    while (p < lim && (is_upper(t[p]) || t[p] == ' '))
        p++;                                /* "PRIVATE KEY BLOCK" (PGP) */
    if (!has_prefix(t, len, p, "-----"))
        return 0;
    hdr_end = p + 5;

    lim = len - hdr_end > KEY_BLOCK_MAX ? hdr_end + KEY_BLOCK_MAX : len;
    e = find_end(t, hdr_end, lim, cache);
    if (e != NULL) {
        size_t at = (size_t)(e - t), stop = end_line(t, len, at), nb = 0;
        /* enough base64 between the lines? (Proc-Type: headers count too) */
        for (size_t k = hdr_end; k < at && nb < 64; k++)
            nb += c_b64(t[k]) != 0;
        if (stop != 0 && nb >= 64)
            return hit(h, i, stop, SEC_PRIVATE_KEY);
        if (nb < 64)
            return 0;                       /* "-----BEGIN..." "..." "-----END" */
    }
    /* cut short (a streamed chunk, a truncated paste): mask what is there */
    body_end = key_body(t, len, hdr_end, &nb64);
    if (nb64 < 64)
        return 0;
    return hit(h, i, body_end, SEC_PRIVATE_KEY);
}

/* ---- credentials after a word --------------------------------------- */

static size_t skip_assign(uchar *t, size_t len, size_t p)
{
    size_t lim = len - p > 12 ? p + 12 : len;
    while (p < lim && (t[p] == ' ' || t[p] == '\t' || t[p] == '"' || t[p] == '\'' ||
                       t[p] == ':' || t[p] == '=' || t[p] == '>'))
        p++;
    return p;
}

/* aws_secret_access_key = <40 chars>, "SecretAccessKey": "<40 chars>" */
static int try_aws_secret(uchar *t, size_t len, size_t i, hit_t *h)
{
    size_t p = i, n;

    if (has_prefix_ci(t, len, p, "aws")) {
        p += 3;
        if (p < len && (t[p] == '_' || t[p] == '-'))
            p++;
        if (!has_prefix_ci(t, len, p, "secret"))
            return 0;
    } else if (has_prefix_ci(t, len, p, "secret_access_key") ||
               has_prefix_ci(t, len, p, "secretaccesskey")) {
        /* fine */
    } else {
        return 0;
    }
    while (p < len && (is_word(t[p]) || t[p] == '-'))
        p++;
    p = skip_assign(t, len, p);
    n = run(t, len, p, c_b64);
    if (n != 40 || !looks_random(t + p, n))
        return 0;
    return hit(h, p, p + n, SEC_AWS_SECRET);
}

static int try_azure(uchar *t, size_t len, size_t i, hit_t *h)
{
    size_t p, n;

    if (has_prefix_ci(t, len, i, "AccountKey="))
        p = i + 11;
    else if (has_prefix_ci(t, len, i, "SharedAccessKey="))
        p = i + 16;
    else
        return 0;
    n = run(t, len, p, c_b64);
    if (n < 40 || n > 200 || !looks_random(t + p, n))
        return 0;
    return hit(h, p, p + n, SEC_AZURE_KEY);
}

static int password_placeholder(uchar *s, size_t n)
{
    static const char *words[] = {
        "password", "pass", "passwd", "pwd", "pw", "secret", "changeme",
        "mypassword", "yourpassword", "your_password", "your-password",
        "pass123", "p@ssw0rd", "xxx", "***", "...",
    };
    if (n == 0 || s[0] == '$' || s[0] == '%' || s[0] == '[' || s[0] == '(' ||
        sec_is_placeholder((const char *)s, n))
        return 1;
    for (size_t k = 0; k < sizeof(words) / sizeof(words[0]); k++)
        if (strlen(words[k]) == n && contains_ci(s, n, words[k]))
            return 1;
    return 0;
}

static int c_userinfo(int c)
{
    return c > 0x20 && c < 0x7f && c != ':' && c != '@' && c != '/' &&
           c != '"' && c != '\'' && c != '<' && c != '>' && c != '`';
}

static int c_pass(int c)
{
    return c > 0x20 && c < 0x7f && c != '@' && c != '/' && c != '"' &&
           c != '\'' && c != '`';
}

static int c_hosts(int c)
{
    return is_alnum(c) || c == '.' || c == '-' || c == ',' || c == ':' ||
           c == '[' || c == ']' || c == '_';
}

/* scheme://user:password@host[:port][,host2...] */
static int try_uri(uchar *t, size_t len, size_t i, hit_t *h)
{
    static const char *schemes[] = {
        "postgresql://", "postgres://", "mysql://", "mariadb://",
        "mongodb+srv://", "mongodb://", "rediss://", "redis://",
        "amqps://", "amqp://",
    };
    size_t p = 0, u, pw, host;

    for (size_t k = 0; k < sizeof(schemes) / sizeof(schemes[0]) && p == 0; k++)
        if (lower(t[i]) == schemes[k][0] && has_prefix_ci(t, len, i, schemes[k]))
            p = i + strlen(schemes[k]);
    if (p == 0)
        return 0;
    u = run_max(t, len, p, c_userinfo, 129);
    if (u > 128 || p + u >= len || t[p + u] != ':')
        return 0;
    p += u + 1;
    pw = run_max(t, len, p, c_pass, 257);
    if (pw == 0 || pw > 256 || p + pw >= len || t[p + pw] != '@')
        return 0;
    if (password_placeholder(t + p, pw))
        return 0;
    p += pw + 1;
    host = run_max(t, len, p, c_hosts, 1024);
    while (host > 0 && (t[p + host - 1] == '.' || t[p + host - 1] == ',' ||
                        t[p + host - 1] == ':'))
        host--;                             /* sentence punctuation */
    if (host == 0)
        return 0;
    return hit(h, i, p + host, SEC_CONN_STRING);
}

/* ADO.NET / ODBC: "...;Password=s3cr3t;" or "Pwd={s3;cr3t}" */
static int try_ado_password(uchar *t, size_t len, size_t i, hit_t *h)
{
    size_t p, v, back;
    int semi_before = 0;

    if (has_prefix_ci(t, len, i, "password="))
        p = i + 9;
    else if (has_prefix_ci(t, len, i, "pwd="))
        p = i + 4;
    else
        return 0;
    /* part of a key=value; list: a ';' earlier on the line, or after */
    for (back = i; back > 0 && i - back < 512; back--) {
        if (t[back - 1] == '\n')
            break;
        if (t[back - 1] == ';') {
            semi_before = 1;
            break;
        }
    }
    if (p < len && t[p] == '{') {
        size_t q = p + 1;
        while (q < len && q - p < 256 && t[q] != '}' && t[q] != '\n')
            q++;
        if (q >= len || t[q] != '}' || q == p + 1)
            return 0;
        v = q + 1 - p;
    } else {
        v = 0;
        while (p + v < len && v < 256 && t[p + v] > 0x20 && t[p + v] < 0x7f &&
               t[p + v] != ';' && t[p + v] != '"' && t[p + v] != '\'')
            v++;
        if (v == 0)
            return 0;
        if (!semi_before && (p + v >= len || t[p + v] != ';'))
            return 0;
    }
    if (password_placeholder(t + p, v))
        return 0;
    return hit(h, p, p + v, SEC_CONN_STRING);
}

/* ---- dispatch ------------------------------------------------------- */

static int try_specific(uchar *t, size_t len, size_t i, unsigned mask, hit_t *h);

/* "Authorization: Bearer <token>": a known kind if the token is one. */
static int try_bearer(uchar *t, size_t len, size_t i, unsigned mask, hit_t *h)
{
    size_t p, n, sp;

    if (!has_prefix_ci(t, len, i, "bearer"))
        return 0;
    p = i + 6;
    sp = 0;
    while (p < len && sp < 4 && (t[p] == ' ' || t[p] == '\t')) {
        p++;
        sp++;
    }
    if (sp == 0 || p >= len)
        return 0;
    n = run(t, len, p, c_bearer);
    while (n > 0 && t[p + n - 1] == '.')
        n--;                                /* a full stop after the token */
    if (n < 20)
        return 0;
    if (try_specific(t, len, p, mask, h) && h->end == p + n)
        return 1;
    if (!(mask & (1u << SEC_BEARER)) || !looks_random(t + p, n))
        return 0;
    return hit(h, p, p + n, SEC_BEARER);
}

#define ON(k) (mask & (1u << (k)))

/* Kinds recognised by their own prefix. */
static int try_specific(uchar *t, size_t len, size_t i, unsigned mask, hit_t *h)
{
    switch (t[i]) {
    case 'A':
        return (ON(SEC_AWS_KEY) && try_aws_id(t, len, i, h)) ||
               (ON(SEC_GCP_KEY) && try_gcp(t, len, i, h));
    case 's':
        return (try_sk(t, len, i, h) && ON(h->kind)) ||
               (ON(SEC_STRIPE_KEY) && try_stripe(t, len, i, h));
    case 'r':
        return ON(SEC_STRIPE_KEY) && try_stripe(t, len, i, h);
    case 'g':
        return ON(SEC_GITHUB_TOKEN) && try_github(t, len, i, h);
    case 'x':
        return ON(SEC_SLACK_TOKEN) && try_slack(t, len, i, h);
    case 'y':
        return ON(SEC_GOOGLE_OAUTH) && try_ya29(t, len, i, h);
    case 'e':
        return ON(SEC_JWT) && try_jwt(t, len, i, h);
    default:
        return 0;
    }
}

static int try_at(uchar *t, size_t len, size_t i, unsigned mask, hit_t *h,
                  end_cache_t *cache)
{
    int c = lower(t[i]);

    if (try_specific(t, len, i, mask, h))
        return 1;
    switch (c) {
    case '-':
        return ON(SEC_PRIVATE_KEY) && try_private_key(t, len, i, h, cache);
    case 'a':
        return (ON(SEC_AWS_SECRET) && try_aws_secret(t, len, i, h)) ||
               (ON(SEC_AZURE_KEY) && try_azure(t, len, i, h)) ||
               (ON(SEC_CONN_STRING) && try_uri(t, len, i, h));
    case 's':
        return (ON(SEC_AWS_SECRET) && try_aws_secret(t, len, i, h)) ||
               (ON(SEC_AZURE_KEY) && try_azure(t, len, i, h));
    case 'b':
        return try_bearer(t, len, i, mask, h);
    case 'p':
        return ON(SEC_CONN_STRING) &&
               (try_uri(t, len, i, h) || try_ado_password(t, len, i, h));
    case 'm':
    case 'r':
        return ON(SEC_CONN_STRING) && try_uri(t, len, i, h);
    default:
        return 0;
    }
}

static int can_start(int c)
{
    return c == '-' || c == 'A' || c == 'a' || c == 'S' || c == 's' || c == 'B' ||
           c == 'b' || c == 'P' || c == 'p' || c == 'M' || c == 'm' || c == 'R' ||
           c == 'r' || c == 'g' || c == 'x' || c == 'y' || c == 'e';
}

static int only_space_from(uchar *t, size_t len, size_t p)
{
    while (p < len && (t[p] == ' ' || t[p] == '\t' || t[p] == '\r' ||
                       t[p] == '\n' || t[p] == '\\'))
        p++;
    return p == len;
}

/* Inside a private key block carried over from the previous chunk: mask up
 * to its END line, or the whole chunk. Returns where scanning resumes. */
static size_t continue_key(uchar *t, size_t len, sec_stream_t *st,
                           sec_matches_t *out, int *rc)
{
    const uchar *e = find_mem(t, len, "-----END ");
    const uchar *b = find_mem(t, len, "-----BEGIN ");
    size_t stop = e ? end_line(t, len, (size_t)(e - t)) : 0;

    /* the overlap window still holds the BEGIN line: scan afresh, so the
     * text before it is not masked */
    if (b != NULL && (e == NULL || b < e)) {
        st->in_private_key = 0;
        return 0;
    }
    if (stop == 0) {
        size_t nb64, body = key_body(t, len, 0, &nb64);
        /* the overlap window may end the block's tail without END */
        *rc = body > 0 ? push(out, 0, body, SEC_PRIVATE_KEY) : 0;
        if (!only_space_from(t, len, body))
            st->in_private_key = 0;
        return body;
    }
    st->in_private_key = 0;
    *rc = push(out, 0, stop, SEC_PRIVATE_KEY);
    return stop;
}

int sec_scan(sec_finder_t *f, const char *text, size_t len, unsigned mask,
             sec_stream_t *st, sec_matches_t *out)
{
    uchar *t = (uchar *)text;
    end_cache_t cache = {0, 0, 0, 0};
    const size_t *at;
    size_t i = 0, nat, c;
    int rc = 0;

    if (text == NULL || len == 0)
        return 0;
    if (st != NULL && st->in_private_key && ON(SEC_PRIVATE_KEY))
        i = continue_key(t, len, st, out, &rc);
    if (rc != 0 || sec_finder_run(f, text, len, &at, &nat) != 0)
        return -1;

    /* every other position starts nothing: no parser accepts it */
    for (c = 0; c < nat && rc == 0; c++) {
        hit_t h;
        if (at[c] < i)
            continue;
        i = at[c];
        /* a credential starts a word: "task-list" holds no "sk-" */
        if (!can_start(t[i]) || (i > 0 && (t[i] == '-' ? t[i - 1] == '-' :
                                       is_word(t[i - 1]) || t[i - 1] == '-')))
            continue;
        if (try_at(t, len, i, mask, &h, &cache) && h.start >= i && h.end > h.start) {
            rc = push(out, h.start, h.end, h.kind);
            if (h.kind == SEC_PRIVATE_KEY && st != NULL &&
                only_space_from(t, len, h.end) &&
                find_mem(t + h.start, h.end - h.start, "-----END ") == NULL)
                st->in_private_key = 1;
            i = h.end;
        }
    }
    return rc;
}

/* ---- streams: what later text could still extend ------------------- */

static int c_token(int c)  { return c > 0x20 && c < 0x7f; }

/* The last "-----BEGIN " whose block is not closed yet by a whole END
 * line, or len. A BEGIN line that is complete and names no private key
 * (a certificate) opens nothing. */
static size_t open_key_block(uchar *t, size_t len)
{
    size_t b = len, p, stop;
    const uchar *e;

    for (p = len; p >= 11; p--) {
        if (t[p - 11] == '-' && memcmp(t + p - 11, "-----BEGIN ", 11) == 0) {
            b = p - 11;
            break;
        }
    }
    if (b == len)
        return len;
    stop = end_line(t, len, b + 2);     /* the header's closing dashes */
    if (stop != 0 && find_mem(t + b, stop - b, "PRIVATE KEY") == NULL)
        return len;
    e = find_mem(t + b, len - b, "-----END ");
    if (e == NULL || end_line(t, len, (size_t)(e - t)) == 0)
        return b;
    return len;
}

size_t sec_tail(const char *text, size_t len, unsigned mask, const sec_stream_t *st)
{
    uchar *t = (uchar *)text;
    size_t from = len, r, v, q, w, i, k;

    if (text == NULL || len == 0)
        return 0;
    /* inside a key block longer than a window: all of it, as in ABI 1 */
    if (ON(SEC_PRIVATE_KEY)) {
        if (st != NULL && st->in_private_key)
            return len;
        from = open_key_block(t, len);
    }

    /* a credential is one run without blanks that starts with a known
     * word at a word start: "sk-pro", "AKIA12", "postgres://u:p@h", or a
     * word cut short, "sk", "-----BEG" */
    r = len;
    while (r > 0 && c_token(t[r - 1]))
        r--;
    for (i = r; i < len && i < from; i++) {
        if (i > r && (t[i] == '-' ? t[i - 1] == '-' : (is_word(t[i - 1]) || t[i - 1] == '-')))
            continue;
        if (sec_prefix_at(text, len, i)) {
            from = i;
            break;
        }
    }

    /* a value after its name and blanks: "Bearer <token>",
     * "aws_secret_access_key = <value>" (the name itself is context) */
    v = len;
    while (v > 0 && c_bearer(t[v - 1]))
        v--;
    if (v < len && v < from) {
        q = v;
        for (k = 0; k < 12 && q > 0; k++, q--) {
            int c = t[q - 1];
            if (c != ' ' && c != '\t' && c != '"' && c != '\'' && c != ':' && c != '=' &&
                c != '>')
                break;
        }
        w = q;
        while (w > 0 && (is_word(t[w - 1]) || t[w - 1] == '-'))
            w--;
        if (q > w && (contains_ci(t + w, q - w, "secret") ||
                      (q - w >= 6 && has_prefix_ci(t, q, q - 6, "bearer"))))
            from = v;
    }

    /* "Pwd={a value with blanks": from its brace */
    for (i = len, k = 0; i > 0 && k < 257; i--, k++) {
        if (t[i - 1] == '}' || t[i - 1] == '\n')
            break;
        if (t[i - 1] == '{') {
            size_t o = i - 1;
            if (o < from && ((o >= 4 && has_prefix_ci(t, o, o - 4, "pwd=")) ||
                             (o >= 9 && has_prefix_ci(t, o, o - 9, "password="))))
                from = o;
            break;
        }
    }
    return len - from;
}
