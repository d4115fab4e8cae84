#!/usr/bin/perl
# Quotas in Redis (aigov_quota_redis): two separate nginx instances (two
# masters, two workers each) in front of one mock share Debian's
# redis-server, started here on a loopback port: together they admit
# exactly what one gateway would, reservations and settlements of streamed
# requests never let admitted usage pass a token limit, and when Redis is
# stopped, paused or comes back each fail mode does what it says while
# requests that need no quota keep being answered.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use AigovTest;
use AigovJWT;
use File::Path ();
use Digest::SHA ();
use IO::Socket::INET;

my $redis_bin = '/usr/bin/redis-server';
plan skip_all => 'redis-server is not installed (make deps)' unless -x $redis_bin;

my $t = AigovTest->new;
my $t2 = AigovTest->new(name => 'redis-b');
my $d = $t->dir;
my $aigov = AigovTest::root() . '/build/aigov';
my ($key, $pub) = AigovJWT::keypair($d, 'k', 'rsa');
system("$aigov keygen --out $d/audit.key --name test.example/aigov >/dev/null 2>&1") == 0 or die 'keygen';

# ---- Redis, started and stopped by this test ------------------------------

my $rport = AigovTest::free_port();
my $redis_pid;
my $owner = $$;

sub start_redis {
    $redis_pid = AigovTest::start_redis($redis_bin, $d, $rport,
                                        '--unixsocket', "$d/redis.sock", '--unixsocketperm', '777');
}

sub stop_redis {
    my $pid = $redis_pid or return;
    undef $redis_pid;
    AigovTest::stop_redis($pid);
}

END { stop_redis() if $$ == $owner }

sub rcli { my $out = `redis-cli -p $rport @_ 2>&1`; chomp $out; return $out }

sub commandstat {
    my ($cmd) = @_;
    my $info = rcli('INFO commandstats');
    return $info =~ /cmdstat_$cmd:calls=(\d+)/ ? $1 : 0;
}

start_redis();
is(rcli('PING'), 'PONG', 'redis-server answers');
rcli("ACL SETUSER gw on '>gw-secret' '~*' '+\@all'");

# ---- the gateways ---------------------------------------------------------

$t->write_file('policy.yaml', <<'EOF');
version: 1
default: deny
rules:
  - name: fleet-requests
    when:
      subjects: ["rpm-*"]
    limits:
      requests_per_minute: 10
    decision: allow
  - name: fleet-tokens
    when:
      subjects: ["tok-*"]
    limits:
      tokens_per_minute: 1000
    decision: allow
  - name: small
    when:
      subjects: ["loc-*"]
    limits:
      requests_per_minute: 3
    decision: allow
  - name: daily
    when:
      subjects: ["day-*"]
    limits:
      tokens_per_day: 300
    decision: allow
  - name: no-quota
    when:
      subjects: ["free-*"]
    decision: allow
  - name: mix-requests
    when:
      subjects: ["mix-*"]
      models: ["gpt-4o-mini"]
    limits:
      requests_per_minute: 100
    decision: allow
  - name: mix-tokens
    when:
      subjects: ["mix-*"]
    limits:
      tokens_per_minute: 600
    decision: allow
EOF

my $redis = "127.0.0.1:$rport db=3 prefix=fleet:";
my %port1 = map { $_ => AigovTest::free_port() } qw(open local plain badauth unix);
my %port2;

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
            proxy_set_header Accept-Encoding "";
            proxy_buffering off;
        }
    }
EOF
}

sub conf {
    my ($inst, $closed, $extra) = @_;
    return <<"EOF";
    aigov_audit_log %%DIR%%/audit.log;
    aigov_audit_key $d/audit.key;
    aigov_audit_origin test.example/aigov;
    aigov_policy $d/policy.yaml;
    aigov_jwt_key $pub;
    upstream mock { server 127.0.0.1:%%MOCK%%; keepalive 8; }
@{[ server('%%PORT%%', $closed) ]}
$extra
EOF
}

