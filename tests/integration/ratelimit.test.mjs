// Rate limits (issue §6): per-route buckets with Discord's headers, 429 with
// Retry-After and {message, retry_after, global}, and the global per-token
// limit. Timing assertions have wide margins (ASan builds are slow).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  Server, register, createGuild, createChannel, inviteAndJoin, request, expectStatus, expectError, sleep,
} from './lib/server.mjs';

const servers = [];
after(async () => {
  for (const s of servers) await s.stopAndAssertClean();
});

async function start(extraArgs) {
  const s = new Server({ extraArgs });
  servers.push(s);
  await s.start();
  return s;
}

function num(h, name) {
  const v = h.get(name);
  assert.ok(v !== null, `missing header ${name}`);
  const n = Number(v);
  assert.ok(Number.isFinite(n), `${name} is not a number: ${v}`);
  return n;
}

function assert429(res, { global }) {
  assert.equal(res.status, 429, `expected 429: ${res.status} ${res.text}`);
  assert.match(res.contentType, /^application\/json\b/i, '429 is JSON');
  const body = res.json;
  assert.equal(typeof body?.message, 'string', `429 body.message: ${res.text}`);
  assert.equal(typeof body.retry_after, 'number', `429 body.retry_after must be a number: ${res.text}`);
  assert.ok(body.retry_after > 0 && body.retry_after <= 60, `retry_after ${body.retry_after}`);
  assert.equal(typeof body.global, 'boolean', `429 body.global must be a boolean: ${res.text}`);
  assert.equal(body.global, global, `429 body.global: ${res.text}`);
  const ra = num(res.headers, 'retry-after');
  assert.ok(ra > 0 && ra <= 60, `Retry-After header ${ra}`);
  assert.ok(Math.abs(ra - body.retry_after) <= 1.01, `Retry-After header ${ra} vs body ${body.retry_after}`);
  if (global) {
    assert.equal(res.headers.get('x-ratelimit-global'), 'true', 'X-RateLimit-Global: true on a global 429');
  } else {
    const g = res.headers.get('x-ratelimit-global');
    assert.ok(g === null || g === 'false', `X-RateLimit-Global on a route 429: ${g}`);
  }
  return body;
}

test('per-route limit on message create: headers, 429 after the bucket is spent, recovery', { timeout: 120_000 }, async () => {
  // default limits (Discord's: 5 messages per 5 s per channel), fast password hashing
  const srv = await start(['--password-cost', 'min']);
  const a = await register(srv);
  const { guild, general } = await createGuild(a.client);
  const other = await createChannel(a.client, guild.id);
  const url = `/channels/${general.id}/messages`;

  const results = [];
  for (let i = 0; i < 12; i++) {
    const r = await a.client.post(url, { content: `rl-${i}` });
    results.push(r);
    if (r.status === 429) break;
  }
  const first = results[0];
  expectStatus(first, [200, 201], 'first post');
  const limit = num(first.headers, 'x-ratelimit-limit');
  const remaining0 = num(first.headers, 'x-ratelimit-remaining');
  const reset = num(first.headers, 'x-ratelimit-reset');
  const resetAfter = num(first.headers, 'x-ratelimit-reset-after');
  const bucket = first.headers.get('x-ratelimit-bucket');
  assert.ok(limit >= 1 && limit <= 10, `X-RateLimit-Limit for message create ${limit} (Discord: 5)`);
  assert.equal(remaining0, limit - 1, 'remaining after the first request');
  const nowS = Date.now() / 1000;
  assert.ok(reset > nowS - 5 && reset < nowS + 120, `X-RateLimit-Reset is epoch seconds: ${reset}`);
  assert.ok(resetAfter > 0 && resetAfter <= 60, `X-RateLimit-Reset-After seconds: ${resetAfter}`);
  assert.ok(bucket && bucket.length > 0, 'X-RateLimit-Bucket present');

  const ok = results.filter((r) => r.status === 200 || r.status === 201);
  const last = results.at(-1);
  assert.equal(last.status, 429, `no 429 after ${results.length} quick posts (limit ${limit}); statuses ${results.map((r) => r.status)}`);
  assert.ok(ok.length >= limit - 1 && ok.length <= limit, `${ok.length} posts succeeded before the 429 with limit ${limit}`);
  // remaining counted down to 0 and the bucket is stable
  for (let i = 1; i < ok.length; i++) {
    assert.ok(num(ok[i].headers, 'x-ratelimit-remaining') < num(ok[i - 1].headers, 'x-ratelimit-remaining'), 'remaining decreases');
    assert.equal(ok[i].headers.get('x-ratelimit-bucket'), bucket, 'same bucket for the same route');
  }
  assert.equal(num(ok.at(-1).headers, 'x-ratelimit-remaining'), 0, 'remaining reaches 0');
  const body = assert429(last, { global: false });
  const scope = last.headers.get('x-ratelimit-scope');
  if (scope !== null) assert.ok(['user', 'shared'].includes(scope), `X-RateLimit-Scope ${scope}`);

  // the rejected message was not stored
  const hist = expectStatus(await a.client.get(`${url}?limit=100`), 200);
  assert.equal(hist.length, ok.length, 'a 429 does not store the message');

  // the bucket is per channel: another channel is not limited
  const o = await a.client.post(`/channels/${other.id}/messages`, { content: 'other channel' });
  expectStatus(o, [200, 201], 'another channel has its own bucket');
  // and per token: another member posting in the same channel is not limited
  const b = await register(srv);
  await inviteAndJoin(a.client, b.client, general.id);
  expectStatus(await b.client.post(url, { content: 'b is not limited' }), [200, 201], 'another token has its own bucket');
  // reads are a different bucket
  expectStatus(await a.client.get(url), 200, 'GET is not limited by the POST bucket');

  // after Retry-After the bucket has room again
  await sleep(body.retry_after * 1000 + 750);
  expectStatus(await a.client.post(url, { content: 'after waiting' }), [200, 201], 'after waiting retry_after');
});

