/*
 * injection: prompt-injection and jailbreak heuristics with a score.
 *
 *     config:
 *       threshold: 1.0     # findings score at least this much (default 1.0)
 *
 * Each signal is a case-insensitive regular expression with a weight. A
 * text's score is the sum of the weights of the distinct signals it shows.
 * Long base64 or hex runs are decoded and scanned too: a payload that
 * decodes to instruction-like text is itself a strong signal. At or above
 * the threshold the verdict is BLOCK with the score and a span per match
 * (so `action: redact` masks the phrases); below it the text is allowed.
 *
 * Speed: almost every text is benign, so the common path is one Vectorscan
 * pass without start-of-match tracking (SOM makes the phrase patterns about
 * seven times slower). Runs of 24 base64 characters are found by a loop of
 * our own, 16 bytes at a time: as a Vectorscan pattern the run cost as much
 * as all the phrases together.
 * Start offsets are only needed for spans, so the SOM database runs only
 * when the verdict blocks. A signal whose leading words are common in prose
 * ("new", "real") is matched in a second pass, only when the rare word it
 * needs ("instructions") was seen.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aigov_hs.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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
    /* a literal every match contains, for a signal too slow for the first
     * pass; NULL for the others */
    const char *trigger;
} signal_t;

/* words apart: blanks or light punctuation */
#define S "[\\s,.;:!\\-]+"

/* "ignore all the previous", before what is to be ignored */
#define OVERRIDE \
    "\\b(ignore|disregard|forget|override|bypass|skip)" S "(all" S "|any" S "|the" S \
    "|your" S "|my" S "|of" S "|these" S "|those" S ")*(previous|prior|earlier|above|" \
    "preceding|initial|original|system|safety)" S

static const signal_t signals[] = {
    { OVERRIDE "(instructions?|prompts?|rules|guidelines|directives|constraints)\\b", 1.0,
      "instruction_override", NULL },
    /* earlier messages or directions: "please ignore my previous message"
     * is what people say after a wrong paste, so it blocks only with
     * another signal */
    { OVERRIDE "(messages?|directions)\\b", 0.5, "instruction_override", NULL },
    { "\\b(reveal|print|show|display|repeat|output|leak|dump|disclose|tell" S "me|"
      "what" S "(is|are|was|were))" S "(me" S ")?(your|the)" S "((full|entire|complete|"
      "original|hidden|secret|initial|exact)" S ")*(system" S "prompt|system" S "message|"
      "initial" S "instructions|hidden" S "instructions|instructions" S "above)\\b",
      0.8, "prompt_leak", NULL },
    { "\\byou" S "are" S "now" S "(dan|an?" S "(unrestricted|unfiltered|uncensored|"
      "jailbroken)|in" S "(developer|god|jailbreak)" S "mode|free" S "from" S
      "(all" S "|any" S "|your" S "|the" S ")*"
      "(restrictions|rules|limits|limitations|filters|guidelines|constraints|"
      "censorship|polic(y|ies)|programming))\\b", 1.0, "jailbreak",
      NULL },
    { "\\b(do" S "anything" S "now|dan" S "mode)\\b", 0.8, "jailbreak", NULL },
    { "\\b((developer|god|jailbreak|unrestricted|dan)" S "mode" S "(is" S ")?"
      "(enabled|on|activated)|(enable|activate|enter)" S "(developer|god|jailbreak|"
      "unrestricted)" S "mode)\\b", 0.7, "jailbreak", NULL },
    { "\\b(pretend|imagine|act" S "as" S "if|behave" S "as" S "if|assume)" S "(that" S ")?"
      "you" S "(have|had|are|were)" S "(no|without" S "any|without|free" S "of)" S
      "(restrictions|limits|limitations|rules|filters|guidelines|boundaries|"
      "content" S "polic(y|ies)|ethical" S "guidelines)\\b", 0.9, "jailbreak", NULL },
    { "\\b(stay" S "in" S "character|roleplay" S "as" S "an?" S "(unfiltered|uncensored|"
      "evil|unrestricted)|from" S "now" S "on" S "you" S "(are|will" S "be)" S "(an?" S ")?"
      "(unfiltered|uncensored|evil|unrestricted|dan))\\b", 0.6, "roleplay_escape", NULL },
    { "\\b(new|updated|real|actual)" S "(system" S ")?instructions\\s*:", 0.4,
      "instruction_override", "instructions" },
    { "\\bwithout" S "(any" S ")?(restrictions|censorship|filters|moral" S "constraints)\\b",
      0.3, "jailbreak", NULL },
};
#define NSIGNALS (sizeof(signals) / sizeof(signals[0]))

