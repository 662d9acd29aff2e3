// The loaded window of one channel's messages, oldest first, with no
// duplicates (every message is kept by id), plus the messages being sent.
//
//   hasOlder  more history exists before msgs[0] (load with `before`)
//   hasNewer  the window does not reach the present (load with `after`,
//             or jump back to the latest page); live messages are then
//             not appended (they would leave a gap)
//   pending   optimistic messages not yet confirmed: {nonce, content,
//             state: 'sending' | 'waiting' | 'failed', error, retryAt}
import { cmpId } from './snowflake.js';

export const PAGE = 50;
export const MAX_LOADED = 250;

export class MessageList {
  constructor(channelId) {
    this.channelId = channelId;
    this.msgs = [];
    this.byId = new Map();
    this.pending = [];
    this.confirmed = new Set(); // ids of our messages already matched to a pending one
    this.hasOlder = true;
    this.hasNewer = false;
    this.loaded = false;
    this.version = 0; // bumps on every change (views re-render when it moves)
  }

  _set(list) {
    this.msgs = list;
    this.byId = new Map(list.map((m) => [m.id, m]));
    this.version++;
  }

  _index(id) {
    let lo = 0;
    let hi = this.msgs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cmpId(this.msgs[mid].id, id) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  get oldestId() {
    return this.msgs.length ? this.msgs[0].id : null;
  }
  get newestId() {
    return this.msgs.length ? this.msgs[this.msgs.length - 1].id : null;
  }

  /** The latest page (newest first, as the API returns it) replaces the window. */
  setLatest(page, limit = PAGE) {
    this._set(dedupe(page));
    this.hasOlder = page.length >= limit;
    this.hasNewer = false;
    this.loaded = true;
  }

  /**
   * After a re-identify: merge the latest page into what is shown. Messages
   * in the page's span that the page lacks were deleted meanwhile; if the
   * page does not reach back to what we had, the older part (now
   * disconnected) is dropped.
   */
  reconcileLatest(page, limit = PAGE) {
    if (!this.loaded || this.hasNewer) return this.setLatest(page, limit);
    const fresh = dedupe(page);
    if (fresh.length < limit) return this.setLatest(page, limit); // the whole channel
    const oldest = fresh[0].id;
    const overlaps = this.msgs.length && cmpId(this.newestId, oldest) >= 0;
    if (!overlaps) return this.setLatest(page, limit);
    const kept = this.msgs.filter((m) => cmpId(m.id, oldest) < 0);
    this._set(kept.concat(fresh));
  }

  /** An older page (newest first) goes before the window. Returns how many were new. */
  addOlder(page, limit = PAGE) {
    const add = dedupe(page).filter((m) => !this.byId.has(m.id));
    this.hasOlder = page.length >= limit;
    if (!add.length) {
      this.version++;
      return 0;
    }
    let list = add.concat(this.msgs);
    list.sort((a, b) => cmpId(a.id, b.id));
    if (list.length > MAX_LOADED) {
      list = list.slice(0, MAX_LOADED);
      this.hasNewer = true;
    }
    this._set(list);
    return add.length;
  }

  /** A newer page (from `after`, newest first) goes after the window. */
  addNewer(page, limit = PAGE) {
    const add = dedupe(page).filter((m) => !this.byId.has(m.id));
    if (page.length < limit) this.hasNewer = false;
    let list = this.msgs.concat(add);
    list.sort((a, b) => cmpId(a.id, b.id));
    if (list.length > MAX_LOADED) {
      list = list.slice(list.length - MAX_LOADED);
      this.hasOlder = true;
    }
    this._set(list);
    return add.length;
  }

  /**
   * A live message (MESSAGE_CREATE, or the reply to our POST). Returns true
   * if it changed the window. Never adds one twice.
   */
  upsert(m) {
    const have = this.byId.get(m.id);
    if (have) {
      // keep the newer of two copies (an edit may have overtaken the create)
      if ((m.edited_timestamp || '') >= (have.edited_timestamp || '')) {
        const merged = { ...have, ...m };
        if (!m.member && have.member) merged.member = have.member;
        this.msgs[this._index(m.id)] = merged;
        this.byId.set(m.id, merged);
        this.version++;
        return true;
      }
      return false;
    }
    if (this.hasNewer) return false;
    if (this.msgs.length && this.hasOlder && cmpId(m.id, this.oldestId) < 0) return false;
    const i = this._index(m.id);
    this.msgs.splice(i, 0, m);
    this.byId.set(m.id, m);
    if (this.msgs.length > MAX_LOADED + PAGE) {
      this.msgs.splice(0, this.msgs.length - MAX_LOADED);
      this.byId = new Map(this.msgs.map((x) => [x.id, x]));
      this.hasOlder = true;
    }
    this.version++;
    return true;
  }

  /** MESSAGE_UPDATE: only messages in the window change. */
  update(m) {
    const have = this.byId.get(m.id);
    if (!have) return false;
    return this.upsert({ ...have, ...m });
  }

  remove(id) {
    if (!this.byId.has(id)) return false;
    this.msgs.splice(this._index(id), 1);
    this.byId.delete(id);
    this.version++;
    return true;
  }

  // ---------------------------------------------------------------- pending

  addPending(p) {
    this.pending.push(p);
    this.version++;
    return p;
  }

  pendingByNonce(nonce) {
    return this.pending.find((p) => p.nonce === nonce) || null;
  }

  dropPending(nonce) {
    const i = this.pending.findIndex((p) => p.nonce === nonce);
    if (i < 0) return null;
    const [p] = this.pending.splice(i, 1);
    this.version++;
    return p;
  }

  /**
   * A confirmed message of ours: the pending one it answers (by nonce, or,
   * for a MESSAGE_CREATE that carries none, the oldest one still being sent
   * with the same content) is dropped. Returns that pending entry.
   */
  confirm(m, myId) {
    // The REST reply and the MESSAGE_CREATE both confirm: only the first counts.
    if (this.confirmed.has(m.id)) return null;
    let p = null;
    if (m.nonce != null) {
      p = this.pendingByNonce(String(m.nonce));
    } else if (m.author && m.author.id === myId) {
      p = this.pending.find((x) => x.state === 'sending' && x.content === m.content) || null;
    }
    if (!p) return null;
    this.confirmed.add(m.id);
    if (this.confirmed.size > 500) this.confirmed = new Set([...this.confirmed].slice(-250));
    return this.dropPending(p.nonce);
  }

  touch() {
    this.version++;
  }
}

// newest-first page → oldest-first list without duplicates
function dedupe(page) {
  const seen = new Set();
  const out = [];
  for (const m of page) {
    if (seen.has(m.id)) continue;
    seen.add(m.id);
    out.push(m);
  }
  out.sort((a, b) => cmpId(a.id, b.id));
  return out;
}
