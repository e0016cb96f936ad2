//! Prerequisites: the programs a lab needs, and installing the missing ones
//! from Debian/Ubuntu packages when crosslab runs as root — never at the cost
//! of a package the machine has: an install that would remove or downgrade
//! one is refused before apt changes anything.

use std::path::Path;

use anyhow::{bail, Context};
use xshell::{cmd, Shell};

/// A program a lab needs and the Debian package that ships it.
struct Need {
    program: String,
    package: &'static str,
}

/// Makes sure every program in `programs` (names or absolute paths) exists,
/// installing the packages that ship the missing ones when possible.
pub fn ensure(sh: &Shell, programs: &[String]) -> anyhow::Result<()> {
    let mut missing = Vec::new();
    for program in programs.iter().filter(|p| !is_present(p)) {
        let Some(package) = package_of(program) else {
            bail!("missing {program}, and crosslab knows no Debian package that ships it\n  help: install it, or put it on PATH");
        };
        missing.push(Need { program: program.clone(), package });
    }
    if missing.is_empty() {
        return Ok(());
    }
    let mut packages: Vec<&str> = missing.iter().map(|n| n.package).collect();
    packages.sort();
    packages.dedup();
    let names: Vec<&str> = missing.iter().map(|n| n.program.as_str()).collect();
    let install = format!("apt-get update && apt-get install -y --no-install-recommends {}", packages.join(" "));
    let is_root = unsafe { libc::geteuid() } == 0;
    if !is_root || !is_present("apt-get") {
        bail!("missing {}\n  help: install them as root: {install}", names.join(", "));
    }
    eprintln!("crosslab: installing {} (missing: {})", packages.join(" "), names.join(", "));
    apt_install(sh, &packages)?;
    let still: Vec<&str> = names.iter().copied().filter(|p| !is_present(p)).collect();
    if !still.is_empty() {
        bail!("still missing after installing {}: {}", packages.join(" "), still.join(", "));
    }
    Ok(())
}

/// Installs `packages` with apt-get (as root), after `apt-get update`.
///
/// apt is first asked what it would do (`--simulate`): when that removes or
/// downgrades an installed package, nothing is installed and the error names
/// those packages and the command the user can run to decide for themselves.
/// The install itself runs with `--no-remove` all the same.
pub fn apt_install(sh: &Shell, packages: &[&str]) -> anyhow::Result<()> {
    cmd!(sh, "apt-get -qq update").quiet().run().context("`apt-get update` failed")?;
    let simulated = cmd!(sh, "apt-get install --simulate -y --no-install-recommends {packages...}")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .env("LC_ALL", "C")
        .quiet()
        .ignore_status()
        .output()
        .context("could not execute `apt-get`")?;
    let plan = String::from_utf8_lossy(&simulated.stdout);
    let harm = AptHarm::of(&plan, |new, old| version_is_lower(sh, new, old));
    let command = format!("apt-get install --no-install-recommends {}", packages.join(" "));
    if !harm.is_empty() {
        bail!(
            "installing {} would {}; crosslab never removes or downgrades a package\n  help: decide for yourself with: {command}",
            packages.join(" "),
            harm.describe()
        );
    }
    if !simulated.status.success() {
        bail!(
            "apt-get cannot install {}:\n{}\n  help: see what apt says with: {command}",
            packages.join(" "),
            String::from_utf8_lossy(&simulated.stderr).trim()
        );
    }
    // dpkg's progress goes to the log of a failure only: the terminal gets
    // crosslab's one line saying what it installs.
    let installed = cmd!(sh, "apt-get install -qq -y --no-remove --no-install-recommends {packages...}")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .quiet()
        .ignore_status()
        .output()
        .context("could not execute `apt-get`")?;
    if !installed.status.success() {
        let log =
            format!("{}{}", String::from_utf8_lossy(&installed.stdout), String::from_utf8_lossy(&installed.stderr));
        bail!(
            "`apt-get install {}` exited with {}:\n{}",
            packages.join(" "),
            installed.status,
            crate::text::last_lines(&log, 20).join("\n")
        );
    }
    Ok(())
}

/// What an apt plan would do to packages already installed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct AptHarm {
    /// `name version` of each package apt would remove.
    pub removed: Vec<String>,
    /// `name old → new` of each package apt would downgrade.
    pub downgraded: Vec<String>,
}

impl AptHarm {
    /// Reads `apt-get --simulate`'s plan (`Remv name [version]`,
    /// `Inst name [old] (new …)`); `is_lower(new, old)` compares versions
    /// as dpkg does.
    pub fn of(plan: &str, is_lower: impl Fn(&str, &str) -> bool) -> AptHarm {
        let mut harm = AptHarm::default();
        for line in plan.lines() {
            let mut words = line.split_whitespace();
            let (Some(action), Some(name)) = (words.next(), words.next()) else { continue };
            // `[old]` only right after the name: `(… [amd64])` is the new one's architecture.
            let rest = line.splitn(3, ' ').nth(2).unwrap_or("");
            let old = rest.strip_prefix('[').and_then(|r| r.split_once(']')).map(|(v, _)| v);
            let new = rest.split_once('(').and_then(|(_, r)| r.split_whitespace().next());
            match (action, old, new) {
                ("Remv", old, _) => harm.removed.push(format!("{name} {}", old.unwrap_or("")).trim_end().to_owned()),
                ("Inst", Some(old), Some(new)) if is_lower(new, old) => {
                    harm.downgraded.push(format!("{name} {old} → {new}"))
                }
                _ => {}
            }
        }
        harm
    }

