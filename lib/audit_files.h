/*
 * audit_files: months of audit log files, as an auditor gets them.
 *
 * Retention is measured in months, and logrotate leaves the log as many
 * files, most of them compressed (audit.log, audit.log.1, audit.log.2.gz,
 * ...). This reads each file as it is, plain or gzip (what logrotate's
 * `compress` writes, several gzip members included), and puts any number
 * of files, or the files of a folder, into the order of the tree: every
 * file after the first starts with a carry-over checkpoint whose size is
 * the seq its first record carries, so the files themselves say where
 * they belong, whatever their names or the order they were given in.
 *
 * Nothing here trusts the files: the order only decides what the verifier
 * reads first; a file that does not belong where it claims is still
 * reported by the verifier (removed, reordered, inserted).
 */
#ifndef AIGOV_AUDIT_FILES_H
#define AIGOV_AUDIT_FILES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- one file, plain or gzip ---------------------------------------------- */

typedef struct aigov_reader aigov_reader_t;

/* Opens path; gzip is recognised by its magic bytes, not by the name.
 * NULL with a sentence in err. */
aigov_reader_t *aigov_reader_open(const char *path, char *err, size_t errlen);
/* Up to n bytes of the (decompressed) file; 0 at the end, -1 with a
 * sentence in err on an I/O error or a damaged or truncated gzip file. */
ssize_t aigov_reader_read(aigov_reader_t *r, void *buf, size_t n, char *err, size_t errlen);
int aigov_reader_is_gzip(const aigov_reader_t *r);
void aigov_reader_close(aigov_reader_t *r);

/* Line by line over a reader: lines up to 64 MiB (longer ones are cut
 * there and marked). */
typedef struct aigov_lines aigov_lines_t;

aigov_lines_t *aigov_lines_open(const char *path, char *err, size_t errlen);
/* 1: a line in line and len (no newline; has_nl says whether one ended
 * it), valid until the next call; 0: end of file; -1: error (err). */
int aigov_lines_next(aigov_lines_t *l, const char **line, size_t *len, int *has_nl,
                     char *err, size_t errlen);
void aigov_lines_close(aigov_lines_t *l);

/* ---- many files, in tree order ------------------------------------------ */

typedef struct {
    char     *path;
    int       gzip;
    int       carry;        /* starts with a carry-over checkpoint */
    int       has_records;  /* holds at least one record line */
    int       empty;        /* neither a record nor a checkpoint in it */
    uint64_t  start;        /* the seq its first record carries, or is meant to */
} aigov_log_file_t;

/* Expands folders (their regular, non-hidden files whose first byte is
 * '{' or which are gzip; others are skipped with a line in *notes), reads
 * the start of every file and sorts them by where they start in the tree
 * (a file that holds no record before one that starts at the same seq;
 * empty files last). Files named twice are read once. Returns 0, or -1
 * with err (a file or folder that cannot be read). *notes (malloc'd, may
 * be NULL) has one line per skipped file. */
int aigov_log_files(char *const *args, size_t nargs, aigov_log_file_t **out, size_t *nout,
                    char **notes, char *err, size_t errlen);
void aigov_log_files_free(aigov_log_file_t *f, size_t n);

/* ---- which file holds which records (kept by the verifier) --------------- */

struct aigov_verify;
/* The records (leaves) file i gave the tree: their count, and the first
 * and last seq when the count is not 0. */
uint64_t aigov_verify_file_range(const struct aigov_verify *v, unsigned file,
                                 uint64_t *first, uint64_t *last);

/* n >= 2: n - 1 worker threads hash and check the lines of the next chunk
 * while the caller's thread builds the tree from the previous one, in
 * order, and helps with what is left (at most 16). For the tool; the
 * module's recovery stays on one thread. */
void aigov_verify_threads(struct aigov_verify *v, unsigned n);

#endif
