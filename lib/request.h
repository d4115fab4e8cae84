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

#include "media.h"

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

/* Path (without query string) to endpoint kind. The whole path must be
 * one of the kinds' paths exactly ("/v1/chat/completions", ...,
 * "/v1/messages/count_tokens", "/v1/responses"): a kind decides which
 * fields are text, so "/v1/responses/chat/completions" or
 * "/openai/v1/chat/completions" is UNKNOWN, not chat. A trailing slash is
 * not tolerated either. */
aigov_endpoint_t aigov_endpoint_from_path(const char *path, size_t len);
/* Canonical path of a kind, e.g. "/v1/chat/completions"; "" for UNKNOWN. */
const char *aigov_endpoint_name(aigov_endpoint_t ep);

/*
 * What is text. For every known kind (chat, completions, embeddings,
 * messages, count_tokens, responses) every string VALUE of the body is a
 * text, except the control fields below; unknown fields are text, so a
 * field a provider adds later is inspected. A control key exempts only
 * string values and strings directly in an array under it: objects under
 * any key are walked.
 *
 * Object keys are the API's field names, not text, except where the
 * client chose them and the model reads them: property names in a JSON
 * Schema (the members of properties, patternProperties, $defs,
 * definitions, dependentSchemas, dependentRequired, dependencies, and any
 * key of a schema that is no JSON Schema keyword), and every key of a
 * free-form object (below). Such a key is a text (its "key" is 1) with
 * the label of the values around it, and it comes before its value.
 *
 *   everywhere:   model, role, type, object, id, status, max_tokens,
 *                 max_completion_tokens, max_output_tokens, any key ending in
 *                 "_id" or "_ids" (tool_call_id, call_id, tool_use_id,
 *                 file_id, previous_response_id, vector_store_ids, ...)
 *   enum values:  tool_choice, function_call (as the string "auto"/"none"),
 *                 reasoning_effort, effort, summary, verbosity,
 *                 service_tier, truncation, include, modalities, voice,
 *                 search_context_size, encoding_format, detail, format,
 *                 ttl, version, container
 *   media:        media_type, mime_type; "data" (base64 image/audio/PDF;
 *                 but text in an object whose "type" is "text", Anthropic's
 *                 plain-text document source); file_data; "url",
 *                 "image_url", "file_url" when a "data:" URL (any other URL
 *                 is text, labelled "url"). Files of text are read: see
 *                 "Inline files" below.
 *   opaque:       signature (thinking), encrypted_content
 *   credentials:  an MCP server's authorization_token (Anthropic
 *                 mcp_servers), an MCP tool's authorization (Responses),
 *                 and in an object "headers" (an MCP tool's; as a field
 *                 name, not in a free-form object or a schema) the string
 *                 value of a header whose name holds, in any ASCII case,
 *                 auth, token, secret, cookie or key
 *                 (Authorization, Proxy-Authorization, X-Auth-Token,
 *                 Cookie, X-Api-Key, ...); the model never reads them
 *   JSON Schema   (under parameters, input_schema, output_schema, schema):
 *                 type, format, $schema, $id, id, contentEncoding,
 *                 contentMediaType. description, title, pattern, enum,
 *                 const, default, examples, property names, the names a
 *                 schema lists or points to (required, dependentRequired,
 *                 $ref, $anchor, $dynamicRef, $dynamicAnchor: a masked
 *                 name is masked there alike) and any other string are
 *                 text.
 *   free-form     (metadata, prompt variables, tool_use "input" objects,
 *                 "arguments" objects (a tool_search_call's),
 *                 input_examples, and the maps whose keys the caller
 *                 chooses: a local shell call's env, file search results'
 *                 attributes, an MCP tool's headers): every key and every
 *                 string is text, control names included (in headers, but
 *                 the credentials above; anything but a string under a
 *                 credential header's name is read).
 *
 * The control fields each kind meets in practice (all from the list above):
 *   chat:          model, role, tool_call_id, tool_calls[].id/type,
 *                  tool_choice, function_call "auto", reasoning_effort,
 *                  service_tier, verbosity, modalities, audio.voice/format,
 *                  response_format.type, image_url.detail, data: URLs,
 *                  input_audio.data/format, file.file_data/file_id
 *   completions:   model (prompt, suffix, stop, user are text)
 *   embeddings:    model, encoding_format (input, user are text)
 *   messages and count_tokens: model, role, block types, tool_use.id,
 *                  tool_result.tool_use_id, source.type/media_type/data
 *                  (not of a text source), thinking.signature,
 *                  redacted_thinking.data, cache_control.type/ttl,
 *                  tool_choice, service_tier, container
 *   responses:     model, role, item types/ids/status, call_id,
 *                  previous_response_id, encrypted_content, include,
 *                  truncation, reasoning.effort/summary, text.verbosity,
 *                  text.format.type, input_image data: URLs and detail,
 *                  prompt.id/version, conversation ids
 *
 * Inline files. A file given inline (file_data, a "data:" URL under url,
 * image_url or file_url, Anthropic base64 "data" with its media_type) is
 * text when its media type is one of text's: text/ anything, a data: URL
 * without a type (RFC 2397: text/plain), and application/ json,
 * x-ndjson, xml, yaml, x-yaml, toml, javascript, x-javascript,
 * typescript, x-typescript, x-sh, sql, x-tex, rtf, or any type ending in
 * +json, +xml or +yaml. file_data of any other type (the provider may go
 * by the file's name) is text too when its bytes are UTF-8. Such a file
 * is decoded (base64, white space skipped) and its text is a text like
 * any other (labelled as where it is, "ascii" 0); set_text writes it back
 * as the same data URL with the new text in base64. A file of a text type
 * whose text cannot be read (not base64, not UTF-8, a NUL in it) is not
 * a text: the request's "unread" says so. In a free-form object a data:
 * URL of text is read the same way; any other string there is text as it
 * is.
 *
 * Binary media cannot be text-filtered: it is not text, not counted, and
 * a filter never sees it. The request reports the kinds it carries in
 * "media" (AIGOV_MEDIA_*, media.h), for a policy's `when: media` and the
 * audit record, so that a filter is never said to have read them:
 *   image:  chat image_url parts; Responses input_image (image_url or
 *           file_id) and computer_screenshot (a computer_call_output's);
 *           Anthropic image blocks (source base64, url or file); in tool
 *           results (tool_result content, function_call_output lists)
 *           alike
 *   audio:  input_audio parts (chat; Responses)
 *   file:   chat file parts (file_id, or file_data that is not text);
 *           Responses input_file (file_id, file_url, or file_data that is
 *           not text); Anthropic document blocks of source base64, url or
 *           file (a "text" or "content" source is text) and
 *           container_upload blocks
 * An inline file that is not text (see "Inline files": a file of text is
 * read, and one that cannot be read is "unread", not media) is of its
 * media type's kind (image/ an image, audio/ audio, any other a file;
 * whatever field holds it), else of the kind of the part or block it is
 * in. A URL or a file id is media only in those parts and blocks
 * (directly, or in their object without a type: chat's image_url,
 * input_audio and file, an Anthropic source); any other URL is text. In
 * a free-form object a data: URL that is not text counts by its media
 * type, and a stored prompt's variable that is an input_image or
 * input_file by URL or file id counts too. Not media: Anthropic
 * redacted_thinking "data" (opaque), and the model's own earlier output
 * (an assistant message's audio id, a Responses image_generation_call's
 * result, which is a text).
 *
 * Text the model reads that no filter can read: token ids (a completions
 * prompt or embeddings input given as integers) and files of text that
 * cannot be decoded. The request says so in "unread"; the gateway refuses
 * it where the rule has request filters (403 uninspectable, unless the
 * rule says uninspectable: allow). Token ids count one token each in the
 * estimate and one character each in prompt_chars (the least a token
 * stands for), so token limits hold without reading them.
 *
 * Labels (aigov_text_t.role): a message's content has the message's role
 * as sent ("system", "user", "assistant", "tool", "developer", ...);
 * otherwise where the text came from: "name" (a message's name),
 * "refusal", "tool_call" (tool/function calls: names, arguments, Anthropic
 * tool_use input, Responses function_call), "tool" (tool results:
 * tool_result content, function_call_output), "tool_definition" (tools,
 * functions, schemas and descriptions), "document" (Anthropic document
 * and search_result blocks), "thinking" (thinking blocks, reasoning
 * items, reasoning_content), "system" (Anthropic system), "instructions"
 * (Responses), "prompt" (completions; a Responses stored prompt's
 * variables), "suffix", "input" (embeddings), "user" (a Responses string
 * input), "prediction", "schema" (response_format, Responses text.format),
 * "stop", "metadata" (metadata, user, safety_identifier,
 * prompt_cache_key, and a free-form map at the top level: env,
 * attributes, headers, input_examples, variables), "url", and "other"
 * (any other top-level field).
 */

