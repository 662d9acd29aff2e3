// seyfert 5, unmodified, against Parley (issue 11; docs/compatibility.md).
// REST: `new ApiHandler({ domain, baseUrl })` (the recording proxy). The
// gateway: seyfert's own WebSocket client on Node always opens TLS to port
// 443 through https.request, whatever GET /gateway/bot's url says; the one
// way an unmodified bot reaches a plain ws:// server is to give Node's
// https a global agent whose connections are plain TCP to it. This test
// does that (its process talks to nothing else over https). Its
// configuration comes from `getRC` (no seyfert.config file), its events are
// read from `handlePayload` (raw dispatches). seyfert has no transport
// compression.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, ApiHandler, Command, Declare } from 'seyfert';
import { postMessage } from '../lib/server.mjs';
import { startWorld, until, EventLog, checkHistory, TEST_MS } from './harness.mjs';
import { INTENTS } from '../lib/gateway.mjs';

let world;
const bots = [];
const base = mkdtempSync(join(tmpdir(), 'seyfert-'));

/** A seyfert client for `bot`, started; every dispatch in `log` (by type). */
async function connect(bot, intents) {
  const b = { resumed: 0 };
  b.log = new EventLog('seyfert');
  const client = new Client({
    getRC: () => ({ token: bot.token, intents, locations: { base }, debug: false }),
    // Its resharder polls GET /gateway/bot on an interval it never clears
    // (every 8 h): off, so that the test process can end.
    resharding: { interval: 0 },
    handlePayload: (_, packet) => {
      if (packet.t === 'RESUMED') b.resumed++;
      if (packet.t) b.log.push(packet.t, packet.d);
    },
  });
  client.setServices({ rest: new ApiHandler({ token: bot.token, domain: world.rest.origin, baseUrl: 'api/v10' }) });
  b.client = client;
  bots.push(b);
  await client.start();
  // seyfert re-tags the start-up GUILD_CREATEs RAW_GUILD_CREATE and says
  // GUILDS_READY once every guild of READY has come.
  await b.log.wait('RAW_GUILD_CREATE', (d) => d.id === world.guild.id);
  await b.log.wait('GUILDS_READY');
  return b;
}

const event = (b, t, pred) => b.log.wait(t, pred).then(([d]) => d);

let granted;
let plain;
let savedAgent;

before(async () => {
  world = await startWorld();
  savedAgent = https.globalAgent;
  const agent = new http.Agent({ keepAlive: false });
  agent.protocol = 'https:';
  agent.createConnection = () => net.connect(world.gw.port, '127.0.0.1');
  https.globalAgent = agent;
  granted = await connect(world.granted, INTENTS.GUILDS | INTENTS.GUILD_MEMBERS | INTENTS.GUILD_MESSAGES | INTENTS.GUILD_MESSAGE_TYPING | INTENTS.GUILD_PRESENCES | INTENTS.MESSAGE_CONTENT);
  plain = await connect(world.plain, INTENTS.GUILDS | INTENTS.GUILD_MESSAGES);
});
// After disconnectAll seyfert's own timers (rate-limit windows, a heartbeat
// of a shard that was reconnecting) keep the process up to about 100 s
// before it exits: the library's, not a leak of the test.
after(async () => {
  for (const b of bots) b.client.gateway?.disconnectAll?.();
  https.globalAgent = savedAgent;
  if (world) await world.stop();
});

test('login: READY, the guild with its channels and roles in the cache', { timeout: TEST_MS }, async () => {
  const c = granted.client;
  assert.equal(c.botId, world.granted.botId);
  assert.equal(c.applicationId, world.granted.appId);
  const channel = await c.cache.channels?.get(world.chan.id);
  assert.equal(channel?.name, 'library-chat');
  assert.ok(await c.cache.roles?.get(world.guild.id), '@everyone cached');
  assert.ok(await c.cache.guilds?.get(world.guild.id), 'guild cached');
});

test('a user\'s message arrives with content (MESSAGE_CONTENT) and without it', { timeout: TEST_MS }, async () => {
  const m = await postMessage(world.owner.client, world.chan.id, 'hello seyfert');
  assert.equal((await event(granted, 'MESSAGE_CREATE', (d) => d.id === m.id)).content, 'hello seyfert');
  assert.equal((await event(plain, 'MESSAGE_CREATE', (d) => d.id === m.id)).content, '');
});