/* ids in the first-pass database besides the signals' own */
#define ID_TRIGGER  2000u               /* + k: signal k's trigger literal */

typedef struct {
    hs_database_t  *detect;     /* first pass: no SOM, runs, triggers */
    hs_database_t  *late;       /* the triggered signals, no SOM */
    hs_database_t  *spans_db;   /* every signal with SOM, for spans */
    hs_scratch_t   *scratch;
    double          threshold;
    /* per scan */
    int             seen[NSIGNALS];
    aigov_span_t    spans[MAX_SPANS];
    size_t          nspans;
    aigov_span_t    encoded[MAX_SPANS];     /* payload spans, appended last */
    size_t          nencoded;
    int             found_encoded;
    int             triggered;      /* a trigger literal was seen */
    int             failed;
    const unsigned char *text;
    unsigned char   decoded[MAX_DECODE];
} injection_t;

/* Which signals a text shows, without positions. */
typedef struct {
    int   seen[NSIGNALS];
    int   triggered;
} detect_t;

static void injection_destroy(void *inst)
{
    injection_t *in = inst;

    if (in == NULL)
        return;
    hs_free_scratch(in->scratch);
    hs_free_database(in->detect);
    hs_free_database(in->late);
    hs_free_database(in->spans_db);
    free(in);
}

/* Compiles the signals selected by `which` (0 first pass, 1 triggered,
 * 2 all with SOM) into *db; *db stays NULL when none is selected. */
static int compile_db(int which, hs_database_t **db, char *err, size_t errlen)
{
    const char *expr[2 * NSIGNALS + 1];
    unsigned flags[2 * NSIGNALS + 1], ids[2 * NSIGNALS + 1];
    hs_compile_error_t *cerr = NULL;
    unsigned n = 0;
    size_t i;

    for (i = 0; i < NSIGNALS; i++) {
        if (which == 2 || (which == 0) == (signals[i].trigger == NULL)) {
            expr[n] = signals[i].re;
            flags[n] = HS_FLAG_CASELESS | (which == 2 ? HS_FLAG_SOM_LEFTMOST : 0);
            ids[n++] = (unsigned)i;
        }
        if (which == 0 && signals[i].trigger != NULL) {
            /* triggers are plain words: no regex syntax to escape */
            expr[n] = signals[i].trigger;
            flags[n] = HS_FLAG_CASELESS | HS_FLAG_SINGLEMATCH;
            ids[n++] = ID_TRIGGER + (unsigned)i;
        }
    }
    if (n == 0)
        return 0;
    if (aigov_hs_compile_multi(expr, flags, ids, n, HS_MODE_BLOCK, db, &cerr)
        != HS_SUCCESS) {
        snprintf(err, errlen, "built-in signal %d does not compile: %s",
                 cerr ? cerr->expression : -1, cerr ? cerr->message : "unknown error");
        hs_free_compile_error(cerr);
        return -1;
    }
    return 0;
}

