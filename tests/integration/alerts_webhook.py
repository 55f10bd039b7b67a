#!/usr/bin/env python3
"""Alert delivery to an HTTPS webhook on loopback (receivers.Webhook, a
test CA made here): a receiver that drops the first connections, answers
500s, hangs past the client's timeout, then recovers gets every alert,
none twice under different ids, in order; the bearer token arrives and
never shows in output; a 4xx dead-letters with the reason, `sinks dead`
lists it, `sinks retry` requeues it and it is delivered; TLS
verification is on by default (an unknown CA is refused)."""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from tap import ok, done, run  # noqa: E402
from receivers import Webhook, make_ca, driver, store_alerts  # noqa: E402

tmp = tempfile.mkdtemp(prefix="alerts_webhook.")
certs = make_ca(tmp)
TOKEN = "s3cr3t-token-" + os.urandom(6).hex()
with open(os.path.join(tmp, "token"), "w") as f:
    f.write(TOKEN + "\n")
os.chmod(os.path.join(tmp, "token"), 0o600)


def config(name, port, extra=""):
    path = os.path.join(tmp, name + ".yaml")
    with open(path, "w") as f:
        f.write(f"""alerting:
  sinks:
    - name: hook
      type: webhook
      url: https://localhost:{port}/alerts
      ca_file: {certs['ca.pem']}
      token_file: {tmp}/token
      headers:
        X-Tenant: test
      timeout_ms: 1000
      retry_base_ms: 50
      retry_max_ms: 200
      breaker_failures: 3
      breaker_cooldown_ms: 300
{extra}""")
    return path


def drive(cfg, store, add, wait=120):
    return subprocess.run([driver(), "--store", store, "--config", cfg, "--add", str(add),
                           "--batch", "50", "--wait-idle", str(wait)],
                          capture_output=True, timeout=wait + 60)


# 1. failures of every kind, then recovery
plan = ["drop"] * 3 + [500] * 4 + ["hang"] * 2 + [503, 502]
srv = Webhook(plan, tls=certs, hang_s=2.5)
state = os.path.join(tmp, "state1")
os.makedirs(state)
db = os.path.join(state, "store.db")
cfg = config("flaky", srv.port, "      max_attempts: 100\n")
N = 200
p = drive(cfg, db, N)
ok(p.returncode == 0, "driver drains a flaky receiver", p.stdout + p.stderr)
stored = store_alerts(db)
ids = srv.ids()
ok(len(stored) == N, f"{N} alerts in the store", len(stored))
ok(set(ids) == set(stored), "every stored alert arrived",
   f"missing {len(set(stored) - set(ids))}, extra {len(set(ids) - set(stored))}")
by_key = {}
for b in srv.accepted:
    by_key.setdefault(b["dedup_key"], set()).add(b["id"])
ok(all(len(v) == 1 for v in by_key.values()) and len(by_key) == N,
   "no alert arrived under two ids", [k for k, v in by_key.items() if len(v) > 1][:5])
first = []
for i in ids:
    if i not in first:
        first.append(i)
ok(first == list(stored), "arrival order is the commit order",
   [(a, b) for a, b in zip(first, stored) if a != b][:3])
kinds = [r[0] for r in srv.requests[:len(plan)]]
ok(kinds == plan, "the receiver went through drops, 500s, hangs and 50xs", kinds)
ok(all(r[1].get("Authorization") == "Bearer " + TOKEN for r in srv.requests),
   "every request carries the bearer token")
ok(all(r[1].get("Idempotency-Key") == (r[2] or {}).get("id") for r in srv.requests),
   "Idempotency-Key is the alert id")
ok(all(r[1].get("X-Tenant") == "test" for r in srv.requests), "custom header sent")
ok(TOKEN.encode() not in p.stdout + p.stderr, "the token never appears in output")
srv.close()

# 2. 4xx: dead-letter with the reason, list, retry, delivered
srv = Webhook([400, 422], tls=certs)
state = os.path.join(tmp, "state2")
os.makedirs(state)
db = os.path.join(state, "store.db")
cfg = config("reject", srv.port)
p = drive(cfg, db, 5)
ok(p.returncode == 0, "driver finishes with 4xx answers", p.stdout + p.stderr)
ok(len(srv.accepted) == 3, "three of five accepted, two rejected", len(srv.accepted))
r = run(["sinks", "dead", "--state-dir", state, "--format", "json"])
import json  # noqa: E402
dead = [json.loads(x) for x in r.stdout.decode().splitlines() if x]
ok(r.returncode == 0 and len(dead) == 2, "sinks dead lists two dead letters", r.stdout + r.stderr)
ok(all(d["attempts"] == 1 for d in dead), "a 4xx is not retried", dead)
ok(any("HTTP 400: rejected: bad alert" in d["reason"] for d in dead) and
   any("HTTP 422" in d["reason"] for d in dead), "the reason is the status and body", dead)
r = run(["sinks", "status", "--state-dir", state, "--config", cfg, "--format", "json"])
st = [json.loads(x) for x in r.stdout.decode().splitlines() if x]
ok(r.returncode == 0 and st and st[0]["sink"] == "hook" and st[0]["delivered"] == 3 and
   st[0]["dead"] == 2 and st[0]["pending"] == 0, "sinks status counts", st)
r = run(["sinks", "retry", str(dead[0]["id"]), "--state-dir", state])
ok(r.returncode == 0 and b"requeued" in r.stdout, "sinks retry ID", r.stdout + r.stderr)
r = run(["sinks", "retry", "--all", "--state-dir", state])
ok(r.returncode == 0 and b"requeued 1 dead letter" in r.stdout, "sinks retry --all",
   r.stdout + r.stderr)
r = run(["sinks", "retry", "999999", "--state-dir", state])
ok(r.returncode == 1, "retry of an unknown id fails", r.stderr)
p = drive(cfg, db, 0)
ok(p.returncode == 0, "driver delivers the requeued ones", p.stdout + p.stderr)
ok(set(srv.ids()) == set(store_alerts(db)), "all five delivered after retry", len(srv.ids()))
r = run(["sinks", "dead", "--state-dir", state, "--format", "json"])
ok(r.returncode == 0 and r.stdout.strip() == b"", "no dead letters left", r.stdout)
r = run(["alerts", "list", "--state-dir", state, "--format", "csv"])
ok(r.returncode == 0 and len(r.stdout.decode().splitlines()) == 6, "alerts list (csv)", r.stdout)

# 3. sinks test, and TLS verification on by default
r = run(["sinks", "test", "hook", "--config", cfg])
ok(r.returncode == 0 and b"delivered" in r.stderr, "sinks test through the webhook", r.stderr)
ok(srv.accepted[-1]["rule"]["id"] == "daemoneye-test", "the test alert arrived")
nocfg = os.path.join(tmp, "noca.yaml")
with open(nocfg, "w") as f:
    f.write(f"alerting:\n  sinks:\n    - {{name: hook, type: webhook, "
            f"url: 'https://localhost:{srv.port}/x', timeout_ms: 2000}}\n")
r = run(["sinks", "test", "hook", "--config", nocfg])
ok(r.returncode == 1 and b"certificate" in r.stderr.lower(),
   "an unknown CA is refused (verification on by default)", r.stderr)
srv.close()
shutil.rmtree(tmp, ignore_errors=True)
done()
