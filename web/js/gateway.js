// Gateway v10 client (docs/gateway.md): Hello → heartbeats with the last
// seq, Identify or Resume, dispatches in order, and reconnection:
//   - a socket that closes (network drop, server restart, op 7 Reconnect) or
//     that stops answering heartbeats (no op 11 before the next beat) is
//     replaced by a new connection that Resumes (op 6 with session_id and
//     the last seq), so the replayed dispatches fill the gap;
//   - op 9 (session not resumable) → Identify again: a new READY, the app
//     refetches what it shows (dispatches were missed).
// Events (EventTarget): 'state' {state}, 'ready' {ready, fresh}, 'resumed',
// 'dispatch' {t, d, s}, 'fatal' {code, reason}.

export const INTENTS =
  (1 << 0) | // GUILDS
  (1 << 1) | // GUILD_MEMBERS
  (1 << 8) | // GUILD_PRESENCES
  (1 << 9) | // GUILD_MESSAGES
  (1 << 11) | // GUILD_MESSAGE_TYPING
  (1 << 15); // MESSAGE_CONTENT

const FATAL = new Set([4004, 4010, 4011, 4012, 4013, 4014]);
// Close codes after which the session cannot be resumed (Parley keeps a
// session resumable after a heartbeat timeout, 4009; a Resume that fails
// gets op 9 and we identify then).
const NEW_SESSION = new Set([4003, 4007]);
// Our own close code when we drop a connection to resume on another (any
// code but 1000/1001 keeps the session resumable).
const RECONNECT_CLOSE = 4900;

