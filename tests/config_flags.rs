//! Command-line flags and the TOML configuration file: every validation message of the
//! contract (logged as an ERROR line on stderr, exit status 1), `--help` and `--version`,
//! accepted flag combinations, config files that start the server where they say, bad files,
//! flags overriding the file, and TLS settings reaching the TLS setup.

mod common;

use common::client::{query, string};
use common::server::{RunOutput, ServerBuilder, TestServer};
use common::wire::{assert_usable, exchange, expect_exact, expect_silence, send, HEY, HEYA};
use common::{PATIENCE, SILENCE};
use std::net::TcpListener;
use std::time::Duration;

/// Runs the binary with `--noart -p 0 --data-dir <tmp>/data` plus `extra`, expecting it to exit.
fn run_with_defaults(extra: &[&str]) -> RunOutput {
    ServerBuilder::new().args(extra).run_to_exit()
}

/// Runs the binary with exactly `args`, expecting it to exit.
fn run_exact(args: &[&str]) -> RunOutput {
    ServerBuilder::new().exact_args(args).run_to_exit()
}

fn assert_argument_error(output: &RunOutput, text: &str) {
    output.assert_error(&format!("Argument error: {text}"));
}

// ---- --help / --version ----------------------------------------------------------------------

#[test]
fn help_exits_zero_and_mentions_every_flag() {
    let output = run_exact(&["--help"]);
    output.assert_exit_code(0);
    let text = format!("{}\n{}", output.stdout, output.stderr);
    for flag in [
        "-h, --host",
        "-p, --port",
        "--noart",
        "--nosave",
        "-S, --saveduration",
        "--snapevery",
        "--snapkeep",
        "-c, --withconfig",
        "-r, --restore",
        "--maxcon",
        "-k, --sslkey",
        "-z, --sslchain",
        "--sslonly",
        "--stop-write-on-fail",
        "--data-dir",
        "--max-query-size",
        "--max-client-memory",
        "--busy-poll",
        "--help",
        "--version",
    ] {
        assert!(
            text.contains(flag),
            "--help does not mention {flag:?}\n{}",
            output.describe()
        );
    }
}

#[test]
fn version_exits_zero_and_prints_the_crate_version() {
    let output = run_exact(&["--version"]);
    output.assert_exit_code(0);
    assert!(
        output.stdout.contains(env!("CARGO_PKG_VERSION")),
        "--version stdout does not contain {}\n{}",
        env!("CARGO_PKG_VERSION"),
        output.describe()
    );
}

// ---- flag validation messages ----------------------------------------------------------------

const PORT_ERROR: &str = "Invalid value for `--port`. Expected an unsigned 16-bit integer";
const HOST_ERROR: &str = "Invalid value for `--host`. Expected a valid IPv4 or IPv6 address";
const MAXCON_ERROR: &str = "Invalid value for `--maxcon`. Expected a valid positive integer";

#[test]
fn non_numeric_port_is_refused() {
    assert_argument_error(&run_exact(&["--noart", "--port", "abc"]), PORT_ERROR);
}

#[test]
fn port_above_u16_is_refused() {
    assert_argument_error(&run_exact(&["--noart", "-p", "70000"]), PORT_ERROR);
}

#[test]
fn non_address_host_is_refused() {
    assert_argument_error(&run_with_defaults(&["--host", "abc"]), HOST_ERROR);
}

#[test]
fn host_name_is_refused() {
    assert_argument_error(&run_with_defaults(&["-h", "localhost"]), HOST_ERROR);
}

#[test]
fn non_numeric_maxcon_is_refused() {
    assert_argument_error(&run_with_defaults(&["--maxcon", "abc"]), MAXCON_ERROR);
}

#[test]
fn zero_maxcon_is_refused() {
    assert_argument_error(&run_with_defaults(&["--maxcon", "0"]), MAXCON_ERROR);
}

#[test]
fn nosave_with_saveduration_is_refused() {
    assert_argument_error(
        &run_with_defaults(&["--nosave", "--saveduration", "10"]),
        "Invalid options for BGSAVE. Either supply `--nosave` or `--saveduration` or nothing",
    );
}

#[test]
fn non_numeric_saveduration_is_refused() {
    assert_argument_error(
        &run_with_defaults(&["-S", "abc"]),
        "Invalid value for `--saveduration`. Expected an unsigned 64-bit integer",
    );
}

#[test]
fn zero_saveduration_is_refused() {
    assert_argument_error(
        &run_with_defaults(&["--saveduration", "0"]),
        "The BGSAVE duration has to be greater than 0!",
    );
}

