// Cluster mode, step 1 (docs/cluster.md): two `parley serve --cluster` nodes
// on one PostgreSQL database, each following the log of commits. Users,
// guilds, invites and messages made on either node are on both; gateway
// sessions on both nodes get every message in one order; read-modify-writes
// made on two nodes at once (two roles added to one member, an invite's
// max_uses, a username) are decided against the cluster's latest state; a
// node killed with -9 and started again catches up from the log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  register, createGuild, postMessage, expectStatus,
  request, PASSWORD, uniqueName, sleep, newTestDatabase, PARLEY_BIN,
} from './lib/server.mjs';
import { GatewayClient, INTENTS, createBot, addBot } from './lib/gateway.mjs';
import { startRedis, killRedis } from './lib/redis.mjs';
import { PG, clusterSkip, harness, startClusterNode, eventually } from './lib/cluster.mjs';

const skip = clusterSkip('sqlite');
const { servers, clients } = harness();
const startNode = (store, nodeId, extra = []) => startClusterNode(servers, store, nodeId, extra);

const GW_INTENTS = INTENTS.GUILDS | INTENTS.GUILD_MESSAGES | INTENTS.MESSAGE_CONTENT | INTENTS.GUILD_MEMBERS;

test('two nodes on one PostgreSQL serve one community', { skip, timeout: 180_000 }, async () => {
  assert.ok(PG, 'PARLEY_REQUIRE_PG=1 but PARLEY_TEST_PG is not set');
  const { url: store } = newTestDatabase('cluster');
  const a = await startNode(store, 1);
  const b = await startNode(store, 2);

  // Accounts on either node; a username is unique across the cluster.
  const owner = await register(a);
  const member = await register(b);
  const taken = await request(b, 'POST', '/auth/register', { body: { username: owner.name, password: PASSWORD } });
  assert.equal(taken.status, 400, `the same username on the other node: ${taken.status} ${taken.text}`);
  // The owner's token works on the other node as soon as its commit is applied there.
  await eventually('a session made on A is known on B', async () => (await b.client(owner.token).get('/users/@me')).status === 200);

  const { guild, general } = await createGuild(owner.client);
  const inv = expectStatus(await owner.client.post(`/channels/${general.id}/invites`, { max_uses: 0 }), [200, 201], 'invite');
  // Joined on B at once: B decides under the commit order lock, after catching up.
  expectStatus(await b.client(member.token).post(`/invites/${inv.code}`, {}), [200, 201, 204], 'join on B');
  const onB = { owner: b.client(owner.token), member: b.client(member.token) };
  const onA = { owner: owner.client, member: a.client(member.token) };

  // Sessions on both nodes.
  const gwA = await GatewayClient.open(a.port, owner.token, { intents: GW_INTENTS }, { label: 'owner@A' });
  const gwB = await GatewayClient.open(b.port, member.token, { intents: GW_INTENTS }, { label: 'member@B' });
  clients.push(gwA, gwB);
  assert.equal(gwB.guildCreates.length, 1, 'the member sees the guild on B');
  assert.equal(gwB.guildCreates[0].id, guild.id);
  // Registered on A, identified on B at once: B catches up before refusing.
  for (let i = 0; i < 3; i++) {
    const fresh = await register(a);
    const gw = await GatewayClient.open(b.port, fresh.token, { intents: GW_INTENTS }, { label: `fresh${i}@B` });
    clients.push(gw);
    assert.equal(gw.ready.user.id, fresh.user.id);
    gw.destroy();
  }
  // An unknown token is still refused, with 4004.
  const bad = await GatewayClient.connect(b.port, { label: 'bad@B' });
  clients.push(bad);
  bad.send(GatewayClient.identifyPayload('not-a-token', { intents: GW_INTENTS }));
  const closed = await bad.closedWithin(10_000);
  assert.equal(closed.code, 4004);

  // Messages posted on both nodes at once reach both sessions, in one order.
  const N = 40;
  const posts = [];
  for (let i = 0; i < N; i++) {
    posts.push(postMessage(onA.owner, general.id, `a${i}`));
    posts.push(postMessage(onB.member, general.id, `b${i}`));
  }
  const acked = await Promise.all(posts);
  const ackedIds = new Set(acked.map((m) => m.id));
  const seen = async (gw) => {
    await eventually(`${gw.label} gets all ${2 * N} messages`, async () => gw.dispatches.filter((p) => p.t === 'MESSAGE_CREATE').length >= 2 * N);
    return gw.dispatches.filter((p) => p.t === 'MESSAGE_CREATE').map((p) => p.d);
  };
  const [gotA, gotB] = await Promise.all([seen(gwA), seen(gwB)]);
  assert.equal(gotA.length, 2 * N, 'no duplicate on A');
  assert.equal(gotB.length, 2 * N, 'no duplicate on B');
  assert.deepEqual(new Set(gotA.map((m) => m.id)), ackedIds, 'A delivered exactly the acknowledged messages');
  assert.deepEqual(gotA.map((m) => m.id), gotB.map((m) => m.id), 'both nodes deliver in one order');
  assert.deepEqual(gotA, gotB, 'the same MESSAGE_CREATE payloads on both nodes');
  for (const i of [0, N - 1]) {
    const m = gotB.find((x) => x.content === `a${i}`);
    assert.ok(m && m.author.id === owner.user.id, `a${i} on B carries its author`);
  }
  // History is the same on both nodes.
  const histA = expectStatus(await onA.member.get(`/channels/${general.id}/messages?limit=100`), 200, 'history A');
  const histB = expectStatus(await onB.owner.get(`/channels/${general.id}/messages?limit=100`), 200, 'history B');
  assert.deepEqual(histA.map((m) => m.id), histB.map((m) => m.id));
  assert.equal(histA.length, 2 * N);
  // History order (by id) is delivery order (by position), across nodes too:
  // ids are minted under the commit order lock (docs/cluster.md "Ids in commit order").
  assert.deepEqual(histA.map((m) => m.id).reverse(), gotA.map((m) => m.id), 'history order is delivery order');

  // Two roles added to one member on two nodes at once: both stick.
  const r1 = expectStatus(await onA.owner.post(`/guilds/${guild.id}/roles`, { name: 'r1' }), 200, 'role r1');
  const r2 = expectStatus(await onA.owner.post(`/guilds/${guild.id}/roles`, { name: 'r2' }), 200, 'role r2');
  const [p1, p2] = await Promise.all([
    onA.owner.put(`/guilds/${guild.id}/members/${member.user.id}/roles/${r1.id}`),
    onB.owner.put(`/guilds/${guild.id}/members/${member.user.id}/roles/${r2.id}`),
  ]);
  expectStatus(p1, 204, 'add r1 on A');
  expectStatus(p2, 204, 'add r2 on B');
  for (const [name, c] of [['A', onA.owner], ['B', onB.owner]]) {
    await eventually(`both roles on ${name}`, async () => {
      const m = expectStatus(await c.get(`/guilds/${guild.id}/members/${member.user.id}`), 200, `member on ${name}`);
      return m.roles.includes(r1.id) && m.roles.includes(r2.id);
    });
  }
  // The member's session on B saw both role additions, as GUILD_MEMBER_UPDATEs in order.
  await eventually('GUILD_MEMBER_UPDATE with both roles on B', async () =>
    gwB.dispatches.some((p) => p.t === 'GUILD_MEMBER_UPDATE' && p.d.roles.includes(r1.id) && p.d.roles.includes(r2.id)));

  // An invite with max_uses 1, used on both nodes at once: exactly one joins.
  const one = expectStatus(await onA.owner.post(`/channels/${general.id}/invites`, { max_uses: 1 }), [200, 201], 'invite max_uses 1');
  const j1 = await register(a);
  const j2 = await register(b);
  const [u1, u2] = await Promise.all([
    a.client(j1.token).post(`/invites/${one.code}`, {}),
    b.client(j2.token).post(`/invites/${one.code}`, {}),
  ]);
  const ok = [u1, u2].filter((r) => r.status >= 200 && r.status < 300);
  assert.equal(ok.length, 1, `exactly one join with max_uses 1: ${u1.status} ${u1.text} / ${u2.status} ${u2.text}`);

  // A bot's commands: created on both nodes at once under one name, one
  // command (decided in commit order); read from either node.
  const bot = await createBot(a, owner.client);
  await addBot(owner.client, guild.id, bot.botId);
  const cmds = `/applications/${bot.appId}/guilds/${guild.id}/commands`;
  const botB = b.client(bot.token, { bot: true });
  await eventually('the bot is known on B', async () => (await botB.get('/users/@me')).status === 200);
  const [c1, c2] = await Promise.all([
    bot.client.post(cmds, { name: 'ping', description: 'from A' }),
    botB.post(cmds, { name: 'ping', description: 'from B' }),
  ]);
  assert.deepEqual([c1.status, c2.status].sort(), [200, 201], `one create, one replace: ${c1.text} / ${c2.text}`);
  assert.equal(c1.json.id, c2.json.id);
  await eventually('one command on both nodes', async () => {
    const [la, lb] = [expectStatus(await bot.client.get(cmds), 200), expectStatus(await botB.get(cmds), 200)];
    return la.length === 1 && JSON.stringify(la) === JSON.stringify(lb);
  });

  // Node B killed with -9; A goes on; B started again catches up.
  await b.kill9();
  gwB.destroy();
  const whileDown = await postMessage(onA.owner, general.id, 'while B was down');
  const renamed = uniqueName('renamed');
  expectStatus(await onA.owner.patch(`/guilds/${guild.id}`, { name: renamed }), 200, 'rename while B is down');
  await b.start();
  const g = expectStatus(await b.client(member.token).get(`/guilds/${guild.id}`), 200, 'guild on restarted B');
  assert.equal(g.name, renamed);
  const gwB2 = await GatewayClient.open(b.port, member.token, { intents: GW_INTENTS }, { label: 'member@B2' });
  clients.push(gwB2);
  const after1 = await postMessage(onA.owner, general.id, 'after B came back');
  const got = await gwB2.nextDispatch('MESSAGE_CREATE', (d) => d.id === after1.id);
  assert.equal(got.d.content, 'after B came back');
  const hist = expectStatus(await b.client(member.token).get(`/channels/${general.id}/messages?limit=2`), 200, 'history on B2');
  assert.deepEqual(hist.map((m) => m.id), [after1.id, whileDown.id]);

  // /admin/status shows the node and how far it followed the log.
  const st = expectStatus(await b.client(owner.token).get('/admin/status'), 200, 'admin status');
  const cl = st.cluster;
  assert.ok(cl, `admin status has a cluster section: ${JSON.stringify(st).slice(0, 400)}`);
  assert.equal(cl.node_id, 2);
  assert.ok(cl.applied_position > 0);

  for (const gw of [gwA, gwB2]) gw.assertClean();
});

