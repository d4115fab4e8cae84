/*
 * audit_record: building request record lines, and reading them back fast.
 *
 * The module serialises a record once, outside its lock, and only prefixes
 * {"seq":N, under the lock, so the critical section is a memcpy and a
 * write. "seq" is always the first key so a verifier can read it without
 * parsing the line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "json_string.h"
#include "media.h"
#include "utf8.h"

void aigov_format_ts(int64_t ts_us, char out[32])
{
    /* floor division, written so that INT64_MIN cannot overflow */
    time_t sec = (time_t) (ts_us / 1000000 - (ts_us % 1000000 < 0));
    long us = (long) (ts_us % 1000000 + (ts_us % 1000000 < 0 ? 1000000 : 0));
    struct tm tm;

    if (gmtime_r(&sec, &tm) == NULL) {
        snprintf(out, 32, "1970-01-01T00:00:00.000000Z");
        return;
    }
    if (strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm) != 19) {
        snprintf(out, 32, "1970-01-01T00:00:00.000000Z");
        return;
    }
    snprintf(out + 19, 13, ".%06dZ", (int) (us % 1000000));
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int aigov_parse_ts(const char *s, int64_t *ts_us)
{
    int Y, M, D, h, m, sec, oh = 0, om = 0;
    int64_t frac = 0, scale = 100000;
    size_t i = 19, len = strlen(s);
    struct tm tm;

    if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
        || s[13] != ':' || s[16] != ':'
        || digits(s, 4, &Y) || digits(s + 5, 2, &M) || digits(s + 8, 2, &D)
        || digits(s + 11, 2, &h) || digits(s + 14, 2, &m) || digits(s + 17, 2, &sec)
        || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return -1;
    if (s[i] == '.') {
        i++;
        if (i >= len || s[i] < '0' || s[i] > '9')
            return -1;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            frac += (s[i] - '0') * scale;
            scale /= 10;
        }
    }
    if (s[i] == 'Z' || s[i] == 'z') {
        if (i + 1 != len)
            return -1;
    } else if ((s[i] == '+' || s[i] == '-') && i + 6 == len && s[i + 3] == ':'
               && !digits(s + i + 1, 2, &oh) && !digits(s + i + 4, 2, &om)) {
        if (s[i] == '-') {
            oh = -oh;
            om = -om;
        }
    } else {
        return -1;
    }
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sec;
    *ts_us = ((int64_t) timegm(&tm) - oh * 3600 - om * 60) * 1000000 + frac;
    return 0;
}

/* A string as the record holds it: well-formed UTF-8 (aigov_utf8_repair). */
static json_t *record_string(const char *v, size_t n)
{
    char *fixed;
    size_t m;
    json_t *j;

    if ((fixed = malloc(3 * n + 1)) == NULL)
        return NULL;
    m = aigov_utf8_repair(v, n, fixed);
    j = m ? json_stringn(fixed, m) : json_stringn(v, n);
    free(fixed);
    return j;
}

static int set_str(json_t *o, const char *k, const char *v)
{
    return json_object_set_new(o, k, v ? record_string(v, strlen(v)) : json_null());
}

/* What the writer writes for a json_t at nesting level `level` of the
 * line (the record object is level 1): strings and keys well-formed, a
 * container deeper than AIGOV_RECORD_MAX_DEPTH replaced by
 * AIGOV_RECORD_TOO_DEEP. */
static json_t *record_copy(const json_t *j, int level)
{
    json_t *c, *v;
    void *it;
    size_t i, n;

    if ((json_is_object(j) || json_is_array(j)) && level > AIGOV_RECORD_MAX_DEPTH)
        return json_string(AIGOV_RECORD_TOO_DEEP);
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        if ((c = json_object()) == NULL)
            return NULL;
        for (it = json_object_iter((json_t *) j); it;
             it = json_object_iter_next((json_t *) j, it)) {
            const char *k = json_object_iter_key(it);
            json_t *kj = record_string(k, strlen(k));

            v = record_copy(json_object_iter_value(it), level + 1);
            if (kj == NULL || v == NULL
                || json_object_set_new(c, json_string_value(kj), v) != 0) {
                json_decref(kj);
                json_decref(c);
                return NULL;
            }
            json_decref(kj);
        }
        return c;
    case JSON_ARRAY:
        if ((c = json_array()) == NULL)
            return NULL;
        n = json_array_size(j);
        for (i = 0; i < n; i++) {
            if (json_array_append_new(c, record_copy(json_array_get(j, i), level + 1)) != 0) {
                json_decref(c);
                return NULL;
            }
        }
        return c;
    case JSON_STRING:
        return record_string(json_string_value(j), json_string_length(j));
    default:
        return json_deep_copy(j);
    }
}

