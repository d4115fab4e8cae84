#!/usr/bin/perl
# Inspect by default, request side, through real nginx with the bundled
# pii and blocklist plugins and the mock: for every field of a request
# that the model reads (OpenAI chat, completions and embeddings, Anthropic
# messages and count_tokens, the Responses API), a blocked term in it is
# refused and an address in it is redacted, the model API getting the body
# byte for byte but for the redacted value (the mock reports the sha256 of
# what it got). Control fields go the other way: a term or an address in
# them is not text, the request is neither refused nor rewritten. Names
# the caller chose and the model reads (property names, keys of tool
# inputs and of maps such as env) are text, and control names inside such
# maps exempt nothing; two keys masked alike are kept apart. Files of text
# sent inline are decoded and read, and a redacted one goes on as the same
# data: URL; binary media goes on as it came. The text of every field
# counts against max_prompt_chars and is what audit content keeps.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Digest::SHA qw(sha256_hex);
use AigovTest;
use AigovJWT;

my $root = AigovTest::root();
my $P = "$root/build/plugins";
for (map("$P/$_.so", qw(pii blocklist))) {
    die "$_ is missing: run make build first\n" unless -f $_;
}
my $aigov = "$root/build/aigov";

my $t = AigovTest->new;
my $d = $t->dir;
my ($key, $pub) = AigovJWT::keypair($d, 'k', 'p256');
system("$aigov keygen --out $d/audit.key --name test.example/aigov >/dev/null 2>&1") == 0
    or die 'keygen';

$t->write_file('policy.yaml', <<'YAML');
version: 1
default: deny
rules:
  - name: redactors
    when:
      groups: [redact]
    filters:
      - plugin: pii
        stages: [request]
        action: redact
        config: {types: [email]}
    audit:
      content: redacted
    decision: allow
  - name: blockers
    when:
      groups: [block]
    filters:
      - plugin: blocklist
        stages: [request]
        action: block
        config: {terms: ["project neptune", "merger"]}
    decision: allow
  - name: short
    when:
      groups: [short]
    limits:
      max_prompt_chars: 100
    decision: allow
YAML

$t->start_mock;
$t->write_conf($t->gateway_conf(
    http => "aigov_plugin pii $P/pii.so; aigov_plugin blocklist $P/blocklist.so;"
          . " aigov_audit_log $d/audit.log; aigov_audit_key $d/audit.key;"
          . " aigov_audit_origin test.example/aigov;",
    location => "aigov_policy $d/policy.yaml; aigov_jwt_key $pub;"));
my ($ok, $out) = $t->nginx_t;
ok($ok, 'nginx -t accepts the policy') or diag($out);
$t->start_nginx;

my %tok = map { $_ => AigovJWT::mint(alg => 'ES256', key => $key,
                                     claims => { sub => "insp-$_", groups => [$_] }) }
          qw(redact block short);

my $EMAIL = 'carol.jones@example.org';
my $MASK = '[REDACTED:EMAIL]';
my $TERM = 'project neptune';

