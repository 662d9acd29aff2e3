// Guilds, channels, members, invites, bots in guilds (issue §4), and that a
// non-member never learns what a guild contains.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, register, uniqueName, createGuild, createChannel, inviteAndJoin, postMessage,
  expectStatus, expectError, expectFieldError, expectNoAccess, assertSnowflake, assertUserShape,
  assertIsoTimestamp, fakeSnowflake, request,
} from './lib/server.mjs';

let srv;
before(async () => {
  srv = await startServer();
});
after(async () => {
  if (srv) await srv.stopAndAssertClean();
});

test('POST /guilds: owner, @everyone role id == guild id, default text channel "general"', async () => {
  const a = await register(srv);
  const name = uniqueName('Guild ');
  const res = await a.client.post('/guilds', { name });
  const g = expectStatus(res, [200, 201]);
  assertSnowflake(g.id, 'guild.id');
  assert.equal(g.name, name);
  assert.equal(g.owner_id, a.user.id);
  assert.ok(Array.isArray(g.roles), `guild.roles is an array: ${res.text}`);
  const everyone = g.roles.find((r) => r.id === g.id);
  assert.ok(everyone, '@everyone role has the guild id');
  assert.equal(everyone.name, '@everyone');
  assert.equal(typeof everyone.permissions, 'string', 'role.permissions is a string');
  assert.match(everyone.permissions, /^\d+$/);

  const got = expectStatus(await a.client.get(`/guilds/${g.id}`), 200);
  assert.equal(got.id, g.id);
  assert.equal(got.name, name);
  assert.equal(got.owner_id, a.user.id);

  const channels = expectStatus(await a.client.get(`/guilds/${g.id}/channels`), 200);
  assert.ok(Array.isArray(channels));
  const general = channels.find((c) => c.name === 'general');
  assert.ok(general, 'general channel exists');
  assert.equal(general.type, 0);
  assert.equal(general.guild_id, g.id);
  assertSnowflake(general.id);
  assert.equal(typeof general.position, 'number');
  if ('permission_overwrites' in general) assert.ok(Array.isArray(general.permission_overwrites));

  const roles = expectStatus(await a.client.get(`/guilds/${g.id}/roles`), 200);
  assert.ok(roles.some((r) => r.id === g.id && r.name === '@everyone'));

  const ch = expectStatus(await a.client.get(`/channels/${general.id}`), 200);
  assert.equal(ch.id, general.id);
  assert.equal(ch.guild_id, g.id);
  assert.equal(ch.type, 0);
});

test('guild name validation and unknown guild', async () => {
  const a = await register(srv);
  expectFieldError(await a.client.post('/guilds', {}), 'name', 'no name');
  expectFieldError(await a.client.post('/guilds', { name: '' }), 'name', 'empty name');
  expectFieldError(await a.client.post('/guilds', { name: 'n'.repeat(101) }), 'name', '101 chars');
  expectFieldError(await a.client.post('/guilds', { name: { x: 1 } }), 'name', 'name as object');
  expectError(await a.client.get(`/guilds/${fakeSnowflake()}`), 404, 10004, 'unknown guild');
  expectError(await a.client.get(`/guilds/${fakeSnowflake()}/channels`), 404, 10004);
  expectError(await a.client.get(`/channels/${fakeSnowflake()}`), 404, 10003, 'unknown channel');
});

