/* Unit tests of lib/request.c: every API shape, and bodies that are not. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "request.h"
#include "request_ref.h"

static char err[256];

static aigov_req_status_t
parse(aigov_request_t *rq, aigov_endpoint_t ep, const char *body)
{
    err[0] = 'x';
    return aigov_request_parse(rq, ep, body, strlen(body), err, sizeof(err));
}

/* Parses, expects failure st, checks the message mentions want, frees. */
static void
expect_fail(aigov_endpoint_t ep, const char *body, aigov_req_status_t st,
            const char *want)
{
    aigov_request_t rq;
    aigov_req_status_t got = parse(&rq, ep, body);

    if (got != st || strstr(err, want) == NULL)
        fprintf(stderr, "body %s: status %d, err \"%s\" (wanted %d, \"%s\")\n",
                body, got, err, st, want);
    assert_int_equal(got, st);
    assert_non_null(strstr(err, want));
    aigov_request_free(&rq);
}

static void
test_endpoint_from_path(void **state)
{
#define EP(s) aigov_endpoint_from_path(s, strlen(s))
    assert_int_equal(EP("/v1/chat/completions"), AIGOV_EP_CHAT);
    /* the whole path, exactly: a path that only ends like a kind's is
     * not that kind */
    assert_int_equal(EP("/openai/v1/chat/completions"), AIGOV_EP_UNKNOWN);
    assert_int_equal(EP("/v1/responses/chat/completions"), AIGOV_EP_UNKNOWN);
    assert_int_equal(EP("/v1/assistants/v1/messages"), AIGOV_EP_UNKNOWN);
    assert_int_equal(EP("//v1/chat/completions"), AIGOV_EP_UNKNOWN);
    assert_int_equal(EP("/V1/chat/completions"), AIGOV_EP_UNKNOWN);
    assert_int_equal(EP("/v1/chat/completions?x=1"), AIGOV_EP_CHAT);
    assert_int_equal(EP("/v1/chat/completions/"), AIGOV_EP_UNKNOWN);
    assert_int_equal(EP("/v1/responses"), AIGOV_EP_RESPONSES);
    assert_int_equal(EP("/v1/responses/resp_1"), AIGOV_EP_UNKNOWN);
    assert_int_equal(EP("/v1/messages/count_tokens"), AIGOV_EP_COUNT_TOKENS);
    assert_int_equal(EP("/v1/messages/batches"), AIGOV_EP_UNKNOWN);
    assert_int_equal(EP("/v1/completions"), AIGOV_EP_COMPLETIONS);
    assert_int_equal(EP("/v1/embeddings"), AIGOV_EP_EMBEDDINGS);
    assert_int_equal(EP("/v1/messages"), AIGOV_EP_MESSAGES);
    assert_int_equal(EP("/v1/models"), AIGOV_EP_MODELS);
    assert_int_equal(EP("/v1/chatcompletions"), AIGOV_EP_UNKNOWN);
    assert_int_equal(EP("/v1/models/gpt-4o"), AIGOV_EP_UNKNOWN);
    assert_int_equal(EP(""), AIGOV_EP_UNKNOWN);
    assert_int_equal(EP("/"), AIGOV_EP_UNKNOWN);
    assert_int_equal(aigov_endpoint_from_path(NULL, 0), AIGOV_EP_UNKNOWN);
    /* The length is honoured: no reading past it. */
    assert_int_equal(aigov_endpoint_from_path("/v1/embeddingsXYZ", 14),
                     AIGOV_EP_EMBEDDINGS);
#undef EP
    assert_string_equal(aigov_endpoint_name(AIGOV_EP_CHAT), "/v1/chat/completions");
    assert_string_equal(aigov_endpoint_name(AIGOV_EP_MESSAGES), "/v1/messages");
    assert_string_equal(aigov_endpoint_name(AIGOV_EP_UNKNOWN), "");
    assert_string_equal(aigov_endpoint_name(AIGOV_EP_RESPONSES), "/v1/responses");
    assert_string_equal(aigov_endpoint_name(AIGOV_EP_COUNT_TOKENS),
                        "/v1/messages/count_tokens");
}

static void
test_chat_simple(void **state)
{
    aigov_request_t rq;

    assert_int_equal(parse(&rq, AIGOV_EP_CHAT,
        "{\"model\":\"gpt-4o\",\"messages\":["
        "{\"role\":\"system\",\"content\":\"Be brief.\"},"
        "{\"role\":\"user\",\"content\":\"Hello there\"}]}"), AIGOV_REQ_OK);
    assert_string_equal(err, "");
    assert_int_equal(rq.endpoint, AIGOV_EP_CHAT);
    assert_string_equal(rq.model, "gpt-4o");
    assert_int_equal(rq.max_tokens, -1);
    assert_int_equal(rq.stream, 0);
    assert_int_equal(rq.ntexts, 2);
    assert_string_equal(rq.texts[0].role, "system");
    assert_string_equal(rq.texts[0].text, "Be brief.");
    assert_int_equal(rq.texts[0].len, 9);
    assert_string_equal(rq.texts[1].role, "user");
    assert_string_equal(rq.texts[1].text, "Hello there");
    assert_int_equal(rq.prompt_chars, 20);
    assert_int_equal(rq.modified, 0);
    /* ceil(9/4) + ceil(11/4) */
    assert_int_equal(aigov_request_prompt_tokens(&rq), 6);
    aigov_request_free(&rq);
}

static void
test_chat_all_roles(void **state)
{
    aigov_request_t rq;

    assert_int_equal(parse(&rq, AIGOV_EP_CHAT,
        "{\"model\":\"m\",\"messages\":["
        "{\"role\":\"developer\",\"content\":\"d\"},"
        "{\"role\":\"system\",\"content\":\"s\"},"
        "{\"role\":\"user\",\"content\":\"u\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\","
        "\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"q\\\":1}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"t\"},"
        "{\"role\":\"assistant\",\"content\":\"a\"}]}"), AIGOV_REQ_OK);
    /* the tool call's name and arguments are texts of their own */
    assert_int_equal(rq.ntexts, 7);
    assert_string_equal(rq.texts[0].role, "developer");
    assert_string_equal(rq.texts[1].role, "system");
    assert_string_equal(rq.texts[2].role, "user");
    assert_string_equal(rq.texts[3].role, "tool_call");
    assert_string_equal(rq.texts[3].text, "f");
    assert_string_equal(rq.texts[4].role, "tool_call");
    assert_string_equal(rq.texts[4].text, "{\"q\":1}");
    assert_string_equal(rq.texts[5].role, "tool");
    assert_string_equal(rq.texts[5].text, "t");
    assert_string_equal(rq.texts[6].text, "a");
    assert_string_equal(rq.texts[6].role, "assistant");
    aigov_request_free(&rq);
}

static void
test_chat_content_parts(void **state)
{
    aigov_request_t rq;

    assert_int_equal(parse(&rq, AIGOV_EP_CHAT,
        "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":["
        "{\"type\":\"text\",\"text\":\"What is in\"},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://x/y.png\"}},"
        "{\"type\":\"input_audio\",\"input_audio\":{\"data\":\"AAAA\",\"format\":\"wav\"}},"
        "{\"type\":\"text\",\"text\":\"this picture?\"}]}]}"), AIGOV_REQ_OK);
    /* the image's URL is text (not a data: URL), the audio is media */
    assert_int_equal(rq.ntexts, 3);
    assert_string_equal(rq.texts[0].text, "What is in");
    assert_string_equal(rq.texts[1].text, "https://x/y.png");
    assert_string_equal(rq.texts[1].role, "url");
    assert_string_equal(rq.texts[2].text, "this picture?");
    assert_string_equal(rq.texts[2].role, "user");
    aigov_request_free(&rq);
}

static void
test_chat_limits_and_stream(void **state)
{
    aigov_request_t rq;

    assert_int_equal(parse(&rq, AIGOV_EP_CHAT,
        "{\"model\":\"m\",\"stream\":true,\"max_tokens\":512,"
        "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}"), AIGOV_REQ_OK);
    assert_int_equal(rq.stream, 1);
    assert_int_equal(rq.max_tokens, 512);
    assert_string_equal(rq.max_tokens_key, "max_tokens");
    aigov_request_free(&rq);

    assert_int_equal(parse(&rq, AIGOV_EP_CHAT,
        "{\"model\":\"m\",\"stream\":false,\"max_completion_tokens\":64,"
        "\"messages\":[]}"), AIGOV_REQ_OK);
    assert_int_equal(rq.stream, 0);
    assert_int_equal(rq.max_tokens, 64);
    assert_string_equal(rq.max_tokens_key, "max_completion_tokens");
    assert_int_equal(rq.ntexts, 0);
    aigov_request_free(&rq);

    /* null means "not set" in OpenAI SDKs. */
    assert_int_equal(parse(&rq, AIGOV_EP_CHAT,
        "{\"model\":\"m\",\"stream\":null,\"max_tokens\":null,\"messages\":[]}"),
        AIGOV_REQ_OK);
    assert_int_equal(rq.stream, 0);
    assert_int_equal(rq.max_tokens, -1);
    aigov_request_free(&rq);
}

/* Responses "background": noted (its answer is settled at its cap); a
 * chat body's "background" is just another field. */
static void
test_responses_background(void **state)
{
    aigov_request_t rq;

    (void) state;
    assert_int_equal(parse(&rq, AIGOV_EP_RESPONSES,
        "{\"model\":\"m\",\"input\":\"x\",\"background\":true}"), AIGOV_REQ_OK);
    assert_int_equal(rq.background, 1);
    assert_int_equal(rq.stream, 0);
    aigov_request_free(&rq);

    assert_int_equal(parse(&rq, AIGOV_EP_RESPONSES,
        "{\"model\":\"m\",\"input\":\"x\",\"background\":null}"), AIGOV_REQ_OK);
    assert_int_equal(rq.background, 0);
    aigov_request_free(&rq);

    assert_int_equal(parse(&rq, AIGOV_EP_RESPONSES,
        "{\"model\":\"m\",\"input\":\"x\",\"background\":false}"), AIGOV_REQ_OK);
    assert_int_equal(rq.background, 0);
    aigov_request_free(&rq);

    assert_int_equal(parse(&rq, AIGOV_EP_RESPONSES,
        "{\"model\":\"m\",\"input\":\"x\",\"background\":1}"), AIGOV_REQ_BAD_SHAPE);
    aigov_request_free(&rq);

    assert_int_equal(parse(&rq, AIGOV_EP_CHAT,
        "{\"model\":\"m\",\"background\":true,\"messages\":[]}"), AIGOV_REQ_OK);
    assert_int_equal(rq.background, 0);
    aigov_request_free(&rq);
}

static void
test_chat_both_limit_keys(void **state)
{
    aigov_request_t rq;
    char *out;

    /* The larger counts, and set_max_tokens lowers both. */
    assert_int_equal(parse(&rq, AIGOV_EP_CHAT,
        "{\"model\":\"m\",\"max_tokens\":10,\"max_completion_tokens\":9000,"
        "\"messages\":[]}"), AIGOV_REQ_OK);
    assert_int_equal(rq.max_tokens, 9000);
    assert_int_equal(aigov_request_set_max_tokens(&rq, 100), 0);
    out = aigov_request_serialize(&rq, NULL);
    assert_string_equal(out, "{\"model\":\"m\",\"max_tokens\":100,"
                             "\"max_completion_tokens\":100,\"messages\":[]}");
    free(out);
    aigov_request_free(&rq);
}

static void
test_completions_string(void **state)
{
    aigov_request_t rq;

    assert_int_equal(parse(&rq, AIGOV_EP_COMPLETIONS,
        "{\"model\":\"gpt-3.5-turbo-instruct\",\"prompt\":\"Say this is a test\","
        "\"max_tokens\":7}"), AIGOV_REQ_OK);
    assert_int_equal(rq.ntexts, 1);
    assert_string_equal(rq.texts[0].role, "prompt");
    assert_string_equal(rq.texts[0].text, "Say this is a test");
    assert_int_equal(rq.max_tokens, 7);
    aigov_request_free(&rq);
}

static void
test_completions_array(void **state)
{
    aigov_request_t rq;

    assert_int_equal(parse(&rq, AIGOV_EP_COMPLETIONS,
        "{\"model\":\"m\",\"prompt\":[\"one\",\"two\",\"three\"]}"), AIGOV_REQ_OK);
    assert_int_equal(rq.ntexts, 3);
    assert_string_equal(rq.texts[2].text, "three");
    assert_int_equal(rq.prompt_chars, 11);
    aigov_request_free(&rq);

    /* Token ids give no text but are allowed. */
    assert_int_equal(parse(&rq, AIGOV_EP_COMPLETIONS,
        "{\"model\":\"m\",\"prompt\":[[1,2,3],[4]]}"), AIGOV_REQ_OK);
    assert_int_equal(rq.ntexts, 0);
    aigov_request_free(&rq);
}

static void
test_embeddings(void **state)
{
    aigov_request_t rq;

    assert_int_equal(parse(&rq, AIGOV_EP_EMBEDDINGS,
        "{\"model\":\"text-embedding-3-small\",\"input\":\"The food was good\"}"),
        AIGOV_REQ_OK);
    assert_int_equal(rq.ntexts, 1);
    assert_string_equal(rq.texts[0].role, "input");
    assert_null(rq.max_tokens_key);
    assert_int_equal(rq.max_tokens, -1);
    aigov_request_free(&rq);

    assert_int_equal(parse(&rq, AIGOV_EP_EMBEDDINGS,
        "{\"model\":\"e\",\"input\":[\"a\",\"bc\"],\"encoding_format\":\"float\"}"),
        AIGOV_REQ_OK);
    assert_int_equal(rq.ntexts, 2);
    aigov_request_free(&rq);

    assert_int_equal(parse(&rq, AIGOV_EP_EMBEDDINGS,
        "{\"model\":\"e\",\"input\":[101,2023,102]}"), AIGOV_REQ_OK);
    assert_int_equal(rq.ntexts, 0);
    aigov_request_free(&rq);
}

static void
test_anthropic_messages(void **state)
{
    aigov_request_t rq;

    assert_int_equal(parse(&rq, AIGOV_EP_MESSAGES,
        "{\"model\":\"claude-sonnet-4\",\"max_tokens\":1024,\"system\":\"You are terse.\","
        "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},"
        "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"Hello\"}]},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"image\",\"source\":{\"type\":\"base64\","
        "\"media_type\":\"image/png\",\"data\":\"AA==\"}},{\"type\":\"text\",\"text\":\"Describe\"}]}],"
        "\"stream\":true}"), AIGOV_REQ_OK);
    assert_string_equal(rq.model, "claude-sonnet-4");
    assert_int_equal(rq.max_tokens, 1024);
    assert_string_equal(rq.max_tokens_key, "max_tokens");
    assert_int_equal(rq.stream, 1);
    assert_int_equal(rq.ntexts, 4);
    assert_string_equal(rq.texts[0].role, "system");
    assert_string_equal(rq.texts[0].text, "You are terse.");
    assert_string_equal(rq.texts[1].role, "user");
    assert_string_equal(rq.texts[2].role, "assistant");
    assert_string_equal(rq.texts[2].text, "Hello");
    assert_string_equal(rq.texts[3].text, "Describe");
    aigov_request_free(&rq);
}

static void
test_anthropic_system_blocks(void **state)
{
    aigov_request_t rq;

    assert_int_equal(parse(&rq, AIGOV_EP_MESSAGES,
        "{\"model\":\"c\",\"max_tokens\":5,\"system\":["
        "{\"type\":\"text\",\"text\":\"Rule one.\"},"
        "{\"type\":\"text\",\"text\":\"Rule two.\",\"cache_control\":{\"type\":\"ephemeral\"}}],"
        "\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}"), AIGOV_REQ_OK);
    assert_int_equal(rq.ntexts, 3);
    assert_string_equal(rq.texts[0].role, "system");
    assert_string_equal(rq.texts[1].role, "system");
    assert_string_equal(rq.texts[1].text, "Rule two.");
    aigov_request_free(&rq);
}

static void
test_anthropic_tool_result(void **state)
{
    aigov_request_t rq;

    assert_int_equal(parse(&rq, AIGOV_EP_MESSAGES,
        "{\"model\":\"c\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":["
        "{\"type\":\"tool_result\",\"tool_use_id\":\"t1\",\"content\":\"42 degrees\"},"
        "{\"type\":\"tool_result\",\"tool_use_id\":\"t2\",\"content\":[{\"type\":\"text\",\"text\":\"sunny\"}]},"
        "{\"type\":\"tool_use\",\"id\":\"t3\",\"name\":\"f\",\"input\":{}}]}]}"),
        AIGOV_REQ_OK);
    assert_int_equal(rq.ntexts, 3);
    assert_string_equal(rq.texts[0].text, "42 degrees");
    assert_string_equal(rq.texts[0].role, "tool");
    assert_string_equal(rq.texts[1].text, "sunny");
    assert_string_equal(rq.texts[1].role, "tool");
    assert_string_equal(rq.texts[2].text, "f");
    assert_string_equal(rq.texts[2].role, "tool_call");
    aigov_request_free(&rq);
}

static void
test_anthropic_requires_max_tokens(void **state)
{
    expect_fail(AIGOV_EP_MESSAGES,
        "{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}",
        AIGOV_REQ_BAD_SHAPE, "'max_tokens' is required");
    expect_fail(AIGOV_EP_MESSAGES,
        "{\"model\":\"c\",\"max_tokens\":null,\"messages\":[]}",
        AIGOV_REQ_BAD_SHAPE, "'max_tokens' is required");
}

static void
test_anthropic_bad_shapes(void **state)
{
    expect_fail(AIGOV_EP_MESSAGES,
        "{\"model\":\"c\",\"max_tokens\":1,\"system\":5,\"messages\":[]}",
        AIGOV_REQ_BAD_SHAPE, "'system' must be a string or an array");
    expect_fail(AIGOV_EP_MESSAGES,
        "{\"model\":\"c\",\"max_tokens\":1,\"system\":[{\"type\":\"text\"}],\"messages\":[]}",
        AIGOV_REQ_BAD_SHAPE, "'system[0].text' must be a string");
    expect_fail(AIGOV_EP_MESSAGES,
        "{\"model\":\"c\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\"}]}",
        AIGOV_REQ_BAD_SHAPE, "'messages[0].content' is required");
    expect_fail(AIGOV_EP_MESSAGES,
        "{\"model\":\"c\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":{}}]}",
        AIGOV_REQ_BAD_SHAPE, "'messages[0].content' must be a string or an array");
    expect_fail(AIGOV_EP_MESSAGES,
        "{\"model\":\"c\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":[7]}]}",
        AIGOV_REQ_BAD_SHAPE, "'messages[0].content[0]' must be an object");
    expect_fail(AIGOV_EP_MESSAGES,
        "{\"model\":\"c\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":["
        "{\"type\":\"tool_result\",\"content\":[{\"type\":\"text\",\"text\":1}]}]}]}",
        AIGOV_REQ_BAD_SHAPE, "'messages[0].content[0].content[0].text' must be a string");
}

static void
test_unicode(void **state)
{
    aigov_request_t rq;

    /* "héllo wörld 日本 😀": 16 characters in 25 bytes; one via \u escapes. */
    assert_int_equal(parse(&rq, AIGOV_EP_CHAT,
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
        "\"h\xc3\xa9llo w\xc3\xb6rld \xe6\x97\xa5\xe6\x9c\xac \\ud83d\\ude00\"}]}"),
        AIGOV_REQ_OK);
    assert_int_equal(rq.ntexts, 1);
    assert_int_equal(rq.texts[0].len, 25);
    assert_int_equal(rq.prompt_chars, 16);
    assert_memory_equal(rq.texts[0].text + 21, "\xf0\x9f\x98\x80", 4);
    assert_int_equal(aigov_request_prompt_tokens(&rq), 4);
    aigov_request_free(&rq);

    /* Invalid UTF-8 is not JSON. */
    expect_fail(AIGOV_EP_CHAT,
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"\xc3\x28\"}]}",
        AIGOV_REQ_BAD_JSON, "invalid JSON at line 1");
    /* A lone surrogate escape neither. */
    expect_fail(AIGOV_EP_CHAT,
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"\\ud800\"}]}",
        AIGOV_REQ_BAD_JSON, "invalid JSON");
}

static void
test_bad_json_truncated(void **state)
{
    expect_fail(AIGOV_EP_CHAT, "{\"model\":\"m\",\"messages\":[",
                AIGOV_REQ_BAD_JSON, "invalid JSON at line 1, column");
    expect_fail(AIGOV_EP_CHAT, "", AIGOV_REQ_BAD_JSON, "invalid JSON at line 1");
    expect_fail(AIGOV_EP_CHAT, "{\"model\":\"m\"", AIGOV_REQ_BAD_JSON,
                "invalid JSON");
    expect_fail(AIGOV_EP_CHAT, "{\"model\":\"m\"} trailing", AIGOV_REQ_BAD_JSON,
                "invalid JSON");
}

static void
test_bad_json_line_column(void **state)
{
    aigov_request_t rq;

    assert_int_equal(parse(&rq, AIGOV_EP_CHAT,
        "{\n  \"model\": \"m\",\n  \"messages\": tru\n}"), AIGOV_REQ_BAD_JSON);
    assert_non_null(strstr(err, "line 3, column"));
    assert_null(aigov_request_serialize(&rq, NULL));
    assert_int_equal(rq.ntexts, 0);
    aigov_request_free(&rq);
}

static void
test_not_an_object(void **state)
{
    expect_fail(AIGOV_EP_CHAT, "[1,2]", AIGOV_REQ_BAD_SHAPE,
                "must be a JSON object, not an array");
    expect_fail(AIGOV_EP_CHAT, "\"hi\"", AIGOV_REQ_BAD_SHAPE,
                "must be a JSON object, not a string");
    expect_fail(AIGOV_EP_CHAT, "null", AIGOV_REQ_BAD_SHAPE,
                "must be a JSON object");
}

static void
test_chat_wrong_types(void **state)
{
    expect_fail(AIGOV_EP_CHAT, "{\"model\":\"m\"}",
                AIGOV_REQ_BAD_SHAPE, "'messages' is required");
    expect_fail(AIGOV_EP_CHAT, "{\"model\":\"m\",\"messages\":{}}",
                AIGOV_REQ_BAD_SHAPE, "'messages' must be an array, not an object");
    expect_fail(AIGOV_EP_CHAT, "{\"messages\":[]}",
                AIGOV_REQ_BAD_SHAPE, "'model' is required");
    expect_fail(AIGOV_EP_CHAT, "{\"model\":42,\"messages\":[]}",
                AIGOV_REQ_BAD_SHAPE, "'model' must be a string, not an integer");
    expect_fail(AIGOV_EP_CHAT, "{\"model\":\"m\",\"messages\":[\"hi\"]}",
                AIGOV_REQ_BAD_SHAPE, "'messages[0]' must be an object");
    expect_fail(AIGOV_EP_CHAT, "{\"model\":\"m\",\"messages\":[{\"content\":\"x\"}]}",
                AIGOV_REQ_BAD_SHAPE, "'messages[0].role' must be a string");
    expect_fail(AIGOV_EP_CHAT,
                "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"},"
                "{\"role\":\"user\",\"content\":5}]}",
                AIGOV_REQ_BAD_SHAPE, "'messages[1].content' must be a string or an array");
    expect_fail(AIGOV_EP_CHAT,
                "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"x\"}]}]}",
                AIGOV_REQ_BAD_SHAPE, "'messages[0].content[0].type' must be a string");
    expect_fail(AIGOV_EP_CHAT,
                "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]}",
                AIGOV_REQ_BAD_SHAPE, "'messages[0].content[0].text' must be a string");
    expect_fail(AIGOV_EP_CHAT,
                "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[\"x\"]}]}",
                AIGOV_REQ_BAD_SHAPE, "'messages[0].content[0]' must be an object");
    expect_fail(AIGOV_EP_CHAT,
                "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"tool_calls\":{}}]}",
                AIGOV_REQ_BAD_SHAPE, "'messages[0].tool_calls' must be an array");
    expect_fail(AIGOV_EP_CHAT,
                "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"tool_calls\":"
                "[{\"function\":{\"arguments\":{}}}]}]}",
                AIGOV_REQ_BAD_SHAPE, "arguments' must be a string");
}

