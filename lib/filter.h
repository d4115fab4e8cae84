/*
 * filter: the plugin host. Loads content-filter plugins (shared objects
 * speaking plugins/aigov_plugin.h), builds instances from a policy's
 * `config:`, runs them over request texts and applies their redactions.
 * Answers (JSON and SSE) are filtered by lib/answer on top of this.
 */
#ifndef AIGOV_FILTER_H
#define AIGOV_FILTER_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "aigov_plugin.h"
#include "request.h"

typedef struct aigov_plugin_host_s aigov_plugin_host_t;
typedef struct aigov_filter_inst_s aigov_filter_inst_t;

#include "policy.h"      /* AIGOV_STAGE_*, aigov_policy_filter_t */

#define AIGOV_ON_ERROR_BLOCK  0
#define AIGOV_ON_ERROR_ALLOW  1

/* ---- host ---- */

aigov_plugin_host_t *aigov_host_new(void);
/* Unloads every plugin. Destroy all instances first. */
void aigov_host_free(aigov_plugin_host_t *h);

/* Loads the shared object at path under name. 0, or -1 with one sentence
 * in err: missing file, not a shared object, no aigov_plugin_entry, an ABI
 * version aigov does not speak, a name already loaded. */
int aigov_host_load(aigov_plugin_host_t *h, const char *name, const char *path,
                    char *err, size_t errlen);
/* The table of a loaded plugin, NULL when no plugin has that name. */
const aigov_plugin_t *aigov_host_plugin(const aigov_plugin_host_t *h,
                                        const char *name);

/* Builds an instance of plugin for one filter of a policy. ctx is the host;
 * the signature is the policy loader's factory callback. config may be NULL
 * (no `config:`) or must be a JSON object; action is aigov_action_t.
 * Returns an aigov_filter_inst_t *, or NULL with one sentence in err. */
void *aigov_host_instance(void *ctx, const char *plugin, const json_t *config,
                          int action, char *err, size_t errlen);
/* Destroys an instance (NULL is fine). */
void aigov_host_instance_free(void *inst);
/* The same, with the policy loader's destroy callback signature. */
void aigov_host_instance_destroy(void *ctx, void *inst);

/* Name the instance was built for, and its plugin table. */
const char *aigov_inst_plugin_name(const aigov_filter_inst_t *fi);
const aigov_plugin_t *aigov_inst_plugin(const aigov_filter_inst_t *fi);
void *aigov_inst_state(const aigov_filter_inst_t *fi);

/* The host's config accessors over a JSON object, without a host: for
 * plugin tests and tools. from_json copies obj (NULL: empty mapping). */
const aigov_config_api_t *aigov_config_api(void);
aigov_config_t *aigov_config_from_json(const json_t *obj);
void aigov_config_free(aigov_config_t *cfg);

/* ---- running filters ---- */

/* One filter of the matched rule, as the policy gives it. */
typedef struct {
    void        *inst;       /* from aigov_host_instance */
    const char  *plugin;     /* name in the policy, for records and errors */
    unsigned     stages;     /* AIGOV_STAGE_* bits */
    int          action;     /* aigov_action_t: 1 flag, 2 redact, 3 block */
    int          on_error;   /* AIGOV_ON_ERROR_* */
} aigov_filter_spec_t;

/* Fills out[0..n) from the policy's filters of a decision; returns n. */
size_t aigov_filter_specs(const aigov_policy_filter_t *pf, size_t n,
                          aigov_filter_spec_t *out);

/* One line of the audit record's `filters`. */
typedef struct {
    char         plugin[64];
    unsigned     stage;      /* AIGOV_STAGE_REQUEST or _RESPONSE */
    const char  *verdict;    /* "allow" "flag" "redact" "block" "error" (static) */
    size_t       count;      /* findings: masked spans, or texts flagged */
    int          inspected;  /* the plugin was given some text */
} aigov_filter_record_t;

typedef struct {
    aigov_filter_record_t *records;  /* one per filter run at this stage */
    size_t       nrecords;
    int          blocked;
    char        *block_plugin;       /* the 403's `code` */
    char        *block_reason;       /* the 403's `message` */
    char        *block_category;     /* may be NULL */
    int          modified;           /* a text was redacted */
} aigov_filter_outcome_t;

