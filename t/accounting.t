#!/usr/bin/perl
# Token accounting of requests that end without the answer's usage: the
# quota charge and the completion record agree, and say when they are an
# estimate. A client that hangs up before the first byte of the answer
# (chat whole and streamed, Anthropic messages whole and streamed) and an
# upstream that times out after it got the request are charged the
# prompt's estimate, and a whole answer also its max_tokens, since the
# model writes it (and the provider bills it) all the same; a request the upstream never got and an upstream
# error status are charged nothing ("usage":null); a compressed answer
# that passed unread is charged its reservation. The mock reports usage
# as numbers. The log verifies.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use IO::Socket::INET;
use Time::HiRes qw(sleep time);
use AigovTest;
use AigovJWT;

my $root = AigovTest::root();
my $aigov = "$root/build/aigov";

my $L = 3000;    # tokens_per_day of the d-* subjects

my $t = AigovTest->new;
my $d = $t->dir;
my ($key, $pub) = AigovJWT::keypair($d, 'k', 'p256');
system("$aigov keygen --out $d/audit.key --name test.example/aigov >/dev/null 2>&1") == 0 or die 'keygen';

$t->write_file('policy.yaml', <<"YAML");
version: 1
default: deny
rules:
  - name: day
    when:
      subjects: ["d-*"]
    limits:
      tokens_per_day: $L
    decision: allow
  - name: capped
    when:
      subjects: ["c-*"]
    limits:
      requests_per_minute: 100
      tokens_per_minute: 5000
      max_tokens: 4096
    decision: allow
  - name: free
    when:
      subjects: ["f-*"]
    decision: allow
YAML

# the usual gateway, one whose upstream is slower than its read timeout,
# one whose upstream does not listen, and the metrics
my ($slow, $dead, $mport, $closed) = map { AigovTest::free_port() } 1 .. 4;
my $gw = "aigov on; proxy_http_version 1.1; proxy_set_header Connection \"\";"
       . " proxy_set_header Accept-Encoding \"\"; proxy_buffering off;";
