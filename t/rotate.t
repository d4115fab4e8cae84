#!/usr/bin/perl
# Months of files: the shipped logrotate example (conf/logrotate-aigov),
# run by Debian's own logrotate against a running gateway under load,
# several times with compression; then one `aigov audit verify` over the
# folder (plain and .gz files, in whatever order), and show, prove over
# the same files. Files given in any order are read in tree order.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep);
use List::Util qw(shuffle sum);
use POSIX ();
use AigovTest;
use AigovJWT;

my $root = AigovTest::root();
my $aigov = "$root/build/aigov";
my $logrotate = -x '/usr/sbin/logrotate' ? '/usr/sbin/logrotate' : 'logrotate';
plan skip_all => 'logrotate is not installed (make deps)' unless `$logrotate --version 2>&1` =~ /logrotate/;

my $t = AigovTest->new;
my $d = $t->dir;
my $logs = "$d/auditlogs";
mkdir $logs or die $!;
chmod 0755, $logs;
my ($jkey, $jpub) = AigovJWT::keypair($d, 'jwt', 'p256');
system("$aigov keygen --out $d/audit.key --name test.example/aigov >/dev/null 2>&1") == 0 or die 'keygen';
$t->write_file('policy.yaml', <<'YAML');
version: 1
default: deny
rules:
  - name: users
    when:
      groups: [users]
    decision: allow
YAML

$t->start_mock;
$t->write_conf($t->gateway_conf(
    http => "aigov_audit_log $logs/audit.log; aigov_audit_key $d/audit.key;"
          . " aigov_audit_origin test.example/aigov; aigov_audit_checkpoint 50 1s;",
    location => "aigov_policy $d/policy.yaml; aigov_jwt_key $jpub;"), workers => 2);
$t->start_nginx;

# the shipped example, with this test's paths (and no www-data owner)
my $nginx = $ENV{NGINX} // '/usr/sbin/nginx';
open my $ex, '<', "$root/conf/logrotate-aigov" or die $!;
my $lr = do { local $/; <$ex> };
close $ex;
ok($lr =~ s{/var/log/nginx/aigov/audit\.log}{$logs/audit.log}, 'the example names the audit log');
ok($lr =~ s{nginx -s reopen}{$nginx -p $d -c $d/nginx.conf -s reopen}, 'the example reopens with nginx -s reopen');
ok($lr =~ s{create 0640 www-data adm}{create 0640}, 'the example creates the new file');
like($lr, qr/^\s*compress\b/m, 'the example compresses');
unlike($lr, qr/^\s*copytruncate/m, 'the example does not copytruncate');
open my $lf, '>', "$d/logrotate.conf" or die $!;
print $lf $lr;
close $lf;
chmod 0644, "$d/logrotate.conf";

my $tok = AigovJWT::mint(alg => 'ES256', key => $jkey, claims => { sub => 'rot', groups => ['users'] });
open my $bfh, '>', "$d/body.json" or die $!;
print $bfh encode_json({ model => 'gpt-4o-mini', messages => [ { role => 'user', content => 'rotate me' } ] });
close $bfh;

# load while the files rotate
my $pid = fork // die;
if (!$pid) {
    open STDERR, '>', '/dev/null';
    open STDOUT, '>', "$d/codes";
    exec 'curl', '-s', '--parallel', '--parallel-max', '8', '-o', '/dev/null', '-w', '%{http_code}\n',
         '-H', "Authorization: Bearer $tok", '-H', 'Content-Type: application/json',
         '--data-binary', "\@$d/body.json",
         'http://127.0.0.1:' . $t->port . '/v1/chat/completions?n=[1-1000000]'
        or POSIX::_exit(127);    # never the test's code (nor its END) in the child
}
AigovTest::guard($pid);
my $rotations = 5;
for my $i (1 .. $rotations) {
    sleep 0.6;
    my $out = `$logrotate -f -s $d/logrotate.state $d/logrotate.conf 2>&1`;
    is($? >> 8, 0, "logrotate run $i") or diag($out);
}
sleep 0.3;
kill 'TERM', $pid;     # the load ran through every rotation
waitpid($pid, 0);
is($t->request('POST', '/v1/chat/completions', body => encode_json({ model => 'gpt-4o-mini',
   messages => [ { role => 'user', content => 'after' } ] }), headers => { Authorization => "Bearer $tok" })->{status},
   200, 'served after the rotations');
$t->stop_nginx;

