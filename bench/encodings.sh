#!/usr/bin/env bash
# Gateway payload encodings x transport compression, side by side in one run
# (issue "Every major Discord bot library works unmodified", bench/RESULTS.md
# "Encodings"):
#
#   bench/encodings.sh [RECEIVERS=1000] [RATE=50] [DURATION=10] [PASSES=2]
#
# One release server (SQLite in a temp directory). For each pass and each of
# json, etf, msgpack x none, zlib-stream, zstd-stream (the order reversed on
# every other pass, so that drift on this shared machine falls on every
# combination alike), `parley-load fanout` opens RECEIVERS sessions in that
# encoding and compression (intents 513, discord.js's heartbeat timing; each
# session decodes every payload in full, as erlpack or a MessagePack decoder
# does), posts RATE messages/s over REST for DURATION s (2 s warm-up
# excluded) and counts every delivery. Reported per combination: bytes per
# MESSAGE_CREATE on the wire (frame header included) and as payload
# (decompressed), the server's CPU per delivery (server cores busy / deliveries
# per second), p99 latency, loss; ratios against json with no compression.
# Needs: scripts/build.sh release. Reports: bench/results/encodings/<UTC>.json
# and a Markdown table on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
K=${RECEIVERS:-1000}
RATE=${RATE:-50}
DURATION=${DURATION:-10}
PASSES=${PASSES:-2}
BIN=$root/build/release/parley
LOAD=$root/build/release/parley-load
for b in "$BIN" "$LOAD"; do
  [ -x "$b" ] || { echo "missing $b: scripts/build.sh release" >&2; exit 2; }
done
work=$(mktemp -d /tmp/parley-encodings.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN" serve --listen "127.0.0.1:$port" --data "$work/data" --password-cost min \
  --ratelimit-global 0 --ratelimit-scale 1000000 --log-level warn >"$work/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$port/api/v10/gateway" >/dev/null 2>&1 && break
  sleep 0.1
done

combos=()
for e in json etf msgpack; do
  for c in none zlib-stream zstd-stream; do combos+=("$e/$c"); done
done
runs=$work/runs.jsonl
: >"$runs"
for pass in $(seq "$PASSES"); do
  order=("${combos[@]}")
  if ((pass % 2 == 0)); then
    order=()
    for ((i = ${#combos[@]} - 1; i >= 0; i--)); do order+=("${combos[i]}"); done
  fi
  for combo in "${order[@]}"; do
    e=${combo%/*}
    c=${combo#*/}
    args=(fanout --receivers "$K" --rate "$RATE" --duration "$DURATION" --procs 2
          --url "http://127.0.0.1:$port" --pid "$pid" --encoding "$e" --p99-ms 1000
          --json --no-record)
    [ "$c" = none ] || args+=(--compress "$c")
    echo "pass $pass: $e, $c" >&2
    "$LOAD" "${args[@]}" | tail -n 1 >>"$runs"
  done
done

mkdir -p bench/results/encodings
out=bench/results/encodings/$(date -u +%Y%m%dT%H%M%SZ).json
node - "$runs" "$out" "$K" "$RATE" "$DURATION" <<'EOF'
const fs = require('fs');
const [runsFile, out, K, rate, duration] = process.argv.slice(2);
const runs = fs.readFileSync(runsFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const rows = new Map();
for (const r of runs) {
  const key = `${r.encoding}/${r.compress}`;
  const step = r.results.steps[0];
  if (!rows.has(key)) rows.set(key, []);
  rows.get(key).push({
    wire: step.message_create_bytes.wire_avg, payload: step.message_create_bytes.payload_avg,
    cpu_us: step.server_cpu_us_per_delivery, p99_ms: step.latency.p99_ms,
    loss: step.loss_on_open_sessions + step.loss_on_dropped_sessions, deliveries_s: step.deliveries_per_s,
  });
}
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const table = [];
for (const [key, rs] of rows) {
  const [encoding, compress] = key.split('/');
  table.push({ encoding, compress, passes: rs.length, wire_bytes: median(rs.map((x) => x.wire)),
    payload_bytes: median(rs.map((x) => x.payload)), cpu_us_per_delivery: median(rs.map((x) => x.cpu_us)),
    cpu_us_each_pass: rs.map((x) => x.cpu_us), p99_ms: median(rs.map((x) => x.p99_ms)),
    loss: rs.reduce((a, x) => a + x.loss, 0), deliveries_s: median(rs.map((x) => x.deliveries_s)) });
}
const base = table.find((t) => t.encoding === 'json' && t.compress === 'none');
fs.writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), receivers: +K, rate_msgs_per_s: +rate,
  duration_s: +duration, commit: runs[0].commit, machine: runs[0].machine, command: runs[0].command, table, runs }, null, 1));
console.log(`K = ${K} receivers, ${rate} messages/s for ${duration} s; medians of ${table[0].passes} passes; ratios against json, no compression`);
console.log('');
console.log('| encoding | compression | bytes/MESSAGE_CREATE on the wire | payload bytes | server CPU µs/delivery | p99 ms | loss |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
const f1 = (x) => x.toFixed(1), f2 = (x) => x.toFixed(2);
for (const t of table) {
  console.log(`| ${t.encoding} | ${t.compress} | ${f1(t.wire_bytes)} (${f2(t.wire_bytes / base.wire_bytes)}×) | ${f1(t.payload_bytes)} | ` +
    `${f2(t.cpu_us_per_delivery)} (${f2(t.cpu_us_per_delivery / base.cpu_us_per_delivery)}×; passes ${t.cpu_us_each_pass.map(f2).join(', ')}) | ${f1(t.p99_ms)} | ${t.loss} |`);
}
console.log(`\nrecorded in ${out}`);
EOF
