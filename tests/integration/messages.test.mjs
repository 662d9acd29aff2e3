// Messages (issue §5): create, shape, history paging in all three modes, get,
// edit, delete, bulk-delete, validation.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, register, createGuild, createChannel, inviteAndJoin, postMessage, fetchAllHistory,
  expectStatus, expectError, expectFieldError, assertMessageShape, assertNewestFirst, fakeSnowflake,
  assertIsoTimestamp, snowflakeMs,
} from './lib/server.mjs';

let srv, alice, bob, guild, chan;
before(async () => {
  srv = await startServer();
  alice = await register(srv);
  bob = await register(srv);
  ({ guild, general: chan } = await createGuild(alice.client));
  await inviteAndJoin(alice.client, bob.client, chan.id);
});
after(async () => {
  if (srv) await srv.stopAndAssertClean();
});

/** Post n messages "prefix-0".."prefix-(n-1)" sequentially; returns them oldest first. */
async function postMany(client, channelId, n, prefix) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(await postMessage(client, channelId, `${prefix}-${i}`));
  return out;
}
const ids = (list) => list.map((m) => m.id);

test('POST message returns the Discord message object', async () => {
  const t0 = Date.now();
  const m = await postMessage(alice.client, chan.id, 'hello, world');
  assertMessageShape(m, { channelId: chan.id, content: 'hello, world', authorId: alice.user.id });
  assert.equal(m.edited_timestamp, null, 'not edited → edited_timestamp null');
  assert.equal(m.pinned, false);
  assert.equal(m.tts, false);
  assert.equal(m.mention_everyone, false);
  assert.equal(m.author.username, alice.name);
  const ms = snowflakeMs(m.id);
  assert.ok(ms >= t0 - 5000 && ms <= Date.now() + 5000, 'message id timestamp is now');
  for (const k of ['application', 'activity', 'message_reference', 'thread', 'referenced_message', 'interaction', 'webhook_id']) {
    assert.ok(!(k in m) || m[k] !== null, `${k} must be absent rather than null`);
  }
});

test('nonce is accepted (and echoed if returned), tts is a boolean', async () => {
  const m = await postMessage(alice.client, chan.id, 'with nonce', { nonce: '12345678', tts: false });
  assertMessageShape(m, { content: 'with nonce' });
  if ('nonce' in m) assert.equal(String(m.nonce), '12345678');
  const m2 = await postMessage(alice.client, chan.id, 'int nonce', { nonce: 987654 });
  if ('nonce' in m2) assert.equal(String(m2.nonce), '987654');
});

test('ids are monotonic and unique across rapid posts', async () => {
  const ch = await createChannel(alice.client, guild.id);
  const posted = await Promise.all(Array.from({ length: 40 }, (_, i) => postMessage(alice.client, ch.id, `par-${i}`)));
  const set = new Set(ids(posted));
  assert.equal(set.size, 40, 'duplicate ids');
  const seq = await postMany(alice.client, ch.id, 10, 'seq');
  for (let i = 1; i < seq.length; i++) assert.ok(BigInt(seq[i].id) > BigInt(seq[i - 1].id), 'sequential posts get increasing ids');
});

test('content must be 1–2000 characters', async () => {
  const max = 'x'.repeat(2000);
  const ok = await postMessage(alice.client, chan.id, max);
  assert.equal(ok.content.length, 2000);
  // multibyte: 2000 characters of 'é' are allowed (characters, not bytes)
  const ok2 = await postMessage(alice.client, chan.id, 'é'.repeat(2000));
  assert.equal(ok2.content, 'é'.repeat(2000));
  expectFieldError(await alice.client.post(`/channels/${chan.id}/messages`, { content: 'x'.repeat(2001) }), 'content', '2001 chars');
  // Discord answers an empty message with 50006 "Cannot send an empty message"; 50035 is accepted too.
  for (const body of [{ content: '' }, {}]) {
    expectError(await alice.client.post(`/channels/${chan.id}/messages`, body), 400, [50006, 50035], `empty: ${JSON.stringify(body)}`);
  }
  expectFieldError(await alice.client.post(`/channels/${chan.id}/messages`, { content: 42 }), 'content', 'content as number');
});

