/*
 * policy_yaml: the YAML reading shared by the policy loader and the test-case
 * loader. Internal to lib/policy*.c.
 *
 * A file is read in two passes: an event pass that rejects what a policy
 * never needs and what could make the tree walk expensive (aliases, deep
 * nesting, several documents), then libyaml's document loader, whose nodes
 * carry the line and column every error message points at.
 */
#ifndef AIGOV_POLICY_YAML_H
#define AIGOV_POLICY_YAML_H

#include <stddef.h>
#include <yaml.h>
#include <jansson.h>

#define AIGOV_POLICY_MAX_FILE   (8u << 20)   /* bytes per policy file */
#define AIGOV_POLICY_MAX_TOTAL  (32u << 20)  /* bytes of all files of a folder */
#define AIGOV_POLICY_MAX_DEPTH  32           /* nesting of mappings and lists */
#define AIGOV_POLICY_MAX_ERRORS 100

/* Errors as "file:line:col: message" lines. They are kept apart so that
 * they come out in file order, then line and column order, whatever order
 * the checks ran in. */
typedef struct {
    char      *text;     /* the whole line, without newline */
    char      *file;
    unsigned   line;
    unsigned   col;
    unsigned   seq;
    size_t     rank;     /* set when sorting: the index of its file's first error */
} aigov_err_t;

typedef struct aigov_errs_s {
    aigov_err_t  *v;
    size_t        n;
    size_t        cap;
    unsigned      count;    /* including those beyond the cap */
    int           nomem;
    const char   *noun;     /* "errors" when NULL, for "... and 3 more errors" */
} aigov_errs_t;

/* line 0 means "no place in the file": the line reads "file: message". */
void aigov_errs_add(aigov_errs_t *e, const char *file, unsigned line,
                    unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* The collected text (malloc'd, caller frees) or NULL when empty; resets e. */
char *aigov_errs_take(aigov_errs_t *e);
void aigov_errs_free(aigov_errs_t *e);

/* Whole file into a malloc'd, NUL-terminated buffer of at most max bytes.
 * 0, or -1 with a sentence in err. */
int aigov_read_file(const char *path, size_t max, char **buf, size_t *len,
                    char *err, size_t errlen);

typedef struct aigov_ydoc_s {
    const char      *file;     /* for messages; not owned */
    aigov_errs_t    *errs;
    yaml_document_t  doc;
    int              loaded;
} aigov_ydoc_t;

/* Parses buf as one YAML document. Returns the root node, or NULL after
 * adding the errors (syntax, alias, depth, several documents, empty file). */
yaml_node_t *aigov_ydoc_parse(aigov_ydoc_t *y, const char *file,
                              const char *buf, size_t len, aigov_errs_t *errs);
void aigov_ydoc_free(aigov_ydoc_t *y);

/* An error at node n (its first character). */
void aigov_yerr(aigov_ydoc_t *y, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

yaml_node_t *aigov_ynode(aigov_ydoc_t *y, int id);

/* Reports keys that are not scalars, not in allowed (NULL-terminated) or
 * given twice. what names the mapping in messages ("rule", "filter").
 * Returns the number of errors added. */
int aigov_ymap_check(aigov_ydoc_t *y, yaml_node_t *map,
                     const char *const *allowed, const char *what);
/* Value of key in map (first occurrence), NULL when absent; *keynode set
 * when keynode is not NULL. */
yaml_node_t *aigov_ymap_get(aigov_ydoc_t *y, yaml_node_t *map, const char *key,
                            yaml_node_t **keynode);

/* Scalar text, NULL when n is not a scalar or holds a NUL byte. */
const char *aigov_yscalar(const yaml_node_t *n);
/* 1 when n is a plain (unquoted) scalar */
int aigov_yplain(const yaml_node_t *n);
/* Plain scalars read as YAML 1.2 core types. 1 on success. */
int aigov_yint(const yaml_node_t *n, long long *out);
int aigov_ybool(const yaml_node_t *n, int *out);
int aigov_ynull(const yaml_node_t *n);
/* Short description of a node's type for messages: "a list", "text"... */
const char *aigov_ytype(const yaml_node_t *n);

/* The subtree as JSON: plain scalars that look like integers, floats,
 * booleans or null become those; everything else is a string. Duplicate
 * keys are errors. NULL after adding errors. */
json_t *aigov_yjson(aigov_ydoc_t *y, yaml_node_t *n);

#endif
