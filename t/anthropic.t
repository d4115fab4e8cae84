#!/usr/bin/perl
# Anthropic's endpoints on their own terms: every refusal the gateway makes
# on /v1/messages (and /v1/messages/count_tokens), its own and nginx's
# error pages alike, is Anthropic's error JSON with Anthropic's types and
# the usual statuses; the token is taken from x-api-key as well as from
# Authorization: Bearer (Authorization wins when both come). Then the
# official Anthropic SDK for Node.js raises its own error classes.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use IO::Socket::INET;
use AigovTest;
use AigovJWT;

my $root = AigovTest::root();
my $aigov = "$root/build/aigov";

my $t = AigovTest->new;
my $d = $t->dir;
my ($key, $pub) = AigovJWT::keypair($d, 'k', 'p256');
system("$aigov keygen --out $d/audit.key --name test.example/aigov >/dev/null 2>&1") == 0 or die 'keygen';
$t->write_file('policy.yaml', <<'YAML');
version: 1
default: deny
rules:
  - name: limited
    when:
      groups: [limited]
    limits:
      requests_per_minute: 1
    decision: allow
  - name: claude-users
    when:
      groups: [claude]
      models: ["claude-test"]
    filters:
      - plugin: blocklist
        stages: [request]
        action: block
        config: {terms: ["project neptune"]}
    decision: allow
YAML

my $dead = AigovTest::free_port();
my $closed = AigovTest::free_port();
sub conf {
    my (%o) = @_;
    my $audit = $o{audit} ? "aigov_audit_log $o{audit}; aigov_audit_key $d/audit.key;"
                          . " aigov_audit_origin test.example/aigov;" : '';
    return $t->gateway_conf(
        max_body => '8k',
        http => "aigov_plugin blocklist $root/build/plugins/blocklist.so; $audit
    server {
        listen 127.0.0.1:$dead;
        location / {
            aigov on; aigov_policy $d/policy.yaml; aigov_jwt_key $pub;
            proxy_pass http://127.0.0.1:$closed;
        }
    }",
        location => "aigov_policy $d/policy.yaml; aigov_jwt_key $pub;");
}

$t->start_mock;
$t->write_conf(conf(audit => "$d/audit.log"));
$t->start_nginx;

my $tok = AigovJWT::mint(alg => 'ES256', key => $key, claims => { sub => 'claude-user', groups => ['claude'] });
my $limited = AigovJWT::mint(alg => 'ES256', key => $key, claims => { sub => 'limited-user', groups => ['limited'] });
my $other = AigovJWT::mint(alg => 'ES256', key => $key, claims => { sub => 'nobody', groups => ['none'] });

sub ask { my ($text, $model) = @_; return { model => $model // 'claude-test', max_tokens => 20,
                                            messages => [ { role => 'user', content => $text } ] } }

