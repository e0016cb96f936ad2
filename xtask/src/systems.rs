//! The systems table: every Nix system double crosslab can emulate, with the
//! facts each backend needs about it (qemu binary and CPU, binfmt magic, what
//! `uname -m` prints, where a static payload comes from, OCI and nixpkgs names).
//!
//! This is the one place these facts live. `tests/systems.rs` checks the magics
//! against Debian's `/usr/lib/binfmt.d/qemu-*.conf` and real payload binaries,
//! and the `uname -m` column against real runs under qemu.

/// One Nix system double and how to emulate it.
#[derive(Debug, PartialEq, Eq)]
pub struct NixSystem {
    /// The Nix system double, e.g. `aarch64-linux`.
    pub double: &'static str,
    /// qemu-user's name for the architecture: `/usr/bin/qemu-<qemu>-static`.
    pub qemu: &'static str,
    /// The qemu CPU model that emulates this system faithfully (`QEMU_CPU`),
    /// or `None` when qemu's default model is right.
    pub qemu_cpu: Option<&'static str>,
    /// binfmt_misc magic, in the kernel's `\x..` escaped form (the bytes NixOS uses).
    pub magic: &'static str,
    /// binfmt_misc mask, same form.
    pub mask: &'static str,
    /// Whether nixpkgs' binfmt magics know this system, i.e. whether
    /// `boot.binfmt.emulatedSystems` accepts it. In nixos-25.05 the magics are
    /// inline in `nixos/modules/system/boot/binfmt.nix` (later releases moved
    /// them to `nixos/lib/binfmt-magics.nix`, same bytes). The module asserts
    /// that the host's own system is not emulated ([`own_system`]), and gives
    /// a system the host runs natively in nixpkgs' eyes (i686-linux on
    /// x86_64, [`NixSystem::nixpkgs_runs_natively_on`]) an `exec "$@"` shell
    /// wrapper with no flags instead of qemu.
    pub nixos_emulated: bool,
    /// What `uname -m` prints for a binary of this system under the emulation above.
    pub uname: &'static str,
    /// What it prints when the host runs it natively with [`NixSystem::personality`],
    /// where that differs: an arm64 kernel's 32-bit personality says `armv8l`
    /// (`COMPAT_UTS_MACHINE` in arch/arm64/include/asm/compat.h), which is
    /// why nixpkgs on such builders sees armv8l, not armv7l.
    pub native_uname: Option<&'static str>,
    /// Debian architecture of the static payload (`busybox-static:<arch>`).
    pub debian_arch: &'static str,
    /// Debian suite the payload and the `compile` probe's toolchain come from
    /// (riscv64 is a port only from trixie on, mips64el only up to bookworm).
    pub debian_suite: &'static str,
    /// Suites tried in order when the mirror's index of the one before is
    /// inconsistent (a mirror mid-sync: "File has unexpected size … Mirror
    /// sync in progress?", "Hash Sum mismatch"): the next releases that still
    /// carry the architecture. Empty: no fallback, the error stands.
    pub debian_fallback_suites: &'static [&'static str],
    /// Docker/OCI platform string.
    pub oci_platform: &'static str,
    /// `pkgsCross.<attr>` in nixpkgs that targets this system.
    pub pkgs_cross: &'static str,
    /// Host CPU architectures (`std::env::consts::ARCH`) that run this system's
    /// binaries natively, without binfmt_misc, on a CPU with `native_needs`.
    pub native_on: &'static [&'static str],
    /// What the host CPU must have for `native_on` to hold: 32-bit ARM runs
    /// on an aarch64 kernel only where the CPU has AArch32 at EL0 (Cortex-A53,
    /// A72), not on AArch64-only ones (A64FX, Apple M1): there Linux's
    /// `personality(PER_LINUX32)` is EINVAL (arch/arm64/kernel/sys.c) and
    /// `execve` of an ARM ELF is "Exec format error".
    pub native_needs: Option<CpuFeature>,
    /// Personality (`setarch <name>`) a native run needs for `uname -m` to be
    /// right, as Nix itself sets for i686 builds on x86_64.
    pub personality: Option<&'static str>,
    /// GNU triple of Debian's gcc for this system (`<triple>-gcc` natively in
    /// the `compile` probe's toolchain, `gcc-<triple>` as the host's cross compiler).
    pub gcc_triple: &'static str,
    /// What the `compile` probe's program says it was compiled for, from the
    /// compiler's predefined macros (`__aarch64__`, `__ARM_ARCH`, …) with
    /// Debian's default flags for `debian_arch`.
    pub cc_arch: &'static str,
    /// The Debian suite whose patchelf makes this system's toolchain a store
    /// path. Measured: bookworm's 0.14 breaks mips64el programs (`as` dies
    /// "Internal error (Segmentation fault)"); trixie's 0.18 breaks the others'
    /// `cc1` ("internal compiler error: Segmentation fault").
    pub patchelf_suite: &'static str,
}

