#!/usr/bin/env python3
"""Stratus's journal against Redis 7's AOF, side by side, with stratus-bench: issue 11's figures.

Usage, from the repository root (needs redis-server and strace on the PATH):

    python3 bench/journal.py [--rounds 3] [--quick] [--bin-dir DIR]

Builds the release binaries (unless --bin-dir), starts eight servers at once, each on 127.0.0.1
with its own data directory under /tmp/stratus-journal/ (the same disk for all):

    port 7610  Stratus, no journal           7614  Redis --appendonly no
    port 7611  Stratus --journal no          7615  Redis --appendonly yes --appendfsync no
    port 7612  Stratus --journal everysec    7616  Redis --appendonly yes --appendfsync everysec
    port 7613  Stratus --journal always      7617  Redis --appendonly yes --appendfsync always

(Stratus with --nosave --snapevery 3600 --snapkeep 1, Redis with --save ""), fills each with
1,000,000 distinct keys key:%012d of 100 random bytes (this script's own pipelined client), and
measures, per round, alternating the order of the servers:

- SET, 100 B, -r 100000 (keys that exist), at 1 and 50 clients x pipeline 1 and 16, on every
  server: rps and p50/p99/p99.9, idle and then while saves of the whole million-key table run
  back to back (stratus-bench --background-saves: MKSNAP on Stratus, BGSAVE on Redis). The
  requests per test are calibrated per server and test by short trial runs before the
  rounds, to last about 2 s idle (the saving tests take the same count, and longer); the
  counts are in results.json. The journal's own compaction (a BGSAVE when it outgrows
  max(64 MiB, data.bin)) and Redis's AOF rewrite (at 100 % growth) run when they come due, as
  they would in service; each test records how many ran during it. Only in Redis's saving
  tests is the rewrite held back (auto-aof-rewrite-percentage 0 for the test, and a rewrite
  that is due run just before it): stratus-bench's BGSAVE loop stops at the "Another child
  process is active" error that a rewrite between two of its BGSAVEs causes. Before every
  test the script waits until no save, compaction or rewrite is running. For Stratus's
  journaled tests it also reads SYS INFO persistence before and after: commits and fsyncs.
- Commands per fdatasync: the 50-client and the 1-client pipeline-1 SET tests once more on
  both `always` servers with `strace -f -c -w -e trace=fdatasync,fsync -p PID` attached for
  the test only (requests / calls, and strace's mean wall-clock latency per call; the server
  runs slower under strace, which stops it at every system call).
- The fdatasync latency Stratus itself reports: SYS INFO persistence has no cumulative fsync
  time, so during each 1-client `always` test a second connection samples
  journal_last_fsync_us every 10 ms, keeping the samples taken after a new fsync. A sample
  holds the fsync that completed last, so slow stretches of the disk are over-sampled; each
  is weighted by 1 / (latency + round trip) to undo that. That mean, or strace -w's, and the
  round trip (the mean latency of the 1-client journal-off test) predict the 1-client
  `always` rate, 1 / (fdatasync + round trip).
- Restart (ports 7618, 7619): Stratus --journal everysec --nosave, Redis --appendonly yes
  --appendfsync everysec --save "" (and Redis once more with --auto-aof-rewrite-percentage 0,
  so that it loads one plain AOF of the 1M SETs) each take 1M SETs of distinct keys, settle (no
  save or rewrite running), are killed with SIGKILL and restarted; the time from the exec to
  DBSIZE answering 1000000 (polled every 2 ms; Redis answers -LOADING meanwhile). What each
  loaded (data.bin and journal segments past a compaction; AOF base and incr files) is
  printed with it.

It prints Markdown tables of medians and ratios, then the issue's targets with the figures
that decide them, and keeps every raw result in /tmp/stratus-journal/results.json (stratus-bench's
JSON of every test, the strace summaries, the fsync samples, the restart times and file sizes).
--quick is a smoke run (a tenth of the requests and of the keys); the full run takes about
12 minutes. --bin-dir takes stratus and stratus-bench from another build.
"""
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

