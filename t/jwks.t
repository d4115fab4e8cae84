#!/usr/bin/perl
# aigov_jwt_jwks (#21.5): the IdP's JWKS fetched through an nginx location,
# on a schedule and on an unknown kid (rate-limited), keeping the last good
# set when a fetch fails, one log line per change. The IdP here is a small
# HTTP server in this file whose keys rotate while requests go on.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use IO::Socket::INET;
use Time::HiRes qw(sleep);
use AigovTest;
use AigovJWT;

my $t = AigovTest->new;
my $d = $t->dir;

my ($k1, $k1_pub) = AigovJWT::keypair($d, 'k1', 'rsa');
my ($k2, $k2_pub) = AigovJWT::keypair($d, 'k2', 'rsa');
my %jwk = (k1 => AigovJWT::jwk($k1_pub, 'k1'), k2 => AigovJWT::jwk($k2_pub, 'k2'));
sub publish {
    my (@kids) = @_;
    $t->write_file('idp/jwks.json.tmp', encode_json({ keys => [ map { { %{ $jwk{$_} }, use => 'sig', alg => 'RS256' } } @kids ] }));
    rename "$d/idp/jwks.json.tmp", "$d/idp/jwks.json" or die $!;
}
sub idp_answer {     # status and body the IdP gives from now on
    my ($status, $body) = @_;
    $t->write_file('idp/override.tmp', "$status\n" . ($body // ''));
    rename "$d/idp/override.tmp", "$d/idp/override" or die $!;
}
publish('k1');

# the IdP: serves idp/jwks.json (or idp/override), counts and keeps requests
my $idp_port = AigovTest::free_port();
my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $idp_port, Listen => 16, ReuseAddr => 1)
    or die "idp listen: $!";
my $idp_pid = fork // die;
if (!$idp_pid) {
    while (my $c = $srv->accept) {
        my $req = '';
        while (my $line = <$c>) { $req .= $line; last if $line eq "\r\n" }
        open my $log, '>>', "$d/idp/requests" or die;
        print $log $req;
        close $log;
        my ($status, $body) = (200, '');
        if (open my $o, '<', "$d/idp/override") {
            local $/; my $all = <$o>; ($status, $body) = split /\n/, $all, 2;
        } else {
            open my $f, '<', "$d/idp/jwks.json" or die; local $/; $body = <$f>;
        }
        print $c "HTTP/1.1 $status X\r\nContent-Type: application/json\r\nContent-Length: "
            . length($body) . "\r\nConnection: close\r\n\r\n$body";
        close $c;
    }
    exit 0;
}
AigovTest::guard($idp_pid);
close $srv;
END { my $rc = $?; AigovTest::stop_pid($idp_pid, "KILL") if $idp_pid; $? = $rc }
sub idp_hits {
    open my $f, '<', "$d/idp/requests" or return 0;
    local $/; my $all = <$f>;
    return scalar(() = $all =~ /^GET /mg);
}

$t->write_file('allow.yaml', "version: 1\ndefault: allow\nrules: []\n");
$t->start_mock;
$t->write_conf(<<"EOF2");
    upstream mock { server 127.0.0.1:%%MOCK%%; }
    aigov_jwt_jwks /_jwks 2s;
    server {
        listen 127.0.0.1:%%PORT%%;
        large_client_header_buffers 4 32k;
        aigov_jwt_issuer https://idp.test;
        location = /_jwks {
            internal;
            proxy_pass http://127.0.0.1:$idp_port/keys;
            subrequest_output_buffer_size 64k;
        }
        location = /_other {
            internal;
            return 404;
        }
        location / {
            aigov on;
            aigov_policy %%DIR%%/allow.yaml;
            proxy_pass http://mock;
        }
        location /other/ {
            aigov on;
            aigov_policy %%DIR%%/allow.yaml;
            aigov_jwt_jwks /_other 2s;
            proxy_pass http://mock/;
        }
    }
EOF2
$t->start_nginx;

my $body = encode_json({ model => 'gpt-4o-mini', messages => [ { role => 'user', content => 'hi' } ] });
sub token {
    my ($key, $kid) = @_;
    return AigovJWT::mint(alg => 'RS256', key => $key, kid => $kid,
                          claims => { iss => 'https://idp.test', sub => 'alice' });
}
my %tok = (k1 => token($k1, 'k1'), k2 => token($k2, 'k2'));
sub status {
    my ($token) = @_;
    return $t->request('POST', '/v1/chat/completions', body => $body,
                       headers => { Authorization => "Bearer $token" })->{status};
}
# Keys arrive in the background: ask until the answer is the one wanted
# (bounded), then the state is judged without any timing.
sub until_status {
    my ($token, $want) = @_;
    for (1 .. 100) {
        return 1 if status($token) == $want;
        sleep 0.1;
    }
    return 0;
}

ok(until_status($tok{k1}, 200), 'the first fetch brings k1');
like($t->error_log, qr{aigov: JWKS from "/_jwks": added 'k1'}, 'a log line names the change');
open my $rf, '<', "$d/idp/requests" or die;
my $first = do { local $/; <$rf> };
unlike($first, qr/^Authorization:/mi, 'the caller\'s token does not go to the IdP');
unlike($first, qr/^Content-Length: [1-9]/mi, 'nor its body');

# rotation, published before use: k2 is added, tokens with k2 come
publish('k1', 'k2');
ok(until_status($tok{k2}, 200), 'k2 is fetched (unknown kid, or the schedule)');
my @st = map { (status($tok{k1}), status($tok{k2})) } 1 .. 20;
is(scalar(grep { $_ != 200 } @st), 0, 'from then on every k1 and k2 token is served');
like($t->error_log, qr{JWKS from "/_jwks": added 'k2'}, 'the addition is logged');

# k1 is withdrawn: its tokens stop at the next fetch, k2's go on
publish('k2');
ok(until_status($tok{k1}, 401), 'k1 is gone after a fetch');
is(status($tok{k2}), 200, 'k2 still served');
like($t->error_log, qr{JWKS from "/_jwks": removed 'k1'}, 'the removal is logged');

# the IdP fails: the last good keys stay
idp_answer(500, 'oops');
my $hits = idp_hits();
for (1 .. 100) { last if idp_hits() > $hits; status($tok{k2}); sleep 0.1 }
ok(idp_hits() > $hits, 'a fetch was tried while the IdP fails');
is(status($tok{k2}), 200, 'k2 is kept when the IdP answers 500');
like($t->error_log, qr{JWKS fetch from "/_jwks" failed \(status 500\); keeping the last good keys}, '... and logged');
idp_answer(200, '<html>maintenance</html>');
$hits = idp_hits();
for (1 .. 100) { last if idp_hits() > $hits; status($tok{k2}); sleep 0.1 }
is(status($tok{k2}), 200, 'k2 is kept when the IdP answers something that is not a JWKS');
like($t->error_log, qr{JWKS from "/_jwks" refused: .*keeping the last good keys}, '... and logged');
idp_answer(200, '{"keys":[{"kty":"RSA","use":"enc","kid":"x","n":"AQAB","e":"AQAB"}]}');
$hits = idp_hits();
for (1 .. 100) { last if idp_hits() > $hits; status($tok{k2}); sleep 0.1 }
is(status($tok{k2}), 200, 'k2 is kept when the fetched JWKS has no usable key');

# a location with its own aigov_jwt_jwks does not take the inherited one
is($t->request('POST', '/other/v1/chat/completions', body => $body,
               headers => { Authorization => "Bearer $tok{k2}" })->{status}, 401,
   'a location naming another JWKS location does not use the inherited keys');
like($t->error_log, qr{JWKS fetch from "/_other" failed \(status 404\)}, '... it fetched its own');

# a flood of made-up kids does not become a flood of fetches
unlink "$d/idp/override";
$hits = idp_hits();
my @bogus = map { token($k2, "made-up-$_") } 1 .. 40;
my $refused = grep { $_ == 401 } map { status($_) } @bogus;
is($refused, 40, 'made-up kids are refused');
cmp_ok(idp_hits() - $hits, '<=', 2, 'and cost the IdP at most a fetch or two, not 40');

$t->done;
done_testing;