# Each body is written by hand, so its bytes are known exactly; ' stands
# for " and SECRET marks the one value the case is about.
sub body_of { my ($tmpl, $secret) = @_; (my $b = $tmpl) =~ tr/'/"/; $b =~ s/SECRET/$secret/; return $b }

my %PATH = (chat => '/v1/chat/completions', completions => '/v1/completions',
            embeddings => '/v1/embeddings', messages => '/v1/messages',
            count_tokens => '/v1/messages/count_tokens', responses => '/v1/responses');

my @fields = (
    [chat => 'message content', "{'model':'m','messages':[{'role':'user','content':'mail SECRET now'}]}"],
    [chat => 'messages[].name', "{'model':'m','messages':[{'role':'user','name':'SECRET','content':'hi'}]}"],
    [chat => 'a refusal part', "{'model':'m','messages':[{'role':'assistant','content':[{'type':'refusal','refusal':'SECRET'}]},{'role':'user','content':'hi'}]}"],
    [chat => 'the message-level refusal', "{'model':'m','messages':[{'role':'assistant','content':null,'refusal':'SECRET'},{'role':'user','content':'hi'}]}"],
    [chat => 'prediction.content', "{'model':'m','messages':[{'role':'user','content':'hi'}],'prediction':{'type':'content','content':'SECRET'}}"],
    [chat => 'a tool parameter description', "{'model':'m','messages':[{'role':'user','content':'hi'}],'tools':[{'type':'function','function':{'name':'f','parameters':{'type':'object','properties':{'to':{'type':'string','description':'SECRET'}}}}}]}"],
    [chat => 'a tool parameter enum', "{'model':'m','messages':[{'role':'user','content':'hi'}],'tools':[{'type':'function','function':{'name':'f','parameters':{'type':'object','properties':{'to':{'type':'string','enum':['SECRET']}}}}}]}"],
    [chat => 'functions[].description', "{'model':'m','messages':[{'role':'user','content':'hi'}],'functions':[{'name':'f','description':'SECRET'}]}"],
    [chat => 'response_format.json_schema description', "{'model':'m','messages':[{'role':'user','content':'hi'}],'response_format':{'type':'json_schema','json_schema':{'name':'o','schema':{'type':'object','properties':{'a':{'description':'SECRET'}}}}}}"],
    [chat => 'tool_calls[].function.arguments', "{'model':'m','messages':[{'role':'assistant','tool_calls':[{'id':'c1','type':'function','function':{'name':'f','arguments':'SECRET'}}]},{'role':'tool','tool_call_id':'c1','content':'ok'},{'role':'user','content':'hi'}]}"],
    [chat => 'a tool result', "{'model':'m','messages':[{'role':'tool','tool_call_id':'c1','content':'SECRET'},{'role':'user','content':'hi'}]}"],
    [chat => 'user', "{'model':'m','messages':[{'role':'user','content':'hi'}],'user':'SECRET'}"],
    [chat => 'a field added next year', "{'model':'m','messages':[{'role':'user','content':'hi'}],'brand_new_field':{'notes':['SECRET']}}"],
    [completions => 'prompt', "{'model':'m','prompt':'SECRET'}"],
    [completions => 'suffix', "{'model':'m','prompt':'hi','suffix':'SECRET'}"],
    [embeddings => 'input', "{'model':'m','input':['a','SECRET']}"],
    [messages => 'system as a string', "{'model':'c','max_tokens':50,'system':'SECRET','messages':[{'role':'user','content':'hi'}]}"],
    [messages => 'system blocks', "{'model':'c','max_tokens':50,'system':[{'type':'text','text':'SECRET'}],'messages':[{'role':'user','content':'hi'}]}"],
    [messages => 'a plain-text document', "{'model':'c','max_tokens':50,'messages':[{'role':'user','content':[{'type':'document','source':{'type':'text','media_type':'text/plain','data':'SECRET'}},{'type':'text','text':'hi'}]}]}"],
    [messages => 'a content document', "{'model':'c','max_tokens':50,'messages':[{'role':'user','content':[{'type':'document','source':{'type':'content','content':[{'type':'text','text':'SECRET'}]}},{'type':'text','text':'hi'}]}]}"],
    [messages => 'tool_use.input', "{'model':'c','max_tokens':50,'messages':[{'role':'assistant','content':[{'type':'tool_use','id':'t1','name':'send','input':{'to':{'addr':'SECRET'}}}]},{'role':'user','content':[{'type':'tool_result','tool_use_id':'t1','content':'sent'}]}]}"],
    [messages => 'a thinking block', "{'model':'c','max_tokens':50,'messages':[{'role':'assistant','content':[{'type':'thinking','thinking':'SECRET','signature':'c2ln'},{'type':'text','text':'ok'}]},{'role':'user','content':'hi'}]}"],
    [messages => 'a document inside tool_result', "{'model':'c','max_tokens':50,'messages':[{'role':'user','content':[{'type':'tool_result','tool_use_id':'t1','content':[{'type':'document','source':{'type':'text','media_type':'text/plain','data':'SECRET'}}]}]}]}"],
    [messages => 'tools[].input_schema', "{'model':'c','max_tokens':50,'messages':[{'role':'user','content':'hi'}],'tools':[{'name':'f','description':'d','input_schema':{'type':'object','properties':{'q':{'type':'string','description':'SECRET'}}}}]}"],
    [count_tokens => 'a count_tokens message', "{'model':'c','messages':[{'role':'user','content':'SECRET'}]}"],
    [responses => 'instructions', "{'model':'m','instructions':'SECRET','input':'hi'}"],
    [responses => 'input as a string', "{'model':'m','input':'SECRET'}"],
    [responses => 'an input_text part', "{'model':'m','input':[{'role':'user','content':[{'type':'input_text','text':'SECRET'}]}]}"],
    [responses => 'function_call.arguments', "{'model':'m','input':[{'type':'function_call','call_id':'c1','name':'f','arguments':'SECRET'},{'type':'function_call_output','call_id':'c1','output':'ok'}]}"],
    [responses => 'function_call_output.output', "{'model':'m','input':[{'type':'function_call_output','call_id':'c1','output':'SECRET'}]}"],
    [responses => 'a reasoning summary', "{'model':'m','input':[{'type':'reasoning','id':'rs_1','summary':[{'type':'summary_text','text':'SECRET'}]},{'role':'user','content':'hi'}]}"],
    # names the client chose and the model reads: property names, keys of
    # tool inputs and other free-form objects
    [chat => 'a tool parameter name', "{'model':'m','messages':[{'role':'user','content':'hi'}],'tools':[{'type':'function','function':{'name':'f','parameters':{'type':'object','properties':{'SECRET':{'type':'string'}}}}}]}"],
    [chat => 'a name in required', "{'model':'m','messages':[{'role':'user','content':'hi'}],'tools':[{'type':'function','function':{'name':'f','parameters':{'type':'object','properties':{'a':{}},'required':['SECRET']}}}]}"],
    [chat => 'a schema key that is no keyword', "{'model':'m','messages':[{'role':'user','content':'hi'}],'tools':[{'type':'function','function':{'name':'f','parameters':{'type':'object','SECRET':true}}}]}"],
    [chat => 'a metadata key', "{'model':'m','messages':[{'role':'user','content':'hi'}],'metadata':{'SECRET':'v'}}"],
    [responses => 'a text.format schema property name', "{'model':'m','input':'hi','text':{'format':{'type':'json_schema','name':'o','schema':{'type':'object','properties':{'SECRET':{'type':'string'}}}}}}"],
    [messages => 'a tool_use.input key', "{'model':'c','max_tokens':50,'messages':[{'role':'assistant','content':[{'type':'tool_use','id':'t1','name':'f','input':{'SECRET':1}}]},{'role':'user','content':[{'type':'tool_result','tool_use_id':'t1','content':'ok'}]}]}"],
    [messages => 'an input_schema property name', "{'model':'c','max_tokens':50,'messages':[{'role':'user','content':'hi'}],'tools':[{'name':'f','input_schema':{'type':'object','properties':{'SECRET':{'type':'string'}}}}]}"],
    # maps whose keys the caller chooses: a control name there is data
    [responses => 'local_shell_call env under summary', "{'model':'m','input':[{'type':'local_shell_call','id':'ls_1','call_id':'c1','status':'completed','action':{'type':'exec','command':['env'],'env':{'summary':'SECRET'}}}]}"],
    [responses => 'local_shell_call env under a name ending _id', "{'model':'m','input':[{'type':'local_shell_call','id':'ls_1','call_id':'c1','status':'completed','action':{'type':'exec','command':['env'],'env':{'note_id':'SECRET'}}}]}"],
    [responses => 'a local_shell_call env key', "{'model':'m','input':[{'type':'local_shell_call','id':'ls_1','call_id':'c1','status':'completed','action':{'type':'exec','command':['env'],'env':{'SECRET':'1'}}}]}"],
    [messages => 'a tool\'s input_examples under summary', "{'model':'c','max_tokens':50,'messages':[{'role':'user','content':'hi'}],'tools':[{'name':'f','input_schema':{'type':'object'},'input_examples':[{'summary':'SECRET'}]}]}"],
    [responses => 'file_search_call attributes under format', "{'model':'m','input':[{'type':'file_search_call','id':'fs_1','status':'completed','queries':['q'],'results':[{'file_id':'f','filename':'a.txt','score':1,'text':'t','attributes':{'format':'SECRET'}}]}]}"],
);

sub post {
    my ($group, $kind, $body) = @_;
    return $t->request('POST', $PATH{$kind}, body => $body,
                       headers => { Authorization => "Bearer $tok{$group}" });
}

my %rid;
for my $f (@fields) {
    my ($kind, $what, $tmpl) = @$f;

    my $r = post(block => $kind, body_of($tmpl, "about $TERM today"));
    is($r->{status}, 403, "$kind $what: a blocked term is refused");
    my $err = (AigovTest::json($r) // {})->{error} // {};
    # Anthropic's endpoints answer in Anthropic's shape, the code in details
    is($kind =~ /^(messages|count_tokens)$/ ? $err->{details}{error_code} : $err->{code},
       'blocklist', "$kind $what: by the blocklist");
    ok(!exists $r->{headers}{'x-mock-body-sha256'}, "$kind $what: the model API was not called");

    my ($sent, $want) = (body_of($tmpl, $EMAIL), body_of($tmpl, $MASK));
    $r = post(redact => $kind, $sent);
    is($r->{headers}{'x-mock-body-sha256'}, sha256_hex($want),
       "$kind $what: the model API got the body with only the address masked")
        or diag("status $r->{status}: $r->{body}");
    $rid{"$kind $what"} = $r->{headers}{'x-aigov-request-id'};
}

# A term far into a text, whatever else the blocklist holds: Vectorscan
# 5.4.9 on an AVX-512 CPU lost "project neptune" after 100 times "ha" or
# "*" once "merger" was in the same database.
my $chat = "{'model':'m','messages':[{'role':'user','content':'SECRET'}]}";
for my $prefix ('ha' x 100, '*' x 100) {
    my $what = substr($prefix, 0, 2) . ' x 100 before the term';
    my $r = post(block => chat => body_of($chat, "$prefix $TERM"));
    is($r->{status}, 403, "$what: refused");
    is((AigovTest::json($r) // {})->{error}{code}, 'blocklist', "$what: by the blocklist");
    ok(!exists $r->{headers}{'x-mock-body-sha256'}, "$what: the model API was not called");
    my $sent = body_of($chat, "$prefix ${TERM}s");
    $r = post(block => chat => $sent);
    is($r->{headers}{'x-mock-body-sha256'}, sha256_hex($sent),
       "$what: '${TERM}s' is not the term, forwarded unchanged")
        or diag("status $r->{status}: $r->{body}");
}

# Control fields: neither refused nor rewritten.
my @control = (
    [chat => 'tool_call_id', "{'model':'m','messages':[{'role':'tool','tool_call_id':'SECRET','content':'ok'},{'role':'user','content':'hi'}]}"],
    [chat => 'a data: image URL', "{'model':'m','messages':[{'role':'user','content':[{'type':'image_url','image_url':{'url':'data:image/png;base64,SECRET'}},{'type':'text','text':'hi'}]}]}"],
    [chat => 'tool_choice', "{'model':'m','messages':[{'role':'user','content':'hi'}],'tool_choice':'SECRET'}"],
    [messages => 'a thinking signature', "{'model':'c','max_tokens':50,'messages':[{'role':'assistant','content':[{'type':'thinking','thinking':'t','signature':'SECRET'}]},{'role':'user','content':'hi'}]}"],
    [messages => 'base64 image data', "{'model':'c','max_tokens':50,'messages':[{'role':'user','content':[{'type':'image','source':{'type':'base64','media_type':'image/png','data':'SECRET'}},{'type':'text','text':'hi'}]}]}"],
    [responses => 'previous_response_id', "{'model':'m','input':'hi','previous_response_id':'SECRET'}"],
);
for my $f (@control) {
    my ($kind, $what, $tmpl) = @$f;
    for my $case ([block => "x $TERM x"], [redact => $EMAIL]) {
        my ($group, $secret) = @$case;
        my $sent = body_of($tmpl, $secret);
        my $r = post($group => $kind, $sent);
        is($r->{headers}{'x-mock-body-sha256'}, sha256_hex($sent),
           "$kind $what ($group): a control field is not text, forwarded unchanged")
            or diag("status $r->{status}: $r->{body}");
    }
}

# A tool call's arguments are JSON text the model and the tool read parsed:
# the term or address written with JSON escapes inside them is found, and
# a mask covers the escapes whole.
for my $c ([chat => 'tool_calls[].function.arguments', q({"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"q\":\"SECRET\"}"}}]},{"role":"tool","tool_call_id":"c1","content":"ok"},{"role":"user","content":"hi"}]})],
           [responses => 'function_call.arguments', q({"model":"m","input":[{"type":"function_call","call_id":"c1","name":"f","arguments":"{\"q\":\"SECRET\"}"},{"type":"function_call_output","call_id":"c1","output":"ok"}]})]) {
    my ($kind, $what, $tmpl) = @$c;
    (my $b = $tmpl) =~ s/SECRET/\\\\u0070roject\\\\u0020neptune/;
    my $r = post(block => $kind, $b);
    is($r->{status}, 403, "$kind $what: the term written as escapes is refused");
    ($b = $tmpl) =~ s/SECRET/carol.jones\\\\u0040example.org/;
    (my $want = $tmpl) =~ s/SECRET/[REDACTED:EMAIL]/;
    $r = post(redact => $kind, $b);
    is($r->{headers}{'x-mock-body-sha256'}, sha256_hex($want),
       "$kind $what: the address written with an escape is masked, escapes and all")
        or diag("status $r->{status}: $r->{body}");
    # an escaped backslash is no escape: "\\u0070roject" is not the term
    ($b = $tmpl) =~ s/SECRET/\\\\\\\\u0070roject neptune/;
    $r = post(block => $kind, $b);
    is($r->{status}, 200, "$kind $what: an escaped backslash before u0070 is no escape");
}

