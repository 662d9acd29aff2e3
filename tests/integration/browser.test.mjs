// The browser client (web/) end to end, in headless Chromium: two users in
// two browser contexts register, create a guild and an invite, join through
// the invite link, chat live (optimistic send, edit, delete, typing,
// presence, markdown, HTML shown as text), survive a network cut (resume)
// and a longer one (the session expires: identify again and refetch), load
// history by scrolling up, and see the composer's limits and failure modes.
// Screenshots of the main screens go to a fresh temp directory (printed,
// removed when the file passes unless PARLEY_TEST_KEEP_DATA is set);
// PARLEY_SCREENSHOTS=docs/screenshots refreshes the repository's own. (The
// suite may run twice at once, on SQLite and on PostgreSQL, and must not
// write into the source tree by default.)
//
// Needs Debian's `chromium` (/usr/bin/chromium) and playwright-core (npm ci);
// skipped, with a message, only when /usr/bin/chromium is absent.
//
// The network cut: context.setOffline(true) alone does not close an open
// WebSocket in Chromium (its frames are only held back until the context is
// online again), so user B's page reaches the server through a TCP proxy
// (lib/browser.mjs CuttableProxy) that the test cuts: every connection is
// reset (B's WebSocket closes with 1006, as when a network drops) and new
// ones are refused, while setOffline(true) makes B's browser itself offline
// (fetch and new WebSockets fail at once). Both are undone to restore it.
// A third drop is silent: the proxy stops carrying B's open connection
// without closing it, and only the missing heartbeat ACK (server started
// with --heartbeat-interval-ms 4000) tells the client to reconnect.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import fs from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { startServer, FAST_FLAGS, request, sleep } from './lib/server.mjs';
import { chromiumMissing, launchChromium, watchPage, CuttableProxy, recordGateway } from './lib/browser.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(here, '../..');
const WEB_ROOT = path.join(REPO, 'web');
const SHOTS = process.env.PARLEY_SCREENSHOTS
  ? path.resolve(REPO, process.env.PARLEY_SCREENSHOTS)
  : fs.mkdtempSync(path.join(os.tmpdir(), 'parley-browser-shots-'));
// The temp directory goes when the file passes (as the servers' data
// directories do), unless PARLEY_TEST_KEEP_DATA is set.
process.on('exit', (code) => {
  if (process.env.PARLEY_SCREENSHOTS || process.env.PARLEY_TEST_KEEP_DATA || code || process.exitCode) return;
  fs.rmSync(SHOTS, { recursive: true, force: true });
});
const WAIT = 20_000; // longest single wait
const PASSWORD = 'correct horse battery staple';
// The resume window is short so that the second, longer cut outlives it;
// heartbeats come often enough that a silent drop shows within seconds.
const RESUME_WINDOW_MS = 6000;
const HEARTBEAT_MS = 4000;

const missing = chromiumMissing();
if (missing) console.log(`# browser.test.mjs skipped: ${missing}`);
else console.log(`# browser.test.mjs screenshots: ${SHOTS} (kept if the file fails)`);

let srv;
let proxy;
let browser;
let ctxA;
let ctxB;
let pageA;
let pageB;
let watchA;
let watchB;
let framesB; // B's gateway frames, per WebSocket
const names = { a: 'alice', b: 'bob' }; // each run has a fresh server
const state = {};

before(async () => {
  if (missing) return;
  srv = await startServer({
    extraArgs: [...FAST_FLAGS, '--web-root', WEB_ROOT, '--resume-window-ms', String(RESUME_WINDOW_MS), '--heartbeat-interval-ms', String(HEARTBEAT_MS)],
  });
  proxy = await new CuttableProxy(srv.port).start();
  browser = await launchChromium();
  const opts = { viewport: { width: 1280, height: 800 }, colorScheme: 'dark', reducedMotion: 'reduce', locale: 'en-US', timezoneId: 'UTC' };
  ctxA = await browser.newContext(opts);
  await ctxA.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: srv.origin });
  ctxB = await browser.newContext(opts);
  for (const c of [ctxA, ctxB]) c.setDefaultTimeout(WAIT);
  pageA = await ctxA.newPage();
  pageB = await ctxB.newPage();
  watchA = watchPage(pageA, 'A');
  watchB = watchPage(pageB, 'B');
  framesB = recordGateway(pageB);
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  if (proxy) await proxy.stop().catch(() => {});
  if (srv) await srv.stopAndAssertClean();
});

// ------------------------------------------------------------------ helpers

let failureShots = 0; // the screenshot of a failed wait: parley-browser-<pid>-<n>.png
/** Poll fn(arg) in the page until it returns a truthy value (≤ 20 s). */
async function until(page, fn, arg, what, timeout = WAIT) {
  try {
    const h = await page.waitForFunction(fn, arg, { timeout, polling: 100 });
    return await h.jsonValue();
  } catch (e) {
    const banner = await page.locator('#banner').textContent().catch(() => '?');
    const gw = await page.evaluate(() => ({ ...document.documentElement.dataset })).catch(() => ({}));
    const file = path.join(os.tmpdir(), `parley-browser-${process.pid}-${++failureShots}.png`);
    await page.screenshot({ path: file }).catch(() => {});
    throw new Error(`${what}: not within ${timeout} ms (${e.message.split('\n')[0]}); page ${page.url()} banner "${banner}" gateway ${JSON.stringify(gw)}; screenshot ${file}`);
  }
}

