/* policy_model: what a model name may hold (see aigov_model_name_valid in
 * policy.h). Names are compared byte for byte with the policy's patterns;
 * keeping them to a small ASCII alphabet means a pattern such as "gpt-4o*"
 * cannot be met by "gpt-4o\nmini", "gpt-4o mini" or a look-alike letter,
 * and an upstream that reads the name differently (trims it, stops at a
 * NUL, folds case of Unicode) cannot be asked for a model the policy did
 * not see. */
#include "policy.h"

int aigov_model_name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-' || c == ':' || c == '/' || c == '@';
}

int aigov_model_name_valid(const char *name, size_t len)
{
    if (!name || len == 0 || len > AIGOV_MODEL_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!aigov_model_name_char((unsigned char) name[i]))
            return 0;
    return 1;
}