static void
test_stream_and_limits_wrong_types(void **state)
{
    expect_fail(AIGOV_EP_CHAT, "{\"model\":\"m\",\"stream\":\"yes\",\"messages\":[]}",
                AIGOV_REQ_BAD_SHAPE, "'stream' must be true or false, not a string");
    expect_fail(AIGOV_EP_CHAT, "{\"model\":\"m\",\"stream\":1,\"messages\":[]}",
                AIGOV_REQ_BAD_SHAPE, "'stream' must be true or false");
    expect_fail(AIGOV_EP_CHAT, "{\"model\":\"m\",\"max_tokens\":-1,\"messages\":[]}",
                AIGOV_REQ_BAD_SHAPE, "'max_tokens' must be a non-negative integer");
    expect_fail(AIGOV_EP_CHAT, "{\"model\":\"m\",\"max_tokens\":10.5,\"messages\":[]}",
                AIGOV_REQ_BAD_SHAPE, "'max_tokens' must be a non-negative integer");
    expect_fail(AIGOV_EP_CHAT, "{\"model\":\"m\",\"max_tokens\":1e3,\"messages\":[]}",
                AIGOV_REQ_BAD_SHAPE, "'max_tokens' must be a non-negative integer");
    expect_fail(AIGOV_EP_CHAT, "{\"model\":\"m\",\"max_tokens\":\"100\",\"messages\":[]}",
                AIGOV_REQ_BAD_SHAPE, "'max_tokens' must be a non-negative integer");
    expect_fail(AIGOV_EP_CHAT,
                "{\"model\":\"m\",\"max_completion_tokens\":true,\"messages\":[]}",
                AIGOV_REQ_BAD_SHAPE, "'max_completion_tokens' must be");
    expect_fail(AIGOV_EP_COMPLETIONS, "{\"model\":\"m\",\"prompt\":\"p\",\"max_tokens\":-5}",
                AIGOV_REQ_BAD_SHAPE, "'max_tokens' must be a non-negative integer");
}

static void
test_prompt_input_wrong_types(void **state)
{
    expect_fail(AIGOV_EP_COMPLETIONS, "{\"model\":\"m\"}",
                AIGOV_REQ_BAD_SHAPE, "'prompt' is required");
    expect_fail(AIGOV_EP_COMPLETIONS, "{\"model\":\"m\",\"prompt\":{}}",
                AIGOV_REQ_BAD_SHAPE, "'prompt' must be a string or an array");
    expect_fail(AIGOV_EP_COMPLETIONS, "{\"model\":\"m\",\"prompt\":[\"a\",null]}",
                AIGOV_REQ_BAD_SHAPE, "'prompt[1]' must be a string or a token id, not null");
    expect_fail(AIGOV_EP_COMPLETIONS, "{\"model\":\"m\",\"prompt\":[[1,\"x\"]]}",
                AIGOV_REQ_BAD_SHAPE, "'prompt[0][1]' must be a token id");
    expect_fail(AIGOV_EP_EMBEDDINGS, "{\"model\":\"m\"}",
                AIGOV_REQ_BAD_SHAPE, "'input' is required");
    expect_fail(AIGOV_EP_EMBEDDINGS, "{\"model\":\"m\",\"input\":12.5}",
                AIGOV_REQ_BAD_SHAPE, "'input' must be a string or an array");
    expect_fail(AIGOV_EP_EMBEDDINGS, "{\"model\":\"m\",\"input\":[{\"x\":1}]}",
                AIGOV_REQ_BAD_SHAPE, "'input[0]' must be a string or a token id, not an object");
}

static void
test_deep_nesting(void **state)
{
    size_t n = 100000, off;
    char  *b = malloc(2 * n + 64);
    aigov_request_t rq;

    assert_non_null(b);
    /* A 100000-level array inside a valid-looking request. */
    strcpy(b, "{\"model\":\"m\",\"messages\":[],\"x\":");
    off = strlen(b);
    memset(b + off, '[', n);
    memset(b + off + n, ']', n);
    strcpy(b + off + 2 * n, "}");
    assert_int_equal(aigov_request_parse(&rq, AIGOV_EP_CHAT, b, strlen(b),
                                         err, sizeof(err)), AIGOV_REQ_BAD_SHAPE);
    assert_non_null(strstr(err, "nested deeper than 128 levels"));
    aigov_request_free(&rq);
    free(b);

    /* Brackets inside strings do not count, real depth within the bound
     * passes. */
    assert_int_equal(parse(&rq, AIGOV_EP_CHAT,
        "{\"model\":\"[[[[{{{{\\\"[[[[\",\"messages\":[],\"x\":[[[[{\"a\":[[1]]}]]]]}"),
        AIGOV_REQ_OK);
    assert_string_equal(rq.model, "[[[[{{{{\"[[[[");
    aigov_request_free(&rq);
}

static void
test_depth_boundary(void **state)
{
    char b[600];
    size_t off, d;
    aigov_request_t rq;

    /* The root object is level 1: 127 more arrays are allowed, 128 not. */
    for (d = 127; d <= 128; d++) {
        strcpy(b, "{\"model\":\"m\",\"messages\":[],\"x\":");
        off = strlen(b);
        memset(b + off, '[', d);
        memset(b + off + d, ']', d);
        strcpy(b + off + 2 * d, "}");
        assert_int_equal(aigov_request_parse(&rq, AIGOV_EP_CHAT, b, strlen(b),
                                             err, sizeof(err)),
                         d == 127 ? AIGOV_REQ_OK : AIGOV_REQ_BAD_SHAPE);
        aigov_request_free(&rq);
    }
}

static void
test_huge_numbers(void **state)
{
    aigov_request_t rq;

    expect_fail(AIGOV_EP_CHAT,
        "{\"model\":\"m\",\"max_tokens\":99999999999999999999999,\"messages\":[]}",
        AIGOV_REQ_BAD_JSON, "too big integer");
    expect_fail(AIGOV_EP_CHAT,
        "{\"model\":\"m\",\"max_tokens\":1e400,\"messages\":[]}",
        AIGOV_REQ_BAD_JSON, "real number overflow");
    /* The largest 64-bit integer is a number the policy can compare. */
    assert_int_equal(parse(&rq, AIGOV_EP_CHAT,
        "{\"model\":\"m\",\"max_tokens\":9223372036854775807,\"messages\":[]}"),
        AIGOV_REQ_OK);
    assert_true(rq.max_tokens == 9223372036854775807LL);
    aigov_request_free(&rq);
}

static void
test_nul_bytes(void **state)
{
    static const char raw[] =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"a\0b\"}]}";
    aigov_request_t rq;

    /* Escaped NUL: texts are C strings, so a NUL would hide what follows. */
    expect_fail(AIGOV_EP_CHAT,
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"a\\u0000b\"}]}",
        AIGOV_REQ_BAD_JSON, "\\u0000 is not allowed");
    /* Raw NUL byte inside a string. */
    assert_int_equal(aigov_request_parse(&rq, AIGOV_EP_CHAT, raw, sizeof(raw) - 1,
                                         err, sizeof(err)), AIGOV_REQ_BAD_JSON);
    assert_non_null(strstr(err, "invalid JSON"));
    aigov_request_free(&rq);
    /* NUL after a complete object is trailing garbage, not an end. */
    assert_int_equal(aigov_request_parse(&rq, AIGOV_EP_CHAT,
                     "{\"model\":\"m\",\"messages\":[]}\0{}", 29, err, sizeof(err)),
                     AIGOV_REQ_BAD_JSON);
    aigov_request_free(&rq);
}

static void
test_duplicate_keys(void **state)
{
    /* A second "model" must not slip past the policy to the upstream. */
    expect_fail(AIGOV_EP_CHAT,
        "{\"model\":\"gpt-4o-mini\",\"messages\":[],\"model\":\"gpt-4o\"}",
        AIGOV_REQ_BAD_JSON, "duplicate object key");
    expect_fail(AIGOV_EP_MESSAGES,
        "{\"model\":\"c\",\"max_tokens\":1,\"max_tokens\":100000,\"messages\":[]}",
        AIGOV_REQ_BAD_JSON, "duplicate object key");
    expect_fail(AIGOV_EP_CHAT,
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"role\":\"system\",\"content\":\"x\"}]}",
        AIGOV_REQ_BAD_JSON, "duplicate");
}

static void
test_set_text_round_trip(void **state)
{
    aigov_request_t rq;
    char  *out;
    size_t len;

    assert_int_equal(parse(&rq, AIGOV_EP_CHAT,
        "{\"model\":\"gpt-4o\",\"temperature\":0.7,\"messages\":[{\"role\":\"user\","
        "\"content\":\"mail bob@example.com now\"}],\"top_p\":1.0,\"n\":1}"),
        AIGOV_REQ_OK);
    assert_int_equal(rq.prompt_chars, 24);
    assert_int_equal(aigov_request_set_text(&rq, 0, "mail [EMAIL] now", 16), 0);
    assert_int_equal(rq.modified, 1);
    assert_string_equal(rq.texts[0].text, "mail [EMAIL] now");
    assert_int_equal(rq.texts[0].len, 16);
    assert_int_equal(rq.prompt_chars, 16);
    out = aigov_request_serialize(&rq, &len);
    assert_non_null(out);
    /* Compact, key order kept, 0.7 stays 0.7. */
    assert_string_equal(out,
        "{\"model\":\"gpt-4o\",\"temperature\":0.7,\"messages\":[{\"role\":\"user\","
        "\"content\":\"mail [EMAIL] now\"}],\"top_p\":1.0,\"n\":1}");
    assert_int_equal(len, strlen(out));
    aigov_request_free(&rq);

    /* What was written parses back to the same texts. */
    assert_int_equal(aigov_request_parse(&rq, AIGOV_EP_CHAT, out, len, err,
                                         sizeof(err)), AIGOV_REQ_OK);
    assert_string_equal(rq.texts[0].text, "mail [EMAIL] now");
    aigov_request_free(&rq);
    free(out);
}

static void
test_set_text_parts_and_unicode(void **state)
{
    aigov_request_t rq;
    char *out;

    assert_int_equal(parse(&rq, AIGOV_EP_MESSAGES,
        "{\"model\":\"c\",\"max_tokens\":9,\"system\":[{\"type\":\"text\",\"text\":\"s\"}],"
        "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"x\"}]}]}"),
        AIGOV_REQ_OK);
    assert_int_equal(rq.ntexts, 2);
    assert_int_equal(aigov_request_set_text(&rq, 1, "\xe2\x96\x88\xe2\x96\x88\"q\"", 9), 0);
    assert_int_equal(rq.prompt_chars, 1 + 5);
    out = aigov_request_serialize(&rq, NULL);
    assert_string_equal(out,
        "{\"model\":\"c\",\"max_tokens\":9,\"system\":[{\"type\":\"text\",\"text\":\"s\"}],"
        "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":"
        "\"\xe2\x96\x88\xe2\x96\x88\\\"q\\\"\"}]}]}");
    free(out);
    /* Empty replacement is fine. */
    assert_int_equal(aigov_request_set_text(&rq, 0, "", 0), 0);
    assert_string_equal(rq.texts[0].text, "");
    aigov_request_free(&rq);
}

static void
test_set_text_rejects(void **state)
{
    aigov_request_t rq;

    assert_int_equal(parse(&rq, AIGOV_EP_COMPLETIONS,
        "{\"model\":\"m\",\"prompt\":\"abc\"}"), AIGOV_REQ_OK);
    assert_int_equal(aigov_request_set_text(&rq, 1, "x", 1), -1);
    assert_int_equal(aigov_request_set_text(&rq, 0, "a\0b", 3), -1);
    assert_int_equal(aigov_request_set_text(&rq, 0, "\xff", 1), -1);
    assert_int_equal(aigov_request_set_text(&rq, 0, NULL, 2), -1);
    /* Nothing changed by the refused calls. */
    assert_string_equal(rq.texts[0].text, "abc");
    assert_int_equal(rq.modified, 0);
    assert_int_equal(rq.prompt_chars, 3);
    aigov_request_free(&rq);
}

/* set_max_tokens: for each shape, which key it writes and where. */
static void
check_set_max(aigov_endpoint_t ep, const char *in, long long v, int rc,
              const char *want)
{
    aigov_request_t rq;
    char *out;

    assert_int_equal(parse(&rq, ep, in), AIGOV_REQ_OK);
    assert_int_equal(aigov_request_set_max_tokens(&rq, v), rc);
    out = aigov_request_serialize(&rq, NULL);
    assert_non_null(out);
    assert_string_equal(out, want);
    if (rc == 0) {
        assert_int_equal(rq.max_tokens, v);
        assert_int_equal(rq.modified, 1);
    }
    free(out);
    aigov_request_free(&rq);
}

static void
test_set_max_tokens_each_shape(void **state)
{
    /* chat: absent -> max_tokens appended */
    check_set_max(AIGOV_EP_CHAT, "{\"model\":\"m\",\"messages\":[]}", 256, 0,
                  "{\"model\":\"m\",\"messages\":[],\"max_tokens\":256}");
    /* chat: existing max_completion_tokens overwritten in place */
    check_set_max(AIGOV_EP_CHAT,
                  "{\"max_completion_tokens\":9999,\"model\":\"m\",\"messages\":[]}", 100, 0,
                  "{\"max_completion_tokens\":100,\"model\":\"m\",\"messages\":[]}");
    /* chat: null replaced where it stood */
    check_set_max(AIGOV_EP_CHAT,
                  "{\"model\":\"m\",\"max_tokens\":null,\"messages\":[]}", 5, 0,
                  "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[]}");
    /* completions */
    check_set_max(AIGOV_EP_COMPLETIONS, "{\"model\":\"m\",\"prompt\":\"p\",\"max_tokens\":16}",
                  8, 0, "{\"model\":\"m\",\"prompt\":\"p\",\"max_tokens\":8}");
    check_set_max(AIGOV_EP_COMPLETIONS, "{\"model\":\"m\",\"prompt\":\"p\"}",
                  8, 0, "{\"model\":\"m\",\"prompt\":\"p\",\"max_tokens\":8}");
    /* messages */
    check_set_max(AIGOV_EP_MESSAGES, "{\"model\":\"c\",\"max_tokens\":4096,\"messages\":[]}",
                  1024, 0, "{\"model\":\"c\",\"max_tokens\":1024,\"messages\":[]}");
    /* kinds without a token limit (embeddings, count_tokens, unknown): a
     * no-op, body and flags unchanged, never injected */
    {
        static const struct { aigov_endpoint_t ep; const char *body; long long mt; } none[] = {
            { AIGOV_EP_EMBEDDINGS, "{\"model\":\"e\",\"input\":\"x\"}", -1 },
            { AIGOV_EP_COUNT_TOKENS, "{\"model\":\"c\",\"messages\":[]}", -1 },
            { AIGOV_EP_UNKNOWN, " { } ", -1 },
            { AIGOV_EP_UNKNOWN, "{\"max_tokens\":7,\"input\":\"x\"}", 7 },
        };
        size_t i;

        for (i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
            aigov_request_t rq;
            char *out;

            assert_int_equal(parse(&rq, none[i].ep, none[i].body), AIGOV_REQ_OK);
            assert_null(rq.max_tokens_key);
            assert_int_equal(rq.max_tokens, none[i].mt);
            assert_int_equal(aigov_request_set_max_tokens(&rq, 10), 0);
            assert_int_equal(rq.modified, 0);
            assert_int_equal(rq.max_tokens, none[i].mt);
            out = aigov_request_serialize(&rq, NULL);
            assert_string_equal(out, none[i].body);
            free(out);
            aigov_request_free(&rq);
        }
    }
    /* negative refused */
    check_set_max(AIGOV_EP_CHAT, "{\"model\":\"m\",\"messages\":[]}", -3, -1,
                  "{\"model\":\"m\",\"messages\":[]}");
}

static void
test_models_no_body(void **state)
{
    aigov_request_t rq;
    size_t len = 7;

    assert_int_equal(aigov_request_parse(&rq, AIGOV_EP_MODELS, NULL, 0, err,
                                         sizeof(err)), AIGOV_REQ_OK);
    assert_null(rq.model);
    assert_int_equal(rq.ntexts, 0);
    assert_null(aigov_request_serialize(&rq, &len));
    assert_int_equal(len, 0);
    assert_int_equal(aigov_request_set_max_tokens(&rq, 5), -1);
    assert_int_equal(aigov_request_prompt_tokens(&rq), 0);
    aigov_request_free(&rq);
    /* A body-less chat request is not JSON. */
    assert_int_equal(aigov_request_parse(&rq, AIGOV_EP_CHAT, NULL, 0, err,
                                         sizeof(err)), AIGOV_REQ_BAD_JSON);
    aigov_request_free(&rq);
}

static void
test_unknown_endpoint(void **state)
{
    aigov_request_t rq;

    /* Read as far as recognisable; the model is optional there. */
    assert_int_equal(parse(&rq, AIGOV_EP_UNKNOWN,
        "{\"model\":\"m\",\"max_tokens\":3,\"whatever\":[1]}"), AIGOV_REQ_OK);
    assert_string_equal(rq.model, "m");
    assert_int_equal(rq.max_tokens, 3);
    assert_int_equal(rq.ntexts, 0);
    aigov_request_free(&rq);
    assert_int_equal(parse(&rq, AIGOV_EP_UNKNOWN, "{}"), AIGOV_REQ_OK);
    assert_null(rq.model);
    aigov_request_free(&rq);
}

static void
test_prompt_tokens(void **state)
{
    aigov_request_t rq;

    /* Empty text counts 1; 9 chars count 3. */
    assert_int_equal(parse(&rq, AIGOV_EP_COMPLETIONS,
        "{\"model\":\"m\",\"prompt\":[\"\",\"123456789\"]}"), AIGOV_REQ_OK);
    assert_int_equal(rq.prompt_chars, 9);
    assert_int_equal(aigov_request_prompt_tokens(&rq), 4);
    aigov_request_free(&rq);
    assert_int_equal(aigov_request_prompt_tokens(NULL), 0);
}

static void
test_too_many_texts(void **state)
{
    size_t n = AIGOV_REQ_MAX_TEXTS + 1, i, off;
    char  *b = malloc(n * 3 + 64);
    aigov_request_t rq;

    assert_non_null(b);
    strcpy(b, "{\"model\":\"e\",\"input\":[");
    off = strlen(b);
    for (i = 0; i < n; i++) {
        memcpy(b + off, i ? ",\"\"" : "\"\"", i ? 3 : 2);
        off += i ? 3 : 2;
    }
    strcpy(b + off, "]}");
    assert_int_equal(aigov_request_parse(&rq, AIGOV_EP_EMBEDDINGS, b, strlen(b),
                                         err, sizeof(err)), AIGOV_REQ_BAD_SHAPE);
    assert_non_null(strstr(err, "more than 100000 texts"));
    aigov_request_free(&rq);
    free(b);
}

static void
test_free_is_safe(void **state)
{
    aigov_request_t rq;

    /* After a failed parse, and twice. */
    assert_int_equal(parse(&rq, AIGOV_EP_CHAT, "{"), AIGOV_REQ_BAD_JSON);
    aigov_request_free(&rq);
    aigov_request_free(&rq);
    aigov_request_free(NULL);
    /* A tiny error buffer is truncated, not overrun. */
    {
        char small[8];
        assert_int_equal(aigov_request_parse(&rq, AIGOV_EP_CHAT, "[]", 2,
                                             small, sizeof(small)),
                         AIGOV_REQ_BAD_SHAPE);
        assert_int_equal(strlen(small), 7);
        aigov_request_free(&rq);
        assert_int_equal(aigov_request_parse(&rq, AIGOV_EP_CHAT, "[]", 2, NULL, 0),
                         AIGOV_REQ_BAD_SHAPE);
        aigov_request_free(&rq);
    }
}

static void
test_serialize_real_precision(void **state)
{
    aigov_request_t rq;
    char *out;
    json_t *root;

    /* A value that needs 17 digits keeps them all; short ones stay short.
     * (The body is spliced, not re-serialised: numbers keep their bytes.) */
    assert_int_equal(parse(&rq, AIGOV_EP_CHAT,
        "{\"model\":\"m\",\"messages\":[],\"a\":0.1,\"b\":0.30000000000000004,\"c\":-2.5e-300}"),
        AIGOV_REQ_OK);
    assert_int_equal(aigov_request_set_max_tokens(&rq, 7), 0);
    out = aigov_request_serialize(&rq, NULL);
    assert_non_null(out);
    aigov_request_free(&rq);
    assert_int_equal(parse(&rq, AIGOV_EP_CHAT, out), AIGOV_REQ_OK);
    aigov_request_free(&rq);
    root = json_loads(out, 0, NULL);
    assert_non_null(root);
    assert_true(json_real_value(json_object_get(root, "b")) == 0.30000000000000004);
    assert_true(json_real_value(json_object_get(root, "a")) == 0.1);
    assert_true(json_real_value(json_object_get(root, "c")) == -2.5e-300);
    json_decref(root);
    free(out);

    assert_int_equal(parse(&rq, AIGOV_EP_CHAT,
        "{\"model\":\"m\",\"messages\":[],\"temperature\":0.2,\"top_p\":0.95}"), AIGOV_REQ_OK);
    out = aigov_request_serialize(&rq, NULL);
    assert_string_equal(out, "{\"model\":\"m\",\"messages\":[],\"temperature\":0.2,\"top_p\":0.95}");
    free(out);
    aigov_request_free(&rq);
}

static void
test_whitespace_and_escapes(void **state)
{
    aigov_request_t rq;

    assert_int_equal(parse(&rq, AIGOV_EP_CHAT,
        " \r\n\t{ \"model\" : \"m\" , \"messages\" : [ { \"role\" : \"user\" , "
        "\"content\" : \"tab\\there\\nnew \\\"q\\\" \\u00e9\" } ] }\n"), AIGOV_REQ_OK);
    assert_string_equal(rq.texts[0].text, "tab\there\nnew \"q\" \xc3\xa9");
    assert_int_equal(rq.prompt_chars, 18);
    aigov_request_free(&rq);
}

/* ---- the scanner: splicing, strict grammar, and jansson as reference ---- */

static void
test_serialize_unmodified_identical(void **state)
{
    static const char body[] =
        "\r\n {\n  \"model\" : \"gpt-4o\",\n  \"temperature\": 1.50E+0,\n"
        "  \"messages\": [ {\"role\":\"user\", \"content\": \"caf\\u00e9 \\ud83d\\ude00 \xe6\x97\xa5\\/\"} ],\n"
        "  \"tools\": [{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\",\"properties\":{}}}}]\n}\n";
    aigov_request_t rq;
    char  *out;
    size_t len;

    assert_int_equal(parse(&rq, AIGOV_EP_CHAT, body), AIGOV_REQ_OK);
    assert_string_equal(rq.texts[0].text, "caf\xc3\xa9 \xf0\x9f\x98\x80 \xe6\x97\xa5/");
    out = aigov_request_serialize(&rq, &len);
    assert_int_equal(len, sizeof(body) - 1);
    assert_memory_equal(out, body, len);
    free(out);
    aigov_request_free(&rq);
}