    pub fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.downgraded.is_empty()
    }

    /// "remove qemu-utils 1:10.0 and downgrade …".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.removed.is_empty() {
            parts.push(format!("remove {}", self.removed.join(", ")));
        }
        if !self.downgraded.is_empty() {
            parts.push(format!("downgrade {}", self.downgraded.join(", ")));
        }
        parts.join(" and ")
    }
}

/// Whether Debian version `a` sorts before `b` (`dpkg --compare-versions`).
fn version_is_lower(sh: &Shell, a: &str, b: &str) -> bool {
    cmd!(sh, "dpkg --compare-versions {a} lt {b}").quiet().ignore_stderr().run().is_ok()
}

fn is_present(program: &str) -> bool {
    if program.starts_with('/') {
        return Path::new(program).exists();
    }
    // A Nix from the official installer, off PATH under sudo, is found
    // (and used) by the host backend all the same.
    if program.starts_with("nix") && Path::new(crate::machine::INSTALLER_PROFILE_BIN).join(program).is_file() {
        return true;
    }
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

/// The Debian package that ships `program`, for the programs crosslab uses.
pub fn package_of(program: &str) -> Option<&'static str> {
    // The P wrapper for an aarch64 lab host is built with Debian's cross gcc
    // against the cross libc (provision/binfmt_wrapper.rs).
    if program == "/usr/aarch64-linux-gnu/lib/libc.a" {
        return Some("libc6-dev-arm64-cross");
    }
    let name = program.rsplit('/').next().unwrap_or(program);
    Some(match name {
        "nix" | "nix-build" | "nix-store" => "nix-bin",
        "unshare" | "nsenter" | "setarch" => "util-linux",
        "dpkg-deb" => "dpkg",
        "apt-get" => "apt",
        "qemu-system-x86_64" => "qemu-system-x86",
        "mmdebstrap" => "mmdebstrap",
        // mmdebstrap asks it whether a foreign architecture's programs run (the arm64 guest image).
        "arch-test" => "arch-test",
        "qemu-system-aarch64" => "qemu-system-arm",
        "mkfs.ext4" => "e2fsprogs",
        "debian-archive-keyring.gpg" => "debian-archive-keyring",
        // A simulated NixOS's static P wrapper (provision/binfmt_wrapper.rs).
        "gcc" => "gcc",
        "aarch64-linux-gnu-gcc" => "gcc-aarch64-linux-gnu",
        "libc.a" => "libc6-dev",
        n if n.starts_with("qemu-") && n.ends_with("-static") => "qemu-user-static",
        // The dynamically linked emulators (`emulator = "dynamic"`).
        n if n.starts_with("qemu-") && !n.starts_with("qemu-system") => "qemu-user",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::AptHarm;

    #[test]
    fn apt_plans_that_remove_or_downgrade_are_harm() {
        // As apt-get --simulate printed it here for qemu-system-x86 beside backports' qemu-utils.
        let plan = "NOTE: This is only a simulation!\n\
            Remv qemu-utils [1:10.0.2+ds-2+deb13u1~bpo12+1]\n\
            Inst ipxe-qemu (1.0.0+git-20190125.36a4c85-5.1 Debian:12.15/oldstable [all])\n\
            Inst libc6 [2.36-9+deb12u14] (2.36-9+deb12u13 Debian:12.15/oldstable [amd64])\n\
            Inst zlib1g [1:1.2.13.dfsg-1] (1:1.2.13.dfsg-2 Debian:12.15/oldstable [amd64])\n\
            Conf ipxe-qemu (1.0.0+git-20190125.36a4c85-5.1 Debian:12.15/oldstable [all])\n";
        let lower = |a: &str, b: &str| {
            assert!(
                a.starts_with(|c: char| c.is_ascii_digit()) && b.starts_with(|c: char| c.is_ascii_digit()),
                "{a} {b}"
            );
            a.ends_with("u13") && b.ends_with("u14")
        };
        let harm = AptHarm::of(plan, lower);
        assert_eq!(harm.removed, ["qemu-utils 1:10.0.2+ds-2+deb13u1~bpo12+1"]);
        assert_eq!(harm.downgraded, ["libc6 2.36-9+deb12u14 → 2.36-9+deb12u13"]);
        assert_eq!(
            harm.describe(),
            "remove qemu-utils 1:10.0.2+ds-2+deb13u1~bpo12+1 and downgrade libc6 2.36-9+deb12u14 → 2.36-9+deb12u13"
        );
        assert!(AptHarm::of("Inst ipxe-qemu (1.0 Debian:12 [all])\n", lower).is_empty(), "a new package is no harm");
        let fresh =
            AptHarm::of("Inst nix-bin (2.8.0-1.1+b1 Debian:12.15/oldstable [amd64])\n", |_, _| panic!("compared"));
        assert!(fresh.is_empty(), "a new package's architecture is no installed version: {fresh:?}");
    }
}
