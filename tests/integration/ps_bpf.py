#!/usr/bin/env python3
"""ps_bpf.py: `daemoneye ps --json --source bpf` against `--source proc` on
the live host, with children whose argv holds a newline and invalid UTF-8:
pid, ppid, uids, comm, argv and entity id agree for every process in both.
Skips only when the BPF snapshot cannot load (not root, or built without)."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from tap import done, ok, skip, json_lines  # noqa: E402

BIN = os.environ["DE_BIN"]


def snap(source):
    r = subprocess.run([BIN, "ps", "--json", "--source", source],
                       capture_output=True, check=False)
    return r.returncode, r.stdout, r.stderr.decode(errors="replace")


kids = [subprocess.Popen([b"/bin/sh", b"-c", b"sleep 3600; :", b"de-ps-bpf",
                          b"a\nb", b"\xff\xfe-bad-utf8"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
        for _ in range(3)]
try:
    import time
    time.sleep(0.3)
    rc, out, err = snap("bpf")
    if rc != 0 and "built without BPF" in err:
        # a build without BPF (the default): the source must refuse plainly
        ok(rc == 1 and err.count("\n") == 1,
           "without BPF support, --source bpf fails with one clear line", err)
        rc3, out3, err3 = snap("auto")
        ok(rc3 == 0 and len(json_lines(out3)) > 3,
           "--source auto falls back to /proc", err3)
        done()
    if rc != 0 and os.geteuid() != 0:
        skip("ps --source bpf agrees with --source proc", "needs root to load BPF: " + err.strip())
        done()
    ok(rc == 0, "ps --json --source bpf runs", err)
    rc2, out2, err2 = snap("proc")
    ok(rc2 == 0, "ps --json --source proc runs", err2)
    bpf = {p["pid"]: p for p in map(json.loads, out.splitlines())}
    proc = {p["pid"]: p for p in map(json.loads, out2.splitlines())}
    common = sorted(set(bpf) & set(proc))
    ok(len(common) >= 10, f"processes in both: {len(common)}")
    ok(list(bpf) == sorted(bpf), "bpf output is in pid order")
    fields = ["ppid", "uid", "argv", "entity_id", "kernel_thread"]
    bad = []
    for pid in common:
        a, b = bpf[pid], proc[pid]
        if a["partial"] or b["partial"]:
            continue
        for f in fields:
            if a[f] != b[f]:
                bad.append((pid, f, a[f], b[f]))
        if not a["kernel_thread"] and a["comm"] != b["comm"]:
            bad.append((pid, "comm", a["comm"], b["comm"]))
    ok(not bad, "pid, ppid, uid, comm, argv, entity_id agree", "\n".join(map(str, bad[:20])))
    for k in kids:
        ok(k.pid in bpf and bpf[k.pid]["argv"] == proc.get(k.pid, {}).get("argv"),
           f"child {k.pid} with hostile argv present and equal")
    rc3, _, err3 = snap("nonsense")
    ok(rc3 == 2, "--source nonsense is a usage error", err3)
finally:
    for k in kids:  # sh and its sleep: the whole session's group
        os.killpg(k.pid, 9)
        k.wait()
done()
