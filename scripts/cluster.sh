#!/usr/bin/env bash
# A Parley cluster on this machine, for trying it out (docs/cluster.md):
#
#   scripts/cluster.sh [--nodes N] [--api-nodes M] [--port PORT] [--bin PATH]
#                      [-- SERVE FLAGS...]
#
# starts, on loopback: PostgreSQL 15 with a streaming replica
# (scripts/pg-cluster.sh), Redis (the live bus between the nodes; no
# persistence: nothing depends on it), N `parley serve --cluster` nodes
# (default 3) on one database, and nginx in front of them
# (deploy/nginx/parley.conf) on
# PORT (default 8080; 0 = any free port). It prints the URL, then waits;
# Ctrl-C (or SIGTERM) stops everything it started and removes its
# temporary directory. Each node's log is DIR/nodeN.log (DIR is printed).
# A node that dies is reported and the others go on (its sessions resume
# on them); everything stops when nginx or Redis ends, or every node.
# With --api-nodes M (0 < M < N) the roles split: the last M nodes serve
# only the API (--role api, nginx's REST pool) and the others only the
# gateway (--role gateway, nginx's WebSocket pool); by default every node
# serves both. Flags after `--` go to every node's `parley serve`.
# Needs: scripts/build.sh release (or --bin), and the packages of
# scripts/install-deps.sh (postgresql-15, redis-server, nginx-light).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
nodes=3
api_nodes=0
port=8080
bin=$root/build/release/parley
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) nodes=$2; shift 2 ;;
    --api-nodes) api_nodes=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --) shift; break ;;
    -h | --help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "scripts/cluster.sh: unknown option $1 (--help)" >&2; exit 2 ;;
  esac
done
[[ $nodes =~ ^[0-9]+$ ]] && ((nodes >= 1 && nodes <= 32)) || { echo "--nodes wants 1..32" >&2; exit 2; }
[[ $api_nodes =~ ^[0-9]+$ ]] && { ((api_nodes == 0)) || ((api_nodes < nodes)); } ||
  { echo "--api-nodes wants 0 (every node serves both) or 1..nodes-1" >&2; exit 2; }
[ -x "$bin" ] || { echo "no parley binary at $bin (scripts/build.sh release)" >&2; exit 1; }
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "nginx missing (scripts/install-deps.sh)" >&2; exit 1; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

dir=$(mktemp -d /tmp/parley-cluster.XXXXXX)
chmod 755 "$dir"  # PostgreSQL runs as the postgres user
pids=()
pg_started=""
stop_all() {
  trap - EXIT INT TERM
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -n "$pg_started" ] && scripts/pg-cluster.sh stop "$dir/pg" >/dev/null 2>&1 || true
  rm -rf "$dir"
  echo "cluster: stopped" >&2
}
trap stop_all EXIT
trap 'exit 0' INT TERM HUP

free_port() {
  perl -MIO::Socket::INET -e \
    '$s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Proto => "tcp", Listen => 1) or die "bind: $!\n"; print $s->sockport, "\n";'
}
wait_port() {  # PORT NAME LOG
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "cluster: $2 did not start; its log:" >&2
  tail -20 "$3" >&2
  exit 1
}

echo "cluster: PostgreSQL (primary and replica) in $dir/pg" >&2
pg_env=$(scripts/pg-cluster.sh start "$dir/pg")
pg_started=1
primary=$(echo "$pg_env" | sed -n 's/^PARLEY_TEST_PG=//p')
replica=$(echo "$pg_env" | sed -n 's/^PARLEY_TEST_PG_REPLICA=//p')
psql "$primary" -qAtc "CREATE DATABASE parley" >/dev/null
with_db() { node -e 'const u=new URL(process.argv[1]);u.pathname="/parley";console.log(u.toString())' "$1"; }
store=$(with_db "$primary")
store_replica=$(with_db "$replica")

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
  --dir "$dir" >"$dir/redis.log" 2>&1 &
pids+=($!)
redis_pid=$!
wait_port "$redis_port" Redis "$dir/redis.log"

