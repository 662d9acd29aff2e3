// Durability (issue §5 and §7): nothing acknowledged is lost. 16 concurrent
// clients post across 4 channels, the server is SIGKILLed mid-load, restarted
// on the same data directory, and every message that got a 2xx must be there.
// Also: after a graceful SIGTERM and restart, everything is there.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  Server, FAST_FLAGS, register, createGuild, createChannel, inviteAndJoin, postMessage, request,
  fetchAllHistory, expectStatus, assertMessageShape, sleep, PASSWORD,
} from './lib/server.mjs';

const servers = [];
after(async () => {
  for (const s of servers) if (s.proc && !s.exitInfo) await s.stopAndAssertClean();
});

test('kill -9 under concurrent load loses no acknowledged message', { timeout: 300_000 }, async (t) => {
  const srv = new Server({ extraArgs: FAST_FLAGS });
  servers.push(srv);
  await srv.start();

  // 16 users (own tokens, own rate-limit buckets), one guild, 4 channels
  const owner = await register(srv);
  const { guild, general } = await createGuild(owner.client);
  const channels = [general];
  for (let i = 0; i < 3; i++) channels.push(await createChannel(owner.client, guild.id));
  const users = [owner];
  for (let i = 1; i < 16; i++) {
    const u = await register(srv);
    await inviteAndJoin(owner.client, u.client, general.id);
    users.push(u);
  }
  // a few messages before the load, acknowledged long before the crash
  const early = [];
  for (const ch of channels) early.push(await postMessage(owner.client, ch.id, `early ${ch.id}`));

  const acked = new Map(); // id -> {channelId, content, authorId}
  let attempts = 0;
  let failures = 0;
  let non2xx = 0;
  let stop = false;
  const statusCounts = {};

  async function worker(w) {
    const u = users[w];
    const ch = channels[w % channels.length];
    let seq = 0;
    while (!stop) {
      const content = `w${w}-m${seq++}-${Math.random().toString(36).slice(2, 8)}`;
      attempts++;
      let res;
      try {
        res = await fetch(`${srv.base}/channels/${ch.id}/messages`, {
          method: 'POST',
          headers: { Authorization: u.token, 'Content-Type': 'application/json' },
          body: JSON.stringify({ content }),
          signal: AbortSignal.timeout(30_000),
        });
      } catch {
        failures++;
        if (stop) break;
        continue; // in flight when the server died: not acknowledged
      }
      let text;
      try {
        text = await res.text();
      } catch {
        failures++;
        continue;
      }
      statusCounts[res.status] = (statusCounts[res.status] || 0) + 1;
      if (res.status >= 200 && res.status < 300) {
        const m = JSON.parse(text);
        assert.equal(m.content, content, 'acknowledged message echoes its content');
        assert.equal(m.channel_id, ch.id);
        assert.ok(!acked.has(m.id), `duplicate id ${m.id} acknowledged twice`);
        acked.set(m.id, { channelId: ch.id, content, authorId: u.user.id });
      } else {
        non2xx++;
        if (res.status === 429) await sleep(5);
      }
    }
  }

  // a mutator: posts, then edits or deletes its own messages; records what was acknowledged
  const ackedEdits = new Map(); // id -> {channelId, content}
  const ackedDeletes = new Map(); // id -> channelId
  async function mutator() {
    const u = users[0];
    const ch = channels[0];
    let n = 0;
    while (!stop) {
      try {
        const r = await fetch(`${srv.base}/channels/${ch.id}/messages`, {
          method: 'POST', headers: { Authorization: u.token, 'Content-Type': 'application/json' },
          body: JSON.stringify({ content: `mut-${n}` }), signal: AbortSignal.timeout(30_000),
        });
        if (r.status !== 200 && r.status !== 201) continue;
        const m = await r.json();
        // while its edit/delete is in flight the message's fate is uncertain: track it only once acknowledged
        if (n++ % 2 === 0) {
          const content = `mut-edited-${n}`;
          const e = await fetch(`${srv.base}/channels/${ch.id}/messages/${m.id}`, {
            method: 'PATCH', headers: { Authorization: u.token, 'Content-Type': 'application/json' },
            body: JSON.stringify({ content }), signal: AbortSignal.timeout(30_000),
          });
          await e.text();
          if (e.status === 200) {
            ackedEdits.set(m.id, content);
            acked.set(m.id, { channelId: ch.id, content, authorId: u.user.id });
          }
        } else {
          const d = await fetch(`${srv.base}/channels/${ch.id}/messages/${m.id}`, {
            method: 'DELETE', headers: { Authorization: u.token }, signal: AbortSignal.timeout(30_000),
          });
          await d.text();
          if (d.status === 204) ackedDeletes.set(m.id, ch.id);
        }
      } catch {
        if (stop) break;
      }
    }
  }
  // a registrar: new accounts during the load; every acknowledged one must survive
  const ackedUsers = [];
  async function registrar() {
    let n = 0;
    while (!stop) {
      const username = `dur_${process.pid}_${n++}`;
      try {
        const r = await fetch(`${srv.base}/auth/register`, {
          method: 'POST', headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ username, password: PASSWORD }), signal: AbortSignal.timeout(30_000),
        });
        const body = await r.json().catch(() => null);
        if (r.status === 201 && body?.token) ackedUsers.push({ username, token: body.token, id: body.user.id });
      } catch {
        if (stop) break;
      }
    }
  }

  const workers = [...users.map((_, w) => worker(w)), mutator(), registrar()];
  await sleep(3000);
  const ackedBeforeKill = acked.size;
  // SIGKILL while requests are in flight
  const exit = await srv.kill9();
  assert.equal(exit.signal, 'SIGKILL', `server was not killed by SIGKILL: ${JSON.stringify(exit)}\n${srv.tail()}`);
  stop = true;
  await Promise.all(workers);

  const summary = `edits ${ackedEdits.size}, deletes ${ackedDeletes.size}, registrations ${ackedUsers.length}, attempts ${attempts}, acked ${acked.size} (${ackedBeforeKill} before the kill signal), transport failures ${failures}, non-2xx ${non2xx}, statuses ${JSON.stringify(statusCounts)}`;
  t.diagnostic(summary);
  assert.ok(acked.size >= 50, `too few acknowledged posts to prove anything: ${summary}`);
  assert.ok(failures >= 1 || attempts > acked.size, `expected requests in flight at the kill: ${summary}`);

  // restart on the same data directory (new process, possibly new port)
  const srv2 = new Server({ extraArgs: FAST_FLAGS, dataDir: srv.dataDir });
  servers.push(srv2);
  await srv2.start({ timeoutMs: 60_000 });
  const c = srv2.client(owner.token);
  // the owner's token survived the crash too (it was acknowledged by the 201)
  expectStatus(await c.get('/users/@me'), 200, `owner token after kill -9 (${summary})`);

  const found = new Map();
  for (const ch of channels) {
    const all = await fetchAllHistory(c, ch.id, { pageSize: 100 });
    const seen = new Set();
    for (const m of all) {
      assert.ok(!seen.has(m.id), `message ${m.id} returned twice while paging ${ch.id}`);
      seen.add(m.id);
      found.set(m.id, m);
    }
  }
  const missing = [];
  for (const [id, info] of acked) {
    const m = found.get(id);
    if (!m) {
      missing.push(id);
      continue;
    }
    assert.equal(m.channel_id, info.channelId, `message ${id} moved channels`);
    assert.equal(m.content, info.content, `message ${id} content changed`);
    assert.equal(m.author.id, info.authorId, `message ${id} author changed`);
  }
  for (const e of early) assert.ok(found.has(e.id), `early message ${e.id} lost`);
  for (const [id, content] of ackedEdits) {
    if (found.has(id)) assert.equal(found.get(id).content, content, `acknowledged edit of ${id} lost`);
  }
  for (const [id] of ackedDeletes) assert.ok(!found.has(id), `acknowledged delete of ${id} undone by the crash`);
  for (const u of ackedUsers) {
    const r = await request(srv2, 'GET', '/users/@me', { token: u.token });
    assert.equal(r.status, 200, `acknowledged registration ${u.username} lost (${r.status})`);
  }
  // cross-check missing ones by direct GET so the report is precise
  const reallyMissing = [];
  for (const id of missing.slice(0, 50)) {
    const info = acked.get(id);
    const r = await c.get(`/channels/${info.channelId}/messages/${id}`);
    if (r.status !== 200) reallyMissing.push(`${id}→${r.status}`);
  }
  assert.equal(missing.length, 0, `${missing.length} of ${acked.size} acknowledged messages lost after kill -9 (direct GET: ${reallyMissing.join(', ')}); ${summary}`);

  // spot-check individual GETs and shapes
  const sample = [...acked.keys()].filter((_, i) => i % Math.max(1, Math.floor(acked.size / 40)) === 0);
  for (const id of sample) {
    const info = acked.get(id);
    const m = expectStatus(await c.get(`/channels/${info.channelId}/messages/${id}`), 200, `GET acknowledged ${id}`);
    assertMessageShape(m, { channelId: info.channelId, content: info.content, authorId: info.authorId });
  }
  // the recovered server keeps working: new ids sort after every recovered id
  const maxId = [...found.keys()].reduce((a, b) => (BigInt(a) > BigInt(b) ? a : b));
  const fresh = await postMessage(c, general.id, 'after recovery');
  assert.ok(BigInt(fresh.id) > BigInt(maxId), `new id ${fresh.id} not after recovered ${maxId}`);
  await srv2.stopAndAssertClean();
});

