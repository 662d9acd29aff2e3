#!/usr/bin/env bash
# Checks the operator files in deploy/:
#   1. promtool check rules  prometheus/alerts.yml       (syntax, PromQL, templates)
#   2. promtool test rules   prometheus/alerts_test.yml  (each alert fires / stays quiet)
#   3. promtool check config prometheus/prometheus.yml   (example scrape config)
#   4. node grafana/check-dashboard.mjs                  (dashboard JSON, metric names)
#   5. nginx -t with nginx/parley.conf inside http { }   (the cluster's front)
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

# nginx -t on parley.conf as an operator includes it (nginx-light).
nginx_check() {
  local nginx tmp rc
  nginx=$(command -v nginx || echo /usr/sbin/nginx)
  [ -x "$nginx" ] || { echo "nginx not found (scripts/install-deps.sh: nginx-light)" >&2; return 1; }
  tmp=$(mktemp -d /tmp/parley-nginx-check.XXXXXX)
  cat >"$tmp/nginx.conf" <<CONF
pid $tmp/nginx.pid;
error_log $tmp/error.log;
events {}
http {
    client_body_temp_path $tmp/body;
    proxy_temp_path $tmp/proxy;
    fastcgi_temp_path $tmp/fastcgi;
    uwsgi_temp_path $tmp/uwsgi;
    scgi_temp_path $tmp/scgi;
    include $PWD/nginx/parley.conf;
}
CONF
  "$nginx" -t -q -p "$tmp" -c "$tmp/nginx.conf" -e "$tmp/error.log"
  rc=$?
  rm -rf "$tmp"
  return $rc
}
run nginx_check

echo "deploy checks: ${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
