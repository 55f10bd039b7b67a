#!/usr/bin/env python3
"""`daemoneye ps` on processes built to break output formats and readers.

Hostile argv and comm (newlines, tabs, escape sequences, invalid UTF-8,
commas and quotes), an executable whose name has spaces and " (deleted)",
a deleted executable, a memfd executable, kernel threads, an unprivileged
run where pid 1 is unreadable. JSON is checked with Python's strict parser,
tables and CSV for raw control bytes, CSV with the csv module.
"""
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from tap import ok, skip, done, run, json_lines, bin_path  # noqa: E402

procs = []


def start(argv, exe=None, **kw):
    p = subprocess.Popen(argv, executable=exe, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
    procs.append(p)
    return p


def wait_exec(pid, not_exe):
    for _ in range(200):
        try:
            if os.readlink(f"/proc/{pid}/exe") != not_exe:
                return
        except OSError:
            pass
        time.sleep(0.01)


def one(pid, *extra):
    res = run(["ps", "--json", "--pid", str(pid), *extra])
    rows = json_lines(res.stdout)
    return res, (rows[0] if rows else None)


def no_control_bytes(data):
    bad = [b for b in data if (b < 0x20 and b not in (0x0a,)) or b == 0x7f]
    return not bad


tmp = tempfile.mkdtemp(prefix="de-hostile-")
try:
    hostile = [b"sh", b"-c", b"sleep 60; :", b"line1\nline2", b"tab\there",
               b"\x1b]0;owned\x07\x1b[2J", b"\xff\xfe\xc3(", b'q"uo,te', b"=1+2", b""]
    sh = start(hostile, exe="/bin/sh")
    name = os.path.join(tmp, "evil name\nwith (deleted)")
    shutil.copy("/bin/sleep", name)
    odd = start([b"sleep", b"60"], exe=name.encode())
    gone_path = os.path.join(tmp, "gone sleep")
    shutil.copy("/bin/sleep", gone_path)
    deleted = start(["sleep", "60"], exe=gone_path)
    mfd = os.memfd_create("payload", 0)
    with open("/bin/sleep", "rb") as f:
        os.write(mfd, f.read())
    memfd = start(["sleep", "60"], exe=f"/proc/self/fd/{mfd}", pass_fds=(mfd,))
    os.close(mfd)
    # a process that renames itself (comm) to newlines and escapes
    evil_comm = start(["python3", "-c",
                       "open('/proc/self/comm','w').write('a\\nb\\x1b[2J\\tc');"
                       "import time; time.sleep(60)"])
    for p in (sh, odd, deleted, memfd):
        wait_exec(p.pid, "/usr/bin/python3")
    time.sleep(0.2)
    os.unlink(gone_path)

    res, p = one(sh.pid)
    ok(res.returncode == 0 and p is not None, "hostile argv: ps --json runs")
    want = [b.decode("utf-8", "replace") for b in hostile]
    ok(p and p["argv"] == want, "hostile argv: argv list exact (invalid UTF-8 as U+FFFD)",
       f"{p and p['argv']!r} != {want!r}")

    table = run(["ps", "--pid", str(sh.pid), "-w", "-o", "pid,comm,args"]).stdout
    ok(no_control_bytes(table) and table.count(b"\n") == 2,
       "table: no raw control bytes, one line per process", table[:400])
    ok(b"line1\\nline2" in table and b"\\e]0;owned\\x07" in table and b"\\xff" in table,
       "table: control bytes and invalid UTF-8 shown escaped", table[:400])

    out = run(["ps", "--csv", "--pid", str(sh.pid), "-o", "pid,comm,args"]).stdout
    ok(no_control_bytes(out.replace(b"\r\n", b"\n")), "csv: no raw control bytes")
    rows = list(csv.reader(io.StringIO(out.decode("utf-8"))))
    ok(len(rows) == 2 and rows[0] == ["pid", "comm", "args"] and rows[1][0] == str(sh.pid),
       "csv: parses to a header and one row", rows)

    for _ in range(100):
        with open(f"/proc/{evil_comm.pid}/comm", "rb") as f:
            if f.read().startswith(b"a\n"):
                break
        time.sleep(0.02)
    res, p = one(evil_comm.pid)
    ok(p and p["comm"] == "a\nb\x1b[2J\tc", "comm with newline/escape/tab exact in JSON",
       p and repr(p["comm"]))
    table = run(["ps", "--pid", str(evil_comm.pid), "-o", "pid,comm", "--no-header"]).stdout
    ok(table.strip().endswith(b"a\\nb\\e[2J\\tc") and no_control_bytes(table),
       "comm escaped in the table", table)

    res, p = one(odd.pid)
    ok(p and p["exe"] == name and p["exe_deleted"] is False,
       "exe named with a newline and ' (deleted)' is reported as is, not deleted",
       p and (p["exe"], p["exe_deleted"]))
    res, p = one(deleted.pid, "--hash")
    with open("/bin/sleep", "rb") as f:
        import hashlib
        want_sha = hashlib.sha256(f.read()).hexdigest()
    ok(p and p["exe"] == gone_path and p["exe_deleted"] is True, "deleted executable flagged",
       p and (p["exe"], p["exe_deleted"]))
    ok(p and p["sha256"] == want_sha, "deleted executable still hashed through /proc/pid/exe",
       p and (p["sha256"], p["errors"]))
    res, p = one(memfd.pid, "--hash")
    ok(p and p["exe_memfd"] is True and p["exe"].startswith("/memfd:payload"),
       "memfd executable flagged", p and p["exe"])
    ok(p and p["sha256"] == want_sha, "memfd executable hashed", p and p["errors"])

    # kernel threads: no exe, argv empty, no errors for what does not apply
    res = run(["ps", "--json", "--pid", "2"])
    k = json_lines(res.stdout)
    ok(k and k[0]["kernel_thread"] and k[0]["exe"] is None and "exe" not in k[0]["errors"],
       "kernel thread: exe null without an error", k)

    # whole snapshot, every format, strict parsers
    res = run(["ps", "--json", "--hash", "--env"])
    try:
        allp = json_lines(res.stdout)
        valid = True
    except (ValueError, UnicodeDecodeError) as e:
        valid, allp = False, str(e)
    ok(res.returncode == 0 and valid, "full snapshot (--hash --env) is valid JSON Lines")
    res = run(["ps", "--tree", "-w"])
    ok(res.returncode == 0 and no_control_bytes(res.stdout), "tree view: no raw control bytes")
    ok(b"sleep 60; :" in res.stdout, "tree view shows the hostile process")

    # unprivileged: pid 1 is unreadable in part, nothing crashes, reasons given
    if os.geteuid() == 0:
        res = run(["ps", "--json"], preexec_fn=lambda: (os.setgid(65534), os.setuid(65534)))
        rows = json_lines(res.stdout) if res.returncode == 0 else []
        p1 = [r for r in rows if r["pid"] == 1]
        ok(res.returncode == 0 and p1, "unprivileged ps --json runs and lists pid 1", res.stderr)
        if p1:
            e = p1[0]["errors"]
            ok(p1[0]["exe"] is None and e.get("exe") == "EACCES" and e.get("cwd") == "EACCES",
               "unprivileged: pid 1 exe/cwd null with EACCES", p1[0])
            ok(p1[0]["ppid"] == 0 and p1[0]["comm"], "unprivileged: readable fields still there")
        res = run(["ps"], preexec_fn=lambda: (os.setgid(65534), os.setuid(65534)))
        ok(res.returncode == 0, "unprivileged table runs")
    else:
        skip("unprivileged run", "needs root to switch to nobody")
finally:
    for p in procs:
        p.kill()
        p.wait()
    shutil.rmtree(tmp, ignore_errors=True)
done()
