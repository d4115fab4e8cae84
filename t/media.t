#!/usr/bin/perl
# Binary media no filter reads (images, audio, files that are not text):
# the gateway finds them in every API shape, a rule's `when: media` takes
# the requests that carry them (a deny rule in front keeps PDFs from a
# group that may only send text the pii filter reads), the admission or
# refusal record lists them ("media"), and `aigov policy replay` decides
# them alike: the policy that wrote the log changes nothing, one without
# the rule admits what was refused. The log still verifies.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use MIME::Base64 qw(encode_base64);
use AigovTest;
use AigovJWT;

my $root = AigovTest::root();
my $aigov = "$root/build/aigov";
for ("$root/build/plugins/pii.so", $aigov) {
    die "$_ is missing: run make build first\n" unless -f $_;
}

my $t = AigovTest->new;
my $d = $t->dir;
my ($key, $pub) = AigovJWT::keypair($d, 'k', 'p256');
system("$aigov keygen --out $d/audit.key --name test.example/aigov >/dev/null 2>&1") == 0 or die 'keygen';

my $RULES = <<'YAML';
  - name: pictures
    when:
      groups: [support]
      media: [image]
      models: [vision]
    filters:
      - {plugin: pii, stages: [request], action: redact}
    decision: allow
  - name: support
    when:
      groups: [support]
    filters:
      - {plugin: pii, stages: [request], action: redact}
    decision: allow
YAML
my $DENY = <<'YAML';
  - name: no-files
    when:
      groups: [support]
      media: [file, audio]
    decision: deny
    reason: files and audio cannot be checked for personal data; paste the text
YAML
my $live = $t->write_file('live.yaml', "version: 1\ndefault: deny\nrules:\n$DENY$RULES");
my $open = $t->write_file('open.yaml', "version: 1\ndefault: deny\nrules:\n$RULES");

$t->write_conf($t->gateway_conf(
    max_body => '4m',
    http => "aigov_plugin pii $root/build/plugins/pii.so;"
          . " aigov_audit_log $d/audit.log; aigov_audit_key $d/audit.key;"
          . " aigov_audit_origin test.example/aigov;",
    location => "aigov_policy $live; aigov_jwt_key $pub;"));
$t->start_mock;
$t->start_nginx;

my $tok = AigovJWT::mint(alg => 'ES256', key => $key,
                         claims => { sub => 'sam', groups => ['support'] });

# a PDF whose text is an address: a filter reads base64 noise, not it
my $PDF = encode_base64("%PDF-1.4\n1 0 obj << /Length 44 >> stream\nBT (carol.jones\@example.org) Tj ET\n"
                        . "endstream endobj\n%%EOF\n" . ("\0\xff" x 16), '');
my $PNG = encode_base64("\x89PNG\r\n\x1a\n" . ("\0" x 32), '');
my $WAV = encode_base64('RIFF' . ("\0" x 40), '');
my $TXT = encode_base64("notes for carol.jones\@example.org\n", '');

my @cases = (
    # name, path, body, media, status
    ['chat text', '/v1/chat/completions',
     '{"model":"mini","messages":[{"role":"user","content":"hi"}]}', [], 200],
    ['chat image by URL', '/v1/chat/completions',
     '{"model":"vision","messages":[{"role":"user","content":[{"type":"text","text":"what is this"},'
     . '{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]}]}', ['image'], 200],
    ['chat image inline, another model', '/v1/chat/completions',
     '{"model":"mini","messages":[{"role":"user","content":[{"type":"image_url","image_url":'
     . qq({"url":"data:image/png;base64,$PNG"}}]}]}), ['image'], 200],
    ['chat PDF inline', '/v1/chat/completions',
     '{"model":"mini","messages":[{"role":"user","content":[{"type":"file","file":{"filename":"a.pdf",'
     . qq("file_data":"data:application/pdf;base64,$PDF"}}]}]}), ['file'], 403],
    ['chat file by id', '/v1/chat/completions',
     '{"model":"mini","messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-abc"}}]}]}',
     ['file'], 403],
    ['chat audio', '/v1/chat/completions',
     '{"model":"mini","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":'
     . qq({"data":"$WAV","format":"wav"}}]}]}), ['audio'], 403],
    ['chat text file, read', '/v1/chat/completions',
     '{"model":"mini","messages":[{"role":"user","content":[{"type":"file","file":{"filename":"n.txt",'
     . qq("file_data":"data:text/plain;base64,$TXT"}}]}]}), [], 200],
    ['responses input_file by URL', '/v1/responses',
     '{"model":"mini","input":[{"role":"user","content":[{"type":"input_file",'
     . '"file_url":"https://example.com/report.pdf"}]}]}', ['file'], 403],
    ['responses image and PDF', '/v1/responses',
     '{"model":"vision","input":[{"role":"user","content":[{"type":"input_image","file_id":"file-img"},'
     . qq({"type":"input_file","filename":"a.pdf","file_data":"data:application/pdf;base64,$PDF"}]}]}),
     ['image', 'file'], 403],
    ['anthropic PDF document', '/v1/messages',
     '{"model":"mini","max_tokens":50,"messages":[{"role":"user","content":[{"type":"document",'
     . qq("source":{"type":"base64","media_type":"application/pdf","data":"$PDF"}},{"type":"text","text":"sum up"}]}]}),
     ['file'], 403],
    ['anthropic text document', '/v1/messages',
     '{"model":"mini","max_tokens":50,"messages":[{"role":"user","content":[{"type":"document",'
     . '"source":{"type":"text","media_type":"text/plain","data":"notes"}}]}]}', [], 200],
    ['anthropic image', '/v1/messages',
     '{"model":"vision","max_tokens":50,"messages":[{"role":"user","content":[{"type":"image",'
     . qq("source":{"type":"base64","media_type":"image/png","data":"$PNG"}}]}]}), ['image'], 200],
    # the words alone are text, not media
    ['a URL and the word image_url in text', '/v1/chat/completions',
     '{"model":"mini","messages":[{"role":"user","content":"see https://example.com/a.pdf, type image_url"}]}',
     [], 200],
);

