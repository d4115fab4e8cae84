#!/usr/bin/perl
# Identity against real identity providers' shapes (#21, #13.8): JWKS
# documents exactly as Keycloak, Azure AD and Auth0 publish them (x5c, x5t,
# an encryption key, an OKP key, a PS256 key, keys without alg), tokens
# minted by the jose library (t/node/idp.mjs), several issuers and
# audiences, typ, the subject check, the maximum lifetime, quoted claim
# paths, and each identity directive inherited from http, server and
# location level.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use AigovTest;

my $root = AigovTest::root();
plan skip_all => 'run `make t/node/node_modules/openai/package.json` to install jose into t/node'
    unless -d "$root/t/node/node_modules/jose";

my $t = AigovTest->new;
my $d = $t->dir;

system("openssl req -x509 -newkey rsa:2048 -keyout $d/azure.key.pem -out $d/azure.crt.pem -days 2 -nodes "
       . "-subj /CN=accounts.accesscontrol.windows.net 2>/dev/null") == 0 or die 'openssl req failed';
system("openssl x509 -in $d/azure.crt.pem -pubkey -noout > $d/azure.pub.pem") == 0 or die 'openssl x509 failed';
my $json = `node $root/t/node/idp.mjs $d`;
die "idp.mjs failed: $json" if $?;
my $tok = decode_json($json);

$t->write_file('allow.yaml', <<'EOF2');
version: 1
default: allow
rules: []
EOF2
$t->write_file('roles.yaml', <<'EOF2');
version: 1
default: deny
identity:
  groups_claim: resource_access."aigov.gw".roles
rules:
  - name: analysts
    decision: allow
    when: {groups: [analyst]}
EOF2

my $KC = 'https://kc.test/realms/aigov';
my $T1 = 'https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/';
my $T1v2 = 'https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0';
my $T2 = 'https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db48/';

$t->start_mock;
$t->write_conf(<<"EOF2");
    upstream mock { server 127.0.0.1:%%MOCK%%; }
    aigov_jwt_key %%DIR%%/keycloak.json;
    aigov_jwt_issuer $KC;
    aigov_jwt_audience aigov;
    aigov_jwt_typ at+jwt;
    aigov_jwt_max_lifetime 1h;
    aigov_jwt_leeway 0s;
    server {
        listen 127.0.0.1:%%PORT%%;
        large_client_header_buffers 4 32k;
        aigov on;
        aigov_policy %%DIR%%/allow.yaml;
        aigov_jwt_audience aigov other-api;

        location /kc/ { proxy_pass http://mock/; }
        location /roles/ {
            aigov_policy %%DIR%%/roles.yaml;
            proxy_pass http://mock/;
        }
        location /azure/ {
            aigov_jwt_key %%DIR%%/azure.json;
            aigov_jwt_issuer $T1 $T1v2;
            aigov_jwt_audience api://aigov;
            aigov_jwt_audience aigov-gateway;
            aigov_jwt_typ "";
            proxy_pass http://mock/;
        }
        location /azure-pem/ {
            aigov_jwt_key %%DIR%%/azure.pub.pem;
            aigov_jwt_issuer $T1;
            aigov_jwt_audience api://aigov;
            aigov_jwt_typ "";
            proxy_pass http://mock/;
        }
        location /azure-cert/ {
            aigov_jwt_key %%DIR%%/azure.crt.pem;
            aigov_jwt_issuer $T1;
            aigov_jwt_audience api://aigov;
            aigov_jwt_typ "";
            proxy_pass http://mock/;
        }
        location /tenant2/ {
            aigov_jwt_key %%DIR%%/azure.json;
            aigov_jwt_issuer $T2;
            aigov_jwt_audience api://aigov;
            aigov_jwt_typ "";
            proxy_pass http://mock/;
        }
        location /auth0/ {
            aigov_jwt_key %%DIR%%/auth0.json;
            aigov_jwt_issuer https://aigov.eu.auth0.com/;
            aigov_jwt_audience https://api.aigov;
            aigov_jwt_typ "";
            proxy_pass http://mock/;
        }
        location /long/ {
            aigov_jwt_max_lifetime 3d;
            aigov_jwt_typ application/AT+JWT JWT;
            aigov_jwt_leeway 60s;
            proxy_pass http://mock/;
        }
    }
EOF2
my ($ok_t, $out) = $t->nginx_t;
ok($ok_t, 'nginx -t accepts the IdP JWKS documents') or diag($out);
like($out, qr/notice\].*keycloak\.json: key 1 \(kid 'kc-enc'\) skipped: its use is 'enc', not 'sig'/,
     'nginx -t names the skipped encryption key');
