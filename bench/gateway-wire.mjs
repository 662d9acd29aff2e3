#!/usr/bin/env node
// Bytes on the wire per MESSAGE_CREATE with each gateway transport
// compression (none, zlib-stream, zstd-stream).
//
//   node bench/gateway-wire.mjs [--bin build/release/parley] [--messages 500]
//
// Starts a server, joins three sessions (one per compression mode) to one
// guild, posts N chat-like messages (varied words, 5-40 words, like a real
// channel) and reports, per mode, the average WebSocket bytes (frame headers
// included) of each MESSAGE_CREATE and of its JSON. Each session's stream is
// inflated by the test client, so every payload is also checked.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
process.env.PARLEY_BIN = path.resolve(opt('--bin', path.join(root, 'build/release/parley')));
const N = Number(opt('--messages', 500));

const { startServer, register, createGuild, postMessage } = await import(
  path.join(root, 'tests/integration/lib/server.mjs'));
const { GatewayClient, INTENTS } = await import(path.join(root, 'tests/integration/lib/gateway.mjs'));

const WORDS = ('the a to and of is in it you that for on this be are with have not just what ' +
  'so was but like can do if all about at your get from will one know think out now time ' +
  'good yeah lol server bot message channel deploy build test release fixed broken works ' +
  'tonight tomorrow anyone here help please thanks check link docs issue merge branch main ' +
  'coffee game play stream music weekend idea nice cool great weird bug crash memory fast slow')
  .split(' ');
let seed = 42;
const rnd = (n) => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed % n;
};
const sentence = () => {
  const n = 5 + rnd(36);
  const w = [];
  for (let i = 0; i < n; i++) w.push(WORDS[rnd(WORDS.length)]);
  return w.join(' ');
};

const srv = await startServer();
try {
  const a = await register(srv);
  const g = await createGuild(a.client);
  const channel = g.general;
  const modes = [null, 'zlib-stream', 'zstd-stream'];
  const sessions = [];
  for (const m of modes) {
    const query = 'v=10&encoding=json' + (m ? `&compress=${m}` : '');
    const c = await GatewayClient.connect(srv.port, { query });
    await c.identify(a.token, { intents: INTENTS.GUILDS | INTENTS.GUILD_MESSAGES });
    sessions.push(c);
  }
  for (let i = 0; i < N; i++) await postMessage(a.client, channel.id, sentence());
  const rows = [];
  for (let k = 0; k < modes.length; k++) {
    const got = await sessions[k].collect('MESSAGE_CREATE', N, null, 60_000);
    let wire = 0;
    let json = 0;
    for (const p of got) {
      wire += sessions[k].wireBytes(p);
      json += Buffer.byteLength(JSON.stringify(p));
    }
    rows.push({ mode: modes[k] ?? 'none', messages: got.length, json_bytes: json / got.length, wire_bytes: wire / got.length });
  }
  for (const s of sessions) s.destroy();
  console.log(`MESSAGE_CREATE bytes on the wire (${N} messages of 5-40 varied words)`);
  console.table(rows.map((r) => ({ ...r, json_bytes: r.json_bytes.toFixed(1), wire_bytes: r.wire_bytes.toFixed(1) })));
  console.log(JSON.stringify(rows));
} finally {
  await srv.stop();
}
