// Which gateway encoding the browser client should use (bench/RESULTS.md
// "Encodings", "In the browser"): headless Chromium opens two gateway
// sessions of one user to a real server, encoding=json (text frames, a JS
// string each) and encoding=msgpack (binary frames, an ArrayBuffer each,
// decoded with @msgpack/msgpack, the decoder the client would ship), and
// keeps every MESSAGE_CREATE as it arrives, undecoded. Node posts N chat-like
// messages (every fifth with an embed, every seventh a reply). Then the page
// decodes all of them, ROUNDS times per encoding, alternating, and reports
// the median time per payload and the bytes per payload. ETF is not
// measured: the browser has no ETF decoder but a hand-written one (erlpack
// is native code for Node).
//
//   PARLEY_BIN=build/release/parley node bench/browser-decode.mjs [N=500] [ROUNDS=21]
import { startServer, register, createGuild, inviteAndJoin, postMessage } from '../tests/integration/lib/server.mjs';
import { launchChromium, chromiumMissing } from '../tests/integration/lib/browser.mjs';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const N = Number(process.argv[2] ?? 500);
const ROUNDS = Number(process.argv[3] ?? 21);
const missing = chromiumMissing();
if (missing) {
  console.error(`browser-decode: ${missing}`);
  process.exit(2);
}

const srv = await startServer();
const browser = await launchChromium();
try {
  const A = await register(srv);
  const { general } = await createGuild(A.client);
  const B = await register(srv);
  await inviteAndJoin(A.client, B.client, general.id);
  const page = await browser.newPage();
  await page.setContent("<!doctype html><title>decode</title>"); // no CSP: the library goes in inline
  await page.addScriptTag({ content: readFileSync(require.resolve('@msgpack/msgpack/dist.umd/msgpack.min.js'), 'utf8') });
  // The sessions: identify, keep every MESSAGE_CREATE's raw data.
  await page.evaluate(async ({ port, token }) => {
    const open = (encoding) => new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/?v=10&encoding=${encoding}`);
      ws.binaryType = 'arraybuffer';
      const decode = encoding === 'json' ? (d) => JSON.parse(d) : (d) => MessagePack.decode(new Uint8Array(d));
      const send = encoding === 'json' ? (o) => ws.send(JSON.stringify(o)) : (o) => ws.send(MessagePack.encode(o));
      const s = { encoding, raw: [], ready: false };
      ws.onmessage = (ev) => {
        if (s.ready) {
          s.raw.push(ev.data); // decoded later, all at once
          return;
        }
        const p = decode(ev.data);
        if (p.op === 10) send({ op: 2, d: { token, intents: 513 | (1 << 15), properties: { os: 'linux', browser: 'bench', device: 'bench' } } });
        if (p.t === 'GUILD_CREATE') {
          s.ready = true;
          resolve(s);
        }
      };
      ws.onerror = () => reject(new Error(`${encoding}: WebSocket error`));
    });
    window.sessions = [await open('json'), await open('msgpack')];
  }, { port: srv.port, token: B.token });
  const words = ['parley', 'gateway', 'hello', 'message', 'bench', 'encoding', 'browser', 'fast', 'json', 'pack'];
  let last = null;
  for (let i = 0; i < N; i++) {
    const content = `#${i} ` + Array.from({ length: 4 + (i % 23) }, (_, k) => words[(i * 7 + k * 3) % words.length]).join(' ');
    const extra = {};
    if (i % 5 === 0) extra.embeds = [{ title: `card ${i}`, description: content, color: 0x5865f2, fields: [{ name: 'n', value: String(i), inline: true }] }];
    if (i % 7 === 0 && last) extra.message_reference = { message_id: last.id };
    last = await postMessage(A.client, general.id, content, extra);
  }
  const result = await page.evaluate(async ({ n, rounds }) => {
    const deadline = Date.now() + 60_000;
    while (window.sessions.some((s) => s.raw.length < n) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const [json, msgpack] = window.sessions;
    const decoders = {
      json: () => { let k = 0; for (const d of json.raw) k += JSON.parse(d).d.content.length; return k; },
      msgpack: () => { let k = 0; for (const d of msgpack.raw) k += MessagePack.decode(new Uint8Array(d)).d.content.length; return k; },
    };
    const times = { json: [], msgpack: [] };
    for (let r = 0; r < rounds; r++) {
      for (const name of r % 2 ? ['msgpack', 'json'] : ['json', 'msgpack']) {
        const t0 = performance.now();
        decoders[name]();
        times[name].push(((performance.now() - t0) * 1000) / n);
      }
    }
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const bytes = {
      json: json.raw.reduce((a, d) => a + new TextEncoder().encode(d).length, 0) / json.raw.length,
      msgpack: msgpack.raw.reduce((a, d) => a + d.byteLength, 0) / msgpack.raw.length,
    };
    return { got: { json: json.raw.length, msgpack: msgpack.raw.length }, bytes, us_per_payload: { json: median(times.json), msgpack: median(times.msgpack) }, rounds };
  }, { n: N, rounds: ROUNDS });
  const chromium = browser.version();
  console.log(JSON.stringify({ date: new Date().toISOString(), chromium, messages: N, ...result }));
  console.log(`| encoding | payload bytes | decode µs/payload (median of ${ROUNDS}) |`);
  console.log('| --- | --- | --- |');
  for (const e of ['json', 'msgpack']) {
    console.log(`| ${e} | ${result.bytes[e].toFixed(1)} (${(result.bytes[e] / result.bytes.json).toFixed(2)}×) | ${result.us_per_payload[e].toFixed(2)} (${(result.us_per_payload[e] / result.us_per_payload.json).toFixed(2)}×) |`);
  }
} finally {
  await browser.close();
  await srv.stop();
}
