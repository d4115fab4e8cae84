/*
 * aigov token: mint a development JWT (RS*, ES*, HS*) with the claims the
 * policies look at. Used by `make run`'s example curl and by the tests.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "aigov.h"
#include "jwt_sign.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: aigov token --key FILE [--kid K] [--alg A] [--sub S] [--groups a,b]\n"
        "                   [--iss I] [--aud A]... [--ttl SECONDS] [--claim k=v]...\n"
        "                   [--claims JSON|@FILE] [--json]\n"
        "\n"
        "  --key FILE     PEM private key (RSA, EC), JWKS with private members, or a\n"
        "                 file whose exact bytes are an HMAC secret (32 bytes or more)\n"
        "  --kid K        kid in the header (for a JWKS: the key to sign with)\n"
        "  --alg A        RS256/384/512, ES256/384/512, HS256/384/512 (default: from the key)\n"
        "  --ttl SECONDS  exp = now + SECONDS (default 3600; negative gives an expired token)\n"
        "  --claim k=v    a claim; v is read as JSON when it parses, else as a string\n"
        "  --claims JSON  a JSON object of claims (or @FILE); the options above win\n"
        "  --json         print {\"token\":...,\"header\":...,\"claims\":...}\n");
}

static json_t *load_claims(const char *arg, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *j = arg[0] == '@' ? json_load_file(arg + 1, JSON_REJECT_DUPLICATES, &jerr)
                              : json_loads(arg, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL) {
        snprintf(err, errlen, "--claims: %s%sline %d column %d: %s",
                 arg[0] == '@' ? arg + 1 : "", arg[0] == '@' ? ": " : "",
                 jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        snprintf(err, errlen, "--claims: not a JSON object");
        json_decref(j);
        return NULL;
    }
    return j;
}

static json_t *split_groups(const char *s)
{
    json_t *a = json_array();
    const char *p = s;
    while (a != NULL && *p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t) (end - p) : strlen(p);
        while (n > 0 && *p == ' ') {
            p++;
            n--;
        }
        while (n > 0 && p[n - 1] == ' ')
            n--;
        if (n > 0)
            json_array_append_new(a, json_stringn(p, n));
        p += n;
        while (*p == ' ')
            p++;
        if (*p == ',')
            p++;
    }
    return a;
}

/* --claim k=v: JSON when v parses as JSON, else the string v. */
static int add_claim(json_t *claims, const char *kv, char *err, size_t errlen)
{
    const char *eq = strchr(kv, '=');
    if (eq == NULL || eq == kv) {
        snprintf(err, errlen, "--claim '%s': expected NAME=VALUE", kv);
        return -1;
    }
    char *name = strndup(kv, (size_t) (eq - kv));
    json_t *v = json_loads(eq + 1, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    if (v == NULL)
        v = json_string(eq + 1);
    int rc = name != NULL && v != NULL && json_object_set_new(claims, name, v) == 0 ? 0 : -1;
    if (rc != 0)
        snprintf(err, errlen, "--claim '%s': not valid UTF-8 or out of memory", kv);
    free(name);
    return rc;
}

int aigov_cmd_token(int argc, char **argv)
{
    const char *key = NULL, *kid = NULL, *alg = NULL, *sub = NULL, *groups = NULL;
    const char *iss = NULL, *claims_arg = NULL;
    long long ttl = 3600;
    int as_json = 0, rc = AIGOV_EXIT_USAGE;
    char err[512] = "";
    json_t *auds = json_array(), *extra = json_array();
    json_t *claims = NULL;
    aigov_jwt_signer_t *signer = NULL;
    char *token = NULL;

    if (auds == NULL || extra == NULL)
        goto out;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            rc = AIGOV_EXIT_OK;
            goto out;
        }
        if (!strcmp(a, "--json")) {
            as_json = 1;
            continue;
        }
        /* every other option takes a value: "--opt v" or "--opt=v" */
        const char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
        size_t nlen = eq ? (size_t) (eq - a) : strlen(a);
        if (eq)
            val = eq + 1;
        else if (i + 1 < argc)
            val = argv[++i];
        else {
            fprintf(stderr, "aigov token: %s needs a value\n", a);
            usage(stderr);
            goto out;
        }
#define OPT(s) (nlen == strlen(s) && strncmp(a, s, nlen) == 0)
        if (OPT("--key")) key = val;
        else if (OPT("--kid")) kid = val;
        else if (OPT("--alg")) alg = val;
        else if (OPT("--sub")) sub = val;
        else if (OPT("--groups")) groups = val;
        else if (OPT("--iss")) iss = val;
        else if (OPT("--aud")) json_array_append_new(auds, json_string(val));
        else if (OPT("--claim")) json_array_append_new(extra, json_string(val));
        else if (OPT("--claims")) claims_arg = val;
        else if (OPT("--ttl")) {
            char *end;
            errno = 0;
            ttl = strtoll(val, &end, 10);
            if (errno || end == val || *end || ttl < -(1LL << 40) || ttl > (1LL << 40)) {
                fprintf(stderr, "aigov token: --ttl '%s' is not a number of seconds\n", val);
                goto out;
            }
        } else {
            fprintf(stderr, "aigov token: unknown option '%.*s'\n", (int) nlen, a);
            usage(stderr);
            goto out;
        }
#undef OPT
    }
    if (key == NULL) {
        fprintf(stderr, "aigov token: --key is required\n");
        usage(stderr);
        goto out;
    }

    claims = claims_arg ? load_claims(claims_arg, err, sizeof(err)) : json_object();
    if (claims == NULL)
        goto fail;
    long long now = (long long) time(NULL);
    json_object_set_new(claims, "iat", json_integer(now));
    json_object_set_new(claims, "exp", json_integer(now + ttl));
    if (sub)
        json_object_set_new(claims, "sub", json_string(sub));
    if (groups)
        json_object_set_new(claims, "groups", split_groups(groups));
    if (iss)
        json_object_set_new(claims, "iss", json_string(iss));
    if (json_array_size(auds) == 1)
        json_object_set(claims, "aud", json_array_get(auds, 0));
    else if (json_array_size(auds) > 1)
        json_object_set(claims, "aud", auds);
    size_t i;
    json_t *kv;
    json_array_foreach(extra, i, kv)
        if (add_claim(claims, json_string_value(kv), err, sizeof(err)) != 0)
            goto fail;

    signer = aigov_jwt_signer_load(key, kid, err, sizeof(err));
    if (signer == NULL)
        goto fail;
    token = aigov_jwt_sign(signer, alg, claims, err, sizeof(err));
    if (token == NULL)
        goto fail;
    if (as_json) {
        const char *kid_out = aigov_jwt_signer_kid(signer);
        json_t *out = json_pack("{s:s, s:{s:s, s:o*}, s:O}", "token", token,
                                "header", "alg", alg ? alg : aigov_jwt_signer_alg(signer),
                                "kid", kid_out ? json_string(kid_out) : NULL,
                                "claims", claims);
        char *text = out ? json_dumps(out, JSON_INDENT(2)) : NULL;
        if (text)
            printf("%s\n", text);
        free(text);
        json_decref(out);
    } else {
        printf("%s\n", token);
    }
    rc = fflush(stdout) == 0 ? AIGOV_EXIT_OK : AIGOV_EXIT_USAGE;
    goto out;
fail:
    fprintf(stderr, "aigov token: %s\n", err[0] ? err : "out of memory");
out:
    free(token);
    aigov_jwt_signer_free(signer);
    json_decref(claims);
    json_decref(auds);
    json_decref(extra);
    return rc;
}
