//! `cargo xtask test`: installs the Debian packages the test suite needs (and
//! the few PyPI tools Debian lacks, into a venv of crosslab's own), then runs
//! `cargo test` — the whole suite, or with `--quick` the tests that need no
//! root, no network and no VM. The tests use real parts (Nix, qemu-user,
//! binfmt_misc, kernel namespaces), so a fresh machine needs them first.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use xshell::{cmd, Shell};

use crate::flags;
use crate::systems::SYSTEMS;

/// Debian packages the tests use, and why. Installed before any test runs,
/// so that no test depends on another having installed them first.
pub const TEST_PACKAGES: &[(&str, &str)] = &[
    ("nix-bin", "Nix 2.8: sandboxed builds, nix-instantiate --parse for rendered files"),
    ("qemu-user-static", "the emulators labs register, and /usr/lib/binfmt.d to check magics against"),
    ("qemu-user", "dynamically linked emulators (`emulator = \"dynamic\"`), and the doctor's README sample lists them"),
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
    ("arch-test", "mmdebstrap's check that the arm64 guest image's programs run (under qemu-user)"),
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

/// Of [`TEST_PACKAGES`], those every Debian installation has (essential,
/// required or standard priority): a fresh machine is not one without them.
const ON_EVERY_DEBIAN: &[&str] = &["util-linux", "debian-archive-keyring", "python3", "e2fsprogs"];

/// Every Debian package that `cargo xtask test` or crosslab itself may
/// install while the suite runs, plus what apt would bring beside them with
/// recommends (`nix-setup-systemd`, `qemu-user-binfmt`): a fresh machine has
/// none of them. The fresh-machine test purges exactly these.
pub fn installed_by_the_suite() -> Vec<String> {
    let mut packages: Vec<String> =
        TEST_PACKAGES.iter().map(|(p, _)| *p).filter(|p| !ON_EVERY_DEBIAN.contains(p)).map(str::to_owned).collect();
    // What `lab run` installs when missing (run/prereq.rs's package_of), the
    // qemu-system the vm backend could take from the host, and the
    // recommends of nix-bin and qemu-user.
    for p in ["nix-setup-systemd", "qemu-user-binfmt", "qemu-system-x86", "qemu-system-arm"] {
        packages.push(p.to_owned());
    }
    // The host's cross compilers the compile probes time against
    // (run/toolchain.rs's ensure_cross_compilers), for every system.
    for s in SYSTEMS.iter().filter(|s| s.double != "x86_64-linux") {
        packages.push(format!("gcc-{}", s.gcc_triple));
        packages.push(format!("libc6-dev-{}-cross", s.debian_arch));
    }
    packages.sort();
    packages.dedup();
    packages
}

/// Which tests of a test binary (xtask/tests/<name>.rs) need nothing but the
/// packages above: no root, no network, no VM. Those run in `--quick`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quick {
    /// Every test in it.
    All,
    /// These tests; the others need root, the network or a VM.
    Only(&'static [&'static str]),
    /// None: each needs root (namespaces, binfmt_misc), the network
    /// (Debian's archive) or a VM.
    None,
}

