// Start the Portkey gateway on loopback only.
//
// Its build/start-server.js calls @hono/node-server's serve({fetch, port})
// without a host, so Node listens on every interface, and it has no option
// or variable to change that. We bind every server it opens to 127.0.0.1,
// and refuse outgoing fetches to anything but this machine, before loading it.
//
// usage: PORTKEY_ENTRY=/abs/.../build/start-server.js node local.mjs --port=N --headless

import net from 'node:net';
import { pathToFileURL } from 'node:url';

const LOOPBACK = '127.0.0.1';

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
    if (args[0] !== null && typeof args[0] === 'object') {
        args[0] = { ...args[0], host: LOOPBACK };
    } else if (typeof args[1] === 'function') {
        args.splice(1, 0, LOOPBACK);          // listen(port, cb)
    } else {
        args[1] = LOOPBACK;                   // listen(port[, host][, ...])
    }
    return listen.apply(this, args);
};

const realFetch = globalThis.fetch;
globalThis.fetch = (input, init) => {
    const href = typeof input === 'string' ? input : (input?.url ?? String(input));
    const host = new URL(href).hostname;
    if (host !== LOOPBACK && host !== 'localhost' && host !== '[::1]') {
        return Promise.reject(new Error(`bench: refusing to reach ${host}`));
    }
    return realFetch(input, init);
};

const entry = process.env.PORTKEY_ENTRY;
if (!entry) {
    console.error('local.mjs: set PORTKEY_ENTRY to build/start-server.js');
    process.exit(2);
}
await import(pathToFileURL(entry).href);
