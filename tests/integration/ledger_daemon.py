#!/usr/bin/env python3
"""procmond writes the audit ledger (issue 7, docs/LEDGER.md "Wiring into
procmond"), as real processes, as root.

procmond runs on its own; a peer speaking the agent role negotiates the
ledger capability, appends an alert, and tries record types an agent may
not append (an exec record, a STOP record): each is answered with an Error
and procmond keeps running. A marker exec runs; after SIGTERM, `audit
verify` passes and `audit show --json` holds START, CONFIG, PRIVDROP,
SOURCE, the marker's exec and exit records, the alert, STOP and CLOSE.
Every thread of procmond (the ledger's commit thread too) runs as the
daemon user with no more than the kept capabilities, under seccomp. Then
procmond is killed with SIGKILL after a marker exec and restarted: `audit
verify` still passes, the marker exec (older than one group commit) is in
the ledger, and the restart shows as an OPEN record not preceded by a
CLOSE (plus a REPAIR record when a torn tail was cut)."""
import json
import os
import pwd
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from tap import ok, skip, done, bin_path, wait_for  # noqa: E402

CAPS_KEPT = 0x0000000000080004  # cap_dac_read_search + cap_sys_ptrace (docs/SECURITY.md)
CAP_LEDGER = 0x10
LREC_EXEC, LREC_ALERT, LREC_STOP = 1, 16, 33

# Sanitizer builds: LeakSanitizer's tracer is refused by procmond's seccomp
# list (see daemons.py); no effect in normal builds.
SECCOMP_ENV = dict(os.environ, ASAN_OPTIONS=":".join(
    x for x in [os.environ.get("ASAN_OPTIONS", ""), "detect_leaks=0"] if x))


def varint(v):
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field_varint(n, v):
    return varint(n << 3) + varint(v)


def field_bytes(n, b):
    return varint(n << 3 | 2) + varint(len(b)) + b


def frame(payload):
    return b"DEIP" + bytes([1, 0]) + struct.pack("<HI", 0, len(payload)) + payload


def hello_agent(caps):
    h = field_varint(1, 2) + field_varint(2, 1) + field_varint(3, 0) + \
        field_varint(4, os.getpid()) + field_varint(6, caps)
    return frame(field_bytes(1, h))


def ledger_append(rtype, key, payload):
    m = field_varint(1, rtype) + field_bytes(2, key) + field_bytes(3, payload)
    return frame(field_bytes(8, m))


def read_varint(b, i):
    shift = v = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, i


def fields(b):
    out, i = {}, 0
    while i < len(b):
        key, i = read_varint(b, i)
        n, wt = key >> 3, key & 7
        if wt == 0:
            v, i = read_varint(b, i)
        elif wt == 2:
            ln, i = read_varint(b, i)
            v = b[i:i + ln]
            i += ln
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wt}")
        out[n] = v
    return out


class Peer:
    """A raw connection speaking the agent role; collects Envelopes."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(10)
        self.s.connect(path)
        self.buf = b""
        self.closed = False

    def send(self, data):
        self.s.sendall(data)

    def envelopes(self, secs):
        """Envelopes received within secs seconds (as {field: bytes})."""
        end, out = time.time() + secs, []
        while time.time() < end and not self.closed:
            self.s.settimeout(max(0.05, end - time.time()))
            try:
                c = self.s.recv(1 << 20)
                if not c:
                    self.closed = True
                self.buf += c
            except (socket.timeout, TimeoutError):
                pass
            except (ConnectionResetError, BrokenPipeError):
                self.closed = True
            while len(self.buf) >= 12:
                n = struct.unpack("<I", self.buf[8:12])[0]
                if len(self.buf) < 12 + n:
                    break
                out.append(fields(self.buf[12:12 + n]))
                self.buf = self.buf[12 + n:]
        return out

    def close(self):
        self.s.close()


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def read_pid(state):
    try:
        with open(os.path.join(state, "procmond.pid")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return 0


STARTED = []  # every daemon started here, killed at the end if still running


def log_count(log, text):
    with open(log, "rb") as f:
        return f.read().count(text.encode())


def start(state, log):
    """procmond, up once it logged its privilege drop (the ledger is opened before it)."""
    lf = open(log, "ab")
    before = log_count(log, "procmond: running as")
    p = subprocess.Popen([bin_path(), "procmond", "--state-dir", state], stdout=subprocess.DEVNULL,
                         stderr=lf, env=SECCOMP_ENV)
    STARTED.append(p)
    sock = os.path.join(state, "ipc", "procmond.sock")
    up = wait_for(lambda: os.path.exists(sock) and read_pid(state) == p.pid
                  and log_count(log, "procmond: running as") > before, 60)
    return p, lf, sock, up


def stop(p, lf):
    p.terminate()
    try:
        rc = p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = None
    lf.close()
    return rc


def audit(state, *args):
    return subprocess.run([bin_path(), "audit"] + list(args) + ["--state-dir", state],
                          capture_output=True, timeout=120)


def records(state):
    p = audit(state, "show", "--json")
    out = []
    for line in p.stdout.decode(errors="replace").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return p.returncode, out


def thread_status(pid):
    out = []
    for t in os.listdir(f"/proc/{pid}/task"):
        st = {}
        try:
            with open(f"/proc/{pid}/task/{t}/status") as f:
                for line in f:
                    k, _, v = line.partition(":")
                    st[k] = v.strip()
        except OSError:
            continue
        out.append((t, st))
    return out


def start_agent(state, user, log):
    lf = open(log, "ab")
    a = subprocess.Popen(["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}",
                          "--clear-groups", bin_path(), "agent", "--state-dir", state],
                         stdout=subprocess.DEVNULL, stderr=lf)
    STARTED.append(a)
    return a


def procmond_ledger_status(state):
    """procmond's "ledger" object from `status --json` once the agent answers."""
    def get():
        p = subprocess.run([bin_path(), "status", "--json", "--state-dir", state],
                           capture_output=True, timeout=30)
        try:
            st = json.loads(p.stdout)
        except ValueError:
            return None
        for c in st.get("components", []):
            if c.get("component") == "procmond" and "ledger" in c:
                return c["ledger"]
        return None
    return wait_for(get, 30, 0.5)


