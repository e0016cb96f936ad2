//! Registrations as data: the binfmt_misc entries each registering tool
//! writes, byte for byte, and the matcher that tells, for an entry read from
//! `/proc/sys/fs/binfmt_misc/<name>`, which system it serves and which tool's
//! entry it is.
//!
//! Tools disagree on the bytes: Debian's masks let `e_ident[EI_OSABI]` be 0 or
//! 3 (`\xfc`), QEMU's script and nixpkgs clear it (`\x00`), NixOS's aarch64
//! mask clears byte 14 where Debian's keeps it, and mips64el's byte 8 is `\xfe`
//! in bookworm and `\x00` in trixie. So a system is found by its magic under
//! the entry's own mask, never by comparing masks.
//!
//! Ground floor: this module uses only `systems`.

use crate::systems::{decode_binfmt_escapes, NixSystem, SYSTEMS};

/// A tool that registers emulators with binfmt_misc, as `binfmt.tool` names it.
#[derive(Debug, PartialEq, Eq)]
pub struct Tool {
    /// The spec value, e.g. `debian-bookworm`.
    pub name: &'static str,
    /// What the tool is and how it is run, for messages.
    pub about: &'static str,
    /// Whether the qemu it registers is statically linked (`binfmt.emulator`).
    pub static_emulator: bool,
    /// Whether it registers from inside a container image, with F: the
    /// kernel keeps the image's emulator open, and the host's file at that
    /// path (if any) is another program.
    pub from_container: bool,
    kind: Kind,
}

#[derive(Debug, PartialEq, Eq)]
enum Kind {
    /// One `qemu-<arch>` entry per qemu architecture the tool knows; the
    /// interpreter is `<prefix><arch><suffix>`.
    Qemu {
        prefix: &'static str,
        suffix: &'static str,
        /// The flags field exactly as the tool writes it (Debian writes `OPF`).
        flags: &'static str,
        /// The offset field as written: empty or `0` (the kernel reads both as 0).
        offset: &'static str,
        magics: &'static [Magic],
    },
    /// NixOS's `boot.binfmt.emulatedSystems`: entry `<system>`, interpreter
    /// `/run/binfmt/<system>`, nixpkgs' magics (the systems table's), empty
    /// offset (nixos/modules/system/boot/binfmt.nix: `toString null`).
    Nixos { flags: &'static str },
}

/// A qemu architecture's magic and mask in one tool's spelling.
#[derive(Debug, PartialEq, Eq)]
pub struct Magic {
    /// qemu's name for the architecture, as [`NixSystem::qemu`].
    pub qemu: &'static str,
    pub magic: &'static str,
    pub mask: &'static str,
}

/// One entry as a tool writes it to `register`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolEntry {
    pub name: String,
    pub offset: &'static str,
    pub magic: &'static str,
    pub mask: &'static str,
    pub interpreter: String,
    pub flags: &'static str,
}

impl ToolEntry {
    /// The line written to `register`: `:name:M:offset:magic:mask:interpreter:flags`.
    pub fn line(&self) -> String {
        format!(":{}:M:{}:{}:{}:{}:{}", self.name, self.offset, self.magic, self.mask, self.interpreter, self.flags)
    }
}

