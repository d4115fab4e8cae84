#!/usr/bin/perl
# A settlement is counted in Redis once, also when the connection it went
# out on fails before its answer: between the gateway and Debian's
# redis-server runs a small RESP proxy (forked here) that can swallow the
# next settlement (Redis never sees it) or pass it and then cut the
# connection (Redis ran it, the gateway never hears so). Either way the
# gateway sends it again, unasked, on a new connection, with the same
# number, and the subject's tokens end at the answer's usage: not at the
# reservation (a settlement lost) and not refunded twice (one run twice).

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use IO::Select;
use POSIX ();
use Digest::SHA ();
use AigovTest;
use AigovJWT;

my $redis_bin = '/usr/bin/redis-server';
plan skip_all => 'redis-server is not installed (make deps)' unless -x $redis_bin;

my $t = AigovTest->new;
my $d = $t->dir;
my $aigov = AigovTest::root() . '/build/aigov';
my ($key, $pub) = AigovJWT::keypair($d, 'k', 'rsa');

my $rport = AigovTest::free_port();
my $redis_pid = AigovTest::start_redis($redis_bin, $d, $rport);
my $owner = $$;
my $proxy_pid;
END {
    if ($$ == $owner) {
        AigovTest::stop_pid($proxy_pid, 'TERM') if $proxy_pid;
        AigovTest::stop_redis($redis_pid) if $redis_pid;
    }
}

sub rcli {
    open(my $fh, '-|', 'redis-cli', '-p', $rport, '-n', 2, @_) or die "redis-cli: $!";
    local $/;
    my $out = <$fh> // '';
    close $fh;
    $out =~ s/\s+\z//;
    return $out;
}

my $settle_lua = `$aigov _redis-script settle`;
ok(length $settle_lua > 100, 'the settlement script, from the gateway\'s library');
my $settle_sha = Digest::SHA::sha1_hex($settle_lua);

# ---- the script alone: a number at or below the mark has run -------------

sub minute_now { int(rcli('TIME') =~ /^(\d+)/ ? $1 / 60 : 0) }
room_in_minute(10);
my $m = minute_now();
rcli('HSET', "x:alice:m:$m", 'r', 1, 't', 500);
# settle a reservation of 500 (minute counter only) to 30 used, as number $seq
sub settle_as { rcli('EVAL', $settle_lua, 2, 'x:alice', 'x:mark', $m, 0, 1, 500, 30, $_[0]) }
is(settle_as(5), '1', 'number 5: run');
is(rcli('HGET', "x:alice:m:$m", 't'), '30', '... the minute holds the usage');
is(settle_as(5), '2', 'number 5 again: skipped');
is(settle_as(3), '2', 'a lower number: skipped');
is(rcli('HGET', "x:alice:m:$m", 't'), '30', '... the minute still holds the usage');
is(rcli('GET', 'x:mark'), '5', 'the mark holds the highest number run');
my $ttl = rcli('TTL', 'x:mark');
ok($ttl > 89000 && $ttl <= 90000, "the mark expires after 25 hours ($ttl s)");
is(settle_as(6), '1', 'a higher number: run');
is(rcli('HGET', "x:alice:m:$m", 't'), '0', '... a second refund of 470 (not below 0)');
# many in one script: each settled, and skipped together when sent again
rcli('HSET', "x:bob:m:$m", 'r', 1, 't', 500);
rcli('HSET', "x:carol:m:$m", 'r', 1, 't', 500);
sub settle_two { rcli('EVAL', $settle_lua, 3, 'x:bob', 'x:carol', 'x:mark', $m, 0, 1, 500, 30,
                      $m, 0, 1, 500, 70, $_[0]) }
is(settle_two(7), '1', 'two settlements as number 7: run');
is(rcli('HGET', "x:bob:m:$m", 't') . ' ' . rcli('HGET', "x:carol:m:$m", 't'), '30 70', '... each to its usage');
is(settle_two(7), '2', '... sent again: skipped');
is(rcli('HGET', "x:bob:m:$m", 't') . ' ' . rcli('HGET', "x:carol:m:$m", 't'), '30 70', '... counted once');
is(rcli('EVAL', $settle_lua, 2, 'x:bob', 'x:mark', $m, 0, 1, 30, 30, 9), '0',
   'a settlement that changes nothing: not run, whatever its number');
is(rcli('GET', 'x:mark'), '7', '... and the mark stays');

