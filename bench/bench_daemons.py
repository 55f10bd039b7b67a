#!/usr/bin/env python3
"""bench_daemons.py: procmond + agent under `daemoneye run`, measured from
outside (/proc/PID/stat and /proc/PID/status), not a test.

  idle:  CPU time of procmond and the agent together over a window (60 s by
         default) after a settling period, as a percentage of one core,
         with the host's exec rate during the window (what "idle" meant).
  live:  agent RSS (VmRSS, VmHWM) with N extra live processes (10,000 by
         default: `sleep` children started in the window), after the agent
         stored their fork and exec events.

  sudo bench/bench_daemons.py [--bin build/src/daemoneye] [--window 60] [--procs 10000]
"""
import argparse
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time


def stat_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def read_pid(state, name):
    with open(os.path.join(state, name)) as f:
        return int(f.read())


def execs_total():
    """Processes created since boot (the 'processes' line of /proc/stat)."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("processes "):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "build", "src",
                                                  "daemoneye"))
    ap.add_argument("--window", type=float, default=60)
    ap.add_argument("--settle", type=float, default=15)
    ap.add_argument("--procs", type=int, default=10000)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_daemons: needs root")
    state = tempfile.mkdtemp(prefix="de-bench-daemons-")
    run = subprocess.Popen([a.bin, "run", "--quiet", "--state-dir", state],
                           stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    kids = []
    try:
        time.sleep(a.settle)
        pm, ag = read_pid(state, "procmond.pid"), read_pid(state, "agent.pid")
        c0, f0, t0 = stat_cpu(pm) + stat_cpu(ag), execs_total(), time.time()
        time.sleep(a.window)
        c1, f1, t1 = stat_cpu(pm) + stat_cpu(ag), execs_total(), time.time()
        el = t1 - t0
        print(f"idle: {el:.0f} s window: procmond+agent CPU {c1 - c0:.2f} s = "
              f"{100 * (c1 - c0) / el:.3f}% of one core; host created {f1 - f0} processes "
              f"({(f1 - f0) / el:.1f}/s) meanwhile; procmond {stat_cpu(pm):.2f} s, "
              f"agent {stat_cpu(ag):.2f} s CPU since start")
        rss0 = status_kb(ag, "VmRSS")
        for _ in range(a.procs):
            kids.append(subprocess.Popen(["sleep", "3600"]))
        # settled when the store holds an exec event for every one of them
        deadline = time.time() + 300
        stored = 0
        while time.time() < deadline:
            db = sqlite3.connect(os.path.join(state, "store.db"), timeout=30)
            stored = db.execute("SELECT count(DISTINCT pid) FROM process_events WHERE type = 'exec'"
                                " AND cmdline = 'sleep 3600'").fetchone()[0]
            db.close()
            if stored >= a.procs:
                break
            time.sleep(2)
        print(f"live: {stored} of the {a.procs} sleep execs stored")
        print(f"live: agent VmRSS {rss0 / 1024:.1f} MiB before, {status_kb(ag, 'VmRSS') / 1024:.1f} MiB "
              f"with {a.procs} more live processes (VmHWM {status_kb(ag, 'VmHWM') / 1024:.1f} MiB); "
              f"procmond VmRSS {status_kb(pm, 'VmRSS') / 1024:.1f} MiB "
              f"(VmHWM {status_kb(pm, 'VmHWM') / 1024:.1f} MiB)")
        st = subprocess.run([a.bin, "status", "--state-dir", state], capture_output=True, text=True)
        print(st.stdout, end="")
    finally:
        for k in kids:
            k.kill()
        for k in kids:
            k.wait()
        run.send_signal(signal.SIGTERM)
        run.wait(timeout=60)
        subprocess.run(["rm", "-rf", state])


main()
