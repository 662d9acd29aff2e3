// detritus-client 0.16, unmodified, against Parley (issue 11;
// docs/compatibility.md): `rest.baseUrl` is the recording proxy; the
// gateway URL comes from GET /gateway/bot. detritus speaks gateway v9 and
// asks for zlib-stream by default; it reads /oauth2/applications/%40me and
// /applications/detectable on every READY.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import detritus from 'detritus-client';
import { postMessage } from '../lib/server.mjs';
import { INTENTS as GI } from '../lib/gateway.mjs';
import { startWorld, until, EventLog, checkHistory, TEST_MS } from './harness.mjs';

const { ClusterClient } = detritus;

let world;
const bots = [];

/** A detritus cluster client (one shard) for `bot`, running; events in `log`. */
async function connect(bot, intents, { compress = true } = {}) {
  const client = new ClusterClient(bot.token, {
    rest: { baseUrl: `${world.rest.origin}/api/v10` },
    gateway: { intents, compress }, // encoding: the library's default (ETF when erlpack is installed)
  });
  const b = { client, warnings: [], packets: [] };
  b.log = new EventLog('detritus', () => `\nwarnings: ${b.warnings.slice(-10).join('\n')}`);
  for (const ev of ['messageCreate', 'messageUpdate', 'messageDelete', 'guildMemberUpdate']) {
    client.on(ev, (payload) => b.log.push(ev, payload));
  }
  client.on('warn', ({ error }) => b.warnings.push(String(error?.stack ?? error)));
  bots.push(b);
  await client.run();
  b.shard = client.shards.first();
  b.shard.gateway.on('packet', (p) => b.packets.push(p));
  await until(() => b.shard.guilds.get(world.guild.id), 'detritus guild cached', { diag: () => `\nwarnings: ${b.warnings.join('\n')}` });
  return b;
}

const event = (b, ev, pred) => b.log.wait(ev, pred);

let granted;
let plain;

before(async () => {
  world = await startWorld({}, { native: { encoding: 'etf' } });
  granted = await connect(world.granted, GI.GUILDS | GI.GUILD_MEMBERS | GI.GUILD_MESSAGES | GI.GUILD_MESSAGE_TYPING | GI.GUILD_PRESENCES | GI.MESSAGE_CONTENT);
  plain = await connect(world.plain, GI.GUILDS | GI.GUILD_MESSAGES, { compress: false });
});
after(async () => {
  for (const b of bots) b.client.kill();
  if (world) await world.stop();
});

test('login: ready, the guild with its channels and roles in the cache', { timeout: TEST_MS }, async () => {
  const s = granted.shard;
  assert.equal(s.userId, world.granted.botId);
  assert.equal(s.user.bot, true);
  const g = s.guilds.get(world.guild.id);
  assert.equal(s.channels.get(world.chan.id)?.name, 'library-chat');
  assert.ok(g.roles.get(world.guild.id), '@everyone cached');
  assert.ok(g.members.get(world.granted.botId), 'own member cached');
  assert.equal(s.application?.id, world.granted.appId, 'GET /oauth2/applications/%40me read on READY');
  const routes = world.rest.routes();
  for (const r of ['GET /api/v10/gateway/bot', 'GET /api/v10/oauth2/applications/%40me', 'GET /api/v10/applications/detectable'])
    assert.ok(routes.includes(r), `${r} in ${routes.join(', ')}`);
  assert.deepEqual(granted.warnings, []);
});

test('a user\'s message arrives with content (MESSAGE_CONTENT) and without it', { timeout: TEST_MS }, async () => {
  const m = await postMessage(world.owner.client, world.chan.id, 'hello detritus');
  const [{ message: g }] = await event(granted, 'messageCreate', ({ message }) => message.id === m.id);
  assert.equal(g.content, 'hello detritus');
  const [{ message: p }] = await event(plain, 'messageCreate', ({ message }) => message.id === m.id);
  assert.equal(p.content, '');
});