test('GET /guilds/{id}/roles/{id}; Discord\'s required guild fields; the most specific route decides', async () => {
  const a = await register(srv);
  const { guild } = await createGuild(a.client);
  const g = expectStatus(await a.client.get(`/guilds/${guild.id}`), 200);
  assert.ok('incidents_data' in g && g.incidents_data === null, 'incidents_data: null');
  const role = expectStatus(await a.client.post(`/guilds/${guild.id}/roles`, { name: 'mods' }), 200);
  assert.deepEqual(expectStatus(await a.client.get(`/guilds/${guild.id}/roles/${role.id}`), 200), role);
  const everyone = expectStatus(await a.client.get(`/guilds/${guild.id}/roles/${guild.id}`), 200);
  assert.equal(everyone.name, '@everyone');
  expectError(await a.client.get(`/guilds/${guild.id}/roles/1234567890123456789`), 404, 10011, 'unknown role');
  const outsider = await register(srv);
  expectError(await outsider.client.get(`/guilds/${guild.id}/roles/${role.id}`), 403, 50001, 'not a member');
  // "Modify Guild Role Positions" and "Modify Guild Channel Positions".
  const second = expectStatus(await a.client.post(`/guilds/${guild.id}/roles`, { name: 'helpers' }), 200);
  const roles = expectStatus(await a.client.patch(`/guilds/${guild.id}/roles`, [{ id: role.id, position: 3 }, { id: second.id, position: 2 }]), 200, 'role positions');
  assert.deepEqual(roles.map((r) => [r.id, r.position]).sort(), [[guild.id, 0], [role.id, 3], [second.id, 2]].sort());
  assert.equal(expectStatus(await a.client.get(`/guilds/${guild.id}/roles/${role.id}`), 200).position, 3);
  expectError(await a.client.patch(`/guilds/${guild.id}/roles`, [{ id: '1234567890123456789', position: 1 }]), 404, 10011, 'unknown role');
  expectFieldError(await a.client.patch(`/guilds/${guild.id}/roles`, [{ position: 1 }]), '0', 'no id');
  expectError(await a.client.patch(`/guilds/${guild.id}/roles`, { id: role.id, position: 1 }), 400, 50109, 'not an array');
  const channels = expectStatus(await a.client.get(`/guilds/${guild.id}/channels`), 200);
  const first = channels[0];
  const moved = await a.client.patch(`/guilds/${guild.id}/channels`, [{ id: first.id, position: 7 }]);
  assert.equal(moved.status, 204, `channel positions: ${moved.status} ${moved.text}`);
  assert.equal(expectStatus(await a.client.get(`/channels/${first.id}`), 200).position, 7);
  expectFieldError(await a.client.patch(`/guilds/${guild.id}/channels`, [{ id: first.id, parent_id: first.id }]), '0', 'no categories');
  // A manager below the owner: sending every role (as discord.js does), its
  // own top role unchanged among them, moves only what it may.
  const mgrRole = expectStatus(await a.client.post(`/guilds/${guild.id}/roles`, { name: 'mgr', permissions: String(1 << 28) }), 200);
  const all = expectStatus(await a.client.patch(`/guilds/${guild.id}/roles`, [{ id: mgrRole.id, position: 10 }]), 200);
  assert.equal(all.find((r) => r.id === mgrRole.id).position, 10);
  const manager = await register(srv);
  await inviteAndJoin(a.client, manager.client, first.id);
  expectStatus(await a.client.put(`/guilds/${guild.id}/members/${manager.user.id}/roles/${mgrRole.id}`), 204, 'give mgr');
  const everyRole = all.map((r) => ({ id: r.id, position: r.id === second.id ? 4 : r.position }));
  const after = expectStatus(await manager.client.patch(`/guilds/${guild.id}/roles`, everyRole), 200, 'manager moves one of every role sent');
  assert.equal(after.find((r) => r.id === second.id).position, 4);
  expectError(await manager.client.patch(`/guilds/${guild.id}/roles`, [{ id: second.id, position: 11 }]), 403, 50013, 'not above its own top role');
  const member = await register(srv);
  await inviteAndJoin(a.client, member.client, first.id);
  expectError(await member.client.patch(`/guilds/${guild.id}/roles`, [{ id: role.id, position: 1 }]), 403, 50013, 'role positions need MANAGE_ROLES');
  expectError(await member.client.patch(`/guilds/${guild.id}/channels`, [{ id: first.id, position: 1 }]), 403, 50013, 'channel positions need MANAGE_CHANNELS');

  // "/guilds/{id}/members/search" is the search route whatever the method:
  // PATCH is 405, not member "search" of "/guilds/{id}/members/{id}".
  expectError(await a.client.patch(`/guilds/${guild.id}/members/search`, { nick: 'x' }), 405, 0, 'PATCH members/search');
  expectError(await a.client.del(`/guilds/${guild.id}/members/search`), 405, 0, 'DELETE members/search');
});

test('what Parley has none of is an empty list after Discord\'s checks, and unknown by id', async () => {
  const a = await register(srv);
  const b = await register(srv);
  const outsider = await register(srv);
  const { guild, general } = await createGuild(a.client);
  await inviteAndJoin(a.client, b.client, general.id);
  const g = `/guilds/${guild.id}`;
  const noThreads = { threads: [], members: [] };
  for (const [route, empty] of [['/emojis', []], ['/stickers', []], ['/scheduled-events', []], ['/threads/active', noThreads]]) {
    assert.deepEqual(expectStatus(await b.client.get(g + route), 200, route), empty, route);
    expectError(await outsider.client.get(g + route), 403, 50001, `${route}: not a member`);
  }
  for (const route of ['/integrations', '/auto-moderation/rules']) {
    assert.deepEqual(expectStatus(await a.client.get(g + route), 200, route), [], route);
    expectError(await b.client.get(g + route), 403, 50013, `${route} needs MANAGE_GUILD`);
  }
  const id = '1234567890123456789';
  expectError(await b.client.get(`${g}/emojis/${id}`), 404, 10014, 'unknown emoji');
  expectError(await b.client.get(`${g}/stickers/${id}`), 404, 10060, 'unknown sticker');
  expectError(await b.client.get(`${g}/scheduled-events/${id}`), 404, 10070, 'unknown event');
  expectError(await a.client.get(`${g}/auto-moderation/rules/${id}`), 404, 0, 'unknown rule');
  const archived = { threads: [], members: [], has_more: false };
  assert.deepEqual(expectStatus(await b.client.get(`/channels/${general.id}/threads/archived/public`), 200), archived);
  expectError(await b.client.get(`/channels/${general.id}/threads/archived/private`), 403, 50013, 'private archived threads need MANAGE_THREADS');
  assert.deepEqual(expectStatus(await a.client.get(`/channels/${general.id}/threads/archived/private`), 200), archived);
  assert.deepEqual(expectStatus(await b.client.get(`/channels/${general.id}/users/@me/threads/archived/private`), 200), archived);
  expectError(await outsider.client.get(`/channels/${general.id}/threads/archived/public`), 403, 50001, 'not a member');
  assert.deepEqual(expectStatus(await b.client.get('/users/@me/channels'), 200), [], 'no DM channels');
  // A bot's own application.
  const app = expectStatus(await a.client.post('/applications', { name: uniqueName('app') }), [200, 201]);
  const bot = srv.client(app.token, { bot: true });
  assert.deepEqual(expectStatus(await bot.get(`/applications/${app.id}/emojis`), 200), { items: [] });
  expectError(await bot.get(`/applications/${app.id}/emojis/${id}`), 404, 10014, 'unknown application emoji');
  assert.deepEqual(expectStatus(await bot.get(`/applications/${app.id}/entitlements`), 200), []);
  assert.deepEqual(expectStatus(await bot.get(`/applications/${app.id}/skus`), 200), []);
  expectError(await a.client.get(`/applications/${app.id}/skus`), 403, 50001, 'the owner\'s user token is not the application');
  expectError(await bot.get(`/applications/${app.id}/entitlements/${id}`), 404, 10029);
  expectError(await bot.post(`/applications/${app.id}/entitlements`, { sku_id: id, owner_id: id, owner_type: 1 }), 404, 10027);
  assert.deepEqual(expectStatus(await bot.get(`/applications/${app.id}/role-connections/metadata`), 200), []);
});

