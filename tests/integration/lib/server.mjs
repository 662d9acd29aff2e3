// Helpers for Parley's black-box integration tests.
//
// Node.js 20 built-ins only. Each *.test.mjs file starts its own server(s) on a
// free port with a fresh data directory and drives it over HTTP.
//
// Environment:
//   PARLEY_BIN   path of the server binary (default /work/main/build/parley)
//   PARLEY_TEST_VERBOSE=1   echo the server's output to this process' stderr
//   PARLEY_TEST_STORE=postgres   run every server on PostgreSQL: each data
//       directory gets a database of its own on the server PARLEY_TEST_PG
//       names (a URL whose user may CREATE DATABASE), passed as --store;
//       a restart on the same data directory finds the same database.

import { spawn, execFileSync } from 'node:child_process';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';

export const PARLEY_BIN = process.env.PARLEY_BIN || '/work/main/build/parley';

// Flags every test uses unless it is about rate limits.
export const FAST_FLAGS = [
  '--password-cost', 'min',
  '--ratelimit-global', '100000',
  '--ratelimit-scale', '1000',
];

// Discord's permission bits (as BigInt).
export const P = {
  CREATE_INSTANT_INVITE: 1n << 0n,
  KICK_MEMBERS: 1n << 1n,
  ADMINISTRATOR: 1n << 3n,
  MANAGE_CHANNELS: 1n << 4n,
  MANAGE_GUILD: 1n << 5n,
  VIEW_CHANNEL: 1n << 10n,
  SEND_MESSAGES: 1n << 11n,
  MANAGE_MESSAGES: 1n << 13n,
  READ_MESSAGE_HISTORY: 1n << 16n,
  MANAGE_ROLES: 1n << 28n,
};
export const perms = (...bits) => bits.reduce((a, b) => a | b, 0n).toString();

