//! The qemu programs installed on the machine, and the versions programs and
//! Debian roots report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::elf::{executable, Executable};

/// Where qemu programs are installed, besides `$PATH`: Debian's binfmt
/// interpreters, NixOS's, and Nix profiles.
pub const QEMU_DIRS: &[&str] = &[
    "/usr/bin",
    "/usr/libexec/qemu-binfmt",
    "/run/binfmt",
    "/run/current-system/sw/bin",
    "/nix/var/nix/profiles/default/bin",
];

/// What a qemu program found on this machine is, by its name and file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum QemuKind {
    UserStatic,
    UserDynamic,
    System,
    Tool,
    /// A binfmt_misc interpreter link (`/usr/libexec/qemu-binfmt`, `/run/binfmt`).
    BinfmtLink,
}

impl QemuKind {
    pub fn describe(self) -> &'static str {
        match self {
            QemuKind::UserStatic => "qemu-user, static",
            QemuKind::UserDynamic => "qemu-user, dynamically linked (a sandbox lacks its libraries)",
            QemuKind::System => "qemu-system",
            QemuKind::Tool => "qemu tools",
            QemuKind::BinfmtLink => "binfmt_misc interpreters",
        }
    }
}

/// The directories `lab doctor` looks for qemu in: [`QEMU_DIRS`], every
/// `$PATH` entry and the user's Nix profile, each once (by its real path).
pub fn qemu_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = QEMU_DIRS.iter().map(PathBuf::from).collect();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(Path::new(&home).join(".nix-profile/bin"));
    }
    if let Ok(user) = std::env::var("USER") {
        dirs.push(PathBuf::from(format!("/etc/profiles/per-user/{user}/bin")));
    }
    dirs.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
    let mut seen = Vec::new();
    dirs.retain(|d| match d.canonicalize() {
        Ok(real) if !seen.contains(&real) => {
            seen.push(real);
            true
        }
        _ => false,
    });
    dirs
}

/// Every qemu program in `dir`, by kind, sorted by name.
pub fn qemu_programs_in(dir: &Path) -> BTreeMap<QemuKind, Vec<String>> {
    let binfmt_dir = dir.ends_with("qemu-binfmt") || dir == Path::new("/run/binfmt");
    let mut found: BTreeMap<QemuKind, Vec<String>> = BTreeMap::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let kind = if binfmt_dir {
            QemuKind::BinfmtLink
        } else if !name.starts_with("qemu-") {
            continue;
        } else if name.starts_with("qemu-system-") {
            QemuKind::System
        } else if ["img", "io", "nbd", "storage-daemon", "pr-helper", "edid", "keymap", "bridge-helper", "ga"]
            .contains(&name.trim_start_matches("qemu-"))
        {
            QemuKind::Tool
        } else {
            match executable(&entry.path()) {
                Executable::Elf(None) => QemuKind::UserStatic,
                Executable::Elf(Some(_)) => QemuKind::UserDynamic,
                // Scripts such as qemu-debootstrap.
                _ => QemuKind::Tool,
            }
        };
        found.entry(kind).or_default().push(name);
    }
    for names in found.values_mut() {
        names.sort();
    }
    found
}

/// The first line of `program --version`, the program's name left out.
pub fn qemu_version(program: &Path) -> Option<String> {
    let out = Command::new(program).arg("--version").stdin(Stdio::null()).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next()?.trim();
    Some(line.split_once(" version ").map_or(line, |(_, v)| v).to_owned())
}
