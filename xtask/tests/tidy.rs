//! Repository hygiene: the Rust code is formatted as rustfmt.toml says, and
//! every module starts with a `//!` line saying what it owns.

use std::path::Path;
use std::process::Command;

mod common;
use common::assert_success;

#[test]
fn code_is_formatted() {
    let root = xtask::project_root();
    let out = Command::new(env!("CARGO")).args(["fmt", "--all", "--check"]).current_dir(&root).output().unwrap();
    assert_success("`cargo fmt --check` (run `cargo fmt` to fix)", &out);
}

#[test]
fn every_module_says_what_it_owns() {
    let root = xtask::project_root();
    let mut missing = Vec::new();
    for dir in ["xtask/src", "xtask/tests"] {
        for entry in walkdir::WalkDir::new(root.join(dir)) {
            let entry = entry.unwrap();
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "rs") && !starts_with_doc(path) {
                missing.push(path.strip_prefix(&root).unwrap().display().to_string());
            }
        }
    }
    assert!(missing.is_empty(), "modules without a leading `//!` line: {missing:?}");
}

fn starts_with_doc(path: &Path) -> bool {
    std::fs::read_to_string(path).unwrap().trim_start().starts_with("//!")
}
