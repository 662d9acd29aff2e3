// Gateway v10 resume (docs/gateway.md "Lifecycle" 4–5 and "Ordering and
// loss"): after a TCP drop the session replays exactly what was missed, in
// order, with the original `s`, then RESUMED, and numbering goes on; op 9 for
// unknown/expired/ended sessions, another user's token, or a seq the replay
// buffer no longer holds; 4007 for a seq never sent; --resume-window-ms and
// --replay-buffer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, FAST_FLAGS, register, createGuild, inviteAndJoin, postMessage, sleep,
} from './lib/server.mjs';
import { GatewayClient, OP, INTENTS, mergeFlags, destroyAll } from './lib/gateway.mjs';

const TEST_MS = 180_000;
const WINDOW_MS = 2000;
const REPLAY = 16;

let srv; // defaults
let short; // --resume-window-ms 2000
let small; // --replay-buffer 16
const clients = [];

before(async () => {
  [srv, short, small] = await Promise.all([
    startServer(),
    startServer({ extraArgs: mergeFlags(FAST_FLAGS, ['--resume-window-ms', String(WINDOW_MS)]) }),
    startServer({ extraArgs: mergeFlags(FAST_FLAGS, ['--replay-buffer', String(REPLAY)]) }),
  ]);
});
after(async () => {
  destroyAll(clients);
  for (const s of [srv, short, small]) if (s) await s.stopAndAssertClean();
});

async function conn(server) {
  const gw = await GatewayClient.connect(server.port);
  clients.push(gw);
  return gw;
}
// Guild and message events only: presences (which come and go with sessions) would
// make "exactly these dispatches" checks depend on timing.
const INT = INTENTS.GUILDS | INTENTS.GUILD_MESSAGES | INTENTS.MESSAGE_CONTENT;
async function session(server, token, opts = {}) {
  const gw = await conn(server);
  await gw.identify(token, { intents: INT, ...opts });
  return gw;
}
async function waitUntil(fn, what, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}
/** A (owner, whose sessions we resume) and B (who posts) in one guild. */
async function pair(server) {
  const A = await register(server);
  const { guild, general } = await createGuild(A.client);
  const B = await register(server);
  await inviteAndJoin(A.client, B.client, general.id);
  return { A, B, guild, general };
}
const range = (from, n) => Array.from({ length: n }, (_, i) => from + i);

/** RESUMED may carry the next s or none; the client checks the numbering either way. */
function afterResumed(res) {
  return Number.isInteger(res.resumed.s) ? res.resumed.s : res.replayed.length ? res.replayed.at(-1).s : null;
}

test('TCP drop: the 50 missed MESSAGE_CREATEs in order with their s, then RESUMED, then live events; twice', { timeout: TEST_MS }, async () => {
  const { A, B, general } = await pair(srv);
  const a = await session(srv, A.token);
  const sid = a.sessionId;
  const seq0 = a.seq;
  await a.destroy();
  const posted = [];
  for (let i = 0; i < 50; i++) posted.push(await postMessage(B.client, general.id, `missed ${i}`));

  const r = await conn(srv);
  const res = await r.resume(A.token, sid, seq0);
  assert.ok(res.ok, `resume refused: ${JSON.stringify(res.invalid)}`);
  assert.deepEqual(res.replayed.map((p) => p.t), Array(50).fill('MESSAGE_CREATE'), 'exactly the missed dispatches');
  assert.deepEqual(res.replayed.map((p) => p.d.id), posted.map((m) => m.id), 'in commit order');
  assert.deepEqual(res.replayed.map((p) => p.s), range(seq0 + 1, 50), 'their original s, consecutive');
  assert.equal(r.dispatches.indexOf(res.resumed), 50, 'RESUMED comes right after the replay');
  assert.equal(res.resumed.op, OP.DISPATCH);
  assert.ok(res.resumed.s === null || res.resumed.s === undefined || res.resumed.s === seq0 + 51, `RESUMED.s = ${res.resumed.s}`);

  const live = await postMessage(B.client, general.id, 'live again');
  const lp = await r.nextDispatch('MESSAGE_CREATE', (d) => d.id === live.id);
  assert.equal(lp.s, afterResumed(res) + 1, 'numbering continues after the resume');
  r.assertClean();

  // and once more, from the resumed connection
  const seq1 = r.seq;
  await r.destroy();
  const more = [];
  for (let i = 0; i < 3; i++) more.push(await postMessage(B.client, general.id, `missed again ${i}`));
  const r2 = await conn(srv);
  const res2 = await r2.resume(A.token, sid, seq1);
  assert.ok(res2.ok, `second resume refused: ${JSON.stringify(res2.invalid)}`);
  assert.deepEqual(res2.replayed.map((p) => p.d.id), more.map((m) => m.id));
  assert.deepEqual(res2.replayed.map((p) => p.s), range(seq1 + 1, 3));
  r2.assertClean();
});

