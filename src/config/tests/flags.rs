//! The command line on its own: defaults, every flag, skyd's validation messages in skyd's
//! order, sizes, getopts errors, `--help` and `--version`.

use super::*;

#[test]
fn defaults_without_flags() {
    let expected = Config {
        host: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)),
        port: 2003,
        noart: false,
        maxcon: 50_000,
        data_dir: PathBuf::from("data"),
        max_query_bytes: 512 * 1024 * 1024,
        max_client_memory: max_client_memory_default(),
        busy_poll: BUSY_POLL_DEFAULT,
        bgsave: Some(Duration::from_secs(120)),
        snapshot: None,
        journal: None,
        tls: None,
        resp_port: None,
        resp_tls_port: None,
        restore: None,
        config_file: None,
    };
    assert_eq!(run(&[]), expected);
    assert_eq!(Config::default(), expected);
    assert_eq!(MAX_QUERY_BYTES_LIMIT, 4_294_967_295);
    assert_eq!(DEFAULT_TLS_PORT, 2004);
}

#[test]
fn how_the_tests_start_the_server() {
    let config = run(&["--noart", "-p", "0", "--data-dir", "/tmp/t/data"]);
    assert_eq!(
        config,
        Config {
            port: 0,
            noart: true,
            data_dir: PathBuf::from("/tmp/t/data"),
            ..Config::default()
        }
    );
}

#[test]
fn every_flag_in_long_form() {
    let config = run(&words(
        "--host ::1 --port 7000 --noart --saveduration 30 --snapevery 3600 --snapkeep 4 \
         --stop-write-on-fail false --maxcon 10 --sslkey key.pem --sslchain chain.pem \
         --sslonly --data-dir /srv/stratus --max-query-size 1M --restore 2026-01-01.snapshot \
         --busy-poll 50",
    ));
    assert_eq!(
        config,
        Config {
            host: IpAddr::V6(Ipv6Addr::LOCALHOST),
            port: 7000,
            noart: true,
            maxcon: 10,
            data_dir: PathBuf::from("/srv/stratus"),
            max_query_bytes: 1024 * 1024,
            max_client_memory: max_client_memory_default(),
            busy_poll: Duration::from_micros(50),
            bgsave: Some(Duration::from_secs(30)),
            snapshot: Some(SnapshotConfig {
                every: Duration::from_secs(3600),
                keep: 4,
                failsafe: false,
            }),
            journal: None,
            tls: Some(TlsConfig {
                key: PathBuf::from("key.pem"),
                chain: PathBuf::from("chain.pem"),
                port: 2004,
                only: true,
            }),
            resp_port: None,
            resp_tls_port: None,
            restore: Some(PathBuf::from("2026-01-01.snapshot")),
            config_file: None,
        }
    );
}

