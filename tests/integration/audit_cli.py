#!/usr/bin/env python3
"""`daemoneye audit`: a ledger written by $DE_LEDGER_FILL (procmond's calls),
then every tamper the ledger must catch, each with the index it must name;
crash repair; proofs checked offline; the checkpoint signature checked by
an independent implementation (openssl) and the key id by hashlib."""
import base64
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from tap import ok, done, run, skip  # noqa: E402

FILL = os.environ["DE_LEDGER_FILL"]
tmp = tempfile.mkdtemp(prefix="de-audit-")
N = 200          # filled records: 1..200 (0 is "open", 201 is "close")
TOTAL = N + 2


def fill(state, n, *extra):
    r = subprocess.run([FILL, state, str(n)] + list(extra), capture_output=True, timeout=120)
    return r


def audit(state, *args, **kw):
    return run(["audit", "--state-dir", state] + list(args), **kw)


def b3(data, length=32):
    r = subprocess.run(["b3sum", "--raw", "-l", str(length)], input=data, capture_output=True,
                       check=True)
    return r.stdout


def frames(path):
    """(offset, bytes) of every frame: u32 length first."""
    data = open(path, "rb").read()
    out, off = [], 0
    while off + 4 <= len(data):
        n = struct.unpack_from("<I", data, off)[0]
        out.append((off, data[off:off + n]))
        off += n
    return out


def write_frames(path, fr):
    with open(path, "wb") as f:
        for fb in fr:
            f.write(fb)


def reframe(fb, prev_chain, payload=None):
    """Rebuild a frame with a new payload and a correct chain and checksum."""
    hdr = bytearray(fb[:28])
    plen = struct.unpack_from("<I", fb, 24)[0]
    body = fb[28:28 + plen] if payload is None else payload
    struct.pack_into("<I", hdr, 0, 28 + len(body) + 40)
    struct.pack_into("<I", hdr, 24, len(body))
    rec = bytes(hdr[4:]) + body
    chain = b3(prev_chain + b3(b"\x00" + rec))
    return bytes(hdr) + body + chain + b3(bytes(hdr) + chain, 8)


def fix_check(fb):
    """Recompute only the frame's own checksum (header and chain)."""
    return fb[:-8] + b3(fb[:28] + fb[-40:-8], 8)


def verdict(res):
    text = res.stdout.decode()
    m = re.search(r"first bad record: (\d+)", text)
    c = re.search(r"bad checkpoint: (\S+)", text)
    return res.returncode, int(m.group(1)) if m else None, c.group(1) if c else None, text


def copy_state(name):
    dst = os.path.join(tmp, name)
    shutil.copytree(base, dst)
    return dst, os.path.join(dst, "ledger", "records")


# --- a clean ledger --------------------------------------------------------
base = os.path.join(tmp, "base")
r = fill(base, N, "--checkpoint-every", "50")
ok(r.returncode == 0 and r.stdout.strip() == f"size {TOTAL}".encode(), "ledger_fill writes", r.stderr)
res = audit(base, "verify")
ok(res.returncode == 0 and f"ok: {TOTAL} records".encode() in res.stdout, "clean ledger verifies",
   res.stdout + res.stderr)
j = json.loads(audit(base, "verify", "--json").stdout)
ok(j["ok"] and j["records"] == TOTAL and j["covered"] == TOTAL and j["first_bad_record"] is None
   and j["checkpoints"] >= 5, "verify --json", j)
ledger = os.path.join(base, "ledger")
st = os.stat(os.path.join(ledger, "records"))
ok(st.st_mode & 0o777 == 0o640, "records file is 0640", oct(st.st_mode))
try:
    import grp  # noqa: E402
    gid = grp.getgrnam("daemoneye").gr_gid
except KeyError:
    gid = None
if gid is None:
    skip("ledger files get group daemoneye", "no daemoneye group on this host")
else:
    dst = os.stat(ledger)
    ok(st.st_gid == gid and dst.st_gid == gid and dst.st_mode & 0o7777 == 0o2750,
       "ledger directory (setgid 2750) and files get group daemoneye", (st.st_gid, oct(dst.st_mode)))
