//! The journal setting: off by default, `--journal MODE`, `[journal] enabled` and `fsync`, the
//! flag over the file, and the texts of the refusals.

use super::*;

const FLAG_ERROR: &str =
    "Argument error: Invalid value for `--journal`. Expected always, everysec or no";
const FILE_ERROR: &str =
    "Configuration error: Invalid value for `journal.fsync`. Expected always, everysec or no";

#[test]
fn modes_are_written_and_read_as_the_same_words() {
    let words = ["always", "everysec", "no"];
    assert_eq!(JournalFsync::ALL.map(|mode| mode.to_string()), words);
    for mode in JournalFsync::ALL {
        assert_eq!(JournalFsync::from_word(&mode.to_string()), Some(mode));
    }
    assert_eq!(JOURNAL_FSYNC_CHOICES, "always, everysec or no");
    assert_eq!(JOURNAL_FSYNC_DEFAULT, JournalFsync::EverySec);
}

#[test]
fn no_journal_by_default() {
    assert_eq!(Config::default().journal, None);
    assert_eq!(run(&[]).journal, None);
    assert_eq!(from_file(MINIMAL_FILE).journal, None);
}

#[test]
fn flag_modes() {
    let cases = [
        ("always", JournalFsync::Always),
        ("everysec", JournalFsync::EverySec),
        ("no", JournalFsync::No),
    ];
    for (word, mode) in cases {
        assert_eq!(run(&["--journal", word]).journal, Some(mode), "{word}");
    }
}

#[test]
fn flag_refusals() {
    for word in [
        "",
        "Always",
        "EVERYSEC",
        "every-sec",
        "sometimes",
        "yes",
        "off",
    ] {
        assert_eq!(argument_error(&["--journal", word]), FLAG_ERROR, "{word:?}");
    }
}

#[test]
fn file_sections() {
    let cases = [
        ("[journal]\n", None),
        ("[journal]\nenabled = false\n", None),
        ("[journal]\nfsync = \"always\"\n", None),
        // Off: the mode is checked but not used.
        ("[journal]\nenabled = false\nfsync = \"always\"\n", None),
        ("[journal]\nenabled = true\n", Some(JournalFsync::EverySec)),
        (
            "[journal]\nenabled = true\nfsync = \"always\"\n",
            Some(JournalFsync::Always),
        ),
        (
            "[journal]\nenabled = true\nfsync = \"everysec\"\n",
            Some(JournalFsync::EverySec),
        ),
        (
            "[journal]\nenabled = true\nfsync = \"no\"\n",
            Some(JournalFsync::No),
        ),
    ];
    for (section, journal) in cases {
        assert_eq!(
            from_file(&format!("{MINIMAL_FILE}{section}")).journal,
            journal,
            "{section}"
        );
    }
}

#[test]
fn file_refusals() {
    for section in [
        "[journal]\nenabled = true\nfsync = \"sometimes\"\n",
        "[journal]\nenabled = false\nfsync = \"Always\"\n",
        "[journal]\nfsync = \"\"\n",
    ] {
        assert_eq!(
            file_error(&format!("{MINIMAL_FILE}{section}")),
            FILE_ERROR,
            "{section}"
        );
    }
    for (text, detail) in [
        (
            format!("{MINIMAL_FILE}[journal]\nenabled = \"yes\"\n"),
            "line 5, column 11: invalid type: string \"yes\", expected a boolean",
        ),
        (
            format!("{MINIMAL_FILE}[journal]\nenabled = true\nfsync = 1\n"),
            "line 6, column 9: invalid type: integer `1`, expected a string",
        ),
        (
            format!("journal = true\n{MINIMAL_FILE}"),
            "line 1, column 11: invalid type: boolean `true`, expected a [journal] table",
        ),
    ] {
        assert_eq!(
            file_error(&text),
            format!("Configuration error: syntax error in configuration file test.toml: {detail}"),
            "{text}"
        );
    }
}

#[test]
fn flag_over_file() {
    let always = format!("{MINIMAL_FILE}[journal]\nenabled = true\nfsync = \"always\"\n");
    let (config, lines) =
        logged(|| run_with_file(&["-c", "test.toml", "--journal", "no"], &always));
    assert_eq!(config.journal, Some(JournalFsync::No));
    assert_eq!(lines, ["INFO --journal overrides the configuration file"]);
    assert_eq!(
        run_with_file(&[], &always).journal,
        Some(JournalFsync::Always)
    );
    // The flag turns on a journal the file turns off.
    let off = format!("{MINIMAL_FILE}[journal]\nenabled = false\nfsync = \"no\"\n");
    assert_eq!(
        run_with_file(&["--journal", "everysec"], &off).journal,
        Some(JournalFsync::EverySec)
    );
    assert_eq!(run_with_file(&[], &off).journal, None);
}

#[test]
fn help_gives_the_modes_and_the_default() {
    assert_usage_has_lines(&[
        "        --journal MODE  Keep a journal of writes; MODE says when to fsync it:",
        "                        always (before replying), everysec (once a second) or",
        "                        no (left to the system). Default: no journal",
        "    [journal]   enabled (default false), fsync (always, everysec or no;",
        "                default everysec)",
    ]);
}
