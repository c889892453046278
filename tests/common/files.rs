//! Files the server reads and writes: data files read with the library's decoder and tables
//! built for its encoder (the harness's module doc says why these are reused), permission bits,
//! directory listings, save temporaries, and a directory made immutable as a real fault.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::entries::Entries;

/// The entries of `table`, sorted, for comparisons.
pub fn table_entries(table: &stratus::table::Table) -> Entries {
    table
        .iter()
        .map(|(key, value)| (key.to_vec(), value.to_vec()))
        .collect()
}

/// A table holding `entries`.
pub fn build_table<'a>(
    entries: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
) -> stratus::table::Table {
    let mut table = stratus::table::Table::new();
    for (key, value) in entries {
        assert!(
            table.insert_new(key, value),
            "duplicate key in a test table"
        );
    }
    table
}

/// Reads and decodes a data file with the library's decoder; panics with the fault.
pub fn read_data_file(path: &Path) -> Entries {
    let bytes = std::fs::read(path).unwrap_or_else(|error| panic!("read {path:?}: {error}"));
    match stratus::persist::format::decode(&bytes) {
        Ok(table) => table_entries(&table),
        Err(error) => panic!("{path:?} ({} bytes) does not decode: {error}", bytes.len()),
    }
}

/// The permission bits of a file.
pub fn file_mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|error| panic!("stat {path:?}: {error}"))
        .permissions()
        .mode()
        & 0o7777
}

/// The names in a directory, sorted.
pub fn dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("list {dir:?}: {error}"))
        .map(|entry| {
            entry
                .expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// Names of save temporaries (`data.bin.tmp-<pid>`) in a directory.
pub fn temp_file_names(dir: &Path) -> Vec<String> {
    dir_names(dir)
        .into_iter()
        .filter(|name| name.starts_with("data.bin.tmp-"))
        .collect()
}

/// A directory made immutable with `chattr +i` (root, ext4): nothing can be created, renamed
/// or deleted in it. Made mutable again by [`ImmutableDir::clear`] or when dropped, so a failed
/// test does not leave an undeletable temporary directory behind.
pub struct ImmutableDir {
    path: PathBuf,
    active: bool,
}

impl ImmutableDir {
    pub fn set(path: &Path) -> ImmutableDir {
        chattr(path, "+i");
        ImmutableDir {
            path: path.to_owned(),
            active: true,
        }
    }

    pub fn clear(&mut self) {
        if self.active {
            chattr(&self.path, "-i");
            self.active = false;
        }
    }
}

impl Drop for ImmutableDir {
    fn drop(&mut self) {
        if self.active {
            self.active = false;
            let _ = Command::new("chattr").arg("-i").arg(&self.path).status();
        }
    }
}

fn chattr(path: &Path, flag: &str) {
    let status = Command::new("chattr")
        .arg(flag)
        .arg(path)
        .status()
        .expect("run chattr");
    assert!(status.success(), "chattr {flag} {path:?} failed");
}
