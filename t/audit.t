#!/usr/bin/perl
# The audit log written by nginx: records for every request (admitted,
# refused, streamed), checkpoints signed and verified by `aigov audit
# verify` and by openssl on its own; two workers under load; a worker
# killed, a reload and a rotation under load; fail-closed on /dev/full.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use MIME::Base64;
use Digest::SHA qw(sha256_hex);
use Time::HiRes qw(sleep time);
use POSIX ();
use AigovTest;
use AigovJWT;

my $root = AigovTest::root();
my $aigov = "$root/build/aigov";

my $t = AigovTest->new(allow_log => qr/exited on signal 9/);
my $d = $t->dir;
my ($jkey, $jpub) = AigovJWT::keypair($d, 'jwt', 'p256');
system("$aigov keygen --out $d/audit.key --name test.example/aigov >/dev/null 2>&1") == 0 or die 'keygen';
$t->write_file('policy.yaml', <<'YAML');
version: 1
default: deny
rules:
  - name: users
    when:
      groups: [users]
    audit:
      content: hash
    decision: allow
  - name: keepers
    when:
      groups: [keepers]
    audit:
      content: full
    decision: allow
YAML

sub conf {
    my (%o) = @_;
    my $log = $o{log} // "$d/audit.log";
    my $fail = $o{fail} // 'closed';
    my $origin = exists $o{origin} ? '' : 'aigov_audit_origin test.example/aigov;';
    my $every = $o{checkpoint} // '100 1s';
    return $t->gateway_conf(
        http => "aigov_audit_log $log; aigov_audit_key $d/audit.key; $origin"
              . " aigov_audit_checkpoint $every; aigov_audit_fail $fail;",
        location => "aigov_policy $d/policy.yaml; aigov_jwt_key $jpub;");
}

$t->start_mock;
$t->write_conf(conf(), workers => 2);
$t->start_nginx;

my $tok = AigovJWT::mint(alg => 'ES256', key => $jkey, claims => { sub => 'auditee', groups => ['users'], iss => 'idp' });
my $keeper = AigovJWT::mint(alg => 'ES256', key => $jkey, claims => { sub => 'keeper', groups => ['keepers'] });
my %auth = (Authorization => "Bearer $tok");
my $body = encode_json({ model => 'gpt-4o-mini', messages => [ { role => 'user', content => 'audit me' } ] });

my $ok = $t->request('POST', '/v1/chat/completions', body => $body, headers => \%auth);
is($ok->{status}, 200, 'allowed request');
my $denied = $t->request('POST', '/v1/chat/completions', body => $body);
is($denied->{status}, 401, 'refused request');
my $bad = $t->request('POST', '/v1/chat/completions', body => '{oops', headers => \%auth);
is($bad->{status}, 400, 'bad body');
my $st = $t->stream('/v1/chat/completions', headers => \%auth,
    body => { model => 'gpt-4o-mini', stream => JSON::PP::true, messages => [ { role => 'user', content => 'stream' } ] });
is($st->{status}, 200, 'streamed request');
my $full = $t->request('POST', '/v1/chat/completions', body => $body, headers => { Authorization => "Bearer $keeper" });
is($full->{status}, 200, 'request kept in full');

$t->stop_nginx;    # graceful: the last checkpoint is written

sub lines_of {
    my ($f) = @_;
    open my $fh, '<', $f or return ();
    my @l = <$fh>;
    chomp @l;
    return @l;
}