static int set_int(json_t *o, const char *k, int64_t v)
{
    return json_object_set_new(o, k, v >= 0 ? json_integer(v) : json_null());
}

static int set_json(json_t *o, const char *k, json_t *v)
{
    return json_object_set_new(o, k, v ? record_copy(v, 2) : json_null());
}

static int set_filters(json_t *o, const aigov_record_t *r)
{
    json_t *a, *f;
    int bad = 0;

    if (r->filters)
        return json_object_set_new(o, "filters", record_copy(r->filters, 2));
    a = json_array();
    if (a == NULL)
        return -1;
    for (size_t i = 0; i < r->nfilter_list && !bad; i++) {
        const aigov_record_filter_t *e = &r->filter_list[i];
        f = json_object();
        if (f == NULL || json_array_append_new(a, f) != 0) {
            bad = 1;
            break;
        }
        bad |= set_str(f, "plugin", e->plugin);
        bad |= set_str(f, "stage", e->stage);
        bad |= set_str(f, "verdict", e->verdict);
        bad |= json_object_set_new(f, "count", json_integer(e->count));
        if (e->not_inspected)
            bad |= json_object_set_new(f, "inspected", json_false());
    }
    if (bad) {
        json_decref(a);
        return -1;
    }
    return json_object_set_new(o, "filters", a);
}

