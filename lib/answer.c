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

/* A channel's name: the JSON path of its strings, or a block's index. */
#define CHAN_KEY     96

/* One piece of text of a held event: its JSON string (NULL when read by
 * fast_event), its channel and where it lies in the channel's text. */
typedef struct {
    json_t   *v;
    unsigned  chan;
    size_t    start, end;
    int       lp;         /* a logprobs token: LP_* (see lp_wrote) */
    json_t   *item;       /*   its entry, or the legacy logprobs object */
    size_t    ix;         /*   legacy: its position in "tokens" */
} hpiece_t;

/* A text that a Responses event repeats whole (an output_text part in
 * *.done, content_part.done, output_item.done, response.completed) whose
 * part was streamed in channel chan: masked as its deltas were, with the
 * masks found in it whole (m, at the part's offsets: byte 0 at base) and,
 * when it is sent, those its part got from the joins with the parts
 * before and after it (chan_t's jm), which the next part's text may find
 * after this event came. */
typedef struct {
    json_t         *v;
    unsigned        chan;
    unsigned long   order;      /* the channel's, to know it was not reused */
    size_t          base;
    aigov_masks_t   m;
} rpiece_t;

/* An event held back: its bytes, and for a text event the parsed data and
 * its pieces. */
typedef struct {
    char      *raw;
    size_t     raw_len;
    json_t    *root;
    hpiece_t  *p;         /* NULL: the one piece is in one */
    size_t     np;
    hpiece_t   one;       /* the piece of an event read by fast_event */
    char      *event;     /* "event:" value for re-serialising, or NULL */
    char      *id;        /* "id:" value when the block had one, or NULL */
    size_t     lit_s, lit_e;   /* root NULL: its text's JSON string in raw */
    int        rekeyed;        /* a key in root was redacted: re-serialise */
    json_t    *keep;           /* texts read from logprobs bytes (lp_text) */
    rpiece_t  *rp;             /* texts it repeats, masked when sent */
    size_t     nrp;
} held_t;

typedef struct {
    aigov_filter_spec_t  spec;
    const char          *name;
    int                  flagged;   /* a finding without spans was counted */
} rfilter_t;

/* One separate text of a stream (see answer.h): its window, what of it
 * was sent, its masks and each filter's stream state. */
typedef struct {
    char            key[CHAN_KEY];
    char            group[CHAN_KEY];
    char           *win;            /* its text from offset wbase */
    size_t          wbase, wlen, wcap;
    size_t          rel;            /* text before rel has been sent */
    aigov_masks_t   masks;
    void          **fs;             /* per filter: stream_start's state */
    unsigned char  *fbroken;        /* per filter: stream_start failed */
    int             closed;         /* its text is complete for now */
    size_t          hold;           /* its end the filters may still need,
                                       at most hold_back */
    int             exposed;        /* release_held sent text of it early */
    size_t          exp_s, exp_e;   /* from where, to where */
    size_t          late_end;       /* end of the last match counted late */
    int             json;           /* JSON text: tool-call arguments */
    int             lp;             /* a list of logprobs tokens */
    /* Joined parts (answer.h): a part of the answer text that an SDK runs
     * together with the part before opens its window with the end of that
     * part's (seed bytes, which are offsets 0 to seed; its own text
     * follows), so a match across the join is seen whole. */
    int             join;           /* answer text: joined to its neighbours */
    unsigned long   order;          /* creation number: a link to a channel
                                       since reused is stale */
    long            prev;           /* the part before, or -1 */
    unsigned long   prev_order;
    size_t          seed;           /* where its own text starts */
    size_t          jbase;          /* prev's offset of seed byte 0 */
    aigov_masks_t   jm;             /* Responses: masks of its own text
                                       found only joined (across a join, or
                                       with the part before as context), for
                                       the texts that repeat it whole */
} chan_t;

/* A string of the answer that is text, and the channel it belongs to. */
typedef struct {
    json_t  *v;
    char     key[CHAN_KEY];
    char     group[CHAN_KEY];
    int      json;      /* JSON text the client parses (arguments) */
    int      join;      /* answer text, joined across parts (chan_t) */
    int      lp;        /* a logprobs token (LP_*), its entry and place */
    json_t  *item;
    size_t   ix;
} cpiece_t;

typedef struct {
    cpiece_t *v;
    size_t    n, cap;
} pieces_t;

struct aigov_answer_s {
    aigov_endpoint_t  ep;
    int               label;          /* what Content-Type said */
    aigov_answer_kind_t kind;         /* what the bytes say */
    rfilter_t        *f;
    size_t            nf;
    size_t            hold_back, max_event, max_json, max_held;
    aigov_sse_t      *sse;
    int               sse_dead;
    int               hide_usage;

    char             *out;
    size_t            out_len, out_off, out_cap;

    char             *body;           /* JSON answer, or the bytes sniffed */
    size_t            body_len, body_cap;
    int               body_over;

    held_t           *q;
    size_t            qhead, qn, qcap, held_bytes;
    chan_t           *ch;
    size_t            nch, chcap;
    size_t            last_ch;
    unsigned long     orders;         /* channels created */
    long              last_join;      /* the part of answer text that got
                                         text last, or -1 */
    unsigned long     last_join_order;
    char             *scratch;        /* a window read with a space at
                                         its join, reused */
    size_t            scratch_cap;

    long long         prompt, completion;
    long long         cache;        /* Anthropic's cache tokens, last given */
    int               has_usage, usage_final;
    long long         text_chars;
    /* legacy completions' logprobs in a stream: by choice, how far masks
     * in events sent before moved the text (text_offset) */
    long long        *lp_shift;
    size_t            lp_nshift;
    long long         seq;            /* Responses: the last sequence_number */
    int               responses;      /* its events are the Responses API's */
    char              resp_id[64];    /* Responses: the response's id */
    aigov_filter_outcome_t outcome;
    int               modified;
    int               finished;
    int               no_fast;        /* tests: jansson reads every event */
    size_t            early_events, early_bytes, late;    /* release_held */
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

