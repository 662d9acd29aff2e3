// eris 0.18, unmodified, against Parley (issue 11; docs/compatibility.md).
// eris's REST client always speaks HTTPS to `rest.domain` without a port
// option; the documented way to reach a plain-HTTP server is its `rest.agent`
// option: an agent whose connections are plain TCP (createConnection), with
// the port in `domain` (it becomes the Host header). The gateway URL comes
// from GET /gateway/bot.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { createRequire } from 'node:module';
import Eris from 'eris';
import { postMessage } from '../lib/server.mjs';
import { startWorld, until, withTimeout, EventLog, checkHistory, TEST_MS, WAIT_MS } from './harness.mjs';

let world;
const bots = [];

/** An eris client for `bot`, connected and ready; every event recorded in `seen`. */
async function connect(bot, intents, { compress = false } = {}) {
  const agent = new http.Agent({ keepAlive: true });
  agent.protocol = 'https:'; // eris calls https.request; the agent makes it plain TCP
  agent.createConnection = () => net.connect(world.rest.port, '127.0.0.1');
  const client = new Eris(`Bot ${bot.token}`, {
    intents,
    compress,
    restMode: true,
    rest: { agent, domain: `127.0.0.1:${world.rest.port}`, baseURL: '/api/v10' },
  });
  const b = { client, agent, warnings: [], resumed: 0 };
  b.log = new EventLog('eris', () => `\nwarnings: ${b.warnings.slice(-10).join('\n')}`);
  for (const ev of ['messageCreate', 'messageUpdate', 'messageDelete', 'guildMemberUpdate']) {
    client.on(ev, (...args) => b.log.push(ev, ...args));
  }
  client.on('warn', (m) => b.warnings.push(String(m)));
  client.on('error', (e) => b.warnings.push(`error: ${e?.stack ?? e}`));
  client.on('shardResume', () => b.resumed++);
  bots.push(b);
  const ready = new Promise((resolve) => client.once('ready', resolve));
  await client.connect();
  await withTimeout(ready, WAIT_MS, 'eris ready');
  return b;
}

const event = (b, ev, pred) => b.log.wait(ev, pred);

let granted;
let plain;

before(async () => {
  world = await startWorld({}, { native: { encoding: 'etf' } });
  granted = await connect(world.granted, ['guilds', 'guildMembers', 'guildMessages', 'guildMessageTyping', 'guildPresences', 'messageContent']);
  plain = await connect(world.plain, ['guilds', 'guildMessages']);
});
after(async () => {
  for (const b of bots) {
    b.client.disconnect({ reconnect: false });
    b.agent.destroy();
  }
  if (world) await world.stop();
});

test('login: ready, the guild with its channels and roles in the cache', { timeout: TEST_MS }, async () => {
  const c = granted.client;
  assert.equal(c.user.id, world.granted.botId);
  assert.equal(c.user.bot, true);
  const g = c.guilds.get(world.guild.id);
  assert.ok(g, 'guild cached');
  assert.equal(g.channels.get(world.chan.id)?.name, 'library-chat');
  assert.ok(g.roles.get(world.guild.id), '@everyone cached');
  assert.ok(g.members.get(world.granted.botId), 'own member cached');
  assert.deepEqual(granted.warnings.filter((w) => /Non-consecutive/.test(w)), [], 'sequence numbers are dense');
});

test('a user\'s message arrives with content (MESSAGE_CONTENT) and without it', { timeout: TEST_MS }, async () => {
  const m = await postMessage(world.owner.client, world.chan.id, 'hello eris');
  const [g] = await event(granted, 'messageCreate', (msg) => msg.id === m.id);
  assert.equal(g.content, 'hello eris');
  assert.equal(g.channel.id, world.chan.id);
  const [p] = await event(plain, 'messageCreate', (msg) => msg.id === m.id);
  assert.equal(p.content, '');
});

test('send, reply, embed, edit, delete, history before/after/around', { timeout: TEST_MS }, async () => {
  const c = granted.client;
  const q = await postMessage(world.owner.client, world.chan.id, 'eris question');
  const sent = await c.createMessage(world.chan.id, 'from eris');
  assert.equal(sent.content, 'from eris');
  const reply = await c.createMessage(world.chan.id, { content: 'eris answer', messageReference: { messageID: q.id } });
  assert.equal(reply.type, 19);
  assert.equal(reply.messageReference.messageID, q.id);
  assert.equal(reply.referencedMessage.id, q.id);
  const embed = await c.createMessage(world.chan.id, { embeds: [{ title: 'eris embed', fields: [{ name: 'a', value: 'b' }] }] });
  assert.equal(embed.embeds[0].title, 'eris embed');
  const edited = await c.editMessage(world.chan.id, sent.id, 'from eris, edited');
  assert.equal(edited.content, 'from eris, edited');
  assert.ok(edited.editedTimestamp);
  await event(granted, 'messageUpdate', (msg) => msg.id === sent.id && msg.content === 'from eris, edited');
  await c.deleteMessage(world.chan.id, embed.id);
  await event(granted, 'messageDelete', (msg) => msg.id === embed.id);
  await checkHistory(async (query) => (await c.getMessages(world.chan.id, query)).map((m) => m.id), [q.id, String(sent.id), String(reply.id)]);
});