test('global limit per token: --ratelimit-global 5 → 429 with global:true and X-RateLimit-Global', { timeout: 120_000 }, async () => {
  const srv = await start(['--password-cost', 'min', '--ratelimit-global', '5']);
  const a = await register(srv);
  const b = await register(srv);
  await sleep(1200); // let the first second's budget refill
  const reqs = Array.from({ length: 20 }, () => request(srv, 'GET', '/users/@me', { token: a.token }));
  const res = await Promise.all(reqs);
  const statuses = res.map((r) => r.status);
  const oks = statuses.filter((s) => s === 200).length;
  const limited = res.filter((r) => r.status === 429);
  assert.ok(limited.length >= 1, `no 429 among 20 quick requests with a global limit of 5/s: ${statuses}`);
  assert.ok(oks >= 1, `no request succeeded: ${statuses}`);
  assert.ok(oks <= 12, `${oks} of 20 succeeded with a global limit of 5/s`);
  assert.ok(statuses.every((s) => s === 200 || s === 429), `unexpected statuses ${statuses}`);
  for (const r of limited) assert429(r, { global: true });
  const scope = limited[0].headers.get('x-ratelimit-scope');
  if (scope !== null) assert.equal(scope, 'global');

  // the global limit is per token: another user is unaffected
  expectStatus(await request(srv, 'GET', '/users/@me', { token: b.token }), 200, 'other token');

  // after the wait it works again
  await sleep(limited[0].json.retry_after * 1000 + 1100);
  expectStatus(await request(srv, 'GET', '/users/@me', { token: a.token }), 200, 'after global retry_after');
  // unauthenticated 401s are still JSON errors even under load
  expectError(await request(srv, 'GET', '/users/@me', { token: 'nope' }), [401, 429]);
});

test('--ratelimit-scale raises the per-route limits', { timeout: 120_000 }, async () => {
  const srv = await start(['--password-cost', 'min', '--ratelimit-scale', '1000', '--ratelimit-global', '100000']);
  const a = await register(srv);
  const { general } = await createGuild(a.client);
  for (let i = 0; i < 30; i++) {
    const r = await a.client.post(`/channels/${general.id}/messages`, { content: `scaled ${i}` });
    expectStatus(r, [200, 201], `post ${i} with scale 1000`);
  }
  const r = await a.client.post(`/channels/${general.id}/messages`, { content: 'last' });
  const limit = Number(r.headers.get('x-ratelimit-limit'));
  assert.ok(limit >= 1000, `X-RateLimit-Limit with scale 1000: ${limit}`);
});