kst = os.stat(os.path.join(base, "keys", "ledger.key"))
ok(kst.st_mode & 0o777 == 0o400 and kst.st_size == 32 and kst.st_uid == os.geteuid(),
   "signing key is 0400, 32 bytes, owned by its creator", oct(kst.st_mode))
ok(os.stat(os.path.join(base, "keys")).st_mode & 0o777 == 0o700, "keys directory is 0700")

# show / tail
lines = [json.loads(x) for x in audit(base, "show", "--json").stdout.splitlines()]
ok([x["seq"] for x in lines] == list(range(TOTAL)), "show --json lists every record in order")
ok(lines[0]["type"] == "open" and lines[-1]["type"] == "close", "open and close records")
ex = lines[1]
ok(ex["type"] == "exec" and ex["pid"] == 1000 and ex["argv"] == ["/bin/true", "arg-0"]
   and ex["exe"] == "/usr/bin/true", "exec record decodes to the event's fields", ex)
rs = lines[4]
ok(rs["type"] == "ruleset" and rs["name"] == "rules-3"
   and rs["blake3"] == b3(b"content 3").hex(), "rule-set record carries BLAKE3 of the content", rs)
ok(lines[3]["type"] == "alert" and lines[3]["alert"] == '{"alert":2}', "alert record", lines[3])
t = audit(base, "tail", "-n", "3")
ok(t.returncode == 0 and len(t.stdout.splitlines()) == 3 and b" close " in t.stdout.splitlines()[-1],
   "tail -n 3", t.stdout)
t = [json.loads(x) for x in audit(base, "tail", "-n", "2", "--type", "exec", "--json").stdout.splitlines()]
ok([x["type"] for x in t] == ["exec", "exec"] and t[-1]["pid"] == 1000 + 195, "tail --type exec", t)
s = audit(base, "show", "--from", "10", "--count", "2")
ok(s.stdout.splitlines()[0].startswith(b"10 ") and len(s.stdout.splitlines()) == 2, "show --from --count")

# --- the checkpoint, checked by independent code ---------------------------
cp_text = audit(base, "checkpoint").stdout
pub = audit(base, "pubkey").stdout.strip().decode()
open(os.path.join(tmp, "cp.txt"), "wb").write(cp_text)
open(os.path.join(tmp, "pub.txt"), "w").write(pub + "\n")
body, sigs = cp_text.split(b"\n\n", 1)
body += b"\n"
origin, size, root_b64 = body.decode().splitlines()[:3]
ok(int(size) == TOTAL and len(base64.b64decode(root_b64)) == 32, "checkpoint body: origin, size, root")
ok(base64.b64decode(root_b64).hex() == j["root"], "checkpoint root is the verified root")
name, kid_hex, key_b64 = pub.split("+", 2)
key = base64.b64decode(key_b64)
ok(name == origin and key[0] == 1 and len(key) == 33, "vkey: name+id+base64(0x01||key)")
kid = hashlib.sha256(name.encode() + b"\n" + key).digest()[:4]
ok(kid.hex() == kid_hex, "key id = SHA-256(name || \\n || 0x01 || key)[:4] (C2SP signed-note)")
m = re.match(rb"\xe2\x80\x94 (\S+) (\S+)\n$", sigs)
ok(m and m.group(1).decode() == name, "signature line: em dash, key name, base64", sigs)
sig = base64.b64decode(m.group(2))
ok(sig[:4] == kid and len(sig) == 68, "signature starts with the key id")
der = bytes.fromhex("302a300506032b6570032100") + key[1:]
pem = os.path.join(tmp, "pub.pem")
with open(pem, "w") as f:
    f.write("-----BEGIN PUBLIC KEY-----\n" + base64.b64encode(der).decode() + "\n-----END PUBLIC KEY-----\n")
open(os.path.join(tmp, "body"), "wb").write(body)
open(os.path.join(tmp, "sig"), "wb").write(sig[4:])
o = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pem, "-rawin", "-in",
                    os.path.join(tmp, "body"), "-sigfile", os.path.join(tmp, "sig")],
                   capture_output=True)