$t->start_mock;
$t2->{mock_port} = $t->mock_port;

# instance 1: fail closed on its main port, and one server per other mode
$t->write_conf(conf($t, "aigov_quota_redis $redis connect_timeout=1s timeout=3s;",
                    server($port1{open}, "aigov_quota_redis $redis timeout=3s fail=open;")
                  . server($port1{local}, "aigov_quota_redis $redis timeout=3s fail=local;")
                  . server($port1{plain}, '')
                  . server($port1{badauth}, "aigov_quota_redis $redis user=gw password=wrong;")
                  . server($port1{unix}, "aigov_quota_redis unix:$d/redis.sock db=3 prefix=fleet:;")),
               workers => 2);
# instance 2: an ACL user, the same database and prefix
$t2->write_conf(conf($t2, "aigov_quota_redis $redis user=gw password=gw-secret timeout=3s;", ''),
                workers => 2);

# the directive's parameters are checked by nginx -t
for my $bad ('127.0.0.1:1 fail=sometimes', '127.0.0.1:1 db=x', '127.0.0.1:1 user=u',
             '127.0.0.1:1 timeout=0', '127.0.0.1:1 colour=blue', 'no.such.host.invalid:6379') {
    my $b = AigovTest->new(name => 'redis-conf');
    $b->write_conf("server { listen 127.0.0.1:%%PORT%%; location / { aigov on; aigov_quota_redis $bad; } }");
    my ($ok, $out) = $b->nginx_t;
    ok(!$ok, "nginx -t refuses aigov_quota_redis $bad");
    like($out, qr/aigov_quota_redis/, "... and names the directive");
    File::Path::remove_tree($b->dir);
}

$t->start_nginx;
$t2->start_nginx;
is(scalar(() = $t->workers), 2, 'instance 1 runs two workers');
is(scalar(() = $t2->workers), 2, 'instance 2 runs two workers');
isnt($t->{pids}{nginx}, $t2->{pids}{nginx}, 'two masters');

sub tok { AigovJWT::mint(alg => 'RS256', key => $key, claims => { @_ }) }

