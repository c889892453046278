#!/usr/bin/env python3
"""Stratus's RESP listener against Redis 7, with redis-benchmark and stratus-bench, and Stratus
sharded behind twemproxy: issue 13's figures.

Usage, from the repository root (needs redis-server, redis-benchmark and nutcracker on the
PATH; nutcracker is in /usr/sbin on Debian):

    python3 bench/resp.py [--rounds 3] [--quick] [--bin-dir DIR]

Starts on 127.0.0.1, each with its own data directory under /tmp/stratus-resp/:

    Stratus shard0  Skyhash 7630, --resp-port 7631 (--nosave)
    Redis           7632 (--save "" --appendonly no)
    Stratus shard1  Skyhash 7633, --resp-port 7634 (--nosave), used only behind the proxy
    nutcracker      pool "one" on 7635 (shard0 alone), pool "two" on 7636 (shard0 and
                    shard1), stats on 127.0.0.1:7637; the configuration of the README's
                    "Scaling out" (hash: murmur, distribution: ketama, redis: true, named
                    servers, auto_eject_hosts: false), written to /tmp/stratus-resp/nutcracker.yml

Then, per round, alternating the order:

1. Direct: SET and GET, 100 B, -r 100000, 50 clients at pipeline 1 and 16, with both tools
   against Stratus's RESP port and against Redis: `redis-benchmark -t set,get -c 50 -P N -d
   100 -r 100000 -n ... --csv` and `stratus-bench --protocol resp`; and stratus-bench over
   Skyhash against the same Stratus, to compare its two protocols (the same table, the same
   loop, two codecs).
2. Through nutcracker: redis-benchmark SET and GET (the same parameters) through pool "one"
   and through pool "two". For each test the script records each process's CPU time
   (/proc/PID/stat for nutcracker and the shards, rusage for redis-benchmark) and each shard's
   share of the commands (INFO stats total_commands_processed).

The requests per test are calibrated per tool and target by short trial runs before the
rounds, to last about 2 s (the counts are in results.json). It prints Markdown tables of
medians and ratios, the issue's targets, and what the proxy figures can and cannot show on
this machine; every raw result (redis-benchmark's CSV, stratus-bench's JSON, CPU times) goes
to /tmp/stratus-resp/results.json. --quick is a smoke run (tests of about 0.5 s); the full run
takes about 4 minutes. --bin-dir takes stratus and stratus-bench from another build.
"""
import csv
import io
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import textwrap
import time

import harness

BIN = harness.RELEASE_BIN  # replaced by --bin-dir
WORK = "/tmp/stratus-resp"
SHARD0_SKYHASH, SHARD0_RESP, REDIS_PORT = 7630, 7631, 7632
SHARD1_SKYHASH, SHARD1_RESP = 7633, 7634
POOL_ONE, POOL_TWO, PROXY_STATS = 7635, 7636, 7637
NUTCRACKER = shutil.which("nutcracker") or shutil.which("nutcracker", path="/usr/sbin:/sbin")
TICK = os.sysconf("SC_CLK_TCK")

NUTCRACKER_CONFIG = f"""\
one:
  listen: 127.0.0.1:{POOL_ONE}
  hash: murmur
  distribution: ketama
  redis: true
  timeout: 2000
  auto_eject_hosts: false
  servers:
    - 127.0.0.1:{SHARD0_RESP}:1 shard0
two:
  listen: 127.0.0.1:{POOL_TWO}
  hash: murmur
  distribution: ketama
  redis: true
  timeout: 2000
  auto_eject_hosts: false
  servers:
    - 127.0.0.1:{SHARD0_RESP}:1 shard0
    - 127.0.0.1:{SHARD1_RESP}:1 shard1
"""


