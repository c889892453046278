//! What the configuration logs: the default-settings notice, the BGSAVE warning, one line per
//! flag overriding the file, ineffective flags and unknown keys.

use super::*;

#[test]
fn default_settings_are_announced() {
    let (_, lines) = logged(|| run(&[]));
    assert_eq!(
        lines,
        ["INFO No configuration file supplied. Using default settings"]
    );
    let (_, lines) = logged(|| run(&["-r", "snap"]));
    assert_eq!(
        lines,
        ["INFO No configuration file supplied. Using default settings"]
    );
    let (_, lines) = logged(|| run(&["--data-dir", "d"]));
    assert!(lines.is_empty(), "{lines:?}");
}

#[test]
fn disabled_bgsave_is_a_warning() {
    let warning = "WARN BGSAVE is disabled. You might lose data if the host crashes";
    let (_, lines) = logged(|| run(&["--nosave"]));
    assert_eq!(lines, [warning]);
    let (_, lines) = logged(|| {
        run_with_file(
            &["-c", "test.toml"],
            &format!("{MINIMAL_FILE}[bgsave]\nenabled = false\n"),
        )
    });
    assert_eq!(lines, [warning]);
    // Re-enabled by a flag: nothing to warn about.
    let (_, lines) = logged(|| {
        run_with_file(
            &["-c", "test.toml", "-S", "5"],
            &format!("{MINIMAL_FILE}[bgsave]\nenabled = false\n"),
        )
    });
    assert_eq!(
        lines,
        ["INFO --saveduration overrides the configuration file"]
    );
}

#[test]
fn overrides_are_logged_one_per_flag() {
    let (_, lines) = logged(|| {
        run_with_file(
            &words("-c test.toml --sslonly -p 1 -k k -z c --noart"),
            MINIMAL_FILE,
        )
    });
    assert_eq!(
        lines,
        [
            "INFO --port overrides the configuration file",
            "INFO --noart overrides the configuration file",
            "INFO --sslkey overrides the configuration file",
            "INFO --sslchain overrides the configuration file",
            "INFO --sslonly overrides the configuration file",
        ]
    );
}

#[test]
fn ineffective_stop_write_on_fail_is_a_warning() {
    let (_, lines) = logged(|| run(&["--stop-write-on-fail", "true"]));
    assert_eq!(
        lines,
        [
            "WARN --stop-write-on-fail has no effect because snapshots are not enabled \
             (--snapevery and --snapkeep, or a [snapshot] section)"
        ]
    );
}

#[test]
fn unknown_keys_are_warnings() {
    let (_, lines) = logged(|| from_file(&format!("{MINIMAL_FILE}colour = 1\n")));
    assert_eq!(
        lines,
        ["WARN Ignoring unknown key `server.colour` in configuration file test.toml"]
    );
}
