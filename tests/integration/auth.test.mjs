// Identity and auth (issue §3): register, login, logout, bots, users endpoints,
// both API prefixes, 401 handling.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, request, register, uniqueName, PASSWORD, expectStatus, expectError, expectFieldError,
  assertUserShape, assertSnowflake, fakeSnowflake, snowflakeMs,
} from './lib/server.mjs';

let srv;
before(async () => {
  srv = await startServer();
});
after(async () => {
  if (srv) await srv.stopAndAssertClean();
});

test('register returns 201 {token, user} with a snowflake user id', async () => {
  const name = uniqueName('reg');
  const t0 = Date.now();
  const res = await request(srv, 'POST', '/auth/register', { body: { username: name, password: PASSWORD } });
  const body = expectStatus(res, 201);
  assert.equal(typeof body.token, 'string');
  assert.ok(body.token.length >= 20, `token too short to carry 128 random bits: ${body.token}`);
  assertUserShape(body.user);
  assert.equal(body.user.username, name);
  assertSnowflake(body.user.id);
  const ms = snowflakeMs(body.user.id);
  assert.ok(ms >= t0 - 5000 && ms <= Date.now() + 5000, `user id ${body.user.id} timestamp ${ms} not near now (${t0})`);
  assert.ok(!('bot' in body.user) || body.user.bot === false, 'a user is not a bot');
});

test('tokens differ between users and between sessions', async () => {
  const a = await register(srv);
  const b = await register(srv);
  assert.notEqual(a.token, b.token);
  const login = expectStatus(
    await request(srv, 'POST', '/auth/login', { body: { username: a.name, password: PASSWORD } }),
    200,
  );
  assert.notEqual(login.token, a.token, 'a new login gets a fresh token');
});

test('usernames must be 2–32 characters', async () => {
  expectFieldError(await request(srv, 'POST', '/auth/register', { body: { username: 'x', password: PASSWORD } }), 'username', '1 char');
  expectFieldError(
    await request(srv, 'POST', '/auth/register', { body: { username: 'y'.repeat(33), password: PASSWORD } }),
    'username',
    '33 chars',
  );
  // exactly 2 and exactly 32 are fine
  const two = `${String.fromCharCode(97 + (process.pid % 26))}${(process.pid >> 5) % 10}`;
  const r2 = await request(srv, 'POST', '/auth/register', { body: { username: two, password: PASSWORD } });
  expectStatus(r2, 201, '2-char username');
  const n32 = (uniqueName('l') + 'z'.repeat(32)).slice(0, 32);
  expectStatus(await request(srv, 'POST', '/auth/register', { body: { username: n32, password: PASSWORD } }), 201, '32-char username');
});

test('usernames follow Discord\'s current rules: letters, digits, _ and ., nothing hidden or look-alike', async () => {
  const base = uniqueName('n');
  const refused = [
    `${base}\u0000x`, // NUL
    `${base}\u202Etxt`, // right-to-left override
    `ad\u200Bmin${base}`.slice(0, 32), // zero-width space
    `${base}\uFEFF`, // BOM
    `\u0430dmin${base}`.slice(0, 32), // Cyrillic а, looks like a Latin a
    `${base} x`, // space
    `${base}-x`, // hyphen
    `${base}..x`, // two periods
  ];
  for (const username of refused) {
    const res = await request(srv, 'POST', '/auth/register', { body: { username, password: PASSWORD } });
    const body = expectFieldError(res, 'username', JSON.stringify(username));
    assert.equal(body.errors.username._errors[0].code, 'USERNAME_INVALID_CHARACTERS', JSON.stringify(username));
  }
  expectStatus(await request(srv, 'POST', '/auth/register', { body: { username: `${base}.x_Y9`, password: PASSWORD } }), 201, 'letters, digits, _ and .');
  // A display name may hold any script, but nothing hidden either.
  const u = await register(srv);
  expectStatus(await u.client.patch('/users/@me', { global_name: 'Zoë Дмитрий 李' }), 200, 'any script');
  expectFieldError(await u.client.patch('/users/@me', { global_name: 'evil\u202Egnp.exe' }), 'global_name', 'bidi override');
  expectFieldError(await u.client.patch('/users/@me', { username: `${base}\u200D` }), 'username', 'zero-width joiner');
});

test('missing username or password → 400 50035', async () => {
  expectFieldError(await request(srv, 'POST', '/auth/register', { body: { password: PASSWORD } }), 'username');
  expectFieldError(await request(srv, 'POST', '/auth/register', { body: { username: uniqueName() } }), 'password');
  expectFieldError(await request(srv, 'POST', '/auth/register', { body: { username: 12345, password: PASSWORD } }), 'username');
});

