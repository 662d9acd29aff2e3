// A small, strict gateway v10 client for the black-box tests (docs/gateway.md).
//
// It speaks RFC 6455 itself over node:net (no `ws`), so that tests can send
// frames a library would refuse to send (unmasked, bad UTF-8, oversized,
// interleaved fragments, raw bytes), and so that it can check every frame the
// server sends: unmasked, no RSV bits, known opcodes, minimal length encoding,
// control frames unfragmented and ≤ 125 bytes, fragments properly sequenced,
// each message exactly one payload of the connection's encoding (encoding=
// in the query: JSON in valid UTF-8 text frames; ETF or MessagePack in
// binary frames, payloadCodec) with an integer `op`, dispatches numbered
// s = 1, 2, 3, ... with no gap.
//
// Transport compression (compress= in the query):
//   zlib-stream: one zlib inflate stream for the whole connection; every
//     binary message must end with 00 00 ff ff (Z_SYNC_FLUSH) and is fed and
//     flushed; its output must be exactly one JSON payload.
//   zstd-stream: one fzstd `Decompress` stream for the whole connection
//     (fzstd emits each complete block as it is pushed, so the output of a
//     message flushed with ZSTD_e_flush is available right after the push).
//
// Violations are recorded in `gw.violations` (and `gw.seqErrors`); tests call
// `gw.assertClean()` at the end. They also appear in timeout messages.

import net from 'node:net';
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const require = createRequire(import.meta.url);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/**
 * The codec of a payload encoding (encoding= in the query): JSON; ETF with
 * erlpack, built by scripts/test.sh in tests/integration/libraries/native
 * (kept out of the top-level node_modules: eris, oceanic.js and detritus
 * switch to ETF whenever they find it); MessagePack with @msgpack/msgpack.
 */
export function payloadCodec(encoding) {
  if (encoding === 'etf') {
    let erlpack;
    try {
      erlpack = require(path.join(repoRoot, 'tests/integration/libraries/native/node_modules/erlpack'));
    } catch (e) {
      throw new Error(`encoding=etf needs erlpack (npm ci --prefix tests/integration/libraries/native, scripts/test.sh does it): ${e.message}`);
    }
    return { binary: true, encode: (o) => erlpack.pack(o), decode: (b) => erlpack.unpack(b) };
  }
  if (encoding === 'msgpack') {
    const { encode, decode } = require('@msgpack/msgpack');
    return { binary: true, encode: (o) => Buffer.from(encode(o)), decode: (b) => decode(b) };
  }
  return {
    binary: false,
    encode: (o) => Buffer.from(JSON.stringify(o), 'utf8'),
    decode: (b) => JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(b)),
  };
}

export const OP = {
  DISPATCH: 0,
  HEARTBEAT: 1,
  IDENTIFY: 2,
  PRESENCE_UPDATE: 3,
  VOICE_STATE_UPDATE: 4,
  RESUME: 6,
  RECONNECT: 7,
  REQUEST_GUILD_MEMBERS: 8,
  INVALID_SESSION: 9,
  HELLO: 10,
  HEARTBEAT_ACK: 11,
};

export const INTENTS = {
  GUILDS: 1 << 0,
  GUILD_MEMBERS: 1 << 1, // privileged
  GUILD_MODERATION: 1 << 2,
  GUILD_INVITES: 1 << 6,
  GUILD_PRESENCES: 1 << 8, // privileged
  GUILD_MESSAGES: 1 << 9,
  GUILD_MESSAGE_TYPING: 1 << 11,
  DIRECT_MESSAGES: 1 << 12,
  MESSAGE_CONTENT: 1 << 15, // privileged
};
/** Every non-privileged guild intent the tests use. */
export const NON_PRIVILEGED =
  INTENTS.GUILDS | INTENTS.GUILD_MODERATION | INTENTS.GUILD_INVITES | INTENTS.GUILD_MESSAGES | INTENTS.GUILD_MESSAGE_TYPING;
export const ALL_USED_INTENTS = NON_PRIVILEGED | INTENTS.GUILD_MEMBERS | INTENTS.GUILD_PRESENCES | INTENTS.MESSAGE_CONTENT;

// Application flags that grant privileged intents (PATCH /applications/{id} {flags}).
export const APP_FLAGS = {
  GATEWAY_PRESENCE: 1 << 12,
  GATEWAY_PRESENCE_LIMITED: 1 << 13,
  GATEWAY_GUILD_MEMBERS: 1 << 14,
  GATEWAY_GUILD_MEMBERS_LIMITED: 1 << 15,
  GATEWAY_MESSAGE_CONTENT: 1 << 18,
  GATEWAY_MESSAGE_CONTENT_LIMITED: 1 << 19,
};

export const WS_OP = { CONT: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa };
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const ZLIB_SUFFIX = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** Default wait for one payload (the tests run under ASan on 2 cores). */
export const DEFAULT_TIMEOUT_MS = 20_000;

/** Sec-WebSocket-Accept for a key (RFC 6455 §4.2.2). */
export function acceptFor(key) {
  return crypto.createHash('sha1').update(key + WS_GUID).digest('base64');
}

/**
 * Build one client frame. payload: Buffer | string. mask: true (random key),
 * false (unmasked, a protocol violation), or a 4-byte Buffer.
 */