import harness

BIN = harness.RELEASE_BIN  # replaced by --bin-dir
WORK = "/tmp/stratus-journal"
MODES = ["off", "no", "everysec", "always"]
STRATUS_PORTS = {"off": 7610, "no": 7611, "everysec": 7612, "always": 7613}
REDIS_PORTS = {"off": 7614, "no": 7615, "everysec": 7616, "always": 7617}
RESTART_STRATUS_PORT, RESTART_REDIS_PORT = 7618, 7619


# ---------------------------------------------------------------------------------------------
# Two tiny clients: Skyhash 1.0 (for SYS INFO, DBSIZE and the fill) and RESP2.

class Skyhash:
    def __init__(self, port, timeout=30):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    @staticmethod
    def encode(*parts):
        return b"*1\n_%d\n" % len(parts) + b"".join(b"+%d\n%s\n" % (len(p), p) for p in parts)

    def _line(self):
        while b"\n" not in self.buf:
            self._more()
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def _more(self):
        data = self.sock.recv(1 << 16)
        if not data:
            raise ConnectionError("the server closed the connection")
        self.buf += data

    def _exact(self, count):
        while len(self.buf) < count:
            self._more()
        data, self.buf = self.buf[:count], self.buf[count:]
        return data

    def _element(self):
        line = self._line()
        kind, number = line[:1], int(line[1:])
        if kind in (b"_", b"&"):
            return [self._element() for _ in range(number)]
        data = self._exact(number + 1)[:-1]
        return int(data) if kind == b":" else data.decode()

    def query(self, *parts):
        self.sock.sendall(self.encode(*(p if isinstance(p, bytes) else p.encode()
                                        for p in parts)))
        header = self._line()
        if header != b"*1":
            raise ValueError(f"unexpected Skyhash response header {header!r}")
        return self._element()

    def info(self, section="persistence"):
        return dict(item.split("=", 1) for item in self.query("SYS", "INFO", section))

    def close(self):
        self.sock.close()


