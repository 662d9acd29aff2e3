// scripts/cluster.sh as a user runs it: PostgreSQL with a replica, three
// `parley serve --cluster` nodes and nginx in front (deploy/nginx/parley.conf).
// Everything goes through nginx's one address: REST spread over the nodes,
// gateway sessions (raw clients and discord.js) spread by least_conn. Every
// session gets every message, in one order, once, and typing (over Redis).
// SIGINT stops it all.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { Client as DjsClient, Events, GatewayIntentBits as I } from 'discord.js';
import {
  Client, register, createGuild, postMessage, expectStatus, request, sleep, TEST_STORE, PARLEY_BIN, FAST_FLAGS, PASSWORD,
} from './lib/server.mjs';
import { GatewayClient, INTENTS, destroyAll, createBot, addBot } from './lib/gateway.mjs';

const skip = TEST_STORE !== 'sqlite' ? 'runs once, in the SQLite pass of the suite (it makes its own PostgreSQL)' : false;

const clients = [];
const clusters = [];  // every cluster.sh started; the test's own is `cluster`
let cluster = null;
after(async () => {
  destroyAll(clients);
  for (const p of clusters) {
    if (p.exitCode !== null || p.signalCode !== null) continue;
    p.kill('SIGINT');
    await new Promise((r) => p.once('exit', r));
  }
});

function startCluster(nodes, extra = []) {
  return new Promise((resolve, reject) => {
    const proc = spawn('scripts/cluster.sh', ['--nodes', String(nodes), ...extra, '--port', '0', '--bin', PARLEY_BIN, '--', ...FAST_FLAGS, '--allow-privileged-intents'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cluster = proc;
    clusters.push(proc);
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`cluster.sh did not start in 90 s:\n${out}\n${err}`)), 90_000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /Parley cluster is listening on (http:\/\/[^\s]+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        const ports = /ports ([\d ]+)\), Redis on \d+, logs in (\S+)/.exec(err);
        const pids = /node pids ([\d ]+)/.exec(err);
        const roles = /node roles ([a-z, ]+)\n/.exec(err);
        resolve({
          roles: roles ? roles[1].trim().split(' ') : [],
          url: m[1], nodePorts: ports ? ports[1].trim().split(' ').map(Number) : [], dir: ports?.[2],
          nodePids: pids ? pids[1].trim().split(' ').map(Number) : [], stderr: () => err,
        });
      }
    });
    proc.stderr.on('data', (d) => {
      err += d;
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`cluster.sh exited (${code}):\n${out}\n${err}`));
    });
  });
}

// nginx's address as the test helpers take a server.
function frontOf(c) {
  const front = {
    origin: c.url,
    port: Number(new URL(c.url).port),
    tail: () => c.stderr(),
    client(token, opts) {
      return new Client(front, token, opts);
    },
  };
  return front;
}

// An owner, a guild and `n` members who joined it, all through `front`.
async function community(front, n) {
  const owner = await register(front);
  const { guild, general } = await createGuild(owner.client);
  const users = [];
  for (let i = 0; i < n; i++) {
    const m = await register(front);
    const inv = expectStatus(await owner.client.post(`/channels/${general.id}/invites`, {}), [200, 201], 'invite');
    expectStatus(await m.client.post(`/invites/${inv.code}`, {}), [200, 201, 204], 'join');
    users.push(m);
  }
  return { owner, guild, general, users };
}

// One raw gateway session per account, through `front`, one after another.
async function openSessions(front, accounts) {
  const intents = INTENTS.GUILDS | INTENTS.GUILD_MESSAGES | INTENTS.MESSAGE_CONTENT | INTENTS.GUILD_MESSAGE_TYPING;
  const sessions = [];
  for (const x of accounts) {
    const s = await GatewayClient.open(front.port, x.token, { intents }, { label: x.name });
    clients.push(s);
    sessions.push(s);
  }
  return sessions;
}

