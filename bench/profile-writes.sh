#!/usr/bin/env bash
# Profiles the server during bench/rest.sh-style writes: perf record for 8 s
# of a 14 s wrk run with 64 clients, then prints the split by thread, by
# binary, and the top symbols. Needs: perf (linux-perf), wrk, a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
D=$(mktemp -d); PORT=${PORT:-18700}; API=http://127.0.0.1:$PORT/api/v10
build/release/parley serve --listen 127.0.0.1:$PORT --data "$D" --password-cost min \
  --ratelimit-global 0 --ratelimit-scale 1000000 --log-level warn & PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$D"' EXIT
sleep 0.5
json() { node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>console.log(eval('JSON.parse(s)'+process.argv[1])))" "$1"; }
TOKEN=$(curl -sf $API/auth/register -H 'Content-Type: application/json' \
  -d '{"username":"bench","password":"benchmark-password"}' | json .token)
C=$(curl -sf $API/guilds -H "Authorization: $TOKEN" -H 'Content-Type: application/json' \
  -d '{"name":"bench"}' | json '.channels[0].id')
(PARLEY_TOKEN=$TOKEN PARLEY_CHANNELS=$C wrk -t1 -c64 -d14s -s bench/wrk/post_messages.lua \
  http://127.0.0.1:$PORT | grep RESULT) &
sleep 3
perf record -F 999 -g -p $PID -o "$D/perf.data" -- sleep 8 2>/dev/null
wait %2 || true
perf report -i "$D/perf.data" --no-children --sort comm -g none 2>/dev/null | grep '%' | head
perf report -i "$D/perf.data" --no-children --sort dso -g none 2>/dev/null | grep '%' | head
perf report -i "$D/perf.data" --no-children --sort sym -g none 2>/dev/null | grep '%' | head -30
