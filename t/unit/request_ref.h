/*
 * request_ref.h: the request reading of lib/request.c as it was written on
 * jansson, kept as a reference to compare the scanner against (used by
 * t/unit/test_request.c and fuzz/fuzz_request.c; header-only, static).
 *
 * ref_load parses like the old code (duplicates refused, any value); a
 * body it refuses is BAD_JSON. ref_read then finds the same fields and
 * texts, in the same order, or says the shape is bad (messages are not
 * compared, only the verdict). ref_set_max_tokens edits the tree the way
 * the old set_max_tokens did, so a spliced body can be compared with
 * json_equal.
 */
#ifndef AIGOV_REQUEST_REF_H
#define AIGOV_REQUEST_REF_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "request.h"

typedef struct {
    const char *role;
    json_t     *node;       /* the string (of a file: its data URL) */
    json_t     *obj;        /* a key: its object */
    char       *key;        /* a key: its name, malloc'd */
    char       *file;       /* an inline file: its text, malloc'd */
    size_t      flen;
    char       *pre;        /* and the data URL before the base64 */
} ref_text_t;

typedef struct {
    json_t     *root;
    const char *model;
    long long   max_tokens;
    const char *max_tokens_key;
    int         stream;
    long long   n;
    ref_text_t *texts;
    size_t      ntexts, cap;
    int         quiet;      /* the shape checks run: add no text */
    long long   token_ids;
    int         unread;
    unsigned    media;      /* AIGOV_MEDIA_* */
} ref_req_t;

static json_t *
ref_load(const char *body, size_t len)
{
    return json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
}

static void
ref_free(ref_req_t *r)
{
    size_t i;

    for (i = 0; i < r->ntexts; i++) {
        free(r->texts[i].key);
        free(r->texts[i].file);
        free(r->texts[i].pre);
    }
    json_decref(r->root);
    free(r->texts);
    memset(r, 0, sizeof(*r));
}

static ref_text_t *
ref_slot(ref_req_t *r)
{
    if (r->ntexts >= AIGOV_REQ_MAX_TEXTS)
        return NULL;
    if (r->ntexts == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 8;
        ref_text_t *t = realloc(r->texts, nc * sizeof(*t));

        if (t == NULL)
            abort();
        r->texts = t;
        r->cap = nc;
    }
    memset(&r->texts[r->ntexts], 0, sizeof(r->texts[0]));
    return &r->texts[r->ntexts++];
}

static int
ref_add(ref_req_t *r, const char *role, json_t *node)
{
    ref_text_t *t;

    if (r->quiet)
        return 0;
    if ((t = ref_slot(r)) == NULL)
        return -1;
    t->role = role;
    t->node = node;
    return 0;
}

/* Key k of object o as a text. */
static int
ref_add_key(ref_req_t *r, const char *role, json_t *o, const char *k)
{
    ref_text_t *t;

    if (r->quiet)
        return 0;
    if ((t = ref_slot(r)) == NULL)
        return -1;
    t->role = role;
    t->obj = o;
    if ((t->key = strdup(k)) == NULL)
        abort();
    return 0;
}

/* What a text holds, and its length. */
static const char *
ref_text_of(const ref_text_t *t, size_t *len)
{
    if (t->key != NULL) {
        *len = strlen(t->key);
        return t->key;
    }
    if (t->file != NULL) {
        *len = t->flen;
        return t->file;
    }
    *len = json_string_length(t->node);
    return json_string_value(t->node);
}

/* ---- inline files, from request.h's words ---- */

static int
ref_ilower_eq(const char *s, size_t n, const char *lit)
{
    size_t i;

    if (strlen(lit) != n)
        return 0;
    for (i = 0; i < n; i++) {
        char c = s[i];

        if (c >= 'A' && c <= 'Z')
            c = (char) (c - 'A' + 'a');
        if (c != lit[i])
            return 0;
    }
    return 1;
}

static int
ref_text_type(const char *t, size_t n)
{
    static const char *const app[] = {
        "application/json", "application/x-ndjson", "application/xml",
        "application/yaml", "application/x-yaml", "application/toml",
        "application/javascript", "application/x-javascript",
        "application/typescript", "application/x-typescript",
        "application/x-sh", "application/sql", "application/x-tex",
        "application/rtf", NULL
    };
    static const char *const suf[] = { "+json", "+xml", "+yaml", NULL };
    size_t i;

    while (n > 0 && (*t == ' ' || *t == '\t')) {
        t++;
        n--;
    }
    while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t'))
        n--;
    if (n == 0 || (n > 5 && ref_ilower_eq(t, 5, "text/")))
        return 1;
    for (i = 0; app[i] != NULL; i++) {
        if (ref_ilower_eq(t, n, app[i]))
            return 1;
    }
    if (n <= 12 || !ref_ilower_eq(t, 12, "application/"))
        return 0;
    for (i = 0; suf[i] != NULL; i++) {
        size_t l = strlen(suf[i]);

        if (n > l && ref_ilower_eq(t + n - l, l, suf[i]))
            return 1;
    }
    return 0;
}

