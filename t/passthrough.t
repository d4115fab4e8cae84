#!/usr/bin/perl
# Every endpoint passes through the gateway unchanged; streaming is not
# buffered; bad bodies get the SPEC error JSON; big bodies spill and pass.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Digest::SHA qw(sha256_hex);
use AigovTest;

my $t = AigovTest->new;
$t->start_mock;
$t->write_conf($t->gateway_conf(
    max_body => '8m',
    server => 'client_body_buffer_size 16k;'));
$t->start_nginx;

my $chat = encode_json({ model => 'gpt-4o-mini',
    messages => [ { role => 'system', content => 'be brief' },
                  { role => 'user', content => 'hello there' } ] });

# each endpoint: the mock saw exactly our bytes, and answered through us
for my $case (
    [ '/v1/chat/completions', $chat, qr/echo: hello there/ ],
    [ '/v1/completions', encode_json({ model => 'gpt-3.5-turbo-instruct', prompt => 'say hi' }), qr/say hi/ ],
    [ '/v1/embeddings', encode_json({ model => 'text-embedding-3-small', input => ['one', 'two'] }), qr/embedding/ ],
    [ '/v1/messages', encode_json({ model => 'claude-3-5-sonnet', max_tokens => 100,
        system => 'terse', messages => [ { role => 'user', content => [ { type => 'text', text => 'bonjour' } ] } ] }), qr/echo: bonjour/ ],
) {
    my ($path, $body, $re) = @$case;
    my $r = $t->request('POST', $path, body => $body);
    is($r->{status}, 200, "$path: 200");
    like($r->{body}, $re, "$path: answer from the mock");
    is($r->{headers}{'x-mock-body-sha256'}, sha256_hex($body), "$path: body forwarded unchanged");
    like($r->{headers}{'x-aigov-request-id'} // '', qr/^[0-9a-f]{32}$/, "$path: request id");
}

my $r = $t->request('GET', '/v1/models');
is($r->{status}, 200, 'GET /v1/models passes');
like($r->{body}, qr/"data"/, 'models list from the mock');
ok($r->{headers}{'x-aigov-request-id'}, 'models: request id');

my $id1 = $t->request('GET', '/v1/models')->{headers}{'x-aigov-request-id'};
my $id2 = $t->request('GET', '/v1/models')->{headers}{'x-aigov-request-id'};
isnt($id1, $id2, 'each request gets its own id');

$r = $t->request('GET', '/plain');
ok(!exists $r->{headers}{'x-aigov-request-id'}, 'a location without aigov is untouched');

# chunked request body
$r = $t->request('POST', '/v1/chat/completions', body => $chat, chunked => 1, chunk_size => 7);
is($r->{status}, 200, 'chunked body: 200');
is($r->{headers}{'x-mock-body-sha256'}, sha256_hex($chat), 'chunked body forwarded intact');

# a body above client_body_buffer_size spills to a file and still passes
my $big_text = 'lorem ipsum dolor sit amet ' x 40000;   # ~1 MB
my $big = encode_json({ model => 'gpt-4o-mini', messages => [ { role => 'user', content => $big_text } ] });
$r = $t->request('POST', '/v1/chat/completions', body => $big);
is($r->{status}, 200, 'large body: 200');
is($r->{headers}{'x-mock-body-sha256'}, sha256_hex($big), 'large body forwarded intact');
$r = $t->request('POST', '/v1/chat/completions', body => $big, chunked => 1, chunk_size => 65536);
is($r->{status}, 200, 'large chunked body: 200');
is($r->{headers}{'x-mock-body-sha256'}, sha256_hex($big), 'large chunked body intact');

sub error_ok {
    my ($r, $status, $type, $name) = @_;
    is($r->{status}, $status, "$name: $status");
    my $j = AigovTest::json($r);
    ok($j && ref $j->{error} eq 'HASH', "$name: error JSON") or diag($r->{body});
    is($j && $j->{error}{type}, $type, "$name: type $type");
    ok(length(($j && $j->{error}{message}) // '') > 5, "$name: has a message");
    ok($j && exists $j->{error}{param} && exists $j->{error}{code}, "$name: code and param present");
    like($r->{headers}{'content-type'} // '', qr{application/json}, "$name: JSON content type");
    like($r->{headers}{'x-aigov-request-id'} // '', qr/^[0-9a-f]{32}$/, "$name: request id");
}

error_ok($t->request('POST', '/v1/chat/completions', body => '{"model": "x", "messages": ['),
         400, 'invalid_request_error', 'truncated JSON');
error_ok($t->request('POST', '/v1/chat/completions', body => 'not json at all'),
         400, 'invalid_request_error', 'not JSON');
error_ok($t->request('POST', '/v1/chat/completions', body => '[1,2,3]'),
         400, 'invalid_request_error', 'array instead of object');
error_ok($t->request('POST', '/v1/chat/completions', body => '{"model":"m","messages":"hi"}'),
         400, 'invalid_request_error', 'messages not an array');
error_ok($t->request('POST', '/v1/chat/completions', body => ''),
         400, 'invalid_request_error', 'empty body');
$r = $t->request('POST', '/v1/chat/completions', body => 'not json');
like((AigovTest::json($r) // {})->{error}{message} // '', qr/JSON/i, 'the message says the JSON is invalid');

my $huge = encode_json({ model => 'm', messages => [ { role => 'user', content => 'x' x (9 * 1024 * 1024) } ] });
error_ok($t->request('POST', '/v1/chat/completions', body => $huge), 413, 'invalid_request_error', 'oversized body');
error_ok($t->request('POST', '/v1/chat/completions', body => $huge, chunked => 1, chunk_size => 1 << 20),
         413, 'invalid_request_error', 'oversized chunked body');

# upstream errors pass through as the model API sent them
$r = $t->request('POST', '/v1/chat/completions', body => $chat, headers => { 'X-Mock-Status' => 429 });
is($r->{status}, 429, 'upstream 429 passes through');
like($r->{body}, qr/"error"/, 'upstream error body passes through');

# streaming: the first event arrives long before the upstream finishes
my $s = $t->stream('/v1/chat/completions',
    body => { model => 'gpt-4o-mini', stream => JSON::PP::true,
              stream_options => { include_usage => JSON::PP::true },
              messages => [ { role => 'user', content => 'stream please' } ] },
    headers => { 'X-Mock-Stream-Delay-Ms' => 300, 'X-Mock-Events' => 6 });
is($s->{status}, 200, 'stream: 200');
like($s->{headers}{'content-type'} // '', qr{text/event-stream}, 'stream: SSE content type');
ok(defined $s->{first_data_at} && $s->{first_data_at} < $s->{total_time} - 0.8,
   sprintf('stream: first event after %.2fs, whole stream %.2fs', $s->{first_data_at} // -1, $s->{total_time}));
is($s->{events}[-1], '[DONE]', 'stream ends with [DONE]');
ok((grep { /"usage"/ } @{ $s->{events} }), 'stream: final chunk carries the usage the client asked for');

$s = $t->stream('/v1/messages',
    body => { model => 'claude-3-5-sonnet', max_tokens => 50, stream => JSON::PP::true,
              messages => [ { role => 'user', content => 'hi claude' } ] });
is($s->{status}, 200, 'messages stream: 200');
ok((grep { /message_stop/ } @{ $s->{events} }), 'messages stream: message_stop arrives');

$t->done;
done_testing;
