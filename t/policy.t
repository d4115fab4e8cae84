#!/usr/bin/perl
# Policy: rules decide by groups, subjects, claims, models and endpoints;
# limits give 403 and inject max_tokens; quotas give exact counts across
# two workers, settle from the answer's usage (streams too); reload.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use POSIX qw(floor);
use Time::HiRes qw(time sleep);
use AigovTest;
use AigovJWT;

my $t = AigovTest->new;
my $d = $t->dir;
my ($key, $pub) = AigovJWT::keypair($d, 'k', 'rsa');

my $policy = <<'EOF';
version: 1
default: deny
rules:
  - name: suspended-tenant
    when:
      claims: {tenant: banned}
    decision: deny
    reason: "tenant banned is suspended"
  - name: interns-small-models
    when:
      groups: [interns]
      models: ["gpt-4o-mini"]
    limits:
      max_tokens: 256
    decision: allow
  - name: analysts
    when:
      groups: [analysts]
      models: ["gpt-4o*", "claude-*"]
      endpoints: ["/v1/chat/completions", "/v1/messages"]
    limits:
      max_tokens: 1000
      max_prompt_chars: 50
    decision: allow
  - name: svc-requests
    when:
      subjects: ["svc-*"]
    limits:
      requests_per_minute: 50
    decision: allow
  - name: tok-tokens
    when:
      subjects: ["tok-*"]
    limits:
      tokens_per_minute: 1000
    decision: allow
  - name: stream-tokens
    when:
      subjects: ["stream-*"]
    limits:
      tokens_per_minute: 500
    decision: allow
EOF
$t->write_file('policy.yaml', $policy);

$t->start_mock;
$t->write_conf($t->gateway_conf(location => "aigov_policy $d/policy.yaml; aigov_jwt_key $pub;"),
               workers => 2);
$t->start_nginx;

sub tok { AigovJWT::mint(alg => 'RS256', key => $key, claims => { @_ }) }

