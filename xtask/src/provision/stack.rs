//! Stacks: which Nix and qemu a lab runs with. `host` is what this machine
//! has installed (a user's own machine, as it is); the others are Debian
//! releases whose `nix-bin` and `qemu-user-static` come in a root built once
//! with mmdebstrap ([`rootfs`]) and cached. A lab on such a stack pivots into
//! a private view of that root, so it has its own `/nix`, its own tools, and
//! touches nothing of the host's.
//!
//! A stack is a row of [`STACKS`]; a new Debian release is a new row.

use std::path::PathBuf;

use anyhow::bail;
use xshell::Shell;

use crate::machine::{dpkg_version, program_version, qemu_user_in, upstream_version};
use crate::outcome::Versions;
use crate::provision::rootfs::{self, Recipe, Variant};
use crate::systems::SYSTEMS;

/// One stack.
#[derive(Debug, PartialEq, Eq)]
pub struct Stack {
    /// What `--stack` takes.
    pub name: &'static str,
    /// The Debian suite whose packages make the stack, `None` for the host's own.
    pub suite: Option<&'static str>,
    /// What it stands for, for `--help` and reports.
    pub about: &'static str,
    /// Whether the suite's packages name the static emulators
    /// `/usr/bin/qemu-<arch>-static`, the path `interpreter = "fhs"`
    /// registers (Ubuntu's, tonistiigi/binfmt's). Debian 12's
    /// qemu-user-static ships them, Debian 13's transitional one ships them
    /// as links to qemu-user's static `qemu-<arch>`; Debian 14 has no
    /// qemu-user-static (`apt-get install qemu-user-static` gets
    /// qemu-user-binfmt, which registers `/usr/bin/qemu-<arch>`), so its
    /// root gets those links made, as Debian 13's package makes them, and a
    /// lab keeps the host it models while the stack changes Nix and qemu.
    pub ships_static_names: bool,
    /// Debian architectures the suite no longer builds, so it has no cross
    /// compiler for them (`gcc-<triple>`): a compile probe for such a system
    /// reports its emulated time alone on this stack.
    pub dropped_arches: &'static [&'static str],
}

/// Every stack, the default first.
pub const STACKS: &[Stack] = &[
    Stack {
        name: "host",
        suite: None,
        about: "the Nix and qemu installed on this machine",
        ships_static_names: true,
        dropped_arches: &[],
    },
    Stack {
        name: "bookworm",
        suite: Some("bookworm"),
        about: "Debian 12: Nix 2.8, qemu 7.2",
        ships_static_names: true,
        dropped_arches: &[],
    },
    Stack {
        name: "trixie",
        suite: Some("trixie"),
        about: "Debian 13: Nix 2.26, qemu 10.0",
        ships_static_names: true,
        dropped_arches: &[],
    },
    // The roots' var/lib/dpkg/status: trixie's qemu-user-static 1:10.0.13+ds-0+deb13u1
    // is "QEMU user mode emulation (compat/transitional package)"; in forky,
    // qemu-user-binfmt 1:11.1.2+ds-3 "Provides: qemu-user-static" and no package has that name.
    Stack {
        name: "forky",
        suite: Some("forky"),
        about: "Debian 14 (testing): Nix 2.34, qemu 11.1",
        ships_static_names: false,
        // mmdebstrap of forky, 2026-12-06: "Unable to locate package
        // gcc-mips64el-linux-gnuabi64" and libc6-dev-mips64el-cross.
        dropped_arches: &["mips64el"],
    },
];

/// What a Debian stack's root holds besides the essential packages: Nix, the
/// static emulators, qemu-user's `/usr/bin/qemu-<arch>` (dynamically linked
/// in bookworm: what `emulator = "dynamic"` registers), and `umount` (the
/// lab's set-up unmounts the host's root from inside the stack's).
const PACKAGES: &[&str] = &["nix-bin", "qemu-user-static", "qemu-user", "mount"];

