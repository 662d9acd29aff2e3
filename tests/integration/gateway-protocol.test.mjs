// Gateway v10 protocol (docs/gateway.md): discovery endpoints, Hello,
// heartbeats and their timeout, every close code of the table, the RFC 6455
// layer (masking, UTF-8, message size, control frames, fragmentation, close
// handshake), bad upgrade requests, and graceful shutdown (op 7 + 4000).
//
// Raw client: lib/gateway.mjs (node:net, so that malformed frames can be sent).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, FAST_FLAGS, register, createGuild, request, expectStatus, rawExchange, statusCodes,
  postMessage, assertAlive, sleep, uniqueName,
} from './lib/server.mjs';
import {
  GatewayClient, OP, INTENTS, APP_FLAGS, WS_OP, createBot, addBot, mergeFlags, destroyAll, shardOf,
} from './lib/gateway.mjs';

const TEST_MS = 120_000;
const HB_MS = 1000; // --heartbeat-interval-ms of the `hb` server

let srv; // defaults (FAST_FLAGS)
let hb; // --heartbeat-interval-ms 1000
let misc; // --max-guilds-per-shard 1, --public-url, --allow-privileged-intents, --identify-limit 3, --identify-timeout-ms 1500
const clients = [];

before(async () => {
  [srv, hb, misc] = await Promise.all([
    startServer(),
    startServer({ extraArgs: mergeFlags(FAST_FLAGS, ['--heartbeat-interval-ms', String(HB_MS)]) }),
    startServer({
      extraArgs: mergeFlags(FAST_FLAGS, [
        '--max-guilds-per-shard', '1',
        '--public-url', 'http://chat.example.test:9999',
        '--allow-privileged-intents',
        '--identify-limit', '3',
        '--identify-timeout-ms', '1500',
      ]),
    }),
  ]);
});

after(async () => {
  destroyAll(clients);
  for (const s of [srv, hb, misc]) if (s) await s.stopAndAssertClean();
});

/** Open a connection (tracked for cleanup). */
async function conn(server, opts = {}) {
  const gw = await GatewayClient.connect(server.port, opts);
  clients.push(gw);
  return gw;
}

/** Open, identify, return the client. */
async function session(server, token, identifyOpts = {}, connectOpts = {}) {
  const gw = await conn(server, connectOpts);
  await gw.identify(token, identifyOpts);
  return gw;
}

/** Send payload (object, or a string sent as is) on a fresh connection and expect close `code`. */
async function expectCloseFor(server, payload, code, what, { query } = {}) {
  const gw = await conn(server, query ? { query } : {});
  if (typeof payload === 'string') gw.sendText(payload);
  else gw.send(payload);
  await gw.expectClose(code, 20_000, what);
  return gw;
}

async function userInGuild(server) {
  const u = await register(server);
  const g = await createGuild(u.client);
  return { ...u, guild: g.guild, general: g.general };
}

// ---------------------------------------------------------------- discovery

test('GET /gateway: no auth, {url: ws://<Host>}; --public-url is used when given', { timeout: TEST_MS }, async () => {
  const res = await request(srv, 'GET', '/gateway');
  const body = expectStatus(res, 200, 'GET /gateway without a token');
  assert.deepEqual(Object.keys(body).sort(), ['url'], `GET /gateway keys: ${res.text}`);
  assert.equal(body.url.replace(/\/$/, ''), `ws://127.0.0.1:${srv.port}`, 'url is built from the Host header');

  const pub = expectStatus(await request(misc, 'GET', '/gateway'), 200);
  assert.equal(pub.url.replace(/\/$/, ''), 'ws://chat.example.test:9999', '--public-url http://… → ws://…');
});

test('READY\'s resume_gateway_url names the Host used; a Host past a name and a port is not kept', { timeout: TEST_MS }, async () => {
  const u = await register(srv);
  const named = await GatewayClient.connect(srv.port, { headers: { Host: 'chat.example:8443' } });
  const { ready } = await named.identify(u.token, { intents: INTENTS.GUILDS });
  assert.equal(ready.resume_gateway_url, 'ws://chat.example:8443');
  named.destroy();
  // 15 KB of Host (an idle socket would keep it until Identify): dropped.
  const long = await GatewayClient.connect(srv.port, { headers: { Host: `${'a'.repeat(15_000)}.example` } });
  const r = await long.identify(u.token, { intents: INTENTS.GUILDS });
  assert.equal(r.ready.resume_gateway_url, 'ws://localhost');
  long.destroy();
});

