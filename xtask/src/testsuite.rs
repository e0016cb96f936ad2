//! `cargo xtask test`: installs the Debian packages the test suite needs (and
//! the few PyPI tools Debian lacks, into a venv of crosslab's own), then runs
//! `cargo test`. The tests use real parts (Nix, qemu-user, binfmt_misc,
//! kernel namespaces), so a fresh machine needs them first.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
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
    ("python3-venv", "the venv the PyPI tools below are installed into"),
    ("gcc-aarch64-linux-gnu", "a dynamically linked aarch64 program whose loader qemu cannot open (diagnose tests)"),
];

/// A tool the tests run that Debian does not package (in a suite crosslab
/// supports): installed from PyPI with pip, pinned, into a venv under
/// crosslab's cache, so the system's python is left as it is.
pub struct PypiTool {
    /// The PyPI project, also the program's name in the venv's `bin/`.
    pub name: &'static str,
    pub version: &'static str,
    pub why: &'static str,
}

/// PyPI tools the tests use.
pub const TEST_PYPI_TOOLS: &[PypiTool] = &[PypiTool {
    name: "check-jsonschema",
    version: "0.39.0",
    why: "validating .github/workflows/*.yml against GitHub's workflow schema (vendored in it: works offline)",
}];

impl PypiTool {
    /// The tool's venv: `<cache>/pypi/<name>-<version>`.
    pub fn venv(&self) -> anyhow::Result<PathBuf> {
        Ok(crate::provision::payload::cache_dir()?.join("pypi").join(format!("{}-{}", self.name, self.version)))
    }

    /// The installed program, or an error saying how to install it.
    pub fn program(&self) -> anyhow::Result<PathBuf> {
        let venv = self.venv()?;
        if !venv.join(INSTALLED).exists() {
            bail!(
                "{} {} is not installed in `{}`\n  help: `cargo xtask test` installs it (from PyPI, into that venv)",
                self.name,
                self.version,
                venv.display()
            );
        }
        Ok(venv.join("bin").join(self.name))
    }

    /// Installs the tool into its venv unless a complete install is there.
    fn install(&self, sh: &Shell) -> anyhow::Result<()> {
        let venv = self.venv()?;
        if venv.join(INSTALLED).exists() {
            return Ok(());
        }
        eprintln!("crosslab: installing {} {} from PyPI into {}", self.name, self.version, venv.display());
        // What an interrupted install left is not trusted: start again.
        if venv.exists() {
            std::fs::remove_dir_all(&venv).with_context(|| format!("failed to remove `{}`", venv.display()))?;
        }
        // Debian's python, whatever else is first on PATH: python3-venv is its.
        cmd!(sh, "/usr/bin/python3 -m venv {venv}").run().with_context(|| {
            format!(
                "could not make a venv for {} at `{}`\n  help: apt-get install python3-venv",
                self.name,
                venv.display()
            )
        })?;
        let (pip, requirement) = (venv.join("bin/pip"), format!("{}=={}", self.name, self.version));
        cmd!(sh, "{pip} install --quiet --disable-pip-version-check {requirement}")
            .run()
            .with_context(|| format!("`pip install {requirement}` into `{}` failed", venv.display()))?;
        std::fs::write(venv.join(INSTALLED), format!("{requirement}\n"))
            .with_context(|| format!("failed to write `{}`", venv.join(INSTALLED).display()))
    }
}

/// The file that marks a venv whose install finished.
const INSTALLED: &str = "crosslab-installed";

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
        for tool in TEST_PYPI_TOOLS {
            tool.install(&sh)?;
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
