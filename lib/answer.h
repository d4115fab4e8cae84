/*
 * answer: filtering of a model API's answer, whole JSON or SSE stream, and
 * extraction of its token usage.
 *
 * The module creates one answer per proxied response, feeds it the body
 * bytes as they come, drains the output after every call, and calls finish
 * at the end. Output is byte-identical to input unless a filter changed
 * something: only modified events are re-serialised.
 *
 * Streams: each SSE event's text (OpenAI choices[].delta.content,
 * completions choices[].text, Anthropic content_block_delta delta.text) is
 * appended to one text stream. Every response filter inspects a window of
 * that stream (the text of events not yet released plus a little context),
 * so a match split across events is seen whole. An event is held while any
 * of its text lies in the tail of the stream that a filter may still need
 * (the plugin's tail() answer; hold_back bytes for a plugin without one;
 * never more than hold_back), and each window starts hold_back bytes of
 * released text before the held text; earlier
 * events are released with their redactions applied (a mask that crosses
 * events is written as "[REDACTED:LABEL]" in the earlier event and removes
 * the rest from the later ones). Events without text pass in order. A
 * block ends the stream with one error event and "data: [DONE]", and the
 * rest of the upstream answer is swallowed.
 *
 * With no response filter the answer is a pass-through: it produces no
 * output (forward the bytes you fed unchanged) and only looks at events
 * that may carry usage.
 */
#ifndef AIGOV_ANSWER_H
#define AIGOV_ANSWER_H

#include <stddef.h>

#include "filter.h"
#include "request.h"

#define AIGOV_ANSWER_DEFAULT_HOLD_BACK  256
#define AIGOV_ANSWER_DEFAULT_MAX_EVENT  (1024 * 1024)
#define AIGOV_ANSWER_DEFAULT_MAX_JSON   (16 * 1024 * 1024)

typedef struct aigov_answer_s aigov_answer_t;

/* filters: the matched rule's filters (those without the response stage are
 * skipped); the array is copied, the instances must outlive the answer.
 * hold_back 0 means the default. NULL when out of memory. */
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

/* 1 when the answer produces no output: forward the input unchanged. */
int aigov_answer_passthrough(const aigov_answer_t *a);

/* Feeds body bytes. 0, or -1 when out of memory (abort the response).
 * A JSON answer is buffered until finish. An SSE event larger than
 * max_event ends a filtered stream with an error event. */
int aigov_answer_feed(aigov_answer_t *a, const char *in, size_t len);
/* End of the body: releases everything held. 0 or -1. */
int aigov_answer_finish(aigov_answer_t *a);

/* Output ready to send; consume what was sent. The pointer is valid until
 * the next call on a. */
const char *aigov_answer_output(const aigov_answer_t *a, size_t *len);
void aigov_answer_consume(aigov_answer_t *a, size_t n);

/* Filters and reads usage of a whole JSON answer in one call (what finish
 * does for a non-stream answer); the result goes to the output. A body
 * that is not JSON passes unchanged. 0 or -1. */
int aigov_answer_json(aigov_answer_t *a, const char *body, size_t len);

/* Token usage seen so far: 1 when the answer reported any; a count the
 * answer did not give is -1. */
int aigov_answer_usage(const aigov_answer_t *a, long long *prompt, long long *completion);

/* Verdicts for the audit record (stage AIGOV_STAGE_RESPONSE) and the block,
 * if any: blocked, block_plugin, block_reason. */
const aigov_filter_outcome_t *aigov_answer_outcome(const aigov_answer_t *a);
int aigov_answer_blocked(const aigov_answer_t *a);
/* 1 when a filter changed the answer. */
int aigov_answer_modified(const aigov_answer_t *a);

#endif
