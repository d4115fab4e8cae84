/*
 * answer: filtering of model answers, whole or streamed, and usage. See
 * answer.h for the model; the comments here say why the details are so.
 */
#include "answer.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_string.h"
#include "sse.h"
#include "utf8.h"

/* An event held back: its bytes, and for a text event the parsed data and
 * the JSON strings that carry its text. */
typedef struct {
    char     *raw;
    size_t    raw_len;
    json_t   *root;
    json_t  **pieces;
    size_t   *pstart;     /* global offset of each piece in the text stream */
    size_t    npieces;
    size_t    tstart, tend;
    char     *event;      /* "event:" value for re-serialising, or NULL */
    char     *id;         /* "id:" value when the block had one, or NULL */
    int       text;       /* a text event (root, or read by fast_event) */
    size_t    lit_s, lit_e;   /* root NULL: its text's JSON string in raw */
} held_t;

typedef struct {
    aigov_filter_spec_t  spec;
    const char          *name;
    void                *stream;
    int                  broken;    /* stream_start failed: acts as an error */
    int                  flagged;   /* a finding without spans was counted */
} rfilter_t;

typedef struct {
    json_t  **v;
    size_t    n, cap;
} pieces_t;

struct aigov_answer_s {
    aigov_endpoint_t  ep;
    int               is_stream;
    rfilter_t        *f;
    size_t            nf;
    size_t            hold_back, max_event, max_json, max_held;
    size_t            hold;           /* text the filters still need, <= hold_back */
    aigov_sse_t      *sse;
    int               sse_dead;

    char             *out;
    size_t            out_len, out_off, out_cap;

    char             *body;
    size_t            body_len, body_cap;
    int               body_over;

    held_t           *q;
    size_t            qhead, qn, qcap, held_bytes;
    char             *win;            /* text stream from offset wbase */
    size_t            wbase, wlen, wcap;
    size_t            rel;            /* text before rel has been sent */
    aigov_masks_t     masks;

    long long         prompt, completion;
    int               has_usage;
    aigov_filter_outcome_t outcome;
    int               modified;
    int               finished;
    int               no_fast;        /* tests: jansson reads every event */
};

/* ---- small buffers ---- */

/* Past JSON white space. */
static const char *ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    return p;
}

static int grow(char **buf, size_t *cap, size_t need)
{
    size_t c = *cap ? *cap : 256;
    char *b;

    if (need <= *cap)
        return 0;
    while (c < need)
        c *= 2;
    b = realloc(*buf, c);
    if (b == NULL)
        return -1;
    *buf = b;
    *cap = c;
    return 0;
}

/* Room for n more bytes at the end of the output; NULL out of memory. */
static char *reserve(aigov_answer_t *a, size_t n)
{
    if (a->out_off > 0) {
        memmove(a->out, a->out + a->out_off, a->out_len - a->out_off);
        a->out_len -= a->out_off;
        a->out_off = 0;
    }
    if (grow(&a->out, &a->out_cap, a->out_len + n) != 0)
        return NULL;
    return a->out + a->out_len;
}

static int emit(aigov_answer_t *a, const char *s, size_t n)
{
    char *o = reserve(a, n);

    if (o == NULL)
        return -1;
    memcpy(o, s, n);
    a->out_len += n;
    return 0;
}

static int emits(aigov_answer_t *a, const char *s)
{
    return emit(a, s, strlen(s));
}

/* ---- construction ---- */

aigov_answer_t *aigov_answer_new(aigov_endpoint_t ep, int is_stream,
                                 const aigov_filter_spec_t *filters, size_t nfilters,
                                 size_t hold_back)
{
    aigov_answer_t *a = calloc(1, sizeof(*a));
    size_t i;

    if (a == NULL)
        return NULL;
    a->ep = ep;
    a->is_stream = is_stream;
    a->hold_back = hold_back ? hold_back : AIGOV_ANSWER_DEFAULT_HOLD_BACK;
    a->hold = a->hold_back;
    a->max_event = AIGOV_ANSWER_DEFAULT_MAX_EVENT;
    a->max_json = AIGOV_ANSWER_DEFAULT_MAX_JSON;
    a->prompt = a->completion = -1;
    if (nfilters > 0) {
        a->f = calloc(nfilters, sizeof(*a->f));
        if (a->f == NULL) {
            free(a);
            return NULL;
        }
    }
    for (i = 0; i < nfilters; i++) {
        rfilter_t *r;
        const aigov_plugin_t *t;

        if (!(filters[i].stages & AIGOV_STAGE_RESPONSE) || filters[i].inst == NULL)
            continue;
        r = &a->f[a->nf++];
        r->spec = filters[i];
        r->name = filters[i].plugin ? filters[i].plugin
                                    : aigov_inst_plugin_name(filters[i].inst);
        t = aigov_inst_plugin(filters[i].inst);
        if (is_stream && t->stream_start != NULL) {
            r->stream = t->stream_start(aigov_inst_state(filters[i].inst));
            r->broken = r->stream == NULL;
        }
        if (aigov_outcome_note(&a->outcome, r->name, AIGOV_STAGE_RESPONSE, "allow", 0) != 0) {
            aigov_answer_free(a);
            return NULL;
        }
    }
    return a;
}

void aigov_answer_set_limits(aigov_answer_t *a, size_t max_event, size_t max_json)
{
    if (max_event)
        a->max_event = max_event;
    if (max_json)
        a->max_json = max_json;
}

static void held_free(held_t *h)
{
    free(h->raw);
    json_decref(h->root);
    free(h->pieces);
    free(h->pstart);
    free(h->event);
    free(h->id);
    memset(h, 0, sizeof(*h));
}

static void drop_held(aigov_answer_t *a)
{
    size_t i;

    for (i = a->qhead; i < a->qn; i++)
        held_free(&a->q[i]);
    a->qhead = a->qn = 0;
    a->held_bytes = 0;
}

void aigov_answer_free(aigov_answer_t *a)
{
    size_t i;

    if (a == NULL)
        return;
    for (i = 0; i < a->nf; i++) {
        const aigov_plugin_t *t = aigov_inst_plugin(a->f[i].spec.inst);
        if (a->f[i].stream != NULL)
            t->stream_end(aigov_inst_state(a->f[i].spec.inst), a->f[i].stream);
    }
    drop_held(a);
    free(a->q);
    free(a->f);
    aigov_sse_free(a->sse);
    free(a->out);
    free(a->body);
    free(a->win);
    aigov_masks_free(&a->masks);
    aigov_filter_outcome_free(&a->outcome);
    free(a);
}

