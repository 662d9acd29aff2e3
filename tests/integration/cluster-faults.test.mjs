// The cluster's fault suite (docs/cluster.md, "Faults"): three nodes on one
// PostgreSQL with Redis as the bus, a posting load spread over the nodes,
// receiving sessions on every node; then one fault per test, under load.
// Each test reports acknowledged / delivered / lost / duplicated per
// receiving session and checks: nothing acknowledged lost (for sessions
// that stayed connected), nothing delivered twice, one order on every node,
// every acknowledged message in history.
//
// Sessions of a node that is killed or drained resume on the other nodes
// (docs/cluster.md, "Sessions and resume on any node"); the share that
// resumed exactly is reported, and those then count as steady: their
// dispatches before and after the move must hold every acknowledged
// message once, in the one order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  Server, FAST_FLAGS, register, createGuild, expectStatus, tmpDataDir, request, sleep,
  newTestDatabase, fetchAllHistory,
} from './lib/server.mjs';
import { GatewayClient, INTENTS } from './lib/gateway.mjs';
import { startRedis } from './lib/redis.mjs';
import { clusterSkip, harness } from './lib/cluster.mjs';

const skip = clusterSkip('postgres');
let pgDir = null;
const { servers, clients } = harness(async () => {
  if (!pgDir) return;
  try {
    execFileSync('scripts/pg-cluster.sh', ['stop', pgDir], { stdio: 'ignore' });
    fs.rmSync(path.dirname(pgDir), { recursive: true, force: true });
  } catch {
    // best effort
  }
});

const INTENTS_ALL = INTENTS.GUILDS | INTENTS.GUILD_MESSAGES | INTENTS.MESSAGE_CONTENT;

/**
 * Three nodes (ids 1..3) on `store` with Redis at `redisPort`, a guild with
 * `perNode` receivers per node and one poster per node.
 */
async function community(store, redisPort, perNode = 2, onLast = 0) {
  const nodes = [];
  for (let n = 1; n <= 3; n++) {
    const srv = new Server({
      extraArgs: [...FAST_FLAGS, '--store', store, '--cluster', '--node-id', String(n), '--redis', `redis://127.0.0.1:${redisPort}`],
      dataDir: tmpDataDir(`fault${n}`),
    });
    servers.push(srv);
    await srv.start();
    nodes.push(srv);
  }
  const owner = await register(nodes[0]);
  const { guild, general } = await createGuild(owner.client);
  const inv = expectStatus(await owner.client.post(`/channels/${general.id}/invites`, {}), [200, 201], 'invite');
  const users = [];
  for (let i = 0; i < 3 * perNode + 3 + onLast; i++) {
    const u = await register(nodes[i % 3]);
    expectStatus(await nodes[i % 3].client(u.token).post(`/invites/${inv.code}`, {}), [200, 201, 204], 'join');
    users.push(u);
  }
  const receivers = [];
  for (let i = 0; i < 3 * perNode; i++) {
    const node = i % 3;
    const gw = await GatewayClient.open(nodes[node].port, users[i].token, { intents: INTENTS_ALL }, { label: `r${i}@n${node + 1}` });
    gw.node = node;
    gw.token = users[i].token;
    clients.push(gw);
    receivers.push(gw);
  }
  // More sessions on the last node (the one the kill and drain tests stop).
  for (let i = 0; i < onLast; i++) {
    const u = users[3 * perNode + 3 + i];
    const gw = await GatewayClient.open(nodes[2].port, u.token, { intents: INTENTS_ALL }, { label: `x${i}@n3` });
    gw.node = 2;
    gw.token = u.token;
    clients.push(gw);
    receivers.push(gw);
  }
  const posters = users.slice(3 * perNode, 3 * perNode + 3).map((u, k) => ({ user: u, node: k }));
  return { nodes, owner, guild, general, receivers, posters };
}

