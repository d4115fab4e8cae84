#!/usr/bin/perl
# What the gateway cannot read it does not pretend to have inspected, and
# what it does not inspect it leaves to nginx.
#
# - Under a rule with filters or token limits, a request whose shape the
#   gateway cannot read (an unknown endpoint, a multipart body, a body sent
#   with PUT) is refused 403 "uninspectable"; a rule that says
#   `uninspectable: allow` admits it, unread and intact, and the record says
#   "inspected":false.
# - Bodies the gateway does not read are nginx's: dav_methods PUT writes its
#   file (201), over HTTP/2 too; a refusal without reading leaves the
#   connection usable.
# - client_body_in_file_only on keeps its file under aigov too.
# - A path with two readings (percent-escapes, dot segments, double
#   slashes) is refused 400 before anything is sent upstream.
# - n multiplies max_tokens against the limits; max_n caps n.
# - The record holds the max_tokens the upstream was sent, and an unknown
#   endpoint by its path.
# - nginx -t warns where unbuffered or gRPC bodies meet aigov on.
#
# The upstream is the mock behind a second server that logs every request
# line it passes on: what never reached it is absent from that log.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Digest::SHA qw(sha256_hex);
use IO::Socket::INET;
use Time::HiRes qw(sleep);
use POSIX ();
use AigovTest;
use AigovJWT;

my $root = AigovTest::root();
my $aigov = "$root/build/aigov";

my $t = AigovTest->new;
my $d = $t->dir;
my ($key, $pub) = AigovJWT::keypair($d, 'k', 'p256');
system("$aigov keygen --out $d/audit.key --name test.example/inspectable >/dev/null 2>&1") == 0
    or die 'aigov keygen failed';
mkdir "$d/www";
mkdir "$d/www/dav";
chmod 0777, "$d/www", "$d/www/dav";

$t->write_file('policy.yaml', <<'YAML');
version: 1
default: deny
rules:
  # filters and a token limit: only what the gateway reads may pass
  - name: staff
    when: {groups: [staff]}
    filters:
      - plugin: pii
        stages: [request, response]
        action: redact
        config: {types: [email]}
    limits: {max_tokens: 256}
    decision: allow
  # the same, with requests it cannot read admitted on purpose
  - name: tools
    when: {groups: [tools]}
    filters:
      - plugin: pii
        stages: [request]
        action: redact
        config: {types: [email]}
    uninspectable: allow
    decision: allow
  # quotas: 40,000 tokens a minute, no cap on max_tokens
  - name: quota
    when: {groups: [quota]}
    limits: {tokens_per_minute: 40000}
    decision: allow
  - name: fewanswers
    when: {groups: [few]}
    limits: {max_n: 4}
    decision: allow
YAML

# the WebDAV location's policy inspects nothing
$t->write_file('dav.yaml', <<'YAML');
version: 1
default: deny
rules:
  - name: uploads
    when: {groups: [staff]}
    decision: allow
YAML

my %port = (main => $t->port);
$port{$_} = AigovTest::free_port() for qw(rec file warn h2);

sub gw_loc {
    return <<"EOF";
            aigov on;
            aigov_policy %%DIR%%/policy.yaml;
            aigov_jwt_key $pub;
            proxy_pass http://rec;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Accept-Encoding "";
EOF
}

my $http = <<"EOF";
    aigov_plugin pii %%ROOT%%/build/plugins/pii.so;
    aigov_audit_log %%DIR%%/audit.log;
    aigov_audit_key %%DIR%%/audit.key;
    aigov_audit_origin test.example/inspectable;
    log_format line '\$request';
    upstream mock { server 127.0.0.1:%%MOCK%%; }
    upstream rec { server 127.0.0.1:$port{rec}; }
    server {
        listen 127.0.0.1:$port{rec};
        access_log %%DIR%%/logs/upstream.log line;
        location / {
            proxy_pass http://mock;
        }
    }
    server {
        listen 127.0.0.1:$port{main};
        listen 127.0.0.1:$port{h2} http2;
        client_max_body_size 1m;
        location / {
${\ gw_loc()}
        }
        location /dav/ {
            aigov on;
            aigov_policy %%DIR%%/dav.yaml;
            aigov_jwt_key $pub;
            root %%DIR%%/www;
            dav_methods PUT;
            client_body_temp_path %%DIR%%/tmp/dav;
        }
    }
    server {
        listen 127.0.0.1:$port{file};
        client_body_in_file_only on;
        client_body_temp_path %%DIR%%/tmp/keep;
        location / {
${\ gw_loc()}
        }
    }
