
/*
 * aigov: the signed audit log (shared tree state, appends, checkpoints).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_aigov_module.h"