void aigov_answer_set_fast(aigov_answer_t *a, int on)
{
    a->no_fast = !on;
}

int aigov_answer_passthrough(const aigov_answer_t *a)
{
    return a->nf == 0;
}

const char *aigov_answer_output(const aigov_answer_t *a, size_t *len)
{
    *len = a->out_len - a->out_off;
    return a->out ? a->out + a->out_off : "";
}

void aigov_answer_consume(aigov_answer_t *a, size_t n)
{
    if (n > a->out_len - a->out_off)
        n = a->out_len - a->out_off;
    a->out_off += n;
    if (a->out_off == a->out_len)
        a->out_off = a->out_len = 0;
}

int aigov_answer_usage(const aigov_answer_t *a, long long *prompt, long long *completion)
{
    if (prompt)
        *prompt = a->prompt;
    if (completion)
        *completion = a->completion;
    return a->has_usage;
}

const aigov_filter_outcome_t *aigov_answer_outcome(const aigov_answer_t *a)
{
    return &a->outcome;
}

int aigov_answer_blocked(const aigov_answer_t *a)
{
    return a->outcome.blocked;
}

int aigov_answer_modified(const aigov_answer_t *a)
{
    return a->modified;
}

/* ---- reading answers ---- */

/* The usage names: OpenAI's, then Anthropic's, of each count. */
static const char *const usage_names[4] = {
    "prompt_tokens", "input_tokens", "completion_tokens", "output_tokens"
};

/* The rule both readings of usage share: of each pair of names the first
 * that is an integer counts, when it is not negative. */
static void settle_usage(aigov_answer_t *a, const long long v[4], const int have[4])
{
    int i, j;

    for (i = 0; i < 4; i += 2) {
        j = have[i] ? i : have[i + 1] ? i + 1 : -1;
        if (j >= 0 && v[j] >= 0) {
            *(i == 0 ? &a->prompt : &a->completion) = v[j];
            a->has_usage = 1;
        }
    }
}

/* OpenAI "usage" {prompt_tokens, completion_tokens} (whole answers and the
 * last stream chunk); Anthropic "usage" {input_tokens, output_tokens} at
 * the top (whole answers, message_delta, where output_tokens is a running
 * total) or under "message" (message_start). */
static void take_usage(aigov_answer_t *a, const json_t *root)
{
    const json_t *u = json_object_get(root, "usage"), *c;
    long long v[4] = { 0, 0, 0, 0 };
    int have[4] = { 0, 0, 0, 0 }, i;

    if (!json_is_object(u))
        u = json_object_get(json_object_get(root, "message"), "usage");
    if (!json_is_object(u))
        return;
    for (i = 0; i < 4; i++) {
        c = json_object_get(u, usage_names[i]);
        if ((have[i] = json_is_integer(c)))
            v[i] = json_integer_value(c);
    }
    settle_usage(a, v, have);
}

/* A count in the usage object: an integer, as jansson's json_is_integer
 * sees it (a fraction or an exponent makes it something else). */
static const char *scan_count(const char *p, const char *end, long long *out, int *ok)
{
    const char *q = p;
    int neg = 0, n = 0;
    long long v = 0;

    *ok = 0;
    if (q < end && *q == '-') {
        neg = 1;
        q++;
    }
    while (q < end && *q >= '0' && *q <= '9') {
        if (++n > 18)
            return q;
        v = v * 10 + (*q++ - '0');
    }
    if (n == 0 || (q < end && (*q == '.' || *q == 'e' || *q == 'E')))
        return q;
    *out = neg ? -v : v;
    *ok = 1;
    return q;
}

/* The token counts of an answer nobody filters: only the members of the
 * object after the last "usage" key are read, without building JSON. A
 * "usage" inside message text is escaped (\"usage\") and so never
 * matches. The same counts as take_usage: the first name of each pair
 * wins when it is an integer. */
static void take_usage_fast(aigov_answer_t *a, const char *s, size_t len)
{
    const char *k = NULL, *p = s, *end = s + len, *q, *k0;
    long long v[4];
    int have[4] = { 0, 0, 0, 0 };
    int depth = 0, want_key = 0, key = -1, i, ok;

    /* the last "usage" key, found by its 'g': memmem's setup costs more
     * than the search on the short data of one SSE event */
    while ((q = memchr(p, 'g', (size_t)(end - p))) != NULL) {
        if (q - s >= 4 && end - q >= 3 && memcmp(q - 4, "\"usage\"", 7) == 0)
            k = q - 4;
        p = q + 1;
    }
    if (k == NULL)
        return;
    p = ws(k + 7, end);
    if (p == end || *p != ':')
        return;
    p = ws(p + 1, end);
    if (p == end || *p != '{')
        return;
    for (q = p; q < end; q++) {
        switch (*q) {
        case '"':
            k0 = q + 1;
            for (q++; q < end && *q != '"'; q++)
                if (*q == '\\')
                    q++;
            if (q >= end)
                return;
            if (depth == 1 && want_key) {
                key = -1;
                for (i = 0; i < 4; i++)
                    if (strlen(usage_names[i]) == (size_t)(q - k0)
                        && memcmp(usage_names[i], k0, (size_t)(q - k0)) == 0)
                        key = i;
                want_key = 0;
            } else {
                key = -1;
            }
            break;
        case '{':
        case '[':
            if (++depth == 1)
                want_key = 1;
            key = -1;
            break;
        case '}':
        case ']':
            if (--depth == 0)
                goto done;
            break;
        case ',':
            if (depth == 1)
                want_key = 1;
            key = -1;
            break;
        case ':':
        case ' ':
        case '\t':
        case '\r':
        case '\n':
            break;
        default:
            if (depth == 1 && key >= 0) {
                q = scan_count(q, end, &v[key], &ok) - 1;
                have[key] = ok;
            }
            key = -1;
            break;
        }
    }
    return;   /* the object never closed: a cut answer counts nothing */
done:
    settle_usage(a, v, have);
}

