#!/usr/bin/env python3
"""`daemoneye events`: live events from the in-process collector, with
hostile command lines (newline, tab, ESC, invalid UTF-8, 1 MB of argv)
and a hostile comm. JSON Lines must parse with Python's json module and
carry the right values; the table must escape every control byte. Needs
root for the netlink source; unprivileged, only the /proc fallback is
checked."""
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from tap import ok, skip, done, bin_path  # noqa: E402

ROOT = os.geteuid() == 0
tmp = tempfile.mkdtemp(prefix="de-events-")
# comm is the executable's base name (first 15 bytes): make it hostile.
COMM = b"de\tx\x1b[31m\n\xff"
prog = os.path.join(tmp.encode(), COMM)
shutil.copy("/bin/sh", prog)
os.chmod(prog, 0o755)
BIG = [b"B%d" % i + b"x" * 99_997 for i in range(10)]  # 10 args, 1 MB in all
HOSTILE = [b"new\nline", b"tab\there", b"esc\x1b[2Jx", b"bad\xff\xfeutf8", b"quote\"back\\"]


def start(args):
    """Start `daemoneye events`; return once its startup snapshot is done."""
    p = subprocess.Popen([bin_path(), "events"] + args, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    got = b""
    fd = p.stdout.fileno()
    deadline = time.time() + 30
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 1)
        if not r:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        got += chunk
        if b"startup snapshot: " in got:
            return p, [got]
    p.kill()
    raise RuntimeError(f"no startup snapshot status: {got!r} {p.stderr.read()!r}")


def run_hostile():
    """The hostile process: sh -c 'sleep 1.5' with argv $0 $1 ..."""
    argv = [COMM, b"-c", b"sleep 1.5"] + HOSTILE + BIG
    child = subprocess.Popen(argv, executable=prog)
    child.wait()
    return child.pid, argv


def finish(p, timeout=60):
    out, err = p.communicate(timeout=timeout)
    return out, err


def hostile_json(source):
    """The hostile process seen through one source, as JSON Lines."""
    p, head = start(["--json", "--source", source, "--type", "status,exec,exit", "--comm",
                     os.fsdecode(COMM), "--count", "2",
                     "--set", "collector.argv_max_bytes=4194304", "--duration", "60"])
    pid, argv = run_hostile()
    out, err = finish(p)
    data = b"".join(head) + out
    ok(p.returncode == 0, f"{source}: events --json --count 2 exits 0", err)
    try:
        evs = [json.loads(line) for line in data.decode("utf-8").splitlines()]
        parsed = True
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        evs, parsed = [], False
        ok(False, f"{source}: JSON Lines parse", repr(e))
    if parsed:
        ok(True, f"{source}: every line is valid UTF-8 JSON (json module)")
    procs = [e for e in evs if e["type"] != "status"]
    statuses = [e for e in evs if e["type"] == "status"]
    ok(len(procs) == 2, f"{source}: --count 2 stops after two process events", procs)
    ok(any(s["status"] == "started" for s in statuses), f"{source}: the source choice is reported",
       statuses)
    ex = next((e for e in procs if e["type"] == "exec" and e["pid"] == pid), None)
    xt = next((e for e in procs if e["type"] == "exit" and e["pid"] == pid), None)
    ok(ex is not None, f"{source}: exec of the hostile process seen by pid", procs)
    ok(xt is not None, f"{source}: its exit seen by pid", procs)
    want = [a.decode("utf-8", "replace") for a in argv]
    if ex:
        ok(ex["source"] == source and ex["partial"] is False, f"{source}: exec not partial")
        ok(ex["comm"] == COMM.decode("utf-8", "replace"), f"{source}: hostile comm round-trips",
           ex["comm"])
        ok(isinstance(ex["seq"], int) and ex["time"].endswith("Z") and ex["entity_id"]
           and len(ex["entity_id"]) == 32, f"{source}: seq, time and entity id", ex["seq"])
        ok(ex["uid"] == [os.getuid()] * 4, f"{source}: creds present", ex["uid"])
        got = ex["argv"] or []
        if source == "netlink":
            # read from /proc: the whole argv and full process detail
            ok(got == want, "netlink: hostile argv round-trips (invalid UTF-8 as U+FFFD)",
               [a[:40] for a in got])
            ok(sum(len(a) for a in got) > 1_000_000 and ex["argv_truncated"] is False,
               "netlink: 1 MB of argv captured whole")
            ok(ex["exe"] is not None, "netlink: exe path present", ex["exe"])
            ok(ex["proc"] and ex["proc"]["pid"] == pid, "netlink: full process detail under 'proc'")
        else:
            # captured in the kernel at exec: argv up to the in-kernel cap (32 KiB), flagged
            joined, full = "\0".join(got), "\0".join(want)
            ok(got[:8] == want[:8] and full.startswith(joined) and ex["argv_truncated"] is True
               and 30_000 < len(joined) <= 32768,
               "ebpf: hostile argv captured in the kernel up to 32 KiB, flagged truncated",
               [a[:40] for a in got])
            ok(ex["exe_ino"] == os.stat(prog).st_ino, "ebpf: executable inode captured",
               ex["exe_ino"])
    if xt:
        ok(xt["exit_code"] == 0 and xt["exit_signal"] == 0, f"{source}: exit status 0", xt)
        ok(ex and xt["entity_id"] == ex["entity_id"], f"{source}: exit has the exec's entity id")


