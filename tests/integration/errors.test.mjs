// Errors, HTTP limits and robustness (issue §6): Discord error bodies, 405,
// 413, 431, invalid JSON, wrong types, non-snowflake ids, garbage bytes,
// truncated requests, pipelining, slow-loris. Nothing a client sends crashes
// or hangs the server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import {
  startServer, FAST_FLAGS, register, createGuild, postMessage, request, rawExchange, statusCodes,
  expectStatus, expectError, expectFieldError, assertAlive, fakeSnowflake, sleep,
} from './lib/server.mjs';

let srv, alice, guild, chan, msg;
before(async () => {
  srv = await startServer({ extraArgs: [...FAST_FLAGS, '--header-timeout-ms', '1000'] });
  alice = await register(srv);
  ({ guild, general: chan } = await createGuild(alice.client));
  msg = await postMessage(alice.client, chan.id, 'anchor');
});
after(async () => {
  if (srv) await srv.stopAndAssertClean();
});

const host = () => `127.0.0.1:${srv.port}`;

test('invalid JSON → 400 50109 with application/json', async () => {
  for (const body of ['{', '{"content": "x",}', 'not json at all', '{"content": "\\x"}', '\u0000\u0001', '[1,2', '"unterminated']) {
    const res = await alice.client.post(`/channels/${chan.id}/messages`, body);
    expectError(res, 400, 50109, `body ${JSON.stringify(body)}`);
  }
  const r2 = await request(srv, 'POST', '/auth/register', { body: '{"username":' });
  expectError(r2, 400, 50109, 'register with invalid JSON');
  await assertAlive(srv, alice.token);
});

test('JSON of the wrong types → 400 50035 with per-field errors', async () => {
  const url = `/channels/${chan.id}/messages`;
  expectFieldError(await alice.client.post(url, { content: 12345 }), 'content', 'content number');
  expectFieldError(await alice.client.post(url, { content: ['a'] }), 'content', 'content array');
  expectFieldError(await alice.client.post(url, { content: { a: 1 } }), 'content', 'content object');
  expectFieldError(await alice.client.post(url, { content: 'ok', tts: 'yes' }), 'tts', 'tts string');
  expectFieldError(await alice.client.post('/guilds', { name: { nested: true } }), 'name', 'guild name object');
  expectFieldError(await alice.client.post('/guilds', { name: null }), 'name', 'guild name null');
  expectFieldError(await alice.client.post(`/guilds/${guild.id}/channels`, { name: 'x', type: 'text' }), 'type', 'channel type string');
  expectFieldError(await alice.client.patch(`/guilds/${guild.id}`, { name: 7 }), 'name', 'PATCH guild name number');
  expectFieldError(await alice.client.post(`/channels/${chan.id}/messages/bulk-delete`, { messages: [{}, []] }), 'messages', 'bulk ids as objects');
  // top-level JSON that is not an object
  for (const body of ['[]', '42', '"str"', 'null', 'true']) {
    const res = await alice.client.post(url, body);
    expectError(res, 400, [50035, 50109, 50006], `top-level ${body}`);
  }
  await assertAlive(srv, alice.token);
});

test('ids that are not snowflakes → 400 or 404, never 5xx', async () => {
  const bad = ['abc', '-1', '0x10', '1e5', '123456789012345678901234567890', '18446744073709551616', '%00', '12%2034', ' 1'];
  for (const id of bad) {
    for (const route of [`/channels/${id}`, `/channels/${id}/messages`, `/guilds/${id}`, `/users/${id}`, `/channels/${chan.id}/messages/${id}`, `/invites/${id}`, `/guilds/${guild.id}/members/${id}`, `/guilds/${guild.id}/roles/${id}`]) {
      const method = route.includes('/roles/') ? 'PATCH' : 'GET';
      const res = await alice.client.req(method, route, method === 'PATCH' ? { body: { name: 'x' } } : {});
      assert.ok([400, 404].includes(res.status), `${method} ${route} → ${res.status} ${res.text}`);
      if (res.text.length) expectError(res, [400, 404]);
    }
  }
  await assertAlive(srv, alice.token);
});