test('the rest of Discord\'s guild and channel routes: real where Parley has the data, Discord\'s answer for none', async () => {
  const a = await register(srv);
  const b = await register(srv);
  const outsider = await register(srv);
  const { guild, general } = await createGuild(a.client);
  await inviteAndJoin(a.client, b.client, general.id);
  const g = `/guilds/${guild.id}`;
  const id = '1234567890123456789';
  // Role member counts: real.
  const mod = expectStatus(await a.client.post(`${g}/roles`, { name: 'mod' }), 200);
  const idle = expectStatus(await a.client.post(`${g}/roles`, { name: 'idle' }), 200);
  expectStatus(await a.client.put(`${g}/members/${b.user.id}/roles/${mod.id}`), 204);
  assert.deepEqual(expectStatus(await b.client.get(`${g}/roles/member-counts`), 200), { [mod.id]: 1, [idle.id]: 0 });
  // The preview, own member, regions, onboarding, soundboard: for members.
  const preview = expectStatus(await b.client.get(`${g}/preview`), 200);
  assert.equal(preview.id, guild.id);
  assert.equal(preview.approximate_member_count, 2);
  assert.deepEqual([preview.emojis, preview.stickers, preview.features], [[], [], []]);
  expectError(await outsider.client.get(`${g}/preview`), 403, 50001);
  const me = expectStatus(await b.client.get(`/users/@me/guilds/${guild.id}/member`), 200);
  assert.equal(me.user.id, b.user.id);
  assert.deepEqual(me.roles, [mod.id]);
  assert.deepEqual(expectStatus(await b.client.get(`${g}/regions`), 200), []);
  assert.deepEqual(expectStatus(await b.client.get(`${g}/soundboard-sounds`), 200), { items: [] });
  expectError(await b.client.get(`${g}/soundboard-sounds/${id}`), 404, 10097);
  expectError(await b.client.get(`${g}/voice-states/@me`), 404, 10065);
  expectError(await b.client.get(`${g}/scheduled-events/${id}/users`), 404, 10070);
  const onboarding = expectStatus(await b.client.get(`${g}/onboarding`), 200);
  assert.equal(onboarding.enabled, false);
  assert.deepEqual(expectStatus(await b.client.get('/users/@me/connections'), 200), []);
  // MANAGE_GUILD (and friends): the owner gets Discord's "none" answers,
  // a plain member 50013.
  for (const [route, want] of [['/webhooks', []], ['/templates', []], ['/vanity-url', { code: null, uses: 0 }],
    ['/widget', { enabled: false, channel_id: null }]]) {
    assert.deepEqual(expectStatus(await a.client.get(g + route), 200, route), want, route);
    expectError(await b.client.get(g + route), 403, 50013, `${route}: missing permission`);
  }
  expectError(await a.client.get(`${g}/welcome-screen`), 404, 10069);
  expectError(await a.client.del(`${g}/integrations/${id}`), 404, 10005);
  expectError(await a.client.get(`/guilds/templates/abcdef`), 404, 10057);
  expectError(await request(srv, 'GET', `${g}/widget.json`), 403, 50004, 'the widget is disabled (no token needed)');
  // Prune: nobody is inactive; days is checked.
  assert.deepEqual(expectStatus(await a.client.get(`${g}/prune?days=7`), 200), { pruned: 0 });
  assert.deepEqual(expectStatus(await a.client.post(`${g}/prune`, { days: 30 }), 200), { pruned: 0 });
  expectFieldError(await a.client.get(`${g}/prune?days=31`), 'days');
  expectError(await b.client.get(`${g}/prune`), 403, 50013);
  // MFA level: the owner only; level 1 needs two-factor, which nobody has.
  assert.deepEqual(expectStatus(await a.client.post(`${g}/mfa`, { level: 0 }), 200), { level: 0 });
  expectError(await a.client.post(`${g}/mfa`, { level: 1 }), 403, 60003);
  expectError(await b.client.post(`${g}/mfa`, { level: 0 }), 403, 50013);
  // Channel actions that need a thread, an announcement channel or a poll.
  const c = `/channels/${general.id}`;
  const m = await postMessage(a.client, general.id, 'not a poll');
  assert.deepEqual(expectStatus(await a.client.get(`${c}/webhooks`), 200), []);
  expectError(await b.client.get(`${c}/webhooks`), 403, 50013);
  for (const [method, route] of [['POST', '/followers'], ['POST', `/messages/${m.id}/crosspost`], ['POST', '/threads'],
    ['POST', `/messages/${m.id}/threads`], ['GET', '/thread-members'], ['PUT', '/thread-members/@me'],
    ['PUT', `/recipients/${b.user.id}`]]) {
    expectError(await a.client.req(method, c + route, method === 'GET' ? {} : { body: {} }), 400, 50024, `${method} ${route}`);
  }
  expectError(await outsider.client.post(`${c}/threads`, { name: 'x' }), 403, 50001);
  expectError(await a.client.post(`${c}/polls/${m.id}/expire`), 400, 520006);
  expectError(await a.client.get(`${c}/polls/${m.id}/answers/1`), 404, 10008);

  // Invites: VIEW_AUDIT_LOG lists them without metadata.
  const auditor = expectStatus(await a.client.post(`${g}/roles`, { name: 'auditor', permissions: String(1n << 7n) }), 200);
  expectStatus(await a.client.put(`${g}/members/${b.user.id}/roles/${auditor.id}`), 204);
  const invites = expectStatus(await b.client.get(`${g}/invites`), 200);
  assert.ok(invites.length >= 1 && invites.every((i) => !('uses' in i)), 'no metadata without MANAGE_GUILD');
  assert.ok(expectStatus(await a.client.get(`${g}/invites`), 200).every((i) => 'uses' in i));
  // Counts in /users/@me/guilds only with with_counts=true.
  const plainList = expectStatus(await b.client.get('/users/@me/guilds'), 200);
  assert.ok(plainList.every((x) => !('approximate_member_count' in x)));
  const counted = expectStatus(await b.client.get('/users/@me/guilds?with_counts=true'), 200);
  assert.equal(counted.find((x) => x.id === guild.id).approximate_member_count, 2);
  // A flags-only edit of another's message by MANAGE_MESSAGES; anything else is the author's.
  const mine = await postMessage(b.client, general.id, 'https://example.test has an embed');
  const suppressed = expectStatus(await a.client.patch(`${c}/messages/${mine.id}`, { flags: 4 }), 200);
  assert.equal(suppressed.flags & 4, 4);
  assert.equal(suppressed.edited_timestamp, null, 'a flags-only change is not an edit');
  assert.equal(suppressed.content, mine.content);
  expectError(await a.client.patch(`${c}/messages/${mine.id}`, { content: 'no' }), 403, 50005);
  expectError(await outsider.client.patch(`${c}/messages/${mine.id}`, { flags: 4 }), 403, 50001);
});

