'use strict';
// node_ws_client.js - the Node peer of ./run bench's end-to-end table: the
// `ws` package (Debian node-ws) reading `polyws mock --rate max`, JSON.parse
// on every message, counting market-data events (A, AM, T, Q).
//
//   node node_ws_client.js URL KEY CHANNELS COUNT
//
// Authenticates after "connected", subscribes after "auth_success", and once
// COUNT events arrived prints one line
//   RESULT {"client":"node-ws","events":N,"events_per_s":X}
// (the rate from the end of the first data message to the COUNT-th event, as
// the C clients measure it) and exits 0.  Exits 1 if the server closes first.
const WebSocket = require('ws');

const [url, key, channels, countArg] = process.argv.slice(2);
const want = Number(countArg);
if (!url || !key || !channels || !(want > 0)) {
  process.stderr.write('usage: node node_ws_client.js URL KEY CHANNELS COUNT\n');
  process.exit(2);
}

const MARKET = new Set(['A', 'AM', 'T', 'Q']);
let events = 0, events0 = 0, t0 = 0n, done = false;
const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });

ws.on('message', (data) => {
  const msgs = JSON.parse(data);
  let n = 0;
  for (const m of msgs) {
    if (MARKET.has(m.ev)) {
      n++;
    } else if (m.ev === 'status') {
      if (m.status === 'connected') ws.send(JSON.stringify({ action: 'auth', params: key }));
      else if (m.status === 'auth_success') ws.send(JSON.stringify({ action: 'subscribe', params: channels }));
    }
  }
  if (n === 0) return;
  events += n;
  if (t0 === 0n) {
    t0 = process.hrtime.bigint();
    events0 = events;
  }
  if (events >= want && !done) {
    done = true;
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    const rate = dt > 0 ? (events - events0) / dt : 0;
    process.stdout.write(`RESULT {"client":"node-ws","events":${events},"events_per_s":${rate.toFixed(0)}}\n`);
    ws.close(1000);
    process.exit(0);
  }
});
ws.on('close', () => {
  if (!done) {
    process.stderr.write(`node_ws_client: closed after ${events} of ${want} events\n`);
    process.exit(1);
  }
});
ws.on('error', (e) => {
  process.stderr.write(`node_ws_client: ${e.message}\n`);
  process.exit(1);
});