test('login and register are limited per client address, whatever token is sent (and behind a trusted proxy, per forwarded address)', { timeout: 120_000 }, async () => {
  // Default auth limit: 5 a minute per address (Discord-like), fast hashing.
  const srv = await start(['--password-cost', 'min', '--ratelimit-global', '100000', '--trusted-proxy', '127.0.0.1']);
  // Each registration returns a fresh token; sending it does not reset the limit.
  let token;
  const statuses = [];
  for (let i = 0; i < 6; i++) {
    const res = await request(srv, 'POST', '/auth/register', {
      token,
      headers: { 'X-Forwarded-For': '203.0.113.7' },
      body: { username: `rl${process.pid}x${i}${Math.floor(Math.random() * 1e6)}`, password: 'correct horse battery staple 42' },
    });
    statuses.push(res.status);
    if (res.status === 201) token = res.json.token;
  }
  assert.ok(statuses.includes(429), `register was never limited with a token sent: ${statuses}`);
  const limited = statuses.indexOf(429);
  assert.ok(limited <= 5, `limited after ${limited} registrations: ${statuses}`);
  // Another client address behind the same proxy has its own budget.
  const other = await request(srv, 'POST', '/auth/register', {
    headers: { 'X-Forwarded-For': '198.51.100.9, 203.0.113.8' },
    body: { username: `rl${process.pid}other${Math.floor(Math.random() * 1e6)}`, password: 'correct horse battery staple 42' },
  });
  assert.equal(other.status, 201, `another forwarded address: ${other.status} ${other.text}`);
  // Logins count against the same per-address budget.
  const login = await request(srv, 'POST', '/auth/login', {
    token,
    headers: { 'X-Forwarded-For': '203.0.113.7' },
    body: { login: 'nobody', password: 'wrong' },
  });
  assert.equal(login.status, 429, `login from the limited address: ${login.status} ${login.text}`);
});

test('a channel id written with a leading zero shares its bucket (the key is the parsed id)', { timeout: 120_000 }, async () => {
  const srv = await start(['--password-cost', 'min']);
  const a = await register(srv);
  const { general } = await createGuild(a.client);
  const statuses = [];
  for (let i = 0; i < 5; i++) {
    const r = await a.client.post(`/channels/${general.id}/messages`, { content: `z${i}` });
    statuses.push(r.status);
  }
  const padded = await a.client.post(`/channels/0${general.id}/messages`, { content: 'padded' });
  statuses.push(padded.status);
  assert.equal(padded.status, 429, `the sixth post within the window, id with a leading zero: ${statuses}`);
});

test('tokens that do not authenticate are throttled per client address (--invalid-request-limit)', { timeout: 120_000 }, async () => {
  const srv = await start(['--password-cost', 'min', '--ratelimit-global', '100000', '--invalid-request-limit', '5']);
  const good = await register(srv);
  const statuses = [];
  for (let i = 0; i < 7; i++) {
    const r = await request(srv, 'GET', '/users/@me', { token: `not.a-token.${i}` });
    statuses.push(r.status);
  }
  assert.deepEqual(statuses.slice(0, 5), [401, 401, 401, 401, 401], `statuses ${statuses}`);
  assert.equal(statuses[5], 429, `the sixth invalid token within 10 minutes: ${statuses}`);
  const r = await request(srv, 'GET', '/users/@me', { token: 'still.not-a.token' });
  assert.equal(r.status, 429);
  assert.equal(typeof r.json?.message, 'string', r.text);
  assert.ok(r.json.retry_after > 0 && r.json.retry_after <= 600, `retry_after within the 10-minute window: ${r.text}`);
  assert.equal(r.json.global, false);
  assert.ok(Number(r.headers.get('retry-after')) > 0, 'Retry-After header');
  // A valid token from the same address still works: only invalid requests count.
  expectStatus(await good.client.get('/users/@me'), 200, 'a valid token');
});