function portOpen(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

test('scripts/cluster.sh: three nodes behind nginx serve one community', { skip, timeout: 240_000 }, async () => {
  const c = await startCluster(3);
  const front = frontOf(c);
  assert.equal(c.nodePorts.length, 3, `node ports in: ${c.stderr()}`);
  // /gateway points at nginx, not at a node.
  const gw = expectStatus(await request(front, 'GET', '/gateway'), 200, '/gateway');
  assert.equal(gw.url, `ws://127.0.0.1:${front.port}`);

  const { owner, guild, general, users } = await community(front, 5);
  // Six raw sessions through nginx: least_conn spreads them over the nodes.
  const sessions = await openSessions(front, [owner, ...users]);
  const perNode = [];
  for (const p of c.nodePorts) {
    const st = expectStatus(await request({ origin: `http://127.0.0.1:${p}` }, 'GET', '/admin/status', { token: owner.token }), 200, 'node status');
    perNode.push(st.connections.sessions);
  }
  const spread = perNode.filter((n) => n > 0).length;
  assert.ok(spread >= 2, `sessions on at least two nodes: ${JSON.stringify(perNode)}`);

  // Read-modify-writes through nginx, three at once (least_conn spreads
  // them over the nodes): three roles added to one member all stick; an
  // invite with max_uses 1 admits one of three; a username is given once.
  // (Before the bot's session: a role change inside its resume window
  // below would rightly turn its resume into op 9.)
  const roles = [];
  for (let i = 0; i < 3; i++) roles.push(expectStatus(await owner.client.post(`/guilds/${guild.id}/roles`, { name: `rmw${i}` }), 200, 'role'));
  const target = users[1].user.id;
  for (const r of await Promise.all(roles.map((r) => owner.client.put(`/guilds/${guild.id}/members/${target}/roles/${r.id}`)))) expectStatus(r, 204, 'add role');
  const member = expectStatus(await owner.client.get(`/guilds/${guild.id}/members/${target}`), 200, 'member');
  for (const r of roles) assert.ok(member.roles.includes(r.id), `role ${r.name} stuck: ${JSON.stringify(member.roles)}`);
  const one = expectStatus(await owner.client.post(`/channels/${general.id}/invites`, { max_uses: 1 }), [200, 201], 'invite max_uses 1');
  const joiners = [];
  for (let i = 0; i < 3; i++) joiners.push(await register(front));
  const joins = await Promise.all(joiners.map((j) => j.client.post(`/invites/${one.code}`, {})));
  assert.equal(joins.filter((r) => r.status >= 200 && r.status < 300).length, 1, `one of three joins: ${joins.map((r) => r.status)}`);
  const name = `same${Date.now() % 100000}`;
  const regs = await Promise.all([0, 1, 2].map(() => request(front, 'POST', '/auth/register', { body: { username: name, password: PASSWORD } })));
  assert.equal(regs.filter((r) => r.status >= 200 && r.status < 300).length, 1, `one of three registrations of ${name}: ${regs.map((r) => r.status)}`);

  // A discord.js bot through nginx too.
  const bot = await createBot(front, owner.client);
  await addBot(owner.client, guild.id, bot.botId);
  const djs = new DjsClient({
    intents: [I.Guilds, I.GuildMessages, I.MessageContent],
    rest: { api: `${c.url}/api`, version: '10', retries: 1, timeout: 15_000 },
  });
  const djsSeen = [];
  djs.on(Events.MessageCreate, (m) => djsSeen.push(m.id));
  let shardReadies = 0;
  const resumes = [];
  djs.on(Events.ShardReady, () => shardReadies++);
  djs.on(Events.ShardResume, (id, replayed) => resumes.push(replayed));
  const sessionsOf = async () => Promise.all(c.nodePorts.map(async (p) =>
    expectStatus(await request({ origin: `http://127.0.0.1:${p}` }, 'GET', '/admin/status', { token: owner.token }), 200, 'node status').connections.sessions));
  const before = await sessionsOf();
  const ready = new Promise((r) => djs.once(Events.ClientReady, r));
  await djs.login(bot.token);
  await ready;
  // The node the bot's session landed on (the one with one more session).
  const after = await sessionsOf();
  const botNode = after.findIndex((n, i) => n === before[i] + 1);
  assert.ok(botNode >= 0, `the bot's node: ${JSON.stringify(before)} -> ${JSON.stringify(after)}`);
  try {
    // Posts from every member at once, through nginx onto every node.
    const N = 10;
    const posts = [];
    for (let i = 0; i < N; i++) for (const x of users) posts.push(postMessage(x.client, general.id, `${x.name} ${i}`));
    const acked = (await Promise.all(posts)).map((m) => m.id);
    const all = 5 * N;
    const order = [];
    for (const s of sessions) {
      const deadline = Date.now() + 20_000;
      while (s.dispatches.filter((p) => p.t === 'MESSAGE_CREATE').length < all && Date.now() < deadline) await sleep(20);
      const got = s.dispatches.filter((p) => p.t === 'MESSAGE_CREATE').map((p) => p.d.id);
      assert.equal(got.length, all, `${s.label}: ${got.length} of ${all} messages`);
      assert.deepEqual(new Set(got), new Set(acked), `${s.label}: exactly the acknowledged messages`);
      order.push(got);
    }
    for (const o of order.slice(1)) assert.deepEqual(o, order[0], 'one order on every node');
    const deadline = Date.now() + 20_000;
    while (djsSeen.length < all && Date.now() < deadline) await sleep(20);
    assert.deepEqual(djsSeen, order[0], 'discord.js saw them all, in the same order');
    // The bot replies through nginx; everyone sees the reply.
    // Typing (carried between nodes by Redis only) reaches every session.
    expectStatus(await users[0].client.post(`/channels/${general.id}/typing`), 204, 'typing');
    await Promise.all(sessions.slice(1).map((s) => s.nextDispatch('TYPING_START', (d) => d.user_id === users[0].user.id, 10_000)));
    const ch = await djs.channels.fetch(general.id);
    const sent = await ch.send('hello from discord.js');
    await Promise.all(sessions.map((s) => s.nextDispatch('MESSAGE_CREATE', (d) => d.id === sent.id)));
    // Acknowledged means stored: history through nginx holds every one, in
    // the delivered order.
    const hist = expectStatus(await owner.client.get(`/channels/${general.id}/messages?limit=100`), 200, 'history');
    assert.deepEqual(hist.map((m) => m.id).reverse().filter((id) => acked.includes(id)), order[0], 'history order is delivery order');


    // kill -9 of the bot's node: discord.js resumes through nginx on another
    // node by itself (resume_gateway_url is nginx) and gets what was posted
    // meanwhile, exactly once, without identifying again; raw sessions of
    // that node resume too. The cluster goes on without the node.
    // (A heartbeat each first, as clients send every 41 s: the typing above
    // is then behind their checkpoints; an ephemeral event inside the
    // window would make the resume op 9, docs/cluster.md.)
    await sleep(300);  // (the nodes' clock margin, docs/cluster.md)
    // (In a cluster, a heartbeat's ACK comes once its checkpoint is stored.)
    for (const s of sessions) await s.heartbeatAck(s.seq);
    const onKilled = [];
    for (const s of sessions) s.socket.once('close', () => onKilled.push(s));
    process.kill(c.nodePids[botNode], 'SIGKILL');
    await sleep(300);
    const meanwhile = [];
    for (let i = 0; i < 5; i++) meanwhile.push((await postMessage(users[i % 5].client, general.id, `while a node is down ${i}`)).id);
    const deadline2 = Date.now() + 30_000;
    while (resumes.length === 0 && Date.now() < deadline2) await sleep(50);
    assert.equal(resumes.length, 1, 'discord.js resumed');
    assert.equal(shardReadies, 1, 'discord.js did not identify again (no op 9)');
    while (!meanwhile.every((id) => djsSeen.includes(id)) && Date.now() < deadline2) await sleep(50);
    assert.deepEqual(djsSeen.slice(-meanwhile.length), meanwhile, 'discord.js got what was posted while it moved, once, in order');
    assert.equal(new Set(djsSeen).size, djsSeen.length, 'no duplicate');
    for (const s of onKilled) {
      const next = await GatewayClient.connect(front.port, { label: `${s.label} resumed` });
      clients.push(next);
      const r = await next.resume(s === sessions[0] ? owner.token : users[sessions.indexOf(s) - 1].token, s.sessionId, s.seq);
      const why = () => fs.readdirSync(c.dir).filter((f) => /^node\d+\.log$/.test(f))
        .flatMap((f) => fs.readFileSync(`${c.dir}/${f}`, 'utf8').split('\n').filter((l) => l.includes('op 9')));
      assert.ok(r.ok, `${s.label}: resumed exactly through nginx (nodes said: ${JSON.stringify(r.ok ? [] : why())})`);
      const got = r.replayed.filter((p) => p.t === 'MESSAGE_CREATE').map((p) => p.d.id);
      assert.deepEqual(got, meanwhile, `${s.label}: exactly what was posted meanwhile`);
    }
    console.log(`# kill -9 of node ${botNode + 1} behind nginx: discord.js resumed (${resumes[0]} replayed), ` +
      `${onKilled.length} raw sessions resumed exactly`);
  } finally {
    await djs.destroy();
  }
  for (const s of sessions) if (!s.socket.destroyed) s.assertClean();

  // Ctrl-C stops everything it started.
  const dir = c.dir;
  cluster.kill('SIGINT');
  const code = await new Promise((r) => cluster.once('exit', (x) => r(x)));
  assert.equal(code, 0, `cluster.sh exit: ${code}\n${c.stderr()}`);
  for (const p of [front.port, ...c.nodePorts]) assert.equal(await portOpen(p), false, `port ${p} closed after Ctrl-C`);
  if (dir) assert.equal(fs.existsSync(dir), false, `${dir} removed`);
});

test('scripts/cluster.sh --api-nodes 1: gateway nodes and an API node scale apart behind nginx', { skip, timeout: 180_000 }, async () => {
  const c = await startCluster(3, ['--api-nodes', '1']);
  assert.deepEqual(c.roles, ['gateway', 'gateway', 'api'], `roles in: ${c.stderr()}`);
  const front = frontOf(c);
  const node = (i) => ({ origin: `http://127.0.0.1:${c.nodePorts[i]}` });

  // REST through nginx lands on the API node; sessions on the gateway nodes.
  const { owner, general, users } = await community(front, 2);
  const sessions = await openSessions(front, [owner, ...users, owner]);
  const perNode = [];
  for (let i = 0; i < 3; i++) {
    // Operations (/admin/status, /health) answer on every node, whatever its role.
    const st = expectStatus(await request(node(i), 'GET', '/admin/status', { token: owner.token }), 200, 'node status');
    assert.equal(st.cluster.role, c.roles[i]);
    perNode.push(st.connections.sessions);
    const h = await request(node(i), 'GET', '/health', { prefix: '' });
    assert.equal(h.status, 200);
    assert.equal(h.json.role, c.roles[i]);
  }
  assert.equal(perNode[2], 0, `no session on the API node: ${JSON.stringify(perNode)}`);
  assert.equal(perNode[0] + perNode[1], sessions.length, `every session on a gateway node: ${JSON.stringify(perNode)}`);

  // Straight to a node, what it does not serve is a clear 404.
  const rest = await request(node(0), 'GET', '/gateway');
  assert.equal(rest.status, 404);
  assert.match(rest.json.message, /does not serve the API/);
  const page = await request(node(0), 'GET', '/', { prefix: '' });
  assert.equal(page.status, 404, 'no web client on a gateway node');
  await assert.rejects(GatewayClient.connect(c.nodePorts[2]), (e) => e.status === 404 && /does not serve the gateway/.test(e.message));
  const app = await request(front, 'GET', '/', { prefix: '' });
  assert.equal(app.status, 200, 'the web client through nginx (from the API node)');

  // Messages posted on the API node reach every session on both gateway
  // nodes (by the bus and the log), once, in one order; typing too.
  const posts = [];
  for (let i = 0; i < 10; i++) for (const x of users) posts.push(postMessage(x.client, general.id, `${x.name} ${i}`));
  const acked = (await Promise.all(posts)).map((m) => m.id);
  const order = [];
  for (const s of sessions) {
    const deadline = Date.now() + 20_000;
    while (s.dispatches.filter((p) => p.t === 'MESSAGE_CREATE').length < acked.length && Date.now() < deadline) await sleep(20);
    const got = s.dispatches.filter((p) => p.t === 'MESSAGE_CREATE').map((p) => p.d.id);
    assert.deepEqual(new Set(got), new Set(acked), `${s.label}: exactly the acknowledged messages`);
    assert.equal(got.length, acked.length, `${s.label}: no duplicate`);
    order.push(got);
  }
  for (const o of order.slice(1)) assert.deepEqual(o, order[0], 'one order on both gateway nodes');
  expectStatus(await users[0].client.post(`/channels/${general.id}/typing`), 204, 'typing');
  await Promise.all(sessions.filter((s) => s.label !== users[0].name).map((s) => s.nextDispatch('TYPING_START', (d) => d.user_id === users[0].user.id, 10_000)));
  for (const s of sessions) s.assertClean();

  cluster.kill('SIGINT');
  const code = await new Promise((r) => cluster.once('exit', (x) => r(x)));
  assert.equal(code, 0, `cluster.sh exit: ${code}\n${c.stderr()}`);
});
