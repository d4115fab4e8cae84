/*
 * request: read what a model API request asks for from its JSON body.
 *
 * The body is hostile. It is parsed once with jansson, rejecting duplicate
 * keys (a second "model" or "max_tokens" must not reach the upstream behind
 * the policy's back) and NUL characters in strings (texts are handed to
 * plugins as C strings). Nesting is bounded before parsing so that no tree
 * is built for a body that only tries to exhaust the stack or memory.
 */
#include "request.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    aigov_request_t *rq;
    char            *err;
    size_t           errlen;
    size_t           cap;       /* allocated slots in rq->texts */
} parse_ctx_t;

/* Internal result of the shape walkers. */
#define SHAPE_OK     0
#define SHAPE_BAD   -1
#define SHAPE_NOMEM -2

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- endpoints ---------------------------------------------------------- */

static const struct {
    const char       *suffix;   /* matched at a path-segment boundary */
    aigov_endpoint_t  ep;
} ep_suffixes[] = {
    /* "/chat/completions" before "/completions": the longer match wins. */
    { "/chat/completions", AIGOV_EP_CHAT },
    { "/completions",      AIGOV_EP_COMPLETIONS },
    { "/embeddings",       AIGOV_EP_EMBEDDINGS },
    { "/messages",         AIGOV_EP_MESSAGES },
    { "/models",           AIGOV_EP_MODELS },
};

aigov_endpoint_t
aigov_endpoint_from_path(const char *path, size_t len)
{
    const char *q;
    size_t      i, slen;

    if (path == NULL)
        return AIGOV_EP_UNKNOWN;
    q = memchr(path, '?', len);
    if (q != NULL)
        len = (size_t) (q - path);
    /* One trailing slash is tolerated, as most API servers do. */
    if (len > 1 && path[len - 1] == '/')
        len--;

    for (i = 0; i < sizeof(ep_suffixes) / sizeof(ep_suffixes[0]); i++) {
        slen = strlen(ep_suffixes[i].suffix);
        if (len >= slen
            && memcmp(path + len - slen, ep_suffixes[i].suffix, slen) == 0)
        {
            return ep_suffixes[i].ep;
        }
    }
    return AIGOV_EP_UNKNOWN;
}

const char *
aigov_endpoint_name(aigov_endpoint_t ep)
{
    switch (ep) {
    case AIGOV_EP_CHAT:        return "/v1/chat/completions";
    case AIGOV_EP_COMPLETIONS: return "/v1/completions";
    case AIGOV_EP_EMBEDDINGS:  return "/v1/embeddings";
    case AIGOV_EP_MESSAGES:    return "/v1/messages";
    case AIGOV_EP_MODELS:      return "/v1/models";
    default:                   return "";
    }
}

/* ---- helpers ------------------------------------------------------------ */

static size_t
utf8_chars(const char *s, size_t len)
{
    size_t i, n = 0;

    /* jansson has already checked the UTF-8; count the non-continuation
     * bytes. */
    for (i = 0; i < len; i++) {
        if (((unsigned char) s[i] & 0xC0) != 0x80)
            n++;
    }
    return n;
}

/*
 * Depth of [ and { nesting, strings skipped. Run before parsing so that a
 * body of a million '[' costs a scan, not a tree. Malformed input is left
 * for jansson to report with its position.
 */
static int
nesting_too_deep(const char *s, size_t len, size_t *where)
{
    size_t i, depth = 0;
    int    in_str = 0;

    for (i = 0; i < len; i++) {
        char c = s[i];

        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        if (c == '"') {
            in_str = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > AIGOV_REQ_MAX_DEPTH) {
                *where = i;
                return 1;
            }
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return 0;
}

static int
add_text(parse_ctx_t *cx, const char *role, json_t *node)
{
    aigov_request_t *rq = cx->rq;
    aigov_text_t    *t;

    if (rq->ntexts >= AIGOV_REQ_MAX_TEXTS) {
        set_err(cx->err, cx->errlen,
                "the request has more than %d texts", AIGOV_REQ_MAX_TEXTS);
        return SHAPE_BAD;
    }
    if (rq->ntexts == cx->cap) {
        size_t ncap = cx->cap ? cx->cap * 2 : 8;
        aigov_text_t *nt = realloc(rq->texts, ncap * sizeof(*nt));

        if (nt == NULL)
            return SHAPE_NOMEM;
        rq->texts = nt;
        cx->cap = ncap;
    }
    t = &rq->texts[rq->ntexts++];
    t->role = role;
    t->text = json_string_value(node);
    t->len = json_string_length(node);
    t->node = node;
    rq->prompt_chars += utf8_chars(t->text, t->len);
    return SHAPE_OK;
}

static const char *
type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:  return "an object";
    case JSON_ARRAY:   return "an array";
    case JSON_STRING:  return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL:    return "a number";
    case JSON_TRUE:
    case JSON_FALSE:   return "a boolean";
    default:           return "null";
    }
}