static void
test_splice_escapes_and_order(void **state)
{
    aigov_request_t rq;
    char *out;

    /* "messages" before "system" in the body: texts come in body order,
     * and the splices land there. */
    assert_int_equal(parse(&rq, AIGOV_EP_MESSAGES,
        "{ \"messages\": [{\"role\":\"user\",\"content\":\"a\\u00e9\\n\\ud83d\\ude00\"}],"
        " \"system\" : \"s\\\"1\", \"model\":\"c\", \"max_tokens\" : 10 }"), AIGOV_REQ_OK);
    assert_int_equal(rq.ntexts, 2);
    assert_string_equal(rq.texts[1].role, "system");
    assert_string_equal(rq.texts[1].text, "s\"1");
    assert_string_equal(rq.texts[0].text, "a\xc3\xa9\n\xf0\x9f\x98\x80");
    assert_int_equal(rq.prompt_chars, 3 + 4);
    assert_int_equal(aigov_request_set_text(&rq, 0, "x\"\\\n\t\x01\x1f\xe6\x97\xa5", 10), 0);
    assert_int_equal(aigov_request_set_text(&rq, 1, "SYS", 3), 0);
    /* A second replacement of the same text wins. */
    assert_int_equal(aigov_request_set_text(&rq, 1, "S", 1), 0);
    assert_int_equal(rq.prompt_chars, 1 + 8);
    assert_int_equal(aigov_request_set_max_tokens(&rq, 7), 0);
    out = aigov_request_serialize(&rq, NULL);
    assert_string_equal(out,
        "{ \"messages\": [{\"role\":\"user\",\"content\":\"x\\\"\\\\\\n\\t\\u0001\\u001f\xe6\x97\xa5\"}],"
        " \"system\" : \"S\", \"model\":\"c\", \"max_tokens\" : 7 }");
    free(out);
    aigov_request_free(&rq);
}

static void
test_set_max_tokens_splices(void **state)
{
    /* Whitespace around the value is kept; null replaced where it stood. */
    check_set_max(AIGOV_EP_CHAT,
                  "{ \"model\":\"m\", \"max_tokens\" :  null , \"messages\":[] }", 5, 0,
                  "{ \"model\":\"m\", \"max_tokens\" :  5 , \"messages\":[] }");
    /* Absent: appended before the closing brace, after any whitespace. */
    check_set_max(AIGOV_EP_COMPLETIONS, "{\"model\":\"m\",\"prompt\":\"p\"\n}\n", 9, 0,
                  "{\"model\":\"m\",\"prompt\":\"p\"\n,\"max_tokens\":9}\n");
    /* An empty object takes the key without a comma (Responses: its own
     * key). */
    check_set_max(AIGOV_EP_RESPONSES, " { } ", 3, 0, " { \"max_output_tokens\":3} ");
    check_set_max(AIGOV_EP_RESPONSES, "{\"max_output_tokens\":null,\"max_tokens\":1}", 3, 0,
                  "{\"max_output_tokens\":3,\"max_tokens\":1}");
    /* max_completion_tokens only, max_tokens null: the former is set. */
    check_set_max(AIGOV_EP_CHAT,
                  "{\"model\":\"m\",\"max_tokens\":null,\"max_completion_tokens\":77,\"messages\":[]}",
                  8, 0,
                  "{\"model\":\"m\",\"max_tokens\":null,\"max_completion_tokens\":8,\"messages\":[]}");
    /* Both keys, in either order, get the value. */
    check_set_max(AIGOV_EP_CHAT,
                  "{\"max_completion_tokens\":1,\"model\":\"m\",\"messages\":[],\"max_tokens\":2}",
                  9223372036854775807LL, 0,
                  "{\"max_completion_tokens\":9223372036854775807,\"model\":\"m\","
                  "\"messages\":[],\"max_tokens\":9223372036854775807}");
    /* A key written with escapes is the same key, and is replaced. */
    check_set_max(AIGOV_EP_MESSAGES,
                  "{\"model\":\"c\",\"\\u006dax_tokens\":4096,\"messages\":[]}", 16, 0,
                  "{\"model\":\"c\",\"\\u006dax_tokens\":16,\"messages\":[]}");
    /* Completions carrying the chat key: it is overwritten too (as before). */
    check_set_max(AIGOV_EP_COMPLETIONS,
                  "{\"model\":\"m\",\"prompt\":\"p\",\"max_completion_tokens\":\"x\"}", 4, 0,
                  "{\"model\":\"m\",\"prompt\":\"p\",\"max_completion_tokens\":4}");
    /* Set twice: the last value, still one key. */
    {
        aigov_request_t rq;
        char *out;

        assert_int_equal(parse(&rq, AIGOV_EP_CHAT, "{\"model\":\"m\",\"messages\":[]}"),
                         AIGOV_REQ_OK);
        assert_int_equal(aigov_request_set_max_tokens(&rq, 100), 0);
        assert_int_equal(aigov_request_set_max_tokens(&rq, 50), 0);
        out = aigov_request_serialize(&rq, NULL);
        assert_string_equal(out, "{\"model\":\"m\",\"messages\":[],\"max_tokens\":50}");
        free(out);
        aigov_request_free(&rq);
    }
}

static void
test_strict_grammar(void **state)
{
    static const struct { const char *body, *want; } bad[] = {
        { "{\"model\":\"m\",\"messages\":[1,],\"x\":1}", "trailing comma before ']'" },
        { "{\"model\":\"m\",\"messages\":[],}", "trailing comma before '}'" },
        { "{\"model\":\"m\",\"messages\":[],\"x\":[,1]}", "a value expected" },
        { "{\"model\":\"m\",\"messages\":[],\"x\":01}", "leading zero" },
        { "{\"model\":\"m\",\"messages\":[],\"x\":-01}", "leading zero" },
        { "{\"model\":\"m\",\"messages\":[],\"x\":1.}", "invalid number" },
        { "{\"model\":\"m\",\"messages\":[],\"x\":.5}", "a value expected" },
        { "{\"model\":\"m\",\"messages\":[],\"x\":1e}", "invalid number" },
        { "{\"model\":\"m\",\"messages\":[],\"x\":1e+}", "invalid number" },
        { "{\"model\":\"m\",\"messages\":[],\"x\":+1}", "a value expected" },
        { "{\"model\":\"m\",\"messages\":[],\"x\":-}", "invalid number" },
        { "{\"model\":\"m\",\"messages\":[],\"x\":0x10}", "',' or '}' expected" },
        { "{\"model\":\"m\",\"messages\":[],\"x\":NaN}", "a value expected" },
        { "{\"model\":\"m\",\"messages\":[],\"x\":Infinity}", "a value expected" },
        { "{\"model\":\"m\",\"messages\":[],\"x\":-Infinity}", "invalid number" },
        { "{\"model\":\"m\",\"messages\":[],\"x\":nul}", "invalid token" },
        { "{\"model\":\"m\",\"messages\":[],\"x\":True}", "a value expected" },
        { "{\"model\":\"m\",\"messages\":[],\"x\":'s'}", "a value expected" },
        { "{\"model\":\"m\",\"messages\":[] /* c */}", "',' or '}' expected" },
        { "{model:\"m\"}", "string or '}' expected" },
        { "{\"model\" \"m\"}", "':' expected" },
        { "{\"model\":\"a\\x\"}", "invalid escape" },
        { "{\"model\":\"a\\u12\"}", "invalid \\u escape" },
        { "{\"model\":\"a\\u12g4\"}", "invalid \\u escape" },
        { "{\"model\":\"\\udc00\"}", "lone low surrogate" },
        { "{\"model\":\"\\ud800x\"}", "lone high surrogate" },
        { "{\"model\":\"\\ud800\\u0041\"}", "lone high surrogate" },
        { "{\"model\":\"\\ud800\\ud800\"}", "lone high surrogate" },
        { "{\"model\":\"\\u0000\"}", "\\u0000 is not allowed" },
        { "{\"model\":\"a\tb\"}", "control character 0x09" },
        { "{\"model\":\"a\nb\"}", "control character 0x0a" },
        { "{\"model\":\"a\x1f\"}", "control character 0x1f" },
        { "{\"model\":\"\xc0\x80\"}", "invalid UTF-8" },        /* overlong NUL */
        { "{\"model\":\"\xe0\x80\xaf\"}", "invalid UTF-8" },    /* overlong '/' */
        { "{\"model\":\"\xed\xa0\x80\"}", "invalid UTF-8" },    /* a surrogate */
        { "{\"model\":\"\xf4\x90\x80\x80\"}", "invalid UTF-8" },/* > U+10FFFF */
        { "{\"model\":\"\xf5\x80\x80\x80\"}", "invalid UTF-8" },
        { "{\"model\":\"\xe6\x97\"}", "invalid UTF-8" },        /* truncated */
        /* A bad sequence after good ones, in the same run of characters. */
        { "{\"model\":\"\xe6\x97\xa5\xc3\xa9\xed\xa0\x80\"}", "invalid UTF-8" },
        { "{\"model\":\"\xe6\x97\xa5\xe0\x9f\xbf\"}", "invalid UTF-8" },
        { "{\"model\":\"\x80\"}", "invalid UTF-8" },
        { "{\"model\":\"\xff\"}", "invalid UTF-8" },
        { "{\"model\":\"abc", "premature end of input" },
        { "{\"model\":\"abc\\", "premature end of input" },
        { "\xef\xbb\xbf{\"model\":\"m\",\"messages\":[]}", "a value expected" },
        { "{\"model\":\"m\",\"messages\":[]}}", "end of input expected" },
        { "{\"model\":\"m\",\"messages\":[],\"n\":99999999999999999999}", "too big integer" },
        { "{\"model\":\"m\",\"messages\":[],\"n\":-9223372036854775809}", "too big negative integer" },
        { "{\"model\":\"m\",\"messages\":[],\"n\":9223372036854775808}", "too big integer" },
        { "{\"model\":\"m\",\"messages\":[],\"n\":1.8e308}", "real number overflow" },
        { "{\"model\":\"m\",\"messages\":[],\"n\":-10e308}", "real number overflow" },
        { "{\"model\":\"m\",\"messages\":[],\"n\":0.00001e314}", "real number overflow" },
        { "{\"model\":\"m\",\"messages\":[],\"n\":1e99999999999999999999999}", "real number overflow" },
        /* Duplicates anywhere, compared unescaped. */
        { "{\"model\":\"m\",\"\\u006dodel\":\"x\",\"messages\":[]}", "duplicate object key" },
        { "{\"model\":\"m\",\"messages\":[],\"tools\":[{\"function\":{\"parameters\":"
          "{\"type\":\"object\",\"type\":\"string\"}}}]}", "duplicate object key" },
        { "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
          "\"text\":\"a\",\"t\\u0065xt\":\"b\"}]}]}", "duplicate object key" },
    };
    static const char *const good[] = {
        "{\"model\":\"m\",\"messages\":[],\"n\":-9223372036854775808,\"z\":-0,\"r\":-0.0e-0}",
        "{\"model\":\"m\",\"messages\":[],\"n\":1.7976931348623157e308,\"u\":1e-400}",
        "{\"model\":\"m\",\"messages\":[],\"n\":0.0000001e314,\"z\":0e99999999,\"e\":5E-3}",
        "{\"model\":\"\x7f \xc2\x80 \xef\xbf\xbf \xf4\x8f\xbf\xbf \\ud800\\udc00 \\uDBFF\\uDFFF \\/\"}",
        "{\"model\":\"m\",\"messages\":[],\"x\":[true,false,null,{},[],\"\",0,-1.5]}",
        " \t\r\n{\"model\":\"m\",\"messages\":[]} \t\r\n",
    };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *j = json_loads(bad[i].body, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);

        /* jansson agrees that none of these is JSON. */
        if (j != NULL)
            fprintf(stderr, "jansson reads %s\n", bad[i].body);
        assert_null(j);
        expect_fail(AIGOV_EP_UNKNOWN, bad[i].body, AIGOV_REQ_BAD_JSON, bad[i].want);
    }
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        aigov_request_t rq;
        aigov_req_status_t st = parse(&rq, AIGOV_EP_UNKNOWN, good[i]);

        if (st != AIGOV_REQ_OK)
            fprintf(stderr, "%s: %s\n", good[i], err);
        assert_int_equal(st, AIGOV_REQ_OK);
        aigov_request_free(&rq);
    }
}

static void
test_error_places(void **state)
{
    /* Line and column (in characters) of the offending byte. */
    expect_fail(AIGOV_EP_CHAT, "{\"model\":\"m\",\n \"messages\":[1,]}",
                AIGOV_REQ_BAD_JSON, "line 2, column 16: trailing comma");
    expect_fail(AIGOV_EP_CHAT, "{\"model\":\"\xc3\xa9\xc3\xa9\",\"x\":tru}",
                AIGOV_REQ_BAD_JSON, "line 1, column 19: invalid token");
    expect_fail(AIGOV_EP_CHAT, "{\"model\":\"m\"", AIGOV_REQ_BAD_JSON,
                "line 1, column 13: premature end of input");
}

static void
test_duplicates_in_large_objects(void **state)
{
    char   b[4096];
    size_t off, i;
    aigov_request_t rq;

    /* 40 keys: past the linear check, found by sorting; unique is fine. */
    for (i = 0; i < 2; i++) {
        int k;

        strcpy(b, "{\"model\":\"m\",\"messages\":[],\"tools\":[{\"parameters\":{");
        off = strlen(b);
        for (k = 0; k < 40; k++)
            off += (size_t) sprintf(b + off, "%s\"k%d\":%d", k ? "," : "", k, k);
        off += (size_t) sprintf(b + off, i ? ",\"k\\u0031\":1" : ",\"k40\":1");
        strcpy(b + off, "}}]}");
        assert_int_equal(parse(&rq, AIGOV_EP_CHAT, b),
                         i ? AIGOV_REQ_BAD_JSON : AIGOV_REQ_OK);
        if (i)
            assert_non_null(strstr(err, "duplicate object key"));
        aigov_request_free(&rq);
    }
}

/* ---- differential: jansson's reading, on a corpus and generated bodies --- */

typedef struct {
    char  *b;
    size_t len, cap;
    uint64_t rnd;
} gen_t;

static uint64_t
rnd(gen_t *g)
{
    g->rnd ^= g->rnd << 13;
    g->rnd ^= g->rnd >> 7;
    g->rnd ^= g->rnd << 17;
    return g->rnd;
}

static unsigned
pick(gen_t *g, unsigned n)
{
    return (unsigned) (rnd(g) % n);
}

static void
put(gen_t *g, const char *s, size_t n)
{
    if (g->len + n + 1 > g->cap) {
        g->cap = (g->len + n + 1) * 2;
        g->b = realloc(g->b, g->cap);
        assert_non_null(g->b);
    }
    memcpy(g->b + g->len, s, n);
    g->len += n;
    g->b[g->len] = '\0';
}

static void
PUTS(gen_t *g, const char *s)
{
    put(g, s, strlen(s));
}

static void
ws(gen_t *g)
{
    static const char *const w[] = { "", "", "", " ", "\n  ", "\t", "\r\n" };

    PUTS(g, w[pick(g, 7)]);
}

static void
gen_string(gen_t *g, const char *fixed)
{
    static const char *const pieces[] = {
        "hello", " ", "world", "\\n", "\\\"", "\\\\", "\\/", "\\t", "\\u00e9",
        "\\ud83d\\ude00", "\\u0041", "\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac",
        "\xf0\x9f\x98\x80", "bob@example.com", "[[{", "\\b\\f\\r", "0123456789",
        "The quick brown fox jumps over the lazy dog. ",
    };
    unsigned i, n;

    PUTS(g, "\"");
    if (fixed != NULL) {
        PUTS(g, fixed);
    } else {
        n = pick(g, 8);
        for (i = 0; i < n; i++)
            PUTS(g, pieces[pick(g, sizeof(pieces) / sizeof(pieces[0]))]);
    }
    PUTS(g, "\"");
}

static void gen_value(gen_t *g, int depth);

static void
gen_number(gen_t *g)
{
    static const char *const nums[] = {
        "0", "-0", "1", "42", "-7", "3.25", "0.5e-3", "1E+20", "-2.5e-300",
        "9223372036854775807", "-9223372036854775808", "1e308", "0.7", "123456789012",
    };

    PUTS(g, nums[pick(g, sizeof(nums) / sizeof(nums[0]))]);
}

static void
gen_value(gen_t *g, int depth)
{
    unsigned k = pick(g, depth > 3 ? 5 : 7), i, n;
    char key[16];

    switch (k) {
    case 0: gen_string(g, NULL); break;
    case 1: gen_number(g); break;
    case 2: PUTS(g, "true"); break;
    case 3: PUTS(g, "false"); break;
    case 4: PUTS(g, "null"); break;
    case 5:
        PUTS(g, "[");
        n = pick(g, 4);
        for (i = 0; i < n; i++) {
            if (i)
                PUTS(g, ",");
            ws(g);
            gen_value(g, depth + 1);
            ws(g);
        }
        PUTS(g, "]");
        break;
    default:
        PUTS(g, "{");
        n = pick(g, 4);
        {
            /* names the text walker knows, each at most once per object */
            static const char *const names[] = {
                "type", "role", "data", "url", "id", "x_id", "metadata",
                "input", "parameters", "properties", "text", "name",
                "content", "required", "enum", "refusal", "tool_calls",
                "function_call", "image_url", "t\\u0079pe", "file_data",
                "env", "media_type", "$ref", "dependentRequired", "x-note",
                "headers", "Authorization", "X-\\u0041pi-Key", "file_id",
                "source", "file_url", "variables",
            };
            unsigned base = pick(g, sizeof(names) / sizeof(names[0]));
            int named = pick(g, 2);

            for (i = 0; i < n; i++) {
                const char *nm = names[(base + i) % (sizeof(names) / sizeof(names[0]))];

                if (i)
                    PUTS(g, ",");
                ws(g);
                if (named) {
                    gen_string(g, nm);
                } else {
                    snprintf(key, sizeof(key), "\"k%u\"", i);
                    PUTS(g, key);
                }
                ws(g);
                PUTS(g, ":");
                if (named && strcmp(nm, "type") == 0 && pick(g, 2)) {
                    static const char *const types[] = {
                        "text", "tool_use", "function_call_output", "thinking",
                        "document", "x_call", "refusal", "message",
                        /* media, and an Anthropic source's */
                        "image", "input_image", "input_\\u0066ile", "input_audio",
                        "file", "base64", "url", "content",
                    };
                    gen_string(g, types[pick(g, sizeof(types) / sizeof(types[0]))]);
                } else if (named && (strcmp(nm, "url") == 0 || strcmp(nm, "file_data") == 0
                                     || strcmp(nm, "data") == 0) && pick(g, 2)) {
                    /* data: URLs of media and of text, readable or not */
                    static const char *const urls[] = {
                        "data:x", "\\u0064ata:y", "data:text/plain;base64,aGVsbG8gd29ybGQ=",
                        "DATA:application/json;base64,eyJhIjoxfQ", "data:;base64,w6k=",
                        "data:text/plain;base64,6Q==", "data:text/plain,hi",
                        "data:application/pdf;base64,aGk=", "data:image/png;base64,iVBORw0K",
                        "data:text\\/md;base64,aGk\\u003d", "aGVsbG8=", "data:text/csv;base64,a b",
                        "data: \\tAudio\\/wav;base64,UklG", "https://x/a.png",
                    };
                    gen_string(g, urls[pick(g, sizeof(urls) / sizeof(urls[0]))]);
                } else if (named && strcmp(nm, "media_type") == 0 && pick(g, 2)) {
                    static const char *const mts[] = {
                        "text/plain", "image/png", " audio/mpeg", "application/pdf",
                    };
                    gen_string(g, mts[pick(g, 4)]);
                } else {
                    gen_value(g, depth + 1);
                }
            }
            PUTS(g, "}");
            break;
        }
    }
}

/* Mostly what the endpoint takes, sometimes not quite. */
static void
gen_text_holder(gen_t *g, aigov_endpoint_t ep, int depth)
{
    static const char *const roles[] = { "user", "system", "assistant", "tool",
                                         "developer", "us\\u0065r" };
    unsigned i, n, j, m;

    switch (pick(g, 12)) {
    case 0:
        gen_value(g, depth);
        return;
    case 1:
        PUTS(g, "null");
        return;
    default:
        break;
    }
    if (ep == AIGOV_EP_COMPLETIONS || ep == AIGOV_EP_EMBEDDINGS
        || (ep == AIGOV_EP_RESPONSES && pick(g, 3) == 0)) {
        if (pick(g, 3) == 0) {
            gen_string(g, NULL);
            return;
        }
        PUTS(g, "[");
        n = pick(g, 5);
        for (i = 0; i < n; i++) {
            PUTS(g, i ? "," : "");
            switch (pick(g, 4)) {
            case 0: PUTS(g, "17"); break;
            case 1: PUTS(g, "[1,2,3]"); break;
            default: gen_string(g, NULL); break;
            }
        }
        PUTS(g, "]");
        return;
    }
    PUTS(g, "[");
    n = pick(g, 5);
    for (i = 0; i < n; i++) {
        PUTS(g, i ? "," : "");
        ws(g);
        PUTS(g, "{\"role\":");
        gen_string(g, roles[pick(g, 6)]);
        PUTS(g, ",");
        ws(g);
        if (pick(g, 8) == 0) {
            PUTS(g, "\"name\":\"x\"}");
            continue;
        }
        PUTS(g, pick(g, 5) ? "\"content\":" : "\"c\\u006fntent\":");
        switch (pick(g, 4)) {
        case 0:
            PUTS(g, "null");
            break;
        case 1:
            gen_string(g, NULL);
            break;
        default:
            PUTS(g, "[");
            m = pick(g, 4);
            for (j = 0; j < m; j++) {
                PUTS(g, j ? "," : "");
                switch (pick(g, 5)) {
                case 0:
                    PUTS(g, "{\"type\":\"image_url\",\"image_url\":{\"url\":\"u\"}}");
                    break;
                case 1:
                    PUTS(g, "{\"type\":\"tool_result\",\"content\":");
                    if (pick(g, 2))
                        gen_string(g, NULL);
                    else
                        PUTS(g, "[{\"type\":\"text\",\"text\":\"inner\"},{\"type\":\"tool_result\",\"content\":\"no\"}]");
                    PUTS(g, "}");
                    break;
                default:
                    PUTS(g, "{\"text\":");
                    gen_string(g, NULL);
                    PUTS(g, ",");
                    ws(g);
                    PUTS(g, "\"type\":\"text\"}");
                    break;
                }
            }
            PUTS(g, "]");
        }
        if (ep == AIGOV_EP_CHAT && pick(g, 3) == 0) {
            PUTS(g, ",\"tool_calls\":[{\"id\":\"c\",\"function\":{\"name\":\"f\",\"arguments\":");
            gen_string(g, NULL);
            PUTS(g, "}}]");
        }
        if (ep == AIGOV_EP_CHAT && pick(g, 6) == 0) {
            PUTS(g, ",\"function_call\":{\"arguments\":");
            gen_string(g, NULL);
            PUTS(g, "}");
        }
        PUTS(g, "}");
    }
    PUTS(g, "]");
}

