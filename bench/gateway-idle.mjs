#!/usr/bin/env node
// Gateway idle-session memory: the server's user-space memory per identified,
// idle gateway session, plus the connect rate and the CPU the server spends
// while the sessions only heartbeat. A benchmark, not a test: run it by hand.
//
//   node bench/gateway-idle.mjs [options]
//
// What it does:
//   1. Starts build/release/parley (--bin) on a free port with a fresh data
//      directory, `--password-cost min --ratelimit-global 0 --ratelimit-scale
//      1000000 --heartbeat-interval-ms MS` (or attaches to --port).
//   2. Registers --users accounts (default 100), one guild, one invite with
//      max_uses 0; every user joins. Sessions are spread over the users
//      round-robin (a user may identify many times; users are not counted by
//      --identify-limit), so all sessions are in that one guild.
//   3. Warm-up: opens and closes --warmup sessions (default 500).
//   4. Samples the server (VmRSS etc. from /proc/<pid>/status and
//      /proc/<pid>/smaps_rollup), opens --sessions sessions (default 15000)
//      from child processes (at most --per-proc sockets each, for the 20,000
//      open-file limit per process) over raw node:net sockets with a
//      hand-written RFC 6455 client (masked frames; no `ws`: too heavy per
//      connection), each from its own source address 127.0.0.(2+k) per child
//      k. Each session identifies (intents GUILDS by default, so that presence
//      updates do not fill replay buffers), waits for its GUILD_CREATE,
//      heartbeats once right then (with the GUILD_CREATE's seq, so the server
//      can trim READY and GUILD_CREATE from its replay buffer), then on the
//      Hello interval (first beat at a random point of it), and answers the
//      server's op 1.
//   5. Samples again when every session has its GUILD_CREATE, after --settle-s
//      (10) seconds, and measures the server's CPU (utime+stime from
//      /proc/<pid>/stat) over --cpu-window-s (30) seconds of pure heartbeating.
//   6. Closes everything (close 1000), stops the server it started, prints a
//      report (JSON on stdout with --json; progress goes to stderr).
//
// Options (defaults in brackets):
//   --sessions N [15000]      idle sessions to hold
//   --users N [100]           accounts the sessions are spread over
//   --warmup N [500]          sessions opened and closed before the baseline
//   --compress MODE [none]    none | zlib-stream | zstd-stream (zstd needs fzstd)
//   --heartbeat-interval-ms MS [41250]
//                             passed to the server it starts; a short one
//                             (e.g. 2000) measures the CPU cost of heartbeats
//                             (keep it >= 1000: the server closes a connection
//                             sending over 120 payloads a minute with 4008)
//   --intents N [1]           identify intents (1 = GUILDS)
//   --settle-s S [10]         wait between "all identified" and the sample
//   --cpu-window-s S [30]     CPU measurement window while sessions only heartbeat
//   --per-proc N [5000]       sockets per child process (fd limit 20,000)
//   --concurrency N [64]      handshakes in flight per child process
//   --session-timeout-s S [180]  a session must reach GUILD_CREATE within this
//   --timeout-s S [600]       global limit; the run is aborted after it
//   --no-spread-addresses     connect from 127.0.0.1 only
//   --bin PATH [build/release/parley]   server binary to start
//   --threads N               --threads for the server it starts
//   --server-arg ARG          extra argument for the server (repeatable)
//   --port P [--host H] [--pid PID]     use a running server instead (its pid
//                             is looked up from the listening socket if not
//                             given; its heartbeat interval comes from Hello)
//   --keep-data               keep the data directory and server log
//   --json                    print the report as JSON on stdout
//
// Examples:
//   node bench/gateway-idle.mjs                          # 15,000 sessions
//   node bench/gateway-idle.mjs --sessions 2000 --compress zlib-stream
//   node bench/gateway-idle.mjs --heartbeat-interval-ms 2000 --json
//
// The server needs 15k sockets: it inherits this shell's open-file limit
// (ulimit -n, 20,000 on the standard machine), which is checked up front.