my @lines = lines_of("$d/audit.log");
my @recs = map { decode_json($_) } grep { /^\{"seq"/ } @lines;
my @cps = grep { /^\{"checkpoint"/ } @lines;
my %by;
push @{ $by{ $_->{id} } }, $_ for grep { defined $_->{id} } @recs;   # policy records have no id

my $rid = $ok->{headers}{'x-aigov-request-id'};
my @r = @{ $by{$rid} // [] };
is(scalar @r, 2, 'allowed request: admission and completion records');
is($r[0]{phase}, 'admit', 'first the admission record');
is($r[1]{phase}, 'done', 'then the completion record');
is($r[1]{status}, 200, 'completion has the status');
is($r[0]{sub}, 'auditee', 'sub recorded');
is($r[0]{iss}, 'idp', 'iss recorded');
is($r[0]{rule}, 'users', 'rule recorded');
is($r[0]{decision}, 'allow', 'decision recorded');
is($r[0]{model}, 'gpt-4o-mini', 'model recorded');
is($r[0]{endpoint}, '/v1/chat/completions', 'endpoint recorded');
like($r[0]{policy_sha256} // '', qr/^[0-9a-f]{64}$/, 'policy hash recorded');
is($r[0]{prompt_sha256}, sha256_hex($body), 'prompt_sha256 is the hash of the body as sent');
is($r[1]{response_sha256}, sha256_hex($ok->{body}), 'response_sha256 is the hash of the answer as received');
ok(ref $r[1]{usage} eq 'HASH' && $r[1]{usage}{prompt_tokens} > 0, 'usage recorded');
like($r[0]{ts}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, 'ts in RFC 3339 with microseconds');
ok(!exists $r[0]{prompt}, 'content hash keeps no text');

@r = @{ $by{ $denied->{headers}{'x-aigov-request-id'} } // [] };
is(scalar @r, 1, 'refused request: one record');
is($r[0]{phase}, 'deny', 'phase deny');
is($r[0]{status}, 401, 'with its status');
is($r[0]{decision}, 'deny', 'decision deny');
@r = @{ $by{ $bad->{headers}{'x-aigov-request-id'} } // [] };
is(scalar(@r) && $r[0]{status}, 400, 'bad body recorded with 400');

@r = @{ $by{ $st->{headers}{'x-aigov-request-id'} } // [] };
ok(@r == 2 && $r[1]{usage} && $r[1]{usage}{completion_tokens} > 0, 'streamed answer: usage recorded');
ok($r[1] && $r[1]{stream}, 'stream flag recorded');

@r = @{ $by{ $full->{headers}{'x-aigov-request-id'} } // [] };
is($r[0]{prompt}, 'audit me', 'content full keeps the prompt');
like($r[1]{response} // '', qr/echo: audit me/, 'and the answer');

# `aigov audit show` joins a completion record to its admission record
my $show = `$aigov audit show $d/audit.log --sub auditee 2>&1`;
my @shown = grep { /\b$rid\b|^\d+\s/ } split /\n/, $show;
ok((grep { /^\d+\s+\S+\s+done\s+allow\s+200\s+auditee\s+gpt-4o-mini\b/ } @shown),
   'show --sub lists the completion record with its caller and model') or diag($show);
ok(!(grep { /\bkeeper\b/ } @shown), 'and no other caller');

my @seqs = map { $_->{seq} } @recs;
is_deeply(\@seqs, [ 0 .. $#recs ], 'seq counts from 0 in file order');
ok(@cps >= 1, 'a checkpoint was written');

my $out = `$aigov audit verify --key $d/audit.key.pub $d/audit.log 2>&1`;
is($? >> 8, 0, 'aigov audit verify: the log verifies') or diag($out);

# the newest checkpoint, checked by openssl alone
my $note = decode_json($cps[-1])->{checkpoint};
my ($nbody, $sigs) = split /\n\n/, $note, 2;
$nbody .= "\n";
my ($origin, $size, $rootb64) = split /\n/, $nbody;
is($origin, 'test.example/aigov', 'checkpoint origin');
is($size, scalar @recs, 'checkpoint covers every record');
my ($name, $sigb64) = $sigs =~ /^\x{2014} (\S+) (\S+)$/m;
$name //= '';
is($name, 'test.example/aigov', 'signature line names the origin');
my $sig = substr(decode_base64($sigb64 // ''), 4);
open my $bf, '>', "$d/note.body"; print $bf $nbody; close $bf;
open my $sf, '>', "$d/note.sig"; print $sf $sig; close $sf;
my $v = `openssl pkeyutl -verify -pubin -inkey $d/audit.key.pub -rawin -in $d/note.body -sigfile $d/note.sig 2>&1`;
like($v, qr/Signature Verified Successfully/, 'openssl verifies the checkpoint signature') or diag($v);
# root: recompute RFC 9162 over the record lines, independently
sub mth {
    my @h = @_;
    return Digest::SHA::sha256('') unless @h;
    return $h[0] if @h == 1;
    my $k = 1;
    $k <<= 1 while $k * 2 < @h;
    return Digest::SHA::sha256("\x01" . mth(@h[0 .. $k - 1]) . mth(@h[$k .. $#h]));
}
my @leaves = map { Digest::SHA::sha256("\x00$_") } grep { /^\{"seq"/ } @lines;
is(encode_base64(mth(@leaves), ''), $rootb64, 'root hash matches an independent RFC 9162 computation');

# $count requests of $d/body.json over 16 parallel keep-alive connections:
# how many were answered 200
sub served {
    my ($count) = @_;
    my $url = 'http://127.0.0.1:' . $t->port . '/v1/chat/completions?n=[1-' . $count . ']';
    my @codes = `curl -s --parallel --parallel-max 16 -o /dev/null -w '%{http_code}\\n' -H 'Authorization: Bearer $tok' -H 'Content-Type: application/json' --data-binary \@$d/body.json '$url' 2>/dev/null`;
    return scalar grep { /^200$/ } @codes;
}

# load: two workers, thousands of requests over keep-alive connections
$t->start_nginx;
my $n = 6000;
open my $bfh, '>', "$d/body.json"; print $bfh $body; close $bfh;
is(served($n), $n, "$n requests answered 200");
$t->stop_nginx;
@recs = map { decode_json($_) } grep { /^\{"seq"/ } lines_of("$d/audit.log");
my (%admit, %done);
for (@recs) { $admit{ $_->{id} }++ if $_->{phase} eq 'admit'; $done{ $_->{id} }++ if $_->{phase} eq 'done' }
my $new_admits = grep { $_ == 1 } values %admit;
ok(!grep({ $_ != 1 } values %admit), 'no request has two admission records');
is(scalar(keys %done), scalar(keys %admit), 'every admitted request has its completion record');
ok(scalar(keys %admit) >= $n, "at least $n admitted requests on record");
$out = `$aigov audit verify --key $d/audit.key.pub $d/audit.log 2>&1`;
is($? >> 8, 0, 'the log verifies after the load') or diag($out);

# while one worker writes, the other's held records wait a loop turn
# rather than spin for the lock: with both busy that happens, and every
# request is still answered and recorded once, in a log that verifies
# (whether the two workers meet at the lock depends on the machine's
# scheduling: up to three rounds of 2000 requests until they have)
$t->write_conf(conf(log => "$d/busy.log"), workers => 2, main => "error_log $d/logs/debug.log debug;");
$t->start_nginx;
my ($waits, $sent, $answered) = (0, 0, 0);
for (1 .. 3) {
    $answered += served(2000);
    $sent += 2000;
    $waits = grep { /audit log busy, \d+ held records wait a turn/ } lines_of("$d/logs/debug.log");
    last if $waits > 0;
}
$t->stop_nginx;
is($answered, $sent, "$sent requests answered 200 with the debug log on");
ok($waits > 0, "held records waited a turn for the busy log ($waits times)");
my %busy;
# policy records have no id
$busy{ $_->{id} . $_->{phase} }++ for grep { defined $_->{id} } map { decode_json($_) } grep { /^\{"seq"/ } lines_of("$d/busy.log");
is(scalar(grep { /admit$/ } keys %busy), $sent, 'each request admitted on record');
ok(!grep({ $_ != 1 } values %busy), 'and no record twice');
$out = `$aigov audit verify --key $d/audit.key.pub $d/busy.log 2>&1`;
is($? >> 8, 0, 'the log verifies') or diag($out);
$t->write_conf(conf(), workers => 2);

# restart continues the tree; kill -9 of a worker, reload and rotation
# under load: the log verifies apart from at most one torn line
$t->start_nginx;
my $pid = fork // die;
if (!$pid) {
    open STDERR, '>', '/dev/null';
    exec 'curl', '-s', '--parallel', '--parallel-max', '8', '-o', '/dev/null',
         '-H', "Authorization: Bearer $tok", '-H', 'Content-Type: application/json',
         '--data-binary', "\@$d/body.json",
         'http://127.0.0.1:' . $t->port . '/v1/chat/completions?n=[1-20000]'
        or POSIX::_exit(127);    # never the test's code (nor its END) in the child
}
AigovTest::guard($pid);
sleep 1;
my @workers = $t->workers;
kill 'KILL', $workers[0] if @workers;
sleep 0.5;
$t->reload;
sleep 0.5;
rename "$d/audit.log", "$d/audit.log.1";
$t->signal_nginx('USR1');
sleep 0.5;
is($t->request('POST', '/v1/chat/completions', body => $body, headers => \%auth)->{status}, 200,
   'served after the rotation');
waitpid($pid, 0);
$t->stop_nginx;
ok(-s "$d/audit.log", 'after rotation nginx writes a new file');
$out = `$aigov audit verify --key $d/audit.key.pub $d/audit.log.1 $d/audit.log 2>&1`;
my $rc = $? >> 8;
my @torn = $out =~ /torn/g;
ok($rc == 0 || ($rc == 1 && @torn <= 2 && $out !~ /modified|removed|reordered|inserted|bad signature/),
   'rotated files verify together (at most the torn line of the killed worker)') or diag($out);
my $first = (lines_of("$d/audit.log"))[0];
like($first, qr/^\{"checkpoint"/, 'the new file starts with a carry-over checkpoint');

# a checkpoint after every record, claimed by both workers: one can sign a
# smaller checkpoint more slowly than the other signs a larger one, and the
# smaller must then not follow the larger in the file
$t->write_conf(conf(log => "$d/every.log", checkpoint => '1 1s'), workers => 2);
$t->start_nginx;
my $m = 3000;
is(served($m), $m, "$m requests answered 200 with a checkpoint after every record");
$t->stop_nginx;
my @every = grep { /^\{"checkpoint"/ } lines_of("$d/every.log");
ok(@every > $m / 10, 'checkpoints were written all along (' . scalar(@every) . ')');
$out = `$aigov audit verify --key $d/audit.key.pub $d/every.log 2>&1`;
is($? >> 8, 0, 'and each one extends the one before it in the file') or diag($out);

# fail closed: a log that cannot be written refuses the request with 503
$t->write_conf(conf(log => '/dev/full'));
$t->start_nginx;
my $fr = $t->request('POST', '/v1/chat/completions', body => $body, headers => \%auth);
is($fr->{status}, 503, 'fail closed: 503 when the record cannot be written');
is((AigovTest::json($fr) // {})->{error}{type}, 'audit_unavailable', 'type audit_unavailable');
ok(!exists $fr->{headers}{'x-mock-body-sha256'}, 'and the request was not served');
$t->stop_nginx;
$t->write_conf(conf(log => '/dev/full', fail => 'open'));
$t->start_nginx;
$fr = $t->request('POST', '/v1/chat/completions', body => $body, headers => \%auth);
is($fr->{status}, 200, 'fail open: served anyway');
like($t->error_log, qr/cannot write to the audit log/, 'and the failure is logged');

$t->stop_nginx;

# without aigov_audit_origin the origin is the host name followed by /aigov
chomp(my $host = `hostname`);
system("$aigov keygen --out $d/host.key --name $host/aigov >/dev/null 2>&1") == 0 or die 'keygen';
rename "$d/host.key", "$d/audit.key";
rename "$d/host.key.pub", "$d/audit.key.pub";
$t->write_conf(conf(log => "$d/host.log", origin => undef));
$t->start_nginx;
is($t->request('POST', '/v1/chat/completions', body => $body, headers => \%auth)->{status}, 200,
   'served with the default origin');
$t->stop_nginx;
my ($hcp) = grep { /^\{"checkpoint"/ } lines_of("$d/host.log");
# three records: the policy record, the admission and the completion
like(decode_json($hcp // '{"checkpoint":""}')->{checkpoint}, qr/^\Q$host\E\/aigov\n3\n/, 'default origin is the host name + /aigov');
$out = `$aigov audit verify --key $d/audit.key.pub $d/host.log 2>&1`;
is($? >> 8, 0, 'and it verifies') or diag($out);

$t->done;
done_testing;
