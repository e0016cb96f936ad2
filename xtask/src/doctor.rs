//! `lab doctor`: what this machine's emulation setup really is, read without
//! changing anything, with the fix for every problem found: binfmt_misc and
//! each registered emulator, Nix's configuration and what its sandbox sees,
//! binfmt_misc namespaces, whether KVM really boots a guest, qemu versions.
//!
//! Read-only by construction: files are only read; binfmt_misc, when the host
//! has not mounted it, is looked at in a private mount namespace that dies
//! with the `unshare` that made it; the KVM test guest boots from a kernel
//! file with no disk; nothing is installed (missing tools are named instead).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crate::diagnose::sandbox_covers;
use crate::flags;
use crate::machine::binfmt::{self, BinfmtMount, Entry};
use crate::machine::elf::{executable, Executable};
use crate::machine::nix::NixSettings;
use crate::machine::qemu::{qemu_dirs, qemu_programs_in, qemu_version, QemuKind};
use crate::machine::{self, Unreadable};
use crate::systems::{NixSystem, BINFMT_DIR};
use crate::text::count;

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    Note,
    Problem,
}

/// One thing the doctor found, in one section of its report.
#[derive(Debug, Clone)]
pub struct Finding {
    pub section: &'static str,
    pub level: Level,
    pub text: String,
    pub fix: Option<String>,
}

/// The doctor's whole report.
#[derive(Debug, Default)]
pub struct Checkup {
    pub findings: Vec<Finding>,
}

impl Checkup {
    fn ok(&mut self, section: &'static str, text: String) {
        self.findings.push(Finding { section, level: Level::Ok, text, fix: None });
    }
    fn note(&mut self, section: &'static str, text: String) {
        self.findings.push(Finding { section, level: Level::Note, text, fix: None });
    }
    fn problem(&mut self, section: &'static str, text: String, fix: String) {
        self.findings.push(Finding { section, level: Level::Problem, text, fix: Some(fix) });
    }

    pub fn problems(&self) -> usize {
        self.findings.iter().filter(|f| f.level == Level::Problem).count()
    }

    /// The report as printed: sections in order, each finding with its fix.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut section = "";
        for f in &self.findings {
            if f.section != section {
                section = f.section;
                out.push_str(&format!("{section}\n"));
            }
            let word = match f.level {
                Level::Ok => "ok     ",
                Level::Note => "note   ",
                Level::Problem => "PROBLEM",
            };
            out.push_str(&format!("  {word}  {}\n", f.text));
            if let Some(fix) = &f.fix {
                out.push_str(&format!("           fix: {fix}\n"));
            }
        }
        let n = self.problems();
        out.push_str(&if n == 0 {
            "\nno problem found\n".to_owned()
        } else {
            format!("\n{} found\n", count(n, "problem"))
        });
        out
    }
}

impl flags::Doctor {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let checkup = examine(Duration::from_secs(self.kvm_timeout), !self.retest_kvm);
        print!("{}", checkup.render());
        Ok(if checkup.problems() == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
    }
}

/// Examines the machine. The KVM test boot runs while the rest is read;
/// with `reuse_kvm_test`, a verdict from earlier in this boot is reused.
pub fn examine(kvm_timeout: Duration, reuse_kvm_test: bool) -> Checkup {
    let kvm = std::thread::spawn(move || kvm_test_cached(kvm_timeout, reuse_kvm_test));
    let mut c = Checkup::default();
    match machine::private_binfmt_misc() {
        Ok(how) => c.ok(
            "kernel",
            format!("{how}: `lab run` picks the host backend, which registers in a private instance"),
        ),
        Err(why) => c.problem(
            "kernel",
            format!("{why}: `lab run` picks the vm backend (a Debian VM with a kernel of its own)"),
            "nothing to do for `lab run`; `--backend host --allow-global` (root) registers in the host's binfmt_misc instead, saving and restoring its entries".to_owned(),
        ),
    }
    check_user(&mut c);
    let entries = binfmt_entries(&mut c);
    let nix = nix_config(&mut c);
    check_entries(&mut c, &entries, nix.as_ref());
    if let Some(nix) = &nix {
        check_platforms(&mut c, &entries, nix);
    }
    qemu_programs(&mut c, &entries);
    let (kvm, tested_at) = kvm.join().unwrap_or((KvmVerdict::NotTested("the test thread panicked".to_owned()), None));
    report_kvm(&mut c, &kvm, nix.as_ref());
    if let Some(when) = tested_at {
        c.note("kvm", format!("KVM was tested {when} in this boot; `lab doctor --retest-kvm` tests again"));
    }
    c
}