test('with Redis as the bus: entries and typing between nodes, and Redis down costs no event', { skip, timeout: 180_000 }, async () => {
  const { url: store } = newTestDatabase('clusterbus');
  let { port, proc: redis } = await startRedis();
  const bus = ['--redis', `redis://127.0.0.1:${port}`];
  const a = await startNode(store, 1, bus);
  const b = await startNode(store, 2, bus);
  const owner = await register(a);
  const member = await register(b);
  const { guild, general } = await createGuild(owner.client);
  const inv = expectStatus(await owner.client.post(`/channels/${general.id}/invites`, {}), [200, 201], 'invite');
  expectStatus(await b.client(member.token).post(`/invites/${inv.code}`, {}), [200, 201, 204], 'join on B');
  const intents = GW_INTENTS | INTENTS.GUILD_MESSAGE_TYPING | INTENTS.GUILD_PRESENCES;
  const gwA = await GatewayClient.open(a.port, owner.token, { intents }, { label: 'owner@A' });
  const gwB = await GatewayClient.open(b.port, member.token, { intents }, { label: 'member@B' });
  clients.push(gwA, gwB);
  const status = async (srv, token) => expectStatus(await srv.client(token).get('/admin/status'), 200, 'status').cluster;
  await eventually('both nodes on the bus', async () => (await status(a, owner.token)).bus?.up && (await status(b, owner.token)).bus?.up);

  // Typing on A reaches the session on B (typing is not in the log: only the bus carries it).
  expectStatus(await owner.client.post(`/channels/${general.id}/typing`), 204, 'typing on A');
  const typing = await gwB.nextDispatch('TYPING_START', (d) => d.channel_id === general.id && d.user_id === owner.user.id, 10_000);
  assert.equal(typing.d.guild_id, guild.id);
  // And the other way.
  expectStatus(await b.client(member.token).post(`/channels/${general.id}/typing`), 204, 'typing on B');
  await gwA.nextDispatch('TYPING_START', (d) => d.user_id === member.user.id, 10_000);

  // Messages from both nodes; entries reach the other node by the bus.
  const post = async (label) => {
    const posts = [];
    for (let i = 0; i < 20; i++) {
      posts.push(postMessage(owner.client, general.id, `${label} a${i}`));
      posts.push(postMessage(b.client(member.token), general.id, `${label} b${i}`));
    }
    return (await Promise.all(posts)).map((m) => m.id);
  };
  const check = async (ids, label) => {
    for (const gw of [gwA, gwB]) {
      await eventually(`${gw.label} gets the ${label} messages`, async () => ids.every((id) => gw.dispatches.some((p) => p.t === 'MESSAGE_CREATE' && p.d.id === id)));
    }
    const order = (gw) => gw.dispatches.filter((p) => p.t === 'MESSAGE_CREATE').map((p) => p.d.id);
    assert.deepEqual(order(gwA), order(gwB), `one order (${label})`);
  };
  await check(await post('live'), 'live');
  // Each node's status shows the whole cluster: both nodes, a session each,
  // and how far each followed the log (from their heartbeats).
  await eventually('each node lists both nodes with their sessions', async () => {
    for (const [srv, self] of [[a, 1], [b, 2]]) {
      const cl = await status(srv, owner.token);
      const nodes = cl.nodes ?? [];
      if (nodes.length !== 2 || nodes[0].node_id !== self || !nodes[0].self) return false;
      if (!nodes.every((n) => n.sessions === 1 && n.applied_position > 0 && n.started_ms > 0)) return false;
      if (!cl.postgres?.ok || !cl.bus?.up) return false;
    }
    return true;
  });
  // And `parley status` prints it.
  const printed = execFileSync(PARLEY_BIN, ['status', '--url', `http://127.0.0.1:${b.port}`, '--token', owner.token], { encoding: 'utf8' });
  assert.match(printed, /cluster \(this node: 2\)/);
  assert.match(printed, /PostgreSQL \(log read or commit ok\)\s+ok/);
  assert.match(printed, /Redis bus\s+up/);
  assert.match(printed, /^\s+1\s+1\s+\d+\s+\d+\s+\d+$/m, `node 1's row in:\n${printed}`);
  assert.match(printed, /^\s+2\*\s+1\s+\d+\s+\d+\s+0$/m, `node 2's own row in:\n${printed}`);
  const unread = async (srv) => {
    const res = await request(srv, 'GET', '/metrics', { prefix: '' });
    return Number(/parley_cluster_log_entries_unread_total (\d+)/.exec(res.text)?.[1] ?? 0);
  };
  assert.ok((await unread(a)) > 0 && (await unread(b)) > 0, 'entries applied as they came by the bus');

  // Redis killed: delivery goes on through the log; typing is lost meanwhile.
  await killRedis(redis);
  await eventually('the bus is seen down', async () => !(await status(b, owner.token)).bus.up);
  await check(await post('no redis'), 'no redis');
  const downHealth = await request(b, 'GET', '/health', { prefix: '' });
  assert.equal(downHealth.status, 200, 'a node without its bus still serves');
  assert.equal(downHealth.json.bus, 'down');
  // Back: the bus comes up again by itself.
  ({ proc: redis } = await startRedis(port));
  await eventually('both nodes back on the bus', async () => (await status(a, owner.token)).bus?.up && (await status(b, owner.token)).bus?.up, 15_000);
  await check(await post('redis back'), 'redis back');
  expectStatus(await owner.client.post(`/channels/${general.id}/typing`), 204, 'typing on A again');
  await gwB.nextDispatch('TYPING_START', (d) => d.user_id === owner.user.id, 10_000);

  // A silent bus (Redis answers PING but holds every PUBLISH: CLIENT PAUSE
  // WRITE): the canary does not come back, /health says so, then recovers.
  const health = async (srv) => {
    const r = await request(srv, 'GET', '/health', { prefix: '' });
    return { status: r.status, body: r.json };
  };
  assert.equal((await health(b)).status, 200);
  execFileSync('redis-cli', ['-p', String(port), 'CLIENT', 'PAUSE', '9000', 'WRITE']);
  const silent = await eventually('B reports a silent bus', async () => {
    const h = await health(b);
    return h.status === 503 && h.body.status === 'bus silent' ? h : null;
  }, 12_000);
  assert.equal(silent.body.bus, 'up', 'the bus claimed to be up while silent');
  await eventually('B healthy again after the pause', async () => (await health(b)).status === 200, 20_000);
  await check(await post('after the pause'), 'after the pause');

  // Presence is one per user across nodes: the owner's status set on A is
  // seen on B, live and in a new session's GUILD_CREATE.
  gwA.setPresence('dnd');
  await gwB.nextDispatch('PRESENCE_UPDATE', (d) => d.user.id === owner.user.id && d.status === 'dnd', 10_000);
  const gwB2 = await GatewayClient.open(b.port, member.token, { intents }, { label: 'member@B2' });
  clients.push(gwB2);
  const seenOwner = gwB2.guildCreates[0].presences.find((p) => p.user.id === owner.user.id);
  assert.equal(seenOwner?.status, 'dnd', `the owner's presence in GUILD_CREATE on B: ${JSON.stringify(gwB2.guildCreates[0].presences)}`);
  // The member closes one of two sessions on B: still online, no offline seen on A.
  gwB2.destroy();
  // Node A killed: B's sessions see the owner go offline within the TTL, no node told.
  const killedAt = Date.now();
  await a.kill9();
  await gwB.nextDispatch('PRESENCE_UPDATE', (d) => d.user.id === owner.user.id && d.status === 'offline', 15_000);
  const tookMs = Date.now() - killedAt;
  assert.ok(tookMs < 10_000, `offline after ${tookMs} ms`);
  assert.ok(!gwB.dispatches.some((p) => p.t === 'PRESENCE_UPDATE' && p.d.user.id === member.user.id && p.d.status === 'offline'), 'the member never showed offline');
  for (const gw of [gwB]) gw.assertClean();
});
