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

import { parseListenArgs, stopOnSignals } from './peer-server.mjs';

const { host, port } = parseListenArgs('ws-broadcast');

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

stopOnSignals('ws-broadcast', () => wss.clients.size, (done) => {
  for (const c of wss.clients) c.terminate();
  wss.close(done);
});
