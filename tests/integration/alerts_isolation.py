#!/usr/bin/env python3
"""A sink that is down never slows the others: 5,000 alerts to a file sink
and a stdout sink, next to three healthy file sinks, then next to a webhook and a TCP syslog sink
pointed at closed ports and a webhook whose server accepts connections and
never answers. The time until the file and stdout have every alert is
measured in both runs and printed; with the broken sinks it must stay
within 1.5x (+0.5 s for machine noise) of the healthy run."""
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from tap import ok, done  # noqa: E402
from receivers import driver, free_port  # noqa: E402

N = 5000
tmp = tempfile.mkdtemp(prefix="alerts_isolation.")
closed1, closed2 = free_port(), free_port()
hole = socket.socket()
hole.bind(("127.0.0.1", 0))
hole.listen(64)  # accepts (kernel backlog), never reads or answers


def run(name, extra):
    out = os.path.join(tmp, name + ".jsonl")
    cfg = os.path.join(tmp, name + ".yaml")
    with open(cfg, "w") as f:
        f.write(f"""alerting:
  sinks:
    - {{name: file, type: file, path: '{out}'}}
    - {{name: console, type: stdout, format: json}}
{extra}""")
    t0 = time.monotonic()
    p = subprocess.Popen([driver(), "--store", os.path.join(tmp, name + ".db"), "--config", cfg,
                          "--add", str(N), "--batch", "500", "--run", "120"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    got = {"stdout": 0, "t_stdout": None}

    def reader():
        for line in p.stdout:
            if line.startswith(b"{"):
                got["stdout"] += 1
                if got["stdout"] == N:
                    got["t_stdout"] = time.monotonic() - t0

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    t_file = None
    while time.monotonic() - t0 < 60:
        if t_file is None and os.path.exists(out):
            with open(out, "rb") as f:
                if f.read().count(b"\n") >= N:
                    t_file = time.monotonic() - t0
        if t_file is not None and got["t_stdout"] is not None:
            break
        time.sleep(0.01)
    p.terminate()
    p.wait(timeout=30)
    return t_file, got["t_stdout"]


# the baseline has as many sinks (three healthy extra files), so both runs
# queue the same number of deliveries: the difference is the broken sinks
healthy = run("healthy", "".join(
    f"    - {{name: extra{i}, type: file, path: '{tmp}/extra{i}.jsonl'}}\n" for i in range(3)))
broken = run("broken", f"""    - {{name: closed-hook, type: webhook, url: 'http://127.0.0.1:{closed1}/x',
       timeout_ms: 2000, max_attempts: 1000}}
    - {{name: closed-syslog, type: syslog, protocol: tcp, address: '127.0.0.1:{closed2}',
       timeout_ms: 2000, max_attempts: 1000}}
    - {{name: black-hole, type: webhook, url: 'http://127.0.0.1:{hole.getsockname()[1]}/x',
       timeout_ms: 2000, max_attempts: 1000}}
""")
print(f"# healthy: file {healthy[0]}, stdout {healthy[1]} s; with three broken sinks: "
      f"file {broken[0]}, stdout {broken[1]} s")
ok(all(x is not None for x in healthy + broken), f"file and stdout got all {N} alerts in both runs",
   (healthy, broken))
if all(x is not None for x in healthy + broken):
    ok(broken[0] <= healthy[0] * 1.5 + 0.5, "file sink not slowed by broken sinks",
       (healthy, broken))
    ok(broken[1] <= healthy[1] * 1.5 + 0.5, "stdout sink not slowed by broken sinks",
       (healthy, broken))
hole.close()
done()
