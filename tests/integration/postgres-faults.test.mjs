// PostgreSQL faults under load (PostgreSQL pass only): the database server
// is stopped and started again while 8 clients post. Every post is either a
// 2xx whose message is in the history afterwards, or a clear 503 with
// Discord's error body that came back at once (nothing hangs, no 500); the
// server recovers by itself once PostgreSQL is back. (kill -9 of Parley
// under load on PostgreSQL is durability.test.mjs, which runs in this pass
// too.) The test starts a PostgreSQL cluster of its own with
// scripts/pg-cluster.sh, so that stopping it disturbs no other test.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  Server, FAST_FLAGS, TEST_STORE, register, createGuild, fetchAllHistory, sleep,
} from './lib/server.mjs';

const skip = TEST_STORE !== 'postgres' ? 'runs in the PostgreSQL pass only' : false;
const SCRIPT = path.resolve('scripts/pg-cluster.sh');
let clusterDir = null;
const servers = [];

after(async () => {
  for (const s of servers) if (s.proc && !s.exitInfo) await s.stop();
  if (clusterDir) {
    try {
      execFileSync(SCRIPT, ['stop', clusterDir], { stdio: 'ignore' });
    } catch {
      // best effort
    }
  }
});

function startCluster() {
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-pgfault-'));
  fs.chmodSync(parent, 0o755);
  clusterDir = path.join(parent, 'pg');
  const out = execFileSync(SCRIPT, ['start', clusterDir], { encoding: 'utf8' });
  const env = {};
  for (const line of out.split('\n')) {
    const m = /^(\w+)=(.*)$/.exec(line.trim());
    if (m) env[m[1]] = m[2].replace(/^'|'$/g, '');
  }
  assert.ok(env.PARLEY_TEST_PG, `pg-cluster.sh printed no PARLEY_TEST_PG: ${out}`);
  return env;
}
let cluster = null;
const clusterEnv = () => (cluster ??= startCluster());
const withDb = (u, db) => {
  const x = new URL(u);
  x.pathname = '/' + db;
  return x.toString();
};
async function metric(srv, name) {
  const text = await (await fetch(`${srv.origin}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name + ' ') || line.startsWith(name + '{')) sum += Number(line.split(' ').pop());
  return sum;
}

const pgCtl = (what, primary = 'primary') => execFileSync(SCRIPT, [what, clusterDir, primary], { stdio: 'pipe' });

test('PostgreSQL stopped and restarted under a posting load: no acknowledged message lost, no hang, recovery by itself', { skip, timeout: 240_000 }, async (t) => {
  const url = withDb(clusterEnv().PARLEY_TEST_PG, 'postgres');
  const srv = new Server({ extraArgs: [...FAST_FLAGS, '--store', url] });
  servers.push(srv);
  await srv.start();
  const owner = await register(srv);
  const { general } = await createGuild(owner.client);

  const acked = new Map();
  const outcomes = {};
  let slowest = 0;
  let stop = false;
  let phase = 'before';
  const byPhase = { before: 0, down: 0, after: 0 };
  const bodies = [];
  async function worker(w) {
    for (let seq = 0; !stop; seq++) {
      const content = `w${w}-${seq}`;
      const t0 = Date.now();
      let status;
      let body;
      try {
        const res = await fetch(`${srv.base}/channels/${general.id}/messages`, {
          method: 'POST',
          headers: { Authorization: owner.token, 'Content-Type': 'application/json' },
          body: JSON.stringify({ content }),
          signal: AbortSignal.timeout(15_000),
        });
        status = res.status;
        body = await res.text();
      } catch (e) {
        status = `error ${e.name}`;
      }
      slowest = Math.max(slowest, Date.now() - t0);
      outcomes[status] = (outcomes[status] || 0) + 1;
      if (status === 200) {
        const m = JSON.parse(body);
        acked.set(m.id, content);
        byPhase[phase]++;
      } else if (status === 503) {
        bodies.push(body);
        await sleep(20); // as a client backing off would
      }
    }
  }
  const workers = Array.from({ length: 8 }, (_, i) => worker(i));
  await sleep(1500);
  pgCtl('pause');
  phase = 'down';
  await sleep(2500);
  pgCtl('resume');
  phase = 'after';
  // Recovered by itself: 2xx again within a few seconds of the restart.
  const deadline = Date.now() + 20_000;
  while (byPhase.after < 50 && Date.now() < deadline) await sleep(100);
  await sleep(500);
  stop = true;
  await Promise.all(workers);

  const summary = JSON.stringify({ outcomes, byPhase, slowest });
  t.diagnostic(summary);
  assert.ok(byPhase.before > 0, summary);
  assert.ok(byPhase.after >= 50, `no recovery after the restart: ${summary}`);
  assert.ok(outcomes[503] > 0, `PostgreSQL was down but nothing failed: ${summary}`);
  for (const k of Object.keys(outcomes)) assert.ok(k === '200' || k === '503', `unexpected outcome ${k}: ${summary}`);
  for (const b of bodies.slice(0, 20)) {
    const e = JSON.parse(b);
    assert.equal(typeof e.message, 'string', b);
    assert.equal(typeof e.code, 'number', b);
  }
  assert.ok(slowest < 10_000, `a request hung for ${slowest} ms: ${summary}`);

  // Every acknowledged post is there, once.
  const history = await fetchAllHistory(owner.client, general.id);
  const seen = new Map(history.map((m) => [m.id, m.content]));
  assert.equal(seen.size, history.length, 'duplicate ids in history');
  const missing = [...acked.keys()].filter((id) => seen.get(id) !== acked.get(id));
  assert.deepEqual(missing, [], `acknowledged but missing: ${missing.length} of ${acked.size}; ${summary}`);
  await srv.stopAndAssertClean();
});

test('history from a read replica: a poster always sees their own message; the replica stopped costs no failed read', { skip, timeout: 240_000 }, async () => {
  const env = clusterEnv();
  const srv = new Server({
    extraArgs: [...FAST_FLAGS, '--store', withDb(env.PARLEY_TEST_PG, 'postgres'),
      '--store-replica', withDb(env.PARLEY_TEST_PG_REPLICA, 'postgres')],
  });
  servers.push(srv);
  await srv.start();
  const owner = await register(srv);
  const { general } = await createGuild(owner.client);
  await sleep(300); // the schema and the guild reach the replica
  async function postAndRead(i) {
    const m = await owner.client.post(`/channels/${general.id}/messages`, { content: `r${i}` });
    assert.equal(m.status, 200, m.text);
    const page = await owner.client.get(`/channels/${general.id}/messages?limit=5`);
    assert.equal(page.status, 200, page.text);
    assert.equal(page.json[0].id, m.json.id, 'a poster reads their own write');
  }
  // Right after a write the replica is usually a few ms behind (the page
  // then comes from the primary); after a pause it has caught up. (After
  // the previous test restarted the primary, the replica may need a few
  // seconds to stream again.)
  const deadline = Date.now() + 30_000;
  let i = 0;
  while ((await metric(srv, 'parley_store_replica_reads_total')) === 0) {
    assert.ok(Date.now() < deadline, 'the replica answered no read in 30 s');
    await postAndRead(i++);
    await sleep(200);
    const page = await owner.client.get(`/channels/${general.id}/messages?limit=5`);
    assert.equal(page.status, 200, page.text);
  }
  for (let k = 0; k < 20; k++) await postAndRead(i++);
  pgCtl('pause', 'replica');
  try {
    for (let k = 0; k < 20; k++) await postAndRead(i++);
    const down = await metric(srv, 'parley_store_replica_fallbacks_total{reason="down"}');
    assert.ok(down > 0, 'no fallback counted while the replica was down');
  } finally {
    pgCtl('resume', 'replica');
  }
  await srv.stopAndAssertClean();
});