/* base64 (white space skipped, padding optional); -1 when it is not */
static long
ref_b64(const char *in, size_t n, char *out)
{
    static const char a[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned bits = 0, k = 0, pad = 0;
    size_t   i;
    long     o = 0;

    for (i = 0; i < n; i++) {
        const char *p;

        if (in[i] == ' ' || in[i] == '\n' || in[i] == '\r' || in[i] == '\t')
            continue;
        if (in[i] == '=') {
            pad++;
            continue;
        }
        if (pad || in[i] == '\0' || (p = strchr(a, in[i])) == NULL)
            return -1;
        bits = bits << 6 | (unsigned) (p - a);
        if (++k == 4) {
            out[o++] = (char) (bits >> 16);
            out[o++] = (char) (bits >> 8);
            out[o++] = (char) bits;
            bits = 0;
            k = 0;
        }
    }
    if (k == 1 || pad > 2 || (pad && (k + pad) % 4))
        return -1;
    if (k == 2)
        out[o++] = (char) (bits >> 4);
    if (k == 3) {
        out[o++] = (char) (bits >> 10);
        out[o++] = (char) (bits >> 2);
    }
    return o;
}

static char *
ref_b64_encode(const char *pre, const char *s, size_t n)
{
    static const char a[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t pl = strlen(pre), i, o = pl;
    char  *w = malloc(pl + (n + 2) / 3 * 4 + 1);

    if (w == NULL)
        abort();
    memcpy(w, pre, pl);
    for (i = 0; i < n; i += 3) {
        unsigned b0 = (unsigned char) s[i];
        unsigned b1 = i + 1 < n ? (unsigned char) s[i + 1] : 0;
        unsigned b2 = i + 2 < n ? (unsigned char) s[i + 2] : 0;

        w[o++] = a[b0 >> 2];
        w[o++] = a[(b0 & 3) << 4 | b1 >> 4];
        w[o++] = i + 1 < n ? a[(b1 & 15) << 2 | b2 >> 6] : '=';
        w[o++] = i + 2 < n ? a[b2 & 63] : '=';
    }
    w[o] = '\0';
    return w;
}

enum { RF_MEDIA, RF_TEXT, RF_UNREAD };

/* A string as an inline file (request.h, "Inline files"). */
static int
ref_file(ref_req_t *r, const char *role, json_t *node, const char *hint, int sniff)
{
    const char *s = json_string_value(node);
    size_t      n = json_string_length(node), pre = 0;
    int         text;
    char       *dec;
    long        dl;
    json_t     *check;
    ref_text_t *t;

    if (n >= 5 && ref_ilower_eq(s, 5, "data:")) {
        const char *comma = memchr(s, ',', n), *semi;
        int         b64 = 0;

        if (comma == NULL)
            return RF_MEDIA;
        pre = (size_t) (comma - s) + 1;
        semi = memchr(s + 5, ';', (size_t) (comma - s - 5));
        text = ref_text_type(s + 5, (size_t) ((semi ? semi : comma) - s - 5));
        /* the last parameter, RFC 2397 */
        b64 = pre - 1 >= 12 && ref_ilower_eq(s + pre - 8, 7, ";base64");
        if (!b64)
            return text ? RF_UNREAD : RF_MEDIA;
    } else if (hint != NULL || sniff) {
        text = hint != NULL && ref_text_type(hint, strlen(hint));
    } else {
        return RF_MEDIA;
    }
    if (!text && !sniff)
        return RF_MEDIA;
    if ((dec = malloc(n + 1)) == NULL)
        abort();
    dl = ref_b64(s + pre, n - pre, dec);
    /* jansson refuses what is not UTF-8 */
    check = dl < 0 ? NULL : json_stringn(dec, (size_t) dl);
    if (check == NULL || memchr(dec, '\0', (size_t) dl) != NULL) {
        json_decref(check);
        free(dec);
        return text ? RF_UNREAD : RF_MEDIA;
    }
    json_decref(check);
    if (r->quiet || (t = ref_slot(r)) == NULL) {
        free(dec);
        return r->quiet ? RF_TEXT : -1;
    }
    t->role = role;
    t->node = node;
    t->file = dec;
    t->flen = (size_t) dl;
    if ((t->pre = strndup(s, pre)) == NULL)
        abort();
    return RF_TEXT;
}

static int
ref_limit(ref_req_t *r, const char *key, int *present)
{
    json_t *v = json_object_get(r->root, key);

    *present = 0;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *present = 1;
    if (json_integer_value(v) > r->max_tokens)
        r->max_tokens = json_integer_value(v);
    return 0;
}

static int
ref_call(ref_req_t *r, const char *role, json_t *fn)
{
    json_t *a;

    if (!json_is_object(fn))
        return -1;
    a = json_object_get(fn, "arguments");
    if (a == NULL || json_is_null(a))
        return 0;
    return json_is_string(a) ? ref_add(r, role, a) : -1;
}

static int
ref_chat(ref_req_t *r)
{
    json_t *msgs = json_object_get(r->root, "messages"), *m;
    size_t  i;

    if (!json_is_array(msgs))
        return -1;
    json_array_foreach(msgs, i, m) {
        json_t *role = json_object_get(m, "role"), *c, *calls, *fc, *x;
        size_t  j;

        if (!json_is_object(m) || !json_is_string(role))
            return -1;
        c = json_object_get(m, "content");
        if (c != NULL && !json_is_null(c)) {
            if (json_is_string(c)) {
                if (ref_add(r, json_string_value(role), c))
                    return -1;
            } else if (!json_is_array(c)) {
                return -1;
            } else {
                json_array_foreach(c, j, x) {
                    json_t *t = json_object_get(x, "type"), *tx;

                    if (!json_is_object(x) || !json_is_string(t))
                        return -1;
                    if (strcmp(json_string_value(t), "text") != 0)
                        continue;
                    tx = json_object_get(x, "text");
                    if (!json_is_string(tx) || ref_add(r, json_string_value(role), tx))
                        return -1;
                }
            }
        }
        calls = json_object_get(m, "tool_calls");
        if (calls != NULL && !json_is_null(calls)) {
            if (!json_is_array(calls))
                return -1;
            json_array_foreach(calls, j, x) {
                json_t *fn;

                if (!json_is_object(x))
                    return -1;
                fn = json_object_get(x, "function");
                if (fn != NULL && ref_call(r, json_string_value(role), fn))
                    return -1;
            }
        }
        fc = json_object_get(m, "function_call");
        if (fc != NULL && !json_is_null(fc) && ref_call(r, json_string_value(role), fc))
            return -1;
    }
    return 0;
}

static int
ref_prompt(ref_req_t *r, const char *key)
{
    json_t *v = json_object_get(r->root, key), *x, *t;
    size_t  i, j;

    if (json_is_string(v))
        return ref_add(r, key, v);
    if (!json_is_array(v))
        return -1;
    json_array_foreach(v, i, x) {
        if (json_is_string(x)) {
            if (ref_add(r, key, x))
                return -1;
        } else if (json_is_array(x)) {
            json_array_foreach(x, j, t) {
                if (!json_is_integer(t))
                    return -1;
                r->token_ids++;
            }
        } else if (!json_is_integer(x)) {
            return -1;
        } else {
            r->token_ids++;
        }
    }
    return 0;
}

static int
ref_blocks(ref_req_t *r, const char *role, json_t *c, int nested)
{
    json_t *b;
    size_t  i;

    if (json_is_string(c))
        return ref_add(r, role, c);
    if (!json_is_array(c))
        return -1;
    json_array_foreach(c, i, b) {
        json_t *t = json_object_get(b, "type"), *x;

        if (!json_is_object(b) || !json_is_string(t))
            return -1;
        if (strcmp(json_string_value(t), "text") == 0) {
            x = json_object_get(b, "text");
            if (!json_is_string(x) || ref_add(r, role, x))
                return -1;
        } else if (strcmp(json_string_value(t), "tool_result") == 0 && !nested) {
            x = json_object_get(b, "content");
            if (x != NULL && !json_is_null(x) && ref_blocks(r, role, x, 1))
                return -1;
        }
    }
    return 0;
}

static int
ref_messages(ref_req_t *r)
{
    json_t *sys = json_object_get(r->root, "system");
    json_t *msgs = json_object_get(r->root, "messages"), *m;
    size_t  i;

    if (sys != NULL && !json_is_null(sys) && ref_blocks(r, "system", sys, 1))
        return -1;
    if (!json_is_array(msgs))
        return -1;
    json_array_foreach(msgs, i, m) {
        json_t *role = json_object_get(m, "role"), *c;

        if (!json_is_object(m) || !json_is_string(role))
            return -1;
        c = json_object_get(m, "content");
        if (c == NULL || ref_blocks(r, json_string_value(role), c, 0))
            return -1;
    }
    return 0;
}

/*
 * Which strings are text, written from request.h's list (not from
 * request.c's tables): every string value except the control fields.
 */
static const char *const ref_ctl_keys[] = {
    "model", "role", "type", "object", "id", "status",
    "tool_choice", "reasoning_effort", "effort", "summary", "verbosity",
    "service_tier", "truncation", "include", "modalities", "voice",
    "search_context_size", "encoding_format", "detail", "format", "ttl",
    "version", "container", "media_type", "mime_type", "signature",
    "encrypted_content", "max_tokens", "max_completion_tokens",
    "max_output_tokens", "authorization", "authorization_token", NULL
};
static const char *const ref_free_keys[] = {
    "metadata", "variables", "env", "attributes", "input_examples", NULL
};
static const char *const ref_schema_keys[] = {
    "parameters", "input_schema", "output_schema", "schema", NULL
};
static const char *const ref_schema_ctl[] = {
    "type", "format", "$schema", "$id", "id", "contentEncoding",
    "contentMediaType", NULL
};
static const char *const ref_schema_data[] = {
    "enum", "const", "default", "examples", "example", NULL
};
static const char *const ref_schema_maps[] = {
    "properties", "patternProperties", "$defs", "definitions",
    "dependentSchemas", "dependentRequired", "dependencies", NULL
};
/* JSON Schema's other keywords (2020-12, draft 7, OpenAPI's nullable) */
static const char *const ref_schema_words[] = {
    "$anchor", "$comment", "$dynamicAnchor", "$dynamicRef", "$ref",
    "$vocabulary", "additionalItems", "additionalProperties", "allOf",
    "anyOf", "contains", "contentSchema", "deprecated", "description",
    "else", "exclusiveMaximum", "exclusiveMinimum", "if", "items",
    "maxContains", "maxItems", "maxLength", "maxProperties", "maximum",
    "minContains", "minItems", "minLength", "minProperties", "minimum",
    "multipleOf", "not", "nullable", "oneOf", "pattern", "prefixItems",
    "propertyNames", "readOnly", "required", "then", "title",
    "unevaluatedItems", "unevaluatedProperties", "uniqueItems", "writeOnly",
    NULL
};

static int
ref_in(const char *k, const char *const *list)
{
    for (; *list != NULL; list++) {
        if (strcmp(k, *list) == 0)
            return 1;
    }
    return 0;
}

static int
ref_ends(const char *s, const char *suf)
{
    size_t l = strlen(s), sl = strlen(suf);

    return l > sl && strcmp(s + l - sl, suf) == 0;
}

enum { RW_NORMAL, RW_FREE, RW_SCHEMA, RW_EXEMPT, RW_HEADERS };

/* A credential header's name (under "headers"): one holding auth, token,
 * secret, cookie or key in any ASCII case. */
static int
ref_credential(const char *k)
{
    static const char *const w[] = {
        "auth", "token", "secret", "cookie", "key", NULL
    };
    char   *low = strdup(k);
    size_t  i;
    int     r = 0;

    if (low == NULL)
        abort();
    for (i = 0; low[i] != '\0'; i++) {
        if (low[i] >= 'A' && low[i] <= 'Z')
            low[i] = (char) (low[i] - 'A' + 'a');
    }
    for (i = 0; w[i] != NULL && !r; i++)
        r = strstr(low, w[i]) != NULL;
    free(low);
    return r;
}

static int ref_walk(ref_req_t *r, aigov_endpoint_t ep, json_t *v,
                    const char *label, int mode, int root);

/* ---- binary media, from request.h's words ---- */

/* a media type's kind: image/ an image, audio/ audio, else a file */
static unsigned
ref_media_of(const char *t)
{
    while (*t == ' ' || *t == '\t')
        t++;
    if (strlen(t) >= 6 && ref_ilower_eq(t, 6, "image/"))
        return AIGOV_MEDIA_IMAGE;
    if (strlen(t) >= 6 && ref_ilower_eq(t, 6, "audio/"))
        return AIGOV_MEDIA_AUDIO;
    return AIGOV_MEDIA_FILE;
}

static int
ref_is_data_url(json_t *v)
{
    return json_is_string(v) && json_string_length(v) >= 5
           && ref_ilower_eq(json_string_value(v), 5, "data:");
}

static int
ref_full(json_t *v)
{
    return json_is_string(v) && json_string_length(v) > 0;
}

/* The kind of a typed object under one of kind in: the media parts and
 * blocks; a source (base64, url, file) is of its block's kind. */
static unsigned
ref_type_kind(const char *t, unsigned in)
{
    static const char *const image[] = {
        "image_url", "input_image", "image", "computer_screenshot", NULL
    };
    static const char *const file[] = {
        "file", "input_file", "document", "container_upload", NULL
    };
    static const char *const source[] = { "base64", "url", "file", NULL };

    if (in && ref_in(t, source))
        return in;
    if (ref_in(t, image))
        return AIGOV_MEDIA_IMAGE;
    if (strcmp(t, "input_audio") == 0)
        return AIGOV_MEDIA_AUDIO;
    return ref_in(t, file) ? AIGOV_MEDIA_FILE : 0;
}

/* A stored prompt's variables: an input_image or input_file by URL or id. */
static void
ref_variables(ref_req_t *r, json_t *vars)
{
    static const char *const refs[] = { "file_id", "image_url", "file_url", NULL };
    const char *k, *vk;
    json_t     *var, *x;

    json_object_foreach(vars, k, var) {
        json_t  *t = json_object_get(var, "type");
        unsigned kind;

        if (!json_is_object(var) || !json_is_string(t))
            continue;
        kind = strcmp(json_string_value(t), "input_image") == 0 ? AIGOV_MEDIA_IMAGE
               : strcmp(json_string_value(t), "input_file") == 0 ? AIGOV_MEDIA_FILE : 0;
        json_object_foreach(var, vk, x) {
            if (kind && ref_in(vk, refs) && ref_full(x) && !ref_is_data_url(x))
                r->media |= kind;
        }
    }
}

static const char *
ref_type_label(const char *t)
{
    if (strcmp(t, "tool_use") == 0 || ref_ends(t, "_tool_use") || ref_ends(t, "_call"))
        return "tool_call";
    if (strcmp(t, "tool_result") == 0 || ref_ends(t, "_tool_result") || ref_ends(t, "_output"))
        return "tool";
    if (strcmp(t, "thinking") == 0 || strcmp(t, "reasoning") == 0)
        return "thinking";
    if (strcmp(t, "document") == 0 || strcmp(t, "search_result") == 0)
        return "document";
    if (strcmp(t, "refusal") == 0)
        return "refusal";
    return NULL;
}

static const char *
ref_root_label(aigov_endpoint_t ep, const char *k)
{
    static const char *const map[][2] = {
        { "system", "system" }, { "instructions", "instructions" },
        { "prompt", "prompt" }, { "suffix", "suffix" },
        { "tools", "tool_definition" }, { "functions", "tool_definition" },
        { "prediction", "prediction" }, { "stop", "stop" },
        { "stop_sequences", "stop" }, { "metadata", "metadata" },
        { "user", "metadata" }, { "safety_identifier", "metadata" },
        { "prompt_cache_key", "metadata" }, { "variables", "metadata" },
        /* the other free-form maps, where a body puts them at the root */
        { "env", "metadata" }, { "attributes", "metadata" },
        { "input_examples", "metadata" }, { "headers", "metadata" },
        { "response_format", "schema" },
    };
    size_t i;

    for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(k, map[i][0]) == 0)
            return map[i][1];
    }
    if (strcmp(k, "text") == 0)
        return ep == AIGOV_EP_RESPONSES ? "schema" : "other";
    if (strcmp(k, "input") == 0)
        return ep == AIGOV_EP_EMBEDDINGS ? "input" : "user";
    return "other";
}