static void
gen_request(gen_t *g, aigov_endpoint_t ep)
{
    const char *keys[16];
    unsigned nk = 0, i;

    keys[nk++] = "model";
    if (ep == AIGOV_EP_COMPLETIONS)
        keys[nk++] = "prompt";
    else if (ep == AIGOV_EP_EMBEDDINGS || ep == AIGOV_EP_RESPONSES)
        keys[nk++] = "input";
    else
        keys[nk++] = "messages";
    if ((ep == AIGOV_EP_MESSAGES || ep == AIGOV_EP_COUNT_TOKENS) && pick(g, 2))
        keys[nk++] = "system";
    if (ep == AIGOV_EP_RESPONSES && pick(g, 2))
        keys[nk++] = "instructions";
    if (pick(g, 4) == 0)
        keys[nk++] = pick(g, 2) ? "n" : "best_of";
    if (pick(g, 4) == 0)
        keys[nk++] = "stream_options";
    if (pick(g, 3) == 0)
        keys[nk++] = "tools";
    if (pick(g, 5) == 0)
        keys[nk++] = ep == AIGOV_EP_RESPONSES ? "max_output_tokens" : "metadata";
    if (pick(g, 3))
        keys[nk++] = "max_tokens";
    if (pick(g, 4) == 0)
        keys[nk++] = "max_completion_tokens";
    if (pick(g, 3) == 0)
        keys[nk++] = "stream";
    keys[nk++] = "extra";
    for (i = nk - 1; i > 0; i--) {      /* any key order */
        unsigned j = pick(g, i + 1);
        const char *t = keys[i];

        keys[i] = keys[j];
        keys[j] = t;
    }
    g->len = 0;
    ws(g);
    PUTS(g, "{");
    for (i = 0; i < nk; i++) {
        const char *k = keys[i];

        if (i)
            PUTS(g, ",");
        ws(g);
        gen_string(g, k);
        ws(g);
        PUTS(g, ":");
        ws(g);
        if (strcmp(k, "model") == 0) {
            if (pick(g, 20) == 0)
                gen_value(g, 1);
            else
                gen_string(g, pick(g, 2) ? "gpt-4o" : "claude-\\u00e9");
        } else if (strcmp(k, "n") == 0 || strcmp(k, "best_of") == 0) {
            static const char *const cnt[] = { "1", "3", "128", "129", "0", "null", "2.0", "\"2\"" };
            PUTS(g, cnt[pick(g, 8)]);
        } else if (strcmp(k, "stream_options") == 0) {
            static const char *const so[] = {
                "null", "{}", "{ }", "{\"include_usage\":true}", "{\"include_usage\":false}",
                "{\"x\":1}", "{\"include_usage\":null,\"y\":\"z\"}", "7",
                "{\"include_usage\":\"yes\"}",
            };
            PUTS(g, so[pick(g, 9)]);
        } else if (strcmp(k, "tools") == 0) {
            PUTS(g, "[{\"type\":\"function\",\"function\":{\"name\":");
            gen_string(g, NULL);
            PUTS(g, ",\"parameters\":{\"type\":\"object\",\"properties\":{\"type\":");
            gen_value(g, 2);
            PUTS(g, ",\"q\":{\"description\":");
            gen_string(g, NULL);
            PUTS(g, ",\"enum\":[");
            gen_string(g, NULL);
            PUTS(g, "]}},\"required\":[\"q\"]}}},{\"name\":\"g\",\"input_schema\":");
            gen_value(g, 1);
            PUTS(g, "}]");
        } else if (strcmp(k, "metadata") == 0) {
            gen_value(g, 1);
        } else if (strcmp(k, "instructions") == 0) {
            gen_string(g, NULL);
        } else if (strcmp(k, "max_tokens") == 0 || strcmp(k, "max_completion_tokens") == 0
                   || strcmp(k, "max_output_tokens") == 0) {
            static const char *const lim[] = { "256", "null", "0", "100000", "-1", "1.5", "\"9\"" };
            PUTS(g, lim[pick(g, 20) < 17 ? pick(g, 4) : 4 + pick(g, 3)]);
        } else if (strcmp(k, "stream") == 0) {
            PUTS(g, pick(g, 10) == 0 ? "1" : pick(g, 2) ? "true" : "null");
        } else if (strcmp(k, "extra") == 0) {
            gen_value(g, 0);
        } else if (strcmp(k, "system") == 0) {
            if (pick(g, 2))
                gen_string(g, NULL);
            else
                PUTS(g, "[{\"type\":\"text\",\"text\":\"rule\"},{\"type\":\"text\",\"text\":\"two\",\"cache_control\":{}}]");
        } else {
            gen_text_holder(g, ep, 1);
        }
        ws(g);
    }
    PUTS(g, "}");
    ws(g);
}

static void
check_ref(aigov_endpoint_t ep, const char *body, size_t len)
{
    char why[512];

    if (ref_check(ep, body, len, why, sizeof(why)) != 0) {
        fprintf(stderr, "endpoint %d, body (%zu bytes) %.*s\n  %s\n", ep, len,
                (int) (len > 600 ? 600 : len), body, why);
        fail();
    }
}

static void
test_differential_jansson(void **state)
{
    static const aigov_endpoint_t eps[] = {
        AIGOV_EP_UNKNOWN, AIGOV_EP_CHAT, AIGOV_EP_COMPLETIONS,
        AIGOV_EP_EMBEDDINGS, AIGOV_EP_MESSAGES, AIGOV_EP_MODELS,
        AIGOV_EP_RESPONSES, AIGOV_EP_COUNT_TOKENS
    };
    static const aigov_endpoint_t gen_eps[] = {
        AIGOV_EP_CHAT, AIGOV_EP_COMPLETIONS, AIGOV_EP_EMBEDDINGS,
        AIGOV_EP_MESSAGES, AIGOV_EP_RESPONSES, AIGOV_EP_COUNT_TOKENS
    };
    static const char *const corpus[] = {
        "fuzz/corpus/request/chat.json", "fuzz/corpus/request/completions.json",
        "fuzz/corpus/request/embeddings.json", "fuzz/corpus/request/messages.json",
        "fuzz/corpus/request/unknown.json", "fuzz/corpus/request/responses.json",
        "fuzz/corpus/request/count_tokens.json", "fuzz/corpus/request/chat-fields.json",
        "fuzz/corpus/request/messages-fields.json", "fuzz/corpus/request/media-chat.json",
        "fuzz/corpus/request/media-responses.json", "fuzz/corpus/request/media-messages.json",
    };
    static const char muts[] = "\"\\,]}{[:0-e.\x01\xc3\x80\xff nu1";
    gen_t  g = { NULL, 0, 0, 0x9E3779B97F4A7C15ULL };
    size_t i, e, valid = 0;
    int    round;

    /* The fuzz corpus: the first byte picks the endpoint, as there. */
    for (i = 0; i < sizeof(corpus) / sizeof(corpus[0]); i++) {
        char   buf[8192];
        FILE  *f = fopen(corpus[i], "rb");
        size_t n;

        assert_non_null(f);
        n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        assert_true(n > 1);
        check_ref(eps[(unsigned char) buf[0] % 8], buf + 1, n - 1);
        for (e = 0; e < 8; e++)
            check_ref(eps[e], buf + 1, n - 1);
    }

    /* Generated requests for each endpoint, and mutants of each. */
    for (round = 0; round < 3000; round++) {
        aigov_endpoint_t ep = gen_eps[round % 6];
        aigov_request_t  rq;
        int m;

        if (round % 10 == 9)
            ep = AIGOV_EP_UNKNOWN;
        gen_request(&g, ep);
        check_ref(ep, g.b, g.len);
        if (aigov_request_parse(&rq, ep, g.b, g.len, err, sizeof(err)) == AIGOV_REQ_OK)
            valid++;
        aigov_request_free(&rq);
        for (m = 0; m < 8; m++) {
            char  *b = malloc(g.len + 2);
            size_t at = pick(&g, (unsigned) g.len), n = g.len;

            assert_non_null(b);
            memcpy(b, g.b, g.len);
            switch (pick(&g, 3)) {
            case 0:
                b[at] = muts[pick(&g, sizeof(muts) - 1)];
                break;
            case 1:
                memmove(b + at, b + at + 1, n - at - 1);
                n--;
                break;
            default:
                memmove(b + at + 1, b + at, n - at);
                b[at] = muts[pick(&g, sizeof(muts) - 1)];
                n++;
                break;
            }
            check_ref(ep, b, n);
            free(b);
        }
    }
    /* The generator is not vacuous: most requests are read, some not. */
    assert_true(valid > 1000 && valid < 3000);
    free(g.b);
}

/* Tool descriptions reach the filters: a secret could ride there. */
static void test_tool_descriptions(void **state)
{
    aigov_request_t rq;
    char err[256], *out;
    size_t n;
    const char *chat =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\","
        "\"description\":\"uses key sk-abc\",\"parameters\":{}}},7,{\"type\":\"x\"}]}";
    const char *anth =
        "{\"model\":\"c\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
        "\"tools\":[{\"name\":\"g\",\"description\":\"find things\",\"input_schema\":{}}]}";

    (void) state;
    memset(&rq, 0, sizeof(rq));
    assert_int_equal(aigov_request_parse(&rq, AIGOV_EP_CHAT, chat, strlen(chat), err, sizeof(err)),
                     AIGOV_REQ_OK);
    /* hi, the tool's name, its description */
    assert_int_equal(rq.ntexts, 3);
    assert_string_equal(rq.texts[1].role, "tool_definition");
    assert_string_equal(rq.texts[1].text, "f");
    assert_string_equal(rq.texts[2].role, "tool_definition");
    assert_string_equal(rq.texts[2].text, "uses key sk-abc");
    assert_int_equal(aigov_request_set_text(&rq, 2, "uses key [REDACTED]", 19), 0);
    out = aigov_request_serialize(&rq, &n);
    assert_non_null(out);
    assert_non_null(strstr(out, "\"description\":\"uses key [REDACTED]\""));
    free(out);
    aigov_request_free(&rq);

    memset(&rq, 0, sizeof(rq));
    assert_int_equal(aigov_request_parse(&rq, AIGOV_EP_MESSAGES, anth, strlen(anth), err, sizeof(err)),
                     AIGOV_REQ_OK);
    assert_int_equal(rq.ntexts, 3);
    assert_string_equal(rq.texts[1].text, "g");
    assert_string_equal(rq.texts[2].text, "find things");
    aigov_request_free(&rq);
}

/* ---- inspect by default: one case per field ------------------------------ */

/* Bodies are written with ' for " (none of them needs a '), and the one
 * place the case is about holds the marker SECRET. */
static char *
q(const char *s)
{
    char *d = strdup(s), *p;

    assert_non_null(d);
    for (p = d; *p; p++) {
        if (*p == '\'')
            *p = '"';
    }
    return d;
}

typedef struct {
    aigov_endpoint_t ep;
    const char      *label;     /* the text's role; NULL: SECRET is no text */
    const char      *body;
} field_case_t;

