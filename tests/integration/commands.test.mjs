// Application commands over real HTTP: a bot registers global and guild
// commands the way every framework does at start-up (bulk overwrite, then
// create/edit/delete), with Discord's shapes, errors and limits; commands
// survive a restart (kill -9 after the 2xx).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, register, createGuild, expectStatus, expectError, expectFieldError,
  assertSnowflake, fakeSnowflake,
} from './lib/server.mjs';
import { createBot, addBot } from './lib/gateway.mjs';

let srv, owner, bot, guild;
before(async () => {
  srv = await startServer();
  owner = await register(srv);
  bot = await createBot(srv, owner.client);
  ({ guild } = await createGuild(owner.client));
  await addBot(owner.client, guild.id, bot.botId);
});
after(async () => {
  if (srv) await srv.stopAndAssertClean();
});

const ping = { name: 'ping', description: 'Replies with pong' };
const roll = {
  name: 'roll',
  description: 'Rolls dice',
  options: [
    { type: 4, name: 'sides', description: 'How many sides', required: true, min_value: 2, max_value: 100 },
    { type: 3, name: 'label', description: 'A label', choices: [{ name: 'Red', value: 'red' }] },
  ],
};

function assertCommandShape(c, { appId, guildId, name, type = 1 }) {
  assertSnowflake(c.id, 'command.id');
  assertSnowflake(c.version, 'command.version');
  assert.equal(c.application_id, appId);
  assert.equal(c.type, type);
  assert.equal(c.name, name);
  assert.equal(typeof c.description, 'string');
  if (guildId) assert.equal(c.guild_id, guildId);
  else assert.ok(!('guild_id' in c), 'a global command has no guild_id');
  assert.ok('default_member_permissions' in c);
  assert.equal(typeof c.nsfw, 'boolean');
  assert.deepEqual(c.integration_types, [0]);
}

test('global commands: create (201, then 200 for the same name), get, list, edit, delete', async () => {
  const base = `/applications/${bot.appId}/commands`;
  const created = expectStatus(await bot.client.post(base, ping), 201);
  assertCommandShape(created, { appId: bot.appId, name: 'ping' });
  assert.equal(created.dm_permission, true);
  // The same name and type again replaces it: same id, 200.
  const again = expectStatus(await bot.client.post(base, { ...ping, description: 'Pong!' }), 200);
  assert.equal(again.id, created.id);
  assert.equal(again.description, 'Pong!');
  assert.notEqual(again.version, created.version, 'a change gives a new version');
  // A user command may share the name.
  const user = expectStatus(await bot.client.post(base, { type: 2, name: 'ping' }), 201);
  assert.notEqual(user.id, created.id);
  assert.equal(user.description, '');

  const got = expectStatus(await bot.client.get(`${base}/${created.id}`), 200);
  assert.equal(got.description, 'Pong!');
  const list = expectStatus(await bot.client.get(base), 200);
  assert.deepEqual(list.map((c) => c.id).sort(), [created.id, user.id].sort());
  assert.ok(!('name_localizations' in list[0]), 'no localizations without ?with_localizations=true');
  const withLoc = expectStatus(await bot.client.get(`${base}?with_localizations=true`), 200);
  assert.ok('name_localizations' in withLoc[0]);

  const edited = expectStatus(await bot.client.patch(`${base}/${created.id}`, {
    description: 'Edited', name_localizations: { fr: 'salut' }, type: 3,
  }), 200);
  assert.equal(edited.description, 'Edited');
  assert.equal(edited.type, 1, 'PATCH cannot change the type');
  assert.deepEqual(edited.name_localizations, { fr: 'salut' });
  // Renaming onto another command of the same type is refused.
  const other = expectStatus(await bot.client.post(base, { name: 'other', description: 'd' }), 201);
  expectFieldError(await bot.client.patch(`${base}/${other.id}`, { name: 'ping' }), 'name');

  const del = await bot.client.del(`${base}/${other.id}`);
  assert.equal(del.status, 204, del.text);
  expectError(await bot.client.get(`${base}/${other.id}`), 404, 10063);
  expectError(await bot.client.del(`${base}/${other.id}`), 404, 10063);
  expectError(await bot.client.patch(`${base}/${fakeSnowflake()}`, { description: 'x' }), 404, 10063);
});

