#!/usr/bin/env bash
# First README command: install what is missing, build, and run the server on
# the embedded store. Extra arguments go to `parley serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release
exec build/release/parley serve --listen "${PARLEY_LISTEN:-0.0.0.0:8080}" --data "${PARLEY_DATA:-./data}" "$@"