#[test]
fn non_numeric_snapevery_is_refused() {
    assert_argument_error(
        &run_with_defaults(&["--snapevery", "abc", "--snapkeep", "2"]),
        "Invalid value for `--snapevery`. Expected an unsigned 64-bit integer",
    );
}

#[test]
fn non_numeric_snapkeep_is_refused() {
    assert_argument_error(
        &run_with_defaults(&["--snapevery", "10", "--snapkeep", "abc"]),
        "Invalid value for `--snapkeep`. Expected an unsigned 64-bit integer",
    );
}

#[test]
fn snapevery_without_snapkeep_is_refused() {
    assert_argument_error(
        &run_with_defaults(&["--snapevery", "10"]),
        "No value supplied for `--snapkeep`. When you supply `--snapevery`, you also need to specify `--snapkeep`",
    );
}

#[test]
fn snapkeep_without_snapevery_is_refused() {
    assert_argument_error(
        &run_with_defaults(&["--snapkeep", "2"]),
        "No value supplied for `--snapevery`. When you supply `--snapkeep`, you also need to specify `--snapevery`",
    );
}

#[test]
fn zero_snapevery_is_refused() {
    assert_argument_error(
        &run_with_defaults(&["--snapevery", "0", "--snapkeep", "2"]),
        "The snapshot duration has to be greater than 0!",
    );
}

const SSLONLY_ERROR: &str =
    "You mast pass values for both --sslkey and --sslchain to use the --sslonly flag";
const SSL_PAIR_ERROR: &str = "To use SSL, pass values for both --sslkey and --sslchain";

#[test]
fn sslonly_without_key_and_chain_is_refused() {
    assert_argument_error(&run_with_defaults(&["--sslonly"]), SSLONLY_ERROR);
}

#[test]
fn sslonly_with_only_a_key_is_refused() {
    assert_argument_error(
        &run_with_defaults(&["--sslonly", "--sslkey", "key.pem"]),
        SSLONLY_ERROR,
    );
}

#[test]
fn sslkey_without_sslchain_is_refused() {
    assert_argument_error(&run_with_defaults(&["--sslkey", "key.pem"]), SSL_PAIR_ERROR);
}

#[test]
fn sslchain_without_sslkey_is_refused() {
    assert_argument_error(&run_with_defaults(&["-z", "chain.pem"]), SSL_PAIR_ERROR);
}

#[test]
fn invalid_max_query_size_is_an_argument_error() {
    let output = run_with_defaults(&["--max-query-size", "lots"]);
    output.assert_exit_code(1);
    assert!(
        output
            .stderr
            .lines()
            .any(|line| line.contains("ERROR") && line.contains("Argument error")),
        "{}",
        output.describe()
    );
}

#[test]
fn busy_poll_beyond_its_range_is_refused() {
    for value in ["1001", "-1", "20us"] {
        let output = run_with_defaults(&["--busy-poll", value]);
        output.assert_exit_code(1);
        assert_argument_error(
            &output,
            "Invalid value for `--busy-poll`. Expected a whole number of microseconds from 0 \
             to 1000",
        );
    }
}

#[test]
fn unknown_flag_is_refused_with_a_help_hint() {
    let output = run_with_defaults(&["--bogus"]);
    output.assert_exit_code(1);
    assert!(
        output.stderr.contains("Unrecognized option: 'bogus'"),
        "{}",
        output.describe()
    );
    assert!(output.stderr.contains("--help"), "{}", output.describe());
}

#[test]
fn flag_without_its_value_is_refused() {
    let output = run_exact(&["--noart", "--port"]);
    output.assert_exit_code(1);
    assert!(
        output.stderr.contains("Argument to option 'port' missing"),
        "{}",
        output.describe()
    );
    assert!(output.stderr.contains("--help"), "{}", output.describe());
}

// ---- TLS flags reach the TLS setup, which checks the files (tls_startup.rs has the rest) ---

#[test]
fn tls_flags_pass_validation_and_a_key_file_without_a_key_is_refused() {
    let builder = ServerBuilder::new();
    let key = builder.write_file("key.pem", "not really a key\n");
    let chain = builder.write_file("chain.pem", "not really a chain\n");
    let output = builder
        .args(&[
            "--sslkey",
            key.to_str().unwrap(),
            "--sslchain",
            chain.to_str().unwrap(),
        ])
        .run_to_exit();
    output.assert_error(&format!(
        "TLS configuration error: the TLS private key file {} holds no private key",
        key.display()
    ));
}

#[test]
fn sslonly_with_missing_key_and_chain_files_is_refused_naming_the_key() {
    let output = run_with_defaults(&["--sslonly", "-k", "key.pem", "-z", "chain.pem"]);
    output.assert_error("cannot read the TLS private key file key.pem: No such file");
}