/* One piece of text the caller sent. */
typedef struct {
    const char  *role;    /* where it came from: see "Labels" above */
    const char  *text;    /* UTF-8, NUL-terminated, owned by the request */
    size_t       len;
    /* Private to request.c: the string literal's bytes [at, end) in the
     * body, quotes included, and the replacement set_text made (or NULL). */
    size_t       at, end;
    char        *repl;
    /* 1: the text is ASCII (the scan saw no byte above 0x7F and no escape
     * of one), so it is its own normalized view and its characters are its
     * bytes; 0: not known (lib/filter normalizes it) */
    int          ascii;
    /* 1: JSON text the model and tools read parsed (a tool call's
     * arguments): lib/filter reads it with its escapes decoded */
    int          json;
    /* 1: an object key (a property name, a key of a free-form object) */
    int          key;
    /* 1: the string value of the key just before it in the list (the
     * model reads the two as "KEY": "VALUE"; lib/filter's joined reading
     * puts that between them) */
    int          paired;
    /* Private to request.c: a key's object (1 + the body offset of its
     * '{'; 0 for a value), for keeping keys unique after redaction; for
     * an inline file, the data URL's part before the base64 (unescaped,
     * prelen bytes; "" for plain base64), and the literal's new value
     * that set_text made (pre and the new text in base64). */
    size_t       obj;
    int          kwobj;       /* the key is in a schema object, whose
                                 keywords are not texts */
    const char  *pre;
    size_t       prelen;
    char        *wire;
} aigov_text_t;

