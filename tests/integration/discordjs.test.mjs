// discord.js 14 (the pinned version in package.json) against Parley's gateway
// and REST API: an unmodified bot library logs in, sees its guild, receives
// MESSAGE_CREATE/UPDATE/DELETE, TYPING_START and PRESENCE_UPDATE, sends, edits,
// deletes and pages history; a bot without MESSAGE_CONTENT gets empty content
// except when mentioned; a bad token makes login reject. See docs/gateway.md.
//
// The user side is plain REST (lib/server.mjs) plus, for presences, a minimal
// raw gateway session over the `ws` package.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client as DjsClient, Collection, Events, GatewayIntentBits as I, Status } from 'discord.js';
import WebSocket from 'ws';
import {
  startServer, register, createGuild, createChannel, postMessage, expectStatus, expectError,
  isSnowflake, sleep, uniqueName, until as untilFor, withTimeout,
} from './lib/server.mjs';

/** until() with this file's default wait. */
const until = (fn, what, opts = {}) => untilFor(fn, what, { timeoutMs: WAIT_MS, ...opts });

// The suite runs under ASan on 2 cores: generous, but bounded, waits.
const WAIT_MS = 20_000;
const LOGIN_MS = 60_000;
const TEST_MS = 180_000;

// Application flags (privileged intents granted by the bot's owner).
const GATEWAY_PRESENCE = 1 << 12;
const GATEWAY_GUILD_MEMBERS = 1 << 14;
const GATEWAY_MESSAGE_CONTENT = 1 << 18;
const ALL_PRIVILEGED = GATEWAY_PRESENCE | GATEWAY_GUILD_MEMBERS | GATEWAY_MESSAGE_CONTENT;

let srv;
let owner; // {token, user, client}
let guild; // REST guild object
let general; // the guild's default channel
let chan; // a text channel for events
let histChan; // a text channel for history paging
let app1; // bot with every privileged intent
let app2; // bot with application flags 0
const bots = []; // every discord.js client made here, destroyed in after()
const rawSessions = []; // raw user gateway sessions, closed in after()
let bot1; // {client, log, ...} once ready
let bot2;

// ---------------------------------------------------------------- helpers

const RECORDED = [
  Events.ClientReady, Events.MessageCreate, Events.MessageUpdate, Events.MessageDelete,
  Events.TypingStart, Events.PresenceUpdate, Events.Error, Events.ShardError,
  Events.ShardDisconnect, Events.ShardReconnecting, Events.Warn,
];

/**
 * A discord.js client pointed at the test server, with every interesting
 * event recorded (log[name] = [[...args], ...]) and the last dispatches and
 * debug lines kept for failure messages.
 */
function makeBot(intents, tag) {
  const client = new DjsClient({
    intents,
    rest: { api: `${srv.origin}/api`, version: '10', retries: 1, timeout: 15_000 },
  });
  const log = Object.fromEntries(RECORDED.map((n) => [n, []]));
  for (const n of RECORDED) client.on(n, (...args) => log[n].push(args));
  const raw = []; // every dispatch payload {t, s, d} as received (bounded)
  const debug = [];
  client.on(Events.Raw, (p) => {
    raw.push(p);
    if (raw.length > 2000) raw.shift();
  });
  client.on(Events.Debug, (line) => {
    debug.push(String(line).slice(0, 300));
    if (debug.length > 25) debug.shift();
  });
  const bot = {
    tag,
    client,
    log,
    raw,
    diag: () =>
      `\n[${tag}] last dispatches: ${raw.slice(-40).map((p) => p.t).join(', ') || '(none)'}` +
      `\n[${tag}] errors: ${[...log[Events.Error], ...log[Events.ShardError]].map((a) => String(a[0]?.stack || a[0])).join(' | ') || '(none)'}` +
      `\n[${tag}] disconnects: ${JSON.stringify(log[Events.ShardDisconnect].map((a) => a[0]?.code))}, reconnects: ${log[Events.ShardReconnecting].length}` +
      `\n[${tag}] debug:\n  ${debug.join('\n  ')}` +
      `\n--- server output ---\n${srv.tail(3000)}`,
  };
  bots.push(bot);
  return bot;
}

