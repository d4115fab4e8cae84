#!/usr/bin/perl
# `aigov policy replay`: a real audit log written by the gateway is replayed
# against the policy that wrote it (nothing changes) and against a new one
# (exactly the requests the policy decided, and whose decision changes, are
# listed; quota and filter refusals, bad tokens and bad bodies are not).
# Then hand-written logs: several files, unreadable lines, --json, exit codes.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use AigovTest;
use AigovJWT;

my $root = AigovTest::root();
my $aigov = "$root/build/aigov";

my $t = AigovTest->new;
my $d = $t->dir;
my ($jkey, $jpub) = AigovJWT::keypair($d, 'jwt', 'p256');
system("$aigov keygen --out $d/audit.key --name test.example/aigov >/dev/null 2>&1") == 0 or die 'keygen';

my $old = $t->write_file('old.yaml', <<'YAML');
version: 1
default: deny
rules:
  - name: suspended
    when:
      claims: {tenant: banned}
    decision: deny
    reason: "tenant banned is suspended"
  - name: analysts
    when:
      groups: [analysts]
      models: ["gpt-4o*"]
    limits:
      requests_per_minute: 2
    decision: allow
  - name: interns
    when:
      groups: [interns]
      models: ["gpt-4o-mini"]
    filters:
      - plugin: blocklist
        stages: [request]
        action: block
        config: {terms: ["project neptune"]}
    decision: allow
YAML

# analysts lose gpt-4o, interns gain it, the suspended rule is gone
my $new = $t->write_file('new.yaml', <<'YAML');
version: 1
default: deny
rules:
  - name: analysts
    when:
      groups: [analysts]
      models: ["gpt-4o-mini"]
    decision: allow
  - name: interns
    when:
      groups: [interns]
    decision: allow
YAML

$t->start_mock;
$t->write_conf($t->gateway_conf(
    http => "aigov_plugin blocklist $root/build/plugins/blocklist.so;"
          . " aigov_audit_log $d/audit.log; aigov_audit_key $d/audit.key;"
          . " aigov_audit_origin test.example/aigov;",
    location => "aigov_policy $old; aigov_jwt_key $jpub;"));
$t->start_nginx;

sub tok { AigovJWT::mint(alg => 'ES256', key => $jkey, claims => { @_ }) }

