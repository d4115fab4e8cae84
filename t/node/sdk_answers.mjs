// Answers through aigov as the official SDKs read them: the openai SDK's
// Responses API (plain and streamed, redacted; a streamed tool call whose
// arguments carry a secret raises; an address cut across two output_text
// parts or two messages, as output_text runs them together), logprobs
// (chat whole and streamed, Responses streamed: their tokens, bytes and
// alternatives redacted too), the Vercel AI SDK's default OpenAI provider
// (generateText, streamText: the Responses API), and the Anthropic SDK (a
// mid-stream block raises from the stream; an address cut across two text
// blocks, as the printed deltas and finalText() read them). Prints TAP
// lines; t/sdk_answers.t starts the gateway and reads them.
import OpenAI from 'openai';
import { addOutputText } from 'openai/lib/ResponsesParser';
import Anthropic from '@anthropic-ai/sdk';
import { generateText, streamText } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';

const base = process.env.AIGOV_URL;
const redact = process.env.AIGOV_TOKEN_REDACT;
const block = process.env.AIGOV_TOKEN_BLOCK;
const oa = (token) => new OpenAI({ baseURL: `${base}/v1`, apiKey: token, maxRetries: 0 });
const provider = createOpenAI({ baseURL: `${base}/v1`, apiKey: process.env.AIGOV_TOKEN_REDACT });
const EMAIL = 'jane.roe@example.com';
const SECRET = 'ghp_qdlm7tOtHWnsCGRlrwZbqcabUGJmGEp7CgQ0';

let n = 0;
function ok(cond, name, diag) {
  n++;
  console.log(`${cond ? 'ok' : 'not ok'} ${n} - ${name}`);
  if (!cond && diag !== undefined) console.log(`# ${String(diag?.stack ?? diag).replace(/\n/g, '\n# ')}`);
}
const clean = (s) => s.includes('[REDACTED:EMAIL]') && !s.includes('jane.roe') && !s.includes('example.com');

// ---- openai: responses.create ----

try {
  const r = await oa(redact).responses.create({ model: 'gpt-4o', input: 'hi' },
    { headers: { 'X-Mock-Answer': `write to ${EMAIL} today` } });
  ok(clean(r.output_text), 'responses.create: the email in output_text redacted', r.output_text);
  ok(r.output_text.startsWith('write to [REDACTED:EMAIL] today'), 'responses.create: the rest intact', r.output_text);
  ok(r.usage && r.usage.output_tokens > 0, 'responses.create: usage');
} catch (e) { ok(false, 'responses.create', e); }

try {
  const stream = await oa(redact).responses.create({ model: 'gpt-4o', input: 'hi', stream: true },
    { headers: { 'X-Mock-Answer': `write to ${EMAIL} today`, 'X-Mock-Split': EMAIL } });
  let deltas = '';
  let done = '';
  let completed = null;
  for await (const ev of stream) {
    if (ev.type === 'response.output_text.delta') deltas += ev.delta;
    if (ev.type === 'response.output_text.done') done = ev.text;
    if (ev.type === 'response.completed') completed = ev.response;
  }
  ok(clean(deltas), 'responses stream: the email split across deltas redacted', deltas);
  ok(done === deltas, 'responses stream: output_text.done repeats the deltas as redacted', `${done} | ${deltas}`);
  const final = completed?.output?.[0]?.content?.[0]?.text ?? '';
  ok(final === deltas, 'responses stream: response.completed repeats them too', final);
} catch (e) { ok(false, 'responses stream', e); }

try {
  const stream = await oa(block).responses.create({ model: 'gpt-4o', input: 'hi', stream: true },
    { headers: { 'X-Mock-Answer': `the key is ${SECRET} ok`, 'X-Mock-Events': '8' } });
  let text = '';
  try {
    for await (const ev of stream) if (ev.type === 'response.output_text.delta') text += ev.delta;
    ok(false, 'responses stream block: raises', text);
  } catch (e) {
    ok(e instanceof OpenAI.APIError, 'responses stream block: the SDK raises an APIError', e);
    ok(!text.includes('ghp_'), 'responses stream block: nothing of the secret arrived', text);
  }
} catch (e) { ok(false, 'responses stream block', e); }

// ---- an address cut across two parts of the answer text ----

// the mock's X-Mock-Parts: each array one part, each string one delta
const PARTS = JSON.stringify([['write to jane.roe@exa'], ['mple.com today']]);