/** Log a bot in and wait for clientReady ("ready"); returns the bot. */
async function loginAndWaitReady(bot, token) {
  const ready = new Promise((resolve) => bot.client.once(Events.ClientReady, resolve));
  try {
    await withTimeout(bot.client.login(token), LOGIN_MS, `${bot.tag} login`);
    await withTimeout(ready, LOGIN_MS, `${bot.tag} clientReady`);
  } catch (err) {
    assert.fail(`${bot.tag} did not log in: ${err.stack || err}${bot.diag()}`);
  }
  return bot;
}

/**
 * A healthy server lets the first connection through: discord.js silently
 * reconnects after a resumable close (e.g. 4002), which would hide a bug.
 */
function assertNoReconnect(bot) {
  assert.equal(bot.log[Events.ShardReconnecting].length, 0, `${bot.tag} had to reconnect${bot.diag()}`);
}

function requireBot(bot, which) {
  assert.ok(bot, `${which} never became ready (see the test that logs it in)`);
  return bot;
}

/** Wait for a recorded event matching pred; returns its args. */
function waitEvent(bot, name, pred, what) {
  return until(() => bot.log[name].find((args) => pred(...args)), `${bot.tag}: ${name} ${what}`, { diag: bot.diag });
}

/** Wait for a raw dispatch (as the server sent it) of type t matching pred; returns the payload. */
function waitRaw(bot, t, pred, what) {
  return until(() => bot.raw.find((p) => p.t === t && pred(p.d ?? {})), `${bot.tag}: raw ${t} ${what}`, { diag: bot.diag });
}

/** A create-application reply {id, token, bot:{id}}. */
async function createApp(name) {
  const app = expectStatus(await owner.client.post('/applications', { name }), [200, 201], 'create application');
  assert.equal(typeof app.token, 'string', 'application token');
  assert.ok(isSnowflake(app.bot?.id), `application bot.id: ${JSON.stringify(app)}`);
  return app;
}

async function addBotToGuild(app) {
  const res = await owner.client.put(`/guilds/${guild.id}/members/${app.bot.id}`, {});
  assert.ok([200, 201, 204].includes(res.status), `owner adds bot: ${res.status} ${res.text}`);
}

/**
 * A raw user gateway session over `ws`: identify on Hello with `presence`,
 * answer op 1 and heartbeat on the Hello interval. Every payload is kept in
 * `packets`.
 */
