// Configuration: a --config file (TOML, [serve] section) is read, and flags
// given on the command line override it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Server, FAST_FLAGS, register, expectStatus } from './lib/server.mjs';

const servers = [];
after(async () => {
  for (const s of servers) if (s.proc && !s.exitInfo) await s.stopAndAssertClean();
});

test('a --config file sets options; command-line flags override it', { timeout: 60_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-config-'));
  const file = path.join(dir, 'parley.toml');
  // node-id 33 = worker 1, process 1; ratelimit-global 3 comes from the file.
  fs.writeFileSync(file, '[serve]\nnode-id = 33\nratelimit-global = 3\npassword-cost = "min"\n');
  const srv = new Server({ extraArgs: ['--config', file, '--ratelimit-scale', '1000'] });
  servers.push(srv);
  await srv.start();
  const u = await register(srv);
  const id = BigInt(u.user.id);
  assert.equal((id >> 17n) & 31n, 1n, 'worker from the config file');
  assert.equal((id >> 12n) & 31n, 1n, 'process from the config file');
  // The global limit of 3/s from the file: the 4th quick request is refused.
  const statuses = [];
  for (let i = 0; i < 6; i++) statuses.push((await u.client.get('/users/@me')).status);
  assert.ok(statuses.includes(429), `expected a 429 from ratelimit-global = 3, got ${statuses}`);
  await srv.stopAndAssertClean();

  // A flag beats the file.
  const srv2 = new Server({ extraArgs: ['--config', file, '--ratelimit-global', '1000', '--ratelimit-scale', '1000'] });
  servers.push(srv2);
  await srv2.start();
  const v = await register(srv2);
  for (let i = 0; i < 6; i++) expectStatus(await v.client.get('/users/@me'), 200);
  await srv2.stopAndAssertClean();
  fs.rmSync(dir, { recursive: true, force: true });
});
