#!/usr/bin/env node
// A Socket.IO 4 room-broadcast server: a peer of Parley's gateway for
// bench/compare (see bench/peers/README.md).
//
//   node bench/peers/socketio-room.mjs --port P [--host 127.0.0.1]
//
// WebSocket transport only (no HTTP long-polling, no upgrade dance), no
// per-message deflate, default namespace "/", default pingInterval 25000 ms /
// pingTimeout 20000 ms. Every socket joins the room "bench" on connection.
// The event `msg` with a string payload is emitted to the room except the
// sender (`socket.to("bench").emit("msg", payload)`: Socket.IO encodes the
// packet once and writes it to each socket), and when the client asked for an
// acknowledgement (a callback is present), it is called with no arguments
// (the client receives `43<id>[]`).
//
// On the wire (engine.io v4 over one WebSocket, as parley-load speaks it):
//   GET /socket.io/?EIO=4&transport=websocket
//   server: 0{"sid":"...","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}
//   client: 40                  server: 40{"sid":"..."}
//   client: 42["msg","payload"] (no ack) or 421["msg","payload"] -> server: 431[]
//   receivers get 42["msg","payload"]; server: 2 (ping) -> client: 3 (pong)
//
// Prints `listening <port>` on stdout once it accepts connections (`--port 0`
// picks a free port). SIGTERM / SIGINT close every client and exit 0.
import { createServer } from 'node:http';
import { Server } from 'socket.io';

function usage(msg) {
  if (msg) process.stderr.write(`socketio-room: ${msg}\n`);
  process.stderr.write('usage: node bench/peers/socketio-room.mjs --port P [--host 127.0.0.1]\n');
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

const httpServer = createServer();
const io = new Server(httpServer, {
  transports: ['websocket'],
  perMessageDeflate: false,
  httpCompression: false,
  serveClient: false,
});

io.on('connection', (socket) => {
  socket.join('bench');
  socket.on('msg', (payload, ack) => {
    socket.to('bench').emit('msg', payload);
    if (typeof ack === 'function') ack();
  });
});

httpServer.on('error', (err) => {
  process.stderr.write(`socketio-room: ${err.message}\n`);
  process.exit(1);
});
httpServer.listen(port, host, () => {
  process.stdout.write(`listening ${httpServer.address().port}\n`);
});

const CLIENTS = () => io.engine.clientsCount;
let stopping = false;
function stop(sig) {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`socketio-room: ${sig}: closing ${CLIENTS()} clients\n`);
  io.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
