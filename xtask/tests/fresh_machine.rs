//! The README's quick start on a fresh machine, simulated without changing
//! this one: a private mount namespace whose root is an overlay of `/` (on a
//! tmpfs) in which the packages crosslab installs are purged and `/nix`,
//! `/etc/nix` and crosslab's caches are gone, entered with `pivot_root` (a
//! `chroot` would forbid the user namespaces labs make). Everything the run
//! installs or downloads lands in the overlay and vanishes with it.
//!
//! Needs root (CI runs as root) and Debian's archive, as the quick start does.
//! Each test runs `cargo xtask` in the fresh root (the first builds crosslab
//! in `target/fresh-machine`, ~1 min) and installs what the quick start
//! installs.

use std::path::PathBuf;
use std::process::{Command, Output};

/// Packages crosslab or its tests install: a fresh machine has none of them.
const PURGED: &[&str] = &[
    "nix-bin",
    "nix-setup-systemd",
    "qemu-user-static",
    "qemu-user",
    "qemu-user-binfmt",
    "qemu-system-x86",
    "uidmap",
    "python3-pyflakes",
    "mypy",
    "mmdebstrap",
];

/// Builds the fresh root, then runs `script` (bash) in the repository there.
const FRESH_ROOT: &str = r#"set -eu
t=$1 repo=$2 script=$3 purge=$4
mount -t tmpfs -o size=8g,mode=0755 crosslab-fresh "$t"
mkdir -p "$t/up" "$t/work" "$t/root"
mount -t overlay -o "lowerdir=/,upperdir=$t/up,workdir=$t/work" crosslab-fresh-root "$t/root"
r=$t/root
for m in proc sys dev run tmp old; do mkdir -p "$r/$m"; done
mount -t proc proc "$r/proc"
mount --rbind /sys "$r/sys"
mount --rbind /dev "$r/dev"
mount -t tmpfs -o mode=0755 tmpfs "$r/run"
mount -t tmpfs -o mode=1777 tmpfs "$r/tmp"
rm -f "$r/etc/resolv.conf"
cp /etc/resolv.conf "$r/etc/resolv.conf" 2>/dev/null || true
# The repository (and its build) at the same path, so cargo rebuilds nothing.
mkdir -p "$r$repo"
mount --bind "$repo" "$r$repo"
rm -rf "$r/nix" "$r/etc/nix" "$r/var/cache/crosslab"
# The cache may be written to while this runs (the overlay's lower layer is
# live): an empty tmpfs hides whatever rm could not remove.
rm -rf "$r/root/.cache/crosslab" 2>/dev/null || mount -t tmpfs crosslab-no-cache "$r/root/.cache/crosslab"
cd "$r"
pivot_root . old
umount -l /old
rmdir /old
export DEBIAN_FRONTEND=noninteractive
dpkg --purge $purge >/dev/null 2>&1 || true
rm -rf /nix /etc/nix
cd "$repo"
exec bash -euc "$script"
"#;

fn repo() -> PathBuf {
    xtask::project_root()
}

