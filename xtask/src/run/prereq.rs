//! Prerequisites of the host backend: the programs a lab needs, and installing
//! the missing ones from Debian/Ubuntu packages when crosslab runs as root.

use std::path::Path;

use anyhow::bail;
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
    cmd!(sh, "apt-get -qq update").quiet().run()?;
    let to_install = packages.clone();
    cmd!(sh, "apt-get install -qq -y --no-install-recommends {to_install...}")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .quiet()
        .run()?;
    let still: Vec<&str> = names.iter().copied().filter(|p| !is_present(p)).collect();
    if !still.is_empty() {
        bail!("still missing after installing {}: {}", packages.join(" "), still.join(", "));
    }
    Ok(())
}

fn is_present(program: &str) -> bool {
    if program.starts_with('/') {
        return Path::new(program).exists();
    }
    // A Nix from the official installer, off PATH under sudo, is found
    // (and used) by the host backend all the same.
    if program.starts_with("nix") && Path::new(crate::run::host::INSTALLER_PROFILE_BIN).join(program).is_file() {
        return true;
    }
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

/// The Debian package that ships `program`, for the programs crosslab uses.
fn package_of(program: &str) -> Option<&'static str> {
    let name = program.rsplit('/').next().unwrap_or(program);
    Some(match name {
        "nix" | "nix-build" | "nix-store" => "nix-bin",
        "unshare" | "nsenter" | "setarch" => "util-linux",
        "dpkg-deb" => "dpkg",
        "apt-get" => "apt",
        "qemu-system-x86_64" => "qemu-system-x86",
        "mmdebstrap" => "mmdebstrap",
        "mkfs.ext4" => "e2fsprogs",
        "debian-archive-keyring.gpg" => "debian-archive-keyring",
        n if n.starts_with("qemu-") && n.ends_with("-static") => "qemu-user-static",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::package_of;
    use crate::systems::SYSTEMS;

    #[test]
    fn every_program_crosslab_asks_for_has_a_package() {
        let mut programs: Vec<String> = crate::run::HOST_TOOLS.iter().map(|p| (*p).to_owned()).collect();
        programs.extend(crate::run::vm::host_programs());
        programs.extend(crate::run::vm::image::build_programs());
        programs.extend(SYSTEMS.iter().map(|s| s.fhs_interpreter()));
        for p in &programs {
            assert!(package_of(p).is_some(), "no package for {p}");
        }
        assert_eq!(package_of("/usr/bin/qemu-riscv64-static"), Some("qemu-user-static"));
        assert_eq!(package_of("crosslab-no-such-tool"), None, "unknown programs are not guessed to be in coreutils");
    }
}
