"""The benchmark data set: N keys `key:%012d`, each with SIZE random base64 bytes (seeded, so
both servers get the same data). `skyhash` fills a Stratus server with USET batches;
`resp` writes a file of SET commands for `redis-cli --pipe`.

Usage: python3 bench/fill.py skyhash N SIZE PORT | python3 bench/fill.py resp N SIZE FILE
"""
import base64, random, socket, sys, time

def values(n, size, seed=42):
    rng = random.Random(seed)
    for i in range(n):
        raw = rng.getrandbits(8 * size).to_bytes(size, "little")
        yield b"key:%012d" % i, base64.b64encode(raw)[:size]

def skyhash_fill(port, n, size, batch=1000):
    s = socket.create_connection(("127.0.0.1", port))
    pairs = []
    def flush():
        parts = [b"USET"] + [x for kv in pairs for x in kv]
        q = b"*1\n_%d\n" % len(parts) + b"".join(b"+%d\n%s\n" % (len(p), p) for p in parts)
        s.sendall(q)
        want = b"*1\n:%d\n%d\n" % (len(str(len(pairs))), len(pairs))
        got = b""
        while len(got) < len(want):
            got += s.recv(4096)
        assert got == want, (got, want)
        pairs.clear()
    for kv in values(n, size):
        pairs.append(kv)
        if len(pairs) == batch:
            flush()
    if pairs:
        flush()

def resp_file(path, n, size):
    with open(path, "wb") as f:
        for k, v in values(n, size):
            f.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v))

if __name__ == "__main__":
    mode, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    t = time.time()
    if mode == "skyhash":
        skyhash_fill(int(sys.argv[4]), n, size)
    else:
        resp_file(sys.argv[4], n, size)
    print(f"{mode} fill of {n} keys took {time.time()-t:.2f} s", file=sys.stderr)
