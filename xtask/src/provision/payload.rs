//! Payloads: a static busybox per target system, the binary every exec and
//! build probe runs. They come from Debian's `busybox-static:<arch>` packages,
//! fetched with apt-get into a private apt state (the host's apt configuration
//! and dpkg architectures stay untouched) and cached per user, so only the
//! first run downloads anything.
//!
//! Layout of the cache: `<cache>/payloads/<system>/{busybox,sh}`, which is
//! exactly the `CROSSLAB_PAYLOADS` directory probe commands expect.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use xshell::{cmd, Shell};

use crate::provision::prereq;
use crate::systems::NixSystem;

/// Where apt's keyring for Debian's archive lives on Debian and Ubuntu.
pub const DEBIAN_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// crosslab's per-user cache: `$CROSSLAB_CACHE`, else `$XDG_CACHE_HOME/crosslab`,
/// else `~/.cache/crosslab`.
pub fn cache_dir() -> anyhow::Result<PathBuf> {
    crate::machine::cache_dir()
}

/// The directory holding `<system>/busybox` for every system in `systems`,
/// downloading what is missing.
pub fn ensure(sh: &Shell, systems: &[&'static NixSystem]) -> anyhow::Result<PathBuf> {
    let root = cache_dir()?.join("payloads");
    fs::create_dir_all(&root).with_context(|| format!("failed to create `{}`", root.display()))?;
    let is_missing = |s: &&NixSystem| !root.join(s.double).join("busybox").is_file();
    if !systems.iter().any(is_missing) {
        return Ok(root);
    }
    // Runs in parallel (tests, two terminals) share the cache: one fetches,
    // the others wait and then find the payloads there.
    let _lock = lock(&root.join(".fetch.lock"))?;
    let missing: Vec<&NixSystem> = systems.iter().copied().filter(is_missing).collect();
    if missing.is_empty() {
        return Ok(root);
    }
    // Each system starts at its row's suite and moves on to the row's next
    // one when the mirror's index of that suite is inconsistent for it.
    let mirror = debian_mirror()?;
    let mut pending: Vec<(&NixSystem, usize)> = missing.into_iter().map(|s| (s, 0)).collect();
    while let Some(&(first, at)) = pending.first() {
        let suite = suite_at(first, at);
        let (batch, rest): (Vec<_>, Vec<_>) = pending.into_iter().partition(|&(s, i)| suite_at(s, i) == suite);
        pending = rest;
        let wanted: Vec<&NixSystem> = batch.iter().map(|&(s, _)| s).collect();
        let Err(e) = fetch_suite(sh, &root, suite, &wanted) else { continue };
        let Some(bad) = e.downcast_ref::<InconsistentIndex>() else {
            return Err(e).with_context(|| format!("failed to fetch busybox-static from Debian {suite}"));
        };
        // Its half-fetched lists are no use to the next suite (~13 MB).
        let _ = fs::remove_dir_all(apt_dir(&root, suite));
        // Systems whose architecture's index is fine are fetched again from
        // the same suite, without the broken one.
        let hit = |s: &NixSystem| bad.arches.is_empty() || bad.arches.iter().any(|a| a == s.debian_arch);
        let any_hit = batch.iter().any(|&(s, _)| hit(s));
        let broken = |s: &NixSystem| !any_hit || hit(s);
        let mut moved: Vec<(&str, Vec<&str>)> = Vec::new();
        for (system, i) in batch {
            if !broken(system) {
                pending.push((system, i));
                continue;
            }
            let Some(next) = system.debian_suites().nth(i + 1) else {
                let tried: Vec<&str> = system.debian_suites().take(i + 1).collect();
                return Err(e).with_context(|| {
                    format!(
                        "failed to fetch busybox-static for {} from Debian {} (no other suite in its row of the systems table)",
                        system.double,
                        tried.join(", then ")
                    )
                });
            };
            match moved.iter_mut().find(|(n, _)| *n == next) {
                Some((_, doubles)) => doubles.push(system.double),
                None => moved.push((next, vec![system.double])),
            }
            pending.push((system, i + 1));
        }
        for (next, doubles) in moved {
            eprintln!(
                "crosslab: {}; fetching busybox-static for {} from {next} instead",
                bad.at(&mirror),
                doubles.join(", ")
            );
        }
    }
    Ok(root)
}

/// The `i`th suite of `system`'s row ([`NixSystem::debian_suites`]).
fn suite_at(system: &NixSystem, i: usize) -> &'static str {
    system.debian_suites().nth(i).unwrap_or(system.debian_suite)
}

