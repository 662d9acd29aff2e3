#!/usr/bin/env bash
# REST benchmarks of issue "Parley foundation", run on this machine:
#   bench/rest.sh writes   [CLIENTS=64] [CHANNELS=8] [DURATION=20]
#   bench/rest.sh history  [MESSAGES=10000000] [DURATION=15]
#   bench/rest.sh history-load [MESSAGES=10000000] [DURATION=15] [CONNS=16]
#   bench/rest.sh startup  [MEMBERS=1000000]
#   STORE=postgres bench/rest.sh cluster-writes [NODES=2] [REDIS=1] [CLIENTS=64] [DURATION=20]
# writes:  acknowledged POST /channels/{id}/messages per second from CLIENTS
#          keep-alive connections (wrk, one thread, open on the same box),
#          then checks the store holds at least as many messages as were acked.
# history: fills one channel with MESSAGES messages (parley fill), then pages
#          it with limit=50 at random anchors in before/after/around modes.
# history-load: the same store, paged by parley-load's history scenario
#          (build/release/parley-load) instead of wrk.
# cluster-writes: NODES `parley serve --cluster` nodes on one PostgreSQL
#          database, CLIENTS split over them (one wrk per node, at once);
#          acknowledged posts/s summed, stored >= acked, every node applied
#          the whole log, and the log's entries and bytes per entry;
#          REDIS=1: with a throw-away redis-server as the bus (--redis).
# startup: MEMBERS users in one guild (parley fill --members), then the time
#          from `parley serve` to its port answering, and its load line.
# STORE=postgres runs the same on PostgreSQL 15: on the server PARLEY_BENCH_PG
# names (a URL whose user may CREATE DATABASE; a database is made for the
# run and dropped after it), or else on a throw-away cluster of its own
# (scripts/pg-cluster.sh, loopback, fsync on, synchronous_commit on).
# REPLICA=1 (with the throw-away cluster): history reads go to its streaming
# replica (--store-replica), after the replica has replayed the fill.
# SERVE_FLAGS: more flags for `parley serve` (e.g. "--cluster --node-id 1",
# a one-node cluster: every commit also writes the log of commits).
# Needs: scripts/build.sh release, wrk (apt-get install wrk), node.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:?usage: bench/rest.sh writes|history}
BIN=${PARLEY_BIN:-build/release/parley}
PORT=${PORT:-18600}
DATA=$(mktemp -d /tmp/parley-bench.XXXXXX)
API=http://127.0.0.1:$PORT/api/v10
SERVER_PID=
STORE=${STORE:-sqlite}
PG_CLUSTER=
PG_DB=
cleanup() {
  [ -n "$SERVER_PID" ] && kill $SERVER_PID 2>/dev/null
  if [ -n "$PG_DB" ]; then
    wait $SERVER_PID 2>/dev/null || true
    psql "$PG_ADMIN" -qAtc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  [ -n "$PG_CLUSTER" ] && scripts/pg-cluster.sh stop "$PG_CLUSTER" >/dev/null 2>&1
  rm -rf "$DATA"
}
trap cleanup EXIT
case "$STORE" in
  sqlite) STORE_URL="sqlite:$DATA/parley.db" ;;
  postgres)
    chmod 755 "$DATA"
    if [ -n "${PARLEY_BENCH_PG:-}" ]; then
      PG_ADMIN=$PARLEY_BENCH_PG
    else
      PG_CLUSTER=$DATA/pg
      PG_ENV=$(scripts/pg-cluster.sh start "$PG_CLUSTER" 2>/dev/null)
      PG_ADMIN=$(echo "$PG_ENV" | sed -n 's/^PARLEY_TEST_PG=//p')
      PG_REPLICA_ADMIN=$(echo "$PG_ENV" | sed -n 's/^PARLEY_TEST_PG_REPLICA=//p')
    fi
    PG_DB=parley_bench_$$
    psql "$PG_ADMIN" -qAtc "CREATE DATABASE $PG_DB" >/dev/null
    STORE_URL=$(node -e 'const u=new URL(process.argv[1]);u.pathname="/"+process.argv[2];console.log(u.toString())' "$PG_ADMIN" "$PG_DB")
    if [ "${REPLICA:-0}" = 1 ]; then
      [ -n "${PG_REPLICA_ADMIN:-}" ] || { echo "REPLICA=1 needs the throw-away cluster" >&2; exit 2; }
      REPLICA_URL=$(node -e 'const u=new URL(process.argv[1]);u.pathname="/"+process.argv[2];console.log(u.toString())' "$PG_REPLICA_ADMIN" "$PG_DB")
    fi
    ;;
  *) echo "STORE must be sqlite or postgres" >&2; exit 2 ;;
