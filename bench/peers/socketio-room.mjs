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

import { parseListenArgs, stopOnSignals } from './peer-server.mjs';

const { host, port } = parseListenArgs('socketio-room');

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

stopOnSignals('socketio-room', () => io.engine.clientsCount, (done) => io.close(done));
