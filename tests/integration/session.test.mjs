// The "curl session" of the definition of done, as one scenario:
// two users register, one creates a guild, invites, the other joins, both post,
// page through history in all three modes, edit, delete, bulk-delete, members,
// leave, kick, a bot, guild PATCH/DELETE, channel create/PATCH/DELETE.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, request, PASSWORD, uniqueName, expectStatus, expectError, expectFieldError, expectNoAccess,
  assertUserShape, assertMessageShape, assertNewestFirst, assertSnowflake,
} from './lib/server.mjs';

let srv;
before(async () => {
  srv = await startServer();
});
after(async () => {
  if (srv) await srv.stopAndAssertClean();
});

test('curl session: the whole flow end to end', { timeout: 180_000 }, async (t) => {
  // 1. two users register (one through /api, one through /api/v10)
  const nameA = uniqueName('alice');
  const nameB = uniqueName('bob');
  const ra = expectStatus(await request(srv, 'POST', '/auth/register', { body: { username: nameA, password: PASSWORD } }), 201);
  const rb = expectStatus(await request(srv, 'POST', '/auth/register', { body: { username: nameB, password: PASSWORD }, prefix: '/api' }), 201);
  const A = srv.client(ra.token);
  const B = srv.client(rb.token, { prefix: '/api' });
  const aId = ra.user.id;
  const bId = rb.user.id;

  // 2. A creates a guild
  const guildName = uniqueName('Session Guild ');
  const guild = expectStatus(await A.post('/guilds', { name: guildName }), [200, 201]);
  const g = guild.id;
  assertSnowflake(g);
  assert.equal(guild.owner_id, aId);
  assert.ok(guild.roles.some((r) => r.id === g && r.name === '@everyone'), '@everyone role id == guild id');
  const channels = expectStatus(await A.get(`/guilds/${g}/channels`), 200);
  const general = channels.find((c) => c.name === 'general');
  assert.ok(general && general.type === 0, 'general text channel');
  const c = general.id;

  // 3. invite; B looks at it without being a member, then joins
  const inv = expectStatus(await A.post(`/channels/${c}/invites`, {}), [200, 201]);
  assert.equal(typeof inv.code, 'string');
  assert.equal(inv.guild.id, g);
  assert.equal(inv.channel.id, c);
  expectNoAccess(await B.get(`/guilds/${g}`), 10004, 'B before joining');
  expectNoAccess(await B.get(`/channels/${c}/messages`), 10003, 'B before joining');
  const look = expectStatus(await B.get(`/invites/${inv.code}`), 200);
  assert.equal(look.guild.id, g);
  expectStatus(await B.post(`/invites/${inv.code}`, {}), [200, 201, 204], 'B joins');

  // 4. both post
  const posted = [];
  for (let i = 0; i < 12; i++) {
    const who = i % 2 ? B : A;
    const m = expectStatus(await who.post(`/channels/${c}/messages`, { content: `msg ${i}` }), [200, 201]);
    assertMessageShape(m, { channelId: c, content: `msg ${i}`, authorId: i % 2 ? bId : aId });
    posted.push(m);
  }
  const id = (i) => posted[i].id;
  const page = async (client, q) => {
    const r = expectStatus(await client.get(`/channels/${c}/messages?${q}`), 200, q);
    assertNewestFirst(r, q);
    return r.map((m) => m.id);
  };

  // 5. history in all three modes, newest first
  assert.deepEqual(await page(A, 'limit=3'), [id(11), id(10), id(9)], 'latest');
  assert.deepEqual(await page(B, `before=${id(5)}&limit=3`), [id(4), id(3), id(2)], 'before');
  assert.deepEqual(await page(A, `after=${id(5)}&limit=3`), [id(8), id(7), id(6)], 'after');
  assert.deepEqual(await page(B, `around=${id(5)}&limit=3`), [id(6), id(5), id(4)], 'around');
  expectFieldError(await A.get(`/channels/${c}/messages?limit=0`), 'limit');
  expectFieldError(await A.get(`/channels/${c}/messages?limit=101`), 'limit');

  // 6. edit: author only
  const e = expectStatus(await A.patch(`/channels/${c}/messages/${id(0)}`, { content: 'msg 0 (edited)' }), 200);
  assert.equal(e.content, 'msg 0 (edited)');
  assert.notEqual(e.edited_timestamp, null);
  expectError(await B.patch(`/channels/${c}/messages/${id(0)}`, { content: 'nope' }), 403, 50005);

  // 7. delete: author, or MANAGE_MESSAGES (owner); B cannot delete A's message
  expectError(await B.del(`/channels/${c}/messages/${id(2)}`), 403, 50013);
  assert.equal((await B.del(`/channels/${c}/messages/${id(1)}`)).status, 204, 'author deletes');
  assert.equal((await A.del(`/channels/${c}/messages/${id(3)}`)).status, 204, 'owner deletes B’s message');
  expectError(await A.get(`/channels/${c}/messages/${id(1)}`), 404, 10008);

  // 8. bulk-delete
  assert.equal((await A.post(`/channels/${c}/messages/bulk-delete`, { messages: [id(4), id(5), id(6)] })).status, 204);
  expectFieldError(await A.post(`/channels/${c}/messages/bulk-delete`, { messages: [id(7)] }), 'messages');
  assert.deepEqual(await page(A, 'limit=100'), [11, 10, 9, 8, 7, 2, 0].map(id), 'history after deletions');

  // 9. users
  const me = expectStatus(await B.get('/users/@me'), 200);
  assertUserShape(me);
  assert.equal(me.username, nameB);
  const ua = expectStatus(await B.get(`/users/${aId}`), 200);
  assert.equal(ua.username, nameA);
  const bg = expectStatus(await B.get('/users/@me/guilds'), 200);
  assert.deepEqual(bg.map((x) => x.id), [g]);

  // 10. members
  const first = expectStatus(await A.get(`/guilds/${g}/members?limit=1&after=0`), 200);
  assert.equal(first.length, 1);
  assert.equal(first[0].user.id, BigInt(aId) < BigInt(bId) ? aId : bId);
  const both = expectStatus(await A.get(`/guilds/${g}/members?limit=1000`), 200);
  assert.deepEqual(both.map((m) => m.user.id).sort(), [aId, bId].sort());
  const mb = expectStatus(await A.get(`/guilds/${g}/members/${bId}`), 200);
  assert.equal(mb.user.id, bId);

  // 11. a bot, added by the owner
  const app = expectStatus(await A.post('/applications', { name: uniqueName('sessionbot') }), [200, 201]);
  const bot = srv.client(app.token, { bot: true });
  expectStatus(await bot.get('/applications/@me'), 200);
  const add = await A.put(`/guilds/${g}/members/${app.bot.id}`, {});
  assert.ok([201, 204].includes(add.status), `add bot: ${add.status} ${add.text}`);
  const bm = expectStatus(await bot.post(`/channels/${c}/messages`, { content: 'hello from bot' }), [200, 201]);
  assert.equal(bm.author.bot, true);

  // 12. channels: create (name rules), PATCH, DELETE
  const nc = expectStatus(await A.post(`/guilds/${g}/channels`, { name: 'side-chat', type: 0 }), [200, 201]);
  expectFieldError(await A.post(`/guilds/${g}/channels`, { name: '' }), 'name');
  expectFieldError(await A.post(`/guilds/${g}/channels`, { name: 'x'.repeat(101) }), 'name');
  assert.equal(expectStatus(await A.patch(`/channels/${nc.id}`, { name: 'side-chat-2' }), 200).name, 'side-chat-2');
  expectError(await B.patch(`/channels/${nc.id}`, { name: 'b-rename' }), 403, 50013);
  assert.ok([200, 204].includes((await A.del(`/channels/${nc.id}`)).status));
  expectError(await A.get(`/channels/${nc.id}`), 404, 10003);

  // 13. guild PATCH (MANAGE_GUILD)
  expectError(await B.patch(`/guilds/${g}`, { name: 'B rules' }), 403, 50013);
  assert.equal(expectStatus(await A.patch(`/guilds/${g}`, { name: 'Renamed Session' }), 200).name, 'Renamed Session');

  // 14. leave and kick
  assert.equal((await B.del(`/users/@me/guilds/${g}`)).status, 204, 'B leaves');
  expectNoAccess(await B.get(`/guilds/${g}`), 10004, 'after leaving');
  expectStatus(await B.post(`/invites/${inv.code}`, {}), [200, 201, 204], 'B rejoins');
  expectStatus(await B.get(`/guilds/${g}`), 200);
  assert.equal((await A.del(`/guilds/${g}/members/${bId}`)).status, 204, 'A kicks B');
  expectNoAccess(await B.get(`/channels/${c}/messages`), 10003, 'after kick');

  // 15. guild DELETE (owner only)
  const d = await A.del(`/guilds/${g}`);
  assert.equal(d.status, 204);
  expectError(await A.get(`/guilds/${g}`), 404, 10004);
  expectError(await bot.get(`/guilds/${g}`), 404, 10004);

  // 16. logout
  assert.equal((await A.post('/auth/logout', {})).status, 204);
  expectError(await A.get('/users/@me'), 401, 0);
  const relog = expectStatus(await request(srv, 'POST', '/auth/login', { body: { username: nameA, password: PASSWORD } }), 200);
  expectStatus(await request(srv, 'GET', '/users/@me', { token: relog.token }), 200);
  assert.ok(t);
});
