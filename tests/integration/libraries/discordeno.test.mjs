// discordeno 21 (@discordeno/bot), unmodified, against Parley (issue 11;
// docs/compatibility.md): `rest.proxy.baseUrl` is the recording proxy (the
// library appends /v10) and `gateway.url` Parley's gateway (through the
// cutting proxy). Every desired property is on, so every transformer runs
// on Parley's payloads. It has no cache: "in the cache" below means "in
// what it handed the bot". Transport compression zlib-stream and
// zstd-stream (fzstd).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createBot, createDesiredPropertiesObject, Intents } from '@discordeno/bot';
import { postMessage } from '../lib/server.mjs';
import { startWorld, until, EventLog, checkHistory, TEST_MS } from './harness.mjs';

let world;
const bots = [];

/** A discordeno bot for `bot`, started; events recorded in `log`. */
async function connect(bot, intents, { transportCompression = null } = {}) {
  const b = { raw: [], resumed: 0 };
  b.log = new EventLog('discordeno', () => `\nraw: ${b.raw.slice(-5).map((d) => d.t).join(' ')}`);
  const client = createBot({
    token: bot.token,
    intents,
    desiredProperties: createDesiredPropertiesObject({}, true),
    rest: { token: bot.token, proxy: { baseUrl: `${world.rest.origin}/api`, authorization: `Bot ${bot.token}` } },
    gateway: {
      token: bot.token, url: `ws://127.0.0.1:${world.gw.port}`, transportCompression,
      events: { resumed: () => b.resumed++ },
    },
    events: {
      ready: (x) => b.log.push('ready', x),
      guildCreate: (x) => b.log.push('guildCreate', x),
      messageCreate: (x) => b.log.push('messageCreate', x),
      messageUpdate: (x) => b.log.push('messageUpdate', x),
      messageDelete: (x) => b.log.push('messageDelete', x),
      guildMemberUpdate: (m, u) => b.log.push('guildMemberUpdate', m, u),
      raw: (d) => b.raw.push(d),
    },
  });
  b.client = client;
  bots.push(b);
  await client.start();
  await event(b, 'guildCreate', (g) => String(g.id) === world.guild.id);
  return b;
}

const event = (b, ev, pred) => b.log.wait(ev, pred);
const id = (x) => String(x);

let granted;
let plain;

before(async () => {
  world = await startWorld();
  granted = await connect(world.granted, Intents.Guilds | Intents.GuildMembers | Intents.GuildMessages | Intents.GuildMessageTyping | Intents.GuildPresences | Intents.MessageContent);
  plain = await connect(world.plain, Intents.Guilds | Intents.GuildMessages);
});
after(async () => {
  for (const b of bots) await b.client.shutdown().catch(() => {});
  if (world) await world.stop();
});

test('login: ready, then the guild with its channels, roles and presences', { timeout: TEST_MS }, async () => {
  const [ready] = await event(granted, 'ready');
  assert.equal(id(ready.user.id), world.granted.botId);
  assert.equal(id(ready.applicationId), world.granted.appId);
  const [g] = await event(granted, 'guildCreate', (x) => id(x.id) === world.guild.id);
  assert.ok([...g.channels.values()].some((c) => id(c.id) === world.chan.id && c.name === 'library-chat'));
  assert.ok(g.roles.has(BigInt(world.guild.id)), '@everyone');
  assert.ok([...g.members.values()].some((m) => id(m.id ?? m.user?.id) === world.granted.botId), 'own member');
});

test('a user\'s message arrives with content (MESSAGE_CONTENT) and without it', { timeout: TEST_MS }, async () => {
  const m = await postMessage(world.owner.client, world.chan.id, 'hello discordeno');
  const [g] = await event(granted, 'messageCreate', (x) => id(x.id) === m.id);
  assert.equal(g.content, 'hello discordeno');
  const [p] = await event(plain, 'messageCreate', (x) => id(x.id) === m.id);
  assert.equal(p.content ?? '', '');
});

test('send, reply, embed, edit, delete, history before/after/around', { timeout: TEST_MS }, async () => {
  const h = granted.client.helpers;
  const q = await postMessage(world.owner.client, world.chan.id, 'discordeno question');
  const sent = await h.sendMessage(world.chan.id, { content: 'from discordeno' });
  assert.equal(sent.content, 'from discordeno');
  const reply = await h.sendMessage(world.chan.id, { content: 'discordeno answer', messageReference: { messageId: q.id } });
  assert.equal(reply.type, 19);
  assert.equal(id(reply.messageReference.messageId), q.id);
  assert.equal(id(reply.referencedMessage?.id), q.id);
  const embed = await h.sendMessage(world.chan.id, { embeds: [{ title: 'discordeno embed', fields: [{ name: 'a', value: 'b' }] }] });
  assert.equal(embed.embeds[0].title, 'discordeno embed');
  const edited = await h.editMessage(world.chan.id, sent.id, { content: 'from discordeno, edited' });
  assert.equal(edited.content, 'from discordeno, edited');
  await event(granted, 'messageUpdate', (x) => id(x.id) === id(sent.id) && x.content === 'from discordeno, edited');
  await h.deleteMessage(world.chan.id, embed.id);
  await event(granted, 'messageDelete', (x) => id(x.id) === id(embed.id));
  await checkHistory(async (query) => (await h.getMessages(world.chan.id, query)).map((m) => id(m.id)), [q.id, String(sent.id), String(reply.id)]);
});

