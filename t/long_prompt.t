#!/usr/bin/perl
# Long prompts are read where nginx keeps them: in its own buffer (the part
# read with the headers moved in front of the rest, one buffer sent
# upstream). A body spilled to a temporary file or sent in chunks is copied
# into a buffer the worker keeps for the next one, up to aigov_body_keep in
# all; beyond that a file is mapped and chunks copied into the pool.
# Whatever the path, the filters see the whole prompt, its first and last
# bytes included, and the upstream gets exactly the body the gateway judged.
# aigov_metrics shows the kept and lent bytes and the bodies that missed.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Digest::SHA qw(sha256_hex);
use AigovTest;
use IO::Socket::INET;

my $t = AigovTest->new;
$t->start_mock;
$t->write_file('policy.yaml', <<'YAML');
version: 1
default: deny
rules:
  - name: everyone
    filters:
      - plugin: blocklist
        stages: [request]
        action: redact
        config: {terms: ["merger"]}
    decision: allow
YAML

my $file_port = AigovTest::free_port();
my $loc = "aigov_policy %%DIR%%/policy.yaml; error_log %%DIR%%/logs/body.log debug;";
my $conf = $t->gateway_conf(
    http => "aigov_plugin blocklist %%ROOT%%/build/plugins/blocklist.so;\n"
          . "aigov_body_keep 2m;",
    max_body => '8m',
    server => 'client_body_buffer_size 8m;',
    location => $loc);
