/*
 * audit_policy: policy records (see audit_policy.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit.h"
#include "audit_files.h"
#include "audit_policy.h"
#include "base64.h"
#include "hex.h"
#include "sha256.h"

char *aigov_policy_record_body(const aigov_policy_t *p, int64_t ts_us, size_t *len)
{
    json_t *o = json_object(), *files = json_array();
    char ts[32], *body = NULL;
    size_t n = aigov_policy_file_count(p);

    if (o == NULL || files == NULL)
        goto out;
    aigov_format_ts(ts_us, ts);
    json_object_set_new(o, "ts", json_string(ts));
    json_object_set_new(o, "policy_sha256", json_string(aigov_policy_sha256(p)));
    for (size_t i = 0; i < n; i++) {
        size_t tlen = 0;
        const char *t = aigov_policy_text(p, i, &tlen);
        json_t *f, *s;

        if (t == NULL)
            goto out;
        f = json_pack("{s:s}", "name", aigov_policy_file(p, i));
        s = json_stringn(t, tlen);
        if (s) {
            json_object_set_new(f, "text", s);
        } else {
            /* not UTF-8 (YAML may be UTF-16): kept exactly all the same */
            char *b = malloc(4 * ((tlen + 2) / 3) + 1);
            if (b == NULL) {
                json_decref(f);
                goto out;
            }
            aigov_b64_encode((const uint8_t *) t, tlen, b, AIGOV_B64_STD);
            json_object_set_new(f, "text_base64", json_string(b));
            free(b);
        }
        json_array_append_new(files, f);
    }
    json_object_set(o, "files", files);
    json_object_set_new(o, "phase", json_string("policy"));
    body = json_dumps(o, JSON_COMPACT);
    if (body) {
        *len = strlen(body);
        /* the writer relies on where ts is */
        if (strncmp(body, "{\"ts\":\"", AIGOV_POLICY_TS_AT) != 0 || strlen(ts) != AIGOV_POLICY_TS_LEN) {
            free(body);
            body = NULL;
        }
    }
out:
    json_decref(files);
    json_decref(o);
    return body;
}

void aigov_policy_record_set_ts(char *body, int64_t ts_us)
{
    char ts[32];

    aigov_format_ts(ts_us, ts);
    if (strlen(ts) == AIGOV_POLICY_TS_LEN)
        memcpy(body + AIGOV_POLICY_TS_AT, ts, AIGOV_POLICY_TS_LEN);
}

/* ---- a quick look at the top-level keys --------------------------------- */

static const char *ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    return p;
}

