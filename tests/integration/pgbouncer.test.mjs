// Parley on PostgreSQL through a real pgbouncer in transaction mode
// (scripts/pg-cluster.sh starts one in front of the test primary, with 3
// server connections per database: fewer than the server's writer and
// readers, so consecutive transactions of one client land on different
// server sessions, and any session state Parley relied on would break).
// Drives the server over HTTP: concurrent posts, edits, deletes and history
// reads, then a restart through the pooler, and checks that every
// acknowledged write is there.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  Server, FAST_FLAGS, TEST_STORE, register, createGuild, createChannel, postMessage,
  fetchAllHistory, expectStatus, tmpDataDir, newTestDatabase,
} from './lib/server.mjs';

const BOUNCER = process.env.PARLEY_TEST_PGBOUNCER || '';
const PG = process.env.PARLEY_TEST_PG || '';
const skip = BOUNCER
  ? TEST_STORE !== 'sqlite'
    ? 'runs once, in the SQLite pass of the suite'
    : false
  : process.env.PARLEY_REQUIRE_PG === '1'
    ? false // run and fail loudly below
    : 'PARLEY_TEST_PGBOUNCER is not set (scripts/pg-cluster.sh start DIR sets it)';

const servers = [];
after(async () => {
  for (const s of servers) if (s.proc && !s.exitInfo) await s.stop();
});

test('the server works through pgbouncer in transaction mode: nothing acknowledged is lost', { skip }, async () => {
  assert.ok(BOUNCER, 'PARLEY_REQUIRE_PG=1 but PARLEY_TEST_PGBOUNCER is not set');
  // Created through the pooler too, as a user behind one would.
  const { name: dbName, url: store } = newTestDatabase('pgb', BOUNCER);
  const data = tmpDataDir('pgbouncer');
  const args = [...FAST_FLAGS, '--store', store, '--store-readers', '4'];
  let srv = new Server({ extraArgs: args, dataDir: data });
  servers.push(srv);
  await srv.start();

  const owner = await register(srv);
  const { guild, general } = await createGuild(owner.client);
  const second = await createChannel(owner.client, guild.id);
  const channels = [general.id, second.id];

  // Posts from 24 concurrent writers while 8 readers page history: the
  // writer's transactions and the readers' interleave on 3 server sessions.
  const acked = new Map(); // id -> {channel, content}
  const failures = [];
  let stopReads = false;
  const reader = async () => {
    let pages = 0;
    while (!stopReads) {
      const ch = channels[pages % 2];
      const res = await owner.client.get(`/channels/${ch}/messages?limit=50`);
      if (res.status !== 200) failures.push(`history ${res.status}: ${res.text}`);
      pages++;
    }
    return pages;
  };
  const writer = async (w) => {
    for (let i = 0; i < 25; i++) {
      const ch = channels[(w + i) % 2];
      const content = `w${w} m${i}`;
      const res = await owner.client.post(`/channels/${ch}/messages`, { content });
      if (res.status === 200) acked.set(res.json.id, { ch, content });
      else failures.push(`post ${res.status}: ${res.text}`);
    }
  };
  const readers = Array.from({ length: 8 }, reader);
  await Promise.all(Array.from({ length: 24 }, (_, w) => writer(w)));
  stopReads = true;
  const pages = (await Promise.all(readers)).reduce((a, b) => a + b, 0);
  assert.deepEqual(failures.slice(0, 5), [], `requests failed through pgbouncer\n${srv.tail()}`);
  assert.equal(acked.size, 24 * 25);
  assert.ok(pages > 0, 'no history page was read');

  // Read-modify-writes (CommitBuilt) and deletes through the pooler.
  const ids = [...acked.keys()];
  const edited = ids[0];
  const deleted = ids[1];
  expectStatus(await owner.client.patch(`/channels/${acked.get(edited).ch}/messages/${edited}`, { content: 'edited' }), 200, 'edit');
  expectStatus(await owner.client.del(`/channels/${acked.get(deleted).ch}/messages/${deleted}`), 204, 'delete');
  const renamed = expectStatus(await owner.client.patch(`/guilds/${guild.id}`, { name: 'renamed behind pgbouncer' }), 200, 'rename guild');
  assert.equal(renamed.name, 'renamed behind pgbouncer');

  // The pooler held every server session Parley used: no more than its pool.
  const serverSessions = Number(execFileSync('psql', [PG, '-qAtc',
    `SELECT count(*) FROM pg_stat_activity WHERE datname = '${dbName}'`]).toString().trim());
  assert.ok(serverSessions <= 3, `pgbouncer's pool is 3 server sessions, saw ${serverSessions}`);

  // Restart through the pooler: the store loads, the token still works,
  // every acknowledged message is in history, with the edit and the delete.
  await srv.stopAndAssertClean();
  srv = new Server({ extraArgs: args, dataDir: data });
  servers.push(srv);
  await srv.start();
  const client = srv.client(owner.token);
  const g = expectStatus(await client.get(`/guilds/${guild.id}`), 200, 'guild after restart');
  assert.equal(g.name, 'renamed behind pgbouncer');
  const stored = new Map();
  for (const ch of channels) for (const m of await fetchAllHistory(client, ch)) stored.set(m.id, m);
  for (const [id, want] of acked) {
    if (id === deleted) {
      assert.ok(!stored.has(id), 'the deleted message came back');
      continue;
    }
    const m = stored.get(id);
    assert.ok(m, `acknowledged message ${id} (${want.content}) is missing after restart`);
    assert.equal(m.channel_id, want.ch);
    assert.equal(m.content, id === edited ? 'edited' : want.content);
  }
  assert.equal(stored.size, acked.size - 1);
  await postMessage(client, general.id, 'after restart');
});
