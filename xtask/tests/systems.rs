//! The systems table against outside sources: Debian's binfmt.d files, real
//! Debian binaries of each architecture, and what qemu really prints.

use std::process::Command;

use xtask::systems::{decode_binfmt_escapes, NixSystem, SYSTEMS};

mod common;

fn payloads() -> std::path::PathBuf {
    let sh = xshell::Shell::new().unwrap();
    let all: Vec<&'static NixSystem> = SYSTEMS.iter().collect();
    xtask::provision::payload::ensure(&sh, &all).expect("fetching payloads (needs Debian's package archive)")
}

/// Debian's `qemu-user-static` ships one registration per architecture that
/// is foreign to the build machine; its magic must select the same ELF
/// headers as ours (the masks differ in bytes neither side cares about).
#[test]
fn magics_agree_with_debian_binfmt_d() {
    common::test_packages();
    let mut compared = 0;
    for system in SYSTEMS {
        let path = format!("/usr/lib/binfmt.d/qemu-{}.conf", system.qemu);
        let Ok(line) = std::fs::read_to_string(&path) else {
            assert!(system.is_native_here(), "{path} missing: apt-get install qemu-user-static");
            continue;
        };
        let fields: Vec<&str> = line.trim().split(':').collect();
        let (deb_magic, deb_mask) = (decode_binfmt_escapes(fields[4]), decode_binfmt_escapes(fields[5]));
        let (magic, mask) = (system.magic_bytes(), system.mask_bytes());
        assert_eq!(magic.len(), deb_magic.len(), "{}: magic length differs from {path}", system.double);
        for i in 0..magic.len() {
            let both = mask[i] & deb_mask[i];
            assert_eq!(
                magic[i] & both,
                deb_magic[i] & both,
                "{}: byte {i} of the magic disagrees with {path}",
                system.double
            );
        }
        compared += 1;
    }
    assert!(compared >= 6, "only {compared} systems had a Debian binfmt.d file");
}

/// The magic must select real binaries of the system: Debian's static busybox.
#[test]
fn magics_match_real_binaries() {
    common::test_packages();
    let dir = payloads();
    for system in SYSTEMS {
        let header = std::fs::read(dir.join(system.double).join("busybox")).unwrap();
        if system.double == "i686-linux" {
            // nixpkgs' binfmt-magics.nix gives i686-linux e_machine 6 (EM_486);
            // Debian's i386 binaries carry 3 (EM_386). Harmless on x86_64
            // (native, never registered); it would miss them on other hosts.
            assert!(!system.matches_header(&header), "i686 magic now matches EM_386: update this note and DESIGN.md");
            continue;
        }
        assert!(
            system.matches_header(&header),
            "{}: magic does not match Debian's {} busybox",
            system.double,
            system.debian_arch
        );
        // And no other system's pattern claims it, except the ARM family, which
        // shares one (binfmt_misc cannot tell ARMv5/6/7 apart).
        for other in SYSTEMS.iter().filter(|o| o.magic != system.magic) {
            assert!(!other.matches_header(&header), "{}'s magic also matches {}'s binary", other.double, system.double);
        }
    }
}

/// What `uname -m` prints under qemu-user with the table's CPU model (or
/// natively with the table's personality): checked by running it.
#[test]
fn uname_column_matches_real_runs() {
    common::test_packages();
    let dir = payloads();
    for system in SYSTEMS {
        let busybox = dir.join(system.double).join("busybox");
        let output = if system.is_native_here() {
            let mut c = Command::new("setarch");
            c.arg(system.personality.unwrap_or(std::env::consts::ARCH)).arg(&busybox);
            c.args(["uname", "-m"]).output()
        } else {
            let mut c = Command::new(system.fhs_interpreter());
            if let Some(cpu) = system.qemu_cpu {
                c.args(["-cpu", cpu]);
            }
            c.arg(&busybox).args(["uname", "-m"]).output()
        }
        .unwrap_or_else(|e| panic!("running {}: {e} (apt-get install qemu-user-static)", system.double));
        let printed = String::from_utf8_lossy(&output.stdout);
        assert_eq!(printed.trim(), system.uname, "{}: `uname -m` printed {printed:?}", system.double);
    }
}