ok(o.returncode == 0 and b"Signature Verified Successfully" in o.stdout,
   "openssl verifies the Ed25519 signature over the note body", o.stdout + o.stderr)

# --- proofs ------------------------------------------------------------------
p = audit(base, "prove", "37")
ok(p.returncode == 0, "prove 37", p.stderr)
doc = json.loads(p.stdout)
fr37 = frames(os.path.join(ledger, "records"))[37][1]
leaf = b3(b"\x00" + fr37[4:-40])
ok(doc["leaf_index"] == 37 and doc["tree_size"] == TOTAL and doc["leaf_hash"] == leaf.hex()
   and doc["root"] == j["root"], "proof: leaf = BLAKE3(0x00 || record), the signed root", doc)
prev36 = frames(os.path.join(ledger, "records"))[36][1][-40:-8]
ok(fr37[-40:-8] == b3(prev36 + leaf), "chain = BLAKE3(previous chain || leaf)")
pf = os.path.join(tmp, "proof.json")
open(pf, "wb").write(p.stdout)
v = audit(base, "verify-proof", pf, "--checkpoint", os.path.join(tmp, "cp.txt"))
ok(v.returncode == 0 and b"ok: record 37" in v.stdout, "verify-proof accepts it", v.stdout + v.stderr)
bad = dict(doc)
bad["proof"] = list(doc["proof"])
bad["proof"][2] = ("0" if doc["proof"][2][0] != "0" else "1") + doc["proof"][2][1:]
open(pf, "w").write(json.dumps(bad, separators=(",", ":")))
v = audit(base, "verify-proof", pf, "--checkpoint", os.path.join(tmp, "cp.txt"))
ok(v.returncode == 1 and b"FAILED" in v.stdout, "verify-proof rejects an altered proof", v.stdout)
bad = dict(doc, leaf_index=38)
open(pf, "w").write(json.dumps(bad, separators=(",", ":")))
v = audit(base, "verify-proof", pf, "--checkpoint", os.path.join(tmp, "cp.txt"))
ok(v.returncode == 1, "verify-proof rejects the proof for another index")
c = audit(base, "consistency", "50", str(TOTAL))
cd = json.loads(c.stdout)
open(pf, "wb").write(c.stdout)
v = audit(base, "verify-proof", pf, "--checkpoint", os.path.join(tmp, "cp.txt"))
ok(cd["first_size"] == 50 and v.returncode == 0, "consistency proof verifies against the checkpoint",
   v.stdout + v.stderr)
ok(audit(base, "prove", str(TOTAL)).returncode == 1, "prove: a record past the checkpoint is refused")

# --- tampering ----------------------------------------------------------------
K = 37


def check(name, state, want_index, want_cp=None, args=()):
    rc, idx, cpi, text = verdict(audit(state, "verify", *args))
    good = rc == 1 and idx == want_index and (want_cp is None or cpi == want_cp)
    ok(good, f"{name}: caught, first bad record {want_index}"
       + (f", checkpoint {want_cp}" if want_cp is not None else ""), text)


st1, rec = copy_state("flip")
fr = [fb for _, fb in frames(rec)]
b = bytearray(fr[K])
b[30] ^= 0x04
fr[K] = bytes(b)
write_frames(rec, fr)
check("flip a payload bit", st1, K)

st1, rec = copy_state("edit")
fr = [fb for _, fb in frames(rec)]
b = bytearray(fr[K])
b[-41] ^= 0x01  # last payload byte
b[20] ^= 0x01   # and the type, which the checksum covers
fr[K] = fix_check(bytes(b))
write_frames(rec, fr)
check("edit a record and recompute its checksum", st1, K)

st1, rec = copy_state("rechain")
fr = [fb for _, fb in frames(rec)]
prev = fr[K - 1][-40:-8]
plen = struct.unpack_from("<I", fr[K], 24)[0]
payload = bytearray(fr[K][28:28 + plen])
payload[-1] ^= 0x01
for i in range(K, len(fr)):
    fr[i] = reframe(fr[i], prev, bytes(payload) if i == K else None)
    prev = fr[i][-40:-8]