/* ---- common fields ------------------------------------------------------ */

static int
read_model(parse_ctx_t *cx, int required)
{
    json_t *v = json_object_get(cx->rq->root, "model");

    if (v == NULL) {
        if (!required)
            return SHAPE_OK;
        set_err(cx->err, cx->errlen, "'model' is required");
        return SHAPE_BAD;
    }
    if (!json_is_string(v)) {
        set_err(cx->err, cx->errlen, "'model' must be a string, not %s",
                type_name(v));
        return SHAPE_BAD;
    }
    cx->rq->model = json_string_value(v);
    return SHAPE_OK;
}

static int
read_stream(parse_ctx_t *cx)
{
    json_t *v = json_object_get(cx->rq->root, "stream");

    /* null is what SDKs send for "not set". */
    if (v == NULL || json_is_null(v))
        return SHAPE_OK;
    if (!json_is_boolean(v)) {
        set_err(cx->err, cx->errlen, "'stream' must be true or false, not %s",
                type_name(v));
        return SHAPE_BAD;
    }
    cx->rq->stream = json_is_true(v);
    return SHAPE_OK;
}

/* Reads one token-limit key; *present tells whether it carried a value. */
static int
read_limit(parse_ctx_t *cx, const char *key, int *present)
{
    json_t   *v = json_object_get(cx->rq->root, key);
    json_int_t n;

    *present = 0;
    if (v == NULL || json_is_null(v))
        return SHAPE_OK;
    if (!json_is_integer(v) || (n = json_integer_value(v)) < 0) {
        set_err(cx->err, cx->errlen, "'%s' must be a non-negative integer", key);
        return SHAPE_BAD;
    }
    *present = 1;
    if ((long long) n > cx->rq->max_tokens)
        cx->rq->max_tokens = (long long) n;
    return SHAPE_OK;
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
    case AIGOV_EP_MESSAGES:
        rq->max_tokens_key = "max_tokens";
        if ((rc = read_limit(cx, "max_tokens", &has_mt)) != SHAPE_OK)
            return rc;
        if (!has_mt) {
            set_err(cx->err, cx->errlen,
                    "'max_tokens' is required and must be an integer");
            return SHAPE_BAD;
        }
        return SHAPE_OK;
    default:
        /* Embeddings have no token limit; unknown bodies are read as far
         * as they are recognisable. */
        if (rq->endpoint == AIGOV_EP_EMBEDDINGS)
            return SHAPE_OK;
        rq->max_tokens_key = "max_tokens";
        return read_limit(cx, "max_tokens", &has_mt);
    }
}

/* ---- OpenAI chat ---------------------------------------------------------- */

