// oceanic.js 1.15, unmodified, against Parley (issue 11;
// docs/compatibility.md): `rest.baseURL` is the recording proxy; the
// gateway URL comes from GET /gateway/bot. Transport compression
// zlib-stream (node:zlib; zstd-stream would need the native zstd-napi on
// Node 20).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { Client } from 'oceanic.js';
import { postMessage } from '../lib/server.mjs';
import { startWorld, until, withTimeout, EventLog, checkHistory, TEST_MS, WAIT_MS } from './harness.mjs';

let world;
const bots = [];

/** An oceanic client for `bot`, connected and ready; events recorded in `log`. */
async function connect(bot, intents, { compress = false } = {}) {
  const client = new Client({
    auth: `Bot ${bot.token}`,
    rest: { baseURL: `${world.rest.origin}/api/v10` },
    gateway: { intents, compress },
  });
  const b = { client, warnings: [], resumed: 0 };
  b.log = new EventLog('oceanic', () => `\nwarnings: ${b.warnings.slice(-10).join('\n')}`);
  for (const ev of ['messageCreate', 'messageUpdate', 'messageDelete', 'guildMemberUpdate']) {
    client.on(ev, (...args) => b.log.push(ev, ...args));
  }
  client.on('warn', (m) => b.warnings.push(String(m)));
  client.on('error', (e) => b.warnings.push(`error: ${e?.stack ?? e}`));
  client.on('shardResume', () => b.resumed++);
  bots.push(b);
  const ready = new Promise((resolve) => client.once('ready', resolve));
  await client.connect();
  await withTimeout(ready, WAIT_MS, 'oceanic ready');
  return b;
}

const event = (b, ev, pred) => b.log.wait(ev, pred);

let granted;
let plain;

before(async () => {
  world = await startWorld({}, { native: { encoding: 'etf' } });
  granted = await connect(world.granted, ['GUILDS', 'GUILD_MEMBERS', 'GUILD_MESSAGES', 'GUILD_MESSAGE_TYPING', 'GUILD_PRESENCES', 'MESSAGE_CONTENT']);
  plain = await connect(world.plain, ['GUILDS', 'GUILD_MESSAGES']);
});
after(async () => {
  for (const b of bots) b.client.disconnect(false);
  if (world) await world.stop();
});

test('login: ready, the guild with its channels and roles in the cache', { timeout: TEST_MS }, async () => {
  const c = granted.client;
  assert.equal(c.user.id, world.granted.botId);
  assert.equal(c.user.bot, true);
  assert.equal(c.application.id, world.granted.appId);
  const g = c.guilds.get(world.guild.id);
  assert.ok(g, 'guild cached');
  assert.equal(g.channels.get(world.chan.id)?.name, 'library-chat');
  assert.ok(g.roles.get(world.guild.id), '@everyone cached');
  assert.ok(g.members.get(world.granted.botId), 'own member cached');
  assert.deepEqual(granted.warnings, [], 'no warnings (sequence gaps, unknown shapes)');
});

test('a user\'s message arrives with content (MESSAGE_CONTENT) and without it', { timeout: TEST_MS }, async () => {
  const m = await postMessage(world.owner.client, world.chan.id, 'hello oceanic');
  const [g] = await event(granted, 'messageCreate', (msg) => msg.id === m.id);
  assert.equal(g.content, 'hello oceanic');
  const [p] = await event(plain, 'messageCreate', (msg) => msg.id === m.id);
  assert.equal(p.content, '');
});

test('send, reply, embed, edit, delete, history before/after/around', { timeout: TEST_MS }, async () => {
  const ch = granted.client.rest.channels;
  const q = await postMessage(world.owner.client, world.chan.id, 'oceanic question');
  const sent = await ch.createMessage(world.chan.id, { content: 'from oceanic' });
  assert.equal(sent.content, 'from oceanic');
  const reply = await ch.createMessage(world.chan.id, { content: 'oceanic answer', messageReference: { messageID: q.id } });
  assert.equal(reply.type, 19);
  assert.equal(reply.messageReference.messageID, q.id);
  assert.equal(reply.referencedMessage?.id, q.id);
  const embed = await ch.createMessage(world.chan.id, { embeds: [{ title: 'oceanic embed', fields: [{ name: 'a', value: 'b' }] }] });
  assert.equal(embed.embeds[0].title, 'oceanic embed');
  const edited = await ch.editMessage(world.chan.id, sent.id, { content: 'from oceanic, edited' });
  assert.equal(edited.content, 'from oceanic, edited');
  assert.ok(edited.editedTimestamp);
  await event(granted, 'messageUpdate', (msg) => msg.id === sent.id && msg.content === 'from oceanic, edited');
  await ch.deleteMessage(world.chan.id, embed.id);
  await event(granted, 'messageDelete', (msg) => msg.id === embed.id);
  await checkHistory(async (query) => (await ch.getMessages(world.chan.id, query)).map((m) => m.id), [q.id, String(sent.id), String(reply.id)]);
});

