//! The listener settings Stratus adds to skyd's: `--sslport` over the TLS port. Each with its
//! default, the flag, the file, the flag over the file, and every refusal.

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

#[test]
fn help_describes_sslport() {
    let text = usage();
    for line in [
        "        --sslport PORT  TLS port, 0 for any free port (default: the port of",
        "                        [ssl], else 2004); needs TLS",
        "--sslport needs TLS: --sslkey and --sslchain, or an [ssl] section.",
    ] {
        assert!(
            text.lines().any(|printed| printed == line),
            "missing line {line:?} in\n{text}"
        );
    }
}
