//! `lab doctor` for real: it changes nothing on the machine (global binfmt_misc
//! entries, mounts, /nix, /etc/nix, no qemu left running), it reads a
//! binfmt_misc instance's entries and judges each against Nix's sandbox, and
//! it tells static from dynamic emulators by their ELF headers.
//! Needs root and /dev/kvm; each test first installs the suite's packages
//! that are missing (Nix, qemu-user-static, qemu-user: tests/common).

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use xtask::machine::elf::{executable, Executable};

mod common;

/// What `lab doctor` must leave as it found it.
fn host_state() -> String {
    let mut s = String::new();
    let binfmt = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c"])
        .arg("d=/proc/sys/fs/binfmt_misc; [ -e $d/register ] || mount -t binfmt_misc binfmt_misc $d; for f in $d/*; do echo \"== $f\"; cat \"$f\"; done")
        .output()
        .unwrap();
    s.push_str(&String::from_utf8_lossy(&binfmt.stdout));
    s.push_str(&std::fs::read_to_string("/proc/self/mountinfo").unwrap());
    for top in ["/nix", "/etc/nix"] {
        // A fresh machine has neither (Debian's nix-bin creates none): absent is a state too.
        if !Path::new(top).exists() {
            s.push_str(&format!("{top} absent\n"));
            continue;
        }
        for entry in walkdir::WalkDir::new(top).max_depth(3).sort_by_file_name() {
            let entry = entry.unwrap();
            s.push_str(&format!("{}\n", entry.path().display()));
            if entry.file_type().is_file() && entry.path().starts_with("/etc/nix") {
                s.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
            }
        }
    }
    s
}

/// Every `lab doctor` boots a test guest: the tests that run it take turns,
/// or one would see the other's guest and blame its own doctor for it.
static ONE_DOCTOR_AT_A_TIME: Mutex<()> = Mutex::new(());

fn qemu_processes() -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.starts_with("qemu-system-x86_64") && cmdline.contains("panic=-1") {
            found.push(format!("{} {cmdline}", entry.file_name().to_string_lossy()));
        }
    }
    found
}

#[test]
fn doctor_changes_nothing_on_the_machine() {
    common::test_packages();
    let _turn = ONE_DOCTOR_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    assert!(qemu_processes().is_empty(), "a test guest from elsewhere is running: {:?}", qemu_processes());
    let before = host_state();
    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        // The default bound: the boots race, so a working KVM or the TCG
        // control ends the test in seconds; a loaded machine still gets a verdict.
        .args(["lab", "doctor", "--retest-kvm"])
        .output()
        .unwrap();
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.code().is_some_and(|c| c < 2), "{}\n{}", text, String::from_utf8_lossy(&out.stderr));
    assert_eq!(before, host_state(), "lab doctor changed the machine:\n{text}");
    // A real KVM test boot (and its TCG control) included, within the bound.
    assert!(took.as_secs_f64() <= 25.0, "lab doctor took {took:?}:\n{text}");
    assert!(qemu_processes().is_empty(), "a test guest outlived the doctor: {:?}", qemu_processes());
    // It said who may run labs here (the tests run as root).
    assert!(text.contains("ok       root: a lab's user namespace maps every id to itself"), "{text}");
    // It said what Nix really says.
    let nix =
        Command::new("nix").args(["--extra-experimental-features", "nix-command", "show-config"]).output().unwrap();
    let sandbox = String::from_utf8_lossy(&nix.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("sandbox = ").map(str::to_owned))
        .unwrap();
    assert!(text.contains(&format!("sandbox = {sandbox};")), "{text}");
    // And had a verdict on KVM that is not just "/dev/kvm exists".
    let kvm = text.lines().skip_while(|l| *l != "kvm").nth(1).unwrap_or_else(|| panic!("{text}"));
    if Path::new("/dev/kvm").exists() {
        assert!(
            kvm.contains("KVM works: a Linux guest printed its banner")
                || kvm.contains("KVM present (/dev/kvm opens) but a guest did not boot in ")
                || kvm.contains("KVM not tested: no Linux kernel to boot"),
            "{kvm}"
        );
    }
}

