#!/usr/bin/env bash
# ThreadSanitizer run of the test suite: builds build/tsan (clang,
# -fsanitize=thread; scripts/build.sh tsan) and runs the unit tests and the
# black-box integration tests against that binary, on SQLite (and on
# PostgreSQL too when PARLEY_TEST_PG is set, as scripts/test.sh sets it). Any
# data race or lock-order inversion fails the run (halt_on_error).
#
# Not part of CI (.ci/run): TSan makes the suite several times slower than
# the 90-minute budget allows with the ASan suite beside it. Run it before
# each release and after any change to a lock; record the run in
# docs/LOCKS.md ("ThreadSanitizer runs").
#
#   scripts/tsan-check.sh [node test files...]   (default: every tests/integration/*.test.mjs)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
scripts/build.sh tsan
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 history_size=4 report_signal_unsafe=0"
start=$SECONDS
echo "== unit tests (TSan)"
build/tsan/parley_unit_tests --gtest_brief=1
echo "== integration tests (TSan)"
tests=("$@")
((${#tests[@]})) || mapfile -t tests < <(ls tests/integration/*.test.mjs)
# A sanitizer report makes the server exit non-zero: the tests' clean-exit
# checks (stopAndAssertClean) fail on it.
PARLEY_BIN=$root/build/tsan/parley node --test --test-concurrency=2 "${tests[@]}"
echo "scripts/tsan-check.sh: clean in $(((SECONDS - start) / 60)) m $(((SECONDS - start) % 60)) s"
