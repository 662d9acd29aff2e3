// The operator's status page: GET /admin/status with the token the web
// client keeps in localStorage (the admin must be logged in there).
const TOKEN_KEY = 'parley.token';

const GROUPS = [
  ['Connections', 'connections', {
    gateway_open: 'Gateway connections', sessions: 'Gateway sessions',
    http_open: 'HTTP connections', accepted: 'Accepted (total)' }],
  ['Gateway', 'gateway', {
    identifies: 'Identifies', resumes_ok: 'Resumes', resumes_failed: 'Failed resumes',
    slow_consumers: 'Slow consumers closed', dispatches: 'Dispatches' }],
  ['Messages', 'messages', { posted: 'Posted', persisted: 'Persisted', failed: 'Refused' }],
  ['Store', 'store', {
    write_queue: 'Write queue', commits: 'Commits', commit_p99_ms: 'Commit p99 (ms)',
    batches_per_commit_p50: 'Batches per commit (p50)' }],
  ['Delivery (commit → socket)', 'delivery', {
    dispatches: 'Timed dispatches', p50_ms: 'p50 (ms)', p95_ms: 'p95 (ms)', p99_ms: 'p99 (ms)' }],
  ['REST', 'rest', { requests: 'Requests', p50_ms: 'p50 (ms)', p99_ms: 'p99 (ms)' }],
  ['Process', 'process', {
    resident_bytes: 'Resident memory', memory_limit_bytes: 'Memory limit',
    open_fds: 'Open files', max_fds: 'File limit', cpu_seconds: 'CPU seconds' }],
];

function format(key, v) {
  if (typeof v !== 'number') return String(v ?? '–');
  if (key.endsWith('_bytes')) return `${(v / 1048576).toFixed(1)} MiB`;
  if (!Number.isInteger(v)) return v.toFixed(3);
  return v.toLocaleString('en');
}

function render(status) {
  const groups = document.getElementById('groups');
  groups.replaceChildren();
  for (const [title, key, fields] of GROUPS) {
    const data = status[key];
    if (!data) continue;
    const section = document.createElement('section');
    const h = document.createElement('h2');
    h.textContent = title;
    const dl = document.createElement('dl');
    for (const [field, label] of Object.entries(fields)) {
      const dt = document.createElement('dt');
      dt.textContent = label;
      const dd = document.createElement('dd');
      dd.textContent = format(field, data[field]);
      dl.append(dt, dd);
    }
    section.append(h, dl);
    groups.append(section);
  }
  document.getElementById('summary').textContent =
    `Version ${status.version} · ${status.users} users · ${status.guilds} guilds · ` +
    `updated ${new Date().toLocaleTimeString()}`;
}

async function refresh() {
  const error = document.getElementById('error');
  const token = localStorage.getItem(TOKEN_KEY);
  if (!token) {
    error.hidden = false;
    error.textContent = 'Log in as the admin in the web client first (this page uses its token).';
    return;
  }
  try {
    const res = await fetch('/admin/status', { headers: { Authorization: token, Accept: 'application/json' } });
    if (res.status === 401 || res.status === 403) {
      error.hidden = false;
      error.textContent = 'This account is not the server\'s admin (see --admin).';
      return;
    }
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    error.hidden = true;
    render(await res.json());
  } catch (e) {
    error.hidden = false;
    error.textContent = `Cannot read the status: ${e.message}`;
  }
}

refresh();
setInterval(refresh, 5000);
