//! Where `qemu-system-x86_64` (and, for aarch64 hosts, `qemu-system-aarch64`)
//! comes from, for the vm backend's guest and `lab doctor`'s KVM test: the
//! host's own when it has one, else Debian's, unpacked once into a cached
//! root ([`QemuSystem::recipe`]) and run from there.
//!
//! Installing Debian's `qemu-system-x86` on the host is not an option that
//! crosslab takes by itself: beside a newer `qemu-utils` (bookworm-backports,
//! as on this project's own machines) apt would remove that package to make
//! room. The cached root changes nothing of the host's.
//!
//! The root is unpacked (`--variant=extract`), not installed, so its qemu
//! runs through the root's own dynamic loader with the root's libraries,
//! modules (`QEMU_MODULE_DIR`: TCG itself is a module in Debian's build) and
//! firmware directories (`-L`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::bail;
use xshell::Shell;

use crate::provision::rootfs::{self, Recipe, Variant};

/// One qemu-system program and the Debian package that has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QemuSystem {
    /// The program's name, on the host's PATH.
    pub program: &'static str,
    /// Debian's package with it (`qemu-system-arm` has `qemu-system-aarch64`
    /// in every suite).
    pub package: &'static str,
    /// The cached root's name (the x86 one keeps its first name, so its cache stays valid).
    root_name: &'static str,
}

/// x86_64 guests.
pub const X86_64: QemuSystem =
    QemuSystem { program: "qemu-system-x86_64", package: "qemu-system-x86", root_name: "vm-qemu" };
/// aarch64 guests.
pub const AARCH64: QemuSystem =
    QemuSystem { program: "qemu-system-aarch64", package: "qemu-system-arm", root_name: "vm-qemu-arm" };

/// The x86_64 program's name (`lab doctor`'s KVM test boots an x86_64 guest).
pub const PROGRAM: &str = X86_64.program;

/// The root Debian's qemu-system-x86 is unpacked into.
pub fn recipe() -> Recipe {
    X86_64.recipe()
}

/// [`QemuSystem::ensure`] for x86_64.
pub fn ensure(sh: &Shell) -> anyhow::Result<()> {
    X86_64.ensure(sh)
}

/// [`QemuSystem::command`] for x86_64.
pub fn command() -> anyhow::Result<Command> {
    X86_64.command()
}

/// [`QemuSystem::describe`] for x86_64.
pub fn describe() -> String {
    X86_64.describe()
}

/// qemu-system-x86_64 on the host's PATH, if any.
pub fn host_program() -> Option<PathBuf> {
    X86_64.host_program()
}

impl QemuSystem {
    /// The root Debian's package is unpacked into.
    pub fn recipe(&self) -> Recipe {
        Recipe {
            name: self.root_name.into(),
            suite: "bookworm".into(),
            arch: "amd64".into(),
            variant: Variant::Extract,
            packages: vec![self.package.into()],
            dpkg_filters: Vec::new(),
            links: Vec::new(),
        }
    }

    /// Makes sure the program can run: the host's, or the cached root's,
    /// building the root once (saying so) when there is neither.
    pub fn ensure(&self, sh: &Shell) -> anyhow::Result<()> {
        if self.host_program().is_none() {
            rootfs::ensure(sh, &self.recipe())?;
        }
        Ok(())
    }

    /// A `Command` running the program (the host's, else the cached
    /// root's), without building anything.
    pub fn command(&self) -> anyhow::Result<Command> {
        if let Some(path) = self.host_program() {
            return Ok(Command::new(path));
        }
        let dir = rootfs::dir_of(&self.recipe())?;
        let tree = dir.join("root");
        if !dir.join("root.json").is_file() {
            bail!(
                "no {}: the host has none and crosslab's copy of Debian's is not unpacked yet (in {})\n  help: `cargo xtask lab run --backend vm` unpacks it once (as root), or install {} yourself",
                self.program,
                dir.display(),
                self.package
            );
        }
        Ok(from_root(&tree, self.program))
    }

    /// Which program [`QemuSystem::command`] runs, for messages.
    pub fn describe(&self) -> String {
        match self.host_program() {
            Some(p) => p.display().to_string(),
            None => rootfs::dir_of(&self.recipe())
                .map(|d| format!("Debian's {} in {}", self.program, d.join("root").display()))
                .unwrap_or_else(|_| self.program.to_owned()),
        }
    }

    /// The program on the host's PATH, if any.
    pub fn host_program(&self) -> Option<PathBuf> {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path).map(|d| d.join(self.program)).find(|p| p.is_file())
    }
}

/// The root's qemu through the root's loader, libraries, modules and firmware.
fn from_root(tree: &Path, program: &str) -> Command {
    let libs = ["lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu/pulseaudio"]
        .map(|d| tree.join(d).display().to_string())
        .join(":");
    let mut c = Command::new(tree.join("lib64/ld-linux-x86-64.so.2"));
    c.arg("--library-path").arg(libs).arg(tree.join("usr/bin").join(program));
    for firmware in ["usr/share/qemu", "usr/share/seabios", "usr/lib/ipxe/qemu"] {
        c.arg("-L").arg(tree.join(firmware));
    }
    c.env("QEMU_MODULE_DIR", tree.join("usr/lib/x86_64-linux-gnu/qemu"));
    c
}