// ---- accepted flags start the server ---------------------------------------------------------

fn assert_starts_with(extra: &[&str]) {
    let server = TestServer::start_with(extra);
    assert_usable(&mut server.raw());
}

#[test]
fn short_host_and_port_flags_start_the_server() {
    let server = ServerBuilder::new()
        .exact_args(&[
            "--noart",
            "-h",
            "127.0.0.1",
            "-p",
            "0",
            "--data-dir",
            "data",
        ])
        .start();
    assert_eq!(server.host, "127.0.0.1");
    assert_usable(&mut server.raw());
}

/// The started line is a contract with the tools that wait for it (README, Logging). The
/// harness finds it through `stratus::log_lines`; this test pins its documented wording.
#[test]
fn the_started_line_names_the_address_as_documented() {
    let server = TestServer::start_with(&["--host", "127.0.0.1"]);
    let wanted = format!(
        " INFO  Server started on: skyhash://127.0.0.1:{}",
        server.port
    );
    assert!(
        server.logs().iter().any(|line| line.ends_with(&wanted)),
        "no log line ending with {wanted:?}\n{}",
        server.logs().join("\n")
    );
}

#[test]
fn long_host_flag_starts_the_server() {
    assert_starts_with(&["--host", "127.0.0.1"]);
}

#[test]
fn busy_poll_off_and_at_its_most_start_the_server() {
    assert_starts_with(&["--busy-poll", "0"]);
    assert_starts_with(&["--busy-poll", "1000"]);
}

#[test]
fn nosave_starts_the_server() {
    assert_starts_with(&["--nosave"]);
}

#[test]
fn saveduration_starts_the_server() {
    assert_starts_with(&["-S", "30"]);
}

#[test]
fn snapevery_with_snapkeep_starts_the_server() {
    assert_starts_with(&["--snapevery", "3600", "--snapkeep", "2"]);
}

#[test]
fn stop_write_on_fail_starts_the_server() {
    assert_starts_with(&["--stop-write-on-fail", "false"]);
}

#[test]
fn maxcon_starts_the_server() {
    assert_starts_with(&["--maxcon", "10"]);
}

#[test]
fn max_query_size_with_suffixes_starts_the_server() {
    for size in ["4096", "1K", "2M", "1G"] {
        assert_starts_with(&["--max-query-size", size]);
    }
}

#[test]
fn ipv6_loopback_host_starts_the_server() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipped: this machine has no IPv6 loopback");
        return;
    }
    let server = TestServer::start_with(&["--host", "::1"]);
    assert_eq!(server.host, "::1");
    assert_usable(&mut server.raw());
}

#[test]
fn banner_goes_to_stdout_without_noart() {
    let server = ServerBuilder::new()
        .exact_args(&["-p", "0", "--data-dir", "data"])
        .start();
    assert!(
        server.wait_for_stdout(PATIENCE).is_some(),
        "no banner on stdout without --noart"
    );
}

#[test]
fn noart_keeps_stdout_empty() {
    let server = TestServer::start();
    assert_usable(&mut server.raw());
    assert_eq!(server.wait_for_stdout(SILENCE), None);
}

// ---- configuration files ---------------------------------------------------------------------

/// Starts the server with `-c <dir>/stratus.toml` (and nothing else).
fn start_with_config(contents: &str) -> TestServer {
    let builder = ServerBuilder::new();
    let path = builder.write_file("stratus.toml", contents);
    builder.exact_args(&["-c", path.to_str().unwrap()]).start()
}

/// Runs with `-c <dir>/<name>` expecting an exit.
fn run_with_config_file(name: &str, contents: &str) -> RunOutput {
    let builder = ServerBuilder::new();
    let path = builder.write_file(name, contents);
    builder
        .exact_args(&["-c", path.to_str().unwrap()])
        .run_to_exit()
}

#[test]
fn minimal_config_starts_on_its_host_and_port() {
    let server = start_with_config("[server]\nhost = \"127.0.0.1\"\nport = 0\nnoart = true\n");
    assert_eq!(server.host, "127.0.0.1");
    assert_ne!(server.port, 0);
    let mut con = server.client();
    assert_eq!(query(&mut con, &["heya"]), string("HEY!"));
}

#[test]
fn config_path_is_relative_to_the_working_directory() {
    let builder = ServerBuilder::new();
    builder.write_file(
        "rel.toml",
        "[server]\nhost = \"127.0.0.1\"\nport = 0\nnoart = true\n",
    );
    let server = builder.exact_args(&["--withconfig", "rel.toml"]).start();
    assert_usable(&mut server.raw());
}