static int
ref_object(ref_req_t *r, aigov_endpoint_t ep, json_t *o, const char *label, int root,
           unsigned in)
{
    json_t     *role = root ? NULL : json_object_get(o, "role");
    json_t     *type = root ? NULL : json_object_get(o, "type"), *v;
    const char *k, *own = label, *msg = NULL;
    int         text_src = 0;
    unsigned    kind = 0;

    if (json_is_string(role)) {
        own = msg = json_string_value(role);
    } else if (json_is_string(type)) {
        const char *t = ref_type_label(json_string_value(type));

        if (t != NULL)
            own = t;
        text_src = strcmp(json_string_value(type), "text") == 0;
        kind = ref_type_kind(json_string_value(type), in);
    } else if (type == NULL) {
        kind = in;
    }
    json_object_foreach(o, k, v) {
        const char *l = own;
        int         mode = RW_NORMAL, file = 0;
        const char *hint = NULL;

        if (ref_in(k, ref_ctl_keys) || ref_ends(k, "_id") || ref_ends(k, "_ids")) {
            mode = RW_EXEMPT;
            if (kind && strcmp(k, "file_id") == 0 && ref_full(v))
                r->media |= kind;
        } else if (strcmp(k, "file_data") == 0) {
            mode = RW_EXEMPT;
            file = json_is_string(v) ? 2 : 0;
        } else if (strcmp(k, "data") == 0) {
            if (!text_src) {
                json_t *mt = json_object_get(o, "media_type");

                mode = RW_EXEMPT;
                file = json_is_string(v);
                hint = json_is_string(mt) ? json_string_value(mt) : NULL;
            }
        } else if (strcmp(k, "url") == 0 || strcmp(k, "image_url") == 0
                   || strcmp(k, "file_url") == 0) {
            if (json_is_string(v)) {
                if (json_string_length(v) >= 5
                    && ref_ilower_eq(json_string_value(v), 5, "data:")) {
                    mode = RW_EXEMPT;
                    file = 1;
                } else if (kind && ref_full(v)) {
                    r->media |= kind;
                }
                l = "url";
            }
        } else if (ref_in(k, ref_schema_keys)) {
            mode = RW_SCHEMA;
        } else if (strcmp(k, "headers") == 0) {
            mode = json_is_object(v) ? RW_HEADERS : RW_FREE;
        } else if (ref_in(k, ref_free_keys)) {
            mode = RW_FREE;
            if (strcmp(k, "variables") == 0 && json_is_object(v))
                ref_variables(r, v);
        } else if (strcmp(k, "input") == 0 || strcmp(k, "arguments") == 0) {
            if (json_is_object(v))
                mode = RW_FREE;
        } else if (msg != NULL) {
            if (strcmp(k, "name") == 0)
                l = "name";
            else if (strcmp(k, "refusal") == 0)
                l = "refusal";
            else if (strcmp(k, "tool_calls") == 0 || strcmp(k, "function_call") == 0)
                l = "tool_call";
            else if (strcmp(k, "reasoning_content") == 0 || strcmp(k, "reasoning") == 0
                     || strcmp(k, "thinking") == 0)
                l = "thinking";
        }
        /* the string "auto"/"none" of a legacy function_call is control */
        if (strcmp(k, "function_call") == 0 && json_is_string(v))
            mode = RW_EXEMPT;
        if (root)
            l = ref_root_label(ep, k);
        if (file) {
            switch (ref_file(r, own != NULL ? own : l, v, hint, file == 2)) {
            case RF_UNREAD:
                r->unread = 1;
                break;
            case RF_MEDIA:
                r->media |= ref_is_data_url(v) ? ref_media_of(json_string_value(v) + 5)
                            : hint != NULL ? ref_media_of(hint)
                            : file == 2 && !kind ? AIGOV_MEDIA_FILE : kind;
                break;
            default:
                break;
            }
            continue;
        }
        if (kind && json_is_object(v) && (mode == RW_NORMAL || mode == RW_EXEMPT)) {
            if (ref_object(r, ep, v, l, 0, kind))
                return -1;
        } else if (ref_walk(r, ep, v, l, mode, 0)) {
            return -1;
        }
    }
    return 0;
}

