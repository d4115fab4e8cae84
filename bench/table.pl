#!/usr/bin/perl
# Turns bench/run.sh's raw files into one Markdown table.
#
#   table.pl ROWS.tsv MEASURE.tsv [FLOORS.tsv]
#
# ROWS.tsv:    row <id> <label> <workers> <baseline id> <cases> <idle rss KiB> <status>
#              note <id> <case> <text>          (a case that failed its pre-check)
# MEASURE.tsv: <case> <id> WRK requests=.. duration_us=.. p50_us=.. p99_us=.. non2xx=.. sockerr=..
#              cpu_ticks=.. hz=..   (the row's server CPU time over the run)
# FLOORS.tsv:  <step> <ns per MiB>   (build/bench-micro's long-prompt rows:
#              parse, plugins, sha256)
#
# Each figure is the median over the repeated runs; ratios are against the
# row's baseline in the same case, from the same run.
use strict;
use warnings;

my ($rows_file, $measure_file, $floors_file) = @ARGV;
die "usage: table.pl ROWS.tsv MEASURE.tsv [FLOORS.tsv]\n" unless defined $measure_file;

my (@order, %row, %note, %runs, %case_run);

open my $rf, '<', $rows_file or die "$rows_file: $!\n";
while (my $line = <$rf>) {
    chomp $line;
    my @f = split /\t/, $line, -1;
    if ($f[0] eq 'row') {
        my (undef, $id, $label, $workers, $base, $cases, $rss, $status) = @f;
        push @order, $id;
        $row{$id} = { label => $label, workers => $workers, base => $base,
                      cases => [split ' ', $cases], rss => $rss, status => $status };
    } elsif ($f[0] eq 'note') {
        $note{"$f[1]:$f[2]"} = $f[3];
    }
}
close $rf;

open my $mf, '<', $measure_file or die "$measure_file: $!\n";
while (my $line = <$mf>) {
    chomp $line;
    my ($case, $id, $wrk) = split /\t/, $line, 3;
    next unless defined $wrk;
    $case_run{$case} = 1;
    my %v = $wrk =~ /(\w+)=(\d+)/g;
    if (!%v || !$v{duration_us}) {
        push @{ $runs{"$id:$case"}{bad} }, 'wrk failed';
        next;
    }
    my $r = $runs{"$id:$case"} //= {};
    push @{ $r->{rps} }, $v{requests} / ($v{duration_us} / 1e6);
    push @{ $r->{p50} }, $v{p50_us};
    push @{ $r->{p99} }, $v{p99_us};
    # CPU time of the server per request, in us; undef when not measured
    push @{ $r->{cpu} }, ($v{hz} && $v{requests} && defined $v{cpu_ticks})
        ? $v{cpu_ticks} / $v{hz} * 1e6 / $v{requests} : undef;
    $r->{requests} += $v{requests};
    $r->{non2xx}   += $v{non2xx};
    $r->{sockerr}  += $v{sockerr};
}
close $mf;

