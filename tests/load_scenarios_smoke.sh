#!/usr/bin/env bash
# parley-load's storm, writes and history scenarios, tiny, against the real
# server: each must finish with exit 0 (storm: every session resumed and no
# message lost; writes: every post acknowledged and found; history: every
# page a 200 with a JSON array). Usage: tests/load_scenarios_smoke.sh PARLEY PARLEY_LOAD
set -euo pipefail
parley=$1
load=$2
work=$(mktemp -d)
# Port 0: the server binds a free port itself and prints it ("Parley is
# listening on http://127.0.0.1:PORT"), so no other test can be given it.
"$parley" serve --listen 127.0.0.1:0 --data "$work/data" --password-cost min \
  --ratelimit-global 0 --ratelimit-scale 1000000 --max-connections-per-ip 0 --log-level warn \
  >"$work/stdout" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
port=""
for i in $(seq 300); do
  port=$(sed -n 's|^Parley is listening on http://[^:]*:\([0-9]*\)$|\1|p' "$work/stdout")
  [ -n "$port" ] && break
  kill -0 $server 2>/dev/null || break
  sleep 0.1
done
if [ -z "$port" ]; then
  echo "load_scenarios_smoke: parley serve did not report its port within 30 s" >&2
  cat "$work/stdout" >&2
  exit 1
fi
url=http://127.0.0.1:$port
common=(--url "$url" --no-record --timeout-s 240)
echo "== storm"
"$load" storm --receivers 200 --users 20 --rate 20 --duration 4 --drop-at-s 1.5 --drain-s 10 "${common[@]}"
echo "== writes"
"$load" writes --clients 8 --channels 2 --duration 3 --warmup-s 1 "${common[@]}"
echo "== history"
"$load" history --messages 2000 --conns 4 --duration 2 --warmup-s 0.5 "${common[@]}"
echo "load scenarios: ok"