/// Ubuntu's switch that takes capabilities away from user namespaces made
/// without privilege.
const APPARMOR_USERNS: &str = "/proc/sys/kernel/apparmor_restrict_unprivileged_userns";

/// Whether the sysctl at `path` says unprivileged user namespaces are restricted.
fn userns_restricted(path: &str) -> bool {
    std::fs::read_to_string(path).is_ok_and(|v| v.trim() == "1")
}

/// Whether this user can run labs: root always; anyone else through
/// newuidmap and subordinate ids.
fn check_user(c: &mut Checkup) {
    const S: &str = "user";
    match crate::run::idmap::IdMap::for_current_user() {
        Ok(crate::run::idmap::IdMap::Identity) => {
            c.ok(S, "root: a lab's user namespace maps every id to itself".to_owned())
        }
        Ok(crate::run::idmap::IdMap::Subordinate { .. }) if userns_restricted(APPARMOR_USERNS) => c.problem(
            S,
            format!("AppArmor restricts unprivileged user namespaces ({APPARMOR_USERNS} = 1, Ubuntu ≥ 23.10): a lab's namespace would get no capabilities"),
            format!("run as root, or allow them: sudo sysctl {}=0", APPARMOR_USERNS.trim_start_matches("/proc/sys/").replace('/', ".")),
        ),
        Ok(crate::run::idmap::IdMap::Subordinate { subuids, subgids, .. }) => c.ok(
            S,
            format!(
                "not root: `lab run` maps the lab's ids with newuidmap/newgidmap (subordinate uids {}+{}, gids {}+{})",
                subuids.0, subuids.1, subgids.0, subgids.1
            ),
        ),
        Err(e) => {
            let text = e.to_string();
            let (what, fix) = text.split_once("\n  help: ").unwrap_or((&text, "run as root"));
            c.problem(S, what.to_owned(), fix.to_owned());
        }
    }
}

/// Reads binfmt_misc ([`machine::binfmt::read`]), noting in `c` how and what.
pub fn binfmt_entries(c: &mut Checkup) -> Vec<Entry> {
    const S: &str = "binfmt_misc";
    let read = match binfmt::read() {
        Ok(read) => read,
        Err(Unreadable { what, fix }) => {
            c.problem(S, what, fix);
            return Vec::new();
        }
    };
    match read.mount {
        BinfmtMount::Mounted => c.ok(S, format!("mounted at {BINFMT_DIR}")),
        BinfmtMount::Automount => {
            c.note(S, format!("{BINFMT_DIR} is an automount point (systemd) not yet mounted; not triggering it"));
            c.note(S, "entries not read: `ls /proc/sys/fs/binfmt_misc` mounts it and shows them".to_owned());
            return Vec::new();
        }
        BinfmtMount::ReadPrivately => {
            c.note(S, format!("not mounted at {BINFMT_DIR}; the global instance was read in a private mount namespace"))
        }
    }
    if read.disabled {
        c.problem(
            S,
            "binfmt_misc is disabled globally (status = disabled)".to_owned(),
            format!("echo 1 > {BINFMT_DIR}/status"),
        );
    }
    if read.entries.is_empty() {
        c.note(
            S,
            "no entry is registered: foreign binaries fail with \"Exec format error\" outside `lab run`".to_owned(),
        );
    }
    read.entries
}