// Magics and masks are nixpkgs' (inline in binfmt.nix in 25.05, binfmt-magics.nix later), byte for byte.
const ARM_MAGIC: &str = r"\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x28\x00";
const ARM_MASK: &str = r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\x00\xff\xfe\xff\xff\xff";

/// Every system crosslab knows, in the order `lab list` and the matrix show them.
pub const SYSTEMS: &[NixSystem] = &[
    NixSystem {
        double: "x86_64-linux",
        qemu: "x86_64",
        qemu_cpu: None,
        magic: r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00",
        mask: r"\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff",
        nixos_emulated: true,
        uname: "x86_64",
        native_uname: None,
        debian_arch: "amd64",
        debian_suite: "bookworm",
        debian_fallback_suites: &["trixie"],
        oci_platform: "linux/amd64",
        pkgs_cross: "gnu64",
        native_on: &["x86_64"],
        native_needs: None,
        personality: None,
        gcc_triple: "x86_64-linux-gnu",
        cc_arch: "x86_64",
        patchelf_suite: "bookworm",
    },
    NixSystem {
        double: "i686-linux",
        qemu: "i386",
        qemu_cpu: None,
        magic: r"\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x06\x00",
        mask: r"\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff",
        nixos_emulated: true,
        uname: "i686",
        native_uname: None,
        debian_arch: "i386",
        debian_suite: "bookworm",
        debian_fallback_suites: &["trixie"],
        oci_platform: "linux/386",
        pkgs_cross: "gnu32",
        native_on: &["x86_64"],
        native_needs: None,
        personality: Some("i686"),
        gcc_triple: "i686-linux-gnu",
        cc_arch: "i686",
        patchelf_suite: "bookworm",
    },
    NixSystem {
        double: "aarch64-linux",
        qemu: "aarch64",
        qemu_cpu: None,
        magic: r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00",
        mask: r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\x00\xff\xfe\xff\xff\xff",
        nixos_emulated: true,
        uname: "aarch64",
        native_uname: None,
        debian_arch: "arm64",
        debian_suite: "bookworm",
        debian_fallback_suites: &["trixie"],
        oci_platform: "linux/arm64",
        pkgs_cross: "aarch64-multiplatform",
        native_on: &["aarch64"],
        native_needs: None,
        personality: None,
        gcc_triple: "aarch64-linux-gnu",
        cc_arch: "aarch64",
        patchelf_suite: "bookworm",
    },
    NixSystem {
        double: "armv5tel-linux",
        qemu: "arm",
        qemu_cpu: Some("arm926"),
        magic: ARM_MAGIC,
        mask: ARM_MASK,
        nixos_emulated: false,
        uname: "armv5tel",
        native_uname: Some("armv8l"),
        debian_arch: "armel",
        debian_suite: "bookworm",
        debian_fallback_suites: &["trixie"],
        oci_platform: "linux/arm/v5",
        pkgs_cross: "sheevaplug",
        native_on: &["aarch64"],
        native_needs: Some(CpuFeature::Aarch32El0),
        personality: Some("linux32"),
        gcc_triple: "arm-linux-gnueabi",
        cc_arch: "armv5",
        patchelf_suite: "bookworm",
    },
    NixSystem {
        double: "armv6l-linux",
        qemu: "arm",
        qemu_cpu: Some("arm1176"),
        magic: ARM_MAGIC,
        mask: ARM_MASK,
        nixos_emulated: true,
        uname: "armv6l",
        native_uname: Some("armv8l"),
        debian_arch: "armel",
        debian_suite: "bookworm",
        debian_fallback_suites: &["trixie"],
        oci_platform: "linux/arm/v6",
        pkgs_cross: "raspberryPi",
        native_on: &["aarch64"],
        native_needs: Some(CpuFeature::Aarch32El0),
        personality: Some("linux32"),
        gcc_triple: "arm-linux-gnueabi",
        cc_arch: "armv5",
        patchelf_suite: "bookworm",
    },
    NixSystem {
        double: "armv7l-linux",
        qemu: "arm",
        qemu_cpu: Some("cortex-a15"),
        magic: ARM_MAGIC,
        mask: ARM_MASK,
        nixos_emulated: true,
        uname: "armv7l",
        native_uname: Some("armv8l"),
        debian_arch: "armhf",
        debian_suite: "bookworm",
        debian_fallback_suites: &["trixie"],
        oci_platform: "linux/arm/v7",
        pkgs_cross: "armv7l-hf-multiplatform",
        native_on: &["aarch64"],
        native_needs: Some(CpuFeature::Aarch32El0),
        personality: Some("linux32"),
        gcc_triple: "arm-linux-gnueabihf",
        cc_arch: "armv7",
        patchelf_suite: "bookworm",
    },
    NixSystem {
        double: "riscv64-linux",
        qemu: "riscv64",
        qemu_cpu: None,
        magic: r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xf3\x00",
        mask: r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff",
        nixos_emulated: true,
        uname: "riscv64",
        native_uname: None,
        debian_arch: "riscv64",
        debian_suite: "trixie",
        debian_fallback_suites: &["forky"],
        oci_platform: "linux/riscv64",
        pkgs_cross: "riscv64",
        native_on: &["riscv64"],
        native_needs: None,
        personality: None,
        gcc_triple: "riscv64-linux-gnu",
        cc_arch: "riscv64",
        patchelf_suite: "bookworm",
    },
    NixSystem {
        double: "s390x-linux",
        qemu: "s390x",
        qemu_cpu: None,
        magic: r"\x7fELF\x02\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x16",
        mask: r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff",
        nixos_emulated: true,
        uname: "s390x",
        native_uname: None,
        debian_arch: "s390x",
        debian_suite: "bookworm",
        debian_fallback_suites: &["trixie"],
        oci_platform: "linux/s390x",
        pkgs_cross: "s390x",
        native_on: &["s390x"],
        native_needs: None,
        personality: None,
        gcc_triple: "s390x-linux-gnu",
        cc_arch: "s390x",
        patchelf_suite: "bookworm",
    },
    NixSystem {
        double: "powerpc64le-linux",
        qemu: "ppc64le",
        qemu_cpu: None,
        magic: r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x15\x00",
        mask: r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\x00",
        nixos_emulated: true,
        uname: "ppc64le",
        native_uname: None,
        debian_arch: "ppc64el",
        debian_suite: "bookworm",
        debian_fallback_suites: &["trixie"],
        oci_platform: "linux/ppc64le",
        pkgs_cross: "powernv",
        native_on: &["powerpc64"],
        native_needs: None,
        personality: None,
        gcc_triple: "powerpc64le-linux-gnu",
        cc_arch: "ppc64le",
        patchelf_suite: "bookworm",
    },
    NixSystem {
        double: "mips64el-linux",
        qemu: "mips64el",
        qemu_cpu: None,
        magic: r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x08\x00",
        mask: r"\xff\xff\xff\xff\xff\xff\xff\x00\x00\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff",
        nixos_emulated: true,
        uname: "mips64",
        native_uname: None,
        debian_arch: "mips64el",
        debian_suite: "bookworm",
        debian_fallback_suites: &[],
        oci_platform: "linux/mips64le",
        pkgs_cross: "mips64el-linux-gnuabi64",
        native_on: &["mips64"],
        native_needs: None,
        personality: None,
        gcc_triple: "mips64el-linux-gnuabi64",
        cc_arch: "mips64el",
        patchelf_suite: "trixie",
    },
];