def marker_exec(arg):
    p = subprocess.Popen(["/bin/sh", "-c", "exit 3", arg])
    p.wait()
    return p.pid


def first_run(tmp, user):
    state = os.path.join(tmp, "s")
    log = os.path.join(tmp, "procmond.log")
    p, lf, sock, up = start(state, log)
    ok(up, "procmond up", open(log).read())
    if not up:
        stop(p, lf)
        return None
    keyf = os.path.join(state, "keys", "ledger.key")
    st = os.stat(keyf)
    ok(st.st_uid == 0 and st.st_mode & 0o777 == 0o400, "the signing key is root's, mode 0400",
       f"{st.st_uid} {oct(st.st_mode)}")
    ldir = os.path.join(state, "ledger")
    ok(all(os.stat(os.path.join(ldir, f)).st_uid == user.pw_uid for f in ("records", "FORMAT", "tree")),
       "the ledger's files belong to the daemon user")
    threads = thread_status(p.pid)
    bad = [(t, s.get("Uid"), s.get("CapEff"), s.get("Seccomp")) for t, s in threads
           if s.get("Uid", "").split()[:1] != [str(user.pw_uid)]
           or int(s.get("CapEff", "f" * 16), 16) & ~CAPS_KEPT or s.get("Seccomp") != "2"]
    ok(len(threads) >= 3 and not bad,
       f"every thread of procmond ({len(threads)}, the ledger's commit thread too) runs as "
       f"{user.pw_name}, no more than the kept capabilities, seccomp on", str(bad))

    peer = Peer(sock)
    peer.send(hello_agent(0x1F))
    envs = peer.envelopes(2)
    acks = [fields(e[2]) for e in envs if 2 in e]
    ok(acks and acks[0].get(1) == 1 and acks[0].get(4, 0) & CAP_LEDGER,
       "HelloAck offers the ledger capability", str(acks))
    alert = b'{"id":"ledger-daemon-alert-1","rule":"test","marker":"lw-alert-marker"}'
    peer.send(ledger_append(LREC_ALERT, b"ledger-daemon-alert-1", alert))
    peer.send(ledger_append(LREC_EXEC, b"forged", b"\x01\x04\x00\x00\x00\x01"))
    peer.send(ledger_append(LREC_STOP, b"forged-stop", b""))
    envs = peer.envelopes(3)
    errs = [fields(e[7]) for e in envs if 7 in e]
    ok(len(errs) == 2 and all(e.get(1) == 1 for e in errs),
       "LedgerAppend of an exec and of a STOP record: each refused with Error EPERM", str(errs))
    ok(not peer.closed and alive(p.pid), "procmond keeps running and the connection stays open")
    peer.close()
    ok(b"LedgerAppend type 1 refused" in open(log, "rb").read(), "the refusal is logged")

    pid = marker_exec("lw-marker-exec-1")
    time.sleep(1)
    rc = stop(p, lf)
    ok(rc == 0, "procmond stops cleanly on SIGTERM", open(log).read()[-2000:])
    v = audit(state, "verify")
    ok(v.returncode == 0, "audit verify after a clean stop", (v.stdout + v.stderr).decode())
    rc, recs = records(state)
    ok(rc == 0 and recs, "audit show --json", str(rc))
    types = [r.get("type") for r in recs]
    for t in ("open", "start", "config", "privdrop", "source", "stop", "close"):
        ok(t in types, f"a {t} record", str(types[:20]))
    pd = [r for r in recs if r.get("type") == "privdrop"]
    ok(pd and pd[0].get("result") == 0 and pd[0].get("uid") == user.pw_uid
       and "seccomp on" in pd[0].get("detail", ""), "privdrop record: result 0, uid, seccomp on",
       str(pd))
    start_r = [r for r in recs if r.get("type") == "start"]
    ok(start_r and f"pid {p.pid}" in start_r[0].get("detail", ""), "start record names the pid",
       str(start_r))
    ex = [r for r in recs if r.get("type") == "exec" and r.get("pid") == pid
          and "lw-marker-exec-1" in r.get("argv", [])]
    ok(len(ex) == 1, "the marker's exec record (pid and argv)", str(ex))
    xt = [r for r in recs if r.get("type") == "exit" and r.get("pid") == pid]
    ok(len(xt) == 1, "the marker's exit record", str(xt))
    al = [r for r in recs if r.get("type") == "alert"]
    ok(len(al) == 1 and "lw-alert-marker" in json.dumps(al[0]), "the agent's alert is recorded once",
       str(al))
    ok(types[-2:] == ["stop", "close"], "the ledger ends with stop, close", str(types[-4:]))
    ok(not any(r.get("type") == "exec" and "pid" not in r for r in recs),
       "no forged exec record (every exec record has a pid)")
    return state