$t->start_mock;
$t->write_conf(<<"EOF", workers => 2);
    aigov_audit_log $d/audit.log;
    aigov_audit_key $d/audit.key;
    aigov_audit_origin test.example/aigov;
    aigov_audit_checkpoint 100 1s;
    aigov_policy $d/policy.yaml;
    aigov_jwt_key $pub;
    upstream mock { server 127.0.0.1:%%MOCK%%; keepalive 8; }
    server {
        listen 127.0.0.1:%%PORT%%;
        location / { $gw proxy_pass http://mock; }
    }
    server {
        listen 127.0.0.1:$slow;
        location / { $gw proxy_read_timeout 500ms; proxy_pass http://127.0.0.1:%%MOCK%%; }
    }
    server {
        listen 127.0.0.1:$dead;
        location / { $gw proxy_pass http://127.0.0.1:$closed; }
    }
    server {
        listen 127.0.0.1:$mport;
        location = /metrics { aigov_metrics; }
    }
EOF
$t->start_nginx;

my $n = 0;
sub fresh { 'd-' . ++$n . "-$$" }
sub tok {
    my ($sub) = @_;
    return AigovJWT::mint(alg => 'ES256', key => $key, claims => { sub => $sub, groups => ['g'] });
}

my $big = 'word ' x 800;    # 4000 characters: a prompt estimate of 1000
sub chat_body {
    my (%o) = @_;
    return { model => 'gpt-4o-mini', max_tokens => 500,
             messages => [ { role => 'user', content => $o{text} // $big } ],
             ($o{stream} ? (stream => JSON::PP::true) : ()), %{ $o{extra} // {} } };
}
sub messages_body {
    my (%o) = @_;
    return { model => 'claude-sonnet-4', max_tokens => 500,
             messages => [ { role => 'user', content => $big } ],
             ($o{stream} ? (stream => JSON::PP::true) : ()) };
}

sub records {
    open my $fh, '<', "$d/audit.log" or return ();
    return map { decode_json($_) } grep { /^\{"seq"/ } <$fh>;
}

# the admission and completion records of a subject's one request; the
# completion is written when the request ends, after its settlement
sub recs_of {
    my ($sub) = @_;
    for (1 .. 60) {
        my @r = records();
        my ($admit) = grep { $_->{phase} eq 'admit' && ($_->{sub} // '') eq $sub } @r;
        my ($done) = $admit ? grep { $_->{phase} eq 'done' && $_->{id} eq $admit->{id} } @r : ();
        return ($admit, $done) if $done;
        sleep 0.1;
    }
    return ();
}

# sends the request and hangs up after $wait seconds, before the answer
# (the mock waits 1.5 s before answering at all)
sub hangup {
    my ($sub, $path, $body, $wait) = @_;
    my $b = encode_json($body);
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port, Proto => 'tcp')
        or die "connect: $!";
    $s->print("POST $path HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " . tok($sub) . "\r\n"
            . "X-Mock-Delay-Ms: 1500\r\nX-Mock-Usage: 1000,500\r\nContent-Type: application/json\r\n"
            . "Content-Length: " . length($b) . "\r\n\r\n$b");
    sleep $wait;
    my $got = '';
    $s->blocking(0);
    sysread($s, $got, 4096);
    close $s;
    return $got;
}

sub post {
    my ($sub, $path, $body, %o) = @_;
    return $t->request('POST', $path, body => $body, port => $o{port},
                       headers => { Authorization => 'Bearer ' . tok($sub), %{ $o{headers} // {} } });
}

# admitted iff used + 1 (the probe's prompt) + max_tokens <= $L, or nothing
# used yet; a probe's answer reports no usage, so it costs nothing
sub probe {
    my ($sub, $max) = @_;
    my $r = post($sub, '/v1/chat/completions', chat_body(text => 'hi', extra => { max_tokens => $max }),
                 headers => { 'X-Mock-Usage' => '0,0' });
    return $r->{status};
}

# the day's tokens the subject was charged are exactly $used
sub charged {
    my ($sub, $used, $what) = @_;
    my $below = probe($sub, $L - $used - 1);
    my $at = $used ? probe($sub, $L - $used) : 429;
    ok($below == 200 && $at == 429, "$what: the quota was charged $used tokens")
        or diag("max_tokens " . ($L - $used - 1) . ": $below, " . ($L - $used) . ": $at");
}

sub settlements {
    my $r = $t->request('GET', '/metrics', port => $mport);
    my %m = $r->{body} =~ /^aigov_quota_settlements_total\{usage="(\w+)"\} (\d+)$/mg;
    return \%m;
}

# each worker sends its counts to the shared metrics every 50 ms, and the
# request may have ended in the other worker: wait up to 2 s for $want
sub delta {
    my ($before, $label, $want) = @_;
    my $got;
    for (1 .. 40) {
        $got = (settlements()->{$label} // 0) - ($before->{$label} // 0);
        last if !defined $want || $got == $want;
        sleep 0.05;
    }
    return $got;
}

# ---- the client hangs up before the first byte of the answer -----------------------

for my $c ([ 'chat', '/v1/chat/completions', chat_body() ],
           [ 'chat stream', '/v1/chat/completions', chat_body(stream => 1) ],
           [ 'messages', '/v1/messages', messages_body() ],
           [ 'messages stream', '/v1/messages', messages_body(stream => 1) ]) {
    my ($what, $path, $body) = @$c;
    my $sub = fresh();
    my $m0 = settlements();
    my $got = hangup($sub, $path, $body, 0.4);
    is($got, '', "$what, client gone after 0.4 s: it had no byte of the answer");
    my ($admit, $done) = recs_of($sub);
    ok($done, "$what, client gone: a completion record") or next;
    is($done->{status}, 499, "$what, client gone: status 499");
    # a stream stops with its connection; a whole answer is written and
    # billed all the same, so it costs its cap (max_tokens 500)
    my $completion = $what =~ /stream/ ? 0 : 500;
    is_deeply($done->{usage}, { prompt_tokens => 1000, completion_tokens => $completion },
              "$what, client gone: usage is the prompt's estimate, completion $completion")
        or diag(encode_json($done));
    ok($done->{usage_estimated}, "$what, client gone: usage_estimated");
    charged($sub, 1000 + $completion, "$what, client gone");
    is(delta($m0, 'estimated', 1), 1, "$what, client gone: one settlement counted estimated");
}

# ---- the upstream got the request, no answer came ----------------------------------

{
    my $sub = fresh();
    my $r = post($sub, '/v1/chat/completions', chat_body(), port => $slow,
                 headers => { 'X-Mock-Delay-Ms' => 1500, 'X-Mock-Usage' => '1000,500' });
    is($r->{status}, 504, 'upstream slower than proxy_read_timeout: 504');
    my ($admit, $done) = recs_of($sub);
    is($done && $done->{status}, 504, 'upstream timed out: the record says 504');
    is_deeply($done && $done->{usage}, { prompt_tokens => 1000, completion_tokens => 500 },
              'upstream timed out after it got the request: the prompt\'s estimate and max_tokens')
        or diag(encode_json($done));
    ok($done && $done->{usage_estimated}, 'upstream timed out: usage_estimated');
    charged($sub, 1500, 'upstream timed out');
}

# ---- a Responses answer written in the background -----------------------------------
# The model writes it after this request ends (its answer here is the
# response queued, no usage): it costs its cap, as a whole answer cut short.
# Streamed, its usage comes at the end as usual.

{
    my $sub = fresh();
    my $m0 = settlements();
    my $r = post($sub, '/v1/responses', { model => 'gpt-4o', input => 'x' x 400,
                                         max_output_tokens => 300, background => JSON::PP::true },
                 headers => { 'X-Mock-Usage' => '100,7' });
    is($r->{status}, 200, 'background response: admitted');
    my $a = eval { decode_json($r->{body}) } // {};
    is($a->{status}, 'queued', 'background response: the answer is its queued status');
    my ($admit, $done) = recs_of($sub);
    is_deeply($done && $done->{usage}, { prompt_tokens => 100, completion_tokens => 300 },
              'background response: recorded at the prompt\'s estimate and max_output_tokens')
        or diag(encode_json($done));
    ok($done && $done->{usage_estimated}, 'background response: usage_estimated');
    charged($sub, 400, 'background response');
    is(delta($m0, 'estimated', 1), 1, 'background response: one settlement counted estimated');

    $sub = fresh();
    $r = post($sub, '/v1/responses', { model => 'gpt-4o', input => 'hi', max_output_tokens => 300,
                                      stream => JSON::PP::true, background => JSON::PP::true },
              headers => { 'X-Mock-Usage' => '100,7' });
    like($r->{body}, qr/response\.completed/, 'background response, streamed: the whole stream');
    ($admit, $done) = recs_of($sub);
    is_deeply($done && $done->{usage}, { prompt_tokens => 100, completion_tokens => 7 },
              'background response, streamed: the usage it reported');
    charged($sub, 107, 'background response, streamed');

    $r = post(fresh(), '/v1/responses', { model => 'gpt-4o', input => 'hi', background => 'yes' });
    is($r->{status}, 400, 'background not a boolean: 400');
}

# ---- the upstream never got it, or refused it: nothing charged ---------------------

{
    my $sub = fresh();
    my $m0 = settlements();
    my $r = post($sub, '/v1/chat/completions', chat_body(), port => $dead);
    is($r->{status}, 502, 'upstream not listening: 502');
    my ($admit, $done) = recs_of($sub);
    ok($done && exists $done->{usage} && !defined $done->{usage},
       'upstream never got the request: usage null');
    ok($done && !exists $done->{usage_estimated}, 'upstream never got the request: not estimated');
    charged($sub, 0, 'upstream never got the request');
    is(delta($m0, 'none', 1), 1, 'upstream never got the request: the settlement counted as none');
    is(delta($m0, 'estimated'), 0, 'upstream never got the request: not counted as estimated');

    $sub = fresh();
    $r = post($sub, '/v1/chat/completions', chat_body(),
              headers => { 'X-Mock-Status' => 500, 'X-Mock-Usage' => '1000,500' });
    is($r->{status}, 500, 'upstream error status: passed on');
    ($admit, $done) = recs_of($sub);
    ok($done && exists $done->{usage} && !defined $done->{usage}, 'upstream error status: usage null');
    charged($sub, 0, 'upstream error status');
}

# ---- a compressed answer passes unread: charged and recorded at its reservation ----

for my $stream (0, 1) {
    my $what = $stream ? 'gzip stream' : 'gzip answer';
    my $sub = fresh();
    my $r = post($sub, '/v1/chat/completions',
                 chat_body(text => 'hi', stream => $stream, extra => { max_tokens => 200 }),
                 headers => { 'X-Mock-Gzip' => 1, 'X-Mock-Usage' => '100,300' });
    is($r->{status}, 200, "$what without answer filters: passes");
    is($r->{headers}{'content-encoding'}, 'gzip', "$what: as it came");
    my ($admit, $done) = recs_of($sub);
    is_deeply($done && $done->{usage}, { prompt_tokens => 1, completion_tokens => 200 },
              "$what: recorded as charged, the prompt's estimate and max_tokens")
        or diag(encode_json($done));
    ok($done && $done->{usage_estimated}, "$what: usage_estimated");
    charged($sub, 201, $what);
}

{
    my $sub = 'f-gzip';
    my $r = post($sub, '/v1/chat/completions', chat_body(text => 'hi', extra => { max_tokens => 50 }),
                 headers => { 'X-Mock-Gzip' => 1 });
    is($r->{status}, 200, 'gzip answer under a rule without quota: passes');
    my ($admit, $done) = recs_of($sub);
    is_deeply($done && $done->{usage}, { prompt_tokens => 1, completion_tokens => 50 },
              'gzip answer under a rule without quota: the same estimate recorded');
    ok($done && $done->{usage_estimated}, 'gzip answer under a rule without quota: usage_estimated');
}

# ---- the mock reports usage as numbers, as providers do ----------------------------

my %mock_usage = (
    '/v1/chat/completions' => [ { model => 'gpt-4o', messages => [ { role => 'user', content => 'hi' } ] },
                                qr/"prompt_tokens":100\b/, qr/"completion_tokens":7\b/ ],
    '/v1/completions' => [ { model => 'gpt-4o', prompt => 'hi' }, qr/"prompt_tokens":100\b/, qr/"completion_tokens":7\b/ ],
    '/v1/responses' => [ { model => 'gpt-4o', input => 'hi' }, qr/"input_tokens":100\b/, qr/"output_tokens":7\b/ ],
    '/v1/messages' => [ { model => 'claude-sonnet-4', max_tokens => 10, messages => [ { role => 'user', content => 'hi' } ] },
                        qr/"input_tokens":100\b/, qr/"output_tokens":7\b/ ],
    '/v1/messages/count_tokens' => [ { model => 'claude-sonnet-4', messages => [ { role => 'user', content => 'hi' } ] },
                                     qr/"input_tokens":100\b/ ],
    '/v1/embeddings' => [ { model => 'text-embedding-3-small', input => 'hi' }, qr/"prompt_tokens":100\b/ ],
);
for my $path (sort keys %mock_usage) {
    my ($body, @want) = @{ $mock_usage{$path} };
    my $r = $t->request('POST', $path, port => $t->mock_port, body => $body,
                        headers => { 'X-Mock-Usage' => '100,7' });
    is($r->{status}, 200, "mock $path answers");
    like($r->{body}, $_, "mock $path: usage $_ is a number") for @want;
    unlike($r->{body}, qr/_tokens":"/, "mock $path: no count as a string");
}
# the Anthropic stream's message_start and message_delta too
my $ms = $t->request('POST', '/v1/messages', port => $t->mock_port, headers => { 'X-Mock-Usage' => '100,7' },
                     body => { %{ $mock_usage{'/v1/messages'}[0] }, stream => JSON::PP::true });
like($ms->{body}, qr/"input_tokens":100\b/, 'mock messages stream: message_start\'s input_tokens a number');
like($ms->{body}, qr/"output_tokens":7\b/, 'mock messages stream: message_delta\'s output_tokens a number');

# through the gateway, the Anthropic answer's numbers are its usage
for my $stream (0, 1) {
    my $sub = 'f-msg-' . $stream;
    my $r = post($sub, '/v1/messages', { %{ $mock_usage{'/v1/messages'}[0] }, ($stream ? (stream => JSON::PP::true) : ()) },
                 headers => { 'X-Mock-Usage' => '100,7' });
    is($r->{status}, 200, 'messages' . ($stream ? ' stream' : '') . ' through the gateway');
    my ($admit, $done) = recs_of($sub);
    is_deeply($done && $done->{usage}, { prompt_tokens => 100, completion_tokens => 7 },
              'messages' . ($stream ? ' stream' : '') . ': the usage the answer reported');
    ok($done && !exists $done->{usage_estimated}, 'messages' . ($stream ? ' stream' : '') . ': not estimated');
}

# Anthropic's input_tokens leaves out the prompt tokens its cache wrote and
# read: the prompt is their sum, in the record and in the quota
for my $stream (0, 1) {
    my $sub = fresh();
    my $what = 'messages' . ($stream ? ' stream' : '') . ' with cache tokens';
    my $r = post($sub, '/v1/messages', { %{ $mock_usage{'/v1/messages'}[0] }, ($stream ? (stream => JSON::PP::true) : ()) },
                 headers => { 'X-Mock-Usage' => '3,7', 'X-Mock-Cache-Tokens' => '2000,5000' });
    is($r->{status}, 200, "$what: 200");
    like($r->{body}, qr/"cache_read_input_tokens":5000\b/, "$what: the answer reports the cache's tokens");
    my ($admit, $done) = recs_of($sub);
    is_deeply($done && $done->{usage}, { prompt_tokens => 7003, completion_tokens => 7 },
              "$what: the prompt is input, cache written and cache read") or diag(encode_json($done // {}));
    ok($done && !exists $done->{usage_estimated}, "$what: reported, not estimated");
    # 7010 tokens are over the day's 1500: nothing more fits (10 would)
    is(probe($sub, 1), 429, "$what: the quota was charged the cache's tokens too");
}

# ---- what the provider does not bill, or bills many times -------------------------

# Anthropic's count_tokens is free: its answer's input_tokens is the count
# asked for, not a use. Nothing is reserved or charged, and a subject
# whose day is spent may still count.
{
    my $sub = fresh();
    my $r = post($sub, '/v1/messages/count_tokens',
                 { model => 'claude-sonnet-4', messages => [ { role => 'user', content => $big } ] },
                 headers => { 'X-Mock-Usage' => '1000,0' });
    is($r->{status}, 200, 'count_tokens: 200');
    like($r->{body}, qr/"input_tokens":1000\b/, 'count_tokens: the answer counts 1000 tokens');
    my ($admit, $done) = recs_of($sub);
    ok($done && exists $done->{usage} && !defined $done->{usage}, 'count_tokens: the record says "usage":null')
        or diag(encode_json($done // {}));
    ok($done && !exists $done->{usage_estimated}, 'count_tokens: nothing estimated');
    charged($sub, 0, 'count_tokens');

    my $spent = fresh();
    is(post($spent, '/v1/chat/completions', chat_body(text => 'hi', extra => { max_tokens => 10 }),
            headers => { 'X-Mock-Usage' => "@{[ $L - 1 ]},1" })->{status}, 200, 'a subject spends its day');
    is(probe($spent, 1), 429, '... and gets no more tokens');
    is(post($spent, '/v1/messages/count_tokens',
            { model => 'claude-sonnet-4', messages => [ { role => 'user', content => $big } ] })->{status},
       200, '... but may still count tokens');

    # under a rule whose max_tokens a request without one is given, a
    # count in flight holds no tokens: a chat request of 4000 next to it
    # fits the minute's 5000
    my $c = "c-count-$$";
    my $adm = sub {
        my %m = $t->request('GET', '/metrics', port => $mport)->{body}
                =~ /^aigov_quota_admissions_total\{limit="(\w+)"\} (\d+)$/mg;
        return \%m;
    };
    my $a0 = $adm->();
    my $b = encode_json({ model => 'claude-sonnet-4', messages => [ { role => 'user', content => 'hi' } ] });
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port, Proto => 'tcp') or die "connect: $!";
    $s->print("POST /v1/messages/count_tokens HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " . tok($c) . "\r\n"
            . "X-Mock-Delay-Ms: 1500\r\nContent-Type: application/json\r\nConnection: close\r\n"
            . "Content-Length: " . length($b) . "\r\n\r\n$b");
    sleep 0.5;
    my $r2 = post($c, '/v1/chat/completions', chat_body(text => 'hi', extra => { max_tokens => 4000 }),
                  headers => { 'X-Mock-Usage' => '1,1' });
    is($r2->{status}, 200, 'count_tokens in flight under max_tokens 4096: a chat request of 4000 fits a minute of 5000')
        or diag($r2->{body});
    local $/;
    my $got = <$s> // '';
    like($got, qr{^HTTP/1\.1 200}, '... and the count is answered');
    close $s;    # nginx logs the request when its lingering close ends
    my ($a1, $rpm, $tpm);
    for (1 .. 40) {   # the workers send their counts every 50 ms
        $a1 = $adm->();
        $rpm = ($a1->{requests_per_minute} // 0) - ($a0->{requests_per_minute} // 0);
        $tpm = ($a1->{tokens_per_minute} // 0) - ($a0->{tokens_per_minute} // 0);
        last if $rpm == 2 && $tpm == 1;
        sleep 0.05;
    }
    is("$rpm $tpm", '2 1', 'the count is admitted under requests_per_minute only, the chat request under both');
}

# Legacy completions answer each prompt of a list n times: the answers'
# cap and what a whole answer cut short costs are max_tokens times n
# times the prompts.
{
    my $sub = fresh();
    my $r = post($sub, '/v1/completions', { model => 'gpt-4o', prompt => [ ('x') x 10 ], max_tokens => 2900 });
    is($r->{status}, 429, 'completions, ten prompts of max_tokens 2900 against a day of 3000: 429');
    like($r->{body}, qr/29000 tokens.*10 answers/, '... since they may write 29000 tokens') or diag($r->{body});
    is(probe($sub, $L - 1), 200, '... and nothing was charged');

    $sub = fresh();
    my $p = 'word ' x 80;    # 400 characters each
    my $got = hangup($sub, '/v1/completions', { model => 'gpt-4o', prompt => [ $p, $p, $p ], n => 2, max_tokens => 100 },
                     0.4);
    is($got, '', 'completions, three prompts, n 2, client gone: no byte of the answer');
    my ($admit, $done) = recs_of($sub);
    is($admit && $admit->{n}, 6, 'the admission record says 6 answers');
    is($done && $done->{usage} && $done->{usage}{completion_tokens}, 600,
       'client gone: the completion is the cap of all six answers, 600') or diag(encode_json($done // {}));
    charged($sub, $done->{usage}{prompt_tokens} + 600, 'completions, three prompts, client gone') if $done;
}

# Only the provider's usage counts: a caller's metadata holding a "usage"
# (the Responses API echoes metadata after its own usage) hides nothing,
# in a whole answer or in a stream's response.completed, whether or not
# a filter reads the answer (here none does).
{
    use MIME::Base64 qw(encode_base64);
    # in the provider's key order: usage, then user and metadata
    my $resp = '{"id":"resp_1","object":"response","status":"completed","output":[],'
             . '"usage":{"input_tokens":100,"output_tokens":2000,"output_tokens_details":{"reasoning_tokens":1990}},'
             . '"user":null,"metadata":{"usage":{"input_tokens":1,"output_tokens":1}}}';
    # the mock sends a string as it is (JSON::PP would sort the keys)
    my $stream = encode_json([ [ 'response.completed',
                                 '{"type":"response.completed","sequence_number":1,"response":' . $resp . '}' ] ]);
    for my $c ([ 'whole', encode_json([ $resp ]) =~ s/^\[|\]$//gr, 0 ], [ 'streamed', $stream, 1 ]) {
        my ($how, $raw, $st) = @$c;
        my $sub = fresh();
        my $r = post($sub, '/v1/responses', { model => 'gpt-4o', input => 'hi', ($st ? (stream => JSON::PP::true) : ()),
                                              metadata => { usage => '{"input_tokens":1,"output_tokens":1}' } },
                     headers => { 'X-Mock-Raw' => encode_base64($raw, '') });
        is($r->{status}, 200, "Responses $how, a \"usage\" in the caller's metadata: 200");
        like($r->{body}, qr/"metadata":\{"usage":\{"input_tokens":1/, "... the answer echoes it after the usage");
        my ($admit, $done) = recs_of($sub);
        is_deeply($done && $done->{usage}, { prompt_tokens => 100, completion_tokens => 2000 },
                  "... the usage the provider reported, reasoning included") or diag(encode_json($done // {}));
        ok($done && !exists $done->{usage_estimated}, '... not an estimate');
        charged($sub, 2100, "Responses $how with a caller's \"usage\" in metadata");
    }
}

# ---- the log ----------------------------------------------------------------------

$t->stop_nginx;    # graceful: the last checkpoint is written
my $out = `$aigov audit verify --key $d/audit.key.pub $d/audit.log 2>&1`;
is($? >> 8, 0, 'aigov audit verify: the log verifies') or diag($out);

$t->done;
done_testing;