export const DISCORD_EPOCH = 1420070400000n;
export const REQUEST_TIMEOUT_MS = 30_000;

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Resolve p, or reject after ms with a message naming `what`. */
export async function withTimeout(p, ms, what) {
  let timer;
  try {
    return await Promise.race([
      p,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Poll fn() (may be async) until it returns something truthy; fail after timeoutMs with diag(). */
export async function until(fn, what, { timeoutMs = 20_000, diag = () => '' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() >= deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}${diag()}`);
    await sleep(25);
  }
}

/** A free TCP port on 127.0.0.1 (listen on 0, close, reuse the number). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const createdDirs = [];
export function tmpDataDir(tag = 'data') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `parley-it-${tag}-`));
  createdDirs.push(dir);
  return dir;
}
// Remove our data directories when this test file's process ends, unless it failed
// (then they are kept for inspection) or PARLEY_TEST_KEEP_DATA is set.
const liveProcs = new Set();
/**
 * A new empty database on the test server (PARLEY_TEST_PG), created through
 * `via` (the server itself, or a pooler in front of it), dropped when the
 * process exits cleanly like the others. Returns {name, url} (url: on `via`).
 */
export function newTestDatabase(tag, via = process.env.PARLEY_TEST_PG) {
  const name = `parley_${tag}_${process.pid}_${Math.floor(Math.random() * 1e9)}`;
  execFileSync('psql', [via, '-v', 'ON_ERROR_STOP=1', '-qAtc', `CREATE DATABASE ${name}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  pgDatabases.add(name);
  const u = new URL(via);
  u.pathname = '/' + name;
  return { name, url: u.toString() };
}
process.on('exit', (code) => {
  // never leave a server behind, even if a test crashed before its after() hook
  for (const p of liveProcs) {
    try {
      p.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  if (process.env.PARLEY_TEST_KEEP_DATA || code || process.exitCode) {
    if (createdDirs.length) process.stderr.write(`# parley data kept in: ${createdDirs.join(' ')}\n`);
    return;
  }
  for (const d of createdDirs) {
    try {
      fs.rmSync(d, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
});

// PostgreSQL mode (see the header): the store URL for a data directory.
export const TEST_STORE = process.env.PARLEY_TEST_STORE || 'sqlite';
const pgDatabases = new Set();
function pgAdmin(sql) {
  execFileSync('psql', [process.env.PARLEY_TEST_PG, '-v', 'ON_ERROR_STOP=1', '-qAtc', sql], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}
export function storeUrlFor(dataDir) {
  if (TEST_STORE !== 'postgres') return null;
  if (!process.env.PARLEY_TEST_PG) throw new Error('PARLEY_TEST_STORE=postgres needs PARLEY_TEST_PG');
  // mkdtemp names are unique on this machine, so the database names are too.
  const name = ('parley_it_' + path.basename(dataDir)).toLowerCase().replace(/[^a-z0-9_]/g, '_');
  if (!pgDatabases.has(name)) {
    const exists = execFileSync('psql', [process.env.PARLEY_TEST_PG, '-qAtc', `SELECT 1 FROM pg_database WHERE datname = '${name}'`])
      .toString()
      .trim();
    if (exists !== '1') pgAdmin(`CREATE DATABASE ${name}`);
    pgDatabases.add(name);
  }
  const u = new URL(process.env.PARLEY_TEST_PG);
  u.pathname = '/' + name;
  return u.toString();
}
process.on('exit', (code) => {
  if (process.env.PARLEY_TEST_KEEP_DATA || code || process.exitCode) return;
  for (const name of pgDatabases) {
    try {
      pgAdmin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    } catch {
      // best effort
    }
  }
});

function tryConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const done = (ok) => {
      s.removeAllListeners();
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/**
 * A running `parley serve` process.
 */
export class Server {
  constructor({ extraArgs = FAST_FLAGS, dataDir, port, env } = {}) {
    this.extraArgs = extraArgs;
    this.dataDir = dataDir ?? tmpDataDir();
    this.port = port;
    this.env = env;
    this.proc = null;
    this.output = '';
    this.exited = null; // Promise<{code, signal}>
    this.exitInfo = null;
  }

  get origin() {
    return `http://127.0.0.1:${this.port}`;
  }
  get base() {
    return `${this.origin}/api/v10`;
  }

  /** The server's recent stdout/stderr, for error messages. */
  tail(n = 6000) {
    return this.output.length > n ? '…' + this.output.slice(-n) : this.output;
  }

  async start({ timeoutMs = 20_000 } = {}) {
    if (!fs.existsSync(PARLEY_BIN)) {
      throw new Error(`server binary not found at ${PARLEY_BIN} (set PARLEY_BIN or build it)`);
    }
    // No port given: the server binds port 0 and says which port it got
    // (a number found free and reused could be taken meanwhile, and
    // SO_REUSEPORT would let two servers share it silently).
    const pickPort = this.port == null;
    const args = ['serve', '--listen', `127.0.0.1:${pickPort ? 0 : this.port}`, '--data', this.dataDir, ...this.extraArgs];
    const storeUrl = this.extraArgs.includes('--store') ? null : storeUrlFor(this.dataDir);
    if (storeUrl) args.push('--store', storeUrl);
    this.args = args;
    this.output = '';
    this.exitInfo = null;
    const proc = spawn(PARLEY_BIN, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...(this.env || {}) },
    });
    this.proc = proc;
    liveProcs.add(proc);
    const onData = (d) => {
      this.output += d.toString();
      if (this.output.length > 200_000) this.output = this.output.slice(-100_000);
      if (process.env.PARLEY_TEST_VERBOSE) process.stderr.write(d);
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    this.exited = new Promise((resolve) => {
      proc.once('exit', (code, signal) => {
        liveProcs.delete(proc);
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
      });
      proc.once('error', (err) => {
        this.output += `\n[spawn error] ${err.message}\n`;
        this.exitInfo = { code: null, signal: null, error: err };
        resolve(this.exitInfo);
      });
    });

    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.exitInfo) {
        throw new Error(
          `parley exited during start-up (${JSON.stringify(this.exitInfo)}); ` +
            `cmd: ${PARLEY_BIN} ${args.join(' ')}\n--- server output ---\n${this.tail()}`,
        );
      }
      if (pickPort && this.port == null) {
        const m = /Parley is listening on http:\/\/[^\s]+:(\d+)/.exec(this.output);
        if (m) this.port = Number(m[1]);
      }
      if (this.port != null && (await tryConnect(this.port))) return this;
      await sleep(100);
    }
    const out = this.tail();
    this.proc.kill('SIGKILL');
    throw new Error(
      `parley did not accept TCP connections on ${this.port} within ${timeoutMs} ms; ` +
        `cmd: ${PARLEY_BIN} ${args.join(' ')}\n--- server output ---\n${out}`,
    );
  }

  /** SIGTERM, wait up to timeoutMs; returns {code, signal, forced}. SIGKILL as fallback. */
  async stop({ timeoutMs = 5000 } = {}) {
    if (!this.proc || this.exitInfo) return { ...(this.exitInfo || {}), forced: false, already: true };
    this.proc.kill('SIGTERM');
    const res = await Promise.race([this.exited, sleep(timeoutMs).then(() => null)]);
    if (res) return { ...res, forced: false };
    this.proc.kill('SIGKILL');
    const r2 = await this.exited;
    return { ...r2, forced: true };
  }

  /** SIGKILL now (simulated crash). */
  async kill9() {
    if (!this.proc || this.exitInfo) return this.exitInfo;
    this.proc.kill('SIGKILL');
    return await this.exited;
  }

  /** Stop with SIGTERM and assert a clean, timely exit 0 (graceful shutdown is part of the spec). */
  async stopAndAssertClean({ timeoutMs = 5000 } = {}) {
    const wasRunning = this.proc && !this.exitInfo;
    const res = await this.stop({ timeoutMs });
    if (!wasRunning) {
      assert.fail(`server was no longer running before shutdown (${JSON.stringify(this.exitInfo)})\n--- server output ---\n${this.tail()}`);
    }
    assert.ok(!res.forced, `server did not exit within ${timeoutMs} ms of SIGTERM\n--- server output ---\n${this.tail()}`);
    assert.equal(res.code, 0, `server exit after SIGTERM: ${JSON.stringify(res)}\n--- server output ---\n${this.tail()}`);
  }

  /** An API client bound to this server. prefix: '/api/v10' (default) or '/api'. */
  client(token, { bot = false, prefix = '/api/v10' } = {}) {
    return new Client(this, token, { bot, prefix });
  }
}

/** Start a server; convenience wrapper. */
export async function startServer(opts = {}) {
  const s = new Server(opts);
  await s.start(opts);
  return s;
}

/**
 * Issue one HTTP request. Returns {status, headers, text, json, contentType}.
 * body: object → JSON; string/Buffer → sent as is (Content-Type application/json unless given).
 */
export async function request(srv, method, route, { token, bot = false, body, headers = {}, prefix = '/api/v10', timeoutMs = REQUEST_TIMEOUT_MS } = {}) {
  const h = { ...headers };
  if (token != null) h['Authorization'] = bot ? `Bot ${token}` : token;
  let payload;
  if (body !== undefined) {
    if (typeof body === 'string' || body instanceof Uint8Array) payload = body;
    else payload = JSON.stringify(body);
    if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['Content-Type'] = 'application/json';
  }
  const url = route.startsWith('http') ? route : `${srv.origin}${prefix}${route}`;
  let res;
  try {
    res = await fetch(url, { method, headers: h, body: payload, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const e = new Error(`${method} ${url} failed: ${err.message} ${err.cause ? '(' + err.cause.message + ')' : ''}\n--- server output ---\n${srv.tail ? srv.tail(3000) : ''}`);
    e.cause = err;
    throw e;
  }
  const text = await res.text();
  const contentType = res.headers.get('content-type') || '';
  let json;
  if (text.length) {
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
  }
  return { status: res.status, headers: res.headers, text, json, contentType, method, url };
}

function describe(res) {
  return `${res.method} ${res.url} → ${res.status} ${res.text.slice(0, 600)}`;
}
export { describe as describeRes };

export class Client {
  constructor(srv, token, { bot = false, prefix = '/api/v10' } = {}) {
    this.srv = srv;
    this.token = token;
    this.bot = bot;
    this.prefix = prefix;
  }
  req(method, route, opts = {}) {
    return request(this.srv, method, route, { token: this.token, bot: this.bot, prefix: this.prefix, ...opts });
  }
  get(route, opts) {
    return this.req('GET', route, opts);
  }
  post(route, body, opts = {}) {
    return this.req('POST', route, { body, ...opts });
  }
  patch(route, body, opts = {}) {
    return this.req('PATCH', route, { body, ...opts });
  }
  put(route, body, opts = {}) {
    return this.req('PUT', route, { body, ...opts });
  }
  del(route, opts) {
    return this.req('DELETE', route, opts);
  }
}

// ---------------------------------------------------------------- assertions

/** Assert status (number or array of numbers); returns the parsed JSON body. */
export function expectStatus(res, status, msg = '') {
  const ok = Array.isArray(status) ? status.includes(res.status) : res.status === status;
  assert.ok(ok, `${msg ? msg + ': ' : ''}expected ${JSON.stringify(status)}, got ${describe(res)}`);
  if (res.text.length) assertJsonReply(res);
  return res.json;
}

/** Every JSON reply carries Content-Type: application/json. */
export function assertJsonReply(res) {
  assert.ok(res.json !== undefined, `body is not JSON: ${describe(res)}`);
  assert.match(res.contentType, /^application\/json\b/i, `Content-Type of JSON reply is "${res.contentType}": ${describe(res)}`);
}

/**
 * Assert a Discord-style error reply: status (or one of), and {code, message} with code among codes.
 * Returns the body.
 */
export function expectError(res, status, codes, msg = '') {
  const statuses = Array.isArray(status) ? status : [status];
  assert.ok(statuses.includes(res.status), `${msg ? msg + ': ' : ''}expected HTTP ${statuses.join('/')}, got ${describe(res)}`);
  assertJsonReply(res);
  const body = res.json;
  assert.equal(typeof body, 'object', `error body is not an object: ${describe(res)}`);
  assert.equal(typeof body.code, 'number', `error body lacks numeric code: ${describe(res)}`);
  assert.equal(typeof body.message, 'string', `error body lacks message: ${describe(res)}`);
  if (codes !== undefined) {
    const cs = Array.isArray(codes) ? codes : [codes];
    assert.ok(cs.includes(body.code), `${msg ? msg + ': ' : ''}expected code ${cs.join('/')}, got ${describe(res)}`);
  }
  return body;
}

/** 400 / 50035 with a per-field `errors` object mentioning `field` (if given). */
export function expectFieldError(res, field, msg = '') {
  const body = expectError(res, 400, 50035, msg);
  if (field) {
    assert.ok(body.errors && typeof body.errors === 'object', `50035 without errors object: ${describe(res)}`);
    assert.ok(field in body.errors, `50035 errors does not mention "${field}": ${describe(res)}`);
  }
  return body;
}

/** A non-member / no-access reply: 403 50001 or 404 with the given unknown-code. */
export function expectNoAccess(res, unknownCode, msg = '') {
  if (res.status === 403) return expectError(res, 403, 50001, msg);
  return expectError(res, [403, 404], unknownCode, msg);
}

export function isSnowflake(v) {
  return typeof v === 'string' && /^[0-9]{1,20}$/.test(v) && BigInt(v) < 1n << 64n && BigInt(v) > 0n;
}
export function assertSnowflake(v, what = 'id') {
  assert.ok(isSnowflake(v), `${what} is not a snowflake string: ${JSON.stringify(v)}`);
}
export function snowflakeMs(id) {
  return Number((BigInt(id) >> 22n) + DISCORD_EPOCH);
}
/** A syntactically valid snowflake that (almost certainly) names nothing. */
export function fakeSnowflake() {
  const ms = BigInt(Date.now() - 1000 * 3600 * 24 * 400) - DISCORD_EPOCH;
  return ((ms << 22n) | BigInt(Math.floor(Math.random() * 4096))).toString();
}

export function assertIsoTimestamp(v, what = 'timestamp') {
  assert.equal(typeof v, 'string', `${what} is not a string: ${JSON.stringify(v)}`);
  assert.match(v, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/, `${what} is not ISO 8601: ${v}`);
  assert.ok(!Number.isNaN(Date.parse(v)), `${what} unparseable: ${v}`);
}

export function assertUserShape(u, what = 'user') {
  assert.equal(typeof u, 'object', `${what} not an object`);
  assert.ok(u !== null, `${what} is null`);
  assertSnowflake(u.id, `${what}.id`);
  assert.equal(typeof u.username, 'string', `${what}.username`);
  assert.equal(typeof u.discriminator, 'string', `${what}.discriminator must be a string: ${JSON.stringify(u)}`);
  assert.ok('global_name' in u, `${what}.global_name missing: ${JSON.stringify(u)}`);
  assert.ok(u.global_name === null || typeof u.global_name === 'string', `${what}.global_name`);
  assert.ok('avatar' in u, `${what}.avatar missing: ${JSON.stringify(u)}`);
  assert.ok(u.avatar === null || typeof u.avatar === 'string', `${what}.avatar`);
  for (const secret of ['password', 'password_hash', 'hash', 'token', 'token_hash']) {
    assert.ok(!(secret in u), `${what} leaks "${secret}": ${JSON.stringify(u)}`);
  }
  if ('bot' in u) assert.equal(typeof u.bot, 'boolean', `${what}.bot`);
}

const MESSAGE_REQUIRED = {
  id: 'string', channel_id: 'string', author: 'object', content: 'string', timestamp: 'string',
  tts: 'boolean', mention_everyone: 'boolean', mentions: 'array', mention_roles: 'array',
  attachments: 'array', embeds: 'array', pinned: 'boolean', type: 'number',
};

/** Discord message object shape (see discord-compat.md). */
export function assertMessageShape(m, { channelId, content, authorId } = {}) {
  assert.equal(typeof m, 'object', 'message is not an object');
  assert.ok(m !== null, 'message is null');
  const dump = JSON.stringify(m);
  for (const [k, t] of Object.entries(MESSAGE_REQUIRED)) {
    assert.ok(k in m, `message lacks "${k}": ${dump}`);
    if (t === 'array') assert.ok(Array.isArray(m[k]), `message.${k} must be an array: ${dump}`);
    else assert.equal(typeof m[k], t, `message.${k} must be ${t}: ${dump}`);
    assert.ok(m[k] !== null, `message.${k} is null: ${dump}`);
  }
  assert.ok('edited_timestamp' in m, `message lacks edited_timestamp (Discord sends null when not edited): ${dump}`);
  if (m.edited_timestamp !== null) assertIsoTimestamp(m.edited_timestamp, 'edited_timestamp');
  for (const [k, v] of Object.entries(m)) {
    if (k === 'edited_timestamp') continue;
    assert.ok(v !== null, `message.${k} is null; optional keys must be left out: ${dump}`);
  }
  assertSnowflake(m.id, 'message.id');
  assertSnowflake(m.channel_id, 'message.channel_id');
  assertUserShape(m.author, 'message.author');
  assertIsoTimestamp(m.timestamp, 'message.timestamp');
  const fromId = snowflakeMs(m.id);
  const ts = Date.parse(m.timestamp);
  assert.ok(Math.abs(fromId - ts) <= 1, `timestamp ${m.timestamp} (${ts}) does not match id ${m.id} (${fromId})`);
  assert.equal(m.type, 0, `message.type of a default message is 0: ${dump}`);
  if ('flags' in m) assert.equal(typeof m.flags, 'number');
  if (channelId !== undefined) assert.equal(m.channel_id, channelId, 'message.channel_id');
  if (content !== undefined) assert.equal(m.content, content, 'message.content');
  if (authorId !== undefined) assert.equal(m.author.id, authorId, 'message.author.id');
}

/** Newest first: ids strictly decreasing. */
export function assertNewestFirst(list, what = 'history') {
  assert.ok(Array.isArray(list), `${what} is not an array`);
  for (let i = 1; i < list.length; i++) {
    assert.ok(BigInt(list[i - 1].id) > BigInt(list[i].id), `${what} not newest first at index ${i}: ${list.map((m) => m.id).join(',')}`);
  }
}

// ---------------------------------------------------------------- scenario helpers

let nameCounter = 0;
/** A unique username (2–32 chars) for this process. */
export function uniqueName(prefix = 'u') {
  nameCounter++;
  return `${prefix}${process.pid % 10000}_${nameCounter}_${Math.floor(Math.random() * 1e4)}`.slice(0, 32);
}

export const PASSWORD = 'correct horse battery staple 42';

/** Register a user; returns {token, user, client, name}. */
export async function register(srv, name = uniqueName(), password = PASSWORD) {
  const res = await request(srv, 'POST', '/auth/register', { body: { username: name, password } });
  const body = expectStatus(res, 201, `register ${name}`);
  assert.equal(typeof body.token, 'string', 'register token');
  assertUserShape(body.user, 'register.user');
  return { token: body.token, user: body.user, name, password, client: srv.client(body.token) };
}

/** Create a guild as `c` (a Client); returns {guild, channels, general}. */
export async function createGuild(c, name = uniqueName('g')) {
  const res = await c.post('/guilds', { name });
  const guild = expectStatus(res, [200, 201], 'create guild');
  assertSnowflake(guild.id, 'guild.id');
  const chRes = await c.get(`/guilds/${guild.id}/channels`);
  const channels = expectStatus(chRes, 200, 'list guild channels');
  const general = channels.find((ch) => ch.name === 'general' && ch.type === 0);
  assert.ok(general, `no text channel "general" in new guild: ${chRes.text}`);
  return { guild, channels, general };
}

export async function createChannel(c, guildId, name = uniqueName('ch').toLowerCase()) {
  const res = await c.post(`/guilds/${guildId}/channels`, { name, type: 0 });
  const ch = expectStatus(res, [200, 201], 'create channel');
  assertSnowflake(ch.id, 'channel.id');
  return ch;
}

/** Invite + join: `owner` creates an invite on channelId, `joiner` uses it. Returns the invite. */
export async function inviteAndJoin(owner, joiner, channelId) {
  const inv = expectStatus(await owner.post(`/channels/${channelId}/invites`, {}), [200, 201], 'create invite');
  assert.equal(typeof inv.code, 'string', 'invite.code');
  const j = await joiner.post(`/invites/${encodeURIComponent(inv.code)}`, {});
  expectStatus(j, [200, 201, 204], 'join via invite');
  return inv;
}

export async function postMessage(c, channelId, content, extra = {}) {
  const res = await c.post(`/channels/${channelId}/messages`, { content, ...extra });
  const m = expectStatus(res, [200, 201], `post message to ${channelId}`);
  return m;
}

/** Page through a channel's whole history with `before`, newest first. */
export async function fetchAllHistory(c, channelId, { pageSize = 100 } = {}) {
  const all = [];
  let before = null;
  for (let guard = 0; guard < 100_000; guard++) {
    const q = `limit=${pageSize}` + (before ? `&before=${before}` : '');
    const res = await c.get(`/channels/${channelId}/messages?${q}`);
    const page = expectStatus(res, 200, 'history page');
    assert.ok(Array.isArray(page), 'history page is an array');
    assertNewestFirst(page, 'history page');
    if (before) for (const m of page) assert.ok(BigInt(m.id) < BigInt(before), `before=${before} returned ${m.id}`);
    all.push(...page);
    if (page.length < pageSize) break;
    before = page[page.length - 1].id;
  }
  return all;
}

// ---------------------------------------------------------------- raw sockets

/**
 * Send raw bytes over a TCP socket and collect everything the server answers
 * until it closes or `idleMs` passes without data (or `timeoutMs` overall).
 * Returns {data: Buffer, closed: bool, error?: string}.
 */
export function rawExchange(port, chunks, { timeoutMs = 15_000, idleMs = 3000, endAfterWrite = false, delayMs = 0 } = {}) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const bufs = [];
    let closed = false;
    let error;
    let idleTimer;
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(idleTimer);
      clearTimeout(overall);
      sock.destroy();
      resolve({ data: Buffer.concat(bufs), closed, error });
    };
    const overall = setTimeout(finish, timeoutMs);
    const armIdle = () => {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(finish, idleMs);
    };
    sock.on('data', (d) => {
      bufs.push(d);
      armIdle();
    });
    sock.on('end', () => {
      closed = true;
      finish();
    });
    sock.on('close', () => {
      closed = true;
      finish();
    });
    sock.on('error', (e) => {
      error = e.code || e.message;
    });
    sock.on('connect', async () => {
      for (const c of Array.isArray(chunks) ? chunks : [chunks]) {
        if (sock.destroyed) break;
        sock.write(c, () => {});
        if (delayMs) await sleep(delayMs);
      }
      if (endAfterWrite && !sock.destroyed) sock.end();
      armIdle();
    });
  });
}

/** Parse the status codes of every HTTP response in a raw byte stream (best effort). */
export function statusCodes(buf) {
  const s = buf.toString('latin1');
  return [...s.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1]));
}

/** Assert the server still answers a simple authenticated request. */
export async function assertAlive(srv, token, what = '') {
  assert.ok(!srv.exitInfo, `server died ${what}: ${JSON.stringify(srv.exitInfo)}\n--- server output ---\n${srv.tail()}`);
  const res = await request(srv, 'GET', '/users/@me', { token, timeoutMs: 15_000 });
  assert.equal(res.status, 200, `server does not answer properly ${what}: ${describe(res)}`);
}
