/*
 * audit_report: the numbers of `aigov audit report`.
 *
 * One pass over the record lines, in tree order, constant work per line
 * and no JSON built per record (fields are read from the raw line with
 * aigov_json_each): months of logs, ten million records, in well under a
 * minute. Memory grows with the distinct days, subjects, models, reasons,
 * plugins and policies, and with the requests admitted but not (yet)
 * completed; not with the records.
 *
 * What it counts (each record by its own ts, within [since, until)):
 *   requests per UTC day by decision (admit = allow, deny = deny);
 *   refusals by reason: status and what refused (rule, filter plugin,
 *     authentication, bad request, quota, ...), with one example message;
 *   filter verdicts by plugin, stage and verdict (entries and matches);
 *   tokens by model (from completion records, joined to their admission
 *     by id); the subjects with the most refusals and the most tokens;
 *   quota refusals (status 429) by subject;
 *   policies: each policy record, and when each digest was first and last
 *     named by a record;
 *   gaps: admissions without a completion record;
 *   allowed requests by what no filter read (allowed_unread): a body not
 *     read ("inspected":false), token ids, an undecodable text file, other
 *     unread text, each kind of binary media ("media"), an answer written
 *     in the background.
 */
#ifndef AIGOV_AUDIT_REPORT_H
#define AIGOV_AUDIT_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

typedef struct aigov_report aigov_report_t;

/* since/until in microseconds (INT64_MIN / INT64_MAX: open). */
aigov_report_t *aigov_report_new(int64_t since, int64_t until);
/* One line of the log (checkpoints and other lines are skipped). */
void aigov_report_line(aigov_report_t *r, const char *line, size_t len);
/* The numbers, as a new JSON object; top: how many subjects to list. */
json_t *aigov_report_json(const aigov_report_t *r, size_t top);
void aigov_report_free(aigov_report_t *r);

#endif
