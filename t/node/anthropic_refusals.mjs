// Drives aigov's Anthropic endpoint with the official Anthropic SDK, as a
// user's program would: refusals must raise the SDK's own error classes
// with the gateway's message, and the token may come as x-api-key.
// Prints TAP lines; t/anthropic.t starts the gateway and reads them.
import Anthropic from '@anthropic-ai/sdk';

const base = process.env.AIGOV_URL;
const token = process.env.AIGOV_TOKEN;
// this SDK sends apiKey as "Authorization: Bearer"; x-api-key goes by hand
const viaKey = new Anthropic({ baseURL: base, defaultHeaders: { 'X-Api-Key': token }, maxRetries: 0 });
const viaBearer = new Anthropic({ baseURL: base, apiKey: token, maxRetries: 0 });
const limited = new Anthropic({ baseURL: base, defaultHeaders: { 'X-Api-Key': process.env.AIGOV_LIMITED }, maxRetries: 0 });
const bad = new Anthropic({ baseURL: base, defaultHeaders: { 'X-Api-Key': 'not-a-jwt' }, maxRetries: 0 });

let n = 0;
function ok(cond, name, diag) {
  n++;
  console.log(`${cond ? 'ok' : 'not ok'} ${n} - ${name}`);
  if (!cond && diag !== undefined) console.log(`# ${String(diag?.stack ?? diag).replace(/\n/g, '\n# ')}`);
}

const ask = (text, model = 'claude-test') =>
  ({ model, max_tokens: 50, messages: [{ role: 'user', content: text }] });

async function refused(name, call, Class, check) {
  try {
    const r = await call();
    ok(false, `${name} raises ${Class.name}`, JSON.stringify(r));
  } catch (e) {
    ok(e instanceof Class, `${name} raises ${Class.name}`, e);
    if (e instanceof Anthropic.APIError) check(e);
  }
}

try {
  const r = await viaKey.messages.create(ask('hello over x-api-key'));
  ok(r.content?.[0]?.text?.includes('hello over x-api-key'), 'x-api-key: the message is answered', JSON.stringify(r));
} catch (e) { ok(false, 'x-api-key: the message is answered', e); }

try {
  const r = await viaBearer.messages.create(ask('hello over bearer'));
  ok(r.content?.[0]?.text?.includes('hello over bearer'), 'apiKey (Authorization: Bearer): answered', JSON.stringify(r));
} catch (e) { ok(false, 'apiKey (Authorization: Bearer): answered', e); }

await refused('a model the policy refuses', () => viaKey.messages.create(ask('hi', 'claude-forbidden')),
  Anthropic.PermissionDeniedError, (e) => {
    ok(e.status === 403 && e.type === 'permission_error', 'status 403, type permission_error', `${e.status} ${e.type}`);
    ok(/claude-forbidden is not allowed/.test(e.message), 'with the gateway\'s message', e.message);
    ok(e.errorCode === 'model_not_allowed', 'and its code as errorCode', e.errorCode);
    ok(/^[0-9a-f]{32}$/.test(e.error?.request_id ?? ''), 'request_id is the audit record\'s id', JSON.stringify(e.error));
  });

await refused('a prompt a filter blocks', () => viaKey.messages.create(ask('tell me about project neptune')),
  Anthropic.PermissionDeniedError, (e) => {
    ok(e.type === 'permission_error' && e.errorCode === 'blocklist', 'permission_error, errorCode is the plugin',
       `${e.type} ${e.errorCode}`);
  });

await refused('a token that is not a JWT', () => bad.messages.create(ask('hi')),
  Anthropic.AuthenticationError, (e) => {
    ok(e.status === 401 && e.type === 'authentication_error', 'status 401, type authentication_error', `${e.status} ${e.type}`);
  });

await refused('a body the endpoint does not take', () => viaKey.messages.create({ model: 'claude-test', max_tokens: 5, messages: 'no' }),
  Anthropic.BadRequestError, (e) => {
    ok(e.type === 'invalid_request_error', 'type invalid_request_error', e.type);
  });

await refused('a body over client_max_body_size', () => viaKey.messages.create(ask('x'.repeat(20000))),
  Anthropic.APIError, (e) => {
    ok(e.status === 413 && e.type === 'request_too_large', 'status 413, type request_too_large', `${e.status} ${e.type}`);
  });

let limitedOnce = false;
for (let i = 0; i < 4 && !limitedOnce; i++) {
  try {
    await limited.messages.create(ask('quota'));
  } catch (e) {
    limitedOnce = true;
    ok(e instanceof Anthropic.RateLimitError, 'a spent quota raises RateLimitError', e);
    ok(e.type === 'rate_limit_error' && Number(e.headers?.get('retry-after')) > 0,
       'type rate_limit_error, Retry-After kept', `${e.type} ${e.headers?.get('retry-after')}`);
  }
}
if (!limitedOnce) ok(false, 'a spent quota raises RateLimitError');

console.log(`1..${n}`);