class Resp:
    def __init__(self, port, timeout=30):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.file = self.sock.makefile("rb")

    def query(self, *parts):
        parts = [p if isinstance(p, bytes) else str(p).encode() for p in parts]
        self.sock.sendall(b"*%d\r\n" % len(parts)
                          + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
        return self._reply()

    def _reply(self):
        line = self.file.readline()
        if not line:
            raise ConnectionError("the server closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RespError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            return None if size < 0 else self.file.read(size + 2)[:-2].decode()
        if kind == b"*":
            return [self._reply() for _ in range(int(rest))]
        raise ValueError(f"unexpected RESP reply {line!r}")

    def info(self, section="persistence"):
        text = self.query("INFO", section)
        return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)

    def close(self):
        self.sock.close()


class RespError(str):
    pass


# ---------------------------------------------------------------------------------------------
# Servers, each a child process stopped by its PID.

class Server:
    def __init__(self, kind, mode, port, name=None, extra=(), snapshots=True):
        self.kind, self.mode, self.port, self.snapshots = kind, mode, port, snapshots
        self.name = name or f"{kind}-{mode}"
        self.dir = f"{WORK}/{self.name}"
        self.extra = list(extra)
        self.proc = None
        self.log = f"{WORK}/{self.name}.log"

    @property
    def label(self):
        return f"{'Stratus' if self.kind == 'stratus' else 'Redis'} {self.mode}"

    @property
    def protocol(self):
        return "skyhash" if self.kind == "stratus" else "resp"

    def command(self):
        if self.kind == "stratus":
            command = [f"{BIN}/stratus", "--noart", "-p", str(self.port), "--data-dir", self.dir,
                       "--nosave"]
            if self.snapshots:
                command += ["--snapevery", "3600", "--snapkeep", "1"]
            if self.mode != "off":
                command += ["--journal", self.mode]
            return command + self.extra
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
                   self.dir, "--save", "", "--daemonize", "no", "--logfile", self.log]
        if self.mode == "off":
            command += ["--appendonly", "no"]
        else:
            command += ["--appendonly", "yes", "--appendfsync", self.mode]
        return command + self.extra

    def spawn(self):
        """Starts the process and returns at once (the restart test times from here)."""
        os.makedirs(self.dir, exist_ok=True)
        log = open(self.log, "a")
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=log, cwd=self.dir)
        return self.proc

    def start(self):
        self.spawn()
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"{self.name} exited with {self.proc.returncode}; see {self.log}")
            try:
                client = self.client(timeout=2)
                reply = client.query("HEYA") if self.kind == "stratus" else client.query("PING")
                client.close()
                if reply in ("HEY!", "PONG"):
                    return self
            except (OSError, ValueError):
                pass
            time.sleep(0.02)
        sys.exit(f"{self.name} did not start; see {self.log}")

    def client(self, timeout=30):
        return (Skyhash if self.kind == "stratus" else Resp)(self.port, timeout)

    def info(self):
        client = self.client()
        try:
            return client.info()
        finally:
            client.close()

    def saving(self, info=None):
        info = info or self.info()
        if self.kind == "stratus":
            return info["save_in_progress"] != "0"
        return info["rdb_bgsave_in_progress"] != "0" or info["aof_rewrite_in_progress"] != "0" \
            or info.get("aof_rewrite_scheduled", "0") != "0"

    def compactions(self, info):
        """Saves of data.bin (Stratus: with --nosave, only the journal's compactions and the
        shutdown save) or AOF rewrites (Redis)."""
        return int(info["saves_succeeded"] if self.kind == "stratus" else info["aof_rewrites"])

    def settle(self, timeout=120):
        """Waits until no save, compaction or AOF rewrite is running."""
        deadline = time.time() + timeout
        while self.saving():
            if time.time() > deadline:
                sys.exit(f"{self.name}: a save still running after {timeout} s")
            time.sleep(0.05)

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def fill(server, count, size=100):
    """Sets key:000000000000 ... key:%012d (count - 1) to 100 random printable bytes each, in
    pipelined batches on one connection: distinct keys, so DBSIZE ends at count. Redis with
    appendfsync always or everysec is filled with appendfsync no (restored after): one
    connection gets one fsync per 16 KiB read there, 25 s for a million keys."""
    fsync = server.kind == "redis" and server.mode in ("always", "everysec")
    if fsync:
        redis_call(server, "CONFIG", "SET", "appendfsync", "no")
    rng = random.Random(11)
    alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    values = [bytes(rng.choice(alphabet) for _ in range(size)) for _ in range(1024)]
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=120)
    if server.kind == "stratus":
        request, reply = b"*1\n_3\n+4\nUSET\n+16\nkey:%012d\n+" + b"%d\n" % size + b"%s\n", \
            b"*1\n:1\n1\n"
    else:
        request, reply = b"*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$" + b"%d\r\n" % size + \
            b"%s\r\n", b"+OK\r\n"
    batch = 5000
    for start in range(0, count, batch):
        keys = range(start, min(count, start + batch))
        sock.sendall(b"".join(request % (i, values[i & 1023]) for i in keys))
        expected = reply * len(keys)
        got = bytearray()
        while len(got) < len(expected):
            data = sock.recv(1 << 20)
            if not data:
                sys.exit(f"fill of {server.name}: the server closed the connection")
            got += data
        if got != expected:
            sys.exit(f"fill of {server.name}: unexpected reply {bytes(got[:80])!r}")
    sock.close()
    if fsync:
        redis_call(server, "CONFIG", "SET", "appendfsync", server.mode)


def redis_call(server, *parts):
    client = server.client()
    try:
        reply = client.query(*parts)
    finally:
        client.close()
    if isinstance(reply, RespError):
        sys.exit(f"{server.name}: {' '.join(parts)} answered {reply}")
    return reply


def dbsize(server):
    client = server.client()
    try:
        return client.query("DBSIZE")
    finally:
        client.close()


