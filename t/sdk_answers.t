#!/usr/bin/perl
# Answers as the official SDKs read them (t/node/sdk_answers.mjs): openai's
# Responses API plain and streamed with redaction, logprobs (chat and
# Responses) redacted in their tokens, bytes and alternatives, a streamed
# tool call carrying a secret blocked (the SDK raises), the Vercel AI SDK's
# default OpenAI provider, the Anthropic SDK raising on a mid-stream
# block, and an address cut across two parts of a streamed answer's text
# redacted as the SDKs run the parts together (output_text, finalText()).

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use AigovTest;
use AigovJWT;

my $root = AigovTest::root();
plan skip_all => 'run `make test` to install the SDKs into t/node'
    unless -d "$root/t/node/node_modules/openai" && -d "$root/t/node/node_modules/ai";

my $t = AigovTest->new;
my $d = $t->dir;
my ($key, $pub) = AigovJWT::keypair($d, 'k', 'p256');
$t->write_file('policy.yaml', <<'YAML');
version: 1
default: deny
rules:
  - name: redact-answers
    when:
      groups: [redact]
    filters:
      - plugin: pii
        stages: [response]
        action: redact
        config: {types: [email]}
    decision: allow
  - name: block-secrets
    when:
      groups: [block]
    filters:
      - plugin: secrets
        stages: [response]
        action: block
    decision: allow
YAML
$t->start_mock;
$t->write_conf($t->gateway_conf(
    http => "aigov_plugin pii $root/build/plugins/pii.so; aigov_plugin secrets $root/build/plugins/secrets.so;",
    location => "aigov_policy $d/policy.yaml; aigov_jwt_key $pub;"));
$t->start_nginx;

$ENV{AIGOV_URL} = 'http://127.0.0.1:' . $t->port;
for my $g (qw(redact block)) {
    $ENV{'AIGOV_TOKEN_' . uc $g} = AigovJWT::mint(alg => 'ES256', key => $key,
                                                 claims => { sub => "sdk-$g", groups => [$g] });
}

my @out = `node $root/t/node/sdk_answers.mjs 2>&1`;
my $rc = $?;
my $seen = 0;
for (@out) {
    chomp;
    if (/^(not )?ok \d+ - (.*)$/) { ok(!$1, "sdk: $2"); $seen++ }
    elsif (/^#/) { diag($_) }
    elsif (!/^1\.\.\d+$/) { diag("node: $_") }
}
ok($seen >= 15, "the SDK script ran its checks ($seen)");
is($rc, 0, 'node exited 0');

$t->done;
done_testing;