#[test]
fn entries_are_judged_against_the_sandbox_and_extra_platforms() {
    common::test_packages();
    let _turn = ONE_DOCTOR_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // A private binfmt_misc instance (kernel ≥ 6.7) the doctor finds mounted.
    let script = r#"set -e
mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
printf '%s' ':qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\x00\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64-static:P' > /proc/sys/fs/binfmt_misc/register
printf '%s' ':qemu-riscv64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xf3\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-riscv64-static:F' > /proc/sys/fs/binfmt_misc/register
printf '%s' ':dynamic:E::crosslabdyn::/bin/true:' > /proc/sys/fs/binfmt_misc/register
exec "$0" lab doctor --kvm-timeout 1
"#;
    let out = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "--", "/bin/sh", "-c", script, env!("CARGO_BIN_EXE_xtask")])
        .env("NIX_CONFIG", "sandbox = true\nextra-platforms = riscv64-linux")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "problems found: exit 1\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
    let line = |needle: &str| {
        text.lines().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("no line with {needle:?}:\n{text}"))
    };
    assert!(line("mounted at /proc/sys/fs/binfmt_misc").contains("ok"));
    assert!(line("`qemu-aarch64` (aarch64-linux): enabled").contains("a static executable"));
    let hidden = line("`qemu-aarch64`: sandboxed builds cannot see /usr/bin/qemu-aarch64-static");
    assert!(hidden.contains("PROBLEM"), "{hidden}");
    assert!(text.contains("fix: add `extra-sandbox-paths = /usr/bin/qemu-aarch64-static`"), "{text}");
    assert!(line("`qemu-riscv64`: the F flag opens it").contains("ok"));
    assert!(line("aarch64-linux is registered but Nix does not list it in extra-platforms").contains("PROBLEM"));
    assert!(!text.contains("riscv64-linux is registered but"), "{text}");
    assert!(line("`dynamic`: enabled, interpreter /bin/true").contains("dynamically linked"));
}

