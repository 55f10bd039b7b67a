#!/usr/bin/env python3
"""The command-line surface: help, usage errors, exit codes, NO_COLOR."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from tap import ok, done, run  # noqa: E402

res = run(["--help"])
ok(res.returncode == 0, "--help exits 0")
for sub in (b"ps", b"hash", b"config", b"events"):
    ok(b"\n  " + sub + b" " in res.stdout, f"--help lists {sub.decode()}")
res = run([])
ok(res.returncode == 2 and b"Usage" in res.stderr, "no subcommand: usage on stderr, exit 2")
res = run(["frobnicate"])
ok(res.returncode == 2 and b"unknown subcommand" in res.stderr, "unknown subcommand: exit 2")
res = run(["--version"])
ok(res.returncode == 0 and res.stdout.startswith(b"daemoneye "), "--version")
for sub in ("ps", "hash", "config", "events"):
    r = run([sub, "--help"])
    ok(r.returncode == 0 and b"Usage: daemoneye " + sub.encode() in r.stdout, f"{sub} --help")
    r2 = run(["help", sub])
    ok(r2.stdout == r.stdout, f"help {sub} is {sub} --help")
# The daemons and their clients (issue 4): help, usage errors.
for sub in ("procmond", "agent", "run", "status"):
    r = run([sub, "--help"])
    ok(r.returncode == 0 and b"Usage: daemoneye " + sub.encode() in r.stdout and
       b"--state-dir" in r.stdout, f"{sub} --help (with --state-dir)")
    ok(run(["help", sub]).stdout == r.stdout, f"help {sub} is {sub} --help")
    ok(run(["--help"]).stdout.count(b"\n  " + sub.encode() + b" ") == 1, f"--help lists {sub}")
    r = run([sub, "--bogus"])
    ok(r.returncode == 2, f"{sub}: unknown option exits 2")
    r = run([sub, "extra"])
    ok(r.returncode == 2 and b"unexpected argument" in r.stderr, f"{sub}: extra argument exits 2")
r = run(["procmond", "--source", "bogus"])
ok(r.returncode == 2 and b"--source" in r.stderr, "procmond: bad --source exits 2")
r = run(["procmond", "--spill-max", "10"])
ok(r.returncode == 2 and b"--spill-max" in r.stderr, "procmond: --spill-max too small exits 2")
r = run(["status", "--state-dir", "/nonexistent/de-state"])
ok(r.returncode == 1 and b"agent not reachable" in r.stdout and b"procmond  down" in r.stdout,
   "status without daemons: says so, exits 1")
r = run(["ps", "--bogus"])
ok(r.returncode == 2, "ps: unknown option exits 2")
r = run(["ps", "--columns", "pid,nosuch"])
ok(r.returncode == 2 and b"unknown column 'nosuch'" in r.stderr, "ps: unknown column named")
r = run(["ps", "--filter", "comm"])
ok(r.returncode == 2, "ps: malformed filter exits 2")
r = run(["ps", "--json", "--tree"])
ok(r.returncode == 2, "ps: --tree needs the table")
r = run(["ps", "--list-columns"])
ok(r.returncode == 0 and b"entity" in r.stdout, "ps --list-columns")
r = run(["ps", "--filter", "pid=1", "--no-header", "-o", "pid,comm"])
ok(r.returncode == 0 and r.stdout.split()[0] == b"1", "ps --filter pid=1", r.stdout)
r = run(["ps", "-p", str(os.getpid()), "-o", "pid,ppid", "--no-header"])
ok(r.stdout.split() == [str(os.getpid()).encode(), str(os.getppid()).encode()], "ps --pid")
r = run(["ps", "--user", "root", "-o", "user", "--no-header"])
ok(r.returncode == 0 and set(r.stdout.split()) == {b"root"}, "ps --user root")
r = run(["ps", "-f", "comm~python", "-o", "comm", "--no-header"])
ok(all(b"python" in line for line in r.stdout.splitlines()) and r.stdout, "ps --filter comm~")
r = run(["ps", "-K", "--json"])
ok(r.returncode == 0 and b'"kernel_thread":true' not in r.stdout and b'"pid":1,' in r.stdout,
   "ps --no-kernel leaves out kernel threads only")
r = run(["events", "--help"])
for opt in (b"--json", b"--type", b"--comm", b"--uid", b"--source", b"--count", b"--duration",
            b"--snapshot", b"--config", b"--set", b"--local", b"follows it"):
    ok(opt in r.stdout, f"events --help describes {opt.decode()}")
for bad in (["--bogus"], ["--type", "nosuch"], ["--type", ""], ["--uid", "-1"], ["--uid", "x"],
            ["--source", "kernel"], ["--count", "0"], ["--count", "1x"], ["--duration", "0"],
            ["--duration", "abc"], ["stray"]):
    r = run(["events"] + bad)
    ok(r.returncode == 2 and r.stdout == b"", f"events {' '.join(bad)}: usage error, exit 2", r.stderr)
for sub in ("alerts", "sinks"):
    r = run([sub, "--help"])
    ok(r.returncode == 0 and b"Usage: daemoneye " + sub.encode() in r.stdout, f"{sub} --help")
    ok(run(["help", sub]).stdout == r.stdout, f"help {sub} is {sub} --help")
r = run(["alerts", "--help"])
for opt in (b"--since", b"--until", b"--severity", b"--rule", b"--unacked", b"--format", b"--limit",
            b"--state-dir"):
    ok(opt in r.stdout, f"alerts --help describes {opt.decode()}")
for bad in ([], ["frob"], ["list", "--since", "yesterday"], ["list", "--severity", "urgent"],
            ["list", "--format", "xml"], ["show"], ["show", "a", "b"], ["ack"], ["list", "stray"],
            ["export", "--format", "table"], ["list", "--limit", "-1"], ["list", "--bogus"]):
    r = run(["alerts"] + bad)
    ok(r.returncode == 2 and r.stdout == b"", f"alerts {' '.join(bad)}: usage error, exit 2", r.stderr)
for bad in ([], ["frob"], ["retry"], ["retry", "1", "--all"], ["test"], ["status", "x"],
            ["status", "--format", "xml"], ["test", "a", "--severity", "huge"]):
    r = run(["sinks"] + bad)
    ok(r.returncode == 2 and r.stdout == b"", f"sinks {' '.join(bad)}: usage error, exit 2", r.stderr)
r = run(["alerts", "list", "--state-dir", "/nonexistent/state"])
ok(r.returncode == 1 and b"no store at /nonexistent/state/store.db" in r.stderr,
   "alerts list without a store says so", r.stderr)
import tempfile  # noqa: E402
with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
    f.write("log: {level: info}\nalerting:\n  sinks:\n    - {name: a, type: file}\n")
    f.flush()
    r = run(["config", "check", f.name])
    ok(r.returncode == 1 and f"{f.name}:4:7: sink a: 'path' is required".encode() in r.stderr,
       "config check validates alerting.sinks with file:line", r.stderr)
env = dict(os.environ, NO_COLOR="1")
r = run(["ps"], env=env)
ok(b"\x1b[" not in r.stdout, "no colour when not a tty / NO_COLOR")
r = run(["ps", "--tree", "-p", "1", "-o", "pid,comm"])
ok(r.returncode == 0 and b"PID" in r.stdout, "ps --tree with a selection")
done()