# ---- the proxy -----------------------------------------------------------
# It forwards whole commands. $d/proxy.mode, when present, says what to do
# with the next settlement: "drop" (close both sides, Redis never sees it)
# or "cut" (send it, wait for Redis's answer, then close both sides
# without passing the answer on); the proxy then removes the file. While
# $d/proxy.down exists it hangs up on every connection, as a Redis that is
# down would. Each
# settlement it sees is a line in $d/proxy.log: connection, subject,
# number, what it did.

my $pport = AigovTest::free_port();

sub proxy {
    $SIG{TERM} = sub { POSIX::_exit(0) };
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $pport, Listen => 16,
                                  ReuseAddr => 1, Proto => 'tcp') or POSIX::_exit(1);
    open my $log, '>>', "$d/proxy.log" or POSIX::_exit(1);
    $log->autoflush(1);
    my $sel = IO::Select->new($l);
    my (%peer, %buf, %conn);
    my $nconn = 0;
    my $close = sub {
        my ($c) = @_;
        my $r = $peer{$c};
        for my $s ($c, $r) {
            next unless $s;
            $sel->remove($s);
            delete $peer{$s};
            delete $buf{$s};
            delete $conn{$s};
            close $s;
        }
    };
    while (1) {
        if (-e "$d/proxy.down") {
            $close->($_) for grep { exists $buf{$_} } values %peer;
        }
        for my $s ($sel->can_read(0.05)) {
            if ($s == $l) {
                my $c = $l->accept or next;
                if (-e "$d/proxy.down") { close $c; next }
                my $r = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $rport,
                                              Proto => 'tcp') or do { close $c; next };
                $peer{$c} = $r;
                $peer{$r} = $c;
                $buf{$c} = '';
                $conn{$c} = ++$nconn;
                $sel->add($c, $r);
                next;
            }
            my $n = sysread($s, my $data, 65536);
            if (!$n) { $close->($s); next; }
            if (!exists $buf{$s}) {          # Redis's answers go through
                syswrite($peer{$s}, $data);
                next;
            }
            $buf{$s} .= $data;
            my $r = $peer{$s};
            while (defined(my $cmd = next_command(\$buf{$s}))) {
                my ($raw, @a) = @$cmd;
                my $settle = @a > 3 && (uc $a[0] eq 'EVALSHA' && $a[1] eq $settle_sha
                                        || uc $a[0] eq 'EVAL' && $a[1] =~ /local charged/);
                my $mode = '';
                if ($settle && open my $mf, '<', "$d/proxy.mode") {
                    $mode = <$mf> // '';
                    chomp $mode;
                    unlink "$d/proxy.mode";
                }
                if ($settle) {
                    # the key bases (the last key is the mark) and the
                    # script's number (the last argument)
                    my $bases = $a[2] =~ /^\d+\z/ && $a[2] > 1 ? join(',', @a[3 .. $a[2] + 1]) : $a[3];
                    print $log join(' ', $conn{$s}, uc $a[0], $bases, $a[-1], $mode || 'pass'), "\n";
                }
                if ($mode eq 'drop') {
                    $close->($s);
                    last;
                }
                syswrite($r, $raw);
                if ($mode eq 'cut') {
                    # wait until Redis has answered every command sent
                    # (so it ran this one), then hang up on both
                    my $rs = IO::Select->new($r);
                    my $end = time + 3;
                    while (time < $end && $rs->can_read(0.2)) {
                        last unless sysread($r, my $x, 65536);
                    }
                    $close->($s);
                    last;
                }
            }
        }
    }
}

# One whole RESP command (an array of bulk strings) off the front of $$b:
# [raw bytes, args...], or undef until it is all there.
sub next_command {
    my ($b) = @_;
    return undef unless $$b =~ /\A\*(\d+)\r\n/;
    my ($n, $at) = ($1, length("*$1\r\n"));
    my @a;
    for (1 .. $n) {
        return undef unless substr($$b, $at) =~ /\A\$(\d+)\r\n/;
        my $len = $1;
        $at += length("\$$len\r\n");
        return undef if length($$b) < $at + $len + 2;
        push @a, substr($$b, $at, $len);
        $at += $len + 2;
    }
    my $raw = substr($$b, 0, $at, '');
    return [$raw, @a];
}

$proxy_pid = fork // die "fork: $!";
if (!$proxy_pid) {
    eval { proxy() };
    POSIX::_exit(1);
}
AigovTest::guard($proxy_pid);
ok(AigovTest::wait_port($pport), 'the proxy listens');

sub proxy_log {
    open my $f, '<', "$d/proxy.log" or return ();
    return map { chomp; [ split / / ] } <$f>;
}

# ---- the gateway, one worker, its quotas in Redis through the proxy --------

