// Gateway sharding (docs/gateway.md): a session with shard [i, n] gets the
// guilds with (guild_id >> 22) % n == i, in READY and GUILD_CREATE, every
// guild on exactly one shard, and only those guilds' events.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, register, createGuild, postMessage } from './lib/server.mjs';
import { GatewayClient, destroyAll, shardOf } from './lib/gateway.mjs';

const TEST_MS = 240_000;
let srv;
let A; // owns the guilds
const guilds = []; // {guild, general}
const clients = [];

before(async () => {
  srv = await startServer();
  A = await register(srv);
  // at least 12 guilds, and enough that every shard of n = 2 and n = 3 has two
  const enough = () => [2, 3].every((n) => Array.from({ length: n }, (_, i) => guilds.filter((g) => shardOf(g.guild.id, n) === i).length).every((c) => c >= 2));
  while (guilds.length < 12 || (!enough() && guilds.length < 40)) guilds.push(await createGuild(A.client));
});
after(async () => {
  destroyAll(clients);
  if (srv) await srv.stopAndAssertClean();
});

async function shardSessions(n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const gw = await GatewayClient.connect(srv.port, { label: `shard [${i}, ${n}]` });
    clients.push(gw);
    await gw.identify(A.token, { shard: [i, n] });
    out.push(gw);
  }
  return out;
}
const byId = (a, b) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0);

for (const n of [1, 2, 3]) {
  test(`shard [i, ${n}]: READY and GUILD_CREATE hold exactly the guilds with (id >> 22) % ${n} == i; each guild once`, { timeout: TEST_MS }, async () => {
    const ss = await shardSessions(n);
    const everyGuild = [];
    ss.forEach((gw, i) => {
      const want = guilds.map((g) => g.guild.id).filter((id) => shardOf(id, n) === i).sort(byId);
      assert.deepEqual(gw.ready.shard, [i, n], 'READY.shard');
      assert.deepEqual(gw.ready.guilds.map((g) => g.id).sort(byId), want, `READY.guilds of shard [${i}, ${n}]`);
      const gcs = gw.dispatches.filter((p) => p.t === 'GUILD_CREATE').map((p) => p.d.id);
      assert.deepEqual(gcs, want, `GUILD_CREATEs of shard [${i}, ${n}] (ascending id, no others)`);
      everyGuild.push(...gcs);
      gw.assertClean();
    });
    assert.equal(everyGuild.length, guilds.length, 'every guild exactly once across the shards');
    assert.deepEqual([...everyGuild].sort(byId), guilds.map((g) => g.guild.id).sort(byId));
  });
}

test('events of a guild reach only the session of its shard (n = 2 and n = 3 at once)', { timeout: TEST_MS }, async () => {
  const two = await shardSessions(2);
  const three = await shardSessions(3);
  const posted = new Map(); // guild id → message id
  for (const g of guilds) posted.set(g.guild.id, (await postMessage(A.client, g.general.id, `to ${g.guild.id}`)).id);
  // a last message in one guild per shard: sessions get events in commit order,
  // so once a session has its sentinel, every earlier message has reached it
  const sentinels = new Map();
  for (const [n, ss] of [[2, two], [3, three]]) {
    for (let i = 0; i < n; i++) {
      const g = guilds.find((x) => shardOf(x.guild.id, n) === i);
      const m = await postMessage(A.client, g.general.id, `sentinel ${i}/${n}`);
      sentinels.set(ss[i], m.id);
    }
  }
  for (const [n, ss] of [[2, two], [3, three]]) {
    for (let i = 0; i < n; i++) {
      const gw = ss[i];
      await gw.nextDispatch('MESSAGE_CREATE', (d) => d.id === sentinels.get(gw));
      const gotGuilds = gw.received('MESSAGE_CREATE', (d) => !d.content.startsWith('sentinel')).map((p) => p.d.guild_id);
      const want = guilds.map((g) => g.guild.id).filter((id) => shardOf(id, n) === i);
      assert.deepEqual(gotGuilds, want, `messages on shard [${i}, ${n}]: exactly its guilds, in posting order`);
      for (const p of gw.received('MESSAGE_CREATE')) {
        assert.equal(shardOf(p.d.guild_id, n), i, `a message of guild ${p.d.guild_id} reached shard [${i}, ${n}]`);
        if (!p.d.content.startsWith('sentinel')) assert.equal(p.d.id, posted.get(p.d.guild_id));
      }
      gw.assertClean();
    }
  }
});

test('a guild created while sharded sessions are open reaches only its shard', { timeout: TEST_MS }, async () => {
  const ss = await shardSessions(3);
  const g = await createGuild(A.client);
  guilds.push(g);
  const i = shardOf(g.guild.id, 3);
  await ss[i].nextDispatch('GUILD_CREATE', (d) => d.id === g.guild.id);
  // a sentinel on each other shard
  for (let k = 0; k < 3; k++) {
    if (k === i) continue;
    const other = guilds.find((x) => shardOf(x.guild.id, 3) === k);
    const m = await postMessage(A.client, other.general.id, `sentinel new ${k}`);
    await ss[k].nextDispatch('MESSAGE_CREATE', (d) => d.id === m.id);
    assert.equal(ss[k].received('GUILD_CREATE', (d) => d.id === g.guild.id).length, 0, `GUILD_CREATE leaked to shard [${k}, 3]`);
  }
});
