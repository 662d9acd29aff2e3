// The message view and the composer of the open channel.
//
// Messages live in one MessageList per channel (js/messages.js): the window
// shown, deduplicated by id, plus optimistic messages being sent. Rows are
// keyed DOM elements reused between renders (an edit box keeps its focus),
// and the scroll position is anchored so that loading older pages or live
// messages never makes the view jump.
import { h, icon, ICONS, replace } from '../dom.js';
import { MessageList, PAGE } from '../messages.js';
import { render as renderMarkdown } from '../markdown.js';
import { idToMs, makeNonce } from '../snowflake.js';
import { calendarTime, shortTime, fullTime, sameDay, dayLabel } from '../time.js';
import { PERM } from '../permissions.js';
import { avatar } from './common.js';
import { confirmDialog } from './dialogs.js';
import { toast } from './toast.js';

export const MAX_CHARS = 2000;
const GROUP_MS = 7 * 60 * 1000;
const TYPING_EVERY_MS = 8000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function charCount(s) {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

export class ChatView {
  constructor({ store, api }) {
    this.store = store;
    this.api = api;
    this.lists = new Map(); // channel id → MessageList
    this.queues = new Map(); // channel id → {running, items: [pending]}
    this.lastTypingSent = new Map(); // channel id → ms
    this.drafts = new Map(); // channel id → composer text
    this.guildId = null;
    this.channelId = null;
    this.editing = null; // {id, draft}
    this.rows = new Map(); // key → {el, sig}
    this.loadingOlder = false;
    this.loadingNewer = false;
    this.el = null;
    this.typingTimer = null;
  }

  list(channelId) {
    let l = this.lists.get(channelId);
    if (!l) this.lists.set(channelId, (l = new MessageList(channelId)));
    return l;
  }

  get current() {
    return this.channelId ? this.list(this.channelId) : null;
  }

  me() {
    return this.store.me;
  }

  // ------------------------------------------------------------ mounting

  /** Build the view for a channel into container. */
  mount(container, guildId, channelId, { header }) {
    if (this.channelId && this.input) this.drafts.set(this.channelId, this.input.value);
    this.guildId = guildId;
    this.channelId = channelId;
    this.editing = null;
    this.rows = new Map();
    const channel = this.store.guilds.get(guildId)?.channels.get(channelId);
    const name = channel ? channel.name : 'channel';
    this.canSend = this.store.can(guildId, channelId, PERM.SEND_MESSAGES);
    this.ol = h('ol', { class: 'message-list', role: 'log', 'aria-label': `Messages in #${name}`, 'aria-relevant': 'additions' });
    this.top = h('li', { class: 'history-top', 'aria-hidden': 'true' });
    this.ol.appendChild(this.top);
    this.scroller = h('div', { class: 'messages', id: 'messages', tabindex: '0', 'aria-label': `#${name} messages` }, this.ol);
    this.jump = h('button', { type: 'button', class: 'jump-present', hidden: true, onclick: () => this.jumpToPresent() },
      'Viewing older messages', h('span', { class: 'jump-label' }, 'Jump to present'), icon(ICONS.down, { size: 16 }));
    this.typingEl = h('div', { class: 'typing', id: 'typing', 'aria-live': 'polite' });
    this.counter = h('span', { class: 'counter', id: 'char-counter', 'aria-live': 'polite' });
    this.input = h('textarea', {
      id: 'composer-input',
      rows: 1,
      'aria-label': `Message #${name}`,
      placeholder: this.canSend ? `Message #${name}` : 'You cannot send messages in this channel.',
      disabled: !this.canSend,
      'aria-describedby': 'char-counter composer-help',
      enterkeyhint: 'send',
    });
    this.input.value = this.drafts.get(channelId) || '';
    this.sendBtn = h('button', { type: 'submit', class: 'icon-btn send-btn', 'aria-label': 'Send message', disabled: !this.canSend }, icon(ICONS.send));
    this.composer = h('form', { class: 'composer', id: 'composer', novalidate: true },
      h('div', { class: 'composer-box' }, this.input, this.counter, this.sendBtn),
      h('div', { class: 'composer-foot' }, this.typingEl,
        h('span', { class: 'composer-help', id: 'composer-help' }, 'Enter to send · Shift+Enter for a new line')));
    this.composer.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.submit();
    });
    this.input.addEventListener('keydown', (ev) => this.onComposerKey(ev));
    this.input.addEventListener('input', () => this.onComposerInput());
    this.scroller.addEventListener('scroll', () => this.onScroll(), { passive: true });
    // the view changes size (phone keyboard, window, composer growing): stay at the bottom
    if (this.resizeObserver) this.resizeObserver.disconnect();
    this.resizeObserver = new ResizeObserver(() => {
      if (this.stickBottom && !this.current?.hasNewer) this.scrollToBottom();
    });
    this.resizeObserver.observe(this.scroller);
    this.scroller.addEventListener('keydown', (ev) => this.onListKey(ev));
    this.el = h('section', { class: 'chat', 'aria-label': `#${name}` }, header, h('div', { class: 'messages-wrap' }, this.scroller, this.jump), this.composer);
    replace(container, this.el);
    this.updateCounter();
    this.autosize();
    const l = this.current;
    this.stickBottom = true;
    this.render();
    if (!l.loaded) this.loadLatest();
    else this.scrollToBottom();
    this.renderTyping();
  }

  unmount() {
    if (this.channelId && this.input) this.drafts.set(this.channelId, this.input.value);
    this.channelId = null;
    this.el = null;
    if (this.resizeObserver) this.resizeObserver.disconnect();
    this.resizeObserver = null;
    clearInterval(this.typingTimer);
    this.typingTimer = null;
  }

  focusComposer() {
    if (this.input && !this.input.disabled) this.input.focus();
  }

  // ------------------------------------------------------------ loading

  async loadLatest() {
    const cid = this.channelId;
    const l = this.list(cid);
    try {
      const page = await this.api.get(`/channels/${cid}/messages?limit=${PAGE}`);
      l.setLatest(page);
    } catch (e) {
      l.loadError = e.message;
      l.touch();
    }
    if (this.channelId === cid) {
      this.stickBottom = true;
      this.render();
      this.scrollToBottom();
      this.fillViewport();
    }
  }

  /** After a re-identify: what happened meanwhile is fetched again. */
  async refetch() {
    for (const [cid, l] of this.lists) if (cid !== this.channelId) l.loaded = false;
    const cid = this.channelId;
    if (!cid) return;
    const l = this.list(cid);
    try {
      const page = await this.api.get(`/channels/${cid}/messages?limit=${PAGE}`);
      l.reconcileLatest(page);
    } catch {
      return;
    }
    if (this.channelId === cid) this.render();
  }

  async loadOlder() {
    const l = this.current;
    if (!l || !l.loaded || !l.hasOlder || this.loadingOlder || !l.oldestId) return;
    const cid = this.channelId;
    this.loadingOlder = true;
    this.renderTop();
    try {
      const page = await this.api.get(`/channels/${cid}/messages?limit=${PAGE}&before=${l.oldestId}`);
      l.addOlder(page);
    } catch (e) {
      toast(`Could not load older messages: ${e.message}`, { kind: 'error' });
    } finally {
      this.loadingOlder = false;
    }
    if (this.channelId === cid) {
      this.render();
      this.fillViewport();
      // still at the top (the page was short): keep going
      if (this.scroller && this.scroller.scrollTop < 400) this.loadOlder();
    }
  }

  async loadNewer() {
    const l = this.current;
    if (!l || !l.hasNewer || this.loadingNewer || !l.newestId) return;
    const cid = this.channelId;
    this.loadingNewer = true;
    try {
      const page = await this.api.get(`/channels/${cid}/messages?limit=${PAGE}&after=${l.newestId}`);
      l.addNewer(page);
    } catch (e) {
      toast(`Could not load newer messages: ${e.message}`, { kind: 'error' });
    } finally {
      this.loadingNewer = false;
    }
    if (this.channelId === cid) this.render();
  }

  async jumpToPresent() {
    const l = this.current;
    if (!l) return;
    if (l.hasNewer) {
      await this.loadLatest();
    } else {
      this.stickBottom = true;
      this.scrollToBottom();
    }
    this.updateJump();
  }

  // when the loaded messages do not fill the view, no scroll event would ask for more
  fillViewport() {
    const s = this.scroller;
    const l = this.current;
    if (s && l && l.hasOlder && s.scrollHeight <= s.clientHeight + 50) this.loadOlder();
  }

  // ------------------------------------------------------------ live events

  /** A gateway dispatch; returns true if it concerned messages. */
  onDispatch(t, d) {
    const me = this.me();
    switch (t) {
      case 'MESSAGE_CREATE': {
        this.store.stopTyping(d.channel_id, d.author?.id);
        if (d.author) this.store.users.set(d.author.id, { ...this.store.users.get(d.author.id), ...d.author });
        const l = this.lists.get(d.channel_id);
        if (l) {
          l.confirm(d, me?.id);
          if (l.loaded) l.upsert(d);
        }
        if (d.channel_id !== this.channelId && d.author?.id !== me?.id) {
          this.store.unread.add(d.channel_id);
          this.store.emit('unread', { channelId: d.channel_id });
        }
        if (d.channel_id === this.channelId) this.render();
        return true;
      }
      case 'MESSAGE_UPDATE': {
        const l = this.lists.get(d.channel_id);
        if (l && l.update(d) && d.channel_id === this.channelId) this.render();
        return true;
      }
      case 'MESSAGE_DELETE': {
        const l = this.lists.get(d.channel_id);
        if (l && l.remove(d.id) && d.channel_id === this.channelId) {
          if (this.editing && this.editing.id === d.id) this.editing = null;
          this.render();
        }
        return true;
      }
      case 'MESSAGE_DELETE_BULK': {
        const l = this.lists.get(d.channel_id);
        let changed = false;
        if (l) for (const id of d.ids || []) changed = l.remove(id) || changed;
        if (changed && d.channel_id === this.channelId) this.render();
        return true;
      }
      default:
        return false;
    }
  }

  /** Permissions or the channel changed (role, overwrite, rename). */
  refreshPermissions() {
    if (!this.channelId || !this.el) return;
    const can = this.store.can(this.guildId, this.channelId, PERM.SEND_MESSAGES);
    if (can !== this.canSend) {
      this.canSend = can;
      const name = this.store.guilds.get(this.guildId)?.channels.get(this.channelId)?.name || 'channel';
      this.input.disabled = !can;
      this.sendBtn.disabled = !can;
      this.input.placeholder = can ? `Message #${name}` : 'You cannot send messages in this channel.';
    }
    this.rows = new Map(); // action buttons depend on permissions
    for (const el of [...this.ol.children]) if (el !== this.top) el.remove();
    this.render();
  }

  // ------------------------------------------------------------ rendering

  render() {
    if (!this.el || !this.channelId) return;
    const l = this.current;
    const s = this.scroller;
    const atBottom = s.scrollHeight - s.scrollTop - s.clientHeight < 60;
    const stick = this.stickBottom || atBottom;
    // anchor: the first message row at least partly visible keeps the screen
    // position of its bottom edge (its header may come or go with grouping)
    let anchorKey = null;
    let anchorBottom = 0;
    if (!stick) {
      for (const [key, row] of this.rows) {
        const el = row.el;
        if (!el.classList.contains('msg') || !el.isConnected) continue;
        const bottom = el.offsetTop + el.offsetHeight;
        if (bottom > s.scrollTop && (anchorKey === null || bottom < anchorBottom + s.scrollTop)) {
          anchorKey = key;
          anchorBottom = bottom - s.scrollTop;
        }
      }
    }
    this.renderTop();
    const want = this.rowsFor(l);
    const keys = new Set(want.map((r) => r.key));
    for (const [key, row] of this.rows) {
      if (!keys.has(key)) {
        row.el.remove();
        this.rows.delete(key);
      }
    }
    let cursor = this.top.nextSibling;
    for (const r of want) {
      let row = this.rows.get(r.key);
      if (!row) {
        row = { el: r.build(), sig: r.sig };
        this.rows.set(r.key, row);
      } else if (row.sig !== r.sig) {
        const el = r.build();
        if (cursor === row.el) cursor = el;
        row.el.replaceWith(el);
        row.el = el;
        row.sig = r.sig;
      }
      if (row.el === cursor) cursor = cursor.nextSibling;
      else this.ol.insertBefore(row.el, cursor);
    }
    if (stick && !l.hasNewer) this.scrollToBottom();
    else if (anchorKey !== null && this.rows.has(anchorKey)) {
      const el = this.rows.get(anchorKey).el;
      s.scrollTop = el.offsetTop + el.offsetHeight - anchorBottom;
    }
    this.updateJump();
  }

  renderTop() {
    const l = this.current;
    const name = this.store.guilds.get(this.guildId)?.channels.get(this.channelId)?.name || '';
    let content;
    if (!l.loaded) content = l.loadError ? `Could not load messages: ${l.loadError}` : 'Loading messages…';
    else if (this.loadingOlder) content = 'Loading older messages…';
    else if (!l.hasOlder) content = h('span', null, h('strong', null, `Welcome to #${name}!`), 'This is the start of the channel.');
    else content = '';
    const key = typeof content === 'string' ? content : `start:${name}`;
    if (this.top.dataset.key !== key) {
      this.top.dataset.key = key;
      replace(this.top, content);
      this.top.className = `history-top${!l.hasOlder && l.loaded ? ' history-start' : ''}`;
    }
  }

  rowsFor(l) {
    const me = this.me();
    const out = [];
    const canManage = this.store.can(this.guildId, this.channelId, PERM.MANAGE_MESSAGES);
    let prev = null;
    const items = l.msgs.map((m) => ({ kind: 'msg', m, ms: idToMs(m.id), authorId: m.author?.id }));
    if (!l.hasNewer) {
      for (const p of l.pending) items.push({ kind: 'pending', p, ms: p.createdAt, authorId: me?.id });
    }
    for (const it of items) {
      if (!prev || !sameDay(prev.ms, it.ms)) {
        const label = dayLabel(it.ms);
        out.push({ key: `day:${label}`, sig: label, build: () => h('li', { class: 'day-divider', role: 'separator' }, h('span', null, label)) });
      }
      const grouped = !!prev && sameDay(prev.ms, it.ms) && prev.authorId === it.authorId && it.ms - prev.ms < GROUP_MS;
      if (it.kind === 'msg') {
        const m = it.m;
        const mine = m.author?.id === me?.id;
        const canEdit = mine;
        const canDelete = mine || canManage;
        const editing = this.editing && this.editing.id === m.id;
        const name = this.store.displayName(this.guildId, m.author?.id, m.author);
        const sig = [grouped, m.content, m.edited_timestamp, canEdit, canDelete, editing, name].join('\u0000');
        out.push({ key: `m:${m.id}`, sig, build: () => this.buildMessage(m, { grouped, name, canEdit, canDelete, editing }) });
      } else {
        const p = it.p;
        const name = me ? me.global_name || me.username : '';
        const sig = [grouped, p.content, p.state, p.error, p.retryAt].join('\u0000');
        out.push({ key: `p:${p.nonce}`, sig, build: () => this.buildPending(p, { grouped, name }) });
      }
      prev = it;
    }
    return out;
  }

  buildMessage(m, { grouped, name, canEdit, canDelete, editing }) {
    const ms = idToMs(m.id);
    const iso = new Date(ms).toISOString();
    const li = h('li', {
      class: `msg${grouped ? '' : ' group-start'}${editing ? ' editing' : ''}`,
      id: `msg-${m.id}`,
      tabindex: '-1',
      dataset: { id: m.id, author: m.author?.id || '' },
    });
    if (!grouped) li.appendChild(avatar(m.author?.id, name));
    else li.appendChild(h('time', { class: 'side-time', datetime: iso, title: fullTime(ms) }, shortTime(ms)));
    const body = h('div', { class: 'msg-body' });
    if (!grouped) {
      body.appendChild(h('h3', { class: 'msg-head' },
        h('span', { class: 'msg-author' }, name),
        h('time', { datetime: iso, title: fullTime(ms) }, calendarTime(ms))));
    }
    if (editing) {
      body.appendChild(this.buildEditor(m));
    } else {
      const content = h('div', { class: 'msg-content' }, renderMarkdown(m.content));
      if (m.edited_timestamp) {
        const ems = Date.parse(m.edited_timestamp);
        content.appendChild(h('span', { class: 'edited', title: `Edited ${fullTime(ems)}` }, ' (edited)'));
      }
      body.appendChild(content);
    }
    li.appendChild(body);
    if ((canEdit || canDelete) && !editing) {
      li.appendChild(h('div', { class: 'msg-actions', role: 'toolbar', 'aria-label': 'Message actions' },
        canEdit ? h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Edit message', title: 'Edit', tabindex: '-1', dataset: { action: 'edit' }, onclick: () => this.startEdit(m.id) }, icon(ICONS.edit, { size: 18 })) : null,
        canDelete ? h('button', { type: 'button', class: 'icon-btn danger', 'aria-label': 'Delete message', title: 'Delete (Shift+click: no confirmation)', tabindex: '-1', dataset: { action: 'delete' }, onclick: (ev) => this.deleteMessage(m.id, ev.shiftKey) }, icon(ICONS.trash, { size: 18 })) : null));
      li.addEventListener('focusin', () => li.querySelectorAll('.msg-actions button').forEach((b) => (b.tabIndex = 0)));
      li.addEventListener('focusout', (ev) => {
        if (!li.contains(ev.relatedTarget)) li.querySelectorAll('.msg-actions button').forEach((b) => (b.tabIndex = -1));
      });
    }
    return li;
  }

  buildPending(p, { grouped, name }) {
    const me = this.me();
    const ms = p.createdAt;
    const li = h('li', { class: `msg pending ${p.state}${grouped ? '' : ' group-start'}`, dataset: { nonce: p.nonce }, 'aria-busy': p.state === 'failed' ? null : 'true' });
    if (!grouped) li.appendChild(avatar(me?.id, name));
    else li.appendChild(h('span', { class: 'side-time' }));
    const body = h('div', { class: 'msg-body' });
    if (!grouped) body.appendChild(h('h3', { class: 'msg-head' }, h('span', { class: 'msg-author' }, name), h('time', null, calendarTime(ms))));
    body.appendChild(h('div', { class: 'msg-content' }, renderMarkdown(p.content)));
    if (p.state === 'failed') {
      body.appendChild(h('div', { class: 'msg-status', role: 'alert' },
        h('span', null, `Not sent: ${p.error || 'error'}. `),
        h('button', { type: 'button', class: 'link-btn', dataset: { action: 'retry' }, onclick: () => this.retry(p) }, 'Retry'),
        ' · ',
        h('button', { type: 'button', class: 'link-btn', dataset: { action: 'discard' }, onclick: () => this.discard(p) }, 'Discard')));
    } else if (p.state === 'waiting') {
      const secs = Math.max(1, Math.ceil((p.retryAt - Date.now()) / 1000));
      body.appendChild(h('div', { class: 'msg-status' }, `Slow down: sending again in ${secs} s…`));
    }
    li.appendChild(body);
    return li;
  }

  buildEditor(m) {
    const ta = h('textarea', { class: 'edit-input', 'aria-label': 'Edit message', rows: 1 });
    ta.value = this.editing.draft;
    const save = () => this.saveEdit(m.id, ta.value);
    ta.addEventListener('input', () => {
      this.editing.draft = ta.value;
      autosize(ta);
    });
    ta.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape') {
        ev.preventDefault();
        this.cancelEdit();
      } else if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        save();
      }
    });
    queueMicrotask(() => {
      ta.focus();
      ta.setSelectionRange(ta.value.length, ta.value.length);
      autosize(ta);
    });
    return h('div', { class: 'editor' }, ta,
      h('p', { class: 'muted small' }, 'Escape to ',
        h('button', { type: 'button', class: 'link-btn', onclick: () => this.cancelEdit() }, 'cancel'),
        ' · Enter to ',
        h('button', { type: 'button', class: 'link-btn', onclick: save }, 'save')));
  }

  scrollToBottom() {
    const s = this.scroller;
    if (s) s.scrollTop = s.scrollHeight;
  }

  updateJump() {
    const l = this.current;
    const s = this.scroller;
    if (!l || !s) return;
    const far = s.scrollHeight - s.scrollTop - s.clientHeight > s.clientHeight * 1.5;
    this.jump.hidden = !(l.hasNewer || far);
  }

  onScroll() {
    const s = this.scroller;
    const l = this.current;
    if (!l) return;
    const fromBottom = s.scrollHeight - s.scrollTop - s.clientHeight;
    this.stickBottom = fromBottom < 60 && !l.hasNewer;
    if (s.scrollTop < 400) this.loadOlder();
    if (l.hasNewer && fromBottom < 400) this.loadNewer();
    this.updateJump();
  }

  // keyboard: Up/Down move between messages, Escape back to the composer
  onListKey(ev) {
    if (ev.target.tagName === 'TEXTAREA') return;
    const rows = [...this.ol.querySelectorAll('li.msg[tabindex]')];
    if (!rows.length) return;
    const at = rows.indexOf(ev.target.closest ? ev.target.closest('li.msg') : null);
    let next = null;
    if (ev.key === 'ArrowUp') next = at < 0 ? rows[rows.length - 1] : rows[Math.max(0, at - 1)];
    else if (ev.key === 'ArrowDown') next = at < 0 ? null : rows[at + 1] || null;
    else if (ev.key === 'Escape') {
      ev.preventDefault();
      this.focusComposer();
      return;
    } else return;
    ev.preventDefault();
    if (next) next.focus();
    else if (ev.key === 'ArrowDown') this.focusComposer();
  }

  // ------------------------------------------------------------ typing indicator

  renderTyping() {
    if (!this.typingEl || !this.channelId) return;
    const ids = this.store.typingIn(this.channelId);
    const names = ids.map((id) => this.store.displayName(this.guildId, id));
    let text = '';
    if (names.length === 1) text = `${names[0]} is typing…`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
    else if (names.length === 3) text = `${names[0]}, ${names[1]} and ${names[2]} are typing…`;
    else if (names.length > 3) text = 'Several people are typing…';
    if (this.typingEl.textContent !== text) this.typingEl.textContent = text;
    this.typingEl.classList.toggle('active', !!text);
    if (ids.length && !this.typingTimer) {
      this.typingTimer = setInterval(() => this.renderTyping(), 1000);
    } else if (!ids.length && this.typingTimer) {
      clearInterval(this.typingTimer);
      this.typingTimer = null;
    }
  }

  // ------------------------------------------------------------ composer

  onComposerKey(ev) {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      this.submit();
    } else if (ev.key === 'ArrowUp' && !this.input.value) {
      const me = this.me();
      const l = this.current;
      const mine = l && [...l.msgs].reverse().find((m) => m.author?.id === me?.id);
      if (mine) {
        ev.preventDefault();
        this.startEdit(mine.id);
      }
    } else if (ev.key === 'Escape' && this.current?.hasNewer) {
      this.jumpToPresent();
    }
  }

  onComposerInput() {
    this.updateCounter();
    this.autosize();
    const text = this.input.value;
    if (!text.trim() || !this.channelId) return;
    const cid = this.channelId;
    const last = this.lastTypingSent.get(cid) || 0;
    if (Date.now() - last >= TYPING_EVERY_MS) {
      this.lastTypingSent.set(cid, Date.now());
      this.api.post(`/channels/${cid}/typing`).catch(() => {});
    }
  }

  updateCounter() {
    const n = charCount(this.input.value);
    const over = n > MAX_CHARS;
    this.counter.textContent = n >= MAX_CHARS - 200 ? `${n} / ${MAX_CHARS}` : '';
    this.counter.classList.toggle('over', over);
    this.counter.title = over ? `Messages are limited to ${MAX_CHARS} characters` : '';
    this.input.setAttribute('aria-invalid', over ? 'true' : 'false');
  }

  autosize() {
    autosize(this.input);
  }

  submit() {
    const text = this.input.value;
    if (!text.trim() || !this.canSend) return;
    const n = charCount(text);
    if (n > MAX_CHARS) {
      toast(`Your message is too long: ${n} of ${MAX_CHARS} characters.`, { kind: 'error' });
      return;
    }
    this.input.value = '';
    this.drafts.delete(this.channelId);
    this.updateCounter();
    this.autosize();
    this.lastTypingSent.delete(this.channelId);
    this.send(this.channelId, text);
  }

  /** Optimistic send: the message shows at once and is confirmed by nonce. */
  send(channelId, content) {
    const l = this.list(channelId);
    if (l.hasNewer && channelId === this.channelId) this.loadLatest();
    const p = l.addPending({ nonce: makeNonce(), content, state: 'sending', createdAt: Date.now(), error: null, retryAt: 0 });
    this.enqueue(channelId, p);
    if (channelId === this.channelId) {
      this.stickBottom = true;
      this.render();
    }
  }

  enqueue(channelId, p) {
    let q = this.queues.get(channelId);
    if (!q) this.queues.set(channelId, (q = { running: false, items: [] }));
    q.items.push(p);
    if (!q.running) this.drain(channelId, q);
  }

  // One message at a time per channel, so they arrive in the order typed.
  async drain(channelId, q) {
    q.running = true;
    const l = this.list(channelId);
    const changed = () => {
      if (channelId === this.channelId) this.render();
    };
    while (q.items.length) {
      const p = q.items[0];
      if (!l.pending.includes(p)) {
        q.items.shift();
        continue;
      }
      p.state = 'sending';
      l.touch();
      changed();
      try {
        const m = await this.api.post(`/channels/${channelId}/messages`, { content: p.content, nonce: p.nonce });
        q.items.shift();
        l.confirm(m, this.me()?.id);
        if (l.loaded) l.upsert(m);
        l.dropPending(p.nonce);
        changed();
      } catch (e) {
        if (e.status === 429) {
          // wait as long as the server says, then try the same message again
          const wait = Math.max(0.1, e.retryAfter ?? 1) * 1000;
          p.state = 'waiting';
          p.retryAt = Date.now() + wait;
          l.touch();
          changed();
          const tick = setInterval(() => {
            l.touch();
            changed();
          }, 1000);
          await sleep(wait);
          clearInterval(tick);
          continue;
        }
        q.items.shift();
        p.state = 'failed';
        p.error = e.message.replace(/\.$/, '');
        l.touch();
        changed();
      }
    }
    q.running = false;
  }

  retry(p) {
    const l = this.list(this.channelId);
    if (!l.pending.includes(p)) return;
    p.state = 'sending';
    p.error = null;
    l.touch();
    this.enqueue(this.channelId, p);
    this.render();
  }

  discard(p) {
    this.list(this.channelId).dropPending(p.nonce);
    this.render();
  }

  // ------------------------------------------------------------ edit / delete

  startEdit(id) {
    const m = this.current?.byId.get(id);
    if (!m) return;
    this.editing = { id, draft: m.content };
    this.render();
    const el = document.getElementById(`msg-${id}`);
    if (el) el.scrollIntoView({ block: 'nearest' });
  }

  cancelEdit() {
    const id = this.editing?.id;
    this.editing = null;
    this.render();
    const el = id && document.getElementById(`msg-${id}`);
    if (el) el.focus();
    else this.focusComposer();
  }

  async saveEdit(id, text) {
    const l = this.current;
    const m = l?.byId.get(id);
    if (!m) return this.cancelEdit();
    if (!text.trim()) {
      this.editing = null;
      this.render();
      return this.deleteMessage(id, false);
    }
    if (charCount(text) > MAX_CHARS) {
      toast(`Your message is too long: ${charCount(text)} of ${MAX_CHARS} characters.`, { kind: 'error' });
      return;
    }
    if (text === m.content) return this.cancelEdit();
    const cid = this.channelId;
    try {
      const updated = await this.api.patch(`/channels/${cid}/messages/${id}`, { content: text });
      this.list(cid).update(updated);
      if (this.editing && this.editing.id === id) this.editing = null;
      if (this.channelId === cid) {
        this.render();
        this.focusComposer();
      }
    } catch (e) {
      toast(`Could not edit the message: ${e.message}`, { kind: 'error' });
    }
  }

  async deleteMessage(id, skipConfirm) {
    const cid = this.channelId;
    const m = this.list(cid).byId.get(id);
    if (!m) return;
    if (!skipConfirm) {
      const ok = await confirmDialog({
        title: 'Delete message',
        text: `Delete this message? "${m.content.length > 120 ? m.content.slice(0, 120) + '…' : m.content}"`,
        confirmLabel: 'Delete',
      });
      if (!ok) return;
    }
    try {
      await this.api.del(`/channels/${cid}/messages/${id}`);
      if (this.list(cid).remove(id) && this.channelId === cid) this.render();
    } catch (e) {
      toast(`Could not delete the message: ${e.message}`, { kind: 'error' });
    }
  }
}

function autosize(ta) {
  if (!ta) return;
  ta.style.height = 'auto';
  ta.style.height = `${Math.min(ta.scrollHeight, 240)}px`;
}
