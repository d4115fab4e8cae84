#!/usr/bin/perl
# error_page and internal redirects back into the access phase. A request
# whose body read failed (413, bad chunked encoding) used to come back
# through error_page to a context that still waited for its body: no
# answer, the connection left open, and "[alert] open socket ... left in
# connection" at a graceful quit.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(sleep time);
use JSON::PP;
use AigovTest;
use AigovJWT;

my $t = AigovTest->new;
my $d = $t->dir;
my $h2port = AigovTest::free_port();

my ($rsa, $rsa_pub) = AigovJWT::keypair($d, 'rsa', 'rsa');
$t->write_file('allow.yaml', "version: 1\ndefault: allow\nrules: []\n");
$t->write_file('deny.yaml', "version: 1\ndefault: deny\nrules: []\n");
$t->write_file('pages/413.json', '{"page":"too large"}');
$t->write_file('pages/400.json', '{"page":"bad request"}');
$t->write_file('pages/403.json', '{"page":"forbidden"}');

$t->start_mock;
my $server = <<'EOF';
        client_max_body_size 10;
        aigov on;
        aigov_policy %%DIR%%/allow.yaml;
        aigov_jwt_key %%DIR%%/rsa.pub.pem;
        error_page 413 /413.json;
        error_page 400 /400.json;
        location / { proxy_pass http://mock; }
        location = /413.json { root %%DIR%%/pages; }
        location = /400.json { root %%DIR%%/pages; }
        location /named/ {
            error_page 413 = @named;
            proxy_pass http://mock;
        }
        location @named { return 200 '{"page":"named"}'; }
        location /denied/ {
            client_max_body_size 1m;
            aigov_policy %%DIR%%/deny.yaml;
            error_page 403 /403.json;
            proxy_pass http://mock;
        }
        location = /403.json { root %%DIR%%/pages; }
EOF
$t->write_conf(<<"EOF");
    upstream mock { server 127.0.0.1:%%MOCK%%; }
    server {
        listen 127.0.0.1:%%PORT%%;
$server
    }
    server {
        listen 127.0.0.1:$h2port http2;
$server
    }
EOF
$t->start_nginx;

my $tok = AigovJWT::mint(alg => 'RS256', key => $rsa, claims => { sub => 'alice' });
my $body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}]}';   # over 10 bytes

# Sends raw bytes (a list: strings, and numbers meaning "pause that long"),
# then reads until the server closes or 5 s pass. Returns the response and
# whether the connection was closed by the server.
sub raw {
    my (@parts) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port, Proto => 'tcp')
        or die "connect: $!";
    for (@parts) {
        if (/^[\d.]+$/) { sleep $_; next; }
        $s->syswrite($_);
    }
    my ($raw, $buf, $closed) = ('', '', 0);
    my $sel = IO::Select->new($s);
    my $end = time + 5;
    while (time < $end && $sel->can_read($end - time)) {
        my $n = $s->sysread($buf, 65536);
        if (!$n) { $closed = 1; last; }
        $raw .= $buf;
    }
    close $s;
    my $r = AigovTest::parse_response($raw);
    $r->{closed} = $closed;
    return $r;
}

my $head = "POST %s HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer $tok\r\n"
         . "Content-Type: application/json\r\n";

sub chunked {
    my ($path, @pieces) = @_;
    return (sprintf($head, $path) . "Transfer-Encoding: chunked\r\n\r\n",
            map { /^[\d.]+$/ ? $_ : sprintf("%x\r\n%s\r\n", length $_, $_) } @pieces);
}

my $r = raw(sprintf($head, '/v1/chat/completions') . "Content-Length: " . length($body) . "\r\n\r\n$body");
is($r->{status}, 413, 'Content-Length over the limit: 413');
is($r->{body}, '{"page":"too large"}', 'Content-Length over the limit: the error page');

