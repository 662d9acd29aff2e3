#!/usr/bin/env bash
# Second README command: install what is missing, build with ASan + UBSan,
# and run the whole test suite (unit tests and black-box integration tests).
#
#   scripts/test.sh              what CI runs (.ci/run)
#   scripts/test.sh --repeat N [--integration-repeat M]
#                                the same install and build, then instead of
#                                the suite scripts/repeat-tests.sh: the unit
#                                tests N times (shuffled, and two processes at
#                                once), the integration suites M times (default 3)
#
# At the end (also on failure) it prints how long each step took.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
repeat=()
case "${1-}" in
  "") ;;
  -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  --repeat) repeat=("$@") ;;  # checked by scripts/repeat-tests.sh
  *) echo "scripts/test.sh: unknown option $1 (scripts/test.sh --help)" >&2; exit 2 ;;
esac

# Step timings, printed by the EXIT trap: "install 0 m 02 s, ..., suite 11 m 05 s".
times=()
step=""
step_start=$SECONDS
took() { printf '%d m %02d s' $(($1 / 60)) $(($1 % 60)); }
begin() {
  [ -z "$step" ] || times+=("$step $(took $((SECONDS - step_start)))")
  step=$1
  step_start=$SECONDS
}
pg_dir=""
summary() {
  local rc=$?
  # Stop PostgreSQL first: the timings below are the last lines.
  if [ -n "$pg_dir" ]; then
    "$root/scripts/pg-cluster.sh" stop "$pg_dir/pg" >/dev/null 2>&1 || true
    rm -rf "$pg_dir"
  fi
  local failed=""
  ((rc == 0)) || failed=" (failed)"
  [ -z "$step" ] || times+=("$step $(took $((SECONDS - step_start)))$failed")
  local list
  list=$(printf '%s, ' "${times[@]}")
  echo "scripts/test.sh: ${list%, }; total $(took "$SECONDS") (CI budget 90 m); exit $rc"
}
trap summary EXIT

begin install
scripts/install-deps.sh
# Test clients (discord.js, ws, fzstd), pinned in package-lock.json.
begin "npm ci"
npm ci --no-audit --no-fund
# The bot libraries' native add-ons (erlpack, zlib-sync, zstd-napi: the
# native run of the library tests), in a directory of their own
# (tests/integration/libraries/native), compiled by node-gyp against this
# Node's own headers when the machine has them (NodeSource's nodejs
# installs them under /usr/include/node; node-gyp would download them).
begin "npm ci native"
if [ -f /usr/include/node/node.h ]; then export npm_config_nodedir=/usr; fi
npm ci --prefix tests/integration/libraries/native --no-audit --no-fund
begin format
scripts/check-format.sh
begin build
scripts/build.sh asan
# Clang's -Wthread-safety over every file (syntax only): guarded state
# touched without its lock fails here (docs/LOCKS.md).
begin thread-safety
scripts/check-thread-safety.sh build/asan
# A throw-away PostgreSQL 15 primary and streaming replica (loopback only,
# free ports, in a temp directory; stopped by the EXIT trap): the store
# suite and the integration tests run on it as well as on SQLite, and must
# (PARLEY_REQUIRE_PG=1: a PostgreSQL test that cannot run fails).
begin postgres
pg_dir=$(mktemp -d /tmp/parley-test-pg.XXXXXX)
chmod 755 "$pg_dir"  # the servers run as the postgres user
pg_env=$(scripts/pg-cluster.sh start "$pg_dir/pg")  # fails the script if it fails
eval "$pg_env"
export PARLEY_TEST_PG PARLEY_TEST_PG_REPLICA PARLEY_TEST_PGBOUNCER PARLEY_REQUIRE_PG=1
if ((${#repeat[@]})); then
  begin repeat
  scripts/repeat-tests.sh "${repeat[@]}"
  exit 0
fi
begin suite
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cd build/asan
ctest --output-on-failure -j 2 --timeout 900
