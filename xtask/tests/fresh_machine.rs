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

use std::process::Output;

mod common;

/// Runs `script` on a fresh machine: an overlay root without `/nix`,
/// `/etc/nix`, crosslab's cache or any package the suite or crosslab
/// installs (testsuite.rs's one list, so the two cannot drift apart).
fn on_a_fresh_machine(script: &str) -> Output {
    common::in_an_overlay_root(script, &xtask::testsuite::installed_by_the_suite(), true)
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
    let blocker = lines.iter().position(|l| l.starts_with("EXIT=")).and_then(|i| lines.get(i + 1));
    assert_eq!(blocker.copied(), Some("install ok installed"), "the user's package is gone:\n{all}");
    assert!(!stdout.contains("install ok installed\ninstall ok installed"), "qemu-user-static got installed:\n{all}");
}
