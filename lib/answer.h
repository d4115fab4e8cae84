/*
 * answer: filtering of a model API's answer, whole JSON or SSE stream, and
 * extraction of its token usage.
 *
 * The module creates one answer per proxied response, feeds it the body
 * bytes as they come, drains the output after every call, and calls finish
 * at the end. Output is byte-identical to input unless a filter changed
 * something: only modified events are re-serialised.
 *
 * What is text. Every string value in the answer is model text that the
 * response filters read, except the values of the control fields below
 * (and everything under them). So a field a provider adds later is
 * inspected without a release. The control fields, by key, at any depth:
 *
 *   id object type role model created created_at completed_at
 *   system_fingerprint service_tier obfuscation finish_reason stop_reason
 *   stop_sequence status index output_index content_index summary_index
 *   sequence_number item_id call_id tool_call_id tool_use_id usage
 *   signature encrypted_content encrypted_index media_type data
 *   partial_image_b64 expires_at, and every key ending in _id or _ids
 *
 * (identifiers, enums, counts, opaque signatures and base64 payloads), and
 * the request parameters the Responses API echoes in its answer (the
 * caller's, inspected on the way in): instructions tools tool_choice
 * metadata user prompt_cache_key safety_identifier previous_response_id
 * truncation. Two of these names are text in one kind of object: the
 * "data" of a text document ({"type":"text","media_type":"text/plain",
 * "data":...}, the page an Anthropic web_fetch_tool_result brings) and the
 * "tools" loaded into the model's context while it answered, which the
 * request never carried (names, descriptions, schemas, which the model
 * reads): a Responses mcp_list_tools item and an Anthropic
 * mcp_tool_listing block (what an MCP server says its tools are), and a
 * Responses tool_search_output item (the tools a search loaded); and
 * the "user" a Responses local shell call's exec action runs as. And
 * "result" is text except in an image generation call, where it is the
 * image in base64.
 * Under "input" (Anthropic tool_use) and "arguments" the
 * model wrote everything, and "env" and "attributes" (a shell call's,
 * file search results') are maps whose keys are chosen, not control
 * names: every string there is text, whatever its key,
 * and so are the keys of the objects there (an Anthropic tool_use input
 * is an object: a redacted key replaces the old one). Other object keys
 * and numbers are never text. A string under "arguments" or
 * "partial_json", and the delta of a Responses *arguments.delta event, is
 * JSON text that the client parses: filters read it with its escapes
 * decoded (aigov_filter_inspect_json), and an escape cut at the end of a
 * stream's piece is held until the next completes it.
 *
 * Logprobs. OpenAI answers can carry the tokens of a text with their
 * log probabilities: chat choices' logprobs.content and .refusal, the
 * Responses API's output_text parts and text events ("logprobs"), lists
 * of entries {token, bytes, logprob, top_logprobs: [{token, bytes,
 * logprob}]}; legacy completions' logprobs {tokens, top_logprobs: [{token:
 * logprob}], ...}. They repeat the text, so each list's tokens are one
 * text, read as the client joins them (whole, and streamed as one channel
 * per list across its events, whatever the entries' places in each), and
 * a term cut across tokens is found there as in the text. An entry's text
 * is its token, or the bytes of a token cut inside a character (its bytes,
 * else what its placeholder "bytes:\xe4" names); bytes that are not the
 * token's are rewritten from it, so that token and bytes never say more
 * than was read. A mask writes each token it covers (the label in the
 * first) and its bytes (null stays null). Alternatives (top_logprobs):
 * at a position a mask covers, every one takes the token's new text, for
 * they are mostly the masked token itself (top_logprobs holds the token
 * chosen) and its variants and would spell what was masked; legacy maps
 * there become the new text alone, with the best logprob. Otherwise each
 * alternative is read apart, whole: the alternatives of a position
 * exclude each other and are ordered by probability, so joined they would
 * make texts nobody reads. Legacy top_logprobs keys are texts, renamed
 * when redacted; legacy text_offset follows the masked tokens (in later
 * events of a stream too), so that it does not tell how long the masked
 * text was. A list that spelled its text before the filters spells it
 * after them too, in a whole answer and in each event of a stream: a mask
 * only the joined reading of the parts found (a term cut across two
 * output_text parts) is written into the part's list as well. A list spells the text
 * again: what is found there is not counted in the audit record (the text
 * was), nor its tokens in the estimate of the answer's length; what an
 * alternative holds is counted.
 *
 * Whole JSON answers: every text is inspected on its own, and the texts
 * again joined in answer order as a request's are (lib/filter.h,
 * aigov_filter_joined: a word cut across two output_text parts, which the
 * openai SDK's output_text runs together), those of one answer: each
 * choice of a chat or completions answer (n > 1) apart, and without
 * tool-call arguments (JSON texts parsed on their own); redactions are
 * written back into the JSON (which stays valid), a block replaces the
 * whole answer by an error (Anthropic's shape on /v1/messages).
 *
 * Streams: the texts of an SSE stream are sorted into channels, one per
 * separate text the client assembles, and each channel is one text stream
 * that the filters inspect as a window (its text not yet released plus
 * hold_back bytes of context), so a match split across events is seen whole:
 *   - chat and completions: one channel per JSON path of the string, with
 *     array items named by their "index" member (choices.0.delta.content,
 *     choices.0.delta.reasoning_content, choices.1.delta.tool_calls.0.
 *     function.arguments, ...): each choice, each tool call, content,
 *     refusal and reasoning apart; logprobs one per list
 *     (choices.0.logprobs.content, choices.0.logprobs.tokens);
 *   - Anthropic: one channel per content block ("index"): text, thinking,
 *     a tool's name and its input_json_delta fragments; a citations_delta
 *     holds one whole citation, read on its own like a Responses repeat
 *     (below), so its cited_text never runs into the block's text;
 *   - Responses: one channel per output_index/content_index/summary_index
 *     of the *.delta events, and one for the logprobs of each. Its other
 *     events (*.done, output_item.*, content_part.*, response.completed
 *     ...) repeat texts whole: each of their texts is inspected whole,
 *     so a repeat is redacted with the same spans as its deltas were (or
 *     blocked), and counted once; a repeat of an output_text part also
 *     with the masks its joins found (below).
 * An event is held while any of its text lies in the end of its channel
 * that a filter may still need (the plugin's tail() answer; hold_back
 * bytes for a plugin without one; never more than hold_back) and the
 * channel is open; each window starts hold_back bytes of released text
 * before the held text; a channel closes when its text
 * is complete (content_block_stop, a Responses *.done event, a choice's
 * finish_reason, or the next text of the same choice or stream going to
 * another channel: providers send these texts one after the other), but
 * for a part of the answer text (below).
 * Earlier events are released with their redactions applied (a mask that
 * crosses events is written as "[REDACTED:LABEL]" in the earlier event and
 * removes the rest from the later ones). Events without text pass in order.
 * Data that is not JSON (other than [DONE]) is inspected as one text.
 *
 * Parts of the answer text. The texts an SDK runs together into the
 * answer's text, Responses output_text parts (of one message or of
 * several: the openai SDK's output_text) and Anthropic text blocks
 * (finalText(); a client printing the deltas), are each a channel, and a
 * part's window opens with the end of the part before, so a match cut
 * across two parts (or three) is seen whole: read with nothing between
 * the parts, and where word meets word once more with a space between,
 * as finalText() joins blocks. A part does not close at its end: it keeps
 * holding the tail its filters asked for until the next part's filters
 * say how much of it they still need, another kind of text comes (a tool
 * call, thinking: the next part is read joined to it still, but what was
 * sent meanwhile cannot be masked), or the stream ends; the events that
 * come meanwhile (the part's *.done, content_block_stop) wait behind it,
 * in order. A match across the join blocks, or is masked in both parts
 * as across two events (its label where it starts; of text already sent,
 * as after release_held, only the rest). The Responses events that repeat
 * a part (output_text.done, content_part.done, output_item.done,
 * response.completed) wait in turn and are masked as its deltas were,
 * the joins' masks included. Not joined: the choices of chat and
 * completions (n > 1: separate answers), tool-call arguments and tool
 * inputs (JSON texts of their own), reasoning, thinking and refusals (not
 * the answer text), and parts out of order (a part that gets text again
 * after the next one began).
 *
 * A block ends the stream the way the caller's SDK raises: chat and
 * completions one data: {"error":...} event and data: [DONE]; Responses an
 * "error" event (with an "error" object, which the openai SDK raises on)
 * and "response.failed"; Anthropic event: error with {"type":"error",
 * "error":{"type":"permission_error","message":...}}. The rest of the
 * upstream answer is swallowed (its usage is still read).
 *
 * The kind of an answer is decided by its bytes, whatever its label: a
 * body that begins with { or [ is JSON, one that begins with an SSE field
 * (data:, event:, id:, retry:, a : comment) is a stream. A body that is
 * neither is blocked when response filters apply (it cannot be inspected),
 * and passes otherwise.
 *
 * With no response filter the answer is a pass-through: it produces no
 * output (forward the bytes you fed unchanged) and only reads usage and
 * counts the text, unless the usage chunk is to be hidden.
 *
 * Usage. The answer's own count when it gives the final one (a JSON
 * answer's usage, a stream's usage chunk, Anthropic's message_delta,
 * Responses' response.completed). Otherwise (a stream cut short, a
 * provider that ignores stream_options, an Anthropic stream without
 * message_delta) aigov_answer_tokens estimates: the prompt as the answer
 * reported it (Anthropic's message_start) or as the caller estimated it,
 * the completion as ceil(characters of model text that came through / 4),
 * the same rule as the prompt estimate.
 */