/* Private to request.c: what stream_options holds, for ask_usage. */
enum {
    AIGOV_SO_ABSENT = 0,    /* no stream_options: append it to the root */
    AIGOV_SO_NULL,          /* null at [so_at_, so_end_): replace it */
    AIGOV_SO_EMPTY,         /* {}: insert the key before its '}' at so_at_ */
    AIGOV_SO_NO_KEY,        /* an object without include_usage: the same,
                               after a comma */
    AIGOV_SO_FALSE,         /* include_usage false/null at [so_at_, so_end_) */
    AIGOV_SO_ASKED          /* include_usage true: nothing to do */
};

typedef struct {
    aigov_endpoint_t  endpoint;
    const char       *model;        /* NULL when absent */
    long long         max_tokens;   /* -1 when absent */
    const char       *max_tokens_key; /* the key set_max_tokens writes:
                                         "max_tokens", "max_completion_tokens"
                                         (chat), "max_output_tokens"
                                         (responses); NULL where the kind
                                         takes no limit (embeddings,
                                         count_tokens, unknown) */
    int               stream;       /* "stream": true */
    int               background;   /* Responses "background": true: the
                                       model writes the answer on its own
                                       time; unless streamed, this request
                                       gets only its queued status */
    long long         n;            /* answers asked for: chat "n",
                                       completions max("n", "best_of")
                                       for each prompt of a list; 1 when
                                       absent or another kind. "n" and
                                       "best_of" from 1 to AIGOV_REQ_MAX_N,
                                       else BAD_SHAPE */
    aigov_text_t     *texts;
    size_t            ntexts;
    size_t            prompt_chars; /* sum of text lengths, in characters,
                                       and one for each token id */
    long long         token_ids;    /* token ids in a completions prompt or
                                       embeddings input */
    const char       *unread;       /* NULL, or what the model reads that
                                       no filter can ("token ids", ...): a
                                       phrase for the caller's message */
    const char       *unread_kind;  /* the same as the audit record names
                                       it: "token_ids" or "text_file" */
    unsigned          media;        /* the binary media the model reads
                                       and no filter can: AIGOV_MEDIA_IMAGE,
                                       _AUDIO, _FILE (media.h), or'd; 0
                                       when none. See "Binary media" */
    int               modified;     /* set by set_text / set_max_tokens */

    /* Private to request.c: what serialize splices. */
    char             *mem_;         /* one allocation: body copy, texts, strings */
    size_t            mem_cap_;     /* its size */
    const char       *body_;        /* the body: in mem_, or the caller's */
    size_t            body_len_;    /* 0: no body was parsed */
    size_t            close_at_;    /* the root object's closing '}' */
    int               root_empty_;  /* the root object has no member */
    size_t            lim_at_[2], lim_end_[2]; /* value bytes of max_tokens, */
    int               lim_has_[2];  /* max_completion_tokens: 0 absent,
                                       1 null, 2 a number */
    long long         lim_set_;     /* set_max_tokens' value, -1 if none */
    int               so_state_;    /* AIGOV_SO_*, chat and completions */
    size_t            so_at_, so_end_;
    int               usage_set_;   /* ask_usage asked for usage */
    int               keys_set_;    /* set_text changed a key since the
                                       last check that keys are unique */
} aigov_request_t;

