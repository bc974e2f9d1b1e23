#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Runs tools/spam-eval --json on the labelled sample next to this file (short
messages written for the test: no network, no corpus) and checks the object:
every key, each filter's counts adding up to the held-out mails of each label,
and precision, recall and F1 following from the counts.  Exits 77 (skip) when
bogofilter is not installed; tools/test installs it.

    check_spam_eval.py SOURCE_ROOT BUILD_ROOT
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys

source, build = sys.argv[1], sys.argv[2]
if shutil.which("bogofilter") is None:
    print("bogofilter is not installed")
    sys.exit(77)
sample = os.path.join(source, "tests", "spam-eval", "sample")
# 30 of each label: the 200 of each the filter waits for by default would
# leave it abstaining.
run = subprocess.run(
    [os.path.join(source, "tools", "spam-eval"), "--corpus", sample, "--json",
     "--min-learned", "3", "--build", build],
    capture_output=True, text=True, timeout=100)
sys.stderr.write(run.stderr)
if run.returncode != 0:
    sys.exit(f"tools/spam-eval exited {run.returncode}")
print(run.stdout, end="")
result = json.loads(run.stdout)

held = {}
for label in ("spam", "ham"):
    held[label] = sum(hashlib.sha1(name.encode()).hexdigest()[0] in "012"
                      for name in os.listdir(os.path.join(sample, label)))
assert held["spam"] > 0 and held["ham"] > 0, held

assert set(result) == {"pigeon", "bogofilter", "verdicts_per_s"}, result
for name in ("pigeon", "bogofilter"):
    s = result[name]
    assert set(s) == {"precision", "recall", "f1", "tp", "fp", "fn", "tn"}, s
    assert s["tp"] + s["fn"] == held["spam"], (name, s, held)
    assert s["fp"] + s["tn"] == held["ham"], (name, s, held)
    p = s["tp"] / (s["tp"] + s["fp"]) if s["tp"] + s["fp"] else 0.0
    r = s["tp"] / held["spam"]
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    assert (s["precision"], s["recall"], s["f1"]) == (round(p, 4), round(r, 4), round(f1, 4)), s
# The sample's spam is blatant: a filter that learned the rest finds some.
assert result["pigeon"]["tp"] > 0, result
assert isinstance(result["verdicts_per_s"], int) and result["verdicts_per_s"] > 0, result