EOF

# ---- nginx -t warns about what whole-body inspection cannot do ----------

$t->write_conf(<<"EOF");
    upstream mock { server 127.0.0.1:%%MOCK%%; }
    server {
        listen 127.0.0.1:$port{warn} http2;
        location /unbuffered {
            aigov on;
            proxy_request_buffering off;
            proxy_pass http://mock;
        }
        location /fcgi {
            aigov on;
            fastcgi_request_buffering off;
            fastcgi_pass 127.0.0.1:9;
        }
        location /grpc {
            aigov on;
            grpc_pass grpc://127.0.0.1:9;
        }
        location /fine {
            aigov on;
            proxy_pass http://mock;
        }
        location /off {
            proxy_request_buffering off;
            proxy_pass http://mock;
        }
    }
EOF
my ($ok, $out) = $t->nginx_t;
ok($ok, 'nginx -t only warns about unbuffered and gRPC locations') or diag($out);
like($out, qr/\[warn\].*aigov: in location "\/unbuffered", "proxy_request_buffering off" has no effect/,
     'warns: proxy_request_buffering off with aigov on');
like($out, qr/\[warn\].*aigov: in location "\/fcgi", "fastcgi_request_buffering off"/,
     'warns: fastcgi_request_buffering off with aigov on');
like($out, qr/\[warn\].*aigov: in location "\/grpc", "grpc_pass"/, 'warns: grpc_pass with aigov on');
unlike($out, qr/location "\/(fine|off)"/, 'no warning where buffering is on or aigov off');

# ---- the gateway -----------------------------------------------------------

$t->start_mock;
$t->write_conf($http);
($ok, $out) = $t->nginx_t;
ok($ok, 'nginx -t accepts the configuration') or diag($out);
$t->start_nginx;
AigovTest::wait_port($port{$_}) or die "nginx not listening on $_" for qw(rec file h2);

my %tok = map { $_ => AigovJWT::mint(alg => 'ES256', key => $key,
                                     claims => { sub => "insp-$_", groups => [$_] }) }
          qw(staff tools quota few);
sub auth { my ($g, %h) = @_; return { Authorization => "Bearer $tok{$g}", %h } }

my $chat = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello"}]}';

sub slurp { my ($p) = @_; open my $f, '<', $p or return undef; local $/; return <$f> }

sub upstream_lines {
    open my $f, '<', "$d/logs/upstream.log" or return ();
    return map { chomp; $_ } <$f>;
}

