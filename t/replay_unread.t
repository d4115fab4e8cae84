#!/usr/bin/perl
# `aigov policy replay` decides what the gateway could not read as the
# gateway did. Token ids and a text file that does not decode are refused
# 403 uninspectable under a rule with request filters, unless the rule says
# uninspectable: allow; the admission or refusal record says "unread", so a
# replay against a policy without the opt-out refuses what was admitted,
# one with it admits what was refused, and the policy that wrote the log
# changes nothing. The answers asked for ("n") are replayed too: they share
# max_tokens and count against max_n. A Responses answer written in the
# background (not streamed) is refused as uninspectable under a rule with
# answer filters, since it is fetched later where none reads it; its record
# says "background":true and replays alike. The log still verifies.

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
for ("$root/build/plugins/blocklist.so", $aigov) {
    die "$_ is missing: run make build first\n" unless -f $_;
}

my $t = AigovTest->new;
my $d = $t->dir;
my ($key, $pub) = AigovJWT::keypair($d, 'k', 'p256');
system("$aigov keygen --out $d/audit.key --name test.example/aigov >/dev/null 2>&1") == 0 or die 'keygen';

# %s: what the rules "tools" and "strict" say about requests they cannot
# read, the answers "few" allows, and what "late" says about answers it
# cannot read
my $POLICY = <<'YAML';
version: 1
default: deny
rules:
  - name: tools
    when:
      groups: [tools]
    filters:
      - plugin: blocklist
        stages: [request]
        action: block
        config: {terms: ["project neptune"]}
%s    decision: allow
  - name: strict
    when:
      groups: [strict]
    filters:
      - plugin: blocklist
        stages: [request]
        action: block
        config: {terms: ["project neptune"]}
%s    decision: allow
  - name: capped
    when:
      groups: [capped]
    limits:
      max_prompt_chars: 1000
    decision: allow
  - name: few
    when:
      groups: [few]
    limits:
%s      max_tokens: 1000
    decision: allow
  - name: late
    when:
      groups: [late]
    filters:
      - plugin: blocklist
        stages: [response]
        action: block
        config: {terms: ["project neptune"]}