#[test]
fn full_config_starts() {
    let server = start_with_config(
        "[server]\nhost = \"127.0.0.1\"\nport = 0\nnoart = true\nmaxclient = 100\n\n\
         [bgsave]\nenabled = true\nevery = 600\n\n\
         [snapshot]\nevery = 3600\natmost = 4\nfailsafe = true\n",
    );
    assert_usable(&mut server.raw());
}

#[test]
fn config_with_bgsave_disabled_and_zero_interval_starts() {
    let server = start_with_config(
        "[server]\nhost = \"127.0.0.1\"\nport = 0\nnoart = true\n\n[bgsave]\nenabled = false\nevery = 0\n",
    );
    assert_usable(&mut server.raw());
}

#[test]
fn config_binds_the_configured_host() {
    let server = start_with_config("[server]\nhost = \"0.0.0.0\"\nport = 0\nnoart = true\n");
    assert_eq!(server.host, "0.0.0.0");
    let mut con = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    con.set_read_timeout(Some(PATIENCE)).unwrap();
    exchange(&mut con, HEYA, HEY);
}

#[test]
fn config_ipv6_host_starts() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipped: this machine has no IPv6 loopback");
        return;
    }
    let server = start_with_config("[server]\nhost = \"::1\"\nport = 0\nnoart = true\n");
    assert_eq!(server.host, "::1");
    assert_usable(&mut server.raw());
}

#[test]
fn config_noart_false_prints_the_banner() {
    let server = start_with_config("[server]\nhost = \"127.0.0.1\"\nport = 0\nnoart = false\n");
    assert!(
        server.wait_for_stdout(PATIENCE).is_some(),
        "no banner on stdout with noart = false"
    );
}

#[test]
fn config_noart_true_prints_no_banner() {
    let server = start_with_config("[server]\nhost = \"127.0.0.1\"\nport = 0\nnoart = true\n");
    assert_usable(&mut server.raw());
    assert_eq!(server.wait_for_stdout(SILENCE), None);
}

#[test]
fn config_unknown_keys_and_sections_are_ignored_with_a_warning() {
    let server = start_with_config(
        "[server]\nhost = \"127.0.0.1\"\nport = 0\nnoart = true\ncolour = \"blue\"\n\n[gardening]\nroses = 3\n",
    );
    assert_usable(&mut server.raw());
    let line = server.wait_for_log("colour", PATIENCE);
    assert!(line.contains("WARN"), "not a warning: {line}");
    let line = server.wait_for_log("gardening", PATIENCE);
    assert!(line.contains("WARN"), "not a warning: {line}");
}

/// With `limit_key = value` in `[server]`, a second client waits until the first leaves.
fn assert_config_limits_connections_to_one(limit_key: &str) {
    let server = start_with_config(&format!(
        "[server]\nhost = \"127.0.0.1\"\nport = 0\nnoart = true\n{limit_key} = 1\n"
    ));
    let mut first = server.raw();
    assert_usable(&mut first);
    let mut second = server.raw();
    send(&mut second, HEYA);
    expect_silence(&mut second);
    drop(first);
    expect_exact(&mut second, HEY);
}

#[test]
fn config_maxclient_limits_connections() {
    assert_config_limits_connections_to_one("maxclient");
}

#[test]
fn config_maxcon_limits_connections() {
    assert_config_limits_connections_to_one("maxcon");
}

#[test]
fn config_zero_bgsave_interval_is_refused() {
    run_with_config_file(
        "zero-bgsave.toml",
        "[server]\nhost = \"127.0.0.1\"\nport = 0\n\n[bgsave]\nevery = 0\n",
    )
    .assert_error("Configuration error: The BGSAVE duration has to be greater than 0!");
}

#[test]
fn config_zero_snapshot_interval_is_refused() {
    run_with_config_file(
        "zero-snapshot.toml",
        "[server]\nhost = \"127.0.0.1\"\nport = 0\n\n[snapshot]\nevery = 0\natmost = 4\n",
    )
    .assert_error("Configuration error: The snapshot duration has to be greater than 0!");
}

fn assert_syntax_error(name: &str, contents: &str) {
    let output = run_with_config_file(name, contents);
    output.assert_error("syntax error in configuration file");
    assert!(
        output
            .stderr
            .lines()
            .any(|line| line.contains("syntax error in configuration file") && line.contains(name)),
        "the error does not name {name}\n{}",
        output.describe()
    );
}

