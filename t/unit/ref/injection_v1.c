/*
 * REFERENCE ONLY: plugins/injection/injection.c as it was
 * before the scanner was made fast, kept verbatim (below this comment) so
 * that the unit test can compare the old and new scanners on a generated
 * corpus. Compiled only into that test, which renames its exported
 * symbols before including it. Do not change it, except where the
 * plugin's signals change meaning on purpose: the comparison is about
 * speed work keeping behaviour. (2026-11-28: the signals "you are now
 * ...", "... mode enabled" and "from now on you are ..." end at a word
 * boundary in both, so "you are now dancing" is not "you are now dan".)
 */
/*
 * injection: prompt-injection and jailbreak heuristics with a score.
 *
 *     config:
 *       threshold: 1.0     # findings score at least this much (default 1.0)
 *
 * Each signal is a case-insensitive regular expression with a weight; all
 * are matched in one Vectorscan pass. A text's score is the sum of the
 * weights of the distinct signals it shows. Long base64 or hex runs are
 * decoded and scanned too: a payload that decodes to instruction-like text
 * is itself a strong signal. At or above the threshold the verdict is
 * BLOCK with the score and a span per match (so `action: redact` masks
 * the phrases); below it the text is allowed.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hs.h>

#include "aigov_plugin.h"

#define MAX_SPANS      64
#define MIN_B64        24      /* shorter runs are ordinary words or ids */
#define MIN_HEX        32
#define MAX_DECODE     4096    /* bytes of one payload that are decoded */
#define ENCODED_WEIGHT 1.0

typedef struct {
    const char *re;
    double      weight;
    const char *category;
} signal_t;

/* words apart: blanks or light punctuation */
#define S "[\\s,.;:!\\-]+"

static const signal_t signals[] = {
    { "\\b(ignore|disregard|forget|override|bypass|skip)" S "(all" S "|any" S "|the" S
      "|your" S "|my" S "|of" S "|these" S "|those" S ")*(previous|prior|earlier|above|"
      "preceding|initial|original|system|safety)" S "(instructions?|prompts?|rules|"
      "guidelines|directives|constraints)\\b", 1.0, "instruction_override" },
    { "\\b(ignore|disregard|forget|override|bypass|skip)" S "(all" S "|any" S "|the" S
      "|your" S "|my" S "|of" S "|these" S "|those" S ")*(previous|prior|earlier|above|"
      "preceding|initial|original|system|safety)" S "(messages?|directions)\\b", 0.5,
      "instruction_override" },
    { "\\b(reveal|print|show|display|repeat|output|leak|dump|disclose|tell" S "me|"
      "what" S "(is|are|was|were))" S "(me" S ")?(your|the)" S "((full|entire|complete|"
      "original|hidden|secret|initial|exact)" S ")*(system" S "prompt|system" S "message|"
      "initial" S "instructions|hidden" S "instructions|instructions" S "above)\\b",
      0.8, "prompt_leak" },
    { "\\byou" S "are" S "now" S "(dan|an?" S "(unrestricted|unfiltered|uncensored|"
      "jailbroken)|in" S "(developer|god|jailbreak)" S "mode|free" S "from" S
      "(all" S "|any" S "|your" S "|the" S ")*"
      "(restrictions|rules|limits|limitations|filters|guidelines|constraints|"
      "censorship|polic(y|ies)|programming))\\b", 1.0, "jailbreak" },
    { "\\b(do" S "anything" S "now|dan" S "mode)\\b", 0.8, "jailbreak" },
    { "\\b((developer|god|jailbreak|unrestricted|dan)" S "mode" S "(is" S ")?"
      "(enabled|on|activated)|(enable|activate|enter)" S "(developer|god|jailbreak|"
      "unrestricted)" S "mode)\\b", 0.7, "jailbreak" },
    { "\\b(pretend|imagine|act" S "as" S "if|behave" S "as" S "if|assume)" S "(that" S ")?"
      "you" S "(have|had|are|were)" S "(no|without" S "any|without|free" S "of)" S
      "(restrictions|limits|limitations|rules|filters|guidelines|boundaries|"
      "content" S "polic(y|ies)|ethical" S "guidelines)\\b", 0.9, "jailbreak" },
    { "\\b(stay" S "in" S "character|roleplay" S "as" S "an?" S "(unfiltered|uncensored|"
      "evil|unrestricted)|from" S "now" S "on" S "you" S "(are|will" S "be)" S "(an?" S ")?"
      "(unfiltered|uncensored|evil|unrestricted|dan))\\b", 0.6, "roleplay_escape" },
    { "\\b(new|updated|real|actual)" S "(system" S ")?instructions\\s*:", 0.4,
      "instruction_override" },
    { "\\bwithout" S "(any" S ")?(restrictions|censorship|filters|moral" S "constraints)\\b",
      0.3, "jailbreak" },
};
#define NSIGNALS (sizeof(signals) / sizeof(signals[0]))

