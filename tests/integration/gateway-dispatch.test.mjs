// Gateway v10 dispatches (docs/gateway.md "Lifecycle" and "Dispatches"):
// READY and GUILD_CREATE shapes, every event of the table with its `d`, the
// intents filter, the MESSAGE_CONTENT rule, the VIEW_CHANNEL filter (also
// when overwrites change), presences, joins/kicks/leaves, op 8 member
// chunks. "Nothing arrived" checks use a barrier (the owner renames the
// guild; every session waits for that GUILD_UPDATE, which is committed after
// the events under test, and sessions receive events in commit order).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, register, createGuild, createChannel, inviteAndJoin, postMessage, expectStatus,
  assertUserShape, assertMessageShape, assertIsoTimestamp, assertSnowflake, fakeSnowflake, uniqueName,
  P, perms, sleep,
} from './lib/server.mjs';
import {
  GatewayClient, OP, INTENTS, APP_FLAGS, createBot, addBot, barrier, destroyAll,
} from './lib/gateway.mjs';

const TEST_MS = 180_000;

let srv;
const clients = [];

before(async () => {
  srv = await startServer();
});
after(async () => {
  destroyAll(clients);
  if (srv) await srv.stopAndAssertClean();
});

async function conn(opts = {}) {
  const gw = await GatewayClient.connect(srv.port, opts);
  clients.push(gw);
  return gw;
}
async function session(token, identifyOpts = {}, connectOpts = {}) {
  const gw = await conn(connectOpts);
  await gw.identify(token, identifyOpts);
  gw.label = `session ${identifyOpts.label ?? ''}`.trim();
  return gw;
}

/** Owner A with a guild, and `n` more users who joined by invite. */
async function world(n = 1) {
  const A = await register(srv);
  const { guild, general } = await createGuild(A.client);
  const members = [];
  for (let i = 0; i < n; i++) {
    const u = await register(srv);
    await inviteAndJoin(A.client, u.client, general.id);
    members.push(u);
  }
  return { A, guild, general, members };
}

const sortById = (xs) => [...xs].sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
const strip = (d, ...keys) => Object.fromEntries(Object.entries(d).filter(([k]) => !keys.includes(k)));

function assertMember(m, userId, what) {
  assert.ok(m && typeof m === 'object', `${what}: member is not an object`);
  assert.ok(Array.isArray(m.roles), `${what}: member.roles: ${JSON.stringify(m)}`);
  assertIsoTimestamp(m.joined_at, `${what}: member.joined_at`);
  if (userId !== undefined) {
    assert.ok(m.user, `${what}: member.user missing: ${JSON.stringify(m)}`);
    assert.equal(m.user.id, userId, `${what}: member.user.id`);
  }
}

// ---------------------------------------------------------------- READY and GUILD_CREATE

