#!/usr/bin/env python3
"""bench_daemons.py: procmond + agent under `daemoneye run`, measured from
outside (/proc/PID/stat and /proc/PID/status), not a test.

  idle:  CPU time of procmond and the agent together over a window (60 s by
         default) after a settling period, as a percentage of one core,
         with the host's exec rate during the window (what "idle" meant).
  storm: an exec storm (bench_ebpf -n: WORKERS processes fork and exec
         /bin/true as fast as they can for --storm seconds; with --spawn
         they posix_spawn build/bench/de_true instead, a static program
         without libc: the fastest exec this machine runs): every exec
         stored (none lost), and procmond's CPU time (all its threads: the
         source, the live table, enrichment, the ledger, IPC to the agent)
         per event it forwarded (the store's process_events rows of the
         storm), and the agent's.
  live:  agent RSS (VmRSS, VmHWM) with N extra live processes (10,000 by
         default: `sleep` children started in the window), after the agent
         stored their fork and exec events.

  sudo bench/bench_daemons.py [--bin build/src/daemoneye] [--window 60] [--storm 20] [--spawn]
                              [--workers 2] [--procs 10000]
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


def per_thread(pid, value):
    """value(/proc/PID/task/TID) summed per thread name (threads of one name together)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        d = f"/proc/{pid}/task/{tid}"
        try:
            with open(f"{d}/comm") as f:
                name = f.read().strip()
            v = value(d)
        except (OSError, StopIteration):
            continue
        out[name] = out.get(name, 0) + v
    return out


def task_cpu(d):
    with open(f"{d}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def task_wakeups(d):
    """Voluntary context switches: sleeps ended by a wakeup."""
    with open(f"{d}/status") as f:
        return next(int(x.split()[1]) for x in f if x.startswith("voluntary_ctxt_switches"))


def thread_cpu(pid):
    """CPU seconds per thread name."""
    return per_thread(pid, task_cpu)


def thread_wakeups(pid):
    return per_thread(pid, task_wakeups)


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def rss_split(pid):
    """procmond's VmRSS split by /proc/PID/smaps: {mapping group: kB}."""
    out = {}
    name = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = line.split()
            if "-" in head[0] and not head[0].endswith(":"):
                path = head[5] if len(head) > 5 else "[anon]"
                if path == "anon_inode:bpf-map":
                    name = "ring buffer"
                elif path in ("[heap]", "[anon]", "[stack]"):
                    name = "anonymous (heap, arenas, stacks)"
                elif path.startswith("/"):
                    name = "file: " + os.path.basename(path).split(".so")[0]
                else:
                    name = path
            elif head[0] == "Rss:":
                out[name] = out.get(name, 0) + int(head[1])
    return out


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


def store_count(state, sql, args=()):
    db = sqlite3.connect(os.path.join(state, "store.db"), timeout=30)
    try:
        return db.execute(sql, args).fetchone()[0]
    finally:
        db.close()


def storm(a, state, pm, ag):
    """Exec storm under the daemons: nothing lost, CPU per event."""
    bench = os.path.join(os.path.dirname(a.bin), "..", "bench", "bench_ebpf")
    target = "/bin/true"
    cmd = [bench, "-n", "-w", str(a.workers), "-d", str(a.storm)]
    if a.spawn:
        target = os.path.realpath(os.path.join(os.path.dirname(bench), "de_true"))
        if not os.access(target, os.X_OK):
            sys.exit(f"bench_daemons: --spawn needs {target} (built outside sanitizer builds)")
        cmd += ["-s", "-b", target]
    n_rows = "SELECT count(*) FROM process_events"
    ev0 = store_count(state, n_rows)
    c0 = (stat_cpu(pm), stat_cpu(ag))
    t0, w0, ts0 = thread_cpu(pm), thread_wakeups(pm), time.time()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    out = p.communicate()[0]
    execs = int(out.split("execs ")[1].split()[0])
    marker = f"{target} de-bench-{p.pid}"
    # settled when every exec of the storm is stored and procmond is quiet
    deadline, stored = time.time() + 120, 0
    while time.time() < deadline:
        stored = store_count(state, "SELECT count(*) FROM process_events WHERE type = 'exec'"
                             " AND cmdline = ?", (marker,))
        if stored >= execs:
            break
        time.sleep(1)
    time.sleep(2)
    c1 = (stat_cpu(pm), stat_cpu(ag))
    t1, w1, ts1 = thread_cpu(pm), thread_wakeups(pm), time.time()
    events = store_count(state, n_rows) - ev0
    print(f"storm: {a.workers} workers ({'spawn ' if a.spawn else 'fork+exec '}{target}), "
          f"{a.storm:.0f} s: {execs} execs ({execs / a.storm:.0f}/s), "
          f"{stored} stored, {execs - stored} lost")
    print(f"storm: {events} events stored (every fork, exec and exit on the host); procmond CPU "
          f"{c1[0] - c0[0]:.2f} s = {1e6 * (c1[0] - c0[0]) / max(events, 1):.1f} us/event, "
          f"agent {c1[1] - c0[1]:.2f} s = {1e6 * (c1[1] - c0[1]) / max(events, 1):.1f} us/event")
    split = ", ".join(f"{n} {1e6 * (t1[n] - t0.get(n, 0)) / max(events, 1):.1f}"
                      for n in sorted(t1) if t1[n] > t0.get(n, 0))
    print(f"storm: procmond us/event by thread: {split}")
    wk = ", ".join(f"{n} {(w1[n] - w0.get(n, 0)) / (ts1 - ts0):.0f}" for n in sorted(w1))
    print(f"storm: procmond wakeups/s by thread (over the {ts1 - ts0:.0f} s of storm and settling): {wk}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "build", "src",
                                                  "daemoneye"))
    ap.add_argument("--window", type=float, default=60)
    ap.add_argument("--settle", type=float, default=15)
    ap.add_argument("--storm", type=float, default=20, help="exec storm seconds (0: none)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--spawn", action="store_true",
                    help="storm with posix_spawn of build/bench/de_true (the fastest exec)")
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
        if a.storm > 0:
            storm(a, state, pm, ag)
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
        split = rss_split(pm)
        files = sum(v for k, v in split.items() if k.startswith("file: "))
        print("live: procmond RSS by mapping: " + ", ".join(
            f"{k} {v / 1024:.1f}" for k, v in sorted(split.items(), key=lambda kv: -kv[1])
            if not k.startswith("file: ") and v >= 64) + f", files {files / 1024:.1f} MiB (" + ", ".join(
            f"{k[6:]} {v / 1024:.1f}" for k, v in sorted(split.items(), key=lambda kv: -kv[1])
            if k.startswith("file: ") and v >= 256) + ", ...)")
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