test('GET /gateway/bot: needs a token; shape; total is --identify-limit (bots) or --user-identify-limit (users)', { timeout: TEST_MS }, async () => {
  const noAuth = await request(srv, 'GET', '/gateway/bot');
  assert.equal(noAuth.status, 401, `GET /gateway/bot without a token: ${noAuth.status} ${noAuth.text}`);
  const u = await register(srv);
  const body = expectStatus(await u.client.get('/gateway/bot'), 200, 'user token');
  assert.equal(body.url.replace(/\/$/, ''), `ws://127.0.0.1:${srv.port}`);
  assert.ok(Number.isInteger(body.shards) && body.shards >= 1, `shards: ${JSON.stringify(body)}`);
  const l = body.session_start_limit;
  assert.ok(l && typeof l === 'object', `session_start_limit: ${JSON.stringify(body)}`);
  assert.equal(l.total, 1000, 'default --identify-limit');
  assert.ok(Number.isInteger(l.remaining) && l.remaining >= 0 && l.remaining <= l.total, `remaining: ${JSON.stringify(l)}`);
  assert.ok(typeof l.reset_after === 'number' && l.reset_after >= 0, `reset_after: ${JSON.stringify(l)}`);
  assert.ok(Number.isInteger(l.max_concurrency) && l.max_concurrency >= 1, `max_concurrency: ${JSON.stringify(l)}`);

  const bad = await request(srv, 'GET', '/gateway/bot', { token: 'Bot nope.nope' });
  assert.equal(bad.status, 401, `bad token: ${bad.status}`);

  const mu = await register(misc);
  const ml = expectStatus(await mu.client.get('/gateway/bot'), 200).session_start_limit;
  assert.equal(ml.total, 1000, 'a user token: its own budget, --user-identify-limit (default 1000)');
  const mb = await createBot(misc, mu.client);
  const bl = expectStatus(await mb.client.get('/gateway/bot'), 200).session_start_limit;
  assert.equal(bl.total, 3, 'a bot: --identify-limit 3');
});

test('GET /gateway/bot: remaining drops by one per bot identify; a user identify counts against its own budget, not the bot\'s', { timeout: TEST_MS }, async () => {
  const owner = await userInGuild(srv);
  const bot = await createBot(srv, owner.client);
  await addBot(owner.client, owner.guild.id, bot.botId);
  const rem = async (c) => expectStatus(await c.get('/gateway/bot'), 200).session_start_limit.remaining;
  const r0 = await rem(bot.client);
  const u0 = await rem(owner.client);
  const s1 = await session(srv, bot.token, { intents: INTENTS.GUILDS });
  assert.equal(await rem(bot.client), r0 - 1, 'after one bot identify');
  const s2 = await session(srv, bot.token, { intents: INTENTS.GUILDS });
  assert.equal(await rem(bot.client), r0 - 2, 'after two bot identifies');
  const s3 = await session(srv, owner.token);
  assert.equal(await rem(owner.client), u0 - 1, "a user identify counts against the user's own budget");
  assert.equal(await rem(bot.client), r0 - 2, "a user identify does not touch the bot's count");
  for (const s of [s1, s2, s3]) s.assertClean();

  // misc: --identify-limit 3
  const mo = await userInGuild(misc);
  const mb = await createBot(misc, mo.client);
  const t0 = await rem(mb.client);
  assert.equal(t0, 3, 'a fresh bot has every identify left');
  await session(misc, mb.token, { intents: INTENTS.GUILDS });
  await session(misc, mb.token, { intents: INTENTS.GUILDS });
  assert.equal(await rem(mb.client), 1);
});

// ---------------------------------------------------------------- hello and heartbeats

test('Hello: op 10 with heartbeat_interval = --heartbeat-interval-ms (default 41250)', { timeout: TEST_MS }, async () => {
  const a = await conn(srv);
  assert.equal(a.hello.op, OP.HELLO);
  assert.equal(a.hello.d.heartbeat_interval, 41250, `Hello: ${JSON.stringify(a.hello)}`);
  assert.equal(a.payloads[0], a.hello, 'Hello is the first payload');
  const b = await conn(hb);
  assert.equal(b.hello.d.heartbeat_interval, HB_MS);
  // v=9 is accepted too
  const c = await conn(srv, { query: 'v=9&encoding=json' });
  assert.equal(c.hello.d.heartbeat_interval, 41250);
  for (const g of [a, b, c]) g.assertClean();
});