/* content: string, null, or an array of parts of which "text" parts count. */
static int
read_openai_content(parse_ctx_t *cx, size_t mi, const char *role, json_t *c)
{
    size_t  pi;
    json_t *part;

    if (json_is_null(c))
        return SHAPE_OK;
    if (json_is_string(c))
        return add_text(cx, role, c);
    if (!json_is_array(c)) {
        set_err(cx->err, cx->errlen,
                "'messages[%zu].content' must be a string or an array of "
                "content parts, not %s", mi, type_name(c));
        return SHAPE_BAD;
    }
    json_array_foreach(c, pi, part) {
        json_t *type, *text;
        int     rc;

        if (!json_is_object(part)) {
            set_err(cx->err, cx->errlen,
                    "'messages[%zu].content[%zu]' must be an object", mi, pi);
            return SHAPE_BAD;
        }
        type = json_object_get(part, "type");
        if (!json_is_string(type)) {
            set_err(cx->err, cx->errlen,
                    "'messages[%zu].content[%zu].type' must be a string", mi, pi);
            return SHAPE_BAD;
        }
        if (strcmp(json_string_value(type), "text") != 0)
            continue;
        text = json_object_get(part, "text");
        if (!json_is_string(text)) {
            set_err(cx->err, cx->errlen,
                    "'messages[%zu].content[%zu].text' must be a string", mi, pi);
            return SHAPE_BAD;
        }
        if ((rc = add_text(cx, role, text)) != SHAPE_OK)
            return rc;
    }
    return SHAPE_OK;
}

/* Function-call arguments are text the model reads back; a filter must see
 * them, or a blocked term could travel inside a fake earlier tool call. */
static int
read_openai_call(parse_ctx_t *cx, size_t mi, const char *what, const char *role,
                 json_t *fn)
{
    json_t *args;

    if (!json_is_object(fn)) {
        set_err(cx->err, cx->errlen, "'messages[%zu].%s' must be an object",
                mi, what);
        return SHAPE_BAD;
    }
    args = json_object_get(fn, "arguments");
    if (args == NULL || json_is_null(args))
        return SHAPE_OK;
    if (!json_is_string(args)) {
        set_err(cx->err, cx->errlen,
                "'messages[%zu].%s.arguments' must be a string", mi, what);
        return SHAPE_BAD;
    }
    return add_text(cx, role, args);
}

static int
read_chat(parse_ctx_t *cx)
{
    json_t *msgs = json_object_get(cx->rq->root, "messages"), *m;
    size_t  mi;
    int     rc;

    if (msgs == NULL) {
        set_err(cx->err, cx->errlen, "'messages' is required");
        return SHAPE_BAD;
    }
    if (!json_is_array(msgs)) {
        set_err(cx->err, cx->errlen, "'messages' must be an array, not %s",
                type_name(msgs));
        return SHAPE_BAD;
    }
    json_array_foreach(msgs, mi, m) {
        json_t     *role, *content, *calls, *fc;
        const char *r;

        if (!json_is_object(m)) {
            set_err(cx->err, cx->errlen, "'messages[%zu]' must be an object", mi);
            return SHAPE_BAD;
        }
        role = json_object_get(m, "role");
        if (!json_is_string(role)) {
            set_err(cx->err, cx->errlen,
                    "'messages[%zu].role' must be a string", mi);
            return SHAPE_BAD;
        }
        r = json_string_value(role);
        content = json_object_get(m, "content");
        if (content != NULL
            && (rc = read_openai_content(cx, mi, r, content)) != SHAPE_OK)
        {
            return rc;
        }

        calls = json_object_get(m, "tool_calls");
        if (calls != NULL && !json_is_null(calls)) {
            size_t ci;
            json_t *call;

            if (!json_is_array(calls)) {
                set_err(cx->err, cx->errlen,
                        "'messages[%zu].tool_calls' must be an array", mi);
                return SHAPE_BAD;
            }
            json_array_foreach(calls, ci, call) {
                json_t *fn;

                if (!json_is_object(call)) {
                    set_err(cx->err, cx->errlen,
                            "'messages[%zu].tool_calls[%zu]' must be an object",
                            mi, ci);
                    return SHAPE_BAD;
                }
                fn = json_object_get(call, "function");
                if (fn == NULL)
                    continue;
                rc = read_openai_call(cx, mi, "tool_calls[].function", r, fn);
                if (rc != SHAPE_OK)
                    return rc;
            }
        }
        fc = json_object_get(m, "function_call");
        if (fc != NULL && !json_is_null(fc)) {
            rc = read_openai_call(cx, mi, "function_call", r, fc);
            if (rc != SHAPE_OK)
                return rc;
        }
    }
    return SHAPE_OK;
}

/* ---- completions and embeddings ----------------------------------------- */

/* A string, or an array of strings, or token ids (integers, or arrays of
 * integers) which carry no text. */