static int add_piece(pieces_t *p, json_t *s)
{
    if (!json_is_string(s))
        return 0;
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 4;
        json_t **v = realloc(p->v, cap * sizeof(*v));
        if (v == NULL)
            return -1;
        p->v = v;
        p->cap = cap;
    }
    p->v[p->n++] = s;
    return 0;
}

static int is_type(const json_t *o, const char *type)
{
    const char *t = json_string_value(json_object_get(o, "type"));
    return t != NULL && strcmp(t, type) == 0;
}

/* The JSON strings that carry model text, in answer order. */
static int collect(aigov_endpoint_t ep, int stream, json_t *root, pieces_t *p)
{
    int any = ep == AIGOV_EP_UNKNOWN;
    json_t *choices = json_object_get(root, "choices"), *c, *v;
    size_t i, k;

    if (any || ep == AIGOV_EP_CHAT || ep == AIGOV_EP_COMPLETIONS) {
        json_array_foreach(choices, i, c) {
            if (any || ep == AIGOV_EP_CHAT) {
                v = json_object_get(json_object_get(c, stream ? "delta" : "message"),
                                    "content");
                if (json_is_array(v)) {     /* content parts */
                    json_t *part;
                    json_array_foreach(v, k, part) {
                        if ((json_object_get(part, "type") == NULL || is_type(part, "text"))
                            && add_piece(p, json_object_get(part, "text")) != 0)
                            return -1;
                    }
                } else if (add_piece(p, v) != 0) {
                    return -1;
                }
            }
            if ((any || ep == AIGOV_EP_COMPLETIONS)
                && add_piece(p, json_object_get(c, "text")) != 0)
                return -1;
        }
    }
    if (any || ep == AIGOV_EP_MESSAGES) {
        if (!stream) {
            json_array_foreach(json_object_get(root, "content"), i, c) {
                if (is_type(c, "text") && add_piece(p, json_object_get(c, "text")) != 0)
                    return -1;
            }
        } else if (is_type(root, "content_block_delta")) {
            v = json_object_get(root, "delta");
            if (is_type(v, "text_delta") && add_piece(p, json_object_get(v, "text")) != 0)
                return -1;
        } else if (is_type(root, "content_block_start")) {
            v = json_object_get(root, "content_block");
            if (is_type(v, "text") && add_piece(p, json_object_get(v, "text")) != 0)
                return -1;
        }
    }
    return 0;
}

/* Whether data begins as a JSON object or array does. */
static int looks_like_json(const char *s, size_t n)
{
    const char *p = ws(s, s + n);

    return p < s + n && (*p == '{' || *p == '[');
}

/* ---- blocking ---- */

static int block(aigov_answer_t *a, const char *plugin, const char *reason,
                 const char *category)
{
    char *body;
    size_t n;

    if (aigov_outcome_block(&a->outcome, plugin, reason, category) != 0)
        return -1;
    drop_held(a);
    body = aigov_filter_error_json(a->outcome.block_plugin, a->outcome.block_reason, &n);
    if (body == NULL)
        return -1;
    a->modified = 1;
    if (a->is_stream) {
        if (emits(a, "data: ") != 0 || emit(a, body, n) != 0
            || emits(a, "\n\ndata: [DONE]\n\n") != 0) {
            free(body);
            return -1;
        }
    } else if (emit(a, body, n) != 0) {
        free(body);
        return -1;
    }
    free(body);
    return 0;
}

/* A filter failed: a block unless its policy says on_error: allow.
 * Returns 1 when the answer is now blocked. */
static int filter_error(aigov_answer_t *a, rfilter_t *r)
{
    char why[160];

    if (aigov_outcome_note(&a->outcome, r->name, AIGOV_STAGE_RESPONSE, "error", 0) != 0)
        return -1;
    if (r->spec.on_error == AIGOV_ON_ERROR_ALLOW)
        return 0;
    snprintf(why, sizeof(why), "filter %s failed to inspect the answer", r->name);
    return block(a, r->name, why, "filter_error") != 0 ? -1 : 1;
}

/* ---- whole JSON answers ---- */

/* Runs every filter over every piece; the next filter sees the redacted
 * text. 1 when blocked, 0, -1. */
static int filter_pieces(aigov_answer_t *a, pieces_t *p)
{
    size_t fi, i, k;

    for (fi = 0; fi < a->nf; fi++) {
        rfilter_t *r = &a->f[fi];

        for (i = 0; i < p->n; i++) {
            const char *text = json_string_value(p->v[i]);
            size_t len = json_string_length(p->v[i]), count, n;
            aigov_inspection_t ins;
            aigov_masks_t m = { 0 };
            const char *verdict = "flag";
            char *red;
            int rc;

            aigov_filter_inspect(&r->spec, NULL, text, len, &ins);
            if (ins.status != 0) {
                if ((rc = filter_error(a, r)) != 0)
                    return rc;
                continue;
            }
            if (!ins.found)
                continue;
            count = ins.nspans ? ins.nspans : 1;
            if (r->spec.action == AIGOV_ACTION_BLOCK) {
                if (aigov_outcome_note(&a->outcome, r->name, AIGOV_STAGE_RESPONSE,
                                       "block", count) != 0
                    || block(a, r->name, ins.reason, ins.category) != 0)
                    return -1;
                return 1;
            }
            if (r->spec.action == AIGOV_ACTION_REDACT && ins.nspans > 0) {
                count = 0;
                for (k = 0; k < ins.nspans; k++) {
                    long added = aigov_masks_add(&m, text, len, 0, ins.spans[k].start,
                                                 ins.spans[k].end, ins.spans[k].label);
                    if (added < 0) {
                        aigov_masks_free(&m);
                        return -1;
                    }
                    count += added > 0;
                }
                if (m.n > 0) {
                    red = aigov_masks_apply(&m, text, len, 0, &n);
                    rc = red ? json_string_setn(p->v[i], red, n) : -1;
                    free(red);
                    aigov_masks_free(&m);
                    if (rc != 0)
                        return -1;
                    verdict = "redact";
                    a->modified = 1;
                } else {
                    count = 1;
                }
            }
            if (aigov_outcome_note(&a->outcome, r->name, AIGOV_STAGE_RESPONSE,
                                   verdict, count) != 0)
                return -1;
        }
    }
    return 0;
}

