#!/usr/bin/env python3
"""test-summary.py: sums the Criterion Synthesis lines of meson test logs.

Usage: test-summary.py [--extra-passed=N] [--extra-failed=N] LABEL=BUILD/meson-logs/testlog.json [...]
Prints each test's Synthesis line (prefixed by LABEL and the test name), then one last line
`N passed, N failed`. Failing + Crashing count as failed; a test that meson reports as failed
(or timed out) without a Synthesis line showing a failure counts as one more failure.
--extra-failed adds N failures found elsewhere (a smoke check), --extra-passed N passes (smoke
checks, fuzz harnesses that ran clean). Exits 1 if anything failed or a log is missing, else 0.
"""
import json
import re
import sys

SYNTH = re.compile(r"Synthesis: Tested: (\d+) \| Passing: (\d+) \| Failing: (\d+) \| Crashing: (\d+)")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
GOOD = {"OK", "EXPECTEDFAIL", "SKIP"}


def main(args):
    passed = failed = 0
    problems = []
    for arg in args:
        if arg.startswith("--extra-failed="):
            failed += int(arg.split("=", 1)[1])
            continue
        if arg.startswith("--extra-passed="):
            passed += int(arg.split("=", 1)[1])
            continue
        label, _, path = arg.rpartition("=")
        label = label or path
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                records = [json.loads(line) for line in f if line.strip()]
        except OSError as e:
            problems.append(f"{label}: no test log ({e.strerror}: {path})")
            failed += 1
            continue
        if not records:
            problems.append(f"{label}: the test log is empty")
            failed += 1
        for r in records:
            text = ANSI.sub("", (r.get("stdout") or "") + "\n" + (r.get("stderr") or ""))
            lines = [m for m in SYNTH.finditer(text)]
            fails_seen = 0
            for m in lines:
                p, f_, c = int(m.group(2)), int(m.group(3)), int(m.group(4))
                passed += p
                failed += f_ + c
                fails_seen += f_ + c
                print(f"{label} {r['name']}: [====] {m.group(0)}")
            if r.get("result") not in GOOD and fails_seen == 0:
                failed += 1
                why = "no Synthesis line" if not lines else "Synthesis shows no failure"
                problems.append(f"{label} {r['name']}: meson result {r.get('result')} "
                                f"(exit {r.get('returncode')}), {why}: counted as 1 failed")
    for p in problems:
        print(p)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1:]))
