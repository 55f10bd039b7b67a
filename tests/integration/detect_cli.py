#!/usr/bin/env python3
"""`daemoneye query` and `daemoneye rules`: output of hostile process data
stays valid in every format; the validator refuses writes, ATTACH, PRAGMA,
load_extension, other functions, two statements, private tables; the time
budget stops runaway queries; rule files that are malformed, duplicate ids,
wrong types or unknown severities are refused with file:line; rules test,
list, show, enable/disable (persisted) and reload (SIGHUP through
STATE/agent.pid, or a clear message when no agent runs).

argv[1] is the mkstore helper, which writes a store with a known tree and
hostile bytes (tests/helpers/mkstore.c).
"""
import csv
import io
import json
import os
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from tap import ok, done, run, json_lines  # noqa: E402

MKSTORE = sys.argv[1]
tmp = tempfile.mkdtemp(prefix="detect_cli.")
state = os.path.join(tmp, "state")
os.makedirs(state)
import subprocess  # noqa: E402

mk = subprocess.run([MKSTORE, os.path.join(state, "store.db")], capture_output=True)
ok(mk.returncode == 0, "mkstore writes a store", mk.stderr)
pids = dict(line.split() for line in mk.stdout.decode().split("\n") if line)
S = ["--state-dir", state]


def q(sql, *extra):
    return run(["query"] + S + list(extra) + [sql])


# ---- query: formats over hostile data ----------------------------------------
SQL = "SELECT pid, comm, cmdline, argv FROM processes ORDER BY pid"
r = q(SQL, "-f", "json")
rows = []
try:
    rows = json_lines(r.stdout)
except Exception as e:  # noqa: BLE001
    ok(False, "json output parses", e)
ok(r.returncode == 0 and len(rows) == 4, "query -f json: one valid JSON object per process",
   r.stderr)
evil = [x for x in rows if x.get("pid") == int(pids["evil"])]
ok(len(evil) == 1 and evil[0]["comm"] == "evil\n\x1b[31m", "json keeps control bytes, escaped",
   evil)
if evil:
    argv = json.loads(evil[0]["argv"])
    ok(argv[1] == "line1\nline2" and argv[3] == "\ufffd\ufffd\ufffd" and argv[4] == '"q",a,b',
       "argv JSON round-trips newlines, quotes; invalid UTF-8 becomes U+FFFD", argv)
ok(isinstance(rows[0].get("pid"), int) if rows else False, "integers are JSON numbers")

r = q(SQL, "-f", "csv")
text = r.stdout.decode("utf-8")
recs = list(csv.reader(io.StringIO(text, newline="")))
ok(r.returncode == 0 and len(recs) == 5 and all(len(x) == 4 for x in recs),
   "query -f csv: header + 4 records of 4 fields", recs)
ok("\x1b" not in text and "\x07" not in text, "csv carries no raw escape or bell bytes")
r = q("SELECT json_extract(argv, '$[5]') AS a FROM processes WHERE pid = " + pids["evil"], "-f", "csv")
f = list(csv.reader(io.StringIO(r.stdout.decode("utf-8"), newline="")))
ok(r.returncode == 0 and len(f) == 2 and f[1][0] == "'=cmd|' /C calc'!A0",
   "csv: a field starting with = gets a leading quote (no spreadsheet formula)", f)
ok(text.count("\n") == 5, "csv: exactly one line per record (newlines inside fields escaped)",
   text)

r = q(SQL)
out = r.stdout.decode("utf-8")
ok(r.returncode == 0 and len(out.splitlines()) == 5, "query table: header + one line per row",
   out)
ok("\x1b" not in out and "\x07" not in out and "\\n" in out, "table escapes control bytes", out)
ok(out.splitlines()[0].split()[:4] == ["pid", "comm", "cmdline", "argv"], "table header names")

r = q("SELECT entity_id, parent_comm, grandparent_comm FROM process_ancestry WHERE pid = "
      + pids["evil"], "-f", "json")