$t->write_file('policy.yaml', <<'EOF');
version: 1
default: deny
rules:
  - name: tokens
    when:
      subjects: ["tok-*"]
    limits:
      tokens_per_minute: 100000
    decision: allow
EOF
$t->write_conf(<<"EOF");
    aigov_policy $d/policy.yaml;
    aigov_jwt_key $pub;
    upstream mock { server 127.0.0.1:%%MOCK%%; keepalive 8; }
    server {
        listen 127.0.0.1:%%PORT%%;
        location / {
            aigov on;
            aigov_quota_redis 127.0.0.1:$pport db=2 prefix=st: timeout=3s;
            proxy_pass http://mock;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
EOF
$t->start_mock;
$t->start_nginx;

sub token { AigovJWT::mint(alg => 'RS256', key => $key, claims => { sub => $_[0] }) }

sub chat {
    my ($sub, $tok, @more) = @_;
    $tok //= token($sub);
    return $t->request('POST', '/v1/chat/completions',
                       body => { model => 'gpt-4o-mini', max_tokens => 500,
                                 messages => [ { role => 'user', content => 'hi' } ] },
                       headers => { Authorization => "Bearer $tok", 'X-Mock-Usage' => '10,20', @more });
}

# A refund for a minute that has ended is dropped (as README says), so
# each case starts with at least $need seconds left in the minute (Redis's
# clock is this machine's).
sub room_in_minute {
    my ($need) = @_;
    my $s = time - 60 * int(time / 60);
    sleep(60.5 - $s) if $s > 60 - $need;
}

# the subject's tokens in every minute Redis holds for it
sub tokens {
    my ($sub) = @_;
    my $sum = 0;
    $sum += rcli('HGET', $_, 't') || 0 for grep { length } split /\n/, rcli('KEYS', "st:$sub:m:*");
    return $sum;
}

# waits until the proxy has seen $n settlements of $sub
sub settles_of {
    my ($sub, $n) = @_;
    my $end = time + 10;
    my @s;
    while (time < $end) {
        @s = grep { grep { $_ eq "st:$sub" } split /,/, $_->[2] } proxy_log();
        last if @s >= $n;
        sleep 0.1;
    }
    return @s;
}

# ---- passed through: counted once ----------------------------------------

room_in_minute(15);
is(chat('tok-a')->{status}, 200, 'a request through the proxy');
my @s = settles_of('tok-a', 1);
is(scalar @s, 1, 'its settlement went out once');
sleep 0.3;
is(tokens('tok-a'), 30, 'the subject holds the usage, 30 tokens');

# ---- swallowed: sent again on a new connection, unasked ------------------

room_in_minute(15);
$t->write_file('proxy.mode', "drop\n");
is(chat('tok-b')->{status}, 200, 'a request whose settlement the proxy swallows');
@s = settles_of('tok-b', 2);
is(scalar @s, 2, 'the settlement went out again, with no request to carry it');
is($s[0][4], 'drop', '... the first was swallowed');
is($s[1][3], $s[0][3], "... the second has the same number ($s[0][3])");
isnt($s[1][0], $s[0][0], '... on a new connection');
sleep 0.3;
is(tokens('tok-b'), 30, 'the subject holds the usage: the settlement was not lost');
like($t->error_log, qr/quota store redis .*connection lost/, 'the error log says the connection was lost');
like($t->error_log, qr/1 settlements in flight go out again on the next connection/,
     '... that the settlement in flight goes out again');
like($t->error_log, qr/answers again/, '... and that Redis answers again');

# ---- run, then cut: sent again, and Redis does not run it twice -----------

room_in_minute(15);
$t->write_file('proxy.mode', "cut\n");
is(chat('tok-c')->{status}, 200, 'a request whose settlement runs and whose answer is cut');
@s = settles_of('tok-c', 2);
is(scalar @s, 2, 'the settlement went out again');
is($s[0][4], 'cut', '... the first ran, its answer never came');
is($s[1][3], $s[0][3], '... the second has the same number');
sleep 0.3;
is(tokens('tok-c'), 30, 'the subject holds the usage: the refund was not made twice');

# ---- scripts flushed: the settlement runs under a new number --------------

room_in_minute(15);
is(rcli('SCRIPT', 'FLUSH'), 'OK', 'SCRIPT FLUSH');
is(chat('tok-d')->{status}, 200, 'a request after the scripts were flushed');
@s = settles_of('tok-d', 2);
is(join(' ', map { $_->[1] } @s), 'EVALSHA EVAL', 'NOSCRIPT: sent again with the script');
ok($s[1][3] > $s[0][3], "... under a new number ($s[0][3], then $s[1][3])");
sleep 0.3;
is(tokens('tok-d'), 30, 'the subject holds the usage');

# ---- held while Redis is down: sent together when it is back ---------------
# Requests admitted, then Redis goes away before they end: their
# settlements are held, and go out when it answers again, with no request
# to carry them, as one script.

# A request for each subject, each from a process of its own, the mock
# answering all of them $in seconds after they were sent; their pids.
sub start_all {
    my ($in, @subs) = @_;
    my %tok = map { $_ => token($_) } @subs;
    my $at = time + $in;
    my @pids;
    for my $sub (@subs) {
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            my $ms = int(($at - time) * 1000);
            my $r = eval { chat($sub, $tok{$sub}, 'X-Mock-Delay-Ms' => $ms > 0 ? $ms : 0) };
            POSIX::_exit(($r && $r->{status} == 200) ? 0 : 1);
        }
        push @pids, $pid;
    }
    return @pids;
}

# how many of those requests were not answered 200
sub failed_of {
    my $n = 0;
    for (@_) { waitpid($_, 0); $n++ if $? }
    return $n;
}

# requests admitted, then Redis down before their answers come
sub admitted_then_down {
    my @pids = start_all(1.5, @_);
    sleep 0.7;
    $t->write_file('proxy.down', '');
    return failed_of(@pids);
}

room_in_minute(20);
my @held = map { "tok-held-$_" } 1 .. 6;
is(admitted_then_down(@held), 0, 'six requests admitted before Redis went away: each answered');
sleep 1.5;
is(scalar(map { settles_of($_, 0) } @held), 0, '... their settlements held');
unlink "$d/proxy.down";
settles_of($_, 1) for @held;
my %scripts;
for my $line (proxy_log()) {
    $scripts{"$line->[0] $line->[3]"} = 1 if grep { /tok-held-/ } split /,/, $line->[2];
}
my @many = grep { $_->[2] =~ /tok-held-.*,/ } proxy_log();
ok(@many, 'Redis back: held settlements went out together, '
          . scalar(keys %scripts) . ' script(s) for six');
sleep 0.3;
my @wrong = grep { tokens($_) != 30 } @held;
is("@wrong", '', 'each subject holds its usage, 30 tokens');

# Once more, and the first script after Redis is back runs but its answer
# is cut: what went with it or after it goes again, each script as it
# was, and Redis runs only those it has not.

room_in_minute(20);
my @held2 = map { "tok-again-$_" } 1 .. 6;
is(admitted_then_down(@held2), 0, 'six more requests admitted before Redis went away: each answered');
sleep 1.5;
$t->write_file('proxy.mode', "cut\n");
unlink "$d/proxy.down";
my $end = time + 10;
my @lines;
while (time < $end) {
    @lines = grep { $_->[2] =~ /tok-again-/ } proxy_log();
    my %passed = map { $_ => 1 } map { split /,/, $_->[2] } grep { $_->[4] eq 'pass' } @lines;
    last if !grep { !$passed{"st:$_"} } @held2;
    sleep 0.1;
}
my ($cut) = grep { $_->[4] eq 'cut' } @lines;
ok($cut, 'Redis back: the first script ran and its answer was cut');
ok($cut && grep({ $_->[3] eq $cut->[3] && $_->[4] eq 'pass' && $_->[0] ne $cut->[0] } @lines),
   '... it went again on the next connection with its number');
sleep 0.3;
@wrong = grep { tokens($_) != 30 } @held2;
is("@wrong", '', 'each subject holds its usage, 30 tokens: none settled twice, none lost');

# ---- many at once: each counted exactly ------------------------------------

room_in_minute(15);
my @burst = map { "tok-burst-$_" } 1 .. 24;
is(failed_of(start_all(1, @burst)), 0, '24 requests at once, each answered');
settles_of($_, 1) for @burst;
sleep 0.3;
@wrong = grep { tokens($_) != 30 } @burst;
is("@wrong", '', 'each subject holds its usage, 30 tokens');

# ---- the mark ------------------------------------------------------------

my @marks = grep { length } split /\n/, rcli('KEYS', 'st:aigov:settled:*');
is(scalar @marks, 1, 'one mark, the worker\'s');
like($marks[0] // '', qr/^st:aigov:settled:[0-9a-f]{16}\z/, '... named at random under the prefix');
my $top = 0;
$top < $_->[3] and $top = $_->[3] for proxy_log();
is(rcli('GET', $marks[0] // 'none'), $top, "... holding the highest number sent ($top)");

$t->done;
AigovTest::stop_pid($proxy_pid, 'TERM');
undef $proxy_pid;
AigovTest::stop_redis($redis_pid);
undef $redis_pid;
done_testing();
