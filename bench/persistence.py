"""Save, load and memory of 1M keys x 100 B, Stratus and Redis 7 alternately (BENCHMARKS.md).

Usage, from the repository root, after `cargo build --release` and with redis-server and
redis-cli on the PATH:  python3 bench/persistence.py [rounds]
It writes the same data set to both servers (bench/fill.py), and per round prints the
foreground save time (Stratus: the shutdown save; Redis: SAVE), the time from starting the
process until DBSIZE answers 1M, RSS after filling and after loading, and the BGSAVE and fork
figures. Ports 7400/7401 and directories under /tmp/stratus-bench are used.
"""
import os, re, shutil, signal, socket, subprocess, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fill

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STRATUS = os.path.join(ROOT, "target/release/stratus")
WORK = "/tmp/stratus-bench"
RESP_FILE = os.path.join(WORK, "rand1m.resp")
N, SIZE = 1_000_000, 100

def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

def sky(port, parts):
    s = socket.create_connection(("127.0.0.1", port))
    q = b"*1\n_%d\n" % len(parts) + b"".join(b"+%d\n%s\n" % (len(p), p) for p in parts)
    s.sendall(q); s.settimeout(5)
    out = s.recv(65536); s.close(); return out

def wait_sky_dbsize(port, n, t0):
    want = b"*1\n:%d\n%d\n" % (len(str(n)), n)
    while True:
        try:
            if sky(port, [b"DBSIZE"]) == want:
                return time.time() - t0
        except OSError:
            pass
        time.sleep(0.002)

def stratus_round(d):
    shutil.rmtree(d, ignore_errors=True); os.makedirs(d)
    port = 7400
    log = open(f"{d}/log1", "w")
    p = subprocess.Popen([STRATUS, "--noart", "-p", str(port), "--data-dir", f"{d}/data", "-S", "3"], stderr=log, cwd=d)
    time.sleep(0.3)
    fill.skyhash_fill(port, N, SIZE)
    rss_filled = rss_kib(p.pid)
    # wait for the periodic BGSAVE of the filled table
    while "BGSAVE completed" not in open(f"{d}/log1").read():
        time.sleep(0.05)
    bg = [l for l in open(f"{d}/log1") if "BGSAVE" in l]
    p.send_signal(signal.SIGTERM); p.wait()
    text = open(f"{d}/log1").read()
    save = re.search(r"Successfully saved data to disk: (\d+) keys, (\d+) bytes in ([\d.]+) ms", text)
    t0 = time.time()
    log2 = open(f"{d}/log2", "w")
    p = subprocess.Popen([STRATUS, "--noart", "-p", str(port), "--data-dir", f"{d}/data", "--nosave"], stderr=log2, cwd=d)
    ready = wait_sky_dbsize(port, N, t0)
    rss_loaded = rss_kib(p.pid)
    p.send_signal(signal.SIGKILL); p.wait()
    loadline = [l.strip() for l in open(f"{d}/log2") if "Loaded" in l]
    print(f"stratus: foreground save {float(save.group(3))/1000:.3f} s ({save.group(2)} bytes); "
          f"restart-to-DBSIZE {ready:.3f} s; RSS filled {rss_filled/1024:.1f} MiB, after load {rss_loaded/1024:.1f} MiB")
    for l in bg: print("   ", l.strip())
    print("   ", loadline[0] if loadline else "")

def redis(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True).stdout.strip()

def redis_round(d):
    shutil.rmtree(d, ignore_errors=True); os.makedirs(d)
    port = 7401
    cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", d, "--save", "", "--appendonly", "no",
           "--daemonize", "yes", "--pidfile", f"{d}/redis.pid", "--logfile", f"{d}/redis.log"]
    subprocess.run(cmd, check=True)
    while redis(port, "ping") != "PONG": time.sleep(0.01)
    subprocess.run(f"redis-cli -p {port} --pipe < {RESP_FILE} > /dev/null", shell=True, check=True)
    pid = int(open(f"{d}/redis.pid").read())
    rss_filled = rss_kib(pid)
    redis(port, "bgsave")
    while "rdb_bgsave_in_progress:0" not in redis(port, "info", "persistence"): time.sleep(0.05)
    info = redis(port, "info", "persistence"); stats = redis(port, "info", "stats")
    bgtime = re.search(r"rdb_last_bgsave_time_sec:(\d+)", info).group(1)
    fork = re.search(r"latest_fork_usec:(\d+)", stats).group(1)
    t0 = time.time(); redis(port, "save"); save = time.time() - t0
    redis(port, "shutdown", "nosave")
    time.sleep(0.3)
    t0 = time.time()
    subprocess.run(cmd, check=True)
    while True:
        try:
            if redis(port, "dbsize") == str(N): break
        except Exception: pass
        time.sleep(0.002)
    ready = time.time() - t0
    pid = int(open(f"{d}/redis.pid").read())
    rss_loaded = rss_kib(pid)
    redis(port, "shutdown", "nosave")
    loadline = [l.strip() for l in open(f"{d}/redis.log") if "DB loaded" in l]
    print(f"redis:   SAVE {save:.3f} s ({os.path.getsize(d + '/dump.rdb')} bytes); restart-to-DBSIZE {ready:.3f} s; "
          f"RSS filled {rss_filled/1024:.1f} MiB, after load {rss_loaded/1024:.1f} MiB; BGSAVE {bgtime} s, fork {fork} us")
    print("   ", loadline[-1] if loadline else "")

if __name__ == "__main__":
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    os.makedirs(WORK, exist_ok=True)
    if not os.path.exists(RESP_FILE):
        fill.resp_file(RESP_FILE, N, SIZE)
    for r in range(rounds):
        print(f"--- round {r+1}", flush=True)
        stratus_round(os.path.join(WORK, "stratus"))
        redis_round(os.path.join(WORK, "redis"))
