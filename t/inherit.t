#!/usr/bin/perl
# Identity settings inherited and overridden at http, server and location
# level. An override differing only in its bytes (issuers of two tenants
# with the same length) must take effect: the merge once compared lengths.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use AigovTest;
use AigovJWT;

my $t = AigovTest->new;
my $d = $t->dir;
my $port2 = AigovTest::free_port();

my ($rsa, $rsa_pub) = AigovJWT::keypair($d, 'rsa', 'rsa');
my ($rsa2, $rsa2_pub) = AigovJWT::keypair($d, 'rsa2', 'rsa');
$t->write_file('allow.yaml', "version: 1\ndefault: allow\nrules: []\n");
$t->write_file('deny.yaml', "version: 1\ndefault: deny\nrules: []\n");

# every issuer and audience below has the same length as its siblings
my ($A, $B, $C) = map { "https://idp-$_.example.com" } qw(a b c);

$t->start_mock;
$t->write_conf(<<"EOF");
    upstream mock { server 127.0.0.1:%%MOCK%%; }
    aigov_policy %%DIR%%/allow.yaml;
    aigov_jwt_key %%DIR%%/rsa.pub.pem;
    aigov_jwt_issuer $A;
    aigov_jwt_audience api-aaaa;
    aigov_jwt_leeway 60s;
    server {
        listen 127.0.0.1:%%PORT%%;
        aigov on;
        location /inherit/ { proxy_pass http://mock/; }
        location /iss/     { aigov_jwt_issuer $B; proxy_pass http://mock/; }
        location /aud/     { aigov_jwt_audience api-bbbb; proxy_pass http://mock/; }
        location /leeway/  { aigov_jwt_leeway 0s; proxy_pass http://mock/; }
        location /key/     { aigov_jwt_key %%DIR%%/rsa2.pub.pem; proxy_pass http://mock/; }
        location /policy/  { aigov_policy %%DIR%%/deny.yaml; proxy_pass http://mock/; }
        location /off/     { aigov off; proxy_pass http://mock/; }
    }
    server {
        listen 127.0.0.1:$port2;
        aigov on;
        aigov_jwt_issuer $C;
        aigov_jwt_audience api-cccc;
        aigov_jwt_leeway 0s;
        location /inherit/ { proxy_pass http://mock/; }
        location /iss/     { aigov_jwt_issuer $A; proxy_pass http://mock/; }
        location /aud/     { aigov_jwt_audience api-aaaa; proxy_pass http://mock/; }
        location /leeway/  { aigov_jwt_leeway 60s; proxy_pass http://mock/; }
        location /key/     { aigov_jwt_key %%DIR%%/rsa2.pub.pem; proxy_pass http://mock/; }
    }
EOF
$t->start_nginx;

my $body = encode_json({ model => 'gpt-4o-mini', messages => [ { role => 'user', content => 'hi' } ] });

sub call {
    my ($port, $path, %claims) = @_;
    my $key = delete $claims{key} // $rsa;
    my $tok = AigovJWT::mint(alg => 'RS256', key => $key,
                             claims => { sub => 'alice', %claims });
    my $r = $t->request('POST', "$path/v1/chat/completions", port => $port, body => $body,
                        headers => { Authorization => "Bearer $tok" });
    my $j = AigovTest::json($r) // {};
    return $r->{status} == 200 ? 'ok' : "$r->{status} " . ($j->{error}{code} // '');
}

my $p1 = $t->port;
my %a = (iss => $A, aud => 'api-aaaa');
my %b = (iss => $B, aud => 'api-aaaa');
my %c = (iss => $C, aud => 'api-cccc');
my $late = time - 30;

# server 1 inherits everything from http{}
is(call($p1, '/inherit', %a), 'ok', 'http level issuer and audience inherited');
is(call($p1, '/inherit', %b), '401 invalid_issuer', 'inherited issuer refuses another of the same length');
is(call($p1, '/inherit', %a, exp => $late), 'ok', 'http level leeway inherited (expired 30s ago)');
is(call($p1, '/inherit', %a, key => $rsa2), '401 invalid_signature', 'http level key inherited');

# location overrides of the same length take effect
is(call($p1, '/iss', %b), 'ok', 'location issuer of the same length: its tokens accepted');
is(call($p1, '/iss', %a), '401 invalid_issuer', 'location issuer of the same length: the inherited one refused');
is(call($p1, '/aud', %a, aud => 'api-bbbb'), 'ok', 'location audience of the same length: accepted');
is(call($p1, '/aud', %a), '401 invalid_audience', 'location audience of the same length: the inherited one refused');
is(call($p1, '/leeway', %a, exp => $late), '401 token_expired', 'location leeway 0s overrides 60s');
is(call($p1, '/leeway', %a), 'ok', 'location leeway: a valid token still passes');
is(call($p1, '/key', %a, key => $rsa2), 'ok', 'location key replaces the inherited one');
is(call($p1, '/key', %a), '401 invalid_signature', 'location key: the inherited key no longer verifies');
is(call($p1, '/key', %b, key => $rsa2), '401 invalid_issuer', 'location key keeps the inherited issuer');
like(call($p1, '/policy', %a), qr/^403 /, 'location policy replaces the inherited one');
is(call($p1, '/off', iss => 'anyone'), 'ok', 'aigov off in a location: not governed');

# server 2 overrides at server level; its locations override again
is(call($port2, '/inherit', %c), 'ok', 'server level issuer and audience');
is(call($port2, '/inherit', %a), '401 invalid_issuer', 'server level issuer replaces the http one');
is(call($port2, '/inherit', %c, exp => $late), '401 token_expired', 'server level leeway 0s');
is(call($port2, '/iss', %c, iss => $A), 'ok', 'location issuer back to the http value');
is(call($port2, '/iss', %c), '401 invalid_issuer', 'location issuer: the server one refused');
is(call($port2, '/aud', %c, aud => 'api-aaaa'), 'ok', 'location audience over the server one');
is(call($port2, '/aud', %c), '401 invalid_audience', 'location audience: the server one refused');
is(call($port2, '/leeway', %c, exp => $late), 'ok', 'location leeway over the server one');
is(call($port2, '/key', %c, key => $rsa2), 'ok', 'location key with the server issuer');
is(call($port2, '/key', %a, key => $rsa2), '401 invalid_issuer', 'location key: the http issuer still refused');

$t->done;
done_testing;
