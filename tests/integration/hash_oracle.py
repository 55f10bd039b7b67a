#!/usr/bin/env python3
"""hash_oracle.py: `daemoneye hash` against b3sum and sha256sum.

The oracles are the reference tools themselves, run on the same files in
the same test: system binaries, an empty file, 10 MB of random bytes and a
file whose name has spaces and a newline (the tools escape such names with
a leading backslash; hashes are compared, and our escaping is checked on
its own). `--pid` is checked against the binary a started `sleep` runs,
including a deleted copy. Error handling: missing files, directories and
FIFOs fail with exit code 1 without stopping the other inputs, names are
escaped on stderr, usage errors exit 2, the size limit comes from the
configuration or --max-size.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import done, ok, run, skip  # noqa: E402

HEX = set("0123456789abcdef")


def digests(out):
    """The hex digest of each line of b3sum/sha256sum-style output (a
    leading backslash marks an escaped name)."""
    res = []
    for line in out.decode("utf-8", "surrogateescape").split("\n"):
        if not line:
            continue
        if line.startswith("\\"):
            line = line[1:]
        res.append(line[:64])
    return res


def oracle(tool, files):
    p = subprocess.run([tool] + files, capture_output=True, timeout=120, check=True)
    return digests(p.stdout)


def dh(args, **kw):
    """Run `daemoneye hash ARGS`."""
    return run(["hash"] + list(args), **kw)


def wait_exec(pid, path, timeout=10.0):
    """Wait until process pid runs `path` (its exec has completed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.readlink(f"/proc/{pid}/exe") == path:
                return True
        except OSError:
            pass
        time.sleep(0.01)
    return False


def find_kthread():
    """A kernel thread's pid (PF_KTHREAD in /proc/PID/stat), or None."""
    for pid in range(2, 300):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[6]) & 0x00200000:
            return pid
    return None


def is_hex(s):
    return len(s) == 64 and set(s) <= HEX


