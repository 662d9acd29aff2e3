#!/usr/bin/env node
// A plain WebSocket broadcast server on `ws` 8: the simplest peer of Parley's
// gateway for bench/compare (see bench/peers/README.md).
//
//   node bench/peers/ws-broadcast.mjs --port P [--host 127.0.0.1]
//
// Every client that connects (to any path) is a subscriber. A text frame from
// a client is sent as it is (the received bytes, no re-serialization, still a
// text frame) to every OTHER open client, then the sender gets the text frame
// `ack`, so a publisher can count acknowledged messages. No per-message
// deflate, no application-level heartbeat (ws answers protocol pings by
// itself), no buffering limit: a slow receiver just accumulates
// `bufferedAmount`, as in the usual broadcast idiom.
//
// Prints `listening <port>` on stdout once it accepts connections (`--port 0`
// picks a free port). SIGTERM / SIGINT close every client and exit 0.
import { WebSocketServer, WebSocket } from 'ws';

function usage(msg) {
  if (msg) process.stderr.write(`ws-broadcast: ${msg}\n`);
  process.stderr.write('usage: node bench/peers/ws-broadcast.mjs --port P [--host 127.0.0.1]\n');
  process.exit(2);
}

let host = '127.0.0.1';
let port = null;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const v = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
  if (a === '--port') port = Number(v());
  else if (a === '--host') host = v();
  else if (a === '--help' || a === '-h') usage();
  else usage(`unknown option ${a}`);
}
if (port === null || !Number.isInteger(port) || port < 0 || port > 65535) usage('--port P is required');

const wss = new WebSocketServer({ host, port, perMessageDeflate: false, clientTracking: true });

wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    // `data` is the received payload (a Buffer); keep the frame type.
    wss.clients.forEach((c) => {
      if (c !== ws && c.readyState === WebSocket.OPEN) c.send(data, { binary: isBinary });
    });
    ws.send('ack');
  });
  ws.on('error', () => {}); // a broken client only closes its own socket
});

wss.on('listening', () => {
  process.stdout.write(`listening ${wss.address().port}\n`);
});
wss.on('error', (err) => {
  process.stderr.write(`ws-broadcast: ${err.message}\n`);
  process.exit(1);
});

const CLIENTS = () => wss.clients.size;
let stopping = false;
function stop(sig) {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`ws-broadcast: ${sig}: closing ${CLIENTS()} clients\n`);
  for (const c of wss.clients) c.terminate();
  wss.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
