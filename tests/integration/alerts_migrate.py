#!/usr/bin/env python3
"""A version 1 store with alerts in it (made here from the migration text
in src/agent/store_schema.c) opens as the current version: the alerts are kept, the
published `alerts` view reads the same, and new alerts go in after them."""
import os
import re
import sqlite3
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from tap import ok, done, run  # noqa: E402
from receivers import driver  # noqa: E402

src = os.path.join(os.path.dirname(__file__), "..", "..", "src", "agent", "store_schema.c")
text = open(src).read()
body = text[text.index("static const char v1[] ="):]
body = body[:body.index(";\n\n")]
v1 = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', body))
tmp = tempfile.mkdtemp(prefix="alerts_migrate.")
db = os.path.join(tmp, "store.db")
c = sqlite3.connect(db)
c.executescript(v1)
c.execute("PRAGMA user_version = 1")
c.execute("INSERT INTO alert_t(id, time_ns, rule_id, rule_name, severity, entity_id, pid, dedup_key,"
          " event_id, summary, detail_json) VALUES('11111111-2222-4333-8444-555555555555', 1000,"
          " 'r1', 'Rule one', 'high', 'ab', 42, 'k', 7, 'old alert', '{\"id\":\"x\"}')")
c.commit()
before = c.execute("SELECT * FROM alerts").fetchall()
c.close()
cfg = os.path.join(tmp, "cfg.yaml")
with open(cfg, "w") as f:
    f.write(f"alerting:\n  sinks:\n    - {{name: f, type: file, path: '{tmp}/out.jsonl'}}\n")
p = subprocess.run([driver(), "--store", db, "--config", cfg, "--add", "3", "--wait-idle", "60"],
                   capture_output=True, timeout=120)
ok(p.returncode == 0, "a version 1 store opens and takes new alerts", p.stdout + p.stderr)
c = sqlite3.connect(db)
ok(c.execute("PRAGMA user_version").fetchone()[0] == 3, "migrated to version 3")
rows = c.execute("SELECT * FROM alerts ORDER BY time_ns").fetchall()
ok(rows[0] == before[0] and len(rows) == 4, "the old alert reads the same through `alerts`",
   (before, rows[:1]))
ok(c.execute("SELECT count(*) FROM alert_full WHERE json IS NOT NULL").fetchone()[0] == 4,
   "alert_full has a document for every alert (the old one's detail_json)")
c.close()
r = run(["alerts", "show", "11111111-2222-4333-8444-555555555555", "--state-dir", tmp])
ok(r.returncode == 0 and b"old alert" in r.stdout, "alerts show of the migrated alert", r.stdout)
done()
