#!/usr/bin/env python3
"""`daemoneye config`: show (text and JSON), keys, check, and the layer
precedence (defaults < XDG file < DAEMONEYE_* < --set; --config replaces the
files) as seen in the origins `config show` reports.

Every run gets HOME and XDG_CONFIG_HOME in a private temporary directory and
no DAEMONEYE_* variables, so the host's own configuration cannot interfere
(/etc/daemoneye/daemoneye.yaml is honoured if the host has one: checks that
assume defaults are skipped then).
"""
import json
import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from tap import ok, skip, done, run  # noqa: E402

FIXTURES = os.path.join(os.environ["DE_FIXTURES"], "config")
KEYS = [
    "log.level", "state_dir", "collector.source", "collector.poll_interval_ms",
    "collector.argv_max_bytes", "collector.capture_env", "collector.env_max_bytes",
    "collector.redact_env", "collector.resync_interval_s", "collector.ring_buffer_bytes",
    "collector.max_exited", "collector.pin_snapshot", "hashing.enabled", "hashing.inline_max_bytes",
    "hashing.max_file_bytes", "hashing.cache_entries",
]
W = max(len(k) for k in KEYS)  # `config show` aligns on the longest key
ETC = "/etc/daemoneye/daemoneye.yaml"
HOST_HAS_ETC = os.path.exists(ETC)

tmp = tempfile.mkdtemp(prefix="config_cli.")
home = os.path.join(tmp, "home")
xdg = os.path.join(tmp, "xdg")
os.makedirs(home)
os.makedirs(os.path.join(xdg, "daemoneye"))


def env(**extra):
    e = {k: v for k, v in os.environ.items() if not k.startswith("DAEMONEYE_")}
    e["HOME"] = home
    e["XDG_CONFIG_HOME"] = xdg
    e.update(extra)
    return {k: v for k, v in e.items() if v is not None}


def de(args, **extra):
    return run(["config"] + list(args), env=env(**extra))


def show_json(args=(), **extra):
    r = de(["show", "--json"] + list(args), **extra)
    if r.returncode != 0:
        raise AssertionError(f"rc={r.returncode} stderr={r.stderr!r}")
    return json.loads(r.stdout.decode("utf-8"))


def fixture(name):
    return os.path.join(FIXTURES, name)


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


# --- show -------------------------------------------------------------------
r = de(["show"])
ok(r.returncode == 0 and r.stderr == b"", "show: exit 0, nothing on stderr", r.stderr)
lines = r.stdout.decode("utf-8").splitlines()
ok([ln.split(" ", 1)[0] for ln in lines] == KEYS, "show: every key, in schema order", r.stdout)
pat = re.compile(r"^(\S+) += (.*)  # (.*)$")
eq_cols = {ln.index(" = ") for ln in lines if " = " in ln}
ok(len(eq_cols) == 1 and all(pat.match(ln) for ln in lines),
   "show: aligned 'key = value  # origin' lines", r.stdout)
if HOST_HAS_ETC:
    skip("show: all defaults", f"{ETC} exists on this host")
else:
    ok(all(ln.endswith("  # default") for ln in lines), "show: all defaults", r.stdout)
    ok(f"{'log.level':<{W}} = info  # default" in lines, "show: log.level line", r.stdout)
    ok(f"{'state_dir':<{W}} = \"\"  # default" in lines, "show: empty string quoted", r.stdout)

cfg = show_json()
ok(list(cfg) == KEYS and all(set(v) == {"value", "origin"} for v in cfg.values()),
   "show --json: one object, {value, origin} per key", cfg)
if not HOST_HAS_ETC:
    ok(cfg["collector.argv_max_bytes"] == {"value": 32768, "origin": "default"}
       and cfg["collector.capture_env"]["value"] is False
       and cfg["hashing.max_file_bytes"]["value"] == 268435456
       and cfg["collector.redact_env"]["value"][:2] == ["*KEY*", "*SECRET*"]
       and len(cfg["collector.redact_env"]["value"]) == 11
       and cfg["log.level"]["value"] == "info" and cfg["state_dir"]["value"] == "",
       "show --json: typed default values", cfg)

# --- precedence ---------------------------------------------------------------
xdg_file = os.path.join(xdg, "daemoneye", "daemoneye.yaml")
write(xdg_file, b"collector:\n  argv_max_bytes: 4096\n  poll_interval_ms: 2000\n"
      b"hashing:\n  cache_entries: 300\n")
cfg = show_json()
ok(cfg["collector.argv_max_bytes"] == {"value": 4096, "origin": f"{xdg_file}:2:19"}
   and cfg["collector.poll_interval_ms"]["origin"] == f"{xdg_file}:3:21",
   "XDG file over defaults, origin FILE:LINE:COL", cfg)

