/*
 * aigov_plugin.h: the whole ABI between aigov and a content-filter plugin.
 *
 * A plugin is a shared object that exports one function,
 *
 *     const aigov_plugin_t *aigov_plugin_entry(void);
 *
 * returning a static table. The host refuses a table whose abi_version it
 * does not speak. Everything a plugin needs is in this header: it sees
 * text (message contents, never raw JSON), reads its configuration through
 * the host's accessors, and answers with a verdict. The host applies
 * redactions itself, so a plugin never rewrites buffers.
 *
 * Threading: nginx workers are single-threaded processes. An instance is
 * created once at configuration time and then used by one process at a
 * time; per-stream state lives in the object returned by stream_start.
 */

#ifndef AIGOV_PLUGIN_H
#define AIGOV_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ABI 2 added the optional entry `tail` at the end of the table. The host
 * still loads ABI 1 plugins (whose tables end at stream_end) and holds a
 * fixed window of their streams' text for them. */
#define AIGOV_PLUGIN_ABI_VERSION  2u
#define AIGOV_PLUGIN_ABI_MIN      1u
#define AIGOV_PLUGIN_ENTRY        "aigov_plugin_entry"

#if defined(__GNUC__)
#define AIGOV_PLUGIN_EXPORT  __attribute__((visibility("default")))
#else
#define AIGOV_PLUGIN_EXPORT
#endif

typedef enum {
    AIGOV_ALLOW  = 0,   /* nothing found */
    AIGOV_FLAG   = 1,   /* found something worth recording; text unchanged */
    AIGOV_REDACT = 2,   /* mask the spans in the verdict */
    AIGOV_BLOCK  = 3    /* refuse the request, or end the stream */
} aigov_verdict_kind_t;

/* A half-open byte range [start, end) of the text given to inspect(). The
 * host replaces it with "[REDACTED:" label "]". label is a static string
 * such as "EMAIL" or "AWS_KEY". */
typedef struct {
    size_t       start;
    size_t       end;
    const char  *label;
} aigov_span_t;

/* Filled by inspect(). The host zeroes it before each call. Pointers must
 * stay valid until the next call on the same instance or stream. */
typedef struct {
    aigov_verdict_kind_t  kind;
    const aigov_span_t   *spans;      /* what was found; used by REDACT */
    size_t                nspans;
    const char           *reason;     /* one plain sentence, for logs and callers */
    const char           *category;   /* short machine word: "email", "jailbreak" */
    double                score;      /* plugin-defined, 0 when unused */
} aigov_verdict_t;

/* What the filter in the policy asks for. A plugin may use it to decide how
 * much work to do (a FLAG-only filter needs no spans), but the host turns
 * any finding into the policy's action itself: a plugin that finds
 * something returns REDACT with spans, or BLOCK. */
typedef enum {
    AIGOV_ACTION_FLAG   = 1,
    AIGOV_ACTION_REDACT = 2,
    AIGOV_ACTION_BLOCK  = 3
} aigov_action_t;

/* The filter's `config:` mapping from the policy, read through the host. A
 * key that is absent makes the accessors return 0 / NULL. Lists of strings
 * and plain scalars are what plugins usually need; keys() lets a plugin
 * reject keys it does not know. */
typedef struct aigov_config_s aigov_config_t;

typedef struct {
    /* number of keys in the mapping and the i-th key */
    size_t       (*nkeys)(const aigov_config_t *cfg);
    const char  *(*key)(const aigov_config_t *cfg, size_t i);
    /* scalar as string; NULL when absent or not a scalar */
    const char  *(*string)(const aigov_config_t *cfg, const char *key);
    /* 1 and *out set when the value is a number, else 0 */
    int          (*number)(const aigov_config_t *cfg, const char *key, double *out);
    /* 1 and *out set when the value is a boolean, else 0 */
    int          (*boolean)(const aigov_config_t *cfg, const char *key, int *out);
    /* list of scalars: its length (0 if absent or not a list) and the i-th
     * element as string (NULL if not a scalar) */
    size_t       (*list_len)(const aigov_config_t *cfg, const char *key);
    const char  *(*list_item)(const aigov_config_t *cfg, const char *key, size_t i);
    /* nested mapping, NULL when absent or not a mapping */
    const aigov_config_t *(*map)(const aigov_config_t *cfg, const char *key);
} aigov_config_api_t;

typedef struct {
    uint32_t     abi_version;           /* AIGOV_PLUGIN_ABI_VERSION */
    const char  *name;                  /* default name, e.g. "pii" */
    const char  *version;               /* the plugin's own version string */

    /* Build an instance from its config. On a bad config return NULL and
     * write one sentence into err (the host shows it at `nginx -t` with the
     * policy's file:line:col). */
    void  *(*create)(const aigov_config_api_t *api, const aigov_config_t *cfg,
                     aigov_action_t action, char *err, size_t errlen);
    void   (*destroy)(void *inst);

    /* Inspect one piece of text. stream is NULL for a complete text (a
     * prompt message, a whole JSON answer); otherwise the value from
     * stream_start, and text is a window of the stream: the text not yet
     * sent to the client, after at least aigov_stream_hold_back bytes
     * (256 by default) of text already sent, as context. Windows overlap,
     * so a plugin that matches patterns shorter than that needs no stream
     * state to find a match split across chunks; stream state is for what
     * spans the whole answer (a running score, for example).
     * Returns 0, or -1 on an internal error (the host then fails closed
     * unless the policy says on_error: allow). */
    int    (*inspect)(void *inst, void *stream, const char *text, size_t len,
                      aigov_verdict_t *out);

    /* Optional (may be NULL): per-stream state for a streamed answer. */
    void  *(*stream_start)(void *inst);
    void   (*stream_end)(void *inst, void *stream);

    /* ---- ABI 2 ---- */

    /* Optional (may be NULL): how many bytes at the end of a stream window
     * a match could still cover once more text follows. The host calls it
     * right after inspect() returned 0, with the same stream, text and
     * len, and sends the client the window's text up to the last tail
     * bytes (whole events only): those wait for the next piece, and are in
     * the next window again. Answer with the start of anything that later
     * text could turn into a finding: an e-mail detector the trailing run
     * of address characters, a term list the longest tail that begins a
     * term; 0 when no match can be in progress, len (or more) when any of
     * the window may still be needed. Context a match merely looks at
     * (a word boundary, the key name before a secret) need not be counted:
     * the next window starts at least aigov_stream_hold_back bytes before
     * the held text. The host never holds more than that bound, so a
     * pattern that can grow longer may be cut as with ABI 1. NULL, or an
     * ABI 1 plugin: the host holds the last aigov_stream_hold_back bytes,
     * which delays the answer by that much text. */
    size_t (*tail)(void *inst, void *stream, const char *text, size_t len);
} aigov_plugin_t;

typedef const aigov_plugin_t *(*aigov_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* AIGOV_PLUGIN_H */
