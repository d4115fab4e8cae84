#!/usr/bin/perl
# aigov audit report over a log with every kind of record (admissions,
# completions, refusals by rule, by filter, by quota, by token, bad
# bodies; filter verdicts; policy records; a gap): the numbers of --json
# equal counts computed here from the records with JSON::PP; the HTML
# puts the verification first and refers to nothing outside itself.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use AigovTest;
use AigovJWT;

my $root = AigovTest::root();
my $aigov = "$root/build/aigov";
my $P = "$root/build/plugins";
my $t = AigovTest->new;
my $d = $t->dir;
my ($jkey, $jpub) = AigovJWT::keypair($d, 'jwt', 'p256');
system("$aigov keygen --out $d/audit.key --name test.example/aigov >/dev/null 2>&1") == 0 or die 'keygen';
$t->write_file('policy.yaml', <<'YAML');
version: 1
default: deny
rules:
  - name: interns
    when:
      groups: [interns]
      models: [gpt-4o-mini]
    limits:
      requests_per_minute: 3
    decision: allow
  - name: analysts
    when:
      groups: [analysts]
    filters:
      - plugin: blocklist
        stages: [request]
        action: block
        config: {terms: ["project neptune"]}
      - plugin: pii
        stages: [request, response]
        action: redact
        config: {types: [email]}
    decision: allow
YAML
$t->start_mock;
$t->write_conf($t->gateway_conf(
    http => "aigov_plugin blocklist $P/blocklist.so; aigov_plugin pii $P/pii.so;"
          . " aigov_audit_log $d/audit.log; aigov_audit_key $d/audit.key; aigov_audit_origin test.example/aigov;",
    location => "aigov_policy $d/policy.yaml; aigov_jwt_key $jpub;"));
$t->start_nginx;

my %tok = map { $_->[0] => AigovJWT::mint(alg => 'ES256', key => $jkey, claims => { sub => $_->[0], groups => [$_->[1]] }) }
    ([ 'ida', 'interns' ], [ 'ana', 'analysts' ], [ 'bob', 'analysts' ]);
