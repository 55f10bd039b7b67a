#!/usr/bin/env python3
"""`daemoneye ps --json` against procps `ps` on the live host.

For every process that lives through the whole comparison (present with the
same ppid/uid/comm/args in a `ps` run before AND after our snapshot), pid,
ppid, uid, comm and argv must agree. ps prints non-printable bytes as '?'
and kernel threads / empty argv as [comm]; we normalise ours the same way.
"""
import subprocess
import sys
import os

sys.path.insert(0, os.path.dirname(__file__))
from tap import ok, done, run, json_lines  # noqa: E402


def ps_snapshot():
    """pid -> (ppid, uid, comm, args) from procps, each field fetched with
    the variable-width field last so spaces inside it cannot confuse us."""
    def table(fmt):
        out = subprocess.run(["ps", "-e", "-ww", "-o", fmt], capture_output=True,
                             check=True).stdout.decode("utf-8", "replace")
        rows = {}
        for line in out.splitlines():
            parts = line.split(None, fmt.count(",") )
            if parts:
                rows[int(parts[0])] = parts[1:]
        return rows

    ids = table("pid=,ppid=,uid=")
    comm = {}
    args = {}
    for fmt, dest in (("pid=,comm=", comm), ("pid=,args=", args)):
        out = subprocess.run(["ps", "-e", "-ww", "-o", fmt], capture_output=True,
                             check=True).stdout.decode("utf-8", "replace")
        for line in out.splitlines():
            s = line.lstrip()
            pid, _, rest = s.partition(" ")
            if pid.isdigit():
                dest[int(pid)] = rest.lstrip(" ") if fmt.endswith("comm=") else rest.lstrip(" ")
    snap = {}
    for pid, (ppid, uid) in ids.items():
        if pid in comm and pid in args:
            snap[pid] = (int(ppid), int(uid), comm[pid], args[pid])
    return snap


def printable(s):
    return "".join(c if c.isprintable() else "?" for c in s)


def ours_as_ps(p):
    argv = p["argv"] or []
    if p["kernel_thread"] or not argv or argv == [""]:
        args = "[" + p["comm"] + "]"
    else:
        args = printable(" ".join(argv))
    if p["state"] == "Z":  # procps marks zombies so
        args += " <defunct>"
    return (p["ppid"], p["uid"]["real"], printable(p["comm"]), args)


before = ps_snapshot()
res = run(["ps", "--json"])
after = ps_snapshot()
ok(res.returncode == 0, "daemoneye ps --json exits 0", res.stderr)
procs = json_lines(res.stdout)
ok(len(procs) > 5, f"snapshot has processes ({len(procs)})")
ours = {p["pid"]: p for p in procs}

stable = [pid for pid in before if pid in after and before[pid] == after[pid]]
ok(len(stable) > 5, f"{len(stable)} processes lived through both ps runs")
missing = [pid for pid in stable if pid not in ours]
ok(not missing, "every stable process is in our snapshot", f"missing: {missing[:20]}")

mism = []
hostile_checked = []
for pid in stable:
    if pid not in ours:
        continue
    p = ours[pid]
    if p["ppid"] is None or p["uid"] is None:
        mism.append((pid, "unknown fields", p["errors"]))
        continue
    mine = ours_as_ps(p)
    theirs = before[pid]
    if p["kernel_thread"] and p["comm"].startswith("kworker/"):
        # kernel workers rename themselves after the work they run
        mine, theirs = mine[:2], theirs[:2]
    # procps shows comm with its own escaping and args cut at 128 KiB;
    # compare field by field so a failure says which one.
    # procps rewrites control bytes and invalid UTF-8 in args by rules of
    # its own ('\n' -> ' ', '\r' and DEL -> '.', others -> '?'); for such a
    # command line the oracle is /proc/PID/cmdline itself, byte for byte.
    hostile = any(not c.isprintable() or c == "\ufffd" for c in " ".join(p["argv"] or []))
    if hostile:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                raw = f.read()
        except OSError:
            raw = None
        if raw is not None:
            want = [a.decode("utf-8", "replace") for a in raw.split(b"\0")[:-1]]
            if not p["argv_truncated"] and want != p["argv"]:
                mism.append((pid, "argv vs /proc cmdline", p["argv"], want))
            hostile_checked.append(pid)
    for name, a, b in zip(("ppid", "uid", "comm", "args"), mine, theirs):
        if name == "args" and hostile:
            continue
        if a != b and not (name == "args" and p["argv_truncated"] and b.startswith(a[:1000])):
            mism.append((pid, name, a, b))
ok(not mism, f"pid/ppid/uid/comm/argv agree for {len(stable)} processes"
   f" ({len(hostile_checked)} hostile command lines checked against /proc/PID/cmdline)",
   "\n".join(repr(m) for m in mism[:20]))

# entity ids: unique per process, stable across two snapshots
again = {p["pid"]: p for p in json_lines(run(["ps", "--json"]).stdout)}
ents = [p["entity_id"] for p in procs if p["entity_id"]]
ok(len(ents) == len(set(ents)), "entity ids are unique")
same = [pid for pid in stable if pid in again and pid in ours
        and again[pid]["entity_id"] == ours[pid]["entity_id"]]
ok(len(same) == len([pid for pid in stable if pid in again and pid in ours]),
   "entity ids are stable across snapshots")
done()