static int
ref_walk(ref_req_t *r, aigov_endpoint_t ep, json_t *v, const char *label,
         int mode, int root)
{
    const char *k;
    json_t     *x, *y;
    size_t      i;

    if (json_is_string(v)) {
        if (mode == RW_EXEMPT)
            return 0;
        /* a data: URL of text in a free-form value is its text; of
         * binary media, media of its type (and a text as it is) */
        if (mode == RW_FREE && ref_is_data_url(v)) {
            int f = ref_file(r, label, v, NULL, 0);

            if (f == RF_TEXT)
                return 0;
            if (f == RF_MEDIA)
                r->media |= ref_media_of(json_string_value(v) + 5);
        }
        return ref_add(r, label, v);
    }
    if (json_is_array(v)) {
        json_array_foreach(v, i, x) {
            if (ref_walk(r, ep, x, label,
                         mode == RW_EXEMPT && !json_is_string(x) ? RW_NORMAL : mode, 0))
                return -1;
        }
        return 0;
    }
    if (!json_is_object(v))
        return 0;
    if (mode == RW_FREE) {
        json_object_foreach(v, k, x) {
            if (ref_add_key(r, label, v, k) || ref_walk(r, ep, x, label, RW_FREE, 0))
                return -1;
        }
        return 0;
    }
    if (mode == RW_HEADERS) {
        /* a credential header's string is control, all else free-form */
        json_object_foreach(v, k, x) {
            if (ref_add_key(r, label, v, k)
                || ref_walk(r, ep, x, label, json_is_string(x) && ref_credential(k)
                                             ? RW_EXEMPT : RW_FREE, 0))
                return -1;
        }
        return 0;
    }
    if (mode == RW_SCHEMA) {
        json_object_foreach(v, k, x) {
            int m = RW_SCHEMA;

            if (ref_in(k, ref_schema_ctl)) {
                m = RW_EXEMPT;
            } else if (ref_in(k, ref_schema_data)) {
                m = RW_FREE;
            } else if (ref_in(k, ref_schema_maps)) {
                const char *pk;

                if (json_is_object(x)) {
                    json_object_foreach(x, pk, y) {
                        if (ref_add_key(r, label, x, pk)
                            || ref_walk(r, ep, y, label, RW_SCHEMA, 0))
                            return -1;
                    }
                    continue;
                }
            } else if (!ref_in(k, ref_schema_words)) {
                /* no keyword: a name the client chose */
                if (ref_add_key(r, label, v, k))
                    return -1;
                m = RW_FREE;
            }
            if (ref_walk(r, ep, x, label, m, 0))
                return -1;
        }
        return 0;
    }
    return ref_object(r, ep, v, label, root, 0);
}