def bench(server, args):
    out = subprocess.run(
        [f"{BIN}/stratus-bench", "--protocol", server.protocol, "-p", str(server.port), "--json",
         *args], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"stratus-bench {' '.join(args)} against {server.name} failed:\n{out.stderr}"
                 f"\n{out.stdout}")
    return json.loads(out.stdout)


class FsyncSampler(threading.Thread):
    """Samples Stratus's journal_last_fsync_us every 10 ms on its own connection, keeping a
    sample only when journal_fsyncs has moved since the previous one."""

    def __init__(self, server):
        super().__init__(daemon=True)
        self.server, self.samples, self.done = server, [], threading.Event()

    def run(self):
        client = Skyhash(self.server.port)
        last = None
        while not self.done.is_set():
            info = client.info()
            if last is not None and info["journal_fsyncs"] != last:
                self.samples.append(int(info["journal_last_fsync_us"]))
            last = info["journal_fsyncs"]
            self.done.wait(0.01)
        client.close()


def set_args(clients, pipeline):
    return ["-t", "set", "-d", "100", "-r", "100000", "-c", clients, "-P", pipeline]


def calibrate(server, args, seconds):
    """Requests for a test of about `seconds` on this server, from short trial runs."""
    return harness.calibrate(lambda count: bench(server, args + ["-n", str(count)]), seconds,
                             first=300 if server.mode == "always" else 3000)


def run_test(server, args, phase):
    """One stratus-bench SET test with the figures around it."""
    server.settle()
    hold_rewrites = server.kind == "redis" and server.mode != "off" and phase == "saving"
    if hold_rewrites:
        # stratus-bench's BGSAVE loop stops at Redis's "Another child process is active"
        # error, which an AOF rewrite started between two of its BGSAVEs causes: the rewrite
        # that would come due in this test runs just before it instead.
        info = server.info()
        if int(info["aof_current_size"]) > max(64 << 20, 2 * int(info["aof_base_size"])):
            redis_call(server, "BGREWRITEAOF")
            time.sleep(0.1)
            server.settle()
        redis_call(server, "CONFIG", "SET", "auto-aof-rewrite-percentage", "0")
    before = server.info()
    sampler = None
    if server.kind == "stratus" and server.mode == "always" and "-c" in args \
            and args[args.index("-c") + 1] == "1" and args[args.index("-P") + 1] == "1":
        sampler = FsyncSampler(server)
        sampler.start()
    test = bench(server, args)[0]
    if sampler:
        sampler.done.set()
        sampler.join()
        test["fsync_samples_us"] = sampler.samples
    after = server.info()
    if hold_rewrites:
        redis_call(server, "CONFIG", "SET", "auto-aof-rewrite-percentage", "100")
    test["compactions"] = server.compactions(after) - server.compactions(before)
    if server.kind == "stratus" and server.mode != "off":
        test["journal_commits"] = int(after["journal_commits"]) - int(before["journal_commits"])
        test["journal_fsyncs"] = int(after["journal_fsyncs"]) - int(before["journal_fsyncs"])
        test["journal_max_fsync_us"] = int(after["journal_max_fsync_us"])
    test["phase"] = phase
    return test


def strace_run(server, args):
    """The test once more with strace counting fdatasync and fsync in every thread."""
    server.settle()
    out = f"{WORK}/strace-{server.name}.txt"
    before = server.info()
    tracer = subprocess.Popen(
        ["strace", "-f", "-c", "-w", "-e", "trace=fdatasync,fsync", "-o", out, "-p",
         str(server.proc.pid)], stderr=subprocess.PIPE, text=True)
    # strace says "Process N attached" once per thread on stderr.
    line = tracer.stderr.readline()
    if "attached" not in line:
        tracer.kill()
        sys.exit(f"strace could not attach to {server.name}: {line}{tracer.stderr.read()}")
    time.sleep(0.3)
    try:
        test = bench(server, args)[0]
    finally:
        tracer.send_signal(signal.SIGINT)  # detaches and writes the summary
        tracer.wait(timeout=30)
    after = server.info()
    calls, seconds, usecs = 0, 0.0, []
    summary = open(out).read()
    for row in summary.splitlines():
        fields = row.split()
        if fields and fields[-1] in ("fdatasync", "fsync"):
            # % time, seconds, usecs/call, calls, [errors,] syscall
            calls += int(fields[3])
            seconds += float(fields[1])
    test.update({"strace_summary": summary, "fsync_calls": calls, "fsync_seconds": seconds,
                 "compactions": server.compactions(after) - server.compactions(before)})
    if server.kind == "stratus":
        test["journal_commits"] = int(after["journal_commits"]) - int(before["journal_commits"])
        test["journal_fsyncs"] = int(after["journal_fsyncs"]) - int(before["journal_fsyncs"])
    return test


