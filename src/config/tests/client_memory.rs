//! The client memory budget: its default from physical memory, `--max-client-memory`,
//! `[server] max_client_memory` as an integer or a size string, and their errors.

use super::*;

const FLAG_ERROR: &str = "Argument error: Invalid value for `--max-client-memory`. Expected a \
                          positive size in bytes, optionally with a K, M or G suffix (KiB, MiB, \
                          GiB)";
const FILE_ERROR: &str = "Configuration error: Invalid value for `server.max_client_memory`. \
                          Expected a positive size in bytes: an integer, or a string of digits \
                          optionally with a K, M or G suffix (KiB, MiB, GiB)";

#[test]
fn default_is_a_quarter_of_physical_memory_capped_at_1_gib() {
    assert_eq!(MAX_CLIENT_MEMORY_CAP, 1 << 30);
    let cases = [
        (None, 1 << 30),
        (Some(64 << 30), 1 << 30),
        (Some(4 << 30), 1 << 30),
        (Some((4 << 30) - 4), (1 << 30) - 1),
        (Some(2 << 30), 512 << 20),
        (Some(512 << 20), 128 << 20),
        (Some(7), 1),
        (Some(0), 1),
    ];
    for (physical, budget) in cases {
        assert_eq!(client_memory_budget(physical), budget, "{physical:?}");
    }
    let default = max_client_memory_default();
    assert!((1..=MAX_CLIENT_MEMORY_CAP).contains(&default), "{default}");
    assert_eq!(Config::default().max_client_memory, default);
    assert_eq!(run(&[]).max_client_memory, default);
    assert_eq!(from_file(MINIMAL_FILE).max_client_memory, default);
}

#[test]
fn physical_memory_from_proc_meminfo() {
    let meminfo = "MemTotal:       16318412 kB\nMemFree:         1234567 kB\n";
    assert_eq!(mem_total_bytes(meminfo), Some(16_318_412 * 1024));
    assert_eq!(
        mem_total_bytes("MemFree: 1 kB\nMemTotal: 2048 kB\n"),
        Some(2048 * 1024)
    );
    for text in [
        "",
        "MemFree: 1 kB\n",
        "MemTotal: kB\n",
        "MemTotal: 12 MB\n",
        "MemTotal: 12\n",
        "MemTotal: -1 kB\n",
        "MemTotal: 99999999999999999999 kB\n",
        "MemTotal: 18014398509481984 kB\n",
    ] {
        assert_eq!(mem_total_bytes(text), None, "{text:?}");
    }
}

#[test]
fn flag_sizes() {
    let cases = [
        ("1", 1),
        ("4096", 4096),
        ("64k", 64 << 10),
        ("512M", 512 << 20),
        ("1g", 1 << 30),
        // Beyond --max-query-size's bound: a budget is not limited to one query.
        ("8G", 8 << 30),
    ];
    for (text, bytes) in cases {
        assert_eq!(
            run(&["--max-client-memory", text]).max_client_memory,
            bytes,
            "{text}"
        );
    }
}

#[test]
fn flag_refusals() {
    for text in [
        "0",
        "0M",
        "",
        "K",
        "-1",
        "+1",
        "1.5M",
        "1 M",
        "1T",
        "1MiB",
        "lots",
        "99999999999999999999999",
        "18014398509481984K",
    ] {
        assert_eq!(
            argument_error(&["--max-client-memory", text]),
            FLAG_ERROR,
            "{text:?}"
        );
    }
}

#[test]
fn file_integer_or_size_string() {
    let cases = [
        ("max_client_memory = 536870912\n", 512 << 20),
        ("max_client_memory = 1\n", 1),
        ("max_client_memory = \"512M\"\n", 512 << 20),
        ("max_client_memory = \"2g\"\n", 2 << 30),
        ("max_client_memory = \"100\"\n", 100),
    ];
    for (line, bytes) in cases {
        assert_eq!(
            from_file(&format!("{MINIMAL_FILE}{line}")).max_client_memory,
            bytes,
            "{line}"
        );
    }
}

#[test]
fn file_refusals() {
    for line in [
        "max_client_memory = 0\n",
        "max_client_memory = -5\n",
        "max_client_memory = \"0\"\n",
        "max_client_memory = \"\"\n",
        "max_client_memory = \"lots\"\n",
        "max_client_memory = \"1.5G\"\n",
    ] {
        assert_eq!(
            file_error(&format!("{MINIMAL_FILE}{line}")),
            FILE_ERROR,
            "{line}"
        );
    }
    for (line, detail) in [
        (
            "max_client_memory = 0.5\n",
            "line 4, column 21: a size in bytes: an integer, or a string such as \"512M\"",
        ),
        (
            "max_client_memory = true\n",
            "line 4, column 21: a size in bytes: an integer, or a string such as \"512M\"",
        ),
    ] {
        assert_eq!(
            file_error(&format!("{MINIMAL_FILE}{line}")),
            format!("Configuration error: syntax error in configuration file test.toml: {detail}"),
            "{line}"
        );
    }
}

#[test]
fn flag_over_file() {
    let file = format!("{MINIMAL_FILE}max_client_memory = \"512M\"\n");
    let (config, lines) =
        logged(|| run_with_file(&["-c", "test.toml", "--max-client-memory", "1M"], &file));
    assert_eq!(config.max_client_memory, 1 << 20);
    assert_eq!(
        lines,
        ["INFO --max-client-memory overrides the configuration file"]
    );
    assert_eq!(run_with_file(&[], &file).max_client_memory, 512 << 20);
}

#[test]
fn help_gives_the_default() {
    assert_usage_has_lines(&[
        "        --max-client-memory SIZE",
        "                        Memory that all client connections together may hold,",
        "                        in bytes, with an optional K, M or G suffix (default:",
        "                        a quarter of physical memory, at most 1G)",
        "                max_client_memory (bytes, or a string such as \"512M\") and",
    ]);
}