test('unknown route → 404; wrong method → 405', async () => {
  const nf = await alice.client.get('/definitely/not/a/route');
  assert.equal(nf.status, 404, `unknown route: ${nf.status}`);
  if (nf.text.length) expectError(nf, 404);
  for (const [method, route] of [
    ['DELETE', '/auth/register'],
    ['PUT', `/channels/${chan.id}/messages`],
    ['POST', '/users/@me'],
    ['PUT', `/guilds/${guild.id}`],
    ['GET', '/auth/login'],
  ]) {
    const res = await alice.client.req(method, route, method === 'GET' || method === 'DELETE' ? {} : { body: {} });
    assert.equal(res.status, 405, `${method} ${route} → ${res.status} ${res.text}`);
    if (res.text.length) expectError(res, 405);
  }
});

test('every JSON reply carries Content-Type: application/json (success and errors)', async () => {
  const replies = [
    await alice.client.get('/users/@me'),
    await alice.client.get(`/channels/${chan.id}/messages`),
    await alice.client.get(`/guilds/${guild.id}`),
    await alice.client.get(`/guilds/${fakeSnowflake()}`),
    await request(srv, 'GET', '/users/@me'),
    await alice.client.post(`/channels/${chan.id}/messages`, '{'),
    await alice.client.post(`/channels/${chan.id}/messages`, { content: '' }),
  ];
  for (const r of replies) {
    assert.ok(r.text.length > 0, `${r.method} ${r.url} has a body`);
    assert.match(r.contentType, /^application\/json\b/i, `${r.method} ${r.url} → Content-Type "${r.contentType}"`);
    JSON.parse(r.text);
  }
});

/** Split a string into chunks of n bytes (sent with small delays so that an early reply is read before any reset). */
const chunks = (str, n) => {
  const out = [];
  for (let i = 0; i < str.length; i += n) out.push(str.slice(i, i + n));
  return out;
};

test('body over 1 MiB → 413', async () => {
  const big = JSON.stringify({ content: 'x'.repeat(1024 * 1024 + 100) });
  const head =
    `POST /api/v10/channels/${chan.id}/messages HTTP/1.1\r\nHost: ${host()}\r\nAuthorization: ${alice.token}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(big)}\r\n\r\n`;
  const r = await rawExchange(srv.port, [head, ...chunks(big, 64 * 1024)], { timeoutMs: 20_000, delayMs: 10 });
  const codes = statusCodes(r.data);
  assert.equal(codes[0], 413, `expected 413, got ${JSON.stringify(r.data.toString('latin1').slice(0, 300))} (error ${r.error})`);
  // chunked transfer encoding that grows past the limit
  const chunkedHead =
    `POST /api/v10/channels/${chan.id}/messages HTTP/1.1\r\nHost: ${host()}\r\nAuthorization: ${alice.token}\r\n` +
    `Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`;
  const piece = 'y'.repeat(64 * 1024);
  const body = ['{"content":"'.length.toString(16) + '\r\n{"content":"\r\n'];
  for (let i = 0; i < 20; i++) body.push(`${piece.length.toString(16)}\r\n${piece}\r\n`);
  const rc = await rawExchange(srv.port, [chunkedHead, ...body], { timeoutMs: 20_000, delayMs: 10 });
  assert.equal(statusCodes(rc.data)[0], 413, `chunked over the limit: ${JSON.stringify(rc.data.toString('latin1').slice(0, 300))} (error ${rc.error})`);
  // also through fetch, where the server may cut the upload short
  let res;
  try {
    res = await alice.client.post(`/channels/${chan.id}/messages`, big);
  } catch {
    res = null; // the server may close before reading the whole body; the raw check above is authoritative
  }
  if (res) assert.equal(res.status, 413);
  // a Content-Length announcing more than the limit is refused without waiting for the body
  const r2 = await rawExchange(
    srv.port,
    `POST /api/v10/channels/${chan.id}/messages HTTP/1.1\r\nHost: ${host()}\r\nAuthorization: ${alice.token}\r\nContent-Type: application/json\r\nContent-Length: 5000000000\r\n\r\n{"content":`,
    { timeoutMs: 15_000, idleMs: 10_000 },
  );
  assert.equal(statusCodes(r2.data)[0], 413, `huge Content-Length: ${JSON.stringify(r2.data.toString('latin1').slice(0, 200))}`);
  await assertAlive(srv, alice.token);
});

