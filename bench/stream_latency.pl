#!/usr/bin/perl
# Stream latency: how late streamed text reaches the client through aigov
# with the four bundled plugins on the answer, against the same stream
# through aigov without answer filters and through nginx alone.
#
# The mock (X-Mock-Pieces, X-Mock-Stream-Delay-Ms) writes a fixed list of
# pieces, as a model cuts its tokens (" word"), at a steady rate. For each
# rate (10, 30, 100 events a second) and answer (prose, code, a short
# answer under 256 bytes), every configuration reads the same stream
# BENCH_LATENCY_REPEAT times (default 3), interleaved. Reported: the time
# to the first content byte (median), what the plugins add to it, and the
# 50th and 99th percentile of each content event's extra delay: its arrival
# time minus the median arrival of the same event through nginx alone.
#
# Prints a Markdown section on stdout. Uses the test harness (t/lib) to
# start nginx and the mock on free loopback ports, and stops them.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw(time);
use File::Path ();
use AigovTest;
use AigovJWT;

my $REPEAT = $ENV{BENCH_LATENCY_REPEAT} // 3;
my @RATES = split ' ', ($ENV{BENCH_LATENCY_RATES} // '10 30 100');
my $BOUND = $ENV{BENCH_LATENCY_BOUND_MS} // 50;   # aigov_stream_hold_time of the bound row

my $root = AigovTest::root();
my $P = "$root/build/plugins";
-f "$P/$_.so" or die "build/plugins/$_.so is missing: run make build first\n"
    for qw(pii secrets blocklist injection);

my $prose = "Sure. Here is a short summary of the quarterly report. Sales grew in the "
    . "north and the west, while costs fell a little thanks to the new supplier. The "
    . "team plans to open two stores next spring and to hire about twenty people. "
    . "Let me know if you would like more detail on any of these points.";
my $code = "Here is a function that counts the words in a string:\n\n```c\n"
    . "#include <ctype.h>\n#include <stddef.h>\n\nsize_t count_words(const char *s)\n{\n"
    . "    size_t n = 0;\n    int in_word = 0;\n\n    for (; *s; s++) {\n"
    . "        if (isspace((unsigned char)*s)) {\n            in_word = 0;\n"
    . "        } else if (!in_word) {\n            in_word = 1;\n            n++;\n"
    . "        }\n    }\n    return n;\n}\n```\n\nIt treats any run of blanks as one break.";
my $short = "Yes. The meeting moved to Thursday at ten, in the small room on the third "
    . "floor. Bring the draft and the numbers from last week, and we will go through "
    . "them together.";
die "the short answer must stay under 256 bytes\n" if length($short) >= 256;

# " word" pieces, blanks and line breaks in front, as models cut them
sub pieces_of { my ($t) = @_; return [ $t =~ /(\s*\S+)/g ] }
my @ANSWERS = ([prose => pieces_of($prose)], [code => pieces_of($code)],
               [short => pieces_of($short)]);

my $t = AigovTest->new;
my $d = $t->dir;
my ($key, $pub) = AigovJWT::keypair($d, 'k', 'p256');
$t->write_file('four.yaml', <<'YAML');
version: 1
default: allow
rules:
  - name: four
    filters:
      - {plugin: pii, stages: [response], action: redact}
      - {plugin: secrets, stages: [response], action: redact}
      - {plugin: blocklist, stages: [response], action: redact,
         config: {terms: ["project neptune", "acme merger"]}}
      - {plugin: injection, stages: [response], action: block}
    decision: allow
YAML
$t->write_file('none.yaml', "version: 1\ndefault: allow\nrules: []\n");

my %port = (nginx => AigovTest::free_port(), none => AigovTest::free_port(),
            four => $t->port, bound => AigovTest::free_port());
my $plugins = join ' ', map { "aigov_plugin $_ $P/$_.so;" } qw(pii secrets blocklist injection);
my $proxy = 'proxy_pass http://mock; proxy_http_version 1.1; proxy_set_header Connection ""; '
          . 'proxy_set_header Accept-Encoding ""; proxy_buffering off;';
$t->write_conf(<<"EOF");
    $plugins
    upstream mock { server 127.0.0.1:%%MOCK%%; keepalive 8; }
    server { listen 127.0.0.1:$port{nginx}; location / { $proxy } }
    server { listen 127.0.0.1:$port{none};
             location / { aigov on; aigov_policy $d/none.yaml; aigov_jwt_key $pub; $proxy } }
    server { listen 127.0.0.1:$port{four};
             location / { aigov on; aigov_policy $d/four.yaml; aigov_jwt_key $pub; $proxy } }
    server { listen 127.0.0.1:$port{bound};
             location / { aigov on; aigov_policy $d/four.yaml; aigov_jwt_key $pub;
                          aigov_stream_hold_time ${BOUND}ms; $proxy } }
EOF
$t->start_mock;
my ($ok, $out) = $t->nginx_t;
die "nginx -t: $out\n" unless $ok;
$t->start_nginx;
AigovTest::wait_port($_) for values %port;

my $tok = AigovJWT::mint(alg => 'ES256', key => $key, claims => { sub => 'bench' });
my $body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"stream":true}';