test('heartbeat → op 11, before identify and after (d null, then the last seq)', { timeout: TEST_MS }, async () => {
  const gw = await conn(srv);
  for (let i = 0; i < 3; i++) {
    const ack = await gw.heartbeatAck(null);
    assert.equal(ack.op, OP.HEARTBEAT_ACK);
  }
  const u = await userInGuild(srv);
  await gw.identify(u.token);
  assert.ok(gw.seq >= 2, 'READY and a GUILD_CREATE');
  await gw.heartbeatAck(gw.seq);
  gw.assertOpen();
  gw.assertClean();
});

test('no heartbeat: the server asks once (op 1) after 1.25·I, then closes 4009 at 2·I', { timeout: TEST_MS }, async () => {
  const gw = await conn(hb);
  const t0 = Date.now();
  const ask = await gw.next((p) => p.op === OP.HEARTBEAT, 15_000, 'the server’s op 1');
  const tAsk = Date.now() - t0;
  assert.equal(ask.d, null, 'op 1 d is the seq (null before any dispatch)');
  assert.ok(tAsk >= 1.25 * HB_MS - 150, `op 1 came ${tAsk} ms after Hello (expected ≈ ${1.25 * HB_MS})`);
  await gw.expectClose(4009, 15_000);
  const tClose = Date.now() - t0;
  assert.ok(tClose >= 2 * HB_MS - 150, `closed ${tClose} ms after Hello (expected ≈ ${2 * HB_MS})`);
  assert.equal(gw.payloads.filter((p) => p.op === OP.HEARTBEAT).length, 1, 'op 1 is sent once');
  gw.assertClean();
});

test('a client heartbeating every 0.5·I is never asked nor closed', { timeout: TEST_MS }, async () => {
  const u = await userInGuild(hb);
  const gw = await conn(hb);
  gw.startHeartbeating(HB_MS / 2);
  await gw.identify(u.token);
  await sleep(5 * HB_MS);
  gw.assertOpen('after 5 intervals');
  assert.equal(gw.payloads.filter((p) => p.op === OP.HEARTBEAT).length, 0, 'the server never had to ask');
  assert.ok(gw.payloads.filter((p) => p.op === OP.HEARTBEAT_ACK).length >= 5, 'ACKs');
  gw.stopHeartbeating();
  gw.assertClean();
});

test('a heartbeat timeout (4009) leaves the session resumable', { timeout: TEST_MS }, async () => {
  const u = await userInGuild(hb);
  const gw = await conn(hb);
  await gw.identify(u.token);
  await gw.expectClose(4009, 15_000);
  const seq = gw.seq;
  const again = await conn(hb);
  again.startHeartbeating(HB_MS / 2);
  const r = await again.resume(u.token, gw.sessionId, seq);
  assert.ok(r.ok, `resume after 4009 got ${JSON.stringify(r.invalid)}`);
  assert.equal(r.replayed.length, 0);
  await postMessage(u.client, u.general.id, 'after the timeout');
  const m = await again.nextDispatch('MESSAGE_CREATE');
  assert.equal(m.s, seq + 1 + (Number.isInteger(r.resumed.s) ? 1 : 0), 'numbering continues');
  again.stopHeartbeating();
  again.assertClean();
});

// ---------------------------------------------------------------- close codes

test('4001: an opcode a client may not send', { timeout: TEST_MS }, async () => {
  await Promise.all([0, 5, 7, 9, 10, 11, 12, 99].map((op) => expectCloseFor(srv, { op, d: null }, 4001, `op ${op}`)));
  // op 4 (voice) after identify is allowed (ignored)
  const u = await userInGuild(srv);
  const gw = await session(srv, u.token);
  gw.send({ op: OP.VOICE_STATE_UPDATE, d: { guild_id: u.guild.id, channel_id: null, self_mute: false, self_deaf: false } });
  await gw.heartbeatAck();
  gw.assertOpen('after op 4');
});

