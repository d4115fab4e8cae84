package AigovTest;

# A small harness in the spirit of nginx's own test suite: each test file
# writes a config, starts Debian's nginx with the built module and the mock
# model API on free loopback ports, talks HTTP, and stops what it started
# (by pid, also when the test dies or is killed). Logs are kept under
# build/t/ for reading when a test fails.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(basename dirname);
use File::Path qw(make_path remove_tree);
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);
use Test::More;
use JSON::PP;

our $ROOT = abs_path(dirname(__FILE__) . '/../..');
our $NGINX = $ENV{TEST_NGINX_BINARY} // '/usr/sbin/nginx';
our $MODULE = "$ROOT/build/nginx/ngx_http_aigov_module.so";

my @instances;

sub new {
    my ($class, %opt) = @_;
    # a second instance in one test file takes another name (its folder)
    my $name = $opt{name} // basename($0, '.t');
    my $dir = "$ROOT/build/t/$name.$$";
    remove_tree($dir);
    make_path("$dir/logs", "$dir/tmp");
    chmod 0755, $dir, "$dir/logs", "$dir/tmp";
    my $self = bless { dir => $dir, name => $name, pids => {}, owner => $$, %opt }, $class;
    $self->{port} = free_port();
    $self->{mock_port} = free_port();
    push @instances, $self;
    return $self;
}

sub dir { $_[0]{dir} }
sub port { $_[0]{port} }
sub mock_port { $_[0]{mock_port} }
sub root { $ROOT }

# A port nothing listens on, below the kernel's ephemeral range (32768
# and up here): a port the kernel hands out for port 0 can be taken, before
# nginx binds it, by the client side of any connection a test opens (seen
# once: "bind() to 127.0.0.1:33677 failed"). Each test process draws from
# its own block of 40, chosen by its pid, so parallel test files do not
# pick the same ones.
my $next_port;
sub free_port {
    $next_port //= 20000 + ($$ % 300) * 40;
    for (1 .. 12000) {
        my $p = $next_port;
        $next_port = $next_port >= 31999 ? 20000 : $next_port + 1;
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $p,
                                      Proto => 'tcp', Listen => 1)
            or next;
        close $s;
        return $p;
    }
    die "no free port between 20000 and 31999\n";
}

sub wait_port {
    my ($port, $timeout) = @_;
    my $end = time + ($timeout // 10);
    while (time < $end) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                      Proto => 'tcp');
        if ($s) { close $s; return 1; }
        sleep 0.05;
    }
    return 0;
}

sub start_mock {
    my ($self) = @_;
    my $pidfile = "$self->{dir}/mock.pid";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>>', "$self->{dir}/logs/mock.log";
        open STDERR, '>&', \*STDOUT;
        exec "$ROOT/mock/aigov-mock", '--port', $self->{mock_port},
             '--pidfile', $pidfile or POSIX::_exit(127);   # not the test's code
    }
    $self->{pids}{mock} = $pid;
    guard($pid);
    wait_port($self->{mock_port}) or die "mock did not start on $self->{mock_port}";
    return $self;
}

# The http{} body is the caller's; the rest (load_module, paths, logging,
# pid) is filled in. %%PORT%%, %%MOCK%%, %%DIR%% and %%ROOT%% are replaced.
sub write_conf {
    my ($self, $http, %o) = @_;
    my $d = $self->{dir};
    my $workers = $o{workers} // 1;
    my $main = $o{main} // '';
    my $user = $> == 0 ? "user root;\n" : '';
    my $conf = <<"EOF";
${user}load_module $MODULE;
worker_processes $workers;
daemon on;
master_process on;
pid $d/nginx.pid;
error_log $d/logs/error.log info;
$main
events { worker_connections 1024; }
http {
    access_log $d/logs/access.log;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
$http
}
EOF
    $conf = $self->subst($conf);
    open my $f, '>', "$d/nginx.conf" or die $!;
    print $f $conf;
    close $f;
    return $self;
}