test('READY: v, user (no token), guilds unavailable, session, shard; then GUILD_CREATEs in ascending id', { timeout: TEST_MS }, async () => {
  const A = await register(srv);
  const g1 = (await createGuild(A.client)).guild;
  const g2 = (await createGuild(A.client)).guild;
  const gw = await conn();
  const { ready } = await gw.identify(A.token);
  const readyP = gw.dispatches[0];
  assert.equal(readyP.t, 'READY', 'first dispatch');
  assert.equal(readyP.s, 1, 'READY is s = 1');
  assert.equal(ready.v, 10);
  assertUserShape(ready.user, 'READY.user');
  assert.equal(ready.user.id, A.user.id);
  assert.equal(ready.user.username, A.name);
  assert.deepEqual(sortById(ready.guilds), sortById([g1, g2].map((g) => ({ id: g.id, unavailable: true }))), 'READY.guilds');
  assert.equal(typeof ready.session_id, 'string');
  assert.ok(ready.session_id.length >= 8, `session_id: ${ready.session_id}`);
  assert.equal(ready.session_type, 'normal');
  assert.match(ready.resume_gateway_url, /^wss?:\/\//, 'resume_gateway_url');
  assert.deepEqual(ready.shard, [0, 1], 'shard defaults to [0, 1]');
  assert.deepEqual(ready.private_channels, []);
  assert.deepEqual(ready.relationships, []);
  assert.deepEqual(ready.user_settings, {});
  // one GUILD_CREATE per guild, ascending id, right after READY
  const gcs = gw.dispatches.slice(1, 3);
  assert.deepEqual(gcs.map((p) => p.t), ['GUILD_CREATE', 'GUILD_CREATE']);
  assert.deepEqual(gcs.map((p) => p.d.id), sortById([g1, g2]).map((g) => g.id), 'ascending id');
  assert.deepEqual(gcs.map((p) => p.s), [2, 3]);
  // a second session of the same user has its own id
  const gw2 = await session(A.token);
  assert.notEqual(gw2.ready.session_id, ready.session_id, 'session ids are unique');
  gw.assertClean();
  gw2.assertClean();
});

test('READY for a bot: user.bot, application {id, flags}', { timeout: TEST_MS }, async () => {
  const { A, guild } = await world(0);
  const bot = await createBot(srv, A.client);
  await addBot(A.client, guild.id, bot.botId);
  const gw = await session(bot.token, { intents: INTENTS.GUILDS });
  assert.equal(gw.ready.user.id, bot.botId);
  assert.equal(gw.ready.user.bot, true);
  assertUserShape(gw.ready.user, 'bot READY.user');
  assert.ok(gw.ready.application && typeof gw.ready.application === 'object', `READY.application: ${JSON.stringify(gw.ready)}`);
  assert.equal(gw.ready.application.id, bot.appId);
  assert.equal(typeof gw.ready.application.flags, 'number');
  assert.deepEqual(gw.ready.guilds, [{ id: guild.id, unavailable: true }]);
  assert.equal(gw.guildCreates[0].id, guild.id);
  gw.assertClean();
});

test('GUILD_CREATE: guild, roles, channels with overwrites, members, counts and the empty arrays', { timeout: TEST_MS }, async () => {
  const { A, guild, general, members: [B] } = await world(1);
  const role = expectStatus(await A.client.post(`/guilds/${guild.id}/roles`, { name: 'mods', permissions: perms(P.KICK_MEMBERS) }), [200, 201]);
  const quiet = expectStatus(await A.client.post(`/guilds/${guild.id}/channels`, {
    name: 'quiet', type: 0, permission_overwrites: [{ id: guild.id, type: 0, allow: '0', deny: perms(P.SEND_MESSAGES) }],
  }), [200, 201]);
  const gw = await session(A.token);
  const d = gw.guildCreates[0];
  assert.equal(d.id, guild.id);
  assert.equal(d.name, guild.name);
  assert.equal(d.owner_id, A.user.id);
  // roles
  assert.ok(Array.isArray(d.roles), 'roles');
  const everyone = d.roles.find((r) => r.id === guild.id);
  assert.ok(everyone && everyone.name === '@everyone', `@everyone role: ${JSON.stringify(d.roles)}`);
  const mods = d.roles.find((r) => r.id === role.id);
  assert.ok(mods && mods.name === 'mods' && mods.permissions === perms(P.KICK_MEMBERS), `custom role: ${JSON.stringify(d.roles)}`);
  for (const r of d.roles) assert.equal(typeof r.permissions, 'string', 'role.permissions is a string');
  // channels
  assert.ok(Array.isArray(d.channels), 'channels');
  for (const c of d.channels) {
    assertSnowflake(c.id, 'channel.id');
    assert.ok(Array.isArray(c.permission_overwrites), `channel ${c.id} permission_overwrites: ${JSON.stringify(c)}`);
  }
  assert.deepEqual(d.channels.map((c) => c.id).sort(), [general.id, quiet.id].sort());
  const q = d.channels.find((c) => c.id === quiet.id);
  assert.equal(q.name, 'quiet');
  assert.equal(q.type, 0);
  const ow = q.permission_overwrites.find((o) => o.id === guild.id);
  assert.ok(ow, `overwrite for @everyone: ${JSON.stringify(q)}`);
  assert.equal(ow.type, 0);
  assert.equal(ow.deny, perms(P.SEND_MESSAGES));
  assert.equal(ow.allow, '0');
  // members (2 ≤ large_threshold: all of them)
  assert.equal(d.member_count, 2);
  assert.equal(d.large, false);
  assertIsoTimestamp(d.joined_at, 'joined_at');
  assert.ok(Array.isArray(d.members), 'members');
  assert.deepEqual(d.members.map((m) => m.user.id).sort(), [A.user.id, B.user.id].sort());
  for (const m of d.members) {
    assertMember(m, m.user.id, 'GUILD_CREATE member');
    assertUserShape(m.user, 'member.user');
  }
  // presences: online members only (A is; B has no session)
  assert.ok(Array.isArray(d.presences), 'presences');
  for (const p of d.presences) {
    assert.ok(p.user && typeof p.user.id === 'string', `presence.user: ${JSON.stringify(p)}`);
    assert.notEqual(p.status, 'offline', 'only online members are listed');
    assert.notEqual(p.user.id, B.user.id, 'B is offline');
  }
  for (const k of ['threads', 'voice_states', 'emojis', 'stickers', 'guild_scheduled_events', 'stage_instances']) {
    assert.deepEqual(d[k], [], `GUILD_CREATE.${k}`);
  }
  gw.assertClean();
});

test('GUILD_CREATE: large guilds list only the own member; large_threshold up to 250', { timeout: TEST_MS }, async () => {
  const { A, guild, general } = await world(0);
  const N = 51; // member_count 52 > 50
  await Promise.all(Array.from({ length: N }, async () => {
    const u = await register(srv);
    await inviteAndJoin(A.client, u.client, general.id);
  }));
  const small = await session(A.token);
  const d = small.guildCreates[0];
  assert.equal(d.id, guild.id);
  assert.equal(d.member_count, N + 1);
  assert.equal(d.large, true, 'member_count > 50 → large');
  assert.deepEqual(d.members.map((m) => m.user.id), [A.user.id], 'only the own member');
  const big = await session(A.token, { large_threshold: 250 });
  const d2 = big.guildCreates[0];
  assert.equal(d2.large, false, 'large_threshold 250');
  assert.equal(d2.members.length, N + 1);
  assert.equal(new Set(d2.members.map((m) => m.user.id)).size, N + 1);
  const clamp = await session(A.token, { large_threshold: 100000 });
  assert.equal(clamp.guildCreates[0].members.length, N + 1, 'large_threshold over 250 is clamped, not refused');
});

// ---------------------------------------------------------------- messages

test('MESSAGE_CREATE / UPDATE / DELETE / DELETE_BULK, in order, to every member', { timeout: TEST_MS }, async () => {
  const { A, guild, general, members: [B] } = await world(1);
  const a = await session(A.token);
  const b = await session(B.token);
  const m1 = await postMessage(B.client, general.id, 'hello from B');
  for (const [who, gw] of [['A', a], ['B (own)', b]]) {
    const p = await gw.nextDispatch('MESSAGE_CREATE', (d) => d.id === m1.id);
    const d = p.d;
    assert.equal(d.guild_id, guild.id, `${who}: guild_id`);
    assertMember(d.member, undefined, `${who}: MESSAGE_CREATE.member`);
    assertMessageShape(strip(d, 'guild_id', 'member'), { channelId: general.id, content: 'hello from B', authorId: B.user.id });
    for (const [k, v] of Object.entries(m1)) assert.deepEqual(d[k], v, `${who}: MESSAGE_CREATE.${k} differs from the REST reply`);
  }
  const e = expectStatus(await B.client.patch(`/channels/${general.id}/messages/${m1.id}`, { content: 'edited by B' }), 200);
  const up = (await a.nextDispatch('MESSAGE_UPDATE', (d) => d.id === m1.id)).d;
  assert.equal(up.content, 'edited by B');
  assert.equal(up.guild_id, guild.id);
  assert.equal(up.channel_id, general.id);
  assert.equal(up.author.id, B.user.id);
  assert.equal(up.edited_timestamp, e.edited_timestamp);
  assertIsoTimestamp(up.edited_timestamp, 'MESSAGE_UPDATE.edited_timestamp');

  assert.equal((await B.client.del(`/channels/${general.id}/messages/${m1.id}`)).status, 204);
  const del = (await a.nextDispatch('MESSAGE_DELETE', (d) => d.id === m1.id)).d;
  assert.deepEqual(del, { id: m1.id, channel_id: general.id, guild_id: guild.id });

  const ms = [];
  for (let i = 0; i < 3; i++) ms.push(await postMessage(A.client, general.id, `bulk ${i}`));
  assert.equal((await A.client.post(`/channels/${general.id}/messages/bulk-delete`, { messages: ms.map((m) => m.id) })).status, 204);
  const bulk = (await a.nextDispatch('MESSAGE_DELETE_BULK')).d;
  assert.deepEqual([...bulk.ids].sort(), ms.map((m) => m.id).sort(), 'ids');
  assert.equal(bulk.channel_id, general.id);
  assert.equal(bulk.guild_id, guild.id);
  assert.deepEqual(Object.keys(bulk).sort(), ['channel_id', 'guild_id', 'ids']);
  await b.nextDispatch('MESSAGE_DELETE_BULK');

  // commit order, as seen by both sessions
  const order = ['MESSAGE_CREATE', 'MESSAGE_UPDATE', 'MESSAGE_DELETE', 'MESSAGE_CREATE', 'MESSAGE_CREATE', 'MESSAGE_CREATE', 'MESSAGE_DELETE_BULK'];
  for (const gw of [a, b]) {
    assert.deepEqual(gw.dispatches.filter((p) => p.t.startsWith('MESSAGE_')).map((p) => p.t), order);
    gw.assertClean();
  }
});

test('TYPING_START from POST /channels/{id}/typing', { timeout: TEST_MS }, async () => {
  const { A, guild, general, members: [B] } = await world(1);
  const a = await session(A.token);
  const r = await B.client.post(`/channels/${general.id}/typing`, {});
  assert.equal(r.status, 204);
  const d = (await a.nextDispatch('TYPING_START', (x) => x.user_id === B.user.id)).d;
  assert.equal(d.channel_id, general.id);
  assert.equal(d.guild_id, guild.id);
  assert.ok(Number.isInteger(d.timestamp), `timestamp is an integer (unix seconds): ${d.timestamp}`);
  assert.ok(Math.abs(d.timestamp - Date.now() / 1000) < 120, `timestamp ${d.timestamp} is not now in seconds`);
  assertMember(d.member, undefined, 'TYPING_START.member');
  if (d.member.user) assert.equal(d.member.user.id, B.user.id);
  a.assertClean();
});

// ---------------------------------------------------------------- presences

test('PRESENCE_UPDATE: online on identify, op 3 changes, invisible shows offline, offline when the last session ends', { timeout: TEST_MS }, async () => {
  const { A, guild, members: [B, C] } = await world(2);
  const a = await session(A.token);
  const presenceOf = (uid, status) => (d) => d.user && d.user.id === uid && d.guild_id === guild.id && (!status || d.status === status);

  const b1 = await session(B.token);
  const on = (await a.nextDispatch('PRESENCE_UPDATE', presenceOf(B.user.id))).d;
  assert.equal(on.status, 'online');
  assert.ok(Array.isArray(on.activities), 'activities');
  assert.ok(on.client_status && typeof on.client_status === 'object', `client_status: ${JSON.stringify(on)}`);

  // a session opened now lists B among the presences of GUILD_CREATE
  const late = await session(A.token);
  const pres = late.guildCreates[0].presences;
  const bp = pres.find((p) => p.user.id === B.user.id);
  assert.ok(bp && bp.status === 'online', `GUILD_CREATE.presences lacks B: ${JSON.stringify(pres)}`);
  // Each presence names its guild, as Discord's do (discordeno needs it).
  assert.equal(bp.guild_id, guild.id, `GUILD_CREATE presence without guild_id: ${JSON.stringify(bp)}`);

  b1.setPresence('dnd', { activities: [{ name: 'testing', type: 0 }] });
  const dnd = (await a.nextDispatch('PRESENCE_UPDATE', presenceOf(B.user.id, 'dnd'))).d;
  assert.equal(dnd.activities.length, 1);
  assert.equal(dnd.activities[0].name, 'testing');
  b1.setPresence('invisible');
  await a.nextDispatch('PRESENCE_UPDATE', presenceOf(B.user.id, 'offline'));
  b1.setPresence('idle');
  await a.nextDispatch('PRESENCE_UPDATE', presenceOf(B.user.id, 'idle'));

  // B has two sessions: closing one (1000) keeps B online; closing the last makes B offline
  const b2 = await session(B.token);
  await b2.close(1000);
  await barrier(A.client, guild.id, [a]);
  assert.equal(a.received('PRESENCE_UPDATE', presenceOf(B.user.id, 'offline')).length, 1, 'only the invisible one so far');
  await b1.close(1000);
  await a.nextDispatch('PRESENCE_UPDATE', presenceOf(B.user.id, 'offline'));

  // identify with a presence; a TCP drop does not end the session (still resumable)
  const c = await session(C.token, { presence: { since: null, activities: [], status: 'idle', afk: false } });
  await a.nextDispatch('PRESENCE_UPDATE', presenceOf(C.user.id, 'idle'));
  await c.destroy();
  await barrier(A.client, guild.id, [a]);
  assert.equal(a.received('PRESENCE_UPDATE', presenceOf(C.user.id, 'offline')).length, 0, 'a dropped connection is not the end of the session');
  a.assertClean();
});

// ---------------------------------------------------------------- members

test('join by invite → GUILD_MEMBER_ADD to members and GUILD_CREATE to the joiner; kick → REMOVE + GUILD_DELETE', { timeout: TEST_MS }, async () => {
  const { A, guild, general } = await world(0);
  const a = await session(A.token);
  const C = await register(srv);
  const c = await session(C.token);
  assert.deepEqual(c.ready.guilds, []);
  await inviteAndJoin(A.client, C.client, general.id);
  const add = (await a.nextDispatch('GUILD_MEMBER_ADD', (d) => d.user && d.user.id === C.user.id)).d;
  assert.equal(add.guild_id, guild.id);
  assertMember(add, C.user.id, 'GUILD_MEMBER_ADD');
  const gc = (await c.nextDispatch('GUILD_CREATE', (d) => d.id === guild.id)).d;
  assert.equal(gc.member_count, 2);
  assert.ok(gc.members.some((m) => m.user.id === C.user.id), 'the joiner is among the members');
  assert.ok(Array.isArray(gc.channels) && gc.channels.some((ch) => ch.id === general.id), 'channels');
  // the joiner now gets the guild's events
  const m = await postMessage(A.client, general.id, 'welcome C');
  await c.nextDispatch('MESSAGE_CREATE', (d) => d.id === m.id);

  // kick
  assert.equal((await A.client.del(`/guilds/${guild.id}/members/${C.user.id}`)).status, 204);
  const rem = (await a.nextDispatch('GUILD_MEMBER_REMOVE', (d) => d.user && d.user.id === C.user.id)).d;
  assert.equal(rem.guild_id, guild.id);
  const gd = (await c.nextDispatch('GUILD_DELETE', (d) => d.id === guild.id)).d;
  assert.notEqual(gd.unavailable, true, `kicked: GUILD_DELETE ${JSON.stringify(gd)}`);
  // nothing more from that guild: A posts, then C creates its own guild (committed later)
  const after = await postMessage(A.client, general.id, 'C is gone');
  const own = (await createGuild(C.client)).guild;
  await c.nextDispatch('GUILD_CREATE', (d) => d.id === own.id);
  assert.equal(c.received('MESSAGE_CREATE', (d) => d.id === after.id).length, 0, 'a kicked member still gets messages');
  a.assertClean();
  c.assertClean();
});

test('leave → GUILD_DELETE to the leaver, GUILD_MEMBER_REMOVE to the others; delete guild → GUILD_DELETE', { timeout: TEST_MS }, async () => {
  const { A, guild, members: [B, C] } = await world(2);
  const a = await session(A.token);
  const b = await session(B.token);
  const c = await session(C.token);
  assert.equal((await B.client.del(`/users/@me/guilds/${guild.id}`)).status, 204);
  const gd = (await b.nextDispatch('GUILD_DELETE', (d) => d.id === guild.id)).d;
  assert.notEqual(gd.unavailable, true);
  const rem = (await a.nextDispatch('GUILD_MEMBER_REMOVE', (d) => d.user && d.user.id === B.user.id)).d;
  assert.equal(rem.guild_id, guild.id);
  assertUserShape(rem.user, 'GUILD_MEMBER_REMOVE.user');
  assert.equal((await A.client.del(`/guilds/${guild.id}`)).status, 204);
  for (const gw of [a, c]) {
    const d = (await gw.nextDispatch('GUILD_DELETE', (x) => x.id === guild.id)).d;
    assert.notEqual(d.unavailable, true, `deleted guild: ${JSON.stringify(d)}`);
    gw.assertClean();
  }
});

test('GUILD_MEMBER_UPDATE on role and nick changes', { timeout: TEST_MS }, async () => {
  const { A, guild, members: [B] } = await world(1);
  const a = await session(A.token);
  const role = expectStatus(await A.client.post(`/guilds/${guild.id}/roles`, { name: 'helpers' }), [200, 201]);
  assert.equal((await A.client.put(`/guilds/${guild.id}/members/${B.user.id}/roles/${role.id}`, {})).status, 204);
  const u1 = (await a.nextDispatch('GUILD_MEMBER_UPDATE', (d) => d.user && d.user.id === B.user.id && d.roles.includes(role.id))).d;
  assert.equal(u1.guild_id, guild.id);
  expectStatus(await B.client.patch(`/guilds/${guild.id}/members/@me`, { nick: 'bee' }), [200, 204]);
  const u2 = (await a.nextDispatch('GUILD_MEMBER_UPDATE', (d) => d.user && d.user.id === B.user.id && d.nick === 'bee')).d;
  assert.ok(u2.roles.includes(role.id), 'roles kept');
  a.assertClean();
});

// ---------------------------------------------------------------- guild, channels, roles, invites

test('GUILD_UPDATE, CHANNEL_CREATE/UPDATE/DELETE, GUILD_ROLE_CREATE/UPDATE/DELETE', { timeout: TEST_MS }, async () => {
  const { A, guild, members: [B] } = await world(1);
  const a = await session(A.token);
  const b = await session(B.token);
  const both = [a, b];

  expectStatus(await A.client.patch(`/guilds/${guild.id}`, { name: 'Renamed Guild' }), 200);
  for (const gw of both) {
    const d = (await gw.nextDispatch('GUILD_UPDATE', (x) => x.id === guild.id)).d;
    assert.equal(d.name, 'Renamed Guild');
    assert.equal(d.owner_id, A.user.id);
  }

  const ch = await createChannel(A.client, guild.id, 'fresh-news');
  for (const gw of both) {
    const d = (await gw.nextDispatch('CHANNEL_CREATE', (x) => x.id === ch.id)).d;
    assert.equal(d.guild_id, guild.id);
    assert.equal(d.name, 'fresh-news');
    assert.equal(d.type, 0);
    assert.ok(Array.isArray(d.permission_overwrites));
  }
  expectStatus(await A.client.patch(`/channels/${ch.id}`, { name: 'old-news', topic: 'yesterday' }), 200);
  for (const gw of both) {
    const d = (await gw.nextDispatch('CHANNEL_UPDATE', (x) => x.id === ch.id)).d;
    assert.equal(d.name, 'old-news');
    assert.equal(d.topic, 'yesterday');
    assert.equal(d.guild_id, guild.id);
  }
  expectStatus(await A.client.del(`/channels/${ch.id}`), [200, 204]);
  for (const gw of both) {
    const d = (await gw.nextDispatch('CHANNEL_DELETE', (x) => x.id === ch.id)).d;
    assert.equal(d.guild_id, guild.id);
  }

  const role = expectStatus(await A.client.post(`/guilds/${guild.id}/roles`, { name: 'crew', permissions: '0' }), [200, 201]);
  for (const gw of both) {
    const d = (await gw.nextDispatch('GUILD_ROLE_CREATE', (x) => x.role && x.role.id === role.id)).d;
    assert.equal(d.guild_id, guild.id);
    assert.equal(d.role.name, 'crew');
    assert.equal(typeof d.role.permissions, 'string');
  }
  expectStatus(await A.client.patch(`/guilds/${guild.id}/roles/${role.id}`, { name: 'crew2' }), 200);
  for (const gw of both) {
    const d = (await gw.nextDispatch('GUILD_ROLE_UPDATE', (x) => x.role && x.role.id === role.id)).d;
    assert.equal(d.role.name, 'crew2');
    assert.equal(d.guild_id, guild.id);
  }
  assert.equal((await A.client.del(`/guilds/${guild.id}/roles/${role.id}`)).status, 204);
  for (const gw of both) {
    const d = (await gw.nextDispatch('GUILD_ROLE_DELETE', (x) => x.role_id === role.id)).d;
    assert.deepEqual(d, { guild_id: guild.id, role_id: role.id });
    gw.assertClean();
  }
});

test('INVITE_CREATE / INVITE_DELETE', { timeout: TEST_MS }, async () => {
  const { A, guild, general } = await world(0);
  const a = await session(A.token);
  const inv = expectStatus(await A.client.post(`/channels/${general.id}/invites`, { max_uses: 5 }), [200, 201]);
  const d = (await a.nextDispatch('INVITE_CREATE', (x) => x.code === inv.code)).d;
  assert.equal(d.channel_id, general.id);
  assert.equal(d.guild_id, guild.id);
  assert.equal(d.max_uses, 5);
  expectStatus(await A.client.del(`/invites/${inv.code}`), [200, 204]);
  const dd = (await a.nextDispatch('INVITE_DELETE', (x) => x.code === inv.code)).d;
  assert.deepEqual(dd, { channel_id: general.id, guild_id: guild.id, code: inv.code });
  a.assertClean();
});

// ---------------------------------------------------------------- intents

test('intents: each event reaches only the sessions whose intents include it', { timeout: TEST_MS }, async () => {
  const { A, guild, general } = await world(0);
  // Every bot gets MANAGE_CHANNELS: the server (like Discord) sends INVITE_* only to
  // members who may manage the channel; here only the intents must make the difference.
  const managers = expectStatus(await A.client.post(`/guilds/${guild.id}/roles`, { name: 'managers', permissions: perms(P.MANAGE_CHANNELS) }), [200, 201]);
  const mk = async (intents, flags) => {
    const bot = await createBot(srv, A.client);
    if (flags) expectStatus(await A.client.patch(`/applications/${bot.appId}`, { flags }), 200);
    await addBot(A.client, guild.id, bot.botId);
    assert.equal((await A.client.put(`/guilds/${guild.id}/members/${bot.botId}/roles/${managers.id}`, {})).status, 204);
    return { ...bot, gw: await session(bot.token, { intents, label: `bot ${intents}` }) };
  };
  const G = INTENTS.GUILDS;
  const onlyGuilds = await mk(G);
  const messages = await mk(G | INTENTS.GUILD_MESSAGES);
  const typing = await mk(G | INTENTS.GUILD_MESSAGE_TYPING);
  const invites = await mk(G | INTENTS.GUILD_INVITES);
  const members = await mk(G | INTENTS.GUILD_MEMBERS, APP_FLAGS.GATEWAY_GUILD_MEMBERS);
  const presences = await mk(G | INTENTS.GUILD_PRESENCES, APP_FLAGS.GATEWAY_PRESENCE);
  const all = [onlyGuilds, messages, typing, invites, members, presences];

  const m = await postMessage(A.client, general.id, 'intent check');
  assert.equal((await A.client.post(`/channels/${general.id}/typing`, {})).status, 204);
  const inv = expectStatus(await A.client.post(`/channels/${general.id}/invites`, {}), [200, 201]);
  const J = await register(srv);
  expectStatus(await J.client.post(`/invites/${inv.code}`, {}), [200, 201, 204], 'join');
  const j = await session(J.token); // J comes online: PRESENCE_UPDATE
  await barrier(A.client, guild.id, all.map((x) => x.gw));

  const got = (x, t, pred) => x.gw.received(t, pred).length > 0;
  const table = [
    ['MESSAGE_CREATE', (d) => d.id === m.id, messages],
    ['TYPING_START', (d) => d.user_id === A.user.id, typing],
    ['INVITE_CREATE', (d) => d.code === inv.code, invites],
    ['GUILD_MEMBER_ADD', (d) => d.user && d.user.id === J.user.id, members],
    ['PRESENCE_UPDATE', (d) => d.user && d.user.id === J.user.id, presences],
  ];
  for (const [t, pred, who] of table) {
    for (const x of all) {
      assert.equal(got(x, t, pred), x === who, `${t} ${x === who ? 'missing for' : 'leaked to'} the session with intents ${x.gw.label}`);
    }
  }
  for (const x of all) x.gw.assertClean();
  j.assertClean();
});

test('MESSAGE_CONTENT: without it content is "" except own messages and mentions', { timeout: TEST_MS }, async () => {
  const { A, guild, general } = await world(0);
  const plain = await createBot(srv, A.client);
  const granted = await createBot(srv, A.client);
  expectStatus(await A.client.patch(`/applications/${granted.appId}`, { flags: APP_FLAGS.GATEWAY_MESSAGE_CONTENT }), 200);
  await addBot(A.client, guild.id, plain.botId);
  await addBot(A.client, guild.id, granted.botId);
  const base = INTENTS.GUILDS | INTENTS.GUILD_MESSAGES;
  const p = await session(plain.token, { intents: base });
  const g = await session(granted.token, { intents: base | INTENTS.MESSAGE_CONTENT });
  const u = await session(A.token);

  const hidden = await postMessage(A.client, general.id, 'the secret words');
  const d1 = (await p.nextDispatch('MESSAGE_CREATE', (d) => d.id === hidden.id)).d;
  assert.equal(d1.content, '', 'no MESSAGE_CONTENT → empty content');
  assert.deepEqual(d1.embeds, []);
  assert.deepEqual(d1.attachments, []);
  if ('components' in d1) assert.deepEqual(d1.components, []);
  assert.equal(d1.author.id, A.user.id, 'the rest of the message is there');
  assert.equal((await g.nextDispatch('MESSAGE_CREATE', (d) => d.id === hidden.id)).d.content, 'the secret words', 'granted bot');
  assert.equal((await u.nextDispatch('MESSAGE_CREATE', (d) => d.id === hidden.id)).d.content, 'the secret words', 'user session');

  const own = await postMessage(plain.client, general.id, 'my own words');
  assert.equal((await p.nextDispatch('MESSAGE_CREATE', (d) => d.id === own.id)).d.content, 'my own words', 'own message');

  const mention = await postMessage(A.client, general.id, `hey <@${plain.botId}> look`);
  assert.equal((await p.nextDispatch('MESSAGE_CREATE', (d) => d.id === mention.id)).d.content, `hey <@${plain.botId}> look`, 'mentioned');

  const other = await postMessage(A.client, general.id, `hey <@${granted.botId}> only`);
  assert.equal((await p.nextDispatch('MESSAGE_CREATE', (d) => d.id === other.id)).d.content, '', 'a mention of another bot');

  expectStatus(await A.client.patch(`/channels/${general.id}/messages/${hidden.id}`, { content: 'still secret' }), 200);
  assert.equal((await p.nextDispatch('MESSAGE_UPDATE', (d) => d.id === hidden.id)).d.content, '', 'MESSAGE_UPDATE follows the rule');
  assert.equal((await g.nextDispatch('MESSAGE_UPDATE', (d) => d.id === hidden.id)).d.content, 'still secret');

  // Embeds and a reply's referenced message are user content too.
  const embeds = [{ title: 'secret title', description: 'secret text' }];
  const reply = await postMessage(A.client, general.id, 'secret reply', {
    embeds, message_reference: { message_id: hidden.id },
  });
  const pr = (await p.nextDispatch('MESSAGE_CREATE', (d) => d.id === reply.id)).d;
  assert.equal(pr.content, '');
  assert.deepEqual(pr.embeds, []);
  assert.equal(pr.type, 19);
  assert.equal(pr.message_reference.message_id, hidden.id);
  assert.equal(pr.referenced_message.id, hidden.id);
  assert.equal(pr.referenced_message.content, '', 'the referenced message is stripped too');
  assert.doesNotMatch(JSON.stringify(pr), /secret/, 'nothing of the text reaches the plain bot');
  const gr = (await g.nextDispatch('MESSAGE_CREATE', (d) => d.id === reply.id)).d;
  assert.equal(gr.content, 'secret reply');
  assert.equal(gr.embeds[0].title, 'secret title');
  assert.equal(gr.referenced_message.content, 'still secret');
  const ur = (await u.nextDispatch('MESSAGE_CREATE', (d) => d.id === reply.id)).d;
  assert.deepEqual(ur, gr, 'a user session sees what the granted bot sees');
  for (const gw of [p, g, u]) gw.assertClean();
});

// ---------------------------------------------------------------- permissions

test('VIEW_CHANNEL: a hidden channel sends nothing to a plain member, everything to the owner; overwrites apply live', { timeout: TEST_MS }, async () => {
  const { A, guild, members: [B] } = await world(1);
  const a = await session(A.token);
  const b = await session(B.token);
  const secret = expectStatus(await A.client.post(`/guilds/${guild.id}/channels`, {
    name: 'secret', type: 0, permission_overwrites: [{ id: guild.id, type: 0, allow: '0', deny: perms(P.VIEW_CHANNEL) }],
  }), [200, 201]);
  const inSecret = (d) => d && (d.channel_id === secret.id || d.id === secret.id);

  const m1 = await postMessage(A.client, secret.id, 'for the owner only');
  expectStatus(await A.client.patch(`/channels/${secret.id}/messages/${m1.id}`, { content: 'edited' }), 200);
  assert.equal((await A.client.post(`/channels/${secret.id}/typing`, {})).status, 204);
  const inv = expectStatus(await A.client.post(`/channels/${secret.id}/invites`, {}), [200, 201]);
  assert.equal((await A.client.del(`/channels/${secret.id}/messages/${m1.id}`)).status, 204);
  const bulk = [];
  for (let i = 0; i < 2; i++) bulk.push((await postMessage(A.client, secret.id, `b${i}`)).id);
  assert.equal((await A.client.post(`/channels/${secret.id}/messages/bulk-delete`, { messages: bulk })).status, 204);
  await barrier(A.client, guild.id, [a, b]);

  // (TYPING_START is not a stored write: its place among the others is not checked)
  const expected = ['CHANNEL_CREATE', 'MESSAGE_CREATE', 'MESSAGE_UPDATE', 'INVITE_CREATE', 'MESSAGE_DELETE', 'MESSAGE_CREATE', 'MESSAGE_CREATE', 'MESSAGE_DELETE_BULK'];
  const ownerGot = a.dispatches.filter((p) => inSecret(p.d));
  assert.deepEqual(ownerGot.filter((p) => p.t !== 'TYPING_START').map((p) => p.t), expected, 'the owner gets everything');
  assert.equal(ownerGot.filter((p) => p.t === 'TYPING_START').length, 1, 'the owner gets TYPING_START');
  assert.equal(ownerGot.find((p) => p.t === 'INVITE_CREATE').d.code, inv.code);
  assert.deepEqual(b.dispatches.filter((p) => inSecret(p.d)).map((p) => p.t), [], 'the member gets nothing from the hidden channel');

  // a member overwrite lets B see it: now B gets its messages
  assert.equal((await A.client.put(`/channels/${secret.id}/permissions/${B.user.id}`, { type: 1, allow: perms(P.VIEW_CHANNEL), deny: '0' })).status, 204);
  const m2 = await postMessage(A.client, secret.id, 'now B may see');
  await b.nextDispatch('MESSAGE_CREATE', (d) => d.id === m2.id);
  // and not any more once it is gone
  assert.equal((await A.client.del(`/channels/${secret.id}/permissions/${B.user.id}`)).status, 204);
  const m3 = await postMessage(A.client, secret.id, 'hidden again');
  await barrier(A.client, guild.id, [a, b]);
  await a.nextDispatch('MESSAGE_CREATE', (d) => d.id === m3.id);
  assert.equal(b.received('MESSAGE_CREATE', (d) => d.id === m3.id).length, 0, 'overwrite removed: no more messages');
  a.assertClean();
  b.assertClean();
});

// ---------------------------------------------------------------- op 8

test('op 8 → GUILD_MEMBERS_CHUNK: query prefix (username or nick, any case), limit, user_ids + not_found, presences, nonce', { timeout: TEST_MS }, async () => {
  const { A, guild, general } = await world(0);
  const tag = `q${Math.floor(Math.random() * 1e6)}`;
  const names = [`${tag.toUpperCase()}a`, `${tag}b`, `${tag[0]}${tag.slice(1)}C`];
  const matching = [];
  for (const n of names) {
    const u = await register(srv, n);
    await inviteAndJoin(A.client, u.client, general.id);
    matching.push(u);
  }
  const other = await register(srv, `zz${tag}`);
  await inviteAndJoin(A.client, other.client, general.id);
  expectStatus(await other.client.patch(`/guilds/${guild.id}/members/@me`, { nick: `Nick${tag}` }), [200, 204]);
  const a = await session(A.token);

  a.requestMembers({ guild_id: guild.id, query: tag, limit: 10, nonce: 'n-1' });
  const c1 = (await a.nextDispatch('GUILD_MEMBERS_CHUNK', (d) => d.nonce === 'n-1')).d;
  assert.equal(c1.guild_id, guild.id);
  assert.equal(c1.chunk_index, 0);
  assert.equal(c1.chunk_count, 1);
  assert.deepEqual(c1.members.map((m) => m.user.id).sort(), matching.map((u) => u.user.id).sort(), 'case-insensitive username prefix');
  for (const m of c1.members) assertMember(m, m.user.id, 'chunk member');

  a.requestMembers({ guild_id: guild.id, query: `nick${tag}`, limit: 10, nonce: 'n-2' });
  const c2 = (await a.nextDispatch('GUILD_MEMBERS_CHUNK', (d) => d.nonce === 'n-2')).d;
  assert.deepEqual(c2.members.map((m) => m.user.id), [other.user.id], 'nick prefix');

  a.requestMembers({ guild_id: guild.id, query: tag, limit: 2, nonce: 'n-3' });
  const c3 = (await a.nextDispatch('GUILD_MEMBERS_CHUNK', (d) => d.nonce === 'n-3')).d;
  assert.equal(c3.members.length, 2, 'limit');

  const ghost = fakeSnowflake();
  a.requestMembers({ guild_id: guild.id, user_ids: [matching[0].user.id, ghost], nonce: 'n-4' });
  const c4 = (await a.nextDispatch('GUILD_MEMBERS_CHUNK', (d) => d.nonce === 'n-4')).d;
  assert.deepEqual(c4.members.map((m) => m.user.id), [matching[0].user.id]);
  assert.deepEqual(c4.not_found, [ghost], 'not_found');

  a.requestMembers({ guild_id: guild.id, query: '', limit: 0, presences: true, nonce: 'n-5' });
  const c5 = (await a.nextDispatch('GUILD_MEMBERS_CHUNK', (d) => d.nonce === 'n-5')).d;
  assert.equal(c5.members.length, 5, 'query "" limit 0: everyone');
  assert.ok(Array.isArray(c5.presences), `presences requested: ${JSON.stringify(Object.keys(c5))}`);
  assert.ok(c5.presences.some((p) => p.user.id === A.user.id && p.status === 'online'), 'A is online');

  // no nonce → none in the answer
  a.requestMembers({ guild_id: guild.id, query: tag, limit: 1 });
  const c6 = (await a.nextDispatch('GUILD_MEMBERS_CHUNK', (d) => !('nonce' in d))).d;
  assert.equal(c6.members.length, 1);
  a.assertOpen();
  a.assertClean();
});

test('op 8 over 1000 members: chunks of at most 1000, each member once', { timeout: 600_000 }, async (t) => {
  const { A, guild, general } = await world(0);
  const inv = expectStatus(await A.client.post(`/channels/${general.id}/invites`, {}), [200, 201]);
  const N = 1000; // + the owner = 1001
  const t0 = Date.now();
  let next = 0;
  const ids = [A.user.id];
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < N) {
      next++;
      const u = await register(srv);
      expectStatus(await u.client.post(`/invites/${inv.code}`, {}), [200, 201, 204], 'join');
      ids.push(u.user.id);
    }
  }));
  t.diagnostic(`registered and joined ${N} users in ${Date.now() - t0} ms`);
  const a = await session(A.token);
  assert.equal(a.guildCreates[0].member_count, N + 1);
  a.requestMembers({ guild_id: guild.id, query: '', limit: 0, nonce: 'big' });
  const chunks = (await a.collect('GUILD_MEMBERS_CHUNK', 2, (d) => d.nonce === 'big', 120_000)).map((p) => p.d);
  assert.deepEqual(chunks.map((c) => c.chunk_count), [2, 2]);
  assert.deepEqual(chunks.map((c) => c.chunk_index).sort(), [0, 1]);
  assert.deepEqual(chunks.map((c) => c.members.length).sort((x, y) => x - y), [1, 1000]);
  const seen = chunks.flatMap((c) => c.members.map((m) => m.user.id));
  assert.equal(new Set(seen).size, seen.length, 'no member twice');
  assert.deepEqual([...seen].sort(), [...ids].sort(), 'every member');
  await barrier(A.client, guild.id, [a]);
  assert.equal(a.received('GUILD_MEMBERS_CHUNK', (d) => d.nonce === 'big').length, 2, 'exactly two chunks');
  a.assertClean();
});
