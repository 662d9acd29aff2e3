// What the gateway told us about the user's guilds: channels, roles,
// members and presences, kept up to date by dispatches. Views subscribe to
// 'change' events ({detail: {what, guildId, channelId}}).
import { cmpId } from './snowflake.js';
import { channelPermissions, basePermissions, PERM, has } from './permissions.js';

export const STATUSES = ['online', 'idle', 'dnd', 'invisible'];
export const STATUS_LABEL = { online: 'Online', idle: 'Idle', dnd: 'Do Not Disturb', invisible: 'Invisible', offline: 'Offline' };

function toGuild(d, prev) {
  const g = {
    id: d.id,
    name: d.name,
    owner_id: d.owner_id,
    description: d.description ?? null,
    roles: new Map((d.roles || []).map((r) => [r.id, r])),
    channels: new Map(),
    members: prev ? prev.members : new Map(),
    member_count: d.member_count ?? prev?.member_count ?? 0,
    large: !!d.large,
    membersRequested: false,
  };
  for (const c of d.channels || []) g.channels.set(c.id, { ...c, guild_id: d.id });
  if (Array.isArray(d.members)) {
    g.members = new Map();
    for (const m of d.members) if (m.user) g.members.set(m.user.id, m);
  }
  return g;
}

export class Store extends EventTarget {
  constructor() {
    super();
    this.reset();
  }

  reset() {
    this.me = null;
    this.guilds = new Map();
    this.users = new Map();
    this.presences = new Map(); // user id → status
    this.typing = new Map(); // channel id → Map(user id → expires at ms)
    this.unread = new Set(); // channel ids
    this.awaiting = new Set(); // guild ids READY listed whose GUILD_CREATE has not come
  }

  emit(what, extra = {}) {
    this.dispatchEvent(new CustomEvent('change', { detail: { what, ...extra } }));
  }

  // ------------------------------------------------------------ gateway

  onReady(ready, myStatus) {
    this.me = ready.user;
    this.users.set(ready.user.id, ready.user);
    const listed = new Set((ready.guilds || []).map((g) => g.id));
    for (const id of [...this.guilds.keys()]) if (!listed.has(id)) this.guilds.delete(id);
    this.awaiting = listed;
    this.presences.clear();
    this.presences.set(ready.user.id, myStatus);
    this.emit('ready');
    this.emit('guilds');
  }

