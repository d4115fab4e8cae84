#!/usr/bin/perl
# What ships works as shipped: the config `make run` starts passes
# `nginx -t` with the module loaded and serves the README's curl; the
# example policy checks and passes its own test cases.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use AigovTest;

my $root = AigovTest::root();
my $aigov = "$root/build/aigov";

my $t = AigovTest->new;
my $d = $t->dir;

# render conf/aigov.conf.in as tools/run.sh does, on free ports
open my $in, '<', "$root/conf/aigov.conf.in" or die $!;
my $conf = do { local $/; <$in> };
close $in;
$conf =~ s/\@ROOT\@/$root/g;
$conf =~ s/\@RUN\@/$d/g;
$conf =~ s/\@PORT\@/$t->port/ge;
$conf =~ s/\@MOCK_PORT\@/$t->mock_port/ge;
$conf =~ s/\@METRICS_PORT\@/AigovTest::free_port()/ge;
$conf = "user root;\n$conf" if $> == 0;
$t->write_file('nginx.conf', $conf);
system("$aigov keygen --out $d/audit.key --name aigov.dev/aigov >/dev/null 2>&1") == 0 or die 'keygen';
system("$aigov audit hash-keygen --out $d/audit-hash.key --id dev >/dev/null 2>&1") == 0 or die 'hash-keygen';

my ($ok, $out) = $t->nginx_t;
ok($ok, 'nginx -t passes on conf/aigov.conf.in with the module loaded') or diag($out);

$t->start_mock;
$t->start_nginx;

my $token = `$aigov token --key $root/policies/keys/dev-rs256.pem --kid dev-rs256 --sub alice --groups analysts --ttl 600`;
chomp $token;
like($token, qr/^[\w-]+\.[\w-]+\.[\w-]+$/, 'aigov token mints a development token');

my $r = $t->request('POST', '/v1/chat/completions',
    headers => { Authorization => "Bearer $token" },
    body => { model => 'gpt-4o-mini',
              messages => [ { role => 'user', content => 'Hello, aigov. Mail me at alice@example.com' } ] });
is($r->{status}, 200, "the README's curl gets an answer");
like($r->{body}, qr/echo: Hello, aigov\. Mail me at \[REDACTED:EMAIL\]/, 'through the example policy, email masked');

$r = $t->request('POST', '/v1/chat/completions',
    body => { model => 'gpt-4o-mini', messages => [ { role => 'user', content => 'hi' } ] });
is($r->{status}, 401, 'without a token: 401');

$out = `$aigov policy check $root/policies/example.yaml 2>&1`;
is($? >> 8, 0, 'aigov policy check passes on the example policy') or diag($out);
$out = `$aigov policy test $root/policies/example.yaml --cases $root/policies/example.cases.yaml 2>&1`;
is($? >> 8, 0, 'the example policy passes its own cases') or diag($out);

$t->stop_nginx;
$out = `$aigov audit verify --key $d/audit.key.pub $d/audit.log 2>&1`;
is($? >> 8, 0, 'the audit log of this run verifies') or diag($out);

$t->done;
done_testing;