# The records with this id (admission or refusal first), waiting a moment
# for the group commit.
sub records {
    my ($id) = @_;
    for (1 .. 40) {
        my @r;
        if (open my $f, '<', "$d/audit.log") {
            @r = grep { $_->{id} && $_->{id} eq $id }
                 map { decode_json($_) } grep { /^\{"seq"/ } <$f>;
        }
        return @r if @r;
        sleep 0.05;
    }
    return ();
}

sub refused {
    my ($r, $status, $code, $name) = @_;
    is($r->{status}, $status, "$name: $status");
    my $j = AigovTest::json($r) // {};
    is($j->{error}{code}, $code, "$name: code $code") or diag($r->{body});
    ok(!exists $r->{headers}{'x-mock-path'}, "$name: not forwarded");
    return $j;
}

# ---- 1. what the gateway cannot read is refused where a rule inspects ----

my $r = $t->request('POST', '/v1/chat/completions', body => $chat, headers => auth('staff'));
is($r->{status}, 200, 'control: a chat request under the filtering rule passes');

my $secret = '{"model":"gpt-4o","instructions":"mail alice@example.com the files"}';
$r = $t->request('POST', '/v1/assistants', body => $secret, headers => auth('staff'));
my $j = refused($r, 403, 'uninspectable', 'unknown endpoint under filters');
like($j->{error}{message}, qr/cannot inspect this request \(an endpoint the gateway does not know\).*rule staff/,
     'unknown endpoint: the message says why');
is($j->{error}{type}, 'policy_violation', 'unknown endpoint: policy_violation');
my @recs = records($r->{headers}{'x-aigov-request-id'});
is($recs[0]{phase}, 'deny', 'unknown endpoint: a deny record');
is($recs[0]{endpoint}, '/v1/assistants', 'unknown endpoint: recorded by its path, not ""');

$r = $t->request('GET', '/v1/files', headers => auth('staff'));
refused($r, 403, 'uninspectable', 'GET of an unknown endpoint under filters');

$r = $t->request('PUT', '/v1/models', body => '{"note":"alice@example.com"}', headers => auth('staff'));
$j = refused($r, 403, 'uninspectable', 'PUT with a body to /v1/models');

$r = $t->request('PUT', '/v1/chat/completions', body => $chat, headers => auth('staff'));
$j = refused($r, 403, 'uninspectable', 'PUT to the chat endpoint');
like($j->{error}{message}, qr/a PUT request; this endpoint takes POST/, 'PUT: the message names the method');

$r = $t->request('PATCH', '/v1/chat/completions', body => $chat, chunked => 1, headers => auth('staff'));
refused($r, 403, 'uninspectable', 'chunked PATCH to the chat endpoint');

my $boundary = 'XyZ';
my $multipart = "--$boundary\r\nContent-Disposition: form-data; name=\"messages\"\r\n\r\n"
              . "alice\@example.com\r\n--$boundary--\r\n";
$r = $t->request('POST', '/v1/chat/completions', body => $multipart,
                 headers => auth('staff', 'Content-Type' => "multipart/form-data; boundary=$boundary"));
$j = refused($r, 403, 'uninspectable', 'multipart body to the chat endpoint');
like($j->{error}{message}, qr/\(a multipart\/form-data body\)/, 'multipart: the message names the media type');

$r = $t->request('POST', '/v1/chat/completions', body => $chat,
                 headers => auth('staff', 'Content-Type' => 'application/octet-stream'));
refused($r, 403, 'uninspectable', 'octet-stream body to the chat endpoint');

# JSON with a label clients use by mistake is still read, and redacted
my $mailing = '{"model":"gpt-4o-mini","max_tokens":10,"messages":[{"role":"user","content":"to bob@example.com"}]}';
(my $mailing_red = $mailing) =~ s/bob\@example\.com/[REDACTED:EMAIL]/;
$r = $t->request('POST', '/v1/chat/completions', body => $mailing,
                 headers => auth('staff', 'Content-Type' => 'text/plain;charset=UTF-8'));
is($r->{status}, 200, 'text/plain JSON is read');
is($r->{headers}{'x-mock-body-sha256'}, sha256_hex($mailing_red), 'text/plain JSON: redacted');
$r = $t->request('POST', '/v1/chat/completions', body => $mailing,
                 headers => auth('staff', 'Content-Type' => 'application/vnd.api+json'));
is($r->{headers}{'x-mock-body-sha256'}, sha256_hex($mailing_red), '+json label: read and redacted');

# a refusal that leaves the body unread does not let it become the next
# request on the connection
{
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port{main},
                                  Proto => 'tcp', Timeout => 10) or die "connect: $!";
    my $smuggled = "GET /v1/models HTTP/1.1\r\nHost: localhost\r\n\r\n";
    my $first = "PUT /v1/models HTTP/1.1\r\nHost: localhost\r\n"
              . "Authorization: Bearer $tok{staff}\r\nContent-Length: " . length($smuggled)
              . "\r\n\r\n$smuggled";
    my $second = "GET /v1/models HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer $tok{tools}\r\n"
               . "Connection: close\r\n\r\n";
    $s->print($first . $second);
    local $/;
    my $raw = <$s> // '';
    my @status = $raw =~ m{^HTTP/1\.1 (\d+)}mg;
    is_deeply(\@status, [403, 200], 'keep-alive after an unread refusal: the body is discarded, the next request answered')
        or diag($raw);
}

# ---- 2. the opt-out admits, unread, intact, and says so -----------------

$r = $t->request('POST', '/v1/assistants', body => $secret, headers => auth('tools'));
is($r->{headers}{'x-mock-path'}, '/v1/assistants', 'uninspectable: allow: forwarded');
is($r->{headers}{'x-mock-body-sha256'}, sha256_hex($secret), 'uninspectable: allow: the body is unchanged');
@recs = records($r->{headers}{'x-aigov-request-id'});
is($recs[0]{phase}, 'admit', 'opt-out: an admission record');
is($recs[0]{rule}, 'tools', 'opt-out: by its rule');
is($recs[0]{inspected}, JSON::PP::false, 'opt-out: recorded "inspected":false');
is($recs[0]{endpoint}, '/v1/assistants', 'opt-out: the unknown endpoint recorded by its path');
ok(!exists $recs[0]{prompt_sha256}, 'opt-out: no prompt hash of a body never read');