/** The text contents of the message rows shown (confirmed ones: li.msg[data-id]). */
function messageTexts(page) {
  return page.$$eval('#messages li.msg[data-id] .msg-content', (els) => els.map((e) => e.textContent));
}

async function waitMessage(page, text, what) {
  return until(page, (t) => [...document.querySelectorAll('#messages li.msg[data-id] .msg-content')].some((e) => e.textContent.startsWith(t)), text, `${what}: message "${text}"`);
}

/** How many confirmed rows show exactly this text (edits marked "(edited)" aside). */
async function countMessage(page, text) {
  const texts = await messageTexts(page);
  return texts.filter((t) => t.replace(/ \(edited\)$/, '') === text).length;
}

async function send(page, text) {
  const box = page.locator('#composer-input');
  await box.click();
  await box.fill(text);
  await box.press('Enter');
}

async function shot(page, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, name) });
}

async function register(page, origin, name) {
  await page.goto(`${origin}/`);
  await page.locator('a', { hasText: 'Register' }).click();
  await page.locator('#auth-username').fill(name);
  await page.locator('#auth-password').fill(PASSWORD);
  await page.locator('button[type=submit]').click();
}

function assertQuiet(w) {
  assert.deepEqual(w.pageErrors, [], `${w.label}: uncaught errors in the page`);
  assert.deepEqual(w.cspViolations, [], `${w.label}: Content-Security-Policy violations`);
  assert.deepEqual(w.dialogs, [], `${w.label}: JS dialogs (alert/confirm) were opened`);
}

// ------------------------------------------------------------------ the scenario

