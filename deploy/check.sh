#!/usr/bin/env bash
# Checks the operator files in deploy/:
#   1. promtool check rules  prometheus/alerts.yml       (syntax, PromQL, templates)
#   2. promtool test rules   prometheus/alerts_test.yml  (each alert fires / stays quiet)
#   3. promtool check config prometheus/prometheus.yml   (example scrape config)
#   4. node grafana/check-dashboard.mjs                  (dashboard JSON, metric names)
# Exits non-zero if any check fails or a tool is missing.
# promtool comes with Debian's `prometheus` package (scripts/install-deps.sh).
set -uo pipefail
cd "$(dirname "$0")"

if ! command -v promtool >/dev/null 2>&1; then
  echo "deploy/check.sh: promtool not found: it comes with Debian's 'prometheus' package;" >&2
  echo "  run scripts/install-deps.sh (or: apt-get install prometheus)" >&2
  exit 1
fi
if ! command -v node >/dev/null 2>&1; then
  echo "deploy/check.sh: node not found (needed for grafana/check-dashboard.mjs);" >&2
  echo "  run scripts/install-deps.sh" >&2
  exit 1
fi

passed=0
failed=0
run() {
  echo "== $*"
  if "$@"; then
    passed=$((passed + 1))
  else
    echo "FAILED: $*" >&2
    failed=$((failed + 1))
  fi
}

echo "promtool: $(promtool --version 2>&1 | head -n 1)"
run promtool check rules prometheus/alerts.yml
run promtool test rules prometheus/alerts_test.yml
run promtool check config prometheus/prometheus.yml
run node grafana/check-dashboard.mjs

echo "deploy checks: ${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
