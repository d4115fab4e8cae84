#!/usr/bin/perl
# The policy in the log: the gateway writes each policy it uses into the
# tree ("phase":"policy", its files and their text as loaded) before the
# first record that names it after a start, a reload and a rotation;
# `aigov audit verify` checks every digest used has its policy record
# before it; `show --policy` prints the text; `policy replay --from-log`
# takes the policy from the log.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Digest::SHA qw(sha256_hex);
use Time::HiRes qw(sleep);
use AigovTest;
use AigovJWT;

my $root = AigovTest::root();
my $aigov = "$root/build/aigov";
my $t = AigovTest->new;
my $d = $t->dir;
my ($jkey, $jpub) = AigovJWT::keypair($d, 'jwt', 'p256');
system("$aigov keygen --out $d/audit.key --name test.example/aigov >/dev/null 2>&1") == 0 or die 'keygen';

my $polA = <<'YAML';
# policy A: users may use any model
version: 1
default: deny
rules:
  - name: users-any
    when:
      groups: [users]
    decision: allow
YAML
my $polB = <<'YAML';
# policy B: users get the small model only ("quoted" \ text, ünïcode)
version: 1
default: deny
rules:
  - name: users-small
    when:
      groups: [users]
      models: [gpt-4o-mini]
    decision: allow
YAML
sub write_policy { open my $f, '>', "$d/policy.yaml" or die; print $f $_[0]; close $f }
write_policy($polA);

$t->start_mock;
$t->write_conf($t->gateway_conf(
    http => "aigov_audit_log $d/audit.log; aigov_audit_key $d/audit.key;"
          . " aigov_audit_origin test.example/aigov; aigov_audit_checkpoint 10 1s;",
    location => "aigov_policy $d/policy.yaml; aigov_jwt_key $jpub;"), workers => 2);
$t->start_nginx;

my $tok = AigovJWT::mint(alg => 'ES256', key => $jkey,
                         claims => { sub => 'pol', groups => ['users'], policy_sha256 => 'f' x 64 });
sub ask {
    my ($model) = @_;
    return $t->request('POST', '/v1/chat/completions', headers => { Authorization => "Bearer $tok" },
        body => encode_json({ model => $model, messages => [ { role => 'user', content => 'hi' } ] }))->{status};
}
sub reload_and_wait {
    my ($ok, $out) = $t->reload;
    ok($ok, 'reload') or diag($out);
    sleep 1.0;   # the new workers take over
}

is(ask('gpt-4o'), 200, "policy A allows gpt-4o ($_)") for 1 .. 3;
write_policy($polB);
reload_and_wait();
is(ask('gpt-4o'), 403, 'policy B refuses gpt-4o');
is(ask('gpt-4o-mini'), 200, 'policy B allows gpt-4o-mini');
reload_and_wait();    # the same policy again
is(ask('gpt-4o'), 403, 'still policy B after a reload with the same policy');
is(ask('gpt-4o-mini'), 200, '... and allows the small model');
$t->stop_nginx;

