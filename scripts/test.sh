#!/usr/bin/env bash
# Second README command: install what is missing, build with ASan + UBSan,
# and run the whole test suite (unit tests and black-box integration tests).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# Test clients (discord.js, ws, fzstd), pinned in package-lock.json.
npm ci --no-audit --no-fund
scripts/check-format.sh
scripts/build.sh asan
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cd build/asan
ctest --output-on-failure -j 2 --timeout 900
