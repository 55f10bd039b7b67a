#!/usr/bin/env python3
"""kill -9 of the real agent in the middle of delivering 10,000 alerts,
under `daemoneye run` as a user runs it: a rules directory with one rule
matching the execs of a test program, a webhook sink (HTTP on loopback)
and a file sink from --config, the built-in pack disabled with
`rules disable`. 10,000 execs of the program; when the webhook has part
of the alerts the agent is killed with SIGKILL, `run` restarts it, and
the store holds exactly one alert per exec (procmond keeps events until
the agent acknowledges them, docs/IPC.md), the webhook and the file sink
each hold every id of the store. Duplicates (delivered, then killed
before the delivery was recorded) are allowed, counted and must carry
the same alert; a lost or unknown id is a failure. Needs root."""
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from tap import ok, skip, done, bin_path, wait_for, run_workspace  # noqa: E402
from receivers import Webhook  # noqa: E402

N = 10000
BATCH = 500          # execs per burst of the generator
RULE = "TEST-AGENTKILL-001"
PROG = "de-akill-true"  # the program's name is its comm (<= 15 bytes)
# procmond's seccomp filter refuses LeakSanitizer's tracer (see daemons.py)
ENV = dict(os.environ, ASAN_OPTIONS=":".join(
    x for x in [os.environ.get("ASAN_OPTIONS", ""), "detect_leaks=0"] if x))


def de(*args, **kw):
    return subprocess.run([bin_path(), *args], capture_output=True, timeout=120, env=ENV, **kw)


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def alive_agent(pid):
    """pid is a running `daemoneye agent` (not a recycled pid)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return len(argv) > 1 and argv[1] == b"agent" and state != "Z"


def store_alerts(db):
    """[(id, rule_id, entity_id, json)] of every alert in the store."""
    c = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return c.execute("SELECT id, rule_id, entity_id, json FROM alert_full").fetchall()
    finally:
        c.close()


def store_execs(db):
    """Distinct processes that executed PROG, as stored."""
    c = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return c.execute("SELECT count(DISTINCT entity_id), count(*) FROM process_events "
                         "WHERE type = 'exec' AND comm = ?", (PROG,)).fetchone()
    finally:
        c.close()


def main():
    if os.geteuid() != 0:
        skip("agent_kill", "needs root (the daemons drop from root, procmond loads eBPF)")
        return
    tmp, state, out_dir, _ = run_workspace("de-agent-kill.")
    os.mkdir(state, 0o750)
    alerts_file = os.path.join(out_dir, "alerts.jsonl")
    rules_dir = os.path.join(tmp, "rules")
    os.mkdir(rules_dir, 0o755)
    with open(os.path.join(rules_dir, "agentkill.yaml"), "w") as f:
        f.write(f"""rules:
  - id: {RULE}
    name: Test program executed
    description: Every exec of the agent_kill test's program.
    severity: low
    mitre: [T1059]
    tags: [test]
    author: DaemonEye tests
    sql: |
      SELECT entity_id, id, pid, cmdline FROM new_process_events
      WHERE type = 'exec' AND comm = '{PROG}'
""")
    os.chmod(os.path.join(rules_dir, "agentkill.yaml"), 0o644)
    prog = os.path.join(tmp, PROG)
    shutil.copy("/bin/true", prog)
    os.chmod(prog, 0o755)
    srv = Webhook()
    cfg = os.path.join(tmp, "daemoneye.yaml")
    with open(cfg, "w") as f:
        f.write(f"""alerting:
  sinks:
    - {{name: hook, type: webhook, url: 'http://127.0.0.1:{srv.port}/alerts', timeout_ms: 2000,
       retry_base_ms: 20, retry_max_ms: 200}}
    - {{name: file1, type: file, path: '{alerts_file}'}}
""")
    os.chmod(cfg, 0o644)

    # the built-in pack off: only the test's rule raises alerts
    ls = de("rules", "list", "--json", "--state-dir", state)
    builtin = [json.loads(x)["id"] for x in ls.stdout.decode().splitlines() if x.strip()]
    bad = [i for i in builtin if de("rules", "disable", i, "--state-dir", state).returncode]
    ls = de("rules", "list", "--json", "--state-dir", state, "--rules-dir", rules_dir)
    rows = [json.loads(x) for x in ls.stdout.decode().splitlines() if x.strip()]
    on = [r["id"] for r in rows if r["enabled"]]
    ok(builtin and not bad and on == [RULE],
       f"rules disable: the {len(builtin)} built-in rules off, only {RULE} on",
       f"{bad} {on} {ls.stdout[-1500:]!r} {ls.stderr!r}")

    log = open(os.path.join(tmp, "run.log"), "wb")
    run = subprocess.Popen([bin_path(), "run", "--quiet", "--state-dir", state, "--config", cfg,
                            "--rules-dir", rules_dir], stdout=subprocess.DEVNULL, stderr=log,
                           env=ENV)
    gen = None
    pidfile = os.path.join(state, "agent.pid")
    db = os.path.join(state, "store.db")
    try:
        up = wait_for(lambda: de("status", "--json", "--state-dir", state).returncode == 0, 60)
        ok(up, "run: procmond and agent up", open(log.name).read()[-2000:])
        if not up:
            return
        time.sleep(2)  # the startup snapshot is stored
        # N execs of the program, in bursts, from one shell (its children
        # exit at once and are reaped by it)
        t0 = time.monotonic()
        gen = subprocess.Popen(["/bin/sh", "-c", f"""i=0
while [ $i -lt {N} ]; do
  "{prog}" de-agentkill-$i
  i=$((i+1))
  [ $((i % {BATCH})) -eq 0 ] && sleep 0.05