test('oversized headers (64 KiB) → 431', async () => {
  const r = await rawExchange(
    srv.port,
    chunks(`GET /api/v10/users/@me HTTP/1.1\r\nHost: ${host()}\r\nAuthorization: ${alice.token}\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`, 4096),
    { timeoutMs: 15_000, delayMs: 5 },
  );
  const codes = statusCodes(r.data);
  assert.equal(codes[0], 431, `expected 431, got ${JSON.stringify(r.data.toString('latin1').slice(0, 300))} (error ${r.error})`);
  // many medium headers that add up past the limit
  const many = Array.from({ length: 200 }, (_, i) => `X-H${i}: ${'b'.repeat(500)}\r\n`).join('');
  const r2 = await rawExchange(srv.port, chunks(`GET /api/v10/users/@me HTTP/1.1\r\nHost: ${host()}\r\n${many}\r\n`, 4096), { timeoutMs: 15_000, delayMs: 5 });
  assert.equal(statusCodes(r2.data)[0], 431, `many headers: ${JSON.stringify(r2.data.toString('latin1').slice(0, 200))}`);
  // a huge request line is refused too (414 or 431 or 400)
  const r3 = await rawExchange(srv.port, chunks(`GET /api/v10/users/${'9'.repeat(70 * 1024)} HTTP/1.1\r\nHost: ${host()}\r\n\r\n`, 4096), { timeoutMs: 15_000, delayMs: 5 });
  const c3 = statusCodes(r3.data)[0];
  assert.ok(c3 === undefined ? r3.closed : [400, 414, 431].includes(c3), `huge URL → ${c3}`);
  await assertAlive(srv, alice.token);
});

