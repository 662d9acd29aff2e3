#!/usr/bin/env bash
# Builds Parley. Usage: scripts/build.sh [release|asan|tsan]  (default release)
#   release -> build/release (what `parley serve` runs)
#   asan    -> build/asan    (ASan + UBSan, what the test suite runs)
#   tsan    -> build/tsan    (clang, ThreadSanitizer and -Wthread-safety:
#                             what scripts/tsan-check.sh runs before a release)
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-release}
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
case "$kind" in
  release) flags=(-DCMAKE_BUILD_TYPE=Release -DPARLEY_TESTS=OFF) ;;
  asan) flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DPARLEY_SANITIZE=ON -DPARLEY_TESTS=ON) ;;
  tsan) flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DPARLEY_TSAN=ON -DPARLEY_TESTS=ON
               -DCMAKE_CXX_COMPILER=clang++) ;;
  *) echo "usage: $0 [release|asan|tsan]" >&2; exit 2 ;;
esac
cmake -S . -B "build/$kind" -G Ninja "${flags[@]}" "${launcher[@]}" >/dev/null
cmake --build "build/$kind" -j "$(nproc)"
