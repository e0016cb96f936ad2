//! Repository hygiene: the Rust code is formatted as rustfmt.toml says,
//! every module starts with a `//!` line saying what it owns, and no tracked
//! file names a package registry's host (Cargo.lock aside, where Cargo
//! writes the crate index's address itself).

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

/// Package registries' hosts, each as its labels, so that this file does not
/// name them itself: a token matches a host when it is that host or ends in
/// `.<host>` (a country mirror such as `ftp.<cc>.<debian>`).
const REGISTRY_HOSTS: &[&[&str]] = &[
    &["deb", "debian", "org"],
    &["security", "debian", "org"],
    &["snapshot", "debian", "org"],
    &["ftp", "debian", "org"],
    &["httpredir", "debian", "org"],
    &["archive", "ubuntu", "com"],
    &["security", "ubuntu", "com"],
    &["ports", "ubuntu", "com"],
    &["crates", "io"],
    &["pypi", "org"],
    &["pythonhosted", "org"],
    &["cache", "nixos", "org"],
    &["registry", "npmjs", "org"],
    &["proxy", "golang", "org"],
    &["rubygems", "org"],
];

/// The registry hosts named in `text`: host-like tokens (letters, digits,
/// dots, dashes), compared without case.
fn registry_hosts_in(text: &str) -> Vec<String> {
    let hosts: Vec<String> = REGISTRY_HOSTS.iter().map(|labels| labels.join(".")).collect();
    let mut found = Vec::new();
    for token in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-')) {
        let token = token.trim_matches('.').to_ascii_lowercase();
        // `ftp.<cc>.debian.org`: a Debian country mirror.
        let country_mirror =
            token.starts_with("ftp.") && token.ends_with(&format!(".{}", hosts[0].split_once('.').unwrap().1));
        if country_mirror || hosts.iter().any(|h| token == *h || token.ends_with(&format!(".{h}"))) {
            found.push(token);
        }
    }
    found
}

#[test]
fn registry_hosts_are_recognised_in_text() {
    let debian = REGISTRY_HOSTS[0].join(".");
    let country = format!("ftp.de.{}", REGISTRY_HOSTS[0][1..].join("."));
    let crates = format!("static.{}", REGISTRY_HOSTS.iter().find(|h| h[0] == "crates").unwrap().join("."));
    let text = format!("URIs: http://{debian}/debian\ndeb https://{}/x y\n`{crates}`", country.to_uppercase());
    assert_eq!(registry_hosts_in(&text), [debian, country, crates]);
    assert!(registry_hosts_in("http://mirror.invalid/debian salsa.example debian.org.invalid").is_empty());
}

#[test]
fn no_tracked_file_names_a_package_registry() {
    let root = xtask::project_root();
    let out = Command::new("git").args(["ls-files", "-z"]).current_dir(&root).output().unwrap();
    assert_success("`git ls-files`", &out);
    let mut named = Vec::new();
    for path in out.stdout.split(|b| *b == 0).filter(|p| !p.is_empty()) {
        let path = String::from_utf8_lossy(path).into_owned();
        if path == "Cargo.lock" {
            continue;
        }
        // Binary files and files deleted in the work tree have no text to read.
        let Ok(text) = std::fs::read_to_string(root.join(&path)) else { continue };
        for (n, line) in text.lines().enumerate() {
            for host in registry_hosts_in(line) {
                named.push(format!("{path}:{}: {host}", n + 1));
            }
        }
    }
    assert!(
        named.is_empty(),
        "package registry hosts in tracked files (the Debian mirror comes from the host's apt sources or CROSSLAB_DEBIAN_MIRROR; tests use a placeholder such as `mirror.invalid`):\n{}",
        named.join("\n")
    );
}
