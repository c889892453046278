//! The event loop's busy poll: its default, `--busy-poll`, `[server] busy_poll_us`, their
//! errors, and the flag over the file.

use super::*;

const FLAG_ERROR: &str = "Argument error: Invalid value for `--busy-poll`. Expected a whole \
                          number of microseconds from 0 to 1000";
const FILE_ERROR: &str = "Configuration error: Invalid value for `server.busy_poll_us`. \
                          Expected a whole number of microseconds from 0 to 1000";

#[test]
fn default_is_20_microseconds() {
    assert_eq!(BUSY_POLL_DEFAULT, Duration::from_micros(20));
    assert_eq!(BUSY_POLL_MAX_MICROS, 1000);
    assert_eq!(Config::default().busy_poll, Duration::from_micros(20));
    assert_eq!(run(&[]).busy_poll, Duration::from_micros(20));
    assert_eq!(from_file(MINIMAL_FILE).busy_poll, Duration::from_micros(20));
}

#[test]
fn flag_values() {
    for (text, micros) in [("0", 0), ("1", 1), ("20", 20), ("1000", 1000)] {
        assert_eq!(
            run(&["--busy-poll", text]).busy_poll,
            Duration::from_micros(micros),
            "{text}"
        );
    }
}

#[test]
fn flag_refusals() {
    for text in [
        "",
        "1001",
        "-1",
        "20us",
        "1.5",
        " 20",
        "99999999999999999999",
    ] {
        assert_eq!(
            argument_error(&["--busy-poll", text]),
            FLAG_ERROR,
            "{text:?}"
        );
    }
}

#[test]
fn file_values_and_refusals() {
    for micros in [0, 7, 1000] {
        let text = format!("{MINIMAL_FILE}busy_poll_us = {micros}\n");
        assert_eq!(from_file(&text).busy_poll, Duration::from_micros(micros));
    }
    let text = format!("{MINIMAL_FILE}busy_poll_us = 1001\n");
    assert_eq!(file_error(&text), FILE_ERROR);
}

#[test]
fn the_flag_overrides_the_file() {
    let file = format!("{MINIMAL_FILE}busy_poll_us = 100\n");
    assert_eq!(
        run_with_file(&["--busy-poll", "0"], &file).busy_poll,
        Duration::ZERO
    );
    assert_eq!(
        run_with_file(&[], &file).busy_poll,
        Duration::from_micros(100)
    );
}

#[test]
fn help_gives_the_range_and_the_default() {
    assert_usage_has_lines(&[
        "        --busy-poll MICROS",
        "                        CPU (0 to 1000; default 20; 0 sleeps at once)",
        "                busy_poll_us (microseconds, 0 to 1000, default 20)",
    ]);
}
