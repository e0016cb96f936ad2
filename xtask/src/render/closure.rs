//! What a rendered check's node is made of and where each part comes from:
//! the binary cache, a fixed-output fetch pinned by hash, or a build from
//! source. The renderer writes the Nix expressions chosen here, and a lab
//! goes under `checks.x86_64-linux` only when nothing of its node is built
//! from source; the rest go under `crossChecks.x86_64-linux` (opt-in).
//!
//! "From the cache" means: a job of the Hydra evaluation that released the
//! locked nixos-25.05 revision, or a build step of one (Hydra uploads every
//! step it builds). That jobset is `nixos/release-combined.nix`, whose
//! `supportedSystems` are `aarch64-linux` and `x86_64-linux` and which
//! includes `pkgs/top-level/release.nix` (every top-level package on those
//! systems, `pkgsStatic.stdenv` but no other `pkgsStatic` package) and
//! `nixos/release.nix` (every NixOS test in `nixos/tests/all-tests.nix`).
//! Nothing of `pkgsCross` is a job; a few cross builds are build steps of
//! NixOS tests, but nothing here relies on that.

use std::fmt;

use crate::plan::Plan;
use crate::quote;
use crate::spec::{HostKind, Interpreter, Language};
use crate::systems::{Emulator, NixSystem};

/// The architecture of the machines the rendered tests boot (`checks.x86_64-linux`).
pub const VM_HOST_ARCH: &str = "x86_64";

/// Systems whose payloads the lab's probes may use: every system of the lab
/// (a `command` probe may use any) and every pinned payload.
pub fn payload_systems(plan: &Plan) -> Vec<&'static NixSystem> {
    let mut systems: Vec<&'static NixSystem> = plan.lab.systems.clone();
    for probe in &plan.probes {
        if !systems.contains(&probe.payload) {
            systems.push(probe.payload);
        }
    }
    systems
}

/// Where a part of a check's node comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Origin {
    /// Substituted from the NixOS binary cache.
    Cache,
    /// A fixed-output fetch, pinned by its hash.
    Fetch,
    /// Built from source by whoever runs the check.
    Source,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Cache => "cache",
            Origin::Fetch => "fetch",
            Origin::Source => "source",
        }
    }
}

/// One package a check's node puts in the VM (or its test driver uses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// What it is, for people: `aarch64-linux gcc (native)`.
    pub what: String,
    /// The Nix expression the rendered check uses (in the node's scope:
    /// `pkgs`, `pkgsOn`).
    pub expr: String,
    pub origin: Origin,
    /// Why it comes from there: the nixpkgs (or Debian) file that makes it so.
    pub why: &'static str,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.what, self.origin.as_str())
    }
}

const WHY_NATIVE_JOB: &str = "a top-level package: a job of pkgs/top-level/release.nix on aarch64-linux and x86_64-linux (nixos/release-combined.nix, supportedSystems)";
const WHY_I686: &str = "pkgsi686Linux's stdenv compiler (its final stage sets gcc = cc, pkgs/stdenv/linux/default.nix): built for nixos/release-combined.nix's `nixpkgs.mesa_i686` on x86_64-linux and for release.nix's stdenvBootstrapTools.i686-unknown-linux-gnu (bootstrapConfigs)";
const WHY_STATIC_QEMU: &str = "pkgsStatic.qemu-user, the static emulator boot.binfmt.preferStaticEmulators registers (nixos/modules/system/boot/binfmt.nix): built for the NixOS test systemd-binfmt.chroot (nixos/tests/systemd-binfmt.nix; all-tests.nix runs it on x86_64-linux), a job of nixos/release.nix";
const WHY_BINFMT_P_CACHED: &str = "the qemu-<arch>-binfmt-P wrapper (pkgs.wrapQemuBinfmtP) boot.binfmt.emulatedSystems registers for armv7l-linux and aarch64-linux in the NixOS test systemd-binfmt.basic (nixos/tests/systemd-binfmt.nix), a job of nixos/release.nix";
const WHY_BINFMT_P_SOURCE: &str = "pkgs.wrapQemuBinfmtP compiles one small C file (binfmt-p-wrapper.c) per emulated system; no NixOS test of the release registers this system";
const WHY_DEBIAN: &str = "Debian's busybox-static, the payload `lab run` uses too: a fetchurl of mirror://debian/<Filename> with the SHA256 of Debian's Packages index (bookworm main; riscv64: trixie main)";
const WHY_CROSS: &str = "pkgsCross is no job of pkgs/top-level/release.nix or nixos/release.nix (release-cross.nix is a separate jobset of the unstable branch), so its compiler toolchain is built from source here";
const WHY_I686_RUST: &str = "pkgsi686Linux.rustc: i686-linux is no supportedSystem of nixos/release-combined.nix and no x86_64-linux job builds rustc for it";