impl NixSystem {
    /// The Debian suites this system's packages come from, in the order they
    /// are tried: [`NixSystem::debian_suite`], then its fallbacks.
    pub fn debian_suites(&self) -> impl Iterator<Item = &'static str> {
        std::iter::once(self.debian_suite).chain(self.debian_fallback_suites.iter().copied())
    }

    /// Looks a system up by its Nix double.
    pub fn find(double: &str) -> Option<&'static NixSystem> {
        SYSTEMS.iter().find(|s| s.double == double)
    }

    /// `/usr/bin/qemu-<arch>-static`, where Debian, Ubuntu and tonistiigi/binfmt put it.
    pub fn fhs_interpreter(&self) -> String {
        format!("/usr/bin/qemu-{}-static", self.qemu)
    }

    /// Where Debian puts the emulator of this kind: the static one
    /// (qemu-user-static) or the dynamically linked one (qemu-user).
    pub fn fhs_emulator(&self, emulator: Emulator) -> String {
        match emulator {
            Emulator::Static => self.fhs_interpreter(),
            Emulator::Dynamic => format!("/usr/bin/qemu-{}", self.qemu),
        }
    }

    /// Whether nixpkgs says a machine of `host_arch` executes this system's
    /// binaries itself: `stdenv.hostPlatform.canExecute`, from
    /// lib/systems/parse.nix `isCompatible`, in the default release (25.05).
    /// That is [`NixSystem::native_on`] except for a CPU's other mode: parse.nix
    /// has no `(b == armv7a && isCompatible a armv8a)` any more, so 32-bit ARM
    /// is emulated on aarch64 whatever the CPU can do ([`NIXPKGS_MODE_SWITCH`]).
    pub fn nixpkgs_runs_natively_on(&self, host_arch: &str) -> bool {
        self.nixpkgs_runs_natively_in(host_arch, NixosRelease::default_release())
    }

    /// [`NixSystem::nixpkgs_runs_natively_on`] as nixpkgs `release` says it:
    /// before 23.05 parse.nix counted 32-bit ARM as executable on every
    /// aarch64, whatever the CPU can do ([`NixosRelease::arm32_native_on_aarch64`];
    /// on a CPU without AArch32 that is nixpkgs#171297).
    pub fn nixpkgs_runs_natively_in(&self, host_arch: &str, release: &NixosRelease) -> bool {
        let other_mode = NIXPKGS_MODE_SWITCH.contains(&(host_arch, self.double));
        match other_mode {
            true => release.arm32_native_on_aarch64,
            false => self.native_on.contains(&host_arch),
        }
    }

    /// Whether the machine we run on executes this system's binaries natively.
    pub fn is_native_here(&self) -> bool {
        self.is_native_on(std::env::consts::ARCH, None)
    }

    /// Whether a host of architecture `arch` with CPU `cpu` (`None`: that
    /// architecture's usual CPU, [`HostSystem::default_cpu`]) runs this
    /// system's binaries natively.
    pub fn is_native_on(&self, arch: &str, cpu: Option<&HostCpu>) -> bool {
        let cpu = cpu.or_else(|| HostSystem::of_arch(arch).map(HostSystem::default_cpu));
        self.native_on.contains(&arch)
            && self.native_needs.is_none_or(|need| cpu.is_none_or(|c| c.features.contains(&need)))
    }

    /// What `uname -m` prints for this system's binary on a host of `arch`
    /// with `cpu`: natively, or under emulation.
    pub fn uname_on(&self, arch: &str, cpu: Option<&HostCpu>) -> &'static str {
        match self.native_uname {
            Some(native) if self.is_native_on(arch, cpu) => native,
            _ => self.uname,
        }
    }

    /// The magic as raw bytes (the kernel's `\x..` escapes decoded).
    pub fn magic_bytes(&self) -> Vec<u8> {
        decode_binfmt_escapes(self.magic)
    }

    /// The mask as raw bytes.
    pub fn mask_bytes(&self) -> Vec<u8> {
        decode_binfmt_escapes(self.mask)
    }

    /// Whether the first bytes of an executable match this system's magic under its mask.
    pub fn matches_header(&self, header: &[u8]) -> bool {
        let (magic, mask) = (self.magic_bytes(), self.mask_bytes());
        header.len() >= magic.len() && magic.iter().zip(&mask).zip(header).all(|((m, k), h)| m & k == h & k)
    }
}