impl Stack {
    /// The stack called `name`, or an error listing the stacks there are.
    pub fn find(name: &str) -> anyhow::Result<&'static Stack> {
        match STACKS.iter().find(|s| s.name == name) {
            Some(s) => Ok(s),
            None => bail!(
                "unknown stack `{name}`\n  help: stacks: {}",
                STACKS.iter().map(|s| format!("{} ({})", s.name, s.about)).collect::<Vec<_>>().join(", ")
            ),
        }
    }

    /// The Debian stack of `suite`, if there is one.
    pub fn of_suite(suite: &str) -> Option<&'static Stack> {
        STACKS.iter().find(|s| s.suite == Some(suite))
    }

    pub fn is_host(&self) -> bool {
        self.suite.is_none()
    }

    /// The root a Debian stack is made of: its Nix and qemu, with only the
    /// emulators of the systems table (qemu-user alone is ~470 MB in trixie).
    pub fn recipe(&self) -> Option<Recipe> {
        let suite = self.suite?;
        let mut filters = vec!["path-exclude=/usr/bin/qemu-*".to_owned()];
        let mut names: Vec<&str> = SYSTEMS.iter().map(|s| s.qemu).collect();
        names.sort();
        names.dedup();
        let mut links = Vec::new();
        for qemu in names {
            filters.push(format!("path-include=/usr/bin/qemu-{qemu}"));
            filters.push(format!("path-include=/usr/bin/qemu-{qemu}-static"));
            if !self.ships_static_names {
                links.push((format!("/usr/bin/qemu-{qemu}-static"), format!("qemu-{qemu}")));
            }
        }
        Some(Recipe {
            name: format!("stack-{}", self.name),
            suite: suite.to_owned(),
            arch: "amd64".to_owned(),
            variant: Variant::Essential,
            packages: PACKAGES.iter().map(|p| (*p).to_owned()).collect(),
            dpkg_filters: filters,
            links,
        })
    }

    /// The root filesystem a lab on this stack sees below its own `/nix`,
    /// `/run` and `/tmp`: the host's `/`, or the stack's cached root (built
    /// once, saying so, when missing).
    pub fn lower_root(&self, sh: &Shell) -> anyhow::Result<PathBuf> {
        match self.recipe() {
            None => Ok(PathBuf::from("/")),
            Some(recipe) => {
                if std::env::consts::ARCH != "x86_64" {
                    bail!(
                        "the `{}` stack is a Debian amd64 root; this machine is {}\n  help: use --stack host",
                        self.name,
                        std::env::consts::ARCH
                    );
                }
                Ok(rootfs::ensure(sh, &recipe)?.tree())
            }
        }
    }
}

/// The packages a Debian root's qemu-user emulators come from, in the order
/// asked: bookworm's and trixie's `qemu-user-static`, then `qemu-user`, the
/// one that remains in forky (its emulators are static there and it ships no
/// `qemu-<arch>-static` names). Every `qemu-<arch>` of a root comes from
/// one source package, so one version is the version of each system's emulator.
const QEMU_PACKAGES: &[&str] = &["qemu-user-static", "qemu-user"];

