#!/usr/bin/perl
# Policy warnings: `aigov policy check` reports them with file:line:col and
# the rule that causes them, passes with them, fails with --strict, gives
# them in --json; nginx -t logs them and still passes. A request naming a
# model with characters no model name holds is refused before any rule.

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
my ($key, $pub) = AigovJWT::keypair($d, 'k', 'rsa');

my $policy = $t->write_file('policy.yaml', <<'EOF');
version: 1
default: deny
rules:
  - name: interns-deny
    when:
      groups: [interns]
    decision: deny
  - name: interns-mini
    when:
      groups: [interns]
      models: [gpt-4o-mini]
    decision: allow
  - name: engineers
    when:
      groups: [engineers]
      models: ["gpt-4o*"]
    decision: allow
  - name: list-models
    when:
      endpoints: [/v1/models]
    limits:
      max_prompt_chars: 1000
    decision: allow
EOF
my $clean = $t->write_file('clean.yaml', <<'EOF');
version: 1
default: deny
rules:
  - name: engineers
    when:
      groups: [engineers]
      models: ["gpt-4o*"]
    decision: allow
EOF

my @want = (
    qr/^\Q$policy\E:8:5: warning: rule 'interns-mini' can never match: rule 'interns-deny' \(\Q$policy\E:4:5\) comes before it and denies every request it would match$/m,
    qr/^\Q$policy\E:22:7: warning: max_prompt_chars has no effect in rule 'list-models': its endpoints \(\/v1\/models\) carry no prompt$/m,
);

# ---- aigov policy check ---------------------------------------------------
my $out = `$aigov policy check $policy 2>&1`;
is($? >> 8, 0, 'check passes with warnings') or diag($out);
like($out, $_, 'check: warning with its place and rule') for @want;
like($out, qr/^\Q$policy\E: ok, 4 rules, sha256 [0-9a-f]{64}, 2 warnings$/m, 'check: summary counts them');

$out = `$aigov policy check --strict $policy 2>&1`;
is($? >> 8, 1, '--strict: warnings fail the check') or diag($out);
like($out, $_, '--strict: the warning is printed') for @want;
like($out, qr/^\Q$policy\E: 2 warnings, which --strict makes errors$/m, '--strict: says why');

$out = `$aigov policy check --strict $clean 2>&1`;
is($? >> 8, 0, '--strict passes a policy without warnings') or diag($out);

$out = `$aigov policy check --strict --json $clean $policy 2>&1`;
is($? >> 8, 1, '--strict --json: exit 1');
my $j = eval { decode_json($out) } // {};
ok(!$j->{ok}, 'json: not ok overall');
is($j->{policies}[0]{ok}, JSON::PP::true, 'json: the clean policy is ok');
is_deeply($j->{policies}[0]{warnings}, [], 'json: it has no warnings');
is($j->{policies}[1]{ok}, JSON::PP::false, 'json: the other is not');
is_deeply($j->{policies}[1]{warnings}[0],
          { file => $policy, line => 8, col => 5,
            message => "rule 'interns-mini' can never match: rule 'interns-deny' ($policy:4:5) comes before it and denies every request it would match" },
          'json: a warning as file, line, col and message');
is(scalar @{ $j->{policies}[1]{warnings} }, 2, 'json: both warnings');

$out = `$aigov policy check --json $policy 2>&1`;
is($? >> 8, 0, '--json without --strict: exit 0');
$j = eval { decode_json($out) } // {};
ok($j->{ok} && $j->{policies}[0]{ok}, 'json without --strict: ok');

# ---- nginx -t and requests ---------------------------------------------------
$t->start_mock;
$t->write_conf($t->gateway_conf(location => "aigov_policy $policy; aigov_jwt_key $pub;"));
my ($ok, $nt) = $t->nginx_t;
ok($ok, 'nginx -t passes with warnings') or diag($nt);
like($nt, qr/\[warn\].*aigov_policy: \Q$policy\E:8:5: warning: rule 'interns-mini' can never match/,
     'nginx -t logs the unreachable rule as a warning');
like($nt, qr/\[warn\].*aigov_policy: \Q$policy\E:22:7: warning: max_prompt_chars has no effect/,
     'nginx -t logs the limit without effect');
unlike($nt, qr/\[emerg\]/, 'and no error');

# token limits without max_tokens: answers are not reserved, and the
# check says so, where answers are written (not on embeddings)
{
    my $tl = $t->dir . '/tokens.yaml';
    $t->write_file('tokens.yaml', <<'YAML');
version: 1
default: deny
rules:
  - name: chat-tpm
    when: {groups: [a]}
    limits:
      tokens_per_minute: 1000
    decision: allow
  - name: chat-capped
    when: {groups: [b]}
    limits:
      tokens_per_day: 1000
      max_tokens: 100
    decision: allow
  - name: embeddings-tpd
    when: {groups: [c], endpoints: [/v1/embeddings]}
    limits:
      tokens_per_day: 1000
    decision: allow
YAML
    my $o = `$aigov policy check $tl 2>&1`;
    like($o, qr/^\Q$tl\E:6:5: warning: rule 'chat-tpm' limits tokens without max_tokens: a request that does not say max_tokens reserves only its prompt/m,
         'tokens_per_minute without max_tokens: a warning at its limits');
    unlike($o, qr/'chat-capped' limits tokens|'embeddings-tpd' limits tokens/,
           'not with max_tokens, nor where no answer is written');
    like($o, qr/1 warning$/m, 'one warning in all');
}

$t->start_nginx;
my $eng = AigovJWT::mint(alg => 'RS256', key => $key, claims => { sub => 'eve', groups => ['engineers'] });
sub chat {
    my ($model) = @_;
    return $t->request('POST', '/v1/chat/completions',
        headers => { Authorization => "Bearer $eng" },
        body => { model => $model, messages => [ { role => 'user', content => 'hi' } ] });
}
my $r = chat('gpt-4o-mini');
is($r->{status}, 200, 'a valid model name that "gpt-4o*" matches: allowed');
for my $bad ("gpt-4o-mini\n", "gpt-4o\nmini", "gpt-4o mini", "gpt-4o-mini ", "gpt-4o-\x{043c}ini",
             "gpt-4o-mini\t", "gpt-4o\x{2010}mini", "gpt-4o-mini%0a", 'gpt-4o-' . ('x' x 300)) {
    (my $shown = $bad) =~ s/([^\x21-\x7e])/sprintf('\\x{%x}', ord $1)/ge;
    $r = chat($bad);
    is($r->{status}, 400, "model '" . substr($shown, 0, 40) . "': 400 before any rule");
    my $e = AigovTest::json($r) // {};
    is($e->{error}{code}, 'invalid_model', "... code invalid_model");
    ok(!exists $r->{headers}{'x-mock-body-sha256'}, '... not forwarded');
}

$t->done;
done_testing;