export function encodeFrame(opcode, payload = Buffer.alloc(0), { fin = true, mask = true, rsv = 0, lengthForm } = {}) {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const len = data.length;
  let header;
  const form = lengthForm ?? (len < 126 ? 7 : len < 65536 ? 16 : 64);
  if (form === 7) {
    header = Buffer.alloc(2);
    header[1] = len;
  } else if (form === 16) {
    header = Buffer.alloc(4);
    header[1] = 126;
    header.writeUInt16BE(len, 2);
  } else {
    header = Buffer.alloc(10);
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(len), 2);
  }
  header[0] = (fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f);
  if (!mask) return Buffer.concat([header, data]);
  header[1] |= 0x80;
  const key = Buffer.isBuffer(mask) ? mask : crypto.randomBytes(4);
  const masked = Buffer.alloc(len);
  for (let i = 0; i < len; i++) masked[i] = data[i] ^ key[i & 3];
  return Buffer.concat([header, key, masked]);
}

function describePayload(p) {
  if (p === undefined) return 'undefined';
  const s = JSON.stringify(p);
  return s.length > 300 ? s.slice(0, 300) + '…' : s;
}

/**
 * One gateway connection. Use `GatewayClient.connect(port, opts)`.
 *
 * State a test may read:
 *   hello        the Hello payload (when connect waited for it)
 *   payloads     every decoded payload, in arrival order
 *   dispatches   every op 0 payload, in arrival order
 *   queue        payloads not yet taken by next()
 *   seq          last `s` seen (null before the first dispatch)
 *   sessionId    from READY
 *   violations   protocol violations by the server (strings)
 *   seqErrors    dispatch numbering errors (strings)
 *   bytesReceived  bytes read from the socket after the 101 (frame headers included)
 *   closed       Promise<{code, reason, closeFrame: boolean}>: resolves when the TCP
 *                connection is gone; code 1006 when no close frame came
 *   closeInfo    the same object, once closed
 */
export class GatewayClient {
  constructor(socket, { compress = null, encoding = 'json', label = 'gw', port } = {}) {
    this.socket = socket;
    this.encoding = encoding;
    this.codec = payloadCodec(encoding);
    this.label = label;
    this.port = port;
    this.compress = compress;
    this.hello = null;
    this.payloads = [];
    this.dispatches = [];
    this.queue = [];
    this.waiters = [];
    this.seq = null;
    this.sessionId = null;
    this.ready = null;
    this.guildCreates = null;
    this.violations = [];
    this.seqErrors = [];
    this.bytesReceived = 0;
    this.framesReceived = 0;
    this.pongs = [];
    this.pings = [];
    this.closeFrame = null; // {code, reason} of the server's close frame
    this._closeSeen = false;
    this.closeSent = null; // {code, reason} of ours
    this.closeInfo = null;
    this.socketError = null;
    this._wire = new WeakMap();
    this._buf = Buffer.alloc(0);
    this._frag = null; // {opcode, parts: [], bytes, wire}
    this._chain = Promise.resolve();
    this._heartbeatTimer = null;
    this._autoAnswerHeartbeatRequests = false;
    this._pongWaiters = [];
    this.closed = new Promise((resolve) => {
      this._resolveClosed = resolve;
    });
    this._inflate = null;
    this._zstd = null;
    this._zstdOut = null;
    this._zlibOut = null;
    this._zlibDone = null;
    this._zlibError = null;
    this._messagesDecoded = 0;
  }

  // ------------------------------------------------------------ opening

