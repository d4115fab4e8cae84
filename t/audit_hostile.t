#!/usr/bin/perl
# The audit log holds whatever a caller sends and still verifies: claims
# nested as deep as a signed token may carry them, line separators in
# claims, models and paths, and paths that are not UTF-8 (%FF). No request
# goes without a record, in either aigov_audit_fail mode.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Encode qw(decode encode);
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
  - name: users
    when:
      groups: [users]
    decision: allow
YAML

sub conf {
    my ($log, $fail) = @_;
    return $t->gateway_conf(
        http => "aigov_audit_log $log; aigov_audit_key $d/audit.key; aigov_audit_origin test.example/aigov;"
              . " aigov_audit_checkpoint 1000 1s; aigov_audit_fail $fail; large_client_header_buffers 4 32k;",
        location => "aigov_policy $d/policy.yaml; aigov_jwt_key $pub;");
}

sub nested {
    my ($depth) = @_;   # an object $depth levels deep, the outermost counting 1
    my $v = { leaf => "bottom" };
    $v = { k => [$v] } for 1 .. int(($depth - 1) / 2);
    $v = { k => $v } if ($depth - 1) % 2;
    return $v;
}

sub records {
    my ($log) = @_;
    open my $f, '<', $log or return ();
    return map { decode_json($_) } grep { /^\{"seq"/ } <$f>;
}

sub verify {
    my ($log, $name) = @_;
    my $out = `$aigov audit verify --key $d/audit.key.pub $log 2>&1`;
    is($? >> 8, 0, "$name: aigov audit verify passes") or diag($out);
}

my $chat = { model => 'gpt-4o-mini', messages => [ { role => 'user', content => 'hi' } ] };

$t->start_mock;
for my $fail (qw(closed open)) {
    my $log = "$d/$fail.log";
    $t->write_conf(conf($log, $fail));
    $t->start_nginx;

    # claims as deep as the token's JSON goes: the record keeps what the
    # verifier reads and summarises below that
    my %seen;
    for my $depth (62, 63, 64, 100) {
        my $tok = AigovJWT::mint(alg => 'ES256', key => $key,
                                 claims => { sub => "deep$depth", groups => ['users'], x => nested($depth) });
        my $r = $t->request('POST', '/v1/chat/completions', body => $chat,
                            headers => { Authorization => "Bearer $tok" });
        is($r->{status}, 200, "$fail: claims nested $depth deep: served");
        $seen{$depth} = $r->{headers}{'x-aigov-request-id'};
    }

    # line separators from the caller: in a claim, the model, the path
    my $ls = "a\x{2028}b\x{2029}c\x{85}d\x{0B}e\x{0C}f\rg\x{1C}h";
    # (AigovJWT encodes characters as they come: give it UTF-8 bytes)
    my $tok = AigovJWT::mint(alg => 'ES256', key => $key,
                             claims => { sub => encode('UTF-8', "sep$ls"), groups => ['users'],
                                         name => encode('UTF-8', $ls) });
    my $r = $t->request('POST', '/v1/chat/completions', headers => { Authorization => "Bearer $tok" },
                        body => { %$chat, model => "gpt$ls" });
    # a model name with such characters is refused (400 invalid_model);
    # the refusal is recorded like any other
    is($r->{status}, 400, "$fail: separators in claims and model: refused as an invalid model");
    $r = $t->request('GET', '/v1/models%E2%80%A8%C2%85x', headers => { Authorization => "Bearer $tok" });
    ok($r->{status} > 0, "$fail: separators in the path: answered ($r->{status})");

    # a path that is not UTF-8, admitted and refused
    my $user = AigovJWT::mint(alg => 'ES256', key => $key, claims => { sub => 'ff', groups => ['users'] });
    my $ff = $t->request('GET', '/v1/models%FF%C3x', headers => { Authorization => "Bearer $user" });
    isnt($ff->{status}, 503, "$fail: a path with %FF is not refused for want of a record ($ff->{status})");
    my $ffid = $ff->{headers}{'x-aigov-request-id'};
    my $ffd = $t->request('POST', '/v1/chat%FF/completions', body => $chat);
    ok($ffd->{status} == 400 || $ffd->{status} == 401, "$fail: a POST to a path with %FF: refused ($ffd->{status})");
    my $ffdid = $ffd->{headers}{'x-aigov-request-id'};

    $t->stop_nginx;

    verify($log, $fail);
    my @recs = records($log);
    my %by = map { ($_->{id} // '') . '/' . ($_->{phase} // '') => $_ } @recs;
    for my $depth (62, 63, 64, 100) {
        my $rec = $by{"$seen{$depth}/admit"};
        ok($rec, "$fail: claims $depth deep: admission record written") or next;
        my $deepest = 0;
        my $walk;
        $walk = sub { my ($v, $lvl) = @_;
                      $deepest = $lvl if ref $v && $lvl > $deepest;
                      $walk->($_, $lvl + 1) for ref $v eq 'HASH' ? values %$v : ref $v eq 'ARRAY' ? @$v : () };
        $walk->($rec->{claims}{x}, 3);   # record 1, claims 2, x 3
        if ($depth + 2 <= 64) {
            is_deeply($rec->{claims}{x}, nested($depth), "$fail: claims $depth deep: recorded whole");
        } else {
            is($deepest, 64, "$fail: claims $depth deep: recorded down to the log's 64 levels");
            like(encode_json($rec->{claims}), qr/"\[nested too deep\]"/, "$fail: claims $depth deep: and marked below");
        }
        ok($by{"$seen{$depth}/done"}, "$fail: claims $depth deep: completion record written");
    }
    my ($sep) = grep { ($_->{sub} // '') eq "sep$ls" } @recs;
    ok($sep, "$fail: separators: the subject is recorded as sent");
    is($sep && $sep->{model}, "gpt$ls", "$fail: separators: the model as sent");
    is($sep && $sep->{claims}{name}, $ls, "$fail: separators: the claim as sent");
    ok((grep { ($_->{path} // '') eq "/v1/models\x{2028}\x{85}x" } @recs), "$fail: separators: the path as sent");

    # line-oriented tools (Python's splitlines, JavaScript, Unicode's
    # mandatory breaks) see one line per record or checkpoint
    open my $f, '<:raw', $log or die;
    my $raw = do { local $/; <$f> };
    my $lines = () = $raw =~ /\n/g;
    my $text = decode('UTF-8', $raw, Encode::FB_CROAK);
    my @split = split /\r\n|[\n\r\x0B\x0C\x1C-\x1E\x{85}\x{2028}\x{2029}]/, $text;
    is(scalar @split, $lines, "$fail: every line breaker in the file ends a record ($lines lines)");

    my $ffrec = $by{"$ffid/admit"} // $by{"$ffid/deny"};
    ok($ffrec, "$fail: the %FF request has its record");
    is($ffrec && $ffrec->{path}, '/v1/models%FF%C3x', "$fail: its path written %XX where it is not UTF-8");
    my $ffdrec = $by{"$ffdid/deny"};
    ok($ffdrec, "$fail: the refused %FF request has its record");
    is($ffdrec && $ffdrec->{path}, '/v1/chat%FF/completions', "$fail: its path likewise");
}

$t->done;
done_testing;