static int
ref_count(ref_req_t *r, const char *key)
{
    json_t *v = json_object_get(r->root, key);

    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 1
        || json_integer_value(v) > AIGOV_REQ_MAX_N)
        return -1;
    if (json_integer_value(v) > r->n)
        r->n = json_integer_value(v);
    return 0;
}

static int
ref_stream_options(ref_req_t *r)
{
    json_t *so = json_object_get(r->root, "stream_options"), *iu;

    if (so == NULL || json_is_null(so))
        return 0;
    if (!json_is_object(so))
        return -1;
    iu = json_object_get(so, "include_usage");
    return iu == NULL || json_is_null(iu) || json_is_boolean(iu) ? 0 : -1;
}

static int
ref_responses(ref_req_t *r)
{
    json_t *in = json_object_get(r->root, "input");
    json_t *ins = json_object_get(r->root, "instructions"), *x;
    size_t  i;

    if (ins != NULL && !json_is_null(ins) && !json_is_string(ins) && !json_is_array(ins))
        return -1;
    if (in == NULL || json_is_null(in) || json_is_string(in))
        return 0;
    if (!json_is_array(in))
        return -1;
    json_array_foreach(in, i, x) {
        if (!json_is_object(x))
            return -1;
    }
    return 0;
}

static int
ref_texts(ref_req_t *r, aigov_endpoint_t ep, int shape_rc)
{
    if (shape_rc != 0)
        return -1;
    if (ep == AIGOV_EP_UNKNOWN || ep == AIGOV_EP_MODELS)
        return 0;
    r->quiet = 0;
    return ref_walk(r, ep, r->root, NULL, RW_NORMAL, 1);
}