static void *injection_create(const aigov_config_api_t *api, const aigov_config_t *cfg,
                              aigov_action_t action, char *err, size_t errlen)
{
    injection_t *in;
    double max_score = ENCODED_WEIGHT;
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
    /* a threshold above what every signal together scores would never
     * block: refused, not accepted as a silent "off" */
    for (i = 0; i < NSIGNALS; i++)
        max_score += signals[i].weight;
    in->threshold = 1.0;
    if (api->nkeys(cfg) > 0 && (!api->number(cfg, "threshold", &in->threshold)
                                || !(in->threshold > 0)
                                || in->threshold > max_score + 1e-9)) {
        snprintf(err, errlen, "threshold must be a number above 0 and at most %g "
                 "(the score of every signal together)", max_score);
        free(in);
        return NULL;
    }
    if (compile_db(0, &in->detect, err, errlen) != 0 ||
        compile_db(1, &in->late, err, errlen) != 0 ||
        compile_db(2, &in->spans_db, err, errlen) != 0) {
        injection_destroy(in);
        return NULL;
    }
    if (hs_alloc_scratch(in->detect, &in->scratch) != HS_SUCCESS ||
        (in->late && hs_alloc_scratch(in->late, &in->scratch) != HS_SUCCESS) ||
        hs_alloc_scratch(in->spans_db, &in->scratch) != HS_SUCCESS) {
        snprintf(err, errlen, "cannot allocate Vectorscan scratch space");
        injection_destroy(in);
        return NULL;
    }
    return in;
}

