// discord.js 14, unmodified, through the steps every library test takes
// (issue 11; docs/compatibility.md): `rest.api` is the recording proxy; the
// gateway URL comes from GET /gateway/bot. (tests/integration/discordjs.test.mjs
// covers more of discord.js's own surface.) Transport compression needs the
// native zlib-sync, which is not installed: JSON without compression.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client, Events, GatewayIntentBits as I } from 'discord.js';
import { postMessage } from '../lib/server.mjs';
import { startWorld, until, withTimeout, EventLog, checkHistory, TEST_MS, WAIT_MS } from './harness.mjs';

let world;
const bots = [];

/** A discord.js client for `bot`, logged in and ready; events in `log`. */
async function connect(bot, intents) {
  const client = new Client({ intents, rest: { api: `${world.rest.origin}/api` } });
  const b = { client, warnings: [], resumed: 0 };
  b.log = new EventLog('discord.js', () => `\nwarnings: ${b.warnings.slice(-10).join('\n')}`);
  for (const ev of [Events.MessageCreate, Events.MessageUpdate, Events.MessageDelete, Events.GuildMemberUpdate]) {
    client.on(ev, (...args) => b.log.push(ev, ...args));
  }
  client.on(Events.Warn, (m) => b.warnings.push(String(m)));
  client.on(Events.Error, (e) => b.warnings.push(`error: ${e?.stack ?? e}`));
  client.on(Events.ShardResume, () => b.resumed++);
  bots.push(b);
  const ready = new Promise((resolve) => client.once(Events.ClientReady, resolve));
  await withTimeout(client.login(bot.token), WAIT_MS * 3, 'login');
  await withTimeout(ready, WAIT_MS * 3, 'clientReady');
  return b;
}

const event = (b, ev, pred) => b.log.wait(ev, pred);

let granted;
let plain;

before(async () => {
  world = await startWorld({}, { native: { compress: 'zlib-stream' } });
  granted = await connect(world.granted, [I.Guilds, I.GuildMembers, I.GuildMessages, I.GuildMessageTyping, I.GuildPresences, I.MessageContent]);
  plain = await connect(world.plain, [I.Guilds, I.GuildMessages]);
});
after(async () => {
  for (const b of bots) await b.client.destroy();
  if (world) await world.stop();
});

test('login: ready, the guild with its channels and roles in the cache', { timeout: TEST_MS }, async () => {
  const c = granted.client;
  assert.equal(c.user.id, world.granted.botId);
  assert.equal(c.user.bot, true);
  const g = c.guilds.cache.get(world.guild.id);
  assert.ok(g?.available, 'guild cached and available');
  assert.equal(g.channels.cache.get(world.chan.id)?.name, 'library-chat');
  assert.ok(g.roles.cache.get(world.guild.id), '@everyone cached');
  assert.ok(g.members.me, 'own member cached');
});

test('a user\'s message arrives with content (MESSAGE_CONTENT) and without it', { timeout: TEST_MS }, async () => {
  const m = await postMessage(world.owner.client, world.chan.id, 'hello discord.js');
  const [g] = await event(granted, Events.MessageCreate, (x) => x.id === m.id);
  assert.equal(g.content, 'hello discord.js');
  const [p] = await event(plain, Events.MessageCreate, (x) => x.id === m.id);
  assert.equal(p.content, '');
});

