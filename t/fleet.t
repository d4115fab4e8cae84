#!/usr/bin/perl
# A fleet probed as an attacker and an operator would: three gateways (two
# workers each) share one redis-server on loopback and one mock. Token
# counts settle exactly across gateways, also for upstream failures, a
# graceful stop or a reload mid-answer; odd subject names keep their own
# keys under the prefix; Redis refusing writes (maxmemory), killing the
# gateways' connections, closing idle ones or sleeping is taken by the
# fail mode and recovered from without help; Retry-After agrees between
# gateways.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use AigovTest;
use AigovJWT;
use IO::Socket::INET;

my $redis_bin = '/usr/bin/redis-server';
plan skip_all => 'redis-server is not installed (make deps)' unless -x $redis_bin;

my @gw = (AigovTest->new, AigovTest->new(name => 'fleet-b'), AigovTest->new(name => 'fleet-c'));
my $t = $gw[0];
my $d = $t->dir;
my ($key, $pub) = AigovJWT::keypair($d, 'k', 'rsa');

my $rport = AigovTest::free_port();
my $redis_pid;
my $owner = $$;

sub start_redis {
    $redis_pid = AigovTest::start_redis($redis_bin, $d, $rport, '--enable-debug-command', 'local');
}

sub stop_redis {
    my $pid = $redis_pid or return;
    undef $redis_pid;
    AigovTest::stop_redis($pid);
}

END { stop_redis() if $$ == $owner }

sub rcli { my $out = `redis-cli -p $rport @_ 2>&1`; chomp $out; return $out }
sub rminute { rcli('TIME') =~ /^(\d+)/ ? int($1 / 60) : 0 }

start_redis();

$t->write_file('policy.yaml', <<'EOF');
version: 1
default: deny
rules:
  - name: tokens
    when:
      subjects: ["tok-*"]
    limits:
      tokens_per_minute: 1000
    decision: allow
  - name: requests
    when:
      subjects: ["rpm-*"]
    limits:
      requests_per_minute: 3
    decision: allow
  - name: daily
    when:
      subjects: ["day-*"]
    limits:
      tokens_per_day: 500
    decision: allow
EOF

my $redis = "127.0.0.1:$rport prefix=fl:";
my $local_port = AigovTest::free_port();
my $open_port = AigovTest::free_port();
my $mport = AigovTest::free_port();

sub server {
    my ($port, $quota) = @_;
    return <<"EOF";
    server {
        listen 127.0.0.1:$port;
        location / {
            aigov on;
            $quota
            proxy_pass http://mock;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Authorization "";
            proxy_set_header Accept-Encoding "";
            proxy_buffering off;
        }
    }
EOF
}

$t->start_mock;
for my $g (@gw) {
    $g->{mock_port} = $t->mock_port;
    my $extra = $g != $t ? '' : server($local_port, "aigov_quota_redis $redis timeout=500ms fail=local;")
              . server($open_port, "aigov_quota_redis $redis timeout=500ms fail=open;")
              . "    server { listen 127.0.0.1:$mport; location = /metrics { aigov_metrics; } }\n";
    $g->write_conf(<<"EOF" . $extra, workers => 2);
    aigov_policy $d/policy.yaml;
    aigov_jwt_key $pub;
    upstream mock { server 127.0.0.1:%%MOCK%%; keepalive 8; }
@{[ server('%%PORT%%', "aigov_quota_redis $redis timeout=500ms;") ]}
EOF
    $g->start_nginx;
}