done
exit 0"""])

        got = wait_for(lambda: len(set(srv.ids())) >= N // 4, 240, 0.01)
        agent = read_pid(pidfile)
        t_kill = time.monotonic()
        got_before = len(set(srv.ids()))
        killed = bool(agent and alive_agent(agent))
        if killed:
            os.kill(agent, signal.SIGKILL)
        execs_at_kill = gen.poll() is None
        ok(got and killed and N // 10 <= got_before <= N * 9 // 10,
           f"agent (pid {agent}) killed with SIGKILL after {got_before} of {N} alerts reached "
           f"the webhook ({t_kill - t0:.1f} s after the first exec; execs "
           f"{'still running' if execs_at_kill else 'all done'})",
           f"{got_before} {agent} {open(log.name).read()[-1500:]}")
        if not killed:
            return

        # `run` reaps it and starts a new one (restart delay 1 s)
        def restarted():
            p = read_pid(pidfile)
            return p if p and p != agent and alive_agent(p) else None
        new = wait_for(restarted, 30)
        lines = open(log.name, errors="replace").read()
        ok(new and f"agent (pid {agent}) killed by signal 9" in lines,
           f"run restarted the agent (new pid {new}, {time.monotonic() - t_kill:.1f} s)",
           lines[-2000:])
        if not new:
            return
        rc = gen.wait(300)
        t_execs = time.monotonic() - t0
        ok(rc == 0, f"{N} execs of {PROG} ({t_execs:.1f} s)", rc)

        # every alert delivered: the webhook settles on N ids of the rule
        def settled():
            return len(set(srv.ids())) >= N and len(store_alerts(db)) >= N
        wait_for(settled, 240, 0.5)
        t_all = time.monotonic() - t0
        time.sleep(1)  # retries or stray duplicates still in flight arrive
        ok(de("status", "--json", "--state-dir", state).returncode == 0,
           "the restarted agent answers status")

        stored = store_alerts(db)
        ids = {r[0] for r in stored}
        mine = [r for r in stored if r[1] == RULE]
        ndist, nexec = store_execs(db)
        ok(ndist == N, f"the store holds {N} distinct execs of {PROG} (no event lost)",
           f"{ndist} distinct processes, {nexec} exec rows\n" +
           "\n".join(dict.fromkeys(open(log.name, errors="replace").read().splitlines()))[-3000:])
        print(f"# exec rows stored: {nexec} for {ndist} processes "
              f"({nexec - ndist} stored twice after the kill)", flush=True)
        ok(len(mine) == N and len({r[2] for r in mine}) == N,
           f"the store holds exactly {N} {RULE} alerts, one per exec",
           f"{len(mine)} alerts, {len({r[2] for r in mine})} processes")
        # besides the rule's alerts: the audit ledger's signed checkpoints,
        # which every sink but stdout publishes (docs/LEDGER.md)
        cps = [r for r in stored if r[1] == "DE-AUDIT-CHECKPOINT"]
        ok(len(stored) == len(mine) + len(cps) and cps and len(ids) == len(stored),
           f"no other alert in the store than {len(cps)} ledger checkpoint(s), ids unique",
           f"{[(r[1], r[0]) for r in stored if r[1] != RULE][:20]}")

        with srv.lock:
            bodies = [b for b in srv.accepted if b]
        hook = [b["id"] for b in bodies]
        ok(set(hook) == ids, f"the webhook has every id of the store ({len(ids)})",
           f"missing {len(ids - set(hook))}, unknown {len(set(hook) - ids)}")
        by_id = {r[0]: json.loads(r[3]) for r in stored if r[3]}
        differ = [b["id"] for b in bodies if b["id"] in by_id and b != by_id[b["id"]]]
        ok(len(by_id) == len(stored) and not differ,
           "every webhook delivery (duplicates too) is the stored alert",
           f"{len(differ)} differ, e.g. {differ[:3]}")
        print(f"# webhook: {len(hook)} deliveries for {len(ids)} alerts "
              f"({len(hook) - len(set(hook))} duplicates); all delivered {t_all:.1f} s after "
              f"the first exec, {time.monotonic() - t_kill:.1f} s after the kill", flush=True)

        fids = []
        fdiff = 0
        if os.path.exists(alerts_file):
            with open(alerts_file) as f:
                for line in f:
                    try:
                        a = json.loads(line)
                    except ValueError:
                        fdiff += 1  # a torn line: the file sink's own recovery failed
                        continue
                    fids.append(a["id"])
                    if a["id"] in by_id and a != by_id[a["id"]]:
                        fdiff += 1
        ok(set(fids) == ids, f"the file sink has every id of the store ({len(ids)})",
           f"missing {len(ids - set(fids))}, unknown {len(set(fids) - ids)}")
        ok(not fdiff, "every line of the file sink is a stored alert", f"{fdiff} bad lines")
        print(f"# file: {len(fids)} lines for {len(ids)} alerts "
              f"({len(fids) - len(set(fids))} duplicates)", flush=True)
        st = de("status", "--json", "--state-dir", state)
        print(f"# status after: {st.stdout.decode().strip()[:400]}", flush=True)
    finally:
        if gen and gen.poll() is None:
            gen.kill()
            gen.wait()
        run.send_signal(signal.SIGTERM)
        try:
            rc = run.wait(30)
        except subprocess.TimeoutExpired:
            run.kill()
            run.wait()
            rc = None
        ok(rc == 0, "run stops cleanly on SIGTERM", open(log.name).read()[-1500:])
        srv.close()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


main()
done()