/// Reads Nix's effective settings ([`machine::nix::settings`]), noting them in `c`.
pub fn nix_config(c: &mut Checkup) -> Option<NixSettings> {
    const S: &str = "nix";
    let nix = match machine::nix::settings() {
        Ok(nix) => nix,
        Err(Unreadable { what, fix }) => {
            c.problem(S, what, fix);
            return None;
        }
    };
    let show = |k: &str| {
        nix.values
            .get(k)
            .map(|v| if v.is_empty() { "(empty)".to_owned() } else { v.clone() })
            .unwrap_or_else(|| "(unset)".to_owned())
    };
    c.note(S, format!("system = {}; extra-platforms = {}", show("system"), show("extra-platforms")));
    c.note(S, format!("sandbox = {}; sandbox-paths = {}", show("sandbox"), show("sandbox-paths")));
    c.note(S, format!("system-features = {}", show("system-features")));
    if !nix.sandbox_on() {
        c.note(S, "the sandbox is off: builds see the host's files (emulators included) but are impure; `--option sandbox true` turns it on".to_owned());
    }
    Some(nix)
}

/// Every entry: its interpreter, whether it is static, whether a sandboxed
/// build would see it.
fn check_entries(c: &mut Checkup, entries: &[Entry], nix: Option<&NixSettings>) {
    const S: &str = "emulators";
    let sandbox_paths = nix.map(|n| n.list("sandbox-paths")).unwrap_or_default();
    let sandbox_on = nix.is_some_and(NixSettings::sandbox_on);
    for e in entries {
        let what = format!(
            "`{}`{}: {}, interpreter {}, flags `{}`",
            e.name,
            e.system.map(|s| format!(" ({})", s.double)).unwrap_or_default(),
            if e.enabled { "enabled" } else { "disabled" },
            e.interpreter,
            e.flags
        );
        if !e.enabled {
            c.note(S, format!("{what}: disabled, so it serves nothing"));
            continue;
        }
        let kind = executable(Path::new(&e.interpreter));
        let has_f = e.flags.contains('F');
        match &kind {
            Executable::Missing => {
                c.problem(S, format!("{what}: the interpreter does not exist"), format!("install it (qemu-user-static), or remove the entry: echo -1 > {BINFMT_DIR}/{}", e.name));
                continue;
            }
            Executable::Elf(None) => c.ok(S, format!("{what}: a static executable")),
            Executable::Elf(Some(loader)) => c.problem(
                S,
                format!("{what}: dynamically linked (loader {loader}): in a sandbox or chroot its libraries are missing"),
                "register a static emulator (Debian: qemu-user-static; NixOS: boot.binfmt.preferStaticEmulators = true)".to_owned(),
            ),
            Executable::Script(program) => {
                let visible = !sandbox_on || sandbox_covers(&sandbox_paths, program);
                if visible {
                    c.ok(S, format!("{what}: a script run by {program}"));
                } else {
                    c.problem(
                        S,
                        format!("{what}: a script run by {program}, which sandboxed builds do not have (nixpkgs#110540)"),
                        format!("make the wrapper's #! a shell inside the sandbox, or add `extra-sandbox-paths = {program}` to nix.conf"),
                    );
                }
            }
            Executable::Other => c.note(S, format!("{what}: neither ELF nor a script")),
        }
        let Some(_) = nix else { continue };
        let covered = sandbox_covers(&sandbox_paths, &e.interpreter);
        let visibility = match (has_f, covered) {
            (true, _) => "the F flag opens it at registration, so sandboxed builds need no path to it".to_owned(),
            (false, true) => "sandbox-paths holds it, so sandboxed builds see it".to_owned(),
            (false, false) => String::new(),
        };
        if !visibility.is_empty() {
            c.ok(S, format!("`{}`: {visibility}", e.name));
        } else if sandbox_on {
            c.problem(
                S,
                format!("`{}`: sandboxed builds cannot see {} (no F flag, not in sandbox-paths): they fail with \"No such file or directory\"", e.name, e.interpreter),
                format!("add `extra-sandbox-paths = {}` to /etc/nix/nix.conf, or register the entry with the F flag", e.interpreter),
            );
        } else {
            c.note(
                S,
                format!(
                    "`{}`: with the sandbox on, builds could not see {} (no F flag, not in sandbox-paths)",
                    e.name, e.interpreter
                ),
            );
        }
    }
}