/* The SOM pass: a span per match, overlapping ones merged. */
static int on_match(unsigned int id, unsigned long long from, unsigned long long to,
                    unsigned int flags, void *ctx)
{
    injection_t *in = ctx;
    aigov_span_t *last = in->nspans ? &in->spans[in->nspans - 1] : NULL;

    (void)flags;
    in->seen[id] = 1;
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

static int on_signal(unsigned int id, unsigned long long from, unsigned long long to,
                     unsigned int flags, void *ctx)
{
    detect_t *d = ctx;

    (void)from;
    (void)to;
    (void)flags;
    if (id < NSIGNALS)
        d->seen[id] = 1;
    else if (id >= ID_TRIGGER)
        d->triggered = 1;
    return 0;
}

/* Which signals text shows: the first-pass signals, then the triggered
 * ones if their trigger was there. Runs are not looked at. */
static int detect_signals(injection_t *in, hs_scratch_t *scratch, const char *text,
                          size_t len, detect_t *d)
{
    memset(d, 0, sizeof(*d));
    if (aigov_hs_scan(in->detect, text, (unsigned)len, 0, scratch, on_signal, d) != HS_SUCCESS)
        return -1;
    if (d->triggered &&
        aigov_hs_scan(in->late, text, (unsigned)len, 0, scratch, on_signal, d) != HS_SUCCESS)
        return -1;
    return 0;
}

/* A long base64 or hex run [start, start + n): decoded, and a strong
 * signal if what it decodes to is recognised. */
static void check_run(injection_t *in, size_t start, size_t n)
{
    const unsigned char *t = in->text;
    int all_hex = 1;
    size_t d, k;
    detect_t inner;

    for (k = start; k < start + n && all_hex; k++)
        all_hex = hexval(t[k]) >= 0;
    if (n < (all_hex ? MIN_HEX : MIN_B64))
        return;
    d = decode(in, t + start, n, all_hex);
    if (d == 0)
        return;
    /* runs are checked after the first pass, so its scratch is free */
    if (detect_signals(in, in->scratch, (const char *)in->decoded, d, &inner) != 0) {
        in->failed = 1;
        return;
    }
    for (k = 0; k < NSIGNALS; k++) {
        if (inner.seen[k] && signals[k].weight >= 0.5) {
            in->found_encoded = 1;
            if (in->nencoded < MAX_SPANS) {
                in->encoded[in->nencoded].start = start;
                in->encoded[in->nencoded].end = start + n;
                in->encoded[in->nencoded].label = "INJECTION";
                in->nencoded++;
            }
            break;
        }
    }
}

/* The first pass's matches: signals and trigger literals. */
static int on_first(unsigned int id, unsigned long long from, unsigned long long to,
                    unsigned int flags, void *ctx)
{
    injection_t *in = ctx;

    (void)from;
    (void)to;
    (void)flags;
    if (id < NSIGNALS)
        in->seen[id] = 1;
    else
        in->triggered = 1;
    return 0;
}

/* Checks every run of base64 characters in [from, to) at least MIN_B64
 * long. */
static void check_runs_in(injection_t *in, size_t from, size_t to)
{
    size_t i, run = 0;

    for (i = from; i < to; i++) {
        if (b64val(in->text[i]) >= 0) {
            run++;
            continue;
        }
        if (run >= MIN_B64)
            check_run(in, i - run, run);
        run = 0;
    }
    if (run >= MIN_B64)
        check_run(in, to - run, run);
}

/* Every base64 character is above '*' (0x2a) and below 0x80, so a base64
 * run lies in a run of such bytes. Prose breaks those every few bytes with
 * a space, so the exact test only reads the rare runs of MIN_B64 or more,
 * and the rest of the text costs a compare per 16 bytes. A run shorter
 * than 16 lies inside one block or across two, so a block only adds its
 * leading bytes to the run before it and starts the next run with its
 * trailing bytes. */
static void find_runs(injection_t *in, size_t len)
{
    const unsigned char *t = in->text;
    size_t i = 0, run = 0;

#if defined(__SSE2__)
    const __m128i star = _mm_set1_epi8('*');

    for (; i + 16 <= len; i += 16) {
        /* signed: bytes from 0x80 up are negative, so not above '*' */
        unsigned m = (unsigned)_mm_movemask_epi8(
            _mm_cmpgt_epi8(_mm_loadu_si128((const __m128i *)(t + i)), star));
        unsigned lead;

        if (m == 0xffff) {
            run += 16;
            continue;
        }
        lead = (unsigned)__builtin_ctz(~m);
        run += lead;
        if (run >= MIN_B64)
            check_runs_in(in, i + lead - run, i + lead);
        run = 15 - (unsigned)(31 - __builtin_clz(~m & 0xffff));
    }
#endif
    check_runs_in(in, i - run, len);
}

static int injection_inspect(void *inst, void *stream, const char *text, size_t len,
                             aigov_verdict_t *out)
{
    injection_t *in = inst;
    double score = 0;
    const char *category = NULL;
    double best = 0;
    size_t k;
    detect_t late;

    (void)stream;
    memset(in->seen, 0, sizeof(in->seen));
    in->nspans = 0;
    in->nencoded = 0;
    in->found_encoded = 0;
    in->triggered = 0;
    in->failed = 0;
    in->text = (const unsigned char *)text;
    if (len > UINT_MAX)
        return -1;
    if (aigov_hs_scan(in->detect, text, (unsigned)len, 0, in->scratch, on_first, in) != HS_SUCCESS)
        return -1;
    find_runs(in, len);
    if (in->triggered) {
        memset(&late, 0, sizeof(late));
        if (aigov_hs_scan(in->late, text, (unsigned)len, 0, in->scratch, on_signal, &late)
            != HS_SUCCESS)
            return -1;
        for (k = 0; k < NSIGNALS; k++)
            in->seen[k] |= late.seen[k];
    }
    for (k = 0; k < NSIGNALS; k++) {
        if (!in->seen[k])
            continue;
        score += signals[k].weight;
        if (signals[k].weight > best) {
            best = signals[k].weight;
            category = signals[k].category;
        }
    }
    if (in->found_encoded) {
        score += ENCODED_WEIGHT;
        if (ENCODED_WEIGHT >= best)
            category = "encoded_instructions";
    }
    if (in->failed)
        return -1;
    out->score = score;
    if (score < in->threshold)
        return 0;
    /* blocking: now find where the phrases are */
    if (aigov_hs_scan(in->spans_db, text, (unsigned)len, 0, in->scratch, on_match, in)
        != HS_SUCCESS)
        return -1;
    for (k = 0; k < in->nencoded && in->nspans < MAX_SPANS; k++)
        in->spans[in->nspans++] = in->encoded[k];
    out->kind = AIGOV_BLOCK;
    out->spans = in->spans;
    out->nspans = in->nspans;
    out->reason = "the text looks like a prompt-injection or jailbreak attempt";
    out->category = category ? category : "injection";
    return 0;
}

/* ---- streams: what later text could still extend ---------------------
 *
 * A signal in progress at the end of the text is a row of the signals'
 * words, separated as S allows, that begins with a word a signal begins
 * with; its last word may be cut short. Matching every signal's grammar
 * would be tighter; the vocabulary is simple and never too short. */

/* the words signals begin with */
static const char *const first_words[] = {
    "ignore", "disregard", "forget", "override", "bypass", "skip", "reveal", "print",
    "show", "display", "repeat", "output", "leak", "dump", "disclose", "tell", "what",
    "you", "do", "dan", "developer", "god", "jailbreak", "unrestricted", "enable",
    "activate", "enter", "pretend", "imagine", "act", "behave", "assume", "stay",
    "roleplay", "from", "new", "updated", "real", "actual", "without",
};

/* every other word in the signals */
static const char *const other_words[] = {
    "all", "any", "the", "your", "my", "of", "these", "those", "previous", "prior",
    "earlier", "above", "preceding", "initial", "original", "system", "safety",
    "instruction", "instructions", "prompt", "prompts", "rules", "guidelines",
    "directives", "constraints", "message", "messages", "directions", "me", "is", "are",
    "was", "were", "full", "entire", "complete", "hidden", "secret", "exact", "now", "a",
    "an", "unfiltered", "uncensored", "jailbroken", "in", "mode", "free", "restrictions",
    "limits", "limitations", "filters", "censorship", "policy", "policies", "programming",
    "anything", "on", "activated", "enabled", "as", "if", "that", "have", "had", "no",
    "boundaries", "content", "ethical", "character", "evil", "will", "be", "moral",
};

#define NWORDS(a) (sizeof(a) / sizeof((a)[0]))

static int word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_';
}

