/*
 * pii.h: the pii plugin's detectors, shared by its two source files and
 * its unit test. Nothing here is exported from the shared object (it is
 * built with -fvisibility=hidden); only aigov_plugin_entry is.
 */

#ifndef AIGOV_PII_H
#define AIGOV_PII_H

#include <stddef.h>

typedef enum {
    PII_EMAIL = 0,
    PII_PHONE,
    PII_CARD,
    PII_IBAN,
    PII_SSN,
    PII_IP,
    PII_CN_ID,
    PII_NTYPES
} pii_type_t;

#define PII_ALL  ((1u << PII_NTYPES) - 1u)

typedef struct {
    size_t  start;
    size_t  end;
    int     type;
} pii_match_t;

/* A growable array the scanner appends to; kept by the instance so that a
 * busy worker does not allocate on every call. */
typedef struct {
    pii_match_t  *v;
    size_t        n;
    size_t        cap;
} pii_matches_t;

/* Finds every enabled type (mask of 1u << pii_type_t) in text. Appends
 * non-overlapping matches in increasing order of start. Returns 0, or -1
 * when memory ran out (out then holds what was found so far). */
int pii_scan(const char *text, size_t len, unsigned mask, pii_matches_t *out);

/* In a stream: how many bytes at the end of text an item of an enabled
 * type could still cover once more text follows (see tail() in
 * aigov_plugin.h). The trailing run of the characters such an item is
 * written with: address characters, digits with their separators, an
 * IBAN's capitals, IPv6 hex and colons. Not bounded here: the host caps
 * it. */
size_t pii_tail(const char *text, size_t len, unsigned mask);

/* Validators, exposed for the unit test. */
int pii_luhn_ok(const char *digits, size_t n);
int pii_card_prefix_ok(const char *digits, size_t n);
int pii_iban_ok(const char *compact, size_t n);     /* uppercase, no spaces */
int pii_cn_id_ok(const char *s, size_t n);          /* 18 characters */
int pii_ssn_ok(int area, int group, int serial);

#endif /* AIGOV_PII_H */
