//! The `--help` text of both modes: every flag, its default, and what the tests send and
//! measure. Only text; `options` parses the flags it describes.

/// Printed by `--help`, for either mode.
pub const USAGE: &str = "\
stratus-bench: load and persistence benchmarks for Stratus (Skyhash 1.0) and Redis (RESP2),
with the same tool for both.

Usage:
  stratus-bench [FLAGS]                  load tests against one running server
  stratus-bench persistence [FLAGS]      save, load and memory: Stratus against Redis

Load flags:
  -h, --host ADDR         server address (default 127.0.0.1)
  -p, --port PORT         server port (default 2003 with skyhash, 2004 with skyhash and
                          --tls, 6379 with resp)
      --protocol NAME     skyhash or resp (default skyhash)
  -c, --clients N         connections, all driven from one thread (default 50)
  -n, --requests N        requests per test (default 100000)
  -P, --pipeline N        each connection sends N requests, waits for their N replies, then
                          sends the next N, as redis-benchmark does (default 1)
  -d, --data-size B       value size in bytes for set and mset (default 3)
  -r, --keyspace N        random keys key:%012d drawn uniformly from [0, N); without it every
                          request uses the one key key:000000000000
  -t, --tests LIST        comma-separated tests, run in order (default set,get):
                            set   skyhash: USET key value   resp: SET key value
                            get   GET key (a nil reply, for a key never set, is fine)
                            heya  the protocol's no-op: HEYA on skyhash, PING on resp
                            ping  the same as heya
                            mset  10 random keys per request: skyhash USET k v k v ...,
                                  resp MSET k v k v ...
                            connect  new connections: each request connects, does the
                                  TLS handshake with --tls, sends one HEYA (skyhash) or
                                  PING (resp), reads the reply and closes; -c such loops
                                  run at once; -P and --background-saves do not apply
      --background-saves  keep a save running for the whole of each test, one after another,
                          on an extra connection, and report how many completed:
                            skyhash: MKSNAP (the server needs snapshots enabled, e.g.
                                     --snapevery 3600 --snapkeep 1); err-snapshot-busy is retried
                            resp:    BGSAVE, then INFO persistence until
                                     rdb_bgsave_in_progress:0
      --tls               speak TLS to the server (rustls; TLS 1.2 or 1.3)
      --cacert FILE       with --tls, required: PEM certificate(s) to trust: the CA that
                          signed the server's certificate, or that self-signed certificate
                          itself; the server's certificate must name the -h address (a DNS
                          name, or an IP address such as 127.0.0.1)
      --json              print one JSON array on stdout, one object per test, instead of lines
      --help, --version

Why set sends USET on skyhash: Redis's SET overwrites an existing key, while Skyhash's SET
refuses to (it answers code 2, overwrite error) and only USET overwrites. USET is the same
operation as Redis's SET, so that is what the set test measures.

Every reply is checked. An unexpected reply (an error code where success was due) or a
malformed one counts as an error and the first is quoted; after a malformed reply, or when
the server closes a connection, that connection is dropped, its unanswered requests count as
errors, and the other connections carry on; a test that gets no reply for 30 s is stopped.
Latency is per request: from writing its batch to reading its reply (connect: from starting
the connection to reading its reply). With --tls every connection of the other tests completes
its handshake before the test starts. Progress is shown on stderr when it is a terminal.

Persistence flags (stratus-bench persistence ...):
      --keys N            keys to fill, key:%012d (default 1000000)
  -d, --data-size B       value size: random printable bytes, the same seeded values for both
                          servers (default 100)
      --stratus PATH      the server binary (default: stratus beside this program)
      --redis-server PATH Redis's server (default: redis-server from PATH; without one,
                          only Stratus is measured)
      --rounds R          rounds, each measuring Stratus then Redis (default 3)
      --json              print one JSON object on stdout instead of tables

Each round starts each server on a free port in a new temporary directory, fills it, records
memory, observes a BGSAVE of the full table, times a foreground save (Stratus: the save on
SIGTERM; Redis: SAVE), restarts it on the same directory and times spawn-to-DBSIZE = N. The
medians and the Stratus/Redis ratios follow the rounds.

Exit status: 0 when everything ran and every reply was as expected; 1 when a server could not
be reached, a reply was wrong or a connection was lost; 2 for a bad command line.
";