/// qemu's default CPU for 32-bit ARM is newer than ARMv5, so the table must
/// pin one: without it, an armel binary reports armv7l.
#[test]
fn armv5_needs_its_pinned_cpu() {
    common::test_packages();
    let dir = payloads();
    let armv5 = NixSystem::find("armv5tel-linux").unwrap();
    let out = Command::new(armv5.fhs_interpreter())
        .arg(dir.join(armv5.double).join("busybox"))
        .args(["uname", "-m"])
        .output()
        .unwrap();
    assert_ne!(String::from_utf8_lossy(&out.stdout).trim(), armv5.uname);
    assert!(armv5.qemu_cpu.is_some());
}

#[test]
fn table_has_every_system_the_issue_names_once() {
    common::test_packages();
    for double in [
        "x86_64-linux",
        "i686-linux",
        "aarch64-linux",
        "armv5tel-linux",
        "armv6l-linux",
        "armv7l-linux",
        "riscv64-linux",
        "s390x-linux",
        "powerpc64le-linux",
        "mips64el-linux",
    ] {
        assert_eq!(SYSTEMS.iter().filter(|s| s.double == double).count(), 1, "{double}");
    }
}

/// Every suite a row falls back to (and its own) carries the row's
/// architecture: checked against the `Architectures:` of each suite's
/// `Release` file on the mirror crosslab fetches from.
#[test]
fn every_suite_of_a_row_carries_its_architecture() {
    common::test_packages();
    let mirror = xtask::provision::payload::debian_mirror().unwrap();
    let mut architectures: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for system in SYSTEMS {
        assert!(
            !system.debian_fallback_suites.contains(&system.debian_suite),
            "{}: falls back to itself",
            system.double
        );
        for suite in system.debian_suites() {
            let listed = architectures.entry(suite).or_insert_with(|| {
                let url = format!("{}/dists/{suite}/Release", mirror.trim_end_matches('/'));
                let out = Command::new("curl").args(["-sSfL", &url]).output().unwrap();
                assert!(out.status.success(), "{url}: {}", String::from_utf8_lossy(&out.stderr));
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                let line = text.lines().find_map(|l| l.strip_prefix("Architectures:")).unwrap_or_default();
                line.split_whitespace().map(str::to_owned).collect()
            });
            assert!(
                listed.iter().any(|a| a == system.debian_arch),
                "{}: Debian {suite} has no {} (it has {})",
                system.double,
                system.debian_arch,
                listed.join(" ")
            );
        }
    }
}

/// nixpkgs' `canExecute` for the table's systems, transcribed from
/// lib/systems/parse.nix `isCompatible` (nixos-25.05; "Since 22.11 the archs
/// of a mode switching CPU are no longer considered pairwise compatible"):
/// `(b == i686 && isCompatible a x86_64)`, `(b == aarch64 && a == armv8a)` —
/// nothing runs 32-bit ARM on aarch64 — and identity.
const NIXPKGS_CAN_EXECUTE: &[(&str, &[&str])] = &[
    ("x86_64", &["x86_64-linux", "i686-linux"]),
    ("aarch64", &["aarch64-linux"]),
    ("riscv64", &["riscv64-linux"]),
    ("s390x", &["s390x-linux"]),
    ("powerpc64", &["powerpc64le-linux"]),
    ("mips64", &["mips64el-linux"]),
];