if ROOT:
    for source in ("netlink", "ebpf"):
        hostile_json(source)

    # Table: control bytes escaped, one line per event.
    p, head = start(["--type", "status,exec", "--comm", os.fsdecode(COMM), "--count", "1",
                     "--set", "collector.argv_max_bytes=4194304"])
    env_pid, _ = run_hostile()
    out, err = finish(p)
    table = b"".join(head) + out
    ok(p.returncode == 0, "events (table) --count 1 exits 0", err)
    ok(b"\x1b" not in table and b"\xff" not in table and b"\t" not in table,
       "table: no raw ESC, tab or invalid byte", table[:300])
    lines = table.splitlines()
    row = [ln for ln in lines if b" exec " in ln]
    ok(len(row) == 1 and str(env_pid).encode() in row[0], "table: one exec row", lines[:5])
    if row:
        ok(b"de\\tx\\e[31m\\n\\xff" in row[0], "table: comm escaped", row[0][:120])
        ok(b"new\\nline" in row[0] and b"esc\\e[2Jx" in row[0] and b"bad\\xff\\xfeutf8" in row[0],
           "table: argv escaped", row[0][:300])
        ok(row[0].endswith(b" ..."), "table: long argv cut with ' ...'")
    ok(lines[0].startswith(b"TIME") and b"COMM" in lines[0], "table header")

    # Exit codes through the CLI.
    name = "de-exit-%d" % (os.getpid() % 100000)
    sh = os.path.join(tmp, name)
    shutil.copy("/bin/sh", sh)
    p, head = start(["--json", "--type", "status,exit", "--comm", name, "--count", "2"])
    a = subprocess.Popen([name, "-c", "sleep 0.3; exit 3"], executable=sh)
    a.wait()
    b = subprocess.Popen([name, "-c", "sleep 0.3; kill -TERM $$"], executable=sh)
    b.wait()
    out, err = finish(p)
    evs = [json.loads(x) for x in out.decode().splitlines()]
    evs = [e for e in evs if e["type"] == "exit"]
    got = {e["pid"]: (e["exit_code"], e["exit_signal"]) for e in evs}
    ok(got.get(a.pid) == (3, 0), "exit code 3", got)
    ok(got.get(b.pid) == (0, 15), "death by SIGTERM", got)
else:
    skip("events via netlink", "needs root (the process connector needs CAP_NET_ADMIN)")

# /proc polling: forced, works for anyone; degraded status first.
pname = "de-poll-%d" % (os.getpid() % 100000)
shutil.copy("/bin/sleep", os.path.join(tmp, pname))
p, head = start(["--json", "--source", "proc", "--set", "collector.poll_interval_ms=100",
                 "--type", "status,exec,exit", "--comm", pname, "--count", "2",
                 "--duration", "40"])
# Lives for many poll intervals, even when a scan is slow on a loaded machine.
s = subprocess.Popen([pname, "5"], executable=os.path.join(tmp, pname))
s.wait()
out, err = finish(p)
evs = [json.loads(x) for x in (b"".join(head) + out).decode().splitlines()]
ok(p.returncode == 0, "--source proc runs", err)
st = [e for e in evs if e["type"] == "status"]
ok(st and st[0]["status"] == "started" and st[0]["detail"] == "proc (forced)", "proc forced", st)
ok(any(e["status"] == "degraded" and "polling /proc every 100 ms" in e["detail"] for e in st),
   "degraded status says why", st)
mine = [e for e in evs if e.get("pid") == s.pid]
ok([e["type"] for e in mine] == ["exec", "exit"], "polling: sleep seen once, then gone", mine)
ok(mine and mine[-1]["exit_code"] is None, "polling: exit without a status")

# A forced source that cannot start is an error that says why.
r = subprocess.run([bin_path(), "events", "--source", "ebpf", "--duration", "2"],
                   capture_output=True, timeout=60)
if b"not built in this build" in r.stderr:
    ok(r.returncode == 1, "--source ebpf in a build without it: exit 1 with the reason", r.stderr)
elif ROOT:
    ok(r.returncode == 0 and b"started: ebpf (forced)" in r.stdout,
       "--source ebpf as root starts it", r.stderr)
    r = subprocess.run([bin_path(), "events", "--source", "ebpf", "--count", "1"],
                       capture_output=True, timeout=60, user=65534, group=65534, extra_groups=[])
    ok(r.returncode == 1 and b"ebpf" in r.stderr and b"needs root" in r.stderr,
       "--source ebpf as nobody: exit 1, needs root", r.stderr)
if ROOT:
    r = subprocess.run([bin_path(), "events", "--source", "netlink", "--count", "1"],
                       capture_output=True, timeout=60, user=65534, group=65534, extra_groups=[])
    ok(r.returncode == 1 and b"needs root (CAP_NET_ADMIN)" in r.stderr,
       "--source netlink as nobody: exit 1, needs root", r.stderr)
shutil.rmtree(tmp)
done()