# a second server whose bodies above 16 KiB go to a temporary file
$conf .= <<"EOF";
    server {
        listen 127.0.0.1:$file_port;
        client_max_body_size 8m;
        client_body_buffer_size 16k;
        location / {
            aigov on;
            $loc
            proxy_pass http://mock;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location = /metrics { aigov_metrics; }
    }
EOF
$t->write_conf($conf);
$t->start_nginx;

my $log = $t->dir . '/logs/body.log';

# The kept buffers' series in aigov_metrics: kept bytes, lent bytes, misses.
sub kept {
    my $r = $t->request('GET', '/metrics', port => $file_port);
    my %m = $r->{body} =~ /^(aigov_body_buffers_\w+) (\d+)$/mg;
    return [ map { $m{"aigov_body_buffers_$_"} // 'absent' } qw(bytes lent_bytes missed_total) ];
}
my $UNIT = 256 << 10;

# What the gateway said about the last request's body.
sub body_path {
    open my $f, '<', $log or return '';
    my $last = '';
    while (<$f>) {
        $last = $1 if /aigov: request body of \d+ bytes (read in place|mapped from its file|copied into a new kept buffer|copied into a kept buffer|copied)$/;
    }
    close $f;
    return $last;
}

# A chat body of about $size bytes: "merger" as the first and the last word
# of the user's text, so that the filter must see both ends.
sub prompt {
    my ($size, $fill) = @_;
    $fill //= 'lorem ipsum dolor sit amet ';
    my $mid = $fill x int($size / length($fill) + 1);
    return encode_json({ model => 'gpt-4o-mini',
                         messages => [ { role => 'user', content => "merger $mid merger" } ] });
}

sub redacted {
    my ($body) = @_;
    (my $r = $body) =~ s/merger/[REDACTED:BLOCKLIST]/g;
    return $r;
}

sub check {
    my ($name, $body, $path, %o) = @_;
    truncate $log, 0;
    my $r = $t->request('POST', '/v1/chat/completions', body => $body, %o);
    is($r->{status}, 200, "$name: 200");
    is($r->{headers}{'x-mock-body-sha256'}, sha256_hex(redacted($body)),
       "$name: both ends redacted, the rest byte for byte");
    is($r->{headers}{'x-mock-body-length'}, length(redacted($body)), "$name: length");
    is(body_path(), $path, "$name: body $path");
}

# in memory, Content-Length: the headers' buffer holds the start
check('1 MiB in memory', prompt(1 << 20), 'read in place');
check('4 MiB in memory', prompt(4 << 20), 'read in place');
check('16 KiB in memory', prompt(16 << 10), 'read in place');
# a body that came whole with the headers
check('small body', prompt(100), 'read in place');
# non-ASCII text, escaped and raw, on the same path
check('1 MiB, other scripts', prompt(1 << 20, "\x{43f}\x{440}\x{438}\x{432}\x{435}\x{442} caf\x{e9} \x{1f600} "),
      'read in place');
# a long header in front: less of the body arrives with the headers
check('1 MiB after a long header', prompt(1 << 20), 'read in place',
      headers => { 'X-Pad' => 'p' x 900 });
is_deeply(kept(), [0, 0, 0], 'metrics: no body buffer kept yet, none missed');
# chunked: the pieces lie between chunk headers, so the body is copied,
# into a buffer kept for the next long body (1.25 MiB of the 2 MiB budget)
check('1 MiB chunked', prompt(1 << 20), 'copied into a new kept buffer',
      chunked => 1, chunk_size => 65536);
# small chunked bodies come from the pool
check('64 KiB chunked', prompt(64 << 10), 'copied', chunked => 1, chunk_size => 8192);
is_deeply(kept(), [5 * $UNIT, 0, 0], 'metrics: 1.25 MiB kept, given back, a small body no miss');

# spilled to a temporary file: copied into the kept buffer, not a new one
my %spill = (port => $file_port);
check('1 MiB spilled', prompt(1 << 20), 'copied into a kept buffer', %spill);
check('900 KB spilled', prompt(900_000), 'copied into a kept buffer', %spill);
# larger than the whole budget: mapped from its file
check('3 MiB spilled', prompt(3 << 20), 'mapped from its file', %spill);
check('3 MiB chunked', prompt(3 << 20), 'copied', chunked => 1, chunk_size => 65536);
is_deeply(kept(), [5 * $UNIT, 0, 2], 'metrics: two bodies larger than the budget missed');

# While one request holds the kept buffer (its answer delayed), a second
# one does not fit in what is left of the budget: its file is mapped.
{
    my $held = prompt(1 << 20, 'held body text ');
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $file_port, Proto => 'tcp')
        or die $!;
    truncate $log, 0;
    $s->print("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              . "X-Mock-Delay-Ms: 1500\r\nConnection: close\r\n"
              . "Content-Length: " . length($held) . "\r\n\r\n$held");
    my $deadline = time + 10;
    sleep 0.05 until body_path() || time > $deadline;
    is(body_path(), 'copied into a kept buffer', 'held: its body in the kept buffer');
    is_deeply(kept(), [5 * $UNIT, 5 * $UNIT, 2], 'metrics: the held request has the buffer lent');
    check('1 MiB spilled beside a held one', prompt(1 << 20), 'mapped from its file', %spill);
    my $got = '';
    while (sysread($s, my $buf, 65536)) { $got .= $buf }
    close $s;
    my ($sha) = $got =~ /X-Mock-Body-Sha256: ([0-9a-f]+)/i;
    is($sha, sha256_hex(redacted($held)), 'held: its body reached the upstream whole');
    # given back when the held request ended
    check('1 MiB spilled after', prompt(1 << 20), 'copied into a kept buffer', %spill);
    is_deeply(kept(), [5 * $UNIT, 0, 3], 'metrics: given back; the request beside it missed');
}

# a body too large for the free buffer: that one goes, a larger one comes
check('1.9 MiB spilled', prompt(1_900_000), 'copied into a new kept buffer', %spill);
check('1 MiB spilled into the larger one', prompt(1 << 20), 'copied into a kept buffer', %spill);
is_deeply(kept(), [2 << 20, 0, 3], 'metrics: the 2 MiB buffer replaced the 1.25 MiB one');

# a body cut short is not read at all, wherever it would have gone
{
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port, Proto => 'tcp')
        or die $!;
    my $body = prompt(1 << 20);
    $s->print("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              . "Content-Length: " . length($body) . "\r\n\r\n" . substr($body, 0, 300000));
    close $s;
    # the gateway still answers the next request, and right
    check('after a cut body', prompt(1 << 20), 'read in place');
}

# many requests on one connection: each body read in place and whole
{
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port, Proto => 'tcp')
        or die $!;
    my @bodies = map { prompt($_) } (200_000, 3_000, 1_500_000);
    my $req = '';
    for my $b (@bodies) {
        $req .= "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              . "Content-Length: " . length($b) . "\r\n\r\n$b";
    }
    $s->print($req);
    my $got = '';
    my @sha;
    while (@sha < @bodies) {
        my $n = sysread($s, my $buf, 65536);
        last unless $n;
        $got .= $buf;
        @sha = $got =~ /X-Mock-Body-Sha256: ([0-9a-f]+)/gi;
    }
    close $s;
    is_deeply(\@sha, [ map { sha256_hex(redacted($_)) } @bodies ], 'pipelined: each body whole');
}

# a worker leaving takes its buffers out of the gauges; the new worker
# starts with none, and the counter goes on
{
    my @old = $t->workers;
    my ($ok, $out) = $t->reload;
    ok($ok, 'reload') or diag($out);
    my $deadline = time + 10;
    sleep 0.05 while kill(0, @old) && time < $deadline;
    ok(!kill(0, @old), 'the old worker left');
    is_deeply(kept(), [0, 0, 3], 'metrics after a reload: nothing kept, misses kept');
    check('1 MiB spilled after the reload', prompt(1 << 20), 'copied into a new kept buffer', %spill);
    is_deeply(kept(), [5 * $UNIT, 0, 3], 'metrics: the new worker\'s buffer');
}

# a budget that is not a size is refused by nginx -t, by name
{
    (my $bad = $conf) =~ s/aigov_body_keep 2m;/aigov_body_keep lots;/ or die;
    $t->write_conf($bad);
    my ($ok, $out) = $t->nginx_t;
    ok(!$ok, 'aigov_body_keep lots: nginx -t fails');
    like($out, qr/"aigov_body_keep" directive invalid value/, 'the error names the directive');
    $t->write_conf($conf);
}

$t->done;
done_testing;
