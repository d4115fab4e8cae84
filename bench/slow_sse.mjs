// A slow streaming model API for bench/run.sh's "streams" case: thousands
// of chat streams open at once, each one event every INTERVAL ms, the way a
// model writes an answer. Node's event loop holds 10,000 sockets where the
// test mock (a process per connection) cannot.
//
//   node bench/slow_sse.mjs PORT [EVENTS] [INTERVAL_MS]
//
// POST (any path): an OpenAI chat.completion.chunk stream of EVENTS
// content events (" word"), a finish chunk with usage, then [DONE]. Streams
// are spread over ten 10 ms slots by arrival, so the events of 10,000
// streams do not all leave at once. GET /__count: events written so far.
// Listens on 127.0.0.1 only.
import http from 'node:http';

const port = Number(process.argv[2]);
const events = Number(process.argv[3] || 50);
const interval = Number(process.argv[4] || 100);
const slots = 10;
const wheel = Array.from({ length: slots }, () => new Set());
const head = '{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,';
const words = 'The quarter closed with delivery times down and staffing stable across the region while supplier quality improved'.split(' ');
let written = 0;
let tick = 0;

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/__count') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(String(written));
    return;
  }
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write(`data: ${head}"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n`);
    wheel[tick % slots].add({ res, n: 0 });
  });
});

setInterval(() => {
  const slot = wheel[tick % slots];
  tick++;
  for (const s of slot) {
    if (s.n < events) {
      s.res.write(`data: ${head}"delta":{"content":" ${words[s.n % words.length]}"},"finish_reason":null}]}\n\n`);
      s.n++;
      written++;
    } else {
      s.res.end(`data: ${head}"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":230,"completion_tokens":${events},"total_tokens":${230 + events}}}\n\ndata: [DONE]\n\n`);
      slot.delete(s);
    }
  }
}, interval / slots);

server.keepAliveTimeout = 120000;
server.headersTimeout = 120000;
server.requestTimeout = 0;
server.maxConnections = 100000;
server.listen(port, '127.0.0.1');