# The usual gateway: aigov on in front of the mock. Options: http (more
# http-level directives), server, location (more location directives),
# max_body (client_max_body_size), http2 (listen with http2).
sub gateway_conf {
    my ($self, %o) = @_;
    my $http = $o{http} // '';
    my $server = $o{server} // '';
    my $loc = $o{location} // '';
    my $max = $o{max_body} // '1m';
    my $h2 = $o{http2} ? ' http2' : '';
    return <<"EOF";
    $http
    upstream mock { server 127.0.0.1:%%MOCK%%; keepalive 8; }
    server {
        listen 127.0.0.1:%%PORT%%$h2;
        client_max_body_size $max;
        $server
        location / {
            aigov on;
            $loc
            proxy_pass http://mock;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Accept-Encoding "";
            proxy_buffering off;
        }
        location = /plain {
            proxy_pass http://mock/v1/models;
        }
    }
EOF
}

sub subst {
    my ($self, $s) = @_;
    $s =~ s/%%PORT%%/$self->{port}/g;
    $s =~ s/%%MOCK%%/$self->{mock_port}/g;
    $s =~ s/%%DIR%%/$self->{dir}/g;
    $s =~ s/%%ROOT%%/$ROOT/g;
    return $s;
}

# Writes a file into the test folder (after substitution) and returns its path.
sub write_file {
    my ($self, $name, $content) = @_;
    my $p = "$self->{dir}/$name";
    make_path(dirname($p));
    open my $f, '>', $p or die "$p: $!";
    print $f $self->subst($content);
    close $f;
    return $p;
}

sub nginx_t {
    my ($self) = @_;
    my $out = `$NGINX -t -p $self->{dir} -c $self->{dir}/nginx.conf 2>&1`;
    return ($? == 0, $out);
}

sub start_nginx {
    my ($self) = @_;
    my $out = `$NGINX -p $self->{dir} -c $self->{dir}/nginx.conf 2>&1`;
    die "nginx did not start:\n$out" if $?;
    my $pid = $self->read_pid;
    unless ($pid) {
        # It may have daemonized all the same, late or without its pid
        # file: it is nobody's child, so none but this would stop it.
        stop_pid($_, 'TERM') for nginx_masters($self->{dir});
        die "nginx wrote no pid file:\n$out";
    }
    $self->{pids}{nginx} = $pid;
    guard($pid);
    unless (wait_port($self->{port})) {
        $self->stop_nginx;
        die "nginx not listening on $self->{port}";
    }
    return $self;
}

# The nginx masters started on the configuration in $dir, read from /proc
# (the master's title keeps its command line).
sub nginx_masters {
    my ($dir) = @_;
    opendir my $dh, '/proc' or return;
    my @m;
    for my $pid (grep { /^\d+$/ } readdir $dh) {
        open my $f, '<', "/proc/$pid/cmdline" or next;
        my $cmd = <$f> // '';
        close $f;
        $cmd =~ tr/\0/ /;
        # before it sets its title, the master's command line is still
        # the one it was started with
        push @m, $pid if $cmd =~ / -c \Q$dir\E\/nginx\.conf( |$)/ && $cmd !~ /worker process/;
    }
    closedir $dh;
    return @m;
}

sub read_pid {
    my ($self) = @_;
    for (1 .. 100) {
        if (open my $f, '<', "$self->{dir}/nginx.pid") {
            my $p = <$f>;
            close $f;
            if ($p && $p =~ /(\d+)/) { return $1; }
        }
        sleep 0.05;
    }
    return undef;
}

sub signal_nginx {
    my ($self, $sig) = @_;
    kill $sig, $self->{pids}{nginx};
}

sub reload {
    my ($self) = @_;
    my $out = `$NGINX -s reload -p $self->{dir} -c $self->{dir}/nginx.conf 2>&1`;
    return ($? == 0, $out);
}

sub stop_nginx {
    my ($self) = @_;
    my $pid = delete $self->{pids}{nginx} or return;
    stop_pid($pid, 'QUIT');
    unlink "$self->{dir}/nginx.pid";
}

sub stop_pid {
    my ($pid, $sig) = @_;
    kill $sig // 'TERM', $pid;
    for (1 .. 100) {
        my $r = waitpid($pid, WNOHANG);
        if ($r == $pid || ($r == -1 && !kill 0, $pid)) {
            unguard($pid);
            return;
        }
        sleep 0.05;
    }
    # nginx's workers outlive a master killed with KILL; the master first,
    # so that it forks no new ones
    my @kids = children($pid);
    kill 'KILL', $pid;
    kill 'KILL', @kids;
    waitpid($pid, 0);
    unguard($pid);
}

