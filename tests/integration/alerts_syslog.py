#!/usr/bin/env python3
"""Alert delivery to a real rsyslog (Debian's rsyslogd, started here with
its own configuration in a temporary directory) over RFC 5424 on UDP, TCP
(octet counting) and TLS (a test CA made here), with JSON, CEF and LEEF
bodies. Every message rsyslog writes must parse back to the alert in the
store: the RFC 5424 header and structured data, the JSON body equal to
the stored document, and CEF/LEEF fields whose escaping (pipes,
backslashes, equals signs, newlines, tabs, control bytes inside argv and
the rule name) reverses to the original bytes."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from tap import ok, skip, done  # noqa: E402
from receivers import make_ca, driver, store_alerts, free_port  # noqa: E402

RSYSLOGD = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
if not os.path.exists(RSYSLOGD):
    skip("rsyslog receives alerts", "rsyslogd is not installed (scripts/deps.sh test installs it)")
    done()

tmp = tempfile.mkdtemp(prefix="alerts_syslog.")
certs = make_ca(tmp)
os.makedirs(os.path.join(tmp, "work"))
pu, pt, ps = free_port(), free_port(), free_port()
logs = {k: os.path.join(tmp, k + ".log") for k in ("udp", "tcp", "tls")}
conf = os.path.join(tmp, "rsyslog.conf")
with open(conf, "w") as f:
    f.write(f"""global(workDirectory="{tmp}/work" maxMessageSize="64k"
  parser.escapeControlCharactersOnReceive="off"
  defaultNetstreamDriverCAFile="{certs['ca.pem']}"
  defaultNetstreamDriverCertFile="{certs['srv.pem']}"
  defaultNetstreamDriverKeyFile="{certs['srv.key']}")
module(load="imudp")
module(load="imtcp")
template(name="raw" type="string" string="%rawmsg%\\n")
ruleset(name="udp") {{ action(type="omfile" file="{logs['udp']}" template="raw") }}
ruleset(name="tcp") {{ action(type="omfile" file="{logs['tcp']}" template="raw") }}
ruleset(name="tls") {{ action(type="omfile" file="{logs['tls']}" template="raw") }}
input(type="imudp" port="{pu}" address="127.0.0.1" ruleset="udp")
input(type="imtcp" port="{pt}" address="127.0.0.1" ruleset="tcp")
input(type="imtcp" port="{ps}" address="127.0.0.1" ruleset="tls" streamDriver.name="gtls"
      streamDriver.mode="1" streamDriver.authMode="anon")
""")
rs = subprocess.Popen([RSYSLOGD, "-n", "-f", conf, "-i", os.path.join(tmp, "pid")],
                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


t0 = time.monotonic()
while not (listening(pt) and listening(ps)) and time.monotonic() - t0 < 20:
    time.sleep(0.1)
ok(listening(pt) and listening(ps), "rsyslogd listens on TCP and TLS")
time.sleep(0.3)  # UDP input comes up with the others

cfg = os.path.join(tmp, "cfg.yaml")
with open(cfg, "w") as f:
    f.write(f"""alerting:
  sinks:
    - {{name: udp-json, type: syslog, protocol: udp, address: '127.0.0.1:{pu}'}}
    - {{name: tcp-json, type: syslog, protocol: tcp, address: '127.0.0.1:{pt}', format: json}}
    - {{name: tcp-cef, type: syslog, protocol: tcp, address: '127.0.0.1:{pt}', format: cef}}
    - {{name: tls-leef, type: syslog, protocol: tls, address: 'localhost:{ps}', format: leef,
       ca_file: '{certs['ca.pem']}', facility: 4}}
    - {{name: tls-cef, type: syslog, protocol: tls, address: '127.0.0.1:{ps}', format: cef,
       ca_file: '{certs['ca.pem']}'}}