def files_of(directory):
    """The data files a restart reads, with their sizes."""
    found = {}
    for base, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(base, name)
            relative = os.path.relpath(path, directory)
            if relative.endswith((".log", ".pid")) or relative.startswith("snapshots"):
                continue
            found[relative] = os.path.getsize(path)
    return dict(sorted(found.items()))


def restart_round(kind, name, keys, extra=()):
    """Fill with `keys` distinct SETs, settle, SIGKILL, restart, time exec -> DBSIZE = keys."""
    if kind == "stratus":
        server = Server("stratus", "everysec", RESTART_STRATUS_PORT, name=name, snapshots=False)
    else:
        server = Server("redis", "everysec", RESTART_REDIS_PORT, name=name, extra=extra)
    shutil.rmtree(server.dir, ignore_errors=True)
    try:
        server.start()
        fill(server, keys)
        if dbsize(server) != keys:
            sys.exit(f"{name}: DBSIZE is not {keys} after the fill")
        server.settle()  # every reply came after its write(2): kill -9 loses nothing
        files = files_of(server.dir)
        server.stop(signal.SIGKILL)
        start = time.monotonic()
        server.spawn()
        loading_replies = 0
        client = None
        while True:
            if server.proc.poll() is not None:
                sys.exit(f"{name} exited during the restart; see {server.log}")
            try:
                if client is None:
                    client = server.client(timeout=60)
                reply = client.query("DBSIZE")
                if reply == keys:
                    elapsed = time.monotonic() - start
                    break
                if isinstance(reply, RespError) and reply.startswith("LOADING"):
                    loading_replies += 1
                else:
                    sys.exit(f"{name}: DBSIZE answered {reply!r} after the restart")
            except (OSError, ConnectionError):
                if client is not None:
                    client.close()
                client = None
            time.sleep(0.002)
        client.close()
        return {"server": name, "keys": keys, "restart_s": elapsed, "files": files,
                "loading_replies": loading_replies}
    finally:
        server.stop()


def median(values):
    values = list(values)
    return statistics.median(values) if values else float("nan")


