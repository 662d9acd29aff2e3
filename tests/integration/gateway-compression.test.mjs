// Gateway transport compression (docs/gateway.md "Encoding and compression"):
// compress=zlib-stream (one deflate stream per connection, every payload
// ends with Z_SYNC_FLUSH, binary frames) and compress=zstd-stream (one zstd
// stream, every payload flushed). Three sessions of one user (none, zlib,
// zstd) receive the same 200 MESSAGE_CREATEs: every payload must decode to
// exactly one JSON object (lib/gateway.mjs checks that, and the frame types),
// the decoded payloads must be identical across the three, and the bytes on
// the wire per message must be lower with compression.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, register, createGuild, inviteAndJoin, postMessage } from './lib/server.mjs';
import { GatewayClient, OP, destroyAll } from './lib/gateway.mjs';

const TEST_MS = 240_000;
const N = 200;
const MODES = ['none', 'zlib-stream', 'zstd-stream'];
const query = (mode) => `v=10&encoding=json${mode === 'none' ? '' : `&compress=${mode}`}`;

let srv;
const clients = [];
before(async () => {
  srv = await startServer();
});
after(async () => {
  destroyAll(clients);
  if (srv) await srv.stopAndAssertClean();
});

async function conn(mode) {
  const gw = await GatewayClient.connect(srv.port, { query: query(mode), label: mode });
  clients.push(gw);
  return gw;
}

test(`zlib-stream and zstd-stream: ${N} MESSAGE_CREATEs decode exactly, match the uncompressed ones, and take fewer bytes`, { timeout: TEST_MS }, async (t) => {
  const A = await register(srv);
  const { guild, general } = await createGuild(A.client);
  const B = await register(srv);
  await inviteAndJoin(A.client, B.client, general.id);

  const sessions = {};
  for (const mode of MODES) {
    const gw = await conn(mode);
    assert.equal(gw.hello.op, OP.HELLO, `${mode}: Hello decodes`);
    await gw.identify(A.token);
    assert.equal(gw.guildCreates[0].id, guild.id, `${mode}: GUILD_CREATE decodes`);
    sessions[mode] = gw;
  }
  const posted = [];
  for (let i = 0; i < N; i++) {
    // varied, chat-like content
    const words = ['gateway', 'compression', 'hello', 'parley', 'message', 'stream', 'deflate', 'zstd', 'window', 'flush'];
    const content = `#${i} ` + Array.from({ length: 5 + (i % 17) }, (_, k) => words[(i * 7 + k * 3) % words.length]).join(' ');
    posted.push(await postMessage(B.client, general.id, content));
  }
  const got = {};
  for (const mode of MODES) {
    got[mode] = await sessions[mode].collect('MESSAGE_CREATE', N, null, 120_000);
    assert.deepEqual(got[mode].map((p) => p.d.id), posted.map((m) => m.id), `${mode}: every message, in order`);
    assert.deepEqual(got[mode].map((p) => p.d.content), posted.map((m) => m.content), `${mode}: contents`);
  }
  // identical payloads whatever the transport (`s` may differ between sessions)
  for (const mode of ['zlib-stream', 'zstd-stream']) {
    assert.deepEqual(got[mode].map((p) => p.d), got.none.map((p) => p.d), `${mode}: decoded payloads equal the uncompressed ones`);
  }
  // bytes on the wire per MESSAGE_CREATE
  const avg = {};
  for (const mode of MODES) {
    const bytes = got[mode].map((p) => sessions[mode].wireBytes(p));
    assert.ok(bytes.every((b) => Number.isInteger(b) && b > 0), `${mode}: wire sizes known`);
    avg[mode] = bytes.reduce((x, y) => x + y, 0) / bytes.length;
  }
  const raw = got.none.map((p) => Buffer.byteLength(JSON.stringify(p)));
  t.diagnostic(`average payload JSON ${(raw.reduce((x, y) => x + y, 0) / N).toFixed(1)} B; on the wire per MESSAGE_CREATE: ` +
    MODES.map((m) => `${m} ${avg[m].toFixed(1)} B`).join(', '));
  t.diagnostic(`bytes received per session (whole run): ${MODES.map((m) => `${m} ${sessions[m].bytesReceived}`).join(', ')}`);
  assert.ok(avg['zlib-stream'] < avg.none, `zlib-stream ${avg['zlib-stream']} B/message is not below uncompressed ${avg.none}`);
  assert.ok(avg['zstd-stream'] < avg.none, `zstd-stream ${avg['zstd-stream']} B/message is not below uncompressed ${avg.none}`);
  // streams (not per-message contexts): later messages compress better than the first few
  for (const mode of ['zlib-stream', 'zstd-stream']) {
    const b = got[mode].map((p) => sessions[mode].wireBytes(p));
    const first = b.slice(0, 5).reduce((x, y) => x + y, 0) / 5;
    const last = b.slice(-50).reduce((x, y) => x + y, 0) / 50;
    assert.ok(last < first, `${mode}: the shared stream context should help later messages (${first} → ${last} B)`);
  }

  // heartbeats and ACKs still work, and the streams stay in sync after them
  for (const mode of MODES) {
    await sessions[mode].heartbeatAck();
    const pong = await sessions[mode].ping(Buffer.from('p'));
    assert.equal(String(pong), 'p', `${mode}: control frames are not compressed`);
  }
  const last = await postMessage(B.client, general.id, 'after the heartbeats');
  for (const mode of MODES) {
    await sessions[mode].nextDispatch('MESSAGE_CREATE', (d) => d.id === last.id);
    sessions[mode].assertClean(mode);
  }
});

test('compressed close: a server close frame is a plain close frame; a resume opens a new stream', { timeout: TEST_MS }, async () => {
  const A = await register(srv);
  const { general } = await createGuild(A.client);
  for (const mode of ['zlib-stream', 'zstd-stream']) {
    const gw = await conn(mode);
    await gw.identify(A.token);
    await gw.destroy();
    const m = await postMessage(A.client, general.id, `missed under ${mode}`);
    const r = await conn(mode);
    const res = await r.resume(A.token, gw.sessionId, gw.seq);
    assert.ok(res.ok, `${mode}: resume refused`);
    assert.ok(res.replayed.some((p) => p.d.id === m.id), `${mode}: replayed over the new stream`);
    // a protocol error: the close frame must arrive readable
    r.sendBinary(Buffer.from('{"op":1}'));
    await r.expectClose(4002, 20_000, `${mode}: binary frame from the client`);
    r.assertClean(mode);
  }
});