  apply(t, d) {
    switch (t) {
      case 'GUILD_CREATE': {
        if (d.unavailable) return;
        const g = toGuild(d, this.guilds.get(d.id));
        this.guilds.set(d.id, g);
        this.awaiting.delete(d.id);
        for (const m of g.members.values()) this.users.set(m.user.id, m.user);
        // presences: those listed are online/idle/dnd; everyone else is offline
        for (const uid of g.members.keys()) if (uid !== this.me?.id) this.presences.set(uid, 'offline');
        for (const p of d.presences || []) if (p.user && p.user.id !== this.me?.id) this.presences.set(p.user.id, p.status);
        this.emit('guilds');
        this.emit('guild', { guildId: d.id });
        return;
      }
      case 'GUILD_UPDATE': {
        const g = this.guilds.get(d.id);
        if (!g) return;
        g.name = d.name;
        g.owner_id = d.owner_id;
        g.description = d.description ?? null;
        if (Array.isArray(d.roles)) g.roles = new Map(d.roles.map((r) => [r.id, r]));
        this.emit('guilds');
        this.emit('guild', { guildId: d.id });
        return;
      }
      case 'GUILD_DELETE': {
        if (d.unavailable) return;
        if (this.guilds.delete(d.id)) {
          this.emit('guilds');
          this.emit('guild-removed', { guildId: d.id });
        }
        return;
      }
      case 'CHANNEL_CREATE':
      case 'CHANNEL_UPDATE': {
        const g = this.guilds.get(d.guild_id);
        if (!g) return;
        g.channels.set(d.id, { ...g.channels.get(d.id), ...d });
        this.emit('guild', { guildId: d.guild_id, channelId: d.id });
        return;
      }
      case 'CHANNEL_DELETE': {
        const g = this.guilds.get(d.guild_id);
        if (!g) return;
        g.channels.delete(d.id);
        this.unread.delete(d.id);
        this.emit('guild', { guildId: d.guild_id });
        this.emit('channel-removed', { guildId: d.guild_id, channelId: d.id });
        return;
      }
      case 'GUILD_ROLE_CREATE':
      case 'GUILD_ROLE_UPDATE': {
        const g = this.guilds.get(d.guild_id);
        if (!g) return;
        g.roles.set(d.role.id, d.role);
        this.emit('guild', { guildId: d.guild_id });
        return;
      }
      case 'GUILD_ROLE_DELETE': {
        const g = this.guilds.get(d.guild_id);
        if (!g) return;
        g.roles.delete(d.role_id);
        this.emit('guild', { guildId: d.guild_id });
        return;
      }
      case 'GUILD_MEMBER_ADD':
      case 'GUILD_MEMBER_UPDATE': {
        const g = this.guilds.get(d.guild_id);
        if (!g || !d.user) return;
        const isNew = !g.members.has(d.user.id);
        const { guild_id: _ignored, ...member } = d;
        g.members.set(d.user.id, { ...g.members.get(d.user.id), ...member });
        this.users.set(d.user.id, { ...this.users.get(d.user.id), ...d.user });
        if (isNew && t === 'GUILD_MEMBER_ADD') {
          g.member_count++;
          if (!this.presences.has(d.user.id)) this.presences.set(d.user.id, 'offline');
        }
        this.emit('members', { guildId: d.guild_id });
        this.emit('guild', { guildId: d.guild_id });
        return;
      }
      case 'GUILD_MEMBER_REMOVE': {
        const g = this.guilds.get(d.guild_id);
        if (!g || !d.user) return;
        if (g.members.delete(d.user.id)) g.member_count = Math.max(0, g.member_count - 1);
        this.emit('members', { guildId: d.guild_id });
        return;
      }
      case 'GUILD_MEMBERS_CHUNK': {
        const g = this.guilds.get(d.guild_id);
        if (!g) return;
        for (const m of d.members || []) {
          g.members.set(m.user.id, m);
          this.users.set(m.user.id, m.user);
          if (!this.presences.has(m.user.id)) this.presences.set(m.user.id, 'offline');
        }
        for (const p of d.presences || []) if (p.user && p.user.id !== this.me?.id) this.presences.set(p.user.id, p.status);
        this.emit('members', { guildId: d.guild_id });
        return;
      }
      case 'PRESENCE_UPDATE': {
        if (!d.user || d.user.id === this.me?.id) return;
        this.presences.set(d.user.id, d.status);
        this.emit('presence', { userId: d.user.id });
        return;
      }
      case 'TYPING_START': {
        if (!d.user_id || d.user_id === this.me?.id) return;
        if (d.member && d.member.user) this.users.set(d.member.user.id, { ...this.users.get(d.member.user.id), ...d.member.user });
        let m = this.typing.get(d.channel_id);
        if (!m) this.typing.set(d.channel_id, (m = new Map()));
        m.set(d.user_id, Date.now() + 10000);
        this.emit('typing', { channelId: d.channel_id });
        return;
      }
      default:
        return;
    }
  }

  stopTyping(channelId, userId) {
    const m = this.typing.get(channelId);
    if (m && m.delete(userId)) this.emit('typing', { channelId });
  }

  /** Users typing in a channel now (expired entries dropped). */
  typingIn(channelId) {
    const m = this.typing.get(channelId);
    if (!m) return [];
    const now = Date.now();
    for (const [uid, until] of m) if (until <= now) m.delete(uid);
    return [...m.keys()];
  }

  // ------------------------------------------------------------ queries

  guildList() {
    // in the order READY listed them, i.e. by id
    return [...this.guilds.values()].sort((a, b) => cmpId(a.id, b.id));
  }

  selfMember(guildId) {
    const g = this.guilds.get(guildId);
    return g && this.me ? g.members.get(this.me.id) || null : null;
  }

  permissions(guildId, channelId) {
    const g = this.guilds.get(guildId);
    if (!g || !this.me) return 0n;
    const c = channelId ? g.channels.get(channelId) : null;
    return c ? channelPermissions(g, c, this.me.id, this.selfMember(guildId)) : basePermissions(g, this.me.id, this.selfMember(guildId));
  }

  can(guildId, channelId, bit) {
    return has(this.permissions(guildId, channelId), bit);
  }

  /** Text channels the user may view, by position then id. */
  channels(guildId) {
    const g = this.guilds.get(guildId);
    if (!g) return [];
    return [...g.channels.values()]
      .filter((c) => c.type === 0 && this.can(guildId, c.id, PERM.VIEW_CHANNEL))
      .sort((a, b) => (a.position ?? 0) - (b.position ?? 0) || cmpId(a.id, b.id));
  }

  findChannel(channelId) {
    for (const g of this.guilds.values()) {
      const c = g.channels.get(channelId);
      if (c) return c;
    }
    return null;
  }

  displayName(guildId, userId, fallback) {
    const g = this.guilds.get(guildId);
    const m = g && g.members.get(userId);
    const u = (m && m.user) || this.users.get(userId) || fallback;
    return (m && m.nick) || (u && (u.global_name || u.username)) || 'Unknown user';
  }

  status(userId) {
    return this.presences.get(userId) || 'offline';
  }
}