for (const items of [false, true]) {
  const how = items ? 'two messages' : 'two output_text parts';
  try {
    const stream = oa(redact).responses.stream({ model: 'gpt-4o', input: 'hi' },
      { headers: { 'X-Mock-Parts': PARTS, ...(items ? { 'X-Mock-Parts-Items': '1' } : {}) } });
    let deltas = '';
    for await (const ev of stream) if (ev.type === 'response.output_text.delta') deltas += ev.delta;
    // the response.completed the stream ends with, its output_text run
    // together by the SDK (its stream helper does not)
    const final = await stream.finalResponse();
    addOutputText(final);
    ok(clean(final.output_text), `responses stream, ${how}: output_text redacted`, final.output_text);
    ok(final.output_text === deltas, `responses stream, ${how}: output_text is the deltas`, `${final.output_text} | ${deltas}`);
    ok(final.output_text === 'write to [REDACTED:EMAIL] today', `responses stream, ${how}: masked once, the rest intact`,
       final.output_text);
  } catch (e) { ok(false, `responses stream, ${how}`, e); }
}

try {
  const r = streamText({ model: provider('gpt-4o'), prompt: 'hi', maxRetries: 0,
                         headers: { 'X-Mock-Parts': PARTS }, onError: () => {} });
  let text = '';
  for await (const t of r.textStream) text += t;
  ok(clean(text), 'ai streamText, two output_text parts: the address redacted', text);
} catch (e) { ok(false, 'ai streamText, two output_text parts', e); }

try {
  const s = new Anthropic({ baseURL: base, apiKey: null, authToken: redact, maxRetries: 0 }).messages.stream(
    { model: 'claude-sonnet-4', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] },
    { headers: { 'X-Mock-Parts': PARTS } });
  let printed = '';
  s.on('text', (t) => { printed += t; });
  const text = await s.finalText();
  ok(clean(printed), 'anthropic stream, two text blocks: the printed deltas redacted', printed);
  ok(clean(text), 'anthropic stream, two text blocks: finalText() redacted', text);
} catch (e) { ok(false, 'anthropic stream, two text blocks', e); }

// ---- openai: a streamed tool call whose arguments carry a secret ----

try {
  const script = JSON.stringify({ tool_calls: [{ name: 'deploy', arguments: { token: SECRET } }] });
  const stream = await oa(block).chat.completions.create(
    { model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'deploy' }],
      tools: [{ type: 'function', function: { name: 'deploy', parameters: { type: 'object' } } }] },
    { headers: { 'X-Mock-Script': script } });
  let args = '';
  try {
    for await (const c of stream) args += c.choices?.[0]?.delta?.tool_calls?.[0]?.function?.arguments ?? '';
    ok(false, 'streamed tool call with a secret: raises', args);
  } catch (e) {
    ok(e instanceof OpenAI.APIError && /secret|credential|key|token/i.test(e.message),
       'streamed tool call with a secret: the SDK raises, saying why', e);
    ok(!args.includes('ghp_'), 'streamed tool call with a secret: no part of it arrived', args);
  }
} catch (e) { ok(false, 'streamed tool call with a secret', e); }

// ---- openai: logprobs spell the text as redacted ----

// what a client makes of logprobs: the tokens joined, the bytes decoded,
// every alternative; none may hold a piece of the address
const utf8 = (b) => Buffer.from(b ?? []).toString('utf8');
const pieces = (s) => !/jane|\.roe|exam|ple\.|\.com/i.test(s);
function lpRead(list, acc) {
  for (const t of list ?? []) {
    acc.tokens += t.token;
    acc.bytes.push(...(t.bytes ?? []));
    for (const a of t.top_logprobs ?? []) acc.alts += `${a.token} ${utf8(a.bytes)}\n`;
  }
  return acc;
}

try {
  const r = await oa(redact).chat.completions.create(
    { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], logprobs: true, top_logprobs: 3 },
    { headers: { 'X-Mock-Answer': `write to ${EMAIL} today` } });
  const content = r.choices[0].message.content;
  const v = lpRead(r.choices[0].logprobs?.content, { tokens: '', bytes: [], alts: '' });
  ok(clean(content), 'chat logprobs: the content redacted', content);
  ok(v.tokens === content, 'chat logprobs: the tokens spell the content as redacted', v.tokens);
  ok(utf8(v.bytes) === content, 'chat logprobs: so do their bytes', utf8(v.bytes));
  ok(v.alts.length > 0 && pieces(v.alts), 'chat logprobs: no alternative holds a piece of the address', v.alts);
} catch (e) { ok(false, 'chat logprobs', e); }

