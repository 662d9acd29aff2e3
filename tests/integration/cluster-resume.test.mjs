// Resume on any node, exactly (docs/cluster.md, "Sessions and resume on any
// node"): sessions of a node killed with -9, of a drained node (op 7), and
// of a live node the client left, resume on another node with exactly the
// dispatches they missed, with consecutive `s`, then RESUMED, typing and
// presence updates in their places included; where that cannot be rebuilt
// (a permission change inside the window) they get op 9, never a gap or a
// duplicate. Two nodes on one PostgreSQL database and one Redis.
import { test } from 'node:test';
import net from 'node:net';
import assert from 'node:assert/strict';
import {
  register, createGuild, postMessage, expectStatus,
  sleep, newTestDatabase, inviteAndJoin, P, perms,
} from './lib/server.mjs';
import { GatewayClient, INTENTS, OP } from './lib/gateway.mjs';
import { startRedis } from './lib/redis.mjs';
import { clusterSkip, harness, startClusterNode, eventually as eventuallyWithin } from './lib/cluster.mjs';

const skip = clusterSkip('sqlite');
const { servers, clients } = harness();
const startNode = (store, nodeId, redisPort) =>
  startClusterNode(servers, store, nodeId, ['--redis', `redis://127.0.0.1:${redisPort}`], { tag: 'resume' });
const eventually = (what, check, timeoutMs = 15_000) => eventuallyWithin(what, check, timeoutMs);

// Guild and message events only: presences come and go with sessions.
const INT = INTENTS.GUILDS | INTENTS.GUILD_MESSAGES | INTENTS.MESSAGE_CONTENT;
const created = (gw) => gw.dispatches.filter((p) => p.t === 'MESSAGE_CREATE').map((p) => p.d.content);

async function openOn(srv, token, label) {
  const gw = await GatewayClient.open(srv.port, token, { intents: INT }, { label });
  clients.push(gw);
  return gw;
}

// Resumes `gw`'s session on `srv` with `seq` on a new connection, and
// checks the answer is exact: the replay is numbered seq+1, seq+2, ...
// then RESUMED. Returns the new client and the replayed dispatches.
async function resumeOn(srv, token, gw, seq, label) {
  const next = await GatewayClient.connect(srv.port, { label });
  clients.push(next);
  const r = await next.resume(token, gw.sessionId, seq);
  if (!r.ok) return { next, ok: false };
  r.replayed.forEach((p, i) => assert.equal(p.s, seq + 1 + i, `${label}: replay numbering`));
  assert.equal(r.resumed.s, seq + 1 + r.replayed.length, `${label}: RESUMED numbering`);
  return { next, ok: true, replayed: r.replayed };
}

async function cluster(tag) {
  const { url: store } = newTestDatabase(tag);
  const { port: redisPort } = await startRedis();
  const a = await startNode(store, 1, redisPort);
  const b = await startNode(store, 2, redisPort);
  const owner = await register(a);
  const { guild, general } = await createGuild(owner.client);
  const members = [];
  for (let i = 0; i < 6; i++) {
    const m = await register(a);
    await inviteAndJoin(owner.client, m.client, general.id);
    members.push(m);
  }
  // Both nodes know everyone before sessions open.
  await eventually('B caught up', async () =>
    (await b.client(members.at(-1).token).get(`/channels/${general.id}/messages?limit=1`)).status === 200);
  return { store, redisPort, a, b, owner, guild, general, members };
}