cfg = show_json(DAEMONEYE_COLLECTOR_ARGV_MAX_BYTES="5000", DAEMONEYE_LOG_LEVEL="debug")
ok(cfg["collector.argv_max_bytes"] == {"value": 5000,
                                       "origin": "env DAEMONEYE_COLLECTOR_ARGV_MAX_BYTES"}
   and cfg["collector.poll_interval_ms"]["value"] == 2000
   and cfg["log.level"] == {"value": "debug", "origin": "env DAEMONEYE_LOG_LEVEL"},
   "environment over the XDG file", cfg)

cfg = show_json(["--set", "collector.argv_max_bytes=6000", "--set", "collector.redact_env=*A*,*B*"],
                DAEMONEYE_COLLECTOR_ARGV_MAX_BYTES="5000")
ok(cfg["collector.argv_max_bytes"] == {"value": 6000, "origin": "flag --set"}
   and cfg["collector.redact_env"] == {"value": ["*A*", "*B*"], "origin": "flag --set"},
   "--set over the environment", cfg)

cfg = show_json(["--config", fixture("partial.yaml")])
ok(cfg["hashing.cache_entries"] == {"value": 4096, "origin": "default"}
   and cfg["collector.argv_max_bytes"]["origin"] == fixture("partial.yaml") + ":2:19",
   "--config replaces the XDG file", cfg)

cfg = show_json(XDG_CONFIG_HOME=None)
os.makedirs(os.path.join(home, ".config", "daemoneye"))
write(os.path.join(home, ".config", "daemoneye", "daemoneye.yaml"), b"log: {level: error}\n")
cfg2 = show_json(XDG_CONFIG_HOME=None)
ok(cfg["log.level"]["value"] != "error" and cfg2["log.level"] == {
    "value": "error", "origin": os.path.join(home, ".config/daemoneye/daemoneye.yaml") + ":1:14"},
   "~/.config is used when XDG_CONFIG_HOME is unset", cfg2)
os.unlink(xdg_file)

r = de(["show"], DAEMONEYE_NOT_A_KEY="1")
ok(r.returncode == 0 and b"DAEMONEYE_NOT_A_KEY" in r.stderr and b"warning" in r.stderr,
   "unknown DAEMONEYE_* variable: warning, not an error", r.stderr)

# --- configuration errors -----------------------------------------------------
r = de(["show", "--config", fixture("bad_range.yaml")])
ok(r.returncode == 1 and (fixture("bad_range.yaml") + ":2:19: collector.argv_max_bytes: must be "
                          "between 256 and 16777216").encode() in r.stderr and r.stdout == b"",
   "show with a bad --config: exit 1, FILE:LINE:COL on stderr", r.stderr)
r = de(["show", "--config", os.path.join(tmp, "absent.yaml")])
ok(r.returncode == 1 and b"absent.yaml: No such file or directory" in r.stderr,
   "show with a missing --config: exit 1", r.stderr)
r = de(["show"], DAEMONEYE_LOG_LEVEL="loud")
ok(r.returncode == 1 and b"DAEMONEYE_LOG_LEVEL: expected one of debug, info, warning, error, "
   b"got 'loud'" in r.stderr, "bad environment value: exit 1, named", r.stderr)
r = de(["show", "--set", "collector.argv_max_bytes"])
ok(r.returncode == 1 and b"--set collector.argv_max_bytes: expected KEY=VALUE" in r.stderr,
   "--set without '=': exit 1", r.stderr)
r = de(["show", "--set", "no.such=1"])
ok(r.returncode == 1 and b"--set no.such: unknown key" in r.stderr, "--set unknown key", r.stderr)
r = de(["show", "--set", "collector.argv_max_bytes=abc"])
ok(r.returncode == 1 and b"--set collector.argv_max_bytes: expected an integer, got 'abc'"
   in r.stderr, "--set bad value", r.stderr)

# --- check --------------------------------------------------------------------
good = fixture("good.yaml")
r = de(["check", good, fixture("empty.yaml")])
ok(r.returncode == 0 and r.stdout == f"{good}: ok\n{fixture('empty.yaml')}: ok\n".encode(),
   "check good files: 'FILE: ok', exit 0", r.stdout + r.stderr)