// JSON, measured against MessagePack in Chromium: JSON.parse decodes a
// MESSAGE_CREATE in 2.2 µs, a JavaScript MessagePack decoder in 5.4 µs for
// 21% fewer bytes (bench/RESULTS.md "Encodings", "In the browser").
export function gatewayUrl(loc = window.location) {
  const proto = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${loc.host}/?v=10&encoding=json`;
}

export class Gateway extends EventTarget {
  constructor({ token, url = gatewayUrl(), getPresence = () => null, largeThreshold = 250 }) {
    super();
    this.token = token;
    this.url = url;
    this.getPresence = getPresence;
    this.largeThreshold = largeThreshold;
    this.ws = null;
    this.seq = null;
    this.sessionId = null;
    this.state = 'idle'; // connecting | connected | reconnecting | closed
    this.everReady = false;
    this.attempt = 0;
    this.timers = {};
    this.acked = true;
    this.latency = null;
    this.stopped = false;
    this.onOnline = () => {
      if (this.timers.retry) {
        this._clear('retry');
        this._open();
      }
    };
    window.addEventListener('online', this.onOnline);
  }

  _setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: { state } }));
  }

  _clear(name) {
    if (this.timers[name]) {
      clearTimeout(this.timers[name]);
      clearInterval(this.timers[name]);
      this.timers[name] = null;
    }
  }

  _clearAll() {
    for (const k of Object.keys(this.timers)) this._clear(k);
  }

  start() {
    this.stopped = false;
    this._setState('connecting');
    this._open();
  }

  /** Close for good (logout): 1000 ends the session on the server. */
  stop() {
    this.stopped = true;
    this._clearAll();
    window.removeEventListener('online', this.onOnline);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      this._detach(ws);
      try {
        ws.close(1000, 'logout');
      } catch {
        // already closed
      }
    }
    this._setState('closed');
  }

  send(op, d) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify({ op, d }));
    return true;
  }

  /** op 3: the user's own status. */
  setPresence(status) {
    return this.send(3, { since: null, activities: [], status, afk: false });
  }

  /** op 8: members of a guild (all, or the given user ids), with presences. */
  requestMembers(guildId, { query = '', limit = 0, userIds = null } = {}) {
    const d = { guild_id: guildId, presences: true };
    if (userIds) d.user_ids = userIds;
    else Object.assign(d, { query, limit });
    return this.send(8, d);
  }

  _open() {
    if (this.stopped) return;
    this._clear('retry');
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this._scheduleReconnect();
      return;
    }
    this.ws = ws;
    this.helloSeen = false;
    ws.onmessage = (ev) => this._onMessage(ws, ev);
    ws.onclose = (ev) => this._onClose(ws, ev);
    ws.onerror = () => {}; // onclose follows
    // No Hello within 15 s: give up on this socket.
    this.timers.hello = setTimeout(() => {
      if (this.ws === ws && !this.helloSeen) this._drop(ws);
    }, 15000);
  }

  _detach(ws) {
    ws.onmessage = null;
    ws.onclose = null;
    ws.onerror = null;
  }

  /** Abandon this socket (keeping the session) and connect again. */
  _drop(ws) {
    if (this.ws !== ws) return;
    this._detach(ws);
    try {
      ws.close(RECONNECT_CLOSE, 'reconnect');
    } catch {
      // already closed
    }
    this._lost();
  }

  _lost() {
    this.ws = null;
    this._clear('heartbeat');
    this._clear('hello');
    this._clear('identify');
    if (this.stopped) return;
    this._setState(this.everReady ? 'reconnecting' : 'connecting');
    this._scheduleReconnect();
  }

  _scheduleReconnect() {
    if (this.stopped) return;
    this._clear('retry');
    // 0.5 s, 1, 2, 4, 8, then every 10 s (with jitter); at once when the browser comes back online
    const base = this.attempt === 0 ? 500 : Math.min(10000, 1000 * 2 ** (this.attempt - 1));
    this.attempt++;
    const delay = base * (0.8 + Math.random() * 0.4);
    this.timers.retry = setTimeout(() => {
      this.timers.retry = null;
      this._open();
    }, delay);
  }

  _onClose(ws, ev) {
    if (this.ws !== ws) return;
    this._detach(ws);
    if (FATAL.has(ev.code)) {
      this.stopped = true;
      this._clearAll();
      this.ws = null;
      this._setState('closed');
      this.dispatchEvent(new CustomEvent('fatal', { detail: { code: ev.code, reason: ev.reason } }));
      return;
    }
    if (NEW_SESSION.has(ev.code)) {
      this.sessionId = null;
      this.seq = null;
    }
    this._lost();
  }

  _heartbeat() {
    this.send(1, this.seq);
    this.beatSentAt = performance.now();
  }

  _startHeartbeats(interval) {
    this._clear('heartbeat');
    this.acked = true;
    const beat = () => {
      if (!this.acked) {
        // Zombie connection: the last beat was never acknowledged.
        this._drop(this.ws);
        return;
      }
      this.acked = false;
      this._heartbeat();
      this.timers.heartbeat = setTimeout(beat, interval);
    };
    // First beat after interval * jitter, as Discord asks.
    this.timers.heartbeat = setTimeout(beat, interval * Math.random());
  }

  _identify() {
    const d = {
      token: this.token,
      intents: INTENTS,
      properties: { os: navigator.platform || 'web', browser: 'Parley Web', device: '' },
      large_threshold: this.largeThreshold,
    };
    const presence = this.getPresence();
    if (presence) d.presence = presence;
    this.send(2, d);
  }

  _onMessage(ws, ev) {
    if (this.ws !== ws || typeof ev.data !== 'string') return;
    let p;
    try {
      p = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (p.s != null) this.seq = p.s;
    switch (p.op) {
      case 10: // Hello
        this.helloSeen = true;
        this._clear('hello');
        this._startHeartbeats(p.d.heartbeat_interval);
        if (this.sessionId && this.seq != null) {
          this.send(6, { token: this.token, session_id: this.sessionId, seq: this.seq });
        } else {
          this._identify();
        }
        break;
      case 11: // Heartbeat ACK
        this.acked = true;
        if (this.beatSentAt) this.latency = Math.round(performance.now() - this.beatSentAt);
        break;
      case 1: // the server asks for a heartbeat now
        this._heartbeat();
        break;
      case 7: // Reconnect
        this._drop(ws);
        break;
      case 9: // Invalid Session
        if (p.d === true) {
          this._drop(ws);
        } else {
          this.sessionId = null;
          this.seq = null;
          // Discord asks for a pause of 1–5 s before identifying again.
          this._clear('identify');
          this.timers.identify = setTimeout(() => {
            if (this.ws === ws) this._identify();
          }, 1000 + Math.random() * 1500);
        }
        break;
      case 0:
        this._onDispatch(p);
        break;
      default:
        break;
    }
  }

  _onDispatch(p) {
    if (p.t === 'READY') {
      const fresh = !this.everReady;
      this.sessionId = p.d.session_id;
      this.everReady = true;
      this.attempt = 0;
      this._setState('connected');
      this.dispatchEvent(new CustomEvent('ready', { detail: { ready: p.d, fresh } }));
      return;
    }
    if (p.t === 'RESUMED') {
      this.attempt = 0;
      this._setState('connected');
      this.dispatchEvent(new CustomEvent('resumed'));
      return;
    }
    this.dispatchEvent(new CustomEvent('dispatch', { detail: { t: p.t, d: p.d, s: p.s } }));
  }
}
