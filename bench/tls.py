#!/usr/bin/env python3
"""Stratus over TLS against Redis 7 over TLS, side by side, with stratus-bench: issue 12's figures.

Usage, from the repository root (needs redis-server, built with TLS as Debian's is, and the
openssl command on the PATH):

    python3 bench/tls.py [--rounds 3] [--quick] [--bin-dir DIR]

Makes a self-signed EC P-256 certificate for 127.0.0.1 with the openssl CLI
(subjectAltName IP:127.0.0.1, DNS:localhost) in /tmp/stratus-tls/, then starts on 127.0.0.1,
each with its own data directory under /tmp/stratus-tls/:

- one Stratus: plain Skyhash on port 7620 and, beside it, TLS with `-k key.pem -z cert.pem
  --sslport 0` (the port it picked is read from its `Server started on: skyhash://A and
  skyhash-secure://B` line). A build without the TLS listener refuses those flags; the script
  then says so, starts Stratus plain only and leaves the TLS columns empty;
- one Redis, `--tls-port 7621 --tls-cert-file cert.pem --tls-key-file key.pem
  --tls-ca-cert-file cert.pem --tls-auth-clients no`, with plain RESP on port 7622 as well
  (for Redis's own TLS/plain ratio, beside Stratus's).

stratus-bench drives all four endpoints (`--tls --cacert cert.pem` for the TLS ones: Skyhash
over TLS for Stratus, RESP over TLS for Redis), alternating the order every round: SET and GET,
100 B, -r 100000, 50 clients at pipeline 1 and 16 (rps and p99), and new connections per
second over TLS (`-t connect -c 50`: connect, handshake, one HEYA or PING, close, 50 such
loops at once; not over plain TCP, whose 15,000-35,000 connections a second run the client
out of ephemeral ports within a test). The requests per test are calibrated per endpoint by
short trial runs before the rounds, to last about 2 s (connect tests at most 8,000
connections; the counts are in results.json). It prints Markdown tables of medians and
ratios, then the issue's targets (TLS Stratus / TLS Redis at P1 and P16, TLS Stratus P16 /
plain Stratus P16), and keeps every raw result in /tmp/stratus-tls/results.json. --quick is a
smoke run (tests of about 0.5 s); the full run takes about 3 minutes. --bin-dir takes stratus
and stratus-bench from another build.
"""
import json
import os
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import time

import harness

BIN = harness.RELEASE_BIN  # replaced by --bin-dir
WORK = "/tmp/stratus-tls"
STRATUS_PORT, REDIS_TLS_PORT, REDIS_PORT = 7620, 7621, 7622
CERT, KEY = f"{WORK}/cert.pem", f"{WORK}/key.pem"


def make_certificate():
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", KEY, "-out", CERT, "-days", "30", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True)


def start_stratus():
    """Stratus with TLS beside plain, or plain only when this build has no TLS listener.
    Returns (process, TLS port or None, why TLS is missing or None)."""
    def launch(tls):
        log_path = f"{WORK}/stratus.log"
        command = [f"{BIN}/stratus", "--noart", "-p", str(STRATUS_PORT), "--data-dir",
                   f"{WORK}/stratus", "--nosave"]
        if tls:
            command += ["-k", KEY, "-z", CERT, "--sslport", "0"]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                   stderr=open(log_path, "w"), cwd=WORK)
        deadline = time.time() + 30
        while time.time() < deadline:
            log = open(log_path).read()
            started = re.search(r"Server started on: (\S+)(?: and (\S+))?", log)
            if started:
                secure = started.group(2) or ""
                match = re.match(r"skyhash-secure://.*:(\d+)$", secure)
                return process, int(match.group(1)) if match else None, log
            if process.poll() is not None:
                return None, None, log
            time.sleep(0.02)
        process.kill()
        sys.exit(f"Stratus did not start; see {log_path}")

    process, tls_port, log = launch(tls=True)
    if process is not None and tls_port is not None:
        return process, tls_port, None
    if process is not None:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        why = "Stratus started without a skyhash-secure:// listener"
    else:
        errors = [line for line in log.splitlines() if "ERROR" in line] or log.splitlines()[-1:]
        why = "Stratus refused the TLS flags: " + " ".join(errors)
    print(f"NOTE: {why}\nNOTE: measuring Stratus over plain TCP only; the TLS columns stay "
          f"empty.", flush=True)
    process, _, log = launch(tls=False)
    if process is None:
        sys.exit(f"Stratus did not start:\n{log}")
    return process, None, why


