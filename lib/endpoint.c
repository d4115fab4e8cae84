/* endpoint: the model API kinds the gateway reads, by their paths (the
 * enum and the contract are in request.h). Apart from the request reader
 * so that the policy's warnings can name endpoints without linking it. */
#include "request.h"

#include <string.h>

/* Whole paths, matched exactly: a kind decides which fields are text, so a
 * path that only ends like a known one ("/v1/responses/chat/completions")
 * must not borrow its reading. Prefixes an operator adds in front are
 * stripped by nginx (location / rewrite) before the module sees r->uri. */
static const struct {
    const char       *path;
    aigov_endpoint_t  ep;
} ep_paths[] = {
    { "/v1/chat/completions",       AIGOV_EP_CHAT },
    { "/v1/completions",            AIGOV_EP_COMPLETIONS },
    { "/v1/embeddings",             AIGOV_EP_EMBEDDINGS },
    { "/v1/messages",               AIGOV_EP_MESSAGES },
    { "/v1/messages/count_tokens",  AIGOV_EP_COUNT_TOKENS },
    { "/v1/models",                 AIGOV_EP_MODELS },
    { "/v1/responses",              AIGOV_EP_RESPONSES },
};

aigov_endpoint_t
aigov_endpoint_from_path(const char *path, size_t len)
{
    const char *q;
    size_t      i;

    if (path == NULL)
        return AIGOV_EP_UNKNOWN;
    q = memchr(path, '?', len);
    if (q != NULL)
        len = (size_t) (q - path);

    for (i = 0; i < sizeof(ep_paths) / sizeof(ep_paths[0]); i++) {
        if (strlen(ep_paths[i].path) == len
            && memcmp(path, ep_paths[i].path, len) == 0)
        {
            return ep_paths[i].ep;
        }
    }
    return AIGOV_EP_UNKNOWN;
}

const char *
aigov_endpoint_name(aigov_endpoint_t ep)
{
    size_t i;

    for (i = 0; i < sizeof(ep_paths) / sizeof(ep_paths[0]); i++) {
        if (ep_paths[i].ep == ep)
            return ep_paths[i].path;
    }
    return "";
}
