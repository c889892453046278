"""What the benchmark scripts (compare.py, journal.py, tls.py, resp.py) share: where the
binaries are, how a run starts, how long a test is made, and where the raw results go.

Each script is run from the repository root as `python3 bench/<script>.py`; Python puts this
directory on the import path, so `import harness` finds this file.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The release build of this checkout; --bin-dir names another.
RELEASE_BIN = os.path.join(ROOT, "target", "release")


def start(doc, tools, add_flags=None):
    """Starts a run: parses --rounds, --quick, --bin-dir (and whatever `add_flags(parser)`
    adds), makes a SIGTERM end the run like a failure (so the scripts' finally blocks stop
    their servers), builds the release binaries unless --bin-dir names a build, and checks
    that every program in `tools` is on the PATH. Returns the options and the directory that
    holds `stratus` and `stratus-bench`."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--bin-dir")
    if add_flags:
        add_flags(parser)
    options = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    for tool in tools:
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not on the PATH")
    if options.bin_dir:
        return options, os.path.abspath(options.bin_dir)
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "stratus",
                    "-p", "stratus-bench"], cwd=ROOT, check=True)
    return options, RELEASE_BIN


def calibrate(trial, seconds, first=3000, least=200):
    """The request count for a test of about `seconds`: `trial(count)` runs the test (or the
    tests of one run) with `count` requests and returns their results; the count doubles, or
    grows to 0.3 s at the rate seen, until the slowest test lasts 0.2 s, and then that test's
    rate sets it (at least `least`)."""
    count = first
    while True:
        slowest = min(trial(count), key=lambda test: test["rps"])
        if slowest["elapsed_s"] >= 0.2 or count >= 20_000_000:
            return max(least, int(slowest["rps"] * seconds))
        count = max(count * 2, int(slowest["rps"] * 0.3))


def save_results(work, results, began):
    """Records the run's wall time in `results` and writes them to `work`/results.json."""
    results["elapsed_s"] = time.time() - began
    with open(f"{work}/results.json", "w") as file:
        json.dump(results, file, indent=2)
