// Mints, with the jose library (independent of aigov's code), the JWKS
// documents of three identity providers shaped as they publish them, and
// tokens signed by their keys. t/idp.t runs it and reads the tokens as JSON.
//   node t/node/idp.mjs DIR     (DIR holds azure.key.pem and azure.crt.pem,
//                                made by openssl, and receives the JWKS files)
import { readFileSync, writeFileSync } from 'node:fs';
import { createHash, X509Certificate, webcrypto } from 'node:crypto';
import { generateKeyPair, exportJWK, importJWK, importPKCS8, SignJWT } from 'jose';

// jose's web build reads the global crypto, which Node.js 18 (Debian
// bookworm's) has only under a flag; it looks it up at call time
if (!globalThis.crypto) globalThis.crypto = webcrypto;

const dir = process.argv[2];
const now = Math.floor(Date.now() / 1000);
const x = (v) => ({ extractable: true, ...v });

// Keycloak: an RS256 and a PS256 signing key, an Ed25519 (OKP) key, and the
// RSA-OAEP encryption key that Keycloak lists beside them with "use":"enc".
const rs = await generateKeyPair('RS256', x());
const ps = await generateKeyPair('RS256', x());
const ed = await generateKeyPair('EdDSA', x({ crv: 'Ed25519' }));
const enc = await generateKeyPair('RS256', x());
const ops = await generateKeyPair('RS256', x());
const pub = async (k, extra) => ({ ...(await exportJWK(k.publicKey)), ...extra });
const psPriv = await importJWK(await exportJWK(ps.privateKey), 'PS256');
const keycloak = { keys: [
  await pub(enc, { kid: 'kc-enc', use: 'enc', alg: 'RSA-OAEP' }),
  await pub(rs, { kid: 'kc-rs', use: 'sig', alg: 'RS256' }),
  await pub(ps, { kid: 'kc-ps', use: 'sig', alg: 'PS256' }),
  await pub(ed, { kid: 'kc-ed', use: 'sig', alg: 'EdDSA' }),
  // a key published for encryption only by key_ops: must never verify
  await pub(ops, { kid: 'kc-ops', key_ops: ['encrypt', 'wrapKey'] }),
] };
writeFileSync(`${dir}/keycloak.json`, JSON.stringify(keycloak));

// Azure AD: RSA keys without alg, with x5t and an x5c certificate chain.
const azPem = readFileSync(`${dir}/azure.key.pem`, 'utf8');
const azKey = await importPKCS8(azPem, 'RS256', { extractable: true });
const cert = new X509Certificate(readFileSync(`${dir}/azure.crt.pem`));
const der = cert.raw;
const azJwk = await exportJWK(azKey);
const azure = { keys: [{
  kty: 'RSA', use: 'sig', kid: 'az1',
  x5t: createHash('sha1').update(der).digest('base64url'),
  n: azJwk.n, e: azJwk.e,
  x5c: [der.toString('base64')],
  issuer: 'https://login.microsoftonline.com/{tenantid}/v2.0',
}] };
writeFileSync(`${dir}/azure.json`, JSON.stringify(azure));

// Auth0: RS256 with alg, x5c and x5t, and nothing else.
const a0 = await generateKeyPair('RS256', x());
writeFileSync(`${dir}/auth0.json`, JSON.stringify({ keys: [
  await pub(a0, { kid: 'a0', use: 'sig', alg: 'RS256', x5t: 'bm90LWEtcmVhbC10aHVtYnByaW50', x5c: [der.toString('base64')] }),
] }));

const KC = 'https://kc.test/realms/aigov';
const T1 = 'https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/';
const T1v2 = 'https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0';
const T2 = 'https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db48/';
async function tok(key, hdr, claims) {
  return new SignJWT({ sub: 'alice', iat: now, exp: now + 600, ...claims })
    .setProtectedHeader(hdr).sign(key);
}
const kc = (c) => ({ iss: KC, aud: 'aigov', ...c });
const out = {
  kc_rs: await tok(rs.privateKey, { alg: 'RS256', kid: 'kc-rs', typ: 'at+jwt' }, kc()),
  kc_ps: await tok(psPriv, { alg: 'PS256', kid: 'kc-ps', typ: 'at+jwt' }, kc()),
  kc_ed: await tok(ed.privateKey, { alg: 'EdDSA', kid: 'kc-ed', typ: 'at+jwt' }, kc()),
  kc_ps_as_rs: await tok(ps.privateKey, { alg: 'RS256', kid: 'kc-ps', typ: 'at+jwt' }, kc()),
  kc_enc: await tok(enc.privateKey, { alg: 'RS256', kid: 'kc-enc', typ: 'at+jwt' }, kc()),
  kc_ops: await tok(ops.privateKey, { alg: 'RS256', kid: 'kc-ops', typ: 'at+jwt' }, kc()),
  kc_idtoken: await tok(rs.privateKey, { alg: 'RS256', kid: 'kc-rs', typ: 'JWT' }, kc()),
  kc_notyp: await tok(rs.privateKey, { alg: 'RS256', kid: 'kc-rs' }, kc()),
  kc_app_at: await tok(rs.privateKey, { alg: 'RS256', kid: 'kc-rs', typ: 'application/AT+JWT' }, kc()),
  kc_nosub: await tok(rs.privateKey, { alg: 'RS256', kid: 'kc-rs', typ: 'at+jwt' }, kc({ sub: undefined })),
  kc_numsub: await tok(rs.privateKey, { alg: 'RS256', kid: 'kc-rs', typ: 'at+jwt' }, kc({ sub: 42 })),
  kc_emptysub: await tok(rs.privateKey, { alg: 'RS256', kid: 'kc-rs', typ: 'at+jwt' }, kc({ sub: '' })),
  kc_forever: await tok(rs.privateKey, { alg: 'RS256', kid: 'kc-rs', typ: 'at+jwt' }, kc({ iat: undefined, exp: 1e308 })),
  kc_2days: await tok(rs.privateKey, { alg: 'RS256', kid: 'kc-rs', typ: 'at+jwt' }, kc({ exp: now + 2 * 86400 })),
  kc_role: await tok(rs.privateKey, { alg: 'RS256', kid: 'kc-rs', typ: 'at+jwt' },
                     kc({ resource_access: { 'aigov.gw': { roles: ['analyst'] }, aigov: { gw: { roles: [] } } } })),
  kc_role_fake: await tok(rs.privateKey, { alg: 'RS256', kid: 'kc-rs', typ: 'at+jwt' },
                          kc({ resource_access: { aigov: { gw: { roles: ['analyst'] } } } })),
  az_v1: await tok(azKey, { alg: 'RS256', kid: 'az1', typ: 'JWT', x5t: azure.keys[0].x5t }, { iss: T1, aud: 'api://aigov' }),
  az_v2: await tok(azKey, { alg: 'RS256', kid: 'az1', typ: 'JWT' }, { iss: T1v2, aud: 'aigov-gateway' }),
  az_other: await tok(azKey, { alg: 'RS256', kid: 'az1', typ: 'JWT' }, { iss: T2, aud: 'api://aigov' }),
  az_pem_kid: await tok(azKey, { alg: 'RS256', kid: 'some-rotating-kid', typ: 'JWT' }, { iss: T1, aud: 'api://aigov' }),
  a0: await tok(a0.privateKey, { alg: 'RS256', kid: 'a0', typ: 'JWT' },
                { iss: 'https://aigov.eu.auth0.com/', aud: ['https://api.aigov', 'https://aigov.eu.auth0.com/userinfo'] }),
};
console.log(JSON.stringify(out));