static int
read_prompt_like(parse_ctx_t *cx, const char *key, int required)
{
    json_t *v = json_object_get(cx->rq->root, key), *item;
    size_t  i;
    int     rc;

    if (v == NULL) {
        if (!required)
            return SHAPE_OK;
        set_err(cx->err, cx->errlen, "'%s' is required", key);
        return SHAPE_BAD;
    }
    if (json_is_string(v))
        return add_text(cx, key, v);
    if (!json_is_array(v)) {
        set_err(cx->err, cx->errlen,
                "'%s' must be a string or an array of strings or token ids, "
                "not %s", key, type_name(v));
        return SHAPE_BAD;
    }
    json_array_foreach(v, i, item) {
        if (json_is_string(item)) {
            if ((rc = add_text(cx, key, item)) != SHAPE_OK)
                return rc;
        } else if (json_is_integer(item)) {
            continue;
        } else if (json_is_array(item)) {
            size_t  j;
            json_t *tok;

            json_array_foreach(item, j, tok) {
                if (!json_is_integer(tok)) {
                    set_err(cx->err, cx->errlen,
                            "'%s[%zu][%zu]' must be a token id (an integer)",
                            key, i, j);
                    return SHAPE_BAD;
                }
            }
        } else {
            set_err(cx->err, cx->errlen,
                    "'%s[%zu]' must be a string or a token id, not %s",
                    key, i, type_name(item));
            return SHAPE_BAD;
        }
    }
    return SHAPE_OK;
}

/* ---- Anthropic messages ------------------------------------------------- */

/*
 * Blocks: only "text" blocks carry text, except "tool_result" whose content
 * (a string or text blocks) is what a tool returned and the model will read.
 * where is the field path for errors, e.g. "messages[2].content".
 */
static int
read_anthropic_blocks(parse_ctx_t *cx, const char *where, const char *role,
                      json_t *c, int nested)
{
    size_t  bi;
    json_t *b;
    int     rc;

    if (json_is_string(c))
        return add_text(cx, role, c);
    if (!json_is_array(c)) {
        set_err(cx->err, cx->errlen,
                "'%s' must be a string or an array of content blocks, not %s",
                where, type_name(c));
        return SHAPE_BAD;
    }
    json_array_foreach(c, bi, b) {
        json_t     *type, *text;
        const char *t;

        if (!json_is_object(b)) {
            set_err(cx->err, cx->errlen, "'%s[%zu]' must be an object", where, bi);
            return SHAPE_BAD;
        }
        type = json_object_get(b, "type");
        if (!json_is_string(type)) {
            set_err(cx->err, cx->errlen, "'%s[%zu].type' must be a string",
                    where, bi);
            return SHAPE_BAD;
        }
        t = json_string_value(type);
        if (strcmp(t, "text") == 0) {
            text = json_object_get(b, "text");
            if (!json_is_string(text)) {
                set_err(cx->err, cx->errlen, "'%s[%zu].text' must be a string",
                        where, bi);
                return SHAPE_BAD;
            }
            if ((rc = add_text(cx, role, text)) != SHAPE_OK)
                return rc;
        } else if (strcmp(t, "tool_result") == 0 && !nested) {
            json_t *inner = json_object_get(b, "content");
            char    sub[96];

            if (inner == NULL || json_is_null(inner))
                continue;
            snprintf(sub, sizeof(sub), "%s[%zu].content", where, bi);
            rc = read_anthropic_blocks(cx, sub, role, inner, 1);
            if (rc != SHAPE_OK)
                return rc;
        }
    }
    return SHAPE_OK;
}

