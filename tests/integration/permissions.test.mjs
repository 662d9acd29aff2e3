// Roles, role assignment, channel permission overwrites and permission
// enforcement with Discord's bits (issue §4).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, register, createGuild, createChannel, inviteAndJoin, postMessage, P, perms,
  expectStatus, expectError, expectFieldError, expectNoAccess, assertSnowflake, fakeSnowflake, uniqueName,
} from './lib/server.mjs';
import { GatewayClient, INTENTS, destroyAll } from './lib/gateway.mjs';

let srv;
before(async () => {
  srv = await startServer();
});
const sockets = [];
after(async () => {
  destroyAll(sockets);
  if (srv) await srv.stopAndAssertClean();
});

const BASE = perms(P.VIEW_CHANNEL, P.SEND_MESSAGES, P.READ_MESSAGE_HISTORY);

/** Owner A, members B and C, a guild whose @everyone has exactly BASE. */
async function setup() {
  const A = await register(srv);
  const B = await register(srv);
  const C = await register(srv);
  const { guild, general } = await createGuild(A.client);
  await inviteAndJoin(A.client, B.client, general.id);
  await inviteAndJoin(A.client, C.client, general.id);
  const ev = expectStatus(await A.client.patch(`/guilds/${guild.id}/roles/${guild.id}`, { permissions: BASE }), 200, 'set @everyone perms');
  assert.equal(ev.id, guild.id);
  assert.equal(ev.permissions, BASE);
  return { A, B, C, guild, general, g: guild.id };
}

async function makeRole(owner, g, bits, name = uniqueName('role')) {
  const r = expectStatus(await owner.client.post(`/guilds/${g}/roles`, { name, permissions: perms(...bits) }), [200, 201], 'create role');
  return r;
}
async function assign(owner, g, user, role) {
  const res = await owner.client.put(`/guilds/${g}/members/${user.user.id}/roles/${role.id}`);
  assert.equal(res.status, 204, `assign role: ${res.status} ${res.text}`);
}
async function unassign(owner, g, user, role) {
  const res = await owner.client.del(`/guilds/${g}/members/${user.user.id}/roles/${role.id}`);
  assert.equal(res.status, 204, `unassign role: ${res.status} ${res.text}`);
}
async function overwrite(who, channelId, targetId, type, { allow = [], deny = [] } = {}) {
  const res = await who.client.put(`/channels/${channelId}/permissions/${targetId}`, { type, allow: perms(...allow), deny: perms(...deny) });
  assert.equal(res.status, 204, `PUT overwrite: ${res.status} ${res.text}`);
}

test('roles: create, list, PATCH, DELETE; shape and unknown role 10011', async () => {
  const { A, g } = await setup();
  const name = uniqueName('Mods');
  const res = await A.client.post(`/guilds/${g}/roles`, { name, permissions: perms(P.MANAGE_MESSAGES, P.KICK_MEMBERS) });
  const r = expectStatus(res, [200, 201]);
  assertSnowflake(r.id, 'role.id');
  assert.equal(r.name, name);
  assert.equal(r.permissions, perms(P.MANAGE_MESSAGES, P.KICK_MEMBERS));
  assert.equal(typeof r.position, 'number');
  for (const k of ['color', 'hoist', 'managed', 'mentionable']) assert.ok(k in r, `role.${k} missing: ${res.text}`);
  assert.equal(typeof r.color, 'number');
  assert.equal(typeof r.hoist, 'boolean');

  const list = expectStatus(await A.client.get(`/guilds/${g}/roles`), 200);
  assert.ok(list.some((x) => x.id === r.id && x.name === name));
  assert.ok(list.some((x) => x.id === g));

  const p = expectStatus(await A.client.patch(`/guilds/${g}/roles/${r.id}`, { name: 'Renamed', permissions: perms(P.ADMINISTRATOR) }), 200);
  assert.equal(p.id, r.id);
  assert.equal(p.name, 'Renamed');
  assert.equal(p.permissions, perms(P.ADMINISTRATOR));

  // a role without explicit permissions gets a permissions string too
  const plain = expectStatus(await A.client.post(`/guilds/${g}/roles`, { name: 'plain' }), [200, 201]);
  assert.match(plain.permissions, /^\d+$/);
  expectFieldError(await A.client.post(`/guilds/${g}/roles`, { name: 'bad', permissions: 'lots' }), 'permissions', 'non-numeric permissions');

  const d = await A.client.del(`/guilds/${g}/roles/${r.id}`);
  assert.equal(d.status, 204, `DELETE role: ${d.status} ${d.text}`);
  assert.ok(!expectStatus(await A.client.get(`/guilds/${g}/roles`), 200).some((x) => x.id === r.id));
  expectError(await A.client.patch(`/guilds/${g}/roles/${r.id}`, { name: 'ghost' }), 404, 10011, 'PATCH deleted role');
  expectError(await A.client.del(`/guilds/${g}/roles/${fakeSnowflake()}`), 404, 10011, 'DELETE unknown role');
});

