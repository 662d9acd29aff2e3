#!/usr/bin/env bash
# Finds flaky tests before CI does: runs the built ASan test suite (build/asan)
# again and again, shuffled and two at a time. `scripts/test.sh --repeat N`
# installs and builds as usual, then runs this; run it alone on a fresh build:
#
#   scripts/repeat-tests.sh [--repeat N] [--integration-repeat M] [-j J]
#       N  unit-test repeats (default 20)
#       M  repeats of the integration suites (default 3; 0 skips them)
#       J  tests at once (default 2, as CI's ctest -j 2)
#
#   1. parley_unit_tests --gtest_repeat=N --gtest_shuffle
#        every unit test N times in one process, in a new order each time
#        (finds tests that depend on each other's order or state);
#   2. ctest -R '\.' --repeat until-fail:N -j J --schedule-random
#        every unit test as its own process N times, J processes at once, as
#        CI runs them (finds tests that collide on a directory, a port, a file);
#   3. ctest -E '\.' --repeat until-fail:M -j J
#        the integration suites (integration, deploy_checks and the RUN_SERIAL
#        smokes bench_compare_smoke, load_scenarios_smoke) M times each.
# Unit tests are the ctest names with a dot (gtest's Suite.Test); the suites
# are the names without one. Logs go to build/asan/repeat-logs/; the script
# ends with one summary line and exits 0 only when every repeat passed.
set -euo pipefail
cd "$(dirname "$0")/.."

count() { [[ ${2-} =~ ^[0-9]+$ ]] || { echo "repeat-tests: $1 wants a number, got '${2-}'" >&2; exit 2; }; }
unit=20
suites=3
jobs=2
while (($#)); do
  case "$1" in
    --repeat) count "$1" "${2-}"; unit=$2; shift 2 ;;
    --integration-repeat) count "$1" "${2-}"; suites=$2; shift 2 ;;
    -j) count "$1" "${2-}"; jobs=$2; shift 2 ;;
    -h | --help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "repeat-tests: unknown option $1 (scripts/repeat-tests.sh --help)" >&2; exit 2 ;;
  esac
done
((unit >= 1 && jobs >= 1)) || { echo "repeat-tests: --repeat and -j want at least 1" >&2; exit 2; }

build=build/asan
[ -x "$build/parley_unit_tests" ] || {
  echo "repeat-tests: $build/parley_unit_tests not built (scripts/build.sh asan)" >&2
  exit 1
}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
logs=$build/repeat-logs
mkdir -p "$logs"
start=$SECONDS
took() { printf '%d m %02d s' $((($1) / 60)) $((($1) % 60)); }
results=()
failed=0

# 1. One process, N shuffled repetitions. A repetition failed when gtest
# lists failed tests for it; a crash (ASan aborts) ends the run early.
t=$SECONDS
log=$logs/gtest-repeat.log
echo "== 1/3 parley_unit_tests --gtest_repeat=$unit --gtest_shuffle (log: $log)"
rc=0
"$build/parley_unit_tests" --gtest_repeat="$unit" --gtest_shuffle >"$log" 2>&1 || rc=$?
bad=$(grep -c -E '^\[  FAILED  \] [0-9]+ tests?, listed below' "$log" || true)
done_reps=$(grep -c -E '^\[  PASSED  \] [0-9]+ tests?\.' "$log" || true)  # one per repetition
passed=$((done_reps - bad))
if ((rc != 0 || passed != unit)); then
  failed=1
  grep -E '^\[  FAILED  \]|Repeating all tests|with a seed of|ERROR: .*Sanitizer|runtime error' "$log" | tail -n 40 || true
  results+=("gtest shuffled: $passed/$unit passed (exit $rc) in $(took $((SECONDS - t)))")
else
  results+=("gtest shuffled: $passed/$unit passed in $(took $((SECONDS - t)))")
fi
echo "   ${results[-1]}"

# 2. Every unit test as its own process, N times, J at once, in random order.
t=$SECONDS
log=$logs/ctest-unit.log
n=$(cd "$build" && ctest -N -R '\.' | sed -n 's/^Total Tests: //p')
echo "== 2/3 ctest -R '\\.' --repeat until-fail:$unit -j $jobs --schedule-random: $n unit tests (log: $log)"
rc=0
(cd "$build" && ctest -R '\.' --repeat "until-fail:$unit" -j "$jobs" --schedule-random \
  --output-on-failure --timeout 900) >"$log" 2>&1 || rc=$?
if ((rc != 0)); then
  failed=1
  sed -n '/tests passed/,$p' "$log"
  results+=("ctest unit: FAILED ($(grep -c -E '\*\*\*Failed|\*\*\*Exception|\*\*\*Timeout' "$log" || true) failed runs of $n tests x $unit; exit $rc) in $(took $((SECONDS - t)))")
else
  results+=("ctest unit: $n tests x $unit passed (-j $jobs) in $(took $((SECONDS - t)))")
fi
echo "   ${results[-1]}"

# 3. The integration suites, M times each.
if ((suites > 0)); then
  t=$SECONDS
  log=$logs/ctest-suites.log
  names=$(cd "$build" && ctest -N -E '\.' | sed -n 's/^ *Test *#[0-9]*: //p' | paste -sd, -)
  echo "== 3/3 ctest -E '\\.' --repeat until-fail:$suites -j $jobs: $names (log: $log)"
  rc=0
  (cd "$build" && ctest -E '\.' --repeat "until-fail:$suites" -j "$jobs" \
    --output-on-failure --timeout 1200) >"$log" 2>&1 || rc=$?
  if ((rc != 0)); then
    failed=1
    sed -n '/tests passed/,$p' "$log"
    results+=("suites: FAILED (exit $rc; of $names x $suites) in $(took $((SECONDS - t)))")
  else
    results+=("suites: $names x $suites passed (-j $jobs) in $(took $((SECONDS - t)))")
  fi
  echo "   ${results[-1]}"
fi

summary=$(printf '%s; ' "${results[@]}")
if ((failed)); then
  echo "repeat-tests: FAILED: ${summary%; }; total $(took $((SECONDS - start))) (logs in $logs)"
  exit 1
fi
echo "repeat-tests: all passed: ${summary%; }; total $(took $((SECONDS - start)))"
