// The connection pool and request-body limits (issue 12; docs/operations.md,
// "Limits"): a process-wide budget for request bodies, a minimum body rate,
// --max-connections-per-ip, and the pool's metrics (max, total, active, idle).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import {
  startServer, FAST_FLAGS, register, createGuild, postMessage, request, assertAlive, sleep,
} from './lib/server.mjs';
import { GatewayClient, INTENTS } from './lib/gateway.mjs';

const rss = (srv) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${srv.proc.pid}/status`, 'utf8'))[1]) * 1024;

// A raw connection: resolves once connected, collects what the server writes.
function rawSocket(port, { localAddress } = {}) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, ...(localAddress ? { localAddress } : {}) });
    s.got = '';
    s.gone = false;
    s.on('data', (d) => (s.got += d.toString('latin1')));
    s.on('error', () => {});
    s.on('close', () => (s.gone = true));
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

const waitFor = async (cond, ms) => {
  const until = Date.now() + ms;
  while (!cond() && Date.now() < until) await sleep(50);
  return cond();
};

test('unfinished bodies: 400 connections each holding 1 MiB - 1 of a body keep server RSS within --body-budget; the others get 503', { timeout: 180_000 }, async (t) => {
  const budget = 16 * 1024 * 1024;
  const srv = await startServer({ extraArgs: [...FAST_FLAGS, '--body-budget', String(budget), '--header-timeout-ms', '60000'] });
  const socks = [];
  try {
    const alice = await register(srv);
    const { general } = await createGuild(alice.client);
    await postMessage(alice.client, general.id, 'warm');
    const before = rss(srv);
    const body = Buffer.alloc(1024 * 1024 - 1, 0x61);
    for (let i = 0; i < 400; i++) {
      const s = await rawSocket(srv.port);
      s.write(`POST /api/v10/channels/${general.id}/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${1024 * 1024}\r\n\r\n`);
      s.write(body);
      socks.push(s);
    }
    // Every connection has been answered (503) or is holding its body.
    await waitFor(() => socks.every((s) => s.got || s.writableLength === 0), 60_000);
    await sleep(500);
    const grew = rss(srv) - before;
    const refused = socks.filter((s) => /^HTTP\/1\.1 503 /.test(s.got));
    const held = socks.filter((s) => !s.got && !s.gone);
    t.diagnostic(`RSS +${(grew / 1048576).toFixed(1)} MiB; ${held.length} bodies held, ${refused.length} refused`);
    assert.ok(refused.length >= 300, `refused ${refused.length} of 400 (held ${held.length})`);
    assert.ok(held.length >= 8 && held.length <= 16, `${held.length} bodies held within a 16 MiB budget`);
    assert.match(refused[0].got, /\r\nRetry-After: 1\r\n/);
    const reply = JSON.parse(refused[0].got.slice(refused[0].got.indexOf('\r\n\r\n') + 4));
    assert.equal(reply.code, 0);
    assert.match(reply.message, /request bodies/);
    // The old code held every body: +404 MB. Budget plus allocator and
    // kernel slack now.
    assert.ok(grew < budget + 48 * 1024 * 1024, `server RSS grew by ${(grew / 1048576).toFixed(1)} MiB`);
    // A message (a small body, each connection's own allowance) still goes through.
    await postMessage(alice.client, general.id, 'while the budget is spent');
    const m = await request(srv, 'GET', '/metrics', { prefix: '' });
    assert.match(m.text, /parley_http_body_budget_refusals_total [1-9]/);
    assert.match(m.text, /parley_http_body_budget_bytes [1-9]/);
    for (const s of socks) s.destroy();
    socks.length = 0;
    // Given back: a large body is read again (and refused by its route, not by the budget).
    await sleep(300);
    const big = await alice.client.post(`/channels/${general.id}/messages`, { content: 'x'.repeat(100_000) });
    assert.equal(big.status, 400, `a 100 KB body after the flood: ${big.status} ${big.text}`);
    const m2 = await request(srv, 'GET', '/metrics', { prefix: '' });
    assert.match(m2.text, /parley_http_body_budget_bytes 0\b/);
    await assertAlive(srv, alice.token, 'after the unfinished bodies');
  } finally {
    for (const s of socks) s.destroy();
    await srv.stopAndAssertClean();
  }
});

test('request bodies: a trickled body is closed at --body-min-rate, a slow but steady one completes past the header timeout', { timeout: 60_000 }, async () => {
  const srv = await startServer({ extraArgs: [...FAST_FLAGS, '--header-timeout-ms', '1000', '--body-min-rate', '2048'] });
  try {
    const alice = await register(srv);
    const { general } = await createGuild(alice.client);
    const head = (len) => `POST /api/v10/channels/${general.id}/messages HTTP/1.1\r\nHost: x\r\nAuthorization: ${alice.token}\r\nContent-Type: application/json\r\nContent-Length: ${len}\r\n\r\n`;
    // 10 bytes every 500 ms (20 B/s): closed once 1 s + bytes/2048 has passed.
    const trickle = await rawSocket(srv.port);
    trickle.write(head(100_000));
    const t0 = Date.now();
    while (!trickle.gone && Date.now() - t0 < 10_000) {
      trickle.write('x'.repeat(10));
      await sleep(500);
    }
    assert.ok(trickle.gone, 'a body trickling at 20 B/s is closed');
    assert.ok(Date.now() - t0 < 4000, `closed after ${Date.now() - t0} ms`);
    // 4 KB/s for 3 s (three header timeouts): within the rate, so it is read.
    const content = JSON.stringify({ content: 'y'.repeat(1200) });
    const pad = ' '.repeat(12_000 - content.length);
    const steady = await rawSocket(srv.port);
    steady.write(head(12_000));
    const payload = Buffer.from(content + pad);
    for (let off = 0; off < payload.length; off += 1000) {
      steady.write(payload.subarray(off, off + 1000));
      await sleep(250);
    }
    assert.ok(await waitFor(() => /\r\n\r\n/.test(steady.got), 5000), `a reply to the steady body (closed: ${steady.gone})`);
    assert.match(steady.got, /^HTTP\/1\.1 200 /, steady.got.slice(0, 200));
    steady.destroy();
  } finally {
    await srv.stopAndAssertClean();
  }
});

test('--max-connections-per-ip: past the cap one address gets 503, gateway connections count until they close, loopback 127.0.0.1 is not capped', { timeout: 60_000 }, async () => {
  const srv = await startServer({ extraArgs: [...FAST_FLAGS, '--max-connections-per-ip', '3'] });
  const open = [];
  try {
    const u = await register(srv);
    const other = '127.0.0.2';
    // Two gateway sessions and one idle socket from 127.0.0.2: its three.
    for (let i = 0; i < 2; i++) open.push(await GatewayClient.open(srv.port, u.token, { intents: INTENTS.GUILDS }, { localAddress: other }));
    // Two more raw sockets: one of them is refused. Which one is up to the
    // kernel: each event loop accepts on its own listener (SO_REUSEPORT),
    // so under load the later connect may be accepted first.
    const pair = [await rawSocket(srv.port, { localAddress: other }), await rawSocket(srv.port, { localAddress: other })];
    assert.ok(await waitFor(() => pair.some((s) => s.gone), 10_000), 'a fourth connection from one address is closed');
    await sleep(300);
    const refused = pair.filter((s) => s.gone);
    assert.equal(refused.length, 1, 'exactly one of the two past the cap');
    assert.match(refused[0].got, /^HTTP\/1\.1 503 /);
    assert.match(refused[0].got, /too many connections from this address/);
    open.push(pair.find((s) => !s.gone));
    // Any number from 127.0.0.1 (where a proxy on this host connects from).
    const local = [];
    for (let i = 0; i < 8; i++) local.push(await rawSocket(srv.port));
    await sleep(300);
    assert.ok(local.every((s) => !s.gone), 'loopback 127.0.0.1 is not capped');
    for (const s of local) s.destroy();
    // A gateway connection closes: its slot comes back.
    open.shift().close();
    await sleep(500);
    const again = await rawSocket(srv.port, { localAddress: other });
    await sleep(400);
    assert.ok(!again.gone, 'room again once a gateway connection from that address closed');
    open.push(again);
    const m = await request(srv, 'GET', '/metrics', { prefix: '' });
    assert.match(m.text, /parley_connections_refused_total\{reason="max_connections_per_ip"\} 1\b/);
    assert.match(m.text, /parley_connection_pool_addresses 1\b/);
  } finally {
    for (const c of open) (c.destroy ? c.destroy() : c.close());
    await srv.stopAndAssertClean();
  }
});

test('connection pool metrics: max, total, active (identified sessions and requests being handled) and idle', { timeout: 60_000 }, async () => {
  const srv = await startServer({ extraArgs: [...FAST_FLAGS, '--max-connections', '500'] });
  const open = [];
  try {
    const u = await register(srv);
    for (let i = 0; i < 2; i++) open.push(await GatewayClient.open(srv.port, u.token, { intents: INTENTS.GUILDS }));
    open.push(await GatewayClient.connect(srv.port)); // not identified: idle
    for (let i = 0; i < 3; i++) open.push(await rawSocket(srv.port)); // idle HTTP
    await sleep(200);
    const m = await request(srv, 'GET', '/metrics', { prefix: '' });
    const v = (name) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(m.text)?.[1]);
    assert.equal(v('parley_connection_pool_max'), 500);
    // The scrape itself is a request being handled.
    assert.equal(v('parley_connection_pool_active'), 3, m.text.match(/^parley_connection_pool.*$/gm).join('\n'));
    assert.ok(v('parley_connection_pool_idle') >= 4, `idle ${v('parley_connection_pool_idle')}`);
    assert.equal(v('parley_connection_pool_connections'), v('parley_connection_pool_active') + v('parley_connection_pool_idle'));
  } finally {
    for (const c of open) (c.destroy ? c.destroy() : c.close());
    await srv.stopAndAssertClean();
  }
});