import { fork, spawn, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

const SELF = fileURLToPath(import.meta.url);
const REPO = path.resolve(path.dirname(SELF), '..');
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ===================================================================== worker
// A child process holding up to --per-proc sessions. Driven over IPC:
//   {cmd:'open', host, port, localAddress, tokens, compress, intents,
//    concurrency, sessionTimeoutMs}  → progress messages, then 'opened'
//   {cmd:'stats'} → 'stats'
//   {cmd:'close'} → closes every socket (1000), 'closed', exit.

function runWorker() {
  process.on('disconnect', () => process.exit(1)); // never outlive the parent
  const conns = new Set(); // live connections
  const st = {
    ready: 0, failed: 0, failures: {}, drops: {}, latencies: [],
    firstStart: 0, lastReady: 0, interval: 0,
    beatsSent: 0, acks: 0, serverAsks: 0, dispatchesAfterReady: 0,
  };
  let cfg = null;
  let maskPool = crypto.randomBytes(4096);
  let maskOff = 0;
  const count = (obj, k) => {
    obj[k] = (obj[k] || 0) + 1;
  };
  let fzstd = null;

  function frame(opcode, payload) {
    const len = payload.length;
    const h = len < 126 ? 2 : len < 65536 ? 4 : 10;
    const out = Buffer.allocUnsafe(h + 4 + len);
    out[0] = 0x80 | opcode;
    if (len < 126) out[1] = 0x80 | len;
    else if (len < 65536) {
      out[1] = 0x80 | 126;
      out.writeUInt16BE(len, 2);
    } else {
      out[1] = 0x80 | 127;
      out.writeBigUInt64BE(BigInt(len), 2);
    }
    if (maskOff + 4 > maskPool.length) {
      maskPool = crypto.randomBytes(4096);
      maskOff = 0;
    }
    const m = maskPool.subarray(maskOff, maskOff + 4);
    maskOff += 4;
    m.copy(out, h);
    for (let i = 0; i < len; i++) out[h + 4 + i] = payload[i] ^ m[i & 3];
    return out;
  }

  class Conn {
    constructor(token) {
      this.token = token;
      this.state = 'connect';
      this.t0 = 0;
      this.done = false; // became ready or failed
      this.ready = false;
      this.closed = false;
      this.seq = null;
      this.interval = 0;
      this.nextBeat = 0;
      this.buf = null;
      this.frag = null;
      this.fragOp = 0;
      this.inflate = null;
      this.zstd = null;
      this.sock = null;
    }

    start() {
      this.t0 = Date.now();
      if (!st.firstStart) st.firstStart = this.t0;
      this.key = crypto.randomBytes(16).toString('base64');
      const opts = { host: cfg.host, port: cfg.port };
      if (cfg.localAddress) opts.localAddress = cfg.localAddress;
      const s = net.connect(opts);
      this.sock = s;
      conns.add(this);
      s.setNoDelay(true);
      s.on('connect', () => {
        this.state = 'handshake';
        const q = `/?v=10&encoding=json${cfg.compress ? `&compress=${cfg.compress}` : ''}`;
        s.write(
          `GET ${q} HTTP/1.1\r\nHost: ${cfg.host}:${cfg.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${this.key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        );
      });
      s.on('data', (d) => {
        try {
          this.onData(d);
        } catch (err) {
          this.end(`client-error:${err.message.slice(0, 60)}`);
        }
      });
      s.on('error', (e) => this.end(`socket-${e.code || e.message}`));
      s.on('close', () => this.end(this.ready ? 'eof' : `eof-during-${this.state}`));
    }

    onData(d) {
      this.buf = this.buf && this.buf.length ? Buffer.concat([this.buf, d]) : d;
      if (this.state === 'handshake') {
        const end = this.buf.indexOf('\r\n\r\n');
        if (end < 0) {
          if (this.buf.length > 16384) this.end('handshake-too-long');
          return;
        }
        const head = this.buf.subarray(0, end).toString('latin1');
        this.buf = this.buf.subarray(end + 4);
        const status = /^HTTP\/1\.[01] (\d{3})/.exec(head);
        if (!status || status[1] !== '101') return this.end(`http-${status ? status[1] : 'garbage'}`);
        const accept = /\r\nsec-websocket-accept:\s*(\S+)/i.exec(head);
        const want = crypto.createHash('sha1').update(this.key + WS_GUID).digest('base64');
        if (!accept || accept[1] !== want) return this.end('bad-sec-websocket-accept');
        this.state = 'hello';
      }
      while (this.buf && this.buf.length >= 2 && !this.closed) {
        const b = this.buf;
        const fin = (b[0] & 0x80) !== 0;
        const op = b[0] & 0x0f;
        const masked = (b[1] & 0x80) !== 0;
        let len = b[1] & 0x7f;
        let off = 2;
        if (len === 126) {
          if (b.length < 4) return;
          len = b.readUInt16BE(2);
          off = 4;
        } else if (len === 127) {
          if (b.length < 10) return;
          len = Number(b.readBigUInt64BE(2));
          off = 10;
        }
        const maskAt = off;
        if (masked) off += 4;
        if (b.length < off + len) return;
        let payload = b.subarray(off, off + len);
        if (masked) {
          payload = Buffer.from(payload);
          for (let i = 0; i < len; i++) payload[i] ^= b[maskAt + (i & 3)];
        }
        this.buf = b.length === off + len ? null : b.subarray(off + len);
        this.onFrame(fin, op, payload);
      }
    }

    onFrame(fin, op, payload) {
      if (op === 0x8) {
        const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        if (this.sock.writable) this.sock.write(frame(0x8, payload.subarray(0, 2)));
        this.sock.end();
        return this.end(`close-${code}`);
      }
      if (op === 0x9) {
        if (this.sock.writable) this.sock.write(frame(0xa, payload));
        return;
      }
      if (op === 0xa) return;
      if (op === 0x0) {
        if (!this.frag) return this.end('protocol-stray-continuation');
        this.frag.push(payload);
        if (!fin) return;
        const whole = Buffer.concat(this.frag);
        this.frag = null;
        return this.onMessage(this.fragOp, whole);
      }
      if (!fin) {
        this.frag = [payload];
        this.fragOp = op;
        return;
      }
      this.onMessage(op, payload);
    }

    onMessage(op, payload) {
      if (op === 0x2 && cfg.compress === 'zlib-stream') {
        if (!this.inflate) {
          this.inflate = zlib.createInflate();
          this.inflated = [];
          this.inflate.on('data', (c) => this.inflated.push(c));
          this.inflate.on('error', (e) => this.end(`inflate-${e.code || e.message}`));
        }
        this.inflate.write(payload);
        this.inflate.flush(zlib.constants.Z_SYNC_FLUSH, () => {
          const text = Buffer.concat(this.inflated).toString();
          this.inflated = [];
          if (!this.closed) this.onText(text);
        });
        return;
      }
      if (op === 0x2 && cfg.compress === 'zstd-stream') {
        if (!this.zstd) {
          this.zout = [];
          this.zstd = new fzstd.Decompress((chunk) => this.zout.push(chunk));
        }
        this.zstd.push(payload);
        const text = Buffer.concat(this.zout).toString();
        this.zout = [];
        return this.onText(text);
      }
      if (op === 0x2) return this.end('unexpected-binary-frame');
      this.onText(payload.toString());
    }

    onText(text) {
      let p;
      try {
        p = JSON.parse(text);
      } catch {
        return this.end('unparsable-payload');
      }
      if (p.s != null) this.seq = p.s;
      switch (p.op) {
        case 10: {
          this.interval = Number(p.d?.heartbeat_interval) || 41250;
          st.interval = this.interval;
          this.state = 'ready';
          this.send({
            op: 2,
            d: {
              token: this.token,
              intents: cfg.intents,
              properties: { os: 'linux', browser: 'parley-bench', device: 'parley-bench' },
              compress: false,
            },
          });
          break;
        }
        case 0:
          if (this.ready) {
            st.dispatchesAfterReady++;
          } else if (p.t === 'READY') {
            this.state = 'guild_create';
          } else if (p.t === 'GUILD_CREATE') {
            this.onReady();
          }
          break;
        case 11:
          st.acks++;
          break;
        case 1:
          st.serverAsks++;
          this.beat();
          break;
        case 9:
          this.end('invalid-session');
          break;
        case 7:
          this.end('reconnect-requested');
          break;
        default:
          break;
      }
    }

    onReady() {
      const now = Date.now();
      this.ready = true;
      this.done = true;
      st.ready++;
      st.lastReady = Math.max(st.lastReady, now);
      st.latencies.push(now - this.t0);
      this.buf = this.buf && this.buf.length ? Buffer.from(this.buf) : null; // drop the big read chunk
      // One heartbeat at once, acknowledging READY and GUILD_CREATE, so the
      // server may drop them from the replay buffer; then every interval,
      // the first one at a random point of it to spread the load.
      this.beat();
      this.nextBeat = now + Math.floor(Math.random() * this.interval);
      inflight--;
      pump();
    }

    beat() {
      this.send({ op: 1, d: this.seq });
      st.beatsSent++;
      this.nextBeat = Date.now() + this.interval;
    }

    send(obj) {
      if (this.closed || !this.sock.writable) return;
      this.sock.write(frame(0x1, Buffer.from(JSON.stringify(obj))));
    }

    end(reason) {
      if (this.closed) return;
      this.closed = true;
      conns.delete(this);
      if (this.sock && !this.sock.destroyed) this.sock.destroy();
      if (this.inflate) this.inflate.close();
      if (!this.done) {
        this.done = true;
        st.failed++;
        count(st.failures, reason);
        inflight--;
        pump();
      } else if (!closingAll) {
        count(st.drops, reason);
      }
    }
  }

  let queue = [];
  let inflight = 0;
  let closingAll = false;
  let total = 0;
  let openedSent = false;
  function pump() {
    while (inflight < cfg.concurrency && queue.length) {
      inflight++;
      new Conn(queue.pop()).start();
    }
    if (!openedSent && st.ready + st.failed === total) {
      openedSent = true;
      process.send({ type: 'opened', st: snapshot(true) });
    }
  }
  function snapshot(withLatencies) {
    const { latencies, ...rest } = st;
    return { ...rest, alive: conns.size, ...(withLatencies ? { latencies } : {}) };
  }

  // Heartbeats and per-session deadlines, checked on one timer for all sockets.
  let ticker = null;
  function startTicker() {
    const tick = Math.max(20, Math.min(200, Math.floor((st.interval || 41250) / 10)));
    ticker = setInterval(() => {
      const now = Date.now();
      for (const c of conns) {
        if (c.ready) {
          if (now >= c.nextBeat) c.beat();
        } else if (now - c.t0 > cfg.sessionTimeoutMs) {
          c.end(`timeout-waiting-${c.state}`);
        }
      }
      if (st.interval && tick !== Math.max(20, Math.min(200, Math.floor(st.interval / 10)))) {
        clearInterval(ticker);
        startTicker();
      }
    }, tick);
  }

  process.on('message', async (msg) => {
    if (msg.cmd === 'open') {
      cfg = msg;
      if (cfg.compress === 'zstd-stream') fzstd = await import('fzstd');
      queue = msg.tokens.slice().reverse();
      total = queue.length;
      startTicker();
      const progress = setInterval(() => process.send({ type: 'progress', ready: st.ready, failed: st.failed }), 1000);
      progress.unref();
      pump();
    } else if (msg.cmd === 'stats') {
      process.send({ type: 'stats', st: snapshot(false) });
    } else if (msg.cmd === 'close') {
      closingAll = true;
      clearInterval(ticker);
      queue = [];
      const closeFrame = frame(0x8, Buffer.from([0x03, 0xe8])); // 1000: end the session
      for (const c of conns) {
        if (c.sock.writable) c.sock.end(closeFrame);
        else c.sock.destroy();
      }
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline && [...conns].some((c) => !c.sock.destroyed)) await sleep(50);
      for (const c of conns) c.sock.destroy();
      process.send({ type: 'closed', st: snapshot(false) }, () => process.exit(0));
    }
  });
  process.send({ type: 'up' });
}

// ===================================================================== parent

const children = new Set();
let serverProc = null;
let dataDir = null;
let keepData = false;

function cleanupSync() {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {
      // gone
    }
  }
  children.clear();
  if (serverProc && serverProc.exitCode === null) {
    try {
      serverProc.kill('SIGKILL');
    } catch {
      // gone
    }
  }
  if (dataDir && !keepData) {
    try {
      fs.rmSync(dataDir, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
}
process.on('exit', cleanupSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    console.error(`gateway-idle: ${sig}, cleaning up`);
    cleanupSync();
    process.exit(130);
  });
}

function parseArgs(argv) {
  const o = {
    sessions: 15000, users: 100, warmup: 500, compress: 'none', heartbeatIntervalMs: 41250,
    intents: 1, settleS: 10, cpuWindowS: 30, perProc: 5000, concurrency: 64,
    sessionTimeoutS: 180, timeoutS: 600, spreadAddresses: true,
    bin: path.join(REPO, 'build/release/parley'), threads: null, serverArgs: [],
    port: null, host: '127.0.0.1', pid: null, keepData: false, json: false,
  };
  const num = (k, v) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${k}: not a number: ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--sessions': o.sessions = num(a, v()); break;
      case '--users': o.users = Math.max(1, num(a, v())); break;
      case '--warmup': o.warmup = num(a, v()); break;
      case '--compress': o.compress = v(); break;
      case '--heartbeat-interval-ms': o.heartbeatIntervalMs = num(a, v()); break;
      case '--intents': o.intents = num(a, v()); break;
      case '--settle-s': o.settleS = num(a, v()); break;
      case '--cpu-window-s': o.cpuWindowS = num(a, v()); break;
      case '--per-proc': o.perProc = Math.max(1, num(a, v())); break;
      case '--concurrency': o.concurrency = Math.max(1, num(a, v())); break;
      case '--session-timeout-s': o.sessionTimeoutS = num(a, v()); break;
      case '--timeout-s': o.timeoutS = num(a, v()); break;
      case '--no-spread-addresses': o.spreadAddresses = false; break;
      case '--bin': o.bin = path.resolve(v()); break;
      case '--threads': o.threads = num(a, v()); break;
      case '--server-arg': o.serverArgs.push(v()); break;
      case '--port': o.port = num(a, v()); break;
      case '--host': o.host = v(); break;
      case '--pid': o.pid = num(a, v()); break;
      case '--keep-data': o.keepData = true; break;
      case '--json': o.json = true; break;
      case '-h': case '--help':
        process.stdout.write(fs.readFileSync(SELF, 'utf8').split('\n').filter((l) => l.startsWith('//')).map((l) => l.slice(3)).join('\n') + '\n');
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option ${a} (see --help)`);
    }
  }
  if (!['none', 'zlib-stream', 'zstd-stream'].includes(o.compress)) throw new Error(`--compress: none, zlib-stream or zstd-stream`);
  if (o.perProc > 19000) throw new Error('--per-proc above the 20,000 open-file limit of a process');
  if (o.heartbeatIntervalMs < 1000) throw new Error('--heartbeat-interval-ms below 1000 would exceed 120 payloads a minute (close 4008)');
  return o;
}

const log = (...a) => console.error(`[${new Date().toISOString().slice(11, 19)}]`, ...a);

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// ------------------------------------------------------------ /proc samples

function readProc(file) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
function kbFields(text, names) {
  const out = {};
  for (const n of names) {
    const m = new RegExp(`^${n}:\\s+(\\d+) kB`, 'm').exec(text);
    if (m) out[n] = Number(m[1]) * 1024;
  }
  return out;
}
function memSample(pid) {
  const status = readProc(`/proc/${pid}/status`);
  const rollup = readProc(`/proc/${pid}/smaps_rollup`);
  const s = kbFields(status, ['VmRSS', 'VmHWM', 'RssAnon', 'RssFile', 'VmData']);
  const r = kbFields(rollup, ['Rss', 'Pss', 'Anonymous', 'Private_Dirty']);
  let fds = null;
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    // not ours to read
  }
  const sock = /^TCP: (.*)$/m.exec(readProc('/proc/net/sockstat'));
  const tcp = {};
  if (sock) for (const [, k, v] of sock[1].matchAll(/(\w+) (\d+)/g)) tcp[k] = Number(v);
  return {
    at: Date.now(),
    rss: s.VmRSS ?? null, hwm: s.VmHWM ?? null, rss_anon: s.RssAnon ?? null, rss_file: s.RssFile ?? null,
    vm_data: s.VmData ?? null, pss: r.Pss ?? null, anonymous: r.Anonymous ?? null, private_dirty: r.Private_Dirty ?? null,
    threads: Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? NaN), fds,
    // kernel socket memory is not in RSS: TCP "mem" is in pages, system-wide
    tcp_sockets_inuse: tcp.inuse ?? null, tcp_mem_pages: tcp.mem ?? null,
  };
}
let clkTck = 100;
try {
  clkTck = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
} catch {
  // keep 100
}
function cpuSample(pid) {
  const stat = readProc(`/proc/${pid}/stat`);
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields after "(comm)": state is field 3, utime 14, stime 15 (1-based)
  return { at: Date.now(), utime: Number(rest[11]) / clkTck, stime: Number(rest[12]) / clkTck };
}

/** The pid of the process listening on 127.0.0.1/0.0.0.0/:: `port` (needs permission to read /proc/<pid>/fd). */
function findListenerPid(port) {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readProc(f).split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 9 && cols[1].endsWith(`:${hex}`) && cols[3] === '0A') inodes.add(cols[9]);
    }
  }
  if (!inodes.size) return null;
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let fds;
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m && inodes.has(m[1])) return Number(pid);
      } catch {
        // fd closed meanwhile
      }
    }
  }
  return null;
}

