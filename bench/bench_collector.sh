#!/usr/bin/env bash
# Benchmark: the collector as it runs in procmond (eBPF source, live
# process table, hash worker), with N processes alive (default 10,000):
# its RSS once the startup snapshot is in the table (split into the
# process's own memory and the eBPF ring buffer's mapping), then its CPU
# time over IDLE seconds (default 60) with no process activity of ours.
#   bench/bench_collector.sh [N] [IDLE]      (root)
# Starts N sleeping processes and kills exactly those (by pid) on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
idle=${2:-60}
bin=${DE_BIN:-build/src/daemoneye}
[ -x "$bin" ] || { echo "build first (scripts/build.sh): $bin missing" >&2; exit 1; }
work=$(mktemp -d)
. bench/lib.sh
spawn_sleepers "$n"
echo "processes on the host: $(ls -d /proc/[0-9]* | wc -l); load average: $(cut -d' ' -f1-3 /proc/loadavg)"

"$bin" events --json --duration $((idle + 30)) >"$work/events.jsonl" 2>"$work/events.err" &
col=$!
sleeper_pids+=("$col")
# wait for the startup snapshot to be done
for _ in $(seq 1 300); do
  grep -q '"startup snapshot' "$work/events.jsonl" 2>/dev/null && break
  sleep 0.1
done
grep -o '"detail":"startup snapshot[^"]*"' "$work/events.jsonl" || { cat "$work/events.err"; exit 1; }
sleep 5
python3 - "$col" "$idle" <<'PY'
import os, sys, time
pid, idle = int(sys.argv[1]), int(sys.argv[2])
def status():
    d = {}
    for l in open(f"/proc/{pid}/status"):
        k, v = l.split(":", 1)
        d[k] = v.strip()
    return d
def ring_rss():
    kb, cur = 0, None
    for l in open(f"/proc/{pid}/smaps"):
        parts = l.split()
        if "-" in parts[0] and len(parts) >= 5:
            cur = parts[5] if len(parts) > 5 else ""
        elif parts[0] == "Rss:" and cur == "anon_inode:bpf-map":
            kb += int(parts[1])
    return kb
def cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
s = status()
ring = ring_rss()
rss = int(s["VmRSS"].split()[0])
print(f"RSS with the table full: {rss/1024:.1f} MiB (VmRSS), of which the eBPF ring buffer's "
      f"mapping {ring/1024:.1f} MiB; anonymous {int(s['RssAnon'].split()[0])/1024:.1f} MiB, "
      f"file {int(s['RssFile'].split()[0])/1024:.1f} MiB; peak {int(s['VmHWM'].split()[0])/1024:.1f} MiB")
print(f"RSS without the ring mapping: {(rss-ring)/1024:.1f} MiB")
c0, t0 = cpu(), time.monotonic()
time.sleep(idle)
c1, t1 = cpu(), time.monotonic()
print(f"CPU over {t1-t0:.0f} s idle: {c1-c0:.2f} s = {100*(c1-c0)/(t1-t0):.3f}% of a core")
PY
n_ev=$(wc -l <"$work/events.jsonl")
echo "events delivered meanwhile (host activity): $n_ev"