$r = raw(chunked('/v1/chat/completions', $body), "0\r\n\r\n");
is($r->{status}, 413, 'chunked over the limit: 413 at once');
is($r->{body}, '{"page":"too large"}', 'chunked over the limit: the error page');
ok($r->{closed}, 'chunked over the limit: the connection is closed, not left hanging');

# the limit is passed only after the first read: the failure comes from
# the body reader, not from the access handler's own call
$r = raw(chunked('/v1/chat/completions', 'abcde', 0.3, $body), 0.2, "0\r\n\r\n");
is($r->{status}, 413, 'chunked, limit passed in a later read: 413');
is($r->{body}, '{"page":"too large"}', 'chunked, limit passed later: the error page');
ok($r->{closed}, 'chunked, limit passed later: the connection is closed');

$r = raw(sprintf($head, '/v1/chat/completions') . "Transfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n0\r\n\r\n");
is($r->{status}, 400, 'broken chunked encoding: 400');
is($r->{body}, '{"page":"bad request"}', 'broken chunked encoding: the error page');

$r = raw(chunked('/named/v1/chat/completions', $body), "0\r\n\r\n");
is($r->{status}, 200, 'error_page 413 = @named: answered by the named location');
is($r->{body}, '{"page":"named"}', 'error_page 413 = @named: its body');

# a refusal of aigov's own is its answer; error_page does not hide it
$r = raw(sprintf($head, '/denied/v1/chat/completions') . "Content-Length: " . length($body) . "\r\n\r\n$body");
is($r->{status}, 403, 'refused by the policy: 403');
like($r->{body}, qr/"type":"policy_violation"/, 'refused by the policy: the refusal JSON, at once');

# HTTP/2, with a content-length and without one (nginx-tests h2_request_body.t)
SKIP: {
    skip 'curl without HTTP/2', 3 unless `curl -V` =~ /HTTP2/;
    my $url = "http://127.0.0.1:$h2port/v1/chat/completions";
    for my $case ([ 'with a length', [ '--data-binary', $body ] ],
                  [ 'streamed without a length', [ '-H', 'Transfer-Encoding: chunked', '--data-binary', $body ] ]) {
        my ($name, $args) = @$case;
        my @cmd = ('curl', '-s', '--http2-prior-knowledge', '--max-time', '5', '-o', "$d/h2.out",
                   '-w', '%{http_code}', '-H', "Authorization: Bearer $tok",
                   '-H', 'Content-Type: application/json', @$args, $url);
        unlink "$d/h2.out";    # not the answer of the case before
        open my $p, '-|', @cmd or die "curl: $!";
        my $code = <$p> // '';
        close $p;
        my $exit = $? >> 8;
        if ($name =~ /without/) {
            is($code, '413', "HTTP/2 $name: 413") or diag("curl exit $exit");
            # curl writes h2.out only when an answer came
            if (open my $f, '<', "$d/h2.out") {
                my $got = do { local $/; <$f> } // '';
                close $f;
                is($got, '{"page":"too large"}', "HTTP/2 $name: the error page");
            } else {
                fail("HTTP/2 $name: the error page");
                diag("curl wrote no answer to $d/h2.out ($!; code '$code', curl exit $exit)");
            }
        } else {
            # nginx refuses a declared length before any module runs and may
            # reset the stream before curl reads the 413 (curl exit 92, and
            # then no h2.out); with a length, nginx itself refuses again at
            # the error page (its HTTP/2 discard leaves the length in place)
            # and sends its own page, with aigov off as well, so its body is
            # not checked
            ok($code eq '413' || $exit == 92, "HTTP/2 $name: 413 or a reset, not a hang ($code, exit $exit)");
        }
    }
}

# nothing is left open: a graceful quit finds no socket to abort
$t->stop_nginx;
my @alerts = grep { /\[alert\]/ } split /\n/, $t->error_log;
is(scalar @alerts, 0, 'no [alert] at graceful quit') or diag(join "\n", @alerts);

$t->done;
done_testing;