/// `(host arch, system)` pairs the CPU runs in another mode, which nixpkgs
/// (lib/systems/parse.nix from 23.05 on, [`NixosRelease::arm32_native_on_aarch64`])
/// does not count as executable.
pub const NIXPKGS_MODE_SWITCH: &[(&str, &str)] =
    &[("aarch64", "armv7l-linux"), ("aarch64", "armv6l-linux"), ("aarch64", "armv5tel-linux")];

/// The system a machine of `host_arch` is, its `stdenv.hostPlatform.system`
/// on NixOS: the one it runs natively without a personality (x86_64-linux,
/// not i686-linux, on x86_64). binfmt.nix asserts it is not in
/// `emulatedSystems` ([`NIXOS_OWN_SYSTEM_ASSERTION`]).
pub fn own_system(host_arch: &str) -> Option<&'static NixSystem> {
    SYSTEMS.iter().find(|s| s.nixpkgs_runs_natively_on(host_arch) && s.personality.is_none())
}

/// What Nix prints when `boot.binfmt.emulatedSystems` holds the host's own
/// system: nixos/modules/system/boot/binfmt.nix (25.05) maps the systems with
/// `system: assert system != pkgs.stdenv.hostPlatform.system; { … }`, and a
/// failed `assert` is Nix's "assertion '<expression>' failed", the expression
/// as Nix shows it (`ExprSelect::show` puts the selected-from expression in
/// parentheses: `(pkgs).stdenv…`, the same from Nix 2.8 to 2.28). Added after
/// nixpkgs#218465: without it the entry took over the host's own binaries
/// and the machine stopped booting ("Too many levels of symbolic links").
pub const NIXOS_OWN_SYSTEM_ASSERTION: &str = "assertion '(system != (pkgs).stdenv.hostPlatform.system)' failed";

