//! `lab cache` on a made-up cache (`CROSSLAB_CACHE` set to a temporary
//! directory): the listing names each entry's kind, suite/arch, size and
//! last use, `--clean --older-than` removes only old entries (read-only
//! trees included), `--clean --all` removes every one, and links in the
//! cache are removed, never followed. Needs no root, no network.

use std::fs::{self, File, FileTimes};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

fn lab_cache(cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["lab", "cache"])
        .args(args)
        .env("CROSSLAB_CACHE", cache)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Sets the access and change times of `path` and what is directly in it
/// (not through links) to `days` ago.
fn age(path: &Path, days: u64) {
    let when = SystemTime::now() - Duration::from_secs(days * 86_400);
    let times = FileTimes::new().set_accessed(when).set_modified(when);
    let mut paths = vec![path.to_path_buf()];
    paths.extend(fs::read_dir(path).unwrap().map(|e| e.unwrap().path()));
    for p in paths {
        if !p.symlink_metadata().unwrap().file_type().is_symlink() {
            File::open(&p).unwrap().set_times(times).unwrap();
        }
    }
}

/// Outside the cache: a read-only directory with a file, which links in
/// the cache point to.
struct Outside {
    _dir: tempfile::TempDir,
    target: std::path::PathBuf,
}

impl Outside {
    fn new() -> Outside {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("precious");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("file"), "keep me").unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o555)).unwrap();
        Outside { _dir: dir, target }
    }

    fn is_untouched(&self) -> bool {
        fs::read_to_string(self.target.join("file")).is_ok_and(|t| t == "keep me")
            && fs::metadata(&self.target).unwrap().permissions().mode() & 0o777 == 0o555
    }
}

/// A cache with an old root (holding a link out of the cache), an old
/// read-only toolchain, a fresh payload, and a fresh root that is a link
/// out of the cache.
fn made_up_cache(outside: &Outside) -> tempfile::TempDir {
    let cache = tempfile::tempdir().unwrap();
    let c = cache.path();

    let root = c.join("roots/stack-forky-0123456789abcdef");
    fs::create_dir_all(root.join("root/usr/bin")).unwrap();
    fs::write(root.join("root/usr/bin/nix-build"), vec![0u8; 64 * 1024]).unwrap();
    symlink(&outside.target, root.join("root/escape")).unwrap();
    fs::write(root.join("root.json"), r#"{"name": "stack-forky", "suite": "forky", "arch": "amd64"}"#).unwrap();
    age(&root, 40);

    // Store-like: every directory and file read-only, as a toolchain's tree is.
    let toolchain = c.join("toolchains/abcd-crosslab-gcc-bookworm-arm64");
    fs::create_dir_all(toolchain.join("tree/bin")).unwrap();
    fs::write(toolchain.join("tree/bin/gcc"), "gcc").unwrap();
    fs::write(toolchain.join("toolchain.json"), r#"{"suite": "bookworm", "arch": "arm64"}"#).unwrap();
    for p in ["tree/bin/gcc", "tree/bin", "tree"] {
        let mode = if p.ends_with("gcc") { 0o444 } else { 0o555 };
        fs::set_permissions(toolchain.join(p), fs::Permissions::from_mode(mode)).unwrap();
    }
    age(&toolchain, 90);

    let payload = c.join("payloads/aarch64-linux");
    fs::create_dir_all(&payload).unwrap();
    fs::write(payload.join("busybox"), vec![1u8; 8 * 1024]).unwrap();

    symlink(&outside.target, c.join("roots/stack-trixie-linked")).unwrap();
    fs::write(c.join("roots/.build.lock"), "").unwrap();
    cache
}

#[test]
fn the_listing_names_kind_suite_size_and_last_use() {
    let outside = Outside::new();
    let cache = made_up_cache(&outside);
    let out = lab_cache(cache.path(), &[]);
    let listing = text(&out);
    assert!(out.status.success(), "{listing}");
    let line =
        |name: &str| listing.lines().find(|l| l.ends_with(name)).unwrap_or_else(|| panic!("no {name}:\n{listing}"));
    let root = line("stack-forky-0123456789abcdef");
    assert!(root.starts_with("root ") && root.contains("forky/amd64") && root.contains("40 d ago"), "{root}");
    // 64 KiB of nix-build, plus the directories' blocks.
    assert!(root.contains(" KB ") && !root.contains(" 4 KB"), "{root}");
    let toolchain = line("abcd-crosslab-gcc-bookworm-arm64");
    assert!(toolchain.starts_with("toolchain ") && toolchain.contains("bookworm/arm64"), "{toolchain}");
    assert!(toolchain.contains("90 d ago"), "{toolchain}");
    let payload = line("aarch64-linux");
    assert!(payload.starts_with("payload ") && payload.contains("just now"), "{payload}");
    // A link is an entry of its own: its size is the link's, not its target's.
    let linked = line("stack-trixie-linked");
    assert!(linked.starts_with("root "), "{linked}");
    assert!(!listing.contains(".build.lock"), "locks are not entries:\n{listing}");
    assert!(listing.contains("4 entries"), "{listing}");
    // Listing is not using: the old root is as old after it.
    let again = text(&lab_cache(cache.path(), &[]));
    assert!(again.lines().any(|l| l.ends_with("stack-forky-0123456789abcdef") && l.contains("40 d ago")), "{again}");
    assert!(outside.is_untouched());
}

#[test]
fn cleaning_by_age_removes_old_entries_read_only_ones_too_and_nothing_outside() {
    let outside = Outside::new();
    let cache = made_up_cache(&outside);
    let c = cache.path();
    let out = lab_cache(c, &["--clean", "--older-than", "30d"]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(!c.join("roots/stack-forky-0123456789abcdef").exists(), "{said}");
    assert!(!c.join("toolchains/abcd-crosslab-gcc-bookworm-arm64").exists(), "{said}");
    assert!(c.join("payloads/aarch64-linux/busybox").is_file(), "a fresh entry stays\n{said}");
    assert!(c.join("roots/stack-trixie-linked").symlink_metadata().is_ok(), "a fresh link stays\n{said}");
    assert!(said.contains("removed 2 of 4 entries"), "{said}");
    assert!(outside.is_untouched(), "the link inside the old root was followed");
}

#[test]
fn cleaning_all_removes_links_not_what_they_point_to() {
    let outside = Outside::new();
    let cache = made_up_cache(&outside);
    let c = cache.path();
    let out = lab_cache(c, &["--clean", "--all"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(c.join("roots/stack-trixie-linked").symlink_metadata().is_err());
    assert!(!c.join("payloads/aarch64-linux").exists());
    assert!(c.join("roots/.build.lock").exists(), "locks are left alone");
    assert!(outside.is_untouched(), "a link was followed out of the cache");
    // Nothing left to list.
    assert!(text(&lab_cache(c, &[])).contains("0 entries"));
}

#[test]
fn clean_needs_an_age_or_all() {
    let cache = tempfile::tempdir().unwrap();
    let out = lab_cache(cache.path(), &["--clean"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("--older-than AGE"), "{}", text(&out));
    let out = lab_cache(cache.path(), &["--clean", "--older-than", "30"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("`30d`"), "{}", text(&out));
}
