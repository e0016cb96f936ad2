//! The machine as it is, read without changing it: binfmt_misc and who
//! registers its entries ([`binfmt`]), ELF files ([`elf`]), Nix's settings
//! ([`nix`]), installed qemu programs ([`qemu`]), the kernel's binfmt_misc
//! namespaces, and the versions programs and Debian roots report. `lab
//! doctor`, `lab capture`, the backends' choices and the diagnoses' host
//! instructions all read the machine through here.

use std::path::Path;

pub mod binfmt;
pub mod elf;
pub mod nix;
pub mod qemu;
pub mod remembered;

/// Something of the machine that could not be read, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub what: String,
    pub fix: String,
}

pub use remembered::cache_dir;

/// Where the official installer links Nix for every user.
pub const INSTALLER_PROFILE_BIN: &str = "/nix/var/nix/profiles/default/bin";

/// Whether a lab can have a binfmt_misc of its own here (Ok: how), tried
/// for real: a user namespace mounts binfmt_misc, which works on kernels
/// with binfmt_misc namespaces (Linux ≥ 6.7) where user namespaces are
/// allowed. `CROSSLAB_ASSUME_NO_BINFMT_NS` makes it say no, for the tests.
///
/// The kernel's answer cannot change until it reboots: it is remembered
/// for this boot and user ([`remembered`]), so that a run does not try it
/// again. Whether this user may make user namespaces (a sysctl, an AppArmor
/// policy) can change at any time: that answer is not remembered.
pub fn private_binfmt_misc() -> Result<String, String> {
    // Asked by the backend choice and by the host backend's preflight: tried once.
    static TRIED: std::sync::OnceLock<Result<String, String>> = std::sync::OnceLock::new();
    TRIED.get_or_init(remembered_private_binfmt_misc).clone()
}

fn remembered_private_binfmt_misc() -> Result<String, String> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let release = release.trim();
    if std::env::var_os("CROSSLAB_ASSUME_NO_BINFMT_NS").is_some() {
        return Err(format!(
            "Linux {release} is taken to have no binfmt_misc namespaces (CROSSLAB_ASSUME_NO_BINFMT_NS)"
        ));
    }
    const FILE: &str = "binfmt-namespaces";
    // SAFETY: geteuid cannot fail and touches no memory.
    let Some(key) = remembered::boot_id().map(|id| format!("boot {id} uid {}", unsafe { libc::geteuid() })) else {
        return try_private_binfmt_misc(release).0;
    };
    match remembered::recall(FILE, &key).as_deref().and_then(|v| v.split_once('\t')) {
        Some(("ok", why)) => return Ok(why.to_owned()),
        Some(("no", why)) => return Err(why.to_owned()),
        _ => {}
    }
    let (answer, of_the_kernel) = try_private_binfmt_misc(release);
    if of_the_kernel {
        let value = match &answer {
            Ok(why) => format!("ok\t{why}"),
            Err(why) => format!("no\t{why}"),
        };
        // One line per user: another boot's are stale.
        let uid = key.rsplit_once(' ').map_or("", |(_, uid)| uid).to_owned();
        remembered::remember(FILE, &key, &value.replace('\n', " "), |l| {
            l.split('\t').next().is_some_and(|k| k.ends_with(&format!(" uid {uid}")))
        });
    }
    answer
}

