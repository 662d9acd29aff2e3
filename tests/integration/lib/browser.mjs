// Helpers for the browser tests: headless Chromium (Debian's `chromium`
// package) driven by playwright-core, and a TCP proxy whose connections the
// test can cut, to simulate a network drop.
import net from 'node:net';
import fs from 'node:fs';

export const CHROMIUM = process.env.PARLEY_CHROMIUM || '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-dev-shm-usage',
];

export function chromiumMissing() {
  return fs.existsSync(CHROMIUM) ? null : `${CHROMIUM} not found (apt-get install chromium)`;
}

export async function launchChromium() {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true, timeout: 60_000 });
}

/**
 * Records what a page complains about: uncaught errors, console errors,
 * CSP violations and JS dialogs (alert() must never run).
 */
export function watchPage(page, label) {
  const w = { label, pageErrors: [], consoleErrors: [], cspViolations: [], dialogs: [] };
  page.on('pageerror', (e) => w.pageErrors.push(String(e && e.stack ? e.stack : e)));
  page.on('console', (m) => {
    if (m.type() !== 'error' && m.type() !== 'warning') return;
    const text = m.text();
    if (/Content.Security.Policy/i.test(text)) w.cspViolations.push(text);
    else if (m.type() === 'error') w.consoleErrors.push(text);
  });
  page.on('dialog', (d) => {
    w.dialogs.push(`${d.type()}: ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  return w;
}

/**
 * A TCP proxy 127.0.0.1:<port> → 127.0.0.1:<target>. cut() destroys every
 * open connection (the browser sees its WebSocket drop, code 1006, as on a
 * real network failure) and refuses new ones until restore().
 */
export class CuttableProxy {
  constructor(targetPort) {
    this.targetPort = targetPort;
    this.pairs = new Set();
    this.down = false;
    this.cuts = 0;
    this.server = net.createServer((client) => this._accept(client));
  }

  async start() {
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', resolve);
    });
    this.port = this.server.address().port;
    return this;
  }

  get origin() {
    return `http://127.0.0.1:${this.port}`;
  }

  _accept(client) {
    if (this.down) {
      client.destroy();
      return;
    }
    const upstream = net.connect({ host: '127.0.0.1', port: this.targetPort });
    const pair = { client, upstream };
    this.pairs.add(pair);
    const end = () => {
      client.destroy();
      upstream.destroy();
      this.pairs.delete(pair);
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Drop every connection now (RST, no close frame) and refuse new ones. */
  cut() {
    this.down = true;
    this.cuts++;
    for (const { client, upstream } of this.pairs) {
      client.resetAndDestroy ? client.resetAndDestroy() : client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
  }

  restore() {
    this.down = false;
  }

  /**
   * A silent drop: the open connections stay open but carry nothing more in
   * either direction (as when a route dies without a FIN or RST); new
   * connections work. Only heartbeats without an ACK can tell.
   */
  freeze() {
    this.frozen = [...this.pairs];
    this.pairs.clear();
    for (const { client, upstream } of this.frozen) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
  }

  /** Close the frozen connections (what they held is never delivered). */
  thaw() {
    for (const { client, upstream } of this.frozen || []) {
      client.destroy();
      upstream.destroy();
    }
    this.frozen = [];
  }

  async stop() {
    this.thaw();
    this.cut();
    await new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * Every gateway frame a page sends and receives (parsed JSON), per WebSocket:
 * {t: time seen here, n: order seen here (events of one read share a t), p}.
 */
export function recordGateway(page) {
  const sockets = [];
  let n = 0;
  page.on('websocket', (ws) => {
    const rec = { url: ws.url(), sent: [], received: [], closed: false };
    sockets.push(rec);
    const parse = (f) => {
      try {
        return JSON.parse(typeof f.payload === 'string' ? f.payload : f.payload.toString());
      } catch {
        return null;
      }
    };
    ws.on('framesent', (f) => rec.sent.push({ t: Date.now(), n: ++n, p: parse(f) }));
    ws.on('framereceived', (f) => rec.received.push({ t: Date.now(), n: ++n, p: parse(f) }));
    ws.on('close', () => (rec.closed = true));
  });
  return sockets;
}
