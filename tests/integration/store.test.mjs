// The store seen from outside: `--store` URLs (bad ones exit 2 at once, an
// unreachable server exits 1 quickly, never a half-started server) and
// `parley migrate` from SQLite to PostgreSQL and back, interrupted and
// resumed, with the same server working on every copy (tokens, guilds,
// history). The PostgreSQL parts need a test server (PARLEY_TEST_PG, which
// scripts/test.sh starts); without one they are skipped, unless
// PARLEY_REQUIRE_PG=1.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import {
  Server, FAST_FLAGS, PARLEY_BIN, TEST_STORE, register, createGuild, postMessage, fetchAllHistory,
  expectStatus, tmpDataDir, freePort, sleep,
} from './lib/server.mjs';
import { createBot, addBot } from './lib/gateway.mjs';

const PG = process.env.PARLEY_TEST_PG || '';
const pgMissing = PG
  ? false
  : process.env.PARLEY_REQUIRE_PG === '1'
    ? false // run and fail loudly below
    : 'PARLEY_TEST_PG is not set (no PostgreSQL test server)';
// These tests copy between the two stores themselves: run them once, in the
// default (SQLite) pass of the suite.
const otherPass = TEST_STORE !== 'sqlite' ? 'runs in the SQLite pass only' : false;

const servers = [];
const databases = [];
after(async () => {
  for (const s of servers) if (s.proc && !s.exitInfo) await s.stop();
  for (const db of databases) {
    try {
      execFileSync('psql', [PG, '-qAtc', `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`]);
    } catch {
      // best effort
    }
  }
});

function parley(args, { timeoutMs = 120_000 } = {}) {
  const t0 = Date.now();
  const r = spawnSync(PARLEY_BIN, args, { encoding: 'utf8', timeout: timeoutMs });
  // spdlog's lines go to stdout, the progress bar to stderr: `out` has both.
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, out: r.stdout + r.stderr, ms: Date.now() - t0 };
}

/** A fresh, empty PostgreSQL database on the test server; returns its URL. */
function newDatabase(tag) {
  assert.ok(PG, 'PARLEY_REQUIRE_PG=1 but PARLEY_TEST_PG is not set');
  const name = `parley_st_${tag}_${process.pid}_${Math.floor(Math.random() * 1e9)}`;
  execFileSync('psql', [PG, '-v', 'ON_ERROR_STOP=1', '-qAtc', `CREATE DATABASE ${name}`]);
  databases.push(name);
  const u = new URL(PG);
  u.pathname = '/' + name;
  return u.toString();
}

test('a bad store URL exits 2 with one line; an unreachable server exits 1 quickly', { skip: otherPass }, async () => {
  const data = tmpDataDir('store-url');
  const port = await freePort();
  const bad = parley(['serve', '--listen', `127.0.0.1:${port}`, '--data', data, '--store', 'mysql://x/y']);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.out, /unknown store URL/);

  const closed = await freePort(); // nothing listens there
  const down = parley(['serve', '--listen', `127.0.0.1:${port}`, '--data', data,
    '--store', `postgres://parley@127.0.0.1:${closed}/parley?connect_timeout=2`]);
  assert.equal(down.code, 1, down.stderr);
  assert.match(down.out, /cannot open the store: Unavailable/);
  assert.ok(down.ms < 10_000, `took ${down.ms} ms`);
  assert.doesNotMatch(down.out, /listening/);

  const empty = parley(['serve', '--listen', `127.0.0.1:${port}`, '--store', 'sqlite:']);
  assert.equal(empty.code, 2, empty.stderr);

  // A zero-length parley.db (a failed copy, a full disk) is refused with a
  // word, never started as a new, empty server; the file is left alone.
  const truncated = tmpDataDir('store-empty');
  fs.writeFileSync(path.join(truncated, 'parley.db'), '');
  const zero = parley(['serve', '--listen', `127.0.0.1:${port}`, '--data', truncated]);
  assert.equal(zero.code, 1, zero.out);
  assert.match(zero.out, /parley\.db is empty \(0 bytes\): not a Parley store/);
  assert.doesNotMatch(zero.out, /listening/);
  assert.equal(fs.statSync(path.join(truncated, 'parley.db')).size, 0);
});

