#!/usr/bin/perl
# Every string the model wrote is inspected, through real nginx, the
# bundled pii plugin and the mock's scripted answers: each answer field of
# chat, Anthropic messages and the Responses API, whole and streamed, is
# redacted (the answer stays valid JSON, the email gone) or blocked (in the
# error shape the caller's SDK raises on). An answer is read by its bytes,
# whatever its label. Streams without final usage are settled from an
# estimate: a quota is not spent by streams whose reservations were never
# settled, whether the upstream sent no usage or the client hung up. The
# completion record says when the usage is estimated and when a filter
# blocked the answer; `aigov audit show` shows it. The logprobs OpenAI
# sends beside a text (chat, completions, Responses: tokens, bytes and
# alternatives) spell the text as the client got it: nothing of a masked
# address is left in them, also where tokens cut characters. A term or an
# address cut across two parts of one answer text (Responses output_text
# parts or messages, Anthropic text blocks; the mock's X-Mock-Parts) is
# masked or blocked in a stream too, the texts the Responses events repeat
# masked alike; the choices of a chat answer with n > 1 are not run
# together.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use IO::Uncompress::Gunzip ();
use IO::Socket::INET;
use Time::HiRes qw(sleep);
use AigovTest;
use AigovJWT;

my $root = AigovTest::root();
my $P = "$root/build/plugins";
my $aigov = "$root/build/aigov";
die "$P/pii.so is missing: run make build first\n" unless -f "$P/pii.so";

my $t = AigovTest->new;
my $d = $t->dir;
my ($key, $pub) = AigovJWT::keypair($d, 'k', 'p256');
system("$aigov keygen --out $d/audit.key --name test.example/aigov >/dev/null 2>&1") == 0 or die 'keygen';

$t->write_file('policy.yaml', <<'YAML');
version: 1
default: deny
rules:
  - name: redact-answers
    when:
      groups: [redact]
    filters:
      - plugin: pii
        stages: [response]
        action: redact
        config: {types: [email]}
    decision: allow
  - name: block-answers
    when:
      groups: [block]
    filters:
      - plugin: pii
        stages: [response]
        action: block
        config: {types: [email]}
    decision: allow
  - name: redact-word
    when:
      groups: [word]
    filters:
      - plugin: example
        stages: [response]
        action: redact
        config: {word: "北京"}
    decision: allow
  - name: redact-terms
    when:
      groups: [tredact]
    filters:
      - plugin: blocklist
        stages: [response]
        action: redact
        config: {terms: ["project neptune"]}
    decision: allow
  - name: block-terms
    when:
      groups: [tblock]
    filters:
      - plugin: blocklist
        stages: [response]
        action: block
        config: {terms: ["project neptune"]}
    decision: allow
  - name: analysts
    when:
      groups: [analysts]
    limits:
      tokens_per_minute: 40000
    decision: allow
YAML

my $log = "$d/audit.log";
$t->start_mock;
$t->write_conf($t->gateway_conf(
    http => "aigov_plugin pii $P/pii.so; aigov_plugin example $P/example.so; aigov_plugin blocklist $P/blocklist.so;"
          . " aigov_audit_log $log; aigov_audit_key $d/audit.key;"
          . " aigov_audit_origin test.example/aigov; aigov_audit_checkpoint 100 1s;",
    location => "aigov_policy $d/policy.yaml; aigov_jwt_key $pub;"));
$t->start_nginx;

my %tok = map { $_ => AigovJWT::mint(alg => 'ES256', key => $key,
                                     claims => { sub => "ans-$_", groups => [$_] }) }
          qw(redact block tredact tblock analysts word);

my $EMAIL = 'alice.smith@example.com';
my $js = JSON::PP->new->canonical;

sub body_for {
    my ($path, $stream) = @_;
    my $b = $path eq '/v1/responses'
        ? { model => 'gpt-4o', input => 'hi' }
        : { model => 'gpt-4o', max_tokens => 100, messages => [ { role => 'user', content => 'hi' } ] };
    $b->{stream} = JSON::PP::true if $stream;
    return $b;
}

sub ask {
    my ($group, $path, $stream, $script, %h) = @_;
    my %hd = (Authorization => "Bearer $tok{$group}", %h);
    $hd{'X-Mock-Script'} = $js->encode($script) if $script;
    return $stream ? $t->stream($path, body => body_for($path, $stream), headers => \%hd)
                   : $t->request('POST', $path, body => body_for($path, 0), headers => \%hd);
}

# Every string value of every JSON the client got (whole, or each event).
sub strings {
    my ($v) = @_;
    return ($v) if defined $v && !ref $v;
    return map { strings($_) } @$v if ref $v eq 'ARRAY';
    return map { strings($v->{$_}) } sort keys %$v if ref $v eq 'HASH';
    return ();
}

sub all_json {
    my ($r, $stream) = @_;
    my @docs = $stream ? grep { $_ ne '[DONE]' } @{ $r->{events} } : ($r->{body});
    my @out;
    for (@docs) {
        my $j = eval { decode_json($_) };
        return undef unless $j;
        push @out, $j;
    }
    return \@out;
}

# ---- every field, whole and streamed ---------------------------------------------

