#!/usr/bin/env bash
# Quick start command 2: install what is missing, build, run every test.
#   1. normal hardened build: unit + integration tests
#   2. ASan + UBSan build: the same tests
#   3. libFuzzer build: each fuzz target for FUZZ_SECONDS (default 30) on
#      its corpus (tests/fuzz/NAME/), every file there replayed first
# Ends with one line "N passed, N failed, N skipped"; exits non-zero when
# anything failed. Build dirs: build-test/, build-asan/, build-fuzz/.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test || exit 1

fuzz_seconds=${FUZZ_SECONDS:-30}
logs=()
status=0

setup() { # dir, options...
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; return 1; }
    rm -f "$dir.setup.log"
  fi
  meson compile -C "$dir" >"$dir.compile.log" 2>&1 || { cat "$dir.compile.log"; return 1; }
}

run_suite() { # label, dir, meson setup options...
  local label=$1 dir=$2; shift 2
  echo "== $label build ($dir)"
  if ! setup "$dir" "$@"; then
    echo "not ok - $label build" >"$dir.buildfail.tap"
    logs+=("$label:$dir.buildfail.tap")
    status=1
    return
  fi
  rm -f "$dir/meson-logs/testlog.json"
  meson test -C "$dir" --no-rebuild --print-errorlogs >"$dir.test.log" 2>&1 || status=1
  grep -E '^ *[0-9]+/[0-9]+ ' "$dir.test.log" || tail -n 40 "$dir.test.log"
  logs+=("$label:$dir/meson-logs/testlog.json")
}

run_suite normal build-test
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  run_suite asan build-asan -Db_sanitize=address,undefined -Db_lundef=false --buildtype=debug

echo "== fuzz build (build-fuzz), ${fuzz_seconds}s per target"
fuzz_tap=build-fuzz.tap
: >"$fuzz_tap"
if CC=clang setup build-fuzz -Dfuzz=true -Dtests=disabled -Db_sanitize=address,undefined \
     -Db_lundef=false --buildtype=debugoptimized; then
  for bin in build-fuzz/src/fuzz/fuzz_*; do
    [ -f "$bin" ] && [ -x "$bin" ] || continue
    name=${bin##*/fuzz_}
    corpus=tests/fuzz/$name
    work=$(mktemp -d)
    [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
    artifacts=.fuzz-artifacts/$name
    mkdir -p "$artifacts"
    log=build-fuzz/fuzz_$name.log
    # Replay every stored input (regressions), then explore for a bounded time.
    if "$bin" -runs=0 "$work" >"$log" 2>&1 &&
       "$bin" -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 \
         -artifact_prefix="$artifacts/" "$work" >>"$log" 2>&1; then
      echo "ok - fuzz_$name ($(grep -o 'Done [0-9]* runs' "$log" | tail -n 1))" | tee -a "$fuzz_tap"
    else
      echo "not ok - fuzz_$name: crash input in $artifacts/ (log $log)" | tee -a "$fuzz_tap"
      tail -n 30 "$log"
      status=1
    fi
    rm -rf "$work"
  done
else
  echo "not ok - fuzz build" >>"$fuzz_tap"
  status=1
fi
logs+=("fuzz:$fuzz_tap")

python3 scripts/summarize.py "${logs[@]}" || status=1
exit $status