static int
read_messages(parse_ctx_t *cx)
{
    json_t *sys = json_object_get(cx->rq->root, "system");
    json_t *msgs = json_object_get(cx->rq->root, "messages"), *m;
    size_t  mi;
    int     rc;

    if (sys != NULL && !json_is_null(sys)) {
        rc = read_anthropic_blocks(cx, "system", "system", sys, 1);
        if (rc != SHAPE_OK)
            return rc;
    }
    if (msgs == NULL) {
        set_err(cx->err, cx->errlen, "'messages' is required");
        return SHAPE_BAD;
    }
    if (!json_is_array(msgs)) {
        set_err(cx->err, cx->errlen, "'messages' must be an array, not %s",
                type_name(msgs));
        return SHAPE_BAD;
    }
    json_array_foreach(msgs, mi, m) {
        json_t *role, *content;
        char    where[48];

        if (!json_is_object(m)) {
            set_err(cx->err, cx->errlen, "'messages[%zu]' must be an object", mi);
            return SHAPE_BAD;
        }
        role = json_object_get(m, "role");
        if (!json_is_string(role)) {
            set_err(cx->err, cx->errlen,
                    "'messages[%zu].role' must be a string", mi);
            return SHAPE_BAD;
        }
        content = json_object_get(m, "content");
        if (content == NULL) {
            set_err(cx->err, cx->errlen,
                    "'messages[%zu].content' is required", mi);
            return SHAPE_BAD;
        }
        snprintf(where, sizeof(where), "messages[%zu].content", mi);
        rc = read_anthropic_blocks(cx, where, json_string_value(role),
                                   content, 0);
        if (rc != SHAPE_OK)
            return rc;
    }
    return SHAPE_OK;
}

/* ---- parse / free ------------------------------------------------------- */

aigov_req_status_t
aigov_request_parse(aigov_request_t *rq, aigov_endpoint_t ep,
                    const char *body, size_t len, char *err, size_t errlen)
{
    parse_ctx_t  cx;
    json_error_t je;
    size_t       where;
    int          rc;

    memset(rq, 0, sizeof(*rq));
    rq->endpoint = ep;
    rq->max_tokens = -1;
    set_err(err, errlen, "%s", "");

    /* GET /v1/models has no body to read. */
    if (ep == AIGOV_EP_MODELS && len == 0)
        return AIGOV_REQ_OK;

    if (body == NULL && len > 0) {
        set_err(err, errlen, "no request body");
        return AIGOV_REQ_BAD_JSON;
    }
    if (len > AIGOV_REQ_MAX_BODY) {
        set_err(err, errlen, "the request body is larger than %d bytes",
                AIGOV_REQ_MAX_BODY);
        return AIGOV_REQ_BAD_SHAPE;
    }
    if (nesting_too_deep(body, len, &where)) {
        set_err(err, errlen,
                "JSON nested deeper than %d levels at byte %zu",
                AIGOV_REQ_MAX_DEPTH, where + 1);
        return AIGOV_REQ_BAD_SHAPE;
    }

    rq->root = json_loadb(body ? body : "", len,
                          JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (rq->root == NULL) {
        if (json_error_code(&je) == json_error_out_of_memory)
            return AIGOV_REQ_NOMEM;
        set_err(err, errlen, "invalid JSON at line %d, column %d: %s",
                je.line, je.column < 1 ? 1 : je.column, je.text);
        return AIGOV_REQ_BAD_JSON;
    }
    if (!json_is_object(rq->root)) {
        set_err(err, errlen, "the request body must be a JSON object, not %s",
                type_name(rq->root));
        return AIGOV_REQ_BAD_SHAPE;
    }

    cx.rq = rq;
    cx.err = err;
    cx.errlen = errlen;
    cx.cap = 0;

    rc = read_model(&cx, ep != AIGOV_EP_UNKNOWN && ep != AIGOV_EP_MODELS);
    if (rc == SHAPE_OK)
        rc = read_stream(&cx);
    if (rc == SHAPE_OK)
        rc = read_limits(&cx);
    if (rc == SHAPE_OK) {
        switch (ep) {
        case AIGOV_EP_CHAT:        rc = read_chat(&cx); break;
        case AIGOV_EP_COMPLETIONS: rc = read_prompt_like(&cx, "prompt", 1); break;
        case AIGOV_EP_EMBEDDINGS:  rc = read_prompt_like(&cx, "input", 1); break;
        case AIGOV_EP_MESSAGES:    rc = read_messages(&cx); break;
        default:                   break;
        }
    }
    if (rc == SHAPE_NOMEM) {
        set_err(err, errlen, "out of memory");
        return AIGOV_REQ_NOMEM;
    }
    return rc == SHAPE_OK ? AIGOV_REQ_OK : AIGOV_REQ_BAD_SHAPE;
}

void
aigov_request_free(aigov_request_t *rq)
{
    if (rq == NULL)
        return;
    json_decref(rq->root);
    free(rq->texts);
    memset(rq, 0, sizeof(*rq));
    rq->max_tokens = -1;
}

/* ---- edits -------------------------------------------------------------- */

int
aigov_request_set_text(aigov_request_t *rq, size_t i, const char *text, size_t len)
{
    aigov_text_t *t;
    size_t        old;

    if (rq == NULL || i >= rq->ntexts || (text == NULL && len > 0))
        return -1;
    /* Texts are C strings for plugins; a NUL inside would hide the rest. */
    if (len > 0 && memchr(text, '\0', len) != NULL)
        return -1;
    t = &rq->texts[i];
    old = utf8_chars(t->text, t->len);
    /* json_string_setn checks the UTF-8 and refuses what is not. */
    if (json_string_setn(t->node, len ? text : "", len) != 0)
        return -1;
    t->text = json_string_value(t->node);
    t->len = json_string_length(t->node);
    rq->prompt_chars = rq->prompt_chars - old + utf8_chars(t->text, t->len);
    rq->modified = 1;
    return 0;
}

int
aigov_request_set_max_tokens(aigov_request_t *rq, long long v)
{
    static const char *const keys[] = { "max_tokens", "max_completion_tokens" };
    size_t i;
    int    done = 0;

    if (rq == NULL || rq->root == NULL || v < 0)
        return -1;
    /* Embeddings produce no tokens to limit: a policy limit is moot there,
     * not an error. */
    if (rq->max_tokens_key == NULL)
        return 0;
    /* Every key the caller gave is overwritten, so none escapes the limit. */
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        json_t *old = json_object_get(rq->root, keys[i]);

        if (old == NULL || json_is_null(old))
            continue;
        if (json_object_set_new(rq->root, keys[i], json_integer(v)) != 0)
            return -1;
        done = 1;
    }
    if (!done) {
        /* A null key is replaced in place, so key order is kept. */
        if (json_object_set_new(rq->root, rq->max_tokens_key, json_integer(v)) != 0)
            return -1;
    }
    rq->max_tokens = v;
    rq->modified = 1;
    return 0;
}