def main():
    global BIN
    options, BIN = harness.start(__doc__, ["redis-server", "strace"])
    scale = 0.1 if options.quick else 1.0
    seconds = 0.5 if options.quick else 2.0
    keys = int(1_000_000 * scale)
    # (label, clients, pipeline); the requests per test are calibrated per server to last
    # about `seconds` idle (the machine's round trip decides the 1-client rates).
    configs = [("50 clients, P1", "50", "1"), ("50 clients, P16", "50", "16"),
               ("1 client, P1", "1", "1"), ("1 client, P16", "1", "16")]
    results = {"keys": keys, "tests": [], "strace": [], "restart": []}
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    servers = [Server(kind, mode, ports[mode]) for mode in MODES
               for kind, ports in [("stratus", STRATUS_PORTS), ("redis", REDIS_PORTS)]]
    began = time.time()
    try:
        for server in servers:
            server.start()
        for server in servers:
            fill(server, keys)
            print(f"filled {server.label:18} with {dbsize(server):,} keys", flush=True)
        for server in servers:
            server.settle()
        counts = {}
        for label, clients, pipeline in configs:
            for server in servers:
                count = calibrate(server, set_args(clients, pipeline), seconds)
                counts[f"{server.name} {label}"] = count
                print(f"calibrated {label:16} {server.label:17} -n {count}", flush=True)
        results["requests_per_test"] = counts
        for round_index in range(options.rounds):
            order = servers if round_index % 2 == 0 else servers[::-1]
            for label, clients, pipeline in configs:
                for server in order:
                    count = counts[f"{server.name} {label}"]
                    args = set_args(clients, pipeline) + ["-n", str(count)]
                    for phase, extra in [("idle", []), ("saving", ["--background-saves"])]:
                        test = run_test(server, args + extra, phase)
                        test.update({"round": round_index + 1, "config": label,
                                     "server": server.kind, "mode": server.mode})
                        results["tests"].append(test)
                        print(f"round {round_index + 1} {label:16} {server.label:17} {phase:6} "
                              f"{test['rps']:10.0f} rps  p50 {test['p50_ms']:.3f}  "
                              f"p99 {test['p99_ms']:.3f}  p99.9 {test['p999_ms']:.3f} ms  "
                              f"saves {test.get('background_saves', 0)}  "
                              f"compactions {test['compactions']}", flush=True)
        for label, clients, pipeline in [configs[0], configs[2]]:
            for server in [s for s in servers if s.mode == "always"]:
                count = counts[f"{server.name} {label}"]
                args = set_args(clients, pipeline) + ["-n", str(count)]
                test = strace_run(server, args)
                test.update({"server": server.kind, "mode": server.mode, "config": label})
                results["strace"].append(test)
                print(f"strace {label:16} {server.label:17} {test['requests']} requests, "
                      f"{test['fsync_calls']} fdatasync/fsync calls, {test['rps']:.0f} rps "
                      f"under strace", flush=True)
    finally:
        for server in servers:
            server.stop()
    restart_kinds = [("stratus", "restart-stratus", []),
                     ("redis", "restart-redis", []),
                     ("redis", "restart-redis-norewrite", ["--auto-aof-rewrite-percentage", "0"])]
    for round_index in range(options.rounds):
        order = restart_kinds if round_index % 2 == 0 else restart_kinds[::-1]
        for kind, name, extra in order:
            row = restart_round(kind, name, keys, extra)
            row["round"] = round_index + 1
            results["restart"].append(row)
            print(f"round {round_index + 1} restart {name:24} {row['restart_s'] * 1000:8.1f} ms"
                  f"  files {row['files']}", flush=True)
    harness.save_results(WORK, results, began)
    report(results, [c[0] for c in configs])


def lat(rows):
    return " / ".join(f"{median(r[key] for r in rows):.3f}" for key in
                      ["p50_ms", "p99_ms", "p999_ms"])