sub chat {
    my ($token, %o) = @_;
    my $body = { model => $o{model} // 'gpt-4o-mini',
                 messages => [ { role => 'user', content => $o{text} // 'hi' } ] };
    $body->{max_tokens} = $o{max_tokens} if defined $o{max_tokens};
    $body->{stream} = JSON::PP::true if $o{stream};
    $body->{stream_options} = { include_usage => JSON::PP::true } if $o{usage};
    my $path = $o{path} // '/v1/chat/completions';
    my %h = (Authorization => "Bearer $token", %{ $o{headers} // {} });
    return $o{stream} ? $t->stream($path, body => $body, headers => \%h)
                      : $t->request('POST', $path, body => $body, headers => \%h);
}

sub denied {
    my ($r, $status, $code, $re, $name) = @_;
    is($r->{status}, $status, "$name: $status");
    my $j = AigovTest::json($r) // {};
    is($j->{error}{code}, $code, "$name: code $code");
    like($j->{error}{message} // '', $re, "$name: message") if $re;
    ok(!exists $r->{headers}{'x-mock-body-sha256'}, "$name: not forwarded");
    return $j;
}

my $intern = tok(sub => 'ian', groups => ['interns']);
my $analyst = tok(sub => 'ann', groups => 'analysts readers');

# allowed, with max_tokens injected when absent
my $r = chat($intern);
is($r->{status}, 200, 'intern, small model: allowed');
is($r->{headers}{'x-mock-max-tokens'}, '256', 'max_tokens injected into the forwarded body');
$r = chat($intern, max_tokens => 100);
is($r->{headers}{'x-mock-max-tokens'}, '100', 'a smaller max_tokens is kept');
is(chat($analyst, model => 'gpt-4o')->{status}, 200, 'groups as a space-separated string');
is(chat($analyst, model => 'claude-3-opus', path => '/v1/messages', max_tokens => 10)->{status}, 200,
   'analyst on /v1/messages');

# refused by the policy, each with its reason
my $j = denied(chat($intern, model => 'gpt-4o'), 403, 'model_not_allowed', qr/gpt-4o.*interns-small-models/,
               'intern, large model');
is($j->{error}{type}, 'policy_violation', 'type policy_violation');
denied(chat($intern, max_tokens => 257), 403, 'max_tokens_exceeded', qr/256/, 'max_tokens above the limit');
denied(chat($analyst, model => 'gpt-4o', text => 'x' x 51), 403, 'prompt_too_long', qr/50/, 'prompt too long');
denied(chat(tok(sub => 'bob', groups => ['analysts'], tenant => 'banned'), model => 'gpt-4o'),
       403, 'denied', qr/suspended/, 'deny rule with its reason');
denied(chat(tok(sub => 'eve', groups => ['guests'])), 403, 'no_rule_matched', qr/./, 'no rule matches: default deny');
$r = $t->request('POST', '/v1/embeddings', body => { model => 'gpt-4o', input => 'x' },
                 headers => { Authorization => "Bearer $analyst" });
is($r->{status}, 403, 'analyst on an endpoint the rule does not list');

# requests_per_minute across two workers: exactly 50 of 80 concurrent
sub away_from_minute_edge {
    my $s = time % 60;
    sleep(61 - $s) if $s > 50;
}

sub burst {
    my ($n, $procs, $make) = @_;
    my @pids;
    my $dir = "$d/burst.$$." . int(time * 1000);
    mkdir $dir;
    for my $p (1 .. $procs) {
        my $pid = fork // die;
        if (!$pid) {
            open my $f, '>', "$dir/$p" or exit 1;
            for (1 .. $n / $procs) { my $r = $make->(); print $f "$r->{status} " . ($r->{headers}{'retry-after'} // '-') . "\n" }
            close $f;
            exit 0;
        }
        push @pids, $pid;
    }
    waitpid($_, 0) for @pids;
    my %count;
    my @retry;
    for my $p (1 .. $procs) {
        open my $f, '<', "$dir/$p" or next;
        while (<$f>) { my ($s, $ra) = split; $count{$s}++; push @retry, $ra if $s == 429 }
    }
    return (\%count, \@retry);
}

away_from_minute_edge();
my $svc = tok(sub => 'svc-batch');
my ($c, $retry) = burst(80, 8, sub { chat($svc) });
is($c->{200} // 0, 50, 'requests_per_minute 50: exactly 50 of 80 admitted');
is($c->{429} // 0, 30, 'the other 30 get 429');
ok(!grep({ $_ eq '-' || $_ < 1 || $_ > 60 } @$retry), 'every 429 carries Retry-After (1..60 s)');
$r = chat($svc);
$j = denied($r, 429, 'quota_exceeded', qr/minute/i, 'quota spent');
is($j->{error}{type}, 'rate_limit_exceeded', 'type rate_limit_exceeded');
is(chat(tok(sub => 'svc-other'))->{status}, 200, 'another subject has its own count');

# tokens_per_minute: reservations (prompt estimate + max_tokens) of
# concurrent slow requests cannot overrun the quota: 9 x 101 <= 1000
away_from_minute_edge();
my $tk = tok(sub => 'tok-1');
($c) = burst(20, 20, sub { chat($tk, max_tokens => 100, headers => { 'X-Mock-Delay-Ms' => 1500 }) });
is($c->{200} // 0, 9, 'tokens_per_minute 1000: 9 concurrent reservations of 101 admitted');
is($c->{429} // 0, 11, 'the rest refused while reserved');

# settled from the streamed answer's usage: 400 tokens used, not the 51 reserved
away_from_minute_edge();
my $st = tok(sub => 'stream-1');
my $s = chat($st, stream => 1, usage => 1, max_tokens => 50, headers => { 'X-Mock-Usage' => '100,300' });
is($s->{status}, 200, 'stream admitted');
ok((grep { /"usage"/ } @{ $s->{events} }), 'stream carried usage');
is(chat($st, max_tokens => 50, headers => { 'X-Mock-Usage' => '0,0' })->{status}, 200,
   '400 used + 51 reserved fits in 500');
is(chat($st, max_tokens => 150, headers => { 'X-Mock-Usage' => '0,0' })->{status}, 429,
   '400 used + 151 does not: the stream was counted from its usage');

# reload: a broken policy is refused by nginx -t and the running one stays
$t->write_file('policy.yaml', "version: 1\ndefault: allow\nrules:\n  - name: x\n    whenn: {}\n");
my ($ok, $out) = $t->nginx_t;
ok(!$ok, 'nginx -t refuses a broken policy');
like($out, qr/policy\.yaml:5:5: .*whenn/, 'the error names file:line:col and the key');
$t->reload;
sleep 1;
is(chat($intern)->{status}, 200, 'the running policy stays after a refused reload');

# reload under load with a changed policy: no request fails, the new
# policy applies afterwards
(my $changed = $policy) =~ s/max_tokens: 256/max_tokens: 128/;
$t->write_file('policy.yaml', $changed);
my $pid = fork // die;
if (!$pid) {
    my $bad = 0;
    my $end = time + 3;
    while (time < $end) {
        my $r = chat($intern, max_tokens => 100);
        $bad++ if $r->{status} != 200;
    }
    exit($bad > 250 ? 250 : $bad);
}
sleep 0.5;
($ok, $out) = $t->reload;
ok($ok, 'reload accepted') or diag($out);
waitpid($pid, 0);
is($? >> 8, 0, 'no request failed during reload');
sleep 0.5;
is(chat($intern)->{headers}{'x-mock-max-tokens'}, '128', 'the new policy applies after reload');

$t->done;
done_testing;