/* p at the opening quote; returns just past the closing one, or NULL. */
static const char *skip_string(const char *p, const char *e)
{
    for (p++; p < e; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

/* p at a value; returns just past it, or NULL. */
static const char *skip_value(const char *p, const char *e)
{
    int depth = 0;

    if (p >= e)
        return NULL;
    if (*p == '"')
        return skip_string(p, e);
    if (*p != '{' && *p != '[') {
        const char *s = p;
        while (p < e && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' && *p != '\r'
               && *p != '\n')
            p++;
        return p > s ? p : NULL;    /* "key":, is no value */
    }
    while (p < e) {
        if (*p == '"') {
            p = skip_string(p, e);
            if (p == NULL)
                return NULL;
            continue;
        }
        if (*p == '{' || *p == '[')
            depth++;
        else if (*p == '}' || *p == ']') {
            if (--depth == 0)
                return p + 1;
        }
        p++;
    }
    return NULL;
}

static int unhex(const char *s, uint8_t out[32])
{
    for (int i = 0; i < 64; i++) {
        int c = s[i], v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0)
            return -1;
        if (i & 1)
            out[i / 2] = (uint8_t) (out[i / 2] | v);
        else
            out[i / 2] = (uint8_t) (v << 4);
    }
    return 0;
}

int aigov_json_each(const char *v, size_t len, aigov_json_member_fn fn, void *ud)
{
    const char *p = v, *e = v + len;
    int obj;

    p = ws(p, e);
    if (p >= e || (*p != '{' && *p != '['))
        return -1;
    obj = *p == '{';
    p = ws(p + 1, e);
    while (p < e && *p != '}' && *p != ']') {
        const char *k = NULL, *val, *ve;
        size_t klen = 0;

        if (obj) {
            const char *ke;
            if (*p != '"' || (ke = skip_string(p, e)) == NULL)
                return -1;
            k = p + 1;
            klen = (size_t) (ke - 1 - k);
            p = ws(ke, e);
            if (p >= e || *p != ':')
                return -1;
            p = ws(p + 1, e);
        }
        val = p;
        ve = skip_value(val, e);
        if (ve == NULL)
            return -1;
        if (fn(ud, k, klen, val, (size_t) (ve - val)) != 0)
            return 0;
        p = ws(ve, e);
        if (p < e && *p == ',')
            p = ws(p + 1, e);
        else
            break;
    }
    return 0;
}

int aigov_record_policy_member(void *ud, const char *k, size_t klen, const char *v, size_t vlen)
{
    aigov_record_policy_t *out = ud;

    if (klen == 5 && !memcmp(k, "phase", 5))
        out->is_policy = vlen == 8 && !memcmp(v, "\"policy\"", 8);
    else if (klen == 13 && !memcmp(k, "policy_sha256", 13))
        out->has_digest = vlen == 66 && *v == '"' && unhex(v + 1, out->digest) == 0;
    return 0;
}

int aigov_record_policy_scan(const char *line, size_t len, aigov_record_policy_t *out)
{
    memset(out, 0, sizeof(*out));
    if (len == 0 || line[0] != '{')
        return -1;
    return aigov_json_each(line, len, aigov_record_policy_member, out);
}

/* ---- reading a policy record back ----------------------------------------- */

int aigov_policy_record_read(const char *line, size_t len, aigov_policy_record_t *out,
                             char *why, size_t whylen)
{
    json_t *j = json_loadb(line, len, 0, NULL), *files;
    const char *sha, *phase, *ts;
    aigov_sha256_t h;
    uint8_t md[32];
    char hexd[65];
    size_t n;

    memset(out, 0, sizeof(*out));
    phase = json_string_value(json_object_get(j, "phase"));
    sha = json_string_value(json_object_get(j, "policy_sha256"));
    ts = json_string_value(json_object_get(j, "ts"));
    files = json_object_get(j, "files");
    if (!json_is_object(j) || phase == NULL || strcmp(phase, "policy") || sha == NULL
        || strlen(sha) != 64 || !json_is_array(files) || json_array_size(files) == 0) {
        snprintf(why, whylen, "not a policy record (phase \"policy\", policy_sha256, files)");
        json_decref(j);
        return -1;
    }
    n = json_array_size(files);
    out->names = calloc(n, sizeof(char *));
    out->texts = calloc(n, sizeof(char *));
    out->lens = calloc(n, sizeof(size_t));
    if (!out->names || !out->texts || !out->lens) {
        snprintf(why, whylen, "out of memory");
        goto fail;
    }
    snprintf(out->sha256, sizeof(out->sha256), "%s", sha);
    snprintf(out->ts, sizeof(out->ts), "%s", ts ? ts : "");
    aigov_sha256_init(&h);
    for (size_t i = 0; i < n; i++) {
        json_t *f = json_array_get(files, i);
        const char *name = json_string_value(json_object_get(f, "name"));
        json_t *t = json_object_get(f, "text"), *b = json_object_get(f, "text_base64");

        out->nfiles = i + 1;
        out->names[i] = strdup(name ? name : "");
        if (json_is_string(t)) {
            out->lens[i] = json_string_length(t);
            out->texts[i] = malloc(out->lens[i] + 1);
            if (out->texts[i])
                memcpy(out->texts[i], json_string_value(t), out->lens[i]);
        } else if (json_is_string(b)) {
            size_t blen = json_string_length(b);
            long l;
            out->texts[i] = malloc(blen + 1);
            l = out->texts[i] ? aigov_b64_decode(json_string_value(b), blen, (uint8_t *) out->texts[i], blen, AIGOV_B64_STD) : -1;
            if (l < 0) {
                snprintf(why, whylen, "file %zu's text_base64 is not base64", i + 1);
                goto fail;
            }
            out->lens[i] = (size_t) l;
        } else {
            snprintf(why, whylen, "file %zu has neither text nor text_base64", i + 1);
            goto fail;
        }
        if (out->names[i] == NULL || out->texts[i] == NULL) {
            snprintf(why, whylen, "out of memory");
            goto fail;
        }
        out->texts[i][out->lens[i]] = '\0';
        aigov_sha256_update(&h, out->texts[i], out->lens[i]);
    }
    aigov_sha256_final(&h, md);
    *aigov_hex(hexd, md, 32) = '\0';
    if (strcmp(hexd, sha) != 0) {
        snprintf(why, whylen, "its text does not hash to its policy_sha256 (%.12s..., the text gives %.12s...)",
                 sha, hexd);
        goto fail;
    }
    json_decref(j);
    return 0;
fail:
    json_decref(j);
    aigov_policy_record_free(out);
    return -1;
}

void aigov_policy_record_free(aigov_policy_record_t *r)
{
    for (size_t i = 0; i < r->nfiles; i++) {
        if (r->names)
            free(r->names[i]);
        if (r->texts)
            free(r->texts[i]);
    }
    free(r->names);
    free(r->texts);
    free(r->lens);
    memset(r, 0, sizeof(*r));
}

int aigov_policy_record_find(char *const *paths, size_t n, const char *digest, aigov_policy_record_t *out,
                             char *err, size_t errlen)
{
    size_t dlen = strlen(digest);

    if (dlen == 0 || dlen > 64 || strspn(digest, "0123456789abcdef") != dlen) {
        snprintf(err, errlen, "'%s' is not a policy digest (hex, lower case, a prefix will do)", digest);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        aigov_lines_t *l = aigov_lines_open(paths[i], err, errlen);
        const char *line;
        size_t len;
        int nl, r;

        if (l == NULL)
            return -1;
        while ((r = aigov_lines_next(l, &line, &len, &nl, err, errlen)) == 1) {
            aigov_record_policy_t rp;
            char hexd[65], why[200];

            if (!nl || !memmem(line, len, "\"phase\":\"policy\"", 16)
                || aigov_record_policy_scan(line, len, &rp) < 0 || !rp.is_policy || !rp.has_digest)
                continue;
            *aigov_hex(hexd, rp.digest, 32) = '\0';
            if (strncmp(hexd, digest, dlen) != 0)
                continue;
            if (aigov_policy_record_read(line, len, out, why, sizeof(why)) < 0)
                continue;   /* verify reports it; a good copy may follow */
            aigov_lines_close(l);
            return 1;
        }
        aigov_lines_close(l);
        if (r < 0)
            return -1;
    }
    snprintf(err, errlen, "no policy record with digest %s in the log", digest);
    return 0;
}