sub chat {
    my ($token, $model, $text, $raw) = @_;
    my $body = $raw // { model => $model,
                         messages => [ { role => 'user', content => $text // 'hello' } ] };
    return $t->request('POST', '/v1/chat/completions', body => $body,
                       headers => { Authorization => "Bearer $token" })->{status};
}

my $analyst = tok(sub => 'ann', groups => ['analysts']);
my $intern = tok(sub => 'ian', groups => ['interns']);
my $banned = tok(sub => 'bob', tenant => 'banned');

# seq order = the order below (each request's records are written before
# the next request starts); "done" records follow admissions.
my @sent = (
    [ 'analyst on gpt-4o',            chat($analyst, 'gpt-4o'),      200 ],  # changes
    [ 'analyst on gpt-4o-mini',       chat($analyst, 'gpt-4o-mini'), 200 ],
    [ 'analyst over quota',           chat($analyst, 'gpt-4o'),      429 ],  # not compared
    [ 'intern on gpt-4o',             chat($intern, 'gpt-4o'),       403 ],  # changes
    [ 'intern blocked by a filter',   chat($intern, 'gpt-4o-mini', 'about project neptune'), 403 ],
    [ 'intern on gpt-4o-mini',        chat($intern, 'gpt-4o-mini'),  200 ],
    [ 'banned tenant',                chat($banned, 'gpt-4o'),       403 ],  # changes (rule)
    [ 'bad token',                    chat('not.a.token', 'gpt-4o'), 401 ],
    [ 'bad JSON',                     chat($analyst, undef, undef, '{"model":'), 400 ],
);
is($_->[1], $_->[2], "gateway: $_->[0] -> $_->[2]") for @sent;
$t->stop_nginx;

my @records = grep { exists $_->{seq} } map { decode_json($_) } do {
    open my $f, '<', "$d/audit.log" or die $!; <$f>
};
is(scalar(grep { ($_->{phase} // '') !~ /^(done|policy)$/ } @records), 9, 'one admission or refusal per request');

sub run {
    my (@args) = @_;
    my $cmd = join ' ', map { "'$_'" } $aigov, 'policy', 'replay', @args;
    my $out = `$cmd 2>$d/stderr`;
    my $rc = $? >> 8;
    open my $f, '<', "$d/stderr" or die;
    local $/;
    my $err = <$f>;
    return ($rc, $out, $err);
}

# the policy that wrote the log decides every request the same way again
my ($rc, $out, $err) = run($old, "$d/audit.log");
is($rc, 0, 'replay against its own policy: exit 0');
like($out, qr/^0 of 5 recorded requests would be decided differently$/m, 'own policy: 0 of 5');
like($out, qr/4 refused or served without a policy decision/, 'quota, filter, 401 and 400 not compared');
is($err, '', 'no unreadable lines in a real log');

# the new policy
($rc, $out, $err) = run($new, "$d/audit.log");
is($rc, 1, 'some decisions change: exit 1');
like($out, qr/^3 of 5 recorded requests would be decided differently$/m, 'new policy: 3 of 5');
my @changed = $out =~ /^seq (\d+) /mg;
is(scalar @changed, 3, 'three records listed');
my %by_seq = map { $_->{seq} => $_ } @records;
my @subs = map { $by_seq{$_}{sub} . ':' . $by_seq{$_}{model} } @changed;
is_deeply(\@subs, [ 'ann:gpt-4o', 'ian:gpt-4o', 'bob:gpt-4o' ], 'the changed requests, in log order');
like($out, qr/sub ann model gpt-4o endpoint \/v1\/chat\/completions\n  recorded: allow by rule analysts\n  now:      deny by rule default/,
     'analyst: allowed then, denied now');
like($out, qr/sub ian model gpt-4o .*\n  recorded: deny by rule default\n  now:      allow by rule interns/,
     'intern: denied then, allowed now');
like($out, qr/sub bob .*\n  recorded: deny by rule suspended\n  now:      deny by rule default/,
     'banned: denied by another rule now');
like($out, qr/seq $changed[0] \(\Q$d\E\/audit\.log:\d+\) id [0-9a-f]+/, 'each change names its log line and id');

# --json
($rc, $out, $err) = run($new, "$d/audit.log", '--json');
is($rc, 1, '--json: exit 1');
my $j = eval { decode_json($out) } // {};
is($j->{compared}, 5, 'json: compared');
is($j->{changed}, 3, 'json: changed');
is($j->{records}, 9, 'json: records');
is($j->{skipped}{not_policy}, 4, 'json: not_policy');
ok($j->{skipped}{completions} >= 3, 'json: completion records skipped');
is($j->{policy}, $new, 'json: policy');
like($j->{policy_sha256} // '', qr/^[0-9a-f]{64}$/, 'json: policy_sha256');
my $c0 = $j->{changes}[0] // {};
is($c0->{sub}, 'ann', 'json: change sub');
is($c0->{recorded}{decision}, 'allow', 'json: recorded decision');
is($c0->{recorded}{rule}, 'analysts', 'json: recorded rule');
is($c0->{now}{decision}, 'deny', 'json: new decision');
is($c0->{now}{code}, 'model_not_allowed', 'json: new code');
is($c0->{now}{status}, 403, 'json: new status');
is($c0->{id}, $by_seq{$c0->{seq}}{id}, 'json: id of the record');

# ---- hand-written logs: two files in order, lines that are not records ----

sub rec {
    my (%o) = @_;
    return encode_json({ seq => $o{seq}, id => "r$o{seq}", sub => $o{sub} // 'x',
                         claims => $o{claims} // { sub => $o{sub} // 'x' },
                         path => '/v1/chat/completions', endpoint => '/v1/chat/completions',
                         model => $o{model} // 'gpt-4o-mini', max_tokens => $o{max_tokens},
                         prompt_chars => 5, decision => $o{decision}, rule => $o{rule},
                         policy_sha256 => 'ab' x 32, status => $o{status},
                         filters => $o{filters} // [], phase => $o{phase} }) . "\n";
}

$t->write_file('a.log',
    rec(seq => 0, phase => 'admit', decision => 'allow', rule => 'interns', status => 0,
        claims => { sub => 'i', groups => ['interns'] }, sub => 'i')
  . "garbage line\n"
  . '{"checkpoint":"test.example/aigov\n2\nAAAA\n"}' . "\n");
$t->write_file('b.log',
    rec(seq => 1, phase => 'deny', decision => 'deny', rule => 'default', status => 403,
        claims => { sub => "esc\e[31m", groups => ['analysts'] }, sub => "esc\e[31m")
  . rec(seq => 2, phase => 'done', decision => 'allow', rule => 'interns', status => 200)
  . '{"seq":3,"decision":"allow"');
($rc, $out, $err) = run($new, "$d/a.log", "$d/b.log");
is($rc, 1, 'two logs: exit 1');
like($out, qr/^1 of 2 recorded requests would be decided differently$/m, 'two logs: 1 of 2');
like($out, qr/^seq 1 \(\Q$d\E\/b\.log:1\) id r1 sub esc\?\[31m /m,
     'the change names the second log, and no escape reaches the terminal');
like($err, qr/\Q$d\E\/a\.log:2: not JSON/, 'garbage line reported with its file and line');
like($err, qr/\Q$d\E\/b\.log:3: .*newline/, 'torn last line reported');
like($out, qr/1 checkpoints, 2 unreadable lines/, 'summary counts checkpoints and unreadable lines');

($rc, $out) = run($new, "$d/a.log", '--json');
$j = eval { decode_json($out) } // {};
is($rc, 0, 'nothing changes: exit 0');
is($j->{changed}, 0, 'json: 0 changed');
is($j->{unreadable_lines}[0]{line}, 2, 'json: unreadable line listed');

# usage and I/O errors exit 2
($rc, $out, $err) = run($new);
is($rc, 2, 'no log: usage error');
($rc, $out, $err) = run($new, "$d/missing.log");
is($rc, 2, 'missing log: exit 2');
like($err, qr/missing\.log/, 'missing log named');
my $bad = $t->write_file('bad.yaml', "version: 1\ndefault: maybe\n");
($rc, $out, $err) = run($bad, "$d/a.log");
is($rc, 2, 'policy with errors: exit 2');
like($out, qr/bad\.yaml:2:\d+:/, 'policy error with file:line:col');
($rc, $out) = run('--help');
is($rc, 0, '--help: exit 0');
like($out, qr/403 by a filter/, '--help states which records are compared');

$t->done;
done_testing;
