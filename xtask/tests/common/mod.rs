//! Helpers the integration tests share: writing a spec, and telling why a
//! command failed. Each test file takes what it needs (`mod common;`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

/// Writes `text` as `<dir>/<name>.toml` and returns its path.
pub fn write_spec(dir: &Path, name: &str, text: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Fails the test, showing the command's output, unless it succeeded.
pub fn assert_success(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Options that keep `nix-instantiate` off the machine's Nix store: run as
/// root, it would otherwise create /nix/var/nix/db on a machine without one.
pub const NO_STORE: [&str; 3] = ["--option", "store", "dummy://"];