test('send, reply, embed, edit, delete, history before/after/around', { timeout: TEST_MS }, async () => {
  const channel = granted.client.channels.cache.get(world.chan.id);
  const q = await postMessage(world.owner.client, world.chan.id, 'discord.js question');
  const sent = await channel.send('from discord.js');
  assert.equal(sent.content, 'from discord.js');
  const reply = await channel.send({ content: 'discord.js answer', reply: { messageReference: q.id } });
  assert.equal(reply.type, 19);
  assert.equal(reply.reference?.messageId, q.id);
  assert.equal((await reply.fetchReference()).id, q.id);
  const embed = await channel.send({ embeds: [{ title: 'discord.js embed', fields: [{ name: 'a', value: 'b' }] }] });
  assert.equal(embed.embeds[0].title, 'discord.js embed');
  const edited = await sent.edit('from discord.js, edited');
  assert.equal(edited.content, 'from discord.js, edited');
  assert.ok(edited.editedTimestamp);
  await event(granted, Events.MessageUpdate, (_, x) => x.id === sent.id && x.content === 'from discord.js, edited');
  await embed.delete();
  await event(granted, Events.MessageDelete, (x) => x.id === embed.id);
  await checkHistory(async (query) => [...(await channel.messages.fetch({ ...query, cache: false })).keys()], [q.id, sent.id, reply.id]);
});

test('typing, own presence seen by a user, members fetch/list/search, own nickname', { timeout: TEST_MS }, async () => {
  const c = granted.client;
  const g = c.guilds.cache.get(world.guild.id);
  const user = await world.userSession();
  await c.channels.cache.get(world.chan.id).sendTyping();
  await user.nextDispatch('TYPING_START', (d) => d.user_id === world.granted.botId && d.channel_id === world.chan.id);
  c.user.setPresence({ status: 'dnd', activities: [{ name: 'discord.js tests', type: 0 }] });
  const pres = await user.nextDispatch('PRESENCE_UPDATE', (d) => d.user.id === world.granted.botId && d.status === 'dnd');
  assert.equal(pres.d.activities[0].name, 'discord.js tests');
  const member = await g.members.fetch({ user: world.owner.user.id, force: true });
  assert.equal(member.id, world.owner.user.id);
  const all = await g.members.fetch();
  assert.ok(all.has(world.plain.botId), 'member list (gateway op 8)');
  const found = await g.members.search({ query: world.owner.user.username.slice(0, 4), limit: 10 });
  assert.ok(found.has(world.owner.user.id));
  await g.members.me.setNickname('Djs Bot');
  await until(() => g.members.me.nickname === 'Djs Bot', 'own nickname in the cache');
});


test('application commands: set global and guild commands, fetch, edit, delete', { timeout: TEST_MS }, async () => {
  const c = granted.client;
  const defs = [
    { name: 'ping', description: 'Replies pong' },
    { name: 'roll', description: 'Rolls dice', options: [{ type: 4, name: 'sides', description: 'Sides', required: true, minValue: 2 }] },
  ];
  const set = await c.application.commands.set(defs);
  assert.deepEqual([...set.values()].map((x) => x.name).sort(), ['ping', 'roll']);
  const fetched = await c.application.commands.fetch();
  assert.equal(fetched.size, 2);
  assert.equal(fetched.find((x) => x.name === 'roll').options[0].minValue, 2);
  const again = await c.application.commands.set(defs);
  assert.deepEqual([...again.keys()].sort(), [...set.keys()].sort(), 'the same set keeps the ids');
  const g = c.guilds.cache.get(world.guild.id);
  const gc = await g.commands.create({ name: 'Quote This', type: 3 });
  assert.equal(gc.guildId, world.guild.id);
  assert.equal((await gc.edit({ name: 'Quote It' })).name, 'Quote It');
  await gc.delete();
  assert.equal((await g.commands.fetch()).size, 0);
});

test('the connection cut without a close frame: it resumes and gets the message once', { timeout: TEST_MS }, async () => {
  assert.ok(world.gw.cut() >= 1);
  const m = await postMessage(world.owner.client, world.chan.id, 'discord.js, while away');
  await until(() => granted.resumed > 0, 'shardResume', { diag: () => `\nwarnings: ${granted.warnings.slice(-10).join('\n')}` });
  await event(granted, Events.MessageCreate, (x) => x.id === m.id);
  const m2 = await postMessage(world.owner.client, world.chan.id, 'discord.js, after');
  await event(granted, Events.MessageCreate, (x) => x.id === m2.id);
  assert.equal(granted.log.count(Events.MessageCreate, (x) => x.id === m.id), 1, 'exactly once');
});