/// Runs `script` in a fresh root; its output, and what the fresh machine
/// kept is gone with it.
fn on_a_fresh_machine(script: &str) -> Output {
    assert_eq!(unsafe { libc::geteuid() }, 0, "the fresh-machine tests need root (they mount an overlay of /)");
    let stage = tempfile::tempdir().unwrap();
    let mut c = Command::new("unshare");
    c.args(["--mount", "--propagation", "private", "--", "bash", "-c", FRESH_ROOT, "fresh-root"])
        .arg(stage.path())
        .arg(repo())
        .arg(script)
        .arg(PURGED.join(" "))
        // As on a new machine: crosslab's cache in ~/.cache, no test switches.
        .env_remove("CROSSLAB_CACHE")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("CROSSLAB_ASSUME_NO_BINFMT_NS")
        .env("HOME", "/root")
        // A build directory of its own (the running `cargo test` holds the
        // lock on this one), shared by these tests; the crates come from
        // cargo's cache, as after `git clone` + `cargo fetch`.
        .env("CARGO_TARGET_DIR", repo().join("target/fresh-machine"));
    c.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn readme_lab_run_works_on_a_fresh_machine() {
    let out = on_a_fresh_machine(
        r#"for p in nix-bin qemu-user-static; do ! dpkg-query -W -f='${Status}' $p 2>/dev/null | grep -q 'ok installed'; done
         test ! -e /nix && test ! -e /etc/nix && test -z "$(ls -A /root/.cache/crosslab 2>/dev/null)"
         echo FRESH-OK
         cargo xtask lab run
         test ! -e /nix && test ! -e /etc/nix && echo STILL-NO-NIX-DIRS"#,
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    let all = format!("{stdout}\n{stderr}");
    assert!(stdout.contains("FRESH-OK"), "the fresh root was not fresh:\n{all}");
    assert!(out.status.success(), "`cargo xtask lab run` failed on a fresh machine ({}):\n{all}", out.status);
    // Every probe as expected, the build and compile failing as reported (the default lab's point).
    let summary = stdout.lines().find(|l| l.contains("probes as expected")).unwrap_or_else(|| panic!("{all}"));
    let counts: Vec<&str> = summary.split_whitespace().take(3).collect();
    assert!(counts.len() == 3 && counts[1] == "of" && counts[0] == counts[2], "not all as expected: {summary}\n{all}");
    assert!(summary.contains("2 of them failing as reported"), "{summary}\n{all}");
    assert!(stderr.contains("crosslab: installing") && stderr.contains("nix-bin"), "it said what it installed:\n{all}");
    assert!(stderr.contains("crosslab: backend host:"), "it said which backend it chose:\n{all}");
    assert!(stdout.contains("STILL-NO-NIX-DIRS"), "the lab created /nix or /etc/nix on the machine:\n{all}");
}

#[test]
fn apt_never_removes_a_package_to_install_what_crosslab_needs() {
    let out = on_a_fresh_machine(
        r#"d=$(mktemp -d)
        mkdir -p "$d/pkg/DEBIAN"
        printf 'Package: crosslab-test-blocker\nVersion: 1.0\nArchitecture: all\nMaintainer: crosslab tests <tests@crosslab.invalid>\nConflicts: qemu-user-static\nDescription: a package of the user that conflicts with what crosslab installs\n' > "$d/pkg/DEBIAN/control"
        dpkg-deb --build "$d/pkg" "$d/blocker.deb" >/dev/null
        dpkg -i "$d/blocker.deb" >/dev/null
        set +e
        cargo xtask lab run
        echo "EXIT=$?"
        dpkg-query -W -f='${Status}\n' crosslab-test-blocker
        dpkg-query -W -f='${Status}\n' qemu-user-static 2>&1 | head -n 1"#,
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    let all = format!("{stdout}\n{stderr}");
    assert!(out.status.success(), "the fresh root could not run the test ({}):\n{all}", out.status);
    assert!(stdout.contains("EXIT=2"), "crosslab did not stop with exit 2:\n{all}");
    assert!(stderr.contains("would remove crosslab-test-blocker 1.0"), "the message names the package:\n{all}");
    assert!(stderr.contains("crosslab never removes or downgrades a package"), "{all}");
    assert!(stderr.contains("apt-get install --no-install-recommends"), "the message gives the command:\n{all}");
    let lines: Vec<&str> = stdout.lines().collect();
    let blocker = lines.iter().position(|l| l.starts_with("EXIT=")).map(|i| lines.get(i + 1)).flatten();
    assert_eq!(blocker.copied(), Some("install ok installed"), "the user's package is gone:\n{all}");
    assert!(!stdout.contains("install ok installed\ninstall ok installed"), "qemu-user-static got installed:\n{all}");
}