static const field_case_t field_cases[] = {
    /* OpenAI chat */
    { AIGOV_EP_CHAT, "user", "{'model':'m','messages':[{'role':'user','content':'a SECRET'}]}" },
    { AIGOV_EP_CHAT, "user", "{'model':'m','messages':[{'role':'user','content':[{'type':'text','text':'SECRET'}]}]}" },
    { AIGOV_EP_CHAT, "name", "{'model':'m','messages':[{'role':'user','name':'SECRET','content':'hi'}]}" },
    { AIGOV_EP_CHAT, "refusal", "{'model':'m','messages':[{'role':'assistant','content':[{'type':'refusal','refusal':'SECRET'}]}]}" },
    { AIGOV_EP_CHAT, "refusal", "{'model':'m','messages':[{'role':'assistant','content':null,'refusal':'SECRET'}]}" },
    { AIGOV_EP_CHAT, "tool_call", "{'model':'m','messages':[{'role':'assistant','tool_calls':[{'id':'c','type':'function','function':{'name':'SECRET','arguments':'{}'}}]}]}" },
    { AIGOV_EP_CHAT, "tool_call", "{'model':'m','messages':[{'role':'assistant','tool_calls':[{'id':'c','type':'function','function':{'name':'f','arguments':'{\\'q\\':\\'SECRET\\'}'}}]}]}" },
    { AIGOV_EP_CHAT, "tool_call", "{'model':'m','messages':[{'role':'assistant','function_call':{'name':'f','arguments':'SECRET'}}]}" },
    { AIGOV_EP_CHAT, "tool", "{'model':'m','messages':[{'role':'tool','tool_call_id':'c','content':'SECRET'}]}" },
    { AIGOV_EP_CHAT, "thinking", "{'model':'m','messages':[{'role':'assistant','content':'a','reasoning_content':'SECRET'}]}" },
    { AIGOV_EP_CHAT, "user", "{'model':'m','messages':[{'role':'user','content':'a','new_message_field':'SECRET'}]}" },
    { AIGOV_EP_CHAT, "user", "{'model':'m','messages':[{'role':'user','content':[{'type':'text','text':'a','new_part_field':{'deep':['SECRET']}}]}]}" },
    { AIGOV_EP_CHAT, "url", "{'model':'m','messages':[{'role':'user','content':[{'type':'image_url','image_url':{'url':'https://x/SECRET.png','detail':'low'}}]}]}" },
    { AIGOV_EP_CHAT, "user", "{'model':'m','messages':[{'role':'user','content':[{'type':'file','file':{'file_id':'f','filename':'SECRET.pdf'}}]}]}" },
    { AIGOV_EP_CHAT, "prediction", "{'model':'m','messages':[],'prediction':{'type':'content','content':'SECRET'}}" },
    { AIGOV_EP_CHAT, "prediction", "{'model':'m','messages':[],'prediction':{'type':'content','content':[{'type':'text','text':'SECRET'}]}}" },
    { AIGOV_EP_CHAT, "tool_definition", "{'model':'m','messages':[],'tools':[{'type':'function','function':{'name':'SECRET','parameters':{}}}]}" },
    { AIGOV_EP_CHAT, "tool_definition", "{'model':'m','messages':[],'tools':[{'type':'function','function':{'name':'f','description':'SECRET'}}]}" },
    { AIGOV_EP_CHAT, "tool_definition", "{'model':'m','messages':[],'tools':[{'type':'function','function':{'name':'f','parameters':{'type':'object','properties':{'a':{'type':'string','description':'SECRET'}}}}}]}" },
    { AIGOV_EP_CHAT, "tool_definition", "{'model':'m','messages':[],'tools':[{'type':'function','function':{'name':'f','parameters':{'type':'object','properties':{'a':{'type':'string','enum':['x','SECRET']}}}}}]}" },
    /* a property named like a keyword is still a property */
    { AIGOV_EP_CHAT, "tool_definition", "{'model':'m','messages':[],'tools':[{'type':'function','function':{'name':'f','parameters':{'type':'object','properties':{'type':{'type':'string','description':'SECRET'},'required':{'title':'t'}}}}}]}" },
    { AIGOV_EP_CHAT, "tool_definition", "{'model':'m','messages':[],'tools':[{'type':'function','function':{'name':'f','parameters':{'$defs':{'d':{'items':{'pattern':'SECRET'}}},'anyOf':[{'default':'x'}]}}}]}" },
    { AIGOV_EP_CHAT, "tool_definition", "{'model':'m','messages':[],'tools':[{'type':'function','function':{'name':'f','parameters':{'properties':{'a':{'const':'SECRET'}}}}}]}" },
    /* names the schema defines and refers to are texts: the model reads
     * them (and a masked name is masked where it is required too) */
    { AIGOV_EP_CHAT, "tool_definition", "{'model':'m','messages':[],'tools':[{'type':'function','function':{'name':'f','parameters':{'type':'object','properties':{'a SECRET':{'type':'string'}}}}}]}" },
    { AIGOV_EP_CHAT, "tool_definition", "{'model':'m','messages':[],'tools':[{'type':'function','function':{'name':'f','parameters':{'type':'object','properties':{'a':{}},'required':['SECRET']}}}]}" },
    { AIGOV_EP_CHAT, "tool_definition", "{'model':'m','messages':[],'tools':[{'type':'function','function':{'name':'f','parameters':{'patternProperties':{'^SECRET$':{}}}}}]}" },
    { AIGOV_EP_CHAT, "tool_definition", "{'model':'m','messages':[],'tools':[{'type':'function','function':{'name':'f','parameters':{'$defs':{'SECRET':{'type':'string'}},'properties':{'a':{'$ref':'#/$defs/x'}}}}}]}" },
    { AIGOV_EP_CHAT, "tool_definition", "{'model':'m','messages':[],'tools':[{'type':'function','function':{'name':'f','parameters':{'properties':{'a':{'$ref':'#/$defs/SECRET'}}}}}]}" },
    { AIGOV_EP_CHAT, "tool_definition", "{'model':'m','messages':[],'tools':[{'type':'function','function':{'name':'f','parameters':{'dependentRequired':{'SECRET':['a']}}}}]}" },
    { AIGOV_EP_CHAT, "tool_definition", "{'model':'m','messages':[],'tools':[{'type':'function','function':{'name':'f','parameters':{'dependentRequired':{'a':['SECRET']}}}}]}" },
    { AIGOV_EP_CHAT, "tool_definition", "{'model':'m','messages':[],'tools':[{'type':'function','function':{'name':'f','parameters':{'dependencies':{'SECRET':{'required':['b']}}}}}]}" },
    /* a key that is no keyword is a name the client chose, and what it
     * holds is free-form */
    { AIGOV_EP_CHAT, "tool_definition", "{'model':'m','messages':[],'tools':[{'type':'function','function':{'name':'f','parameters':{'x-SECRET':true}}}]}" },
    { AIGOV_EP_CHAT, "tool_definition", "{'model':'m','messages':[],'tools':[{'type':'function','function':{'name':'f','parameters':{'x-meta':{'type':'SECRET'}}}}]}" },
    { AIGOV_EP_CHAT, "schema", "{'model':'m','messages':[],'response_format':{'type':'json_schema','json_schema':{'name':'n','schema':{'type':'object','properties':{'SECRET':{'type':'string'}}}}}}" },
    { AIGOV_EP_CHAT, "tool_definition", "{'model':'m','messages':[],'tools':[{'type':'function','function':{'name':'f','parameters':{'properties':{'a':{'default':{'SECRET':1}}}}}}]}" },
    { AIGOV_EP_CHAT, "tool_definition", "{'model':'m','messages':[],'functions':[{'name':'f','description':'SECRET'}]}" },
    { AIGOV_EP_CHAT, "schema", "{'model':'m','messages':[],'response_format':{'type':'json_schema','json_schema':{'name':'n','description':'SECRET','schema':{}}}}" },
    { AIGOV_EP_CHAT, "schema", "{'model':'m','messages':[],'response_format':{'type':'json_schema','json_schema':{'name':'n','schema':{'properties':{'x':{'description':'SECRET'}}}}}}" },
    { AIGOV_EP_CHAT, "metadata", "{'model':'m','messages':[],'user':'SECRET'}" },
    { AIGOV_EP_CHAT, "metadata", "{'model':'m','messages':[],'metadata':{'type':'SECRET'}}" },
    { AIGOV_EP_CHAT, "metadata", "{'model':'m','messages':[],'metadata':{'SECRET':'v'}}" },
    { AIGOV_EP_CHAT, "stop", "{'model':'m','messages':[],'stop':['x','SECRET']}" },
    { AIGOV_EP_CHAT, "other", "{'model':'m','messages':[],'a_field_added_next_year':'SECRET'}" },
    { AIGOV_EP_CHAT, "other", "{'model':'m','messages':[],'web_search_options':{'user_location':{'type':'approximate','approximate':{'city':'SECRET'}}}}" },
    /* nothing hides under a control name: objects under it are walked */
    { AIGOV_EP_CHAT, "other", "{'model':'m','messages':[],'tool_choice':{'type':'function','function':{'name':'SECRET'}}}" },
    { AIGOV_EP_CHAT, "user", "{'model':'m','messages':[{'role':'user','content':'a','id':[{'note':'SECRET'}]}]}" },
    /* an escaped key that is no control name is text */
    { AIGOV_EP_CHAT, "user", "{'model':'m','messages':[{'role':'user','content':'a','\\u0074ypes':'SECRET'}]}" },
    /* a data: URL is media, but only when it starts with data: */
    { AIGOV_EP_CHAT, "url", "{'model':'m','messages':[{'role':'user','content':[{'type':'image_url','image_url':{'url':'dat:SECRET'}}]}]}" },
    /* OpenAI completions and embeddings */
    { AIGOV_EP_COMPLETIONS, "prompt", "{'model':'m','prompt':'SECRET'}" },
    { AIGOV_EP_COMPLETIONS, "prompt", "{'model':'m','prompt':['a',[1,2],'SECRET']}" },
    { AIGOV_EP_COMPLETIONS, "suffix", "{'model':'m','prompt':'a','suffix':'SECRET'}" },
    { AIGOV_EP_COMPLETIONS, "metadata", "{'model':'m','prompt':'a','user':'SECRET'}" },
    { AIGOV_EP_EMBEDDINGS, "input", "{'model':'m','input':'SECRET'}" },
    { AIGOV_EP_EMBEDDINGS, "input", "{'model':'m','input':['a','SECRET']}" },
    { AIGOV_EP_EMBEDDINGS, "metadata", "{'model':'m','input':'a','user':'SECRET'}" },
    /* Anthropic messages */
    { AIGOV_EP_MESSAGES, "system", "{'model':'c','max_tokens':5,'system':'SECRET','messages':[]}" },
    { AIGOV_EP_MESSAGES, "system", "{'model':'c','max_tokens':5,'system':[{'type':'text','text':'SECRET','cache_control':{'type':'ephemeral'}}],'messages':[]}" },
    { AIGOV_EP_MESSAGES, "document", "{'model':'c','max_tokens':5,'messages':[{'role':'user','content':[{'type':'document','source':{'type':'text','media_type':'text/plain','data':'SECRET'}}]}]}" },
    { AIGOV_EP_MESSAGES, "document", "{'model':'c','max_tokens':5,'messages':[{'role':'user','content':[{'type':'document','source':{'type':'content','content':[{'type':'text','text':'SECRET'}]}}]}]}" },
    { AIGOV_EP_MESSAGES, "document", "{'model':'c','max_tokens':5,'messages':[{'role':'user','content':[{'type':'document','source':{'type':'url','url':'https://x/y.pdf'},'title':'SECRET','context':'c'}]}]}" },
    { AIGOV_EP_MESSAGES, "document", "{'model':'c','max_tokens':5,'messages':[{'role':'user','content':[{'type':'search_result','source':'s','title':'t','content':[{'type':'text','text':'SECRET'}]}]}]}" },
    { AIGOV_EP_MESSAGES, "tool_call", "{'model':'c','max_tokens':5,'messages':[{'role':'assistant','content':[{'type':'tool_use','id':'t','name':'f','input':{'q':'SECRET'}}]}]}" },
    /* a tool's input is free-form: control names inside it are data */
    { AIGOV_EP_MESSAGES, "tool_call", "{'model':'c','max_tokens':5,'messages':[{'role':'assistant','content':[{'type':'tool_use','id':'t','name':'f','input':{'a':[{'type':'SECRET'}]}}]}]}" },
    { AIGOV_EP_MESSAGES, "tool_call", "{'model':'c','max_tokens':5,'messages':[{'role':'assistant','content':[{'type':'tool_use','id':'t','name':'SECRET','input':{}}]}]}" },
    { AIGOV_EP_MESSAGES, "tool_call", "{'model':'c','max_tokens':5,'messages':[{'role':'assistant','content':[{'type':'tool_use','id':'t','name':'f','input':{'a SECRET':1}}]}]}" },
    { AIGOV_EP_MESSAGES, "tool_call", "{'model':'c','max_tokens':5,'messages':[{'role':'assistant','content':[{'type':'tool_use','id':'t','name':'f','input':{'a':{'SECRET':[true]}}}]}]}" },
    { AIGOV_EP_MESSAGES, "tool_definition", "{'model':'c','max_tokens':5,'messages':[],'tools':[{'name':'f','input_schema':{},'input_examples':[{'q':{'summary':'SECRET'}}]}]}" },
    { AIGOV_EP_MESSAGES, "tool_definition", "{'model':'c','max_tokens':5,'messages':[],'tools':[{'name':'f','input_schema':{},'input_examples':[{'SECRET':1}]}]}" },
    { AIGOV_EP_MESSAGES, "thinking", "{'model':'c','max_tokens':5,'messages':[{'role':'assistant','content':[{'type':'thinking','thinking':'SECRET','signature':'s'}]}]}" },
    { AIGOV_EP_MESSAGES, "tool", "{'model':'c','max_tokens':5,'messages':[{'role':'user','content':[{'type':'tool_result','tool_use_id':'t','content':'SECRET'}]}]}" },
    { AIGOV_EP_MESSAGES, "document", "{'model':'c','max_tokens':5,'messages':[{'role':'user','content':[{'type':'tool_result','tool_use_id':'t','content':[{'type':'document','source':{'type':'text','media_type':'text/plain','data':'SECRET'}}]}]}]}" },
    { AIGOV_EP_MESSAGES, "tool_definition", "{'model':'c','max_tokens':5,'messages':[],'tools':[{'name':'f','description':'d','input_schema':{'type':'object','properties':{'q':{'description':'SECRET'}}}}]}" },
    { AIGOV_EP_MESSAGES, "tool_definition", "{'model':'c','max_tokens':5,'messages':[],'tools':[{'name':'f','description':'SECRET','input_schema':{}}]}" },
    { AIGOV_EP_MESSAGES, "metadata", "{'model':'c','max_tokens':5,'messages':[],'metadata':{'user_id':'SECRET'}}" },
    { AIGOV_EP_MESSAGES, "stop", "{'model':'c','max_tokens':5,'messages':[],'stop_sequences':['SECRET']}" },
    { AIGOV_EP_MESSAGES, "user", "{'model':'c','max_tokens':5,'messages':[{'role':'user','content':[{'type':'text','text':'a','citations':[{'type':'char_location','cited_text':'SECRET'}]}]}]}" },
    { AIGOV_EP_MESSAGES, "url", "{'model':'c','max_tokens':5,'messages':[{'role':'user','content':[{'type':'image','source':{'type':'url','url':'https://SECRET/x.png'}}]}]}" },
    { AIGOV_EP_COUNT_TOKENS, "user", "{'model':'c','messages':[{'role':'user','content':'SECRET'}]}" },
    { AIGOV_EP_COUNT_TOKENS, "system", "{'model':'c','system':'SECRET','messages':[]}" },
    { AIGOV_EP_COUNT_TOKENS, "tool_definition", "{'model':'c','messages':[],'tools':[{'name':'f','input_schema':{'properties':{'a':{'description':'SECRET'}}}}]}" },
    { AIGOV_EP_MESSAGES, "document", "{'model':'c','max_tokens':5,'messages':[{'role':'user','content':[{'type':'search_result','source':'SECRET','title':'t','content':[{'type':'text','text':'x'}],'citations':{'enabled':true}}]}]}" },
    { AIGOV_EP_MESSAGES, "document", "{'model':'c','max_tokens':5,'messages':[{'role':'user','content':[{'type':'search_result','source':'s','title':'SECRET','content':[{'type':'text','text':'x'}]}]}]}" },
    { AIGOV_EP_MESSAGES, "tool", "{'model':'c','max_tokens':5,'messages':[{'role':'user','content':[{'type':'tool_result','tool_use_id':'t','content':[{'type':'text','text':'SECRET'}]}]}]}" },
    { AIGOV_EP_MESSAGES, "document", "{'model':'c','max_tokens':5,'messages':[{'role':'user','content':[{'type':'tool_result','tool_use_id':'t','content':[{'type':'search_result','source':'s','title':'t','content':[{'type':'text','text':'SECRET'}]}]}]}]}" },
    { AIGOV_EP_MESSAGES, "document", "{'model':'c','max_tokens':5,'messages':[{'role':'user','content':[{'type':'document','source':{'type':'content','content':[{'type':'text','text':'x'}]},'title':'SECRET','citations':{'enabled':true}}]}]}" },
    { AIGOV_EP_MESSAGES, "tool_definition", "{'model':'c','max_tokens':5,'messages':[],'mcp_servers':[{'type':'url','url':'https://x','name':'s','tool_configuration':{'enabled':true,'allowed_tools':['SECRET']}}]}" },
    { AIGOV_EP_MESSAGES, "tool_definition", "{'model':'c','max_tokens':5,'messages':[],'mcp_servers':[{'type':'url','url':'https://x','name':'SECRET'}]}" },
    { AIGOV_EP_MESSAGES, NULL, "{'model':'c','max_tokens':5,'messages':[{'role':'user','content':[{'type':'container_upload','file_id':'SECRET'}]}]}" },
    /* credentials for an MCP server, which the model never reads */
    { AIGOV_EP_MESSAGES, NULL, "{'model':'c','max_tokens':5,'messages':[],'mcp_servers':[{'type':'url','url':'https://x','name':'s','authorization_token':'SECRET'}]}" },
    { AIGOV_EP_RESPONSES, NULL, "{'model':'m','input':'a','tools':[{'type':'mcp','server_label':'s','server_url':'https://x','authorization':'SECRET'}]}" },
    /* and a credential header's value, whatever the name's case */
    { AIGOV_EP_RESPONSES, NULL, "{'model':'m','input':'a','tools':[{'type':'mcp','server_label':'s','server_url':'https://x','headers':{'Authorization':'Bearer SECRET'}}]}" },
    { AIGOV_EP_RESPONSES, NULL, "{'model':'m','input':'a','tools':[{'type':'mcp','server_label':'s','server_url':'https://x','headers':{'authorization':'Bearer SECRET','AUTHORIZATION':'Bearer SECRET'}}]}" },
    { AIGOV_EP_RESPONSES, NULL, "{'model':'m','input':'a','tools':[{'type':'mcp','server_label':'s','server_url':'https://x','headers':{'Proxy-Authorization':'Basic SECRET','Cookie':'sid=SECRET','X-Auth-Token':'SECRET'}}]}" },
    { AIGOV_EP_RESPONSES, NULL, "{'model':'m','input':'a','tools':[{'type':'mcp','server_label':'s','server_url':'https://x','headers':{'x-api-key':'SECRET','Api-Key':'SECRET','X-APIKEY':'SECRET','x_api_key':'SECRET','Ocp-Apim-Subscription-Key':'SECRET'}}]}" },
    { AIGOV_EP_RESPONSES, NULL, "{'model':'m','input':'a','tools':[{'type':'mcp','server_label':'s','server_url':'https://x','headers':{'X-Client-Secret':'SECRET','PRIVATE-TOKEN':'SECRET','\\u0041uthorization':'Bearer SECRET'}}]}" },
    { AIGOV_EP_CHAT, NULL, "{'model':'m','messages':[],'headers':{'Authorization':'Bearer SECRET'}}" },
    /* OpenAI Responses */
    { AIGOV_EP_RESPONSES, "instructions", "{'model':'m','instructions':'SECRET','input':'hi'}" },
    { AIGOV_EP_RESPONSES, "user", "{'model':'m','input':'SECRET'}" },
    { AIGOV_EP_RESPONSES, "user", "{'model':'m','input':[{'role':'user','content':'SECRET'}]}" },
    { AIGOV_EP_RESPONSES, "developer", "{'model':'m','input':[{'type':'message','role':'developer','content':[{'type':'input_text','text':'SECRET'}]}]}" },
    { AIGOV_EP_RESPONSES, "assistant", "{'model':'m','input':[{'type':'message','role':'assistant','id':'msg_1','status':'completed','content':[{'type':'output_text','text':'SECRET','annotations':[]}]}]}" },
    { AIGOV_EP_RESPONSES, "tool_call", "{'model':'m','input':[{'type':'function_call','call_id':'c','name':'f','arguments':'{\\'a\\':\\'SECRET\\'}'}]}" },
    /* a tool search call's arguments object: the model wrote every key */
    { AIGOV_EP_RESPONSES, "tool_call", "{'model':'m','input':[{'type':'tool_search_call','call_id':'c','execution':'client','arguments':{'type':'SECRET'}}]}" },
    { AIGOV_EP_RESPONSES, "tool_call", "{'model':'m','input':[{'type':'tool_search_call','call_id':'c','execution':'client','arguments':{'topic_id':'SECRET'}}]}" },
    { AIGOV_EP_RESPONSES, "tool_call", "{'model':'m','input':[{'type':'tool_search_call','call_id':'c','execution':'client','arguments':{'data':'SECRET'}}]}" },
    { AIGOV_EP_RESPONSES, "tool_call", "{'model':'m','input':[{'type':'tool_search_call','call_id':'c','execution':'client','arguments':{'SECRET':1}}]}" },
    { AIGOV_EP_RESPONSES, "tool", "{'model':'m','input':[{'type':'function_call_output','call_id':'c','output':'SECRET'}]}" },
    { AIGOV_EP_RESPONSES, "thinking", "{'model':'m','input':[{'type':'reasoning','id':'rs','summary':[{'type':'summary_text','text':'SECRET'}],'encrypted_content':'e'}]}" },
    { AIGOV_EP_RESPONSES, "user", "{'model':'m','input':[{'role':'user','content':[{'type':'input_file','file_id':'f','filename':'SECRET.txt'}]}]}" },
    { AIGOV_EP_RESPONSES, "tool_definition", "{'model':'m','input':'a','tools':[{'type':'function','name':'f','description':'SECRET','parameters':{}}]}" },
    { AIGOV_EP_RESPONSES, "tool_definition", "{'model':'m','input':'a','tools':[{'type':'function','name':'f','parameters':{'properties':{'a':{'enum':['SECRET']}}}}]}" },
    { AIGOV_EP_RESPONSES, "schema", "{'model':'m','input':'a','text':{'format':{'type':'json_schema','name':'n','schema':{'properties':{'a':{'description':'SECRET'}}}},'verbosity':'low'}}" },
    { AIGOV_EP_RESPONSES, "prompt", "{'input':'a','prompt':{'id':'pmpt_1','version':'2','variables':{'city':'SECRET'}}}" },
    { AIGOV_EP_RESPONSES, "prompt", "{'input':'a','prompt':{'id':'pmpt_1','variables':{'SECRET':'x'}}}" },
    { AIGOV_EP_RESPONSES, "tool_definition", "{'model':'m','input':'a','tools':[{'type':'function','name':'f','parameters':{},'output_schema':{'properties':{'SECRET':{}}}}]}" },
    /* maps whose keys the caller chooses: control names there are data */
    { AIGOV_EP_RESPONSES, "tool_call", "{'model':'m','input':[{'type':'local_shell_call','id':'ls','call_id':'c','status':'completed','action':{'type':'exec','command':['env'],'env':{'summary':'SECRET'}}}]}" },
    { AIGOV_EP_RESPONSES, "tool_call", "{'model':'m','input':[{'type':'local_shell_call','id':'ls','call_id':'c','status':'completed','action':{'type':'exec','command':['env'],'env':{'note_id':'SECRET'}}}]}" },
    { AIGOV_EP_RESPONSES, "tool_call", "{'model':'m','input':[{'type':'local_shell_call','id':'ls','call_id':'c','status':'completed','action':{'type':'exec','command':['env'],'env':{'SECRET':'1'}}}]}" },
    { AIGOV_EP_RESPONSES, "tool_call", "{'model':'m','input':[{'type':'file_search_call','id':'fs','status':'completed','queries':['q'],'results':[{'file_id':'f','attributes':{'format':'SECRET'}}]}]}" },
    { AIGOV_EP_RESPONSES, "tool_definition", "{'model':'m','input':'a','tools':[{'type':'mcp','server_label':'s','server_url':'https://x','headers':{'type':'SECRET'}}]}" },
    /* an MCP tool's headers: every name, and the value of any header that
     * is no credential, are text; a credential's container is read */
    { AIGOV_EP_RESPONSES, "tool_definition", "{'model':'m','input':'a','tools':[{'type':'mcp','server_label':'s','server_url':'https://x','headers':{'Authorization':'Bearer t','X-Note':'some SECRET text'}}]}" },
    { AIGOV_EP_RESPONSES, "tool_definition", "{'model':'m','input':'a','tools':[{'type':'mcp','server_label':'s','server_url':'https://x','headers':{'X-SECRET-Authorization':'Bearer t'}}]}" },
    { AIGOV_EP_RESPONSES, "tool_definition", "{'model':'m','input':'a','tools':[{'type':'mcp','server_label':'s','server_url':'https://x','headers':{'Authorization':{'scheme':'SECRET'}}}]}" },
    { AIGOV_EP_RESPONSES, "tool_definition", "{'model':'m','input':'a','tools':[{'type':'mcp','server_label':'s','server_url':'https://x','headers':{'Cookie':['SECRET']}}]}" },
    { AIGOV_EP_RESPONSES, "tool_definition", "{'model':'m','input':'a','tools':[{'type':'mcp','server_label':'s','server_url':'https://x','headers':{'X-Meta':{'Authorization':'SECRET'}}}]}" },
    { AIGOV_EP_RESPONSES, "tool_definition", "{'model':'m','input':'a','tools':[{'type':'mcp','server_label':'s','server_url':'https://x','headers':'Authorization: Bearer SECRET'}]}" },
    /* "headers" in a free-form object or a schema is data like the rest */
    { AIGOV_EP_CHAT, "metadata", "{'model':'m','messages':[],'metadata':{'headers':{'Authorization':'Bearer SECRET'}}}" },
    { AIGOV_EP_MESSAGES, "tool_call", "{'model':'c','max_tokens':5,'messages':[{'role':'assistant','content':[{'type':'tool_use','id':'t','name':'fetch','input':{'url':'https://x','headers':{'Authorization':'Bearer SECRET'}}}]}]}" },
    { AIGOV_EP_MESSAGES, "tool_definition", "{'model':'c','max_tokens':5,'messages':[],'tools':[{'name':'fetch','input_schema':{'type':'object','properties':{'headers':{'type':'object','default':{'Authorization':'Bearer SECRET'}}}}}]}" },
    /* other maps keep no credential names: env is the model's to read */
    { AIGOV_EP_RESPONSES, "tool_call", "{'model':'m','input':[{'type':'local_shell_call','id':'ls','call_id':'c','status':'completed','action':{'type':'exec','command':['env'],'env':{'API_TOKEN':'SECRET'}}}]}" },
    { AIGOV_EP_RESPONSES, "metadata", "{'model':'m','input':'a','safety_identifier':'SECRET'}" },

    /* control fields: SECRET is never a text */
    { AIGOV_EP_CHAT, NULL, "{'model':'SECRET','messages':[]}" },
    { AIGOV_EP_CHAT, NULL, "{'model':'m','messages':[{'role':'SECRET','content':null}]}" },
    { AIGOV_EP_CHAT, NULL, "{'model':'m','messages':[{'role':'tool','tool_call_id':'SECRET','content':'a'}]}" },
    { AIGOV_EP_CHAT, NULL, "{'model':'m','messages':[{'role':'assistant','tool_calls':[{'id':'SECRET','type':'function','function':{'name':'f','arguments':'{}'}}]}]}" },
    { AIGOV_EP_CHAT, NULL, "{'model':'m','messages':[{'role':'assistant','audio':{'id':'SECRET'}}]}" },
    { AIGOV_EP_CHAT, NULL, "{'model':'m','messages':[],'tool_choice':'SECRET'}" },
    { AIGOV_EP_CHAT, NULL, "{'model':'m','messages':[],'function_call':'SECRET'}" },
    { AIGOV_EP_CHAT, NULL, "{'model':'m','messages':[],'reasoning_effort':'SECRET','service_tier':'SECRET','verbosity':'SECRET'}" },
    { AIGOV_EP_CHAT, NULL, "{'model':'m','messages':[],'modalities':['text','SECRET'],'audio':{'voice':'SECRET','format':'SECRET'}}" },
    { AIGOV_EP_CHAT, NULL, "{'model':'m','messages':[{'role':'user','content':[{'type':'image_url','image_url':{'url':'data:image/png;base64,SECRET','detail':'SECRET'}}]}]}" },
    { AIGOV_EP_CHAT, NULL, "{'model':'m','messages':[{'role':'user','content':[{'type':'image_url','image_url':{'url':'\\u0064ata:image/png;base64,SECRET'}}]}]}" },
    { AIGOV_EP_CHAT, NULL, "{'model':'m','messages':[{'role':'user','content':[{'type':'input_audio','input_audio':{'data':'SECRET','format':'SECRET'}}]}]}" },
    { AIGOV_EP_CHAT, NULL, "{'model':'m','messages':[{'role':'user','content':[{'type':'file','file':{'file_data':'SECRET','file_id':'SECRET'}}]}]}" },
    { AIGOV_EP_CHAT, NULL, "{'model':'m','messages':[],'tools':[{'type':'function','function':{'name':'f','parameters':{'type':'SECRET','format':'SECRET','$schema':'SECRET','$id':'SECRET','contentMediaType':'SECRET','properties':{'p':{'type':['SECRET']}}}}}]}" },
    { AIGOV_EP_CHAT, NULL, "{'model':'m','messages':[{'role':'user','content':[{'type':'image_url','image_url':{'url':'DATA:image/png;base64,SECRET'}}]}]}" },
    { AIGOV_EP_RESPONSES, NULL, "{'model':'m','input':[{'role':'user','content':[{'type':'input_file','filename':'a.pdf','file_data':'data:application/pdf;base64,JVBERi0xLjcKJeLjz9MKSECRET'}]}]}" },
    { AIGOV_EP_CHAT, NULL, "{'model':'m','messages':[],'response_format':{'type':'SECRET'}}" },
    { AIGOV_EP_CHAT, NULL, "{'model':'m','messages':[],'\\u0074ool_choice':'SECRET'}" },
    { AIGOV_EP_CHAT, NULL, "{'model':'m','messages':[],'new_thing_id':'SECRET','vector_store_ids':['SECRET']}" },
    { AIGOV_EP_EMBEDDINGS, NULL, "{'model':'m','input':'a','encoding_format':'SECRET'}" },
    { AIGOV_EP_MESSAGES, NULL, "{'model':'c','max_tokens':5,'messages':[{'role':'user','content':[{'type':'image','source':{'type':'base64','media_type':'SECRET','data':'SECRET'}}]}]}" },
    { AIGOV_EP_MESSAGES, NULL, "{'model':'c','max_tokens':5,'messages':[{'role':'user','content':[{'type':'document','source':{'type':'base64','media_type':'application/pdf','data':'SECRET'}}]}]}" },
    { AIGOV_EP_MESSAGES, NULL, "{'model':'c','max_tokens':5,'messages':[{'role':'assistant','content':[{'type':'thinking','thinking':'t','signature':'SECRET'},{'type':'redacted_thinking','data':'SECRET'}]}]}" },
    { AIGOV_EP_MESSAGES, NULL, "{'model':'c','max_tokens':5,'messages':[{'role':'assistant','content':[{'type':'tool_use','id':'SECRET','name':'f','input':{}}]},{'role':'user','content':[{'type':'tool_result','tool_use_id':'SECRET','content':'r'}]}]}" },
    { AIGOV_EP_MESSAGES, NULL, "{'model':'c','max_tokens':5,'system':[{'type':'text','text':'s','cache_control':{'type':'ephemeral','ttl':'SECRET'}}],'messages':[],'service_tier':'SECRET','container':'SECRET'}" },
    { AIGOV_EP_MESSAGES, NULL, "{'model':'c','max_tokens':5,'messages':[{'role':'user','content':[{'type':'image','source':{'type':'file','file_id':'SECRET'}}]}]}" },
    { AIGOV_EP_RESPONSES, NULL, "{'model':'m','input':'a','previous_response_id':'SECRET','include':['SECRET'],'truncation':'SECRET','reasoning':{'effort':'SECRET','summary':'SECRET'}}" },
    { AIGOV_EP_RESPONSES, NULL, "{'model':'m','input':[{'type':'function_call','call_id':'SECRET','id':'SECRET','status':'SECRET','name':'f','arguments':'{}'},{'type':'reasoning','id':'r','summary':[],'encrypted_content':'SECRET'}]}" },
    { AIGOV_EP_RESPONSES, NULL, "{'model':'m','input':[{'role':'user','content':[{'type':'input_image','image_url':'data:image/png;base64,SECRET','detail':'SECRET'}]}]}" },
    { AIGOV_EP_RESPONSES, NULL, "{'model':'m','input':'a','text':{'format':{'type':'SECRET'},'verbosity':'SECRET'},'conversation':{'id':'SECRET'},'prompt':{'id':'SECRET','version':'SECRET'}}" },
    /* unknown kinds are not read for text (the module refuses them where
     * filters apply) */
    { AIGOV_EP_UNKNOWN, NULL, "{'model':'m','input':'SECRET'}" },
};

static void
test_inspect_by_default(void **state)
{
    static const char repl[] = "[GONE]";
    size_t c;

    for (c = 0; c < sizeof(field_cases) / sizeof(field_cases[0]); c++) {
        const field_case_t *fc = &field_cases[c];
        char *body = q(fc->body), *out, *want, *at;
        aigov_request_t rq;
        size_t i, hit = SIZE_MAX, hits = 0, chars = 0, blen = strlen(body);
        aigov_req_status_t st = parse(&rq, fc->ep, body);

        if (st != AIGOV_REQ_OK)
            fprintf(stderr, "case %zu %s: %s\n", c, body, err);
        assert_int_equal(st, AIGOV_REQ_OK);
        for (i = 0; i < rq.ntexts; i++) {
            chars += strlen(rq.texts[i].text);      /* ASCII bodies */
            if (strstr(rq.texts[i].text, "SECRET") != NULL) {
                hit = i;
                hits++;
            }
        }
        assert_int_equal(chars + (size_t) rq.token_ids, rq.prompt_chars);
        if (fc->label == NULL) {
            if (hits != 0)
                fprintf(stderr, "case %zu %s: a control field is text [%s] %s\n",
                        c, body, rq.texts[hit].role, rq.texts[hit].text);
            assert_int_equal(hits, 0);
            /* redacting every text leaves every control field as it was */
            for (i = 0; i < rq.ntexts; i++)
                assert_int_equal(aigov_request_set_text(&rq, i, "R", 1), 0);
            out = aigov_request_serialize(&rq, NULL);
            for (at = body; (at = strstr(at, "SECRET")) != NULL; at++) {
                /* each SECRET of the body is in the output, in place */
                assert_non_null(strstr(out, "SECRET"));
            }
            {
                json_t *j = json_loads(out, JSON_REJECT_DUPLICATES, NULL);

                assert_non_null(j);
                json_decref(j);
            }
            free(out);
            aigov_request_free(&rq);
            free(body);
            continue;
        }
        if (hits != 1 || strcmp(rq.texts[hit].role, fc->label) != 0)
            fprintf(stderr, "case %zu %s: %zu texts hold SECRET, label %s (wanted %s)\n",
                    c, body, hits, hits ? rq.texts[hit].role : "-", fc->label);
        assert_int_equal(hits, 1);
        assert_string_equal(rq.texts[hit].role, fc->label);
        assert_true(rq.prompt_chars >= 6);
        /* redacted in place: the body byte-identical but for that value */
        {
            const char *t = rq.texts[hit].text;
            const char *s = strstr(t, "SECRET");
            char *nt = malloc(strlen(t) + sizeof(repl));
            size_t pre = (size_t) (s - t);

            memcpy(nt, t, pre);
            strcpy(nt + pre, repl);
            strcat(nt, s + 6);
            assert_int_equal(aigov_request_set_text(&rq, hit, nt, strlen(nt)), 0);
            free(nt);
        }
        out = aigov_request_serialize(&rq, NULL);
        want = malloc(blen + sizeof(repl));
        at = strstr(body, "SECRET");
        memcpy(want, body, (size_t) (at - body));
        strcpy(want + (at - body), repl);
        strcat(want, at + 6);
        if (strcmp(out, want) != 0)
            fprintf(stderr, "case %zu:\n  got  %s\n  want %s\n", c, out, want);
        assert_string_equal(out, want);
        free(want);
        free(out);
        aigov_request_free(&rq);
        free(body);
    }
}