sub chat {
    my ($token, %o) = @_;
    my $body = { model => $o{model} // 'gpt-4o-mini',
                 messages => [ { role => 'user', content => $o{text} // 'hi' } ] };
    $body->{max_tokens} = $o{max_tokens} if defined $o{max_tokens};
    $body->{stream} = JSON::PP::true if $o{stream};
    my %h = (Authorization => "Bearer $token", %{ $o{headers} // {} });
    my $inst = $o{inst} // $t;
    my $r;
    # a request that hangs fails the test instead of stalling it
    eval {
        local $SIG{ALRM} = sub { die "hung\n" };
        alarm($o{alarm} // 20);
        if ($o{stream}) {
            $r = $inst->stream('/v1/chat/completions', body => $body, headers => \%h);
        } else {
            $r = $inst->request('POST', '/v1/chat/completions', body => $body, headers => \%h,
                                port => $o{port});
        }
        alarm 0;
    };
    alarm 0;
    return $r // { status => 'hung', headers => {}, body => '' };
}

sub code { my $j = AigovTest::json($_[0]) // {}; return $j->{error}{code} // '' }

sub audit_records {
    my ($inst, $sub) = @_;
    open my $f, '<', $inst->dir . '/audit.log' or return ();
    my @r;
    while (<$f>) {
        my $j = eval { decode_json($_) } or next;
        push @r, $j if ($j->{sub} // '') eq $sub;
    }
    return @r;
}

sub away_from_minute_edge {
    # Redis's clock decides the window; this machine's is the same clock
    my $s = time % 60;
    sleep(61 - $s) if $s > 45;
}

# Runs $n requests from $procs processes at once; returns the statuses (and
# codes) in the order they were made, per process.
sub burst {
    my ($n, $procs, $make) = @_;
    my $dir = "$d/burst." . int(time * 1000);
    mkdir $dir;
    my @pids;
    for my $p (1 .. $procs) {
        my $pid = fork // die;
        if (!$pid) {
            open my $f, '>', "$dir/$p" or exit 1;
            for my $i (1 .. $n / $procs) {
                my $r = $make->($p, $i);
                print $f join(' ', $r->{status}, code($r) || '-', $r->{usage} // 0), "\n";
            }
            close $f;
            exit 0;
        }
        push @pids, $pid;
    }
    waitpid($_, 0) for @pids;
    my @all;
    for my $p (1 .. $procs) {
        open my $f, '<', "$dir/$p" or next;
        push @all, map { chomp; [ split / / ] } <$f>;
    }
    return @all;
}

sub count { my ($st, @all) = @_; return scalar grep { $_->[0] eq $st } @all }

# ---- one count for the fleet ----------------------------------------------

away_from_minute_edge();
my $rpm = tok(sub => 'rpm-fleet');
my @all = burst(60, 12, sub { my ($p) = @_; chat($rpm, inst => $p % 2 ? $t : $t2) });
is(scalar @all, 60, '60 requests answered');
is(count(200, @all), 10, 'requests_per_minute 10, 60 concurrent over two gateways: exactly 10 admitted');
is(count(429, @all), 50, 'the other 50 refused with 429');
is(scalar(grep { $_->[0] == 429 && $_->[1] eq 'quota_exceeded' } @all), 50, '... as quota_exceeded');
my $minute = int(rcli('TIME') =~ /^(\d+)/ ? $1 / 60 : 0);
is(rcli('-n 3', 'HGET', "fleet:rpm-fleet:m:$minute", 'r'), '10', 'Redis holds the count, in db 3 under the prefix');
my $ttl = rcli('-n 3', 'TTL', "fleet:rpm-fleet:m:$minute");
ok($ttl > 0 && $ttl <= 120, "the minute's key expires with its window ($ttl s)");
my @rec = (audit_records($t, 'rpm-fleet'), audit_records($t2, 'rpm-fleet'));
my @adm = grep { ($_->{phase} // '') eq 'admit' } @rec;
is(scalar @adm, 10, 'ten admission records over both audit logs');
ok(!grep({ ($_->{quota_store} // '') ne 'redis' } @adm), 'each says quota_store "redis"');
my @den = grep { ($_->{phase} // '') eq 'deny' } @rec;
is(scalar(grep { ($_->{quota_store} // '') eq 'redis' } @den), 50, 'each refusal too');

# the same Redis over its unix socket shares the count
my $ux = tok(sub => 'rpm-unix');
my @ux = map { chat($ux, port => $_ % 2 ? $port1{unix} : undef)->{status} } 1 .. 12;
is(scalar(grep { $_ eq '200' } @ux), 10, 'unix:PATH and host:port count together: 10 of 12');
is(rcli('-n 3', 'HGET', "fleet:rpm-unix:m:" . int(rcli('TIME') =~ /^(\d+)/ ? $1 / 60 : 0), 'r'), '10',
   '... in the same key');

# A request admitted under requests_per_minute alone reserved its
# max_tokens in the subject's token count, which the subject's other
# rules read: it is settled to what it used, as in shared memory, or a
# rule that limits tokens refuses what the subject never used.
sub minute_now { int(rcli('TIME') =~ /^(\d+)/ ? $1 / 60 : 0) }
sub wait_tokens {
    my ($key, $want) = @_;
    my $got;
    for (1 .. 40) {
        $got = rcli('-n 3', 'HGET', $key, 't');
        last if $got eq $want;
        sleep 0.05;
    }
    return $got;
}
away_from_minute_edge();
my $before = commandstat('evalsha') + commandstat('eval');
my $mix = tok(sub => 'mix-rpm');
my $r1 = chat($mix, max_tokens => 500);
is($r1->{status}, 200, 'requests_per_minute alone, max_tokens 500: served');
my ($adm1) = grep { ($_->{phase} // '') eq 'admit' } audit_records($t, 'mix-rpm');
my $done1;
for (1 .. 40) {   # the completion record follows the answer
    open my $f, '<', "$d/audit.log" or last;
    ($done1) = grep { $_ && ($_->{phase} // '') eq 'done' && $adm1 && $_->{id} eq $adm1->{id} }
               map { eval { decode_json($_) } } <$f>;
    last if $done1;
    sleep 0.05;
}
my $used1 = $done1 && $done1->{usage}
    ? $done1->{usage}{prompt_tokens} + $done1->{usage}{completion_tokens} : -1;
ok($used1 > 0 && $used1 < 100, "... and used $used1 tokens");
is(wait_tokens('fleet:mix-rpm:m:' . minute_now(), $used1), $used1,
   '... which is what the subject\'s token count keeps, not the reservation of 500 and more');
my $r2 = chat($mix, model => 'gpt-4o', max_tokens => 400, inst => $t2);
is($r2->{status}, 200, 'the same subject\'s tokens_per_minute 600 then admits max_tokens 400 on the other gateway')
    or diag($r2->{body});
is(commandstat('evalsha') + commandstat('eval') - $before, 4,
   'two admissions and two settlements run in Redis');

# ---- the admissions of one event loop turn, as one script ------------------
# The gateway sends the admissions a worker decides in one turn as one
# script, which must decide what the same script would given them one at
# a time (as a single admission goes): both run here on the same sequence
# (two subjects interleaved, limits that refuse by each rule) under two
# prefixes, and must agree on every verdict and every counter left in
# Redis.

sub rcall {
    open(my $fh, '-|', 'redis-cli', '-p', $rport, '-n', 5, @_) or die "redis-cli: $!";
    local $/;
    my $out = <$fh> // '';
    close $fh;
    $out =~ s/\s+\z//;
    return $out;
}

away_from_minute_edge();
my %lua = map { $_ => scalar `$aigov _redis-script $_` } qw(batch settle);
ok(length $lua{batch} > 100 && length $lua{settle} > 100, 'the scripts, from the gateway\'s own library');
my @seq = (   # subject, requests_per_minute, tokens_per_minute, tokens_per_day, reserve
    [qw(x 3 100 100 40)], [qw(y 3 100 0 90)], [qw(x 3 100 100 40)], [qw(x 3 100 100 30)],
    [qw(y 3 100 0 20)], [qw(x 3 1000 0 0)], [qw(x 3 1000 0 10)], [qw(y 3 100 150 5)], [qw(y 2 100 150 1)],
);
my @one = map { my ($s, @n) = @$_; rcall('EVAL', $lua{batch}, 1, "one:$s", @n) } @seq;
my $batch = rcall('EVAL', $lua{batch}, scalar @seq, (map { "many:$_->[0]" } @seq),
                  map { my (undef, @n) = @$_; @n } @seq);

my @many;
my @nums = split / /, $batch;
push @many, join ' ', splice(@nums, 0, 6) while @nums;
is(scalar @many, scalar @seq, 'the batch answers each admission');
is_deeply([map { (split / /)[0] . '/' . (split / /)[3] } @one], [qw(0/3 0/1 0/3 1/3 1/2 0/1 1/1 0/3 1/1)],
          'one by one: admitted, refused by tokens_per_day, tokens_per_minute and requests_per_minute');
# the retry time counts down the window's seconds: the two ran a moment apart
sub but_retry { my @f = split / /, $_[0]; $f[1] = 'r'; return join ' ', @f }
is_deeply([map { but_retry($_) } @many], [map { but_retry($_) } @one], 'the batch gives the same verdicts and counts');
ok(!grep({ abs((split / /, $many[$_])[1] - (split / /, $one[$_])[1]) > 2 } 0 .. $#one),
   '... and the same retry times, to the second');
my $min = (split / /, $one[0])[4];
my $dayn = (split / /, $one[0])[5];
for my $s (qw(x y)) {
    is(rcall('HMGET', "many:$s:m:$min", 'r', 't'), rcall('HMGET', "one:$s:m:$min", 'r', 't'),
       "subject $s: the same requests and tokens in the minute");
    is(rcall('GET', "many:$s:d:$dayn"), rcall('GET', "one:$s:d:$dayn"), "subject $s: the same tokens in the day");
    my $ttl = rcall('TTL', "many:$s:m:$min");
    ok($ttl > 0 && $ttl <= 120, "subject $s: the batch's minute key expires with its window ($ttl s)");
}
is(rcall('HMGET', "many:x:m:$min", 'r', 't'), "3\n80", 'x: three admitted, 80 tokens');

# ---- many admissions in one event loop turn, one script ---------------------
# Twelve kept-alive connections, the workers stopped while a request is
# written on each, then let go: each worker finds its requests ready at
# once, decides their admissions in one event loop turn and sends them to
# Redis as one script. Fewer scripts than requests, the count still exact,
# also after SCRIPT FLUSH (the batch goes again as EVAL).

sub http_req {
    my ($token, $close) = @_;
    my $body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}';
    return "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer $token\r\n"
         . "Content-Type: application/json\r\nContent-Length: " . length($body) . "\r\n"
         . ($close ? "Connection: close\r\n" : '') . "\r\n$body";
}

sub one_turn_burst {
    my ($token, $n) = @_;
    my $free = tok(sub => 'free-user');
    my @s;
    for (1 .. $n) {
        my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port, Timeout => 5) or die;
        print $c http_req($free, 0);
        my $head = '';
        # read the whole first answer, so the connection waits idle
        while ($head !~ /\r\n\r\n/) { sysread($c, $head, 4096, length $head) or last }
        my ($len) = $head =~ /Content-Length: (\d+)/i;
        my $have = length($head) - index($head, "\r\n\r\n") - 4;
        while (defined $len && $have < $len) { my $got = sysread($c, my $buf, 4096) or last; $have += $got }
        push @s, $c;
    }
    my @w = $t->workers;
    kill 'STOP', @w;
    syswrite($_, http_req($token, 1)) for @s;
    sleep 0.2;
    kill 'CONT', @w;
    my @codes;
    for my $c (@s) {
        local $/;
        my $res = eval { local $SIG{ALRM} = sub { die "hung\n" }; alarm 20; my $r = <$c>; alarm 0; $r } // '';
        push @codes, $res =~ m{^HTTP/1\.1 (\d+)} ? $1 : 'none';
        close $c;
    }
    return @codes;
}

# Redis's slow log, told to keep every command, names the scripts run
# (settlements run a script of their own, so counting EVALSHA would not do)
my $batch_sha = Digest::SHA::sha1_hex($lua{batch});
is(rcli('SCRIPT', 'EXISTS', $batch_sha), '1', 'the batch script is loaded under its SHA-1');
sub batch_scripts_run {
    my @lines = split /\n/, rcli('SLOWLOG', 'GET', 100000);
    return scalar grep { $_ eq $batch_sha } @lines;
}
rcli('CONFIG', 'SET', 'slowlog-max-len', 100000);
rcli('CONFIG', 'SET', 'slowlog-log-slower-than', 0);
rcli('SLOWLOG', 'RESET');

away_from_minute_edge();
my @burst = one_turn_burst(tok(sub => 'rpm-turn'), 12);
my $scripts = batch_scripts_run();
rcli('CONFIG', 'SET', 'slowlog-log-slower-than', 10000);
is(scalar(grep { $_ eq '200' } @burst), 10, 'requests_per_minute 10, 12 requests in one turn: exactly 10 admitted')
    or diag("@burst");
is(scalar(grep { $_ eq '429' } @burst), 2, '... and 2 refused');
ok($scripts <= 4, "Redis ran $scripts scripts for the 12 admissions (one per worker and turn)");
my $tmin = int((rcli('TIME') =~ /^(\d+)/)[0] / 60);
is(rcli('-n 3', 'HGET', "fleet:rpm-turn:m:$tmin", 'r'), '10', 'and counted 10');
rcli('SCRIPT FLUSH');
$before = commandstat('eval');
@burst = one_turn_burst(tok(sub => 'rpm-turn-flushed'), 12);
is(scalar(grep { $_ eq '200' } @burst), 10, 'after SCRIPT FLUSH: still exactly 10 of 12') or diag("@burst");
ok(commandstat('eval') > $before, '... decided by EVAL after NOSCRIPT');

# ---- tokens: reserved on admission, settled from streamed usage ----------

away_from_minute_edge();
my $tk = tok(sub => 'tok-stream');
my @waves;
for my $wave (1 .. 2) {
    push @waves, burst(24, 24, sub {
        my ($p) = @_;
        # the mock reports 20 + 40 (or 5 + 10) tokens in the stream's last
        # event; settlements of one subject ending together are summed
        my $u = $p % 3 ? '20,40' : '5,10';
        my $r = chat($tk, inst => $p % 2 ? $t : $t2, stream => 1, max_tokens => 100,
                     headers => { 'X-Mock-Usage' => $u, 'X-Mock-Stream-Delay-Ms' => 100 });
        $r->{usage} = $p % 3 ? 60 : 15 if $r->{status} eq '200';
        return $r;
    });
}
my $admitted = count(200, @waves);
my $used = 0;
$used += $_->[2] for @waves;
ok($admitted > 0, "streamed requests admitted: $admitted of 48");
ok($admitted * 60 >= $used && $admitted * 15 <= $used, 'usage adds up');
ok($used <= 1000, "the sum of admitted usage ($used) stays within tokens_per_minute 1000");
ok(!grep({ $_->[0] ne '200' && $_->[0] ne '429' } @waves), 'every stream admitted or refused, none failed');
$minute = int(rcli('TIME') =~ /^(\d+)/ ? $1 / 60 : 0);
sleep 0.5;   # the last settlements are sent when the requests end
is(rcli('-n 3', 'HGET', "fleet:tok-stream:m:$minute", 't'), $used,
   'settled exactly: Redis counts the usage the answers reported');

# the client goes away while the answer is awaited: the reservation is
# settled all the same, a whole answer at the prompt's estimate (1 token
# for "hi") plus max_tokens, since the model writes it anyway; a stream at
# the prompt's estimate only, since its generation stops with it
for my $stream (0, 1) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port, Proto => 'tcp')
        or die "connect: $!";
    my $body = encode_json({ model => 'gpt-4o-mini', max_tokens => 100,
                             ($stream ? (stream => JSON::PP::true) : ()),
                             messages => [ { role => 'user', content => 'hi' } ] });
    my $gone = tok(sub => "tok-gone$stream");
    $s->print("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $gone\r\n"
            . "X-Mock-Delay-Ms: 1500\r\nX-Mock-Usage: 10,20\r\nContent-Type: application/json\r\n"
            . "Content-Length: " . length($body) . "\r\n\r\n$body");
    $minute = int(rcli('TIME') =~ /^(\d+)/ ? $1 / 60 : 0);
    sleep 0.5;
    my $held = rcli('-n 3', 'HGET', "fleet:tok-gone$stream:m:$minute", 't');
    ok($held > 100, "admitted: $held tokens reserved while the answer is awaited");
    close $s;
    sleep 2;
    my $after = rcli('-n 3', 'HGET', "fleet:tok-gone$stream:m:$minute", 't');
    is($after, $stream ? '1' : '101',
       'client gone: ' . ($stream ? 'a stream settled to the prompt\'s estimate'
                                  : 'a whole answer settled to the prompt\'s estimate and max_tokens')
       . " ($held reserved)");
}

# tokens_per_day: the day's key, settled, expires after the UTC day
my $r = chat(tok(sub => 'day-1'), max_tokens => 100, headers => { 'X-Mock-Usage' => '10,20' });
is($r->{status}, 200, 'tokens_per_day: admitted');
sleep 0.3;
my $now = rcli('TIME') =~ /^(\d+)/ ? $1 : 0;
my $day = int($now / 86400);
is(rcli('-n 3', 'GET', "fleet:day-1:d:$day"), '30', "the day's key holds the settled usage");
$ttl = rcli('-n 3', 'TTL', "fleet:day-1:d:$day");
my $to_day = 86400 - $now % 86400 + 60;
ok($ttl > 60 && $ttl <= $to_day + 2, "it expires a minute after the UTC day ends ($ttl s)");
is(chat(tok(sub => 'day-1'), max_tokens => 100, headers => { 'X-Mock-Usage' => '10,20' })->{status}, 200,
   '30 used + about 100 reserved fit in 300');
sleep 0.3;
is(chat(tok(sub => 'day-1'), max_tokens => 250)->{status}, 429, '60 used + 250 do not');

# a reload starts new workers and connections; the counts are in Redis
my ($rok, $rout) = $t2->reload;
ok($rok, 'instance 2 reloads') or diag($rout);
sleep 1;
away_from_minute_edge();
my $rl = tok(sub => 'rpm-reload');
my @st = map { chat($rl, inst => $_ % 2 ? $t : $t2)->{status} } 1 .. 12;
is(scalar(grep { $_ eq '200' } @st), 10, 'after a reload the fleet still admits exactly 10');

# the scripts flushed: EVALSHA is refused with NOSCRIPT, EVAL takes over once
rcli('SCRIPT FLUSH');
$before = commandstat('eval');
is(chat(tok(sub => 'rpm-noscript'))->{status}, 200, 'after SCRIPT FLUSH a request is still decided');
ok(commandstat('eval') > $before, '... by EVAL after NOSCRIPT');

# a wrong password: the server is refused its setup, and fails closed
$r = chat(tok(sub => 'rpm-badauth'), port => $port1{badauth});
is($r->{status}, 429, 'wrong password: 429');
is(code($r), 'quota_unavailable', '... quota_unavailable');
like($t->error_log, qr/refused the connection's setup: WRONGPASS/, 'the refusal is logged');

# ---- a slow Redis does not stall requests that need none -------------------

kill 'STOP', $redis_pid;
my $slow = fork // die;
if (!$slow) {
    my $r = chat(tok(sub => 'rpm-slow'), alarm => 20);
    exit($r->{status} eq '429' && code($r) eq 'quota_unavailable' ? 0 : 1);
}
sleep 0.3;
my $ok = 1;
for (1 .. 5) {
    $r = chat(tok(sub => 'free-user'), alarm => 20);
    $ok = 0 unless $r->{status} eq '200';
}
ok($ok, 'Redis paused: requests without a quota are answered');
is(waitpid($slow, WNOHANG), 0, '... while a quota request still waits for Redis');
waitpid($slow, 0);
is($? >> 8, 0, 'the waiting request ends at its timeout, closed: 429 quota_unavailable');
kill 'CONT', $redis_pid;
sleep 1.2;   # the connection is tried again after a second
is(chat(tok(sub => 'rpm-after-pause'))->{status}, 200, 'Redis resumed: counted there again');

# ---- Redis stopped: each fail mode -----------------------------------------

stop_redis();
$r = chat(tok(sub => 'rpm-down'));
is($r->{status}, 429, 'fail=closed, Redis down: 429');
is(code($r), 'quota_unavailable', '... quota_unavailable');
ok(($r->{headers}{'retry-after'} // 0) >= 1, '... with Retry-After');
ok(!exists $r->{headers}{'x-mock-body-sha256'}, '... not forwarded');

$r = chat(tok(sub => 'rpm-open'), port => $port1{open});
is($r->{status}, 200, 'fail=open, Redis down: served');
my ($open_rec) = grep { ($_->{phase} // '') eq 'admit' } audit_records($t, 'rpm-open');
is($open_rec->{quota_store}, 'none', '... counted nowhere: quota_store "none"');

my @loc = map { chat(tok(sub => 'loc-1'), port => $port1{local})->{status} } 1 .. 5;
is("@loc", '200 200 200 429 429', 'fail=local, Redis down: this gateway counts, 3 per minute');
my ($loc_rec) = grep { ($_->{phase} // '') eq 'admit' } audit_records($t, 'loc-1');
is($loc_rec->{quota_store}, 'local', '... quota_store "local"');
is(chat(tok(sub => 'free-user'), port => $port1{plain})->{status}, 200, 'a location without Redis answers');
my $log = $t->error_log;
like($log, qr/quota store redis "127\.0\.0\.1:\d+": .*quotas fail local until it answers \(counted in this gateway's shared memory\)/,
     'falling back to shared memory is logged');
like($log, qr/quotas fail closed until it answers/, 'failing closed is logged');

# started again: counting resumes there
start_redis();
rcli("ACL SETUSER gw on '>gw-secret' '~*' '+\@all'");
sleep 1.2;
away_from_minute_edge();
my $back = tok(sub => 'rpm-back');
@all = burst(14, 7, sub { my ($p) = @_; chat($back, inst => $p % 2 ? $t : $t2) });
is(count(200, @all), 10, 'Redis back: the fleet admits exactly 10 again');
chat(tok(sub => "free-$_")) for 1 .. 6;
like($t->error_log, qr/quota store redis "127\.0\.0\.1:\d+" answers again/, 'its return is logged');
$r = chat(tok(sub => 'loc-2'), port => $port1{local});
my ($back_rec) = grep { ($_->{phase} // '') eq 'admit' } audit_records($t, 'loc-2');
is($back_rec->{quota_store}, 'redis', 'fail=local decides in Redis again once it is back');

# ---- under load: Redis stopped and started twice ---------------------------

my $end = time + 7;
my @load;
for my $p (1 .. 4) {
    my $pid = fork // die;
    if (!$pid) {
        open my $f, '>', "$d/load.$p" or exit 1;
        my $n = 0;
        while (time < $end) {
            my $port = (undef, $port1{open}, $port1{local}, $port1{plain})[$p - 1];
            my $sub = $p == 4 ? 'free-load' : "tok-load-$p-" . $n++;
            my $r = chat(tok(sub => $sub), port => $port, alarm => 15);
            print $f "$r->{status} " . (code($r) || '-') . "\n";
        }
        exit 0;
    }
    push @load, $pid;
}
sleep 1;
stop_redis();
sleep 1.5;
start_redis();
sleep 1.5;
stop_redis();
sleep 1;
start_redis();
waitpid($_, 0) for @load;
my %seen;
for my $p (1 .. 4) {
    open my $f, '<', "$d/load.$p" or next;
    while (<$f>) { chomp; $seen{$p}{$_}++ }
}
ok(!grep({ /hung/ } map { keys %$_ } values %seen), 'under load, no request hung');
ok(!grep({ $_ ne '200 -' && $_ ne '429 quota_unavailable' } keys %{ $seen{1} }),
   'fail=closed answered 200 or 429 quota_unavailable') or diag(join ', ', keys %{ $seen{1} });
ok($seen{1}{'429 quota_unavailable'}, '... and refused while Redis was down');
is_deeply([ keys %{ $seen{2} } ], ['200 -'], 'fail=open served every request');
is_deeply([ keys %{ $seen{3} } ], ['200 -'], 'fail=local served every request (each its own subject)');
is_deeply([ keys %{ $seen{4} } ], ['200 -'], 'the location without Redis served every request');
sleep 1.2;
is(chat(tok(sub => 'rpm-final'))->{status}, 200, 'after the outages, counted in Redis again');
ok(rcli('-n 3', 'EXISTS', "fleet:rpm-final:m:" . int(rcli('TIME') =~ /^(\d+)/ ? $1 / 60 : 0)) == 1,
   '... its key is in Redis');

$t2->done;
$t->done;
stop_redis();
done_testing;