test('4002: not JSON, not an object, bad op, wrong field type, binary frame, over 4096 bytes', { timeout: TEST_MS }, async () => {
  const u = await userInGuild(srv);
  const cases = [
    ['not JSON', '{"op":1,'],
    ['not JSON (trailing)', '{"op":1,"d":null} x'],
    ['an array', '[1,2]'],
    ['a string', '"hello"'],
    ['a number', '42'],
    ['null', 'null'],
    ['op missing', '{"d":null}'],
    ['op as string', '{"op":"1","d":null}'],
    ['op not an integer', '{"op":1.5,"d":null}'],
    ['op null', '{"op":null,"d":null}'],
    ['identify token a number', JSON.stringify({ op: 2, d: { token: 12345, intents: 513, properties: {} } })],
    ['identify d a string', JSON.stringify({ op: 2, d: 'token' })],
    ['heartbeat d a string', '{"op":1,"d":"12"}'],
    ['resume seq a string', JSON.stringify({ op: 6, d: { token: u.token, session_id: 'x', seq: 'one' } })],
  ];
  await Promise.all(cases.map(([what, text]) => expectCloseFor(srv, text, 4002, what)));

  // a binary frame (valid JSON inside)
  const bin = await conn(srv);
  bin.sendBinary(Buffer.from('{"op":1,"d":null}'));
  await bin.expectClose(4002, 20_000, 'binary frame');

  // 4096 bytes is fine, 4097 is not (padding in identify properties)
  const sized = (n) => {
    const base = GatewayClient.identifyPayload(u.token, { properties: { os: '', browser: 'parley', device: 'parley' } });
    const len = Buffer.byteLength(JSON.stringify(base));
    base.d.properties.os = 'x'.repeat(n - len);
    const text = JSON.stringify(base);
    assert.equal(Buffer.byteLength(text), n);
    return text;
  };
  const ok = await conn(srv);
  ok.sendText(sized(4096));
  const r = await ok.nextDispatch('READY');
  assert.equal(r.d.user.id, u.user.id, 'a 4096-byte identify is accepted');
  await expectCloseFor(srv, sized(4097), 4002, '4097-byte payload');

  // unsupported encoding / compress in the query
  for (const query of ['v=10&encoding=xml', 'v=10&encoding=erlpack', 'v=10&encoding=json&compress=gzip', 'v=10&encoding=json&compress=zlib']) {
    const gw = await conn(srv, { query, waitHello: false });
    await gw.expectClose(4002, 20_000, query);
  }
  await assertAlive(srv, u.token);
});

test('4003: op 3, 4 or 8 before Identify', { timeout: TEST_MS }, async () => {
  const u = await userInGuild(srv);
  await Promise.all([
    expectCloseFor(srv, { op: 3, d: { since: null, activities: [], status: 'online', afk: false } }, 4003, 'op 3'),
    expectCloseFor(srv, { op: 4, d: { guild_id: u.guild.id, channel_id: null, self_mute: false, self_deaf: false } }, 4003, 'op 4'),
    expectCloseFor(srv, { op: 8, d: { guild_id: u.guild.id, query: '', limit: 0 } }, 4003, 'op 8'),
  ]);
});

test('4004: identify or resume with a token that does not authenticate', { timeout: TEST_MS }, async () => {
  const u = await userInGuild(srv);
  await expectCloseFor(srv, GatewayClient.identifyPayload('not-a-token'), 4004, 'garbage token');
  await expectCloseFor(srv, GatewayClient.identifyPayload(''), 4004, 'empty token');
  // a real session, to resume with a bad token
  const live = await session(srv, u.token);
  await expectCloseFor(srv, { op: 6, d: { token: 'not-a-token', session_id: live.sessionId, seq: live.seq } }, 4004, 'resume, garbage token');
  // a token that worked and was revoked
  const v = await register(srv);
  expectStatus(await v.client.post('/auth/logout', {}), 204, 'logout');
  await expectCloseFor(srv, GatewayClient.identifyPayload(v.token), 4004, 'logged-out token');
  // the good one still works
  live.assertOpen();
  await live.heartbeatAck();
});

test('logout ends the open sessions of that token with 4004 (and only those); they cannot resume', { timeout: TEST_MS }, async () => {
  const u = await userInGuild(srv);
  const login = expectStatus(await request(srv, 'POST', '/auth/login', { body: { login: u.name, password: u.password } }), 200, 'second login');
  const other = srv.client(login.token);
  const a = await session(srv, u.token);   // identified with the first token
  const b = await session(srv, login.token); // the second
  const idA = a.sessionId;
  const seqA = a.seq;
  expectStatus(await u.client.post('/auth/logout', {}), 204, 'logout of the first token');
  await a.expectClose(4004, 20_000, 'the logged-out token\'s session');
  // The other token's session lives on and keeps receiving events.
  const m = await postMessage(other, u.general.id, 'still here');
  await b.nextDispatch('MESSAGE_CREATE', (d) => d.id === m.id);
  b.assertOpen();
  // The ended session cannot be resumed, not even with the live token: op 9.
  const r = await conn(srv);
  r.send({ op: 6, d: { token: login.token, session_id: idA, seq: seqA } });
  const inv = await r.next((p) => p.op === OP.INVALID_SESSION || p.op === OP.DISPATCH, 20_000, 'op 9');
  assert.equal(inv.op, OP.INVALID_SESSION, `the ended session resumed: ${JSON.stringify(inv)}`);
  r.destroy();
  b.destroy();
});