/* Shapes the new fields must have, and hostile bodies in new places. */
static void
test_inspect_hostile(void **state)
{
    aigov_request_t rq;
    char *b, big[8192];
    size_t i, o;

    /* duplicate keys are refused in free-form objects, schemas and tool
     * inputs too */
    b = q("{'model':'m','messages':[],'metadata':{'a':'1','a':'2'}}");
    expect_fail(AIGOV_EP_CHAT, b, AIGOV_REQ_BAD_JSON, "duplicate object key");
    free(b);
    b = q("{'model':'c','max_tokens':5,'messages':[{'role':'assistant','content':[{'type':'tool_use','id':'t','name':'f','input':{'q':'x','\\u0071':'y'}}]}]}");
    expect_fail(AIGOV_EP_MESSAGES, b, AIGOV_REQ_BAD_JSON, "duplicate object key");
    free(b);
    b = q("{'model':'m','messages':[],'tools':[{'type':'function','function':{'name':'f','parameters':{'properties':{'a':{},'a':{}}}}}]}");
    expect_fail(AIGOV_EP_CHAT, b, AIGOV_REQ_BAD_JSON, "duplicate object key");
    free(b);
    b = q("{'model':'m','input':'a','stream_options':{'include_usage':true,'include_usage':false}}");
    expect_fail(AIGOV_EP_RESPONSES, b, AIGOV_REQ_BAD_JSON, "duplicate object key");
    free(b);

    /* deep nesting in an unknown field: read to the bottom up to the
     * bound, refused beyond it */
    o = (size_t) snprintf(big, sizeof(big), "{\"model\":\"m\",\"messages\":[],\"x\":");
    for (i = 0; i < AIGOV_REQ_MAX_DEPTH - 1; i++)
        o += (size_t) snprintf(big + o, sizeof(big) - o, i % 2 ? "[" : "{\"k\":");
    o += (size_t) snprintf(big + o, sizeof(big) - o, "\"SECRET\"");
    for (i = AIGOV_REQ_MAX_DEPTH - 1; i-- > 0;)
        o += (size_t) snprintf(big + o, sizeof(big) - o, i % 2 ? "]" : "}");
    snprintf(big + o, sizeof(big) - o, "}");
    assert_int_equal(parse(&rq, AIGOV_EP_CHAT, big), AIGOV_REQ_OK);
    assert_int_equal(rq.ntexts, 1);
    assert_string_equal(rq.texts[0].text, "SECRET");
    assert_string_equal(rq.texts[0].role, "other");
    aigov_request_free(&rq);

    /* a long escaped key ending in _id is still an id */
    b = q("{'model':'m','messages':[],'a_very_long_name_of_a_field_that_providers_add\\u005fid':'SECRET'}");
    assert_int_equal(parse(&rq, AIGOV_EP_CHAT, b), AIGOV_REQ_OK);
    assert_int_equal(rq.ntexts, 0);
    aigov_request_free(&rq);
    free(b);

    /* every string a text: a body of many tiny strings stays bounded */
    b = q("{'model':'m','messages':[],'x':['','','']}");
    assert_int_equal(parse(&rq, AIGOV_EP_CHAT, b), AIGOV_REQ_OK);
    assert_int_equal(rq.ntexts, 3);
    assert_int_equal(aigov_request_prompt_tokens(&rq), 3);
    aigov_request_free(&rq);
    free(b);

    /* Responses shapes */
    b = q("{'model':'m','input':7}");
    expect_fail(AIGOV_EP_RESPONSES, b, AIGOV_REQ_BAD_SHAPE, "'input' must be a string or an array");
    free(b);
    b = q("{'model':'m','input':['a']}");
    expect_fail(AIGOV_EP_RESPONSES, b, AIGOV_REQ_BAD_SHAPE, "'input[0]' must be an object");
    free(b);
    b = q("{'model':'m','instructions':{}}");
    expect_fail(AIGOV_EP_RESPONSES, b, AIGOV_REQ_BAD_SHAPE, "'instructions' must be a string");
    free(b);
    b = q("{'model':'m','input':'a','max_output_tokens':-1}");
    expect_fail(AIGOV_EP_RESPONSES, b, AIGOV_REQ_BAD_SHAPE, "'max_output_tokens' must be");
    free(b);
    b = q("{'model':'m','input':'a','max_output_tokens':64}");
    assert_int_equal(parse(&rq, AIGOV_EP_RESPONSES, b), AIGOV_REQ_OK);
    assert_int_equal(rq.max_tokens, 64);
    assert_string_equal(rq.max_tokens_key, "max_output_tokens");
    assert_int_equal(rq.n, 1);
    aigov_request_free(&rq);
    free(b);
    /* count_tokens: like messages, without max_tokens */
    b = q("{'messages':[]}");
    expect_fail(AIGOV_EP_COUNT_TOKENS, b, AIGOV_REQ_BAD_SHAPE, "'model' is required");
    free(b);
    b = q("{'model':'c','messages':[{'role':'user'}]}");
    expect_fail(AIGOV_EP_COUNT_TOKENS, b, AIGOV_REQ_BAD_SHAPE, "'messages[0].content' is required");
    free(b);
}

static void
test_n_and_best_of(void **state)
{
    static const struct {
        aigov_endpoint_t ep;
        const char *body;
        long long n;        /* 0: BAD_SHAPE */
    } cases[] = {
        { AIGOV_EP_CHAT, "{'model':'m','messages':[]}", 1 },
        { AIGOV_EP_CHAT, "{'model':'m','messages':[],'n':null}", 1 },
        { AIGOV_EP_CHAT, "{'model':'m','messages':[],'n':1}", 1 },
        { AIGOV_EP_CHAT, "{'model':'m','messages':[],'n':128}", 128 },
        { AIGOV_EP_CHAT, "{'model':'m','messages':[],'n':129}", 0 },
        { AIGOV_EP_CHAT, "{'model':'m','messages':[],'n':9223372036854775807}", 0 },
        { AIGOV_EP_CHAT, "{'model':'m','messages':[],'n':0}", 0 },
        { AIGOV_EP_CHAT, "{'model':'m','messages':[],'n':-3}", 0 },
        { AIGOV_EP_CHAT, "{'model':'m','messages':[],'n':2.0}", 0 },
        { AIGOV_EP_CHAT, "{'model':'m','messages':[],'n':1e2}", 0 },
        { AIGOV_EP_CHAT, "{'model':'m','messages':[],'n':'4'}", 0 },
        { AIGOV_EP_CHAT, "{'model':'m','messages':[],'n':true}", 0 },
        { AIGOV_EP_CHAT, "{'model':'m','messages':[],'\\u006e':7}", 7 },
        /* chat has no best_of: another field, not a multiplier */
        { AIGOV_EP_CHAT, "{'model':'m','messages':[],'best_of':7}", 1 },
        { AIGOV_EP_COMPLETIONS, "{'model':'m','prompt':'p','n':3}", 3 },
        { AIGOV_EP_COMPLETIONS, "{'model':'m','prompt':'p','n':2,'best_of':5}", 5 },
        { AIGOV_EP_COMPLETIONS, "{'model':'m','prompt':'p','best_of':5,'n':6}", 6 },
        { AIGOV_EP_COMPLETIONS, "{'model':'m','prompt':'p','best_of':0}", 0 },
        { AIGOV_EP_COMPLETIONS, "{'model':'m','prompt':'p','best_of':1000}", 0 },
        /* each prompt of a list is answered n times */
        { AIGOV_EP_COMPLETIONS, "{'model':'m','prompt':['a','b','c'],'n':2}", 6 },
        { AIGOV_EP_COMPLETIONS, "{'model':'m','prompt':['a','b'],'n':2,'best_of':3}", 6 },
        { AIGOV_EP_COMPLETIONS, "{'model':'m','prompt':['a','b','c','d']}", 4 },
        { AIGOV_EP_COMPLETIONS, "{'model':'m','prompt':[[1,2],[3],[4,5]],'n':2}", 6 },
        { AIGOV_EP_COMPLETIONS, "{'model':'m','prompt':[1,2,3],'n':2}", 2 },
        { AIGOV_EP_COMPLETIONS, "{'model':'m','prompt':[],'n':2}", 2 },
        { AIGOV_EP_COMPLETIONS, "{'model':'m','prompt':['a',[1,2],'b'],'n':128}", 384 },
        { AIGOV_EP_COMPLETIONS, "{'model':'m','prompt':['a','b'],'n':129}", 0 },
        /* other kinds answer once */
        { AIGOV_EP_MESSAGES, "{'model':'c','max_tokens':1,'messages':[],'n':5}", 1 },
        { AIGOV_EP_RESPONSES, "{'model':'m','input':'a','n':5}", 1 },
        { AIGOV_EP_EMBEDDINGS, "{'model':'m','input':'a','n':5}", 1 },
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        aigov_request_t rq;
        char *b = q(cases[i].body);
        aigov_req_status_t st = parse(&rq, cases[i].ep, b);

        if (cases[i].n == 0) {
            if (st != AIGOV_REQ_BAD_SHAPE)
                fprintf(stderr, "%s: %d\n", b, st);
            assert_int_equal(st, AIGOV_REQ_BAD_SHAPE);
            assert_non_null(strstr(err, "must be an integer from 1 to 128"));
        } else {
            if (st != AIGOV_REQ_OK || rq.n != cases[i].n)
                fprintf(stderr, "%s: %d n %lld (%s)\n", b, st, rq.n, err);
            assert_int_equal(st, AIGOV_REQ_OK);
            assert_int_equal(rq.n, cases[i].n);
        }
        aigov_request_free(&rq);
        free(b);
    }
}

static void
test_ask_usage(void **state)
{
    static const struct {
        aigov_endpoint_t ep;
        const char *body;
        int rc;
        const char *want;       /* the body after ask_usage (and max 9) */
        int max;
    } cases[] = {
        { AIGOV_EP_CHAT, "{'model':'m','messages':[],'stream':true}", 1,
          "{'model':'m','messages':[],'stream':true,'stream_options':{'include_usage':true}}", 0 },
        { AIGOV_EP_CHAT, "{'model':'m','messages':[],'stream':true}", 1,
          "{'model':'m','messages':[],'stream':true,'max_tokens':9,'stream_options':{'include_usage':true}}", 1 },
        { AIGOV_EP_CHAT, "{ 'stream' : true , 'stream_options' : null , 'model':'m','messages':[] }", 1,
          "{ 'stream' : true , 'stream_options' : {'include_usage':true} , 'model':'m','messages':[] }", 0 },
        { AIGOV_EP_CHAT, "{'model':'m','messages':[],'stream':true,'stream_options':{ }}", 1,
          "{'model':'m','messages':[],'stream':true,'stream_options':{ 'include_usage':true}}", 0 },
        { AIGOV_EP_CHAT, "{'model':'m','messages':[],'stream':true,'stream_options':{'include_obfuscation':false}}", 1,
          "{'model':'m','messages':[],'stream':true,'stream_options':{'include_obfuscation':false,'include_usage':true}}", 0 },
        { AIGOV_EP_CHAT, "{'model':'m','messages':[],'stream':true,'stream_options':{'include_usage': false}}", 1,
          "{'model':'m','messages':[],'stream':true,'stream_options':{'include_usage': true}}", 0 },
        { AIGOV_EP_CHAT, "{'model':'m','messages':[],'stream':true,'stream_options':{'\\u0069nclude_usage':null}}", 1,
          "{'model':'m','messages':[],'stream':true,'stream_options':{'\\u0069nclude_usage':true}}", 0 },
        { AIGOV_EP_COMPLETIONS, "{'model':'m','prompt':'p','stream':true,'max_tokens':null}", 1,
          "{'model':'m','prompt':'p','stream':true,'max_tokens':9,'stream_options':{'include_usage':true}}", 1 },
        /* nothing needed */
        { AIGOV_EP_CHAT, "{'model':'m','messages':[],'stream':true,'stream_options':{'include_usage':true}}", 0,
          "{'model':'m','messages':[],'stream':true,'stream_options':{'include_usage':true}}", 0 },
        { AIGOV_EP_CHAT, "{'model':'m','messages':[]}", 0, "{'model':'m','messages':[]}", 0 },
        { AIGOV_EP_CHAT, "{'model':'m','messages':[],'stream':false}", 0,
          "{'model':'m','messages':[],'stream':false}", 0 },
        { AIGOV_EP_MESSAGES, "{'model':'c','max_tokens':1,'messages':[],'stream':true}", 0,
          "{'model':'c','max_tokens':1,'messages':[],'stream':true}", 0 },
        { AIGOV_EP_RESPONSES, "{'model':'m','input':'a','stream':true}", 0,
          "{'model':'m','input':'a','stream':true}", 0 },
        { AIGOV_EP_EMBEDDINGS, "{'model':'m','input':'a','stream':true}", 0,
          "{'model':'m','input':'a','stream':true}", 0 },
    };
    size_t i;
    aigov_request_t rq;
    char *b;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *want = q(cases[i].want), *out;
        size_t olen;

        b = q(cases[i].body);
        assert_int_equal(parse(&rq, cases[i].ep, b), AIGOV_REQ_OK);
        if (cases[i].max)
            assert_int_equal(aigov_request_set_max_tokens(&rq, 9), 0);
        assert_int_equal(aigov_request_ask_usage(&rq), cases[i].rc);
        /* asking twice changes nothing more */
        assert_int_equal(aigov_request_ask_usage(&rq), cases[i].rc);
        out = aigov_request_serialize(&rq, &olen);
        if (strcmp(out, want) != 0)
            fprintf(stderr, "case %zu:\n  got  %s\n  want %s\n", i, out, want);
        assert_string_equal(out, want);
        aigov_request_free(&rq);
        /* the result reads back as a request that asked */
        assert_int_equal(aigov_request_parse(&rq, cases[i].ep, out, olen, err, sizeof(err)),
                         AIGOV_REQ_OK);
        assert_int_equal(aigov_request_ask_usage(&rq), 0 + (cases[i].rc == 1 ? 0 : cases[i].rc));
        aigov_request_free(&rq);
        free(out);
        free(want);
        free(b);
    }
    /* stream_options of the wrong type */
    b = q("{'model':'m','messages':[],'stream':true,'stream_options':'yes'}");
    expect_fail(AIGOV_EP_CHAT, b, AIGOV_REQ_BAD_SHAPE, "'stream_options' must be an object");
    free(b);
    b = q("{'model':'m','prompt':'p','stream':true,'stream_options':{'include_usage':1}}");
    expect_fail(AIGOV_EP_COMPLETIONS, b, AIGOV_REQ_BAD_SHAPE,
                "'stream_options.include_usage' must be true or false");
    free(b);
    /* no body: an error */
    assert_int_equal(aigov_request_ask_usage(NULL), -1);
    assert_int_equal(parse(&rq, AIGOV_EP_MODELS, ""), AIGOV_REQ_OK);
    assert_int_equal(aigov_request_ask_usage(&rq), -1);
    aigov_request_free(&rq);
}

/* The scan tells which texts are ASCII (their own normalized view, their
 * characters their bytes), escapes included: an escaped é is not ASCII,
 * an escaped newline is. */
static void
test_ascii_texts(void **state)
{
    aigov_request_t rq;
    static const struct { const char *content; int ascii; size_t chars; } cases[] = {
        { "plain words", 1, 11 },
        { "line\\nbreak\\t\\\"q\\\"", 1, 14 },
        { "\\u0041\\u002f", 1, 2 },
        { "caf\xc3\xa9", 0, 4 },
        { "caf\\u00e9", 0, 4 },
        { "m\\u0435rger", 0, 6 },
        { "\\ud83d\\ude00!", 0, 2 },
    };
    char body[256];
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(body, sizeof(body), "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                 "\"content\":\"%s\"}]}", cases[i].content);
        assert_int_equal(parse(&rq, AIGOV_EP_CHAT, body), AIGOV_REQ_OK);
        assert_int_equal(rq.ntexts, 1);
        if (rq.texts[0].ascii != cases[i].ascii)
            fprintf(stderr, "case %zu %s: ascii %d\n", i, cases[i].content, rq.texts[0].ascii);
        assert_int_equal(rq.texts[0].ascii, cases[i].ascii);
        assert_int_equal(rq.prompt_chars, cases[i].chars);
        assert_int_equal(aigov_request_prompt_tokens(&rq), (long long) ((cases[i].chars + 3) / 4));
        /* a replacement is not known to be ASCII, and is counted anew */
        assert_int_equal(aigov_request_set_text(&rq, 0, "\xc3\xa9t\xc3\xa9", 5), 0);
        assert_int_equal(rq.texts[0].ascii, 0);
        assert_int_equal(rq.prompt_chars, 3);
        aigov_request_free(&rq);
    }
}

/* A chat body of about size bytes whose user text is fill repeated. */
static char *
long_body(size_t size, char fill)
{
    static const char head[] = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"";
    static const char tail[] = "\"}]}";
    char *b = malloc(size + 1);
    size_t n = size - (sizeof(head) - 1) - (sizeof(tail) - 1);

    assert_non_null(b);
    memcpy(b, head, sizeof(head) - 1);
    memset(b + sizeof(head) - 1, fill, n);
    memcpy(b + sizeof(head) - 1 + n, tail, sizeof(tail));
    return b;
}

/* Long prompts one after another: the second is copied into the memory
 * the first left, not into fresh pages, and reads as itself. */
static void
test_long_prompts_reuse_memory(void **state)
{
    aigov_request_t rq;
    char *a = long_body(300 * 1024, 'a'), *b = long_body(200 * 1024, 'b');
    char *c = long_body(2 * 1024 * 1024, 'c');
    const char *first;
    size_t i;

    (void) state;
    aigov_request_release_memory();
    assert_int_equal(aigov_request_parse_lent(&rq, AIGOV_EP_CHAT, a, strlen(a), err,
                                              sizeof(err)), AIGOV_REQ_OK);
    first = rq.texts[0].text;
    assert_int_equal(rq.prompt_chars, rq.texts[0].len);
    aigov_request_free(&rq);

    assert_int_equal(aigov_request_parse_lent(&rq, AIGOV_EP_CHAT, b, strlen(b), err,
                                              sizeof(err)), AIGOV_REQ_OK);
    assert_ptr_equal(rq.texts[0].text, first);
    assert_int_equal(rq.texts[0].len, 200 * 1024 - 55);
    for (i = 0; i < rq.texts[0].len; i++)
        if (rq.texts[0].text[i] != 'b')
            fail_msg("byte %zu is %c", i, rq.texts[0].text[i]);
    assert_int_equal(rq.texts[0].text[rq.texts[0].len], '\0');

    /* a larger one while the block is in use: memory of its own */
    {
        aigov_request_t big;

        assert_int_equal(aigov_request_parse(&big, AIGOV_EP_CHAT, c, strlen(c), err,
                                             sizeof(err)), AIGOV_REQ_OK);
        assert_ptr_not_equal(big.texts[0].text, first);
        assert_int_equal(big.prompt_chars, 2 * 1024 * 1024 - 55);
        assert_int_equal(big.texts[0].text[0], 'c');
        aigov_request_free(&big);
    }
    aigov_request_free(&rq);
    aigov_request_release_memory();
    free(a);
    free(b);
    free(c);
}

/* ---- text the gateway cannot read: token ids -------------------------- */

static void
test_token_ids(void **state)
{
    aigov_request_t rq;

    (void) state;
    /* "Tell me about project neptune" in cl100k: text no filter reads */
    assert_int_equal(parse(&rq, AIGOV_EP_COMPLETIONS,
        "{\"model\":\"m\",\"prompt\":[41551,757,922,2447,841,53014]}"), AIGOV_REQ_OK);
    assert_int_equal(rq.ntexts, 0);
    assert_int_equal(rq.token_ids, 6);
    assert_non_null(rq.unread);
    assert_non_null(strstr(rq.unread, "token ids"));
    assert_string_equal(rq.unread_kind, "token_ids");
    /* one token and one character each: limits hold without reading */
    assert_int_equal(rq.prompt_chars, 6);
    assert_int_equal(aigov_request_prompt_tokens(&rq), 6);
    aigov_request_free(&rq);

    /* mixed: the text is read, the ids still are not */
    assert_int_equal(parse(&rq, AIGOV_EP_COMPLETIONS,
        "{\"model\":\"m\",\"prompt\":[\"Hello\",[1,2,3],7]}"), AIGOV_REQ_OK);
    assert_int_equal(rq.ntexts, 1);
    assert_int_equal(rq.token_ids, 4);
    assert_non_null(rq.unread);
    assert_int_equal(rq.prompt_chars, 5 + 4);
    assert_int_equal(aigov_request_prompt_tokens(&rq), 2 + 4);
    aigov_request_free(&rq);

    assert_int_equal(parse(&rq, AIGOV_EP_EMBEDDINGS,
        "{\"model\":\"e\",\"input\":[[101,2023],[102]]}"), AIGOV_REQ_OK);
    assert_int_equal(rq.token_ids, 3);
    assert_non_null(rq.unread);
    assert_string_equal(rq.unread_kind, "token_ids");
    aigov_request_free(&rq);

    /* no ids (an empty list of them) is nothing unread */
    assert_int_equal(parse(&rq, AIGOV_EP_EMBEDDINGS,
        "{\"model\":\"e\",\"input\":[[]]}"), AIGOV_REQ_OK);
    assert_int_equal(rq.token_ids, 0);
    assert_null(rq.unread);
    assert_null(rq.unread_kind);
    aigov_request_free(&rq);
    assert_int_equal(parse(&rq, AIGOV_EP_COMPLETIONS,
        "{\"model\":\"m\",\"prompt\":\"Hello\"}"), AIGOV_REQ_OK);
    assert_null(rq.unread);
    aigov_request_free(&rq);
}

/* ---- inline files of text ------------------------------------------------ */

static char *
b64(const char *s)
{
    char *w = ref_b64_encode("", s, strlen(s));

    assert_non_null(w);
    return w;
}