enum {
    AIGOV_FILTER_PASS = 0,      /* go on (texts may have been redacted) */
    AIGOV_FILTER_BLOCKED = 1,   /* refuse: outcome.block_* say why */
    AIGOV_FILTER_NOMEM = -1     /* fail closed */
};

/* Runs the filters whose stages include AIGOV_STAGE_REQUEST over every text
 * of rq, in order; redactions are written back with aigov_request_set_text
 * (the next filter sees the redacted text). Stops at the first block.
 * out is zeroed first; free it with aigov_filter_outcome_free. */
int aigov_filter_request(const aigov_filter_spec_t *filters, size_t nfilters,
                         aigov_request_t *rq, aigov_filter_outcome_t *out);
void aigov_filter_outcome_free(aigov_filter_outcome_t *out);

/* The 403 body for a block: {"error":{"message":reason,
 * "type":"policy_violation","code":plugin,"param":null}}. malloc'd. */
char *aigov_filter_error_json(const char *plugin, const char *reason, size_t *len);

/* ---- building blocks shared with lib/answer ---- */

/* One finding reduced to what the host does with it. */
typedef struct {
    int          status;     /* 0 ok, -1 plugin error or bad spans */
    int          found;      /* verdict kind != ALLOW */
    const aigov_span_t *spans;
    size_t       nspans;
    const char  *reason;
    const char  *category;
    size_t       tail;       /* aigov_filter_inspect_tail's answer */
} aigov_inspection_t;

/* Calls the instance's inspect() on the normalized view of text
 * (lib/normalize.h) and checks its spans (each start <= end <= the view's
 * length; an out-of-range or reversed span is a plugin error). The spans
 * handed back are mapped to text: the smallest range of whole characters
 * covering what the plugin matched. They stay valid until the next call on
 * the same instance. */
void aigov_filter_inspect(const aigov_filter_spec_t *f, void *stream,
                          const char *text, size_t len, aigov_inspection_t *ins);

/* What an instance's inspections cost since the last call (one process;
 * for metrics): *calls, and *ns, the time spent in aigov_filter_inspect
 * (normalizing, the plugin, mapping its spans). One call in
 * AIGOV_FILTER_TIME_EVERY is timed and the rest estimated from those, so
 * that the clock costs little on the hot path. Resets both. */
#define AIGOV_FILTER_TIME_EVERY  8
void aigov_filter_stats_take(aigov_filter_inst_t *fi, uint64_t *calls, uint64_t *ns);

/* aigov_filter_inspect of a stream window, and then, when ins->status is
 * 0, how much of its end the filter needs to see again with the next
 * piece, into ins->tail: the plugin's tail() answer on the view it just
 * inspected, mapped onto the original bytes, at most cap; cap itself for a
 * plugin without one (ABI 1, or a NULL entry). lib/answer holds the
 * largest over its filters. */
void aigov_filter_inspect_tail(const aigov_filter_spec_t *f, void *stream,
                               const char *text, size_t len, size_t cap,
                               aigov_inspection_t *ins);

/* aigov_filter_inspect_tail (cap 0: aigov_filter_inspect) of JSON text
 * that the client parses, tool-call arguments: the filters read what it
 * means parsed, its string escapes decoded (lib/normalize.h,
 * aigov_json_view), and spans map back to whole escapes. */
void aigov_filter_inspect_json(const aigov_filter_spec_t *f, void *stream,
                               const char *text, size_t len, size_t cap,
                               aigov_inspection_t *ins);

/* How text i of a list meets text i - 1 (aigov_texts_t.join[i]). */
enum {
    /* run together, as content parts and messages are: read with nothing
     * between them, and again with a space */
    AIGOV_JOIN_RUN = 0,
    /* an object key and its own string value: read as the model reads the
     * pair, KEY": "VALUE, in both readings (counted in the first) */
    AIGOV_JOIN_PAIR,
    /* JSON that the list does not hold lies between them (a key and what
     * is not its string value, or what comes before a key): not read
     * across */
    AIGOV_JOIN_APART
};