test('unicode content round-trips exactly', async () => {
  const text = 'Grüße 👋 — 日本語 "quotes" \\ back\\slash \n newline \u0001 ctl';
  const m = await postMessage(alice.client, chan.id, text);
  assert.equal(m.content, text);
  const got = expectStatus(await alice.client.get(`/channels/${chan.id}/messages/${m.id}`), 200);
  assert.equal(got.content, text);
});

test('GET single message; unknown message → 404 10008; unknown channel → 404 10003', async () => {
  const m = await postMessage(bob.client, chan.id, 'single');
  const got = expectStatus(await alice.client.get(`/channels/${chan.id}/messages/${m.id}`), 200);
  assertMessageShape(got, { channelId: chan.id, content: 'single', authorId: bob.user.id });
  assert.equal(got.id, m.id);
  assert.equal(got.timestamp, m.timestamp);
  expectError(await alice.client.get(`/channels/${chan.id}/messages/${fakeSnowflake()}`), 404, 10008);
  expectError(await alice.client.get(`/channels/${fakeSnowflake()}/messages`), 404, 10003);
  expectError(await alice.client.post(`/channels/${fakeSnowflake()}/messages`, { content: 'x' }), 404, 10003);
  // a message id from another channel is unknown in this one
  const other = await createChannel(alice.client, guild.id);
  expectError(await alice.client.get(`/channels/${other.id}/messages/${m.id}`), 404, 10008, 'message of another channel');
});

test('history: default limit 50, limit 1..100, newest first', async () => {
  const ch = await createChannel(alice.client, guild.id);
  const posted = await postMany(alice.client, ch.id, 105, 'h');
  const dflt = expectStatus(await alice.client.get(`/channels/${ch.id}/messages`), 200);
  assert.equal(dflt.length, 50, 'default limit is 50');
  assertNewestFirst(dflt);
  assert.deepEqual(ids(dflt), ids(posted.slice(-50)).reverse(), 'default page is the 50 newest');
  dflt.forEach((m) => assertMessageShape(m, { channelId: ch.id }));

  const hundred = expectStatus(await alice.client.get(`/channels/${ch.id}/messages?limit=100`), 200);
  assert.equal(hundred.length, 100);
  assert.deepEqual(ids(hundred), ids(posted.slice(-100)).reverse());

  const one = expectStatus(await alice.client.get(`/channels/${ch.id}/messages?limit=1`), 200);
  assert.deepEqual(ids(one), [posted.at(-1).id]);

  for (const bad of ['0', '101', '-1', 'abc', '1000']) {
    expectFieldError(await alice.client.get(`/channels/${ch.id}/messages?limit=${bad}`), 'limit', `limit=${bad}`);
  }
  // paging to exhaustion with before returns everything exactly once
  const all = await fetchAllHistory(alice.client, ch.id, { pageSize: 30 });
  assert.deepEqual(ids(all), ids(posted).reverse());
});