test('role assignment: PUT/DELETE member roles, unknown role/member, needs MANAGE_ROLES', async () => {
  const { A, B, C, g } = await setup();
  const r = await makeRole(A, g, [P.MANAGE_MESSAGES]);
  await assign(A, g, B, r);
  let m = expectStatus(await A.client.get(`/guilds/${g}/members/${B.user.id}`), 200);
  assert.ok(m.roles.includes(r.id), `member roles include the role: ${JSON.stringify(m.roles)}`);
  assert.ok(!m.roles.includes(g), '@everyone is implicit, not listed in member.roles');
  await unassign(A, g, B, r);
  m = expectStatus(await A.client.get(`/guilds/${g}/members/${B.user.id}`), 200);
  assert.ok(!m.roles.includes(r.id));

  expectError(await A.client.put(`/guilds/${g}/members/${B.user.id}/roles/${fakeSnowflake()}`), 404, 10011, 'unknown role');
  const outsider = await register(srv);
  expectError(await A.client.put(`/guilds/${g}/members/${outsider.user.id}/roles/${r.id}`), 404, 10007, 'non-member');

  // a member without MANAGE_ROLES cannot create/edit/delete roles nor grant himself one
  const admin = await makeRole(A, g, [P.ADMINISTRATOR]);
  expectError(await B.client.put(`/guilds/${g}/members/${B.user.id}/roles/${admin.id}`), 403, 50013, 'self-grant admin');
  expectError(await B.client.post(`/guilds/${g}/roles`, { name: 'mine', permissions: perms(P.ADMINISTRATOR) }), 403, 50013);
  expectError(await B.client.patch(`/guilds/${g}/roles/${g}`, { permissions: perms(P.ADMINISTRATOR) }), 403, 50013);
  expectError(await B.client.del(`/guilds/${g}/roles/${admin.id}`), 403, 50013);
  m = expectStatus(await A.client.get(`/guilds/${g}/members/${B.user.id}`), 200);
  assert.ok(!m.roles.includes(admin.id));
  // with MANAGE_ROLES the member may create a role
  const mr = await makeRole(A, g, [P.MANAGE_ROLES]);
  await assign(A, g, C, mr);
  expectStatus(await C.client.post(`/guilds/${g}/roles`, { name: 'by-c', permissions: '0' }), [200, 201], 'MANAGE_ROLES creates role');
  // deleting the role removes it from members
  const d = await A.client.del(`/guilds/${g}/roles/${mr.id}`);
  assert.equal(d.status, 204);
  m = expectStatus(await A.client.get(`/guilds/${g}/members/${C.user.id}`), 200);
  assert.ok(!m.roles.includes(mr.id), 'deleted role no longer on member');
  expectError(await C.client.post(`/guilds/${g}/roles`, { name: 'again' }), 403, 50013, 'role deleted → permission gone');
});

