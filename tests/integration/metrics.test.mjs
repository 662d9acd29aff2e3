// Observability: /metrics (Prometheus text format) moves by exactly what a
// scripted session did; /admin/status is for the admin only; `parley status`
// prints it; the exposition passes `promtool check metrics` when promtool is
// installed (scripts/install-deps.sh installs it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import {
  startServer, register, createGuild, postMessage, PARLEY_BIN, FAST_FLAGS, sleep,
} from './lib/server.mjs';
import { GatewayClient } from './lib/gateway.mjs';

let srv;
before(async () => {
  srv = await startServer();
});
after(async () => {
  await srv?.stop();
});

async function scrape(port = srv.port) {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  return res.text();
}

// name{labels} -> value
function parse(text) {
  const out = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{.*\})?) (\S+)$/);
    assert.ok(m, `unparsable exposition line: ${line}`);
    out.set(m[1], Number(m[2]));
  }
  return out;
}

function delta(a, b, key) {
  assert.ok(b.has(key), `no series ${key}`);
  return b.get(key) - (a.get(key) ?? 0);
}

test('a scripted session moves each counter by exactly what it did', { timeout: 120_000 }, async () => {
  const u = await register(srv);
  const { general } = await createGuild(u.client);
  const m0 = parse(await scrape());

  const gw = await GatewayClient.open(srv.port, u.token, { intents: 1 | (1 << 9) | (1 << 15) });
  const msg = await postMessage(u.client, general.id, 'metrics are fun');
  const got = await gw.nextDispatch('MESSAGE_CREATE');
  assert.equal(got.d.id, msg.id);
  const mid = parse(await scrape());
  assert.equal(mid.get('parley_gateway_shard_sessions{shard="0",shards="1"}'), 1, 'one session on shard 0/1');
  const sessions = [...mid.keys()].filter((k) => k.startsWith('parley_gateway_sessions{'))
    .reduce((n, k) => n + mid.get(k), 0);
  assert.equal(sessions, 1, 'one identified session across the loops');
  const bad = await u.client.post(`/channels/${general.id}/messages`, { content: '' });
  assert.equal(bad.status, 400);
  await gw.close(1000);
  await sleep(300);

  const m1 = parse(await scrape());
  const route = 'route="POST /api/v10/channels/{}/messages"';
  assert.equal(delta(m0, m1, 'parley_gateway_identifies_total'), 1, 'identifies');
  assert.equal(delta(m0, m1, 'parley_messages_posted_total'), 1, 'posted');
  assert.equal(delta(m0, m1, 'parley_messages_persisted_total'), 1, 'persisted');
  assert.equal(delta(m0, m1, 'parley_messages_failed_total{reason="invalid"}'), 1, 'failed (invalid)');
  assert.equal(delta(m0, m1, `parley_http_requests_total{${route},status="2xx"}`), 1, 'route 2xx');
  assert.equal(delta(m0, m1, `parley_http_requests_total{${route},status="4xx"}`), 1, 'route 4xx');
  assert.equal(delta(m0, m1, 'parley_gateway_dispatches_total{event="READY"}'), 1, 'READY');
  assert.equal(delta(m0, m1, 'parley_gateway_dispatches_total{event="GUILD_CREATE"}'), 1, 'GUILD_CREATE');
  assert.equal(delta(m0, m1, 'parley_gateway_dispatches_total{event="MESSAGE_CREATE"}'), 1, 'MESSAGE_CREATE');
  // READY, GUILD_CREATE, the user's own PRESENCE_UPDATE (online) and the
  // message: every dispatch written to a socket was timed.
  const dispatched = [...m1.keys()]
    .filter((k) => k.startsWith('parley_gateway_dispatches_total'))
    .reduce((s, k) => s + delta(m0, m1, k), 0);
  assert.equal(delta(m0, m1, 'parley_delivery_latency_seconds_count'), dispatched, 'latency observations = dispatches');
  assert.ok(delta(m0, m1, 'parley_delivery_latency_seconds_bucket{le="10"}') === dispatched);
  assert.ok(delta(m0, m1, 'parley_store_commit_seconds_count') >= 1, 'commits timed');
  assert.ok(delta(m0, m1, 'parley_gateway_payload_bytes_total{compression="none"}') > 0);
  assert.ok(delta(m0, m1, 'parley_gateway_wire_bytes_total{compression="none"}') >
    delta(m0, m1, 'parley_gateway_payload_bytes_total{compression="none"}') - 1, 'frames add headers');
  assert.equal(m1.get('parley_gateway_connections{loop="0"}') + m1.get('parley_gateway_connections{loop="1"}' ) || 0, 0,
    'no gateway connection left open');
  for (const k of ['process_resident_memory_bytes', 'process_open_fds', 'process_max_fds',
    'process_cpu_seconds_total', 'process_start_time_seconds', 'parley_memory_limit_bytes', 'parley_uptime_seconds'])
    assert.ok(m1.get(k) > 0, `${k} > 0`);
  assert.equal(m1.get('parley_build_info{version="0.1.0"}'), 1);
});

