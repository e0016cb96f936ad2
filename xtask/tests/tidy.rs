//! Repository hygiene: the Rust code is formatted as rustfmt.toml says, and
//! every module starts with a `//!` line saying what it owns.

use std::path::Path;
use std::process::Command;

use xtask::testsuite::{Quick, TEST_BINARIES};

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

/// `cargo xtask test --quick` picks tests by testsuite.rs's table: every test
/// binary is in it (a new one is classified, not forgotten) and every quick
/// test it names exists.
#[test]
fn every_test_binary_is_classified_quick_or_not() {
    let root = xtask::project_root();
    let mut files: Vec<String> = std::fs::read_dir(root.join("xtask/tests"))
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".rs").map(str::to_owned))
        .collect();
    files.sort();
    let mut listed: Vec<String> = TEST_BINARIES.iter().map(|(n, _)| (*n).to_owned()).collect();
    listed.sort();
    assert_eq!(files, listed, "xtask/tests/*.rs against TEST_BINARIES in xtask/src/testsuite.rs");
    for (name, quick) in TEST_BINARIES {
        let Quick::Only(tests) = quick else { continue };
        let text = std::fs::read_to_string(root.join(format!("xtask/tests/{name}.rs"))).unwrap();
        for t in *tests {
            assert!(text.contains(&format!("#[test]\nfn {t}() {{")), "{name}.rs has no test {t}");
        }
    }
}

/// A test that returns before doing anything counts as a pass in every run
/// while checking nothing (as three `in_child_*` helpers once did, meant to
/// run only in a child process): no test starts by returning.
#[test]
fn no_test_returns_before_its_body() {
    let root = xtask::project_root();
    let mut early = Vec::new();
    for entry in walkdir::WalkDir::new(root.join("xtask")).into_iter().flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "rs") || path.starts_with(root.join("xtask/tests/fuzz-corpus")) {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if line.trim() != "#[test]" {
                continue;
            }
            // The first statement of the test's body (after its `fn` line),
            // up to its `;` or the `}` closing its block.
            // (`common::test_packages()` installs; the check goes on after it.)
            let body = lines[i + 1..]
                .iter()
                .skip_while(|l| !l.trim_start().starts_with("fn "))
                .skip(1)
                .filter(|l| l.trim() != "common::test_packages();");
            let mut first = String::new();
            for l in body.take(4) {
                first.push_str(l.trim());
                first.push(' ');
                if l.trim().ends_with(';') || l.trim() == "}" {
                    break;
                }
            }
            let first = first.trim();
            let returns = first.contains("return")
                && (first.starts_with("if ") || first.starts_with("let ") && first.contains("else"));
            if returns || first == "return;" {
                early.push(format!("{}:{}: {first}", path.strip_prefix(&root).unwrap().display(), i + 1));
            }
        }
    }
    assert!(early.is_empty(), "tests that may return before checking anything:\n{}", early.join("\n"));
}