/* body with %s for the base64 of text: parses it, and says which text
 * (if any) holds text, and whether the request has unread text. */
static int
file_case(aigov_endpoint_t ep, const char *fmt, const char *text,
          aigov_request_t *rq)
{
    char   *enc = b64(text), *body;
    size_t  i;
    int     hit = -1;

    body = malloc(strlen(fmt) + strlen(enc) + 1);
    assert_non_null(body);
    sprintf(body, fmt, enc);
    if (parse(rq, ep, body) != AIGOV_REQ_OK) {
        fprintf(stderr, "%s: %s\n", body, err);
        fail();
    }
    for (i = 0; i < rq->ntexts; i++) {
        if (strcmp(rq->texts[i].text, text) == 0)
            hit = (int) i;
    }
    free(enc);
    free(body);
    return hit;
}

static void
test_inline_files(void **state)
{
    static const char notes[] = "Internal notes on project neptune.\n";
    aigov_request_t rq, back;
    char   *out, *enc, *want;
    size_t  n;
    int     i;

    (void) state;
    /* Responses input_file: the text is a text, labelled as its message */
    i = file_case(AIGOV_EP_RESPONSES,
        "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_file\","
        "\"filename\":\"notes.txt\",\"file_data\":\"data:text/plain;base64,%s\"},"
        "{\"type\":\"input_text\",\"text\":\"Summarize the file.\"}]}]}", notes, &rq);
    assert_true(i >= 0);
    assert_string_equal(rq.texts[i].role, "user");
    assert_null(rq.unread);
    /* the file name is a text too */
    assert_int_equal(rq.prompt_chars, strlen("notes.txt") + strlen(notes)
                                      + strlen("Summarize the file."));
    /* redacted: written back as the same data URL, in base64 */
    assert_int_equal(aigov_request_set_text(&rq, (size_t) i,
                     "Internal notes on [REDACTED].\n", 30), 0);
    out = aigov_request_serialize(&rq, &n);
    assert_non_null(out);
    enc = b64("Internal notes on [REDACTED].\n");
    want = malloc(strlen(enc) + 64);
    sprintf(want, "\"file_data\":\"data:text/plain;base64,%s\"", enc);
    assert_non_null(strstr(out, want));
    assert_int_equal(aigov_request_parse(&back, AIGOV_EP_RESPONSES, out, n, err,
                                         sizeof(err)), AIGOV_REQ_OK);
    assert_string_equal(back.texts[i].text, "Internal notes on [REDACTED].\n");
    aigov_request_free(&back);
    free(want);
    free(enc);
    free(out);
    aigov_request_free(&rq);

    /* the types of text, the scheme in any case, parameters */
    {
        static const char *const fmts[] = {
            "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_file\",\"file_data\":\"data:application/json;base64,%s\"}]}]}",
            "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_file\",\"file_data\":\"DATA:Text/Markdown;charset=utf-8;base64,%s\"}]}]}",
            "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_file\",\"file_data\":\"data:;base64,%s\"}]}]}",
            "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_file\",\"file_data\":\"data:application/vnd.api+json;base64,%s\"}]}]}",
            /* a file_url or an image_url that is a data: URL of text */
            "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_file\",\"file_url\":\"data:text/csv;base64,%s\"}]}]}",
            "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:text/plain;base64,%s\"}}]}]}",
            /* chat's file part */
            "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"file\",\"file\":{\"filename\":\"a.md\",\"file_data\":\"data:text/markdown;base64,%s\"}}]}]}",
            /* declared a PDF, but its bytes are text: the provider may go
             * by the name */
            "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_file\",\"filename\":\"n.txt\",\"file_data\":\"data:application/pdf;base64,%s\"}]}]}",
            /* plain base64 in file_data */
            "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"file\",\"file\":{\"filename\":\"a.txt\",\"file_data\":\"%s\"}}]}]}",
            /* Anthropic base64 beside a media type of text */
            "{\"model\":\"c\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"document\",\"source\":{\"type\":\"base64\",\"media_type\":\"text/plain\",\"data\":\"%s\"}}]}]}",
            /* a prompt variable's input_file: free-form, still read */
            "{\"model\":\"m\",\"input\":\"a\",\"prompt\":{\"id\":\"p\",\"variables\":{\"doc\":{\"type\":\"input_file\",\"file_data\":\"data:text/plain;base64,%s\"}}}}",
        };
        static const aigov_endpoint_t eps[] = {
            AIGOV_EP_RESPONSES, AIGOV_EP_RESPONSES, AIGOV_EP_RESPONSES,
            AIGOV_EP_RESPONSES, AIGOV_EP_RESPONSES, AIGOV_EP_CHAT, AIGOV_EP_CHAT,
            AIGOV_EP_RESPONSES, AIGOV_EP_CHAT, AIGOV_EP_MESSAGES, AIGOV_EP_RESPONSES,
        };
        size_t c;

        for (c = 0; c < sizeof(fmts) / sizeof(fmts[0]); c++) {
            i = file_case(eps[c], fmts[c], "{\"q\": \"project neptune\"}", &rq);
            if (i < 0)
                fprintf(stderr, "case %zu: the file is not a text\n", c);
            assert_true(i >= 0);
            assert_null(rq.unread);
            /* and it goes back as the same kind of URL */
            assert_int_equal(aigov_request_set_text(&rq, (size_t) i, "x", 1), 0);
            out = aigov_request_serialize(&rq, &n);
            assert_non_null(out);
            assert_non_null(strstr(out, "eA==\""));
            assert_int_equal(aigov_request_parse(&back, eps[c], out, n, err, sizeof(err)),
                             AIGOV_REQ_OK);
            assert_string_equal(back.texts[i].text, "x");
            aigov_request_free(&back);
            free(out);
            aigov_request_free(&rq);
        }
    }

    /* escapes in the URL, MIME line breaks, no padding */
    assert_int_equal(parse(&rq, AIGOV_EP_RESPONSES,
        "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_file\","
        "\"file_data\":\"data:text\\/plain;base64,cHJv\\r\\namVjdCBu\\u005aXB0dW5l\"}]}]}"),
        AIGOV_REQ_OK);
    assert_int_equal(rq.ntexts, 1);
    assert_string_equal(rq.texts[0].text, "project neptune");
    assert_int_equal(aigov_request_set_text(&rq, 0, "project [X]", 11), 0);
    out = aigov_request_serialize(&rq, &n);
    enc = b64("project [X]");
    want = malloc(strlen(enc) + 64);
    sprintf(want, "\"data:text/plain;base64,%s\"", enc);
    assert_non_null(strstr(out, want));
    free(want);
    free(enc);
    free(out);
    aigov_request_free(&rq);

    /* binary media stays media: no text, nothing unread */
    assert_int_equal(parse(&rq, AIGOV_EP_RESPONSES,
        "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_file\","
        "\"filename\":\"a.pdf\",\"file_data\":\"data:application/pdf;base64,JVBERi0xLjcKJeLjz9MKMSAwIG9iago=\"},"
        "{\"type\":\"input_image\",\"image_url\":\"data:image/png;base64,iVBORw0KGgo=\"}]}]}"),
        AIGOV_REQ_OK);
    assert_int_equal(rq.ntexts, 1);
    assert_string_equal(rq.texts[0].text, "a.pdf");
    assert_null(rq.unread);
    aigov_request_free(&rq);

    /* text the gateway cannot read: not a text, and the request says so */
    {
        static const char *const bodies[] = {
            /* Latin-1, not UTF-8 */
            "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_file\",\"file_data\":\"data:text/plain;base64,cHJvamVjdCBuZXB0/G5l\"}]}]}",
            /* not base64 */
            "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_file\",\"file_data\":\"data:text/plain;base64,cHJv*amVjdA==\"}]}]}",
            "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_file\",\"file_data\":\"data:text/plain,project%20neptune\"}]}]}",
            /* base64 is the last parameter or none */
            "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_file\",\"file_data\":\"data:text/plain;base64;x=y,cHJvamVjdA==\"}]}]}",
            /* a NUL in it */
            "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_file\",\"file_data\":\"data:text/plain;base64,YQBi\"}]}]}",
            /* UTF-16 */
            "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:text/plain;base64,//5wAHIAbwBqAA==\"}}]}]}",
        };
        size_t c;

        for (c = 0; c < sizeof(bodies) / sizeof(bodies[0]); c++) {
            aigov_endpoint_t ep = strstr(bodies[c], "messages") ? AIGOV_EP_CHAT
                                                                : AIGOV_EP_RESPONSES;

            assert_int_equal(parse(&rq, ep, bodies[c]), AIGOV_REQ_OK);
            if (rq.ntexts != 0 || rq.unread == NULL)
                fprintf(stderr, "case %zu: %zu texts, unread %s\n", c, rq.ntexts,
                        rq.unread ? rq.unread : "(none)");
            assert_int_equal(rq.ntexts, 0);
            assert_non_null(rq.unread);
            assert_string_equal(rq.unread_kind, "text_file");
            aigov_request_free(&rq);
        }
    }

    /* a megabyte of PDF: its first kilobyte says it is binary */
    {
        size_t big = 1 << 20, off;
        char  *b = malloc(big + 256);

        assert_non_null(b);
        off = (size_t) sprintf(b, "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":"
                               "[{\"type\":\"input_file\",\"file_data\":\"data:application/pdf;base64,"
                               "JVBERi0xLjcKJeLjz9MK");
        memset(b + off, 'A', big);
        off += big;
        strcpy(b + off, "\"}]}]}");
        assert_int_equal(parse(&rq, AIGOV_EP_RESPONSES, b), AIGOV_REQ_OK);
        assert_int_equal(rq.ntexts, 0);
        assert_null(rq.unread);
        aigov_request_free(&rq);
        free(b);
    }
}

/* ---- binary media ---------------------------------------------------------- */

#define IMG  AIGOV_MEDIA_IMAGE
#define AUD  AIGOV_MEDIA_AUDIO
#define FIL  AIGOV_MEDIA_FILE

/* A PNG's and a PDF's first bytes in base64 (not UTF-8: binary) */
#define PNG  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB"
#define PDF  "JVBERi0xLjcKJeLjz9MK"
#define TXT  "cHJvamVjdCBuZXB0dW5l"      /* "project neptune" */

#define CHAT(parts)  "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[" parts "]}]}"
#define RESP(parts)  "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":[" parts "]}]}"
#define RESP_ITEMS(items) "{\"model\":\"m\",\"input\":[" items "]}"
#define MSGS(blocks) "{\"model\":\"c\",\"max_tokens\":9,\"messages\":[{\"role\":\"user\",\"content\":[" blocks "]}]}"