# Files of text sent inline are read: the provider gives the model their
# text. A term in one is refused; an address is masked and the file goes
# on as the same data URL, the masked text in base64. Binary media (a PDF,
# an image) is not text and goes on as it came.
use MIME::Base64 qw(encode_base64);
sub b64 { return encode_base64($_[0], '') }
my @files = (
    [responses => 'input_file file_data, text/plain', q({"model":"m","input":[{"role":"user","content":[{"type":"input_file","filename":"notes.txt","file_data":"data:text/plain;base64,FILE"},{"type":"input_text","text":"Summarize the file."}]}]}), 'text/plain'],
    [responses => 'input_file file_data, application/json', q({"model":"m","input":[{"role":"user","content":[{"type":"input_file","filename":"n.json","file_data":"data:application/json;base64,FILE"}]}]}), 'application/json'],
    [responses => 'input_file declared a PDF, its bytes text', q({"model":"m","input":[{"role":"user","content":[{"type":"input_file","filename":"notes.txt","file_data":"data:application/pdf;base64,FILE"}]}]}), 'application/pdf'],
    [chat => 'a file part with a data: URL of text', q({"model":"m","messages":[{"role":"user","content":[{"type":"file","file":{"filename":"n.md","file_data":"data:text/markdown;base64,FILE"}},{"type":"text","text":"hi"}]}]}), 'text/markdown'],
);
for my $f (@files) {
    my ($kind, $what, $tmpl, $type) = @$f;
    my $with = sub { (my $b = $tmpl) =~ s/FILE/b64($_[0])/e; $b };

    my $r = post(block => $kind, $with->("Internal notes on $TERM.\n"));
    is($r->{status}, 403, "$kind $what: a term in the file is refused") or diag($r->{body});
    ok(!exists $r->{headers}{'x-mock-body-sha256'}, "$kind $what: the model API was not called");

    $r = post(redact => $kind, $with->("Write to $EMAIL.\n"));
    is($r->{headers}{'x-mock-body-sha256'}, sha256_hex($with->("Write to $MASK.\n")),
       "$kind $what: the model API got the file with the address masked, in base64")
        or diag("status $r->{status}: $r->{body}");
}
{
    # a PDF (its bytes are no UTF-8) and an image: media, forwarded as sent
    my $pdf = b64("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj $TERM $EMAIL");
    my $body = qq({"model":"m","input":[{"role":"user","content":[{"type":"input_file","filename":"a.pdf","file_data":"data:application/pdf;base64,$pdf"},{"type":"input_image","image_url":"data:image/png;base64,iVBORw0KGgo="}]}]});
    for my $g (qw(block redact)) {
        my $r = post($g => responses => $body);
        is($r->{headers}{'x-mock-body-sha256'}, sha256_hex($body), "a PDF and an image ($g): media, forwarded unchanged")
            or diag("status $r->{status}: $r->{body}");
    }
    # a file of text the gateway cannot read (Latin-1, not UTF-8): under
    # request filters it is refused as uninspectable
    $body = q({"model":"m","input":[{"role":"user","content":[{"type":"input_file","filename":"n.txt","file_data":"data:text/plain;base64,) . b64("caf\xe9 $TERM") . q("}]}]});
    my $r = post(block => responses => $body);
    is($r->{status}, 403, 'a text file that is not UTF-8, under filters: 403');
    is((AigovTest::json($r) // {})->{error}{code}, 'uninspectable', 'code uninspectable');
}

# Two property names masked alike: the upstream must not get one key twice
# (parsers differ on which value they keep); the second is renamed.
{
    my $sent = q({"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"to carol.jones@example.org":{"type":"string"},"to dave.smith@example.org":{"type":"integer"}}}}}]});
    my $want = q({"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"to [REDACTED:EMAIL]":{"type":"string"},"to [REDACTED:EMAIL] (2)":{"type":"integer"}}}}}]});
    my $r = post(redact => chat => $sent);
    is($r->{headers}{'x-mock-body-sha256'}, sha256_hex($want),
       'two property names masked alike: the second becomes "... (2)", no key twice')
        or diag("status $r->{status}: $r->{body}");
    $rid{'masked keys'} = $r->{headers}{'x-aigov-request-id'};
}

# The text of every field counts: a long refusal part or tool description
# is over max_prompt_chars.
my $long = 'x' x 150;
for my $tmpl ("{'model':'m','messages':[{'role':'assistant','content':[{'type':'refusal','refusal':'SECRET'}]},{'role':'user','content':'hi'}]}",
              "{'model':'m','messages':[{'role':'user','content':'hi'}],'tools':[{'type':'function','function':{'name':'f','description':'SECRET'}}]}") {
    my $r = post(short => chat => body_of($tmpl, $long));
    is($r->{status}, 403, 'a 150-character field over a 100-character limit: 403');
    is((AigovTest::json($r) // {})->{error}{code}, 'prompt_too_long', 'code prompt_too_long');
}
my $r = post(short => chat => body_of("{'model':'m','messages':[{'role':'user','content':'hi'}],'tool_choice':'SECRET'}", $long));
is($r->{status}, 200, 'a long control field does not count');

# Audit content: redacted keeps the masked text of the new fields.
$t->stop_nginx;
my %by;
open my $lf, '<', "$d/audit.log" or die "audit.log: $!";
while (my $l = <$lf>) {
    my $rec = eval { decode_json($l) } or next;
    push @{ $by{$rec->{id}} }, $rec if defined $rec->{id};
}
close $lf;
for my $name ('chat messages[].name', 'messages tool_use.input', 'responses instructions',
              'chat a tool parameter name', 'masked keys') {
    my ($adm) = @{ $by{ $rid{$name} // '' } // [] };
    like($adm->{prompt} // '', qr/\Q$MASK\E/, "$name: the record keeps the masked text");
    unlike($adm->{prompt} // '', qr/\Q$EMAIL\E/, "$name: and not the address");
}

$t->done;
done_testing;