#ifndef AIGOV_ANSWER_H
#define AIGOV_ANSWER_H

#include <stddef.h>

#include "filter.h"
#include "request.h"

#define AIGOV_ANSWER_DEFAULT_HOLD_BACK  256
#define AIGOV_ANSWER_DEFAULT_MAX_EVENT  (1024 * 1024)
#define AIGOV_ANSWER_DEFAULT_MAX_JSON   (16 * 1024 * 1024)

/* Separate texts of one stream tracked at a time; beyond, a channel whose
 * text is all released is reused, else the last one is shared. */
#define AIGOV_ANSWER_MAX_CHANNELS       64

typedef struct aigov_answer_s aigov_answer_t;

/* What the bytes turned out to be (aigov_answer_kind). */
typedef enum {
    AIGOV_ANSWER_UNKNOWN = -1,  /* nothing but white space yet */
    AIGOV_ANSWER_JSON = 0,
    AIGOV_ANSWER_SSE = 1,
    AIGOV_ANSWER_OTHER = 2      /* neither: not readable */
} aigov_answer_kind_t;

/* filters: the matched rule's filters (those without the response stage are
 * skipped); the array is copied, the instances must outlive the answer.
 * is_stream: what the Content-Type says, 1 SSE, 0 JSON, -1 neither; the
 * bytes decide (see above). hold_back 0 means the default. NULL when out
 * of memory. */