/// An exclusive `flock` on `path`, released when the file is dropped.
pub(crate) fn lock(path: &Path) -> anyhow::Result<fs::File> {
    use std::os::fd::AsRawFd;
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("failed to open `{}`", path.display()))?;
    // SAFETY: flock on a file descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        bail!("failed to lock `{}`: {}", path.display(), std::io::Error::last_os_error());
    }
    Ok(file)
}

fn fetch_suite(sh: &Shell, root: &Path, suite: &str, systems: &[&NixSystem]) -> anyhow::Result<()> {
    let mut arches: Vec<&str> = systems.iter().map(|s| s.debian_arch).collect();
    arches.sort();
    arches.dedup();
    let mirror = debian_mirror()?;
    let started = std::time::Instant::now();
    eprintln!(
        "crosslab: fetching busybox-static for {} from Debian {suite} at {mirror} (once; cached in {})",
        arches.join(", "),
        root.display()
    );
    // Ubuntu has no Debian keyring by default; prereq installs it (as root)
    // or says how.
    prereq::ensure(sh, &[DEBIAN_KEYRING.to_owned()])?;
    let apt_dir = apt_dir(root, suite);
    for sub in ["lists/partial", "cache/archives/partial", "etc/empty.d"] {
        fs::create_dir_all(apt_dir.join(sub)).with_context(|| format!("failed to create `{}`", apt_dir.display()))?;
    }
    let sources = apt_dir.join("etc/sources.list");
    fs::write(&sources, format!("deb [signed-by={DEBIAN_KEYRING}] {mirror} {suite} main\n"))
        .with_context(|| format!("failed to write `{}`", sources.display()))?;
    // Read before anything else (APT_CONFIG), so that none of the host's apt
    // configuration applies: its hooks (e.g. `APT::Update::Post-Invoke`
    // cleaning /var/cache/apt, appstream refreshes) must not run for a
    // private index.
    let apt_conf = apt_dir.join("etc/apt.conf");
    let empty = apt_dir.join("etc/empty.d");
    fs::write(&apt_conf, format!("Dir::Etc::main \"/dev/null\";\nDir::Etc::parts \"{}\";\n", empty.display()))
        .with_context(|| format!("failed to write `{}`", apt_conf.display()))?;
    let opts: Vec<String> = [
        format!("Dir::State::Lists={}", apt_dir.join("lists").display()),
        format!("Dir::Cache={}", apt_dir.join("cache").display()),
        format!("Dir::Etc::SourceList={}", sources.display()),
        format!("Dir::Etc::SourceParts={}", empty.display()),
        "Dir::State::status=/dev/null".to_owned(),
        format!("APT::Architectures={}", arches.join(",")),
        "APT::Sandbox::User=root".to_owned(),
        "Acquire::Languages=none".to_owned(),
        "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false".to_owned(),
        "Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false".to_owned(),
        "Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false".to_owned(),
    ]
    .into_iter()
    .chain(host_release_checks_off().into_iter().map(|key| format!("{key}=false")))
    .flat_map(|o| ["-o".to_owned(), o])
    .collect();
    let update_opts = opts.clone();
    let update = cmd!(sh, "apt-get -qq {update_opts...} update").env("APT_CONFIG", &apt_conf);
    run_apt(update, suite).context("`apt-get update` for the payload index failed")?;

    let work = tempfile::Builder::new()
        .prefix(".fetch-")
        .tempdir_in(root)
        .with_context(|| format!("failed to create a temporary directory in `{}`", root.display()))?;
    let debs = work.path().join("debs");
    fs::create_dir_all(&debs)?;
    let packages: Vec<String> = arches.iter().map(|a| format!("busybox-static:{a}")).collect();
    {
        let _dir = sh.push_dir(&debs);
        let download = cmd!(sh, "apt-get -qq {opts...} download {packages...}").env("APT_CONFIG", &apt_conf);
        run_apt(download, suite).context("`apt-get download` of busybox-static failed")?;
    }
    for arch in &arches {
        let deb = find_deb(&debs, arch)?;
        let unpacked = work.path().join(format!("unpacked-{arch}"));
        cmd!(sh, "dpkg-deb -x {deb} {unpacked}").quiet().run()?;
        let busybox = ["bin/busybox", "usr/bin/busybox"]
            .iter()
            .map(|p| unpacked.join(p))
            .find(|p| p.is_file())
            .with_context(|| format!("no busybox binary in `{}`", deb.display()))?;
        for system in systems.iter().filter(|s| s.debian_arch == *arch) {
            install(root, work.path(), system, &busybox)?;
        }
    }
    // The index is only needed again when a new system is asked for; don't
    // keep ~60 MB of package lists around for that.
    let _ = fs::remove_dir_all(&apt_dir);
    let bytes: u64 = systems.iter().map(|s| crate::provision::tree_bytes(&root.join(s.double))).sum();
    eprintln!(
        "crosslab: busybox-static for {} fetched in {:.0} s, {} MB",
        arches.join(", "),
        started.elapsed().as_secs_f64(),
        bytes.div_ceil(1 << 20)
    );
    Ok(())
}