test('sessions of a node killed with -9 resume exactly on another node', { skip, timeout: 180_000 }, async () => {
  const { a, b, owner, general, members } = await cluster('resume_kill');
  const onB = b.client(owner.token);
  const sessions = [];
  for (const [i, m] of members.entries()) sessions.push({ m, gw: await openOn(a, m.token, `m${i}@A`) });
  // Some traffic, then a heartbeat each (a checkpoint at what the client has).
  for (let i = 0; i < 10; i++) await postMessage(owner.client, general.id, `before ${i}`);
  for (const { gw } of sessions) {
    await eventually(`${gw.label} got the first messages`, () => created(gw).length === 10);
    await gw.heartbeatAck(gw.seq);
  }
  // More that clients get; half of them "lose" the last three (in flight
  // when the node died: the client resumes from what it has).
  for (let i = 0; i < 6; i++) await postMessage(owner.client, general.id, `after hb ${i}`);
  for (const { gw } of sessions) await eventually(`${gw.label} got them`, () => created(gw).length === 16);

  await a.kill9();
  for (const { gw } of sessions) gw.destroy();
  // Posted while the sessions are away: all must be replayed.
  const missed = [];
  for (let i = 0; i < 8; i++) {
    missed.push(`while away ${i}`);
    await postMessage(onB, general.id, `while away ${i}`);
  }

  let exact = 0;
  const started = Date.now();
  for (const [i, { m, gw }] of sessions.entries()) {
    const lost = i % 2 ? 3 : 0;
    const seq = gw.seq - lost;
    const have = created(gw).slice(0, created(gw).length - lost);
    const r = await resumeOn(b, m.token, gw, seq, `m${i}@B`);
    assert.ok(r.ok, `m${i}: resumed on B (not op 9)`);
    const replayedContents = r.replayed.filter((p) => p.t === 'MESSAGE_CREATE').map((p) => p.d.content);
    assert.deepEqual(replayedContents, [...created(gw).slice(have.length), ...missed],
      `m${i}: exactly what it missed, in order`);
    // Numbering goes on: a message now arrives with the next s.
    exact++;
    sessions[i].next = r.next;
  }
  const took = Date.now() - started;
  await postMessage(onB, general.id, 'live on B');
  for (const { next } of sessions) {
    const p = await next.nextDispatch('MESSAGE_CREATE', (d) => d.content === 'live on B');
    next.checkSeq('after the takeover');
    assert.ok(p);
  }
  console.log(`# kill -9: ${exact}/${sessions.length} sessions resumed exactly on the other node (${took} ms for all)`);
  const metrics = await (await fetch(`http://127.0.0.1:${b.port}/metrics`)).text();
  assert.match(metrics, new RegExp(`parley_cluster_takeovers_total ${sessions.length}\\b`));
});

test('sessions of a node killed and restarted at once (same node id) resume exactly on another node', { skip, timeout: 180_000 }, async () => {
  const { store, redisPort, a, b, owner, general, members } = await cluster('resume_restart');
  const onB = b.client(owner.token);
  const sessions = [];
  for (const [i, m] of members.slice(0, 3).entries()) sessions.push({ m, gw: await openOn(a, m.token, `r${i}@A`) });
  await postMessage(owner.client, general.id, 'before');
  for (const { gw } of sessions) {
    await eventually(`${gw.label} got it`, () => created(gw).length === 1);
    await gw.heartbeatAck(gw.seq);
  }
  await a.kill9();
  for (const { gw } of sessions) gw.destroy();
  // Node 1 again (systemd's Restart=always), before the clients come back:
  // B asks it for the sessions, and it answers for its earlier process.
  const a2 = await startNode(store, 1, redisPort);
  await eventually('the new node 1 on the bus', async () => {
    const h = await (await fetch(`http://127.0.0.1:${a2.port}/health`)).json();
    return h.bus === 'up';
  });
  await postMessage(onB, general.id, 'while away');
  for (const [i, { m, gw }] of sessions.entries()) {
    const r = await resumeOn(b, m.token, gw, gw.seq, `r${i}@B`);
    assert.ok(r.ok, `r${i}: resumed on B though node 1 is back under the same id (not op 9)`);
    assert.deepEqual(r.replayed.filter((p) => p.t === 'MESSAGE_CREATE').map((p) => p.d.content), ['while away']);
  }
});