my %sent;
for my $c (@cases) {
    my ($name, $path, $body, $media, $want) = @$c;
    my $r = $t->request('POST', $path, body => $body, headers => { Authorization => "Bearer $tok" });
    is($r->{status}, $want, "gateway: $name -> $want") or diag($r->{body});
    $sent{$name} = $r->{headers}{'x-aigov-request-id'};
    if ($want == 403) {
        my $err = (AigovTest::json($r) // {})->{error} // {};
        my $code = $path eq '/v1/messages' ? $err->{details}{error_code} : $err->{code};
        is($code, 'denied', "gateway: $name: code denied");
        like($err->{message} // '', qr/cannot be checked for personal data/, "gateway: $name: the rule's reason");
        ok(!exists $r->{headers}{'x-mock-body-sha256'}, "gateway: $name: the model API was not called");
    }
}
$t->stop_nginx;

open my $f, '<', "$d/audit.log" or die "audit.log: $!";
my @recs = map { decode_json($_) } grep { /^\{"seq"/ } <$f>;
close $f;
my %rec = map { $_->{id} => $_ } grep { ($_->{phase} // '') =~ /^(admit|deny)$/ } @recs;
my %seq;
for my $c (@cases) {
    my ($name, undef, undef, $media, $want) = @$c;
    my $r = $rec{ $sent{$name} // '' } // {};
    $seq{$name} = $r->{seq};
    is($r->{phase}, $want == 200 ? 'admit' : 'deny', "record: $name: " . ($want == 200 ? 'admitted' : 'refused'));
    if (@$media) {
        is_deeply($r->{media}, $media, "record: $name: \"media\":[@$media]");
    } else {
        ok(!exists $r->{media}, "record: $name: no \"media\"");
    }
}
is(($rec{ $sent{'chat image by URL'} // '' } // {})->{rule}, 'pictures', 'record: an image to the vision model: rule pictures');
is(($rec{ $sent{'chat image inline, another model'} // '' } // {})->{rule}, 'support',
   'record: an image to another model: the next rule');

sub replay {
    my ($policy) = @_;
    my $out = `'$aigov' policy replay --json '$policy' '$d/audit.log' 2>&1`;
    my $rc = $? >> 8;
    my $j = eval { decode_json($out) };
    ok($j, "replay $policy: JSON") or diag($out);
    is($j->{compared}, scalar @cases, "replay $policy: every request compared") or diag($out);
    return ($rc, [ sort { $a <=> $b } map { $_->{seq} } @{ $j->{changes} // [] } ]);
}
my ($rc, $ch) = replay($live);
is($rc, 0, 'replay, the live policy: exit 0');
is_deeply($ch, [], 'replay, the live policy: nothing changes');
($rc, $ch) = replay($open);
is($rc, 1, 'replay, without the rule: exit 1');
is_deeply($ch, [ sort { $a <=> $b } map { $seq{ $_->[0] } } grep { $_->[4] == 403 } @cases ],
          'replay, without the rule: exactly the refused requests change');

# explain reads a real body as the gateway does
my $req = $t->write_file('req.json', $cases[3][2]);
my $out = `'$aigov' policy explain '$live' --claims '{"sub":"sam","groups":["support"]}' --request '$req' 2>&1`;
like($out, qr/media file/, 'explain: the request carries a file');
like($out, qr/decision: deny \(rule no-files\)/, 'explain: denied by no-files') or diag($out);

# the report counts the allowed requests by what no filter read
my $rep = eval { decode_json(scalar `'$aigov' audit report --json '$d/audit.log' 2>/dev/null`) } // {};
my %want;
for my $c (grep { $_->[4] == 200 } @cases) { $want{$_}++ for @{ $c->[3] } }
is_deeply({ map { $_ => $rep->{allowed_unread}{$_} } qw(image audio file) },
          { image => $want{image} // 0, audio => 0, file => 0 },
          'report: the allowed images counted, the refused files not') or diag(explain($rep->{allowed_unread}));

my $v = `'$aigov' audit verify --key '$d/audit.key.pub' '$d/audit.log' 2>&1`;
is($?, 0, 'the log verifies') or diag($v);

$t->done;
done_testing();
