// Slow consumers (docs/gateway.md: 4000 when pending output exceeds
// --max-pending-bytes; resumable): a session that stops reading is closed
// with 4000 while another session of the same guild, which reads, gets every
// message in order; the server stays up.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, FAST_FLAGS, register, createGuild, createChannel, inviteAndJoin, postMessage, assertAlive, sleep,
} from './lib/server.mjs';
import { GatewayClient, INTENTS, mergeFlags, destroyAll } from './lib/gateway.mjs';

const TEST_MS = 600_000;
const CHANNELS = 4;
const PER_CHANNEL = 1500; // 6000 messages of ~1900 characters: ~13 MB per session
const MAX_PENDING = 65536;
const INT = INTENTS.GUILDS | INTENTS.GUILD_MESSAGES | INTENTS.MESSAGE_CONTENT;

let srv;
const clients = [];
before(async () => {
  srv = await startServer({
    extraArgs: mergeFlags(FAST_FLAGS, ['--max-pending-bytes', String(MAX_PENDING), '--ratelimit-scale', '100000']),
  });
});
after(async () => {
  destroyAll(clients);
  if (srv) await srv.stopAndAssertClean();
});

async function waitUntil(fn, what, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

test(`a session that stops reading is closed with 4000; a reading one gets all ${CHANNELS * PER_CHANNEL} messages in order`, { timeout: TEST_MS }, async (t) => {
  const A = await register(srv); // the slow reader
  const { guild, general } = await createGuild(A.client);
  const B = await register(srv); // posts
  const C = await register(srv); // reads
  await inviteAndJoin(A.client, B.client, general.id);
  await inviteAndJoin(A.client, C.client, general.id);
  const channels = [general];
  while (channels.length < CHANNELS) channels.push(await createChannel(A.client, guild.id));

  const slow = await GatewayClient.connect(srv.port, { label: 'slow' });
  const reader = await GatewayClient.connect(srv.port, { label: 'reader' });
  clients.push(slow, reader);
  await slow.identify(A.token, { intents: INT });
  await reader.identify(C.token, { intents: INT });
  const slowSeq0 = slow.seq;
  slow.pauseReading();

  const filler = 'lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(40).slice(0, 1880);
  const posted = channels.map(() => []);
  const t0 = Date.now();
  await Promise.all(channels.map(async (ch, c) => {
    for (let i = 0; i < PER_CHANNEL; i++) {
      const m = await postMessage(B.client, ch.id, `${c}/${i} ${filler}`);
      posted[c].push(m.id);
    }
  }));
  const total = CHANNELS * PER_CHANNEL;
  t.diagnostic(`posted ${total} messages in ${Date.now() - t0} ms`);

  await waitUntil(() => reader.received('MESSAGE_CREATE').length >= total || reader.closeInfo, `the reader's ${total} messages`, 240_000);
  reader.assertOpen('the reading session must not be cut off');
  const got = reader.received('MESSAGE_CREATE');
  assert.equal(got.length, total, 'the reader got every message (and no more)');
  channels.forEach((ch, c) => {
    assert.deepEqual(got.filter((p) => p.d.channel_id === ch.id).map((p) => p.d.id), posted[c], `channel ${c}: every message, in posting order`);
  });
  assert.ok(got.every((p) => p.d.content.length > 1800), 'full content');
  reader.assertClean('reader');

  // now read what the slow session has buffered: it must end with 4000 (or the TCP connection is gone)
  slow.resumeReading();
  const info = await slow.closedWithin(120_000);
  const slowGot = slow.received('MESSAGE_CREATE').length;
  t.diagnostic(`slow session: ${slowGot} messages before the end, close ${JSON.stringify(info)}, ${slow.bytesReceived} bytes read`);
  assert.ok(info.code === 4000 || !info.closeFrame, `slow consumer closed with ${info.code} "${info.reason}", expected 4000`);
  assert.ok(slowGot < total, 'the slow session was cut off before getting everything');
  slow.checkSeq('slow');
  assert.deepEqual(slow.violations, [], 'slow: what did arrive was well-formed');

  // 4000 leaves the session resumable: the replay buffer (default 1024) decides
  const r = await GatewayClient.connect(srv.port, { label: 'slow-resume' });
  clients.push(r);
  const from = slow.seq ?? slowSeq0;
  const res = await r.resume(A.token, slow.sessionId, from);
  const missed = total - slowGot;
  if (missed > 1024) {
    assert.equal(res.ok, false, `${missed} missed dispatches exceed the default replay buffer`);
    assert.equal(res.invalid.d, false);
  } else {
    assert.ok(res.ok, `resume after 4000 refused with only ${missed} missed`);
    assert.equal(res.replayed.length, missed);
  }
  await assertAlive(srv, A.token, 'after the slow consumer');
  reader.assertOpen();
});

test('a ping flood from a client that never reads is closed at --max-pending-bytes; server memory stays bounded', { timeout: 120_000 }, async () => {
  const net = await import('node:net');
  const crypto = await import('node:crypto');
  const { encodeFrame, WS_OP } = await import('./lib/gateway.mjs');
  const fs = await import('node:fs');
  const rss = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${srv.proc.pid}/status`, 'utf8'))[1]) * 1024;
  const sock = net.connect({ host: '127.0.0.1', port: srv.port });
  await new Promise((r, j) => {
    sock.once('connect', r);
    sock.once('error', j);
  });
  const key = crypto.randomBytes(16).toString('base64');
  sock.write(`GET /?v=10&encoding=json HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  // Read the 101 (and Hello), then never read again.
  await new Promise((r) => sock.once('data', r));
  sock.pause();
  const before = rss();
  const ping = encodeFrame(WS_OP.PING, Buffer.alloc(125, 0x61));
  const chunk = Buffer.concat(Array(512).fill(ping)); // 64 KiB of pings
  let sent = 0;
  let closed = false;
  sock.on('error', () => {
    closed = true;
  });
  sock.on('close', () => {
    closed = true;
  });
  const limit = 256 * 1024 * 1024; // pongs for 256 MiB of pings
  while (!closed && sent < limit) {
    if (!sock.write(chunk)) {
      // The server stopped reading us (it closed), or TCP is full: wait a little.
      await Promise.race([new Promise((r) => sock.once('drain', r)), sleep(2000)]);
      if (sock.writableLength > 8 * 1024 * 1024) break; // it no longer reads: done
    }
    sent += chunk.length;
  }
  const grew = rss() - before;
  sock.destroy();
  // The cap (64 KiB here) plus kernel buffers and allocator slack, never
  // the hundreds of MiB of pongs the client asked for.
  assert.ok(grew < 48 * 1024 * 1024, `server RSS grew by ${(grew / 1048576).toFixed(1)} MiB after ${(sent / 1048576).toFixed(0)} MiB of pings`);
  assert.ok(sent >= 8 * 1024 * 1024 || closed, `the flood ran (${sent} bytes)`);
  const u = await register(srv);
  await assertAlive(srv, u.token, 'after the ping flood');
});