#[test]
fn short_flags_and_h_is_host() {
    let config = run(&words("-h 0.0.0.0 -p 2010 -S 5 -k k -z c -r snap"));
    assert_eq!(config.host, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    assert_eq!(config.port, 2010);
    assert_eq!(config.bgsave, Some(Duration::from_secs(5)));
    assert_eq!(
        config.tls,
        Some(TlsConfig {
            key: PathBuf::from("k"),
            chain: PathBuf::from("c"),
            port: 2004,
            only: false,
        })
    );
    assert_eq!(config.restore, Some(PathBuf::from("snap")));
}

#[test]
fn nosave_disables_bgsave() {
    assert_eq!(run(&["--nosave"]).bgsave, None);
}

#[test]
fn snapshot_flags_default_to_failsafe() {
    assert_eq!(
        run(&["--snapevery", "60", "--snapkeep", "0"]).snapshot,
        Some(SnapshotConfig {
            every: Duration::from_secs(60),
            keep: 0,
            failsafe: true,
        })
    );
}

#[test]
fn stop_write_on_fail_without_snapshots_changes_nothing() {
    assert_eq!(run(&["--stop-write-on-fail", "true"]), Config::default());
}

#[test]
fn skyd_validation_messages() {
    let port = "Invalid value for `--port`. Expected an unsigned 16-bit integer";
    let host = "Invalid value for `--host`. Expected a valid IPv4 or IPv6 address";
    let maxcon = "Invalid value for `--maxcon`. Expected a valid positive integer";
    let sslonly = "You mast pass values for both --sslkey and --sslchain to use the --sslonly flag";
    let ssl = "To use SSL, pass values for both --sslkey and --sslchain";
    let cases = [
        ("-p abc", port),
        ("-p 65536", port),
        ("-h localhost", host),
        ("-h [::1]", host),
        ("--maxcon many", maxcon),
        ("--maxcon 0", maxcon),
        (
            "--nosave -S 10",
            "Invalid options for BGSAVE. Either supply `--nosave` or `--saveduration` or \
             nothing",
        ),
        (
            "-S -1",
            "Invalid value for `--saveduration`. Expected an unsigned 64-bit integer",
        ),
        (
            "--snapevery 1h --snapkeep 1",
            "Invalid value for `--snapevery`. Expected an unsigned 64-bit integer",
        ),
        (
            "--snapevery 1 --snapkeep x",
            "Invalid value for `--snapkeep`. Expected an unsigned 64-bit integer",
        ),
        (
            "--snapevery 10",
            "No value supplied for `--snapkeep`. When you supply `--snapevery`, you also \
             need to specify `--snapkeep`",
        ),
        (
            "--snapkeep 10",
            "No value supplied for `--snapevery`. When you supply `--snapkeep`, you also \
             need to specify `--snapevery`",
        ),
        ("--sslonly", sslonly),
        ("--sslonly -k key.pem", sslonly),
        ("-k key.pem", ssl),
        ("-z chain.pem", ssl),
        ("-S 0", "The BGSAVE duration has to be greater than 0!"),
        (
            "--snapevery 0 --snapkeep 3",
            "The snapshot duration has to be greater than 0!",
        ),
    ];
    for (line, text) in cases {
        assert_eq!(
            argument_error(&words(line)),
            format!("Argument error: {text}"),
            "{line}"
        );
    }
}

#[test]
fn first_error_in_skyd_order() {
    assert_eq!(
        argument_error(&["-h", "nowhere", "-p", "nothing", "--maxcon", "0"]),
        "Argument error: Invalid value for `--port`. Expected an unsigned 16-bit integer"
    );
    assert_eq!(
        argument_error(&["--nosave", "-S", "x"]),
        "Argument error: Invalid options for BGSAVE. Either supply `--nosave` or \
         `--saveduration` or nothing"
    );
}

#[test]
fn messages_for_the_new_flags() {
    assert_eq!(
        argument_error(&["--stop-write-on-fail", "abc"]),
        "Argument error: Invalid value for `--stop-write-on-fail`. Expected `true` or `false`"
    );
    assert_eq!(
        argument_error(&["--data-dir", ""]),
        "Argument error: Invalid value for `--data-dir`. Expected a directory path"
    );
    assert_eq!(
        argument_error(&["-r", ""]),
        "Argument error: Invalid value for `--restore`. Expected the name of a snapshot"
    );
}

#[test]
fn max_query_size_suffixes() {
    let cases = [
        ("1", 1),
        ("1024", 1024),
        ("64k", 64 * 1024),
        ("64K", 64 * 1024),
        ("512m", 512 * 1024 * 1024),
        ("512M", 512 * 1024 * 1024),
        ("1g", 1024 * 1024 * 1024),
        ("3G", 3 * 1024 * 1024 * 1024),
        ("4194303K", 4_294_966_272),
        ("4294967295", 4_294_967_295),
    ];
    for (text, bytes) in cases {
        assert_eq!(
            run(&["--max-query-size", text]).max_query_bytes,
            bytes,
            "{text}"
        );
    }
}

#[test]
fn max_query_size_refusals() {
    let message = "Argument error: Invalid value for `--max-query-size`. Expected a size in \
                   bytes from 1 to 4294967295, optionally with a K, M or G suffix (KiB, MiB, \
                   GiB)";
    for text in [
        "0",
        "0K",
        "4G",
        "4294967296",
        "99999999999999999999999",
        "18014398509481984K",
        "",
        "K",
        "+1",
        "-1",
        "1.5M",
        "1 M",
        "1T",
        "1MiB",
        "lots",
    ] {
        assert_eq!(
            argument_error(&["--max-query-size", text]),
            message,
            "{text:?}"
        );
    }
}

#[test]
fn getopts_errors_point_to_help() {
    let cases: [(&[&str], &str); 5] = [
        (&["--bogus"], "Unrecognized option: 'bogus'"),
        (&["-x"], "Unrecognized option: 'x'"),
        (&["-p"], "Argument to option 'p' missing"),
        (
            &["-p", "1", "--port", "2"],
            "Option 'port' given more than once",
        ),
        (&["--noart=yes"], "Option 'noart' does not take an argument"),
    ];
    for (args, text) in cases {
        assert_eq!(
            argument_error(args),
            format!("Argument error: {text} (see --help)"),
            "{args:?}"
        );
    }
}

#[test]
fn positional_arguments_are_refused() {
    assert_eq!(
        argument_error(&["--noart", "extra"]),
        "Argument error: Unexpected argument 'extra': Stratus takes only flags (see --help)"
    );
    let upgrade = "Argument error: The `upgrade` subcommand of skyd is not supported: \
                   Stratus reads Skytable 0.6 data files directly; convert older formats \
                   with skyd 0.6 first";
    assert_eq!(argument_error(&["upgrade", "--from", "elstore"]), upgrade);
    assert_eq!(argument_error(&["--noart", "upgrade"]), upgrade);
}

#[test]
fn help_and_version() {
    assert_eq!(parse_args(["--help"]).ok(), Some(Invocation::Help(usage())));
    // Help is answered before any other flag is looked at.
    assert_eq!(
        parse_args(["-p", "not-a-port", "--help"]).ok(),
        Some(Invocation::Help(usage()))
    );
    assert_eq!(
        parse_args(["--version"]).ok(),
        Some(Invocation::Version(format!(
            "stratus {} (Skyhash 1.0, compatible with skyd 0.6.4)",
            env!("CARGO_PKG_VERSION")
        )))
    );
}

#[test]
fn usage_lists_every_flag_with_its_default() {
    assert!(usage().starts_with("Usage: stratus [OPTIONS]\n\nStratus is a single-threaded"));
    assert_usage_has_lines(&[
        "    -h, --host ADDR     IPv4 or IPv6 address to listen on (default 127.0.0.1)",
        "    -p, --port PORT     TCP port to listen on, 0 for any free port (default",
        "        --data-dir DIR  Directory holding data.bin and snapshots/ (default",
        "                        ./data)",
        "                        (default 50000)",
        "                        M or G suffix for KiB, MiB, GiB (default 512M, at most",
        "                        Seconds between periodic BGSAVEs (default 120)",
        "        --snapevery SECS",
        "        --snapkeep COUNT",
        "        --stop-write-on-fail BOOL",
        "        --nosave        Disable the periodic BGSAVE (data is still saved at",
        "    -r, --restore NAME  Restore the snapshot NAME (relative to",
        "    -c, --withconfig FILE",
        "        --noart         Do not print the ASCII-art banner",
        "    -k, --sslkey FILE   PEM private key for TLS; needs --sslchain",
        "    -z, --sslchain FILE PEM certificate chain for TLS (port 2004); needs",
        "        --sslonly       Serve TLS only, without the plain-text listener; needs",
        "        --help          Print this help and exit",
        "        --version       Print the version and exit",
        "Flags override the values of a configuration file given with -c; a setting",
        "    [server]    host, port (both required), noart, maxclient (or maxcon),",
    ]);
}
