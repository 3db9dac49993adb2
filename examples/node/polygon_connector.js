#!/usr/bin/env node
// A Polygon.io real-time WebSocket connector: a small reference client.
//
// Connects to POLYWS_URL, authenticates with POLYWS_API_KEY, subscribes to
// POLYWS_SUBSCRIBE after auth_success and prints every market-data event on
// stdout as one JSON object per line, fields and values as received.  Status
// messages and problems go to stderr.  Drops are survived: reconnect with
// exponential backoff and subscribe again.  Needs only the `ws` package
// (npm install ws, or Debian's node-ws: NODE_PATH=/usr/share/nodejs).
//
//   POLYWS_URL=wss://socket.polygon.io/stocks POLYWS_API_KEY=... \
//   POLYWS_SUBSCRIBE=A.AAPL,T.MSFT node polygon_connector.js
//
// --break no-auth|no-reconnect (or EXAMPLE_BREAK) makes it deliberately wrong,
// to see `polyws check` catch the mistake.
'use strict';

const fs = require('fs');
const WebSocket = require('ws');

const MAX_MESSAGE = 16 * 1024 * 1024;  // Polygon batches events: frames of several MiB happen
const BACKOFF_CAP_MS = 30000;          // the longest wait between two attempts
const HEALTHY_AFTER_MS = 5000;         // a connection this old (or that delivered data) resets the backoff
const MAX_CONNECTIONS_WAIT_MS = 60000; // after max_connections another process has our key: do not fight

const log = (...args) => console.error('polygon_connector:', ...args);

// --break MODE / --break=MODE, else EXAMPLE_BREAK: be deliberately wrong.
function mistakeFromArgs(argv) {
  let mode = process.env.EXAMPLE_BREAK || null;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--break') mode = argv[++i];
    else if (argv[i].startsWith('--break=')) mode = argv[i].slice(8);
    else { log(`unknown argument ${argv[i]}`); process.exit(2); }
  }
  if (mode && mode !== 'no-auth' && mode !== 'no-reconnect') {
    log(`unknown --break mode ${mode}`);
    process.exit(2);
  }
  return mode;
}

const mistake = mistakeFromArgs(process.argv.slice(2));
const env = process.env;
if (!env.POLYWS_URL || !env.POLYWS_API_KEY) { log('POLYWS_URL and POLYWS_API_KEY must be set'); process.exit(2); }
const channels = (env.POLYWS_SUBSCRIBE || 'A.*').split(',').map((c) => c.trim()).filter(Boolean).join(',');
const count = env.POLYWS_COUNT ? Number(env.POLYWS_COUNT) : Infinity;
const firstDelay = Number(env.POLYWS_BACKOFF_MS || 500);
// Heartbeat: ping every half period; a connection silent (no data, no pong) that long is dead.
const heartbeatMs = Number(env.POLYWS_HEARTBEAT_MS || 30000);
// POLYWS_CA_FILE: trust this CA (a test server's self-signed certificate).
const ca = env.POLYWS_CA_FILE ? fs.readFileSync(env.POLYWS_CA_FILE) : undefined;

let ws = null;
let delivered = 0;
let delay = firstDelay;
let stopping = false;
let reconnectTimer = null;

