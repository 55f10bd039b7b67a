#!/usr/bin/env bash
# Benchmark: full-detail snapshot of N processes (default 10,000) by
# `daemoneye ps --json` (default source: the BPF task iterator when it
# loads) and `--source proc`, against procps `ps -eo pid,ppid,user,args`,
# side by side in one hyperfine run; plus peak RSS and the BPF program's
# load/verification time on its own (it is part of every wall time above).
#   bench/bench_ps.sh [N]      (root: the BPF source and every process)
# Starts N sleeping processes, and kills exactly those (by pid) on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
bin=${DE_BIN:-build/src/daemoneye}
[ -x "$bin" ] || { echo "build first (scripts/build.sh): $bin missing" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "hyperfine missing: scripts/deps.sh test" >&2; exit 1; }

work=$(mktemp -d)
. bench/lib.sh
spawn_sleepers "$n"
sleep 10 # let the host settle after starting them
total=$(ls -d /proc/[0-9]* | wc -l)
echo "processes on the host: $total; load average: $(cut -d' ' -f1-3 /proc/loadavg)"

# which source the default took (a fallback would say why on stderr)
DE_BPF_STATS=1 "$bin" ps --json 2>&1 >/dev/null | sed 's/^/default source: /' || true

hyperfine --warmup 3 --runs 15 --export-json "$work/ps.json" \
  "$bin ps --json >/dev/null" \
  "$bin ps --json --source proc >/dev/null" \
  "ps -eo pid,ppid,user,args >/dev/null" \
  "$bin ps >/dev/null"

# the BPF program's load + verification and the iterator read, apart
echo "BPF load+verify and read (5 runs):"
for i in 1 2 3 4 5; do DE_BPF_STATS=1 "$bin" ps --json 2>&1 >/dev/null | grep 'bpf:' | tr '\n' ' '; echo; done

rss() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
PY
}
rss_bpf=$(rss "$bin" ps --json)
rss_proc=$(rss "$bin" ps --json --source proc)
python3 - "$work/ps.json" "$total" "$rss_bpf" "$rss_proc" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
names = ["daemoneye ps --json (auto: BPF)", "daemoneye ps --json --source proc",
         "ps -eo pid,ppid,user,args", "daemoneye ps (table, auto)"]
print(f"\nprocesses on the host: {sys.argv[2]}")
print(f"{'command':36} {'wall ms':>8} {'stddev':>7} {'median':>7} {'min':>7} {'user ms':>8} {'sys ms':>7}")
for n, x in zip(names, r):
    print(f"{n:36} {x['mean']*1000:8.1f} {x['stddev']*1000:7.1f} {x['median']*1000:7.1f} "
          f"{x['min']*1000:7.1f} {x['user']*1000:8.1f} {x['system']*1000:7.1f}")
bpf, proc, ps, table = (x["mean"] for x in r)
print(f"ratio ps / daemoneye ps --json (auto: BPF), wall: {ps/bpf:.2f}x")
print(f"ratio ps / daemoneye ps --json --source proc, wall: {ps/proc:.2f}x")
print(f"ratio ps / daemoneye ps (table), wall: {ps/table:.2f}x")
print(f"peak RSS, daemoneye ps --json (auto: BPF): {int(sys.argv[3])/1024:.1f} MiB")
print(f"peak RSS, daemoneye ps --json --source proc: {int(sys.argv[4])/1024:.1f} MiB")
PY