test('bots: no guild creation (Discord closed it to apps); the member list needs the GUILD_MEMBERS intent', async () => {
  const a = await register(srv);
  const { guild } = await createGuild(a.client);
  const app = expectStatus(await a.client.post('/applications', { name: uniqueName('app') }), [200, 201]);
  const bot = srv.client(app.token, { bot: true });
  expectError(await bot.post('/guilds', { name: 'by a bot' }), 403, 20001);
  expectStatus(await a.client.put(`/guilds/${guild.id}/members/${app.bot.id}`, {}), [201, 204]);
  expectError(await bot.get(`/guilds/${guild.id}/members?limit=10`), 403, 50001);
  expectStatus(await a.client.patch(`/applications/${app.id}`, { flags: 1 << 15 }), 200);
  assert.ok(expectStatus(await bot.get(`/guilds/${guild.id}/members?limit=10`), 200).length === 2);
  // A single member needs no intent.
  expectStatus(await bot.get(`/guilds/${guild.id}/members/${a.user.id}`), 200);
});

test('PATCH /guilds/{id} needs MANAGE_GUILD; DELETE is owner-only → 204', async () => {
  const a = await register(srv);
  const b = await register(srv);
  const { guild, general } = await createGuild(a.client);
  await inviteAndJoin(a.client, b.client, general.id);

  const p = expectStatus(await a.client.patch(`/guilds/${guild.id}`, { name: 'renamed' }), 200);
  assert.equal(p.name, 'renamed');
  assert.equal(expectStatus(await b.client.get(`/guilds/${guild.id}`), 200).name, 'renamed');
  expectError(await b.client.patch(`/guilds/${guild.id}`, { name: 'bob was here' }), 403, 50013, 'member PATCH guild');
  expectFieldError(await a.client.patch(`/guilds/${guild.id}`, { name: '' }), 'name');

  const bd = await b.client.del(`/guilds/${guild.id}`);
  expectError(bd, 403, [50001, 50013], 'member DELETE guild');
  const d = await a.client.del(`/guilds/${guild.id}`);
  assert.equal(d.status, 204, `owner DELETE guild: ${d.status} ${d.text}`);
  expectError(await a.client.get(`/guilds/${guild.id}`), 404, 10004, 'deleted guild');
  expectError(await b.client.get(`/guilds/${guild.id}`), 404, 10004, 'deleted guild (member)');
  expectError(await a.client.get(`/channels/${general.id}`), 404, 10003, 'channel of deleted guild');
  expectError(await a.client.post(`/channels/${general.id}/messages`, { content: 'x' }), 404, 10003);
  const ga = expectStatus(await a.client.get('/users/@me/guilds'), 200);
  assert.ok(!ga.some((g) => g.id === guild.id));
  const gb = expectStatus(await b.client.get('/users/@me/guilds'), 200);
  assert.ok(!gb.some((g) => g.id === guild.id));
});