typedef struct {
    hs_database_t  *db;
    hs_scratch_t   *scratch;
    double          threshold;
    /* per scan */
    int             seen[NSIGNALS];
    aigov_span_t    spans[MAX_SPANS];
    size_t          nspans;
    int             in_decoded;     /* scanning a decoded payload: no spans */
    unsigned char   decoded[MAX_DECODE];
} injection_t;

static void injection_destroy(void *inst)
{
    injection_t *in = inst;

    if (in == NULL)
        return;
    hs_free_scratch(in->scratch);
    hs_free_database(in->db);
    free(in);
}

static void *injection_create(const aigov_config_api_t *api, const aigov_config_t *cfg,
                              aigov_action_t action, char *err, size_t errlen)
{
    const char *expr[NSIGNALS];
    unsigned flags[NSIGNALS], ids[NSIGNALS];
    hs_compile_error_t *cerr = NULL;
    injection_t *in;
    size_t i;

    (void)action;
    for (i = 0; i < api->nkeys(cfg); i++) {
        if (strcmp(api->key(cfg, i), "threshold") != 0) {
            snprintf(err, errlen, "unknown key \"%s\" (injection takes: threshold)",
                     api->key(cfg, i));
            return NULL;
        }
    }
    in = calloc(1, sizeof(*in));
    if (in == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    in->threshold = 1.0;
    if (api->nkeys(cfg) > 0 && (!api->number(cfg, "threshold", &in->threshold)
                                || !(in->threshold > 0) || in->threshold > 100)) {
        snprintf(err, errlen, "threshold must be a number above 0 and at most 100");
        free(in);
        return NULL;
    }
    for (i = 0; i < NSIGNALS; i++) {
        expr[i] = signals[i].re;
        flags[i] = HS_FLAG_CASELESS | HS_FLAG_SOM_LEFTMOST;
        ids[i] = (unsigned)i;
    }
    if (hs_compile_multi(expr, flags, ids, NSIGNALS, HS_MODE_BLOCK, NULL, &in->db, &cerr)
        != HS_SUCCESS) {
        snprintf(err, errlen, "built-in signal %d does not compile: %s",
                 cerr ? cerr->expression : -1, cerr ? cerr->message : "unknown error");
        hs_free_compile_error(cerr);
        free(in);
        return NULL;
    }
    if (hs_alloc_scratch(in->db, &in->scratch) != HS_SUCCESS) {
        snprintf(err, errlen, "cannot allocate Vectorscan scratch space");
        injection_destroy(in);
        return NULL;
    }
    return in;
}

static int on_match(unsigned int id, unsigned long long from, unsigned long long to,
                    unsigned int flags, void *ctx)
{
    injection_t *in = ctx;
    aigov_span_t *last = in->nspans ? &in->spans[in->nspans - 1] : NULL;

    (void)flags;
    in->seen[id] = 1;
    if (in->in_decoded)
        return 0;
    if (last != NULL && (from <= last->end || in->nspans == MAX_SPANS)) {
        if (from < last->start)
            last->start = (size_t)from;
        if (to > last->end)
            last->end = (size_t)to;
        return 0;
    }
    in->spans[in->nspans].start = (size_t)from;
    in->spans[in->nspans].end = (size_t)to;
    in->spans[in->nspans].label = "INJECTION";
    in->nspans++;
    return 0;
}

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes a run (hex when it is all hex digits, else base64) into
 * in->decoded; the length, or 0 when the result is not mostly text. */
static size_t decode(injection_t *in, const unsigned char *s, size_t n, int all_hex)
{
    size_t out = 0, i, printable = 0;

    if (all_hex) {
        for (i = 0; i + 1 < n && out < MAX_DECODE; i += 2)
            in->decoded[out++] = (unsigned char)(hexval(s[i]) << 4 | hexval(s[i + 1]));
    } else {
        unsigned acc = 0;
        int bits = 0;
        for (i = 0; i < n && out < MAX_DECODE; i++) {
            acc = (acc << 6) | (unsigned)b64val(s[i]);
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                in->decoded[out++] = (unsigned char)(acc >> bits);
                acc &= (1u << bits) - 1;
            }
        }
    }
    for (i = 0; i < out; i++) {
        unsigned char c = in->decoded[i];
        printable += (c >= 0x20 && c < 0x7f) || c == '\n' || c == '\t' || c == '\r';
    }
    return (out > 0 && printable * 10 >= out * 9) ? out : 0;
}