// Debian's `/usr/lib/binfmt.d/qemu-<arch>.conf` of qemu-user-static
// 1:7.2+dfsg-7+deb12u18+b2 (bookworm, amd64), e.g. qemu-aarch64.conf:
//   :qemu-aarch64:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/libexec/qemu-binfmt/aarch64-binfmt-P:OPF
// The amd64 package ships no x86_64/i386 file (debian/binfmt-install skips the
// build machine's family); those two rows are the arm64 package's
// (1:7.2+dfsg-7+deb12u18+b3), e.g.
//   :qemu-x86_64:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00:\xff\xff\xff\xff\xff\xfe\xfe\xfc\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/libexec/qemu-binfmt/x86_64-binfmt-P:OPF
// bullseye's 1:5.2+dfsg-11+deb11u3 `/usr/share/binfmts/qemu-<arch>`
// templates have the same magics and masks.
#[rustfmt::skip]
const DEBIAN_BOOKWORM: &[Magic] = &[
    Magic { qemu: "x86_64", magic: r"\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00", mask: r"\xff\xff\xff\xff\xff\xfe\xfe\xfc\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff" },
    Magic { qemu: "i386", magic: r"\x7f\x45\x4c\x46\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x03\x00", mask: r"\xff\xff\xff\xff\xff\xfe\xfe\xfc\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff" },
    Magic { qemu: "aarch64", magic: r"\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00", mask: r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff" },
    Magic { qemu: "arm", magic: r"\x7f\x45\x4c\x46\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x28\x00", mask: r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff" },
    Magic { qemu: "riscv64", magic: r"\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xf3\x00", mask: r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff" },
    Magic { qemu: "s390x", magic: r"\x7f\x45\x4c\x46\x02\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x16", mask: r"\xff\xff\xff\xff\xff\xff\xff\xfc\xff\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff" },
    Magic { qemu: "ppc64le", magic: r"\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x15\x00", mask: r"\xff\xff\xff\xff\xff\xff\xff\xfc\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\x00" },
    Magic { qemu: "mips64el", magic: r"\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x08\x00", mask: r"\xff\xff\xff\xff\xff\xff\xff\x00\xfe\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff" },
];

// Debian's `/usr/share/qemu/binfmt.d/qemu-<arch>.conf` of qemu-user
// 1:10.0.13+ds-0+deb13u1 (trixie), linked from `/usr/lib/binfmt.d` by
// qemu-user-binfmt (qemu-user-static is a transitional package depending on
// both; its description: "In the past, this package provided statically-built
// qemu user-mode emulation binaries. Now this functionality is provided by
// qemu-user package"). Same lines as bookworm's but every architecture ships (x86_64 too)
// and mips64el's mask clears byte 8:
//   :qemu-mips64el:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x08\x00:\xff\xff\xff\xff\xff\xff\xff\x00\x00\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/libexec/qemu-binfmt/mips64el-binfmt-P:OPF
#[rustfmt::skip]
const DEBIAN_TRIXIE: &[Magic] = &[
    Magic { qemu: "x86_64", magic: r"\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00", mask: r"\xff\xff\xff\xff\xff\xfe\xfe\xfc\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff" },
    Magic { qemu: "i386", magic: r"\x7f\x45\x4c\x46\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x03\x00", mask: r"\xff\xff\xff\xff\xff\xfe\xfe\xfc\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff" },
    Magic { qemu: "aarch64", magic: r"\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00", mask: r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff" },
    Magic { qemu: "arm", magic: r"\x7f\x45\x4c\x46\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x28\x00", mask: r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff" },
    Magic { qemu: "riscv64", magic: r"\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xf3\x00", mask: r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff" },
    Magic { qemu: "s390x", magic: r"\x7f\x45\x4c\x46\x02\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x16", mask: r"\xff\xff\xff\xff\xff\xff\xff\xfc\xff\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff" },
    Magic { qemu: "ppc64le", magic: r"\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x15\x00", mask: r"\xff\xff\xff\xff\xff\xff\xff\xfc\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\x00" },
    Magic { qemu: "mips64el", magic: r"\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x08\x00", mask: r"\xff\xff\xff\xff\xff\xff\xff\x00\x00\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff" },
];

// QEMU's `scripts/qemu-binfmt-conf.sh` of QEMU 10.0.13 (Debian trixie's
// qemu_10.0.13+ds.orig.tar.xz), its `<cpu>_magic`/`<cpu>_mask` variables, e.g.
//   aarch64_magic='\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
//   aarch64_mask='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
// written by `echo ":qemu-$cpu:M::$magic:$mask:$qemu:$flags"`.
#[rustfmt::skip]
const QEMU_SCRIPT: &[Magic] = &[
    Magic { qemu: "x86_64", magic: r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00", mask: r"\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff" },
    Magic { qemu: "i386", magic: r"\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x03\x00", mask: r"\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff" },
    Magic { qemu: "aarch64", magic: r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00", mask: r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff" },
    Magic { qemu: "arm", magic: r"\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x28\x00", mask: r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff" },
    Magic { qemu: "riscv64", magic: r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xf3\x00", mask: r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff" },
    Magic { qemu: "s390x", magic: r"\x7fELF\x02\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x16", mask: r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff" },
    Magic { qemu: "ppc64le", magic: r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x15\x00", mask: r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\x00" },
    Magic { qemu: "mips64el", magic: r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x08\x00", mask: r"\xff\xff\xff\xff\xff\xff\xff\x00\x00\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff" },
];

// multiarch/qemu-user-static `containers/latest/Dockerfile` adds QEMU's
// script at a pinned commit:
//   ADD https://raw.githubusercontent.com/qemu/qemu/e75941331e4cdc05878119e08635ace437aae721/scripts/qemu-binfmt-conf.sh /qemu-binfmt-conf.sh
// Its magics are those above except mips64el's mask, which keeps byte 8:
//   mips64el_mask='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
#[rustfmt::skip]
const QEMU_SCRIPT_MULTIARCH: &[Magic] = &[
    Magic { qemu: "x86_64", magic: r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00", mask: r"\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff" },
    Magic { qemu: "i386", magic: r"\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x03\x00", mask: r"\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff" },
    Magic { qemu: "aarch64", magic: r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00", mask: r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff" },
    Magic { qemu: "arm", magic: r"\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x28\x00", mask: r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff" },
    Magic { qemu: "riscv64", magic: r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xf3\x00", mask: r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff" },
    Magic { qemu: "s390x", magic: r"\x7fELF\x02\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x16", mask: r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff" },
    Magic { qemu: "ppc64le", magic: r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x15\x00", mask: r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\x00" },
    Magic { qemu: "mips64el", magic: r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x08\x00", mask: r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff" },
];

// tonistiigi/binfmt `cmd/binfmt/config.go` (`configs`, keyed by Go
// architecture; `arm` serves every 32-bit ARM), written by main.go's
//   line := fmt.Sprintf(":%s:M:0:%s:%s:%s:%s", binaryBasename, cfg.magic, cfg.mask, binaryFullpath, flags)
// e.g. "arm64": binary "qemu-aarch64", magic and mask as QEMU's script.
#[rustfmt::skip]
const TONISTIIGI: &[Magic] = &[
    Magic { qemu: "x86_64", magic: r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00", mask: r"\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff" },
    Magic { qemu: "i386", magic: r"\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x03\x00", mask: r"\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff" },
    Magic { qemu: "aarch64", magic: r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00", mask: r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff" },
    Magic { qemu: "arm", magic: r"\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x28\x00", mask: r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff" },
    Magic { qemu: "riscv64", magic: r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xf3\x00", mask: r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff" },
    Magic { qemu: "s390x", magic: r"\x7fELF\x02\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x16", mask: r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff" },
    Magic { qemu: "ppc64le", magic: r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x15\x00", mask: r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\x00" },
    Magic { qemu: "mips64el", magic: r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x08\x00", mask: r"\xff\xff\xff\xff\xff\xff\xff\x00\x00\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff" },
];

/// Every tool crosslab can register as, in the order `binfmt.tool`'s errors list them.
pub const TOOLS: &[Tool] = &[
    Tool {
        name: "debian-bookworm",
        about: "Debian 12's qemu-user-static (/usr/lib/binfmt.d/qemu-<arch>.conf, loaded by systemd-binfmt)",
        static_emulator: true,
        from_container: false,
        kind: Kind::Qemu {
            prefix: "/usr/libexec/qemu-binfmt/",
            suffix: "-binfmt-P",
            flags: "OPF",
            offset: "",
            magics: DEBIAN_BOOKWORM,
        },
    },
    Tool {
        name: "debian-trixie",
        about: "Debian 13's qemu-user-binfmt (/usr/lib/binfmt.d/qemu-<arch>.conf → /usr/share/qemu/binfmt.d)",
        static_emulator: true,
        from_container: false,
        kind: Kind::Qemu {
            prefix: "/usr/libexec/qemu-binfmt/",
            suffix: "-binfmt-P",
            flags: "OPF",
            offset: "",
            magics: DEBIAN_TRIXIE,
        },
    },
    // qemu-user-binfmt 1:11.1.2+ds-3 (forky): `/usr/share/qemu/binfmt.d`
    // has trixie's magics and masks byte for byte, but registers the binary
    // itself, e.g.
    //   :qemu-aarch64:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64:OPF
    Tool {
        name: "debian-forky",
        about: "Debian 14's qemu-user-binfmt (/usr/lib/binfmt.d/qemu-<arch>.conf → /usr/share/qemu/binfmt.d, /usr/bin/qemu-<arch>)",
        static_emulator: true,
        from_container: false,
        kind: Kind::Qemu { prefix: "/usr/bin/qemu-", suffix: "", flags: "OPF", offset: "", magics: DEBIAN_TRIXIE },
    },
    // Debian and Ubuntu before qemu 1:5.2+dfsg-4 (Debian buster, Ubuntu 20.04
    // and older) registered the static binary itself; the changelog of that
    // version: "The actual binary being registered now is
    // /usr/libexec/qemu-binfmt/foo-binfmt-P, which is a symlink to actual
    // /usr/lib/qemu-foo[-static]". Flags: `credentials yes` ("used in debian
    // since late 2009", changelog of 1:10.0.2+ds-2+deb13u1), no P (which came
    // with the -binfmt-P names), no F (qemu-debootstrap was deprecated only
    // "with binfmt F flag", 1:5.2+dfsg-6). Offset as update-binfmts writes it.
    // Magics: bullseye's templates, the oldest package readable here (equal to
    // bookworm's). The buster package itself is not on Debian's live mirror.
    Tool {
        name: "ubuntu-static-legacy",
        about: "Debian ≤ 10 / Ubuntu ≤ 20.04 qemu-user-static: /usr/bin/qemu-<arch>-static registered by update-binfmts, flags OC, no F",
        static_emulator: true,
        from_container: false,
        kind: Kind::Qemu {
            prefix: "/usr/bin/qemu-",
            suffix: "-static",
            flags: "OC",
            offset: "0",
            magics: DEBIAN_BOOKWORM,
        },
    },
    // qemu-binfmt-conf.sh run with its defaults: `QEMU_PATH=/usr/local/bin`,
    // `QEMU_SUFFIX=""`, `CREDENTIAL=no`, `PERSISTENT=no`, `PRESERVE_ARG0=no`.
    // A qemu built from source into /usr/local links dynamically unless
    // configured with --static.
    Tool {
        name: "qemu-binfmt-conf",
        about: "QEMU's scripts/qemu-binfmt-conf.sh with its defaults (/usr/local/bin/qemu-<arch>, no flags)",
        static_emulator: false,
        from_container: false,
        kind: Kind::Qemu { prefix: "/usr/local/bin/qemu-", suffix: "", flags: "", offset: "", magics: QEMU_SCRIPT },
    },
    // `docker run --rm --privileged tonistiigi/binfmt --install all`: the
    // image's QEMU_PRESERVE_ARGV0 is empty by default, so main.go's
    // `flags := "CF"` stays; binaries in /usr/bin of the image, opened at
    // registration (F), absent from the host.
    Tool {
        name: "tonistiigi-binfmt",
        about: "docker run --privileged tonistiigi/binfmt --install all (/usr/bin/qemu-<arch> inside the image, flags CF)",
        static_emulator: true,
        from_container: true,
        kind: Kind::Qemu { prefix: "/usr/bin/qemu-", suffix: "", flags: "CF", offset: "0", magics: TONISTIIGI },
    },
    // `docker run --rm --privileged multiarch/qemu-user-static --reset -p yes`
    // (its README): containers/latest/register.sh runs
    //   exec /qemu-binfmt-conf.sh --qemu-suffix "-static" --qemu-path "${QEMU_BIN_DIR}" $@
    // with QEMU_BIN_DIR=/usr/bin; `-p yes` is --persistent, flags "F".
    Tool {
        name: "multiarch-qemu-user-static",
        about: "docker run --privileged multiarch/qemu-user-static --reset -p yes (/usr/bin/qemu-<arch>-static inside the image, flag F)",
        static_emulator: true,
        from_container: true,
        kind: Kind::Qemu {
            prefix: "/usr/bin/qemu-",
            suffix: "-static",
            flags: "F",
            offset: "",
            magics: QEMU_SCRIPT_MULTIARCH,
        },
    },
    // nixos/modules/system/boot/binfmt.nix (25.05): makeBinfmtLine writes
    //   ":${name}:${type}:${offset'}:${magicOrExtension}:${mask'}:${interpreter}:${flags}"
    // with interpreter "/run/binfmt/${name}", flags "P" (preserveArgvZero =
    // isQemu) plus "F" when the static emulator is used (fixBinary =
    // useStaticEmulator, boot.binfmt.preferStaticEmulators).
    Tool {
        name: "nixos-dynamic",
        about: "NixOS boot.binfmt.emulatedSystems (/run/binfmt/<system>, flags P)",
        static_emulator: false,
        from_container: false,
        kind: Kind::Nixos { flags: "P" },
    },
    Tool {
        name: "nixos-static",
        about: "NixOS boot.binfmt.emulatedSystems with preferStaticEmulators (/run/binfmt/<system>, flags PF)",
        static_emulator: true,
        from_container: false,
        kind: Kind::Nixos { flags: "PF" },
    },
];

impl Tool {
    /// Looks a tool up by its spec value.
    pub fn find(name: &str) -> Option<&'static Tool> {
        TOOLS.iter().find(|t| t.name == name)
    }

    /// Whether the tool is NixOS's module (its entries are `interpreter = "nixos"`'s).
    pub fn is_nixos(&self) -> bool {
        matches!(self.kind, Kind::Nixos { .. })
    }

    /// The flags field as the tool writes it.
    pub fn flags(&self) -> &'static str {
        match &self.kind {
            Kind::Qemu { flags, .. } | Kind::Nixos { flags } => flags,
        }
    }

    /// The entry this tool writes for `system`, if it serves it.
    pub fn entry_for(&self, system: &NixSystem) -> Option<ToolEntry> {
        match &self.kind {
            Kind::Qemu { prefix, suffix, flags, offset, magics } => {
                let m = magics.iter().find(|m| m.qemu == system.qemu)?;
                Some(ToolEntry {
                    name: format!("qemu-{}", system.qemu),
                    offset,
                    magic: m.magic,
                    mask: m.mask,
                    interpreter: format!("{prefix}{}{suffix}", system.qemu),
                    flags,
                })
            }
            Kind::Nixos { flags } => system.nixos_emulated.then(|| ToolEntry {
                name: system.double.to_owned(),
                offset: "",
                magic: system.magic,
                mask: system.mask,
                interpreter: format!("/run/binfmt/{}", system.double),
                flags,
            }),
        }
    }
}

/// All tool names, comma-separated and quoted, for error messages.
pub fn known_list() -> String {
    TOOLS.iter().map(|t| format!("\"{}\"", t.name)).collect::<Vec<_>>().join(", ")
}

/// The tool name nearest to `wanted`, for "did you mean" hints.
pub fn closest(wanted: &str) -> Option<&'static str> {
    TOOLS
        .iter()
        .map(|t| (strsim::levenshtein(wanted, t.name), t.name))
        .min()
        .filter(|(d, name)| *d <= 3.max(name.len() / 3))
        .map(|(_, name)| name)
}

/// A binfmt_misc entry as the kernel shows it in `/proc/sys/fs/binfmt_misc/<name>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelEntry {
    pub interpreter: String,
    /// The `flags:` line (the kernel prints them in `POCF` order).
    pub flags: String,
    pub offset: usize,
    /// The `magic` line: lower-case hex.
    pub magic_hex: String,
    /// The `mask` line, empty when the entry has none (all bits count).
    pub mask_hex: String,
}

/// What an entry was found to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identified {
    pub system: &'static NixSystem,
    /// The tool whose entry for `system` this is, every field equal; `None`
    /// when no tool writes exactly this entry.
    pub tool: Option<&'static Tool>,
}

fn hex_bytes(hex: &str) -> Option<Vec<u8>> {
    let hex = hex.trim();
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect()
}

/// The flags as a set in the kernel's `POCF` order; `C` implies `O`, as the kernel sets it.
pub fn kernel_flags(flags: &str) -> String {
    "POCF".chars().filter(|c| flags.contains(*c) || (*c == 'O' && flags.contains('C'))).collect()
}

/// Whether `header`, the first bytes of an executable, matches `magic` at
/// `offset` under `mask` (all bits when the mask is empty), as the kernel's
/// `check_file` decides.
fn selects(magic: &[u8], mask: &[u8], offset: usize, header: &[u8]) -> bool {
    let Some(window) = header.get(offset..offset + magic.len()) else { return false };
    magic.iter().enumerate().all(|(i, m)| {
        let k = mask.get(i).copied().unwrap_or(0xff);
        (window[i] & k) == (m & k)
    })
}

/// Finds the system an entry serves, by its magic under its own mask, and
/// the tool that writes exactly this entry, if one does.
///
/// First the tools' entries: one with the same magic, mask and offset bytes
/// names its system (so Debian's `qemu-i386`, e_machine 3, is i686-linux,
/// although nixpkgs' i686 magic carries 6). Otherwise the systems whose own
/// magic, taken as an executable's header, the entry selects, when they are
/// one emulator's (the 32-bit ARMs share qemu-arm: the first is said).
pub fn identify(entry: &KernelEntry) -> Option<Identified> {
    let magic = hex_bytes(&entry.magic_hex)?;
    if magic.is_empty() {
        return None;
    }
    let mask = if entry.mask_hex.trim().is_empty() { Vec::new() } else { hex_bytes(&entry.mask_hex)? };
    let same_bytes = |e: &ToolEntry| {
        decode_binfmt_escapes(e.magic) == magic
            && e.offset.parse::<usize>().unwrap_or(0) == entry.offset
            && (decode_binfmt_escapes(e.mask) == mask || (mask.is_empty() && e.mask.is_empty()))
    };
    let mut by_bytes = None;
    for s in SYSTEMS {
        for tool in TOOLS {
            let Some(e) = tool.entry_for(s) else { continue };
            if !same_bytes(&e) {
                continue;
            }
            if e.interpreter == entry.interpreter && kernel_flags(e.flags) == kernel_flags(&entry.flags) {
                return Some(Identified { system: s, tool: Some(tool) });
            }
            by_bytes.get_or_insert(Identified { system: s, tool: None });
        }
    }
    by_bytes.or_else(|| {
        // A mask loose enough to select several emulators' binaries serves no one system.
        let selected: Vec<&'static NixSystem> =
            SYSTEMS.iter().filter(|s| selects(&magic, &mask, entry.offset, &s.magic_bytes())).collect();
        let first = *selected.first()?;
        selected.iter().all(|s| s.qemu == first.qemu).then_some(Identified { system: first, tool: None })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel_view(e: &ToolEntry) -> KernelEntry {
        let hex = |s: &str| decode_binfmt_escapes(s).iter().map(|b| format!("{b:02x}")).collect::<String>();
        KernelEntry {
            interpreter: e.interpreter.clone(),
            flags: kernel_flags(e.flags),
            offset: e.offset.parse().unwrap_or(0),
            magic_hex: hex(e.magic),
            mask_hex: hex(e.mask),
        }
    }

    #[test]
    fn every_tool_entry_is_identified_as_its_own_system_and_tool() {
        for tool in TOOLS {
            for s in SYSTEMS {
                let Some(e) = tool.entry_for(s) else { continue };
                let found =
                    identify(&kernel_view(&e)).unwrap_or_else(|| panic!("{} {}: not found", tool.name, s.double));
                // Systems sharing a qemu (the 32-bit ARMs) are told apart by no magic.
                assert_eq!(found.system.qemu, s.qemu, "{} {}", tool.name, s.double);
                let t = found.tool.expect("a tool's own entry names a tool");
                assert_eq!(t.entry_for(s).map(|x| x.line()), Some(e.line()), "{} {}", tool.name, s.double);
            }
        }
    }

    #[test]
    fn debian_aarch64_is_found_under_its_own_mask_although_nixos_masks_byte_14() {
        let aarch64 = NixSystem::find("aarch64-linux").unwrap();
        let debian = Tool::find("debian-bookworm").unwrap().entry_for(aarch64).unwrap();
        assert_ne!(decode_binfmt_escapes(debian.mask), aarch64.mask_bytes());
        let mut entry = kernel_view(&debian);
        // Another interpreter: no tool writes this, but the system is still known.
        entry.interpreter = "/opt/qemu/bin/qemu-aarch64".into();
        assert_eq!(identify(&entry), Some(Identified { system: aarch64, tool: None }));
        // A hand-made mask no tool uses still selects aarch64 headers.
        entry.mask_hex = "ffffffffffffff0000ffffffffffffffffffffff".into();
        entry.magic_hex = "7f454c460201010000000000000000000200b700".into();
        assert_eq!(identify(&entry).map(|i| i.system.double), Some("aarch64-linux"));
    }

    #[test]
    fn an_entry_for_no_known_system_is_not_identified() {
        // python3.11.conf's magic: no ELF header.
        let entry = KernelEntry { magic_hex: "a70d0d0a".into(), ..KernelEntry::default() };
        assert_eq!(identify(&entry), None);
        // s390x's magic under a mask that keeps e_machine: not aarch64.
        let entry = KernelEntry {
            magic_hex: "7f454c460202010000000000000000000002ffff".into(),
            mask_hex: "ffffffffffffff00fffffffffffffffffffeffff".into(),
            ..KernelEntry::default()
        };
        assert_eq!(identify(&entry), None);
        // A mask that ignores e_machine selects every 64-bit little-endian system: none is its own.
        let entry = KernelEntry {
            magic_hex: "7f454c460201010000000000000000000200b700".into(),
            mask_hex: "ffffffffffffff00ffffffffffffffff00000000".into(),
            ..KernelEntry::default()
        };
        assert_eq!(identify(&entry), None);
    }

    #[test]
    fn an_entry_is_matched_under_its_own_mask_whatever_tool_chose_it() {
        let system_of = |magic: &str, mask: &str| {
            let hex = |escaped: &str| -> String {
                crate::systems::decode_binfmt_escapes(escaped).iter().map(|b| format!("{b:02x}")).collect()
            };
            let entry = KernelEntry { magic_hex: hex(magic), mask_hex: hex(mask), ..Default::default() };
            identify(&entry).map(|found| found.system.double)
        };
        let aarch64 = r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00";
        // Debian 12's /usr/lib/binfmt.d/qemu-aarch64.conf: byte 14 of its mask is \xff, NixOS's \x00.
        let debian = r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff";
        let nixos = r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\x00\xff\xfe\xff\xff\xff";
        assert_eq!(system_of(aarch64, debian), Some("aarch64-linux"));
        assert_eq!(system_of(aarch64, nixos), Some("aarch64-linux"));
        let riscv = r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xf3\x00";
        assert_eq!(system_of(riscv, debian), Some("riscv64-linux"), "another machine byte under the same mask");
        assert_eq!(system_of(r"\x7fELF", r"\xff\xff\xff\xff"), None, "a magic that does not say the machine");
    }
}