test('channels: create with Discord name rules, GET, PATCH, DELETE', async () => {
  const a = await register(srv);
  const { guild } = await createGuild(a.client);
  const url = `/guilds/${guild.id}/channels`;

  const c = expectStatus(await a.client.post(url, { name: 'dev-talk', type: 0 }), [200, 201]);
  assertSnowflake(c.id);
  assert.equal(c.name, 'dev-talk');
  assert.equal(c.type, 0);
  assert.equal(c.guild_id, guild.id);
  assert.equal(typeof c.position, 'number');

  // no type → text channel
  const c2 = expectStatus(await a.client.post(url, { name: 'defaults' }), [200, 201]);
  assert.equal(c2.type, 0);

  // the server may keep "Hello World" or apply the Discord client's lowercase/dash conversion
  const c3 = expectStatus(await a.client.post(url, { name: 'Hello World' }), [200, 201]);
  assert.ok(['Hello World', 'hello world', 'hello-world'].includes(c3.name), `unexpected name ${c3.name}`);

  const hundred = 'c'.repeat(100);
  expectStatus(await a.client.post(url, { name: hundred }), [200, 201], '100-char name');
  expectFieldError(await a.client.post(url, { name: '' }), 'name', 'empty channel name');
  expectFieldError(await a.client.post(url, { name: 'c'.repeat(101) }), 'name', '101-char name');
  expectFieldError(await a.client.post(url, {}), 'name', 'missing name');
  expectFieldError(await a.client.post(url, { name: 12 }), 'name', 'name as number');

  const list = expectStatus(await a.client.get(url), 200);
  for (const id of [c.id, c2.id, c3.id]) assert.ok(list.some((x) => x.id === id), `listing has ${id}`);

  const p = expectStatus(await a.client.patch(`/channels/${c.id}`, { name: 'renamed-chan' }), 200);
  assert.equal(p.name, 'renamed-chan');
  assert.equal(p.id, c.id);
  assert.equal(expectStatus(await a.client.get(`/channels/${c.id}`), 200).name, 'renamed-chan');
  expectFieldError(await a.client.patch(`/channels/${c.id}`, { name: '' }), 'name');

  const d = await a.client.del(`/channels/${c.id}`);
  assert.ok([200, 204].includes(d.status), `DELETE channel: ${d.status} ${d.text}`);
  if (d.status === 200) assert.equal(d.json.id, c.id, 'Discord returns the deleted channel');
  expectError(await a.client.get(`/channels/${c.id}`), 404, 10003);
  expectError(await a.client.post(`/channels/${c.id}/messages`, { content: 'x' }), 404, 10003);
  const list2 = expectStatus(await a.client.get(url), 200);
  assert.ok(!list2.some((x) => x.id === c.id), 'deleted channel not listed');
});

test('invites: create, GET without membership, join, unknown → 404 10006', async () => {
  const a = await register(srv);
  const b = await register(srv);
  const { guild, general } = await createGuild(a.client, uniqueName('InvG'));
  const inv = expectStatus(await a.client.post(`/channels/${general.id}/invites`, {}), [200, 201]);
  assert.equal(typeof inv.code, 'string');
  assert.ok(inv.code.length >= 4);
  assert.equal(inv.guild?.id, guild.id, 'invite.guild.id');
  assert.equal(inv.channel?.id, general.id, 'invite.channel.id');

  // not a member yet: cannot see the guild, but can look at the invite
  expectNoAccess(await b.client.get(`/guilds/${guild.id}`), 10004, 'before joining');
  const look = expectStatus(await b.client.get(`/invites/${inv.code}`), 200, 'GET invite as non-member');
  assert.equal(look.code, inv.code);
  assert.equal(look.guild.id, guild.id);
  assert.equal(look.guild.name, guild.name);
  assert.equal(look.channel.id, general.id);

  const j = await b.client.post(`/invites/${inv.code}`, {});
  expectStatus(j, [200, 201, 204], 'join');
  expectStatus(await b.client.get(`/guilds/${guild.id}`), 200, 'after joining');
  const mine = expectStatus(await b.client.get('/users/@me/guilds'), 200);
  assert.ok(mine.some((g) => g.id === guild.id));
  await postMessage(b.client, general.id, 'joined!');

  expectError(await b.client.get('/invites/doesnotexist'), 404, 10006);
  expectError(await b.client.post('/invites/doesnotexist', {}), 404, 10006);
  expectError(await b.client.post(`/channels/${fakeSnowflake()}/invites`, {}), 404, 10003);
  // unauthenticated join is refused
  expectError(await request(srv, 'POST', `/invites/${inv.code}`, { body: {} }), 401, 0);
});

