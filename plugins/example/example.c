/*
 * example: the smallest useful aigov plugin, written as a model for your
 * own. It finds a configured word (case-insensitive) and reports every
 * occurrence as a span labelled WORD.
 *
 *     filters:
 *       - plugin: example
 *         stages: [request, response]
 *         action: redact          # or flag, or block
 *         config: {word: neptune}
 *
 * Build (nothing but this header is needed):
 *     cc -std=c11 -fPIC -shared -fvisibility=hidden -I/path/to/plugins \
 *        example.c -o example.so
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdio.h>

#include "aigov_plugin.h"   /* the whole ABI */

/* At most this many spans per inspect; more occurrences still count as a
 * finding, they are just not all masked in one call. */
#define MAX_SPANS 64

/* One instance per filter in a policy. Whatever inspect() returns through
 * pointers must live here (or in stream state), not on the stack. */
typedef struct {
    char          *word;
    size_t         len;
    aigov_span_t   spans[MAX_SPANS];
} example_t;

/* create: read the config through the host's accessors, check it, and
 * return the instance. On a bad config return NULL and say why in err:
 * the host prints it with the policy's file:line:col at `nginx -t`. */
static void *example_create(const aigov_config_api_t *api, const aigov_config_t *cfg,
                            aigov_action_t action, char *err, size_t errlen)
{
    const char *word;
    example_t *ex;
    size_t i;

    (void)action;   /* the host turns findings into the policy's action */

    /* Reject keys we do not know, so a typo in a policy is an error. */
    for (i = 0; i < api->nkeys(cfg); i++) {
        if (strcmp(api->key(cfg, i), "word") != 0) {
            snprintf(err, errlen, "unknown key \"%s\" (example takes: word)",
                     api->key(cfg, i));
            return NULL;
        }
    }
    word = api->string(cfg, "word");
    if (word == NULL || word[0] == '\0') {
        snprintf(err, errlen, "\"word\" is required and must be a non-empty string");
        return NULL;
    }
    ex = calloc(1, sizeof(*ex));
    if (ex == NULL || (ex->word = strdup(word)) == NULL) {
        /* strings from the accessors belong to the host: copy them */
        free(ex);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ex->len = strlen(ex->word);
    return ex;
}

static void example_destroy(void *inst)
{
    example_t *ex = inst;

    free(ex->word);
    free(ex);
}

/* inspect: look at one text (not NUL-terminated; use len) and fill the
 * verdict the host zeroed. stream is NULL for a complete text; this plugin
 * keeps no stream state, because the host overlaps streamed pieces (as
 * tail below asks) so a word split across chunks is seen whole. Return -1 only on an internal
 * failure; the host then fails closed unless the policy says otherwise. */
static int example_inspect(void *inst, void *stream, const char *text, size_t len,
                           aigov_verdict_t *out)
{
    example_t *ex = inst;
    size_t i, n = 0;

    (void)stream;
    for (i = 0; ex->len <= len && i <= len - ex->len; i++) {
        if (strncasecmp(text + i, ex->word, ex->len) != 0)
            continue;
        if (n < MAX_SPANS) {
            ex->spans[n].start = i;         /* byte offsets into text */
            ex->spans[n].end = i + ex->len; /* half-open */
            ex->spans[n].label = "WORD";    /* shown as [REDACTED:WORD] */
        }
        n++;
        i += ex->len - 1;
    }
    if (n == 0)
        return 0;                           /* kind stays AIGOV_ALLOW */
    out->kind = AIGOV_REDACT;               /* found: spans say where */
    out->spans = ex->spans;
    out->nspans = n < MAX_SPANS ? n : MAX_SPANS;
    out->reason = "the text contains the configured word";
    out->category = "word";
    return 0;
}

/* tail: in a stream, how much of the end of the text a match could still
 * cover once more text comes. The host sends everything before it to the
 * client at once, and holds the rest for the next call. Here: the longest
 * end of the text that begins the word ("nept" of "neptune"). Answering
 * len would be safe but slow (the host then holds its whole bound); 0 for
 * text that begins nothing lets the answer flow as the model writes it. */
static size_t example_tail(void *inst, void *stream, const char *text, size_t len)
{
    example_t *ex = inst;
    size_t n = ex->len - 1 < len ? ex->len - 1 : len;

    (void)stream;
    /* a whole word at the end is masked already; only a prefix can grow */
    for (; n > 0; n--)
        if (strncasecmp(text + len - n, ex->word, n) == 0)
            return n;
    return 0;
}

/* The table the host reads. stream_start/stream_end/tail may be NULL. */
static const aigov_plugin_t example_plugin = {
    .abi_version  = AIGOV_PLUGIN_ABI_VERSION,
    .name         = "example",
    .version      = "1.0",
    .create       = example_create,
    .destroy      = example_destroy,
    .inspect      = example_inspect,
    .stream_start = NULL,
    .stream_end   = NULL,
    .tail         = example_tail,
};

/* The one exported symbol. Build with -fvisibility=hidden so that nothing
 * else leaks into the host's symbol space. */
AIGOV_PLUGIN_EXPORT const aigov_plugin_t *aigov_plugin_entry(void)
{
    return &example_plugin;
}