/// Every test binary and which of its tests are quick. A binary missing from
/// here fails `--quick` (and tests/tidy.rs), so none is left out unseen.
pub const TEST_BINARIES: &[(&str, Quick)] = &[
    ("cache", Quick::All),
    ("capture", Quick::None),
    (
        "ci",
        Quick::Only(&[
            "every_cargo_xtask_command_in_the_workflow_parses_with_crosslabs_cli",
            "a_command_the_cli_does_not_have_is_found_and_rejected",
        ]),
    ),
    ("compile", Quick::None),
    ("diagnose", Quick::None),
    ("doctor", Quick::Only(&["a_kvm_verdict_is_reused_within_a_boot_and_not_after_a_reboot"])),
    ("faults", Quick::None),
    ("fix", Quick::None),
    ("fresh_machine", Quick::None),
    ("fuzz", Quick::All),
    ("host_backend", Quick::None),
    ("host_isolation", Quick::None),
    (
        "hostile_text",
        Quick::Only(&[
            "nul_is_rejected_wherever_spec_text_goes",
            "bytes_that_are_not_utf8_are_rejected_with_their_offset",
            "sandbox_paths_nix_conf_cannot_hold_are_rejected",
            "a_command_too_long_for_one_shell_argument_is_rejected",
            "errors_quote_hostile_values_escaped_and_short",
            "hostile_text_means_itself_in_the_rendered_nix_and_python",
            "shell_words_arrive_byte_for_byte",
            "the_plans_commands_carry_hostile_text_to_the_shell",
            "the_nix_config_probe_names_a_missing_path_with_backslashes_as_written",
            "made_up_reports_with_any_text_stay_well_formed",
            "lab_show_and_list_print_spec_text_without_obeying_it",
        ]),
    ),
    ("matrix", Quick::None),
    (
        "mirror_fallback",
        Quick::Only(&[
            "apts_complaints_about_an_inconsistent_mirror_are_recognised",
            "other_apt_failures_are_not_taken_for_an_inconsistent_mirror",
            "a_cached_toolchain_of_the_primary_suite_then_of_a_fallback_is_used_without_the_mirror",
        ]),
    ),
    ("nix_daemon", Quick::None),
    ("nixos_backend", Quick::All),
    (
        "registrations",
        Quick::Only(&[
            "an_unknown_tool_is_told_with_the_nearest_one_and_every_choice",
            "what_the_tool_decides_cannot_be_contradicted",
            "a_tool_registers_its_own_bytes_and_flags_may_override_its_flags",
        ]),
    ),
    ("render", Quick::All),
    ("report", Quick::None),
    ("schema", Quick::All),
    ("shell", Quick::None),
    ("spec", Quick::All),
    ("systems", Quick::Only(&["magics_agree_with_debian_binfmt_d", "table_has_every_system_the_issue_names_once"])),
    ("tidy", Quick::All),
    ("vm_backend", Quick::None),
];

impl flags::Test {
    pub fn run(self, root: &Path) -> anyhow::Result<ExitCode> {
        let sh = Shell::new()?;
        sh.change_dir(root);
        ensure_packages(&sh)?;
        ensure_pypi_tools(&sh)?;
        let args = self.cargo_test_args;
        if !self.quick {
            let ok = cmd!(sh, "cargo test --workspace --no-fail-fast -- {args...}").run().is_ok();
            return Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) });
        }
        let runs = quick_runs(root)?;
        // Built first, with the network (cargo may fetch crates); then run
        // without it, so a test that needs the network fails here instead of
        // counting as quick.
        let mut build: Vec<String> = vec!["--lib".into(), "--bins".into()];
        for (name, _) in &runs {
            build.extend(["--test".to_owned(), (*name).to_owned()]);
        }
        cmd!(sh, "cargo test -p xtask --no-run {build...}").run().context("building the quick tests failed")?;
        let offline = unsafe { libc::geteuid() } == 0;
        if !offline {
            eprintln!("crosslab: not root, so the quick tests run with the network (as root they run without)");
        }
        let mut failed = Vec::new();
        let mut all: Vec<String> =
            ["test", "--offline", "-p", "xtask", "--no-fail-fast", "--lib", "--bins"].map(String::from).to_vec();
        for (name, quick) in &runs {
            if *quick == Quick::All {
                all.extend(["--test".to_owned(), (*name).to_owned()]);
            }
        }
        all.push("--".into());
        all.extend(args.iter().cloned());
        if !cargo(&sh, offline, &all) {
            failed.push("the quick test binaries".to_owned());
        }
        for (name, quick) in &runs {
            let Quick::Only(tests) = quick else { continue };
            let listed = cmd!(sh, "cargo test --offline -q -p xtask --test {name} -- --list --format terse")
                .quiet()
                .read()
                .with_context(|| format!("listing the tests of xtask/tests/{name}.rs failed"))?;
            let gone: Vec<&str> =
                tests.iter().copied().filter(|t| !listed.lines().any(|l| l == format!("{t}: test"))).collect();
            if !gone.is_empty() {
                bail!(
                    "testsuite.rs names quick tests that xtask/tests/{name}.rs does not have: {}\n  help: update TEST_BINARIES in xtask/src/testsuite.rs",
                    gone.join(", ")
                );
            }
            let mut run: Vec<String> =
                ["test", "--offline", "-p", "xtask", "--test", name, "--", "--exact"].map(String::from).to_vec();
            run.extend(tests.iter().map(|t| (*t).to_owned()));
            run.extend(args.iter().cloned());
            if !cargo(&sh, offline, &run) {
                failed.push(format!("xtask/tests/{name}.rs"));
            }
        }
        if !failed.is_empty() {
            eprintln!("crosslab: quick tests failed in: {}", failed.join(", "));
            return Ok(ExitCode::from(1));
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// The test binaries with quick tests, after checking that [`TEST_BINARIES`]
/// names every file in xtask/tests/ and nothing else.
fn quick_runs(root: &Path) -> anyhow::Result<Vec<(&'static str, Quick)>> {
    let dir = root.join("xtask/tests");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".rs").map(str::to_owned))
        .collect();
    files.sort();
    let mut named: Vec<String> = TEST_BINARIES.iter().map(|(n, _)| (*n).to_owned()).collect();
    named.sort();
    if files != named {
        let unlisted: Vec<&String> = files.iter().filter(|f| !named.contains(f)).collect();
        let stale: Vec<&String> = named.iter().filter(|n| !files.contains(n)).collect();
        bail!(
            "TEST_BINARIES in xtask/src/testsuite.rs does not match xtask/tests/: not listed {unlisted:?}, no such file {stale:?}\n  help: add each test binary with which of its tests need no root, network or VM"
        );
    }
    Ok(TEST_BINARIES.iter().copied().filter(|(_, q)| *q != Quick::None).collect())
}