test('4005: identify twice; resume after identify', { timeout: TEST_MS }, async () => {
  const u = await userInGuild(srv);
  const a = await session(srv, u.token);
  a.send(GatewayClient.identifyPayload(u.token));
  await a.expectClose(4005, 20_000, 'second identify');
  const b = await session(srv, u.token);
  b.send({ op: 6, d: { token: u.token, session_id: b.sessionId, seq: b.seq } });
  await b.expectClose(4005, 20_000, 'resume on an identified connection');
});

test('4007: resume with a seq the session never sent', { timeout: TEST_MS }, async () => {
  const u = await userInGuild(srv);
  const a = await session(srv, u.token);
  const seq = a.seq;
  await a.destroy();
  const b = await conn(srv);
  b.send({ op: 6, d: { token: u.token, session_id: a.sessionId, seq: seq + 5 } });
  await b.expectClose(4007, 20_000);
});

test('4008: 120 payloads in a minute are fine, the 121st closes', { timeout: TEST_MS }, async () => {
  const gw = await conn(srv);
  for (let i = 0; i < 120; i++) gw.heartbeat(null);
  for (let i = 0; i < 120; i++) await gw.next((p) => p.op === OP.HEARTBEAT_ACK, 20_000, `ACK ${i + 1}/120`);
  gw.assertOpen('after 120 heartbeats');
  gw.heartbeat(null);
  await gw.expectClose(4008, 20_000, '121st payload');
  gw.assertClean();
});

test('4010: shard not [i, n] with 0 ≤ i < n ≤ 1024', { timeout: TEST_MS }, async () => {
  const u = await userInGuild(srv);
  const bad = [[1, 1], [2, 1], [0, 0], [-1, 2], [0, 1025], [5, 5], [0], [0, 1, 2], []];
  await Promise.all(bad.map((shard) => expectCloseFor(srv, GatewayClient.identifyPayload(u.token, { shard }), 4010, `shard ${JSON.stringify(shard)}`)));
  // the edges that are valid
  const a = await session(srv, u.token, { shard: [0, 1024] });
  assert.deepEqual(a.ready.shard, [0, 1024]);
  const b = await session(srv, u.token, { shard: [1023, 1024] });
  assert.deepEqual(b.ready.shard, [1023, 1024]);
});

test('4011: a shard over --max-guilds-per-shard; sharding fixes it', { timeout: TEST_MS }, async () => {
  const u = await userInGuild(misc); // --max-guilds-per-shard 1
  const one = await session(misc, u.token);
  assert.equal(one.ready.guilds.length, 1, 'one guild is within the limit');
  const g2 = await createGuild(u.client);
  await expectCloseFor(misc, GatewayClient.identifyPayload(u.token), 4011, 'two guilds on one shard');
  // pick n so that the two guilds land on different shards
  let n = 2;
  while (shardOf(u.guild.id, n) === shardOf(g2.guild.id, n)) n++;
  for (const g of [u.guild.id, g2.guild.id]) {
    const s = await session(misc, u.token, { shard: [shardOf(g, n), n] });
    assert.deepEqual(s.ready.guilds.map((x) => x.id), [g], `shard [${shardOf(g, n)}, ${n}]`);
  }
});

test('4012: v not 9/10; no v at all is v10', { timeout: TEST_MS }, async () => {
  for (const query of ['v=8&encoding=json', 'v=11&encoding=json', 'v=abc&encoding=json', 'v=&encoding=json']) {
    const gw = await conn(srv, { query, waitHello: false });
    await gw.expectClose(4012, 20_000, `query "${query}"`);
  }
  // oceanic.js's gateway URL override connects without a query.
  for (const query of ['encoding=json', '']) {
    const gw = await conn(srv, { query });
    assert.equal(gw.hello.op, 10, `query "${query}": Hello`);
    gw.destroy();
  }
});

