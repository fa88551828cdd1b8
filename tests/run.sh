#!/usr/bin/env bash
# Runs Hearth's whole default test suite from a clean checkout: installs dependencies, builds with
# AddressSanitizer + UndefinedBehaviorSanitizer and warnings as errors, runs every meson suite
# (unit, integration, ...), and prints `tests: N passed, N failed` as its last line.
#   tests/run.sh [--long] [meson test args...]
#   --long   also run the long soaks (suite 'long'), which the default run leaves out
set -uo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)

long=0
args=()
for a in "$@"; do
  case "$a" in
    --long) long=1 ;;
    *) args+=("$a") ;;
  esac
done

summary() {
  echo "tests: $1 passed, $2 failed"
}

if ! bash packaging/install-deps.sh; then
  echo "run.sh: could not install dependencies" >&2
  summary 0 1
  exit 1
fi

# hls.js for the playback pages (web/vendor/, from the npm registry at the pinned version).
if ! bash packaging/web-vendor.sh; then
  echo "run.sh: could not put hls.js into web/vendor/" >&2
  summary 0 1
  exit 1
fi

build=${HEARTH_TEST_BUILD:-$top/build-test}
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" -Db_sanitize=address,undefined -Dwerror=true -Db_lundef=false \
    --buildtype=debugoptimized >/dev/null || { summary 0 1; exit 1; }
fi
if ! ninja -C "$build"; then
  echo "run.sh: build failed" >&2
  summary 0 1
  exit 1
fi

suite_args=()
if [ $long -eq 0 ]; then
  suite_args+=(--no-suite long)
fi
meson test -C "$build" --print-errorlogs --num-processes 2 "${suite_args[@]}" "${args[@]}"
status=$?

# Count from meson's machine-readable log, so the closing line matches what actually ran.
log="$build/meson-logs/testlog.json"
if [ -f "$log" ]; then
  read -r passed failed < <(python3 - "$log" <<'PY'
import json, sys
p = f = 0
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    r = json.loads(line)
    if r.get("result") in ("OK", "EXPECTEDFAIL"):
        p += 1
    elif r.get("result") != "SKIP":
        f += 1
print(p, f)
PY
)
else
  passed=0; failed=1
fi
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1
fi
if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then
  echo "run.sh: no test ran" >&2
  failed=1
fi
summary "$passed" "$failed"
[ "$failed" -eq 0 ]
