#!/usr/bin/env bash
# Starts one of bench/compare's peer servers in the foreground on
# 127.0.0.1:PORT, replacing this shell (exec), so the caller's child pid is
# the server's own pid and SIGTERM / SIGKILL reach it directly.
#
#   bench/peers/start.sh ws|socketio|nats|redis PORT
#
#   ws        node bench/peers/ws-broadcast.mjs   (ws 8, plain broadcast + ack)
#   socketio  node bench/peers/socketio-room.mjs  (Socket.IO 4, room "bench")
#   nats      nats-server -c bench/peers/nats.conf -a 127.0.0.1 -p PORT
#   redis     redis-server with no config file, nothing persisted
#
# PORT 0 (ws, socketio, nats): the server binds a port the kernel picks, so
# it cannot collide with any other process, and prints it: `listening PORT`
# on stdout (ws, socketio), `Listening for client connections on
# 127.0.0.1:PORT` on stderr (nats, started with -p -1). redis-server cannot
# pick its own port (for it 0 means "no TCP"), so it needs a real PORT.
#
# The Node.js peers need `npm ci` (ws, socket.io from package.json); nats and
# redis need the Debian packages nats-server and redis-server
# (scripts/install-deps.sh installs them).
set -euo pipefail

usage() {
  echo "usage: bench/peers/start.sh ws|socketio|nats|redis PORT" >&2
  exit 2
}
[ $# -eq 2 ] || usage
name=$1
port=$2
[[ $port =~ ^[0-9]+$ ]] && ((port < 65536)) || usage
if ((port == 0)) && [ "$name" = redis ]; then
  echo "bench/peers/start.sh: redis-server cannot pick its own port: give one" >&2
  exit 2
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

case "$name" in
  ws)
    cd "$root"
    exec node "$here/ws-broadcast.mjs" --host 127.0.0.1 --port "$port"
    ;;
  socketio)
    cd "$root"
    exec node "$here/socketio-room.mjs" --host 127.0.0.1 --port "$port"
    ;;
  nats)
    # -p -1: nats-server's "any free port".
    exec nats-server -c "$here/nats.conf" -a 127.0.0.1 -p "$( ((port)) && echo "$port" || echo -1)"
    ;;
  redis)
    # No config file (so not /etc/redis/redis.conf): only these settings.
    # --save '' and --appendonly no: no RDB snapshot (not even at shutdown),
    # no AOF, so nothing is ever written to --dir.
    # --maxclients 20000: Redis keeps 32 descriptors in reserve, so under a
    # 20,000 open-file limit it lowers this to 19,968 (a warning in its log).
    # Pub/sub clients are dropped past the default
    # `client-output-buffer-limit pubsub 32mb 8mb 60` (a slow consumer).
    exec redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
      --dir "${TMPDIR:-/tmp}" --maxclients 20000 --protected-mode no --daemonize no --logfile '' \
      --loglevel warning
    ;;
  *)
    usage
    ;;
esac