/* Smallest %g precision at which every real in the tree reads back the same,
 * so 0.7 stays "0.7" rather than becoming "0.69999999999999996". */
static int
real_precision_needed(json_t *v, int have, int depth)
{
    if (have >= 17 || depth > AIGOV_REQ_MAX_DEPTH + 1)
        return 17;
    if (json_is_real(v)) {
        double d = json_real_value(v);
        char   buf[40];
        int    p;

        for (p = have; p < 17; p++) {
            snprintf(buf, sizeof(buf), "%.*g", p, d);
            if (strtod(buf, NULL) == d)
                break;
        }
        return p;
    }
    if (json_is_object(v)) {
        const char *k;
        json_t     *c;

        json_object_foreach(v, k, c)
            have = real_precision_needed(c, have, depth + 1);
    } else if (json_is_array(v)) {
        size_t  i;
        json_t *c;

        json_array_foreach(v, i, c)
            have = real_precision_needed(c, have, depth + 1);
    }
    return have;
}

char *
aigov_request_serialize(const aigov_request_t *rq, size_t *len)
{
    char  *out;
    size_t flags;

    if (len != NULL)
        *len = 0;
    if (rq == NULL || rq->root == NULL)
        return NULL;
    flags = JSON_COMPACT | JSON_REAL_PRECISION(real_precision_needed(rq->root, 1, 0));
    out = json_dumps(rq->root, flags);
    if (out != NULL && len != NULL)
        *len = strlen(out);
    return out;
}

long long
aigov_request_prompt_tokens(const aigov_request_t *rq)
{
    long long n = 0;
    size_t    i, c;

    if (rq == NULL)
        return 0;
    for (i = 0; i < rq->ntexts; i++) {
        c = utf8_chars(rq->texts[i].text, rq->texts[i].len);
        n += c == 0 ? 1 : (long long) ((c + 3) / 4);
    }
    return n;
}