test('plain members lack the moderation permissions (403 50013)', async () => {
  const { A, B, C, g, general } = await setup();
  const am = await postMessage(A.client, general.id, 'by owner');
  const b1 = await postMessage(B.client, general.id, 'b1');
  const b2 = await postMessage(B.client, general.id, 'b2');
  const checks = [
    ['PATCH', `/guilds/${g}`, { name: 'x' }],
    ['POST', `/guilds/${g}/channels`, { name: 'nope' }],
    ['PATCH', `/channels/${general.id}`, { name: 'nope' }],
    ['DELETE', `/channels/${general.id}`],
    ['POST', `/channels/${general.id}/invites`, {}],
    ['DELETE', `/guilds/${g}/members/${C.user.id}`],
    ['DELETE', `/channels/${general.id}/messages/${am.id}`],
    ['POST', `/channels/${general.id}/messages/bulk-delete`, { messages: [b1.id, b2.id] }],
    ['PUT', `/channels/${general.id}/permissions/${B.user.id}`, { type: 1, allow: perms(P.MANAGE_MESSAGES), deny: '0' }],
  ];
  for (const [method, route, body] of checks) {
    const res = await B.client.req(method, route, body === undefined ? {} : { body });
    expectError(res, 403, 50013, `${method} ${route}`);
  }
  // nothing happened
  expectStatus(await A.client.get(`/channels/${general.id}/messages/${am.id}`), 200);
  expectStatus(await A.client.get(`/channels/${general.id}/messages/${b1.id}`), 200);
  expectStatus(await A.client.get(`/guilds/${g}/members/${C.user.id}`), 200);
  // but they can read, post and delete their own messages
  expectStatus(await B.client.get(`/channels/${general.id}/messages`), 200);
  assert.equal((await B.client.del(`/channels/${general.id}/messages/${b1.id}`)).status, 204);
});

test('role grants: CREATE_INSTANT_INVITE, MANAGE_MESSAGES, MANAGE_CHANNELS, MANAGE_GUILD, KICK_MEMBERS', async () => {
  const { A, B, C, g, general } = await setup();

  // CREATE_INSTANT_INVITE on @everyone
  expectError(await B.client.post(`/channels/${general.id}/invites`, {}), 403, 50013);
  expectStatus(await A.client.patch(`/guilds/${g}/roles/${g}`, { permissions: perms(P.VIEW_CHANNEL, P.SEND_MESSAGES, P.READ_MESSAGE_HISTORY, P.CREATE_INSTANT_INVITE) }), 200);
  const inv = expectStatus(await B.client.post(`/channels/${general.id}/invites`, {}), [200, 201], 'invite with CREATE_INSTANT_INVITE');
  assert.equal(typeof inv.code, 'string');

  // MANAGE_MESSAGES via role, then removed
  const mod = await makeRole(A, g, [P.MANAGE_MESSAGES]);
  const am1 = await postMessage(A.client, general.id, 'a1');
  const am2 = await postMessage(A.client, general.id, 'a2');
  const am3 = await postMessage(A.client, general.id, 'a3');
  const am4 = await postMessage(C.client, general.id, 'c4');
  await assign(A, g, B, mod);
  assert.equal((await B.client.del(`/channels/${general.id}/messages/${am1.id}`)).status, 204, 'mod deletes');
  const bd = await B.client.post(`/channels/${general.id}/messages/bulk-delete`, { messages: [am2.id, am4.id] });
  assert.equal(bd.status, 204, `mod bulk-deletes: ${bd.status} ${bd.text}`);
  // MANAGE_MESSAGES does not allow editing others' messages
  expectError(await B.client.patch(`/channels/${general.id}/messages/${am3.id}`, { content: 'mod edit' }), 403, 50005);
  await unassign(A, g, B, mod);
  expectError(await B.client.del(`/channels/${general.id}/messages/${am3.id}`), 403, 50013, 'after unassign');

  // MANAGE_CHANNELS
  const chm = await makeRole(A, g, [P.MANAGE_CHANNELS]);
  await assign(A, g, B, chm);
  const nc = expectStatus(await B.client.post(`/guilds/${g}/channels`, { name: 'by-b' }), [200, 201], 'MANAGE_CHANNELS create');
  expectStatus(await B.client.patch(`/channels/${nc.id}`, { name: 'by-b-renamed' }), 200);
  const dc = await B.client.del(`/channels/${nc.id}`);
  assert.ok([200, 204].includes(dc.status), `MANAGE_CHANNELS delete: ${dc.status}`);
  expectError(await B.client.patch(`/guilds/${g}`, { name: 'x' }), 403, 50013, 'MANAGE_CHANNELS is not MANAGE_GUILD');

  // MANAGE_GUILD
  const gm = await makeRole(A, g, [P.MANAGE_GUILD]);
  await assign(A, g, B, gm);
  assert.equal(expectStatus(await B.client.patch(`/guilds/${g}`, { name: 'b renamed it' }), 200).name, 'b renamed it');
  expectError(await B.client.del(`/guilds/${g}`), 403, [50001, 50013], 'only the owner deletes a guild');

  // KICK_MEMBERS
  const km = await makeRole(A, g, [P.KICK_MEMBERS]);
  await assign(A, g, B, km);
  assert.equal((await B.client.del(`/guilds/${g}/members/${C.user.id}`)).status, 204, 'KICK_MEMBERS kicks');
  expectError(await A.client.get(`/guilds/${g}/members/${C.user.id}`), 404, 10007);
});