/* Texts read joined (lib/filter.c, "across texts"): n texts in order, as
 * the filter got them (before its own redaction of each text alone), how
 * each meets the one before it, and how to replace one (a redaction that
 * crosses a join: the text as given, with the masks the filter finds in it
 * alone and those found across the join). */
typedef struct {
    size_t          n;
    const char    **text;
    size_t         *len;
    const unsigned char *join;  /* AIGOV_JOIN_* by text, join[0] unused;
                                   NULL: every join AIGOV_JOIN_RUN */
    const unsigned char *json;  /* by text: JSON text (read as parsed, as
                                   aigov_filter_inspect_json); NULL: none */
    int             ascii;      /* all known ASCII */
    int             stage;      /* AIGOV_STAGE_REQUEST or _RESPONSE */
    int           (*set)(void *ctx, size_t i, const char *s, size_t len);
    void           *ctx;
} aigov_texts_t;

/* A byte that may be part of a word: ASCII letters and digits, and any
 * byte of a multi-byte character. Texts are read joined with a space only
 * where such bytes meet: elsewhere nothing between them reads the same. */
static inline int aigov_word_byte(unsigned char c)
{
    return c >= 0x80 || (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

/* Runs one filter over the texts joined, read twice (at AIGOV_JOIN_RUN
 * joins nothing between them, then a space, read only when some such join
 * meets word to word), near their joins; a finding counts that takes bytes
 * of two texts across a join, or that lies inside one text which alone
 * does not hold it (its neighbour gave the context: a secret's name in the
 * key before it). t->text are the texts as the filter
 * got them: a text the filter redacted alone may since have been replaced
 * (t->set), the joined reading does not see those masks. A block is noted
 * in out (aigov_outcome_block). A redaction: every text a joined mask
 * takes bytes of is set (t->set) to its t->text with the masks of both
 * readings and those the filter finds in it alone, merged (one label where
 * a merged mask starts); the others are left as they are. A joined match
 * that only runs a match of one text alone on into the whole text next to
 * it is not taken. t->text and t->len are then stale. AIGOV_FILTER_PASS,
 * _BLOCKED or _NOMEM. */
int aigov_filter_joined(const aigov_filter_spec_t *fs, const char *name,
                        const aigov_texts_t *t, aigov_filter_outcome_t *out);

/* Redaction: a sorted list of disjoint masked ranges. */
typedef struct {
    size_t       start, end;
    char         label[32];
} aigov_mask_t;

typedef struct {
    aigov_mask_t *v;
    size_t        n, cap;
} aigov_masks_t;

/* Adds [start, end) (plus base) to the set, widened to whole UTF-8
 * characters of text (whose byte 0 is at offset base) and merged with the
 * ranges it overlaps or touches. Returns the number of bytes newly
 * covered (0 when already masked), or -1 when out of memory. */
long aigov_masks_add(aigov_masks_t *m, const char *text, size_t len, size_t base,
                     size_t start, size_t end, const char *label);
void aigov_masks_free(aigov_masks_t *m);

/* Writes text (at offset base) with the masks applied: a mask that starts
 * inside the text becomes "[REDACTED:LABEL]", the part of a mask that began
 * before base is removed. malloc'd, NUL-terminated. */
char *aigov_masks_apply(const aigov_masks_t *m, const char *text, size_t len,
                        size_t base, size_t *outlen);

/* Records: find or append the record of (plugin, stage) and raise it. */
int aigov_outcome_note(aigov_filter_outcome_t *out, const char *plugin,
                       unsigned stage, const char *verdict, size_t count);
/* Notes that the filter was given some text at this stage. */
int aigov_outcome_inspected(aigov_filter_outcome_t *out, const char *plugin,
                            unsigned stage);
/* The verdict a record reports: "none" for a filter that inspected
 * nothing (no text at its stage), never "allow". */
const char *aigov_filter_record_verdict(const aigov_filter_record_t *r);
int aigov_outcome_block(aigov_filter_outcome_t *out, const char *plugin,
                        const char *reason, const char *category);

#endif