test('garbage bytes, truncated requests, bad framing: the server survives', async () => {
  const garbage = Buffer.alloc(4096);
  for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 7919 + 13) % 256;
  const cases = [
    garbage,
    Buffer.from('\r\n\r\n\r\n'),
    Buffer.from('GET\r\n\r\n'),
    Buffer.from('HELLO / HTTP/9.9\r\n\r\n'),
    Buffer.from('GET /api/v10/users/@me HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n'),
    Buffer.from('GET /api/v10/users/@me HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n'),
    Buffer.from('POST /api/v10/auth/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\nhello\r\n0\r\n\r\n'),
    Buffer.from('POST /api/v10/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nabcdefg'),
    Buffer.from('GET /api/v10/users/@me HTTP/1.1\r\nBad Header Without Colon\r\n\r\n'),
    Buffer.from('GET /api/v10/users/\u00ff\u00fe HTTP/1.1\r\nHost: x\r\n\r\n', 'latin1'),
    Buffer.from('GET /api/v10/users/@me HTTP/1.1\r\nHost: x\r\nAuthorization: \u0000\u0001\u0002\r\n\r\n', 'latin1'),
  ];
  for (const c of cases) {
    const r = await rawExchange(srv.port, c, { timeoutMs: 10_000, idleMs: 2000, endAfterWrite: true });
    for (const code of statusCodes(r.data)) assert.ok(code < 500, `server answered ${code} to ${JSON.stringify(c.toString('latin1').slice(0, 60))}`);
    await assertAlive(srv, alice.token, `after ${JSON.stringify(c.toString('latin1').slice(0, 60))}`);
  }
  // truncated: a body shorter than Content-Length, then the client hangs up
  await rawExchange(
    srv.port,
    `POST /api/v10/channels/${chan.id}/messages HTTP/1.1\r\nHost: ${host()}\r\nAuthorization: ${alice.token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"content":"trunc`,
    { timeoutMs: 5000, idleMs: 300, endAfterWrite: true },
  );
  // a large announced body (under the limit) that never comes, then close
  await rawExchange(
    srv.port,
    `POST /api/v10/channels/${chan.id}/messages HTTP/1.1\r\nHost: ${host()}\r\nAuthorization: ${alice.token}\r\nContent-Type: application/json\r\nContent-Length: 900000\r\n\r\n`,
    { timeoutMs: 5000, idleMs: 300, endAfterWrite: true },
  );
  // truncated headers then close
  await rawExchange(srv.port, `GET /api/v10/users/@me HTTP/1.1\r\nHost: ${host()}\r\nAuthoriz`, { timeoutMs: 5000, idleMs: 300, endAfterWrite: true });
  // abrupt reset mid-request
  await new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port: srv.port }, () => {
      s.write(`POST /api/v10/channels/${chan.id}/messages HTTP/1.1\r\nHost: ${host()}\r\nAuthorization: ${alice.token}\r\nContent-Length: 50\r\n\r\n{"con`);
      setTimeout(() => {
        s.resetAndDestroy();
        resolve();
      }, 100);
    });
    s.on('error', () => resolve());
  });
  // none of those created a message
  const hist = expectStatus(await alice.client.get(`/channels/${chan.id}/messages?limit=100`), 200);
  assert.ok(!hist.some((m) => m.content.startsWith('trunc')), 'truncated body must not be stored');
  await assertAlive(srv, alice.token, 'after truncated requests');
});

test('keep-alive and pipelining: several requests on one connection are answered in order', async () => {
  const one = (path) => `GET /api/v10${path} HTTP/1.1\r\nHost: ${host()}\r\nAuthorization: ${alice.token}\r\n\r\n`;
  const r = await rawExchange(
    srv.port,
    one('/users/@me') + one(`/guilds/${fakeSnowflake()}`) + one(`/channels/${chan.id}/messages/${msg.id}`),
    { timeoutMs: 15_000, idleMs: 2000 },
  );
  assert.deepEqual(statusCodes(r.data), [200, 404, 200], `pipelined replies: ${r.data.toString('latin1').slice(0, 500)}`);
  // sequential keep-alive on the same socket
  const r2 = await rawExchange(srv.port, [one('/users/@me'), one('/users/@me')], { timeoutMs: 15_000, idleMs: 2000, delayMs: 300 });
  assert.deepEqual(statusCodes(r2.data), [200, 200]);
  // Connection: close is honoured
  const r3 = await rawExchange(
    srv.port,
    `GET /api/v10/users/@me HTTP/1.1\r\nHost: ${host()}\r\nAuthorization: ${alice.token}\r\nConnection: close\r\n\r\n`,
    { timeoutMs: 10_000, idleMs: 8000 },
  );
  assert.deepEqual(statusCodes(r3.data), [200]);
  assert.ok(r3.closed, 'server closes after Connection: close');
});

test('a flood of pipelined requests is bounded, not fatal', async () => {
  const req = `GET /api/v10/users/@me HTTP/1.1\r\nHost: ${host()}\r\nAuthorization: ${alice.token}\r\n\r\n`;
  const r = await rawExchange(srv.port, req.repeat(2000), { timeoutMs: 30_000, idleMs: 3000 });
  for (const c of statusCodes(r.data)) assert.ok(c === 200 || c === 429 || c === 503, `pipelined flood answered ${c}`);
  await assertAlive(srv, alice.token, 'after a pipelining flood');
});

