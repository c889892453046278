#!/usr/bin/env python3
"""Stratus against Redis 7, side by side, with stratus-bench: the figures of BENCHMARKS.md.

Usage, from the repository root (needs redis-server on the PATH):

    python3 bench/compare.py [--rounds 3] [--quick] [--bin-dir DIR] [--skip-persistence]

Builds the release binaries, starts one Stratus and one Redis, and for every round runs each
load test against both servers, alternating which goes first: SET and GET with 100-byte values
over a 100,000-key keyspace at 50 clients with pipeline 1 and 16, and at 1 client (latency).
Then it fills both to about a million keys and measures SET throughput idle and while saves run
back to back (Stratus: MKSNAP, a forked snapshot with the BGSAVE writer; Redis: BGSAVE). Last,
`stratus-bench persistence` measures save, fork, load and memory on 1M x 100 B. It prints
Markdown tables of medians and Stratus/Redis ratios, and keeps every raw result in
/tmp/stratus-compare/results.json. Ports 7600 and 7601 are used. --quick runs fewer requests;
--bin-dir takes stratus and stratus-bench from another build (no cargo build then), to compare
a change with what came before it.

Three scripts beside this one measure the issues' own figures, each runnable alone, with the
same conventions (--rounds, --quick, --bin-dir, servers on 127.0.0.1 stopped by PID, Markdown
tables of medians and ratios, raw results in /tmp/stratus-<script>/results.json):
bench/journal.py (issue 11: the journal's modes against Redis's AOF, idle and while saving,
commands per fdatasync, restart from the journal), bench/tls.py (issue 12: Skyhash over TLS
against Redis over TLS and Stratus plain, new TLS connections per second) and bench/resp.py
(issue 13: the RESP listener with redis-benchmark and stratus-bench, RESP against Skyhash,
one and two shards behind nutcracker).
"""
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time

import harness

BIN = harness.RELEASE_BIN  # replaced by --bin-dir
WORK = "/tmp/stratus-compare"
STRATUS_PORT, REDIS_PORT = 7600, 7601


def start_servers():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(f"{WORK}/redis")
    stratus = subprocess.Popen(
        [f"{BIN}/stratus", "--noart", "-p", str(STRATUS_PORT), "--data-dir", f"{WORK}/stratus",
         "--nosave", "--snapevery", "3600", "--snapkeep", "1"],
        stderr=open(f"{WORK}/stratus.log", "w"), cwd=WORK)
    subprocess.run(
        ["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--dir",
         f"{WORK}/redis", "--save", "", "--appendonly", "no", "--daemonize", "yes",
         "--pidfile", f"{WORK}/redis.pid", "--logfile", f"{WORK}/redis.log"], check=True)
    deadline = time.time() + 10
    while time.time() < deadline:
        ready = "Server started on" in open(f"{WORK}/stratus.log").read()
        pong = subprocess.run(["redis-cli", "-p", str(REDIS_PORT), "ping"],
                              capture_output=True, text=True).stdout.strip() == "PONG"
        if ready and pong:
            return stratus
        time.sleep(0.05)
    sys.exit("the servers did not start; see " + WORK)


def stop_servers(stratus):
    stratus.send_signal(signal.SIGTERM)
    stratus.wait(timeout=60)
    subprocess.run(["redis-cli", "-p", str(REDIS_PORT), "shutdown", "nosave"],
                   capture_output=True)


def bench(server, args):
    protocol, port = ("skyhash", STRATUS_PORT) if server == "stratus" else ("resp", REDIS_PORT)
    out = subprocess.run(
        [f"{BIN}/stratus-bench", "--protocol", protocol, "-p", str(port), "--json", *args],
        capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"stratus-bench {' '.join(args)} against {server} failed:\n{out.stderr}")
    return json.loads(out.stdout)


def median(values):
    return statistics.median(values)