test('members: list with limit/after, GET member, unknown member, limit bounds', async () => {
  const a = await register(srv);
  const others = [await register(srv), await register(srv), await register(srv)];
  const { guild, general } = await createGuild(a.client);
  for (const o of others) await inviteAndJoin(a.client, o.client, general.id);
  const allIds = [a, ...others].map((u) => u.user.id).sort((x, y) => (BigInt(x) < BigInt(y) ? -1 : 1));

  const url = `/guilds/${guild.id}/members`;
  const first = expectStatus(await a.client.get(`${url}?limit=1&after=0`), 200);
  assert.equal(first.length, 1);
  assert.equal(first[0].user.id, allIds[0], 'members ordered by user id');
  assertUserShape(first[0].user, 'member.user');
  assert.ok(Array.isArray(first[0].roles), 'member.roles');
  assertIsoTimestamp(first[0].joined_at, 'member.joined_at');

  // paging with after
  const seen = [];
  let after = '0';
  for (let i = 0; i < 10; i++) {
    const page = expectStatus(await a.client.get(`${url}?limit=1&after=${after}`), 200);
    if (!page.length) break;
    seen.push(page[0].user.id);
    after = page[0].user.id;
  }
  assert.deepEqual(seen, allIds);
  const big = expectStatus(await a.client.get(`${url}?limit=1000`), 200);
  assert.deepEqual(big.map((m) => m.user.id), allIds);
  const two = expectStatus(await others[0].client.get(`${url}?limit=2&after=${allIds[1]}`), 200);
  assert.deepEqual(two.map((m) => m.user.id), allIds.slice(2, 4));
  for (const bad of ['0', '1001', 'x']) expectFieldError(await a.client.get(`${url}?limit=${bad}`), 'limit', `members limit=${bad}`);

  const m = expectStatus(await a.client.get(`${url}/${others[1].user.id}`), 200);
  assert.equal(m.user.id, others[1].user.id);
  assert.ok(Array.isArray(m.roles));
  const outsider = await register(srv);
  expectError(await a.client.get(`${url}/${outsider.user.id}`), 404, 10007, 'non-member user');
  expectError(await a.client.get(`${url}/${fakeSnowflake()}`), 404, [10007, 10013], 'unknown user');
});

test('members/search by username or nickname prefix; own nickname with PATCH members/@me', async () => {
  const tag = uniqueName('s').toLowerCase();
  const a = await register(srv, `${tag}_alice`);
  const b = await register(srv, `${tag}_bob`);
  const c = await register(srv, uniqueName('zed'));
  const { guild, general } = await createGuild(a.client);
  await inviteAndJoin(a.client, b.client, general.id);
  await inviteAndJoin(a.client, c.client, general.id);
  const url = `/guilds/${guild.id}/members/search`;
  const ids = (list) => list.map((m) => m.user.id).sort();

  // Case-insensitive prefix of the username; limit defaults to 1.
  assert.equal(expectStatus(await a.client.get(`${url}?query=${tag.toUpperCase()}`), 200).length, 1);
  assert.deepEqual(ids(expectStatus(await a.client.get(`${url}?query=${tag}&limit=10`), 200)),
    [a.user.id, b.user.id].sort());
  assert.deepEqual(ids(expectStatus(await a.client.get(`${url}?query=${tag}_b&limit=10`), 200)), [b.user.id]);
  assert.deepEqual(expectStatus(await a.client.get(`${url}?query=nobody_${tag}&limit=10`), 200), []);
  // A nickname set with PATCH /guilds/{id}/members/@me (discord.js sends
  // "%40me") is found too.
  const nick = `nick${tag}`;
  const me = expectStatus(await c.client.patch(`/guilds/${guild.id}/members/%40me`, { nick }), 200, 'own nick');
  assert.equal(me.nick, nick);
  const found = expectStatus(await b.client.get(`${url}?query=${nick}&limit=5`), 200);
  assert.deepEqual(ids(found), [c.user.id]);
  assert.equal(found[0].nick, nick);
  // Discord's errors: query is required, limit 1..1000; non-members 404.
  expectFieldError(await a.client.get(url), 'query', 'search without query');
  for (const bad of ['0', '1001', 'x']) expectFieldError(await a.client.get(`${url}?query=a&limit=${bad}`), 'limit', `limit=${bad}`);
  const outsider = await register(srv);
  expectError(await outsider.client.get(`${url}?query=${tag}`), [403, 404], [10004, 50001], 'outsider');
  // Roles carry Discord's colors object (oceanic.js reads it).
  const roles = expectStatus(await a.client.get(`/guilds/${guild.id}/roles`), 200);
  for (const r of roles) {
    assert.deepEqual(r.colors, { primary_color: r.color, secondary_color: null, tertiary_color: null }, `role colors: ${JSON.stringify(r)}`);
  }
  // GET /applications/detectable: an empty list, not 405.
  assert.deepEqual(expectStatus(await request(srv, 'GET', '/applications/detectable'), 200), []);
});