[ "$port" = 0 ] && port=$(free_port)
public=http://127.0.0.1:$port
node_ports=()
node_pids=()
node_roles=()
for n in $(seq 1 "$nodes"); do
  p=$(free_port)
  node_ports+=("$p")
  role=gateway,api
  ((api_nodes > 0)) && { ((n > nodes - api_nodes)) && role=api || role=gateway; }
  node_roles+=("$role")
  "$bin" serve --listen "127.0.0.1:$p" --data "$dir/node$n" --store "$store" \
    --store-replica "$store_replica" --cluster --node-id "$n" --role "$role" --public-url "$public" \
    --redis "redis://127.0.0.1:$redis_port" \
    --trusted-proxy 127.0.0.1 "$@" >"$dir/node$n.log" 2>&1 &
  pids+=($!)
  node_pids+=($!)
  # The first node creates the schema; the others start once it is there.
  [ "$n" = 1 ] && wait_port "$p" "node 1" "$dir/node1.log"
done
for n in $(seq 1 "$nodes"); do wait_port "${node_ports[n - 1]}" "node $n" "$dir/node$n.log"; done

gw_lines=""
api_lines=""
for i in "${!node_ports[@]}"; do
  line="    server 127.0.0.1:${node_ports[i]} max_fails=1 fail_timeout=5s;"$'\n'
  [[ ${node_roles[i]} == *gateway* ]] && gw_lines+=$line
  [[ ${node_roles[i]} == *api* ]] && api_lines+=$line
done
mkdir -p "$dir/nginx"
awk -v gw="$gw_lines" -v api="$api_lines" -v listen="    listen 127.0.0.1:$port reuseport;" '
  /^upstream gateway_nodes/ { lines = gw }
  /^upstream api_nodes/ { lines = api }
  /# BEGIN NODES/ { print; printf "%s", lines; skip = 1; next }
  /# END NODES/ { skip = 0 }
  skip { next }
  /^    listen / { print listen; next }
  { print }' deploy/nginx/parley.conf >"$dir/nginx/parley.conf"
# Each WebSocket through nginx holds two descriptors (client and node), and
# a process may hold at most the open-file limit (20,000 here): 4 workers
# (reuseport spreads new connections over them) hold 4 x limit/2 sessions.
nofile=$(ulimit -Hn)
[ "$nofile" = unlimited ] && nofile=65536
cat >"$dir/nginx/nginx.conf" <<CONF
daemon off;
worker_processes 4;
worker_rlimit_nofile $nofile;
pid $dir/nginx/nginx.pid;
error_log $dir/nginx/error.log warn;
events { worker_connections $((nofile - 100)); }
http {
    access_log off;
    client_body_temp_path $dir/nginx/body;
    proxy_temp_path $dir/nginx/proxy;
    fastcgi_temp_path $dir/nginx/fastcgi;
    uwsgi_temp_path $dir/nginx/uwsgi;
    scgi_temp_path $dir/nginx/scgi;
    include $dir/nginx/parley.conf;
}
CONF
"$NGINX" -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -e "$dir/nginx/error.log" &
pids+=($!)
nginx_pid=$!
wait_port "$port" nginx "$dir/nginx/error.log"

echo "cluster: $nodes nodes (ports ${node_ports[*]}), Redis on $redis_port, logs in $dir" >&2
echo "cluster: node roles ${node_roles[*]}" >&2
echo "cluster: node pids ${node_pids[*]}" >&2
echo "Parley cluster is listening on $public"
echo "(Ctrl-C stops it)" >&2
# Until a signal, or until nginx, Redis or the last node ends.
while :; do
  alive=()
  for i in "${!node_pids[@]}"; do
    pid=${node_pids[i]}
    [ -z "$pid" ] && continue
    if kill -0 "$pid" 2>/dev/null; then
      alive+=("$pid")
    else
      echo "cluster: node $((i + 1)) ended (see $dir/node$((i + 1)).log); the others go on" >&2
      node_pids[i]=""
    fi
  done
  kill -0 "$nginx_pid" 2>/dev/null || { echo "cluster: nginx ended; stopping the rest" >&2; break; }
  kill -0 "$redis_pid" 2>/dev/null || { echo "cluster: Redis ended; stopping the rest" >&2; break; }
  [ ${#alive[@]} -eq 0 ] && { echo "cluster: every node ended; stopping the rest" >&2; break; }
  wait -n "$nginx_pid" "$redis_pid" "${alive[@]}" 2>/dev/null || true
done