try {
  const stream = await oa(redact).chat.completions.create(
    { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true, logprobs: true, top_logprobs: 2 },
    { headers: { 'X-Mock-Answer': `write to ${EMAIL} today`, 'X-Mock-Split': EMAIL } });
  let content = '';
  const v = { tokens: '', bytes: [], alts: '' };
  for await (const c of stream) {
    content += c.choices?.[0]?.delta?.content ?? '';
    lpRead(c.choices?.[0]?.logprobs?.content, v);
  }
  ok(clean(content), 'chat logprobs stream: the address cut across chunks redacted', content);
  ok(v.tokens === content, 'chat logprobs stream: the tokens spell the content as redacted', v.tokens);
  ok(utf8(v.bytes) === content, 'chat logprobs stream: so do their bytes', utf8(v.bytes));
  ok(pieces(v.alts), 'chat logprobs stream: no alternative holds a piece of the address', v.alts);
} catch (e) { ok(false, 'chat logprobs stream', e); }

try {
  const stream = await oa(redact).responses.create(
    { model: 'gpt-4o', input: 'hi', stream: true, include: ['message.output_text.logprobs'], top_logprobs: 2 },
    { headers: { 'X-Mock-Answer': `write to ${EMAIL} today`, 'X-Mock-Split': EMAIL } });
  let deltas = '';
  let part = null;
  const v = { tokens: '', bytes: [], alts: '' };
  for await (const ev of stream) {
    if (ev.type === 'response.output_text.delta') { deltas += ev.delta; lpRead(ev.logprobs, v); }
    if (ev.type === 'response.completed') part = ev.response.output?.[0]?.content?.[0];
  }
  const w = lpRead(part?.logprobs, { tokens: '', bytes: [], alts: '' });
  ok(clean(deltas) && v.tokens === deltas, 'responses logprobs stream: the deltas\' tokens spell them as redacted', v.tokens);
  ok(w.tokens === part?.text && utf8(w.bytes) === part?.text,
     'responses logprobs stream: the completed part\'s tokens and bytes spell its text', `${w.tokens} | ${part?.text}`);
  ok(pieces(v.alts + w.alts), 'responses logprobs stream: no alternative holds a piece of the address', v.alts + w.alts);
} catch (e) { ok(false, 'responses logprobs stream', e); }

// ---- the Vercel AI SDK's default provider (the Responses API) ----

try {
  const r = await generateText({ model: provider('gpt-4o'), prompt: 'hi', maxRetries: 0,
                                 headers: { 'X-Mock-Answer': `write to ${EMAIL} today` } });
  ok(clean(r.text), 'ai generateText: the email redacted', r.text);
} catch (e) { ok(false, 'ai generateText', e); }

try {
  const r = streamText({ model: provider('gpt-4o'), prompt: 'hi', maxRetries: 0,
                         headers: { 'X-Mock-Answer': `write to ${EMAIL} today`, 'X-Mock-Split': EMAIL },
                         onError: () => {} });
  let text = '';
  for await (const t of r.textStream) text += t;
  ok(clean(text), 'ai streamText: the email split across deltas redacted', text);
} catch (e) { ok(false, 'ai streamText', e); }

// ---- Anthropic: a mid-stream block raises ----

const an = new Anthropic({ baseURL: base, apiKey: null, authToken: block, maxRetries: 0 });

try {
  const stream = await an.messages.create(
    { model: 'claude-sonnet-4', max_tokens: 100, stream: true, messages: [{ role: 'user', content: 'hi' }] },
    { headers: { 'X-Mock-Answer': `the key is ${SECRET} ok`, 'X-Mock-Events': '8' } });
  let text = '';
  try {
    for await (const ev of stream) if (ev.type === 'content_block_delta') text += ev.delta.text ?? '';
    ok(false, 'anthropic stream block: raises', text);
  } catch (e) {
    ok(e instanceof Anthropic.APIError, 'anthropic stream block: raw iteration raises an APIError', e);
    ok(!text.includes('ghp_'), 'anthropic stream block: nothing of the secret arrived', text);
  }
} catch (e) { ok(false, 'anthropic stream block', e); }

try {
  const s = an.messages.stream({ model: 'claude-sonnet-4', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] },
    { headers: { 'X-Mock-Answer': `the key is ${SECRET} ok`, 'X-Mock-Events': '8' } });
  try {
    await s.finalMessage();
    ok(false, 'anthropic stream helper block: raises');
  } catch (e) {
    ok(e instanceof Anthropic.APIError, 'anthropic stream helper block: finalMessage raises an APIError', e);
  }
} catch (e) { ok(false, 'anthropic stream helper block', e); }

console.log(`1..${n}`);