a = json_lines(r.stdout)
ok(r.returncode == 0 and a and a[0]["parent_comm"] == "bash" and a[0]["grandparent_comm"] ==
   "sshd", "process_ancestry: parent and grandparent", a)

r = q(SQL, "--explain")
ok(r.returncode == 0 and r.stdout.startswith(b"QUERY PLAN") and
   (b"SCAN" in r.stdout or b"SEARCH" in r.stdout), "--explain prints the plan", r.stdout)

# ---- query: the validator ------------------------------------------------------
refused = [
    ("DELETE FROM alerts", b"cannot modify alerts"),
    ("INSERT INTO alerts(id) VALUES('x')", b"not allowed"),
    ("ATTACH DATABASE '/tmp/x.db' AS x", b"ATTACH is not allowed"),
    ("PRAGMA table_info(processes)", b"PRAGMA is not allowed"),
    ("SELECT load_extension('/tmp/x.so')", b"function load_extension is not allowed"),
    ("SELECT randomblob(8)", b"function randomblob is not allowed"),
    ("SELECT 1; SELECT 2", b"only one statement is allowed"),
    ("SELECT * FROM process_t", b"is not readable"),
    ("SELECT * FROM sqlite_master", b"is not readable"),
    ("SELECT foo FROM processes", b"no such column: foo"),
]
for sql, msg in refused:
    r = q(sql)
    ok(r.returncode == 1 and msg in r.stderr and r.stdout == b"", f"refused: {sql}", r.stderr)

t0 = time.monotonic()
r = q("WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT count(*) FROM r",
      "--budget-ms", "300")
dt = time.monotonic() - t0
ok(r.returncode == 1 and b"time budget of 300 ms exceeded" in r.stderr and dt < 10,
   f"infinite recursion stopped by the budget ({dt:.2f} s)", r.stderr)
r = q("SELECT a.pid FROM process_events a, process_events b, process_events c, process_events d,"
      " process_events e, process_events f, process_events g, process_events h", "--max-rows", "50",
      "-f", "json")
ok(r.returncode == 1 and b"more than 50 rows" in r.stderr and len(json_lines(r.stdout)) == 50,
   "cartesian join cut at the row cap, rows before it printed", r.stderr)
r = run(["query", "--state-dir", os.path.join(tmp, "nothing"), "SELECT 1"])
ok(r.returncode == 1 and b"no store at" in r.stderr, "missing store: says where it looked",
   r.stderr)
r = run(["query"] + S)
ok(r.returncode == 2, "query without SQL is a usage error")
r = run(["query", "--help"])
ok(r.returncode == 0 and b"--explain" in r.stdout, "query --help")

# ---- rules: files ----------------------------------------------------------------
rd = os.path.join(tmp, "rules")
os.makedirs(rd)


def write(name, text):
    p = os.path.join(rd, name)
    with open(p, "w") as f:
        f.write(text)
    return p


good = write("good.yaml", """rules:
  - id: T-TCP
    name: dev tcp
    severity: high
    mitre: [T1059.004]
    sql: |
      SELECT entity_id, id, pid FROM new_process_events
      WHERE type = 'exec' AND cmdline LIKE '%/dev/tcp/%'
""")
r = run(["rules", "validate", good])
ok(r.returncode == 0 and b"good.yaml: ok (1 rules)" in r.stdout, "rules validate: good file",
   r.stdout + r.stderr)