test('parley migrate: SQLite → PostgreSQL (interrupted, resumed) → SQLite, the server works on every copy', { skip: otherPass || pgMissing, timeout: 600_000 }, async () => {
  // A server on SQLite with users, a guild, a few posted messages and many
  // filled ones.
  const srcDir = tmpDataDir('mig-src');
  const srv = new Server({ extraArgs: [...FAST_FLAGS, '--store', `sqlite:${srcDir}/parley.db`], dataDir: srcDir });
  servers.push(srv);
  await srv.start();
  const alice = await register(srv);
  const bob = await register(srv);
  const { guild, general } = await createGuild(alice.client);
  const posted = [];
  for (let i = 0; i < 5; i++) posted.push(await postMessage(alice.client, general.id, `hello ${i} ✓`));
  // A bot's global and guild commands (their own table).
  const bot = await createBot(srv, alice.client);
  await addBot(alice.client, guild.id, bot.botId);
  const commands = expectStatus(await bot.client.put(`/applications/${bot.appId}/commands`, [
    { name: 'ping', description: 'Pong ✓', name_localizations: { fr: 'salut' } }, { type: 3, name: 'Quote' }]), 200);
  expectStatus(await bot.client.put(`/applications/${bot.appId}/guilds/${guild.id}/commands`, [{ name: 'roll', description: 'd' }]), 200);
  await srv.stopAndAssertClean();
  const FILLED = 120_000;
  const fill = parley(['fill', '--store', `sqlite:${srcDir}/parley.db`, '--channel', general.id,
    '--author', bob.user.id, '--count', String(FILLED), '--batch', '20000']);
  assert.equal(fill.code, 0, fill.stderr);
  const total = FILLED + posted.length;

  // Into PostgreSQL, killed part-way.
  const pgUrl = newDatabase('mig');
  const from = `sqlite:${srcDir}/parley.db`;
  const child = spawn(PARLEY_BIN, ['migrate', '--from', from, '--to', pgUrl, '--batch', '2000'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
  const deadline = Date.now() + 120_000;
  while (!/\] +[1-9]\d%/.test(err) && Date.now() < deadline) await sleep(20);
  child.kill('SIGKILL');
  const killed = await exited;
  assert.equal(killed.signal, 'SIGKILL', `migrate ended before it could be interrupted: ${err}`);

  // Not empty any more: refused without --resume, finished with it.
  const again = parley(['migrate', '--from', from, '--to', pgUrl]);
  assert.equal(again.code, 1, again.stderr);
  assert.match(again.out, /not empty: pass --resume/);
  const resumed = parley(['migrate', '--from', from, '--to', pgUrl, '--resume', '--batch', '5000']);
  assert.equal(resumed.code, 0, resumed.stderr + resumed.stdout);
  assert.match(resumed.out, /resuming after [1-9]\d* messages/);
  assert.match(resumed.stdout, /verified: both stores hold the same records/);
  assert.match(resumed.stdout, new RegExp(`messages +${total} +${total} `));
  assert.match(resumed.stdout, /application_commands +3 +3 /);

  // The server on the PostgreSQL copy: same tokens, guild, history.
  const pgSrv = new Server({ extraArgs: [...FAST_FLAGS, '--store', pgUrl], dataDir: tmpDataDir('mig-pg') });
  servers.push(pgSrv);
  await pgSrv.start();
  const me = expectStatus(await pgSrv.client(alice.token).get('/users/@me'), 200, 'token survives');
  assert.equal(me.id, alice.user.id);
  const g = expectStatus(await pgSrv.client(alice.token).get(`/guilds/${guild.id}`), [200], 'guild');
  assert.equal(g.name, guild.name);
  // parley fill's ids end at the time it ran: they are the newest.
  const newest = expectStatus(await pgSrv.client(alice.token).get(`/channels/${general.id}/messages?limit=3`), 200, 'history');
  assert.deepEqual(newest.map((m) => m.content.split(':')[0]), ['bulk message 119999', 'bulk message 119998', 'bulk message 119997']);
  for (const p of posted) {
    const m = expectStatus(await pgSrv.client(alice.token).get(`/channels/${general.id}/messages/${p.id}`), 200, 'posted message');
    assert.equal(m.content, p.content);
  }
  const cmdPath = `/applications/${bot.appId}/commands?with_localizations=true`;
  assert.deepEqual(expectStatus(await pgSrv.client(bot.token, { bot: true }).get(cmdPath), 200), commands);
  const extra = await postMessage(pgSrv.client(alice.token), general.id, 'posted on PostgreSQL');
  await pgSrv.stopAndAssertClean();

  // And back to a new SQLite file; the server there sees all of it.
  const backDir = tmpDataDir('mig-back');
  const back = parley(['migrate', '--from', pgUrl, '--to', `sqlite:${backDir}/parley.db`]);
  assert.equal(back.code, 0, back.stderr + back.stdout);
  assert.match(back.stdout, new RegExp(`messages +${total + 1} +${total + 1} `));
  const backSrv = new Server({ extraArgs: [...FAST_FLAGS, '--store', `sqlite:${backDir}/parley.db`], dataDir: backDir });
  servers.push(backSrv);
  await backSrv.start();
  const all = await fetchAllHistory(backSrv.client(alice.token), general.id);
  assert.equal(all.length, total + 1);
  assert.equal(all[0].id, extra.id);
  assert.equal(all[0].content, 'posted on PostgreSQL');
  assert.deepEqual(expectStatus(await backSrv.client(bot.token, { bot: true }).get(cmdPath), 200), commands);
  await backSrv.stopAndAssertClean();

  // Same store twice: refused.
  const same = parley(['migrate', '--from', pgUrl, '--to', pgUrl]);
  assert.equal(same.code, 2, same.stderr);
});