test('4013: intents missing (bots), not an integer, negative, or undefined bits', { timeout: TEST_MS }, async () => {
  const owner = await userInGuild(srv);
  const bot = await createBot(srv, owner.client);
  await addBot(owner.client, owner.guild.id, bot.botId);
  const botCases = [
    ['bot without intents', GatewayClient.identifyPayload(bot.token)],
    ['intents as string', GatewayClient.identifyPayload(bot.token, { intents: '513' })],
    ['intents negative', GatewayClient.identifyPayload(bot.token, { intents: -1 })],
    ['intents fractional', GatewayClient.identifyPayload(bot.token, { intents: 1.5 })],
    ['intents bit 30', GatewayClient.identifyPayload(bot.token, { intents: 2 ** 30 })],
    ['intents bit 18', GatewayClient.identifyPayload(bot.token, { intents: INTENTS.GUILDS | (1 << 18) })],
    ['user with undefined bits', GatewayClient.identifyPayload(owner.token, { intents: 2 ** 40 })],
  ];
  await Promise.all(botCases.map(([what, p]) => expectCloseFor(srv, p, 4013, what)));
  // users may omit intents
  const u = await session(srv, owner.token);
  assert.equal(u.ready.user.id, owner.user.id);
  // every defined bit is accepted from a user (privileged ones too)
  const all = ((1 << 17) - 1) + 2 ** 20 + 2 ** 21 + 2 ** 24 + 2 ** 25;
  const v = await session(srv, owner.token, { intents: all });
  v.assertClean();
});

test('4014: privileged intents need the application flag; PATCH /applications/{id} grants them', { timeout: TEST_MS }, async () => {
  const owner = await userInGuild(srv);
  const bot = await createBot(srv, owner.client);
  await addBot(owner.client, owner.guild.id, bot.botId);
  const base = INTENTS.GUILDS | INTENTS.GUILD_MESSAGES;
  for (const [name, bit] of [['MESSAGE_CONTENT', INTENTS.MESSAGE_CONTENT], ['GUILD_MEMBERS', INTENTS.GUILD_MEMBERS], ['GUILD_PRESENCES', INTENTS.GUILD_PRESENCES]]) {
    await expectCloseFor(srv, GatewayClient.identifyPayload(bot.token, { intents: base | bit }), 4014, name);
  }
  // someone else cannot grant them
  const other = await register(srv);
  const denied = await other.client.patch(`/applications/${bot.appId}`, { flags: APP_FLAGS.GATEWAY_MESSAGE_CONTENT });
  assert.ok(denied.status >= 400 && denied.status < 500, `PATCH another user's application: ${denied.status} ${denied.text}`);
  await expectCloseFor(srv, GatewayClient.identifyPayload(bot.token, { intents: base | INTENTS.MESSAGE_CONTENT }), 4014, 'after a refused PATCH');

  // the owner grants MESSAGE_CONTENT
  const patched = await owner.client.patch(`/applications/${bot.appId}`, { flags: APP_FLAGS.GATEWAY_MESSAGE_CONTENT });
  assert.equal(patched.status, 200, `owner PATCH flags: ${patched.status} ${patched.text}`);
  const gw = await session(srv, bot.token, { intents: base | INTENTS.MESSAGE_CONTENT });
  assert.equal(gw.ready.application.id, bot.appId);
  assert.ok(gw.ready.application.flags & APP_FLAGS.GATEWAY_MESSAGE_CONTENT, `READY.application.flags: ${JSON.stringify(gw.ready.application)}`);
  const m = await postMessage(owner.client, owner.general.id, 'content for a privileged bot');
  const got = await gw.nextDispatch('MESSAGE_CREATE', (d) => d.id === m.id);
  assert.equal(got.d.content, 'content for a privileged bot', 'MESSAGE_CONTENT granted → content');
  // still no GUILD_MEMBERS
  await expectCloseFor(srv, GatewayClient.identifyPayload(bot.token, { intents: base | INTENTS.GUILD_MEMBERS }), 4014, 'GUILD_MEMBERS not granted');

  // *_LIMITED bits grant too
  const b2 = await createBot(srv, owner.client);
  expectStatus(await owner.client.patch(`/applications/${b2.appId}`, {
    flags: APP_FLAGS.GATEWAY_PRESENCE_LIMITED | APP_FLAGS.GATEWAY_GUILD_MEMBERS_LIMITED | APP_FLAGS.GATEWAY_MESSAGE_CONTENT_LIMITED,
  }), 200);
  await session(srv, b2.token, { intents: base | INTENTS.GUILD_PRESENCES | INTENTS.GUILD_MEMBERS | INTENTS.MESSAGE_CONTENT });

  // users are never refused a privileged intent
  await session(srv, owner.token, { intents: base | INTENTS.GUILD_PRESENCES | INTENTS.GUILD_MEMBERS | INTENTS.MESSAGE_CONTENT });

  // --allow-privileged-intents: every bot may
  const mo = await register(misc);
  const mb = await createBot(misc, mo.client);
  await session(misc, mb.token, { intents: base | INTENTS.GUILD_PRESENCES | INTENTS.GUILD_MEMBERS | INTENTS.MESSAGE_CONTENT });
  gw.assertClean();
});

// ---------------------------------------------------------------- RFC 6455