BAD = {
    "bad_type.yaml": ":2:19: collector.argv_max_bytes: expected an integer, got 'abc'",
    "unknown_key.yaml": ":3:3: unknown key 'collector.foo'",
    "duplicate.yaml": ":3:3: duplicate key 'collector.argv_max_bytes'",
    "syntax.yaml": ":2:14: mapping values are not allowed in this context",
    "billion_laughs.yaml": ":2:15: anchors are not allowed",
    "nul_byte.yaml": ":2:12: control characters are not allowed (0x00)",
    "non_utf8.yaml": ":1:18: invalid trailing UTF-8 octet (0x28)",
}
for name, tail in BAD.items():
    r = de(["check", fixture(name)])
    ok(r.returncode == 1 and r.stderr == (fixture(name) + tail + "\n").encode()
       and r.stdout == b"", f"check {name}: exit 1, exact FILE:LINE:COL line", r.stderr)
r = de(["check", fixture("bad_enum.yaml"), good, os.path.join(tmp, "absent.yaml")])
ok(r.returncode == 1 and r.stdout == f"{good}: ok\n".encode()
   and len(r.stderr.splitlines()) == 2 and b"bad_enum.yaml:2:10: log.level" in r.stderr,
   "check mixed files: every file reported, exit 1", r.stdout + r.stderr)
r = de(["check", tmp])
ok(r.returncode == 1 and b"not a regular file" in r.stderr, "check a directory: exit 1", r.stderr)

weird = os.path.join(tmp, "we\nird\x1b.yaml")
write(weird, b"collector:\n  capture_env: maybe\n")
r = de(["check", weird])
ok(r.returncode == 1 and len(r.stderr.splitlines()) == 1
   and b"we\\nird\\e.yaml:2:16: collector.capture_env" in r.stderr,
   "check: control bytes in a file name are escaped, one line", r.stderr)
big = os.path.join(tmp, "big.yaml")
write(big, b"state_dir: /" + b"a" * (2 << 20) + b"\n")
r = de(["check", big])
ok(r.returncode == 1 and b"larger than 1048576 bytes" in r.stderr, "check: 2 MB file refused",
   r.stderr)
deep = os.path.join(tmp, "deep.yaml")
write(deep, b"collector:\n  redact_env: " + b"[" * 100000 + b"\n")
r = de(["check", deep])
ok(r.returncode == 1 and b"deep.yaml:2:16: collector.redact_env: expected a list of strings"
   in r.stderr, "check: deep nesting stops at the first level", r.stderr)

# An origin with hostile bytes still gives strict UTF-8 JSON.
hostile = os.path.join(tmp, "h\xe9\"\\.yaml").encode("latin-1")
write(hostile, b"log:\n  level: warning\n")
r = run(["config", "show", "--json", "--config", hostile], env=env())
try:
    doc = json.loads(r.stdout.decode("utf-8"))
    ok(r.returncode == 0 and doc["log.level"]["value"] == "warning"
       and doc["log.level"]["origin"].endswith("h\ufffd\"\\.yaml:2:10"),
       "show --json: hostile file name in origin stays valid JSON", doc["log.level"])
except (UnicodeDecodeError, ValueError) as e:
    ok(False, "show --json: hostile file name in origin stays valid JSON", f"{e}: {r.stdout!r}")

# --- keys, help, usage ------------------------------------------------------------
r = de(["keys"])
ok(r.returncode == 0 and all(f"\n{k}\n".encode() in b"\n" + r.stdout for k in KEYS)
   and b"256..16777216" in r.stdout and b"DAEMONEYE_COLLECTOR_ARGV_MAX_BYTES" in r.stdout,
   "keys: every key with range and variable", r.stdout)
r2 = de(["show", "--keys"])
ok(r2.returncode == 0 and r2.stdout == r.stdout, "show --keys is keys")
r = de(["keys", "--json"])
keys = json.loads(r.stdout) if r.returncode == 0 else []
ok([k["key"] for k in keys] == KEYS and keys[4]["min"] == 256 and keys[4]["max"] == 16777216
   and keys[0]["values"] == ["debug", "info", "warning", "error"], "keys --json", r.stdout)

for args in (["--help"], ["show", "--help"], ["check", "--help"]):
    r = de(args)
    ok(r.returncode == 0 and b"Usage: daemoneye config" in r.stdout and b"check" in r.stdout
       and b"DAEMONEYE_" in r.stdout, f"config {' '.join(args)}: help on stdout, exit 0")
USAGE = [[], ["frob"], ["show", "--frob"], ["show", "-z"], ["show", "extra"], ["check"],
         ["check", "--json", good], ["keys", "--set", "a=b"], ["show", "--config"]]
for args in USAGE:
    r = de(args)
    ok(r.returncode == 2 and r.stdout == b"" and b"daemoneye config" in r.stderr,
       f"usage error: config {' '.join(args)!r} exits 2", r.stderr)

shutil.rmtree(tmp, ignore_errors=True)
done()
