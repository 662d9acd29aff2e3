#!/usr/bin/env bash
# Installs what Parley needs to build and test, from Debian 12's packages,
# only when something is missing. Safe to run again.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache clang-format
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libsqlite3-dev libssl-dev libsodium-dev zlib1g-dev libzstd-dev liblz4-dev
  libspdlog-dev libfmt-dev libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev libjemalloc-dev
  sqlite3 curl
  # promtool (/usr/bin/promtool), for deploy/check.sh: the Prometheus rules
  # and their unit tests. Debian ships it only inside the server's package.
  prometheus
  # Headless Chromium (and a font for its screenshots), for the browser
  # client's end-to-end test, tests/integration/browser.test.mjs.
  chromium fonts-dejavu-core
  # bench/compare's peers and plot: NATS and Redis (pub/sub) run as the
  # peers of Parley's fan-out; gnuplot draws compare-latest.png.
  nats-server redis-server gnuplot-nox
  # PostgresStore: libpq to build against, and the PostgreSQL 15 server and
  # client tools scripts/pg-cluster.sh runs its throw-away test cluster with.
  postgresql-15 postgresql-client-15 libpq-dev
  # pgbouncer in transaction mode in front of the test cluster
  # (tests/integration/pgbouncer.test.mjs); cluster mode: hiredis to build
  # against, nginx in front of several nodes in the cluster tests.
  pgbouncer libhiredis-dev nginx-light
  # node-gyp (bundled with npm) builds erlpack, the ETF runs of the bot
  # library tests, with python3, make and g++ (build-essential).
  python3
  # clang: its thread-safety analysis of the lock annotations
  # (scripts/check-thread-safety.sh, in CI), the ThreadSanitizer build
  # (scripts/tsan-check.sh) and the libFuzzer targets (fuzz/).
  clang
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v node >/dev/null 2>&1 || missing+=(nodejs npm)

if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
