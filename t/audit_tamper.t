#!/usr/bin/perl
# The audit log against tampering: a log made by the tool is damaged in
# every way an auditor must catch (a byte in each field, a line removed,
# swapped, forged, cut, a checkpoint altered, the wrong key), and each is
# reported with its reason and line. The formats are then proven by a
# second path: the Merkle root recomputed in Perl and the checkpoint
# signature checked by `openssl pkeyutl`.
#
#   prove -I t/lib t/audit_tamper.t     (from the repository root, after make)

use strict;
use warnings;
use Test::More;
use POSIX ();
use File::Temp qw(tempdir);
use JSON::PP;
use MIME::Base64 qw(decode_base64);
use Digest::SHA qw(sha256);

my $AIGOV = $ENV{AIGOV_BINARY} // 'build/aigov';
plan skip_all => "$AIGOV not built (run make)" unless -x $AIGOV;

my $d = tempdir('aigov-audit-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $json = JSON::PP->new->canonical;

sub run {
    my @cmd = @_;
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if ($pid == 0) {
        open STDERR, '>&', \*STDOUT;
        exec $AIGOV, @cmd or POSIX::_exit(127);    # not the test's code
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return ($? >> 8, $out);
}

sub slurp { open my $f, '<:raw', $_[0] or die "$_[0]: $!"; local $/; my $s = <$f>; close $f; $s }
sub spew {
    my ($path, $s) = @_;
    utf8::encode($s) if utf8::is_utf8($s);
    open my $f, '>:raw', $path or die "$path: $!";
    print $f $s;
    close $f;
}
sub lines_of { my @l = split /(?<=\n)/, slurp($_[0]); @l }

# verify --json; returns (exit code, decoded report)
sub verify {
    my ($file, @extra) = @_;
    my ($rc, $out) = run('audit', 'verify', '--key', "$d/k.pub", '--json', @extra, ref $file ? @$file : $file);
    my $r = eval { decode_json($out) } // { problems => [], raw => $out };
    return ($rc, $r);
}

# One problem with this reason whose line range holds $line.
sub one_problem {
    my ($name, $r, $rc, $reason, $line) = @_;
    my @p = @{ $r->{problems} };
    my $ok = $rc == 1 && @p == 1 && $p[0]{reason} eq $reason
        && $p[0]{line} <= $line && $line <= $p[0]{last_line};
    ok($ok, "$name: $reason at line $line")
        or diag("rc=$rc " . $json->encode($r->{problems} // $r));
    return $p[0];
}

# ---- keys and a log --------------------------------------------------------

my ($rc, $out) = run('keygen', '--out', "$d/k", '--name', 'test/aigov');
is($rc, 0, 'keygen');
like($out, qr{^test/aigov\+[0-9a-f]{8}\+[A-Za-z0-9+/=]{44}$}m, 'keygen prints the vkey');
my ($vkey) = $out =~ m{^(test/aigov\+\S+)$}m;
is((stat "$d/k")[2] & 0777, 0600, 'the private key is 0600');
like(slurp("$d/k.pub"), qr/BEGIN PUBLIC KEY/, 'KEY.pub is a PEM public key');
($rc) = run('keygen', '--out', "$d/k", '--name', 'test/aigov');
is($rc, 2, 'keygen does not overwrite a key');
run('keygen', '--out', "$d/wrong", '--name', 'test/aigov');

($rc, $out) = run('audit', '_generate', '--key', "$d/k", '--origin', 'test/aigov', '--records', 40,
                  '--checkpoint-every', 10, '--lag', 2, "$d/log");
is($rc, 0, 'generate a log') or diag($out);
my @log = lines_of("$d/log");
my (%line_of_seq, @cp_lines);
for my $i (0 .. $#log) {
    $line_of_seq{$1} = $i + 1 if $log[$i] =~ /^\{"seq":(\d+),/;
    push @cp_lines, $i + 1 if $log[$i] =~ /^\{"checkpoint":/;
}
is(scalar keys %line_of_seq, 40, '40 records');
is(scalar @cp_lines, 4, '4 checkpoints');

my $r;
($rc, $r) = verify("$d/log");
ok($rc == 0 && $r->{ok} && $r->{records} == 40 && $r->{checkpoints_verified} == 4, 'the untouched log verifies')
    or diag($json->encode($r));
($rc, $out) = run('audit', 'verify', '--key', $vkey, "$d/log");
ok($rc == 0 && $out =~ /^OK: 40 records/m, 'verifies with the vkey string too') or diag($out);
spew("$d/vkey", "$vkey\n");
($rc) = run('audit', 'verify', '--key', "$d/vkey", "$d/log");
is($rc, 0, 'and with a file holding the vkey');

# ---- one changed byte in each field of a record ------------------------------

my $victim = 15;
my $vline = $line_of_seq{$victim};
my $rec = decode_json($log[$vline - 1]);
my @keys = $log[$vline - 1] =~ /"([a-z_0-9]+)":/g;
my %seen;
@keys = grep { exists $rec->{$_} && !$seen{$_}++ } @keys;
ok(@keys >= 20, 'the record has ' . scalar(@keys) . ' fields');
for my $k (@keys) {
    my $l = $log[$vline - 1];
    my $p = index($l, "\"$k\":") + length("\"$k\":");
    my $rest = substr($l, $p);
    $rest =~ /[A-Za-z0-9]/ or next;
    my $at = $p + $-[0];
    my $c = substr($l, $at, 1);
    my $new = $c =~ /\d/ ? ($c + 1) % 10 : ($c eq 'a' ? 'b' : 'a');
    substr($l, $at, 1) = $new;
    my @copy = @log;
    $copy[$vline - 1] = $l;
    spew("$d/t", join '', @copy);
    my ($rc2, $r2) = verify("$d/t");
    one_problem("field $k changed", $r2, $rc2, 'modified', $vline);
}

# with a checkpoint after every record the change is pinned to its line
run('audit', '_generate', '--key', "$d/k", '--origin', 'test/aigov', '--records', 8,
    '--checkpoint-every', 1, "$d/fine");
{
    my @f = lines_of("$d/fine");
    my ($ln) = grep { $f[$_ - 1] =~ /^\{"seq":5,/ } 1 .. @f;
    $f[$ln - 1] =~ s/"status":(\d)/'"status":' . (($1 + 1) % 10)/e;
    spew("$d/t", join '', @f);
    ($rc, $r) = verify("$d/t");
    my $p = one_problem('checkpoint per record', $r, $rc, 'modified', $ln);
    is($p->{last_line}, $ln, '... and names exactly that line');
}

# ---- lines removed, swapped, forged -----------------------------------------------

{
    my @c = @log;
    splice @c, $line_of_seq{22} - 1, 1;
    spew("$d/t", join '', @c);
    ($rc, $r) = verify("$d/t");
    my $p = one_problem('a record deleted', $r, $rc, 'removed', $line_of_seq{22});
    is($p->{seq}, 22, '... seq 22 is named missing');
}
{
    my @c = @log;
    my ($a, $b) = ($line_of_seq{7} - 1, $line_of_seq{8} - 1);
    @c[$a, $b] = @c[$b, $a];
    spew("$d/t", join '', @c);
    ($rc, $r) = verify("$d/t");
    one_problem('two records swapped', $r, $rc, 'reordered', $line_of_seq{8});
}
{
    my @c = @log;
    (my $forged = $log[$line_of_seq{5} - 1]) =~ s/"sub":"[^"]*"/"sub":"mallory"/;
    splice @c, $line_of_seq{20}, 0, $forged;   # after seq 20
    spew("$d/t", join '', @c);
    ($rc, $r) = verify("$d/t");
    my $p = one_problem('a forged record inserted', $r, $rc, 'inserted', $line_of_seq{20} + 1);
    my $orig = $line_of_seq{5};
    like($p->{message}, qr/first at line $orig\b/, '... naming the line it copies');
    is($r->{checkpoints_verified}, 4, '... and every checkpoint still verifies');
}
{
    my @c = @log;
    splice @c, 3, 0, "not json at all\n";
    spew("$d/t", join '', @c);
    ($rc, $r) = verify("$d/t");
    one_problem('a garbage line inserted', $r, $rc, 'inserted', 4);
}
{
    my @c = @log;
    $c[$line_of_seq{30} - 1] =~ s/^\{"seq":30,/{"seq":31,/;
    spew("$d/t", join '', @c);
    ($rc, $r) = verify("$d/t");
    one_problem('a seq field changed', $r, $rc, 'modified', $line_of_seq{30});
}

# ---- cut: the tail, a line in half -------------------------------------------------

{
    my $kept = $log[$cp_lines[-1] - 1];       # the newest checkpoint, kept by the auditor
    spew("$d/kept.line", $kept);
    spew("$d/kept.note", decode_json($kept)->{checkpoint});
    my @c = @log[0 .. $line_of_seq{25} - 1];  # the log cut after seq 25
    spew("$d/t", join '', @c);
    ($rc, $r) = verify("$d/t");
    is($rc, 0, 'a log cut at a line boundary still verifies on its own');
    ($rc, $r) = verify("$d/t", '--checkpoint', "$d/kept.line");
    my $p = one_problem('cut tail, kept checkpoint line', $r, $rc, 'truncated', scalar @c);
    like($p->{message}, qr/26 records.*covers 40/, '... saying how many are gone');
    ($rc, $r) = verify("$d/t", '--checkpoint', "$d/kept.note");
    one_problem('cut tail, kept note', $r, $rc, 'truncated', scalar @c);
    ($rc, $r) = verify("$d/log", '--checkpoint', "$d/kept.note");
    is($rc, 0, 'the whole log extends the kept checkpoint');
}
{
    my @c = @log;
    my $l = $c[$line_of_seq{12} - 1];
    $c[$line_of_seq{12} - 1] = substr($l, 0, int(length($l) / 2)) . "\n";
    spew("$d/t", join '', @c);
    ($rc, $r) = verify("$d/t");
    my $p = one_problem('a record cut in half', $r, $rc, 'torn', $line_of_seq{12});
    is($p->{seq}, 12, '... seq 12');
}
{
    my $all = slurp("$d/log");
    spew("$d/t", substr($all, 0, length($all) - 30));
    ($rc, $r) = verify("$d/t");
    one_problem('the last line cut short', $r, $rc, 'torn', scalar @log);
}

# ---- checkpoints: signature, size, key ----------------------------------------------

{
    my @c = @log;
    my $i = $cp_lines[1] - 1;
    $c[$i] =~ s/(\\n\\n\x{e2}\x{80}\x{94} test\/aigov \S{10})(\S)/$1 . ($2 eq 'A' ? 'B' : 'A')/e or die;
    spew("$d/t", join '', @c);
    ($rc, $r) = verify("$d/t");
    one_problem('a checkpoint signature altered', $r, $rc, 'bad signature', $i + 1);

    @c = @log;
    $c[$i] =~ s/^(\{"checkpoint":"test\/aigov\\n)20\\n/${1}21\\n/ or die;
    spew("$d/t", join '', @c);
    ($rc, $r) = verify("$d/t");
    one_problem('a checkpoint size altered', $r, $rc, 'bad signature', $i + 1);
}
($rc, $r) = run('audit', 'verify', '--key', "$d/wrong.pub", '--json', "$d/log");
$r = decode_json($r);
ok($rc == 1 && @{ $r->{problems} } == 4 && !grep({ $_->{reason} ne 'unknown key' } @{ $r->{problems} }),
   'the wrong key: every checkpoint is by an unknown key')
    or diag($json->encode($r));
is_deeply([map { $_->{line} } @{ $r->{problems} }], \@cp_lines, '... at each checkpoint line');

# ---- a second path: Perl recomputes the root, openssl checks the signature ---------

sub mth {
    my @h = @_;
    return sha256('') if !@h;
    return $h[0] if @h == 1;
    my $k = 1;
    $k <<= 1 while ($k << 1) < @h;
    return sha256("\x01" . mth(@h[0 .. $k - 1]) . mth(@h[$k .. $#h]));
}
{
    my $cpl = $log[$cp_lines[1] - 1];
    my $note = decode_json($cpl)->{checkpoint};
    utf8::encode($note);
    my ($body, $sigs) = $note =~ /\A(.*\n)\n(.*)\z/s or die;
    my ($origin, $size, $root) = split /\n/, $body;
    is($origin, 'test/aigov', 'the note names the origin');
    my @leaves;
    for my $l (@log) {
        next unless $l =~ /^\{"seq":/;
        (my $t = $l) =~ s/\n\z//;
        push @leaves, sha256("\x00" . $t);
    }
    is(unpack('H*', mth(@leaves[0 .. $size - 1])), unpack('H*', decode_base64($root)),
       "the root in checkpoint $size equals RFC 9162 recomputed in Perl");
    my ($name, $b64) = $sigs =~ /\A\x{e2}\x{80}\x{94} (\S+) (\S+)\n\z/ or die "sig line: $sigs";
    is($name, 'test/aigov', 'the signature line: em dash, key name');
    my $raw = decode_base64($b64);
    is(length $raw, 68, '... key ID and a 64-byte Ed25519 signature');
    my $der = `openssl pkey -pubin -in $d/k.pub -outform DER`;
    my $pub = substr($der, -32);
    is(unpack('H*', substr($raw, 0, 4)), unpack('H*', substr(sha256("test/aigov\n\x01" . $pub), 0, 4)),
       '... the key ID is SHA-256(name || 0x0A || 0x01 || key)[:4]');
    like($vkey, qr/\+\Q${\ unpack('H*', substr($raw, 0, 4))}\E\+/, '... the same ID as the vkey');
    spew("$d/body", $body);
    spew("$d/sig", substr($raw, 4));
    my $v = `openssl pkeyutl -verify -pubin -inkey $d/k.pub -rawin -in $d/body -sigfile $d/sig 2>&1`;
    like($v, qr/Signature Verified Successfully/, 'openssl verifies the note body signature');
    spew("$d/body", $body =~ s/\n$size\n/"\n" . ($size + 1) . "\n"/er);
    $v = `openssl pkeyutl -verify -pubin -inkey $d/k.pub -rawin -in $d/body -sigfile $d/sig 2>&1`;
    unlike($v, qr/Signature Verified Successfully/, '... and refuses a changed body');
}

# ---- the same answers on two threads as on one ------------------------------------

{
    ($rc, $out) = run('audit', '_generate', '--key', "$d/k", '--origin', 'test/aigov', '--records', 3000,
                      '--checkpoint-every', 100, '--lag', 5, "$d/par");
    is($rc, 0, 'a log of 3000 records') or diag($out);
    open my $f, '<', "$d/par" or die;
    my @l = <$f>;
    close $f;
    $l[500] =~ s/"sub":"[a-z-]+"/"sub":"mallory"/;     # modified
    splice(@l, 1200, 1);                               # removed
    @l[2000, 2001] = @l[2001, 2000];                   # reordered
    splice(@l, 2500, 0, $l[2400]);                     # inserted (a copy)
    open my $o, '>', "$d/par.bad" or die;
    print $o @l;
    close $o;
    for my $log ("$d/par", "$d/par.bad") {
        my @res = map { scalar `$AIGOV audit verify --key $d/k.pub --json --threads $_ $log 2>&1` } 1, 2, 4;
        ok(length($res[0]) > 100 && $res[0] eq $res[1], "$log: one thread and two give the same report");
        is($res[2], $res[0], "$log: and four");
    }
    for my $bad ('0', '17', 'two', '', '2x') {
        my $o = `$AIGOV audit verify --key $d/k.pub --threads '$bad' $d/par 2>&1`;
        is($? >> 8, 2, "--threads '$bad' is a usage error");
        like($o, qr/--threads wants a number from 1 to 16/, '... that says what it wants') if $bad eq 'two';
    }
    like(scalar `$AIGOV audit verify --key $d/k.pub --threads 2 $d/par.bad 2>&1`,
         qr/modified.*\n.*removed|removed.*\n.*modified/s, 'and two threads find the changes');
}

# ---- rotation: files continue one tree -----------------------------------------------

($rc, $out) = run('audit', '_generate', '--key', "$d/k", '--origin', 'test/aigov', '--records', 50,
                  '--checkpoint-every', 7, '--lag', 3, '--split', 20, "$d/rot");
is($rc, 0, 'generate a rotated log') or diag($out);
like(slurp("$d/rot.1"), qr/\A\{"checkpoint":"test\/aigov\\n20\\n[^"]*\\naigov-range /,
     'a new file starts with the carry-over checkpoint');
($rc, $r) = verify(["$d/rot.0", "$d/rot.1", "$d/rot.2"]);
ok($rc == 0 && $r->{records} == 50, 'the files verify as one log, oldest first') or diag($json->encode($r));
($rc, $r) = verify(["$d/rot.1", "$d/rot.2"]);
ok($rc == 0 && $r->{start_size} == 20, 'the newer files verify from their signed start')
    or diag($json->encode($r));
($rc, $r) = verify(["$d/rot.0", "$d/rot.2"]);
is($rc, 1, 'a file left out in the middle is found');
is($r->{problems}[0]{reason}, 'removed', '... as removed records');
($rc, $r) = verify(["$d/rot.2", "$d/rot.0", "$d/rot.1"]);
ok($rc == 0 && $r->{records} == 50 && join(',', @{ $r->{files} }) eq "$d/rot.0,$d/rot.1,$d/rot.2",
   'files given in any order are read in tree order') or diag($json->encode($r));
# a file whose carry-over says it starts elsewhere than its records do is
# still caught: the order only decides what is read first
{
    open my $f, '<', "$d/rot.1" or die;
    my @l = <$f>;
    close $f;
    open my $o, '>', "$d/rot1.swapped" or die;
    print $o $l[0], @l[2, 1], @l[3 .. $#l];
    close $o;
    ($rc, $r) = verify(["$d/rot.2", "$d/rot.0", "$d/rot1.swapped"]);
    is($rc, 1, 'records swapped inside a file are still found');
}

# a record of a newer file is proven from that file on: the carry-over
# checkpoint stands for the files before it
{
    my ($rc_all, $all) = run('audit', 'prove', "$d/rot.0", "$d/rot.1", "$d/rot.2", '--seq', 30);
    my ($rc_new, $new) = run('audit', 'prove', "$d/rot.1", "$d/rot.2", '--seq', 30);
    is($rc_new, 0, 'prove a record from the newer files alone') or diag($new);
    my ($pa, $pn) = map { eval { decode_json($_) } // {} } $all, $new;
    ok($rc_all == 0 && @{ $pn->{proof} // [] } > 0
       && join(',', @{ $pn->{proof} }) eq join(',', @{ $pa->{proof} // [] })
       && $pn->{tree_size} == $pa->{tree_size} && $pn->{root} eq $pa->{root},
       '... the same proof as from all the files');
    my ($line30) = grep { /^\{"seq":30,/ } split /\n/, slurp("$d/rot.1") . slurp("$d/rot.2");
    spew("$d/rot-proof.json", $new);
    spew("$d/rot-rec30", "$line30\n");
    my ($rc_chk, $chk) = run('audit', 'check-proof', '--key', "$d/k.pub", "$d/rot-proof.json",
                             '--line', "$d/rot-rec30");
    is($rc_chk, 0, '... and check-proof accepts it') or diag($chk);
    my ($rc_old, $old) = run('audit', 'prove', "$d/rot.1", "$d/rot.2", '--seq', 5);
    ok($rc_old == 1 && $old =~ /before these files/, 'a record before the files asks for them')
        or diag($old);
}

# ---- proofs ------------------------------------------------------------------------------

($rc, $out) = run('audit', 'prove', "$d/log", '--seq', 17);
is($rc, 0, 'prove seq 17');
spew("$d/proof.json", $out);
my $proof = eval { decode_json($out) } // {};
ok($proof->{leaf_index} == 17 && $proof->{tree_size} == 40 && @{ $proof->{proof} } > 0, '... an RFC 9162 proof');
spew("$d/rec17", $log[$line_of_seq{17} - 1]);
spew("$d/rec18", $log[$line_of_seq{18} - 1]);
($rc, $out) = run('audit', 'check-proof', '--key', "$d/k.pub", "$d/proof.json", '--line', "$d/rec17");
is($rc, 0, 'check-proof accepts it with its record line') or diag($out);
($rc) = run('audit', 'check-proof', '--key', "$d/k.pub", "$d/proof.json", '--line', "$d/rec18");
is($rc, 1, '... and not with another record');
($rc) = run('audit', 'check-proof', '--key', "$d/wrong.pub", "$d/proof.json");
is($rc, 1, '... nor with another key');
$proof->{proof}[0] =~ tr/0-9a-f/1-9a-f0/;
spew("$d/proof2.json", encode_json($proof));
($rc) = run('audit', 'check-proof', '--key', "$d/k.pub", "$d/proof2.json");
is($rc, 1, '... nor with a changed proof hash');
($rc) = run('audit', 'prove', "$d/log", '--seq', 40);
is($rc, 1, 'no proof for a record no checkpoint covers');

# ---- show and usage --------------------------------------------------------------------------

my $alice = grep { /"sub":"alice"/ } @log;
($rc, $out) = run('audit', 'show', "$d/log", '--sub', 'alice', '--json');
is(scalar(() = $out =~ /^\{"seq":/mg), $alice, "show --sub alice lists alice's $alice records");
($rc, $out) = run('audit', 'show', "$d/log", '--decision', 'deny', '--since', '2024-05-01T12:00:00.030Z');
ok($rc == 0 && $out !~ /\ballow\b/ && $out =~ /\bdeny\b/, 'show --decision deny --since');
($rc) = run('audit', 'verify', "$d/log");
is($rc, 2, 'verify without --key is a usage error');
($rc) = run('audit', 'verify', '--key', "$d/k.pub", "$d/nonexistent");
is($rc, 2, 'a missing log is an I/O error');
($rc) = run('audit', 'verify', '--key', "$d/log", "$d/log");
is($rc, 2, 'a key that is no key is a usage error');

done_testing();
