#!/usr/bin/perl
# The official OpenAI SDK (npm `openai`, installed by make test into
# t/node) as a real client: chat, streamed chat with redaction, embeddings,
# refusals surfacing as the SDK's own errors, and a file no filter reads
# refused by a rule that names it.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use AigovTest;
use AigovJWT;

my $root = AigovTest::root();
plan skip_all => 'run `make test` to install the OpenAI SDK into t/node'
    unless -d "$root/t/node/node_modules/openai";

my $t = AigovTest->new;
my $d = $t->dir;
my ($key, $pub) = AigovJWT::keypair($d, 'k', 'p256');
$t->write_file('policy.yaml', <<'YAML');
version: 1
default: deny
rules:
  - name: no-files
    when:
      groups: [sdk]
      media: [file]
    decision: deny
    reason: files are not checked for personal data
  - name: sdk-users
    when:
      groups: [sdk]
      models: ["gpt-4o-mini", "text-embedding-*"]
    filters:
      - plugin: pii
        stages: [request, response]
        action: redact
        config: {types: [email]}
      - plugin: blocklist
        stages: [request]
        action: block
        config: {terms: ["project neptune"]}
    decision: allow
YAML
$t->start_mock;
$t->write_conf($t->gateway_conf(
    http => "aigov_plugin pii $root/build/plugins/pii.so; aigov_plugin blocklist $root/build/plugins/blocklist.so;",
    location => "aigov_policy $d/policy.yaml; aigov_jwt_key $pub;"));
$t->start_nginx;

my $token = AigovJWT::mint(alg => 'ES256', key => $key, claims => { sub => 'sdk-user', groups => ['sdk'] });
$ENV{AIGOV_URL} = 'http://127.0.0.1:' . $t->port;
$ENV{AIGOV_TOKEN} = $token;

my @out = `node $root/t/node/sdk.mjs 2>&1`;
my $rc = $?;
my $seen = 0;
for (@out) {
    chomp;
    if (/^(not )?ok \d+ - (.*)$/) { ok(!$1, "sdk: $2"); $seen++ }
    elsif (/^#/) { diag($_) }
    elsif (!/^1\.\.\d+$/) { diag("node: $_") }
}
ok($seen >= 10, "the SDK script ran its checks ($seen)");
is($rc, 0, 'node exited 0');

$t->done;
done_testing;
