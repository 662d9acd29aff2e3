// Gateway payload encodings (docs/gateway.md "Encodings"): encoding=etf
// (Erlang's External Term Format, read and written with erlpack, Discord's
// own library) and encoding=msgpack (Parley's extension, @msgpack/msgpack),
// each alone and under zlib-stream and zstd-stream. A session in each
// combination and a JSON one receive the same events: every payload must
// decode to the same object as its JSON twin (lib/gateway.mjs checks frame
// types and numbering), a client payload in the encoding works both ways
// (identify, heartbeat, presence, resume), and what Discord refuses in ETF
// is refused with 4002.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, register, createGuild, inviteAndJoin, postMessage } from './lib/server.mjs';
import { GatewayClient, OP, INTENTS, destroyAll, encodeFrame, WS_OP, payloadCodec } from './lib/gateway.mjs';

const TEST_MS = 120_000;
const ENCODINGS = ['etf', 'msgpack'];
const COMPRESSIONS = ['none', 'zlib-stream', 'zstd-stream'];
const query = (encoding, compress = 'none') =>
  `v=10&encoding=${encoding}${compress === 'none' ? '' : `&compress=${compress}`}`;

let srv;
const clients = [];
before(async () => {
  srv = await startServer();
});
after(async () => {
  destroyAll(clients);
  if (srv) await srv.stopAndAssertClean();
});

async function conn(encoding, compress = 'none', opts = {}) {
  const gw = await GatewayClient.connect(srv.port, { query: query(encoding, compress), label: `${encoding}/${compress}`, ...opts });
  clients.push(gw);
  return gw;
}

// parley_gateway_frames_encoded_total by encoding.
async function framesEncoded() {
  const text = await (await fetch(`http://127.0.0.1:${srv.port}/metrics`)).text();
  const out = {};
  for (const e of ENCODINGS) {
    const m = text.match(new RegExp(`^parley_gateway_frames_encoded_total\\{encoding="${e}"\\} (\\d+)`, 'm'));
    assert.ok(m, `no parley_gateway_frames_encoded_total for ${e}`);
    out[e] = Number(m[1]);
  }
  return out;
}

// What a decoded payload must equal: its JSON twin's (`s` aside, which each
// session numbers itself).
const body = (p) => ({ op: p.op, t: p.t, d: p.d });

test('every encoding x compression: Hello, READY, GUILD_CREATE and events decode to what JSON sessions get', { timeout: TEST_MS }, async () => {
  const A = await register(srv);
  const { guild, general } = await createGuild(A.client);
  const B = await register(srv);
  await inviteAndJoin(A.client, B.client, general.id);

  const json = await conn('json');
  await json.identify(A.token);
  const sessions = [];
  for (const encoding of ENCODINGS) {
    for (const compress of COMPRESSIONS) {
      const gw = await conn(encoding, compress);
      assert.deepEqual(gw.hello, json.hello, `${gw.label}: Hello`);
      await gw.identify(A.token);
      assert.equal(gw.ready.user.id, A.user.id, `${gw.label}: READY's user`);
      assert.equal(typeof gw.ready.session_id, 'string', `${gw.label}: session_id is a string`);
      assert.deepEqual(gw.guildCreates.map((g) => g.id), [guild.id], `${gw.label}: GUILD_CREATE`);
      assert.deepEqual(gw.guildCreates[0].channels, json.guildCreates[0].channels, `${gw.label}: channels`);
      assert.deepEqual(gw.guildCreates[0].roles, json.guildCreates[0].roles, `${gw.label}: roles`);
      sessions.push(gw);
    }
  }
  // Events with nulls, booleans, empty and nested arrays, snowflakes,
  // Unicode, an embed and a reply; each re-encoded once per encoding,
  // however many sessions use it (/metrics).
  const encoded0 = await framesEncoded();
  const first = await postMessage(B.client, general.id, 'héllo "ETF" 😀 \\ <@' + A.user.id + '>');
  const reply = await postMessage(B.client, general.id, 'a reply', {
    message_reference: { message_id: first.id },
    embeds: [{ title: 'card', description: 'd', fields: [{ name: 'n', value: 'v', inline: true }], color: 16711680 }],
  });
  const want = await json.collect('MESSAGE_CREATE', 2);
  assert.deepEqual(want.map((p) => p.d.id), [first.id, reply.id]);
  for (const gw of sessions) {
    const got = await gw.collect('MESSAGE_CREATE', 2);
    assert.deepEqual(got.map(body), want.map(body), `${gw.label}: MESSAGE_CREATEs`);
    assert.equal(got[1].d.referenced_message.id, first.id, `${gw.label}: the reply's referenced message`);
  }
  const encoded1 = await framesEncoded();
  for (const e of ENCODINGS) {
    assert.equal(encoded1[e] - encoded0[e], 2, `${e}: the 2 MESSAGE_CREATEs were re-encoded once each for ${COMPRESSIONS.length} sessions`);
  }
  // A heartbeat in the encoding is answered; a presence update sent in it
  // reaches the JSON session decoded alike.
  for (const gw of sessions) {
    const ack = await gw.heartbeatAck();
    assert.equal(ack.op, OP.HEARTBEAT_ACK, `${gw.label}: heartbeat ACK`);
  }
  const watcher = await conn('json');
  await watcher.identify(B.token, { intents: INTENTS.GUILDS | INTENTS.GUILD_PRESENCES });
  sessions[1].setPresence('dnd', { activities: [{ name: 'in ETF', type: 0 }], since: Date.now() });
  const presence = await watcher.nextDispatch('PRESENCE_UPDATE', (d) => d.user.id === A.user.id && d.status === 'dnd');
  assert.equal(presence.d.activities[0].name, 'in ETF');
  assert.ok(Number.isInteger(presence.d.activities[0].created_at), "an activity's created_at (ms) is an integer");
  for (const gw of [json, watcher, ...sessions]) gw.assertClean();
});

