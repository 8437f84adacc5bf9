#!/usr/bin/env python3
"""kvbench-storage as a developer uses it: a new store is loaded, measured, and reused.

    kvbench_storage_test.py BIN_DIR

Runs the program on a scratch directory with a small key space and checks what it reports
(load, then each workload's rate and CPU per operation), that the store it leaves holds every
key it loaded (read with python3's sqlite3), that a second run reuses it, and that
bad arguments and a store that cannot be created fail with one clear line. Removes what it made.
"""
import os
import re
import sqlite3
import subprocess
import sys
import tempfile

BIN = os.path.join(sys.argv[1], "kvbench-storage")
KEYS = 2000


def run(*args, expect=0):
    p = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=60)
    if p.returncode != expect:
        sys.exit(f"FAIL: kvbench-storage {' '.join(args)} exited {p.returncode}, expected "
                 f"{expect}\nstdout: {p.stdout}\nstderr: {p.stderr}")
    return p


def measured(out, workload):
    m = re.search(rf"^workload {workload} \(32 per batch\): (\d+) operations in [\d.]+ s = "
                  r"(\d+) operations/s; CPU per operation ([\d.]+) us", out, re.M)
    if not m:
        sys.exit(f"FAIL: no figure for workload {workload} in:\n{out}")
    ops, rate, cpu = int(m.group(1)), int(m.group(2)), float(m.group(3))
    if ops == 0 or rate == 0 or cpu <= 0:
        sys.exit(f"FAIL: workload {workload} measured nothing:\n{out}")
    return ops


with tempfile.TemporaryDirectory(prefix="kvbench-storage-test-") as scratch:
    store = os.path.join(scratch, "store")
    first = run("--dir", store, "--keys", str(KEYS), "--workload", "w", "--duration", "1",
                "--warmup", "0").stdout
    if not re.search(rf"^load: {KEYS} records in ", first, re.M):
        sys.exit(f"FAIL: a new store was not loaded first:\n{first}")
    updates = measured(first, "w")

    # The store holds every key it loaded, once.
    db = sqlite3.connect(f"file:{os.path.join(store, 'actorkv.db')}?mode=ro", uri=True)
    keys = {row[0] for row in db.execute("SELECT key FROM records")}
    db.close()
    expected = {f"user{i:010d}".encode() for i in range(KEYS)}
    if keys != expected:
        sys.exit(f"FAIL: the store holds {len(keys)} keys, {len(keys & expected)} of the "
                 f"{KEYS} loaded")
    print(f"loaded {KEYS} keys, {updates} updates measured")

    for workload in ("c", "a"):
        out = run("--dir", store, "--keys", str(KEYS), "--workload", workload, "--duration", "1",
                  "--warmup", "0").stdout
        if f"holds {KEYS} records already" not in out or "load:" in out:
            sys.exit(f"FAIL: the second run did not reuse the store:\n{out}")
        print(f"workload {workload}: {measured(out, workload)} operations")

    # Bad arguments: one line naming the problem, exit 2; nothing created.
    for args, says in ((["--workload", "w"], "--dir DIR is required"),
                       (["--dir", store, "--workload", "x"], "--workload needs a, c or w"),
                       (["--dir", store, "--batch", "0"], "--batch needs a whole number"),
                       (["--dir", store, "--nonsense", "1"], "unknown option '--nonsense'")):
        err = run(*args, expect=2).stderr
        if says not in err or err.count("\n") != 1:
            sys.exit(f"FAIL: {args} said {err!r}, expected one line with {says!r}")

    # A store that cannot be created: exit 1 with the reason.
    blocker = os.path.join(scratch, "file")
    open(blocker, "w").close()
    err = run("--dir", os.path.join(blocker, "store"), "--duration", "0", expect=1).stderr
    if "cannot create" not in err:
        sys.exit(f"FAIL: a store under a file said {err!r}")
print("kvbench-storage: ok")