#[test]
fn config_port_out_of_range_is_a_syntax_error() {
    assert_syntax_error(
        "badport.toml",
        "[server]\nhost = \"127.0.0.1\"\nport = 20033002\n",
    );
}

#[test]
fn config_fractional_interval_is_a_syntax_error() {
    assert_syntax_error(
        "fraction.toml",
        "[server]\nhost = \"127.0.0.1\"\nport = 0\n\n[bgsave]\nevery = 0.5\n",
    );
}

#[test]
fn config_without_host_is_a_syntax_error() {
    assert_syntax_error("nohost.toml", "[server]\nport = 0\n");
}

#[test]
fn config_without_server_section_is_a_syntax_error() {
    assert_syntax_error("noserver.toml", "[bgsave]\nevery = 10\n");
}

#[test]
fn config_with_invalid_toml_is_a_syntax_error() {
    assert_syntax_error("garbage.toml", "[server\nhost = = 1\n");
}

#[test]
fn config_with_a_non_address_host_is_refused() {
    let output = run_with_config_file(
        "badhost.toml",
        "[server]\nhost = \"not an address\"\nport = 0\n",
    );
    output.assert_exit_code(1);
    assert!(
        output.stderr.lines().any(|line| line.contains("ERROR")),
        "{}",
        output.describe()
    );
}

#[test]
fn missing_config_file_is_refused_naming_it() {
    let output = run_exact(&["-c", "does-not-exist.toml"]);
    output.assert_error("does-not-exist.toml");
}

#[test]
fn unreadable_config_file_is_refused_naming_it() {
    let builder = ServerBuilder::new();
    let directory = builder.dir().join("config-dir.toml");
    std::fs::create_dir(&directory).unwrap();
    let output = builder
        .exact_args(&["-c", directory.to_str().unwrap()])
        .run_to_exit();
    output.assert_error("config-dir.toml");
}

#[test]
fn config_ssl_section_reaches_the_tls_setup() {
    let builder = ServerBuilder::new();
    builder.write_file("key.pem", "not really a key\n");
    builder.write_file("chain.pem", "not really a chain\n");
    let path = builder.write_file(
        "ssl.toml",
        "[server]\nhost = \"127.0.0.1\"\nport = 0\n\n[ssl]\nkey = \"key.pem\"\nchain = \"chain.pem\"\nport = 0\n",
    );
    builder
        .exact_args(&["-c", path.to_str().unwrap()])
        .run_to_exit()
        .assert_error("the TLS private key file key.pem holds no private key");
}

// ---- flags override the file ---------------------------------------------------------------

#[test]
fn config_port_that_is_taken_fails_to_bind() {
    let occupied = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = occupied.local_addr().unwrap().port();
    let output = run_with_config_file(
        "taken.toml",
        &format!("[server]\nhost = \"127.0.0.1\"\nport = {port}\nnoart = true\n"),
    );
    output.assert_exit_code(1);
    assert!(
        output.stderr.lines().any(|line| line.contains("ERROR")),
        "{}",
        output.describe()
    );
}

#[test]
fn port_flag_overrides_the_config_file() {
    // The file names a port we hold; only the `--port 0` override lets the server start.
    let occupied = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = occupied.local_addr().unwrap().port();
    let builder = ServerBuilder::new();
    let path = builder.write_file(
        "override.toml",
        &format!("[server]\nhost = \"127.0.0.1\"\nport = {taken}\nnoart = true\n"),
    );
    let server = builder
        .exact_args(&["-c", path.to_str().unwrap(), "--port", "0"])
        .start();
    assert_ne!(server.port, taken);
    assert_usable(&mut server.raw());
}

#[test]
fn noart_flag_overrides_the_config_file() {
    let builder = ServerBuilder::new();
    let path = builder.write_file(
        "art.toml",
        "[server]\nhost = \"127.0.0.1\"\nport = 0\nnoart = false\n",
    );
    let server = builder
        .exact_args(&["-c", path.to_str().unwrap(), "--noart"])
        .start();
    assert_usable(&mut server.raw());
    assert_eq!(server.wait_for_stdout(Duration::from_millis(300)), None);
}

#[test]
fn maxcon_flag_overrides_the_config_file() {
    let builder = ServerBuilder::new();
    let path = builder.write_file(
        "limit.toml",
        "[server]\nhost = \"127.0.0.1\"\nport = 0\nnoart = true\nmaxclient = 1\n",
    );
    let server = builder
        .exact_args(&["-c", path.to_str().unwrap(), "--maxcon", "2"])
        .start();
    let mut first = server.raw();
    assert_usable(&mut first);
    let mut second = server.raw();
    assert_usable(&mut second);
}