/* Takes root (a reference). 0: read; -1: bad shape. */
static int
ref_read(ref_req_t *r, aigov_endpoint_t ep, json_t *root)
{
    json_t *v;
    int     mt = 0, mct = 0;

    memset(r, 0, sizeof(*r));
    r->root = root;
    r->max_tokens = -1;
    r->n = 1;
    r->quiet = 1;
    if (!json_is_object(root))
        return -1;
    v = json_object_get(root, "model");
    if (v == NULL) {
        if (ep != AIGOV_EP_UNKNOWN && ep != AIGOV_EP_MODELS && ep != AIGOV_EP_RESPONSES)
            return -1;
    } else if (!json_is_string(v)) {
        return -1;
    } else {
        r->model = json_string_value(v);
    }
    v = json_object_get(root, "stream");
    if (v != NULL && !json_is_null(v)) {
        if (!json_is_boolean(v))
            return -1;
        r->stream = json_is_true(v);
    }
    switch (ep) {
    case AIGOV_EP_CHAT:
        if (ref_limit(r, "max_tokens", &mt) || ref_limit(r, "max_completion_tokens", &mct))
            return -1;
        r->max_tokens_key = mct && !mt ? "max_completion_tokens" : "max_tokens";
        if (ref_count(r, "n") || ref_stream_options(r))
            return -1;
        return ref_texts(r, ep, ref_chat(r));
    case AIGOV_EP_COMPLETIONS:
        r->max_tokens_key = "max_tokens";
        if (ref_limit(r, "max_tokens", &mt))
            return -1;
        if (ref_count(r, "n") || ref_count(r, "best_of") || ref_stream_options(r))
            return -1;
        {
            /* each prompt of a list (a string, a token list) n times;
             * token ids alone are one prompt */
            json_t *pr = json_object_get(r->root, "prompt"), *it;
            long long np = 0;
            int ids = 0;
            size_t i;

            if (json_is_array(pr)) {
                json_array_foreach(pr, i, it) {
                    if (json_is_string(it) || json_is_array(it))
                        np++;
                    else
                        ids = 1;
                }
                np += ids;
                r->n *= np > 0 ? np : 1;
            }
        }
        return ref_texts(r, ep, ref_prompt(r, "prompt"));
    case AIGOV_EP_EMBEDDINGS:
        return ref_texts(r, ep, ref_prompt(r, "input"));
    case AIGOV_EP_MESSAGES:
        r->max_tokens_key = "max_tokens";
        if (ref_limit(r, "max_tokens", &mt) || !mt)
            return -1;
        return ref_texts(r, ep, ref_messages(r));
    case AIGOV_EP_COUNT_TOKENS:
        return ref_texts(r, ep, ref_messages(r));
    case AIGOV_EP_RESPONSES:
        r->max_tokens_key = "max_output_tokens";
        if (ref_limit(r, "max_output_tokens", &mt))
            return -1;
        return ref_texts(r, ep, ref_responses(r));
    default:
        return ref_limit(r, "max_tokens", &mt);
    }
}