impl Versions {
    /// Reads the versions of `stack` whose root is `lower`: its Nix (dpkg's
    /// record for a Debian root; `nix-build --version` for the host), its
    /// qemu-user as [`qemu_user_in`] reads it, the same way on every stack.
    pub fn of(stack: &Stack, lower: &std::path::Path) -> Versions {
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_owned();
        let status = std::fs::read_to_string(lower.join("var/lib/dpkg/status")).unwrap_or_default();
        let nix = if stack.is_host() {
            program_version("nix-build", "--version")
        } else {
            upstream_version(&dpkg_version(&status, "nix-bin"))
        };
        let (mut qemu, qemu_package) = qemu_user_in(lower);
        if qemu == "unknown" && !stack.is_host() {
            // A root whose emulator cannot run here: dpkg's record, upstream part.
            let packaged = QEMU_PACKAGES.iter().map(|p| dpkg_version(&status, p)).find(|v| v != "unknown");
            qemu = upstream_version(&packaged.unwrap_or_else(|| "unknown".to_owned()));
        }
        Versions { stack: stack.name, nix, qemu, qemu_package, kernel }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacks_are_found_by_name_and_unknown_ones_listed() {
        assert!(Stack::find("host").unwrap().is_host());
        assert_eq!(Stack::find("trixie").unwrap().suite, Some("trixie"));
        let err = format!("{:#}", Stack::find("sid").unwrap_err());
        assert!(err.contains("unknown stack `sid`") && err.contains("bookworm (Debian 12"), "{err}");
    }

    /// Issue 18: a Debian stack's qemu was dpkg's version
    /// (`1:10.0.13+ds-0+deb13u1`) where the host's was qemu's own (`7.2.19`).
    /// Now it is qemu's own on every stack, read from the stack's program
    /// (through trixie's relative link), with the package it came from.
    #[test]
    fn a_debian_stacks_qemu_is_the_version_its_emulator_prints_and_its_package() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let at = |p: &str| root.path().join(p);
        for dir in ["usr/bin", "var/lib/dpkg/info"] {
            std::fs::create_dir_all(at(dir)).unwrap();
        }
        std::fs::write(
            at("usr/bin/qemu-aarch64"),
            "#!/bin/sh\necho 'qemu-aarch64 version 10.0.13 (Debian 1:10.0.13+ds-0+deb13u1)'\necho 'Copyright (c) 2003-2025'\n",
        )
        .unwrap();
        std::fs::set_permissions(at("usr/bin/qemu-aarch64"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("qemu-aarch64", at("usr/bin/qemu-aarch64-static")).unwrap();
        std::fs::write(at("var/lib/dpkg/info/qemu-user.list"), "/usr/bin/qemu-aarch64\n").unwrap();
        std::fs::write(at("var/lib/dpkg/info/qemu-user-static.list"), "/usr/bin/qemu-aarch64-static\n").unwrap();
        std::fs::write(
            at("var/lib/dpkg/status"),
            "Package: nix-bin\nVersion: 2.26.3+dfsg-1\n\nPackage: qemu-user-static\nVersion: 1:10.0.13+ds-0+deb13u1\n",
        )
        .unwrap();
        let v = Versions::of(Stack::find("trixie").unwrap(), root.path());
        assert_eq!((v.qemu.as_str(), v.qemu_package.as_str()), ("10.0.13", "qemu-user-static"));
        assert_eq!(v.nix, "2.26.3", "the upstream version, as the host stack's nix-build prints it");
        // The guest's command reads the same.
        let said = "qemu-aarch64 version 10.0.13 (Debian 1:10.0.13+ds-0+deb13u1)\npackage qemu-user-static\n";
        assert_eq!(crate::machine::parse_qemu_user(said), ("10.0.13".to_owned(), "qemu-user-static".to_owned()));
    }

    #[test]
    fn a_debian_stack_keeps_only_the_emulators_of_the_systems_table() {
        let recipe = Stack::find("trixie").unwrap().recipe().unwrap();
        assert_eq!(recipe.suite, "trixie");
        assert!(recipe.dpkg_filters.contains(&"path-include=/usr/bin/qemu-aarch64-static".to_owned()));
        assert!(recipe.dpkg_filters.contains(&"path-include=/usr/bin/qemu-riscv64".to_owned()));
        assert!(!recipe.dpkg_filters.iter().any(|f| f.contains("sparc")));
        assert!(Stack::find("host").unwrap().recipe().is_none());
        assert!(recipe.links.is_empty(), "trixie's qemu-user-static makes its own links");
    }

    #[test]
    fn a_stack_whose_suite_lacks_the_static_names_gets_them_as_links() {
        let recipe = Stack::find("forky").unwrap().recipe().unwrap();
        let link = ("/usr/bin/qemu-aarch64-static".to_owned(), "qemu-aarch64".to_owned());
        assert!(recipe.links.contains(&link), "{:?}", recipe.links);
        assert_eq!(recipe.links.len(), recipe.dpkg_filters.iter().filter(|f| f.ends_with("-static")).count());
    }

    #[test]
    fn a_root_without_qemu_user_static_reads_qemu_user() {
        // forky: `qemu-user-static` is gone, `qemu-user` holds the static emulators.
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("var/lib/dpkg")).unwrap();
        let status = "Package: nix-bin\nVersion: 2.34.8+dfsg-1+b1\n\nPackage: qemu-user\nVersion: 1:11.1.2+ds-3\n";
        std::fs::write(root.path().join("var/lib/dpkg/status"), status).unwrap();
        let v = Versions::of(Stack::find("forky").unwrap(), root.path());
        assert_eq!((v.nix.as_str(), v.qemu.as_str()), ("2.34.8", "11.1.2"));
        assert_eq!(v.tools(), "Nix 2.34.8, qemu 11.1.2");
    }
}