""")
usock = os.path.join(tmp, "log.sock")
ux = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
ux.bind(usock)
ux.settimeout(30)
udgrams = []


def unix_reader():  # a local syslog daemon reads as messages come (the queue holds ~10)
    try:
        while len(udgrams) < 20:
            udgrams.append(ux.recv(65536))
    except OSError:
        pass


import threading  # noqa: E402
uthread = threading.Thread(target=unix_reader, daemon=True)
uthread.start()
with open(cfg, "a") as f:
    f.write(f"    - {{name: unix-json, type: syslog, protocol: unix, address: '{usock}'}}\n")
db = os.path.join(tmp, "store.db")
N = 20
p = subprocess.run([driver(), "--store", db, "--config", cfg, "--add", str(N), "--hostile",
                    "--wait-idle", "60"], capture_output=True, timeout=120)
ok(p.returncode == 0, "every syslog sink delivered", p.stdout + p.stderr)
stored = store_alerts(db)


def lines(path, want):
    t = time.monotonic()
    while time.monotonic() - t < 15:
        if os.path.exists(path):
            with open(path, "rb") as f:
                ls = [x for x in f.read().split(b"\n") if x]
            if len(ls) >= want:
                return ls
        time.sleep(0.1)
    return []


HDR = re.compile(rb'^<(\d+)>1 (\S+) (\S+) daemoneye (\S+) alert '
                 rb'\[daemoneye@32473 id="([^"]*)" rule="((?:[^"\\\]]|\\.)*)" severity="(\w+)"\] '
                 rb'\xef\xbb\xbf(.*)$', re.S)


def parse_5424(raw):
    m = HDR.match(raw)
    if not m:
        raise ValueError(f"not RFC 5424 as sent: {raw[:120]!r}")
    pri, ts, host, pid, aid, rule, sev, body = m.groups()
    return int(pri), aid.decode(), rule.decode(), sev.decode(), int(pid), body


def unescape(s, extra):
    """Reverse the CEF/LEEF escaping: \\\\ \\n \\r \\t \\xNN and \\<c> for c in extra."""
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i:i + 1]
        if c == b"\\" and i + 1 < len(s):
            n = s[i + 1:i + 2]
            if n == b"n":
                out += b"\n"
            elif n == b"r":
                out += b"\r"
            elif n == b"t":
                out += b"\t"
            elif n == b"x":
                out.append(int(s[i + 2:i + 4], 16))
                i += 2
            elif n == b"\\" or n in extra:
                out += n
            else:
                raise ValueError(f"bad escape {n!r}")
            i += 2
        else:
            out += c
            i += 1
    return bytes(out)


def split_unescaped(s, sep, maxsplit):
    parts, cur, i = [], bytearray(), 0
    while i < len(s):
        if s[i:i + 1] == b"\\":
            cur += s[i:i + 2]
            i += 2
            continue
        if s[i:i + 1] == sep and len(parts) < maxsplit:
            parts.append(bytes(cur))
            cur = bytearray()
        else:
            cur += s[i:i + 1]
        i += 1
    parts.append(bytes(cur))
    return parts


def parse_cef(body):
    f = split_unescaped(body, b"|", 7)
    if f[0] != b"CEF:0" or len(f) != 8:
        raise ValueError(f"not CEF: {body[:80]!r}")
    hdr = [unescape(x, b"|") for x in f[1:7]]
    ext, key, i = {}, None, 0
    # extension: key=value pairs separated by spaces; a value ends where the
    # next " key=" begins (keys are [A-Za-z0-9]+, '=' in values is escaped)
    toks = re.split(rb" (?=[A-Za-z0-9]+=)", f[7])
    for t in toks:
        k, v = t.split(b"=", 1)
        ext[k.decode()] = unescape(v, b"=")
    return hdr, ext


def parse_leef(body):
    f = split_unescaped(body, b"|", 6)
    if f[0] != b"LEEF:2.0" or f[5] != b"x09":
        raise ValueError(f"not LEEF 2.0 with tab delimiter: {body[:80]!r}")
    ext = {}
    for t in f[6].split(b"\t"):
        k, v = t.split(b"=", 1)
        ext[k.decode()] = unescape(v, b"")
    return [unescape(x, b"|") for x in f[1:5]], ext


def cmdline(doc):
    return " ".join(doc["process"]["argv"]).encode()


# JSON over UDP and TCP: the body is the stored document
for proto, sink in (("udp", "udp-json"), ("tcp", "tcp-json")):
    ls = lines(logs[proto], N if proto == "udp" else 2 * N)
    msgs = [parse_5424(x) for x in ls]
    js = [(m, json.loads(m[5])) for m in msgs if m[5].startswith(b"{")]
    ok(len(js) == N and all(d == stored[m[1]] for m, d in js),
       f"{proto}: {N} RFC 5424 messages whose JSON body is the stored alert", len(js))
    ok(all(m[0] == 13 * 8 + 3 and m[3] == "high" and m[2] == "test-20" for m, _ in js),
       f"{proto}: PRI (log audit, error), rule and severity in structured data",
       [m[:4] for m, _ in js[:2]])
    ok([m[1] for m, _ in js] == list(stored), f"{proto}: in commit order")

# CEF over TCP and TLS, LEEF over TLS: escaping reverses to the original bytes
tcp = [parse_5424(x) for x in lines(logs["tcp"], 2 * N)]
tls = [parse_5424(x) for x in lines(logs["tls"], 2 * N)]
for name, msgs in (("tcp", tcp), ("tls", tls)):
    cef = [m for m in msgs if m[5].startswith(b"CEF:")]
    good = 0
    diag = None
    for m in cef:
        doc = stored[m[1]]
        try:
            hdr, ext = parse_cef(m[5])
            want_name = doc["rule"]["name"].encode()
            if (hdr[3] == b"test-20" and hdr[4] == want_name and hdr[5] == b"8" and
                    ext["externalId"] == m[1].encode() and ext["cs1"] == cmdline(doc) and
                    ext["filePath"] == b"/bin/sh" and ext["cs1Label"] == b"commandLine"):
                good += 1
            else:
                diag = (hdr, ext)
        except ValueError as e:
            diag = e
    ok(len(cef) == N and good == N, f"{name}: CEF header and extension parse back "
       "(pipes, backslashes, equals, newlines, tabs, control bytes)", diag)
leef = [m for m in tls if m[5].startswith(b"LEEF:")]
good, diag = 0, None
for m in leef:
    doc = stored[m[1]]
    try:
        hdr, ext = parse_leef(m[5])
        if (hdr[3] == b"test-20" and ext["cmdline"] == cmdline(doc) and
                ext["cat"] == doc["rule"]["name"].encode() and ext["alertId"] == m[1].encode()
                and m[0] == 4 * 8 + 3):
            good += 1
        else:
            diag = (hdr, ext)
    except ValueError as e:
        diag = e
ok(len(leef) == N and good == N, "tls: LEEF 2.0 attributes parse back, facility 4", diag)
ok(b"a|b\\c=d\ne\tf" in cmdline(next(iter(stored.values()))), "the argv was hostile indeed")

# Unix datagram socket (a local syslog daemon's /dev/log): one message per datagram
uthread.join(timeout=30)
try:
    got = [parse_5424(x) for x in udgrams]
except ValueError as e:
    got = []
    print(f"# unix: {e}")
ok(len(got) == N and [m[1] for m in got] == list(stored) and
   all(json.loads(m[5]) == stored[m[1]] for m in got),
   "unix: one RFC 5424 datagram per alert, in order, JSON body equal to the store", len(got))
ux.close()

# TLS with a certificate that does not name the server: nothing is sent,
# and the reason is the verification failure (libssl loaded on demand).
bad = os.path.join(tmp, "bad.yaml")
with open(bad, "w") as f:
    f.write(f"""alerting:
  sinks:
    - {{name: tls-wrong-name, type: syslog, protocol: tls, address: '127.0.0.1:{ps}',
       server_name: wrong.example, ca_file: '{certs['ca.pem']}'}}
""")
bdb = os.path.join(tmp, "bad.db")


def count(path):
    with open(path, "rb") as f:
        return f.read().count(b"\n")


before = count(logs["tls"])
p = subprocess.run([driver(), "--store", bdb, "--config", bad, "--add", "1", "--run", "3"],
                   capture_output=True, timeout=60)
import sqlite3  # noqa: E402
c = sqlite3.connect(bdb)
err = c.execute("SELECT last_error FROM delivery_t").fetchall()
c.close()
ok(err and err[0][0] and "certificate verification failed" in err[0][0] and
   "hostname mismatch" in err[0][0], "tls: a certificate for another name is refused, with the reason",
   (err, p.stdout + p.stderr))
ok(count(logs["tls"]) == before, "tls: nothing reached the receiver over the refused connection")

rs.send_signal(signal.SIGTERM)
try:
    rs.wait(timeout=10)
except subprocess.TimeoutExpired:
    rs.kill()
shutil.rmtree(tmp, ignore_errors=True)
done()
