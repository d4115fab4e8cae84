/* policy_yaml: YAML reading with line:col for every node (see policy_yaml.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "policy_yaml.h"

void aigov_errs_add(aigov_errs_t *e, const char *file, unsigned line,
                    unsigned col, const char *fmt, ...)
{
    char msg[1024], text[1800];
    va_list ap;
    aigov_err_t *er;

    if (e->nomem)
        return;
    if (++e->count > AIGOV_POLICY_MAX_ERRORS)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (line)
        snprintf(text, sizeof(text), "%.600s:%u:%u: %s", file, line, col, msg);
    else
        snprintf(text, sizeof(text), "%.600s: %s", file, msg);

    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 16;
        aigov_err_t *nv = realloc(e->v, cap * sizeof(*nv));
        if (!nv) {
            e->nomem = 1;
            return;
        }
        e->v = nv;
        e->cap = cap;
    }
    er = &e->v[e->n];
    er->text = strdup(text);
    er->file = strdup(file);
    if (!er->text || !er->file) {
        free(er->text);
        free(er->file);
        e->nomem = 1;
        return;
    }
    er->line = line;
    er->col = col;
    er->seq = (unsigned) e->n;
    e->n++;
}

static int cmp_err(const void *a, const void *b)
{
    const aigov_err_t *x = a, *y = b;

    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

char *aigov_errs_take(aigov_errs_t *e)
{
    char *s, more[80] = "";
    size_t len = 0, off = 0;
    aigov_err_t *sorted;

    if (e->nomem) {
        aigov_errs_free(e);
        return strdup("policy: out of memory while reporting errors\n");
    }
    if (!e->count) {
        aigov_errs_free(e);
        return NULL;
    }
    for (size_t i = 0; i < e->n; i++) {
        size_t r = 0;
        while (strcmp(e->v[r].file, e->v[i].file))
            r++;
        e->v[i].rank = r;
    }
    sorted = malloc(e->n * sizeof(*sorted));
    if (!sorted) {
        aigov_errs_free(e);
        return strdup("policy: out of memory while reporting errors\n");
    }
    memcpy(sorted, e->v, e->n * sizeof(*sorted));
    qsort(sorted, e->n, sizeof(*sorted), cmp_err);
    if (e->count > e->n)
        snprintf(more, sizeof(more), "... and %u more %s\n", e->count - (unsigned) e->n,
                 e->noun ? e->noun : "errors");
    for (size_t i = 0; i < e->n; i++)
        len += strlen(sorted[i].text) + 1;
    len += strlen(more) + 1;
    s = malloc(len);
    if (s) {
        for (size_t i = 0; i < e->n; i++)
            off += (size_t) snprintf(s + off, len - off, "%s\n", sorted[i].text);
        snprintf(s + off, len - off, "%s", more);
    }
    free(sorted);
    aigov_errs_free(e);
    return s;
}

void aigov_errs_free(aigov_errs_t *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free(e->v[i].text);
        free(e->v[i].file);
    }
    free(e->v);
    memset(e, 0, sizeof(*e));
}

int aigov_read_file(const char *path, size_t max, char **buf, size_t *len,
                    char *err, size_t errlen)
{
    FILE *f;
    struct stat st;
    char *b;
    size_t n;

    *buf = NULL;
    *len = 0;
    f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open: %s", strerror(errno));
        return -1;
    }
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "not a regular file");
        fclose(f);
        return -1;
    }
    if ((unsigned long long) st.st_size > max) {
        snprintf(err, errlen, "file is larger than %zu bytes", max);
        fclose(f);
        return -1;
    }
    b = malloc((size_t) st.st_size + 1);
    if (!b) {
        snprintf(err, errlen, "out of memory");
        fclose(f);
        return -1;
    }
    n = fread(b, 1, (size_t) st.st_size, f);
    if (ferror(f) || fgetc(f) != EOF) {
        snprintf(err, errlen, "cannot read: %s", ferror(f) ? strerror(errno) : "file changed while reading");
        free(b);
        fclose(f);
        return -1;
    }
    fclose(f);
    b[n] = '\0';
    *buf = b;
    *len = n;
    return 0;
}

static void parser_error(aigov_ydoc_t *y, yaml_parser_t *ps)
{
    if (ps->error == YAML_READER_ERROR) {
        aigov_errs_add(y->errs, y->file, 0, 0, "not valid UTF-8 text at byte %zu: %s",
                       ps->problem_offset, ps->problem ? ps->problem : "unreadable");
        return;
    }
    if (ps->error == YAML_MEMORY_ERROR) {
        aigov_errs_add(y->errs, y->file, 0, 0, "out of memory while reading YAML");
        return;
    }
    aigov_errs_add(y->errs, y->file, (unsigned) ps->problem_mark.line + 1,
                   (unsigned) ps->problem_mark.column + 1, "YAML syntax error: %s%s%s",
                   ps->problem ? ps->problem : "unreadable",
                   ps->context ? " " : "", ps->context ? ps->context : "");
}

/* The event pass: is this one document without aliases or deep nesting? */
static int precheck(aigov_ydoc_t *y, const char *buf, size_t len)
{
    yaml_parser_t ps;
    yaml_event_t ev;
    int depth = 0, docs = 0, ok = 1, done = 0;

    if (!yaml_parser_initialize(&ps)) {
        aigov_errs_add(y->errs, y->file, 0, 0, "out of memory while reading YAML");
        return 0;
    }
    yaml_parser_set_input_string(&ps, (const unsigned char *) buf, len);
    while (!done) {
        if (!yaml_parser_parse(&ps, &ev)) {
            parser_error(y, &ps);
            ok = 0;
            break;
        }
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) {
                aigov_errs_add(y->errs, y->file, (unsigned) ev.start_mark.line + 1,
                               (unsigned) ev.start_mark.column + 1,
                               "a policy file holds one YAML document; start another file instead of '---'");
                ok = 0;
                done = 1;
            }
            break;
        case YAML_ALIAS_EVENT:
            aigov_errs_add(y->errs, y->file, (unsigned) ev.start_mark.line + 1,
                           (unsigned) ev.start_mark.column + 1,
                           "YAML aliases (*%s) are not supported; write the value out",
                           ev.data.alias.anchor ? (const char *) ev.data.alias.anchor : "");
            ok = 0;
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (++depth > AIGOV_POLICY_MAX_DEPTH) {
                aigov_errs_add(y->errs, y->file, (unsigned) ev.start_mark.line + 1,
                               (unsigned) ev.start_mark.column + 1,
                               "nested more than %d levels deep", AIGOV_POLICY_MAX_DEPTH);
                ok = 0;
                done = 1;
            }
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&ps);
    if (ok && docs == 0) {
        aigov_errs_add(y->errs, y->file, 1, 1, "the file is empty");
        ok = 0;
    }
    return ok;
}