/// Debian's `busybox-static` for each Debian architecture the systems table
/// uses: the `Filename` and `SHA256` of its entry in the Packages index of
/// `dists/<suite>/main/binary-<arch>/` (bookworm; riscv64: trixie), as apt
/// read it on 2026-12-06. A point release that supersedes the version
/// removes it from the mirrors: the fetch then fails, naming the file, and
/// this table needs the new entry.
pub const DEBIAN_BUSYBOX: &[(&str, &str, &str)] = &[
    (
        "amd64",
        "pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_amd64.deb",
        "3d3fdbe91d4660c873e14b092c213fe81c1da6362daa236eb25d0171eb108744",
    ),
    (
        "i386",
        "pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_i386.deb",
        "725ef9e6fbac4ab79b353165b05005e8c140d6e42177ebbc202ff1e13ded8b7c",
    ),
    (
        "armel",
        "pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_armel.deb",
        "061813bf602fdec8f81f07afd196a0e1b8ab0223fbbe9d7b4e003ee44130a60f",
    ),
    (
        "armhf",
        "pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_armhf.deb",
        "2f68dbeaebeda49f3cde34ac421d5add85fb1c837ff7c4a4971945340d9d66ff",
    ),
    (
        "arm64",
        "pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_arm64.deb",
        "732c9135564fc71337e0e05fb4da4d11e6c28c1834bce3e405e575afef2a52f5",
    ),
    (
        "s390x",
        "pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_s390x.deb",
        "65e29a4dea3ca365e9ee73a6b4fa2a42c8cbbd3b13753250e68b4835876fe316",
    ),
    (
        "ppc64el",
        "pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_ppc64el.deb",
        "932deb885b840a8cf529708c03a1e87833dc64e66a70585721f8a356d9fe995b",
    ),
    (
        "mips64el",
        "pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_mips64el.deb",
        "dccccdabb87cf616c950b72987116c0c5a4f3781e95dac4759899126ac7a285b",
    ),
    (
        "riscv64",
        "pool/main/b/busybox/busybox-static_1.37.0-6+b9_riscv64.deb",
        "4add476d2b185c5b487c285b38d790f0881a7e4a8e2ddde835f917e770eb8633",
    ),
];

/// The Debian package a payload is unpacked from: (`Filename`, `SHA256`).
pub fn debian_busybox(system: &NixSystem) -> Option<(&'static str, &'static str)> {
    DEBIAN_BUSYBOX.iter().find(|(arch, _, _)| *arch == system.debian_arch).map(|&(_, file, sha256)| (file, sha256))
}

