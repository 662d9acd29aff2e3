// A member who gains or loses VIEW_CHANNEL on a channel (an overwrite, a
// role's permissions, the member's roles, the owner) gets CHANNEL_CREATE or
// CHANNEL_DELETE for it on their sessions with GUILDS on the guild's shard;
// those who keep or never had access get nothing new (docs/gateway.md,
// "Dispatches").
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, register, createGuild, createChannel, inviteAndJoin, postMessage, P, perms,
  expectStatus, uniqueName,
} from './lib/server.mjs';
import { GatewayClient, INTENTS, barrier, destroyAll, shardOf } from './lib/gateway.mjs';

let srv;
before(async () => {
  srv = await startServer();
});
const sockets = [];
after(async () => {
  destroyAll(sockets);
  if (srv) await srv.stopAndAssertClean();
});

const BASE = perms(P.VIEW_CHANNEL, P.SEND_MESSAGES, P.READ_MESSAGE_HISTORY);
const WITH_GUILDS = INTENTS.GUILDS | INTENTS.GUILD_MESSAGES;

/** Owner A, members B and C, @everyone with BASE, a channel `secret`. */
async function setup() {
  const A = await register(srv);
  const B = await register(srv);
  const C = await register(srv);
  const { guild, general } = await createGuild(A.client);
  const g = guild.id;
  await inviteAndJoin(A.client, B.client, general.id);
  await inviteAndJoin(A.client, C.client, general.id);
  expectStatus(await A.client.patch(`/guilds/${g}/roles/${g}`, { permissions: BASE }), 200, 'set @everyone perms');
  const name = uniqueName('secret').toLowerCase();
  const secret = await createChannel(A.client, g, name);
  return { A, B, C, g, general, secret, name };
}

async function open(user, label, identify = { intents: WITH_GUILDS }) {
  const gw = await GatewayClient.open(srv.port, user.token, identify, { label });
  sockets.push(gw);
  return gw;
}

async function overwrite(who, channelId, targetId, type, { allow = [], deny = [] } = {}) {
  const res = await who.client.put(`/channels/${channelId}/permissions/${targetId}`, { type, allow: perms(...allow), deny: perms(...deny) });
  assert.equal(res.status, 204, `PUT overwrite: ${res.status} ${res.text}`);
}
async function dropOverwrite(who, channelId, targetId) {
  const res = await who.client.del(`/channels/${channelId}/permissions/${targetId}`);
  assert.equal(res.status, 204, `DELETE overwrite: ${res.status} ${res.text}`);
}
async function makeRole(owner, g, bits) {
  return expectStatus(await owner.client.post(`/guilds/${g}/roles`, { name: uniqueName('role'), permissions: perms(...bits) }), [200, 201], 'create role');
}
async function setRole(owner, g, user, role, add) {
  const route = `/guilds/${g}/members/${user.user.id}/roles/${role.id}`;
  const res = add ? await owner.client.put(route) : await owner.client.del(route);
  assert.equal(res.status, 204, `${add ? 'assign' : 'unassign'} role: ${res.status} ${res.text}`);
}

/** CHANNEL_* dispatches a session got since `mark` (an index into gw.dispatches). */
function channelEvents(gw, mark) {
  return gw.dispatches.slice(mark).filter((p) => p.t.startsWith('CHANNEL_')).map((p) => `${p.t} ${p.d.id}`);
}
const marks = (...gws) => gws.map((gw) => gw.dispatches.length);

function assertChannelObject(d, ch, g, what) {
  assert.equal(d.id, ch.id, `${what}: id`);
  assert.equal(d.guild_id, g, `${what}: guild_id`);
  assert.equal(d.type, 0, `${what}: type`);
  assert.equal(typeof d.name, 'string', `${what}: name`);
  assert.equal(typeof d.position, 'number', `${what}: position`);
  assert.ok(Array.isArray(d.permission_overwrites), `${what}: permission_overwrites is an array`);
}