int aigov_answer_json(aigov_answer_t *a, const char *body, size_t len)
{
    json_t *root;
    pieces_t p = { 0 };
    int rc;

    if (a->nf == 0) {
        take_usage_fast(a, body, len);
        return 0;
    }
    root = json_loadb(body, len, JSON_ALLOW_NUL, NULL);
    if (root == NULL) {
        /* An upstream error page, say, is not ours to change. What looks
         * like JSON but is not to jansson (a lone surrogate, a number too
         * large) may still be read by the client: its text would pass
         * uninspected, so it is refused. */
        if (!looks_like_json(body, len))
            return emit(a, body, len);
        return block(a, "aigov", "the answer is JSON that cannot be inspected", "unreadable");
    }
    take_usage(a, root);
    if (a->nf == 0) {
        json_decref(root);
        return 0;
    }
    if (collect(a->ep, 0, root, &p) != 0) {
        free(p.v);
        json_decref(root);
        return -1;
    }
    rc = filter_pieces(a, &p);
    free(p.v);
    if (rc == 0) {
        if (a->modified) {
            char *s = json_dumps(root, JSON_COMPACT);
            rc = s ? emits(a, s) : -1;
            free(s);
        } else {
            rc = emit(a, body, len);
        }
    }
    json_decref(root);
    return rc < 0 ? -1 : 0;
}

/* ---- the usual stream events, read without building JSON ----
 *
 * jansson is about two thirds of the cost of a filtered event (parse,
 * objects, frees), and most events are a chunk with one piece of text.
 * fast_event() reads those in place: where the text's JSON string lies,
 * and the text unescaped. It is strict, and leaves to jansson any event it
 * is not sure to read as collect() does: another shape, more than one
 * piece, an escaped key, a repeated key that matters, a data field over
 * several lines. Such an event is sent as received unless a mask touches
 * it; then only its string is replaced. */

#define FAST_DEPTH 32

typedef struct {
    const char *s, *e;          /* a string literal, quotes included */
    int         esc;            /* it holds a backslash */
} lit_t;

typedef struct {
    lit_t  type;                /* the event's "type" */
    lit_t  sub_type, sub_text;  /* of its "delta" or "content_block" */
    int    seen_sub;
    int    sub_delta;           /* messages: it was "delta" */
    lit_t  piece;
    int    npieces;
    int    seen_usage, seen_message;
    int    usage;               /* 1: "usage", 2: "message"."usage" read */
    long long uv[4];            /* as take_usage reads them */
    int    uhave[4];
} fast_t;

/* The string literal at p (its opening quote); NULL when jansson would not
 * take it: a control character, a bad escape, a lone surrogate, bytes
 * that are not UTF-8. */
static const char *lit(const char *p, const char *end, lit_t *l)
{
    const char *q = p + 1;
    size_t k;
    int cp;

    l->s = p;
    l->esc = 0;
    while (q < end) {
        unsigned char c;

        q += aigov_json_plain((const unsigned char *)q, (size_t)(end - q));
        if (q >= end)
            break;
        c = (unsigned char)*q++;
        if (c == '"') {
            l->e = q;
            return q;
        }
        if (c < 0x20)
            return NULL;
        if (c >= 0x80) {
            if ((k = aigov_utf8_seq((const unsigned char *)q - 1, (size_t)(end - q + 1))) == 0)
                return NULL;
            q += k - 1;
            continue;
        }
        if (c != '\\')
            continue;
        l->esc = 1;
        if (q >= end)
            return NULL;
        if (*q == 'u') {
            /* as jansson, with JSON_ALLOW_NUL: \u0000 is a character */
            if (aigov_json_u_escape((const unsigned char *)q - 1, (size_t)(end - q + 1), &k, &cp)
                != AIGOV_U_OK)
                return NULL;
            q += k - 1;
            continue;
        }
        c = (unsigned char)*q++;
        if (c == '\0' || strchr("\"\\/bfnrt", c) == NULL)
            return NULL;
    }
    return NULL;
}

/* Past the number at p, or NULL when jansson would not take it: its
 * grammar, and an integer or a real that does not fit. */