/* set_max_tokens: every non-null limit key of the kind overwritten, else
 * the request's key set. */
static void
ref_set_max_tokens(ref_req_t *r, aigov_endpoint_t ep, long long v)
{
    const char *keys[2] = { NULL, NULL };
    int i, done = 0;

    if (r->max_tokens_key == NULL)
        return;
    if (ep == AIGOV_EP_RESPONSES) {
        keys[0] = "max_output_tokens";
    } else {
        keys[0] = "max_tokens";
        keys[1] = "max_completion_tokens";
    }
    for (i = 0; i < 2; i++) {
        json_t *old = keys[i] ? json_object_get(r->root, keys[i]) : NULL;

        if (old == NULL || json_is_null(old))
            continue;
        json_object_set_new(r->root, keys[i], json_integer(v));
        done = 1;
    }
    if (!done)
        json_object_set_new(r->root, r->max_tokens_key, json_integer(v));
}

/* ask_usage: streamed chat and completions get include_usage true. */
static void
ref_ask_usage(ref_req_t *r, aigov_endpoint_t ep)
{
    json_t *so;

    if ((ep != AIGOV_EP_CHAT && ep != AIGOV_EP_COMPLETIONS) || !r->stream)
        return;
    so = json_object_get(r->root, "stream_options");
    if (!json_is_object(so)) {
        so = json_object();
        json_object_set_new(r->root, "stream_options", so);
    }
    json_object_set_new(so, "include_usage", json_true());
}

static size_t
ref_chars(const char *s, size_t n)
{
    size_t i, c = 0;

    for (i = 0; i < n; i++)
        c += ((unsigned char) s[i] & 0xC0) != 0x80;
    return c;
}