test('an @everyone overwrite hides a channel: CHANNEL_DELETE to the member, nothing new to the owner or a member allowed; removing it: CHANNEL_CREATE; hidden messages never reach the member', async () => {
  const { A, B, C, g, general, secret, name } = await setup();
  // C keeps the channel through a member overwrite.
  await overwrite(A, secret.id, C.user.id, 1, { allow: [P.VIEW_CHANNEL] });
  const a = await open(A, 'owner');
  const b = await open(B, 'member');
  const c = await open(C, 'allowed');
  // B's second session, without GUILDS: no CHANNEL_* at all.
  const bQuiet = await open(B, 'member-no-guilds', { intents: INTENTS.GUILD_MESSAGES });
  for (const gw of [a, b, c]) {
    assert.ok(gw.guildCreates.find((x) => x.id === g).channels.some((x) => x.id === secret.id), `${gw.label} starts with the channel`);
  }

  let [ma, mb, mc, mq] = marks(a, b, c, bQuiet);
  await overwrite(A, secret.id, g, 0, { deny: [P.VIEW_CHANNEL] });
  const del = (await b.nextDispatch('CHANNEL_DELETE', (d) => d.id === secret.id)).d;
  assertChannelObject(del, secret, g, 'CHANNEL_DELETE');
  assert.equal(del.name, name);
  await a.nextDispatch('CHANNEL_UPDATE', (d) => d.id === secret.id);
  await c.nextDispatch('CHANNEL_UPDATE', (d) => d.id === secret.id);

  // A message in the hidden channel: the owner and C get it, B never does.
  await postMessage(A.client, secret.id, 'hidden words');
  await a.nextDispatch('MESSAGE_CREATE', (d) => d.content === 'hidden words');
  await c.nextDispatch('MESSAGE_CREATE', (d) => d.content === 'hidden words');
  await postMessage(A.client, general.id, 'fence 1');
  await bQuiet.nextDispatch('MESSAGE_CREATE', (d) => d.content === 'fence 1');
  await barrier(A.client, g, [a, b, c]);
  assert.deepEqual(channelEvents(b, mb), [`CHANNEL_DELETE ${secret.id}`], 'the member: CHANNEL_DELETE alone (no CHANNEL_UPDATE)');
  assert.deepEqual(channelEvents(a, ma), [`CHANNEL_UPDATE ${secret.id}`], 'the owner: the CHANNEL_UPDATE alone');
  assert.deepEqual(channelEvents(c, mc), [`CHANNEL_UPDATE ${secret.id}`], 'the member allowed: the CHANNEL_UPDATE alone');
  assert.deepEqual(channelEvents(bQuiet, mq), [], 'no GUILDS intent: nothing');
  for (const gw of [b, bQuiet]) {
    assert.ok(!JSON.stringify(gw.dispatches.slice(gw === b ? mb : mq)).includes('hidden words'), `${gw.label}: the hidden message never arrived`);
  }

  // The @everyone overwrite removed: B gets the channel back.
  [ma, mb, mc, mq] = marks(a, b, c, bQuiet);
  await dropOverwrite(A, secret.id, g);
  const cre = (await b.nextDispatch('CHANNEL_CREATE', (d) => d.id === secret.id)).d;
  assertChannelObject(cre, secret, g, 'CHANNEL_CREATE');
  assert.equal(cre.name, name);
  assert.deepEqual(cre.permission_overwrites.map((o) => o.id), [C.user.id], 'CHANNEL_CREATE carries the overwrites as they are');
  await barrier(A.client, g, [a, b, c]);
  assert.deepEqual(channelEvents(b, mb), [`CHANNEL_CREATE ${secret.id}`], 'the member: CHANNEL_CREATE alone (no CHANNEL_UPDATE)');
  assert.deepEqual(channelEvents(a, ma), [`CHANNEL_UPDATE ${secret.id}`]);
  assert.deepEqual(channelEvents(c, mc), [`CHANNEL_UPDATE ${secret.id}`]);
  await postMessage(A.client, secret.id, 'visible again');
  await b.nextDispatch('MESSAGE_CREATE', (d) => d.content === 'visible again');
  await bQuiet.nextDispatch('MESSAGE_CREATE', (d) => d.content === 'visible again');
  assert.deepEqual(channelEvents(bQuiet, mq), []);

  for (const gw of [a, b, c, bQuiet]) gw.assertClean();
});