my $big = '{"input":"' . ('x' x 200000) . '"}';
$r = $t->request('PUT', '/v1/vector_stores/vs_1', body => $big, chunked => 1, chunk_size => 4096,
                 headers => auth('tools'));
is($r->{headers}{'x-mock-body-sha256'}, sha256_hex($big), 'opt-out: a large chunked PUT reaches the upstream intact');

# a known endpoint read as usual under the same rule is not marked
$r = $t->request('POST', '/v1/chat/completions', body => $chat, headers => auth('tools'));
@recs = records($r->{headers}{'x-aigov-request-id'});
ok(!exists $recs[0]{inspected}, 'a request that was read carries no "inspected" mark');

# ---- 3. bodies nginx keeps: dav PUT and client_body_in_file_only --------

my $file = "hello from webdav\n" x 100;
$r = $t->request('PUT', '/dav/note.txt', body => $file, headers => auth('staff', 'Content-Type' => 'text/plain'));
is($r->{status}, 201, 'dav_methods PUT under aigov on: 201');
my $written = slurp("$d/www/dav/note.txt");
is($written, $file, 'dav PUT: the file holds the body');
@recs = records($r->{headers}{'x-aigov-request-id'});
is($recs[0]{inspected}, JSON::PP::false, 'dav PUT: recorded as not inspected');
$r = $t->request('PUT', '/dav/other.txt', body => $file);
is($r->{status}, 401, 'dav PUT without a token: 401');
ok(!-e "$d/www/dav/other.txt", 'dav PUT without a token: nothing written');