static const struct {
    aigov_endpoint_t ep;
    unsigned         want;
    const char      *body;
} media_cases[] = {
    /* ---- chat completions ---- */
    { AIGOV_EP_CHAT, IMG, CHAT("{\"type\":\"text\",\"text\":\"What is this?\"},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://example.com/cat.png\",\"detail\":\"low\"}}") },
    { AIGOV_EP_CHAT, IMG, CHAT("{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64," PNG "\"}}") },
    /* the type spelt in escapes, the scheme in capitals */
    { AIGOV_EP_CHAT, IMG, CHAT("{\"t\\u0079pe\":\"image\\u005furl\",\"image_url\":{\"url\":\"DATA:Image\\/jpeg;base64," PNG "\"}}") },
    /* an image_url that is not an image: of its media type */
    { AIGOV_EP_CHAT, FIL, CHAT("{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:application/pdf;base64," PDF "\"}}") },
    { AIGOV_EP_CHAT, AUD, CHAT("{\"type\":\"input_audio\",\"input_audio\":{\"data\":\"UklGRiQAAABXQVZF\",\"format\":\"wav\"}}") },
    { AIGOV_EP_CHAT, AUD, CHAT("{\"type\":\"input_audio\",\"input_audio\":{\"data\":\"data:audio/mpeg;base64,SUQzBAAAAAAA\",\"format\":\"mp3\"}}") },
    { AIGOV_EP_CHAT, FIL, CHAT("{\"type\":\"file\",\"file\":{\"file_id\":\"file-abc123\"}}") },
    { AIGOV_EP_CHAT, FIL, CHAT("{\"type\":\"file\",\"file\":{\"filename\":\"a.pdf\",\"file_data\":\"data:application/pdf;base64," PDF "\"}}") },
    /* plain base64 of a PDF */
    { AIGOV_EP_CHAT, FIL, CHAT("{\"type\":\"file\",\"file\":{\"filename\":\"a.pdf\",\"file_data\":\"" PDF "\"}}") },
    { AIGOV_EP_CHAT, FIL, CHAT("{\"type\":\"file\",\"file\":{\"filename\":\"a.docx\",\"file_data\":\"data:application/vnd.openxmlformats-officedocument.wordprocessingml.document;base64,UEsDBBQABgAIAAAAIQ==\"}}") },
    /* a file of an image type is an image */
    { AIGOV_EP_CHAT, IMG, CHAT("{\"type\":\"file\",\"file\":{\"file_data\":\"data:image/png;base64," PNG "\"}}") },
    { AIGOV_EP_CHAT, IMG | AUD | FIL, CHAT("{\"type\":\"image_url\",\"image_url\":{\"url\":\"http://example.com/a.gif\"}},"
        "{\"type\":\"input_audio\",\"input_audio\":{\"data\":\"UklGRiQAAABXQVZF\",\"format\":\"wav\"}},"
        "{\"type\":\"file\",\"file\":{\"file_id\":\"file-1\"}}") },
    /* a data: URL not of text in a free-form object: of its type */
    { AIGOV_EP_CHAT, IMG, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
        "\"metadata\":{\"scan\":\"data:image/png;base64," PNG "\"}}" },

    /* ---- chat: no media ---- */
    { AIGOV_EP_CHAT, 0, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"see https://example.com/cat.png\"}]}" },
    { AIGOV_EP_CHAT, 0, CHAT("") },     /* an empty content list */
    { AIGOV_EP_CHAT, 0, CHAT("{\"type\":\"text\",\"text\":\"https://example.com/cat.png\"}") },
    /* "image_url" as a text, as a name, as JSON in a text */
    { AIGOV_EP_CHAT, 0, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"name\":\"image_url\",\"content\":\"image_url\"}]}" },
    { AIGOV_EP_CHAT, 0, CHAT("{\"type\":\"text\",\"text\":\"{\\\"type\\\":\\\"image_url\\\",\\\"image_url\\\":{\\\"url\\\":\\\"https://x.png\\\"}}\"}") },
    /* a tool call's arguments */
    { AIGOV_EP_CHAT, 0, "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\","
        "\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"type\\\":\\\"image_url\\\",\\\"image_url\\\":\\\"https://x.png\\\"}\"}}]}]}" },
    /* metadata: strings, URLs, a typed object (only a prompt's variables are files) */
    { AIGOV_EP_CHAT, 0, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
        "\"metadata\":{\"image_url\":\"https://x.png\",\"url\":\"https://y\",\"type\":\"image_url\",\"file_id\":\"file-1\"}}" },
    { AIGOV_EP_CHAT, 0, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
        "\"metadata\":{\"v\":{\"type\":\"input_image\",\"file_id\":\"file-1\"}}}" },
    /* files of text are read */
    { AIGOV_EP_CHAT, 0, CHAT("{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:text/plain;base64," TXT "\"}}") },
    { AIGOV_EP_CHAT, 0, CHAT("{\"type\":\"file\",\"file\":{\"filename\":\"a.md\",\"file_data\":\"data:text/markdown;base64," TXT "\"}}") },
    /* declared a PDF, but its bytes are text: read */
    { AIGOV_EP_CHAT, 0, CHAT("{\"type\":\"file\",\"file\":{\"filename\":\"a.txt\",\"file_data\":\"data:application/pdf;base64," TXT "\"}}") },
    /* a file of text that cannot be read is unread, not media */
    { AIGOV_EP_CHAT, 0, CHAT("{\"type\":\"file\",\"file\":{\"file_data\":\"data:text/plain;base64,cHJvamVjdCBuZXB0/G5l\"}}") },
    /* links in an answer, an assistant's earlier audio, a schema's names */
    { AIGOV_EP_CHAT, 0, "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"content\":\"x\",\"audio\":{\"id\":\"audio_1\"},"
        "\"annotations\":[{\"type\":\"url_citation\",\"url_citation\":{\"url\":\"https://example.com\",\"title\":\"t\"}}]}]}" },
    { AIGOV_EP_CHAT, 0, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"response_format\":{\"type\":\"json_schema\","
        "\"json_schema\":{\"name\":\"s\",\"schema\":{\"type\":\"object\",\"properties\":{\"image_url\":{\"type\":\"string\",\"format\":\"uri\"}}}}}}" },
    /* nothing given */
    { AIGOV_EP_CHAT, 0, CHAT("{\"type\":\"image_url\",\"image_url\":{\"url\":\"\"}},{\"type\":\"file\",\"file\":{\"file_id\":\"\"}}") },

    /* ---- Responses API ---- */
    { AIGOV_EP_RESPONSES, IMG, RESP("{\"type\":\"input_text\",\"text\":\"what is this\"},"
        "{\"type\":\"input_image\",\"image_url\":\"https://example.com/cat.png\",\"detail\":\"auto\"}") },
    { AIGOV_EP_RESPONSES, IMG, RESP("{\"type\":\"input_image\",\"file_id\":\"file-abc\",\"detail\":\"high\"}") },
    { AIGOV_EP_RESPONSES, IMG, RESP("{\"type\":\"input_image\",\"image_url\":\"data:image/webp;base64,UklGRg==\"}") },
    { AIGOV_EP_RESPONSES, FIL, RESP("{\"type\":\"input_file\",\"file_id\":\"file-abc\"}") },
    { AIGOV_EP_RESPONSES, FIL, RESP("{\"type\":\"input_file\",\"file_url\":\"https://example.com/report.pdf\"}") },
    { AIGOV_EP_RESPONSES, FIL, RESP("{\"type\":\"input_file\",\"filename\":\"a.pdf\",\"file_data\":\"data:application/pdf;base64," PDF "\"}") },
    { AIGOV_EP_RESPONSES, IMG, RESP("{\"type\":\"input_file\",\"file_url\":\"data:image/jpeg;base64," PNG "\"}") },
    { AIGOV_EP_RESPONSES, AUD, RESP("{\"type\":\"input_audio\",\"input_audio\":{\"data\":\"UklGRiQAAABXQVZF\",\"format\":\"wav\"}}") },
    /* in a message item with a type, an easy message, tool outputs */
    { AIGOV_EP_RESPONSES, IMG, RESP_ITEMS("{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_image\",\"file_id\":\"f\"}]}") },
    { AIGOV_EP_RESPONSES, IMG, RESP_ITEMS("{\"type\":\"function_call_output\",\"call_id\":\"c\",\"output\":["
        "{\"type\":\"input_text\",\"text\":\"the chart:\"},{\"type\":\"input_image\",\"image_url\":\"https://x/c.png\"}]}") },
    { AIGOV_EP_RESPONSES, FIL, RESP_ITEMS("{\"type\":\"function_call_output\",\"call_id\":\"c\",\"output\":["
        "{\"type\":\"input_file\",\"file_id\":\"file-9\"}]}") },
    { AIGOV_EP_RESPONSES, IMG, RESP_ITEMS("{\"type\":\"computer_call_output\",\"call_id\":\"c\",\"output\":"
        "{\"type\":\"computer_screenshot\",\"image_url\":\"data:image/png;base64," PNG "\"}}") },
    { AIGOV_EP_RESPONSES, IMG, RESP_ITEMS("{\"type\":\"computer_call_output\",\"call_id\":\"c\",\"output\":"
        "{\"type\":\"computer_screenshot\",\"file_id\":\"file-2\"}}") },
    /* a stored prompt's variables */
    { AIGOV_EP_RESPONSES, IMG, "{\"model\":\"m\",\"prompt\":{\"id\":\"p\",\"variables\":{\"pic\":{\"type\":\"input_image\",\"file_id\":\"file-1\"}}}}" },
    { AIGOV_EP_RESPONSES, FIL, "{\"model\":\"m\",\"prompt\":{\"id\":\"p\",\"variables\":{\"doc\":{\"type\":\"input_file\",\"file_url\":\"https://x/a.pdf\"}}}}" },
    { AIGOV_EP_RESPONSES, FIL, "{\"model\":\"m\",\"prompt\":{\"id\":\"p\",\"variables\":{\"doc\":{\"type\":\"input_file\",\"file_data\":\"data:application/pdf;base64," PDF "\"}}}}" },
    { AIGOV_EP_RESPONSES, IMG, RESP("{\"t\\u0079pe\":\"input\\u005fimage\",\"image\\u005furl\":\"https:\\/\\/x\\/a.png\"}") },

    /* ---- Responses: no media ---- */
    { AIGOV_EP_RESPONSES, 0, "{\"model\":\"m\",\"input\":\"look at https://example.com/cat.png\"}" },
    { AIGOV_EP_RESPONSES, 0, RESP("{\"type\":\"input_file\",\"file_data\":\"data:text/csv;base64," TXT "\"}") },
    { AIGOV_EP_RESPONSES, 0, RESP("{\"type\":\"input_image\",\"image_url\":\"\",\"file_id\":null}") },
    { AIGOV_EP_RESPONSES, 0, RESP_ITEMS("{\"type\":\"web_search_call\",\"id\":\"ws\",\"status\":\"completed\","
        "\"action\":{\"type\":\"open_page\",\"url\":\"https://example.com\"}}") },
    { AIGOV_EP_RESPONSES, 0, RESP_ITEMS("{\"type\":\"image_generation_call\",\"id\":\"ig\",\"status\":\"completed\",\"result\":\"" PNG "\"}") },
    { AIGOV_EP_RESPONSES, 0, RESP_ITEMS("{\"type\":\"function_call_output\",\"call_id\":\"c\",\"output\":\"https://x/c.png\"}") },
    { AIGOV_EP_RESPONSES, 0, "{\"model\":\"m\",\"prompt\":{\"id\":\"p\",\"variables\":{\"a\":\"https://x/a.png\","
        "\"b\":{\"type\":\"input_text\",\"text\":\"hi\"},\"c\":{\"type\":\"input_image\",\"image_url\":\"\"}}}}" },
    { AIGOV_EP_RESPONSES, 0, "{\"model\":\"m\",\"input\":\"hi\",\"tools\":[{\"type\":\"file_search\",\"vector_store_ids\":[\"vs_1\"]},"
        "{\"type\":\"mcp\",\"server_label\":\"s\",\"server_url\":\"https://mcp.example.com\"}]}" },

    /* ---- Anthropic messages ---- */
    { AIGOV_EP_MESSAGES, IMG, MSGS("{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/png\",\"data\":\"" PNG "\"}}") },
    { AIGOV_EP_MESSAGES, IMG, MSGS("{\"type\":\"image\",\"source\":{\"type\":\"url\",\"url\":\"https://example.com/a.jpg\"}}") },
    { AIGOV_EP_MESSAGES, IMG, MSGS("{\"type\":\"image\",\"source\":{\"type\":\"file\",\"file_id\":\"file_011\"}}") },
    { AIGOV_EP_MESSAGES, FIL, MSGS("{\"type\":\"document\",\"source\":{\"type\":\"base64\",\"media_type\":\"application/pdf\",\"data\":\"" PDF "\"}}") },
    { AIGOV_EP_MESSAGES, FIL, MSGS("{\"type\":\"document\",\"source\":{\"type\":\"url\",\"url\":\"https://example.com/a.pdf\"},\"citations\":{\"enabled\":true}}") },
    { AIGOV_EP_MESSAGES, FIL, MSGS("{\"type\":\"document\",\"source\":{\"type\":\"file\",\"file_id\":\"file_011\"},\"cache_control\":{\"type\":\"ephemeral\"}}") },
    { AIGOV_EP_MESSAGES, FIL, MSGS("{\"type\":\"container_upload\",\"file_id\":\"file_011\"}") },
    { AIGOV_EP_MESSAGES, IMG, MSGS("{\"type\":\"tool_result\",\"tool_use_id\":\"t\",\"content\":[{\"type\":\"text\",\"text\":\"shot\"},"
        "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/jpeg\",\"data\":\"" PNG "\"}}]}") },
    /* a content document source of blocks: its image */
    { AIGOV_EP_MESSAGES, IMG, MSGS("{\"type\":\"document\",\"source\":{\"type\":\"content\",\"content\":["
        "{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"image\",\"source\":{\"type\":\"url\",\"url\":\"https://x/b.png\"}}]}}") },
    { AIGOV_EP_COUNT_TOKENS, IMG | FIL, "{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":["
        "{\"type\":\"image\",\"source\":{\"type\":\"url\",\"url\":\"https://x/b.png\"}},"
        "{\"type\":\"document\",\"source\":{\"type\":\"file\",\"file_id\":\"f\"}}]}]}" },

    /* ---- Anthropic: no media ---- */
    { AIGOV_EP_MESSAGES, 0, MSGS("{\"type\":\"document\",\"source\":{\"type\":\"text\",\"media_type\":\"text/plain\",\"data\":\"project neptune\"}}") },
    { AIGOV_EP_MESSAGES, 0, MSGS("{\"type\":\"document\",\"source\":{\"type\":\"content\",\"content\":[{\"type\":\"text\",\"text\":\"a\"}]}}") },
    { AIGOV_EP_MESSAGES, 0, MSGS("{\"type\":\"document\",\"source\":{\"type\":\"base64\",\"media_type\":\"text/plain\",\"data\":\"" TXT "\"}}") },
    { AIGOV_EP_MESSAGES, 0, "{\"model\":\"c\",\"max_tokens\":9,\"messages\":[{\"role\":\"assistant\",\"content\":["
        "{\"type\":\"redacted_thinking\",\"data\":\"EmwKAhgBEgy3va3pzix/LafPsn4aDFIT\"},"
        "{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"show\",\"input\":{\"type\":\"image\",\"source\":{\"type\":\"url\",\"url\":\"https://x/a.png\"}}}]}]}" },
    { AIGOV_EP_MESSAGES, 0, MSGS("{\"type\":\"search_result\",\"source\":\"https://example.com/a\",\"title\":\"t\","
        "\"content\":[{\"type\":\"text\",\"text\":\"a\"}]},"
        "{\"type\":\"web_search_tool_result\",\"tool_use_id\":\"t\",\"content\":[{\"type\":\"web_search_result\","
        "\"url\":\"https://example.com/b\",\"title\":\"b\",\"encrypted_content\":\"xyz\"}]}") },
};

/* Every case, read the way the gateway reads it and by the reference. */
static void
test_media(void **state)
{
    aigov_request_t rq;
    size_t          c;

    (void) state;
    for (c = 0; c < sizeof(media_cases) / sizeof(media_cases[0]); c++) {
        const char *body = media_cases[c].body;

        if (parse(&rq, media_cases[c].ep, body) != AIGOV_REQ_OK) {
            fprintf(stderr, "media case %zu: %s: %s\n", c, body, err);
            fail();
        }
        if (rq.media != media_cases[c].want)
            fprintf(stderr, "media case %zu: %s: media %u, wanted %u\n", c, body,
                    rq.media, media_cases[c].want);
        assert_int_equal(rq.media, media_cases[c].want);
        aigov_request_free(&rq);
        assert_int_equal(rq.media, 0);
        check_ref(media_cases[c].ep, body, strlen(body));
    }

    /* media and an unreadable file of text: both said */
    assert_int_equal(parse(&rq, AIGOV_EP_RESPONSES,
        RESP("{\"type\":\"input_file\",\"file_data\":\"data:text/plain;base64,cHJvamVjdCBuZXB0/G5l\"},"
             "{\"type\":\"input_file\",\"file_data\":\"data:application/pdf;base64," PDF "\"}")),
        AIGOV_REQ_OK);
    assert_int_equal(rq.media, FIL);
    assert_string_equal(rq.unread_kind, "text_file");
    aigov_request_free(&rq);

    /* an unknown endpoint is not read, media neither */
    assert_int_equal(parse(&rq, AIGOV_EP_UNKNOWN,
        CHAT("{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://x/a.png\"}}")), AIGOV_REQ_OK);
    assert_int_equal(rq.media, 0);
    aigov_request_free(&rq);

    /* the fuzz seeds of media: every kind each API has */
    {
        static const struct { const char *path; unsigned want; } seeds[] = {
            { "fuzz/corpus/request/media-chat.json", IMG | AUD | FIL },
            { "fuzz/corpus/request/media-responses.json", IMG | AUD | FIL },
            { "fuzz/corpus/request/media-messages.json", IMG | FIL },
        };
        static const aigov_endpoint_t eps[] = {
            AIGOV_EP_UNKNOWN, AIGOV_EP_CHAT, AIGOV_EP_COMPLETIONS,
            AIGOV_EP_EMBEDDINGS, AIGOV_EP_MESSAGES, AIGOV_EP_MODELS,
            AIGOV_EP_RESPONSES, AIGOV_EP_COUNT_TOKENS
        };
        char   buf[8192];
        size_t n;

        for (c = 0; c < sizeof(seeds) / sizeof(seeds[0]); c++) {
            FILE *f = fopen(seeds[c].path, "rb");

            assert_non_null(f);
            n = fread(buf, 1, sizeof(buf), f);
            fclose(f);
            assert_true(n > 1 && n < sizeof(buf));
            assert_int_equal(aigov_request_parse(&rq, eps[(unsigned char) buf[0] % 8],
                                                 buf + 1, n - 1, err, sizeof(err)),
                             AIGOV_REQ_OK);
            assert_int_equal(rq.media, seeds[c].want);
            aigov_request_free(&rq);
        }
    }

    /* the bits are media.h's names */
    assert_int_equal(aigov_media_bit("image", 5), IMG);
    assert_int_equal(aigov_media_bit("audio", 5), AUD);
    assert_int_equal(aigov_media_bit("file", 4), FIL);
    assert_int_equal(aigov_media_bit("video", 5), 0);
}

#undef IMG
#undef AUD
#undef FIL
#undef PNG
#undef PDF
#undef TXT
#undef CHAT
#undef RESP
#undef RESP_ITEMS
#undef MSGS

/* ---- keys the model reads ------------------------------------------------ */

static int
text_index(const aigov_request_t *rq, const char *text)
{
    size_t i;

    for (i = 0; i < rq->ntexts; i++) {
        if (strcmp(rq->texts[i].text, text) == 0)
            return (int) i;
    }
    return -1;
}

/* Texts of a body, in order: "text" for a value, "text:" for a key, and
 * "=text" for a key's own string value (paired), joined by "|". */
static void
expect_pairs(aigov_endpoint_t ep, const char *body, const char *want)
{
    aigov_request_t rq;
    char            got[512];
    size_t          i, n = 0;

    assert_int_equal(parse(&rq, ep, body), AIGOV_REQ_OK);
    got[0] = '\0';
    for (i = 0; i < rq.ntexts; i++) {
        n += (size_t) snprintf(got + n, sizeof(got) - n, "%s%s%s%s", i ? "|" : "",
                               rq.texts[i].paired ? "=" : "", rq.texts[i].text,
                               rq.texts[i].key ? ":" : "");
        assert_true(n < sizeof(got));
        /* only a key's next text is its value */
        if (rq.texts[i].paired)
            assert_true(i > 0 && rq.texts[i - 1].key && !rq.texts[i].key);
    }
    assert_string_equal(got, want);
    aigov_request_free(&rq);
}

/* A key's own string value says so (lib/filter reads the two as
 * "KEY": "VALUE"); what follows a key otherwise does not: a container's
 * texts, the next key after a number, an inline file's text. */
static void
test_key_value_pairs(void **state)
{
    (void) state;
    expect_pairs(AIGOV_EP_CHAT,
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
        "\"metadata\":{\"a\":\"x\",\"b\":{\"c\":\"y\"},\"d\":1,\"e\":\"\",\"f\":[\"z\"],"
        "\"g\":\"data:text/plain;base64,aGVsbG8=\",\"h\":\"data:image/png;base64,AAAA\"}}",
        "hi|a:|=x|b:|c:|=y|d:|e:|=|f:|z|g:|hello|h:|=data:image/png;base64,AAAA");
    /* property names: a schema's keywords are not texts, so what follows
     * one is no value of it; a name given a string (no schema) and a name
     * that is no keyword in a schema are paired with their values */
    expect_pairs(AIGOV_EP_CHAT,
        "{\"model\":\"m\",\"messages\":[],\"tools\":[{\"type\":\"function\",\"function\":{"
        "\"name\":\"f\",\"parameters\":{\"type\":\"object\",\"properties\":{"
        "\"user\":{\"type\":\"string\"},\"name\":{\"type\":\"string\",\"description\":\"d\"},"
        "\"proj\":\"ect\"},\"x-note\":\"n\"}}}]}",
        "f|user:|name:|d|proj:|=ect|x-note:|=n");
    /* an Anthropic tool_use input, escaped */
    expect_pairs(AIGOV_EP_MESSAGES,
        "{\"model\":\"c\",\"max_tokens\":5,\"messages\":[{\"role\":\"assistant\","
        "\"content\":[{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\","
        "\"input\":{\"pr\\u006fj\":\"ect neptune\",\"n\":[1,\"two\"]}}]}]}",
        "f|proj:|=ect neptune|n:|two");
}

/* An MCP tool's headers: every name is a text; a credential header's
 * string value is not, any other value is (paired with its name), and
 * what is not a string under a credential name is read free-form. */
static void
test_mcp_headers(void **state)
{
    (void) state;
    expect_pairs(AIGOV_EP_RESPONSES,
        "{\"model\":\"m\",\"input\":\"hi\",\"tools\":[{\"type\":\"mcp\","
        "\"server_label\":\"gh\",\"server_url\":\"https://x\",\"headers\":{"
        "\"Authorization\":\"Bearer t1\",\"X-Note\":\"some text\",\"x-api-key\":\"t2\","
        "\"PROXY-AUTHORIZATION\":\"Basic t3\",\"\\u0043ookie\":\"sid=t4\","
        "\"X-Vault-Token\":\"t5\",\"X-Meta\":{\"Authorization\":\"nested\"},"
        "\"X-Auth\":[\"listed\",{\"a\":\"b\"}],\"X-Count\":3,\"X-Tail\":\"end\"}}]}",
        "hi|gh|https://x|Authorization:|X-Note:|=some text|x-api-key:|PROXY-AUTHORIZATION:|"
        "Cookie:|X-Vault-Token:|X-Meta:|Authorization:|=nested|X-Auth:|listed|a:|=b|"
        "X-Count:|X-Tail:|=end");
    /* "headers" that is no object is free-form as a whole; inside a
     * free-form object it is data, a credential name there included */
    expect_pairs(AIGOV_EP_RESPONSES,
        "{\"model\":\"m\",\"input\":\"hi\",\"tools\":[{\"type\":\"mcp\","
        "\"headers\":[\"Authorization: Bearer t1\"]}],"
        "\"metadata\":{\"headers\":{\"Authorization\":\"Bearer t2\"}}}",
        "hi|Authorization: Bearer t1|headers:|Authorization:|=Bearer t2");
}

static void
test_object_keys(void **state)
{
    aigov_request_t rq, back;
    char   *out;
    size_t  n;
    int     a, b, c;
    json_t *j, *props;

    (void) state;
    /* property names are texts, in body order before their schemas */
    assert_int_equal(parse(&rq, AIGOV_EP_CHAT,
        "{\"model\":\"m\",\"messages\":[],\"tools\":[{\"type\":\"function\",\"function\":{"
        "\"name\":\"f\",\"parameters\":{\"type\":\"object\",\"properties\":{"
        "\"project neptune\":{\"type\":\"string\",\"description\":\"d\"}},"
        "\"required\":[\"project neptune\"]}}}]}"), AIGOV_REQ_OK);
    a = text_index(&rq, "project neptune");
    assert_true(a >= 0);
    assert_int_equal(rq.texts[a].key, 1);
    assert_string_equal(rq.texts[a].role, "tool_definition");
    assert_string_equal(rq.texts[a + 1].text, "d");
    assert_int_equal(rq.texts[a + 1].key, 0);
    /* the name in required is a text too, masked the same way */
    assert_string_equal(rq.texts[a + 2].text, "project neptune");
    assert_int_equal(rq.texts[a + 2].key, 0);
    assert_int_equal(aigov_request_set_text(&rq, (size_t) a, "[REDACTED]", 10), 0);
    assert_int_equal(aigov_request_set_text(&rq, (size_t) a + 2, "[REDACTED]", 10), 0);
    out = aigov_request_serialize(&rq, &n);
    assert_non_null(strstr(out, "\"properties\":{\"[REDACTED]\":{\"type\":\"string\""));
    assert_non_null(strstr(out, "\"required\":[\"[REDACTED]\"]"));
    free(out);
    aigov_request_free(&rq);

    /* keys of free-form objects: a tool's input, metadata, env */
    assert_int_equal(parse(&rq, AIGOV_EP_MESSAGES,
        "{\"model\":\"c\",\"max_tokens\":5,\"metadata\":{\"user_id\":\"u\"},\"messages\":[{\"role\":\"assistant\","
        "\"content\":[{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{\"project neptune\":1}}]}]}"),
        AIGOV_REQ_OK);
    assert_true((a = text_index(&rq, "project neptune")) >= 0);
    assert_string_equal(rq.texts[a].role, "tool_call");
    assert_true((b = text_index(&rq, "user_id")) >= 0);
    assert_string_equal(rq.texts[b].role, "metadata");
    assert_string_equal(rq.texts[b + 1].text, "u");
    aigov_request_free(&rq);

    /* an escaped key is read unescaped and written back escaped */
    assert_int_equal(parse(&rq, AIGOV_EP_CHAT,
        "{\"model\":\"m\",\"messages\":[],\"metadata\":{\"a\\\"b\\u00e9\":\"v\"}}"), AIGOV_REQ_OK);
    assert_true((a = text_index(&rq, "a\"b\xc3\xa9")) >= 0);
    assert_int_equal(aigov_request_set_text(&rq, (size_t) a, "k\"\n", 3), 0);
    out = aigov_request_serialize(&rq, &n);
    assert_non_null(strstr(out, "\"metadata\":{\"k\\\"\\n\":\"v\"}"));
    free(out);
    aigov_request_free(&rq);

    /* Two keys masked alike: the body must not carry one key twice (one
     * parser would read the first, the next the last). The later one
     * becomes "KEY (2)"; every member is still there. */
    assert_int_equal(parse(&rq, AIGOV_EP_CHAT,
        "{\"model\":\"m\",\"messages\":[],\"tools\":[{\"type\":\"function\",\"function\":{"
        "\"name\":\"f\",\"parameters\":{\"type\":\"object\",\"properties\":{"
        "\"mail a@x.org\":{\"description\":\"one\"},\"mail b@x.org\":{\"description\":\"two\"},"
        "\"mail [M]\":{\"description\":\"three\"},\"mail [M] (2)\":{}}}}}]}"), AIGOV_REQ_OK);
    a = text_index(&rq, "mail a@x.org");
    b = text_index(&rq, "mail b@x.org");
    assert_true(a >= 0 && b >= 0);
    assert_int_equal(aigov_request_set_text(&rq, (size_t) a, "mail [M]", 8), 0);
    assert_int_equal(aigov_request_set_text(&rq, (size_t) b, "mail [M]", 8), 0);
    out = aigov_request_serialize(&rq, &n);
    assert_non_null(out);
    j = json_loads(out, JSON_REJECT_DUPLICATES, NULL);
    if (j == NULL)
        fprintf(stderr, "%s\n", out);
    assert_non_null(j);
    props = json_object_get(json_object_get(json_object_get(json_array_get(
        json_object_get(j, "tools"), 0), "function"), "parameters"), "properties");
    assert_int_equal(json_object_size(props), 4);
    /* the key nobody edited keeps its name; the edited ones take the
     * first numbers free */
    assert_string_equal(json_string_value(json_object_get(json_object_get(props, "mail [M]"),
                                                          "description")), "three");
    assert_string_equal(json_string_value(json_object_get(json_object_get(props, "mail [M] (3)"),
                                                          "description")), "one");
    assert_string_equal(json_string_value(json_object_get(json_object_get(props, "mail [M] (4)"),
                                                          "description")), "two");
    assert_non_null(json_object_get(props, "mail [M] (2)"));
    json_decref(j);
    /* the texts say what was sent */
    assert_string_equal(rq.texts[a].text, "mail [M] (3)");
    assert_string_equal(rq.texts[b].text, "mail [M] (4)");
    assert_int_equal(aigov_request_parse(&back, AIGOV_EP_CHAT, out, n, err, sizeof(err)),
                     AIGOV_REQ_OK);
    aigov_request_free(&back);
    free(out);
    /* settled: serializing again changes nothing */
    out = aigov_request_serialize(&rq, &n);
    assert_non_null(strstr(out, "\"mail [M] (4)\""));
    free(out);
    aigov_request_free(&rq);

    /* both edited, none left as it was: the first keeps the name */
    assert_int_equal(parse(&rq, AIGOV_EP_CHAT,
        "{\"model\":\"m\",\"messages\":[],\"metadata\":{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\"}}"),
        AIGOV_REQ_OK);
    a = text_index(&rq, "a");
    b = text_index(&rq, "b");
    c = text_index(&rq, "c");
    assert_int_equal(aigov_request_set_text(&rq, (size_t) c, "K", 1), 0);
    assert_int_equal(aigov_request_set_text(&rq, (size_t) a, "K", 1), 0);
    assert_int_equal(aigov_request_set_text(&rq, (size_t) b, "K", 1), 0);
    out = aigov_request_serialize(&rq, &n);
    assert_string_equal(out, "{\"model\":\"m\",\"messages\":[],\"metadata\":"
                             "{\"K\":\"1\",\"K (2)\":\"2\",\"K (3)\":\"3\"}}");
    free(out);
    aigov_request_free(&rq);

    /* a name the client chose in a schema, masked into a keyword of that
     * schema, must not become the keyword */
    assert_int_equal(parse(&rq, AIGOV_EP_CHAT,
        "{\"model\":\"m\",\"messages\":[],\"tools\":[{\"type\":\"function\",\"function\":{"
        "\"name\":\"f\",\"parameters\":{\"type\":\"object\",\"x-type\":\"string\"}}}]}"),
        AIGOV_REQ_OK);
    assert_true((a = text_index(&rq, "x-type")) >= 0);
    assert_int_equal(aigov_request_set_text(&rq, (size_t) a, "type", 4), 0);
    out = aigov_request_serialize(&rq, &n);
    assert_non_null(strstr(out, "{\"type\":\"object\",\"type (2)\":\"string\"}"));
    free(out);
    aigov_request_free(&rq);

    /* many keys masked alike, in one object: still one pass */
    {
        size_t k, off, cnt = 3000;
        char  *big = malloc(cnt * 32 + 64);

        assert_non_null(big);
        off = (size_t) sprintf(big, "{\"model\":\"m\",\"messages\":[],\"metadata\":{");
        for (k = 0; k < cnt; k++)
            off += (size_t) sprintf(big + off, "%s\"k%zu\":\"v\"", k ? "," : "", k);
        strcpy(big + off, "}}");
        assert_int_equal(parse(&rq, AIGOV_EP_CHAT, big), AIGOV_REQ_OK);
        for (k = 0; k < rq.ntexts; k++) {
            if (rq.texts[k].key)
                assert_int_equal(aigov_request_set_text(&rq, k, "K", 1), 0);
        }
        out = aigov_request_serialize(&rq, &n);
        j = json_loads(out, JSON_REJECT_DUPLICATES, NULL);
        assert_non_null(j);
        assert_int_equal(json_object_size(json_object_get(j, "metadata")), cnt);
        assert_non_null(json_object_get(json_object_get(j, "metadata"), "K (3000)"));
        json_decref(j);
        free(out);
        aigov_request_free(&rq);
        free(big);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_ids),
        cmocka_unit_test(test_inline_files),
        cmocka_unit_test(test_media),
        cmocka_unit_test(test_object_keys),
        cmocka_unit_test(test_key_value_pairs),
        cmocka_unit_test(test_mcp_headers),
        cmocka_unit_test(test_tool_descriptions),
        cmocka_unit_test(test_inspect_by_default),
        cmocka_unit_test(test_inspect_hostile),
        cmocka_unit_test(test_n_and_best_of),
        cmocka_unit_test(test_ask_usage),
        cmocka_unit_test(test_endpoint_from_path),
        cmocka_unit_test(test_chat_simple),
        cmocka_unit_test(test_chat_all_roles),
        cmocka_unit_test(test_chat_content_parts),
        cmocka_unit_test(test_chat_limits_and_stream),
        cmocka_unit_test(test_chat_both_limit_keys),
        cmocka_unit_test(test_completions_string),
        cmocka_unit_test(test_completions_array),
        cmocka_unit_test(test_embeddings),
        cmocka_unit_test(test_anthropic_messages),
        cmocka_unit_test(test_anthropic_system_blocks),
        cmocka_unit_test(test_anthropic_tool_result),
        cmocka_unit_test(test_anthropic_requires_max_tokens),
        cmocka_unit_test(test_anthropic_bad_shapes),
        cmocka_unit_test(test_unicode),
        cmocka_unit_test(test_bad_json_truncated),
        cmocka_unit_test(test_bad_json_line_column),
        cmocka_unit_test(test_not_an_object),
        cmocka_unit_test(test_chat_wrong_types),
        cmocka_unit_test(test_stream_and_limits_wrong_types),
        cmocka_unit_test(test_responses_background),
        cmocka_unit_test(test_prompt_input_wrong_types),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_depth_boundary),
        cmocka_unit_test(test_huge_numbers),
        cmocka_unit_test(test_nul_bytes),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_set_text_round_trip),
        cmocka_unit_test(test_set_text_parts_and_unicode),
        cmocka_unit_test(test_set_text_rejects),
        cmocka_unit_test(test_set_max_tokens_each_shape),
        cmocka_unit_test(test_models_no_body),
        cmocka_unit_test(test_unknown_endpoint),
        cmocka_unit_test(test_prompt_tokens),
        cmocka_unit_test(test_too_many_texts),
        cmocka_unit_test(test_free_is_safe),
        cmocka_unit_test(test_serialize_real_precision),
        cmocka_unit_test(test_whitespace_and_escapes),
        cmocka_unit_test(test_serialize_unmodified_identical),
        cmocka_unit_test(test_splice_escapes_and_order),
        cmocka_unit_test(test_set_max_tokens_splices),
        cmocka_unit_test(test_strict_grammar),
        cmocka_unit_test(test_error_places),
        cmocka_unit_test(test_duplicates_in_large_objects),
        cmocka_unit_test(test_differential_jansson),
        cmocka_unit_test(test_ascii_texts),
        cmocka_unit_test(test_long_prompts_reuse_memory),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