/// Registered systems against Nix's extra-platforms.
fn check_platforms(c: &mut Checkup, entries: &[Entry], nix: &NixSettings) {
    const S: &str = "platforms";
    let platforms = nix.list("extra-platforms");
    let own = nix.values.get("system").cloned().unwrap_or_default();
    let served: Vec<&NixSystem> = entries.iter().filter(|e| e.enabled).filter_map(|e| e.system).collect();
    for s in &served {
        if s.double != own && !platforms.iter().any(|p| p == s.double) {
            c.problem(
                S,
                format!(
                    "{} is registered but Nix does not list it in extra-platforms: it refuses `--system {}` builds",
                    s.double, s.double
                ),
                format!("add `extra-platforms = {}` to /etc/nix/nix.conf", s.double),
            );
        }
    }
    for p in &platforms {
        let Some(s) = NixSystem::find(p) else { continue };
        if s.is_native_here() || served.iter().any(|r| r.qemu == s.qemu && r.magic == s.magic) {
            continue;
        }
        c.problem(
            S,
            format!("extra-platforms lists {p}, but nothing is registered for it: its builds die with \"Exec format error\" (nixos-generators#202)"),
            format!("register an emulator (Debian: apt-get install qemu-user-static binfmt-support), or remove {p} from extra-platforms"),
        );
    }
    if served.is_empty() && platforms.iter().all(|p| NixSystem::find(p).is_none_or(|s| s.is_native_here())) {
        c.ok(S, "extra-platforms names only systems this machine runs natively".to_owned());
    }
}

/// Every registered emulator's version, then every qemu program installed
/// here, by directory and kind (one `--version` per group: a package installs
/// one version), then whether the KVM test and the vm backend have qemu-system.
fn qemu_programs(c: &mut Checkup, entries: &[Entry]) {
    const S: &str = "qemu";
    for e in entries.iter().filter(|e| e.enabled) {
        match qemu_version(Path::new(&e.interpreter)) {
            Some(v) => c.ok(S, format!("registered `{}`: {}: version {v}", e.name, e.interpreter)),
            None => c.note(
                S,
                format!("registered `{}`: {}: no version (not a qemu, or not runnable)", e.name, e.interpreter),
            ),
        }
    }
    let mut any_user = false;
    for dir in qemu_dirs() {
        for (kind, names) in qemu_programs_in(&dir) {
            any_user |= matches!(kind, QemuKind::UserStatic | QemuKind::UserDynamic);
            let listed = match kind {
                // Each named by its architecture: the part that differs.
                QemuKind::UserStatic => names
                    .iter()
                    .map(|n| n.trim_start_matches("qemu-").trim_end_matches("-static"))
                    .collect::<Vec<_>>()
                    .join(" "),
                QemuKind::UserDynamic | QemuKind::System => names
                    .iter()
                    .map(|n| n.trim_start_matches("qemu-system-").trim_start_matches("qemu-"))
                    .collect::<Vec<_>>()
                    .join(" "),
                QemuKind::Tool => names.join(" "),
                QemuKind::BinfmtLink => {
                    let example = names.first().and_then(|n| {
                        std::fs::read_link(dir.join(n)).ok().map(|t| format!(" ({n} → {}, …)", t.display()))
                    });
                    let arches = names.iter().map(|n| n.trim_end_matches("-binfmt-P")).collect::<Vec<_>>();
                    format!("{}{}", arches.join(" "), example.unwrap_or_default())
                }
            };
            let version = match kind {
                QemuKind::BinfmtLink => None,
                _ => names.first().and_then(|n| qemu_version(&dir.join(n))),
            };
            let version = version.map(|v| format!(", version {v}")).unwrap_or_default();
            c.ok(S, format!("{}: {} ({}){version}: {listed}", dir.display(), kind.describe(), names.len()));
        }
    }
    if !any_user {
        c.note(
            S,
            "no qemu-user emulator is installed: labs and emulated builds need one (Debian package qemu-user-static)"
                .to_owned(),
        );
    }
    // The vm backend's and the KVM test's: the host's, or crosslab's unpacked copy.
    match crate::provision::qemu_system::command()
        .and_then(|mut q| Ok(q.arg("--version").stdin(Stdio::null()).output()?))
    {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            let version = text.lines().next().unwrap_or("(no version)").trim().to_owned();
            c.ok(S, format!("{}: {version}", crate::provision::qemu_system::describe()))
        }
        Err(e) => c.note(S, format!("{e:#}").replace("\n  help:", ";")),
    }
}