test('a session resumes in its encoding and gets what it missed, re-encoded', { timeout: TEST_MS }, async () => {
  const A = await register(srv);
  const { general } = await createGuild(A.client);
  for (const encoding of ENCODINGS) {
    const gw = await conn(encoding, 'zlib-stream');
    await gw.identify(A.token);
    const before = gw.seq;
    gw.destroy();
    const missed = await postMessage(A.client, general.id, `missed while away (${encoding})`);
    const again = await conn(encoding);
    const r = await again.resume(A.token, gw.sessionId, before);
    assert.ok(r.ok, `${encoding}: resumed`);
    const messages = r.replayed.filter((p) => p.t === 'MESSAGE_CREATE');
    assert.deepEqual(messages.map((p) => p.d.id), [missed.id], `${encoding}: the missed message, once`);
    assert.equal(messages[0].d.content, missed.content);
    again.assertClean();
  }
});

test('ETF: what Discord refuses is closed with 4002', { timeout: TEST_MS }, async () => {
  const A = await register(srv);
  const etf = payloadCodec('etf');
  const cases = [
    // Atom keys: {op: 1} with op as SMALL_ATOM_EXT (Discord: "you must use string keys").
    ['atom keys', Buffer.from([131, 116, 0, 0, 0, 2, 115, 2, 0x6f, 0x70, 97, 1, 115, 1, 0x64, 115, 3, 0x6e, 0x69, 0x6c]), 'atom keys'],
    ['a compressed term', Buffer.from([131, 80, 0, 0, 0, 5, 0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]), 'compressed'],
    ['not ETF', Buffer.from('{"op":1,"d":null}'), 'version 131'],
    ['a truncated term', etf.encode({ op: 1, d: null }).subarray(0, 9), 'truncated'],
    ['bytes after the term', Buffer.concat([etf.encode({ op: 1, d: null }), Buffer.from([97, 1])]), 'after the term'],
    ['over 4096 bytes', etf.encode({ op: 3, d: { status: 'online', activities: [{ name: 'x'.repeat(4100), type: 0 }], since: null, afk: false } }), 'too large'],
  ];
  for (const [what, bytes, reason] of cases) {
    const gw = await conn('etf');
    gw.sendBinary(bytes);
    const info = await gw.expectClose(4002, undefined, what);
    assert.match(info.reason, new RegExp(reason), `${what}: the close reason says why`);
  }
  // A text frame on an ETF connection, a binary one on a JSON connection.
  const text = await conn('etf');
  text.sendText(JSON.stringify({ op: 1, d: null }));
  await text.expectClose(4002, undefined, 'JSON text on encoding=etf');
  const bin = await conn('json');
  bin.sendBinary(etf.encode({ op: 1, d: null }));
  await bin.expectClose(4002, undefined, 'ETF on encoding=json');
  // A payload that decodes but is wrong is judged like its JSON twin.
  const bad = await conn('etf');
  bad.send({ op: 2, d: { token: A.token, intents: 'all', properties: {} } });
  await bad.expectClose(4013, undefined, 'intents as a string');
  // An unknown encoding.
  const xml = await GatewayClient.connect(srv.port, { query: 'v=10&encoding=xml', waitHello: false });
  clients.push(xml);
  await xml.expectClose(4002, undefined, 'encoding=xml');
});

test('msgpack: bin and ext values, and non-string keys, are closed with 4002', { timeout: TEST_MS }, async () => {
  const cases = [
    ['a bin value', Buffer.from([0x82, 0xa2, 0x6f, 0x70, 0x01, 0xa1, 0x64, 0xc4, 0x01, 0x00]), 'bin values'],
    ['an ext value', Buffer.from([0x82, 0xa2, 0x6f, 0x70, 0x01, 0xa1, 0x64, 0xd4, 0x01, 0x00]), 'ext values'],
    ['an integer key', Buffer.from([0x81, 0x01, 0x01]), 'not a string'],
  ];
  for (const [what, bytes, reason] of cases) {
    const gw = await conn('msgpack');
    gw.sendBinary(bytes);
    const info = await gw.expectClose(4002, undefined, what);
    assert.match(info.reason, new RegExp(reason), `${what}: the close reason says why`);
  }
  // A fragmented binary message is reassembled like a text one.
  const gw = await conn('msgpack');
  const hb = payloadCodec('msgpack').encode({ op: 1, d: null });
  gw.sendFragmented(WS_OP.BINARY, hb, 3);
  const ack = await gw.next((p) => p.op === OP.HEARTBEAT_ACK);
  assert.equal(ack.op, OP.HEARTBEAT_ACK);
  gw.writeRaw(encodeFrame(WS_OP.CLOSE, Buffer.from([0x03, 0xe8])));
  gw.assertClean();
});