test('typing, own presence seen by a user, members fetch/list/search, own nickname', { timeout: TEST_MS }, async () => {
  const c = granted.client;
  const user = await world.userSession();
  await c.sendChannelTyping(world.chan.id);
  await user.nextDispatch('TYPING_START', (d) => d.user_id === world.granted.botId && d.channel_id === world.chan.id);
  c.editStatus('idle', [{ name: 'eris tests', type: 0 }]);
  const pres = await user.nextDispatch('PRESENCE_UPDATE', (d) => d.user.id === world.granted.botId && d.status === 'idle');
  assert.equal(pres.d.activities[0].name, 'eris tests');
  const member = await c.getRESTGuildMember(world.guild.id, world.owner.user.id);
  assert.equal(member.id, world.owner.user.id);
  const members = await c.getRESTGuildMembers(world.guild.id, { limit: 100 });
  assert.ok(members.some((m) => m.id === world.plain.botId));
  const found = await c.searchGuildMembers(world.guild.id, world.owner.user.username.slice(0, 4), 10);
  assert.ok(found.some((m) => m.id === world.owner.user.id));
  await c.editNickname(world.guild.id, 'Eris Bot');
  await event(granted, 'guildMemberUpdate', (g, m) => m.id === world.granted.botId && m.nick === 'Eris Bot');
  assert.equal(c.guilds.get(world.guild.id).members.get(world.granted.botId).nick, 'Eris Bot');
});


test('application commands: bulk edit, list, guild create/edit/delete', { timeout: TEST_MS }, async () => {
  const c = granted.client;
  const put = await c.bulkEditCommands([{ name: 'ping', description: 'Replies pong', type: 1 }, { name: 'Hug', type: 2 }]);
  assert.deepEqual(put.map((x) => x.name).sort(), ['Hug', 'ping']);
  assert.equal((await c.getCommands()).length, 2);
  const gc = await c.createGuildCommand(world.guild.id, { name: 'roll', description: 'Rolls', type: 1, options: [{ type: 3, name: 'label', description: 'A label' }] });
  assert.equal(gc.guild.id, world.guild.id);
  assert.equal((await c.editGuildCommand(world.guild.id, gc.id, { description: 'Rolls more' })).description, 'Rolls more');
  await c.deleteGuildCommand(world.guild.id, gc.id);
  assert.deepEqual(await c.getGuildCommands(world.guild.id), []);
});

test('the connection cut without a close frame: it resumes and gets the message once', { timeout: TEST_MS }, async () => {
  assert.ok(world.gw.cut() >= 1);
  const m = await postMessage(world.owner.client, world.chan.id, 'eris, while away');
  await until(() => granted.resumed > 0, 'shardResume', { diag: () => `\nwarnings: ${granted.warnings.slice(-10).join('\n')}` });
  await event(granted, 'messageCreate', (msg) => msg.id === m.id);
  const m2 = await postMessage(world.owner.client, world.chan.id, 'eris, after');
  await event(granted, 'messageCreate', (msg) => msg.id === m2.id);
  assert.equal(granted.log.count('messageCreate', (msg) => msg.id === m.id), 1, 'exactly once');
});

// zlib-stream: eris inflates with zlib-sync (a native add-on: the native
// run has it) or pako 1.x; without either it cannot. (pako 2, which
// oceanic.js needs, lacks the Z_SYNC_FLUSH eris reads: the two cannot share
// one node_modules, so pako is not installed.)
const inflater = ['zlib-sync', 'pako'].find((m) => {
  try {
    createRequire(import.meta.url).resolve(m);
    return true;
  } catch {
    return false;
  }
});
test(`zlib-stream (${inflater ?? 'no inflater installed'})`, { timeout: TEST_MS, skip: !inflater && !process.env.PARLEY_LIB_NATIVE && 'eris needs zlib-sync or pako 1 (the native run has zlib-sync)' }, async () => {
  assert.equal(inflater, 'zlib-sync', 'the native run finds zlib-sync');
  const z = await connect(world.granted, ['guilds', 'guildMessages', 'messageContent'], { compress: true });
  const m = await postMessage(world.owner.client, world.chan.id, 'eris, compressed');
  assert.equal((await event(z, 'messageCreate', (msg) => msg.id === m.id))[0].content, 'eris, compressed');
  world.gw.cut();
  const m2 = await postMessage(world.owner.client, world.chan.id, 'eris, compressed, while away');
  await until(() => z.resumed > 0, 'shardResume over zlib-stream', { diag: () => `\nwarnings: ${z.warnings.slice(-10).join('\n')}` });
  await event(z, 'messageCreate', (msg) => msg.id === m2.id);
  assert.equal(z.log.count('messageCreate', (msg) => msg.id === m2.id), 1, 'exactly once');
  assert.ok(world.gw.targets.some((t) => t.includes('compress=zlib-stream')), `asked for zlib-stream: ${world.gw.targets.join(', ')}`);
});