test('history: before / after / around, newest first in every mode', async () => {
  const ch = await createChannel(alice.client, guild.id);
  const m = await postMany(alice.client, ch.id, 20, 'p'); // m[0] oldest … m[19] newest
  const get = async (q) => expectStatus(await alice.client.get(`/channels/${ch.id}/messages?${q}`), 200, q);

  // before: the newest messages older than the anchor
  const b = await get(`before=${m[10].id}&limit=3`);
  assert.deepEqual(ids(b), [m[9].id, m[8].id, m[7].id], 'before');
  assert.deepEqual(ids(await get(`before=${m[2].id}&limit=10`)), [m[1].id, m[0].id], 'before near the start');
  assert.deepEqual(await get(`before=${m[0].id}`), [], 'before the oldest');

  // after: the messages right after the anchor (oldest ones after it), still newest first
  const a = await get(`after=${m[10].id}&limit=3`);
  assert.deepEqual(ids(a), [m[13].id, m[12].id, m[11].id], 'after (newest first, right after the anchor)');
  assert.deepEqual(ids(await get(`after=${m[17].id}&limit=10`)), [m[19].id, m[18].id], 'after near the end');
  assert.deepEqual(await get(`after=${m[19].id}`), [], 'after the newest');
  const fromZero = await get('after=0&limit=5');
  assert.deepEqual(ids(fromZero), [m[4].id, m[3].id, m[2].id, m[1].id, m[0].id], 'after=0 gives the oldest, newest first');

  // around: centred on the anchor, anchor included
  const ar = await get(`around=${m[10].id}&limit=5`);
  assertNewestFirst(ar, 'around');
  assert.deepEqual(ids(ar), [m[12].id, m[11].id, m[10].id, m[9].id, m[8].id], 'around limit=5');
  const ar3 = await get(`around=${m[10].id}&limit=3`);
  assert.deepEqual(ids(ar3), [m[11].id, m[10].id, m[9].id], 'around limit=3');
  // even limit and edges: a contiguous newest-first window that contains the anchor
  for (const [idx, lim] of [[10, 4], [0, 5], [19, 5], [10, 50]]) {
    const w = await get(`around=${m[idx].id}&limit=${lim}`);
    assertNewestFirst(w, `around ${idx} limit ${lim}`);
    assert.ok(w.length >= 1 && w.length <= lim, `around ${idx}/${lim} size ${w.length}`);
    assert.ok(ids(w).includes(m[idx].id), `around ${idx}/${lim} includes the anchor`);
    const pos = m.map((x) => x.id);
    const idxs = ids(w).map((id) => pos.indexOf(id));
    for (let i = 1; i < idxs.length; i++) assert.equal(idxs[i], idxs[i - 1] - 1, `around ${idx}/${lim} contiguous`);
  }

  // walking forward with after (newest-first pages) reaches the end exactly once per message
  const seen = [];
  let cursor = '0';
  for (let guard = 0; guard < 50; guard++) {
    const page = await get(`after=${cursor}&limit=6`);
    assertNewestFirst(page);
    if (!page.length) break;
    seen.push(...ids(page).reverse());
    cursor = page[0].id; // newest of the page
  }
  assert.deepEqual(seen, ids(m), 'after-paging covers every message in order');

  // anchors that are not message ids (e.g. timestamps between messages) work too
  const between = ((BigInt(m[5].id) + BigInt(m[6].id)) / 2n).toString();
  const bb = await get(`before=${between}&limit=2`);
  assert.ok(ids(bb).every((id) => BigInt(id) < BigInt(between)));
  assert.equal(bb[0].id, m[5].id);
});

test('history with bad snowflakes in the query → 400', async () => {
  for (const q of ['before=abc', 'after=-1', 'around=123456789012345678901234567890', 'before=1.5']) {
    const res = await alice.client.get(`/channels/${chan.id}/messages?${q}`);
    expectError(res, [400, 404], undefined, q);
  }
});

test('edit: author only, sets edited_timestamp, other users get 403 50005', async () => {
  const m = await postMessage(alice.client, chan.id, 'before edit');
  const res = await alice.client.patch(`/channels/${chan.id}/messages/${m.id}`, { content: 'after edit' });
  const e = expectStatus(res, 200, 'edit');
  assertMessageShape(e, { channelId: chan.id, content: 'after edit', authorId: alice.user.id });
  assert.equal(e.id, m.id);
  assert.equal(e.timestamp, m.timestamp, 'edit keeps the creation timestamp');
  assertIsoTimestamp(e.edited_timestamp, 'edited_timestamp');
  assert.ok(Date.parse(e.edited_timestamp) >= Date.parse(m.timestamp), 'edited after created');
  const got = expectStatus(await bob.client.get(`/channels/${chan.id}/messages/${m.id}`), 200);
  assert.equal(got.content, 'after edit');
  assert.equal(got.edited_timestamp, e.edited_timestamp);
  const hist = expectStatus(await alice.client.get(`/channels/${chan.id}/messages?around=${m.id}&limit=1`), 200);
  assert.equal(hist[0].content, 'after edit', 'history shows the edit');

  // another member may not edit, even the guild owner may not edit someone else's message
  expectError(await bob.client.patch(`/channels/${chan.id}/messages/${m.id}`, { content: 'hijack' }), 403, 50005, 'non-author edit');
  const bm = await postMessage(bob.client, chan.id, 'bob wrote');
  expectError(await alice.client.patch(`/channels/${chan.id}/messages/${bm.id}`, { content: 'owner edit' }), 403, 50005, 'owner editing other');
  assert.equal(expectStatus(await alice.client.get(`/channels/${chan.id}/messages/${m.id}`), 200).content, 'after edit');

  expectFieldError(await alice.client.patch(`/channels/${chan.id}/messages/${m.id}`, { content: 'y'.repeat(2001) }), 'content');
  expectError(await alice.client.patch(`/channels/${chan.id}/messages/${fakeSnowflake()}`, { content: 'z' }), 404, 10008);
});

