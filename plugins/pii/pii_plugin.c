/*
 * pii_plugin.c: the pii plugin's table, its configuration and its verdict.
 *
 *   config: {types: [email, phone, credit_card, iban, ssn, ip, cn_id]}
 *
 * Without `types` every kind is looked for. Any finding is answered with
 * REDACT and one span per item; the host turns that into the policy's
 * action.
 */

#include "aigov_plugin.h"
#include "pii.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PII_VERSION "1.0.0"

static const struct {
    const char  *name;      /* in config, and the verdict's category */
    const char  *label;     /* in spans */
    const char  *one;       /* for the reason */
    const char  *many;
} kinds[PII_NTYPES] = {
    [PII_EMAIL] = {"email", "EMAIL", "email address", "email addresses"},
    [PII_PHONE] = {"phone", "PHONE", "phone number", "phone numbers"},
    [PII_CARD]  = {"credit_card", "CREDIT_CARD", "payment card", "payment cards"},
    [PII_IBAN]  = {"iban", "IBAN", "IBAN", "IBANs"},
    [PII_SSN]   = {"ssn", "SSN", "US social security number",
                   "US social security numbers"},
    [PII_IP]    = {"ip", "IP_ADDRESS", "IP address", "IP addresses"},
    [PII_CN_ID] = {"cn_id", "CN_ID", "Chinese resident ID number",
                   "Chinese resident ID numbers"},
};

#define KNOWN_TYPES "email, phone, credit_card, iban, ssn, ip, cn_id"

typedef struct {
    unsigned        mask;
    pii_matches_t   found;
    aigov_span_t   *spans;
    size_t          spans_cap;
    char            reason[256];
} pii_inst_t;

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
        int k;
        if (s == NULL) {
            snprintf(err, errlen, "types[%zu] must be a string; known: %s",
                     i, KNOWN_TYPES);
            return -1;
        }
        for (k = 0; k < PII_NTYPES; k++)
            if (strcmp(s, kinds[k].name) == 0)
                break;
        if (k == PII_NTYPES) {
            snprintf(err, errlen, "unknown type '%.64s'; known: %s", s, KNOWN_TYPES);
            return -1;
        }
        *mask |= 1u << k;
    }
    return 0;
}

static void *pii_create(const aigov_config_api_t *api, const aigov_config_t *cfg,
                        aigov_action_t action, char *err, size_t errlen)
{
    pii_inst_t *pi;
    unsigned mask = PII_ALL;
    int has_types = 0;

    (void)action;       /* any finding needs spans for redact; keep it simple */
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
    pi = calloc(1, sizeof(*pi));
    if (pi == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pi->mask = mask;
    return pi;
}

static void pii_destroy(void *inst)
{
    pii_inst_t *pi = inst;

    if (pi == NULL)
        return;
    free(pi->found.v);
    free(pi->spans);
    free(pi);
}

/* "found 2 email addresses and 1 payment card", kinds in order of first
 * appearance in the text. */
static void build_reason(pii_inst_t *pi, int *first)
{
    size_t count[PII_NTYPES] = {0};
    int order[PII_NTYPES] = {0}, norder = 0;
    size_t off;

    for (size_t i = 0; i < pi->found.n; i++) {
        int t = pi->found.v[i].type;
        if (count[t]++ == 0)
            order[norder++] = t;
    }
    *first = order[0];
    off = (size_t)snprintf(pi->reason, sizeof(pi->reason), "found");
    for (int j = 0; j < norder && off < sizeof(pi->reason); j++) {
        int t = order[j];
        const char *join = j == 0 ? " " : (j == norder - 1 ? " and " : ", ");
        off += (size_t)snprintf(pi->reason + off, sizeof(pi->reason) - off,
                                "%s%zu %s", join, count[t],
                                count[t] == 1 ? kinds[t].one : kinds[t].many);
    }
}

static int pii_inspect(void *inst, void *stream, const char *text, size_t len,
                       aigov_verdict_t *out)
{
    pii_inst_t *pi = inst;
    int first = 0;

    (void)stream;       /* the host's overlap window is enough for these */
    if (pi == NULL || out == NULL || (text == NULL && len > 0))
        return -1;
    pi->found.n = 0;
    out->kind = AIGOV_ALLOW;
    out->spans = NULL;
    out->nspans = 0;
    out->reason = NULL;
    out->category = NULL;
    out->score = 0;
    if (pii_scan(text, len, pi->mask, &pi->found) < 0)
        return -1;
    if (pi->found.n == 0)
        return 0;

    if (pi->found.n > pi->spans_cap) {
        aigov_span_t *s = realloc(pi->spans, pi->found.n * sizeof(*s));
        if (s == NULL)
            return -1;
        pi->spans = s;
        pi->spans_cap = pi->found.n;
    }
    for (size_t i = 0; i < pi->found.n; i++) {
        pi->spans[i].start = pi->found.v[i].start;
        pi->spans[i].end = pi->found.v[i].end;
        pi->spans[i].label = kinds[pi->found.v[i].type].label;
    }
    build_reason(pi, &first);
    out->kind = AIGOV_REDACT;
    out->spans = pi->spans;
    out->nspans = pi->found.n;
    out->reason = pi->reason;
    out->category = kinds[first].name;
    out->score = (double)pi->found.n;
    return 0;
}

static size_t pii_tail_entry(void *inst, void *stream, const char *text, size_t len)
{
    pii_inst_t *pi = inst;

    (void)stream;
    return pii_tail(text, len, pi->mask);
}

static const aigov_plugin_t pii_plugin = {
    .abi_version  = AIGOV_PLUGIN_ABI_VERSION,
    .name         = "pii",
    .version      = PII_VERSION,
    .create       = pii_create,
    .destroy      = pii_destroy,
    .inspect      = pii_inspect,
    .stream_start = NULL,
    .stream_end   = NULL,
    .tail         = pii_tail_entry,
};

AIGOV_PLUGIN_EXPORT const aigov_plugin_t *aigov_plugin_entry(void)
{
    return &pii_plugin;
}