%s    decision: allow
YAML
my $OPT = "    uninspectable: allow\n";
sub policy {
    my ($name, $tools, $strict, $few, $late) = @_;
    return $t->write_file($name, sprintf($POLICY, $tools, $strict, $few, $late // ''));
}
my $live = policy('live.yaml', $OPT, '', '');
my $closed = policy('closed.yaml', '', '', '');           # tools loses its opt-out
my $open = policy('open.yaml', $OPT, $OPT, '', $OPT);     # strict and late gain one
my $fewer = policy('fewer.yaml', $OPT, '', "      max_n: 2\n");

$t->write_conf($t->gateway_conf(
    http => "aigov_plugin blocklist $root/build/plugins/blocklist.so;"
          . " aigov_audit_log $d/audit.log; aigov_audit_key $d/audit.key;"
          . " aigov_audit_origin test.example/aigov;",
    location => "aigov_policy $live; aigov_jwt_key $pub;"));
$t->start_mock;
$t->start_nginx;

my %tok = map { $_ => AigovJWT::mint(alg => 'ES256', key => $key,
                                     claims => { sub => "u-$_", groups => [$_] }) }
          qw(tools strict capped few late);

# "Tell me about project neptune" in cl100k
my $IDS = '[41551,757,922,2447,841,53014]';
my $latin1 = encode_base64("caf\xe9 project neptune", '');
my %sent;
for my $c (
    # name, group, path, body, status
    ['tools ids',      'tools', '/v1/completions', qq({"model":"m","prompt":$IDS}), 200],
    ['tools embed',    'tools', '/v1/embeddings', qq({"model":"e","input":[$IDS]}), 200],
    ['tools file',     'tools', '/v1/responses',
     qq({"model":"m","input":[{"role":"user","content":[{"type":"input_file","filename":"n.txt",)
     . qq("file_data":"data:text/plain;base64,$latin1"}]}]}), 200],
    ['tools unknown',  'tools', '/v1/assistants', '{"name":"x"}', undef],
    ['strict ids',     'strict', '/v1/completions', qq({"model":"m","prompt":["Hello",$IDS]}), 403],
    ['strict text',    'strict', '/v1/completions', '{"model":"m","prompt":"Hello"}', 200],
    ['capped ids',     'capped', '/v1/completions', qq({"model":"m","prompt":$IDS}), 200],
    ['few four',       'few', '/v1/chat/completions',
     '{"model":"m","n":4,"max_tokens":100,"messages":[{"role":"user","content":"hi"}]}', 200],
    ['few four large', 'few', '/v1/chat/completions',
     '{"model":"m","n":4,"max_tokens":400,"messages":[{"role":"user","content":"hi"}]}', 403],
    ['late bg',        'late', '/v1/responses', '{"model":"m","input":"hi","background":true}', 403],
    ['late bg stream', 'late', '/v1/responses',
     '{"model":"m","input":"hi","background":true,"stream":true}', 200],
    ['late plain',     'late', '/v1/responses', '{"model":"m","input":"hi","background":false}', 200],
) {
    my ($name, $g, $path, $body, $want) = @$c;
    my $r = $t->request('POST', $path, body => $body,
                        headers => { Authorization => "Bearer $tok{$g}" });
    # an endpoint of no known kind goes to the mock, which does not know it
    is($r->{status}, $want // 404, "gateway: $name -> " . ($want // 'admitted')) or diag($r->{body});
    $sent{$name} = $r->{headers}{'x-aigov-request-id'};
    if (($want // 0) == 403) {
        my $code = (AigovTest::json($r) // {})->{error}{code} // '';
        is($code, $name =~ /ids|bg/ ? 'uninspectable' : 'max_tokens_exceeded', "gateway: $name: code $code");
    }
}
$t->stop_nginx;

open my $f, '<', "$d/audit.log" or die "audit.log: $!";
my @recs = map { decode_json($_) } grep { /^\{"seq"/ } <$f>;
close $f;
my %rec = map { $_->{id} => $_ } grep { ($_->{phase} // '') =~ /^(admit|deny)$/ } @recs;
my %seq = map { $_ => ($rec{ $sent{$_} // '' } // {})->{seq} } keys %sent;

sub rec_of { return $rec{ $sent{ $_[0] } // '' } // {} }
is(rec_of('tools ids')->{phase}, 'admit', 'record: token ids admitted');
is(rec_of('tools ids')->{unread}, 'token_ids', 'record: "unread":"token_ids"');
is(rec_of('tools embed')->{unread}, 'token_ids', 'record: embeddings of token ids, unread');
is(rec_of('tools file')->{unread}, 'text_file', 'record: "unread":"text_file"');
is(rec_of('strict ids')->{phase}, 'deny', 'record: token ids refused');
is(rec_of('strict ids')->{unread}, 'token_ids', 'record: the refusal says unread too');
is_deeply(rec_of('strict ids')->{filters}, [], 'record: refused before any filter ran');
ok(!exists rec_of('strict text')->{unread}, 'record: a request read whole has no "unread"');
ok(!exists rec_of('tools unknown')->{unread}, 'record: a body not read at all has no "unread"');
is(rec_of('tools unknown')->{inspected}, JSON::PP::false, 'record: ... it is "inspected":false');
is(rec_of('few four')->{n}, 4, 'record: "n":4');
is(rec_of('few four large')->{n}, 4, 'record: "n":4 on the refusal');
ok(!exists rec_of('strict text')->{n}, 'record: one answer, no "n"');
is(rec_of('late bg')->{phase}, 'deny', 'record: a background answer refused');
is(rec_of('late bg')->{background}, JSON::PP::true, 'record: "background":true');
ok(!exists rec_of('late bg stream')->{background}, 'record: streamed, the answer comes here: no "background"');
ok(!exists rec_of('late plain')->{background}, 'record: background false: no "background"');

sub replay {
    my ($policy) = @_;
    my $out = `'$aigov' policy replay --json '$policy' '$d/audit.log' 2>&1`;
    my $rc = $? >> 8;
    my $j = eval { decode_json($out) };
    ok($j, "replay $policy: JSON") or diag($out);
    is(scalar @{ $j->{unreadable_lines} // [] }, 0, "replay $policy: every line read");
    is($j->{compared}, 12, "replay $policy: every request compared") or diag($out);
    return ($rc, { map { $_->{seq} => $_ } @{ $j->{changes} // [] } });
}
sub changed_names {
    my ($ch) = @_;
    my %name_of = reverse %seq;
    return [ sort map { $name_of{$_} // "seq $_" } keys %$ch ];
}

# the policy that wrote the log: nothing changes, refusals included
my ($rc, $ch) = replay($live);
is($rc, 0, 'replay, the live policy: exit 0');
is_deeply(changed_names($ch), [], 'replay, the live policy: nothing changes');

# without the opt-out: what tools admitted unread is refused
($rc, $ch) = replay($closed);
is($rc, 1, 'replay, no opt-out: exit 1');
is_deeply(changed_names($ch), [ 'tools embed', 'tools file', 'tools ids', 'tools unknown' ],
          'replay, no opt-out: the requests admitted unread change, no other');
for my $n ('tools ids', 'tools embed', 'tools file') {
    my $c = $ch->{ $seq{$n} // -1 } // {};
    is($c->{recorded}{decision}, 'allow', "replay, no opt-out: $n was admitted");
    is($c->{now}{decision}, 'deny', "replay, no opt-out: $n is refused");
    is($c->{now}{code}, 'uninspectable', "replay, no opt-out: $n: code uninspectable");
    is($c->{now}{rule}, 'tools', "replay, no opt-out: $n: by the same rule");
}
like(($ch->{ $seq{'tools ids'} // -1 } // {})->{now}{message} // '',
     qr/cannot read part of this request \(token ids/, 'replay: the message the gateway gives');
like(($ch->{ $seq{'tools file'} // -1 } // {})->{now}{message} // '', qr/text file/,
     'replay: a text file is named as one');

# the reverse: with the opt-out the refusal would be admitted
($rc, $ch) = replay($open);
is($rc, 1, 'replay, opt-out: exit 1');
is_deeply(changed_names($ch), [ 'late bg', 'strict ids' ], 'replay, opt-out: only the refusals change');
is(($ch->{ $seq{'late bg'} // -1 } // {})->{now}{decision}, 'allow', 'replay, opt-out: the background answer is admitted');
my $c = $ch->{ $seq{'strict ids'} // -1 } // {};
is($c->{recorded}{decision}, 'deny', 'replay, opt-out: it was refused');
is($c->{now}{decision}, 'allow', 'replay, opt-out: it is admitted');
is($c->{now}{rule}, 'strict', 'replay, opt-out: by its rule');

# max_n: the four answers admitted are too many now; the refusal stays one
($rc, $ch) = replay($fewer);
is($rc, 1, 'replay, max_n 2: exit 1');
is_deeply(changed_names($ch), [ 'few four' ], 'replay, max_n 2: the request of four answers changes');
is(($ch->{ $seq{'few four'} // -1 } // {})->{now}{code}, 'n_exceeded', 'replay, max_n 2: n_exceeded');

# the report counts the allowed requests by what no filter read
my $rep = eval { decode_json(scalar `'$aigov' audit report --json '$d/audit.log' 2>/dev/null`) } // {};
is_deeply($rep->{allowed_unread},
          { body => 1, token_ids => 3, text_file => 1, other_text => 0, image => 0, audio => 0, file => 0,
            background_answer => 0 },
          'report: allowed requests by what no filter read') or diag(explain($rep->{allowed_unread}));

my $verify = `'$aigov' audit verify --key '$d/audit.key.pub' '$d/audit.log' 2>&1`;
is($? >> 8, 0, 'the log verifies') or diag($verify);

$t->done;
done_testing;