test('usernames are unique case-insensitively', async () => {
  const base = uniqueName('Case');
  await register(srv, base);
  const dupSame = await request(srv, 'POST', '/auth/register', { body: { username: base, password: PASSWORD } });
  expectFieldError(dupSame, 'username', 'exact duplicate');
  const swapped = base === base.toUpperCase() ? base.toLowerCase() : base.toUpperCase();
  const dupCase = await request(srv, 'POST', '/auth/register', { body: { username: swapped, password: PASSWORD } });
  expectFieldError(dupCase, 'username', 'case-insensitive duplicate');
});

test('login works, wrong password or unknown user is refused with a Discord error body', async () => {
  const u = await register(srv);
  const ok = expectStatus(await request(srv, 'POST', '/auth/login', { body: { username: u.name, password: PASSWORD } }), 200);
  assert.equal(typeof ok.token, 'string');
  assertUserShape(ok.user);
  assert.equal(ok.user.id, u.user.id);
  const me = expectStatus(await request(srv, 'GET', '/users/@me', { token: ok.token }), 200);
  assert.equal(me.id, u.user.id);

  for (const body of [
    { username: u.name, password: PASSWORD + 'x' },
    { username: uniqueName('nobody'), password: PASSWORD },
  ]) {
    const bad = await request(srv, 'POST', '/auth/login', { body });
    assert.ok([400, 401].includes(bad.status), `bad login → ${bad.status} ${bad.text}`);
    const e = expectError(bad, [400, 401]);
    if (bad.status === 400) assert.equal(e.code, 50035, 'a 400 login refusal uses 50035');
    else assert.equal(e.code, 0, 'a 401 uses code 0');
    assert.ok(!('token' in e), 'no token on failed login');
  }
});

test('logout revokes the token (204, then 401) but not other sessions', async () => {
  const u = await register(srv);
  const second = expectStatus(await request(srv, 'POST', '/auth/login', { body: { username: u.name, password: PASSWORD } }), 200);
  const out = await request(srv, 'POST', '/auth/logout', { token: second.token });
  assert.equal(out.status, 204, `logout: ${out.status} ${out.text}`);
  expectError(await request(srv, 'GET', '/users/@me', { token: second.token }), 401, 0, 'revoked token');
  // the registration token is another session and keeps working
  expectStatus(await request(srv, 'GET', '/users/@me', { token: u.token }), 200, 'other session');
  // logging out without a token is a 401
  expectError(await request(srv, 'POST', '/auth/logout', {}), 401, 0);
});

test('missing, malformed and unknown tokens → 401 code 0', async () => {
  expectError(await request(srv, 'GET', '/users/@me'), 401, 0, 'no token');
  expectError(await request(srv, 'GET', '/users/@me', { token: 'not-a-token' }), 401, 0, 'garbage token');
  expectError(await request(srv, 'GET', '/users/@me', { token: 'A'.repeat(64) }), 401, 0, 'unknown token');
  expectError(await request(srv, 'GET', '/users/@me', { headers: { Authorization: '' } }), 401, 0, 'empty header');
  expectError(await request(srv, 'GET', '/users/@me', { headers: { Authorization: 'Bot ' } }), 401, 0, '"Bot " only');
  expectError(await request(srv, 'POST', '/guilds', { body: { name: 'nope' } }), 401, 0, 'create guild without token');
  const u = await register(srv);
  // A user token presented as a bot token is not accepted
  expectError(await request(srv, 'GET', '/users/@me', { token: u.token, bot: true }), 401, 0, 'user token with Bot prefix');
});

test('both /api/v10 and /api (no version) serve the API', async () => {
  const name = uniqueName('pfx');
  const r = await request(srv, 'POST', '/auth/register', { body: { username: name, password: PASSWORD }, prefix: '/api' });
  const body = expectStatus(r, 201, 'register via /api');
  const v10 = expectStatus(await request(srv, 'GET', '/users/@me', { token: body.token, prefix: '/api/v10' }), 200);
  const bare = expectStatus(await request(srv, 'GET', '/users/@me', { token: body.token, prefix: '/api' }), 200);
  assert.deepEqual(v10, bare);
  assert.equal(bare.username, name);
  // Outside /api, a GET is the browser client's business (it serves its app
  // or 404 without one); the API itself is not there.
  const notApi = await request(srv, 'GET', '/users/@me', { token: body.token, prefix: '/nope' });
  assert.ok(!(notApi.contentType || '').includes('application/json') || notApi.status === 404,
    `unknown prefix answered like the API: ${notApi.status} ${notApi.text.slice(0, 100)}`);
  const notFound = await request(srv, 'POST', '/users/@me', { token: body.token, prefix: '/nope', body: {} });
  assert.equal(notFound.status, 404, `unknown prefix: ${notFound.status}`);
});

