// What every bot-library test (tests/integration/libraries/*.test.mjs)
// shares: a Parley server with a guild, a user who acts over REST, bots
// (with and without MESSAGE_CONTENT), and two proxies in front of the
// server that the library is pointed at:
//   - RestRecorder: an HTTP proxy that records every request the library
//     makes and its status (`unexpected()` lists the non-2xx ones);
//   - GatewayProxy: a TCP proxy for the gateway whose `cut()` drops every
//     connection without a close frame (as a network failure does).
// The REST proxy rewrites Host to the gateway proxy's address, so the `url`
// of GET /gateway/bot and READY's resume_gateway_url lead there.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import {
  startServer, register, createGuild, createChannel, expectStatus, uniqueName, until, withTimeout,
} from '../lib/server.mjs';

export { until, withTimeout };
import { APP_FLAGS, createBot, addBot, GatewayClient, INTENTS } from '../lib/gateway.mjs';

export const WAIT_MS = 20_000;
export const TEST_MS = 240_000;

/**
 * The events a library emitted, in order: log.push(name, ...args) from its
 * handlers; log.wait(name, pred) resolves with the args of the first match
 * (waiting for it); log.count(name, pred) counts them.
 */
export class EventLog {
  constructor(label, diag = () => '') {
    this.label = label;
    this.diag = diag;
    this.entries = [];
  }

  push(name, ...args) {
    this.entries.push({ name, args });
  }

  wait(name, pred = () => true) {
    return until(() => this.entries.find((e) => e.name === name && pred(...e.args))?.args, `${this.label} ${name}`, {
      diag: () => `\nseen: ${this.entries.map((e) => e.name).join(' ')}${this.diag()}`,
    });
  }

  count(name, pred = () => true) {
    return this.entries.filter((e) => e.name === name && pred(...e.args)).length;
  }
}