test('RFC 6455: unmasked frame → 1002; bad control frames and fragmentation → 1002', { timeout: TEST_MS }, async () => {
  const hbText = '{"op":1,"d":null}';
  const cases = [
    ['unmasked text frame', (gw) => gw.sendFrame(WS_OP.TEXT, hbText, { mask: false })],
    ['unmasked ping', (gw) => gw.sendFrame(WS_OP.PING, 'x', { mask: false })],
    ['ping over 125 bytes', (gw) => gw.sendFrame(WS_OP.PING, Buffer.alloc(126, 0x61))],
    ['fragmented ping', (gw) => {
      gw.sendFrame(WS_OP.PING, 'ab', { fin: false });
      gw.sendFrame(WS_OP.CONT, 'cd');
    }],
    ['continuation without a message', (gw) => gw.sendFrame(WS_OP.CONT, hbText)],
    ['new text frame inside a fragmented message', (gw) => {
      gw.sendFrame(WS_OP.TEXT, '{"op":1,', { fin: false });
      gw.sendFrame(WS_OP.TEXT, '"d":null}');
    }],
    ['RSV1 set', (gw) => gw.sendFrame(WS_OP.TEXT, hbText, { rsv: 4 })],
    ['reserved opcode 3', (gw) => gw.sendFrame(3, hbText)],
    ['reserved control opcode 0xB', (gw) => gw.sendFrame(0xb, '')],
    ['close frame with a 1-byte payload', (gw) => gw.sendFrame(WS_OP.CLOSE, Buffer.from([3]))],
  ];
  await Promise.all(cases.map(async ([what, act]) => {
    const gw = await conn(srv);
    act(gw);
    await gw.expectClose(1002, 20_000, what);
  }));
});