bad = {
    "malformed.yaml": ("id: X\nname: [unclosed\n", b"malformed.yaml:"),
    "severity.yaml": ("id: X\nname: n\nseverity: urgent\nsql: SELECT entity_id FROM processes\n",
                      b"severity.yaml:3:11"),
    "type.yaml": ("id: X\nname: n\nseverity: low\nenabled: maybe\nsql: SELECT entity_id FROM processes\n",
                  b"type.yaml:4"),
    "dup.yaml": ("rules:\n  - id: X\n    name: n\n    severity: low\n    sql: SELECT entity_id FROM processes\n"
                 "  - id: X\n    name: n\n    severity: low\n    sql: SELECT entity_id FROM processes\n",
                 b"duplicate rule id"),
    "attach.yaml": ("id: X\nname: n\nseverity: low\nsql: ATTACH DATABASE 'x' AS y\n",
                    b"attach.yaml:1: rule X: ATTACH is not allowed"),
    "fn.yaml": ("id: X\nname: n\nseverity: low\nsql: SELECT load_extension('x') AS entity_id\n",
                b"rule X: function load_extension is not allowed"),
}
for name, (text, msg) in bad.items():
    p = write(name, text)
    r = run(["rules", "validate", p])
    ok(r.returncode == 1 and msg in r.stderr, f"rules validate refuses {name} with file:line",
       r.stderr)
    os.unlink(p)

r = run(["rules", "test"] + S + [good, "-f", "json"])
hits = json_lines(r.stdout) if r.returncode == 0 else []
ok(r.returncode == 0 and len(hits) == 1 and hits[0]["pid"] == int(pids["bash"]) and
   hits[0]["rule"] == "T-TCP" and b"would alert 1 times" in r.stderr,
   "rules test: what the rule would alert on in the current store", r.stdout + r.stderr)

# ---- rules: the set, overrides, reload -------------------------------------------
r = run(["rules", "list", "--json"] + S)
lst = json_lines(r.stdout)
ok(r.returncode == 0 and len(lst) >= 30 and all(x["mitre"] for x in lst),
   f"rules list: {len(lst)} built-in rules, each with MITRE ids")
ids = {x["id"] for x in lst}
r = run(["rules", "list", "--json", "--rules-dir", rd] + S)
ok(r.returncode == 0 and len(json_lines(r.stdout)) == len(lst) + 1, "--rules-dir adds rules")
r = run(["rules", "show", "DE-RSH-001"] + S)
ok(r.returncode == 0 and b"/dev/tcp" in r.stdout and b"T1059.004" in r.stdout, "rules show")
r = run(["rules", "disable", "DE-RSH-001"] + S)
ok(r.returncode == 0 and b"disabled" in r.stdout, "rules disable", r.stderr)
r = run(["rules", "list", "--json"] + S)
st = {x["id"]: x["enabled"] for x in json_lines(r.stdout)}
ok(st.get("DE-RSH-001") is False and st.get("DE-RSH-002") is True, "disable persists in rules.state")
with open(os.path.join(state, "rules.state")) as f:
    ok("DE-RSH-001 disabled" in f.read(), "rules.state holds the override")
r = run(["rules", "enable", "DE-RSH-001"] + S)
r = run(["rules", "list", "--json"] + S)
st = {x["id"]: x["enabled"] for x in json_lines(r.stdout)}
ok(st.get("DE-RSH-001") is True, "rules enable")
r = run(["rules", "disable", "NO-SUCH-RULE"] + S)
ok(r.returncode == 1 and b"no rule NO-SUCH-RULE" in r.stderr, "unknown id refused")

r = run(["rules", "reload"] + S)
ok(r.returncode == 1 and b"no agent is running" in r.stderr, "reload without an agent says so",
   r.stderr)
got = []
signal.signal(signal.SIGHUP, lambda s, f: got.append(s))
with open(os.path.join(state, "agent.pid"), "w") as f:
    f.write(f"{os.getpid()}\n")
r = run(["rules", "reload"] + S)
time.sleep(0.2)
ok(r.returncode == 0 and got == [signal.SIGHUP], "reload validates, then SIGHUPs the agent",
   r.stdout + r.stderr)
write("broken.yaml", "id: B\nname: n\nseverity: low\nsql: PRAGMA foo\n")
got.clear()
r = run(["rules", "reload", "--rules-dir", rd] + S)
time.sleep(0.2)
ok(r.returncode == 1 and b"PRAGMA is not allowed" in r.stderr and b"not signalled" in r.stderr and
   not got, "a set that does not validate is not sent to the agent", r.stderr)
ok(len(ids) == len(lst), "rule ids are unique")

shutil.rmtree(tmp)
done()
