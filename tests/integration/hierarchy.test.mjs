// Role hierarchy and read-modify-write races: a member with MANAGE_ROLES
// cannot grant what it lacks or act above its top role, and concurrent edits
// of one record lose nothing (they are re-checked on the writer thread).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  Server, FAST_FLAGS, P, perms, register, createGuild, createChannel, inviteAndJoin,
  expectStatus, expectError,
} from './lib/server.mjs';

let srv;
before(async () => {
  srv = new Server({ extraArgs: FAST_FLAGS });
  await srv.start();
});
after(async () => {
  if (srv) await srv.stopAndAssertClean();
});

async function guildWithMod() {
  const owner = await register(srv);
  const mod = await register(srv);
  const admin = await register(srv);
  const { guild, general } = await createGuild(owner.client);
  await inviteAndJoin(owner.client, mod.client, general.id);
  await inviteAndJoin(owner.client, admin.client, general.id);
  const modRole = expectStatus(await owner.client.post(`/guilds/${guild.id}/roles`,
    { name: 'mod', permissions: perms(P.MANAGE_ROLES, P.VIEW_CHANNEL, P.SEND_MESSAGES) }), 200);
  const adminRole = expectStatus(await owner.client.post(`/guilds/${guild.id}/roles`,
    { name: 'admin', permissions: perms(P.ADMINISTRATOR) }), 200);
  // admin above mod
  expectStatus(await owner.client.patch(`/guilds/${guild.id}/roles/${modRole.id}`, { position: 2 }), 200);
  expectStatus(await owner.client.patch(`/guilds/${guild.id}/roles/${adminRole.id}`, { position: 3 }), 200);
  assert.equal((await owner.client.put(`/guilds/${guild.id}/members/${mod.user.id}/roles/${modRole.id}`)).status, 204);
  assert.equal((await owner.client.put(`/guilds/${guild.id}/members/${admin.user.id}/roles/${adminRole.id}`)).status, 204);
  return { owner, mod, admin, guild, general, modRole, adminRole };
}

test('MANAGE_ROLES cannot grant permissions its holder lacks', async () => {
  const { mod, guild } = await guildWithMod();
  expectError(await mod.client.patch(`/guilds/${guild.id}/roles/${guild.id}`, { permissions: perms(P.ADMINISTRATOR) }), 403, [50013]);
  expectError(await mod.client.post(`/guilds/${guild.id}/roles`, { name: 'x', permissions: perms(P.ADMINISTRATOR) }), 403, [50013]);
  expectError(await mod.client.post(`/guilds/${guild.id}/roles`, { name: 'x', permissions: perms(P.MANAGE_GUILD) }), 403, [50013]);
  // Within its own bits it may.
  const low = expectStatus(await mod.client.post(`/guilds/${guild.id}/roles`, { name: 'low', permissions: perms(P.SEND_MESSAGES) }), 200);
  // ...but not move a role above its own top role.
  expectError(await mod.client.patch(`/guilds/${guild.id}/roles/${low.id}`, { position: 50 }), 403, [50013]);
});

test('MANAGE_ROLES cannot act on members or roles above it', async () => {
  const { mod, admin, guild, adminRole } = await guildWithMod();
  expectError(await mod.client.patch(`/guilds/${guild.id}/members/${admin.user.id}`, { roles: [] }), 403, [50013]);
  expectError(await mod.client.del(`/guilds/${guild.id}/members/${admin.user.id}/roles/${adminRole.id}`), 403, [50013]);
  expectError(await mod.client.put(`/guilds/${guild.id}/members/${mod.user.id}/roles/${adminRole.id}`), 403, [50013]);
  const m = expectStatus(await admin.client.get(`/guilds/${guild.id}/members/${admin.user.id}`), 200);
  assert.ok(m.roles.includes(adminRole.id), 'the admin kept its role');
});

test('channel overwrites cannot grant bits the caller lacks', async () => {
  const { mod, guild, general } = await guildWithMod();
  expectError(await mod.client.put(`/channels/${general.id}/permissions/${mod.user.id}`,
    { type: 1, allow: perms(P.MANAGE_CHANNELS), deny: '0' }), 403, [50013]);
  // Bits it holds are fine.
  assert.equal((await mod.client.put(`/channels/${general.id}/permissions/${mod.user.id}`,
    { type: 1, allow: perms(P.SEND_MESSAGES), deny: '0' })).status, 204);
  expectError(await mod.client.del(`/channels/${general.id}`), 403, [50013]);
});

test('an overwrite opens a channel in a guild whose @everyone has no permissions', async () => {
  const owner = await register(srv);
  const member = await register(srv);
  const { guild, general } = await createGuild(owner.client);
  await inviteAndJoin(owner.client, member.client, general.id);
  const hall = await createChannel(owner.client, guild.id, 'welcome');
  expectStatus(await owner.client.patch(`/guilds/${guild.id}/roles/${guild.id}`, { permissions: '0' }), 200);
  expectError(await member.client.get(`/channels/${general.id}`), 403, [50001]);
  assert.equal((await owner.client.put(`/channels/${hall.id}/permissions/${guild.id}`,
    { type: 0, allow: perms(P.VIEW_CHANNEL, P.READ_MESSAGE_HISTORY), deny: '0' })).status, 204);
  expectStatus(await member.client.get(`/channels/${hall.id}`), 200);
});

test('concurrent role assignments to one member all stick', async () => {
  const owner = await register(srv);
  const member = await register(srv);
  const { guild, general } = await createGuild(owner.client);
  await inviteAndJoin(owner.client, member.client, general.id);
  const roles = [];
  for (let i = 0; i < 8; i++)
    roles.push(expectStatus(await owner.client.post(`/guilds/${guild.id}/roles`, { name: `r${i}` }), 200));
  const res = await Promise.all(roles.map((r) => owner.client.put(`/guilds/${guild.id}/members/${member.user.id}/roles/${r.id}`)));
  for (const r of res) assert.equal(r.status, 204);
  const m = expectStatus(await owner.client.get(`/guilds/${guild.id}/members/${member.user.id}`), 200);
  assert.deepEqual([...m.roles].sort(), roles.map((r) => r.id).sort(), 'every concurrently added role is there');
});

test('concurrent joins never exceed an invite\'s max_uses', async () => {
  const owner = await register(srv);
  const { general } = await createGuild(owner.client);
  const inv = expectStatus(await owner.client.post(`/channels/${general.id}/invites`, { max_uses: 2 }), 200);
  const joiners = [];
  for (let i = 0; i < 6; i++) joiners.push(await register(srv));
  const res = await Promise.all(joiners.map((j) => j.client.post(`/invites/${inv.code}`)));
  const ok = res.filter((r) => r.status === 200).length;
  assert.equal(ok, 2, `exactly max_uses joins succeed, got ${res.map((r) => r.status)}`);
  for (const r of res) if (r.status !== 200) expectError(r, 404, [10006]);
});
