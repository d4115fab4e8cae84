/*
 * secrets_plugin.c: the secrets plugin's table, configuration and verdict.
 *
 *   config: {types: [aws, gcp, azure, openai, anthropic, deepseek, github,
 *                    slack, stripe, google_oauth, private_key, jwt, bearer,
 *                    connection_string]}
 *
 * Without `types` every kind is looked for. A finding is answered with
 * REDACT and one span per credential (the host applies the policy's
 * action). Streams keep one flag: inside a private key block.
 */

#include "aigov_plugin.h"
#include "secrets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECRETS_VERSION "1.0.0"

static const struct {
    const char  *label;
    const char  *type;      /* config name, and the verdict's category */
    const char  *one;
    const char  *many;
} kinds[SEC_NKINDS] = {
    [SEC_AWS_KEY]       = {"AWS_KEY", "aws", "AWS access key ID", "AWS access key IDs"},
    [SEC_AWS_SECRET]    = {"AWS_SECRET_KEY", "aws", "AWS secret access key",
                           "AWS secret access keys"},
    [SEC_GCP_KEY]       = {"GCP_API_KEY", "gcp", "Google API key", "Google API keys"},
    [SEC_AZURE_KEY]     = {"AZURE_KEY", "azure", "Azure access key", "Azure access keys"},
    [SEC_OPENAI_KEY]    = {"OPENAI_KEY", "openai", "OpenAI API key", "OpenAI API keys"},
    [SEC_ANTHROPIC_KEY] = {"ANTHROPIC_KEY", "anthropic", "Anthropic API key",
                           "Anthropic API keys"},
    [SEC_DEEPSEEK_KEY]  = {"DEEPSEEK_KEY", "deepseek", "DeepSeek API key",
                           "DeepSeek API keys"},
    [SEC_GITHUB_TOKEN]  = {"GITHUB_TOKEN", "github", "GitHub token", "GitHub tokens"},
    [SEC_SLACK_TOKEN]   = {"SLACK_TOKEN", "slack", "Slack token", "Slack tokens"},
    [SEC_STRIPE_KEY]    = {"STRIPE_KEY", "stripe", "Stripe secret key", "Stripe secret keys"},
    [SEC_GOOGLE_OAUTH]  = {"GOOGLE_OAUTH_TOKEN", "google_oauth", "Google OAuth token",
                           "Google OAuth tokens"},
    [SEC_PRIVATE_KEY]   = {"PRIVATE_KEY", "private_key", "private key", "private keys"},
    [SEC_JWT]           = {"JWT", "jwt", "JWT", "JWTs"},
    [SEC_BEARER]        = {"BEARER_TOKEN", "bearer", "bearer token", "bearer tokens"},
    [SEC_CONN_STRING]   = {"CONNECTION_STRING", "connection_string",
                           "connection string with a password",
                           "connection strings with passwords"},
};

#define KNOWN_TYPES "aws, gcp, azure, openai, anthropic, deepseek, github, slack, " \
                    "stripe, google_oauth, private_key, jwt, bearer, connection_string"

typedef struct {
    unsigned        mask;
    sec_finder_t   *finder;
    sec_matches_t   found;
    aigov_span_t   *spans;
    size_t          spans_cap;
    char            reason[320];
} sec_inst_t;

static unsigned type_mask(const char *name)
{
    unsigned m = 0;
    for (int k = 0; k < SEC_NKINDS; k++)
        if (strcmp(name, kinds[k].type) == 0)
            m |= 1u << k;
    return m;
}

static int read_types(const aigov_config_api_t *api, const aigov_config_t *cfg,
                      unsigned *mask, char *err, size_t errlen)
{
    size_t n = api->list_len(cfg, "types");

    if (n == 0) {
        snprintf(err, errlen, "types must be a list naming at least one of: %s",
                 KNOWN_TYPES);
        return -1;
    }
    *mask = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = api->list_item(cfg, "types", i);
        unsigned m;
        if (s == NULL) {
            snprintf(err, errlen, "types[%zu] must be a string; known: %s",
                     i, KNOWN_TYPES);
            return -1;
        }
        m = type_mask(s);
        if (m == 0) {
            snprintf(err, errlen, "unknown type '%.64s'; known: %s", s, KNOWN_TYPES);
            return -1;
        }
        *mask |= m;
    }
    return 0;
}

