// build: lib/audit_report.c lib/audit_policy.c lib/audit_files.c lib/audit_record.c lib/json_check.c lib/checkpoint.c lib/merkle.c lib/hmac.c lib/hex.c lib/sha256.c lib/errbuf.c lib/policy_*.c lib/claim_path.c lib/endpoint.c lib/json_string.c lib/base64.c
/*
 * libFuzzer target for the auditor's readers that skip jansson for speed
 * (lib/audit_report.c, aigov_json_each, policy records, hash key files):
 * they read months of logs someone else wrote.
 *
 * First input byte picks the mode:
 *   0  the rest is log lines, counted by the report (then its JSON built)
 *   1  the rest is one line: aigov_json_each must see, for an object that
 *      jansson accepts, the same number of members; the policy scan and
 *      the policy record reader must not crash
 *   2  the rest is a hash key file
 *
 *   fuzz/build.sh audit_report; fuzz/run.sh audit_report
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "audit.h"
#include "audit_policy.h"
#include "audit_report.h"
#include "hmac.h"

static int count_member(void *ud, const char *k, size_t klen, const char *v, size_t vlen)
{
    (void) k;
    (void) klen;
    if (vlen == 0 || v == NULL)
        abort();
    (*(size_t *) ud)++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *) data + 1;
    size_t n = size ? size - 1 : 0;

    if (size == 0)
        return 0;
    switch (data[0] % 3) {
    case 0: {
        aigov_report_t *r = aigov_report_new(INT64_MIN, INT64_MAX);
        const char *q = p, *end = p + n, *nl;
        json_t *j;
        while (q < end && (nl = memchr(q, '\n', (size_t) (end - q))) != NULL) {
            aigov_report_line(r, q, (size_t) (nl - q));
            q = nl + 1;
        }
        j = aigov_report_json(r, 5);
        if (j == NULL)
            abort();
        json_decref(j);
        aigov_report_free(r);
        break;
    }
    case 1: {
        json_t *j = json_loadb(p, n, 0, NULL);
        aigov_record_policy_t rp;
        aigov_policy_record_t pr;
        char why[200];
        size_t members = 0;
        int rc = aigov_json_each(p, n, count_member, &members);
        /* jansson keeps the last of repeated keys; count distinct ones only
         * when there are none */
        if (json_is_object(j) && rc != 0)
            abort();
        if (json_is_object(j) && members < json_object_size(j))
            abort();
        aigov_record_policy_scan(p, n, &rp);
        if (aigov_policy_record_read(p, n, &pr, why, sizeof(why)) == 0)
            aigov_policy_record_free(&pr);
        json_decref(j);
        break;
    }
    case 2: {
        char path[] = "/tmp/fuzz-hkey-XXXXXX", err[300];
        int fd = mkstemp(path);
        aigov_hmac_key_t k;
        if (fd < 0)
            return 0;
        if (write(fd, p, n) == (ssize_t) n)
            (void) aigov_hmac_key_load(&k, path, err, sizeof(err));
        close(fd);
        unlink(path);
        break;
    }
    }
    return 0;
}
