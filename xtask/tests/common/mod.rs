//! Helpers the integration tests share: writing a spec, and telling why a
//! command failed. Each test file takes what it needs (`mod common;`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

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

/// Builds an overlay root of `/` on a tmpfs, enters it with `pivot_root`
/// (a `chroot` would forbid the user namespaces labs make), then runs
/// `$script` (bash) in the repository, which is bound at its own path. With
/// `$fresh` = 1 it is a fresh machine: the packages in `$purge` purged, no
/// `/nix`, `/etc/nix` or crosslab cache. Whatever happens there stays in the
/// overlay, and vanishes with it.
const OVERLAY_ROOT: &str = r#"set -eu
t=$1 repo=$2 script=$3 purge=$4 fresh=$5
mount -t tmpfs -o size=8g,mode=0755 crosslab-overlay "$t"
mkdir -p "$t/up" "$t/work" "$t/root"
mount -t overlay -o "lowerdir=/,upperdir=$t/up,workdir=$t/work" crosslab-overlay-root "$t/root"
r=$t/root
for m in proc sys dev run tmp old; do mkdir -p "$r/$m"; done
mount -t proc proc "$r/proc"
mount --rbind /sys "$r/sys"
mount --rbind /dev "$r/dev"
mount -t tmpfs -o mode=0755 tmpfs "$r/run"
mount -t tmpfs -o mode=1777 tmpfs "$r/tmp"
rm -f "$r/etc/resolv.conf"
cp /etc/resolv.conf "$r/etc/resolv.conf" 2>/dev/null || true
mkdir -p "$r$repo"
mount --bind "$repo" "$r$repo"
if [ "$fresh" = 1 ]; then
  rm -rf "$r/nix" "$r/etc/nix" "$r/var/cache/crosslab"
  # The cache may be written to while this runs (the overlay's lower layer
  # is live): an empty tmpfs hides whatever rm could not remove.
  rm -rf "$r/root/.cache/crosslab" 2>/dev/null || mount -t tmpfs crosslab-no-cache "$r/root/.cache/crosslab"
fi
cd "$r"
pivot_root . old
umount -l /old
rmdir /old
export DEBIAN_FRONTEND=noninteractive
if [ "$fresh" = 1 ]; then
  dpkg --purge $purge >/dev/null 2>&1 || true
  rm -rf /nix /etc/nix
fi
cd "$repo"
exec bash -euc "$script"
"#;

/// Runs `script` in an overlay root of this machine (see [`OVERLAY_ROOT`]):
/// a fresh machine without the packages in `purge` when `fresh`. Needs root.
pub fn in_an_overlay_root(script: &str, purge: &[String], fresh: bool) -> Output {
    assert_eq!(unsafe { libc::geteuid() }, 0, "an overlay root of / needs root");
    let stage = tempfile::tempdir().unwrap();
    let repo = xtask::project_root();
    let mut c = Command::new("unshare");
    c.args(["--mount", "--propagation", "private", "--", "bash", "-c", OVERLAY_ROOT, "overlay-root"])
        .arg(stage.path())
        .arg(&repo)
        .arg(script)
        .arg(purge.join(" "))
        .arg(if fresh { "1" } else { "0" })
        // A build directory of its own (the running `cargo test` holds the
        // lock on this one), shared by these tests; the crates come from
        // cargo's cache, as after `git clone` + `cargo fetch`.
        .env("CARGO_TARGET_DIR", repo.join("target/fresh-machine"));
    if fresh {
        // As on a new machine: crosslab's cache in ~/.cache, no test switches.
        c.env_remove("CROSSLAB_CACHE").env_remove("XDG_CACHE_HOME").env_remove("CROSSLAB_ASSUME_NO_BINFMT_NS");
        c.env("HOME", "/root");
    }
    c.output().unwrap()
}

/// Makes sure the suite's Debian packages are installed (testsuite.rs's
/// TEST_PACKAGES; as root, once per test binary), as `cargo xtask test` does
/// before any test: a test binary run by itself on a fresh machine then
/// reads what it set up, not what an earlier test happened to install.
pub fn test_packages() {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    let done = DONE.get_or_init(|| {
        xtask::testsuite::ensure_packages(&xshell::Shell::new().unwrap()).map_err(|e| format!("{e:#}"))
    });
    if let Err(e) = done {
        panic!("{e}");
    }
}

/// PIDs of the labs' holders and PID 1s (crosslab names them, see
/// `run::holder`), of every lab on the machine but this test process's own
/// (other tests of the same binary run labs at the same time, forked from
/// it). Zombies hold nothing (no mounts, no namespaces) and wait for
/// whoever inherited them to reap them.
pub fn lab_holders() -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        if stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')) {
            continue;
        }
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if (comm.starts_with("crosslab-") || cmdline.starts_with(b"crosslab-")) && !is_ours(pid) {
            found.push(pid);
        }
    }
    found
}

/// Whether `pid` descends from this process.
fn is_ours(mut pid: u32) -> bool {
    let me = std::process::id();
    while pid > 1 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let Some(parent) = status.lines().find_map(|l| l.strip_prefix("PPid:")?.trim().parse().ok()) else {
            return false;
        };
        if parent == me {
            return true;
        }
        pid = parent;
    }
    false
}