/* Finds long base64/hex runs and scans what they decode to. 1 when one
 * decodes to something the signals recognise. */
static int scan_encoded(injection_t *in, const char *text, size_t len, int *err)
{
    const unsigned char *t = (const unsigned char *)text;
    size_t i = 0;
    int found = 0;

    while (i < len) {
        size_t start = i, n;
        int all_hex = 1;
        int saved[NSIGNALS];
        size_t k;

        while (i < len && b64val(t[i]) >= 0) {
            all_hex &= hexval(t[i]) >= 0;
            i++;
        }
        n = i - start;
        while (i < len && t[i] == '=')
            i++;
        if (n >= (all_hex ? MIN_HEX : MIN_B64)) {
            size_t d = decode(in, t + start, n, all_hex);
            if (d > 0) {
                memcpy(saved, in->seen, sizeof(saved));
                memset(in->seen, 0, sizeof(in->seen));
                in->in_decoded = 1;
                if (hs_scan(in->db, (const char *)in->decoded, (unsigned)d, 0,
                            in->scratch, on_match, in) != HS_SUCCESS)
                    *err = 1;
                in->in_decoded = 0;
                for (k = 0; k < NSIGNALS; k++) {
                    if (in->seen[k] && signals[k].weight >= 0.5) {
                        found = 1;
                        if (in->nspans < MAX_SPANS) {
                            in->spans[in->nspans].start = start;
                            in->spans[in->nspans].end = start + n;
                            in->spans[in->nspans].label = "INJECTION";
                            in->nspans++;
                        }
                        break;
                    }
                }
                memcpy(in->seen, saved, sizeof(saved));
            }
        }
        if (i == start)
            i++;
    }
    return found;
}

static int injection_inspect(void *inst, void *stream, const char *text, size_t len,
                             aigov_verdict_t *out)
{
    injection_t *in = inst;
    double score = 0;
    const char *category = NULL;
    double best = 0;
    size_t k;
    int err = 0;

    (void)stream;
    memset(in->seen, 0, sizeof(in->seen));
    in->nspans = 0;
    if (len > UINT_MAX)
        return -1;
    if (hs_scan(in->db, text, (unsigned)len, 0, in->scratch, on_match, in) != HS_SUCCESS)
        return -1;
    for (k = 0; k < NSIGNALS; k++) {
        if (!in->seen[k])
            continue;
        score += signals[k].weight;
        if (signals[k].weight > best) {
            best = signals[k].weight;
            category = signals[k].category;
        }
    }
    if (scan_encoded(in, text, len, &err)) {
        score += ENCODED_WEIGHT;
        if (ENCODED_WEIGHT >= best)
            category = "encoded_instructions";
    }
    if (err)
        return -1;
    out->score = score;
    if (score < in->threshold)
        return 0;
    out->kind = AIGOV_BLOCK;
    out->spans = in->spans;
    out->nspans = in->nspans;
    out->reason = "the text looks like a prompt-injection or jailbreak attempt";
    out->category = category ? category : "injection";
    return 0;
}

static const aigov_plugin_t injection_plugin = {
    .abi_version = AIGOV_PLUGIN_ABI_VERSION,
    .name = "injection",
    .version = "1.0",
    .create = injection_create,
    .destroy = injection_destroy,
    .inspect = injection_inspect,
};

AIGOV_PLUGIN_EXPORT const aigov_plugin_t *aigov_plugin_entry(void)
{
    return &injection_plugin;
}
