// Guild rail, channel list and the user's own panel (status, log out).
import { h, icon, ICONS, replace } from '../dom.js';
import { PERM } from '../permissions.js';
import { STATUS_LABEL } from '../store.js';
import { avatar, initials, colorClass } from './common.js';

/**
 * ctx: {store, guildId, channelId, link(path) → click handler,
 *       addGuild(), channelMenu(channel), createChannel(), guildMenu(), invite()}
 */
export function renderRail(el, ctx) {
  const { store } = ctx;
  const items = store.guildList().map((g) => {
    const unread = [...g.channels.keys()].some((id) => store.unread.has(id));
    const current = g.id === ctx.guildId;
    return h('li', null,
      h('a', {
        href: `/channels/${g.id}`,
        class: `guild-btn ${colorClass(g.id)}${current ? ' current' : ''}${unread ? ' unread' : ''}`,
        'aria-current': current ? 'page' : null,
        'aria-label': `${g.name}${unread ? ' (unread messages)' : ''}`,
        title: g.name,
        dataset: { guildId: g.id },
        onclick: ctx.link(`/channels/${g.id}`),
      }, initials(g.name)));
  });
  replace(el,
    h('ul', { class: 'guild-list', 'aria-label': 'Servers' }, items,
      h('li', null, h('button', { type: 'button', class: 'guild-btn add', id: 'add-guild', 'aria-label': 'Create or join a server', title: 'Create or join a server', onclick: ctx.addGuild }, icon(ICONS.plus)))));
}

export function renderChannels(el, ctx) {
  const { store, guildId } = ctx;
  const g = store.guilds.get(guildId);
  if (!g) {
    replace(el, h('div', { class: 'sidebar-head' }, h('h2', null, 'Parley')),
      h('p', { class: 'muted pad' }, store.guilds.size ? 'Pick a server on the left.' : 'You are in no server yet. Create one or join with an invite.'));
    return;
  }
  const canManage = store.can(guildId, null, PERM.MANAGE_CHANNELS);
  const channels = store.channels(guildId);
  const items = channels.map((c) => {
    const current = c.id === ctx.channelId;
    const unread = store.unread.has(c.id);
    const canEdit = store.can(guildId, c.id, PERM.MANAGE_CHANNELS);
    return h('li', { class: `channel${current ? ' current' : ''}${unread ? ' unread' : ''}` },
      h('a', {
        href: `/channels/${guildId}/${c.id}`,
        'aria-current': current ? 'page' : null,
        dataset: { channelId: c.id },
        onclick: ctx.link(`/channels/${guildId}/${c.id}`),
      }, icon(ICONS.hash, { size: 18 }), h('span', { class: 'channel-name' }, c.name), unread ? h('span', { class: 'sr-only' }, ' (unread)') : null),
      canEdit ? h('button', { type: 'button', class: 'icon-btn channel-gear', 'aria-label': `Edit channel ${c.name}`, title: 'Edit channel', onclick: () => ctx.channelMenu(c) }, icon(ICONS.gear, { size: 16 })) : null);
  });
  replace(el,
    h('div', { class: 'sidebar-head' },
      h('h2', { class: 'guild-name', title: g.name }, g.name),
      h('button', { type: 'button', class: 'icon-btn', id: 'guild-menu', 'aria-label': 'Server menu', 'aria-haspopup': 'menu', onclick: (ev) => ctx.guildMenu(ev.currentTarget) }, icon(ICONS.down))),
    h('div', { class: 'channel-section' },
      h('div', { class: 'section-head' },
        h('h3', null, 'Text channels'),
        canManage ? h('button', { type: 'button', class: 'icon-btn', id: 'create-channel', 'aria-label': 'Create channel', title: 'Create channel', onclick: ctx.createChannel }, icon(ICONS.plus, { size: 16 })) : null),
      h('ul', { class: 'channel-list', 'aria-label': 'Text channels' }, items),
      channels.length ? null : h('p', { class: 'muted pad' }, 'No channel you can see.')),
    store.can(guildId, null, PERM.CREATE_INSTANT_INVITE) || [...g.channels.keys()].some((id) => store.can(guildId, id, PERM.CREATE_INSTANT_INVITE))
      ? h('button', { type: 'button', class: 'btn btn-ghost invite-btn', id: 'invite-people', onclick: ctx.invite }, icon(ICONS.invite, { size: 18 }), 'Invite people')
      : null);
}

