/* placeholder until the keygen command lands; replaced by its real implementation */
#include <stdio.h>
#include "aigov.h"

int aigov_cmd_keygen(int argc, char **argv)
{
    (void) argc; (void) argv;
    fprintf(stderr, "aigov keygen: not built yet\n");
    return AIGOV_EXIT_USAGE;
}
