#!/usr/bin/env bash
# Builds Parley. Usage: scripts/build.sh [release|asan]  (default release)
#   release -> build/release (what `parley serve` runs)
#   asan    -> build/asan    (ASan + UBSan, what the test suite runs)
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-release}
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
case "$kind" in
  release) flags=(-DCMAKE_BUILD_TYPE=Release -DPARLEY_TESTS=OFF) ;;
  asan) flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DPARLEY_SANITIZE=ON -DPARLEY_TESTS=ON) ;;
  *) echo "usage: $0 [release|asan]" >&2; exit 2 ;;
esac
cmake -S . -B "build/$kind" -G Ninja "${flags[@]}" "${launcher[@]}" >/dev/null
cmake --build "build/$kind" -j "$(nproc)"
