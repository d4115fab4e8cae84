/* policy_cases: the test-case files of `aigov policy test` and `diff`. */
#include <stdlib.h>
#include <string.h>

#include "media.h"
#include "policy.h"
#include "policy_yaml.h"

#define MAX_CASES  100000

static const char *const case_keys[] = { "name", "description", "claims", "request", "expect",
                                         "rule", "code", NULL };
static const char *const request_keys[] = { "model", "endpoint", "max_tokens", "prompt_chars",
                                            "n", "inspected", "unread", "background", "media",
                                            NULL };

static char *text_of(aigov_ydoc_t *y, yaml_node_t *n, const char *what, int *ok)
{
    const char *s = aigov_yscalar(n);
    char *d;

    if (!s || aigov_ynull(n)) {
        aigov_yerr(y, n, "%s must be text, not %s", what, aigov_ytype(n));
        *ok = 0;
        return NULL;
    }
    if (!(d = strdup(s)))
        *ok = 0;
    return d;
}

/* media: the kinds of binary media the request carries, as the audit
 * record lists them ([image, file]; [] for none) */
static void parse_media(aigov_ydoc_t *y, aigov_policy_case_t *c, yaml_node_t *n, int *ok)
{
    yaml_node_item_t *it;

    if (n->type != YAML_SEQUENCE_NODE) {
        aigov_yerr(y, n, "media must be a list of image, audio, file, not %s", aigov_ytype(n));
        *ok = 0;
        return;
    }
    for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        yaml_node_t *v = aigov_ynode(y, *it);
        const char *s = aigov_yscalar(v);
        unsigned bit = s && !aigov_ynull(v) ? aigov_media_bit(s, strlen(s)) : 0;

        if (!bit) {
            aigov_yerr(y, v, "media must be a list of image, audio, file, not %s",
                       s && !aigov_ynull(v) ? s : aigov_ytype(v));
            *ok = 0;
        }
        c->media |= bit;
    }
}

static void parse_request(aigov_ydoc_t *y, aigov_policy_case_t *c, yaml_node_t *n, int *ok)
{
    yaml_node_t *v;

    if (n->type != YAML_MAPPING_NODE) {
        aigov_yerr(y, n, "request must be a mapping of model, endpoint, max_tokens, prompt_chars");
        *ok = 0;
        return;
    }
    if (aigov_ymap_check(y, n, request_keys, "a case's request"))
        *ok = 0;
    if ((v = aigov_ymap_get(y, n, "model", NULL)) && !aigov_ynull(v))
        c->model = text_of(y, v, "model", ok);
    if ((v = aigov_ymap_get(y, n, "endpoint", NULL))) {
        free(c->endpoint);
        c->endpoint = text_of(y, v, "endpoint", ok);
    }
    if ((v = aigov_ymap_get(y, n, "max_tokens", NULL)) &&
        (!aigov_yint(v, &c->max_tokens) || c->max_tokens < 0)) {
        aigov_yerr(y, v, "max_tokens must be a whole number, not %s", aigov_ytype(v));
        *ok = 0;
    }
    if ((v = aigov_ymap_get(y, n, "prompt_chars", NULL)) &&
        (!aigov_yint(v, &c->prompt_chars) || c->prompt_chars < 0)) {
        aigov_yerr(y, v, "prompt_chars must be a whole number, not %s", aigov_ytype(v));
        *ok = 0;
    }
    if ((v = aigov_ymap_get(y, n, "n", NULL)) && (!aigov_yint(v, &c->n) || c->n < 1)) {
        aigov_yerr(y, v, "n must be a whole number from 1, not %s", aigov_ytype(v));
        *ok = 0;
    }
    if ((v = aigov_ymap_get(y, n, "inspected", NULL))) {
        int b;
        if (!aigov_ybool(v, &b)) {
            aigov_yerr(y, v, "inspected must be true or false, not %s", aigov_ytype(v));
            *ok = 0;
        } else {
            c->uninspected = !b;
        }
    }
    /* what the gateway records for a request it read but could not read
     * all of (docs/audit.md) */
    if ((v = aigov_ymap_get(y, n, "unread", NULL))) {
        const char *s = aigov_yscalar(v);

        if (!s || aigov_ynull(v) || (strcmp(s, "token_ids") && strcmp(s, "text_file"))) {
            aigov_yerr(y, v, "unread must be token_ids or text_file, not %s",
                       s && !aigov_ynull(v) ? s : aigov_ytype(v));
            *ok = 0;
        } else if (!(c->unread = strdup(s))) {
            *ok = 0;
        }
    }
    if ((v = aigov_ymap_get(y, n, "background", NULL))) {
        int b;
        if (!aigov_ybool(v, &b)) {
            aigov_yerr(y, v, "background must be true or false, not %s", aigov_ytype(v));
            *ok = 0;
        } else {
            c->background = b;
        }
    }
    if ((v = aigov_ymap_get(y, n, "media", NULL)))
        parse_media(y, c, v, ok);
}

