// Limits across nodes (docs/cluster.md, "Limits across nodes"): with Redis,
// a route's rate limit, the global per-token limit, session_start_limit and
// the per-address throttle of invalid tokens count every node's requests; without Redis (or with it down) each node
// counts alone and says so in parley_cluster_limit_fallbacks_total.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  register, createGuild, newTestDatabase, request, sleep,
} from './lib/server.mjs';
import { GatewayClient, INTENTS, createBot } from './lib/gateway.mjs';
import { startRedis, killRedis } from './lib/redis.mjs';
import { clusterSkip, harness, startClusterNode } from './lib/cluster.mjs';

const skip = clusterSkip('sqlite');
const { servers, clients } = harness();

// Real limits (no --ratelimit-scale): POST /channels/{id}/messages is 5 per
// 5 s per channel; a small global limit and identify budget to reach.
const FLAGS = ['--password-cost', 'min', '--ratelimit-global', '12', '--identify-limit', '3', '--invalid-request-limit', '6'];

const node = (store, id, redisPort) =>
  startClusterNode(servers, store, id, ['--redis', `redis://127.0.0.1:${redisPort}`], { flags: FLAGS, tag: 'limits' });

const fallbacks = async (srv) => {
  const res = await request(srv, 'GET', '/metrics', { prefix: '' });
  return Number(/parley_cluster_limit_fallbacks_total (\d+)/.exec(res.text)?.[1] ?? 0);
};

test('rate limits and session_start_limit hold across nodes', { skip, timeout: 120_000 }, async () => {
  const { url: store } = newTestDatabase('limits');
  const redis = await startRedis();
  const a = await node(store, 1, redis.port);
  const b = await node(store, 2, redis.port);
  const owner = await register(a);
  const { general } = await createGuild(owner.client);
  const onB = b.client(owner.token);

  // A route's bucket: 5 posts per 5 s in a channel, whichever node takes them.
  const statuses = [];
  for (let i = 0; i < 6; i++) {
    const c = i % 2 ? onB : owner.client;
    const res = await c.post(`/channels/${general.id}/messages`, { content: `m${i}` });
    statuses.push(res.status);
    if (i === 4) assert.equal(res.headers.get('x-ratelimit-remaining'), '0', 'the fifth leaves none');
    if (i === 5) {
      assert.equal(res.json.global, false);
      assert.ok(Number(res.headers.get('retry-after')) > 0, 'Retry-After');
      assert.equal(res.headers.get('x-ratelimit-scope'), 'user');
    }
  }
  assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429], 'the sixth, on B, is refused');

  // The global limit (12 per second per token) across both nodes.
  let global = null;
  for (let i = 0; i < 20 && !global; i++) {
    const res = await (i % 2 ? onB : owner.client).get('/users/@me');
    if (res.status === 429) global = res;
  }
  assert.ok(global, 'the global limit refused within 20 requests over two nodes');
  assert.equal(global.json.global, true);
  assert.equal(global.headers.get('x-ratelimit-global'), 'true');
  await sleep(1100);

  // session_start_limit: 3 identifies per bot per day, on any node.
  const bot = await createBot(a, owner.client);
  const info = async (srv) => (await request(srv, 'GET', '/gateway/bot', { token: bot.token, bot: true })).json.session_start_limit;
  assert.equal((await info(b)).remaining, 3);
  for (const [i, srv] of [a, b, a].entries()) {
    const gw = await GatewayClient.open(srv.port, bot.token, { intents: INTENTS.GUILDS }, { label: `bot${i}` });
    clients.push(gw);
    gw.destroy();
  }
  const left = await info(b);
  assert.equal(left.remaining, 0, 'B sees the identifies made on A');
  assert.equal(left.total, 3);
  assert.ok(left.reset_after > 0 && left.reset_after <= 86_400_000);
  const over = await GatewayClient.connect(b.port, { label: 'bot over' });
  clients.push(over);
  over.send(GatewayClient.identifyPayload(bot.token, { intents: INTENTS.GUILDS }));
  assert.equal((await over.closedWithin(10_000)).code, 4008, 'the fourth identify, on B, is refused');

  // Tokens that do not authenticate, per client address (6 per 10 minutes
  // here), whichever node they reach: the seventh gets 429, also for a
  // node that saw only three.
  const invalid = [];
  for (let i = 0; i < 7; i++)
    invalid.push((await request(i % 2 ? b : a, 'GET', '/users/@me', { token: `not-a-token-${i}` })).status);
  assert.deepEqual(invalid, [401, 401, 401, 401, 401, 401, 429], 'the seventh invalid token, on A, is refused');
  // Login and register: 5 per minute per address, on any node (the owner's
  // registration was the first; four wrong passwords, then the sixth try).
  const logins = [];
  for (let i = 0; i < 5; i++) {
    logins.push((await request(i % 2 ? a : b, 'POST', '/auth/login',
      { body: { login: owner.name, password: `wrong-${i}` } })).status);
  }
  assert.ok(logins.slice(0, 4).every((st) => st !== 429), `four tries allowed: ${logins}`);
  assert.equal(logins[4], 429, `the sixth hit of the address, over both nodes, is refused: ${logins}`);
  assert.equal(await fallbacks(a) + await fallbacks(b), 0, 'every check was shared');

  // Redis down: each node counts alone again (and says so).
  await killRedis(redis.proc);
  await sleep(200);
  const { general: other } = await createGuild(owner.client);
  const down = [];
  for (let i = 0; i < 6; i++) down.push((await onB.post(`/channels/${other.id}/messages`, { content: `d${i}` })).status);
  assert.deepEqual(down, [200, 200, 200, 200, 200, 429], 'per node: B allows its own five');
  assert.ok(await fallbacks(b) >= 6, 'the fallback is counted');
});