my ($shaA, $shaB) = (sha256_hex($polA), sha256_hex(do { my $b = $polB; utf8::encode($b) if utf8::is_utf8($b); $b }));
open my $lf, '<', "$d/audit.log" or die;
my @lines = <$lf>;
close $lf;
my @recs = map { decode_json($_) } grep { /^\{"seq"/ } @lines;
my @pols = grep { ($_->{phase} // '') eq 'policy' } @recs;
is(scalar(grep { $_->{policy_sha256} eq $shaA } @pols), 1, 'policy A is logged once (two workers, one record)');
is(scalar(grep { $_->{policy_sha256} eq $shaB } @pols), 2, 'policy B is logged after each reload, the same policy too');
is(scalar(@pols), 3, 'no other policy records');
my ($pa) = grep { $_->{policy_sha256} eq $shaA } @pols;
is($pa->{files}[0]{name}, "$d/policy.yaml", 'the record names the file');
is($pa->{files}[0]{text}, $polA, 'and holds its text as loaded');
like($pa->{ts}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, 'and the time');
my %first;
for (@recs) {
    $first{ $_->{policy_sha256} } //= $_->{seq} if ($_->{phase} // '') eq 'policy';
}
my @users = grep { $_->{policy_sha256} && ($_->{phase} // '') ne 'policy' } @recs;
ok(@users >= 7, 'request records name their policy');
ok(!grep({ !defined $first{ $_->{policy_sha256} } || $first{ $_->{policy_sha256} } > $_->{seq} } @users),
   'every record\'s policy record comes before it');

my $out = `$aigov audit verify --key $d/audit.key.pub --json $d/audit.log 2>&1`;
my $r = eval { decode_json($out) } // {};
is($? >> 8, 0, 'the log verifies') or diag($out);
is($r->{policy_records}, 3, 'verify counts the policy records');

# show --policy prints the text as loaded, byte for byte
$out = `$aigov audit show $d/audit.log --policy $shaA`;
is($out, $polA, 'show --policy prints policy A as loaded');
$out = `$aigov audit show $d/audit.log --policy ${\ substr($shaB, 0, 12)}`;
my $rawB = $polB;
utf8::encode($rawB) if utf8::is_utf8($rawB);
is($out, $rawB, 'a digest prefix will do');
`$aigov audit show $d/audit.log --policy 0123456789ab 2>&1`;
is($? >> 8, 1, 'an unknown digest is not found');
`$aigov audit show $d/audit.log --policy 'zz' 2>&1`;
is($? >> 8, 2, 'a digest that is not hex is a usage error');

# replay with the policy the log recorded
$out = `$aigov policy replay --from-log $shaB --json $d/audit.log 2>&1`;
$r = eval { decode_json($out) } // {};
is($? >> 8, 1, 'replay under logged policy B finds changes') or diag($out);
is($r->{changed}, 3, 'the three gpt-4o requests allowed under A would be refused') or diag($out);
$out = `$aigov policy replay --from-log $shaA --json $d/audit.log 2>&1`;
$r = eval { decode_json($out) } // {};
is($r->{changed}, 4, 'under logged policy A the two refusals of B would be allowed, the two others by another rule') or diag($out);
`$aigov policy replay --from-log 0123456789ab $d/audit.log 2>&1`;
is($? >> 8, 2, 'replay from a digest the log lacks is an error');

# a policy record removed: the tree finds the gap, the policy check the use
my @cut = grep { !/"phase":"policy"/ || !/\Q$shaA\E/ } @lines;
open my $cf, '>', "$d/cut.log" or die;
print $cf @cut;
close $cf;
$out = `$aigov audit verify --key $d/audit.key.pub $d/cut.log 2>&1`;
is($? >> 8, 1, 'verify fails without the policy record');
like($out, qr/removed/, '... the tree reports the removed record');
like($out, qr/no policy: this record names policy $shaA/, '... and the record that uses the missing policy');

# a policy record whose text was changed
my @forged = map { /"phase":"policy"/ && /\Q$shaA\E/ ? s/users may use any model/anyone may use any model/r : $_ } @lines;
open my $ff, '>', "$d/forged.log" or die;
print $ff @forged;
close $ff;
$out = `$aigov audit verify --key $d/audit.key.pub $d/forged.log 2>&1`;
is($? >> 8, 1, 'verify fails on a changed policy text');
like($out, qr/bad policy: policy record: its text does not hash/, '... and says the text is not the policy');

# rotation: the new file holds the policy again, before its first record
$t->start_nginx;
is(ask('gpt-4o-mini'), 200, 'served after restart');
rename "$d/audit.log", "$d/audit.log.1";
$t->signal_nginx('USR1');
sleep 0.5;
is(ask('gpt-4o-mini'), 200, 'served after rotation');
$t->stop_nginx;
open $lf, '<', "$d/audit.log" or die;
my @new = <$lf>;
close $lf;
like($new[0], qr/^\{"checkpoint"/, 'the new file starts with the carry-over checkpoint');
like($new[1], qr/"policy_sha256":"$shaB".*"phase":"policy"/, 'then the policy record');
$out = `$aigov audit verify --key $d/audit.key.pub --json $d/audit.log 2>&1`;
$r = eval { decode_json($out) } // {};
ok($? >> 8 == 0 && $r->{policy_records} == 1, 'the new file verifies on its own, policy included') or diag($out);

$t->done;
done_testing;