my $args = { to => $EMAIL, subject => 'hello' };
my @cases = (
    [ 'chat content',               '/v1/chat/completions', { content => "write to $EMAIL today" } ],
    [ 'chat refusal',               '/v1/chat/completions', { refusal => "I will not mail $EMAIL" } ],
    [ 'chat tool call arguments',   '/v1/chat/completions', { tool_calls => [ { name => 'send', arguments => $args } ] } ],
    [ 'chat tool call name',        '/v1/chat/completions', { tool_calls => [ { name => "to_$EMAIL", arguments => '{}' } ] } ],
    [ 'chat function_call',         '/v1/chat/completions', { function_call => { name => 'send', arguments => $args } } ],
    [ 'chat reasoning_content',     '/v1/chat/completions', { reasoning => "the user is $EMAIL", content => 'ok' } ],
    [ 'chat audio transcript',      '/v1/chat/completions', { audio_transcript => "mail $EMAIL" }, 'whole' ],
    [ 'Anthropic text',             '/v1/messages',         { content => "write to $EMAIL today" } ],
    [ 'Anthropic tool_use input',   '/v1/messages',         { tool_use => [ { name => 'send', input => { deep => [ { to => $EMAIL } ] } } ] } ],
    [ 'Anthropic thinking',         '/v1/messages',         { thinking => "the user is $EMAIL", content => 'ok' } ],
    [ 'Responses output_text',      '/v1/responses',        { content => "write to $EMAIL today" } ],
    [ 'Responses refusal',          '/v1/responses',        { refusal => "I will not mail $EMAIL" } ],
    [ 'Responses function_call',    '/v1/responses',        { tool_calls => [ { name => 'send', arguments => $js->encode($args) } ] } ],
    [ 'Responses reasoning summary','/v1/responses',        { reasoning => "the user is $EMAIL", content => 'ok' } ],
);