/// The private apt state fetching from `suite` uses, beside the payloads.
fn apt_dir(payloads: &Path, suite: &str) -> PathBuf {
    payloads.parent().unwrap_or(payloads).join("apt").join(suite)
}

/// Runs an apt command, its output kept for the error: an
/// [`InconsistentIndex`] when apt says the mirror contradicts itself.
fn run_apt(command: xshell::Cmd<'_>, suite: &str) -> anyhow::Result<()> {
    let shown = command.to_string();
    let out = command.quiet().ignore_status().output().with_context(|| format!("could not execute `{shown}`"))?;
    if out.status.success() {
        return Ok(());
    }
    let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if let Some(bad) = inconsistent_index(suite, &log) {
        return Err(bad.into());
    }
    bail!("`{shown}` exited with {}:\n{}", out.status, crate::text::last_lines(&log, 20).join("\n"))
}

/// Puts one system's payload in place atomically: a half-fetched payload is
/// never visible, and two runs fetching at once both end with a whole one.
fn install(root: &Path, work: &Path, system: &NixSystem, busybox: &Path) -> anyhow::Result<()> {
    let header = fs::read(busybox).with_context(|| format!("failed to read `{}`", busybox.display()))?;
    // Natively run systems need no binfmt entry; i686's NixOS magic (EM_486)
    // does not even match Debian's i386 binaries (EM_386).
    if !system.is_native_here() && !system.matches_header(&header) {
        bail!(
            "`{}` does not match the binfmt magic of {}; the systems table or the package is wrong",
            busybox.display(),
            system.double
        );
    }
    let staged = work.join(system.double);
    fs::create_dir_all(&staged)?;
    fs::copy(busybox, staged.join("busybox"))?;
    std::os::unix::fs::symlink("busybox", staged.join("sh"))?;
    let target = root.join(system.double);
    match fs::rename(&staged, &target) {
        Ok(()) => Ok(()),
        // Another run put it there first; theirs is as good as ours.
        Err(_) if target.join("busybox").is_file() => Ok(()),
        Err(e) => Err(e).with_context(|| format!("failed to move the payload to `{}`", target.display())),
    }
}

fn find_deb(dir: &Path, arch: &str) -> anyhow::Result<PathBuf> {
    let suffix = format!("_{arch}.deb");
    fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(&suffix)))
        .with_context(|| format!("apt-get downloaded no busybox-static for {arch}"))
}

/// The host's apt sources crosslab reads for a Debian mirror, as apt does:
/// `sources.list`, then `sources.list.d/*.list` (one-line) and `*.sources`
/// (deb822), in name order.
pub const APT_SOURCES: &str = "/etc/apt/sources.list, /etc/apt/sources.list.d/*.list and *.sources";

/// The Debian archive to fetch from: `$CROSSLAB_DEBIAN_MIRROR`, else the first
/// `…/debian` URI in the host's apt sources; an error naming both when
/// neither gives one (Ubuntu's sources name no Debian archive). crosslab
/// names no mirror of its own: the host's choice of mirror is the user's.
pub fn debian_mirror() -> anyhow::Result<String> {
    mirror_from(std::env::var("CROSSLAB_DEBIAN_MIRROR").ok(), Path::new("/etc/apt"))
}

/// [`debian_mirror`] with the variable's value `env` and apt's directory
/// `apt` (`/etc/apt`) given, so it can be tried on a made-up host.
pub fn mirror_from(env: Option<String>, apt: &Path) -> anyhow::Result<String> {
    if let Some(m) = env.filter(|m| !m.trim().is_empty()) {
        return Ok(m.trim().to_owned());
    }
    let mut files = vec![apt.join("sources.list")];
    if let Ok(dir) = fs::read_dir(apt.join("sources.list.d")) {
        let mut more: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        more.sort();
        files.extend(more);
    }
    let texts = files
        .iter()
        .filter(|f| f.to_string_lossy().ends_with(".list") || f.to_string_lossy().ends_with(".sources"))
        .filter_map(|f| fs::read_to_string(f).ok());
    match debian_archive_in(texts) {
        Some(mirror) => Ok(mirror),
        None => bail!(
            "no Debian mirror to fetch from: CROSSLAB_DEBIAN_MIRROR is not set, and the host's apt sources ({}) name no Debian archive (a URI ending in `/debian`)\n  help: set CROSSLAB_DEBIAN_MIRROR to a Debian mirror's archive URL, e.g. `CROSSLAB_DEBIAN_MIRROR=http://<mirror host>/debian`",
            APT_SOURCES.replace("/etc/apt", &apt.display().to_string())
        ),
    }
}