# A test that ends without its END block or signal handlers running
# (SIGKILL, from a timeout or by hand; a signal Perl does not catch) leaves
# its servers running: nginx has daemonized and the mock, redis-server and
# the like are reparented. So the first server a test process starts also
# starts a guardian: in a session of its own (a signal to the test's
# process group does not reach it), it reads from a pipe that only the
# test writes to the pids of the servers started ("add PID") and stopped
# ("del PID"). When the test is gone (the pipe's end, or the test is no
# longer its parent: a child the test forked may hold the pipe open), it
# stops those still there, TERM then KILL, and exits.
my ($guardian_fh, $guardian_owner);
our $guardian_pid;

my $GUARDIAN = <<'GUARDIAN';
use strict;
use warnings;
use Time::HiRes qw(sleep time);
my $owner = shift;
$0 = "aigov-guardian of $owner";
$SIG{TERM} = 'DEFAULT';
# state, ppid and start time of a process; the start time tells a pid the
# kernel gave to another process since
sub stat_of {
    my ($pid) = @_;
    open my $f, '<', "/proc/$pid/stat" or return;
    my ($rest) = (<$f> // '') =~ /\)\s+(.*)/s or return;
    my @f = split ' ', $rest;
    return ($f[0], $f[1], $f[19]);
}
my %started;
sub there {
    my ($pid) = @_;
    my ($state, undef, $start) = stat_of($pid);
    return defined $state && $state ne 'Z' && $start eq $started{$pid};
}
my $buf = '';
while (getppid() == $owner) {
    my $rin = '';
    vec($rin, 0, 1) = 1;
    next unless select(my $rout = $rin, undef, undef, 1) > 0;
    my $n = sysread(STDIN, $buf, 4096, length $buf);
    last unless $n;
    while ($buf =~ s/^(add|del) (\d+)\n//) {
        my ($op, $pid) = ($1, $2);
        if ($op eq 'del') { delete $started{$pid}; next }
        my (undef, undef, $start) = stat_of($pid);
        $started{$pid} = $start if defined $start;
    }
}
my @left = grep { there($_) } keys %started;
exit 0 unless @left;
kill 'TERM', @left;
kill 'CONT', @left;    # one the test paused
my $end = time + 5;
sleep 0.05 while time < $end && grep { there($_) } @left;
for my $pid (grep { there($_) } @left) {
    # nginx's workers outlive a master killed with KILL
    opendir my $dh, '/proc' or next;
    my @kids = grep { /^\d+$/ && ((stat_of($_))[1] // 0) == $pid } readdir $dh;
    kill 'KILL', $pid;
    kill 'KILL', @kids;
}
GUARDIAN

sub start_guardian {
    pipe(my $r, my $w) or die "pipe: $!";
    my $owner = $$;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        # Neither the test's signal handlers nor its END blocks may run
        # here. The guardian keeps ignoring the signals of a terminal and a
        # closed pipe.
        $SIG{$_} = 'IGNORE' for qw(INT TERM HUP QUIT PIPE);
        eval {
            POSIX::setsid();
            open STDIN, '<&', $r or die;
            open STDOUT, '>', '/dev/null' or die;
            open STDERR, '>&', \*STDOUT or die;
            # $w is closed on exec; the guardian keeps the pipe's read end
            exec $^X, '-e', $GUARDIAN, $owner;
        };
        POSIX::_exit(127);
    }
    close $r;
    ($guardian_fh, $guardian_owner, $guardian_pid) = ($w, $$, $pid);
}

# A forked child of a test that starts a server gets its own guardian.
sub guard {
    my ($pid) = @_;
    start_guardian() unless $guardian_fh && $guardian_owner == $$;
    tell_guardian("add $pid");
}

sub unguard {
    my ($pid) = @_;
    tell_guardian("del $pid") if $guardian_fh && $guardian_owner == $$;
}

sub tell_guardian {
    my ($line) = @_;
    # a guardian gone for whatever reason must not end the test by SIGPIPE
    local $SIG{PIPE} = 'IGNORE';
    syswrite $guardian_fh, "$line\n";
}

# Debian's redis-server (its path: $bin) on 127.0.0.1:$port in the
# foreground, nothing saved, its files in $dir and its log in
# $dir/logs/redis.log; @extra: more arguments. Returns its pid, for
# stop_redis.
sub start_redis {
    my ($bin, $dir, $port, @extra) = @_;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDOUT, '>>', "$dir/logs/redis.log";
        open STDERR, '>&', \*STDOUT;
        exec $bin, '--port', $port, '--bind', '127.0.0.1', '--save', '',
             '--appendonly', 'no', '--dir', $dir, '--daemonize', 'no',
             '--protected-mode', 'no', @extra or exit 127;
    }
    guard($pid);
    unless (wait_port($port)) {
        stop_pid($pid, 'TERM');
        die "redis-server did not start on $port";
    }
    return $pid;
}

# also one a test paused (SIGSTOP)
sub stop_redis {
    my ($pid) = @_;
    kill 'CONT', $pid;
    stop_pid($pid, 'TERM');
}

sub stop {
    my ($self) = @_;
    # a child forked by a test (for load) must not stop its parent's servers
    return unless $self->{owner} == $$;
    $self->stop_nginx;
    if (my $pid = delete $self->{pids}{mock}) {
        stop_pid($pid, 'TERM');
    }
}

sub error_log {
    my ($self) = @_;
    open my $f, '<', "$self->{dir}/logs/error.log" or return '';
    local $/;
    return <$f>;
}

# One HTTP/1.1 request on a fresh connection; returns
# { status, headers => {lowercase => value}, body }.
sub request {
    my ($self, $method, $path, %o) = @_;
    my $port = $o{port} // $self->{port};
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 10)
        or die "connect $port: $!";
    my $body = $o{body};
    $body = encode_json($body) if ref $body;
    my $h = $o{headers} // {};
    my $req = "$method $path HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
    $req .= "$_: $h->{$_}\r\n" for sort keys %$h;
    if (defined $body) {
        if ($o{chunked}) {
            $req .= "Transfer-Encoding: chunked\r\n\r\n";
            my $n = $o{chunk_size} // 100;
            for (my $i = 0; $i < length $body; $i += $n) {
                my $c = substr($body, $i, $n);
                $req .= sprintf("%x\r\n%s\r\n", length $c, $c);
            }
            $req .= "0\r\n\r\n";
        } else {
            $req .= "Content-Type: application/json\r\n" unless grep { lc $_ eq 'content-type' } keys %$h;
            $req .= "Content-Length: " . length($body) . "\r\n\r\n$body";
        }
    } else {
        $req .= "\r\n";
    }
    $s->print($req);
    local $/;
    my $raw = <$s> // '';
    close $s;
    return parse_response($raw);
}