yaml_node_t *aigov_ydoc_parse(aigov_ydoc_t *y, const char *file,
                              const char *buf, size_t len, aigov_errs_t *errs)
{
    yaml_parser_t ps;
    yaml_node_t *root;

    memset(y, 0, sizeof(*y));
    y->file = file;
    y->errs = errs;
    if (!precheck(y, buf, len))
        return NULL;
    if (!yaml_parser_initialize(&ps)) {
        aigov_errs_add(errs, file, 0, 0, "out of memory while reading YAML");
        return NULL;
    }
    yaml_parser_set_input_string(&ps, (const unsigned char *) buf, len);
    if (!yaml_parser_load(&ps, &y->doc)) {
        parser_error(y, &ps);
        yaml_parser_delete(&ps);
        return NULL;
    }
    yaml_parser_delete(&ps);
    y->loaded = 1;
    root = yaml_document_get_root_node(&y->doc);
    if (!root)
        aigov_errs_add(errs, file, 1, 1, "the file is empty");
    return root;
}

void aigov_ydoc_free(aigov_ydoc_t *y)
{
    if (y->loaded)
        yaml_document_delete(&y->doc);
    y->loaded = 0;
}

void aigov_yerr(aigov_ydoc_t *y, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    aigov_errs_add(y->errs, y->file, (unsigned) n->start_mark.line + 1,
                   (unsigned) n->start_mark.column + 1, "%s", msg);
}

yaml_node_t *aigov_ynode(aigov_ydoc_t *y, int id)
{
    return yaml_document_get_node(&y->doc, id);
}

const char *aigov_yscalar(const yaml_node_t *n)
{
    if (!n || n->type != YAML_SCALAR_NODE)
        return NULL;
    if (strlen((const char *) n->data.scalar.value) != n->data.scalar.length)
        return NULL;
    return (const char *) n->data.scalar.value;
}

int aigov_yplain(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

int aigov_yint(const yaml_node_t *n, long long *out)
{
    const char *s = aigov_yscalar(n), *p;
    char *end;
    long long v;

    if (!s || !aigov_yplain(n))
        return 0;
    p = s;
    if (*p == '-' || *p == '+')
        p++;
    if (!*p)
        return 0;
    for (; *p; p++)
        if (*p < '0' || *p > '9')
            return 0;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end)
        return 0;
    *out = v;
    return 1;
}

static int looks_float(const char *s)
{
    int digits = 0;

    if (*s == '-' || *s == '+')
        s++;
    while (*s >= '0' && *s <= '9') {
        s++;
        digits++;
    }
    if (*s == '.') {
        s++;
        while (*s >= '0' && *s <= '9') {
            s++;
            digits++;
        }
    }
    if (!digits)
        return 0;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '-' || *s == '+')
            s++;
        if (!(*s >= '0' && *s <= '9'))
            return 0;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    return *s == '\0';
}

int aigov_ybool(const yaml_node_t *n, int *out)
{
    const char *s = aigov_yscalar(n);

    if (!s || !aigov_yplain(n))
        return 0;
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) {
        *out = 1;
        return 1;
    }
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
        *out = 0;
        return 1;
    }
    return 0;
}