/// The `Release` file checks the host's apt configuration turns off for its
/// mirror (`Acquire::Check-Valid-Until`, `Acquire::Check-Date` set to false,
/// as for a frozen snapshot mirror whose testing suites' `Valid-Until` has
/// passed). crosslab fetches from the host's mirror with none of the host's
/// apt configuration, except these, so the host's trust in that mirror
/// holds for crosslab too and no more.
pub fn host_release_checks_off() -> Vec<&'static str> {
    ["Acquire::Check-Valid-Until", "Acquire::Check-Date"]
        .into_iter()
        .filter(|key| {
            let out = std::process::Command::new("apt-config").args(["shell", "V", key]).output();
            // `V='false'`, nothing when unset.
            out.is_ok_and(|o| matches!(String::from_utf8_lossy(&o.stdout).trim(), "V='false'" | "V='0'" | "V='no'"))
        })
        .collect()
}

/// What apt prints when a mirror's files contradict its signed `Release`
/// (sizes and hashes): the mirror is mid-sync or broken, and another suite
/// (or later, or another mirror) is the way out, not a different command.
pub const INCONSISTENT_INDEX_SIGNS: &[&str] = &["Mirror sync in progress", "unexpected size", "Hash Sum mismatch"];

/// A Debian suite whose index (or package) on the mirror does not match its
/// signed `Release` file, recognised from apt's or mmdebstrap's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InconsistentIndex {
    pub suite: String,
    /// apt's complaint, one line: `File has unexpected size (9385284 != 9387120). Mirror sync in progress?`.
    pub complaint: String,
    /// Debian architectures whose files failed (`binary-<arch>/`, `_<arch>.deb`
    /// in the failed URLs); empty when apt's output names none.
    pub arches: Vec<String>,
}

impl InconsistentIndex {
    /// The one line saying so, naming the mirror.
    pub fn at(&self, mirror: &str) -> String {
        let arches = if self.arches.is_empty() { String::new() } else { format!(" for {}", self.arches.join(", ")) };
        format!("Debian {}{arches} at {mirror} is inconsistent ({})", self.suite, self.complaint)
    }
}

impl std::fmt::Display for InconsistentIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the mirror's Debian {} index is inconsistent: {}\n  help: the mirror is probably mid-sync; run again later, or set CROSSLAB_DEBIAN_MIRROR to another Debian mirror",
            self.suite, self.complaint
        )
    }
}

impl std::error::Error for InconsistentIndex {}

/// The [`InconsistentIndex`] apt's (or mmdebstrap's) `output` reports for
/// `suite`, if it reports one.
pub fn inconsistent_index(suite: &str, output: &str) -> Option<InconsistentIndex> {
    let is_sign = |line: &str| INCONSISTENT_INDEX_SIGNS.iter().any(|sign| line.contains(sign));
    let lines: Vec<&str> = output.lines().map(str::trim).collect();
    // `E: Failed to fetch URL  complaint [IP: …]` says it best; an `Err:`
    // item's indented complaint line does too.
    let line = lines
        .iter()
        .find(|l| l.starts_with("E: Failed to fetch") && is_sign(l))
        .or_else(|| lines.iter().find(|l| is_sign(l)))?;
    let complaint = match line.strip_prefix("E: Failed to fetch ") {
        Some(rest) => rest.split_once("  ").map_or(rest, |(_, c)| c),
        None => line.trim_start_matches("E: "),
    };
    let complaint = complaint.split(" [IP: ").next().unwrap_or(complaint).trim().to_owned();
    let mut arches: Vec<String> = Vec::new();
    for failed in lines.iter().filter(|l| l.starts_with("E: Failed to fetch") || l.starts_with("Err:")) {
        let url = failed.split_whitespace().find(|w| w.contains("://")).unwrap_or_default();
        let arch = match url.split_once("/binary-") {
            Some((_, rest)) => rest.split('/').next(),
            None => url.strip_suffix(".deb").and_then(|u| u.rsplit_once('_')).map(|(_, a)| a),
        };
        if let Some(arch) = arch.filter(|a| !a.is_empty() && !arches.iter().any(|x| x == a)) {
            arches.push(arch.to_owned());
        }
    }
    Some(InconsistentIndex { suite: suite.to_owned(), complaint, arches })
}

