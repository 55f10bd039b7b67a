#!/usr/bin/env bash
# Install the Debian 12 packages DaemonEye needs, and only those missing.
#   scripts/deps.sh build   what building and running needs
#   scripts/deps.sh test    also what the tests, sanitizers, fuzzers and
#                           benchmarks need (oracles: ps, sha256sum, b3sum)
# Runs apt-get only when something is missing, so a second run is instant
# and needs no network.
set -euo pipefail

profile=${1:-build}
pkgs=(meson ninja-build pkg-config gcc libc6-dev libyaml-dev libssl-dev
      librust-blake3-dev procps clang libbpf-dev bpftool
      libsqlite3-dev libseccomp-dev)
pkgs+=(protobuf-c-compiler libprotobuf-c-dev)  # IPC: protoc-c at build time, libprotobuf-c
pkgs+=(libsodium-dev)  # audit ledger: Ed25519 checkpoint signatures, guarded key memory; alert sinks: guarded token memory
pkgs+=(libcurl4-openssl-dev)     # alert sinks: webhook (libcurl)
if [ "$profile" = test ]; then
  pkgs+=(libcmocka-dev clang libclang-rt-14-dev python3 coreutils b3sum hyperfine)
  pkgs+=(rsyslog rsyslog-gnutls openssl)  # alert sink tests: real syslog receiver, test CA
fi

# The unprivileged user and group the daemons drop to (docs/SECURITY.md).
# Idempotent; `daemoneye run` falls back to nobody (with a warning) when
# this could not be done.
ensure_user() {
  getent group daemoneye >/dev/null 2>&1 && getent passwd daemoneye >/dev/null 2>&1 && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps: the daemoneye system user is missing; as root, run: scripts/deps.sh" >&2
    return 0
  fi
  getent group daemoneye >/dev/null 2>&1 || groupadd --system daemoneye
  getent passwd daemoneye >/dev/null 2>&1 ||
    useradd --system --gid daemoneye --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin --comment "DaemonEye daemons" daemoneye
}

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  ensure_user
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing packages: ${missing[*]}" >&2
  echo "deps: run as root, or install them with: apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
ensure_user
