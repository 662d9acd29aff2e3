// Sessions die with their token (issue 12): a bot token reset, a password
// change and an account deletion revoke tokens and close the gateway sessions
// identified with them (4004, as Discord); a bot removed from a guild loses
// that guild (GUILD_DELETE) and hears nothing more from it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, FAST_FLAGS, register, createGuild, postMessage, request, inviteAndJoin, PASSWORD,
  expectStatus, expectError, expectFieldError, sleep,
} from './lib/server.mjs';
import { GatewayClient, INTENTS, createBot, addBot, barrier } from './lib/gateway.mjs';

let srv;
before(async () => {
  srv = await startServer({ extraArgs: FAST_FLAGS });
});
after(async () => {
  if (srv) await srv.stopAndAssertClean();
});

const NEW_PASSWORD = 'another horse battery staple 43';

test('a bot token reset: 200 {token}, the bot\'s sessions close with 4004, the old token is 401, only the owner may', async () => {
  const owner = await register(srv);
  const bot = await createBot(srv, owner.client);
  const gw = await GatewayClient.open(srv.port, bot.token, { intents: INTENTS.GUILDS });
  const stranger = await register(srv);
  expectError(await stranger.client.post(`/applications/${bot.appId}/bot/reset`, {}), 403, 50001, 'not the owner');
  expectError(await owner.client.post('/applications/1234567890123/bot/reset', {}), 404, 10002, 'unknown application');
  const res = expectStatus(await owner.client.post(`/applications/${bot.appId}/bot/reset`, {}), 200);
  assert.equal(typeof res.token, 'string');
  assert.notEqual(res.token, bot.token);
  await gw.expectClose(4004, 10_000, 'the reset bot token\'s session');
  expectError(await request(srv, 'GET', '/users/@me', { token: bot.token, bot: true }), 401, 0, 'old bot token');
  const me = expectStatus(await request(srv, 'GET', '/users/@me', { token: res.token, bot: true }), 200, 'new bot token');
  assert.equal(me.id, bot.botId);
  const again = await GatewayClient.open(srv.port, res.token, { intents: INTENTS.GUILDS });
  again.assertOpen();
  again.close();
});

test('a password change needs the current password, revokes every token (sessions close with 4004) and returns the new one', async () => {
  const u = await register(srv);
  const gw = await GatewayClient.open(srv.port, u.token, { intents: INTENTS.GUILDS });
  expectFieldError(await u.client.patch('/users/@me', { password: 'wrong password here', new_password: NEW_PASSWORD }), 'password', 'wrong current password');
  expectFieldError(await u.client.patch('/users/@me', { new_password: NEW_PASSWORD }), 'password', 'no current password');
  expectFieldError(await u.client.patch('/users/@me', { password: PASSWORD, new_password: 'short' }), 'new_password', 'too short');
  gw.assertOpen('a refused change ends nothing');
  const res = expectStatus(await u.client.patch('/users/@me', { password: PASSWORD, new_password: NEW_PASSWORD }), 200);
  assert.equal(res.id, u.user.id);
  assert.equal(typeof res.token, 'string');
  await gw.expectClose(4004, 10_000, 'the session of the old token');
  expectError(await request(srv, 'GET', '/users/@me', { token: u.token }), 401, 0, 'old token');
  expectStatus(await request(srv, 'GET', '/users/@me', { token: res.token }), 200, 'new token');
  expectFieldError(await request(srv, 'POST', '/auth/login', { body: { login: u.name, password: PASSWORD } }), 'login', 'old password');
  expectStatus(await request(srv, 'POST', '/auth/login', { body: { login: u.name, password: NEW_PASSWORD } }), 200, 'new password');
});