test('typing, own presence seen by a user, members fetch/list/search, own nickname', { timeout: TEST_MS }, async () => {
  const c = granted.client;
  const user = await world.userSession();
  await c.rest.channels.sendTyping(world.chan.id);
  await user.nextDispatch('TYPING_START', (d) => d.user_id === world.granted.botId && d.channel_id === world.chan.id);
  await c.editStatus('dnd', [{ name: 'oceanic tests', type: 0 }]);
  const pres = await user.nextDispatch('PRESENCE_UPDATE', (d) => d.user.id === world.granted.botId && d.status === 'dnd');
  assert.equal(pres.d.activities[0].name, 'oceanic tests');
  const member = await c.rest.guilds.getMember(world.guild.id, world.owner.user.id);
  assert.equal(member.id, world.owner.user.id);
  const members = await c.rest.guilds.getMembers(world.guild.id, { limit: 100 });
  assert.ok(members.some((m) => m.id === world.plain.botId));
  const found = await c.rest.guilds.searchMembers(world.guild.id, { query: world.owner.user.username.slice(0, 4), limit: 10 });
  assert.ok(found.some((m) => m.id === world.owner.user.id));
  const me = await c.rest.guilds.editCurrentMember(world.guild.id, { nick: 'Oceanic Bot' });
  assert.equal(me.nick, 'Oceanic Bot');
  await event(granted, 'guildMemberUpdate', (m) => m.id === world.granted.botId && m.nick === 'Oceanic Bot');
});


test('application commands: bulk edit, list, guild create/edit/delete', { timeout: TEST_MS }, async () => {
  const app = granted.client.application;
  const put = await app.bulkEditGlobalCommands([{ type: 1, name: 'ping', description: 'Replies pong' }, { type: 3, name: 'Quote' }]);
  assert.deepEqual(put.map((x) => x.name).sort(), ['Quote', 'ping']);
  assert.equal((await app.getGlobalCommands()).length, 2);
  const gc = await app.createGuildCommand(world.guild.id, { type: 1, name: 'roll', description: 'Rolls' });
  assert.equal(gc.guildID, world.guild.id);
  assert.equal((await app.editGuildCommand(world.guild.id, gc.id, { description: 'Rolls more' })).description, 'Rolls more');
  await app.deleteGuildCommand(world.guild.id, gc.id);
  assert.deepEqual(await app.getGuildCommands(world.guild.id), []);
});

test('the connection cut without a close frame: it resumes and gets the message once', { timeout: TEST_MS }, async () => {
  assert.ok(world.gw.cut() >= 1);
  const m = await postMessage(world.owner.client, world.chan.id, 'oceanic, while away');
  await until(() => granted.resumed > 0, 'shardResume', { diag: () => `\nwarnings: ${granted.warnings.slice(-10).join('\n')}` });
  await event(granted, 'messageCreate', (msg) => msg.id === m.id);
  const m2 = await postMessage(world.owner.client, world.chan.id, 'oceanic, after');
  await event(granted, 'messageCreate', (msg) => msg.id === m2.id);
  assert.equal(granted.log.count('messageCreate', (msg) => msg.id === m.id), 1, 'exactly once');
});

test('zlib-stream', { timeout: TEST_MS }, async () => {
  const z = await connect(world.granted, ['GUILDS', 'GUILD_MESSAGES', 'MESSAGE_CONTENT'], { compress: 'zlib-stream' });
  const m = await postMessage(world.owner.client, world.chan.id, 'oceanic, compressed');
  assert.equal((await event(z, 'messageCreate', (msg) => msg.id === m.id))[0].content, 'oceanic, compressed');
  world.gw.cut();
  const m2 = await postMessage(world.owner.client, world.chan.id, 'oceanic, compressed, while away');
  await until(() => z.resumed > 0, 'shardResume over zlib-stream');
  await event(z, 'messageCreate', (msg) => msg.id === m2.id);
  assert.equal(z.log.count('messageCreate', (msg) => msg.id === m2.id), 1);
});

// zstd-stream needs zstd-napi, a native add-on: built in the native run
// (tests/integration/libraries/native, NODE_PATH), which must not skip it.
const zstdNapi = (() => {
  try {
    createRequire(import.meta.url).resolve('zstd-napi');
    return true;
  } catch {
    return false;
  }
})();
test('zstd-stream (zstd-napi)', { timeout: TEST_MS, skip: !zstdNapi && !process.env.PARLEY_LIB_NATIVE && 'zstd-napi is not installed (the native run has it)' }, async () => {
  assert.ok(zstdNapi, 'the native run finds zstd-napi');
  const z = await connect(world.granted, ['GUILDS', 'GUILD_MESSAGES', 'MESSAGE_CONTENT'], { compress: 'zstd-stream' });
  const m = await postMessage(world.owner.client, world.chan.id, 'oceanic, zstd');
  assert.equal((await event(z, 'messageCreate', (msg) => msg.id === m.id))[0].content, 'oceanic, zstd');
  world.gw.cut();
  const m2 = await postMessage(world.owner.client, world.chan.id, 'oceanic, zstd, while away');
  await until(() => z.resumed > 0, 'shardResume over zstd-stream');
  await event(z, 'messageCreate', (msg) => msg.id === m2.id);
  assert.equal(z.log.count('messageCreate', (msg) => msg.id === m2.id), 1, 'exactly once');
  assert.ok(world.gw.targets.some((t) => t.includes('compress=zstd-stream')), `asked for zstd-stream: ${world.gw.targets.join(', ')}`);
});