/// Tries it; also says whether the answer is the kernel's (the same until
/// it reboots), not this user's or this moment's.
fn try_private_binfmt_misc(release: &str) -> (Result<String, String>, bool) {
    let tried = std::process::Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "--", "/bin/sh", "-c"])
        .arg(format!("mount -t binfmt_misc binfmt_misc {}", crate::systems::BINFMT_DIR))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output();
    match tried {
        Ok(out) if out.status.success() => {
            (Ok(format!("Linux {release} mounts a private binfmt_misc for each lab")), true)
        }
        Ok(out) if String::from_utf8_lossy(&out.stderr).contains("unshare failed") => {
            (Err(format!("this user cannot make user namespaces on Linux {release}")), false)
        }
        Ok(_) if !kernel_at_least(release, 6, 7) => {
            (Err(format!("Linux {release} has no binfmt_misc namespaces (they came in 6.7)")), true)
        }
        Ok(out) => (
            Err(format!(
                "Linux {release} would not mount a private binfmt_misc: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            false,
        ),
        Err(e) => (Err(format!("could not execute `unshare` (util-linux): {e}")), false),
    }
}

/// Whether a kernel release string like `6.18.44-fc` is at least `major.minor`.
pub fn kernel_at_least(release: &str, major: u32, minor: u32) -> bool {
    let mut parts = release.trim().split(|c: char| !c.is_ascii_digit()).map(|p| p.parse::<u32>().unwrap_or(0));
    let (ma, mi) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (ma, mi) >= (major, minor)
}

/// The version in the first line a program prints for `flag`, or "unknown".
/// Remembered for the program's build ([`remembered::program_key`]): a
/// program says the same until it is replaced.
pub fn program_version(program: &str, flag: &str) -> String {
    const FILE: &str = "versions";
    let Some(build) = remembered::program_key(program) else { return run_for_version(program, flag) };
    let key = format!("{build}\t{flag}");
    if let Some(version) = remembered::recall(FILE, &key) {
        return version;
    }
    let version = run_for_version(program, flag);
    // The same path's older builds are stale.
    let path = build.split('\t').next().unwrap_or_default().to_owned();
    remembered::remember(FILE, &key, &version, |l| {
        let mut fields = l.split('\t');
        fields.next() == Some(path.as_str()) && fields.nth(2) == Some(flag)
    });
    version
}

fn run_for_version(program: &str, flag: &str) -> String {
    let out = std::process::Command::new(program).arg(flag).stdin(std::process::Stdio::null()).output();
    version_in(&out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default())
}

/// The program whose version stands for a stack's qemu: crosslab registers
/// `/usr/bin/qemu-<arch>-static`, and every emulator of one qemu-user
/// package is built from the same source, so aarch64's version is the
/// package's, not aarch64's alone.
pub const QEMU_USER_PROGRAM: &str = "/usr/bin/qemu-aarch64-static";

/// The Debian packages that may install [`QEMU_USER_PROGRAM`]: bookworm's and
/// trixie's `qemu-user-static` (trixie's a link to `qemu-user`'s program).
pub const QEMU_USER_PACKAGES: &[&str] = &["qemu-user-static", "qemu-user"];

/// The qemu-user of the root filesystem `root` (`/` for this machine's):
/// the upstream version its [`QEMU_USER_PROGRAM`] prints (`7.2.19`, the same
/// format on every stack and backend), and the Debian package that
/// installed it (dpkg's file lists), or "unknown" for each.
pub fn qemu_user_in(root: &Path) -> (String, String) {
    // The program is static: it runs from the host; its links are followed
    // inside `root` (trixie's `qemu-aarch64-static` → `qemu-aarch64`).
    let mut path = root.join(QEMU_USER_PROGRAM.trim_start_matches('/'));
    for _ in 0..8 {
        let Ok(target) = std::fs::read_link(&path) else { break };
        path = match target.strip_prefix("/") {
            Ok(inside) => root.join(inside),
            Err(_) => path.parent().unwrap_or(root).join(target),
        };
    }
    let version = program_version(&path.to_string_lossy(), "--version");
    let package = QEMU_USER_PACKAGES
        .iter()
        .find(|p| {
            let list = std::fs::read_to_string(root.join(format!("var/lib/dpkg/info/{p}.list"))).unwrap_or_default();
            list.lines().any(|l| l == QEMU_USER_PROGRAM)
        })
        .map_or_else(|| "unknown".to_owned(), |p| (*p).to_owned());
    (version, package)
}

/// The same as [`qemu_user_in`], as a shell command for a machine crosslab
/// reaches only through commands (the vm backend's guest); its output is
/// read by [`parse_qemu_user`].
pub fn qemu_user_command() -> String {
    let program = crate::quote::sh(QEMU_USER_PROGRAM);
    format!(
        "{program} --version | head -n 1; for p in {}; do if grep -qxF {program} /var/lib/dpkg/info/$p.list 2> /dev/null; then echo \"package $p\"; break; fi; done",
        QEMU_USER_PACKAGES.join(" ")
    )
}

/// The version and package in the output of [`qemu_user_command`].
pub fn parse_qemu_user(output: &str) -> (String, String) {
    let package = output.lines().find_map(|l| l.strip_prefix("package ")).unwrap_or("unknown");
    (version_in(output), package.trim().to_owned())
}

/// The first version-like word of `text`'s first line ("nix-build (Nix)
/// 2.8.0" → "2.8.0", "qemu-aarch64 version 7.2.19 (Debian …)" → "7.2.19"),
/// or "unknown".
pub fn version_in(text: &str) -> String {
    text.lines()
        .next()
        .and_then(|l| l.split_whitespace().find(|w| w.starts_with(|c: char| c.is_ascii_digit())))
        .map(str::to_owned)
        .unwrap_or_else(|| "unknown".to_owned())
}

/// A package's version in a dpkg status file's text, or "unknown".
pub fn dpkg_version(status: &str, package: &str) -> String {
    status
        .split("\n\n")
        .find(|stanza| stanza.lines().any(|l| l == format!("Package: {package}")))
        .and_then(|stanza| stanza.lines().find_map(|l| l.strip_prefix("Version: ")))
        .map(str::to_owned)
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The upstream part of a Debian version (`1:11.1.2+ds-3` → `11.1.2`,
/// `2.34.8+dfsg-1+b1` → `2.34.8`): no epoch, no repack suffix, no revision.
pub fn upstream_version(debian: &str) -> String {
    let no_epoch = debian.split_once(':').map_or(debian, |(_, v)| v);
    no_epoch.split(['+', '~', '-']).next().unwrap_or(no_epoch).to_owned()
}

#[cfg(test)]
mod tests {
    use super::{dpkg_version, upstream_version, version_in};

    #[test]
    fn versions_are_read_from_what_programs_print() {
        assert_eq!(version_in("nix-build (Nix) 2.8.0\n"), "2.8.0");
        assert_eq!(version_in("qemu-aarch64 version 7.2.19 (Debian 1:7.2+dfsg-7+deb12u18)\nCopyright"), "7.2.19");
        assert_eq!(version_in(""), "unknown");
    }

    #[test]
    fn dpkg_versions_come_from_the_right_stanza() {
        let status = "Package: nix-bin\nStatus: install ok installed\nVersion: 2.26.3+dfsg-1\n\nPackage: qemu-user-static\nVersion: 1:10.0.2+ds-2\n";
        assert_eq!(dpkg_version(status, "nix-bin"), "2.26.3+dfsg-1");
        assert_eq!(dpkg_version(status, "qemu-user-static"), "1:10.0.2+ds-2");
        assert_eq!(dpkg_version(status, "nix"), "unknown");
    }

    #[test]
    fn debian_versions_read_as_upstream_ones() {
        assert_eq!(upstream_version("1:11.1.2+ds-3"), "11.1.2");
        assert_eq!(upstream_version("2.34.8+dfsg-1+b1"), "2.34.8");
        assert_eq!(upstream_version("1:7.2+dfsg-7+deb12u18"), "7.2");
        assert_eq!(upstream_version("2.8.0-1"), "2.8.0");
        assert_eq!(upstream_version("unknown"), "unknown");
    }
}