aigov_answer_t *aigov_answer_new(aigov_endpoint_t ep, int is_stream,
                                 const aigov_filter_spec_t *filters, size_t nfilters,
                                 size_t hold_back);
void aigov_answer_free(aigov_answer_t *a);

/* Bounds: the largest SSE event, the largest JSON answer. 0 keeps a value.
 * Call before the first feed. */
void aigov_answer_set_limits(aigov_answer_t *a, size_t max_event, size_t max_json);

/* 1 (the default): the usual stream events are read without jansson. 0:
 * every event goes through jansson; the tests compare the two. */
void aigov_answer_set_fast(aigov_answer_t *a, int on);

/* on: the gateway asked the upstream for stream usage the client did not
 * ask for; the usage-only chunk (chat and completions: "choices": [] with
 * "usage") is read and not sent on, so the client gets the stream it
 * asked for. Call before the first feed. */
void aigov_answer_hide_usage(aigov_answer_t *a, int on);

/* 1 when the answer produces no output: forward the input unchanged. */
int aigov_answer_passthrough(const aigov_answer_t *a);

/* The kind the bytes fed so far show. */
aigov_answer_kind_t aigov_answer_kind(const aigov_answer_t *a);

/* Feeds body bytes. 0, or -1 when out of memory (abort the response).
 * A JSON answer is buffered until finish. An SSE event larger than
 * max_event ends a filtered stream with an error event. */
