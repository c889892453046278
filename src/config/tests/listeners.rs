//! The listener settings Stratus adds to skyd's: `--sslport` over the TLS port, and the RESP
//! listeners (`--resp-port`, `--resp-tls-port`, `[resp]`). Each with its default, the flag, the
//! file, the flag over the file, and every refusal.

use super::*;

const SSL: &str = "[ssl]\nkey = \"file-key.pem\"\nchain = \"file-chain.pem\"\nport = 3000\n";

fn tls(key: &str, chain: &str, port: u16) -> Option<TlsConfig> {
    Some(TlsConfig {
        key: PathBuf::from(key),
        chain: PathBuf::from(chain),
        port,
        only: false,
    })
}

#[test]
fn sslport_sets_the_tls_port() {
    assert_eq!(run(&words("-k k -z c")).tls, tls("k", "c", 2004));
    assert_eq!(
        run(&words("-k k -z c --sslport 3004")).tls,
        tls("k", "c", 3004)
    );
    assert_eq!(run(&words("--sslport 0 -k k -z c")).tls, tls("k", "c", 0));
}

#[test]
fn sslport_over_the_file() {
    let file = format!("{MINIMAL_FILE}{SSL}");
    assert_eq!(
        run_with_file(&[], &file).tls,
        tls("file-key.pem", "file-chain.pem", 3000)
    );
    let (config, lines) = logged(|| run_with_file(&words("-c test.toml --sslport 5000"), &file));
    assert_eq!(config.tls, tls("file-key.pem", "file-chain.pem", 5000));
    assert_eq!(lines, ["INFO --sslport overrides the configuration file"]);
    assert_eq!(
        run_with_file(&words("-k k -z c --sslport 5001"), &file).tls,
        tls("k", "c", 5001)
    );
}

#[test]
fn sslport_needs_tls() {
    let message = "Argument error: --sslport needs --sslkey and --sslchain (or an [ssl] section)";
    assert_eq!(argument_error(&["--sslport", "5000"]), message);
    assert_eq!(merge_error(&["--sslport", "5000"], MINIMAL_FILE), message);
}

#[test]
fn sslport_refusals_after_skyds() {
    let sslport = "Argument error: Invalid value for `--sslport`. Expected an unsigned 16-bit \
                   integer";
    let cases = [
        ("--sslport x -k k -z c", sslport),
        ("--sslport 65536 -k k -z c", sslport),
        ("--sslport -1", sslport),
        // skyd's TLS messages come first, unchanged.
        (
            "--sslport x -k k",
            "Argument error: To use SSL, pass values for both --sslkey and --sslchain",
        ),
        (
            "--sslport 1 --sslonly",
            "Argument error: You mast pass values for both --sslkey and --sslchain to use the \
             --sslonly flag",
        ),
        (
            "-p x --sslport y",
            "Argument error: Invalid value for `--port`. Expected an unsigned 16-bit integer",
        ),
    ];
    for (line, text) in cases {
        assert_eq!(argument_error(&words(line)), text, "{line}");
    }
}

const RESP_TLS_NEEDS_TLS: &str =
    "Argument error: --resp-tls-port needs --sslkey and --sslchain (or an [ssl] section)";
const RESP_PORT_UNDER_SSLONLY: &str = "Argument error: --resp-port serves plain text, which \
                                       --sslonly turns off; use --resp-tls-port";

#[test]
fn no_resp_by_default() {
    for config in [Config::default(), run(&[]), from_file(MINIMAL_FILE)] {
        assert_eq!((config.resp_port, config.resp_tls_port), (None, None));
    }
    let config = from_file(&format!("{MINIMAL_FILE}[resp]\n"));
    assert_eq!((config.resp_port, config.resp_tls_port), (None, None));
}

#[test]
fn resp_flags() {
    let config = run(&["--resp-port", "6379"]);
    assert_eq!((config.resp_port, config.resp_tls_port), (Some(6379), None));
    assert_eq!(run(&["--resp-port", "0"]).resp_port, Some(0));
    let config = run(&words("-k k -z c --resp-tls-port 6380"));
    assert_eq!((config.resp_port, config.resp_tls_port), (None, Some(6380)));
    let config = run(&words("-k k -z c --resp-port 6379 --resp-tls-port 0"));
    assert_eq!(
        (config.resp_port, config.resp_tls_port),
        (Some(6379), Some(0))
    );
    // TLS-only turns off plain text, not RESP over TLS.
    let config = run(&words("-k k -z c --sslonly --resp-tls-port 6380"));
    assert_eq!((config.resp_port, config.resp_tls_port), (None, Some(6380)));
}

#[test]
fn resp_section() {
    let config = from_file(&format!("{MINIMAL_FILE}[resp]\nport = 6379\n"));
    assert_eq!((config.resp_port, config.resp_tls_port), (Some(6379), None));
    let config = from_file(&format!(
        "{MINIMAL_FILE}{SSL}[resp]\nport = 0\ntls_port = 6380\n"
    ));
    assert_eq!(
        (config.resp_port, config.resp_tls_port),
        (Some(0), Some(6380))
    );
    let config = from_file(&format!(
        "{MINIMAL_FILE}{SSL}only = true\n[resp]\ntls_port = 6380\n"
    ));
    assert_eq!((config.resp_port, config.resp_tls_port), (None, Some(6380)));
}