def crash_run(tmp, state, user):
    log = os.path.join(tmp, "procmond2.log")
    p, lf, sock, up = start(state, log)
    ok(up, "procmond up again", open(log).read())
    if not up:
        stop(p, lf)
        return
    pid = marker_exec("lw-marker-exec-2")
    time.sleep(1.5)  # well past one group commit (100 ms)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    lf.close()
    p, lf, sock, up = start(state, log)
    ok(up, "procmond restarts after SIGKILL", open(log).read()[-2000:])
    agent = start_agent(state, user, os.path.join(tmp, "agent.log"))
    led = procmond_ledger_status(state)
    ok(led and led["state"] == "recording" and led["error"] is None and led["records"] > 0
       and 0 < led["checkpoint"] <= led["records"],
       "status --json: procmond's ledger is recording, with its size and last checkpoint", str(led))
    agent.terminate()
    agent.wait(timeout=30)
    rc = stop(p, lf)
    ok(rc == 0, "the restarted procmond stops cleanly", open(log).read()[-2000:])
    v = audit(state, "verify")
    ok(v.returncode == 0, "audit verify after kill -9 and restart", (v.stdout + v.stderr).decode())
    rc, recs = records(state)
    types = [r.get("type") for r in recs]
    ok(any(r.get("type") == "exec" and r.get("pid") == pid and "lw-marker-exec-2" in r.get("argv", [])
           for r in recs), "the exec before the kill is in the ledger")
    opens = [i for i, t in enumerate(types) if t == "open"]
    ok(len(opens) == 3, "three open records (three runs)", str(opens))
    if len(opens) == 3:
        i = opens[2]
        prev = [t for t in types[opens[1]:i] if t != "repair"]
        ok(prev and prev[-1] not in ("close", "stop"),
           "the restart after the kill shows: its open record follows no close", str(types[i - 3:i + 2]))
    ok(types[-2:] == ["stop", "close"], "the restarted run ends with stop, close", str(types[-4:]))