/** A TCP proxy to 127.0.0.1:targetPort whose cut() resets every connection. */
export class GatewayProxy {
  constructor(targetPort) {
    this.targetPort = targetPort;
    this.pairs = new Set();
    this.connections = 0;
    this.targets = []; // the request target (path and query) of every upgrade
    this.server = net.createServer((client) => {
      this.connections++;
      let head = '';
      const onHead = (d) => {
        head += d.toString('latin1');
        const line = head.indexOf('\r\n');
        if (line < 0 && head.length < 8192) return;
        client.off('data', onHead);
        this.targets.push(head.slice(0, line).split(' ')[1] ?? '');
      };
      client.on('data', onHead);
      const upstream = net.connect(this.targetPort, '127.0.0.1');
      const pair = { client, upstream };
      this.pairs.add(pair);
      const drop = () => {
        this.pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }

  async listen() {
    await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = this.server.address().port;
    return this;
  }

  /** Drops every open connection at once: no close frame, no FIN from the server. */
  cut() {
    const n = this.pairs.size;
    for (const { client, upstream } of this.pairs) {
      client.resetAndDestroy?.() ?? client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
    return n;
  }

  async close() {
    this.cut();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** An HTTP proxy to the server that records {method, path, status} of every request. */
export class RestRecorder {
  constructor(targetPort, hostForServer) {
    this.targetPort = targetPort;
    this.host = hostForServer;
    this.requests = [];
    this.agent = new http.Agent({ keepAlive: true });
    this.server = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const headers = { ...req.headers, host: this.host };
        delete headers['content-length'];
        if (body.length) headers['content-length'] = String(body.length);
        const entry = { method: req.method, path: req.url, status: 0, body: body.toString() };
        this.requests.push(entry);
        const up = http.request({
          host: '127.0.0.1', port: this.targetPort, method: req.method, path: req.url, headers, agent: this.agent,
        }, (upRes) => {
          entry.status = upRes.statusCode;
          const out = [];
          upRes.on('data', (c) => out.push(c));
          upRes.on('end', () => {
            entry.reply = Buffer.concat(out).toString();
            res.writeHead(upRes.statusCode, upRes.headers);
            res.end(Buffer.concat(out));
          });
        });
        up.on('error', (err) => {
          entry.status = 502;
          entry.reply = err.message;
          res.writeHead(502);
          res.end();
        });
        up.end(body);
      });
    });
  }

  async listen() {
    await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = this.server.address().port;
    this.origin = `http://127.0.0.1:${this.port}`;
    return this;
  }

  /** Requests answered with anything but 2xx, as "METHOD path → status: reply". */
  unexpected() {
    return this.requests.filter((r) => r.status < 200 || r.status > 299)
      .map((r) => `${r.method} ${r.path} → ${r.status}: ${(r.reply ?? '').slice(0, 200)}`);
  }

  /** "METHOD path" of every request (ids replaced by {id}), deduplicated, in first-seen order. */
  routes() {
    const seen = [];
    for (const r of this.requests) {
      const route = `${r.method} ${r.path.replace(/\?.*$/, '').replace(/\d{15,20}/g, '{id}')}`;
      if (!seen.includes(route)) seen.push(route);
    }
    return seen;
  }

  async close() {
    this.agent.destroy();
    this.server.closeAllConnections?.();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/**
 * A server with a guild and its people, and the proxies:
 *   owner     the user who owns the guild (REST client, token)
 *   guild, general, chan (a channel for the library's own messages)
 *   granted   a bot with every privileged intent (MESSAGE_CONTENT too)
 *   plain     a bot with none
 *   rest      RestRecorder; rest.origin is the library's REST base
 *   gw        GatewayProxy; the library's gateway traffic passes it
 */
export async function startWorld(serverOpts = {}, { native = {} } = {}) {
  const srv = await startServer(serverOpts);
  const gw = await new GatewayProxy(srv.port).listen();
  const rest = await new RestRecorder(srv.port, `127.0.0.1:${gw.port}`).listen();
  const owner = await register(srv);
  const { guild, general } = await createGuild(owner.client, uniqueName('libs'));
  const chan = await createChannel(owner.client, guild.id, 'library-chat');
  const granted = await createBot(srv, owner.client);
  expectStatus(await owner.client.patch(`/applications/${granted.appId}`, {
    flags: APP_FLAGS.GATEWAY_MESSAGE_CONTENT | APP_FLAGS.GATEWAY_PRESENCE | APP_FLAGS.GATEWAY_GUILD_MEMBERS,
  }), 200);
  const plain = await createBot(srv, owner.client);
  await addBot(owner.client, guild.id, granted.botId);
  await addBot(owner.client, guild.id, plain.botId);
  const sessions = [];
  return {
    srv, gw, rest, owner, guild, general, chan, granted, plain,
    /** A raw user gateway session (lib/gateway.mjs), closed by stop(). */
    async userSession(intents = INTENTS.GUILDS | INTENTS.GUILD_MESSAGES | INTENTS.GUILD_MESSAGE_TYPING | INTENTS.GUILD_PRESENCES) {
      const s = await GatewayClient.connect(srv.port);
      await s.identify(owner.token, { intents });
      sessions.push(s);
      return s;
    },
    /**
     * Stops everything; then fails if any request of the library got a
     * non-2xx answer, or, in the native run (PARLEY_LIB_NATIVE=1: the
     * add-ons of libraries/native found), if the library's gateway
     * connections did not all ask for what its add-ons bring:
     * `native.encoding` (eris, oceanic.js, detritus: etf with erlpack) and
     * `native.compress` (discord.js: zlib-stream with zlib-sync).
     */
    async stop() {
      for (const s of sessions) s.destroy();
      const unexpected = rest.unexpected();
      const encodings = gw.targets.map((t) => new URLSearchParams(t.split('?')[1] ?? '').get('encoding') ?? 'json');
      await rest.close();
      await gw.close();
      await srv.stopAndAssertClean();
      assert.deepEqual(unexpected, [], 'every request the library made was answered 2xx');
      if (process.env.PARLEY_LIB_NATIVE && gw.connections > 0) {
        if (native.encoding) {
          assert.deepEqual([...new Set(encodings)], [native.encoding], `the library's gateway connections used encoding=${native.encoding}: ${gw.targets.join(', ')}`);
        }
        if (native.compress) {
          const compressions = gw.targets.map((t) => new URLSearchParams(t.split('?')[1] ?? '').get('compress'));
          assert.deepEqual([...new Set(compressions)], [native.compress], `the library's gateway connections used compress=${native.compress}: ${gw.targets.join(', ')}`);
        }
      }
    },
  };
}

/**
 * History paging through a library: `fetchIds(query)` returns the ids (as
 * strings) of what the library fetched for `query` ({before | after |
 * around, limit}), in the order it gives them; [a, b, c] are three
 * consecutive messages of the channel, oldest first, and the newest ones.
 */
export async function checkHistory(fetchIds, [a, b, c]) {
  assert.deepEqual(await fetchIds({ before: c, limit: 2 }), [b, a], 'before: newest first');
  // Some libraries reorder `after` pages: compare the sets.
  assert.deepEqual((await fetchIds({ after: a, limit: 10 })).sort(), [b, c].sort(), 'after');
  assert.deepEqual(await fetchIds({ around: b, limit: 3 }), [c, b, a], 'around: newest first');
}

/** The guild's REST view of message `id`, or null once it is gone. */
export async function fetchMessage(world, channelId, id) {
  const res = await world.owner.client.get(`/channels/${channelId}/messages/${id}`);
  return res.status === 200 ? res.json : null;
}