function openFileLimit(pid) {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readProc(`/proc/${pid}/limits`));
  return m ? (m[1] === 'unlimited' ? Infinity : Number(m[1])) : null;
}

// ------------------------------------------------------------ REST set-up

async function api(base, method, route, { token, body } = {}) {
  for (let attempt = 0; attempt < 20; attempt++) {
    const headers = {};
    if (token) headers.Authorization = token;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(`${base}${route}`, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    if (res.status === 429) {
      const after = Number(res.headers.get('retry-after')) || 1;
      await sleep(Math.min(after, 60) * 1000 + 50);
      continue;
    }
    if (res.status >= 300) throw new Error(`${method} ${route} → ${res.status} ${text.slice(0, 300)}`);
    return text ? JSON.parse(text) : null;
  }
  throw new Error(`${method} ${route}: still rate limited after 20 attempts`);
}

async function mapLimit(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i], i);
      }
    }),
  );
  return out;
}

async function setupGuild(base, nUsers) {
  const run = Date.now().toString(36);
  const password = 'gateway-idle-bench-password';
  const names = Array.from({ length: nUsers }, (_, i) => `gi${run}_${i}`);
  const users = await mapLimit(names, 8, (username) => api(base, 'POST', '/auth/register', { body: { username, password } }));
  const owner = users[0];
  const guild = await api(base, 'POST', '/guilds', { token: owner.token, body: { name: `gateway idle ${run}` } });
  const channels = await api(base, 'GET', `/guilds/${guild.id}/channels`, { token: owner.token });
  const text = channels.find((c) => c.type === 0);
  if (!text) throw new Error('new guild has no text channel');
  const inv = await api(base, 'POST', `/channels/${text.id}/invites`, { token: owner.token, body: { max_uses: 0, max_age: 0 } });
  await mapLimit(users.slice(1), 8, (u) => api(base, 'POST', `/invites/${encodeURIComponent(inv.code)}`, { token: u.token, body: {} }));
  return { guildId: guild.id, tokens: users.map((u) => u.token) };
}

