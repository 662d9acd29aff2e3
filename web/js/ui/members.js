// The member list of the open guild, grouped by presence.
import { h, replace } from '../dom.js';
import { STATUS_LABEL } from '../store.js';
import { avatar } from './common.js';

export function renderMembers(el, { store, guildId }) {
  const g = store.guilds.get(guildId);
  if (!g) return replace(el);
  const me = store.me;
  const online = [];
  const offline = [];
  for (const m of g.members.values()) {
    let status = store.status(m.user.id);
    if (status === 'invisible') status = 'offline';
    const name = store.displayName(guildId, m.user.id, m.user);
    (status === 'offline' ? offline : online).push({ m, status, name });
  }
  const byName = (a, b) => a.name.localeCompare(b.name, undefined, { sensitivity: 'base' });
  online.sort(byName);
  offline.sort(byName);
  const row = ({ m, status, name }) => {
    const label = m.user.id === me?.id && store.status(me.id) === 'invisible' ? STATUS_LABEL.invisible : STATUS_LABEL[status] || status;
    return h('li', { class: `member status-${status}`, dataset: { userId: m.user.id, status } },
      avatar(m.user.id, name, { status }),
      h('span', { class: 'member-text' },
        h('span', { class: 'member-name' }, name, g.owner_id === m.user.id ? h('span', { class: 'owner-badge', title: 'Server owner', 'aria-label': '(owner)' }, ' ♛') : null),
        h('span', { class: 'member-status' }, label)));
  };
  const known = g.members.size;
  replace(el,
    h('h2', { class: 'sr-only' }, 'Members'),
    online.length ? h('h3', { class: 'members-head' }, `Online — ${online.length}`) : null,
    h('ul', { class: 'member-list', 'aria-label': 'Online members' }, online.map(row)),
    offline.length ? h('h3', { class: 'members-head' }, `Offline — ${offline.length}`) : null,
    h('ul', { class: 'member-list offline', 'aria-label': 'Offline members' }, offline.map(row)),
    g.member_count > known ? h('p', { class: 'muted small pad' }, `${g.member_count - known} more not loaded`) : null);
}