def report(results, configs):
    tests = results["tests"]
    pick = lambda server, mode, config, phase: [
        r for r in tests if r["server"] == server and r["mode"] == mode
        and r["config"] == config and r["phase"] == phase]
    rps = lambda rows: median(r["rps"] for r in rows)
    print(f"\nSET, 100 B, -r 100000, over a table of {results['keys']:,} keys; medians of "
          f"{max(r['round'] for r in tests)} rounds. Latency columns: p50 / p99 / p99.9 ms.")
    for phase, title in [("idle", "Idle"), ("saving", "While saves of the whole table run "
                                                     "back to back")]:
        print(f"\n{title}:\n")
        extra = " Stratus saves | Redis saves | Stratus saving/idle | Redis saving/idle |" \
            if phase == "saving" else ""
        print(f"| test | journal / AOF | Stratus rps | Redis rps | Stratus/Redis | "
              f"Stratus latency | Redis latency | compactions S/R |{extra}")
        print("|---|---|---|---|---|---|---|---|" + ("---|" * 4 if phase == "saving" else ""))
        for config in configs:
            for mode in MODES:
                s, r = pick("stratus", mode, config, phase), pick("redis", mode, config, phase)
                line = (f"| SET, {config} | {mode} | {rps(s):,.0f} | {rps(r):,.0f} | "
                        f"{rps(s) / rps(r):.2f} | {lat(s)} | {lat(r)} | "
                        f"{sum(x['compactions'] for x in s)}/{sum(x['compactions'] for x in r)} |")
                if phase == "saving":
                    si, ri = pick("stratus", mode, config, "idle"), pick("redis", mode, config,
                                                                       "idle")
                    line += (f" {median(x.get('background_saves', 0) for x in s):.0f} | "
                             f"{median(x.get('background_saves', 0) for x in r):.0f} | "
                             f"{rps(s) / rps(si):.2f} | {rps(r) / rps(ri):.2f} |")
                print(line)
    print("\n(compactions S/R: the journal's compaction BGSAVEs and Redis's AOF rewrites that "
          "ran during these tests, summed over the rounds; saves: median background saves "
          "completed per test.)")

    print("\nCommands per fdatasync, `always`: the test once more with strace attached:\n")
    print("| test | server | requests | fdatasync + fsync calls | requests per call | "
          "mean call latency (strace -w) | rps under strace | Stratus SYS: commits, fsyncs |")
    print("|---|---|---|---|---|---|---|---|")
    for row in results["strace"]:
        calls = row["fsync_calls"]
        sys_figures = (f"{row['journal_commits']:,}, {row['journal_fsyncs']:,}"
                       if row["server"] == "stratus" else "")
        print(f"| SET, {row['config']} | {'Stratus' if row['server'] == 'stratus' else 'Redis'} | "
              f"{row['requests']:,} | {calls:,} | "
              f"{row['requests'] / calls if calls else float('nan'):.1f} | "
              f"{row['fsync_seconds'] / calls * 1000 if calls else float('nan'):.3f} ms | "
              f"{row['rps']:,.0f} | {sys_figures} |")
    print("\nStratus `always` without strace (SYS INFO persistence deltas, medians, idle):\n")
    print("| test | requests per fdatasync | requests per commit |")
    print("|---|---|---|")
    for config in configs:
        rows = pick("stratus", "always", config, "idle")
        per_fsync = median(r["requests"] / max(1, r["journal_fsyncs"]) for r in rows)
        per_commit = median(r["requests"] / max(1, r["journal_commits"]) for r in rows)
        print(f"| SET, {config} | {per_fsync:.1f} | {per_commit:.1f} |")
    slowest = max(r["journal_max_fsync_us"] for r in tests if "journal_max_fsync_us" in r
                  and r["mode"] == "always")
    print(f"\n(journal_max_fsync_us of the `always` server at its last test: "
          f"{slowest / 1000:.2f} ms.)")

    restarts = results["restart"]
    restart = lambda name: median(r["restart_s"] for r in restarts if r["server"] == name)
    print(f"\nRestart after SIGKILL, {results['keys']:,} SETs of distinct keys, 100 B "
          f"(exec to DBSIZE = {results['keys']:,}, median):\n")
    print("| server | restart ms | / Stratus | files loaded (last round, bytes) |")
    print("|---|---|---|---|")
    for name, label in [("restart-stratus", "Stratus --journal everysec --nosave"),
                        ("restart-redis", "Redis --appendonly yes --appendfsync everysec"),
                        ("restart-redis-norewrite", "Redis, also --auto-aof-rewrite-percentage 0")]:
        files = [r for r in restarts if r["server"] == name][-1]["files"]
        listing = ", ".join(f"{path} {size:,}" for path, size in files.items())
        print(f"| {label} | {restart(name) * 1000:.1f} | "
              f"{restart(name) / restart('restart-stratus'):.2f} | {listing} |")

    # The targets.
    idle_rps = lambda server, mode, config: rps(pick(server, mode, config, "idle"))
    samples = [s for r in pick("stratus", "always", "1 client, P1", "idle")
               for s in r.get("fsync_samples_us", [])]
    rtt_s = median(r["mean_ms"] for r in pick("stratus", "off", "1 client, P1", "idle")) / 1000
    # A sample taken every 10 ms holds the fsync that completed last: one followed by a long
    # cycle (a slow stretch of the disk) is picked more often. Weighting each sample by
    # 1 / (its latency + round trip) undoes that, taking the next cycle to be like its own.
    weights = [1 / (sample / 1e6 + rtt_s) for sample in samples]
    fsync_s = (sum(s / 1e6 * w for s, w in zip(samples, weights)) / sum(weights)) if samples \
        else float("nan")
    fsync_raw_s = statistics.mean(samples) / 1e6 if samples else float("nan")
    fsync_median_s = median(samples) / 1e6 if samples else float("nan")
    traced = [r for r in results["strace"] if r["server"] == "stratus"
              and r["config"] == "1 client, P1" and r["fsync_calls"]]
    fsync_strace_s = traced[0]["fsync_seconds"] / traced[0]["fsync_calls"] if traced \
        else float("nan")
    predicted = 1 / (fsync_s + rtt_s)
    predicted_strace = 1 / (fsync_strace_s + rtt_s)
    actual = idle_rps("stratus", "always", "1 client, P1")
    print("\nTargets (issue 11), idle figures:\n")
    print("| target | figure | goal |")
    print("|---|---|---|")
    for config in ["50 clients, P1", "50 clients, P16"]:
        s, r = idle_rps("stratus", "always", config), idle_rps("redis", "always", config)
        print(f"| `always` / Redis `always`, SET {config} | {s:,.0f} / {r:,.0f} = "
              f"**{s / r:.2f}** | >= 1.0 |")
    for config in configs:
        e, o = idle_rps("stratus", "everysec", config), idle_rps("stratus", "off", config)
        print(f"| `everysec` / journal off, SET {config} | {e:,.0f} / {o:,.0f} = "
              f"**{e / o:.2f}** | >= 0.9 |")
    print(f"| 1-client `always` rps / (1 / (fdatasync from SYS + round trip)) | {actual:,.0f} / "
          f"(1 / ({fsync_s * 1000:.3f} ms + {rtt_s * 1000:.3f} ms) = {predicted:,.0f}) = "
          f"**{actual / predicted:.2f}** | 0.9 - 1.1 |")
    print(f"| the same, fdatasync from strace -w (1 client) | {actual:,.0f} / "
          f"(1 / ({fsync_strace_s * 1000:.3f} ms + {rtt_s * 1000:.3f} ms) = "
          f"{predicted_strace:,.0f}) = **{actual / predicted_strace:.2f}** | 0.9 - 1.1 |")
    s, r = restart("restart-stratus"), restart("restart-redis")
    print(f"| restart: Redis AOF load / Stratus journal | {r * 1000:.1f} ms / {s * 1000:.1f} ms = "
          f"**{r / s:.2f}** | >= 3 |")
    rn = restart("restart-redis-norewrite")
    print(f"| restart: Redis plain AOF (no rewrite) / Stratus | {rn * 1000:.1f} ms / "
          f"{s * 1000:.1f} ms = **{rn / s:.2f}** | (>= 3) |")
    print(f"\nfdatasync latency from SYS INFO persistence: {len(samples)} samples of "
          f"journal_last_fsync_us taken every 10 ms during the 1-client `always` tests (SYS "
          f"INFO has no cumulative fsync time that would give the exact mean): mean "
          f"{fsync_s * 1000:.3f} ms once each is weighted by 1 / (latency + round trip) "
          f"against the over-sampling of slow stretches (unweighted mean {fsync_raw_s * 1000:.3f} "
          f"ms, median {fsync_median_s * 1000:.3f} ms). strace -w's mean over every call of "
          f"the traced 1-client run: {fsync_strace_s * 1000:.3f} ms. Round trip "
          f"{rtt_s * 1000:.3f} ms = mean latency of the 1-client journal-off test.")
    print(f"Raw results: {WORK}/results.json ({results['elapsed_s']:.0f} s in all)")


if __name__ == "__main__":
    main()