open my $cf, '<', "$d/codes" or die $!;
my @codes = <$cf>;
close $cf;
ok(scalar(grep { /^200$/ } @codes) >= 1000, 'the load was served: ' . scalar(grep { /^200$/ } @codes));
is(scalar(grep { !/^(200|000)$/ } @codes), 0, 'no request of the load failed (000: cut by the end of the load)');

opendir my $dh, $logs or die $!;
my @files = sort grep { !/^\./ } readdir $dh;
closedir $dh;
my @gz = grep { /\.gz$/ } @files;
ok(-s "$logs/audit.log" && -s "$logs/audit.log.1", 'the current file and audit.log.1 (delaycompress) are there');
is(scalar(@gz), $rotations - 1, 'the older files are gzip\'d') or diag("@files");
for (@gz) {
    open my $g, '<:raw', "$logs/$_" or die $!;
    read $g, my $magic, 2;
    is(unpack('H4', $magic), '1f8b', "$_ is gzip data");
}

# independent count: every record line in all files, unpacked with gzip
my ($total, %seqs) = (0);
for my $f (@files) {
    my $cmd = $f =~ /\.gz$/ ? "gzip -dc $logs/$f" : "cat $logs/$f";
    for (`$cmd`) {
        next unless /^\{"seq":(\d+),/;
        $total++;
        $seqs{$1}++;
    }
}
ok($total >= 2000, "records in the files: $total");
is(scalar(keys %seqs), $total, 'no seq twice');

my $out = `$aigov audit verify --key $d/audit.key.pub --json $logs 2>&1`;
my $r = eval { decode_json($out) } // {};
is($? >> 8, 0, 'one verify over the folder passes') or diag($out);
is($r->{records}, $total, 'it counts every record of every file');
is(scalar(@{ $r->{files} // [] }), scalar(@files), 'it read every file');
is($r->{files}[0], "$logs/audit.log.$rotations.gz", 'the oldest file first');
is($r->{files}[-1], "$logs/audit.log", 'the current file last');
my $next = 0;
my $contiguous = 1;
for my $rg (@{ $r->{ranges} // [] }) {
    next unless $rg->{records};
    $contiguous = 0 unless $rg->{first_seq} == $next && $rg->{last_seq} - $rg->{first_seq} + 1 == $rg->{records};
    $next = $rg->{last_seq} + 1;
}
ok($contiguous && $next == $total, 'the files cover consecutive seq ranges from 0') or diag($out);

# the same files named one by one, shuffled
my @shuffled = shuffle(map { "$logs/$_" } @files);
$out = `$aigov audit verify --key $d/audit.key.pub @shuffled 2>&1`;
is($? >> 8, 0, 'files in any order verify') or diag($out);
like($out, qr/files, in tree order:\n  \Q$logs\E\/audit\.log\.$rotations\.gz: seq 0\.\.\d+/, 'and it says which file holds which records');

# without the oldest (deleted by retention) the rest verify from their signed start
my @recent = grep { $_ ne "$logs/audit.log.$rotations.gz" } @shuffled;
$out = `$aigov audit verify --key $d/audit.key.pub --json @recent 2>&1`;
$r = eval { decode_json($out) } // {};
ok($? >> 8 == 0 && $r->{start_size} > 0, 'the newer files verify without the oldest') or diag($out);

# a file in the middle missing is found
my @gap = grep { $_ ne "$logs/audit.log.2.gz" } @shuffled;
$out = `$aigov audit verify --key $d/audit.key.pub @gap 2>&1`;
is($? >> 8, 1, 'a missing file in the middle is found');
like($out, qr/removed/, '... as removed records');

# show and prove read the .gz files too
my @shown = `$aigov audit show --json $logs 2>/dev/null`;
is(scalar(@shown), $total, 'show prints every record of every file');
my $proof = `$aigov audit prove $logs --seq 3 2>&1`;
is($? >> 8, 0, 'prove a record in the oldest, gzip\'d file') or diag($proof);
open my $pf, '>', "$d/proof.json" or die $!;
print $pf $proof;
close $pf;
$out = `$aigov audit check-proof --key $d/audit.key.pub $d/proof.json 2>&1`;
is($? >> 8, 0, 'the proof checks') or diag($out);

# a damaged .gz is an I/O error, not a silent short log
system("head -c 200 $logs/audit.log.2.gz > $d/cut.gz");
$out = `$aigov audit verify --key $d/audit.key.pub $d/cut.gz 2>&1`;
is($? >> 8, 2, 'a cut gzip file is an error');
like($out, qr/cut short|damaged/, '... that says so');

$t->done;
done_testing;