test('delete: author → 204, then 404 10008; others without MANAGE_MESSAGES → 403 50013; owner may', async () => {
  const m = await postMessage(bob.client, chan.id, 'to delete');
  const d = await bob.client.del(`/channels/${chan.id}/messages/${m.id}`);
  assert.equal(d.status, 204, `delete: ${d.status} ${d.text}`);
  expectError(await bob.client.get(`/channels/${chan.id}/messages/${m.id}`), 404, 10008);
  expectError(await bob.client.del(`/channels/${chan.id}/messages/${m.id}`), 404, 10008, 'double delete');
  const hist = expectStatus(await bob.client.get(`/channels/${chan.id}/messages?limit=100`), 200);
  assert.ok(!ids(hist).includes(m.id), 'deleted message gone from history');

  const am = await postMessage(alice.client, chan.id, 'alice msg');
  expectError(await bob.client.del(`/channels/${chan.id}/messages/${am.id}`), 403, 50013, 'bob deletes alice');
  expectStatus(await bob.client.get(`/channels/${chan.id}/messages/${am.id}`), 200);

  const bm = await postMessage(bob.client, chan.id, 'bob msg');
  const od = await alice.client.del(`/channels/${chan.id}/messages/${bm.id}`);
  assert.equal(od.status, 204, `owner deletes bob's message: ${od.status} ${od.text}`);
});

test('bulk-delete: 2..100 ids → 204, otherwise 400 50035; needs MANAGE_MESSAGES', async () => {
  const ch = await createChannel(alice.client, guild.id);
  const m = await postMany(alice.client, ch.id, 6, 'bulk');
  const url = `/channels/${ch.id}/messages/bulk-delete`;
  const r = await alice.client.post(url, { messages: [m[1].id, m[3].id, m[4].id] });
  assert.equal(r.status, 204, `bulk-delete: ${r.status} ${r.text}`);
  const left = expectStatus(await alice.client.get(`/channels/${ch.id}/messages`), 200);
  assert.deepEqual(ids(left), [m[5].id, m[2].id, m[0].id]);
  for (const gone of [m[1], m[3], m[4]]) expectError(await alice.client.get(`/channels/${ch.id}/messages/${gone.id}`), 404, 10008);

  expectFieldError(await alice.client.post(url, { messages: [m[0].id] }), 'messages', '1 id');
  expectFieldError(await alice.client.post(url, { messages: [] }), 'messages', '0 ids');
  expectFieldError(await alice.client.post(url, {}), 'messages', 'no messages');
  const many = Array.from({ length: 101 }, () => fakeSnowflake());
  expectFieldError(await alice.client.post(url, { messages: many }), 'messages', '101 ids');
  expectFieldError(await alice.client.post(url, { messages: 'nope' }), 'messages', 'not an array');

  // 100 is allowed
  const extra = await Promise.all(Array.from({ length: 98 }, (_, i) => postMessage(alice.client, ch.id, `extra-${i}`)));
  const hundred = [m[0].id, m[2].id, ...ids(extra)];
  const r100 = await alice.client.post(url, { messages: hundred });
  assert.equal(r100.status, 204, `bulk-delete 100 ids: ${r100.status} ${r100.text}`);
  const left2 = expectStatus(await alice.client.get(`/channels/${ch.id}/messages`), 200);
  assert.deepEqual(ids(left2), [m[5].id]);

  // bob is a plain member: no MANAGE_MESSAGES
  const b1 = await postMessage(bob.client, ch.id, 'b1');
  const b2 = await postMessage(bob.client, ch.id, 'b2');
  expectError(await bob.client.post(url, { messages: [b1.id, b2.id] }), 403, 50013, 'bulk-delete without MANAGE_MESSAGES');
  assert.equal(expectStatus(await bob.client.get(`/channels/${ch.id}/messages`), 200).length, 3);
});