test('overwrite deny VIEW_CHANNEL hides the channel (403 50001 or 404 10003); member allow restores it', async () => {
  const { A, B, C, g, guild } = await setup();
  const ch = await createChannel(A.client, g);
  const secret = await postMessage(A.client, ch.id, 'hidden text');
  await overwrite(A, ch.id, g, 0, { deny: [P.VIEW_CHANNEL] });

  const got = expectStatus(await A.client.get(`/channels/${ch.id}`), 200);
  const ow = got.permission_overwrites;
  assert.ok(Array.isArray(ow), 'channel.permission_overwrites is an array');
  const e = ow.find((o) => o.id === g);
  assert.ok(e, 'overwrite for @everyone listed');
  assert.equal(e.type, 0);
  assert.equal(e.deny, perms(P.VIEW_CHANNEL));
  assert.equal(e.allow, '0');

  for (const [method, route, body] of [
    ['GET', `/channels/${ch.id}`],
    ['GET', `/channels/${ch.id}/messages`],
    ['GET', `/channels/${ch.id}/messages/${secret.id}`],
    ['POST', `/channels/${ch.id}/messages`, { content: 'sneaky' }],
  ]) {
    const res = await B.client.req(method, route, body ? { body } : {});
    expectNoAccess(res, 10003, `${method} ${route} with VIEW_CHANNEL denied`);
    assert.ok(!res.text.includes('hidden text'), 'no content leaks');
  }
  // the owner still sees and posts
  await postMessage(A.client, ch.id, 'owner still posts');

  // a member overwrite that allows VIEW_CHANNEL beats the @everyone deny
  await overwrite(A, ch.id, B.user.id, 1, { allow: [P.VIEW_CHANNEL] });
  expectStatus(await B.client.get(`/channels/${ch.id}`), 200, 'member allow');
  const hist = expectStatus(await B.client.get(`/channels/${ch.id}/messages`), 200);
  assert.ok(hist.some((m) => m.id === secret.id));
  await postMessage(B.client, ch.id, 'b can post now');
  expectNoAccess(await C.client.get(`/channels/${ch.id}/messages`), 10003, 'C is still denied');

  // deleting the overwrites restores the defaults
  let d = await A.client.del(`/channels/${ch.id}/permissions/${g}`);
  assert.equal(d.status, 204, `DELETE overwrite: ${d.status} ${d.text}`);
  d = await A.client.del(`/channels/${ch.id}/permissions/${B.user.id}`);
  assert.equal(d.status, 204);
  expectStatus(await C.client.get(`/channels/${ch.id}/messages`), 200, 'after overwrite removed');
  const after = expectStatus(await A.client.get(`/channels/${ch.id}`), 200);
  assert.ok(!(after.permission_overwrites || []).some((o) => o.id === g || o.id === B.user.id));
  // guild-level: no VIEW_CHANNEL on @everyone hides every channel, but membership remains
  expectStatus(await A.client.patch(`/guilds/${g}/roles/${g}`, { permissions: perms(P.SEND_MESSAGES, P.READ_MESSAGE_HISTORY) }), 200);
  expectNoAccess(await B.client.get(`/channels/${ch.id}/messages`), 10003, 'no VIEW_CHANNEL at guild level');
  expectNoAccess(await B.client.post(`/channels/${ch.id}/messages`, { content: 'x' }), 10003);
  expectStatus(await B.client.get(`/guilds/${g}`), 200, 'still a member');
  assert.equal(guild.id, g);
});