test("a member's role change that grants or takes view, and a role's permissions: CHANNEL_CREATE / CHANNEL_DELETE to that member only", async () => {
  const { A, B, C, g, general, secret } = await setup();
  const viewers = await makeRole(A, g, []);
  await overwrite(A, secret.id, g, 0, { deny: [P.VIEW_CHANNEL] });
  await overwrite(A, secret.id, viewers.id, 0, { allow: [P.VIEW_CHANNEL] });
  const a = await open(A, 'owner');
  const b = await open(B, 'member');
  const c = await open(C, 'other');
  assert.ok(!b.guildCreates.find((x) => x.id === g).channels.some((x) => x.id === secret.id), 'hidden at first');

  // The role given: B gains the channel.
  let [ma, mb, mc] = marks(a, b, c);
  await setRole(A, g, B, viewers, true);
  const cre = (await b.nextDispatch('CHANNEL_CREATE', (d) => d.id === secret.id)).d;
  assertChannelObject(cre, secret, g, 'CHANNEL_CREATE');
  await barrier(A.client, g, [a, b, c]);
  assert.deepEqual(channelEvents(b, mb), [`CHANNEL_CREATE ${secret.id}`]);
  assert.deepEqual(channelEvents(a, ma), [], 'the owner: nothing');
  assert.deepEqual(channelEvents(c, mc), [], 'another member: nothing');
  await postMessage(A.client, secret.id, 'for viewers');
  await b.nextDispatch('MESSAGE_CREATE', (d) => d.content === 'for viewers');

  // The role taken back: B loses it.
  [ma, mb, mc] = marks(a, b, c);
  await setRole(A, g, B, viewers, false);
  await b.nextDispatch('CHANNEL_DELETE', (d) => d.id === secret.id);
  await postMessage(A.client, secret.id, 'viewers only again');
  await barrier(A.client, g, [a, b, c]);
  assert.deepEqual(channelEvents(b, mb), [`CHANNEL_DELETE ${secret.id}`]);
  assert.deepEqual(channelEvents(a, ma), []);
  assert.deepEqual(channelEvents(c, mc), []);
  assert.ok(!b.received('MESSAGE_CREATE', (d) => d.content === 'viewers only again').length, 'hidden again');

  // @everyone loses VIEW_CHANNEL in the guild: B and C lose every channel;
  // a role with VIEW_CHANNEL (held by C) gives them back to C.
  const seers = await makeRole(A, g, []);
  await setRole(A, g, C, seers, true);
  [ma, mb, mc] = marks(a, b, c);
  expectStatus(await A.client.patch(`/guilds/${g}/roles/${g}`, { permissions: perms(P.SEND_MESSAGES, P.READ_MESSAGE_HISTORY) }), 200);
  await barrier(A.client, g, [a, b, c]);
  assert.deepEqual(channelEvents(b, mb), [`CHANNEL_DELETE ${general.id}`], 'B: general (secret was hidden already)');
  assert.deepEqual(channelEvents(c, mc), [`CHANNEL_DELETE ${general.id}`]);
  assert.deepEqual(channelEvents(a, ma), [], 'the owner sees every channel');
  [ma, mb, mc] = marks(a, b, c);
  expectStatus(await A.client.patch(`/guilds/${g}/roles/${seers.id}`, { permissions: perms(P.VIEW_CHANNEL) }), 200);
  await c.nextDispatch('CHANNEL_CREATE', (d) => d.id === general.id);
  await barrier(A.client, g, [a, b, c]);
  assert.deepEqual(channelEvents(c, mc), [`CHANNEL_CREATE ${general.id}`], 'secret stays hidden: its @everyone deny');
  assert.deepEqual(channelEvents(b, mb), [], 'B holds no such role');
  assert.deepEqual(channelEvents(a, ma), []);

  for (const gw of [a, b, c]) gw.assertClean();
});

test('an ADMINISTRATOR role and the owner get no change events; ownership transfer moves the view; only the session on the guild\'s shard is told', async () => {
  const { A, B, C, g, general, secret } = await setup();
  const admin = await makeRole(A, g, [P.ADMINISTRATOR]);
  await setRole(A, g, C, admin, true);
  const n = 2;
  const home = shardOf(g, n);
  const a = await open(A, 'owner');
  const bHome = await open(B, 'member-home-shard', { intents: WITH_GUILDS, shard: [home, n] });
  const bAway = await open(B, 'member-other-shard', { intents: WITH_GUILDS, shard: [1 - home, n] });
  const c = await open(C, 'admin');

  let [ma, mh, mw, mc] = marks(a, bHome, bAway, c);
  await overwrite(A, secret.id, g, 0, { deny: [P.VIEW_CHANNEL] });
  await bHome.nextDispatch('CHANNEL_DELETE', (d) => d.id === secret.id);
  await barrier(A.client, g, [a, bHome, c]);
  assert.deepEqual(channelEvents(bHome, mh), [`CHANNEL_DELETE ${secret.id}`]);
  assert.deepEqual(channelEvents(bAway, mw), [], 'another shard: nothing');
  assert.deepEqual(channelEvents(a, ma), [`CHANNEL_UPDATE ${secret.id}`]);
  assert.deepEqual(channelEvents(c, mc), [`CHANNEL_UPDATE ${secret.id}`], 'ADMINISTRATOR: it stays');

  // The owner hands the guild to B: B gains the channel, A loses it.
  [ma, mh, mw, mc] = marks(a, bHome, bAway, c);
  expectStatus(await A.client.patch(`/guilds/${g}`, { owner_id: B.user.id }), 200, 'transfer');
  await bHome.nextDispatch('CHANNEL_CREATE', (d) => d.id === secret.id);
  await a.nextDispatch('CHANNEL_DELETE', (d) => d.id === secret.id);
  await postMessage(B.client, general.id, 'fence');
  for (const gw of [a, bHome, c]) await gw.nextDispatch('MESSAGE_CREATE', (d) => d.content === 'fence');
  assert.deepEqual(channelEvents(bHome, mh), [`CHANNEL_CREATE ${secret.id}`]);
  assert.deepEqual(channelEvents(a, ma), [`CHANNEL_DELETE ${secret.id}`]);
  assert.deepEqual(channelEvents(c, mc), []);
  assert.deepEqual(channelEvents(bAway, mw), []);

  for (const gw of [a, bHome, bAway, c]) gw.assertClean();
});