sub median {
    my @s = sort { $a <=> $b } @_;
    return undef unless @s;
    return @s % 2 ? $s[$#s / 2] : ($s[@s / 2 - 1] + $s[@s / 2]) / 2;
}

sub result {
    my ($id, $case) = @_;
    my $r = $runs{"$id:$case"} or return undef;
    return undef unless $r->{rps};
    return { rps => median(@{ $r->{rps} }), p50 => median(@{ $r->{p50} }),
             p99 => median(@{ $r->{p99} }), cpu => median(grep { defined } @{ $r->{cpu} }),
             r => $r };
}

# The last round both rows measured (a row may have fewer runs).
sub last_round {
    my ($r, $base) = @_;
    return $#{ $r->{cpu} } < $#{ $base->{cpu} } ? $#{ $r->{cpu} } : $#{ $base->{cpu} };
}
sub sum_of { my $t = 0; $t += $_ for @_; return $t }
sub ms { my $us = shift; return sprintf($us < 10_000 ? '%.2f' : '%.1f', $us / 1000) }
sub thousands { my $n = sprintf '%.0f', shift; 1 while $n =~ s/^(\d+)(\d{3})/$1,$2/; $n }
sub ratio {
    my ($x, $base) = @_;
    return '' unless $x && $base;
    my $q = $x / $base;
    return sprintf($q < 0.095 ? '%.3f' : $q < 9.95 ? '%.2f' : $q < 99.5 ? '%.1f' : '%.0f', $q);
}

my @head = ('case', 'configuration', 'workers', 'req/s', 'x nginx', 'p50 ms', 'p99 ms',
            'p99 x nginx', 'CPU us/req', 'idle RSS MiB', 'note');
my @out = (\@head);
my %case_title = (json1k => 'json 1 KiB', json16k => 'json 16 KiB', stream => 'SSE 200 events',
                  prompt128k => 'prompt 128 KiB', prompt1m => 'prompt 1 MiB',
                  prompt4m => 'prompt 4 MiB', 'prompt1m-file' => 'prompt 1 MiB, file');
my @cases = qw(json1k json16k stream prompt128k prompt1m prompt4m prompt1m-file);
my %case_mib = (prompt128k => 0.125, prompt1m => 1, prompt4m => 4, 'prompt1m-file' => 1);

for my $case (@cases) {
    next unless $case_run{$case};     # not among BENCH_CASES
    for my $id (@order) {
        my $row = $row{$id};
        next unless grep { $_ eq $case } @{ $row->{cases} };
        my $workers = $id =~ /^portkey/ ? '1 proc' : $row->{workers};
        my $rss = $row->{rss} ? sprintf('%.1f', $row->{rss} / 1024) : '';
        my @cells = ($case_title{$case}, $row->{label}, $workers);
        my $res = result($id, $case);
        my $why = $row->{status} ne 'ok' ? $row->{status} : $note{"$id:$case"};
        if (!$res) {
            $why //= $runs{"$id:$case"}{bad} ? 'failed: wrk gave no result' : 'not measured';
            push @out, [@cells, '-', '', '', '', '', '', $rss, $why];
            next;
        }
        my $base = $id eq $row->{base} ? undef : result($row->{base}, $case);
        my @notes;
        push @notes, "vs $row->{base}" if $base && $row->{base} ne 'nginx-' . $row->{workers};
        my $r = $res->{r};
        if ($r->{non2xx}) {
            push @notes, sprintf('%d of %d answers not 2xx', $r->{non2xx}, $r->{requests});
        }
        push @notes, "$r->{sockerr} socket errors" if $r->{sockerr};
        push @notes, 'failed: ' . join(', ', @{ $r->{bad} }) if $r->{bad};
        push @out, [@cells, thousands($res->{rps}),
                    $id eq $row->{base} ? '1.00' : ($base ? ratio($res->{rps}, $base->{rps}) : 'n/a'),
                    ms($res->{p50}), ms($res->{p99}),
                    $id eq $row->{base} ? '1.00' : ($base ? ratio($res->{p99}, $base->{p99}) : 'n/a'),
                    defined $res->{cpu} ? sprintf('%.0f', $res->{cpu}) : '',
                    $rss, join('; ', @notes)];
    }
}

# A Markdown table that also reads well in a terminal: padded columns,
# numbers right-aligned. $rows->[0] is the head; $numeric flags columns.
sub print_table {
    my ($rows, $numeric) = @_;
    my $last = $#{ $rows->[0] };
    my @width = map { my $i = $_; my $w = 3; for (@$rows) { my $l = length($_->[$i] // ''); $w = $l if $l > $w } $w } 0 .. $last;
    for my $n (0 .. $#$rows) {
        my @c = map {
            my $v = $rows->[$n][$_] // '';
            $numeric->[$_] && $n ? sprintf('%*s', $width[$_], $v) : sprintf('%-*s', $width[$_], $v)
        } 0 .. $last;
        print '| ', join(' | ', @c), " |\n";
        if ($n == 0) {
            print '|', join('|', map { '-' x ($width[$_] + 1) . ($numeric->[$_] ? ':' : '-') } 0 .. $last), "|\n";
        }
    }
}

print_table(\@out, [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0]);

# What each step costs, from runs of the same round: a step's throughput
# over the step before it, round by round, then the median and the range.
# The n-th run of a row is round n: rows are interleaved, so the runs of
# one round were taken minutes apart at most. Pairing runs this way takes
# out most of the machine's slow and fast moments, which move all rows of a
# round together.
my @steps = (
    ['aigov pass-through', 'pass', 'nginx'],
    ['+ identity and policy', 'policy', 'pass'],
    ['+ 4 plugins on the prompt', 'plugins', 'policy'],
    ['+ signed audit log', 'audit', 'plugins'],
    ['full stack against nginx', 'audit', 'nginx'],
    ['full stack against the Lua guard', 'audit', 'lua'],
);
my @cost = (['case', 'workers', 'step', 'rounds', 'cost (median)', 'range']);
for my $case (qw(json1k json16k stream)) {
    for my $w (1, 2) {
        for my $s (@steps) {
            my ($label, $this, $prev) = @$s;
            my ($ra, $rb) = map { $runs{"$_-$w:$case"} ? $runs{"$_-$w:$case"}{rps} : undef } $this, $prev;
            next unless $ra && $rb;
            my @q;
            for my $k (0 .. ($#$ra < $#$rb ? $#$ra : $#$rb)) {
                push @q, $ra->[$k] / $rb->[$k] if $ra->[$k] && $rb->[$k];
            }
            next unless @q;
            my @sorted = sort { $a <=> $b } @q;
            my $pct = sub { sprintf '%+.0f%%', 100 * ($_[0] - 1) };
            push @cost, [$case_title{$case}, $w, $label, scalar @q, $pct->(median(@q)),
                         @q > 1 ? $pct->($sorted[0]) . " to " . $pct->($sorted[-1]) : ''];
        }
    }
}
if (@cost > 1) {
    print "\n";
    print "Cost of each step: its throughput against the step before it (or the row named), run by run within each round, as a change in requests/s.\n\n";
    print_table(\@cost, [0, 1, 0, 1, 1, 1]);
}

# Long prompts: the CPU time the gateway adds per request (the row's server
# CPU per request minus plain nginx's in the same round), per MiB of
# prompt, against the sum of the per-MiB floors of its steps.
my %floor;
if (defined $floors_file && open my $ff, '<', $floors_file) {
    while (my $line = <$ff>) {
        chomp $line;
        my ($k, $v) = split /\t/, $line;
        $floor{$k} = $v / 1000 if defined $v && $v =~ /^[\d.]+$/;   # us per MiB
    }
    close $ff;
}
my %row_floor = (
    'pass-2'  => defined $floor{parse} ? $floor{parse} : undef,
    'audit-2' => (grep { !defined $floor{$_} } qw(parse plugins sha256)) ? undef
                 : $floor{parse} + $floor{plugins} + $floor{sha256},
);
my @long = (['case', 'configuration', 'rounds', 'x nginx', 'added CPU per request', 'added per MiB',
             'range per MiB', 'floors per MiB', 'x floors']);
for my $case (grep { $case_mib{$_} } @cases) {
    my $base = $runs{"nginx-2:$case"} or next;
    for my $id (qw(pass-2 audit-2)) {
        my $r = $runs{"$id:$case"} or next;
        my (@add, @q);
        for my $k (0 .. last_round($r, $base)) {
            push @add, $r->{cpu}[$k] - $base->{cpu}[$k]
                if defined $r->{cpu}[$k] && defined $base->{cpu}[$k];
            push @q, $r->{rps}[$k] / $base->{rps}[$k] if $r->{rps}[$k] && $base->{rps}[$k];
        }
        next unless @add;
        my @sorted = sort { $a <=> $b } @add;
        my $mib = $case_mib{$case};
        my $med = median(@add) / $mib;
        my $fl = $row_floor{$id};
        push @long, [$case_title{$case}, $row{$id}{label}, scalar @add,
                     @q ? sprintf('%.2f', median(@q)) : '',
                     sprintf('%.0f us', median(@add)), sprintf('%.0f us', $med),
                     @add > 1 ? sprintf('%.0f to %.0f', $sorted[0] / $mib, $sorted[-1] / $mib) : '',
                     defined $fl ? sprintf('%.0f us', $fl) : 'n/a',
                     defined $fl && $fl > 0 ? sprintf('%.2f', $med / $fl) : ''];
    }
}
# The 1 KiB full stack against the floors of its steps. The machine's
# speed moves (the same micro row runs at one speed, then 1.7 times
# slower for seconds), so each round's added CPU is also given at the
# speed of the round where plain nginx cost least: plain nginx's CPU per
# request, a fixed piece of work, is the yardstick of each round.
my @k1 = (['workers', 'rounds', 'nginx CPU per request', 'added CPU per request',
           'at the fastest round\'s speed', 'hot floors', '+ log write', 'cold floors + log write',
           'x hot floors', 'x hot floors + write', 'x cold floors + write']);
my @hot = qw(jwt policy parse1k plugins1k audit1k);
my $have_floors = !grep { !defined $floor{$_} } @hot;
my $fl_hot = $have_floors ? sum_of(map { $floor{$_} } @hot) : undef;
my $fl_cold = ($have_floors && !grep { !defined $floor{"${_}_cold"} } @hot)
    ? sum_of(map { $floor{"${_}_cold"} } @hot) : undef;
my $fl_write = defined $floor{append4} ? $floor{append4} / 4 : undef;
for my $w (1, 2) {
    my $base = $runs{"nginx-$w:json1k"} or next;
    my $r = $runs{"audit-$w:json1k"} or next;
    my (@add, @ngx);
    for my $k (0 .. last_round($r, $base)) {
        next unless defined $r->{cpu}[$k] && defined $base->{cpu}[$k];
        push @add, $r->{cpu}[$k] - $base->{cpu}[$k];
        push @ngx, $base->{cpu}[$k];
    }
    next unless @add;
    my @sn = sort { $a <=> $b } @ngx;
    my $scaled = median(map { $add[$_] * $sn[0] / $ngx[$_] } 0 .. $#add);
    my $x = sub { my $f = shift; defined $f && $f > 0 ? sprintf('%.2f', $scaled / $f) : '' };
    push @k1, [$w, scalar @add,
               @sn > 1 ? sprintf('%.1f to %.1f us', $sn[0], $sn[-1]) : sprintf('%.1f us', $sn[0]),
               sprintf('%.1f us', median(@add)), sprintf('%.1f us', $scaled),
               defined $fl_hot ? sprintf('%.1f us', $fl_hot) : 'n/a',
               defined $fl_write ? sprintf('%.1f us', $fl_write) : 'n/a',
               defined $fl_cold && defined $fl_write ? sprintf('%.1f us', $fl_cold + $fl_write) : 'n/a',
               $x->($fl_hot), $x->(defined $fl_write ? $fl_hot + $fl_write : undef),
               $x->(defined $fl_cold && defined $fl_write ? $fl_cold + $fl_write : undef)];
}
if (@k1 > 1) {
    print "\n";
    print "json 1 KiB, the full stack (identity, policy, four plugins, signed audit log) against the floors of its steps: the server CPU time it adds per request over plain nginx (round by round, then the median), also scaled to the speed of the round where plain nginx cost least (this machine's speed moves by up to 1.8 times for seconds at a time). Hot floors: build/bench-micro's rows for the cached JWT check, the policy decision, the parse of the 1 KiB body, the four plugins and the audit work of one request (the fastest of three runs). Log write: appending four requests' records in one write(), a quarter of it (the workers write about four requests' records at once under this load). Cold floors: the same steps, each right after 1 MiB of other memory was written.\n\n";
    print_table(\@k1, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
}

if (@long > 1) {
    print "\n";
    print "Long prompts: the server CPU time aigov adds per request (its CPU per request minus plain nginx's, 2 workers, round by round), per MiB of prompt, against the sum of the per-MiB floors of its steps (build/bench-micro: parse for pass-through; parse, the four plugins and one SHA-256 for the full stack).\n\n";
    print_table(\@long, [0, 0, 1, 1, 1, 1, 1, 1, 1]);
}
