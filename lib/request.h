/*
 * request: what a model API request asks for, read from its JSON body.
 *
 * One parse per request, by a strict single-pass JSON scanner (RFC 8259:
 * no trailing commas, NaN, leading zeros, raw control characters or invalid
 * UTF-8; duplicate keys refused in every object). Each text remembers where
 * its JSON string literal lies in the body, so a filter's redaction and a
 * token limit are spliced into the original bytes: serialize gives back the
 * body unchanged except for the edited values.
 */
#ifndef AIGOV_REQUEST_H
#define AIGOV_REQUEST_H

#include <stddef.h>

typedef enum {
    AIGOV_EP_UNKNOWN = 0,
    AIGOV_EP_CHAT,          /* POST /v1/chat/completions */
    AIGOV_EP_COMPLETIONS,   /* POST /v1/completions */
    AIGOV_EP_EMBEDDINGS,    /* POST /v1/embeddings */
    AIGOV_EP_MESSAGES,      /* POST /v1/messages (Anthropic) */
    AIGOV_EP_MODELS,        /* GET /v1/models: no body */
    AIGOV_EP_RESPONSES,     /* POST /v1/responses (OpenAI Responses API) */
    AIGOV_EP_COUNT_TOKENS   /* POST /v1/messages/count_tokens (Anthropic) */
} aigov_endpoint_t;

/* Path (without query string) to endpoint kind. Matches on the suffix, so
 * "/openai/v1/chat/completions" and "/v1/chat/completions" are both CHAT. */
aigov_endpoint_t aigov_endpoint_from_path(const char *path, size_t len);
/* Canonical path of a kind, e.g. "/v1/chat/completions"; "" for UNKNOWN. */
const char *aigov_endpoint_name(aigov_endpoint_t ep);

/* One piece of text the caller sent. */
typedef struct {
    const char  *role;    /* "system", "user", "assistant", "tool", "developer",
                             "tool_definition" (a tool's description),
                             "prompt" (completions), "input" (embeddings) */
    const char  *text;    /* UTF-8, NUL-terminated, owned by the request */
    size_t       len;
    /* Private to request.c: the string literal's bytes [at, end) in the
     * body, quotes included, and the replacement set_text made (or NULL). */
    size_t       at, end;
    char        *repl;
} aigov_text_t;

typedef struct {
    aigov_endpoint_t  endpoint;
    const char       *model;        /* NULL when absent */
    long long         max_tokens;   /* -1 when absent */
    const char       *max_tokens_key; /* "max_tokens" or "max_completion_tokens";
                                         the key set_max_tokens writes */
    int               stream;       /* "stream": true */
    long long         n;            /* answers asked for ("n", "best_of"):
                                       multiplies the reservation; 1 when
                                       absent */
    aigov_text_t     *texts;
    size_t            ntexts;
    size_t            prompt_chars; /* sum of text lengths, in characters */
    int               modified;     /* set by set_text / set_max_tokens */

    /* Private to request.c: what serialize splices. */
    char             *mem_;         /* one allocation: body copy, texts, strings */
    const char       *body_;        /* the body: in mem_, or the caller's */
    size_t            body_len_;    /* 0: no body was parsed */
    size_t            close_at_;    /* the root object's closing '}' */
    int               root_empty_;  /* the root object has no member */
    size_t            lim_at_[2], lim_end_[2]; /* value bytes of max_tokens, */
    int               lim_has_[2];  /* max_completion_tokens: 0 absent,
                                       1 null, 2 a number */
    long long         lim_set_;     /* set_max_tokens' value, -1 if none */
} aigov_request_t;

/* Bounds on a hostile body; beyond them parse answers BAD_SHAPE. The body
 * size limit users see is nginx's; this one only keeps the parser sane. */
#define AIGOV_REQ_MAX_DEPTH  128          /* nesting of [ and { */
#define AIGOV_REQ_MAX_TEXTS  100000       /* texts in one request */
#define AIGOV_REQ_MAX_BODY   (64 * 1024 * 1024)

typedef enum {
    AIGOV_REQ_OK = 0,
    AIGOV_REQ_BAD_JSON = -1,    /* not JSON at all: 400 */
    AIGOV_REQ_BAD_SHAPE = -2,   /* JSON, but not what the endpoint takes: 400 */
    AIGOV_REQ_NOMEM = -3
} aigov_req_status_t;

/* Parses body (not NUL-terminated) for endpoint ep. On error writes one
 * plain sentence into err, e.g. "invalid JSON at line 1, column 7: ...",
 * "'messages' must be an array". rq is always safe to free afterwards.
 * Duplicate keys (compared unescaped, in every object), \u0000 in strings,
 * integers beyond 64 bits and reals beyond double are BAD_JSON. "model" is
 * required for CHAT, COMPLETIONS, EMBEDDINGS and MESSAGES; MODELS with len 0
 * is OK and has no body to serialize. The body need not outlive the call.
 * null "stream" or "max_tokens" count as absent. Chat with both token keys:
 * the larger. */
aigov_req_status_t aigov_request_parse(aigov_request_t *rq, aigov_endpoint_t ep,
                                       const char *body, size_t len,
                                       char *err, size_t errlen);
/* The same, with the body lent instead of copied: it must stay as it is
 * until aigov_request_free, for aigov_request_serialize splices the edits
 * into it. Saves a copy of the body (the gateway keeps it anyway). */
aigov_req_status_t aigov_request_parse_lent(aigov_request_t *rq, aigov_endpoint_t ep,
                                            const char *body, size_t len,
                                            char *err, size_t errlen);
void aigov_request_free(aigov_request_t *rq);

/* Replace text i (after redaction); the text must be valid UTF-8 without
 * NUL. 0 or -1 (then nothing changed). */
int aigov_request_set_text(aigov_request_t *rq, size_t i, const char *text, size_t len);
/* Set the token limit in the body (the key the request used, replaced in
 * place, else the endpoint's usual one appended to the root object). 0 or
 * -1. Chat bodies carrying both max_tokens and max_completion_tokens get
 * both set. Embeddings have no limit: 0, no change. */
int aigov_request_set_max_tokens(aigov_request_t *rq, long long v);
/* The body with every edit spliced in (byte-identical when unmodified);
 * malloc'd, NUL-terminated, caller frees. NULL when there is no body. */
char *aigov_request_serialize(const aigov_request_t *rq, size_t *len);

/* Rough token count of the prompt for quota reservation (chars / 4, at
 * least 1 per text). */
long long aigov_request_prompt_tokens(const aigov_request_t *rq);

#endif
