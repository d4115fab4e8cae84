/*
 * request: what a model API request asks for, read from its JSON body.
 *
 * One parse per request. The texts point at the JSON string nodes they came
 * from, so a filter's redaction can be written back and the body
 * re-serialised for the upstream.
 */
#ifndef AIGOV_REQUEST_H
#define AIGOV_REQUEST_H

#include <stddef.h>
#include <jansson.h>

typedef enum {
    AIGOV_EP_UNKNOWN = 0,
    AIGOV_EP_CHAT,          /* POST /v1/chat/completions */
    AIGOV_EP_COMPLETIONS,   /* POST /v1/completions */
    AIGOV_EP_EMBEDDINGS,    /* POST /v1/embeddings */
    AIGOV_EP_MESSAGES,      /* POST /v1/messages (Anthropic) */
    AIGOV_EP_MODELS         /* GET /v1/models: no body */
} aigov_endpoint_t;

/* Path (without query string) to endpoint kind. Matches on the suffix, so
 * "/openai/v1/chat/completions" and "/v1/chat/completions" are both CHAT. */
aigov_endpoint_t aigov_endpoint_from_path(const char *path, size_t len);
/* Canonical path of a kind, e.g. "/v1/chat/completions"; "" for UNKNOWN. */
const char *aigov_endpoint_name(aigov_endpoint_t ep);

/* One piece of text the caller sent. */
typedef struct {
    const char  *role;    /* "system", "user", "assistant", "tool", "developer",
                             "prompt" (completions), "input" (embeddings) */
    const char  *text;    /* UTF-8, NUL-terminated, owned by the JSON tree */
    size_t       len;
    json_t      *node;    /* the JSON string it came from */
} aigov_text_t;

typedef struct {
    aigov_endpoint_t  endpoint;
    json_t           *root;
    const char       *model;        /* NULL when absent */
    long long         max_tokens;   /* -1 when absent */
    const char       *max_tokens_key; /* "max_tokens" or "max_completion_tokens";
                                         the key set_max_tokens writes */
    int               stream;       /* "stream": true */
    aigov_text_t     *texts;
    size_t            ntexts;
    size_t            prompt_chars; /* sum of text lengths, in characters */
    int               modified;     /* set by set_text / set_max_tokens */
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
 * Duplicate keys, \u0000 in strings and integers beyond 64 bits are
 * BAD_JSON. "model" is required for CHAT, COMPLETIONS, EMBEDDINGS and
 * MESSAGES; MODELS with len 0 is OK with root NULL. null "stream" or
 * "max_tokens" count as absent. Chat with both token keys: the larger. */
aigov_req_status_t aigov_request_parse(aigov_request_t *rq, aigov_endpoint_t ep,
                                       const char *body, size_t len,
                                       char *err, size_t errlen);
void aigov_request_free(aigov_request_t *rq);

/* Replace text i (after redaction); updates the JSON tree. 0 or -1. */
int aigov_request_set_text(aigov_request_t *rq, size_t i, const char *text, size_t len);
/* Set the token limit in the body (the key the request used, else the
 * endpoint's usual one). 0 or -1. Chat bodies carrying both max_tokens and
 * max_completion_tokens get both set. Embeddings have no limit: 0, no change. */
int aigov_request_set_max_tokens(aigov_request_t *rq, long long v);
/* Compact JSON of the (modified) tree; malloc'd, caller frees. */
char *aigov_request_serialize(const aigov_request_t *rq, size_t *len);

/* Rough token count of the prompt for quota reservation (chars / 4, at
 * least 1 per text). */
long long aigov_request_prompt_tokens(const aigov_request_t *rq);

#endif
