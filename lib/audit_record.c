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

void aigov_format_ts(int64_t ts_us, char out[32])
{
    time_t sec = (time_t) (ts_us >= 0 ? ts_us / 1000000 : (ts_us - 999999) / 1000000);
    long us = (long) (ts_us - (int64_t) sec * 1000000);
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

static int set_str(json_t *o, const char *k, const char *v)
{
    return json_object_set_new(o, k, v ? json_string(v) : json_null());
}

static int set_int(json_t *o, const char *k, int64_t v)
{
    return json_object_set_new(o, k, v >= 0 ? json_integer(v) : json_null());
}

static int set_json(json_t *o, const char *k, json_t *v)
{
    return json_object_set_new(o, k, v ? json_deep_copy(v) : json_null());
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
    bad |= set_int(o, "prompt_chars", r->prompt_chars);
    bad |= json_object_set_new(o, "stream", json_boolean(r->stream));
    bad |= set_str(o, "decision", r->decision);
    bad |= set_str(o, "rule", r->rule);
    if (r->reason)
        bad |= set_str(o, "reason", r->reason);
    bad |= set_str(o, "policy_sha256", r->policy_sha256);
    bad |= json_object_set_new(o, "status", json_integer(r->status));
    bad |= json_object_set_new(o, "filters", r->filters ? json_deep_copy(r->filters) : json_array());
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
    if (r->prompt_sha256)
        bad |= set_str(o, "prompt_sha256", r->prompt_sha256);
    if (r->response_sha256)
        bad |= set_str(o, "response_sha256", r->response_sha256);
    if (r->prompt)
        bad |= set_str(o, "prompt", r->prompt);
    if (r->response)
        bad |= set_str(o, "response", r->response);
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
    /* COMPACT keeps it on one line: jansson escapes every control
     * character inside strings, so a newline can only end the line. */
    s = json_dumps(rec, JSON_COMPACT);
    if (s)
        *len = strlen(s);
    return s;
}

size_t aigov_record_line(char *out, size_t cap, uint64_t seq, const char *body, size_t body_len)
{
    char pre[40];
    int n;

    if (body_len < 2 || body[0] != '{' || body[body_len - 1] != '}')
        return 0;
    n = snprintf(pre, sizeof(pre), body_len == 2 ? "{\"seq\":%llu" : "{\"seq\":%llu,",
                 (unsigned long long) seq);
    if ((size_t) n + body_len - 1 + 1 > cap)
        return 0;
    memcpy(out, pre, (size_t) n);
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

/* ---- a small JSON checker ------------------------------------------------ */

/* Recursive descent over one value without building anything. Depth is
 * bounded so hostile nesting cannot exhaust the stack. */
typedef struct {
    const char *s;
    size_t      len, i;
    int         depth;
} jc_t;

enum { JC_OK = 0, JC_BAD = 1, JC_SHORT = 2 };

static void jc_ws(jc_t *j)
{
    while (j->i < j->len && (j->s[j->i] == ' ' || j->s[j->i] == '\t' || j->s[j->i] == '\r' || j->s[j->i] == '\n'))
        j->i++;
}

static int jc_value(jc_t *j);

static int jc_string(jc_t *j)
{
    j->i++;   /* the opening quote */
    while (j->i < j->len) {
        unsigned char c = (unsigned char) j->s[j->i++];
        if (c == '"')
            return JC_OK;
        if (c < 0x20)
            return JC_BAD;
        if (c == '\\') {
            if (j->i >= j->len)
                return JC_SHORT;
            c = (unsigned char) j->s[j->i++];
            if (c == 'u') {
                for (int k = 0; k < 4; k++, j->i++) {
                    if (j->i >= j->len)
                        return JC_SHORT;
                    if (!strchr("0123456789abcdefABCDEF", j->s[j->i]) || j->s[j->i] == '\0')
                        return JC_BAD;
                }
            } else if (!strchr("\"\\/bfnrt", c) || c == '\0') {
                return JC_BAD;
            }
        }
    }
    return JC_SHORT;
}

static int jc_digits(jc_t *j)
{
    size_t start = j->i;
    while (j->i < j->len && j->s[j->i] >= '0' && j->s[j->i] <= '9')
        j->i++;
    if (j->i == start)
        return j->i >= j->len ? JC_SHORT : JC_BAD;
    return JC_OK;
}

static int jc_number(jc_t *j)
{
    int r;

    if (j->s[j->i] == '-' && ++j->i >= j->len)
        return JC_SHORT;
    if (j->s[j->i] == '0')
        j->i++;
    else if ((r = jc_digits(j)) != JC_OK)
        return r;
    if (j->i < j->len && j->s[j->i] == '.') {
        j->i++;
        if ((r = jc_digits(j)) != JC_OK)
            return r;
    }
    if (j->i < j->len && (j->s[j->i] == 'e' || j->s[j->i] == 'E')) {
        j->i++;
        if (j->i < j->len && (j->s[j->i] == '+' || j->s[j->i] == '-'))
            j->i++;
        if ((r = jc_digits(j)) != JC_OK)
            return r;
    }
    return JC_OK;
}

static int jc_word(jc_t *j, const char *w)
{
    size_t n = strlen(w);
    for (size_t k = 0; k < n; k++, j->i++) {
        if (j->i >= j->len)
            return JC_SHORT;
        if (j->s[j->i] != w[k])
            return JC_BAD;
    }
    return JC_OK;
}

static int jc_container(jc_t *j, char close)
{
    int r, first = 1;

    if (++j->depth > 64)
        return JC_BAD;
    j->i++;
    for (;;) {
        jc_ws(j);
        if (j->i >= j->len)
            return JC_SHORT;
        if (j->s[j->i] == close && first) {
            j->i++;
            break;
        }
        if (close == '}') {
            if (j->s[j->i] != '"')
                return JC_BAD;
            if ((r = jc_string(j)) != JC_OK)
                return r;
            jc_ws(j);
            if (j->i >= j->len)
                return JC_SHORT;
            if (j->s[j->i++] != ':')
                return JC_BAD;
        }
        if ((r = jc_value(j)) != JC_OK)
            return r;
        jc_ws(j);
        if (j->i >= j->len)
            return JC_SHORT;
        if (j->s[j->i] == ',') {
            j->i++;
            first = 0;
            continue;
        }
        if (j->s[j->i] != close)
            return JC_BAD;
        j->i++;
        break;
    }
    j->depth--;
    return JC_OK;
}

static int jc_value(jc_t *j)
{
    jc_ws(j);
    if (j->i >= j->len)
        return JC_SHORT;
    switch (j->s[j->i]) {
    case '{': return jc_container(j, '}');
    case '[': return jc_container(j, ']');
    case '"': return jc_string(j);
    case 't': return jc_word(j, "true");
    case 'f': return jc_word(j, "false");
    case 'n': return jc_word(j, "null");
    default:
        if (j->s[j->i] == '-' || (j->s[j->i] >= '0' && j->s[j->i] <= '9'))
            return jc_number(j);
        return JC_BAD;
    }
}

int aigov_json_check(const char *s, size_t len)
{
    jc_t j = { s, len, 0, 0 };
    int r = jc_value(&j);

    if (r != JC_OK)
        return r;
    jc_ws(&j);
    return j.i == len ? JC_OK : JC_BAD;
}