json_t *aigov_record_json(const aigov_record_t *r)
{
    json_t *o = json_object(), *usage;
    char ts[32];
    int bad = 0;

    if (o == NULL)
        return NULL;
    aigov_format_ts(r->ts_us, ts);
    bad |= set_str(o, "ts", ts);
    bad |= set_str(o, "id", r->id);
    bad |= set_str(o, "sub", r->sub);
    bad |= set_json(o, "groups", r->groups);
    bad |= set_str(o, "iss", r->iss);
    bad |= set_json(o, "claims", r->claims);
    bad |= set_str(o, "method", r->method);
    bad |= set_str(o, "path", r->path);
    bad |= set_str(o, "endpoint", r->endpoint);
    bad |= set_str(o, "model", r->model);
    bad |= set_int(o, "max_tokens", r->max_tokens);
    if (r->max_tokens_injected)
        bad |= json_object_set_new(o, "max_tokens_injected", json_true());
    if (r->n > 1)
        bad |= json_object_set_new(o, "n", json_integer(r->n));
    bad |= set_int(o, "prompt_chars", r->prompt_chars);
    if (r->not_inspected)
        bad |= json_object_set_new(o, "inspected", json_false());
    if (r->unread)
        bad |= set_str(o, "unread", r->unread);
    if (r->background)
        bad |= json_object_set_new(o, "background", json_true());
    if (r->media) {
        json_t *m = json_array();

        for (unsigned k = 0; m && k < AIGOV_MEDIA_KINDS; k++)
            if (r->media & (1u << k))
                bad |= json_array_append_new(m, json_string(aigov_media_names[k]));
        bad |= json_object_set_new(o, "media", m);
    }
    bad |= json_object_set_new(o, "stream", json_boolean(r->stream));
    bad |= set_str(o, "decision", r->decision);
    bad |= set_str(o, "rule", r->rule);
    if (r->reason)
        bad |= set_str(o, "reason", r->reason);
    bad |= set_str(o, "policy_sha256", r->policy_sha256);
    bad |= json_object_set_new(o, "status", json_integer(r->status));
    bad |= set_filters(o, r);
    if (r->prompt_tokens < 0 && r->completion_tokens < 0) {
        bad |= json_object_set_new(o, "usage", json_null());
    } else {
        usage = json_object();
        bad |= usage == NULL;
        if (usage) {
            bad |= set_int(usage, "prompt_tokens", r->prompt_tokens);
            bad |= set_int(usage, "completion_tokens", r->completion_tokens);
            bad |= json_object_set_new(o, "usage", usage);
        }
    }
    bad |= set_str(o, "content", r->content ? r->content : "hash");
    if (r->hash_key)
        bad |= set_str(o, "hash_key", r->hash_key);
    if (r->prompt_sha256)
        bad |= set_str(o, r->hash_key ? "prompt_hmac" : "prompt_sha256", r->prompt_sha256);
    if (r->response_sha256)
        bad |= set_str(o, r->hash_key ? "response_hmac" : "response_sha256", r->response_sha256);
    if (r->prompt)
        bad |= set_str(o, "prompt", r->prompt);
    if (r->response)
        bad |= set_str(o, "response", r->response);
    if (r->quota_store)
        bad |= set_str(o, "quota_store", r->quota_store);
    if (r->phase)
        bad |= set_str(o, "phase", r->phase);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

char *aigov_record_body(const json_t *rec, size_t *len)
{
    char *s;

    if (!json_is_object(rec) || json_object_get(rec, "seq") != NULL)
        return NULL;
    /* COMPACT keeps it on one line: jansson escapes every C0 control
     * inside strings, so a newline can only end the line; the other
     * characters that tools take for line breaks are escaped after it. */
    s = json_dumps(rec, JSON_COMPACT);
    if (s) {
        size_t n = strlen(s), m = aigov_json_escape_breakers(s, n, NULL);
        char *e;

        if (m != n) {
            if ((e = malloc(m + 1)) != NULL) {
                aigov_json_escape_breakers(s, n, e);
                e[m] = '\0';
            }
            free(s);
            s = e;
        }
        if (s)
            *len = m;
    }
    return s;
}

size_t aigov_record_line(char *out, size_t cap, uint64_t seq, const char *body, size_t body_len)
{
    char pre[40], *p = pre + sizeof(pre);
    size_t n;

    /* by hand, not snprintf: this runs under the log's lock */
    if (body_len < 2 || body[0] != '{' || body[body_len - 1] != '}')
        return 0;
    if (body_len > 2)
        *--p = ',';
    do {
        *--p = (char) ('0' + seq % 10);
        seq /= 10;
    } while (seq);
    p -= 7;
    memcpy(p, "{\"seq\":", 7);
    n = (size_t) (pre + sizeof(pre) - p);
    if (n + body_len - 1 + 1 > cap)
        return 0;
    memcpy(out, p, n);
    memcpy(out + n, body + 1, body_len - 1);
    out[n + body_len - 1] = '\n';
    return (size_t) n + body_len;
}

char *aigov_record_line_alloc(const json_t *rec, uint64_t seq, size_t *len)
{
    size_t blen = 0, cap;
    char *body = aigov_record_body(rec, &blen), *line;

    if (body == NULL)
        return NULL;
    cap = AIGOV_RECORD_LINE_MAX(blen);
    line = malloc(cap + 1);
    if (line && (*len = aigov_record_line(line, cap, seq, body, blen)) != 0) {
        line[*len] = '\0';
    } else {
        free(line);
        line = NULL;
    }
    free(body);
    return line;
}

/* ---- the fast record writer --------------------------------------------- */

/* Writes the bytes jansson's json_dumps(JSON_COMPACT) gives for the record
 * object aigov_record_json builds, without building it: the module writes
 * two records per request and the json_t path cost ~12 us each. Every rule
 * below mirrors jansson 2.14 (dump.c, strconv.c, utf.c); the unit test
 * compares both paths byte for byte. */

/* snprintf-like: counts every byte, stores those that fit. Pieces are
 * stored whole or not at all, and len only grows, so out always holds a
 * prefix of the body. */
typedef struct {
    char  *out;
    size_t cap, len;
    int    bad;       /* not representable: invalid UTF-8, too deep */
} wr_t;


static inline void put(wr_t *w, const void *s, size_t n)
{
    if (n && w->len <= w->cap && n <= w->cap - w->len)
        memcpy(w->out + w->len, s, n);
    w->len += n;
}

#define PUT_LIT(w, lit) put((w), (lit), sizeof(lit) - 1)

/* 1: a byte that cannot be copied as it is (quote, backslash, control);
 * 2: the lead byte of a multi-byte sequence, to validate. */
static const unsigned char esc_class[256] = {
    1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
    0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,1,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2, 2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,
    2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2, 2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,
    2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2, 2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,
    2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2, 2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,
};

static void put_strn(wr_t *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *) s, *end = p + n, *run = p;
    char e[6];
    size_t k;

    k = aigov_json_plain(p, n);
    if (k == n && w->len <= w->cap && n + 2 <= w->cap - w->len) {
        /* most strings here are short and plain: one copy, no pieces */
        w->out[w->len] = '"';
        memcpy(w->out + w->len + 1, s, n);
        w->out[w->len + n + 1] = '"';
        w->len += n + 2;
        return;
    }
    PUT_LIT(w, "\"");
    p += k;
    while (p < end) {
        p += aigov_json_plain(p, (size_t) (end - p));
        if (p >= end)
            break;
        if (esc_class[*p] == 2) {
            unsigned cp;

            if ((k = aigov_utf8_seq(p, (size_t) (end - p))) == 0) {
                /* not UTF-8 (a path with %FF, a cut answer): U+FFFD, so
                 * the request still has its record */
                put(w, run, (size_t) (p - run));
                PUT_LIT(w, "\xEF\xBF\xBD");
                run = ++p;
                continue;
            }
            if ((cp = aigov_json_breaker(p, k)) != 0) {
                put(w, run, (size_t) (p - run));
                e[0] = '\\';
                e[1] = 'u';
                e[2] = hex[cp >> 12];
                e[3] = hex[(cp >> 8) & 15];
                e[4] = hex[(cp >> 4) & 15];
                e[5] = hex[cp & 15];
                put(w, e, 6);
                p += k;
                run = p;
                continue;
            }
            p += k;
            continue;
        }
        put(w, run, (size_t) (p - run));
        e[0] = '\\';
        switch (*p) {
        case '"':  e[1] = '"';  k = 2; break;
        case '\\': e[1] = '\\'; k = 2; break;
        case '\b': e[1] = 'b';  k = 2; break;
        case '\f': e[1] = 'f';  k = 2; break;
        case '\n': e[1] = 'n';  k = 2; break;
        case '\r': e[1] = 'r';  k = 2; break;
        case '\t': e[1] = 't';  k = 2; break;
        default:
            e[1] = 'u';
            e[2] = '0';
            e[3] = '0';
            e[4] = hex[*p >> 4];
            e[5] = hex[*p & 15];
            k = 6;
        }
        put(w, e, k);
        run = ++p;
    }
    put(w, run, (size_t) (p - run));
    PUT_LIT(w, "\"");
}