like($out, qr/key 5 \(kid 'kc-ops'\) skipped: its key_ops do not include 'verify'/,
     'nginx -t names the key whose key_ops exclude verify');
$t->start_nginx;

my $body = encode_json({ model => 'gpt-4o-mini', messages => [ { role => 'user', content => 'hi' } ] });
sub call {
    my ($path, $token) = @_;
    return $t->request('POST', "$path/v1/chat/completions", body => $body,
                       headers => { Authorization => "Bearer $token" });
}
sub ok200 {
    my ($path, $name, $what) = @_;
    my $r = call($path, $tok->{$name});
    is($r->{status}, 200, "$what ($name at $path)") or diag($r->{body});
}
sub no401 {
    my ($path, $name, $code, $what) = @_;
    my $r = call($path, $tok->{$name});
    my $j = AigovTest::json($r) // {};
    is($r->{status}, 401, "$what ($name at $path): 401");
    is($j->{error}{code}, $code, "$what: code $code") or diag($r->{body});
}

# Keycloak: RS256, PS256 and EdDSA keys beside an encryption key
ok200('/kc', 'kc_rs', 'Keycloak RS256');
ok200('/kc', 'kc_ps', 'Keycloak PS256');
ok200('/kc', 'kc_ed', 'Keycloak EdDSA (Ed25519, OKP)');
no401('/kc', 'kc_ps_as_rs', 'invalid_algorithm', 'a JWK with alg PS256 pins PS256');
no401('/kc', 'kc_enc', 'unknown_key', 'the encryption key never verifies');
no401('/kc', 'kc_ops', 'unknown_key', 'a key whose key_ops exclude verify never verifies');
# typ (RFC 9068)
no401('/kc', 'kc_idtoken', 'invalid_token_type', 'an ID token (typ JWT) is not an access token');
no401('/kc', 'kc_notyp', 'invalid_token_type', 'no typ where at+jwt is required');
ok200('/kc', 'kc_app_at', 'typ application/AT+JWT is at+jwt');
ok200('/long', 'kc_idtoken', 'typ JWT accepted where configured');
# subject (#13.8)
no401('/kc', 'kc_nosub', 'invalid_subject', 'no sub');
no401('/kc', 'kc_numsub', 'invalid_subject', 'sub is a number');
no401('/kc', 'kc_emptysub', 'invalid_subject', 'sub is empty');
# lifetime (#13.8)
no401('/kc', 'kc_forever', 'token_lifetime_too_long', 'exp 1e308');
no401('/kc', 'kc_2days', 'token_lifetime_too_long', 'a two-day token under a 1h limit');
ok200('/long', 'kc_2days', 'a two-day token under a 3d limit');
no401('/long', 'kc_forever', 'token_lifetime_too_long', 'exp 1e308 under a 3d limit');
# quoted claim paths in the policy
ok200('/roles', 'kc_role', 'role under resource_access."aigov.gw"');
{
    my $r = call('/roles', $tok->{kc_role_fake});
    is($r->{status}, 403, 'the same role under resource_access.aigov.gw does not count');
}
# Azure AD: x5c/x5t keys without alg, v1 and v2 issuers, two audiences
ok200('/azure', 'az_v1', 'Azure AD v1 issuer');
ok200('/azure', 'az_v2', 'Azure AD v2 issuer, second audience');
no401('/azure', 'az_other', 'invalid_issuer', 'another tenant, same length');
no401('/tenant2', 'az_v1', 'invalid_issuer', 'tenant 1 token where tenant 2 is configured');
# the IdP's key as PEM (public key or certificate) and tokens naming a kid
ok200('/azure-pem', 'az_pem_kid', 'PEM public key, token with a kid');
ok200('/azure-cert', 'az_pem_kid', 'PEM certificate, token with a kid');
ok200('/azure-pem', 'az_v1', 'PEM public key, kid az1');
no401('/azure-pem', 'kc_rs', 'unknown_key', 'another IdP\'s token: the PEM key is tried and fails');
# Auth0
ok200('/auth0', 'a0', 'Auth0, aud as a list');
no401('/auth0', 'az_v1', 'unknown_key', 'an Azure token at the Auth0 location');

$t->stop_nginx;

# nginx -t refuses a JWKS with no usable key, naming why
$t->write_file('enc-only.json', encode_json({ keys => [ decode_json(do {
    open my $f, '<', "$d/keycloak.json" or die; local $/; my $k = decode_json(<$f>); encode_json($k->{keys}[0]) }) ] }));
