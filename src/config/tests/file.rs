//! A configuration file on its own: skyd's example files, each section, the value checks and
//! the syntax errors with their line and column, and reading the file from disk.

use super::*;

#[test]
fn server_sections_of_the_skyd_examples() {
    let localhost = file_config(IpAddr::V4(Ipv4Addr::LOCALHOST), 2003);
    let cases = [
        // skyd.toml
        (
            "[server]\nhost = \"127.0.0.1\"\nport = 2003\nnoart = false\n",
            localhost.clone(),
        ),
        // secure-noart.toml
        (
            "[server]\nhost = \"127.0.0.1\"\nport = 2003\nnoart = true\n",
            Config {
                noart: true,
                ..localhost
            },
        ),
        // ipv6.toml
        (
            "[server]\nhost = \"::1\"\nport = 2003\nnoart = false\n",
            file_config(IpAddr::V6(Ipv6Addr::LOCALHOST), 2003),
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(from_file(text), expected, "{text}");
    }
}

#[test]
fn bgsave_sections() {
    let cases = [
        ("[bgsave]\nenabled = true\nevery = 600\n", Some(600)),
        ("[bgsave]\nenabled = true\n", Some(120)),
        ("[bgsave]\nevery = 600\n", Some(600)),
        ("[bgsave]\n", Some(120)),
        ("[bgsave]\nenabled = false\n", None),
        ("[bgsave]\nenabled = false\nevery = 0\n", None),
    ];
    for (section, seconds) in cases {
        let config = from_file(&format!("{MINIMAL_FILE}{section}"));
        assert_eq!(config.bgsave, seconds.map(Duration::from_secs), "{section}");
    }
}

#[test]
fn snapshot_section() {
    let text = format!("{MINIMAL_FILE}[snapshot]\nevery = 3600\natmost = 4\n");
    assert_eq!(
        from_file(&text).snapshot,
        Some(SnapshotConfig {
            every: Duration::from_secs(3600),
            keep: 4,
            failsafe: true,
        })
    );
    let text = format!("{MINIMAL_FILE}[snapshot]\nevery = 60\natmost = 0\nfailsafe = false\n");
    assert_eq!(
        from_file(&text).snapshot,
        Some(SnapshotConfig {
            every: Duration::from_secs(60),
            keep: 0,
            failsafe: false,
        })
    );
}

#[test]
fn ssl_section() {
    let ssl = "[ssl]\nkey = \"/path/to/key.pem\"\nchain = \"/path/to/chain.pem\"\nport = 2004\n";
    let expected = TlsConfig {
        key: PathBuf::from("/path/to/key.pem"),
        chain: PathBuf::from("/path/to/chain.pem"),
        port: 2004,
        only: false,
    };
    let config = from_file(&format!("{MINIMAL_FILE}{ssl}"));
    assert_eq!(config.port, 2003);
    assert_eq!(config.tls, Some(expected.clone()));
    // skyd made `only = false` mean TLS-only; here it means what it says.
    let config = from_file(&format!("{MINIMAL_FILE}{ssl}only = false\n"));
    assert_eq!(config.tls, Some(expected.clone()));
    let config = from_file(&format!("{MINIMAL_FILE}{ssl}only = true\n"));
    assert_eq!(
        config.tls,
        Some(TlsConfig {
            only: true,
            ..expected
        })
    );
}

#[test]
fn template_with_every_section() {
    let text = "\
[server]
host = \"127.0.0.1\"
port = 2003
noart = false
maxcon = 50000

[bgsave]
enabled = true
every = 120

[snapshot]
every = 3600
atmost = 4
failsafe = true

[ssl]
key = \"/path/to/keyfile.pem\"
chain = \"/path/to/chain.pem\"
port = 2004
only = true
";
    assert_eq!(
        from_file(text),
        Config {
            snapshot: Some(SnapshotConfig {
                every: Duration::from_secs(3600),
                keep: 4,
                failsafe: true,
            }),
            tls: Some(TlsConfig {
                key: PathBuf::from("/path/to/keyfile.pem"),
                chain: PathBuf::from("/path/to/chain.pem"),
                port: 2004,
                only: true,
            }),
            ..file_config(IpAddr::V4(Ipv4Addr::LOCALHOST), 2003)
        }
    );
}

#[test]
fn maxclient_and_maxcon_keys() {
    assert_eq!(
        from_file(&format!("{MINIMAL_FILE}maxclient = 100\n")).maxcon,
        100
    );
    assert_eq!(from_file(&format!("{MINIMAL_FILE}maxcon = 7\n")).maxcon, 7);
    assert_eq!(
        file_error(&format!("{MINIMAL_FILE}maxclient = 0\n")),
        "Configuration error: Invalid value for `server.maxclient`. Expected a valid \
         positive integer"
    );
    assert_eq!(
        file_error(&format!("{MINIMAL_FILE}maxcon = 0\n")),
        "Configuration error: Invalid value for `server.maxcon`. Expected a valid positive \
         integer"
    );
    assert_eq!(
        file_error(&format!("{MINIMAL_FILE}maxcon = 1\nmaxclient = 1\n")),
        "Configuration error: Both `server.maxclient` and `server.maxcon` are set; use only \
         one of them"
    );
}

#[test]
fn zero_intervals_in_the_file() {
    assert_eq!(
        file_error(&format!(
            "{MINIMAL_FILE}[bgsave]\nenabled = true\nevery = 0\n"
        )),
        "Configuration error: The BGSAVE duration has to be greater than 0!"
    );
    assert_eq!(
        file_error(&format!("{MINIMAL_FILE}[bgsave]\nevery = 0\n")),
        "Configuration error: The BGSAVE duration has to be greater than 0!"
    );
    assert_eq!(
        file_error(&format!(
            "{MINIMAL_FILE}[snapshot]\nevery = 0\natmost = 4\n"
        )),
        "Configuration error: The snapshot duration has to be greater than 0!"
    );
}

#[test]
fn shape_errors_name_the_file_and_the_place() {
    let cases = [
        (
            "[server]\nhost = \"127.0.0.1\"\nport = 20033002\n",
            "line 3, column 8: invalid value: integer `20033002`, expected u16",
        ),
        (
            "[server]\nhost = \"127.0.0.1\"\nport = 2003\nnoart = false\n\
             [bgsave]\nenabled = true\nevery = 0.5\n",
            "line 7, column 9: invalid type: floating point `0.5`, expected u64",
        ),
        (
            "[server]\nport = 2003\n",
            "line 1, column 1: missing field `host`",
        ),
        ("", "line 1, column 1: missing field `server`"),
        (
            "[server]\nhost = \"localhost\"\nport = 2003\n",
            "line 2, column 8: invalid IP address syntax",
        ),
        (
            "[server\n",
            "line 1, column 8: unclosed table, expected `]`",
        ),
        (
            "server = 5\n",
            "line 1, column 10: invalid type: integer `5`, expected a [server] table",
        ),
        (
            "[server]\nhost = \"127.0.0.1\"\nport = 2003\n[snapshot]\nevery = 1\n",
            "line 4, column 1: missing field `atmost`",
        ),
    ];
    for (text, detail) in cases {
        assert_eq!(
            file_error(text),
            format!("Configuration error: syntax error in configuration file test.toml: {detail}"),
            "{text:?}"
        );
    }
}

#[test]
fn unknown_keys_are_reported_by_path() {
    let text = format!(
        "{MINIMAL_FILE}colour = \"blue\"\n[bgsave]\nevry = 5\n[extra]\na = 1\n\
         [ssl]\nkey = \"k\"\nchain = \"c\"\nport = 1\nciphers = [1, 2]\n"
    );
    let (_, mut unknown_keys) = deserialize_config_file(&text).expect("valid TOML");
    unknown_keys.sort();
    assert_eq!(
        unknown_keys,
        ["bgsave.evry", "extra", "server.colour", "ssl.ciphers"]
    );
    // Unknown keys do not change anything else.
    assert_eq!(from_file(&text).bgsave, Some(Duration::from_secs(120)));
}

#[test]
fn unreadable_file_is_named() {
    let path = std::env::temp_dir().join("stratus-config-test-no-such-dir/stratus.toml");
    match parse_args([OsStr::new("-c"), path.as_os_str()]) {
        Err(error @ ConfigError::FileUnreadable { .. }) => {
            let ConfigError::FileUnreadable {
                error: io_error, ..
            } = &error
            else {
                unreachable!()
            };
            assert_eq!(io_error.kind(), io::ErrorKind::NotFound);
            assert_eq!(
                error.to_string(),
                format!(
                    "Configuration error: cannot read configuration file {}: {io_error}",
                    path.display()
                )
            );
        }
        other => panic!("expected an unreadable-file error, got {other:?}"),
    }
}

#[test]
fn parse_args_reads_the_file() {
    let path =
        std::env::temp_dir().join(format!("stratus-config-test-{}.toml", std::process::id()));
    let written = std::fs::write(&path, format!("{MINIMAL_FILE}[bgsave]\nevery = 9\n"));
    let result = written.map(|()| {
        parse_args([
            OsStr::new("-c"),
            path.as_os_str(),
            OsStr::new("-p"),
            OsStr::new("8"),
        ])
    });
    // Removed before asserting so that a failure leaves nothing behind.
    let _ = std::fs::remove_file(&path);
    match result {
        Ok(Ok(Invocation::Run(config))) => assert_eq!(
            config,
            Config {
                port: 8,
                bgsave: Some(Duration::from_secs(9)),
                config_file: Some(path),
                ..Config::default()
            }
        ),
        other => panic!("expected a configuration, got {other:?}"),
    }
}