/* Bounds on a hostile body; beyond them parse answers BAD_SHAPE. The body
 * size limit users see is nginx's; this one only keeps the parser sane. */
#define AIGOV_REQ_MAX_DEPTH  128          /* nesting of [ and { */
#define AIGOV_REQ_MAX_TEXTS  100000       /* texts in one request */
#define AIGOV_REQ_MAX_BODY   (64 * 1024 * 1024)
#define AIGOV_REQ_MAX_N      128          /* n, best_of (OpenAI's own bound) */

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
 * required for CHAT, COMPLETIONS, EMBEDDINGS, MESSAGES and COUNT_TOKENS (not
 * for RESPONSES, where a stored prompt may name it); MODELS with len 0
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
/* A thread keeps the memory of up to sixteen freed requests of 8 KiB or
 * more (32 MiB in all) for its next parses, so that a prompt is not copied
 * into fresh pages each time. This frees it (at exit, in tests). */
void aigov_request_release_memory(void);

/* Replace text i (after redaction); the text must be valid UTF-8 without
 * NUL. 0 or -1 (then nothing changed). An inline file is written back as
 * its data URL with the new text in base64; a key is written as the new
 * key (see serialize for keys that become equal). */
int aigov_request_set_text(aigov_request_t *rq, size_t i, const char *text, size_t len);
/* Set the token limit in the body (the key the request used, replaced in
 * place, else the endpoint's usual one appended to the root object:
 * max_output_tokens for RESPONSES). 0 or -1. Chat bodies carrying both
 * max_tokens and max_completion_tokens get both set. Kinds without a
 * limit (embeddings, count_tokens, unknown): 0, no change, never injected. */
int aigov_request_set_max_tokens(aigov_request_t *rq, long long v);
/* The body with every edit spliced in (byte-identical when unmodified);
 * malloc'd, NUL-terminated, caller frees. NULL when there is no body.
 * Keys stay unique: where set_text made keys of one object equal (two
 * property names masked alike), all of them but one (the key not edited,
 * else the first) become "KEY (2)", "KEY (3)", ... (the first numbers
 * free; in a schema object a key masked into a keyword gives the name up
 * too), in their texts as well, so that the upstream reads every member
 * the filters read, and never one JSON object two ways. NULL also when
 * out of memory. */
char *aigov_request_serialize(aigov_request_t *rq, size_t *len);

/* For a streamed chat or completions request whose body does not already
 * set stream_options.include_usage to true: serialize splices it in (the
 * key into an existing stream_options object, or the object appended to
 * the root), the rest byte-identical. 1 when the body is changed (the
 * client did not ask for usage: the gateway hides the usage chunk), 0 when
 * nothing was needed (not streamed, another kind, or already asked), -1 on
 * error (no parsed body). */
int aigov_request_ask_usage(aigov_request_t *rq);

/* Rough token count of the prompt for quota reservation (chars / 4, at
 * least 1 per text, and 1 per token id). */
long long aigov_request_prompt_tokens(const aigov_request_t *rq);

#endif