test('send, reply, embed, edit, delete, history before/after/around', { timeout: TEST_MS }, async () => {
  const rest = granted.shard.rest;
  const q = await postMessage(world.owner.client, world.chan.id, 'detritus question');
  const sent = await rest.createMessage(world.chan.id, { content: 'from detritus' });
  assert.equal(sent.content, 'from detritus');
  const reply = await rest.createMessage(world.chan.id, { content: 'detritus answer', messageReference: { messageId: q.id } });
  assert.equal(reply.type, 19);
  assert.equal(reply.messageReference.messageId, q.id);
  assert.equal(reply.referencedMessage?.id, q.id);
  const embed = await rest.createMessage(world.chan.id, { embeds: [{ title: 'detritus embed', fields: [{ name: 'a', value: 'b' }] }] });
  assert.equal(embed.embeds.first().title, 'detritus embed');
  const edited = await rest.editMessage(world.chan.id, sent.id, { content: 'from detritus, edited' });
  assert.equal(edited.content, 'from detritus, edited');
  await event(granted, 'messageUpdate', ({ message }) => message?.id === sent.id && message.content === 'from detritus, edited');
  await rest.deleteMessage(world.chan.id, embed.id);
  await event(granted, 'messageDelete', ({ raw }) => raw.id === embed.id);
  await checkHistory(async (query) => (await rest.fetchMessages(world.chan.id, query)).map((m) => m.id), [q.id, String(sent.id), String(reply.id)]);
});

test('typing, own presence seen by a user, members fetch/list/search, own nickname', { timeout: TEST_MS }, async () => {
  const s = granted.shard;
  const user = await world.userSession();
  await s.rest.triggerTyping(world.chan.id);
  await user.nextDispatch('TYPING_START', (d) => d.user_id === world.granted.botId && d.channel_id === world.chan.id);
  s.gateway.setPresence({ status: 'dnd', activities: [{ name: 'detritus tests', type: 0 }] });
  const pres = await user.nextDispatch('PRESENCE_UPDATE', (d) => d.user.id === world.granted.botId && d.status === 'dnd');
  assert.equal(pres.d.activities[0].name, 'detritus tests');
  const member = await s.rest.fetchGuildMember(world.guild.id, world.owner.user.id);
  assert.equal(member.id, world.owner.user.id);
  const members = await s.rest.fetchGuildMembers(world.guild.id, { limit: 100 });
  assert.ok(members.some((m) => m.id === world.plain.botId));
  const found = await s.rest.fetchGuildMembersSearch(world.guild.id, { query: world.owner.user.username.slice(0, 4), limit: 10 });
  assert.ok(found.some((m) => m.id === world.owner.user.id));
  await s.rest.editGuildNick(world.guild.id, 'Detritus Bot');
  await event(granted, 'guildMemberUpdate', ({ member }) => member.id === world.granted.botId && member.nick === 'Detritus Bot');
});


test('application commands: bulk overwrite, fetch, guild create/edit/delete', { timeout: TEST_MS }, async () => {
  const rest = granted.client.rest;
  const app = world.granted.appId;
  const put = await rest.bulkOverwriteApplicationCommands(app, [{ name: 'ping', description: 'Replies pong' }, { type: 3, name: 'Quote' }]);
  assert.deepEqual(put.map((x) => x.name).sort(), ['Quote', 'ping']);
  assert.equal((await rest.fetchApplicationCommands(app)).length, 2);
  const gc = await rest.createApplicationGuildCommand(app, world.guild.id, { name: 'roll', description: 'Rolls' });
  assert.equal(gc.guild_id, world.guild.id);
  assert.equal((await rest.editApplicationGuildCommand(app, world.guild.id, gc.id, { description: 'Rolls more' })).description, 'Rolls more');
  await rest.deleteApplicationGuildCommand(app, world.guild.id, gc.id);
  assert.deepEqual(await rest.fetchApplicationGuildCommands(app, world.guild.id), []);
});

test('the connection cut without a close frame (zlib-stream): it resumes and gets the message once', { timeout: TEST_MS }, async () => {
  const at = granted.packets.length;
  assert.ok(world.gw.cut() >= 1);
  const m = await postMessage(world.owner.client, world.chan.id, 'detritus, while away');
  await until(() => granted.packets.slice(at).some((p) => p.t === 'RESUMED'), 'RESUMED',
    { diag: () => `\npackets: ${granted.packets.slice(at).map((p) => p.t ?? p.op).join(' ')}` });
  await event(granted, 'messageCreate', ({ message }) => message.id === m.id);
  const m2 = await postMessage(world.owner.client, world.chan.id, 'detritus, after');
  await event(granted, 'messageCreate', ({ message }) => message.id === m2.id);
  assert.equal(granted.log.count('messageCreate', ({ message }) => message.id === m.id), 1, 'exactly once');
  assert.ok(!granted.packets.slice(at).some((p) => p.t === 'READY'), 'resumed, not identified again');
});