test('typing, own presence seen by a user, members fetch/list/search, own nickname', { timeout: TEST_MS }, async () => {
  const c = granted.client;
  const user = await world.userSession();
  await c.helpers.triggerTypingIndicator(world.chan.id);
  await user.nextDispatch('TYPING_START', (d) => d.user_id === world.granted.botId && d.channel_id === world.chan.id);
  await c.gateway.editBotStatus({ status: 'dnd', activities: [{ name: 'discordeno tests', type: 0 }] });
  const pres = await user.nextDispatch('PRESENCE_UPDATE', (d) => d.user.id === world.granted.botId && d.status === 'dnd');
  assert.equal(pres.d.activities[0].name, 'discordeno tests');
  const member = await c.helpers.getMember(world.guild.id, world.owner.user.id);
  assert.equal(id(member.id ?? member.user?.id), world.owner.user.id);
  const members = await c.helpers.getMembers(world.guild.id, { limit: 100 });
  assert.ok(members.some((m) => id(m.id ?? m.user?.id) === world.plain.botId));
  const found = await c.helpers.searchMembers(world.guild.id, world.owner.user.username.slice(0, 4), { limit: 10 });
  assert.ok(found.some((m) => id(m.id ?? m.user?.id) === world.owner.user.id));
  const me = await c.helpers.editBotMember(world.guild.id, { nick: 'Deno Bot' });
  assert.equal(me.nick, 'Deno Bot');
  await event(granted, 'guildMemberUpdate', (m, u) => id(u.id) === world.granted.botId && m.nick === 'Deno Bot');
});


test('application commands: upsert global, list, guild create/edit/delete', { timeout: TEST_MS }, async () => {
  const h = granted.client.helpers;
  const put = await h.upsertGlobalApplicationCommands([{ name: 'ping', description: 'Replies pong' }, { type: 2, name: 'Hug' }]);
  assert.deepEqual(put.map((x) => x.name).sort(), ['Hug', 'ping']);
  assert.equal((await h.getGlobalApplicationCommands()).length, 2);
  const gc = await h.createGuildApplicationCommand({ name: 'roll', description: 'Rolls' }, world.guild.id);
  assert.equal(id(gc.guildId), world.guild.id);
  assert.equal((await h.editGuildApplicationCommand(gc.id, world.guild.id, { description: 'Rolls more' })).description, 'Rolls more');
  await h.deleteGuildApplicationCommand(gc.id, world.guild.id);
  assert.equal((await h.getGuildApplicationCommands(world.guild.id)).length, 0);
});

test('the connection cut without a close frame: it resumes and gets the message once', { timeout: TEST_MS }, async () => {
  assert.ok(world.gw.cut() >= 1);
  const m = await postMessage(world.owner.client, world.chan.id, 'discordeno, while away');
  await until(() => granted.resumed > 0, 'resumed');
  await event(granted, 'messageCreate', (x) => id(x.id) === m.id);
  const m2 = await postMessage(world.owner.client, world.chan.id, 'discordeno, after');
  await event(granted, 'messageCreate', (x) => id(x.id) === m2.id);
  assert.equal(granted.log.count('messageCreate', (x) => id(x.id) === m.id), 1, 'exactly once');
});

for (const transportCompression of ['zlib-stream', 'zstd-stream']) {
  test(`${transportCompression}`, { timeout: TEST_MS }, async () => {
    const z = await connect(world.granted, Intents.Guilds | Intents.GuildMessages | Intents.MessageContent, { transportCompression });
    const m = await postMessage(world.owner.client, world.chan.id, `discordeno, ${transportCompression}`);
    assert.equal((await event(z, 'messageCreate', (x) => id(x.id) === m.id))[0].content, `discordeno, ${transportCompression}`);
    world.gw.cut();
    const m2 = await postMessage(world.owner.client, world.chan.id, `discordeno, ${transportCompression}, while away`);
    await until(() => z.resumed > 0, `resumed over ${transportCompression}`);
    await event(z, 'messageCreate', (x) => id(x.id) === m2.id);
    assert.equal(z.log.count('messageCreate', (x) => id(x.id) === m2.id), 1);
  });
}