test('leave with DELETE /users/@me/guilds/{id} → 204; access is gone', async () => {
  const a = await register(srv);
  const b = await register(srv);
  const { guild, general } = await createGuild(a.client);
  await inviteAndJoin(a.client, b.client, general.id);
  const r = await b.client.del(`/users/@me/guilds/${guild.id}`);
  assert.equal(r.status, 204, `leave: ${r.status} ${r.text}`);
  expectNoAccess(await b.client.get(`/guilds/${guild.id}`), 10004, 'after leaving');
  expectNoAccess(await b.client.post(`/channels/${general.id}/messages`, { content: 'ghost' }), 10003, 'post after leaving');
  expectError(await a.client.get(`/guilds/${guild.id}/members/${b.user.id}`), 404, 10007);
  assert.ok(!expectStatus(await b.client.get('/users/@me/guilds'), 200).some((g) => g.id === guild.id));
  // leaving a guild one is not in
  expectError(await b.client.del(`/users/@me/guilds/${guild.id}`), [403, 404], [50001, 10004, 10007]);
});

test('kick: owner → 204; member without KICK_MEMBERS → 403 50013; unknown member → 404 10007', async () => {
  const a = await register(srv);
  const b = await register(srv);
  const c = await register(srv);
  const { guild, general } = await createGuild(a.client);
  await inviteAndJoin(a.client, b.client, general.id);
  await inviteAndJoin(a.client, c.client, general.id);
  expectError(await b.client.del(`/guilds/${guild.id}/members/${c.user.id}`), 403, 50013, 'member kicks member');
  const k = await a.client.del(`/guilds/${guild.id}/members/${c.user.id}`);
  assert.equal(k.status, 204, `kick: ${k.status} ${k.text}`);
  expectNoAccess(await c.client.get(`/guilds/${guild.id}`), 10004, 'kicked user');
  expectNoAccess(await c.client.get(`/channels/${general.id}/messages`), 10003, 'kicked user history');
  expectError(await a.client.get(`/guilds/${guild.id}/members/${c.user.id}`), 404, 10007);
  expectError(await a.client.del(`/guilds/${guild.id}/members/${c.user.id}`), 404, 10007, 'kick non-member');
  // the owner cannot be kicked by a member
  expectError(await b.client.del(`/guilds/${guild.id}/members/${a.user.id}`), 403, [50013, 50001]);
});

test('bots: the owner adds a bot with PUT /guilds/{id}/members/{bot_id}; the bot posts', async () => {
  const a = await register(srv);
  const b = await register(srv);
  const { guild, general } = await createGuild(a.client);
  await inviteAndJoin(a.client, b.client, general.id);
  const app = expectStatus(await a.client.post('/applications', { name: uniqueName('bot') }), [200, 201]);
  const bot = srv.client(app.token, { bot: true });

  expectNoAccess(await bot.get(`/guilds/${guild.id}`), 10004, 'bot before being added');
  // a plain member may not add the bot
  const byMember = await b.client.put(`/guilds/${guild.id}/members/${app.bot.id}`, {});
  expectError(byMember, 403, [50001, 50013], 'member adds bot');

  const add = await a.client.put(`/guilds/${guild.id}/members/${app.bot.id}`, {});
  assert.ok([201, 204].includes(add.status), `owner adds bot: ${add.status} ${add.text}`);
  if (add.status === 201) assert.equal(add.json?.user?.id, app.bot.id, '201 carries the member');

  const g = expectStatus(await bot.get(`/guilds/${guild.id}`), 200, 'bot sees guild');
  assert.equal(g.id, guild.id);
  const bm = expectStatus(await bot.get('/users/@me/guilds'), 200);
  assert.ok(bm.some((x) => x.id === guild.id));
  const m = await postMessage(bot, general.id, 'beep boop');
  assert.equal(m.author.id, app.bot.id);
  assert.equal(m.author.bot, true, 'bot author has bot:true');
  const member = expectStatus(await a.client.get(`/guilds/${guild.id}/members/${app.bot.id}`), 200);
  assert.equal(member.user.bot, true);

  // adding it again is idempotent (Discord: 204 when already a member)
  const again = await a.client.put(`/guilds/${guild.id}/members/${app.bot.id}`, {});
  assert.ok([200, 201, 204].includes(again.status), `re-add bot: ${again.status}`);
  const list = expectStatus(await a.client.get(`/guilds/${guild.id}/members?limit=1000`), 200);
  assert.equal(list.filter((x) => x.user.id === app.bot.id).length, 1, 'bot listed once');
});