test('resume from a seq below the last one received replays from there (nothing acknowledged by heartbeat)', { timeout: TEST_MS }, async () => {
  const { A, B, general } = await pair(srv);
  const a = await session(srv, A.token);
  const seq0 = a.seq;
  const seen = [];
  for (let i = 0; i < 5; i++) seen.push(await postMessage(B.client, general.id, `seen ${i}`));
  await a.collect('MESSAGE_CREATE', 5);
  await a.destroy();
  const missed = [];
  for (let i = 0; i < 3; i++) missed.push(await postMessage(B.client, general.id, `missed ${i}`));
  const r = await conn(srv);
  const res = await r.resume(A.token, a.sessionId, seq0);
  assert.ok(res.ok, `resume refused: ${JSON.stringify(res.invalid)}`);
  assert.deepEqual(res.replayed.map((p) => p.d.id), [...seen, ...missed].map((m) => m.id));
  assert.deepEqual(res.replayed.map((p) => p.s), range(seq0 + 1, 8));
  r.assertClean();
});

test('entries up to the last heartbeat seq are dropped: resuming before them → op 9', { timeout: TEST_MS }, async () => {
  const { A, B, general } = await pair(srv);
  const a = await session(srv, A.token);
  const seq0 = a.seq;
  for (let i = 0; i < 5; i++) await postMessage(B.client, general.id, `acked ${i}`);
  await a.collect('MESSAGE_CREATE', 5);
  const acked = a.seq;
  await a.heartbeatAck(acked);
  await a.destroy();
  // from the acknowledged seq: fine, nothing to replay
  const r = await conn(srv);
  const res = await r.resume(A.token, a.sessionId, acked);
  assert.ok(res.ok, `resume at the acknowledged seq refused: ${JSON.stringify(res.invalid)}`);
  assert.deepEqual(res.replayed, []);
  await r.destroy();
  // from before it: the buffer no longer has those entries
  const r2 = await conn(srv);
  const res2 = await r2.resume(A.token, a.sessionId, seq0);
  assert.equal(res2.ok, false, 'resume from before the heartbeat seq must be refused');
  assert.equal(res2.invalid.d, false, 'op 9 d:false');
});

test('messages posted during the drop and the resume: no gap, no duplicate, in order', { timeout: TEST_MS }, async () => {
  const { A, B, general } = await pair(srv);
  const a = await session(srv, A.token);
  const sid = a.sessionId;
  const N = 100;
  const posted = [];
  const poster = (async () => {
    for (let i = 0; i < N; i++) posted.push(await postMessage(B.client, general.id, `stream ${i}`));
  })();
  await a.collect('MESSAGE_CREATE', 20, null, 60_000);
  await a.destroy();
  const got1 = a.received('MESSAGE_CREATE');
  const r = await conn(srv);
  const res = await r.resume(A.token, sid, a.seq);
  assert.ok(res.ok, `resume refused: ${JSON.stringify(res.invalid)}`);
  await poster;
  await waitUntil(() => got1.length + r.received('MESSAGE_CREATE').length >= N, `${N} messages across both connections`);
  const all = [...got1, ...r.received('MESSAGE_CREATE')];
  assert.deepEqual(all.map((p) => p.d.id), posted.map((m) => m.id), 'every message once, in order, across the resume');
  // numbering: consecutive on the first connection, then the second continues right
  // after the resume seq (RESUMED may take a number too; the client checks the rest)
  const ss1 = got1.map((p) => p.s);
  assert.deepEqual(ss1, range(ss1[0], ss1.length), 's consecutive before the drop');
  assert.equal(r.dispatches[0].s ?? r.dispatches[1].s, a.seq + 1, 'the second connection continues at the resume seq + 1');
  r.assertClean();
});

test('op 9 for an unknown session id; identify then works on the same connection', { timeout: TEST_MS }, async () => {
  const { A } = await pair(srv);
  const r = await conn(srv);
  const res = await r.resume(A.token, 'no-such-session-0123456789abcdef', 3);
  assert.equal(res.ok, false);
  assert.equal(res.invalid.op, OP.INVALID_SESSION);
  assert.equal(res.invalid.d, false, 'op 9 d:false (not resumable)');
  r.assertOpen('op 9 does not close the connection');
  const { ready } = await r.identify(A.token, { intents: INT });
  assert.equal(ready.user.id, A.user.id);
  assert.equal(r.received('READY')[0].s, 1, 'a new session starts at s = 1');
  r.assertClean();
});