test('browser client: two users chat end to end', { skip: missing || false, timeout: 280_000 }, async (t) => {
  // Steps build on each other: after a failure the rest are skipped.
  let failed = null;
  const step = (name, fn) =>
    t.test(name, { skip: failed ? `after the failure of "${failed}"` : false }, async () => {
      try {
        await fn();
      } catch (e) {
        failed = name;
        throw e;
      }
    });
  await step('the server serves the client', async () => {
    const index = await fetch(`${srv.origin}/channels/1/2`);
    assert.equal(index.status, 200, 'client routes serve index.html');
    assert.match(index.headers.get('content-type') || '', /text\/html/);
    assert.match(index.headers.get('content-security-policy') || '', /script-src 'self'/, 'index.html has a CSP');
    const html = await index.text();
    assert.match(html, /<script type="module" src="\/app\.js">/);
    assert.doesNotMatch(html, /<script>|<script type="module">|\sstyle=|\son[a-z]+=/i, 'no inline script, style or handler in index.html');
    const js = await fetch(`${srv.origin}/app.js`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type') || '', /javascript/);
  });

  await step('A registers; the login screen and the empty app', async () => {
    await pageA.goto(`${srv.origin}/`);
    await pageA.waitForURL(/\/login$/);
    await pageA.locator('#auth-username').waitFor();
    await shot(pageA, 'login.png');
    // a wrong login shows the server's error
    await pageA.locator('#auth-username').fill(names.a);
    await pageA.locator('#auth-password').fill('not the password');
    await pageA.locator('button[type=submit]').click();
    await until(pageA, () => document.querySelector('#auth-error:not([hidden])')?.textContent, null, 'login error shown');
    await register(pageA, srv.origin, names.a);
    await pageA.locator('#empty-create').waitFor();
    const token = await pageA.evaluate(() => localStorage.getItem('parley.token'));
    assert.ok(token, 'the token is kept in localStorage');
    state.tokenA = token;
  });

  await step('A creates a guild and an invite link, and copies it', async () => {
    await pageA.locator('#empty-create').click();
    const input = pageA.locator('dialog input[type=text]');
    await input.fill('Parley fans');
    await pageA.locator('dialog button[type=submit]').click();
    await pageA.waitForURL(/\/channels\/\d+\/\d+$/);
    await until(pageA, () => document.querySelector('#chat-title')?.textContent === 'general', null, 'A sees #general');
    const [, guildId, channelId] = new URL(pageA.url()).pathname.match(/^\/channels\/(\d+)\/(\d+)$/);
    Object.assign(state, { guildId, channelId });
    await pageA.locator('#invite-people').click();
    const link = await pageA.locator('#invite-link').inputValue();
    assert.match(link, new RegExp(`^${srv.origin}/invite/[A-Za-z0-9_-]+$`), `invite link: ${link}`);
    await pageA.locator('#copy-invite').click();
    await until(pageA, () => document.querySelector('#copy-invite')?.textContent === 'Copied', null, 'copy button says Copied');
    assert.equal(await pageA.evaluate(() => navigator.clipboard.readText()), link, 'the link is on the clipboard');
    await pageA.keyboard.press('Escape');
    await pageA.locator('dialog').waitFor({ state: 'detached' });
    state.invitePath = new URL(link).pathname;
  });

  await step('B opens the invite link, registers and joins', async () => {
    // B reaches the server through the proxy (same server, another port)
    await pageB.goto(`${proxy.origin}${state.invitePath}`);
    await until(pageB, () => /Parley fans/.test(document.querySelector('.auth-note')?.textContent || ''), null, 'invite named on the auth screen');
    await pageB.locator('a', { hasText: 'Register' }).click();
    await pageB.locator('#auth-username').fill(names.b);
    await pageB.locator('#auth-password').fill(PASSWORD);
    await pageB.locator('button[type=submit]').click();
    await until(pageB, () => document.querySelector('#invite-title')?.textContent === 'Parley fans', null, 'invite card');
    await pageB.locator('#accept-invite').click();
    await pageB.waitForURL(new RegExp(`/channels/${state.guildId}/${state.channelId}$`));
    await until(pageB, () => document.querySelector('#chat-title')?.textContent === 'general', null, 'B sees #general');
  });

  await step('member lists and presence: each sees the other online', async () => {
    const online = (name) => [...document.querySelectorAll('#members .member')].some((m) => m.textContent.includes(name) && m.dataset.status === 'online');
    await until(pageB, online, names.a, 'B sees A online (GUILD_CREATE presences)');
    await until(pageA, online, names.b, 'A sees B join and come online (GUILD_MEMBER_ADD + PRESENCE_UPDATE)');
  });

  await step('B joins a second guild by pasting an invite code, then switches back', async () => {
    const A = srv.client(state.tokenA);
    const g2 = (await A.post('/guilds', { name: 'Side room' })).json;
    const ch2 = (await A.get(`/guilds/${g2.id}/channels`)).json[0];
    const inv = (await A.post(`/channels/${ch2.id}/invites`, {})).json;
    await pageB.locator('#add-guild').click();
    await pageB.locator('#choose-join').click();
    await pageB.locator('dialog input[type=text]').fill(`  ${inv.code} `);
    await pageB.locator('dialog button[type=submit]').click();
    await pageB.waitForURL(new RegExp(`/channels/${g2.id}/${ch2.id}$`));
    await until(pageB, () => document.querySelectorAll('.guild-list a.guild-btn').length === 2, null, 'two guilds in B\'s rail');
    await pageB.locator(`.guild-list a[data-guild-id="${state.guildId}"]`).click();
    await pageB.waitForURL(new RegExp(`/channels/${state.guildId}/${state.channelId}$`));
    await until(pageB, () => document.querySelector('#chat-title')?.textContent === 'general', null, 'B back in #general');
  });

  await step('messages: optimistic, live on the other side, exactly once', async () => {
    await send(pageA, 'hello from alice');
    // shown at once as pending or confirmed
    await until(pageA, () => [...document.querySelectorAll('#messages li.msg .msg-content')].some((e) => e.textContent === 'hello from alice'), null, 'A sees its message');
    await waitMessage(pageB, 'hello from alice', 'B live');
    await send(pageB, 'hi alice');
    await waitMessage(pageA, 'hi alice', 'A live');
    // Shift+Enter makes a new line, Enter sends
    const box = pageB.locator('#composer-input');
    await box.click();
    await box.type('line one');
    await box.press('Shift+Enter');
    await box.type('line two');
    assert.equal(await box.inputValue(), 'line one\nline two', 'Shift+Enter adds a line');
    await box.press('Enter');
    await waitMessage(pageA, 'line one\nline two', 'multi-line message');
    await until(pageA, () => !document.querySelector('#messages li.msg.pending'), null, 'no pending row left on A');
    await until(pageB, () => !document.querySelector('#messages li.msg.pending'), null, 'no pending row left on B');
    for (const [p, who] of [[pageA, 'A'], [pageB, 'B']]) {
      assert.equal(await countMessage(p, 'hello from alice'), 1, `${who}: "hello from alice" once`);
      assert.equal(await countMessage(p, 'hi alice'), 1, `${who}: "hi alice" once`);
    }
    // grouped by author: B's two messages in a row share one header
    const grouped = await pageA.$$eval('#messages li.msg[data-id]', (rows) => rows.map((r) => r.classList.contains('group-start')));
    assert.deepEqual(grouped, [true, true, false], 'A: author headers (grouping)');
    const times = await pageA.$$eval('#messages li.msg.group-start .msg-head time', (ts) => ts.map((t) => t.getAttribute('datetime')));
    assert.ok(times.length === 2 && times.every((t) => !Number.isNaN(Date.parse(t))), `timestamps: ${times}`);
  });

  await step('markdown, links, and HTML shown as text', async () => {
    const evil = '<img src=x onerror=alert(1)>';
    await send(pageA, `**bold** _it_ \`code\` ${evil} https://example.com/x javascript:alert(2)`);
    await waitMessage(pageB, 'bold it code', 'B sees the markdown message');
    const info = await pageB.evaluate(() => {
      const rows = [...document.querySelectorAll('#messages li.msg[data-id]')];
      const c = rows[rows.length - 1].querySelector('.msg-content');
      const a = c.querySelector('a');
      return {
        text: c.textContent,
        strong: c.querySelector('strong')?.textContent,
        em: c.querySelector('em')?.textContent,
        code: c.querySelector('code')?.textContent,
        imgs: document.querySelectorAll('#messages img').length,
        links: c.querySelectorAll('a').length,
        href: a?.getAttribute('href'),
        rel: a?.getAttribute('rel'),
        target: a?.getAttribute('target'),
      };
    });
    assert.ok(info.text.includes('<img src=x onerror=alert(1)>'), `HTML shown as text: ${info.text}`);
    assert.equal(info.imgs, 0, 'no <img> element from message content');
    assert.equal(info.strong, 'bold');
    assert.equal(info.em, 'it');
    assert.equal(info.code, 'code');
    assert.equal(info.links, 1, 'only the http(s) URL is a link');
    assert.equal(info.href, 'https://example.com/x');
    assert.equal(info.rel, 'noopener noreferrer');
    assert.equal(info.target, '_blank');
    // the markdown module on its own (loaded by the page, as the app does)
    const cases = await pageB.evaluate(async () => {
      const md = await import('/js/markdown.js');
      const { inviteCode } = await import('/js/invite.js');
      const html = (s) => {
        const d = document.createElement('div');
        d.appendChild(md.render(s));
        return d.innerHTML;
      };
      return {
        block: html('```js\nlet a = "<b>";\n```'),
        nested: html('**bold *and italic***'),
        snake: html('snake_case_name'),
        link: html('see https://en.wikipedia.org/wiki/Foo_(bar).'),
        js: html('[x](javascript:alert(1))'),
        code1: inviteCode('http://h:1/invite/AbC_12'),
        code2: inviteCode('  AbC_12 '),
      };
    });
    assert.equal(cases.block, '<pre class="md-codeblock"><code data-lang="js">let a = "&lt;b&gt;";</code></pre>');
    assert.equal(cases.nested, '<strong>bold <em>and italic</em></strong>');
    assert.equal(cases.snake, 'snake_case_name');
    assert.equal(cases.link, 'see <a href="https://en.wikipedia.org/wiki/Foo_(bar)" target="_blank" rel="noopener noreferrer">https://en.wikipedia.org/wiki/Foo_(bar)</a>.');
    assert.equal(cases.js, '[x](javascript:alert(1))');
    assert.equal(cases.code1, 'AbC_12');
    assert.equal(cases.code2, 'AbC_12');
  });

  await step('client modules: message window dedupe, nonce matching, reconcile; permissions', async () => {
    const r = await pageB.evaluate(async () => {
      const { MessageList } = await import('/js/messages.js');
      const { channelPermissions, PERM } = await import('/js/permissions.js');
      const msg = (id, content = `m${id}`, extra = {}) => ({ id: String(id), content, author: { id: '7' }, edited_timestamp: null, ...extra });
      const ids = (l) => l.msgs.map((m) => m.id).join(',');
      const out = {};
      const l = new MessageList('c');
      l.setLatest([msg(105), msg(104), msg(103)], 3);
      out.latest = [ids(l), l.hasOlder];
      out.dupe = [l.upsert(msg(104)), l.upsert(msg(106)), l.upsert(msg(106)), ids(l)];
      // a send: the MESSAGE_CREATE (no nonce) comes before the REST reply (with it)
      l.addPending({ nonce: 'n1', content: 'hey', state: 'sending' });
      l.addPending({ nonce: 'n2', content: 'hey', state: 'sending' });
      const viaGateway = l.confirm(msg(107, 'hey'), '7');
      l.upsert(msg(107, 'hey'));
      const viaRest = l.confirm(msg(107, 'hey', { nonce: 'n1' }), '7');
      l.upsert(msg(107, 'hey', { nonce: 'n1' }));
      out.pending = [viaGateway && viaGateway.nonce, viaRest, l.pending.map((p) => p.nonce).join(','), ids(l)];
      // the REST reply first this time, then the MESSAGE_CREATE
      const rest2 = l.confirm(msg(108, 'hey', { nonce: 'n2' }), '7');
      const gw2 = l.confirm(msg(108, 'hey'), '7');
      out.pending2 = [rest2 && rest2.nonce, gw2, l.pending.length];
      // after a re-identify: 105 was deleted meanwhile, 109 and 110 are new
      l.reconcileLatest([msg(110), msg(109), msg(107, 'hey'), msg(106), msg(104)], 5);
      out.reconciled = ids(l);
      // a page that does not reach back: the old window is dropped
      l.reconcileLatest([msg(200), msg(199)], 2);
      out.gap = [ids(l), l.hasOlder];
      // permissions: @everyone, role allow, channel overwrites (role deny, member allow)
      const guild = { id: '1', owner_id: '9', roles: [{ id: '1', permissions: String(PERM.VIEW_CHANNEL | PERM.SEND_MESSAGES) }, { id: '2', permissions: String(PERM.MANAGE_MESSAGES) }] };
      const member = { roles: ['2'] };
      const ch = { permission_overwrites: [{ id: '2', type: 0, allow: '0', deny: String(PERM.SEND_MESSAGES) }, { id: '5', type: 1, allow: String(PERM.SEND_MESSAGES), deny: '0' }] };
      const p5 = channelPermissions(guild, ch, '5', member);
      const p6 = channelPermissions(guild, ch, '6', member);
      out.perms = [!!(p5 & PERM.SEND_MESSAGES), !!(p6 & PERM.SEND_MESSAGES), !!(p6 & PERM.MANAGE_MESSAGES), channelPermissions(guild, ch, '9', null) === (1n << 64n) - 1n];
      return out;
    });
    assert.deepEqual(r.latest, ['103,104,105', true]);
    assert.deepEqual(r.dupe, [true, true, true, '103,104,105,106'], 'a message id is shown once');
    assert.deepEqual(r.pending, ['n1', null, 'n2', '103,104,105,106,107'], 'MESSAGE_CREATE first: matched by content, the reply adds nothing');
    assert.deepEqual(r.pending2, ['n2', null, 0], 'reply first: matched by nonce, the MESSAGE_CREATE adds nothing');
    assert.equal(r.reconciled, '103,104,106,107,109,110', 'deleted 105 gone, 109/110 added, older kept');
    assert.deepEqual(r.gap, ['199,200', true]);
    assert.deepEqual(r.perms, [true, false, true, true]);
  });

  await step('typing indicator', async () => {
    await pageB.locator('#composer-input').click();
    await pageB.locator('#composer-input').type('I am typ');
    await until(pageA, (n) => (document.querySelector('#typing')?.textContent || '') === `${n} is typing…`, names.b, 'A sees "bob is typing…"');
    await pageB.locator('#composer-input').fill('');
  });

  await step('edit and delete show up on the other side', async () => {
    await send(pageA, 'a typo here');
    await waitMessage(pageB, 'a typo here', 'B sees the message to edit');
    await until(pageA, () => !document.querySelector('#messages li.msg.pending'), null, 'A: sent');
    // Up in the empty composer edits the last own message
    await pageA.locator('#composer-input').press('ArrowUp');
    const edit = pageA.locator('#messages textarea.edit-input');
    await edit.waitFor();
    await edit.fill('no typo here');
    await edit.press('Enter');
    await until(pageB, () => [...document.querySelectorAll('#messages li.msg[data-id] .msg-content')].some((e) => e.textContent === 'no typo here (edited)'), null, 'B sees the edit with "(edited)"');
    assert.equal(await countMessage(pageB, 'a typo here'), 0);
    // delete through the row's button and the confirmation dialog
    const row = pageA.locator('#messages li.msg[data-id]', { hasText: 'no typo here' });
    await row.hover();
    await row.locator('button[data-action=delete]').click();
    await pageA.locator('dialog button[type=submit]').click();
    await until(pageB, () => ![...document.querySelectorAll('#messages .msg-content')].some((e) => e.textContent.startsWith('no typo here')), null, 'B sees the delete');
    await until(pageA, () => ![...document.querySelectorAll('#messages .msg-content')].some((e) => e.textContent.startsWith('no typo here')), null, 'A sees the delete');
    // B may not edit or delete A's messages (no MANAGE_MESSAGES), only its own
    const actions = await pageB.$$eval('#messages li.msg[data-id]', (rows) => rows.map((r) => ({
      edit: !!r.querySelector('[data-action=edit]'),
      del: !!r.querySelector('[data-action=delete]'),
    })));
    assert.ok(actions.some((a) => a.edit && a.del), 'B can edit and delete its own messages');
    assert.ok(!actions.some((a) => a.del && !a.edit), 'B has no delete button on A\'s messages');
  });

  await step('presence change: A sets Do Not Disturb', async () => {
    await pageA.locator('#status-button').click();
    await pageA.locator('#status-dnd').click();
    await until(pageA, () => document.querySelector('#my-status')?.textContent === 'Do Not Disturb', null, 'A shows its own status');
    await until(pageB, (n) => [...document.querySelectorAll('#members .member')].some((m) => m.textContent.includes(n) && m.dataset.status === 'dnd'), names.a, 'B sees A as dnd');
    await shot(pageA, 'chat.png');
  });

  await step('network cut: B resumes, messages sent meanwhile appear once', async () => {
    const before = await pageB.evaluate(() => ({ ...document.documentElement.dataset }));
    assert.equal(before.gateway, 'connected');
    await ctxB.setOffline(true);
    proxy.cut();
    await until(pageB, () => /Reconnecting…/.test(document.querySelector('#banner:not([hidden])')?.textContent || ''), null, 'B shows the reconnecting banner');
    await shot(pageB, 'reconnecting.png');
    for (const n of [1, 2, 3]) await send(pageA, `during the cut ${n}`);
    await waitMessage(pageA, 'during the cut 3', 'A sent');
    await sleep(1500);
    proxy.restore();
    await ctxB.setOffline(false);
    await until(pageB, () => document.documentElement.dataset.gateway === 'connected', null, 'B connected again');
    for (const n of [1, 2, 3]) await waitMessage(pageB, `during the cut ${n}`, 'B after the resume');
    await until(pageB, () => document.querySelector('#banner').hidden, null, 'banner gone');
    const afterCut = await pageB.evaluate(() => ({ ...document.documentElement.dataset }));
    assert.equal(Number(afterCut.gatewayResumed), Number(before.gatewayResumed) + 1, `B resumed (${JSON.stringify(afterCut)})`);
    assert.equal(afterCut.gatewayReady, before.gatewayReady, 'B did not identify again');
    for (const n of [1, 2, 3]) assert.equal(await countMessage(pageB, `during the cut ${n}`), 1, `"during the cut ${n}" once`);
    await send(pageB, 'back online');
    await waitMessage(pageA, 'back online', 'A sees B after the cut');
  });

  await step('silent drop: no heartbeat ACK, B reconnects and resumes', async () => {
    const before = await pageB.evaluate(() => ({ ...document.documentElement.dataset }));
    const sockets = framesB.length;
    proxy.freeze(); // B's socket stays open but nothing passes any more
    await send(pageA, 'while frozen');
    await waitMessage(pageA, 'while frozen', 'A sent');
    // at most two heartbeat intervals, then a new connection that resumes
    await until(pageB, (n) => Number(document.documentElement.dataset.gatewayResumed) > n, Number(before.gatewayResumed), 'B resumed after missing heartbeat ACKs');
    await waitMessage(pageB, 'while frozen', 'B after the silent drop');
    assert.equal(await countMessage(pageB, 'while frozen'), 1);
    assert.ok(framesB.length > sockets, 'B opened a new WebSocket');
    const after = await pageB.evaluate(() => ({ ...document.documentElement.dataset }));
    assert.equal(after.gatewayReady, before.gatewayReady, 'B did not identify again');
    proxy.thaw();
  });

  await step('long cut: the session expires, B identifies again and refetches', async () => {
    const before = await pageB.evaluate(() => ({ ...document.documentElement.dataset }));
    await ctxB.setOffline(true);
    proxy.cut();
    await until(pageB, () => document.documentElement.dataset.gateway === 'reconnecting', null, 'B reconnecting');
    await send(pageA, 'missed while away 1');
    await send(pageA, 'missed while away 2');
    await waitMessage(pageA, 'missed while away 2', 'A sent');
    // outlive the resume window: the server forgets B's session
    await sleep(RESUME_WINDOW_MS + 2500);
    proxy.restore();
    await ctxB.setOffline(false);
    await until(pageB, (n) => Number(document.documentElement.dataset.gatewayReady) > n, Number(before.gatewayReady), 'B identified again (new READY)');
    await until(pageB, () => document.documentElement.dataset.gateway === 'connected', null, 'B connected');
    await waitMessage(pageB, 'missed while away 1', 'B refetched the channel');
    await waitMessage(pageB, 'missed while away 2', 'B refetched the channel');
    for (const text of ['missed while away 1', 'missed while away 2', 'during the cut 1', 'hello from alice', 'back online']) {
      assert.equal(await countMessage(pageB, text), 1, `"${text}" once after the re-identify`);
    }
    // and live events flow on the new session
    await send(pageA, 'after the new session');
    await waitMessage(pageB, 'after the new session', 'B live on the new session');
  });

  await step('B\'s gateway frames: heartbeats with the last seq, resumes with session_id and seq', () => {
    // sockets that got through (attempts while offline never open)
    const all = framesB.filter((w) => /[?&]v=10\b/.test(w.url) && w.received.length);
    assert.ok(all.length >= 4, `B used ${all.length} gateway sockets (first, cut, silent drop, long cut at least)`);
    const received = all.flatMap((w) => w.received).sort((x, y) => x.n - y.n);
    // seqs start again with each session: none after op 9, 1 with READY
    const resets = received.filter((r) => r.p && (r.p.t === 'READY' || r.p.op === 9)).map((r) => r.n);
    // the highest s received before event n (and, if given, no later than time t)
    const maxSeqAt = (n, t = Infinity) => {
      const since = Math.max(0, ...resets.filter((r) => r <= n));
      return received.filter((r) => r.n <= n && r.n >= since && r.t <= t && r.p && r.p.s != null).reduce((m, r) => Math.max(m, r.p.s), -1);
    };
    let beats = 0;
    let resumes = 0;
    for (const w of all) {
      assert.equal(w.received[0]?.p?.op, 10, 'Hello first on every socket');
      for (const { t, n, p } of w.sent) {
        if (p.op === 1) {
          beats++;
          const newest = maxSeqAt(n);
          const settled = Math.min(newest, maxSeqAt(n, t - 1000));
          const d = p.d === null ? -1 : p.d;
          assert.ok(d <= newest && d >= settled, `heartbeat d=${p.d}: last seq received was ${newest} (${settled} a second before)`);
        } else if (p.op === 6) {
          resumes++;
          assert.equal(typeof p.d.token, 'string');
          assert.match(p.d.session_id, /\S/);
          const trace = () => all.flatMap((x, i) => [...x.sent.map((f) => ({ ...f, dir: `${i}>` })), ...x.received.map((f) => ({ ...f, dir: `${i}<` }))])
            .filter((f) => f.t >= t - 3000 && f.t <= t + 500).sort((x, y) => x.n - y.n)
            .map((f) => `#${f.n} ${f.t - t}ms ${f.dir} op${f.p?.op}${f.p?.t ? ' ' + f.p.t : ''}${f.p?.s != null ? ' s' + f.p.s : ''}`).join('\n');
          assert.equal(p.d.seq, maxSeqAt(n), `resume seq = the last seq received; frames around it:\n${trace()}`);
        }
      }
    }
    const summary = all.map((w) => `${w.sent.map((f) => f.p.op).join(',')} [${w.received.length} in, ${((w.received.at(-1).t - w.received[0].t) / 1000).toFixed(1)} s]`).join(' | ');
    assert.ok(beats >= 1, `heartbeats sent: ${beats}: ${summary}`);
    assert.ok(resumes >= 3, `resumes sent: ${resumes}`);
    // the long cut: op 6 → op 9 → op 2 on that same socket
    const invalid = all.find((w) => w.received.some((r) => r.p && r.p.op === 9));
    assert.ok(invalid, 'a resume was refused with op 9');
    const ops = invalid.sent.map((f) => f.p.op).filter((op) => op !== 1);
    assert.deepEqual(ops.slice(0, 2), [6, 2], 'resume, then identify again after op 9');
  });

  await step('channels: create, rename; history pages on scrolling up; jump to present', async () => {
    await pageA.locator('#create-channel').click();
    await pageA.locator('dialog input[type=text]').fill('History Lane');
    await pageA.locator('dialog button[type=submit]').click();
    await until(pageA, () => document.querySelector('#chat-title')?.textContent === 'history-lane', null, 'A in the new channel');
    const channelId = new URL(pageA.url()).pathname.split('/').pop();
    // rename through the channel's gear menu
    await pageA.locator(`.channel:has(a[data-channel-id="${channelId}"]) .channel-gear`).click();
    await pageA.locator('#rename-channel').click();
    await pageA.locator('dialog input[type=text]').fill('history');
    await pageA.locator('dialog button[type=submit]').click();
    await until(pageA, () => document.querySelector('#chat-title')?.textContent === 'history', null, 'renamed');
    await until(pageB, (id) => document.querySelector(`a[data-channel-id="${id}"]`)?.textContent.includes('history'), channelId, 'B sees the channel (CHANNEL_CREATE/UPDATE)');
    // B cannot manage channels (@everyone has no MANAGE_CHANNELS)
    assert.equal(await pageB.locator('#create-channel').count(), 0, 'B has no create-channel button');
    // 130 messages through the API
    const A = srv.client(state.tokenA);
    for (let i = 1; i <= 130; i++) {
      const r = await A.post(`/channels/${channelId}/messages`, { content: `history ${i}` });
      assert.equal(r.status, 200, r.text);
    }
    await pageB.locator(`a[data-channel-id="${channelId}"]`).click();
    await waitMessage(pageB, 'history 130', 'B sees the latest page');
    const first = await messageTexts(pageB);
    assert.equal(first.length, 50, 'the latest page: 50 messages');
    assert.equal(first[first.length - 1], 'history 130');
    // scroll up until the start of the channel
    for (let i = 0; i < 10; i++) {
      const done = await pageB.evaluate(() => !!document.querySelector('#messages .history-start'));
      if (done) break;
      await pageB.locator('#messages').evaluate((el) => (el.scrollTop = 0));
      await sleep(300);
    }
    await until(pageB, () => !!document.querySelector('#messages .history-start'), null, 'start of the channel reached');
    const all = await messageTexts(pageB);
    assert.deepEqual(all, Array.from({ length: 130 }, (_, i) => `history ${i + 1}`), 'every message once, in order');
    await until(pageB, () => !document.querySelector('.jump-present').hidden, null, '"Jump to present" offered');
    await pageB.locator('.jump-present').click();
    await until(pageB, () => {
      const s = document.querySelector('#messages');
      return s.scrollHeight - s.scrollTop - s.clientHeight < 5;
    }, null, 'scrolled to the present');
    await send(pageA, 'history 131');
    await waitMessage(pageB, 'history 131', 'live at the bottom');
    state.historyChannel = channelId;
  });

  await step('composer limits: 2000 characters, 429 waits Retry-After, failures retry', async () => {
    const box = pageB.locator('#composer-input');
    await box.fill('x'.repeat(2001));
    await until(pageB, () => document.querySelector('#char-counter')?.textContent === '2001 / 2000' && document.querySelector('#char-counter').classList.contains('over'), null, 'counter over the limit');
    await box.press('Enter');
    assert.equal(await box.inputValue(), 'x'.repeat(2001), 'an over-long message is not sent');
    await box.fill('');
    // The server answers 429 once: the message waits Retry-After, then goes.
    const seen = new Map(); // content → POSTs seen
    const route = `**/api/v10/channels/${state.historyChannel}/messages`;
    await pageB.route(route, async (r) => {
      if (r.request().method() !== 'POST') return r.continue();
      const { content } = JSON.parse(r.request().postData() || '{}');
      const n = (seen.get(content) || 0) + 1;
      seen.set(content, n);
      if (content === 'rate limited once' && n === 1) {
        return r.fulfill({ status: 429, headers: { 'Retry-After': '2', 'Content-Type': 'application/json' }, body: JSON.stringify({ message: 'You are being rate limited.', retry_after: 2, global: false }) });
      }
      if (content === 'refused once' && n === 1) {
        return r.fulfill({ status: 403, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ message: 'Missing Permissions', code: 50013 }) });
      }
      return r.continue();
    });
    const t0 = Date.now();
    await send(pageB, 'rate limited once');
    await until(pageB, () => /sending again/.test(document.querySelector('#messages li.msg.pending.waiting')?.textContent || ''), null, 'pending row waits');
    await waitMessage(pageB, 'rate limited once', 'sent after Retry-After');
    assert.ok(Date.now() - t0 >= 1900, 'waited Retry-After seconds');
    assert.equal(seen.get('rate limited once'), 2, 'sent again once after the 429');
    await waitMessage(pageA, 'rate limited once', 'A got it');
    // refused: marked failed, with Retry
    await send(pageB, 'refused once');
    const failed = pageB.locator('#messages li.msg.pending.failed', { hasText: 'refused once' });
    await failed.waitFor();
    assert.match(await failed.textContent(), /Missing Permissions/);
    await failed.locator('button[data-action=retry]').click();
    await waitMessage(pageB, 'refused once', 'sent on retry');
    await waitMessage(pageA, 'refused once', 'A got the retried message');
    await pageB.unroute(route);
    assert.equal(await countMessage(pageA, 'refused once'), 1);
    assert.equal(await countMessage(pageB, 'refused once'), 1);
  });

  await step('B reloads: still logged in; narrow screen; delete a channel; log out', async () => {
    await pageB.reload();
    await waitMessage(pageB, 'refused once', 'B after reload');
    assert.match(pageB.url(), new RegExp(`/channels/${state.guildId}/${state.historyChannel}$`));
    // a phone-sized screen: the channel list is a drawer
    await pageB.setViewportSize({ width: 390, height: 780 });
    await pageB.locator('#nav-toggle').waitFor({ state: 'visible' });
    assert.equal(await pageB.locator('#sidebar').isVisible(), false, 'channel list hidden on a phone');
    await pageB.locator('#nav-toggle').click();
    await pageB.locator(`#sidebar a[data-channel-id="${state.channelId}"]`).waitFor({ state: 'visible' });
    await shot(pageB, 'mobile-channels.png');
    await pageB.locator(`#sidebar a[data-channel-id="${state.channelId}"]`).click();
    await until(pageB, () => document.querySelector('#chat-title')?.textContent === 'general', null, 'back in #general on the phone');
    await waitMessage(pageB, 'after the new session', '#general on the phone');
    assert.equal(await pageB.locator('#sidebar').isVisible(), false, 'drawer closed after choosing');
    await shot(pageB, 'mobile-chat.png');
    await pageB.setViewportSize({ width: 1280, height: 800 });
    // A deletes the history channel: B, who is in #general, loses it from the list
    await pageA.locator(`.channel:has(a[data-channel-id="${state.historyChannel}"]) .channel-gear`).click();
    await pageA.locator('#delete-channel').click();
    await pageA.locator('dialog button[type=submit]').click();
    await until(pageB, (id) => !document.querySelector(`a[data-channel-id="${id}"]`), state.historyChannel, 'B sees the channel deleted');
    // B logs out: back to the login screen, token gone and revoked
    const tokenB = await pageB.evaluate(() => localStorage.getItem('parley.token'));
    await pageB.locator('#logout').click();
    await pageB.waitForURL(/\/login$/);
    assert.equal(await pageB.evaluate(() => localStorage.getItem('parley.token')), null);
    const me = await request(srv, 'GET', '/users/@me', { token: tokenB });
    assert.equal(me.status, 401, 'the token was revoked');
    await until(pageA, (n) => [...document.querySelectorAll('#members .member')].some((m) => m.textContent.includes(n) && m.dataset.status === 'offline'), names.b, 'A sees B go offline');
  });

  await t.test('no page errors, no CSP violations, no alert()', () => {
    assertQuiet(watchA);
    assertQuiet(watchB);
  });
});
