// Resume on any node, exactly (docs/cluster.md, "Sessions and resume on any
// node"): sessions of a node killed with -9, of a drained node (op 7), and
// of a live node the client left, resume on another node with exactly the
// dispatches they missed, with consecutive `s`, then RESUMED; where that
// cannot be rebuilt (an ephemeral event the owner may have sent, a
// permission change inside the window) they get op 9, never a gap or a
// duplicate. Two nodes on one PostgreSQL database and one Redis.
import { test } from 'node:test';
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

test('what cannot be rebuilt exactly gets op 9', { skip, timeout: 180_000 }, async () => {
  const { a, b, owner, general, members } = await cluster('resume_refuse');
  const onB = b.client(owner.token);
  // Three guilds: typing in the first, a permission change in the second,
  // only messages in the third (the control, which resumes exactly).
  const g2 = await createGuild(owner.client);
  const g3 = await createGuild(owner.client);
  await inviteAndJoin(owner.client, members[1].client, g2.general.id);
  await inviteAndJoin(owner.client, members[2].client, g3.general.id);
  const typed = await GatewayClient.open(a.port, members[0].token,
    { intents: INT | INTENTS.GUILD_MESSAGE_TYPING }, { label: 'typed@A' });
  clients.push(typed);
  const perm = await openOn(a, members[1].token, 'perm@A');
  const plain = await openOn(a, members[2].token, 'plain@A');
  // Typing seen after the session's checkpoint: where it fell among the
  // messages is not in the log.
  expectStatus(await a.client(members[3].token).post(`/channels/${general.id}/typing`, {}), [204], 'typing');
  await typed.nextDispatch('TYPING_START');
  await a.kill9();
  for (const gw of [typed, perm, plain]) gw.destroy();
  // A permission change inside the second session's window.
  expectStatus(await onB.patch(`/guilds/${g2.guild.id}/roles/${g2.guild.id}`, {
    permissions: perms(P.VIEW_CHANNEL, P.SEND_MESSAGES, P.READ_MESSAGE_HISTORY),
  }), 200, 'role change');
  await postMessage(onB, g3.general.id, 'after');

  const t = await resumeOn(b, members[0].token, typed, typed.seq, 'typed@B');
  assert.equal(t.ok, false, 'typing inside the window: op 9');
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
