// What the cluster tests share: when they run (they need PostgreSQL; each
// runs in one pass of the suite), the servers and clients they start
// (stopped by an after() hook), starting a node, waiting for a condition.
import { after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, FAST_FLAGS, TEST_STORE, tmpDataDir, sleep } from './server.mjs';
import { destroyAll } from './gateway.mjs';
import { stopAllRedis } from './redis.mjs';

export const PG = process.env.PARLEY_TEST_PG || '';

/**
 * The node:test `skip` value of a cluster test that runs in the `pass`
 * ('sqlite': it makes its own database; 'postgres') of the suite.
 */
export function clusterSkip(pass = 'sqlite') {
  if (!PG) {
    return process.env.PARLEY_REQUIRE_PG === '1' ? false : 'PARLEY_TEST_PG is not set (scripts/pg-cluster.sh start DIR sets it)';
  }
  if (TEST_STORE === pass) return false;
  return pass === 'sqlite'
    ? 'runs once, in the SQLite pass of the suite (it makes its own database)'
    : 'runs once, in the PostgreSQL pass of the suite';
}

/**
 * Arrays of the servers and gateway clients a test file starts, and an
 * after() hook that stops them all (and every redis-server), then `more`.
 */
export function harness(more = async () => {}) {
  const servers = [];
  const clients = [];
  after(async () => {
    destroyAll(clients);
    for (const s of servers) if (s.proc && !s.exitInfo) await s.stop();
    stopAllRedis();
    await more();
  });
  return { servers, clients };
}

/** Starts `parley serve --cluster --node-id N` on `store` (FAST_FLAGS + extra). */
export async function startClusterNode(servers, store, nodeId, extra = [], { flags = FAST_FLAGS, tag = 'cluster' } = {}) {
  const srv = new Server({
    extraArgs: [...flags, '--store', store, '--cluster', '--node-id', String(nodeId), ...extra],
    dataDir: tmpDataDir(`${tag}${nodeId}`),
  });
  servers.push(srv);
  await srv.start();
  return srv;
}

/** Waits until `check` (async, returns a truthy value) holds, or fails. */
export async function eventually(what, check, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await check();
    if (last) return last;
    await sleep(20);
  }
  assert.fail(`${what}: not within ${timeoutMs} ms`);
}