def resp_query(port, *parts, timeout=5):
    """One RESP command on a fresh connection; the reply's first line, or a bulk string."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(b"*%d\r\n" % len(parts)
                     + b"".join(b"$%d\r\n%s\r\n" % (len(p), p.encode()) for p in parts))
        data = b""
        while True:
            chunk = sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
            if data.startswith(b"$"):
                header, _, rest = data.partition(b"\r\n")
                if len(rest) >= int(header[1:]) + 2:
                    return rest[:int(header[1:])].decode()
            elif data.endswith(b"\r\n"):
                return data[:-2].decode()


def info_field(port, section, name):
    for line in resp_query(port, "INFO", section).splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    return None


def spawn(name, command, ready):
    log = open(f"{WORK}/{name}.log", "w")
    process = subprocess.Popen(command, stdout=log, stderr=log, cwd=WORK)
    deadline = time.time() + 30
    while time.time() < deadline:
        if process.poll() is not None:
            sys.exit(f"{name} exited with {process.returncode}; see {WORK}/{name}.log")
        try:
            if ready():
                return process
        except OSError:
            pass
        time.sleep(0.02)
    process.kill()
    sys.exit(f"{name} did not start; see {WORK}/{name}.log")


def start_all():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(f"{WORK}/redis")
    with open(f"{WORK}/nutcracker.yml", "w") as file:
        file.write(NUTCRACKER_CONFIG)
    processes = {}
    pong = lambda port: lambda: resp_query(port, "PING") == "+PONG"
    for name, skyhash, resp in [("shard0", SHARD0_SKYHASH, SHARD0_RESP),
                                ("shard1", SHARD1_SKYHASH, SHARD1_RESP)]:
        processes[name] = spawn(name, [f"{BIN}/stratus", "--noart", "-p", str(skyhash),
                                       "--resp-port", str(resp), "--data-dir",
                                       f"{WORK}/{name}", "--nosave"], pong(resp))
    processes["redis"] = spawn("redis", [
        "redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--dir",
        f"{WORK}/redis", "--save", "", "--appendonly", "no", "--daemonize", "no"],
        pong(REDIS_PORT))
    processes["nutcracker"] = spawn("nutcracker", [
        NUTCRACKER, "-c", f"{WORK}/nutcracker.yml", "-a", "127.0.0.1", "-s", str(PROXY_STATS),
        "-p", f"{WORK}/nutcracker.pid"], lambda: resp_query(POOL_TWO, "PING") == "+PONG")
    return processes


def stop_all(processes):
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes.values():
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def redis_benchmark(port, args, count):
    command = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), *args, "-n", str(count),
               "--csv", "-e"]
    out = subprocess.run(command, capture_output=True, text=True)
    rows = [line for line in out.stdout.splitlines() if line.startswith('"')]
    other = [line for line in out.stdout.splitlines() if line and not line.startswith('"')]
    if out.returncode != 0 or len(rows) < 2:
        sys.exit(f"{' '.join(command)} failed:\n{out.stdout}\n{out.stderr}")
    tests = []
    for row in csv.DictReader(io.StringIO("\n".join(rows))):
        rps = float(row["rps"])
        tests.append({"test": row["test"], "rps": rps, "p50_ms": float(row["p50_latency_ms"]),
                      "p99_ms": float(row["p99_latency_ms"]),
                      "mean_ms": float(row["avg_latency_ms"]),
                      "max_ms": float(row["max_latency_ms"]), "requests": count,
                      "elapsed_s": count / rps if rps else 0.0, "server_errors": other})
    return tests


def stratus_bench(protocol, port, args, count):
    out = subprocess.run([f"{BIN}/stratus-bench", "--protocol", protocol, "-p", str(port),
                          "--json", *args, "-n", str(count)], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"stratus-bench {' '.join(args)} on port {port} failed:\n{out.stderr}")
    return json.loads(out.stdout)


# (name, tool, protocol, port)
DIRECT = [("redis-benchmark -> Stratus RESP", "redis-benchmark", "resp", SHARD0_RESP),
          ("redis-benchmark -> Redis", "redis-benchmark", "resp", REDIS_PORT),
          ("stratus-bench -> Stratus RESP", "stratus-bench", "resp", SHARD0_RESP),
          ("stratus-bench -> Redis", "stratus-bench", "resp", REDIS_PORT),
          ("stratus-bench -> Stratus Skyhash", "stratus-bench", "skyhash", SHARD0_SKYHASH)]
PROXIED = [("redis-benchmark -> nutcracker, 1 shard", "redis-benchmark", "resp", POOL_ONE),
           ("redis-benchmark -> nutcracker, 2 shards", "redis-benchmark", "resp", POOL_TWO)]


def run(target, args, count):
    _, tool, protocol, port = target
    if tool == "redis-benchmark":
        return redis_benchmark(port, args, count)
    return stratus_bench(protocol, port, args, count)


def calibrate(target, args, seconds):
    return harness.calibrate(lambda count: run(target, args, count), seconds, least=1000)


def cpu_seconds(process):
    fields = open(f"/proc/{process.pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def proxied_run(target, args, count, processes):
    """A proxy test with each process's CPU time and each shard's commands during it."""
    watched = ["nutcracker", "shard0", "shard1"]
    cpu_before = {name: cpu_seconds(processes[name]) for name in watched}
    commands_before = {name: int(info_field(port, "stats", "total_commands_processed"))
                       for name, port in [("shard0", SHARD0_RESP), ("shard1", SHARD1_RESP)]}
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.monotonic()
    tests = run(target, args, count)
    wall = time.monotonic() - began
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = {name: cpu_seconds(processes[name]) - cpu_before[name] for name in watched}
    cpu["redis-benchmark"] = (children.ru_utime + children.ru_stime
                              - children_before.ru_utime - children_before.ru_stime)
    # Each INFO costs a shard one command of its own; subtract it.
    commands = {name: int(info_field(port, "stats", "total_commands_processed"))
                - commands_before[name] - 1
                for name, port in [("shard0", SHARD0_RESP), ("shard1", SHARD1_RESP)]}
    for test in tests:
        test.update({"wall_s": wall, "cpu_s": cpu, "shard_commands": commands})
    return tests


def median(values):
    values = list(values)
    return statistics.median(values) if values else None


def main():
    global BIN
    options, BIN = harness.start(__doc__, ["redis-server", "redis-benchmark"])
    if NUTCRACKER is None:
        sys.exit("nutcracker is not on the PATH nor in /usr/sbin")
    seconds = 0.5 if options.quick else 2.0
    configs = [(f"50 clients, P{p}", ["-t", "set,get", "-c", "50", "-P", str(p), "-d", "100",
                                      "-r", "100000"]) for p in (1, 16)]
    results = {"counts": {}, "direct": [], "proxied": []}
    processes = {}
    began = time.time()
    try:
        processes = start_all()
        for label, args in configs:
            for target in DIRECT + PROXIED:
                count = calibrate(target, args, seconds)
                results["counts"][f"{target[0]} {label}"] = count
                print(f"calibrated {label:16} {target[0]:40} -n {count}", flush=True)
        for round_index in range(options.rounds):
            forward = round_index % 2 == 0
            for label, args in configs:
                for target in (DIRECT if forward else DIRECT[::-1]):
                    count = results["counts"][f"{target[0]} {label}"]
                    for test in run(target, args, count):
                        results["direct"].append({"round": round_index + 1, "config": label,
                                                  "target": target[0], **test})
                        print(f"round {round_index + 1} {label:16} {target[0]:40} "
                              f"{test['test']:4} {test['rps']:12.0f} rps  "
                              f"p99 {test['p99_ms']:.3f} ms", flush=True)
            for label, args in configs:
                for target in (PROXIED if forward else PROXIED[::-1]):
                    count = results["counts"][f"{target[0]} {label}"]
                    for test in proxied_run(target, args, count, processes):
                        results["proxied"].append({"round": round_index + 1, "config": label,
                                                   "target": target[0], **test})
                        cpu = ", ".join(f"{k} {v / test['wall_s']:.2f}"
                                        for k, v in test["cpu_s"].items())
                        print(f"round {round_index + 1} {label:16} {target[0]:40} "
                              f"{test['test']:4} {test['rps']:12.0f} rps  "
                              f"p99 {test['p99_ms']:.3f} ms  cores: {cpu}", flush=True)
    finally:
        stop_all(processes)
    harness.save_results(WORK, results, began)
    report(results, [label for label, _ in configs])


def report(results, configs):
    def rows(kind, target, config, test):
        return [r for r in results[kind] if r["target"] == target and r["config"] == config
                and r["test"] == test]

    def figure(kind, target, config, test, key="rps"):
        return median(r[key] for r in rows(kind, target, config, test))

    rounds = max(r["round"] for r in results["direct"])
    print(f"\nMedians of {rounds} rounds; SET and GET, 100 B values, -r 100000, 50 clients. "
          f"Requests/s, p99 in ms.\n")
    print("| test | tool | Stratus RESP | Redis | Stratus/Redis | Stratus p99 | Redis p99 |")
    print("|---|---|---|---|---|---|---|")
    for config in configs:
        for test in ["SET", "GET"]:
            for tool in ["redis-benchmark", "stratus-bench"]:
                s = figure("direct", f"{tool} -> Stratus RESP", config, test)
                r = figure("direct", f"{tool} -> Redis", config, test)
                sp = figure("direct", f"{tool} -> Stratus RESP", config, test, "p99_ms")
                rp = figure("direct", f"{tool} -> Redis", config, test, "p99_ms")
                print(f"| {test}, {config} | {tool} | {s:,.0f} | {r:,.0f} | {s / r:.2f} | "
                      f"{sp:.3f} | {rp:.3f} |")
    print("\nStratus, its two protocols (stratus-bench):\n")
    print("| test | RESP | Skyhash | RESP/Skyhash | RESP p99 | Skyhash p99 |")
    print("|---|---|---|---|---|---|")
    for config in configs:
        for test in ["SET", "GET"]:
            resp = figure("direct", "stratus-bench -> Stratus RESP", config, test)
            sky = figure("direct", "stratus-bench -> Stratus Skyhash", config, test)
            rp = figure("direct", "stratus-bench -> Stratus RESP", config, test, "p99_ms")
            sp = figure("direct", "stratus-bench -> Stratus Skyhash", config, test, "p99_ms")
            print(f"| {test}, {config} | {resp:,.0f} | {sky:,.0f} | {resp / sky:.2f} | "
                  f"{rp:.3f} | {sp:.3f} |")

    print("\nThrough nutcracker (redis-benchmark; 'direct' is the same tool straight to "
          "shard0's RESP port, from the table above):\n")
    print("| test | direct | 1 shard | 2 shards | 2 shards / 1 | p99 direct | p99 1 shard | "
          "p99 2 shards | shard0 : shard1 commands (2 shards) | cores used, 1 shard: proxy, "
          "shards, client | cores used, 2 shards: proxy, shards, client |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    one, two = PROXIED[0][0], PROXIED[1][0]
    cores = {}
    for config in configs:
        for test in ["SET", "GET"]:
            direct = figure("direct", "redis-benchmark -> Stratus RESP", config, test)
            a, b = figure("proxied", one, config, test), figure("proxied", two, config, test)
            shares = [r["shard_commands"] for r in rows("proxied", two, config, test)]
            s0 = sum(x["shard0"] for x in shares)
            s1 = sum(x["shard1"] for x in shares)

            def used(target):
                # The CPU times cover the SET and GET pair; per test run, in cores.
                runs = rows("proxied", target, config, test)
                get = lambda name: median(r["cpu_s"][name] / r["wall_s"] for r in runs)
                proxy, shards = get("nutcracker"), get("shard0") + get("shard1")
                client = get("redis-benchmark")
                cores[(target, config)] = (proxy, shards, client)
                return f"{proxy:.2f}, {shards:.2f}, {client:.2f}"

            direct_p99 = figure("direct", "redis-benchmark -> Stratus RESP", config, test,
                                "p99_ms")
            print(f"| {test}, {config} | {direct:,.0f} | {a:,.0f} | {b:,.0f} | {b / a:.2f} | "
                  f"{direct_p99:.3f} | {figure('proxied', one, config, test, 'p99_ms'):.3f} | "
                  f"{figure('proxied', two, config, test, 'p99_ms'):.3f} | "
                  f"{s0 / (s0 + s1) * 100:.0f} % : {s1 / (s0 + s1) * 100:.0f} % | "
                  f"{used(one)} | {used(two)} |")
    gains = [figure("proxied", two, config, test) / figure("proxied", one, config, test)
             for config in configs for test in ["SET", "GET"]]
    bounds, unsaturated = [], False
    for config in configs:
        proxy, shards, client = cores[(two, config)]
        total = proxy + shards + client
        if proxy >= 0.9:
            verdict = "nutcracker, one thread, saturated: it set the rate"
        elif total >= 1.7:
            verdict = "the shared cores full: they set the rate"
        else:
            verdict, unsaturated = "neither saturated", True
        bounds.append(f"at {config}, nutcracker used {proxy:.2f} of a core and all the "
                      f"processes {total:.2f} of the 2 cores ({verdict})")
    bound = "; ".join(bounds) + "." + (
        " Where neither is saturated, the rate is set by each request's trip through the "
        "chain (client, proxy, shard and back, a wake-up at each hop), or by other load on "
        "the machine." if unsaturated else "")
    print("\n(cores used: CPU seconds of the process during the SET+GET run divided by its wall "
          "time;\nthe SET and GET rows of one configuration share them.)\n")
    print(textwrap.fill(
        "What two shards on two shared cores can and cannot show. nutcracker, both shards and "
        "redis-benchmark share the same 2 cores, and nutcracker is one thread that does more "
        "work per request than a shard: it parses every request and every reply, hashes the "
        "key and queues the message, while a shard gets the requests already batched on one "
        f"connection. With 2 shards in this run, {bound} A second shard brings no CPU of its "
        "own here, only a second process on the same cores, so the 2-shard figure cannot "
        "show scale-out: on separate machines, with clients and proxies elsewhere, "
        "throughput would grow with shards until the proxy (or several proxies) saturates. "
        "What it can show: that keys split evenly across the shards with hash: murmur (the "
        "shares above); that the proxy serves two backends about as fast as one (2 shards / "
        f"1 here {min(gains):.2f} to {max(gains):.2f}); and what the proxy costs against "
        "going straight to one Stratus (the 'direct' column, and the latency it adds).", 95,
        break_on_hyphens=False))

    print("\nTargets (issue 13):\n")
    print("| target | figure | goal |")
    print("|---|---|---|")
    for config, goal in [(configs[0], 1.0), (configs[1], 1.5)]:
        for tool in ["redis-benchmark", "stratus-bench"]:
            for test in ["SET", "GET"]:
                s = figure("direct", f"{tool} -> Stratus RESP", config, test)
                r = figure("direct", f"{tool} -> Redis", config, test)
                print(f"| Stratus RESP / Redis, {test} {config}, {tool} | {s:,.0f} / {r:,.0f} "
                      f"= **{s / r:.2f}** | >= {goal} |")
    for config in configs:
        for test in ["SET", "GET"]:
            resp = figure("direct", "stratus-bench -> Stratus RESP", config, test)
            sky = figure("direct", "stratus-bench -> Stratus Skyhash", config, test)
            print(f"| Stratus RESP / Skyhash, {test} {config} | {resp:,.0f} / {sky:,.0f} = "
                  f"**{resp / sky:.2f}** | >= 0.9 |")
    print(f"Raw results: {WORK}/results.json ({results['elapsed_s']:.0f} s in all)")


if __name__ == "__main__":
    main()