function connect() {
  const started = Date.now();
  let authSent = false;
  let gotData = false;
  let kicked = false;
  let deadline = null;
  let pinger = null;
  const sock = (ws = new WebSocket(env.POLYWS_URL, { ca, maxPayload: MAX_MESSAGE }));
  const send = (obj) => sock.send(JSON.stringify(obj));
  const alive = () => {
    clearTimeout(deadline);
    deadline = setTimeout(() => {
      log(`nothing heard for ${heartbeatMs} ms: the connection is dead`);
      sock.terminate();
    }, heartbeatMs);
  };

  sock.on('open', () => {
    log(`connected to ${env.POLYWS_URL}`);
    alive();
    pinger = setInterval(() => sock.ping(), heartbeatMs / 2);
  });
  sock.on('ping', alive); // ws answers pings by itself
  sock.on('pong', alive);
  sock.on('error', (err) => log(`connection error: ${err.message}`)); // 'close' follows
  sock.on('message', (data, isBinary) => {
    alive();
    if (isBinary) { log(`ignored a binary frame of ${data.length} bytes (Polygon sends text)`); return; }
    const text = data.toString(); // ws has checked the UTF-8 (invalid: closes with 1007)
    let items;
    try {
      items = JSON.parse(text);
    } catch (err) {
      log(`ignored a frame that is not JSON (${err.message}): ${text.slice(0, 100)}`);
      return;
    }
    if (!Array.isArray(items)) { log(`ignored a frame that is not a JSON array: ${text.slice(0, 100)}`); return; }
    const lines = [];
    for (const item of items) {
      if (item === null || typeof item !== 'object' || typeof item.ev !== 'string') {
        log('ignored an element that is not an event');
      } else if (item.ev === 'status') {
        onStatus(item);
      } else if (delivered < count) {
        try {
          lines.push(JSON.stringify(item)); // unknown types and fields pass through as they are
          delivered++;
        } catch (err) { // RangeError on absurdly deep nesting
          log(`ignored an event that cannot be printed: ${err.message}`);
        }
      }
    }
    if (lines.length) {
      gotData = true;
      process.stdout.write(lines.join('\n') + '\n');
    }
    if (delivered >= count && !stopping) { log('POLYWS_COUNT reached'); stop(0); }
  });

  function onStatus(item) {
    log(`status ${JSON.stringify(item)}`);
    if ((item.status === 'connected' || item.status === 'success') && !authSent) {
      // The greeting ("connected" in the docs, "success" in the spec): authenticate.
      authSent = true;
      if (mistake === 'no-auth') log('--break no-auth: not authenticating');
      else send({ action: 'auth', params: env.POLYWS_API_KEY });
    } else if (item.status === 'auth_success') {
      // One subscribe for every channel; Polygon keeps nothing across connections.
      send({ action: 'subscribe', params: channels });
    } else if (item.status === 'auth_failed') {
      log(`authentication failed: ${item.message}`); // retrying cannot make a wrong key right
      stop(1);
    } else if (item.status === 'max_connections') {
      kicked = true;
    }
  }

  sock.on('close', (code, reason) => {
    clearTimeout(deadline);
    clearInterval(pinger);
    if (stopping) return;
    log(`connection closed: ${code} ${reason}`);
    if (mistake === 'no-reconnect') { log('--break no-reconnect: not reconnecting'); process.exit(0); }
    if (gotData || Date.now() - started >= HEALTHY_AFTER_MS) delay = firstDelay; // healthy: start over
    let wait = delay * (0.8 + 0.4 * Math.random()); // jitter: clients must not reconnect in step
    if (kicked) wait = Math.max(wait, MAX_CONNECTIONS_WAIT_MS);
    delay = Math.min(delay * 2, BACKOFF_CAP_MS);
    log(`reconnecting in ${Math.round(wait)} ms`);
    reconnectTimer = setTimeout(connect, wait);
  });
}

// Stop: close the open connection politely (1000), then exit with CODE.
function stop(code) {
  if (stopping) return;
  stopping = true;
  clearTimeout(reconnectTimer);
  if (ws && ws.readyState === WebSocket.OPEN) {
    ws.on('close', () => process.exit(code));
    ws.close(1000);
    setTimeout(() => process.exit(code), 1000).unref(); // a server that never answers the close
  } else {
    process.exit(code);
  }
}

process.on('SIGTERM', () => { log('stopped by a signal'); stop(0); });
process.on('SIGINT', () => { log('stopped by a signal'); stop(0); });
if (env.POLYWS_DURATION) {
  setTimeout(() => { log('POLYWS_DURATION reached'); stop(0); }, Number(env.POLYWS_DURATION) * 1000);
}
connect();
