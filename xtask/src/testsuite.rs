//! `cargo xtask test`: installs the Debian packages the test suite needs, then
//! runs `cargo test`. The tests use real parts (Nix, qemu-user, binfmt_misc,
//! kernel namespaces), so a fresh machine needs them first.

use std::path::Path;
use std::process::ExitCode;

use anyhow::bail;
use xshell::{cmd, Shell};

use crate::flags;

/// Debian packages the tests use, and why.
pub const TEST_PACKAGES: &[(&str, &str)] = &[
    ("nix-bin", "Nix 2.8: sandboxed builds, nix-instantiate --parse for rendered files"),
    ("qemu-user-static", "the emulators labs register, and /usr/lib/binfmt.d to check magics against"),
    ("util-linux", "unshare, nsenter, setarch, setpriv"),
    ("uidmap", "newuidmap/newgidmap: labs run by a user who is not root"),
    ("debian-archive-keyring", "verifying the busybox-static payload downloads"),
    ("python3", "compiling rendered nixosTest scripts"),
    ("python3-pyflakes", "linting rendered nixosTest scripts as nixosTest does"),
    ("mypy", "type-checking rendered nixosTest scripts as nixosTest does"),
    ("mmdebstrap", "building the vm backend's Debian guest image"),
    ("e2fsprogs", "mkfs.ext4 for the guest image"),
];

impl flags::Test {
    pub fn run(self, root: &Path) -> anyhow::Result<ExitCode> {
        let sh = Shell::new()?;
        sh.change_dir(root);
        let missing: Vec<&str> = TEST_PACKAGES.iter().map(|(p, _)| *p).filter(|p| !is_installed(&sh, p)).collect();
        if !missing.is_empty() {
            if unsafe { libc::geteuid() } != 0 {
                bail!(
                    "the tests need Debian packages that are missing: {}\n  help: run as root, or: apt-get install -y {}",
                    missing.join(" "),
                    missing.join(" ")
                );
            }
            eprintln!("crosslab: installing {}", missing.join(" "));
            crate::provision::prereq::apt_install(&sh, &missing)?;
        }
        let args = self.cargo_test_args;
        let ok = cmd!(sh, "cargo test --workspace --no-fail-fast -- {args...}").run().is_ok();
        Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
    }
}

fn is_installed(sh: &Shell, package: &str) -> bool {
    let format = "-f=${Status}";
    cmd!(sh, "dpkg-query -W {format} {package}")
        .quiet()
        .ignore_stderr()
        .read()
        .is_ok_and(|s| s.contains("install ok installed"))
}
