"""What the benchmark scripts (compare.py, journal.py, tls.py, resp.py) share: where the
binaries are and how a run starts.

Each script is run from the repository root as `python3 bench/<script>.py`; Python puts this
directory on the import path, so `import harness` finds this file.
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys

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