test('a drained node (op 7) and a live node the client left hand their sessions over', { skip, timeout: 180_000 }, async () => {
  const { a, b, owner, general, members } = await cluster('resume_drain');
  const onB = b.client(owner.token);

  // A live owner: the client drops its connection to A and resumes on B
  // while A still holds the session; A hands it over.
  const left = await openOn(a, members[0].token, 'left@A');
  await postMessage(owner.client, general.id, 'one');
  await eventually('left got one', () => created(left).length === 1);
  left.destroy();
  await postMessage(owner.client, general.id, 'two');
  const moved = await resumeOn(b, members[0].token, left, left.seq, 'left@B');
  assert.ok(moved.ok, 'resumed on B after A handed the session over');
  assert.deepEqual(moved.replayed.filter((p) => p.t === 'MESSAGE_CREATE').map((p) => p.d.content), ['two']);
  await postMessage(owner.client, general.id, 'three');
  await moved.next.nextDispatch('MESSAGE_CREATE', (d) => d.content === 'three');
  moved.next.checkSeq();

  // A client behind every point its node knows (dispatches in flight when
  // its connection ended, past the mark its last heartbeat set): the
  // checkpoint stored last stands, and the resume is exact.
  const behind = await openOn(a, members[0].token, 'behind@A');
  for (const t of ['b1', 'b2']) await postMessage(owner.client, general.id, t);
  await eventually('behind got b1, b2', () => created(behind).length === 2);
  await behind.heartbeatAck(behind.seq);  // stored at b2; the mark at b2
  for (const t of ['b3', 'b4']) await postMessage(owner.client, general.id, t);
  await eventually('behind got b3, b4', () => created(behind).length === 4);
  const atB2 = behind.seq - 2;
  await behind.heartbeatAck(atB2);  // acknowledges b2 only: stored at b2 again; the mark at b4
  behind.destroy();
  await postMessage(owner.client, general.id, 'b5');
  const back = await resumeOn(b, members[0].token, behind, atB2 + 1, 'behind@B');  // it had b3, not b4
  assert.ok(back.ok, 'resumed on B though the client was behind the mark');
  assert.deepEqual(back.replayed.filter((p) => p.t === 'MESSAGE_CREATE').map((p) => p.d.content), ['b4', 'b5']);

  // Drain: SIGTERM to B; its sessions get op 7, then resume on A exactly.
  const drained = [];
  for (const [i, m] of members.slice(1).entries()) drained.push({ m, gw: await openOn(b, m.token, `d${i}@B`) });
  await postMessage(owner.client, general.id, 'before drain');
  for (const { gw } of drained) await eventually(`${gw.label} got it`, () => created(gw).includes('before drain'));
  const stopping = b.stop();
  for (const { gw } of drained) await gw.next((p) => p.op === OP.RECONNECT, 10_000, 'op 7');
  await stopping;
  await postMessage(owner.client, general.id, 'after drain');
  for (const [i, { m, gw }] of drained.entries()) {
    const r = await resumeOn(a, m.token, gw, gw.seq, `d${i}@A`);
    assert.ok(r.ok, `d${i}: resumed on A after the drain`);
    assert.deepEqual(r.replayed.filter((p) => p.t === 'MESSAGE_CREATE').map((p) => p.d.content), ['after drain']);
  }
  void onB;
});