$t->write_conf(<<'EOF2');
    server {
        listen 127.0.0.1:%%PORT%%;
        location / { aigov on; aigov_jwt_key %%DIR%%/enc-only.json; return 204; }
    }
EOF2
($ok_t, $out) = $t->nginx_t;
ok(!$ok_t, 'a JWKS with only an encryption key is refused');
like($out, qr/has no usable signature keys; key 1 \(kid 'kc-enc'\): its use is 'enc'/, '... saying why');

$t->write_conf(<<'EOF2');
    server {
        listen 127.0.0.1:%%PORT%%;
        location / { aigov on; aigov_jwt_key %%DIR%%/keycloak.json; aigov_jwt_issuer a "" b; return 204; }
    }
EOF2
($ok_t, $out) = $t->nginx_t;
ok(!$ok_t && $out =~ /"aigov_jwt_issuer" directive has an empty value among others/, 'an empty issuer among others is refused')
    or diag($out);

# --- inheritance: each identity directive at http, server and location ---
# Values at each level differ from the inherited ones by one character and
# keep their length (the merge bug of #21.1).
my $port2 = AigovTest::free_port();
$t->write_conf(<<"EOF2");
    upstream mock { server 127.0.0.1:%%MOCK%%; }
    aigov_jwt_key %%DIR%%/keycloak.json;
    aigov_jwt_issuer $KC;
    aigov_jwt_audience aigov;
    aigov_jwt_typ at+jwt;
    aigov_jwt_max_lifetime 1h;
    aigov_jwt_leeway 60s;
    server {
        listen 127.0.0.1:%%PORT%%;
        large_client_header_buffers 4 32k;
        aigov on;
        aigov_policy %%DIR%%/allow.yaml;
        location /http/ { proxy_pass http://mock/; }
        location /loc-key/ { aigov_jwt_key %%DIR%%/auth0.json; proxy_pass http://mock/; }
        location /loc-iss/ { aigov_jwt_issuer https://kc.test/realms/aigoW; proxy_pass http://mock/; }
        location /loc-aud/ { aigov_jwt_audience aigoW; proxy_pass http://mock/; }
        location /loc-typ/ { aigov_jwt_typ JWT; proxy_pass http://mock/; }
        location /loc-life/ { aigov_jwt_max_lifetime 3d; proxy_pass http://mock/; }
    }
    server {
        listen 127.0.0.1:$port2;
        large_client_header_buffers 4 32k;
        aigov on;
        aigov_policy %%DIR%%/allow.yaml;
        aigov_jwt_audience aigoW;
        aigov_jwt_typ JWT;
        aigov_jwt_max_lifetime 3d;
        location /srv/ { proxy_pass http://mock/; }
        location /srv-back/ {
            aigov_jwt_audience aigov;
            aigov_jwt_typ at+jwt;
            aigov_jwt_max_lifetime 1h;
            proxy_pass http://mock/;
        }
    }
EOF2
$t->start_nginx;
sub call_host {
    my ($host, $path, $name) = @_;
    my $r = $t->request('POST', "$path/v1/chat/completions", body => $body,
                        port => $host eq 'srv' ? $port2 : $t->port,
                        headers => { Authorization => "Bearer $tok->{$name}" });
    return $r->{status};
}
is(call_host('x', '/http', 'kc_rs'), 200, 'http level: key, issuer, audience, typ inherited');
is(call_host('x', '/http', 'kc_2days'), 401, 'http level: max lifetime 1h inherited');
is(call_host('x', '/http', 'kc_idtoken'), 401, 'http level: typ inherited');
is(call_host('x', '/loc-key', 'kc_rs'), 401, 'location key replaces the inherited key');
is(call_host('x', '/loc-iss', 'kc_rs'), 401, 'location issuer of the same length replaces the inherited one');
is(call_host('x', '/loc-aud', 'kc_rs'), 401, 'location audience of the same length replaces the inherited one');
is(call_host('x', '/loc-typ', 'kc_rs'), 401, 'location typ JWT refuses at+jwt');
is(call_host('x', '/loc-typ', 'kc_idtoken'), 200, 'location typ JWT takes JWT');
is(call_host('x', '/loc-life', 'kc_2days'), 200, 'location max lifetime 3d');
is(call_host('srv', '/srv', 'kc_rs'), 401, 'server audience (same length) and typ replace http\'s');
is(call_host('srv', '/srv-back', 'kc_rs'), 200, 'location back to http\'s values under a server that changed them');
is(call_host('srv', '/srv-back', 'kc_2days'), 401, '... max lifetime back to 1h');

$t->done;
done_testing;
