#!/usr/bin/env python3
"""kill -9 of the delivering process in the middle of 10,000 alerts,
restart, and the receivers end up with every one of the 10,000 ids: a
webhook (HTTP on loopback) and a file sink, each checked against the
store. Duplicates (sent, then killed before the delivery was recorded)
are allowed and counted; a lost or unknown id is a failure."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from tap import ok, done  # noqa: E402
from receivers import Webhook, driver, store_alerts  # noqa: E402

N = 10000
tmp = tempfile.mkdtemp(prefix="alerts_crash.")
srv = Webhook()
out = os.path.join(tmp, "alerts.jsonl")
cfg = os.path.join(tmp, "cfg.yaml")
with open(cfg, "w") as f:
    f.write(f"""alerting:
  sinks:
    - {{name: hook, type: webhook, url: 'http://127.0.0.1:{srv.port}/a', timeout_ms: 2000,
       retry_base_ms: 20, retry_max_ms: 100}}
    - {{name: file, type: file, path: '{out}', fsync: batch}}
""")
db = os.path.join(tmp, "store.db")
p = subprocess.Popen([driver(), "--store", db, "--config", cfg, "--add", str(N),
                      "--batch", "500", "--run", "600"], stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE)
line = p.stdout.readline().decode()
ok(line.startswith(f"added {N} "), "all alerts committed before the kill", line)
t0 = time.monotonic()
while len(srv.ids()) < N // 4 and time.monotonic() - t0 < 120:
    time.sleep(0.005)
got_before = len(srv.ids())
os.kill(p.pid, signal.SIGKILL)
p.wait()
ok(0 < got_before < N, f"killed mid-way ({got_before} of {N} received)", got_before)
ok(p.returncode == -signal.SIGKILL, "the driver died of SIGKILL", p.returncode)

p = subprocess.run([driver(), "--store", db, "--config", cfg, "--wait-idle", "300"],
                   capture_output=True, timeout=400)
ok(p.returncode == 0, "restart drains the backlog", p.stdout + p.stderr)
stored = store_alerts(db)
ok(len(stored) == N, f"{N} alerts in the store", len(stored))
ids = srv.ids()
ok(set(ids) == set(stored), f"the webhook has all {N} ids",
   f"missing {len(set(stored) - set(ids))}, unknown {len(set(ids) - set(stored))}")
print(f"# webhook: {len(ids)} deliveries for {N} alerts ({len(ids) - len(set(ids))} duplicates)")
with open(out) as f:
    fids = [json.loads(x)["id"] for x in f]
ok(set(fids) == set(stored), f"the file has all {N} ids",
   f"missing {len(set(stored) - set(fids))}, unknown {len(set(fids) - set(stored))}")
print(f"# file: {len(fids)} lines for {N} alerts ({len(fids) - len(set(fids))} duplicates)")
first = []
seen = set()
for i in fids:
    if i not in seen:
        seen.add(i)
        first.append(i)
ok(first == list(stored), "file order (first occurrences) is the commit order")
srv.close()
done()