test('overwrite deny SEND_MESSAGES: cannot post (403 50013) but can read', async () => {
  const { A, B, C, g } = await setup();
  const ch = await createChannel(A.client, g);
  const m = await postMessage(A.client, ch.id, 'readable');
  await overwrite(A, ch.id, B.user.id, 1, { deny: [P.SEND_MESSAGES] });
  expectError(await B.client.post(`/channels/${ch.id}/messages`, { content: 'muted' }), 403, 50013, 'member denied SEND');
  const hist = expectStatus(await B.client.get(`/channels/${ch.id}/messages`), 200, 'can still read');
  assert.ok(hist.some((x) => x.id === m.id));
  expectStatus(await B.client.get(`/channels/${ch.id}/messages/${m.id}`), 200);
  await postMessage(C.client, ch.id, 'C is unaffected');

  // role-based: @everyone deny SEND, a role overwrite allows it back
  const ch2 = await createChannel(A.client, g);
  const speaker = await makeRole(A, g, []);
  await overwrite(A, ch2.id, g, 0, { deny: [P.SEND_MESSAGES] });
  await overwrite(A, ch2.id, speaker.id, 0, { allow: [P.SEND_MESSAGES] });
  await assign(A, g, C, speaker);
  await postMessage(C.client, ch2.id, 'speaker speaks');
  expectError(await B.client.post(`/channels/${ch2.id}/messages`, { content: 'x' }), 403, 50013, '@everyone deny');
  // a member deny beats a role allow (member overwrites are applied last)
  await overwrite(A, ch2.id, C.user.id, 1, { deny: [P.SEND_MESSAGES] });
  expectError(await C.client.post(`/channels/${ch2.id}/messages`, { content: 'x' }), 403, 50013, 'member deny over role allow');
  // a role deny on a channel overrides the guild-level allow
  const ch3 = await createChannel(A.client, g);
  const muted = await makeRole(A, g, []);
  await assign(A, g, B, muted);
  await overwrite(A, ch3.id, muted.id, 0, { deny: [P.SEND_MESSAGES] });
  expectError(await B.client.post(`/channels/${ch3.id}/messages`, { content: 'x' }), 403, 50013, 'role deny');
  await postMessage(C.client, ch3.id, 'C not muted');
});

test('overwrite deny READ_MESSAGE_HISTORY: history is withheld', async () => {
  const { A, B, g } = await setup();
  const ch = await createChannel(A.client, g);
  const m = await postMessage(A.client, ch.id, 'history-secret');
  await overwrite(A, ch.id, g, 0, { deny: [P.READ_MESSAGE_HISTORY] });
  const res = await B.client.get(`/channels/${ch.id}/messages`);
  if (res.status === 200) assert.deepEqual(res.json, [], 'without READ_MESSAGE_HISTORY the history is empty');
  else expectError(res, 403, [50001, 50013]);
  assert.ok(!res.text.includes('history-secret'));
  expectStatus(await A.client.get(`/channels/${ch.id}/messages`), 200);
  assert.ok(m.id);
});

test('ADMINISTRATOR overrides every overwrite; the owner has all permissions', async () => {
  const { A, B, C, g } = await setup();
  const ch = await createChannel(A.client, g);
  const cm = await postMessage(C.client, ch.id, 'c message');
  await overwrite(A, ch.id, g, 0, { deny: [P.VIEW_CHANNEL, P.SEND_MESSAGES, P.READ_MESSAGE_HISTORY] });
  await overwrite(A, ch.id, B.user.id, 1, { deny: [P.VIEW_CHANNEL, P.SEND_MESSAGES] });
  await overwrite(A, ch.id, A.user.id, 1, { deny: [P.VIEW_CHANNEL, P.SEND_MESSAGES, P.READ_MESSAGE_HISTORY] });
  const admin = await makeRole(A, g, [P.ADMINISTRATOR]);
  await assign(A, g, B, admin);

  // admin
  expectStatus(await B.client.get(`/channels/${ch.id}`), 200, 'admin views');
  const hist = expectStatus(await B.client.get(`/channels/${ch.id}/messages`), 200, 'admin reads');
  assert.ok(hist.some((x) => x.id === cm.id));
  await postMessage(B.client, ch.id, 'admin posts');
  assert.equal((await B.client.del(`/channels/${ch.id}/messages/${cm.id}`)).status, 204, 'admin deletes others');
  expectStatus(await B.client.patch(`/guilds/${g}`, { name: 'admin was here' }), 200);
  expectStatus(await B.client.post(`/guilds/${g}/channels`, { name: 'admin-chan' }), [200, 201]);
  expectStatus(await B.client.post(`/guilds/${g}/roles`, { name: 'admin-role' }), [200, 201]);
  expectStatus(await B.client.post(`/channels/${ch.id}/invites`, {}), [200, 201]);

  // owner, despite a member overwrite denying everything
  expectStatus(await A.client.get(`/channels/${ch.id}/messages`), 200, 'owner reads');
  await postMessage(A.client, ch.id, 'owner posts');
  // plain member C is locked out
  expectNoAccess(await C.client.get(`/channels/${ch.id}/messages`), 10003);

  // removing the admin role takes it away again
  await unassign(A, g, B, admin);
  expectNoAccess(await B.client.get(`/channels/${ch.id}/messages`), 10003, 'admin role removed');
});