/// A CPU feature that decides whether a system runs natively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuFeature {
    /// AArch32 at EL0: an aarch64 kernel runs 32-bit ARM programs.
    Aarch32El0,
}

/// A CPU a lab's host can have: a qemu-system CPU model of its architecture.
#[derive(Debug, PartialEq, Eq)]
pub struct HostCpu {
    /// qemu's `-cpu` name, which the lab's `host-cpu` key takes.
    pub name: &'static str,
    pub features: &'static [CpuFeature],
    /// What machines have it, for error messages and the README.
    pub about: &'static str,
}

/// A machine a lab can model: the Nix system it is, and the CPUs it can have.
#[derive(Debug, PartialEq, Eq)]
pub struct HostSystem {
    /// The lab's `host-system` value, e.g. `aarch64-linux`.
    pub double: &'static str,
    /// `std::env::consts::ARCH` (and `uname -m`) of such a host.
    pub arch: &'static str,
    /// The CPUs, the first the default.
    pub cpus: &'static [HostCpu],
}

/// Every host system a lab can name. The aarch64 CPUs' AArch32 support is
/// qemu's (target/arm/cpu64.c: cortex-a53 and cortex-a72 set
/// ID_AA64PFR0.EL0 to 2, AArch64 and AArch32; a64fx sets 1, AArch64 only)
/// and the silicon's (Arm's Cortex-A53/A72 manuals; Fujitsu's A64FX is
/// AArch64-only, as Apple's M1 and later are).
pub const HOST_SYSTEMS: &[HostSystem] = &[
    HostSystem {
        double: "x86_64-linux",
        arch: "x86_64",
        cpus: &[HostCpu { name: "max", features: &[], about: "any x86_64 CPU" }],
    },
    HostSystem {
        double: "aarch64-linux",
        arch: "aarch64",
        cpus: &[
            HostCpu {
                name: "cortex-a72",
                features: &[CpuFeature::Aarch32El0],
                about: "Raspberry Pi 4, AWS Graviton 1 class; runs 32-bit ARM at EL0",
            },
            HostCpu {
                name: "cortex-a53",
                features: &[CpuFeature::Aarch32El0],
                about: "Raspberry Pi 3; runs 32-bit ARM at EL0",
            },
            HostCpu {
                name: "a64fx",
                features: &[],
                about: "Fujitsu A64FX, AArch64 only like Apple silicon; no 32-bit ARM",
            },
        ],
    },
];

