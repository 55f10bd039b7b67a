#!/usr/bin/env bash
# Quick start command 1: install what is missing (and the daemoneye system
# user), build, and monitor this host in the foreground: a snapshot of every
# process, then `daemoneye run`: procmond (privileged collector: eBPF, else
# netlink or /proc polling) and the agent (unprivileged: event store,
# status) as supervised daemons, every exec, fork and exit shown as it
# happens. Built-in configuration defaults; state in /var/lib/daemoneye as
# root (--state-dir DIR to change it). Extra arguments go to `daemoneye run`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
scripts/build.sh build
build/src/daemoneye ps --tree --no-kernel
exec build/src/daemoneye run "$@"
