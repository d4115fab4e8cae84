/* A shared object without aigov_plugin_entry: the host must refuse it. */
#include "aigov_plugin.h"

AIGOV_PLUGIN_EXPORT int not_the_entry_point(void)
{
    return 1;
}