/// The payload of `system`: Debian's static busybox, fetched by hash. A
/// payload must be static (the chroot labs copy it where no loader is), and
/// the cache has no static busybox for any system but the ones NixOS tests
/// happen to build: release.nix builds `pkgsStatic.stdenv` only, and the
/// native `busybox` it builds is linked against glibc.
pub fn payload(system: &NixSystem) -> Part {
    let (file, sha256) =
        debian_busybox(system).unwrap_or_else(|| panic!("no Debian busybox-static for {}", system.debian_arch));
    Part {
        what: format!("{} busybox (Debian busybox-static, {})", system.double, system.debian_arch),
        expr: format!("{{ file = {}; sha256 = {}; }}", quote::nix(file), quote::nix(sha256)),
        origin: Origin::Fetch,
        why: WHY_DEBIAN,
    }
}

/// The package set whose packages run on `system`, as seen from an x86_64
/// node, and whether the cache has its toolchains: x86_64's own, i686's
/// (built for x86_64 jobs), aarch64's native set (`pkgsOn`, a supported
/// system of the jobset); every other system's is `pkgsCross`.
fn package_set(system: &NixSystem) -> (String, bool) {
    match system.double {
        "x86_64-linux" => ("pkgs".to_owned(), true),
        "i686-linux" => ("pkgs.pkgsi686Linux".to_owned(), true),
        "aarch64-linux" => ("(pkgsOn \"aarch64-linux\")".to_owned(), true),
        _ => (format!("pkgs.pkgsCross.{}", quote::nix(system.pkgs_cross)), false),
    }
}

/// The compiler that runs on `system` and targets it (for Rust, rustc joined
/// with that gcc, which rustc links through).
pub fn toolchain(system: &NixSystem, language: Language) -> Part {
    let (set, cached) = package_set(system);
    let (expr, what) = match language {
        Language::C => (format!("{set}.gcc"), format!("{} gcc", system.double)),
        Language::Rust => (
            format!(
                "pkgs.symlinkJoin {{ name = {}; paths = [ {set}.rustc {set}.gcc ]; }}",
                quote::nix(&format!("crosslab-rust-{}", system.double))
            ),
            format!("{} rustc and gcc", system.double),
        ),
    };
    let (origin, why) = match (cached, system.double, language) {
        (_, "i686-linux", Language::Rust) => (Origin::Source, WHY_I686_RUST),
        (true, "i686-linux", _) => (Origin::Cache, WHY_I686),
        (true, _, _) => (Origin::Cache, WHY_NATIVE_JOB),
        (false, _, _) => (Origin::Source, WHY_CROSS),
    };
    let how = if cached { "native" } else { "cross-built" };
    Part { what: format!("{what} ({how})"), expr, origin, why }
}

/// The cross compiler the compile probe times the emulated one against
/// (`<gcc_triple>-gcc` on the node's PATH): nixpkgs' gcc that runs on x86_64
/// and targets `system`. None for systems x86_64 runs natively.
pub fn cross_compiler(system: &NixSystem) -> Option<Part> {
    if system.native_on.contains(&VM_HOST_ARCH) {
        return None;
    }
    Some(Part {
        what: format!("{} cross gcc", system.double),
        expr: format!("pkgs.pkgsCross.{}.stdenv.cc", quote::nix(system.pkgs_cross)),
        origin: Origin::Source,
        why: WHY_CROSS,
    })
}