sub parse_response {
    my ($raw) = @_;
    my ($head, $body) = split /\r\n\r\n/, $raw, 2;
    $body //= '';
    my @lines = split /\r\n/, $head // '';
    my $status_line = shift @lines // '';
    my ($status) = $status_line =~ m{^HTTP/\d\.\d (\d+)};
    my %h;
    for (@lines) {
        my ($k, $v) = /^([^:]+):\s*(.*)$/ or next;
        $k = lc $k;
        $h{$k} = exists $h{$k} ? "$h{$k}, $v" : $v;
    }
    if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
        # read in place with \G: cutting each chunk off the front made a
        # 5 MB stream take seconds (quadratic)
        my $out = '';
        while ($body =~ /\G([0-9a-fA-F]+)[^\r\n]*\r\n/gc) {
            my $n = hex $1;
            last if $n == 0;
            $out .= substr($body, pos($body), $n);
            pos($body) = pos($body) + $n;
            $body =~ /\G\r\n/gc;
        }
        $body = $out;
    }
    return { status => $status // 0, headers => \%h, body => $body, raw => $raw };
}

sub json {
    my ($res) = @_;
    return eval { decode_json($res->{body}) };
}

# Reads an SSE response as it arrives: the parsed response, its data lines
# (events), when the first one arrived and how long the whole took.
sub stream {
    my ($self, $path, %o) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $self->{port},
                                  Proto => 'tcp', Timeout => 20)
        or die "connect: $!";
    my $body = ref $o{body} ? encode_json($o{body}) : $o{body};
    my $h = $o{headers} // {};
    my $req = "POST $path HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
            . "Content-Type: application/json\r\nContent-Length: " . length($body) . "\r\n";
    $req .= "$_: $h->{$_}\r\n" for sort keys %$h;
    $s->print("$req\r\n$body");
    my $t0 = time;
    my ($raw, $first) = ('', undef);
    my $buf;
    while (sysread($s, $buf, 65536)) {
        $raw .= $buf;
        $first //= time - $t0 if $raw =~ /\r\n\r\n.*data:/s;
    }
    close $s;
    my $res = parse_response($raw);
    $res->{first_data_at} = $first;
    $res->{total_time} = time - $t0;
    $res->{events} = [ $res->{body} =~ /^data: ?(.*)$/mg ];
    return $res;
}

