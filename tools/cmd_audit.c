/* placeholder until the audit command lands; replaced by its real implementation */
#include <stdio.h>
#include "aigov.h"

int aigov_cmd_audit(int argc, char **argv)
{
    (void) argc; (void) argv;
    fprintf(stderr, "aigov audit: not built yet\n");
    return AIGOV_EXIT_USAGE;
}
