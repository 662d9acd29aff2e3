#!/usr/bin/env bash
# Fan-out through a Parley cluster against one node, in one run
# (issue "Cluster mode", bench/RESULTS.md "Cluster fan-out"):
#
#   bench/cluster-fanout.sh [RECEIVERS=10000] [RATES=2,5,10,20,40]
#                           [DURATION=10] [P99_MS=250] [SETUPS="single cluster1 cluster3"]
#                           [SCENARIO=fanout|storm] [DROP_AT_S=4] [KILL_NODE=N]
#                           [CONCURRENCY=64] [LOG_LEVEL=warn]
#
# For each setup, `parley-load fanout` opens RECEIVERS gateway sessions (one
# guild, intents 513, discord.js's heartbeat timing), posts over REST at
# each rate of RATES for DURATION s (2 s warm-up excluded), and counts every
# delivery (loss, duplicates, order, latency per session). SCENARIO=storm
# runs `parley-load storm` instead at the first rate of RATES: DROP_AT_S
# into the step every session's TCP connection is reset at once and
# resumes (through nginx: on any node; the resumes that moved to another
# node are counted from each node's parley_cluster_takeovers_total); with
# KILL_NODE=N (cluster set-ups) node N is killed with -9 at DROP_AT_S
# instead, and only its sessions lose their connection and resume, as
# discord.js does (the killed node's CPU is then left out of the figure).
# CONCURRENCY: handshakes in flight per generator thread (every real client
# reconnects on its own: raise it to let all of them do so at once):
#   single    one `parley serve` on PostgreSQL (no --cluster), sessions and
#             posts straight to it;
#   cluster1  scripts/cluster.sh --nodes 1: one --cluster node with Redis,
#             behind nginx (the cost of cluster mode and of the proxy);
#   cluster3  scripts/cluster.sh --nodes 3: sessions spread over three nodes
#             by nginx's least_conn, posts to any node.
# Server CPU is summed over every server-side process (the nodes, nginx's
# workers, Redis, PostgreSQL's backends as of the start), and reported per
# process name; CPU per delivery = server cores / deliveries per second.
# Everything runs on this machine's cores, generator included: a cluster
# on one 2-core box cannot deliver more than one node; what it shows is
# what a node costs per delivery in cluster mode, and that K sessions over
# three processes (past one process's open-file limit) work.
# Needs: scripts/build.sh release; postgresql-15, redis-server, nginx.
# Reports: bench/results/cluster-fanout/<setup>-<UTC>.json.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
K=${RECEIVERS:-10000}
RATES=${RATES:-2,5,10,20,40}
DURATION=${DURATION:-10}
P99_MS=${P99_MS:-250}
SETUPS=${SETUPS:-single cluster1 cluster3}
SCENARIO=${SCENARIO:-fanout}
DROP_AT_S=${DROP_AT_S:-4}
case "$SCENARIO" in fanout | storm) ;; *) echo "SCENARIO is fanout or storm" >&2; exit 2 ;; esac
BIN=$root/build/release/parley
LOAD=$root/build/release/parley-load
OUT=$root/bench/results/cluster-fanout
[ -x "$BIN" ] && [ -x "$LOAD" ] || { echo "scripts/build.sh release first" >&2; exit 1; }
mkdir -p "$OUT"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
# Set-up cheap, limits out of the way: ordinary options, no special path.
# LOG_LEVEL=info also prints why resumes got op 9 (the nodes' log lines).
# --max-connections-per-ip 0: parley-load spreads its clients over 127.0.0.2, .3, ...
FLAGS=(--password-cost min --ratelimit-global 0 --ratelimit-scale 1000000 --max-connections-per-ip 0
  --log-level "${LOG_LEVEL:-warn}")
procs=$(((K + 4999) / 5000))

