//! Where `qemu-system-x86_64` comes from, for the vm backend's guest and
//! `lab doctor`'s KVM test: the host's own when it has one, else Debian's,
//! unpacked once into a cached root ([`RECIPE`]) and run from there.
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

/// The program's name, on the host's PATH.
pub const PROGRAM: &str = "qemu-system-x86_64";

/// The root Debian's qemu-system-x86 is unpacked into.
pub fn recipe() -> Recipe {
    Recipe {
        name: "vm-qemu".into(),
        suite: "bookworm".into(),
        arch: "amd64".into(),
        variant: Variant::Extract,
        packages: vec!["qemu-system-x86".into()],
        dpkg_filters: Vec::new(),
        links: Vec::new(),
    }
}

/// Makes sure some qemu-system-x86_64 can run: the host's, or the cached
/// root's, building the root once (saying so) when there is neither.
pub fn ensure(sh: &Shell) -> anyhow::Result<()> {
    if host_program().is_none() {
        rootfs::ensure(sh, &recipe())?;
    }
    Ok(())
}

/// A `Command` running qemu-system-x86_64 (the host's, else the cached
/// root's), without building anything.
pub fn command() -> anyhow::Result<Command> {
    if let Some(path) = host_program() {
        return Ok(Command::new(path));
    }
    let dir = rootfs::dir_of(&recipe())?;
    let tree = dir.join("root");
    if !dir.join("root.json").is_file() {
        bail!(
            "no {PROGRAM}: the host has none and crosslab's copy of Debian's is not unpacked yet (in {})\n  help: `cargo xtask lab run --backend vm` unpacks it once (as root), or install qemu-system-x86 yourself",
            dir.display()
        );
    }
    Ok(from_root(&tree))
}

/// Which qemu-system-x86_64 [`command`] runs, for messages.
pub fn describe() -> String {
    match host_program() {
        Some(p) => p.display().to_string(),
        None => rootfs::dir_of(&recipe())
            .map(|d| format!("Debian's {PROGRAM} in {}", d.join("root").display()))
            .unwrap_or_else(|_| PROGRAM.to_owned()),
    }
}

/// qemu-system-x86_64 on the host's PATH, if any.
pub fn host_program() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(PROGRAM)).find(|p| p.is_file())
}

/// The root's qemu through the root's loader, libraries, modules and firmware.
fn from_root(tree: &Path) -> Command {
    let libs = ["lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu/pulseaudio"]
        .map(|d| tree.join(d).display().to_string())
        .join(":");
    let mut c = Command::new(tree.join("lib64/ld-linux-x86-64.so.2"));
    c.arg("--library-path").arg(libs).arg(tree.join("usr/bin").join(PROGRAM));
    for firmware in ["usr/share/qemu", "usr/share/seabios", "usr/lib/ipxe/qemu"] {
        c.arg("-L").arg(tree.join(firmware));
    }
    c.env("QEMU_MODULE_DIR", tree.join("usr/lib/x86_64-linux-gnu/qemu"));
    c
}