def main():
    global BIN
    options, BIN = harness.start(
        __doc__, ["redis-server", "redis-cli"],
        lambda parser: parser.add_argument("--skip-persistence", action="store_true"))
    scale = 0.1 if options.quick else 1.0
    n = lambda count: str(max(1000, int(count * scale)))

    load_configs = [
        ("50 clients, pipeline 1", ["-c", "50", "-P", "1", "-n", n(300_000)]),
        ("50 clients, pipeline 16", ["-c", "50", "-P", "16", "-n", n(2_000_000)]),
        ("1 client, pipeline 1", ["-c", "1", "-P", "1", "-n", n(50_000)]),
    ]
    common = ["-t", "set,get", "-d", "100", "-r", "100000"]
    fill = ["-t", "set", "-d", "100", "-r", "1000000", "-n", n(4_000_000), "-c", "50",
            "-P", "64"]
    saving = ["-t", "set", "-d", "100", "-r", "1000000", "-n", n(1_500_000), "-c", "50",
              "-P", "1"]
    results = {"load": [], "saving": [], "persistence": None}
    stratus = start_servers()
    try:
        for round_index in range(options.rounds):
            order = ["stratus", "redis"] if round_index % 2 == 0 else ["redis", "stratus"]
            for label, args in load_configs:
                for server in order:
                    for test in bench(server, common + args):
                        results["load"].append(
                            {"round": round_index + 1, "config": label, "server": server, **test})
                        print(f"round {round_index + 1} {label:24} {server:8} {test['test']:4} "
                              f"{test['rps']:12.0f} rps  p99 {test['p99_ms']:.3f} ms",
                              flush=True)
        for server in ["stratus", "redis"]:
            bench(server, fill)
        for round_index in range(options.rounds):
            order = ["stratus", "redis"] if round_index % 2 == 0 else ["redis", "stratus"]
            for server in order:
                for mode, extra in [("idle", []), ("saving", ["--background-saves"])]:
                    test = bench(server, saving + extra)[0]
                    results["saving"].append(
                        {"round": round_index + 1, "server": server, "mode": mode, **test})
                    print(f"round {round_index + 1} SET over ~1M keys {mode:7} {server:8} "
                          f"{test['rps']:12.0f} rps  p99 {test['p99_ms']:.3f} ms  "
                          f"saves {test.get('background_saves', 0)}", flush=True)
    finally:
        stop_servers(stratus)
    if options.skip_persistence:
        results["persistence"] = "(skipped)"
        finish(results)
        return
    persistence = subprocess.run(
        [f"{BIN}/stratus-bench", "persistence", "--keys", n(1_000_000), "-d", "100",
         "--rounds", str(options.rounds)], capture_output=True, text=True)
    if persistence.returncode != 0:
        sys.exit(f"stratus-bench persistence failed:\n{persistence.stderr}")
    results["persistence"] = persistence.stdout
    finish(results)


def finish(results):
    with open(f"{WORK}/results.json", "w") as file:
        json.dump(results, file, indent=2)
    report(results)


def report(results):
    print("\n| test | Stratus rps | Redis rps | ratio | Stratus p99 ms | Redis p99 ms |")
    print("|---|---|---|---|---|---|")
    configs = dict.fromkeys(row["config"] for row in results["load"])
    for config in configs:
        for test in ["SET", "GET"]:
            rows = [r for r in results["load"] if r["config"] == config and r["test"] == test]
            figure = lambda server, key: median(r[key] for r in rows if r["server"] == server)
            s_rps, r_rps = figure("stratus", "rps"), figure("redis", "rps")
            print(f"| {test}, {config} | {s_rps:,.0f} | {r_rps:,.0f} | {s_rps / r_rps:.2f} | "
                  f"{figure('stratus', 'p99_ms'):.3f} | {figure('redis', 'p99_ms'):.3f} |")
    print("\n| SET, 50 clients, ~1M keys | idle rps | rps while saving | saving/idle | "
          "p99 idle ms | p99 saving ms | max saving ms | saves done |")
    print("|---|---|---|---|---|---|---|---|")
    for server in ["stratus", "redis"]:
        rows = [r for r in results["saving"] if r["server"] == server]
        figure = lambda mode, key: median(r.get(key, 0) for r in rows if r["mode"] == mode)
        idle, busy = figure("idle", "rps"), figure("saving", "rps")
        print(f"| {server} | {idle:,.0f} | {busy:,.0f} | {busy / idle:.2f} | "
              f"{figure('idle', 'p99_ms'):.3f} | {figure('saving', 'p99_ms'):.3f} | "
              f"{figure('saving', 'max_ms'):.1f} | {figure('saving', 'background_saves'):.0f} |")
    print("\nPersistence (stratus-bench persistence):\n")
    print(results["persistence"])


if __name__ == "__main__":
    main()