int aigov_answer_feed(aigov_answer_t *a, const char *in, size_t len);
/* End of the body: releases everything held. 0 or -1. */
int aigov_answer_finish(aigov_answer_t *a);

/* Refuses an answer whose bytes cannot be read at all (compressed), as a
 * block by "aigov" (category "unreadable") in the shape of the answer's
 * label; what is fed after it is dropped. Only when filters apply: without
 * them it does nothing and returns 1 (pass the answer as it is). 0 or -1. */
int aigov_answer_refuse(aigov_answer_t *a, const char *reason);

/* Output ready to send; consume what was sent. The pointer is valid until
 * the next call on a. */
const char *aigov_answer_output(const aigov_answer_t *a, size_t *len);
void aigov_answer_consume(aigov_answer_t *a, size_t n);

/* Filters and reads usage of a whole JSON answer in one call (what finish
 * does for a non-stream answer); the result goes to the output. 0 or -1. */
int aigov_answer_json(aigov_answer_t *a, const char *body, size_t len);

/* Token usage seen so far: 1 when the answer reported any; a count the
 * answer did not give is -1. */
int aigov_answer_usage(const aigov_answer_t *a, long long *prompt, long long *completion);

/* The tokens to settle and record: 0 with the answer's own final counts
 * (the completion -1 for an embedding, which writes none), or 1 when they
 * are estimated (see above): also when the answer left out a count its
 * kind has or gave one that is no count (a fraction, a negative number,
 * above 10^12); prompt_estimate is the caller's estimate of the prompt
 * (<0: unknown, counted 0). aigov_answer_usage gives the counts as the
 * answer reported them, whole or not. */
int aigov_answer_tokens(const aigov_answer_t *a, long long prompt_estimate,
                        long long *prompt, long long *completion);

/* Characters of model text that came through (before redaction); without
 * filters a JSON answer that reports its usage is not counted. */
long long aigov_answer_text_chars(const aigov_answer_t *a);

/* 1 once the whole answer came (its last byte read, or a refusal) */
int aigov_answer_finished(const aigov_answer_t *a);

/* Streams: 1 when events wait because a filter may still need their
 * text (a match that text could begin). */
int aigov_answer_holding(const aigov_answer_t *a);
/* Streams: sends every waiting event now, with the masks found so far
 * (the module's time bound, aigov_stream_hold_time). The filters go on
 * reading and can still block the stream, but a match that the text sent
 * this way begins and later text completes can no longer be masked in
 * what was sent. 0 or -1. */
int aigov_answer_release_held(aigov_answer_t *a);
/* What release_held sent: events, their bytes, and the matches found
 * afterwards that reach into that text (each one text the client may have
 * got unmasked). */
void aigov_answer_early(const aigov_answer_t *a, size_t *events, size_t *bytes,
                        size_t *late);

/* Verdicts for the audit record (stage AIGOV_STAGE_RESPONSE) and the block,
 * if any: blocked, block_plugin, block_reason. */
const aigov_filter_outcome_t *aigov_answer_outcome(const aigov_answer_t *a);
int aigov_answer_blocked(const aigov_answer_t *a);
/* 1 when a filter changed the answer. */
int aigov_answer_modified(const aigov_answer_t *a);

#endif
