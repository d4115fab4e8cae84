#!/usr/bin/perl
# Prometheus metrics and nginx variables: two workers serve a mix of
# allowed, refused, filtered, streamed and quota-limited requests; every
# counter moves by exactly what was sent, promtool accepts the exposition,
# a real Prometheus scrapes it, and the variables reach the access log.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep time);
use HTTP::Tiny;
use AigovTest;
use AigovJWT;

my $root = AigovTest::root();
my $aigov = "$root/build/aigov";

my $t = AigovTest->new;
my $d = $t->dir;
my $mport = AigovTest::free_port();
my ($jkey, $jpub) = AigovJWT::keypair($d, 'jwt', 'p256');
system("$aigov keygen --out $d/audit.key --name test.example/aigov >/dev/null 2>&1") == 0 or die 'keygen';
$t->write_file('policy.yaml', <<'YAML');
version: 1
default: deny
rules:
  - name: chatters
    when:
      groups: [chat]
      models: [gpt-4o-mini, "claude-*"]
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
  - name: limited
    when:
      groups: [limited]
    limits:
      requests_per_minute: 2
    decision: allow
YAML

my $plugins = join ' ', map { "aigov_plugin $_ $root/build/plugins/$_.so;" } qw(pii blocklist);
my $http = <<"EOF2";
    $plugins
    aigov_audit_log $d/audit.log; aigov_audit_key $d/audit.key;
    aigov_audit_origin test.example/aigov;
    log_format aigov '\$status id=\$aigov_request_id sub=\$aigov_sub rule=\$aigov_rule '
                     'decision=\$aigov_decision code=\$aigov_code model=\$aigov_model '
                     'filters=\$aigov_filters pt=\$aigov_prompt_tokens '
                     'ct=\$aigov_completion_tokens seq=\$aigov_audit_seq';
    server {
        listen 127.0.0.1:$mport;
        location = /metrics { aigov_metrics; }
    }
EOF2
$t->write_conf($t->gateway_conf(http => $http,
    server => "access_log $d/logs/aigov.log aigov;",
    location => "aigov_policy $d/policy.yaml; aigov_jwt_key $jpub;"), workers => 2);

sub scrape {
    my $r = $t->request('GET', '/metrics', port => $mport);
    is($r->{status}, 200, 'metrics answer 200');
    like($r->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4}, 'exposition content type');
    my %m;
    for (split /\n/, $r->{body}) {
        next if /^#/;
        /^(\S+) (\S+)$/ or next;
        $m{$1} = $2;
    }
    return ($r->{body}, \%m);
}

$t->start_mock;
$t->start_nginx;

my ($text0, $m0) = scrape();
is($m0->{aigov_audit_records_total}, 0, 'no record counted before any request');