test('graceful SIGTERM: exit 0, restart, users, tokens, guilds, roles and messages are all there', { timeout: 180_000 }, async () => {
  const srv = new Server({ extraArgs: FAST_FLAGS });
  servers.push(srv);
  await srv.start();
  const a = await register(srv);
  const b = await register(srv);
  const { guild, general } = await createGuild(a.client, 'Persistent Guild');
  await inviteAndJoin(a.client, b.client, general.id);
  const ch = await createChannel(a.client, guild.id, 'persisted-chan');
  const role = expectStatus(await a.client.post(`/guilds/${guild.id}/roles`, { name: 'kept', permissions: '8192' }), [200, 201]);
  const assign = await a.client.put(`/guilds/${guild.id}/members/${b.user.id}/roles/${role.id}`);
  assert.equal(assign.status, 204);
  const ow = await a.client.put(`/channels/${ch.id}/permissions/${guild.id}`, { type: 0, allow: '0', deny: '2048' });
  assert.equal(ow.status, 204);
  const app = expectStatus(await a.client.post('/applications', { name: 'persist-bot' }), [200, 201]);
  const inv = expectStatus(await a.client.post(`/channels/${general.id}/invites`, {}), [200, 201]);
  const posted = [];
  for (let i = 0; i < 30; i++) posted.push(await postMessage(i % 2 ? a.client : b.client, general.id, `persist ${i}`));
  const edited = expectStatus(await a.client.patch(`/channels/${general.id}/messages/${posted[1].id}`, { content: 'edited persist' }), 200);
  assert.equal((await a.client.del(`/channels/${general.id}/messages/${posted[3].id}`)).status, 204);
  // burst just before the signal: every acknowledged one must survive a graceful stop
  const burst = await Promise.all(Array.from({ length: 50 }, (_, i) => postMessage(b.client, general.id, `burst ${i}`)));

  await srv.stopAndAssertClean();

  const srv2 = new Server({ extraArgs: FAST_FLAGS, dataDir: srv.dataDir });
  servers.push(srv2);
  await srv2.start({ timeoutMs: 60_000 });
  const A = srv2.client(a.token);
  const B = srv2.client(b.token);
  expectStatus(await A.get('/users/@me'), 200, 'token survives a restart');
  const login = await request(srv2, 'POST', '/auth/login', { body: { username: b.name, password: PASSWORD } });
  expectStatus(login, 200, 'login after restart');
  const g = expectStatus(await B.get(`/guilds/${guild.id}`), 200);
  assert.equal(g.name, 'Persistent Guild');
  assert.equal(g.owner_id, a.user.id);
  const chans = expectStatus(await A.get(`/guilds/${guild.id}/channels`), 200);
  assert.ok(chans.some((c) => c.id === ch.id && c.name === 'persisted-chan'));
  const member = expectStatus(await A.get(`/guilds/${guild.id}/members/${b.user.id}`), 200);
  assert.ok(member.roles.includes(role.id), 'role assignment persisted');
  const chGot = expectStatus(await A.get(`/channels/${ch.id}`), 200);
  assert.ok((chGot.permission_overwrites || []).some((o) => o.id === guild.id && o.deny === '2048'), 'overwrite persisted');
  // and is enforced after restart (b has no SEND in ch, but MANAGE_MESSAGES from the role)
  const denied = await B.post(`/channels/${ch.id}/messages`, { content: 'x' });
  assert.equal(denied.status, 403, `overwrite enforced after restart: ${denied.status} ${denied.text}`);
  const bot = srv2.client(app.token, { bot: true });
  expectStatus(await bot.get('/applications/@me'), 200, 'bot token after restart');
  expectStatus(await B.get(`/invites/${inv.code}`), 200, 'invite after restart');

  const all = await fetchAllHistory(A, general.id, { pageSize: 7 });
  const ids = new Set(all.map((m) => m.id));
  for (const [i, m] of posted.entries()) {
    if (i === 3) assert.ok(!ids.has(m.id), 'deleted message stays deleted');
    else assert.ok(ids.has(m.id), `message ${i} survived`);
  }
  for (const m of burst) assert.ok(ids.has(m.id), `burst message ${m.content} survived`);
  const e = all.find((m) => m.id === posted[1].id);
  assert.equal(e.content, 'edited persist');
  assert.equal(e.edited_timestamp, edited.edited_timestamp);
  await srv2.stopAndAssertClean();
});