esac
# A query on the store (for counts and id ranges).
store_sql() {
  if [ "$STORE" = postgres ]; then psql "$STORE_URL" -qAtc "$1"; else sqlite3 "$DATA/parley.db" "$1"; fi
}
store_bytes() {
  if [ "$STORE" = postgres ]; then
    psql "$STORE_URL" -qAtc "SELECT pg_database_size(current_database())"
  else
    stat -c %s "$DATA/parley.db"
  fi
}
[ "$mode" = history-load ] || command -v wrk >/dev/null || {
  echo "wrk missing: apt-get install wrk" >&2
  exit 1
}

start_server() {
  "$BIN" serve --listen 127.0.0.1:$PORT --data "$DATA" --store "$STORE_URL" \
    ${REPLICA_URL:+--store-replica "$REPLICA_URL"} --password-cost min \
    --ratelimit-global 0 --ratelimit-scale 1000000 --log-level "${LOG_LEVEL:-warn}" --sync "${SYNC:-full}" ${SERVE_FLAGS:-} >"$DATA/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do curl -s -o /dev/null "$API/users/@me" && return 0; sleep 0.1; done
  echo "server did not start" >&2; cat "$DATA/server.log" >&2; exit 1
}
stop_server() { kill -TERM $SERVER_PID; wait $SERVER_PID || true; SERVER_PID=; }
json() { node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>console.log(eval('JSON.parse(s)'+process.argv[1])))" "$1"; }
post() { curl -sf -X POST "$API$1" -H "Authorization: $TOKEN" -H 'Content-Type: application/json' -d "$2"; }

setup_guild() {
  local reg
  reg=$(curl -sf "$API/auth/register" -H 'Content-Type: application/json' \
    -d '{"username":"bench","password":"benchmark-password"}')
  TOKEN=$(echo "$reg" | json .token)
  USER_ID=$(echo "$reg" | json .user.id)
  local guild
  guild=$(post /guilds '{"name":"bench guild"}')
  GUILD_ID=$(echo "$guild" | json .id)
  CHANNELS=$(echo "$guild" | json '.channels[0].id')
}