test('typing and presence updates inside the window are replayed in their places', { skip, timeout: 180_000 }, async () => {
  const { a, b, owner, general, members } = await cluster('resume_ephemeral');
  const onB = b.client(owner.token);
  const EPH = INT | INTENTS.GUILD_MESSAGE_TYPING | INTENTS.GUILD_PRESENCES;
  const open = async (srv, m, label) => {
    const gw = await GatewayClient.open(srv.port, m.token, { intents: EPH }, { label });
    clients.push(gw);
    return gw;
  };
  // Two sessions on A (one will lose its last dispatches in flight), a
  // member whose presence changes on B, and a watcher on B that never moves.
  const full = await open(a, members[0], 'full@A');
  const lossy = await open(a, members[1], 'lossy@A');
  const mover = await open(b, members[2], 'mover@B');
  const watcher = await open(b, members[3], 'watcher@B');
  await sleep(300);  // (the sessions' own presences, then a checkpoint after them)
  for (const gw of [full, lossy]) await gw.heartbeatAck(gw.seq);
  const marks = [full, lossy].map((gw) => gw.dispatches.length);
  // Inside the window, interleaved: messages, typing from both nodes, a
  // presence change.
  await postMessage(owner.client, general.id, 'm1');
  expectStatus(await a.client(members[4].token).post(`/channels/${general.id}/typing`, {}), [204], 'typing on A');
  await postMessage(onB, general.id, 'm2');
  mover.setPresence('idle');
  await watcher.nextDispatch('PRESENCE_UPDATE', (d) => d.user.id === members[2].user.id && d.status === 'idle');
  expectStatus(await b.client(members[5].token).post(`/channels/${general.id}/typing`, {}), [204], 'typing on B');
  await postMessage(owner.client, general.id, 'm3');
  const kinds = (gw, from) => gw.dispatches.slice(from).map((p) => p.t);
  for (const [i, gw] of [full, lossy].entries()) {
    await eventually(`${gw.label} got the window`, () => {
      const k = kinds(gw, marks[i]);
      return k.filter((t) => t === 'MESSAGE_CREATE').length === 3 && k.filter((t) => t === 'TYPING_START').length === 2 &&
        k.includes('PRESENCE_UPDATE');
    });
  }
  await a.kill9();
  for (const gw of [full, lossy]) gw.destroy();
  await postMessage(onB, general.id, 'm4');
  // Typing that only B delivered (A was dead): the resumed sessions get it too.
  expectStatus(await b.client(members[4].token).post(`/channels/${general.id}/typing`, {}), [204], 'typing on B after the kill');
  await watcher.nextDispatch('TYPING_START', (d) => d.user_id === members[4].user.id);

  // Everything it had: only what came after (m4), no op 9.
  const r1 = await resumeOn(b, members[0].token, full, full.seq, 'full@B');
  assert.ok(r1.ok, 'typing and presence inside the window: resumed exactly (not op 9)');
  assert.deepEqual(r1.replayed.filter((p) => p.t === 'MESSAGE_CREATE').map((p) => p.d.content), ['m4']);
  assert.deepEqual(r1.replayed.filter((p) => p.t === 'TYPING_START').map((p) => p.d.user_id), [members[4].user.id],
    'only the typing A never had, once');
  assert.equal(r1.replayed.filter((p) => p.t === 'PRESENCE_UPDATE' && p.d.user.id === members[2].user.id).length, 0,
    'the presence change it had, not again');
  // It lost its last four dispatches: they come again, the same ones with
  // the same numbers, then m4.
  const lost = lossy.dispatches.slice(-4);
  const r2 = await resumeOn(b, members[1].token, lossy, lossy.seq - 4, 'lossy@B');
  assert.ok(r2.ok, 'resumed exactly from four dispatches back');
  const shape = (p) => [p.s, p.t, p.t === 'MESSAGE_CREATE' ? p.d.content : p.t === 'TYPING_START' ? p.d.user_id : p.d.user?.id];
  assert.deepEqual(r2.replayed.slice(0, 4).map(shape), lost.map(shape), 'the lost dispatches, each in its place');
  assert.deepEqual(r2.replayed.slice(4).filter((p) => p.t === 'MESSAGE_CREATE').map((p) => p.d.content), ['m4']);
  const metrics = await (await fetch(`http://127.0.0.1:${b.port}/metrics`)).text();
  assert.match(metrics, /parley_cluster_takeovers_total 2\b/);
});

