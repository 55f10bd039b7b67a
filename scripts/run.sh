#!/usr/bin/env bash
# Quick start command 1: install what is missing, build, and monitor this
# host in the foreground: a snapshot of every process, then every exec,
# fork and exit as it happens (eBPF; netlink or /proc polling where eBPF
# cannot load). No configuration file and no state directory needed
# (built-in defaults). Extra arguments go to `daemoneye events`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
scripts/build.sh build
build/src/daemoneye ps --tree --no-kernel
exec build/src/daemoneye events "$@"