/// How the KVM test boot went.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum KvmVerdict {
    NoDevice,
    /// /dev/kvm exists but cannot be opened read-write.
    NotOpenable(String),
    NotTested(String),
    Booted {
        kvm: Duration,
    },
    DidNotBoot {
        timeout: Duration,
        why: String,
        tcg: Option<Duration>,
        kernel: PathBuf,
    },
}

/// A KVM test verdict kept in crosslab's cache for the rest of the boot: a
/// test boot takes seconds, and what it shows changes only with a reboot.
#[derive(serde::Serialize, serde::Deserialize)]
struct CachedKvmTest {
    /// `/proc/sys/kernel/random/boot_id` when it was tested.
    boot_id: String,
    /// Seconds since the epoch.
    tested_at: u64,
    /// The test's bound: another bound is another test.
    timeout_secs: u64,
    verdict: KvmVerdict,
}

/// [`kvm_test`], or (with `reuse`) its verdict from earlier in this boot
/// with the same timeout, with how long ago it was tested. Only verdicts of a real test boot are
/// kept: one that could not test (no qemu, no kernel) is retried next time.
pub fn kvm_test_cached(timeout: Duration, reuse: bool) -> (KvmVerdict, Option<String>) {
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default().trim().to_owned();
    let file = crate::provision::payload::cache_dir().ok().map(|d| d.join("doctor/kvm-test.json"));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    if let (true, false, Some(file)) = (reuse, boot_id.is_empty(), &file) {
        let cached = std::fs::read(file).ok().and_then(|b| serde_json::from_slice::<CachedKvmTest>(&b).ok());
        if let Some(cached) = cached.filter(|c| c.boot_id == boot_id && c.timeout_secs == timeout.as_secs()) {
            let ago = now.saturating_sub(cached.tested_at);
            let when = if ago < 120 { format!("{ago} s ago") } else { format!("{} min ago", ago / 60) };
            return (cached.verdict, Some(when));
        }
    }
    let verdict = kvm_test(timeout);
    if let (false, Some(file), KvmVerdict::Booted { .. } | KvmVerdict::DidNotBoot { .. }) =
        (boot_id.is_empty(), &file, &verdict)
    {
        let cached =
            CachedKvmTest { boot_id, tested_at: now, timeout_secs: timeout.as_secs(), verdict: verdict.clone() };
        // A cache that cannot be written only costs the next doctor a test boot.
        if let (Some(dir), Ok(text)) = (file.parent(), serde_json::to_vec(&cached)) {
            let _ = std::fs::create_dir_all(dir).and_then(|_| std::fs::write(file, text));
        }
    }
    (verdict, None)
}

/// The kernel to test-boot: the vm backend's cached guest kernel, else the
/// host's own in /boot.
fn test_kernel() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Ok(cache) = crate::provision::payload::cache_dir() {
        // Not a cached guest of another architecture (`bookworm-arm64-…`
        // for aarch64-host labs): this machine's qemu-system-x86_64 boots
        // only its own.
        let foreign = |name: &str| {
            crate::systems::SYSTEMS
                .iter()
                .filter(|s| !s.native_on.contains(&std::env::consts::ARCH))
                .any(|s| name.contains(&format!("-{}-", s.debian_arch)))
        };
        for e in std::fs::read_dir(cache.join("vm")).into_iter().flatten().flatten() {
            if !foreign(&e.file_name().to_string_lossy()) {
                candidates.push(e.path().join("vmlinuz"));
            }
        }
    }
    for e in std::fs::read_dir("/boot").into_iter().flatten().flatten() {
        if e.file_name().to_string_lossy().starts_with("vmlinuz") {
            candidates.push(e.path());
        }
    }
    candidates.into_iter().find(|p| std::fs::File::open(p).is_ok())
}