test('slow-loris: a partial header is closed within the header timeout and does not block others', async () => {
  const started = Date.now();
  const sock = net.connect({ host: '127.0.0.1', port: srv.port });
  let closedAt = null;
  let answer = '';
  sock.on('data', (d) => (answer += d.toString('latin1')));
  const closed = new Promise((resolve) => {
    sock.on('close', () => {
      closedAt = Date.now();
      resolve();
    });
    sock.on('error', () => {});
  });
  await new Promise((r) => sock.once('connect', r));
  sock.write('GET /api/v10/users/@me HTTP/1.1\r\nHost: x\r\n');
  // trickle one byte every 200 ms; with --header-timeout-ms 1000 the server must hang up long before 30 s
  const trickle = setInterval(() => {
    if (!sock.destroyed) sock.write('X');
  }, 200);
  // meanwhile, the server keeps answering others
  await assertAlive(srv, alice.token, 'during slow-loris');
  await Promise.race([closed, sleep(30_000)]);
  clearInterval(trickle);
  const held = (closedAt ?? Date.now()) - started;
  sock.destroy();
  assert.ok(closedAt !== null, `server kept a slow-loris connection open for ${held} ms`);
  assert.ok(held < 30_000, `slow-loris held for ${held} ms`);
  assert.ok(!/HTTP\/1\.[01] 2\d\d/.test(answer), 'no success reply to an incomplete request');

  // an idle connection that never sends anything is closed as well
  const idle = net.connect({ host: '127.0.0.1', port: srv.port });
  idle.on('error', () => {});
  const t0 = Date.now();
  const idleClosed = await Promise.race([new Promise((r) => idle.on('close', () => r(true))), sleep(30_000).then(() => false)]);
  idle.destroy();
  assert.ok(idleClosed, `idle connection kept open for ${Date.now() - t0} ms`);
  await assertAlive(srv, alice.token, 'after slow-loris');
});

test('keep-alive slow-loris: the next request on a kept-alive connection gets the header timeout, not the idle one', async () => {
  const sock = net.connect({ host: '127.0.0.1', port: srv.port });
  sock.on('error', () => {});
  let answer = '';
  sock.on('data', (d) => (answer += d.toString('latin1')));
  let closedAt = null;
  const closed = new Promise((resolve) => sock.on('close', () => resolve((closedAt = Date.now()))));
  await new Promise((r) => sock.once('connect', r));
  const get = 'GET /api/v10/gateway HTTP/1.1\r\nHost: x\r\n\r\n';
  sock.write(get);
  for (let i = 0; i < 100 && !answer.includes('\r\n\r\n'); i++) await sleep(20);
  assert.match(answer, /^HTTP\/1\.1 200/, 'the first request is answered');
  // Quiet for 1.5 s (more than the header timeout, less than the idle
  // one): the connection stays, and a whole second request is answered.
  await sleep(1500);
  answer = '';
  sock.write(get);
  for (let i = 0; i < 100 && !answer.includes('\r\n\r\n'); i++) await sleep(20);
  assert.match(answer, /^HTTP\/1\.1 200/, 'an idle kept-alive connection is kept');
  // A third request that starts and never ends: closed within the header
  // timeout (1 s here; the sweep runs every 250 ms), not after 120 s.
  const t0 = Date.now();
  sock.write('GET /api/v10/gateway HTTP/1.1\r\nHost: x\r\n');
  const trickle = setInterval(() => {
    if (!sock.destroyed) sock.write('X');
  }, 200);
  await Promise.race([closed, sleep(10_000)]);
  clearInterval(trickle);
  sock.destroy();
  assert.ok(closedAt !== null && closedAt - t0 < 5000, `a trickled keep-alive request held for ${(closedAt ?? Date.now()) - t0} ms`);
});

test('many concurrent half-open connections do not starve the server', async () => {
  const socks = [];
  for (let i = 0; i < 200; i++) {
    const s = net.connect({ host: '127.0.0.1', port: srv.port });
    s.on('error', () => {});
    s.on('connect', () => s.write('POST /api/v10/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{'));
    socks.push(s);
  }
  await sleep(300);
  await assertAlive(srv, alice.token, 'with 200 half-open connections');
  for (const s of socks) s.destroy();
  await sleep(200);
  await assertAlive(srv, alice.token, 'after closing them');
});