test('deleted and edited messages keep history ordering consistent', async () => {
  const ch = await createChannel(alice.client, guild.id);
  const m = await postMany(alice.client, ch.id, 10, 'c');
  expectStatus(await alice.client.patch(`/channels/${ch.id}/messages/${m[4].id}`, { content: 'c-4-edited' }), 200);
  assert.equal((await alice.client.del(`/channels/${ch.id}/messages/${m[5].id}`)).status, 204);
  const all = await fetchAllHistory(alice.client, ch.id, { pageSize: 3 });
  assert.deepEqual(ids(all), ids(m.filter((_, i) => i !== 5)).reverse());
  assert.equal(all.find((x) => x.id === m[4].id).content, 'c-4-edited');
  const ar = expectStatus(await alice.client.get(`/channels/${ch.id}/messages?around=${m[5].id}&limit=3`), 200);
  assertNewestFirst(ar);
  assert.ok(!ids(ar).includes(m[5].id), 'around a deleted anchor does not return it');
});

test('a nonce comes back with the type it was sent with', async () => {
  const s = expectStatus(await alice.client.post(`/channels/${chan.id}/messages`, { content: 'n1', nonce: 'abc123' }), 200);
  assert.equal(s.nonce, 'abc123');
  const n = expectStatus(await alice.client.post(`/channels/${chan.id}/messages`, { content: 'n2', nonce: 1234567 }), 200);
  assert.equal(n.nonce, 1234567);
});

test('two history modes at once is a form error at the top of errors', async () => {
  const m = await postMessage(alice.client, chan.id, 'anchor');
  const res = await alice.client.get(`/channels/${chan.id}/messages?before=${m.id}&after=${m.id}`);
  assert.equal(res.status, 400);
  assert.equal(res.json.code, 50035);
  assert.ok(Array.isArray(res.json.errors._errors), `errors._errors is a list: ${res.text}`);
});

test('PATCH /users/@me applies the username rules', async () => {
  for (const username of ['everyone', 'a@b', 'x', 'line\nbreak'])
    expectError(await bob.client.patch('/users/@me', { username }), 400, [50035], username);
  const ok = expectStatus(await bob.client.patch('/users/@me', { global_name: 'Bob B.' }), 200);
  assert.equal(ok.global_name, 'Bob B.');
});

test('embeds: stored, normalized, returned by history and edits; bad fields at their path', async () => {
  const ch = await createChannel(alice.client, guild.id);
  const embeds = [{
    title: 'Release 1.2', description: 'Notes', url: 'https://example.test/r', color: 0x00ff00,
    timestamp: '2026-01-02T03:04:05Z', footer: { text: 'ci' }, author: { name: 'bot' },
    fields: [{ name: 'tests', value: '289', inline: true }], unknown_key: 1,
  }];
  const m = await postMessage(alice.client, ch.id, undefined, { embeds });
  assert.equal(m.content, '', 'embeds alone make a message');
  assert.deepEqual(m.embeds, [{
    type: 'rich', title: 'Release 1.2', description: 'Notes', url: 'https://example.test/r',
    timestamp: '2026-01-02T03:04:05.000000+00:00', color: 0x00ff00, footer: { text: 'ci' },
    author: { name: 'bot' }, fields: [{ name: 'tests', value: '289', inline: true }],
  }]);
  const got = expectStatus(await bob.client.get(`/channels/${ch.id}/messages/${m.id}`), 200);
  assert.deepEqual(got.embeds, m.embeds);
  const [listed] = expectStatus(await bob.client.get(`/channels/${ch.id}/messages?limit=1`), 200);
  assert.deepEqual(listed.embeds, m.embeds);
  // An edit replaces them; clearing content and embeds is an empty message.
  const edited = expectStatus(await alice.client.patch(`/channels/${ch.id}/messages/${m.id}`, {
    content: 'now with text', embeds: [{ title: 'only' }],
  }), 200);
  assert.deepEqual(edited.embeds, [{ type: 'rich', title: 'only' }]);
  expectError(await alice.client.patch(`/channels/${ch.id}/messages/${m.id}`, { content: '', embeds: [] }), 400, 50006);
  const bad = expectFieldError(await alice.client.post(`/channels/${ch.id}/messages`, {
    embeds: [{ title: 'x'.repeat(257) }, { color: -1 }, { image: { url: 'ftp://x' } }],
  }), 'embeds');
  assert.ok(bad.errors.embeds['0'].title, JSON.stringify(bad));
  assert.ok(bad.errors.embeds['1'].color, JSON.stringify(bad));
  assert.ok(bad.errors.embeds['2'].image.url, JSON.stringify(bad));
  expectFieldError(await alice.client.post(`/channels/${ch.id}/messages`, {
    embeds: Array.from({ length: 11 }, () => ({ title: 't' })),
  }), 'embeds');
  expectFieldError(await alice.client.post(`/channels/${ch.id}/messages`, {
    embeds: [{ description: 'd'.repeat(4096) }, { description: 'd'.repeat(2000) }],
  }), 'embeds', 'over 6000 characters in all');
});