static int
ref_streq(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

#define REF_FAIL(...) do { snprintf(why, whylen, __VA_ARGS__); goto out; } while (0)

/*
 * Parses body with lib/request.c and with the reference and compares:
 * the verdict (JSON or not, shape or not), every field and text, the
 * unmodified serialisation (the body itself), and the body after the same
 * edits on both sides (every other text replaced, a token limit set).
 * 0 when they agree; else -1 and why says what differed.
 */
static int
ref_check(aigov_endpoint_t ep, const char *body, size_t len, char *why,
          size_t whylen)
{
    static const char repl[] = "[R \"q\" \\ \n\t\x01 \xc3\xa9 \xf0\x9f\x98\x80]";
    aigov_request_t    rq, again;
    aigov_req_status_t st;
    ref_req_t          ref;
    json_t            *root, *back = NULL;
    char               err[256], *out = NULL, *lent = NULL;
    size_t             i, olen, chars = 0;
    int                rc = -1, refrc;

    memset(&ref, 0, sizeof(ref));
    why[0] = '\0';
    /* The body is lent, as the gateway lends it, from a buffer of exactly
     * its size (AddressSanitizer sees any read past it); the edited body
     * is read back from a copy below, so both ways are compared. */
    if ((lent = malloc(len ? len : 1)) == NULL) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    if (len)
        memcpy(lent, body, len);
    else
        lent[0] = '\0';
    st = aigov_request_parse_lent(&rq, ep, lent, len, err, sizeof(err));
    if (ep == AIGOV_EP_MODELS && len == 0) {
        rc = st == AIGOV_REQ_OK ? 0 : -1;
        aigov_request_free(&rq);
        free(lent);
        return rc;
    }
    root = ref_load(body, len);
    if (st == AIGOV_REQ_BAD_SHAPE && strstr(err, "nested deeper") != NULL) {
        json_decref(root);      /* the depth bound is ours, not jansson's */
        aigov_request_free(&rq);
        free(lent);
        return 0;
    }
    if (root == NULL) {
        if (st != AIGOV_REQ_BAD_JSON)
            REF_FAIL("jansson refuses the JSON, the scanner says %d (%s)", st, err);
        rc = 0;
        goto out;
    }
    if (st == AIGOV_REQ_BAD_JSON) {
        /* jansson skips a NUL byte right after a number or a literal
         * ({"a":1\0} loads); the scanner is stricter there, on purpose. */
        if (memchr(body, '\0', len) != NULL) {
            rc = 0;
            goto out;
        }
        REF_FAIL("jansson reads the JSON, the scanner refuses it: %s", err);
    }
    refrc = ref_read(&ref, ep, root);
    if (refrc != 0) {
        if (st != AIGOV_REQ_BAD_SHAPE)
            REF_FAIL("the reference finds a bad shape, the scanner says %d", st);
        rc = 0;
        goto out;
    }
    if (st != AIGOV_REQ_OK)
        REF_FAIL("the reference reads it, the scanner says %d: %s", st, err);
    if (!ref_streq(ref.model, rq.model))
        REF_FAIL("model differs");
    if (ref.stream != rq.stream || ref.max_tokens != rq.max_tokens)
        REF_FAIL("stream or max_tokens differ");
    if (ref.n != rq.n)
        REF_FAIL("n differs: %lld, the reference %lld", rq.n, ref.n);
    if (!ref_streq(ref.max_tokens_key, rq.max_tokens_key))
        REF_FAIL("max_tokens_key differs");
    if (ref.ntexts != rq.ntexts)
        REF_FAIL("%zu texts, the reference has %zu", rq.ntexts, ref.ntexts);
    for (i = 0; i < rq.ntexts; i++) {
        size_t      tl;
        const char *tx = ref_text_of(&ref.texts[i], &tl);

        if (!ref_streq(ref.texts[i].role, rq.texts[i].role))
            REF_FAIL("text %zu: role differs", i);
        if (tl != rq.texts[i].len || memcmp(tx, rq.texts[i].text, tl) != 0
            || rq.texts[i].text[rq.texts[i].len] != '\0')
            REF_FAIL("text %zu differs", i);
        if ((ref.texts[i].key != NULL) != (rq.texts[i].key != 0))
            REF_FAIL("text %zu: a key on one side only", i);
        chars += ref_chars(rq.texts[i].text, rq.texts[i].len);
    }
    if (ref.token_ids != rq.token_ids)
        REF_FAIL("token_ids differ: %lld, the reference %lld", rq.token_ids,
                 ref.token_ids);
    if (chars + (size_t) rq.token_ids != rq.prompt_chars)
        REF_FAIL("prompt_chars differs");
    if ((ref.unread || ref.token_ids > 0) != (rq.unread != NULL))
        REF_FAIL("unread differs: %s", rq.unread ? rq.unread : "(none)");
    if (ref.media != rq.media)
        REF_FAIL("media differ: %u, the reference %u", rq.media, ref.media);

    out = aigov_request_serialize(&rq, &olen);
    if (out == NULL || olen != len || memcmp(out, body, len) != 0)
        REF_FAIL("the unmodified body does not serialise to itself");
    free(out);

    for (i = 0; i < rq.ntexts; i += 2) {
        ref_text_t *t = &ref.texts[i];
        char        kr[sizeof(repl) + 32];
        size_t      kl;

        if (t->key != NULL) {
            /* a key of its own each, so that no two become equal (that
             * case has tests of its own) */
            json_t *val = json_incref(json_object_get(t->obj, t->key));

            /* a credential header's name masked stays one, so that its
             * value reads back as control */
            kl = (size_t) snprintf(kr, sizeof(kr), "%s%zu%s", repl, i,
                                   ref_credential(t->key) ? "-auth" : "");
            if (aigov_request_set_text(&rq, i, kr, kl) != 0)
                REF_FAIL("set_text %zu refused", i);
            json_object_del(t->obj, t->key);
            json_object_setn_new(t->obj, kr, kl, val);
            continue;
        }
        if (aigov_request_set_text(&rq, i, repl, sizeof(repl) - 1) != 0)
            REF_FAIL("set_text %zu refused", i);
        if (t->file != NULL) {
            char *w = ref_b64_encode(t->pre, repl, sizeof(repl) - 1);

            json_string_set(t->node, w);
            free(w);
        } else {
            json_string_setn(t->node, repl, sizeof(repl) - 1);
        }
    }
    if (aigov_request_set_max_tokens(&rq, 42) != 0)
        REF_FAIL("set_max_tokens refused");
    ref_set_max_tokens(&ref, ep, 42);
    if (aigov_request_ask_usage(&rq) < 0)
        REF_FAIL("ask_usage refused");
    ref_ask_usage(&ref, ep);
    out = aigov_request_serialize(&rq, &olen);
    if (out == NULL || strlen(out) != olen)
        REF_FAIL("no serialisation after edits");
    back = json_loadb(out, olen, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
    if (back == NULL || !json_equal(back, ref.root))
        REF_FAIL("the edited body differs from the reference's edit: %s", out);
    if (aigov_request_parse(&again, ep, out, olen, err, sizeof(err)) != AIGOV_REQ_OK
        || again.ntexts != rq.ntexts)
    {
        aigov_request_free(&again);
        REF_FAIL("the edited body does not read back: %s", err);
    }
    aigov_request_free(&again);
    if (len && memcmp(lent, body, len) != 0)
        REF_FAIL("the lent body was written to");
    rc = 0;
out:
    free(out);
    json_decref(back);
    if (ref.root != NULL)
        ref_free(&ref);
    else
        json_decref(root);
    aigov_request_free(&rq);
    free(lent);
    return rc;
}

#endif