static void put_str(wr_t *w, const char *s)
{
    if (s)
        put_strn(w, s, strlen(s));
    else
        PUT_LIT(w, "null");
}

static void put_i64(wr_t *w, int64_t v)
{
    char b[24], *p = b + sizeof(b);
    uint64_t u = v < 0 ? 0 - (uint64_t) v : (uint64_t) v;

    do {
        *--p = (char) ('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    put(w, p, (size_t) (b + sizeof(b) - p));
}

/* Negative means unknown: null. */
static void put_count(wr_t *w, int64_t v)
{
    if (v >= 0)
        put_i64(w, v);
    else
        PUT_LIT(w, "null");
}

/* jsonp_dtostr with precision 17: "%.17g", the locale's decimal point
 * made '.', ".0" added when neither '.' nor 'e' is there, and the
 * exponent stripped of its '+' and leading zeros. */
static void put_real(wr_t *w, double v)
{
    char b[40], *e, *d;
    int n = snprintf(b, sizeof(b) - 3, "%.17g", v);

    if (n < 0 || (size_t) n >= sizeof(b) - 3) {
        w->bad = 1;
        return;
    }
    for (int i = 0; i < n; i++)
        if (!((b[i] >= '0' && b[i] <= '9') || b[i] == '-' || b[i] == '+' || b[i] == 'e'
              || (b[i] >= 'a' && b[i] <= 'z')))
            b[i] = '.';
    if (strchr(b, '.') == NULL && strchr(b, 'e') == NULL) {
        memcpy(b + n, ".0", 3);
        n += 2;
    }
    if ((e = strchr(b, 'e')) != NULL) {
        e++;
        d = e + 1;
        if (*e == '-')
            e++;
        while (*d == '0')
            d++;
        if (d != e) {
            memmove(e, d, (size_t) (b + n + 1 - d));
            n -= (int) (d - e);
        }
    }
    put(w, b, (size_t) n);
}

/* j at nesting level `level` of the line (the record object is 1) */
static void put_json(wr_t *w, const json_t *j, int level)
{
    void *it;
    size_t i, n;

    if (j == NULL) {
        w->bad = 1;
        return;
    }
    if ((json_is_object(j) || json_is_array(j)) && level > AIGOV_RECORD_MAX_DEPTH) {
        /* the verifier reads no deeper: summarised, not refused */
        put_str(w, AIGOV_RECORD_TOO_DEEP);
        return;
    }
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        PUT_LIT(w, "{");
        i = 0;
        for (it = json_object_iter((json_t *) j); it && !w->bad;
             it = json_object_iter_next((json_t *) j, it)) {
            if (i++)
                PUT_LIT(w, ",");
            /* the key up to a NUL, not key_len: json_deep_copy (the
             * jansson path) copies keys as C strings */
            put_str(w, json_object_iter_key(it));
            PUT_LIT(w, ":");
            put_json(w, json_object_iter_value(it), level + 1);
        }
        PUT_LIT(w, "}");
        break;
    case JSON_ARRAY:
        PUT_LIT(w, "[");
        n = json_array_size(j);
        for (i = 0; i < n && !w->bad; i++) {
            if (i)
                PUT_LIT(w, ",");
            put_json(w, json_array_get(j, i), level + 1);
        }
        PUT_LIT(w, "]");
        break;
    case JSON_STRING:
        put_strn(w, json_string_value(j), json_string_length(j));
        break;
    case JSON_INTEGER:
        put_i64(w, (int64_t) json_integer_value(j));
        break;
    case JSON_REAL:
        put_real(w, json_real_value(j));
        break;
    case JSON_TRUE:
        PUT_LIT(w, "true");
        break;
    case JSON_FALSE:
        PUT_LIT(w, "false");
        break;
    case JSON_NULL:
        PUT_LIT(w, "null");
        break;
    default:
        w->bad = 1;
    }
}

static void put_json_or_null(wr_t *w, const json_t *j)
{
    if (j)
        put_json(w, j, 2);
    else
        PUT_LIT(w, "null");
}

static char *two_digits(char *p, unsigned v)
{
    p[0] = (char) ('0' + v / 10);
    p[1] = (char) ('0' + v % 10);
    return p + 2;
}

/* aigov_format_ts without gmtime/strftime (days to civil date, proleptic
 * Gregorian); years outside 1000..9999 take the slow path, which gives
 * the fallback text for them. */
static void fast_ts(int64_t ts_us, char out[32])
{
    int64_t sec = ts_us / 1000000 - (ts_us % 1000000 < 0);
    int64_t us = ts_us % 1000000 + (ts_us % 1000000 < 0 ? 1000000 : 0);
    int64_t days = sec / 86400 - (sec % 86400 < 0);
    int64_t sod = sec - days * 86400;
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    unsigned d = (unsigned) (doy - (153 * mp + 2) / 5 + 1);
    unsigned m = (unsigned) (mp < 10 ? mp + 3 : mp - 9);
    int64_t y = yoe + era * 400 + (m <= 2);
    char *p = out;

    if (y < 1000 || y > 9999) {
        aigov_format_ts(ts_us, out);
        return;
    }
    p = two_digits(p, (unsigned) (y / 100));
    p = two_digits(p, (unsigned) (y % 100));
    *p++ = '-';
    p = two_digits(p, m);
    *p++ = '-';
    p = two_digits(p, d);
    *p++ = 'T';
    p = two_digits(p, (unsigned) (sod / 3600));
    *p++ = ':';
    p = two_digits(p, (unsigned) (sod / 60 % 60));
    *p++ = ':';
    p = two_digits(p, (unsigned) (sod % 60));
    *p++ = '.';
    p = two_digits(p, (unsigned) (us / 10000));
    p = two_digits(p, (unsigned) (us / 100 % 100));
    p = two_digits(p, (unsigned) (us % 100));
    *p++ = 'Z';
    *p = '\0';
}

static void put_filters(wr_t *w, const aigov_record_t *r)
{
    if (r->filters) {
        put_json(w, r->filters, 2);
        return;
    }
    PUT_LIT(w, "[");
    for (size_t i = 0; i < r->nfilter_list; i++) {
        const aigov_record_filter_t *e = &r->filter_list[i];
        if (i)
            PUT_LIT(w, ",");
        PUT_LIT(w, "{\"plugin\":");
        put_str(w, e->plugin);
        PUT_LIT(w, ",\"stage\":");
        put_str(w, e->stage);
        PUT_LIT(w, ",\"verdict\":");
        put_str(w, e->verdict);
        PUT_LIT(w, ",\"count\":");
        put_i64(w, e->count);
        if (e->not_inspected)
            PUT_LIT(w, ",\"inspected\":false");
        PUT_LIT(w, "}");
    }
    PUT_LIT(w, "]");
}

/* usage, content and the kept prompt and answer (or their hashes); a
 * completion record (prompt 0) leaves the prompt's to its admission */
static void put_usage_content(wr_t *w, const aigov_record_t *r, int prompt)
{
    if (r->prompt_tokens < 0 && r->completion_tokens < 0) {
        PUT_LIT(w, ",\"usage\":null");
    } else {
        PUT_LIT(w, ",\"usage\":{\"prompt_tokens\":");
        put_count(w, r->prompt_tokens);
        PUT_LIT(w, ",\"completion_tokens\":");
        put_count(w, r->completion_tokens);
        PUT_LIT(w, "}");
    }
    PUT_LIT(w, ",\"content\":");
    put_str(w, r->content ? r->content : "hash");
    if (r->hash_key) {
        PUT_LIT(w, ",\"hash_key\":");
        put_str(w, r->hash_key);
    }
    if (prompt && r->prompt_sha256) {
        if (r->hash_key)
            PUT_LIT(w, ",\"prompt_hmac\":");
        else
            PUT_LIT(w, ",\"prompt_sha256\":");
        put_str(w, r->prompt_sha256);
    }
    if (r->response_sha256) {
        if (r->hash_key)
            PUT_LIT(w, ",\"response_hmac\":");
        else
            PUT_LIT(w, ",\"response_sha256\":");
        put_str(w, r->response_sha256);
    }
    if (prompt && r->prompt) {
        PUT_LIT(w, ",\"prompt\":");
        put_str(w, r->prompt);
    }
    if (r->response) {
        PUT_LIT(w, ",\"response\":");
        put_str(w, r->response);
    }
}

/* {"ts":"...","id":... : how both kinds of record begin */
static void put_head(wr_t *w, const aigov_record_t *r)
{
    char ts[32];

    fast_ts(r->ts_us, ts);
    PUT_LIT(w, "{\"ts\":\"");
    put(w, ts, strlen(ts));
    PUT_LIT(w, "\",\"id\":");
    put_str(w, r->id);
}

/* Keys in aigov_record_json's order; keep the two in step. */
size_t aigov_record_write(char *out, size_t cap, const aigov_record_t *r)
{
    wr_t w = { out, cap, 0, 0 };

    put_head(&w, r);
    PUT_LIT(&w, ",\"sub\":");
    put_str(&w, r->sub);
    PUT_LIT(&w, ",\"groups\":");
    put_json_or_null(&w, r->groups);
    PUT_LIT(&w, ",\"iss\":");
    put_str(&w, r->iss);
    PUT_LIT(&w, ",\"claims\":");
    put_json_or_null(&w, r->claims);
    PUT_LIT(&w, ",\"method\":");
    put_str(&w, r->method);
    PUT_LIT(&w, ",\"path\":");
    put_str(&w, r->path);
    PUT_LIT(&w, ",\"endpoint\":");
    put_str(&w, r->endpoint);
    PUT_LIT(&w, ",\"model\":");
    put_str(&w, r->model);
    PUT_LIT(&w, ",\"max_tokens\":");
    put_count(&w, r->max_tokens);
    if (r->max_tokens_injected)
        PUT_LIT(&w, ",\"max_tokens_injected\":true");
    if (r->n > 1) {
        PUT_LIT(&w, ",\"n\":");
        put_i64(&w, r->n);
    }
    PUT_LIT(&w, ",\"prompt_chars\":");
    put_count(&w, r->prompt_chars);
    if (r->not_inspected)
        PUT_LIT(&w, ",\"inspected\":false");
    if (r->unread) {
        PUT_LIT(&w, ",\"unread\":");
        put_str(&w, r->unread);
    }
    if (r->background)
        PUT_LIT(&w, ",\"background\":true");
    if (r->media) {
        const char *sep = ",\"media\":[\"";

        for (unsigned k = 0; k < AIGOV_MEDIA_KINDS; k++) {
            if (!(r->media & (1u << k)))
                continue;
            put(&w, sep, strlen(sep));
            put(&w, aigov_media_names[k], strlen(aigov_media_names[k]));
            sep = "\",\"";
        }
        PUT_LIT(&w, "\"]");
    }
    if (r->stream)
        PUT_LIT(&w, ",\"stream\":true,\"decision\":");
    else
        PUT_LIT(&w, ",\"stream\":false,\"decision\":");
    put_str(&w, r->decision);
    PUT_LIT(&w, ",\"rule\":");
    put_str(&w, r->rule);
    if (r->reason) {
        PUT_LIT(&w, ",\"reason\":");
        put_str(&w, r->reason);
    }
    PUT_LIT(&w, ",\"policy_sha256\":");
    put_str(&w, r->policy_sha256);
    PUT_LIT(&w, ",\"status\":");
    put_i64(&w, r->status);
    PUT_LIT(&w, ",\"filters\":");
    put_filters(&w, r);
    put_usage_content(&w, r, 1);
    if (r->quota_store) {
        PUT_LIT(&w, ",\"quota_store\":");
        put_str(&w, r->quota_store);
    }
    if (r->phase) {
        PUT_LIT(&w, ",\"phase\":");
        put_str(&w, r->phase);
    }
    PUT_LIT(&w, "}");
    return w.bad ? 0 : w.len;
}

/* The completion record of an admitted request: what only the end of the
 * request tells. The rest (caller, model, rule, prompt) is on the
 * admission record with the same id; not repeating it halves what the log
 * writes and hashes per request. */
size_t aigov_record_write_done(char *out, size_t cap, const aigov_record_t *r)
{
    wr_t w = { out, cap, 0, 0 };

    put_head(&w, r);
    PUT_LIT(&w, ",\"status\":");
    put_i64(&w, r->status);
    if (r->stream)
        PUT_LIT(&w, ",\"stream\":true,\"filters\":");
    else
        PUT_LIT(&w, ",\"stream\":false,\"filters\":");
    put_filters(&w, r);
    put_usage_content(&w, r, 0);
    PUT_LIT(&w, ",\"phase\":\"done\"}");
    return w.bad ? 0 : w.len;
}

char *aigov_record_body_fast(const aigov_record_t *r, size_t *len)
{
    char first[4096], *s;
    size_t n = aigov_record_write(first, sizeof(first), r);

    if (n == 0 || (s = malloc(n + 1)) == NULL)
        return NULL;
    if (n <= sizeof(first))
        memcpy(s, first, n);
    else if (aigov_record_write(s, n, r) != n) {
        free(s);
        return NULL;
    }
    s[n] = '\0';
    *len = n;
    return s;
}

int aigov_record_seq(const char *line, size_t len, uint64_t *seq)
{
    static const char pre[] = "{\"seq\":";
    size_t i = sizeof(pre) - 1, start;
    uint64_t v = 0;

    if (len <= i || memcmp(line, pre, i) != 0)
        return -1;
    start = i;
    for (; i < len && line[i] >= '0' && line[i] <= '9'; i++) {
        if (i - start >= 19)
            return -1;
        v = v * 10 + (uint64_t) (line[i] - '0');
    }
    if (i == start || (i - start > 1 && line[start] == '0') || i >= len
        || (line[i] != ',' && line[i] != '}'))
        return -1;
    *seq = v;
    return 0;
}