test('replies: message_reference → type 19 with referenced_message, in replies and history', async () => {
  const ch = await createChannel(alice.client, guild.id);
  const q = await postMessage(bob.client, ch.id, 'question?');
  const r = await postMessage(alice.client, ch.id, 'answer', { message_reference: { message_id: q.id } });
  assert.equal(r.type, 19);
  assert.deepEqual(r.message_reference, { type: 0, message_id: q.id, channel_id: ch.id, guild_id: guild.id });
  assert.equal(r.referenced_message.id, q.id);
  assert.equal(r.referenced_message.content, 'question?');
  assert.equal(r.referenced_message.author.id, bob.user.id);
  assert.ok(!('referenced_message' in r.referenced_message), 'one level deep');
  // A reply to a reply: its referenced message carries message_reference, not its own referenced_message.
  const rr = await postMessage(bob.client, ch.id, 'thanks', { message_reference: { message_id: r.id, channel_id: ch.id } });
  assert.equal(rr.referenced_message.id, r.id);
  assert.equal(rr.referenced_message.message_reference.message_id, q.id);
  assert.ok(!('referenced_message' in rr.referenced_message));
  // History and single reads carry them too.
  const page = expectStatus(await alice.client.get(`/channels/${ch.id}/messages?around=${r.id}&limit=3`), 200);
  assert.deepEqual(page.map((m) => m.id), [rr.id, r.id, q.id]);
  assert.equal(page[0].referenced_message.id, r.id);
  assert.equal(page[1].referenced_message.content, 'question?');
  assert.ok(!('message_reference' in page[2]) && !('referenced_message' in page[2]), 'a plain message has neither');
  // The answered message deleted: referenced_message is null, message_reference stays.
  expectStatus(await bob.client.del(`/channels/${ch.id}/messages/${q.id}`), 204);
  const after = expectStatus(await alice.client.get(`/channels/${ch.id}/messages/${r.id}`), 200);
  assert.equal(after.referenced_message, null);
  assert.equal(after.message_reference.message_id, q.id);
  // Unknown: 50035 unless fail_if_not_exists is false (then a plain message).
  const unknown = expectFieldError(await alice.client.post(`/channels/${ch.id}/messages`, {
    content: 'x', message_reference: { message_id: q.id },
  }), 'message_reference');
  assert.equal(unknown.errors.message_reference._errors[0].code, 'MESSAGE_REFERENCE_UNKNOWN_MESSAGE');
  const plain = await postMessage(alice.client, ch.id, 'x', { message_reference: { message_id: q.id, fail_if_not_exists: false } });
  assert.equal(plain.type, 0);
  assert.ok(!('message_reference' in plain));
  // Other channels, forwards and malformed ids are refused.
  expectFieldError(await alice.client.post(`/channels/${chan.id}/messages`, {
    content: 'x', message_reference: { message_id: r.id },
  }), 'message_reference', 'a message of another channel');
  expectFieldError(await alice.client.post(`/channels/${ch.id}/messages`, {
    content: 'x', message_reference: { message_id: r.id, type: 1 },
  }), 'message_reference');
  expectFieldError(await alice.client.post(`/channels/${ch.id}/messages`, {
    content: 'x', message_reference: { message_id: 'abc' },
  }), 'message_reference');
  // An edit keeps the reference.
  const e = expectStatus(await bob.client.patch(`/channels/${ch.id}/messages/${rr.id}`, { content: 'thanks!' }), 200);
  assert.equal(e.type, 19);
  assert.equal(e.referenced_message.id, r.id);
});