# Arrival time of each content event of one stream, from the request.
sub arrivals {
    my ($cfg, $pieces, $rate) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port{$cfg},
                                  Proto => 'tcp', Timeout => 60) or die "connect: $!";
    my $req = "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
            . "Authorization: Bearer $tok\r\nContent-Type: application/json\r\n"
            . "X-Mock-Pieces: " . JSON::PP->new->ascii->encode($pieces) . "\r\n"
            . "X-Mock-Stream-Delay-Ms: " . int(1000 / $rate + 0.5) . "\r\n"
            . "Content-Length: " . length($body) . "\r\n\r\n$body";
    my $t0 = time;
    $s->print($req);
    my ($raw, $buf, @at) = ('');
    while (sysread($s, $buf, 65536)) {
        my $now = time - $t0;
        $raw .= $buf;
        my $n = () = $raw =~ /"content":"(?:[^"\\]|\\.)+"/g;
        push @at, ($now) x ($n - @at);
    }
    close $s;
    die "$cfg: $rate/s: got " . scalar(@at) . " content events of " . scalar(@$pieces) . "\n"
        unless @at == @$pieces;
    return \@at;
}

sub median { my @s = sort { $a <=> $b } @_; return @s ? $s[int($#s / 2)] : 0 }
sub pct {
    my ($p, @v) = @_;
    my @s = sort { $a <=> $b } @v;
    return 0 unless @s;
    my $i = int($p / 100 * @s + 0.999999) - 1;
    return $s[$i < 0 ? 0 : $i];
}
sub ms { sprintf '%.0f', 1000 * $_[0] }

my @rows;
for my $rate (@RATES) {
    for my $a (@ANSWERS) {
        my ($name, $pieces) = @$a;
        my %runs;
        for (1 .. $REPEAT) {
            push @{ $runs{$_} }, arrivals($_, $pieces, $rate) for qw(nginx none four bound);
        }
        # each event's usual arrival through nginx alone
        my @base = map { my $i = $_; median(map { $_->[$i] } @{ $runs{nginx} }) } 0 .. $#$pieces;
        my %r;
        for my $cfg (qw(nginx none four bound)) {
            my @extra;
            for my $run (@{ $runs{$cfg} }) {
                push @extra, $run->[$_] - $base[$_] for 0 .. $#$pieces;
            }
            $r{$cfg} = { first => median(map { $_->[0] } @{ $runs{$cfg} }),
                         p50 => pct(50, @extra), p99 => pct(99, @extra) };
        }
        push @rows, sprintf "| %s, %d events, %d B | %d/s | %s | %s | %s | %s | %s / %s | %s / %s | %s | %s / %s |",
            $name, scalar @$pieces, length(join '', @$pieces), $rate,
            ms($r{nginx}{first}), ms($r{none}{first}), ms($r{four}{first}),
            ms($r{four}{first} - $r{none}{first}),
            ms($r{none}{p50}), ms($r{none}{p99}), ms($r{four}{p50}), ms($r{four}{p99}),
            ms($r{bound}{first} - $r{none}{first}), ms($r{bound}{p50}), ms($r{bound}{p99});
        print STDERR "bench: latency $name $rate/s done\n";
    }
}

print <<"EOF";
## Stream latency (bench/stream_latency.pl)

The mock writes each answer as " word" pieces at a steady rate; each row
reads it $REPEAT times through nginx alone, through aigov without answer
filters, and through aigov with pii, secrets, blocklist and injection on
the answer (1 worker each, loopback). First content: median time from the
request to the first text byte, in ms. Added: what the four plugins add to
it. Extra delay: each text event's arrival minus its median arrival through
nginx alone, p50 / p99 over all events and runs, in ms. Bound: the four
plugins with `aigov_stream_hold_time ${BOUND}ms` (text released after that
long without the filters' all-clear; the record says so).

| answer | rate | first content, nginx | aigov, no answer filter | aigov, four plugins | added by the plugins | extra delay, no filter | extra delay, four plugins | added, bound ${BOUND} ms | extra delay, bound |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
EOF
print "$_\n" for @rows;

$t->stop;
# a finished run leaves nothing under build/t (its folder kept with AIGOV_KEEP)
File::Path::remove_tree($t->dir) unless $ENV{AIGOV_KEEP};
