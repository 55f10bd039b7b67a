#!/usr/bin/env bash
# Configure (once) and build DaemonEye into build/ (hardened, -O2 -g).
#   scripts/build.sh [BUILDDIR [meson setup options...]]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
if [ ! -f "$dir/build.ninja" ]; then
  meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log" >&2; exit 1; }
  rm -f "$dir.setup.log"
fi
meson compile -C "$dir" >/dev/null || meson compile -C "$dir"