tmp=$(mktemp -d /tmp/parley-cfan.XXXXXX)
chmod 755 "$tmp"
started=()  # pids to stop on exit
pg_dir=""
cleanup() {
  for pid in "${started[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${started[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -n "$pg_dir" ] && scripts/pg-cluster.sh stop "$pg_dir" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

free_port() {
  perl -MIO::Socket::INET -e \
    '$s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Proto => "tcp", Listen => 1) or die; print $s->sockport, "\n";'
}
wait_port() {
  for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "nothing listens on $1" >&2
  exit 1
}
# A process and its children, comma-separated (nginx's workers,
# PostgreSQL's backends: those alive at the start of the load).
with_children() { [ -n "${1:-}" ] && { echo "$1"; pgrep -P "$1" || true; }; }
postgres_pids() { for d in "$@"; do [ -f "$d/postmaster.pid" ] && with_children "$(head -1 "$d/postmaster.pid")"; done; }
join() { tr -s ' \n' '\n\n' | grep -E '^[0-9]+$' | paste -sd, -; }

# The sum of a counter over the nodes' /metrics (ports given).
metric_sum() {
  local name=$1 total=0 v
  shift
  for p in "$@"; do
    v=$(curl -s "http://127.0.0.1:$p/metrics" | awk -v n="$name" '$1 == n { print $2 }')
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

run_storm() {  # SETUP URL PIDS [KILL_PID]
  local report=$OUT/storm-$1-$stamp.json rate=${RATES%%,*} kill=()
  [ -n "${4:-}" ] && { kill=(--kill-pid "$4"); report=$OUT/kill-$1-$stamp.json; }
  echo "== storm $1: $K sessions at $rate msgs/s, ${kill[*]:-reset} at ${DROP_AT_S}s of ${DURATION}s ($2)" >&2
  "$LOAD" storm --receivers "$K" --rate "$rate" --duration "$DURATION" --size 200 \
    --procs "$procs" --drop-at-s "$DROP_AT_S" --timeout-s 900 --url "$2" --pid "$3" \
    --concurrency "${CONCURRENCY:-64}" "${kill[@]}" --no-record --json >"$report" || true
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const st = r.results.storm, s = r.results.step;
    console.log(`storm ${process.argv[2]}: ${st.resumed}/${st.dropped} resumed in ${st.all_resumed_s} s ` +
      `(p50 ${st.resume_latency.p50_ms} ms, p99 ${st.resume_latency.p99_ms} ms), not resumed ` +
      `${JSON.stringify(st.not_resumed)}; messages: loss ${s.loss_on_open_sessions}, dups ${s.duplicates}, ` +
      `reorders ${s.reorders}, p99 ${s.latency.p99_ms} ms; server ${s.server_cpu_cores} cores; ok ${r.ok}`);
  ' "$report" "$1"
}

run_load() {  # SETUP URL PIDS [KILL_PID]
  [ "$SCENARIO" = storm ] && { run_storm "$@"; return; }
  local report=$OUT/$1-$stamp.json
  echo "== $1: $K receivers at $RATES msgs/s, ${DURATION}s steps ($2)" >&2
  "$LOAD" fanout --receivers "$K" --rate "$RATES" --duration "$DURATION" --size 200 \
    --procs "$procs" --p99-ms "$P99_MS" --keep-going --timeout-s 900 --url "$2" --pid "$3" \
    --no-record --json >"$report"
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const res = r.results;
    console.log(`${process.argv[2]}: ready ${res.receivers.ready}/${res.receivers.requested}, ` +
      `knee ${res.knee_rate_msgs_per_s ?? "none"} msgs/s (p99 <= ${res.p99_limit_ms} ms), ok ${r.ok}`);
    for (const s of res.steps) {
      const cores = s.server_cpu_cores;
      const us = s.deliveries_per_s > 0 ? (cores * 1e6 / s.deliveries_per_s).toFixed(2) : "-";
      const by = Object.entries(s.server_breakdown.cores_by_thread || {})
        .sort((a, b) => b[1] - a[1]).slice(0, 6).map(([k, v]) => `${k} ${+v.toFixed(3)}`).join(", ");
      console.log(`  ${s.rate_msgs_per_s} msgs/s: ${s.deliveries_per_s} deliveries/s, ` +
        `p50 ${s.latency.p50_ms} ms, p99 ${s.latency.p99_ms} ms, loss ${s.loss_on_open_sessions}, ` +
        `dups ${s.duplicates}, reorders ${s.reorders}, server ${cores} cores = ${us} us/delivery ` +
        `[${by}], generator ${s.generator_cpu.share_of_usable_cores}`);
    }' "$report" "$1"
}

for setup in $SETUPS; do
  case "$setup" in
    single)
      pg_dir=$tmp/pg
      pg_env=$(scripts/pg-cluster.sh start "$pg_dir" 2>/dev/null)
      pg=$(echo "$pg_env" | sed -n 's/^PARLEY_TEST_PG=//p')
      port=$(free_port)
      "$BIN" serve --listen "127.0.0.1:$port" --data "$tmp/single" --store "$pg" "${FLAGS[@]}" \
        >"$tmp/single.log" 2>&1 &
      node_pid=$!
      started+=("$node_pid")
      wait_port "$port"
      run_load single "http://127.0.0.1:$port" "$({ echo "$node_pid"; postgres_pids "$pg_dir/primary"; } | join)"
      kill -TERM "$node_pid"
      wait "$node_pid" || true
      started=()
      scripts/pg-cluster.sh stop "$pg_dir" >/dev/null 2>&1
      pg_dir=""
      ;;
    cluster1 | cluster3)
      n=${setup#cluster}
      scripts/cluster.sh --nodes "$n" --port 0 -- "${FLAGS[@]}" >"$tmp/cluster.out" 2>"$tmp/cluster.err" &
      cpid=$!
      started+=("$cpid")
      for _ in $(seq 600); do grep -q "listening on" "$tmp/cluster.out" && break; sleep 0.1; done
      url=$(sed -n 's/^Parley cluster is listening on //p' "$tmp/cluster.out")
      [ -n "$url" ] || { cat "$tmp/cluster.err" >&2; exit 1; }
      dir=$(sed -n 's/.*logs in \(.*\)$/\1/p' "$tmp/cluster.err")
      nodes=$(sed -n 's/^cluster: node pids //p' "$tmp/cluster.err" | tr ' ' ,)
      redis_port=$(sed -n 's/.*Redis on \([0-9]*\),.*/\1/p' "$tmp/cluster.err")
      kill_pid=""
      [ -n "${KILL_NODE:-}" ] && kill_pid=$(echo "$nodes" | cut -d, -f"$KILL_NODE")
      pids=$({
        echo "$nodes" | tr , '\n' | grep -vx "${kill_pid:-none}"
        with_children "$(cat "$dir/nginx/nginx.pid")"
        pgrep -f "redis-server 127.0.0.1:$redis_port" || true
        postgres_pids "$dir/pg/primary" "$dir/pg/replica"
      } | join)
      ports=$(sed -n 's/.*nodes (ports \([0-9 ]*\)).*/\1/p' "$tmp/cluster.err")
      # shellcheck disable=SC2086
      before=$(metric_sum parley_cluster_takeovers_total $ports)
      # shellcheck disable=SC2086
      refused=$(metric_sum parley_cluster_takeovers_refused_total $ports)
      run_load "$setup" "$url" "$pids" $kill_pid
      # shellcheck disable=SC2086
      echo "$setup: resumes of another node's session: $(($(metric_sum parley_cluster_takeovers_total $ports) - before)) rebuilt exactly, $(($(metric_sum parley_cluster_takeovers_refused_total $ports) - refused)) refused (op 9)"
      grep -ho 'op 9 (.*)' "$dir"/node*.log 2>/dev/null | sort | uniq -c | sed "s/^/$setup: /" || true
      kill -TERM "$cpid"
      wait "$cpid" || true
      started=()
      ;;
    *) echo "unknown setup $setup (single, cluster1, cluster3)" >&2; exit 2 ;;
  esac
done
