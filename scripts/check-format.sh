#!/usr/bin/env bash
# Fails if any C++ file differs from .clang-format's layout.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.cc' '*.h' 2>/dev/null || find src bench -name '*.cc' -o -name '*.h')
[ -z "$files" ] && exit 0
clang-format --dry-run --Werror $files
