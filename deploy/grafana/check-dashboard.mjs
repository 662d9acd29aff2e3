#!/usr/bin/env node
// Checks deploy/grafana/parley.json (run by deploy/check.sh):
//  - it parses as JSON, schemaVersion 38, every panel and query variable uses
//    the ${DS_PROMETHEUS} data source;
//  - every PromQL expression (panel targets and label_values() variables)
//    names only metrics that Parley exports, and only PromQL functions;
//  - every parley_* / process_* name mentioned anywhere in deploy/ (rules,
//    tests' comments, annotations, README) is one of those metrics.
// Usage: node deploy/grafana/check-dashboard.mjs   (exit 1 on any problem)
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const deployDir = join(here, '..');

// What GET /metrics exports. Histograms also have _bucket, _sum and _count.
const COUNTERS_AND_GAUGES = [
  'parley_gateway_connections', 'parley_gateway_sessions', 'parley_http_connections_open',
  'parley_connections_accepted_total', 'parley_gateway_identifies_total',
  'parley_gateway_resumes_total', 'parley_gateway_closes_total',
  'parley_gateway_slow_consumers_total', 'parley_gateway_connections_refused_total',
  'parley_gateway_dispatches_total', 'parley_gateway_payload_bytes_total',
  'parley_gateway_wire_bytes_total', 'parley_messages_posted_total',
  'parley_messages_persisted_total', 'parley_messages_failed_total',
  'parley_store_write_queue_depth', 'parley_http_requests_total', 'parley_http_rate_limited_total',
  'process_resident_memory_bytes', 'process_open_fds', 'process_max_fds',
  'process_cpu_seconds_total', 'process_start_time_seconds', 'parley_memory_limit_bytes',
  'parley_uptime_seconds', 'parley_build_info',
  // cluster mode (docs/cluster.md)
  'parley_cluster_applied_position', 'parley_cluster_log_entries_total',
  'parley_cluster_log_entries_unread_total', 'parley_cluster_log_read_errors_total',
  'parley_cluster_apply_delay_seconds', 'parley_cluster_bus_up', 'parley_cluster_bus_silent_seconds',
  'parley_cluster_bus_dropped_total', 'parley_cluster_refusal_syncs_total',
];
const HISTOGRAMS = [
  'parley_delivery_latency_seconds', 'parley_store_commit_batches',
  'parley_store_commit_seconds', 'parley_http_request_seconds',
];
const METRICS = new Set(COUNTERS_AND_GAUGES);
for (const h of HISTOGRAMS) for (const s of ['_bucket', '_sum', '_count']) METRICS.add(h + s);

const FUNCTIONS = new Set([
  'sum', 'min', 'max', 'avg', 'count', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile',
  'count_values', 'group', 'rate', 'irate', 'increase', 'delta', 'idelta', 'deriv',
  'histogram_quantile', 'clamp_min', 'clamp_max', 'clamp', 'abs', 'round', 'ceil', 'floor',
  'time', 'timestamp', 'vector', 'scalar', 'label_replace', 'label_join', 'absent',
  'avg_over_time', 'max_over_time', 'min_over_time', 'sum_over_time', 'count_over_time',
  'changes', 'resets',
]);
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

const problems = [];
const fail = (msg) => problems.push(msg);

// Names used as metrics in one PromQL expression.
function metricsIn(expr, where) {
  let e = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""'); // strings
  e = e.replace(/\{[^{}]*\}/g, ' ');                                           // matchers
  e = e.replace(/\[[^\]]*\]/g, ' ');                                           // ranges
  e = e.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  e = e.replace(/\b(group_left|group_right)\b/g, ' ');
  e = e.replace(/\$\{?\w+\}?/g, ' ');                                          // $vars
  const found = [];
  for (const m of e.matchAll(/(?<![\w.])([A-Za-z_:][\w:]*)(\s*\()?/g)) {
    const [, name, call] = m;
    if (call) {
      if (!FUNCTIONS.has(name)) fail(`${where}: unknown function ${name}() in: ${expr}`);
    } else if (!KEYWORDS.has(name.toLowerCase())) {
      found.push(name);
    }
  }
  if (found.length === 0) fail(`${where}: no metric in: ${expr}`);
  for (const n of found) if (!METRICS.has(n)) fail(`${where}: unknown metric ${n} in: ${expr}`);
}

const file = join(here, 'parley.json');
let dash;
try {
  dash = JSON.parse(readFileSync(file, 'utf8'));
} catch (e) {
  console.error(`${file}: not valid JSON: ${e.message}`);
  process.exit(1);
}
if (dash.schemaVersion !== 38) fail(`schemaVersion is ${dash.schemaVersion}, want 38`);
const DS = '${DS_PROMETHEUS}';
const vars = dash.templating?.list ?? [];
if (!vars.some((v) => v.name === 'DS_PROMETHEUS' && v.type === 'datasource' && v.query === 'prometheus'))
  fail('no datasource variable DS_PROMETHEUS of type prometheus');

let exprs = 0;
const ids = new Set();
const flat = [];
for (const p of dash.panels ?? []) {
  flat.push(p);
  for (const q of p.panels ?? []) flat.push(q);
}
for (const p of flat) {
  const where = `panel ${p.id} "${p.title}"`;
  if (ids.has(p.id)) fail(`${where}: duplicate id`);
  ids.add(p.id);
  if (p.type === 'row') continue;
  if (p.datasource?.uid !== DS) fail(`${where}: datasource is not ${DS}`);
  if (!p.targets?.length) fail(`${where}: no targets`);
  for (const t of p.targets ?? []) {
    if (t.datasource?.uid !== DS) fail(`${where} ${t.refId}: datasource is not ${DS}`);
    metricsIn(t.expr ?? '', `${where} ${t.refId}`);
    exprs++;
  }
}
for (const v of vars) {
  if (v.type !== 'query') continue;
  if (v.datasource?.uid !== DS) fail(`variable ${v.name}: datasource is not ${DS}`);
  const q = typeof v.query === 'string' ? v.query : v.query?.query ?? '';
  const m = q.match(/^label_values\((.*),\s*\w+\)$/);
  if (!m) fail(`variable ${v.name}: expected label_values(<expr>, <label>), got ${q}`);
  else metricsIn(m[1], `variable ${v.name}`);
  exprs++;
}

// Any parley_*/process_* name written anywhere under deploy/ (a histogram's
// own name is fine in prose).
function walk(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}
for (const f of walk(deployDir)) {
  if (f.endsWith('check-dashboard.mjs')) continue;
  const text = readFileSync(f, 'utf8');
  for (const m of text.matchAll(/(?<![\w:/.-])((?:parley|process)_[a-z0-9_]+)/g))
    if (!METRICS.has(m[1]) && !HISTOGRAMS.includes(m[1])) fail(`${relative(deployDir, f)}: unknown metric name ${m[1]}`);
}

if (problems.length) {
  for (const p of problems) console.error(p);
  console.error(`check-dashboard: ${problems.length} problem(s)`);
  process.exit(1);
}
console.log(`check-dashboard: ${flat.length} panels, ${exprs} expressions, all metric names known`);