/// Boots a Linux kernel with no disk under KVM (and under TCG at the same
/// time, to show the kernel itself boots): a guest counts as booted once its
/// kernel prints its banner on the serial console.
pub fn kvm_test(timeout: Duration) -> KvmVerdict {
    if std::env::consts::ARCH != "x86_64" {
        return KvmVerdict::NotTested(format!(
            "the test boots an x86_64 kernel; this machine is {}",
            std::env::consts::ARCH
        ));
    }
    if !Path::new("/dev/kvm").exists() {
        return KvmVerdict::NoDevice;
    }
    if let Err(e) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm") {
        return KvmVerdict::NotOpenable(e.to_string());
    }
    let Some(kernel) = test_kernel() else {
        return KvmVerdict::NotTested("no Linux kernel to boot (none in /boot, no vm backend image cached)".to_owned());
    };
    // Both boot at once, each until its banner or the bound. A working KVM
    // prints it long before TCG does, so the first banner decides: KVM's
    // ends the TCG control; the control's, before KVM's, ends the KVM wait
    // (a KVM guest slower than emulation is not working KVM). The bound
    // only ends a test where neither printed; it must be above a TCG boot
    // (7.6 s measured), or the control never gets to show anything.
    let (done, finished) = mpsc::channel();
    let stop_kvm = Arc::new(AtomicBool::new(false));
    let stop_tcg = Arc::new(AtomicBool::new(false));
    let boots = [("kvm", stop_kvm.clone()), ("tcg", stop_tcg.clone())].map(|(accel, stop)| {
        let (kernel, done) = (kernel.clone(), done.clone());
        std::thread::spawn(move || {
            let _ = done.send((accel, boot_banner(&kernel, accel, timeout, &stop)));
        })
    });
    drop(done);
    let (mut kvm, mut tcg) = (None, None);
    for (accel, result) in finished {
        let booted = matches!(result, Ok(Ok(_)));
        if accel == "kvm" {
            stop_tcg.store(booted, Ordering::Relaxed);
            kvm = Some(result);
        } else {
            stop_kvm.store(booted, Ordering::Relaxed);
            tcg = Some(result);
        }
    }
    // Always waited for: no qemu outlives the doctor.
    for boot in boots {
        let _ = boot.join();
    }
    let tcg = tcg.and_then(|r| r.ok()).and_then(|r| r.ok());
    match kvm.unwrap_or_else(|| Err("the KVM test thread panicked".to_owned())) {
        Ok(Ok(t)) => KvmVerdict::Booted { kvm: t },
        Ok(Err((why, waited))) => KvmVerdict::DidNotBoot { timeout: waited, why, tcg, kernel },
        Err(e) => KvmVerdict::NotTested(e),
    }
}

/// Boots `kernel` under `accel` until its banner appears (Ok(time)), or
/// `timeout` passes or `stop` is set (Err((why, time waited))); the outer
/// Err is "qemu could not run".
type Waited = (String, Duration);
fn boot_banner(
    kernel: &Path,
    accel: &str,
    timeout: Duration,
    stop: &AtomicBool,
) -> Result<Result<Duration, Waited>, String> {
    let (reader, writer) = std::io::pipe().map_err(|e| e.to_string())?;
    let writer2 = writer.try_clone().map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut qemu = crate::provision::qemu_system::command().map_err(|e| format!("{e:#}"))?;
    let mut child = qemu
        .args([
            "-accel",
            accel,
            "-m",
            "256",
            "-nodefaults",
            "-display",
            "none",
            "-monitor",
            "none",
            "-serial",
            "stdio",
            "-no-reboot",
            "-kernel",
        ])
        .arg(kernel)
        .args(["-append", "console=ttyS0 panic=-1"])
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(writer2)
        .spawn()
        .map_err(|e| format!("could not execute qemu-system-x86_64: {e}"))?;
    // The command holds the pipe's write ends: drop it, or the reader below
    // never sees the end of qemu's output.
    drop(qemu);
    let (tx, rx) = mpsc::channel();
    let lines = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for line in BufReader::new(reader).lines().map_while(Result::ok) {
            if line.contains("Linux version") {
                let _ = tx.send(());
            }
            seen.push(line);
        }
        seen
    });
    let booted = loop {
        let left = timeout.saturating_sub(started.elapsed());
        if left.is_zero() || stop.load(Ordering::Relaxed) {
            break false;
        }
        match rx.recv_timeout(left.min(Duration::from_millis(50))) {
            Ok(()) => break true,
            Err(mpsc::RecvTimeoutError::Disconnected) => break false,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    };
    let elapsed = started.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    let seen = lines.join().unwrap_or_default();
    if booted {
        return Ok(Ok(elapsed));
    }
    let complaint =
        seen.iter().rev().find(|l| l.contains("qemu-system-x86_64:") && !l.contains("terminating on signal")).cloned();
    let stopped = stop.load(Ordering::Relaxed);
    Ok(Err((
        match complaint {
            Some(c) if elapsed < timeout && !stopped => format!("qemu stopped at once: {}", c.trim()),
            Some(c) => format!(
                "no kernel message on the serial console (qemu: {})",
                c.trim_start_matches("qemu-system-x86_64: ").trim()
            ),
            None => "no kernel message on the serial console".to_owned(),
        },
        // The bound as given when it passed (not the few ms over it).
        elapsed.min(timeout),
    )))
}

