/* aigov: the operator's, compliance officer's and auditor's command. */
#include <stdio.h>
#include <string.h>

#include "aigov.h"
#include "quota_redis.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} commands[] = {
    { "keygen", aigov_cmd_keygen, "keygen --out KEY            write an Ed25519 key pair for signing checkpoints" },
    { "audit",  aigov_cmd_audit,  "audit verify|show|prove|check-proof ...   read and verify an audit log" },
    { "policy", aigov_cmd_policy, "policy check|test|explain|diff|replay ...  work with policy files" },
    { "token",  aigov_cmd_token,  "token --key KEY [--claims JSON] ...        mint a development JWT" },
};

static void usage(FILE *f)
{
    fprintf(f, "usage: aigov COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  aigov %s\n", commands[i].help);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return AIGOV_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return AIGOV_EXIT_OK;
    }
    if (!strcmp(argv[1], "_redis-script") && argc == 3) {
        /* test-only: the Lua the gateway loads into Redis, so that t/redis.t
         * can run it there directly */
        const char *s = !strcmp(argv[2], "settle") ? aigov_quota_redis_settle_script()
                        : !strcmp(argv[2], "batch") ? aigov_quota_redis_batch_script() : NULL;
        if (s == NULL)
            return AIGOV_EXIT_USAGE;
        fputs(s, stdout);
        return AIGOV_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "aigov: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return AIGOV_EXIT_USAGE;
}