/// The first Debian archive (a URI ending in `/debian`) the sources name.
fn debian_archive_in(mut texts: impl Iterator<Item = String>) -> Option<String> {
    texts.find_map(|text| uris_in_sources(&text).into_iter().find(|u| u.trim_end_matches('/').ends_with("/debian")))
}

/// URIs in apt sources text, one-line (`deb [opts] URI suite…`) or deb822 (`URIs:`).
fn uris_in_sources(text: &str) -> Vec<String> {
    let mut uris = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("URIs:") {
            uris.extend(rest.split_whitespace().map(str::to_owned));
        } else if let Some(rest) = line.strip_prefix("deb ") {
            let rest = rest.trim_start();
            let rest = match rest.strip_prefix('[') {
                Some(r) => r.split_once(']').map(|(_, r)| r).unwrap_or(""),
                None => rest,
            };
            uris.extend(rest.split_whitespace().next().map(str::to_owned));
        }
    }
    uris
}

#[cfg(test)]
mod tests {
    use super::{debian_archive_in, mirror_from, uris_in_sources};

    #[test]
    fn reads_one_line_and_deb822_sources() {
        let text = "deb [signed-by=/k.gpg] http://m.invalid/debian bookworm main\n\
                    # deb http://commented.invalid/debian x main\n\
                    Types: deb\nURIs: http://n.invalid/debian\nSuites: trixie\n";
        assert_eq!(uris_in_sources(text), ["http://m.invalid/debian", "http://n.invalid/debian"]);
    }

    #[test]
    fn the_first_debian_archive_is_used_and_ubuntu_has_none() {
        let debian = "deb http://security-mirror.invalid/debian-security bookworm-security main\n\
                      deb http://mirror.invalid/debian/ bookworm main\n";
        assert_eq!(
            debian_archive_in([debian.to_owned()].into_iter()).as_deref(),
            Some("http://mirror.invalid/debian/")
        );
        let ubuntu = "Types: deb\nURIs: http://ubuntu-archive.invalid/ubuntu/\nSuites: noble noble-updates\n";
        assert_eq!(debian_archive_in([ubuntu.to_owned()].into_iter()), None);
    }

    #[test]
    fn the_mirror_comes_from_the_variable_then_the_sources_in_apts_order() {
        let apt = tempfile::tempdir().unwrap();
        let d = apt.path().join("sources.list.d");
        std::fs::create_dir(&d).unwrap();
        // Not a sources file: apt ignores it, so does crosslab.
        std::fs::write(d.join("a.list.disabled"), "deb http://disabled.invalid/debian bookworm main\n").unwrap();
        std::fs::write(d.join("b.sources"), "Types: deb\nURIs: http://deb822.invalid/debian\nSuites: trixie\n")
            .unwrap();
        std::fs::write(d.join("c.list"), "deb http://one-line.invalid/debian trixie main\n").unwrap();
        assert_eq!(mirror_from(None, apt.path()).unwrap(), "http://deb822.invalid/debian");
        std::fs::write(apt.path().join("sources.list"), "deb http://main-list.invalid/debian bookworm main\n").unwrap();
        assert_eq!(mirror_from(None, apt.path()).unwrap(), "http://main-list.invalid/debian");
        let set = Some("http://mirror.invalid/debian".to_owned());
        assert_eq!(mirror_from(set, apt.path()).unwrap(), "http://mirror.invalid/debian");
    }

    #[test]
    fn no_mirror_anywhere_is_an_error_naming_both_places() {
        let apt = tempfile::tempdir().unwrap();
        std::fs::create_dir(apt.path().join("sources.list.d")).unwrap();
        std::fs::write(
            apt.path().join("sources.list.d/ubuntu.sources"),
            "Types: deb\nURIs: http://ubuntu-archive.invalid/ubuntu/\nSuites: noble\n",
        )
        .unwrap();
        for env in [None, Some(String::new())] {
            let err = format!("{:#}", mirror_from(env, apt.path()).unwrap_err());
            assert!(err.contains("CROSSLAB_DEBIAN_MIRROR is not set"), "{err}");
            assert!(err.contains(&format!("{}/sources.list.d/*.list and *.sources", apt.path().display())), "{err}");
            assert!(err.contains("help: set CROSSLAB_DEBIAN_MIRROR"), "{err}");
        }
    }
}
