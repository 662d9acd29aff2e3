#!/usr/bin/env bash
# A throw-away PostgreSQL 15 primary and its streaming replica, for tests.
#
#   eval "$(scripts/pg-cluster.sh start DIR)"   # sets PARLEY_TEST_PG, PARLEY_TEST_PG_REPLICA
#   scripts/pg-cluster.sh stop DIR              # stops both servers, removes DIR
#   scripts/pg-cluster.sh pause DIR primary|replica    # stops one server (fault tests)
#   scripts/pg-cluster.sh resume DIR primary|replica   # starts it again on its port
#
# start: DIR must not exist or be empty. initdb's a cluster in DIR/primary
# (UTF8, C locale, trust auth for local and loopback connections, fsync on,
# max_connections 200, wal_level replica), starts it on 127.0.0.1 only, on a
# free port, with its unix socket in DIR; then clones it with
# `pg_basebackup -R` into DIR/replica and starts that as a hot standby
# (hot_standby_feedback on) on another free port; and, when pgbouncer is
# installed, a pgbouncer in transaction mode in front of the primary (any
# database name, trust auth, 3 server connections per database, so that a
# client's consecutive transactions land on different server sessions).
# Prints only the shell assignments on stdout (progress goes to stderr):
# PARLEY_TEST_PG, PARLEY_TEST_PG_REPLICA and PARLEY_TEST_PGBOUNCER (empty
# without pgbouncer); writes them to DIR/env and the servers' pids to
# DIR/primary.pid, DIR/replica.pid, DIR/pgbouncer.pid. Logs are
# DIR/primary.log, DIR/replica.log, DIR/pgbouncer.log. If anything fails it
# stops what it started and removes DIR.
#
# Needs only Debian's postgresql-15 package: it runs the binaries from
# /usr/lib/postgresql/15/bin (PG_BIN overrides), never pg_ctlcluster, and
# ignores the package's own "main" cluster (which listens on 5432; the
# ports here come from the kernel's free ephemeral ports, checked free just
# before use, so they never clash with it). As root the servers run as the
# `postgres` OS user, who must be able to reach DIR.
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
MARKER=.parley-pg-cluster  # only a DIR holding this file is ever removed

usage() {
  echo "usage: $0 start DIR | stop DIR | pause DIR primary|replica | resume DIR primary|replica" >&2
  exit 2
}
log() { echo "pg-cluster: $*" >&2; }
die() {
  log "$*"
  exit 1
}

# Runs a command as the servers' OS user: `postgres` when we are root
# (initdb and postgres refuse to run as root), else ourselves.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# A TCP port on 127.0.0.1 that is free right now: bind to port 0 and let the
# kernel pick. perl-base (IO::Socket::INET) is on every Debian system.
free_port() {
  perl -MIO::Socket::INET -e \
    '$s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Proto => "tcp", Listen => 1) or die "bind: $!\n"; print $s->sockport, "\n";'
}

# Whether something listens on 127.0.0.1:$1.
port_in_use() {
  perl -MIO::Socket::INET -e \
    'exit(IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $ARGV[0], Proto => "tcp", Timeout => 1) ? 0 : 1);' "$1"
}

# Starts the server of data directory $1 on a free port, retrying with a
# new port if another process took it meanwhile; sets $started_port.
start_server() {
  local data=$1 logfile=$2 port attempt
  for attempt in 1 2 3 4 5; do
    port=$(free_port)
    port_in_use "$port" && continue
    if as_pg "$PG_BIN/pg_ctl" -D "$data" -l "$logfile" -w -t 60 -o "-p $port" start >&2; then
      started_port=$port
      return 0
    fi
    # A bind failure means someone took the port between the check and the
    # start: try another one. Anything else is a real failure.
    if ! grep -q "could not bind\|could not create any TCP/IP sockets" "$logfile" 2>/dev/null; then
      tail -n 20 "$logfile" >&2 || true
      return 1
    fi
    log "port $port was taken (attempt $attempt), retrying"
  done
  return 1
}

stop_server() {
  local data=$1
  if [ -f "$data/postmaster.pid" ]; then
    as_pg "$PG_BIN/pg_ctl" -D "$data" -m fast -w -t 60 stop >&2 || true
  fi
}

cmd_stop() {
  local dir=$1
  [ -d "$dir" ] || die "$dir does not exist"
  [ -f "$dir/$MARKER" ] || die "$dir was not made by $0 start (no $MARKER); not touching it"
  if [ -f "$dir/pgbouncer.pid" ]; then
    kill "$(cat "$dir/pgbouncer.pid")" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$(cat "$dir/pgbouncer.pid")" 2>/dev/null || break
      sleep 0.1
    done
  fi
  # The replica first: stopping the primary first would leave it retrying.
  stop_server "$dir/replica"
  stop_server "$dir/primary"
  rm -rf "$dir"
}

cleanup_dir=""
on_start_exit() {
  local rc=$?
  if [ "$rc" -ne 0 ] && [ -n "$cleanup_dir" ]; then
    log "failed; stopping what was started and removing $cleanup_dir"
    cmd_stop "$cleanup_dir" || true
  fi
}

