#!/usr/bin/env bash
# Benchmark: full-detail snapshot of N processes (default 10,000) by
# `daemoneye ps --json` against procps `ps -eo pid,ppid,user,args`, side by
# side in one hyperfine run, plus daemoneye's peak RSS.
#   bench/bench_ps.sh [N]      (root recommended: reads every process)
# Starts N sleeping processes, and kills exactly those (by pid) on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
bin=${DE_BIN:-build/src/daemoneye}
[ -x "$bin" ] || { echo "build first (scripts/build.sh): $bin missing" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "hyperfine missing: scripts/deps.sh test" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
  if [ ${#pids[@]} -gt 0 ]; then kill "${pids[@]}" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "starting $n sleeping processes..."
for ((i = 0; i < n; i++)); do
  sleep 3600 &
  pids+=($!)
done
sleep 1
total=$(ls -d /proc/[0-9]* | wc -l)
echo "processes on the host: $total"

hyperfine --warmup 3 --runs 15 --export-json "$work/ps.json" \
  "$bin ps --json --source proc >/dev/null" \
  "ps -eo pid,ppid,user,args >/dev/null" \
  "$bin ps --source proc >/dev/null" \
  "$bin ps --json --source bpf >/dev/null"

# the BPF iterator read alone (the program's load and verification apart)
for i in 1 2 3; do DE_BPF_STATS=1 "$bin" ps --json --source bpf 2>&1 >/dev/null | grep 'bpf:' || true; done

rss=$(python3 - "$bin" <<'PY'
import resource, subprocess, sys
subprocess.run([sys.argv[1], "ps", "--json", "--source", "proc"], stdout=subprocess.DEVNULL, check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
PY
)
python3 - "$work/ps.json" "$total" "$rss" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
names = ["daemoneye ps --json --source proc", "ps -eo pid,ppid,user,args",
         "daemoneye ps --source proc (table)", "daemoneye ps --json --source bpf"]
print(f"\nprocesses on the host: {sys.argv[2]}")
print(f"{'command':36} {'wall ms':>8} {'stddev':>7} {'user ms':>8} {'sys ms':>7}")
for n, x in zip(names, r):
    print(f"{n:36} {x['mean']*1000:8.1f} {x['stddev']*1000:7.1f} {x['user']*1000:8.1f} {x['system']*1000:7.1f}")
ours, ps, table, bpf = (x["mean"] for x in r)
print(f"ratio ps / daemoneye --json --source bpf (wall): {ps/bpf:.2f}x")
print(f"ratio ps / daemoneye --json (wall): {ps/ours:.2f}x")
print(f"ratio ps / daemoneye table (wall):  {ps/table:.2f}x")
print(f"daemoneye ps --json --source proc peak RSS: {int(sys.argv[3])/1024:.1f} MiB")
PY