test('an account deletion: the user leaves every guild, its sessions close with 4004, it can never log in, its messages stay as "Deleted User"; an owner must hand over first (40011)', async () => {
  const owner = await register(srv);
  const { guild, general } = await createGuild(owner.client);
  const leaver = await register(srv);
  await inviteAndJoin(owner.client, leaver.client, general.id);
  const msg = await postMessage(leaver.client, general.id, 'soon from a deleted user');
  const ownerGw = await GatewayClient.open(srv.port, owner.token, { intents: INTENTS.GUILDS | INTENTS.GUILD_MEMBERS });
  const gw = await GatewayClient.open(srv.port, leaver.token, { intents: INTENTS.GUILDS });
  expectError(await owner.client.post('/users/@me/delete', { password: PASSWORD }), 400, 40011, 'owner of a guild');
  expectFieldError(await leaver.client.post('/users/@me/delete', { password: 'not my password' }), 'password', 'wrong password');
  gw.assertOpen('a refused deletion ends nothing');
  const del = await leaver.client.post('/users/@me/delete', { password: PASSWORD });
  assert.equal(del.status, 204, `delete: ${del.status} ${del.text}`);
  await gw.expectClose(4004, 10_000, 'the deleted user\'s session');
  const removed = await ownerGw.nextDispatch('GUILD_MEMBER_REMOVE', (d) => d.user?.id === leaver.user.id);
  assert.equal(removed.d.guild_id, guild.id);
  expectError(await request(srv, 'GET', '/users/@me', { token: leaver.token }), 401, 0, 'the deleted user\'s token');
  expectFieldError(await request(srv, 'POST', '/auth/login', { body: { login: leaver.name, password: PASSWORD } }), 'login', 'login as the deleted user');
  const shown = expectStatus(await owner.client.get(`/users/${leaver.user.id}`), 200);
  assert.equal(shown.global_name, 'Deleted User');
  assert.match(shown.username, /^deleted_user_[0-9a-f]+$/);
  const kept = expectStatus(await owner.client.get(`/channels/${general.id}/messages/${msg.id}`), 200);
  assert.equal(kept.author.id, leaver.user.id);
  assert.equal(kept.author.global_name, 'Deleted User');
  expectError(await owner.client.get(`/guilds/${guild.id}/members/${leaver.user.id}`), 404, 10007, 'no longer a member');
  // The name is free again.
  expectStatus(await request(srv, 'POST', '/auth/register', { body: { username: leaver.name, password: PASSWORD } }), 201);
  ownerGw.close();
});

test('a bot removed from a guild gets GUILD_DELETE for it and none of its messages after', async () => {
  const owner = await register(srv);
  const { guild, general } = await createGuild(owner.client);
  const other = await createGuild(owner.client);
  const bot = await createBot(srv, owner.client);
  await addBot(owner.client, guild.id, bot.botId);
  await addBot(owner.client, other.guild.id, bot.botId);
  const gw = await GatewayClient.open(srv.port, bot.token, { intents: INTENTS.GUILDS | INTENTS.GUILD_MESSAGES });
  const first = await postMessage(owner.client, general.id, 'before the kick');
  await gw.nextDispatch('MESSAGE_CREATE', (d) => d.id === first.id);
  const kick = await owner.client.del(`/guilds/${guild.id}/members/${bot.botId}`);
  assert.equal(kick.status, 204, `kick: ${kick.status} ${kick.text}`);
  const gd = await gw.nextDispatch('GUILD_DELETE', (d) => d.id === guild.id);
  assert.equal(gd.d.unavailable, undefined, 'removed, not an outage: no "unavailable"');
  const later = await postMessage(owner.client, general.id, 'after the kick');
  await barrier(owner.client, other.guild.id, [gw]);
  assert.ok(!gw.dispatches.some((p) => p.t === 'MESSAGE_CREATE' && p.d.id === later.id), 'a removed bot hears nothing more from the guild');
  expectError(await bot.client.get(`/channels/${general.id}/messages`), 403, 50001, 'no access after removal');
  gw.assertOpen('the session lives on (other guilds)');
  gw.close();
  await sleep(50);
});
