#!/usr/bin/perl
# Identity: tokens minted here (openssl, HMAC) against PEM keys and a JWKS
# with several kids; every cause of 401, with its code and message.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use AigovTest;
use AigovJWT;

my $t = AigovTest->new;
my $d = $t->dir;

my ($rsa, $rsa_pub) = AigovJWT::keypair($d, 'rsa', 'rsa');
my ($ec, $ec_pub) = AigovJWT::keypair($d, 'ec', 'p256');
my ($rsa2, $rsa2_pub) = AigovJWT::keypair($d, 'rsa2', 'rsa');
my $secret = 'a shared secret that is long enough for HS256!!';
my $jwks = { keys => [ AigovJWT::jwk($rsa2_pub, 'k-rsa'), AigovJWT::jwk($ec_pub, 'k-ec'),
                       { kty => 'oct', kid => 'k-hs', k => AigovJWT::b64url($secret) } ] };
$t->write_file('jwks.json', encode_json($jwks));
$t->write_file('allow.yaml', <<'EOF');
version: 1
default: allow
rules: []
EOF

$t->start_mock;
$t->write_conf(<<'EOF');
    upstream mock { server 127.0.0.1:%%MOCK%%; }
    server {
        listen 127.0.0.1:%%PORT%%;
        large_client_header_buffers 4 32k;
        aigov on;
        aigov_policy %%DIR%%/allow.yaml;
        aigov_jwt_issuer https://idp.test;
        aigov_jwt_audience aigov;

        location /pem/ {
            aigov_jwt_key %%DIR%%/rsa.pub.pem;
            proxy_pass http://mock/;
        }
        location /jwks/ {
            aigov_jwt_key %%DIR%%/jwks.json;
            aigov_jwt_key %%DIR%%/rsa.pub.pem;
            proxy_pass http://mock/;
        }
        location /noiss/ {
            aigov_jwt_key %%DIR%%/rsa.pub.pem;
            aigov_jwt_issuer "";
            aigov_jwt_audience "";
            aigov_jwt_leeway 5s;
            proxy_pass http://mock/;
        }
    }
EOF
$t->start_nginx;

my $body = encode_json({ model => 'gpt-4o-mini', messages => [ { role => 'user', content => 'hi' } ] });
my %good = (iss => 'https://idp.test', aud => 'aigov', sub => 'alice');

sub call {
    my ($path, $token, %o) = @_;
    my %h;
    $h{Authorization} = $o{raw} // "Bearer $token" if defined $token || defined $o{raw};
    return $t->request('POST', "$path/v1/chat/completions", body => $body, headers => \%h);
}

sub ok200 {
    my ($r, $name) = @_;
    is($r->{status}, 200, $name) or diag($r->{body});
}