int aigov_ynull(const yaml_node_t *n)
{
    const char *s = aigov_yscalar(n);

    if (!s || !aigov_yplain(n))
        return 0;
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

const char *aigov_ytype(const yaml_node_t *n)
{
    long long i;
    int b;

    if (!n)
        return "nothing";
    switch (n->type) {
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_SCALAR_NODE:
        if (aigov_ynull(n))
            return "empty";
        if (aigov_yint(n, &i))
            return "a number";
        if (aigov_ybool(n, &b))
            return "a boolean";
        return "text";
    default:
        return "nothing";
    }
}

int aigov_ymap_check(aigov_ydoc_t *y, yaml_node_t *map,
                     const char *const *allowed, const char *what)
{
    yaml_node_pair_t *pr, *q;
    int errors = 0;
    char list[512];
    size_t ll = 0;

    list[0] = '\0';
    for (size_t i = 0; allowed[i]; i++)
        ll += (size_t) snprintf(list + ll, ll < sizeof(list) ? sizeof(list) - ll : 0,
                                "%s%s", i ? ", " : "", allowed[i]);

    for (pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = aigov_ynode(y, pr->key);
        const char *ks = aigov_yscalar(k);
        size_t i;

        if (!ks) {
            aigov_yerr(y, k, "keys in %s must be plain words", what);
            errors++;
            continue;
        }
        for (i = 0; allowed[i]; i++)
            if (!strcmp(ks, allowed[i]))
                break;
        if (!allowed[i]) {
            aigov_yerr(y, k, "unknown key '%s' in %s (expected one of: %s)", ks, what, list);
            errors++;
            continue;
        }
        for (q = map->data.mapping.pairs.start; q < pr; q++) {
            const char *qs = aigov_yscalar(aigov_ynode(y, q->key));
            if (qs && !strcmp(qs, ks)) {
                aigov_yerr(y, k, "key '%s' is given twice in %s", ks, what);
                errors++;
                break;
            }
        }
    }
    return errors;
}

yaml_node_t *aigov_ymap_get(aigov_ydoc_t *y, yaml_node_t *map, const char *key,
                            yaml_node_t **keynode)
{
    yaml_node_pair_t *pr;

    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = aigov_ynode(y, pr->key);
        const char *ks = aigov_yscalar(k);
        if (ks && !strcmp(ks, key)) {
            if (keynode)
                *keynode = k;
            return aigov_ynode(y, pr->value);
        }
    }
    return NULL;
}

static json_t *yjson(aigov_ydoc_t *y, yaml_node_t *n, int depth)
{
    json_t *j;
    long long i;
    int b;

    if (!n || depth > AIGOV_POLICY_MAX_DEPTH)
        return NULL;
    switch (n->type) {
    case YAML_SCALAR_NODE: {
        const char *s = aigov_yscalar(n);
        if (!s) {
            aigov_yerr(y, n, "text must not contain NUL characters");
            return NULL;
        }
        if (aigov_ynull(n))
            return json_null();
        if (aigov_ybool(n, &b))
            return json_boolean(b);
        if (aigov_yint(n, &i))
            return json_integer(i);
        if (aigov_yplain(n) && looks_float(s))
            return json_real(strtod(s, NULL));
        j = json_string(s);
        if (!j)
            aigov_yerr(y, n, "text is not valid UTF-8");
        return j;
    }
    case YAML_SEQUENCE_NODE: {
        yaml_node_item_t *it;
        int ok = 1;
        j = json_array();
        if (!j)
            return NULL;
        for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
            json_t *v = yjson(y, aigov_ynode(y, *it), depth + 1);
            if (!v || json_array_append_new(j, v) != 0)
                ok = 0;
        }
        if (!ok) {
            json_decref(j);
            return NULL;
        }
        return j;
    }
    case YAML_MAPPING_NODE: {
        yaml_node_pair_t *pr;
        int ok = 1;
        j = json_object();
        if (!j)
            return NULL;
        for (pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
            yaml_node_t *k = aigov_ynode(y, pr->key);
            const char *ks = aigov_yscalar(k);
            json_t *v;
            if (!ks) {
                aigov_yerr(y, k, "keys must be plain words");
                ok = 0;
                continue;
            }
            if (json_object_get(j, ks)) {
                aigov_yerr(y, k, "key '%s' is given twice", ks);
                ok = 0;
                continue;
            }
            v = yjson(y, aigov_ynode(y, pr->value), depth + 1);
            if (!v) {
                ok = 0;
            } else if (json_object_set_new(j, ks, v) != 0) {
                aigov_yerr(y, k, "key is not valid UTF-8 text");
                ok = 0;
            }
        }
        if (!ok) {
            json_decref(j);
            return NULL;
        }
        return j;
    }
    default:
        return NULL;
    }
}

json_t *aigov_yjson(aigov_ydoc_t *y, yaml_node_t *n)
{
    return yjson(y, n, 0);
}