cmd_start() {
  local dir=$1
  [ -x "$PG_BIN/initdb" ] || die "no $PG_BIN/initdb (apt-get install postgresql-15)"
  if [ -e "$dir" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then
    die "$dir exists and is not empty"
  fi
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  touch "$dir/$MARKER"
  # From here on, a failure undoes everything. (The trap runs after this
  # function has returned: it needs a global, not `dir`.)
  cleanup_dir=$dir
  trap on_start_exit EXIT
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || die "no 'postgres' OS user (is postgresql-15 installed?)"
    chown postgres: "$dir"
    chmod 700 "$dir"
    as_pg test -w "$dir" || die "user postgres cannot write $dir (a parent directory is closed to it?)"
  fi

  log "initdb $dir/primary"
  as_pg "$PG_BIN/initdb" -D "$dir/primary" -U postgres --auth=trust --encoding=UTF8 --locale=C \
    >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    exit 1
  }
  as_pg tee -a "$dir/primary/postgresql.conf" >/dev/null <<EOF

# scripts/pg-cluster.sh
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
fsync = on
synchronous_commit = on
max_connections = 200
wal_level = replica
max_wal_senders = 10
wal_keep_size = '256MB'
hot_standby = on
hot_standby_feedback = on
logging_collector = off
EOF
  as_pg tee "$dir/primary/pg_hba.conf" >/dev/null <<EOF
# scripts/pg-cluster.sh: a throw-away test cluster, trusted on loopback only.
local   all             all                     trust
host    all             all     127.0.0.1/32    trust
local   replication     all                     trust
host    replication     all     127.0.0.1/32    trust
EOF

  local port rport started_port=""
  start_server "$dir/primary" "$dir/primary.log" || die "primary did not start (see above)"
  port=$started_port
  log "primary listening on 127.0.0.1:$port"

  log "pg_basebackup into $dir/replica"
  as_pg "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$port" -U postgres -D "$dir/replica" -R \
    -X stream -c fast >&2
  started_port=""
  start_server "$dir/replica" "$dir/replica.log" || die "replica did not start (see above)"
  rport=$started_port
  log "replica listening on 127.0.0.1:$rport"

  # Wait until the replica streams from the primary (not just replays the
  # base backup), so that a caller may test replication at once.
  local _ streaming=""
  for _ in $(seq 1 100); do
    streaming=$(as_pg "$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -XAtq \
      -c "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'" 2>/dev/null || true)
    [ "$streaming" = 1 ] && break
    sleep 0.1
  done
  [ "$streaming" = 1 ] || die "the replica did not start streaming (see $dir/replica.log)"

  head -n 1 "$dir/primary/postmaster.pid" >"$dir/primary.pid"
  head -n 1 "$dir/replica/postmaster.pid" >"$dir/replica.pid"

  local bport=""
  if command -v pgbouncer >/dev/null 2>&1; then
    bport=$(free_port)
    as_pg tee "$dir/pgbouncer.ini" >/dev/null <<EOF
; scripts/pg-cluster.sh: transaction pooling in front of the primary.
[databases]
* = host=127.0.0.1 port=$port
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $bport
unix_socket_dir =
auth_type = trust
auth_file = $dir/pgbouncer.users
pool_mode = transaction
default_pool_size = 3
max_client_conn = 400
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
EOF
    echo '"postgres" ""' | as_pg tee "$dir/pgbouncer.users" >/dev/null
    as_pg pgbouncer -d "$dir/pgbouncer.ini" >&2 || die "pgbouncer did not start (see $dir/pgbouncer.log)"
    local ok=""
    for _ in $(seq 1 50); do
      if as_pg "$PG_BIN/psql" -h 127.0.0.1 -p "$bport" -U postgres -d postgres -XAtqc 'SELECT 1' \
        >/dev/null 2>&1; then
        ok=1
        break
      fi
      sleep 0.1
    done
    [ -n "$ok" ] || die "pgbouncer does not answer (see $dir/pgbouncer.log)"
    log "pgbouncer (transaction mode) listening on 127.0.0.1:$bport"
  fi
  cat >"$dir/env" <<EOF
PARLEY_TEST_PG=postgres://postgres@127.0.0.1:$port/postgres
PARLEY_TEST_PG_REPLICA=postgres://postgres@127.0.0.1:$rport/postgres
PARLEY_TEST_PGBOUNCER=${bport:+postgres://postgres@127.0.0.1:$bport/postgres}
EOF
  trap - EXIT
  cat "$dir/env"
}

# pause/resume: one server of a cluster made by start, for fault tests.
# resume starts it on the port it had (clients reconnect to the same URL).
cmd_pause_resume() {
  local what=$1 dir=$2 which=$3 port var
  [ -f "$dir/$MARKER" ] || die "$dir was not made by $0 start (no $MARKER); not touching it"
  case "$which" in
    primary) var=PARLEY_TEST_PG ;;
    replica) var=PARLEY_TEST_PG_REPLICA ;;
    *) usage ;;
  esac
  if [ "$what" = pause ]; then
    stop_server "$dir/$which"
    return
  fi
  port=$(grep "^$var=" "$dir/env" | sed -E 's|.*:([0-9]+)/[^/]*$|\1|')
  [ -n "$port" ] || die "no port for $which in $dir/env"
  as_pg "$PG_BIN/pg_ctl" -D "$dir/$which" -l "$dir/$which.log" -w -t 60 -o "-p $port" start >&2
  head -n 1 "$dir/$which/postmaster.pid" >"$dir/$which.pid"
}

case "${1-}" in
  start) [ $# -eq 2 ] || usage; cmd_start "$2" ;;
  stop) [ $# -eq 2 ] || usage; cmd_stop "$2" ;;
  pause | resume) [ $# -eq 3 ] || usage; cmd_pause_resume "$1" "$2" "$3" ;;
  *) usage ;;
esac