// ------------------------------------------------------------ workers

class Worker {
  constructor(index) {
    this.index = index;
    this.proc = fork(SELF, ['--worker'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.add(this.proc);
    this.progress = { ready: 0, failed: 0 };
    this.waiters = new Map();
    this.exited = new Promise((resolve) => this.proc.once('exit', (code, sig) => {
      children.delete(this.proc);
      this.exitInfo = { code, sig };
      for (const [, w] of this.waiters) w.reject(new Error(`worker ${index} exited (${code ?? sig})`));
      this.waiters.clear();
      resolve();
    }));
    this.proc.on('message', (m) => {
      if (m.type === 'progress') this.progress = m;
      const w = this.waiters.get(m.type);
      if (w) {
        this.waiters.delete(m.type);
        w.resolve(m);
      }
    });
  }
  wait(type, ms) {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiters.delete(type);
        reject(new Error(`worker ${this.index}: no '${type}' within ${Math.round(ms / 1000)} s`));
      }, Math.max(1, ms));
      this.waiters.set(type, {
        resolve: (m) => {
          clearTimeout(t);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(t);
          reject(e);
        },
      });
    });
  }
  send(m) {
    if (this.proc.connected) this.proc.send(m);
  }
  async close(ms = 15_000) {
    const p = this.wait('closed', ms).catch(() => null);
    this.send({ cmd: 'close' });
    const m = await p;
    await Promise.race([this.exited, sleep(3000)]);
    if (!this.exitInfo) this.proc.kill('SIGKILL');
    return m;
  }
}