/// Everything the node of `plan`'s lab is made of, beside NixOS itself.
pub fn parts(plan: &Plan) -> Vec<Part> {
    let lab = plan.lab;
    let native = |s: &NixSystem| s.is_native_on(plan.host_arch, plan.host_cpu);
    let mut parts: Vec<Part> = Vec::new();
    let mut push = |part: Part| {
        if !parts.contains(&part) {
            parts.push(part);
        }
    };
    for system in payload_systems(plan) {
        push(payload(system));
    }
    for (system, language) in crate::plan::compile_toolchains(&[plan]) {
        push(toolchain(system, language));
    }
    let foreign: Vec<&NixSystem> = payload_systems(plan).into_iter().filter(|s| !native(s)).collect();
    let fhs = lab.host == HostKind::NonNixos || lab.binfmt.interpreter == Interpreter::Fhs;
    let dynamic = lab.binfmt.emulator == Emulator::Dynamic;
    if fhs && !foreign.is_empty() {
        push(Part {
            what: "qemu-user (static)".to_owned(),
            expr: "pkgs.pkgsStatic.qemu-user".to_owned(),
            origin: Origin::Cache,
            why: WHY_STATIC_QEMU,
        });
        if dynamic && lab.binfmt.interpreter == Interpreter::Fhs {
            push(qemu_user());
        }
    }
    if lab.binfmt.interpreter == Interpreter::Nixos {
        for system in lab.systems.iter().filter(|s| !native(s)) {
            if dynamic {
                push(qemu_user());
                let cached = matches!(system.double, "aarch64-linux" | "armv7l-linux");
                push(Part {
                    what: format!("qemu-{}-binfmt-P wrapper", system.qemu),
                    expr: "pkgs.wrapQemuBinfmtP".to_owned(),
                    origin: if cached { Origin::Cache } else { Origin::Source },
                    why: if cached { WHY_BINFMT_P_CACHED } else { WHY_BINFMT_P_SOURCE },
                });
            } else {
                push(Part {
                    what: "qemu-user (static)".to_owned(),
                    expr: "pkgs.pkgsStatic.qemu-user".to_owned(),
                    origin: Origin::Cache,
                    why: WHY_STATIC_QEMU,
                });
            }
        }
    }
    // A check that builds from source anyway also gets the cross compilers
    // its compile probes time the emulated ones against.
    let cross: Vec<Part> = crate::plan::compile_toolchains(&[plan])
        .into_iter()
        .filter(|(_, language)| *language == Language::C)
        .filter_map(|(system, _)| cross_compiler(system))
        .collect();
    if builds_from_source(&parts) {
        for cc in cross {
            if !parts.contains(&cc) {
                parts.push(cc);
            }
        }
    }
    parts
}

fn qemu_user() -> Part {
    Part { what: "qemu-user".to_owned(), expr: "pkgs.qemu-user".to_owned(), origin: Origin::Cache, why: WHY_NATIVE_JOB }
}

/// Whether a check made of `parts` builds anything from source.
pub fn builds_from_source(parts: &[Part]) -> bool {
    parts.iter().any(|p| p.origin == Origin::Source)
}

/// The flake output a lab's check is under: `checks` when everything of its
/// node comes from the cache or a pinned fetch, else the opt-in `crossChecks`;
/// none for a lab a NixOS test cannot model ([`not_a_nixos_test`]).
pub fn output_of(plan: &Plan) -> &'static str {
    if not_a_nixos_test(plan).is_some() {
        "none"
    } else if builds_from_source(&parts(plan)) {
        "crossChecks"
    } else {
        "checks"
    }
}

/// Whether `lab` can be a rendered check at all: the checks are x86_64 NixOS
/// VMs, so a lab that models another architecture's host (`host-system`) is
/// left out of the flake; `lab run` runs it in a VM of that architecture.
pub fn renderable(lab: &crate::spec::Lab) -> bool {
    lab.host_system.is_none_or(|h| h.arch == VM_HOST_ARCH)
}