  /**
   * Open a gateway connection: TCP connect, RFC 6455 handshake (random key,
   * Sec-WebSocket-Accept checked), then (waitHello, default true) wait for
   * op 10 Hello, which is taken off the queue and stored in gw.hello.
   * Rejects with err.status / err.response when the server does not answer 101.
   */
  static async connect(port, { query = 'v=10&encoding=json', path = '/', host = '127.0.0.1', localAddress, headers = {}, waitHello = true, timeoutMs = DEFAULT_TIMEOUT_MS, label } = {}) {
    const params = new URLSearchParams(query);
    const compress = params.get('compress');
    const mode = compress === 'zlib-stream' || compress === 'zstd-stream' ? compress : null;
    const enc = params.get('encoding');
    const encoding = enc === 'etf' || enc === 'msgpack' ? enc : 'json';
    const socket = net.connect({ host, port, ...(localAddress ? { localAddress } : {}) });
    socket.setNoDelay(true);
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`gateway: TCP connect to ${host}:${port} timed out`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('error', (e) => {
        clearTimeout(timer);
        reject(new Error(`gateway: TCP connect to ${host}:${port} failed: ${e.message}`));
      });
    });
    const key = crypto.randomBytes(16).toString('base64');
    const target = `${path}${query ? '?' + query : ''}`;
    // headers.Host, if given, replaces the Host header (sent once).
    const hostHeader = headers.Host ?? `${host}:${port}`;
    let req = `GET ${target} HTTP/1.1\r\nHost: ${hostHeader}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n`;
    for (const [k, v] of Object.entries(headers)) if (k !== 'Host') req += `${k}: ${v}\r\n`;
    req += '\r\n';
    const { head, rest } = await new Promise((resolve, reject) => {
      let buf = Buffer.alloc(0);
      const timer = setTimeout(() => {
        cleanup();
        socket.destroy();
        reject(new Error(`gateway: no handshake answer within ${timeoutMs} ms (got ${JSON.stringify(buf.toString('latin1').slice(0, 300))})`));
      }, timeoutMs);
      const onData = (d) => {
        buf = Buffer.concat([buf, d]);
        const end = buf.indexOf('\r\n\r\n');
        if (end >= 0) {
          cleanup();
          // Hold what arrives after the 101 (the server sends Hello in a
          // write of its own) until the frame reader is attached below:
          // a flowing socket without a 'data' listener drops it.
          socket.pause();
          resolve({ head: buf.subarray(0, end).toString('latin1'), rest: buf.subarray(end + 4) });
        } else if (buf.length > 65536) {
          cleanup();
          socket.destroy();
          reject(new Error('gateway: handshake answer headers over 64 KiB'));
        }
      };
      const onEnd = () => {
        cleanup();
        reject(Object.assign(new Error(`gateway: connection closed during handshake; got ${JSON.stringify(buf.toString('latin1').slice(0, 500))}`), { response: buf.toString('latin1') }));
      };
      const onError = (e) => {
        cleanup();
        reject(new Error(`gateway: socket error during handshake: ${e.message}`));
      };
      const cleanup = () => {
        clearTimeout(timer);
        socket.off('data', onData);
        socket.off('end', onEnd);
        socket.off('close', onEnd);
        socket.off('error', onError);
      };
      socket.on('data', onData);
      socket.on('end', onEnd);
      socket.on('close', onEnd);
      socket.on('error', onError);
      socket.write(req);
    });
    const lines = head.split('\r\n');
    const m = /^HTTP\/1\.1 (\d{3})(?: (.*))?$/.exec(lines[0]);
    const hdrs = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      if (i > 0) hdrs[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    if (!m || m[1] !== '101') {
      socket.destroy();
      const err = new Error(`gateway: handshake answered ${JSON.stringify(lines[0])} for GET ${target}: ${JSON.stringify((head + '\r\n\r\n' + rest.toString('latin1')).slice(0, 600))}`);
      err.status = m ? Number(m[1]) : null;
      err.headers = hdrs;
      err.response = head;
      throw err;
    }
    const problems = [];
    if ((hdrs['upgrade'] || '').toLowerCase() !== 'websocket') problems.push(`Upgrade: ${hdrs['upgrade']}`);
    if (!(hdrs['connection'] || '').toLowerCase().split(/\s*,\s*/).includes('upgrade')) problems.push(`Connection: ${hdrs['connection']}`);
    if (hdrs['sec-websocket-accept'] !== acceptFor(key)) problems.push(`Sec-WebSocket-Accept ${hdrs['sec-websocket-accept']} != ${acceptFor(key)}`);
    if (hdrs['sec-websocket-extensions']) problems.push(`unrequested Sec-WebSocket-Extensions: ${hdrs['sec-websocket-extensions']}`);
    if (problems.length) {
      socket.destroy();
      throw new Error(`gateway: bad 101 answer: ${problems.join('; ')}\n${head}`);
    }
    const gw = new GatewayClient(socket, { compress: mode, encoding, label: label ?? `gw:${port}`, port });
    gw.handshakeHeaders = hdrs;
    if (mode === 'zlib-stream') gw._setupZlib();
    if (mode === 'zstd-stream') await gw._setupZstd();
    socket.on('data', (d) => gw._onData(d));
    socket.on('error', (e) => {
      gw.socketError = e;
    });
    socket.on('close', () => gw._enqueueTask(() => gw._onSocketClose()));
    if (rest.length) gw._onData(rest);
    socket.resume();
    if (waitHello) {
      const hello = await gw.next((p) => p.op === OP.HELLO, timeoutMs, 'Hello');
      gw.hello = hello;
    }
    return gw;
  }

  /** connect + identify; the result has gw.ready and gw.guildCreates set. */
  static async open(port, token, identifyOpts = {}, connectOpts = {}) {
    const gw = await GatewayClient.connect(port, connectOpts);
    await gw.identify(token, identifyOpts);
    return gw;
  }

  _setupZlib() {
    this._inflate = zlib.createInflate();
    this._inflate.on('data', (d) => {
      if (this._zlibOut) this._zlibOut.push(d);
      else this._violation(`zlib-stream: inflate produced ${d.length} bytes outside a message`);
    });
    this._inflate.on('error', (e) => {
      this._zlibError = e;
      this._violation(`zlib-stream: inflate error: ${e.message}`);
      if (this._zlibDone) this._zlibDone();
    });
  }

  async _setupZstd() {
    let mod;
    try {
      mod = await import('fzstd');
    } catch (e) {
      throw new Error(`zstd-stream needs the fzstd npm package (npm ci at the repository root): ${e.message}`);
    }
    this._zstd = new mod.Decompress((chunk) => {
      // copy: fzstd may hand out views of its window
      if (this._zstdOut) this._zstdOut.push(Buffer.from(chunk));
      else this._violation(`zstd-stream: decompressor produced ${chunk.length} bytes outside a message`);
    });
  }

  // ------------------------------------------------------------ receiving

  _violation(msg) {
    this.violations.push(msg);
  }

  _enqueueTask(fn) {
    this._chain = this._chain.then(fn).catch((e) => this._violation(`client internal error: ${e.stack || e}`));
  }

  _onData(chunk) {
    this.bytesReceived += chunk.length;
    this._buf = this._buf.length ? Buffer.concat([this._buf, chunk]) : chunk;
    for (;;) {
      const f = this._parseFrame();
      if (!f) break;
      this._onFrame(f);
    }
  }

  /** Take one complete frame off this._buf, or null. */
  _parseFrame() {
    const b = this._buf;
    if (b.length < 2) return null;
    const fin = (b[0] & 0x80) !== 0;
    const rsv = (b[0] >> 4) & 7;
    const opcode = b[0] & 0x0f;
    const masked = (b[1] & 0x80) !== 0;
    let len = b[1] & 0x7f;
    let off = 2;
    let lenForm = 7;
    if (len === 126) {
      if (b.length < 4) return null;
      len = b.readUInt16BE(2);
      off = 4;
      lenForm = 16;
    } else if (len === 127) {
      if (b.length < 10) return null;
      const big = b.readBigUInt64BE(2);
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) {
        this._violation(`frame length ${big} absurd`);
        this._buf = Buffer.alloc(0);
        this.socket.destroy();
        return null;
      }
      len = Number(big);
      off = 10;
      lenForm = 64;
    }
    if (masked) off += 4;
    if (b.length < off + len) return null;
    let payload = b.subarray(off, off + len);
    if (masked) {
      const key = b.subarray(off - 4, off);
      const un = Buffer.alloc(len);
      for (let i = 0; i < len; i++) un[i] = payload[i] ^ key[i & 3];
      payload = un;
    } else {
      payload = Buffer.from(payload); // detach from the receive buffer
    }
    this._buf = b.subarray(off + len);
    if (this._buf.length === 0) this._buf = Buffer.alloc(0);
    return { fin, rsv, opcode, masked, len, lenForm, payload, wire: off + len };
  }

  _onFrame(f) {
    this.framesReceived++;
    const where = `frame #${this.framesReceived} (opcode ${f.opcode}, ${f.len} bytes)`;
    if (f.masked) this._violation(`${where}: server frame is masked`);
    if (f.rsv) this._violation(`${where}: RSV bits ${f.rsv} set without a negotiated extension`);
    if ((f.lenForm === 16 && f.len < 126) || (f.lenForm === 64 && f.len < 65536)) {
      this._violation(`${where}: length not in its minimal encoding (${f.lenForm}-bit form)`);
    }
    if (this._closeSeen) this._violation(`${where}: frame after the server's close frame`);
    const isControl = f.opcode >= 0x8;
    if (isControl) {
      if (!f.fin) this._violation(`${where}: fragmented control frame`);
      if (f.len > 125) this._violation(`${where}: control frame over 125 bytes`);
    }
    switch (f.opcode) {
      case WS_OP.CONT: {
        if (!this._frag) {
          this._violation(`${where}: continuation frame without a message in progress`);
          return;
        }
        this._frag.parts.push(f.payload);
        this._frag.wire += f.wire;
        if (f.fin) {
          const fr = this._frag;
          this._frag = null;
          this._onMessage(fr.opcode, Buffer.concat(fr.parts), fr.wire);
        }
        return;
      }
      case WS_OP.TEXT:
      case WS_OP.BINARY: {
        if (this._frag) {
          this._violation(`${where}: new data frame while a fragmented message is in progress`);
          this._frag = null;
        }
        if (f.fin) this._onMessage(f.opcode, f.payload, f.wire);
        else this._frag = { opcode: f.opcode, parts: [f.payload], wire: f.wire };
        return;
      }
      case WS_OP.PING:
        this.pings.push(f.payload);
        if (!this.closeSent && !this.socket.destroyed) this.socket.write(encodeFrame(WS_OP.PONG, f.payload));
        return;
      case WS_OP.PONG: {
        this.pongs.push(f.payload);
        const w = this._pongWaiters.shift();
        if (w) w(f.payload);
        return;
      }
      case WS_OP.CLOSE: {
        let code = 1005;
        let reason = '';
        this._closeSeen = true;
        if (f.len === 1) this._violation(`${where}: close frame with a 1-byte payload`);
        if (f.len >= 2) {
          code = f.payload.readUInt16BE(0);
          try {
            reason = new TextDecoder('utf-8', { fatal: true }).decode(f.payload.subarray(2));
          } catch {
            this._violation(`${where}: close reason is not valid UTF-8`);
            reason = f.payload.subarray(2).toString('latin1');
          }
          const validCode = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
          if (!validCode) this._violation(`${where}: close code ${code} may not be sent on the wire`);
        }
        // Handled in order with the data messages before it (they may still be decoding).
        this._enqueueTask(() => {
          if (this.closeFrame) return;
          this.closeFrame = { code, reason };
          if (!this.closeSent && !this.socket.destroyed) {
            // RFC 6455 §5.5.1: answer with a close frame echoing the status code.
            const body = code === 1005 ? Buffer.alloc(0) : Buffer.from([code >> 8, code & 0xff]);
            this.closeSent = { code, reason: '', echo: true };
            this.socket.write(encodeFrame(WS_OP.CLOSE, body));
          }
          // The server should now close the TCP connection; do not wait forever.
          this._closeTimer = setTimeout(() => this.socket.destroy(), 10_000);
          this._closeTimer.unref();
        });
        return;
      }
      default:
        this._violation(`${where}: unknown opcode ${f.opcode}`);
    }
  }

  _onMessage(opcode, data, wire) {
    const binary = this.compress || this.codec.binary;
    if (binary && opcode === WS_OP.TEXT) {
      this._violation(`text message under compress=${this.compress} encoding=${this.encoding} (expected binary frames): ${data.toString('latin1').slice(0, 200)}`);
    } else if (!binary && opcode === WS_OP.BINARY) {
      this._violation(`binary message without compression or a binary encoding (${data.length} bytes)`);
    }
    this._enqueueTask(async () => {
      let bytes = data;
      if (opcode === WS_OP.BINARY && this.compress === 'zlib-stream') bytes = await this._inflateMessage(data);
      else if (opcode === WS_OP.BINARY && this.compress === 'zstd-stream') bytes = this._zstdMessage(data);
      if (bytes === null) return;
      this._messagesDecoded++;
      let p;
      try {
        p = this.codec.decode(bytes);
      } catch (e) {
        const shown = this.codec.binary ? bytes.subarray(0, 100).toString('hex') : JSON.stringify(bytes.toString('latin1').slice(0, 300));
        this._violation(`message #${this._messagesDecoded} is not exactly one ${this.encoding} value (${e.message}): ${shown}`);
        return;
      }
      this._onPayload(p, wire);
    });
  }

  async _inflateMessage(data) {
    if (this._zlibError) return null;
    if (data.length < 4 || !data.subarray(data.length - 4).equals(ZLIB_SUFFIX)) {
      this._violation(`zlib-stream: message of ${data.length} bytes does not end with 00 00 ff ff (Z_SYNC_FLUSH)`);
    }
    this._zlibOut = [];
    await new Promise((resolve) => {
      this._zlibDone = resolve;
      this._inflate.write(data);
      this._inflate.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve());
    });
    // 'data' events may be emitted on a later tick than the flush callback.
    await new Promise((r) => setImmediate(r));
    this._zlibDone = null;
    const out = Buffer.concat(this._zlibOut);
    this._zlibOut = null;
    if (this._zlibError) return null;
    if (!out.length) {
      this._violation(`zlib-stream: a ${data.length}-byte message inflated to nothing`);
      return null;
    }
    return out;
  }

  _zstdMessage(data) {
    this._zstdOut = [];
    try {
      this._zstd.push(new Uint8Array(data));
    } catch (e) {
      this._zstdOut = null;
      this._violation(`zstd-stream: decompression error: ${e.message}`);
      return null;
    }
    const out = Buffer.concat(this._zstdOut);
    this._zstdOut = null;
    if (!out.length) {
      this._violation(
        `zstd-stream: a ${data.length}-byte message produced no output (not flushed, or fzstd buffered it` +
          (this._messagesDecoded === 0 ? ': fzstd holds back a first chunk under 18 bytes' : '') + ')',
      );
      return null;
    }
    return out;
  }

  _onPayload(p, wire) {
    if (typeof p !== 'object' || p === null || Array.isArray(p)) {
      this._violation(`payload is not a JSON object: ${describePayload(p)}`);
      return;
    }
    this._wire.set(p, wire);
    if (!Number.isInteger(p.op)) this._violation(`payload without integer op: ${describePayload(p)}`);
    if (p.op === OP.DISPATCH) {
      if (typeof p.t !== 'string' || !p.t) this._violation(`dispatch without t: ${describePayload(p)}`);
      if (Number.isInteger(p.s)) {
        const want = this.seq === null ? 1 : this.seq + 1;
        if (p.s !== want) this.seqErrors.push(`${p.t} has s=${p.s}, expected ${want}`);
        this.seq = p.s;
      } else if (!(p.t === 'RESUMED' && (p.s === null || p.s === undefined))) {
        this._violation(`dispatch ${p.t} without an integer s: ${describePayload(p)}`);
      }
      if (p.t === 'READY' && p.d && typeof p.d.session_id === 'string') this.sessionId = p.d.session_id;
      this.dispatches.push(p);
    } else {
      if (p.s !== undefined && p.s !== null) this._violation(`op ${p.op} payload carries s=${p.s}`);
      if (p.op === OP.INVALID_SESSION) this.seq = null; // identify starts again at s = 1
      if (p.op === OP.HEARTBEAT && this._autoAnswerHeartbeatRequests) this.heartbeat();
    }
    this.payloads.push(p);
    for (let i = 0; i < this.waiters.length; i++) {
      const w = this.waiters[i];
      let match = false;
      try {
        match = w.pred(p);
      } catch {
        match = false;
      }
      if (match) {
        this.waiters.splice(i, 1);
        clearTimeout(w.timer);
        w.resolve(p);
        return;
      }
    }
    this.queue.push(p);
  }

  _onSocketClose() {
    if (this.closeInfo) return;
    clearTimeout(this._closeTimer);
    this.stopHeartbeating();
    if (this._frag) this._violation('connection closed in the middle of a fragmented message');
    const info = this.closeFrame
      ? { code: this.closeFrame.code, reason: this.closeFrame.reason, closeFrame: true }
      : { code: 1006, reason: '', closeFrame: false };
    this.closeInfo = info;
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new Error(`${this.label}: connection closed (code ${info.code}${info.reason ? ` "${info.reason}"` : ''}) while waiting for ${w.what}${this._context()}`));
    }
    for (const w of this._pongWaiters.splice(0)) w(null);
    this._resolveClosed(info);
  }

  _context() {
    const last = this.payloads.slice(-5).map(describePayload).join('\n    ');
    let s = `\n  last payloads:\n    ${last || '(none)'}`;
    if (this.violations.length) s += `\n  violations: ${this.violations.slice(0, 10).join(' | ')}`;
    if (this.seqErrors.length) s += `\n  seq errors: ${this.seqErrors.slice(0, 10).join(' | ')}`;
    return s;
  }

  /** Bytes this payload's frame(s) took on the wire (headers included). */
  wireBytes(payload) {
    return this._wire.get(payload);
  }

  // ------------------------------------------------------------ waiting

  /**
   * The next payload matching pred (default: any), taken off the queue (payloads
   * before it stay queued). Rejects on timeout or when the connection closes first.
   */
  next(pred = () => true, timeoutMs = DEFAULT_TIMEOUT_MS, what = 'a payload') {
    const i = this.queue.findIndex((p) => {
      try {
        return pred(p);
      } catch {
        return false;
      }
    });
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0]);
    if (this.closeInfo) {
      return Promise.reject(new Error(`${this.label}: connection already closed (code ${this.closeInfo.code}) while waiting for ${what}${this._context()}`));
    }
    return new Promise((resolve, reject) => {
      const w = { pred, resolve, reject, what };
      w.timer = setTimeout(() => {
        const k = this.waiters.indexOf(w);
        if (k >= 0) this.waiters.splice(k, 1);
        reject(new Error(`${this.label}: timed out after ${timeoutMs} ms waiting for ${what}${this._context()}`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  /** The next dispatch of type t whose d matches pred. Returns the payload ({op, t, s, d}). */
  nextDispatch(t, pred = null, timeoutMs = DEFAULT_TIMEOUT_MS) {
    return this.next((p) => p.op === OP.DISPATCH && p.t === t && (!pred || pred(p.d)), timeoutMs, `dispatch ${t}${pred ? ' (matching)' : ''}`);
  }

  /** n dispatches of type t (matching pred), in arrival order. */
  async collect(t, n, pred = null, timeoutMs = DEFAULT_TIMEOUT_MS) {
    const out = [];
    const deadline = Date.now() + timeoutMs;
    while (out.length < n) {
      const left = Math.max(1, deadline - Date.now());
      try {
        out.push(await this.nextDispatch(t, pred, left));
      } catch (e) {
        e.message = `collect ${t}: got ${out.length} of ${n}: ${e.message}`;
        throw e;
      }
    }
    return out;
  }

  /** Queued (not yet taken) payloads matching pred. */
  queued(pred = () => true) {
    return this.queue.filter((p) => {
      try {
        return pred(p);
      } catch {
        return false;
      }
    });
  }

  /** Dispatches ever received (taken or not) of type t, matching pred. */
  received(t, pred = null) {
    return this.dispatches.filter((p) => p.t === t && (!pred || pred(p.d)));
  }

  /** Drop everything queued. */
  drain() {
    const q = this.queue;
    this.queue = [];
    return q;
  }

  /** `closed`, bounded: rejects when the connection is not closed within timeoutMs. */
  closedWithin(timeoutMs = DEFAULT_TIMEOUT_MS) {
    let timer;
    return Promise.race([
      this.closed.finally(() => clearTimeout(timer)),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${this.label}: connection not closed within ${timeoutMs} ms${this._context()}`)), timeoutMs);
      }),
    ]);
  }

  /** Wait for the close and assert its code (and that a close frame carried it). Returns {code, reason}. */
  async expectClose(code, timeoutMs = DEFAULT_TIMEOUT_MS, msg = '') {
    const info = await this.closedWithin(timeoutMs);
    assert.equal(info.code, code, `${msg ? msg + ': ' : ''}expected close ${code}, got ${info.code}${info.reason ? ` "${info.reason}"` : ''}${info.closeFrame ? '' : ' (no close frame)'}${this._context()}`);
    assert.ok(info.closeFrame, `${msg}: close ${code} came without a close frame`);
    return info;
  }

  /** Assert the connection is still open (no close frame, TCP alive). */
  assertOpen(msg = '') {
    assert.ok(!this.closeInfo && !this.closeFrame, `${msg ? msg + ': ' : ''}${this.label} was closed: ${JSON.stringify(this.closeInfo || this.closeFrame)}${this._context()}`);
  }

  /** Assert the server broke no framing/encoding rule and numbered every dispatch s = previous + 1. */
  assertClean(msg = '') {
    assert.deepEqual(this.violations, [], `${msg ? msg + ': ' : ''}${this.label}: protocol violations by the server`);
    this.checkSeq(msg);
  }

  /** Assert `s` increased by exactly 1 on every dispatch. */
  checkSeq(msg = '') {
    assert.deepEqual(this.seqErrors, [], `${msg ? msg + ': ' : ''}${this.label}: dispatch sequence numbers`);
  }

  // ------------------------------------------------------------ sending

  /** Write bytes as they are (invalid frames, garbage). */
  writeRaw(buf) {
    if (!this.socket.destroyed) this.socket.write(buf);
  }

  sendFrame(opcode, payload, opts = {}) {
    this.writeRaw(encodeFrame(opcode, payload, opts));
  }

  sendText(text, opts = {}) {
    this.sendFrame(WS_OP.TEXT, Buffer.isBuffer(text) ? text : Buffer.from(text, 'utf8'), opts);
  }

  sendBinary(buf, opts = {}) {
    this.sendFrame(WS_OP.BINARY, buf, opts);
  }

  /** Send one gateway payload in the connection's encoding (JSON: a text frame; ETF, MessagePack: binary). */
  send(obj) {
    if (this.codec.binary) this.sendBinary(this.codec.encode(obj));
    else this.sendText(JSON.stringify(obj));
  }

  /**
   * Send one message in fragments. parts: number of fragments or an array of
   * sizes. between(i): called after fragment i (e.g. to interleave a ping).
   */
  sendFragmented(opcode, payload, parts = 3, { between } = {}) {
    const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8');
    let sizes;
    if (Array.isArray(parts)) sizes = parts;
    else {
      const n = Math.max(1, parts);
      const base = Math.ceil(data.length / n);
      sizes = [];
      for (let off = 0; off < data.length; off += base) sizes.push(Math.min(base, data.length - off));
      if (!sizes.length) sizes.push(0);
    }
    let off = 0;
    sizes.forEach((size, i) => {
      const last = i === sizes.length - 1;
      const chunk = last ? data.subarray(off) : data.subarray(off, off + size);
      off += size;
      this.sendFrame(i === 0 ? opcode : WS_OP.CONT, chunk, { fin: last });
      if (between && !last) between(i);
    });
  }

  /** Ping; resolves with the pong's payload (or null if the connection closes). */
  ping(payload = Buffer.alloc(0), timeoutMs = DEFAULT_TIMEOUT_MS) {
    const p = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.label}: no pong within ${timeoutMs} ms`)), timeoutMs);
      this._pongWaiters.push((data) => {
        clearTimeout(timer);
        resolve(data);
      });
    });
    this.sendFrame(WS_OP.PING, payload);
    return p;
  }

  /** Send a close frame (code, reason); resolves like `closed`. */
  close(code = 1000, reason = '') {
    if (!this.closeSent && !this.socket.destroyed) {
      const r = Buffer.from(reason, 'utf8');
      const body = code == null ? Buffer.alloc(0) : Buffer.concat([Buffer.from([code >> 8, code & 0xff]), r]);
      this.closeSent = { code, reason };
      this.sendFrame(WS_OP.CLOSE, body);
    }
    return this.closed;
  }

  /** Drop the TCP connection without a close frame. */
  destroy() {
    this.stopHeartbeating();
    this.socket.destroy();
    return this.closed;
  }

  /** Stop reading from the socket (the kernel buffers fill, then the server's queue). */
  pauseReading() {
    this.socket.pause();
  }

  resumeReading() {
    this.socket.resume();
  }

  // ------------------------------------------------------------ gateway ops

  /** op 1 with the last seq seen (or the given one). */
  heartbeat(seq = this.seq) {
    this.send({ op: OP.HEARTBEAT, d: seq });
  }

  /** op 1 and wait for its op 11. */
  async heartbeatAck(seq = this.seq, timeoutMs = DEFAULT_TIMEOUT_MS) {
    this.heartbeat(seq);
    return this.next((p) => p.op === OP.HEARTBEAT_ACK, timeoutMs, 'Heartbeat ACK (op 11)');
  }

  /** Heartbeat every intervalMs, and answer the server's op 1 at once. */
  startHeartbeating(intervalMs) {
    this.stopHeartbeating();
    this._autoAnswerHeartbeatRequests = true;
    this._heartbeatTimer = setInterval(() => {
      if (this.closeInfo || this.closeFrame) return this.stopHeartbeating();
      this.heartbeat();
    }, intervalMs);
    this._heartbeatTimer.unref();
  }

  stopHeartbeating() {
    this._autoAnswerHeartbeatRequests = false;
    if (this._heartbeatTimer) clearInterval(this._heartbeatTimer);
    this._heartbeatTimer = null;
  }

  /** The op 2 payload identify() sends. */
  static identifyPayload(token, { intents, shard, presence, properties, large_threshold: largeThreshold, extra = {} } = {}) {
    const d = { token, properties: properties ?? { os: 'linux', browser: 'parley-tests', device: 'parley-tests' }, ...extra };
    if (intents !== undefined) d.intents = intents;
    if (shard !== undefined) d.shard = shard;
    if (presence !== undefined) d.presence = presence;
    if (largeThreshold !== undefined) d.large_threshold = largeThreshold;
    return { op: OP.IDENTIFY, d };
  }

  /**
   * Identify and wait for READY and the GUILD_CREATE of each of READY's guilds.
   * Returns {ready, guildCreates} (the `d`s; GUILD_CREATEs in arrival order) and
   * stores them in gw.ready / gw.guildCreates. Rejects if the connection closes.
   */
  async identify(token, opts = {}) {
    const timeoutMs = opts.timeoutMs ?? 60_000;
    this.send(GatewayClient.identifyPayload(token, opts));
    const readyP = await this.nextDispatch('READY', null, timeoutMs);
    const ready = readyP.d;
    assert.ok(ready && Array.isArray(ready.guilds), `READY without a guilds array: ${describePayload(readyP)}`);
    this.ready = ready;
    this.sessionId = ready.session_id;
    const want = new Set(ready.guilds.map((g) => g.id));
    const guildCreates = [];
    const deadline = Date.now() + timeoutMs;
    while (want.size) {
      const gc = await this.next(
        (p) => p.op === OP.DISPATCH && p.t === 'GUILD_CREATE' && p.d && want.has(p.d.id),
        Math.max(1, deadline - Date.now()),
        `GUILD_CREATE for ${[...want].join(', ')}`,
      );
      want.delete(gc.d.id);
      guildCreates.push(gc.d);
    }
    this.guildCreates = guildCreates;
    return { ready, guildCreates };
  }

  /**
   * Resume on this (new) connection. Resolves with
   *   {ok: true, replayed: [dispatch payloads before RESUMED], resumed: payload}
   * or {ok: false, invalid: op 9 payload}. Rejects if the connection closes
   * (e.g. 4004, 4007) or on timeout.
   */
  async resume(token, sessionId, seq, { timeoutMs = 60_000 } = {}) {
    this.seq = seq;
    const start = this.dispatches.length;
    this.send({ op: OP.RESUME, d: { token, session_id: sessionId, seq } });
    const p = await this.next((x) => (x.op === OP.DISPATCH && x.t === 'RESUMED') || x.op === OP.INVALID_SESSION, timeoutMs, 'RESUMED or op 9');
    if (p.op === OP.INVALID_SESSION) {
      return { ok: false, invalid: p };
    }
    const end = this.dispatches.indexOf(p);
    const replayed = this.dispatches.slice(start, end);
    const taken = new Set(replayed);
    this.queue = this.queue.filter((x) => !taken.has(x));
    this.sessionId = sessionId;
    return { ok: true, replayed, resumed: p };
  }

  /** op 3 presence update. */
  setPresence(status, { activities = [], since = null, afk = false } = {}) {
    this.send({ op: OP.PRESENCE_UPDATE, d: { since, activities, status, afk } });
  }

  /** op 8 request guild members. */
  requestMembers(d) {
    this.send({ op: OP.REQUEST_GUILD_MEMBERS, d });
  }
}

// ---------------------------------------------------------------- scenario helpers

/** Extra server flags merged into FAST_FLAGS-like lists: later values replace earlier ones. */
export function mergeFlags(base, overrides = []) {
  const out = [...base];
  for (let i = 0; i < overrides.length; i++) {
    const flag = overrides[i];
    const takesValue = i + 1 < overrides.length && !overrides[i + 1].startsWith('--');
    const value = takesValue ? overrides[++i] : undefined;
    const at = out.indexOf(flag);
    if (at >= 0) {
      const hasValue = at + 1 < out.length && !out[at + 1].startsWith('--');
      out.splice(at, hasValue ? 2 : 1);
    }
    out.push(flag);
    if (value !== undefined) out.push(value);
  }
  return out;
}

/** A user creates a bot application. Returns {app, token, botId, appId, client (Bot auth)}. */
export async function createBot(srv, ownerClient, name) {
  const res = await ownerClient.post('/applications', { name: name ?? `bot${Math.floor(Math.random() * 1e9)}` });
  assert.ok([200, 201].includes(res.status), `create application: ${res.status} ${res.text}`);
  const app = res.json;
  assert.equal(typeof app.token, 'string', `application token: ${res.text}`);
  assert.ok(app.bot && typeof app.bot.id === 'string', `application bot: ${res.text}`);
  return { app, token: app.token, botId: app.bot.id, appId: app.id, client: srv.client(app.token, { bot: true }) };
}

/** The guild owner adds a bot (Parley's stand-in for the OAuth2 bot flow). */
export async function addBot(ownerClient, guildId, botId) {
  const res = await ownerClient.put(`/guilds/${guildId}/members/${botId}`, {});
  assert.ok([201, 204].includes(res.status), `add bot ${botId} to ${guildId}: ${res.status} ${res.text}`);
}

let barrierCounter = 0;
/**
 * A barrier for "nothing else arrived" checks: the owner renames the guild and
 * every session waits for the GUILD_UPDATE. Sessions receive events in commit
 * order, so anything committed earlier has been delivered by then. Sessions
 * need the GUILDS intent. Returns the new name.
 */
export async function barrier(ownerClient, guildId, sessions, timeoutMs = DEFAULT_TIMEOUT_MS) {
  const name = `barrier ${process.pid} ${++barrierCounter}`;
  const res = await ownerClient.patch(`/guilds/${guildId}`, { name });
  assert.equal(res.status, 200, `barrier: PATCH guild: ${res.status} ${res.text}`);
  await Promise.all(sessions.map((s) => s.nextDispatch('GUILD_UPDATE', (d) => d.id === guildId && d.name === name, timeoutMs)));
  return name;
}

/** Close every client still open (for after() hooks). */
export function destroyAll(clients) {
  for (const c of clients) {
    try {
      c.destroy();
    } catch {
      // already gone
    }
  }
}

/** The shard a guild belongs to with n shards. */
export function shardOf(guildId, n) {
  return Number((BigInt(guildId) >> 22n) % BigInt(n));
}