test('overwrite validation and MANAGE_ROLES requirement', async () => {
  const { A, B, g } = await setup();
  const ch = await createChannel(A.client, g);
  const url = `/channels/${ch.id}/permissions/${B.user.id}`;
  expectFieldError(await A.client.put(url, { type: 5, allow: '0', deny: '0' }), 'type', 'bad type');
  expectFieldError(await A.client.put(url, { type: 1, allow: 'abc', deny: '0' }), 'allow', 'non-numeric allow');
  // a member with MANAGE_ROLES may edit overwrites
  const mr = await makeRole(A, g, [P.MANAGE_ROLES]);
  await assign(A, g, B, mr);
  const res = await B.client.put(`/channels/${ch.id}/permissions/${g}`, { type: 0, allow: '0', deny: perms(P.SEND_MESSAGES) });
  assert.equal(res.status, 204, `MANAGE_ROLES edits overwrite: ${res.status} ${res.text}`);
  expectError(await A.client.del(`/channels/${fakeSnowflake()}/permissions/${g}`), 404, 10003);
});

test('ids from another guild or channel cannot be mixed in (no cross-guild reach)', async () => {
  // victim guild: V owns it, M is a member with a message there
  const { A: V, B: M, g: gv, general: cv } = await setup();
  const victimMsg = await postMessage(M.client, cv.id, 'victim message');
  const victimMsg2 = await postMessage(V.client, cv.id, 'victim message 2');
  const victimRole = await makeRole(V, gv, [P.ADMINISTRATOR]);
  // attacker owns another guild (all permissions there) and is a plain member of the victim guild
  const X = await register(srv);
  await inviteAndJoin(V.client, X.client, cv.id);
  const { guild: gx, general: cx } = await createGuild(X.client);
  const xr = expectStatus(await X.client.post(`/guilds/${gx.id}/roles`, { name: 'x' }), [200, 201]);

  // messages addressed through the attacker's own channel
  expectError(await X.client.del(`/channels/${cx.id}/messages/${victimMsg.id}`), 404, 10008, 'delete via own channel');
  expectError(await X.client.patch(`/channels/${cx.id}/messages/${victimMsg.id}`, { content: 'x' }), 404, 10008, 'edit via own channel');
  expectError(await X.client.get(`/channels/${cx.id}/messages/${victimMsg.id}`), 404, 10008, 'read via own channel');
  const bd = await X.client.post(`/channels/${cx.id}/messages/bulk-delete`, { messages: [victimMsg.id, victimMsg2.id] });
  assert.ok([204, 400, 404].includes(bd.status), `bulk-delete foreign ids via own channel: ${bd.status} ${bd.text}`);
  expectStatus(await V.client.get(`/channels/${cv.id}/messages/${victimMsg.id}`), 200, 'victim message intact');
  expectStatus(await V.client.get(`/channels/${cv.id}/messages/${victimMsg2.id}`), 200, 'victim message 2 intact');

  // roles addressed through the attacker's own guild
  expectError(await X.client.put(`/guilds/${gx.id}/members/${X.user.id}/roles/${victimRole.id}`), 404, 10011, 'foreign role in own guild');
  expectError(await X.client.patch(`/guilds/${gx.id}/roles/${victimRole.id}`, { permissions: '0' }), 404, 10011);
  expectError(await X.client.del(`/guilds/${gx.id}/roles/${victimRole.id}`), 404, 10011);
  // and the attacker's role cannot be handed out in the victim guild
  const r = await V.client.put(`/guilds/${gv}/members/${X.user.id}/roles/${xr.id}`);
  expectError(r, 404, 10011, 'role of another guild');
  // overwrites on the victim channel need MANAGE_ROLES there, whatever the attacker owns elsewhere
  expectError(await X.client.put(`/channels/${cv.id}/permissions/${X.user.id}`, { type: 1, allow: perms(P.MANAGE_MESSAGES), deny: '0' }), 403, 50013);
  expectError(await X.client.del(`/channels/${cv.id}/messages/${victimMsg.id}`), 403, 50013, 'still no MANAGE_MESSAGES');
  // members of the victim guild are not members of the attacker's guild
  expectError(await X.client.get(`/guilds/${gx.id}/members/${M.user.id}`), 404, 10007);
  expectError(await X.client.del(`/guilds/${gx.id}/members/${M.user.id}`), 404, 10007);
  expectStatus(await V.client.get(`/guilds/${gv}/members/${M.user.id}`), 200);
  const role = expectStatus(await V.client.get(`/guilds/${gv}/roles`), 200).find((x) => x.id === victimRole.id);
  assert.equal(role.permissions, perms(P.ADMINISTRATOR));
});

