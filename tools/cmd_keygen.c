/* aigov keygen: an Ed25519 key pair that signs audit checkpoints. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "aigov.h"
#include "audit.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: aigov keygen --out KEY [--name NAME] [--force] [--json]\n"
               "  writes KEY (PKCS#8 PEM, mode 0600) and KEY.pub (SubjectPublicKeyInfo PEM)\n"
               "  and prints the verifier key (vkey) for NAME (default: <hostname>/aigov),\n"
               "  which must equal aigov_audit_origin.\n");
}

static int write_key(const char *path, EVP_PKEY *k, int pub, int force)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | (force ? 0 : O_EXCL), pub ? 0644 : 0600);
    FILE *f;
    int ok;

    if (fd < 0) {
        fprintf(stderr, "aigov keygen: %s: %s%s\n", path, strerror(errno),
                errno == EEXIST ? " (use --force to replace it)" : "");
        return -1;
    }
    f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        fprintf(stderr, "aigov keygen: %s: %s\n", path, strerror(errno));
        return -1;
    }
    ok = pub ? PEM_write_PUBKEY(f, k) : PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    if (fclose(f) != 0 || !ok) {
        fprintf(stderr, "aigov keygen: %s: cannot write the key\n", path);
        return -1;
    }
    return 0;
}

int aigov_cmd_keygen(int argc, char **argv)
{
    const char *out = NULL, *name = NULL;
    char host[256], defname[300], pubpath[4096], err[512];
    int force = 0, json = 0;
    EVP_PKEY *k;
    aigov_signer_t *s;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--out") && i + 1 < argc) {
            out = argv[++i];
        } else if (!strcmp(argv[i], "--name") && i + 1 < argc) {
            name = argv[++i];
        } else if (!strcmp(argv[i], "--force")) {
            force = 1;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return AIGOV_EXIT_OK;
        } else {
            fprintf(stderr, "aigov keygen: unexpected argument '%s'\n", argv[i]);
            usage(stderr);
            return AIGOV_EXIT_USAGE;
        }
    }
    if (out == NULL) {
        usage(stderr);
        return AIGOV_EXIT_USAGE;
    }
    if (name == NULL) {
        if (gethostname(host, sizeof(host)) != 0)
            snprintf(host, sizeof(host), "localhost");
        host[sizeof(host) - 1] = '\0';
        snprintf(defname, sizeof(defname), "%s/aigov", host);
        name = defname;
    }
    if (snprintf(pubpath, sizeof(pubpath), "%s.pub", out) >= (int) sizeof(pubpath)) {
        fprintf(stderr, "aigov keygen: path too long\n");
        return AIGOV_EXIT_USAGE;
    }
    k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (k == NULL) {
        fprintf(stderr, "aigov keygen: cannot generate an Ed25519 key\n");
        return AIGOV_EXIT_USAGE;
    }
    if (write_key(out, k, 0, force) < 0 || write_key(pubpath, k, 1, force) < 0) {
        EVP_PKEY_free(k);
        return AIGOV_EXIT_USAGE;
    }
    EVP_PKEY_free(k);
    s = aigov_signer_load(out, name, err, sizeof(err));
    if (s == NULL) {
        fprintf(stderr, "aigov keygen: %s\n", err);
        return AIGOV_EXIT_USAGE;
    }
    if (json) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "key", out, "pub", pubpath, "name", name,
                              "vkey", aigov_signer_vkey(s));
        char *t = o ? json_dumps(o, JSON_COMPACT) : NULL;
        printf("%s\n", t ? t : "{}");
        free(t);
        json_decref(o);
    } else {
        printf("%s\n", aigov_signer_vkey(s));
        fprintf(stderr, "wrote %s and %s; key name %s (set aigov_audit_origin %s;)\n", out, pubpath, name, name);
    }
    aigov_signer_free(s);
    return AIGOV_EXIT_OK;
}
