// Parley's browser client: the controller. It owns the session (token in
// localStorage), the gateway connection, the routes
//   /login  /register  /invite/<code>  /channels/<guild>[/<channel>]
// and wires the store (js/store.js) to the views (js/ui/*).
import { h, icon, ICONS, replace } from './js/dom.js';
import { createApi } from './js/api.js';
import { Gateway } from './js/gateway.js';
import { Store, STATUSES, STATUS_LABEL } from './js/store.js';
import { PERM } from './js/permissions.js';
import { renderAuth } from './js/ui/auth.js';
import { ChatView } from './js/ui/chat.js';
import { renderRail, renderChannels, renderUserPanel, popupMenu } from './js/ui/sidebar.js';
import { renderMembers } from './js/ui/members.js';
import { openDialog, confirmDialog, promptDialog } from './js/ui/dialogs.js';
import { toast } from './js/ui/toast.js';
import { inviteCode, isInviteCode, inviteUrl } from './js/invite.js';

const TOKEN_KEY = 'parley.token';
const STATUS_KEY = 'parley.status';
const LAST_KEY = 'parley.lastChannel';

const root = document.getElementById('root');
const banner = document.getElementById('banner');

const S = {
  token: null,
  api: null,
  store: new Store(),
  gateway: null,
  chat: null,
  ready: false, // READY and the GUILD_CREATEs that follow it have arrived
  fatal: null,
  authMode: null,
  authNote: null,
  shell: null, // the app layout's elements, once built
  shown: { guildId: null, channelId: null },
  pending: {}, // regions to re-render
};

function readStatus() {
  const s = localStorage.getItem(STATUS_KEY);
  return STATUSES.includes(s) ? s : 'online';
}

// ------------------------------------------------------------------ routing