/* what S lets stand between words */
static int sep_byte(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' ||
           c == ',' || c == '.' || c == ';' || c == ':' || c == '!' || c == '-';
}

/* 0: not a signal word; 1: one; 2: a word signals begin with. With
 * cut, w[0..n) need only begin such a word. */
static int signal_word(const char *w, size_t n, int cut)
{
    size_t k;
    int r = 0;

    for (k = 0; k < NWORDS(first_words); k++) {
        size_t m = strlen(first_words[k]);
        if ((cut ? m >= n : m == n) && strncasecmp(first_words[k], w, n) == 0)
            return 2;
    }
    for (k = 0; k < NWORDS(other_words) && r == 0; k++) {
        size_t m = strlen(other_words[k]);
        if ((cut ? m >= n : m == n) && strncasecmp(other_words[k], w, n) == 0)
            r = 1;
    }
    return r;
}

/* Beyond this many bytes of signal words, all of the text is kept. */
#define TAIL_SCAN  1024

static size_t injection_tail(void *inst, void *stream, const char *text, size_t len)
{
    const unsigned char *t = (const unsigned char *)text;
    size_t from = len, p = len, w;
    int k;

    (void)inst;
    (void)stream;
    /* a base64 or hex run may still grow into a payload */
    while (from > 0 && b64val(t[from - 1]) >= 0)
        from--;

    /* the last word, which may be cut short */
    w = p;
    while (w > 0 && word_byte(t[w - 1]))
        w--;
    if (w < p) {
        if ((k = signal_word(text + w, p - w, 1)) == 0)
            return len - from;
        if (k == 2 && w < from)
            from = w;
        p = w;
    }
    /* then whole words back, as long as they are signal words */
    for (;;) {
        size_t s = p;
        while (s > 0 && sep_byte(t[s - 1]))
            s--;
        if (s == p || s == 0 || !word_byte(t[s - 1]))
            break;
        w = s;
        while (w > 0 && word_byte(t[w - 1]))
            w--;
        if ((k = signal_word(text + w, s - w, 0)) == 0)
            break;
        if (len - w > TAIL_SCAN)
            return len;
        if (k == 2 && w < from)
            from = w;
        p = w;
    }
    return len - from;
}

static const aigov_plugin_t injection_plugin = {
    .abi_version = AIGOV_PLUGIN_ABI_VERSION,
    .name = "injection",
    .version = "1.0",
    .create = injection_create,
    .destroy = injection_destroy,
    .inspect = injection_inspect,
    .tail = injection_tail,
};

AIGOV_PLUGIN_EXPORT const aigov_plugin_t *aigov_plugin_entry(void)
{
    return &injection_plugin;
}