test("op 9 for another user's token; the owner can still resume", { timeout: TEST_MS }, async () => {
  const { A, B, general } = await pair(srv);
  const a = await session(srv, A.token);
  await a.destroy();
  const m = await postMessage(B.client, general.id, 'while away');
  const thief = await conn(srv);
  const res = await thief.resume(B.token, a.sessionId, a.seq);
  assert.equal(res.ok, false, "resumed another user's session");
  assert.equal(res.invalid.d, false);
  assert.equal(thief.received('MESSAGE_CREATE').length, 0, 'nothing replayed to the wrong user');
  const r = await conn(srv);
  const ok = await r.resume(A.token, a.sessionId, a.seq);
  assert.ok(ok.ok, `owner's resume refused: ${JSON.stringify(ok.invalid)}`);
  assert.deepEqual(ok.replayed.map((p) => p.d.id), [m.id]);
});

test('4007: resume with a seq above the last one sent', { timeout: TEST_MS }, async () => {
  const { A, B, general } = await pair(srv);
  const a = await session(srv, A.token);
  await postMessage(B.client, general.id, 'one');
  await a.nextDispatch('MESSAGE_CREATE');
  const last = a.seq;
  await a.destroy();
  const r = await conn(srv);
  r.send({ op: OP.RESUME, d: { token: A.token, session_id: a.sessionId, seq: last + 1 } });
  await r.expectClose(4007);
});

test('a client close with 1000 or 1001 ends the session (op 9); any other code keeps it', { timeout: TEST_MS }, async () => {
  const { A, B, general } = await pair(srv);
  for (const code of [1000, 1001]) {
    const a = await session(srv, A.token);
    const info = await a.close(code);
    assert.equal(info.code, code, 'echoed close');
    const r = await conn(srv);
    const res = await r.resume(A.token, a.sessionId, a.seq);
    assert.equal(res.ok, false, `resume after close ${code} must be refused`);
    assert.equal(res.invalid.d, false);
  }
  const a = await session(srv, A.token);
  await a.close(4999, 'going, but coming back');
  const m = await postMessage(B.client, general.id, 'kept');
  const r = await conn(srv);
  const res = await r.resume(A.token, a.sessionId, a.seq);
  assert.ok(res.ok, `resume after close 4999 refused: ${JSON.stringify(res.invalid)}`);
  assert.deepEqual(res.replayed.map((p) => p.d.id), [m.id]);
  r.assertClean();
});

test('4005: identify or resume on a resumed connection', { timeout: TEST_MS }, async () => {
  const { A } = await pair(srv);
  for (const [what, second] of [
    ['identify after resume', (r) => GatewayClient.identifyPayload(A.token, { intents: INT })],
    ['resume after resume', (r, sid) => ({ op: OP.RESUME, d: { token: A.token, session_id: sid, seq: r.seq } })],
  ]) {
    const a = await session(srv, A.token);
    await a.destroy();
    const r = await conn(srv);
    const res = await r.resume(A.token, a.sessionId, a.seq);
    assert.ok(res.ok, `${what}: first resume refused: ${JSON.stringify(res.invalid)}`);
    r.send(second(r, a.sessionId));
    await r.expectClose(4005, 20_000, what);
  }
});

test('--resume-window-ms: a session is resumable within the window, not after it', { timeout: TEST_MS }, async () => {
  const { A, B, general } = await pair(short);
  const a = await session(short, A.token);
  await a.destroy();
  await sleep(WINDOW_MS / 4);
  const m = await postMessage(B.client, general.id, 'inside the window');
  const r = await conn(short);
  const res = await r.resume(A.token, a.sessionId, a.seq);
  assert.ok(res.ok, `resume within the window refused: ${JSON.stringify(res.invalid)}`);
  assert.deepEqual(res.replayed.map((p) => p.d.id), [m.id]);
  const seq = r.seq;
  await r.destroy();
  await sleep(WINDOW_MS * 1.75);
  const late = await conn(short);
  const res2 = await late.resume(A.token, a.sessionId, seq);
  assert.equal(res2.ok, false, 'resume after the window must be refused');
  assert.equal(res2.invalid.d, false);
  // identify works on that connection
  await late.identify(A.token, { intents: INT });
});

test('--replay-buffer: missing more than it holds → op 9; fewer → replayed', { timeout: TEST_MS }, async () => {
  const { A, B, general } = await pair(small);
  const a = await session(small, A.token);
  await a.destroy();
  const few = [];
  for (let i = 0; i < REPLAY / 2; i++) few.push(await postMessage(B.client, general.id, `few ${i}`));
  const r = await conn(small);
  const res = await r.resume(A.token, a.sessionId, a.seq);
  assert.ok(res.ok, `resume with ${few.length} missed refused: ${JSON.stringify(res.invalid)}`);
  assert.deepEqual(res.replayed.map((p) => p.d.id), few.map((m) => m.id));
  const seq = r.seq;
  await r.destroy();
  for (let i = 0; i < REPLAY + 4; i++) await postMessage(B.client, general.id, `many ${i}`);
  const r2 = await conn(small);
  const res2 = await r2.resume(A.token, a.sessionId, seq);
  assert.equal(res2.ok, false, `${REPLAY + 4} missed with --replay-buffer ${REPLAY} must be refused`);
  assert.equal(res2.invalid.d, false);
});