test('GET /users/@me and /users/{id}', async () => {
  const a = await register(srv);
  const b = await register(srv);
  const me = expectStatus(await a.client.get('/users/@me'), 200);
  assertUserShape(me, '@me');
  assert.equal(me.id, a.user.id);
  assert.equal(me.username, a.name);
  const other = expectStatus(await a.client.get(`/users/${b.user.id}`), 200);
  assertUserShape(other, 'other user');
  assert.equal(other.id, b.user.id);
  assert.equal(other.username, b.name);
  expectError(await a.client.get(`/users/${fakeSnowflake()}`), 404, 10013, 'unknown user');
});

test('GET /users/@me/guilds lists joined guilds only', async () => {
  const a = await register(srv);
  const b = await register(srv);
  const list0 = expectStatus(await a.client.get('/users/@me/guilds'), 200);
  assert.deepEqual(list0, []);
  const g = expectStatus(await a.client.post('/guilds', { name: 'mine' }), [200, 201]);
  const list1 = expectStatus(await a.client.get('/users/@me/guilds'), 200);
  assert.equal(list1.length, 1);
  assert.equal(list1[0].id, g.id);
  assert.equal(list1[0].name, 'mine');
  assert.deepEqual(expectStatus(await b.client.get('/users/@me/guilds'), 200), []);
});

test('path segments are percent-decoded before routing, as bot libraries encode them', async () => {
  const a = await register(srv);
  const me = expectStatus(await a.client.get('/users/@me'), 200);
  // discord-api-types' Routes send "@me" as "%40me".
  assert.deepEqual(expectStatus(await a.client.get('/users/%40me'), 200, '/users/%40me'), me);
  assert.deepEqual(expectStatus(await a.client.get('/users/%40me/guilds'), 200, '/users/%40me/guilds'), []);
  expectStatus(await a.client.get('/%75sers/%40me'), 200, 'an encoded letter of a fixed segment');
  // "%2F" is a slash inside one segment, never a separator: /users/{id} with
  // a bad id, not /users/@me/guilds.
  expectError(await a.client.get('/users/%40me%2Fguilds'), 404, 10013, 'encoded slash');
  // A malformed escape matches no route: Discord's 404 body, never a crash.
  for (const bad of ['/users/%4', '/users/%zzme', '/users/%']) {
    expectError(await a.client.get(bad), 404, 0, bad);
  }
});