function parseRoute(path = location.pathname) {
  let m;
  if (path === '/login') return { name: 'login' };
  if (path === '/register') return { name: 'register' };
  if ((m = path.match(/^\/invite\/([^/?#]+)\/?$/))) return { name: 'invite', code: decodeURIComponent(m[1]) };
  if ((m = path.match(/^\/channels\/(\d{1,20})(?:\/(\d{1,20}))?\/?$/))) return { name: 'channel', guildId: m[1], channelId: m[2] || null };
  return { name: 'home' };
}

function navigate(path, { replace: rep = false } = {}) {
  if (path !== location.pathname) {
    if (rep) history.replaceState(null, '', path);
    else history.pushState(null, '', path);
  }
  render();
}

/** A click handler for an in-app link (modified clicks open a tab as usual). */
function link(path) {
  return (ev) => {
    if (ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
    ev.preventDefault();
    closeDrawers();
    navigate(path);
  };
}

// ------------------------------------------------------------------ session

function makeApi() {
  return createApi({ getToken: () => S.token, onUnauthorized: () => endSession('Your session has ended. Please log in again.') });
}

function startSession(token) {
  S.token = token;
  S.api = makeApi();
  S.store.reset();
  S.ready = false;
  S.fatal = null;
  S.chat = new ChatView({ store: S.store, api: S.api });
  const gw = new Gateway({
    token,
    getPresence: () => ({ status: readStatus(), since: null, activities: [], afk: false }),
  });
  S.gateway = gw;
  gw.addEventListener('state', (e) => onGatewayState(e.detail.state));
  const counters = document.documentElement.dataset;
  counters.gatewayReady = '0';
  counters.gatewayResumed = '0';
  gw.addEventListener('resumed', () => {
    counters.gatewayResumed = String(Number(counters.gatewayResumed) + 1);
  });
  gw.addEventListener('ready', (e) => {
    // (READY / RESUMED counts are on <html data-gateway-ready/-resumed>, for tests and curious users)
    counters.gatewayReady = String(Number(counters.gatewayReady) + 1);
    S.store.onReady(e.detail.ready, readStatus());
    if (!e.detail.fresh) {
      // A new session: dispatches were missed; fetch what is on screen again.
      S.chat.refetch();
    }
    waitForGuilds().then(() => {
      if (S.gateway !== gw) return;
      const first = !S.ready;
      S.ready = true;
      if (first) render();
      else schedule('all');
    });
  });
  gw.addEventListener('dispatch', (e) => onDispatch(e.detail.t, e.detail.d));
  gw.addEventListener('fatal', (e) => {
    if (e.detail.code === 4004) return endSession('Your session has ended. Please log in again.');
    S.fatal = `The server closed the connection (${e.detail.code}${e.detail.reason ? `: ${e.detail.reason}` : ''}).`;
    showBanner(S.fatal, 'error');
    if (!S.ready) render();
  });
  gw.start();
}

// The GUILD_CREATEs READY announced (at most 10 s).
function waitForGuilds() {
  return new Promise((resolve) => {
    const deadline = Date.now() + 10000;
    const check = () => {
      if (!S.store.awaiting.size || Date.now() > deadline) resolve();
      else setTimeout(check, 50);
    };
    check();
  });
}

/** Resolves when the store knows the guild (GUILD_CREATE), fetching it over REST after waitMs. */
async function waitForGuild(guildId, waitMs = 3000) {
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    if (S.store.guilds.has(guildId)) return S.store.guilds.get(guildId);
    await new Promise((r) => setTimeout(r, 50));
  }
  if (S.store.guilds.has(guildId)) return S.store.guilds.get(guildId);
  // The dispatch has not come (yet): build the same record from REST.
  const [guild, channels, members] = await Promise.all([
    S.api.get(`/guilds/${guildId}`),
    S.api.get(`/guilds/${guildId}/channels`),
    S.api.get(`/guilds/${guildId}/members?limit=1000`),
  ]);
  if (!S.store.guilds.has(guildId)) S.store.apply('GUILD_CREATE', { ...guild, channels, members, presences: [], member_count: members.length });
  return S.store.guilds.get(guildId);
}

function endSession(note) {
  const gw = S.gateway;
  S.gateway = null;
  if (gw) gw.stop();
  if (S.chat) S.chat.unmount();
  S.chat = null;
  S.token = null;
  S.ready = false;
  S.shell = null;
  S.store.reset();
  localStorage.removeItem(TOKEN_KEY);
  hideBanner();
  document.documentElement.dataset.gateway = 'none';
  S.authNote = note || null;
  S.authMode = 'login';
  const r = parseRoute();
  navigate(r.name === 'invite' ? location.pathname : '/login', { replace: true });
}

async function logout() {
  const api = S.api;
  // The token stops working on the server; the gateway session ends (1000).
  if (api) await api.post('/auth/logout').catch(() => {});
  endSession(null);
}

async function authenticate({ mode, username, password }) {
  const api = createApi({ getToken: () => null });
  const res = mode === 'login'
    ? await api.post('/auth/login', { login: username, password }, { auth: false })
    : await api.post('/auth/register', { username, password }, { auth: false });
  localStorage.setItem(TOKEN_KEY, res.token);
  S.authNote = null;
  startSession(res.token);
  S.store.me = res.user;
  const r = parseRoute();
  navigate(r.name === 'login' || r.name === 'register' ? '/' : location.pathname + location.search, { replace: true });
}

// ------------------------------------------------------------------ gateway state

function onGatewayState(state) {
  document.documentElement.dataset.gateway = state;
  if (state === 'reconnecting') {
    showBanner(navigator.onLine ? 'Connection lost. Reconnecting…' : 'You are offline. Reconnecting…', 'warn');
  } else if (state === 'connected') {
    if (!banner.hidden && banner.classList.contains('warn')) {
      showBanner('Connected again.', 'ok');
      setTimeout(() => {
        if (S.gateway && S.gateway.state === 'connected' && banner.classList.contains('ok')) hideBanner();
      }, 1500);
    }
  }
}

function showBanner(text, kind) {
  banner.textContent = text;
  banner.className = `banner ${kind}`;
  banner.hidden = false;
}

function hideBanner() {
  banner.hidden = true;
  banner.className = 'banner';
  banner.textContent = '';
}

// ------------------------------------------------------------------ dispatches

function onDispatch(t, d) {
  const chat = S.chat;
  if (chat && chat.onDispatch(t, d)) {
    if (t === 'MESSAGE_CREATE') schedule('typing', 'unread');
    return;
  }
  S.store.apply(t, d);
  if (t === 'GUILD_MEMBERS_CHUNK') schedule('members');
  if (t === 'GUILD_MEMBER_ADD' && d.user && d.user.id !== S.store.me?.id) askPresence(d.guild_id, d.user.id);
}

// A member who joins while online comes without a PRESENCE_UPDATE (Parley
// sends presences only when they change): ask for it with op 8 (user_ids,
// presences), a few joins at a time.
const presenceAsks = new Map(); // guild id → Set(user id)
function askPresence(guildId, userId) {
  let set = presenceAsks.get(guildId);
  if (!set) presenceAsks.set(guildId, (set = new Set()));
  set.add(userId);
  if (presenceAsks.timer) return;
  presenceAsks.timer = setTimeout(() => {
    presenceAsks.timer = null;
    for (const [gid, ids] of presenceAsks) {
      if (S.gateway) S.gateway.requestMembers(gid, { userIds: [...ids].slice(0, 100) });
    }
    presenceAsks.clear();
  }, 300);
}

// Store changes → regions to re-render (batched after the current task).
function onStoreChange(ev) {
  const { what, guildId, channelId } = ev.detail;
  const cur = S.shown.guildId;
  switch (what) {
    case 'guilds':
      schedule('rail');
      break;
    case 'guild':
      if (guildId === cur) schedule('channels', 'members', 'header', 'perms');
      break;
    case 'members':
    case 'presence':
      schedule('members', 'user');
      break;
    case 'typing':
      if (channelId === S.shown.channelId) schedule('typing');
      break;
    case 'unread':
      schedule('rail', 'channels');
      break;
    case 'guild-removed':
      if (guildId === cur) {
        toast('You are no longer in that server.');
        navigate('/', { replace: true });
      }
      break;
    case 'channel-removed':
      if (channelId === S.shown.channelId) {
        toast('The channel was deleted.');
        navigate(`/channels/${guildId}`, { replace: true });
      }
      break;
    default:
      break;
  }
}
S.store.addEventListener('change', onStoreChange);

let flushQueued = false;
function schedule(...regions) {
  for (const r of regions) S.pending[r] = true;
  if (flushQueued) return;
  flushQueued = true;
  Promise.resolve().then(flush);
}

function flush() {
  flushQueued = false;
  const p = S.pending;
  S.pending = {};
  if (!S.shell || !S.ready) return;
  const all = p.all;
  const ctx = viewContext();
  if (all || p.rail || p.unread) renderRail(S.shell.rail, ctx);
  if (all || p.channels || p.unread) renderChannels(S.shell.channels, ctx);
  if (all || p.members) renderMembersSoon();
  if (all || p.user || p.members) renderUserPanel(S.shell.user, ctx);
  if (all || p.header) updateHeader();
  if (all || p.perms) {
    const key = permKey();
    if (key !== S.shown.permKey) {
      S.shown.permKey = key;
      if (S.chat) S.chat.refreshPermissions();
    }
    // the channel may have become invisible
    if (S.shown.channelId && !S.store.channels(S.shown.guildId).some((c) => c.id === S.shown.channelId)) {
      navigate(`/channels/${S.shown.guildId}`, { replace: true });
    }
  }
  if ((all || p.typing) && S.chat) S.chat.renderTyping();
}

// Presence updates can come in bursts in big guilds: the member list is
// drawn at most every 200 ms.
let membersTimer = null;
let membersDrawn = 0;
function renderMembersSoon() {
  if (membersTimer) return;
  const draw = () => {
    membersTimer = null;
    membersDrawn = Date.now();
    if (S.shell) renderMembers(S.shell.members, viewContext());
  };
  const wait = membersDrawn + 200 - Date.now();
  if (wait <= 0) draw();
  else membersTimer = setTimeout(draw, wait);
}

function permKey() {
  const { guildId, channelId } = S.shown;
  if (!guildId || !channelId) return '';
  return S.store.permissions(guildId, channelId).toString();
}

// ------------------------------------------------------------------ rendering

function render() {
  const route = parseRoute();
  if (!S.token) {
    S.shell = null;
    if (S.chat) S.chat.unmount();
    const mode = route.name === 'register' || route.name === 'login' ? route.name : S.authMode || 'login';
    if (route.name === 'invite') return renderInviteAuth(route.code, mode);
    if (route.name !== 'login' && route.name !== 'register') {
      history.replaceState(null, '', mode === 'register' ? '/register' : '/login');
    }
    document.title = mode === 'register' ? 'Register — Parley' : 'Log in — Parley';
    renderAuth(root, { mode, note: S.authNote, submit: authenticate, switchMode: switchAuthMode });
    return;
  }
  if (!S.ready) {
    S.shell = null;
    document.title = 'Parley';
    replace(root, h('main', { class: 'loading-screen', 'aria-busy': S.fatal ? 'false' : 'true' },
      h('img', { src: '/favicon.svg', alt: '', width: 56, height: 56, class: S.fatal ? '' : 'pulse' }),
      h('p', null, S.fatal || 'Connecting…'),
      h('button', { type: 'button', class: 'btn btn-ghost', onclick: logout }, 'Log out')));
    return;
  }
  if (route.name === 'login' || route.name === 'register') return navigate('/', { replace: true });
  if (route.name === 'invite') return renderInvite(route.code);
  if (route.name === 'home') {
    const target = homeTarget();
    if (target) return navigate(target, { replace: true });
    return renderApp(null, null);
  }
  // /channels/<guild>[/<channel>]
  const g = S.store.guilds.get(route.guildId);
  if (!g) {
    toast('That server is not one of yours (or no longer exists).');
    return navigate('/', { replace: true });
  }
  const visible = S.store.channels(g.id);
  if (!route.channelId || !visible.some((c) => c.id === route.channelId)) {
    if (route.channelId) toast('That channel does not exist or you cannot see it.');
    if (visible.length) return navigate(`/channels/${g.id}/${visible[0].id}`, { replace: true });
    return renderApp(g.id, null);
  }
  renderApp(g.id, route.channelId);
}

function switchAuthMode(mode) {
  S.authMode = mode;
  S.authNote = null;
  if (parseRoute().name === 'invite') return render();
  navigate(mode === 'register' ? '/register' : '/login');
}

function homeTarget() {
  const last = localStorage.getItem(LAST_KEY);
  if (last) {
    const [gid, cid] = last.split('/');
    if (S.store.guilds.has(gid) && S.store.channels(gid).some((c) => c.id === cid)) return `/channels/${gid}/${cid}`;
  }
  const g = S.store.guildList()[0];
  if (!g) return null;
  const c = S.store.channels(g.id)[0];
  return c ? `/channels/${g.id}/${c.id}` : `/channels/${g.id}`;
}

function viewContext() {
  return {
    store: S.store,
    guildId: S.shown.guildId,
    channelId: S.shown.channelId,
    link,
    addGuild,
    createChannel,
    channelMenu,
    guildMenu,
    invite: () => createInvite(),
    statusMenu,
    logout,
  };
}

function buildShell() {
  const rail = h('nav', { class: 'rail', 'aria-label': 'Servers' });
  const channels = h('div', { class: 'channels-region' });
  const user = h('div', { class: 'user-panel', 'aria-label': 'You' });
  const sidebar = h('nav', { class: 'sidebar', id: 'sidebar', 'aria-label': 'Channels' }, channels, user);
  const main = h('main', { class: 'main', id: 'main' });
  const members = h('aside', { class: 'members', id: 'members', 'aria-label': 'Members' });
  const scrim = h('div', { class: 'scrim', 'aria-hidden': 'true', onclick: closeDrawers });
  const app = h('div', { class: 'app', id: 'app' }, h('div', { class: 'nav-pane', id: 'nav-pane' }, rail, sidebar), main, members, scrim);
  replace(root, app);
  S.shell = { app, rail, sidebar, channels, user, main, members };
}

function renderApp(guildId, channelId) {
  if (!S.shell) buildShell();
  const changed = S.shown.guildId !== guildId || S.shown.channelId !== channelId || !S.chat.el;
  S.shown.guildId = guildId;
  S.shown.channelId = channelId;
  S.shown.permKey = permKey();
  S.shell.app.dataset.guild = guildId || '';
  const g = guildId ? S.store.guilds.get(guildId) : null;
  if (g && g.large && !g.membersRequested) {
    g.membersRequested = true;
    S.gateway.requestMembers(g.id);
  }
  if (channelId) {
    S.store.unread.delete(channelId);
    localStorage.setItem(LAST_KEY, `${guildId}/${channelId}`);
  }
  const ctx = viewContext();
  renderRail(S.shell.rail, ctx);
  renderChannels(S.shell.channels, ctx);
  renderMembers(S.shell.members, ctx);
  renderUserPanel(S.shell.user, ctx);
  if (changed) {
    if (channelId) {
      S.chat.mount(S.shell.main, guildId, channelId, { header: buildHeader() });
      if (!matchMedia('(pointer: coarse)').matches) S.chat.focusComposer();
    } else {
      S.chat.unmount();
      replace(S.shell.main, h('section', { class: 'chat empty' }, buildHeader(),
        h('div', { class: 'empty-state' },
          h('h1', null, g ? g.name : 'Welcome to Parley'),
          h('p', null, g ? 'There is no channel here you can see.' : 'Create a server for your friends, or join one with an invite link.'),
          g ? null : h('div', { class: 'row' },
            h('button', { type: 'button', class: 'btn btn-primary', id: 'empty-create', onclick: createGuild }, 'Create a server'),
            h('button', { type: 'button', class: 'btn btn-ghost', id: 'empty-join', onclick: joinGuild }, 'Join with an invite')))));
    }
  } else {
    updateHeader();
  }
  updateTitle();
}

function buildHeader() {
  const { guildId, channelId } = S.shown;
  const c = guildId && channelId ? S.store.guilds.get(guildId)?.channels.get(channelId) : null;
  return h('header', { class: 'chat-head' },
    h('button', { type: 'button', class: 'icon-btn nav-toggle', id: 'nav-toggle', 'aria-label': 'Servers and channels', 'aria-controls': 'nav-pane', onclick: () => toggleDrawer('nav-open') }, icon(ICONS.menu)),
    h('h1', { class: 'chat-title', id: 'chat-title' }, c ? [icon(ICONS.hash, { size: 20 }), h('span', null, c.name)] : 'Parley'),
    c && c.topic ? h('p', { class: 'chat-topic', title: c.topic }, c.topic) : h('span', { class: 'spacer' }),
    guildId ? h('button', { type: 'button', class: 'icon-btn', id: 'members-toggle', 'aria-label': 'Member list', 'aria-controls': 'members', onclick: toggleMembers }, icon(ICONS.people)) : null);
}

function updateHeader() {
  const head = S.shell && S.shell.main.querySelector('.chat-head');
  if (head) head.replaceWith(buildHeader());
  updateTitle();
}

function updateTitle() {
  const { guildId, channelId } = S.shown;
  const g = guildId && S.store.guilds.get(guildId);
  const c = g && channelId && g.channels.get(channelId);
  document.title = c ? `#${c.name} | ${g.name} — Parley` : g ? `${g.name} — Parley` : 'Parley';
}

// ------------------------------------------------------------------ drawers (narrow screens)

function toggleDrawer(cls) {
  const app = S.shell && S.shell.app;
  if (!app) return;
  const open = !app.classList.contains(cls);
  app.classList.remove('nav-open', 'members-open');
  if (open) app.classList.add(cls);
  if (open && cls === 'nav-open') {
    const cur = app.querySelector('.channel.current a') || app.querySelector('.channel a');
    if (cur) cur.focus();
  }
}

function toggleMembers() {
  if (matchMedia('(min-width: 1100px)').matches) {
    S.shell.app.classList.toggle('members-hidden');
  } else {
    toggleDrawer('members-open');
  }
}

function closeDrawers() {
  if (S.shell) S.shell.app.classList.remove('nav-open', 'members-open');
}

// ------------------------------------------------------------------ actions

function addGuild() {
  openDialog({
    title: 'Add a server',
    submitLabel: null,
    cancelLabel: 'Close',
    build: (api) => [
      h('p', null, 'Start your own server, or join one with an invite link from a friend.'),
      h('div', { class: 'choice' },
        h('button', { type: 'button', class: 'btn btn-primary btn-block', id: 'choose-create', onclick: () => { api.close(); createGuild(); } }, 'Create a server'),
        h('button', { type: 'button', class: 'btn btn-ghost btn-block', id: 'choose-join', onclick: () => { api.close(); joinGuild(); } }, 'Join with an invite')),
    ],
  });
}

function createGuild() {
  const me = S.store.me;
  promptDialog({
    title: 'Create a server',
    label: 'Server name',
    value: me ? `${me.global_name || me.username}'s server` : '',
    maxLength: 100,
    submitLabel: 'Create',
    onSubmit: async (name) => {
      const g = await S.api.post('/guilds', { name });
      await waitForGuild(g.id);
      navigate(`/channels/${g.id}`);
      return g;
    },
  });
}

function joinGuild() {
  promptDialog({
    title: 'Join a server',
    label: 'Invite link or code',
    placeholder: `${location.origin}/invite/abc123`,
    submitLabel: 'Join',
    help: 'Paste the invite link (or just its code) someone gave you.',
    onSubmit: async (text) => {
      const code = inviteCode(text);
      if (!isInviteCode(code)) throw new Error('That does not look like an invite link or code.');
      return acceptInvite(code);
    },
  });
}

async function acceptInvite(code) {
  let inv;
  try {
    inv = await S.api.post(`/invites/${encodeURIComponent(code)}`);
  } catch (e) {
    if (e.status === 404) throw new Error('This invite is invalid or has expired.');
    throw e;
  }
  const gid = inv.guild?.id || inv.guild_id;
  const cid = inv.channel?.id || inv.channel_id;
  await waitForGuild(gid);
  navigate(cid ? `/channels/${gid}/${cid}` : `/channels/${gid}`, { replace: parseRoute().name === 'invite' });
  return inv;
}

async function createInvite(channelId = S.shown.channelId) {
  const { guildId } = S.shown;
  let cid = channelId;
  if (!cid || !S.store.can(guildId, cid, PERM.CREATE_INSTANT_INVITE)) {
    cid = S.store.channels(guildId).find((c) => S.store.can(guildId, c.id, PERM.CREATE_INSTANT_INVITE))?.id;
  }
  if (!cid) return toast('You cannot create invites in this server.', { kind: 'error' });
  let inv;
  try {
    inv = await S.api.post(`/channels/${cid}/invites`, { max_age: 604800 });
  } catch (e) {
    return toast(`Could not create an invite: ${e.message}`, { kind: 'error' });
  }
  const url = inviteUrl(inv.code);
  const g = S.store.guilds.get(guildId);
  openDialog({
    title: `Invite friends to ${g ? g.name : 'the server'}`,
    submitLabel: null,
    cancelLabel: 'Done',
    build: () => {
      const input = h('input', { type: 'text', readonly: true, value: url, id: 'invite-link', 'aria-label': 'Invite link', onfocus: (ev) => ev.target.select() });
      const copy = h('button', { type: 'button', class: 'btn btn-primary', id: 'copy-invite', onclick: async () => {
        const ok = await copyText(url, input);
        copy.textContent = ok ? 'Copied' : 'Copy';
        toast(ok ? 'Invite link copied.' : 'Select the link and copy it.', { kind: ok ? 'ok' : 'info', ms: 2500 });
      } }, 'Copy');
      return [
        h('p', null, 'Send this link to a friend. It expires in 7 days. They can also paste just the code: ', h('code', { id: 'invite-code' }, inv.code)),
        h('div', { class: 'copy-row' }, input, copy),
      ];
    },
  });
}

async function copyText(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    try {
      input.focus();
      input.select();
      return document.execCommand('copy');
    } catch {
      return false;
    }
  }
}

function createChannel() {
  const { guildId } = S.shown;
  promptDialog({
    title: 'Create a text channel',
    label: 'Channel name',
    placeholder: 'new-channel',
    maxLength: 100,
    submitLabel: 'Create channel',
    onSubmit: async (name) => {
      const c = await S.api.post(`/guilds/${guildId}/channels`, { name: channelSlug(name), type: 0 });
      S.store.apply('CHANNEL_CREATE', c);
      navigate(`/channels/${guildId}/${c.id}`);
      return c;
    },
  });
}

// as Discord clients do: lower case, spaces → dashes
function channelSlug(name) {
  return name.trim().toLowerCase().replace(/\s+/g, '-');
}

function channelMenu(c) {
  const anchor = document.activeElement instanceof HTMLElement ? document.activeElement : document.body;
  popupMenu(anchor, [
    { label: 'Rename channel', id: 'rename-channel', onSelect: () => renameChannel(c) },
    { label: 'Delete channel', id: 'delete-channel', danger: true, onSelect: () => deleteChannel(c) },
  ], { label: `Channel ${c.name}` });
}

function renameChannel(c) {
  promptDialog({
    title: `Rename #${c.name}`,
    label: 'Channel name',
    value: c.name,
    maxLength: 100,
    onSubmit: async (name) => {
      const updated = await S.api.patch(`/channels/${c.id}`, { name: channelSlug(name) });
      S.store.apply('CHANNEL_UPDATE', updated);
      return updated;
    },
  });
}

async function deleteChannel(c) {
  const ok = await confirmDialog({ title: `Delete #${c.name}`, text: `Delete #${c.name} and all its messages? This cannot be undone.`, confirmLabel: 'Delete channel' });
  if (!ok) return;
  try {
    await S.api.del(`/channels/${c.id}`);
    S.store.apply('CHANNEL_DELETE', { id: c.id, guild_id: c.guild_id });
  } catch (e) {
    toast(`Could not delete the channel: ${e.message}`, { kind: 'error' });
  }
}

function guildMenu(anchor) {
  const { guildId } = S.shown;
  const g = S.store.guilds.get(guildId);
  if (!g) return;
  const me = S.store.me;
  const items = [{ label: 'Invite people', id: 'menu-invite', onSelect: () => createInvite() }];
  if (S.store.can(guildId, null, PERM.MANAGE_CHANNELS)) items.push({ label: 'Create channel', id: 'menu-create-channel', onSelect: createChannel });
  if (g.owner_id === me.id) {
    items.push({ label: 'Delete server', id: 'menu-delete-guild', danger: true, onSelect: () => deleteGuild(g) });
  } else {
    items.push({ label: 'Leave server', id: 'menu-leave-guild', danger: true, onSelect: () => leaveGuild(g) });
  }
  popupMenu(anchor, items, { label: g.name });
}

async function leaveGuild(g) {
  if (!(await confirmDialog({ title: `Leave ${g.name}`, text: `Leave ${g.name}? You can only come back with an invite.`, confirmLabel: 'Leave server' }))) return;
  try {
    await S.api.del(`/users/@me/guilds/${g.id}`);
    S.store.apply('GUILD_DELETE', { id: g.id });
  } catch (e) {
    toast(`Could not leave: ${e.message}`, { kind: 'error' });
  }
}

async function deleteGuild(g) {
  if (!(await confirmDialog({ title: `Delete ${g.name}`, text: `Delete ${g.name} with all its channels and messages? This cannot be undone.`, confirmLabel: 'Delete server' }))) return;
  try {
    await S.api.del(`/guilds/${g.id}`);
    S.store.apply('GUILD_DELETE', { id: g.id });
  } catch (e) {
    toast(`Could not delete the server: ${e.message}`, { kind: 'error' });
  }
}

function statusMenu(anchor) {
  const cur = S.store.status(S.store.me.id);
  popupMenu(anchor, [
    ...STATUSES.map((s) => ({ label: STATUS_LABEL[s], id: `status-${s}`, checked: cur === s, dot: s === 'invisible' ? 'offline' : s, onSelect: () => setStatus(s) })),
    { label: 'Log out', id: 'menu-logout', danger: true, onSelect: logout },
  ], { label: 'Set status' });
}

function setStatus(status) {
  localStorage.setItem(STATUS_KEY, status);
  S.store.presences.set(S.store.me.id, status);
  if (S.gateway) S.gateway.setPresence(status);
  schedule('user', 'members');
}

// ------------------------------------------------------------------ invites

async function invitePreview(code) {
  const api = S.api || makeApi();
  return api.get(`/invites/${encodeURIComponent(code)}`, { auth: false });
}

function inviteCard(inv, { actions }) {
  const g = inv.guild || {};
  return h('section', { class: 'auth-card invite-card', 'aria-labelledby': 'invite-title' },
    h('div', { class: 'brand' }, h('img', { src: '/favicon.svg', alt: '', width: 40, height: 40 }), h('span', null, 'Parley')),
    h('p', { class: 'muted' }, inv.inviter ? `${inv.inviter.global_name || inv.inviter.username} invited you to join` : 'You have been invited to join'),
    h('h1', { id: 'invite-title' }, g.name || 'a server'),
    inv.channel ? h('p', { class: 'muted' }, `#${inv.channel.name}`) : null,
    actions);
}

async function renderInvite(code) {
  S.shell = null;
  if (S.chat) S.chat.unmount();
  document.title = 'Invite — Parley';
  replace(root, h('main', { class: 'auth-screen' }, h('section', { class: 'auth-card' }, h('p', null, 'Loading the invite…'))));
  let inv;
  try {
    inv = await invitePreview(code);
  } catch (e) {
    if (parseRoute().name !== 'invite') return;
    replace(root, h('main', { class: 'auth-screen' }, h('section', { class: 'auth-card' },
      h('h1', null, 'Invite invalid'),
      h('p', null, e.status === 404 ? 'This invite may have expired, or you may not have permission to join.' : e.message),
      h('button', { type: 'button', class: 'btn btn-primary btn-block', onclick: () => navigate('/', { replace: true }) }, 'Continue to Parley'))));
    return;
  }
  if (parseRoute().name !== 'invite') return;
  const gid = inv.guild?.id;
  const member = gid && S.store.guilds.has(gid);
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const accept = h('button', { type: 'button', class: 'btn btn-primary btn-block', id: 'accept-invite', onclick: async () => {
    if (member) return navigate(`/channels/${gid}${inv.channel ? `/${inv.channel.id}` : ''}`, { replace: true });
    accept.disabled = true;
    accept.textContent = 'Joining…';
    try {
      await acceptInvite(code);
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
      accept.disabled = false;
      accept.textContent = 'Accept invite';
    }
  } }, member ? 'Open server' : 'Accept invite');
  replace(root, h('main', { class: 'auth-screen' }, inviteCard(inv, {
    actions: [
      member ? h('p', { class: 'muted' }, 'You are already a member.') : null,
      error,
      accept,
      h('button', { type: 'button', class: 'btn btn-ghost btn-block', onclick: () => navigate('/', { replace: true }) }, 'Not now'),
    ],
  })));
  accept.focus();
}

const previews = new Map(); // invite code → preview (or null), for the auth screen

async function renderInviteAuth(code, mode) {
  if (!previews.has(code)) {
    let inv = null;
    try {
      inv = await invitePreview(code);
    } catch {
      inv = null;
    }
    previews.set(code, inv);
    if (S.token || parseRoute().name !== 'invite') return;
  }
  const name = previews.get(code)?.guild?.name;
  document.title = 'Invite — Parley';
  renderAuth(root, {
    mode,
    note: S.authNote || (name ? `Log in or create an account to join ${name}.` : 'Log in or create an account to use this invite.'),
    submit: authenticate,
    switchMode: switchAuthMode,
  });
}

// ------------------------------------------------------------------ keyboard

document.addEventListener('keydown', (ev) => {
  if (ev.key === 'Escape' && S.shell && (S.shell.app.classList.contains('nav-open') || S.shell.app.classList.contains('members-open'))) {
    if (document.querySelector('dialog[open], .popup-menu')) return;
    closeDrawers();
    if (S.chat) S.chat.focusComposer();
  }
});

// ------------------------------------------------------------------ start

window.addEventListener('popstate', () => render());
window.addEventListener('offline', () => {
  if (S.gateway && S.gateway.state === 'reconnecting') onGatewayState('reconnecting');
});
window.addEventListener('storage', (ev) => {
  // logged out (or in) in another tab
  if (ev.key === TOKEN_KEY && ev.newValue !== S.token) location.reload();
});

const saved = localStorage.getItem(TOKEN_KEY);
document.documentElement.dataset.gateway = 'none';
if (saved) startSession(saved);
render();