static const char *number(const char *p, const char *end)
{
    const char *q = p, *digits;
    int frac = 0, exp = 0;
    char buf[64];
    double d;

    if (q < end && *q == '-')
        q++;
    digits = q;
    if (q < end && *q == '0')
        q++;
    else
        while (q < end && *q >= '0' && *q <= '9')
            q++;
    if (q == digits)
        return NULL;
    if (q < end && *q == '.') {
        frac = 1;
        digits = ++q;
        while (q < end && *q >= '0' && *q <= '9')
            q++;
        if (q == digits)
            return NULL;
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        exp = 1;
        if (++q < end && (*q == '+' || *q == '-'))
            q++;
        digits = q;
        while (q < end && *q >= '0' && *q <= '9')
            q++;
        if (q == digits)
            return NULL;
    }
    if ((size_t)(q - p) >= sizeof(buf))
        return NULL;    /* long numbers: jansson decides */
    /* only an exponent, or an integer of more than 18 digits, can be out
     * of range: the rest need no converting */
    if (!exp && (frac || q - p - (*p == '-') <= 18))
        return q;
    memcpy(buf, p, (size_t)(q - p));
    buf[q - p] = '\0';
    errno = 0;
    if (exp) {
        d = strtod(buf, NULL);
        if ((d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE)
            return NULL;
    } else {
        (void)strtoll(buf, NULL, 10);
        if (errno == ERANGE)
            return NULL;
    }
    return q;
}

static int lit_is(const lit_t *l, const char *w)
{
    size_t n = strlen(w);

    return l->s != NULL && !l->esc && (size_t)(l->e - l->s) == n + 2
           && memcmp(l->s + 1, w, n) == 0;
}

/* A container's items one at a time: *first set and *pp at its opening
 * bracket to begin; 1 with *pp at the next item, 0 past the closing
 * bracket, -1 when the container is not valid. */
static int next_item(const char **pp, const char *end, int *first, char close)
{
    const char *p = ws(*pp, end);

    if (*first) {
        *first = 0;
        p = ws(p + 1, end);
        if (p < end && *p == close) {
            *pp = p + 1;
            return 0;
        }
    } else if (p < end && *p == ',') {
        p = ws(p + 1, end);
    } else {
        if (p >= end || *p != close)
            return -1;
        *pp = p + 1;
        return 0;
    }
    *pp = p;
    return p < end ? 1 : -1;
}

/* An object's members: 1 with *key read and *pp at its value. */
static int obj_next(const char **pp, const char *end, int *first, lit_t *key)
{
    const char *p;
    int r = next_item(pp, end, first, '}');

    if (r != 1)
        return r;
    p = *pp;
    if (*p != '"' || (p = lit(p, end, key)) == NULL || key->esc)
        return -1;
    p = ws(p, end);
    if (p >= end || *p != ':')
        return -1;
    *pp = ws(p + 1, end);
    return *pp < end ? 1 : -1;
}

static int arr_next(const char **pp, const char *end, int *first)
{
    return next_item(pp, end, first, ']');
}

/* Past the value at p; NULL when it is not valid. */
static const char *skip_value(const char *p, const char *end, int depth)
{
    const char *q = p;
    lit_t l;
    int first = 1, r;

    if (p >= end || depth > FAST_DEPTH)
        return NULL;
    switch (*p) {
    case '{':
        while ((r = obj_next(&q, end, &first, &l)) == 1)
            if ((q = skip_value(q, end, depth + 1)) == NULL)
                return NULL;
        return r == 0 ? q : NULL;
    case '[':
        while ((r = arr_next(&q, end, &first)) == 1)
            if ((q = skip_value(q, end, depth + 1)) == NULL)
                return NULL;
        return r == 0 ? q : NULL;
    case '"':
        return lit(p, end, &l);
    case 't':
        return end - p >= 4 && memcmp(p, "true", 4) == 0 ? p + 4 : NULL;
    case 'f':
        return end - p >= 5 && memcmp(p, "false", 5) == 0 ? p + 5 : NULL;
    case 'n':
        return end - p >= 4 && memcmp(p, "null", 4) == 0 ? p + 4 : NULL;
    default:
        return number(p, end);
    }
}

/* A member read here: a string is kept, null is nothing, and a repeated
 * key (jansson keeps the last) or any other value gives the event to
 * jansson. */
static const char *str_member(const char *p, const char *end, lit_t *l)
{
    if (l->s != NULL)
        return NULL;
    if (*p == 'n')
        return skip_value(p, end, 0);
    return *p == '"' ? lit(p, end, l) : NULL;
}

/* "delta" (chat, messages) or "content_block" (messages): *text is its
 * "content" (chat) or "text" (messages) */
static const char *sub_object(const char *p, const char *end, fast_t *f, const char *text_key)
{
    const char *q = p;
    lit_t key;
    int first = 1, r;

    if (f->seen_sub++)
        return NULL;
    if (*p == 'n')
        return skip_value(p, end, 0);
    if (*p != '{')
        return NULL;
    while ((r = obj_next(&q, end, &first, &key)) == 1) {
        if (lit_is(&key, text_key))
            q = str_member(q, end, &f->sub_text);
        else if (lit_is(&key, "type"))
            q = str_member(q, end, &f->sub_type);
        else
            q = skip_value(q, end, 2);
        if (q == NULL)
            return NULL;
    }
    return r == 0 ? q : NULL;
}

static void add_piece_lit(fast_t *f, const lit_t *l)
{
    if (l->s != NULL && f->npieces++ == 0)
        f->piece = *l;
}

/* "choices": chat reads each choice's delta.content, completions its text */
static const char *choices(const char *p, const char *end, aigov_endpoint_t ep, fast_t *f)
{
    const char *q = p;
    lit_t key;
    int first = 1, r, cfirst, cr;

    if (*p != '[')
        return NULL;
    while ((r = arr_next(&q, end, &first)) == 1) {
        lit_t text = { NULL, NULL, 0 };

        if (*q != '{')
            return NULL;
        cfirst = 1;
        f->seen_sub = 0;
        f->sub_text.s = NULL;
        f->sub_type.s = NULL;
        while ((cr = obj_next(&q, end, &cfirst, &key)) == 1) {
            if (ep == AIGOV_EP_CHAT && lit_is(&key, "delta"))
                q = sub_object(q, end, f, "content");
            else if (ep == AIGOV_EP_COMPLETIONS && lit_is(&key, "text"))
                q = str_member(q, end, &text);
            else
                q = skip_value(q, end, 2);
            if (q == NULL)
                return NULL;
        }
        if (cr != 0)
            return NULL;
        add_piece_lit(f, ep == AIGOV_EP_CHAT ? &f->sub_text : &text);
    }
    return r == 0 ? q : NULL;
}

/* A usage object, as take_usage reads it: the last member of each name
 * counts, if it is an integer. */
static const char *usage_object(const char *p, const char *end, int depth, fast_t *f)
{
    const char *q = p, *v, *c;
    lit_t key;
    int first = 1, r, i;

    while ((r = obj_next(&q, end, &first, &key)) == 1) {
        for (i = 0; i < 4 && !lit_is(&key, usage_names[i]); i++)
            ;
        v = q;
        if ((q = skip_value(q, end, depth + 1)) == NULL)
            return NULL;
        if (i < 4) {
            /* a valid number (skip_value saw to it) without a fraction or
             * an exponent: an integer to jansson */
            for (c = v; c < q && *c != '.' && *c != 'e' && *c != 'E'; c++)
                ;
            f->uhave[i] = (*v == '-' || (*v >= '0' && *v <= '9')) && c == q;
            if (f->uhave[i])
                f->uv[i] = strtoll(v, NULL, 10);
        }
    }
    return r == 0 ? q : NULL;
}

/* "usage" at the top, or else under "message" (take_usage's order). */
static const char *usage_member(const char *p, const char *end, int depth, fast_t *f, int where)
{
    if (*p != '{')
        return skip_value(p, end, depth);
    if (f->usage == 1 || (where == 2 && f->usage))
        return skip_value(p, end, depth);
    memset(f->uv, 0, sizeof(f->uv));
    memset(f->uhave, 0, sizeof(f->uhave));
    f->usage = where;
    return usage_object(p, end, depth, f);
}

static const char *message_member(const char *p, const char *end, fast_t *f)
{
    const char *q = p;
    lit_t key;
    int first = 1, r, seen = 0;

    if (*p != '{')
        return skip_value(p, end, 1);
    while ((r = obj_next(&q, end, &first, &key)) == 1) {
        if (lit_is(&key, "usage"))
            q = seen++ ? NULL : usage_member(q, end, 2, f, 2);
        else
            q = skip_value(q, end, 2);
        if (q == NULL)
            return NULL;
    }
    return r == 0 ? q : NULL;
}

/* 1: f says what collect() would find in data; 0: jansson must read it. */
static int fast_event(aigov_endpoint_t ep, const char *data, size_t len, fast_t *f)
{
    const char *p = ws(data, data + len), *end = data + len;
    lit_t key;
    int first = 1, r, seen_choices = 0;

    memset(f, 0, sizeof(*f));
    if (ep != AIGOV_EP_CHAT && ep != AIGOV_EP_COMPLETIONS && ep != AIGOV_EP_MESSAGES)
        return 0;
    if (p >= end || *p != '{')
        return 0;
    while ((r = obj_next(&p, end, &first, &key)) == 1) {
        if (lit_is(&key, "type"))
            p = str_member(p, end, &f->type);
        else if (lit_is(&key, "usage"))
            p = f->seen_usage++ ? NULL : usage_member(p, end, 1, f, 1);
        else if (lit_is(&key, "message"))
            p = f->seen_message++ ? NULL : message_member(p, end, f);
        else if (ep != AIGOV_EP_MESSAGES && lit_is(&key, "choices"))
            p = seen_choices++ ? NULL : choices(p, end, ep, f);
        else if (ep == AIGOV_EP_MESSAGES && (lit_is(&key, "delta") || lit_is(&key, "content_block"))) {
            f->sub_delta = lit_is(&key, "delta");
            p = sub_object(p, end, f, "text");
        } else {
            p = skip_value(p, end, 1);
        }
        if (p == NULL)
            return 0;
    }
    if (r != 0 || ws(p, end) != end)
        return 0;
    if ((f->type.s && f->type.esc) || (f->sub_type.s && f->sub_type.esc))
        return 0;
    if (ep == AIGOV_EP_MESSAGES
        && ((f->sub_delta && lit_is(&f->type, "content_block_delta")
             && lit_is(&f->sub_type, "text_delta"))
            || (!f->sub_delta && lit_is(&f->type, "content_block_start")
                && lit_is(&f->sub_type, "text"))))
        add_piece_lit(f, &f->sub_text);
    if (f->npieces > 1)
        return 0;
    return 1;
}

/* Where the data of a one-line "data:" field lies in the block's bytes;
 * -1 when the data is not one line found there. */
static long data_offset(const aigov_sse_event_t *ev)
{
    const char *p = ev->raw, *end = ev->raw + ev->raw_len, *eol, *d;

    if (memchr(ev->data, '\n', ev->data_len) != NULL)
        return -1;
    while (p < end) {
        eol = memchr(p, '\n', (size_t)(end - p));
        if (end - p >= 5 && memcmp(p, "data:", 5) == 0) {
            d = p + 5;
            if (d < end && *d == ' ')
                d++;
            if ((size_t)(end - d) < ev->data_len || memcmp(d, ev->data, ev->data_len) != 0
                || (d + ev->data_len < end && d[ev->data_len] != '\n' && d[ev->data_len] != '\r'))
                return -1;
            return (long)(d - ev->raw);
        }
        p = eol ? eol + 1 : end;
    }
    return -1;
}

/* JSON string of text, for a spliced event, escaped as jansson would. */
static int emit_json_string(aigov_answer_t *a, const char *s, size_t n)
{
    char *o = reserve(a, aigov_json_escaped_len(s, n));

    if (o == NULL)
        return -1;
    a->out_len = (size_t)(aigov_json_escape(o, s, n, 1) - a->out);
    return 0;
}

/* A held event read by fast_event whose text a mask touches: its bytes
 * with the text's JSON string replaced by the masked text. */
static int send_spliced(aigov_answer_t *a, held_t *h)
{
    size_t n;
    char *red;
    int rc;

    if (h->tstart < a->wbase)
        return -1;      /* cannot happen: held text stays in the window */
    red = aigov_masks_apply(&a->masks, a->win + (h->tstart - a->wbase), h->tend - h->tstart,
                            h->tstart, &n);
    if (red == NULL)
        return -1;
    rc = emit(a, h->raw, h->lit_s) | emit_json_string(a, red, n)
         | emit(a, h->raw + h->lit_e, h->raw_len - h->lit_e);
    free(red);
    a->modified = 1;
    return rc ? -1 : 0;
}

/* ---- streams ---- */

static size_t total(const aigov_answer_t *a)
{
    return a->wbase + a->wlen;
}

static int mask_touches(const aigov_answer_t *a, size_t s, size_t e)
{
    size_t i;

    for (i = 0; i < a->masks.n; i++)
        if (a->masks.v[i].start < e && a->masks.v[i].end > s)
            return 1;
    return 0;
}

/* Sends one held event: its raw bytes, or, when a mask touches its text,
 * the event re-serialised with the masks applied. */
static int send_held(aigov_answer_t *a, held_t *h)
{
    size_t i;
    char *s;
    int rc;

    if (!h->text || h->tend == h->tstart || !mask_touches(a, h->tstart, h->tend))
        return emit(a, h->raw, h->raw_len);
    if (h->root == NULL)
        return send_spliced(a, h);

    for (i = 0; i < h->npieces; i++) {
        size_t n;
        char *red = aigov_masks_apply(&a->masks, json_string_value(h->pieces[i]),
                                      json_string_length(h->pieces[i]), h->pstart[i], &n);
        rc = red ? json_string_setn(h->pieces[i], red, n) : -1;
        free(red);
        if (rc != 0)
            return -1;
    }
    s = json_dumps(h->root, JSON_COMPACT);
    if (s == NULL)
        return -1;
    rc = 0;
    if (h->event)
        rc |= emits(a, "event: ") | emits(a, h->event) | emits(a, "\n");
    if (h->id)
        rc |= emits(a, "id: ") | emits(a, h->id) | emits(a, "\n");
    rc |= emits(a, "data: ") | emits(a, s) | emits(a, "\n\n");
    free(s);
    a->modified = 1;
    return rc ? -1 : 0;
}

/* Sends held events from the front: every event when all is set, else
 * those whose text lies before the last hold_back bytes (or any, when the
 * held bytes exceed their bound). Then drops text and masks no longer
 * needed. */
static int release(aigov_answer_t *a, int all)
{
    size_t keep, i;

    while (a->qhead < a->qn) {
        held_t *h = &a->q[a->qhead];

        /* an event without text (the role chunk, say) has nothing a
         * later mask could touch: it goes as soon as it is first */
        if (!all && h->text && h->tend > h->tstart
            && h->tend + a->hold > total(a)
            && a->held_bytes <= a->max_held)
            break;
        if (send_held(a, h) != 0)
            return -1;
        if (h->text)
            a->rel = h->tend;
        a->held_bytes -= h->raw_len;
        held_free(h);
        a->qhead++;
    }
    if (a->qhead == a->qn)
        a->qhead = a->qn = 0;

    /* keep hold_back bytes of released text as context (what a held
     * match continues, a name before a value), from a character start */
    keep = a->rel > a->wbase + a->hold_back ? a->rel - a->hold_back : a->wbase;
    while (keep < total(a) && ((unsigned char)a->win[keep - a->wbase] & 0xC0) == 0x80)
        keep++;
    if (keep > a->wbase) {
        memmove(a->win, a->win + (keep - a->wbase), total(a) - keep);
        a->wlen = total(a) - keep;
        a->wbase = keep;
    }
    for (i = 0; i < a->masks.n && a->masks.v[i].end <= a->rel; i++)
        ;
    if (i > 0) {
        memmove(a->masks.v, a->masks.v + i, (a->masks.n - i) * sizeof(*a->masks.v));
        a->masks.n -= i;
    }
    return 0;
}

static held_t *hold(aigov_answer_t *a, const aigov_sse_event_t *ev)
{
    held_t *h;

    if (a->qn == a->qcap) {
        size_t cap;
        held_t *q;

        if (a->qhead > 0) {     /* reuse the space of released events */
            memmove(a->q, a->q + a->qhead, (a->qn - a->qhead) * sizeof(*a->q));
            a->qn -= a->qhead;
            a->qhead = 0;
        }
        if (a->qn == a->qcap) {
            cap = a->qcap ? 2 * a->qcap : 16;
            q = realloc(a->q, cap * sizeof(*q));
            if (q == NULL)
                return NULL;
            a->q = q;
            a->qcap = cap;
        }
    }
    h = &a->q[a->qn];
    memset(h, 0, sizeof(*h));
    h->raw = malloc(ev->raw_len ? ev->raw_len : 1);
    if (h->raw == NULL)
        return NULL;
    memcpy(h->raw, ev->raw, ev->raw_len);
    h->raw_len = ev->raw_len;
    a->qn++;
    a->held_bytes += ev->raw_len;
    return h;
}

/* An event without text: straight out when nothing is held, else queued
 * behind the held ones to keep the order. */
static int pass_plain(aigov_answer_t *a, const aigov_sse_event_t *ev)
{
    if (a->qhead == a->qn)
        return emit(a, ev->raw, ev->raw_len);
    return hold(a, ev) ? 0 : -1;
}

/* Runs every filter over the window after new text arrived (the window
 * grew from prev_total). 1 when blocked, 0, -1. */
static int inspect_window(aigov_answer_t *a, size_t prev_total)
{
    size_t fi, k, tail;

    for (fi = 0; fi < a->nf; fi++) {
        rfilter_t *r = &a->f[fi];
        aigov_inspection_t ins;
        const char *verdict = "flag";
        size_t count = 0;
        int rc;

        if (r->broken) {
            ins.status = -1;
        } else {
            aigov_filter_inspect(&r->spec, r->stream, a->win, a->wlen, &ins);
        }
        /* hold back what this filter may still need; a failed one gets
         * the whole bound */
        if (fi == 0)
            a->hold = 0;
        tail = ins.status != 0 ? a->hold_back
               : aigov_filter_tail(&r->spec, r->stream, a->win, a->wlen, a->hold_back);
        if (tail > a->hold)
            a->hold = tail;
        if (ins.status != 0) {
            if ((rc = filter_error(a, r)) != 0)
                return rc;
            continue;
        }
        if (!ins.found)
            continue;
        if (r->spec.action == AIGOV_ACTION_BLOCK) {
            if (aigov_outcome_note(&a->outcome, r->name, AIGOV_STAGE_RESPONSE, "block",
                                   ins.nspans ? ins.nspans : 1) != 0
                || block(a, r->name, ins.reason, ins.category) != 0)
                return -1;
            return 1;
        }
        if (r->spec.action == AIGOV_ACTION_REDACT && ins.nspans > 0) {
            verdict = "redact";
            for (k = 0; k < ins.nspans; k++) {
                long added;

                /* text already sent cannot be masked any more */
                if (a->wbase + ins.spans[k].end <= a->rel)
                    continue;
                added = aigov_masks_add(&a->masks, a->win, a->wlen, a->wbase,
                                        ins.spans[k].start, ins.spans[k].end,
                                        ins.spans[k].label);
                if (added < 0)
                    return -1;
                count += added > 0;
            }
        } else if (ins.nspans > 0) {
            /* the window is inspected again and again: count what is new */
            for (k = 0; k < ins.nspans; k++)
                count += a->wbase + ins.spans[k].end > prev_total;
        } else {
            count = r->flagged ? 0 : 1;
            r->flagged = 1;
        }
        if (aigov_outcome_note(&a->outcome, r->name, AIGOV_STAGE_RESPONSE,
                               verdict, count) != 0)
            return -1;
    }
    return 0;
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);

    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* After a held event's text went into the window (which was prev long):
 * the window inspected, and whatever is old enough released. */
static int text_taken(aigov_answer_t *a, held_t *h, size_t prev)
{
    int rc;

    h->tend = total(a);
    if (h->tend == h->tstart)       /* empty text: nothing new to look at */
        return release(a, 0);
    rc = inspect_window(a, prev);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    return release(a, 0);
}

/* A text event read by fast_event, its data at off in its bytes. */
static int take_text_fast(aigov_answer_t *a, const aigov_sse_event_t *ev, const fast_t *f,
                          size_t off)
{
    size_t prev = total(a), n = (size_t)(f->piece.e - f->piece.s);
    held_t *h = hold(a, ev);

    if (h == NULL || grow(&a->win, &a->wcap, a->wlen + n + 1) != 0)
        return -1;
    h->text = 1;
    h->lit_s = off + (size_t)(f->piece.s - ev->data);
    h->lit_e = off + (size_t)(f->piece.e - ev->data);
    h->tstart = prev;
    a->wlen += aigov_json_unescape((const unsigned char *)f->piece.s + 1, n - 2,
                                   a->win + a->wlen);
    return text_taken(a, h, prev);
}

/* A text event: held, its text appended to the window, the window
 * inspected, and whatever is old enough released. */
static int take_text(aigov_answer_t *a, const aigov_sse_event_t *ev, json_t *root,
                     pieces_t *p)
{
    size_t prev = total(a), i;
    held_t *h = hold(a, ev);

    if (h == NULL)
        goto nomem;
    h->text = 1;
    h->root = root;
    h->pieces = p->v;
    h->npieces = p->n;
    p->v = NULL;
    h->pstart = malloc(h->npieces * sizeof(size_t));
    if (h->pstart == NULL
        || (ev->event_len && (h->event = dup_n(ev->event, ev->event_len)) == NULL)
        || (ev->has_id && (h->id = dup_n(ev->id, ev->id_len)) == NULL))
        return -1;
    h->tstart = prev;
    for (i = 0; i < h->npieces; i++) {
        size_t n = json_string_length(h->pieces[i]);

        h->pstart[i] = total(a);
        if (grow(&a->win, &a->wcap, a->wlen + n + 1) != 0)
            return -1;
        memcpy(a->win + a->wlen, json_string_value(h->pieces[i]), n);
        a->wlen += n;
    }
    return text_taken(a, h, prev);

nomem:
    json_decref(root);
    free(p->v);
    p->v = NULL;
    return -1;
}

/* An event without text, in order; the last one (message_stop) lets
 * everything held go. */
static int pass_textless(aigov_answer_t *a, const aigov_sse_event_t *ev, int last)
{
    if (pass_plain(a, ev) != 0)
        return -1;
    return last ? release(a, 1) : 0;
}

static int on_event(void *ud, const aigov_sse_event_t *ev)
{
    aigov_answer_t *a = ud;
    pieces_t p = { 0 };
    json_t *root;
    fast_t fx;
    long off;
    int end;

    if (a->outcome.blocked)
        return 0;   /* swallow the rest */
    if (a->nf == 0) {
        /* pass-through: parse only what may carry usage */
        if (ev->has_data)
            take_usage_fast(a, ev->data, ev->data_len);
        return 0;
    }
    if (!ev->has_data)
        return pass_plain(a, ev);
    if (ev->data_len == 6 && memcmp(ev->data, "[DONE]", 6) == 0)
        return pass_textless(a, ev, 1);

    off = a->no_fast ? -1 : data_offset(ev);
    if (off >= 0 && fast_event(a->ep, ev->data, ev->data_len, &fx)) {
        if (fx.usage)
            settle_usage(a, fx.uv, fx.uhave);
        if (fx.npieces == 1)
            return take_text_fast(a, ev, &fx, (size_t)off);
        return pass_textless(a, ev, lit_is(&fx.type, "message_stop"));
    }

    root = json_loadb(ev->data, ev->data_len, JSON_ALLOW_NUL, NULL);
    if (root == NULL) {
        /* as for whole answers: text a client may read must be inspected */
        if (!looks_like_json(ev->data, ev->data_len))
            return pass_plain(a, ev);
        return block(a, "aigov", "an event of the answer is JSON that cannot be inspected",
                     "unreadable") != 0 ? -1 : 0;
    }
    take_usage(a, root);
    if (collect(a->ep, 1, root, &p) != 0) {
        free(p.v);
        json_decref(root);
        return -1;
    }
    if (p.n > 0)
        return take_text(a, ev, root, &p);
    end = is_type(root, "message_stop");
    json_decref(root);
    free(p.v);
    return pass_textless(a, ev, end);
}

static int sse_failed(aigov_answer_t *a, int rc)
{
    if (rc == AIGOV_SSE_TOO_LONG) {
        if (a->nf == 0) {
            a->sse_dead = 1;    /* usage is lost, the bytes still pass */
            return 0;
        }
        return block(a, "aigov", "an event of the answer is too large to inspect",
                     "limit") != 0 ? -1 : 0;
    }
    return -1;
}

int aigov_answer_feed(aigov_answer_t *a, const char *in, size_t len)
{
    int rc;

    if (a->finished)
        return 0;
    if (!a->is_stream) {
        if (a->body_over)
            return 0;
        if (a->body_len + len > a->max_json) {
            a->body_over = 1;
            free(a->body);
            a->body = NULL;
            a->body_len = a->body_cap = 0;
            return 0;
        }
        if (grow(&a->body, &a->body_cap, a->body_len + len) != 0)
            return -1;
        memcpy(a->body + a->body_len, in, len);
        a->body_len += len;
        return 0;
    }
    if (a->sse_dead || a->outcome.blocked)
        return 0;
    if (a->sse == NULL) {
        a->sse = aigov_sse_new(a->max_event);
        a->max_held = 4 * a->max_event + a->hold_back;
        if (a->sse == NULL)
            return -1;
    }
    rc = aigov_sse_feed(a->sse, in, len, on_event, a);
    return rc == 0 ? 0 : sse_failed(a, rc);
}

int aigov_answer_finish(aigov_answer_t *a)
{
    int rc = 0;

    if (a->finished)
        return 0;
    a->finished = 1;
    if (!a->is_stream) {
        if (a->body_over) {
            if (a->nf == 0)
                return 0;
            return block(a, "aigov", "the answer is too large to inspect", "limit");
        }
        return aigov_answer_json(a, a->body ? a->body : "", a->body_len);
    }
    if (a->sse != NULL && !a->sse_dead && !a->outcome.blocked) {
        rc = aigov_sse_finish(a->sse, on_event, a);
        if (rc != 0)
            return sse_failed(a, rc);
    }
    if (!a->outcome.blocked && a->nf > 0)
        rc = release(a, 1);
    return rc;
}
