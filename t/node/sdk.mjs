// Drives aigov with the official OpenAI SDK, as a user's program would.
// Prints TAP lines; t/sdk.t starts the gateway and reads them.
import OpenAI from 'openai';

const base = process.env.AIGOV_URL;
const good = new OpenAI({ baseURL: `${base}/v1`, apiKey: process.env.AIGOV_TOKEN, maxRetries: 0 });
const bad = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'not-a-jwt', maxRetries: 0 });

let n = 0;
let failed = 0;
function ok(cond, name, diag) {
  n++;
  if (!cond) failed++;
  console.log(`${cond ? 'ok' : 'not ok'} ${n} - ${name}`);
  if (!cond && diag !== undefined) console.log(`# ${String(diag).replace(/\n/g, '\n# ')}`);
}

const user = (content) => [{ role: 'user', content }];

try {
  const r = await good.chat.completions.create({ model: 'gpt-4o-mini', messages: user('hello sdk') });
  ok(r.choices[0].message.content.includes('echo: hello sdk'), 'chat completion through the gateway', JSON.stringify(r));
  ok(r.usage && r.usage.total_tokens > 0, 'usage reported');
} catch (e) { ok(false, 'chat completion through the gateway', e); }

try {
  const r = await good.chat.completions.create(
    { model: 'gpt-4o-mini', messages: user('mail me at jane.roe@example.com please') });
  ok(r.choices[0].message.content.includes('[REDACTED:EMAIL]')
     && !r.choices[0].message.content.includes('jane.roe@example.com'),
     'email in the JSON answer redacted', r.choices[0].message.content);
} catch (e) { ok(false, 'email in the JSON answer redacted', e); }

try {
  const email = 'john.doe@example.com';
  const stream = await good.chat.completions.create(
    { model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true }, messages: user('stream it') },
    { headers: { 'X-Mock-Answer': `write to ${email} today`, 'X-Mock-Split': email, 'X-Mock-Events': '6' } });
  let text = '';
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    text += chunk.choices?.[0]?.delta?.content ?? '';
  }
  ok(chunks > 2, `streamed in ${chunks} chunks`);
  ok(text.includes('[REDACTED:EMAIL]') && !text.includes('john.doe') && !text.includes('example.com'),
     'email split across events redacted in the stream', text);
  ok(text.startsWith('write to [REDACTED:EMAIL] today'), 'the rest of the streamed text intact', text);
} catch (e) { ok(false, 'streamed chat completion', e); }

try {
  const r = await good.embeddings.create({ model: 'text-embedding-3-small', input: ['one', 'two'] });
  ok(r.data.length === 2 && r.data[0].embedding.length > 0, 'embeddings', JSON.stringify(r).slice(0, 200));
} catch (e) { ok(false, 'embeddings', e); }

try {
  await good.chat.completions.create({ model: 'gpt-4o', messages: user('hi') });
  ok(false, 'refused model raises');
} catch (e) {
  ok(e instanceof OpenAI.PermissionDeniedError, 'refused model raises PermissionDeniedError', e);
  ok(e.status === 403 && /gpt-4o/.test(e.message), 'the SDK error carries our message', e.message);
  ok(e.error?.type === 'policy_violation', 'error.type is policy_violation', JSON.stringify(e.error));
}

try {
  await good.chat.completions.create({ model: 'gpt-4o-mini', messages: user('tell me about project neptune') });
  ok(false, 'blocked prompt raises');
} catch (e) {
  ok(e instanceof OpenAI.PermissionDeniedError && e.code === 'blocklist', 'blocked prompt raises, code names the plugin', e);
}

try {
  await good.responses.create({ model: 'gpt-4o-mini', input: [{ role: 'user', content: [
    { type: 'input_text', text: 'summarise this' }, { type: 'input_file', file_id: 'file-abc123' }] }] });
  ok(false, 'a file no filter reads raises');
} catch (e) {
  ok(e instanceof OpenAI.PermissionDeniedError && e.code === 'denied'
     && /files are not checked/.test(e.message), 'a file no filter reads raises, with the rule\'s reason', e);
}

try {
  const r = await good.chat.completions.create({ model: 'gpt-4o-mini', messages: user([
    { type: 'text', text: 'what is in it' },
    { type: 'image_url', image_url: { url: 'https://example.com/a.png' } }]) });
  ok(r.choices[0].message.content.includes('what is in it'), 'an image, which no rule refuses, goes through',
     JSON.stringify(r));
} catch (e) { ok(false, 'an image, which no rule refuses, goes through', e); }

try {
  await bad.chat.completions.create({ model: 'gpt-4o-mini', messages: user('hi') });
  ok(false, 'bad token raises');
} catch (e) {
  ok(e instanceof OpenAI.AuthenticationError, 'bad token raises AuthenticationError', e);
  ok(e.status === 401 && e.message.length > 10, 'with our message', e.message);
}

console.log(`1..${n}`);
process.exit(failed ? 1 : 0);