/** Posts in a loop from each poster to its node until stop() is called. */
function load(c) {
  const acked = [];
  const failed = { http: 0, network: 0 };
  let running = true;
  const loops = c.posters.map(async (p, k) => {
    let i = 0;
    while (running) {
      const srv = c.nodes[p.node];
      try {
        const res = await request(srv, 'POST', `/channels/${c.general.id}/messages`, {
          token: p.user.token, body: { content: `p${k} ${i++}` }, timeoutMs: 15_000,
        });
        if (res.status === 200 || res.status === 201) acked.push(res.json.id);
        else failed.http++;
      } catch {
        failed.network++;
        await sleep(50);
      }
    }
  });
  return {
    acked,
    failed,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** Counts per receiver; asserts the invariants for the `steady` ones. */
async function verify(c, acked, steady, what) {
  const ackedSet = new Set(acked);
  // Everything acknowledged arrives at every steady session.
  const deadline = Date.now() + 30_000;
  const delivered = (gw) => gw.dispatches.filter((p) => p.t === 'MESSAGE_CREATE').map((p) => p.d.id);
  for (const gw of steady) {
    while (Date.now() < deadline && !acked.every((id) => delivered(gw).includes(id))) await sleep(50);
  }
  const report = [];
  let reference = null;
  for (const gw of c.receivers) {
    const got = delivered(gw);
    const unique = new Set(got);
    const lost = acked.filter((id) => !unique.has(id)).length;
    const row = { session: gw.label, steady: steady.includes(gw), acknowledged: acked.length, delivered: got.length, lost, duplicated: got.length - unique.size };
    report.push(row);
    if (!row.steady) continue;
    assert.equal(row.duplicated, 0, `${what}: ${gw.label} got duplicates`);
    assert.equal(row.lost, 0, `${what}: ${gw.label} lost ${lost} acknowledged messages`);
    // One order: every steady session's sequence equals the first one's.
    const seq = got.filter((id) => ackedSet.has(id));
    if (reference === null) {
      reference = seq;
      // Delivery order is id order (history order), whichever node minted them.
      const late = seq.findIndex((id, i) => i > 0 && BigInt(id) <= BigInt(seq[i - 1]));
      assert.equal(late, -1, `${what}: message ${late} of ${gw.label}'s order has a lower id than the one before`);
    } else {
      assert.deepEqual(seq, reference, `${what}: ${gw.label} saw another order`);
    }
    gw.assertClean();
  }
  // History holds every acknowledged message.
  const alive = c.nodes.find((n) => !n.exitInfo);
  const hist = new Set((await fetchAllHistory(alive.client(c.owner.token), c.general.id)).map((m) => m.id));
  const missing = acked.filter((id) => !hist.has(id));
  assert.equal(missing.length, 0, `${what}: ${missing.length} acknowledged messages not in history`);
  console.log(`# ${what}: ${JSON.stringify(report)}`);
  return report;
}

/**
 * Resumes every session of node `gone` on the other nodes (alternately), as
 * a client would after losing its connection; each resumed one replaces its
 * receiver by one whose dispatches are the old connection's then the new
 * one's. Returns how many resumed exactly.
 */
async function resumeElsewhere(c, gone) {
  const others = c.nodes.filter((_, i) => i !== gone);
  const moved = c.receivers.filter((gw) => gw.node === gone);
  let exact = 0;
  await Promise.all(moved.map(async (gw, k) => {
    const to = others[k % others.length];
    const next = await GatewayClient.connect(to.port, { label: `${gw.label}->${to.port}` });
    clients.push(next);
    const seq = gw.seq;
    const r = await next.resume(gw.token, gw.sessionId, seq);
    if (!r.ok) return;
    r.replayed.forEach((p, i) => assert.equal(p.s, seq + 1 + i, `${gw.label}: replay numbering`));
    exact++;
    const merged = {
      label: `${gw.label} (resumed)`,
      node: -1,
      get dispatches() { return [...gw.dispatches, ...next.dispatches]; },
      assertClean: () => next.assertClean(),
    };
    c.receivers[c.receivers.indexOf(gw)] = merged;
  }));
  return { exact, of: moved.length };
}

test('fault: kill -9 of a node under load, its sessions resume on the others', { skip, timeout: 240_000 }, async () => {
  const { url: store } = newTestDatabase('fault_kill');
  const redis = await startRedis();
  const c = await community(store, redis.port, 2, 20);
  const l = load(c);
  await sleep(1500);
  await c.nodes[2].kill9();
  const moved = await resumeElsewhere(c, 2);
  await sleep(1500);
  await l.stop();
  console.log(`# kill -9: acknowledged ${l.acked.length}, failed ${JSON.stringify(l.failed)}; ` +
    `sessions of the killed node resumed exactly elsewhere: ${moved.exact}/${moved.of}`);
  assert.ok(l.acked.length > 50, `load ran: ${l.acked.length}`);
  assert.ok(moved.exact >= Math.ceil(0.99 * moved.of), `at least 99% resume exactly: ${moved.exact}/${moved.of}`);
  const steady = c.receivers.filter((gw) => gw.node !== 2);
  const report = await verify(c, l.acked, steady, 'kill -9 of node 3');
  for (const r of report.filter((x) => !x.steady)) assert.equal(r.duplicated, 0, `${r.session}: duplicates`);
});

test('fault: a node drained (SIGTERM, op 7) under load, its sessions resume on the others', { skip, timeout: 240_000 }, async () => {
  const { url: store } = newTestDatabase('fault_drain');
  const redis = await startRedis();
  const c = await community(store, redis.port, 2, 20);
  const l = load(c);
  await sleep(1500);
  // Posters of the drained node move to the others, as behind nginx.
  const stopping = c.nodes[2].stop();
  c.posters[2].node = 0;
  await stopping;
  const moved = await resumeElsewhere(c, 2);
  await sleep(1500);
  await l.stop();
  console.log(`# drain: acknowledged ${l.acked.length}, failed ${JSON.stringify(l.failed)}; ` +
    `sessions of the drained node resumed exactly elsewhere: ${moved.exact}/${moved.of}`);
  assert.equal(moved.exact, moved.of, 'every session of a drained node resumes exactly');
  const steady = c.receivers.filter((gw) => gw.node !== 2);
  await verify(c, l.acked, steady, 'node 3 drained');
});

test('fault: a node frozen with SIGSTOP for 10 s under load', { skip, timeout: 240_000 }, async () => {
  const { url: store } = newTestDatabase('fault_stop');
  const redis = await startRedis();
  const c = await community(store, redis.port);
  const l = load(c);
  await sleep(1000);
  process.kill(c.nodes[1].proc.pid, 'SIGSTOP');
  await sleep(10_000);
  process.kill(c.nodes[1].proc.pid, 'SIGCONT');
  await sleep(2000);
  await l.stop();
  console.log(`# SIGSTOP: acknowledged ${l.acked.length}, failed ${JSON.stringify(l.failed)}`);
  // The frozen node's sessions stay connected (heartbeats are 41 s apart)
  // and get everything, late, in order.
  await verify(c, l.acked, c.receivers, 'node 2 frozen 10 s');
});

test('fault: Redis killed and restarted under load', { skip, timeout: 240_000 }, async () => {
  const { url: store } = newTestDatabase('fault_redis');
  const redis = await startRedis();
  const c = await community(store, redis.port);
  const l = load(c);
  await sleep(1000);
  redis.proc.kill('SIGKILL');
  await sleep(3000);
  await startRedis(redis.port);
  await sleep(3000);
  await l.stop();
  console.log(`# Redis kill: acknowledged ${l.acked.length}, failed ${JSON.stringify(l.failed)}`);
  await verify(c, l.acked, c.receivers, 'Redis killed and back');
});

test('fault: PostgreSQL restarted under load', { skip, timeout: 240_000 }, async () => {
  // A PostgreSQL of its own: stopping it disturbs no other test.
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-clfault-'));
  fs.chmodSync(parent, 0o755);
  pgDir = path.join(parent, 'pg');
  const out = execFileSync('scripts/pg-cluster.sh', ['start', pgDir], { encoding: 'utf8' });
  const admin = /^PARLEY_TEST_PG=(.*)$/m.exec(out)[1].replace(/^'|'$/g, '');
  const { url: store } = newTestDatabase('fault_pg', admin);
  const redis = await startRedis();
  const c = await community(store, redis.port);
  const l = load(c);
  await sleep(1000);
  execFileSync('scripts/pg-cluster.sh', ['pause', pgDir, 'primary'], { stdio: 'ignore' });
  await sleep(3000);
  execFileSync('scripts/pg-cluster.sh', ['resume', pgDir, 'primary'], { stdio: 'ignore' });
  await sleep(4000);
  await l.stop();
  console.log(`# PostgreSQL restart: acknowledged ${l.acked.length}, failed ${JSON.stringify(l.failed)}`);
  assert.ok(l.failed.http > 0, 'writes failed (503) while PostgreSQL was down');
  await verify(c, l.acked, c.receivers, 'PostgreSQL restarted');
});

test('fault: a node added under load', { skip, timeout: 240_000 }, async () => {
  const { url: store } = newTestDatabase('fault_add');
  const redis = await startRedis();
  const c = await community(store, redis.port);
  const l = load(c);
  await sleep(1000);
  const added = new Server({
    extraArgs: [...FAST_FLAGS, '--store', store, '--cluster', '--node-id', '4', '--redis', `redis://127.0.0.1:${redis.port}`],
    dataDir: tmpDataDir('fault4'),
  });
  servers.push(added);
  await added.start();
  const fresh = await register(added);
  const inv = expectStatus(await c.owner.client.post(`/channels/${c.general.id}/invites`, {}), [200, 201], 'invite');
  expectStatus(await added.client(fresh.token).post(`/invites/${inv.code}`, {}), [200, 201, 204], 'join on the new node');
  const gw = await GatewayClient.open(added.port, fresh.token, { intents: INTENTS_ALL }, { label: 'new@n4' });
  clients.push(gw);
  // Posts through the new node too.
  c.nodes.push(added);
  c.posters.push({ user: fresh, node: 3 });
  await sleep(2000);
  await l.stop();
  await verify(c, l.acked, c.receivers, 'node 4 added');
  // The new node's session: from its first message on, exactly the others' order.
  const ref = c.receivers[0].dispatches.filter((p) => p.t === 'MESSAGE_CREATE').map((p) => p.d.id);
  const got = gw.dispatches.filter((p) => p.t === 'MESSAGE_CREATE').map((p) => p.d.id);
  assert.ok(got.length > 0, 'the new node delivered messages');
  const start = ref.indexOf(got[0]);
  assert.ok(start >= 0, 'its first message is in the others\' order');
  assert.deepEqual(got, ref.slice(start), 'no gap, no duplicate, same order, up to the end');
  console.log(`# node added: its session got ${got.length} of ${ref.length} (from position ${start} of the others' order)`);
  gw.assertClean();
});