my $chat = AigovJWT::mint(alg => 'ES256', key => $jkey, claims => { sub => 'alice', groups => ['chat'] });
my $lim = AigovJWT::mint(alg => 'ES256', key => $jkey, claims => { sub => 'bob', groups => ['limited'] });
my %auth = (Authorization => "Bearer $chat", 'X-Mock-Usage' => '10,20');
sub body { encode_json({ model => $_[0], messages => [ { role => 'user', content => $_[1] } ], @_[2 .. $#_] }) }

my @st;
push @st, $t->request('POST', '/v1/chat/completions', body => body('gpt-4o-mini', 'hello'), headers => \%auth)->{status} for 1 .. 3;
push @st, $t->request('POST', '/v1/chat/completions', body => body('claude-3', 'mail a@example.com'), headers => \%auth)->{status};
push @st, $t->request('POST', '/v1/chat/completions', body => body('o1', 'hi'), headers => \%auth)->{status};
push @st, $t->request('POST', '/v1/chat/completions', body => body('gpt-4o-mini', 'hi'))->{status} for 1 .. 2;
push @st, $t->request('POST', '/v1/chat/completions', body => body('gpt-4o-mini', 'about project neptune'), headers => \%auth)->{status};
for (1 .. 2) {
    my $s = $t->stream('/v1/chat/completions', headers => \%auth,
        body => body('gpt-4o-mini', 'stream please', stream => JSON::PP::true));
    push @st, $s->{status};
}
push @st, $t->request('POST', '/v1/chat/completions', body => body('gpt-4o-mini', 'q'),
                      headers => { Authorization => "Bearer $lim", 'X-Mock-Usage' => '10,20' })->{status} for 1 .. 3;
is("@st", '200 200 200 200 403 401 401 403 200 200 200 200 429', 'the mix was served as meant');

# the completion records go out at the end of a loop turn; the counts move then
sleep 0.3;
my ($text, $m) = scrape();

my $req = sub { my ($model, $rule, $dec, $status) = @_;
    $m->{qq(aigov_requests_total{endpoint="/v1/chat/completions",model="$model",rule="$rule",decision="$dec",status="$status"})} // 0 };
is($req->('gpt-4o-mini', 'chatters', 'allow', 200), 5, 'allowed gpt-4o-mini requests (3 plain, 2 streamed)');
is($req->('claude-*', 'chatters', 'allow', 200), 1, 'a model matched by a glob is labelled with the glob');
is($req->('other', 'default', 'deny', 403), 1, 'a model the policy does not name is other; default rule');
# the caller is known before the body is read: a 401 has no model yet
is($req->('none', 'none', 'deny', 401), 2, 'refused before any rule: rule none, model none');
is($req->('gpt-4o-mini', 'chatters', 'deny', 403), 1, 'filter block');
is($req->('gpt-4o-mini', 'limited', 'allow', 200), 2, 'admitted under the quota');
is($req->('gpt-4o-mini', 'limited', 'deny', 429), 1, 'refused by the quota');
my $total = 0;
$total += $m->{$_} for grep { /^aigov_requests_total\{/ } keys %$m;
is($total, 13, 'every request counted once');

is($m->{'aigov_refusals_total{code="model_not_allowed"}'}, 1, 'refusals by code: model not allowed');
is($m->{'aigov_refusals_total{code="token_missing"}'}, 2, 'refusals by code: no token');
is($m->{'aigov_refusals_total{code="blocklist"}'}, 1, 'refusals by code: the plugin');
is($m->{'aigov_refusals_total{code="quota_exceeded"}'}, 1, 'refusals by code: quota');
is($m->{'aigov_identity_refusals_total{code="token_missing"}'}, 2, 'identity refusals');
is($m->{aigov_identity_tokens_verified_total}, 11, 'tokens verified');
is($m->{aigov_identity_cache_hits_total} + $m->{aigov_identity_signature_checks_total}, 11,
   'each verified token was a cache hit or a signature check');

is($m->{'aigov_filter_verdicts_total{plugin="pii",stage="request",verdict="allow"}'}, 6, 'pii allowed prompts');
is($m->{'aigov_filter_verdicts_total{plugin="pii",stage="request",verdict="redact"}'}, 1, 'pii redacted a prompt');
is($m->{'aigov_filter_verdicts_total{plugin="blocklist",stage="request",verdict="block"}'}, 1, 'blocklist blocked');
is($m->{'aigov_filter_verdicts_total{plugin="blocklist",stage="request",verdict="allow"}'}, 6, 'blocklist allowed');
is($m->{'aigov_filter_verdicts_total{plugin="pii",stage="response",verdict="allow"}'}, 6, 'pii on every answer');
# one call per prompt (one text each); pii also reads the six answers, the
# streamed ones window by window
is($m->{'aigov_plugin_calls_total{plugin="blocklist"}'}, 7, 'blocklist: one inspect call per prompt');
cmp_ok($m->{'aigov_plugin_calls_total{plugin="pii"}'} // 0, '>=', 13, 'pii: the prompts and the answers');
cmp_ok($m->{'aigov_plugin_seconds_total{plugin="pii"}'} // 0, '>', 0, 'pii: time spent');
cmp_ok($m->{'aigov_plugin_seconds_total{plugin="blocklist"}'} // 0, '>', 0, 'blocklist: time spent');

is($m->{'aigov_quota_admissions_total{limit="requests_per_minute"}'}, 2, 'quota admissions');
is($m->{'aigov_quota_refusals_total{limit="requests_per_minute"}'}, 1, 'quota refusal names its limit');
is($m->{'aigov_quota_settlements_total{usage="reported"}'}, 2, 'settled from the usage reported');
is($m->{aigov_quota_reservations_open}, 0, 'no reservation left open');

my $tok = 'gen_ai_client_token_usage';
is($m->{qq(${tok}_count{gen_ai_operation_name="chat",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="input"})}, 7, 'input tokens observed per answer');
is($m->{qq(${tok}_sum{gen_ai_operation_name="chat",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="output"})}, 140, 'output tokens summed');
is($m->{qq(gen_ai_server_time_to_first_token_seconds_count{gen_ai_operation_name="chat",gen_ai_request_model="gpt-4o-mini"})}, 2, 'time to first token of the two streams');
is($m->{qq(gen_ai_server_time_per_output_token_seconds_count{gen_ai_operation_name="chat",gen_ai_request_model="gpt-4o-mini"})}, 2, 'time per output token of the two streams');
is($m->{qq(gen_ai_server_request_duration_seconds_count{gen_ai_operation_name="chat",gen_ai_request_model="gpt-4o-mini"})}, 7, 'server duration of each proxied gpt-4o-mini request');
is($m->{'aigov_gateway_duration_seconds_count{endpoint="/v1/chat/completions"}'}, 8, 'gateway time of each proxied request');

# the audit counters against the file itself, once the timer (1 s) has
# signed a checkpoint over the records
sleep 1.5;
open my $fh, '<', "$d/audit.log" or die $!;
my ($records, $bytes, $cps, $policies) = (0, 0, 0, 0);
while (my $l = <$fh>) {
    if ($l =~ /^\{"checkpoint"/) { $cps++; next }
    $records++;
    $policies++ if $l =~ /"phase":"policy"/;
    $bytes += length $l;
}
close $fh;
is($policies, 1, 'audit log: the policy in force, once');
is($records - $policies, 8 * 2 + 5, 'audit log: two records per served request, one per refusal');
is($m->{aigov_audit_records_total}, $records, 'records counted as written');
is($m->{aigov_audit_bytes_total}, $bytes, 'bytes counted as written');
is($m->{aigov_audit_write_failures_total}, 0, 'no write failed');
# checkpoints are also signed by a timer (every second), so one may land
# between the scrape and the read of the file: the file's count lies
# between the counter before and after it
my (undef, $m2) = scrape();
ok($cps >= 1 && $m->{aigov_audit_checkpoints_total} <= $cps
   && $cps <= $m2->{aigov_audit_checkpoints_total}, 'checkpoints counted')
    or diag("scraped $m->{aigov_audit_checkpoints_total}, file $cps, then $m2->{aigov_audit_checkpoints_total}");
ok(defined $m->{aigov_audit_records_unsigned} && defined $m->{aigov_audit_seconds_since_checkpoint}, 'audit lag gauges');

# promtool, Prometheus's own linter and parser
open my $out, '>', "$d/metrics.txt" or die $!;
print $out $text;
close $out;
my $lint = `promtool check metrics < $d/metrics.txt 2>&1`;
is($?, 0, 'promtool check metrics accepts the exposition') or diag($lint);

# the variables in the access log
my @log = do { open my $f, '<', "$d/logs/aigov.log" or die $!; <$f> };
my ($allowed) = grep { /^200 .*rule=chatters .*model=gpt-4o-mini/ } @log;
like($allowed, qr/^200 id=[0-9a-f]{32} sub=alice rule=chatters decision=allow code=- model=gpt-4o-mini filters=pii:request:allow,blocklist:request:allow,pii:response:allow pt=10 ct=20 seq=\d+$/, 'an allowed request in the access log');
my ($blocked) = grep { /^403 .*code=blocklist/ } @log;
like($blocked, qr/^403 id=[0-9a-f]{32} sub=alice rule=chatters decision=deny code=blocklist model=gpt-4o-mini filters=pii:request:allow,blocklist:request:block:1 pt=- ct=- seq=\d+$/, 'a refused request in the access log');
my ($seq) = $allowed =~ /seq=(\d+)/;
my ($id) = $allowed =~ /id=(\w+)/;
my ($rec) = grep { /"seq":$seq,/ } do { open my $f, '<', "$d/audit.log"; <$f> };
like($rec // '', qr/"id":"$id"/, '$aigov_audit_seq names the request\'s own record');

# a real Prometheus scrapes the gateway
SKIP: {
    skip 'prometheus not installed', 2 unless -x '/usr/bin/prometheus';
    my $pport = AigovTest::free_port();
    open my $pc, '>', "$d/prometheus.yml" or die $!;
    print $pc "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: aigov\n"
            . "    static_configs:\n      - targets: ['127.0.0.1:$mport']\n";
    close $pc;
    my $pid = fork // die;
    if ($pid == 0) {
        open STDOUT, '>', "$d/logs/prometheus.log"; open STDERR, '>&', \*STDOUT;
        exec '/usr/bin/prometheus', "--config.file=$d/prometheus.yml", "--storage.tsdb.path=$d/prom",
             "--web.listen-address=127.0.0.1:$pport" or exit 127;
    }
    AigovTest::guard($pid);
    my $got;
    my $http = HTTP::Tiny->new(timeout => 5);
    my $end = time + 60;
    while (time < $end) {
        my $r = $http->get("http://127.0.0.1:$pport/api/v1/query?query=aigov_audit_records_total");
        if ($r->{success}) {
            my $j = eval { decode_json($r->{content}) };
            if ($j && @{ $j->{data}{result} // [] }) { $got = $j->{data}{result}[0]{value}[1]; last }
        }
        sleep 0.5;
    }
    AigovTest::stop_pid($pid, 'TERM');
    is($got, $records, 'Prometheus scraped the gateway and answers for aigov_audit_records_total');
    like(`cat $d/logs/prometheus.log`, qr/Server is ready/, 'prometheus ran');
}

# a reload keeps the counts: the counters live in the shared zone, which
# the new workers find again; a rule the new policy adds gets its label
my $new = AigovJWT::mint(alg => 'ES256', key => $jkey, claims => { sub => 'carol', groups => ['newcomers'] });
my ($before) = (scrape())[1];
my $policy = do { open my $f, '<', "$d/policy.yaml" or die $!; local $/; <$f> };
$t->write_file('policy.yaml', $policy . <<'YAML');
  - name: newcomers
    when:
      groups: [newcomers]
    decision: allow
YAML
my ($ok, $rout) = $t->reload;
ok($ok, 'reload with a policy that adds a rule') or diag($rout);
my ($st, $tries) = (0, 0);
while ($tries++ < 100) {
    $st = $t->request('POST', '/v1/chat/completions', body => body('gpt-4o-mini', 'hi'),
                      headers => { Authorization => "Bearer $new", 'X-Mock-Usage' => '10,20' })->{status};
    last if $st == 200;
    sleep 0.1;
}
is($st, 200, 'the new policy is in force');
is($t->request('POST', '/v1/chat/completions', body => body('gpt-4o-mini', 'hello'), headers => \%auth)->{status},
   200, 'an old rule still admits');
sleep 0.3;
my ($rtext, $after) = scrape();
my $key = sub { qq(aigov_requests_total{endpoint="/v1/chat/completions",model="gpt-4o-mini",rule="$_[0]",decision="$_[1]",status="$_[2]"}) };
is($after->{ $key->('chatters', 'allow', 200) }, $before->{ $key->('chatters', 'allow', 200) } + 1,
   'after the reload: the old rule\'s count went on from where it was');
is($after->{ $key->('newcomers', 'allow', 200) }, 1, 'after the reload: the new rule has its label and count');
my $sum = sub { my ($m) = @_; my $n = 0; $n += $m->{$_} for grep { /^aigov_requests_total\{/ } keys %$m; $n };
is($sum->($after) - $sum->($before), $tries + 1, 'after the reload: every request counted once');
cmp_ok($after->{aigov_audit_records_total}, '>', $before->{aigov_audit_records_total}, 'audit records counted on');
open my $rt, '>', "$d/metrics-reload.txt" or die $!;
print $rt $rtext;
close $rt;
$lint = `promtool check metrics < $d/metrics-reload.txt 2>&1`;
is($?, 0, 'promtool accepts the exposition after the reload') or diag($lint);

$t->done;
done_testing;