write_frames(rec, fr)
rc, idx, cpi, text = verdict(audit(st1, "verify"))
ok(rc == 1 and idx == K and "signed root does not match" in text,
   f"recompute the whole chain after an edit: caught by the signed checkpoint, record {K}", text)

st1, rec = copy_state("delete")
fr = [fb for _, fb in frames(rec)]
del fr[K]
write_frames(rec, fr)
check("delete a record", st1, K)

st1, rec = copy_state("swap")
fr = [fb for _, fb in frames(rec)]
fr[K], fr[K + 1] = fr[K + 1], fr[K]
write_frames(rec, fr)
check("swap two records", st1, K)

st1, rec = copy_state("truncate")
offs = frames(rec)
os.truncate(rec, offs[150][0])
check("truncate the file at a record boundary", st1, 150)
os.truncate(rec, offs[120][0] + 13)
check("truncate the file inside a record", st1, 120)

st1, rec = copy_state("append")
fr = [fb for _, fb in frames(rec)]
forged = reframe(fr[-1], fr[-1][-40:-8])
forged = bytearray(forged)
struct.pack_into("<Q", forged, 4, TOTAL)  # the next sequence number
forged = reframe(bytes(forged), fr[-1][-40:-8])
fr.append(forged)
write_frames(rec, fr)
check("append a forged record (chain and checksum correct)", st1, TOTAL)

# A self-consistent forgery: another key, same origin, other history.
forger = os.path.join(tmp, "forger")
fill(forger, N, "--checkpoint-every", "50", "--origin", origin)
st1 = os.path.join(tmp, "forged")
shutil.copytree(forger, st1)
res = audit(st1, "verify")
ok(res.returncode == 0, "a self-consistent forgery passes when its own PUBKEY is trusted (why the key is exported)")
check("forged ledger vs the exported public key", st1, None, "0",
      ("--pubkey", os.path.join(tmp, "pub.txt")))
check("forged ledger vs the exported checkpoint (signed by the real key)", st1, None, "the",
      ("--checkpoint", os.path.join(tmp, "cp.txt")))
# The forger also stole the key: the history still contradicts the published checkpoint.
thief = os.path.join(tmp, "thief")
os.makedirs(thief)
shutil.copytree(os.path.join(base, "keys"), os.path.join(thief, "keys"))
fill(thief, N + 5, "--checkpoint-every", "50")
check("forged ledger signed with the stolen key vs the exported checkpoint", thief, 0, "the",
      ("--checkpoint", os.path.join(tmp, "cp.txt"), "--pubkey", os.path.join(tmp, "pub.txt")))

st1, rec = copy_state("otherkey")
ours = open(os.path.join(st1, "ledger", "checkpoints"), "rb").read()
n_ours = ours.count("\u2014".encode())
theirs = open(os.path.join(forger, "ledger", "checkpoints"), "rb").read().split(b"\n\n\xe2")[0]
note = theirs.split(b"\n\n", 1)
their_note = open(os.path.join(forger, "ledger", "checkpoints"), "rb").read()
last = their_note.rstrip(b"\n").split(b"\n\n")
forged_note = last[-2] + b"\n\n" + last[-1] + b"\n\n"
open(os.path.join(st1, "ledger", "checkpoints"), "ab").write(forged_note)
rc, idx, cpi, text = verdict(audit(st1, "verify"))
ok(rc == 1 and cpi == str(n_ours) and "another key" in text,
   f"a checkpoint signed with another key: caught, checkpoint {n_ours}", text)

# --- crash safety --------------------------------------------------------------
cr = os.path.join(tmp, "crash")
r = fill(cr, 30, "--crash")
ok(r.returncode == 0 and r.stdout.strip() == b"size 31", "writer 'killed' after a group commit", r.stderr)
rec = os.path.join(cr, "ledger", "records")
size_before = os.path.getsize(rec)
with open(rec, "ab") as f:
    f.write(b"\x90\x00\x00\x00torn-frame-bytes")  # a frame cut short by the crash