test('applications: create a bot, authenticate as it, GET /applications/@me', async () => {
  const owner = await register(srv);
  const appName = uniqueName('app');
  const res = await owner.client.post('/applications', { name: appName });
  const app = expectStatus(res, [200, 201], 'create application');
  assertSnowflake(app.id, 'application.id');
  assert.equal(app.name, appName);
  assert.ok(app.bot && typeof app.bot === 'object', 'application.bot');
  assertSnowflake(app.bot.id, 'application.bot.id');
  assert.equal(typeof app.bot.username, 'string');
  assert.equal(app.bot.bot, true);
  assert.equal(typeof app.token, 'string');
  assert.ok(app.token.length >= 20, 'bot token too short');

  const bot = srv.client(app.token, { bot: true });
  const me = expectStatus(await bot.get('/users/@me'), 200, 'bot @me');
  assertUserShape(me, 'bot user');
  assert.equal(me.id, app.bot.id);
  assert.equal(me.bot, true);

  const appMe = expectStatus(await bot.get('/applications/@me'), 200, 'GET /applications/@me');
  assert.equal(appMe.id, app.id);
  assert.equal(appMe.name, appName);
  assert.ok(!('token' in appMe), 'GET /applications/@me must not return the token');
  // Discord's "Get Current Bot Application Information", which every bot
  // library calls at start-up.
  const oauthMe = expectStatus(await bot.get('/oauth2/applications/@me'), 200, 'GET /oauth2/applications/@me');
  assert.deepEqual(oauthMe, appMe);
  // Discord's required fields, as Parley has them: no teams, event
  // webhooks disabled, a stable 64-hex verify_key (no interactions here).
  for (const a of [app, appMe]) {
    assert.match(a.verify_key, /^[0-9a-f]{64}$/, 'verify_key');
    assert.equal(a.team, null, 'team');
    assert.equal(a.event_webhooks_status, 1, 'event_webhooks_status');
  }
  assert.equal(app.verify_key, appMe.verify_key, 'verify_key is stable');

  // "Edit Current Application": the bot sets its own limited intent flags
  // (not the others, nor anything for a user token, which has no
  // application); the owner's flags stay.
  const LIMITED_CONTENT = 1 << 19, CONTENT = 1 << 18, MEMBERS = 1 << 14;
  expectStatus(await owner.client.patch(`/applications/${app.id}`, { flags: MEMBERS }), 200, 'owner grants GUILD_MEMBERS');
  const edited = expectStatus(await bot.patch('/applications/@me', { flags: LIMITED_CONTENT }), 200, 'PATCH /applications/@me');
  assert.equal(edited.flags, LIMITED_CONTENT | MEMBERS, 'the limited flag set, the owner\'s kept');
  expectFieldError(await bot.patch('/applications/@me', { flags: CONTENT }), 'flags', 'a bot cannot set GATEWAY_MESSAGE_CONTENT');
  expectError(await owner.client.patch('/applications/@me', { flags: 0 }), 404, 10002, 'a user has no current application');

  // Bot tokens need the "Bot " prefix
  expectError(await request(srv, 'GET', '/users/@me', { token: app.token }), 401, 0, 'bot token without prefix');
  // Creating an application requires a logged-in user
  expectError(await request(srv, 'POST', '/applications', { body: { name: 'x' } }), 401, 0);
  // Application name validation
  expectFieldError(await owner.client.post('/applications', {}), 'name', 'application without name');
});

test('--node-id and PARLEY_NODE_ID set the worker/process bits of snowflakes', async () => {
  const { Server, FAST_FLAGS } = await import('./lib/server.mjs');
  const check = async (s, nodeId) => {
    try {
      await s.start();
      const u = await register(s);
      const a = expectStatus(await u.client.post('/guilds', { name: 'node id guild' }), [200, 201]);
      for (const id of [u.user.id, a.id]) {
        assert.equal(Number((BigInt(id) >> 12n) & 1023n), nodeId, `id ${id} carries node id ${nodeId} in bits 12..21`);
      }
    } finally {
      await s.stopAndAssertClean();
    }
  };
  await check(new Server({ extraArgs: [...FAST_FLAGS, '--node-id', '37'] }), 37);
  await check(new Server({ extraArgs: FAST_FLAGS, env: { PARLEY_NODE_ID: '1022' } }), 1022);
});

test('the data directory stores neither tokens nor passwords in clear', async () => {
  const { Server, FAST_FLAGS } = await import('./lib/server.mjs');
  const fs = await import('node:fs');
  const path = await import('node:path');
  const s = new Server({ extraArgs: FAST_FLAGS });
  const secrets = [];
  let username = null;
  try {
    await s.start();
    const pw = `Very-Distinct-Password-${Math.random().toString(36).slice(2)}`;
    const u = await register(s, uniqueName('sec'), pw);
    username = u.name;
    const login = expectStatus(await request(s, 'POST', '/auth/login', { body: { username: u.name, password: pw } }), 200);
    const app = expectStatus(await u.client.post('/applications', { name: uniqueName('secbot') }), [200, 201]);
    secrets.push(['password', pw], ['register token', u.token], ['login token', login.token], ['bot token', app.token]);
  } finally {
    await s.stopAndAssertClean();
  }
  const { TEST_STORE, storeUrlFor } = await import('./lib/server.mjs');
  if (TEST_STORE === 'postgres') {
    // The store is the database: all of it, as pg_dump writes it.
    const { execFileSync } = await import('node:child_process');
    const dump = execFileSync('pg_dump', ['--data-only', storeUrlFor(s.dataDir)]);
    assert.ok(dump.includes(Buffer.from(username)), 'the dump holds the users');
    for (const [what, secret] of secrets) {
      assert.ok(!dump.includes(Buffer.from(secret)), `${what} stored in clear in the database`);
    }
    return;
  }
  const files = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) files.push(p);
    }
  };
  walk(s.dataDir);
  assert.ok(files.length > 0, 'the data directory holds the store');
  for (const f of files) {
    const buf = fs.readFileSync(f);
    for (const [what, secret] of secrets) {
      assert.ok(!buf.includes(Buffer.from(secret)), `${what} stored in clear in ${f}`);
    }
  }
});