/// Runs `cargo ARGS`; with `offline`, in a network namespace of its own
/// (`unshare --net`, root only) that has no way out. Whether it succeeded.
fn cargo(sh: &Shell, offline: bool, args: &[String]) -> bool {
    if offline {
        cmd!(sh, "unshare --net -- cargo {args...}").run().is_ok()
    } else {
        cmd!(sh, "cargo {args...}").run().is_ok()
    }
}

/// Installs whatever of [`TEST_PACKAGES`] is missing (as root), before any
/// test runs; a test binary run by itself calls it too (tests/common).
pub fn ensure_packages(sh: &Shell) -> anyhow::Result<()> {
    let missing: Vec<&str> = TEST_PACKAGES.iter().map(|(p, _)| *p).filter(|p| !is_installed(sh, p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    if unsafe { libc::geteuid() } != 0 {
        bail!(
            "the tests need Debian packages that are missing: {}\n  help: run as root, or: apt-get install -y {}",
            missing.join(" "),
            missing.join(" ")
        );
    }
    eprintln!("crosslab: installing {}", missing.join(" "));
    crate::provision::prereq::apt_install(sh, &missing)
}

/// Installs the PyPI tools the tests use ([`TEST_PYPI_TOOLS`]) into their
/// venvs, unless there already (with the network: `cargo xtask test` does it
/// before any test, and tests/ci.rs when run by itself).
pub fn ensure_pypi_tools(sh: &Shell) -> anyhow::Result<()> {
    TEST_PYPI_TOOLS.iter().try_for_each(|tool| tool.install(sh))
}

fn is_installed(sh: &Shell, package: &str) -> bool {
    let format = "-f=${Status}";
    cmd!(sh, "dpkg-query -W {format} {package}")
        .quiet()
        .ignore_stderr()
        .read()
        .is_ok_and(|s| s.contains("install ok installed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_machine_lacks_every_package_the_tests_install_but_debians_own() {
        let purged = installed_by_the_suite();
        for (p, _) in TEST_PACKAGES {
            assert_eq!(purged.iter().any(|q| q == p), !ON_EVERY_DEBIAN.contains(p), "{p}");
        }
        for p in
            ["nix-bin", "qemu-user-static", "qemu-user", "mmdebstrap", "gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross"]
        {
            assert!(purged.iter().any(|q| q == p), "{p} missing from {purged:?}");
        }
    }
}
