#!/usr/bin/perl
# The servers a test starts are stopped however the test ends. A child
# script, a test as far as AigovTest knows, starts them and says their
# pids; it is then killed with SIGKILL (no END block, no handler runs; a
# child it forked still holds what it inherited), or with SIGHUP, or it
# dies, or it dies in start_nginx after nginx daemonized without the pid
# file it looks for. Each time every server, nginx's workers included, is
# gone within seconds.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Basename qw(dirname);
use File::Path qw(remove_tree);
use POSIX ();
use Time::HiRes qw(sleep time);
use AigovTest;

my $t = AigovTest->new;
my $d = $t->dir;
my $lib = dirname($INC{'AigovTest.pm'});
my $redis = -x '/usr/bin/redis-server' ? '/usr/bin/redis-server' : '';

$t->write_file('child.pl', <<'EOF');
use strict;
use warnings;
use AigovTest;
my ($how, $redis) = @ARGV;
$| = 1;
my $t = AigovTest->new(name => "cleanup-$how");
print "dir ", $t->dir, "\n";
if ($how eq 'nopid') {
    $t->write_conf($t->gateway_conf);
    my $conf = $t->dir . '/nginx.conf';
    open my $f, '<', $conf or die;
    my $text = do { local $/; <$f> };
    $text =~ s{nginx\.pid;}{elsewhere.pid;};
    open $f, '>', $conf or die;
    print $f $text;
    close $f;
    $t->start_nginx;
    exit 0;
}
$t->start_mock;
$t->write_conf($t->gateway_conf);
$t->start_nginx;
print "server nginx $t->{pids}{nginx}\n";
print "server worker $_\n" for $t->workers;
print "server mock $t->{pids}{mock}\n";
if ($redis) {
    my $port = AigovTest::free_port();
    print "server redis ", AigovTest::start_redis($redis, $t->dir, $port), "\n";
}
print "server guardian $AigovTest::guardian_pid\n" if $AigovTest::guardian_pid;
if ($how eq 'kill') {
    # a load child the test forked, which outlives it
    my $pid = fork // die;
    if (!$pid) { sleep 30; POSIX::_exit(0) }
    print "other $pid\n";
}
print "ready\n";
die "a test dies\n" if $how eq 'die';
sleep 30;
EOF

my (@dirs, @all, @others);

sub run_child {
    my ($how) = @_;
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if (!$pid) {
        open STDERR, '>>', "$d/child.$how.log";
        exec $^X, '-I', $lib, "$d/child.pl", $how, $redis or POSIX::_exit(127);
    }
    my $line = <$fh> // '';
    push @dirs, $1 if $line =~ /^dir (\S+)/;
    return ($pid, $fh);
}

# the pids it names, up to "ready"
sub servers_of {
    my ($fh) = @_;
    my %s;
    while (my $line = <$fh>) {
        last if $line eq "ready\n";
        if ($line =~ /^server (\w+) (\d+)/) { push @{ $s{$1} }, $2; push @all, $2 }
        push @others, $1 if $line =~ /^other (\d+)/;
    }
    return %s;
}

sub alive {
    my ($pid) = @_;
    open my $f, '<', "/proc/$pid/stat" or return 0;
    return (<$f> // '') !~ /\)\s+Z/;
}

# the kinds of server still there after up to ten seconds
sub left_of {
    my (%s) = @_;
    my $end = time + 10;
    while (1) {
        my @left = grep { grep { alive($_) } @{ $s{$_} } } sort keys %s;
        return @left if !@left || time > $end;
        sleep 0.1;
    }
}

sub still {
    my ($s, @left) = @_;
    return 'still running: ' . join(', ', map { "$_ @{ $s->{$_} }" } @left);
}

# first, as it takes longest: nginx writes elsewhere.pid, and start_nginx
# looks for nginx.pid for five seconds
my (undef, $nopid_fh) = run_child('nopid');
my $nopid_dir = $dirs[-1] // '';
my ($master, @workers);
my $end = time + 5;
until (@workers || time > $end) {
    if (!$master && open my $f, '<', "$nopid_dir/elsewhere.pid") {
        ($master) = (<$f> // '') =~ /(\d+)/;
    }
    @workers = AigovTest::children($master) if $master;
    sleep 0.05;
}
ok($master && @workers, 'nopid: nginx started, its pid in elsewhere.pid');
my %nopid = (nginx => [ $master // () ], worker => \@workers);
push @all, $master // (), @workers;

for my $how (qw(kill hup die)) {
    my ($pid, $fh) = run_child($how);
    my %s = servers_of($fh);
    ok($s{nginx} && $s{worker} && $s{mock}, "$how: nginx and the mock started")
        or diag(`cat $d/child.$how.log`);
    kill 'KILL', $pid if $how eq 'kill';
    kill 'HUP', $pid if $how eq 'hup';
    close $fh;
    my @left = left_of(%s);
    ok(!@left, "$how: every server stopped (" . join(', ', sort keys %s) . ')')
        or diag(still(\%s, @left));
}

close $nopid_fh;
my @left = left_of(%nopid);
ok(!@left, 'nopid: nginx stopped when start_nginx found no pid file')
    or diag(still(\%nopid, @left));
like(`cat $d/child.nopid.log`, qr/nginx wrote no pid file/, 'nopid: start_nginx died');

# the load child of 'kill' and, when a check above failed, the servers
# still there
kill 'KILL', @others;
my @stray = grep { alive($_) } @all;
kill 'TERM', @stray;
$end = time + 5;
sleep 0.1 while time < $end && grep { alive($_) } @stray;
kill 'KILL', grep { alive($_) } @stray;
remove_tree($_) for @dirs;
$t->done;
done_testing;