for my $c (@cases) {
    my ($name, $path, $script, $only) = @$c;
    for my $stream (0, 1) {
        next if $only && $only eq 'whole' && $stream;
        my $how = $stream ? 'streamed' : 'whole';
        # the answer carries the address when nobody filters
        my $r = ask('analysts', $path, $stream, $script);
        like($r->{body}, qr/\Q$EMAIL\E|alice/, "$name, $how: the mock answers with the address");

        $r = ask('redact', $path, $stream, $script);
        is($r->{status}, 200, "$name, $how, redact: 200");
        my $docs = all_json($r, $stream);
        ok($docs, "$name, $how, redact: every JSON the client got is valid") or diag($r->{body});
        my $text = join "\x00", map { strings($_) } @{ $docs // [] };
        unlike($r->{body}, qr/alice|smith|example\.com/, "$name, $how, redact: no part of the address reaches the client");
        # streamed fragments: the label may sit in any one of them
        like($stream ? join('', map { strings($_) } @{ $docs // [] }) : $text, qr/\[REDACTED:EMAIL\]/,
             "$name, $how, redact: masked in place");

        $r = ask('block', $path, $stream, $script);
        unlike($r->{body}, qr/alice|smith|example\.com/, "$name, $how, block: no part of the address reaches the client");
        if (!$stream) {
            is($r->{status}, 403, "$name, whole, block: 403");
            my $j = AigovTest::json($r) // {};
            if ($path eq '/v1/messages') {
                is_deeply([ $j->{type}, $j->{error}{type} ], [ 'error', 'permission_error' ],
                          "$name, whole, block: Anthropic's error shape");
            } else {
                is($j->{error}{code}, 'pii', "$name, whole, block: OpenAI's error shape, the plugin as code");
            }
        } elsif ($path eq '/v1/messages') {
            like($r->{body}, qr/event: error\ndata: \{"type":"error","error":\{"type":"permission_error"/,
                 "$name, streamed, block: event: error, Anthropic's shape");
        } elsif ($path eq '/v1/responses') {
            like($r->{body}, qr/event: error\ndata: \{[^\n]*"error":\{[^\n]*"code":"pii"/,
                 "$name, streamed, block: an error event with an error object");
            like($r->{body}, qr/event: response\.failed\n/, "$name, streamed, block: then response.failed");
            unlike($r->{body}, qr/response\.completed/, "$name, streamed, block: no response.completed");
        } else {
            like($r->{events}[-2] // '', qr/^\{"error":\{.*"code":"pii"/, "$name, streamed, block: an error event");
            is($r->{events}[-1], '[DONE]', "$name, streamed, block: then [DONE]");
        }
    }
}

# What tools brought into the answer, in shapes the mock does not build
# (X-Mock-Raw): the page an Anthropic web fetch returned (a text document,
# its text under "data") and the tools loaded while the model answered
# (an MCP server's list: Responses mcp_list_tools, Anthropic
# mcp_tool_listing; a Responses tool search's tool_search_output, all
# under "tools") are text; a citation between two text deltas of a block
# does not hide an address cut across them.
{
    use MIME::Base64 qw(encode_base64);
    my $page = { type => 'web_fetch_tool_result', tool_use_id => 'srvtoolu_1',
                 content => { type => 'web_fetch_result', url => 'https://example.org/',
                              content => { type => 'document', title => 'contact',
                                           source => { type => 'text', media_type => 'text/plain',
                                                       data => "write to $EMAIL" } } } };
    my $tools = { type => 'mcp_list_tools', id => 'mcpl_1', server_label => 'crm',
                  tools => [ { name => 'lookup', description => "ask $EMAIL first",
                               input_schema => { type => 'object' } } ] };
    my $listing = { type => 'mcp_tool_listing', mcp_server_name => 'crm',
                    tools => [ { name => 'lookup', description => "ask $EMAIL first",
                                 input_schema => { type => 'object' } } ] };
    my $found = { type => 'tool_search_output', id => 'tso_1', call_id => 'tsc_1', execution => 'server',
                  status => 'completed',
                  tools => [ { type => 'function', name => 'lookup', strict => JSON::PP::true,
                               parameters => { type => 'object',
                                               properties => { who => { type => 'string',
                                                                        description => "e.g. $EMAIL" } } } } ] };
    my $ausage = { input_tokens => 5, output_tokens => 3 };
    my $rusage = { input_tokens => 5, output_tokens => 3, total_tokens => 8 };
    my @raw = (
        [ 'Anthropic web_fetch_tool_result', '/v1/messages', 0,
          { id => 'msg_1', type => 'message', role => 'assistant', model => 'claude-test',
            content => [ $page ], stop_reason => 'end_turn', usage => $ausage } ],
        [ 'Anthropic web_fetch_tool_result', '/v1/messages', 1,
          [ [ 'message_start', { type => 'message_start', message => { id => 'msg_1', type => 'message', role => 'assistant',
                                  model => 'claude-test', content => [], usage => { input_tokens => 5, output_tokens => 1 } } } ],
            [ 'content_block_start', { type => 'content_block_start', index => 0, content_block => $page } ],
            [ 'content_block_stop', { type => 'content_block_stop', index => 0 } ],
            [ 'message_delta', { type => 'message_delta', delta => { stop_reason => 'end_turn' }, usage => { output_tokens => 3 } } ],
            [ 'message_stop', { type => 'message_stop' } ] ] ],
        [ 'Anthropic mcp_tool_listing', '/v1/messages', 0,
          { id => 'msg_1', type => 'message', role => 'assistant', model => 'claude-test',
            content => [ $listing ], stop_reason => 'end_turn', usage => $ausage } ],
        [ 'Anthropic mcp_tool_listing', '/v1/messages', 1,
          [ [ 'message_start', { type => 'message_start', message => { id => 'msg_1', type => 'message', role => 'assistant',
                                  model => 'claude-test', content => [], usage => { input_tokens => 5, output_tokens => 1 } } } ],
            [ 'content_block_start', { type => 'content_block_start', index => 0, content_block => $listing } ],
            [ 'content_block_stop', { type => 'content_block_stop', index => 0 } ],
            [ 'message_delta', { type => 'message_delta', delta => { stop_reason => 'end_turn' }, usage => { output_tokens => 3 } } ],
            [ 'message_stop', { type => 'message_stop' } ] ] ],
        [ 'Responses tool_search_output', '/v1/responses', 0,
          { id => 'resp_1', object => 'response', status => 'completed', output => [ $found ], usage => $rusage } ],
        [ 'Responses tool_search_output', '/v1/responses', 1,
          [ [ 'response.output_item.added', { type => 'response.output_item.added', output_index => 0, item => $found, sequence_number => 1 } ],
            [ 'response.output_item.done', { type => 'response.output_item.done', output_index => 0, item => $found, sequence_number => 2 } ],
            [ 'response.completed', { type => 'response.completed', sequence_number => 3,
                                      response => { id => 'resp_1', object => 'response', status => 'completed',
                                                    output => [ $found ], usage => $rusage } } ] ] ],
        [ 'Responses mcp_list_tools', '/v1/responses', 0,
          { id => 'resp_1', object => 'response', status => 'completed', output => [ $tools ], usage => $rusage } ],
        [ 'Responses mcp_list_tools', '/v1/responses', 1,
          [ [ 'response.output_item.done', { type => 'response.output_item.done', output_index => 0, item => $tools, sequence_number => 1 } ],
            [ 'response.completed', { type => 'response.completed', sequence_number => 2,
                                      response => { id => 'resp_1', object => 'response', status => 'completed',
                                                    output => [ $tools ], usage => $rusage } } ] ] ],
        [ 'Anthropic citations_delta between text deltas', '/v1/messages', 1,
          [ map({ [ 'content_block_delta', { type => 'content_block_delta', index => 0, delta => $_ } ] }
                { type => 'text_delta', text => 'write to alice.smi' },
                { type => 'citations_delta', citation => { type => 'char_location', cited_text => 'the docs', document_index => 0,
                                                           document_title => 'manual', start_char_index => 0, end_char_index => 8 } },
                { type => 'text_delta', text => 'th@example.com today' }),
            [ 'content_block_stop', { type => 'content_block_stop', index => 0 } ],
            [ 'message_delta', { type => 'message_delta', delta => { stop_reason => 'end_turn' }, usage => { output_tokens => 3 } } ],
            [ 'message_stop', { type => 'message_stop' } ] ] ],
    );
    for my $c (@raw) {
        my ($name, $path, $stream, $answer) = @$c;
        my $how = $stream ? 'streamed' : 'whole';
        my %h = ('X-Mock-Raw' => encode_base64($js->encode($answer), ''));
        my $r = ask('analysts', $path, $stream, undef, %h);
        like($r->{body}, qr/\Q$EMAIL\E|alice/, "$name, $how: the mock answers with the address");
        $r = ask('redact', $path, $stream, undef, %h);
        is($r->{status}, 200, "$name, $how, redact: 200");
        ok(all_json($r, $stream), "$name, $how, redact: every JSON the client got is valid") or diag($r->{body});
        unlike($r->{body}, qr/alice|smith|example\.com/, "$name, $how, redact: no part of the address reaches the client");
        like($r->{body}, qr/REDACTED:EMAIL/, "$name, $how, redact: masked in place");
        like($r->{body}, qr/the docs/, "$name, $how, redact: a citation is left as it was") if $name =~ /citations/;
        $r = ask('block', $path, $stream, undef, %h);
        unlike($r->{body}, qr/alice|smith|example\.com/, "$name, $how, block: no part of the address reaches the client");
        is($r->{status}, 403, "$name, whole, block: 403") unless $stream;
    }
}

# Tool-call arguments are JSON text the client parses: the address written
# with JSON escapes there is the address to the client's JSON.parse, so it
# is redacted (the escapes masked whole, the arguments still JSON) or
# blocked, whole and streamed.
{
    my $esc = '{"to":"\u0061lice.smith\u0040example.com","subject":"hi"}';
    for my $c ([ 'chat tool call', '/v1/chat/completions', { tool_calls => [ { name => 'send', arguments => $esc } ] } ],
               [ 'chat function_call', '/v1/chat/completions', { function_call => { name => 'send', arguments => $esc } } ],
               [ 'Responses function_call', '/v1/responses', { tool_calls => [ { name => 'send', arguments => $esc } ] } ]) {
        my ($name, $path, $script) = @$c;
        for my $stream (0, 1) {
            my $how = $stream ? 'streamed' : 'whole';
            my $r = ask('analysts', $path, $stream, $script);
            like($r->{body}, qr/u0061lice/, "escaped arguments, $name, $how: unfiltered, the escapes pass");
            $r = ask('redact', $path, $stream, $script);
            is($r->{status}, 200, "escaped arguments, $name, $how, redact: 200");
            my $docs = all_json($r, $stream) // [];
            # the arguments as the client's SDK assembles them, then parses
            my $value = '';
            for my $d (@$docs) {
                my $m = $d->{choices} ? ($stream ? $d->{choices}[0]{delta} : $d->{choices}[0]{message}) : undef;
                if ($m) {
                    $value .= $m->{tool_calls} ? $m->{tool_calls}[0]{function}{arguments} // ''
                            : $m->{function_call} ? $m->{function_call}{arguments} // '' : '';
                } elsif (!$stream) {
                    $value .= join '', map { $_->{arguments} // '' } @{ $d->{output} // [] };
                } elsif (($d->{type} // '') eq 'response.function_call_arguments.delta') {
                    $value .= $d->{delta};
                } elsif (($d->{type} // '') eq 'response.function_call_arguments.done') {
                    is($d->{arguments}, $value, "escaped arguments, $name, streamed, redact: .done repeats the deltas");
                }
            }
            my $j = eval { decode_json($value) };
            ok($j, "escaped arguments, $name, $how, redact: the arguments are still JSON") or diag($r->{body});
            unlike($js->encode($j // {}), qr/alice|smith|example\.com/, "escaped arguments, $name, $how, redact: parsed, no address");
            like($j->{to} // '', qr/\[REDACTED:EMAIL\]/, "escaped arguments, $name, $how, redact: masked in place");
            is($j->{subject}, 'hi', "escaped arguments, $name, $how, redact: the rest as it was");

            $r = ask('block', $path, $stream, $script);
            unlike($r->{body}, qr/u0061lice|smith/, "escaped arguments, $name, $how, block: nothing of it reaches the client");
            is($r->{status}, 403, "escaped arguments, $name, whole, block: 403") unless $stream;
        }
    }
}

# keys the model wrote in a tool's input are text too
for my $stream (0, 1) {
    my $how = $stream ? 'streamed' : 'whole';
    my $script = { tool_use => [ { name => 'send', input => { $EMAIL => 'to', note => 'x' } } ] };
    my $r = ask('redact', '/v1/messages', $stream, $script);
    is($r->{status}, 200, "Anthropic tool_use input key, $how, redact: 200");
    unlike($r->{body}, qr/alice|smith|example\.com/, "Anthropic tool_use input key, $how, redact: no part of the address");
    like($r->{body}, qr/REDACTED:EMAIL/, "Anthropic tool_use input key, $how, redact: masked");
    $r = ask('block', '/v1/messages', $stream, $script);
    unlike($r->{body}, qr/alice|smith|example\.com/, "Anthropic tool_use input key, $how, block: no part of the address");
    is($r->{status}, 403, "Anthropic tool_use input key, whole, block: 403") unless $stream;
}

# a control field is not text: an id that looks like an address stays
my $r = ask('redact', '/v1/messages', 0, { content => 'hello' }, 'X-Mock-Answer' => 'x');
is($r->{status}, 200, 'a clean answer: 200');
unlike($r->{body}, qr/REDACTED/, 'a clean answer: nothing masked (ids, types, models are not text)');

# Anthropic count_tokens carries no model text
$r = $t->request('POST', '/v1/messages/count_tokens',
                 body => { model => 'claude-sonnet-4', messages => [ { role => 'user', content => 'hi' } ] },
                 headers => { Authorization => "Bearer $tok{redact}" });
is($r->{status}, 200, 'count_tokens: 200');
like($r->{body}, qr/^\{"input_tokens":\d+\}$/, 'count_tokens: the answer passes as it is');

# ---- logprobs ----------------------------------------------------------------------

# What a client reads of an answer's logprobs (every JSON it got): per list
# (a choice's content tokens, a completions choice's tokens, the Responses
# deltas' and the part's) the tokens joined, the bytes joined and decoded,
# and the text they go with; and every string, key and bytes list apart.
sub lp_read {
    my ($docs) = @_;
    my %v = (all => '');
    my $entries = sub {
        my ($k, $list) = @_;
        for my $e (@{ $list // [] }) {
            $v{tok}{$k} .= $e->{token} // '';
            if (ref $e->{bytes} eq 'ARRAY') { $v{byt}{$k} .= pack 'C*', @{ $e->{bytes} } }
            else { $v{nobytes}{$k} = 1 }
        }
    };
    my $all;
    $all = sub {
        my ($x) = @_;
        if (ref $x eq 'HASH') {
            for my $k (sort keys %$x) {
                $v{all} .= "$k\n";
                if ($k eq 'bytes' && ref $x->{$k} eq 'ARRAY') {
                    my $b = pack 'C*', @{ $x->{$k} };
                    utf8::decode($b);
                    $v{all} .= "$b\n";
                } else {
                    $all->($x->{$k});
                }
            }
        } elsif (ref $x eq 'ARRAY') {
            $all->($_) for @$x;
        } elsif (defined $x) {
            $v{all} .= "$x\n";
        }
    };
    for my $d (@$docs) {
        $all->($d);
        for my $c (ref $d->{choices} eq 'ARRAY' ? @{ $d->{choices} } : ()) {
            my $i = $c->{index} // 0;
            $v{text}{"c$i"} .= $c->{message}{content} // $c->{delta}{content} // $c->{text} // '';
            next unless ref $c->{logprobs} eq 'HASH';
            $entries->("c$i", $c->{logprobs}{content}) if $c->{logprobs}{content};
            $v{tok}{"c$i"} .= join '', @{ $c->{logprobs}{tokens} } if $c->{logprobs}{tokens};
        }
        my $type = $d->{type} // '';
        if ($type eq 'response.output_text.delta') {
            $entries->('delta', $d->{logprobs});
            $v{text}{delta} .= $d->{delta};
        }
        my $r = $type eq 'response.completed' ? $d->{response} : $d;
        for my $o (ref $r->{output} eq 'ARRAY' ? @{ $r->{output} } : ()) {
            for my $p (@{ $o->{content} // [] }) {
                $entries->('part', $p->{logprobs});
                $v{text}{part} .= $p->{text} // '';
            }
        }
    }
    for my $k (keys %{ $v{byt} // {} }) { utf8::decode($v{byt}{$k}) }
    return \%v;
}

my %lp_body = (
    '/v1/chat/completions' => { logprobs => JSON::PP::true, top_logprobs => 3 },
    '/v1/completions'      => { logprobs => 3 },
    '/v1/responses'        => { include => [ 'message.output_text.logprobs' ], top_logprobs => 3 },
);

for my $path (sort keys %lp_body) {
    for my $stream (0, 1) {
        my $how = ($stream ? 'streamed' : 'whole') . " $path";
        my $ask = sub {
            my ($group, $answer, $split, %h) = @_;
            my $b = $path eq '/v1/completions'
                ? { model => 'gpt-3.5-turbo-instruct', prompt => 'hi', max_tokens => 100 }
                : body_for($path, 0);
            $b = { %$b, %{ $lp_body{$path} } };
            $b->{stream} = JSON::PP::true if $stream;
            my %hd = (Authorization => "Bearer $tok{$group}", 'X-Mock-Answer' => $answer,
                      ($stream ? ('X-Mock-Split' => $split) : ()), %h);
            return $stream ? $t->stream($path, body => $b, headers => \%hd)
                           : $t->request('POST', $path, body => $b, headers => \%hd);
        };
        my $lists = sub {
            my ($v, $name) = @_;
            my @k = sort keys %{ $v->{tok} // {} };
            ok(@k, "logprobs, $how, $name: the answer has logprobs") or return;
            for my $k (@k) {
                is($v->{tok}{$k}, $v->{text}{$k}, "logprobs, $how, $name: the tokens ($k) spell the text as the client got it");
                is($v->{byt}{$k}, $v->{text}{$k}, "logprobs, $how, $name: so do their bytes ($k)")
                    if defined $v->{byt}{$k} && !$v->{nobytes}{$k};
            }
        };

        my $r = $ask->('analysts', "write to $EMAIL today", $EMAIL);
        my $v = lp_read(all_json($r, $stream) // []);
        like($v->{all}, qr/alic.*smit/s, "logprobs, $how, unfiltered: the address is in the tokens");

        $r = $ask->('redact', "write to $EMAIL today", $EMAIL);
        is($r->{status}, 200, "logprobs, $how, redact: 200");
        my $docs = all_json($r, $stream);
        ok($docs, "logprobs, $how, redact: every JSON the client got is valid") or diag($r->{body});
        $v = lp_read($docs // []);
        $lists->($v, 'redact');
        unlike($v->{all}, qr/alic|smit|exam|ple\.c/i,
               "logprobs, $how, redact: nothing of the address in any token, alternative or bytes");
        like($v->{all}, qr/\[REDACTED:EMAIL\]/, "logprobs, $how, redact: masked in the tokens");

        $r = $ask->('block', "write to $EMAIL today", $EMAIL);
        unlike($r->{body}, qr/alic|smit|exam|\b97,108,105,99\b/i, "logprobs, $how, block: nothing of the address");
        if ($stream) {
            like($r->{body}, qr/"code":"pii"/, "logprobs, $how, block: the stream ends in an error");
        } else {
            is($r->{status}, 403, "logprobs, $how, block: 403");
        }

        # tokens cut inside characters (placeholders and bytes), as OpenAI
        # sends rare characters: read from their bytes
        $r = $ask->('word', 'we met in 北京 today', '北京', 'X-Mock-Logprobs-Cut' => 1);
        $docs = all_json($r, $stream);
        ok($docs, "logprobs, $how, cut characters: valid JSON") or diag($r->{body});
        $v = lp_read($docs // []);
        $lists->($v, 'cut characters');
        like($v->{all}, qr/\[REDACTED:WORD\]/, "logprobs, $how, cut characters: masked");
        unlike($v->{all}, qr/\x{5317}|\x{4eac}|\\x(?:e5|e4|8c|ba)|bytes:/,
               "logprobs, $how, cut characters: nothing of the word in tokens or bytes");

        # the answer in parts (X-Mock-Parts: Responses output_text parts,
        # chat and completions choices): each part's logprobs are its own
        # list, apart from the joined reading of the texts
        $r = $ask->('redact', 'unused', $EMAIL,
                    'X-Mock-Parts' => $js->encode([ [ 'write to ', $EMAIL ], [ ' and ', "$EMAIL today" ] ]));
        is($r->{status}, 200, "logprobs, $how, parts, redact: 200");
        $docs = all_json($r, $stream);
        ok($docs, "logprobs, $how, parts, redact: every JSON the client got is valid") or diag($r->{body});
        $v = lp_read($docs // []);
        $lists->($v, 'parts, redact');
        unlike($v->{all}, qr/alic|smit|exam|ple\.c/i,
               "logprobs, $how, parts, redact: nothing of the address in any token, alternative or bytes");
        like($v->{all}, qr/\[REDACTED:EMAIL\].*\[REDACTED:EMAIL\]/s, "logprobs, $how, parts, redact: both masked");
    }
}

# ---- parts of one answer text joined ---------------------------------------------

# What a client reads of a stream: Responses, each part's deltas by
# (output_index, content_index) and every text an event repeats a part
# with; Anthropic, each block's deltas; chat, each choice's. Fails the
# order an SDK needs: a part's deltas before its output_text.done (or
# content_block_stop), its output_text.done before content_part.done.
sub read_parts {
    my ($r, $name) = @_;
    my (%deltas, %done, @repeats, @order, $all);
    $all = '';
    for my $e (@{ $r->{events} }) {
        next if $e eq '[DONE]';
        my $j = eval { decode_json($e) } or return undef;
        my $type = $j->{type} // '';
        if ($type eq 'response.output_text.delta') {
            my $k = "$j->{output_index}.$j->{content_index}";
            push @order, "delta of $k after its output_text.done" if $done{$k};
            $deltas{$k} .= $j->{delta};
            $all .= $j->{delta};
        } elsif ($type eq 'response.output_text.done') {
            my $k = "$j->{output_index}.$j->{content_index}";
            $done{$k} = 1;
            push @repeats, [ $k, $j->{text} ];
        } elsif ($type eq 'response.content_part.done') {
            my $k = "$j->{output_index}.$j->{content_index}";
            push @order, "content_part.done of $k before its output_text.done" unless $done{$k};
            push @repeats, [ $k, $j->{part}{text} ];
        } elsif ($type eq 'response.output_item.done' || $type eq 'response.completed') {
            my @items = $type eq 'response.completed'
                ? map { [ $_, $j->{response}{output}[$_] ] } 0 .. $#{ $j->{response}{output} }
                : ([ $j->{output_index}, $j->{item} ]);
            for my $it (@items) {
                my $c = $it->[1]{content} // [];
                push @repeats, map { [ "$it->[0].$_", $c->[$_]{text} ] } 0 .. $#$c;
            }
        } elsif ($type eq 'content_block_delta') {
            push @order, "delta of block $j->{index} after its content_block_stop" if $done{ $j->{index} };
            $deltas{ $j->{index} } .= $j->{delta}{text} // '';
            $all .= $j->{delta}{text} // '';
        } elsif ($type eq 'content_block_stop') {
            $done{ $j->{index} } = 1;
        } elsif ($j->{choices}) {
            for my $ch (@{ $j->{choices} }) {
                $deltas{ $ch->{index} } .= $ch->{delta}{content} // '';
                $all .= $ch->{delta}{content} // '';
            }
        }
    }
    is_deeply(\@order, [], "$name: in the order the SDK needs");
    my @differ = grep { ($_->[1] // '') ne ($deltas{ $_->[0] } // '') } @repeats;
    is_deeply(\@differ, [], "$name: every text an event repeats is its part's deltas") or diag(explain(\%deltas));
    return { all => $all, parts => \%deltas, repeats => scalar @repeats };
}

{
    my $term = [ [ 'we discuss ', 'project nep' ], [ 'tune', ' today' ] ];
    my $blank = [ [ 'we discuss project' ], [ 'neptune today' ] ];
    my $mail = [ [ 'write to alice.smith@exa' ], [ 'mple.com today' ] ];
    my @cases = (
        [ 'Responses, two output_text parts',        '/v1/responses', $term,  't', {} ],
        [ 'Responses, two messages',                 '/v1/responses', $term,  't', { 'X-Mock-Parts-Items' => 1 } ],
        [ 'Responses, a term cut at its blank',      '/v1/responses', $blank, 't', {} ],
        [ 'Responses, an address in two parts',      '/v1/responses', $mail,  '',  {} ],
        [ 'Anthropic, two text blocks',              '/v1/messages',  $term,  't', {} ],
        [ 'Anthropic, a term cut at its blank',      '/v1/messages',  $blank, 't', {} ],
        [ 'Anthropic, an address in two blocks',     '/v1/messages',  $mail,  '',  {} ],
    );
    for my $c (@cases) {
        my ($name, $path, $parts, $g, $hd) = @$c;
        my %h = ('X-Mock-Parts' => $js->encode($parts), %$hd);
        my $secret = $g ? qr/nep|tune/ : qr/alice|smith|example/;

        my $r = ask('analysts', $path, 1, undef, %h);
        my $p = read_parts($r, "$name, unfiltered");
        is($p->{all}, join('', map { @$_ } @$parts), "$name, unfiltered: the mock sends the parts");

        $r = ask("${g}redact", $path, 1, undef, %h);
        is($r->{status}, 200, "$name, streamed, redact: 200");
        $p = read_parts($r, "$name, streamed, redact");
        ok($p, "$name, streamed, redact: every event is JSON") or diag($r->{body});
        unlike($r->{body}, $secret, "$name, streamed, redact: no part of it reaches the client");
        like($p->{all}, qr/^(write to|we discuss) \[REDACTED:\w+\] today$/,
             "$name, streamed, redact: masked once, its label where it starts");
        ok($p->{repeats} >= 4, "$name, streamed, redact: the repeats were read") if $path eq '/v1/responses';

        $r = ask("${g}block", $path, 1, undef, %h);
        is($r->{status}, 200, "$name, streamed, block: the stream had begun");
        unlike($r->{body}, $g ? qr/nep|tune|project/ : qr/alice|example/,
               "$name, streamed, block: nothing of it reaches the client");
        if ($path eq '/v1/messages') {
            like($r->{body}, qr/event: error\ndata: \{"type":"error","error":\{"type":"permission_error"/,
                 "$name, streamed, block: Anthropic's error event");
        } else {
            like($r->{body}, qr/event: error\n.*event: response\.failed\n/s,
                 "$name, streamed, block: error and response.failed");
            unlike($r->{body}, qr/response\.completed/, "$name, streamed, block: no response.completed");
        }

        # the whole answer of the same parts
        $r = ask("${g}redact", $path, 0, undef, %h);
        is($r->{status}, 200, "$name, whole, redact: 200");
        unlike($r->{body}, $secret, "$name, whole, redact: no part of it");
        $r = ask("${g}block", $path, 0, undef, %h);
        is($r->{status}, 403, "$name, whole, block: 403");
    }

    for my $path ('/v1/responses', '/v1/messages') {
        # the answer ends after a part whose end waits for the next: it
        # goes out at the end, before the events that close the part
        my $r = ask('tredact', $path, 1, undef, 'X-Mock-Parts' => $js->encode([ $term->[0] ]));
        my $p = read_parts($r, "$path, one part ending in a term's beginning");
        is($p->{all}, 'we discuss project nep', "$path, one part ending in a term's beginning: all of it at the end");

        # the upstream cuts the stream after that part: as any text still
        # held when the upstream breaks (t/plugins.t), its end is not
        # released, the rest that would decide about it never came
        $r = ask('tredact', $path, 1, undef, 'X-Mock-Parts' => $js->encode($term),
                 'X-Mock-Close-After' => ($path eq '/v1/responses' ? 7 : 5));
        is($r->{status}, 200, "$path cut after the first part: the 200 had gone");
        $p = read_parts($r, "$path cut after the first part");
        ok(index('we discuss project nep', $p->{all}) == 0, "$path cut after the first part: a clean prefix of the text");
        unlike($r->{body}, qr/tune/, "$path cut after the first part: and nothing that never came");
    }

    # the choices of a chat answer with n > 1 are separate answers
    my $r = ask('tblock', '/v1/chat/completions', 1, undef, 'X-Mock-Parts' => $js->encode($term));
    my $p = read_parts($r, 'chat, two choices');
    is_deeply($p->{parts}, { 0 => 'we discuss project nep', 1 => 'tune today' },
              'chat, two choices, streamed: not run together, both pass');
    is($r->{events}[-1], '[DONE]', 'chat, two choices, streamed: the stream ends as it should');
    $r = ask('tblock', '/v1/chat/completions', 0, undef, 'X-Mock-Parts' => $js->encode($term));
    is($r->{status}, 200, 'chat, two choices, whole: not run together, 200');
    is_deeply([ map { $_->{message}{content} } @{ (AigovTest::json($r) // {})->{choices} // [] } ],
              [ 'we discuss project nep', 'tune today' ], 'chat, two choices, whole: both as they came');
    $r = $t->request('POST', '/v1/completions', body => { model => 'gpt-4o', prompt => 'hi' },
                     headers => { Authorization => "Bearer $tok{tblock}", 'X-Mock-Parts' => $js->encode($term) });
    is($r->{status}, 200, 'completions, two choices, whole: not run together, 200');
}

# ---- the answer's kind by its bytes ------------------------------------------------

$r = ask('redact', '/v1/chat/completions', 0, undef, 'X-Mock-Answer' => "write to $EMAIL",
         'X-Mock-Content-Type' => 'text/plain');
is($r->{status}, 200, 'JSON labelled text/plain: 200');
unlike($r->{body}, qr/alice/, 'JSON labelled text/plain: read, the address masked');
like($r->{body}, qr/\[REDACTED:EMAIL\]/, 'JSON labelled text/plain: masked in place');

$r = ask('redact', '/v1/chat/completions', 1, undef, 'X-Mock-Answer' => "write to $EMAIL",
         'X-Mock-Content-Type' => 'application/octet-stream');
is($r->{status}, 200, 'SSE labelled octet-stream: 200');
unlike($r->{body}, qr/alice/, 'SSE labelled octet-stream: read, the address masked');
is($r->{events}[-1], '[DONE]', 'SSE labelled octet-stream: the stream is whole');

$r = ask('redact', '/v1/chat/completions', 0, undef, 'X-Mock-Answer' => "write to $EMAIL", 'X-Mock-Html' => 1);
is($r->{status}, 403, 'an HTML answer under answer filters: refused');
unlike($r->{body}, qr/alice/, 'an HTML answer: nothing of it passes');
$r = ask('analysts', '/v1/chat/completions', 0, undef, 'X-Mock-Answer' => "write to $EMAIL", 'X-Mock-Html' => 1);
is($r->{status}, 200, 'an HTML answer without answer filters: passes');

# ---- compressed answers and other 2xx statuses ---------------------------------------

# an upstream that ignores Accept-Encoding: under answer filters nothing
# compressed reaches the client unread
$r = ask('redact', '/v1/chat/completions', 0, undef, 'X-Mock-Answer' => "write to $EMAIL", 'X-Mock-Gzip' => 1);
is($r->{status}, 403, 'a gzip answer under answer filters: refused');
ok(!defined $r->{headers}{'content-encoding'}, 'a gzip answer refused: the refusal is not labelled gzip');
my $gj = eval { decode_json($r->{body}) } // {};
like($gj->{error}{message} // '', qr/compressed \(Content-Encoding: gzip\)/, 'a gzip answer refused: the reason names the encoding');
is($gj->{error}{code}, 'aigov', 'a gzip answer refused: by aigov');

$r = ask('redact', '/v1/chat/completions', 1, undef, 'X-Mock-Answer' => "write to $EMAIL", 'X-Mock-Gzip' => 1);
is($r->{status}, 200, 'a gzip stream under answer filters: the stream had begun');
ok(!defined $r->{headers}{'content-encoding'}, 'a gzip stream refused: not labelled gzip');
like($r->{events}[0] // '', qr/"error".*compressed/, 'a gzip stream refused: one error event');
is($r->{events}[-1], '[DONE]', 'a gzip stream refused: then [DONE]');
is(scalar @{ $r->{events} }, 2, 'a gzip stream refused: nothing else');

$r = ask('redact', '/v1/messages', 1, undef, 'X-Mock-Answer' => "write to $EMAIL", 'X-Mock-Gzip' => 1);
like($r->{body}, qr/permission_error.*compressed/s,
     'a gzip Anthropic stream refused: Anthropic\'s error event');

$r = ask('analysts', '/v1/chat/completions', 0, undef, 'X-Mock-Answer' => "write to $EMAIL", 'X-Mock-Gzip' => 1);
is($r->{status}, 200, 'a gzip answer without answer filters: passes');
is($r->{headers}{'content-encoding'}, 'gzip', 'a gzip answer without answer filters: as it came');
my $plain;
IO::Uncompress::Gunzip::gunzip(\$r->{body} => \$plain);
like($plain // '', qr/alice/, 'a gzip answer without answer filters: the bytes untouched');

for my $st (201, 203) {
    $r = ask('redact', '/v1/chat/completions', 0, undef, 'X-Mock-Answer' => "write to $EMAIL", 'X-Mock-Ok-Status' => $st);
    is($r->{status}, $st, "a $st answer: its status kept");
    unlike($r->{body}, qr/alice/, "a $st answer: read, the address masked");
    $r = ask('redact', '/v1/chat/completions', 1, undef, 'X-Mock-Answer' => "write to $EMAIL", 'X-Mock-Ok-Status' => $st);
    unlike(join('', @{ $r->{events} }), qr/alice/, "a $st stream: read, the address masked");
    like(join('', @{ $r->{events} }), qr/\[REDACTED:EMAIL\]/, "a $st stream: masked in place");
}

# ---- usage always settled -----------------------------------------------------------

# 12 streams of max_tokens 4000 without usage: reservations of ~4001 each
# would refuse the tenth within the minute; settled from the estimate they
# cost a few tokens each
my @st;
for (1 .. 12) {
    my $s = $t->stream('/v1/chat/completions',
        body => { model => 'gpt-4o', stream => JSON::PP::true, max_tokens => 4000,
                  messages => [ { role => 'user', content => 'hi' } ] },
        headers => { Authorization => "Bearer $tok{analysts}" });
    push @st, $s->{status};
}
is_deeply(\@st, [ (200) x 12 ], 'streams without usage: twelve admitted, each settled from the estimate');
ok(!grep({ /"usage"/ } @{ $t->stream('/v1/chat/completions',
        body => { model => 'gpt-4o', stream => JSON::PP::true, messages => [ { role => 'user', content => 'hi' } ] },
        headers => { Authorization => "Bearer $tok{analysts}" })->{events} }),
   'the mock sends no usage unless asked');

# clients that hang up mid-stream
for (1 .. 12) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port, Proto => 'tcp', Timeout => 10)
        or die "connect: $!";
    my $b = encode_json({ model => 'gpt-4o', stream => JSON::PP::true, max_tokens => 4000,
                          messages => [ { role => 'user', content => 'hi' } ] });
    print $s "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
           . "Authorization: Bearer $tok{analysts}\r\nContent-Type: application/json\r\n"
           . "X-Mock-Events: 40\r\nX-Mock-Stream-Delay-Ms: 50\r\nContent-Length: " . length($b) . "\r\n\r\n$b";
    my $got = '';
    while ($got !~ /data:/) {
        my $n = sysread($s, $got, 4096, length $got);
        last unless $n;
    }
    close $s;
}
sleep 0.5;
$r = $t->request('POST', '/v1/chat/completions',
                 body => { model => 'gpt-4o', max_tokens => 4000, messages => [ { role => 'user', content => 'hi' } ] },
                 headers => { Authorization => "Bearer $tok{analysts}" });
is($r->{status}, 200, 'twelve hang-ups later the quota still admits: their reservations were settled');

# ---- the completion records -------------------------------------------------------

sub records {
    open my $fh, '<', $log or return ();
    my @r = map { decode_json($_) } grep { /^\{"seq"/ } <$fh>;
    return @r;
}

sleep 1.2;
my $id;
my @done = grep { ($_->{phase} // '') eq 'done' } records();
ok((grep { $_->{usage_estimated} } @done) >= 12, 'streams without usage: their records say usage_estimated');
$r = ask('analysts', '/v1/chat/completions', 0, undef);
$id = $r->{headers}{'x-aigov-request-id'};
sleep 1.2;
my ($whole) = grep { ($_->{id} // '') eq ($id // '-') && $_->{phase} eq 'done' } records();
ok($whole && $whole->{usage} && !exists $whole->{usage_estimated}, 'a whole answer with usage: not estimated');

$r = ask('block', '/v1/chat/completions', 1, { content => "write to $EMAIL" });
$id = $r->{headers}{'x-aigov-request-id'};
sleep 1.2;
my ($rec) = grep { ($_->{id} // '') eq ($id // '-') && $_->{phase} eq 'done' } records();
is($rec->{decision}, 'block', 'a stream blocked mid-way: its record says block');
is($rec->{plugin}, 'pii', 'a stream blocked mid-way: with the plugin');
my $show = `$aigov audit show $log 2>&1`;
like($show, qr/done\s+block\s+200 .* blocked by pii/, 'aigov audit show shows the block and the plugin');

# an Anthropic stream without message_delta: estimated, not 1 token
$r = ask('analysts', '/v1/messages', 1, undef, 'X-Mock-No-Message-Delta' => 1,
         'X-Mock-Answer' => join(' ', ('word') x 100));
$id = $r->{headers}{'x-aigov-request-id'};
sleep 1.2;
($rec) = grep { ($_->{id} // '') eq ($id // '-') && $_->{phase} eq 'done' } records();
ok($rec->{usage_estimated}, 'Anthropic stream without message_delta: usage estimated');
ok(($rec->{usage}{completion_tokens} // 0) >= 100, 'Anthropic stream without message_delta: from its text, not message_start\'s 1 ('
   . ($rec->{usage}{completion_tokens} // 'none') . ')');

$t->done;
done_testing;