static void parse_case(aigov_ydoc_t *y, aigov_policy_case_t *c, yaml_node_t *n, int *ok)
{
    yaml_node_t *v;
    const char *s;

    c->line = (unsigned) n->start_mark.line + 1;
    c->max_tokens = -1;
    c->endpoint = strdup("/v1/chat/completions");
    if (!c->endpoint)
        *ok = 0;
    if (n->type != YAML_MAPPING_NODE) {
        aigov_yerr(y, n, "each case is a mapping of name, claims, request, expect");
        *ok = 0;
        return;
    }
    if (aigov_ymap_check(y, n, case_keys, "a case"))
        *ok = 0;
    if (!(v = aigov_ymap_get(y, n, "name", NULL))) {
        aigov_yerr(y, n, "case has no name");
        *ok = 0;
    } else {
        c->name = text_of(y, v, "name", ok);
    }
    if ((v = aigov_ymap_get(y, n, "claims", NULL))) {
        if (v->type != YAML_MAPPING_NODE) {
            aigov_yerr(y, v, "claims must be a mapping, e.g. {sub: alice, groups: [analysts]}");
            *ok = 0;
        } else if (!(c->claims = aigov_yjson(y, v))) {
            *ok = 0;
        }
    }
    if (!c->claims && !(c->claims = json_object()))
        *ok = 0;
    if ((v = aigov_ymap_get(y, n, "request", NULL)))
        parse_request(y, c, v, ok);
    v = aigov_ymap_get(y, n, "expect", NULL);
    s = aigov_yscalar(v);
    if (!v) {
        aigov_yerr(y, n, "case has no expect (allow or deny)");
        *ok = 0;
    } else if (s && !strcmp(s, "allow")) {
        c->expect_allow = 1;
    } else if (s && !strcmp(s, "deny")) {
        c->expect_allow = 0;
    } else {
        aigov_yerr(y, v, "expect must be allow or deny, not '%s'", s ? s : aigov_ytype(v));
        *ok = 0;
    }
    if ((v = aigov_ymap_get(y, n, "rule", NULL)))
        c->rule = text_of(y, v, "rule", ok);
    if ((v = aigov_ymap_get(y, n, "code", NULL)))
        c->code = text_of(y, v, "code", ok);
}

aigov_policy_case_t *aigov_policy_cases_load(const char *path, size_t *ncases,
                                             char **errors)
{
    aigov_errs_t errs;
    aigov_ydoc_t y;
    yaml_node_t *root;
    aigov_policy_case_t *cases = NULL;
    char *buf, err[256];
    size_t len, n = 0;
    int ok = 1;
    json_t *seen = NULL;

    *ncases = 0;
    *errors = NULL;
    memset(&errs, 0, sizeof(errs));
    if (aigov_read_file(path, AIGOV_POLICY_MAX_FILE, &buf, &len, err, sizeof(err)) != 0) {
        aigov_errs_add(&errs, path, 0, 0, "%s", err);
        *errors = aigov_errs_take(&errs);
        return NULL;
    }
    root = aigov_ydoc_parse(&y, path, buf, len, &errs);
    if (root && root->type != YAML_SEQUENCE_NODE) {
        aigov_yerr(&y, root, "a case file is a list of cases, each starting with '- name:'");
    } else if (root) {
        n = (size_t) (root->data.sequence.items.top - root->data.sequence.items.start);
        if (n == 0 || n > MAX_CASES) {
            if (n)
                aigov_yerr(&y, root, "more than %d cases", MAX_CASES);
            else
                aigov_yerr(&y, root, "the case list is empty");
            n = 0;
        } else if (!(cases = calloc(n, sizeof(*cases)))) {
            aigov_errs_add(&errs, path, 0, 0, "out of memory");
            n = 0;
        }
        for (size_t i = 0; i < n; i++)
            parse_case(&y, &cases[i], aigov_ynode(&y, root->data.sequence.items.start[i]), &ok);
        /* names so far, with the index of their case: comparing each
         * name with every earlier one was quadratic */
        if (n && !(seen = json_object()))
            ok = 0;
        for (size_t i = 0; seen && i < n; i++) {
            json_t *first;
            if (!cases[i].name)
                continue;
            if ((first = json_object_get(seen, cases[i].name))) {
                aigov_errs_add(&errs, path, cases[i].line, 1,
                               "case name '%s' is used twice (first at line %u)",
                               cases[i].name, cases[json_integer_value(first)].line);
                continue;
            }
            json_object_set_new(seen, cases[i].name, json_integer((json_int_t) i));
        }
        json_decref(seen);
    }
    aigov_ydoc_free(&y);
    free(buf);
    if (errs.count || !ok) {
        if (!errs.count)
            aigov_errs_add(&errs, path, 0, 0, "out of memory");
        aigov_policy_cases_free(cases, n);
        *errors = aigov_errs_take(&errs);
        return NULL;
    }
    aigov_errs_free(&errs);
    *ncases = n;
    return cases;
}

void aigov_policy_cases_free(aigov_policy_case_t *cases, size_t ncases)
{
    if (!cases)
        return;
    for (size_t i = 0; i < ncases; i++) {
        free(cases[i].name);
        json_decref(cases[i].claims);
        free(cases[i].model);
        free(cases[i].endpoint);
        free(cases[i].rule);
        free(cases[i].code);
        free(cases[i].unread);
    }
    free(cases);
}

void aigov_policy_case_input(const aigov_policy_case_t *c, aigov_policy_input_t *in)
{
    memset(in, 0, sizeof(*in));
    in->claims = c->claims;
    in->path = c->endpoint;
    in->endpoint = c->endpoint;
    in->model = c->model;
    in->max_tokens = c->max_tokens;
    in->prompt_chars = c->prompt_chars;
    in->n = c->n;
    if (c->uninspected)
        in->uninspectable = "a request the gateway does not read";
    if (c->unread)
        in->unread = aigov_policy_unread_phrase(c->unread);
    in->answer_later = c->background;
    in->media = c->media;
}