# The worker processes of a master, read from /proc (no procps needed: a
# minimal Debian has no pgrep). Dies when none is found, so that a test
# never reports a count or a memory figure of 0 as a measurement.
sub children {
    my ($ppid) = @_;
    opendir my $dh, '/proc' or die "children of $ppid: /proc cannot be read: $!\n";
    my @kids;
    for my $pid (grep { /^\d+$/ } readdir $dh) {
        open my $f, '<', "/proc/$pid/stat" or next;   # gone meanwhile
        my $stat = <$f> // '';
        close $f;
        # the name in parentheses may hold blanks and parentheses itself
        my ($parent) = $stat =~ /\)\s+\S+\s+(\d+)/ or next;
        push @kids, $pid if $parent == $ppid;
    }
    closedir $dh;
    return sort { $a <=> $b } @kids;
}

sub workers {
    my ($self) = @_;
    my $m = $self->{pids}{nginx} or die "workers: nginx is not running\n";
    # The master listens before it forks its workers, so a test that
    # waited for the port may look before the first worker exists.
    my @w = children($m);
    for (1 .. 100) {
        last if @w;
        select(undef, undef, undef, 0.05);
        @w = children($m);
    }
    die "workers: no worker process of nginx master $m found in /proc\n" unless @w;
    return @w;
}

# A field of /proc/PID/status in kB (VmRSS, VmHWM); dies when it cannot be
# read, rather than answering 0.
sub mem_kb {
    my ($pid, $field) = @_;
    open my $f, '<', "/proc/$pid/status" or die "mem_kb: /proc/$pid/status: $!\n";
    while (<$f>) { return $1 if /^$field:\s+(\d+)\s+kB/ }
    die "mem_kb: no $field in /proc/$pid/status\n";
}

# Fail on alerts, as nginx's suite does, then stop everything.
sub done {
    my ($self) = @_;
    my $log = $self->error_log;
    my @bad = grep { /\[(alert|emerg|crit)\]/ } split /\n/, $log;
    @bad = grep { !/$self->{allow_log}/ } @bad if $self->{allow_log};
    ok(!@bad, 'no alert, crit or emerg in error.log') or diag(join "\n", @bad);
    $self->stop;
    $self->{done} = 1;
    if (Test::More->builder->is_passing) {
        remove_tree($self->{dir}) unless $ENV{AIGOV_KEEP};
    } else {
        diag("logs kept in $self->{dir}");
    }
}

# Whether the test file passed, as its END sees it (before Test::More's
# own END has its say): every test so far passed, and it has said how many
# it runs (done_testing, or a plan it met). A test that dies exits with a
# status that is not 0.
sub test_passed {
    my ($rc) = @_;
    my $tb = Test::More->builder;
    return 0 if $rc || !$tb->is_passing;
    my $plan = $tb->has_plan // return 0;
    return 1 if $plan eq 'no_plan';
    return $plan =~ /^\d+$/ && $tb->current_test == $plan;
}

# The folder of an instance a passing test did not hand to done (one whose
# servers it stopped itself, a second gateway it killed) goes too; a
# failing test keeps them all, and says where.
END {
    my $rc = $?;
    $_->stop for @instances;
    my @mine = grep { $_->{owner} == $$ && -d $_->{dir} } @instances;
    if (@mine && test_passed($rc)) {
        remove_tree($_->{dir}) for $ENV{AIGOV_KEEP} ? () : @mine;
    } else {
        diag("logs kept in $_->{dir}") for grep { !$_->{done} } @mine;
    }
    $? = $rc;
}

# HUP (the terminal closed), QUIT and PIPE (a write to a closed socket)
# end a test as INT and TERM do; unhandled, they end it without END
for my $sig (qw(INT TERM HUP QUIT PIPE)) {
    $SIG{$sig} = sub { $_->stop for @instances; exit 1 };
}

1;