impl HostSystem {
    pub fn find(double: &str) -> Option<&'static HostSystem> {
        HOST_SYSTEMS.iter().find(|h| h.double == double)
    }
    pub fn of_arch(arch: &str) -> Option<&'static HostSystem> {
        HOST_SYSTEMS.iter().find(|h| h.arch == arch)
    }
    pub fn default_cpu(&self) -> &'static HostCpu {
        &self.cpus[0]
    }
    pub fn cpu(&self, name: &str) -> Option<&'static HostCpu> {
        self.cpus.iter().find(|c| c.name == name)
    }
}

/// One NixOS release's `boot.binfmt` module, as far as it changes what a lab
/// sees (`binfmt.nixos-release`; default [`NixosRelease::DEFAULT`]). Read
/// from nixpkgs' sources; the release a change first shipped in follows from
/// when its pull request was opened (see each field).
#[derive(Debug, PartialEq, Eq)]
pub struct NixosRelease {
    /// `22.05` … `25.05`.
    pub name: &'static str,
    /// Whether lib/systems/parse.nix counts armv7l/armv6l/armv5tel as
    /// executable on aarch64 (so binfmt.nix registers the shell wrapper for
    /// them, not qemu: nixpkgs#171297). Older parse.nix (with "CPUs with
    /// multiple modes of endianness are pairwise compatible" and "XXX: not
    /// always true! Some arm64 cpus don't support arm32 mode.") has
    /// `(b == armv7a && isCompatible a armv8a)` and
    /// `(b == armv8a && isCompatible a aarch64)`: aarch64 → armv8a → armv7a →
    /// armv7l. Removed by nixpkgs#211950 ("stop considering armv8a able to
    /// execute armv7l", which fixes #220008 of March 2023), so 22.11 still
    /// has it and 23.05 is the first release without.
    pub arm32_native_on_aarch64: bool,
    /// Whether binfmt.nix has `assert system != pkgs.stdenv.hostPlatform.system;`
    /// ([`NIXOS_OWN_SYSTEM_ASSERTION`]): added by nixpkgs#275485, opened
    /// 2023-12-19 after 23.11 branched off, so first in 24.05. Before, the
    /// host's own system is registered with the module's shell wrapper and
    /// every native exec goes through it until the kernel gives up (ELOOP,
    /// "Too many levels of symbolic links": nixpkgs#218465, #239806).
    pub own_system_assertion: bool,
    /// The `emulator` lib/systems/default.nix gives a system the host
    /// executes ([`NativeEmulator`]).
    pub native_emulator: NativeEmulator,
}

/// What lib/systems/default.nix's `emulator` is for a system
/// `stdenv.hostPlatform.canExecute`s; binfmt.nix wraps either in its
/// `wrapInterpreterInShell` script (`#!${pkgs.bash}/bin/sh` /
/// `exec -- ${interpreter} "$@"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NativeEmulator {
    /// `"${pkgs.runtimeShell} -c '\"$@\"' --"`, so the registered script is
    /// `exec -- …/bin/bash -c '"$@"' -- "$@"` (nixpkgs#171297 shows it on
    /// 22.05). Replaced after nixpkgs#324071 (opened 2024-07-02, after 24.05).
    ShellDashC,
    /// `lib.getExe (pkgs.writeShellScriptBin "exec" ''exec "$@"'')` (25.05).
    /// 24.11 execs its arguments the same way, whether through this or
    /// execline's `exec` (nixpkgs#324071); which of the two is not checked.
    ExecScript,
}