/** Open `count` sessions over ceil(count/perProc) workers; resolves when each has its GUILD_CREATE or failed. */
async function openSessions(o, count, tokens, label, deadline) {
  const nWorkers = Math.max(1, Math.ceil(count / o.perProc));
  const workers = Array.from({ length: nWorkers }, (_, k) => new Worker(k));
  await Promise.all(workers.map((w) => w.wait('up', 30_000)));
  const started = Date.now();
  const opened = [];
  for (let k = 0; k < nWorkers; k++) {
    const lo = Math.floor((count * k) / nWorkers);
    const hi = Math.floor((count * (k + 1)) / nWorkers);
    const mine = [];
    for (let i = lo; i < hi; i++) mine.push(tokens[i % tokens.length]);
    opened.push(workers[k].wait('opened', deadline - Date.now()));
    workers[k].send({
      cmd: 'open', host: o.host, port: o.port, tokens: mine,
      localAddress: o.spreadAddresses && o.host.startsWith('127.') ? `127.0.0.${2 + (k % 250)}` : undefined,
      compress: o.compress === 'none' ? null : o.compress, intents: o.intents,
      concurrency: o.concurrency, sessionTimeoutMs: o.sessionTimeoutS * 1000,
    });
  }
  const progress = setInterval(() => {
    const r = workers.reduce((a, w) => a + w.progress.ready, 0);
    const f = workers.reduce((a, w) => a + w.progress.failed, 0);
    log(`${label}: ${r} ready, ${f} failed of ${count} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  }, 5000);
  try {
    const results = (await Promise.all(opened)).map((m) => m.st);
    return { workers, results, started };
  } finally {
    clearInterval(progress);
  }
}

async function workerStats(workers) {
  const all = await Promise.all(workers.map((w) => {
    const p = w.wait('stats', 15_000);
    w.send({ cmd: 'stats' });
    return p;
  }));
  return all.map((m) => m.st);
}

function sumBy(list, k) {
  return list.reduce((a, x) => a + (x[k] || 0), 0);
}
function mergeCounts(list, k) {
  const out = {};
  for (const x of list) for (const [r, n] of Object.entries(x[k] || {})) out[r] = (out[r] || 0) + n;
  return out;
}
function pct(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

// ------------------------------------------------------------ main

async function main() {
  const o = parseArgs(process.argv.slice(2));
  keepData = o.keepData;
  const t0 = Date.now();
  const deadline = t0 + o.timeoutS * 1000;
  const globalTimer = setTimeout(() => {
    console.error(`gateway-idle: global timeout (${o.timeoutS} s) reached, aborting`);
    cleanupSync();
    process.exit(2);
  }, o.timeoutS * 1000);
  globalTimer.unref();

  const ourLimit = openFileLimit('self');
  if (o.perProc + 100 > (ourLimit ?? Infinity)) throw new Error(`--per-proc ${o.perProc} exceeds this process' open-file limit ${ourLimit}`);

  // ---- server
  let pid = o.pid;
  let serverArgs = null;
  let serverLog = null;
  if (o.port == null) {
    if (!fs.existsSync(o.bin)) throw new Error(`no server binary at ${o.bin} (scripts/build.sh release, or --bin)`);
    o.port = await freePort();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-gw-idle-'));
    serverLog = path.join(dataDir, 'server.log');
    serverArgs = [
      'serve', '--listen', `127.0.0.1:${o.port}`, '--data', dataDir, '--password-cost', 'min',
      '--ratelimit-global', '0', '--ratelimit-scale', '1000000', '--log-level', 'warn',
      '--max-connections-per-ip', '0', // clients spread over 127.0.0.2, .3, ...
      '--heartbeat-interval-ms', String(o.heartbeatIntervalMs),
      ...(o.threads != null ? ['--threads', String(o.threads)] : []), ...o.serverArgs,
    ];
    const out = fs.openSync(serverLog, 'a');
    serverProc = spawn(o.bin, serverArgs, { stdio: ['ignore', out, out] });
    fs.closeSync(out);
    pid = serverProc.pid;
    log(`server: ${o.bin} ${serverArgs.join(' ')} (pid ${pid}, log ${serverLog})`);
    for (let i = 0; ; i++) {
      if (serverProc.exitCode !== null) throw new Error(`server exited at start-up (${serverProc.exitCode}):\n${readProc(serverLog).slice(-3000)}`);
      const ok = await new Promise((resolve) => {
        const s = net.connect({ host: '127.0.0.1', port: o.port }, () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      });
      if (ok) break;
      if (i > 200) throw new Error('server did not listen within 20 s');
      await sleep(100);
    }
  } else {
    pid ??= findListenerPid(o.port);
    if (!pid) throw new Error(`cannot find the pid listening on port ${o.port}: give --pid`);
    log(`attached to the server on ${o.host}:${o.port} (pid ${pid})`);
  }
  const base = `http://${o.host}:${o.port}/api/v10`;
  const gw = await fetch(`${base}/gateway`, { signal: AbortSignal.timeout(10_000) });
  if (gw.status !== 200) throw new Error(`GET /api/v10/gateway → ${gw.status}: this server has no gateway`);
  const fdLimit = openFileLimit(pid);
  if (fdLimit != null && fdLimit < o.sessions + 200) log(`WARNING: the server's open-file limit (${fdLimit}) is below ${o.sessions} sessions + 200`);

  // ---- accounts, guild
  log(`registering ${o.users} users, one guild, one invite`);
  const { guildId, tokens } = await setupGuild(base, Math.min(o.users, Math.max(1, o.sessions)));

  // ---- warm-up
  if (o.warmup > 0) {
    log(`warm-up: ${o.warmup} sessions`);
    const w = await openSessions(o, o.warmup, tokens, 'warm-up', deadline);
    const failedW = sumBy(w.results, 'failed');
    if (failedW) log(`warm-up: ${failedW} failed: ${JSON.stringify(mergeCounts(w.results, 'failures'))}`);
    await Promise.all(w.workers.map((x) => x.close()));
    await sleep(3000);
  }

  // ---- baseline, open, settle
  const memBefore = memSample(pid);
  log(`baseline: VmRSS ${(memBefore.rss / 2 ** 20).toFixed(1)} MiB; opening ${o.sessions} sessions`);
  const held = await openSessions(o, o.sessions, tokens, 'open', deadline);
  const memOpen = memSample(pid);
  const ready = sumBy(held.results, 'ready');
  const failed = sumBy(held.results, 'failed');
  const firstStart = Math.min(...held.results.map((r) => r.firstStart || Infinity));
  const lastReady = Math.max(...held.results.map((r) => r.lastReady || 0));
  const latencies = held.results.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const interval = Math.max(...held.results.map((r) => r.interval || 0));
  log(`open: ${ready} ready, ${failed} failed; settling ${o.settleS} s`);
  await sleep(o.settleS * 1000);
  const memSettled = memSample(pid);

  // ---- idle CPU window
  log(`idle: measuring the server's CPU for ${o.cpuWindowS} s (heartbeat interval ${interval} ms)`);
  const stats0 = await workerStats(held.workers);
  const cpu0 = cpuSample(pid);
  await sleep(o.cpuWindowS * 1000);
  const cpu1 = cpuSample(pid);
  const stats1 = await workerStats(held.workers);
  const memIdle = memSample(pid);

  // ---- tear down
  const closed = await Promise.all(held.workers.map((w) => w.close()));
  if (serverProc) {
    serverProc.kill('SIGTERM');
    await Promise.race([new Promise((r) => serverProc.once('exit', r)), sleep(10_000)]);
    if (serverProc.exitCode === null && serverProc.signalCode === null) serverProc.kill('SIGKILL');
  }
  clearTimeout(globalTimer);

  // ---- report
  const wall = (lastReady - firstStart) / 1000;
  const cpuS = cpu1.utime + cpu1.stime - (cpu0.utime + cpu0.stime);
  const winS = (cpu1.at - cpu0.at) / 1000;
  const perSession = (a, b, k) => (a[k] != null && b[k] != null && ready ? Math.round((b[k] - a[k]) / ready) : null);
  let commit = null;
  try {
    commit = execFileSync('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    // not a checkout
  }
  const report = {
    date: new Date().toISOString(),
    commit,
    machine: { cores: os.cpus().length, mem_bytes: os.totalmem(), kernel: os.release() },
    server: { pid, started: Boolean(serverProc), bin: serverProc ? o.bin : null, args: serverArgs, open_file_limit: fdLimit },
    options: {
      sessions: o.sessions, users: tokens.length, warmup: o.warmup, compress: o.compress, intents: o.intents,
      heartbeat_interval_ms: interval, processes: held.workers.length, per_proc: o.perProc, concurrency: o.concurrency,
      spread_addresses: o.spreadAddresses,
    },
    guild_id: guildId,
    sessions: {
      requested: o.sessions, ready, failed, failures: mergeCounts(held.results, 'failures'),
      alive_after_idle: sumBy(stats1, 'alive'), dropped: mergeCounts(stats1, 'drops'),
    },
    connect: {
      wall_s: Number(wall.toFixed(3)),
      sessions_per_s: wall > 0 ? Number((ready / wall).toFixed(1)) : null,
      latency_ms: { p50: pct(latencies, 50), p90: pct(latencies, 90), p99: pct(latencies, 99), max: latencies.at(-1) ?? null },
    },
    memory: {
      before: memBefore, after_open: memOpen, settled: memSettled, after_idle: memIdle,
      rss_growth_bytes: memSettled.rss - memBefore.rss,
      bytes_per_session: perSession(memBefore, memSettled, 'rss'),
      bytes_per_session_after_idle: perSession(memBefore, memIdle, 'rss'),
      anon_bytes_per_session: perSession(memBefore, memSettled, 'rss_anon'),
      pss_bytes_per_session: perSession(memBefore, memSettled, 'pss'),
      kernel_tcp_mem_pages_growth: memSettled.tcp_mem_pages != null ? memSettled.tcp_mem_pages - memBefore.tcp_mem_pages : null,
    },
    idle: {
      window_s: Number(winS.toFixed(2)),
      cpu_s: Number(cpuS.toFixed(3)),
      cpu_user_s: Number((cpu1.utime - cpu0.utime).toFixed(3)),
      cpu_system_s: Number((cpu1.stime - cpu0.stime).toFixed(3)),
      cpu_percent_of_one_core: Number(((100 * cpuS) / winS).toFixed(2)),
      heartbeats_sent: sumBy(stats1, 'beatsSent') - sumBy(stats0, 'beatsSent'),
      heartbeat_acks: sumBy(stats1, 'acks') - sumBy(stats0, 'acks'),
      heartbeats_per_s: Number(((sumBy(stats1, 'beatsSent') - sumBy(stats0, 'beatsSent')) / winS).toFixed(1)),
      server_heartbeat_requests: sumBy(stats1, 'serverAsks') - sumBy(stats0, 'serverAsks'),
      dispatches_while_idle: sumBy(stats1, 'dispatchesAfterReady') - sumBy(stats0, 'dispatchesAfterReady'),
    },
    closed_cleanly: closed.every(Boolean),
    total_s: Number(((Date.now() - t0) / 1000).toFixed(1)),
  };
  if (o.json) {
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  } else {
    const mib = (b) => (b == null ? '?' : `${(b / 2 ** 20).toFixed(1)} MiB`);
    const m = report.memory;
    console.log(`# gateway-idle ${report.date} commit ${commit ?? '?'}, ${report.machine.cores} cores`);
    console.log(`sessions: ${ready}/${o.sessions} identified (${o.compress}, intents ${o.intents}, ${tokens.length} users, ${held.workers.length} client processes); failed ${failed} ${JSON.stringify(report.sessions.failures)}`);
    console.log(`connect: ${report.connect.sessions_per_s} sessions/s (TCP connect → GUILD_CREATE, ${report.connect.wall_s} s); latency p50 ${report.connect.latency_ms.p50} ms, p99 ${report.connect.latency_ms.p99} ms, max ${report.connect.latency_ms.max} ms`);
    console.log(`server RSS: ${mib(m.before.rss)} before → ${mib(m.after_open.rss)} all identified → ${mib(m.settled.rss)} after ${o.settleS} s → ${mib(m.after_idle.rss)} after the idle window`);
    console.log(`per session: ${m.bytes_per_session} B RSS (anon ${m.anon_bytes_per_session} B, PSS ${m.pss_bytes_per_session} B; ${m.bytes_per_session_after_idle} B after the idle window); kernel TCP memory ${m.kernel_tcp_mem_pages_growth >= 0 ? '+' : ''}${m.kernel_tcp_mem_pages_growth} pages system-wide (not in RSS)`);
    console.log(`idle (${report.idle.window_s} s, heartbeat every ${interval} ms): server CPU ${report.idle.cpu_percent_of_one_core}% of one core (user ${report.idle.cpu_user_s} s, system ${report.idle.cpu_system_s} s), ${report.idle.heartbeats_per_s} heartbeats/s, ${report.idle.heartbeat_acks} acks, ${report.idle.server_heartbeat_requests} server op 1, ${report.idle.dispatches_while_idle} dispatches`);
    console.log(`alive after the idle window: ${report.sessions.alive_after_idle}; dropped ${JSON.stringify(report.sessions.dropped)}`);
  }
  cleanupSync();
  process.exit(0);
}

// Entry point (at the end: the parent's module-level state above must be initialised first).
if (process.argv[2] === '--worker') {
  runWorker();
} else {
  main().catch((err) => {
    console.error(`gateway-idle: ${err.stack || err}`);
    cleanupSync();
    process.exit(1);
  });
}