sub ask {
    my ($who, $model, $text, $raw) = @_;
    my %h = $who ? (Authorization => "Bearer $tok{$who}") : ();
    return $t->request('POST', '/v1/chat/completions', headers => \%h,
        body => $raw // encode_json({ model => $model, messages => [ { role => 'user', content => $text } ] }))->{status};
}
my @sent = (
    [ 'ida', 'gpt-4o-mini', 'hi', 200 ], [ 'ida', 'gpt-4o-mini', 'hi', 200 ], [ 'ida', 'gpt-4o-mini', 'hi', 200 ],
    [ 'ida', 'gpt-4o-mini', 'hi', 429 ], [ 'ida', 'gpt-4o-mini', 'hi', 429 ],
    [ 'ida', 'gpt-4o', 'hi', 403 ],
    [ 'ana', 'gpt-4o', 'mail me at a@example.com', 200 ], [ 'ana', 'gpt-4o', 'about project neptune', 403 ],
    [ 'bob', 'gpt-4o', 'hello', 200 ], [ 'bob', 'deepseek-chat', 'hello there', 200 ],
    [ undef, 'gpt-4o', 'no token', 401 ], [ 'bob', undef, undef, 400, '{"model":' ],
);
is(ask(@$_[0, 1, 2, 4]), $_->[3], "request: " . ($_->[0] // 'anonymous') . ' ' . ($_->[1] // 'bad body') . " -> $_->[3]")
    for @sent;
$t->stop_nginx;

# a gap: the same log without one completion record (as if a worker died)
open my $lf, '<', "$d/audit.log" or die;
my @lines = <$lf>;
close $lf;
my ($drop) = grep { $lines[$_] =~ /"phase":"done"/ } 0 .. $#lines;
open my $gf, '>', "$d/gap.log" or die;
print $gf @lines[grep { $_ != $drop } 0 .. $#lines];
close $gf;

for my $case ([ 'audit.log', 1 ], [ 'gap.log', 0 ]) {
    my ($log, $clean) = @$case;
    open my $f, '<', "$d/$log" or die;
    my @recs = map { decode_json($_) } grep { /^\{"seq"/ } <$f>;
    close $f;

    # the independent count
    my (%day, %reason, %filt, %model, %sub, %pend, %quota, %pol, $pt, $ct);
    ($pt, $ct) = (0, 0);
    for my $r (@recs) {
        my $ph = $r->{phase} // '';
        if ($ph eq 'policy') { $pol{ $r->{policy_sha256} }{logged}++; next }
        for my $e (@{ $r->{filters} // [] }) {
            $filt{"$e->{plugin}/$e->{stage}/$e->{verdict}"}{entries}++;
            $filt{"$e->{plugin}/$e->{stage}/$e->{verdict}"}{matches} += $e->{count} // 0;
        }
        if ($ph eq 'admit' || $ph eq 'deny') {
            $day{ substr($r->{ts}, 0, 10) }{ $ph eq 'admit' ? 'allow' : 'deny' }++;
            $pol{ $r->{policy_sha256} }{records}++ if defined $r->{policy_sha256};
        }
        if ($ph eq 'admit') {
            $pend{ $r->{id} } = $r;
            $model{ $r->{model} }{requests}++;
            $sub{ $r->{sub} }{requests}++;
        } elsif ($ph eq 'deny') {
            my $s = $r->{status};
            my %kind = (400 => 'bad request', 401 => 'authentication', 413 => 'too large', 429 => 'quota', 503 => 'audit unavailable');
            my ($block) = grep { $_->{verdict} eq 'block' } @{ $r->{filters} };
            my $k = $kind{$s} ? "$s $kind{$s}" : $block ? "$s filter $block->{plugin}"
                  : defined $r->{rule} ? "$s rule $r->{rule}" : "$s other";
            $reason{$k}++;
            $sub{ $r->{sub} // '(none)' }{refused}++;
            $quota{ $r->{sub} }++ if $s == 429;
        } elsif ($ph eq 'done') {
            my $a = delete $pend{ $r->{id} } or next;
            my ($p, $c) = map { $r->{usage} ? $r->{usage}{$_} // 0 : 0 } qw(prompt_tokens completion_tokens);
            $model{ $a->{model} }{pt} += $p;
            $model{ $a->{model} }{ct} += $c;
            $sub{ $a->{sub} }{tokens} += $p + $c;
            ($pt, $ct) = ($pt + $p, $ct + $c);
        }
    }

    my $out = `$aigov audit report --key $d/audit.key.pub --json --html $d/$log.html $d/$log 2>&1`;
    my $rc = $? >> 8;
    my $r = eval { decode_json($out) } // {};
    is($rc, $clean ? 0 : 1, "$log: exit status says whether the log verifies") or diag($out);
    is(!!$r->{verification}{ok}, !!$clean, "$log: verification result");
    is($r->{totals}{requests}, scalar(@sent), "$log: requests");
    is($r->{totals}{allowed}, scalar(grep { $_->[3] == 200 } @sent), "$log: allowed");
    is($r->{totals}{refused}, scalar(grep { $_->[3] != 200 } @sent), "$log: refused");
    is_deeply({ map { $_->{day} => { allow => $_->{allow}, deny => $_->{deny} } } @{ $r->{requests_per_day} } },
              { map { $_ => { allow => $day{$_}{allow} // 0, deny => $day{$_}{deny} // 0 } } keys %day },
              "$log: requests per day by decision");
    is_deeply({ map { $_->{reason} => $_->{count} } @{ $r->{refusals_by_reason} } }, \%reason,
              "$log: refusals by reason") or diag(explain($r->{refusals_by_reason}), explain(\%reason));
    my %got_filt = map { ("$_->{plugin}/$_->{stage}/$_->{verdict}", { entries => $_->{entries}, matches => $_->{matches} }) }
                   @{ $r->{filter_verdicts} };
    is_deeply(\%got_filt, \%filt, "$log: filter verdicts by plugin and stage");
    ok(scalar(keys %filt) >= 2, "$log: the log has filter verdicts to count");
    is_deeply({ map { $_->{model} => [ $_->{requests}, $_->{prompt_tokens}, $_->{completion_tokens} ] } @{ $r->{tokens_by_model} } },
              { map { $_ => [ $model{$_}{requests} // 0, $model{$_}{pt} // 0, $model{$_}{ct} // 0 ] } keys %model },
              "$log: tokens by model");
    is($r->{totals}{prompt_tokens}, $pt, "$log: prompt tokens");
    is($r->{totals}{completion_tokens}, $ct, "$log: completion tokens");
    my ($topref) = sort { ($sub{$b}{refused} // 0) <=> ($sub{$a}{refused} // 0) || $a cmp $b } keys %sub;
    is($r->{top_subjects_by_refusals}[0]{sub}, $topref, "$log: the subject with most refusals");
    is($r->{top_subjects_by_refusals}[0]{refused}, $sub{$topref}{refused}, "$log: ... and their count");
    my ($toptok) = sort { ($sub{$b}{tokens} // 0) <=> ($sub{$a}{tokens} // 0) || $a cmp $b } keys %sub;
    is($r->{top_subjects_by_tokens}[0]{sub}, $toptok, "$log: the subject with most tokens");
    is($r->{top_subjects_by_tokens}[0]{tokens}, $sub{$toptok}{tokens}, "$log: ... and their count");
    is_deeply({ map { $_->{sub} => $_->{quota_refusals} } @{ $r->{quota_refusals_by_subject} } }, \%quota,
              "$log: quota refusals");
    is($r->{totals}{quota_refusals}, 2, "$log: two quota refusals");
    is_deeply({ map { $_->{policy_sha256} => { logged => $_->{times_logged}, records => $_->{records} } } @{ $r->{policies} } },
              \%pol, "$log: policies");
    is_deeply([ map { $_->{id} } @{ $r->{gaps} } ], [ sort keys %pend ], "$log: gaps");
    is($r->{totals}{gaps}, $clean ? 0 : 1, "$log: " . ($clean ? 'no gap' : 'one gap'));

    open my $h, '<', "$d/$log.html" or die;
    my $html = do { local $/; <$h> };
    close $h;
    unlike($html, qr/\b(?:src|href)\s*=|url\(|\@import|<script|<link|<iframe|<object|<embed/i,
           "$log: the HTML loads nothing from elsewhere");
    like($html, qr/<svg/, "$log: charts are inline SVG");
    my $first = index($html, '<h2>');
    like(substr($html, $first, 300), qr/^<h2>Verification<\/h2>\n<p class=(?:ok|bad)>\Q${\ ($clean ? 'OK' : 'FAILED')}\E/,
         "$log: the verification result comes first");
    like($html, qr/<td>ida<\/td>/, "$log: subjects are listed");
}

# --since / --until: nothing before the log starts, everything in it
my $out = `$aigov audit report --json --since 2000-01-01T00:00:00Z --until 2000-01-02T00:00:00Z $d/audit.log 2>&1`;
my $r = eval { decode_json($out) } // {};
is($r->{totals}{records}, 0, '--since/--until: a period with no records');
ok($r->{outside_period} > 0, '... counts the records outside it');
is($r->{verification}{checked}, JSON::PP::false, 'without --key the report says it did not verify');

# names that are markup are shown as text
my ($admit) = grep { /"phase":"admit"/ } @lines;
(my $evil = $admit) =~ s/"sub":"[^"]*"/"sub":"<img src=x onerror=alert(1)>"/;
open my $ef, '>', "$d/evil.log" or die;
print $ef $evil;
close $ef;
$out = `$aigov audit report --html $d/evil.html $d/evil.log 2>&1`;
is($? >> 8, 0, 'report without --key') or diag($out);
open my $eh, '<', "$d/evil.html" or die;
my $ehtml = do { local $/; <$eh> };
close $eh;
unlike($ehtml, qr/<img/, 'a subject that is markup is not markup in the page');
like($ehtml, qr/&lt;img src=x onerror=alert\(1\)&gt;/, '... it is shown as text');

$t->done;
done_testing;