sub tok { AigovJWT::mint(alg => 'RS256', key => $key, claims => { @_ }) }
sub code { my $j = AigovTest::json($_[0]) // {}; return $j->{error}{code} // '' }

sub chat {
    my ($sub, %o) = @_;
    my $body = { model => 'gpt-4o-mini', messages => [ { role => 'user', content => 'hi' } ],
                 max_tokens => $o{max_tokens} // 100 };
    $body->{stream} = JSON::PP::true if $o{stream};
    my %h = (Authorization => 'Bearer ' . (ref $sub ? $$sub : tok(sub => $sub)), %{ $o{headers} // {} });
    my $g = $o{gw} // $t;
    my $r;
    eval {
        local $SIG{ALRM} = sub { die "hung\n" };
        alarm 20;
        $r = $o{stream} ? $g->stream('/v1/chat/completions', body => $body, headers => \%h)
                        : $g->request('POST', '/v1/chat/completions', body => $body,
                                      headers => \%h, port => $o{port});
        alarm 0;
    };
    alarm 0;
    return $r // { status => 'hung', headers => {}, body => '' };
}

# The minute a part of the test starts in; tokens() reads its window and
# the next, so a part that runs over the minute's end (a loaded machine)
# still reads every token it counted.
my $minute;
sub away_from_minute_edge { my $s = time % 60; sleep(61 - $s) if $s > 50; $minute = rminute() }

sub tokens {
    my ($sub) = @_;
    my @t = map { rcli('HGET', "fl:$sub:m:$_", 't') } $minute, $minute + 1;
    return '' if !grep { length } @t;
    return 0 + ($t[0] || 0) + ($t[1] || 0) . '';
}

# ---- exact counts over three gateways ----------------------------------------

away_from_minute_edge();
{
    # 30 requests at once, 10 per gateway, 100 tokens reserved each, 13 used
    my @pids;
    my $dir = "$d/par";
    mkdir $dir;
    for my $p (0 .. 29) {
        my $pid = fork // die;
        if (!$pid) {
            my $r = chat('tok-par', gw => $gw[$p % 3], headers => { 'X-Mock-Usage' => '3,10' });
            open my $f, '>', "$dir/$p";
            print $f $r->{status};
            exit 0;
        }
        push @pids, $pid;
    }
    waitpid($_, 0) for @pids;
    my @st = map { open my $f, '<', "$dir/$_"; scalar <$f> } 0 .. 29;
    my $ok = grep { $_ eq '200' } @st;
    ok($ok >= 10, "30 at once over three gateways: $ok admitted (at least 10 fit the reservations)");
    ok(!grep({ $_ ne '200' && $_ ne '429' } @st), '... every other refused, none failed') or diag("@st");
    sleep 0.3;
    is(tokens('tok-par'), 13 * $ok, 'Redis holds exactly the usage of those admitted (13 each)');
}

# an upstream failure costs nothing: its reservation is given back
{
    my @st = map { chat('tok-fail', gw => $gw[$_ % 3], headers => { 'X-Mock-Status' => '500' })->{status} } 0 .. 5;
    is("@st", '500 500 500 500 500 500', 'the upstream fails six times');
    sleep 0.3;
    is(tokens('tok-fail'), '0', '... and the six reservations are given back in Redis');
}

# ---- subject names cannot reach another subject's key ------------------------

{
    away_from_minute_edge();
    my $m = $minute;
    # "rpm-a:m:<minute>" would be a prefix of nothing but itself: its own keys
    for my $s ("rpm-a", "rpm-a:m:$m", "rpm-{a}", "rpm-a b", "rpm-\xc3\xa9t\xc3\xa9 \xe2\x82\xac", 'rpm-' . ('x' x 3000)) {
        my @st = map { chat(\tok(sub => $s))->{status} } 1 .. 4;
        is("@st", '200 200 200 429', 'subject ' . substr($s, 0, 20) . '...: its own 3 per minute');
    }
    my @keys = split /\n/, rcli('--scan', '--pattern', "'*rpm-*'");
    ok(!grep({ !/^fl:rpm-/ } @keys), 'every key under the prefix') or diag("@keys");
    is(scalar @keys, 6, 'six subjects, six keys');
    my $r = chat(\tok(sub => "rpm-a\x{0}b"));
    ok($r->{status} == 401 || $r->{status} == 403 || $r->{status} == 200, "a NUL in sub: $r->{status}");
    if ($r->{status} == 200) {
        is(rcli('HGET', "fl:rpm-a:m:$m", 'r'), '3', '... not counted as rpm-a');
    }
}

# ---- Retry-After agrees between gateways -------------------------------------

{
    chat('tok-retry', max_tokens => 990, headers => { 'X-Mock-Usage' => '0,990' });
    my @ra = map { my $r = chat('tok-retry', gw => $_, max_tokens => 500); [$r->{status}, $r->{headers}{'retry-after'} // -1] } @gw;
    is(join(' ', map { $_->[0] } @ra), '429 429 429', 'over tokens_per_minute on each gateway');
    my ($lo, $hi) = (sort { $a <=> $b } map { $_->[1] } @ra)[0, -1];
    ok($hi - $lo <= 1 && $lo >= 1 && $hi <= 60, "Retry-After agrees ($lo..$hi)");
}

# ---- Redis refusing writes (maxmemory), then taking them again ---------------

{
    rcli('CONFIG SET maxmemory-policy noeviction');
    rcli('CONFIG SET maxmemory 1');
    my $r = chat('tok-oom');
    is($r->{status}, 429, 'maxmemory reached, fail=closed: 429');
    is(code($r), 'quota_unavailable', '... quota_unavailable');
    $r = chat('tok-oom-l', port => $local_port);
    is($r->{status}, 200, 'fail=local: served');
    $r = chat('tok-oom-o', port => $open_port);
    is($r->{status}, 200, 'fail=open: served');
    like($t->error_log, qr/OOM/, 'the OOM answer is logged');
    # the metrics tell how many the fail mode decided, as the audit does
    sleep 0.3;
    my %m = $t->request('GET', '/metrics', port => $mport)->{body} =~ /^aigov_quota_store_total\{store="(\w+)"\} (\d+)$/mg;
    ok(($m{redis} // 0) >= 1, "metrics: quota_store redis counted ($m{redis})");
    is($m{local}, 1, '... local: the one fail=local took');
    is($m{none}, 1, '... none: the one fail=open served uncounted');
    rcli('CONFIG SET maxmemory 0');
    is(chat('tok-oom')->{status}, 200, 'memory again: counted in Redis at once');
}

# ---- connections killed or closed while idle ---------------------------------

{
    chat('tok-kill', gw => $_) for @gw;   # every gateway has a connection
    rcli('CLIENT KILL TYPE normal');
    my @st = map { chat('tok-kill', gw => $_, max_tokens => 10)->{status} } @gw, @gw;
    is("@st", '200 200 200 200 200 200', 'CLIENT KILL while idle: the next requests are decided in Redis');
    rcli('CONFIG SET timeout 1');
    sleep 2.2;
    @st = map { chat('tok-idle', gw => $_, max_tokens => 10)->{status} } @gw, @gw;
    is("@st", '200 200 200 200 200 200', "Redis's idle timeout closed them: decided in Redis again");
    rcli('CONFIG SET timeout 0');
}

# ---- settled after a graceful stop and a reload mid-answer ------------------

away_from_minute_edge();
for my $how ('reload', 'QUIT') {
    my $g = $how eq 'reload' ? $gw[1] : $gw[2];
    my $sub = "tok-$how";
    my $pid = fork // die;
    if (!$pid) {
        my $r = chat($sub, gw => $g, stream => 1,
                     headers => { 'X-Mock-Usage' => '5,20', 'X-Mock-Stream-Delay-Ms' => '300' });
        exit($r->{status} eq '200' ? 0 : 1);
    }
    sleep 0.5;
    is(tokens($sub), '101', "$how mid-stream: the reservation is held meanwhile");
    if ($how eq 'reload') { $g->reload } else { $g->signal_nginx('QUIT') }
    waitpid($pid, 0);
    is($? >> 8, 0, "... the stream ends whole");
    sleep 0.5;
    is(tokens($sub), '25', '... and is settled to its usage');
}

# ---- Redis closes the connection in the same turn as requests come ----------
# The workers are stopped while requests are written on kept-alive
# connections and Redis kills the gateway's connection (CLIENT KILL; Redis's
# idle timeout or a restart do the same); let go, a worker reads the
# requests and then the connection's end in one event loop turn. The
# admissions held for that turn's script must go out on a new connection,
# not take the fail mode: Redis is there.

sub http_req {
    my ($token, $close) = @_;
    my $body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"max_tokens":10}';
    return "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer $token\r\n"
         . "Content-Type: application/json\r\nContent-Length: " . length($body) . "\r\n"
         . ($close ? "Connection: close\r\n" : '') . "\r\n$body";
}

sub read_answer {
    my ($c) = @_;
    my $head = '';
    while ($head !~ /\r\n\r\n/) { sysread($c, $head, 4096, length $head) or last }
    my ($len) = $head =~ /Content-Length: (\d+)/i;
    my $have = length($head) - index($head, "\r\n\r\n") - 4;
    while (defined $len && $have < $len) { my $got = sysread($c, my $buf, 4096) or last; $have += $got }
    return $head;
}

{
    my $tk = tok(sub => 'tok-turn');
    my @s;
    for (1 .. 8) {
        my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port, Timeout => 5) or die;
        print $c http_req($tk, 0);
        read_answer($c);   # each worker now has its Redis connection, idle
        push @s, $c;
    }
    my @w = $t->workers;
    kill 'STOP', @w;
    syswrite($_, http_req($tk, 1)) for @s;
    sleep 0.1;
    rcli('CLIENT KILL TYPE normal');
    sleep 0.1;
    kill 'CONT', @w;
    my @codes;
    for my $c (@s) {
        my $res = eval { local $SIG{ALRM} = sub { die "hung\n" }; alarm 20; my $r = read_answer($c); alarm 0; $r } // '';
        push @codes, $res =~ m{^HTTP/1\.1 (\d+)} ? $1 : 'none';
        close $c;
    }
    is("@codes", join(' ', ('200') x 8), 'connection killed in the same turn: the admissions are decided in Redis');
}

# ---- a fast stop (TERM) mid-stream: the reservation is held until its window ends
# The worker exits at once and never settles: what it reserved counts in
# Redis until the minute's key expires, never longer.
{
    my $g = $gw[1];
    away_from_minute_edge();
    my $pid = fork // die;
    if (!$pid) {
        chat('tok-term', gw => $g, stream => 1,
             headers => { 'X-Mock-Usage' => '5,20', 'X-Mock-Stream-Delay-Ms' => '300' });
        exit 0;
    }
    sleep 0.5;
    $g->signal_nginx('TERM');
    waitpid($pid, 0);
    sleep 0.3;
    is(tokens('tok-term'), '101', 'TERM mid-stream: the reservation stays counted');
    my $ttl = rcli('TTL', "fl:tok-term:m:$minute");
    ok($ttl > 0 && $ttl <= 120, "... until its minute's key expires ($ttl s)");
    delete $g->{pids}{nginx};
}

# ---- a settlement made while Redis does not answer is held, then sent -------
# One worker: a stream is admitted, Redis is paused, a request finds it
# silent (the store is "down" for a second), the stream ends (its
# settlement cannot be sent), Redis resumes; the next request's connection
# takes the held settlement along, and Redis holds the stream's usage, not
# its reservation.
{
    my $g = AigovTest->new(name => 'fleet-d');
    $g->{mock_port} = $t->mock_port;
    $g->write_conf(<<"EOF", workers => 1);
    aigov_policy $d/policy.yaml;
    aigov_jwt_key $pub;
    upstream mock { server 127.0.0.1:%%MOCK%%; keepalive 8; }
@{[ server('%%PORT%%', "aigov_quota_redis $redis timeout=300ms;") ]}
EOF
    $g->start_nginx;
    away_from_minute_edge();
    my $pid = fork // die;
    if (!$pid) {
        my $r = chat('tok-held', gw => $g, stream => 1,
                     headers => { 'X-Mock-Usage' => '5,20', 'X-Mock-Stream-Delay-Ms' => '150',
                                  'X-Mock-Pieces' => '["a","b","c","d"]' });
        exit($r->{status} eq '200' ? 0 : 1);
    }
    sleep 0.3;
    is(tokens('tok-held'), '101', 'a stream admitted, its reservation in Redis');
    kill 'STOP', $redis_pid;
    my $r = chat('tok-probe', gw => $g);
    is(code($r), 'quota_unavailable', 'Redis paused: a request times out (fail=closed)');
    # the stream ends while Redis is still paused, so its settlement
    # cannot be sent, however long it took on a loaded machine
    waitpid($pid, 0);
    is($? >> 8, 0, 'the stream ends whole');
    kill 'CONT', $redis_pid;
    sleep 1.3;
    is(chat('tok-probe', gw => $g, max_tokens => 5)->{status}, 200, 'Redis answers again');
    sleep 0.3;
    is(tokens('tok-held'), '25', '... and holds the stream\'s usage: the held settlement was sent');
    $g->done;
}

# ---- DEBUG SLEEP: slower than timeout= ---------------------------------------

{
    my $sl = fork // die;
    if (!$sl) { rcli('DEBUG SLEEP 1.5'); exit 0 }
    sleep 0.2;
    my $r = chat('tok-slow');
    is($r->{status}, 429, 'Redis asleep, fail=closed: 429 quota_unavailable at the timeout');
    waitpid($sl, 0);
    sleep 1.2;
    is(chat('tok-slow')->{status}, 200, '... and decided in Redis once it answers');
}

$_->done for reverse @gw[0, 2];
stop_redis();
done_testing;
