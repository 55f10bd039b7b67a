#!/usr/bin/env python3
"""Count test cases across meson test logs and TAP files; print the summary.

Arguments are LABEL:PATH, where PATH is a meson-logs/testlog.json (one JSON
object per test; TAP tests carry their output in "stdout") or a plain TAP
file. Every TAP "ok"/"not ok" line is one case; a test program that failed
(crash, sanitizer report, timeout) without reporting a failing case counts
as one more failure, so nothing fails silently. Prints failures, then a
line "N passed, N failed, N skipped".
"""
import json
import re
import sys

TAP = re.compile(r"^(ok|not ok)\b(.*)$")


def count_tap(text):
    passed = failed = skipped = 0
    failures = []
    for line in text.splitlines():
        m = TAP.match(line.strip())
        if not m:
            continue
        if m.group(1) == "ok":
            if "# SKIP" in m.group(2).upper():
                skipped += 1
            else:
                passed += 1
        else:
            failed += 1
            failures.append(line.strip())
    return passed, failed, skipped, failures


def main(args):
    total = [0, 0, 0]
    for arg in args:
        label, _, path = arg.partition(":")
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                data = f.read()
        except OSError as e:
            print(f"{label}: missing results ({e})")
            total[1] += 1
            continue
        per = [0, 0, 0]
        if path.endswith(".json"):
            for line in data.splitlines():
                if not line.strip():
                    continue
                t = json.loads(line)
                p, fl, s, failures = count_tap(t.get("stdout", "") or "")
                bad = t.get("result") not in ("OK", "EXPECTEDFAIL", "SKIP")
                if bad and fl == 0:
                    fl = 1
                    failures.append(f"{t.get('name')}: {t.get('result')} (exit {t.get('returncode')})")
                if t.get("result") == "SKIP" and p + fl + s == 0:
                    s = 1
                for f in failures:
                    print(f"{label}: FAIL {t.get('name')}: {f}")
                per = [per[0] + p, per[1] + fl, per[2] + s]
        else:
            p, fl, s, failures = count_tap(data)
            for f in failures:
                print(f"{label}: FAIL {f}")
            per = [p, fl, s]
        print(f"{label}: {per[0]} passed, {per[1]} failed, {per[2]} skipped")
        total = [a + b for a, b in zip(total, per)]
    print(f"{total[0]} passed, {total[1]} failed, {total[2]} skipped")
    return 1 if total[1] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