export function renderUserPanel(el, ctx) {
  const { store } = ctx;
  const me = store.me;
  if (!me) return replace(el);
  const status = store.status(me.id);
  const name = me.global_name || me.username;
  replace(el,
    h('button', {
      type: 'button', class: 'user-btn', id: 'status-button', 'aria-haspopup': 'menu',
      'aria-label': `${name}, ${STATUS_LABEL[status] || status}. Change status`,
      onclick: (ev) => ctx.statusMenu(ev.currentTarget),
    },
      avatar(me.id, name, { status: status === 'invisible' ? 'offline' : status }),
      h('span', { class: 'user-text' }, h('span', { class: 'user-name', id: 'me-name' }, name), h('span', { class: 'user-status', id: 'my-status' }, STATUS_LABEL[status] || status))),
    h('button', { type: 'button', class: 'icon-btn', id: 'logout', 'aria-label': 'Log out', title: 'Log out', onclick: ctx.logout }, icon(ICONS.logout)));
}

/** A small popup menu next to anchor; items: [{label, onSelect, checked?, danger?, id?}]. */
export function popupMenu(anchor, items, { label = 'Menu' } = {}) {
  document.querySelectorAll('.popup-menu').forEach((m) => m.remove());
  const close = () => {
    menu.remove();
    document.removeEventListener('pointerdown', outside, true);
    anchor.setAttribute('aria-expanded', 'false');
  };
  const outside = (ev) => {
    if (!menu.contains(ev.target) && ev.target !== anchor && !anchor.contains(ev.target)) close();
  };
  const buttons = items.map((it) =>
    h('li', { role: 'none' },
      h('button', {
        type: 'button',
        role: it.checked === undefined ? 'menuitem' : 'menuitemradio',
        'aria-checked': it.checked === undefined ? null : String(!!it.checked),
        class: `menu-item${it.danger ? ' danger' : ''}`,
        id: it.id,
        onclick: () => {
          close();
          anchor.focus();
          it.onSelect();
        },
      }, it.dot ? h('span', { class: `status-dot inline status-${it.dot}` }) : null, it.label)));
  const menu = h('ul', { class: 'popup-menu', role: 'menu', 'aria-label': label }, buttons);
  menu.addEventListener('keydown', (ev) => {
    const all = [...menu.querySelectorAll('button')];
    const i = all.indexOf(document.activeElement);
    if (ev.key === 'Escape') {
      ev.preventDefault();
      close();
      anchor.focus();
    } else if (ev.key === 'ArrowDown') {
      ev.preventDefault();
      all[(i + 1) % all.length].focus();
    } else if (ev.key === 'ArrowUp') {
      ev.preventDefault();
      all[(i - 1 + all.length) % all.length].focus();
    } else if (ev.key === 'Tab') {
      close();
    }
  });
  document.body.appendChild(menu);
  const r = anchor.getBoundingClientRect();
  const mw = menu.offsetWidth;
  const mh = menu.offsetHeight;
  let left = Math.min(r.left, window.innerWidth - mw - 8);
  let top = r.bottom + 4;
  if (top + mh > window.innerHeight - 8) top = Math.max(8, r.top - mh - 4);
  menu.style.left = `${Math.max(8, left)}px`;
  menu.style.top = `${top}px`;
  anchor.setAttribute('aria-expanded', 'true');
  document.addEventListener('pointerdown', outside, true);
  const first = menu.querySelector('[aria-checked="true"]') || menu.querySelector('button');
  if (first) first.focus();
  return close;
}

