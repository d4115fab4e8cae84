#!/usr/bin/perl
# Keyed content hashes: with aigov_audit_hash_key, content: hash keeps the
# request body and the answer as HMAC-SHA256 under the operator's key
# (prompt_hmac, response_hmac, key id in hash_key), checked here against
# Perl's own HMAC; two keys give different values; `aigov audit match`
# says yes for the recorded text and no for a near miss; verify passes.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use MIME::Base64;
use Digest::SHA qw(sha256_hex hmac_sha256_hex);
use AigovTest;
use AigovJWT;

my $root = AigovTest::root();
my $aigov = "$root/build/aigov";
my $t = AigovTest->new;
my $d = $t->dir;
my ($jkey, $jpub) = AigovJWT::keypair($d, 'jwt', 'p256');
system("$aigov keygen --out $d/audit.key --name test.example/aigov >/dev/null 2>&1") == 0 or die 'keygen';
for my $id (qw(k1 k2)) {
    my $out = `$aigov audit hash-keygen --out $d/$id.hkey --id $id 2>&1`;
    is($? >> 8, 0, "hash-keygen $id") or diag($out);
}
is((stat "$d/k1.hkey")[2] & 0777, 0600, 'the key file is private');
sub key_of { open my $f, '<', $_[0] or die; my ($id, $b) = split ' ', scalar <$f>; return ($id, decode_base64($b)) }
my ($id1, $key1) = key_of("$d/k1.hkey");
my ($id2, $key2) = key_of("$d/k2.hkey");
is(length($key1), 32, '32 random bytes');

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
YAML
$t->start_mock;
sub conf {
    my ($log, $hk) = @_;
    $t->write_conf($t->gateway_conf(
        http => "aigov_audit_log $d/$log; aigov_audit_key $d/audit.key; aigov_audit_origin test.example/aigov;"
              . ($hk ? " aigov_audit_hash_key $hk;" : ''),
        location => "aigov_policy $d/policy.yaml; aigov_jwt_key $jpub;"));
}
my $tok = AigovJWT::mint(alg => 'ES256', key => $jkey, claims => { sub => 'h', groups => ['users'] });
my $body = encode_json({ model => 'gpt-4o-mini', messages => [ { role => 'user', content => 'my PIN is 4711' } ] });

my %answer;
for my $k ([ 'k1.log', "$d/k1.hkey" ], [ 'k2.log', "$d/k2.hkey" ]) {
    conf(@$k);
    $t->start_nginx;
    my $r = $t->request('POST', '/v1/chat/completions', body => $body, headers => { Authorization => "Bearer $tok" });
    is($r->{status}, 200, "served with $k->[0]");
    $answer{ $k->[0] } = $r->{body};
    $t->stop_nginx;
}
sub recs { open my $f, '<', "$d/$_[0]" or die; map { decode_json($_) } grep { /^\{"seq"/ } <$f> }
my ($a1) = grep { ($_->{phase} // '') eq 'admit' } recs('k1.log');
my ($c1) = grep { ($_->{phase} // '') eq 'done' } recs('k1.log');
my ($a2) = grep { ($_->{phase} // '') eq 'admit' } recs('k2.log');
is($a1->{hash_key}, 'k1', 'the record names its key');
is($a1->{prompt_hmac}, hmac_sha256_hex($body, $key1), 'prompt_hmac is HMAC-SHA256 of the body under the key');
ok(!exists $a1->{prompt_sha256}, 'no plain hash next to it');
is($c1->{response_hmac}, hmac_sha256_hex($answer{'k1.log'}, $key1), 'response_hmac: the answer as sent');
is($c1->{hash_key}, 'k1', 'the completion record names its key too');
isnt($a1->{prompt_hmac}, $a2->{prompt_hmac}, 'the same prompt under two keys gives different values');
isnt($a1->{prompt_hmac}, sha256_hex($body), 'and neither is the plain SHA-256');

my $out = `$aigov audit verify --key $d/audit.key.pub $d/k1.log 2>&1`;
is($? >> 8, 0, 'the log verifies') or diag($out);

open my $bf, '>', "$d/body.json" or die;
print $bf $body;
close $bf;
my $seq = $a1->{seq};
$out = `$aigov audit match --hash-key $d/k1.hkey --seq $seq --file $d/body.json $d/k1.log 2>&1`;
is($? >> 8, 0, 'match: the recorded body') or diag($out);
like($out, qr/^yes: .*key k1/, '... says yes');
(my $near = $body) =~ s/4711/4712/;
$out = `$aigov audit match --hash-key $d/k1.hkey --seq $seq --text '$near' $d/k1.log 2>&1`;
is($? >> 8, 1, 'match: a near miss');
like($out, qr/^no: /, '... says no');
$out = `$aigov audit match --hash-key $d/k1.hkey --seq $seq --text '$body' --json $d/k1.log 2>&1`;
is((eval { decode_json($out) } // {})->{match}, JSON::PP::true, 'match --text --json') or diag($out);
open my $af, '>', "$d/answer" or die;
print $af $answer{'k1.log'};
close $af;
$out = `$aigov audit match --hash-key $d/k1.hkey --seq $seq --response --file $d/answer $d/k1.log 2>&1`;
is($? >> 8, 0, 'match --response finds the completion record of the same request') or diag($out);
$out = `$aigov audit match --hash-key $d/k2.hkey --seq $seq --file $d/body.json $d/k1.log 2>&1`;
is($? >> 8, 2, 'match with another key is an error');
like($out, qr/hashed under key k1, not k2/, '... that names both keys');
$out = `$aigov audit match --hash-key $d/k1.hkey --seq 999 --file $d/body.json $d/k1.log 2>&1`;
is($? >> 8, 2, 'match of a seq not in the log is an error');

# bad key files fail nginx -t with the reason
for my $bad ([ 'short', "k1 " . encode_base64('too short', '') . "\n", qr/needs 16 to 1024/ ],
             [ 'nobase64', "k1 !!!!\n", qr/not base64/ ],
             [ 'badid', "k\x{e9}y " . encode_base64('x' x 32, '') . "\n", qr/key id/ ],
             [ 'two', "a " . encode_base64('x' x 32, '') . "\nb " . encode_base64('y' x 32, '') . "\n", qr/more than one key/ ],
             [ 'empty', "# nothing\n", qr/no key/ ]) {
    open my $f, '>', "$d/$bad->[0].hkey" or die;
    print $f $bad->[1];
    close $f;
    conf('bad.log', "$d/$bad->[0].hkey");
    my ($ok, $msg) = $t->nginx_t;
    ok(!$ok, "nginx -t refuses a key file: $bad->[0]");
    like($msg, $bad->[2], '... and says why');
}

# without a hash key, content: hash stays plain SHA-256 (as before)
conf('plain.log');
$t->start_nginx;
$t->request('POST', '/v1/chat/completions', body => $body, headers => { Authorization => "Bearer $tok" });
$t->stop_nginx;
my ($p) = grep { ($_->{phase} // '') eq 'admit' } recs('plain.log');
is($p->{prompt_sha256}, sha256_hex($body), 'without a hash key: prompt_sha256');
$out = `$aigov audit match --hash-key $d/k1.hkey --seq $p->{seq} --file $d/body.json $d/plain.log 2>&1`;
is($? >> 8, 0, 'match also checks a plain hash') or diag($out);
like($out, qr/plain SHA-256/, '... and says it was not keyed');

$t->done;
done_testing;