def damaged_run(tmp, state, user):
    """Damage inside what a checkpoint covers: procmond monitors without a ledger."""
    ldir = os.path.join(state, "ledger")
    with open(os.path.join(ldir, "TAIL")) as f:
        last = int(f.read().split()[2])  # where the last checkpointed record starts
    rec = os.path.join(ldir, "records")
    with open(rec, "r+b") as f:
        f.seek(last + 30)
        c = f.read(1)
        f.seek(last + 30)
        f.write(bytes([c[0] ^ 1]))
    damaged = open(rec, "rb").read()
    log = os.path.join(tmp, "procmond3.log")
    p, lf, sock, up = start(state, log)
    ok(up, "with a damaged ledger procmond still starts", open(log).read()[-2000:])
    if not up:
        stop(p, lf)
        return
    ok(b"AUDIT LEDGER NOT OPEN" in open(log, "rb").read(), "and logs that it runs without a ledger",
       open(log).read()[-2000:])
    peer = Peer(sock)
    peer.send(hello_agent(0x1F))
    envs = peer.envelopes(2)
    acks = [fields(e[2]) for e in envs if 2 in e]
    ok(acks and acks[0].get(1) == 1 and not acks[0].get(4, 0) & CAP_LEDGER,
       "HelloAck without a ledger does not offer the ledger capability", str(acks))
    peer.send(ledger_append(LREC_ALERT, b"a", b'{"id":"a"}'))
    errs = [fields(e[7]) for e in peer.envelopes(2) if 7 in e]
    ok(len(errs) == 1 and alive(p.pid), "an alert without a ledger: Error, procmond keeps running",
       str(errs))
    peer.close()
    time.sleep(0.5)
    agent = start_agent(state, user, os.path.join(tmp, "agent3.log"))
    led = procmond_ledger_status(state)
    ok(led and led["state"] == "not open" and led["error"] == os.strerror(117),
       "status --json: procmond's ledger is not open (EUCLEAN)", str(led))
    t = subprocess.run([bin_path(), "status", "--state-dir", state], capture_output=True, timeout=30)
    ok(b"procmond audit ledger: not open" in t.stdout, "status (table) says so too", t.stdout)
    agent.terminate()
    agent.wait(timeout=30)
    rc = stop(p, lf)
    ok(rc == 0, "procmond without a ledger stops cleanly", open(log).read()[-2000:])
    ok(open(rec, "rb").read() == damaged, "the damaged records are left as they are")
    v = audit(state, "verify")
    ok(v.returncode == 1, "audit verify reports the damage", (v.stdout + v.stderr).decode())


def enospc_run(tmp):
    """A full disk: the ledger stops with ENOSPC, procmond keeps running, and
    once there is room again it reopens the ledger (repairing the tail)."""
    state = os.path.join(tmp, "small")
    os.mkdir(state)
    m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", state], capture_output=True)
    if m.returncode != 0:
        skip("ledger on a full disk", f"cannot mount a tmpfs: {m.stderr.decode().strip()}")
        return
    try:
        log = os.path.join(tmp, "procmond-small.log")
        p, lf, sock, up = start(state, log)
        ok(up, "procmond up on a 3 MiB tmpfs", open(log).read()[-2000:])
        if not up:
            stop(p, lf)
            return
        fill = os.path.join(state, "fill")
        subprocess.run(["dd", "if=/dev/zero", f"of={fill}", "bs=64k"], capture_output=True)
        failed = wait_for(lambda: (marker_exec("lw-full-disk") and False) or
                          log_count(log, "No space left on device") > 0, 30)
        ok(failed and alive(p.pid), "the disk full: the ledger's error is logged, procmond runs on",
           open(log).read()[-2000:])
        os.unlink(fill)
        back = wait_for(lambda: log_count(log, "audit ledger reopened") > 0, 30)
        ok(back, "with room again the ledger is reopened", open(log).read()[-2000:])
        pid = marker_exec("lw-after-reopen")
        time.sleep(1)
        rc = stop(p, lf)
        ok(rc == 0, "procmond stops cleanly", open(log).read()[-2000:])
        v = audit(state, "verify")
        ok(v.returncode == 0, "audit verify after the full disk", (v.stdout + v.stderr).decode())
        rc, recs = records(state)
        types = [r.get("type") for r in recs]
        ok(types.count("open") == 2, "the reopening is an open record", str(types))
        ok(any(r.get("type") == "exec" and r.get("pid") == pid for r in recs),
           "an exec after the reopening is recorded")
    finally:
        subprocess.run(["umount", "-l", state])


def main():
    if os.geteuid() != 0:
        skip("ledger_daemon", "needs root: procmond starts as root and drops")
        done()
    user = None
    for name in ("daemoneye", "nobody"):
        try:
            user = pwd.getpwnam(name)
            break
        except KeyError:
            pass
    tmp = tempfile.mkdtemp(prefix="de-ledgerd-")
    os.chmod(tmp, 0o755)
    try:
        state = first_run(tmp, user)
        if state:
            crash_run(tmp, state, user)
            damaged_run(tmp, state, user)
        enospc_run(tmp)
    finally:
        for p in STARTED:
            if p.poll() is None:
                p.kill()
                p.wait()
    subprocess.run(["rm", "-rf", tmp])
    done()


main()