# Anthropic's error JSON: {"type":"error","error":{"type","message",
# "details":{"error_code"}},"request_id"}, nothing else at the top level.
sub anthropic_error {
    my ($res, $status, $type, $code, $name) = @_;
    my $j = AigovTest::json($res);
    is($res->{status}, $status, "$name: status $status");
    like($res->{headers}{'content-type'} // '', qr{^application/json}, "$name: JSON");
    ok($j && ref $j eq 'HASH', "$name: a JSON object") or return diag($res->{body});
    is_deeply([sort keys %$j], [qw(error request_id type)], "$name: Anthropic's top-level keys")
        or diag($res->{body});
    is($j->{type}, 'error', "$name: type error");
    is($j->{error}{type}, $type, "$name: error.type $type");
    ok(defined $j->{error}{message} && !ref $j->{error}{message} && length $j->{error}{message},
       "$name: error.message is a sentence");
    is($j->{error}{details}{error_code}, $code, "$name: the gateway's code in details.error_code") if defined $code;
    is($j->{request_id}, $res->{headers}{'x-aigov-request-id'}, "$name: request_id is X-AIGov-Request-Id");
    return $j;
}

my %bearer = (Authorization => "Bearer $tok");
my %xkey = ('x-api-key' => $tok);

# the refusals, one of each kind
my $r = $t->request('POST', '/v1/messages', body => ask('hi'));
my $j = anthropic_error($r, 401, 'authentication_error', 'token_missing', 'no token');
like($j->{error}{message} // '', qr/x-api-key/, 'no token: the message names x-api-key too');
ok($r->{headers}{'www-authenticate'}, 'no token: WWW-Authenticate kept');

$r = $t->request('POST', '/v1/messages', body => ask('hi'), headers => { 'x-api-key' => 'not-a-jwt' });
anthropic_error($r, 401, 'authentication_error', undef, 'a bad token in x-api-key');

$r = $t->request('POST', '/v1/messages', body => '{"model":', headers => \%xkey);
anthropic_error($r, 400, 'invalid_request_error', 'invalid_json', 'a body that is not JSON');

$r = $t->request('POST', '/v1/messages', body => { model => 'claude-test', messages => 'no' }, headers => \%xkey);
anthropic_error($r, 400, 'invalid_request_error', 'invalid_request', 'a body of the wrong shape');

$r = $t->request('POST', '/v1/messages', body => ask('hi', 'claude-forbidden'), headers => \%xkey);
$j = anthropic_error($r, 403, 'permission_error', 'model_not_allowed', 'a model the policy refuses');
like($j->{error}{message} // '', qr/model claude-forbidden is not allowed/, 'the policy\'s message');

$r = $t->request('POST', '/v1/messages', body => ask('hi'), headers => { Authorization => "Bearer $other" });
anthropic_error($r, 403, 'permission_error', 'no_rule_matched', 'no rule for the caller');

$r = $t->request('POST', '/v1/messages', body => ask('all about Project Neptune'), headers => \%xkey);
$j = anthropic_error($r, 403, 'permission_error', 'blocklist', 'a prompt a filter blocks');

$r = $t->request('POST', '/v1/messages', body => ask('x' x 10000), headers => \%xkey);
anthropic_error($r, 413, 'request_too_large', 'request_too_large', 'a body over client_max_body_size (nginx\'s own page)');

my ($limited_res) = grep { $_->{status} == 429 }
    map { $t->request('POST', '/v1/messages', body => ask('quota'), headers => { 'x-api-key' => $limited }) } 1 .. 3;
ok($limited_res, 'a spent quota is refused');
if ($limited_res) {
    anthropic_error($limited_res, 429, 'rate_limit_error', 'quota_exceeded', 'a spent quota');
    like($limited_res->{headers}{'retry-after'} // '', qr/^[1-9]\d*$/, 'a spent quota: Retry-After kept');
}

$r = $t->request('POST', '/v1/messages', body => ask('hi'), headers => \%xkey, port => $dead);
anthropic_error($r, 502, 'api_error', 'upstream_unavailable', 'the model API cannot be reached (nginx\'s own page)');

$r = $t->request('POST', '/v1/messages/count_tokens', body => ask('hi'));
is((AigovTest::json($r) // {})->{type}, 'error', 'count_tokens: a refusal in Anthropic\'s shape');

# the OpenAI endpoints keep OpenAI's shape
$r = $t->request('POST', '/v1/chat/completions',
                 body => { model => 'gpt-4o', messages => [ { role => 'user', content => 'hi' } ] }, headers => \%bearer);
$j = AigovTest::json($r) // {};
is($r->{status}, 403, 'chat: refused');
is($j->{error}{type}, 'policy_violation', 'chat: OpenAI\'s shape as before');
ok(!exists $j->{type}, 'chat: no Anthropic keys');

# x-api-key and Authorization
$r = $t->request('POST', '/v1/messages', body => ask('over x-api-key'), headers => \%xkey);
is($r->{status}, 200, 'x-api-key alone: served');
like($r->{body}, qr/over x-api-key/, 'x-api-key alone: the answer came back');
$r = $t->request('POST', '/v1/messages', body => ask('over bearer'), headers => \%bearer);
is($r->{status}, 200, 'Authorization: Bearer alone: served');
$r = $t->request('POST', '/v1/messages', body => ask('both'),
                 headers => { Authorization => "Bearer $tok", 'x-api-key' => 'not-a-jwt' });
is($r->{status}, 200, 'both headers: Authorization wins (a bad x-api-key is not read)');
$r = $t->request('POST', '/v1/messages', body => ask('both'),
                 headers => { Authorization => 'Bearer not-a-jwt', 'x-api-key' => $tok });
is($r->{status}, 401, 'both headers: Authorization wins (a good x-api-key does not rescue a bad Authorization)');
$r = $t->request('POST', '/v1/messages', body => ask('both'),
                 headers => { Authorization => "Bearer $other", 'x-api-key' => $tok });
is($r->{status}, 403, 'both headers, both valid: the policy judged the Authorization caller');

# two x-api-key headers: which one a later hop reads is anyone's guess
sub raw {
    my ($port, $req) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp', Timeout => 10)
        or die "connect: $!";
    $s->print($req);
    local $/;
    my $res = <$s> // '';
    close $s;
    return AigovTest::parse_response($res);
}
my $body = encode_json(ask('twice'));
$r = raw($t->port, "POST /v1/messages HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
    . "x-api-key: $tok\r\nX-Api-Key: $tok\r\nContent-Type: application/json\r\n"
    . "Content-Length: " . length($body) . "\r\n\r\n$body");
anthropic_error($r, 401, 'authentication_error', 'ambiguous_credentials', 'two x-api-key headers');

$r = $t->request('POST', '/v1/chat/completions',
                 body => { model => 'gpt-4o-mini', messages => [ { role => 'user', content => 'hi' } ] },
                 headers => { 'x-api-key' => $other });
is($r->{status}, 403, 'x-api-key is read on the other endpoints too (this caller has no rule there)');

# the refusals are on record with the caller that x-api-key named
$t->stop_nginx;
my @recs = map { decode_json($_) } grep { /^\{"seq"/ } do { open my $f, '<', "$d/audit.log" or die; <$f> };
ok((grep { ($_->{sub} // '') eq 'claude-user' && ($_->{decision} // '') eq 'deny' && ($_->{status} // 0) == 403 } @recs),
   'a refusal of an x-api-key caller is recorded with its subject');
my $out = `$aigov audit verify --key $d/audit.key.pub $d/audit.log 2>&1`;
is($? >> 8, 0, 'the log verifies') or diag($out);

# fail closed: 503 in Anthropic's shape
$t->write_conf(conf(audit => '/dev/full'));
$t->start_nginx;
$r = $t->request('POST', '/v1/messages', body => ask('hi'), headers => \%xkey);
anthropic_error($r, 503, 'api_error', 'audit_unavailable', 'the audit log cannot record the request');
$t->stop_nginx;

# the official SDK
SKIP: {
    skip 'run `make test` to install the SDKs into t/node', 1
        unless -d "$root/t/node/node_modules/\@anthropic-ai/sdk";
    $t->write_conf(conf());
    $t->start_nginx;
    $ENV{AIGOV_URL} = 'http://127.0.0.1:' . $t->port;
    $ENV{AIGOV_TOKEN} = $tok;
    $ENV{AIGOV_LIMITED} = AigovJWT::mint(alg => 'ES256', key => $key,
                                         claims => { sub => 'sdk-limited', groups => ['limited'] });
    delete @ENV{qw(ANTHROPIC_API_KEY ANTHROPIC_AUTH_TOKEN ANTHROPIC_BASE_URL ANTHROPIC_CUSTOM_HEADERS)};
    my @lines = `node $root/t/node/anthropic_refusals.mjs 2>&1`;
    my $rc = $?;
    my $seen = 0;
    for (@lines) {
        chomp;
        if (/^(not )?ok \d+ - (.*)$/) { ok(!$1, "sdk: $2"); $seen++ }
        elsif (/^#/) { diag($_) }
        elsif (!/^1\.\.\d+$/) { diag("node: $_") }
    }
    ok($seen >= 15, "the SDK script ran its checks ($seen)");
    is($rc, 0, 'node exited 0');
}

$t->done;
done_testing;