test('labels stay bounded: no ids in any label', async () => {
  const text = await scrape();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.includes('{')) continue;
    assert.doesNotMatch(line, /\d{17,20}/, `an id in a label: ${line}`);
  }
});

test('the exposition passes promtool check metrics', async (t) => {
  const promtool = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => fs.existsSync(p));
  if (!promtool) {
    t.skip('promtool not installed (scripts/install-deps.sh installs Debian\'s prometheus)');
    return;
  }
  const text = await scrape();
  const r = spawnSync(promtool, ['check', 'metrics'], { input: text, encoding: 'utf8' });
  // promtool prints lint findings (e.g. naming advice) and exits 3 for them; 1 means unparsable.
  assert.notEqual(r.status, 1, `promtool could not parse the exposition:\n${r.stdout}\n${r.stderr}`);
  assert.equal(r.status, 0, `promtool check metrics:\n${r.stdout}\n${r.stderr}`);
});

const WEB_ROOT = new URL('../../web', import.meta.url).pathname;

test('/admin/status: the first user only; parley status prints it', { timeout: 60_000 }, async () => {
  const s = await startServer({ extraArgs: [...FAST_FLAGS, '--web-root', WEB_ROOT] });
  try {
    const admin = await register(s);
    const other = await register(s);
    const no = await fetch(`http://127.0.0.1:${s.port}/admin/status`);
    assert.equal(no.status, 401);
    const notAdmin = await fetch(`http://127.0.0.1:${s.port}/admin/status`, { headers: { Authorization: other.token } });
    assert.equal(notAdmin.status, 403);
    const ok = await fetch(`http://127.0.0.1:${s.port}/admin/status`, { headers: { Authorization: admin.token } });
    assert.equal(ok.status, 200);
    const body = await ok.json();
    for (const k of ['connections', 'messages', 'store', 'delivery', 'rest', 'process'])
      assert.equal(typeof body[k], 'object', `status has ${k}`);
    assert.equal(body.users, 2);
    const out = spawnSync(PARLEY_BIN, ['status', '--url', `http://127.0.0.1:${s.port}`, '--token', admin.token], { encoding: 'utf8' });
    assert.equal(out.status, 0, out.stderr);
    assert.match(out.stdout, /gateway sessions/);
    assert.match(out.stdout, /resident memory/);
    // A browser asking for HTML gets the status page (which fetches the JSON).
    const page = await fetch(`http://127.0.0.1:${s.port}/admin/status`, { headers: { Accept: 'text/html' } });
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type'), /^text\/html/);
    assert.match(page.headers.get('content-security-policy') || '', /default-src 'self'/);
    assert.match(await page.text(), /Parley status/);
    const denied = spawnSync(PARLEY_BIN, ['status', '--url', `http://127.0.0.1:${s.port}`, '--token', other.token], { encoding: 'utf8' });
    assert.equal(denied.status, 1);
  } finally {
    await s.stop();
  }
});

test('--metrics-listen moves /metrics to its own port; --admin names the admin', { timeout: 60_000 }, async () => {
  // Port 0: the server binds a free port itself and logs the one it got.
  const s = await startServer({ extraArgs: [...FAST_FLAGS, '--metrics-listen', '127.0.0.1:0', '--admin', 'Boss'] });
  try {
    let mport;
    for (let i = 0; i < 100 && !mport; i++) {
      mport = Number(/metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(s.output)?.[1]) || undefined;
      if (!mport) await sleep(50);
    }
    assert.ok(mport, `no "metrics on http://127.0.0.1:PORT/metrics" in the log:\n${s.tail()}`);
    const main = await fetch(`http://127.0.0.1:${s.port}/metrics`);
    assert.doesNotMatch(await main.text(), /parley_gateway_identifies_total/, '/metrics left the main port');
    assert.doesNotMatch(main.headers.get('content-type') || '', /version=0\.0\.4/);
    const text = await scrape(mport);
    assert.match(text, /parley_gateway_identifies_total/);
    const first = await register(s);
    const boss = await register(s, 'boss');
    const a = await fetch(`http://127.0.0.1:${s.port}/admin/status`, { headers: { Authorization: first.token } });
    assert.equal(a.status, 403, 'the first user is not admin when --admin is given');
    const b = await fetch(`http://127.0.0.1:${s.port}/admin/status`, { headers: { Authorization: boss.token } });
    assert.equal(b.status, 200);
  } finally {
    await s.stop();
  }
});