sub no401 {
    my ($r, $code, $msg_re, $name) = @_;
    is($r->{status}, 401, "$name: 401");
    my $j = AigovTest::json($r) // {};
    is($j->{error}{type}, 'authentication_error', "$name: authentication_error");
    is($j->{error}{code}, $code, "$name: code $code");
    like($j->{error}{message} // '', $msg_re, "$name: message says why") if $msg_re;
    like($r->{headers}{'www-authenticate'} // '', qr/^Bearer/, "$name: WWW-Authenticate");
}

# accepted
ok200(call('/pem', AigovJWT::mint(alg => 'RS256', key => $rsa, claims => \%good)), 'RS256 with a PEM key');
ok200(call('/pem', AigovJWT::mint(alg => 'RS384', key => $rsa, claims => \%good)), 'RS384 with the same RSA key');
ok200(call('/pem', AigovJWT::mint(alg => 'RS512', key => $rsa, claims => \%good)), 'RS512');
ok200(call('/jwks', AigovJWT::mint(alg => 'RS256', key => $rsa2, kid => 'k-rsa', claims => \%good)), 'JWKS RSA kid');
ok200(call('/jwks', AigovJWT::mint(alg => 'ES256', key => $ec, kid => 'k-ec', claims => \%good)), 'JWKS EC kid');
ok200(call('/jwks', AigovJWT::mint(alg => 'HS256', key => $secret, kid => 'k-hs', claims => \%good)), 'JWKS oct kid HS256');
ok200(call('/jwks', AigovJWT::mint(alg => 'RS256', key => $rsa, claims => \%good)), 'no kid: the PEM key beside the JWKS');
ok200(call('/pem', AigovJWT::mint(alg => 'RS256', key => $rsa, claims => { %good, aud => ['other', 'aigov'] })),
      'aud as a list containing ours');
ok200(call('/pem', AigovJWT::mint(alg => 'RS256', key => $rsa, claims => { %good, exp => time - 30 })),
      'expired 30s ago, inside the 60s leeway');
ok200(call('/noiss', AigovJWT::mint(alg => 'RS256', key => $rsa, claims => { sub => 'x' })), 'no iss/aud required here');

# refused
no401(call('/pem', undef), 'token_missing', qr/token|Authorization/i, 'no Authorization header');
no401(call('/pem', undef, raw => 'Basic dXNlcjpwYXNz'), 'token_missing', undef, 'Basic instead of Bearer');
no401(call('/pem', 'abc.def'), 'token_malformed', undef, 'two parts');
no401(call('/pem', 'a$b.c.d'), 'token_malformed', undef, 'bad base64url');
my $ok = AigovJWT::mint(alg => 'RS256', key => $rsa, claims => \%good);
my ($hh, $pp, $ss) = split /\./, $ok;
no401(call('/pem', AigovJWT::b64url('{"alg":"RS256",') . ".$pp.$ss"), 'token_malformed', undef, 'bad JSON in header');
no401(call('/pem', "$hh." . AigovJWT::b64url('{"sub":') . ".$ss"), 'token_malformed', undef, 'bad JSON in payload');
no401(call('/pem', AigovJWT::mint(alg => 'none', claims => \%good)), 'invalid_algorithm', qr/none|alg/i, 'alg none');
open my $pf, '<', $rsa_pub or die;
my $pubpem = do { local $/; <$pf> };
no401(call('/pem', AigovJWT::mint(alg => 'HS256', key => $pubpem, claims => \%good)), 'invalid_algorithm',
      qr/HS256/, 'algorithm confusion: HS256 signed with the RSA public key');
no401(call('/jwks', AigovJWT::mint(alg => 'ES256', key => $ec, kid => 'k-rsa', claims => \%good)), 'invalid_algorithm',
      undef, 'ES256 token naming an RSA kid');
no401(call('/jwks', AigovJWT::mint(alg => 'RS256', key => $rsa2, kid => 'nope', claims => \%good)), 'unknown_key',
      qr/nope/, 'unknown kid');
no401(call('/pem', AigovJWT::mint(alg => 'RS256', key => $rsa2, claims => \%good)), 'invalid_signature',
      qr/signature/i, 'signed by another key');
my $tampered = "$hh." . AigovJWT::b64url(JSON::PP->new->canonical->encode({ %good, sub => 'mallory', iat => time, exp => time + 600 })) . ".$ss";
no401(call('/pem', $tampered), 'invalid_signature', undef, 'payload changed after signing');
no401(call('/pem', AigovJWT::mint(alg => 'RS256', key => $rsa, claims => { %good, exp => time - 120 })),
      'token_expired', qr/expired/i, 'expired beyond the leeway');
no401(call('/pem', AigovJWT::mint(alg => 'RS256', key => $rsa, claims => { %good, nbf => time + 120 })),
      'token_not_yet_valid', qr/not.*valid|nbf/i, 'nbf in the future');
no401(call('/pem', AigovJWT::mint(alg => 'RS256', key => $rsa, claims => { %good, iat => time + 120 })),
      'token_not_yet_valid', undef, 'iat in the future');
no401(call('/noiss', AigovJWT::mint(alg => 'RS256', key => $rsa, claims => { sub => 'x', exp => time - 10 })),
      'token_expired', undef, 'leeway 5s: expired 10s ago');
no401(call('/pem', AigovJWT::mint(alg => 'RS256', key => $rsa, claims => { %good, iss => 'https://evil.test' })),
      'invalid_issuer', qr/iss/i, 'wrong issuer');
no401(call('/pem', AigovJWT::mint(alg => 'RS256', key => $rsa, claims => { %good, aud => 'someone-else' })),
      'invalid_audience', qr/aud/i, 'wrong audience');
no401(call('/pem', AigovJWT::mint(alg => 'RS256', key => $rsa, claims => { %good, pad => 'x' x 17000 })),
      'token_too_large', undef, 'token over 16 KiB');

# the same token again is still accepted (served from the cache) and a
# token refused once stays refused
my $again = AigovJWT::mint(alg => 'RS256', key => $rsa, claims => \%good);
ok200(call('/pem', $again), 'first use') for 1 .. 3;
no401(call('/pem', $tampered), 'invalid_signature', undef, 'tampered token refused again');

# a 401 never reaches the model API
my $r = call('/pem', undef);
ok(!exists $r->{headers}{'x-mock-body-sha256'}, 'refused request not forwarded');

$t->done;
done_testing;
