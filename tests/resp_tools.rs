//! The Redis users' own tools against the RESP listener, run as they are installed
//! (`redis-tools`): `redis-cli` one-shot and `--pipe` (10,000 commands, every reply counted,
//! no error), and `redis-benchmark` over the commands a key-value server can honestly pass
//! (`-t ping,set,get,mset,incr`), which exits non-zero at the first error reply.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::resp::{exchange, required_tool};
use common::server::TestServer;
use common::within;
use common::PATIENCE;

fn run(tool: &str, args: &[String], stdin: &[u8]) -> Output {
    let path = required_tool(tool, "redis-tools");
    let mut child = Command::new(&path)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("run {}: {error}", path.display()));
    let mut input = child.stdin.take().expect("piped stdin");
    let stdin = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let output = within(3 * PATIENCE, tool, move || child.wait_with_output());
    let _ = writer.join();
    output.unwrap_or_else(|error| panic!("{tool}: {error}"))
}

fn port_args(server: &TestServer) -> Vec<String> {
    vec![
        "-h".into(),
        server.host.clone(),
        "-p".into(),
        server.resp().to_string(),
    ]
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn redis_cli_one_shot_commands() {
    let server = TestServer::start_with(&["--resp-port", "0"]);
    let cli = |words: &[&str]| {
        let mut args = port_args(&server);
        args.extend(words.iter().map(|word| word.to_string()));
        let output = run("redis-cli", &args, b"");
        assert!(output.status.success(), "redis-cli {words:?}: {output:?}");
        stdout(&output)
    };
    assert_eq!(cli(&["PING"]), "PONG\n");
    assert_eq!(cli(&["SET", "greeting", "hello world"]), "OK\n");
    assert_eq!(cli(&["GET", "greeting"]), "hello world\n");
    assert_eq!(cli(&["INCRBY", "n", "5"]), "5\n");
    assert_eq!(cli(&["DBSIZE"]), "2\n");
    assert_eq!(cli(&["GET", "missing"]), "\n");
    assert_eq!(
        cli(&["FOO", "bar"]).trim_end(),
        "ERR unknown command 'FOO', with args beginning with: 'bar'"
    );
}

#[test]
fn redis_cli_pipe_sends_ten_thousand_commands_without_an_error() {
    let server = TestServer::start_with(&["--resp-port", "0"]);
    let mut input = Vec::new();
    for i in 0..10_000 {
        let key = format!("pipe:{i}");
        let value = format!("value {i}");
        input.extend(
            format!(
                "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n{value}\r\n",
                key.len(),
                value.len()
            )
            .into_bytes(),
        );
    }
    let mut args = port_args(&server);
    args.push("--pipe".into());
    let output = run("redis-cli", &args, &input);
    let printed = stdout(&output);
    assert!(output.status.success(), "redis-cli --pipe: {output:?}");
    assert!(printed.contains("errors: 0, replies: 10000"), "{printed}");
    let mut con = server.resp_raw();
    exchange(&mut con, &[b"DBSIZE"], b":10000\r\n");
    exchange(&mut con, &[b"GET", b"pipe:9999"], b"$10\r\nvalue 9999\r\n");
}

#[test]
fn redis_benchmark_runs_its_key_value_tests_without_an_error() {
    let server = TestServer::start_with(&["--resp-port", "0"]);
    let mut args = port_args(&server);
    for arg in [
        "-t",
        "ping,set,get,mset,incr",
        "-n",
        "2000",
        "-c",
        "4",
        "-r",
        "1000",
        "-q",
    ] {
        args.push(arg.into());
    }
    let output = run("redis-benchmark", &args, b"");
    let printed = stdout(&output);
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "redis-benchmark failed: {}\n{printed}\n{errors}",
        output.status
    );
    // Progress lines end in CR; each test's result line says "requests per second".
    let results: Vec<&str> = printed.split(['\r', '\n']).map(str::trim).collect();
    for test in [
        "PING_INLINE",
        "PING_MBULK",
        "SET",
        "GET",
        "INCR",
        "MSET (10 keys)",
    ] {
        assert!(
            results
                .iter()
                .any(|line| line.starts_with(&format!("{test}: "))
                    && line.contains("requests per second")),
            "no {test} result in:\n{printed}"
        );
    }
    assert!(
        !printed.contains("Error") && !errors.contains("Error"),
        "{printed}\n{errors}"
    );
    assert!(!errors.contains("WARNING"), "CONFIG GET answered: {errors}");
}