fn report_kvm(c: &mut Checkup, kvm: &KvmVerdict, nix: Option<&NixSettings>) {
    const S: &str = "kvm";
    let nix_says_kvm = nix.is_some_and(|n| n.list("system-features").iter().any(|f| f == "kvm"));
    match kvm {
        KvmVerdict::NoDevice => {
            c.note(S, "no /dev/kvm: VMs (nixosTest, --backend vm) run on TCG, slower but they work".to_owned())
        }
        KvmVerdict::NotOpenable(e) => c.problem(
            S,
            format!("/dev/kvm exists but cannot be opened: {e}"),
            "add your user to the `kvm` group (then log in again), or run as root".to_owned(),
        ),
        KvmVerdict::NotTested(why) => c.note(S, format!("/dev/kvm exists; KVM not tested: {why}")),
        KvmVerdict::Booted { kvm } => {
            c.ok(S, format!("KVM works: a Linux guest printed its banner in {:.1} s", kvm.as_secs_f64()))
        }
        // The control did not boot either and qemu did not complain about
        // KVM: the bound was too short to tell anything (the kernel is slow,
        // or the machine busy), and nothing says KVM is at fault.
        KvmVerdict::DidNotBoot { timeout, why, tcg: None, kernel } if !why.starts_with("qemu stopped at once") => c.note(
            S,
            format!(
                "/dev/kvm exists; KVM not judged: neither a KVM guest nor its TCG control printed the kernel's banner in {}: {why} (kernel {}); `lab doctor --retest-kvm --kvm-timeout {}` waits longer",
                seconds(*timeout),
                kernel.display(),
                timeout.as_secs() * 2 + 1
            ),
        ),
        KvmVerdict::DidNotBoot { timeout, why, tcg, kernel } => {
            let control = match tcg {
                Some(t) => format!("under TCG the same kernel did in {:.1} s", t.as_secs_f64()),
                None => "it did not under TCG either".to_owned(),
            };
            let nix_part = if nix_says_kvm {
                " Nix lists `kvm` in system-features, so it will run KVM builds (nixosTest VMs) here, and they will hang: set `system-features` in /etc/nix/nix.conf without kvm (e.g. `system-features = nixos-test benchmark big-parallel`)."
            } else {
                ""
            };
            c.problem(
                S,
                format!(
                    "KVM present (/dev/kvm opens) but a guest did not boot in {}: {why} (kernel {}); {control}",
                    seconds(*timeout),
                    kernel.display(),
                ),
                format!("use TCG: `lab run --backend vm` finds out itself (CROSSLAB_VM_ACCEL=tcg skips its test); on a VM, enable nested virtualisation on its host.{nix_part}"),
            );
        }
    }
}

/// `4 s`, `7.6 s`: whole seconds without a fraction.
fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::userns_restricted;

    #[test]
    fn the_apparmor_userns_switch_is_read_as_the_kernel_writes_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("apparmor_restrict_unprivileged_userns");
        let path = path.to_str().unwrap();
        assert!(!userns_restricted(path), "no such sysctl: not restricted");
        std::fs::write(path, "1\n").unwrap();
        assert!(userns_restricted(path));
        std::fs::write(path, "0\n").unwrap();
        assert!(!userns_restricted(path));
    }
}