test('bulk overwrite keeps the ids of commands it names, deletes the rest, and is idempotent', async () => {
  const b2 = await createBot(srv, owner.client);
  const base = `/applications/${b2.appId}/commands`;
  const first = expectStatus(await b2.client.put(base, [ping, roll]), 200);
  assert.deepEqual(first.map((c) => c.name), ['ping', 'roll']);
  assert.deepEqual(first[1].options.map((o) => o.name), ['sides', 'label']);
  assert.equal(first[1].options[0].required, true);
  // The same array again changes nothing: same ids and versions.
  const same = expectStatus(await b2.client.put(base, [ping, roll]), 200);
  assert.deepEqual(same.map((c) => [c.id, c.version]), first.map((c) => [c.id, c.version]));
  // Drop ping, add a message command, edit roll.
  const next = expectStatus(await b2.client.put(base, [
    { ...roll, description: 'Rolls more dice' }, { type: 3, name: 'Quote This' },
  ]), 200);
  assert.equal(next[0].id, first[1].id, 'roll keeps its id');
  assert.notEqual(next[0].version, first[1].version);
  const list = expectStatus(await b2.client.get(base), 200);
  assert.deepEqual(list.map((c) => c.name).sort(), ['Quote This', 'roll']);
  // Empty array: no commands.
  assert.deepEqual(expectStatus(await b2.client.put(base, []), 200), []);
  assert.deepEqual(expectStatus(await b2.client.get(base), 200), []);
  // Duplicate names in one array, a bad entry: 50035 at the entry.
  const dup = expectFieldError(await b2.client.put(base, [ping, ping]), '1');
  assert.equal(dup.errors['1'].name._errors[0].code, 'APPLICATION_COMMANDS_DUPLICATE_NAME');
  expectFieldError(await b2.client.put(base, [ping, { name: 'Bad Name', description: 'd' }]), '1');
  expectError(await b2.client.put(base, { not: 'an array' }), 400, [50035, 50109]);
});

test('guild commands: only in guilds the bot is in; apart from global ones; gone with the guild', async () => {
  const base = `/applications/${bot.appId}/guilds/${guild.id}/commands`;
  const put = expectStatus(await bot.client.put(base, [ping]), 200);
  assertCommandShape(put[0], { appId: bot.appId, guildId: guild.id, name: 'ping' });
  assert.ok(!('dm_permission' in put[0]), 'guild commands have no dm_permission');
  const created = expectStatus(await bot.client.post(base, roll), 201);
  expectStatus(await bot.client.get(`${base}/${created.id}`), 200);
  // A global command id is not a guild command.
  const globals = expectStatus(await bot.client.get(`/applications/${bot.appId}/commands`), 200);
  expectError(await bot.client.get(`${base}/${globals[0].id}`), 404, 10063);
  assert.deepEqual(expectStatus(await bot.client.get(base), 200).map((c) => c.name).sort(), ['ping', 'roll']);
  // Permissions: none kept.
  assert.deepEqual(expectStatus(await bot.client.get(`${base}/permissions`), 200), []);
  expectError(await bot.client.get(`${base}/${created.id}/permissions`), 404, 10066);
  expectError(await bot.client.put(`${base}/${created.id}/permissions`, { permissions: [] }), 403, 50001);

  // A guild the bot is not in, and a guild that does not exist.
  const { guild: other } = await createGuild(owner.client);
  expectError(await bot.client.put(`/applications/${bot.appId}/guilds/${other.id}/commands`, [ping]), 403, 50001);
  expectError(await bot.client.get(`/applications/${bot.appId}/guilds/${fakeSnowflake()}/commands`), 404, 10004);
  // Another application's commands, or a user token: 403.
  const b3 = await createBot(srv, owner.client);
  expectError(await b3.client.get(`/applications/${bot.appId}/commands`), 403, 50001);
  expectError(await owner.client.get(`/applications/${bot.appId}/commands`), 403, 50001);

  // Deleting the guild deletes its commands.
  const { guild: g2 } = await createGuild(owner.client);
  await addBot(owner.client, g2.id, b3.botId);
  expectStatus(await b3.client.put(`/applications/${b3.appId}/guilds/${g2.id}/commands`, [ping]), 200);
  assert.equal((await owner.client.del(`/guilds/${g2.id}`)).status, 204);
  expectError(await b3.client.get(`/applications/${b3.appId}/guilds/${g2.id}/commands`), 404, 10004);
});