/// The releases a lab can name, oldest first.
pub const NIXOS_RELEASES: &[NixosRelease] = &[
    NixosRelease {
        name: "22.05",
        arm32_native_on_aarch64: true,
        own_system_assertion: false,
        native_emulator: NativeEmulator::ShellDashC,
    },
    NixosRelease {
        name: "22.11",
        arm32_native_on_aarch64: true,
        own_system_assertion: false,
        native_emulator: NativeEmulator::ShellDashC,
    },
    NixosRelease {
        name: "23.05",
        arm32_native_on_aarch64: false,
        own_system_assertion: false,
        native_emulator: NativeEmulator::ShellDashC,
    },
    NixosRelease {
        name: "23.11",
        arm32_native_on_aarch64: false,
        own_system_assertion: false,
        native_emulator: NativeEmulator::ShellDashC,
    },
    NixosRelease {
        name: "24.05",
        arm32_native_on_aarch64: false,
        own_system_assertion: true,
        native_emulator: NativeEmulator::ShellDashC,
    },
    NixosRelease {
        name: "24.11",
        arm32_native_on_aarch64: false,
        own_system_assertion: true,
        native_emulator: NativeEmulator::ExecScript,
    },
    NixosRelease {
        name: "25.05",
        arm32_native_on_aarch64: false,
        own_system_assertion: true,
        native_emulator: NativeEmulator::ExecScript,
    },
];

impl NixosRelease {
    /// The release crosslab models unless a lab names another: the flake's
    /// nixpkgs (nixos-25.05).
    pub const DEFAULT: &'static str = "25.05";

    pub fn find(name: &str) -> Option<&'static NixosRelease> {
        NIXOS_RELEASES.iter().find(|r| r.name == name)
    }

    pub fn default_release() -> &'static NixosRelease {
        NixosRelease::find(NixosRelease::DEFAULT).expect("the default release is a row of NIXOS_RELEASES")
    }

    /// `"22.05", "22.11", …` for an error's help.
    pub fn names() -> Vec<&'static str> {
        NIXOS_RELEASES.iter().map(|r| r.name).collect()
    }
}

/// Decodes the kernel's binfmt_misc escape syntax (`\xNN`, other bytes literal).
pub fn decode_binfmt_escapes(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && bytes.get(i + 1) == Some(&b'x') && i + 4 <= bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 2..i + 4]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// Systems whose names come closest to `wanted`, for "did you mean" hints.
/// Knows the families people abbreviate: `arm-linux` means one of the 32-bit
/// ARM doubles, `x86-linux` one of the x86 ones.
pub fn closest(wanted: &str) -> Vec<&'static str> {
    let arch = wanted.split('-').next().unwrap_or(wanted).to_ascii_lowercase();
    let family: &[&str] = match arch.as_str() {
        "arm" | "armhf" | "armel" | "arm32" | "armv7" | "armv6" | "armv5" => {
            &["armv7l-linux", "armv6l-linux", "armv5tel-linux"]
        }
        "arm64" | "armv8" | "aarch64" => &["aarch64-linux"],
        "x86" | "amd64" | "x64" => &["x86_64-linux", "i686-linux"],
        "i386" | "i486" | "i586" | "386" | "x86_32" => &["i686-linux"],
        "ppc64le" | "ppc64el" | "powerpc" | "ppc64" | "powerpc64" => &["powerpc64le-linux"],
        "riscv" | "rv64" | "riscv64" => &["riscv64-linux"],
        "mips64le" | "mips" | "mips64" => &["mips64el-linux"],
        _ => &[],
    };
    if !family.is_empty() {
        return family.to_vec();
    }
    let mut scored: Vec<(usize, &'static str)> =
        SYSTEMS.iter().map(|s| (strsim::levenshtein(wanted, s.double), s.double)).filter(|(d, _)| *d <= 4).collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, d)| d).collect()
}

/// All known doubles, comma-separated, for error messages.
pub fn known_list() -> String {
    SYSTEMS.iter().map(|s| s.double).collect::<Vec<_>>().join(", ")
}

/// Which qemu is registered: how the emulator is linked decides what a
/// chroot or sandbox must contain for it to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emulator {
    /// A statically linked qemu (Debian's qemu-user-static; NixOS with
    /// `boot.binfmt.preferStaticEmulators`).
    Static,
    /// A dynamically linked qemu, which needs its loader and libraries where
    /// it runs (Debian's qemu-user; NixOS's default `qemu-<arch>-binfmt-P` wrapper).
    Dynamic,
}

impl Emulator {
    pub fn as_str(self) -> &'static str {
        match self {
            Emulator::Static => "static",
            Emulator::Dynamic => "dynamic",
        }
    }
}

/// Where the kernel's binfmt_misc is mounted.
pub const BINFMT_DIR: &str = "/proc/sys/fs/binfmt_misc";