# over HTTP/2, a body from stdin has no Content-Length: nginx counts it as
# chunked, and it is still left to nginx (dav) or refused unread
sub h2 {
    my ($method, $path, $body, @headers) = @_;
    open my $f, '>', "$d/h2.body" or die $!;
    print $f $body;
    close $f;
    my @args = ('curl', '-s', '--http2-prior-knowledge', '--max-time', '20', '-X', $method,
                '-o', "$d/h2.out", '-w', '%{http_code} %{http_version}',
                (map { ('-H', $_) } @headers), '-T', '-',
                "http://127.0.0.1:$port{h2}$path");
    my $pid = open(my $out, '-|') // die "fork: $!";
    if (!$pid) {
        open STDIN, '<', "$d/h2.body" or do { warn "$d/h2.body: $!\n"; POSIX::_exit(127) };
        exec @args or POSIX::_exit(127);    # not the test's code
    }
    my $res = <$out> // '';
    close $out;
    my $exit = $? >> 8;
    my ($code, $ver) = split ' ', $res;
    return ($code // 0, $ver // '', slurp("$d/h2.out") // '', $exit);
}
my ($h2code, $h2ver, $h2body) = h2('PUT', '/dav/h2.txt', $file, "Authorization: Bearer $tok{staff}");
is("$h2code $h2ver", '201 2', 'HTTP/2 dav PUT without Content-Length: 201');
is(slurp("$d/www/dav/h2.txt"), $file, 'HTTP/2 dav PUT: the file holds the body');
sub uninspectable_denials {
    return scalar grep { ($_->{phase} // '') eq 'deny' && $_->{method} eq 'PUT'
                         && $_->{path} eq '/v1/chat/completions' && defined $_->{inspected} && !$_->{inspected} }
                  map { decode_json($_) } grep { /^\{"seq"/ } split /\n/, slurp("$d/audit.log") // '';
}
my $denials = uninspectable_denials();
my $h2exit;
($h2code, $h2ver, $h2body, $h2exit) = h2('PUT', '/v1/chat/completions', $chat, "Authorization: Bearer $tok{staff}");
# nginx answers before the body has come and then resets the stream
# (RST_STREAM NO_ERROR, RFC 9113 8.1); curl 7.88 may drop the answer then
# (exit 92, or 16/55/56 when the reset meets its upload). The refusal must
# be in the audit log either way; an answer that did arrive must be the 403.
if ($h2exit != 0 && $h2code == 0) {
    pass("HTTP/2 PUT to the chat endpoint under filters: refused, then reset (curl exit $h2exit)");
} else {
    is($h2code, 403, 'HTTP/2 PUT to the chat endpoint under filters: 403') or diag("curl exit $h2exit");
    like($h2body, qr/"code":"uninspectable"/, 'HTTP/2: uninspectable');
}
sleep 0.3;    # the group commit
is(uninspectable_denials(), $denials + 1, 'HTTP/2: the refusal is recorded as uninspectable');

sub kept_files { opendir my $dh, "$d/tmp/keep" or return (); return grep { !/^\./ } readdir $dh }
$r = $t->request('POST', '/v1/chat/completions', body => $chat, port => $port{file}, headers => auth('staff'));
is($r->{status}, 200, 'client_body_in_file_only on: 200');
is($r->{headers}{'x-mock-max-tokens'}, 256, 'file only: the body from the file was read (max_tokens set)');
my @kept = kept_files();
is(scalar @kept, 1, 'client_body_in_file_only on: the body file is kept') or diag("@kept");

# ---- 4. a path with two readings never leaves the gateway ---------------

my $before = () = upstream_lines();
for my $p ('/v1/chat%2Fcompletions', '/v1/%63hat/completions', '/v1/foo/../chat/completions',
           '/v1//chat/completions', '/v1/./chat/completions', '//v1/chat/completions',
           '/v1/chat/completions%2F..%2Fmodels', '/v1/chat/completion%73',
           '/v1/chat%2fcompletions') {
    $r = $t->request('POST', $p, body => $chat, headers => auth('staff'));
    $j = refused($r, 400, 'ambiguous_path', "path $p");
    is($j->{error}{type}, 'invalid_request_error', "path $p: invalid_request_error");
}
$r = $t->request('GET', '/v1/mo%64els', headers => auth('tools'));
refused($r, 400, 'ambiguous_path', 'GET with an escaped path');
my @after = upstream_lines();
is(scalar @after, $before, 'none of the ambiguous paths reached the upstream') or diag(join "\n", @after);
$r = $t->request('POST', '/v1/chat/completions?x=%2F..', body => $chat, headers => auth('staff'));
is($r->{status}, 200, 'escapes in the query string are not the path');

# a byte that cannot stand as it is in a path has one spelling: file names
# with blanks or accents are plain (nginx's own dav tests use them)
for my $name ('my%20note.txt', '%C3%A9t%C3%A9.txt', '100%25.txt') {
    $r = $t->request('PUT', "/dav/$name", body => $file, headers => auth('staff', 'Content-Type' => 'text/plain'));
    is($r->{status}, 201, "dav PUT /dav/$name: 201");
    (my $disk = $name) =~ s/%([0-9A-F]{2})/chr hex $1/ge;
    is(slurp("$d/www/dav/$disk"), $file, "dav PUT /dav/$name: the file is named as decoded");
}

# ---- 5. n multiplies max_tokens; max_n caps n ---------------------------

# the decision, through aigov policy test (independent of the body parser)
$t->write_file('policy.cases.yaml', <<'YAML');
- name: one answer within max_tokens
  claims: {sub: a, groups: [staff]}
  request: {model: gpt-4o, max_tokens: 256}
  expect: allow
- name: two answers of 200 exceed 256 in all
  claims: {sub: a, groups: [staff]}
  request: {model: gpt-4o, max_tokens: 200, n: 2}
  expect: deny
  code: max_tokens_exceeded
- name: two answers of 128 fit
  claims: {sub: a, groups: [staff]}
  request: {model: gpt-4o, max_tokens: 128, n: 2}
  expect: allow
- name: 300 answers cannot share 256 tokens
  claims: {sub: a, groups: [staff]}
  request: {model: gpt-4o, n: 300}
  expect: deny
  code: n_exceeded
- name: max_n
  claims: {sub: a, groups: [few]}
  request: {model: gpt-4o, n: 5}
  expect: deny
  code: n_exceeded
- name: within max_n
  claims: {sub: a, groups: [few]}
  request: {model: gpt-4o, n: 4}
  expect: allow
- name: not inspected under filters
  claims: {sub: a, groups: [staff]}
  request: {endpoint: /v1/assistants, inspected: false}
  expect: deny
  code: uninspectable
- name: not inspected, opted out
  claims: {sub: a, groups: [tools]}
  request: {endpoint: /v1/assistants, inspected: false}
  expect: allow
  rule: tools
- name: not inspected, nothing to inspect
  claims: {sub: a, groups: [none]}
  request: {endpoint: /v1/assistants, inspected: false}
  expect: deny
  code: no_rule_matched
- name: token ids under request filters
  claims: {sub: a, groups: [staff]}
  request: {endpoint: /v1/completions, model: gpt-4o, unread: token_ids}
  expect: deny
  code: uninspectable
- name: token ids, opted out
  claims: {sub: a, groups: [tools]}
  request: {endpoint: /v1/completions, model: gpt-4o, unread: token_ids}
  expect: allow
- name: a background answer under answer filters
  claims: {sub: a, groups: [staff]}
  request: {endpoint: /v1/responses, model: gpt-4o, background: true}
  expect: deny
  code: uninspectable
- name: a background answer, no answer filters
  claims: {sub: a, groups: [tools]}
  request: {endpoint: /v1/responses, model: gpt-4o, background: true}
  expect: allow
YAML
$out = `$aigov policy test $d/policy.yaml --cases $d/policy.cases.yaml 2>&1`;
is($? >> 8, 0, 'aigov policy test: n, max_n, uninspectable, unread and background decide as written')
    or diag($out);

$t->write_file('bad.cases.yaml', <<'YAML');
- name: a
  claims: {sub: a}
  request: {unread: tokens}
  expect: allow
- name: b
  claims: {sub: a}
  request: {background: "yes", unread: [token_ids]}
  expect: allow
YAML
$out = `$aigov policy test $d/policy.yaml --cases $d/bad.cases.yaml 2>&1`;
is($? >> 8, 1, 'aigov policy test: bad unread and background are errors');
like($out, qr/bad\.cases\.yaml:3:\d+: unread must be token_ids or text_file, not tokens/, 'unread: a kind it does not know');
like($out, qr/bad\.cases\.yaml:7:\d+: background must be true or false/, 'background: a string');
like($out, qr/bad\.cases\.yaml:7:\d+: unread must be token_ids or text_file, not a list/, 'unread: a list');

# explain reads a real body as the gateway does
$t->write_file('ids.json', '{"model":"gpt-4o","prompt":[41551,757,922]}');
$out = `$aigov policy explain $d/policy.yaml --claims '{"sub":"a","groups":["staff"]}' --request $d/ids.json 2>&1`;
like($out, qr/deny \(rule staff\).*code uninspectable/s, 'explain: token ids under request filters are refused');
like($out, qr/token ids, which no filter can read/, 'explain: ... saying what it cannot read');
$t->write_file('bg.json', '{"endpoint":"/v1/responses","model":"gpt-4o","input":"hi","background":true}');
$out = `$aigov policy explain $d/policy.yaml --claims '{"sub":"a","groups":["staff"]}' --request $d/bg.json 2>&1`;
like($out, qr/deny \(rule staff\).*written in the background/s, 'explain: a background answer under answer filters');
$t->write_file('bg.json', '{"endpoint":"/v1/responses","model":"gpt-4o","input":"hi","background":true,"stream":true}');
$out = `$aigov policy explain $d/policy.yaml --claims '{"sub":"a","groups":["staff"]}' --request $d/bg.json 2>&1`;
like($out, qr/allow \(rule staff\)/, 'explain: ... streamed, it is filtered here: allowed');
$t->write_file('bad.json', '{"model":"gpt-4o","messages":"hi"}');
$out = `$aigov policy explain $d/policy.yaml --claims '{"sub":"a","groups":["staff"]}' --request $d/bad.json 2>&1`;
like($out, qr/would refuse this body \(400 invalid_request_error\): 'messages' must be an array/,
     'explain: a body the gateway refuses 400 is said so');

# errors with their place
$t->write_file('bad.yaml', <<'YAML');
version: 1
rules:
  - name: a
    uninspectable: maybe
    limits: {max_n: 0}
    decision: allow
  - name: b
    uninspectable: [allow]
    limits: {max_n: "3"}
    decision: allow
YAML
$out = `$aigov policy check $d/bad.yaml 2>&1`;
is($? >> 8, 1, 'aigov policy check refuses bad uninspectable and max_n');
like($out, qr/bad\.yaml:4:20: uninspectable must be allow or deny, not 'maybe'/, 'uninspectable: a word it does not know');
like($out, qr/bad\.yaml:5:21: max_n must be a positive whole number/, 'max_n: 0');
like($out, qr/bad\.yaml:8:20: uninspectable must be allow or deny/, 'uninspectable: a list');
like($out, qr/bad\.yaml:9:21: max_n must be a number without quotes/, 'max_n: quoted');

# through the gateway: n multiplies what a request may cost
my $many = '{"model":"gpt-4o-mini","n":128,"max_tokens":4096,"messages":[{"role":"user","content":"hi"}]}';
$r = $t->request('POST', '/v1/chat/completions', body => $many, headers => auth('quota'));
is($r->{status}, 429, 'n 128 x max_tokens 4096 is refused by a tokens_per_minute of 40,000')
    or diag($r->{body});
like(AigovTest::json($r)->{error}{message} // '', qr/524288 tokens.*128 answers/, 'the message counts n');
ok($r->{headers}{'retry-after'}, 'with Retry-After');
$r = $t->request('POST', '/v1/chat/completions', body => $chat, headers => auth('quota'));
is($r->{status}, 200, 'the quota is untouched by the refused request');

$r = $t->request('POST', '/v1/chat/completions', headers => auth('staff'),
                 body => '{"model":"gpt-4o-mini","n":2,"max_tokens":200,"messages":[{"role":"user","content":"hi"}]}');
$j = refused($r, 403, 'max_tokens_exceeded', 'n 2 x max_tokens 200 over a max_tokens of 256');
like($j->{error}{message}, qr/max_tokens 200 for each of 2 answers/, 'the message names n');

$r = $t->request('POST', '/v1/chat/completions', headers => auth('few'),
                 body => '{"model":"gpt-4o-mini","n":5,"messages":[{"role":"user","content":"hi"}]}');
refused($r, 403, 'n_exceeded', 'n 5 over max_n 4');
$r = $t->request('POST', '/v1/chat/completions', headers => auth('few'),
                 body => '{"model":"gpt-4o-mini","n":4,"messages":[{"role":"user","content":"hi"}]}');
is($r->{status}, 200, 'n 4 within max_n 4');

# ---- 6. the record says what was sent ------------------------------------

$r = $t->request('POST', '/v1/chat/completions', body => $chat, headers => auth('staff'));
is($r->{headers}{'x-mock-max-tokens'}, 256, 'the policy max_tokens is injected');
@recs = records($r->{headers}{'x-aigov-request-id'});
is($recs[0]{max_tokens}, 256, 'the record holds the injected max_tokens');
is($recs[0]{max_tokens_injected}, JSON::PP::true, 'and says the gateway set it');
$r = $t->request('POST', '/v1/chat/completions', body => $mailing, headers => auth('staff'));
@recs = records($r->{headers}{'x-aigov-request-id'});
is($recs[0]{max_tokens}, 10, 'an asked max_tokens is recorded as asked');
ok(!exists $recs[0]{max_tokens_injected}, 'and not marked as set by the gateway');

# replay sees an injected max_tokens as absent: under a lower limit the
# request would have been given the lower value, not refused; the one that
# asked for 10 stays allowed too
$r = $t->request('POST', '/v1/chat/completions', body => $chat, headers => auth('staff'));
my $injected_id = $r->{headers}{'x-aigov-request-id'};
records($injected_id);
$t->write_file('lower.yaml', do { my $p = slurp("$d/policy.yaml");
                                  $p =~ s/max_tokens: 256/max_tokens: 100/; $p });
my $replay = `$aigov policy replay $d/lower.yaml $d/audit.log --json 2>&1`;
my $rep = eval { decode_json($replay) };
ok($rep && ref $rep->{changes} eq 'ARRAY', 'replay runs') or diag($replay);
my @changed = grep { ($_->{id} // '') eq $injected_id } @{ $rep->{changes} // [] };
is(scalar @changed, 0, 'replay: an injected max_tokens is not taken for one the caller asked')
    or diag(encode_json(\@changed));

my $verify = `$aigov audit verify --key $d/audit.key.pub $d/audit.log 2>&1`;
is($? >> 8, 0, 'the log verifies') or diag($verify);

$t->done;
done_testing;