test('limits: 100 chat input and 15 user commands per scope (30032), also under concurrent creates', async () => {
  const b = await createBot(srv, owner.client);
  const base = `/applications/${b.appId}/commands`;
  const many = Array.from({ length: 100 }, (_, i) => ({ name: `c${i}`, description: 'd' }));
  expectStatus(await b.client.put(base, many), 200);
  expectError(await b.client.post(base, { name: 'one-more', description: 'd' }), 400, 30032);
  expectError(await b.client.put(base, [...many, { name: 'c100', description: 'd' }]), 400, 30032);
  // Replacing an existing one is not a new command.
  expectStatus(await b.client.post(base, { name: 'c5', description: 'changed' }), 200);
  const users = Array.from({ length: 15 }, (_, i) => ({ type: 2, name: `U ${i}` }));
  expectStatus(await b.client.put(base, users), 200);
  expectError(await b.client.post(base, { type: 2, name: 'U 15' }), 400, 30032);

  // Concurrent creates of one name make one command; of many names stop at
  // the limit.
  const b2 = await createBot(srv, owner.client);
  const base2 = `/applications/${b2.appId}/commands`;
  const same = await Promise.all(Array.from({ length: 8 }, () => b2.client.post(base2, ping)));
  assert.deepEqual(same.map((r) => r.status).sort(), [200, 200, 200, 200, 200, 200, 200, 201]);
  assert.equal(new Set(same.map((r) => r.json.id)).size, 1);
  const racers = await Promise.all(Array.from({ length: 20 }, (_, i) =>
    b2.client.post(base2, { type: 3, name: `M ${i}` })));
  assert.equal(racers.filter((r) => r.status === 201).length, 15);
  assert.ok(racers.every((r) => r.status === 201 || (r.status === 400 && r.json.code === 30032)));
  assert.equal(expectStatus(await b2.client.get(base2), 200).filter((c) => c.type === 3).length, 15);
});

test('bad bodies get 50035 at the field', async () => {
  const base = `/applications/${bot.appId}/commands`;
  expectFieldError(await bot.client.post(base, { description: 'no name' }), 'name');
  expectFieldError(await bot.client.post(base, { name: 'UPPER', description: 'd' }), 'name');
  expectFieldError(await bot.client.post(base, { name: 'x' }), 'description');
  expectFieldError(await bot.client.post(base, { name: 'x', description: 'd', type: 9 }), 'type');
  const opt = expectFieldError(await bot.client.post(base, {
    name: 'x', description: 'd', options: [{ type: 3, name: 'a', description: 'd' }, { type: 3, name: 'b', description: 'd', required: true }],
  }), 'options');
  assert.equal(opt.errors.options['1'].required._errors[0].code, 'APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID');
  expectFieldError(await bot.client.post(base, { type: 3, name: 'Ctx', description: 'not allowed' }), 'description');
  expectError(await bot.client.post(base, 'not json'), 400, [50035, 50109]);
});

test('commands are durable: kill -9 right after the 2xx, then every command is back', async () => {
  const s = await startServer();
  try {
    const o = await register(s);
    const b = await createBot(s, o.client);
    const { guild: g } = await createGuild(o.client);
    await addBot(o.client, g.id, b.botId);
    const globals = expectStatus(await b.client.put(`/applications/${b.appId}/commands`, [ping, roll]), 200);
    const inGuild = expectStatus(await b.client.post(`/applications/${b.appId}/guilds/${g.id}/commands`, { type: 2, name: 'Hug' }), 201);
    await s.kill9();
    await s.start();
    const again = expectStatus(await b.client.get(`/applications/${b.appId}/commands?with_localizations=true`), 200);
    assert.deepEqual(again, globals);
    assert.deepEqual(expectStatus(await b.client.get(`/applications/${b.appId}/guilds/${g.id}/commands/${inGuild.id}`), 200), inGuild);
  } finally {
    await s.stop();
  }
});
