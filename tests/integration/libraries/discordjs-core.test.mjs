// @discordjs/core 2 with @discordjs/ws 2 and @discordjs/rest 2, unmodified,
// against Parley (issue 11; docs/compatibility.md). The library is pointed at
// Parley the way its documentation allows: REST `api` (the recording proxy,
// harness.mjs); the gateway URL comes from GET /gateway/bot. It has no
// cache: "in the cache" below means "in what it handed the bot".
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { REST } from '@discordjs/rest';
import { WebSocketManager, WebSocketShardEvents, CompressionMethod } from '@discordjs/ws';
import { Client, GatewayIntentBits as I, GatewayDispatchEvents as E } from '@discordjs/core';
import { postMessage, expectStatus } from '../lib/server.mjs';
import { startWorld, until, withTimeout, checkHistory, TEST_MS, WAIT_MS } from './harness.mjs';

const INTENTS = I.Guilds | I.GuildMembers | I.GuildMessages | I.GuildMessageTyping | I.GuildPresences;

let world;
const bots = [];

/** A core client for `bot` ({token}), every dispatch recorded in `seen`. */
async function connect(bot, { intents = INTENTS | I.MessageContent, compression = null } = {}) {
  const rest = new REST({ api: `${world.rest.origin}/api`, version: '10' }).setToken(bot.token);
  // @discordjs/ws keeps sessions in one store per process, keyed by shard
  // id: two bots in one process need a store each (else one resumes with
  // the other's session, which Parley refuses with op 9).
  const sessions = new Map();
  const gateway = new WebSocketManager({
    token: bot.token, intents, rest, compression,
    retrieveSessionInfo: (shardId) => sessions.get(shardId) ?? null,
    updateSessionInfo: (shardId, info) => (info ? sessions.set(shardId, info) : sessions.delete(shardId)),
  });
  const client = new Client({ rest, gateway });
  const b = { rest, gateway, client, seen: [], debug: [], resumed: 0 };
  gateway.on(WebSocketShardEvents.Dispatch, (d) => b.seen.push(d));
  gateway.on(WebSocketShardEvents.Debug, (m) => b.debug.push(String(m)));
  gateway.on(WebSocketShardEvents.Resumed, () => b.resumed++);
  gateway.on(WebSocketShardEvents.Error, (e) => b.debug.push(`error: ${e?.stack ?? e}`));
  bots.push(b);
  await gateway.connect();
  return b;
}

/** The first dispatch of type t (with pred) that `b` received; waits for it. */
function dispatch(b, t, pred = () => true) {
  return until(() => b.seen.find((d) => d.t === t && pred(d.d))?.d, `${t} for the bot`, {
    diag: () => `\nseen: ${b.seen.map((d) => d.t).join(' ')}\ndebug: ${b.debug.slice(-10).join('\n')}`,
  });
}
const count = (b, t, pred) => b.seen.filter((d) => d.t === t && pred(d.d)).length;

let granted; // a core client of the bot with MESSAGE_CONTENT
let plain; // one without the intent

before(async () => {
  world = await startWorld();
  granted = await connect(world.granted);
  plain = await connect(world.plain, { intents: I.Guilds | I.GuildMessages | I.GuildMessageTyping });
});
after(async () => {
  for (const b of bots) await b.gateway.destroy().catch(() => {});
  if (world) await world.stop();
});

test('login: READY, then the guild with its channels and roles', { timeout: TEST_MS }, async () => {
  const ready = await dispatch(granted, E.Ready);
  assert.equal(ready.user.id, world.granted.botId);
  assert.equal(ready.user.bot, true);
  assert.equal(ready.application.id, world.granted.appId);
  const g = await dispatch(granted, E.GuildCreate, (d) => d.id === world.guild.id);
  assert.ok(g.channels.some((c) => c.id === world.chan.id && c.name === 'library-chat'));
  assert.ok(g.roles.some((r) => r.id === world.guild.id), '@everyone');
  assert.ok(g.members.some((m) => m.user.id === world.granted.botId), 'its own member');
  assert.deepEqual(world.rest.routes().slice(0, 1), ['GET /api/v10/gateway/bot']);
});

test('a user\'s message arrives with content (MESSAGE_CONTENT) and without it', { timeout: TEST_MS }, async () => {
  const m = await postMessage(world.owner.client, world.chan.id, 'hello bots');
  assert.equal((await dispatch(granted, E.MessageCreate, (d) => d.id === m.id)).content, 'hello bots');
  const p = await dispatch(plain, E.MessageCreate, (d) => d.id === m.id);
  assert.equal(p.content, '');
  assert.equal(p.author.id, world.owner.user.id);
});

test('send, reply, embed, edit, delete, history before/after/around', { timeout: TEST_MS }, async () => {
  const api = granted.client.api;
  const q = await postMessage(world.owner.client, world.chan.id, 'a question');
  const sent = await api.channels.createMessage(world.chan.id, { content: 'from core' });
  assert.equal(sent.content, 'from core');
  const reply = await api.channels.createMessage(world.chan.id, {
    content: 'an answer', message_reference: { message_id: q.id },
  });
  assert.equal(reply.type, 19);
  assert.equal(reply.referenced_message.id, q.id);
  const seenReply = await dispatch(plain, E.MessageCreate, (d) => d.id === reply.id);
  assert.equal(seenReply.referenced_message.id, q.id);
  const embed = await api.channels.createMessage(world.chan.id, {
    embeds: [{ title: 'Build', description: 'green', color: 0x2ecc71, fields: [{ name: 'tests', value: '300' }] }],
  });
  assert.equal(embed.embeds[0].title, 'Build');
  assert.equal((await dispatch(granted, E.MessageCreate, (d) => d.id === embed.id)).embeds[0].fields[0].value, '300');
  const edited = await api.channels.editMessage(world.chan.id, sent.id, { content: 'from core, edited' });
  assert.ok(edited.edited_timestamp);
  assert.equal((await dispatch(granted, E.MessageUpdate, (d) => d.id === sent.id)).content, 'from core, edited');
  await api.channels.deleteMessage(world.chan.id, embed.id);
  await dispatch(granted, E.MessageDelete, (d) => d.id === embed.id);
  await checkHistory(async (query) => (await api.channels.getMessages(world.chan.id, query)).map((m) => m.id), [q.id, sent.id, reply.id]);
  const [newest] = await api.channels.getMessages(world.chan.id, { around: sent.id, limit: 3 });
  assert.equal(newest.referenced_message.id, q.id);
});