def start_redis():
    process = subprocess.Popen(
        ["redis-server", "--port", str(REDIS_PORT), "--tls-port", str(REDIS_TLS_PORT),
         "--tls-cert-file", CERT, "--tls-key-file", KEY, "--tls-ca-cert-file", CERT,
         "--tls-auth-clients", "no", "--bind", "127.0.0.1", "--dir", f"{WORK}/redis",
         "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile",
         f"{WORK}/redis.log"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=WORK)
    context = ssl.create_default_context(cafile=CERT)
    deadline = time.time() + 30
    while time.time() < deadline:
        if process.poll() is not None:
            sys.exit(f"redis-server exited with {process.returncode}; see {WORK}/redis.log "
                     f"(a build without TLS refuses --tls-port)")
        try:
            with socket.create_connection(("127.0.0.1", REDIS_TLS_PORT), timeout=2) as raw, \
                    context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(b"PING\r\n")
                if tls.recv(64) == b"+PONG\r\n":
                    return process
        except (OSError, ssl.SSLError):
            pass
        time.sleep(0.05)
    sys.exit(f"Redis did not start; see {WORK}/redis.log")


def stop(process):
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def bench(endpoint, args):
    name, protocol, port, tls = endpoint
    command = [f"{BIN}/stratus-bench", "--protocol", protocol, "-p", str(port), "--json"]
    if tls:
        command += ["--tls", "--cacert", CERT]
    out = subprocess.run(command + args, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"stratus-bench {' '.join(args)} against {name} failed:\n{out.stderr}"
                 f"\n{out.stdout}")
    return json.loads(out.stdout)


def endpoints_for(endpoints, args):
    """New connections are measured over TLS only: a plain connect loop runs at 15,000 to
    35,000 a second here, which exhausts the client's ephemeral ports (TIME_WAIT) within a
    2-second test and then measures port reuse, not the server."""
    return [e for e in endpoints if e[3]] if "connect" in args else endpoints


def calibrate(endpoint, args, seconds):
    """Requests for a run whose every test lasts about `seconds`, from short trial runs; at
    most 8,000 new connections per connect test (the ephemeral ports, see endpoints_for)."""
    connect = "connect" in args
    count = harness.calibrate(lambda count: bench(endpoint, args + ["-n", str(count)]), seconds,
                              first=500 if connect else 3000)
    return min(count, 8000) if connect else count


def median(values):
    values = list(values)
    return statistics.median(values) if values else None


def main():
    global BIN
    options, BIN = harness.start(__doc__, ["redis-server", "openssl"])
    seconds = 0.5 if options.quick else 2.0
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(f"{WORK}/redis")
    make_certificate()
    configs = [
        ("50 clients, P1", ["-t", "set,get", "-d", "100", "-r", "100000", "-c", "50", "-P", "1"]),
        ("50 clients, P16", ["-t", "set,get", "-d", "100", "-r", "100000", "-c", "50",
                             "-P", "16"]),
        ("new connections, 50 at once", ["-t", "connect", "-c", "50"]),
    ]
    results = {"stratus_tls_missing": None, "counts": {}, "tests": []}
    stratus = redis = None
    began = time.time()
    try:
        stratus, stratus_tls_port, missing = start_stratus()
        results["stratus_tls_missing"] = missing
        redis = start_redis()
        endpoints = [("Stratus TLS", "skyhash", stratus_tls_port, True),
                     ("Redis TLS", "resp", REDIS_TLS_PORT, True),
                     ("Stratus plain", "skyhash", STRATUS_PORT, False),
                     ("Redis plain", "resp", REDIS_PORT, False)]
        endpoints = [e for e in endpoints if e[2] is not None]
        for label, args in configs:
            for endpoint in endpoints_for(endpoints, args):
                count = calibrate(endpoint, args, seconds)
                results["counts"][f"{endpoint[0]} {label}"] = count
                print(f"calibrated {label:20} {endpoint[0]:14} -n {count}", flush=True)
        for round_index in range(options.rounds):
            order = endpoints if round_index % 2 == 0 else endpoints[::-1]
            for label, args in configs:
                for endpoint in endpoints_for(order, args):
                    count = results["counts"][f"{endpoint[0]} {label}"]
                    for test in bench(endpoint, args + ["-n", str(count)]):
                        results["tests"].append({"round": round_index + 1, "config": label,
                                                 "endpoint": endpoint[0], **test})
                        print(f"round {round_index + 1} {label:20} {endpoint[0]:14} "
                              f"{test['test']:7} {test['rps']:12.0f} rps  "
                              f"p99 {test['p99_ms']:.3f} ms", flush=True)
    finally:
        stop(stratus)
        stop(redis)
    harness.save_results(WORK, results, began)
    report(results, [label for label, _ in configs])


def report(results, configs):
    def figure(endpoint, config, test, key):
        return median(r[key] for r in results["tests"] if r["endpoint"] == endpoint
                      and r["config"] == config and r["test"] == test)

    number = lambda value, form: "n/a" if value is None else format(value, form)
    ratio = lambda a, b: "n/a" if a is None or b is None else f"{a / b:.2f}"
    rows = [(config, test) for config in configs
            for test in (["CONNECT"] if config.startswith("new") else ["SET", "GET"])]
    rounds = max(r["round"] for r in results["tests"])
    print(f"\nMedians of {rounds} rounds; 100 B values, -r 100000. Requests/s (connect: new "
          f"connections/s, each with its handshake and one request).\n")
    print("| test | Stratus TLS | Redis TLS | Stratus/Redis, TLS | Stratus plain | "
          "Stratus TLS/plain | Redis plain | Redis TLS/plain |")
    print("|---|---|---|---|---|---|---|---|")
    for config, test in rows:
        st, rt = figure("Stratus TLS", config, test, "rps"), figure("Redis TLS", config, test,
                                                                    "rps")
        sp, rp = figure("Stratus plain", config, test, "rps"), figure("Redis plain", config,
                                                                      test, "rps")
        name = config if test == "CONNECT" else f"{test}, {config}"
        print(f"| {name} | {number(st, ',.0f')} | {number(rt, ',.0f')} | "
              f"{ratio(st, rt)} | {number(sp, ',.0f')} | {ratio(st, sp)} | "
              f"{number(rp, ',.0f')} | {ratio(rt, rp)} |")
    print("\np99 latency, ms:\n")
    print("| test | Stratus TLS | Redis TLS | Stratus plain | Redis plain |")
    print("|---|---|---|---|---|")
    for config, test in rows:
        cells = [number(figure(e, config, test, "p99_ms"), ".3f")
                 for e in ["Stratus TLS", "Redis TLS", "Stratus plain", "Redis plain"]]
        name = config if test == "CONNECT" else f"{test}, {config}"
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("\nTargets (issue 12):\n")
    print("| target | figure | goal |")
    print("|---|---|---|")
    for config in configs[:2]:
        for test in ["SET", "GET"]:
            st = figure("Stratus TLS", config, test, "rps")
            rt = figure("Redis TLS", config, test, "rps")
            print(f"| TLS Stratus / TLS Redis, {test} {config} | {number(st, ',.0f')} / "
                  f"{number(rt, ',.0f')} = **{ratio(st, rt)}** | >= 1.0 |")
    for test in ["SET", "GET"]:
        st = figure("Stratus TLS", configs[1], test, "rps")
        sp = figure("Stratus plain", configs[1], test, "rps")
        print(f"| TLS Stratus / plain Stratus, {test} {configs[1]} | {number(st, ',.0f')} / "
              f"{number(sp, ',.0f')} = **{ratio(st, sp)}** | >= 0.7 |")
    if results["stratus_tls_missing"]:
        print(f"\nStratus TLS not measured: {results['stratus_tls_missing']}")
    print(f"Raw results: {WORK}/results.json ({results['elapsed_s']:.0f} s in all)")


if __name__ == "__main__":
    main()
