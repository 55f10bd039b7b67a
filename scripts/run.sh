#!/usr/bin/env bash
# Quick start command 1: install what is missing, build, and watch this host.
# With no configuration file and no state directory needed (built-in
# defaults). Extra arguments go to `daemoneye ps`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
scripts/build.sh build
exec build/src/daemoneye ps --tree --no-kernel --watch 2 "$@"
