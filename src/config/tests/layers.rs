//! Flags laid over a configuration file: flags are checked first, a given flag wins, an absent
//! one keeps the file's value.

use super::*;

#[test]
fn flags_are_checked_before_the_file_is_read() {
    assert_eq!(
        argument_error(&["-c", "/no/such/file.toml", "-p", "x"]),
        "Argument error: Invalid value for `--port`. Expected an unsigned 16-bit integer"
    );
}

#[test]
fn flags_override_the_file() {
    let text = "\
[server]
host = \"::1\"
port = 2003
maxclient = 10

[bgsave]
enabled = false

[snapshot]
every = 3600
atmost = 4
failsafe = false

[ssl]
key = \"file-key.pem\"
chain = \"file-chain.pem\"
port = 3000
";
    let config = run_with_file(
        &words(
            "-c test.toml -p 7000 --noart --maxcon 20 -S 30 --snapevery 60 --snapkeep 2 \
             -k flag-key.pem -z flag-chain.pem --sslonly --data-dir /srv/data \
             --max-query-size 2k -r old.snapshot --busy-poll 0",
        ),
        text,
    );
    assert_eq!(
        config,
        Config {
            host: IpAddr::V6(Ipv6Addr::LOCALHOST),
            port: 7000,
            noart: true,
            maxcon: 20,
            data_dir: PathBuf::from("/srv/data"),
            max_query_bytes: 2048,
            max_client_memory: max_client_memory_default(),
            busy_poll: Duration::ZERO,
            bgsave: Some(Duration::from_secs(30)),
            // Flags name no failsafe and no TLS port, so the file's values stay.
            snapshot: Some(SnapshotConfig {
                every: Duration::from_secs(60),
                keep: 2,
                failsafe: false,
            }),
            journal: None,
            tls: Some(TlsConfig {
                key: PathBuf::from("flag-key.pem"),
                chain: PathBuf::from("flag-chain.pem"),
                port: 3000,
                only: true,
            }),
            resp_port: None,
            resp_tls_port: None,
            restore: Some(PathBuf::from("old.snapshot")),
            config_file: Some(PathBuf::from("test.toml")),
        }
    );
}

#[test]
fn absent_flags_keep_the_file_values() {
    let text = format!(
        "{MINIMAL_FILE}noart = true\n[snapshot]\nevery = 10\natmost = 1\n\
         [ssl]\nkey = \"k\"\nchain = \"c\"\nport = 1\nonly = true\n"
    );
    let config = run_with_file(&["-c", "test.toml", "-k", "k2", "-z", "c2"], &text);
    assert!(config.noart);
    assert_eq!(
        config.tls,
        Some(TlsConfig {
            key: PathBuf::from("k2"),
            chain: PathBuf::from("c2"),
            port: 1,
            only: true,
        })
    );
    assert_eq!(
        config.snapshot,
        Some(SnapshotConfig {
            every: Duration::from_secs(10),
            keep: 1,
            failsafe: true,
        })
    );
}

#[test]
fn bgsave_and_failsafe_flags_over_the_file() {
    let file = format!("{MINIMAL_FILE}[snapshot]\nevery = 10\natmost = 1\nfailsafe = true\n");
    let config = run_with_file(&["--nosave", "--stop-write-on-fail", "false"], &file);
    assert_eq!(config.bgsave, None);
    assert_eq!(
        config.snapshot.map(|snapshot| snapshot.failsafe),
        Some(false)
    );
}