#[test]
fn resp_flags_over_the_file() {
    let file = format!("{MINIMAL_FILE}{SSL}[resp]\nport = 6379\ntls_port = 6380\n");
    let (config, lines) = logged(|| {
        run_with_file(
            &words("-c test.toml --resp-port 7379 --resp-tls-port 7380"),
            &file,
        )
    });
    assert_eq!(
        (config.resp_port, config.resp_tls_port),
        (Some(7379), Some(7380))
    );
    assert_eq!(
        lines,
        [
            "INFO --resp-port overrides the configuration file",
            "INFO --resp-tls-port overrides the configuration file",
        ]
    );
    // An absent flag keeps the file's port.
    let config = run_with_file(&["--resp-port", "7379"], &file);
    assert_eq!(
        (config.resp_port, config.resp_tls_port),
        (Some(7379), Some(6380))
    );
    // The file's [ssl] serves the flag's TLS port, and the flags' TLS the file's plain port.
    let config = run_with_file(
        &["--resp-tls-port", "7380"],
        &format!("{MINIMAL_FILE}{SSL}"),
    );
    assert_eq!(config.resp_tls_port, Some(7380));
    let config = run_with_file(
        &words("-k k -z c"),
        &format!("{MINIMAL_FILE}[resp]\nport = 6379\n"),
    );
    assert_eq!(config.resp_port, Some(6379));
}

#[test]
fn resp_tls_port_needs_tls() {
    assert_eq!(
        argument_error(&["--resp-tls-port", "6380"]),
        RESP_TLS_NEEDS_TLS
    );
    assert_eq!(
        merge_error(&["--resp-tls-port", "6380"], MINIMAL_FILE),
        RESP_TLS_NEEDS_TLS
    );
    // A file is checked on its own: TLS from the flags does not make up for its missing [ssl].
    let file = format!("{MINIMAL_FILE}[resp]\ntls_port = 6380\n");
    assert_eq!(
        file_error(&file),
        "Configuration error: `resp.tls_port` needs an [ssl] section"
    );
}

#[test]
fn plain_resp_contradicts_tls_only() {
    assert_eq!(
        argument_error(&words("-k k -z c --sslonly --resp-port 6379")),
        RESP_PORT_UNDER_SSLONLY
    );
    assert_eq!(
        merge_error(
            &["--resp-port", "6379"],
            &format!("{MINIMAL_FILE}{SSL}only = true\n")
        ),
        RESP_PORT_UNDER_SSLONLY
    );
    assert_eq!(
        merge_error(
            &words("-k k -z c --sslonly"),
            &format!("{MINIMAL_FILE}[resp]\nport = 6379\n")
        ),
        "Argument error: `resp.port` in the configuration file serves plain text, which \
         --sslonly turns off; use `resp.tls_port` or --resp-tls-port"
    );
    assert_eq!(
        file_error(&format!(
            "{MINIMAL_FILE}{SSL}only = true\n[resp]\nport = 6379\n"
        )),
        "Configuration error: `resp.port` serves plain text, which `ssl.only` turns off; use \
         `resp.tls_port`"
    );
    // `only = false` is not TLS-only.
    let config = from_file(&format!(
        "{MINIMAL_FILE}{SSL}only = false\n[resp]\nport = 6379\n"
    ));
    assert_eq!(config.resp_port, Some(6379));
}

#[test]
fn resp_port_refusals() {
    for (flag, value) in [
        ("--resp-port", "x"),
        ("--resp-port", "65536"),
        ("--resp-port", ""),
        ("--resp-tls-port", "-1"),
        ("--resp-tls-port", "6380.5"),
    ] {
        assert_eq!(
            argument_error(&["-k", "k", "-z", "c", flag, value]),
            format!(
                "Argument error: Invalid value for `{flag}`. Expected an unsigned 16-bit integer"
            ),
            "{flag} {value:?}"
        );
    }
    // The port is checked before what it needs.
    assert_eq!(
        argument_error(&["--resp-tls-port", "x"]),
        "Argument error: Invalid value for `--resp-tls-port`. Expected an unsigned 16-bit integer"
    );
    for (section, detail) in [
        (
            "[resp]\nport = 65536\n",
            "line 5, column 8: invalid value: integer `65536`, expected u16",
        ),
        (
            "[resp]\ntls_port = \"6380\"\n",
            "line 5, column 12: invalid type: string \"6380\", expected u16",
        ),
    ] {
        assert_eq!(
            file_error(&format!("{MINIMAL_FILE}{section}")),
            format!("Configuration error: syntax error in configuration file test.toml: {detail}"),
            "{section}"
        );
    }
}

#[test]
fn help_describes_the_listener_flags() {
    assert_usage_has_lines(&[
        "        --sslport PORT  TLS port, 0 for any free port (default: the port of",
        "                        [ssl], else 2004); needs TLS",
        "        --resp-port PORT",
        "                        Also serve RESP2 (the Redis protocol) in plain text on",
        "                        this TCP port, 0 for any free port (default: off)",
        "        --resp-tls-port PORT",
        "                        Also serve RESP2 over TLS on this port, 0 for any free",
        "                        port (default: off); needs TLS",
        "--sslport and --resp-tls-port need TLS: --sslkey and --sslchain, or an [ssl]",
        "section. --resp-port cannot go with TLS-only (--sslonly or [ssl] only).",
        "    [resp]      port, tls_port (default: no RESP listener; tls_port needs",
        "                [ssl], port cannot go with [ssl] only = true)",
    ]);
}
