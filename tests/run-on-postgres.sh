#!/usr/bin/env bash
# Runs a command (a test suite) against the PostgreSQL test server named by
# PARLEY_TEST_PG. Without one: exit 77 (ctest: skipped), or fail when
# PARLEY_REQUIRE_PG=1 (CI must never skip the PostgreSQL runs silently).
set -euo pipefail
if [ -z "${PARLEY_TEST_PG:-}" ]; then
  if [ "${PARLEY_REQUIRE_PG:-}" = 1 ]; then
    echo "PARLEY_REQUIRE_PG=1 but PARLEY_TEST_PG is not set (scripts/pg-cluster.sh start DIR)" >&2
    exit 1
  fi
  echo "skipped: PARLEY_TEST_PG is not set (scripts/pg-cluster.sh start DIR sets it)"
  exit 77
fi
exec "$@"