#[test]
fn the_nixos_module_sees_native_systems_as_nixpkgs_does_on_every_host_arch() {
    for (arch, doubles) in NIXPKGS_CAN_EXECUTE {
        let native: Vec<&str> = SYSTEMS.iter().filter(|s| s.nixpkgs_runs_natively_on(arch)).map(|s| s.double).collect();
        assert_eq!(&native, doubles, "on {arch}");
        // The host's own system (binfmt.nix's assertion) is the first of them.
        assert_eq!(xtask::systems::own_system(arch).map(|s| s.double), Some(doubles[0]), "on {arch}");
    }
    // Every architecture a system runs natively on is one of the rows above.
    for s in SYSTEMS {
        for arch in s.native_on {
            assert!(NIXPKGS_CAN_EXECUTE.iter().any(|(a, _)| a == arch), "{}: {arch}", s.double);
        }
    }
    // The assertion's text as this machine's Nix prints it for binfmt.nix's
    // expression, evaluated on an x86_64 host emulating x86_64-linux.
    // Off the machine's store: as root, Nix would create /nix/var/nix/db.
    let out = Command::new("nix-instantiate")
        .args(common::NO_STORE)
        .args(["--eval", "-E"])
        .arg("let system = \"x86_64-linux\"; pkgs = { stdenv.hostPlatform.system = \"x86_64-linux\"; }; in assert system != pkgs.stdenv.hostPlatform.system; true")
        .output()
        .expect("nix-instantiate runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains(xtask::systems::NIXOS_OWN_SYSTEM_ASSERTION), "{stderr}");
}

/// 32-bit ARM is native on an aarch64 host only with a CPU that has AArch32
/// at EL0; nothing else changes with the CPU, and x86_64 runs only x86.
#[test]
fn what_each_host_runs_natively_follows_its_cpu() {
    use xtask::systems::HostSystem;
    let aarch64 = HostSystem::find("aarch64-linux").unwrap();
    let native = |cpu: &str| -> Vec<&str> {
        let cpu = aarch64.cpu(cpu).unwrap();
        SYSTEMS.iter().filter(|s| s.is_native_on(aarch64.arch, Some(cpu))).map(|s| s.double).collect()
    };
    assert_eq!(native("cortex-a72"), ["aarch64-linux", "armv5tel-linux", "armv6l-linux", "armv7l-linux"]);
    assert_eq!(native("cortex-a53"), native("cortex-a72"));
    assert_eq!(native("a64fx"), ["aarch64-linux"]);
    // Without a CPU named, the host system's default (the first) decides.
    assert_eq!(aarch64.default_cpu().name, "cortex-a72");
    let x86: Vec<&str> = SYSTEMS.iter().filter(|s| s.is_native_on("x86_64", None)).map(|s| s.double).collect();
    assert_eq!(x86, ["x86_64-linux", "i686-linux"]);
    let armv7l = xtask::systems::NixSystem::find("armv7l-linux").unwrap();
    assert_eq!(armv7l.uname_on("aarch64", aarch64.cpu("cortex-a72")), "armv8l");
    assert_eq!(armv7l.uname_on("aarch64", aarch64.cpu("a64fx")), "armv7l");
}

#[test]
fn nixos_releases_change_only_what_nixpkgs_changed_and_in_order() {
    use xtask::systems::{NativeEmulator, NixosRelease, NIXOS_RELEASES, NIXPKGS_MODE_SWITCH};
    // Oldest first; the default is the flake's nixpkgs, the newest row.
    let names = NixosRelease::names();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert_eq!(names.last(), Some(&NixosRelease::DEFAULT));
    assert!(xtask::render::NIXPKGS.url.ends_with(&format!("nixos-{}", NixosRelease::DEFAULT)));
    // Each change happened once: nothing comes back in a later release.
    let flips = |f: &dyn Fn(&NixosRelease) -> bool| NIXOS_RELEASES.windows(2).filter(|w| f(&w[0]) != f(&w[1])).count();
    assert_eq!(flips(&|r| r.arm32_native_on_aarch64), 1);
    assert_eq!(flips(&|r| r.own_system_assertion), 1);
    assert_eq!(flips(&|r| r.native_emulator == NativeEmulator::ExecScript), 1);
    let first = |f: &dyn Fn(&NixosRelease) -> bool| NIXOS_RELEASES.iter().find(|r| f(r)).map(|r| r.name);
    assert_eq!(first(&|r| !r.arm32_native_on_aarch64), Some("23.05"));
    assert_eq!(first(&|r| r.own_system_assertion), Some("24.05"));
    // The release moves only the CPU's other mode on aarch64: 32-bit ARM,
    // native to nixpkgs before 23.05 whatever the CPU (nixpkgs#171297).
    for release in NIXOS_RELEASES {
        for (arch, _) in NIXPKGS_CAN_EXECUTE {
            for s in SYSTEMS {
                let other_mode = NIXPKGS_MODE_SWITCH.contains(&(*arch, s.double));
                let expected = match other_mode {
                    true => release.arm32_native_on_aarch64,
                    false => s.nixpkgs_runs_natively_on(arch),
                };
                assert_eq!(
                    s.nixpkgs_runs_natively_in(arch, release),
                    expected,
                    "{} on {arch} in {}",
                    s.double,
                    release.name
                );
            }
        }
    }
    let on_aarch64 = |name: &str| -> Vec<&str> {
        let release = NixosRelease::find(name).unwrap();
        SYSTEMS.iter().filter(|s| s.nixpkgs_runs_natively_in("aarch64", release)).map(|s| s.double).collect()
    };
    assert!(on_aarch64("22.11").contains(&"armv7l-linux"), "{:?}", on_aarch64("22.11"));
    assert!(!on_aarch64("23.05").contains(&"armv7l-linux"), "{:?}", on_aarch64("23.05"));
}