test('what cannot be rebuilt exactly gets op 9', { skip, timeout: 180_000 }, async () => {
  const { a, b, owner, members } = await cluster('resume_refuse');
  const onB = b.client(owner.token);
  // Two guilds: a permission change in the first, only messages in the
  // second (the control, which resumes exactly).
  const g2 = await createGuild(owner.client);
  const g3 = await createGuild(owner.client);
  await inviteAndJoin(owner.client, members[1].client, g2.general.id);
  await inviteAndJoin(owner.client, members[2].client, g3.general.id);
  const perm = await openOn(a, members[1].token, 'perm@A');
  const plain = await openOn(a, members[2].token, 'plain@A');
  await a.kill9();
  for (const gw of [perm, plain]) gw.destroy();
  // A permission change inside the second session's window.
  expectStatus(await onB.patch(`/guilds/${g2.guild.id}/roles/${g2.guild.id}`, {
    permissions: perms(P.VIEW_CHANNEL, P.SEND_MESSAGES, P.READ_MESSAGE_HISTORY),
  }), 200, 'role change');
  await postMessage(onB, g3.general.id, 'after');

  const pr = await resumeOn(b, members[1].token, perm, perm.seq, 'perm@B');
  assert.equal(pr.ok, false, 'a role change inside the window: op 9');
  const ok = await resumeOn(b, members[2].token, plain, plain.seq, 'plain@B');
  assert.ok(ok.ok, 'the control resumes exactly');
  assert.deepEqual(ok.replayed.filter((p) => p.t === 'MESSAGE_CREATE').map((p) => p.d.content), ['after']);
  // Another user's token cannot take a session over.
  const other = await register(b);
  const bad = await GatewayClient.connect(b.port, { label: 'bad@B' });
  clients.push(bad);
  const r = await bad.resume(other.token, ok.next.sessionId, 1);
  assert.equal(r.ok, false, "another user's token: op 9");
});

// A TCP proxy to Redis for one node: cut() ends its connections and
// refuses new ones (Redis unreachable from that node only).
async function redisProxy(redisPort) {
  const conns = new Set();
  const server = net.createServer((c) => {
    const up = net.connect({ host: '127.0.0.1', port: redisPort });
    conns.add(c);
    conns.add(up);
    c.pipe(up);
    up.pipe(c);
    const end = () => {
      c.destroy();
      up.destroy();
    };
    c.on('error', end).on('close', end);
    up.on('error', end).on('close', end);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: server.address().port,
    cut: () => {
      server.close();
      for (const c of conns) c.destroy();
    },
  };
}

test('a dispatch only its node could send, while Redis is unreachable from that node, ends the session with op 9', { skip, timeout: 120_000 }, async () => {
  const { url: store } = newTestDatabase('resume_cut');
  const { port: redisPort } = await startRedis();
  const proxy = await redisProxy(redisPort);
  const a = await startNode(store, 1, proxy.port);
  const owner = await register(a);
  const { guild } = await createGuild(owner.client);
  const gw = await GatewayClient.open(a.port, owner.token, { intents: INT | INTENTS.GUILD_MEMBERS }, { label: 'cut@A' });
  clients.push(gw);
  await gw.heartbeatAck(gw.seq);  // a checkpoint in Redis
  gw.requestMembers({ guild_id: guild.id, query: '', limit: 0 });
  await gw.nextDispatch('GUILD_MEMBERS_CHUNK');  // with Redis: answered
  proxy.cut();
  await sleep(300);
  // Its answer could not be checkpointed while an older checkpoint is in
  // Redis: a resume from that one on another node would misnumber.
  gw.requestMembers({ guild_id: guild.id, query: '', limit: 0 });
  const p = await gw.next((x) => x.op === OP.INVALID_SESSION || x.t === 'GUILD_MEMBERS_CHUNK', 10_000, 'op 9 or a chunk');
  assert.equal(p.op, OP.INVALID_SESSION, `op 9 instead of an uncheckpointed GUILD_MEMBERS_CHUNK: ${JSON.stringify(p).slice(0, 200)}`);
  assert.equal(p.d, false);
  // Identifying again works (no checkpoint can be stored, and none exists
  // for the new session: nothing to misnumber).
  const again = await GatewayClient.open(a.port, owner.token, { intents: INT }, { label: 'again@A' });
  clients.push(again);
  assert.ok(again.sessionId && again.sessionId !== gw.sessionId);
});