    if (need <= *cap && *buf != NULL)
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

/* Where the next output byte will be, with what was consumed dropped, so
 * that the offset stays valid while more is emitted. */
static size_t out_mark(aigov_answer_t *a)
{
    if (a->out_off > 0) {
        memmove(a->out, a->out + a->out_off, a->out_len - a->out_off);
        a->out_len -= a->out_off;
        a->out_off = 0;
    }
    return a->out_len;
}

/* Characters (UTF-8 sequences) in s. */
static long long chars_of(const char *s, size_t n)
{
    long long c = 0;
    size_t i;

    for (i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* ---- the control fields (answer.h): values that are not text ---- */

static const char *const control_keys[] = {
    "call_id", "completed_at", "content_index", "created", "created_at", "data",
    "encrypted_content", "encrypted_index", "expires_at", "finish_reason", "id", "index",
    "instructions", "item_id", "media_type", "metadata", "model", "obfuscation", "object",
    "output_index", "partial_image_b64", "previous_response_id", "prompt_cache_key",
    "result", "role", "safety_identifier", "sequence_number", "service_tier", "signature",
    "status", "stop_reason", "stop_sequence", "summary_index", "system_fingerprint",
    "tool_call_id", "tool_choice", "tool_use_id", "tools", "truncation", "type", "usage",
    "user",
};

/* The lengths of control_keys, in order. */
static const unsigned char control_len[] = {
    7, 12, 13, 7, 10, 4, 17, 15, 10, 13, 2, 5, 12, 7, 10, 8, 5, 11, 6, 12, 17, 20, 16,
    6, 4, 17, 15, 12, 9, 6, 11, 13, 13, 18, 12, 11, 11, 5, 10, 4, 5, 4,
};
_Static_assert(sizeof(control_len) == sizeof(control_keys) / sizeof(control_keys[0]),
               "one length per control key");

static int key_cmp(const char *k, size_t n, const char *w)
{
    int c = strncmp(k, w, n);

    if (c != 0)
        return c;
    return w[n] == '\0' ? 0 : -1;
}

static int is_control(const char *k, size_t n)
{
    size_t i;

    /* called per key of every event: a length test first rejects most */
    for (i = 0; i < sizeof(control_keys) / sizeof(control_keys[0]); i++)
        if (control_len[i] == n && memcmp(k, control_keys[i], n) == 0)
            return 1;
    /* ids the provider made (container_id, file_id, ...), as in requests */
    return (n > 3 && memcmp(k + n - 3, "_id", 3) == 0)
           || (n > 4 && memcmp(k + n - 4, "_ids", 4) == 0);
}

/* Control names that are text in some kinds of object ('|' between
 * kinds): "data" of a text document (an Anthropic web_fetch_tool_result's
 * page, {"type":"text","media_type":"text/plain","data":...}), the
 * "tools" loaded into the model's context while it answered (names,
 * descriptions, schemas it reads, which the request never carried: what
 * an MCP server listed, a Responses mcp_list_tools item or an Anthropic
 * mcp_tool_listing block, and what a Responses tool search loaded, a
 * tool_search_output item; an answer's own "tools" echo the request's)
 * and the "user" a local shell call runs as (the model wrote it:
 * {"type":"exec",...}); and one that is text except in one kind ("!"):
 * "result", but for an image generation call's, which is the image in
 * base64 (a filter would see noise in it, and a mask break it).
 * maybe_text: the name alone, for the fast reading, which then leaves
 * such an event to jansson. */
static const char *text_in(const char *k, size_t n)
{
    if (key_cmp(k, n, "data") == 0)
        return "text";
    if (key_cmp(k, n, "tools") == 0)
        return "mcp_list_tools|mcp_tool_listing|tool_search_output";
    if (key_cmp(k, n, "user") == 0)
        return "exec";
    if (key_cmp(k, n, "result") == 0)
        return "!image_generation_call";
    return NULL;
}

static int maybe_text(const char *k, size_t n)
{
    return text_in(k, n) != NULL;
}

static int text_here(json_t *obj, const char *k, size_t n)
{
    const char *want = text_in(k, n), *t;
    size_t tn;

    if (want == NULL)
        return 0;
    t = json_string_value(json_object_get(obj, "type"));
    if (want[0] == '!')
        return t == NULL || strcmp(t, want + 1) != 0;
    if (t == NULL)
        return 0;
    tn = strlen(t);
    for (;;) {
        const char *bar = strchr(want, '|');
        size_t wn = bar ? (size_t)(bar - want) : strlen(want);

        if (wn == tn && memcmp(t, want, wn) == 0)
            return 1;
        if (bar == NULL)
            return 0;
        want = bar + 1;
    }
}

/* Keys under which the model wrote everything (tool input, arguments),
 * and maps whose keys are chosen, not control names (a shell call's env,
 * file search results' attributes). */
static int is_opaque(const char *k, size_t n)
{
    return key_cmp(k, n, "input") == 0 || key_cmp(k, n, "arguments") == 0
           || key_cmp(k, n, "env") == 0 || key_cmp(k, n, "attributes") == 0;
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
    a->label = is_stream;
    a->kind = AIGOV_ANSWER_UNKNOWN;
    a->hold_back = hold_back ? hold_back : AIGOV_ANSWER_DEFAULT_HOLD_BACK;
    a->max_event = AIGOV_ANSWER_DEFAULT_MAX_EVENT;
    a->max_json = AIGOV_ANSWER_DEFAULT_MAX_JSON;
    a->prompt = a->completion = -1;
    a->seq = -1;
    a->last_join = -1;
    if (nfilters > 0) {
        a->f = calloc(nfilters, sizeof(*a->f));
        if (a->f == NULL) {
            free(a);
            return NULL;
        }
    }
    for (i = 0; i < nfilters; i++) {
        rfilter_t *r;

        if (!(filters[i].stages & AIGOV_STAGE_RESPONSE) || filters[i].inst == NULL)
            continue;
        r = &a->f[a->nf++];
        r->spec = filters[i];
        r->name = filters[i].plugin ? filters[i].plugin
                                    : aigov_inst_plugin_name(filters[i].inst);
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
    size_t i;

    if (h->rp != NULL) {
        for (i = 0; i < h->nrp; i++)
            aigov_masks_free(&h->rp[i].m);
        free(h->rp);
    }
    free(h->raw);
    json_decref(h->root);
    free(h->p);
    free(h->event);
    free(h->id);
    json_decref(h->keep);
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

static void chan_clear(aigov_answer_t *a, chan_t *c)
{
    size_t i;

    for (i = 0; c->fs != NULL && i < a->nf; i++) {
        const aigov_plugin_t *t = aigov_inst_plugin(a->f[i].spec.inst);
        if (c->fs[i] != NULL)
            t->stream_end(aigov_inst_state(a->f[i].spec.inst), c->fs[i]);
    }
    free(c->fs);
    free(c->fbroken);
    free(c->win);
    aigov_masks_free(&c->masks);
    aigov_masks_free(&c->jm);
    memset(c, 0, sizeof(*c));
}

void aigov_answer_free(aigov_answer_t *a)
{
    size_t i;

    if (a == NULL)
        return;
    for (i = 0; i < a->nch; i++)
        chan_clear(a, &a->ch[i]);
    free(a->ch);
    drop_held(a);
    free(a->q);
    free(a->f);
    aigov_sse_free(a->sse);
    free(a->out);
    free(a->body);
    free(a->scratch);
    free(a->lp_shift);
    aigov_filter_outcome_free(&a->outcome);
    free(a);
}

void aigov_answer_set_fast(aigov_answer_t *a, int on)
{
    a->no_fast = !on;
}

void aigov_answer_hide_usage(aigov_answer_t *a, int on)
{
    a->hide_usage = on != 0;
}

int aigov_answer_passthrough(const aigov_answer_t *a)
{
    return a->nf == 0 && !a->hide_usage;
}

aigov_answer_kind_t aigov_answer_kind(const aigov_answer_t *a)
{
    return a->kind;
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

/* The answer's own count, when it gave every count its kind has (an
 * embedding writes nothing): a count it left out or wrote in a form that
 * is no count is estimated, and the whole marked so. */
static int usage_whole(const aigov_answer_t *a)
{
    return a->usage_final && a->prompt >= 0
           && (a->completion >= 0 || a->ep == AIGOV_EP_EMBEDDINGS);
}

int aigov_answer_tokens(const aigov_answer_t *a, long long prompt_estimate,
                        long long *prompt, long long *completion)
{
    if (usage_whole(a)) {
        *prompt = a->prompt;
        *completion = a->completion;
        return 0;
    }
    *prompt = a->prompt >= 0 ? a->prompt : prompt_estimate > 0 ? prompt_estimate : 0;
    *completion = (a->text_chars + 3) / 4;
    if (a->completion > *completion)
        *completion = a->completion;
    return 1;
}

long long aigov_answer_text_chars(const aigov_answer_t *a)
{
    return a->text_chars;
}

int aigov_answer_finished(const aigov_answer_t *a)
{
    return a->finished;
}

int aigov_answer_holding(const aigov_answer_t *a)
{
    return a->qhead < a->qn;
}

void aigov_answer_early(const aigov_answer_t *a, size_t *events, size_t *bytes, size_t *late)
{
    *events = a->early_events;
    *bytes = a->early_bytes;
    *late = a->late;
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

/* The usage names: OpenAI's, then Anthropic's (and Responses'), of each
 * count; then Anthropic's prompt tokens written to and read from its
 * cache, which its input_tokens leaves out (OpenAI's counts include
 * cached tokens). */
#define USAGE_NAMES 6
static const char *const usage_names[USAGE_NAMES] = {
    "prompt_tokens", "input_tokens", "completion_tokens", "output_tokens",
    "cache_creation_input_tokens", "cache_read_input_tokens"
};

/* No provider bills more tokens than a policy can limit to
 * (AIGOV_POLICY_MAX_LIMIT): a count above is no count, like a negative
 * one, and the sums below cannot overflow. */
#define USAGE_MAX_COUNT 1000000000000LL

/* The rule both readings of usage share: of each pair of names the first
 * that is an integer counts, when it is not negative nor above
 * USAGE_MAX_COUNT; a prompt counted by input_tokens adds the cache's
 * tokens. final: the count is the answer's last word (not message_start's
 * provisional one). */
static void settle_usage(aigov_answer_t *a, const long long v[USAGE_NAMES],
                         const int have[USAGE_NAMES], int final)
{
    int i, j, any = 0;
    long long n;

    for (i = 0; i < 4; i += 2) {
        j = have[i] ? i : have[i + 1] ? i + 1 : -1;
        if (j >= 0 && v[j] >= 0 && v[j] <= USAGE_MAX_COUNT) {
            n = v[j];
            if (j == 1) {
                /* a message_delta that gives input_tokens without the
                 * cache's counts keeps message_start's */
                if (have[4] || have[5])
                    a->cache = (have[4] && v[4] > 0 && v[4] <= USAGE_MAX_COUNT ? v[4] : 0)
                               + (have[5] && v[5] > 0 && v[5] <= USAGE_MAX_COUNT ? v[5] : 0);
                n += a->cache;
            }
            *(i == 0 ? &a->prompt : &a->completion) = n;
            a->has_usage = 1;
            any = 1;
        }
    }
    if (any && final)
        a->usage_final = 1;
}

/* OpenAI "usage" {prompt_tokens, completion_tokens} (whole answers and the
 * last stream chunk); Anthropic "usage" {input_tokens, output_tokens} at
 * the top (whole answers, message_delta, where output_tokens is a running
 * total) or under "message" (message_start: provisional); Responses under
 * "response" (response.completed). */
static void take_usage(aigov_answer_t *a, const json_t *root)
{
    const json_t *u = json_object_get(root, "usage"), *c;
    long long v[USAGE_NAMES] = { 0 };
    int have[USAGE_NAMES] = { 0 }, i, final = 1;

    if (!json_is_object(u)) {
        u = json_object_get(json_object_get(root, "message"), "usage");
        final = 0;
    }
    if (!json_is_object(u)) {
        u = json_object_get(json_object_get(root, "response"), "usage");
        final = 1;
    }
    if (!json_is_object(u))
        return;
    for (i = 0; i < USAGE_NAMES; i++) {
        c = json_object_get(u, usage_names[i]);
        if ((have[i] = json_is_integer(c)))
            v[i] = json_integer_value(c);
    }
    settle_usage(a, v, have, final);
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

static const char *usage_where(const char *s, size_t len, int *final);

/* The token counts of an answer nobody filters, without building JSON,
 * from the usage object take_usage reads: the top's, else message's
 * (message_start: provisional), else response's. Only there: a "usage"
 * key elsewhere (in a caller's metadata the Responses API echoes after
 * its usage, in a tool's input, in a listed tool's schema) is the
 * caller's or the model's, not the provider's count. A "usage" inside
 * text is escaped (\"usage\") and never matches, so a text without any
 * "usage" key followed by an object is not walked. The same counts as
 * take_usage: the first name of each pair wins when it is an integer. */
static void take_usage_fast(aigov_answer_t *a, const char *s, size_t len)
{
    const char *k = NULL, *p = s, *end = s + len, *q, *k0;
    long long v[USAGE_NAMES];
    int have[USAGE_NAMES] = { 0 };
    int depth = 0, want_key = 0, key = -1, i, ok, final;

    /* a "usage" key with an object, found by its 'g': memmem's setup
     * costs more than the search on the short data of one SSE event */
    while ((q = memchr(p, 'g', (size_t)(end - p))) != NULL) {
        if (q - s >= 4 && end - q >= 3 && memcmp(q - 4, "\"usage\"", 7) == 0) {
            k0 = ws(q + 3, end);
            if (k0 < end && *k0 == ':' && (k0 = ws(k0 + 1, end)) < end && *k0 == '{') {
                k = k0;
                break;
            }
        }
        p = q + 1;
    }
    if (k == NULL || (p = usage_where(s, len, &final)) == NULL)
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
                for (i = 0; i < USAGE_NAMES; i++)
                    if (strlen(usage_names[i]) == (size_t)(q - k0)
                        && memcmp(usage_names[i], k0, (size_t)(q - k0)) == 0)
                        key = i;
                want_key = 0;
            } else {
                /* a count written as a string is none; the last of a
                 * duplicate name counts, as in jansson */
                if (depth == 1 && key >= 0)
                    have[key] = 0;
                key = -1;
            }
            break;
        case '{':
        case '[':
            if (++depth == 1)
                want_key = 1;
            else if (depth == 2 && key >= 0)
                have[key] = 0;
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
    settle_usage(a, v, have, final);
}

/* Characters of text in JSON an answer nobody filters, for the estimate
 * when no usage comes: the string values whose key is not a control
 * field (only "delta" values with deltas_only: Responses streams repeat
 * their texts in other events), nor a logprobs token's ("token", legacy
 * "tokens"): those spell the text again, or alternatives never written.
 * Escapes count as one character each; no JSON is built. */
static void count_text_fast(aigov_answer_t *a, const char *s, size_t len, int deltas_only)
{
    const char *p = s, *end = s + len, *q, *ks = NULL, *v;
    size_t kn = 0;
    long long n;

    /* one pass, byte by byte: the data of one event is short */
    while (p < end) {
        if (*p++ != '"')
            continue;
        v = p;
        n = 0;
        while (p < end && *p != '"') {
            if (*p == '\\') {
                p += p + 1 < end && p[1] == 'u' ? 6 : 2;
                n++;
                continue;
            }
            n += ((unsigned char)*p++ & 0xC0) != 0x80;
        }
        if (p >= end)
            return;
        q = p++;
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
            p++;
        if (p < end && *p == ':') {
            ks = v;
            kn = (size_t)(q - v);
            continue;
        }
        if (ks != NULL && (deltas_only ? key_cmp(ks, kn, "delta") == 0
                                       : !is_control(ks, kn) && key_cmp(ks, kn, "token") != 0
                                         && key_cmp(ks, kn, "tokens") != 0))
            a->text_chars += n;
    }
}

static int add_piece(pieces_t *p, json_t *s, const char *key, const char *group, int json,
                     int join)
{
    cpiece_t *c;

    if (!json_is_string(s))
        return 0;
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 4;
        cpiece_t *v = realloc(p->v, cap * sizeof(*v));
        if (v == NULL)
            return -1;
        p->v = v;
        p->cap = cap;
    }
    c = &p->v[p->n++];
    c->v = s;
    snprintf(c->key, sizeof(c->key), "%s", key);
    snprintf(c->group, sizeof(c->group), "%s", group);
    c->json = json;
    c->join = join;
    c->lp = 0;
    c->item = NULL;
    c->ix = 0;
    return 0;
}

/* The tokens of logprobs (see answer.h), as collect() finds them. */
enum { LP_NONE = 0, LP_TOKEN, LP_ALT, LP_LEGACY };

typedef struct {
    pieces_t  tok;      /* the tokens, list after list, each in its order */
    pieces_t  alt;      /* the alternatives (top_logprobs entries) */
    json_t   *keep;     /* texts read from bytes (lp_text), NULL: none */
    int       fixed;    /* an entry's bytes or token was rewritten */
} lp_t;

static void lp_free(lp_t *lp)
{
    free(lp->tok.v);
    free(lp->alt.v);
    json_decref(lp->keep);
    memset(lp, 0, sizeof(*lp));
}

/* Which strings of an event are answer text, joined across its parts
 * (chan_t): a Responses output_text delta's "delta", the text of an
 * Anthropic content block. */
enum { JOIN_NONE, JOIN_DELTA, JOIN_BLOCK };

/* Walking a JSON value for its texts. path is the JSON path of the value
 * (members by key, array items by their "index" member or position),
 * which names its channel unless fixed does. */
typedef struct {
    pieces_t    *p;
    lp_t        *lp;
    const char  *fixed, *fixed_group;
    int          join_mode;
    char         path[CHAN_KEY];
} walk_t;

static int walk_logprobs(walk_t *w, json_t *v, size_t plen);

/* The path with one more step; a path too long stays as it is (its
 * strings share the channel of the prefix). */
static size_t path_add(walk_t *w, size_t plen, const char *step, size_t n)
{
    if (plen + 1 + n >= sizeof(w->path))
        return plen;
    if (plen > 0)
        w->path[plen++] = '.';
    memcpy(w->path + plen, step, n);
    w->path[plen + n] = '\0';
    return plen + n;
}

/* The channel group of a path: chat's texts are grouped by choice (its
 * logprobs each apart), everything else is one group. */
static void path_group(const char *path, char *group, size_t cap)
{
    const char *dot;

    group[0] = '\0';
    if (strncmp(path, "choices.", 8) != 0)
        return;
    if (strstr(path, ".logprobs") != NULL) {
        snprintf(group, cap, "%s", path);
        return;
    }
    dot = strchr(path + 8, '.');
    snprintf(group, cap, "%.*s", (int)(dot ? (size_t)(dot - path) : strlen(path)), path);
}

/* Whether the string at path is JSON text that the client parses: tool-
 * call arguments (chat, Responses), an Anthropic input_json_delta. */
static int json_text_path(const char *path)
{
    const char *last = strrchr(path, '.');

    last = last ? last + 1 : path;
    return strcmp(last, "arguments") == 0 || strcmp(last, "partial_json") == 0;
}

static int walk(walk_t *w, json_t *v, size_t plen, int opaque)
{
    const char *k;
    json_t *c;
    size_t i, n;
    char step[24], group[CHAN_KEY];

    w->path[plen] = '\0';
    if (json_is_string(v)) {
        int json = json_text_path(w->path), join = 0;

        if (w->join_mode == JOIN_DELTA)
            join = strcmp(w->path, "delta") == 0;
        else if (w->join_mode == JOIN_BLOCK)
            join = strcmp(w->path, "delta.text") == 0 || strcmp(w->path, "content_block.text") == 0;
        if (w->fixed)
            return add_piece(w->p, v, w->fixed, w->fixed_group, json, join);
        path_group(w->path, group, sizeof(group));
        return add_piece(w->p, v, w->path, group, json, join);
    }
    if (json_is_object(v)) {
        json_object_foreach(v, k, c) {
            size_t kl = strlen(k);
            int rc;

            if (!opaque && is_control(k, kl) && !text_here(v, k, kl))
                continue;
            n = path_add(w, plen, k, kl);
            if (!opaque && kl == 8 && memcmp(k, "logprobs", 8) == 0)
                rc = walk_logprobs(w, c, n);
            else
                rc = walk(w, c, n, opaque || is_opaque(k, kl));
            if (rc != 0)
                return -1;
            w->path[plen] = '\0';
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, c) {
            json_t *ix = json_object_get(c, "index");

            if (json_is_integer(ix))
                snprintf(step, sizeof(step), "%lld", (long long)json_integer_value(ix));
            else
                snprintf(step, sizeof(step), "%zu", i);
            n = path_add(w, plen, step, strlen(step));
            if (walk(w, c, n, opaque) != 0)
                return -1;
            w->path[plen] = '\0';
        }
    }
    return 0;
}

/* The JSON strings that carry model text, in answer order, each with its
 * channel: fixed when given, else its path; the tokens of logprobs go to
 * lp. */
static int collect(json_t *root, pieces_t *p, lp_t *lp, const char *fixed,
                   const char *fixed_group, int join_mode)
{
    walk_t w;

    memset(&w, 0, sizeof(w));
    w.p = p;
    w.lp = lp;
    w.fixed = fixed;
    w.fixed_group = fixed_group;
    w.join_mode = join_mode;
    return walk(&w, root, 0, 0);
}

/* ---- logprobs ----
 *
 * An entry's text is its "token", or the bytes of a token cut inside a
 * character: a token of half an emoji or of part of a CJK character is
 * named by a placeholder ("bytes:\xe5\x8c", OpenAI's; "\xe5\x8c",
 * others'), and only its bytes joined to the next entry's make the text.
 * They are its "bytes" when it has them, else what the placeholder names.
 * Whatever a client reads of an entry, token or bytes, says what was
 * inspected: bytes that are not the token's are rewritten from it, a
 * placeholder that does not name the bytes is rewritten from them (the
 * entries OpenAI sends pass as they are). */

/* Whether s is UTF-8 as jansson takes it. */
static int utf8_ok(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, k;

    while (i < n) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        if ((k = aigov_utf8_seq(p + i, n - i)) == 0)
            return 0;
        i += k;
    }
    return 1;
}

/* A text as a "token" shows it: UTF-8 as it is; else OpenAI's
 * placeholder, "bytes:" and the text with each byte that is not UTF-8 as
 * \xNN. malloc'd, NUL-terminated. */
static char *lp_display(const char *s, size_t n, size_t *outlen)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    char *o = malloc(6 + 4 * n + 1);
    size_t i = 0, k, m = 0;

    if (o == NULL)
        return NULL;
    if (!utf8_ok(s, n)) {
        memcpy(o, "bytes:", 6);
        m = 6;
    }
    while (i < n) {
        k = p[i] < 0x80 ? 1 : aigov_utf8_seq(p + i, n - i);
        if (k == 0) {
            o[m++] = '\\';
            o[m++] = 'x';
            o[m++] = hex[p[i] >> 4];
            o[m++] = hex[p[i] & 15];
            i++;
            continue;
        }
        memcpy(o + m, p + i, k);
        m += k;
        i += k;
    }
    o[m] = '\0';
    *outlen = m;
    return o;
}

/* The bytes a placeholder names (lp_display's, or one made of \xNN
 * alone), which are no UTF-8 on their own: 1 with them in *out
 * (malloc'd), 0 when s is no placeholder, -1. */
static int lp_placeholder(const char *s, size_t n, char **out, size_t *outlen)
{
    int prefix = n > 6 && memcmp(s, "bytes:", 6) == 0, esc = 0;
    size_t i = prefix ? 6 : 0, m = 0;
    char *o;

    if (!prefix && (n < 4 || s[0] != '\\'))
        return 0;
    if ((o = malloc(n)) == NULL)
        return -1;
    while (i < n) {
        if (n - i >= 4 && s[i] == '\\' && s[i + 1] == 'x' && aigov_hex_digit((unsigned char) s[i + 2]) >= 0
            && aigov_hex_digit((unsigned char) s[i + 3]) >= 0) {
            o[m++] = (char)(aigov_hex_digit((unsigned char) s[i + 2]) * 16
                            + aigov_hex_digit((unsigned char) s[i + 3]));
            i += 4;
            esc++;
        } else if (prefix) {
            o[m++] = s[i++];
        } else {
            break;
        }
    }
    if (i < n || esc == 0 || utf8_ok(o, m)) {
        free(o);
        return 0;
    }
    *out = o;
    *outlen = m;
    return 1;
}

/* A text read from bytes, kept with the answer's logprobs, in *t. */
static int lp_keep(walk_t *w, const char *s, size_t n, json_t **t)
{
    json_t *v;

    if (w->lp->keep == NULL && (w->lp->keep = json_array()) == NULL)
        return -1;
    if ((v = json_stringn_nocheck(s, n)) == NULL || json_array_append_new(w->lp->keep, v) != 0)
        return -1;
    *t = v;
    return 0;
}

/* A token without bytes: what its placeholder names, if it is one. */
static int lp_token(walk_t *w, json_t **t)
{
    char *buf;
    size_t n;
    int rc = lp_placeholder(json_string_value(*t), json_string_length(*t), &buf, &n);

    if (rc <= 0)
        return rc;
    rc = lp_keep(w, buf, n, t);
    free(buf);
    return rc;
}

/* The "bytes" of a text. */
static json_t *lp_bytes(const char *s, size_t n)
{
    json_t *b = json_array();
    size_t i;

    for (i = 0; b != NULL && i < n; i++) {
        if (json_array_append_new(b, json_integer((unsigned char)s[i])) != 0) {
            json_decref(b);
            return NULL;
        }
    }
    return b;
}

/* The text of entry e in *t (NULL: it has none): its token, or its bytes
 * (see above), fixing what does not agree. */
static int lp_text(walk_t *w, json_t *e, json_t **t)
{
    json_t *tok = json_object_get(e, "token"), *b = json_object_get(e, "bytes"), *v;
    size_t n, i, dn;
    char *buf, *d;
    int bytes = 1, rc = -1;

    *t = json_is_string(tok) ? tok : NULL;
    if (!json_is_array(b))
        return *t ? lp_token(w, t) : 0;     /* null or none: the token alone */
    n = json_array_size(b);
    if ((buf = malloc(n + 1)) == NULL)
        return -1;
    json_array_foreach(b, i, v) {
        json_int_t x = json_is_integer(v) ? json_integer_value(v) : -1;

        if (x < 0 || x > 255) {
            bytes = 0;
            break;
        }
        buf[i] = (char)x;
    }
    if (bytes && *t != NULL && n == json_string_length(tok)
        && memcmp(buf, json_string_value(tok), n) == 0) {
        free(buf);
        return 0;       /* the usual entry */
    }
    if (bytes && (*t == NULL || !utf8_ok(buf, n))) {
        if (lp_keep(w, buf, n, t) != 0)
            goto done;
        if (json_is_string(tok)) {
            if ((d = lp_display(buf, n, &dn)) == NULL)
                goto done;
            if (dn != json_string_length(tok) || memcmp(d, json_string_value(tok), dn) != 0) {
                if (json_string_setn(tok, d, dn) != 0) {
                    free(d);
                    goto done;
                }
                w->lp->fixed = 1;
            }
            free(d);
        }
        rc = 0;
        goto done;
    }
    /* bytes that are not the token's, or not bytes at all */
    if (json_object_set_new(e, "bytes", *t ? lp_bytes(json_string_value(tok), json_string_length(tok))
                                           : json_array()) != 0)
        goto done;
    w->lp->fixed = 1;
    rc = 0;
done:
    free(buf);
    return rc;
}

static int lp_add(pieces_t *p, json_t *t, const char *key, int kind, json_t *item, size_t ix)
{
    cpiece_t *c;

    if (t == NULL)
        return 0;
    if (add_piece(p, t, key, key, 0, 0) != 0)
        return -1;
    c = &p->v[p->n - 1];
    c->lp = kind;
    c->item = item;
    c->ix = ix;
    return 0;
}

/* The name of the text a list's tokens make: its path, not its entries'
 * places (a stream's events bring a few entries each, numbered from 0 in
 * each event), or the fixed channel's. */
static void lp_key(const walk_t *w, char *key)
{
    if (w->fixed)
        snprintf(key, CHAN_KEY, "%s.lp", w->fixed);
    else
        snprintf(key, CHAN_KEY, "%s", w->path);
}

/* An entry of a list (LP_TOKEN) or of an entry's top_logprobs (LP_ALT):
 * its text, and any other member of it read as text anywhere is. */
static int lp_entry(walk_t *w, json_t *e, size_t plen, const char *key, int kind)
{
    const char *k;
    json_t *c, *t, *alt;
    size_t i, n;

    if (!json_is_object(e))
        return walk(w, e, plen, 0);
    if (lp_text(w, e, &t) != 0
        || lp_add(kind == LP_TOKEN ? &w->lp->tok : &w->lp->alt, t, key, kind, e, 0) != 0)
        return -1;
    json_object_foreach(e, k, c) {
        size_t kl = strlen(k);
        int rc = 0;

        if (is_control(k, kl) || key_cmp(k, kl, "bytes") == 0
            || (key_cmp(k, kl, "token") == 0 && json_is_string(c)))
            continue;
        n = path_add(w, plen, k, kl);
        if (kind == LP_TOKEN && key_cmp(k, kl, "top_logprobs") == 0 && json_is_array(c)) {
            json_array_foreach(c, i, alt)
                if ((rc = lp_entry(w, alt, n, "", LP_ALT)) != 0)
                    break;
        } else {
            rc = walk(w, c, n, 0);
        }
        w->path[plen] = '\0';
        if (rc != 0)
            return -1;
    }
    return 0;
}

static int lp_list(walk_t *w, json_t *arr, size_t plen)
{
    char key[CHAN_KEY], step[24];
    json_t *e;
    size_t i, n;

    lp_key(w, key);
    json_array_foreach(arr, i, e) {
        snprintf(step, sizeof(step), "%zu", i);
        n = path_add(w, plen, step, strlen(step));
        if (lp_entry(w, e, n, key, LP_TOKEN) != 0)
            return -1;
        w->path[plen] = '\0';
    }
    return 0;
}

/* Legacy completions: "tokens" is the list; the alternatives are the keys
 * of top_logprobs' maps, which filter_keys reads. */
static int lp_legacy(walk_t *w, json_t *obj, json_t *tokens, size_t plen)
{
    char key[CHAN_KEY], step[24];
    json_t *t;
    size_t i, n;

    lp_key(w, key);
    json_array_foreach(tokens, i, t) {
        if (json_is_string(t)) {
            json_t *text = t;

            if (lp_token(w, &text) != 0 || lp_add(&w->lp->tok, text, key, LP_LEGACY, obj, i) != 0)
                return -1;
            continue;
        }
        snprintf(step, sizeof(step), "%zu", i);
        n = path_add(w, plen, step, strlen(step));
        if (walk(w, t, n, 0) != 0)
            return -1;
        w->path[plen] = '\0';
    }
    return 0;
}

/* A "logprobs" value: a list of entries (Responses), or an object of
 * lists (chat: content, refusal) or the legacy completions' shape. */
static int walk_logprobs(walk_t *w, json_t *v, size_t plen)
{
    json_t *c, *tokens = json_object_get(v, "tokens");
    const char *k;
    size_t n;
    int legacy = json_is_array(tokens), rc;

    if (json_is_array(v))
        return lp_list(w, v, plen);
    if (!json_is_object(v))
        return walk(w, v, plen, 0);
    json_object_foreach(v, k, c) {
        size_t kl = strlen(k);

        if (is_control(k, kl))
            continue;
        n = path_add(w, plen, k, kl);
        if (legacy && c == tokens)
            rc = lp_legacy(w, v, c, n);
        else if (legacy && key_cmp(k, kl, "top_logprobs") == 0)
            rc = walk(w, c, n, 1);      /* maps whose keys are chosen */
        else if (json_is_array(c))
            rc = lp_list(w, c, n);
        else
            rc = walk(w, c, n, 0);
        w->path[plen] = '\0';
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* Legacy: the alternatives at a position whose token was masked become
 * its new text alone, with the best of their logprobs. */
static int lp_collapse(json_t *m, json_t *v)
{
    const char *k;
    json_t *c, *best = NULL;
    char *d;
    size_t dn;
    int rc;

    json_object_foreach(m, k, c)
        if (json_is_number(c) && (best == NULL || json_number_value(c) > json_number_value(best)))
            best = c;
    best = best ? json_incref(best) : json_null();
    d = lp_display(json_string_value(v), json_string_length(v), &dn);
    if (d == NULL) {
        json_decref(best);
        return -1;
    }
    json_object_clear(m);
    rc = json_object_set_new(m, d, best);
    free(d);
    return rc;
}

/* Token string t shows text v. */
static int lp_string_set(json_t *t, json_t *v)
{
    size_t dn;
    char *d = lp_display(json_string_value(v), json_string_length(v), &dn);
    int rc;

    if (d == NULL)
        return -1;
    rc = json_string_setn(t, d, dn);
    free(d);
    return rc;
}

/* Entry e shows text v: its token (when it has one) and its bytes (when
 * they are a list: null stays null). */
static int lp_entry_set(json_t *e, json_t *v)
{
    json_t *tok = json_object_get(e, "token");
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    int rc = 0;

    if (json_is_string(tok) && tok != v)
        rc = lp_string_set(tok, v);
    if (rc == 0 && json_is_array(json_object_get(e, "bytes")))
        rc = json_object_set_new(e, "bytes", lp_bytes(s, n));
    return rc;
}

/* A mask changed token v: its bytes follow, and at its position every
 * alternative becomes its new text. The alternatives there are mostly
 * the masked token itself (top_logprobs holds the token chosen) and its
 * variants: left alone, they would spell what was masked. */
static int lp_wrote(int lp, json_t *item, size_t ix, json_t *v)
{
    json_t *alts, *c;
    size_t i;

    if (lp == LP_LEGACY) {
        c = json_array_get(json_object_get(item, "tokens"), ix);
        if (c != v && json_is_string(c) && lp_string_set(c, v) != 0)
            return -1;      /* a placeholder (lp_token) */
        c = json_array_get(json_object_get(item, "top_logprobs"), ix);
        return json_is_object(c) ? lp_collapse(c, v) : 0;
    }
    if (lp_entry_set(item, v) != 0)
        return -1;
    if (lp == LP_ALT)
        return 0;
    alts = json_object_get(item, "top_logprobs");
    json_array_foreach(alts, i, c)
        if (json_is_object(c) && lp_entry_set(c, v) != 0)
            return -1;
    return 0;
}

/* Legacy: text_offset[from..] of item moved by delta characters. */
static void lp_offsets(json_t *item, size_t from, long long delta)
{
    json_t *offs = json_object_get(item, "text_offset"), *o;
    size_t i;

    if (delta == 0)
        return;
    json_array_foreach(offs, i, o)
        if (i >= from && json_is_integer(o))
            json_integer_set(o, json_integer_value(o) + delta);
}

/* A text of the answer takes its redacted value; a logprobs token takes
 * its entry along (lp_wrote). A legacy token that a mask made longer or
 * shorter moves the text_offset of the tokens after it, so that the
 * offsets do not tell how long the masked text was. */
static int piece_set(json_t *v, int lp, json_t *item, size_t ix, const char *s, size_t n)
{
    long long delta;

    if (lp == LP_NONE)
        return json_string_setn(v, s, n);
    delta = (long long)chars_of(s, n)
            - (long long)chars_of(json_string_value(v), json_string_length(v));
    /* bytes cut inside a character are not UTF-8 (lp_text) */
    if (json_string_setn_nocheck(v, s, n) != 0)
        return -1;
    if (lp == LP_LEGACY)
        lp_offsets(item, ix + 1, delta);
    return lp_wrote(lp, item, ix, v);
}

/* Whether data begins as a JSON object or array does. */
static int looks_like_json(const char *s, size_t n)
{
    const char *p = ws(s, s + n);

    return p < s + n && (*p == '{' || *p == '[');
}

/* ---- blocking ---- */

static char *dump_free(json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

    json_decref(j);
    return s;
}

/* The end of a blocked answer, in the shape the caller's SDK raises on. */
static int emit_block(aigov_answer_t *a, const char *plugin, const char *reason)
{
    char *s = NULL, *t = NULL;
    size_t n;
    int rc;

    if (a->ep == AIGOV_EP_MESSAGES || a->ep == AIGOV_EP_COUNT_TOKENS) {
        s = dump_free(json_pack("{s:s, s:{s:s, s:s}}", "type", "error", "error",
                                "type", "permission_error", "message", reason));
        if (s == NULL)
            return -1;
        rc = a->kind == AIGOV_ANSWER_SSE
             ? emits(a, "event: error\ndata: ") | emits(a, s) | emits(a, "\n\n")
             : emits(a, s);
        free(s);
        return rc ? -1 : 0;
    }
    if ((a->ep == AIGOV_EP_RESPONSES || a->responses) && a->kind == AIGOV_ANSWER_SSE) {
        s = dump_free(json_pack("{s:s, s:I, s:s, s:s, s:n, s:{s:s, s:s, s:s, s:n}}",
                                "type", "error", "sequence_number", (json_int_t)(a->seq + 1),
                                "code", plugin, "message", reason, "param",
                                "error", "type", "policy_violation", "code", plugin,
                                "message", reason, "param"));
        t = dump_free(json_pack("{s:s, s:I, s:{s:s, s:s, s:s, s:{s:s, s:s}, s:n, s:[], s:n}}",
                                "type", "response.failed", "sequence_number",
                                (json_int_t)(a->seq + 2), "response",
                                "id", a->resp_id[0] ? a->resp_id : "resp_blocked",
                                "object", "response", "status", "failed",
                                "error", "code", plugin, "message", reason,
                                "incomplete_details", "output", "usage"));
        rc = (s == NULL || t == NULL) ? -1
             : emits(a, "event: error\ndata: ") | emits(a, s)
               | emits(a, "\n\nevent: response.failed\ndata: ") | emits(a, t) | emits(a, "\n\n");
        free(s);
        free(t);
        return rc ? -1 : 0;
    }
    s = aigov_filter_error_json(plugin, reason, &n);
    if (s == NULL)
        return -1;
    rc = a->kind == AIGOV_ANSWER_SSE
         ? emits(a, "data: ") | emit(a, s, n) | emits(a, "\n\ndata: [DONE]\n\n")
         : emit(a, s, n);
    free(s);
    return rc ? -1 : 0;
}

static int block(aigov_answer_t *a, const char *plugin, const char *reason,
                 const char *category)
{
    if (aigov_outcome_block(&a->outcome, plugin, reason, category) != 0)
        return -1;
    drop_held(a);
    a->modified = 1;
    return emit_block(a, a->outcome.block_plugin, a->outcome.block_reason);
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

/* One filter over one text, as both readings of whole texts do: 2 when
 * there is nothing to write (nothing found, or an error the filter may
 * pass over), 1 when it blocked the answer (noted), -1 on failure, and 0
 * when it found something: *count is what it found, and for a redaction
 * m holds the masks of its spans (none when they mask nothing). */
static int inspect_one(aigov_answer_t *a, rfilter_t *r, const char *text, size_t len,
                       int json, aigov_masks_t *m, size_t *count)
{
    aigov_inspection_t ins;
    size_t k;
    int rc;

    if (aigov_outcome_inspected(&a->outcome, r->name, AIGOV_STAGE_RESPONSE) != 0)
        return -1;
    if (json)
        aigov_filter_inspect_json(&r->spec, NULL, text, len, 0, &ins);
    else
        aigov_filter_inspect(&r->spec, NULL, text, len, &ins);
    if (ins.status != 0)
        return (rc = filter_error(a, r)) != 0 ? rc : 2;
    if (!ins.found)
        return 2;
    *count = ins.nspans ? ins.nspans : 1;
    if (r->spec.action == AIGOV_ACTION_BLOCK) {
        if (aigov_outcome_note(&a->outcome, r->name, AIGOV_STAGE_RESPONSE, "block", *count) != 0
            || block(a, r->name, ins.reason, ins.category) != 0)
            return -1;
        return 1;
    }
    if (r->spec.action == AIGOV_ACTION_REDACT && ins.nspans > 0) {
        *count = 0;
        for (k = 0; k < ins.nspans; k++) {
            long added = aigov_masks_add(m, text, len, 0, ins.spans[k].start,
                                         ins.spans[k].end, ins.spans[k].label);
            if (added < 0) {
                aigov_masks_free(m);
                return -1;
            }
            *count += added > 0;
        }
        if (m->n == 0)
            *count = 1;
    }
    return 0;
}

/* ---- whole texts ---- */

/* Runs every filter over every piece, each a whole text; the next filter
 * sees the redacted text. counted 0: the texts repeat what was counted
 * already (verdicts are noted, counts not raised). *changed is set when
 * a piece was redacted. 1 when blocked, 0, -1. */
/* The filters [f0, f1) over every piece alone. */
static int filter_pieces_of(aigov_answer_t *a, pieces_t *p, int counted, int *changed,
                            size_t f0, size_t f1)
{
    size_t fi, i;

    for (fi = f0; fi < f1; fi++) {
        rfilter_t *r = &a->f[fi];

        for (i = 0; i < p->n; i++) {
            const char *text = json_string_value(p->v[i].v);
            size_t len = json_string_length(p->v[i].v), count, n;
            aigov_masks_t m = { 0 };
            const char *verdict = "flag";
            char *red;
            int rc;

            rc = inspect_one(a, r, text, len, p->v[i].json, &m, &count);
            if (rc == 2)
                continue;
            if (rc != 0)
                return rc;
            if (m.n > 0) {
                red = aigov_masks_apply(&m, text, len, 0, &n);
                rc = red ? piece_set(p->v[i].v, p->v[i].lp, p->v[i].item, p->v[i].ix,
                                     red, n) : -1;
                free(red);
                aigov_masks_free(&m);
                if (rc != 0)
                    return -1;
                verdict = "redact";
                a->modified = 1;
                *changed = 1;
            }
            if (aigov_outcome_note(&a->outcome, r->name, AIGOV_STAGE_RESPONSE,
                                   verdict, counted ? count : 0) != 0)
                return -1;
        }
    }
    return 0;
}

static int filter_pieces(aigov_answer_t *a, pieces_t *p, int counted, int *changed)
{
    return filter_pieces_of(a, p, counted, changed, 0, a->nf);
}

/* One list of logprobs tokens (v[0..n), in order) through every filter,
 * joined as the client joins them: a term cut across tokens is one text
 * there. A mask is written into each token it covers, the label in the
 * first. What is found is noted but not counted: the list spells the
 * answer's text, where it was counted. 1 when blocked, 0, -1. */
static int filter_seq(aigov_answer_t *a, cpiece_t *v, size_t n, int *changed)
{
    size_t fi, i, k, total, rn, count, *off = malloc((n + 1) * sizeof(*off));
    char *text = NULL, *red;
    int rc = -1, r;

    if (off == NULL)
        return -1;
    for (fi = 0; fi < a->nf; fi++) {
        rfilter_t *rf = &a->f[fi];
        aigov_masks_t m = { 0 };
        const char *verdict = "flag";

        /* again for each filter: the one before may have masked */
        for (i = 0, off[0] = 0; i < n; i++)
            off[i + 1] = off[i] + json_string_length(v[i].v);
        total = off[n];
        free(text);
        if ((text = malloc(total + 1)) == NULL)
            goto done;
        for (i = 0; i < n; i++)
            memcpy(text + off[i], json_string_value(v[i].v), off[i + 1] - off[i]);
        r = inspect_one(a, rf, text, total, 0, &m, &count);
        if (r == 2)
            continue;
        if (r != 0) {
            rc = r;
            goto done;
        }
        if (m.n > 0) {
            for (i = 0; i < n; i++) {
                /* an empty token inside a mask is covered too: its
                 * alternatives go with the mask */
                for (k = 0; k < m.n; k++)
                    if (off[i] < off[i + 1] ? m.v[k].start < off[i + 1] && m.v[k].end > off[i]
                                            : m.v[k].start < off[i] && m.v[k].end > off[i])
                        break;
                if (k == m.n)
                    continue;
                red = aigov_masks_apply(&m, text + off[i], off[i + 1] - off[i], off[i], &rn);
                r = red ? piece_set(v[i].v, v[i].lp, v[i].item, v[i].ix, red, rn) : -1;
                free(red);
                if (r != 0) {
                    aigov_masks_free(&m);
                    goto done;
                }
            }
            verdict = "redact";
            a->modified = 1;
            *changed = 1;
            aigov_masks_free(&m);
        }
        if (aigov_outcome_note(&a->outcome, rf->name, AIGOV_STAGE_RESPONSE, verdict, 0) != 0)
            goto done;
    }
    rc = 0;
done:
    free(text);
    free(off);
    return rc;
}

/* The tokens of logprobs: each alternative apart (the alternatives of a
 * position exclude each other and are ordered by probability: joined
 * they would make texts nobody reads), then each list as one text. The
 * alternatives go first, so that a list's masks have the last word at
 * their positions (lp_wrote). A list spells the answer's text again, so
 * what is found there is not counted twice; an alternative is a text of
 * its own. 1 when blocked, 0, -1. */
static int filter_logprobs(aigov_answer_t *a, lp_t *lp, int counted, int *changed)
{
    size_t i, j;
    int rc;

    if (lp->fixed)
        *changed = 1;
    if ((rc = filter_pieces(a, &lp->alt, counted, changed)) != 0)
        return rc;
    for (i = 0; i < lp->tok.n; i = j) {
        for (j = i + 1; j < lp->tok.n && strcmp(lp->tok.v[j].key, lp->tok.v[i].key) == 0; j++)
            ;
        if ((rc = filter_seq(a, lp->tok.v + i, j - i, changed)) != 0)
            return rc;
    }
    return 0;
}

/* ---- a list that no longer spells its text ----
 *
 * A whole answer's parts are also read joined (filter_joined_pieces): a
 * term cut across two output_text parts is masked in their texts, but
 * each part's list of logprobs tokens, read alone, holds only half of it.
 * Afterwards every list that spelled its text before the filters is made
 * to spell it again: the tokens from the first difference to the last
 * take the text's new middle (the first of them all of it, the others
 * what lies outside the middle), through piece_set, so that their bytes,
 * alternatives and offsets follow. */

/* The key of the text list key spells; msg: "message." in a whole
 * answer, "delta." in a stream's event. Responses "...logprobs" ->
 * "...text" and a stream's "o0.0.0.lp" -> "o0.0.0"; chat
 * "choices.N.logprobs.content" (or refusal) -> "choices.N" msg "content";
 * legacy "choices.N.logprobs.tokens" -> "choices.N.text". 0, or -1 for a
 * key of no known text. */
static int lp_text_path(const char *key, const char *msg, char *out, size_t cap)
{
    const char *lp = strstr(key, "logprobs");
    size_t n = strlen(key), pre;

    if (n > 3 && strcmp(key + n - 3, ".lp") == 0)
        return snprintf(out, cap, "%.*s", (int)(n - 3), key) < (int)cap ? 0 : -1;
    if (lp == NULL)
        return -1;
    pre = (size_t)(lp - key);
    if (strcmp(lp, "logprobs") == 0 || strcmp(lp, "logprobs.tokens") == 0)
        return snprintf(out, cap, "%.*stext", (int)pre, key) < (int)cap ? 0 : -1;
    if (strcmp(lp, "logprobs.content") == 0 || strcmp(lp, "logprobs.refusal") == 0)
        return snprintf(out, cap, "%.*s%s%s", (int)pre, key, msg, lp + 9) < (int)cap ? 0 : -1;
    return -1;
}

/* The text piece of list v[0..n) (tokens of one key), or NULL. */
static json_t *lp_text_of(const pieces_t *p, const cpiece_t *v)
{
    char path[CHAN_KEY];
    size_t i;

    if (lp_text_path(v->key, "message.", path, sizeof(path)) != 0)
        return NULL;
    for (i = 0; i < p->n; i++)
        if (strcmp(p->v[i].key, path) == 0)
            return p->v[i].v;
    return NULL;
}

/* Whether the tokens v[0..n) spell text t. */
static int lp_spells(const cpiece_t *v, size_t n, const json_t *t)
{
    const char *s = json_string_value(t);
    size_t len = json_string_length(t), at = 0, i, l;

    for (i = 0; i < n; i++) {
        l = json_string_length(v[i].v);
        if (at + l > len || memcmp(s + at, json_string_value(v[i].v), l) != 0)
            return 0;
        at += l;
    }
    return at == len;
}

/* Tokens v[0..n) that spelled text t made to spell it again. */
static int lp_respell(cpiece_t *v, size_t n, const json_t *t, int *changed)
{
    const char *ts = json_string_value(t);
    size_t tl = json_string_length(t), ll = 0, pre = 0, suf = 0, i, o, first = 1;
    char *l;
    int rc = 0;

    for (i = 0; i < n; i++)
        ll += json_string_length(v[i].v);
    if ((l = malloc(ll + 1)) == NULL)
        return -1;
    for (i = 0, o = 0; i < n; i++) {
        memcpy(l + o, json_string_value(v[i].v), json_string_length(v[i].v));
        o += json_string_length(v[i].v);
    }
    while (pre < ll && pre < tl && l[pre] == ts[pre])
        pre++;
    while (suf < ll - pre && suf < tl - pre && l[ll - 1 - suf] == ts[tl - 1 - suf])
        suf++;
    /* whole characters on both sides */
    while (pre > 0 && (((unsigned char)ts[pre] & 0xC0) == 0x80 || ((unsigned char)l[pre] & 0xC0) == 0x80))
        pre--;
    while (suf > 0 && (((unsigned char)ts[tl - suf] & 0xC0) == 0x80
                       || ((unsigned char)l[ll - suf] & 0xC0) == 0x80))
        suf--;
    for (i = 0, o = 0; rc == 0 && i < n; i++) {
        size_t s = o, e = o + json_string_length(v[i].v), mid_e = ll - suf, k = 0;
        char *nv;

        o = e;
        if (e < pre || s > mid_e || (e == pre && s < e) || (s == mid_e && s < e))
            continue;       /* wholly outside the middle */
        if ((nv = malloc((e - s) + (tl - suf - pre) + 1)) == NULL) {
            rc = -1;
            break;
        }
        if (s < pre) {
            memcpy(nv, l + s, pre - s);
            k = pre - s;
        }
        if (first) {
            memcpy(nv + k, ts + pre, tl - suf - pre);
            k += tl - suf - pre;
            first = 0;
        }
        if (e > mid_e) {
            memcpy(nv + k, l + mid_e, e - mid_e);
            k += e - mid_e;
        }
        rc = piece_set(v[i].v, v[i].lp, v[i].item, v[i].ix, nv, k);
        free(nv);
        *changed = 1;
    }
    free(l);
    return rc;
}

/* Which lists spell their text, before the filters (spelt[g] for the g-th
 * list), and after them each such list made to spell it again. */
static int lp_spelt(const pieces_t *p, const lp_t *lp, unsigned char **spelt)
{
    size_t i, j, g = 0;

    *spelt = NULL;
    if (lp->tok.n == 0)
        return 0;
    if ((*spelt = calloc(lp->tok.n, 1)) == NULL)
        return -1;
    for (i = 0; i < lp->tok.n; i = j, g++) {
        json_t *t = lp_text_of(p, &lp->tok.v[i]);

        for (j = i + 1; j < lp->tok.n && strcmp(lp->tok.v[j].key, lp->tok.v[i].key) == 0; j++)
            ;
        (*spelt)[g] = t != NULL && lp_spells(lp->tok.v + i, j - i, t);
    }
    return 0;
}

static int lp_follow(const pieces_t *p, lp_t *lp, const unsigned char *spelt, int *changed)
{
    size_t i, j, g = 0;

    for (i = 0; spelt != NULL && i < lp->tok.n; i = j, g++) {
        json_t *t = lp_text_of(p, &lp->tok.v[i]);

        for (j = i + 1; j < lp->tok.n && strcmp(lp->tok.v[j].key, lp->tok.v[i].key) == 0; j++)
            ;
        if (spelt[g] && t != NULL && !lp_spells(lp->tok.v + i, j - i, t)
            && lp_respell(lp->tok.v + i, j - i, t, changed) != 0)
            return -1;
    }
    return 0;
}

/* Keys of the objects under "input" and "arguments" (Anthropic tool_use
 * input, whole): the model wrote them as it wrote the values, so they are
 * texts too, each inspected whole; a redacted key replaces the old one in
 * its object. Streamed, such an input comes as partial_json text. */
typedef struct {
    json_t  *obj;
    char    *key;
    int      lp;        /* a legacy logprobs token: not counted again */
} okey_t;

static int keys_walk(json_t *v, int opaque, int lp, okey_t **k, size_t *n, size_t *cap)
{
    const char *key;
    json_t *c;
    size_t i;

    if (json_is_array(v)) {
        json_array_foreach(v, i, c)
            if (keys_walk(c, opaque, lp, k, n, cap) != 0)
                return -1;
        return 0;
    }
    if (!json_is_object(v))
        return 0;
    json_object_foreach(v, key, c) {
        size_t kl = strlen(key);

        if (!opaque && is_control(key, kl))
            continue;
        if (opaque) {
            if (*n == *cap) {
                size_t nc = *cap ? 2 * *cap : 4;
                okey_t *nk = realloc(*k, nc * sizeof(*nk));
                if (nk == NULL)
                    return -1;
                *k = nk;
                *cap = nc;
            }
            (*k)[*n].obj = v;
            (*k)[*n].lp = lp;
            if (((*k)[*n].key = strdup(key)) == NULL)
                return -1;
            (*n)++;
        }
        if (keys_walk(c, opaque || is_opaque(key, kl), lp, k, n, cap) != 0)
            return -1;
        /* legacy completions' logprobs: the keys of top_logprobs' maps
         * are tokens (walk_logprobs) */
        if (!opaque && kl == 8 && memcmp(key, "logprobs", 8) == 0
            && json_is_array(json_object_get(c, "tokens"))
            && keys_walk(json_object_get(c, "top_logprobs"), 1, 1, k, n, cap) != 0)
            return -1;
    }
    return 0;
}

/* 1 when blocked, 0, -1; *changed when a key was redacted. */
static int filter_keys(aigov_answer_t *a, json_t *root, int counted, int *changed)
{
    okey_t *k = NULL;
    pieces_t p = { 0 };
    size_t n = 0, cap = 0, i;
    int rc = -1, kchanged = 0;

    if (keys_walk(root, 0, 0, &k, &n, &cap) != 0)
        goto done;
    if (n == 0) {
        rc = 0;
        goto done;
    }
    for (i = 0; i < n; i++) {
        json_t *s = json_string(k[i].key);

        if (s == NULL || add_piece(&p, s, "", "", 0, 0) != 0) {
            json_decref(s);
            goto done;
        }
    }
    if (counted)
        for (i = 0; i < p.n; i++)
            if (!k[i].lp)
                a->text_chars += chars_of(json_string_value(p.v[i].v),
                                          json_string_length(p.v[i].v));
    rc = filter_pieces(a, &p, counted, &kchanged);
    for (i = 0; rc == 0 && kchanged && i < p.n; i++) {
        const char *nk = json_string_value(p.v[i].v);
        json_t *val;

        if (strcmp(nk, k[i].key) == 0 || (val = json_object_get(k[i].obj, k[i].key)) == NULL)
            continue;
        json_incref(val);
        if (json_object_del(k[i].obj, k[i].key) != 0 || json_object_set_new(k[i].obj, nk, val) != 0)
            rc = -1;
        *changed = 1;
    }
done:
    for (i = 0; i < p.n; i++)
        json_decref(p.v[i].v);
    free(p.v);
    for (i = 0; i < n; i++)
        free(k[i].key);
    free(k);
    return rc;
}

/* A whole answer's texts are also read joined, as a request's are (a term
 * cut across two output_text parts, which the openai SDK's output_text
 * runs together): lib/filter's aigov_filter_joined over the pieces of one
 * answer. The choices of a chat or completions answer (n > 1, a group
 * each) are separate answers, and tool-call arguments are JSON texts the
 * client parses on their own: neither is run together with the rest. */
typedef struct {
    pieces_t      *p;
    const size_t  *map;     /* text i of the joined reading is piece map[i] */
    int            changed;
} joined_ctx_t;

static int joined_set(void *ctx, size_t i, const char *s, size_t len)
{
    joined_ctx_t *j = ctx;

    j->changed = 1;
    return json_string_setn(j->p->v[j->map[i]].v, s, len);
}

typedef struct {
    const char  *group;
    size_t       i;
} gpiece_t;

/* By group, in answer order within one. */
static int gpiece_cmp(const void *x, const void *y)
{
    const gpiece_t *a = x, *b = y;
    int c = strcmp(a->group, b->group);

    return c != 0 ? c : (a->i > b->i) - (a->i < b->i);
}

/* Each filter over the pieces alone, then over them joined, reading them
 * as that filter got them (copies kept before it redacts them alone): a
 * match across a join is found whole and masked in full with the masks of
 * the pieces alone. 1 when blocked, 0, -1; *changed when a text was
 * redacted. */
static int filter_joined_pieces(aigov_answer_t *a, pieces_t *p, int *changed)
{
    joined_ctx_t jc = { p, NULL, 0 };
    aigov_texts_t t;
    gpiece_t *g = NULL;
    size_t *map = NULL, *olen = NULL, fi, i, n = 0, run, end;
    char **orig = NULL;
    int rc = 0, joins = 0;

    if (p->n < 2)
        return filter_pieces(a, p, 1, changed);
    memset(&t, 0, sizeof(t));
    g = malloc(p->n * sizeof(*g));
    map = malloc(p->n * sizeof(*map));
    orig = calloc(p->n, sizeof(*orig));
    olen = malloc(p->n * sizeof(*olen));
    t.text = malloc(p->n * sizeof(*t.text));
    t.len = malloc(p->n * sizeof(*t.len));
    if (g == NULL || map == NULL || orig == NULL || olen == NULL || t.text == NULL || t.len == NULL) {
        rc = -1;
        goto done;
    }
    for (i = 0; i < p->n; i++) {
        if (p->v[i].json)
            continue;
        g[n].group = p->v[i].group;
        g[n++].i = i;
    }
    qsort(g, n, sizeof(*g), gpiece_cmp);
    for (i = 0; i < n; i++)
        map[i] = g[i].i;
    for (i = 1; i < n; i++)
        joins |= strcmp(g[i].group, g[i - 1].group) == 0;
    t.stage = AIGOV_STAGE_RESPONSE;
    t.set = joined_set;
    t.ctx = &jc;
    for (fi = 0; rc == 0 && fi < a->nf; fi++) {
        /* the pieces read joined, as this filter gets them */
        for (i = 0; joins && i < n; i++) {
            json_t *v = p->v[map[i]].v;
            size_t l = json_string_length(v);

            free(orig[i]);
            if ((orig[i] = malloc(l + 1)) == NULL) {
                rc = -1;
                goto done;
            }
            memcpy(orig[i], json_string_value(v), l + 1);
            olen[i] = l;
        }
        rc = filter_pieces_of(a, p, 1, changed, fi, fi + 1);
        for (run = 0; joins && rc == 0 && run < n; run = end) {
            for (end = run + 1; end < n && strcmp(g[end].group, g[run].group) == 0; end++)
                ;
            if (end - run < 2)
                continue;
            jc.map = map + run;
            t.n = end - run;
            for (i = 0; i < t.n; i++) {
                t.text[i] = orig[run + i];
                t.len[i] = olen[run + i];
            }
            switch (aigov_filter_joined(&a->f[fi].spec, a->f[fi].name, &t, &a->outcome)) {
            case AIGOV_FILTER_PASS:
                break;
            case AIGOV_FILTER_BLOCKED:
                drop_held(a);
                a->modified = 1;
                rc = emit_block(a, a->outcome.block_plugin, a->outcome.block_reason) != 0
                     ? -1 : 1;
                break;
            default:
                rc = -1;
                break;
            }
        }
    }
done:
    if (orig != NULL)
        for (i = 0; i < p->n; i++)
            free(orig[i]);
    free(orig);
    free(olen);
    free(g);
    free(map);
    free(t.text);
    free(t.len);
    if (jc.changed) {
        a->modified = 1;
        *changed = 1;
    }
    return rc;
}

int aigov_answer_json(aigov_answer_t *a, const char *body, size_t len)
{
    json_t *root;
    pieces_t p = { 0 };
    lp_t lp = { 0 };
    unsigned char *spelt = NULL;
    int rc, changed = 0;
    size_t i;

    if (a->nf == 0) {
        take_usage_fast(a, body, len);
        /* the text is counted only for an estimate, needed without usage */
        if (!usage_whole(a))
            count_text_fast(a, body, len, 0);
        return 0;
    }
    if (!looks_like_json(body, len)) {
        /* nothing but white space has nothing to inspect; anything else
         * a client might read, unread, is refused */
        if (ws(body, body + len) == body + len)
            return emit(a, body, len);
        return block(a, "aigov", "the answer is neither JSON nor an event stream and "
                     "cannot be inspected", "unreadable");
    }
    root = json_loadb(body, len, JSON_ALLOW_NUL, NULL);
    if (root == NULL) {
        /* What looks like JSON but is not to jansson (a lone surrogate, a
         * number too large) may still be read by the client: its text
         * would pass uninspected, so it is refused. */
        return block(a, "aigov", "the answer is JSON that cannot be inspected", "unreadable");
    }
    take_usage(a, root);
    if (collect(root, &p, &lp, NULL, NULL, JOIN_NONE) != 0) {
        free(p.v);
        lp_free(&lp);
        json_decref(root);
        return -1;
    }
    for (i = 0; i < p.n; i++)
        a->text_chars += chars_of(json_string_value(p.v[i].v), json_string_length(p.v[i].v));
    rc = lp_spelt(&p, &lp, &spelt);
    if (rc == 0)
        rc = filter_keys(a, root, 1, &changed);
    /* each filter over the pieces alone and joined */
    if (rc == 0)
        rc = filter_joined_pieces(a, &p, &changed);
    if (rc == 0 && (lp.tok.n > 0 || lp.alt.n > 0 || lp.fixed))
        rc = filter_logprobs(a, &lp, 1, &changed);
    /* a mask only the joined reading of the parts found */
    if (rc == 0)
        rc = lp_follow(&p, &lp, spelt, &changed);
    free(spelt);
    free(p.v);
    lp_free(&lp);
    if (rc == 0) {
        if (changed) {
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
 * is not sure to read as collect() does: another shape, any other string
 * that is text (a tool call, reasoning, a refusal, a field it does not
 * know), more than one choice, an escaped key, a repeated key that
 * matters, a data field over several lines. Such an event is sent as
 * received unless a mask touches it; then only its string is replaced. */

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
    int    usage_obj;           /* the top "usage" is an object */
    long long uv[USAGE_NAMES];  /* as take_usage reads them */
    int    uhave[USAGE_NAMES];
    long   index;               /* messages: the top "index", -1 absent */
    long   choice;              /* chat, completions: the choice's index */
    int    nchoices, seen_choices;
    int    finished;            /* the choice has a finish_reason */
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

static inline int lit_is(const lit_t *l, const char *w)
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


/* Past the value at p; NULL when it is not valid. strict: NULL also when
 * it holds a string that is text (one not under a control field). */
static const char *skip_any(const char *p, const char *end, int depth, int strict, int opaque)
{
    const char *q = p;
    lit_t l;
    int first = 1, r;

    if (p >= end || depth > FAST_DEPTH)
        return NULL;
    switch (*p) {
    case '{':
        while ((r = obj_next(&q, end, &first, &l)) == 1) {
            const char *k = l.s + 1;
            size_t kn = (size_t)(l.e - l.s - 2);
            int sub = strict && (opaque || !is_control(k, kn) || maybe_text(k, kn));

            if (strict && opaque)
                return NULL;    /* a key the model wrote: text */

            if ((q = skip_any(q, end, depth + 1, sub, opaque || is_opaque(k, kn))) == NULL)
                return NULL;
        }
        return r == 0 ? q : NULL;
    case '[':
        while ((r = arr_next(&q, end, &first)) == 1)
            if ((q = skip_any(q, end, depth + 1, strict, opaque)) == NULL)
                return NULL;
        return r == 0 ? q : NULL;
    case '"':
        return strict ? NULL : lit(p, end, &l);
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

static const char *skip_value(const char *p, const char *end, int depth)
{
    return skip_any(p, end, depth, 0, 0);
}

/* Past the value at p, its brackets counted and its strings skipped
 * whole, at any depth (nesting must not hide what follows); NULL when the
 * text ends first or a string is not valid. It locates, it does not
 * check: the answer's grammar is not its business. */
static const char *skip_flat(const char *p, const char *end)
{
    long depth = 0;
    lit_t l;

    if (p < end && *p == '"')
        return lit(p, end, &l);
    if (p < end && *p != '{' && *p != '[') {
        while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' '
               && *p != '\t' && *p != '\r' && *p != '\n')
            p++;
        return p < end ? p : NULL;
    }
    while (p < end) {
        switch (*p) {
        case '"':
            if ((p = lit(p, end, &l)) == NULL)
                return NULL;
            continue;
        case '{':
        case '[':
            depth++;
            break;
        case '}':
        case ']':
            if (--depth == 0)
                return p + 1;
            break;
        default:
            break;
        }
        p++;
    }
    return NULL;
}

/* The members of the object at p: the value of its last "usage" member
 * (NULL when that is no object) and of its "message" and "response"
 * objects; returns past the object, NULL when it is not valid. */
static const char *usage_members(const char *p, const char *end, const char **usage,
                                 const char **message, const char **response)
{
    const char *q = p;
    int first = 1, r;
    lit_t k;

    *usage = NULL;
    if (message != NULL)
        *message = *response = NULL;
    while ((r = next_item(&q, end, &first, '}')) == 1) {
        if (*q != '"' || (q = lit(q, end, &k)) == NULL)
            return NULL;
        q = ws(q, end);
        if (q >= end || *q != ':')
            return NULL;
        q = ws(q + 1, end);
        if (q >= end)
            return NULL;
        /* the last of a duplicate key counts, as in jansson */
        if (lit_is(&k, "usage"))
            *usage = *q == '{' ? q : NULL;
        else if (message != NULL && lit_is(&k, "message"))
            *message = *q == '{' ? q : NULL;
        else if (message != NULL && lit_is(&k, "response"))
            *response = *q == '{' ? q : NULL;
        if ((q = skip_flat(q, end)) == NULL)
            return NULL;
    }
    return r == 0 ? q : NULL;
}

/* Where take_usage_fast reads: the usage object take_usage would take. */
static const char *usage_where(const char *s, size_t len, int *final)
{
    const char *end = s + len, *p = ws(s, end), *u, *m, *r;

    if (p >= end || *p != '{' || usage_members(p, end, &u, &m, &r) == NULL)
        return NULL;
    *final = 1;
    if (u != NULL)
        return u;
    if (m != NULL && usage_members(m, end, &u, NULL, NULL) != NULL && u != NULL) {
        *final = 0;
        return u;
    }
    if (r != NULL && usage_members(r, end, &u, NULL, NULL) != NULL && u != NULL)
        return u;
    return NULL;
}

/* A member that collect() does not read as text when it is a control
 * field, and reads whole otherwise: then it must hold no string. */
static const char *skip_member(const lit_t *key, const char *p, const char *end, int depth)
{
    const char *k = key->s + 1;
    size_t kn = (size_t)(key->e - key->s - 2);

    if (is_control(k, kn) && !maybe_text(k, kn))
        return skip_value(p, end, depth);
    return skip_any(p, end, depth, 1, is_opaque(k, kn));
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

/* A small non-negative integer (what json_is_integer and "%lld" agree
 * on); NULL for anything else. */
static const char *small_int(const char *p, const char *end, long *v)
{
    const char *q = p;

    *v = 0;
    while (q < end && *q >= '0' && *q <= '9' && q - p < 9)
        *v = *v * 10 + (*q++ - '0');
    if (q == p || (q - p > 1 && *p == '0') || (q < end && strchr("0123456789.eE", *q)))
        return NULL;
    return q;
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
            q = skip_member(&key, q, end, 2);
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

/* "choices": chat reads the choice's delta.content, completions its text;
 * one choice at most */
static const char *choices(const char *p, const char *end, aigov_endpoint_t ep, fast_t *f)
{
    const char *q = p;
    lit_t key;
    int first = 1, r, cfirst, cr;

    if (*p != '[')
        return NULL;
    while ((r = arr_next(&q, end, &first)) == 1) {
        lit_t text = { NULL, NULL, 0 };
        int seen_index = 0, seen_fin = 0;

        if (*q != '{' || f->nchoices++ > 0)
            return NULL;
        cfirst = 1;
        f->seen_sub = 0;
        f->sub_text.s = NULL;
        f->sub_type.s = NULL;
        f->choice = 0;
        while ((cr = obj_next(&q, end, &cfirst, &key)) == 1) {
            if (ep == AIGOV_EP_CHAT && lit_is(&key, "delta"))
                q = sub_object(q, end, f, "content");
            else if (ep == AIGOV_EP_COMPLETIONS && lit_is(&key, "text"))
                q = str_member(q, end, &text);
            else if (lit_is(&key, "index"))
                q = seen_index++ ? NULL : small_int(q, end, &f->choice);
            else if (lit_is(&key, "finish_reason")) {
                f->finished = *q == '"';
                q = seen_fin++ ? NULL : skip_value(q, end, 2);
            } else
                q = skip_member(&key, q, end, 2);
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
        for (i = 0; i < USAGE_NAMES && !lit_is(&key, usage_names[i]); i++)
            ;
        v = q;
        if ((q = skip_value(q, end, depth + 1)) == NULL)
            return NULL;
        if (i < USAGE_NAMES) {
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
    if (where == 1)
        f->usage_obj = 1;
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
        return skip_any(p, end, 1, 1, 0);
    while ((r = obj_next(&q, end, &first, &key)) == 1) {
        if (lit_is(&key, "usage"))
            q = seen++ ? NULL : usage_member(q, end, 2, f, 2);
        else
            q = skip_member(&key, q, end, 2);
        if (q == NULL)
            return NULL;
    }
    return r == 0 ? q : NULL;
}

/* pre, v in decimal, post into out (CHAN_KEY bytes): snprintf costs a
 * tenth of a filtered event here. */
static void key_fmt(char *out, const char *pre, long v, const char *post)
{
    char d[24];
    size_t n = 0, pl = strlen(pre), ql = strlen(post);

    do {
        d[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0 && n < sizeof(d));
    memcpy(out, pre, pl);
    for (size_t i = 0; i < n; i++)
        out[pl + i] = d[n - 1 - i];
    memcpy(out + pl + n, post, ql + 1);
}

/* The channel a fast-read piece goes to, as collect() names it. */
static void fast_key(aigov_endpoint_t ep, const fast_t *f, char *key, char *group)
{
    if (ep == AIGOV_EP_MESSAGES) {
        if (f->index >= 0 && f->type.s != NULL && (size_t)(f->type.e - f->type.s) >= 15
            && memcmp(f->type.s + 1, "content_block", 13) == 0) {
            key_fmt(key, "b", f->index, "");
            strcpy(group, "b");
        } else {
            strcpy(key, f->sub_delta ? "delta.text" : "content_block.text");
            group[0] = '\0';
        }
        return;
    }
    key_fmt(key, "choices.", f->choice, ep == AIGOV_EP_CHAT ? ".delta.content" : ".text");
    key_fmt(group, "choices.", f->choice, "");
}

/* 1: f says what collect() would find in data; 0: jansson must read it. */
static int fast_event(aigov_endpoint_t ep, const char *data, size_t len, fast_t *f)
{
    const char *p = ws(data, data + len), *end = data + len;
    lit_t key;
    int first = 1, r, seen_index = 0;

    memset(f, 0, sizeof(*f));
    f->index = -1;
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
        else if (lit_is(&key, "response"))
            p = NULL;       /* usage may hide there: jansson's */
        else if (ep != AIGOV_EP_MESSAGES && lit_is(&key, "choices")) {
            p = f->seen_choices++ ? NULL : choices(p, end, ep, f);
        } else if (ep == AIGOV_EP_MESSAGES && (lit_is(&key, "delta") || lit_is(&key, "content_block"))) {
            f->sub_delta = lit_is(&key, "delta");
            p = sub_object(p, end, f, "text");
        } else if (ep == AIGOV_EP_MESSAGES && lit_is(&key, "index")) {
            p = seen_index++ ? NULL : small_int(p, end, &f->index);
        } else {
            p = skip_member(&key, p, end, 1);
        }
        if (p == NULL)
            return 0;
    }
    if (r != 0 || ws(p, end) != end)
        return 0;
    if ((f->type.s && f->type.esc) || (f->sub_type.s && f->sub_type.esc))
        return 0;
    if (ep != AIGOV_EP_MESSAGES && f->type.s != NULL)
        return 0;
    /* an event of the Responses API's kind is read as one (take_json) */
    if (f->type.s != NULL && f->type.e - f->type.s > 10 && memcmp(f->type.s + 1, "response.", 9) == 0)
        return 0;
    if (ep == AIGOV_EP_MESSAGES)
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

/* ---- channels ---- */

static size_t chan_total(const chan_t *c)
{
    return c->wbase + c->wlen;
}

/* A channel's filter states, each stream_start'ed. */
static int chan_start(aigov_answer_t *a, chan_t *c)
{
    size_t i;

    c->hold = a->hold_back;     /* until the filters have said */
    if (a->nf == 0)
        return 0;
    c->fs = calloc(a->nf, sizeof(*c->fs));
    c->fbroken = calloc(a->nf, 1);
    if (c->fs == NULL || c->fbroken == NULL)
        return -1;
    for (i = 0; i < a->nf; i++) {
        const aigov_plugin_t *t = aigov_inst_plugin(a->f[i].spec.inst);

        if (t->stream_start != NULL) {
            c->fs[i] = t->stream_start(aigov_inst_state(a->f[i].spec.inst));
            c->fbroken[i] = c->fs[i] == NULL;
        }
    }
    return 0;
}

/* ---- joined parts ----
 *
 * The answer text that an SDK runs together (Responses output_text parts,
 * of one message or of several; Anthropic text blocks) comes in parts, a
 * channel each. A part's window opens with the end of the part before
 * (its seed), so a match across the join is seen whole: inspected with
 * nothing between the parts, as the openai SDK's output_text and a client
 * printing the deltas run them, and where word meets word once more with
 * a space, as Anthropic's finalText() joins its text blocks. The part
 * before keeps holding its end (the tail its filters asked for) when its
 * text is complete, until the next part's filters say how much of it they
 * still need, another kind of text comes, or the stream ends; a match
 * across the join is masked on both sides (its label where it starts) or
 * blocks. Only parts in order are joined: a part that gets text again
 * once the next began breaks the link. */

/* The part before c, while the link holds: not reused, and not grown
 * since its end opened c's window. */
static chan_t *chan_prev(aigov_answer_t *a, const chan_t *c)
{
    chan_t *p;

    if (c->prev < 0 || (size_t)c->prev >= a->nch)
        return NULL;
    p = &a->ch[c->prev];
    if (p->order != c->prev_order || chan_total(p) != c->jbase + c->seed)
        return NULL;
    return p;
}

/* A new part of answer text (channel k): its window opens with the end of
 * the part that got text last, at most 2 * hold_back bytes (what a match
 * in progress there may cover and the context before it) from a character
 * start. */
static int chan_seed(aigov_answer_t *a, size_t k)
{
    chan_t *c = &a->ch[k], *p;
    size_t from, n;

    if (a->last_join < 0 || (size_t)a->last_join == k || (size_t)a->last_join >= a->nch)
        return 0;
    p = &a->ch[a->last_join];
    if (p->order != a->last_join_order || !p->join || strcmp(p->group, c->group) != 0)
        return 0;
    from = p->wbase;
    if (chan_total(p) - from > 2 * a->hold_back)
        from = chan_total(p) - 2 * a->hold_back;
    while (from < chan_total(p) && ((unsigned char)p->win[from - p->wbase] & 0xC0) == 0x80)
        from++;
    n = chan_total(p) - from;
    if (n == 0)
        return 0;
    if (grow(&c->win, &c->wcap, n + 1) != 0)
        return -1;
    memcpy(c->win, p->win + (from - p->wbase), n);
    c->wbase = 0;
    c->wlen = n;
    c->seed = c->rel = n;
    c->jbase = from;
    c->prev = a->last_join;
    c->prev_order = p->order;
    return 0;
}

/* Whether p is a part before c that c's window still needs: it stays
 * open while c's text comes. */
static int chan_joined(aigov_answer_t *a, const chan_t *c, const chan_t *p)
{
    const chan_t *q;

    for (q = chan_prev(a, c); q != NULL; q = chan_prev(a, q))
        if (q == p)
            return 1;
    return 0;
}

/* c's filters need the last n bytes of its window: what of them lies in
 * the parts before stays held there; a part none of whose text is needed
 * any more is complete (and so are the ones before it). */
static void join_need(aigov_answer_t *a, chan_t *c, size_t n)
{
    chan_t *p;

    while ((p = chan_prev(a, c)) != NULL && !p->closed) {
        size_t own = chan_total(c) - c->seed;

        if (n <= own) {
            n = 0;
            p->closed = 1;
        } else {
            n -= own;
            p->hold = n;
        }
        c = p;
    }
}

/* A mask of c's window at [s, e) (c's offsets, in its window) that only
 * joining found: kept for the texts that repeat c's own text whole
 * (Responses' *.done; rpiece_t). */
static int join_keep(aigov_answer_t *a, chan_t *c, size_t s, size_t e, const char *label)
{
    if (!a->responses || e <= s)
        return 0;
    return aigov_masks_add(&c->jm, c->win, c->wlen, c->wbase, s - c->wbase, e - c->wbase,
                           label) < 0 ? -1 : 0;
}

/* A match across the join before c covers [s, e) of c's seed: the same
 * bytes of the parts before are masked where they are not sent yet, its
 * label where it starts. */
static int join_mask(aigov_answer_t *a, chan_t *c, size_t s, size_t e, const char *label)
{
    chan_t *p = chan_prev(a, c);
    size_t ps, pe;

    if (p == NULL || s >= e)
        return 0;
    ps = c->jbase + s;
    pe = c->jbase + e;
    /* it began in the part before p: that part too */
    if (ps < p->seed && join_mask(a, p, ps, p->seed < pe ? p->seed : pe, label) != 0)
        return -1;
    if (p->exposed && ps < p->exp_e && pe > p->exp_s && pe > p->late_end) {
        a->late++;      /* release_held sent some of it: counted once */
        p->late_end = pe;
    }
    if (pe <= p->rel)
        return 0;       /* sent: cannot be masked any more */
    /* from where it starts, in the window: what is held shows its label,
     * or nothing where the label went with text sent before */
    if (ps < p->wbase)
        ps = p->wbase;
    if (aigov_masks_add(&p->masks, p->win, p->wlen, p->wbase, ps - p->wbase, pe - p->wbase,
                        label) < 0)
        return -1;
    return join_keep(a, p, ps, pe, label);
}

/* Joined parts that a repeat (rpiece_t) still needs, and the part that
 * got text last (the next part's seed): kept when a channel is reused. */
static int chan_keep(const aigov_answer_t *a, size_t k)
{
    const chan_t *c = &a->ch[k];

    return c->join && (c->jm.n > 0 || (long)k == a->last_join);
}

/* The channel named key: found, new, a reused one whose text is complete
 * and sent, or (all in use) the last one, shared. Other open channels of
 * its group close: their texts come one after the other, but a part of
 * answer text keeps the parts before it whose end its window still
 * needs. join: a new channel is a part of answer text. -1 out of memory. */
static long chan_get(aigov_answer_t *a, const char *key, const char *group, int join)
{
    size_t i, k = a->nch;
    chan_t *c;

    if (a->last_ch < a->nch && strcmp(a->ch[a->last_ch].key, key) == 0) {
        k = a->last_ch;
    } else {
        for (i = 0; i < a->nch; i++)
            if (strcmp(a->ch[i].key, key) == 0)
                break;
        k = i;
    }
    if (k == a->nch) {
        if (a->nch == a->chcap && a->chcap < AIGOV_ANSWER_MAX_CHANNELS) {
            /* grown as channels come: most answers have one or two, and
             * a gateway holds thousands of streams open */
            size_t cap = a->chcap ? 2 * a->chcap : 2;
            chan_t *v;

            if (cap > AIGOV_ANSWER_MAX_CHANNELS)
                cap = AIGOV_ANSWER_MAX_CHANNELS;
            v = realloc(a->ch, cap * sizeof(*v));
            if (v == NULL)
                return -1;
            memset(v + a->chcap, 0, (cap - a->chcap) * sizeof(*v));
            a->ch = v;
            a->chcap = cap;
        }
        if (a->nch < AIGOV_ANSWER_MAX_CHANNELS) {
            k = a->nch++;
        } else {
            for (k = 0; k < a->nch; k++)
                if (a->ch[k].closed && a->ch[k].rel == chan_total(&a->ch[k])
                    && !chan_keep(a, k))
                    break;
            if (k == a->nch) {
                k = a->nch - 1;
                goto found;
            }
            chan_clear(a, &a->ch[k]);
        }
        c = &a->ch[k];
        snprintf(c->key, sizeof(c->key), "%s", key);
        snprintf(c->group, sizeof(c->group), "%s", group);
        c->order = ++a->orders;
        c->prev = -1;
        if (chan_start(a, c) != 0)
            return -1;
        if (join) {
            c->join = 1;
            if (chan_seed(a, k) != 0)
                return -1;
        }
    }
found:
    for (i = 0; i < a->nch; i++)
        if (i != k && !a->ch[i].closed && strcmp(a->ch[i].group, a->ch[k].group) == 0
            && !(a->ch[k].prev >= 0 && chan_joined(a, &a->ch[k], &a->ch[i])))
            a->ch[i].closed = 1;
    a->ch[k].closed = 0;
    a->last_ch = k;
    return (long)k;
}

/* Closes the channels whose key begins with prefix: their texts are
 * complete. A part of answer text stays open: the next part may continue
 * it (chan_seed), and it closes when that part no longer needs its end,
 * when another kind of text comes (chan_get), or at the end. */
static void chan_close(aigov_answer_t *a, const char *prefix)
{
    size_t i, n = strlen(prefix);

    for (i = 0; i < a->nch; i++)
        if (strncmp(a->ch[i].key, prefix, n) == 0 && !a->ch[i].join)
            a->ch[i].closed = 1;
}

/* A repeated part text as its deltas went: the masks found in it, and
 * those that only joining it with the parts before and after found
 * (chan_t's jm). 1 when changed, 0, -1. */
static int repeat_apply(aigov_answer_t *a, rpiece_t *rp)
{
    const char *text = json_string_value(rp->v);
    size_t len = json_string_length(rp->v), n;
    const chan_t *c = rp->chan < a->nch ? &a->ch[rp->chan] : NULL;
    char *red;
    int rc;

    if (c != NULL && c->order == rp->order && chan_total(c) - c->seed == len) {
        size_t k, before = 0;

        for (k = 0; k < c->jm.n; k++) {
            size_t ms = c->jm.v[k].start, me = c->jm.v[k].end;

            if (me <= rp->base)
                continue;
            before |= ms < rp->base;
            if (ms < rp->base)
                ms = rp->base;
            if (me > rp->base + len)
                me = rp->base + len;
            if (aigov_masks_add(&rp->m, text, len, rp->base, ms - rp->base, me - rp->base,
                                c->jm.v[k].label) < 0)
                return -1;
        }
        /* one began in the part before, its label there: removed here */
        if (before && rp->base > 0)
            rp->m.v[0].start = rp->base - 1;
    }
    if (rp->m.n == 0)
        return 0;
    red = aigov_masks_apply(&rp->m, text, len, rp->base, &n);
    rc = red ? json_string_setn(rp->v, red, n) : -1;
    free(red);
    aigov_masks_free(&rp->m);
    return rc != 0 ? -1 : 1;
}

static int mask_touches(const chan_t *c, size_t s, size_t e)
{
    size_t i;

    for (i = 0; i < c->masks.n; i++)
        if (c->masks.v[i].start < e && c->masks.v[i].end > s)
            return 1;
    return 0;
}

/* ---- streams ---- */

/* Whether a piece of held text must stay held: it lies in the end of its
 * channel's text that a filter may still need (its tail(), see
 * plugins/README.md), and the channel is still open, so text yet to come
 * may complete a match that begins in it. */
static int piece_held(const chan_t *c, size_t end)
{
    return !c->closed && end + c->hold > chan_total(c);
}

/* A held event's pieces (held_t moves with the queue: no pointer into it
 * is kept). */
static hpiece_t *pieces_of(held_t *h)
{
    return h->p ? h->p : &h->one;
}

/* A held event read by fast_event whose text a mask touches: its bytes
 * with the text's JSON string replaced by the masked text. */
static int send_spliced(aigov_answer_t *a, held_t *h)
{
    const hpiece_t *p = pieces_of(h);
    chan_t *c = &a->ch[p->chan];
    size_t n;
    char *red;
    int rc;

    if (p->start < c->wbase)
        return -1;      /* cannot happen: held text stays in the window */
    red = aigov_masks_apply(&c->masks, c->win + (p->start - c->wbase), p->end - p->start,
                            p->start, &n);
    if (red == NULL)
        return -1;
    rc = emit(a, h->raw, h->lit_s) | emit_json_string(a, red, n)
         | emit(a, h->raw + h->lit_e, h->raw_len - h->lit_e);
    free(red);
    a->modified = 1;
    return rc ? -1 : 0;
}

/* An event re-serialised from its (changed) JSON, keeping its event: and
 * id: lines. */
static int send_json(aigov_answer_t *a, const char *event, const char *id, json_t *root)
{
    char *s = json_dumps(root, JSON_COMPACT);
    int rc = 0;

    if (s == NULL)
        return -1;
    if (event)
        rc |= emits(a, "event: ") | emits(a, event) | emits(a, "\n");
    if (id)
        rc |= emits(a, "id: ") | emits(a, id) | emits(a, "\n");
    rc |= emits(a, "data: ") | emits(a, s) | emits(a, "\n\n");
    free(s);
    a->modified = 1;
    return rc ? -1 : 0;
}

/* The shift of a choice's legacy text_offset (lp_shift) by its channel's
 * key, "choices.N...": NULL when the key names no choice, or no memory. */
static long long *lp_shift_of(aigov_answer_t *a, const char *key)
{
    char *end;
    unsigned long c;

    if (strncmp(key, "choices.", 8) != 0)
        return NULL;
    c = strtoul(key + 8, &end, 10);
    if (end == key + 8 || c >= 4096)
        return NULL;
    if (c >= a->lp_nshift) {
        long long *v = realloc(a->lp_shift, (c + 1) * sizeof(*v));

        if (v == NULL)
            return NULL;
        memset(v + a->lp_nshift, 0, (c + 1 - a->lp_nshift) * sizeof(*v));
        a->lp_shift = v;
        a->lp_nshift = c + 1;
    }
    return &a->lp_shift[c];
}

/* The characters of the legacy tokens of item among h's pieces. */
static long long lp_chars(const held_t *h, const json_t *item)
{
    long long n = 0;
    size_t i;

    for (i = 0; i < h->np; i++)
        if (h->p[i].lp == LP_LEGACY && h->p[i].item == item)
            n += chars_of(json_string_value(h->p[i].v), json_string_length(h->p[i].v));
    return n;
}

/* Legacy completions' logprobs in a stream: text_offset counts from the
 * answer's start, so after a mask in an event sent before, the offsets of
 * this event's tokens move by what that mask changed, and a mask here adds
 * its change for the events after (piece_set moves the offsets within
 * this event). before: lp_chars of each piece's item before the masks. */
static void lp_shift_event(aigov_answer_t *a, held_t *h, const long long *before)
{
    size_t i, j;
    long long *sh;

    for (i = 0; i < h->np; i++) {
        if (h->p[i].lp != LP_LEGACY)
            continue;
        for (j = 0; j < i && h->p[j].item != h->p[i].item; j++)
            ;
        if (j < i || (sh = lp_shift_of(a, a->ch[h->p[i].chan].key)) == NULL)
            continue;   /* that item was moved already */
        lp_offsets(h->p[i].item, 0, *sh);
        *sh += lp_chars(h, h->p[i].item) - before[i];
    }
}

/* Whether a legacy logprobs piece of h is of a choice whose offsets moved. */
static int lp_moved(aigov_answer_t *a, const held_t *h)
{
    size_t i;
    long long *sh;

    for (i = 0; i < h->np; i++)
        if (h->p != NULL && h->p[i].lp == LP_LEGACY
            && (sh = lp_shift_of(a, a->ch[h->p[i].chan].key)) != NULL && *sh != 0)
            return 1;
    return 0;
}

/* A stream's event: each list of logprobs tokens in it that spelled the
 * event's text before the masks spells it after them (as lp_follow for a
 * whole answer): a mask that only the text's channel found (a term cut
 * across two parts, seen in the window the part before opens) is written
 * into the event's tokens too. The text's channel of a list's is named
 * by lp_text_path. */
#define LP_RUNS  8

typedef struct {
    size_t    s, e;       /* h->p[s..e): one list's tokens */
    json_t   *text;       /* the event's text they spell */
    cpiece_t *v;          /* the tokens as lp_spells and lp_respell read
                             them; NULL: none to follow */
} lprun_t;

/* The lists of h's tokens and their texts (at most LP_RUNS). */
static size_t lp_runs(aigov_answer_t *a, held_t *h, lprun_t *r)
{
    size_t i, j, k, n = 0;
    char key[CHAN_KEY];

    for (i = 0; i < h->np && n < LP_RUNS; i = j) {
        for (j = i + 1; j < h->np && h->p[j].chan == h->p[i].chan; j++)
            ;
        if (h->p[i].lp == LP_NONE || h->p[i].lp == LP_ALT
            || lp_text_path(a->ch[h->p[i].chan].key, "delta.", key, sizeof(key)) != 0)
            continue;
        for (k = 0; k < h->np; k++)
            if (h->p[k].lp == LP_NONE && strcmp(a->ch[h->p[k].chan].key, key) == 0)
                break;
        if (k == h->np)
            continue;
        r[n].s = i;
        r[n].e = j;
        r[n].text = h->p[k].v;
        n++;
    }
    return n;
}

/* The tokens of run r as pieces lp_spells and lp_respell read. */
static cpiece_t *lp_run_pieces(const held_t *h, const lprun_t *r)
{
    cpiece_t *v = calloc(r->e - r->s, sizeof(*v));
    size_t i;

    for (i = 0; v != NULL && i < r->e - r->s; i++) {
        const hpiece_t *p = &h->p[r->s + i];

        v[i].v = p->v;
        v[i].lp = p->lp;
        v[i].item = p->item;
        v[i].ix = p->ix;
    }
    return v;
}

/* Sends one held event: its raw bytes, or, when a mask touches its text,
 * the event with the masks applied. */
static int send_held(aigov_answer_t *a, held_t *h)
{
    size_t i;
    int touched = 0, rc;
    const hpiece_t *hp = pieces_of(h);
    long long before_small[8], *before = NULL;
    lprun_t runs[LP_RUNS];
    size_t nruns;

    if (h->nrp > 0) {
        touched = h->rekeyed;
        for (i = 0; i < h->nrp; i++) {
            if ((rc = repeat_apply(a, &h->rp[i])) < 0)
                return -1;
            touched |= rc;
        }
        return touched ? send_json(a, h->event, h->id, h->root) : emit(a, h->raw, h->raw_len);
    }

    for (i = 0; i < h->np; i++)
        if (hp[i].end > hp[i].start && mask_touches(&a->ch[hp[i].chan], hp[i].start, hp[i].end))
            touched = 1;
    if (h->root != NULL && lp_moved(a, h))
        touched = 1;
    if (!touched && !(h->rekeyed && h->root != NULL))
        return emit(a, h->raw, h->raw_len);
    if (h->root == NULL)
        return send_spliced(a, h);

    before = h->np <= 8 ? before_small : malloc(h->np * sizeof(*before));
    if (before == NULL)
        return -1;
    for (i = 0; i < h->np; i++)
        before[i] = h->p[i].lp == LP_LEGACY ? lp_chars(h, h->p[i].item) : 0;
    rc = 0;
    nruns = lp_runs(a, h, runs);
    for (i = 0; i < nruns; i++) {
        runs[i].v = lp_run_pieces(h, &runs[i]);
        if (runs[i].v == NULL) {
            rc = -1;
        } else if (!lp_spells(runs[i].v, runs[i].e - runs[i].s, runs[i].text)) {
            free(runs[i].v);
            runs[i].v = NULL;
        }
    }
    for (i = 0; rc == 0 && i < h->np; i++) {
        hpiece_t *p = &h->p[i];
        chan_t *c = &a->ch[p->chan];
        size_t n;
        char *red;

        if (p->end == p->start || !mask_touches(c, p->start, p->end))
            continue;
        red = aigov_masks_apply(&c->masks, json_string_value(p->v), json_string_length(p->v),
                                p->start, &n);
        rc = red ? piece_set(p->v, p->lp, p->item, p->ix, red, n) : -1;
        free(red);
        if (rc != 0)
            break;
    }
    /* the lists that spelled their text before the masks, made to again */
    for (i = 0; i < nruns; i++) {
        cpiece_t *v = runs[i].v;
        size_t n = runs[i].e - runs[i].s;
        int ch = 0;

        if (rc == 0 && v != NULL && !lp_spells(v, n, runs[i].text))
            rc = lp_respell(v, n, runs[i].text, &ch);
        free(v);
    }
    if (rc == 0)
        lp_shift_event(a, h, before);
    if (before != before_small)
        free(before);
    return rc != 0 ? -1 : send_json(a, h->event, h->id, h->root);
}

/* Whether an event must stay held for one of its pieces. */
static int event_held(const aigov_answer_t *a, held_t *h)
{
    size_t i;
    const hpiece_t *hp = pieces_of(h);

    for (i = 0; i < h->np; i++)
        if (hp[i].end > hp[i].start && piece_held(&a->ch[hp[i].chan], hp[i].end))
            return 1;
    return 0;
}

/* Drops what a channel no longer needs: released text beyond the
 * context, masks wholly sent. */
static void chan_trim(const aigov_answer_t *a, chan_t *c)
{
    size_t keep, i;

    /* keep hold_back bytes of released text as context (what a held match
     * continues, a name before a value), from a character start */
    keep = c->rel > c->wbase + a->hold_back ? c->rel - a->hold_back : c->wbase;
    while (keep < chan_total(c) && ((unsigned char)c->win[keep - c->wbase] & 0xC0) == 0x80)
        keep++;
    if (keep > c->wbase) {
        memmove(c->win, c->win + (keep - c->wbase), chan_total(c) - keep);
        c->wlen = chan_total(c) - keep;
        c->wbase = keep;
    }
    for (i = 0; i < c->masks.n && c->masks.v[i].end <= c->rel; i++)
        ;
    if (i > 0) {
        memmove(c->masks.v, c->masks.v + i, (c->masks.n - i) * sizeof(*c->masks.v));
        c->masks.n -= i;
    }
}

/* Sends held events from the front: every event when all is set, else
 * those no piece of which must stay held (or any, when the held bytes
 * exceed their bound). */
static int release(aigov_answer_t *a, int all)
{
    size_t i;

    while (a->qhead < a->qn) {
        held_t *h = &a->q[a->qhead];

        if (!all && a->held_bytes <= a->max_held && event_held(a, h))
            break;
        if (send_held(a, h) != 0)
            return -1;
        for (i = 0; i < h->np; i++) {
            const hpiece_t *hp = pieces_of(h);
            chan_t *c = &a->ch[hp[i].chan];
            if (hp[i].end > hp[i].start && hp[i].end > c->rel)
                c->rel = hp[i].end;
        }
        a->held_bytes -= h->raw_len;
        held_free(h);
        a->qhead++;
    }
    if (a->qhead == a->qn)
        a->qhead = a->qn = 0;
    for (i = 0; i < a->nch; i++)
        chan_trim(a, &a->ch[i]);
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

/* Holds a copy of an event's bytes (raw, or len bytes of other). */
static held_t *hold_bytes(aigov_answer_t *a, const char *raw, size_t len)
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
            cap = a->qcap ? 2 * a->qcap : 4;
            q = realloc(a->q, cap * sizeof(*q));
            if (q == NULL)
                return NULL;
            a->q = q;
            a->qcap = cap;
        }
    }
    h = &a->q[a->qn];
    memset(h, 0, sizeof(*h));
    h->raw = malloc(len ? len : 1);
    if (h->raw == NULL)
        return NULL;
    memcpy(h->raw, raw, len);
    h->raw_len = len;
    a->qn++;
    a->held_bytes += len;
    return h;
}

static held_t *hold(aigov_answer_t *a, const aigov_sse_event_t *ev)
{
    return hold_bytes(a, ev->raw, ev->raw_len);
}

/* Bytes without text: straight out when nothing is held, else queued
 * behind the held ones to keep the order. */
static int pass_bytes(aigov_answer_t *a, const char *s, size_t n)
{
    if (a->qhead == a->qn)
        return emit(a, s, n);
    return hold_bytes(a, s, n) ? 0 : -1;
}

static int pass_plain(aigov_answer_t *a, const aigov_sse_event_t *ev)
{
    return pass_bytes(a, ev->raw, ev->raw_len);
}

/* No space read at the join (see inspect_window). */
#define NO_SPACE  ((size_t)-1)

/* A span of a finding in c's window, as c's offsets: the window was read
 * as it is, or with a space after its first sp bytes (the join). */
static inline void span_at(const chan_t *c, const aigov_span_t *sp_, size_t sp, size_t *s,
                           size_t *e)
{
    *s = c->wbase + sp_->start - (sp != NO_SPACE && sp_->start > sp);
    *e = c->wbase + sp_->end - (sp != NO_SPACE && sp_->end > sp);
}

/* Runs every filter over a channel's window after new text arrived (it
 * grew from prev_total). 1 when blocked, 0, -1.
 *
 * A part of answer text whose window still holds the join with the part
 * before (jb, its offset), own text after it: a span that lies wholly
 * before the join was judged in that part; one across it is masked in
 * both. Where word meets word at the join, each filter also reads the
 * window with a space there (sp), as Anthropic's finalText() joins text
 * blocks; only spans across the join count in that reading (the rest is
 * the plain reading's). */
static int inspect_window(aigov_answer_t *a, chan_t *c, size_t prev_total)
{
    size_t fi, k, s, e, tail, jb = 0, sp = NO_SPACE, rsp;
    int rc, pass;

    if (c->seed > c->wbase && chan_total(c) > c->seed) {
        size_t n1 = c->seed - c->wbase;

        jb = c->seed;
        if (aigov_word_byte((unsigned char)c->win[n1 - 1])
            && aigov_word_byte((unsigned char)c->win[n1])) {
            if (grow(&a->scratch, &a->scratch_cap, c->wlen + 1) != 0)
                return -1;
            memcpy(a->scratch, c->win, n1);
            a->scratch[n1] = ' ';
            memcpy(a->scratch + n1 + 1, c->win + n1, c->wlen - n1);
            sp = n1;
        }
    }
    for (fi = 0; fi < a->nf; fi++) {
        rfilter_t *r = &a->f[fi];

        for (pass = 0, rsp = NO_SPACE; pass < 1 + (sp != NO_SPACE); pass++, rsp = sp) {
            aigov_inspection_t ins;
            const char *verdict = "flag";
            size_t count = 0, cross = 0, before = 0;

            if (pass == 0 && c->fbroken[fi]) {
                ins.status = -1;
            } else if (pass == 0) {
                if (aigov_outcome_inspected(&a->outcome, r->name, AIGOV_STAGE_RESPONSE) != 0)
                    return -1;
                if (c->json)
                    aigov_filter_inspect_json(&r->spec, c->fs[fi], c->win, c->wlen,
                                              a->hold_back, &ins);
                else
                    aigov_filter_inspect_tail(&r->spec, c->fs[fi], c->win, c->wlen,
                                              a->hold_back, &ins);
            } else {
                /* the stream state is the plain reading's: this one
                 * reads the window as a whole text */
                aigov_filter_inspect_tail(&r->spec, NULL, a->scratch, c->wlen + 1,
                                          a->hold_back, &ins);
            }
            /* hold back what this filter may still need; a failed one
             * gets the whole bound. With the space, the end is the
             * window's, and the space counts once the tail reaches back
             * past it. */
            if (fi == 0 && pass == 0)
                c->hold = 0;
            tail = ins.status != 0 ? a->hold_back : ins.tail;
            if (ins.status == 0 && pass && tail > c->wlen - sp)
                tail--;
            if (tail > c->hold)
                c->hold = tail;
            if (ins.status != 0) {
                if ((rc = filter_error(a, r)) != 0)
                    return rc;
                break;
            }
            if (!ins.found)
                continue;
            if (jb) {
                for (k = 0; k < ins.nspans; k++) {
                    span_at(c, &ins.spans[k], rsp, &s, &e);
                    cross += s < jb && e > jb;
                    before += e <= jb;
                }
                if ((pass && cross == 0) || (ins.nspans > 0 && before == ins.nspans))
                    continue;
            }
            if (r->spec.action == AIGOV_ACTION_BLOCK) {
                count = pass ? cross : ins.nspans ? ins.nspans - before : 1;
                if (aigov_outcome_note(&a->outcome, r->name, AIGOV_STAGE_RESPONSE, "block",
                                       count) != 0
                    || block(a, r->name, ins.reason, ins.category) != 0)
                    return -1;
                return 1;
            }
            if (r->spec.action == AIGOV_ACTION_REDACT && ins.nspans > 0) {
                verdict = "redact";
                for (k = 0; k < ins.nspans; k++) {
                    long added;

                    span_at(c, &ins.spans[k], rsp, &s, &e);
                    if (jb && (e <= jb || (pass && s >= jb)))
                        continue;
                    /* a match that reaches into text release_held sent
                     * before the filters were done with it: counted once */
                    if (c->exposed && s < c->exp_e && e > c->exp_s && e > c->late_end) {
                        a->late++;
                        c->late_end = e;
                    }
                    /* text already sent cannot be masked any more */
                    if (e <= c->rel)
                        continue;
                    added = aigov_masks_add(&c->masks, c->win, c->wlen, c->wbase, s - c->wbase,
                                            e - c->wbase, ins.spans[k].label);
                    if (added < 0)
                        return -1;
                    count += added > 0;
                    /* across the join: the part before too; and found
                     * joined (or with the part before as context), so
                     * the part's repeats do not see it whole */
                    if (jb && ((s < jb && join_mask(a, c, s, jb, ins.spans[k].label) != 0)
                               || join_keep(a, c, s, e, ins.spans[k].label) != 0))
                        return -1;
                }
            } else if (ins.nspans > 0) {
                /* the window is inspected again and again: count what is
                 * new */
                for (k = 0; k < ins.nspans; k++) {
                    span_at(c, &ins.spans[k], rsp, &s, &e);
                    if (!(jb && (e <= jb || (pass && s >= jb))))
                        count += e > prev_total;
                }
            } else {
                count = r->flagged ? 0 : 1;
                r->flagged = 1;
            }
            /* a list of logprobs tokens spells the text again */
            if (aigov_outcome_note(&a->outcome, r->name, AIGOV_STAGE_RESPONSE,
                                   verdict, c->lp ? 0 : count) != 0)
                return -1;
        }
    }
    if (c->prev >= 0)
        join_need(a, c, c->hold);
    return 0;
}

/* Appends text to channel k; its place in *start, *end. */
static int chan_append(aigov_answer_t *a, size_t k, const char *s, size_t n,
                       size_t *start, size_t *end)
{
    chan_t *c = &a->ch[k];

    if (grow(&c->win, &c->wcap, c->wlen + n + 1) != 0)
        return -1;
    *start = chan_total(c);
    memcpy(c->win + c->wlen, s, n);
    c->wlen += n;
    *end = chan_total(c);
    if (c->join && n > 0) {
        a->last_join = (long)k;
        a->last_join_order = c->order;
    }
    return 0;
}

/* After a held event's pieces went into their channels: each channel that
 * grew inspected (once, from where the event's text began in it). 1 when
 * blocked, 0, -1. */
static int inspect_pieces(aigov_answer_t *a, const hpiece_t *p, size_t np)
{
    size_t i, j;
    int rc;

    for (i = 0; i < np; i++) {
        for (j = 0; j < i && p[j].chan != p[i].chan; j++)
            ;
        if (j < i)
            continue;       /* that channel was inspected already */
        for (j = i; j < np; j++)
            if (p[j].chan == p[i].chan && p[j].end > p[j].start)
                break;
        if (j == np)
            continue;       /* no new text there */
        if ((rc = inspect_window(a, &a->ch[p[i].chan], p[i].start)) != 0)
            return rc;
    }
    return 0;
}

/* A text event read by fast_event, its data at off in its bytes. */
static int take_text_fast(aigov_answer_t *a, const aigov_sse_event_t *ev, const fast_t *f,
                          size_t off, int *blocked)
{
    size_t n = (size_t)(f->piece.e - f->piece.s);
    char key[CHAN_KEY], group[CHAN_KEY];
    long k;
    held_t *h;
    chan_t *c;
    int rc;

    fast_key(a->ep, f, key, group);
    /* messages: a content block's text, answer text joined across blocks */
    if ((k = chan_get(a, key, group, a->ep == AIGOV_EP_MESSAGES && key[0] == 'b')) < 0
        || (h = hold(a, ev)) == NULL)
        return -1;
    c = &a->ch[k];
    if (grow(&c->win, &c->wcap, c->wlen + n + 1) != 0)
        return -1;
    h->np = 1;
    h->one.chan = (unsigned)k;
    h->lit_s = off + (size_t)(f->piece.s - ev->data);
    h->lit_e = off + (size_t)(f->piece.e - ev->data);
    h->one.start = chan_total(c);
    n = aigov_json_unescape((const unsigned char *)f->piece.s + 1, n - 2, c->win + c->wlen);
    a->text_chars += chars_of(c->win + c->wlen, n);
    c->wlen += n;
    h->one.end = chan_total(c);
    if (h->one.end == h->one.start)
        return 0;
    if (c->join) {
        a->last_join = k;
        a->last_join_order = c->order;
    }
    rc = inspect_window(a, c, h->one.start);
    *blocked = rc > 0;
    return rc < 0 ? -1 : 0;
}

/* A text event: held, its pieces appended to their channels, the channels
 * inspected. Takes root, keep and p->v. */
static int take_text(aigov_answer_t *a, const aigov_sse_event_t *ev, json_t *root,
                     pieces_t *p, int rekeyed, json_t *keep, int *blocked)
{
    size_t i;
    held_t *h = hold(a, ev);
    int rc;

    if (h == NULL) {
        json_decref(root);
        json_decref(keep);
        return -1;
    }
    h->root = root;
    h->keep = keep;
    h->rekeyed = rekeyed;
    h->np = p->n;
    h->p = calloc(p->n, sizeof(*h->p));
    if (h->p == NULL
        || (ev->event_len && (h->event = dup_n(ev->event, ev->event_len)) == NULL)
        || (ev->has_id && (h->id = dup_n(ev->id, ev->id_len)) == NULL))
        return -1;
    for (i = 0; i < p->n; i++) {
        long k = chan_get(a, p->v[i].key, p->v[i].group, p->v[i].join);

        if (k < 0)
            return -1;
        a->ch[k].json |= p->v[i].json;
        a->ch[k].lp |= p->v[i].lp != LP_NONE;
        h->p[i].v = p->v[i].v;
        h->p[i].chan = (unsigned)k;
        h->p[i].lp = p->v[i].lp;
        h->p[i].item = p->v[i].item;
        h->p[i].ix = p->v[i].ix;
        if (chan_append(a, (size_t)k, json_string_value(p->v[i].v),
                        json_string_length(p->v[i].v), &h->p[i].start, &h->p[i].end) != 0)
            return -1;
        /* a logprobs token spells the text again (or an alternative) */
        if (p->v[i].lp == LP_NONE)
            a->text_chars += chars_of(json_string_value(p->v[i].v),
                                      json_string_length(p->v[i].v));
    }
    rc = inspect_pieces(a, h->p, h->np);
    *blocked = rc > 0;
    return rc < 0 ? -1 : 0;
}

/* ---- events ---- */

/* An event re-serialised from root, in its place in the order. */
static int pass_json(aigov_answer_t *a, const aigov_sse_event_t *ev, json_t *root)
{
    size_t start;
    char *ename = NULL, *id = NULL;
    int rc;

    if ((ev->event_len && (ename = dup_n(ev->event, ev->event_len)) == NULL)
        || (ev->has_id && (id = dup_n(ev->id, ev->id_len)) == NULL)) {
        free(ename);
        return -1;
    }
    start = out_mark(a);
    rc = send_json(a, ename, id, root);
    free(ename);
    free(id);
    if (rc != 0 || a->qhead == a->qn)
        return rc;
    /* events are held: this one goes behind them */
    {
        size_t n = a->out_len - start;
        held_t *h = hold_bytes(a, a->out + start, n);

        a->out_len = start;
        return h ? 0 : -1;
    }
}

/* Data that is not JSON: one text, inspected whole; a redaction rewrites
 * its data lines. */
static int take_plain_data(aigov_answer_t *a, const aigov_sse_event_t *ev)
{
    json_t *s = json_stringn(ev->data, ev->data_len);
    pieces_t p = { 0 };
    int rc, changed = 0;
    const char *t, *nl;
    size_t start, left;

    if (s == NULL)
        return block(a, "aigov", "an event of the answer is not UTF-8 text and cannot be "
                     "inspected", "unreadable") != 0 ? -1 : 0;
    if (add_piece(&p, s, "", "", 0, 0) != 0) {
        json_decref(s);
        return -1;
    }
    a->text_chars += chars_of(ev->data, ev->data_len);
    rc = filter_pieces(a, &p, 1, &changed);
    free(p.v);
    if (rc != 0 || !changed) {
        json_decref(s);
        return rc < 0 ? -1 : rc > 0 ? 0 : pass_plain(a, ev);
    }
    start = out_mark(a);
    rc = 0;
    if (ev->event_len)
        rc |= emits(a, "event: ") | emit(a, ev->event, ev->event_len) | emits(a, "\n");
    if (ev->has_id)
        rc |= emits(a, "id: ") | emit(a, ev->id, ev->id_len) | emits(a, "\n");
    t = json_string_value(s);
    left = json_string_length(s);
    for (;;) {
        nl = memchr(t, '\n', left);
        rc |= emits(a, "data: ") | emit(a, t, nl ? (size_t)(nl - t) : left) | emits(a, "\n");
        if (nl == NULL)
            break;
        left -= (size_t)(nl + 1 - t);
        t = nl + 1;
    }
    rc |= emits(a, "\n");
    json_decref(s);
    if (rc != 0)
        return -1;
    if (a->qhead != a->qn) {
        held_t *h = hold_bytes(a, a->out + start, a->out_len - start);

        a->out_len = start;
        return h ? 0 : -1;
    }
    return 0;
}

/* Chat and completions: the chunk with "choices": [] and "usage" that the
 * gateway asked for itself. */
static int usage_only(const aigov_answer_t *a, const json_t *root)
{
    const json_t *c = json_object_get(root, "choices");

    return a->ep != AIGOV_EP_MESSAGES && a->ep != AIGOV_EP_RESPONSES
           && json_is_array(c) && json_array_size(c) == 0
           && json_is_object(json_object_get(root, "usage"));
}

static int hidden_raw(const aigov_answer_t *a, const aigov_sse_event_t *ev)
{
    json_t *root;
    int r;

    if (memmem(ev->data, ev->data_len, "usage", 5) == NULL)
        return 0;
    root = json_loadb(ev->data, ev->data_len, JSON_ALLOW_NUL, NULL);
    r = root != NULL && usage_only(a, root);
    json_decref(root);
    return r;
}

static long long int_member(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);

    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

/* Responses: an event's number and the response's id, for the events a
 * block adds. */
static void responses_note(aigov_answer_t *a, const json_t *root)
{
    long long s = int_member(root, "sequence_number");
    const char *id = json_string_value(json_object_get(json_object_get(root, "response"), "id"));

    a->responses = 1;
    if (s > a->seq)
        a->seq = s;
    if (id != NULL && strlen(id) < sizeof(a->resp_id))
        strcpy(a->resp_id, id);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The output_text part that text v (at path) of a Responses event
 * repeats whole, as its output_index and content_index: 1, or 0 when it
 * is no such text. */
static int repeated_part(const json_t *root, const char *type, const char *path,
                         const json_t *v, long long *o, long long *c)
{
    const json_t *part = NULL, *item = NULL;
    const char *q = NULL;
    char *end;

    *o = int_member(root, "output_index");
    *c = int_member(root, "content_index");
    if (strcmp(path, "text") == 0)
        return strcmp(type, "response.output_text.done") == 0;
    if (strcmp(path, "part.text") == 0) {
        part = json_object_get(root, "part");
    } else if (strncmp(path, "item.content.", 13) == 0) {
        item = json_object_get(root, "item");
        q = path + 13;
    } else if (strncmp(path, "response.output.", 16) == 0) {
        *o = strtoll(path + 16, &end, 10);
        if (end == path + 16 || strncmp(end, ".content.", 9) != 0 || *o < 0)
            return 0;
        item = json_array_get(json_object_get(json_object_get(root, "response"), "output"),
                              (size_t)*o);
        q = end + 9;
    } else {
        return 0;
    }
    if (q != NULL) {
        *c = strtoll(q, &end, 10);
        if (end == q || strcmp(end, ".text") != 0 || *c < 0)
            return 0;
        part = json_array_get(json_object_get(item, "content"), (size_t)*c);
    }
    /* the path names array items by their "index" member where they have
     * one: only the part's own text is taken */
    return part != NULL && json_object_get(part, "text") == v
           && json_is_string(json_object_get(part, "type"))
           && strcmp(json_string_value(json_object_get(part, "type")), "output_text") == 0;
}

/* The part of answer text (o, c) when its channel holds len bytes of its
 * own, so that a text of len bytes repeats it; -1 otherwise. */
static long part_chan(const aigov_answer_t *a, long long o, long long c, size_t len)
{
    char key[CHAN_KEY];
    size_t i;

    snprintf(key, sizeof(key), "o%lld.%lld.-1", o, c);
    for (i = 0; i < a->nch; i++)
        if (a->ch[i].join && chan_total(&a->ch[i]) - a->ch[i].seed == len
            && strcmp(a->ch[i].key, key) == 0)
            return (long)i;
    return -1;
}

static void repeats_free(rpiece_t *rp, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        aigov_masks_free(&rp[i].m);
    free(rp);
}

/* Moves the texts of a Responses event that repeat parts streamed as
 * answer text out of p, into *rp. 0 or -1. */
static int find_repeats(const aigov_answer_t *a, const json_t *root, const char *type,
                        pieces_t *p, rpiece_t **rp, size_t *nrp)
{
    size_t i, kept = 0, cap = 0;
    long long o, c;
    long k;

    for (i = 0; i < p->n; i++) {
        if (repeated_part(root, type, p->v[i].key, p->v[i].v, &o, &c)
            && (k = part_chan(a, o, c, json_string_length(p->v[i].v))) >= 0) {
            if (*nrp == cap) {
                size_t nc = cap ? 2 * cap : 2;
                rpiece_t *v = realloc(*rp, nc * sizeof(*v));

                if (v == NULL)
                    return -1;
                *rp = v;
                cap = nc;
            }
            memset(&(*rp)[*nrp], 0, sizeof(**rp));
            (*rp)[*nrp].v = p->v[i].v;
            (*rp)[*nrp].chan = (unsigned)k;
            (*rp)[*nrp].order = a->ch[k].order;
            (*rp)[*nrp].base = a->ch[k].seed;
            (*nrp)++;
            continue;
        }
        p->v[kept++] = p->v[i];
    }
    p->n = kept;
    return 0;
}

/* A repeated part text inspected whole, as filter_pieces does (counts
 * not raised), but each filter reads it as it came and the masks gather
 * in rp->m, at the part's offsets (as the stream's filters read a window
 * and gather masks), applied when the event goes (repeat_apply). 1 when
 * blocked, 0, -1. */
static int repeat_inspect(aigov_answer_t *a, rpiece_t *rp)
{
    const char *text = json_string_value(rp->v);
    size_t len = json_string_length(rp->v), fi, k;
    int rc;

    for (fi = 0; fi < a->nf; fi++) {
        rfilter_t *r = &a->f[fi];
        aigov_inspection_t ins;
        const char *verdict = "flag";

        if (aigov_outcome_inspected(&a->outcome, r->name, AIGOV_STAGE_RESPONSE) != 0)
            return -1;
        aigov_filter_inspect(&r->spec, NULL, text, len, &ins);
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
        for (k = 0; r->spec.action == AIGOV_ACTION_REDACT && k < ins.nspans; k++) {
            if (aigov_masks_add(&rp->m, text, len, rp->base, ins.spans[k].start,
                                ins.spans[k].end, ins.spans[k].label) < 0)
                return -1;
            if (ins.spans[k].end > ins.spans[k].start)
                verdict = "redact";
        }
        if (aigov_outcome_note(&a->outcome, r->name, AIGOV_STAGE_RESPONSE, verdict, 0) != 0)
            return -1;
    }
    return 0;
}

/* Whether o's member k is the string v. */
static int str_is_member(const json_t *o, const char *k, const char *v)
{
    const char *s = json_string_value(json_object_get(o, k));

    return s != NULL && strcmp(s, v) == 0;
}

/* A Responses event that is not a delta: its texts repeat what the deltas
 * sent (or are whole, as an output item's name), each inspected whole.
 * The output_text parts it repeats are masked as their deltas were, ends
 * joined with other parts included: when events wait before it, those
 * may still be found, so it waits in turn and is masked as it goes. */
static int take_whole(aigov_answer_t *a, const aigov_sse_event_t *ev, json_t *root,
                      const char *type)
{
    pieces_t p = { 0 };
    lp_t lp = { 0 };
    rpiece_t *rp = NULL;
    size_t nrp = 0, i;
    int rc, changed = 0, last;

    if (collect(root, &p, &lp, NULL, NULL, JOIN_NONE) != 0) {
        free(p.v);
        lp_free(&lp);
        return -1;
    }
    rc = filter_keys(a, root, 0, &changed);
    if (rc == 0 && a->nch > 0)
        rc = find_repeats(a, root, type, &p, &rp, &nrp);
    if (rc == 0)
        rc = filter_pieces(a, &p, 0, &changed);
    for (i = 0; rc == 0 && i < nrp; i++)
        rc = repeat_inspect(a, &rp[i]);
    if (rc == 0 && (lp.tok.n > 0 || lp.alt.n > 0 || lp.fixed))
        rc = filter_logprobs(a, &lp, 0, &changed);
    free(p.v);
    lp_free(&lp);
    if (rc == 0 && nrp > 0 && a->qhead != a->qn) {
        held_t *h = hold(a, ev);

        if (h == NULL
            || (ev->event_len && (h->event = dup_n(ev->event, ev->event_len)) == NULL)
            || (ev->has_id && (h->id = dup_n(ev->id, ev->id_len)) == NULL)) {
            repeats_free(rp, nrp);
            return -1;
        }
        h->root = json_incref(root);
        h->rekeyed = changed;
        h->rp = rp;
        h->nrp = nrp;
    } else {
        for (i = 0; rc == 0 && i < nrp; i++) {
            int r = repeat_apply(a, &rp[i]);

            if (r < 0)
                rc = -1;
            changed |= r > 0;
        }
        repeats_free(rp, nrp);
        if (rc != 0)
            return rc < 0 ? -1 : 0;
        if ((changed ? pass_json(a, ev, root) : pass_plain(a, ev)) != 0)
            return -1;
    }
    if (json_object_get(root, "output_index") != NULL || ends_with(type, ".done"))
        chan_close(a, "o");
    last = strcmp(type, "response.completed") == 0 || strcmp(type, "response.incomplete") == 0
           || strcmp(type, "response.failed") == 0;
    return release(a, last);
}

/* After an event of chat or completions: the choices it finishes. */
static void close_choices(aigov_answer_t *a, const json_t *root)
{
    const json_t *c;
    size_t i;
    char prefix[48];

    json_array_foreach(json_object_get(root, "choices"), i, c) {
        long long ix = int_member(c, "index");

        if (!json_is_string(json_object_get(c, "finish_reason")))
            continue;
        snprintf(prefix, sizeof(prefix), "choices.%lld.", ix >= 0 ? ix : (long long)i);
        chan_close(a, prefix);
    }
}

/* A stream event's logprobs: each alternative whole, now; the tokens go to
 * their lists' channels with the event's other pieces (p), where a term
 * cut across the tokens of two events is seen whole. 1 when blocked, 0,
 * -1. */
static int take_logprobs(aigov_answer_t *a, pieces_t *p, lp_t *lp, int *rekeyed)
{
    size_t need = p->n + lp->tok.n;
    int rc;

    if (lp->fixed)
        *rekeyed = 1;
    if (lp->alt.n > 0 && (rc = filter_pieces(a, &lp->alt, 1, rekeyed)) != 0)
        return rc;
    if (lp->tok.n == 0)
        return 0;
    if (need > p->cap) {
        cpiece_t *v = realloc(p->v, need * sizeof(*v));

        if (v == NULL)
            return -1;
        p->v = v;
        p->cap = need;
    }
    memcpy(p->v + p->n, lp->tok.v, lp->tok.n * sizeof(*p->v));
    p->n = need;
    return 0;
}

/* An event read by jansson. */
static int take_json(aigov_answer_t *a, const aigov_sse_event_t *ev, json_t *root)
{
    pieces_t p = { 0 };
    lp_t lp = { 0 };
    const char *type = json_string_value(json_object_get(root, "type"));
    char key[CHAN_KEY];
    const char *fixed = NULL, *fgroup = NULL;
    long long ix;
    int rc, blocked = 0, last, json_args = 0, rekeyed = 0, join_mode = JOIN_NONE;
    size_t i;

    take_usage(a, root);
    if (a->hide_usage && usage_only(a, root)) {
        json_decref(root);
        return 0;
    }
    if (type == NULL)
        type = "";
    if (a->ep == AIGOV_EP_RESPONSES || strncmp(type, "response.", 9) == 0) {
        responses_note(a, root);
        if (!ends_with(type, ".delta")) {
            rc = take_whole(a, ev, root, type);
            json_decref(root);
            return rc;
        }
        snprintf(key, sizeof(key), "o%lld.%lld.%lld", int_member(root, "output_index"),
                 int_member(root, "content_index"), int_member(root, "summary_index"));
        fixed = key;
        fgroup = "o";
        /* response.function_call_arguments.delta, mcp_call_arguments ... */
        json_args = ends_with(type, "arguments.delta");
        if (strcmp(type, "response.output_text.delta") == 0)
            join_mode = JOIN_DELTA;
    } else if (strcmp(type, "content_block_delta") == 0
               && str_is_member(json_object_get(root, "delta"), "type", "citations_delta")) {
        /* a citation comes whole (cited_text, document_title): read on its
         * own, not as part of its block's text around it */
        rc = take_whole(a, ev, root, type);
        json_decref(root);
        return rc;
    } else if ((ix = int_member(root, "index")) >= 0 && json_is_integer(json_object_get(root, "index"))
               && strncmp(type, "content_block", 13) == 0) {
        snprintf(key, sizeof(key), "b%lld", ix);
        fixed = key;
        fgroup = "b";
        join_mode = JOIN_BLOCK;
    }
    /* a tool_use block that starts with its input whole */
    if ((rc = filter_keys(a, root, 1, &rekeyed)) != 0) {
        json_decref(root);
        return rc < 0 ? -1 : 0;
    }
    if (collect(root, &p, &lp, fixed, fgroup, join_mode) != 0) {
        free(p.v);
        lp_free(&lp);
        json_decref(root);
        return -1;
    }
    for (i = 0; i < p.n && json_args; i++)
        p.v[i].json = 1;
    if ((lp.tok.n > 0 || lp.alt.n > 0 || lp.fixed)
        && (rc = take_logprobs(a, &p, &lp, &rekeyed)) != 0) {
        free(p.v);
        lp_free(&lp);
        json_decref(root);
        return rc < 0 ? -1 : 0;
    }
    json_incref(root);      /* kept for the closing below */
    if (p.n > 0) {
        rc = take_text(a, ev, root, &p, rekeyed, lp.keep, &blocked);
        lp.keep = NULL;
    } else {
        rc = rekeyed ? pass_json(a, ev, root) : pass_plain(a, ev);
        json_decref(root);
    }
    free(p.v);
    lp_free(&lp);
    if (rc != 0 || blocked) {
        json_decref(root);
        return rc;
    }
    close_choices(a, root);
    if (strcmp(type, "content_block_stop") == 0)
        chan_close(a, "b");
    last = strcmp(type, "message_stop") == 0;
    json_decref(root);
    return release(a, last);
}

static int on_event(void *ud, const aigov_sse_event_t *ev)
{
    aigov_answer_t *a = ud;
    json_t *root;
    fast_t fx;
    long off;
    int blocked = 0, rc;

    if (a->outcome.blocked) {
        /* swallowed; what the upstream still counts is read */
        if (ev->has_data) {
            take_usage_fast(a, ev->data, ev->data_len);
            count_text_fast(a, ev->data, ev->data_len, a->ep == AIGOV_EP_RESPONSES);
        }
        return 0;
    }
    if (a->nf == 0) {
        /* nobody filters: parse only what may carry usage, count text */
        if (ev->has_data) {
            take_usage_fast(a, ev->data, ev->data_len);
            count_text_fast(a, ev->data, ev->data_len, a->ep == AIGOV_EP_RESPONSES);
            if (a->hide_usage && hidden_raw(a, ev))
                return 0;
        }
        return a->hide_usage ? emit(a, ev->raw, ev->raw_len) : 0;
    }
    if (!ev->has_data)
        return pass_plain(a, ev);
    if (ev->data_len == 6 && memcmp(ev->data, "[DONE]", 6) == 0)
        return pass_plain(a, ev) != 0 ? -1 : release(a, 1);

    off = a->no_fast ? -1 : data_offset(ev);
    if (off >= 0 && fast_event(a->ep, ev->data, ev->data_len, &fx)) {
        if (fx.usage)
            settle_usage(a, fx.uv, fx.uhave, fx.usage == 1);
        if (a->hide_usage && a->ep != AIGOV_EP_MESSAGES && fx.seen_choices && fx.nchoices == 0
            && fx.usage_obj)
            return 0;
        if (fx.npieces == 1)
            rc = take_text_fast(a, ev, &fx, (size_t)off, &blocked);
        else
            rc = pass_plain(a, ev);
        if (rc != 0 || blocked)
            return rc;
        if (a->ep != AIGOV_EP_MESSAGES && fx.finished) {
            char prefix[48];

            snprintf(prefix, sizeof(prefix), "choices.%ld.", fx.choice);
            chan_close(a, prefix);
        }
        if (lit_is(&fx.type, "content_block_stop"))
            chan_close(a, "b");
        return release(a, lit_is(&fx.type, "message_stop"));
    }

    root = json_loadb(ev->data, ev->data_len, JSON_ALLOW_NUL, NULL);
    if (root == NULL) {
        /* as for whole answers: text a client may read must be inspected */
        if (!looks_like_json(ev->data, ev->data_len))
            return take_plain_data(a, ev);
        return block(a, "aigov", "an event of the answer is JSON that cannot be inspected",
                     "unreadable") != 0 ? -1 : 0;
    }
    return take_json(a, ev, root);
}

static int sse_failed(aigov_answer_t *a, int rc)
{
    if (rc == AIGOV_SSE_TOO_LONG) {
        if (aigov_answer_passthrough(a)) {
            a->sse_dead = 1;    /* usage is lost, the bytes still pass */
            return 0;
        }
        return block(a, "aigov", "an event of the answer is too large to inspect",
                     "limit") != 0 ? -1 : 0;
    }
    return -1;
}

/* ---- the kind of the answer, by its bytes ---- */

/* Decides a->kind from the bytes buffered in a->body; stays UNKNOWN while
 * they are white space or could still begin an SSE field. */
static void sniff(aigov_answer_t *a)
{
    static const char *const fields[] = { "data:", "event:", "id:", "retry:", ":" };
    const char *p = a->body, *end;
    size_t i, n, m;
    int partial = 0;

    if (p == NULL)
        return;     /* nothing buffered yet */
    end = p + a->body_len;

    if (end - p >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    p = ws(p, end);
    if (p == end)
        return;
    if (*p == '{' || *p == '[') {
        a->kind = AIGOV_ANSWER_JSON;
        return;
    }
    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        n = strlen(fields[i]);
        m = (size_t)(end - p) < n ? (size_t)(end - p) : n;
        if (memcmp(p, fields[i], m) == 0) {
            if (m == n) {
                a->kind = AIGOV_ANSWER_SSE;
                return;
            }
            partial = 1;
        }
    }
    if (!partial)
        a->kind = AIGOV_ANSWER_OTHER;
}

static int feed_sse(aigov_answer_t *a, const char *in, size_t len)
{
    int rc;

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

static int feed_json(aigov_answer_t *a, const char *in, size_t len)
{
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

/* Bytes that are neither JSON nor SSE: a block when filters apply, else
 * they pass (as the output when the answer makes one). */
static int feed_other(aigov_answer_t *a, const char *in, size_t len)
{
    if (a->outcome.blocked)
        return 0;
    if (a->nf > 0)
        return block(a, "aigov", "the answer is neither JSON nor an event stream and "
                     "cannot be inspected", "unreadable") != 0 ? -1 : 0;
    return aigov_answer_passthrough(a) ? 0 : emit(a, in, len);
}

/* The kind was just decided: the bytes sniffed go where it says. */
static int sniffed(aigov_answer_t *a)
{
    char *b = a->body;
    size_t n = a->body_len;
    int rc;

    if (a->kind == AIGOV_ANSWER_JSON)
        return 0;       /* they are the start of the JSON */
    a->body = NULL;
    a->body_len = a->body_cap = 0;
    rc = a->kind == AIGOV_ANSWER_SSE ? feed_sse(a, b, n) : feed_other(a, b, n);
    free(b);
    return rc;
}

int aigov_answer_feed(aigov_answer_t *a, const char *in, size_t len)
{
    if (a->finished)
        return 0;
    switch (a->kind) {
    case AIGOV_ANSWER_JSON:
        return feed_json(a, in, len);
    case AIGOV_ANSWER_SSE:
        return feed_sse(a, in, len);
    case AIGOV_ANSWER_OTHER:
        return feed_other(a, in, len);
    default:
        if (feed_json(a, in, len) != 0)
            return -1;
        if (a->body_over) {
            /* a body of white space beyond max_json */
            a->kind = AIGOV_ANSWER_JSON;
            return 0;
        }
        sniff(a);
        return a->kind == AIGOV_ANSWER_UNKNOWN ? 0 : sniffed(a);
    }
}

int aigov_answer_refuse(aigov_answer_t *a, const char *reason)
{
    if (a->nf == 0)
        return 1;
    if (a->finished || a->outcome.blocked)
        return 0;
    a->kind = a->label == 1 ? AIGOV_ANSWER_SSE : AIGOV_ANSWER_JSON;
    a->finished = 1;
    return block(a, "aigov", reason, "unreadable") != 0 ? -1 : 0;
}

int aigov_answer_release_held(aigov_answer_t *a)
{
    size_t i, k;

    if (a->qhead == a->qn || a->finished || a->outcome.blocked)
        return 0;
    a->early_events += a->qn - a->qhead;
    a->early_bytes += a->held_bytes;
    for (i = 0; i < a->nch; i++) {
        chan_t *c = &a->ch[i];

        if (c->rel == chan_total(c))
            continue;
        if (!c->exposed) {
            c->exposed = 1;
            c->exp_s = c->rel;
        }
        /* matches found so far are masked as the events go: only one
         * that ends further on was missed */
        for (k = 0; k < c->masks.n; k++)
            if (c->masks.v[k].end > c->late_end)
                c->late_end = c->masks.v[k].end;
        c->exp_e = chan_total(c);
    }
    return release(a, 1);
}

int aigov_answer_finish(aigov_answer_t *a)
{
    int rc = 0;

    if (a->finished)
        return 0;
    if (a->kind == AIGOV_ANSWER_UNKNOWN) {
        /* white space (or nothing) is JSON with nothing in it; a cut SSE
         * field name is not readable */
        a->kind = ws(a->body ? a->body : "", a->body ? a->body + a->body_len : "")
                  == (a->body ? a->body + a->body_len : "")
                  ? AIGOV_ANSWER_JSON : AIGOV_ANSWER_OTHER;
        if (sniffed(a) != 0)
            return -1;
    }
    a->finished = 1;
    if (a->kind == AIGOV_ANSWER_JSON) {
        if (a->body_over) {
            if (a->nf == 0)
                return 0;
            return block(a, "aigov", "the answer is too large to inspect", "limit");
        }
        return aigov_answer_json(a, a->body ? a->body : "", a->body_len);
    }
    if (a->kind != AIGOV_ANSWER_SSE)
        return 0;
    if (a->sse != NULL && !a->sse_dead && !a->outcome.blocked) {
        rc = aigov_sse_finish(a->sse, on_event, a);
        if (rc != 0)
            return sse_failed(a, rc);
    }
    if (!a->outcome.blocked && a->nf > 0)
        rc = release(a, 1);
    return rc;
}