static void *sec_create(const aigov_config_api_t *api, const aigov_config_t *cfg,
                        aigov_action_t action, char *err, size_t errlen)
{
    sec_inst_t *si;
    unsigned mask = SEC_ALL;
    int has_types = 0;

    (void)action;
    if (errlen > 0)
        err[0] = '\0';
    if (api != NULL && cfg != NULL) {
        size_t nk = api->nkeys(cfg);
        for (size_t i = 0; i < nk; i++) {
            const char *key = api->key(cfg, i);
            if (key != NULL && strcmp(key, "types") == 0) {
                has_types = 1;
            } else {
                snprintf(err, errlen, "unknown key '%.64s'; known: types",
                         key ? key : "");
                return NULL;
            }
        }
        if (has_types && read_types(api, cfg, &mask, err, errlen) < 0)
            return NULL;
    }
    si = calloc(1, sizeof(*si));
    if (si == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    si->mask = mask;
    si->finder = sec_finder_new(err, errlen);
    if (si->finder == NULL) {
        free(si);
        return NULL;
    }
    return si;
}

static void sec_destroy(void *inst)
{
    sec_inst_t *si = inst;

    if (si == NULL)
        return;
    sec_finder_free(si->finder);
    free(si->found.v);
    free(si->spans);
    free(si);
}

static void *sec_stream_start(void *inst)
{
    (void)inst;
    return calloc(1, sizeof(sec_stream_t));
}

static void sec_stream_end(void *inst, void *stream)
{
    (void)inst;
    free(stream);
}

/* "found 1 OpenAI API key and 1 private key", in order of appearance. */
static void build_reason(sec_inst_t *si, int *first)
{
    size_t count[SEC_NKINDS] = {0};
    int order[SEC_NKINDS] = {0}, norder = 0;
    size_t off;

    for (size_t i = 0; i < si->found.n; i++) {
        int k = si->found.v[i].kind;
        if (count[k]++ == 0)
            order[norder++] = k;
    }
    *first = order[0];
    off = (size_t)snprintf(si->reason, sizeof(si->reason), "found");
    for (int j = 0; j < norder && off < sizeof(si->reason); j++) {
        int k = order[j];
        const char *join = j == 0 ? " " : (j == norder - 1 ? " and " : ", ");
        off += (size_t)snprintf(si->reason + off, sizeof(si->reason) - off,
                                "%s%zu %s", join, count[k],
                                count[k] == 1 ? kinds[k].one : kinds[k].many);
    }
}

static int sec_inspect(void *inst, void *stream, const char *text, size_t len,
                       aigov_verdict_t *out)
{
    sec_inst_t *si = inst;
    int first = 0;

    if (si == NULL || out == NULL || (text == NULL && len > 0))
        return -1;
    si->found.n = 0;
    out->kind = AIGOV_ALLOW;
    out->spans = NULL;
    out->nspans = 0;
    out->reason = NULL;
    out->category = NULL;
    out->score = 0;
    if (sec_scan(si->finder, text, len, si->mask, stream, &si->found) < 0)
        return -1;
    if (si->found.n == 0)
        return 0;

    if (si->found.n > si->spans_cap) {
        aigov_span_t *s = realloc(si->spans, si->found.n * sizeof(*s));
        if (s == NULL)
            return -1;
        si->spans = s;
        si->spans_cap = si->found.n;
    }
    for (size_t i = 0; i < si->found.n; i++) {
        si->spans[i].start = si->found.v[i].start;
        si->spans[i].end = si->found.v[i].end;
        si->spans[i].label = kinds[si->found.v[i].kind].label;
    }
    build_reason(si, &first);
    out->kind = AIGOV_REDACT;
    out->spans = si->spans;
    out->nspans = si->found.n;
    out->reason = si->reason;
    out->category = kinds[first].type;
    out->score = (double)si->found.n;
    return 0;
}

static size_t sec_tail_entry(void *inst, void *stream, const char *text, size_t len)
{
    sec_inst_t *si = inst;

    return sec_tail(text, len, si->mask, stream);
}

static const aigov_plugin_t secrets_plugin = {
    .abi_version  = AIGOV_PLUGIN_ABI_VERSION,
    .name         = "secrets",
    .version      = SECRETS_VERSION,
    .create       = sec_create,
    .destroy      = sec_destroy,
    .inspect      = sec_inspect,
    .stream_start = sec_stream_start,
    .stream_end   = sec_stream_end,
    .tail         = sec_tail_entry,
};

AIGOV_PLUGIN_EXPORT const aigov_plugin_t *aigov_plugin_entry(void)
{
    return &secrets_plugin;
}