#[test]
fn elf_headers_tell_static_from_dynamic_for_any_byte_order() {
    common::test_packages();
    assert_eq!(executable(Path::new("/usr/bin/qemu-aarch64-static")), Executable::Elf(None));
    assert!(matches!(executable(Path::new("/bin/true")), Executable::Elf(Some(loader)) if loader.contains("ld-linux")));
    assert_eq!(executable(Path::new("/crosslab/no/such/file")), Executable::Missing);
    // Big-endian and 32-bit static payloads.
    let systems: Vec<_> =
        ["s390x-linux", "armv7l-linux"].iter().map(|s| xtask::systems::NixSystem::find(s).unwrap()).collect();
    let payloads = xtask::provision::payload::ensure(&xshell::Shell::new().unwrap(), &systems).unwrap();
    for s in ["s390x-linux", "armv7l-linux"] {
        assert_eq!(executable(&payloads.join(s).join("busybox")), Executable::Elf(None), "{s}");
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("wrapper");
    std::fs::write(&script, "#!/usr/bin/env sh\nexec qemu \"$@\"\n").unwrap();
    assert_eq!(executable(&script), Executable::Script("/usr/bin/env".to_owned()));
}

/// Runs `lab doctor ARGS` in a private user and mount namespace whose
/// binfmt_misc instance holds an aarch64 entry without F and a riscv64 one
/// with F, with Nix configured by `NIX_CONFIG`: the setup the README's sample
/// shows, the same on every machine but for versions and times.
fn doctor_in_sample_setup(cache: &Path, args: &str) -> (String, std::time::Duration) {
    doctor_in(cache, "", args, |_| {})
}

/// [`doctor_in_sample_setup`] after `setup` (shell), with `env` applied to
/// the command.
fn doctor_in(cache: &Path, setup: &str, args: &str, env: impl FnOnce(&mut Command)) -> (String, std::time::Duration) {
    let script = format!(
        r#"set -e
{setup}
mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
printf '%s' ':qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\x00\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64-static:P' > /proc/sys/fs/binfmt_misc/register
printf '%s' ':qemu-riscv64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xf3\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-riscv64-static:PF' > /proc/sys/fs/binfmt_misc/register
exec "$0" lab doctor {args}
"#
    );
    let started = std::time::Instant::now();
    let mut command = Command::new("unshare");
    command
        .args(["--user", "--map-root-user", "--mount", "--", "/bin/sh", "-c", &script, env!("CARGO_BIN_EXE_xtask")])
        .env("NIX_CONFIG", "sandbox = true\nextra-platforms = aarch64-linux riscv64-linux\nsystem-features = nixos-test benchmark big-parallel kvm")
        .env("CROSSLAB_CACHE", cache);
    env(&mut command);
    let out = command.output().unwrap();
    let elapsed = started.elapsed();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.code().is_some_and(|c| c < 2), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    (text, elapsed)
}

/// The text with what differs between runs and machines (versions, times,
/// the kernel's release) made one: every run of digits becomes `N`.
fn without_numbers(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            if !out.ends_with('N') {
                out.push('N');
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Packages whose qemu programs the README's doctor sample lists: what the
/// test suite installs (testsuite.rs's TEST_PACKAGES), nothing else.
const SAMPLE_QEMU_PACKAGES: [&str; 2] = ["qemu-user-static", "qemu-user"];

/// Shell that makes this mount namespace's /usr/bin and /usr/sbin hold
/// links to everything in the real ones but the qemu programs no package of
/// [`SAMPLE_QEMU_PACKAGES`] ships (say qemu-utils from backports, or a
/// qemu-system), and /boot empty (so the KVM test has no kernel): what the
/// README's sample shows is then what the suite set up, on any machine.
/// Also returns the programs hidden.
fn only_the_suites_qemu(scratch: &Path) -> (String, Vec<String>) {
    let listed = Command::new("dpkg-query").arg("-L").args(SAMPLE_QEMU_PACKAGES).output().unwrap();
    assert!(
        listed.status.success(),
        "the README's doctor sample lists Debian's {SAMPLE_QEMU_PACKAGES:?}, which are not all installed: {}\n  help: run the tests with `cargo xtask test`, which installs them first",
        String::from_utf8_lossy(&listed.stderr)
    );
    let shipped = String::from_utf8(listed.stdout).unwrap();
    let mut hidden = Vec::new();
    for dir in ["/usr/bin", "/usr/sbin"] {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = format!("{dir}/{}", entry.file_name().to_string_lossy());
            if entry.file_name().to_string_lossy().starts_with("qemu-") && !shipped.lines().any(|l| l == path) {
                hidden.push(path);
            }
        }
    }
    let o = scratch.display();
    let setup = format!(
        r#"for d in bin sbin; do mkdir -p "{o}/$d"; mount --bind "/usr/$d" "{o}/$d"; done
for d in bin sbin; do "{o}/bin/mount" -t tmpfs crosslab-sample "/usr/$d"; "{o}/bin/ln" -s "{o}/$d"/* "/usr/$d/"; done
"{o}/bin/rm" -f {hide}
mount -t tmpfs crosslab-sample /boot"#,
        hide = hidden.join(" ")
    );
    (setup, hidden)
}

#[test]
fn the_readme_sample_is_what_lab_doctor_prints() {
    common::test_packages();
    let _turn = ONE_DOCTOR_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // An empty cache at a fixed path (it shows in the output): no cached KVM
    // verdict, no unpacked qemu-system, the same every time.
    let cache = std::env::temp_dir().join("crosslab-doctor-readme-sample");
    let _ = std::fs::remove_dir_all(&cache);
    let scratch = tempfile::tempdir().unwrap();
    let (setup, hidden) = only_the_suites_qemu(scratch.path());
    let (text, took) = doctor_in(&cache, &setup, "", |c| {
        // No $PATH entry, Nix profile or per-user profile but the system's,
        // and no nix.conf (a fresh machine has none): Nix as NIX_CONFIG says.
        c.env("PATH", "/usr/sbin:/usr/bin").env("HOME", scratch.path()).env_remove("USER");
        c.env("NIX_CONF_DIR", scratch.path())
            .env("XDG_CONFIG_HOME", scratch.path())
            .env("XDG_CONFIG_DIRS", scratch.path());
    });
    let _ = std::fs::remove_dir_all(&cache);
    for program in &hidden {
        assert!(!text.contains(program.rsplit('/').next().unwrap()), "{program} was not hidden:\n{text}");
    }
    assert!(took.as_secs_f64() <= 5.0, "lab doctor took {took:?}:\n{text}");

    const BEGIN: &str = "<!-- doctor:begin -->\n";
    const END: &str = "<!-- doctor:end -->";
    let readme_path = xtask::project_root().join("README.md");
    let readme = std::fs::read_to_string(&readme_path).unwrap();
    let start = readme.find(BEGIN).expect("README.md has a <!-- doctor:begin --> marker") + BEGIN.len();
    let end = start + readme[start..].find(END).expect("README.md has a <!-- doctor:end --> marker");
    let fresh = format!("```text\n$ cargo xtask lab doctor\n{text}```\n");
    if without_numbers(&readme[start..end]) != without_numbers(&fresh) {
        if std::env::var_os("UPDATE_EXPECT").is_some() {
            std::fs::write(&readme_path, format!("{}{fresh}{}", &readme[..start], &readme[end..])).unwrap();
            return;
        }
        panic!(
            "README.md's doctor sample is not what it prints (numbers aside)\n  help: UPDATE_EXPECT=1 cargo test --test doctor\n--- README.md\n{}\n--- lab doctor\n{fresh}",
            &readme[start..end]
        );
    }
}

#[test]
fn every_registered_emulator_and_every_installed_qemu_is_listed() {
    common::test_packages();
    let _turn = ONE_DOCTOR_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let cache = tempfile::tempdir().unwrap();
    let (text, _) = doctor_in_sample_setup(cache.path(), "");
    let version =
        String::from_utf8(Command::new("/usr/bin/qemu-aarch64-static").arg("--version").output().unwrap().stdout)
            .unwrap();
    let version = version.lines().next().unwrap().split_once(" version ").unwrap().1.to_owned();
    for name in ["qemu-aarch64", "qemu-riscv64"] {
        let interpreter = format!("/usr/bin/{name}-static");
        assert!(text.contains(&format!("registered `{name}`: {interpreter}: version {version}")), "{text}");
    }
    // Every qemu-user-static in /usr/bin, by its architecture, on the line of its kind.
    let statics = text
        .lines()
        .find(|l| l.contains("/usr/bin: qemu-user, static ("))
        .unwrap_or_else(|| panic!("no line for /usr/bin's static qemu:\n{text}"));
    let mut count = 0;
    for entry in std::fs::read_dir("/usr/bin").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(arch) = name.strip_prefix("qemu-").and_then(|n| n.strip_suffix("-static")) {
            count += 1;
            assert!(statics.split(' ').any(|w| w == arch), "{arch} missing: {statics}");
        }
    }
    assert!(statics.contains(&format!("static ({count}), version {version}:")), "{statics}");
    // Debian's binfmt interpreters, where Debian's qemu-user-static puts them.
    if Path::new("/usr/libexec/qemu-binfmt").is_dir() {
        assert!(
            text.contains("/usr/libexec/qemu-binfmt: binfmt_misc interpreters (")
                && text.contains("aarch64-binfmt-P → ../../bin/qemu-aarch64-static"),
            "{text}"
        );
    }
}

#[test]
fn a_kvm_verdict_is_reused_within_a_boot_and_not_after_a_reboot() {
    common::test_packages();
    let _turn = ONE_DOCTOR_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let cache = tempfile::tempdir().unwrap();
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap().trim().to_owned();
    let write = |boot_id: &str| {
        let verdict = serde_json::json!({
            "boot_id": boot_id,
            "tested_at": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 300,
            // The default bound's test (flags.rs), whose verdict a plain `lab doctor` reuses.
            "timeout_secs": 20,
            "verdict": { "DidNotBoot": {
                "timeout": { "secs": 4, "nanos": 0 },
                "why": "no kernel message on the serial console",
                "tcg": { "secs": 2, "nanos": 500_000_000 },
                "kernel": "/boot/vmlinuz-test",
            } },
        });
        std::fs::create_dir_all(cache.path().join("doctor")).unwrap();
        std::fs::write(cache.path().join("doctor/kvm-test.json"), verdict.to_string()).unwrap();
    };
    let doctor = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["lab", "doctor"])
            .args(extra)
            .env("CROSSLAB_CACHE", cache.path())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    write(&boot_id);
    let text = doctor(&[]);
    {
        assert!(
            text.contains("KVM present (/dev/kvm opens) but a guest did not boot in 4 s: no kernel message on the serial console (kernel /boot/vmlinuz-test); under TCG the same kernel did in 2.5 s"),
            "{text}"
        );
        assert!(
            text.contains("KVM was tested 5 min ago in this boot; `lab doctor --retest-kvm` tests again"),
            "{text}"
        );
        // --retest-kvm does not read it.
        assert!(!doctor(&["--retest-kvm"]).contains("/boot/vmlinuz-test"));
    }
    // A test with another bound is another test.
    assert!(!doctor(&["--kvm-timeout", "3"]).contains("/boot/vmlinuz-test"));
    // Another boot's verdict is not this boot's.
    write("00000000-0000-0000-0000-000000000000");
    assert!(!doctor(&[]).contains("/boot/vmlinuz-test"), "{text}");
}

/// The KVM test's judgement with a stand-in qemu-system-x86_64 on PATH that
/// prints a kernel's banner after a set time under each accelerator (or
/// never): the first banner decides, and only a control that printed its
/// banner makes a KVM guest that did not a PROBLEM. With the old 4 s bound
/// a TCG boot as slow as the one measured (7.6 s) never got to print, and a
/// working machine's doctor reported a PROBLEM.
#[test]
fn the_first_banner_decides_the_kvm_test_and_a_slow_tcg_boot_fits_the_default_bound() {
    common::test_packages();
    let _turn = ONE_DOCTOR_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    assert!(
        std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").is_ok(),
        "this test needs /dev/kvm to open read-write (as root on a machine with KVM), as the doctor's KVM test does"
    );
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let qemu = bin.join("qemu-system-x86_64");
    std::fs::write(
        &qemu,
        r#"#!/usr/bin/python3
# A stand-in qemu-system-x86_64: prints a kernel's banner on the serial
# console after $STANDIN_KVM or $STANDIN_TCG seconds (or never), one process.
import os, sys, time
if "--version" in sys.argv:
    print("QEMU emulator version 0.0.0 (stand-in)")
    sys.exit(0)
accel = sys.argv[sys.argv.index("-accel") + 1]
delay = os.environ["STANDIN_" + accel.upper()]
if delay == "fail":
    print("qemu-system-x86_64: failed to initialize kvm: No such device", file=sys.stderr, flush=True)
    sys.exit(1)
if delay != "never":
    time.sleep(float(delay))
    print("[    0.000000] Linux version 6.1.0-stand-in", flush=True)
time.sleep(1000)
"#,
    )
    .unwrap();
    std::fs::set_permissions(&qemu, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let cache = dir.path().join("cache");
    std::fs::create_dir_all(cache.join("vm/stand-in")).unwrap();
    std::fs::write(cache.join("vm/stand-in/vmlinuz"), "not a kernel: the stand-in qemu reads nothing").unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let doctor = |kvm: &str, tcg: &str, extra: &[&str]| {
        let started = std::time::Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["lab", "doctor", "--retest-kvm"])
            .args(extra)
            .env("PATH", &path)
            .env("CROSSLAB_CACHE", &cache)
            .env("STANDIN_KVM", kvm)
            .env("STANDIN_TCG", tcg)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let kvm_lines: Vec<String> = text
            .lines()
            .skip_while(|l| *l != "kvm")
            .skip(1)
            .take_while(|l| l.starts_with(' '))
            .map(str::to_owned)
            .collect();
        (kvm_lines.join("\n"), started.elapsed(), text)
    };
    // KVM works: its banner ends the test, the TCG control is not waited for.
    let (kvm, took, text) = doctor("0.3", "never", &[]);
    assert!(kvm.contains("ok       KVM works: a Linux guest printed its banner in 0."), "{text}");
    assert!(took.as_secs_f64() < 5.0, "the doctor waited {took:?} for a control it did not need:\n{text}");
    // KVM hangs, TCG is as slow as measured: a PROBLEM, found when the control's banner came.
    let (kvm, took, text) = doctor("never", "8", &[]);
    assert!(kvm.contains("PROBLEM  KVM present (/dev/kvm opens) but a guest did not boot in 8."), "{text}");
    assert!(kvm.contains("under TCG the same kernel did in 8."), "{text}");
    assert!(took.as_secs_f64() < 12.0, "the doctor waited {took:?} after the control's banner:\n{text}");
    // Neither prints within the bound: nothing says KVM is at fault.
    let (kvm, _, text) = doctor("never", "never", &["--kvm-timeout", "2"]);
    assert!(kvm.contains("note     /dev/kvm exists; KVM not judged: neither a KVM guest nor its TCG control printed the kernel's banner in 2 s"), "{text}");
    assert!(!kvm.contains("PROBLEM"), "{text}");
    // But qemu refusing KVM at once is KVM's fault, whatever the control does.
    let (kvm, _, text) = doctor("fail", "never", &["--kvm-timeout", "2"]);
    assert!(kvm.contains("PROBLEM  KVM present (/dev/kvm opens) but a guest did not boot in 0."), "{text}");
    assert!(kvm.contains("qemu stopped at once: qemu-system-x86_64: failed to initialize kvm"), "{text}");
}