echo "# $(date -u +%FT%TZ) $(git rev-parse --short HEAD) $(nproc) cores, $(uname -r), store $STORE"
case "$mode" in
  writes)
    CLIENTS=${CLIENTS:-64}; NCHAN=${CHANNELS_N:-8}; SECONDS_=${DURATION:-20}
    start_server; setup_guild
    for _ in $(seq 2 "$NCHAN"); do
      CHANNELS="$CHANNELS,$(post /guilds/$GUILD_ID/channels '{"name":"bench"}' | json .id)"
    done
    echo "writes: $CLIENTS keep-alive clients, $NCHAN channels, ${SECONDS_}s (wrk -t1)"
    PARLEY_TOKEN=$TOKEN PARLEY_CHANNELS=$CHANNELS \
      wrk -t1 -c"$CLIENTS" -d"${SECONDS_}s" -s bench/wrk/post_messages.lua "http://127.0.0.1:$PORT" |
      tee "$DATA/wrk.out" | grep -E "RESULT|Socket errors|Requests/sec"
    stop_server
    acked=$(sed -n 's/.*acked=\([0-9]*\).*/\1/p' "$DATA/wrk.out")
    stored=$(store_sql "SELECT COUNT(*) FROM messages")
    echo "stored=$stored acked=$acked"
    [ "$stored" -ge "$acked" ] || { echo "LOST MESSAGES" >&2; exit 1; }
    ;;
  cluster-writes)
    [ "$STORE" = postgres ] || { echo "cluster-writes needs STORE=postgres" >&2; exit 2; }
    NODES=${NODES:-2}; CLIENTS=${CLIENTS:-64}; NCHAN=${CHANNELS_N:-8}; SECONDS_=${DURATION:-20}
    BUS=()
    if [ "${REDIS:-0}" = 1 ]; then
      REDIS_PORT=$((PORT + 100))
      redis-server --port $REDIS_PORT --bind 127.0.0.1 --save "" --appendonly no --dir "$DATA" \
        >"$DATA/redis.log" 2>&1 &
      REDIS_PID=$!
      for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$REDIS_PORT) 2>/dev/null && break; sleep 0.05; done
      BUS=(--redis "redis://127.0.0.1:$REDIS_PORT")
    fi
    SERVE_FLAGS="--cluster --node-id 1 ${BUS[*]}" start_server
    NODE_PIDS=("$SERVER_PID")
    for n in $(seq 2 "$NODES"); do
      "$BIN" serve --listen 127.0.0.1:$((PORT + n - 1)) --data "$DATA/node$n" --store "$STORE_URL" \
        --password-cost min --ratelimit-global 0 --ratelimit-scale 1000000 \
        --log-level "${LOG_LEVEL:-warn}" --cluster --node-id "$n" "${BUS[@]}" >"$DATA/server$n.log" 2>&1 &
      NODE_PIDS+=($!)
    done
    for n in $(seq 2 "$NODES"); do
      for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$((PORT + n - 1))/api/v10/users/@me" && break
        sleep 0.1
      done
    done
    setup_guild
    for _ in $(seq 2 "$NCHAN"); do
      CHANNELS="$CHANNELS,$(post /guilds/$GUILD_ID/channels '{"name":"bench"}' | json .id)"
    done
    echo "cluster-writes: $NODES nodes, $CLIENTS keep-alive clients split over them, $NCHAN channels, ${SECONDS_}s"
    WRK_PIDS=()
    for n in $(seq 1 "$NODES"); do
      PARLEY_TOKEN=$TOKEN PARLEY_CHANNELS=$CHANNELS \
        wrk -t1 -c$((CLIENTS / NODES)) -d"${SECONDS_}s" -s bench/wrk/post_messages.lua \
        "http://127.0.0.1:$((PORT + n - 1))" >"$DATA/wrk$n.out" &
      WRK_PIDS+=($!)
    done
    wait "${WRK_PIDS[@]}"
    acked=0
    for n in $(seq 1 "$NODES"); do
      grep RESULT "$DATA/wrk$n.out" | sed "s/^/node $n: /"
      acked=$((acked + $(sed -n 's/.*acked=\([0-9]*\).*/\1/p' "$DATA/wrk$n.out")))
    done
    echo "RESULT cluster acked=$acked acked_per_s=$((acked / SECONDS_))"
    head=$(store_sql "SELECT position FROM parley_commit_head")
    for n in $(seq 1 "$NODES"); do
      applied=0
      for _ in $(seq 100); do
        applied=$(curl -s "http://127.0.0.1:$((PORT + n - 1))/api/v10/admin/status" \
          -H "Authorization: $TOKEN" | json .cluster.applied_position)
        [ "$applied" = "$head" ] && break
        sleep 0.1
      done
      echo "node $n applied $applied of $head: $(curl -s "http://127.0.0.1:$((PORT + n - 1))/api/v10/admin/status" \
        -H "Authorization: $TOKEN" | json '.cluster' | tr -d '\n' | tr -s ' ')"
      [ "$applied" = "$head" ] || { echo "NODE $n BEHIND THE LOG" >&2; exit 1; }
      # Commits that claimed their ids at once, or minted again under the
      # lock (another node minted above): docs/cluster.md "Ids in commit order".
      echo "node $n id commits: $(curl -s "http://127.0.0.1:$((PORT + n - 1))/metrics" |
        sed -n 's/^parley_cluster_id_commits_total{path="\([a-z]*\)"} \([0-9]*\).*/\1 \2/p' | paste -sd' ')"
    done
    for pid in "${NODE_PIDS[@]}"; do kill -TERM "$pid"; wait "$pid" || true; done
    [ -n "${REDIS_PID:-}" ] && { kill "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null || true; }
    SERVER_PID=
    echo "log: $(store_sql "SELECT count(*) || ' entries, ' || round(avg(octet_length(batches))) || ' bytes per entry, ' || round(sum(octet_length(batches)) / greatest(1, (SELECT count(*) FROM messages))) || ' bytes per message' FROM parley_log")"
    stored=$(store_sql "SELECT COUNT(*) FROM messages")
    echo "stored=$stored acked=$acked"
    [ "$stored" -ge "$acked" ] || { echo "LOST MESSAGES" >&2; exit 1; }
    ;;
  history)
    MESSAGES=${MESSAGES:-10000000}; SECONDS_=${DURATION:-15}
    start_server; setup_guild; stop_server
    "$BIN" fill --store "$STORE_URL" --channel "$CHANNELS" --author "$USER_ID" --count "$MESSAGES"
    echo "db bytes: $(store_bytes)"
    MIN_ID=$(store_sql "SELECT MIN(id) FROM messages WHERE channel_id=$CHANNELS")
    MAX_ID=$(store_sql "SELECT MAX(id) FROM messages WHERE channel_id=$CHANNELS")
    start_server
    # Warm-up (excluded): one short pass to load the index pages into cache.
    PARLEY_TOKEN=$TOKEN PARLEY_CHANNEL=$CHANNELS PARLEY_MIN_ID=$MIN_ID PARLEY_MAX_ID=$MAX_ID \
      wrk -t1 -c16 -d5s -s bench/wrk/history.lua "http://127.0.0.1:$PORT" >/dev/null
    for m in before after around; do
      PARLEY_MODE=$m PARLEY_TOKEN=$TOKEN PARLEY_CHANNEL=$CHANNELS PARLEY_MIN_ID=$MIN_ID PARLEY_MAX_ID=$MAX_ID \
        wrk -t1 -c"${CONNS:-16}" -d"${SECONDS_}s" -s bench/wrk/history.lua "http://127.0.0.1:$PORT" | grep RESULT
    done
    stop_server
    ;;
  history-load)
    MESSAGES=${MESSAGES:-10000000}; SECONDS_=${DURATION:-15}
    start_server; setup_guild; stop_server
    "$BIN" fill --store "$STORE_URL" --channel "$CHANNELS" --author "$USER_ID" --count "$MESSAGES"
    echo "db bytes: $(store_bytes)"
    if [ -n "${REPLICA_URL:-}" ]; then
      want=$(store_sql "SELECT count(*) FROM messages")
      for _ in $(seq 600); do
        [ "$(psql "$REPLICA_URL" -qAtc "SELECT count(*) FROM messages" 2>/dev/null)" = "$want" ] && break
        sleep 1
      done
      echo "replica caught up: $(psql "$REPLICA_URL" -qAtc "SELECT count(*) FROM messages") messages"
    fi
    start_server
    "${LOAD_BIN:-build/release/parley-load}" history --channel "$CHANNELS" --token "$TOKEN" \
      --messages "$MESSAGES" --conns "${CONNS:-16}" --duration "$SECONDS_" --warmup-s 5 \
      --url "http://127.0.0.1:$PORT" --pid "$SERVER_PID"
    if [ -n "${REPLICA_URL:-}" ]; then
      curl -s "http://127.0.0.1:$PORT/metrics" | grep -E "^parley_store_replica" || true
    fi
    stop_server
    ;;
  startup)
    MEMBERS=${MEMBERS:-1000000}
    start_server; setup_guild; stop_server
    "$BIN" fill --store "$STORE_URL" --channel "$CHANNELS" --author "$USER_ID" --count 0 \
      --members "$MEMBERS" --batch 20000
    echo "db bytes: $(store_bytes)"
    t0=$(date +%s.%N)
    LOG_LEVEL=info start_server
    t1=$(date +%s.%N)
    echo "startup: $MEMBERS members, serve to first answer $(echo "$t1 - $t0" | bc) s"
    grep -o "store .* loaded in .*" "$DATA/server.log" || true
    echo "rss after start: $(awk '/VmRSS/{print $2, $3}' /proc/$SERVER_PID/status)"
    stop_server
    ;;
  *) echo "usage: bench/rest.sh writes|cluster-writes|history|history-load|startup" >&2; exit 2 ;;
esac