test('a valid chunked request body is accepted', async () => {
  const json = JSON.stringify({ content: 'chunked hello' });
  const a = json.slice(0, 10);
  const b = json.slice(10);
  const reqText =
    `POST /api/v10/channels/${chan.id}/messages HTTP/1.1\r\nHost: ${host()}\r\nAuthorization: ${alice.token}\r\n` +
    `Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n` +
    `${a.length.toString(16)}\r\n${a}\r\n${b.length.toString(16)}\r\n${b}\r\n0\r\n\r\n`;
  const r = await rawExchange(srv.port, reqText, { timeoutMs: 15_000, idleMs: 2000 });
  const codes = statusCodes(r.data);
  assert.ok(codes[0] === 200 || codes[0] === 201, `chunked POST → ${r.data.toString('latin1').slice(0, 300)}`);
  const hist = expectStatus(await alice.client.get(`/channels/${chan.id}/messages?limit=5`), 200);
  assert.ok(hist.some((m) => m.content === 'chunked hello'));
});

test('Transfer-Encoding other than a final chunked: 400 or 501 and the connection closes; nothing is stored', async () => {
  const body = JSON.stringify({ content: 'te smuggled' });
  const head = (te, extra = '') =>
    `POST /api/v10/channels/${chan.id}/messages HTTP/1.1\r\nHost: ${host()}\r\nAuthorization: ${alice.token}\r\n` +
    `Content-Type: application/json\r\nTransfer-Encoding: ${te}\r\n${extra}\r\n`;
  const cases = [
    // RFC 9112 6.3: chunked is not the final coding → 400, close.
    [head('xchunked', `Content-Length: ${body.length}\r\n`) + body, 400],
    [head('identity') + body, 400],
    [head('chunked, gzip') + body, 400],
    // Known framing, unknown coding → 501.
    [head('gzip, chunked') + `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`, 501],
    // Transfer-Encoding together with Content-Length (request smuggling) → 400.
    [head('chunked', `Content-Length: ${body.length}\r\n`) + `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`, 400],
  ];
  for (const [req, want] of cases) {
    // A second request pipelined behind must never be answered: the
    // connection closes after the refusal.
    const follow = `GET /api/v10/users/@me HTTP/1.1\r\nHost: ${host()}\r\nAuthorization: ${alice.token}\r\n\r\n`;
    const r = await rawExchange(srv.port, req + follow, { timeoutMs: 10_000, idleMs: 2000 });
    const codes = statusCodes(r.data);
    const what = JSON.stringify(req.split('\r\n')[4]);
    assert.deepEqual(codes, [want], `${what}: ${r.data.toString('latin1').slice(0, 300)}`);
    assert.ok(r.closed, `${what}: the connection must close`);
    assert.match(r.data.toString('latin1'), /application\/json/);
  }
  const hist = expectStatus(await alice.client.get(`/channels/${chan.id}/messages?limit=50`), 200);
  assert.ok(!hist.some((m) => m.content === 'te smuggled'), 'a refused request stored a message');
});

test('an absolute-form target (RFC 9112 3.2.2) reaches the API, not the web app', async () => {
  const r = await rawExchange(srv.port,
    `GET http://${host()}/api/v10/users/@me?x=1 HTTP/1.1\r\nHost: ${host()}\r\nAuthorization: ${alice.token}\r\nConnection: close\r\n\r\n`,
    { timeoutMs: 10_000, idleMs: 2000 });
  const text = r.data.toString('latin1');
  assert.deepEqual(statusCodes(r.data), [200], text.slice(0, 300));
  assert.match(text, /application\/json/);
  const json = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4));
  assert.equal(json.id, alice.user.id);
  const g = await rawExchange(srv.port,
    `GET https://${host()}/api/v10/gateway HTTP/1.1\r\nHost: ${host()}\r\nConnection: close\r\n\r\n`,
    { timeoutMs: 10_000, idleMs: 2000 });
  assert.deepEqual(statusCodes(g.data), [200]);
  assert.match(g.data.toString('latin1'), /"url":"ws/);
});