test('RFC 6455: invalid UTF-8 in a text frame → 1007', { timeout: TEST_MS }, async () => {
  const gw = await conn(srv);
  gw.sendText(Buffer.concat([Buffer.from('{"op":1,"d":null,"x":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]));
  await gw.expectClose(1007);
  // a multi-byte character split across two fragments is fine
  const u = await userInGuild(srv);
  const ok = await conn(srv);
  const text = Buffer.from(JSON.stringify(GatewayClient.identifyPayload(u.token, { properties: { os: 'é€😀', browser: 'parley', device: 'parley' } })));
  const cut = text.indexOf(0xf0) + 2; // inside the 4-byte sequence
  ok.sendFragmented(WS_OP.TEXT, text, [cut, text.length - cut]);
  await ok.nextDispatch('READY');
  ok.assertClean();
});

test('RFC 6455: a message over 16 KiB → 1009 (single frame or fragments)', { timeout: TEST_MS }, async () => {
  const big = JSON.stringify({ op: 1, d: null, pad: 'x'.repeat(20_000) });
  const a = await conn(srv);
  a.sendText(big);
  await a.expectClose(1009, 20_000, '20 KB frame');
  const b = await conn(srv);
  b.sendFragmented(WS_OP.TEXT, big, 5);
  await b.expectClose(1009, 20_000, '20 KB in 5 fragments');
});

test('RFC 6455: ping → pong with the same payload; fragments with a ping between them', { timeout: TEST_MS }, async () => {
  const gw = await conn(srv);
  for (const payload of [Buffer.alloc(0), Buffer.from('hello'), Buffer.alloc(125, 0x7a)]) {
    const pong = await gw.ping(payload);
    assert.ok(pong && pong.equals(payload), `pong payload ${pong && pong.toString('hex')} != ${payload.toString('hex')}`);
  }
  // a heartbeat in 3 fragments with pings in between: pongs and one ACK
  const pongsBefore = gw.pongs.length;
  gw.sendFragmented(WS_OP.TEXT, '{"op":1,"d":null}', 3, { between: (i) => gw.sendFrame(WS_OP.PING, `p${i}`) });
  await gw.next((p) => p.op === OP.HEARTBEAT_ACK, 20_000, 'ACK');
  const deadline = Date.now() + 10_000;
  while (gw.pongs.length < pongsBefore + 2 && Date.now() < deadline) await sleep(20);
  assert.deepEqual(gw.pongs.slice(pongsBefore).map(String), ['p0', 'p1']);
  gw.assertOpen();
  gw.assertClean();
});

test('RFC 6455: client close 1000 → the server echoes a close frame and closes TCP', { timeout: TEST_MS }, async () => {
  const gw = await conn(srv);
  const info = await Promise.race([gw.close(1000, 'bye'), sleep(20_000).then(() => null)]);
  assert.ok(info, 'connection not closed within 20 s of our close frame');
  assert.ok(info.closeFrame, 'the server answered with a close frame');
  assert.equal(info.code, 1000, `echoed code: ${JSON.stringify(info)}`);
  gw.assertClean();
  // an identified session too
  const u = await userInGuild(srv);
  const s = await session(srv, u.token);
  const i2 = await Promise.race([s.close(1000), sleep(20_000).then(() => null)]);
  assert.ok(i2 && i2.closeFrame && i2.code === 1000, `identified session close: ${JSON.stringify(i2)}`);
});

test('bad upgrade requests get an HTTP error, not a 101', { timeout: TEST_MS }, async () => {
  const req = (headers) =>
    `GET /?v=10&encoding=json HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${headers}\r\n`;
  const noKey = await rawExchange(srv.port, req('Sec-WebSocket-Version: 13\r\n'));
  assert.deepEqual(statusCodes(noKey.data).slice(0, 1), [400], `no key: ${noKey.data.toString().slice(0, 200)}`);
  const badKey = await rawExchange(srv.port, req('Sec-WebSocket-Key: abc\r\nSec-WebSocket-Version: 13\r\n'));
  assert.deepEqual(statusCodes(badKey.data).slice(0, 1), [400], `invalid key: ${badKey.data.toString().slice(0, 200)}`);
  const v8 = await rawExchange(srv.port, req('Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n'));
  const code = statusCodes(v8.data)[0];
  assert.ok(code === 400 || code === 426, `version 8: ${v8.data.toString().slice(0, 200)}`);
  if (code === 426) assert.match(v8.data.toString('latin1'), /\r\nSec-WebSocket-Version:\s*13\r\n/i, '426 names version 13');
  // and the gateway is only outside /api
  await assert.rejects(GatewayClient.connect(srv.port, { path: '/api/v10/gateway', waitHello: false }), (e) => Number.isInteger(e.status) && e.status !== 101);
  // a correct one on another path works
  const gw = await conn(srv, { path: '/somewhere' });
  assert.equal(gw.hello.op, OP.HELLO);
});

test('graceful shutdown: every connection gets op 7 Reconnect, then close 4000', { timeout: TEST_MS }, async () => {
  const s = await startServer();
  try {
    const u = await userInGuild(s);
    const a = await GatewayClient.open(s.port, u.token);
    const b = await GatewayClient.connect(s.port);
    const stopped = s.stopAndAssertClean();
    for (const [what, gw] of [['identified', a], ['not identified', b]]) {
      await gw.expectClose(4000, 20_000, what);
      const i7 = gw.payloads.findIndex((p) => p.op === OP.RECONNECT);
      assert.ok(i7 >= 0, `${what}: no op 7 before the close`);
      gw.assertClean(what);
    }
    await stopped;
  } finally {
    await s.stop();
  }
});

test('4003: a connection that does not identify within --identify-timeout-ms is closed, heartbeats or not', { timeout: 60_000 }, async () => {
  const idle = await conn(misc, { label: 'never-identifies' });
  idle.startHeartbeating(300);
  const t0 = Date.now();
  await idle.expectClose(4003, 10_000, 'identify timeout');
  const took = Date.now() - t0;
  assert.ok(took >= 1000 && took < 5000, `closed after ${took} ms (deadline 1500 ms, sweep every 250 ms)`);
  // One that identifies in time stays, well past the deadline.
  const u = await register(misc);
  const ok = await session(misc, u.token, {}, { label: 'identifies' });
  ok.startHeartbeating(300);
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal(ok.closeInfo, null, `an identified session was closed: ${JSON.stringify(ok.closeInfo)}`);
  ok.stopHeartbeating();
  ok.assertClean();
});

test('4008: user tokens have a daily identify budget too (--user-identify-limit)', { timeout: 60_000 }, async () => {
  const s = await startServer({ extraArgs: mergeFlags(FAST_FLAGS, ['--user-identify-limit', '3']) });
  try {
    const u = await register(s);
    for (let i = 0; i < 3; i++) {
      const gw = await session(s, u.token, {}, { label: `identify ${i + 1}` });
      gw.destroy();
    }
    const over = await conn(s, { label: 'identify 4' });
    over.send(GatewayClient.identifyPayload(u.token));
    await over.expectClose(4008, 10_000, 'the fourth identify of the day');
    // Another user has a budget of their own.
    const v = await register(s);
    const ok = await session(s, v.token, {}, { label: 'other user' });
    ok.assertClean();
    ok.destroy();
  } finally {
    await s.stopAndAssertClean();
  }
});
