/*
 * jwt_sign: mint a JWT (RS*, PS*, ES*, EdDSA, HS*) for development and tests; the
 * `aigov token` command is built on it. The gateway itself never signs.
 */
#ifndef AIGOV_JWT_SIGN_H
#define AIGOV_JWT_SIGN_H

#include <stddef.h>
#include <jansson.h>

typedef struct aigov_jwt_signer_s aigov_jwt_signer_t;

/*
 * A signing key from a file: a PEM private key (RSA, EC), a JWKS / JWK with
 * private members (kid selects; without kid the first private key), or any
 * other file, whose exact bytes are an HMAC secret. kid, if not NULL, is put
 * in the token header (for a JWKS it must match a key). NULL with err set.
 */
aigov_jwt_signer_t *aigov_jwt_signer_load(const char *path, const char *kid,
                                          char *err, size_t errlen);
aigov_jwt_signer_t *aigov_jwt_signer_from_mem(const char *data, size_t len,
                                              const char *name, const char *kid,
                                              char *err, size_t errlen);
/* The algorithm used when none is asked for: RS256, ES256/384/512 by curve,
 * HS256 (or the JWK's alg). */
const char *aigov_jwt_signer_alg(const aigov_jwt_signer_t *s);
const char *aigov_jwt_signer_kid(const aigov_jwt_signer_t *s);   /* NULL: none */
void aigov_jwt_signer_free(aigov_jwt_signer_t *s);

/* The compact JWT of claims (a JSON object), malloc'd; alg NULL = default.
 * NULL with err set when alg does not fit the key or signing fails. */
char *aigov_jwt_sign(const aigov_jwt_signer_t *s, const char *alg,
                     json_t *claims, char *err, size_t errlen);

#endif