test('send, reply, embed, edit, delete, history before/after/around', { timeout: TEST_MS }, async () => {
  const c = granted.client;
  const q = await postMessage(world.owner.client, world.chan.id, 'seyfert question');
  const sent = await c.messages.write(world.chan.id, { content: 'from seyfert' });
  assert.equal(sent.content, 'from seyfert');
  const reply = await c.messages.write(world.chan.id, { content: 'seyfert answer', message_reference: { message_id: q.id } });
  assert.equal(reply.type, 19);
  assert.equal(reply.messageReference?.messageId, q.id);
  const embed = await c.messages.write(world.chan.id, { embeds: [{ title: 'seyfert embed', fields: [{ name: 'a', value: 'b' }] }] });
  assert.equal(embed.embeds[0].title, 'seyfert embed');
  const edited = await c.messages.edit(sent.id, world.chan.id, { content: 'from seyfert, edited' });
  assert.equal(edited.content, 'from seyfert, edited');
  await event(granted, 'MESSAGE_UPDATE', (d) => d.id === sent.id && d.content === 'from seyfert, edited');
  await c.messages.delete(embed.id, world.chan.id);
  await event(granted, 'MESSAGE_DELETE', (d) => d.id === embed.id);
  await checkHistory(async (query) => (await c.channels.fetchMessages(world.chan.id, query)).map((m) => m.id), [q.id, sent.id, reply.id]);
});

test('typing, own presence seen by a user, members fetch/list/search, own nickname', { timeout: TEST_MS }, async () => {
  const c = granted.client;
  const user = await world.userSession();
  await c.channels.typing(world.chan.id);
  await user.nextDispatch('TYPING_START', (d) => d.user_id === world.granted.botId && d.channel_id === world.chan.id);
  c.gateway.setPresence({ status: 'dnd', activities: [{ name: 'seyfert tests', type: 0 }], since: null, afk: false });
  const pres = await user.nextDispatch('PRESENCE_UPDATE', (d) => d.user.id === world.granted.botId && d.status === 'dnd');
  assert.equal(pres.d.activities[0].name, 'seyfert tests');
  const member = await c.members.fetch(world.guild.id, world.owner.user.id, true);
  assert.equal(member.id, world.owner.user.id);
  const members = await c.members.list(world.guild.id, { limit: 100 }, true);
  assert.ok(members.some((m) => m.id === world.plain.botId));
  const found = await c.members.search(world.guild.id, { query: world.owner.user.username.slice(0, 4), limit: 10 });
  assert.ok(found.some((m) => m.id === world.owner.user.id));
  const me = await c.members.edit(world.guild.id, world.granted.botId, { nick: 'Seyfert Bot' });
  assert.equal(me.nick, 'Seyfert Bot');
  await event(granted, 'GUILD_MEMBER_UPDATE', (d) => d.user.id === world.granted.botId && d.nick === 'Seyfert Bot');
});


test('application commands: uploadCommands puts the global and guild commands', { timeout: TEST_MS }, async () => {
  const c = granted.client;
  const Ping = Declare({ name: 'ping', description: 'Replies pong' })(class extends Command {});
  const Roll = Declare({ name: 'roll', description: 'Rolls dice', guildId: [world.guild.id] })(class extends Command {});
  c.commands.values = [new Ping(), new Roll()];
  await c.uploadCommands({ applicationId: world.granted.appId });
  const globals = await c.proxy.applications(world.granted.appId).commands.get();
  assert.deepEqual(globals.map((x) => x.name), ['ping']);
  const inGuild = await c.proxy.applications(world.granted.appId).guilds(world.guild.id).commands.get();
  assert.deepEqual(inGuild.map((x) => [x.name, x.guild_id]), [['roll', world.guild.id]]);
});

test('the connection cut without a close frame: it resumes and gets the message once', { timeout: TEST_MS }, async () => {
  assert.ok(world.gw.cut() >= 1);
  const m = await postMessage(world.owner.client, world.chan.id, 'seyfert, while away');
  await until(() => granted.resumed > 0, 'RESUMED');
  await event(granted, 'MESSAGE_CREATE', (d) => d.id === m.id);
  const m2 = await postMessage(world.owner.client, world.chan.id, 'seyfert, after');
  await event(granted, 'MESSAGE_CREATE', (d) => d.id === m2.id);
  assert.equal(granted.log.count('MESSAGE_CREATE', (d) => d.id === m.id), 1, 'exactly once');
});