test('typing, own presence seen by a user, members fetch/list/search, own nickname', { timeout: TEST_MS }, async () => {
  const api = granted.client.api;
  const user = await world.userSession();
  await api.channels.showTyping(world.chan.id);
  const typing = await user.nextDispatch('TYPING_START', (d) => d.user_id === world.granted.botId);
  assert.equal(typing.d.channel_id, world.chan.id);
  await granted.client.updatePresence(0, { status: 'dnd', activities: [{ name: 'tests', type: 0 }], since: null, afk: false });
  const pres = await user.nextDispatch('PRESENCE_UPDATE', (d) => d.user.id === world.granted.botId && d.status === 'dnd');
  assert.equal(pres.d.activities[0].name, 'tests');
  const member = await api.guilds.getMember(world.guild.id, world.owner.user.id);
  assert.equal(member.user.id, world.owner.user.id);
  const members = await api.guilds.getMembers(world.guild.id, { limit: 100 });
  assert.ok(members.some((m) => m.user.id === world.plain.botId));
  const found = await api.guilds.searchForMembers(world.guild.id, { query: world.owner.user.username.slice(0, 4), limit: 10 });
  assert.ok(found.some((m) => m.user.id === world.owner.user.id), 'search by username prefix');
  const me = await api.users.editCurrentGuildMember(world.guild.id, { nick: 'Core Bot' });
  assert.equal(me.nick, 'Core Bot');
  assert.equal((await dispatch(granted, E.GuildMemberUpdate, (d) => d.user.id === world.granted.botId && d.nick === 'Core Bot')).nick, 'Core Bot');
  assert.ok(world.rest.routes().includes('PATCH /api/v10/guilds/{id}/members/%40me'), world.rest.routes().join('\n'));
});


test('application commands: bulk overwrite, list, guild create/edit/delete', { timeout: TEST_MS }, async () => {
  const cmds = granted.client.api.applicationCommands;
  const app = world.granted.appId;
  const put = await cmds.bulkOverwriteGlobalCommands(app, [{ name: 'ping', description: 'Replies pong' }, { type: 2, name: 'Hug' }]);
  assert.deepEqual(put.map((x) => x.name).sort(), ['Hug', 'ping']);
  assert.deepEqual((await cmds.getGlobalCommands(app)).map((x) => x.id).sort(), put.map((x) => x.id).sort());
  const gc = await cmds.createGuildCommand(app, world.guild.id, { name: 'roll', description: 'Rolls' });
  assert.equal(gc.guild_id, world.guild.id);
  assert.equal((await cmds.editGuildCommand(app, world.guild.id, gc.id, { description: 'Rolls more' })).description, 'Rolls more');
  await cmds.deleteGuildCommand(app, world.guild.id, gc.id);
  assert.deepEqual(await cmds.getGuildCommands(app, world.guild.id), []);
});

test('the connection cut without a close frame: it resumes and gets the message once', { timeout: TEST_MS }, async () => {
  const cutAt = granted.seen.length;
  assert.ok(world.gw.cut() >= 1, 'a gateway connection was open');
  const m = await postMessage(world.owner.client, world.chan.id, 'sent while you were away');
  await until(() => granted.resumed > 0, 'RESUMED', { diag: () => `\ndebug: ${granted.debug.slice(-15).join('\n')}` });
  await dispatch(granted, E.MessageCreate, (d) => d.id === m.id);
  const m2 = await postMessage(world.owner.client, world.chan.id, 'and after');
  await dispatch(granted, E.MessageCreate, (d) => d.id === m2.id);
  assert.equal(count(granted, E.MessageCreate, (d) => d.id === m.id), 1, 'exactly once');
  assert.ok(!granted.seen.slice(cutAt).some((d) => d.t === E.Ready), 'resumed, not identified again');
});

test('zlib-stream (the compression @discordjs/ws supports)', { timeout: TEST_MS }, async () => {
  const z = await connect(world.granted, { compression: CompressionMethod.ZlibNative });
  await dispatch(z, E.GuildCreate, (d) => d.id === world.guild.id);
  const m = await postMessage(world.owner.client, world.chan.id, 'compressed hello');
  assert.equal((await dispatch(z, E.MessageCreate, (d) => d.id === m.id)).content, 'compressed hello');
  world.gw.cut();
  const m2 = await postMessage(world.owner.client, world.chan.id, 'compressed, while away');
  await withTimeout(until(() => z.resumed > 0, 'RESUMED over zlib-stream'), WAIT_MS * 2, 'resume');
  await dispatch(z, E.MessageCreate, (d) => d.id === m2.id);
  assert.equal(count(z, E.MessageCreate, (d) => d.id === m2.id), 1);
  expectStatus(await world.owner.client.get(`/channels/${world.chan.id}/messages/${m2.id}`), 200);
});