test('a member who leaves and rejoins comes back without roles', async () => {
  const { A, B, g, general } = await setup();
  const r = await makeRole(A, g, [P.MANAGE_MESSAGES]);
  await assign(A, g, B, r);
  assert.equal((await B.client.del(`/users/@me/guilds/${g}`)).status, 204);
  await inviteAndJoin(A.client, B.client, general.id);
  const m = expectStatus(await A.client.get(`/guilds/${g}/members/${B.user.id}`), 200);
  assert.deepEqual(m.roles, [], 'roles are dropped when a member leaves');
  const am = await postMessage(A.client, general.id, 'x');
  expectError(await B.client.del(`/channels/${general.id}/messages/${am.id}`), 403, 50013);
});

test('the gateway fails closed: a hidden channel is in no GUILD_CREATE, CHANNEL_UPDATE or CHANNEL_DELETE of a member who cannot view it', async () => {
  const { A, B, C, g, general } = await setup();
  const name = uniqueName('secret').toLowerCase();
  const ch = await createChannel(A.client, g, name);
  await overwrite(A, ch.id, g, 0, { deny: [P.VIEW_CHANNEL] });
  await overwrite(A, ch.id, B.user.id, 1, { allow: [P.VIEW_CHANNEL] });
  await postMessage(A.client, ch.id, 'hidden text');
  const open = async (x, label) => {
    const gw = await GatewayClient.open(srv.port, x.token, { intents: INTENTS.GUILDS | INTENTS.GUILD_MESSAGES }, { label });
    sockets.push(gw);
    return gw;
  };
  const [a, b, c] = [await open(A, 'owner'), await open(B, 'allowed'), await open(C, 'denied')];
  const channelIds = (gw) => gw.guildCreates.find((x) => x.id === g).channels.map((x) => x.id);
  assert.ok(channelIds(a).includes(ch.id), 'the owner has it');
  assert.ok(channelIds(b).includes(ch.id), 'the member allowed by an overwrite has it');
  assert.ok(!channelIds(c).includes(ch.id), 'the member denied does not');
  assert.ok(channelIds(c).includes(general.id), 'but has the channels it may view');

  // A rename, then the delete: those who may view it are told, no one else.
  expectStatus(await A.client.patch(`/channels/${ch.id}`, { name: `${name}-2` }), 200, 'rename');
  expectStatus(await A.client.del(`/channels/${ch.id}`), 200, 'delete');
  for (const gw of [a, b]) {
    await gw.nextDispatch('CHANNEL_UPDATE', (d) => d.id === ch.id);
    await gw.nextDispatch('CHANNEL_DELETE', (d) => d.id === ch.id);
  }
  // Events reach a session in order: once C has the message posted after
  // the delete, it would have had the delete.
  await postMessage(A.client, general.id, 'after the delete');
  await c.nextDispatch('MESSAGE_CREATE', (d) => d.content === 'after the delete');
  const seen = c.dispatches.filter((p) => p.t === 'CHANNEL_UPDATE' || p.t === 'CHANNEL_DELETE');
  assert.deepEqual(seen.map((p) => p.t), [], 'nothing of the hidden channel');
  assert.ok(!JSON.stringify(c.dispatches).includes(name), 'its name never reached the denied member');
});