/// Why a lab has no check in the flake, when it models what a NixOS test's
/// node does not: the test driver runs every probe as root (a trusted client
/// of the node's daemon), and the node's nix.conf and daemon are NixOS's, not
/// crosslab's own. Such a lab runs on the host and vm backends only.
pub fn not_a_nixos_test(plan: &Plan) -> Option<&'static str> {
    let lab = plan.lab;
    if !renderable(lab) {
        return Some("it models a host of another architecture, and the rendered checks are x86_64 NixOS VMs; `lab run` runs it in a VM of its own architecture");
    }
    if lab.probes.iter().any(|p| p.kind == crate::spec::ProbeKind::NixConfEdit) {
        return Some("it edits nix.conf and restarts crosslab's own daemon; a node's are NixOS's");
    }
    if lab.nix.emulated.is_some() {
        return Some("its daemon is an emulated Nix, which a NixOS node does not run");
    }
    // The flake's nixpkgs is the default release (tests/systems.rs checks).
    if lab.binfmt.nixos_release.name != crate::systems::NixosRelease::DEFAULT {
        return Some(
            "it models another NixOS release's binfmt module (`binfmt.nixos-release`) than the flake's nixpkgs",
        );
    }
    let client_trusted = lab.nix.trusted_users.iter().any(|u| u == crate::plan::CLIENT_USER);
    if !client_trusted && lab.probes.iter().any(|p| !p.nix_options.is_empty()) {
        return Some("its probes are an untrusted client; a NixOS test's run as root, whom the daemon trusts");
    }
    None
}

/// `checks.x86_64-linux.<lab>` or `crossChecks.x86_64-linux.<lab>`: the
/// attribute `nix build` takes for the lab's check.
pub fn flake_attr(plan: &Plan) -> String {
    format!("{}.{}-linux.{}", output_of(plan), VM_HOST_ARCH, plan.lab.name)
}

/// One line per origin: what the check downloads, fetches and builds.
pub fn summary(parts: &[Part]) -> Vec<(Origin, Vec<String>)> {
    [Origin::Cache, Origin::Fetch, Origin::Source]
        .into_iter()
        .map(|o| (o, parts.iter().filter(|p| p.origin == o).map(|p| p.what.clone()).collect()))
        .collect()
}

/// The Markdown table of every lab's check: its output, what it downloads
/// from the cache, fetches by hash and builds from source (beside NixOS and
/// the test driver, which every check substitutes).
pub fn markdown_table(plans: &[Plan]) -> String {
    let mut out =
        String::from("| check | downloads (the NixOS binary cache) | fetches (by hash) | builds from source |\n");
    out.push_str("|---|---|---|---|\n");
    for plan in plans {
        let parts = parts(plan);
        let cell = |o: Origin| {
            let what: Vec<String> =
                parts.iter().filter(|p| p.origin == o).map(|p| p.what.replace('|', "\\|")).collect();
            if what.is_empty() {
                "–".to_owned()
            } else {
                what.join("; ")
            }
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            flake_attr(plan),
            cell(Origin::Cache),
            cell(Origin::Fetch),
            cell(Origin::Source)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::systems::NixSystem;

    fn system(double: &str) -> &'static NixSystem {
        NixSystem::find(double).unwrap()
    }

    #[test]
    fn only_systems_the_jobset_builds_natively_have_cached_toolchains() {
        let origin = |double: &str, language| toolchain(system(double), language).origin;
        assert_eq!(origin("aarch64-linux", Language::C), Origin::Cache);
        assert_eq!(origin("aarch64-linux", Language::Rust), Origin::Cache);
        assert_eq!(origin("i686-linux", Language::C), Origin::Cache);
        assert_eq!(origin("i686-linux", Language::Rust), Origin::Source);
        for double in ["armv7l-linux", "riscv64-linux", "s390x-linux", "powerpc64le-linux", "mips64el-linux"] {
            assert_eq!(origin(double, Language::C), Origin::Source, "{double}");
        }
        // The native set of aarch64 is the jobset's, not a cross one.
        assert_eq!(toolchain(system("aarch64-linux"), Language::C).expr, "(pkgsOn \"aarch64-linux\").gcc");
        assert!(cross_compiler(system("i686-linux")).is_none(), "x86_64 runs i686 natively");
    }

    #[test]
    fn every_payload_is_a_hash_pinned_fetch() {
        for s in crate::systems::SYSTEMS {
            let part = payload(s);
            assert_eq!(part.origin, Origin::Fetch);
            assert!(part.expr.contains(&format!("_{}.deb", s.debian_arch)), "{}", part.expr);
        }
    }
}