rc, idx, cpi, text = verdict(audit(cr, "verify"))
ok(rc == 1 and idx == 31 and "ends inside the frame" in text, "after the crash: the torn frame is reported (record 31)", text)
r = fill(cr, 5)
ok(r.returncode == 0 and r.stdout.strip() == b"size 39", "reopen repairs and goes on", r.stderr + r.stdout)
res = audit(cr, "verify")
ok(res.returncode == 0, "repaired ledger verifies", res.stdout)
recs = [json.loads(x) for x in audit(cr, "show", "--json", "--type", "repair").stdout.splitlines()]
ok(len(recs) == 1 and recs[0]["offset"] == size_before and recs[0]["bytes"] == 20
   and recs[0]["records"] == 31, "the repair is recorded (offset, bytes cut, records kept)", recs)
torn = os.path.join(cr, "ledger", f"torn-{size_before}.bin")
ok(os.path.exists(torn) and open(torn, "rb").read().endswith(b"torn-frame-bytes"),
   "the cut bytes are kept for inspection")

# Damage inside what a checkpoint covers is never repaired or rewritten.
st1, rec = copy_state("covered")
fr = [fb for _, fb in frames(rec)]
b = bytearray(fr[-1])  # the close record: the last one the final checkpoint covers
b[30] ^= 1
fr[-1] = bytes(b)
write_frames(rec, fr)
damaged = open(rec, "rb").read()
r = fill(st1, 1)
ok(r.returncode == 1 and b"covered by the checkpoint" in r.stderr and open(rec, "rb").read() == damaged,
   "the writer refuses to repair damage a checkpoint covers, and leaves it as is", r.stderr)

# checkpoint --new, and a second writer is refused.
c = audit(base, "checkpoint", "--new")
ok(c.returncode == 0 and c.stdout.splitlines()[1] == str(TOTAL + 2).encode(),
   "checkpoint --new signs a checkpoint (after its open and close records)", c.stdout + c.stderr)
ok(audit(base, "verify").returncode == 0, "still verifies after checkpoint --new")

# A live writer (holding the FORMAT lock): an uncovered tail is normal, a
# second writer is refused.
import fcntl  # noqa: E402
st1, rec = copy_state("live")
lockf = open(os.path.join(st1, "ledger", "FORMAT"), "rb")
fcntl.flock(lockf, fcntl.LOCK_EX)
fr = [fb for _, fb in frames(rec)]
nxt = bytearray(reframe(fr[-1], fr[-1][-40:-8]))
struct.pack_into("<Q", nxt, 4, len(fr))
fr.append(reframe(bytes(nxt), fr[-1][-40:-8]))
write_frames(rec, fr)
res = audit(st1, "verify")
ok(res.returncode == 0 and b"writer live" in res.stdout,
   "live writer: records past the last checkpoint are reported, not failed", res.stdout)
c = audit(st1, "checkpoint", "--new")
ok(c.returncode == 1 and b"another process is writing" in c.stderr, "checkpoint --new refused while a writer runs",
   c.stderr)
fcntl.flock(lockf, fcntl.LOCK_UN)
lockf.close()
rc, idx, cpi, text = verdict(audit(st1, "verify"))
ok(rc == 1 and idx == len(fr) - 1, "the same tail without a writer: caught at the first uncovered record", text)

# --- usage ----------------------------------------------------------------------
h = run(["audit", "--help"])
for word in (b"verify", b"prove", b"verify-proof", b"consistency", b"checkpoint", b"show", b"tail",
             b"pubkey", b"--state-dir", b"--pubkey", b"--checkpoint"):
    ok(word in h.stdout, f"audit --help describes {word.decode()}")
for bad in (["frob"], [], ["prove"], ["prove", "x"], ["verify-proof", "p"], ["consistency", "1"],
            ["show", "--type", "nosuch"], ["verify", "--new"], ["tail", "-n", "0"]):
    r = audit(base, *bad)
    ok(r.returncode == 2, f"audit {' '.join(bad)}: usage error, exit 2", r.stderr)
r = audit(os.path.join(tmp, "nothing"), "verify")
ok(r.returncode == 1 and r.stderr, "verify of a missing ledger fails with a message")

shutil.rmtree(tmp)
done()