test('a non-member never learns what a guild contains', async () => {
  const a = await register(srv);
  const stranger = await register(srv);
  const secretName = uniqueName('SecretGuild');
  const { guild, general } = await createGuild(a.client, secretName);
  const secretText = `top secret ${Math.random()}`;
  const msg = await postMessage(a.client, general.id, secretText);
  const role = expectStatus(await a.client.post(`/guilds/${guild.id}/roles`, { name: 'secret-role' }), [200, 201]);
  const s = stranger.client;
  const probes = [
    ['GET', `/guilds/${guild.id}`, 10004],
    ['PATCH', `/guilds/${guild.id}`, 10004, { name: 'pwned' }],
    ['DELETE', `/guilds/${guild.id}`, 10004],
    ['GET', `/guilds/${guild.id}/channels`, 10004],
    ['POST', `/guilds/${guild.id}/channels`, 10004, { name: 'intruder' }],
    ['GET', `/guilds/${guild.id}/members?limit=10`, 10004],
    ['GET', `/guilds/${guild.id}/members/${a.user.id}`, 10004],
    ['GET', `/guilds/${guild.id}/roles`, 10004],
    ['POST', `/guilds/${guild.id}/roles`, 10004, { name: 'x' }],
    ['PATCH', `/guilds/${guild.id}/roles/${role.id}`, 10004, { name: 'y' }],
    ['GET', `/channels/${general.id}`, 10003],
    ['PATCH', `/channels/${general.id}`, 10003, { name: 'z' }],
    ['DELETE', `/channels/${general.id}`, 10003],
    ['GET', `/channels/${general.id}/messages`, 10003],
    ['GET', `/channels/${general.id}/messages?around=${msg.id}`, 10003],
    ['GET', `/channels/${general.id}/messages/${msg.id}`, 10003],
    ['POST', `/channels/${general.id}/messages`, 10003, { content: 'intrusion' }],
    ['PATCH', `/channels/${general.id}/messages/${msg.id}`, 10003, { content: 'x' }],
    ['DELETE', `/channels/${general.id}/messages/${msg.id}`, 10003],
    ['POST', `/channels/${general.id}/messages/bulk-delete`, 10003, { messages: [msg.id, fakeSnowflake()] }],
    ['POST', `/channels/${general.id}/invites`, 10003, {}],
    ['PUT', `/channels/${general.id}/permissions/${stranger.user.id}`, 10003, { type: 1, allow: '3072', deny: '0' }],
  ];
  for (const [method, route, code, body] of probes) {
    const res = await s.req(method, route, body === undefined ? {} : { body });
    assert.ok([403, 404].includes(res.status), `${method} ${route} by a non-member → ${res.status} ${res.text}`);
    if (res.status === 403) expectError(res, 403, [50001, 50013], `${method} ${route}`);
    else expectError(res, 404, [code, 10003, 10004, 10008, 10011], `${method} ${route}`);
    assert.ok(!res.text.includes(secretName), `${method} ${route} leaks the guild name`);
    assert.ok(!res.text.includes(secretText), `${method} ${route} leaks message content`);
  }
  // nothing changed
  const g = expectStatus(await a.client.get(`/guilds/${guild.id}`), 200);
  assert.equal(g.name, secretName);
  expectStatus(await a.client.get(`/channels/${general.id}/messages/${msg.id}`), 200);
  const chans = expectStatus(await a.client.get(`/guilds/${guild.id}/channels`), 200);
  assert.ok(!chans.some((c) => c.name === 'intruder'));
  const hist = expectStatus(await a.client.get(`/channels/${general.id}/messages`), 200);
  assert.ok(!hist.some((m) => m.content === 'intrusion'));
});

test('invites die with their channel or guild; joining twice does not duplicate the member', async () => {
  const a = await register(srv);
  const b = await register(srv);
  const { guild, general } = await createGuild(a.client);
  const side = await createChannel(a.client, guild.id);
  const inv = expectStatus(await a.client.post(`/channels/${general.id}/invites`, {}), [200, 201]);
  const sideInv = expectStatus(await a.client.post(`/channels/${side.id}/invites`, {}), [200, 201]);
  expectStatus(await b.client.post(`/invites/${inv.code}`, {}), [200, 201, 204]);
  expectStatus(await b.client.post(`/invites/${inv.code}`, {}), [200, 201, 204], 'second join');
  const list = expectStatus(await a.client.get(`/guilds/${guild.id}/members?limit=1000`), 200);
  assert.equal(list.filter((m) => m.user.id === b.user.id).length, 1, 'member listed once');
  assert.equal(list.length, 2);

  const d = await a.client.del(`/channels/${side.id}`);
  assert.ok([200, 204].includes(d.status));
  expectError(await b.client.get(`/invites/${sideInv.code}`), 404, 10006, 'invite of a deleted channel');
  const c = await register(srv);
  expectError(await c.client.post(`/invites/${sideInv.code}`, {}), 404, 10006, 'join via invite of a deleted channel');
  expectNoAccess(await c.client.get(`/guilds/${guild.id}`), 10004);

  assert.equal((await a.client.del(`/guilds/${guild.id}`)).status, 204);
  expectError(await c.client.get(`/invites/${inv.code}`), 404, 10006, 'invite of a deleted guild');
  expectError(await c.client.post(`/invites/${inv.code}`, {}), 404, 10006, 'join a deleted guild');
  assert.deepEqual(expectStatus(await c.client.get('/users/@me/guilds'), 200), []);
});
