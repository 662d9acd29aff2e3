#!/usr/bin/env bash
# Clang's thread-safety analysis (-Wthread-safety -Werror) over every C++
# file of the build, syntax only (no code generated: a few minutes on two
# cores). The annotations (src/util/thread_annotations.h: GUARDED_BY,
# REQUIRES, EXCLUDES...) say which mutex guards what; this fails when code
# touches guarded state without its lock. CI runs it; so should a change
# that adds a lock (and its line in docs/LOCKS.md).
#
#   scripts/check-thread-safety.sh [BUILD_DIR]   (default build/asan: any
#                                                 configured build's compile_commands.json)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/asan}
db=$build/compile_commands.json
[ -f "$db" ] || { echo "no $db: configure a build first (scripts/build.sh asan)" >&2; exit 2; }
command -v clang++ >/dev/null || { echo "clang++ not found (scripts/install-deps.sh installs it)" >&2; exit 2; }
# One clang command per translation unit: GCC's flags clang does not know
# dropped, sanitizers off (they change nothing the analysis sees).
python3 - "$db" > "$build/thread-safety.cmds" <<'PY'
import json, shlex, sys
for e in json.load(open(sys.argv[1])):
    f = e["file"]
    if "/src/" not in f and "/bench/" not in f and "/fuzz/" not in f:
        continue
    args = shlex.split(e["command"])[1:]
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a in ("-o", "-MF", "-MT", "-MQ"):
            skip = True
            continue
        # -Werror: clang's other warnings are not the point here (the GCC
        # build keeps -Wall -Wextra -Werror).
        if a in ("-c", "-MD", "-MMD", "-Werror") or a.startswith("-fsanitize"):
            continue
        out.append(a)
    out += ["-fsyntax-only", "-Wthread-safety", "-Werror=thread-safety", "-Wno-unknown-warning-option"]
    print("cd " + shlex.quote(e["directory"]) + " && clang++ " + " ".join(shlex.quote(a) for a in out))
PY
n=$(wc -l < "$build/thread-safety.cmds")
echo "thread-safety analysis of $n files"
if ! xargs -P "$(nproc)" -d '\n' -I{} bash -c '{}' < "$build/thread-safety.cmds"; then
  echo "scripts/check-thread-safety.sh: thread-safety analysis failed" >&2
  exit 1
fi
echo "thread-safety analysis: clean"