function openUserGateway(token, presence) {
  const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/?v=10&encoding=json`);
  const s = { ws, packets: [], seq: null, close: null, error: null, hb: null };
  s.send = (obj) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(obj));
  };
  s.closed = new Promise((resolve) => {
    ws.on('close', (code, reason) => {
      clearInterval(s.hb);
      s.close = { code, reason: reason.toString() };
      resolve(s.close);
    });
  });
  ws.on('error', (e) => {
    s.error = e.message;
  });
  ws.on('message', (data, isBinary) => {
    let p;
    try {
      p = JSON.parse(data.toString());
    } catch {
      s.packets.push({ unparsable: true, isBinary });
      return;
    }
    s.packets.push(p);
    if (p.s != null) s.seq = p.s;
    if (p.op === 10) {
      s.send({
        op: 2,
        d: { token, properties: { os: 'linux', browser: 't', device: 't' }, presence },
      });
      const iv = Number(p.d?.heartbeat_interval) || 41_250;
      s.hb = setInterval(() => s.send({ op: 1, d: s.seq }), iv);
    } else if (p.op === 1) {
      s.send({ op: 1, d: s.seq });
    }
  });
  s.diag = () =>
    `\n[raw user session] close: ${JSON.stringify(s.close)} error: ${s.error}` +
    `\n[raw user session] payloads: ${s.packets.map((p) => (p.op === 0 ? p.t : `op${p.op}`)).join(', ')}`;
  rawSessions.push(s);
  return s;
}

// ---------------------------------------------------------------- set-up

before(async () => {
  srv = await startServer();
  owner = await register(srv, uniqueName('owner'));
  ({ guild, general } = await createGuild(owner.client, uniqueName('djs guild ')));
  chan = await createChannel(owner.client, guild.id, 'events');
  histChan = await createChannel(owner.client, guild.id, 'history');

  app1 = await createApp(uniqueName('djsbot'));
  await addBotToGuild(app1);
  const patched = expectStatus(
    await owner.client.patch(`/applications/${app1.id}`, { flags: ALL_PRIVILEGED }),
    200,
    'owner grants privileged intents',
  );
  if (patched && 'flags' in patched) assert.equal(patched.flags & ALL_PRIVILEGED, ALL_PRIVILEGED, 'PATCH reply flags');

  app2 = await createApp(uniqueName('plainbot'));
  await addBotToGuild(app2);
  expectStatus(await owner.client.patch(`/applications/${app2.id}`, { flags: 0 }), 200, 'bot2 has no privileged intent');
}, { timeout: 120_000 });

after(async () => {
  for (const s of rawSessions) {
    try {
      s.ws.terminate();
    } catch {
      // already closed
    }
  }
  for (const b of bots) {
    try {
      await withTimeout(b.client.destroy(), 10_000, `${b.tag} destroy`);
    } catch {
      // best effort: the server is stopped next anyway
    }
  }
  if (srv) await srv.stopAndAssertClean();
}, { timeout: 60_000 });

// ---------------------------------------------------------------- tests

test('login with a bad token rejects with TokenInvalid (401 from /gateway/bot)', { timeout: TEST_MS }, async () => {
  const direct = await srv.client('certainly.not-a.valid-token', { bot: true }).get('/gateway/bot');
  assert.equal(direct.status, 401, `GET /gateway/bot with a bad token: ${direct.status} ${direct.text}`);
  const bad = makeBot([I.Guilds], 'bad-token bot');
  let err;
  try {
    await withTimeout(bad.client.login('certainly.not-a.valid-token'), LOGIN_MS, 'login with a bad token');
  } catch (e) {
    err = e;
  }
  assert.ok(err, 'login with a bad token resolved');
  assert.equal(err.code, 'TokenInvalid', `expected TokenInvalid, got: ${err.stack || err}${bad.diag()}`);
  assert.equal(bad.log[Events.ClientReady].length, 0, 'no ready event for a bad token');
});

test('bot with privileged intents logs in: ready with its guild available and channels cached', { timeout: TEST_MS }, async () => {
  const b = makeBot(
    [I.Guilds, I.GuildMessages, I.MessageContent, I.GuildMessageTyping, I.GuildPresences, I.GuildMembers],
    'bot1',
  );
  await loginAndWaitReady(b, app1.token);
  bot1 = b; // later tests use it even if a check below fails
  const c = b.client;
  assert.equal(c.user?.id, app1.bot.id, `client.user is the bot${b.diag()}`);
  assert.equal(c.user.bot, true, 'client.user.bot');
  assert.equal(c.application?.id, app1.id, 'READY carries application.id');
  assert.equal(Number(c.application.flags.bitfield) & ALL_PRIVILEGED, ALL_PRIVILEGED, 'READY application.flags has the granted bits');

  const g = c.guilds.cache.get(guild.id);
  assert.ok(g, `guild ${guild.id} not in cache; cached: ${[...c.guilds.cache.keys()]}${b.diag()}`);
  assert.equal(g.available, true, `guild is unavailable (no usable GUILD_CREATE)${b.diag()}`);
  assert.equal(g.name, guild.name);
  assert.equal(g.ownerId, owner.user.id, 'guild.ownerId');
  for (const ch of [general, chan, histChan]) {
    const cached = g.channels.cache.get(ch.id);
    assert.ok(cached, `channel ${ch.name} (${ch.id}) not in cache; cached: ${[...g.channels.cache.values()].map((x) => x.name)}`);
    assert.equal(cached.name, ch.name, 'cached channel name');
    assert.ok(cached.isTextBased(), `channel ${ch.name} is text based`);
    assert.equal(c.channels.cache.get(ch.id)?.id, ch.id, `client.channels has ${ch.name}`);
  }
  assert.ok(g.roles.cache.has(guild.id), '@everyone role (id = guild id) cached');
  assert.ok(g.members.cache.has(app1.bot.id), 'the bot\'s own member is in GUILD_CREATE');
  assert.ok(g.members.cache.has(owner.user.id), 'small guild: GUILD_CREATE lists every member (the owner)');
  assertNoReconnect(b);
});

test('messageCreate fires for a message a user posts over REST', { timeout: TEST_MS }, async () => {
  const b = requireBot(bot1, 'bot1');
  const content = `hello bot ${Date.now()}`;
  const m = await postMessage(owner.client, chan.id, content);
  const [msg] = await waitEvent(b, Events.MessageCreate, (x) => x.id === m.id, `for ${m.id}`);
  assert.equal(msg.content, content, 'content (the bot has MESSAGE_CONTENT)');
  assert.equal(msg.author.id, owner.user.id, 'author');
  assert.equal(msg.author.bot, false, 'author.bot');
  assert.equal(msg.channelId, chan.id, 'channelId');
  assert.equal(msg.guildId, guild.id, 'guildId');
  assert.ok(Math.abs(msg.createdTimestamp - Date.parse(m.timestamp)) <= 1, 'createdTimestamp');
  // discord.js resolves message.member from its cache; check the payload itself
  const raw = await waitRaw(b, 'MESSAGE_CREATE', (d) => d.id === m.id, `for ${m.id}`);
  assert.equal(raw.d.guild_id, guild.id, 'MESSAGE_CREATE.guild_id');
  assert.equal(typeof raw.d.member, 'object', `MESSAGE_CREATE carries member: ${JSON.stringify(raw.d)}`);
  assert.ok(raw.d.member !== null && Array.isArray(raw.d.member.roles), 'member.roles');
  assert.equal(b.log[Events.MessageCreate].filter(([x]) => x.id === m.id).length, 1, 'exactly one messageCreate');
});

test('channel.send / message.edit / message.delete, seen by a user over REST', { timeout: TEST_MS }, async () => {
  const b = requireBot(bot1, 'bot1');
  const channel = b.client.channels.cache.get(chan.id);
  assert.ok(channel, 'channel in cache');

  const content = `from the bot ${Date.now()}`;
  const sent = await withTimeout(channel.send(content), WAIT_MS, 'channel.send');
  assert.ok(isSnowflake(sent.id), `sent.id ${sent.id}`);
  assert.equal(sent.content, content);
  assert.equal(sent.author.id, app1.bot.id);
  const seen = expectStatus(await owner.client.get(`/channels/${chan.id}/messages/${sent.id}`), 200, 'user GETs the bot message');
  assert.equal(seen.content, content);
  assert.equal(seen.author.id, app1.bot.id);
  assert.equal(seen.author.bot, true);
  const latest = expectStatus(await owner.client.get(`/channels/${chan.id}/messages?limit=5`), 200);
  assert.ok(latest.some((x) => x.id === sent.id), 'the bot message is in the user\'s history');
  // its own message comes back over the gateway too (discord.js emits its cached
  // object for it, so check the payload)
  const own = await waitRaw(b, 'MESSAGE_CREATE', (d) => d.id === sent.id, `for own message ${sent.id}`);
  assert.equal(own.d.content, content, 'own MESSAGE_CREATE content');

  const edited = await withTimeout(sent.edit(`${content} (edited)`), WAIT_MS, 'message.edit');
  assert.equal(edited.id, sent.id);
  assert.equal(edited.content, `${content} (edited)`);
  assert.ok(edited.editedTimestamp, 'editedTimestamp set');
  const seenEdit = expectStatus(await owner.client.get(`/channels/${chan.id}/messages/${sent.id}`), 200);
  assert.equal(seenEdit.content, `${content} (edited)`, 'user sees the edit');
  assert.notEqual(seenEdit.edited_timestamp, null, 'edited_timestamp');

  await withTimeout(sent.delete(), WAIT_MS, 'message.delete');
  expectError(await owner.client.get(`/channels/${chan.id}/messages/${sent.id}`), 404, 10008, 'deleted bot message');
});

test('messageUpdate / messageDelete for a user\'s REST edit and delete', { timeout: TEST_MS }, async () => {
  const b = requireBot(bot1, 'bot1');
  const m = await postMessage(owner.client, chan.id, 'to be edited');
  await waitEvent(b, Events.MessageCreate, (x) => x.id === m.id, `for ${m.id}`); // now cached

  const e = expectStatus(await owner.client.patch(`/channels/${chan.id}/messages/${m.id}`, { content: 'edited by user' }), 200);
  const [oldMsg, newMsg] = await waitEvent(b, Events.MessageUpdate, (o, n) => n.id === m.id, `for ${m.id}`);
  assert.equal(newMsg.content, 'edited by user', 'new content');
  assert.equal(oldMsg.content, 'to be edited', 'old content');
  assert.equal(newMsg.editedTimestamp, Date.parse(e.edited_timestamp), 'editedTimestamp');
  assert.equal(newMsg.author.id, owner.user.id);

  const d = await owner.client.del(`/channels/${chan.id}/messages/${m.id}`);
  assert.equal(d.status, 204, `user deletes: ${d.status} ${d.text}`);
  const [gone] = await waitEvent(b, Events.MessageDelete, (x) => x.id === m.id, `for ${m.id}`);
  assert.equal(gone.channelId, chan.id);
  assert.ok(!b.client.channels.cache.get(chan.id).messages.cache.has(m.id), 'deleted message left the cache');
});

test('channel.messages.fetch: latest, before, after, around give the right Collections', { timeout: TEST_MS }, async () => {
  const b = requireBot(bot1, 'bot1');
  const posted = [];
  for (let i = 0; i < 30; i++) posted.push(await postMessage(owner.client, histChan.id, `h${i}`));
  const id = (i) => posted[i].id;
  const range = (hi, lo) => Array.from({ length: hi - lo + 1 }, (_, k) => id(hi - k)); // newest first
  const channel = b.client.channels.cache.get(histChan.id);
  assert.ok(channel, 'history channel in cache');

  const cases = [
    [{ limit: 10 }, range(29, 20), 'latest 10'],
    [{ limit: 100 }, range(29, 0), 'all 30'],
    [{ limit: 5, before: id(10) }, range(9, 5), 'before'],
    [{ limit: 5, before: id(2) }, range(1, 0), 'before near the start'],
    [{ limit: 5, before: id(0) }, [], 'before the oldest'],
    [{ limit: 5, after: id(10) }, range(15, 11), 'after (the messages right after, newest first)'],
    [{ limit: 5, after: id(27) }, range(29, 28), 'after near the end'],
    [{ limit: 5, after: id(29) }, [], 'after the newest'],
    [{ limit: 7, around: id(15) }, range(18, 12), 'around (odd limit, anchor centred)'],
    [{ limit: 1, around: id(4) }, [id(4)], 'around limit 1 is the anchor'],
  ];
  for (const [opts, expected, what] of cases) {
    const got = await withTimeout(channel.messages.fetch(opts), WAIT_MS, `fetch ${what}`);
    assert.ok(got instanceof Collection, `${what}: fetch returns a Collection`);
    assert.deepEqual([...got.keys()], expected, `${what} ${JSON.stringify(opts)}`);
    for (const [k, msg] of got) {
      assert.equal(msg.id, k, 'keyed by id');
      assert.equal(msg.content, `h${posted.findIndex((p) => p.id === k)}`, `${what}: content of ${k}`);
      assert.equal(msg.author.id, owner.user.id);
    }
  }
});

test('typingStart arrives after POST /channels/{id}/typing by a user', { timeout: TEST_MS }, async () => {
  const b = requireBot(bot1, 'bot1');
  const t0 = Date.now();
  const res = await owner.client.post(`/channels/${chan.id}/typing`, {});
  assert.equal(res.status, 204, `typing: ${res.status} ${res.text}`);
  const [typing] = await waitEvent(b, Events.TypingStart, (t) => t.user?.id === owner.user.id, 'from the owner');
  assert.equal(typing.channel.id, chan.id, 'typing channel');
  assert.equal(typing.guild?.id, guild.id, 'typing guild');
  // TYPING_START.timestamp is in seconds (discord.js multiplies by 1000)
  assert.ok(
    Math.abs(typing.startedTimestamp - t0) < 60_000,
    `startedTimestamp ${typing.startedTimestamp} is not close to now (${t0}): timestamp must be unix seconds`,
  );
});

test('presenceUpdate: a user connects a raw gateway session (online), sets dnd, disconnects (offline)', { timeout: TEST_MS }, async () => {
  const b = requireBot(bot1, 'bot1');
  const from = (status) => (o, n) => n?.userId === owner.user.id && n.status === status && n.guild?.id === guild.id;
  const diag = () => s.diag() + b.diag();
  const s = openUserGateway(owner.token, { status: 'online', since: null, activities: [], afk: false });

  const ready = await until(() => s.packets.find((p) => p.op === 0 && p.t === 'READY'), 'READY on the raw user session', { diag });
  assert.equal(ready.d?.user?.id, owner.user.id, 'user READY is the owner');
  await until(() => s.packets.find((p) => p.op === 0 && p.t === 'GUILD_CREATE' && p.d?.id === guild.id), 'GUILD_CREATE on the raw user session', { diag });
  const [, online] = await until(() => b.log[Events.PresenceUpdate].find((a) => from('online')(...a)), 'presenceUpdate online', { diag });
  assert.equal(online.guild.id, guild.id);

  s.send({ op: 3, d: { since: null, activities: [], status: 'dnd', afk: false } });
  await until(() => b.log[Events.PresenceUpdate].find((a) => from('dnd')(...a)), 'presenceUpdate dnd', { diag });
  assert.equal(b.client.guilds.cache.get(guild.id).presences.cache.get(owner.user.id)?.status, 'dnd', 'presence cache');
  assert.equal(s.close, null, `raw session still open${diag()}`);

  s.ws.close(1000);
  await withTimeout(s.closed, WAIT_MS, 'raw session close');
  await until(() => b.log[Events.PresenceUpdate].find((a) => from('offline')(...a)), 'presenceUpdate offline after the last session ends', { diag });
});

test('a bot without MESSAGE_CONTENT gets empty content, except when mentioned or for its own messages', { timeout: TEST_MS }, async () => {
  const b = makeBot([I.Guilds, I.GuildMessages], 'bot2');
  await loginAndWaitReady(b, app2.token);
  assert.equal(b.client.user.id, app2.bot.id);
  assert.equal(b.client.guilds.cache.get(guild.id)?.available, true, `bot2 guild available${b.diag()}`);
  bot2 = b;

  const plain = await postMessage(owner.client, chan.id, 'secret words');
  const [p2] = await waitEvent(b, Events.MessageCreate, (x) => x.id === plain.id, `for ${plain.id}`);
  assert.equal(p2.content, '', 'bot2 (no MESSAGE_CONTENT) gets empty content');
  assert.equal(p2.author.id, owner.user.id, 'author still given');
  assert.equal(p2.embeds.length, 0);
  if (bot1) {
    const [p1] = await waitEvent(bot1, Events.MessageCreate, (x) => x.id === plain.id, `for ${plain.id}`);
    assert.equal(p1.content, 'secret words', 'bot1 (MESSAGE_CONTENT) gets the content');
  }

  const mentionText = `<@${app2.bot.id}> hello there`;
  const mention = await postMessage(owner.client, chan.id, mentionText);
  const [m2] = await waitEvent(b, Events.MessageCreate, (x) => x.id === mention.id, `for ${mention.id}`);
  assert.equal(m2.content, mentionText, 'a message mentioning bot2 keeps its content');
  assert.ok(m2.mentions.users.has(app2.bot.id), 'mentions include bot2');

  const other = await postMessage(owner.client, chan.id, `<@${app1.bot.id}> not you`);
  const [o2] = await waitEvent(b, Events.MessageCreate, (x) => x.id === other.id, `for ${other.id}`);
  assert.equal(o2.content, '', 'a message mentioning another bot is still emptied for bot2');

  // bot2's own message, posted over plain REST so that discord.js builds the
  // message from the gateway payload alone
  const own = await postMessage(srv.client(app2.token, { bot: true }), chan.id, 'my own words');
  const [ownEv] = await waitEvent(b, Events.MessageCreate, (x) => x.id === own.id, `for own ${own.id}`);
  assert.equal(ownEv.content, 'my own words', 'bot2 sees its own message content');
  assertNoReconnect(b);
});

test('the bots stayed connected throughout (no reconnect, no error)', { timeout: TEST_MS }, async () => {
  for (const b of [requireBot(bot1, 'bot1'), requireBot(bot2, 'bot2')]) {
    assertNoReconnect(b);
    assert.deepEqual(b.log[Events.ShardDisconnect], [], `${b.tag} disconnected${b.diag()}`);
    assert.equal(b.log[Events.ShardError].length + b.log[Events.Error].length, 0, `${b.tag} errors${b.diag()}`);
    assert.equal(b.client.ws.status, Status.Ready, `${b.tag} status is Ready`);
  }
});