def main():
    have_b3 = shutil.which("b3sum") is not None
    have_sha = shutil.which("sha256sum") is not None
    tmp = tempfile.mkdtemp(prefix="de-hash-oracle-")
    children = []
    try:
        empty = os.path.join(tmp, "empty")
        open(empty, "wb").close()
        rnd = os.path.join(tmp, "random-10M")
        with open(rnd, "wb") as f:
            f.write(os.urandom(10 * 1000 * 1000))
        weird = os.path.join(tmp, "name with spaces\nand a newline")
        with open(weird, "wb") as f:
            f.write(b"weird name content\n")
        files = ["/bin/ls", "/bin/bash", empty, rnd, weird]

        # --- whole-file hashes against the reference tools -------------
        for algo, tool, have in (("blake3", "b3sum", have_b3), ("sha256", "sha256sum", have_sha)):
            if not have:
                skip(f"{algo} matches {tool}", f"{tool} not installed")
                continue
            p = dh(["--algo", algo] + files)
            ours = digests(p.stdout)
            theirs = oracle(tool, files)
            ok(p.returncode == 0, f"{algo}: exit 0", p.stderr)
            ok(all(is_hex(h) for h in ours) and len(ours) == len(files),
               f"{algo}: one hex digest per file", p.stdout)
            for f, a, b in zip(files, ours, theirs):
                ok(a == b, f"{algo} of {os.path.basename(f)!r} matches {tool}", f"{a} != {b}")

        # Default algorithm is BLAKE3; the text format is 'HEX  NAME'.
        p = dh(["/bin/ls"])
        line = p.stdout.decode()
        if have_b3:
            want = subprocess.run(["b3sum", "/bin/ls"], capture_output=True, check=True).stdout
            ok(p.stdout == want, "default output is byte-identical to b3sum", f"{line!r} vs {want!r}")
        if have_sha:
            p = dh(["--algo", "sha256", "/bin/ls", empty])
            want = subprocess.run(["sha256sum", "/bin/ls", empty], capture_output=True,
                                  check=True).stdout
            ok(p.stdout == want, "sha256 output is byte-identical to sha256sum",
               f"{p.stdout!r} vs {want!r}")

        # The newline name: escaped, the line starts with a backslash, and
        # exactly like the reference tools (they escape \\ and \n the same way).
        p = dh(["--algo", "sha256", weird])
        out = p.stdout.decode()
        ok(out.startswith("\\") and out.count("\n") == 1 and "\\n" in out,
           "newline in a name is escaped on one line", repr(out))
        if have_sha:
            want = subprocess.run(["sha256sum", weird], capture_output=True, check=True).stdout
            ok(p.stdout == want, "escaped line identical to sha256sum's", f"{p.stdout!r} vs {want!r}")

        # --algo both: BSD tag lines, both digests right.
        p = dh(["--algo", "both", rnd])
        lines = p.stdout.decode().splitlines()
        ok(p.returncode == 0 and len(lines) == 2 and lines[0].startswith("BLAKE3 (")
           and lines[1].startswith("SHA256 ("), "--algo both prints two tagged lines", p.stdout)
        if have_b3 and have_sha and len(lines) == 2:
            ok(lines[0] == f"BLAKE3 ({rnd}) = {oracle('b3sum', [rnd])[0]}"
               and lines[1] == f"SHA256 ({rnd}) = {oracle('sha256sum', [rnd])[0]}",
               "--algo both digests match b3sum and sha256sum", lines)
        if have_sha and len(lines) == 2:
            # sha256sum -c reads the tagged SHA256 line.
            chk = os.path.join(tmp, "check.sha256")
            with open(chk, "w") as f:
                f.write(lines[1] + "\n")
            c = subprocess.run(["sha256sum", "-c", chk], capture_output=True)
            ok(c.returncode == 0, "sha256sum -c accepts the tagged line", c.stdout + c.stderr)

        # --json: one object per file, valid JSON even for the weird name.
        p = dh(["--json", "--algo", "both", empty, weird])
        try:
            objs = [json.loads(x) for x in p.stdout.decode("utf-8").splitlines()]
        except ValueError as e:
            objs = []
            ok(False, "--json output parses", e)
        ok(len(objs) == 2 and objs[1].get("file") == weird and objs[0].get("size") == 0
           and objs[1].get("size") == os.path.getsize(weird),
           "--json has file names and sizes", p.stdout)
        if have_b3 and have_sha and len(objs) == 2:
            ok(objs[1].get("blake3") == oracle("b3sum", [weird])[0]
               and objs[1].get("sha256") == oracle("sha256sum", [weird])[0],
               "--json digests match the reference tools", objs)

        # Standard input: '-' and no argument at all.
        data = os.urandom(300000)
        p1 = dh(["-"], input=data)
        p2 = dh([], input=data)
        if have_b3:
            want = subprocess.run(["b3sum"], input=data, capture_output=True, check=True).stdout
            ok(p1.stdout == want and p2.stdout == want, "stdin ('-' and no FILE) matches b3sum",
               f"{p1.stdout!r} {p2.stdout!r} vs {want!r}")

        # --- --pid ---------------------------------------------------------
        sleep_bin = os.path.realpath(shutil.which("sleep"))
        child = subprocess.Popen([sleep_bin, "60"])
        children.append(child)
        ok(wait_exec(child.pid, sleep_bin), "sleep started")
        p = dh(["--pid", str(child.pid), "--algo", "sha256"])
        if have_sha:
            want = oracle("sha256sum", [sleep_bin])[0]
            ok(p.returncode == 0 and digests(p.stdout) == [want],
               "--pid sha256 matches sha256sum of the sleep binary", p.stdout + p.stderr)
        ok(p.stdout.decode().rstrip("\n").endswith("  " + sleep_bin),
           "--pid names the executable path", p.stdout)
        p = dh(["--pid", str(child.pid), "--json", "--algo", "both"])
        try:
            obj = json.loads(p.stdout)
        except ValueError:
            obj = {}
        st = os.stat(sleep_bin)
        ok(obj.get("pid") == child.pid and obj.get("file") == sleep_bin
           and obj.get("inode") == st.st_ino and obj.get("size") == st.st_size,
           "--pid --json has pid, path, inode and size", p.stdout + p.stderr)
        if have_b3:
            ok(obj.get("blake3") == oracle("b3sum", [sleep_bin])[0],
               "--pid blake3 matches b3sum", obj)

        # A deleted copy of sleep, still running.
        copy = os.path.join(tmp, "sleep-copy")
        shutil.copyfile(sleep_bin, copy)
        os.chmod(copy, 0o700)
        try:
            dchild = subprocess.Popen([copy, "60"])
        except PermissionError:
            dchild = None
            skip("--pid of a deleted executable", "temporary directory is noexec")
        if dchild:
            children.append(dchild)
            ok(wait_exec(dchild.pid, copy), "copy of sleep started")
            os.unlink(copy)
            p = dh(["--pid", str(dchild.pid), "--algo", "sha256"])
            out = p.stdout.decode()
            if have_sha:
                ok(p.returncode == 0 and digests(p.stdout) == oracle("sha256sum", [sleep_bin]),
                   "--pid of a deleted executable hashes the original bytes", out + p.stderr.decode())
            ok(out.rstrip("\n").endswith(" (deleted)"), "deleted executable is named as such", out)

        # A pid that does not exist (beyond pid_max), and a kernel thread.
        p = dh(["--pid", "2147483647"])
        ok(p.returncode == 1 and b"no such process" in p.stderr, "--pid of no process: exit 1",
           p.stderr)
        kt = find_kthread()
        if kt is None:
            skip("--pid of a kernel thread", "no kernel thread visible")
        else:
            p = dh(["--pid", str(kt)])
            # Unprivileged, the ptrace access check refuses first.
            why = (b"kernel thread",) if os.geteuid() == 0 else (b"kernel thread", b"denied")
            ok(p.returncode == 1 and any(w in p.stderr for w in why) and not p.stdout,
               "--pid of a kernel thread: exit 1", p.stderr)

        # --- errors --------------------------------------------------------
        missing = os.path.join(tmp, "does-not-exist")
        p = dh([missing])
        ok(p.returncode == 1 and missing.encode() in p.stderr and not p.stdout,
           "missing file: exit 1, named on stderr", p.stderr)
        p = dh([tmp])
        ok(p.returncode == 1 and b"directory" in p.stderr.lower(), "directory: exit 1", p.stderr)
        # The other inputs are still hashed.
        p = dh([missing, empty, tmp])
        ok(p.returncode == 1 and len(digests(p.stdout)) == 1 and p.stderr.count(b"\n") == 2,
           "errors do not stop the other files", p.stdout + p.stderr)

        fifo = os.path.join(tmp, "fifo")
        os.mkfifo(fifo)
        try:
            p = dh([fifo], timeout=10)
            ok(p.returncode == 1 and b"not a regular file" in p.stderr,
               "FIFO: rejected without blocking", p.stderr)
        except subprocess.TimeoutExpired:
            ok(False, "FIFO: rejected without blocking", "timed out")

        # Terminal escapes in a name never reach stdout or stderr raw.
        esc = os.path.join(tmp, "evil\x1b[31mred")
        with open(esc, "wb") as f:
            f.write(b"x")
        p = dh([esc, esc + "-missing"])
        ok(b"\x1b" not in p.stdout and b"\x1b" not in p.stderr
           and p.stdout.startswith(b"\\") and b"\\e[31m" in p.stdout and b"\\e[31m" in p.stderr,
           "control bytes in names are escaped on stdout and stderr", p.stdout + p.stderr)

        # --- size limit ----------------------------------------------------
        p = dh(["--max-size", "1M", rnd])
        ok(p.returncode == 1 and b"size limit" in p.stderr, "--max-size 1M refuses 10 MB", p.stderr)
        p = dh(["--max-size", str(os.path.getsize(rnd)), rnd])
        ok(p.returncode == 0, "--max-size equal to the size is accepted", p.stderr)
        p = dh(["--max-size", "0", rnd])
        ok(p.returncode == 0, "--max-size 0 means no limit", p.stderr)
        p = dh(["--set", "hashing.max_file_bytes=2048", "/bin/ls"])
        ok(p.returncode == 1 and b"size limit" in p.stderr,
           "the limit comes from the configuration (--set)", p.stderr)
        p = dh(["--max-size", "1M"], input=b"a" * (2 << 20))
        ok(p.returncode == 1 and b"size limit" in p.stderr, "the limit applies to stdin", p.stderr)

        # --- usage ---------------------------------------------------------
        for args, name in ((["--algo", "md5", empty], "unknown --algo"),
                           (["--max-size", "lots", empty], "bad --max-size"),
                           (["--pid", "abc"], "bad --pid"),
                           (["--no-such-option"], "unknown option")):
            p = dh(args)
            ok(p.returncode == 2, f"{name}: exit 2", p.stderr)
        p = dh(["--help"])
        text = p.stdout.decode()
        ok(p.returncode == 0 and all(w in text for w in ("--algo", "--pid", "--max-size", "--json",
                                                         "--config", "--set", "BLAKE3 (")),
           "--help documents every option and the formats", text)
    finally:
        for c in children:
            c.send_signal(signal.SIGKILL)
            c.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    done()


if __name__ == "__main__":
    main()
