"""tap.py: a tiny TAP producer for the integration tests.

Each integration test is a Python script that calls `ok(cond, name)` per
check (or uses `case` as a decorator) and `done()` at the end; meson reads
the TAP stream. Helpers to run the built daemoneye binary live here too.
"""
import json
import os
import pwd
import subprocess
import sys
import time
import traceback

_n = 0
_failed = 0


def ok(cond, name, diag=None):
    """Report one check."""
    global _n, _failed
    _n += 1
    name = name.replace("\n", " ")
    if cond:
        print(f"ok {_n} - {name}", flush=True)
    else:
        _failed += 1
        print(f"not ok {_n} - {name}", flush=True)
        if diag:
            for line in str(diag).splitlines()[:40]:
                print(f"# {line}", flush=True)
    return bool(cond)


def skip(name, why):
    """Report a check that cannot run here, with the reason."""
    global _n
    _n += 1
    print(f"ok {_n} - {name} # SKIP {why}", flush=True)


def case(fn):
    """Run fn as one check: passes unless it raises."""
    try:
        fn()
        ok(True, fn.__name__)
    except Exception:  # noqa: BLE001 - a failing case is reported, not raised
        ok(False, fn.__name__, traceback.format_exc())
    return fn


def done():
    print(f"1..{_n}", flush=True)
    sys.exit(1 if _failed else 0)


def bin_path():
    return os.environ["DE_BIN"]


def wait_for(cond, timeout, step=0.2):
    """Poll cond() until it returns something true or timeout seconds
    pass; returns that value (or cond()'s last one)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(step)
    return cond()


def run_workspace(prefix):
    """A temporary directory for a `daemoneye run` test: (tmp, state dir
    path (not created), out dir writable by the daemon user, that user)."""
    import tempfile
    user = daemon_user()
    tmp = tempfile.mkdtemp(prefix=prefix)
    os.chmod(tmp, 0o755)
    out_dir = os.path.join(tmp, "out")
    os.mkdir(out_dir)
    os.chown(out_dir, user.pw_uid, user.pw_gid)
    return tmp, os.path.join(tmp, "state"), out_dir, user


def daemon_user():
    """The user the daemons drop to: daemoneye, else nobody (pwd entry)."""
    try:
        return pwd.getpwnam("daemoneye")
    except KeyError:
        return pwd.getpwnam("nobody")


def run(args, **kw):
    """Run daemoneye with args; returns CompletedProcess with bytes output."""
    kw.setdefault("capture_output", True)
    kw.setdefault("timeout", 120)
    return subprocess.run([bin_path()] + list(args), **kw)


def json_lines(data):
    """Parse JSON Lines strictly (bytes must be valid UTF-8 JSON)."""
    out = []
    for line in data.decode("utf-8").splitlines():
        if line:
            out.append(json.loads(line))
    return out