test('--max-connections: past the cap a new connection gets 503 with Discord\'s body, and room comes back when one closes', async () => {
  const capped = await startServer({ extraArgs: [...FAST_FLAGS, '--max-connections', '4'] });
  const u = await register(capped);
  const held = [];
  // A raw connection that sends nothing: resolves with what the server
  // wrote before closing it, or null if it kept it open for 400 ms.
  const attempt = () => new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port: capped.port });
    let got = '';
    s.on('data', (d) => (got += d.toString('latin1')));
    s.on('error', () => {});
    s.on('close', () => resolve(got));
    setTimeout(() => {
      if (!got && !s.destroyed) {
        held.push(s);
        resolve(null);
      }
    }, 400);
  });
  try {
    const { GatewayClient, INTENTS } = await import('./lib/gateway.mjs');
    for (let i = 0; i < 2; i++) held.push(await GatewayClient.open(capped.port, u.token, { intents: INTENTS.GUILDS }));
    // Two gateway sessions (and fetch's kept-alive connection, if it kept
    // one): at most two more are let in, then 503.
    let answer = null;
    let admitted = 0;
    for (let i = 0; i < 4 && answer === null; i++) {
      answer = await attempt();
      if (answer === null) admitted++;
    }
    assert.ok(answer !== null, 'a connection past the cap is refused');
    assert.ok(admitted <= 2, `at most 4 open: ${admitted} idle ones let in beside 2 sessions`);
    assert.match(answer, /^HTTP\/1\.1 503 /, `refused: ${answer.slice(0, 120)}`);
    assert.match(answer, /\r\nRetry-After: 5\r\n/);
    const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));
    assert.equal(body.code, 0);
    assert.match(body.message, /too many connections/);
    // Connections close: room again.
    for (const h of held.splice(0)) h.destroy();
    await sleep(300);
    assert.equal(await attempt(), null, 'a new connection is kept again');
    const m = await request(capped, 'GET', '/metrics', { prefix: '' });
    assert.match(m.text, /parley_connections_refused_total\{reason="max_connections"\} [1-9]/);
  } finally {
    for (const h of held) h.destroy();
    await capped.stop();
  }
});

test('HEAD gets headers and no body, so a pipelined request after it is read right; a Host that is not a plain name is not echoed into /gateway (both found by fuzz_http_request)', async () => {
  const r = await rawExchange(srv.port,
    `HEAD /api/v10/gateway HTTP/1.1\r\nHost: ${host()}\r\n\r\nGET /api/v10/gateway HTTP/1.1\r\nHost: ${host()}\r\nConnection: close\r\n\r\n`,
    { timeoutMs: 10_000, idleMs: 2000 });
  const text = r.data.toString('latin1');
  const codes = statusCodes(r.data);
  assert.equal(codes.length, 2, `two replies: ${text}`);
  const second = text.slice(text.indexOf('HTTP/1.1', 1));
  assert.match(second, /^HTTP\/1\.1 200 /, `the GET's reply starts where the HEAD's headers end: ${text}`);
  assert.match(second, /\{"url":"ws:\/\//);
  const bad = await rawExchange(srv.port,
    [Buffer.from('GET /api/v10/gateway HTTP/1.1\r\nHost: '), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('\r\nConnection: close\r\n\r\n')],
    { timeoutMs: 10_000, idleMs: 2000 });
  const body = bad.data.toString('utf8');
  const json = JSON.parse(body.slice(body.indexOf('\r\n\r\n') + 4));
  assert.equal(json.url, 'ws://localhost');
});
